/* client.h: libpyrpool, the C client of pyrpoold (proto/PROTOCOL.md).
 *
 * One pyrpool_client is one connection to the daemon. On it you can:
 *   - call a Python function and wait for its answer (pyrpool_call);
 *   - send many calls without waiting (pyrpool_cast, which returns a handle)
 *     and collect each answer later, in any order (pyrpool_await);
 *   - run map, eval/exec, cancel, and the admin and status methods;
 *   - drive it from your own event loop (pyrpool_fd, pyrpool_events,
 *     pyrpool_process, pyrpool_next_ready) instead of blocking;
 *   - batch the writes of many casts (pyrpool_cork) for throughput.
 *
 * Values: arguments and results are msgpack-c objects (msgpack.h, pkg-config
 * `msgpack`). Pass arguments as a `msgpack_object`, as a short format string
 * (pyrpool_castf, pyrpool_pack: "[d s {s:i}]"), or pack any request's params
 * yourself with a msgpack_packer (pyrpool_begin / pyrpool_end). A result is a
 * pyrpool_result that owns its memory: its msgpack_object stays valid until
 * pyrpool_result_free, also after the client is closed.
 *
 * Return values: every function that can fail returns 0 (PYRPOOL_OK) or a
 * negative pyrpool_code, and fills the pyrpool_error it was given (which may
 * be NULL when you do not want the details). A remote error (the daemon or
 * the Python code answered an error) is PYRPOOL_ERR_REMOTE; its type,
 * message, traceback and map index are in the pyrpool_error.
 *
 * Threads: the library has no global state and installs no signal handler
 * (writes use MSG_NOSIGNAL). Distinct clients are independent: use them from
 * any threads at once. One client, and the handles cast on it, must be used
 * by one thread at a time (guard it with a mutex if threads share it): every
 * function taking a pyrpool_client or a pyrpool_handle reads and writes its
 * state. Results, errors, pyrpool_pack and the pyrpool_obj_* helpers touch no
 * client: they are safe from any thread, a result also after pyrpool_close.
 *
 * Example (see clients/c/README.md):
 *
 *     pyrpool_client *cli; pyrpool_result *res; pyrpool_error err = PYRPOOL_ERROR_INIT;
 *     if (pyrpool_connect("unix:/run/pyrpoold/pyrpoold.sock", NULL, &cli, &err) == 0 &&
 *         pyrpool_callf(cli, "math", "sqrt", NULL, &res, &err, "[i]", 16) == 0)
 *         printf("%g\n", pyrpool_result_value(res)->via.f64);
 */
#ifndef PYRPOOL_CLIENT_H
#define PYRPOOL_CLIENT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PYRPOOL_API __attribute__((visibility("default")))
#else
#define PYRPOOL_API
#endif

#define PYRPOOL_CLIENT_VERSION "0.1.0"
/* The protocol version this library speaks (hello's "protocol"). */
#define PYRPOOL_PROTOCOL 1

/* ------------------------------------------------------------------ errors */

/* What a function returns: 0, or one of these (negative). */
enum pyrpool_code {
    PYRPOOL_OK = 0,
    PYRPOOL_ERR_CONNECTION = -1, /* cannot connect, or the connection broke (the daemon went
                                  * away, closed it, or a read/write failed): every call in
                                  * flight on it fails with this code; the client is unusable */
    PYRPOOL_ERR_TIMEOUT = -2,    /* this library's own wait ran out: connect_timeout_ms, an
                                  * await's timeout_ms, or pyrpool_call_opts.wait_ms. (The
                                  * daemon's "Timeout" answer to opts.timeout is a remote error.) */
    PYRPOOL_ERR_PROTOCOL = -3,   /* the daemon answered something this library cannot use: bytes
                                  * that are not a MessagePack-RPC response, an unknown protocol
                                  * version in hello, an answer nested deeper than msgpack-c
                                  * decodes (31 levels inside the envelope) */
    PYRPOOL_ERR_REMOTE = -4,     /* the daemon answered an error: see kind, type, message */
    PYRPOOL_ERR_USAGE = -5,      /* a bad argument from the caller (bad address, format string,
                                  * NULL where a value is needed) */
    PYRPOOL_ERR_NOMEM = -6,      /* out of memory */
};

