/* outq: an output buffer for one stream, written once per loop turn.
 *
 * Producers append with msgpack-c (outq.buf is a msgpack_sbuffer). outq_flush
 * tries a direct write first; what the socket does not take goes out with one
 * uv_write that owns those bytes until its callback, while new output keeps
 * accumulating in a fresh buffer. Shared by client connections and executors. */
#ifndef PYRPOOL_OUTQ_H
#define PYRPOOL_OUTQ_H

#include <stdbool.h>

#include <msgpack.h>
#include <uv.h>

struct outq;

/* Called when a uv_write ends (status < 0 on failure, UV_ECANCELED on close). */
typedef void (*outq_done_fn)(struct outq *q, int status);

struct outq {
    msgpack_sbuffer buf;
    bool writing;   /* a uv_write is in progress */
    outq_done_fn done;
};

void outq_init(struct outq *q, outq_done_fn done);
void outq_destroy(struct outq *q);

/* Makes room for more bytes at the end of sb in one step (msgpack-c grows a
 * buffer by doubling, copying it at each step: a large message known in
 * advance is better allocated once). Aborts on OOM. */
void outq_reserve(msgpack_sbuffer *sb, size_t more);

/* Writes what q holds to s. Returns 0 (written or in progress) or a negative
 * libuv error, after which the caller closes the stream. */
int outq_flush(struct outq *q, uv_stream_t *s);

#endif
