/* Unit tests for the MessagePack cursor/scanner (src/common/mpk.c) and the
 * MessagePack-RPC envelope decoder (src/master/rpc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "mpk.h"
#include "rpc.h"

static msgpack_sbuffer sb;
static msgpack_packer pk;
static char calloc_buf[300];

static int setup(void **state)
{
    (void)state;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

static void str(const char *s)
{
    msgpack_pack_str_with_body(&pk, s, strlen(s));
}

static void bin(const char *s)
{
    msgpack_pack_bin_with_body(&pk, s, strlen(s));
}

/* Packs [0, msgid, method, [...]] leaving params to the caller. */
static void request(uint32_t msgid, const char *method, size_t nparams)
{
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    str(method);
    msgpack_pack_array(&pk, nparams);
}

static void test_scan_whole_and_split(void **state)
{
    static char big[70000];
    struct mpk_scan s;
    size_t i, len;
    ssize_t n;

    (void)state;
    request(7, "call", 3);
    str("math");
    str("sqrt");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_bin(&pk, 70000);
    msgpack_pack_bin_body(&pk, big, sizeof big);
    len = sb.size;
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, sb.data, len, 1 << 20), (ssize_t)len);
    /* one byte at a time, resuming; once the bin's header is in, the scan
     * says where its payload ends (the reader reserves that much) */
    mpk_scan_reset(&s);
    for (i = 1; i < len; i++) {
        assert_int_equal(mpk_scan(&s, sb.data, i, 1 << 20), 0);
        if (i >= len - sizeof big)
            assert_int_equal(s.want, len);
    }
    assert_int_equal(mpk_scan(&s, sb.data, len, 1 << 20), (ssize_t)len);
    /* with the next message behind it, only the first is measured */
    msgpack_pack_nil(&pk);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, sb.data, sb.size, 1 << 20), (ssize_t)len);
    /* too big for the limit: refused as soon as the header says so */
    mpk_scan_reset(&s);
    n = mpk_scan(&s, sb.data, 40, 1000);
    assert_int_equal(n, MPK_ETOOBIG);
}

static void test_scan_errors(void **state)
{
    struct mpk_scan s;
    char deep[MPK_MAX_DEPTH + 2];

    (void)state;
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, "\xc1", 1, 100), MPK_EBAD);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, "\x92\x01\xc1", 3, 100), MPK_EBAD);
    memset(deep, 0x91, sizeof deep); /* [[[[...]]]] past the depth limit */
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, deep, sizeof deep, 1000), MPK_EDEPTH);
    /* a huge declared array with no data just waits for more */
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, "\xdd\xff\xff\xff\xff", 5, 1 << 30), 0);
}

/* Packs a random object (nested up to depth) with msgpack-c. */
static void pack_random(int depth)
{
    static const char text[] = "the quick brown fox jumps over the lazy dog, again and again and again";
    int kind = rand() % (depth > 0 ? 12 : 9), i, n;

    switch (kind) {
    case 0: msgpack_pack_nil(&pk); break;
    case 1: msgpack_pack_true(&pk); break;
    case 2: msgpack_pack_int64(&pk, (int64_t)rand() * (rand() % 2 ? -1 : 1) * (1 << (rand() % 31))); break;
    case 3: msgpack_pack_uint64(&pk, (uint64_t)rand() << (rand() % 33)); break;
    case 4: msgpack_pack_double(&pk, rand() / 7.0); break;
    case 5: msgpack_pack_float(&pk, (float)rand()); break;
    case 6: n = rand() % (int)sizeof text; msgpack_pack_str_with_body(&pk, text, (size_t)n); break;
    case 7: n = rand() % 300; msgpack_pack_bin(&pk, (size_t)n); msgpack_pack_bin_body(&pk, calloc_buf, (size_t)n); break;
    case 8: n = rand() % 20; msgpack_pack_ext_with_body(&pk, calloc_buf, (size_t)n, 3); break;
    case 9: case 10:
        n = rand() % 20;
        msgpack_pack_array(&pk, (size_t)n);
        for (i = 0; i < n; i++)
            pack_random(depth - 1);
        break;
    default:
        n = rand() % 10;
        msgpack_pack_map(&pk, (size_t)n);
        for (i = 0; i < 2 * n; i++)
            pack_random(depth - 1);
    }
}