/* The type of a remote error: one per error type the daemon itself sends
 * (proto/PROTOCOL.md, "Errors"), or PYRPOOL_KIND_PYTHON for any other type
 * (a Python exception class name). The kind is read from the type name only:
 * a Python exception whose class is named like a daemon type (say a
 * `Timeout` class of some library) has that daemon kind. */
enum pyrpool_error_kind {
    PYRPOOL_KIND_NONE = 0,   /* not a remote error */
    PYRPOOL_KIND_PYTHON,     /* a Python exception; type is its class's __name__ */
    PYRPOOL_KIND_BAD_REQUEST,
    PYRPOOL_KIND_NO_SUCH_METHOD,
    PYRPOOL_KIND_NO_SUCH_POOL,
    PYRPOOL_KIND_UNAUTHORIZED,
    PYRPOOL_KIND_FORBIDDEN,
    PYRPOOL_KIND_ENCODE_ERROR,
    PYRPOOL_KIND_TIMEOUT,
    PYRPOOL_KIND_CANCELLED,
    PYRPOOL_KIND_POOL_EXISTS,
    PYRPOOL_KIND_POOL_DEGRADED,
    PYRPOOL_KIND_QUARANTINED,
    PYRPOOL_KIND_OVERLOADED,
    PYRPOOL_KIND_WORKER_CRASHED,
    PYRPOOL_KIND_SHUTTING_DOWN,
    PYRPOOL_KIND_RELOAD_FAILED,   /* reload: the config or its executors refused */
    PYRPOOL_KIND_STATE_NOT_SAVED, /* an admin change the state_file cannot record: not made */
};

/* An error's details. Initialise it once with PYRPOOL_ERROR_INIT; a function
 * that fails frees what it held and fills it again (so one pyrpool_error can
 * serve a whole loop), a function that succeeds leaves it alone. Free its
 * strings with pyrpool_error_free. */
typedef struct pyrpool_error {
    int code;                     /* enum pyrpool_code; PYRPOOL_OK while unused */
    enum pyrpool_error_kind kind; /* for PYRPOOL_ERR_REMOTE, and for a connection the daemon
                                   * closed after saying why (e.g. Overloaded) */
    char *type;      /* the remote type ("ValueError", "NoSuchPool"), or NULL */
    char *message;   /* always set on failure: what went wrong, for people */
    char *traceback; /* the Python traceback, or NULL */
    int64_t index;   /* a failed map item's position in args_list, or -1 */
    int sys_errno;   /* the errno behind a connection failure, or 0 */
} pyrpool_error;

#define PYRPOOL_ERROR_INIT {PYRPOOL_OK, PYRPOOL_KIND_NONE, NULL, NULL, NULL, -1, 0}

/* Frees err's strings and resets it to PYRPOOL_ERROR_INIT. NULL is fine. */
PYRPOOL_API void pyrpool_error_free(pyrpool_error *err);

/* The name of a code ("connection failure", "timeout", ...), never NULL. */
PYRPOOL_API const char *pyrpool_strcode(int code);

/* The daemon's type name of a kind ("Timeout"), "" for NONE and PYTHON. */
PYRPOOL_API const char *pyrpool_kind_name(enum pyrpool_error_kind kind);

/* The kind a remote type name has (PYRPOOL_KIND_PYTHON for any other name). */
PYRPOOL_API enum pyrpool_error_kind pyrpool_kind_of(const char *type, size_t len);

/* ----------------------------------------------------------------- results */

/* A successful answer. It owns the memory of its value (one msgpack_zone). */
typedef struct pyrpool_result pyrpool_result;

/* The answer's value; valid until pyrpool_result_free(r). */
PYRPOOL_API const msgpack_object *pyrpool_result_value(const pyrpool_result *r);

/* Frees r and everything its value points to. NULL is fine. */
PYRPOOL_API void pyrpool_result_free(pyrpool_result *r);

/* ----------------------------------------------------------- connections */

typedef struct pyrpool_client pyrpool_client;

/* Connection settings; zero (or NULL for the whole struct) means default. */
typedef struct pyrpool_options {
    const char *token;          /* sent with `auth` before anything else (needed on TCP) */
    const char *token_file;     /* or: read the token from this file (its first line) */
    int connect_timeout_ms;     /* for connecting, auth and hello together;
                                 * 0: 10000, < 0: no limit */
    const char *client_name;    /* sent in hello; NULL: "libpyrpool" */
    const char *client_version; /* sent in hello; NULL: PYRPOOL_CLIENT_VERSION */
    size_t max_message_size;    /* the largest answer accepted (bytes); 0: 1 GiB. A larger
                                 * one breaks the connection (PYRPOOL_ERR_PROTOCOL) */
} pyrpool_options;

