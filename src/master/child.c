/* child: spawning or adopting a pyrpool-executor, its INIT frame, its
 * frames, its output and its handles. See child.h. */
#include "child.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "board.h"
#include "daemon.h"
#include "log.h"
#include "frame.h"
#include "init.h"
#include "pool.h"
#include "tally.h"
#include "util.h"

static void on_capture_closed(struct capture *cap)
{
    struct child *ch = container_of(cap, struct child, capture);

    ch->ops->closed(ch);
}

void child_init(struct child *ch, const struct child_ops *ops, size_t read_chunk, outq_done_fn write_done)
{
    ch->ops = ops;
    ch->read_chunk = read_chunk;
    outq_init(&ch->out, write_done);
    capture_init(&ch->capture, on_capture_closed);
}

/* Whose output a process of p named name writes, and its budget. */
static struct capture_spec capture_spec(struct pool *p, const char *name)
{
    return (struct capture_spec){.logq = &p->d->logq, .pool = p->name, .name = name,
                                 .rate = p->cfg->log_executor_output_rate};
}

/* Appends the INIT frame for p's executors (or its template) to sb;
 * captured: their output is. */
static void pack_init(msgpack_sbuffer *sb, const struct pool *p, const char *name, int board, bool captured)
{
    const struct config *cfg = p->cfg;
    struct frame_init init = {
        .path = cfg->python_path,
        .npath = cfg->npython_path,
        .preload = cfg->preload,
        .npreload = cfg->npreload,
        .allow_eval = cfg->allow_eval,
        .threads = p->mode == POOL_THREAD,
        .template = board < 0,
        .handback_ms = cfg->handback_ms,
        .slow_call_ms = (unsigned)((p->spec.slow_call >= 0 ? p->spec.slow_call : cfg->slow_call) * 1000.0 + 0.5),
        .spin_us = cfg->spin_us,
        .board = board,
        .uid = p->spec.uid,
        .gid = p->spec.gid,
        .strict_names = cfg->allow_set,
        .capture_output = captured,
    };

    snprintf(init.name, sizeof init.name, "%s", name);
    if (cfg->venv != NULL)
        snprintf(init.venv, sizeof init.venv, "%s", cfg->venv);
    init.log_level = (unsigned)(p->d->verbose ? LOG_DEBUG : cfg->log_level);
    init.log_json = cfg->log_json;
    init_pack(sb, &init);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct child *ch = h->data;

    (void)suggested;
    if (rbuf_reserve(&ch->in, ch->read_chunk) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(rbuf_end(&ch->in), (unsigned)rbuf_room(&ch->in));
}

int child_read_frames(struct child *ch)
{
    size_t off = 0;
    int64_t body;

    while (ch->in.len - off >= FRAME_PREFIX) {
        body = frame_body_len(ch->in.data + off);
        if (body < 0) {
            ch->ops->lost(ch, 0, "sent a malformed frame");
            return -1;
        }
        if (ch->in.len - off - FRAME_PREFIX < (size_t)body) {
            rbuf_reserve(&ch->in, (size_t)body + FRAME_PREFIX - (ch->in.len - off));
            break;
        }
        if (ch->ops->frame(ch, ch->in.data + off + FRAME_PREFIX, (size_t)body) != 0) {
            ch->ops->lost(ch, 0, "sent a frame the master does not understand");
            return -1;
        }
        off += FRAME_PREFIX + (size_t)body;
    }
    rbuf_consume(&ch->in, off);
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct child *ch = s->data;

    (void)buf;
    if (nread < 0) {
        ch->ops->lost(ch, (int)nread, nread == UV_EOF ? "closed its pipe" : uv_strerror((int)nread));
        return;
    }
    ch->in.len += (size_t)nread;
    tally_tick(); /* the results this read brings end at this time */
    child_read_frames(ch);
}

void child_drain(struct child *ch)
{
    uv_os_fd_t fd;
    ssize_t n;

    child_ended(ch);
    if (!child_pipe_usable(ch) || uv_fileno((uv_handle_t *)&ch->pipe, &fd) != 0)
        return;
    for (;;) {
        if (rbuf_reserve(&ch->in, ch->read_chunk) != 0)
            return;
        n = recv(fd, rbuf_end(&ch->in), rbuf_room(&ch->in), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        ch->in.len += (size_t)n;
        if (child_read_frames(ch) != 0)
            return;
    }
}

static void on_pipe_closed(uv_handle_t *h)
{
    struct child *ch = h->data;

    ch->pipe_open = false;
    ch->ops->closed(ch);
}

static void on_proc_closed(uv_handle_t *h)
{
    struct child *ch = h->data;

    ch->proc_open = false;
    ch->ops->closed(ch);
}

static void on_process_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct child *ch = proc->data;

    capture_end(&ch->capture); /* its last lines before word of its end */
    ch->ops->exit(ch, status, sig);
    uv_close((uv_handle_t *)proc, on_proc_closed);
}

/* Pipes for the stdout and stderr of a process named name that is about
 * to start, when p's config captures them. Returns true when it made them. */
static bool make_pipes(const struct pool *p, const char *name, int rd[2], int wr[2])
{
    int rc;

    if (!p->cfg->log_executor_output)
        return false;
    if ((rc = capture_pipes(rd, wr)) == 0)
        return true;
    log_warn("executor %s: cannot capture its output (%s): it writes to the daemon's stdout and stderr",
             name, uv_strerror(rc));
    return false;
}

/* The new process's descriptors: no stdin; stdout and stderr the write
 * ends wr of its capture pipes (the daemon's own when not captured); its
 * socket; the boards; the daemon's stderr for its own log lines. */
static void fill_stdio(uv_stdio_container_t stdio[FRAME_LOG_FD + 1], struct child *ch, const struct pool *p,
                       const int wr[2])
{
    memset(stdio, 0, (FRAME_LOG_FD + 1) * sizeof *stdio);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = ch->captured ? wr[CAPTURE_STDOUT] : 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = ch->captured ? wr[CAPTURE_STDERR] : 2;
    stdio[FRAME_MASTER_FD].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[FRAME_MASTER_FD].data.stream = (uv_stream_t *)&ch->pipe;
    stdio[BOARD_FD].flags = UV_INHERIT_FD;
    stdio[BOARD_FD].data.fd = p->boards.fd;
    stdio[FRAME_LOG_FD].flags = UV_INHERIT_FD;
    stdio[FRAME_LOG_FD].data.fd = 2;
}

static void close_pair(const int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

int child_spawn(struct child *ch, struct pool *p, const char *name, int board, bool ipc)
{
    struct daemon *d = p->d;
    uv_process_options_t o;
    uv_stdio_container_t stdio[FRAME_LOG_FD + 1];
    struct capture_spec spec;
    int rd[2], wr[2];
    char *args[4];
    int rc;

    args[0] = d->executor_path;
    args[1] = "--name";
    args[2] = (char *)name;
    args[3] = NULL;
    memset(&o, 0, sizeof o);
    ch->captured = make_pipes(p, name, rd, wr);
    fill_stdio(stdio, ch, p, wr);
    o.file = d->executor_path;
    o.args = args;
    o.exit_cb = on_process_exit;
    o.stdio = stdio;
    o.stdio_count = FRAME_LOG_FD + 1;
    child_reset(ch);
    uv_pipe_init(d->loop, &ch->pipe, ipc);
    ch->pipe.data = ch;
    rc = uv_spawn(d->loop, &ch->proc, &o);
    ch->proc.data = ch;
    ch->pipe_open = ch->proc_open = true;
    if (ch->captured)
        close_pair(wr); /* the process's ends */
    if (rc < 0) {
        if (ch->captured)
            close_pair(rd);
        uv_close((uv_handle_t *)&ch->pipe, on_pipe_closed);
        uv_close((uv_handle_t *)&ch->proc, on_proc_closed);
        return rc;
    }
    ch->pid = ch->proc.pid;
    uv_read_start((uv_stream_t *)&ch->pipe, on_alloc, on_read);
    if (ch->captured) {
        spec = capture_spec(p, name);
        capture_open(&ch->capture, d->loop, rd, ch->pid, &spec);
    }
    pack_init(&ch->out.buf, p, name, board, ch->captured);
    return 0;
}

int child_accept(struct child *ch, struct pool *p, const char *name, int pid, uv_pipe_t *server, bool output)
{
    struct capture_spec spec = capture_spec(p, name);
    int rc, k;

    uv_pipe_init(p->d->loop, &ch->pipe, 0);
    ch->pipe.data = ch;
    rc = uv_accept((uv_stream_t *)server, (uv_stream_t *)&ch->pipe);
    ch->captured = output;
    if (output) { /* taken off server whether the socket came or not */
        k = capture_accept(&ch->capture, (uv_stream_t *)server, pid, &spec);
        rc = rc != 0 ? rc : k;
    }
    if (rc != 0) {
        ch->pipe_open = true;
        uv_close((uv_handle_t *)&ch->pipe, on_pipe_closed);
        capture_end(&ch->capture);
    }
    return rc;
}

void child_adopt(struct child *ch, int pid)
{
    ch->pid = pid;
    ch->pipe_open = true;
    ch->pipe.data = ch;
    uv_read_start((uv_stream_t *)&ch->pipe, on_alloc, on_read);
}

void child_ended(struct child *ch)
{
    capture_end(&ch->capture);
}

bool child_handles_open(const struct child *ch)
{
    return ch->pipe_open || ch->proc_open || capture_busy(&ch->capture);
}

bool child_pipe_usable(const struct child *ch)
{
    return ch->pipe_open && !uv_is_closing((const uv_handle_t *)&ch->pipe);
}

void child_close_pipe(struct child *ch)
{
    if (child_pipe_usable(ch))
        uv_close((uv_handle_t *)&ch->pipe, on_pipe_closed);
}

void child_kill(struct child *ch, int sig)
{
    if (ch->proc_open && !uv_is_closing((uv_handle_t *)&ch->proc))
        uv_process_kill(&ch->proc, sig);
}

int child_flush(struct child *ch)
{
    if (!child_pipe_usable(ch)) {
        ch->out.buf.size = 0;
        return 0;
    }
    return outq_flush(&ch->out, (uv_stream_t *)&ch->pipe);
}

void child_reset(struct child *ch)
{
    rbuf_consume(&ch->in, ch->in.len);
    ch->out.buf.size = 0;
}

void child_destroy(struct child *ch)
{
    rbuf_release(&ch->in);
    outq_destroy(&ch->out);
}
