/* conn: one client connection (Unix or TCP).
 *
 * Reads bytes into a growing buffer and runs each complete message in it:
 * a whole, well-formed request at the front is decoded and run in one pass
 * (the handler's dispatch_prefix); anything else is cut out with the
 * resumable scanner, so that a message arriving in many reads is scanned
 * once, and handed to the handler's dispatch, which says what is wrong with
 * it. The handler (method.c's) is given at accept: the connection knows
 * nothing of methods or pools, it reports to its handler. Answers
 * are appended to one output buffer per connection and written once per loop
 * turn (try-write first, then one uv_write for the rest). With
 * limits.max_inflight calls in flight it stops reading (backpressure) until
 * half of them are answered; a paused connection found ready to read again
 * is only marked, and takes its buffered requests in at the next flush
 * (conn_flush), so that an answer being relayed never decodes new requests
 * on the way. A connection is freed only after its handle is closed and no
 * call of it is in flight.
 *
 * Slow clients: a request must arrive whole within limits.request_timeout
 * of its first byte (a client sending a byte a second does not hold a
 * connection forever); with limits.idle_timeout set, a connection with
 * nothing in flight and nothing arriving for that long is closed.
 *
 * Its unwritten answers also bound what more of its calls go to executors
 * (conn_dispatch_room): over limits.max_output none do until it drains;
 * below it, only as many as its largest recent answer says fit, so a client
 * that does not read holds about max_output of the master's memory plus the
 * calls it had running, not max_inflight answers. */
#ifndef PYRPOOL_CONN_H
#define PYRPOOL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "deadline.h"
#include "mpk.h"
#include "outq.h"
#include "rbuf.h"
#include "rpc.h"

struct daemon;
struct call;
struct conn;
struct lane;

/* Which of a connection's deadlines runs (see the top). */
enum conn_timer { CONN_TIMER_NONE, CONN_TIMER_REQUEST, CONN_TIMER_IDLE, CONN_TIMER_REFUSE };

/* How long a refused connection waits for its answer (conn_refuse). */
#define CONN_REFUSE_DELAY_MS 250

/* What a client on this connection may do, from its listener. */
struct conn_access {
    bool admin;          /* admin methods allowed */
    const char *token;   /* NULL: none needed; else its first request must be auth [token] */
    enum error_shape errors; /* the shape of its error answers at first */
};

/* What a connection's owner does with it (method.c's method_handler). */
struct conn_handler {
    /* The fast way in for a message at the start of buf (len bytes, maybe
     * more or less than the message): runs it when it is whole, well formed
     * and at most max bytes long, and returns its length; else 0, and the
     * connection frames it with the scanner and calls dispatch. */
    size_t (*dispatch_prefix)(struct conn *c, const char *buf, size_t len, size_t max);
    /* Handles one complete MessagePack message from c. */
    void (*dispatch)(struct conn *c, const char *msg, size_t len);
    /* c may have calls dispatched again (conn_dispatch_room grew). */
    void (*room)(struct conn *c);
    /* c is about to be freed: no call of it is left anywhere. */
    void (*freed)(struct conn *c);
};

/* What one listener's connections add up to (the stats method). The
 * daemon owns these (d->listen_counts): connections outlive a listener
 * that stopped accepting at a drain. */
struct listen_counts {
    char name[300];         /* the listener's: "unix:PATH" or "tcp:HOST:PORT" */
    uint64_t open;          /* connections now */
    uint64_t accepted, requests, bytes_in, bytes_out;
};

struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    struct daemon *d;
    const struct conn_handler *handler;
    struct conn_access access;
    struct listen_counts *counts; /* its listener's */
    bool authed;            /* access.token is NULL, or auth carried it */
    enum error_shape errors; /* its error answers' shape: access.errors, or hello's */
    bool close_after_write; /* closes once its answers are written */
    char *last_words;       /* close_after_write: a BadRequest (msgid nil) to send
                             * once its calls are answered, then close */
    bool refusing;          /* conn_refuse: its answer waits for the timer */
    const char *refuse_type, *refuse_message;
    struct rpc_raw refuse_msgid;
    char refuse_msgid_buf[RPC_MSGID_MAX];
    uint64_t id;
    struct rbuf in;
    struct mpk_scan scan;   /* progress through the message at in.data */
    struct outq out;        /* answers not yet written */
    msgpack_packer pk;      /* packs into out */
    struct conn *next_dirty;
    struct conn *prev, *next; /* the daemon's list of connections */
    size_t ncalls;          /* calls in flight that answer here */
    struct call *calls;     /* those calls (map chunks one by one) */
    struct lane *lanes;     /* its queues, one per pool it called (pool.h) */
    size_t dispatched;      /* its calls on executors, not answered yet */
    uint64_t consumed;      /* bytes of its stream taken in before in.data */
    uint64_t partial_since; /* loop time the request now arriving began; 0: none */
    struct deadline timer;  /* in d->conn_deadlines while one of these runs: */
    enum conn_timer timer_kind;
    size_t answer_est;      /* its answers' size lately (largest, decaying); 0: none yet */
    bool held;              /* calls wait: conn_dispatch_room said 0 */
    bool dirty;             /* on d->dirty_conns */
    bool paused;            /* limits.max_inflight reached: not reading */
    bool resume;            /* paused, and may read again: at the next flush */
    bool closing;           /* uv_close called */
    bool handle_closed;     /* close callback ran */
};

