/* top: `pyrpoolctl top`, the daemon's `stats` as a view refreshed every -d
 * seconds, like top(1): a header (the daemon's uptime, connections, RSS,
 * calls per second over all pools) and a row per pool (calls per second,
 * run time's p50 and p99 over the stats window, queue, busy, idle,
 * restarts).
 *
 * On a terminal, without -n: full screen (term.h) until q, Ctrl-C or
 * another signal that ends a program. Else (a pipe, or -n N): N frames (1
 * without -n) printed one after another as plain text, a blank line
 * between them, then it ends: for scripts. */
#ifndef PYRPOOL_CTL_TOP_H
#define PYRPOOL_CTL_TOP_H

#include <stddef.h>

#include "client.h"

#define TOP_USAGE "top [-d SECONDS] [-n ITERATIONS]"

struct top_opts {
    double delay;    /* seconds between refreshes: 0.1 to 3600 */
    long iterations; /* frames to print, 0: not given */
};

/* Reads top's arguments (-d S, -n N, also written -dS, -nN) into o.
 * Returns 0, or -1 with why in err. */
int top_options(int argc, char **argv, struct top_opts *o, char *err, size_t errlen);

/* Runs the view on cli (connected to an admin listener). Returns 0 after
 * q or the last frame, or a negative pyrpool_code with err filled: the
 * daemon answered an error (Forbidden on a listener without admin), went
 * away, or did not answer within 10 s. The terminal is given back first.
 * A signal that ends a program ends it by that signal, the terminal
 * given back. */
int top_run(pyrpool_client *cli, const struct top_opts *o, pyrpool_error *err);

#endif
