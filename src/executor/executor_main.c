/* executor_main: the pyrpool-executor process, one per executor.
 *
 * Started by the master with a socketpair on fd 3 and its pool's boards on
 * fd 4 (board.h). Reads the INIT frame, starts Debian's CPython with the
 * configured sys.path, answers READY, then serves batches: read every frame
 * that has arrived (GIL released while waiting), run them in order, each
 * claimed on the board before it starts (a call the master answered first
 * is skipped), gather their RESULT frames in the board's arena and write
 * them with one write. guard.c keeps the process accountable (signals, its
 * process group, fork() in a call).
 *
 * DESIGN: batching must not hold a quick call behind slower ones. A watcher
 * thread looks after the batch: once its unstarted calls have waited
 * handback_ms since the batch arrived (however many calls ran meanwhile),
 * or finished results have waited that long to be written, it writes the
 * results finished so far and a RETURN frame handing the unstarted calls
 * back to the master, which gives them to an idle executor. While work
 * flows it ticks on its own (see watch()), so the main thread does not wake
 * it per batch. The queue, the deadlines and the output are shared under
 * one mutex; Python runs only on the main thread. After a quick batch the
 * main thread polls briefly before sleeping (limits.spin_us).
 * It exits when the master closes the socket, and dies with the master
 * (PR_SET_PDEATHSIG).
 *
 * Thread mode ("threads" in INIT) is another loop, serve_threads(): the main
 * thread only reads frames, with the GIL released; each call goes to a
 * worker thread (started when none is free: the master sends at most one
 * call per thread of the pool), which runs it and writes its RESULT frame
 * itself. STOP frames make the main thread raise TimeoutError or
 * pyrpool.Cancelled in the thread running that call
 * (PyThreadState_SetAsyncExc). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "board.h"
#include "forkserver.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "mpk.h"
#include "pyrun.h"
#include "rbuf.h"

#define READ_CHUNK 65536

struct init {
    char name[128];
    char **path;
    size_t npath;
    bool allow_eval;
    unsigned handback_ms;
    unsigned spin_us;
    char **preload;
    size_t npreload;
    bool threads;
    bool template;     /* fork executors instead of serving (forkserver.c) */
    int board;         /* its board in the pool's memfd (board.h); -1: a template's */
};

/* A call read from the master and not run yet. */
struct pending {
    uint64_t id;
    size_t off;     /* frame body in the read buffer */
    size_t len;
    uint32_t timeout_ms; /* time it had left when sent; 0 for none */
};

/* Shared between the main thread and the watcher, under m. */
static struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    struct pending *items;
    size_t head, count, cap;   /* unstarted: items[head..count) */
    bool running;
    bool watcher_idle;         /* waiting for a batch, needs a signal */
    uint64_t running_id;       /* the running call */
    bool has_deadline;         /* it has a timeout... */
    bool timeout_fired;        /* ...and TimeoutError was already scheduled */
    struct timespec deadline;
    uint64_t seq;              /* bumped at each call start */
    struct timespec waiting_since; /* the unstarted calls arrived */
    size_t out_len;            /* whole frames not written yet: board->arena[0..out_len) */
    struct timespec out_since; /* the oldest of them was finished */
    msgpack_sbuffer scratch;   /* a frame being packed */
    unsigned handback_ms;
} q = {.m = PTHREAD_MUTEX_INITIALIZER};

/* This executor's board (board.h): slots, arena, culprit. */
static struct board *board;

/* Reads until buf holds one whole frame; returns its body length, 0 on EOF. */
static int64_t read_frame(struct rbuf *in)
{
    int64_t body;
    ssize_t n;

    for (;;) {
        if (in->len >= FRAME_PREFIX) {
            body = frame_body_len(in->data);
            if (body < 0)
                return -1;
            if (in->len - FRAME_PREFIX >= (size_t)body)
                return body;
        }
        if (rbuf_reserve(in, READ_CHUNK) != 0)
            return -1;
        n = read(FRAME_MASTER_FD, rbuf_end(in), rbuf_room(in));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        in->len += (size_t)n;
    }
}

static char *dup_str(const struct mpk_item *it)
{
    char *s = malloc(it->v.s.len + 1);

    if (s == NULL)
        abort();
    memcpy(s, it->v.s.ptr, it->v.s.len);
    s[it->v.s.len] = '\0';
    return s;
}

