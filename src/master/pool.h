/* pool: a named set of executors and the queue of calls waiting for them.
 *
 * The queue lives in the master, one lane per connection: the pool serves
 * its lanes in turn (round robin), so a client with a backlog of 10,000
 * calls delays another client's call by about one batch, not the backlog.
 * A lane whose connection has too many answers unwritten (limits.
 * max_output, conn_dispatch_room) is passed over until it drains. Once per
 * loop turn (pool_dispatch, from the flush hook) the queue is shared out
 * among the idle executors in batches, so a burst of calls goes out in few
 * writes. An executor gets a batch only when it has nothing in flight, so a
 * slow call can hold at most its own batch, and the executor hands those
 * calls back once the batch has held them limits.handback_ms (see
 * src/executor/serial.c); they return to the front of their lanes. Calls whose
 * client has gone are dropped instead of run. A thread-mode pool has one
 * executor, which is sent at most one call per thread.
 *
 * Crashes are charged to the function that caused them
 * (an executor's crashed event): one that crashes executors crash_limit
 * times within crash_interval is quarantined on this pool for a hold-off; the pool's
 * other calls are served as usual. */
#ifndef PYRPOOL_POOL_H
#define PYRPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board_map.h"
#include "call.h"
#include "config.h"
#include "executor.h"
#include "rpc.h"
#include "tally.h"

struct conn;
struct daemon;
struct deadline;
struct deadlines;
struct executor;

struct pool;
struct template;

/* Told once whether a pool got ready (pool_when_ready): type NULL when
 * every executor is READY, else the daemon error type and message that
 * stop it. */
typedef void pool_ready_cb(struct pool *p, void *arg, const char *type, const char *message);

/* One connection's calls waiting in one pool (see the top). A lane belongs
 * to its connection (freed with it), and is on its pool's ring while it
 * holds calls. */
struct lane {
    struct pool *pool;
    struct conn *conn;
    struct call_list q;
    struct lane *rnext, *rprev; /* the pool's ring */
    struct lane *cnext;         /* the connection's lanes */
};

/* A function whose calls crash executors (see the top). */
struct culprit {
    uint64_t hash;            /* of "module.function" (call_fn_hash) */
    char name[96];
    unsigned crashes;         /* in the window that started at since_ms */
    uint64_t since_ms;
    uint64_t held_until;      /* loop time until which its calls fail; 0: not held */
    unsigned trips;           /* holds in a row: each doubles the hold-off */
    uint64_t last_hold_end;
};

/* Process mode: a batch should hold about this much work (by the pool's
 * recent time per call, as its executors measure it), so that quick calls
 * are not spread over every idle executor a few at a time: each batch costs
 * the master a write and a read and an executor a wake-up, and executors
 * started together stay in step, all waiting at once. */
#define POOL_BATCH_WORK_NS 40000
/* An executor that dies this many times in a row before READY, with no
 * other executor of its pool alive, makes the pool degraded. */
#define POOL_DEGRADED_AFTER 3

struct pool {
    struct daemon *d;
    const struct config *cfg; /* what its executors start with */
    struct config_pool spec;  /* what it was made from (a reload remakes it) */
    char name[CONFIG_POOL_NAME_MAX + 1];
    enum pool_mode mode;
    int size;                 /* executors, or threads in thread mode */
    int nexec;                /* executors: size, or 1 in thread mode */
    struct executor **executors;
    struct template *template; /* forks its executors; NULL: preload_in_template off */
    pool_ready_cb *ready_cb;  /* pool_when_ready's watcher, or NULL */
    void *ready_arg;
    bool ready_strict;
    struct executor **idle;   /* a stack: the most recently used runs next */
    struct executor **leaving; /* removed by resize_pool, finishing their calls */
    size_t nleaving;
    size_t nidle;
    uint64_t call_ns;         /* process mode: time per call of the last batch
                               * an executor ran (0: not known yet) */
    struct board_map boards;  /* its executors' boards (board.h) */
    struct lane *ring;        /* lanes with calls; the next one served first */
    size_t nlanes;            /* on the ring */
    size_t queued;            /* calls in its lanes */
    struct pool *next_dirty;
    bool dirty;               /* on d->dirty_pools: has work to hand out */
    unsigned max_queue;
    unsigned max_requests;        /* 0: executors are never recycled */
    unsigned max_requests_jitter;
    size_t max_memory;            /* 0: executors are not recycled for memory */
    double timeout;               /* seconds, for calls without opts.timeout; 0: none */
    double hard_timeout;          /* thread mode: see config_pool */
    struct exec_counts counts;    /* its own (calls it failed itself), plus those
                                   * of its executors that are gone (pool_counts) */
    struct tally tally;           /* outcomes, latencies, queue high-water (stats) */
    bool degraded;                /* its executors keep failing to start */
    unsigned crash_limit;         /* see config_pool */
    double crash_interval;
    struct culprit *culprits;     /* functions that crashed its executors lately */
    size_t nculprits, culprits_cap;
    size_t nheld;                 /* culprits held off now (or until checked) */
    bool stopping;                /* stop_pool: finishing its calls, then gone */
    bool from_config;             /* made from the file, not by start_pool */
    bool shut;                    /* its executors were told to stop */
    int live;                     /* executors not freed yet */
    char last_failure[128];       /* why the last one did */
};

