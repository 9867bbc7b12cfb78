/* Unit tests for the MessagePack cursor, skipper and scanner and the
 * hand-written headers (src/common/mpk.c, mpk.h): every format the cursor
 * reads, every cut of each, nesting and its limit, the scanner against
 * msgpack-c. Inputs that end early are put just before a page that cannot
 * be read, so reading one byte past the end crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "mpk.h"
#include "../packing.h"

static char calloc_buf[300];

/* Two pages, the second unreadable: at_page_end puts bytes right before it. */
static char *guard;
static size_t page;

static int setup_group(void **state)
{
    (void)state;
    page = (size_t)sysconf(_SC_PAGESIZE);
    guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard == MAP_FAILED || mprotect(guard + page, page, PROT_NONE) != 0)
        return -1;
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    munmap(guard, 2 * page);
    return 0;
}

/* A copy of the n bytes at src whose last byte is the last readable one. */
static const char *at_page_end(const void *src, size_t n)
{
    char *p = guard + page - n;

    assert_true(n <= page);
    memcpy(p, src, n);
    return p;
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


/* ---- every format, whole and cut -------------------------------------- */

/* One encoded item and what mpk_read makes of it. u: a uint's or bool's
 * value, an array's or map's count, or a str's, bin's or ext's length (its
 * payload being the item's last u bytes). */
struct vec {
    const char *bytes;
    size_t len;
    enum mpk_type type;
    uint64_t u;
    int64_t i;
    double f;
    int8_t ext;
};

#define V(b, t, ...) {b, sizeof(b) - 1, t, __VA_ARGS__}

static const struct vec vecs[] = {
    V("\x00", MPK_UINT, .u = 0),
    V("\x7f", MPK_UINT, .u = 127),
    V("\xe0", MPK_INT, .i = -32),
    V("\xff", MPK_INT, .i = -1),
    V("\x80", MPK_MAP, .u = 0),
    V("\x8f", MPK_MAP, .u = 15),
    V("\x90", MPK_ARRAY, .u = 0),
    V("\x9f", MPK_ARRAY, .u = 15),
    V("\xa0", MPK_STR, .u = 0),
    V("\xa3" "abc", MPK_STR, .u = 3),
    V("\xbf" "0123456789012345678901234567890", MPK_STR, .u = 31),
    V("\xc0", MPK_NIL, .u = 0),
    V("\xc2", MPK_BOOL, .u = 0),
    V("\xc3", MPK_BOOL, .u = 1),
    V("\xc4\x02" "hi", MPK_BIN, .u = 2),
    V("\xc5\x00\x02" "hi", MPK_BIN, .u = 2),
    V("\xc6\x00\x00\x00\x02" "hi", MPK_BIN, .u = 2),
    V("\xc7\x02\x05" "hi", MPK_EXT, .u = 2, .ext = 5),
    V("\xc8\x00\x02\xfb" "hi", MPK_EXT, .u = 2, .ext = -5),
    V("\xc9\x00\x00\x00\x02\x7f" "hi", MPK_EXT, .u = 2, .ext = 127),
    V("\xca\x3f\xc0\x00\x00", MPK_FLOAT, .f = 1.5),
    V("\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18", MPK_FLOAT, .f = 3.141592653589793),
    V("\xcc\xff", MPK_UINT, .u = 255),
    V("\xcd\x01\x00", MPK_UINT, .u = 256),
    V("\xce\x00\x01\x00\x00", MPK_UINT, .u = 65536),
    V("\xcf\x00\x00\x00\x01\x00\x00\x00\x00", MPK_UINT, .u = 4294967296u),
    V("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", MPK_UINT, .u = UINT64_MAX),
    /* signed formats: a negative value is an MPK_INT, any other a MPK_UINT */
    V("\xd0\x80", MPK_INT, .i = -128),
    V("\xd0\x05", MPK_UINT, .u = 5),
    V("\xd1\x80\x00", MPK_INT, .i = -32768),
    V("\xd1\x7f\xff", MPK_UINT, .u = 32767),
    V("\xd2\x80\x00\x00\x00", MPK_INT, .i = INT32_MIN),
    V("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", MPK_INT, .i = INT64_MIN),
    V("\xd3\x7f\xff\xff\xff\xff\xff\xff\xff", MPK_UINT, .u = INT64_MAX),
    V("\xd4\x01\xaa", MPK_EXT, .u = 1, .ext = 1),
    V("\xd5\x02\xaa\xbb", MPK_EXT, .u = 2, .ext = 2),
    V("\xd6\xff\x00\x00\x00\x01", MPK_EXT, .u = 4, .ext = -1),
    V("\xd7\x03" "01234567", MPK_EXT, .u = 8, .ext = 3),
    V("\xd8\x04" "0123456789abcdef", MPK_EXT, .u = 16, .ext = 4),
    V("\xd9\x03" "abc", MPK_STR, .u = 3),
    V("\xda\x00\x03" "abc", MPK_STR, .u = 3),
    V("\xdb\x00\x00\x00\x03" "abc", MPK_STR, .u = 3),
    V("\xdc\x01\x00", MPK_ARRAY, .u = 256),
    V("\xdd\x00\x01\x00\x00", MPK_ARRAY, .u = 65536),
    V("\xde\x00\x10", MPK_MAP, .u = 16),
    V("\xdf\x00\x00\x00\x11", MPK_MAP, .u = 17),
};

#define NVECS (sizeof vecs / sizeof vecs[0])

/* An array or map header whose items are not there. */
static bool has_items(const struct vec *v)
{
    return (v->type == MPK_ARRAY || v->type == MPK_MAP) && v->u > 0;
}

static void check_item(const struct vec *v, const struct mpk_item *it, const char *at)
{
    assert_int_equal(it->type, v->type);
    switch (v->type) {
    case MPK_NIL:
        break;
    case MPK_BOOL:
        assert_int_equal(it->v.b, v->u);
        break;
    case MPK_UINT:
        assert_true(it->v.u == v->u);
        break;
    case MPK_INT:
        assert_true(it->v.i == v->i);
        break;
    case MPK_FLOAT:
        assert_true(it->v.f == v->f);
        break;
    case MPK_ARRAY:
    case MPK_MAP:
        assert_int_equal(it->v.n, v->u);
        break;
    case MPK_EXT:
        assert_int_equal(it->v.s.ext_type, v->ext);
        assert_int_equal(it->v.s.len, v->u);
        assert_ptr_equal(it->v.s.ptr, at + v->len - v->u);
        break;
    case MPK_STR:
    case MPK_BIN:
        assert_int_equal(it->v.s.len, v->u);
        assert_ptr_equal(it->v.s.ptr, at + v->len - v->u);
        break;
    }
}

/* Each format read whole, by mpk_read (its inline cases) and by
 * mpk_read_any, ending exactly where the item ends. */
static void test_read_every_format(void **state)
{
    char buf[64];
    struct mpk_reader r;
    struct mpk_item it;
    const char *at;
    size_t i;

    (void)state;
    for (i = 0; i < NVECS; i++) {
        at = at_page_end(vecs[i].bytes, vecs[i].len);
        mpk_reader_init(&r, at, vecs[i].len);
        assert_int_equal(mpk_read(&r, &it), 0);
        assert_ptr_equal(r.p, at + vecs[i].len);
        check_item(&vecs[i], &it, at);
        mpk_reader_init(&r, at, vecs[i].len);
        assert_int_equal(mpk_read_any(&r, &it), 0);
        assert_ptr_equal(r.p, at + vecs[i].len);
        check_item(&vecs[i], &it, at);
        /* followed by a nil: that is the next item */
        assert_true(vecs[i].len < sizeof buf);
        memcpy(buf, vecs[i].bytes, vecs[i].len);
        buf[vecs[i].len] = (char)0xc0;
        at = at_page_end(buf, vecs[i].len + 1);
        mpk_reader_init(&r, at, vecs[i].len + 1);
        assert_int_equal(mpk_read(&r, &it), 0);
        check_item(&vecs[i], &it, at);
        assert_int_equal(mpk_read(&r, &it), 0);
        assert_int_equal(it.type, MPK_NIL);
        assert_int_equal(mpk_read(&r, &it), MPK_ETRUNC);
    }
}

/* Each format cut at every byte: the reader, the skipper and the scanner
 * say it is incomplete, leave the cursor where it was, and read nothing
 * past the cut (the next byte is unreadable). */
static void test_cut_every_format(void **state)
{
    struct mpk_reader r;
    struct mpk_scan s;
    struct mpk_item it;
    const char *at;
    size_t i, cut;

    (void)state;
    for (i = 0; i < NVECS; i++) {
        for (cut = 0; cut < vecs[i].len; cut++) {
            at = at_page_end(vecs[i].bytes, cut);
            mpk_reader_init(&r, at, cut);
            assert_int_equal(mpk_read(&r, &it), MPK_ETRUNC);
            assert_ptr_equal(r.p, at);
            assert_int_equal(mpk_read_any(&r, &it), MPK_ETRUNC);
            assert_ptr_equal(r.p, at);
            assert_int_equal(mpk_skip(&r), MPK_ETRUNC);
            assert_ptr_equal(r.p, at);
            mpk_scan_reset(&s);
            assert_int_equal(mpk_scan(&s, at, cut, 1 << 20), 0);
        }
    }
}

/* Each whole format skipped and scanned: its length, or, for an array or
 * map header without its items, incomplete. One byte under its length is
 * too big for the scanner's limit. */
static void test_skip_and_scan_every_format(void **state)
{
    struct mpk_reader r;
    struct mpk_scan s;
    const char *at;
    size_t i, len;

    (void)state;
    for (i = 0; i < NVECS; i++) {
        len = vecs[i].len;
        at = at_page_end(vecs[i].bytes, len);
        mpk_reader_init(&r, at, len);
        mpk_scan_reset(&s);
        if (has_items(&vecs[i])) {
            assert_int_equal(mpk_skip(&r), MPK_ETRUNC);
            assert_ptr_equal(r.p, at);
            assert_int_equal(mpk_scan(&s, at, len, 1 << 20), 0);
            continue;
        }
        assert_int_equal(mpk_skip(&r), 0);
        assert_ptr_equal(r.p, at + len);
        assert_int_equal(mpk_scan(&s, at, len, 1 << 20), (ssize_t)len);
        mpk_scan_reset(&s);
        assert_int_equal(mpk_scan(&s, at, len, len - 1), MPK_ETOOBIG);
    }
    /* nothing at all: incomplete, or too big for a limit of 0 */
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, guard + page, 0, 10), 0);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, guard + page, 0, 0), MPK_ETOOBIG);
    /* stopped inside a str8's payload: the scanner says where it ends */
    at = at_page_end("\xd9\x03" "ab", 4);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, at, 4, 1 << 20), 0);
    assert_int_equal(s.want, 5);
}

