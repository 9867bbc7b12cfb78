/* Unit tests for the frames between master and executors: the length
 * prefix (src/common/frame.c, frame.h) and the INIT frame (src/common/init.c,
 * init.h): packed, parsed back, compared with the bytes the master has
 * always sent, and refused when wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "frame.h"
#include "init.h"
#include "../packing.h"

/* ---- the length prefix ------------------------------------------------ */

static void test_frame_prefix(void **state)
{
    static char big[70000];
    size_t start, second;

    (void)state;
    start = frame_begin(&sb);
    assert_int_equal(start, 0);
    assert_int_equal(sb.size, FRAME_PREFIX);
    assert_memory_equal(sb.data, "\xce\0\0\0\0", FRAME_PREFIX);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_READY);
    msgpack_pack_uint32(&pk, 4242);
    frame_end(&sb, start);
    assert_int_equal(sb.size, FRAME_PREFIX + 5);
    assert_memory_equal(sb.data, "\xce\0\0\0\x05\x92\x00\xcd\x10\x92", sb.size);
    assert_int_equal(frame_body_len(sb.data), 5);
    /* a second frame behind it: its own prefix, every byte of its length
     * (70000 = 0x00011170 in its bin's body plus its 6 bytes of headers) */
    second = frame_begin(&sb);
    assert_int_equal(second, FRAME_PREFIX + 5);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_bin_with_body(&pk, big, sizeof big);
    frame_end(&sb, second);
    assert_int_equal(sb.size - second, FRAME_PREFIX + 1 + 5 + sizeof big);
    assert_memory_equal(sb.data + second, "\xce\x00\x01\x11\x76", FRAME_PREFIX);
    assert_int_equal(frame_body_len(sb.data + second), 1 + 5 + sizeof big);
    /* the first frame untouched */
    assert_int_equal(frame_body_len(sb.data), 5);
}

static void test_frame_body_len(void **state)
{
    (void)state;
    assert_int_equal(frame_body_len("\xce\0\0\0\0"), 0);
    assert_int_equal(frame_body_len("\xce\x01\x02\x03\x04"), 0x01020304);
    assert_int_equal(frame_body_len("\xce\xff\xff\xff\xff"), 0xffffffffLL);
    /* anything but a uint32 header is no frame */
    assert_int_equal(frame_body_len("\xcd\0\0\0\0"), -1);
    assert_int_equal(frame_body_len("\x00\0\0\0\0"), -1);
    assert_int_equal(frame_body_len("\x92\x00\x01\0\0"), -1);
}

/* ---- the INIT frame --------------------------------------------------- */

static char *paths[] = {"/srv/app", "/opt/lib/python"};
static char *preloads[] = {"json", "os.path", "numpy"};

static struct frame_init full(void)
{
    struct frame_init init = {
        .name = "io/3",
        .path = paths,
        .npath = 2,
        .preload = preloads,
        .npreload = 3,
        .allow_eval = true,
        .threads = true,
        .template = false,
        .handback_ms = 25,
        .spin_us = 300,
        .board = 7,
        .uid = 1000,
        .gid = 1001,
        .venv = "/srv/app/.venv",
        .log_level = 3,
        .log_json = true,
        .slow_call_ms = 2500,
        .capture_output = true,
    };

    return init;
}

/* Packs init and returns its frame's body (in sb), checking the prefix. */
static const char *pack(const struct frame_init *init, size_t *len)
{
    sb.size = 0;
    init_pack(&sb, init);
    assert_true(sb.size > FRAME_PREFIX);
    assert_int_equal(frame_body_len(sb.data), sb.size - FRAME_PREFIX);
    *len = sb.size - FRAME_PREFIX;
    return sb.data + FRAME_PREFIX;
}

static void assert_strs_equal(char **got, size_t ngot, char **want, size_t nwant)
{
    size_t i;

    assert_int_equal(ngot, nwant);
    assert_non_null(got);
    for (i = 0; i < nwant; i++) {
        assert_string_equal(got[i], want[i]);
        assert_ptr_not_equal(got[i], want[i]); /* a copy */
    }
    assert_null(got[nwant]);
}

