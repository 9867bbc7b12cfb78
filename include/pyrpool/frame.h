/* frame: the master <-> executor wire over their socketpair.
 *
 * Each frame is a MessagePack uint32 (0xce + 4 bytes, big-endian) holding the
 * length of the MessagePack array that follows, so the stream is MessagePack
 * throughout and either side finds a frame's end without parsing its body.
 *
 *   master -> executor
 *     [FRAME_INIT, {settings}]   first, once: init.h has its keys
 *     [FRAME_CALL, call_id, timeout_ms, module, function, args array|nil, kwargs map|nil]
 *     [FRAME_EVAL, call_id, timeout_ms, expr, locals map|nil]
 *     [FRAME_EXEC, call_id, timeout_ms, code]
 *     [FRAME_MAP, call_id, timeout_ms, module, function, base_index, [args...], kwargs|nil]
 *       timeout_ms: time left for the call when it was sent, 0 for none
 *       (always a uint32 in 5 bytes, so the master can fill it in place)
 *     [FRAME_STOP, call_id, reason]   thread mode only: stop that call
 *       (STOP_TIMEOUT: report its stack in a TIMEOUT frame, raise
 *       TimeoutError in its thread; STOP_CANCEL: raise pyrpool.Cancelled)
 *   executor -> master
 *     [FRAME_READY, pid]
 *     [FRAME_RESULT, call_id, error map|nil, result]   (MAP: result is the
 *         array of the chunk's results; an error map carries "index")
 *     [FRAME_RETURN, [call_id...]]   calls handed back unstarted because the
 *         batch held them handback_ms
 *     [FRAME_TIMEOUT, call_id, stack str|nil]   the running call passed its
 *         timeout_ms: a TimeoutError is being raised in it; stack is where
 *         it was
 *     [FRAME_SLOW, call_id, ms, stack str|nil]   the call has run ms
 *         milliseconds, past the pool's slow_call (INIT's slow_call_ms), and
 *         runs on: where it is now (sent once per call)
 *     [FRAME_RAN, calls, ns]   process mode, after the results of each
 *         batch: how many of its calls ran and for how long in all (the
 *         master sizes its batches by it)
 *
 * Process mode: the master sends an executor a batch of calls only when it
 * has nothing in flight; the executor runs them in order (each claimed on
 * the board first: a call the master took back is skipped, unanswered) and
 * answers them in order. Thread mode ("threads": true in INIT): the master sends at most
 * one call per thread of the pool; each starts at once on a thread of its
 * own and is answered when it ends, in any order.
 * Argument bytes in CALL frames are the client's bytes, copied verbatim; the
 * error and result of a RESULT frame go to the client verbatim too. */
#ifndef PYRPOOL_FRAME_H
#define PYRPOOL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

enum frame_kind {
    FRAME_INIT = 0,
    FRAME_READY = 0,
    FRAME_CALL = 1,
    FRAME_RESULT = 1,
    FRAME_EVAL = 2,
    FRAME_EXEC = 3,
    FRAME_RETURN = 4,
    FRAME_MAP = 5,
    FRAME_TIMEOUT = 6,
    FRAME_STOP = 7,
    FRAME_FORK = 8,    /* template: see forkserver.h */
    FRAME_EXITED = 9,
    FRAME_RAN = 10,
    FRAME_SLOW = 11,
};

/* Why a FRAME_STOP asks a thread-mode executor to stop a call. */
enum frame_stop_reason { STOP_TIMEOUT = 0, STOP_CANCEL = 1 };

#define FRAME_PREFIX 5

/* The executor's (and the template's) end of its socket to the master. */
#define FRAME_MASTER_FD 3

/* The executor's (and the template's) copy of the daemon's stderr, where
 * it writes its own log lines: its fd 1 and 2 may be pipes the master
 * reads as its output (init.h's capture_output). BOARD_FD is 4. */
#define FRAME_LOG_FD 5

/* Starts a frame at the end of sb: reserves the length prefix. Returns the
 * offset to pass to frame_end. */
size_t frame_begin(msgpack_sbuffer *sb);

/* Writes the length of everything packed since frame_begin into the prefix. */
void frame_end(msgpack_sbuffer *sb, size_t start);

/* Length of the frame body whose prefix is at p (5 bytes available), or -1
 * when p does not start with a frame prefix. */
int64_t frame_body_len(const char *p);

#endif
