/* rpc: the MessagePack-RPC envelope, decoded without copying.
 *
 * rpc_decode reads [type, msgid, method, params] from one complete message and
 * points into it; rpc_parse_call reads the params of "call"/"map" and the
 * shorthand form. Argument bytes are never decoded here: they are located and
 * relayed as they arrived. The response helpers pack answers with msgpack-c. */
#ifndef PYRPOOL_RPC_H
#define PYRPOOL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "mpk.h"
#include "protocol.h"

#define RPC_REQUEST 0
#define RPC_RESPONSE 1
#define RPC_NOTIFY 2

/* Longest module or function name accepted. */
#define RPC_NAME_MAX 255
/* Longest msgid encoding: a uint32 value may come in any int format, up to
 * the 9 bytes of a uint64 or int64; it is echoed in the same format. */
#define RPC_MSGID_MAX 9

struct rpc_str {
    const char *ptr;
    uint32_t len;
};

/* One object's bytes as received; ptr is NULL when absent. */
struct rpc_raw {
    const char *ptr;
    size_t len;
};

struct rpc_msg {
    int type;
    struct rpc_raw msgid;  /* the msgid's own bytes; ptr NULL if it was unusable */
    struct rpc_str method;
    struct rpc_raw params; /* the params array */
    uint32_t nparams;
};

/* Decodes the envelope of one complete message (buf, len). Returns 0, or -1
 * with a message in err when the shape is wrong; m->msgid is set whenever a
 * valid uint32 msgid was found, so the caller can still answer. */
int rpc_decode(const char *buf, size_t len, struct rpc_msg *m, char *err, size_t errlen);

/* The fast way in: decodes the envelope of the message at the start of buf,
 * which may hold less than the message or more. Returns the message's length
 * when it is whole and well formed, else -1; the caller then frames the
 * message with the resumable scanner and rpc_decode says what is wrong. */
ssize_t rpc_decode_prefix(const char *buf, size_t len, struct rpc_msg *m);

enum rpc_call_kind { RPC_CALL, RPC_MAP };

struct rpc_call {
    struct rpc_str module;
    struct rpc_str function;
    struct rpc_raw args;   /* call: the positional args array; map: the list of them */
    uint32_t nargs;        /* items in args */
    struct rpc_raw kwargs; /* a map, or ptr NULL */
    struct rpc_str pool;   /* opts.pool; len 0 when not given */
    double timeout;        /* opts.timeout in seconds; 0 when not given */
};

/* Reads the params of "call" or "map": [module, function, args, kwargs?, opts?].
 * An empty array stands for an empty map in kwargs and opts (clients such as
 * PHP's encode an empty map so).
 * Returns 0 or -1 with err set. */
int rpc_parse_call(const struct rpc_msg *m, enum rpc_call_kind kind, struct rpc_call *c,
                   char *err, size_t errlen);

/* True when the method name is a shorthand call ("math.sqrt", "os.path:join"). */
bool rpc_is_shorthand(struct rpc_str method);

/* Reads a shorthand request: the method splits at ':' if it has one, else at
 * the last '.'; params are the positional args. Returns 0 or -1 with err set. */
int rpc_parse_shorthand(const struct rpc_msg *m, struct rpc_call *c, char *err, size_t errlen);

/* Reads one str or bin item (names may arrive as either). Returns 0, or -1 if
 * the item is another type or the data ends. */
static inline int rpc_read_name(struct mpk_reader *r, struct rpc_str *s)
{
    struct mpk_reader save = *r;
    struct mpk_item it;

    if (mpk_read(r, &it) != 0)
        return -1;
    if (it.type != MPK_STR && it.type != MPK_BIN) {
        *r = save;
        return -1;
    }
    s->ptr = it.v.s.ptr;
    s->len = it.v.s.len;
    return 0;
}

/* Copies s into out (NUL-terminated, cut to outlen - 1 bytes) for an error
 * message: bytes outside printable ASCII become '?', so the message is
 * valid UTF-8 whatever the client sent. Returns out. */
const char *rpc_printable(struct rpc_str s, char *out, size_t outlen);

/* The value of a msgid that rpc_decode accepted. */
uint32_t rpc_msgid_value(struct rpc_raw msgid);

/* True when s equals the NUL-terminated lit. */
static inline bool rpc_str_eq(struct rpc_str s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* Packs [1, msgid, and leaves the error and result to the caller. A NULL msgid
 * packs nil (a request whose msgid could not be read). */
void rpc_pack_response_head(msgpack_packer *pk, struct rpc_raw msgid);

/* Packs the daemon's own error map {"type", "message", "traceback": nil}. */
void rpc_pack_error(msgpack_packer *pk, const char *type, const char *message);

/* The same with a traceback text (NULL packs nil). */
void rpc_pack_error_traceback(msgpack_packer *pk, const char *type, const char *message,
                              const char *traceback);

/* Packs a whole error response: [1, msgid, {type, message, traceback}, nil]. */
void rpc_pack_error_response(msgpack_packer *pk, struct rpc_raw msgid, const char *type,
                             const char *message);

/* Packs the error map err (len bytes: {"type", "message", "traceback"}, plus
 * "index" for a map item, as the daemon and its executors pack errors) in
 * the connection's shape: the map as it is; "Type: message", then a newline
 * and the traceback when there is one; or [type, message, traceback]. The
 * other shapes tell a map item's index in the message. A value that is not
 * such a map is packed as it is. */
void rpc_pack_error_shaped(msgpack_packer *pk, enum error_shape shape, const char *err, size_t len);

/* The "type" of the packed error map err into out (cut to outlen - 1):
 * 0, or -1 when err is not such a map. */
int rpc_error_type(const char *err, size_t len, char *out, size_t outlen);

/* The shape named s (map, string, array): 0, or -1 for another name. */
int rpc_error_shape_parse(struct rpc_str s, enum error_shape *out);

/* The name of shape (map, string, array). */
const char *rpc_error_shape_name(enum error_shape shape);

/* Packs a str from a NUL-terminated string. */
void rpc_pack_cstr(msgpack_packer *pk, const char *s);

#endif
