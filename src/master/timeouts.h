/* timeouts: per-call deadlines (opts.timeout), one libuv timer for all.
 *
 * Calls with a deadline sit in a binary min-heap (each call knows its slot,
 * so an answered call leaves the heap in O(log n)); the timer is armed for
 * the earliest deadline. An expired queued call leaves the queue and is
 * answered Timeout. A running call is the executor's to stop: it knows the
 * deadline too, raises TimeoutError in the call and sends the Python stack
 * (FRAME_TIMEOUT), and the master answers with it; if that does not come
 * within 50 ms the master answers without it. Either way the executor then
 * has limits.timeout_grace_ms to come back before it is killed and replaced
 * (executor_give_up). */
#ifndef PYRPOOL_TIMEOUTS_H
#define PYRPOOL_TIMEOUTS_H

#include <stddef.h>

#include <uv.h>

struct call;
struct daemon;

#define TIMEOUTS_NONE ((size_t)-1)

struct timeouts {
    struct call **heap;
    size_t n, cap;
    uv_timer_t timer;
};

void timeouts_init(struct daemon *d);

/* Closes the timer (at shutdown). */
void timeouts_close(struct daemon *d);

/* Starts watching c, whose deadline (loop ms) is set. */
void timeouts_add(struct daemon *d, struct call *c);

/* Stops watching c (answered or dropped); a no-op if it is not watched. */
void timeouts_remove(struct daemon *d, struct call *c);

#endif