/* Connects to `address`, which is "unix:PATH" or "tcp:HOST:PORT" (HOST may
 * be a name, an IPv4 address or [an IPv6 address]); authenticates when a
 * token is given, then says hello (client name and version, error answers
 * as maps). Fails with PYRPOOL_ERR_PROTOCOL when the daemon's protocol is not
 * PYRPOOL_PROTOCOL, PYRPOOL_ERR_REMOTE (kind UNAUTHORIZED) for a wrong or a
 * missing token, PYRPOOL_ERR_CONNECTION when it cannot reach the daemon
 * (message names the address and the reason), PYRPOOL_ERR_TIMEOUT after
 * connect_timeout_ms (which does not bound the name lookup of a TCP HOST:
 * getaddrinfo has no timeout). On success *out is the client: close it with
 * pyrpool_close. */
PYRPOOL_API int pyrpool_connect(const char *address, const pyrpool_options *opts,
                                pyrpool_client **out, pyrpool_error *err);

/* Closes the connection and frees the client, every handle still cast on it
 * and their answers (results already returned stay valid). Calls in flight
 * are not cancelled, but the daemon drops their answers. NULL is fine. */
PYRPOOL_API void pyrpool_close(pyrpool_client *cli);

/* What hello answered: a map with "server", "version", "protocol",
 * "features", "pools", "errors", "admin" (proto/PROTOCOL.md, hello). Valid
 * until pyrpool_close. */
PYRPOOL_API const msgpack_object *pyrpool_hello(const pyrpool_client *cli);

/* hello's "admin": whether this connection may use the admin methods that
 * change the daemon (register_pool, start_pool, ...). */
PYRPOOL_API bool pyrpool_is_admin(const pyrpool_client *cli);

/* 0 while the connection works, else the code it broke with. */
PYRPOOL_API int pyrpool_broken(const pyrpool_client *cli);

/* ------------------------------------------------------- calling options */

/* Per-call options; NULL or all zero: none. */
typedef struct pyrpool_call_opts {
    const char *pool; /* opts.pool: run on this pool (NoSuchPool if there is none) */
    double timeout;   /* opts.timeout in seconds (> 0): the daemon answers Timeout (a remote
                       * error, kind PYRPOOL_KIND_TIMEOUT) when it passes; 0: none */
    int wait_ms;      /* blocking calls only: how long this library waits for the answer;
                       * then it cancels the call and returns PYRPOOL_ERR_TIMEOUT. 0: no
                       * limit (the daemon always answers, or the connection breaks) */
} pyrpool_call_opts;

/* --------------------------------------------------------- blocking calls */

/* Each sends one request and waits for its answer. On success *result
 * (if result is not NULL) is the answer, to free with pyrpool_result_free.
 * Any other answers that arrive meanwhile are kept for their own awaits. */

/* call: module.function(*args, **kwargs). args: an array or NULL (none);
 * kwargs: a map with str keys, or NULL. */
PYRPOOL_API int pyrpool_call(pyrpool_client *cli, const char *module, const char *function,
                             const msgpack_object *args, const msgpack_object *kwargs,
                             const pyrpool_call_opts *opts, pyrpool_result **result,
                             pyrpool_error *err);

/* The same with the arguments from a format string (see pyrpool_pack): its
 * first value is the args array, an optional second one the kwargs map:
 *     pyrpool_callf(cli, "json", "dumps", NULL, &res, &err, "[{s:i}] {s:b}", "b", 1, "sort_keys", 1)
 * Why a format string: building a msgpack_object tree in C takes a zone and a
 * dozen lines per array; most calls pass a few scalars. */
PYRPOOL_API int pyrpool_callf(pyrpool_client *cli, const char *module, const char *function,
                              const pyrpool_call_opts *opts, pyrpool_result **result,
                              pyrpool_error *err, const char *fmt, ...);

/* map: function(*args) for each array in args_list (an array of arrays), in
 * parallel on the pool, answered as one array in the order of args_list. A
 * failed item is a remote error whose index is its position. */
