/* admin: the routing administration methods and ping. See admin.h. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "executor.h"
#include "daemon.h"
#include "log.h"
#include "pool.h"
#include "protocol.h"
#include "route.h"
#include "state.h"
#include "stats.h"
#include "util.h"
#include "xalloc.h"

#define ERR_LEN 512

/* Up to three name params, split "module:function" forms included. */
struct names {
    struct rpc_str s[3];
    uint32_t n;
};

static int read_names(const struct rpc_msg *m, struct names *out)
{
    struct mpk_reader r;
    struct mpk_item it;
    uint32_t i;

    if (m->nparams > 3)
        return -1;
    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    for (i = 0; i < m->nparams; i++) {
        if (rpc_read_name(&r, &out->s[i]) != 0 || out->s[i].len == 0 || out->s[i].len > RPC_NAME_MAX ||
            memchr(out->s[i].ptr, '\0', out->s[i].len) != NULL)
            return -1;
    }
    out->n = m->nparams;
    return 0;
}

/* Splits "module:function" in a single name into two. */
static void split_colon(struct rpc_str in, struct rpc_str *module, struct rpc_str *function)
{
    const char *colon = memchr(in.ptr, ':', in.len);

    *module = in;
    function->ptr = NULL;
    function->len = 0;
    if (colon != NULL) {
        module->len = (uint32_t)(colon - in.ptr);
        function->ptr = colon + 1;
        function->len = (uint32_t)(in.len - module->len - 1);
    }
}

static bool valid_target(struct rpc_str module, struct rpc_str function, bool has_function)
{
    return module.len > 0 && memchr(module.ptr, ':', module.len) == NULL &&
           (!has_function || (function.len > 0 && memchr(function.ptr, ':', function.len) == NULL));
}

/* Writes the state as ch will leave it (state_file); false after answering
 * StateNotSaved: the change must not be made. */
static bool saved(struct conn *c, const struct rpc_msg *m, const struct state_change *ch)
{
    char err[ERR_LEN], msg[ERR_LEN + 64];

    if (state_save(c->d, ch, err, sizeof err) == 0)
        return true;
    log_error("%s", err);
    snprintf(msg, sizeof msg, "not done: %s", err);
    conn_respond_error(c, m->msgid, ERROR_STATE_NOT_SAVED, msg);
    return false;
}

static msgpack_packer *ok(struct conn *c, const struct rpc_msg *m)
{
    msgpack_packer *pk = conn_out(c);

    rpc_pack_response_head(pk, m->msgid);
    msgpack_pack_nil(pk);
    return pk;
}

/* Reads [module, function?] or ["module:function"] from names starting at i. */
static int target(const struct names *nm, uint32_t i, struct rpc_str *module, struct rpc_str *function)
{
    if (nm->n == i + 1)
        split_colon(nm->s[i], module, function);
    else if (nm->n == i + 2) {
        *module = nm->s[i];
        *function = nm->s[i + 1];
    } else {
        return -1;
    }
    return valid_target(*module, *function, function->ptr != NULL) ? 0 : -1;
}

static void do_register(struct conn *c, const struct rpc_msg *m)
{
    struct state_change ch;
    struct names nm;
    struct rpc_str module, function;
    struct pool *p;
    char msg[ERR_LEN], name[RPC_NAME_MAX + 1];

    if (read_names(m, &nm) != 0 || nm.n < 2 || target(&nm, 1, &module, &function) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST,
                           "register_pool params must be [pool, module] or [pool, module, function]");
        return;
    }
    if (!config_allows(&c->d->cfg, module.ptr, module.len)) {
        snprintf(msg, sizeof msg, "module '%s' is not in python.allow", rpc_printable(module, name, sizeof name));
        conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, msg);
        return;
    }
    p = pool_find(c->d, nm.s[0].ptr, nm.s[0].len);
    if (p == NULL) {
        snprintf(msg, sizeof msg, "no pool named '%s'", rpc_printable(nm.s[0], name, sizeof name));
        conn_respond_error(c, m->msgid, ERROR_NO_SUCH_POOL, msg);
        return;
    }
    ch = (struct state_change){STATE_REGISTER, module.ptr, module.len, function.ptr, function.len, p->name, 0,
                               POOL_PROCESS};
    if (!saved(c, m, &ch))
        return;
    if (route_register(c->d->routes, module.ptr, module.len, function.ptr, function.len, p) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "cannot register that name");
        return;
    }
    msgpack_pack_true(ok(c, m));
}

