/* stats: the summary of the daemon's `stats` answer. See stats.h. */
#include "stats.h"

#include <inttypes.h>
#include <string.h>

#include "client.h"
#include "table.h"

#define CELL 512
#define POOL_COLS 18
#define LISTENER_COLS 6

uint64_t stats_uint(const msgpack_object *map, const char *key)
{
    int64_t v = 0;

    return pyrpool_obj_int(pyrpool_obj_get(map, key), &v) && v > 0 ? (uint64_t)v : 0;
}

uint64_t stats_restarts(const msgpack_object *pool)
{
    const msgpack_object *r = pyrpool_obj_get(pool, "restarts");
    uint64_t sum = 0;
    int64_t v;
    uint32_t i;

    for (i = 0; r != NULL && r->type == MSGPACK_OBJECT_MAP && i < r->via.map.size; i++) {
        const msgpack_object *k = &r->via.map.ptr[i].key;

        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 6 && memcmp(k->via.str.ptr, "reload", 6) == 0)
            continue;
        if (pyrpool_obj_int(&r->via.map.ptr[i].val, &v) && v > 0)
            sum += (uint64_t)v;
    }
    return sum;
}

void stats_ms(char *out, size_t len, const msgpack_object *pool, const char *hist, const char *key)
{
    double s, ms;

    if (!pyrpool_obj_double(pyrpool_obj_get(pyrpool_obj_get(pool, hist), key), &s)) {
        snprintf(out, len, "-");
        return;
    }
    ms = s * 1e3;
    snprintf(out, len, ms < 10 ? "%.2f" : ms < 1000 ? "%.1f" : "%.0f", ms);
}

void stats_mib(char *out, size_t len, uint64_t bytes)
{
    snprintf(out, len, "%.1f", (double)bytes / (1024.0 * 1024.0));
}

void stats_uptime(char *out, size_t len, double seconds)
{
    uint64_t s = seconds > 0 ? (uint64_t)seconds : 0;
    unsigned h = (unsigned)(s % 86400 / 3600), m = (unsigned)(s % 3600 / 60), sec = (unsigned)(s % 60);

    if (s >= 86400)
        snprintf(out, len, "%" PRIu64 "d %02u:%02u:%02u", s / 86400, h, m, sec);
    else
        snprintf(out, len, "%02u:%02u:%02u", h, m, sec);
}

