/* wire: the client's side of MessagePack-RPC framing: the send buffer that
 * requests are packed into, the receive buffer that the stream is cut into
 * messages in, and the decoding of one response message into its msgid,
 * error and result. The client uses exactly these on the socket; the tests
 * run the shared protocol vectors through them. */
#ifndef PYRPOOL_CLIENT_WIRE_H
#define PYRPOOL_CLIENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "mpk.h"

/* Bytes packed and not yet written: data[head, len). */
struct wire_out {
    char *data;
    size_t head, len, cap;
    bool failed; /* a write into it ran out of memory */
};

void wire_out_init(struct wire_out *o);
void wire_out_free(struct wire_out *o);

/* msgpack_packer's writer (data: the struct wire_out). */
int wire_out_write(void *data, const char *buf, size_t len);

/* Packs [0, msgid, method, (the caller packs params next). */
int wire_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method);

/* Packs the notification [2, "cancel", [msgid]]. */
int wire_pack_cancel(msgpack_packer *pk, uint32_t msgid);

/* Bytes read and not yet cut into messages: buf[start, end). */
struct wire_in {
    char *buf;
    size_t start, end, cap;
    size_t max;           /* the largest message accepted */
    struct mpk_scan scan; /* how far the message at start has been scanned */
};

void wire_in_init(struct wire_in *in, size_t max);
void wire_in_free(struct wire_in *in);

/* One read(2) of what fd holds into the buffer: > 0 bytes, 0 at EOF, -1
 * with errno set (EAGAIN when nothing is there, ENOMEM). *drained (if not
 * NULL) tells whether the read took less than it had room for, i.e. the
 * socket was empty then (another read would only say EAGAIN). */
ssize_t wire_in_read(struct wire_in *in, int fd, bool *drained);

/* The next complete message: its length (> 0) with *msg set, 0 when more
 * bytes are needed, or a MPK_E* code (the stream is broken). The message's
 * bytes stay valid until the next call. */
ssize_t wire_in_next(struct wire_in *in, const char **msg);

/* Decodes one message's bytes (from wire_in_next) into an object that lives
 * in a new zone (*zone, the caller's to free), the bytes being copied into
 * that zone too. Returns 0, PYRPOOL_ERR_PROTOCOL (err says why: bytes that
 * are not one MessagePack object, or nesting msgpack-c does not decode) or
 * PYRPOOL_ERR_NOMEM. */
int wire_unpack(const char *bytes, size_t len, msgpack_zone **zone, const msgpack_object **obj,
                pyrpool_error *err);

/* A response [1, msgid, error, result], pointing into the message. */
struct wire_response {
    bool has_msgid;               /* false for a nil msgid */
    uint32_t msgid;
    const msgpack_object *error;  /* NULL when the error slot is nil */
    const msgpack_object *result;
};

/* Reads the envelope of a response. Returns 0, or PYRPOOL_ERR_PROTOCOL
 * (with err filled) when msg is not a response. */
int wire_response(const msgpack_object *msg, struct wire_response *r, pyrpool_error *err);

/* What a response means for its caller: 0 when it carries a result, else
 * PYRPOOL_ERR_REMOTE with err filled from its error (errors_remote). */
int wire_outcome(const struct wire_response *r, pyrpool_error *err);

/* The msgid of a response that wire_unpack could not decode, read from its
 * envelope's first bytes: 0 with *msgid set, or -1. */
int wire_peek_msgid(const char *bytes, size_t len, uint32_t *msgid);

#endif
