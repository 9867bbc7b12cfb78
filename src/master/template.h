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
 * calls they ran).
 *
 * The template knows nothing of executors: an executor asks for its fork
 * with a fork_req embedded in it (as a libuv request is in its caller's
 * struct) and hears back through the request's callbacks; the template's
 * own end is reported to its pool through the callback given to
 * template_new. */
#ifndef PYRPOOL_TEMPLATE_H
#define PYRPOOL_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "child.h"

struct pool;
struct template;

/* A request to fork one executor; see the top. */
struct fork_req {
    uint64_t key;       /* names it in the FORK frames (set by template_fork) */
    int index, board;   /* the child's number in its pool, and its board */
    int pid;            /* the child, once forked */
    struct child *child; /* where the child's socket (and output) are taken */
    /* forked: its socket is in child->pipe, the child is pid */
    void (*forked)(struct fork_req *req, int pid);
    /* not forked: template_gone when the template stopped (start the
     * executor another way), else the fork failed */
    void (*failed)(struct fork_req *req, bool template_gone);
    /* the child ended, as its template reports (reason NULL: status or
     * signal tells), or died with its template (reason says so) */
    void (*exited)(struct fork_req *req, int64_t status, int sig, const char *reason);
};

enum template_state { TPL_STARTING, TPL_READY, TPL_DEAD, TPL_OFF };

struct template {
    struct pool *pool;
    void (*ended)(struct template *t); /* its pool's: its handles are closed */
    struct child child;          /* its process; its socket is an IPC pipe:
                                  * forked executors' sockets come through it */
    enum template_state state;
    bool shutting_down;
    uint64_t started_ms;
    struct fork_req **waiting;   /* to be forked, or forked and not reported yet */
    size_t nwaiting, waiting_cap;
    size_t asked;                /* waiting[0..asked) have had their FORK sent */
    struct fork_req **children;  /* forked, exit not reported yet */
    size_t nchildren, children_cap;
};

/* Allocates p's template and starts it; ended runs once it is gone for
 * good (shut down, or given up) and its handles are closed. */
struct template *template_new(struct pool *p, void (*ended)(struct template *t));

/* Forks req's executor from t, now or once t is READY. Returns false when t
 * cannot (not running): the caller starts it as a fresh process. */
bool template_fork(struct template *t, struct fork_req *req);

/* req's executor, waiting for its fork, is being shut down: forget it (a
 * fork that comes anyway is killed). */
void template_forget(struct template *t, struct fork_req *req);

/* Stops t (its pool is stopping); its pool counts it as a live member
 * until its handles are closed. */
void template_shutdown(struct template *t);

void template_free(struct template *t);

#endif
