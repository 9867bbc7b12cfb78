/* outq: batched writes with uv_try_write then uv_write. See outq.h. */
#include "outq.h"

#include <stdlib.h>

#include "xalloc.h"

/* A buffer that grew past this is given back once it is empty. */
#define OUTQ_KEEP (256 * 1024)

struct outq_write {
    uv_write_t req;
    struct outq *q;
    char *data;
};

void outq_init(struct outq *q, outq_done_fn done)
{
    msgpack_sbuffer_init(&q->buf);
    q->writing = false;
    q->done = done;
}

void outq_destroy(struct outq *q)
{
    msgpack_sbuffer_destroy(&q->buf);
}

void outq_reserve(msgpack_sbuffer *sb, size_t more)
{
    size_t want = sb->size + more;

    if (sb->alloc >= want)
        return;
    if (want < 2 * sb->alloc)
        want = 2 * sb->alloc;
    sb->data = xrealloc(sb->data, want);
    sb->alloc = want;
}

static void on_write(uv_write_t *req, int status)
{
    struct outq_write *w = (struct outq_write *)req;
    struct outq *q = w->q;

    free(w->data);
    free(w);
    q->writing = false;
    q->done(q, status);
}

int outq_flush(struct outq *q, uv_stream_t *s)
{
    struct outq_write *w;
    uv_buf_t buf;
    size_t done = 0;
    int n;

    if (q->writing || q->buf.size == 0)
        return 0;
    buf = uv_buf_init(q->buf.data, (unsigned)q->buf.size);
    n = uv_try_write(s, &buf, 1);
    if (n >= 0)
        done = (size_t)n;
    else if (n != UV_EAGAIN)
        return n;
    if (done == q->buf.size) {
        q->buf.size = 0;
        if (q->buf.alloc > OUTQ_KEEP) {
            msgpack_sbuffer_destroy(&q->buf);
            msgpack_sbuffer_init(&q->buf);
        }
        return 0;
    }
    w = malloc(sizeof *w);
    if (w == NULL)
        return UV_ENOMEM;
    w->q = q;
    w->data = q->buf.data;
    buf = uv_buf_init(q->buf.data + done, (unsigned)(q->buf.size - done));
    msgpack_sbuffer_release(&q->buf);
    q->writing = true;
    n = uv_write(&w->req, s, &buf, 1, on_write);
    if (n < 0) {
        q->writing = false;
        free(w->data);
        free(w);
    }
    return n;
}
