/* client: one connection to the daemon and the calls in flight on it.
 *
 * DESIGN. The socket is non-blocking. Requests are packed straight into the
 * send buffer (wire_out) and written at once as far as the socket takes
 * them; what it does not take is written by whichever function next waits
 * or processes, so a full socket never blocks a cast, and a client that
 * casts far ahead of the daemon's max_inflight cannot deadlock (it keeps
 * reading answers while it writes). Every request gets a handle, filed by
 * msgid in the table until its answer comes. Answers come in completion
 * order: each is decoded into a zone of its own and filed with its handle,
 * which moves to the ready queue (arrival order), whoever was waiting. An
 * await therefore never loses another cast's answer, and pyrpool_next_ready
 * serves event loops.
 *
 * When the connection breaks (EOF, a read or write error, bytes that are
 * not MessagePack-RPC) every handle still waiting becomes done at once with
 * that failure, so no await can hang on a daemon that went away. The fd
 * stays open until pyrpool_close so that an event loop watching it never
 * sees it reused under it. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dial.h"
#include "errors.h"
#include "hello.h"
#include "protocol.h"
#include "table.h"
#include "value.h"
#include "wire.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_MESSAGE ((size_t)1 << 30)
#define CORK_LIMIT 65536 /* bytes a corked client buffers before it writes anyway */
#define MAX_SPARE 256    /* handles kept for reuse: a window of casts allocates nothing */

struct pyrpool_handle {
    pyrpool_client *cli;
    uint32_t msgid;
    bool done;                  /* answered, or failed without an answer */
    bool discarded;             /* nobody will await it: free it when done */
    msgpack_zone *zone;         /* the answer's (NULL when failed) */
    struct wire_response resp;  /* the answer, pointing into zone */
    pyrpool_error fail;         /* why it failed without an answer */
    pyrpool_handle *prev, *next; /* in the ready queue while done */
    void *data;
};

struct pyrpool_client {
    int fd;
    pyrpool_handle *spare;   /* freed handles kept for reuse (linked by next) */
    unsigned nspare;
    int broken;              /* 0, or the code the connection broke with */
    pyrpool_error cause;     /* why it broke */
    pyrpool_error closing;   /* an answer with a nil msgid: the daemon's reason to close */
    struct wire_out out;
    msgpack_packer pk;
    bool packing;            /* between pyrpool_begin and pyrpool_end */
    bool corked;             /* pyrpool_cork: casts only buffer */
    size_t begin_off;        /* out.len - out.head at pyrpool_begin (the buffer may
                              * move its bytes to the front while packing) */
    uint32_t begin_msgid;
    uint32_t next_msgid;
    struct wire_in in;
    struct table calls;      /* msgid -> handle, until answered */
    pyrpool_handle *ready_head, *ready_tail;
    pyrpool_result *hello;
    bool admin;
};

/* ------------------------------------------------------------ handles */

static void ready_push(pyrpool_client *cli, pyrpool_handle *h)
{
    h->next = NULL;
    h->prev = cli->ready_tail;
    if (cli->ready_tail != NULL)
        cli->ready_tail->next = h;
    else
        cli->ready_head = h;
    cli->ready_tail = h;
}

static void ready_remove(pyrpool_client *cli, pyrpool_handle *h)
{
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        cli->ready_head = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    else
        cli->ready_tail = h->prev;
    h->prev = h->next = NULL;
}

static void handle_free(pyrpool_handle *h)
{
    pyrpool_client *cli = h->cli;

    if (h->zone != NULL)
        msgpack_zone_free(h->zone);
    pyrpool_error_free(&h->fail);
    if (cli != NULL && cli->nspare < MAX_SPARE) {
        h->next = cli->spare;
        cli->spare = h;
        cli->nspare++;
    } else {
        free(h);
    }
}

