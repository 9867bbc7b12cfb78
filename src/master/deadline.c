/* deadline: a deadline min-heap and its timer. See deadline.h. */
#include "deadline.h"

#include <stdlib.h>

#include "xalloc.h"

static void swap(struct deadlines *set, size_t a, size_t b)
{
    struct deadline *e = set->heap[a];

    set->heap[a] = set->heap[b];
    set->heap[b] = e;
    set->heap[a]->slot = a;
    set->heap[b]->slot = b;
}

static void sift_up(struct deadlines *set, size_t i)
{
    while (i > 0 && set->heap[(i - 1) / 2]->at > set->heap[i]->at) {
        swap(set, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct deadlines *set, size_t i)
{
    size_t l, r, m;

    for (;;) {
        l = 2 * i + 1;
        r = l + 1;
        m = i;
        if (l < set->n && set->heap[l]->at < set->heap[m]->at)
            m = l;
        if (r < set->n && set->heap[r]->at < set->heap[m]->at)
            m = r;
        if (m == i)
            return;
        swap(set, i, m);
        i = m;
    }
}

static void on_timer(uv_timer_t *h);

static void arm(struct deadlines *set)
{
    uint64_t now = uv_now(set->timer.loop);

    if (set->n == 0) {
        uv_timer_stop(&set->timer);
        return;
    }
    uv_timer_start(&set->timer, on_timer, set->heap[0]->at > now ? set->heap[0]->at - now : 0, 0);
}

void deadlines_init(struct deadlines *set, uv_loop_t *loop, deadline_cb *expired, void *data)
{
    uv_timer_init(loop, &set->timer);
    set->timer.data = set;
    set->expired = expired;
    set->data = data;
}

void deadlines_close(struct deadlines *set)
{
    size_t i;

    for (i = 0; i < set->n; i++)
        deadline_clear(set->heap[i]);
    uv_close((uv_handle_t *)&set->timer, NULL);
    free(set->heap);
    set->heap = NULL;
    set->n = set->cap = 0;
}

void deadlines_add(struct deadlines *set, struct deadline *e)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->heap = xrealloc(set->heap, set->cap * sizeof *set->heap);
    }
    e->slot = set->n;
    set->heap[set->n++] = e;
    sift_up(set, e->slot);
    if (set->heap[0] == e)
        arm(set);
}

void deadlines_remove(struct deadlines *set, struct deadline *e)
{
    size_t i = e->slot;

    if (i == DEADLINE_NONE)
        return;
    deadline_clear(e);
    if (--set->n != i) {
        set->heap[i] = set->heap[set->n];
        set->heap[i]->slot = i;
        sift_down(set, i);
        sift_up(set, i);
    }
    if (i == 0)
        arm(set);
}

static void on_timer(uv_timer_t *h)
{
    struct deadlines *set = h->data;
    uint64_t now = uv_now(h->loop);
    struct deadline *e;

    while (set->n > 0 && set->heap[0]->at <= now) {
        e = set->heap[0];
        deadlines_remove(set, e);
        set->expired(set, e);
    }
    arm(set);
}
