/* reload: SIGHUP, the config file read again while the daemon serves.
 *
 * A file that does not load is refused, its error logged; the running
 * config stays. A file that loads starts a new generation of every pool
 * beside the old one (new settings, and the Python code as it is on disk
 * now): pools from the file, plus the pools start_pool made (same size and
 * mode). The new generation takes no calls until every one of its
 * executors is READY, its python.preload imported. Then it takes over at
 * once: calls still queued move to it, routes point to it (the file's
 * routes, and the register_pool ones whose pool still exists), new calls
 * go to it; the old pools take no more calls, finish the ones they run and
 * stop. A pool no longer in the file stops the same way.
 *
 * If a new executor dies before READY (a failed preload import, a bad
 * python.path) or the generation is not ready within RELOAD_READY_MS, the
 * reload is abandoned: the new executors stop and the old generation
 * keeps serving, unchanged. The listeners never change on a reload (a
 * different listen list or metrics.listen is logged and ignored: it needs
 * a restart). */
#ifndef PYRPOOL_RELOAD_H
#define PYRPOOL_RELOAD_H

#include <stdbool.h>

#include <uv.h>

#include "config.h"

struct daemon;
struct pool;

#define RELOAD_READY_MS 120000

/* Told once how a reload ended: refused NULL when the new generation
 * serves, else why the running config stays. */
typedef void reload_done_cb(struct daemon *d, void *arg, const char *refused);

/* Someone waiting for the reload in progress (the reload method). */
struct reload_waiter {
    reload_done_cb *cb;
    void *arg;
    struct reload_waiter *next;
};

struct reload {
    bool active;          /* a new generation is starting */
    struct config cfg;    /* the file as just loaded */
    struct pool **pools;  /* the new generation */
    size_t npools;
    size_t nready;        /* of them, ready */
    uv_timer_t timer;     /* RELOAD_READY_MS */
    unsigned generation;  /* reloads applied so far */
    struct reload_waiter *waiters; /* told when the one in progress ends */
};

void reload_init(struct daemon *d);

/* SIGHUP, or the reload method: loads the file and starts the new
 * generation. systemd is told RELOADING=1, then READY=1 when it ends
 * (notify.h). cb, if not NULL, is told how it ended, maybe before this
 * returns (a file that does not load); a reload already in progress is
 * joined: cb hears how that one ends. SIGHUP passes no cb, and one that
 * comes during a reload is ignored. While the daemon stops, cb hears a
 * refusal at once. */
void reload_start(struct daemon *d, reload_done_cb *cb, void *arg);

/* Abandons a reload in progress (at shutdown) and closes the timer. */
void reload_close(struct daemon *d);

#endif