PYRPOOL_API int pyrpool_map(pyrpool_client *cli, const char *module, const char *function,
                            const msgpack_object *args_list, const msgpack_object *kwargs,
                            const pyrpool_call_opts *opts, pyrpool_result **result,
                            pyrpool_error *err);

/* eval: the value of a Python expression (locals: a map or NULL); exec:
 * run statements (answers nil). Both are Forbidden unless the daemon's
 * config sets python.allow_eval. */
PYRPOOL_API int pyrpool_eval(pyrpool_client *cli, const char *expr, const msgpack_object *locals,
                             pyrpool_result **result, pyrpool_error *err);
PYRPOOL_API int pyrpool_exec(pyrpool_client *cli, const char *code, pyrpool_error *err);

/* Any method by name with params (an array; NULL: []), e.g. "math.sqrt"
 * (the shorthand) or a method newer than this library. wait_ms as in
 * pyrpool_call_opts (0: no limit). */
PYRPOOL_API int pyrpool_request(pyrpool_client *cli, const char *method, const msgpack_object *params,
                                int wait_ms, pyrpool_result **result, pyrpool_error *err);

/* ----------------------------------------------------- pipelined calls */

/* A request sent and not yet awaited. It belongs to its client. */
typedef struct pyrpool_handle pyrpool_handle;

/* Like pyrpool_call and pyrpool_callf, but return at once with a handle to
 * await. The request is written before they return as far as the socket
 * takes it (the rest by the next function that waits on or processes this
 * client), unless the client is corked (pyrpool_cork). Any number
 * may be in flight (the daemon reads at most limits.max_inflight at a time
 * and this library buffers the rest). */
PYRPOOL_API int pyrpool_cast(pyrpool_client *cli, const char *module, const char *function,
                             const msgpack_object *args, const msgpack_object *kwargs,
                             const pyrpool_call_opts *opts, pyrpool_handle **handle,
                             pyrpool_error *err);
PYRPOOL_API int pyrpool_castf(pyrpool_client *cli, const char *module, const char *function,
                              const pyrpool_call_opts *opts, pyrpool_handle **handle,
                              pyrpool_error *err, const char *fmt, ...);
PYRPOOL_API int pyrpool_vcastf(pyrpool_client *cli, const char *module, const char *function,
                               const pyrpool_call_opts *opts, pyrpool_handle **handle,
                               pyrpool_error *err, const char *fmt, va_list ap);
PYRPOOL_API int pyrpool_cast_map(pyrpool_client *cli, const char *module, const char *function,
                                 const msgpack_object *args_list, const msgpack_object *kwargs,
                                 const pyrpool_call_opts *opts, pyrpool_handle **handle,
                                 pyrpool_error *err);
PYRPOOL_API int pyrpool_cast_request(pyrpool_client *cli, const char *method,
                                     const msgpack_object *params, pyrpool_handle **handle,
                                     pyrpool_error *err);

/* Any request with params packed by you, straight into the send buffer:
 *     msgpack_packer *pk = pyrpool_begin(cli, "call", &err);
 *     msgpack_pack_array(pk, 3); ...pack module, function, args...
 *     pyrpool_end(cli, &handle, &err);
 * Pack exactly one object, the params array (this library does not check
 * it; the daemon answers BadRequest when it is not an array). pyrpool_begin
 * returns NULL (err filled) when the connection is broken. Nothing else may
 * be called on cli between pyrpool_begin and pyrpool_end or pyrpool_abort,
 * which drops what was packed. */
PYRPOOL_API msgpack_packer *pyrpool_begin(pyrpool_client *cli, const char *method, pyrpool_error *err);
PYRPOOL_API int pyrpool_end(pyrpool_client *cli, pyrpool_handle **handle, pyrpool_error *err);
PYRPOOL_API void pyrpool_abort(pyrpool_client *cli);

/* Waits up to timeout_ms (< 0: no limit, 0: do not wait) for h's answer.
 * On PYRPOOL_ERR_TIMEOUT h stays valid: await it again, cancel or discard
 * it. On any other return h is finished and freed: 0 with *result (if
 * result is not NULL; else the value is freed), PYRPOOL_ERR_REMOTE for an
 * error answer, PYRPOOL_ERR_CONNECTION when the connection broke before the
 * answer came (never a hang: a daemon that goes away fails every await at
 * once). Answers to other handles that arrive meanwhile are kept for them. */
