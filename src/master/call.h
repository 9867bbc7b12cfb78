/* call: one client request on its way to an executor and back.
 *
 * A call is created by the method layer with its executor frame already
 * encoded (so the client's read buffer can be reused at once), queued in its
 * pool or handed to an executor, and freed when answered. Calls are recycled
 * through a free list: no malloc per call once the daemon is warm. */
#ifndef PYRPOOL_CALL_H
#define PYRPOOL_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "deadline.h"
#include "rpc.h"

struct conn;
struct pool;
struct executor;
struct map_job;
struct lane;

/* An executor is sent at most this many calls, or about this many bytes
 * of frames, per batch (pool.c fills them, executor.c sends them). */
#define BATCH_MAX 64
#define BATCH_BYTES (64 * 1024)

struct call {
    struct call *next, *prev;  /* pool queue or executor's in-flight list */
    struct call *cnext, *cprev; /* its connection's calls (for cancel) */
    uint64_t id;               /* the daemon's id, sent to the executor */
    struct conn *conn;         /* who asked; NULL once that client is gone */
    struct pool *pool;
    struct lane *lane;         /* where it queues in its pool */
    struct executor *ex;       /* running on, or NULL while queued */
    bool dispatched;           /* counted in its connection's calls on executors */
    uint8_t msgid_len;
    char msgid[RPC_MSGID_MAX]; /* the client's msgid bytes, echoed verbatim */
    uint32_t msgid_value;
    struct map_job *job;       /* set when this call is one chunk of a map */
    double timeout;            /* opts.timeout, seconds; 0 for none */
    struct deadline deadline;  /* when it times out (d->deadlines) */
    size_t timeout_slot;       /* offset in frame of the 4-byte timeout_ms */
    bool backstop;             /* its deadline passed while running: the
                                * executor stops it; this is the fallback */
    uint32_t chunk;            /* which chunk */
    uint16_t slot;             /* its slot on its executor's board */
    bool frame_given;          /* its frame bytes went to the executor's output
                                * buffer (a large call): it cannot be sent again */
    uint64_t fn_hash;          /* its function's name hash once computed (0: not yet) */
    uint64_t queued_ns, sent_ns; /* log.calls only: when it queued, when an executor took it */
    msgpack_sbuffer frame;     /* the executor frame, prefix included */
};

struct call_list {
    struct call *head, *tail;
    size_t len;
};

/* A fresh call with an empty frame buffer (never NULL: aborts on OOM). */
struct call *call_new(void);

/* Hash of the name "module.function" (FNV-1a), never 0. */
uint64_t call_name_hash(const char *module, size_t mlen, const char *function, size_t flen);

/* Hash of the function c calls ("eval" and "exec" for those), computed from
 * its frame once and kept in c->fn_hash. */
uint64_t call_fn_hash(struct call *c);

/* Writes the name of the function c calls into buf ("?" once its frame was
 * given away). */
void call_fn_name(const struct call *c, char *buf, size_t len);

/* Returns c to the free list. */
void call_free(struct call *c);

/* Frees the calls kept for reuse (at exit, for leak checkers). */
void call_free_cache(void);

static inline struct rpc_raw call_msgid(const struct call *c)
{
    return (struct rpc_raw){c->msgid, c->msgid_len};
}

void call_list_push(struct call_list *l, struct call *c);
void call_list_push_front(struct call_list *l, struct call *c);
struct call *call_list_pop(struct call_list *l);
void call_list_remove(struct call_list *l, struct call *c);

#endif
