/* Unit tests for the line splitter (src/master/linesplit.c): lines come
 * out whole whatever pieces they arrive in, long ones in numbered pieces,
 * the rest at the end of the stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "linesplit.h"

#define MAX LINESPLIT_MAX

/* What the splitter gave out, in order. */
struct got {
    char *text[64];
    size_t len[64];
    unsigned part[64];
    bool last[64];
    size_t n;
};

static void collect(void *arg, const char *line, size_t len, unsigned part, bool last)
{
    struct got *g = arg;

    assert_true(g->n < 64);
    g->text[g->n] = malloc(len + 1);
    memcpy(g->text[g->n], line, len);
    g->text[g->n][len] = '\0';
    g->len[g->n] = len;
    g->part[g->n] = part;
    g->last[g->n] = last;
    g->n++;
}

static void release(struct got *g)
{
    size_t i;

    for (i = 0; i < g->n; i++)
        free(g->text[i]);
    g->n = 0;
}

static void feed(struct linesplit *ls, struct got *g, const char *s)
{
    linesplit_feed(ls, s, strlen(s), collect, g);
}

static void test_whole_lines_in_one_read(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};

    (void)state;
    feed(&ls, &g, "one\ntwo\n\nfour\n");
    assert_int_equal(g.n, 4);
    assert_string_equal(g.text[0], "one");
    assert_string_equal(g.text[1], "two");
    assert_string_equal(g.text[2], "");
    assert_string_equal(g.text[3], "four");
    assert_int_equal(g.part[0], 0);
    assert_true(g.last[0]);
    assert_null(ls.buf); /* nothing kept between reads */
    release(&g);
}

static void test_a_line_in_pieces_is_one_line(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};

    (void)state;
    feed(&ls, &g, "hel");
    feed(&ls, &g, "");
    feed(&ls, &g, "lo wor");
    assert_int_equal(g.n, 0);
    feed(&ls, &g, "ld\nnext");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.text[0], "hello world");
    feed(&ls, &g, " line\n");
    assert_int_equal(g.n, 2);
    assert_string_equal(g.text[1], "next line");
    assert_int_equal(g.part[1], 0);
    release(&g);
    linesplit_end(&ls, collect, &g);
    assert_int_equal(g.n, 0);
}

static void test_carriage_return_before_newline_dropped(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};

    (void)state;
    feed(&ls, &g, "dos\r\nin the \rmiddle\n\r");
    feed(&ls, &g, "\n");
    assert_int_equal(g.n, 3);
    assert_string_equal(g.text[0], "dos");
    assert_string_equal(g.text[1], "in the \rmiddle");
    assert_string_equal(g.text[2], "");
    release(&g);
}

static void test_the_end_gives_out_an_unterminated_line(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};

    (void)state;
    feed(&ls, &g, "done\nno newline");
    linesplit_end(&ls, collect, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.text[1], "no newline");
    assert_int_equal(g.part[1], 0);
    assert_true(g.last[1]);
    assert_null(ls.buf);
    release(&g);
    linesplit_end(&ls, collect, &g); /* nothing left */
    assert_int_equal(g.n, 0);
}

static void test_a_line_of_exactly_the_bound_is_not_cut(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};
    char *s = malloc(MAX + 2);

    (void)state;
    memset(s, 'a', MAX);
    s[MAX] = '\n';
    linesplit_feed(&ls, s, MAX, collect, &g); /* the newline comes later */
    assert_int_equal(g.n, 0);
    linesplit_feed(&ls, s + MAX, 1, collect, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.len[0], MAX);
    assert_int_equal(g.part[0], 0);
    release(&g);
    free(s);
}

/* A long line, fed in reads of step bytes: pieces of MAX numbered from 1,
 * the last one (the newline's) saying so; the next line is whole again. */
static void long_line_in_steps(size_t step)
{
    struct linesplit ls = {0};
    struct got g = {0};
    size_t total = 2 * MAX + 100, off, n, i;
    char *s = malloc(total + 8);

    for (i = 0; i < total; i++)
        s[i] = (char)('a' + i % 26);
    memcpy(s + total, "\nok\n", 4);
    for (off = 0; off < total + 4; off += n) {
        n = total + 4 - off < step ? total + 4 - off : step;
        linesplit_feed(&ls, s + off, n, collect, &g);
    }
    assert_int_equal(g.n, 4);
    assert_int_equal(g.len[0], MAX);
    assert_int_equal(g.len[1], MAX);
    assert_int_equal(g.len[2], 100);
    assert_memory_equal(g.text[0], s, MAX);
    assert_memory_equal(g.text[1], s + MAX, MAX);
    assert_memory_equal(g.text[2], s + 2 * MAX, 100);
    assert_int_equal(g.part[0], 1);
    assert_int_equal(g.part[1], 2);
    assert_int_equal(g.part[2], 3);
    assert_false(g.last[0]);
    assert_false(g.last[1]);
    assert_true(g.last[2]);
    assert_string_equal(g.text[3], "ok");
    assert_int_equal(g.part[3], 0);
    assert_null(ls.buf);
    release(&g);
    free(s);
}

static void test_a_long_line_in_one_read(void **state)
{
    (void)state;
    long_line_in_steps(1 << 20);
}

static void test_a_long_line_in_small_reads(void **state)
{
    (void)state;
    long_line_in_steps(1000);
}

static void test_a_long_line_byte_by_byte(void **state)
{
    (void)state;
    long_line_in_steps(1);
}

static void test_a_long_unterminated_line_ends_with_its_last_piece(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};
    char *s = malloc(MAX + 10);

    (void)state;
    memset(s, 'z', MAX + 10);
    linesplit_feed(&ls, s, MAX + 10, collect, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.part[0], 1);
    assert_false(g.last[0]);
    linesplit_end(&ls, collect, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.len[1], 10);
    assert_int_equal(g.part[1], 2);
    assert_true(g.last[1]);
    assert_null(ls.buf);
    release(&g);
    free(s);
}

static void test_binary_bytes_pass_through(void **state)
{
    struct linesplit ls = {0};
    struct got g = {0};
    static const char bytes[] = {'a', '\0', '\xff', 'b', '\n'};

    (void)state;
    linesplit_feed(&ls, bytes, sizeof bytes, collect, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.len[0], 4);
    assert_memory_equal(g.text[0], bytes, 4);
    release(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_lines_in_one_read),
        cmocka_unit_test(test_a_line_in_pieces_is_one_line),
        cmocka_unit_test(test_carriage_return_before_newline_dropped),
        cmocka_unit_test(test_the_end_gives_out_an_unterminated_line),
        cmocka_unit_test(test_a_line_of_exactly_the_bound_is_not_cut),
        cmocka_unit_test(test_a_long_line_in_one_read),
        cmocka_unit_test(test_a_long_line_in_small_reads),
        cmocka_unit_test(test_a_long_line_byte_by_byte),
        cmocka_unit_test(test_a_long_unterminated_line_ends_with_its_last_piece),
        cmocka_unit_test(test_binary_bytes_pass_through),
    };

    return cmocka_run_group_tests_name("linesplit", tests, NULL, NULL);
}