PYRPOOL_API int pyrpool_await(pyrpool_handle *h, int timeout_ms, pyrpool_result **result,
                              pyrpool_error *err);

/* Corks (on) or uncorks the client. Corked, a cast is only packed into the
 * send buffer, which is written when the client next waits (an await that
 * has to wait, a blocking call), processes (pyrpool_process), is uncorked,
 * or holds 64 KiB. Many requests then go in one write, and the daemon reads
 * them in one read: with 64 calls in flight this more than doubles the
 * calls per second of a small call (bench/client_c.c). The cost: a cast
 * waits in the buffer while you do other work; uncork (or process) to send
 * it. Not corked (the default), each cast is written at once. */
PYRPOOL_API int pyrpool_cork(pyrpool_client *cli, bool on, pyrpool_error *err);

/* Asks the daemon to stop h's call (the `cancel` notification). Await h as
 * usual: it answers Cancelled (a remote error, kind PYRPOOL_KIND_CANCELLED),
 * or its result if it had finished first. Does nothing for a handle already
 * answered. */
PYRPOOL_API int pyrpool_cancel(pyrpool_handle *h, pyrpool_error *err);

/* Forgets h: its answer is dropped when it comes (the call is not
 * cancelled: pyrpool_cancel first for that). h is invalid afterwards. */
PYRPOOL_API void pyrpool_discard(pyrpool_handle *h);

/* Whether h's answer (or its failure) is in, so that await will not wait. */
PYRPOOL_API bool pyrpool_done(const pyrpool_handle *h);

/* The msgid of h's request (for logs). */
PYRPOOL_API uint32_t pyrpool_msgid(const pyrpool_handle *h);

/* A pointer of yours carried by the handle (NULL until set). */
PYRPOOL_API void pyrpool_set_data(pyrpool_handle *h, void *data);
PYRPOOL_API void *pyrpool_data(const pyrpool_handle *h);

/* ------------------------------------------------ event-loop integration */

/* The socket. Watch it in your loop (epoll, libuv's uv_poll_t, ...) for the
 * events pyrpool_events asks for, and call pyrpool_process when it is
 * ready. Do not read, write or close it yourself. */
PYRPOOL_API int pyrpool_fd(const pyrpool_client *cli);

/* POLLIN, plus POLLOUT while requests are waiting to be written (those a
 * full socket did not take, or a corked client holds). */
PYRPOOL_API int pyrpool_events(const pyrpool_client *cli);

/* Never blocks: writes what the socket takes, reads what it holds and
 * files each answer with its handle. Returns the number of answers that came
 * in (>= 0), or a negative code when the connection broke (then every handle
 * still waiting is done, with that failure; stop watching the fd). */
PYRPOOL_API int pyrpool_process(pyrpool_client *cli, pyrpool_error *err);

/* The handle whose answer came in first among those not yet awaited or
 * discarded, or NULL. Await (with timeout 0) or discard it, else the next
 * call returns it again. */
PYRPOOL_API pyrpool_handle *pyrpool_next_ready(pyrpool_client *cli);

/* ------------------------------------------------------- admin and status */

/* Each is one blocking request (proto/PROTOCOL.md, "Routing administration",
 * "Pool status"). `function` may be NULL (the registration covers the whole
 * module). Results given as a pyrpool_result are the daemon's answer as is.
 * The methods that change the daemon answer Forbidden on a listener without
 * admin (see pyrpool_is_admin), and StateNotSaved when the daemon's
 * state_file cannot record the change (which is then not made). */
PYRPOOL_API int pyrpool_ping(pyrpool_client *cli, pyrpool_error *err);
/* What SIGHUP does: the config read again, a new generation of executors;
 * returns once it serves, or fails with ReloadFailed (the running config
 * stays). */
PYRPOOL_API int pyrpool_reload(pyrpool_client *cli, pyrpool_error *err);
PYRPOOL_API int pyrpool_register_pool(pyrpool_client *cli, const char *pool, const char *module,
                                      const char *function, pyrpool_error *err);
/* *removed (if not NULL): whether a registration was there. */
PYRPOOL_API int pyrpool_unregister_pool(pyrpool_client *cli, const char *module, const char *function,
                                        bool *removed, pyrpool_error *err);
