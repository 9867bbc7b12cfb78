/* rpc: MessagePack-RPC envelope decoding and response packing. See rpc.h. */
#include "rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Type name of the item at r, for error messages; does not move r. */
static const char *peek_type(const struct mpk_reader *r)
{
    struct mpk_reader copy = *r;
    struct mpk_item it;

    if (mpk_read(&copy, &it) != 0)
        return "nothing";
    return mpk_type_name(it.type);
}

const char *rpc_printable(struct rpc_str s, char *out, size_t outlen)
{
    size_t i, n = s.len < outlen - 1 ? s.len : outlen - 1;

    for (i = 0; i < n; i++)
        out[i] = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f ? s.ptr[i] : '?';
    out[n] = '\0';
    return out;
}

uint32_t rpc_msgid_value(struct rpc_raw msgid)
{
    struct mpk_reader r;
    struct mpk_item it;

    mpk_reader_init(&r, msgid.ptr, msgid.len);
    return mpk_read(&r, &it) == 0 && it.type == MPK_UINT ? (uint32_t)it.v.u : 0;
}

/* Reads the raw bytes of the next whole object, which sits inside outer
 * arrays or maps (they count towards the nesting limit). */
static int read_raw(struct mpk_reader *r, struct rpc_raw *raw, unsigned outer)
{
    const char *start = r->p;

    if (mpk_skip_nested(r, outer) != 0)
        return -1;
    raw->ptr = start;
    raw->len = (size_t)(r->p - start);
    return 0;
}

/* Decodes the message at the start of buf (len bytes, maybe followed by
 * more); returns its length, or -1 with err set. */
static ssize_t decode_envelope(const char *buf, size_t len, struct rpc_msg *m, char *err, size_t errlen)
{
    struct mpk_reader r;
    struct mpk_item it;
    const char *start;
    uint32_t n;

    memset(m, 0, sizeof *m);
    mpk_reader_init(&r, buf, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY)
        return fail(err, errlen, "a message must be an array [type, msgid, method, params], got %s",
                    peek_type(&(struct mpk_reader){buf, buf + len}));
    n = it.v.n;
    if (n == 0)
        return fail(err, errlen, "a message must be an array of 3 or 4 items, got 0");
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT || it.v.u > 2)
        return fail(err, errlen, "message type must be 0 (request) or 2 (notification)");
    m->type = (int)it.v.u;
    if (m->type == RPC_NOTIFY) {
        if (n != 3)
            return fail(err, errlen, "a notification must be [2, method, params], got %u items", n);
    } else {
        /* the msgid is read first, so that even a wrong shape is answered with it */
        start = r.p;
        if (n >= 2) {
            if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT || it.v.u > UINT32_MAX) {
                r.p = start;
                return fail(err, errlen, "msgid must be an unsigned 32-bit integer, got %s",
                            it.type == MPK_UINT ? "a larger integer" : peek_type(&r));
            }
            m->msgid.ptr = start;
            m->msgid.len = (size_t)(r.p - start);
        }
        if (n != 4)
            return fail(err, errlen, "a request must be [0, msgid, method, params], got %u items", n);
        if (m->type == RPC_RESPONSE)
            return fail(err, errlen, "the daemon takes requests and notifications, not responses");
    }
    if (rpc_read_name(&r, &m->method) != 0)
        return fail(err, errlen, "method must be a str or bin, got %s", peek_type(&r));
    if (m->method.len == 0)
        return fail(err, errlen, "method must not be empty");
    start = r.p;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY)
        return fail(err, errlen, "params must be an array, got %s",
                    peek_type(&(struct mpk_reader){start, buf + len}));
    r.p = start;
    m->nparams = it.v.n;
    if (read_raw(&r, &m->params, 1) != 0)
        return fail(err, errlen, "params: truncated");
    return r.p - buf;
}

int rpc_decode(const char *buf, size_t len, struct rpc_msg *m, char *err, size_t errlen)
{
    ssize_t n = decode_envelope(buf, len, m, err, errlen);

    if (n < 0)
        return -1;
    if ((size_t)n != len)
        return fail(err, errlen, "trailing bytes after the message");
    return 0;
}

