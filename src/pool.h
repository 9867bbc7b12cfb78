/* pool: a named set of executors and the queue of calls waiting for them.
 *
 * The queue lives in the master. A call goes straight to an idle executor
 * when there is one and waits in the pool's FIFO otherwise; an executor that
 * finishes takes the oldest waiting call. Calls whose client has gone are
 * dropped instead of run. */
#ifndef PYRPOOL_POOL_H
#define PYRPOOL_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "config.h"

struct daemon;
struct executor;

struct pool {
    struct daemon *d;
    char name[CONFIG_POOL_NAME_MAX + 1];
    enum pool_mode mode;
    int size;
    struct executor **executors;
    struct executor **idle;   /* a stack: the most recently used runs next */
    size_t nidle;
    struct call_list queue;
    uint64_t completed;
    uint64_t failed;
};

/* Creates the pool and starts its executors. Never NULL (aborts on OOM). */
struct pool *pool_new(struct daemon *d, const struct config_pool *cp);

/* Runs c on an idle executor, or queues it. */
void pool_submit(struct pool *p, struct call *c);

/* ex has nothing to run: give it the next queued call or mark it idle. */
void pool_executor_idle(struct pool *p, struct executor *ex);

/* ex is dying or starting over: it must not be picked while idle. */
void pool_executor_gone(struct pool *p, struct executor *ex);

/* Answers every queued call with type/message (used at shutdown). */
void pool_fail_queue(struct pool *p, const char *type, const char *message);

/* Stops every executor; the pool is freed with pool_free after the loop ran
 * their close callbacks. */
void pool_shutdown(struct pool *p);
void pool_free(struct pool *p);

#endif
