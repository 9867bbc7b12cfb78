/* init: the INIT frame's one table of keys, packed by the master and parsed
 * by the executor. See init.h for the frame. */
#include "init.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mpk.h"

/* How a key's value is encoded, and the field type it fills. */
enum init_kind {
    KIND_STR,   /* str            char[aux] */
    KIND_STRS,  /* [str...]       char **, its count (size_t) at offset aux */
    KIND_BOOL,  /* true/false     bool */
    KIND_UINT,  /* uint           unsigned */
    KIND_INT, /* int            int: negative or too large reads as -1 */
};

struct init_key {
    const char *key;
    enum init_kind kind;
    size_t off;  /* of the field in struct frame_init */
    size_t aux;  /* KIND_STR: the buffer's size; KIND_STRS: the count's offset */
};

#define FIELD(f) offsetof(struct frame_init, f)

/* In the order init_pack writes them (the order the master always sent). */
static const struct init_key init_keys[] = {
    {"board", KIND_INT, FIELD(board), 0},
    {"template", KIND_BOOL, FIELD(template), 0},
    {"threads", KIND_BOOL, FIELD(threads), 0},
    {"preload", KIND_STRS, FIELD(preload), FIELD(npreload)},
    {"spin_us", KIND_UINT, FIELD(spin_us), 0},
    {"handback_ms", KIND_UINT, FIELD(handback_ms), 0},
    {"name", KIND_STR, FIELD(name), sizeof(((struct frame_init *)0)->name)},
    {"path", KIND_STRS, FIELD(path), FIELD(npath)},
    {"allow_eval", KIND_BOOL, FIELD(allow_eval), 0},
    {"uid", KIND_INT, FIELD(uid), 0},
    {"gid", KIND_INT, FIELD(gid), 0},
    {"strict_names", KIND_BOOL, FIELD(strict_names), 0},
    {"venv", KIND_STR, FIELD(venv), sizeof(((struct frame_init *)0)->venv)},
    {"log_level", KIND_UINT, FIELD(log_level), 0},
    {"log_json", KIND_BOOL, FIELD(log_json), 0},
    {"slow_call_ms", KIND_UINT, FIELD(slow_call_ms), 0},
    {"capture_output", KIND_BOOL, FIELD(capture_output), 0},
};

#define NKEYS (sizeof init_keys / sizeof init_keys[0])

#define AT(init, off, type) ((type *)((char *)(init) + (off)))
#define AT_CONST(init, off, type) ((type const *)((const char *)(init) + (off)))

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_value(msgpack_packer *pk, const struct frame_init *init, const struct init_key *k)
{
    char *const *strs;
    size_t i, n;

    switch (k->kind) {
    case KIND_STR:
        pack_str(pk, AT_CONST(init, k->off, char), strnlen(AT_CONST(init, k->off, char), k->aux));
        break;
    case KIND_STRS:
        strs = *AT_CONST(init, k->off, char **);
        n = *AT_CONST(init, k->aux, size_t);
        msgpack_pack_array(pk, n);
        for (i = 0; i < n; i++)
            pack_str(pk, strs[i], strlen(strs[i]));
        break;
    case KIND_BOOL:
        if (*AT_CONST(init, k->off, bool))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case KIND_UINT:
        msgpack_pack_unsigned_int(pk, *AT_CONST(init, k->off, unsigned));
        break;
    case KIND_INT:
        msgpack_pack_int(pk, *AT_CONST(init, k->off, int));
        break;
    }
}

void init_pack(msgpack_sbuffer *sb, const struct frame_init *init)
{
    msgpack_packer pk;
    size_t start, i;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, NKEYS);
    for (i = 0; i < NKEYS; i++) {
        pack_str(&pk, init_keys[i].key, strlen(init_keys[i].key));
        pack_value(&pk, init, &init_keys[i]);
    }
    frame_end(sb, start);
}

static const struct init_key *find_key(const struct mpk_item *key)
{
    size_t i;

    for (i = 0; i < NKEYS; i++)
        if (strlen(init_keys[i].key) == key->v.s.len &&
            memcmp(init_keys[i].key, key->v.s.ptr, key->v.s.len) == 0)
            return &init_keys[i];
    return NULL;
}