ssize_t rpc_decode_prefix(const char *buf, size_t len, struct rpc_msg *m)
{
    char err[128];

    return decode_envelope(buf, len, m, err, sizeof err);
}

static int check_name(struct rpc_str s, const char *what, char *err, size_t errlen)
{
    if (s.len == 0)
        return fail(err, errlen, "%s must not be empty", what);
    if (s.len > RPC_NAME_MAX)
        return fail(err, errlen, "%s is longer than %d bytes", what, RPC_NAME_MAX);
    if (memchr(s.ptr, '\0', s.len) != NULL)
        return fail(err, errlen, "%s contains a NUL byte", what);
    return 0;
}

/* Reads opts: a map with "pool" (str) and "timeout" (number > 0), or nil. */
static int parse_opts(struct mpk_reader *r, struct rpc_call *c, char *err, size_t errlen)
{
    struct mpk_item it;
    struct rpc_str key, pool;
    char name[65];
    uint32_t i, n;

    if (mpk_read(r, &it) != 0)
        return fail(err, errlen, "opts: truncated");
    if (it.type == MPK_NIL || (it.type == MPK_ARRAY && it.v.n == 0))
        return 0; /* an empty array is an empty map (see rpc.h) */
    if (it.type != MPK_MAP)
        return fail(err, errlen, "opts must be a map or nil, got %s", mpk_type_name(it.type));
    n = it.v.n;
    for (i = 0; i < n; i++) {
        if (rpc_read_name(r, &key) != 0)
            return fail(err, errlen, "opts keys must be str, got %s", peek_type(r));
        if (rpc_str_eq(key, "pool")) {
            if (rpc_read_name(r, &pool) != 0)
                return fail(err, errlen, "opts.pool must be a str, got %s", peek_type(r));
            if (check_name(pool, "opts.pool", err, errlen) != 0)
                return -1;
            c->pool = pool;
        } else if (rpc_str_eq(key, "timeout")) {
            if (mpk_read(r, &it) != 0)
                return fail(err, errlen, "opts.timeout: truncated");
            if (it.type == MPK_NIL)
                continue;
            if (it.type == MPK_UINT)
                c->timeout = (double)it.v.u;
            else if (it.type == MPK_FLOAT)
                c->timeout = it.v.f;
            else
                return fail(err, errlen, "opts.timeout must be a number of seconds, got %s",
                            mpk_type_name(it.type));
            if (!(c->timeout > 0) || c->timeout > 1e7)
                return fail(err, errlen, "opts.timeout must be between 0 and 1e7 seconds");
        } else {
            return fail(err, errlen, "unknown option '%s' (known: pool, timeout)",
                        rpc_printable(key, name, sizeof name));
        }
    }
    return 0;
}

/* Checks that every item of a map's args_list is an array. */
static int check_args_list(struct rpc_raw list, char *err, size_t errlen)
{
    struct mpk_reader r;
    struct mpk_item it;
    uint32_t i, n;

    mpk_reader_init(&r, list.ptr, list.len);
    if (mpk_read(&r, &it) != 0)
        return fail(err, errlen, "args_list: truncated");
    n = it.v.n;
    for (i = 0; i < n; i++) {
        const char *start = r.p;

        if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY)
            return fail(err, errlen, "args_list[%u] must be an array of arguments, got %s", i,
                        peek_type(&(struct mpk_reader){start, list.ptr + list.len}));
        r.p = start;
        if (mpk_skip(&r) != 0)
            return fail(err, errlen, "args_list[%u]: truncated", i);
    }
    return 0;
}

