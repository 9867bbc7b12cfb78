/* pool: queues and batched dispatch of calls to executors. See pool.h. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "daemon.h"
#include "executor.h"
#include "log.h"
#include "xalloc.h"
#include "reload.h"
#include "reply.h"
#include "route.h"
#include "template.h"

struct pool *pool_new(struct daemon *d, const struct config_pool *cp, const struct config *cfg)
{
    struct pool *p = xcalloc(1, sizeof *p);
    int i;

    p->d = d;
    p->cfg = cfg;
    p->spec = *cp;
    snprintf(p->name, sizeof p->name, "%s", cp->name);
    p->mode = cp->mode;
    p->size = cp->size;
    p->max_queue = cp->max_queue;
    p->max_requests = cp->max_requests;
    p->max_requests_jitter = cp->max_requests_jitter;
    p->max_memory = cp->max_memory;
    p->timeout = cp->timeout;
    p->crash_limit = cp->crash_limit;
    p->crash_interval = cp->crash_interval;
    if (p->crash_limit > 0)
        p->crashes = xcalloc(p->crash_limit, sizeof *p->crashes);
    p->hard_timeout = cp->hard_timeout;
    p->nexec = p->mode == POOL_THREAD ? 1 : p->size;
    if (cp->preload_in_template)
        p->template = template_new(p); /* first: the executors wait for it */
    p->executors = xcalloc((size_t)p->nexec, sizeof *p->executors);
    p->idle = xcalloc((size_t)p->nexec, sizeof *p->idle);
    for (i = 0; i < p->nexec; i++)
        p->executors[i] = executor_new(p, i);
    p->live = p->nexec + (p->template != NULL);
    if (p->mode == POOL_THREAD)
        log_info("pool %s: %d thread%s in one executor, thread mode", p->name, p->size,
                 p->size == 1 ? "" : "s");
    else
        log_info("pool %s: %d executor%s, process mode", p->name, p->size, p->size == 1 ? "" : "s");
    return p;
}

static void mark_dirty(struct pool *p)
{
    if (p->dirty)
        return;
    p->dirty = true;
    p->next_dirty = p->d->dirty_pools;
    p->d->dirty_pools = p;
}

void pool_submit(struct pool *p, struct call *c)
{
    c->pool = p;
    call_list_push(&p->queue, c);
    if (p->nidle > 0)
        mark_dirty(p);
}

void pool_requeue_front(struct pool *p, struct call *c)
{
    c->ex = NULL;
    call_list_push_front(&p->queue, c);
    if (p->nidle > 0)
        mark_dirty(p);
}

void pool_executor_idle(struct pool *p, struct executor *ex)
{
    p->idle[p->nidle++] = ex;
    if (p->queue.len > 0)
        mark_dirty(p);
}

void pool_executor_gone(struct pool *p, struct executor *ex)
{
    size_t i;

    for (i = 0; i < p->nidle; i++) {
        if (p->idle[i] == ex) {
            p->idle[i] = p->idle[--p->nidle];
            return;
        }
    }
}

/* True when c's answer still has somewhere to go. */
static bool wanted(struct call *c)
{
    return !(c->job != NULL ? c->job->conn->closing : c->conn->closing);
}

/* Process mode: the fewest calls worth a batch of their own, by the pool's
 * recent time per call (POOL_BATCH_WORK_NS), at most half the largest batch
 * (quick calls then travel in two half batches: one executor runs its half
 * while the other's answers are relayed and the client sends more). */
static size_t batch_floor(const struct pool *p)
{
    uint64_t n;

    if (p->mode != POOL_PROCESS || p->call_ns == 0)
        return 1;
    n = POOL_BATCH_WORK_NS / p->call_ns;
    return n < 1 ? 1 : n > POOL_BATCH_MAX / 2 ? POOL_BATCH_MAX / 2 : (size_t)n;
}

void pool_batch_done(struct pool *p, uint64_t ns, uint64_t calls)
{
    /* the last batch alone, not an average: one slow call must not keep the
     * quick calls after it from batching for long, and calls that turn slow
     * are spread at once */
    p->call_ns = ns / calls + 1;
}

void pool_dispatch(struct pool *p)
{
    struct executor *ex;
    struct call *c;
    size_t share, n, bytes, use;

    while (p->nidle > 0 && p->queue.len > 0) {
        /* even shares for as many idle executors as the queue holds
         * batches' worth of work: quick calls are not cut into small batches,
         * and idle executors are not all started together, so that they stay
         * out of step and one runs while the other's answers are relayed */
        use = p->queue.len / batch_floor(p);
        if (use > p->nidle)
            use = p->nidle;
        if (use < 1)
            use = 1;
        share = (p->queue.len + use - 1) / use;
        if (share > POOL_BATCH_MAX)
            share = POOL_BATCH_MAX;
        ex = p->idle[--p->nidle];
        if (share > executor_room(ex))
            share = executor_room(ex);
        for (n = 0, bytes = 0; n < share && (c = p->queue.head) != NULL;) {
            if (n > 0 && bytes + c->frame.size > POOL_BATCH_BYTES)
                break;
            call_list_remove(&p->queue, c);
            if (!wanted(c)) {
                reply_drop(c);
                continue;
            }
            executor_send(ex, c);
            bytes += c->frame.size;
            n++;
        }
        if (ex->state == EX_IDLE) /* it has room left (thread mode), or all it
                                   * looked at was dropped */
            p->idle[p->nidle++] = ex;
    }
}

