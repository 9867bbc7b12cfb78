/* Unit tests for the MessagePack-RPC envelope decoder (src/master/rpc.c);
 * the MessagePack cursor it reads with has its own (tests/unit/common). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decode_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shorthand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_call_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_error_response, setup, teardown),
    };

    return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
