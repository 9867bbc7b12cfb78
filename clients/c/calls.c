/* calls: each method of proto/PROTOCOL.md as a function. Params are packed
 * straight into the send buffer (pyrpool_begin); a blocking function is a
 * cast and an await; when its own wait runs out it cancels the call, so
 * that nothing keeps running for an answer nobody reads. */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "protocol.h"
#include "value.h"

/* What pyrpool_begin failed with (err filled). */
static int begin_code(const pyrpool_client *cli)
{
    int b = cli != NULL ? pyrpool_broken(cli) : 0;

    return cli == NULL ? PYRPOOL_ERR_USAGE : b != 0 ? b : PYRPOOL_ERR_NOMEM;
}

static bool has_opts(const pyrpool_call_opts *opts)
{
    return opts != NULL && (opts->pool != NULL || opts->timeout > 0);
}

static int pack_opts(msgpack_packer *pk, const pyrpool_call_opts *opts)
{
    int rc = msgpack_pack_map(pk, (opts->pool != NULL) + (opts->timeout > 0));

    if (rc == 0 && opts->pool != NULL)
        rc = pyrpool_pack(pk, "s s", "pool", opts->pool);
    if (rc == 0 && opts->timeout > 0)
        rc = pyrpool_pack(pk, "s d", "timeout", opts->timeout);
    return rc;
}

/* Casts method (call or map) with [module, function, first, kwargs?, opts?]:
 * first and kwargs from objects, or from fmt (one or two values). */
static int cast_call(pyrpool_client *cli, const char *method, const char *module, const char *function,
                     const msgpack_object *first, const msgpack_object *kwargs, const pyrpool_call_opts *opts,
                     const char *fmt, va_list *ap, pyrpool_handle **handle, pyrpool_error *err)
{
    int nfmt = fmt != NULL ? pyrpool_fmt_count(fmt) : 0, rc, n;
    bool with_kwargs = fmt != NULL ? nfmt == 2 : kwargs != NULL;
    msgpack_packer *pk;

    if (module == NULL || function == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "%s: module and function are needed", method);
    if (fmt != NULL && (nfmt < 1 || nfmt > 2))
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "%s: the format \"%s\" must be one value (args) or two "
                          "(args, kwargs)", method, fmt);
    n = has_opts(opts) ? 5 : with_kwargs ? 4 : 3;
    pk = pyrpool_begin(cli, method, err);
    if (pk == NULL)
        return begin_code(cli);
    rc = msgpack_pack_array(pk, (size_t)n);
    if (rc == 0)
        rc = pyrpool_pack(pk, "s s", module, function);
    if (rc == 0 && fmt != NULL)
        rc = value_vpack_checked(pk, fmt, *ap);
    if (rc == 0 && fmt == NULL)
        rc = pyrpool_pack(pk, "o", first);
    if (rc == 0 && fmt == NULL && n >= 4)
        rc = pyrpool_pack(pk, "o", kwargs);
    if (rc == 0 && fmt != NULL && n == 5 && !with_kwargs)
        rc = msgpack_pack_nil(pk);
    if (rc == 0 && n == 5)
        rc = pack_opts(pk, opts);
    if (rc != 0) {
        pyrpool_abort(cli);
        return errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "%s: out of memory", method);
    }
    return pyrpool_end(cli, handle, err);
}

/* Awaits h within wait_ms (0: no limit); cancels it if that passes. */
static int wait_answer(pyrpool_handle *h, int wait_ms, pyrpool_result **result, pyrpool_error *err)
{
    int rc = pyrpool_await(h, wait_ms > 0 ? wait_ms : -1, result, err);

    if (rc == PYRPOOL_ERR_TIMEOUT) {
        pyrpool_cancel(h, NULL);
        pyrpool_discard(h);
        errors_set(err, rc, 0, "no answer within %d ms: the call was cancelled", wait_ms);
    }
    return rc;
}

