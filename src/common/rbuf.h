/* rbuf: a read buffer that grows geometrically (no quadratic growth on large
 * messages). Consuming bytes only moves the start; the unconsumed rest is
 * moved to the front only when the room behind it runs out, so a large
 * message arriving in pieces is not copied again at every read. */
#ifndef PYRPOOL_RBUF_H
#define PYRPOOL_RBUF_H

#include <stddef.h>

struct rbuf {
    char *base;   /* the allocation */
    char *data;   /* first unconsumed byte */
    size_t len;   /* unconsumed bytes, from data */
    size_t cap;   /* bytes allocated at base */
};

/* Makes room for at least want more bytes after data + len. Returns 0 or
 * -ENOMEM. May move data. */
int rbuf_reserve(struct rbuf *b, size_t want);

/* Where the next bytes go, and how many fit there. */
static inline char *rbuf_end(const struct rbuf *b)
{
    return b->data + b->len;
}

static inline size_t rbuf_room(const struct rbuf *b)
{
    return b->cap - (size_t)(b->data - b->base) - b->len;
}

/* Drops the first n bytes. */
void rbuf_consume(struct rbuf *b, size_t n);

/* Gives the memory back (idle connections keep no buffer). */
void rbuf_release(struct rbuf *b);

#endif
