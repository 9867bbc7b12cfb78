/* timeouts: a deadline heap and its timer. See timeouts.h. */
#include "timeouts.h"

#include <stdio.h>
#include <stdlib.h>

#include "call.h"
#include "daemon.h"
#include "executor.h"
#include "log.h"
#include "pool.h"
#include "reply.h"
#include "xalloc.h"

static void swap(struct timeouts *t, size_t a, size_t b)
{
    struct call *c = t->heap[a];

    t->heap[a] = t->heap[b];
    t->heap[b] = c;
    t->heap[a]->heap_index = a;
    t->heap[b]->heap_index = b;
}

static void sift_up(struct timeouts *t, size_t i)
{
    while (i > 0 && t->heap[(i - 1) / 2]->deadline > t->heap[i]->deadline) {
        swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct timeouts *t, size_t i)
{
    size_t l, r, m;

    for (;;) {
        l = 2 * i + 1;
        r = l + 1;
        m = i;
        if (l < t->n && t->heap[l]->deadline < t->heap[m]->deadline)
            m = l;
        if (r < t->n && t->heap[r]->deadline < t->heap[m]->deadline)
            m = r;
        if (m == i)
            return;
        swap(t, i, m);
        i = m;
    }
}

static void on_timer(uv_timer_t *h);

static void arm(struct daemon *d)
{
    struct timeouts *t = &d->timeouts;
    uint64_t now = uv_now(d->loop);

    if (t->n == 0) {
        uv_timer_stop(&t->timer);
        return;
    }
    uv_timer_start(&t->timer, on_timer, t->heap[0]->deadline > now ? t->heap[0]->deadline - now : 0, 0);
}

void timeouts_init(struct daemon *d)
{
    uv_timer_init(d->loop, &d->timeouts.timer);
    d->timeouts.timer.data = d;
}

void timeouts_close(struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->timeouts.n; i++)
        d->timeouts.heap[i]->heap_index = TIMEOUTS_NONE;
    uv_close((uv_handle_t *)&d->timeouts.timer, NULL);
    free(d->timeouts.heap);
    d->timeouts.heap = NULL;
    d->timeouts.n = d->timeouts.cap = 0;
}

void timeouts_add(struct daemon *d, struct call *c)
{
    struct timeouts *t = &d->timeouts;

    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->heap = xrealloc(t->heap, t->cap * sizeof *t->heap);
    }
    c->heap_index = t->n;
    t->heap[t->n++] = c;
    sift_up(t, c->heap_index);
    if (t->heap[0] == c)
        arm(d);
}

void timeouts_remove(struct daemon *d, struct call *c)
{
    struct timeouts *t = &d->timeouts;
    size_t i = c->heap_index;

    if (i == TIMEOUTS_NONE)
        return;
    c->heap_index = TIMEOUTS_NONE;
    if (--t->n != i) {
        t->heap[i] = t->heap[t->n];
        t->heap[i]->heap_index = i;
        sift_down(t, i);
        sift_up(t, i);
    }
    if (i == 0)
        arm(d);
}

/* How long past a running call's deadline the master waits for the
 * executor's own report (which carries the Python stack) before it answers
 * Timeout itself. */
#define TIMEOUT_STACK_WAIT_MS 50

static void expire(struct daemon *d, struct call *c)
{
    char msg[200];

    timeouts_remove(d, c);
    if (c->ex != NULL && executor_running(c->ex, c) && !c->backstop) {
        /* the executor raises TimeoutError in it and reports where it was
         * (a process-mode executor watches the deadline itself) */
        if (c->ex->threaded)
            executor_stop_timeout(c->ex, c);
        c->backstop = true;
        c->deadline += TIMEOUT_STACK_WAIT_MS;
        timeouts_add(d, c);
        return;
    }
    snprintf(msg, sizeof msg, "the call did not finish within its timeout of %g s", c->timeout);
    if (c->ex != NULL && executor_running(c->ex, c)) {
        c->pool->failed++;
        executor_give_up(c->ex, c);
        reply_error(c, "Timeout", msg);
        return;
    }
    pool_abort(c, "Timeout", msg);
}

static void on_timer(uv_timer_t *h)
{
    struct daemon *d = h->data;
    uint64_t now = uv_now(d->loop);

    while (d->timeouts.n > 0 && d->timeouts.heap[0]->deadline <= now)
        expire(d, d->timeouts.heap[0]);
    arm(d);
}
