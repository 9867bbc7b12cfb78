/* loadgen: MessagePack-RPC load generator for pyrpoold (and anything that
 * speaks the same protocol on a Unix socket).
 *
 *   loadgen --socket PATH [--method M] [--params-file F | --params-hex HEX]
 *           [--conns N] [--inflight W] [--calls TOTAL] [--duration S]
 *           [--warmup K] [--timeout S]
 *
 * Opens N connections and keeps W requests in flight on each until TOTAL
 * calls (or, with --duration, until S seconds have passed) have been
 * answered. Every request is [0, msgid, M, params], params being the raw
 * MessagePack bytes of the file (or hex string) as given: prepare them with
 * msgpack.packb. The first K calls are a warm-up run with the same shape,
 * not measured. SIGINT or SIGTERM stops the issuing early: the calls in
 * flight are awaited and the figures so far reported.
 *
 * One thread, one epoll loop over all connections. Requests are written in
 * batches, one write per connection and loop turn: small requests are copied
 * into one contiguous buffer (a writev of many tiny pieces costs the kernel
 * more than the copy), large ones are queued as pieces for writev so that
 * the params bytes are shared, never copied. Answers are read in big chunks
 * into a streaming msgpack_unpacker, whose zone is cleared after each answer
 * instead of handed out (msgpack_unpacker_next would allocate a new zone per
 * answer): the generator spends its CPU on the sockets, not on itself, and
 * a large answer arriving in many reads is parsed once. Each answer's msgid must match a request in
 * flight on that connection (else exit 1); answers with a non-nil error
 * slot are counted as errors (the first one is printed to stderr).
 *
 * Latency is per call: CLOCK_MONOTONIC when the batch holding the request is
 * written to when the read holding its answer returned, into a log-bucketed
 * histogram (bench/hist.h). Prints one JSON line; loadgen_cpu_s is its own
 * CPU time (user + system) during the measured calls, to show it is not the
 * bottleneck. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <msgpack.h>

#include "hist.h"

#define READ_CHUNK (256 * 1024)
#define MAX_IOV 1024
#define PREFIX_LEN 7 /* 0x94 0x00 0xce + msgid (uint32, big-endian) */
#define SMALL_TAIL 4096 /* requests up to this size are copied, not shared */

struct slot {
    uint64_t t_send;
    uint32_t gen;
    bool busy;
    unsigned char prefix[PREFIX_LEN];
};

struct conn {
    int fd;
    int index;
    struct slot *slots;
    uint32_t *free_slots; /* a stack of free slot indexes */
    uint32_t nfree;
    uint32_t inflight;
    struct iovec *q;      /* unwritten request pieces (large requests) */
    size_t qhead, qtail, qcap;
    char *wbuf;           /* unwritten request bytes (small requests) */
    size_t woff, wlen;
    bool want_out;
    msgpack_unpacker up;
};

static struct {
    const char *socket;
    const char *method;
    uint32_t conns, inflight;
    uint64_t calls, warmup;
    double duration, timeout;
} opt = {.method = "call", .conns = 1, .inflight = 1, .calls = 10000, .timeout = 300};

/* The bytes shared by every request: method then params. */
static char *tail;
static size_t tail_len;
static uint32_t gen_limit; /* msgid = gen * inflight + slot < 2^32 */

static struct conn *conns;
static int epfd;

/* The phase being run. */
static struct {
    uint64_t total;    /* calls to issue; UINT64_MAX for "until duration" */
    uint64_t issued, completed, errors;
    uint64_t bytes_sent, bytes_received;
    uint64_t t_start, t_last, t_stop_issue, t_abort;
    double cpu_start, cpu_end;  /* this process's user + system seconds */
    bool stop_issue;
    bool record;
    struct hist hist;
} ph;

static bool printed_error;
static volatile sig_atomic_t stop_requested;
static uint64_t warmup_errors;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* SIGINT/SIGTERM: stop issuing, wait for the calls in flight, report. */
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

