/* main: boots the master: arguments, config, limits, pools, listeners, the
 * flush hooks and signals; then runs the loop until SIGINT or SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "activation.h"
#include "admin.h"
#include "call.h"
#include "check.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "executor.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "method.h"
#include "pool.h"
#include "protocol.h"
#include "reload.h"
#include "route.h"
#include "state.h"


static const char usage[] =
    "Usage: pyrpoold [-c FILE] [--check] [-v]\n"
    "Runs Python functions for any program that speaks MessagePack-RPC.\n"
    "\n"
    "  -c, --config FILE  the YAML config (default: ./pyrpoold.yaml)\n"
    "      --check        validate the config, print a summary and exit\n"
    "  -v, --verbose      log debug messages too\n"
    "  -h, --help         show this help and exit\n"
    "      --version      show the version and exit\n"
    "\n"
    "Signals: SIGHUP reloads the config (a new generation of executors takes\n"
    "over once ready; a bad file is refused and the running config stays);\n"
    "SIGINT/SIGTERM finish the calls in flight, then stop.\n"
    "\n"
    "Under systemd (Type=notify): READY=1 once every pool is ready,\n"
    "RELOADING=1/READY=1 around a reload, STOPPING=1, a STATUS= line, and\n"
    "WATCHDOG=1 pings when WatchdogSec= is set. Sockets systemd passes\n"
    "(socket activation) are used by the listeners whose name: matches.\n"
    "\n"
    "Exit status: 0 after a clean stop (SIGINT, SIGTERM) or a valid --check,\n"
    "1 for a bad config or a failed start, 2 for bad arguments.\n";


#ifndef PYRPOOL_LIBEXECDIR
#define PYRPOOL_LIBEXECDIR "/usr/local/libexec/pyrpoold"
#endif

/* How often systemd's STATUS= line is refreshed. */
#define STATUS_EVERY_MS 5000

static void stop(struct daemon *d, const char *why);
static void flush_once(struct daemon *d);

/* Draining: true when no call is queued or running anywhere. */
static bool drained(const struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->npools; i++)
        if (!pool_idle(d->pools[i]))
            return false;
    return true;
}

/* Hands queued calls out, then flushes executors, so calls leave before
 * answers are written. Writing answers can let held calls go (a connection
 * drained: conn_dispatch_room) or resume a paused reader: their pools are
 * dispatched again before the loop sleeps. */
static void flush_all(struct daemon *d)
{
    int rounds = 0;

    if (d->dirty_pools != NULL || d->dirty_executors != NULL || d->dirty_conns != NULL)
        d->busy_turns++;
    do
        flush_once(d);
    while ((d->dirty_pools != NULL || d->dirty_executors != NULL) && ++rounds < 8);
    if (d->draining && !d->stopping && drained(d))
        stop(d, "every call answered");
}