static void test_init_round_trip(void **state)
{
    struct frame_init in = full(), out;
    const char *body;
    size_t len;

    (void)state;
    body = pack(&in, &len);
    memset(&out, 0xa5, sizeof out);
    assert_int_equal(init_parse(body, len, &out), 0);
    assert_string_equal(out.name, "io/3");
    assert_strs_equal(out.path, out.npath, paths, 2);
    assert_strs_equal(out.preload, out.npreload, preloads, 3);
    assert_true(out.allow_eval);
    assert_true(out.threads);
    assert_false(out.template);
    assert_int_equal(out.handback_ms, 25);
    assert_int_equal(out.spin_us, 300);
    assert_int_equal(out.board, 7);
    assert_int_equal(out.uid, 1000);
    assert_int_equal(out.gid, 1001);
    assert_string_equal(out.venv, "/srv/app/.venv");
    assert_int_equal(out.log_level, 3);
    assert_true(out.log_json);
    assert_true(out.capture_output);
    init_free(&out);
    assert_null(out.path);
    assert_int_equal(out.npath, 0);
    assert_null(out.preload);
    assert_int_equal(out.npreload, 0);
    init_free(&out); /* again: nothing left to free */
    /* packing only read the caller's arrays */
    assert_ptr_equal(in.path, paths);
    assert_string_equal(paths[1], "/opt/lib/python");
}

/* A template with neither path nor preload: board -1, empty arrays, every
 * bool false, zeros. */
static void test_init_round_trip_template(void **state)
{
    struct frame_init in = {.name = "", .template = true, .board = -1}, out;
    const char *body;
    size_t len;

    (void)state;
    body = pack(&in, &len);
    memset(&out, 0xa5, sizeof out);
    assert_int_equal(init_parse(body, len, &out), 0);
    assert_string_equal(out.name, "");
    assert_int_equal(out.npath, 0);
    assert_non_null(out.path);
    assert_null(out.path[0]);
    assert_int_equal(out.npreload, 0);
    assert_null(out.preload[0]);
    assert_false(out.allow_eval);
    assert_false(out.threads);
    assert_true(out.template);
    assert_int_equal(out.handback_ms, 0);
    assert_int_equal(out.spin_us, 0);
    assert_int_equal(out.board, -1);
    init_free(&out);
}

/* Byte for byte what the master packed before init_pack existed (the same
 * keys in the same order, board as a signed int, uints as unsigned ints),
 * plus the uid and gid added since, signed ints too, venv, the log settings
 * slow_call_ms and capture_output. */
static void test_init_bytes_as_before(void **state)
{
    struct frame_init init = full();
    msgpack_sbuffer want;
    size_t start, i;

    (void)state;
    init.board = 300;
    init.handback_ms = 70000;
    init.uid = 65534;
    init.gid = -1;
    msgpack_sbuffer_init(&want);
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    start = frame_begin(&want);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, 17);
    str("board");
    msgpack_pack_int(&pk, 300);
    str("template");
    msgpack_pack_false(&pk);
    str("threads");
    msgpack_pack_true(&pk);
    str("preload");
    msgpack_pack_array(&pk, 3);
    for (i = 0; i < 3; i++)
        str(preloads[i]);
    str("spin_us");
    msgpack_pack_unsigned_int(&pk, 300);
    str("handback_ms");
    msgpack_pack_unsigned_int(&pk, 70000);
    str("name");
    str("io/3");
    str("path");
    msgpack_pack_array(&pk, 2);
    for (i = 0; i < 2; i++)
        str(paths[i]);
    str("allow_eval");
    msgpack_pack_true(&pk);
    str("uid");
    msgpack_pack_int(&pk, 65534);
    str("gid");
    msgpack_pack_int(&pk, -1);
    str("strict_names");
    msgpack_pack_false(&pk);
    str("venv");
    str("/srv/app/.venv");
    str("log_level");
    msgpack_pack_unsigned_int(&pk, 3);
    str("log_json");
    msgpack_pack_true(&pk);
    str("slow_call_ms");
    msgpack_pack_unsigned_int(&pk, 2500);
    str("capture_output");
    msgpack_pack_true(&pk);
    frame_end(&want, start);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    init_pack(&sb, &init);
    assert_int_equal(sb.size, want.size);
    assert_memory_equal(sb.data, want.data, want.size);
    /* a board of -1 is a negative fixint */
    init.board = -1;
    sb.size = 0;
    init_pack(&sb, &init);
    assert_non_null(memmem(sb.data, sb.size, "\xa5" "board\xff", 7));
    msgpack_sbuffer_destroy(&want);
}