static void usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: loadgen --socket PATH [--method M] [--params-file F | --params-hex HEX]\n"
            "               [--conns N] [--inflight W] [--calls TOTAL] [--duration S]\n"
            "               [--warmup K] [--timeout S]\n"
            "  params are the raw MessagePack bytes of the params array (default [])\n"
            "  --duration S: issue calls for S seconds (--calls is then a cap, default none)\n"
            "  prints one JSON line: calls, seconds, calls_per_s, p50_us, p90_us, p99_us,\n"
            "  max_us, errors, bytes_sent, bytes_received, ...\n");
    exit(rc);
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        die("%s: not a number: '%s'", what, s);
    return (uint64_t)v;
}

static double parse_double(const char *s, const char *what)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        die("%s: not a number: '%s'", what, s);
    return v;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (buf == NULL)
                die("out of memory");
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f))
        die("%s: read error", path);
    fclose(f);
    *len = n;
    return buf;
}

static char *parse_hex(const char *s, size_t *len)
{
    size_t n = strlen(s), i;
    char *buf;
    unsigned v;

    if (n % 2 != 0)
        die("--params-hex: odd number of digits");
    buf = xmalloc(n / 2);
    for (i = 0; i < n / 2; i++) {
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            die("--params-hex: not hex at %zu", 2 * i);
        buf[i] = (char)v;
    }
    *len = n / 2;
    return buf;
}

/* Builds tail = packed method + params; checks params is one array. */
static void build_tail(const char *params, size_t params_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;

    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, params, params_len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != params_len || u.data.type != MSGPACK_OBJECT_ARRAY)
        die("params must be exactly one MessagePack array (%zu bytes given)", params_len);
    msgpack_unpacked_destroy(&u);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, opt.method, strlen(opt.method));
    msgpack_sbuffer_write(&sb, params, params_len);
    tail_len = sb.size;
    tail = msgpack_sbuffer_release(&sb);
}

