/* method: request dispatch, routing, and building executor frames.
 * See method.h. */
#include "method.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "admin.h"
#include "call.h"
#include "conn.h"
#include "daemon.h"
#include "frame.h"
#include "log.h"
#include "outq.h"
#include "pool.h"
#include "protocol.h"
#include "reply.h"
#include "reload.h"
#include "rpc.h"
#include "xalloc.h"

#define ERR_LEN 512

/* Executor frames are written by hand (mpk_put_*), not with msgpack-c's
 * packer: on the hot path its callback per item cost more than the bytes.
 * frame_head reserves room for the whole frame; the put_* helpers below
 * append into that room. */

/* Bytes put_raw and put_name take. */
static size_t raw_size(struct rpc_raw raw) { return raw.ptr != NULL ? raw.len : 1; }
static size_t name_size(struct rpc_str s) { return 5 + (size_t)s.len; }

/* The object's bytes as received, or nil when it is absent. */
static void put_raw(msgpack_sbuffer *sb, struct rpc_raw raw)
{
    if (raw.ptr != NULL)
        memcpy(sb->data + sb->size, raw.ptr, raw.len);
    else
        sb->data[sb->size] = (char)0xc0;
    sb->size += raw_size(raw);
}

static void put_name(msgpack_sbuffer *sb, struct rpc_str s)
{
    char *w = mpk_put_str_head(sb->data + sb->size, s.len);

    memcpy(w, s.ptr, s.len);
    sb->size = (size_t)(w + s.len - sb->data);
}

static void put_uint(msgpack_sbuffer *sb, uint64_t v)
{
    sb->size = (size_t)(mpk_put_uint(sb->data + sb->size, v) - sb->data);
}

/* A new call for request m on conn c, frame not written yet. */
static struct call *start_call(struct conn *c, const struct rpc_msg *m)
{
    struct call *call = call_new();

    call->id = ++c->d->next_call_id;
    call->conn = c;
    call->msgid_len = (uint8_t)m->msgid.len;
    memcpy(call->msgid, m->msgid.ptr, m->msgid.len);
    call->msgid_value = rpc_msgid_value(m->msgid);
    conn_track(c, call);
    return call;
}

/* Starts an executor frame: [kind, call_id, timeout_ms, ...] with n (at
 * most 15) items in all, with room for more bytes of the rest. timeout_ms is
 * a fixed-width slot that executor_send fills with the time left when the
 * call leaves for an executor. Returns the offset to pass to frame_end. */
static size_t frame_head(struct call *call, enum frame_kind kind, size_t n, size_t more)
{
    msgpack_sbuffer *sb = &call->frame;
    size_t start;

    outq_reserve(sb, FRAME_PREFIX + 2 + 9 + 5 + more);
    start = frame_begin(sb);
    sb->data[sb->size++] = (char)(0x90 | n);
    sb->data[sb->size++] = (char)kind;
    put_uint(sb, call->id);
    call->timeout_slot = sb->size + 1;
    memcpy(sb->data + sb->size, "\xce\0\0\0\0", 5);
    sb->size += 5;
    return start;
}

/* Queues call on p, watching its deadline when it has a timeout (its own
 * opts.timeout, else the pool's). */
static void enqueue(struct pool *p, struct call *call, double timeout)
{
    call->queued_ns = tally_now_ns; /* read with the request (conn.c) */
    call->sent_ns = 0;
    if (timeout <= 0)
        timeout = p->timeout; /* the pool's default, if it has one */
    if (timeout > 0) {
        call->timeout = timeout;
        call->deadline.at = uv_now(p->d->loop) + (uint64_t)(timeout * 1000.0 + 0.5);
        deadlines_add(&p->d->deadlines, &call->deadline);
    }
    pool_submit(p, call);
}

static void submit(struct conn *c, struct pool *p, struct call *call, double timeout)
{
    conn_call_started(c);
    enqueue(p, call, timeout);
}

/* Answers Quarantined when p holds off calls to module.function (it keeps
 * crashing executors), with ShuttingDown, PoolDegraded or Overloaded as
 * overloaded() does; returns true then. */
static bool refused(struct conn *c, const struct rpc_msg *m, struct pool *p, struct rpc_str module,
                    struct rpc_str function);

/* Answers Overloaded when p's queue is full, PoolDegraded when p cannot
 * start executors, ShuttingDown while the daemon drains; returns true then. */