void stats_text(char *out, size_t len, const msgpack_object *o)
{
    if (o != NULL && o->type == MSGPACK_OBJECT_STR)
        snprintf(out, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        snprintf(out, len, "-");
}

/* "pyrpoold 0.1.0, pid 4120, up 03:12:05, generation 1, RSS 14.2 MiB, 3 connections" */
static void print_daemon(FILE *f, const msgpack_object *d)
{
    char version[64], up[64], rss[32];
    double uptime = 0;

    stats_text(version, sizeof version, pyrpool_obj_get(d, "version"));
    pyrpool_obj_double(pyrpool_obj_get(d, "uptime"), &uptime);
    stats_uptime(up, sizeof up, uptime);
    stats_mib(rss, sizeof rss, stats_uint(d, "rss"));
    fprintf(f, "pyrpoold %s, pid %" PRIu64 ", up %s, generation %" PRIu64 ", RSS %s MiB, %" PRIu64 " connection%s\n",
            version, stats_uint(d, "pid"), up, stats_uint(d, "generation"), rss, stats_uint(d, "connections"),
            stats_uint(d, "connections") == 1 ? "" : "s");
}

/* The non-zero counts of a map as "key=n key=n", into out; returns how
 * many there were. */
static int nonzero_counts(char *out, size_t len, const msgpack_object *map)
{
    size_t n = 0;
    int64_t v;
    uint32_t i;
    int found = 0;

    out[0] = '\0';
    for (i = 0; map != NULL && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size && n < len; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;

        if (k->type != MSGPACK_OBJECT_STR || !pyrpool_obj_int(&map->via.map.ptr[i].val, &v) || v == 0)
            continue;
        n += (size_t)snprintf(out + n, len - n, "%s%.*s=%" PRId64, found++ ? " " : "", (int)k->via.str.size,
                              k->via.str.ptr, v);
    }
    return found;
}

/* One row of the pools table (see print_pools for the columns). */
static void pool_row(char cells[POOL_COLS][CELL], const msgpack_object *name, const msgpack_object *p)
{
    static const char *const executors[] = {"busy", "idle", "starting", "retiring"};
    static const char *const counts[] = {"queue", "queue_max", "completed", "failed"};
    const msgpack_object *ex = pyrpool_obj_get(p, "executors");
    char causes[CELL - 32];
    size_t i;

    stats_text(cells[0], CELL, name);
    stats_text(cells[1], CELL, pyrpool_obj_get(p, "state"));
    snprintf(cells[2], CELL, "%" PRIu64, stats_uint(p, "size"));
    for (i = 0; i < 4; i++) {
        snprintf(cells[3 + i], CELL, "%" PRIu64, stats_uint(ex, executors[i]));
        snprintf(cells[7 + i], CELL, "%" PRIu64, stats_uint(p, counts[i]));
    }
    if (nonzero_counts(causes, sizeof causes, pyrpool_obj_get(p, "restarts")) > 0)
        snprintf(cells[11], CELL, "%" PRIu64 " (%s)", stats_restarts(p), causes);
    else
        snprintf(cells[11], CELL, "%" PRIu64, stats_restarts(p));
    stats_ms(cells[12], CELL, p, "run_time", "p50");
    stats_ms(cells[13], CELL, p, "run_time", "p99");
    stats_ms(cells[14], CELL, p, "run_time", "max");
    stats_ms(cells[15], CELL, p, "queue_wait", "p99");
    stats_mib(cells[16], CELL, stats_uint(p, "rss"));
    if (nonzero_counts(cells[17], CELL, pyrpool_obj_get(p, "outcomes")) == 0)
        snprintf(cells[17], CELL, "-");
}

/* Under the pools table: what the columns of times measure, why a pool
 * is not ready, and the functions a pool holds off. */
static void print_pool_notes(FILE *f, const msgpack_object *pools)
{
    double window = 60;
    uint32_t i, k;

    if (pools->via.map.size > 0)
        pyrpool_obj_double(pyrpool_obj_get(pyrpool_obj_get(&pools->via.map.ptr[0].val, "run_time"), "window"),
                           &window);
    fprintf(f, "run time (RUN_*) and queue wait (WAIT_P99) in ms over the last %.0f s ('-': no call then);\n"
               "RSS_MiB: the pool's executor processes\n", window);
    for (i = 0; i < pools->via.map.size; i++) {
        const msgpack_object *name = &pools->via.map.ptr[i].key, *p = &pools->via.map.ptr[i].val;
        const msgpack_object *reason = pyrpool_obj_get(p, "reason"), *q = pyrpool_obj_get(p, "quarantined");
        char n[128], why[CELL];

        stats_text(n, sizeof n, name);
        if (reason != NULL && reason->type == MSGPACK_OBJECT_STR) {
            stats_text(why, sizeof why, reason);
            fprintf(f, "pool %s is not ready: %s\n", n, why);
        }
        if (q == NULL || q->type != MSGPACK_OBJECT_ARRAY || q->via.array.size == 0)
            continue;
        fprintf(f, "pool %s holds off (crash_limit):", n);
        for (k = 0; k < q->via.array.size; k++) {
            stats_text(why, sizeof why, &q->via.array.ptr[k]);
            fprintf(f, "%s%s", k ? ", " : " ", why);
        }
        fputc('\n', f);
    }
}

static void print_pools(FILE *f, const msgpack_object *pools)
{
    static const char *const cols[POOL_COLS] = {
        "POOL", "STATE", "SIZE", "BUSY", "IDLE", "START", "RETIRE", "QUEUE", "QMAX", "COMPLETED", "FAILED",
        "RESTARTS", "RUN_P50", "RUN_P99", "RUN_MAX", "WAIT_P99", "RSS_MiB", "OUTCOMES"};
    char cells[POOL_COLS][CELL];
    const char *row[POOL_COLS];
    struct table t;
    uint32_t i;
    size_t k;

    if (pools == NULL || pools->type != MSGPACK_OBJECT_MAP) {
        fputs("(no pools in the answer)\n", f);
        return;
    }
    for (k = 0; k < POOL_COLS; k++)
        row[k] = cells[k];
    table_init(&t, cols, POOL_COLS);
    for (i = 0; i < pools->via.map.size; i++) {
        pool_row(cells, &pools->via.map.ptr[i].key, &pools->via.map.ptr[i].val);
        table_add(&t, row);
    }
    table_print(&t, f);
    table_free(&t);
    print_pool_notes(f, pools);
}

static void print_listeners(FILE *f, const msgpack_object *listeners)
{
    static const char *const cols[LISTENER_COLS] = {"LISTENER", "CONNECTIONS", "ACCEPTED", "REQUESTS",
                                                    "BYTES_IN", "BYTES_OUT"};
    static const char *const keys[LISTENER_COLS] = {NULL, "connections", "accepted", "requests", "bytes_in",
                                                    "bytes_out"};
    char cells[LISTENER_COLS][CELL];
    const char *row[LISTENER_COLS];
    struct table t;
    uint32_t i;
    size_t k;

    if (listeners == NULL || listeners->type != MSGPACK_OBJECT_ARRAY)
        return;
    table_init(&t, cols, LISTENER_COLS);
    for (i = 0; i < listeners->via.array.size; i++) {
        const msgpack_object *l = &listeners->via.array.ptr[i];

        stats_text(cells[0], CELL, pyrpool_obj_get(l, "name"));
        for (k = 1; k < LISTENER_COLS; k++)
            snprintf(cells[k], CELL, "%" PRIu64, stats_uint(l, keys[k]));
        for (k = 0; k < LISTENER_COLS; k++)
            row[k] = cells[k];
        table_add(&t, row);
    }
    table_print(&t, f);
    table_free(&t);
}

void stats_print(FILE *f, const msgpack_object *answer)
{
    print_daemon(f, pyrpool_obj_get(answer, "daemon"));
    fputc('\n', f);
    print_pools(f, pyrpool_obj_get(answer, "pools"));
    fputc('\n', f);
    print_listeners(f, pyrpool_obj_get(answer, "listeners"));
}