static void flush_once(struct daemon *d)
{
    struct executor *ex;
    struct conn *c;
    struct pool *p;
    size_t i;

    while ((p = d->dirty_pools) != NULL) {
        d->dirty_pools = p->next_dirty;
        p->dirty = false;
        pool_dispatch(p);
    }
    for (i = 0; i < d->npools; i++)
        pool_check_stopped(d->pools[i]);
    while ((ex = d->dirty_executors) != NULL) {
        d->dirty_executors = ex->next_dirty;
        ex->dirty = false;
        executor_flush(ex);
    }
    while ((c = d->dirty_conns) != NULL) {
        d->dirty_conns = c->next_dirty;
        c->dirty = false;
        conn_flush(c);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    flush_all(h->data);
}

static void on_check(uv_check_t *h)
{
    flush_all(h->data);
}

/* Runs the loop until no handle is left. After a turn that had work, it
 * keeps polling (uv_run without waiting, yielding the CPU to any runnable
 * process between polls) for limits.spin_us before it sleeps again: under
 * load the next read is usually a few microseconds away, and on a busy
 * machine a sleep and a wake-up cost more than that, the wake-up of an idle
 * virtual CPU most of all. Any work found restarts the spin. An idle daemon
 * never spins. */
static void run_loop(struct daemon *d)
{
    uint64_t seen, now, until;
    int alive;

    do {
        seen = d->busy_turns;
        alive = uv_run(d->loop, UV_RUN_ONCE);
        if (d->busy_turns == seen || d->cfg.spin_us == 0)
            continue;
        until = uv_hrtime() + (uint64_t)d->cfg.spin_us * 1000;
        while (alive) {
            seen = d->busy_turns;
            alive = uv_run(d->loop, UV_RUN_NOWAIT);
            now = uv_hrtime();
            if (d->busy_turns != seen)
                until = now + (uint64_t)d->cfg.spin_us * 1000;
            else if (now >= until)
                break;
            else
                sched_yield();
        }
    } while (alive);
}

static void stop(struct daemon *d, const char *why)
{
    struct conn *c, *next;
    size_t i;

    if (d->stopping)
        return;
    d->stopping = true;
    log_info("stopping (%s)", why);
    if (!d->draining)
        notify_stopping("stopping");
    if (d->hooks_started)
        reload_close(d); /* a new generation still starting stops too */
    notify_close();
    for (i = 0; i < d->nlisteners; i++)
        listener_close(d->listeners[i]);
    d->nlisteners = 0;
    http_close(&d->http);
    for (i = 0; i < d->npools; i++) {
        pool_fail_queue(d->pools[i], ERROR_SHUTTING_DOWN, "the daemon is stopping");
        pool_shutdown(d->pools[i]);
    }
    /* the answers just made (ShuttingDown) go out before the close */
    flush_all(d);
    admin_close(d); /* its waiting get_context calls: answered, to connections still open */
    for (c = d->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    if (d->hooks_started) {
        uv_close((uv_handle_t *)&d->flush_prepare, NULL);
        uv_close((uv_handle_t *)&d->flush_check, NULL);
        uv_close((uv_handle_t *)&d->sigint, NULL);
        uv_close((uv_handle_t *)&d->sigterm, NULL);
        uv_close((uv_handle_t *)&d->sighup, NULL);
        uv_close((uv_handle_t *)&d->drain_timer, NULL);
        uv_close((uv_handle_t *)&d->status_timer, NULL);
        deadlines_close(&d->deadlines);
        deadlines_close(&d->conn_deadlines);
    }
    logq_close(&d->logq); /* what executors still write on their way out is written at once */
}

/* Every pool started at boot is ready, or cannot start: systemd hears
 * READY=1 (with the degraded pools in STATUS). */
static void on_boot_pool(struct pool *p, void *arg, const char *type, const char *message)
{
    struct daemon *d = arg;
    char status[300];

    if (type != NULL && strcmp(type, ERROR_POOL_DEGRADED) == 0)
        log_warn("pool %s cannot start its executors (%s): serving without it", p->name, message);
    if (--d->boot_waiting > 0 || d->stopping || d->draining)
        return;
    pool_status_line(d, status, sizeof status);
    log_info("every pool is ready (%s)", status);
    if (!d->reload.active) /* else the reload's READY=1 ends it */
        notify_ready(status);
}

static void on_status_timer(uv_timer_t *h)
{
    struct daemon *d = h->data;
    char status[300];

    if (d->boot_waiting > 0 || d->reload.active)
        return;
    pool_status_line(d, status, sizeof status);
    notify_status(status);
}

static void on_drain_timeout(uv_timer_t *h)
{
    stop(h->data, "limits.shutdown_timeout passed");
}

/* SIGINT/SIGTERM: stop accepting, let every call in flight finish (new
 * calls get ShuttingDown), then stop; after limits.shutdown_timeout, or at a
 * second signal, stop at once and answer what is left ShuttingDown. */
static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
    size_t i;

    if (d->draining || d->cfg.shutdown_timeout == 0) {
        stop(d, name);
        return;
    }
    d->draining = true;
    log_info("%s: draining the calls in flight (up to %u s; a second signal stops at once)", name,
             d->cfg.shutdown_timeout);
    notify_stopping("draining the calls in flight");
    for (i = 0; i < d->nlisteners; i++)
        listener_close(d->listeners[i]);
    d->nlisteners = 0;
    http_close(&d->http);
    uv_timer_start(&d->drain_timer, on_drain_timeout, (uint64_t)d->cfg.shutdown_timeout * 1000, 0);
    if (drained(d))
        stop(d, "nothing in flight");
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    reload_start(h->data, NULL, NULL);
}

/* So that a thousand clients fit: the soft open-files limit goes up to the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise the open-files limit: %s", strerror(errno));
}

/* What code in an executor (the master's uid) could do to the master: it
 * is not dumpable, so ptrace, /proc/<pid>/mem and pidfd_getfd on it take
 * CAP_SYS_PTRACE, which executors give up (src/executor/confine.h). Core
 * files are off unless limits.core_files: executors inherit the limit. */
static void harden(const struct config *cfg)
{
    struct rlimit rl;

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        log_warn("cannot make the daemon non-dumpable: %s", strerror(errno));
    if (!cfg->core_files && getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur != 0) {
        rl.rlim_cur = 0;
        if (setrlimit(RLIMIT_CORE, &rl) != 0)
            log_warn("cannot turn core files off: %s", strerror(errno));
    }
    if (cfg->allow_set && cfg->allow_eval)
        log_warn("python.allow_eval is true: eval and exec reach every module, whatever python.allow says");
}

/* The executor binary: beside this one (the build tree), else where
 * `make install` puts it relative to this one (PREFIX/sbin ->
 * PREFIX/libexec/pyrpoold, so a DESTDIR copy works too), else the
 * compiled-in install path. */
static int find_executor(struct daemon *d)
{
    char self[PATH_MAX], *dir;
    const char *tried[3];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    size_t i;

    if (n < 0) {
        log_error("cannot find my own binary: %s", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    dir = dirname(self);
    for (i = 0; i < 3; i++) {
        if (i == 0)
            snprintf(d->executor_path, sizeof d->executor_path, "%s/pyrpool-executor", dir);
        else if (i == 1)
            snprintf(d->executor_path, sizeof d->executor_path, "%s/../libexec/pyrpoold/pyrpool-executor", dir);
        else
            snprintf(d->executor_path, sizeof d->executor_path, "%s/pyrpool-executor", PYRPOOL_LIBEXECDIR);
        if (access(d->executor_path, X_OK) == 0)
            return 0;
        tried[i] = i == 0 ? "beside pyrpoold" : i == 1 ? "in ../libexec/pyrpoold" : PYRPOOL_LIBEXECDIR;
    }
    log_error("cannot find pyrpool-executor (built with pyrpoold): not %s, %s, nor %s", tried[0], tried[1], tried[2]);
    return -1;
}

static void print_summary(const struct config *cfg)
{
    size_t i;

    printf("%s: ok\n", cfg->file);
    for (i = 0; i < cfg->nlisten; i++) {
        const struct config_listen *l = &cfg->listen[i];

        const char *errors = l->errors == ERRORS_STRING ? ", errors as strings"
                           : l->errors == ERRORS_ARRAY  ? ", errors as arrays" : "";

        if (l->kind == LISTEN_UNIX)
            printf("  listen unix:%s (mode %04o%s%s, %s%s)\n", l->path, l->mode, l->group ? ", group " : "",
                   l->group ? l->group : "", l->admin ? "admin" : "no admin methods", errors);
        else
            printf("  listen tcp:%s:%d (token from %s, %s%s)\n", l->host, l->port, l->token_file,
                   l->admin ? "admin" : "no admin methods", errors);
    }
    for (i = 0; i < cfg->npools; i++)
        printf("  pool %s: %d %s, %s mode\n", cfg->pools[i].name, cfg->pools[i].size,
               cfg->pools[i].mode == POOL_PROCESS ? "executors" : "threads",
               cfg->pools[i].mode == POOL_PROCESS ? "process" : "thread");
    for (i = 0; i < cfg->nroutes; i++)
        printf("  route %s%s%s -> %s\n", cfg->routes[i].module, cfg->routes[i].function ? ":" : "",
               cfg->routes[i].function ? cfg->routes[i].function : "", cfg->routes[i].pool);
    if (cfg->metrics.host != NULL)
        printf(strchr(cfg->metrics.host, ':') != NULL ? "  metrics http://[%s]:%d/metrics\n"
                                                      : "  metrics http://%s:%d/metrics\n",
               cfg->metrics.host, cfg->metrics.port);
    if (cfg->venv != NULL)
        printf("  venv %s\n", cfg->venv);
    printf("  eval %s\n", cfg->allow_eval ? "allowed" : "forbidden");
}

/* The config's listeners: each adopts the socket systemd passed under its
 * name (socket activation), else binds its own. A passed socket that no
 * listener names is an error: the unit and the config disagree. */
static int open_listeners(struct daemon *d)
{
    struct activated *passed = NULL;
    char err[CONFIG_ERR_LEN];
    int npassed, fd, rc = 0;
    size_t i, j;

    npassed = activation_take(&passed, err, sizeof err);
    if (npassed < 0) {
        log_error("%s", err);
        return -1;
    }
    for (j = 0; j < (size_t)npassed; j++) {
        for (i = 0; i < d->cfg.nlisten; i++)
            if (d->cfg.listen[i].name != NULL && strcmp(d->cfg.listen[i].name, passed[j].name) == 0)
                break;
        if (i == d->cfg.nlisten) {
            log_error("systemd passed a socket named '%s' that no listener of %s names (give one "
                      "name: %s, as the socket unit's FileDescriptorName=)", passed[j].name, d->cfg.file,
                      passed[j].name);
            rc = -1;
        }
    }
    for (i = 0; rc == 0 && i < d->cfg.nlisten; i++) {
        fd = -1;
        for (j = 0; j < (size_t)npassed && fd < 0; j++) {
            if (d->cfg.listen[i].name != NULL && strcmp(d->cfg.listen[i].name, passed[j].name) == 0) {
                fd = passed[j].fd;
                passed[j].fd = -1; /* the listener's now */
            }
        }
        d->listeners[i] = listener_open(d, &d->cfg.listen[i], &method_handler, fd, &d->listen_counts[i], err,
                                        sizeof err);
        if (d->listeners[i] == NULL) {
            log_error("%s", err);
            rc = -1;
            break;
        }
        d->nlisteners++;
    }
    activation_free(passed, (size_t)npassed);
    return rc;
}

static int start(struct daemon *d)
{
    char err[CONFIG_ERR_LEN];
    size_t i;

    d->routes = route_new();
    d->listeners = calloc(d->cfg.nlisten, sizeof *d->listeners);
    d->listen_counts = calloc(d->cfg.nlisten, sizeof *d->listen_counts);
    d->nlisten_counts = d->cfg.nlisten;
    d->started_ns = uv_hrtime();
    if (d->routes == NULL || d->listeners == NULL || d->listen_counts == NULL) {
        log_error("out of memory");
        return -1;
    }
    if (open_listeners(d) != 0)
        return -1;
    if (d->cfg.metrics.host != NULL && http_open(&d->http, d, &d->cfg.metrics, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    for (i = 0; i < d->cfg.npools; i++)
        pool_list_add(d, pool_new(d, &d->cfg.pools[i], &d->cfg, true));
    d->default_pool = pool_find(d, "default", 7);
    for (i = 0; i < d->cfg.nroutes; i++) {
        const struct config_route *r = &d->cfg.routes[i];
        struct pool *p = pool_find(d, r->pool, strlen(r->pool));

        route_register(d->routes, r->module, strlen(r->module), r->function,
                       r->function ? strlen(r->function) : 0, p);
    }
    if (state_load(d, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    uv_prepare_init(d->loop, &d->flush_prepare);
    uv_check_init(d->loop, &d->flush_check);
    d->flush_prepare.data = d->flush_check.data = d;
    uv_prepare_start(&d->flush_prepare, on_prepare);
    uv_check_start(&d->flush_check, on_check);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sigterm);
    d->sigint.data = d->sigterm.data = d;
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_init(d->loop, &d->sighup);
    d->sighup.data = d;
    uv_signal_start(&d->sighup, on_sighup, SIGHUP);
    reload_init(d);
    uv_timer_init(d->loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_timer_init(d->loop, &d->status_timer);
    d->status_timer.data = d;
    if (notify_enabled())
        uv_timer_start(&d->status_timer, on_status_timer, STATUS_EVERY_MS, STATUS_EVERY_MS);
    d->boot_waiting = d->npools;
    for (i = 0; i < d->npools; i++)
        pool_when_ready(d->pools[i], false, on_boot_pool, d);
    deadlines_init(&d->deadlines, d->loop, pool_call_expired, d);
    deadlines_init(&d->conn_deadlines, d->loop, conn_expired, d);
    d->hooks_started = true;
    return 0;
}

static void cleanup(struct daemon *d)
{
    pool_list_free(d);
    free(d->listeners);
    free(d->listen_counts);
    route_free(d->routes);
    call_free_cache();
    config_free(&d->cfg);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    static struct daemon d;
    const char *file = "pyrpoold.yaml";
    char err[CONFIG_ERR_LEN];
    bool check = false;
    int opt, rc = 0;

    while ((opt = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': file = optarg; break;
        case 'C': check = true; break;
        case 'v': d.verbose = true; log_set_level(LOG_DEBUG); break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("pyrpoold %s (%s)\n", PYRPOOLD_VERSION, notify_build()); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "pyrpoold: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    if (config_load(file, (int)uv_available_parallelism(), &d.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "pyrpoold: %s\n", err);
        return 1;
    }
    log_set_json(d.cfg.log_json);
    if (!d.verbose)
        log_set_level(d.cfg.log_level);
    if (check) {
        rc = find_executor(&d) != 0 || check_preload(&d.cfg, d.executor_path) != 0;
        if (rc == 0)
            print_summary(&d.cfg);
        config_free(&d.cfg);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)getpid() ^ (unsigned)time(NULL)); /* max_requests_jitter */
    raise_nofile();
    harden(&d.cfg);
    d.loop = uv_default_loop();
    logq_init(&d.logq, d.loop);
    notify_init(d.loop); /* before any executor starts: they must not inherit it */
    if (find_executor(&d) != 0 || start(&d) != 0) {
        stop(&d, "start-up failed");
        rc = 1;
    } else {
        log_info("pyrpoold %s serving (config %s)", PYRPOOLD_VERSION, d.cfg.file);
    }
    run_loop(&d);
    cleanup(&d);
    if (uv_loop_close(d.loop) != 0)
        log_warn("handles still open at exit");
    return rc;
}
