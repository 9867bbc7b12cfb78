/* frame: length-prefixed MessagePack frames between master and executors. */
#include "frame.h"

size_t frame_begin(msgpack_sbuffer *sb)
{
    static const char prefix[FRAME_PREFIX] = {(char)0xce, 0, 0, 0, 0};
    size_t start = sb->size;

    msgpack_sbuffer_write(sb, prefix, FRAME_PREFIX);
    return start;
}

void frame_end(msgpack_sbuffer *sb, size_t start)
{
    uint32_t n = (uint32_t)(sb->size - start - FRAME_PREFIX);
    unsigned char *p = (unsigned char *)sb->data + start + 1;

    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

int64_t frame_body_len(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    if (u[0] != 0xce)
        return -1;
    return (int64_t)((uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 8 | u[4]);
}
