/* wire: framing and response decoding on the client's side.
 *
 * The stream is cut into messages by the project's own scanner (mpk_scan),
 * then each message is decoded by msgpack-c into a zone of its own, which
 * becomes the answer's owner. Why not msgpack-c's streaming unpacker alone:
 * it cannot nest deeper than 32 levels, and when it fails the stream is lost.
 * Framing first keeps the stream: a legal answer that msgpack-c cannot
 * decode fails only its own call. The copy into the zone makes each answer
 * independent of the receive buffer, which is reused at once. */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "protocol.h"

#define OUT_MIN 16384
#define READ_MIN 65536  /* room asked of the buffer before each read */
/* An answer's zone starts with room for its bytes and this much more for
 * its objects; small answers then take one small allocation (the zone
 * grows by itself for big trees). */
#define ZONE_SLACK 320

void wire_out_init(struct wire_out *o)
{
    memset(o, 0, sizeof(*o));
}

void wire_out_free(struct wire_out *o)
{
    free(o->data);
    memset(o, 0, sizeof(*o));
}

int wire_out_write(void *data, const char *buf, size_t len)
{
    struct wire_out *o = data;
    size_t need = o->len + len, cap;
    char *p;

    if (need > o->cap) {
        if (o->head > 0 && o->len - o->head + len <= o->cap) {
            memmove(o->data, o->data + o->head, o->len - o->head);
            o->len -= o->head;
            o->head = 0;
        } else {
            for (cap = o->cap > 0 ? o->cap : OUT_MIN; cap < need; cap *= 2)
                ;
            p = realloc(o->data, cap);
            if (p == NULL) {
                o->failed = true;
                return -1;
            }
            o->data = p;
            o->cap = cap;
        }
    }
    memcpy(o->data + o->len, buf, len);
    o->len += len;
    return 0;
}

int wire_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method)
{
    size_t len = strlen(method);

    if (msgpack_pack_array(pk, 4) != 0 || msgpack_pack_uint8(pk, 0) != 0 ||
        msgpack_pack_uint32(pk, msgid) != 0 || msgpack_pack_str_with_body(pk, method, len) != 0)
        return -1;
    return 0;
}

int wire_pack_cancel(msgpack_packer *pk, uint32_t msgid)
{
    if (msgpack_pack_array(pk, 3) != 0 || msgpack_pack_uint8(pk, 2) != 0 ||
        msgpack_pack_str_with_body(pk, METHOD_CANCEL, strlen(METHOD_CANCEL)) != 0 ||
        msgpack_pack_array(pk, 1) != 0 || msgpack_pack_uint32(pk, msgid) != 0)
        return -1;
    return 0;
}

void wire_in_init(struct wire_in *in, size_t max)
{
    memset(in, 0, sizeof(*in));
    in->max = max;
    mpk_scan_reset(&in->scan);
}

void wire_in_free(struct wire_in *in)
{
    free(in->buf);
    in->buf = NULL;
    in->start = in->end = in->cap = 0;
}

/* Makes room for READ_MIN more bytes after end: moves the pending bytes to
 * the front, or grows. Returns 0 or -1 (no memory). */
static int in_reserve(struct wire_in *in)
{
    size_t pending = in->end - in->start, cap;
    char *p;

    if (in->cap - in->end >= READ_MIN)
        return 0;
    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, pending);
        in->start = 0;
        in->end = pending;
        if (in->cap - in->end >= READ_MIN)
            return 0;
    }
    for (cap = in->cap > 0 ? in->cap : 4 * READ_MIN; cap - pending < READ_MIN; cap *= 2)
        ;
    p = realloc(in->buf, cap);
    if (p == NULL)
        return -1;
    in->buf = p;
    in->cap = cap;
    return 0;
}

ssize_t wire_in_read(struct wire_in *in, int fd, bool *drained)
{
    size_t room;
    ssize_t n;

    if (in_reserve(in) != 0) {
        errno = ENOMEM;
        return -1;
    }
    room = in->cap - in->end;
    n = read(fd, in->buf + in->end, room);
    if (n > 0)
        in->end += (size_t)n;
    if (drained != NULL)
        *drained = n > 0 && (size_t)n < room;
    return n;
}

ssize_t wire_in_next(struct wire_in *in, const char **msg)
{
    ssize_t n;

    if (in->end == in->start)
        return 0;
    n = mpk_scan(&in->scan, in->buf + in->start, in->end - in->start, in->max);
    if (n <= 0)
        return n;
    *msg = in->buf + in->start;
    in->start += (size_t)n;
    if (in->start == in->end)
        in->start = in->end = 0;
    mpk_scan_reset(&in->scan);
    return n;
}

int wire_unpack(const char *bytes, size_t len, msgpack_zone **zone, const msgpack_object **obj,
                pyrpool_error *err)
{
    msgpack_zone *z = msgpack_zone_new(len + ZONE_SLACK);
    msgpack_object *o;
    char *copy;
    size_t off = 0;
    msgpack_unpack_return ret;

    o = z != NULL ? msgpack_zone_malloc(z, sizeof(*o)) : NULL;
    copy = o != NULL ? msgpack_zone_malloc_no_align(z, len) : NULL;
    if (copy == NULL) {
        if (z != NULL)
            msgpack_zone_free(z);
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory for an answer of %zu bytes", len);
    }
    memcpy(copy, bytes, len);
    ret = msgpack_unpack(copy, len, &off, z, o);
    if (ret != MSGPACK_UNPACK_SUCCESS) {
        msgpack_zone_free(z);
        if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
            return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0,
                              "an answer of %zu bytes nests deeper than msgpack-c decodes (32 levels), "
                              "or there was no memory for it", len);
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "an answer of %zu bytes is not one MessagePack object",
                          len);
    }
    *zone = z;
    *obj = o;
    return 0;
}

int wire_response(const msgpack_object *msg, struct wire_response *r, pyrpool_error *err)
{
    const msgpack_object *a;

    if (msg->type != MSGPACK_OBJECT_ARRAY || msg->via.array.size != 4)
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "the daemon sent a message that is not a response "
                          "(not an array of 4)");
    a = msg->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 != 1)
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "the daemon sent a message that is not a response "
                          "(its type is not 1)");
    if (a[1].type == MSGPACK_OBJECT_NIL) {
        r->has_msgid = false;
        r->msgid = 0;
    } else if (a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[1].via.u64 <= UINT32_MAX) {
        r->has_msgid = true;
        r->msgid = (uint32_t)a[1].via.u64;
    } else {
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "the daemon sent a response whose msgid is not a uint32");
    }
    r->error = a[2].type == MSGPACK_OBJECT_NIL ? NULL : &a[2];
    r->result = &a[3];
    return 0;
}

int wire_outcome(const struct wire_response *r, pyrpool_error *err)
{
    return r->error == NULL ? 0 : errors_remote(err, r->error);
}

int wire_peek_msgid(const char *bytes, size_t len, uint32_t *msgid)
{
    struct mpk_reader rd;
    struct mpk_item it;

    mpk_reader_init(&rd, bytes, len);
    if (mpk_read(&rd, &it) != 0 || it.type != MPK_ARRAY || it.v.n != 4)
        return -1;
    if (mpk_read(&rd, &it) != 0 || it.type != MPK_UINT || it.v.u != 1)
        return -1;
    if (mpk_read(&rd, &it) != 0 || it.type != MPK_UINT || it.v.u > UINT32_MAX)
        return -1;
    *msgid = (uint32_t)it.v.u;
    return 0;
}
