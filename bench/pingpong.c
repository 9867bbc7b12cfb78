/* pingpong: the cost of one cross-process round trip, the floor of any
 * out-of-process design.
 *
 *   pingpong [--count N] [--size BYTES] [--warmup K]
 *
 * Two processes (fork) on a socketpair(AF_UNIX, SOCK_STREAM): the parent
 * writes a small message, the child reads it and writes it back, N times,
 * one at a time. Each round trip is timed with CLOCK_MONOTONIC into a
 * log-bucketed histogram. Prints one JSON line: round_trips, seconds,
 * round_trips_per_s, p50_us, p90_us, p99_us, max_us. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hist.h"

static void die(const char *what)
{
    fprintf(stderr, "pingpong: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes; 1 on EOF before any byte, -1 on error. */
static int read_all(int fd, char *p, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got == 0 ? 1 : -1;
        got += (size_t)r;
    }
    return 0;
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "pingpong: %s: not a number: '%s'\n", what, s);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'}, {"size", required_argument, NULL, 's'},
        {"warmup", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t count = 100000, warmup = 1000, size = 32, i, t0, t1, start = 0, end;
    static struct hist h;
    int sv[2], ch, status, rc;
    char *buf;
    pid_t pid;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': count = parse_u64(optarg, "--count"); break;
        case 's': size = parse_u64(optarg, "--size"); break;
        case 'k': warmup = parse_u64(optarg, "--warmup"); break;
        case 'h':
            printf("usage: pingpong [--count N] [--size BYTES] [--warmup K]\n");
            return 0;
        default: return 2;
        }
    }
    if (count < 1 || size < 1 || size > (1u << 20)) {
        fprintf(stderr, "pingpong: --count must be >= 1 and --size 1..1048576\n");
        return 2;
    }
    buf = calloc(1, size);
    if (buf == NULL)
        die("calloc");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair");
    signal(SIGPIPE, SIG_IGN);
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(sv[0]);
        while ((rc = read_all(sv[1], buf, size)) == 0)
            if (write_all(sv[1], buf, size) != 0)
                _exit(1);
        _exit(rc == 1 ? 0 : 1);
    }
    close(sv[1]);
    hist_init(&h);
    for (i = 0; i < warmup + count; i++) {
        if (i == warmup)
            start = now_ns();
        memcpy(buf, &i, sizeof i < size ? sizeof i : size);
        t0 = now_ns();
        if (write_all(sv[0], buf, size) != 0)
            die("write");
        if (read_all(sv[0], buf, size) != 0)
            die("read");
        t1 = now_ns();
        if (i >= warmup)
            hist_record(&h, t1 - t0);
    }
    end = now_ns();
    close(sv[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pingpong: the echo process failed\n");
        return 1;
    }
    printf("{\"round_trips\": %llu, \"size\": %llu, \"seconds\": %.6f, \"round_trips_per_s\": %.1f, "
           "\"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, "
           "\"min_us\": %.2f, \"mean_us\": %.2f}\n",
           (unsigned long long)count, (unsigned long long)size, (end - start) / 1e9,
           (double)count / ((end - start) / 1e9), hist_quantile(&h, 0.5) / 1e3,
           hist_quantile(&h, 0.9) / 1e3, hist_quantile(&h, 0.99) / 1e3, h.max / 1e3, h.min / 1e3,
           h.sum / (double)h.count / 1e3);
    free(buf);
    return 0;
}
