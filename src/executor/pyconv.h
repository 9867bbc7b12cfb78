/* pyconv: MessagePack <-> Python objects, directly, in the executor.
 *
 * Decoding reads the client's bytes with the mpk cursor straight into Python
 * objects; encoding packs Python objects with msgpack-c. The mapping is the
 * one proto/PROTOCOL.md documents: nil/None, bool, int (64-bit signed and
 * unsigned), float, str, bin/bytes (bytearray and memoryview encode as bin),
 * array/list (tuples encode as arrays), map/dict. Anything else, an int that
 * needs more than 64 bits, or nesting deeper than MPK_MAX_DEPTH (a cyclic
 * list, say) fails with a message naming the type and where it was. */
#ifndef PYRPOOL_PYCONV_H
#define PYRPOOL_PYCONV_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <msgpack.h>

#include "mpk.h"

/* Reads one object at r. Returns a new reference, or NULL with a Python
 * exception set (UnicodeDecodeError, TypeError for an unhashable key,
 * ValueError for ext types or truncated data). */
PyObject *pyconv_decode(struct mpk_reader *r);

/* Packs obj. Returns 0, or -1 with "what and where" in err; the caller
 * rolls back whatever was packed. root names the object in err ("result"). */
int pyconv_encode(msgpack_packer *pk, PyObject *obj, const char *root, char *err, size_t errlen);

#endif
