/* template: the master's side of a pool's template process.
 *
 * Unless the pool sets preload_in_template: false, it has a template: a
 * pyrpool-executor that starts Python, imports python.preload, reports
 * READY and then forks the pool's executors on request (forkserver.c). A
 * forked executor serves within milliseconds of the request and shares the
 * preloaded modules with the template copy-on-write. The template is the
 * executors' parent: it reports their exits (FRAME_EXITED), and they die
 * with it.
 *
 * Executors that need starting while the template is not READY yet wait
 * for it. If the template fails before READY (a preload import raises), or
 * dies young, the pool does without: its executors start as fresh
 * processes (the way preload_in_template: false does). A template that
 * dies after serving a while is started again; the executors it had die
 * with it and are restarted like any dead executor (WorkerCrashed for the
 * calls they ran). */
#ifndef PYRPOOL_TEMPLATE_H
#define PYRPOOL_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "outq.h"
#include "rbuf.h"

struct pool;
struct executor;

enum template_state { TPL_STARTING, TPL_READY, TPL_DEAD, TPL_OFF };

struct template {
    struct pool *pool;
    uv_process_t proc;
    uv_pipe_t pipe;              /* an IPC pipe: forked executors' sockets come through it */
    struct rbuf in;
    struct outq out;
    enum template_state state;
    int pid;
    bool pipe_open, proc_open, shutting_down;
    uint64_t started_ms;
    struct executor **waiting;   /* to be forked, or forked and not reported yet */
    size_t nwaiting, waiting_cap;
    size_t asked;                /* waiting[0..asked) have had their FORK sent */
    struct executor **children;  /* forked, exit not reported yet */
    size_t nchildren, children_cap;
};

/* Allocates p's template and starts it. */
struct template *template_new(struct pool *p);

/* Starts ex by a fork of t, now or once t is READY. Returns false when t
 * cannot (not running): the caller starts ex as a fresh process. */
bool template_fork(struct template *t, struct executor *ex);

/* ex, waiting for its fork, is being shut down: forget it (a fork that
 * comes anyway is killed). */
void template_forget(struct template *t, struct executor *ex);

/* Stops t (its pool is stopping); its pool counts it as a live member
 * until its handles are closed. */
void template_shutdown(struct template *t);

void template_free(struct template *t);

#endif