static void do_unregister(struct conn *c, const struct rpc_msg *m)
{
    struct state_change ch;
    struct names nm;
    struct rpc_str module, function;
    bool removed;

    if (read_names(m, &nm) != 0 || target(&nm, 0, &module, &function) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST,
                           "unregister_pool params must be [module] or [module, function]");
        return;
    }
    ch = (struct state_change){STATE_UNREGISTER, module.ptr, module.len, function.ptr, function.len, NULL, 0,
                               POOL_PROCESS};
    if (!saved(c, m, &ch))
        return;
    removed = route_unregister(c->d->routes, module.ptr, module.len, function.ptr, function.len);
    if (removed)
        msgpack_pack_true(ok(c, m));
    else
        msgpack_pack_false(ok(c, m));
}

static void do_lookup(struct conn *c, const struct rpc_msg *m)
{
    struct names nm;
    struct rpc_str module, function;
    struct pool *p;

    if (read_names(m, &nm) != 0 || target(&nm, 0, &module, &function) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST,
                           "lookup_pool params must be [module] or [module, function]");
        return;
    }
    p = function.ptr != NULL
            ? route_lookup(c->d->routes, module.ptr, module.len, function.ptr, function.len)
            : route_lookup(c->d->routes, module.ptr, module.len, NULL, 0);
    rpc_pack_cstr(ok(c, m), p != NULL ? p->name : c->d->default_pool->name);
}

struct listing {
    msgpack_packer *pk;
    const struct config *cfg;
};

static void pack_registration(void *arg, const char *module, const char *function, void *value)
{
    struct listing *l = arg;
    msgpack_packer *pk = l->pk;
    const char *pool = ((struct pool *)value)->name;

    msgpack_pack_map(pk, 4);
    rpc_pack_cstr(pk, "module");
    rpc_pack_cstr(pk, module);
    rpc_pack_cstr(pk, "function");
    if (function != NULL)
        rpc_pack_cstr(pk, function);
    else
        msgpack_pack_nil(pk);
    rpc_pack_cstr(pk, "pool");
    rpc_pack_cstr(pk, pool);
    rpc_pack_cstr(pk, "source");
    rpc_pack_cstr(pk, config_has_route(l->cfg, module, strlen(module), function, function ? strlen(function) : 0,
                                       pool) ? "config" : "runtime");
}

static void do_list(struct conn *c, const struct rpc_msg *m)
{
    msgpack_packer *pk;

    if (m->nparams != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "list_pool_registrations takes no params");
        return;
    }
    pk = ok(c, m);
    msgpack_pack_array(pk, route_count(c->d->routes));
    route_each(c->d->routes, pack_registration, &(struct listing){pk, &c->d->cfg});
}

/* The pool named by the only param, or NULL after answering the error. */
static struct pool *pool_param(struct conn *c, const struct rpc_msg *m)
{
    struct names nm;
    struct pool *p;
    char msg[ERR_LEN], name[RPC_NAME_MAX + 1];

    if (read_names(m, &nm) != 0 || nm.n != 1) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "params must be [pool]");
        return NULL;
    }
    p = pool_find(c->d, nm.s[0].ptr, nm.s[0].len);
    if (p == NULL) {
        snprintf(msg, sizeof msg, "no pool named '%s'", rpc_printable(nm.s[0], name, sizeof name));
        conn_respond_error(c, m->msgid, ERROR_NO_SUCH_POOL, msg);
    }
    return p;
}

static void do_pool_started(struct conn *c, const struct rpc_msg *m)
{
    struct names nm;

    if (read_names(m, &nm) != 0 || nm.n != 1) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "params must be [pool]");
        return;
    }
    if (pool_find(c->d, nm.s[0].ptr, nm.s[0].len) != NULL)
        msgpack_pack_true(ok(c, m));
    else
        msgpack_pack_false(ok(c, m));
}

static void do_num_contexts(struct conn *c, const struct rpc_msg *m)
{
    struct pool *p = pool_param(c, m);

    if (p != NULL)
        msgpack_pack_int(ok(c, m), p->size);
}

/* An executor that has a process now (one being forked or restarted has
 * no pid yet). */
