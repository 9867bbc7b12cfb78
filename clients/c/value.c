/* value: the format-string packer, the object readers and pyrpool_result.
 *
 * The packer checks the whole format (pyrpool_fmt_count's parser) before it
 * packs anything, so a malformed format leaves the buffer as it was; each
 * array or map counts its own values when it is reached (nesting is
 * shallow, so the rescans cost nothing worth a cache). */
#include "value.h"

#include <stdlib.h>
#include <string.h>

#define FMT_MAX_DEPTH 32

struct pyrpool_result {
    msgpack_zone *zone;
    const msgpack_object *value;
};

pyrpool_result *value_result(msgpack_zone *zone, const msgpack_object *value)
{
    pyrpool_result *r = msgpack_zone_malloc(zone, sizeof(*r));

    if (r != NULL) {
        r->zone = zone;
        r->value = value;
    }
    return r;
}

const msgpack_object *pyrpool_result_value(const pyrpool_result *r)
{
    return r->value;
}

void pyrpool_result_free(pyrpool_result *r)
{
    if (r != NULL)
        msgpack_zone_free(r->zone);
}

static const char *skip_sep(const char *p)
{
    while (*p == ' ' || *p == ',' || *p == ':' || *p == '\t' || *p == '\n')
        p++;
    return p;
}

/* Counts the values from p up to close ('\0', ']' or '}'); *end is set
 * after close. Returns the count, or -1 when the format is malformed. */
static int fmt_level(const char *p, char close, const char **end, int depth)
{
    int n = 0, k;

    for (;;) {
        p = skip_sep(p);
        if (*p == close) {
            *end = close != '\0' ? p + 1 : p;
            return n;
        }
        switch (*p) {
        case 'n': case 'b': case 'i': case 'I': case 'u': case 'U': case 'd': case 'o':
            p++;
            break;
        case 's':
            p += p[1] == '#' ? 2 : 1;
            break;
        case 'y':
            if (p[1] != '#')
                return -1;
            p += 2;
            break;
        case '[':
        case '{':
            if (depth >= FMT_MAX_DEPTH)
                return -1;
            k = fmt_level(p + 1, *p == '[' ? ']' : '}', &p, depth + 1);
            if (k < 0 || (p[-1] == '}' && k % 2 != 0))
                return -1;
            break;
        default:
            return -1;
        }
        n++;
    }
}

int pyrpool_fmt_count(const char *fmt)
{
    const char *end;

    return fmt != NULL ? fmt_level(fmt, '\0', &end, 0) : -1;
}

/* Packs the values from *p up to close, moving *p past it. */
static int pack_level(msgpack_packer *pk, const char **p, char close, va_list *ap)
{
    const char *s, *end;
    size_t len;
    int rc = 0, n;

    for (;;) {
        *p = skip_sep(*p);
        if (**p == close) {
            *p += close != '\0';
            return 0;
        }
        switch (*(*p)++) {
        case 'n': rc = msgpack_pack_nil(pk); break;
        case 'b': rc = va_arg(*ap, int) ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
        case 'i': rc = msgpack_pack_int(pk, va_arg(*ap, int)); break;
        case 'I': rc = msgpack_pack_int64(pk, va_arg(*ap, int64_t)); break;
        case 'u': rc = msgpack_pack_unsigned_int(pk, va_arg(*ap, unsigned int)); break;
        case 'U': rc = msgpack_pack_uint64(pk, va_arg(*ap, uint64_t)); break;
        case 'd': rc = msgpack_pack_double(pk, va_arg(*ap, double)); break;
        case 'o': {
            const msgpack_object *o = va_arg(*ap, const msgpack_object *);
            rc = o != NULL ? msgpack_pack_object(pk, *o) : msgpack_pack_nil(pk);
            break;
        }
        case 's':
            s = va_arg(*ap, const char *);
            if (**p == '#') {
                (*p)++;
                len = va_arg(*ap, size_t);
            } else {
                len = s != NULL ? strlen(s) : 0;
            }
            rc = s != NULL ? msgpack_pack_str_with_body(pk, s, len) : msgpack_pack_nil(pk);
            break;
        case 'y':
            (*p)++;
            s = va_arg(*ap, const void *);
            len = va_arg(*ap, size_t);
            rc = msgpack_pack_bin_with_body(pk, s, len);
            break;
        case '[':
            n = fmt_level(*p, ']', &end, 0);
            rc = msgpack_pack_array(pk, (size_t)n);
            if (rc == 0)
                rc = pack_level(pk, p, ']', ap);
            break;
        case '{':
            n = fmt_level(*p, '}', &end, 0);
            rc = msgpack_pack_map(pk, (size_t)n / 2);
            if (rc == 0)
                rc = pack_level(pk, p, '}', ap);
            break;
        }
        if (rc != 0)
            return rc;
    }
}

int value_vpack_checked(msgpack_packer *pk, const char *fmt, va_list ap)
{
    va_list aq;
    int rc;

    va_copy(aq, ap);
    rc = pack_level(pk, &fmt, '\0', &aq);
    va_end(aq);
    return rc == 0 ? 0 : PYRPOOL_ERR_NOMEM;
}

int pyrpool_vpack(msgpack_packer *pk, const char *fmt, va_list ap)
{
    if (pk == NULL || pyrpool_fmt_count(fmt) < 0)
        return PYRPOOL_ERR_USAGE;
    return value_vpack_checked(pk, fmt, ap);
}

int pyrpool_pack(msgpack_packer *pk, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = pyrpool_vpack(pk, fmt, ap);
    va_end(ap);
    return rc;
}

static bool str_eq(const msgpack_object *o, const char *s, size_t len)
{
    if (o->type == MSGPACK_OBJECT_STR)
        return o->via.str.size == len && memcmp(o->via.str.ptr, s, len) == 0;
    if (o->type == MSGPACK_OBJECT_BIN)
        return o->via.bin.size == len && memcmp(o->via.bin.ptr, s, len) == 0;
    return false;
}

bool pyrpool_obj_is(const msgpack_object *o, const char *s)
{
    return o != NULL && s != NULL && str_eq(o, s, strlen(s));
}

const msgpack_object *pyrpool_obj_get(const msgpack_object *map, const char *key)
{
    size_t len, i;

    if (map == NULL || key == NULL || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    len = strlen(key);
    for (i = 0; i < map->via.map.size; i++)
        if (str_eq(&map->via.map.ptr[i].key, key, len))
            return &map->via.map.ptr[i].val;
    return NULL;
}

bool pyrpool_obj_int(const msgpack_object *o, int64_t *v)
{
    if (o == NULL)
        return false;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

bool pyrpool_obj_double(const msgpack_object *o, double *v)
{
    if (o == NULL)
        return false;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *v = o->via.f64;
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *v = (double)o->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *v = (double)o->via.i64;
        return true;
    default:
        return false;
    }
}

char *pyrpool_obj_strdup(const msgpack_object *o)
{
    const char *s;
    size_t len;
    char *c;

    if (o == NULL || (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN))
        return NULL;
    s = o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : o->via.bin.ptr;
    len = o->type == MSGPACK_OBJECT_STR ? o->via.str.size : o->via.bin.size;
    c = malloc(len + 1);
    if (c != NULL) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}