/* An allocation the executor cannot start without. */
static void *alloc_or_die(size_t n)
{
    void *p = calloc(1, n);

    if (p == NULL) {
        fputs("pyrpool: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void free_strs(char ***strs, size_t *n)
{
    size_t i;

    for (i = 0; i < *n; i++)
        free((*strs)[i]);
    free(*strs);
    *strs = NULL;
    *n = 0;
}

/* Reads the array of strs whose header is it into a NULL-terminated copy
 * at *strs (freeing the one a repeated key left there). */
static int parse_strs(struct mpk_reader *r, const struct mpk_item *it, char ***strs, size_t *n)
{
    struct mpk_item s;
    uint32_t i;

    free_strs(strs, n);
    /* each str takes a byte at least: a count past the data is a lie */
    if (it->v.n > (size_t)(r->end - r->p))
        return -1;
    *strs = alloc_or_die(((size_t)it->v.n + 1) * sizeof(char *));
    for (i = 0; i < it->v.n; i++) {
        if (mpk_read(r, &s) != 0 || s.type != MPK_STR)
            return -1;
        (*strs)[i] = alloc_or_die((size_t)s.v.s.len + 1);
        memcpy((*strs)[i], s.v.s.ptr, s.v.s.len);
        *n = i + 1;
    }
    return 0;
}

/* Stores the value it (already read, r after its header) of key k. */
static int parse_value(struct mpk_reader *r, const struct mpk_item *it, struct frame_init *init,
                       const struct init_key *k)
{
    size_t n;

    switch (k->kind) {
    case KIND_STR: /* cut to the buffer, as a log name may be */
        if (it->type != MPK_STR)
            return -1;
        n = it->v.s.len < k->aux - 1 ? it->v.s.len : k->aux - 1;
        memcpy(AT(init, k->off, char), it->v.s.ptr, n);
        AT(init, k->off, char)[n] = '\0';
        return 0;
    case KIND_STRS:
        if (it->type != MPK_ARRAY)
            return -1;
        return parse_strs(r, it, AT(init, k->off, char **), AT(init, k->aux, size_t));
    case KIND_BOOL:
        if (it->type != MPK_BOOL)
            return -1;
        *AT(init, k->off, bool) = it->v.b;
        return 0;
    case KIND_UINT:
        if (it->type != MPK_UINT || it->v.u > UINT_MAX)
            return -1;
        *AT(init, k->off, unsigned) = (unsigned)it->v.u;
        return 0;
    case KIND_INT:
        if (it->type != MPK_UINT && it->type != MPK_INT)
            return -1;
        *AT(init, k->off, int) = it->type == MPK_UINT && it->v.u <= INT32_MAX ? (int)it->v.u : -1;
        return 0;
    }
    return -1;
}

/* Reads the map of n keys at r into init. */
static int parse_map(struct mpk_reader *r, uint32_t n, struct frame_init *init)
{
    struct mpk_item key, it;
    const struct init_key *k;
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (mpk_read(r, &key) != 0 || key.type != MPK_STR || (k = find_key(&key)) == NULL ||
            mpk_read(r, &it) != 0 || parse_value(r, &it, init, k) != 0)
            return -1;
    }
    return 0;
}

int init_parse(const char *body, size_t len, struct frame_init *init)
{
    struct mpk_reader r;
    struct mpk_item it;

    init->path = NULL;
    init->npath = 0;
    init->preload = NULL;
    init->npreload = 0;
    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n != 2 || mpk_read(&r, &it) != 0 ||
        it.type != MPK_UINT || it.v.u != FRAME_INIT || mpk_read(&r, &it) != 0 || it.type != MPK_MAP ||
        parse_map(&r, it.v.n, init) != 0) {
        init_free(init);
        return -1;
    }
    return 0;
}

void init_free(struct frame_init *init)
{
    free_strs(&init->path, &init->npath);
    free_strs(&init->preload, &init->npreload);
}
