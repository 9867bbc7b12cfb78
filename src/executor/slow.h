/* slow: the slow-call log's watcher (a pool's slow_call, INIT's
 * slow_call_ms). A thread of its own wakes a few times per slow_call and,
 * when its runner says a call may have run that long, takes the GIL and
 * has the runner report each such call once: the Python stack of the
 * thread running it, sent to the master in a FRAME_SLOW frame. The call is
 * not disturbed: nothing runs in its thread. */
#ifndef PYRPOOL_SLOW_H
#define PYRPOOL_SLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <msgpack.h>

/* Without the GIL: true when a call may have run slow_ms or more and not
 * been reported (a quick look; report has the last word). */
typedef bool slow_due_fn(unsigned slow_ms);

/* With the GIL: sends a FRAME_SLOW (slow_pack) for each call running for
 * slow_ms or more that was not reported yet. */
typedef void slow_report_fn(unsigned slow_ms);

/* Starts the watcher when slow_ms > 0. Returns 0, or -1 if the thread
 * cannot start. */
int slow_start(unsigned slow_ms, slow_due_fn *due, slow_report_fn *report);

/* Milliseconds since t (CLOCK_MONOTONIC): how long a call has run. */
uint64_t slow_ms_since(const struct timespec *t);

/* Appends [FRAME_SLOW, id, ms, stack or nil] to sb, where stack is the
 * Python stack of thread (stop_stack). With the GIL. */
void slow_pack(msgpack_sbuffer *sb, uint64_t id, uint64_t ms, unsigned long thread);

#endif
