/* pool: queues and batched dispatch of calls to executors. See pool.h. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "daemon.h"
#include "executor.h"
#include "log.h"
#include "protocol.h"
#include "xalloc.h"
#include "reply.h"
#include "route.h"
#include "util.h"
#include "template.h"

struct pool *pool_find(struct daemon *d, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < d->npools; i++)
        if (!d->pools[i]->stopping && strlen(d->pools[i]->name) == len &&
            memcmp(d->pools[i]->name, name, len) == 0)
            return d->pools[i];
    return NULL;
}

struct pool *pool_list_add(struct daemon *d, struct pool *p)
{
    d->pools = xrealloc(d->pools, (d->npools + 1) * sizeof *d->pools);
    d->pools[d->npools++] = p;
    return p;
}

static void pool_free(struct pool *p);

/* How its executors tell a pool what happened (executor.h); defined with
 * the handlers below. */
static const struct executor_events executor_events;
static void template_ended(struct template *t);

void pool_list_free(struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->npools; i++)
        pool_free(d->pools[i]);
    free(d->pools);
    d->pools = NULL;
    d->npools = 0;
}

/* p is freed: it leaves the daemon's list. */
static void list_remove(struct daemon *d, struct pool *p)
{
    size_t i;

    for (i = 0; i < d->npools; i++) {
        if (d->pools[i] == p) {
            memmove(&d->pools[i], &d->pools[i + 1], (d->npools - i - 1) * sizeof *d->pools);
            d->npools--;
            return;
        }
    }
}

struct pool *pool_new(struct daemon *d, const struct config_pool *cp, const struct config *cfg, bool from_config)
{
    struct pool *p = xcalloc(1, sizeof *p);
    int i;

    p->d = d;
    p->cfg = cfg;
    p->spec = *cp;
    p->from_config = from_config;
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
    p->hard_timeout = cp->hard_timeout;
    p->nexec = p->mode == POOL_THREAD ? 1 : p->size;
    if ((i = board_map_init(&p->boards, (size_t)p->nexec)) < 0) {
        log_error("pool %s: cannot make its executors' shared memory: %s", p->name, strerror(-i));
        abort();
    }
    if (cp->preload_in_template)
        p->template = template_new(p, template_ended); /* first: the executors wait for it */
    p->executors = xcalloc((size_t)p->nexec, sizeof *p->executors);
    p->idle = xcalloc((size_t)p->nexec, sizeof *p->idle);
    for (i = 0; i < p->nexec; i++)
        p->executors[i] = executor_new(p, i, &executor_events);
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

/* ---- lanes ---------------------------------------------------------- */

static void ring_link(struct pool *p, struct lane *l)
{
    p->nlanes++;
    if (p->ring == NULL) {
        l->rnext = l->rprev = l;
        p->ring = l;
        return;
    }
    /* last in turn: just before the lane served next */
    l->rnext = p->ring;
    l->rprev = p->ring->rprev;
    l->rprev->rnext = l;
    p->ring->rprev = l;
}

static void ring_unlink(struct pool *p, struct lane *l)
{
    p->nlanes--;
    if (l->rnext == l) {
        p->ring = NULL;
    } else {
        l->rprev->rnext = l->rnext;
        l->rnext->rprev = l->rprev;
        if (p->ring == l)
            p->ring = l->rnext;
    }
    l->rnext = l->rprev = NULL;
}

/* c's connection's lane in p, made on first use. */
static struct lane *lane_of(struct pool *p, struct conn *c)
{
    struct lane *l;

