/* reply: how a call ends: answered with an executor's result, failed with a
 * daemon error, or dropped because its client is gone. Each ends the call's
 * share of its client's in-flight count and frees it. Calls that are chunks
 * of a map request are gathered here and answered as one array, in order. */
#ifndef PYRPOOL_REPLY_H
#define PYRPOOL_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "call.h"

struct conn;

/* A map request in progress: its chunks are calls. */
struct map_job {
    struct conn *conn;
    uint8_t msgid_len;
    char msgid[RPC_MSGID_MAX];
    uint32_t total;       /* items */
    uint32_t nchunks;
    uint32_t cap;         /* parts allocated */
    uint32_t remaining;   /* chunks not finished */
    struct map_part {
        char *data;       /* the chunk's result items, packed, without the array header */
        size_t len;
    } *parts;
    char *error;          /* error map of the lowest failing chunk, packed */
    size_t error_len;
    uint32_t error_chunk;
};

/* A new job for total items; the caller counts it once in its connection's
 * in-flight calls, then adds its chunks. Never NULL (aborts on OOM). */
struct map_job *map_job_new(struct conn *c, struct rpc_raw msgid, uint32_t total);

/* Makes call the job's next chunk. Chunks complete in later loop turns, so
 * a job is built whole before any of its answers arrive. */
void map_job_add(struct map_job *job, struct call *call);

/* Answers c with tail = the packed error and result of an executor's
 * RESULT frame. */
void reply_result(struct call *c, const char *tail, size_t len);

/* Answers c with the daemon error {type, message}. */
void reply_error(struct call *c, const char *type, const char *message);

/* The same with a traceback text (NULL for none). */
void reply_error_traceback(struct call *c, const char *type, const char *message, const char *traceback);

/* Ends c without an answer (its client has gone). */
void reply_drop(struct call *c);

#endif
