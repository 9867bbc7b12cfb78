/* capture: see capture.h. */
#include "capture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* What is read from a dead process's pipe at most: a process it started
 * may still hold the pipe and keep writing; it is not waited for. */
#define CAPTURE_DRAIN_MAX (256u << 10)
#define CAPTURE_REPORT_MS 1000

static const char *const stream_names[] = {"stdout", "stderr"};

/* Every read lands here, and is cut into lines before the next one. */
static char chunk[65536];
/* One record: a line of LINESPLIT_MAX bytes escaped for JSON at worst
 * (6 bytes for one), and the tags. */
static char record[LINESPLIT_MAX * 6 + 1024];

/* The warning of the master's own about what was dropped since the last. */
static void report(struct capture *cap)
{
    uint64_t out = cap->out[CAPTURE_STDOUT].dropped, err = cap->out[CAPTURE_STDERR].dropped;
    char msg[512], why[200];
    struct log_field f[] = {
        {"pool", LOG_STR, cap->pool, 0},
        {"executor", LOG_STR, cap->name, 0},
        {"executor_pid", LOG_INT, NULL, cap->pid},
        {"dropped_stdout", LOG_INT, NULL, (long long)out},
        {"dropped_stderr", LOG_INT, NULL, (long long)err},
    };

    if (out == 0 && err == 0)
        return;
    snprintf(why, sizeof why, "%s%u lines a second%s%s", cap->over_rate ? "more than log.executor_output_rate: " : "",
             cap->rate, cap->log_behind ? "; " : "", cap->log_behind ? "the log was behind" : "");
    snprintf(msg, sizeof msg, "executor %s (pid %d): %llu lines of its stdout and %llu of its stderr dropped (%s)",
             cap->name, cap->pid, (unsigned long long)out, (unsigned long long)err,
             cap->over_rate ? why : "the log was behind");
    log_record(LOG_WARN, "", msg, f, countof(f));
    cap->out[CAPTURE_STDOUT].dropped = cap->out[CAPTURE_STDERR].dropped = 0;
    cap->over_rate = cap->log_behind = false;
}

static void on_report(uv_timer_t *t)
{
    report(t->data);
}

static void drop(struct capture *cap, struct capture_pipe *s, bool *why)
{
    s->dropped++;
    *why = true;
    if (!uv_is_active((uv_handle_t *)&cap->report_timer))
        uv_timer_start(&cap->report_timer, on_report, CAPTURE_REPORT_MS, 0);
}

/* One line's worth of the budget: a token bucket of `rate` lines that
 * fills at `rate` a second. */
static bool take_token(struct capture *cap)
{
    uint64_t now = uv_now(cap->report_timer.loop), full = (uint64_t)cap->rate * 1000;

    cap->tokens += (now - cap->refilled_ms) * cap->rate;
    cap->refilled_ms = now;
    if (cap->tokens > full)
        cap->tokens = full;
    if (cap->tokens < 1000)
        return false;
    cap->tokens -= 1000;
    return true;
}

/* linesplit's callback: one line (or piece) of s, logged or dropped. */
static void on_line(void *arg, const char *line, size_t len, unsigned part, bool last)
{
    struct capture_pipe *s = arg;
    struct capture *cap = s->cap;
    enum log_level level = s->stream == CAPTURE_STDOUT ? LOG_INFO : LOG_WARN;
    struct log_field f[] = {
        {"pool", LOG_STR, cap->pool, 0},
        {"executor", LOG_STR, cap->name, 0},
        {"executor_pid", LOG_INT, NULL, cap->pid},
        {"stream", LOG_STR, stream_names[s->stream], 0},
        {"part", LOG_INT, NULL, part},
        {"continues", LOG_BOOL, NULL, !last},
    };
    char prefix[256];
    size_t n;

    if (!log_enabled(level))
        return;
    if (!take_token(cap)) {
        drop(cap, s, &cap->over_rate);
        return;
    }
    if (part == 0)
        snprintf(prefix, sizeof prefix, "executor %s (pid %d) %s: ", cap->name, cap->pid, stream_names[s->stream]);
    else
        snprintf(prefix, sizeof prefix, "executor %s (pid %d) %s (part %u, %s): ", cap->name, cap->pid,
                 stream_names[s->stream], part, last ? "last" : "continues");
    n = log_format(record, sizeof record, level, prefix, line, len, f, part == 0 ? 4 : 6);
    if (!logq_captured(cap->logq, record, n))
        drop(cap, s, &cap->log_behind);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct capture_pipe *s = st->data;

    if (nread > 0) {
        linesplit_feed(&s->lines, buf->base, (size_t)nread, on_line, s);
        return;
    }
    if (nread == 0)
        return;
    /* end of file (the process, and what it started, closed the pipe) or
     * an error: nothing more comes */
    uv_read_stop(st);
    linesplit_end(&s->lines, on_line, s);
}

