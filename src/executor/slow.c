/* slow: the slow-call log's watcher thread. See slow.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "slow.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "frame.h"
#include "stop.h"

static unsigned slow_ms;
static slow_due_fn *is_due;
static slow_report_fn *report_slow;

/* Looks a few times per slow_call (every 10 ms to 250 ms), so a call is
 * reported within about a quarter of slow_call after it passes it. */
static void *watch_slow(void *arg)
{
    unsigned tick = slow_ms / 4 < 10 ? 10 : slow_ms / 4 > 250 ? 250 : slow_ms / 4;
    struct timespec nap = {tick / 1000, (long)(tick % 1000) * 1000000L};
    PyGILState_STATE gil;

    (void)arg;
    for (;;) {
        nanosleep(&nap, NULL);
        if (!is_due(slow_ms))
            continue;
        gil = PyGILState_Ensure();
        report_slow(slow_ms);
        PyGILState_Release(gil);
    }
    return NULL;
}

int slow_start(unsigned ms, slow_due_fn *due, slow_report_fn *report)
{
    sigset_t all, old;
    pthread_t t;
    int rc;

    if (ms == 0)
        return 0;
    slow_ms = ms;
    is_due = due;
    report_slow = report;
    sigfillset(&all); /* signals are for the main thread */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, NULL, watch_slow, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

uint64_t slow_ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - t->tv_sec) * 1000 + (uint64_t)((now.tv_nsec - t->tv_nsec) / 1000000L);
}

void slow_pack(msgpack_sbuffer *sb, uint64_t id, uint64_t ms, unsigned long thread)
{
    PyObject *stack = stop_stack(thread);
    const char *text = NULL;
    Py_ssize_t n = 0;
    msgpack_packer pk;
    size_t start;

    if (stack != NULL && (text = PyUnicode_AsUTF8AndSize(stack, &n)) == NULL)
        PyErr_Clear();
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, FRAME_SLOW);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_uint64(&pk, ms);
    if (text != NULL)
        msgpack_pack_str_with_body(&pk, text, (size_t)n);
    else
        msgpack_pack_nil(&pk);
    frame_end(sb, start);
    Py_XDECREF(stack);
}
