/* executor: the master's side of one Python executor process.
 *
 * Spawns the pyrpool-executor binary with a socketpair on its fd 3, sends it
 * the INIT frame, and once it answers READY gives it calls from its pool.
 * Results are relayed to the calling client verbatim. When the process dies,
 * what it had done is read back (the socket to its end, then its board:
 * board.h): calls that finished get their results, the call that was
 * running fails with WorkerCrashed (naming the exit status or signal) and
 * counts against its function (the crashed event), calls that had not
 * started go back to the pool. A new process starts at once; only an
 * executor that keeps dying young (before READY, or before its first
 * answer) is restarted after a backoff that grows.
 *
 * With the pool's max_requests set, an executor that has answered that many
 * calls (plus up to max_requests_jitter, drawn per process, so a pool's
 * executors do not all retire at once) is retired once idle and replaced;
 * with max_memory set, so is one whose RSS has grown past it.
 *
 * Thread mode: a pool has one executor, which runs up to the pool's size of
 * calls at once, each on a Python thread of its own. A stopped call
 * (timeout, cancel) gets its exception through a STOP frame; if its thread
 * is still busy with it after the pool's hard_timeout, the whole process
 * is replaced and the other calls it ran fail with WorkerCrashed.
 *
 * Events go up, calls go down: the executor calls none of its pool's
 * functions; it tells its pool what happened through the executor_events
 * the pool gave it (ready, idle, gone, a start failed, a call to queue
 * again, a call that crashed it, a batch ran, freed), as libuv's handles
 * report through callbacks. It reads its pool's settings (name, size,
 * limits, boards, template) and counts what it did in its own counts,
 * which its pool adds up.
 *
 * States: STARTING (spawned, not READY yet) -> IDLE (on the pool's idle
 * stack: it can take calls; in thread mode it may run some) <-> BUSY (full)
 * -> DEAD (handles closing) -> STARTING again after the backoff, or freed at
 * shutdown. */
#ifndef PYRPOOL_EXECUTOR_H
#define PYRPOOL_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "board.h"
#include "call.h"
#include "child.h"
#include "tally.h"
#include "template.h"

struct daemon;
struct executor;
struct pool;

/* What an executor tells its owner (see the top), which gives these to
 * executor_new. */
struct executor_events {
    void (*ready)(struct executor *ex);    /* it answered READY (after idle) */
    void (*idle)(struct executor *ex);     /* it can take calls: executor_room */
    void (*gone)(struct executor *ex);     /* it cannot (busy, dying, leaving) */
    /* it died before READY, ex->start_failures times in a row */
    void (*start_failed)(struct executor *ex, const char *why);
    /* c never started on it: to the front of its queue, for another one */
    void (*requeue)(struct executor *ex, struct call *c);
    /* c crashed it (a fatal signal in its thread, or the process ended while
     * it ran; not a kill from outside); c is answered WorkerCrashed next */
    void (*crashed)(struct executor *ex, struct call *c);
    /* process mode: it ran a batch of calls in ns (its own measure) */
    void (*batch_ran)(struct executor *ex, uint64_t ns, uint64_t calls);
    /* it is being freed (shut down, or left after a resize) */
    void (*freed)(struct executor *ex);
};

enum executor_state { EX_STARTING, EX_IDLE, EX_BUSY, EX_DEAD };

/* Calls answered with a result / with an error, and processes started
 * after the first one (by a pool: by its executors, gone ones included). */
struct exec_counts {
    uint64_t completed, failed, restarts;
    uint64_t restarts_by[RESTART_N]; /* by cause (tally.h); reload's are the pool's */
};

/* A call that was answered while the executor ran it: its late result is
 * dropped by id; past until_ms the executor is killed and replaced. */
struct abandoned_call {
    uint64_t id;
    uint64_t until_ms;
};

