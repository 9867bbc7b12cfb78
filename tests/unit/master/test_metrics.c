/* Unit tests for the Prometheus renderer and the health verdict
 * (src/master/metrics.c), on stats objects packed by hand as the `stats`
 * method's schema says (src/master/stats.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "../packing.h"

static msgpack_unpacked unpacked;
static msgpack_sbuffer text;

static int setup_all(void **state)
{
    setup(state);
    msgpack_unpacked_init(&unpacked);
    msgpack_sbuffer_init(&text);
    return 0;
}

static int teardown_all(void **state)
{
    msgpack_unpacked_destroy(&unpacked);
    msgpack_sbuffer_destroy(&text);
    return teardown(state);
}

/* What was packed so far, unpacked. */
static const msgpack_object *packed(void)
{
    size_t off = 0;

    assert_int_equal(msgpack_unpack_next(&unpacked, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb.size);
    return &unpacked.data;
}

/* The exposition of what was packed, NUL-terminated. */
static const char *render(void)
{
    metrics_render(packed(), &text);
    msgpack_sbuffer_write(&text, "", 1);
    return text.data;
}

/* The lines of t that are samples (not HELP or TYPE), in order. */
static char *samples(const char *t)
{
    char *out = calloc(1, strlen(t) + 1), *o = out;
    const char *end;

    assert_non_null(out);
    for (; *t != '\0'; t = end + 1) {
        end = strchr(t, '\n');
        assert_non_null(end);
        if (*t != '#') {
            memcpy(o, t, (size_t)(end - t) + 1);
            o += end - t + 1;
        }
    }
    return out;
}

static void kv_uint(const char *key, uint64_t v)
{
    str(key);
    msgpack_pack_uint64(&pk, v);
}

static void kv_double(const char *key, double v)
{
    str(key);
    msgpack_pack_double(&pk, v);
}

/* A HIST with two bounds (8e-6 and 3.2e-5) holding b0 and b0 + b1 calls,
 * count calls in all. */
static void hist(const char *key, uint64_t b0, uint64_t b1, uint64_t count, double sum)
{
    str(key);
    msgpack_pack_map(&pk, 8);
    kv_uint("count", count);
    kv_double("sum", sum);
    str("buckets");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_double(&pk, 8e-6);
    msgpack_pack_uint64(&pk, b0);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_double(&pk, 3.2e-5);
    msgpack_pack_uint64(&pk, b0 + b1);
    kv_double("window", 60.0);
    kv_uint("window_count", count);
    kv_double("p50", 1e-5);
    kv_double("p90", 2e-5);
    str("max");
    msgpack_pack_nil(&pk);
}

/* A pool entry, every key of the schema; state and reason (NULL: nil) as given. */
static void pool(const char *name, const char *state, const char *reason)
{
    str(name);
    msgpack_pack_map(&pk, 15);
    str("mode");
    str("process");
    kv_uint("size", 2);
    str("state");
    str(state);
    str("reason");
    if (reason != NULL)
        str(reason);
    else
        msgpack_pack_nil(&pk);
    str("executors");
    msgpack_pack_map(&pk, 4);
    kv_uint("busy", 1);
    kv_uint("idle", 1);
    kv_uint("starting", 0);
    kv_uint("retiring", 0);
    kv_uint("queue", 3);
    kv_uint("queue_max", 7);
    kv_uint("completed", 5);
    kv_uint("failed", 1);
    str("outcomes");
    msgpack_pack_map(&pk, 3); /* the schema has ten; three show the shape */
    kv_uint("ok", 4);
    kv_uint("error", 1);
    kv_uint("Timeout", 1);
    str("restarts");
    msgpack_pack_map(&pk, 2);
    kv_uint("crash", 1);
    kv_uint("max_requests", 0);
    hist("queue_wait", 5, 1, 6, 0.25);
    hist("run_time", 2, 3, 6, 1.5);
    kv_uint("rss", 123456789);
    str("processes");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 4);
    kv_uint("pid", 42);
    str("state");
    str("busy");
    kv_uint("rss", 1000);
    kv_uint("served", 9);
}

