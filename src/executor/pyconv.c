/* pyconv: MessagePack <-> Python without an intermediate tree. See pyconv.h. */
#include "pyconv.h"

#include <stdio.h>
#include <string.h>

static PyObject *decode(struct mpk_reader *r, int depth);

static PyObject *decode_array(struct mpk_reader *r, uint32_t n, int depth)
{
    PyObject *list, *item;
    uint32_t i;

    if (n > (size_t)(r->end - r->p))
        return PyErr_Format(PyExc_ValueError, "array of %u items is longer than its data", n);
    list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        item = decode(r, depth + 1);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static PyObject *decode_map(struct mpk_reader *r, uint32_t n, int depth)
{
    PyObject *dict, *k, *v;
    uint32_t i;

    if (n > (size_t)(r->end - r->p) / 2)
        return PyErr_Format(PyExc_ValueError, "map of %u pairs is longer than its data", n);
    dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        k = decode(r, depth + 1);
        if (k == NULL)
            goto fail;
        v = decode(r, depth + 1);
        if (v == NULL) {
            Py_DECREF(k);
            goto fail;
        }
        if (PyDict_SetItem(dict, k, v) != 0) {
            Py_DECREF(k);
            Py_DECREF(v);
            goto fail;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return dict;
fail:
    Py_DECREF(dict);
    return NULL;
}

static PyObject *decode(struct mpk_reader *r, int depth)
{
    struct mpk_item it;
    int rc;

    if (depth > MPK_MAX_DEPTH)
        return PyErr_Format(PyExc_ValueError, "nested deeper than %d levels", MPK_MAX_DEPTH);
    rc = mpk_read(r, &it);
    if (rc != 0)
        return PyErr_Format(PyExc_ValueError, "%s", mpk_strerror(rc));
    switch (it.type) {
    case MPK_NIL: Py_RETURN_NONE;
    case MPK_BOOL: return PyBool_FromLong(it.v.b);
    case MPK_UINT: return PyLong_FromUnsignedLongLong(it.v.u);
    case MPK_INT: return PyLong_FromLongLong(it.v.i);
    case MPK_FLOAT: return PyFloat_FromDouble(it.v.f);
    case MPK_STR: return PyUnicode_DecodeUTF8(it.v.s.ptr, it.v.s.len, "strict");
    case MPK_BIN: return PyBytes_FromStringAndSize(it.v.s.ptr, it.v.s.len);
    case MPK_ARRAY: return decode_array(r, it.v.n, depth);
    case MPK_MAP: return decode_map(r, it.v.n, depth);
    case MPK_EXT:
        return PyErr_Format(PyExc_ValueError, "MessagePack ext type %d is not supported",
                            (int)it.v.s.ext_type);
    }
    return PyErr_Format(PyExc_ValueError, "unknown MessagePack type");
}

PyObject *pyconv_decode(struct mpk_reader *r)
{
    return decode(r, 0);
}

/* ---- encoding -------------------------------------------------------- */

struct enc {
    msgpack_packer *pk;
    char *err;
    size_t errlen;
    char where[256]; /* path to the failing object, built as the error unwinds */
};

/* Prepends seg to the path of the failure (the innermost part is cut first
 * when the path is too long to keep). */
static void where_push(struct enc *e, const char *seg)
{
    size_t n = strlen(seg), have = strlen(e->where);

    if (n >= sizeof e->where)
        return;
    if (have + n >= sizeof e->where)
        have = sizeof e->where - n - 1;
    memmove(e->where + n, e->where, have);
    memcpy(e->where, seg, n);
    e->where[n + have] = '\0';
}

static int fail(struct enc *e, PyObject *obj, const char *why)
{
    snprintf(e->err, e->errlen, "type '%s' %s", Py_TYPE(obj)->tp_name, why);
    return -1;
}

static int encode(struct enc *e, PyObject *o, int depth);

static int encode_seq(struct enc *e, PyObject *o, int depth)
{
    Py_ssize_t i, n = PySequence_Fast_GET_SIZE(o);
    PyObject **items = PySequence_Fast_ITEMS(o);
    char seg[32];

    if (n > UINT32_MAX)
        return fail(e, o, "has more than 2**32-1 items");
    msgpack_pack_array(e->pk, (size_t)n);
    for (i = 0; i < n; i++) {
        if (encode(e, items[i], depth + 1) != 0) {
            snprintf(seg, sizeof seg, "[%zd]", i);
            where_push(e, seg);
            return -1;
        }
    }
    return 0;
}

static int encode_dict(struct enc *e, PyObject *o, int depth)
{
    Py_ssize_t pos = 0, n = PyDict_GET_SIZE(o);
    PyObject *k, *v;
    char seg[64];

    if (n > UINT32_MAX)
        return fail(e, o, "has more than 2**32-1 items");
    msgpack_pack_map(e->pk, (size_t)n);
    while (PyDict_Next(o, &pos, &k, &v)) {
        if (encode(e, k, depth + 1) != 0) {
            where_push(e, "{key}");
            return -1;
        }
        if (encode(e, v, depth + 1) != 0) {
            if (PyUnicode_Check(k))
                snprintf(seg, sizeof seg, "['%.40s']", PyUnicode_AsUTF8(k) ? PyUnicode_AsUTF8(k) : "?");
            else
                snprintf(seg, sizeof seg, "[<%s key>]", Py_TYPE(k)->tp_name);
            PyErr_Clear();
            where_push(e, seg);
            return -1;
        }
    }
    return 0;
}

static int encode_int(struct enc *e, PyObject *o)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    unsigned long long u;

    if (overflow == 0) {
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return fail(e, o, "cannot be read as an integer");
        }
        return msgpack_pack_long_long(e->pk, v);
    }
    if (overflow > 0) {
        u = PyLong_AsUnsignedLongLong(o);
        if (!(u == (unsigned long long)-1 && PyErr_Occurred()))
            return msgpack_pack_unsigned_long_long(e->pk, u);
        PyErr_Clear();
    }
    return fail(e, o, "value needs more than 64 bits (MessagePack ints are -2**63 to 2**64-1)");
}

