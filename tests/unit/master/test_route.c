/* Unit tests for the routing table (src/master/route.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static char DEFAULT[] = "default", IO[] = "io", GPU[] = "gpu";

static int reg(struct route_table *t, const char *m, const char *f, void *v)
{
    return route_register(t, m, strlen(m), f, f ? strlen(f) : 0, v);
}

static const char *look(struct route_table *t, const char *m, const char *f)
{
    const char *v = route_lookup(t, m, strlen(m), f, strlen(f));

    return v ? v : "(default)";
}

static int setup(void **state)
{
    *state = route_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    route_free(*state);
    return 0;
}

static void test_empty_table_routes_nothing(void **state)
{
    assert_string_equal(look(*state, "math", "sqrt"), "(default)");
    assert_int_equal(route_count(*state), 0);
}

static void test_function_beats_module(void **state)
{
    struct route_table *t = *state;

    assert_int_equal(reg(t, "json", NULL, IO), 0);
    assert_int_equal(reg(t, "json", "dumps", DEFAULT), 0);
    assert_string_equal(look(t, "json", "loads"), "io");
    assert_string_equal(look(t, "json", "dumps"), "default");
}

static void test_parent_package_nearest_first(void **state)
{
    struct route_table *t = *state;

    reg(t, "xml", NULL, IO);
    assert_string_equal(look(t, "xml.etree.ElementTree", "parse"), "io");
    reg(t, "xml.etree", NULL, GPU);
    assert_string_equal(look(t, "xml.etree.ElementTree", "parse"), "gpu");
    assert_string_equal(look(t, "xml.dom", "parse"), "io");
    /* a prefix that is not a package boundary does not match */
    assert_string_equal(look(t, "xmlrpc", "client"), "(default)");
    assert_string_equal(look(t, "xml", "x"), "io");
}

static void test_module_beats_parent_and_function_beats_all(void **state)
{
    struct route_table *t = *state;

    reg(t, "boto3", NULL, IO);
    reg(t, "boto3.s3.transfer", NULL, GPU);
    reg(t, "boto3.s3.transfer", "upload", DEFAULT);
    assert_string_equal(look(t, "boto3.s3.transfer", "download"), "gpu");
    assert_string_equal(look(t, "boto3.s3.transfer", "upload"), "default");
    assert_string_equal(look(t, "boto3.s3", "x"), "io");
}

static void test_function_registration_is_exact(void **state)
{
    struct route_table *t = *state;

    reg(t, "urllib", "urlopen", IO);
    assert_string_equal(look(t, "urllib", "urlopen"), "io");
    assert_string_equal(look(t, "urllib", "urlopen2"), "(default)");
    assert_string_equal(look(t, "urllib.request", "urlopen"), "(default)");
    /* a function registration of a parent does not cover a child module */
    reg(t, "db", "query", IO);
    assert_string_equal(look(t, "db.sub", "query"), "(default)");
}

static void test_reregister_replaces(void **state)
{
    struct route_table *t = *state;

    reg(t, "requests", NULL, IO);
    reg(t, "requests", NULL, GPU);
    assert_int_equal(route_count(t), 1);
    assert_string_equal(look(t, "requests", "get"), "gpu");
}

static void test_unregister(void **state)
{
    struct route_table *t = *state;

    reg(t, "requests", NULL, IO);
    reg(t, "json", "dumps", IO);
    assert_true(route_unregister(t, "requests", 8, NULL, 0));
    assert_false(route_unregister(t, "requests", 8, NULL, 0));
    assert_false(route_unregister(t, "json", 4, NULL, 0)); /* only json:dumps exists */
    assert_true(route_unregister(t, "json", 4, "dumps", 5));
    assert_int_equal(route_count(t), 0);
    assert_string_equal(look(t, "requests", "get"), "(default)");
}

static void test_bad_names_refused(void **state)
{
    struct route_table *t = *state;
    char big[2000];

    assert_int_equal(reg(t, "", NULL, IO), -EINVAL);
    assert_int_equal(reg(t, "a:b", NULL, IO), -EINVAL);
    assert_int_equal(reg(t, "a", "", IO), -EINVAL);
    assert_int_equal(reg(t, "a", "b:c", IO), -EINVAL);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(reg(t, big, NULL, IO), -EINVAL);
    assert_int_equal(route_count(t), 0);
    /* looking up an over-long name is not an error, just no match */
    assert_string_equal(look(t, big, "f"), "(default)");
}

struct seen {
    char lines[16][80];
    int n;
};

static void visit(void *arg, const char *module, const char *function, void *value)
{
    struct seen *s = arg;

    snprintf(s->lines[s->n++], 80, "%s|%s|%s", module, function ? function : "-", (char *)value);
}

static void test_each_is_sorted(void **state)
{
    struct route_table *t = *state;
    struct seen s = {.n = 0};

    reg(t, "json", "dumps", DEFAULT);
    reg(t, "requests", NULL, IO);
    reg(t, "json", NULL, IO);
    reg(t, "json.decoder", NULL, GPU);
    route_each(t, visit, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.lines[0], "json|-|io");
    assert_string_equal(s.lines[1], "json|dumps|default");
    assert_string_equal(s.lines[2], "json.decoder|-|gpu");
    assert_string_equal(s.lines[3], "requests|-|io");
}

static void test_many_registrations_grow_the_table(void **state)
{
    struct route_table *t = *state;
    char name[32];
    int i;

    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "mod%d", i);
        assert_int_equal(reg(t, name, i % 2 ? "f" : NULL, i % 3 ? IO : GPU), 0);
    }
    assert_int_equal(route_count(t), 5000);
    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "mod%d", i);
        assert_string_equal(look(t, name, i % 2 ? "f" : "g"),
                            i % 2 == 0 ? (i % 3 ? "io" : "gpu") : (i % 3 ? "io" : "gpu"));
    }
    assert_int_equal(route_unregister_value(t, GPU), 1667);
    assert_int_equal(route_count(t), 5000 - 1667);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_table_routes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_beats_module, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_package_nearest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_module_beats_parent_and_function_beats_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_registration_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reregister_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_is_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_registrations_grow_the_table, setup, teardown),
    };

    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
