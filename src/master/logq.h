/* logq: the master's log (its stderr), written without waiting for it.
 *
 * Every record the master logs comes through here (log.h's sink): its own
 * lines and the executors' output it captures (capture.h), in the order
 * they were logged, each whole. A record is written at once if the log
 * takes it; what the log does not take now (a pipe or socket that is full:
 * a slow journal, a terminal on hold) waits here, and the loop tries again
 * every LOGQ_RETRY_MS. So a slow log neither stalls the loop nor, through
 * it, an executor writing to its pipe.
 *
 * Bounds: captured output is taken only while less than LOGQ_CAPTURED_MAX
 * bytes wait (the caller drops and counts what is refused). The master's
 * own lines are never dropped: past LOGQ_OWN_MAX waiting, the master waits
 * for the log, as it always did before it had a queue.
 *
 * How it writes without blocking depends on what stderr is: a socket (the
 * journal) gets send(MSG_DONTWAIT); a pipe, FIFO or terminal is opened
 * again (a description of its own) with O_NONBLOCK, so that the one that
 * the executors and the daemon's parent share keeps blocking; a regular
 * file is written as it is (it does not make a writer wait for a reader).
 * This is written by hand rather than with a libuv stream on fd 2 because
 * libuv sets O_NONBLOCK on the description it is given: the executors'
 * own writes to that same description would then fail instead of waiting.
 * A log that fails (its reader gone) drops what waits, as a write(2) to it
 * would. */
#ifndef PYRPOOL_LOGQ_H
#define PYRPOOL_LOGQ_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#define LOGQ_CAPTURED_MAX (1u << 20)
#define LOGQ_OWN_MAX (16u << 20)
#define LOGQ_RETRY_MS 10

enum logq_kind { LOGQ_SOCKET, LOGQ_REOPENED, LOGQ_BLOCKING };

struct logq {
    uv_timer_t retry;   /* armed while records wait */
    char *buf;          /* waiting: buf[head, head + len) */
    size_t head, len, cap;
    enum logq_kind kind;
    int fd;             /* what it writes to: stderr, or its reopened copy */
    bool open;          /* between logq_init and logq_close */
};

/* Starts q on loop and makes it the log's sink (log_set_sink). */
void logq_init(struct logq *q, uv_loop_t *loop);

/* Takes one captured record (len bytes, whole lines). Returns false when
 * LOGQ_CAPTURED_MAX bytes wait already: the record is dropped. */
bool logq_captured(struct logq *q, const char *rec, size_t len);

/* The daemon is stopping: writes what waits (waiting for the log if it
 * must), closes the timer; records that come later are written at once,
 * blocking. */
void logq_close(struct logq *q);

#endif