static int encode(struct enc *e, PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);

    if (depth > MPK_MAX_DEPTH)
        return fail(e, o, "is nested deeper than 128 levels (a cyclic reference?)");
    if (o == Py_None)
        return msgpack_pack_nil(e->pk);
    if (o == Py_True)
        return msgpack_pack_true(e->pk);
    if (o == Py_False)
        return msgpack_pack_false(e->pk);
    if (t == &PyLong_Type || PyLong_Check(o))
        return encode_int(e, o);
    if (t == &PyFloat_Type || PyFloat_Check(o))
        return msgpack_pack_double(e->pk, PyFloat_AS_DOUBLE(o));
    if (t == &PyUnicode_Type || PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);

        if (s == NULL) {
            PyErr_Clear();
            return fail(e, o, "holds lone surrogates, which are not valid UTF-8");
        }
        msgpack_pack_str(e->pk, (size_t)n);
        return msgpack_pack_str_body(e->pk, s, (size_t)n);
    }
    if (PyBytes_Check(o)) {
        msgpack_pack_bin(e->pk, (size_t)PyBytes_GET_SIZE(o));
        return msgpack_pack_bin_body(e->pk, PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    }
    if (PyByteArray_Check(o)) {
        msgpack_pack_bin(e->pk, (size_t)PyByteArray_GET_SIZE(o));
        return msgpack_pack_bin_body(e->pk, PyByteArray_AS_STRING(o), (size_t)PyByteArray_GET_SIZE(o));
    }
    if (PyList_Check(o) || PyTuple_Check(o))
        return encode_seq(e, o, depth);
    if (PyDict_Check(o))
        return encode_dict(e, o, depth);
    if (PyMemoryView_Check(o)) {
        Py_buffer *b = PyMemoryView_GET_BUFFER(o);

        if (PyBuffer_IsContiguous(b, 'C')) {
            msgpack_pack_bin(e->pk, (size_t)b->len);
            return msgpack_pack_bin_body(e->pk, b->buf, (size_t)b->len);
        }
    }
    return fail(e, o, "is not in the MessagePack type mapping "
                   "(None, bool, int, float, str, bytes, bytearray, list, tuple, dict)");
}

int pyconv_encode(msgpack_packer *pk, PyObject *obj, const char *root, char *err, size_t errlen)
{
    struct enc e = {pk, err, errlen, ""};
    char msg[512];

    if (encode(&e, obj, 0) == 0)
        return 0;
    snprintf(msg, sizeof msg, "cannot encode %s%s: %s", root, e.where, err);
    snprintf(err, errlen, "%s", msg);
    return -1;
}