static int wait_of(const pyrpool_call_opts *opts)
{
    return opts != NULL ? opts->wait_ms : 0;
}

int pyrpool_cast(pyrpool_client *cli, const char *module, const char *function, const msgpack_object *args,
                 const msgpack_object *kwargs, const pyrpool_call_opts *opts, pyrpool_handle **handle,
                 pyrpool_error *err)
{
    return cast_call(cli, METHOD_CALL, module, function, args, kwargs, opts, NULL, NULL, handle, err);
}

int pyrpool_vcastf(pyrpool_client *cli, const char *module, const char *function, const pyrpool_call_opts *opts,
                   pyrpool_handle **handle, pyrpool_error *err, const char *fmt, va_list ap)
{
    va_list aq;
    int rc;

    if (fmt == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "call: no format");
    va_copy(aq, ap);
    rc = cast_call(cli, METHOD_CALL, module, function, NULL, NULL, opts, fmt, &aq, handle, err);
    va_end(aq);
    return rc;
}

int pyrpool_castf(pyrpool_client *cli, const char *module, const char *function, const pyrpool_call_opts *opts,
                  pyrpool_handle **handle, pyrpool_error *err, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = pyrpool_vcastf(cli, module, function, opts, handle, err, fmt, ap);
    va_end(ap);
    return rc;
}

int pyrpool_cast_map(pyrpool_client *cli, const char *module, const char *function,
                     const msgpack_object *args_list, const msgpack_object *kwargs, const pyrpool_call_opts *opts,
                     pyrpool_handle **handle, pyrpool_error *err)
{
    if (args_list == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "map: no args_list");
    return cast_call(cli, METHOD_MAP, module, function, args_list, kwargs, opts, NULL, NULL, handle, err);
}

int pyrpool_call(pyrpool_client *cli, const char *module, const char *function, const msgpack_object *args,
                 const msgpack_object *kwargs, const pyrpool_call_opts *opts, pyrpool_result **result,
                 pyrpool_error *err)
{
    pyrpool_handle *h;
    int rc = pyrpool_cast(cli, module, function, args, kwargs, opts, &h, err);

    return rc != 0 ? rc : wait_answer(h, wait_of(opts), result, err);
}

int pyrpool_callf(pyrpool_client *cli, const char *module, const char *function, const pyrpool_call_opts *opts,
                  pyrpool_result **result, pyrpool_error *err, const char *fmt, ...)
{
    pyrpool_handle *h;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = pyrpool_vcastf(cli, module, function, opts, &h, err, fmt, ap);
    va_end(ap);
    return rc != 0 ? rc : wait_answer(h, wait_of(opts), result, err);
}

int pyrpool_map(pyrpool_client *cli, const char *module, const char *function, const msgpack_object *args_list,
                const msgpack_object *kwargs, const pyrpool_call_opts *opts, pyrpool_result **result,
                pyrpool_error *err)
{
    pyrpool_handle *h;
    int rc = pyrpool_cast_map(cli, module, function, args_list, kwargs, opts, &h, err);

    return rc != 0 ? rc : wait_answer(h, wait_of(opts), result, err);
}

/* A blocking request whose params come from a format. */
static int requestf(pyrpool_client *cli, const char *method, pyrpool_result **result, pyrpool_error *err,
                    const char *fmt, ...)
{
    msgpack_packer *pk = pyrpool_begin(cli, method, err);
    pyrpool_handle *h;
    va_list ap;
    int rc;

    if (pk == NULL)
        return begin_code(cli);
    va_start(ap, fmt);
    rc = pyrpool_vpack(pk, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        pyrpool_abort(cli);
        return errors_set(err, rc == PYRPOOL_ERR_USAGE ? rc : PYRPOOL_ERR_NOMEM, 0, "%s: cannot pack the params",
                          method);
    }
    rc = pyrpool_end(cli, &h, err);
    return rc != 0 ? rc : wait_answer(h, 0, result, err);
}

