/* conn: client connections: reading, framing, buffered answers. See conn.h. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "daemon.h"
#include "log.h"
#include "protocol.h"
#include "tally.h"
#include "util.h"

/* Reads ask for at least this much free buffer. */
#define CONN_READ_CHUNK 65536
/* A read buffer larger than this is given back once the connection is idle. */
#define CONN_KEEP_BUFFER (256 * 1024)

static void set_timer(struct conn *c, enum conn_timer kind, unsigned seconds);

static void maybe_free(struct conn *c)
{
    if (!c->handle_closed || c->ncalls > 0 || c->dirty || c->out.writing)
        return;
    c->handler->freed(c);
    free(c->last_words);
    rbuf_release(&c->in);
    outq_destroy(&c->out);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->d->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->d->nconns--;
    c->counts->open--;
    free(c);
}

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;

    c->handle_closed = true;
    log_debug("conn %llu: closed", (unsigned long long)c->id);
    maybe_free(c);
}

static void maybe_release(struct conn *c);

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    set_timer(c, CONN_TIMER_NONE, 0);
    uv_read_stop(&c->h.stream);
    uv_close(&c->h.handle, on_close);
    /* calls held back for its unwritten answers have nowhere to go now:
     * their pools look at its queues again, and drop them */
    maybe_release(c);
}

static void mark_dirty(struct conn *c);

/* close_after_write: once its calls are answered, its last words go out;
 * once everything is written, it closes. */
static void close_if_written(struct conn *c)
{
    if (!c->close_after_write || c->closing || c->ncalls > 0)
        return;
    if (c->last_words != NULL) {
        conn_respond_error(c, (struct rpc_raw){NULL, 0}, ERROR_BAD_REQUEST, c->last_words);
        free(c->last_words);
        c->last_words = NULL;
        return; /* written at the next flush */
    }
    if (c->out.buf.size == 0 && !c->out.writing)
        conn_close(c);
}

/* The bytes from c are not MessagePack (or too large): the calls it sent
 * before them are answered, then why (a BadRequest with msgid nil), then
 * it closes. */
static void fail_stream(struct conn *c, const char *why)
{
    log_warn_often(uv_now(c->d->loop), "conn %llu: closing: %s", (unsigned long long)c->id, why);
    free(c->last_words);
    c->last_words = strdup(why);
    conn_close_after_write(c);
}

void conn_close_after_write(struct conn *c)
{
    if (c->closing || c->close_after_write)
        return;
    c->close_after_write = true;
    set_timer(c, CONN_TIMER_NONE, 0);
    uv_read_stop(&c->h.stream);
    mark_dirty(c);
}

/* Sets c's one deadline: kind in ms from now (0: none). */
static void set_timer_ms(struct conn *c, enum conn_timer kind, uint64_t ms)
{
    struct deadlines *set = &c->d->conn_deadlines;

    if (c->timer_kind == kind && kind != CONN_TIMER_NONE)
        return; /* running already: a slow request is not given more time byte by byte */
    deadlines_remove(set, &c->timer);
    c->timer_kind = CONN_TIMER_NONE;
    if (kind == CONN_TIMER_NONE || ms == 0 || c->closing)
        return;
    c->timer_kind = kind;
    c->timer.at = uv_now(c->d->loop) + ms;
    deadlines_add(set, &c->timer);
}

static void set_timer(struct conn *c, enum conn_timer kind, unsigned seconds)
{
    set_timer_ms(c, kind, (uint64_t)seconds * 1000);
}

void conn_refuse(struct conn *c, struct rpc_raw msgid, const char *type, const char *message)
{
    if (c->closing || c->close_after_write || c->refusing)
        return;
    c->refusing = true;
    uv_read_stop(&c->h.stream);
    c->refuse_type = type;
    c->refuse_message = message;
    c->refuse_msgid = (struct rpc_raw){NULL, 0};
    if (msgid.ptr != NULL && msgid.len <= sizeof c->refuse_msgid_buf) {
        memcpy(c->refuse_msgid_buf, msgid.ptr, msgid.len);
        c->refuse_msgid = (struct rpc_raw){c->refuse_msgid_buf, msgid.len};
    }
    set_timer(c, CONN_TIMER_NONE, 0);
    set_timer_ms(c, CONN_TIMER_REFUSE, CONN_REFUSE_DELAY_MS);
}

/* After c took requests in or finished a call: a part of a request waits
 * (request_timeout, from its first byte), or c is idle (idle_timeout), or
 * neither. A paused c is not timed: it is the daemon that is not reading. */
