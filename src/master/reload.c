/* reload: SIGHUP's new generation of pools. See reload.h. */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "route.h"
#include "state.h"
#include "xalloc.h"

void reload_init(struct daemon *d)
{
    uv_timer_init(d->loop, &d->reload.timer);
    d->reload.timer.data = d;
}

static bool same_listen(const struct config *a, const struct config *b)
{
    size_t i;

    if (a->nlisten != b->nlisten)
        return false;
    for (i = 0; i < a->nlisten; i++) {
        const struct config_listen *x = &a->listen[i], *y = &b->listen[i];

        if (x->kind != y->kind || x->port != y->port ||
            strcmp(x->kind == LISTEN_UNIX ? x->path : x->host,
                   y->kind == LISTEN_UNIX ? y->path : y->host) != 0)
            return false;
    }
    return true;
}

static bool same_metrics(const struct config_metrics *a, const struct config_metrics *b)
{
    return a->host == NULL ? b->host == NULL : b->host != NULL && a->port == b->port && strcmp(a->host, b->host) == 0;
}

static struct pool *find_in(struct pool **pools, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(pools[i]->name, name) == 0)
            return pools[i];
    return NULL;
}

/* The reload ends (refused NULL: it took over): systemd and the waiters
 * are told. */
static void finish(struct daemon *d, const char *refused)
{
    struct reload_waiter *w;
    char status[300], why[300];

    if (refused != NULL) {
        snprintf(why, sizeof why, "%s", refused); /* may point into what the waiters free */
        snprintf(status, sizeof status, "reload refused: %.250s", why);
        refused = why;
    } else {
        pool_status_line(d, status, sizeof status);
    }
    notify_ready(status);
    while ((w = d->reload.waiters) != NULL) {
        d->reload.waiters = w->next;
        w->cb(d, w->arg, refused);
        free(w);
    }
}

/* The new generation's executors stop; the old one keeps serving. */
static void abandon(struct daemon *d, const char *why)
{
    struct reload *r = &d->reload;
    size_t i;

    log_error("reload of %s refused: %s; the running config stays", r->cfg.file, why);
    r->active = false; /* first: the pools' ready watchers now say ShuttingDown */
    for (i = 0; i < r->npools; i++)
        pool_discard(r->pools[i], &d->cfg);
    free(r->pools);
    r->pools = NULL;
    r->npools = 0;
    config_free(&r->cfg);
    uv_timer_stop(&r->timer);
    finish(d, why);
}

static void on_ready_timeout(uv_timer_t *t)
{
    char msg[100];

    snprintf(msg, sizeof msg, "the new executors were not ready within %d s", RELOAD_READY_MS / 1000);
    abandon(t->data, msg);
}


/* A registration to carry into the new route table. */
struct carry {
    struct daemon *d;
    struct route_table *routes;
};

static bool is_config_route(const struct config *cfg, const char *module, const char *function)
{
    size_t i;

    for (i = 0; i < cfg->nroutes; i++) {
        const struct config_route *r = &cfg->routes[i];

        if (strcmp(r->module, module) == 0 &&
            (r->function == NULL ? function == NULL
                                 : function != NULL && strcmp(r->function, function) == 0))
            return true;
    }
    return false;
}

/* register_pool registrations follow their pool, by name, to its new
 * generation; the old file's routes are replaced by the new file's. */
static void carry_registration(void *arg, const char *module, const char *function, void *value)
{
    struct carry *k = arg;
    struct reload *r = &k->d->reload;
    const struct pool *old = value;
    struct pool *p;

    if (is_config_route(&k->d->cfg, module, function))
        return;
    p = find_in(r->pools, r->npools, old->name);
    if (p == NULL) {
        log_warn("reload: registration %s%s%s -> %s dropped: the pool is gone", module,
                 function ? ":" : "", function ? function : "", old->name);
        return;
    }
    route_register(k->routes, module, strlen(module), function, function ? strlen(function) : 0, p);
}

/* The new route table: the new file's routes, and the register_pool
 * registrations whose pool lives on. */
static void swap_routes(struct daemon *d)
{
    struct reload *r = &d->reload;
    struct carry k = {d, route_new()};
    size_t i;

    if (k.routes == NULL)
        abort();
    route_each(d->routes, carry_registration, &k);
    for (i = 0; i < r->cfg.nroutes; i++) {
        const struct config_route *cr = &r->cfg.routes[i];

        route_register(k.routes, cr->module, strlen(cr->module), cr->function,
                       cr->function ? strlen(cr->function) : 0, find_in(r->pools, r->npools, cr->pool));
    }
    route_free(d->routes);
    d->routes = k.routes;
}

/* The old generation's queued calls move to the new one, which joins the
 * daemon's list; the old pools drain and stop. */
static void swap_pools(struct daemon *d)
{
    struct reload *r = &d->reload;
    struct pool *p, *np;
    struct call *c;
    size_t i, n;

    for (i = 0, n = d->npools; i < n; i++) {
        p = d->pools[i];
        if (p->stopping)
            continue;
        np = find_in(r->pools, r->npools, p->name);
        if (np != NULL) {
            while ((c = pool_take_queued(p)) != NULL)
                pool_submit(np, c);
            pool_take_counts(np, p);
        } else {
            log_info("reload: pool %s is no longer in the config", p->name);
        }
        pool_stop(p);
    }
    for (i = 0; i < r->npools; i++)
        pool_list_add(d, r->pools[i]);
    d->default_pool = pool_find(d, "default", 7);
}

