/* rbuf: a read buffer that grows geometrically (no quadratic growth on large
 * messages) and is compacted after its complete messages are consumed. */
#ifndef PYRPOOL_RBUF_H
#define PYRPOOL_RBUF_H

#include <stddef.h>

struct rbuf {
    char *data;
    size_t len;   /* bytes held, starting at data */
    size_t cap;
};

/* Makes room for at least want more bytes. Returns 0 or -ENOMEM. */
int rbuf_reserve(struct rbuf *b, size_t want);

/* Drops the first n bytes. */
void rbuf_consume(struct rbuf *b, size_t n);

/* Gives the memory back (idle connections keep no buffer). */
void rbuf_release(struct rbuf *b);

#endif
