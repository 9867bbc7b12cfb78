/* mpk: bounds-checked MessagePack cursor and resumable object scanner.
 * See mpk.h for why the daemon reads MessagePack itself. */
#include "mpk.h"

#include <string.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* Decodes the item at p (avail bytes): one switch over the MessagePack
 * formats, kept whole so the format table reads in one place. On success
 * returns the bytes it takes
 * including any str/bin/ext payload; MPK_ETRUNC if they are not all there
 * (with *need set to that total when the header itself was complete). */
static ssize_t decode(const uint8_t *p, size_t avail, struct mpk_item *it, uint64_t *need)
{
    size_t hl;      /* header length */
    uint64_t pl = 0; /* payload length (str/bin/ext) */
    uint8_t c;

    *need = 0;
    if (avail < 1)
        return MPK_ETRUNC;
    c = p[0];
    if (c <= 0x7f) { it->type = MPK_UINT; it->v.u = c; return 1; }
    if (c >= 0xe0) { it->type = MPK_INT; it->v.i = (int8_t)c; return 1; }
    if ((c & 0xf0) == 0x80) { it->type = MPK_MAP; it->v.n = c & 0x0f; return 1; }
    if ((c & 0xf0) == 0x90) { it->type = MPK_ARRAY; it->v.n = c & 0x0f; return 1; }
    if ((c & 0xe0) == 0xa0) { it->type = MPK_STR; hl = 1; pl = c & 0x1f; goto payload; }

    static const uint8_t hlen[32] = {
        /* c0 */ 1, 0, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9,
        /* d0 */ 2, 3, 5, 9, 2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5,
    };
    hl = hlen[c - 0xc0];
    if (hl == 0)
        return MPK_EBAD;
    if (avail < hl) {
        *need = hl;
        return MPK_ETRUNC;
    }
    switch (c) {
    case 0xc0: it->type = MPK_NIL; return 1;
    case 0xc2: case 0xc3: it->type = MPK_BOOL; it->v.b = c == 0xc3; return 1;
    case 0xc4: it->type = MPK_BIN; pl = p[1]; goto payload;
    case 0xc5: it->type = MPK_BIN; pl = be16(p + 1); goto payload;
    case 0xc6: it->type = MPK_BIN; pl = be32(p + 1); goto payload;
    case 0xc7: it->type = MPK_EXT; pl = p[1]; it->v.s.ext_type = (int8_t)p[2]; goto payload;
    case 0xc8: it->type = MPK_EXT; pl = be16(p + 1); it->v.s.ext_type = (int8_t)p[3]; goto payload;
    case 0xc9: it->type = MPK_EXT; pl = be32(p + 1); it->v.s.ext_type = (int8_t)p[5]; goto payload;
    case 0xca: {
        uint32_t b = be32(p + 1);
        float f;
        memcpy(&f, &b, 4);
        it->type = MPK_FLOAT; it->v.f = f;
        return (ssize_t)hl;
    }
    case 0xcb: {
        uint64_t b = be64(p + 1);
        memcpy(&it->v.f, &b, 8);
        it->type = MPK_FLOAT;
        return (ssize_t)hl;
    }
    case 0xcc: it->type = MPK_UINT; it->v.u = p[1]; return (ssize_t)hl;
    case 0xcd: it->type = MPK_UINT; it->v.u = be16(p + 1); return (ssize_t)hl;
    case 0xce: it->type = MPK_UINT; it->v.u = be32(p + 1); return (ssize_t)hl;
    case 0xcf: it->type = MPK_UINT; it->v.u = be64(p + 1); return (ssize_t)hl;
    case 0xd0: it->v.i = (int8_t)p[1]; goto sint;
    case 0xd1: it->v.i = (int16_t)be16(p + 1); goto sint;
    case 0xd2: it->v.i = (int32_t)be32(p + 1); goto sint;
    case 0xd3: it->v.i = (int64_t)be64(p + 1); goto sint;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        it->type = MPK_EXT;
        it->v.s.ext_type = (int8_t)p[1];
        pl = (uint64_t)1 << (c - 0xd4);
        goto payload;
    case 0xd9: it->type = MPK_STR; pl = p[1]; goto payload;
    case 0xda: it->type = MPK_STR; pl = be16(p + 1); goto payload;
    case 0xdb: it->type = MPK_STR; pl = be32(p + 1); goto payload;
    case 0xdc: it->type = MPK_ARRAY; it->v.n = be16(p + 1); return (ssize_t)hl;
    case 0xdd: it->type = MPK_ARRAY; it->v.n = be32(p + 1); return (ssize_t)hl;
    case 0xde: it->type = MPK_MAP; it->v.n = be16(p + 1); return (ssize_t)hl;
    case 0xdf: it->type = MPK_MAP; it->v.n = be32(p + 1); return (ssize_t)hl;
    }
    return MPK_EBAD;

sint:
    if (it->v.i >= 0) {
        it->type = MPK_UINT;
        it->v.u = (uint64_t)it->v.i;
    } else {
        it->type = MPK_INT;
    }
    return (ssize_t)hl;

payload:
    if (avail - hl < pl) {
        *need = hl + pl;
        return MPK_ETRUNC;
    }
    it->v.s.ptr = (const char *)p + hl;
    it->v.s.len = (uint32_t)pl;
    return (ssize_t)(hl + pl);
}