/* *pool: the pool name a call would use, to free(). */
PYRPOOL_API int pyrpool_lookup_pool(pyrpool_client *cli, const char *module, const char *function,
                                    char **pool, pyrpool_error *err);
/* [{"module", "function" (str or nil), "pool", "source" ("config" or "runtime")}, ...] */
PYRPOOL_API int pyrpool_list_pool_registrations(pyrpool_client *cli, pyrpool_result **result,
                                                pyrpool_error *err);
/* [{"name", "mode", "size", "busy", "idle", "starting", "queued", "completed", "failed",
 *   "restarts", "degraded", "quarantined"}, ...] in config order */
PYRPOOL_API int pyrpool_pools(pyrpool_client *cli, pyrpool_result **result, pyrpool_error *err);
/* mode: "process" (NULL) or "thread". *pids (if not NULL): the new executors' pids. */
PYRPOOL_API int pyrpool_start_pool(pyrpool_client *cli, const char *name, int size, const char *mode,
                                   pyrpool_result **pids, pyrpool_error *err);
PYRPOOL_API int pyrpool_stop_pool(pyrpool_client *cli, const char *name, pyrpool_error *err);
PYRPOOL_API int pyrpool_resize_pool(pyrpool_client *cli, const char *name, int size, pyrpool_error *err);
PYRPOOL_API int pyrpool_pool_started(pyrpool_client *cli, const char *name, bool *started,
                                     pyrpool_error *err);
PYRPOOL_API int pyrpool_num_contexts(pyrpool_client *cli, const char *name, int64_t *n,
                                     pyrpool_error *err);
/* The pids of the pool's executor processes that exist now (one being
 * started has none yet and is left out). */
PYRPOOL_API int pyrpool_contexts(pyrpool_client *cli, const char *name, pyrpool_result **pids,
                                 pyrpool_error *err);
/* *pid: the pid the next call would most likely run on (right after a start
 * the daemon answers once an executor has a process). */
PYRPOOL_API int pyrpool_get_context(pyrpool_client *cli, const char *name, int64_t *pid,
                                    pyrpool_error *err);

/* ------------------------------------------------------------ value helpers */

/* Packs the values a format string describes, taking them from the
 * arguments in order. Letters (spaces, commas and colons between them are
 * ignored):
 *   n nil            b bool (int)        i int             I int64_t
 *   u unsigned int   U uint64_t          d double (also a float, promoted)
 *   s str (const char *, NUL-terminated; NULL packs nil)
 *   s# str (const char *, size_t length)   y# bin (const void *, size_t length)
 *   o a const msgpack_object * (NULL packs nil)
 *   [ ... ] an array of the values inside   { k v ... } a map (pairs of values)
 * e.g. "[d s {s:i}]" packs [1.5, "x", {"k": 2}]. The format is checked whole
 * before anything is packed. Returns 0, PYRPOOL_ERR_USAGE (nothing packed)
 * when the format is malformed, or PYRPOOL_ERR_NOMEM when the packer's
 * writer failed (what it wrote before stays: cut the buffer yourself). */
PYRPOOL_API int pyrpool_pack(msgpack_packer *pk, const char *fmt, ...);
PYRPOOL_API int pyrpool_vpack(msgpack_packer *pk, const char *fmt, va_list ap);

/* The number of values fmt describes at its top level, or -1 if malformed. */
PYRPOOL_API int pyrpool_fmt_count(const char *fmt);

/* The value of key (a str key) in map, or NULL (also when map is not a map). */
PYRPOOL_API const msgpack_object *pyrpool_obj_get(const msgpack_object *map, const char *key);

/* Reads a number: any integer that fits / any int or float. False if not one. */
PYRPOOL_API bool pyrpool_obj_int(const msgpack_object *o, int64_t *v);
PYRPOOL_API bool pyrpool_obj_double(const msgpack_object *o, double *v);

/* Whether o is a str (or bin) equal to s. */
PYRPOOL_API bool pyrpool_obj_is(const msgpack_object *o, const char *s);

/* A NUL-terminated copy of a str or bin (to free()), or NULL if o is not one. */
PYRPOOL_API char *pyrpool_obj_strdup(const msgpack_object *o);

#ifdef __cplusplus
}
#endif

#endif
