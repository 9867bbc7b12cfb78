/* serial: a process-mode executor's runner: batches of calls run one at a
 * time, in order, on the main thread.
 *
 * DESIGN: batching must not hold a quick call behind slower ones. A watcher
 * thread looks after the batch: once its unstarted calls have waited
 * handback_ms since the batch arrived (however many calls ran meanwhile),
 * or finished results have waited that long to be written, it writes the
 * results finished so far and a RETURN frame handing the unstarted calls
 * back to the master, which gives them to an idle executor. While work
 * flows it ticks on its own (see watch()), so the main thread does not wake
 * it per batch. The queue, the deadlines and the output are shared under
 * one mutex; Python runs only on the main thread. Each call is claimed on
 * the board before it starts (a call the master answered first is
 * skipped), and the batch's RESULT frames are gathered in the board's
 * arena, written with one write (board.h). A call's timeout is watched here
 * too (TimeoutError raised in it, its stack reported); a cancel arrives as
 * a queued signal carrying the call id. After a quick batch the main thread
 * polls briefly before sleeping (limits.spin_us). See serial.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "serial.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "mpk.h"
#include "pyrun.h"
#include "slow.h"
#include "stop.h"
#include "wire.h"

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
    unsigned slow_ms;          /* slow_call; 0: off */
    struct timespec started;   /* slow_ms: when the running call started */
    uint64_t slow_seq;         /* the call last reported slow (its seq) */
} q = {.m = PTHREAD_MUTEX_INITIALIZER};

/* This executor's board (board.h): slots, arena, culprit. */
static struct board *board;

static void timespec_add_ms(struct timespec *t, unsigned ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* Writes the frames gathered so far. */
static void out_flush(void)
{
    if (q.out_len == 0)
        return;
    if (wire_write_all(board->arena, q.out_len) != 0)
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
        if (wire_write_all(p, n) != 0)
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
    PyErr_SetString(stop_cancelled, "the client cancelled this call");
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
    stack = stop_stack(PyThread_get_thread_ident());
    if (stack != NULL && (text = PyUnicode_AsUTF8AndSize(stack, &n)) == NULL)
        PyErr_Clear();
    pthread_mutex_lock(&q.m);
    wire_pack_timeout(&q.scratch, id, text, n);
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
        if (rbuf_reserve(in, WIRE_READ_CHUNK) != 0)
            break;
        room = rbuf_room(in);
        spinning = spin_end != 0 && now_ns() < spin_end;
        /* a stream read that does not fill the buffer took all there was:
         * no second recv to see EAGAIN */
        n = wire_recv(rbuf_end(in), room, !got && !spinning);
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

/* Where claim looks first: the master gives a batch's calls slots 0, 1,
 * ... in the order they arrive, so the slot after the last one claimed is
 * almost always the one; a batch starts at 0. */
static unsigned next_slot;

/* Claims call id on the board before it starts (board.h): false when the
 * master answered it first (Timeout, Cancelled) and it must not run. */
static bool claim(uint64_t id)
{
    unsigned i, k;

    for (k = 0; k < BOARD_SLOTS; k++) {
        i = (next_slot + k) % BOARD_SLOTS;
        if (board_word_state(board_load(&board->slot[i])) == SLOT_FREE ||
            board_load(&board->slot[i]) >> 2 != id)
            continue;
        next_slot = i + 1;
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

    next_slot = 0;
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
        if (q.slow_ms > 0)
            clock_gettime(CLOCK_MONOTONIC, &q.started);
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
    uint64_t v[2] = {calls, ns};

    wire_pack_numbers(sb, FRAME_RAN, v, 2);
}

int serial_serve(struct rbuf *in)
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

/* The main thread, which runs the calls, as Python names threads. */
static unsigned long main_ident;

/* The running call has run ms and was not reported. Under q.m. */
static bool running_slow(unsigned ms)
{
    return q.running && q.slow_seq != q.seq && slow_ms_since(&q.started) >= ms;
}

static bool slow_due(unsigned ms)
{
    bool due;

    pthread_mutex_lock(&q.m);
    due = running_slow(ms);
    pthread_mutex_unlock(&q.m);
    return due;
}

/* With the GIL (slow.h): the running call's stack, sent once, unless it
 * ended while the stack was being formatted. */
static void slow_report(unsigned ms)
{
    msgpack_sbuffer sb;
    uint64_t id, seq, ran;

    pthread_mutex_lock(&q.m);
    if (!running_slow(ms)) {
        pthread_mutex_unlock(&q.m);
        return;
    }
    id = q.running_id;
    seq = q.seq;
    ran = slow_ms_since(&q.started);
    pthread_mutex_unlock(&q.m);
    msgpack_sbuffer_init(&sb);
    slow_pack(&sb, id, ran, main_ident);
    pthread_mutex_lock(&q.m);
    if (q.running && q.seq == seq && q.slow_seq != seq) {
        q.slow_seq = seq;
        out_add(sb.data, sb.size);
        out_flush();
    }
    pthread_mutex_unlock(&q.m);
    msgpack_sbuffer_destroy(&sb);
}

int serial_start(struct board *b, unsigned handback_ms, unsigned spin, unsigned slow_ms)
{
    pthread_condattr_t attr;
    struct sigaction sa;
    pthread_t t;
    sigset_t all, old;
    int rc;

    board = b;
    spin_us = spin;
    main_thread = pthread_self();
    main_ident = PyThread_get_thread_ident();
    q.slow_ms = slow_ms;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = poke;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = NULL;
    sa.sa_sigaction = on_cancel_signal;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sigaction(SIGRTMIN, &sa, NULL);
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
    return slow_start(slow_ms, slow_due, slow_report);
}

void serial_fini(void)
{
    msgpack_sbuffer_destroy(&q.scratch);
    free(q.items);
}
