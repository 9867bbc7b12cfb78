/* hist: a log-bucketed latency histogram for the bench tools (header only).
 *
 * HdrHistogram-like: values (nanoseconds) below 2^HIST_SUB_BITS are exact;
 * above that every power of two is split into 2^(HIST_SUB_BITS-1) equal
 * buckets, so a bucket is at most 1/128 (0.8%) of its value wide. Recording
 * is O(1) and the memory is fixed (~60 KiB), whatever the number of calls. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#define HIST_SUB_BITS 8
#define HIST_SUB (1u << HIST_SUB_BITS)        /* 256 */
#define HIST_HALF (HIST_SUB >> 1)             /* 128 */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_HALF + HIST_HALF)

struct hist {
    uint64_t count;
    uint64_t min, max;
    double sum;
    uint64_t b[HIST_BUCKETS];
};

static inline void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static inline unsigned hist_index(uint64_t v)
{
    unsigned msb, shift;

    if (v < HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - (HIST_SUB_BITS - 1);         /* v >> shift is in [HALF, SUB) */
    return shift * HIST_HALF + (unsigned)(v >> shift);
}

/* Lowest and highest value that land in bucket i. */
static inline void hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi)
{
    unsigned shift;
    uint64_t x;

    if (i < HIST_SUB) {
        *lo = *hi = i;
        return;
    }
    shift = i / HIST_HALF - 1;
    x = i - shift * HIST_HALF;
    *lo = x << shift;
    *hi = ((x + 1) << shift) - 1;
}

static inline void hist_record(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

/* The value at quantile q (0..1): the middle of its bucket, clamped to
 * [min, max]. */
static inline uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t want, seen = 0, lo, hi, v;
    unsigned i;

    if (h->count == 0)
        return 0;
    want = (uint64_t)(q * (double)h->count + 0.999999);
    if (want < 1)
        want = 1;
    if (want > h->count)
        want = h->count;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want)
            break;
    }
    hist_bounds(i, &lo, &hi);
    v = lo + (hi - lo) / 2;
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