int mpk_read_any(struct mpk_reader *r, struct mpk_item *it)
{
    uint64_t need;
    ssize_t n = decode((const uint8_t *)r->p, (size_t)(r->end - r->p), it, &need);

    if (n < 0)
        return (int)n;
    r->p += n;
    return 0;
}

/* mpk_skip's quick way: one count of the items still to skip instead of
 * the scanner's count per nesting level. It cannot see how deep the object
 * nests, so it gives up (returns 1) at MPK_MAX_DEPTH arrays and maps in
 * all (the scanner refuses that many nested ones: the item inside them is
 * a level too), and on anything unusual; the scanner then does the work
 * and the checks. outer: containers around the object (they count).
 * Returns 0 with r moved past the object, or 1. */
static int skip_flat(struct mpk_reader *r, unsigned outer)
{
    const uint8_t *u = (const uint8_t *)r->p;
    size_t len = (size_t)(r->end - r->p), i = 0;
    uint64_t left = 1, need;
    unsigned containers = outer;
    struct mpk_item it;
    ssize_t n;
    uint8_t c;

    while (left > 0) {
        if (i >= len)
            return 1;
        c = u[i];
        left--;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            i++;
        } else if ((c & 0xe0) == 0xa0) {
            i += 1 + (size_t)(c & 0x1f);
        } else if ((c & 0xe0) == 0x80) { /* fixmap 0x8X, fixarray 0x9X */
            if (++containers >= MPK_MAX_DEPTH)
                return 1;
            left += (c & 0x10) ? (uint64_t)(c & 0x0f) : 2 * (uint64_t)(c & 0x0f);
            i++;
        } else {
            n = decode(u + i, len - i, &it, &need);
            if (n < 0)
                return 1;
            if (it.type == MPK_ARRAY || it.type == MPK_MAP) {
                if (++containers >= MPK_MAX_DEPTH)
                    return 1;
                left += it.type == MPK_MAP ? 2 * (uint64_t)it.v.n : it.v.n;
            }
            i += (size_t)n;
        }
    }
    if (i > len)
        return 1;
    r->p += i;
    return 0;
}

