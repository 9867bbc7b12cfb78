/* confine: what an executor (or a template) may reach, set before any
 * Python runs.
 *
 * Only its own descriptors stay open: stdin/stdout/stderr, its socket to
 * the master (fd 3), the boards (fd 4, closed once its board is mapped)
 * and the daemon's log (fd 5, frame.h's FRAME_LOG_FD); whatever else the
 * daemon's launcher left open is closed. It gives up
 * CAP_SYS_PTRACE (effective, permitted, inheritable and bounding), so that
 * even when the daemon runs as root, code in a call cannot ptrace the
 * master, read its memory or take its client sockets with pidfd_getfd:
 * the master is not dumpable, and for such a process that takes
 * CAP_SYS_PTRACE. */
#ifndef PYRPOOL_CONFINE_H
#define PYRPOOL_CONFINE_H

/* Returns 0, or -1 (logged) when a step failed. */
int confine(void);

/* The pool's user: and group: (the daemon runs as root): takes gid as its
 * only group and uid as its user, for good, before any Python runs; the
 * death signal from its parent is set again (a change of user clears it).
 * Returns 0, or -1 (logged): the executor must not go on as root. */
int confine_user(int uid, int gid);

#endif
