/* errors: filling a pyrpool_error and naming codes and kinds. The daemon's
 * own error type names come from protocol.h, so that they are spelled once
 * for the daemon and its clients. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static const char *const kind_names[] = {
    [PYRPOOL_KIND_NONE] = "",
    [PYRPOOL_KIND_PYTHON] = "",
    [PYRPOOL_KIND_BAD_REQUEST] = ERROR_BAD_REQUEST,
    [PYRPOOL_KIND_NO_SUCH_METHOD] = ERROR_NO_SUCH_METHOD,
    [PYRPOOL_KIND_NO_SUCH_POOL] = ERROR_NO_SUCH_POOL,
    [PYRPOOL_KIND_UNAUTHORIZED] = ERROR_UNAUTHORIZED,
    [PYRPOOL_KIND_FORBIDDEN] = ERROR_FORBIDDEN,
    [PYRPOOL_KIND_ENCODE_ERROR] = ERROR_ENCODE,
    [PYRPOOL_KIND_TIMEOUT] = ERROR_TIMEOUT,
    [PYRPOOL_KIND_CANCELLED] = ERROR_CANCELLED,
    [PYRPOOL_KIND_POOL_EXISTS] = ERROR_POOL_EXISTS,
    [PYRPOOL_KIND_POOL_DEGRADED] = ERROR_POOL_DEGRADED,
    [PYRPOOL_KIND_QUARANTINED] = ERROR_QUARANTINED,
    [PYRPOOL_KIND_OVERLOADED] = ERROR_OVERLOADED,
    [PYRPOOL_KIND_WORKER_CRASHED] = ERROR_WORKER_CRASHED,
    [PYRPOOL_KIND_SHUTTING_DOWN] = ERROR_SHUTTING_DOWN,
    [PYRPOOL_KIND_RELOAD_FAILED] = ERROR_RELOAD_FAILED,
    [PYRPOOL_KIND_STATE_NOT_SAVED] = ERROR_STATE_NOT_SAVED,
};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

void pyrpool_error_free(pyrpool_error *err)
{
    if (err == NULL)
        return;
    free(err->type);
    free(err->message);
    free(err->traceback);
    *err = (pyrpool_error)PYRPOOL_ERROR_INIT;
}

const char *pyrpool_strcode(int code)
{
    switch (code) {
    case PYRPOOL_OK: return "success";
    case PYRPOOL_ERR_CONNECTION: return "connection failure";
    case PYRPOOL_ERR_TIMEOUT: return "timeout";
    case PYRPOOL_ERR_PROTOCOL: return "protocol error";
    case PYRPOOL_ERR_REMOTE: return "remote error";
    case PYRPOOL_ERR_USAGE: return "invalid argument";
    case PYRPOOL_ERR_NOMEM: return "out of memory";
    default: return "unknown error code";
    }
}

const char *pyrpool_kind_name(enum pyrpool_error_kind kind)
{
    return (unsigned)kind < NKINDS ? kind_names[kind] : "";
}

enum pyrpool_error_kind pyrpool_kind_of(const char *type, size_t len)
{
    size_t k;

    for (k = PYRPOOL_KIND_BAD_REQUEST; k < NKINDS; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], type, len) == 0)
            return (enum pyrpool_error_kind)k;
    return PYRPOOL_KIND_PYTHON;
}

/* A NUL-terminated copy of len bytes (NULL when out of memory). */
static char *copy(const char *s, size_t len)
{
    char *c = malloc(len + 1);

    if (c != NULL) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

int errors_set(pyrpool_error *err, int code, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    if (err == NULL)
        return code;
    pyrpool_error_free(err);
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    err->code = code;
    err->sys_errno = sys_errno;
    err->message = msg != NULL ? msg : copy(pyrpool_strcode(code), strlen(pyrpool_strcode(code)));
    return code;
}

/* A copy of a str or bin object, or NULL (nil, another type, no memory). */
static char *obj_copy(const msgpack_object *o)
{
    if (o == NULL)
        return NULL;
    if (o->type == MSGPACK_OBJECT_STR)
        return copy(o->via.str.ptr, o->via.str.size);
    if (o->type == MSGPACK_OBJECT_BIN)
        return copy(o->via.bin.ptr, o->via.bin.size);
    return NULL;
}

/* "string" shape: "Type: message", then a newline and the traceback. */
static void remote_from_string(pyrpool_error *err, const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len), *nl = memchr(s, '\n', len);
    const char *msg = s;
    size_t mlen = nl != NULL ? (size_t)(nl - s) : len;

    if (colon != NULL && colon < s + mlen && memchr(s, ' ', (size_t)(colon - s)) == NULL) {
        err->type = copy(s, (size_t)(colon - s));
        msg = colon + 1;
        if (msg < s + mlen && *msg == ' ')
            msg++;
        mlen -= (size_t)(msg - s);
    }
    err->message = copy(msg, mlen);
    if (nl != NULL)
        err->traceback = copy(nl + 1, len - (size_t)(nl + 1 - s));
}

