/* rbuf: growable read buffer. See rbuf.h. */
#include "rbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rbuf_reserve(struct rbuf *b, size_t want)
{
    size_t cap = b->cap ? b->cap : 4096;
    char *p;

    if (rbuf_room(b) >= want)
        return 0;
    if (b->data != b->base) {
        memmove(b->base, b->data, b->len);
        b->data = b->base;
        if (rbuf_room(b) >= want)
            return 0;
    }
    while (cap - b->len < want)
        cap *= 2;
    p = realloc(b->base, cap);
    if (p == NULL)
        return -ENOMEM;
    b->base = b->data = p;
    b->cap = cap;
    return 0;
}

void rbuf_consume(struct rbuf *b, size_t n)
{
    if (n >= b->len) {
        b->data = b->base;
        b->len = 0;
        return;
    }
    b->data += n;
    b->len -= n;
}

void rbuf_release(struct rbuf *b)
{
    free(b->base);
    b->base = b->data = NULL;
    b->len = b->cap = 0;
}
