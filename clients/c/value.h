/* value: values in and out: the format-string packer (pyrpool_pack), the
 * msgpack_object readers (pyrpool_obj_*), and pyrpool_result, an answer's
 * value together with the zone that owns it. */
#ifndef PYRPOOL_CLIENT_VALUE_H
#define PYRPOOL_CLIENT_VALUE_H

#include "client.h"

/* A result holding value, which lives in zone: the result is allocated in
 * the zone too, so pyrpool_result_free frees all with the zone. NULL when
 * out of memory (zone is then still the caller's). */
pyrpool_result *value_result(msgpack_zone *zone, const msgpack_object *value);

/* pyrpool_vpack for a format that pyrpool_fmt_count has accepted already
 * (the casts count a format's values first): one pass less. */
int value_vpack_checked(msgpack_packer *pk, const char *fmt, va_list ap);

#endif