    for (l = c->lanes; l != NULL && l->pool != p; l = l->cnext)
        ;
    if (l != NULL)
        return l;
    l = xcalloc(1, sizeof *l);
    l->pool = p;
    l->conn = c;
    l->cnext = c->lanes;
    c->lanes = l;
    return l;
}

static void lane_push(struct pool *p, struct call *c, bool front)
{
    struct lane *l = c->lane;

    if (l == NULL || l->pool != p)
        l = c->lane = lane_of(p, c->conn);
    if (l->q.len == 0)
        ring_link(p, l);
    if (front)
        call_list_push_front(&l->q, c);
    else
        call_list_push(&l->q, c);
    p->queued++;
    if (p->nidle > 0)
        mark_dirty(p);
}

static void lane_remove(struct pool *p, struct call *c)
{
    struct lane *l = c->lane;

    call_list_remove(&l->q, c);
    p->queued--;
    if (l->q.len == 0)
        ring_unlink(p, l);
}

void pool_submit(struct pool *p, struct call *c)
{
    c->pool = p;
    lane_push(p, c, false);
    if (p->queued > p->tally.queue_max)
        p->tally.queue_max = p->queued;
}

/* ex's event: c never started on it, it goes to the front of its lane. */
static void requeue_front(struct executor *ex, struct call *c)
{
    struct pool *p = ex->pool;

    c->ex = NULL;
    c->sent_ns = 0; /* it waits again */
    if (c->dispatched)
        conn_call_undispatched(c->conn, c);
    lane_push(p, c, true);
}

struct call *pool_take_queued(struct pool *p)
{
    struct call *c;

