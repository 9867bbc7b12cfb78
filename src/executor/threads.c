/* threads: a thread-mode executor's runner. The main thread only reads
 * frames, with the GIL released; each call goes to a worker thread
 * (started when none is free: the master sends at most one call per thread
 * of the pool), which runs it and writes its RESULT frame itself. STOP
 * frames make the main thread raise TimeoutError or pyrpool.Cancelled in
 * the thread running that call (PyThreadState_SetAsyncExc). Each call has
 * a slot on the board (board.h) that its worker claims, with the GIL held,
 * just before it runs it: a call the master abandoned first (Timeout or
 * Cancelled before it started) never starts, and after a death the master
 * knows which calls had started. See threads.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "threads.h"

#include <errno.h>
#include <pthread.h>
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

/* A call waiting for a worker thread: its board slot, its frame body, copied. */
struct job {
    struct job *next;
    unsigned slot;
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
    struct board *board;
} tp = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0,
        PTHREAD_MUTEX_INITIALIZER, NULL};

static void write_frames(const char *buf, size_t len);

/* The calls running now and their threads. Read and written only with the
 * GIL held, so a STOP finds a call's thread and raises in it before that
 * thread can move on to another call. */
static struct running_call {
    uint64_t id;
    unsigned long thread;
    struct timespec started;
    bool reported;      /* slow_call: its stack was sent */
} *calls;

static size_t ncalls, calls_cap;
static size_t nrunning;   /* ncalls, for the slow-call watcher without the GIL */
static unsigned slow_ms;  /* the pool's slow_call; 0: off */

static void calls_add(uint64_t id, unsigned long thread)
{
    if (ncalls == calls_cap) {
        calls_cap = calls_cap ? calls_cap * 2 : 16;
        calls = realloc(calls, calls_cap * sizeof *calls);
        if (calls == NULL)
            abort();
    }
    calls[ncalls] = (struct running_call){id, thread, {0, 0}, false};
    if (slow_ms > 0)
        clock_gettime(CLOCK_MONOTONIC, &calls[ncalls].started);
    ncalls++;
    __atomic_store_n(&nrunning, ncalls, __ATOMIC_RELAXED);
}

static void calls_remove(uint64_t id)
{
    size_t i;

    for (i = 0; i < ncalls; i++) {
        if (calls[i].id == id) {
            calls[i] = calls[--ncalls];
            __atomic_store_n(&nrunning, ncalls, __ATOMIC_RELAXED);
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
    if (wire_write_all(buf, len) != 0)
        _exit(0); /* the master is gone */
    pthread_mutex_unlock(&tp.write);
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
        pthread_mutex_unlock(&tp.m);
        Py_END_ALLOW_THREADS

        /* with the GIL held from the claim on, a STOP for this call finds
         * it in calls (stop_call runs with the GIL too) */
        if (wire_frame_id(j->body, j->len, &kind, &id) != 0 ||
            !board_claim(tp.board, j->slot, id, SLOT_STARTED)) {
            free(j); /* the master answered it first: it never starts */
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

/* The board slot the master gave call id, or BOARD_SLOTS when it has none
 * in the SENT state any more (the master abandoned it, and may have given
 * the slot to another call). The master takes the lowest free slot, so
 * the search is short. */
static unsigned find_slot(uint64_t id)
{
    unsigned i;

    for (i = 0; i < BOARD_SLOTS; i++)
        if (board_load(&tp.board->slot[i]) == board_word(id, SLOT_SENT))
            return i;
    return BOARD_SLOTS;
}

/* Queues call id for the workers; starts one more when none is free. A
 * call the master abandoned before it arrived is dropped. */
static int add_job(uint64_t id, const char *body, size_t len)
{
    unsigned slot = find_slot(id);
    struct job *j;
    sigset_t all, old;
    pthread_t t;
    bool start;
    int rc = 0;

    if (slot == BOARD_SLOTS)
        return 0;
    if ((j = malloc(sizeof *j + len)) == NULL)
        abort();
    j->next = NULL;
    j->slot = slot;
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
    if ((thread = calls_thread(id)) == 0)
        return 0; /* it ended: its result is on its way */
    if (it.v.u == STOP_CANCEL) {
        PyThreadState_SetAsyncExc(thread, stop_cancelled);
        return 0;
    }
    stack = stop_stack(thread);
    if (calls_thread(id) != thread) {
        /* formatting the stack ran Python code, so other threads ran: the
         * call ended meanwhile and its thread may run another one now */
        Py_XDECREF(stack);
        return 0;
    }
    if (stack != NULL && (text = PyUnicode_AsUTF8AndSize(stack, &n)) == NULL)
        PyErr_Clear();
    msgpack_sbuffer_init(&sb);
    wire_pack_timeout(&sb, id, text, n);
    /* no Python code from the check above to here: the call still runs */
    write_frames(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    PyThreadState_SetAsyncExc(thread, PyExc_TimeoutError);
    Py_XDECREF(stack);
    return 0;
}

static bool slow_due(unsigned ms)
{
    (void)ms;
    return __atomic_load_n(&nrunning, __ATOMIC_RELAXED) > 0;
}

/* With the GIL (slow.h): each call running for ms that was not reported:
 * its thread's stack, sent once. Formatting a stack runs Python code, so
 * other threads run meanwhile: a call that ended then is not reported. */
static void slow_report(unsigned ms)
{
    msgpack_sbuffer sb;
    uint64_t id, ran;
    unsigned long thread;
    size_t i;

    msgpack_sbuffer_init(&sb);
    for (i = 0; i < ncalls; i++) {
        if (calls[i].reported || (ran = slow_ms_since(&calls[i].started)) < ms)
            continue;
        id = calls[i].id;
        thread = calls[i].thread;
        calls[i].reported = true;
        sb.size = 0;
        slow_pack(&sb, id, ran, thread);
        if (calls_thread(id) != thread)
            break; /* the list changed under us: look again next time */
        write_frames(sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
}

int threads_start(unsigned ms)
{
    slow_ms = ms;
    return slow_start(ms, slow_due, slow_report);
}

/* Thread mode's loop: reads frames (GIL released), queues calls for the
 * workers, handles STOP frames itself. Returns when the master is gone. */
int threads_serve(struct rbuf *in, struct board *board)
{
    PyThreadState *self = PyEval_SaveThread();
    size_t off;
    int64_t body = 0;
    uint64_t kind, id;
    ssize_t n;
    int rc = 0;

    tp.board = board;
    for (;;) {
        off = 0;
        while (in->len - off >= FRAME_PREFIX) {
            body = frame_body_len(in->data + off);
            if (body < 0 || in->len - off - FRAME_PREFIX < (size_t)body)
                break;
            if (wire_frame_id(in->data + off + FRAME_PREFIX, (size_t)body, &kind, &id) != 0) {
                body = -1;
                break;
            }
            if (kind == FRAME_STOP) {
                PyEval_RestoreThread(self);
                rc = stop_call(in->data + off + FRAME_PREFIX, (size_t)body);
                self = PyEval_SaveThread();
            } else {
                rc = add_job(id, in->data + off + FRAME_PREFIX, (size_t)body);
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
        if (rbuf_reserve(in, WIRE_READ_CHUNK) != 0)
            abort();
        n = wire_recv(rbuf_end(in), rbuf_room(in), true);
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