int pyrpool_request(pyrpool_client *cli, const char *method, const msgpack_object *params, int wait_ms,
                    pyrpool_result **result, pyrpool_error *err)
{
    pyrpool_handle *h;
    int rc = pyrpool_cast_request(cli, method, params, &h, err);

    return rc != 0 ? rc : wait_answer(h, wait_ms, result, err);
}

int pyrpool_eval(pyrpool_client *cli, const char *expr, const msgpack_object *locals, pyrpool_result **result,
                 pyrpool_error *err)
{
    if (expr == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "eval: no expression");
    if (locals != NULL)
        return requestf(cli, METHOD_EVAL, result, err, "[s o]", expr, locals);
    return requestf(cli, METHOD_EVAL, result, err, "[s]", expr);
}

int pyrpool_exec(pyrpool_client *cli, const char *code, pyrpool_error *err)
{
    if (code == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "exec: no code");
    return requestf(cli, METHOD_EXEC, NULL, err, "[s]", code);
}

/* ---------------------------------------------------------- admin, status */

/* The answer to a request, checked to have the type want; its value in *out
 * (the caller frees *out). */
static int typed(int rc, pyrpool_result *res, msgpack_object_type want, const char *method,
                 pyrpool_error *err)
{
    if (rc == 0 && pyrpool_result_value(res)->type != want) {
        pyrpool_result_free(res);
        return errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "%s: the answer has an unexpected type", method);
    }
    return rc;
}

int pyrpool_ping(pyrpool_client *cli, pyrpool_error *err)
{
    pyrpool_result *res = NULL;
    int rc = requestf(cli, METHOD_PING, &res, err, "[]");

    if (rc == 0 && !pyrpool_obj_is(pyrpool_result_value(res), "pong"))
        rc = errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "ping: the daemon did not answer \"pong\"");
    pyrpool_result_free(res);
    return rc;
}

int pyrpool_reload(pyrpool_client *cli, pyrpool_error *err)
{
    return requestf(cli, METHOD_RELOAD, NULL, err, "[]");
}

int pyrpool_register_pool(pyrpool_client *cli, const char *pool, const char *module, const char *function,
                          pyrpool_error *err)
{
    if (pool == NULL || module == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "register_pool: pool and module are needed");
    if (function != NULL)
        return requestf(cli, METHOD_REGISTER_POOL, NULL, err, "[s s s]", pool, module, function);
    return requestf(cli, METHOD_REGISTER_POOL, NULL, err, "[s s]", pool, module);
}

static int get_bool(int rc, pyrpool_result *res, bool *out, const char *method, pyrpool_error *err)
{
    rc = typed(rc, res, MSGPACK_OBJECT_BOOLEAN, method, err);
    if (rc == 0) {
        if (out != NULL)
            *out = pyrpool_result_value(res)->via.boolean;
        pyrpool_result_free(res);
    }
    return rc;
}

int pyrpool_unregister_pool(pyrpool_client *cli, const char *module, const char *function, bool *removed,
                            pyrpool_error *err)
{
    pyrpool_result *res = NULL;
    int rc;

    if (module == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "unregister_pool: module is needed");
    if (function != NULL)
        rc = requestf(cli, METHOD_UNREGISTER_POOL, &res, err, "[s s]", module, function);
    else
        rc = requestf(cli, METHOD_UNREGISTER_POOL, &res, err, "[s]", module);
    return get_bool(rc, res, removed, METHOD_UNREGISTER_POOL, err);
}

