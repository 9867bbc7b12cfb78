/* template: starting and supervising a pool's template process, and
 * turning its FORK and EXITED frames into executors. See template.h. */
#include "template.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "child.h"
#include "frame.h"
#include "log.h"
#include "mpk.h"
#include "pool.h"
#include "util.h"
#include "xalloc.h"

/* A template that served at least this long is started again when it dies;
 * one that dies younger is given up: the pool starts fresh processes. */
#define TEMPLATE_HEALTHY_MS 10000
#define TEMPLATE_READ_CHUNK 4096

static void spawn(struct template *t);

/* Sends the FORK frame for req. */
static void ask(struct template *t, struct fork_req *req)
{
    msgpack_packer pk;
    char name[128];
    size_t start;
    int rc;

    snprintf(name, sizeof name, "%s/%d", t->pool->name, req->index);
    msgpack_packer_init(&pk, &t->child.out.buf, msgpack_sbuffer_write);
    start = frame_begin(&t->child.out.buf);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, FRAME_FORK);
    msgpack_pack_uint64(&pk, req->key);
    msgpack_pack_str_with_body(&pk, name, strlen(name));
    msgpack_pack_uint32(&pk, (uint32_t)req->board);
    frame_end(&t->child.out.buf, start);
    rc = child_flush(&t->child);
    if (rc < 0)
        log_warn("pool %s: cannot write to its template: %s", t->pool->name, uv_strerror(rc));
}

static void ask_all(struct template *t)
{
    for (; t->asked < t->nwaiting; t->asked++)
        ask(t, t->waiting[t->asked]);
}

/* Removes waiting[i]. */
static void unwait(struct template *t, size_t i)
{
    memmove(&t->waiting[i], &t->waiting[i + 1], (t->nwaiting - i - 1) * sizeof *t->waiting);
    t->nwaiting--;
    if (i < t->asked)
        t->asked--;
}

bool template_fork(struct template *t, struct fork_req *req)
{
    static uint64_t keys;

    if (t->state != TPL_STARTING && t->state != TPL_READY)
        return false;
    req->key = ++keys;
    if (t->nwaiting == t->waiting_cap) {
        t->waiting_cap = t->waiting_cap ? t->waiting_cap * 2 : 8;
        t->waiting = xrealloc(t->waiting, t->waiting_cap * sizeof *t->waiting);
    }
    t->waiting[t->nwaiting++] = req;
    if (t->state == TPL_READY)
        ask_all(t);
    return true;
}

void template_forget(struct template *t, struct fork_req *req)
{
    size_t i;

    for (i = 0; i < t->nwaiting; i++) {
        if (t->waiting[i] == req) {
            unwait(t, i);
            return;
        }
    }
}

static void on_stray_closed(uv_handle_t *h)
{
    free(h);
}

/* Takes n descriptors off t's socket and closes them. */
static int discard(struct template *t, int n)
{
    uv_pipe_t *stray;
    int rc = 0;

    while (n-- > 0) {
        stray = xcalloc(1, sizeof *stray);
        uv_pipe_init(t->pool->d->loop, stray, 0);
        if (rc == 0)
            rc = uv_accept((uv_stream_t *)&t->child.pipe, (uv_stream_t *)stray);
        uv_close((uv_handle_t *)stray, on_stray_closed);
    }
    return rc;
}

/* [FRAME_FORK, key, pid] with the socket attached when pid is not 0, and
 * the read ends of the child's stdout and stderr when t's children's
 * output is captured. */
