/* Unit tests for the latency histograms (src/master/hist.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (1000 * SEC)

static struct hist *fresh(void)
{
    struct hist *h = calloc(1, sizeof *h);

    assert_non_null(h);
    return h;
}

static void test_empty_window_has_no_figures(void **state)
{
    struct hist *h = fresh();
    struct hist_summary s;

    (void)state;
    hist_window(h, T0, &s);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.p50, 0);
    assert_int_equal(s.max, 0);
    assert_int_equal(hist_below(h, 41), 0);
    free(h);
}

/* Each percentile is within one bucket (+25%) above the truth, never below
 * it, and never above the maximum. */
static void test_percentiles_of_a_uniform_spread(void **state)
{
    struct hist *h = fresh();
    struct hist_summary s;
    uint64_t i;

    (void)state;
    for (i = 1; i <= 1000; i++)
        hist_add(h, i * 10000, T0); /* 10 us .. 10 ms */
    hist_window(h, T0, &s);
    assert_int_equal(s.count, 1000);
    assert_int_equal(s.max, 10 * MS);
    assert_true(s.p50 >= 5 * MS && s.p50 <= 5 * MS * 5 / 4);
    assert_true(s.p90 >= 9 * MS && s.p90 <= 10 * MS);
    assert_true(s.p99 >= 9900000 && s.p99 <= 10 * MS);
    assert_int_equal(hist_count(h), 1000);
    assert_int_equal(h->sum_ns, 10000ull * 500500);
    free(h);
}

/* hist_below counts exactly the values under 2^e microseconds. */
static void test_below_a_power_of_two_is_exact(void **state)
{
    struct hist *h = fresh();

    (void)state;
    hist_add(h, 500, T0);          /* 0.5 us */
    hist_add(h, 7999, T0);         /* just under 8 us */
    hist_add(h, 8000, T0);         /* 8 us: not below 2^3 */
    hist_add(h, 33 * 1000, T0);    /* 33 us */
    hist_add(h, 200 * SEC, T0);    /* past every bound but the last */
    hist_add(h, UINT64_MAX / 2, T0); /* huge: the last bucket */
    assert_int_equal(hist_below(h, 0), 1);
    assert_int_equal(hist_below(h, 3), 2);
    assert_int_equal(hist_below(h, 5), 3);
    assert_int_equal(hist_below(h, 6), 4);
    assert_int_equal(hist_below(h, 27), 4);
    assert_int_equal(hist_below(h, 28), 5);
    assert_int_equal(hist_below(h, 41), 6);
    free(h);
}

/* Values leave the window once their slice is more than a window old; the
 * totals since the start keep them. */
static void test_the_window_slides(void **state)
{
    struct hist *h = fresh();
    struct hist_summary s;
    uint64_t slice = 1ull << HIST_SLICE_SHIFT;

    (void)state;
    hist_add(h, 50 * MS, T0);
    hist_add(h, 1 * MS, T0 + 3 * slice);
    hist_window(h, T0 + 3 * slice, &s);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.max, 50 * MS);
    hist_window(h, T0 + (HIST_SLICES + 1) * slice, &s);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.max, 1 * MS);
    hist_window(h, T0 + (HIST_SLICES + 4) * slice, &s);
    assert_int_equal(s.count, 0);
    /* a slice's turn comes round again: it starts empty */
    hist_add(h, 2 * MS, T0 + HIST_SLICES * slice);
    hist_window(h, T0 + HIST_SLICES * slice, &s);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.max, 2 * MS);
    assert_int_equal(hist_count(h), 3);
    free(h);
}

static void test_merge_adds_both(void **state)
{
    struct hist *a = fresh(), *b = fresh();
    struct hist_summary s;

    (void)state;
    hist_add(a, 1 * MS, T0);
    hist_add(b, 3 * MS, T0);
    hist_add(b, 4 * MS, T0);
    hist_merge(a, b);
    hist_window(a, T0, &s);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.max, 4 * MS);
    assert_int_equal(hist_count(a), 3);
    assert_int_equal(a->sum_ns, 8 * MS);
    free(a);
    free(b);
}

/* The totals since the start keep what the slices counted once the
 * slices are reused, window after window; a merge keeps every count. */
static void test_totals_outlive_the_slices(void **state)
{
    struct hist *h = fresh(), *old = fresh();
    uint64_t slice = 1ull << HIST_SLICE_SHIFT, i;

    (void)state;
    for (i = 0; i < 100; i++)
        hist_add(h, (i % 7 + 1) * MS, T0 + i * slice / 2); /* 50 slices' worth */
    assert_int_equal(hist_count(h), 100);
    assert_int_equal(hist_below(h, 41), 100);
    assert_int_equal(hist_below(h, 10), 15);   /* the 1 ms ones: under 1.024 ms */
    assert_int_equal(hist_below(h, 13), 100);  /* all under 8.192 ms */
    hist_add(old, 5 * MS, T0);                 /* a slice h has reused since */
    hist_add(old, 6 * MS, T0 + 99 * slice / 2);  /* h's newest slice */
    hist_merge(h, old);
    assert_int_equal(hist_count(h), 102);
    assert_int_equal(hist_below(h, 41), 102);
    assert_int_equal(h->sum_ns, 11 * MS + (uint64_t)(14 * 28 + 1 + 2) * MS);
    free(h);
    free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_window_has_no_figures),
        cmocka_unit_test(test_percentiles_of_a_uniform_spread),
        cmocka_unit_test(test_below_a_power_of_two_is_exact),
        cmocka_unit_test(test_the_window_slides),
        cmocka_unit_test(test_merge_adds_both),
        cmocka_unit_test(test_totals_outlive_the_slices),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