static bool has_process(const struct executor *ex)
{
    return ex->state != EX_DEAD && ex->child.pid != 0;
}

/* contexts [pool]: the pids of the pool's executor processes that exist
 * now; one being forked or restarted is left out, never nil. */
static void do_contexts(struct conn *c, const struct rpc_msg *m)
{
    struct pool *p = pool_param(c, m);
    msgpack_packer *pk;
    size_t n = 0;
    int i;

    if (p == NULL)
        return;
    for (i = 0; i < p->nexec; i++)
        n += has_process(p->executors[i]);
    pk = ok(c, m);
    msgpack_pack_array(pk, n);
    for (i = 0; i < p->nexec; i++)
        if (has_process(p->executors[i]))
            msgpack_pack_int(pk, p->executors[i]->child.pid);
}

/* The pid the next call to p would most likely run on: the idle executor
 * the pool picks first, else the least loaded busy one, else one that is
 * starting with a process; 0 when none has a process yet. */
static int likely_pid(const struct pool *p)
{
    const struct executor *best = NULL, *ex;
    int i;

    if (p->nidle > 0)
        best = p->idle[p->nidle - 1];
    for (i = 0; p->nidle == 0 && i < p->nexec; i++) {
        ex = p->executors[i];
        if (ex->state == EX_BUSY && (best == NULL || ex->running.len < best->running.len))
            best = ex;
    }
    for (i = 0; best == NULL && i < p->nexec; i++)
        if (p->executors[i]->state == EX_STARTING && has_process(p->executors[i]))
            best = p->executors[i];
    return best != NULL ? best->child.pid : 0;
}

/* get_context calls waiting for their pool to have a process (right after
 * a start, or while every executor is being replaced), in one queue per
 * pool name, oldest first. One timer looks at them all: each tick costs a
 * look per pool that has waiters, not per waiter, so a client that sends
 * many of them costs the others nothing. */
struct context_waiter {
    struct conn_later later;
    uint64_t until;                 /* loop time it gives up at */
    struct context_waiter *next;
};

static struct {
    struct context_queue {
        char pool[CONFIG_POOL_NAME_MAX + 1];
        struct context_waiter *head, *tail; /* none: the slot is free */
    } queue[CONFIG_DEFAULT_MAX_POOLS];
    size_t nwaiting;
    uv_timer_t timer;
    bool timer_open;
} waits;

#define CONTEXT_POLL_MS 10
#define CONTEXT_WAIT_MS 30000

/* Answers w: its pool's pid, or why there is none; and frees it. */
static void answer_context(struct context_waiter *w, const char *pool, const struct pool *p, int pid)
{
    struct rpc_raw msgid = conn_later_msgid(&w->later);
    char msg[ERR_LEN];
    msgpack_packer *pk;

    if (w->later.conn->closing) {
        /* nobody to tell */
    } else if (pid != 0) {
        pk = conn_out(w->later.conn);
        rpc_pack_response_head(pk, msgid);
        msgpack_pack_nil(pk);
        msgpack_pack_int(pk, pid);
    } else if (w->later.conn->d->stopping) {
        conn_respond_error(w->later.conn, msgid, ERROR_SHUTTING_DOWN, "the daemon is stopping");
    } else if (p == NULL) {
        snprintf(msg, sizeof msg, "no pool named '%s'", pool);
        conn_respond_error(w->later.conn, msgid, ERROR_NO_SUCH_POOL, msg);
    } else {
        snprintf(msg, sizeof msg, "pool %s has no executor process%s", pool,
                 p->degraded ? ": its executors fail to start" : " yet");
        conn_respond_error(w->later.conn, msgid, ERROR_POOL_DEGRADED, msg);
    }
    conn_later_done(&w->later);
    free(w);
    waits.nwaiting--;
}

static void on_context_tick(uv_timer_t *t)
{
    struct daemon *d = t->data;
    uint64_t now = uv_now(d->loop);
    struct context_queue *q;
    struct context_waiter *w;
    struct pool *p;
    int pid;

    for (q = waits.queue; q < waits.queue + CONFIG_DEFAULT_MAX_POOLS; q++) {
        if (q->head == NULL)
            continue;
        p = pool_find(d, q->pool, strlen(q->pool));
        pid = p != NULL ? likely_pid(p) : 0;
        while ((w = q->head) != NULL &&
               (pid != 0 || p == NULL || p->degraded || d->stopping || w->until <= now)) {
            q->head = w->next;
            answer_context(w, q->pool, p, pid);
        }
        if (q->head == NULL)
            q->tail = NULL;
    }
    if (waits.nwaiting == 0)
        uv_timer_stop(t);
}