static int on_forked(struct template *t, struct mpk_reader *r)
{
    struct mpk_item it;
    struct fork_req *req = NULL;
    int nfds = t->child.captured ? 3 : 1;
    char name[128];
    uint64_t key;
    size_t i;
    int pid;

    if (mpk_read(r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    key = it.v.u;
    if (mpk_read(r, &it) != 0 || it.type != MPK_UINT || it.v.u > INT32_MAX)
        return -1;
    pid = (int)it.v.u;
    for (i = 0; i < t->asked; i++) {
        if (t->waiting[i]->key == key) {
            req = t->waiting[i];
            unwait(t, i);
            break;
        }
    }
    if (pid == 0) {
        if (req != NULL)
            req->failed(req, false);
        return 0;
    }
    if (uv_pipe_pending_count(&t->child.pipe) < nfds)
        return -1;
    if (req == NULL) { /* shut down while it was being forked */
        kill(pid, SIGKILL);
        return discard(t, nfds) != 0 ? -1 : 0;
    }
    snprintf(name, sizeof name, "%s/%d", t->pool->name, req->index);
    if (child_accept(req->child, t->pool, name, pid, &t->child.pipe, t->child.captured) != 0) {
        kill(pid, SIGKILL);
        req->failed(req, false);
        return 0;
    }
    if (t->nchildren == t->children_cap) {
        t->children_cap = t->children_cap ? t->children_cap * 2 : 8;
        t->children = xrealloc(t->children, t->children_cap * sizeof *t->children);
    }
    req->pid = pid;
    t->children[t->nchildren++] = req;
    req->forked(req, pid);
    return 0;
}

/* Takes the child forked as pid off t's list; NULL if it is not there. */
static struct fork_req *take_child(struct template *t, int pid)
{
    struct fork_req *req;
    size_t i;

    for (i = 0; i < t->nchildren; i++) {
        if (t->children[i]->pid == pid) {
            req = t->children[i];
            t->children[i] = t->children[--t->nchildren];
            return req;
        }
    }
    return NULL;
}

/* [FRAME_EXITED, pid, status, signal] */
static int on_exited(struct template *t, struct mpk_reader *r)
{
    struct mpk_item it;
    struct fork_req *req;
    uint64_t v[3];
    int i;

    for (i = 0; i < 3; i++) {
        if (mpk_read(r, &it) != 0 || it.type != MPK_UINT || it.v.u > INT32_MAX)
            return -1;
        v[i] = it.v.u;
    }
    if ((req = take_child(t, (int)v[0])) != NULL) {
        child_ended(req->child); /* its last lines before word of its end */
        req->exited(req, (int64_t)v[1], (int)v[2], NULL);
    }
    return 0;
}

static int on_frame(struct template *t, const char *body, size_t len)
{
    struct mpk_reader r;
    struct mpk_item it;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    if (it.v.u == FRAME_FORK)
        return on_forked(t, &r);
    if (it.v.u == FRAME_EXITED)
        return on_exited(t, &r);
    if (it.v.u == FRAME_READY && t->state == TPL_STARTING) {
        t->state = TPL_READY;
        t->started_ms = uv_now(t->pool->d->loop);
        log_debug("pool %s: template (pid %d) ready", t->pool->name, t->child.pid);
        ask_all(t);
        return 0;
    }
    return -1;
}

static struct template *of(struct child *ch)
{
    return container_of(ch, struct template, child);
}

/* Its socket broke (it exited, or sent garbage): make sure it goes. */
static void on_lost(struct child *ch, int err, const char *why)
{
    struct template *t = of(ch);

    if (err == 0)
        log_warn("pool %s: its template %s", t->pool->name, why);
    child_close_pipe(ch);
    if (t->state != TPL_DEAD)
        child_kill(ch, SIGKILL);
}

static int child_frame(struct child *ch, const char *body, size_t len)
{
    return on_frame(of(ch), body, len);
}

/* Both handles closed: start again, give up, or tell the pool it is gone. */
static void after_close(struct template *t)
{
    struct pool *p = t->pool;
    struct fork_req *req;
    bool healthy = t->started_ms != 0 && uv_now(p->d->loop) - t->started_ms >= TEMPLATE_HEALTHY_MS;

    if (child_handles_open(&t->child))
        return;
    if (!t->shutting_down && healthy) {
        spawn(t);
        return;
    }
    if (!t->shutting_down)
        log_warn("pool %s: its template died %s; its executors start as fresh processes",
                 p->name, t->started_ms == 0 ? "before it was ready" : "soon after it started");
    t->state = TPL_OFF;
    /* executors still waiting for a fork start the other way */
    while (t->nwaiting > 0) {
        req = t->waiting[0];
        unwait(t, 0);
        req->failed(req, true);
    }
    t->ended(t);
}

static void on_closed(struct child *ch)
{
    after_close(of(ch));
}

static void on_process_exit(struct child *ch, int64_t status, int sig)
{
    struct template *t = of(ch);
    struct pool *p = t->pool;
    struct fork_req *req;
    char why[128];

    if (!t->shutting_down)
        log_warn("pool %s: its template (pid %d) %s %lld", p->name, t->child.pid,
                 sig ? "was killed by signal" : "exited with status", sig ? (long long)sig : (long long)status);
    t->state = TPL_DEAD;
    t->asked = 0; /* forks asked of it will not come */
    /* its children die with it (PR_SET_PDEATHSIG); their exits will not
     * be reported */
    snprintf(why, sizeof why, "died with its pool's template (pid %d)", t->child.pid);
    while (t->nchildren > 0) {
        req = t->children[--t->nchildren];
        child_ended(req->child);
        req->exited(req, 0, SIGKILL, why);
    }
    child_close_pipe(ch);
}

static const struct child_ops child_ops = {
    .frame = child_frame,
    .lost = on_lost,
    .exit = on_process_exit,
    .closed = on_closed,
};

static void spawn(struct template *t)
{
    char name[128];
    int rc;

    snprintf(name, sizeof name, "%s/template", t->pool->name);
    t->state = TPL_STARTING;
    t->started_ms = 0;
    t->asked = 0;
    rc = child_spawn(&t->child, t->pool, name, -1, true);
    if (rc < 0) {
        log_error("pool %s: cannot start its template: %s", t->pool->name, uv_strerror(rc));
        t->state = TPL_DEAD;
        return;
    }
    log_debug("pool %s: template started, pid %d", t->pool->name, t->child.pid);
    if ((rc = child_flush(&t->child)) < 0)
        log_warn("pool %s: cannot write to its template: %s", t->pool->name, uv_strerror(rc));
}

static void on_write_done(struct outq *q, int status)
{
    struct template *t = container_of(q, struct template, child.out);

    if (status >= 0 && q->buf.size > 0)
        child_flush(&t->child);
}

struct template *template_new(struct pool *p, void (*ended)(struct template *t))
{
    struct template *t = xcalloc(1, sizeof *t);

    t->pool = p;
    t->ended = ended;
    child_init(&t->child, &child_ops, TEMPLATE_READ_CHUNK, on_write_done);
    spawn(t);
    return t;
}

void template_shutdown(struct template *t)
{
    if (t->shutting_down)
        return;
    t->shutting_down = true;
    if (t->state == TPL_OFF)
        return; /* its handles are closed and its pool knows */
    child_close_pipe(&t->child); /* it exits at EOF; its remaining children die with it */
    if (t->state != TPL_DEAD)
        child_kill(&t->child, SIGTERM);
}

void template_free(struct template *t)
{
    if (t == NULL)
        return;
    child_destroy(&t->child);
    free(t->waiting);
    free(t->children);
    free(t);
}
