/* value: command-line values to MessagePack, MessagePack to JSON. See
 * value.h. JSON is read with libyaml (JSON is YAML's flow syntax), which
 * the daemon already links, rather than a JSON library the project does
 * not otherwise need. */
#include "value.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define MAX_DEPTH 64

static bool is_literal(const char *s, long long *i, unsigned long long *u, double *d, int *kind)
{
    char *end;

    if (strcmp(s, "null") == 0)
        return *kind = 0, true;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
        return *kind = s[0] == 't' ? 1 : 2, true;
    if (s[0] == '\0' || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    errno = 0;
    *i = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0)
        return *kind = 3, true;
    if (s[0] != '-') {
        errno = 0;
        *u = strtoull(s, &end, 10);
        if (*end == '\0' && errno == 0)
            return *kind = 4, true;
    }
    errno = 0;
    *d = strtod(s, &end);
    if (*end == '\0' && errno == 0 && strspn(s, "-0123456789.eE+") == strlen(s))
        return *kind = 5, true;
    return false;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static int pack_node(msgpack_packer *pk, yaml_document_t *doc, yaml_node_t *n, int depth, char *err, size_t errlen)
{
    yaml_node_item_t *it;
    yaml_node_pair_t *p;
    long long i;
    unsigned long long u;
    double d;
    int kind;

    if (n == NULL || depth > MAX_DEPTH) {
        snprintf(err, errlen, "nested deeper than %d levels", MAX_DEPTH);
        return -1;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;

        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
            pack_str(pk, s, n->data.scalar.length);
            return 0;
        }
        if (!is_literal(s, &i, &u, &d, &kind)) {
            snprintf(err, errlen, "'%.60s' is not a JSON value (quote strings inside JSON)", s);
            return -1;
        }
        if (kind == 0)
            msgpack_pack_nil(pk);
        else if (kind == 1)
            msgpack_pack_true(pk);
        else if (kind == 2)
            msgpack_pack_false(pk);
        else if (kind == 3)
            msgpack_pack_int64(pk, i);
        else if (kind == 4)
            msgpack_pack_uint64(pk, u);
        else
            msgpack_pack_double(pk, d);
        return 0;
    }
    case YAML_SEQUENCE_NODE:
        msgpack_pack_array(pk, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start));
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            if (pack_node(pk, doc, yaml_document_get_node(doc, *it), depth + 1, err, errlen) != 0)
                return -1;
        return 0;
    case YAML_MAPPING_NODE:
        msgpack_pack_map(pk, (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start));
        for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);

            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                snprintf(err, errlen, "a map key must be a string");
                return -1;
            }
            pack_str(pk, (const char *)k->data.scalar.value, k->data.scalar.length);
            if (pack_node(pk, doc, yaml_document_get_node(doc, p->value), depth + 1, err, errlen) != 0)
                return -1;
        }
        return 0;
    default:
        snprintf(err, errlen, "not a JSON value");
        return -1;
    }
}

int value_pack(msgpack_packer *pk, const char *arg, char *err, size_t errlen)
{
    long long i;
    unsigned long long u;
    double d;
    int kind, rc = -1;
    yaml_parser_t parser;
    yaml_document_t doc;

    if (arg[0] != '[' && arg[0] != '{' && arg[0] != '"' && !is_literal(arg, &i, &u, &d, &kind)) {
        pack_str(pk, arg, strlen(arg)); /* a bare word: a string */
        return 0;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)arg, strlen(arg));
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "not JSON: %s at column %zu", parser.problem ? parser.problem : "unreadable",
                 parser.problem_mark.column + 1);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);

        if (root == NULL)
            snprintf(err, errlen, "an empty value");
        else
            rc = pack_node(pk, &doc, root, 0, err, errlen);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static void print_string(FILE *f, const char *s, size_t n)
{
    size_t i;

    fputc('"', f);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void print_base64(FILE *f, const unsigned char *s, size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    fputc('"', f);
    for (i = 0; i + 2 < n; i += 3)
        fprintf(f, "%c%c%c%c", digits[s[i] >> 2], digits[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
                digits[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)], digits[s[i + 2] & 63]);
    if (n - i == 1)
        fprintf(f, "%c%c==", digits[s[i] >> 2], digits[(s[i] & 3) << 4]);
    else if (n - i == 2)
        fprintf(f, "%c%c%c=", digits[s[i] >> 2], digits[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
                digits[(s[i + 1] & 15) << 2]);
    fputc('"', f);
}

/* A map key that is not a string: its JSON text, as a string. */
static void print_key(FILE *f, const msgpack_object *k)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m;

    if (k->type == MSGPACK_OBJECT_STR) {
        print_string(f, k->via.str.ptr, k->via.str.size);
        return;
    }
    m = open_memstream(&buf, &len);
    if (m == NULL) {
        fputs("\"?\"", f);
        return;
    }
    value_print_json(m, k);
    fclose(m);
    print_string(f, buf, len);
    free(buf);
}

/* The shortest text that reads back as d, with a point or an exponent so
 * that it reads as a float (4.0, 0.1, 1e+20). */
static void print_double(FILE *f, double d)
{
    char buf[40];
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    fputs(buf, f);
    if (strpbrk(buf, ".eE") == NULL)
        fputs(".0", f);
}

void value_print_json(FILE *f, const msgpack_object *o)
{
    uint32_t i;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("null", f); break;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", f); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(f, "%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(f, "%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isnan(o->via.f64))
            fputs("\"NaN\"", f);
        else if (isinf(o->via.f64))
            fputs(o->via.f64 > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
        else
            print_double(f, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR: print_string(f, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN: print_base64(f, (const unsigned char *)o->via.bin.ptr, o->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', f);
        for (i = 0; i < o->via.array.size; i++) {
            if (i > 0)
                fputs(", ", f);
            value_print_json(f, &o->via.array.ptr[i]);
        }
        fputc(']', f);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc('{', f);
        for (i = 0; i < o->via.map.size; i++) {
            if (i > 0)
                fputs(", ", f);
            print_key(f, &o->via.map.ptr[i].key);
            fputs(": ", f);
            value_print_json(f, &o->via.map.ptr[i].val);
        }
        fputc('}', f);
        break;
    default: fputs("null", f); break; /* ext: the daemon never sends one */
    }
}