static bool overloaded(struct conn *c, const struct rpc_msg *m, struct pool *p)
{
    char msg[ERR_LEN];

    if (c->d->draining) {
        conn_respond_error(c, m->msgid, ERROR_SHUTTING_DOWN, "the daemon is stopping: no new calls");
        return true;
    }
    if (p->degraded) {
        snprintf(msg, sizeof msg, "pool %s cannot start its executors (the last one %s); retrying",
                 p->name, p->last_failure);
        conn_respond_error(c, m->msgid, ERROR_POOL_DEGRADED, msg);
        return true;
    }
    if (!pool_full(p))
        return false;
    snprintf(msg, sizeof msg, "pool %s has %zu calls waiting (max_queue)", p->name, p->queued);
    conn_respond_error(c, m->msgid, ERROR_OVERLOADED, msg);
    return true;
}

/* log.calls: a call refused before it queued. */
static void log_refused(struct conn *c, const struct rpc_msg *m, struct pool *p, struct rpc_str module,
                        struct rpc_str function, const char *type)
{
    char name[RPC_NAME_MAX * 2 + 2], mod[RPC_NAME_MAX + 1], fn[RPC_NAME_MAX + 1];

    rpc_printable(module, mod, sizeof mod);
    rpc_printable(function, fn, sizeof fn);
    snprintf(name, sizeof name, "%s%s%s", mod, fn[0] != '\0' ? "." : "", fn);
    access_log(&(struct access_entry){p->name, name, type, 0, 0, c->id, rpc_msgid_value(m->msgid)});
}

static bool refused(struct conn *c, const struct rpc_msg *m, struct pool *p, struct rpc_str module,
                    struct rpc_str function)
{
    char msg[ERR_LEN];
    const char *type = NULL;

    if (p->nheld > 0 &&
        pool_quarantined(p, module.ptr, module.len, function.ptr, function.len, msg, sizeof msg)) {
        conn_respond_error(c, m->msgid, ERROR_QUARANTINED, msg);
        type = ERROR_QUARANTINED;
    } else if (overloaded(c, m, p)) {
        type = c->d->draining ? ERROR_SHUTTING_DOWN : p->degraded ? ERROR_POOL_DEGRADED : ERROR_OVERLOADED;
    }
    if (type != NULL)
        p->tally.outcomes[outcome_of_type(type)]++;
    if (type != NULL && c->d->cfg.log_calls)
        log_refused(c, m, p, module, function, type);
    return type != NULL;
}

/* Picks the pool for a call: opts.pool, then the routing table, then
 * default. Returns NULL after answering when there is none or it is full. */
static struct pool *route(struct conn *c, const struct rpc_msg *m, const struct rpc_call *rc)
{
    struct daemon *d = c->d;
    struct pool *p;
    char msg[ERR_LEN], name[RPC_NAME_MAX + 1];

    if (!config_allows(&d->cfg, rc->module.ptr, rc->module.len)) {
        snprintf(msg, sizeof msg, "module '%s' is not in python.allow",
                 rpc_printable(rc->module, name, sizeof name));
        conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, msg);
        return NULL;
    }
    if (rc->pool.len > 0) {
        p = pool_find(d, rc->pool.ptr, rc->pool.len);
        if (p == NULL) {
            snprintf(msg, sizeof msg, "no pool named '%s'", rpc_printable(rc->pool, name, sizeof name));
            conn_respond_error(c, m->msgid, ERROR_NO_SUCH_POOL, msg);
            return NULL;
        }
    } else {
        p = route_lookup(d->routes, rc->module.ptr, rc->module.len, rc->function.ptr, rc->function.len);
        if (p == NULL)
            p = d->default_pool;
    }
    return refused(c, m, p, rc->module, rc->function) ? NULL : p;
}

static void do_call(struct conn *c, const struct rpc_msg *m, bool shorthand)
{
    struct rpc_call rc;
    struct call *call;
    struct pool *p;
    char err[ERR_LEN];
    size_t start;
    int r;

    r = shorthand ? rpc_parse_shorthand(m, &rc, err, sizeof err)
                  : rpc_parse_call(m, RPC_CALL, &rc, err, sizeof err);
    if (r != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, err);
        return;
    }
    if ((p = route(c, m, &rc)) == NULL)
        return;
    call = start_call(c, m);
    start = frame_head(call, FRAME_CALL, 7,
                       name_size(rc.module) + name_size(rc.function) + raw_size(rc.args) + raw_size(rc.kwargs));
    put_name(&call->frame, rc.module);
    put_name(&call->frame, rc.function);
    put_raw(&call->frame, rc.args);
    put_raw(&call->frame, rc.kwargs);
    frame_end(&call->frame, start);
    submit(c, p, call, rc.timeout);
}

