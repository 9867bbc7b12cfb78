/* stats: the daemon's figures as one map. See stats.h. */
#include "stats.h"

#include <unistd.h>

#include <uv.h>

#include "conn.h"
#include "daemon.h"
#include "executor.h"
#include "hist.h"
#include "pool.h"
#include "rpc.h"

/* Prometheus-style bucket bounds: 2^(3 + 2k) microseconds, 8 us to 134 s. */
#define BOUND_FIRST 3
#define BOUND_STEP 2
#define BOUNDS 13

static void key(msgpack_packer *pk, const char *k)
{
    rpc_pack_cstr(pk, k);
}

static void kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
    key(pk, k);
    msgpack_pack_uint64(pk, v);
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    key(pk, k);
    if (v != NULL)
        rpc_pack_cstr(pk, v);
    else
        msgpack_pack_nil(pk);
}

/* A figure in seconds, nil when the window is empty. */
static void kv_seconds(msgpack_packer *pk, const char *k, uint64_t ns, bool have)
{
    key(pk, k);
    if (have)
        msgpack_pack_double(pk, (double)ns / 1e9);
    else
        msgpack_pack_nil(pk);
}

static void pack_hist(msgpack_packer *pk, const struct hist *h, uint64_t now)
{
    struct hist_summary s;
    unsigned i;

    hist_window(h, now, &s);
    msgpack_pack_map(pk, 9);
    kv_uint(pk, "count", hist_count(h));
    key(pk, "sum");
    msgpack_pack_double(pk, (double)h->sum_ns / 1e9);
    key(pk, "buckets");
    msgpack_pack_array(pk, BOUNDS);
    for (i = 0; i < BOUNDS; i++) {
        unsigned e = BOUND_FIRST + BOUND_STEP * i;

        msgpack_pack_array(pk, 2);
        msgpack_pack_double(pk, (double)((uint64_t)1 << e) / 1e6);
        msgpack_pack_uint64(pk, hist_below(h, e));
    }
    key(pk, "window");
    msgpack_pack_double(pk, (double)HIST_WINDOW_NS / 1e9);
    kv_uint(pk, "window_count", s.count);
    kv_seconds(pk, "p50", s.p50, s.count > 0);
    kv_seconds(pk, "p90", s.p90, s.count > 0);
    kv_seconds(pk, "p99", s.p99, s.count > 0);
    kv_seconds(pk, "max", s.max, s.count > 0);
}

void stats_pack_quarantined(msgpack_packer *pk, const struct pool *p)
{
    uint64_t now = uv_now(p->d->loop);
    size_t i, n = 0;

    for (i = 0; i < p->nculprits; i++)
        n += p->culprits[i].held_until > now;
    msgpack_pack_array(pk, n);
    for (i = 0; i < p->nculprits; i++)
        if (p->culprits[i].held_until > now)
            rpc_pack_cstr(pk, p->culprits[i].name);
}

static const char *state_name(const struct executor *ex, bool leaving)
{
    if (leaving || ex->recycling)
        return "retiring";
    switch (ex->state) {
    case EX_BUSY:
        return "busy";
    case EX_IDLE:
        return "idle";
    case EX_STARTING:
        return "starting";
    default:
        return "dead";
    }
}

static bool has_process(const struct executor *ex)
{
    return ex->child.pid > 0 && !ex->exited;
}

/* The pool's executor processes (one for a thread-mode pool), those
 * leaving after a resize included; adds their RSS to *total. */
static void pack_processes(msgpack_packer *pk, const struct pool *p, uint64_t *total)
{
    const struct executor *ex;
    size_t i, n = 0, rss;

    for (i = 0; i < (size_t)p->nexec; i++)
        n += has_process(p->executors[i]);
    for (i = 0; i < p->nleaving; i++)
        n += has_process(p->leaving[i]);
    msgpack_pack_array(pk, n);
    for (i = 0; i < (size_t)p->nexec + p->nleaving; i++) {
        bool leaving = i >= (size_t)p->nexec;

        ex = leaving ? p->leaving[i - (size_t)p->nexec] : p->executors[i];
        if (!has_process(ex))
            continue;
        rss = executor_rss(ex);
        *total += rss;
        msgpack_pack_map(pk, 4);
        kv_uint(pk, "pid", (uint64_t)ex->child.pid);
        kv_str(pk, "state", state_name(ex, leaving));
        kv_uint(pk, "rss", rss);
        kv_uint(pk, "served", ex->served);
    }
}