/* [FRAME_INIT, {"name": str, "path": [str...], "allow_eval": bool}] */
static int parse_init(const char *body, size_t len, struct init *init)
{
    struct mpk_reader r;
    struct mpk_item it, key;
    uint32_t i, j, n;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n != 2 || mpk_read(&r, &it) != 0 ||
        it.type != MPK_UINT || it.v.u != FRAME_INIT || mpk_read(&r, &it) != 0 || it.type != MPK_MAP)
        return -1;
    n = it.v.n;
    for (i = 0; i < n; i++) {
        if (mpk_read(&r, &key) != 0 || key.type != MPK_STR || mpk_read(&r, &it) != 0)
            return -1;
        if (key.v.s.len == 4 && memcmp(key.v.s.ptr, "name", 4) == 0 && it.type == MPK_STR) {
            snprintf(init->name, sizeof init->name, "%.*s", (int)it.v.s.len, it.v.s.ptr);
        } else if (key.v.s.len == 4 && memcmp(key.v.s.ptr, "path", 4) == 0 && it.type == MPK_ARRAY) {
            init->npath = it.v.n;
            init->path = calloc(it.v.n + 1, sizeof(char *));
            for (j = 0; j < init->npath; j++) {
                if (mpk_read(&r, &it) != 0 || it.type != MPK_STR)
                    return -1;
                init->path[j] = dup_str(&it);
            }
        } else if (key.v.s.len == 10 && memcmp(key.v.s.ptr, "allow_eval", 10) == 0 &&
                   it.type == MPK_BOOL) {
            init->allow_eval = it.v.b;
        } else if (key.v.s.len == 11 && memcmp(key.v.s.ptr, "handback_ms", 11) == 0 &&
                   it.type == MPK_UINT) {
            init->handback_ms = (unsigned)it.v.u;
        } else if (key.v.s.len == 7 && memcmp(key.v.s.ptr, "preload", 7) == 0 && it.type == MPK_ARRAY) {
            init->npreload = it.v.n;
            init->preload = calloc(it.v.n + 1, sizeof(char *));
            for (j = 0; j < init->npreload; j++) {
                if (mpk_read(&r, &it) != 0 || it.type != MPK_STR)
                    return -1;
                init->preload[j] = dup_str(&it);
            }
        } else if (key.v.s.len == 7 && memcmp(key.v.s.ptr, "spin_us", 7) == 0 && it.type == MPK_UINT) {
            init->spin_us = (unsigned)it.v.u;
        } else if (key.v.s.len == 7 && memcmp(key.v.s.ptr, "threads", 7) == 0 && it.type == MPK_BOOL) {
            init->threads = it.v.b;
        } else if (key.v.s.len == 8 && memcmp(key.v.s.ptr, "template", 8) == 0 && it.type == MPK_BOOL) {
            init->template = it.v.b;
        } else if (key.v.s.len == 5 && memcmp(key.v.s.ptr, "board", 5) == 0 &&
                   (it.type == MPK_UINT || it.type == MPK_INT)) {
            init->board = it.type == MPK_UINT && it.v.u <= INT32_MAX ? (int)it.v.u : -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Writes all of buf (blocking). */
static int write_all(const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(FRAME_MASTER_FD, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int start_python(const char *argv0)
{
    PyConfig config;
    PyStatus status;

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.buffered_stdio = 0;
    config.parse_argv = 0;
    status = PyConfig_SetBytesString(&config, &config.program_name, argv0);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        log_error("cannot start Python: %s", status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

static void timespec_add_ms(struct timespec *t, unsigned ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* ---- process mode: the batch's output, in the board's arena ----------
 * Whole frames are gathered in the arena and written together; committed
 * says how much of it the master may read back if this process dies
 * before writing them (board.h). All under q.m. */

/* Writes the frames gathered so far. */
static void out_flush(void)
{
    if (q.out_len == 0)
        return;
    if (write_all(board->arena, q.out_len) != 0)
        _exit(0); /* the master is gone */
    q.out_len = 0;
    board_store(&board->committed, 0);
}

/* Adds whole frames to the output; what does not fit in the arena is
 * written at once, after what is gathered. */
static void out_add(const char *p, size_t n)
{
    if (q.out_len + n > BOARD_ARENA)
        out_flush();
    if (n > BOARD_ARENA) {
        if (write_all(p, n) != 0)
            _exit(0);
        return;
    }
    if (q.out_len == 0)
        clock_gettime(CLOCK_MONOTONIC, &q.out_since);
    memcpy(board->arena + q.out_len, p, n);
    q.out_len += n;
    board_store(&board->committed, q.out_len);
}

/* Adds the frame packed in q.scratch. */
static void out_add_scratch(void)
{
    out_add(q.scratch.data, q.scratch.size);
    q.scratch.size = 0;
}

/* Under q.m: hands every unstarted call back to the master, after the
 * results already finished. */
static void hand_back(void)
{
    msgpack_packer pk;
    size_t start, i;

    msgpack_packer_init(&pk, &q.scratch, msgpack_sbuffer_write);
    start = frame_begin(&q.scratch);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_RETURN);
    msgpack_pack_array(&pk, q.count - q.head);
    for (i = q.head; i < q.count; i++)
        msgpack_pack_uint64(&pk, q.items[i].id);
    frame_end(&q.scratch, start);
    q.head = q.count;
    out_add_scratch();
    out_flush();
}

/* True when a running call holds something back: unstarted calls behind
 * it, or finished results waiting for the end of the batch. Under q.m. */
static bool holding_back(void)
{
    return q.running && (q.head < q.count || q.out_len > 0);
}

static bool passed(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static int raise_timeout(void *arg);
static PyObject *thread_stack(unsigned long thread);

/* Appends [FRAME_TIMEOUT, id, stack text or nil] to sb. */
static void pack_timeout(msgpack_sbuffer *sb, uint64_t id, const char *text, Py_ssize_t n)
{
    msgpack_packer pk;
    size_t start;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, FRAME_TIMEOUT);
    msgpack_pack_uint64(&pk, id);
    if (text != NULL)
        msgpack_pack_str_with_body(&pk, text, (size_t)n);
    else
        msgpack_pack_nil(&pk);
    frame_end(sb, start);
}

static pthread_t main_thread;
static volatile uint64_t timeout_seq; /* the call the watcher timed out */

/* SIGUSR2, sent by the watcher to the main thread: schedules raise_timeout
 * from the main thread, the only one whose pending calls CPython notices
 * at once. (Py_AddPendingCall takes a lock the main thread holds only while
 * it runs pending calls, which only this handler adds.) */
static void poke(int sig)
{
    (void)sig;
    Py_AddPendingCall(raise_timeout, (void *)(uintptr_t)timeout_seq);
}

static PyObject *cancelled_exc; /* pyrpool.Cancelled, a BaseException */

/* Raises pyrpool.Cancelled in the running call if it is still call id. */
static int raise_cancel(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    bool same;

    pthread_mutex_lock(&q.m);
    same = q.running && q.running_id == id;
    pthread_mutex_unlock(&q.m);
    if (!same)
        return 0;
    PyErr_SetString(cancelled_exc, "the client cancelled this call");
    return -1;
}

/* SIGRTMIN, queued by the master with a call id: cancel that call. Like
 * poke, it schedules the work from the main thread. */
static void on_cancel_signal(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    Py_AddPendingCall(raise_cancel, info->si_value.sival_ptr);
}

/* The running call's timeout: run by the main thread (Py_AddPendingCall)
 * at its next bytecode, inside that call: reports where it is to the master
 * and raises TimeoutError there. A call blocked in C notices only when it
 * returns; the master replaces the executor if that takes too long. */
static int raise_timeout(void *arg)
{
    uint64_t seq = (uint64_t)(uintptr_t)arg;
    PyObject *stack;
    Py_ssize_t n = 0;
    const char *text = NULL;
    uint64_t id;

    pthread_mutex_lock(&q.m);
    if (!q.running || q.seq != seq) {
        pthread_mutex_unlock(&q.m);
        return 0;
    }
    id = q.running_id;
    pthread_mutex_unlock(&q.m);
    stack = thread_stack(PyThread_get_thread_ident());
    if (stack != NULL && (text = PyUnicode_AsUTF8AndSize(stack, &n)) == NULL)
        PyErr_Clear();
    pthread_mutex_lock(&q.m);
    pack_timeout(&q.scratch, id, text, n);
    out_add_scratch();
    out_flush();
    pthread_mutex_unlock(&q.m);
    Py_XDECREF(stack);
    PyErr_SetString(PyExc_TimeoutError, "the call did not finish within its timeout");
    return -1;
}

/* True when the watcher has something to look after. Under q.m. */
static bool needs_watch(void)
{
    return holding_back() || (q.running && q.has_deadline && !q.timeout_fired);
}

static const struct timespec *earliest(const struct timespec *a, const struct timespec *b)
{
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec) ? a : b;
}

/* When what the running call holds back has waited handback_ms: the
 * unstarted calls since their batch arrived, the finished results since
 * the first of them. Under q.m, with holding_back() true. */
static struct timespec handback_due(void)
{
    struct timespec calls = q.waiting_since, results = q.out_since;

    timespec_add_ms(&calls, q.handback_ms);
    timespec_add_ms(&results, q.handback_ms);
    if (q.head == q.count)
        return results;
    return q.out_len == 0 ? calls : *earliest(&calls, &results);
}

/* The watcher thread: see DESIGN at the top. What a batch holds back is
 * bounded in all, not per call: the unstarted calls go back to the master
 * once they have waited handback_ms since their batch arrived, however
 * many calls ran before them meanwhile. While calls keep coming it ticks
 * every handback_ms / 2 on its own, so the main thread never has to wake
 * it (a signal per batch cost a futex call and a context switch each);
 * when a call holds something back, or has a timeout, it sleeps until the
 * earliest of those deadlines, and looks again (a later batch's deadline
 * is later). After two quiet ticks it sleeps until the main thread signals
 * it, so an idle executor costs nothing. */
static void *watch(void *arg)
{
    struct timespec handback, wake;
    const struct timespec *hb, *td;
    unsigned quiet = 0;

    (void)arg;
    pthread_mutex_lock(&q.m);
    for (;;) {
        if (!needs_watch()) {
            if (++quiet > 2) {
                q.watcher_idle = true;
                while (!needs_watch())
                    pthread_cond_wait(&q.cv, &q.m);
                q.watcher_idle = false;
            } else {
                clock_gettime(CLOCK_MONOTONIC, &wake);
                timespec_add_ms(&wake, q.handback_ms / 2 ? q.handback_ms / 2 : 1);
                pthread_cond_timedwait(&q.cv, &q.m, &wake);
            }
            continue;
        }
        quiet = 0;
        hb = NULL;
        if (holding_back()) {
            handback = handback_due();
            hb = &handback;
        }
        td = q.has_deadline && !q.timeout_fired ? &q.deadline : NULL;
        wake = *earliest(hb, td);
        if (!passed(&wake)) {
            pthread_cond_timedwait(&q.cv, &q.m, &wake);
            continue; /* the running call may have changed: look again */
        }
        if (td != NULL) {
            q.timeout_fired = true;
            /* CPython arms pending calls only when they are added by the
             * main thread: the signal has the main thread add it */
            timeout_seq = q.seq;
            pthread_kill(main_thread, SIGUSR2);
        }
        if (hb == NULL || !passed(hb))
            continue;
        if (q.head < q.count)
            hand_back();
        else
            out_flush(); /* results done before the slow call go out now */
    }
    return NULL;
}

/* Queues every complete frame in in from *parsed on. */
static int queue_frames(struct rbuf *in, size_t *parsed)
{
    struct mpk_reader r;
    struct mpk_item it;
    int64_t body;
    uint64_t id;

    while (in->len - *parsed >= FRAME_PREFIX) {
        body = frame_body_len(in->data + *parsed);
        if (body < 0)
            return -1;
        if (in->len - *parsed - FRAME_PREFIX < (size_t)body)
            break;
        mpk_reader_init(&r, in->data + *parsed + FRAME_PREFIX, (size_t)body);
        if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || mpk_read(&r, &it) != 0 ||
            mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
            return -1;
        id = it.v.u;
        if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT) /* timeout_ms */
            return -1;
        pthread_mutex_lock(&q.m);
        if (q.head == q.count) /* a new batch: its hold is counted from now */
            clock_gettime(CLOCK_MONOTONIC, &q.waiting_since);
        if (q.count == q.cap) {
            q.cap = q.cap ? q.cap * 2 : 64;
            q.items = realloc(q.items, q.cap * sizeof *q.items);
            if (q.items == NULL)
                abort();
        }
        q.items[q.count++] = (struct pending){id, *parsed + FRAME_PREFIX, (size_t)body,
                                              (uint32_t)it.v.u};
        pthread_mutex_unlock(&q.m);
        *parsed += FRAME_PREFIX + (size_t)body;
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Reads what the master sent, without blocking; with wait, first sleeps
 * until there is something to read. The sleep is in poll, not in a blocking
 * recv: a task blocked in recv on a Unix socket is also woken each time the
 * master reads what this process wrote (the kernel signals "writable" on the
 * same wait queue), a wasted context switch per batch; poll sleeps for
 * POLLIN alone. */
static ssize_t recv_from_master(void *buf, size_t room, bool wait)
{
    struct pollfd pfd[2] = {{.fd = FRAME_MASTER_FD, .events = POLLIN}, {.fd = guard_wake_fd(), .events = POLLIN}};

    if (wait && poll(pfd, 2, -1) < 0)
        return -1;
    if (wait && pfd[1].revents != 0 && pfd[0].revents == 0) {
        errno = EINTR; /* only children to reap: the caller does, and waits again */
        return -1;
    }
    return recv(FRAME_MASTER_FD, buf, room, MSG_DONTWAIT);
}

/* limits.spin_us: how long to poll before sleeping after a quick batch. */
static unsigned spin_us;

/* A batch that ran in less than this is "quick": spinning after it pays off. */
#define SPIN_QUICK_NS 1000000

/* Waits for bytes from the master (GIL released), then takes all that came.
 * After a quick batch it first polls for up to spin_us without sleeping,
 * yielding the CPU to any runnable process between polls: a client calling
 * one at a time sends its next call within a round trip, a pipelining one
 * keeps the master handing out batches, and a sleep plus a wake-up cost
 * more than that (on a virtual machine, waking an idle CPU most of all).
 * After a slow batch (I/O, where microseconds do not matter) it sleeps at
 * once. Returns 0, or -1 when the master is gone. */
static int read_more(struct rbuf *in, bool quick_batch)
{
    uint64_t spin_end = quick_batch && spin_us ? now_ns() + (uint64_t)spin_us * 1000 : 0;
    bool got = false, spinning;
    size_t room;
    ssize_t n;
    int rc = -1;

    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        if (rbuf_reserve(in, READ_CHUNK) != 0)
            break;
        room = rbuf_room(in);
        spinning = spin_end != 0 && now_ns() < spin_end;
        /* a stream read that does not fill the buffer took all there was:
         * no second recv to see EAGAIN */
        n = recv_from_master(rbuf_end(in), room, !got && !spinning);
        if (n > 0) {
            in->len += (size_t)n;
            got = true;
            rc = 0;
            if ((size_t)n < room)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            guard_reap(); /* a child a call forked ended (SIGCHLD) */
            continue;
        }
        if (n < 0 && errno == EAGAIN && !got) {
            sched_yield(); /* spin, but let any runnable process go first */
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN))
            rc = -1; /* the master is gone */
        break;
    }
    Py_END_ALLOW_THREADS
    return rc;
}

/* Claims call id on the board before it starts (board.h): false when the
 * master answered it first (Timeout, Cancelled) and it must not run. The
 * master gives a batch's calls slots 0, 1, ... in the order they arrive,
 * so the slot after the last one claimed is almost always the one. */
static bool claim(uint64_t id)
{
    static unsigned next;
    unsigned i, k;

    for (k = 0; k < BOARD_SLOTS; k++) {
        i = (next + k) % BOARD_SLOTS;
        if (board_word_state(board_load(&board->slot[i])) == SLOT_FREE ||
            board_load(&board->slot[i]) >> 2 != id)
            continue;
        next = i + 1;
        return board_claim(board, i, id, SLOT_STARTED);
    }
    return false;
}

/* Runs the queued calls in order; their results go to the arena. Counts
 * the calls run in *ran (the others were handed back, or answered by the
 * master before they started). */
static int run_queue(struct rbuf *in, msgpack_sbuffer *res, uint32_t *ran)
{
    struct pending p;
    uint64_t seq;

    for (;;) {
        pthread_mutex_lock(&q.m);
        if (q.head == q.count) {
            pthread_mutex_unlock(&q.m);
            return 0;
        }
        p = q.items[q.head++];
        if (!claim(p.id)) {
            pthread_mutex_unlock(&q.m);
            continue;
        }
        q.running = true;
        q.seq++;
        q.running_id = p.id;
        q.has_deadline = p.timeout_ms > 0;
        q.timeout_fired = false;
        if (q.has_deadline) {
            clock_gettime(CLOCK_MONOTONIC, &q.deadline);
            timespec_add_ms(&q.deadline, p.timeout_ms);
        }
        if (q.watcher_idle && needs_watch())
            pthread_cond_signal(&q.cv);
        pthread_mutex_unlock(&q.m);

        res->size = 0;
        seq = guard_call_begin(p.id);
        if (pyrun_frame(res, in->data + p.off, p.len) != 0)
            return -1;
        guard_stray_exit();
        guard_call_end(seq);
        (*ran)++;

        pthread_mutex_lock(&q.m);
        out_add(res->data, res->size);
        q.running = false;
        pthread_mutex_unlock(&q.m);
    }
}

/* Appends [FRAME_RAN, calls, ns] to sb: the batch just run. */
static void pack_ran(msgpack_sbuffer *sb, uint32_t calls, uint64_t ns)
{
    msgpack_packer pk;
    size_t start;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, FRAME_RAN);
    msgpack_pack_uint32(&pk, calls);
    msgpack_pack_uint64(&pk, ns);
    frame_end(sb, start);
}

static int serve(struct rbuf *in)
{
    msgpack_sbuffer res;
    size_t parsed = 0;
    uint64_t started, took;
    uint32_t ran;
    int rc = 0;

    msgpack_sbuffer_init(&res);
    for (;;) {
        started = now_ns();
        ran = 0;
        if (queue_frames(in, &parsed) != 0 || run_queue(in, &res, &ran) != 0) {
            log_error("malformed frame from the master");
            rc = 1;
            break;
        }
        took = now_ns() - started;
        pthread_mutex_lock(&q.m);
        if (ran > 0) {
            pack_ran(&q.scratch, ran, took);
            out_add_scratch();
        }
        out_flush();
        q.head = q.count = 0;
        pthread_mutex_unlock(&q.m);
        rbuf_consume(in, parsed);
        parsed = 0;
        if (read_more(in, ran > 0 && took < SPIN_QUICK_NS) != 0)
            break; /* the master is gone or closed us: exit quietly */
    }
    msgpack_sbuffer_destroy(&res);
    return rc;
}

/* ---- thread mode ----------------------------------------------------- */

/* A call waiting for a worker thread: its frame body, copied. */
struct job {
    struct job *next;
    size_t len;
    char body[];
};

static struct {
    pthread_mutex_t m;      /* the job queue and the idle count */
    pthread_cond_t cv;
    struct job *head, *tail;
    size_t queued;
    size_t idle;            /* workers waiting for a job */
    size_t workers;
    pthread_mutex_t write;  /* one frame at a time on the socket */
    uint64_t *taking;       /* ids of jobs a worker took and has not started */
    size_t ntaking, taking_cap;
} tp = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0,
        PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

/* Calls stopped (timeout, cancel) before their worker started them: they
 * never start. Read and written with the GIL held. */
static struct stopped {
    uint64_t id;
    uint64_t reason;   /* enum frame_stop_reason */
} *stopped_early;
static size_t nstopped_early, stopped_early_cap;

static void write_frames(const char *buf, size_t len);
static int frame_id(const char *body, size_t len, uint64_t *kind, uint64_t *id);

/* Under tp.m: the index of id in tp.taking, or ntaking. */
static size_t taking_index(uint64_t id)
{
    size_t i;

    for (i = 0; i < tp.ntaking && tp.taking[i] != id; i++)
        ;
    return i;
}

/* With the GIL: true when id, taken by a worker, was stopped before it
 * started; the master gets what it waits for (the TIMEOUT report of a
 * timed-out call, and a RESULT it drops) and the call never runs. */
static bool skip_stopped(uint64_t id)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint64_t reason;
    size_t i, start;

    pthread_mutex_lock(&tp.m);
    i = taking_index(id);
    if (i < tp.ntaking)
        tp.taking[i] = tp.taking[--tp.ntaking];
    pthread_mutex_unlock(&tp.m);
    for (i = 0; i < nstopped_early && stopped_early[i].id != id; i++)
        ;
    if (i == nstopped_early)
        return false;
    reason = stopped_early[i].reason;
    stopped_early[i] = stopped_early[--nstopped_early];
    msgpack_sbuffer_init(&sb);
    if (reason == STOP_TIMEOUT)
        pack_timeout(&sb, id, NULL, 0);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    start = frame_begin(&sb);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, FRAME_RESULT);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_str_with_body(&pk, "Cancelled", 9);
    msgpack_pack_str_with_body(&pk, "message", 7);
    msgpack_pack_str_with_body(&pk, "stopped before it started", 25);
    msgpack_pack_str_with_body(&pk, "traceback", 9);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    frame_end(&sb, start);
    Py_BEGIN_ALLOW_THREADS
    write_frames(sb.data, sb.size);
    Py_END_ALLOW_THREADS
    msgpack_sbuffer_destroy(&sb);
    return true;
}

/* With the GIL: a STOP for id, which no thread runs. If a worker has it
 * (queued or taken, not started), it is stopped before it starts; if not,
 * it ended already and its result is on its way. */
static void stop_early(uint64_t id, uint64_t reason)
{
    struct job *j;
    bool pending;

    pthread_mutex_lock(&tp.m);
    pending = taking_index(id) < tp.ntaking;
    for (j = tp.head; !pending && j != NULL; j = j->next) {
        uint64_t kind, jid;

        pending = frame_id(j->body, j->len, &kind, &jid) == 0 && jid == id;
    }
    pthread_mutex_unlock(&tp.m);
    if (!pending)
        return;
    if (nstopped_early == stopped_early_cap) {
        stopped_early_cap = stopped_early_cap ? 2 * stopped_early_cap : 8;
        stopped_early = realloc(stopped_early, stopped_early_cap * sizeof *stopped_early);
        if (stopped_early == NULL)
            abort();
    }
    stopped_early[nstopped_early++] = (struct stopped){id, reason};
}

/* The calls running now and their threads. Read and written only with the
 * GIL held, so a STOP finds a call's thread and raises in it before that
 * thread can move on to another call. */
static struct running_call {
    uint64_t id;
    unsigned long thread;
} *calls;
static size_t ncalls, calls_cap;

static void calls_add(uint64_t id, unsigned long thread)
{
    if (ncalls == calls_cap) {
        calls_cap = calls_cap ? calls_cap * 2 : 16;
        calls = realloc(calls, calls_cap * sizeof *calls);
        if (calls == NULL)
            abort();
    }
    calls[ncalls++] = (struct running_call){id, thread};
}

static void calls_remove(uint64_t id)
{
    size_t i;

    for (i = 0; i < ncalls; i++) {
        if (calls[i].id == id) {
            calls[i] = calls[--ncalls];
            return;
        }
    }
}

static unsigned long calls_thread(uint64_t id)
{
    size_t i;

    for (i = 0; i < ncalls; i++)
        if (calls[i].id == id)
            return calls[i].thread;
    return 0;
}

/* Writes one or more whole frames, from any thread (GIL released or not). */
static void write_frames(const char *buf, size_t len)
{
    pthread_mutex_lock(&tp.write);
    if (write_all(buf, len) != 0)
        _exit(0); /* the master is gone */
    pthread_mutex_unlock(&tp.write);
}

/* The id in a frame body [kind, id, ...]. */
static int frame_id(const char *body, size_t len, uint64_t *kind, uint64_t *id)
{
    struct mpk_reader r;
    struct mpk_item it;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || mpk_read(&r, &it) != 0 ||
        it.type != MPK_UINT)
        return -1;
    *kind = it.v.u;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    *id = it.v.u;
    return 0;
}