/* get_context [pool]: likely_pid; when no executor has a process yet, the
 * answer waits until one has (PoolDegraded if none comes), never nil. */
static void do_get_context(struct conn *c, const struct rpc_msg *m)
{
    struct pool *p = pool_param(c, m);
    struct context_queue *q, *free_q = NULL;
    struct context_waiter *w;
    int pid;

    if (p == NULL)
        return;
    if ((pid = likely_pid(p)) != 0) {
        msgpack_pack_int(ok(c, m), pid);
        return;
    }
    for (q = waits.queue; q < waits.queue + CONFIG_DEFAULT_MAX_POOLS; q++) {
        if (q->head != NULL && strcmp(q->pool, p->name) == 0)
            break;
        if (q->head == NULL && free_q == NULL)
            free_q = q;
    }
    if (q == waits.queue + CONFIG_DEFAULT_MAX_POOLS) {
        if ((q = free_q) == NULL) { /* as many pools waited on as there may be pools */
            conn_respond_error(c, m->msgid, ERROR_POOL_DEGRADED, "no executor process yet: ask again");
            return;
        }
        snprintf(q->pool, sizeof q->pool, "%s", p->name);
    }
    w = xcalloc(1, sizeof *w);
    conn_later_init(&w->later, c, m->msgid);
    w->until = uv_now(c->d->loop) + CONTEXT_WAIT_MS;
    if (q->tail != NULL)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    if (!waits.timer_open) {
        uv_timer_init(c->d->loop, &waits.timer);
        waits.timer_open = true;
    }
    waits.timer.data = c->d;
    if (waits.nwaiting++ == 0)
        uv_timer_start(&waits.timer, on_context_tick, CONTEXT_POLL_MS, CONTEXT_POLL_MS);
}

void admin_close(struct daemon *d)
{
    waits.timer.data = d;
    if (waits.nwaiting > 0)
        on_context_tick(&waits.timer); /* d->stopping: every waiter is answered */
    if (waits.timer_open) {
        uv_close((uv_handle_t *)&waits.timer, NULL);
        waits.timer_open = false;
    }
}

static void pack_kv(msgpack_packer *pk, const char *key, uint64_t v)
{
    rpc_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, v);
}

/* One map per pool: name, mode, size, busy, idle, starting, queued,
 * completed, failed, restarts, degraded, quarantined. */
static void do_pools(struct conn *c, const struct rpc_msg *m)
{
    msgpack_packer *pk;
    struct exec_counts k;
    struct pool *p;
    size_t i;
    struct pool_states st;
    int j;

    if (m->nparams != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "pools takes no params");
        return;
    }
    for (i = 0, j = 0; i < c->d->npools; i++)
        j += !c->d->pools[i]->stopping;
    pk = ok(c, m);
    msgpack_pack_array(pk, (size_t)j);
    for (i = 0; i < c->d->npools; i++) {
        p = c->d->pools[i];
        if (p->stopping)
            continue;
        st = pool_states(p);
        msgpack_pack_map(pk, 12);
        rpc_pack_cstr(pk, "name");
        rpc_pack_cstr(pk, p->name);
        rpc_pack_cstr(pk, "mode");
        rpc_pack_cstr(pk, p->mode == POOL_PROCESS ? "process" : "thread");
        pack_kv(pk, "size", (uint64_t)p->size);
        pack_kv(pk, "busy", (uint64_t)st.busy);
        pack_kv(pk, "idle", (uint64_t)st.idle);
        pack_kv(pk, "starting", (uint64_t)st.starting);
        pack_kv(pk, "queued", p->queued);
        k = pool_counts(p);
        pack_kv(pk, "completed", k.completed);
        pack_kv(pk, "failed", k.failed);
        pack_kv(pk, "restarts", k.restarts);
        rpc_pack_cstr(pk, "degraded");
        if (p->degraded)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        rpc_pack_cstr(pk, "quarantined");
        stats_pack_quarantined(pk, p);
    }
}

