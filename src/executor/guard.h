/* guard: what keeps an executor process (and a template) accountable to its
 * master, whatever the Python code it runs does.
 *
 *  - Stop signals: SIGTERM and SIGINT stop it only when its master (or,
 *    for a forked executor, its template) sends them; the same signals sent
 *    to a whole process group or cgroup (Ctrl-C, `kill -TERM -PGID`,
 *    systemd's KillMode=control-group) are for the master, which drains
 *    and then stops its executors itself.
 *  - Process group: a serving executor leads a process group of its own,
 *    which what its calls start inherits; when the executor ends, whoever
 *    reaps it (the master, or the template) kills what is left of the group.
 *  - Crashes: a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
 *    SIGTRAP, SIGSYS) records the call its thread was running in the
 *    board's culprit word, then takes its default action.
 *  - fork() in a call: in the child, the master's socket (fd 3) becomes
 *    /dev/null, the board a private blank page, and the stop signals their
 *    defaults; a child that returns from the call into the executor's code
 *    exits at once (guard_stray_exit). The child's pid reaches the executor
 *    through a pipe: once every call that was running when it was forked
 *    has ended, the executor reaps it when it exits (guard_reap), so a
 *    call's forgotten children leave no zombie. A call that wants a
 *    child's status waits for it before it returns. */
#ifndef PYRPOOL_GUARD_H
#define PYRPOOL_GUARD_H

#include <stdbool.h>
#include <stdint.h>

struct board;

/* The call this thread runs (0: none), read by the fatal-signal handler. */
extern __thread uint64_t guard_current_call;

/* At the start of every executor and template process: who its master is,
 * and the stop signals' handler. */
void guard_init(void);

/* In a process that is about to serve calls (not a template): its own
 * process group, fd 3 close-on-exec, the fatal-signal and at-fork
 * handlers. b: its board. Returns 0 or -1 (logged). */
int guard_serve(struct board *b);

/* In a thread that runs calls but blocks signals meant for the main
 * thread: lets the fatal ones through, so a crash in it names its call. */
void guard_thread(void);

/* A call starts / ends: returns / takes its sequence number. */
uint64_t guard_call_begin(uint64_t id);
void guard_call_end(uint64_t seq);

/* In a child forked by a call that came back into the executor's code:
 * exits at once (status 0). Elsewhere a no-op. */
void guard_stray_exit(void);

/* Reaps the children forked by calls that have all ended, if they have
 * exited. Cheap when there are none; any thread. */
void guard_reap(void);

/* Readable when guard_reap has something to do (a child was forked, or
 * one of them ended): an executor waiting for its master polls it too. */
int guard_wake_fd(void);

#endif