    if (p->ring == NULL)
        return NULL;
    c = p->ring->q.head;
    lane_remove(p, c);
    return c;
}

void pool_lane_ready(struct lane *l)
{
    if (l->q.len > 0 && l->pool->nidle > 0)
        mark_dirty(l->pool);
}

void pool_free_lanes(struct conn *c)
{
    struct lane *l;

    while ((l = c->lanes) != NULL) {
        c->lanes = l->cnext;
        free(l);
    }
}

/* A pool is going: the lanes connections keep for it go too (empty). */
static void forget_lanes(struct pool *p)
{
    struct lane **pl, *l;
    struct conn *c;

    for (c = p->d->conns; c != NULL; c = c->next) {
        for (pl = &c->lanes; (l = *pl) != NULL;) {
            if (l->pool == p) {
                *pl = l->cnext;
                free(l);
            } else {
                pl = &l->cnext;
            }
        }
    }
}

/* ex's event: it can take calls. */
static void executor_idle(struct executor *ex)
{
    struct pool *p = ex->pool;

    p->idle[p->nidle++] = ex;
    if (p->queued > 0)
        mark_dirty(p);
}

/* ex's event: it cannot take calls; off the idle stack. */
static void executor_gone(struct executor *ex)
{
    struct pool *p = ex->pool;
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
    return n < 1 ? 1 : n > BATCH_MAX / 2 ? BATCH_MAX / 2 : (size_t)n;
}

/* ex's event: it ran a batch of calls in ns; sizes the next batches. */
static void batch_ran(struct executor *ex, uint64_t ns, uint64_t calls)
{
    struct pool *p = ex->pool;

    /* the last batch alone, not an average: one slow call must not keep the
     * quick calls after it from batching for long, and calls that turn slow
     * are spread at once */
    p->call_ns = ns / calls + 1;
}

/* Fills a batch of up to share calls for ex from the lanes in turn: each
 * lane gives what it may (conn_dispatch_room) up to the rest of the batch,
 * and the next batch starts with the lane after it. Returns the calls
 * taken off the queue (sent or dropped). */
static size_t fill_batch(struct pool *p, struct executor *ex, size_t share)
{
    size_t n = 0, taken = 0, bytes = 0, visited = 0, lanes = 0, room;
    struct lane *l;
    struct call *c;
    bool last;

    lanes = p->nlanes;
    while (n < share && p->ring != NULL && visited < lanes) {
        l = p->ring;
        p->ring = l->rnext;
        visited++;
        room = conn_dispatch_room(l->conn);
        for (last = false; !last && n < share && room > 0;) {
            c = l->q.head;
            if (n > 0 && bytes + c->frame.size > BATCH_BYTES)
                return taken;
            lane_remove(p, c);
            /* dropping a gone client's last call may free its lanes: l is
             * not looked at once it is empty */
            last = l->q.len == 0;
            taken++;
            if (!wanted(c)) {
                reply_drop(c);
                continue;
            }
            conn_call_dispatched(c->conn, c);
            executor_send(ex, c);
            bytes += c->frame.size;
            n++;
            room--;
        }
    }
    return taken;
}

void pool_dispatch(struct pool *p)
{
    struct executor *ex;
    size_t share, use, taken;

    if (p->nidle > 0 && p->queued > 0)
        tally_tick(); /* the time these calls leave (executor_send) */
    while (p->nidle > 0 && p->queued > 0) {
        /* even shares for as many idle executors as the queue holds
         * batches' worth of work: quick calls are not cut into small batches,
         * and idle executors are not all started together, so that they stay
         * out of step and one runs while the other's answers are relayed */
        use = p->queued / batch_floor(p);
        if (use > p->nidle)
            use = p->nidle;
        if (use < 1)
            use = 1;
        share = (p->queued + use - 1) / use;
        if (share > BATCH_MAX)
            share = BATCH_MAX;
        ex = p->idle[--p->nidle];
        if (share > executor_room(ex))
            share = executor_room(ex);
        taken = fill_batch(p, ex, share);
        if (ex->state == EX_IDLE) /* it has room left (thread mode), or all it
                                   * looked at was dropped or held */
            p->idle[p->nidle++] = ex;
        if (taken == 0)
            return; /* what is queued waits for its connections to drain */
    }
}

void pool_abort(struct call *c, const char *type, const char *message)
{
    if (c->ex == NULL)
        lane_remove(c->pool, c);
    else if (!executor_unsend(c->ex, c)) /* it may have started: stop it */
        executor_cancel(c->ex, c);
    c->pool->counts.failed++;
    reply_error(c, type, message);
}

/* How long past a running call's deadline the master waits for the
 * executor's own report (which carries the Python stack) before it answers
 * Timeout itself. */
#define TIMEOUT_STACK_WAIT_MS 50

void pool_call_expired(struct deadlines *set, struct deadline *e)
{
    struct call *c = container_of(e, struct call, deadline);
    char msg[200];

    if (c->ex != NULL && executor_running(c->ex, c) && !c->backstop) {
        /* the executor raises TimeoutError in it and reports where it was
         * (a process-mode executor watches the deadline itself) */
        if (c->ex->threaded)
            executor_stop_timeout(c->ex, c);
        c->backstop = true;
        e->at += TIMEOUT_STACK_WAIT_MS;
        deadlines_add(set, e);
        return;
    }
    snprintf(msg, sizeof msg, "the call did not finish within its timeout of %g s", c->timeout);
    if (c->ex != NULL && executor_running(c->ex, c)) {
        c->pool->counts.failed++;
        executor_give_up(c->ex, c);
        reply_error(c, ERROR_TIMEOUT, msg);
        return;
    }
    pool_abort(c, ERROR_TIMEOUT, msg);
}

void pool_when_ready(struct pool *p, bool strict, pool_ready_cb *cb, void *arg)
{
    p->ready_cb = cb;
    p->ready_arg = arg;
    p->ready_strict = strict;
}

/* Tells p's ready watcher, if any (once). */
static void tell_ready(struct pool *p, const char *type, const char *message)
{
    pool_ready_cb *cb = p->ready_cb;

    if (cb == NULL)
        return;
    p->ready_cb = NULL;
    cb(p, p->ready_arg, type, message);
}

/* Adds k to sum. */
static void add_counts(struct exec_counts *sum, const struct exec_counts *k)
{
    size_t i;

    sum->completed += k->completed;
    sum->failed += k->failed;
    sum->restarts += k->restarts;
    for (i = 0; i < RESTART_N; i++)
        sum->restarts_by[i] += k->restarts_by[i];
}

struct exec_counts pool_counts(const struct pool *p)
{
    struct exec_counts sum = p->counts;
    size_t j;
    int i;

