/* notify: the sd_notify protocol. See notify.h. */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

static struct {
    char *socket;       /* NOTIFY_SOCKET as it was; NULL: systemd does not listen */
    uint64_t watchdog;  /* WATCHDOG_USEC for this process; 0: none */
    uv_timer_t timer;
    bool timer_open;
} n;

#ifdef HAVE_SYSTEMD
/* Sends state. The socket goes back into the environment only for the
 * call (sd_notify reads it there), and sd_notify takes it out again. */
static void send_state(const char *state)
{
    int rc;

    if (n.socket == NULL)
        return;
    setenv("NOTIFY_SOCKET", n.socket, 1);
    rc = sd_notify(1, state);
    if (rc < 0)
        log_warn_often(uv_hrtime() / 1000000, "cannot notify systemd (%s): %s", n.socket, strerror(-rc));
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    send_state("WATCHDOG=1");
}

void notify_init(uv_loop_t *loop)
{
    const char *s = getenv("NOTIFY_SOCKET");
    uint64_t usec = 0;

    if (s != NULL && s[0] != '\0')
        n.socket = strdup(s);
    unsetenv("NOTIFY_SOCKET");
    if (sd_watchdog_enabled(1, &usec) > 0 && n.socket != NULL) {
        n.watchdog = usec;
        uv_timer_init(loop, &n.timer);
        uv_unref((uv_handle_t *)&n.timer); /* it does not keep the loop alive */
        n.timer_open = true;
        uv_timer_start(&n.timer, on_watchdog, 0, usec / 2000 > 0 ? usec / 2000 : 1);
        log_info("systemd watchdog: a ping every %llu ms", (unsigned long long)(usec / 2000));
    }
}

const char *notify_build(void)
{
    return "systemd: notify, watchdog, socket activation";
}
#else
static void send_state(const char *state)
{
    (void)state;
}

void notify_init(uv_loop_t *loop)
{
    (void)loop;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

const char *notify_build(void)
{
    return "built without libsystemd: no notify, watchdog or socket activation";
}
#endif

void notify_close(void)
{
    if (n.timer_open) {
        uv_close((uv_handle_t *)&n.timer, NULL);
        n.timer_open = false;
    }
    free(n.socket);
    n.socket = NULL;
}

/* "KEY=1\nSTATUS=status" */
static void send_with_status(const char *key, const char *status)
{
    char buf[512];

    if (status != NULL)
        snprintf(buf, sizeof buf, "%s\nSTATUS=%s", key, status);
    else
        snprintf(buf, sizeof buf, "%s", key);
    send_state(buf);
}

void notify_ready(const char *status)
{
    send_with_status("READY=1", status);
}

void notify_reloading(void)
{
    struct timespec ts;
    char buf[128];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the config",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    send_state(buf);
}

void notify_stopping(const char *status)
{
    send_with_status("STOPPING=1", status);
}

void notify_status(const char *status)
{
    char buf[512];

    snprintf(buf, sizeof buf, "STATUS=%s", status);
    send_state(buf);
}

bool notify_enabled(void)
{
    return n.socket != NULL;
}

uint64_t notify_watchdog_usec(void)
{
    return n.watchdog;
}
