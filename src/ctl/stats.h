/* stats: pyrpoolctl's reading of the daemon's `stats` answer (README,
 * "What `stats` says"): the summary `pyrpoolctl stats` prints (the daemon's
 * line, a table of pools, a table of listeners), and the cells `top` shares
 * with it. Times print in ms, memory in MiB; a figure the answer lacks
 * prints as "-" (an older or a newer daemon's answer still prints). */
#ifndef PYRPOOL_CTL_STATS_H
#define PYRPOOL_CTL_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

/* Prints the summary of answer (the map `stats` answered) to f. */
void stats_print(FILE *f, const msgpack_object *answer);

/* A map's count at key; 0 when it has none. */
uint64_t stats_uint(const msgpack_object *map, const char *key);

/* A pool's restarts, every cause summed but reload: the `pools` method's
 * restarts (the causes, reload's included, are shown beside it). */
uint64_t stats_restarts(const msgpack_object *pool);

/* The figure key ("p50", "p99", "max") of a pool's histogram hist
 * ("run_time", "queue_wait") in ms, or "-" when its window is empty. */
void stats_ms(char *out, size_t len, const msgpack_object *pool, const char *hist, const char *key);

/* Bytes as MiB, one decimal. */
void stats_mib(char *out, size_t len, uint64_t bytes);

/* Seconds as HH:MM:SS, with the days before when there are some. */
void stats_uptime(char *out, size_t len, double seconds);

/* A str value as text (cut to len), "-" when it is not one. */
void stats_text(char *out, size_t len, const msgpack_object *o);

#endif
