/* serial: a process-mode executor's runner (see serial.c's DESIGN). */
#ifndef PYRPOOL_SERIAL_H
#define PYRPOOL_SERIAL_H

#include "rbuf.h"

struct board;

/* On the main thread, before serial_serve: the board, limits.handback_ms,
 * limits.spin_us and the pool's slow_call (0: off); starts the watcher
 * thread, the slow-call watcher (slow.h) and the timeout and cancel
 * signal handlers. Returns 0 or -1. */
int serial_start(struct board *b, unsigned handback_ms, unsigned spin_us, unsigned slow_ms);

/* Serves batches until the master closes the socket (0) or sends a
 * malformed frame (1). in: what was read so far. */
int serial_serve(struct rbuf *in);

void serial_fini(void);

#endif