static void update_timer(struct conn *c)
{
    if (c->refusing)
        return; /* its answer's delay runs */
    if (c->closing || c->close_after_write || c->paused) {
        c->partial_since = 0;
        set_timer(c, CONN_TIMER_NONE, 0);
    } else if (c->in.len > 0) {
        /* the request deadline is lazy: set once, it checks partial_since
         * when it fires, so a busy client costs no heap work per read */
        set_timer(c, CONN_TIMER_REQUEST, c->d->cfg.request_timeout);
    } else if (c->ncalls == 0) {
        set_timer(c, CONN_TIMER_IDLE, c->d->cfg.idle_timeout);
    } else if (c->timer_kind != CONN_TIMER_REQUEST) {
        set_timer(c, CONN_TIMER_NONE, 0); /* a request deadline left running finds nothing pending */
    }
}

void conn_expired(struct deadlines *set, struct deadline *e)
{
    struct conn *c = container_of(e, struct conn, timer);
    char why[160];
    enum conn_timer kind = c->timer_kind;

    (void)set;
    c->timer_kind = CONN_TIMER_NONE;
    if (kind == CONN_TIMER_REFUSE) {
        if (c->refuse_msgid.ptr != NULL)
            conn_respond_error(c, c->refuse_msgid, c->refuse_type, c->refuse_message);
        conn_close_after_write(c);
    } else if (kind == CONN_TIMER_REQUEST) {
        uint64_t limit = (uint64_t)c->d->cfg.request_timeout * 1000, now = uv_now(c->d->loop);

        if (c->partial_since == 0 || c->paused) {
            update_timer(c); /* nothing pending any more: idle, or no deadline */
        } else if (now - c->partial_since < limit) {
            set_timer_ms(c, CONN_TIMER_REQUEST, c->partial_since + limit - now); /* a later request */
        } else {
            snprintf(why, sizeof why, "a request took longer than limits.request_timeout (%u s) to arrive",
                     c->d->cfg.request_timeout);
            fail_stream(c, why);
        }
    } else {
        log_debug("conn %llu: idle for limits.idle_timeout (%u s): closing", (unsigned long long)c->id,
                  c->d->cfg.idle_timeout);
        conn_close(c);
    }
}

static void mark_dirty(struct conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = c->d->dirty_conns;
    c->d->dirty_conns = c;
}

msgpack_packer *conn_out(struct conn *c)
{
    mark_dirty(c);
    return &c->pk;
}

void conn_respond_error_map(struct conn *c, struct rpc_raw msgid, const char *err, size_t len)
{
    msgpack_packer *pk = conn_out(c);

    rpc_pack_response_head(pk, msgid);
    rpc_pack_error_shaped(pk, c->errors, err, len);
    msgpack_pack_nil(pk);
}

void conn_respond_raw(struct conn *c, struct rpc_raw msgid, const char *tail, size_t tail_len)
{
    msgpack_packer *pk = conn_out(c);
    struct mpk_reader r;

    if (c->errors != ERRORS_MAP && tail_len > 0 && (uint8_t)tail[0] != 0xc0) {
        mpk_reader_init(&r, tail, tail_len);
        if (mpk_skip(&r) == 0) { /* tail is an error map, then nil */
            conn_respond_error_map(c, msgid, tail, (size_t)(r.p - tail));
            return;
        }
    }
    outq_reserve(&c->out.buf, 2 + msgid.len + tail_len);
    rpc_pack_response_head(pk, msgid);
    msgpack_sbuffer_write(&c->out.buf, tail, tail_len);
}