/* A worker thread: a Python thread of its own, running one call at a time
 * from the job queue. */
static void *work(void *arg)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    unsigned long self = PyThread_get_thread_ident();
    msgpack_sbuffer res;
    struct job *j;
    uint64_t kind, id, seq;

    (void)arg;
    guard_thread();
    msgpack_sbuffer_init(&res);
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&tp.m);
        tp.idle++;
        while (tp.head == NULL)
            pthread_cond_wait(&tp.cv, &tp.m);
        tp.idle--;
        j = tp.head;
        tp.head = j->next;
        if (tp.head == NULL)
            tp.tail = NULL;
        tp.queued--;
        if (frame_id(j->body, j->len, &kind, &id) != 0)
            id = 0;
        if (tp.ntaking == tp.taking_cap) {
            tp.taking_cap = tp.taking_cap ? 2 * tp.taking_cap : 8;
            tp.taking = realloc(tp.taking, tp.taking_cap * sizeof *tp.taking);
            if (tp.taking == NULL)
                abort();
        }
        tp.taking[tp.ntaking++] = id;
        pthread_mutex_unlock(&tp.m);
        Py_END_ALLOW_THREADS

        if (skip_stopped(id)) {
            free(j);
            continue;
        }
        calls_add(id, self);
        res.size = 0;
        seq = guard_call_begin(id);
        if (pyrun_frame(&res, j->body, j->len) != 0) {
            log_error("malformed frame from the master");
            _exit(1);
        }
        guard_stray_exit();
        guard_call_end(seq);
        /* a stop that came after the call's code returned must not hit the
         * next call this thread runs: drop it (the GIL is held throughout,
         * so no STOP for this call can come after this) */
        PyThreadState_SetAsyncExc(self, NULL);
        calls_remove(id);
        free(j);
        Py_BEGIN_ALLOW_THREADS
        write_frames(res.data, res.size);
        Py_END_ALLOW_THREADS
    }
    msgpack_sbuffer_destroy(&res);
    PyGILState_Release(gil);
    return NULL;
}

