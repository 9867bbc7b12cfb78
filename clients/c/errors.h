/* errors: filling a pyrpool_error (client.h): local failures from a format,
 * remote ones from the error object of an answer, and copies of either. */
#ifndef PYRPOOL_CLIENT_ERRORS_H
#define PYRPOOL_CLIENT_ERRORS_H

#include "client.h"

/* Replaces err's contents (err may be NULL) with a local failure: code, the
 * errno behind it (0 if none) and a printf-style message. Returns code. */
int errors_set(pyrpool_error *err, int code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Replaces err's contents with the error an answer carries (the error slot
 * of [1, msgid, error, result]): a map {"type", "message", "traceback",
 * "index"?}, or the "string" and "array" shapes a listener may be set to.
 * Returns PYRPOOL_ERR_REMOTE (PYRPOOL_ERR_NOMEM if a copy failed). */
int errors_remote(pyrpool_error *err, const msgpack_object *e);

/* Replaces dst's contents with a copy of src's. Returns src->code. */
int errors_copy(pyrpool_error *dst, const pyrpool_error *src);

/* The same as errors_copy, with code in place of src's and the message
 * prefixed with `what` and ": ". Returns code. */
int errors_wrap(pyrpool_error *dst, int code, const char *what, const pyrpool_error *src);

#endif