static void daemon_map(void)
{
    str("daemon");
    msgpack_pack_map(&pk, 6);
    str("version");
    str("0.1.0");
    kv_uint("pid", 4242);
    kv_double("uptime", 12.5);
    kv_uint("generation", 2);
    kv_uint("rss", 8388608);
    kv_uint("connections", 1);
}

static void listener(const char *name)
{
    msgpack_pack_map(&pk, 6);
    str("name");
    str(name);
    kv_uint("connections", 1);
    kv_uint("accepted", 10);
    kv_uint("requests", 100);
    kv_uint("bytes_in", 2000);
    kv_uint("bytes_out", 3000);
}

/* {daemon, pools: {default: state, io: ready}, listeners: [name]} */
static void stats(const char *default_state, const char *reason, const char *listener_name)
{
    msgpack_pack_map(&pk, 3);
    daemon_map();
    str("pools");
    msgpack_pack_map(&pk, 2);
    pool("default", default_state, reason);
    pool("io", "ready", NULL);
    str("listeners");
    msgpack_pack_array(&pk, 1);
    listener(listener_name);
}

static const char expected_samples[] =
    "pyrpool_calls_total{pool=\"default\",outcome=\"ok\"} 4\n"
    "pyrpool_calls_total{pool=\"default\",outcome=\"error\"} 1\n"
    "pyrpool_calls_total{pool=\"default\",outcome=\"Timeout\"} 1\n"
    "pyrpool_calls_total{pool=\"io\",outcome=\"ok\"} 4\n"
    "pyrpool_calls_total{pool=\"io\",outcome=\"error\"} 1\n"
    "pyrpool_calls_total{pool=\"io\",outcome=\"Timeout\"} 1\n"
    "pyrpool_call_duration_seconds_bucket{pool=\"default\",le=\"8e-06\"} 2\n"
    "pyrpool_call_duration_seconds_bucket{pool=\"default\",le=\"3.2e-05\"} 5\n"
    "pyrpool_call_duration_seconds_bucket{pool=\"default\",le=\"+Inf\"} 6\n"
    "pyrpool_call_duration_seconds_sum{pool=\"default\"} 1.5\n"
    "pyrpool_call_duration_seconds_count{pool=\"default\"} 6\n"
    "pyrpool_call_duration_seconds_bucket{pool=\"io\",le=\"8e-06\"} 2\n"
    "pyrpool_call_duration_seconds_bucket{pool=\"io\",le=\"3.2e-05\"} 5\n"
    "pyrpool_call_duration_seconds_bucket{pool=\"io\",le=\"+Inf\"} 6\n"
    "pyrpool_call_duration_seconds_sum{pool=\"io\"} 1.5\n"
    "pyrpool_call_duration_seconds_count{pool=\"io\"} 6\n"
    "pyrpool_queue_wait_seconds_bucket{pool=\"default\",le=\"8e-06\"} 5\n"
    "pyrpool_queue_wait_seconds_bucket{pool=\"default\",le=\"3.2e-05\"} 6\n"
    "pyrpool_queue_wait_seconds_bucket{pool=\"default\",le=\"+Inf\"} 6\n"
    "pyrpool_queue_wait_seconds_sum{pool=\"default\"} 0.25\n"
    "pyrpool_queue_wait_seconds_count{pool=\"default\"} 6\n"
    "pyrpool_queue_wait_seconds_bucket{pool=\"io\",le=\"8e-06\"} 5\n"
    "pyrpool_queue_wait_seconds_bucket{pool=\"io\",le=\"3.2e-05\"} 6\n"
    "pyrpool_queue_wait_seconds_bucket{pool=\"io\",le=\"+Inf\"} 6\n"
    "pyrpool_queue_wait_seconds_sum{pool=\"io\"} 0.25\n"
    "pyrpool_queue_wait_seconds_count{pool=\"io\"} 6\n"
    "pyrpool_queue_length{pool=\"default\"} 3\n"
    "pyrpool_queue_length{pool=\"io\"} 3\n"
    "pyrpool_queue_length_max{pool=\"default\"} 7\n"
    "pyrpool_queue_length_max{pool=\"io\"} 7\n"
    "pyrpool_executors{pool=\"default\",state=\"busy\"} 1\n"
    "pyrpool_executors{pool=\"default\",state=\"idle\"} 1\n"
    "pyrpool_executors{pool=\"default\",state=\"starting\"} 0\n"
    "pyrpool_executors{pool=\"default\",state=\"retiring\"} 0\n"
    "pyrpool_executors{pool=\"io\",state=\"busy\"} 1\n"
    "pyrpool_executors{pool=\"io\",state=\"idle\"} 1\n"
    "pyrpool_executors{pool=\"io\",state=\"starting\"} 0\n"
    "pyrpool_executors{pool=\"io\",state=\"retiring\"} 0\n"
    "pyrpool_executor_restarts_total{pool=\"default\",cause=\"crash\"} 1\n"
    "pyrpool_executor_restarts_total{pool=\"default\",cause=\"max_requests\"} 0\n"
    "pyrpool_executor_restarts_total{pool=\"io\",cause=\"crash\"} 1\n"
    "pyrpool_executor_restarts_total{pool=\"io\",cause=\"max_requests\"} 0\n"
    "pyrpool_executor_resident_bytes{pool=\"default\"} 123456789\n"
    "pyrpool_executor_resident_bytes{pool=\"io\"} 123456789\n"
    "pyrpool_pool_up{pool=\"default\"} 0\n"
    "pyrpool_pool_up{pool=\"io\"} 1\n"
    "pyrpool_connections{listener=\"unix:/run/p.sock\"} 1\n"
    "pyrpool_connections_accepted_total{listener=\"unix:/run/p.sock\"} 10\n"
    "pyrpool_requests_total{listener=\"unix:/run/p.sock\"} 100\n"
    "pyrpool_received_bytes_total{listener=\"unix:/run/p.sock\"} 2000\n"
    "pyrpool_sent_bytes_total{listener=\"unix:/run/p.sock\"} 3000\n"
    "pyrpool_master_resident_bytes 8388608\n"
    "pyrpool_uptime_seconds 12.5\n"
    "pyrpool_config_generation 2\n"
    "pyrpool_build_info{version=\"0.1.0\"} 1\n";