/* A zeroed handle: a spare one, or a new one. */
static pyrpool_handle *handle_new(pyrpool_client *cli)
{
    pyrpool_handle *h = cli->spare;

    if (h == NULL)
        return calloc(1, sizeof(*h));
    cli->spare = h->next;
    cli->nspare--;
    memset(h, 0, sizeof(*h));
    return h;
}

/* h is done: queue it for its await, or free it if it was discarded. */
static void handle_done(pyrpool_client *cli, pyrpool_handle *h)
{
    h->done = true;
    if (h->discarded)
        handle_free(h);
    else
        ready_push(cli, h);
}

/* ------------------------------------------------------------ breaking */

static void fail_waiting(void *val, void *arg)
{
    pyrpool_handle *h = val;
    pyrpool_client *cli = arg;

    errors_copy(&h->fail, &cli->cause);
    handle_done(cli, h);
}

/* The connection is unusable from now on: records why (merged with what
 * the daemon said before closing, if it did) and fails every call still
 * waiting. Returns code. */
static int client_break(pyrpool_client *cli, int code, int sys_errno, const char *what)
{
    char *msg = NULL;

    if (cli->broken != 0)
        return cli->broken;
    cli->broken = code;
    if (cli->closing.code != PYRPOOL_OK) {
        /* the kind and type of what the daemon said, and both texts */
        errors_copy(&cli->cause, &cli->closing);
        if (asprintf(&msg, "%s, after the daemon said %s: %s", what,
                     cli->closing.type != NULL ? cli->closing.type : "", cli->closing.message) >= 0) {
            free(cli->cause.message);
            cli->cause.message = msg;
        }
        cli->cause.code = code;
        cli->cause.sys_errno = sys_errno;
    } else {
        errors_set(&cli->cause, code, sys_errno, "%s", what);
    }
    table_each(&cli->calls, fail_waiting, cli);
    table_free(&cli->calls);
    return code;
}

/* ------------------------------------------------------------ reading */

/* Files one answer with its handle. Returns 1 for an answer to a call, 0
 * for one to nobody (a nil msgid, a discarded or unknown msgid), or a
 * negative code when the connection broke over it. */
static int client_dispatch(pyrpool_client *cli, const char *bytes, size_t len)
{
    pyrpool_error e = PYRPOOL_ERROR_INIT;
    const msgpack_object *msg;
    struct wire_response r;
    msgpack_zone *zone;
    pyrpool_handle *h;
    uint32_t msgid;
    int rc;

    rc = wire_unpack(bytes, len, &zone, &msg, &e);
    if (rc == PYRPOOL_ERR_PROTOCOL && wire_peek_msgid(bytes, len, &msgid) == 0) {
        /* a response, legal but too deep for msgpack-c: only its call fails */
        h = table_del(&cli->calls, msgid);
        rc = h != NULL && !h->discarded;
        if (h != NULL) {
            errors_copy(&h->fail, &e);
            handle_done(cli, h);
        }
        pyrpool_error_free(&e);
        return rc;
    }
    if (rc == 0) {
        rc = wire_response(msg, &r, &e);
        if (rc != 0)
            msgpack_zone_free(zone);
    }
    if (rc != 0) {
        rc = client_break(cli, rc, 0, e.message);
        pyrpool_error_free(&e);
        return rc;
    }
    if (!r.has_msgid) {
        if (r.error != NULL)
            errors_remote(&cli->closing, r.error);
        msgpack_zone_free(zone);
        return 0;
    }
    h = table_del(&cli->calls, r.msgid);
    if (h == NULL) {
        msgpack_zone_free(zone);
        return 0;
    }
    h->zone = zone;
    h->resp = r;
    rc = h->discarded ? 0 : 1;
    handle_done(cli, h);
    return rc;
}

/* Reads and dispatches what the socket holds, without blocking, until a
 * read comes back short (the socket is empty: no read for an EAGAIN). Returns
 * the number of answers filed, or a negative code if the connection broke. */
