/* linesplit: see linesplit.h. */
#include "linesplit.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static void release(struct linesplit *ls)
{
    free(ls->buf);
    ls->buf = NULL;
    ls->len = 0;
    ls->part = 0;
}

/* The line so far is ls->buf then p (k bytes); ended: a newline follows p.
 * Gives out full pieces while more than one piece is known to follow, then
 * the line if it ended, else keeps the rest. */
static void take(struct linesplit *ls, const char *p, size_t k, bool ended, linesplit_fn fn, void *arg)
{
    size_t m;

    while (ls->len + k > LINESPLIT_MAX) {
        if (ls->len > 0) {
            m = LINESPLIT_MAX - ls->len;
            memcpy(ls->buf + ls->len, p, m);
            ls->len = 0;
            fn(arg, ls->buf, LINESPLIT_MAX, ++ls->part, false);
        } else {
            m = LINESPLIT_MAX;
            fn(arg, p, LINESPLIT_MAX, ++ls->part, false);
        }
        p += m;
        k -= m;
    }
    if (!ended) {
        if (k > 0 && ls->buf == NULL)
            ls->buf = xmalloc(LINESPLIT_MAX);
        if (k > 0)
            memcpy(ls->buf + ls->len, p, k);
        ls->len += k;
        return;
    }
    if (ls->len > 0) { /* one contiguous line */
        memcpy(ls->buf + ls->len, p, k);
        p = ls->buf;
        k += ls->len;
    }
    if (k > 0 && p[k - 1] == '\r')
        k--;
    fn(arg, p, k, ls->part > 0 ? ls->part + 1 : 0, true);
    release(ls);
}

void linesplit_feed(struct linesplit *ls, const char *data, size_t n, linesplit_fn fn, void *arg)
{
    const char *nl;
    size_t k;

    while (n > 0) {
        nl = memchr(data, '\n', n);
        k = nl != NULL ? (size_t)(nl - data) : n;
        take(ls, data, k, nl != NULL, fn, arg);
        if (nl == NULL)
            return;
        data += k + 1;
        n -= k + 1;
    }
}

void linesplit_end(struct linesplit *ls, linesplit_fn fn, void *arg)
{
    if (ls->len > 0)
        fn(arg, ls->buf, ls->len, ls->part > 0 ? ls->part + 1 : 0, true);
    release(ls);
}