struct executor {
    struct child child;        /* its process, socket and buffers (child.h) */
    uv_timer_t restart_timer;
    struct pool *pool;
    const struct executor_events *ev; /* its pool's */
    int index;
    enum executor_state state;
    struct executor *next_dirty;
    bool dirty;
    struct call_list running;  /* calls sent, not answered yet, in order */
    bool timer_open;           /* restart_timer not closed yet */
    bool exited;               /* the exit callback ran */
    bool shutting_down;        /* no restart: the daemon is stopping */
    int board;                 /* its board in the pool's board_map (board.h) */
    unsigned slots_used;       /* process mode: slots its last batch took (0..n-1) */
    uint64_t slot_taken[BOARD_SLOTS / 64]; /* thread mode: slots its calls hold */
    uint64_t started_ms;       /* when it was READY; 0: not yet */
    unsigned young_deaths;     /* deaths in a row before READY or before its
                                * first answer within EXECUTOR_YOUNG_MS of it */
    unsigned start_failures;   /* deaths in a row before READY */
    uint64_t served;           /* calls answered by the current process */
    uint64_t recycle_at;       /* served count that retires it (max_requests); 0: never */
    bool recycling;            /* retiring: its exit is planned */
    bool killed;               /* the master killed it (a stuck stopped call) */
    bool leaving;              /* resize_pool took its slot: stop once idle */
    struct abandoned_call *abandoned; /* calls answered (timed out, cancelled)
                                * that it is still being stopped in, oldest first */
    size_t nabandoned, abandoned_cap;
    bool threaded;             /* thread mode: runs up to pool->size calls at once */
    bool forked;               /* by the pool's template: no process handle;
                                * the template reports its exit */
    struct fork_req fork;      /* its request to the template */
    bool started_before;       /* a later spawn is a restart */
    enum restart_cause cause;  /* why the next spawn is one (set at its death) */
    enum restart_cause retire_cause; /* recycling: max_requests or max_memory */
    struct exec_counts counts; /* all its processes' */
};

/* Allocates executor index of pool and starts its process; it reports to
 * its pool through ev. Returns the executor (never NULL: a failed spawn is
 * retried like a death). */
struct executor *executor_new(struct pool *pool, int index, const struct executor_events *ev);

/* Sends call c to ex (which must be IDLE and alive). */
void executor_send(struct executor *ex, struct call *c);

/* How many more calls ex takes now: process mode, a batch when it has
 * nothing in flight; thread mode, one per free thread. */
size_t executor_room(const struct executor *ex);

/* Resident memory of ex's process in bytes, or 0 if it cannot be read. */
size_t executor_rss(const struct executor *ex);

/* True when c, sent to ex, may have started: in thread mode every call
 * sent; in process mode one the executor has claimed on its board. */
bool executor_running(const struct executor *ex, const struct call *c);

/* c, sent to ex, is being answered (timeout, cancel) without a result.
 * Returns true when it had not started and now never will (it is off ex);
 * false when it may have started (executor_give_up / executor_cancel
 * follow). */
bool executor_unsend(struct executor *ex, struct call *c);

/* resize_pool took ex's slot: it takes no new calls, and stops once the
 * calls it holds are answered (now, if it holds none). */
void executor_leave(struct executor *ex);

/* Thread mode: the pool's size changed; ex takes calls by the new size. */
void executor_resized(struct executor *ex);

/* Thread mode: c, running on ex, passed its deadline: ex reports its stack
 * (a TIMEOUT frame) and raises TimeoutError in its thread. */
void executor_stop_timeout(struct executor *ex, struct call *c);

/* c, running on ex, timed out and was answered: ex raises TimeoutError in
 * it and gets limits.timeout_grace_ms (thread mode: the pool's
 * hard_timeout) to come back; past that it is killed and replaced. Process
 * mode: the calls queued behind c go back to the pool. Thread mode: the
 * other calls it runs fail with WorkerCrashed. */
void executor_give_up(struct executor *ex, struct call *c);

/* c, running on ex, was cancelled and answered: ex is told (process mode:
 * a queued signal carrying the call id; thread mode: a STOP frame) to raise
 * pyrpool.Cancelled in it, then it is given up the same way as a timed-out
 * call. */
void executor_cancel(struct executor *ex, struct call *c);

/* Writes ex's buffered frames. Called from the flush hooks only. */
void executor_flush(struct executor *ex);

/* Stops ex for good (daemon shutdown): kills the process, fails its calls,
 * and frees it once its handles are closed. */
void executor_shutdown(struct executor *ex);

const char *executor_state_name(enum executor_state s);

#endif
