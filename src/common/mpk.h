/* mpk: a bounds-checked, zero-copy MessagePack reader, and the few headers
 * the master's hot path writes by hand.
 *
 * msgpack-c (which we use for all writing) decodes into a tree and cannot tell
 * where an object's bytes begin and end once its streaming buffer has moved.
 * The daemon relays argument and result bytes untouched, so it needs exactly
 * that: this cursor reads one header or scalar at a time, skips whole objects,
 * and mpk_scan finds the end of a complete object in a growing stream,
 * resuming where it stopped instead of rescanning. */
#ifndef PYRPOOL_MPK_H
#define PYRPOOL_MPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Nesting deeper than this is refused everywhere (wire, executor frames). */
#define MPK_MAX_DEPTH 128

enum mpk_type {
    MPK_NIL, MPK_BOOL, MPK_UINT, MPK_INT, MPK_FLOAT,
    MPK_STR, MPK_BIN, MPK_ARRAY, MPK_MAP, MPK_EXT
};

/* Error codes (negative), shared by the reader and the scanner. */
#define MPK_ETRUNC  (-1)  /* data ends inside the object */
#define MPK_EBAD    (-2)  /* a byte that starts no MessagePack type (0xc1) */
#define MPK_EDEPTH  (-3)  /* nested deeper than MPK_MAX_DEPTH */
#define MPK_ETOOBIG (-4)  /* the object would exceed the caller's size limit */

struct mpk_item {
    enum mpk_type type;
    union {
        bool b;
        uint64_t u;          /* MPK_UINT: every non-negative integer */
        int64_t i;           /* MPK_INT: negative integers only */
        double f;
        uint32_t n;          /* MPK_ARRAY: items, MPK_MAP: pairs */
        struct {
            const char *ptr; /* MPK_STR, MPK_BIN, MPK_EXT: points into the input */
            uint32_t len;
            int8_t ext_type;
        } s;
    } v;
};

struct mpk_reader {
    const char *p;
    const char *end;
};

static inline void mpk_reader_init(struct mpk_reader *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
}

/* mpk_read for any item; mpk_read inlines the common one-byte headers. */
int mpk_read_any(struct mpk_reader *r, struct mpk_item *it);

/* Reads one item. For arrays and maps only the header is consumed; the caller
 * reads (or skips) the elements. Returns 0 or MPK_ETRUNC / MPK_EBAD; on error
 * the cursor does not move. */
static inline int mpk_read(struct mpk_reader *r, struct mpk_item *it)
{
    uint8_t c;

    if (r->p < r->end) {
        c = (uint8_t)*r->p;
        if (c <= 0x7f) {
            it->type = MPK_UINT;
            it->v.u = c;
            r->p++;
            return 0;
        }
        if ((c & 0xf0) == 0x90) {
            it->type = MPK_ARRAY;
            it->v.n = c & 0x0f;
            r->p++;
            return 0;
        }
        if ((c & 0xe0) == 0xa0 && (size_t)(r->end - r->p) > (size_t)(c & 0x1f)) {
            it->type = MPK_STR;
            it->v.s.ptr = r->p + 1;
            it->v.s.len = c & 0x1f;
            r->p += 1 + (c & 0x1f);
            return 0;
        }
    }
    return mpk_read_any(r, it);
}

/* Writers: each puts one header at w, which has room for it (at most 9
 * bytes), in the shortest form, and returns the byte after it. Used where
 * msgpack-c's packer, one callback per item, would cost more than the bytes. */
static inline char *mpk_put_uint(char *w, uint64_t v)
{
    unsigned char *u = (unsigned char *)w;
    int i, n;

    if (v <= 0x7f) {
        u[0] = (unsigned char)v;
        return w + 1;
    }
    if (v <= 0xff) {
        u[0] = 0xcc;
        n = 1;
    } else if (v <= 0xffff) {
        u[0] = 0xcd;
        n = 2;
    } else if (v <= 0xffffffff) {
        u[0] = 0xce;
        n = 4;
    } else {
        u[0] = 0xcf;
        n = 8;
    }
    for (i = n; i > 0; i--, v >>= 8)
        u[i] = (unsigned char)v;
    return w + 1 + n;
}

static inline char *mpk_put_len(char *w, uint32_t len, uint8_t fix, uint32_t fixmax, uint8_t c8,
                                uint8_t c16, uint8_t c32)
{
    unsigned char *u = (unsigned char *)w;

    if (len <= fixmax) {
        u[0] = (unsigned char)(fix | len);
        return w + 1;
    }
    if (c8 != 0 && len <= 0xff) {
        u[0] = c8;
        u[1] = (unsigned char)len;
        return w + 2;
    }
    if (len <= 0xffff) {
        u[0] = c16;
        u[1] = (unsigned char)(len >> 8);
        u[2] = (unsigned char)len;
        return w + 3;
    }
    u[0] = c32;
    u[1] = (unsigned char)(len >> 24);
    u[2] = (unsigned char)(len >> 16);
    u[3] = (unsigned char)(len >> 8);
    u[4] = (unsigned char)len;
    return w + 5;
}

static inline char *mpk_put_str_head(char *w, uint32_t len)
{
    return mpk_put_len(w, len, 0xa0, 31, 0xd9, 0xda, 0xdb);
}

static inline char *mpk_put_array_head(char *w, uint32_t n)
{
    return mpk_put_len(w, n, 0x90, 15, 0, 0xdc, 0xdd);
}

/* Skips one whole object, nested ones included. Returns 0 or a MPK_E* code. */
int mpk_skip(struct mpk_reader *r);

/* The same for an object inside outer arrays or maps, which count towards
 * MPK_MAX_DEPTH as they do for the scanner reading the whole message. */
int mpk_skip_nested(struct mpk_reader *r, unsigned outer);

/* Human-readable name of a MPK_E* code. */
const char *mpk_strerror(int err);

/* Name of an item type as the protocol documents it ("str", "array", ...). */
const char *mpk_type_name(enum mpk_type t);

/* Resumable scanner state: where the scan stopped and how many items each open
 * array/map level still holds. */
struct mpk_scan {
    size_t pos;
    size_t want;    /* when it stopped inside a str/bin/ext: the offset its
                     * payload ends at (0: not known) */
    uint32_t depth;
    uint64_t left[MPK_MAX_DEPTH + 1];
};

void mpk_scan_reset(struct mpk_scan *s);

/* Looks for the end of the object that starts at buf[0]; buf may grow between
 * calls (same start, more bytes), and the scan continues where it stopped.
 * Returns the object's length (> 0) when complete, 0 when more bytes are
 * needed, or a MPK_E* code. MPK_ETOOBIG when the object would be longer than
 * max bytes. Reset the state before scanning the next object. */
ssize_t mpk_scan(struct mpk_scan *s, const char *buf, size_t len, size_t max);

#endif