static void conn_open(struct conn *c, int index)
{
    struct sockaddr_un sa;
    struct epoll_event ev;
    uint32_t i;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(opt.socket) >= sizeof sa.sun_path)
        die("socket path too long: %s", opt.socket);
    strcpy(sa.sun_path, opt.socket);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect %s: %s", opt.socket, strerror(errno));
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
        die("fcntl: %s", strerror(errno));
    c->index = index;
    c->slots = xmalloc(opt.inflight * sizeof *c->slots);
    c->free_slots = xmalloc(opt.inflight * sizeof *c->free_slots);
    for (i = 0; i < opt.inflight; i++)
        c->free_slots[i] = opt.inflight - 1 - i;
    c->nfree = opt.inflight;
    if (tail_len <= SMALL_TAIL) {
        c->wbuf = xmalloc(opt.inflight * (PREFIX_LEN + tail_len));
    } else {
        c->qcap = 2 * (size_t)opt.inflight + 2;
        c->q = xmalloc(c->qcap * sizeof *c->q);
    }
    if (!msgpack_unpacker_init(&c->up, READ_CHUNK))
        die("out of memory");
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void set_want_out(struct conn *c, bool on)
{
    struct epoll_event ev;

    if (c->want_out == on)
        return;
    c->want_out = on;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

/* One writev of cnt pieces to c: the bytes the socket took (0 when full). */
static size_t send_some(struct conn *c, const struct iovec *v, int cnt)
{
    ssize_t n;

    for (;;) {
        n = writev(c->fd, v, cnt);
        if (n >= 0) {
            ph.bytes_sent += (uint64_t)n;
            return (size_t)n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            die("conn %d: write: %s", c->index, strerror(errno));
    }
}

/* Writes as much of c's queued bytes as the socket takes. */
static void conn_flush_bytes(struct conn *c)
{
    struct iovec v;
    size_t n;

    while (c->woff < c->wlen) {
        v = (struct iovec){c->wbuf + c->woff, c->wlen - c->woff};
        if ((n = send_some(c, &v, 1)) == 0)
            break;
        c->woff += n;
    }
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    set_want_out(c, c->woff < c->wlen);
}

/* Writes as much of c's queue as the socket takes. */
static void conn_flush(struct conn *c)
{
    size_t cnt, n;

    if (c->wbuf != NULL) {
        conn_flush_bytes(c);
        return;
    }
    while (c->qhead < c->qtail) {
        cnt = c->qtail - c->qhead;
        if (cnt > MAX_IOV)
            cnt = MAX_IOV;
        if ((n = send_some(c, c->q + c->qhead, (int)cnt)) == 0)
            break;
        while (n > 0) {
            struct iovec *v = &c->q[c->qhead];

            if (n >= v->iov_len) {
                n -= v->iov_len;
                c->qhead++;
            } else {
                v->iov_base = (char *)v->iov_base + n;
                v->iov_len -= n;
                n = 0;
            }
        }
    }
    if (c->qhead == c->qtail)
        c->qhead = c->qtail = 0;
    set_want_out(c, c->qhead < c->qtail);
}

/* Queues requests until c has W in flight or the phase has issued enough,
 * then writes them. */
static void conn_refill(struct conn *c)
{
    uint32_t added[1024], nadded = 0, i, idx, msgid;
    uint64_t t;
    struct slot *s;

    if (c->wbuf != NULL && c->woff > 0) { /* room for a full window at the end */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    while (c->inflight < opt.inflight && !ph.stop_issue && ph.issued < ph.total) {
        if (c->wbuf == NULL && c->qtail + 2 > c->qcap) {
            memmove(c->q, c->q + c->qhead, (c->qtail - c->qhead) * sizeof *c->q);
            c->qtail -= c->qhead;
            c->qhead = 0;
        }
        idx = c->free_slots[--c->nfree];
        s = &c->slots[idx];
        s->gen = (s->gen + 1) % gen_limit;
        s->busy = true;
        msgid = s->gen * opt.inflight + idx;
        s->prefix[0] = 0x94;
        s->prefix[1] = 0x00;
        s->prefix[2] = 0xce;
        s->prefix[3] = (unsigned char)(msgid >> 24);
        s->prefix[4] = (unsigned char)(msgid >> 16);
        s->prefix[5] = (unsigned char)(msgid >> 8);
        s->prefix[6] = (unsigned char)msgid;
        if (c->wbuf != NULL) {
            memcpy(c->wbuf + c->wlen, s->prefix, PREFIX_LEN);
            memcpy(c->wbuf + c->wlen + PREFIX_LEN, tail, tail_len);
            c->wlen += PREFIX_LEN + tail_len;
        } else {
            c->q[c->qtail++] = (struct iovec){s->prefix, PREFIX_LEN};
            c->q[c->qtail++] = (struct iovec){tail, tail_len};
        }
        c->inflight++;
        ph.issued++;
        if (nadded < 1024)
            added[nadded++] = idx;
        else
            s->t_send = now_ns();
    }
    if (nadded == 0)
        return;
    t = now_ns();
    for (i = 0; i < nadded; i++)
        c->slots[added[i]].t_send = t;
    conn_flush(c);
}

static void print_error(const msgpack_object *err)
{
    char buf[2048];
    int n = msgpack_object_print_buffer(buf, sizeof buf, *err);

    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    buf[n] = '\0';
    fprintf(stderr, "loadgen: first error response: %s\n", buf);
}

static void on_response(struct conn *c, const msgpack_object *o, uint64_t t_recv)
{
    const msgpack_object *a;
    uint64_t msgid;
    uint32_t idx, gen;
    struct slot *s;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
        die("conn %d: an answer is not a 4-item array", c->index);
    a = o->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 != 1)
        die("conn %d: an answer's type is not 1 (response)", c->index);
    if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 > UINT32_MAX)
        die("conn %d: an answer's msgid is not a uint32", c->index);
    msgid = a[1].via.u64;
    idx = (uint32_t)(msgid % opt.inflight);
    gen = (uint32_t)(msgid / opt.inflight);
    s = &c->slots[idx];
    if (!s->busy || s->gen != gen)
        die("conn %d: answer with msgid %llu, which is not in flight", c->index,
            (unsigned long long)msgid);
    if (a[2].type != MSGPACK_OBJECT_NIL) {
        ph.errors++;
        if (!printed_error) {
            printed_error = true;
            print_error(&a[2]);
        }
    }
    if (ph.record)
        hist_record(&ph.hist, t_recv - s->t_send);
    s->busy = false;
    c->free_slots[c->nfree++] = idx;
    c->inflight--;
    ph.completed++;
    ph.t_last = t_recv;
}

static void conn_read(struct conn *c)
{
    msgpack_object o;
    size_t cap;
    ssize_t n;
    uint64_t t;
    int r;

    for (;;) {
        if (msgpack_unpacker_buffer_capacity(&c->up) < READ_CHUNK / 4 &&
            !msgpack_unpacker_reserve_buffer(&c->up, READ_CHUNK))
            die("out of memory");
        cap = msgpack_unpacker_buffer_capacity(&c->up);
        n = read(c->fd, msgpack_unpacker_buffer(&c->up), cap);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            die("conn %d: read: %s", c->index, strerror(errno));
        }
        if (n == 0)
            die("conn %d: the server closed the connection (%u calls in flight)", c->index,
                c->inflight);
        t = now_ns();
        ph.bytes_received += (uint64_t)n;
        msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
        while ((r = msgpack_unpacker_execute(&c->up)) > 0) {
            o = msgpack_unpacker_data(&c->up);
            on_response(c, &o, t);
            msgpack_unpacker_reset_zone(&c->up);
            msgpack_unpacker_reset(&c->up);
        }
        if (r < 0)
            die("conn %d: the server sent bytes that are not MessagePack", c->index);
        if ((size_t)n < cap)
            break;
    }
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Runs total calls (or until duration) and waits for every answer. */
static void run_phase(uint64_t total, double duration, bool record)
{
    struct epoll_event evs[64];
    uint32_t i;
    int n, k;
    uint64_t t;

    ph.total = total;
    ph.issued = ph.completed = ph.errors = 0;
    ph.bytes_sent = ph.bytes_received = 0;
    ph.stop_issue = false;
    ph.record = record;
    hist_init(&ph.hist);
    ph.cpu_start = cpu_seconds();
    ph.t_start = ph.t_last = now_ns();
    ph.t_stop_issue = duration > 0 ? ph.t_start + (uint64_t)(duration * 1e9) : UINT64_MAX;
    for (i = 0; i < opt.conns; i++)
        conn_refill(&conns[i]);
    while (ph.completed < ph.issued || (!ph.stop_issue && ph.issued < ph.total)) {
        n = epoll_wait(epfd, evs, 64, 100);
        if (n < 0) {
            if (errno != EINTR)
                die("epoll_wait: %s", strerror(errno));
            n = 0;
        }
        for (k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;

            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(c);
            if (evs[k].events & EPOLLOUT)
                conn_flush(c);
        }
        t = now_ns();
        if (t >= ph.t_stop_issue || stop_requested)
            ph.stop_issue = true;
        if (t >= ph.t_abort)
            die("timed out after %.0f s (%llu of %llu calls answered)", opt.timeout,
                (unsigned long long)ph.completed, (unsigned long long)ph.issued);
        for (k = 0; k < n; k++)
            conn_refill(evs[k].data.ptr);
    }
    ph.cpu_end = cpu_seconds();
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},   {"method", required_argument, NULL, 'm'},
        {"params-file", required_argument, NULL, 'f'}, {"params-hex", required_argument, NULL, 'x'},
        {"conns", required_argument, NULL, 'c'},    {"inflight", required_argument, NULL, 'w'},
        {"calls", required_argument, NULL, 'n'},    {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'k'},   {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    char *params = NULL;
    size_t params_len = 0;
    bool calls_given = false;
    double secs;
    uint32_t i;
    int ch;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': opt.socket = optarg; break;
        case 'm': opt.method = optarg; break;
        case 'f': free(params); params = read_file(optarg, &params_len); break;
        case 'x': free(params); params = parse_hex(optarg, &params_len); break;
        case 'c': opt.conns = (uint32_t)parse_u64(optarg, "--conns"); break;
        case 'w': opt.inflight = (uint32_t)parse_u64(optarg, "--inflight"); break;
        case 'n': opt.calls = parse_u64(optarg, "--calls"); calls_given = true; break;
        case 'd': opt.duration = parse_double(optarg, "--duration"); break;
        case 'k': opt.warmup = parse_u64(optarg, "--warmup"); break;
        case 't': opt.timeout = parse_double(optarg, "--timeout"); break;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc || opt.socket == NULL)
        usage(2);
    if (opt.conns < 1 || opt.conns > 4096 || opt.inflight < 1 || opt.inflight > 65536)
        die("--conns must be 1..4096 and --inflight 1..65536");
    if (opt.duration > 0 && !calls_given)
        opt.calls = UINT64_MAX;
    if (opt.calls < 1)
        die("--calls must be at least 1");
    if (params == NULL) {
        params = xmalloc(1);
        params[0] = (char)0x90; /* [] */
        params_len = 1;
    }
    build_tail(params, params_len);
    free(params);
    gen_limit = UINT32_MAX / opt.inflight;
    signal(SIGPIPE, SIG_IGN);
    {
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal; /* no SA_RESTART: epoll_wait returns EINTR */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    conns = xmalloc(opt.conns * sizeof *conns);
    for (i = 0; i < opt.conns; i++)
        conn_open(&conns[i], (int)i);

    ph.t_abort = now_ns() + (uint64_t)(opt.timeout * 1e9);
    if (opt.warmup > 0) {
        run_phase(opt.warmup, 0, false);
        warmup_errors = ph.errors;
    }
    run_phase(opt.calls, opt.duration, true);

    secs = (double)(ph.t_last - ph.t_start) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    printf("{\"calls\": %llu, \"seconds\": %.6f, \"calls_per_s\": %.1f, "
           "\"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
           "\"max_us\": %.2f, \"min_us\": %.2f, \"mean_us\": %.2f, \"errors\": %llu, "
           "\"warmup_errors\": %llu, \"bytes_sent\": %llu, \"bytes_received\": %llu, \"conns\": %u, \"inflight\": %u, "
           "\"loadgen_cpu_s\": %.3f}\n",
           (unsigned long long)ph.completed, secs, (double)ph.completed / secs,
           hist_quantile(&ph.hist, 0.50) / 1e3, hist_quantile(&ph.hist, 0.90) / 1e3,
           hist_quantile(&ph.hist, 0.99) / 1e3, hist_quantile(&ph.hist, 0.999) / 1e3,
           ph.hist.max / 1e3, ph.hist.count ? ph.hist.min / 1e3 : 0.0,
           ph.hist.count ? ph.hist.sum / (double)ph.hist.count / 1e3 : 0.0,
           (unsigned long long)ph.errors, (unsigned long long)warmup_errors,
           (unsigned long long)ph.bytes_sent,
           (unsigned long long)ph.bytes_received, opt.conns, opt.inflight, ph.cpu_end - ph.cpu_start);
    fflush(stdout);
    for (i = 0; i < opt.conns; i++) {
        close(conns[i].fd);
        msgpack_unpacker_destroy(&conns[i].up);
        free(conns[i].slots);
        free(conns[i].free_slots);
        free(conns[i].q);
        free(conns[i].wbuf);
    }
    free(conns);
    free(tail);
    close(epfd);
    return 0;
}
