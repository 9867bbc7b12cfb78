/* deadline: a set of deadlines, one libuv timer for all of them.
 *
 * What is timed embeds a struct deadline (a call does: call.h) and the
 * caller gives the set its policy, the function run when one passes (as
 * libuv's timers take a callback): this module knows nothing of what it
 * times. Deadlines sit in a binary min-heap; each knows its slot, so one
 * that is settled leaves in O(log n); the timer is armed for the earliest.
 * The policy for calls (a Timeout answer, or the executor asked to stop
 * the call first) is pool.c's pool_call_expired. */
#ifndef PYRPOOL_DEADLINE_H
#define PYRPOOL_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define DEADLINE_NONE ((size_t)-1)

/* Embedded in what is timed; find the container with container_of. */
struct deadline {
    uint64_t at;   /* loop time (ms) */
    size_t slot;   /* in its set's heap, or DEADLINE_NONE */
};

struct deadlines;

/* Runs when e's time has come; e has left the set (add it again to wait
 * more). */
typedef void deadline_cb(struct deadlines *set, struct deadline *e);

struct deadlines {
    struct deadline **heap;
    size_t n, cap;
    uv_timer_t timer;
    deadline_cb *expired;
    void *data;    /* the caller's */
};

/* An entry that is in no set. */
static inline void deadline_clear(struct deadline *e)
{
    e->slot = DEADLINE_NONE;
}

void deadlines_init(struct deadlines *set, uv_loop_t *loop, deadline_cb *expired, void *data);

/* Closes the timer (at shutdown); the entries left are cleared. */
void deadlines_close(struct deadlines *set);

/* Starts watching e, whose time (e->at) is set. */
void deadlines_add(struct deadlines *set, struct deadline *e);

/* Stops watching e (settled); a no-op if it is not watched. */
void deadlines_remove(struct deadlines *set, struct deadline *e);

#endif