void capture_init(struct capture *cap, void (*closed)(struct capture *cap))
{
    int i;

    cap->closed = closed;
    for (i = 0; i < 2; i++) {
        cap->out[i].cap = cap;
        cap->out[i].stream = (enum capture_stream)i;
    }
}

int capture_pipes(int read[2], int write[2])
{
    uv_file out[2], err[2];
    int rc;

    if ((rc = uv_pipe(out, UV_NONBLOCK_PIPE, 0)) != 0)
        return rc;
    if ((rc = uv_pipe(err, UV_NONBLOCK_PIPE, 0)) != 0) {
        close(out[0]);
        close(out[1]);
        return rc;
    }
    read[CAPTURE_STDOUT] = out[0];
    write[CAPTURE_STDOUT] = out[1];
    read[CAPTURE_STDERR] = err[0];
    write[CAPTURE_STDERR] = err[1];
    return 0;
}

/* Both pipes are open in cap's handles: reading starts. */
static void start(struct capture *cap, uv_loop_t *loop, int pid, const struct capture_spec *spec)
{
    int i;

    cap->logq = spec->logq;
    snprintf(cap->pool, sizeof cap->pool, "%s", spec->pool);
    snprintf(cap->name, sizeof cap->name, "%s", spec->name);
    cap->pid = pid;
    cap->rate = spec->rate;
    cap->tokens = (uint64_t)spec->rate * 1000;
    cap->refilled_ms = uv_now(loop);
    cap->over_rate = cap->log_behind = false;
    uv_timer_init(loop, &cap->report_timer);
    cap->report_timer.data = cap;
    cap->timer_open = true;
    for (i = 0; i < 2; i++) {
        cap->out[i].dropped = 0;
        uv_read_start((uv_stream_t *)&cap->out[i].pipe, on_alloc, on_read);
    }
    cap->running = true;
}

static void init_pipe(struct capture_pipe *s, uv_loop_t *loop)
{
    uv_pipe_init(loop, &s->pipe, 0);
    s->pipe.data = s;
    s->open = true;
}

void capture_open(struct capture *cap, uv_loop_t *loop, const int read[2], int pid, const struct capture_spec *spec)
{
    int i;

    for (i = 0; i < 2; i++) {
        init_pipe(&cap->out[i], loop);
        if (uv_pipe_open(&cap->out[i].pipe, read[i]) != 0)
            close(read[i]); /* its handle reads nothing, and closes at the end */
    }
    start(cap, loop, pid, spec);
}

static void on_pipe_closed(uv_handle_t *h)
{
    struct capture_pipe *s = h->data;

    s->open = false;
    s->cap->closed(s->cap);
}

int capture_accept(struct capture *cap, uv_stream_t *server, int pid, const struct capture_spec *spec)
{
    int i, rc = 0, k;

    for (i = 0; i < 2; i++) {
        init_pipe(&cap->out[i], server->loop);
        k = uv_accept(server, (uv_stream_t *)&cap->out[i].pipe);
        rc = rc != 0 ? rc : k;
    }
    if (rc != 0) {
        for (i = 0; i < 2; i++)
            uv_close((uv_handle_t *)&cap->out[i].pipe, on_pipe_closed);
        return rc;
    }
    start(cap, server->loop, pid, spec);
    return 0;
}

/* Reads what the pipe holds (the process is gone, so it is all there is,
 * but for what a process it started may still write). */
static void drain(struct capture_pipe *s)
{
    uv_os_fd_t fd;
    size_t total = 0;
    ssize_t n;

    if (uv_fileno((uv_handle_t *)&s->pipe, &fd) != 0)
        return;
    while (total < CAPTURE_DRAIN_MAX) {
        n = read(fd, chunk, sizeof chunk);
        if (n <= 0)
            return; /* empty (EAGAIN), end of file, or an error */
        linesplit_feed(&s->lines, chunk, (size_t)n, on_line, s);
        total += (size_t)n;
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct capture *cap = h->data;

    cap->timer_open = false;
    cap->closed(cap);
}

void capture_end(struct capture *cap)
{
    int i;

    if (!cap->running)
        return;
    cap->running = false;
    for (i = 0; i < 2; i++) {
        drain(&cap->out[i]);
        linesplit_end(&cap->out[i].lines, on_line, &cap->out[i]);
        uv_close((uv_handle_t *)&cap->out[i].pipe, on_pipe_closed);
    }
    uv_timer_stop(&cap->report_timer);
    report(cap);
    uv_close((uv_handle_t *)&cap->report_timer, on_timer_closed);
}

bool capture_busy(const struct capture *cap)
{
    return cap->out[0].open || cap->out[1].open || cap->timer_open;
}