/* The scanner agrees with msgpack-c's own decoder on where objects end,
 * whole or fed in random pieces, and never reads past what it is given. */
static void test_scan_matches_msgpack_c(void **state)
{
    struct mpk_scan sc;
    msgpack_unpacked u;
    size_t off, cut, i;
    int round;
    ssize_t n;

    (void)state;
    srand(7);
    msgpack_unpacked_init(&u);
    for (round = 0; round < 2000; round++) {
        sb.size = 0;
        pack_random(4);
        off = 0;
        assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, sb.size);
        mpk_scan_reset(&sc);
        assert_int_equal(mpk_scan(&sc, sb.data, sb.size, 1 << 30), (ssize_t)sb.size);
        /* in pieces: the same answer, 0 until the last piece */
        mpk_scan_reset(&sc);
        for (cut = 0; cut < sb.size;) {
            cut += 1 + (size_t)rand() % 64;
            if (cut > sb.size)
                cut = sb.size;
            n = mpk_scan(&sc, sb.data, cut, 1 << 30);
            assert_int_equal(n, cut == sb.size ? (ssize_t)sb.size : 0);
        }
        /* every proper prefix is incomplete, never an error */
        for (i = 0; i < sb.size && i < 64; i++) {
            mpk_scan_reset(&sc);
            assert_int_equal(mpk_scan(&sc, sb.data, i, 1 << 30), 0);
        }
        /* one byte under its size is too big for the limit */
        mpk_scan_reset(&sc);
        assert_int_equal(mpk_scan(&sc, sb.data, sb.size, sb.size - 1), MPK_ETOOBIG);
    }
    msgpack_unpacked_destroy(&u);
}

/* Random bytes: the scanner never crashes, and whenever it calls something
 * complete, msgpack-c finds a complete object of the same length there. */
static void test_scan_random_bytes(void **state)
{
    char buf[64];
    struct mpk_scan sc;
    msgpack_unpacked u;
    size_t off;
    int round, i;
    ssize_t n;

    (void)state;
    srand(11);
    msgpack_unpacked_init(&u);
    for (round = 0; round < 200000; round++) {
        for (i = 0; i < (int)sizeof buf; i++)
            buf[i] = (char)(rand() % 5 == 0 ? 0x90 + rand() % 3 : rand());
        mpk_scan_reset(&sc);
        n = mpk_scan(&sc, buf, sizeof buf, 1 << 20);
        if (n > 0) {
            off = 0;
            assert_int_equal(msgpack_unpack_next(&u, buf, sizeof buf, &off), MSGPACK_UNPACK_SUCCESS);
            assert_int_equal(off, (size_t)n);
        }
    }
    msgpack_unpacked_destroy(&u);
}

/* mpk_skip (a quick flat count, the scanner when that gives up) agrees with
 * the scanner on random bytes, on wide objects, and refuses deep nesting. */
