/* metrics: the `stats` answer (stats.h packs it; it comes here unpacked)
 * as Prometheus's text exposition format 0.0.4, and the health verdict
 * that /healthz gives, for http.c. One producer serves both the admin
 * method and the HTTP listener: this module only reads what it packed.
 *
 * Every metric family is one row of a table (metrics.c): its name, type,
 * HELP text, and where its samples come from (the daemon map, each pool,
 * each listener). A field missing from the stats, or of another type than
 * the schema's, leaves its samples out rather than guess them (a histogram
 * without its count or sum is left out whole). Label values are escaped as
 * the format says (backslash, double quote, newline); numbers are written
 * in the shortest form that reads back the same. Pure C: no sockets, no
 * daemon state. */
#ifndef PYRPOOL_METRICS_H
#define PYRPOOL_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>

/* The Content-Type of what metrics_render writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the exposition of stats (the `stats` map) to out: every family's
 * HELP and TYPE lines, then its samples. */
void metrics_render(const msgpack_object *stats, msgpack_sbuffer *out);

/* True when every pool in stats is serving (state "ready"). Else false,
 * and why holds one line per pool that is not ("pool io: degraded: the
 * reason", "pool gpu: starting"), cut to len (> 0) bytes. */
bool metrics_healthy(const msgpack_object *stats, char *why, size_t len);

#endif