static void test_every_family_from_the_schema(void **state)
{
    const char *t;
    char *got;

    (void)state;
    stats("degraded", "exited with status 3", "unix:/run/p.sock");
    t = render();
    got = samples(t);
    assert_string_equal(got, expected_samples);
    free(got);
}

/* Each family: HELP, then TYPE, then its samples and nothing else's (the
 * format wants a family's lines together). */
static void test_help_and_type_before_each_family(void **state)
{
    static const char *const types[][2] = {
        {"pyrpool_calls_total", "counter"},         {"pyrpool_call_duration_seconds", "histogram"},
        {"pyrpool_queue_wait_seconds", "histogram"}, {"pyrpool_queue_length", "gauge"},
        {"pyrpool_queue_length_max", "gauge"},       {"pyrpool_executors", "gauge"},
        {"pyrpool_executor_restarts_total", "counter"}, {"pyrpool_executor_resident_bytes", "gauge"},
        {"pyrpool_pool_up", "gauge"},                {"pyrpool_connections", "gauge"},
        {"pyrpool_connections_accepted_total", "counter"}, {"pyrpool_requests_total", "counter"},
        {"pyrpool_received_bytes_total", "counter"}, {"pyrpool_sent_bytes_total", "counter"},
        {"pyrpool_master_resident_bytes", "gauge"},  {"pyrpool_uptime_seconds", "gauge"},
        {"pyrpool_config_generation", "gauge"},      {"pyrpool_build_info", "gauge"},
    };
    const char *t, *line, *end;
    char help[128], type[128];
    size_t i, n;

    (void)state;
    stats("ready", NULL, "unix:/run/p.sock");
    t = render();
    line = t;
    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        snprintf(help, sizeof help, "# HELP %s ", types[i][0]);
        snprintf(type, sizeof type, "# TYPE %s %s\n", types[i][0], types[i][1]);
        assert_memory_equal(line, help, strlen(help));
        line = strchr(line, '\n') + 1;
        assert_memory_equal(line, type, strlen(type));
        line += strlen(type);
        n = strlen(types[i][0]);
        for (; *line != '\0' && *line != '#'; line = end + 1) {
            end = strchr(line, '\n');
            assert_memory_equal(line, types[i][0], n);
            assert_true(line[n] == '{' || line[n] == ' ' || line[n] == '_');
        }
    }
    assert_int_equal(*line, '\0');
}