/* Keys the body lacks keep the caller's values; path and preload start
 * empty; a repeated key counts once, its last value (no leak: the sanitizer
 * build checks); a name too long for the struct is cut. */
static void test_init_partial_and_repeated(void **state)
{
    struct frame_init out = {.name = "executor", .handback_ms = 10, .board = -1,
                             .path = paths, .npath = 2};
    char longname[300];

    (void)state;
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, 4);
    str("path");
    msgpack_pack_array(&pk, 1);
    str("/first");
    str("path");
    msgpack_pack_array(&pk, 2);
    str("/a");
    str("/b");
    str("spin_us");
    msgpack_pack_unsigned_int(&pk, 5);
    str("name");
    str(longname);
    assert_int_equal(init_parse(sb.data, sb.size, &out), 0);
    assert_int_equal(out.handback_ms, 10);
    assert_int_equal(out.board, -1);
    assert_int_equal(out.spin_us, 5);
    assert_int_equal(strlen(out.name), sizeof out.name - 1);
    assert_memory_equal(out.name, longname, sizeof out.name - 1);
    assert_int_equal(out.npath, 2);
    assert_string_equal(out.path[0], "/a");
    assert_string_equal(out.path[1], "/b");
    assert_int_equal(out.npreload, 0);
    assert_null(out.preload);
    init_free(&out);
}

/* A body of one key and value: [FRAME_INIT, {key: <packed by value()>}]. */
static int parse_one(const char *key, void (*value)(void))
{
    struct frame_init out = {.board = 1};
    int rc;

    sb.size = 0;
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, 1);
    str(key);
    value();
    rc = init_parse(sb.data, sb.size, &out);
    if (rc != 0) {
        /* nothing left allocated */
        assert_null(out.path);
        assert_null(out.preload);
        assert_int_equal(out.npath + out.npreload, 0);
    }
    init_free(&out);
    return rc;
}

static void v_str(void) { str("x"); }
static void v_true(void) { msgpack_pack_true(&pk); }
static void v_one(void) { msgpack_pack_uint8(&pk, 1); }
static void v_minus_one(void) { msgpack_pack_int8(&pk, -1); }
static void v_nil(void) { msgpack_pack_nil(&pk); }
static void v_float(void) { msgpack_pack_double(&pk, 1.0); }
static void v_too_big(void) { msgpack_pack_uint64(&pk, (uint64_t)UINT32_MAX + 1); }
static void v_empty_array(void) { msgpack_pack_array(&pk, 0); }
static void v_bin_name(void) { msgpack_pack_bin_with_body(&pk, "x", 1); }

static void v_array_of_int(void)
{
    msgpack_pack_array(&pk, 2);
    str("ok");
    msgpack_pack_int(&pk, 3);
}

static void v_array_too_long(void)
{
    /* claims 2^32 - 1 strs, holds one */
    msgpack_sbuffer_write(&sb, "\xdd\xff\xff\xff\xff", 5);
    str("a");
}