    for (i = 0; i < p->nexec; i++)
        add_counts(&sum, &p->executors[i]->counts);
    for (j = 0; j < p->nleaving; j++)
        add_counts(&sum, &p->leaving[j]->counts);
    return sum;
}

void pool_status_line(const struct daemon *d, char *buf, size_t len)
{
    struct exec_counts k, sum = {0};
    size_t i, npools = 0, queued = 0, n;

    for (i = 0; i < d->npools; i++) {
        if (d->pools[i]->stopping)
            continue;
        npools++;
        k = pool_counts(d->pools[i]);
        add_counts(&sum, &k);
        queued += d->pools[i]->queued;
    }
    n = (size_t)snprintf(buf, len, "pools %zu, calls %llu done, %zu queued", npools,
                         (unsigned long long)(sum.completed + sum.failed), queued);
    for (i = 0; i < d->npools && n < len; i++) {
        if (!d->pools[i]->stopping && d->pools[i]->degraded)
            n += (size_t)snprintf(buf + n, len - n, ", %s degraded", d->pools[i]->name);
    }
}

void pool_take_counts(struct pool *np, const struct pool *p)
{
    struct exec_counts k = pool_counts(p);

    add_counts(&np->counts, &k);
    np->counts.restarts_by[RESTART_RELOAD] += (uint64_t)np->nexec;
    tally_merge(&np->tally, &p->tally);
}

/* Thread mode counts threads: busy ones run a call (or are still being
 * stopped in one), the rest are idle, or starting with their executor. */
static void count_threads(const struct pool *p, struct pool_states *s)
{
    const struct executor *ex = p->executors[0];
    int used = (int)(ex->running.len + ex->nabandoned);

    if (used > p->size)
        used = p->size;
    if (ex->state == EX_IDLE || ex->state == EX_BUSY) {
        s->busy = used;
        s->idle = p->size - used;
    } else if (ex->state == EX_STARTING) {
        s->starting = p->size;
    }
}

struct pool_states pool_states(const struct pool *p)
{
    struct pool_states s = {0, 0, 0, 0};
    const struct executor *ex;
    int i;