int rpc_parse_call(const struct rpc_msg *m, enum rpc_call_kind kind, struct rpc_call *c,
                   char *err, size_t errlen)
{
    const char *what = kind == RPC_MAP ? "args_list" : "args";
    struct mpk_reader r;
    struct mpk_item it;
    const char *start;

    memset(c, 0, sizeof *c);
    if (m->nparams < 2 || m->nparams > 5)
        return fail(err, errlen, "params must be [module, function, %s, kwargs?, opts?], got %u items",
                    what, m->nparams);
    mpk_reader_init(&r, m->params.ptr, m->params.len);
    mpk_read(&r, &it);
    if (rpc_read_name(&r, &c->module) != 0)
        return fail(err, errlen, "module must be a str, got %s", peek_type(&r));
    if (check_name(c->module, "module", err, errlen) != 0)
        return -1;
    if (rpc_read_name(&r, &c->function) != 0)
        return fail(err, errlen, "function must be a str, got %s", peek_type(&r));
    if (check_name(c->function, "function", err, errlen) != 0)
        return -1;
    if (m->nparams >= 3) {
        start = r.p;
        if (mpk_read(&r, &it) != 0 || (it.type != MPK_ARRAY && it.type != MPK_NIL))
            return fail(err, errlen, "%s must be an array, got %s", what,
                        peek_type(&(struct mpk_reader){start, r.end}));
        if (it.type == MPK_ARRAY) {
            c->nargs = it.v.n;
            r.p = start;
            read_raw(&r, &c->args, 2);
        }
    }
    if (kind == RPC_MAP && c->args.ptr == NULL)
        return fail(err, errlen, "map needs an args_list array");
    if (kind == RPC_MAP && check_args_list(c->args, err, errlen) != 0)
        return -1;
    if (m->nparams >= 4) {
        start = r.p;
        if (mpk_read(&r, &it) != 0 ||
            (it.type != MPK_MAP && it.type != MPK_NIL && !(it.type == MPK_ARRAY && it.v.n == 0)))
            return fail(err, errlen, "kwargs must be a map or nil, got %s",
                        peek_type(&(struct mpk_reader){start, r.end}));
        if (it.type == MPK_MAP && it.v.n > 0) {
            r.p = start;
            read_raw(&r, &c->kwargs, 2);
        }
    }
    if (m->nparams == 5 && parse_opts(&r, c, err, errlen) != 0)
        return -1;
    return 0;
}

bool rpc_is_shorthand(struct rpc_str method)
{
    return memchr(method.ptr, '.', method.len) != NULL || memchr(method.ptr, ':', method.len) != NULL;
}

int rpc_parse_shorthand(const struct rpc_msg *m, struct rpc_call *c, char *err, size_t errlen)
{
    const char *s = m->method.ptr;
    const char *cut = memchr(s, ':', m->method.len);
    uint32_t i;

    memset(c, 0, sizeof *c);
    if (cut == NULL) {
        for (i = m->method.len; i > 0 && s[i - 1] != '.'; i--)
            ;
        cut = s + i - 1;
    }
    c->module = (struct rpc_str){s, (uint32_t)(cut - s)};
    c->function = (struct rpc_str){cut + 1, (uint32_t)(m->method.len - c->module.len - 1)};
    if (check_name(c->module, "module (before the last '.' or ':' of the method)", err, errlen) != 0 ||
        check_name(c->function, "function (after the last '.' or ':' of the method)", err, errlen) != 0)
        return -1;
    c->args = m->params;
    c->nargs = m->nparams;
    return 0;
}

void rpc_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void rpc_pack_response_head(msgpack_packer *pk, struct rpc_raw msgid)
{
    static const char head[2] = {(char)0x94, 0x01};

    pk->callback(pk->data, head, 2);
    if (msgid.ptr != NULL)
        pk->callback(pk->data, msgid.ptr, msgid.len);
    else
        msgpack_pack_nil(pk);
}

void rpc_pack_error_traceback(msgpack_packer *pk, const char *type, const char *message,
                              const char *traceback)
{
    msgpack_pack_map(pk, 3);
    rpc_pack_cstr(pk, "type");
    rpc_pack_cstr(pk, type);
    rpc_pack_cstr(pk, "message");
    rpc_pack_cstr(pk, message);
    rpc_pack_cstr(pk, "traceback");
    if (traceback != NULL)
        rpc_pack_cstr(pk, traceback);
    else
        msgpack_pack_nil(pk);
}

void rpc_pack_error(msgpack_packer *pk, const char *type, const char *message)
{
    rpc_pack_error_traceback(pk, type, message, NULL);
}

void rpc_pack_error_response(msgpack_packer *pk, struct rpc_raw msgid, const char *type,
                             const char *message)
{
    rpc_pack_response_head(pk, msgid);
    rpc_pack_error(pk, type, message);
    msgpack_pack_nil(pk);
}

