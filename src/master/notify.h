/* notify: what systemd is told about the daemon (the sd_notify protocol):
 * READY=1 once every pool has started, RELOADING=1 and READY=1 around a
 * reload, STOPPING=1 at the drain, one STATUS= line, and WATCHDOG=1 pings
 * from the event loop when the unit sets WatchdogSec (so a stuck loop is
 * restarted). It does nothing when the daemon was not started by systemd
 * (no NOTIFY_SOCKET), or was built without libsystemd (then --version says
 * so). The notify socket and the watchdog settings are taken out of the
 * environment at start: executors, and the code they run, never see them
 * and cannot speak for the daemon. A leaf: libuv and libsystemd only. */
#ifndef PYRPOOL_NOTIFY_H
#define PYRPOOL_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

/* Takes NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID from the environment
 * and, with a watchdog, starts pinging from loop at half its interval. */
void notify_init(uv_loop_t *loop);

/* Stops the watchdog timer (before the loop is closed). */
void notify_close(void);

/* READY=1 with this status line. */
void notify_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC= (a reload starts; notify_ready ends it). */
void notify_reloading(void);

/* STOPPING=1 with this status line. */
void notify_stopping(const char *status);

/* STATUS= only. */
void notify_status(const char *status);

/* True when systemd listens (NOTIFY_SOCKET was set). */
bool notify_enabled(void);

/* The watchdog interval in microseconds; 0: none. */
uint64_t notify_watchdog_usec(void);

/* What systemd support this build has, for --version. */
const char *notify_build(void);

#endif
