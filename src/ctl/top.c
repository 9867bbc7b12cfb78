/* top: the refreshing view of `stats`. See top.h.
 *
 * A pool's calls per second: the change of its completed + failed between
 * two answers over the change of the daemon's uptime between them (the
 * daemon's own clock, so that a slow answer does not bend the figure);
 * "-" on the first frame, and for a pool new since the last one or whose
 * counts went back (stopped and started again).
 *
 * One poll waits for everything: the answer (the request is cast and the
 * client driven on its fd), a key, a signal (term's pipe), the next
 * refresh. So q and Ctrl-C work while an answer is awaited, and a daemon
 * that goes away ends top at once, between refreshes too. */
#include "top.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "stats.h"
#include "table.h"
#include "term.h"

#define ANSWER_S 10 /* for an answer to stats */
#define TOP_COLS 8
#define CELL 64

/* What a wait ends with, beside a negative pyrpool_code. */
enum { GO = 1, QUIT = 2 };

struct top {
    pyrpool_client *cli;
    const struct top_opts *o;
    bool screen;          /* full screen on term, else plain frames */
    bool keys;            /* q is read from stdin */
    struct term term;
    long limit;           /* frames to show, 0: until q */
    long shown;
    pyrpool_result *prev; /* the answer the last frame showed: rates are against it */
    char *frame;          /* the last frame's text, drawn again after a resize */
    size_t frame_len;
};