/* 0xc1 starts no type: refused wherever it is, and the cursor stays. */
static void test_bad_byte(void **state)
{
    struct mpk_reader r;
    struct mpk_scan s;
    struct mpk_item it;
    const char *at;

    (void)state;
    at = at_page_end("\xc1", 1);
    mpk_reader_init(&r, at, 1);
    assert_int_equal(mpk_read(&r, &it), MPK_EBAD);
    assert_ptr_equal(r.p, at);
    assert_int_equal(mpk_skip(&r), MPK_EBAD);
    assert_ptr_equal(r.p, at);
    at = at_page_end("\x82\xa1" "a\x01\xa1" "b\xc1", 7); /* {"a": 1, "b": <bad>} */
    mpk_reader_init(&r, at, 7);
    assert_int_equal(mpk_skip(&r), MPK_EBAD);
    assert_ptr_equal(r.p, at);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, at, 7, 100), MPK_EBAD);
}

/* A nested object read item by item, and skipped value by value. */
static void test_nesting(void **state)
{
    struct mpk_reader r, value;
    struct mpk_item it;

    (void)state;
    /* {"a": [1, [-2, nil]], "b": {}} */
    msgpack_pack_map(&pk, 2);
    str("a");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, -2);
    msgpack_pack_nil(&pk);
    str("b");
    msgpack_pack_map(&pk, 0);
    mpk_reader_init(&r, sb.data, sb.size);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_MAP && it.v.n == 2);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_STR && it.v.s.len == 1 && it.v.s.ptr[0] == 'a');
    value = r;
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_ARRAY && it.v.n == 2);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_UINT && it.v.u == 1);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_ARRAY && it.v.n == 2);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_INT && it.v.i == -2);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_int_equal(it.type, MPK_NIL);
    /* skipping the value of "a" lands where reading it did */
    assert_int_equal(mpk_skip(&value), 0);
    assert_ptr_equal(value.p, r.p);
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_STR && it.v.s.len == 1 && it.v.s.ptr[0] == 'b');
    assert_int_equal(mpk_read(&r, &it), 0);
    assert_true(it.type == MPK_MAP && it.v.n == 0);
    assert_ptr_equal(r.p, sb.data + sb.size);
    assert_int_equal(mpk_read(&r, &it), MPK_ETRUNC);
    /* the whole object skipped at once */
    mpk_reader_init(&r, sb.data, sb.size);
    assert_int_equal(mpk_skip(&r), 0);
    assert_ptr_equal(r.p, sb.data + sb.size);
}

