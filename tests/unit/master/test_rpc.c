/* Unit tests for the MessagePack-RPC envelope decoder and the answers'
 * packers (src/master/rpc.c), checked against proto/vectors where they
 * cover it; the MessagePack cursor it reads with has its own tests
 * (tests/unit/common). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include <cmocka.h>
#include <msgpack.h>

#include "rpc.h"
#include "../packing.h"

static void test_decode_call(void **state)
{
    struct rpc_msg m;
    struct rpc_call c;
    char err[256];

    (void)state;
    request(4294967295u, "call", 5);
    str("json");
    bin("dumps"); /* names may be bin */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    str("b");
    msgpack_pack_int(&pk, 1);
    msgpack_pack_map(&pk, 1);
    str("sort_keys");
    msgpack_pack_true(&pk);
    msgpack_pack_map(&pk, 2);
    str("pool");
    str("io");
    str("timeout");
    msgpack_pack_double(&pk, 5.0);
    assert_int_equal(rpc_decode(sb.data, sb.size, &m, err, sizeof err), 0);
    assert_int_equal(m.type, RPC_REQUEST);
    assert_int_equal(m.msgid.len, 5);
    assert_memory_equal(m.msgid.ptr, "\xce\xff\xff\xff\xff", 5);
    assert_true(rpc_str_eq(m.method, "call"));
    assert_int_equal(rpc_parse_call(&m, RPC_CALL, &c, err, sizeof err), 0);
    assert_true(rpc_str_eq(c.module, "json"));
    assert_true(rpc_str_eq(c.function, "dumps"));
    assert_int_equal(c.nargs, 1);
    assert_int_equal(c.args.len, 5); /* the args bytes exactly as sent */
    assert_memory_equal(c.args.ptr, "\x91\x81\xa1\x62\x01", 5);
    assert_non_null(c.kwargs.ptr);
    assert_true(rpc_str_eq(c.pool, "io"));
    assert_true(c.timeout == 5.0);
}

static void test_shorthand(void **state)
{
    struct rpc_msg m;
    struct rpc_call c;
    char err[256];

    (void)state;
    request(1, "os.path.join", 2);
    str("a");
    str("b");
    assert_int_equal(rpc_decode(sb.data, sb.size, &m, err, sizeof err), 0);
    assert_true(rpc_is_shorthand(m.method));
    assert_int_equal(rpc_parse_shorthand(&m, &c, err, sizeof err), 0);
    assert_true(rpc_str_eq(c.module, "os.path"));
    assert_true(rpc_str_eq(c.function, "join"));
    assert_int_equal(c.nargs, 2);
    sb.size = 0;
    request(1, "collections:OrderedDict.fromkeys", 0);
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_shorthand(&m, &c, err, sizeof err), 0);
    assert_true(rpc_str_eq(c.module, "collections"));
    assert_true(rpc_str_eq(c.function, "OrderedDict.fromkeys"));
    sb.size = 0;
    request(1, "math.", 0);
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_shorthand(&m, &c, err, sizeof err), -1);
    assert_string_equal(err, "function (after the last '.' or ':' of the method) must not be empty");
    assert_false(rpc_is_shorthand((struct rpc_str){"ping", 4}));
}

/* rpc_decode_prefix: the length of a whole request at the front of a
 * buffer that holds more, and -1 for every prefix of it or a bad shape. */
static void test_decode_prefix(void **state)
{
    struct rpc_msg m;
    size_t whole, i;

    (void)state;
    request(7, "call", 3);
    str("math");
    str("sqrt");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 16);
    whole = sb.size;
    request(8, "math.sqrt", 1); /* the next message, right behind */
    msgpack_pack_int(&pk, 25);
    assert_int_equal(rpc_decode_prefix(sb.data, sb.size, &m), (ssize_t)whole);
    assert_true(rpc_str_eq(m.method, "call"));
    assert_int_equal(m.nparams, 3);
    assert_int_equal(rpc_decode_prefix(sb.data + whole, sb.size - whole, &m), (ssize_t)(sb.size - whole));
    assert_true(rpc_str_eq(m.method, "math.sqrt"));
    for (i = 0; i < whole; i++)
        assert_int_equal(rpc_decode_prefix(sb.data, i, &m), -1);
    sb.size = 0;
    msgpack_pack_array(&pk, 4); /* a response is not a request */
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    assert_int_equal(rpc_decode_prefix(sb.data, sb.size, &m), -1);
}