/* Executor processes the daemon's pools have now (a thread-mode pool: one),
 * those leaving after a resize included. */
static size_t executors_now(const struct daemon *d)
{
    size_t i, n = 0;

    for (i = 0; i < d->npools; i++)
        n += (size_t)d->pools[i]->nexec + d->pools[i]->nleaving;
    return n;
}

/* Answers Forbidden when more executors would pass limits.max_executors. */
static bool over_executors(struct conn *c, const struct rpc_msg *m, size_t more)
{
    char msg[ERR_LEN];
    size_t now = executors_now(c->d);

    if (now + more <= c->d->cfg.max_executors)
        return false;
    snprintf(msg, sizeof msg, "%zu more executors would make %zu, past limits.max_executors (%u)", more,
             now + more, c->d->cfg.max_executors);
    conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, msg);
    return true;
}

/* The pool of a start_pool got ready (type NULL): answers the executors'
 * pids; or it will not: answers the error. arg: the request (conn_later). */
static void answer_started(struct pool *p, void *arg, const char *type, const char *message)
{
    struct conn_later *w = arg;
    struct rpc_raw msgid = conn_later_msgid(w);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int i;

    if (w->conn->closing) {
        /* nobody to tell */
    } else if (type != NULL) {
        conn_respond_error(w->conn, msgid, type, message);
    } else {
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, (size_t)p->nexec);
        for (i = 0; i < p->nexec; i++)
            msgpack_pack_int(&pk, p->executors[i]->child.pid);
        conn_respond_raw(w->conn, msgid, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    conn_later_done(w);
    free(w);
}

/* start_pool [name, size, mode?] -> the new executors' pids, once all of
 * them are ready. */
static void do_start_pool(struct conn *c, const struct rpc_msg *m)
{
    static const char usage[] = "start_pool params must be [name, size, mode?] with a name of "
                                "letters, digits, '_' or '-', a size of 1 to 1024 and mode "
                                "\"process\" or \"thread\"";
    struct config_pool cp;
    struct mpk_reader r;
    struct mpk_item it;
    struct rpc_str name, mode = {"process", 7};
    struct daemon *d = c->d;
    struct conn_later *w;
    struct pool *p;
    char msg[ERR_LEN];
    int i;

    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (m->nparams < 2 || m->nparams > 3 || rpc_read_name(&r, &name) != 0 || !config_valid_pool_name(name.ptr, name.len) ||
        mpk_read(&r, &it) != 0 || it.type != MPK_UINT || it.v.u < 1 || it.v.u > CONFIG_POOL_SIZE_MAX ||
        (m->nparams == 3 && rpc_read_name(&r, &mode) != 0)) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, usage);
        return;
    }
    if (!rpc_str_eq(mode, "process") && !rpc_str_eq(mode, "thread")) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, usage);
        return;
    }
    config_pool_init(&cp, name.ptr, name.len, (int)it.v.u);
    for (i = 0; i < (int)d->npools; i++) {
        if (strcmp(d->pools[i]->name, cp.name) == 0) {
            snprintf(msg, sizeof msg, "pool %s %s", cp.name,
                     d->pools[i]->stopping ? "is still stopping" : "already exists");
            conn_respond_error(c, m->msgid, ERROR_POOL_EXISTS, msg);
            return;
        }
    }
    cp.mode = rpc_str_eq(mode, "thread") ? POOL_THREAD : POOL_PROCESS;
    if (d->npools >= d->cfg.max_pools) {
        snprintf(msg, sizeof msg, "the daemon has %zu pools already (limits.max_pools)", d->npools);
        conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, msg);
        return;
    }
    if (over_executors(c, m, cp.mode == POOL_THREAD ? 1 : (size_t)cp.size))
        return;
    if (!saved(c, m, &(struct state_change){.op = STATE_START_POOL, .pool = cp.name, .size = cp.size, .mode = cp.mode}))
        return;
    p = pool_list_add(d, pool_new(d, &cp, &d->cfg, false));
    w = xcalloc(1, sizeof *w);
    conn_later_init(w, c, m->msgid);
    pool_when_ready(p, false, answer_started, w);
}

