/* forkserver: the template process of a pool (in the executor binary).
 *
 * A pool's template is a pyrpool-executor that started Python and imported
 * python.preload, then, instead of serving calls, forks executors on the
 * master's request: a child starts serving in milliseconds and shares the
 * preloaded modules with the template copy-on-write.
 *
 *   master -> template  [FRAME_FORK, key, name, board]   (board: the
 *                       child's board in the pool's memfd, BOARD_FD)
 *   template -> master  [FRAME_FORK, key, pid] with the master's end of the
 *                       child's socketpair attached (SCM_RIGHTS), then with
 *                       capture the read ends of the child's stdout and
 *                       stderr pipes (its own fd 1 and 2); pid 0 and no
 *                       descriptor when the fork failed
 *                       [FRAME_EXITED, pid, exit status, signal] for each
 *                       child that ended (the template is their parent)
 *
 * The template starts no thread, so fork() is safe; CPython's own at-fork
 * handlers run around it (PyOS_BeforeFork and friends). Children die with
 * the template, and the template with the master (PR_SET_PDEATHSIG). */
#ifndef PYRPOOL_FORKSERVER_H
#define PYRPOOL_FORKSERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "rbuf.h"

/* Serves fork requests; in is the master's stream, read so far; capture:
 * each child gets pipes of its own for its stdout and stderr (init.h's
 * capture_output). Returns only in a forked child, with the master
 * connection (fd 3) replaced by the child's own socket (and fd 1 and 2 by
 * its pipes), in emptied, and name and board set to what the master gave
 * it. The template itself exits when the master closes the socket. When a
 * child ends, what is left of its process group is killed before it is
 * reported. */
void forkserver_run(struct rbuf *in, bool capture, char *name, size_t namelen, int *board);

#endif