/* Decodes sb and expects failure with err text and the given msgid presence. */
static void expect_bad(const char *want, bool has_msgid)
{
    struct rpc_msg m;
    char err[256];

    assert_int_equal(rpc_decode(sb.data, sb.size, &m, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(m.msgid.ptr != NULL, has_msgid);
    sb.size = 0;
}

static void test_bad_envelopes(void **state)
{
    (void)state;
    str("hello");
    expect_bad("a message must be an array [type, msgid, method, params], got str", false);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 1);
    expect_bad("a request must be [0, msgid, method, params], got 2 items", true);
    msgpack_pack_array(&pk, 0);
    expect_bad("a message must be an array of 3 or 4 items, got 0", false);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 2);
    str("hello");
    expect_bad("a notification must be [2, method, params], got 2 items", false);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_int(&pk, 1);
    str("x");
    msgpack_pack_array(&pk, 0);
    expect_bad("message type must be 0 (request) or 2 (notification)", false);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    str("id");
    str("ping");
    msgpack_pack_array(&pk, 0);
    expect_bad("msgid must be an unsigned 32-bit integer, got str", false);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint64(&pk, 1ull << 32);
    str("ping");
    msgpack_pack_array(&pk, 0);
    expect_bad("msgid must be an unsigned 32-bit integer, got a larger integer", false);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 9);
    msgpack_pack_int(&pk, 3);
    msgpack_pack_array(&pk, 0);
    expect_bad("method must be a str or bin, got int", true);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 9);
    str("call");
    str("params");
    expect_bad("params must be an array, got str", true);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 9);
    str("call");
    expect_bad("a request must be [0, msgid, method, params], got 3 items", true);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 9);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    expect_bad("the daemon takes requests and notifications, not responses", true);
}

static void test_bad_call_params(void **state)
{
    struct rpc_msg m;
    struct rpc_call c;
    char err[256];

    (void)state;
    request(3, "call", 1);
    str("math");
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_call(&m, RPC_CALL, &c, err, sizeof err), -1);
    assert_string_equal(err, "params must be [module, function, args, kwargs?, opts?], got 1 items");
    sb.size = 0;
    request(3, "call", 3);
    str("math");
    str("sqrt");
    str("16");
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_call(&m, RPC_CALL, &c, err, sizeof err), -1);
    assert_string_equal(err, "args must be an array, got str");
    sb.size = 0;
    request(3, "call", 5);
    str("math");
    str("sqrt");
    msgpack_pack_array(&pk, 0);
    msgpack_pack_nil(&pk);
    msgpack_pack_map(&pk, 1);
    str("retries");
    msgpack_pack_int(&pk, 3);
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_call(&m, RPC_CALL, &c, err, sizeof err), -1);
    assert_string_equal(err, "unknown option 'retries' (known: pool, timeout)");
    sb.size = 0;
    request(3, "call", 5);
    str("math");
    str("sqrt");
    msgpack_pack_array(&pk, 0);
    msgpack_pack_nil(&pk);
    msgpack_pack_map(&pk, 1);
    str("timeout");
    msgpack_pack_int(&pk, -1);
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_call(&m, RPC_CALL, &c, err, sizeof err), -1);
    assert_string_equal(err, "opts.timeout must be a number of seconds, got int");
    sb.size = 0;
    request(3, "call", 3);
    str("");
    str("sqrt");
    msgpack_pack_array(&pk, 0);
    rpc_decode(sb.data, sb.size, &m, err, sizeof err);
    assert_int_equal(rpc_parse_call(&m, RPC_CALL, &c, err, sizeof err), -1);
    assert_string_equal(err, "module must not be empty");
}

