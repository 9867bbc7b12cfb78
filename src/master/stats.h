/* stats: what the daemon has been doing, as one MessagePack map: the
 * `stats` admin method's answer, and what /metrics renders. Its shape is
 * the README's ("stats"): the daemon (uptime, RSS, generation), each pool
 * (executors by state, queue and its high-water mark, outcomes, restarts by
 * cause, queue-wait and run-time histograms with a sliding window's
 * percentiles, its processes' RSS) and each listener (connections,
 * requests, bytes). Reading it costs a look at each executor's /proc. */
#ifndef PYRPOOL_STATS_H
#define PYRPOOL_STATS_H

#include <msgpack.h>

struct daemon;
struct pool;

/* Packs the map. */
void stats_pack(struct daemon *d, msgpack_packer *pk);

/* Packs the names of the functions p holds off now (quarantined after
 * crashes), as an array. */
void stats_pack_quarantined(msgpack_packer *pk, const struct pool *p);

#endif