static void test_skip_matches_scan(void **state)
{
    static char deep[MPK_MAX_DEPTH + 10];
    char buf[64];
    struct mpk_scan sc;
    struct mpk_reader r;
    int round, i, rc;
    ssize_t n;

    (void)state;
    srand(12);
    for (round = 0; round < 200000; round++) {
        for (i = 0; i < (int)sizeof buf; i++)
            buf[i] = (char)(rand() % 5 == 0 ? 0x90 + rand() % 3 : rand());
        mpk_scan_reset(&sc);
        n = mpk_scan(&sc, buf, sizeof buf, (size_t)-1);
        mpk_reader_init(&r, buf, sizeof buf);
        rc = mpk_skip(&r);
        if (n > 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(r.p - buf, n);
        } else {
            assert_int_not_equal(rc, 0);
            assert_ptr_equal(r.p, buf);
        }
    }
    /* 300 arrays side by side: many containers, no depth */
    sb.size = 0;
    msgpack_pack_array(&pk, 300);
    for (i = 0; i < 300; i++) {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_int(&pk, i);
    }
    msgpack_pack_nil(&pk); /* the next object */
    mpk_reader_init(&r, sb.data, sb.size);
    assert_int_equal(mpk_skip(&r), 0);
    assert_int_equal((size_t)(r.p - sb.data), sb.size - 1);
    /* deeper than MPK_MAX_DEPTH */
    memset(deep, (char)0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0x01;
    mpk_reader_init(&r, deep, sizeof deep);
    assert_int_equal(mpk_skip(&r), MPK_EDEPTH);
    sb.size = 0;
}

static void test_read_scalars(void **state)
{
    static const unsigned char data[] = {
        0xc0, 0xc3, 0x7f, 0xe0, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xd0, 0x05, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
        0xa2, 'h', 'i', 0xc4, 0x01, 0x00, 0xd4, 0x01, 0x02,
    };
    struct mpk_reader r;
    struct mpk_item it;

    (void)state;
    mpk_reader_init(&r, data, sizeof data);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_int_equal(it.type, MPK_NIL);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_BOOL && it.v.b);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_UINT && it.v.u == 127);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_INT && it.v.i == -32);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_UINT && it.v.u == UINT64_MAX);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_INT && it.v.i == INT64_MIN);
    mpk_read(&r, &it); /* a positive int8 reads as unsigned */
    assert_true(it.type == MPK_UINT && it.v.u == 5);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_FLOAT && it.v.f == 1.5);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_STR && it.v.s.len == 2 && memcmp(it.v.s.ptr, "hi", 2) == 0);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_BIN && it.v.s.len == 1);
    mpk_read(&r, &it);
    assert_true(it.type == MPK_EXT && it.v.s.ext_type == 1 && it.v.s.len == 1);
    assert_int_equal(mpk_read(&r, &it), MPK_ETRUNC);
    /* fixext 4 (a Timestamp) followed by nil: the ext takes exactly 6 bytes */
    mpk_reader_init(&r, "\xd6\xff\x00\x00\x00\x01\xc0", 7);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_EXT && it.v.s.ext_type == -1 && it.v.s.len == 4);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_int_equal(it.type, MPK_NIL);
}

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

/* The hand-written headers (mpk_put_*) are byte for byte what msgpack-c
 * packs, at every width's edges, and read back. */
static void test_put_headers(void **state)
{
    static const uint64_t uints[] = {0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000,
                                     0xffffffffu, 0x100000000ull, UINT64_MAX};
    static const uint32_t lens[] = {0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 0x7fffffffu};
    struct mpk_reader r;
    struct mpk_item it;
    char buf[16], *end;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof uints / sizeof uints[0]; i++) {
        sb.size = 0;
        msgpack_pack_uint64(&pk, uints[i]);
        end = mpk_put_uint(buf, uints[i]);
        assert_int_equal(end - buf, sb.size);
        assert_memory_equal(buf, sb.data, sb.size);
        mpk_reader_init(&r, buf, (size_t)(end - buf));
        assert_int_equal(mpk_read(&r, &it), 0);
        assert_int_equal(it.type, MPK_UINT);
        assert_true(it.v.u == uints[i]);
    }
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        sb.size = 0;
        msgpack_pack_str(&pk, lens[i]);
        end = mpk_put_str_head(buf, lens[i]);
        assert_int_equal(end - buf, sb.size);
        assert_memory_equal(buf, sb.data, sb.size);
        sb.size = 0;
        msgpack_pack_array(&pk, lens[i]);
        end = mpk_put_array_head(buf, lens[i]);
        assert_int_equal(end - buf, sb.size);
        assert_memory_equal(buf, sb.data, sb.size);
        mpk_reader_init(&r, buf, (size_t)(end - buf));
        assert_int_equal(mpk_read(&r, &it), 0);
        assert_int_equal(it.type, MPK_ARRAY);
        assert_int_equal(it.v.n, lens[i]);
    }
    sb.size = 0;
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
        cmocka_unit_test_setup_teardown(test_scan_whole_and_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_matches_msgpack_c, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skip_matches_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shorthand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_call_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_error_response, setup, teardown),
    };

    return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
