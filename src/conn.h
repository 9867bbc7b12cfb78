/* conn: one client connection (Unix or TCP).
 *
 * Reads bytes into a growing buffer and runs each complete message in it:
 * a whole, well-formed request at the front is decoded and run in one pass
 * (method_dispatch_prefix); anything else is cut out with the resumable
 * scanner, so that a message arriving in many reads is scanned once, and
 * handed to method_dispatch, which says what is wrong with it. Answers
 * are appended to one output buffer per connection and written once per loop
 * turn (try-write first, then one uv_write for the rest). With
 * limits.max_inflight calls in flight it stops reading (backpressure) until
 * half of them are answered. A connection is freed only after its handle is
 * closed and no call of it is in flight. */
#ifndef PYRPOOL_CONN_H
#define PYRPOOL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "mpk.h"
#include "outq.h"
#include "rbuf.h"
#include "rpc.h"

struct daemon;

struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    struct daemon *d;
    uint64_t id;
    struct rbuf in;
    struct mpk_scan scan;   /* progress through the message at in.data */
    struct outq out;        /* answers not yet written */
    msgpack_packer pk;      /* packs into out */
    struct conn *next_dirty;
    struct conn *prev, *next; /* the daemon's list of connections */
    size_t ncalls;          /* calls in flight that answer here */
    struct call *calls;     /* those calls (map chunks one by one) */
    bool dirty;             /* on d->dirty_conns */
    bool paused;            /* limits.max_inflight reached: not reading */
    bool closing;           /* uv_close called */
    bool handle_closed;     /* close callback ran */
};

/* Accepts a client on server (a listening tcp or pipe handle). Returns 0 or a
 * negative libuv error. */
int conn_accept(struct daemon *d, uv_stream_t *server, bool tcp);

/* The packer for this connection's output; marks it for flushing. */
msgpack_packer *conn_out(struct conn *c);

/* Answers [1, msgid, <tail>] where tail is an error and a result already
 * packed (relayed from an executor). */
void conn_respond_raw(struct conn *c, struct rpc_raw msgid, const char *tail, size_t tail_len);

/* Answers [1, msgid, {type, message, traceback: nil}, nil]. */
void conn_respond_error(struct conn *c, struct rpc_raw msgid, const char *type, const char *message);

/* A call of c is about to run / has been answered or dropped. */
void conn_call_started(struct conn *c);
void conn_call_done(struct conn *c);

/* Keeps call on c's list (for cancel) / takes it off. */
void conn_track(struct conn *c, struct call *call);
void conn_untrack(struct conn *c, struct call *call);

/* Cancels the calls of c with this msgid: each is answered Cancelled at
 * once and stopped (pool_abort). Returns how many there were. */
size_t conn_cancel(struct conn *c, uint32_t msgid);

/* Closes the connection (its calls' answers will be discarded). */
void conn_close(struct conn *c);

/* Writes what c has buffered. Called from the flush hooks only. */
void conn_flush(struct conn *c);

#endif
