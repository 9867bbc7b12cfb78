/* metrics: Prometheus text and the health verdict from the stats object.
 * See metrics.h. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Room for any number as text ("-1.2345678901234567e-308"). */
#define NUMBER_LEN 32

/* Where a family's samples come from. */
enum source {
    FROM_DAEMON,    /* stats.daemon: one sample, no label of its own */
    FROM_POOLS,     /* each entry of stats.pools: label pool="NAME" */
    FROM_LISTENERS, /* each entry of stats.listeners: label listener="NAME" */
};

/* What the field a family reads holds. */
enum shape {
    NUMBER,    /* a number: the sample's value */
    BY_KEY,    /* a map of numbers: one sample each, its key the family's label */
    HISTOGRAM, /* a HIST (stats.h): _bucket{le}, _sum and _count */
    UP,        /* a pool's state: 1 when "ready", else 0 */
    INFO,      /* a string: the family's label, the value 1 */
};

struct family {
    const char *name;
    const char *type;
    enum source source;
    enum shape shape;
    const char *key;   /* the field of the daemon, pool or listener read */
    const char *label; /* BY_KEY, INFO: the label the keys or the string become */
    const char *help;
};

static const struct family families[] = {
    {"pyrpool_calls_total", "counter", FROM_POOLS, BY_KEY, "outcomes", "outcome",
     "Calls routed to the pool, by how they ended: ok, error (a Python exception), the daemon's error type, "
     "dropped (the client left first) or other."},
    {"pyrpool_call_duration_seconds", "histogram", FROM_POOLS, HISTOGRAM, "run_time", NULL,
     "Seconds from a call's dispatch to an executor to the read that brought its answer."},
    {"pyrpool_queue_wait_seconds", "histogram", FROM_POOLS, HISTOGRAM, "queue_wait", NULL,
     "Seconds from the read that brought a call to its dispatch to an executor."},
    {"pyrpool_queue_length", "gauge", FROM_POOLS, NUMBER, "queue", NULL,
     "Calls waiting in the daemon for an executor of the pool."},
    {"pyrpool_queue_length_max", "gauge", FROM_POOLS, NUMBER, "queue_max", NULL,
     "The most calls that waited for the pool at once since the daemon started."},
    {"pyrpool_executors", "gauge", FROM_POOLS, BY_KEY, "executors", "state",
     "Executors of the pool (threads, in thread mode) by state."},
    {"pyrpool_executor_restarts_total", "counter", FROM_POOLS, BY_KEY, "restarts", "cause",
     "Executors started again, by cause: crash, start_failed, killed (from outside), timeout (killed by the "
     "daemon), max_requests, max_memory, reload."},
    {"pyrpool_executor_resident_bytes", "gauge", FROM_POOLS, NUMBER, "rss", NULL,
     "Resident memory of the pool's executor processes, summed."},
    {"pyrpool_pool_up", "gauge", FROM_POOLS, UP, "state", NULL,
     "1 when the pool serves calls, 0 while it starts or is degraded."},
    {"pyrpool_connections", "gauge", FROM_LISTENERS, NUMBER, "connections", NULL,
     "Client connections open on the listener."},
    {"pyrpool_connections_accepted_total", "counter", FROM_LISTENERS, NUMBER, "accepted", NULL,
     "Client connections the listener accepted."},
    {"pyrpool_requests_total", "counter", FROM_LISTENERS, NUMBER, "requests", NULL,
     "MessagePack-RPC messages received on the listener's connections."},
    {"pyrpool_received_bytes_total", "counter", FROM_LISTENERS, NUMBER, "bytes_in", NULL,
     "Bytes received on the listener's connections."},
    {"pyrpool_sent_bytes_total", "counter", FROM_LISTENERS, NUMBER, "bytes_out", NULL,
     "Bytes sent on the listener's connections."},
    {"pyrpool_master_resident_bytes", "gauge", FROM_DAEMON, NUMBER, "rss", NULL,
     "Resident memory of the master process."},
    {"pyrpool_uptime_seconds", "gauge", FROM_DAEMON, NUMBER, "uptime", NULL,
     "Seconds since the daemon started."},
    {"pyrpool_config_generation", "gauge", FROM_DAEMON, NUMBER, "generation", NULL,
     "Config reloads applied since the daemon started."},
    {"pyrpool_build_info", "gauge", FROM_DAEMON, INFO, "version", "version",
     "The daemon's version, as a label; always 1."},
};

struct label {
    const char *name;
    const char *value;
    size_t len;
};

static void put(msgpack_sbuffer *out, const char *s)
{
    msgpack_sbuffer_write(out, s, strlen(s));
}