int top_options(int argc, char **argv, struct top_opts *o, char *err, size_t errlen)
{
    const char *opt, *val;
    char *end;
    int i;

    o->delay = 1;
    o->iterations = 0;
    for (i = 0; i < argc; i++) {
        opt = argv[i];
        if (opt[0] != '-' || (opt[1] != 'd' && opt[1] != 'n')) {
            snprintf(err, errlen, "top: unknown option or argument '%s' (usage: " TOP_USAGE ")", opt);
            return -1;
        }
        if (opt[2] == '\0' && i + 1 == argc) {
            snprintf(err, errlen, "top: -%c needs a value (usage: " TOP_USAGE ")", opt[1]);
            return -1;
        }
        val = opt[2] != '\0' ? opt + 2 : argv[++i];
        errno = 0;
        if (opt[1] == 'd') {
            o->delay = strtod(val, &end);
            if (*val == '\0' || *end != '\0' || !(o->delay >= 0.1 && o->delay <= 3600)) {
                snprintf(err, errlen, "top: -d takes seconds from 0.1 to 3600, not '%s'", val);
                return -1;
            }
        } else {
            o->iterations = strtol(val, &end, 10);
            if (*val == '\0' || *end != '\0' || errno != 0 || o->iterations < 1) {
                snprintf(err, errlen, "top: -n takes a number of frames from 1, not '%s'", val);
                return -1;
            }
        }
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double uptime(const msgpack_object *answer)
{
    double s = 0;

    pyrpool_obj_double(pyrpool_obj_get(pyrpool_obj_get(answer, "daemon"), "uptime"), &s);
    return s;
}

/* The pool keyed name in the previous answer, or NULL. */
static const msgpack_object *before(const struct top *t, const msgpack_object *name)
{
    const msgpack_object *pools = t->prev ? pyrpool_obj_get(pyrpool_result_value(t->prev), "pools") : NULL;
    uint32_t i;

    for (i = 0; pools != NULL && pools->type == MSGPACK_OBJECT_MAP && i < pools->via.map.size; i++) {
        const msgpack_object *k = &pools->via.map.ptr[i].key;

        if (k->type == MSGPACK_OBJECT_STR && name->type == MSGPACK_OBJECT_STR && k->via.str.size == name->via.str.size &&
            memcmp(k->via.str.ptr, name->via.str.ptr, name->via.str.size) == 0)
            return &pools->via.map.ptr[i].val;
    }
    return NULL;
}

/* Calls finished per second from then to now over dt seconds, or -1. */
static double rate(const msgpack_object *now, const msgpack_object *then, double dt)
{
    uint64_t a, b;

    if (then == NULL || !(dt > 0))
        return -1;
    a = stats_uint(now, "completed") + stats_uint(now, "failed");
    b = stats_uint(then, "completed") + stats_uint(then, "failed");
    return a >= b ? (double)(a - b) / dt : -1;
}

static void figure(char *out, size_t len, double v)
{
    if (v >= 0)
        snprintf(out, len, "%.1f", v);
    else
        snprintf(out, len, "-");
}

/* One row of the pools table; returns the pool's calls per second (-1: none). */
static double pool_row(const struct top *t, char cells[TOP_COLS][CELL], const msgpack_object *name,
                       const msgpack_object *p, double dt)
{
    const msgpack_object *ex = pyrpool_obj_get(p, "executors");
    double r = rate(p, before(t, name), dt);

    stats_text(cells[0], CELL, name);
    figure(cells[1], CELL, r);
    stats_ms(cells[2], CELL, p, "run_time", "p50");
    stats_ms(cells[3], CELL, p, "run_time", "p99");
    snprintf(cells[4], CELL, "%" PRIu64, stats_uint(p, "queue"));
    snprintf(cells[5], CELL, "%" PRIu64, stats_uint(ex, "busy"));
    snprintf(cells[6], CELL, "%" PRIu64, stats_uint(ex, "idle"));
    snprintf(cells[7], CELL, "%" PRIu64, stats_restarts(p));
    return r;
}

static void header(const struct top *t, FILE *f, const msgpack_object *answer, double total)
{
    const msgpack_object *d = pyrpool_obj_get(answer, "daemon");
    char version[64], up[64], rss[32], calls[32];

    stats_text(version, sizeof version, pyrpool_obj_get(d, "version"));
    stats_uptime(up, sizeof up, uptime(answer));
    stats_mib(rss, sizeof rss, stats_uint(d, "rss"));
    figure(calls, sizeof calls, total);
    fprintf(f, "pyrpoold %s, up %s, %" PRIu64 " connection%s, RSS %s MiB, %s calls/s", version, up,
            stats_uint(d, "connections"), stats_uint(d, "connections") == 1 ? "" : "s", rss, calls);
    if (t->screen)
        fprintf(f, "   (every %g s, q quits)", t->o->delay);
    fputc('\n', f);
}

/* The frame for answer into t->frame: the header, then the pools. */
static void render(struct top *t, const msgpack_object *answer)
{
    static const char *const cols[TOP_COLS] = {"POOL", "CALLS/S", "RUN_P50", "RUN_P99", "QUEUE", "BUSY", "IDLE",
                                               "RESTARTS"};
    const msgpack_object *pools = pyrpool_obj_get(answer, "pools");
    double dt = t->prev ? uptime(answer) - uptime(pyrpool_result_value(t->prev)) : 0, total = -1, r;
    char cells[TOP_COLS][CELL];
    const char *row[TOP_COLS];
    struct table tab;
    uint32_t i;
    FILE *m;

    free(t->frame);
    t->frame = NULL;
    if ((m = open_memstream(&t->frame, &t->frame_len)) == NULL) {
        fputs("pyrpoolctl: out of memory\n", stderr); /* as xalloc does */
        abort();
    }
    for (i = 0; i < TOP_COLS; i++)
        row[i] = cells[i];
    table_init(&tab, cols, TOP_COLS);
    for (i = 0; pools != NULL && pools->type == MSGPACK_OBJECT_MAP && i < pools->via.map.size; i++) {
        if ((r = pool_row(t, cells, &pools->via.map.ptr[i].key, &pools->via.map.ptr[i].val, dt)) >= 0)
            total = (total < 0 ? 0 : total) + r;
        table_add(&tab, row);
    }
    header(t, m, answer, total);
    table_print(&tab, m);
    table_free(&tab);
    fclose(m);
}

/* A frame for res (which t keeps, for the next rates). */
static void show(struct top *t, pyrpool_result *res)
{
    render(t, pyrpool_result_value(res));
    pyrpool_result_free(t->prev);
    t->prev = res;
    if (t->screen) {
        term_draw(t->frame, t->frame_len);
        return;
    }
    if (t->shown++ > 0)
        fputc('\n', stdout);
    term_print(stdout, t->frame, t->frame_len, term_cols(STDOUT_FILENO));
    fflush(stdout);
}

/* The signals' asks: end by a signal, stop (Ctrl-Z), draw again. */
static void on_signals(struct top *t)
{
    enum term_event ev;
    int sig = 0;

    ev = term_event(&t->term, &sig);
    if (ev == TERM_QUIT)
        term_die(&t->term, sig);
    if (ev == TERM_SUSPEND)
        term_suspend(&t->term);
    if (ev != TERM_NONE && t->frame != NULL)
        term_draw(t->frame, t->frame_len);
}

static int fail(pyrpool_error *err, int code, const char *message)
{
    pyrpool_error_free(err);
    err->code = code;
    err->message = strdup(message); /* NULL: the code's name is printed */
    return code;
}

/* Waits until deadline, or until h (when not NULL) is answered or fails,
 * serving keys and signals meanwhile. Returns GO, QUIT (q was pressed), or
 * a negative code: the connection broke while no answer was awaited, or h
 * was not answered by the deadline (then h is discarded). */
static int wait_for(struct top *t, pyrpool_handle *h, int64_t deadline, pyrpool_error *err)
{
    struct pollfd fds[3];
    char why[64];
    int64_t left;
    int n, rc;

    for (;;) {
        if (h != NULL && pyrpool_done(h))
            return GO;
        if ((left = deadline - now_ms()) <= 0 && h == NULL)
            return GO;
        if (left <= 0) {
            pyrpool_discard(h);
            snprintf(why, sizeof why, "the daemon did not answer stats within %d s", ANSWER_S);
            return fail(err, PYRPOOL_ERR_TIMEOUT, why);
        }
        fds[0] = (struct pollfd){.fd = pyrpool_fd(t->cli), .events = (short)pyrpool_events(t->cli)};
        fds[1] = (struct pollfd){.fd = t->screen ? term_signal_fd(&t->term) : -1, .events = POLLIN};
        fds[2] = (struct pollfd){.fd = t->keys ? STDIN_FILENO : -1, .events = POLLIN};
        n = poll(fds, 3, left < INT_MAX ? (int)left : INT_MAX);
        if (n < 0 && errno != EINTR)
            return fail(err, PYRPOOL_ERR_CONNECTION, "poll failed");
        if (t->screen)
            on_signals(t);
        if (n <= 0)
            continue;
        if (fds[2].revents != 0 && (rc = term_key_quit()) != 0) {
            if (rc > 0)
                return QUIT;
            t->keys = false; /* stdin ended: Ctrl-C still quits */
        }
        if (fds[0].revents != 0 && (rc = pyrpool_process(t->cli, err)) < 0 && h == NULL)
            return rc; /* with h, the await reports it */
    }
}

/* One answer to stats into *res. Returns GO, QUIT, or a negative code. */
static int fetch(struct top *t, pyrpool_result **res, pyrpool_error *err)
{
    pyrpool_handle *h;
    int rc = pyrpool_cast_request(t->cli, METHOD_STATS, NULL, &h, err);

    if (rc < 0)
        return rc;
    rc = wait_for(t, h, now_ms() + ANSWER_S * 1000, err);
    if (rc == QUIT)
        pyrpool_discard(h);
    if (rc != GO)
        return rc;
    rc = pyrpool_await(h, 0, res, err);
    return rc < 0 ? rc : GO;
}

static int loop(struct top *t, pyrpool_error *err)
{
    int64_t next = 0;
    pyrpool_result *res;
    long n;
    int rc;

    for (n = 0; t->limit == 0 || n < t->limit; n++) {
        if (n > 0 && (rc = wait_for(t, NULL, next, err)) != GO)
            return rc == QUIT ? 0 : rc;
        next = now_ms() + llround(t->o->delay * 1000);
        if ((rc = fetch(t, &res, err)) != GO)
            return rc == QUIT ? 0 : rc;
        show(t, res);
    }
    return 0;
}

int top_run(pyrpool_client *cli, const struct top_opts *o, pyrpool_error *err)
{
    struct top t;
    int rc;

    memset(&t, 0, sizeof t);
    t.cli = cli;
    t.o = o;
    t.screen = o->iterations == 0 && isatty(STDOUT_FILENO) && term_open(&t.term) == 0;
    t.keys = t.screen && term_key_fd(&t.term) >= 0;
    t.limit = o->iterations > 0 ? o->iterations : t.screen ? 0 : 1;
    rc = loop(&t, err);
    if (t.screen)
        term_close(&t.term);
    pyrpool_result_free(t.prev);
    free(t.frame);
    return rc;
}
