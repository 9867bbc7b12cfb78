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
 *                       child's socketpair attached (SCM_RIGHTS); pid 0 and
 *                       no socket when the fork failed
 *                       [FRAME_EXITED, pid, exit status, signal] for each
 *                       child that ended (the template is their parent)
 *
 * The template starts no thread, so fork() is safe; CPython's own at-fork
 * handlers run around it (PyOS_BeforeFork and friends). Children die with
 * the template, and the template with the master (PR_SET_PDEATHSIG). */
#ifndef PYRPOOL_FORKSERVER_H
#define PYRPOOL_FORKSERVER_H

#include <stddef.h>

#include "rbuf.h"

/* Serves fork requests; in is the master's stream, read so far. Returns
 * only in a forked child, with the master connection (fd 3) replaced by
 * the child's own socket, in emptied, and name and board set to what the
 * master gave it. The template itself exits when the master closes the
 * socket. When a child ends, what is left of its process group is killed
 * before it is reported. */
void forkserver_run(struct rbuf *in, char *name, size_t namelen, int *board);

#endif
