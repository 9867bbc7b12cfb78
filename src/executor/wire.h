/* wire: the executor's side of its socket to the master (FRAME_MASTER_FD):
 * frame reads and writes, and the frames both runners pack (frame.h has
 * their format). */
#ifndef PYRPOOL_WIRE_H
#define PYRPOOL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "rbuf.h"

/* Reads ask for at least this much free buffer. */
#define WIRE_READ_CHUNK 65536

/* Reads (blocking) until in holds one whole frame; returns its body length,
 * 0 on EOF, -1 on an error or a malformed prefix. */
int64_t wire_read_frame(struct rbuf *in);

/* Writes all of buf (blocking). Returns 0, or -1 when the master is gone. */
int wire_write_all(const char *buf, size_t len);

/* Reads what the master sent, without blocking; with wait, first sleeps
 * until there is something to read (or children to reap: then -1 with
 * errno EINTR). */
ssize_t wire_recv(void *buf, size_t room, bool wait);

/* The kind and call id of a frame body [kind, id, ...]; -1 if malformed. */
int wire_frame_id(const char *body, size_t len, uint64_t *kind, uint64_t *id);

/* Appends [kind, v[0], ..., v[n-1]] to sb: a frame of numbers (READY,
 * RAN, and the template's FORK and EXITED). */
void wire_pack_numbers(msgpack_sbuffer *sb, unsigned kind, const uint64_t *v, size_t n);

/* Appends [FRAME_TIMEOUT, id, stack text (n bytes) or nil] to sb. */
void wire_pack_timeout(msgpack_sbuffer *sb, uint64_t id, const char *text, ssize_t n);

/* Sends [FRAME_READY, pid]. Returns 0 or -1. */
int wire_send_ready(void);

#endif