/* stop_pool [name]: drains it, then stops it; default and io stay. */
static void do_stop_pool(struct conn *c, const struct rpc_msg *m)
{
    struct pool *p = pool_param(c, m);

    if (p == NULL)
        return;
    if (strcmp(p->name, "default") == 0 || strcmp(p->name, "io") == 0) {
        conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, "the default and io pools cannot be stopped");
        return;
    }
    if (!saved(c, m, &(struct state_change){.op = STATE_STOP_POOL, .pool = p->name}))
        return;
    pool_stop(p);
    msgpack_pack_true(ok(c, m));
}

/* resize_pool [name, size]: grows now; shrinks without failing a call. */
static void do_resize_pool(struct conn *c, const struct rpc_msg *m)
{
    struct mpk_reader r;
    struct mpk_item it;
    struct rpc_str name;
    struct pool *p;
    char msg[ERR_LEN], pname[RPC_NAME_MAX + 1];

    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (m->nparams != 2 || rpc_read_name(&r, &name) != 0 || mpk_read(&r, &it) != 0 ||
        it.type != MPK_UINT || it.v.u < 1 || it.v.u > CONFIG_POOL_SIZE_MAX) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "resize_pool params must be [pool, size 1 to 1024]");
        return;
    }
    p = pool_find(c->d, name.ptr, name.len);
    if (p == NULL) {
        snprintf(msg, sizeof msg, "no pool named '%s'", rpc_printable(name, pname, sizeof pname));
        conn_respond_error(c, m->msgid, ERROR_NO_SUCH_POOL, msg);
        return;
    }
    if (p->mode == POOL_PROCESS && (int)it.v.u > p->size &&
        over_executors(c, m, (size_t)it.v.u - (size_t)p->size))
        return;
    if (!p->from_config && (int)it.v.u != p->size &&
        !saved(c, m, &(struct state_change){.op = STATE_RESIZE_POOL, .pool = p->name, .size = (int)it.v.u}))
        return;
    if ((int)it.v.u != p->size)
        pool_resize(p, (int)it.v.u);
    msgpack_pack_true(ok(c, m));
}

static void do_ping(struct conn *c, const struct rpc_msg *m)
{
    rpc_pack_cstr(ok(c, m), "pong");
}

/* What hello lists: the methods and options this daemon has. */
static const char *const features[] = {
    "call", "map", "eval", "exec", "cancel", "auth", "routing", "pool_admin", "errors",
};

/* Reads hello's options: a map (or an empty array) of "errors": shape. */
static int hello_options(struct mpk_reader *r, enum error_shape *shape, char *err, size_t errlen)
{
    struct mpk_item it;
    struct rpc_str key, value;
    char name[RPC_NAME_MAX + 1];
    uint32_t i, n;

    if (mpk_read(r, &it) != 0 || (it.type != MPK_MAP && it.type != MPK_NIL &&
                                  !(it.type == MPK_ARRAY && it.v.n == 0))) {
        snprintf(err, errlen, "hello options must be a map, got %s", mpk_type_name(it.type));
        return -1;
    }
    n = it.type == MPK_MAP ? it.v.n : 0;
    for (i = 0; i < n; i++) {
        if (rpc_read_name(r, &key) != 0) {
            snprintf(err, errlen, "hello option names must be str");
            return -1;
        }
        if (!rpc_str_eq(key, "errors")) {
            snprintf(err, errlen, "unknown hello option '%s' (known: errors)", rpc_printable(key, name, sizeof name));
            return -1;
        }
        if (rpc_read_name(r, &value) != 0 || rpc_error_shape_parse(value, shape) != 0) {
            snprintf(err, errlen, "hello option errors must be \"map\", \"string\" or \"array\"");
            return -1;
        }
    }
    return 0;
}

/* hello [client_name?, client_version?, options?]: who the daemon is, and
 * the connection's error shape from now on. Anyone may call it. */
