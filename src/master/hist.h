/* hist: a latency histogram in constant memory, for the stats method and
 * /metrics.
 *
 * Values are nanoseconds, counted in log-spaced buckets: four per power of
 * two of microseconds (so a figure read back is within about 19% of the
 * truth), from under 1 us to 2^40 us. Two views:
 *  - since the start: every bucket, the count and the sum (Prometheus'
 *    cumulative histogram, hist_below);
 *  - a sliding window of the last HIST_WINDOW_NS, kept as HIST_SLICES
 *    slices of 2^HIST_SLICE_SHIFT ns each (a slice is cleared when its turn
 *    comes round again): percentiles and the exact maximum (hist_window).
 * Adding a value costs a few increments in its slice; a slice's counts are
 * added to the totals since the start when it is reused, so the totals
 * are those plus the slices' (hist_count, hist_below). No sample is ever
 * kept. */
#ifndef PYRPOOL_HIST_H
#define PYRPOOL_HIST_H

#include <stdint.h>

#define HIST_BUCKETS 161          /* 0: under 1 us; then 4 per power of two */
#define HIST_SLICE_SHIFT 33       /* a slice: 2^33 ns, about 8.6 s */
#define HIST_SLICES 7             /* the window: the slice now and 6 before it */
#define HIST_WINDOW_NS ((uint64_t)HIST_SLICES << HIST_SLICE_SHIFT)

struct hist_slice {
    uint64_t epoch;               /* now_ns >> HIST_SLICE_SHIFT when it filled */
    uint64_t count;
    uint64_t max_ns;
    uint64_t n[HIST_BUCKETS];
};

struct hist {
    uint64_t sum_ns;              /* since the start */
    uint64_t count;               /* since the start, of the slices that were */
    uint64_t n[HIST_BUCKETS];     /* folded in when their turn came round again */
    struct hist_slice slice[HIST_SLICES];
};

/* What the window holds: figures in ns, 0 when count is 0. */
struct hist_summary {
    uint64_t count;
    uint64_t p50, p90, p99, max;
};

/* Counts a value of ns nanoseconds, at time now_ns (any monotonic clock). */
void hist_add(struct hist *h, uint64_t ns, uint64_t now_ns);

/* Adds everything from counted into h (a reload's new pool carries on the
 * old one's figures). */
void hist_merge(struct hist *h, const struct hist *from);

/* Values counted since the start. */
uint64_t hist_count(const struct hist *h);

/* Values counted since the start that were below 2^e microseconds
 * (e <= 40): a bucket edge, so the figure is exact. */
uint64_t hist_below(const struct hist *h, unsigned e);

/* The window ending at now_ns: its count, percentiles (each the upper edge
 * of the bucket it falls in, at most the maximum) and maximum. */
void hist_window(const struct hist *h, uint64_t now_ns, struct hist_summary *out);

#endif
