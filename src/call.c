/* call: call records, their free list, and intrusive call lists. */
#include "call.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Frames larger than this are not kept with a recycled call. */
#define CALL_KEEP_FRAME 4096
/* A new frame buffer starts this small (msgpack-c would start at 8 KiB). */
#define CALL_FIRST_FRAME 256

static void frame_init(msgpack_sbuffer *sb)
{
    sb->data = xmalloc(CALL_FIRST_FRAME);
    sb->size = 0;
    sb->alloc = CALL_FIRST_FRAME;
}
#define CALL_CACHE_MAX 1024

static struct call *free_calls;
static size_t nfree_calls;

struct call *call_new(void)
{
    struct call *c = free_calls;

    if (c != NULL) {
        free_calls = c->next;
        nfree_calls--;
        c->frame.size = 0;
    } else {
        c = xcalloc(1, sizeof *c);
        frame_init(&c->frame);
    }
    c->next = c->prev = NULL;
    c->conn = NULL;
    c->pool = NULL;
    c->ex = NULL;
    c->job = NULL;
    c->timeout = 0;
    c->backstop = false;
    c->heap_index = (size_t)-1;
    return c;
}

void call_free(struct call *c)
{
    if (nfree_calls >= CALL_CACHE_MAX) {
        msgpack_sbuffer_destroy(&c->frame);
        free(c);
        return;
    }
    if (c->frame.alloc > CALL_KEEP_FRAME) {
        msgpack_sbuffer_destroy(&c->frame);
        frame_init(&c->frame);
    }
    c->next = free_calls;
    free_calls = c;
    nfree_calls++;
}

void call_free_cache(void)
{
    struct call *c;

    while ((c = free_calls) != NULL) {
        free_calls = c->next;
        msgpack_sbuffer_destroy(&c->frame);
        free(c);
    }
    nfree_calls = 0;
}

void call_list_push(struct call_list *l, struct call *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->len++;
}

void call_list_push_front(struct call_list *l, struct call *c)
{
    c->prev = NULL;
    c->next = l->head;
    if (l->head != NULL)
        l->head->prev = c;
    else
        l->tail = c;
    l->head = c;
    l->len++;
}

void call_list_remove(struct call_list *l, struct call *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->next = c->prev = NULL;
    l->len--;
}

struct call *call_list_pop(struct call_list *l)
{
    struct call *c = l->head;

    if (c != NULL)
        call_list_remove(l, c);
    return c;
}