/* The fields of a packed error map the other shapes carry. */
struct error_fields {
    struct rpc_str type, message, traceback; /* traceback.ptr NULL: nil */
    bool has_index;
    uint64_t index;
};

static int read_error_fields(const char *err, size_t len, struct error_fields *f)
{
    struct mpk_reader r;
    struct mpk_item it;
    struct rpc_str key, *field;
    uint32_t i, n;

    memset(f, 0, sizeof *f);
    mpk_reader_init(&r, err, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_MAP)
        return -1;
    n = it.v.n;
    for (i = 0; i < n; i++) {
        if (rpc_read_name(&r, &key) != 0)
            return -1;
        field = rpc_str_eq(key, "type") ? &f->type : rpc_str_eq(key, "message") ? &f->message
              : rpc_str_eq(key, "traceback") ? &f->traceback : NULL;
        if (field != NULL) {
            if (rpc_read_name(&r, field) == 0)
                continue;
            if (mpk_read(&r, &it) != 0 || it.type != MPK_NIL)
                return -1;
        } else if (rpc_str_eq(key, "index")) {
            if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
                return -1;
            f->has_index = true;
            f->index = it.v.u;
        } else if (mpk_skip(&r) != 0) {
            return -1;
        }
    }
    return f->type.ptr != NULL ? 0 : -1;
}

/* Where a map item's error came from, for the shapes without "index". */
static size_t index_note(const struct error_fields *f, char *buf, size_t len)
{
    if (!f->has_index)
        return 0;
    return (size_t)snprintf(buf, len, " (args_list item %llu)", (unsigned long long)f->index);
}

static void pack_body(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_str_body(pk, p, n);
}

void rpc_pack_error_shaped(msgpack_packer *pk, enum error_shape shape, const char *err, size_t len)
{
    struct error_fields f;
    char note[48];
    size_t n;

    if (shape == ERRORS_MAP || read_error_fields(err, len, &f) != 0) {
        pk->callback(pk->data, err, len);
        return;
    }
    n = index_note(&f, note, sizeof note);
    if (shape == ERRORS_ARRAY) {
        msgpack_pack_array(pk, 3);
        msgpack_pack_str(pk, f.type.len);
        pack_body(pk, f.type.ptr, f.type.len);
        msgpack_pack_str(pk, f.message.len + n);
        pack_body(pk, f.message.ptr, f.message.len);
        pack_body(pk, note, n);
        if (f.traceback.ptr != NULL) {
            msgpack_pack_str(pk, f.traceback.len);
            pack_body(pk, f.traceback.ptr, f.traceback.len);
        } else {
            msgpack_pack_nil(pk);
        }
        return;
    }
    /* "Type: message[ (args_list item N)][\ntraceback]" */
    msgpack_pack_str(pk, f.type.len + 2 + f.message.len + n +
                             (f.traceback.ptr != NULL ? 1 + f.traceback.len : 0));
    pack_body(pk, f.type.ptr, f.type.len);
    pack_body(pk, ": ", 2);
    pack_body(pk, f.message.ptr, f.message.len);
    pack_body(pk, note, n);
    if (f.traceback.ptr != NULL) {
        pack_body(pk, "\n", 1);
        pack_body(pk, f.traceback.ptr, f.traceback.len);
    }
}

int rpc_error_type(const char *err, size_t len, char *out, size_t outlen)
{
    struct error_fields f;

    if (read_error_fields(err, len, &f) != 0)
        return -1;
    rpc_printable(f.type, out, outlen);
    return 0;
}

static const char *const shape_names[] = {
    [ERRORS_MAP] = ERRORS_MAP_NAME,
    [ERRORS_STRING] = ERRORS_STRING_NAME,
    [ERRORS_ARRAY] = ERRORS_ARRAY_NAME,
};

int rpc_error_shape_parse(struct rpc_str s, enum error_shape *out)
{
    size_t i;

    for (i = 0; i < sizeof shape_names / sizeof shape_names[0]; i++) {
        if (rpc_str_eq(s, shape_names[i])) {
            *out = (enum error_shape)i;
            return 0;
        }
    }
    return -1;
}

const char *rpc_error_shape_name(enum error_shape shape)
{
    return shape_names[shape];
}