/* The new file becomes the daemon's config, but for the listeners (the
 * metrics one too), which stay as they are, and so does their part of the
 * config. */
static void swap_config(struct daemon *d)
{
    struct reload *r = &d->reload;
    struct config old;
    struct config_listen *listen;
    struct config_metrics metrics;
    size_t i, nlisten;

    old = d->cfg;
    listen = r->cfg.listen;
    nlisten = r->cfg.nlisten;
    r->cfg.listen = old.listen;
    r->cfg.nlisten = old.nlisten;
    old.listen = listen;
    old.nlisten = nlisten;
    metrics = r->cfg.metrics;
    r->cfg.metrics = old.metrics;
    old.metrics = metrics;
    d->cfg = r->cfg;
    config_free(&old);
    for (i = 0; i < d->npools; i++)
        pool_set_config(d->pools[i], &d->cfg);
    memset(&r->cfg, 0, sizeof r->cfg);
    log_set_json(d->cfg.log_json); /* log.level and log.format: the new file's */
    if (!d->verbose)
        log_set_level(d->cfg.log_level);
}

/* Every executor of the new generation is ready: it serves from now on. */
static void take_over(struct daemon *d)
{
    struct reload *r = &d->reload;
    char err[CONFIG_ERR_LEN];

    swap_routes(d);
    swap_pools(d);
    swap_config(d);
    free(r->pools);
    r->pools = NULL;
    r->npools = 0;
    r->active = false;
    uv_timer_stop(&r->timer);
    r->generation++;
    log_info("reload: generation %u serving (config %s); the old executors finish their calls",
             r->generation, d->cfg.file);
    if (state_save(d, NULL, err, sizeof err) != 0) /* the new config may hold what the state did */
        log_error("reload: %s", err);
    finish(d, NULL);
}

/* A pool of the new generation is ready, or failed to start (type set):
 * the generation takes over once every one is ready; one failure abandons
 * the reload. */
static void on_pool_ready(struct pool *p, void *arg, const char *type, const char *message)
{
    struct daemon *d = arg;
    struct reload *r = &d->reload;
    char msg[300];

    if (!r->active)
        return;
    if (type != NULL) {
        snprintf(msg, sizeof msg, "an executor of the new pool %s %s before it was ready", p->name, message);
        abandon(d, msg);
        return;
    }
    if (++r->nready == r->npools)
        take_over(d);
}

static struct pool *add_pending(struct daemon *d, const struct config_pool *cp, bool from_config)
{
    struct reload *r = &d->reload;
    struct pool *p = pool_new(d, cp, &r->cfg, from_config);

    r->pools[r->npools++] = p;
    pool_when_ready(p, true, on_pool_ready, d);
    return p;
}

void reload_start(struct daemon *d, reload_done_cb *cb, void *arg)
{
    struct reload *r = &d->reload;
    struct reload_waiter *w;
    char err[CONFIG_ERR_LEN];
    struct config_pool cp;
    size_t i;

    if (d->draining || d->stopping) {
        if (cb != NULL)
            cb(d, arg, "the daemon is stopping");
        return;
    }
    if (r->active && cb == NULL) {
        log_warn("SIGHUP: a reload is already starting its executors; ignored");
        return;
    }
    if (cb != NULL) {
        w = xcalloc(1, sizeof *w);
        w->cb = cb;
        w->arg = arg;
        w->next = r->waiters;
        r->waiters = w;
    }
    if (r->active)
        return; /* joined */
    log_info("%s: reloading %s", cb != NULL ? "reload method" : "SIGHUP", d->cfg.file);
    notify_reloading();
    if (config_load(d->cfg.file, (int)uv_available_parallelism(), &r->cfg, err, sizeof err) != 0) {
        log_error("reload refused: %s; the running config stays", err);
        finish(d, err);
        return;
    }
    if (!same_listen(&d->cfg, &r->cfg))
        log_warn("reload: the listen list changed; listeners change only on a restart");
    if (!same_metrics(&d->cfg.metrics, &r->cfg.metrics))
        log_warn("reload: metrics.listen changed; the HTTP listener changes only on a restart");
    r->active = true;
    r->nready = 0;
    r->pools = xcalloc(r->cfg.npools + d->npools, sizeof *r->pools);
    for (i = 0; i < r->cfg.npools; i++)
        add_pending(d, &r->cfg.pools[i], true);
    /* pools made by start_pool live on, with their size and mode */
    for (i = 0; i < d->npools; i++) {
        const struct pool *p = d->pools[i];

        if (p->stopping || p->from_config || find_in(r->pools, r->npools, p->name) != NULL)
            continue;
        cp = p->spec;
        cp.size = p->size; /* resize_pool may have changed it */
        add_pending(d, &cp, false);
    }
    uv_timer_start(&r->timer, on_ready_timeout, RELOAD_READY_MS, 0);
}

void reload_close(struct daemon *d)
{
    if (d->reload.active)
        abandon(d, "the daemon is stopping");
    uv_close((uv_handle_t *)&d->reload.timer, NULL);
}