/* Label values: backslash, double quote and newline escaped; the rest as is. */
static void test_label_values_escaped(void **state)
{
    const char *t;

    (void)state;
    stats("ready", NULL, "unix:/tmp/a\"b\\c\nd é");
    t = render();
    assert_non_null(strstr(t, "pyrpool_connections{listener=\"unix:/tmp/a\\\"b\\\\c\\nd é\"} 1\n"));
}

/* Numbers: integers whole, floats in their shortest exact form, NaN and Inf
 * as the format spells them. */
static void test_numbers(void **state)
{
    static const struct {
        double x;
        const char *text;
    } cases[] = {
        {0.1, "0.1"}, {1e-5, "1e-05"}, {134.217728, "134.217728"}, {1.0 / 3, "0.3333333333333333"}, {0.1 + 0.2, "0.30000000000000004"},
        {1e300, "1e+300"}, {NAN, "NaN"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {3.0, "3"},
    };
    char want[64];
    const char *t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb.size = text.size = 0;
        msgpack_pack_map(&pk, 1);
        str("daemon");
        msgpack_pack_map(&pk, 1);
        kv_double("uptime", cases[i].x);
        t = render();
        snprintf(want, sizeof want, "\npyrpool_uptime_seconds %s\n", cases[i].text);
        assert_non_null(strstr(t, want));
    }
    sb.size = text.size = 0;
    msgpack_pack_map(&pk, 1);
    str("daemon");
    msgpack_pack_map(&pk, 2);
    kv_uint("rss", UINT64_MAX);
    str("generation");
    msgpack_pack_int64(&pk, -2);
    t = render();
    assert_non_null(strstr(t, "\npyrpool_master_resident_bytes 18446744073709551615\n"));
    assert_non_null(strstr(t, "\npyrpool_config_generation -2\n"));
}