static int client_read(pyrpool_client *cli)
{
    const char *msg;
    ssize_t n, len;
    int answers = 0, rc;
    bool drained;
    char what[160];

    if (cli->broken != 0)
        return cli->broken;
    for (drained = false; !drained;) {
        n = wire_in_read(&cli->in, cli->fd, &drained);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return answers;
        if (n == 0)
            return client_break(cli, PYRPOOL_ERR_CONNECTION, 0, "the daemon closed the connection");
        if (n < 0) {
            snprintf(what, sizeof(what), "reading from the daemon: %s", strerror(errno));
            return client_break(cli, errno == ENOMEM ? PYRPOOL_ERR_NOMEM : PYRPOOL_ERR_CONNECTION, errno, what);
        }
        while ((len = wire_in_next(&cli->in, &msg)) > 0) {
            rc = client_dispatch(cli, msg, (size_t)len);
            if (rc < 0)
                return rc;
            answers += rc;
        }
        if (len < 0) {
            snprintf(what, sizeof(what), "the daemon sent bytes that are not MessagePack: %s",
                     mpk_strerror((int)len));
            return client_break(cli, PYRPOOL_ERR_PROTOCOL, 0, what);
        }
    }
    return answers;
}

/* ------------------------------------------------------------ writing */

/* Writes what the socket takes, without blocking. Returns 0 (some may be
 * left) or a negative code if the connection broke. */
static int client_flush(pyrpool_client *cli)
{
    struct wire_out *o = &cli->out;
    ssize_t n;
    int e;
    char what[160];

    if (cli->broken != 0)
        return cli->broken;
    while (o->head < o->len) {
        n = send(cli->fd, o->data + o->head, o->len - o->head, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            o->head += (size_t)n;
            continue;
        }
        e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return 0;
        /* The answers the daemon sent before it went are still readable. */
        client_read(cli);
        snprintf(what, sizeof(what), "writing to the daemon: %s", strerror(e));
        return client_break(cli, PYRPOOL_ERR_CONNECTION, e, what);
    }
    if (!cli->packing)
        o->head = o->len = 0;
    return 0;
}

/* Waits until h is done or timeout_ms passes (< 0: no limit), writing
 * and reading meanwhile. Returns 0 (h is done: answered, or failed with the
 * connection) or PYRPOOL_ERR_TIMEOUT. */