/* The depth limit counts every level, the innermost item's included:
 * MPK_MAX_DEPTH - 1 arrays around an int pass, one more is refused, by
 * the skipper and the scanner alike; an empty array opens no level. */
static void test_depth_limit(void **state)
{
    char buf[MPK_MAX_DEPTH + 1];
    struct mpk_reader r;
    struct mpk_scan s;
    const char *at;
    size_t n;

    (void)state;
    n = MPK_MAX_DEPTH - 1;
    memset(buf, (char)0x91, n);
    buf[n] = 0x01;
    at = at_page_end(buf, n + 1);
    mpk_reader_init(&r, at, n + 1);
    assert_int_equal(mpk_skip(&r), 0);
    assert_ptr_equal(r.p, at + n + 1);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, at, n + 1, 1 << 20), (ssize_t)(n + 1));
    buf[n] = (char)0x90; /* [[...[[]]...]]: one more array, but empty */
    at = at_page_end(buf, n + 1);
    mpk_reader_init(&r, at, n + 1);
    assert_int_equal(mpk_skip(&r), 0);
    n = MPK_MAX_DEPTH;
    memset(buf, (char)0x91, n);
    buf[n] = 0x01;
    at = at_page_end(buf, n + 1);
    mpk_reader_init(&r, at, n + 1);
    assert_int_equal(mpk_skip(&r), MPK_EDEPTH);
    assert_ptr_equal(r.p, at);
    mpk_scan_reset(&s);
    assert_int_equal(mpk_scan(&s, at, n + 1, 1 << 20), MPK_EDEPTH);
}

