/* hist: log-bucketed latency histograms. See hist.h. */
#include "hist.h"

#include <string.h>

/* The bucket of a value: 0 under 1 us, else 1 + 4e + s for a value of
 * (4 + s) * 2^e / 4 us or a little more (e = the power of two, s = the
 * next two bits). */
static unsigned bucket(uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned e;

    if (us == 0)
        return 0;
    e = 63u - (unsigned)__builtin_clzll(us);
    if (e > 39)
        return HIST_BUCKETS - 1;
    return 1 + 4 * e + (unsigned)(((us << 2) >> e) & 3);
}

/* The upper edge of bucket i, in ns. */
static uint64_t bucket_top(unsigned i)
{
    unsigned e, s;

    if (i == 0)
        return 1000;
    e = (i - 1) / 4;
    s = (i - 1) % 4;
    return (((uint64_t)(5 + s) << e) >> 2) * 1000 + (e < 2 ? 1000 : 0);
}

/* Adds slice s's counts to the totals since the start, and empties it. */
static void fold(struct hist *h, struct hist_slice *s)
{
    unsigned i;

    if (s->count > 0) {
        h->count += s->count;
        for (i = 0; i < HIST_BUCKETS; i++)
            h->n[i] += s->n[i];
    }
    memset(s, 0, sizeof *s);
}

void hist_add(struct hist *h, uint64_t ns, uint64_t now_ns)
{
    uint64_t epoch = now_ns >> HIST_SLICE_SHIFT;
    struct hist_slice *s = &h->slice[epoch % HIST_SLICES];
    unsigned b = bucket(ns);

    if (s->epoch != epoch) {
        fold(h, s);
        s->epoch = epoch;
    }
    h->sum_ns += ns;
    s->count++;
    s->n[b]++;
    if (ns > s->max_ns)
        s->max_ns = ns;
}

void hist_merge(struct hist *h, const struct hist *from)
{
    unsigned i, j;

    h->sum_ns += from->sum_ns;
    h->count += from->count;
    for (i = 0; i < HIST_BUCKETS; i++)
        h->n[i] += from->n[i];
    for (j = 0; j < HIST_SLICES; j++) {
        const struct hist_slice *f = &from->slice[j];
        struct hist_slice *s = &h->slice[j];

        if (f->count == 0)
            continue;
        if (f->epoch > s->epoch) { /* from's is newer: it takes the place */
            fold(h, s);
            *s = *f;
        } else if (f->epoch < s->epoch) { /* older: into the totals */
            h->count += f->count;
            for (i = 0; i < HIST_BUCKETS; i++)
                h->n[i] += f->n[i];
        } else {
            s->count += f->count;
            if (f->max_ns > s->max_ns)
                s->max_ns = f->max_ns;
            for (i = 0; i < HIST_BUCKETS; i++)
                s->n[i] += f->n[i];
        }
    }
}

uint64_t hist_count(const struct hist *h)
{
    uint64_t n = h->count;
    unsigned j;

    for (j = 0; j < HIST_SLICES; j++)
        n += h->slice[j].count;
    return n;
}

uint64_t hist_below(const struct hist *h, unsigned e)
{
    unsigned i, j, end = e > 40 ? HIST_BUCKETS : 1 + 4 * e;
    uint64_t n = 0;

    for (i = 0; i < end; i++) {
        n += h->n[i];
        for (j = 0; j < HIST_SLICES; j++)
            n += h->slice[j].n[i];
    }
    return n;
}

/* The value at rank (1-based) of the window's counts n, at most max. */
static uint64_t at_rank(const uint64_t *n, uint64_t rank, uint64_t max)
{
    uint64_t seen = 0, top;
    unsigned i;

    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += n[i];
        if (seen >= rank)
            break;
    }
    top = bucket_top(i < HIST_BUCKETS ? i : HIST_BUCKETS - 1);
    return top < max ? top : max;
}

void hist_window(const struct hist *h, uint64_t now_ns, struct hist_summary *out)
{
    uint64_t epoch = now_ns >> HIST_SLICE_SHIFT, n[HIST_BUCKETS] = {0};
    unsigned i, j;

    memset(out, 0, sizeof *out);
    for (j = 0; j < HIST_SLICES; j++) {
        const struct hist_slice *s = &h->slice[j];

        if (s->count == 0 || s->epoch > epoch || epoch - s->epoch >= HIST_SLICES)
            continue;
        out->count += s->count;
        if (s->max_ns > out->max)
            out->max = s->max_ns;
        for (i = 0; i < HIST_BUCKETS; i++)
            n[i] += s->n[i];
    }
    if (out->count == 0)
        return;
    out->p50 = at_rank(n, (out->count * 50 + 99) / 100, out->max);
    out->p90 = at_rank(n, (out->count * 90 + 99) / 100, out->max);
    out->p99 = at_rank(n, (out->count * 99 + 99) / 100, out->max);
}
