/* client_c: libpyrpool's pipelined throughput: math.sqrt calls with a window
 * of calls in flight on one connection (pyrpool_castf, then pyrpool_await of
 * the oldest and a new cast in its place) for a number of seconds.
 *
 *   bench-client-c ADDRESS [SECONDS [INFLIGHT]]   (default 5 s, 64 in flight)
 *
 * ADDRESS is unix:PATH or tcp:HOST:PORT (a bare path is taken as unix:PATH).
 * Prints one line: calls_per_s=<float>. Every answer is checked (an error
 * or a wrong value exits 1). The first second's calls are a warm-up, not
 * counted. The client is corked (pyrpool_cork: the casts between two waits
 * go in one write); BENCH_NO_CORK=1 in the environment measures a write per
 * cast instead. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyrpool/client.h>

#define MAX_WINDOW 4096

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const pyrpool_error *err)
{
    fprintf(stderr, "bench-client-c: %s: %s\n", what, err->message != NULL ? err->message : "?");
    exit(1);
}

/* Casts math.sqrt(n) into slot. */
static void cast(pyrpool_client *cli, pyrpool_handle **slot, int n, pyrpool_error *err)
{
    if (pyrpool_castf(cli, "math", "sqrt", NULL, slot, err, "[i]", n) != 0)
        die("cast", err);
}

/* Awaits slot's answer (the square root of n). */
static void collect(pyrpool_handle *h, int n, pyrpool_error *err)
{
    pyrpool_result *res;
    const msgpack_object *v;

    if (pyrpool_await(h, 60000, &res, err) != 0)
        die("await", err);
    v = pyrpool_result_value(res);
    if (v->type != MSGPACK_OBJECT_FLOAT64 || fabs(v->via.f64 - sqrt((double)n)) > 1e-9) {
        fprintf(stderr, "bench-client-c: math.sqrt(%d) answered a wrong value\n", n);
        exit(1);
    }
    pyrpool_result_free(res);
}

int main(int argc, char **argv)
{
    static pyrpool_handle *win[MAX_WINDOW];
    static int arg[MAX_WINDOW];
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_client *cli;
    double seconds = argc > 2 ? atof(argv[2]) : 5.0, t0, t_end, t_warm;
    int inflight = argc > 3 ? atoi(argv[3]) : 64, i, n = 0;
    bool corked = getenv("BENCH_NO_CORK") == NULL;
    long long calls = 0;
    char addr[4096];

    if (argc < 2 || seconds <= 0 || inflight < 1 || inflight > MAX_WINDOW) {
        fprintf(stderr, "usage: %s unix:PATH|tcp:HOST:PORT [SECONDS [INFLIGHT]]\n", argv[0]);
        return 2;
    }
    snprintf(addr, sizeof(addr), "%s%s", strchr(argv[1], ':') != NULL ? "" : "unix:", argv[1]);
    if (pyrpool_connect(addr, NULL, &cli, &err) != 0)
        die("connect", &err);
    if (corked && pyrpool_cork(cli, true, &err) != 0)
        die("cork", &err);
    for (i = 0; i < inflight; i++) {
        arg[i] = n++;
        cast(cli, &win[i], arg[i], &err);
    }
    t_warm = now() + 1.0;
    t0 = 0;
    t_end = t_warm + seconds;
    for (i = 0;; i = (i + 1) % inflight) {
        collect(win[i], arg[i], &err);
        if (t0 > 0)
            calls++;
        else if (now() >= t_warm)
            t0 = now();
        if (t0 > 0 && (calls & 255) == 0 && now() >= t_end)
            break;
        arg[i] = n++ & 0xffffff;
        cast(cli, &win[i], arg[i], &err);
    }
    t_end = now();
    for (int k = 1; k < inflight; k++) /* the rest of the window */
        collect(win[(i + k) % inflight], arg[(i + k) % inflight], &err);
    printf("calls_per_s=%.1f\n", (double)calls / (t_end - t0));
    pyrpool_close(cli);
    pyrpool_error_free(&err);
    return 0;
}
