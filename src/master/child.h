/* child: what the master's sides of an executor and of a template share.
 *
 * Both are pyrpool-executor processes that talk frames (frame.h) over a
 * socket on their fd 3 and see their pool's boards on BOARD_FD: this module
 * spawns one, packs its INIT frame from the pool's settings, and cuts the
 * frames it sends out of a read buffer. What a frame means, and what a
 * death does, stays with executor.c and template.c. */
#ifndef PYRPOOL_CHILD_H
#define PYRPOOL_CHILD_H

#include <stddef.h>

#include <msgpack.h>
#include <uv.h>

#include "rbuf.h"

struct pool;

/* Starts a pyrpool-executor named name for pool p, with pipe (initialised
 * by the caller) on its fd 3 and p's boards on BOARD_FD. Returns 0 or a
 * libuv error. */
int child_spawn(struct pool *p, uv_process_t *proc, uv_pipe_t *pipe, const char *name, uv_exit_cb exit_cb);

/* Appends the INIT frame for p's executors (or its template) to sb; board:
 * the executor's board index, -1 for a template. */
void child_pack_init(msgpack_sbuffer *sb, const struct pool *p, const char *name, int board);

/* A read buffer's libuv allocation: at least chunk bytes free in in. */
void child_alloc(struct rbuf *in, size_t chunk, uv_buf_t *buf);

#define CHILD_EMALFORMED (-1) /* a frame's length prefix is not one */
#define CHILD_EREFUSED (-2)   /* the handler refused a frame */

/* Runs fn on each whole frame at the front of in (body without its
 * prefix), then drops them; for a frame not whole yet, room is reserved.
 * Returns 0, or CHILD_EMALFORMED / CHILD_EREFUSED (in is then left as it
 * is: the caller gives the child up). */
int child_read_frames(struct rbuf *in, int (*fn)(void *arg, const char *body, size_t len), void *arg);

#endif
