/* http: the optional HTTP listener for Prometheus (metrics.listen).
 *
 * GET /metrics answers the `stats` method's data (stats_pack) as
 * Prometheus text (metrics.c); GET /healthz answers 200 "ok" when every
 * pool serves, else 503 naming each pool that does not and why. HEAD works
 * on both. Another path is 404, another method 405; what http_parser
 * cannot parse is 400, a request head over HTTP_MAX_HEAD bytes 431. The
 * listener runs no call and no admin method: it has no way to.
 *
 * One request per connection: every answer says `Connection: close`, then
 * the write side is shut down, and what the client still sends (a body, the
 * rest of a head too large) is read and dropped until it closes, so that
 * the answer is not lost to a reset. A scraper asking every few seconds
 * gains nothing from keep-alive, and a connection's life stays short.
 *
 * Bounds, so that no client can stall the loop or the other clients: at
 * most HTTP_MAX_CONNS connections (one more is closed as soon as it is
 * accepted), each closed HTTP_TIMEOUT_MS after it was accepted whatever it
 * does (sends nothing, a byte a second, does not read its answer); reads
 * go through one buffer of the listener, and a connection holds nothing
 * but its answer. The timeouts are a deadline set of the listener's own
 * (deadline.h). The pages are made at most every HTTP_FRESH_MS (or after a
 * `stats` request) and copied to each asker, so a flood of scrapes does not
 * make the loop look at every executor's /proc each time. Unauthenticated: keep it on a loopback address or behind
 * a firewall (the daemon warns when other machines can reach it). */
#ifndef PYRPOOL_HTTP_H
#define PYRPOOL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>
#include <uv.h>

#include "config.h"
#include "deadline.h"

#define HTTP_MAX_CONNS 64
#define HTTP_TIMEOUT_MS 5000
/* The pages' answers are made again at most this often (see make_answers). */
#define HTTP_FRESH_MS 100
#define HTTP_MAX_HEAD 8192

struct daemon;
struct http_conn;

/* Embedded in struct daemon. */
struct http_server {
    uv_tcp_t tcp;
    struct daemon *d;
    char name[80];               /* "http:HOST:PORT", for logs */
    bool open;                   /* its handles are initialised and not closed yet */
    struct deadlines deadlines;  /* its connections' HTTP_TIMEOUT_MS */
    struct http_conn *conns;     /* open connections */
    size_t nconns;
    unsigned long long next_id;  /* its connections', for logs */
    char readbuf[4096];          /* every read of every connection: parsed at once */
    /* The answers of both pages, made at most every HTTP_FRESH_MS (and
     * again after a `stats` request, d->stats_asked), so that a flood of
     * scrapes costs the loop a copy each, not a look at every executor. */
    bool made;
    uint64_t made_at;            /* loop time */
    uint64_t made_for;           /* d->stats_asked then */
    msgpack_sbuffer metrics;     /* /metrics' body; empty: the stats did not unpack */
    bool healthy;
    char health[1024];           /* /healthz's body */
};

/* Listens on cfg's address for d. Returns 0, or -1 with the reason in err;
 * either way http_close closes what it opened. */
int http_open(struct http_server *s, struct daemon *d, const struct config_metrics *cfg, char *err,
              size_t errlen);

/* Stops listening and closes every connection; a no-op when s is not open. */
void http_close(struct http_server *s);

#endif