/* The daemon's list of pools (d->pools) is this module's: */

/* The pool named name (len bytes) that takes calls, or NULL. */
struct pool *pool_find(struct daemon *d, const char *name, size_t len);

/* Adds p to the daemon's list; returns p. A pool leaves the list when it
 * is freed after pool_stop, with its last executor. */
struct pool *pool_list_add(struct daemon *d, struct pool *p);

/* At exit, once every pool's handles are closed: frees them all and the list. */
void pool_list_free(struct daemon *d);

/* Creates the pool and starts its executors, which get their python and
 * limits settings from cfg; from_config: made from the file, not by
 * start_pool (a reload remakes it only if the file still has it). Never
 * NULL (aborts on OOM). */
struct pool *pool_new(struct daemon *d, const struct config_pool *cp, const struct config *cfg, bool from_config);

/* Tells cb, once, when every executor of p is READY (python.preload
 * imported), or what stops that: the pool stopped first (NoSuchPool), the
 * daemon is stopping (ShuttingDown), or its executors fail to start: at
 * the first failure when strict (StartFailed, the message says how one
 * died), else once the pool is degraded (PoolDegraded). One watcher per
 * pool: start_pool's answer (admin.c), or a reload's new generation. */
void pool_when_ready(struct pool *p, bool strict, pool_ready_cb *cb, void *arg);

/* One line for systemd's STATUS=: "pools 2, calls 1234 done, 3 queued",
 * then ", NAME degraded" for each degraded pool. */
void pool_status_line(const struct daemon *d, char *buf, size_t len);

/* p's calls answered and failed, and its executor restarts, so far. */
struct exec_counts pool_counts(const struct pool *p);

/* What p's executors are doing (threads, in thread mode). */
struct pool_states {
    int busy, idle, starting, retiring;
};

struct pool_states pool_states(const struct pool *p);

/* Reload: np takes over from p (same name): it carries p's counters on. */
void pool_take_counts(struct pool *np, const struct pool *p);

/* Reload: p's executors start with cfg from now on (the daemon's config,
 * which replaced the one p was made with). */
void pool_set_config(struct pool *p, const struct config *cfg);

/* A pool that never served (an abandoned reload's new generation): it
 * joins the list as stopping, with cfg as its config (the one it was made
 * with is going), and its executors stop at once; it is freed with the
 * last of them. */
void pool_discard(struct pool *p, const struct config *cfg);

/* True when the queue holds max_queue calls: new ones get Overloaded. */
static inline bool pool_full(const struct pool *p)
{
    return p->queued >= p->max_queue;
}

/* Queues c in its connection's lane; it is handed out at the end of this
 * loop turn. */
void pool_submit(struct pool *p, struct call *c);

/* Takes the next queued call off p (any lane), or NULL. */
struct call *pool_take_queued(struct pool *p);

/* c's connection may have calls dispatched again: p looks at its lane. */
void pool_lane_ready(struct lane *l);

/* Frees the lanes of connection c (all empty: it has no call left). */
void pool_free_lanes(struct conn *c);

/* When calls to module.function are held off on p: writes why into msg
 * and returns true. */
bool pool_quarantined(struct pool *p, const char *module, size_t mlen, const char *function,
                      size_t flen, char *msg, size_t msglen);

/* Shares the queue out among the idle executors (from the flush hook). */
void pool_dispatch(struct pool *p);

/* Answers c at once with the daemon error type/message and stops it: a
 * queued call leaves the queue; a call an executor is running gets
 * pyrpool.Cancelled raised in it, and its executor is replaced if it does
 * not come back within limits.timeout_grace_ms; a call sent but not started
 * is forgotten (its late answer finds no call and is dropped). */
void pool_abort(struct call *c, const char *type, const char *message);

/* The daemon's policy for a call whose opts.timeout passed (its deadline
 * set's callback, deadline.h): a queued call, or one sent but not started,
 * is answered Timeout (pool_abort). A running one is the executor's to stop
 * first: it raises TimeoutError in the call and sends the Python stack
 * (FRAME_TIMEOUT), and the answer carries it; without that report within
 * 50 ms the master answers without it. Either way the executor then has
 * limits.timeout_grace_ms to come back before it is replaced
 * (executor_give_up). */
void pool_call_expired(struct deadlines *set, struct deadline *e);

/* Answers every queued call with type/message (used at shutdown). */
void pool_fail_queue(struct pool *p, const char *type, const char *message);

/* stop_pool: the pool takes no new calls (pool_find no longer finds
 * it); once its queued and running calls are answered its executors stop,
 * and the pool is freed with the last of them. */
void pool_stop(struct pool *p);

/* From the flush hook: shuts a stopping pool's executors down once it has
 * nothing in flight. */
void pool_check_stopped(struct pool *p);

/* resize_pool: new executors start at once; when shrinking, the last ones
 * leave: idle ones stop now, busy ones after the calls they hold. */
void pool_resize(struct pool *p, int size);

/* True when p has no call queued or running. */
bool pool_idle(const struct pool *p);

/* Stops every executor; the pool is freed once the loop ran their close
 * callbacks (pool_list_free at exit, or with its last executor after
 * pool_stop). */
void pool_shutdown(struct pool *p);

#endif
