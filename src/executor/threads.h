/* threads: a thread-mode executor's runner (see threads.c). */
#ifndef PYRPOOL_THREADS_H
#define PYRPOOL_THREADS_H

#include "rbuf.h"

struct board;

/* Serves calls on worker threads until the master closes the socket (0)
 * or sends a malformed frame (1). in: what was read so far; board: this
 * executor's (board.h), where each call's slot is claimed before it runs.
 * With the GIL held; releases it while it waits. */
int threads_serve(struct rbuf *in, struct board *board);

#endif