static int client_wait(pyrpool_client *cli, pyrpool_handle *h, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : dial_now_ms() + timeout_ms;
    struct pollfd p;
    int rc;

    for (;;) {
        client_flush(cli);
        if (h->done)
            return 0;
        p.fd = cli->fd;
        p.events = (short)(POLLIN | (cli->out.head < cli->out.len ? POLLOUT : 0));
        p.revents = 0;
        rc = poll(&p, 1, dial_left_ms(deadline));
        if (rc < 0 && errno != EINTR)
            client_break(cli, PYRPOOL_ERR_CONNECTION, errno, "poll failed");
        else if (rc == 0)
            return PYRPOOL_ERR_TIMEOUT;
        else if (rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            client_read(cli);
        else if (rc > 0 && (p.revents & POLLNVAL))
            client_break(cli, PYRPOOL_ERR_CONNECTION, EBADF, "the socket was closed under the client");
    }
}

/* ------------------------------------------------------------ requests */

/* The code pyrpool_begin failed with (it filled err). */
static int begin_failure(const pyrpool_client *cli, const char *method)
{
    if (cli == NULL || method == NULL)
        return PYRPOOL_ERR_USAGE;
    return cli->broken != 0 ? cli->broken : PYRPOOL_ERR_NOMEM;
}

msgpack_packer *pyrpool_begin(pyrpool_client *cli, const char *method, pyrpool_error *err)
{
    if (cli == NULL || method == NULL) {
        errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_begin: no client or no method");
        return NULL;
    }
    if (cli->broken != 0) {
        errors_copy(err, &cli->cause);
        return NULL;
    }
    do
        cli->begin_msgid = cli->next_msgid++;
    while (table_get(&cli->calls, cli->begin_msgid) != NULL);
    cli->packing = true;
    cli->begin_off = cli->out.len - cli->out.head;
    cli->out.failed = false;
    if (wire_pack_request_head(&cli->pk, cli->begin_msgid, method) != 0) {
        pyrpool_abort(cli);
        errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory for a request");
        return NULL;
    }
    return &cli->pk;
}

void pyrpool_abort(pyrpool_client *cli)
{
    if (cli == NULL || !cli->packing)
        return;
    cli->out.len = cli->out.head + cli->begin_off;
    cli->out.failed = false;
    cli->packing = false;
}

int pyrpool_end(pyrpool_client *cli, pyrpool_handle **handle, pyrpool_error *err)
{
    pyrpool_handle *h;

    if (cli == NULL || !cli->packing)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_end without pyrpool_begin");
    h = cli->out.failed ? NULL : handle_new(cli);
    if (h == NULL || table_put(&cli->calls, cli->begin_msgid, h) != 0) {
        free(h);
        pyrpool_abort(cli);
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory for a request");
    }
    h->cli = cli;
    h->msgid = cli->begin_msgid;
    h->fail = (pyrpool_error)PYRPOOL_ERROR_INIT;
    h->discarded = handle == NULL;
    if (handle != NULL)
        *handle = h;
    cli->packing = false;
    if (!cli->corked || cli->out.len - cli->out.head >= CORK_LIMIT)
        client_flush(cli);  /* a failure is the handle's now (client_break) */
    return 0;
}

int pyrpool_cast_request(pyrpool_client *cli, const char *method, const msgpack_object *params,
                         pyrpool_handle **handle, pyrpool_error *err)
{
    msgpack_packer *pk = pyrpool_begin(cli, method, err);

    if (pk == NULL)
        return begin_failure(cli, method);
    if ((params != NULL ? msgpack_pack_object(pk, *params) : msgpack_pack_array(pk, 0)) != 0) {
        pyrpool_abort(cli);
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory for a request");
    }
    return pyrpool_end(cli, handle, err);
}

/* ------------------------------------------------------------ awaiting */

/* h's outcome to the caller; frees h. */
static int handle_finish(pyrpool_handle *h, pyrpool_result **result, pyrpool_error *err)
{
    pyrpool_client *cli = h->cli;
    int rc;

    ready_remove(cli, h);
    if (h->zone == NULL) {
        rc = errors_copy(err, &h->fail);
    } else {
        rc = wire_outcome(&h->resp, err);
        if (rc == 0 && result != NULL) {
            *result = value_result(h->zone, h->resp.result);
            if (*result == NULL)
                rc = errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory for a result");
            else
                h->zone = NULL; /* the result owns it now */
        }
    }
    handle_free(h);
    return rc;
}

int pyrpool_await(pyrpool_handle *h, int timeout_ms, pyrpool_result **result, pyrpool_error *err)
{
    if (h == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_await: no handle");
    if (!h->done && client_wait(h->cli, h, timeout_ms) == PYRPOOL_ERR_TIMEOUT)
        return errors_set(err, PYRPOOL_ERR_TIMEOUT, 0, "no answer to msgid %u within %d ms", h->msgid, timeout_ms);
    return handle_finish(h, result, err);
}

int pyrpool_cancel(pyrpool_handle *h, pyrpool_error *err)
{
    pyrpool_client *cli;
    size_t pending;

    if (h == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_cancel: no handle");
    cli = h->cli;
    if (h->done)
        return 0;
    if (cli->broken != 0)
        return errors_copy(err, &cli->cause);
    pending = cli->out.len - cli->out.head; /* the buffer may move its bytes to the front */
    if (wire_pack_cancel(&cli->pk, h->msgid) != 0) {
        cli->out.len = cli->out.head + pending; /* no half notification on the wire */
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory for a cancel");
    }
    client_flush(cli);
    return 0;
}

void pyrpool_discard(pyrpool_handle *h)
{
    if (h == NULL)
        return;
    if (h->done) {
        ready_remove(h->cli, h);
        handle_free(h);
    } else {
        h->discarded = true;
    }
}

bool pyrpool_done(const pyrpool_handle *h)
{
    return h->done;
}

uint32_t pyrpool_msgid(const pyrpool_handle *h)
{
    return h->msgid;
}

void pyrpool_set_data(pyrpool_handle *h, void *data)
{
    h->data = data;
}

void *pyrpool_data(const pyrpool_handle *h)
{
    return h->data;
}

/* ------------------------------------------------------------ event loops */

int pyrpool_cork(pyrpool_client *cli, bool on, pyrpool_error *err)
{
    if (cli == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_cork: no client");
    cli->corked = on;
    if (!on && client_flush(cli) != 0)
        return errors_copy(err, &cli->cause);
    return 0;
}

int pyrpool_fd(const pyrpool_client *cli)
{
    return cli->fd;
}

int pyrpool_events(const pyrpool_client *cli)
{
    return POLLIN | (cli->out.head < cli->out.len ? POLLOUT : 0);
}

int pyrpool_process(pyrpool_client *cli, pyrpool_error *err)
{
    int rc;

    if (cli == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_process: no client");
    rc = client_flush(cli);
    if (rc == 0)
        rc = client_read(cli);
    if (rc >= 0 && cli->broken == 0)
        rc = client_flush(cli) < 0 ? cli->broken : rc;
    if (rc < 0)
        return errors_copy(err, &cli->cause);
    return rc;
}

pyrpool_handle *pyrpool_next_ready(pyrpool_client *cli)
{
    return cli->ready_head;
}

/* ------------------------------------------------------------ connecting */

static pyrpool_client *client_new(int fd, size_t max_message)
{
    pyrpool_client *cli = calloc(1, sizeof(*cli));

    if (cli == NULL)
        return NULL;
    cli->fd = fd;
    cli->cause = (pyrpool_error)PYRPOOL_ERROR_INIT;
    cli->closing = (pyrpool_error)PYRPOOL_ERROR_INIT;
    cli->next_msgid = 1;
    wire_out_init(&cli->out);
    msgpack_packer_init(&cli->pk, &cli->out, wire_out_write);
    wire_in_init(&cli->in, max_message);
    table_init(&cli->calls);
    return cli;
}

static void free_all(void *val, void *arg)
{
    (void)arg;
    handle_free(val);
}

void pyrpool_close(pyrpool_client *cli)
{
    pyrpool_handle *h;

    if (cli == NULL)
        return;
    table_each(&cli->calls, free_all, NULL);
    table_free(&cli->calls);
    while ((h = cli->ready_head) != NULL) {
        ready_remove(cli, h);
        handle_free(h);
    }
    while ((h = cli->spare) != NULL) {
        cli->spare = h->next;
        free(h);
    }
    close(cli->fd);
    wire_out_free(&cli->out);
    wire_in_free(&cli->in);
    pyrpool_error_free(&cli->cause);
    pyrpool_error_free(&cli->closing);
    pyrpool_result_free(cli->hello);
    free(cli);
}

const msgpack_object *pyrpool_hello(const pyrpool_client *cli)
{
    return pyrpool_result_value(cli->hello);
}

bool pyrpool_is_admin(const pyrpool_client *cli)
{
    return cli->admin;
}

int pyrpool_broken(const pyrpool_client *cli)
{
    return cli->broken;
}

/* Awaits a handshake request within the connect deadline. */
static int await_step(pyrpool_handle *h, int64_t deadline, const char *what, pyrpool_result **result,
                      pyrpool_error *err)
{
    int rc = pyrpool_await(h, dial_left_ms(deadline), result, err);

    if (rc == PYRPOOL_ERR_TIMEOUT) {
        pyrpool_discard(h);
        errors_set(err, rc, 0, "%s: no answer within the connect timeout", what);
    } else if (rc != 0 && err != NULL) {
        errors_wrap(err, rc, what, err);
    }
    return rc;
}

/* Auth (when there is a token) and hello, pipelined in one write. */
static int client_handshake(pyrpool_client *cli, const pyrpool_options *opts, const char *token,
                            int64_t deadline, pyrpool_error *err)
{
    pyrpool_handle *auth = NULL, *hello = NULL;
    pyrpool_result *res = NULL;
    msgpack_packer *pk;
    int rc;

    if (token != NULL) {
        pk = pyrpool_begin(cli, METHOD_AUTH, err);
        if (pk == NULL)
            return begin_failure(cli, METHOD_AUTH);
        if (pyrpool_pack(pk, "[s]", token) != 0) {
            pyrpool_abort(cli);
            return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory");
        }
        rc = pyrpool_end(cli, &auth, err);
        if (rc != 0)
            return rc;
    }
    pk = pyrpool_begin(cli, METHOD_HELLO, err);
    if (pk == NULL)
        return begin_failure(cli, METHOD_HELLO);
    if (hello_pack_params(pk, opts) != 0) {
        pyrpool_abort(cli);
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory");
    }
    rc = pyrpool_end(cli, &hello, err);
    if (rc != 0)
        return rc;
    if (auth != NULL) {
        rc = await_step(auth, deadline, "auth", &res, err);
        if (rc == 0 && (pyrpool_result_value(res)->type != MSGPACK_OBJECT_BOOLEAN ||
                        !pyrpool_result_value(res)->via.boolean))
            rc = errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "auth: the daemon did not answer true");
        pyrpool_result_free(res);
        if (rc != 0) {
            pyrpool_discard(hello);
            return rc;
        }
    }
    rc = await_step(hello, deadline, "hello", &cli->hello, err);
    if (rc == PYRPOOL_ERR_REMOTE && err != NULL && err->kind == PYRPOOL_KIND_NO_SUCH_METHOD)
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "hello: the daemon does not know the handshake "
                          "(a pyrpoold older than protocol %d)", PYRPOOL_PROTOCOL);
    if (rc != 0)
        return rc;
    return hello_check(pyrpool_result_value(cli->hello), &cli->admin, err);
}

int pyrpool_connect(const char *address, const pyrpool_options *opts, pyrpool_client **out, pyrpool_error *err)
{
    static const pyrpool_options defaults;
    pyrpool_client *cli;
    char *token = NULL;
    int64_t deadline;
    int fd, rc, ms;

    if (out == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pyrpool_connect: out is NULL");
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    ms = opts->connect_timeout_ms == 0 ? DEFAULT_CONNECT_TIMEOUT_MS : opts->connect_timeout_ms;
    deadline = ms < 0 ? -1 : dial_now_ms() + ms;
    rc = hello_token(opts, &token, err);
    if (rc != 0)
        return rc;
    fd = dial(address, deadline, err);
    if (fd < 0) {
        free(token);
        return fd;
    }
    cli = client_new(fd, opts->max_message_size != 0 ? opts->max_message_size : DEFAULT_MAX_MESSAGE);
    if (cli == NULL) {
        close(fd);
        free(token);
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory");
    }
    rc = client_handshake(cli, opts, token, deadline, err);
    free(token);
    if (rc != 0) {
        if (err != NULL && err->message != NULL) {
            char *m = NULL;
            if (asprintf(&m, "%s: %s", address, err->message) >= 0) {
                free(err->message);
                err->message = m;
            }
        }
        pyrpool_close(cli);
        return rc;
    }
    *out = cli;
    return 0;
}
