/* Fuzz target: the executor's MessagePack -> Python -> MessagePack
 * conversion (pyconv.c) on arbitrary bytes, as call arguments arrive and
 * results leave. Each object decoded is encoded again; what that gives
 * must decode and encode to the same bytes (the conversion is stable).
 * Python runs with PYTHONMALLOC=malloc so that ASan sees its objects. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyconv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes obj into sb (emptied first); 0, or -1 when it cannot be. */
static int encode(msgpack_sbuffer *sb, PyObject *obj)
{
    msgpack_packer pk;
    char err[256];

    sb->size = 0;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    return pyconv_encode(&pk, obj, "result", err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static msgpack_sbuffer first, second;
    struct mpk_reader r, again;
    PyObject *obj, *back;

    if (!Py_IsInitialized()) {
        setenv("PYTHONMALLOC", "malloc", 1);
        Py_InitializeEx(0);
        msgpack_sbuffer_init(&first);
        msgpack_sbuffer_init(&second);
    }
    mpk_reader_init(&r, (const char *)data, size);
    while (r.p < r.end && (obj = pyconv_decode(&r)) != NULL) {
        if (encode(&first, obj) == 0) {
            mpk_reader_init(&again, first.data, first.size);
            back = pyconv_decode(&again);
            if (back == NULL || again.p != again.end || encode(&second, back) != 0 ||
                second.size != first.size || memcmp(first.data, second.data, first.size) != 0)
                abort();
            Py_DECREF(back);
        }
        PyErr_Clear();
        Py_DECREF(obj);
    }
    PyErr_Clear();
    return 0;
}