int pyrpool_lookup_pool(pyrpool_client *cli, const char *module, const char *function, char **pool,
                        pyrpool_error *err)
{
    pyrpool_result *res = NULL;
    int rc;

    if (module == NULL || pool == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "lookup_pool: module and pool are needed");
    if (function != NULL)
        rc = requestf(cli, METHOD_LOOKUP_POOL, &res, err, "[s s]", module, function);
    else
        rc = requestf(cli, METHOD_LOOKUP_POOL, &res, err, "[s]", module);
    rc = typed(rc, res, MSGPACK_OBJECT_STR, METHOD_LOOKUP_POOL, err);
    if (rc == 0) {
        *pool = pyrpool_obj_strdup(pyrpool_result_value(res));
        pyrpool_result_free(res);
        if (*pool == NULL)
            rc = errors_set(err, PYRPOOL_ERR_NOMEM, ENOMEM, "out of memory");
    }
    return rc;
}

int pyrpool_list_pool_registrations(pyrpool_client *cli, pyrpool_result **result, pyrpool_error *err)
{
    return requestf(cli, METHOD_LIST_POOL_REGISTRATIONS, result, err, "[]");
}

int pyrpool_pools(pyrpool_client *cli, pyrpool_result **result, pyrpool_error *err)
{
    return requestf(cli, METHOD_POOLS, result, err, "[]");
}

int pyrpool_start_pool(pyrpool_client *cli, const char *name, int size, const char *mode, pyrpool_result **pids,
                       pyrpool_error *err)
{
    if (name == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "start_pool: no name");
    if (mode != NULL)
        return requestf(cli, METHOD_START_POOL, pids, err, "[s i s]", name, size, mode);
    return requestf(cli, METHOD_START_POOL, pids, err, "[s i]", name, size);
}

int pyrpool_stop_pool(pyrpool_client *cli, const char *name, pyrpool_error *err)
{
    if (name == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "stop_pool: no name");
    return requestf(cli, METHOD_STOP_POOL, NULL, err, "[s]", name);
}

int pyrpool_resize_pool(pyrpool_client *cli, const char *name, int size, pyrpool_error *err)
{
    if (name == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "resize_pool: no name");
    return requestf(cli, METHOD_RESIZE_POOL, NULL, err, "[s i]", name, size);
}

int pyrpool_pool_started(pyrpool_client *cli, const char *name, bool *started, pyrpool_error *err)
{
    pyrpool_result *res = NULL;
    int rc;

    if (name == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "pool_started: no name");
    rc = requestf(cli, METHOD_POOL_STARTED, &res, err, "[s]", name);
    return get_bool(rc, res, started, METHOD_POOL_STARTED, err);
}

int pyrpool_num_contexts(pyrpool_client *cli, const char *name, int64_t *n, pyrpool_error *err)
{
    pyrpool_result *res = NULL;
    int rc;

    if (name == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "num_contexts: no name");
    rc = requestf(cli, METHOD_NUM_CONTEXTS, &res, err, "[s]", name);
    if (rc == 0 && !pyrpool_obj_int(pyrpool_result_value(res), n))
        rc = errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "num_contexts: the answer is not an integer");
    pyrpool_result_free(res);
    return rc;
}

int pyrpool_contexts(pyrpool_client *cli, const char *name, pyrpool_result **pids, pyrpool_error *err)
{
    if (name == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "contexts: no name");
    return requestf(cli, METHOD_CONTEXTS, pids, err, "[s]", name);
}

int pyrpool_get_context(pyrpool_client *cli, const char *name, int64_t *pid, pyrpool_error *err)
{
    pyrpool_result *res = NULL;
    const msgpack_object *v;
    int rc;

    if (name == NULL || pid == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "get_context: name and pid are needed");
    rc = requestf(cli, METHOD_GET_CONTEXT, &res, err, "[s]", name);
    if (rc == 0) {
        v = pyrpool_result_value(res);
        *pid = 0;
        if (v->type != MSGPACK_OBJECT_NIL && !pyrpool_obj_int(v, pid))
            rc = errors_set(err, PYRPOOL_ERR_PROTOCOL, 0, "get_context: the answer is not a pid");
    }
    pyrpool_result_free(res);
    return rc;
}