/* Items per map chunk: about four chunks per executor, so the pool stays
 * busy while answers stream back, within these bounds. */
#define MAP_CHUNK_MAX 4096
#define MAP_CHUNK_BYTES (256 * 1024)

/* Packs one chunk of args_list (count items starting at r) as a MAP frame. */
static struct call *map_chunk(struct conn *c, const struct rpc_msg *m, const struct rpc_call *rc,
                              struct mpk_reader *r, uint32_t base, uint32_t *count)
{
    struct call *call = start_call(c, m);
    const char *start_items = r->p, *p;
    struct rpc_raw items;
    uint32_t n = 0;
    size_t start;

    while (n < *count && (size_t)(r->p - start_items) < MAP_CHUNK_BYTES) {
        p = r->p;
        if (mpk_skip(r) != 0) {
            r->p = p;
            break;
        }
        n++;
    }
    *count = n;
    items = (struct rpc_raw){start_items, (size_t)(r->p - start_items)};
    start = frame_head(call, FRAME_MAP, 8,
                       name_size(rc->module) + name_size(rc->function) + 9 + 5 + items.len +
                           raw_size(rc->kwargs));
    put_name(&call->frame, rc->module);
    put_name(&call->frame, rc->function);
    put_uint(&call->frame, base);
    call->frame.size = (size_t)(mpk_put_array_head(call->frame.data + call->frame.size, n) - call->frame.data);
    put_raw(&call->frame, items);
    put_raw(&call->frame, rc->kwargs);
    frame_end(&call->frame, start);
    return call;
}

/* map [module, function, args_list, kwargs?, opts?]: chunks spread over the
 * routed pool, answered as one array in order. */
static void do_map(struct conn *c, const struct rpc_msg *m)
{
    struct rpc_call rc;
    struct pool *p;
    struct map_job *job;
    struct call *call;
    struct mpk_reader r;
    struct mpk_item it;
    char err[ERR_LEN];
    uint32_t per, base, n;

    if (rpc_parse_call(m, RPC_MAP, &rc, err, sizeof err) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, err);
        return;
    }
    if ((p = route(c, m, &rc)) == NULL)
        return;
    if (rc.nargs == 0) {
        msgpack_packer *pk = conn_out(c);

        rpc_pack_response_head(pk, m->msgid);
        msgpack_pack_nil(pk);
        msgpack_pack_array(pk, 0);
        return;
    }
    per = (rc.nargs + (uint32_t)p->size * 4 - 1) / ((uint32_t)p->size * 4);
    if (per > MAP_CHUNK_MAX)
        per = MAP_CHUNK_MAX;
    job = map_job_new(c, m->msgid, rc.nargs);
    conn_call_started(c);
    mpk_reader_init(&r, rc.args.ptr, rc.args.len);
    mpk_read(&r, &it);
    for (base = 0; base < rc.nargs; base += n) {
        n = rc.nargs - base < per ? rc.nargs - base : per;
        call = map_chunk(c, m, &rc, &r, base, &n);
        map_job_add(job, call);
        enqueue(p, call, rc.timeout);
    }
}