void pool_abort(struct call *c, const char *type, const char *message)
{
    if (c->ex == NULL) {
        call_list_remove(&c->pool->queue, c);
    } else if (executor_running(c->ex, c)) {
        executor_cancel(c->ex, c);
    } else {
        call_list_remove(&c->ex->running, c);
        c->ex = NULL;
    }
    c->pool->failed++;
    reply_error(c, type, message);
}

void pool_answer_when_ready(struct pool *p, struct conn *c, struct rpc_raw msgid)
{
    struct pool_waiter *w = xcalloc(1, sizeof *w);

    w->conn = c;
    w->msgid_len = (uint8_t)msgid.len;
    memcpy(w->msgid, msgid.ptr, msgid.len);
    conn_call_started(c); /* the connection lives until the answer */
    p->waiter = w;
}

/* Sends start_pool's answer: the pids, or the error type/message. */
static void answer_waiter(struct pool *p, const char *type, const char *message)
{
    struct pool_waiter *w = p->waiter;
    struct rpc_raw msgid;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int i;

    if (w == NULL)
        return;
    p->waiter = NULL;
    msgid = (struct rpc_raw){w->msgid, w->msgid_len};
    if (type != NULL) {
        if (!w->conn->closing)
            conn_respond_error(w->conn, msgid, type, message);
    } else if (!w->conn->closing) {
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, (size_t)p->nexec);
        for (i = 0; i < p->nexec; i++)
            msgpack_pack_int(&pk, p->executors[i]->pid);
        conn_respond_raw(w->conn, msgid, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    conn_call_done(w->conn);
    free(w);
}

void pool_start_failed(struct pool *p, unsigned failures, const char *why)
{
    char msg[256];
    int i;

    snprintf(p->last_failure, sizeof p->last_failure, "%s", why);
    if (p->pending) { /* a reload's new generation does not retry: the reload fails */
        reload_failed(p->d, p, why);
        return;
    }
    if (p->degraded || failures < POOL_DEGRADED_AFTER)
        return;
    for (i = 0; i < p->nexec; i++)
        if (p->executors[i]->state == EX_IDLE || p->executors[i]->state == EX_BUSY)
            return;
    p->degraded = true;
    log_error("pool %s degraded: its executors fail to start (last one %s); calls fail fast "
              "until one starts", p->name, why);
    snprintf(msg, sizeof msg, "pool %s cannot start its executors (the last one %s); retrying",
             p->name, why);
    pool_fail_queue(p, "PoolDegraded", msg);
    answer_waiter(p, "PoolDegraded", msg);
}

#define TRIP_HOLDOFF_MS 1000
#define TRIP_HOLDOFF_MAX_SHIFT 6

bool pool_tripped(struct pool *p)
{
    if (p->tripped_until == 0)
        return false;
    if (uv_now(p->d->loop) < p->tripped_until)
        return true;
    log_info("pool %s: taking calls again after its hold-off", p->name);
    p->tripped_until = 0;
    return false;
}

void pool_executor_crashed(struct pool *p)
{
    uint64_t now = uv_now(p->d->loop), window = (uint64_t)(p->crash_interval * 1000.0 + 0.5);
    uint64_t oldest, holdoff;
    char msg[256];

    if (p->crash_limit == 0 || p->stopping || pool_tripped(p))
        return;
    p->crashes[p->crash_next] = now;
    p->crash_next = (p->crash_next + 1) % p->crash_limit;
    if (p->ncrashes < p->crash_limit)
        p->ncrashes++;
    oldest = p->crashes[p->ncrashes < p->crash_limit ? 0 : p->crash_next];
    if (p->ncrashes < p->crash_limit || now - oldest > window)
        return;
    /* a trip soon after the last hold-off ended continues the series */
    if (p->trips > 0 && now - p->last_trip_end > 2 * window)
        p->trips = 0;
    holdoff = (uint64_t)TRIP_HOLDOFF_MS << (p->trips < TRIP_HOLDOFF_MAX_SHIFT ? p->trips : TRIP_HOLDOFF_MAX_SHIFT);
    p->trips++;
    p->tripped_until = now + holdoff;
    p->last_trip_end = p->tripped_until;
    p->ncrashes = p->crash_next = 0;
    snprintf(p->last_failure, sizeof p->last_failure,
             "its executors died %u times within %g s (crash_limit)", p->crash_limit, p->crash_interval);
    log_error("pool %s: %s; calls fail fast for %llu ms", p->name, p->last_failure,
              (unsigned long long)holdoff);
    snprintf(msg, sizeof msg, "pool %s: %s; calls fail until it retries", p->name, p->last_failure);
    pool_fail_queue(p, "PoolDegraded", msg);
}

void pool_executor_ready(struct pool *p)
{
    int i;

    if (p->pending)
        reload_executor_ready(p->d);
    if (p->waiter != NULL) {
        for (i = 0; i < p->nexec && p->executors[i]->state != EX_STARTING &&
                    p->executors[i]->state != EX_DEAD; i++)
            ;
        if (i == p->nexec)
            answer_waiter(p, NULL, NULL);
    }
    if (!p->degraded)
        return;
    p->degraded = false;
    log_info("pool %s recovered: an executor started", p->name);
}

void pool_fail_queue(struct pool *p, const char *type, const char *message)
{
    struct call *c;

    while ((c = call_list_pop(&p->queue)) != NULL) {
        p->failed++;
        reply_error(c, type, message);
    }
}

bool pool_idle(const struct pool *p)
{
    size_t j;
    int i;

    if (p->queue.len > 0)
        return false;
    for (i = 0; i < p->nexec; i++)
        if (p->executors[i]->running.len > 0)
            return false;
    for (j = 0; j < p->nleaving; j++)
        if (p->leaving[j]->running.len > 0)
            return false;
    return true;
}

void pool_resize(struct pool *p, int size)
{
    struct executor *ex;
    int i;

    log_info("pool %s: resized from %d to %d %s", p->name, p->size, size,
             p->mode == POOL_THREAD ? "threads" : "executors");
    if (p->mode == POOL_THREAD) { /* the executor takes calls by the new size */
        p->size = size;
        executor_resized(p->executors[0]);
        if (p->queue.len > 0 && p->nidle > 0)
            mark_dirty(p);
        return;
    }
    if (size > p->size) {
        p->executors = xrealloc(p->executors, (size_t)size * sizeof *p->executors);
        p->idle = xrealloc(p->idle, (size_t)size * sizeof *p->idle);
        for (i = p->size; i < size; i++)
            p->executors[i] = executor_new(p, i);
        p->live += size - p->size;
        p->size = p->nexec = size;
        return;
    }
    p->leaving = xrealloc(p->leaving, (p->nleaving + (size_t)(p->size - size)) * sizeof *p->leaving);
    for (i = size; i < p->size; i++) {
        ex = p->executors[i];
        ex->leaving = true;
        p->leaving[p->nleaving++] = ex;
        pool_executor_gone(p, ex);
        if (ex->running.len == 0)
            executor_shutdown(ex); /* idle or starting: nothing to finish */
    }
    p->size = p->nexec = size;
}

void pool_stop(struct pool *p)
{
    p->stopping = true;
    answer_waiter(p, "NoSuchPool", "the pool was stopped before it was ready");
    route_unregister_value(p->d->routes, p);
    log_info("pool %s: stopping once its %zu queued calls and those running are answered", p->name,
             p->queue.len);
    mark_dirty(p);
}

void pool_check_stopped(struct pool *p)
{
    if (p->stopping && !p->shut && pool_idle(p)) {
        log_info("pool %s stopped", p->name);
        pool_shutdown(p);
    }
}

void pool_executor_freed(struct pool *p, struct executor *ex)
{
    struct daemon *d = p->d;
    size_t i;

    for (i = 0; i < p->nleaving; i++) {
        if (p->leaving[i] == ex) {
            p->leaving[i] = p->leaving[--p->nleaving];
            break;
        }
    }
    if (--p->live > 0 || !p->stopping || d->stopping)
        return; /* at daemon shutdown, main.c frees every pool */
    for (i = 0; i < d->npools; i++) {
        if (d->pools[i] == p) {
            memmove(&d->pools[i], &d->pools[i + 1], (d->npools - i - 1) * sizeof *d->pools);
            d->npools--;
            break;
        }
    }
    pool_free(p);
}

void pool_shutdown(struct pool *p)
{
    size_t j;
    int i;

    if (p->shut)
        return;
    p->shut = true;
    answer_waiter(p, "ShuttingDown", "the daemon stopped before the pool was ready");
    p->nidle = 0;
    for (j = p->nleaving; j-- > 0;)
        if (!p->leaving[j]->shutting_down)
            executor_shutdown(p->leaving[j]);
    for (i = 0; i < p->nexec; i++)
        executor_shutdown(p->executors[i]);
    if (p->template != NULL)
        template_shutdown(p->template);
}

void pool_free(struct pool *p)
{
    free(p->crashes);
    free(p->waiter); /* the daemon stopped (its connection is gone) */
    template_free(p->template);
    free(p->leaving);
    free(p->executors);
    free(p->idle);
    free(p);
}