/* Queues a call for the workers; starts one more when none is free. */
static int add_job(const char *body, size_t len)
{
    struct job *j = malloc(sizeof *j + len);
    sigset_t all, old;
    pthread_t t;
    bool start;
    int rc = 0;

    if (j == NULL)
        abort();
    j->next = NULL;
    j->len = len;
    memcpy(j->body, body, len);
    pthread_mutex_lock(&tp.m);
    if (tp.tail != NULL)
        tp.tail->next = j;
    else
        tp.head = j;
    tp.tail = j;
    tp.queued++;
    start = tp.idle < tp.queued;
    pthread_cond_signal(&tp.cv);
    pthread_mutex_unlock(&tp.m);
    if (!start)
        return 0;
    sigfillset(&all); /* signals are for the main thread */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, NULL, work, NULL) == 0) {
        pthread_detach(t);
        tp.workers++;
    } else if (tp.workers == 0) {
        rc = -1;
    } else {
        log_warn("cannot start another worker thread: the call waits for a free one");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* The Python stack of thread, as text (a new reference), or NULL. Run
 * from a pending call in the thread itself (process mode) or from the
 * main thread for a worker (thread mode). */
static PyObject *thread_stack(unsigned long thread)
{
    PyObject *sys, *frames = NULL, *key = NULL, *frame, *tb = NULL, *lines = NULL, *sep = NULL;
    PyObject *text = NULL;

    sys = PyImport_ImportModule("sys");
    if (sys != NULL)
        frames = PyObject_CallMethod(sys, "_current_frames", NULL);
    if (frames != NULL)
        key = PyLong_FromUnsignedLong(thread);
    frame = key != NULL ? PyDict_GetItemWithError(frames, key) : NULL;
    if (frame != NULL)
        tb = PyImport_ImportModule("traceback");
    if (tb != NULL)
        lines = PyObject_CallMethod(tb, "format_stack", "O", frame);
    if (lines != NULL)
        sep = PyUnicode_FromString("");
    if (sep != NULL)
        text = PyUnicode_Join(sep, lines);
    PyErr_Clear();
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(key);
    Py_XDECREF(frames);
    Py_XDECREF(sys);
    return text;
}

/* A STOP frame [7, id, reason], with the GIL held: raises TimeoutError (after
 * reporting the call's stack) or pyrpool.Cancelled in the call's thread. A
 * call that ended already is left alone: its result is on its way. */
static int stop_call(const char *body, size_t len)
{
    struct mpk_reader r;
    struct mpk_item it;
    msgpack_sbuffer sb;
    PyObject *stack;
    const char *text = NULL;
    Py_ssize_t n = 0;
    uint64_t id;
    unsigned long thread;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n != 3 || mpk_read(&r, &it) != 0 ||
        mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    id = it.v.u;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    if ((thread = calls_thread(id)) == 0) {
        stop_early(id, it.v.u);
        return 0;
    }
    if (it.v.u == STOP_CANCEL) {
        PyThreadState_SetAsyncExc(thread, cancelled_exc);
        return 0;
    }
    stack = thread_stack(thread);
    if (calls_thread(id) != thread) {
        /* formatting the stack ran Python code, so other threads ran: the
         * call ended meanwhile and its thread may run another one now */
        Py_XDECREF(stack);
        return 0;
    }
    if (stack != NULL && (text = PyUnicode_AsUTF8AndSize(stack, &n)) == NULL)
        PyErr_Clear();
    msgpack_sbuffer_init(&sb);
    pack_timeout(&sb, id, text, n);
    /* no Python code from the check above to here: the call still runs */
    write_frames(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    PyThreadState_SetAsyncExc(thread, PyExc_TimeoutError);
    Py_XDECREF(stack);
    return 0;
}

/* Thread mode's loop: reads frames (GIL released), queues calls for the
 * workers, handles STOP frames itself. Returns when the master is gone. */
static int serve_threads(struct rbuf *in)
{
    PyThreadState *self = PyEval_SaveThread();
    size_t off;
    int64_t body = 0;
    uint64_t kind, id;
    ssize_t n;
    int rc = 0;

    for (;;) {
        off = 0;
        while (in->len - off >= FRAME_PREFIX) {
            body = frame_body_len(in->data + off);
            if (body < 0 || in->len - off - FRAME_PREFIX < (size_t)body)
                break;
            if (frame_id(in->data + off + FRAME_PREFIX, (size_t)body, &kind, &id) != 0) {
                body = -1;
                break;
            }
            if (kind == FRAME_STOP) {
                PyEval_RestoreThread(self);
                rc = stop_call(in->data + off + FRAME_PREFIX, (size_t)body);
                self = PyEval_SaveThread();
            } else {
                rc = add_job(in->data + off + FRAME_PREFIX, (size_t)body);
            }
            if (rc != 0)
                break;
            off += FRAME_PREFIX + (size_t)body;
        }
        if (rc != 0 || (in->len - off >= FRAME_PREFIX && body < 0)) {
            log_error("malformed frame from the master");
            rc = 1;
            break;
        }
        rbuf_consume(in, off);
        if (rbuf_reserve(in, READ_CHUNK) != 0)
            abort();
        n = recv_from_master(rbuf_end(in), rbuf_room(in), true);
        if (n < 0 && errno == EINTR)
            guard_reap(); /* a child a call forked ended (SIGCHLD) */
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* the master is gone or closed us: exit quietly */
        in->len += (size_t)n;
    }
    PyEval_RestoreThread(self);
    return rc;
}

static int start_watcher(unsigned handback_ms)
{
    pthread_condattr_t attr;
    pthread_t t;
    sigset_t all, old;
    int rc;

    q.handback_ms = handback_ms;
    msgpack_sbuffer_init(&q.scratch);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q.cv, &attr);
    pthread_condattr_destroy(&attr);
    sigfillset(&all); /* signals are for the main thread */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, NULL, watch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

/* Maps board i of the pool's memfd (BOARD_FD), which it then closes: what
 * this process's calls start cannot reach the other executors' boards. */
static struct board *attach_board(int i)
{
    void *p;

    if (i < 0) {
        log_error("no board from the master");
        return NULL;
    }
    p = mmap(NULL, BOARD_STRIDE, PROT_READ | PROT_WRITE, MAP_SHARED, BOARD_FD, (off_t)i * (off_t)BOARD_STRIDE);
    close(BOARD_FD);
    if (p == MAP_FAILED) {
        log_error("cannot map board %d: %s", i, strerror(errno));
        return NULL;
    }
    return p;
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's hook: CPython keeps much of its memory until exit by
 * design, so leak reports from executors are noise; the master's count. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return 1;
}
#endif

/* [FRAME_READY, pid]: Python is up and python.preload imported. */
static int send_ready(void)
{
    msgpack_sbuffer ready;
    msgpack_packer pk;
    size_t start;
    int rc;

    msgpack_sbuffer_init(&ready);
    msgpack_packer_init(&pk, &ready, msgpack_sbuffer_write);
    start = frame_begin(&ready);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_READY);
    msgpack_pack_int(&pk, (int)getpid());
    frame_end(&ready, start);
    rc = write_all(ready.data, ready.size);
    msgpack_sbuffer_destroy(&ready);
    return rc;
}

int main(int argc, char **argv)
{
    struct init init = {.name = "executor", .handback_ms = 10, .board = -1};
    struct rbuf in = {0};
    char logname[160];
    int64_t body;
    size_t i;
    int rc, flags;

    if (argc == 3 && strcmp(argv[1], "--name") == 0)
        snprintf(init.name, sizeof init.name, "%s", argv[2]);
    snprintf(logname, sizeof logname, "executor %s", init.name);
    log_set_name(logname);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    guard_init();
    signal(SIGPIPE, SIG_IGN);
    flags = fcntl(FRAME_MASTER_FD, F_GETFL);
    if (flags < 0) {
        fprintf(stderr, "pyrpool-executor: run by pyrpoold only (it talks on fd %d)\n", FRAME_MASTER_FD);
        return 2;
    }
    fcntl(FRAME_MASTER_FD, F_SETFL, flags & ~O_NONBLOCK);
    body = read_frame(&in);
    if (body <= 0 || parse_init(in.data + FRAME_PREFIX, (size_t)body, &init) != 0) {
        log_error("no valid INIT frame from the master");
        return 1;
    }
    rbuf_consume(&in, FRAME_PREFIX + (size_t)body);
    spin_us = init.spin_us;
    if (start_python(argv[0]) != 0 || pyrun_init(init.path, init.npath, init.allow_eval) != 0)
        return 1;
    {
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = poke;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR2, &sa, NULL);
        sa.sa_handler = NULL;
        sa.sa_sigaction = on_cancel_signal;
        sa.sa_flags = SA_RESTART | SA_SIGINFO;
        sigaction(SIGRTMIN, &sa, NULL);
        cancelled_exc = PyErr_NewException("pyrpool.Cancelled", PyExc_BaseException, NULL);
        if (cancelled_exc == NULL) {
            PyErr_Print();
            return 1;
        }
    }
    /* python.preload: READY only once these are imported; a failure ends
     * the executor (status 3), and the master backs off */
    for (i = 0; i < init.npreload; i++) {
        PyObject *mod = PyImport_ImportModule(init.preload[i]);

        if (mod == NULL) {
            log_error("preloading %s failed:", init.preload[i]);
            PyErr_Print();
            return 3;
        }
        Py_DECREF(mod);
    }
    if (init.template) {
        /* READY as a template, then fork executors; each child goes on
         * below, on a socket of its own */
        if (send_ready() != 0)
            return 0;
        forkserver_run(&in, init.name, sizeof init.name, &init.board);
        snprintf(logname, sizeof logname, "executor %s", init.name);
        log_set_name(logname);
    }
    if ((board = attach_board(init.board)) == NULL || guard_serve(board) != 0)
        return 1;
    main_thread = pthread_self();
    if (!init.threads && start_watcher(init.handback_ms) != 0) {
        log_error("cannot start the watcher thread");
        return 1;
    }
    if (send_ready() != 0)
        rc = 1;
    else
        rc = init.threads ? serve_threads(&in) : serve(&in);
    msgpack_sbuffer_destroy(&q.scratch);
    free(q.items);

    Py_CLEAR(cancelled_exc);
    pyrun_fini();
    if (Py_FinalizeEx() < 0)
        rc = 1;
    rbuf_release(&in);
    for (i = 0; i < init.npath; i++)
        free(init.path[i]);
    free(init.path);
    for (i = 0; i < init.npreload; i++)
        free(init.preload[i]);
    free(init.preload);
    return rc;
}