/* Random bytes read item after item and skipped: never past the end, and
 * an error leaves the cursor where it was. */
static void test_random_bytes_stay_inside(void **state)
{
    char buf[24];
    struct mpk_reader r;
    struct mpk_item it;
    const char *at, *before;
    size_t len, i;
    int round, rc;

    (void)state;
    srand(13);
    for (round = 0; round < 100000; round++) {
        len = 1 + (size_t)rand() % sizeof buf;
        for (i = 0; i < len; i++)
            buf[i] = (char)rand();
        at = at_page_end(buf, len);
        mpk_reader_init(&r, at, len);
        do {
            before = r.p;
            rc = round % 2 ? mpk_read(&r, &it) : mpk_skip(&r);
            assert_true(r.p <= r.end);
            if (rc != 0) {
                assert_true(rc == MPK_ETRUNC || rc == MPK_EBAD || rc == MPK_EDEPTH);
                assert_ptr_equal(r.p, before);
            } else {
                assert_true(r.p > before);
            }
        } while (rc == 0 && r.p < r.end);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mpk_strerror(MPK_ETRUNC), "truncated MessagePack data");
    assert_string_equal(mpk_strerror(MPK_EBAD), "invalid MessagePack byte");
    assert_string_equal(mpk_strerror(MPK_EDEPTH), "MessagePack nested too deeply");
    assert_string_equal(mpk_strerror(MPK_ETOOBIG), "MessagePack object too large");
    assert_string_equal(mpk_strerror(-99), "unknown MessagePack error");
    assert_string_equal(mpk_type_name(MPK_NIL), "nil");
    assert_string_equal(mpk_type_name(MPK_BOOL), "bool");
    assert_string_equal(mpk_type_name(MPK_UINT), "int");
    assert_string_equal(mpk_type_name(MPK_INT), "int");
    assert_string_equal(mpk_type_name(MPK_FLOAT), "float");
    assert_string_equal(mpk_type_name(MPK_STR), "str");
    assert_string_equal(mpk_type_name(MPK_BIN), "bin");
    assert_string_equal(mpk_type_name(MPK_ARRAY), "array");
    assert_string_equal(mpk_type_name(MPK_MAP), "map");
    assert_string_equal(mpk_type_name(MPK_EXT), "ext");
    assert_string_equal(mpk_type_name((enum mpk_type)99), "?");
}

/* mpk_skip_nested counts the containers around the object as the scanner
 * reading the whole message does: k arrays around nil inside outer levels
 * are skipped exactly when outer + k + 1 <= MPK_MAX_DEPTH (the fast path
 * and the framed path agree; the fuzzer found them apart). */
static void test_skip_nested_counts_outer_levels(void **state)
{
    char buf[MPK_MAX_DEPTH + 8];
    struct mpk_reader r;
    unsigned outer, k;

    (void)state;
    for (outer = 0; outer < 4; outer++) {
        for (k = MPK_MAX_DEPTH - outer - 3; k < MPK_MAX_DEPTH - outer + 2 && k < sizeof buf - 1; k++) {
            memset(buf, 0x91, k);
            buf[k] = (char)0xc0;
            mpk_reader_init(&r, buf, k + 1);
            if (outer + k + 1 <= MPK_MAX_DEPTH) {
                assert_int_equal(mpk_skip_nested(&r, outer), 0);
                assert_ptr_equal(r.p, buf + k + 1);
            } else {
                assert_int_equal(mpk_skip_nested(&r, outer), MPK_EDEPTH);
            }
        }
    }
    mpk_reader_init(&r, buf, 1);
    assert_int_equal(mpk_skip_nested(&r, MPK_MAX_DEPTH), MPK_EDEPTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_every_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_every_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skip_and_scan_every_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_bytes_stay_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_whole_and_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_matches_msgpack_c, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skip_matches_scan, setup, teardown),
        cmocka_unit_test(test_skip_nested_counts_outer_levels),
    };

    return cmocka_run_group_tests_name("mpk", tests, setup_group, teardown_group);
}
