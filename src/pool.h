/* pool: a named set of executors and the queue of calls waiting for them.
 *
 * The queue lives in the master. New calls are queued; once per loop turn
 * (pool_dispatch, from the flush hook) the queue is shared out among the idle
 * executors in batches, so a burst of calls goes out in few writes. An
 * executor gets a batch only when it has nothing in flight, so a slow call
 * can hold at most its own batch, and the executor hands those calls back
 * after limits.handback_ms (see executor_main.c); they return to the front
 * of the queue. Calls whose client has gone are dropped instead of run.
 * A thread-mode pool has one executor, which is sent at most one call per
 * thread. */
#ifndef PYRPOOL_POOL_H
#define PYRPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "config.h"
#include "rpc.h"

struct conn;
struct daemon;
struct executor;

/* A start_pool request answered once its pool is ready. */
struct pool_waiter {
    struct conn *conn;
    uint8_t msgid_len;
    char msgid[RPC_MSGID_MAX];
};
struct template;

/* At most this many calls, or about this many bytes of frames, per batch. */
#define POOL_BATCH_MAX 64
#define POOL_BATCH_BYTES (64 * 1024)
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
    struct pool_waiter *waiter; /* start_pool's answer, sent once every executor is READY */
    struct executor **idle;   /* a stack: the most recently used runs next */
    struct executor **leaving; /* removed by resize_pool, finishing their calls */
    size_t nleaving;
    size_t nidle;
    uint64_t call_ns;         /* process mode: time per call of the last batch
                               * an executor ran (0: not known yet) */
    struct call_list queue;
    struct pool *next_dirty;
    bool dirty;               /* on d->dirty_pools: has work to hand out */
    unsigned max_queue;
    unsigned max_requests;        /* 0: executors are never recycled */
    unsigned max_requests_jitter;
    size_t max_memory;            /* 0: executors are not recycled for memory */
    double timeout;               /* seconds, for calls without opts.timeout; 0: none */
    double hard_timeout;          /* thread mode: see config_pool */
    uint64_t completed;
    uint64_t failed;
    uint64_t restarts;            /* executor processes started after the first ones */
    bool degraded;                /* its executors keep failing to start */
    unsigned crash_limit;         /* see config_pool */
    double crash_interval;
    uint64_t *crashes;            /* loop times of the last crash_limit deaths, a ring */
    unsigned ncrashes, crash_next;
    uint64_t tripped_until;       /* loop time until which calls are held off; 0: not */
    unsigned trips;               /* in a row: each doubles the hold-off */
    uint64_t last_trip_end;
    bool stopping;                /* stop_pool: finishing its calls, then gone */
    bool pending;                 /* a reload's new generation, not serving yet */
    bool from_config;             /* made from the file, not by start_pool */
    bool shut;                    /* its executors were told to stop */
    int live;                     /* executors not freed yet */
    char last_failure[128];       /* why the last one did */
};

/* Creates the pool and starts its executors, which get their python and
 * limits settings from cfg. Never NULL (aborts on OOM). */
struct pool *pool_new(struct daemon *d, const struct config_pool *cp, const struct config *cfg);

/* start_pool: answers msgid on c with the executors' pids once every one
 * is READY (python.preload imported), or with the error that stops that:
 * PoolDegraded, or ShuttingDown / NoSuchPool when the pool stops first. */
void pool_answer_when_ready(struct pool *p, struct conn *c, struct rpc_raw msgid);

/* True when the queue holds max_queue calls: new ones get Overloaded. */
static inline bool pool_full(const struct pool *p)
{
    return p->queue.len >= p->max_queue;
}

/* Queues c; it is handed out at the end of this loop turn. */
void pool_submit(struct pool *p, struct call *c);

/* Puts c back at the front of the queue (handed back by an executor). */
void pool_requeue_front(struct pool *p, struct call *c);

/* An executor died before it was ready (the failures-th time in a row):
 * when none of the pool lives, the pool turns degraded and its calls fail
 * fast with PoolDegraded while executors keep being retried with backoff. */
void pool_start_failed(struct pool *p, unsigned failures, const char *why);

/* An executor of p is ready: p is not degraded (any more). */
void pool_executor_ready(struct pool *p);

/* An executor of p died unexpectedly (not retired, not stopped, not
 * killed by the master). crash_limit deaths within crash_interval trip
 * the pool: its queued calls fail and new ones fail fast with PoolDegraded
 * for a hold-off (1 s, doubling at each trip in a row, up to 64 s), then it
 * takes calls again. Its executors keep being restarted meanwhile. */
void pool_executor_crashed(struct pool *p);

/* True while p is tripped (see above). */
bool pool_tripped(struct pool *p);

/* ex has nothing in flight: it may take the next batch. */
void pool_executor_idle(struct pool *p, struct executor *ex);

/* ex is dying or starting over: it must not be picked while idle. */
void pool_executor_gone(struct pool *p, struct executor *ex);

/* Shares the queue out among the idle executors (from the flush hook). */
void pool_dispatch(struct pool *p);

/* Process mode: an executor ran a batch of calls in ns (its own measure,
 * without the time on the wire); feeds the pool's time per call, which
 * sizes its batches. */
void pool_batch_done(struct pool *p, uint64_t ns, uint64_t calls);

/* Answers c at once with the daemon error type/message and stops it: a
 * queued call leaves the queue; a call an executor is running gets
 * pyrpool.Cancelled raised in it, and its executor is replaced if it does
 * not come back within limits.timeout_grace_ms; a call sent but not started
 * is forgotten (its late answer finds no call and is dropped). */
void pool_abort(struct call *c, const char *type, const char *message);

/* Answers every queued call with type/message (used at shutdown). */
void pool_fail_queue(struct pool *p, const char *type, const char *message);

/* stop_pool: the pool takes no new calls (daemon_find_pool no longer finds
 * it); once its queued and running calls are answered its executors stop,
 * and the pool is freed with the last of them. */
void pool_stop(struct pool *p);

/* From the flush hook: shuts a stopping pool's executors down once it has
 * nothing in flight. */
void pool_check_stopped(struct pool *p);

/* resize_pool: new executors start at once; when shrinking, the last ones
 * leave: idle ones stop now, busy ones after the calls they hold. */
void pool_resize(struct pool *p, int size);

/* An executor of p was freed (at shutdown, after pool_stop or a resize);
 * ex NULL: p's template is gone. */
void pool_executor_freed(struct pool *p, struct executor *ex);

/* True when p has no call queued or running. */
bool pool_idle(const struct pool *p);

/* Stops every executor; the pool is freed with pool_free after the loop ran
 * their close callbacks. */
void pool_shutdown(struct pool *p);
void pool_free(struct pool *p);

#endif