static void do_hello(struct conn *c, const struct rpc_msg *m)
{
    struct mpk_reader r;
    struct mpk_item it;
    struct rpc_str name[2] = {{NULL, 0}, {NULL, 0}};
    enum error_shape shape = c->errors;
    char err[ERR_LEN], printable[2][RPC_NAME_MAX + 1];
    msgpack_packer *pk;
    uint32_t i;
    size_t k, npools = 0;

    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (m->nparams > 3) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST,
                           "hello params must be [client_name?, client_version?, options?]");
        return;
    }
    for (i = 0; i < m->nparams && i < 2; i++) {
        if (rpc_read_name(&r, &name[i]) == 0 && name[i].len <= RPC_NAME_MAX)
            continue;
        if (mpk_read(&r, &it) == 0 && it.type == MPK_NIL)
            continue;
        snprintf(err, sizeof err, "hello %s must be a str of at most %d bytes or nil",
                 i == 0 ? "client_name" : "client_version", RPC_NAME_MAX);
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, err);
        return;
    }
    if (m->nparams == 3 && hello_options(&r, &shape, err, sizeof err) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, err);
        return;
    }
    c->errors = shape;
    log_debug("conn %llu: hello from %s %s (errors: %s)", (unsigned long long)c->id,
              rpc_printable(name[0], printable[0], sizeof printable[0]),
              rpc_printable(name[1], printable[1], sizeof printable[1]), rpc_error_shape_name(shape));

    pk = ok(c, m);
    msgpack_pack_map(pk, 7);
    rpc_pack_cstr(pk, "server");
    rpc_pack_cstr(pk, "pyrpoold");
    rpc_pack_cstr(pk, "version");
    rpc_pack_cstr(pk, PYRPOOLD_VERSION);
    rpc_pack_cstr(pk, "protocol");
    msgpack_pack_unsigned_int(pk, PROTOCOL_VERSION);
    rpc_pack_cstr(pk, "features");
    msgpack_pack_array(pk, countof(features));
    for (k = 0; k < countof(features); k++)
        rpc_pack_cstr(pk, features[k]);
    rpc_pack_cstr(pk, "pools");
    for (k = 0; k < c->d->npools; k++)
        npools += !c->d->pools[k]->stopping;
    msgpack_pack_array(pk, npools);
    for (k = 0; k < c->d->npools; k++)
        if (!c->d->pools[k]->stopping)
            rpc_pack_cstr(pk, c->d->pools[k]->name);
    rpc_pack_cstr(pk, "errors");
    rpc_pack_cstr(pk, rpc_error_shape_name(shape));
    rpc_pack_cstr(pk, "admin");
    if (c->access.admin)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* stats []: the daemon's figures (stats.h). */
static void do_stats(struct conn *c, const struct rpc_msg *m)
{
    if (m->nparams != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "stats takes no params");
        return;
    }
    c->d->stats_asked++;
    stats_pack(c->d, ok(c, m));
}

static const struct {
    const char *name;
    void (*fn)(struct conn *c, const struct rpc_msg *m);
    bool admin; /* changes what others get, or shows the daemon's insides
                 * (stats): only on an admin listener */
} methods[] = {
    {METHOD_REGISTER_POOL, do_register, true},
    {METHOD_UNREGISTER_POOL, do_unregister, true},
    {METHOD_LOOKUP_POOL, do_lookup, false},
    {METHOD_LIST_POOL_REGISTRATIONS, do_list, false},
    {METHOD_POOLS, do_pools, false},
    {METHOD_START_POOL, do_start_pool, true},
    {METHOD_STOP_POOL, do_stop_pool, true},
    {METHOD_RESIZE_POOL, do_resize_pool, true},
    {METHOD_POOL_STARTED, do_pool_started, false},
    {METHOD_NUM_CONTEXTS, do_num_contexts, false},
    {METHOD_CONTEXTS, do_contexts, false},
    {METHOD_GET_CONTEXT, do_get_context, false},
    {METHOD_PING, do_ping, false},
    {METHOD_STATS, do_stats, true},
    {METHOD_HELLO, do_hello, false},
};

int admin_dispatch(struct conn *c, const struct rpc_msg *m)
{
    size_t i;

    for (i = 0; i < countof(methods); i++) {
        if (rpc_str_eq(m->method, methods[i].name)) {
            if (methods[i].admin && !c->access.admin) {
                char msg[ERR_LEN];

                snprintf(msg, sizeof msg, "%s is an admin method: this listener has admin: false", methods[i].name);
                conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, msg);
                return 0;
            }
            methods[i].fn(c, m);
            return 0;
        }
    }
    return -1;
}

const char *admin_method_names(void)
{
    static char names[512];
    size_t i, n = 0;

    if (names[0] != '\0')
        return names;
    for (i = 0; i < countof(methods); i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i > 0 ? ", " : "", methods[i].name);
    return names;
}