/* Accepts a client on server (a listening tcp or pipe handle); handler
 * runs what it sends. Returns 0 or a negative libuv error. */
int conn_accept(struct daemon *d, uv_stream_t *server, bool tcp, const struct conn_handler *handler,
                const struct conn_access *access, struct listen_counts *counts);

/* The packer for this connection's output; marks it for flushing. */
msgpack_packer *conn_out(struct conn *c);

/* Every answer goes out through these three, which give errors the
 * connection's shape (c->errors; rpc_pack_error_shaped). */

/* Answers [1, msgid, <tail>] where tail is an error and a result already
 * packed (relayed from an executor). */
void conn_respond_raw(struct conn *c, struct rpc_raw msgid, const char *tail, size_t tail_len);

/* Answers [1, msgid, {type, message, traceback: nil}, nil]. */
void conn_respond_error(struct conn *c, struct rpc_raw msgid, const char *type, const char *message);

/* Answers [1, msgid, err, nil] where err is a packed error map. */
void conn_respond_error_map(struct conn *c, struct rpc_raw msgid, const char *err, size_t len);

/* An answer that comes later than the request's loop turn (start_pool,
 * reload, get_context right after a start): who asked, with which msgid.
 * Its connection is kept (counted as a call in flight) until
 * conn_later_done, after the answer, or without one when it closed. */
struct conn_later {
    struct conn *conn;
    uint8_t msgid_len;
    char msgid[RPC_MSGID_MAX];
};

void conn_later_init(struct conn_later *l, struct conn *c, struct rpc_raw msgid);

static inline struct rpc_raw conn_later_msgid(const struct conn_later *l)
{
    return (struct rpc_raw){l->msgid, l->msgid_len};
}

void conn_later_done(struct conn_later *l);

/* A call of c is about to run / has been answered or dropped. */
void conn_call_started(struct conn *c);
void conn_call_done(struct conn *c);

/* How many more of c's calls may go to executors now (see the top). */
size_t conn_dispatch_room(struct conn *c);

/* call of c went to an executor / came back from it (answered, or queued
 * again); answered with len bytes of error and result. */
void conn_call_dispatched(struct conn *c, struct call *call);
void conn_call_undispatched(struct conn *c, struct call *call);
void conn_call_answered(struct conn *c, size_t len);

/* Keeps call on c's list (for cancel) / takes it off. */
void conn_track(struct conn *c, struct call *call);
void conn_untrack(struct conn *c, struct call *call);

/* Closes the connection (its calls' answers will be discarded). */
void conn_close(struct conn *c);

/* Reads no more from c and closes it once what it has been answered so far
 * is written. */
void conn_close_after_write(struct conn *c);

/* Reads no more from c; after CONN_REFUSE_DELAY_MS answers msgid (nil: a
 * notification, no answer) with the error type/message (static strings)
 * and closes: an authentication failure, so that each guess of a token
 * costs a connection and that delay. */
void conn_refuse(struct conn *c, struct rpc_raw msgid, const char *type, const char *message);

/* The daemon's policy for a connection's deadline (d->conn_deadlines'
 * callback): a request that began arriving limits.request_timeout ago and
 * is still not whole closes the connection (a BadRequest says so, after
 * the answers to what came before); a connection with nothing in flight
 * and nothing arriving for limits.idle_timeout is closed. */
void conn_expired(struct deadlines *set, struct deadline *e);

/* Writes what c has buffered, and takes in the requests a paused c holds
 * once it may read again. Called from the flush hooks only. */
void conn_flush(struct conn *c);

#endif