/* What does not follow the schema leaves its samples out, and nothing else. */
static void test_fields_missing_or_of_another_type(void **state)
{
    const char *t;
    char *got;

    (void)state;
    msgpack_pack_map(&pk, 3);
    str("daemon");
    msgpack_pack_map(&pk, 2);
    str("uptime");
    str("twelve");            /* not a number */
    kv_uint("generation", 1);
    str("pools");
    msgpack_pack_map(&pk, 2);
    str("a");
    msgpack_pack_map(&pk, 5);
    str("state");
    msgpack_pack_uint8(&pk, 1); /* not a str: no pool_up */
    str("outcomes");
    msgpack_pack_map(&pk, 2);
    str("ok");
    str("many");              /* skipped */
    kv_uint("error", 2);
    str("run_time");          /* no sum: the histogram is left out whole */
    msgpack_pack_map(&pk, 1);
    kv_uint("count", 3);
    str("queue_wait");        /* a bucket of the wrong shape is skipped */
    msgpack_pack_map(&pk, 3);
    kv_uint("count", 1);
    kv_double("sum", 0.5);
    str("buckets");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_double(&pk, 8e-6);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_double(&pk, 1.0);
    msgpack_pack_uint8(&pk, 1);
    kv_uint("queue", 0);
    msgpack_pack_uint8(&pk, 7); /* a pool whose name is not a str: skipped */
    msgpack_pack_map(&pk, 1);
    kv_uint("queue", 9);
    str("listeners");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_nil(&pk);    /* not a map */
    msgpack_pack_map(&pk, 1); /* no name */
    kv_uint("connections", 4);
    t = render();
    got = samples(t);
    assert_string_equal(got, "pyrpool_calls_total{pool=\"a\",outcome=\"error\"} 2\n"
                             "pyrpool_queue_wait_seconds_bucket{pool=\"a\",le=\"1\"} 1\n"
                             "pyrpool_queue_wait_seconds_bucket{pool=\"a\",le=\"+Inf\"} 1\n"
                             "pyrpool_queue_wait_seconds_sum{pool=\"a\"} 0.5\n"
                             "pyrpool_queue_wait_seconds_count{pool=\"a\"} 1\n"
                             "pyrpool_queue_length{pool=\"a\"} 0\n"
                             "pyrpool_config_generation 1\n");
    free(got);
    /* not a map at all: the HELP and TYPE lines alone */
    sb.size = text.size = 0;
    msgpack_pack_nil(&pk);
    got = samples(render());
    assert_string_equal(got, "");
    free(got);
}

static void test_healthy_when_every_pool_is_ready(void **state)
{
    char why[256];

    (void)state;
    stats("ready", NULL, "unix:/run/p.sock");
    assert_true(metrics_healthy(packed(), why, sizeof why));
    assert_string_equal(why, "");
}

static void test_unhealthy_names_each_pool_and_why(void **state)
{
    char why[256];

    (void)state;
    stats("degraded", "an executor exited with status 3 before it was ready", "unix:/run/p.sock");
    assert_false(metrics_healthy(packed(), why, sizeof why));
    assert_string_equal(why, "pool default: degraded: an executor exited with status 3 before it was ready\n");

    sb.size = 0;
    msgpack_pack_map(&pk, 1);
    str("pools");
    msgpack_pack_map(&pk, 4);
    pool("default", "ready", NULL);
    pool("gpu", "starting", NULL);
    pool("batch", "degraded", "no module named 'torch'");
    str("odd");
    msgpack_pack_map(&pk, 0);
    assert_false(metrics_healthy(packed(), why, sizeof why));
    assert_string_equal(why, "pool gpu: starting\npool batch: degraded: no module named 'torch'\n"
                             "pool odd: state unknown\n");
    /* cut to the room given */
    assert_false(metrics_healthy(packed(), why, 30));
    assert_true(strncmp(why, "pool gpu: starting\n", 19) == 0 && strlen(why) < 30);

    sb.size = 0;
    msgpack_pack_map(&pk, 0);
    assert_false(metrics_healthy(packed(), why, sizeof why));
    assert_string_equal(why, "the stats name no pools\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_family_from_the_schema, setup_all, teardown_all),
        cmocka_unit_test_setup_teardown(test_help_and_type_before_each_family, setup_all, teardown_all),
        cmocka_unit_test_setup_teardown(test_label_values_escaped, setup_all, teardown_all),
        cmocka_unit_test_setup_teardown(test_numbers, setup_all, teardown_all),
        cmocka_unit_test_setup_teardown(test_fields_missing_or_of_another_type, setup_all, teardown_all),
        cmocka_unit_test_setup_teardown(test_healthy_when_every_pool_is_ready, setup_all, teardown_all),
        cmocka_unit_test_setup_teardown(test_unhealthy_names_each_pool_and_why, setup_all, teardown_all),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
