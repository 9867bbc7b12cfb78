/* pool: queues and dispatch of calls to executors. See pool.h. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "daemon.h"
#include "executor.h"
#include "log.h"

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fprintf(stderr, "pyrpoold: out of memory\n");
        abort();
    }
    return p;
}

struct pool *pool_new(struct daemon *d, const struct config_pool *cp)
{
    struct pool *p = xcalloc(1, sizeof *p);
    int i;

    p->d = d;
    snprintf(p->name, sizeof p->name, "%s", cp->name);
    p->mode = cp->mode;
    p->size = cp->size;
    p->executors = xcalloc((size_t)p->size, sizeof *p->executors);
    p->idle = xcalloc((size_t)p->size, sizeof *p->idle);
    for (i = 0; i < p->size; i++)
        p->executors[i] = executor_new(p, i);
    log_info("pool %s: %d executor%s, %s mode", p->name, p->size, p->size == 1 ? "" : "s",
             p->mode == POOL_PROCESS ? "process" : "thread");
    return p;
}

/* Drops c without running it: its client is gone. */
static void drop(struct call *c)
{
    conn_call_done(c->conn);
    call_free(c);
}

void pool_submit(struct pool *p, struct call *c)
{
    c->pool = p;
    if (p->nidle > 0) {
        executor_send(p->idle[--p->nidle], c);
        return;
    }
    call_list_push(&p->queue, c);
}

void pool_executor_idle(struct pool *p, struct executor *ex)
{
    struct call *c;

    while ((c = call_list_pop(&p->queue)) != NULL) {
        if (c->conn->closing) {
            drop(c);
            continue;
        }
        executor_send(ex, c);
        return;
    }
    p->idle[p->nidle++] = ex;
}

void pool_executor_gone(struct pool *p, struct executor *ex)
{
    size_t i;

    for (i = 0; i < p->nidle; i++) {
        if (p->idle[i] == ex) {
            p->idle[i] = p->idle[--p->nidle];
            return;
        }
    }
}

void pool_fail_queue(struct pool *p, const char *type, const char *message)
{
    struct call *c;

    while ((c = call_list_pop(&p->queue)) != NULL) {
        if (!c->conn->closing)
            conn_respond_error(c->conn, call_msgid(c), type, message);
        p->failed++;
        drop(c);
    }
}

void pool_shutdown(struct pool *p)
{
    int i;

    p->nidle = 0;
    for (i = 0; i < p->size; i++)
        executor_shutdown(p->executors[i]);
}

void pool_free(struct pool *p)
{
    free(p->executors);
    free(p->idle);
    free(p);
}