static void test_pack_error_response(void **state)
{
    msgpack_unpacked u;
    size_t off = 0;
    struct rpc_raw msgid = {"\x2a", 1};

    (void)state;
    rpc_pack_error_response(&pk, msgid, "BadRequest", "nope");
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb.size);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 4);
    assert_int_equal(u.data.via.array.ptr[1].via.u64, 42);
    assert_int_equal(u.data.via.array.ptr[2].type, MSGPACK_OBJECT_MAP);
    assert_int_equal(u.data.via.array.ptr[2].via.map.size, 3);
    assert_int_equal(u.data.via.array.ptr[3].type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);
}

/* Packs err (a map as the daemon packs it) in shape and compares the
 * result with want, a MessagePack value packed by the test. */
static void expect_shaped(enum error_shape shape, const char *want, size_t want_len)
{
    msgpack_sbuffer out;
    msgpack_packer opk;

    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&opk, &out, msgpack_sbuffer_write);
    rpc_pack_error_shaped(&opk, shape, sb.data, sb.size);
    assert_int_equal(out.size, want_len);
    assert_memory_equal(out.data, want, want_len);
    msgpack_sbuffer_destroy(&out);
}

static void test_error_shapes(void **state)
{
    msgpack_sbuffer want;
    msgpack_packer wpk;
    const char *tb = "Traceback (most recent call last):\nValueError: bad\n";

    (void)state;
    msgpack_sbuffer_init(&want);
    msgpack_packer_init(&wpk, &want, msgpack_sbuffer_write);

    /* a Python exception: the map stays as it is */
    rpc_pack_error_traceback(&pk, "ValueError", "bad", tb);
    expect_shaped(ERRORS_MAP, sb.data, sb.size);
    msgpack_pack_str_with_body(&wpk, "ValueError: bad\nTraceback (most recent call last):\nValueError: bad\n",
                               strlen("ValueError: bad\n") + strlen(tb));
    expect_shaped(ERRORS_STRING, want.data, want.size);
    msgpack_sbuffer_clear(&want);
    msgpack_pack_array(&wpk, 3);
    msgpack_pack_str_with_body(&wpk, "ValueError", 10);
    msgpack_pack_str_with_body(&wpk, "bad", 3);
    msgpack_pack_str_with_body(&wpk, tb, strlen(tb));
    expect_shaped(ERRORS_ARRAY, want.data, want.size);

    /* a daemon error: no traceback */
    msgpack_sbuffer_clear(&sb);
    msgpack_sbuffer_clear(&want);
    rpc_pack_error(&pk, "Timeout", "too slow");
    msgpack_pack_str_with_body(&wpk, "Timeout: too slow", 17);
    expect_shaped(ERRORS_STRING, want.data, want.size);
    msgpack_sbuffer_clear(&want);
    msgpack_pack_array(&wpk, 3);
    msgpack_pack_str_with_body(&wpk, "Timeout", 7);
    msgpack_pack_str_with_body(&wpk, "too slow", 8);
    msgpack_pack_nil(&wpk);
    expect_shaped(ERRORS_ARRAY, want.data, want.size);

    /* a map item's error, keys in another order, an unknown key skipped */
    msgpack_sbuffer_clear(&sb);
    msgpack_sbuffer_clear(&want);
    msgpack_pack_map(&pk, 5);
    str("index");
    msgpack_pack_uint32(&pk, 7);
    str("extra");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    str("message");
    str("m");
    str("traceback");
    msgpack_pack_nil(&pk);
    str("type");
    bin("E");
    msgpack_pack_str_with_body(&wpk, "E: m (args_list item 7)", 23);
    expect_shaped(ERRORS_STRING, want.data, want.size);

    /* not an error map (no type; not a map): packed as it is */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    str("message");
    str("m");
    expect_shaped(ERRORS_STRING, sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    str("plain");
    expect_shaped(ERRORS_ARRAY, sb.data, sb.size);
    msgpack_sbuffer_destroy(&want);
}

static void test_error_shape_names(void **state)
{
    enum error_shape s;

    (void)state;
    assert_int_equal(rpc_error_shape_parse((struct rpc_str){"string", 6}, &s), 0);
    assert_int_equal(s, ERRORS_STRING);
    assert_string_equal(rpc_error_shape_name(s), "string");
    assert_int_equal(rpc_error_shape_parse((struct rpc_str){"array", 5}, &s), 0);
    assert_int_equal(rpc_error_shape_parse((struct rpc_str){"map", 3}, &s), 0);
    assert_int_equal(s, ERRORS_MAP);
    assert_int_equal(rpc_error_shape_parse((struct rpc_str){"arr", 3}, &s), -1);
    assert_int_equal(rpc_error_shape_parse((struct rpc_str){"maps", 4}, &s), -1);
}

/* Reads the hex of the vector file's line "key: HEX" into out; returns its
 * length, or -1 without such a line. */
static long vector_bytes(const char *path, const char *key, unsigned char *out, size_t cap)
{
    char line[8192], *p;
    size_t klen = strlen(key), n = 0;
    unsigned v;
    int used;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) != 0 || line[klen] != ':')
            continue;
        for (p = line + klen + 1; sscanf(p, " %2x%n", &v, &used) == 1; p += used) {
            assert_true(n < cap);
            out[n++] = (unsigned char)v;
        }
        fclose(f);
        return (long)n;
    }
    fclose(f);
    return -1;
}