/* A label value as the format quotes it: backslash, double quote and
 * newline escaped. */
static void put_escaped(msgpack_sbuffer *out, const char *s, size_t n)
{
    size_t i, from = 0;
    const char *esc;

    for (i = 0; i < n; i++) {
        esc = s[i] == '\\' ? "\\\\" : s[i] == '"' ? "\\\"" : s[i] == '\n' ? "\\n" : NULL;
        if (esc == NULL)
            continue;
        msgpack_sbuffer_write(out, s + from, i - from);
        msgpack_sbuffer_write(out, esc, 2);
        from = i + 1;
    }
    msgpack_sbuffer_write(out, s + from, n - from);
}

/* One line: NAME{labels} value. */
static void sample(msgpack_sbuffer *out, const char *name, const char *suffix, const struct label *labels,
                   size_t n, const char *value)
{
    size_t i;

    put(out, name);
    put(out, suffix);
    for (i = 0; i < n; i++) {
        put(out, i == 0 ? "{" : ",");
        put(out, labels[i].name);
        put(out, "=\"");
        put_escaped(out, labels[i].value, labels[i].len);
        put(out, "\"");
    }
    put(out, n > 0 ? "} " : " ");
    put(out, value);
    put(out, "\n");
}

/* The shortest text that reads back as x (Prometheus writes NaN, +Inf). */
static void format_double(double x, char *buf)
{
    int digits;

    if (isnan(x)) {
        snprintf(buf, NUMBER_LEN, "NaN");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, NUMBER_LEN, x > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (digits = 15; digits <= 17; digits++) {
        snprintf(buf, NUMBER_LEN, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* o as a sample's value; false when it is not a number. */
static bool format_number(const msgpack_object *o, char *buf)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(buf, NUMBER_LEN, "%" PRIu64, o->via.u64);
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(buf, NUMBER_LEN, "%" PRId64, o->via.i64);
        return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        format_double(o->via.f64, buf);
        return true;
    default:
        return false;
    }
}

static bool is_str(const msgpack_object *o, const char *s)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* The value at key in the map o, or NULL (o NULL or not a map, no such key). */
static const msgpack_object *field(const msgpack_object *o, const char *key)
{
    uint32_t i;

    if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (i = 0; i < o->via.map.size; i++)
        if (is_str(&o->via.map.ptr[i].key, key))
            return &o->via.map.ptr[i].val;
    return NULL;
}

/* A map of numbers: one sample per entry, labelled with its key. */
static void render_by_key(msgpack_sbuffer *out, const struct family *f, const msgpack_object *map,
                          struct label *labels, size_t n)
{
    const msgpack_object_kv *kv;
    char value[NUMBER_LEN];
    uint32_t i;

    if (map->type != MSGPACK_OBJECT_MAP)
        return;
    for (i = 0; i < map->via.map.size; i++) {
        kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || !format_number(&kv->val, value))
            continue;
        labels[n] = (struct label){f->label, kv->key.via.str.ptr, kv->key.via.str.size};
        sample(out, f->name, "", labels, n + 1, value);
    }
}

/* A HIST: its cumulative buckets [[le, count], ...], then le="+Inf" (every
 * call: count), _sum and _count. */
static void render_histogram(msgpack_sbuffer *out, const struct family *f, const msgpack_object *hist,
                             struct label *labels, size_t n)
{
    const msgpack_object *buckets = field(hist, "buckets"), *count = field(hist, "count"), *sum = field(hist, "sum");
    const msgpack_object *b;
    char total[NUMBER_LEN], seconds[NUMBER_LEN], le[NUMBER_LEN], value[NUMBER_LEN];
    uint32_t i;

    if (count == NULL || sum == NULL || !format_number(count, total) || !format_number(sum, seconds))
        return;
    for (i = 0; buckets != NULL && buckets->type == MSGPACK_OBJECT_ARRAY && i < buckets->via.array.size; i++) {
        b = &buckets->via.array.ptr[i];
        if (b->type != MSGPACK_OBJECT_ARRAY || b->via.array.size != 2 || !format_number(&b->via.array.ptr[0], le) ||
            !format_number(&b->via.array.ptr[1], value))
            continue;
        labels[n] = (struct label){"le", le, strlen(le)};
        sample(out, f->name, "_bucket", labels, n + 1, value);
    }
    labels[n] = (struct label){"le", "+Inf", 4};
    sample(out, f->name, "_bucket", labels, n + 1, total);
    sample(out, f->name, "_sum", labels, n, seconds);
    sample(out, f->name, "_count", labels, n, total);
}

/* f's samples for one subject (the daemon, a pool, a listener), whose own
 * label, if any, is labels[0]. */
static void render_subject(msgpack_sbuffer *out, const struct family *f, const msgpack_object *subject,
                           struct label *labels, size_t n)
{
    const msgpack_object *v = field(subject, f->key);
    char value[NUMBER_LEN];

    if (v == NULL)
        return;
    switch (f->shape) {
    case NUMBER:
        if (format_number(v, value))
            sample(out, f->name, "", labels, n, value);
        break;
    case BY_KEY:
        render_by_key(out, f, v, labels, n);
        break;
    case HISTOGRAM:
        render_histogram(out, f, v, labels, n);
        break;
    case UP:
        if (v->type == MSGPACK_OBJECT_STR)
            sample(out, f->name, "", labels, n, is_str(v, "ready") ? "1" : "0");
        break;
    case INFO:
        if (v->type != MSGPACK_OBJECT_STR)
            break;
        labels[n] = (struct label){f->label, v->via.str.ptr, v->via.str.size};
        sample(out, f->name, "", labels, n + 1, "1");
        break;
    }
}

static void render_family(msgpack_sbuffer *out, const struct family *f, const msgpack_object *stats)
{
    struct label labels[3]; /* the subject's, the family's, le */
    const msgpack_object *all = NULL, *key, *name;
    uint32_t i;

    if (f->source == FROM_DAEMON) {
        render_subject(out, f, field(stats, "daemon"), labels, 0);
    } else if (f->source == FROM_POOLS && (all = field(stats, "pools")) != NULL && all->type == MSGPACK_OBJECT_MAP) {
        for (i = 0; i < all->via.map.size; i++) {
            key = &all->via.map.ptr[i].key;
            if (key->type != MSGPACK_OBJECT_STR)
                continue;
            labels[0] = (struct label){"pool", key->via.str.ptr, key->via.str.size};
            render_subject(out, f, &all->via.map.ptr[i].val, labels, 1);
        }
    } else if (f->source == FROM_LISTENERS && (all = field(stats, "listeners")) != NULL &&
               all->type == MSGPACK_OBJECT_ARRAY) {
        for (i = 0; i < all->via.array.size; i++) {
            name = field(&all->via.array.ptr[i], "name");
            if (name == NULL || name->type != MSGPACK_OBJECT_STR)
                continue;
            labels[0] = (struct label){"listener", name->via.str.ptr, name->via.str.size};
            render_subject(out, f, &all->via.array.ptr[i], labels, 1);
        }
    }
}

void metrics_render(const msgpack_object *stats, msgpack_sbuffer *out)
{
    const struct family *f;

    for (f = families; f < families + countof(families); f++) {
        put(out, "# HELP ");
        put(out, f->name);
        put(out, " ");
        put(out, f->help);
        put(out, "\n# TYPE ");
        put(out, f->name);
        put(out, " ");
        put(out, f->type);
        put(out, "\n");
        render_family(out, f, stats);
    }
}

/* o's bytes when it is a str, else fallback. */
static struct text {
    const char *p;
    int n;
} text_or(const msgpack_object *o, const char *fallback)
{
    if (o != NULL && o->type == MSGPACK_OBJECT_STR)
        return (struct text){o->via.str.ptr, (int)o->via.str.size};
    return (struct text){fallback, (int)strlen(fallback)};
}

bool metrics_healthy(const msgpack_object *stats, char *why, size_t len)
{
    const msgpack_object *pools = field(stats, "pools"), *state;
    const msgpack_object_kv *kv;
    struct text name, what, reason;
    bool healthy = true;
    size_t used = 0;
    uint32_t i;
    int n;

    why[0] = '\0';
    if (pools == NULL || pools->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, len, "the stats name no pools\n");
        return false;
    }
    for (i = 0; i < pools->via.map.size; i++) {
        kv = &pools->via.map.ptr[i];
        state = field(&kv->val, "state");
        if (state != NULL && is_str(state, "ready"))
            continue;
        healthy = false;
        name = text_or(&kv->key, "?");
        what = text_or(state, "state unknown");
        reason = text_or(field(&kv->val, "reason"), "");
        n = snprintf(why + used, len - used, "pool %.*s: %.*s%s%.*s\n", name.n, name.p, what.n, what.p,
                     reason.n > 0 ? ": " : "", reason.n, reason.p);
        if (n < 0 || (size_t)n >= len - used)
            break; /* cut: the first pools are told */
        used += (size_t)n;
    }
    return healthy;
}