/* eval [expr, locals?] and exec [code]: the default pool, when allowed. */
static void do_eval(struct conn *c, const struct rpc_msg *m, bool exec)
{
    const char *usage = exec ? "params must be [code]" : "params must be [expr, locals?]";
    struct mpk_reader r;
    struct mpk_item it;
    struct rpc_str code;
    struct rpc_raw locals = {NULL, 0};
    struct call *call;
    size_t start;

    if (!c->d->cfg.allow_eval) {
        conn_respond_error(c, m->msgid, ERROR_FORBIDDEN,
                           exec ? "exec is disabled (set python.allow_eval: true to allow it)"
                                : "eval is disabled (set python.allow_eval: true to allow it)");
        return;
    }
    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (m->nparams < 1 || m->nparams > (exec ? 1u : 2u) || rpc_read_name(&r, &code) != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, usage);
        return;
    }
    if (m->nparams == 2) {
        locals.ptr = r.p;
        if (mpk_read(&r, &it) != 0 ||
            (it.type != MPK_MAP && it.type != MPK_NIL && !(it.type == MPK_ARRAY && it.v.n == 0))) {
            conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "eval locals must be a map or nil");
            return;
        }
        if (it.type == MPK_ARRAY) {
            locals.ptr = NULL; /* an empty array: no locals */
        } else {
            r.p = locals.ptr;
            mpk_skip(&r);
            locals.len = (size_t)(r.p - locals.ptr);
        }
    }
    if (refused(c, m, c->d->default_pool, (struct rpc_str){exec ? METHOD_EXEC : METHOD_EVAL, 4},
                (struct rpc_str){"", 0}))
        return;
    call = start_call(c, m);
    start = frame_head(call, exec ? FRAME_EXEC : FRAME_EVAL, exec ? 4 : 5,
                       name_size(code) + raw_size(locals));
    put_name(&call->frame, code);
    if (!exec)
        put_raw(&call->frame, locals);
    frame_end(&call->frame, start);
    submit(c, c->d->default_pool, call, 0);
}

/* Cancels the calls of c with this msgid: each is answered Cancelled at
 * once and stopped (pool_abort). Returns how many there were. */
static size_t cancel_calls(struct conn *c, uint32_t msgid)
{
    struct call *call;
    size_t n = 0;

    /* aborting one call may requeue or answer others (a map's chunks), so
     * look again from the start each time; cancels are rare */
    for (;;) {
        for (call = c->calls; call != NULL && call->msgid_value != msgid; call = call->cnext)
            ;
        if (call == NULL)
            return n;
        pool_abort(call, ERROR_CANCELLED, "the client cancelled this call");
        n++;
    }
}

/* The cancel notification: [2, "cancel", [msgid]]. */
static void do_cancel(struct conn *c, const struct rpc_msg *m)
{
    struct mpk_reader r;
    struct mpk_item it;

    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (m->nparams != 1 || mpk_read(&r, &it) != 0 || it.type != MPK_UINT || it.v.u > UINT32_MAX) {
        log_debug("conn %llu: cancel ignored: params must be [msgid]", (unsigned long long)c->id);
        return;
    }
    if (cancel_calls(c, (uint32_t)it.v.u) == 0)
        log_debug("conn %llu: cancel: no call %llu in flight", (unsigned long long)c->id,
                  (unsigned long long)it.v.u);
}

/* Equal strings, in a time that depends on the expected token's length
 * only, not on where a guess goes wrong. */
static bool same_token(const char *got, size_t len, const char *want)
{
    size_t n = strlen(want), i;
    unsigned char diff = len != n;

    for (i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < len ? got[i] : 0);
    return diff == 0;
}

static void answer_true(struct conn *c, const struct rpc_msg *m)
{
    msgpack_packer *pk = conn_out(c);

    rpc_pack_response_head(pk, m->msgid);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
}

/* auth [token]: true, or Unauthorized and the connection closes. On a
 * listener without a token it answers true. */
static void do_auth(struct conn *c, const struct rpc_msg *m)
{
    struct mpk_reader r;
    struct mpk_item it;

    if (c->access.token == NULL || c->authed) {
        answer_true(c, m);
        return;
    }
    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (m->nparams == 1 && mpk_read(&r, &it) == 0 && it.type == MPK_STR &&
        same_token(it.v.s.ptr, it.v.s.len, c->access.token)) {
        c->authed = true;
        log_debug("conn %llu: authenticated", (unsigned long long)c->id);
        answer_true(c, m);
        return;
    }
    log_warn_often(uv_now(c->d->loop), "conn %llu: wrong token: closing it", (unsigned long long)c->id);
    conn_refuse(c, m->msgid, ERROR_UNAUTHORIZED, "wrong token");
}

/* A connection that must authenticate first sent something else. */
static void unauthorized(struct conn *c, const struct rpc_msg *m)
{
    log_warn_often(uv_now(c->d->loop), "conn %llu: a request before auth: closing it", (unsigned long long)c->id);
    conn_refuse(c, m->type != RPC_NOTIFY ? m->msgid : (struct rpc_raw){NULL, 0}, ERROR_UNAUTHORIZED,
                "this listener needs auth [token] as the first request");
}

