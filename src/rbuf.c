/* rbuf: growable read buffer. See rbuf.h. */
#include "rbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rbuf_reserve(struct rbuf *b, size_t want)
{
    size_t cap = b->cap ? b->cap : 4096;
    char *p;

    if (b->cap - b->len >= want)
        return 0;
    while (cap - b->len < want)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

void rbuf_consume(struct rbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void rbuf_release(struct rbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
