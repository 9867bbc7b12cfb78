/* child: the master's side of one pyrpool-executor process, the base that
 * an executor (executor.c) and a template (template.c) embed by value, as
 * libuv's handles embed its stream.
 *
 * Both are pyrpool-executor processes that talk frames (frame.h) over a
 * socket on their fd 3, see their pool's boards on BOARD_FD and write their
 * own log lines to FRAME_LOG_FD (the daemon's stderr). The base owns what
 * that takes: spawning the process (or adopting a socket a template
 * forked), the INIT frame packed from the pool's settings, the read buffer
 * and the frame loop, the output queue, the capture of its stdout and
 * stderr into the log (capture.h; log.executor_output), and the accounting
 * of its handles as they close. What a frame means and what a death does
 * stay with its owner, which hears through child_ops. */
#ifndef PYRPOOL_CHILD_H
#define PYRPOOL_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "capture.h"
#include "outq.h"
#include "rbuf.h"

struct child;
struct pool;

/* What a child tells its owner. */
struct child_ops {
    /* One whole frame (its body, without the prefix). Returns 0, or -1
     * when the owner does not understand it: the child is then lost. */
    int (*frame)(struct child *ch, const char *body, size_t len);
    /* Its socket failed: end of file (err UV_EOF), a read or write error
     * (a libuv error), a malformed or refused frame (err 0); why says which.
     * The owner closes it and kills the process. */
    void (*lost)(struct child *ch, int err, const char *why);
    /* The process it spawned ended (libuv reaped it); its handle closes
     * next. Not called for an adopted (forked) child. */
    void (*exit)(struct child *ch, int64_t status, int sig);
    /* One of its handles has closed (child_handles_open tells whether any
     * is left). */
    void (*closed)(struct child *ch);
};

struct child {
    uv_process_t proc;
    uv_pipe_t pipe;
    struct rbuf in;
    struct outq out;           /* frames to it, written by child_flush */
    const struct child_ops *ops;
    size_t read_chunk;
    int pid;                   /* 0: none yet */
    bool pipe_open, proc_open; /* handles not closed yet */
    struct capture capture;    /* its stdout and stderr, when captured */
    bool captured;             /* they are (and a template's children's are) */
};

/* Sets ch up (no process yet); write_done is its output queue's callback. */
void child_init(struct child *ch, const struct child_ops *ops, size_t read_chunk, outq_done_fn write_done);

/* Starts a pyrpool-executor named name for pool p: its socket on fd 3
 * (an IPC pipe when ipc: a template hands forked executors' sockets
 * through it), p's boards on BOARD_FD, the daemon's stderr on
 * FRAME_LOG_FD, its stdout and stderr captured when p's config says so;
 * INIT (board: the executor's board, -1 for a template) waits in ch->out
 * for child_flush. Returns 0, or a libuv error: both handles are then
 * closing (ops->closed follows). */
int child_spawn(struct child *ch, struct pool *p, const char *name, int board, bool ipc);

/* A forked executor of p named name, pid: takes its socket into ch->pipe,
 * and with output (its template's children's output is captured) the read
 * ends of its stdout and stderr, from the descriptors pending on server
 * (its template's socket). Returns 0, or a libuv error: whatever was taken
 * is closing (ops->closed follows). */
int child_accept(struct child *ch, struct pool *p, const char *name, int pid, uv_pipe_t *server, bool output);

/* A forked executor: its socket was accepted into ch->pipe; pid runs. */
void child_adopt(struct child *ch, int pid);

/* Its process ended: what it left in its stdout and stderr is logged,
 * and their pipes close. */
void child_ended(struct child *ch);

/* Handles every whole frame in ch->in. Returns 0, or -1 when ch was lost
 * (ops->lost ran). */
int child_read_frames(struct child *ch);

/* After the process died: reads what it wrote that the loop has not read
 * yet (the socket holds it whole) and handles its frames; child_ended. */
void child_drain(struct child *ch);

/* True while one of ch's handles is not closed. */
bool child_handles_open(const struct child *ch);

/* True while ch has a socket to write to. */
bool child_pipe_usable(const struct child *ch);

/* Closes ch's socket (the process sees end of file). */
void child_close_pipe(struct child *ch);

/* Signals the spawned process, while it has not been reaped. */
void child_kill(struct child *ch, int sig);

/* Writes ch->out; drops it when the socket is gone. Returns 0, or a libuv
 * error (the caller gives the child up). */
int child_flush(struct child *ch);

/* Empties the buffers for a new process. */
void child_reset(struct child *ch);

/* Frees the buffers (both handles closed). */
void child_destroy(struct child *ch);

#endif