/* The daemon's own error answers in proto/vectors (answer-*.vec with a nil
 * traceback): rpc_pack_error_response gives exactly those bytes. */
static void test_vectors_daemon_errors(void **state)
{
    DIR *dir = opendir("proto/vectors");
    struct dirent *e;
    unsigned char bytes[4096];
    char path[512];
    int checked = 0;

    (void)state;
    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL) {
        msgpack_unpacked u;
        const msgpack_object *err, *tb = NULL;
        const msgpack_object_kv *kv;
        char type[64] = "", message[512] = "";
        struct rpc_raw msgid = {NULL, 0};
        size_t off = 0;
        long n;
        uint32_t i;

        if (strncmp(e->d_name, "answer-", 7) != 0)
            continue;
        snprintf(path, sizeof path, "proto/vectors/%s", e->d_name);
        n = vector_bytes(path, "response", bytes, sizeof bytes);
        assert_true(n > 0);
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, (const char *)bytes, (size_t)n, &off), MSGPACK_UNPACK_SUCCESS);
        err = &u.data.via.array.ptr[2];
        for (i = 0, kv = err->via.map.ptr; i < err->via.map.size; i++, kv++) {
            const msgpack_object_str *k = &kv->key.via.str;

            if (k->size == 4 && memcmp(k->ptr, "type", 4) == 0)
                snprintf(type, sizeof type, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
            else if (k->size == 7 && memcmp(k->ptr, "message", 7) == 0)
                snprintf(message, sizeof message, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
            else if (k->size == 9 && memcmp(k->ptr, "traceback", 9) == 0)
                tb = &kv->val;
        }
        if (err->via.map.size == 3 && tb != NULL && tb->type == MSGPACK_OBJECT_NIL) {
            /* the msgid's bytes follow 94 01: nil, a fixint, or uint8/16/32 */
            if (bytes[2] != 0xc0)
                msgid = (struct rpc_raw){(const char *)bytes + 2, bytes[2] < 0x80   ? 1
                                                                  : bytes[2] == 0xcc ? 2
                                                                  : bytes[2] == 0xcd ? 3 : 5};
            msgpack_sbuffer_clear(&sb);
            rpc_pack_error_response(&pk, msgid, type, message);
            if (sb.size != (size_t)n || memcmp(sb.data, bytes, (size_t)n) != 0)
                fail_msg("%s: rpc_pack_error_response packs other bytes", e->d_name);
            checked++;
        }
        msgpack_unpacked_destroy(&u);
    }
    closedir(dir);
    assert_true(checked >= 14); /* one per daemon error type */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decode_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shorthand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_call_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_error_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_shape_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectors_daemon_errors, setup, teardown),
    };

    return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