/* Each key takes its own type only. */
static void test_init_types(void **state)
{
    static const char *const bools[] = {"allow_eval", "threads", "template"};
    static const char *const uints[] = {"handback_ms", "spin_us"};
    static const char *const arrays[] = {"path", "preload"};
    size_t i;

    (void)state;
    assert_int_equal(parse_one("name", v_str), 0);
    assert_int_equal(parse_one("name", v_one), -1);
    assert_int_equal(parse_one("name", v_bin_name), -1);
    assert_int_equal(parse_one("name", v_nil), -1);
    for (i = 0; i < 3; i++) {
        assert_int_equal(parse_one(bools[i], v_true), 0);
        assert_int_equal(parse_one(bools[i], v_one), -1);
        assert_int_equal(parse_one(bools[i], v_nil), -1);
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(parse_one(uints[i], v_one), 0);
        assert_int_equal(parse_one(uints[i], v_minus_one), -1);
        assert_int_equal(parse_one(uints[i], v_true), -1);
        assert_int_equal(parse_one(uints[i], v_float), -1);
        assert_int_equal(parse_one(uints[i], v_too_big), -1);
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(parse_one(arrays[i], v_empty_array), 0);
        assert_int_equal(parse_one(arrays[i], v_str), -1);
        assert_int_equal(parse_one(arrays[i], v_nil), -1);
        assert_int_equal(parse_one(arrays[i], v_array_of_int), -1);
        assert_int_equal(parse_one(arrays[i], v_array_too_long), -1);
    }
    assert_int_equal(parse_one("board", v_one), 0);
    assert_int_equal(parse_one("board", v_minus_one), 0);
    assert_int_equal(parse_one("board", v_true), -1);
    assert_int_equal(parse_one("board", v_str), -1);
    assert_int_equal(parse_one("board", v_float), -1);
}

/* board: any negative value, or one past INT32_MAX, means none (-1). */
static void test_init_board_values(void **state)
{
    static const struct { int64_t sent; int want; } cases[] = {
        {0, 0}, {5, 5}, {INT32_MAX, INT32_MAX}, {(int64_t)INT32_MAX + 1, -1},
        {-1, -1}, {-7, -1}, {INT64_MIN, -1},
    };
    struct frame_init out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb.size = 0;
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint8(&pk, FRAME_INIT);
        msgpack_pack_map(&pk, 1);
        str("board");
        msgpack_pack_int64(&pk, cases[i].sent);
        out.board = 99;
        assert_int_equal(init_parse(sb.data, sb.size, &out), 0);
        assert_int_equal(out.board, cases[i].want);
        init_free(&out);
    }
}

/* What is not a FRAME_INIT array of a map of known keys. */
static void test_init_refused(void **state)
{
    struct frame_init in = full(), out;
    const char *body;
    char *copy;
    size_t len, cut;

    (void)state;
    /* an unknown key, even beside good ones */
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, 2);
    str("path");
    msgpack_pack_array(&pk, 1);
    str("/a");
    str("nmae");
    str("x");
    assert_int_equal(init_parse(sb.data, sb.size, &out), -1);
    assert_null(out.path);
    /* a key that is not a str */
    sb.size = 0;
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_true(&pk);
    assert_int_equal(init_parse(sb.data, sb.size, &out), -1);
    /* another frame kind, a third item, no map */
    assert_int_equal(init_parse("\x92\x01\x80", 3, &out), -1);
    assert_int_equal(init_parse("\x93\x00\x80\xc0", 4, &out), -1);
    assert_int_equal(init_parse("\x92\x00\x90", 3, &out), -1);
    assert_int_equal(init_parse("\x80", 1, &out), -1);
    assert_int_equal(init_parse("", 0, &out), -1);
    /* the empty map is fine */
    assert_int_equal(init_parse("\x92\x00\x80", 3, &out), 0);
    init_free(&out);
    /* a whole frame's body cut at every byte, from a copy of exactly that
     * many bytes: refused, nothing left allocated */
    body = pack(&in, &len);
    for (cut = 0; cut < len; cut++) {
        copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, body, cut);
        memset(&out, 0xa5, sizeof out);
        assert_int_equal(init_parse(copy, cut, &out), -1);
        assert_null(out.path);
        assert_null(out.preload);
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frame_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_body_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_round_trip_template, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_bytes_as_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_partial_and_repeated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_board_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_refused, setup, teardown),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
