/* capture: one executor's (or template's) stdout and stderr, read line by
 * line into the daemon's log.
 *
 * The process writes to two pipes, its fd 1 and fd 2, whose read ends the
 * master holds: two descriptors per process, because only a pipe of its
 * own says which stream a line came from (one pipe for both would also
 * mix pieces of lines written at once on the two). The loop reads them as
 * soon as anything arrives, and the log never makes it wait (logq.h), so
 * a process never blocks on a full pipe however slow the log is.
 *
 * Each line becomes one record tagged with the pool, the process's name
 * (POOL/INDEX, or POOL/template) and pid, and the stream: stdout lines at
 * level info, stderr lines at warning. Lines are whole however the process
 * wrote them; one longer than LINESPLIT_MAX comes out in records that say
 * which part they are (linesplit.h). A process may log `rate` lines a
 * second (log.executor_output_rate), in bursts of up to a second's worth;
 * lines past that, and lines the log queue refuses (it is behind), are
 * dropped and counted, and a warning of the master's own tells how many of
 * each stream went, a second after the first one did (so at most one a
 * second) and when the process ends.
 *
 * When the process has ended, capture_end reads what it left in the pipes
 * (they hold it whole), logs its last line if it had no newline, tells what
 * was dropped and closes the pipes; the owner (child.c) hears each handle
 * close through the callback it gave capture_init. */
#ifndef PYRPOOL_CAPTURE_H
#define PYRPOOL_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "linesplit.h"
#include "logq.h"

enum capture_stream { CAPTURE_STDOUT, CAPTURE_STDERR };

struct capture;

/* One stream's pipe. */
struct capture_pipe {
    uv_pipe_t pipe;
    struct capture *cap;
    enum capture_stream stream;
    struct linesplit lines;
    uint64_t dropped;  /* lines dropped since the last warning about it */
    bool open;         /* the handle is not closed yet */
};

/* Whose output it is, and its budget. */
struct capture_spec {
    struct logq *logq;
    const char *pool;
    const char *name;  /* "POOL/INDEX" or "POOL/template" */
    unsigned rate;     /* lines a second */
};

struct capture {
    struct capture_pipe out[2];   /* by enum capture_stream */
    uv_timer_t report_timer;      /* the warning about dropped lines */
    bool timer_open;
    bool running;                 /* started, not ended */
    void (*closed)(struct capture *cap);
    struct logq *logq;
    char pool[64], name[136];
    int pid;
    unsigned rate;
    uint64_t tokens;              /* thousandths of a line it may log now */
    uint64_t refilled_ms;
    bool over_rate, log_behind;   /* why lines were dropped since the warning */
};

/* Sets cap up, not running; closed runs as each of its handles closes. */
void capture_init(struct capture *cap, void (*closed)(struct capture *cap));

/* Makes the two pipes for a process about to be spawned: read[i] and
 * write[i] for stream i; the read ends do not block. Returns 0 or a libuv
 * error (nothing made). The caller passes the write ends to the process,
 * closes them, then gives the read ends to capture_open (or closes them). */
int capture_pipes(int read[2], int write[2]);

/* Starts reading the read ends of pid's pipes (capture_pipes), which cap
 * owns from now on. */
void capture_open(struct capture *cap, uv_loop_t *loop, const int read[2], int pid,
                  const struct capture_spec *spec);

/* The same for a forked process whose read ends are the next two
 * descriptors pending on server (its template's socket). Returns 0, or a
 * libuv error: both are taken off server anyway, and whatever was opened
 * is closing (closed follows). */
int capture_accept(struct capture *cap, uv_stream_t *server, int pid, const struct capture_spec *spec);

/* The process ended: see the top. Nothing when cap is not running. */
void capture_end(struct capture *cap);

/* True while one of cap's handles is not closed. */
bool capture_busy(const struct capture *cap);

#endif
