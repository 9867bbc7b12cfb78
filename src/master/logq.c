/* logq: see logq.h. */
#include "logq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

/* A buffer grown past this while the log was slow is given back once empty. */
#define LOGQ_KEEP (64u << 10)

/* Writes what it can of data without waiting (LOGQ_BLOCKING: all of it,
 * as the log takes it). Returns the bytes taken, or -1 with errno. */
static ssize_t put(const struct logq *q, const char *data, size_t n)
{
    if (q->kind == LOGQ_SOCKET)
        return send(q->fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    return write(q->fd, data, n);
}

/* Writes data whole, waiting for the log as long as it takes (stderr's
 * own description blocks). */
static void put_blocking(const char *data, size_t n)
{
    ssize_t k;

    while (n > 0) {
        k = write(STDERR_FILENO, data, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return; /* the log is gone */
        data += k;
        n -= (size_t)k;
    }
}

static void consumed(struct logq *q, size_t n)
{
    q->head += n;
    q->len -= n;
    if (q->len > 0)
        return;
    q->head = 0;
    if (q->cap > LOGQ_KEEP) {
        free(q->buf);
        q->buf = NULL;
        q->cap = 0;
    }
}

static void on_retry(uv_timer_t *t);

/* Writes what waits, as far as the log takes it now. */
static void flush(struct logq *q)
{
    ssize_t k;

    while (q->len > 0) {
        k = put(q, q->buf + q->head, q->len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!uv_is_active((uv_handle_t *)&q->retry))
                uv_timer_start(&q->retry, on_retry, LOGQ_RETRY_MS, LOGQ_RETRY_MS);
            return;
        }
        if (k <= 0) { /* the log is gone: nothing will read what waits */
            consumed(q, q->len);
            break;
        }
        consumed(q, (size_t)k);
    }
    uv_timer_stop(&q->retry);
}

static void on_retry(uv_timer_t *t)
{
    flush(t->data);
}

static void append(struct logq *q, const char *rec, size_t len)
{
    if (q->head + q->len + len > q->cap && q->head > 0) {
        memmove(q->buf, q->buf + q->head, q->len);
        q->head = 0;
    }
    if (q->len + len > q->cap) {
        q->cap = q->cap * 2 > q->len + len ? q->cap * 2 : q->len + len + 4096;
        q->buf = xrealloc(q->buf, q->cap);
    }
    memcpy(q->buf + q->head + q->len, rec, len);
    q->len += len;
}

/* Writes everything waiting, then stops waiting: the log took it all. */
static void drain_blocking(struct logq *q)
{
    put_blocking(q->buf + q->head, q->len);
    consumed(q, q->len);
    uv_timer_stop(&q->retry);
}

/* log.h's sink: the master's own records. */
static void own(const char *rec, size_t len, void *arg)
{
    struct logq *q = arg;

    if (!q->open) {
        put_blocking(rec, len);
        return;
    }
    append(q, rec, len);
    flush(q);
    if (q->len > LOGQ_OWN_MAX)
        drain_blocking(q);
}

bool logq_captured(struct logq *q, const char *rec, size_t len)
{
    if (!q->open) {
        put_blocking(rec, len);
        return true;
    }
    if (q->len + len > LOGQ_CAPTURED_MAX)
        return false;
    append(q, rec, len);
    flush(q);
    return true;
}

/* How to write to stderr without waiting: see the top of logq.h. */
static void choose_kind(struct logq *q)
{
    struct stat st;
    int fd;

    q->kind = LOGQ_BLOCKING;
    q->fd = STDERR_FILENO;
    if (fstat(STDERR_FILENO, &st) != 0)
        return;
    if (S_ISSOCK(st.st_mode)) {
        q->kind = LOGQ_SOCKET;
        return;
    }
    if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
        return;
    fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return; /* e.g. a pipe not ours to open: written blocking, as before */
    q->kind = LOGQ_REOPENED;
    q->fd = fd;
}

void logq_init(struct logq *q, uv_loop_t *loop)
{
    memset(q, 0, sizeof *q);
    choose_kind(q);
    uv_timer_init(loop, &q->retry);
    q->retry.data = q;
    q->open = true;
    log_set_sink(own, q);
}

void logq_close(struct logq *q)
{
    if (!q->open)
        return;
    drain_blocking(q);
    q->open = false;
    free(q->buf);
    q->buf = NULL;
    q->cap = 0;
    if (q->kind == LOGQ_REOPENED)
        close(q->fd);
    uv_close((uv_handle_t *)&q->retry, NULL);
}