static void remote_from_map(pyrpool_error *err, const msgpack_object *e)
{
    int64_t index;

    err->type = obj_copy(pyrpool_obj_get(e, "type"));
    err->message = obj_copy(pyrpool_obj_get(e, "message"));
    err->traceback = obj_copy(pyrpool_obj_get(e, "traceback"));
    if (pyrpool_obj_int(pyrpool_obj_get(e, "index"), &index))
        err->index = index;
}

int errors_remote(pyrpool_error *err, const msgpack_object *e)
{
    if (err == NULL)
        return PYRPOOL_ERR_REMOTE;
    pyrpool_error_free(err);
    err->code = PYRPOOL_ERR_REMOTE;
    if (e->type == MSGPACK_OBJECT_MAP) {
        remote_from_map(err, e);
    } else if (e->type == MSGPACK_OBJECT_STR || e->type == MSGPACK_OBJECT_BIN) {
        const char *s = e->type == MSGPACK_OBJECT_STR ? e->via.str.ptr : e->via.bin.ptr;
        remote_from_string(err, s, e->type == MSGPACK_OBJECT_STR ? e->via.str.size : e->via.bin.size);
    } else if (e->type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object_array *a = &e->via.array;
        err->type = obj_copy(a->size > 0 ? &a->ptr[0] : NULL);
        err->message = obj_copy(a->size > 1 ? &a->ptr[1] : NULL);
        err->traceback = obj_copy(a->size > 2 ? &a->ptr[2] : NULL);
    }
    err->kind = err->type != NULL ? pyrpool_kind_of(err->type, strlen(err->type)) : PYRPOOL_KIND_PYTHON;
    if (err->message == NULL)
        err->message = copy(err->type != NULL ? err->type : "error", strlen(err->type != NULL ? err->type : "error"));
    if (err->message == NULL)
        return PYRPOOL_ERR_NOMEM;
    return PYRPOOL_ERR_REMOTE;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? copy(s, strlen(s)) : NULL;
}

int errors_copy(pyrpool_error *dst, const pyrpool_error *src)
{
    if (dst == NULL || dst == src)
        return src->code;
    pyrpool_error_free(dst);
    *dst = *src;
    dst->type = dup_or_null(src->type);
    dst->message = dup_or_null(src->message);
    dst->traceback = dup_or_null(src->traceback);
    return src->code;
}

int errors_wrap(pyrpool_error *dst, int code, const char *what, const pyrpool_error *src)
{
    char *msg = NULL;

    if (dst == NULL)
        return code;
    if (asprintf(&msg, "%s: %s", what, src->message != NULL ? src->message : pyrpool_strcode(src->code)) < 0)
        msg = NULL;
    errors_copy(dst, src);
    if (msg != NULL) {
        free(dst->message);
        dst->message = msg;
    }
    dst->code = code;
    return code;
}