static void pack_pool(msgpack_packer *pk, const struct pool *p, uint64_t now)
{
    struct pool_states st = pool_states(p);
    struct exec_counts k = pool_counts(p);
    char reason[200];
    const char *state = "ready";
    uint64_t rss = 0;
    size_t i;

    reason[0] = '\0';
    if (p->degraded) {
        state = "degraded";
        snprintf(reason, sizeof reason, "its executors cannot start (the last one %s)", p->last_failure);
    } else if (st.busy + st.idle == 0) {
        state = "starting";
        snprintf(reason, sizeof reason, "no executor is ready yet");
    }
    msgpack_pack_map(pk, 16);
    kv_str(pk, "mode", p->mode == POOL_PROCESS ? "process" : "thread");
    kv_uint(pk, "size", (uint64_t)p->size);
    kv_str(pk, "state", state);
    kv_str(pk, "reason", reason[0] != '\0' ? reason : NULL);
    key(pk, "executors");
    msgpack_pack_map(pk, 4);
    kv_uint(pk, "busy", (uint64_t)st.busy);
    kv_uint(pk, "idle", (uint64_t)st.idle);
    kv_uint(pk, "starting", (uint64_t)st.starting);
    kv_uint(pk, "retiring", (uint64_t)st.retiring);
    kv_uint(pk, "queue", p->queued);
    kv_uint(pk, "queue_max", p->tally.queue_max);
    kv_uint(pk, "completed", k.completed);
    kv_uint(pk, "failed", k.failed);
    key(pk, "outcomes");
    msgpack_pack_map(pk, OUTCOME_N);
    for (i = 0; i < OUTCOME_N; i++)
        kv_uint(pk, outcome_names[i], p->tally.outcomes[i]);
    key(pk, "restarts");
    msgpack_pack_map(pk, RESTART_N);
    for (i = 0; i < RESTART_N; i++)
        kv_uint(pk, restart_cause_names[i], k.restarts_by[i]);
    key(pk, "queue_wait");
    pack_hist(pk, &p->tally.wait, now);
    key(pk, "run_time");
    pack_hist(pk, &p->tally.run, now);
    key(pk, "quarantined");
    stats_pack_quarantined(pk, p);
    key(pk, "processes");
    pack_processes(pk, p, &rss);
    kv_uint(pk, "rss", rss); /* after the processes: their sum */
}

static void pack_listeners(msgpack_packer *pk, const struct daemon *d)
{
    const struct listen_counts *l;
    size_t i;

    msgpack_pack_array(pk, d->nlisten_counts);
    for (i = 0; i < d->nlisten_counts; i++) {
        l = &d->listen_counts[i];
        msgpack_pack_map(pk, 6);
        kv_str(pk, "name", l->name);
        kv_uint(pk, "connections", l->open);
        kv_uint(pk, "accepted", l->accepted);
        kv_uint(pk, "requests", l->requests);
        kv_uint(pk, "bytes_in", l->bytes_in);
        kv_uint(pk, "bytes_out", l->bytes_out);
    }
}

void stats_pack(struct daemon *d, msgpack_packer *pk)
{
    uint64_t now = uv_hrtime();
    size_t i, n = 0, rss = 0;

    for (i = 0; i < d->npools; i++)
        n += !d->pools[i]->stopping;
    if (uv_resident_set_memory(&rss) != 0)
        rss = 0;
    msgpack_pack_map(pk, 3);
    key(pk, "daemon");
    msgpack_pack_map(pk, 6);
    kv_str(pk, "version", PYRPOOLD_VERSION);
    kv_uint(pk, "pid", (uint64_t)getpid());
    key(pk, "uptime");
    msgpack_pack_double(pk, (double)(now - d->started_ns) / 1e9);
    kv_uint(pk, "generation", d->reload.generation);
    kv_uint(pk, "rss", rss);
    kv_uint(pk, "connections", d->nconns);
    key(pk, "pools");
    msgpack_pack_map(pk, n);
    for (i = 0; i < d->npools; i++) {
        if (d->pools[i]->stopping)
            continue;
        key(pk, d->pools[i]->name);
        pack_pool(pk, d->pools[i], now);
    }
    key(pk, "listeners");
    pack_listeners(pk, d);
}