int mpk_skip_nested(struct mpk_reader *r, unsigned outer)
{
    struct mpk_scan s;
    ssize_t n;

    if (outer >= MPK_MAX_DEPTH)
        return MPK_EDEPTH;
    if (skip_flat(r, outer) == 0)
        return 0;
    /* the scan starts as deep as the object is: levels 0..outer-1 are the
     * containers around it, with nothing left to count */
    mpk_scan_reset(&s);
    memset(s.left, 0, (outer + 1) * sizeof s.left[0]);
    s.left[outer] = 1;
    s.depth = outer + 1;
    n = mpk_scan(&s, r->p, (size_t)(r->end - r->p), (size_t)-1);
    if (n == 0)
        return MPK_ETRUNC;
    if (n < 0)
        return (int)n;
    r->p += n;
    return 0;
}

int mpk_skip(struct mpk_reader *r)
{
    return mpk_skip_nested(r, 0);
}

void mpk_scan_reset(struct mpk_scan *s)
{
    s->pos = 0;
    s->want = 0;
    s->depth = 1;
    s->left[0] = 1;
}

/* Enters an array or map of n items (pairs for a map) during a scan. */
static int scan_open(struct mpk_scan *s, uint64_t n)
{
    if (n == 0)
        return 0;
    if (s->depth > MPK_MAX_DEPTH - 1)
        return MPK_EDEPTH;
    s->left[s->depth++] = n;
    return 0;
}

ssize_t mpk_scan(struct mpk_scan *s, const char *buf, size_t len, size_t max)
{
    const uint8_t *u = (const uint8_t *)buf;
    struct mpk_item it;
    uint64_t need;
    ssize_t n;
    size_t end = len < max ? len : max; /* bytes the object may use */
    uint8_t c;
    int rc;

    for (;;) {
        while (s->depth > 0 && s->left[s->depth - 1] == 0)
            s->depth--;
        if (s->depth == 0)
            return (ssize_t)s->pos;
        if (s->pos >= end)
            return s->pos >= max ? MPK_ETOOBIG : 0;
        /* the one-byte headers and short strings that most messages are made
         * of, without the general decoder */
        c = u[s->pos];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            s->pos++;
            s->left[s->depth - 1]--;
            continue;
        }
        if ((c & 0xe0) == 0xa0 && s->pos + 1 + (c & 0x1f) <= end) {
            s->pos += 1 + (size_t)(c & 0x1f);
            s->left[s->depth - 1]--;
            continue;
        }
        if ((c & 0xe0) == 0x80) { /* fixmap 0x8X, fixarray 0x9X */
            s->pos++;
            s->left[s->depth - 1]--;
            if ((rc = scan_open(s, (c & 0x10) ? (uint64_t)(c & 0x0f) : 2 * (uint64_t)(c & 0x0f))) != 0)
                return rc;
            continue;
        }
        n = decode(u + s->pos, len - s->pos, &it, &need);
        if (n == MPK_ETRUNC) {
            if (need > max || s->pos + need > max)
                return MPK_ETOOBIG;
            s->want = need > 0 ? s->pos + need : 0;
            return 0;
        }
        if (n < 0)
            return n;
        if (s->pos + (size_t)n > max)
            return MPK_ETOOBIG;
        s->pos += (size_t)n;
        s->left[s->depth - 1]--;
        if (it.type == MPK_ARRAY && (rc = scan_open(s, it.v.n)) != 0)
            return rc;
        if (it.type == MPK_MAP && (rc = scan_open(s, 2 * (uint64_t)it.v.n)) != 0)
            return rc;
    }
}

const char *mpk_strerror(int err)
{
    switch (err) {
    case MPK_ETRUNC: return "truncated MessagePack data";
    case MPK_EBAD: return "invalid MessagePack byte";
    case MPK_EDEPTH: return "MessagePack nested too deeply";
    case MPK_ETOOBIG: return "MessagePack object too large";
    }
    return "unknown MessagePack error";
}

const char *mpk_type_name(enum mpk_type t)
{
    static const char *const names[] = {
        "nil", "bool", "int", "int", "float", "str", "bin", "array", "map", "ext",
    };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}