void conn_respond_error(struct conn *c, struct rpc_raw msgid, const char *type, const char *message)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (c->errors == ERRORS_MAP) {
        rpc_pack_error_response(conn_out(c), msgid, type, message);
        return;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rpc_pack_error(&pk, type, message);
    conn_respond_error_map(c, msgid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

void conn_later_init(struct conn_later *l, struct conn *c, struct rpc_raw msgid)
{
    l->conn = c;
    l->msgid_len = (uint8_t)msgid.len;
    memcpy(l->msgid, msgid.ptr, msgid.len);
    conn_call_started(c);
}

void conn_later_done(struct conn_later *l)
{
    conn_call_done(l->conn);
}

void conn_call_started(struct conn *c)
{
    c->ncalls++;
    if (c->timer_kind == CONN_TIMER_IDLE)
        set_timer(c, CONN_TIMER_NONE, 0);
}

void conn_track(struct conn *c, struct call *call)
{
    call->cprev = NULL;
    call->cnext = c->calls;
    if (c->calls != NULL)
        c->calls->cprev = call;
    c->calls = call;
}

void conn_untrack(struct conn *c, struct call *call)
{
    if (call->cprev != NULL)
        call->cprev->cnext = call->cnext;
    else if (c->calls == call)
        c->calls = call->cnext;
    if (call->cnext != NULL)
        call->cnext->cprev = call->cprev;
    call->cnext = call->cprev = NULL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static int consume_messages(struct conn *c);

/* Answers not written to the client yet: buffered, or queued in libuv. */
static size_t unwritten(const struct conn *c)
{
    return c->out.buf.size + c->h.stream.write_queue_size;
}

size_t conn_dispatch_room(struct conn *c)
{
    size_t out = unwritten(c), max = c->d->cfg.max_output, fit;

    if (c->closing)
        return SIZE_MAX; /* its calls are dropped, not run */
    if (out >= max)
        fit = 0;
    else if (c->answer_est == 0) /* nothing known yet: one batch at a time */
        fit = BATCH_MAX;
    else
        fit = (max - out) / c->answer_est;
    if (fit == 0 && out < max && c->dispatched == 0)
        fit = 1; /* answers larger than max_output go one at a time */
    if (fit > c->dispatched)
        return fit - c->dispatched;
    c->held = true;
    return 0;
}

/* Held calls of c may go now: its handler looks at its queues again. */
static void maybe_release(struct conn *c)
{
    if (!c->held || conn_dispatch_room(c) == 0)
        return;
    c->held = false;
    c->handler->room(c);
}

void conn_call_dispatched(struct conn *c, struct call *call)
{
    call->dispatched = true;
    c->dispatched++;
}

void conn_call_undispatched(struct conn *c, struct call *call)
{
    call->dispatched = false;
    c->dispatched--;
    maybe_release(c);
}

void conn_call_answered(struct conn *c, size_t len)
{
    /* the largest answer lately: it sinks by an eighth at each smaller one */
    if (len >= c->answer_est)
        c->answer_est = len;
    else
        c->answer_est -= (c->answer_est - len + 7) / 8;
}

/* A paused connection may read again once half of both allowances is
 * free, so a busy client does not flip between paused and reading at every
 * answer. */
static bool may_resume(const struct conn *c)
{
    return c->paused && !c->closing && c->ncalls <= c->d->cfg.max_inflight / 2 &&
           unwritten(c) <= c->d->cfg.max_output / 2;
}

/* Marks c to resume reading at the next flush (see the top of conn.h). */
static void maybe_resume_later(struct conn *c)
{
    if (!c->resume && may_resume(c)) {
        c->resume = true;
        mark_dirty(c);
    }
}

/* From conn_flush: takes in the requests c holds and reads again. */
static void resume(struct conn *c)
{
    c->resume = false;
    if (!may_resume(c))
        return;
    c->paused = false;
    log_debug("conn %llu: reading resumed", (unsigned long long)c->id);
    tally_tick(); /* the calls it held queue from now */
    if (consume_messages(c) == 0 && !c->paused)
        uv_read_start(&c->h.stream, on_alloc, on_read);
}

void conn_call_done(struct conn *c)
{
    c->ncalls--;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    if (c->close_after_write && c->ncalls == 0)
        mark_dirty(c); /* its last words, then the close, at the flush */
    if (c->ncalls == 0)
        update_timer(c);
    maybe_resume_later(c);
}

static void on_write_done(struct outq *q, int status)
{
    struct conn *c = container_of(q, struct conn, out);

    if (status < 0 && status != UV_ECANCELED) {
        log_debug("conn %llu: write failed: %s", (unsigned long long)c->id, uv_strerror(status));
        conn_close(c);
    }
    if (c->closing) {
        maybe_free(c);
        return;
    }
    if (c->out.buf.size > 0)
        mark_dirty(c);
    else
        maybe_resume_later(c);
    maybe_release(c);
    close_if_written(c);
}

void conn_flush(struct conn *c)
{
    int rc;

    if (c->closing) {
        c->out.buf.size = 0;
        maybe_free(c);
        return;
    }
    c->counts->bytes_out += c->out.buf.size;
    rc = outq_flush(&c->out, &c->h.stream);
    if (rc < 0) {
        log_debug("conn %llu: write failed: %s", (unsigned long long)c->id, uv_strerror(rc));
        conn_close(c);
        return;
    }
    if (c->paused)
        resume(c);
    maybe_release(c);
    close_if_written(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;

    size_t want = CONN_READ_CHUNK;

    (void)suggested;
    /* a large str/bin being read: room for all of it at once, so that the
     * buffer is not grown (and copied) again and again as it arrives; pages
     * not written yet cost no memory */
    if (c->scan.want > c->in.len && c->scan.want - c->in.len > want)
        want = c->scan.want - c->in.len;
    if (rbuf_reserve(&c->in, want) != 0) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = rbuf_end(&c->in);
    buf->len = rbuf_room(&c->in);
}

/* Handles every complete message in c->in; returns -1 if c was closed. */
static int consume_messages(struct conn *c)
{
    size_t off = 0, max = c->d->cfg.max_message_size;
    uint64_t requests = 0;
    ssize_t n;

    while (!c->closing && !c->close_after_write && !c->refusing && off < c->in.len) {
        if (c->ncalls >= c->d->cfg.max_inflight || unwritten(c) > c->d->cfg.max_output) {
            /* backpressure: stop reading until answers drain; the client
             * sees a full socket, not errors */
            if (!c->paused) {
                c->paused = true;
                uv_read_stop(&c->h.stream);
                log_debug("conn %llu: %zu calls in flight, %zu bytes unwritten: reading paused",
                          (unsigned long long)c->id, c->ncalls, unwritten(c));
            }
            break;
        }
        if (c->scan.pos == 0 &&
            (n = (ssize_t)c->handler->dispatch_prefix(c, c->in.data + off, c->in.len - off, max)) > 0) {
            off += (size_t)n;
            requests++;
            continue;
        }
        n = mpk_scan(&c->scan, c->in.data + off, c->in.len - off, max);
        if (n == 0)
            break;
        if (n < 0) {
            char why[200];

            if (n == MPK_ETOOBIG)
                snprintf(why, sizeof why, "a message is larger than limits.max_message_size (%zu bytes)", max);
            else
                snprintf(why, sizeof why, "%s at byte %zu of the message that starts at byte %llu of the stream",
                         mpk_strerror((int)n), c->scan.pos, (unsigned long long)(c->consumed + off));
            fail_stream(c, why);
            break;
        }
        c->handler->dispatch(c, c->in.data + off, (size_t)n);
        off += (size_t)n;
        requests++;
        mpk_scan_reset(&c->scan);
    }
    c->counts->requests += requests;
    rbuf_consume(&c->in, off);
    c->consumed += off;
    if (c->in.len == 0)
        c->partial_since = 0;
    else if (off > 0 || c->partial_since == 0)
        c->partial_since = uv_now(c->d->loop); /* a request begins: its time counts from here */
    update_timer(c);
    return c->closing || c->close_after_write || c->refusing ? -1 : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    (void)buf;
    if (nread == UV_ENOBUFS) {
        log_error("conn %llu: out of memory for its read buffer", (unsigned long long)c->id);
        conn_close(c);
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug("conn %llu: read failed: %s", (unsigned long long)c->id, uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    c->counts->bytes_in += (uint64_t)nread;
    tally_tick(); /* the calls this read brings queue at this time */
    if (consume_messages(c) != 0)
        return;
    if (c->in.len == 0 && c->in.cap > CONN_KEEP_BUFFER)
        rbuf_release(&c->in);
}

/* Past limits.max_connections: one Overloaded (msgid nil), then closed;
 * logged at most once a second. */
static void turn_away(struct conn *c)
{
    char msg[128];

    snprintf(msg, sizeof msg, "the daemon has %u connections (limits.max_connections)", c->d->cfg.max_connections);
    log_warn_often(uv_now(c->d->loop), "conn %llu: turned away: %s", (unsigned long long)c->id, msg);
    conn_respond_error(c, (struct rpc_raw){NULL, 0}, ERROR_OVERLOADED, msg);
    conn_close_after_write(c);
}

int conn_accept(struct daemon *d, uv_stream_t *server, bool tcp, const struct conn_handler *handler,
                const struct conn_access *access, struct listen_counts *counts)
{
    struct conn *c = calloc(1, sizeof *c);
    int rc;

    if (c == NULL)
        return UV_ENOMEM;
    c->d = d;
    deadline_clear(&c->timer);
    c->handler = handler;
    c->access = *access;
    c->counts = counts;
    counts->accepted++;
    counts->open++;
    c->authed = access->token == NULL;
    c->errors = access->errors;
    c->id = ++d->next_conn_id;
    outq_init(&c->out, on_write_done);
    msgpack_packer_init(&c->pk, &c->out.buf, msgpack_sbuffer_write);
    mpk_scan_reset(&c->scan);
    rc = tcp ? uv_tcp_init(d->loop, &c->h.tcp) : uv_pipe_init(d->loop, &c->h.pipe, 0);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->h.handle.data = c;
    c->next = d->conns;
    if (d->conns != NULL)
        d->conns->prev = c;
    d->conns = c;
    d->nconns++;
    rc = uv_accept(server, &c->h.stream);
    if (rc == 0 && tcp)
        uv_tcp_nodelay(&c->h.tcp, 1);
    if (rc == 0)
        rc = uv_read_start(&c->h.stream, on_alloc, on_read);
    if (rc < 0) {
        conn_close(c);
        return rc;
    }
    log_debug("conn %llu: accepted", (unsigned long long)c->id);
    if (d->nconns > d->cfg.max_connections)
        turn_away(c);
    else
        update_timer(c);
    return 0;
}