/* A reload request, answered when the reload ends. */
static void answer_reload(struct daemon *d, void *arg, const char *refused)
{
    struct conn_later *q = arg;
    msgpack_packer *pk;

    (void)d;
    if (q->conn->closing) {
        /* nobody to tell */
    } else if (refused != NULL) {
        conn_respond_error(q->conn, conn_later_msgid(q), ERROR_RELOAD_FAILED, refused);
    } else {
        pk = conn_out(q->conn);
        rpc_pack_response_head(pk, conn_later_msgid(q));
        msgpack_pack_nil(pk);
        msgpack_pack_true(pk);
    }
    conn_later_done(q);
    free(q);
}

/* reload []: what SIGHUP does; answers true once the new generation
 * serves, or ReloadFailed with the reason the running config stays. Only
 * on an admin listener. */
static void do_reload(struct conn *c, const struct rpc_msg *m)
{
    struct conn_later *q;

    if (!c->access.admin) {
        conn_respond_error(c, m->msgid, ERROR_FORBIDDEN, "reload is an admin method: this listener has admin: false");
        return;
    }
    if (m->nparams != 0) {
        conn_respond_error(c, m->msgid, ERROR_BAD_REQUEST, "reload takes no params");
        return;
    }
    q = xcalloc(1, sizeof *q);
    conn_later_init(q, c, m->msgid);
    reload_start(c->d, answer_reload, q);
}

/* Runs the decoded message m. */
static void dispatch(struct conn *c, const struct rpc_msg *m)
{
    char text[ERR_LEN], name[65];

    if (m->type == RPC_REQUEST && rpc_str_eq(m->method, METHOD_AUTH)) {
        do_auth(c, m);
        return;
    }
    if (!c->authed) {
        unauthorized(c, m);
        return;
    }

    if (m->type == RPC_NOTIFY) {
        if (rpc_str_eq(m->method, METHOD_CANCEL))
            do_cancel(c, m);
        else
            log_debug("conn %llu: notification '%s' ignored", (unsigned long long)c->id,
                      rpc_printable(m->method, name, sizeof name));
        return;
    }
    if (rpc_str_eq(m->method, METHOD_CALL))
        do_call(c, m, false);
    else if (rpc_str_eq(m->method, METHOD_MAP))
        do_map(c, m);
    else if (rpc_is_shorthand(m->method))
        do_call(c, m, true);
    else if (rpc_str_eq(m->method, METHOD_EVAL))
        do_eval(c, m, false);
    else if (rpc_str_eq(m->method, METHOD_EXEC))
        do_eval(c, m, true);
    else if (rpc_str_eq(m->method, METHOD_RELOAD))
        do_reload(c, m);
    else if (admin_dispatch(c, m) != 0) {
        snprintf(text, sizeof text,
                 "no method '%s' (methods: " METHOD_CALL ", " METHOD_MAP ", " METHOD_EVAL ", " METHOD_EXEC
                 ", module.function, " METHOD_RELOAD ", %s)", rpc_printable(m->method, name, 65), admin_method_names());
        conn_respond_error(c, m->msgid, ERROR_NO_SUCH_METHOD, text);
    }
}

static void method_dispatch(struct conn *c, const char *msg, size_t len)
{
    struct rpc_msg m;
    char err[ERR_LEN];

    if (rpc_decode(msg, len, &m, err, sizeof err) != 0) {
        if (!c->authed) {
            unauthorized(c, &m);
            return;
        }
        if (m.type == RPC_NOTIFY) {
            log_debug("conn %llu: notification ignored: %s", (unsigned long long)c->id, err);
            return;
        }
        conn_respond_error(c, m.msgid, ERROR_BAD_REQUEST, err);
        return;
    }
    dispatch(c, &m);
}

static size_t method_dispatch_prefix(struct conn *c, const char *buf, size_t len, size_t max)
{
    struct rpc_msg m;
    ssize_t n = rpc_decode_prefix(buf, len, &m);

    if (n <= 0 || (size_t)n > max)
        return 0;
    dispatch(c, &m);
    return (size_t)n;
}

/* c drained: its pools look at its lanes again. */
static void lanes_ready(struct conn *c)
{
    struct lane *l;

    for (l = c->lanes; l != NULL; l = l->cnext)
        pool_lane_ready(l);
}

const struct conn_handler method_handler = {
    .dispatch_prefix = method_dispatch_prefix,
    .dispatch = method_dispatch,
    .room = lanes_ready,
    .freed = pool_free_lanes,
};