    if (p->mode == POOL_THREAD) {
        count_threads(p, &s);
        return s;
    }
    for (i = 0; i < p->nexec; i++) {
        ex = p->executors[i];
        if (ex->recycling)
            s.retiring++; /* max_requests, max_memory: its exit is planned */
        else if (ex->state == EX_BUSY)
            s.busy++;
        else if (ex->state == EX_IDLE)
            s.idle++;
        else if (ex->state == EX_STARTING)
            s.starting++;
    }
    s.retiring += (int)p->nleaving; /* resize_pool took their slots */
    return s;
}

void pool_set_config(struct pool *p, const struct config *cfg)
{
    p->cfg = cfg;
}

void pool_discard(struct pool *p, const struct config *cfg)
{
    p->stopping = true;
    p->cfg = cfg;
    pool_list_add(p->d, p);
    pool_shutdown(p);
}

/* ex's event: it died before it was ready (ex->start_failures-th time in
 * a row). When none of the pool lives, the pool turns degraded and its
 * calls fail fast with PoolDegraded while executors keep being retried
 * with backoff. */
static void start_failed(struct executor *ex, const char *why)
{
    struct pool *p = ex->pool;
    unsigned failures = ex->start_failures;
    char msg[256];
    int i;

    snprintf(p->last_failure, sizeof p->last_failure, "%s", why);
    if (p->ready_cb != NULL && p->ready_strict) { /* a reload's new generation: it fails */
        tell_ready(p, ERROR_START_FAILED, why);
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
    pool_fail_queue(p, ERROR_POOL_DEGRADED, msg);
    tell_ready(p, ERROR_POOL_DEGRADED, msg);
}

#define HOLD_MS 1000
#define HOLD_MAX_SHIFT 6

/* The culprit entry for hash, made when make is set; NULL if none. Entries
 * that are neither held nor counting any more are reused. */
static struct culprit *culprit_of(struct pool *p, uint64_t hash, bool make)
{
    uint64_t now = uv_now(p->d->loop), window = (uint64_t)(p->crash_interval * 1000.0 + 0.5);
    struct culprit *u, *stale = NULL;
    size_t i;

    for (i = 0; i < p->nculprits; i++) {
        u = &p->culprits[i];
        if (u->hash == hash)
            return u;
        if (u->held_until <= now && now - u->since_ms > window && now - u->last_hold_end > 2 * window)
            stale = u;
    }
    if (!make)
        return NULL;
    if (stale == NULL) {
        if (p->nculprits == p->culprits_cap) {
            p->culprits_cap = p->culprits_cap ? 2 * p->culprits_cap : 4;
            p->culprits = xrealloc(p->culprits, p->culprits_cap * sizeof *p->culprits);
        }
        stale = &p->culprits[p->nculprits++];
    }
    memset(stale, 0, sizeof *stale);
    stale->hash = hash;
    stale->since_ms = now;
    return stale;
}

/* Answers every queued call of u's function with Quarantined. */
static void fail_held_calls(struct pool *p, const struct culprit *u, const char *msg)
{
    struct call_list held = {0};
    struct lane *l, *next;
    struct call *c, *cn;
    size_t i, n = p->nlanes;

    /* taken off first, answered after: an answer can free a connection
     * (and its lanes) or take more requests in */
    for (l = p->ring, i = 0; l != NULL && i < n; l = next, i++) {
        next = l->rnext;
        for (c = l->q.head; c != NULL; c = cn) {
            cn = c->next;
            if (call_fn_hash(c) != u->hash)
                continue;
            lane_remove(p, c);
            call_list_push(&held, c);
        }
    }
    while ((c = call_list_pop(&held)) != NULL) {
        p->counts.failed++;
        reply_error(c, ERROR_QUARANTINED, msg);
    }
}

/* ex's event: c crashed it. When c's function has done so crash_limit
 * times within crash_interval, it is quarantined on the pool: its queued
 * calls and new calls to it fail at once with Quarantined for a hold-off
 * (1 s, doubling at each hold in a row, up to 64 s). */
static void call_crashed(struct executor *ex, struct call *c)
{
    struct pool *p = ex->pool;
    uint64_t now = uv_now(p->d->loop), window = (uint64_t)(p->crash_interval * 1000.0 + 0.5);
    uint64_t hash = call_fn_hash(c), hold;
    struct culprit *u;
    char msg[300];

    if (p->crash_limit == 0 || hash == 0 || p->stopping)
        return;
    u = culprit_of(p, hash, true);
    if (u->name[0] == '\0' || u->name[0] == '?')
        call_fn_name(c, u->name, sizeof u->name);
    if (u->held_until > now)
        return; /* a call that was running when it was put on hold */
    if (now - u->since_ms > window) {
        u->since_ms = now;
        u->crashes = 0;
    }
    if (++u->crashes < p->crash_limit)
        return;
    /* a hold soon after the last one ended continues the series */
    if (u->trips > 0 && now - u->last_hold_end > 2 * window)
        u->trips = 0;
    hold = (uint64_t)HOLD_MS << (u->trips < HOLD_MAX_SHIFT ? u->trips : HOLD_MAX_SHIFT);
    u->trips++;
    u->held_until = u->last_hold_end = now + hold;
    u->crashes = 0;
    u->since_ms = now;
    p->nheld++;
    log_error("pool %s: %s crashed its executors %u time%s within %g s (crash_limit): its calls "
              "fail for %llu ms", p->name, u->name, p->crash_limit, p->crash_limit == 1 ? "" : "s",
              p->crash_interval, (unsigned long long)hold);
    snprintf(msg, sizeof msg, "pool %s: %s crashed its executors %u time%s within %g s; calls to "
             "it fail until it is tried again in %llu ms", p->name, u->name, p->crash_limit,
             p->crash_limit == 1 ? "" : "s", p->crash_interval, (unsigned long long)hold);
    fail_held_calls(p, u, msg);
}

bool pool_quarantined(struct pool *p, const char *module, size_t mlen, const char *function,
                      size_t flen, char *msg, size_t msglen)
{
    uint64_t now = uv_now(p->d->loop);
    struct culprit *u;
    size_t i;

    if (p->nheld == 0)
        return false;
    u = culprit_of(p, call_name_hash(module, mlen, function, flen), false);
    if (u == NULL || u->held_until == 0)
        return false;
    if (u->held_until <= now) {
        log_info("pool %s: trying %s again after its hold-off", p->name, u->name);
        u->held_until = 0;
        for (p->nheld = 0, i = 0; i < p->nculprits; i++)
            p->nheld += p->culprits[i].held_until > now;
        return false;
    }
    snprintf(msg, msglen, "pool %s: %s crashed its executors %u time%s within %g s; calls to it "
             "fail until it is tried again in %llu ms", p->name, u->name, p->crash_limit,
             p->crash_limit == 1 ? "" : "s", p->crash_interval, (unsigned long long)(u->held_until - now));
    return true;
}

/* ex's event: it is ready; the pool is not degraded (any more). */
static void executor_ready(struct executor *ex)
{
    struct pool *p = ex->pool;
    int i;

    if (p->ready_cb != NULL) {
        for (i = 0; i < p->nexec && p->executors[i]->state != EX_STARTING &&
                    p->executors[i]->state != EX_DEAD; i++)
            ;
        if (i == p->nexec)
            tell_ready(p, NULL, NULL);
    }
    if (!p->degraded)
        return;
    p->degraded = false;
    log_info("pool %s recovered: an executor started", p->name);
}

void pool_fail_queue(struct pool *p, const char *type, const char *message)
{
    struct call *c;

    while ((c = pool_take_queued(p)) != NULL) {
        p->counts.failed++;
        reply_error(c, type, message);
    }
}

bool pool_idle(const struct pool *p)
{
    size_t j;
    int i;

    if (p->queued > 0)
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
        if (p->queued > 0 && p->nidle > 0)
            mark_dirty(p);
        return;
    }
    if (size > p->size) {
        p->executors = xrealloc(p->executors, (size_t)size * sizeof *p->executors);
        p->idle = xrealloc(p->idle, (size_t)size * sizeof *p->idle);
        for (i = p->size; i < size; i++)
            p->executors[i] = executor_new(p, i, &executor_events);
        p->live += size - p->size;
        p->size = p->nexec = size;
        return;
    }
    p->leaving = xrealloc(p->leaving, (p->nleaving + (size_t)(p->size - size)) * sizeof *p->leaving);
    for (i = size; i < p->size; i++) {
        ex = p->executors[i];
        p->leaving[p->nleaving++] = ex;
        executor_gone(ex);
        executor_leave(ex);
    }
    p->size = p->nexec = size;
}

void pool_stop(struct pool *p)
{
    p->stopping = true;
    tell_ready(p, ERROR_NO_SUCH_POOL, "the pool was stopped before it was ready");
    route_unregister_value(p->d->routes, p);
    log_info("pool %s: stopping once its %zu queued calls and those running are answered", p->name,
             p->queued);
    mark_dirty(p);
}

void pool_check_stopped(struct pool *p)
{
    if (p->stopping && !p->shut && pool_idle(p)) {
        log_info("pool %s stopped", p->name);
        pool_shutdown(p);
    }
}

/* An executor of p (ex), or its template (ex NULL), is freed. */
static void member_freed(struct pool *p, struct executor *ex)
{
    struct daemon *d = p->d;
    size_t i;

    if (ex != NULL)
        add_counts(&p->counts, &ex->counts);
    for (i = 0; i < p->nleaving; i++) {
        if (p->leaving[i] == ex) {
            p->leaving[i] = p->leaving[--p->nleaving];
            break;
        }
    }
    if (--p->live > 0 || !p->stopping || d->stopping)
        return; /* at daemon shutdown, main.c frees every pool */
    list_remove(d, p);
    pool_free(p);
}

/* ex's event: it is being freed. */
static void executor_freed(struct executor *ex)
{
    member_freed(ex->pool, ex);
}

/* Its template is gone, its handles closed. */
static void template_ended(struct template *t)
{
    member_freed(t->pool, NULL);
}

static const struct executor_events executor_events = {
    .ready = executor_ready,
    .idle = executor_idle,
    .gone = executor_gone,
    .start_failed = start_failed,
    .requeue = requeue_front,
    .crashed = call_crashed,
    .batch_ran = batch_ran,
    .freed = executor_freed,
};

void pool_shutdown(struct pool *p)
{
    size_t j;
    int i;

    if (p->shut)
        return;
    p->shut = true;
    tell_ready(p, ERROR_SHUTTING_DOWN, "the daemon stopped before the pool was ready");
    p->nidle = 0;
    for (j = p->nleaving; j-- > 0;)
        if (!p->leaving[j]->shutting_down)
            executor_shutdown(p->leaving[j]);
    for (i = 0; i < p->nexec; i++)
        executor_shutdown(p->executors[i]);
    if (p->template != NULL)
        template_shutdown(p->template);
}

static void pool_free(struct pool *p)
{
    forget_lanes(p);
    board_map_destroy(&p->boards);
    free(p->culprits);
    template_free(p->template);
    free(p->leaving);
    free(p->executors);
    free(p->idle);
    free(p);
}
