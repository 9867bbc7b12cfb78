/* reply: ending calls and assembling map answers. See reply.h. */
#include "reply.h"

#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "conn.h"
#include "daemon.h"
#include "mpk.h"
#include "pool.h"
#include "deadline.h"
#include "xalloc.h"

struct map_job *map_job_new(struct conn *c, struct rpc_raw msgid, uint32_t total)
{
    struct map_job *job = xcalloc(1, sizeof *job);

    job->conn = c;
    job->msgid_len = (uint8_t)msgid.len;
    memcpy(job->msgid, msgid.ptr, msgid.len);
    job->total = total;
    return job;
}

void map_job_add(struct map_job *job, struct call *call)
{
    if (job->nchunks == job->cap) {
        job->cap = job->cap ? 2 * job->cap : 16;
        job->parts = xrealloc(job->parts, job->cap * sizeof *job->parts);
    }
    job->parts[job->nchunks] = (struct map_part){NULL, 0};
    call->job = job;
    call->chunk = job->nchunks++;
    job->remaining++;
}

static void job_free(struct map_job *job)
{
    uint32_t i;

    for (i = 0; i < job->nchunks; i++)
        free(job->parts[i].data);
    free(job->parts);
    free(job->error);
    free(job);
}

/* Sends the job's answer once every chunk is in. */
static void job_finish(struct map_job *job)
{
    struct conn *c = job->conn;
    struct rpc_raw msgid = {job->msgid, job->msgid_len};
    msgpack_packer *pk;
    uint32_t i;

    if (!c->closing) {
        if (job->error != NULL) {
            conn_respond_error_map(c, msgid, job->error, job->error_len);
        } else {
            pk = conn_out(c);
            rpc_pack_response_head(pk, msgid);
            msgpack_pack_nil(pk);
            msgpack_pack_array(pk, job->total);
            for (i = 0; i < job->nchunks; i++)
                msgpack_sbuffer_write(&c->out.buf, job->parts[i].data, job->parts[i].len);
        }
    }
    conn_call_done(c);
    job_free(job);
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = xmalloc(n);

    memcpy(d, p, n);
    return d;
}

/* Keeps the error of the lowest chunk: the answer names the first failing item. */
static void job_error(struct map_job *job, uint32_t chunk, const char *err, size_t len)
{
    if (job->error != NULL && job->error_chunk <= chunk)
        return;
    free(job->error);
    job->error = dup_bytes(err, len);
    job->error_len = len;
    job->error_chunk = chunk;
}

/* A chunk's tail is [error, result]: error nil and result an array, or an error map. */
static void job_chunk(struct map_job *job, uint32_t chunk, const char *tail, size_t len)
{
    struct mpk_reader r;
    struct mpk_item it;
    const char *err_start = tail;

    mpk_reader_init(&r, tail, len);
    if (mpk_read(&r, &it) == 0 && it.type == MPK_NIL) {
        if (mpk_read(&r, &it) == 0 && it.type == MPK_ARRAY) {
            job->parts[chunk].data = dup_bytes(r.p, (size_t)(r.end - r.p));
            job->parts[chunk].len = (size_t)(r.end - r.p);
        }
    } else {
        r.p = err_start;
        mpk_skip(&r);
        job_error(job, chunk, err_start, (size_t)(r.p - err_start));
    }
}

static void job_step(struct call *c)
{
    struct map_job *job = c->job;

    if (--job->remaining == 0)
        job_finish(job);
}

/* log.calls: c's access log line. */
static void log_call(struct call *c, const char *outcome)
{
    char name[RPC_NAME_MAX * 2 + 2];

    call_fn_name(c, name, sizeof name);
    access_log(&(struct access_entry){c->pool->name, name, outcome, c->queued_ns, c->sent_ns,
                                      c->conn != NULL ? c->conn->id : 0, c->msgid_value});
}

/* c leaves: off the deadline heap and its connection's lists. */
static void detach(struct call *c)
{
    deadlines_remove(&c->pool->d->deadlines, &c->deadline);
    conn_untrack(c->conn, c);
    if (c->dispatched)
        conn_call_undispatched(c->conn, c);
}

/* c ends now (end_ns) with outcome o: its pool counts it. */
static void tally(struct call *c, enum outcome o, uint64_t end_ns)
{
    tally_call(&c->pool->tally, o, c->queued_ns, c->sent_ns, end_ns);
}

void reply_result(struct call *c, const char *tail, size_t len)
{
    char type[128];
    bool ok = len > 0 && (uint8_t)tail[0] == 0xc0, typed = !ok && rpc_error_type(tail, len, type, sizeof type) == 0;

    tally(c, ok ? OUTCOME_OK : typed && strcmp(type, ERROR_ENCODE) == 0 ? OUTCOME_ENCODE : OUTCOME_ERROR,
          tally_now_ns);
    if (c->pool->d->cfg.log_calls)
        log_call(c, ok ? "ok" : typed ? type : "error");
    detach(c);
    conn_call_answered(c->conn, len);
    if (c->job != NULL) {
        job_chunk(c->job, c->chunk, tail, len);
        job_step(c);
    } else {
        if (!c->conn->closing)
            conn_respond_raw(c->conn, call_msgid(c), tail, len);
        conn_call_done(c->conn);
    }
    call_free(c);
}

void reply_error_traceback(struct call *c, const char *type, const char *message, const char *traceback)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    tally(c, outcome_of_type(type), uv_hrtime());
    if (c->pool->d->cfg.log_calls)
        log_call(c, type);
    detach(c);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rpc_pack_error_traceback(&pk, type, message, traceback);
    if (c->job != NULL) {
        job_error(c->job, c->chunk, sb.data, sb.size);
        job_step(c);
    } else {
        if (!c->conn->closing)
            conn_respond_error_map(c->conn, call_msgid(c), sb.data, sb.size);
        conn_call_done(c->conn);
    }
    msgpack_sbuffer_destroy(&sb);
    call_free(c);
}

void reply_error(struct call *c, const char *type, const char *message)
{
    reply_error_traceback(c, type, message, NULL);
}

void reply_drop(struct call *c)
{
    tally(c, OUTCOME_DROPPED, uv_hrtime());
    if (c->pool->d->cfg.log_calls)
        log_call(c, "dropped");
    detach(c);
    if (c->job != NULL)
        job_step(c);
    else
        conn_call_done(c->conn);
    call_free(c);
}
