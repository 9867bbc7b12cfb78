/* daemon: the master's shared state, one instance, owned by main.c.
 *
 * The master is a single libuv loop: it accepts clients (listener), decodes
 * their requests (conn, method), routes calls (route) to pools, whose
 * executors (executor) run Python in child processes. Output to clients and
 * executors is buffered and flushed once per loop turn (main.c's flush
 * hooks).
 *
 * Its files call each other downwards only (make check-calls):
 *   main                      boot, signals, the loop and its flush hooks
 *   listener reload method    accept clients; SIGHUP; run requests
 *   http                      the metrics listener (/metrics, /healthz)
 *   admin                     the methods the master answers itself
 *   stats                     the stats method's figures, gathered
 *   pool                      queues, batches, quarantine, timeout policy
 *   executor                  one executor process, supervised
 *   template                  a pool's fork server
 *   child                     the base both of those embed: spawn, frames
 *   capture                   a child's stdout and stderr, into the log
 *   reply                     a call's answer (map chunks gathered)
 *   conn                      one client connection
 *   call deadline route rpc config board_map outq tally hist metrics logq
 *   linesplit                 the leaves
 * What goes up travels through pointers its owner handed down: a
 * connection's handler (conn_handler), an executor's executor_events, a
 * fork request's callbacks (fork_req), a template's ended callback, a
 * pool's ready watcher (pool_when_ready), the deadline set's callback. */
#ifndef PYRPOOL_DAEMON_H
#define PYRPOOL_DAEMON_H

#define PYRPOOLD_VERSION "0.1.0"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "logq.h"
#include "reload.h"
#include "route.h"
#include "deadline.h"
#include "http.h"

struct pool;
struct conn;
struct listen_counts;
struct executor;

struct daemon {
    uv_loop_t *loop;
    struct config cfg;
    struct route_table *routes;
    struct pool **pools;              /* edited by pool.c alone (pool_list_add) */
    size_t npools;
    struct pool *default_pool;

    struct listener **listeners;
    size_t nlisteners;
    struct listen_counts *listen_counts; /* one per config listener, for the daemon's life */
    size_t nlisten_counts;
    uint64_t started_ns;              /* uv_hrtime at start (stats' uptime) */
    uint64_t stats_asked;             /* `stats` requests answered (http.c's pages follow) */
    struct http_server http;          /* metrics.listen's, when open */

    uv_prepare_t flush_prepare;
    uv_check_t flush_check;
    struct conn *dirty_conns;         /* conns with output to flush */
    struct executor *dirty_executors; /* executors with frames to flush */
    struct pool *dirty_pools;         /* pools with calls to hand out */
    uint64_t busy_turns;              /* loop turns that had something to flush */

    uv_signal_t sigint, sigterm, sighup;
    struct reload reload;             /* SIGHUP */
    struct deadlines deadlines;       /* calls' opts.timeout (pool_call_expired) */
    struct deadlines conn_deadlines;  /* connections' request and idle timeouts (conn_expired) */
    bool hooks_started;               /* flush hooks and signals are set */
    bool draining;                    /* a signal came: finishing the calls in flight */
    bool verbose;                     /* -v: debug lines, whatever log.level says */
    bool stopping;
    uv_timer_t drain_timer;           /* limits.shutdown_timeout */
    size_t boot_waiting;              /* pools not ready since start: READY=1 at 0 */
    uv_timer_t status_timer;          /* systemd's STATUS= line, now and then */
    struct logq logq;                 /* stderr, written without waiting (log.h's sink) */

    uint64_t next_call_id;
    uint64_t next_conn_id;
    struct conn *conns;               /* every open connection */
    size_t nconns;
    char executor_path[PATH_MAX];
};

#endif
