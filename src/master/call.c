/* call: call records, their free list, and intrusive call lists. */
#include "call.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "frame.h"
#include "mpk.h"
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
    c->frame_given = false;
    c->slow_logged = false;
    c->lane = NULL;
    c->dispatched = false;
    c->fn_hash = 0;
    deadline_clear(&c->deadline);
    return c;
}

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    while (n-- > 0)
        h = (h ^ (unsigned char)*p++) * 0x100000001b3ull;
    return h;
}

uint64_t call_name_hash(const char *module, size_t mlen, const char *function, size_t flen)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, module, mlen);

    h = fnv(fnv(h, ".", 1), function, flen);
    return h != 0 ? h : 1;
}

/* The module and function names in c's frame [kind, id, timeout, module,
 * function, ...]; for EVAL/EXEC, module is the method and function empty.
 * Returns -1 when the frame cannot say. */
static int frame_names(const struct call *c, struct mpk_item *module, struct mpk_item *function)
{
    struct mpk_reader r;
    struct mpk_item kind, it;

    if (c->frame_given || c->frame.size < FRAME_PREFIX)
        return -1;
    mpk_reader_init(&r, c->frame.data + FRAME_PREFIX, c->frame.size - FRAME_PREFIX);
    if (mpk_read(&r, &it) != 0 || mpk_read(&r, &kind) != 0 || mpk_read(&r, &it) != 0 ||
        mpk_read(&r, &it) != 0)
        return -1;
    if (kind.v.u == FRAME_EVAL || kind.v.u == FRAME_EXEC) {
        module->v.s.ptr = kind.v.u == FRAME_EVAL ? "eval" : "exec";
        module->v.s.len = 4;
        function->v.s.ptr = "";
        function->v.s.len = 0;
        return 0;
    }
    if (mpk_read(&r, module) != 0 || module->type != MPK_STR || mpk_read(&r, function) != 0 ||
        function->type != MPK_STR)
        return -1;
    return 0;
}

uint64_t call_fn_hash(struct call *c)
{
    struct mpk_item m, f;

    if (c->fn_hash == 0 && frame_names(c, &m, &f) == 0)
        c->fn_hash = call_name_hash(m.v.s.ptr, m.v.s.len, f.v.s.ptr, f.v.s.len);
    return c->fn_hash;
}

void call_fn_name(const struct call *c, char *buf, size_t len)
{
    struct mpk_item m, f;

    if (frame_names(c, &m, &f) != 0)
        snprintf(buf, len, "?");
    else if (f.v.s.len == 0)
        snprintf(buf, len, "%.*s", (int)m.v.s.len, m.v.s.ptr);
    else
        snprintf(buf, len, "%.*s.%.*s", (int)m.v.s.len, m.v.s.ptr, (int)f.v.s.len, f.v.s.ptr);
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
