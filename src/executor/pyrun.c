/* pyrun: running calls in the executor. See pyrun.h.
 *
 * Callables are resolved once per module:function with pkgutil.resolve_name
 * and cached in a small hash table keyed by the name bytes, so a warm call
 * costs one lookup, the argument decoding and one vectorcall. */
#include "pyrun.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mpk.h"
#include "protocol.h"
#include "pyconv.h"

/* More distinct callables than this and the cache starts over. */
#define CACHE_MAX 65536
/* Positional args decoded onto the stack up to this many. */
#define STACK_ARGS 16

struct cache_entry {
    uint64_t hash;
    uint32_t klen;
    char *key;          /* module '\0' function */
    PyObject *callable; /* strong reference */
};

static struct {
    struct cache_entry *slots;
    size_t cap;         /* a power of two */
    size_t count;
} cache;

static PyObject *resolve_name;  /* pkgutil.resolve_name (or the strict one), checked */
static PyObject *format_exc;    /* traceback.format_exception */
static PyObject *eval_globals;
static bool eval_allowed;

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    while (n-- > 0) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

static void cache_clear(void)
{
    size_t i;

    for (i = 0; i < cache.cap; i++) {
        if (cache.slots[i].key != NULL) {
            free(cache.slots[i].key);
            Py_DECREF(cache.slots[i].callable);
        }
    }
    free(cache.slots);
    memset(&cache, 0, sizeof cache);
}

static struct cache_entry *cache_slot(const char *key, uint32_t klen, uint64_t h)
{
    size_t i = h & (cache.cap - 1);

    while (cache.slots[i].key != NULL &&
           !(cache.slots[i].hash == h && cache.slots[i].klen == klen &&
             memcmp(cache.slots[i].key, key, klen) == 0))
        i = (i + 1) & (cache.cap - 1);
    return &cache.slots[i];
}

static int cache_grow(void)
{
    struct cache_entry *old = cache.slots;
    size_t oldcap = cache.cap, i;

    cache.cap = oldcap ? oldcap * 2 : 64;
    cache.slots = calloc(cache.cap, sizeof *cache.slots);
    if (cache.slots == NULL) {
        cache.slots = old;
        cache.cap = oldcap;
        return -1;
    }
    for (i = 0; i < oldcap; i++)
        if (old[i].key != NULL)
            *cache_slot(old[i].key, old[i].klen, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* module:function -> callable (a new reference: in thread mode another
 * thread may clear the cache while this one calls it), or NULL with an
 * exception set. */
static PyObject *lookup(const char *module, uint32_t mlen, const char *function, uint32_t flen)
{
    char key[2 * 256 + 2];
    uint32_t klen = mlen + 1 + flen;
    uint64_t h;
    struct cache_entry *e;
    PyObject *name, *callable;

    if (mlen > 255 || flen > 255)
        return PyErr_Format(PyExc_ValueError, "name too long");
    memcpy(key, module, mlen);
    key[mlen] = ':';
    memcpy(key + mlen + 1, function, flen);
    h = hash_key(key, klen);
    if (cache.cap > 0) {
        e = cache_slot(key, klen, h);
        if (e->key != NULL) {
            Py_INCREF(e->callable);
            return e->callable;
        }
    }
    name = PyUnicode_DecodeUTF8(key, klen, "strict");
    if (name == NULL)
        return NULL;
    callable = PyObject_CallOneArg(resolve_name, name); /* checks it is callable */
    Py_DECREF(name);
    if (callable == NULL)
        return NULL;
    if (cache.count >= CACHE_MAX)
        cache_clear();
    if ((cache.count + 1) * 2 > cache.cap && cache_grow() != 0) {
        Py_DECREF(callable);
        return PyErr_NoMemory();
    }
    e = cache_slot(key, klen, h);
    if (e->key != NULL) /* another thread resolved it while this one imported */
        return callable;
    e->key = malloc(klen);
    if (e->key == NULL) {
        Py_DECREF(callable);
        return PyErr_NoMemory();
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    e->callable = callable;
    cache.count++;
    Py_INCREF(callable);
    return callable;
}

/* ---- answers --------------------------------------------------------- */

static void pack_str_obj(msgpack_packer *pk, PyObject *s)
{
    PyObject *b = s ? PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace") : NULL;

    if (b == NULL) {
        PyErr_Clear();
        msgpack_pack_str_with_body(pk, "?", 1);
        return;
    }
    msgpack_pack_str_with_body(pk, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Index of the map item being run, -1 outside map: error maps carry it. */
static _Thread_local int64_t map_index = -1;

static void pack_index(msgpack_packer *pk)
{
    if (map_index < 0)
        return;
    pack_cstr(pk, "index");
    msgpack_pack_int64(pk, map_index);
}

/* Packs the daemon-side error {type, message, traceback: nil}. */
static void pack_error(msgpack_packer *pk, const char *type, const char *message)
{
    msgpack_pack_map(pk, map_index < 0 ? 3 : 4);
    pack_index(pk);
    pack_cstr(pk, "type");
    pack_cstr(pk, type);
    pack_cstr(pk, "message");
    pack_cstr(pk, message);
    pack_cstr(pk, "traceback");
    msgpack_pack_nil(pk);
}

/* Packs the pending Python exception as {type, message, traceback} and
 * clears it. With as_type set, the map's type is that instead and the
 * message is "prefix: ExcName: text" (bad arguments are BadRequest). */
static void pack_exception(msgpack_packer *pk, const char *as_type, const char *prefix)
{
    PyObject *type, *value, *tb, *name, *msg, *lines, *text = NULL, *empty;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    name = PyObject_GetAttrString(type, "__name__");
    msg = value ? PyObject_Str(value) : NULL;
    PyErr_Clear();
    msgpack_pack_map(pk, map_index < 0 ? 3 : 4);
    pack_index(pk);
    pack_cstr(pk, "type");
    if (as_type != NULL) {
        PyObject *full = PyUnicode_FromFormat("%s: %S: %S", prefix, name ? name : Py_None,
                                              msg ? msg : Py_None);

        pack_cstr(pk, as_type);
        pack_cstr(pk, "message");
        pack_str_obj(pk, full);
        Py_XDECREF(full);
        pack_cstr(pk, "traceback");
        msgpack_pack_nil(pk);
    } else {
        pack_str_obj(pk, name);
        pack_cstr(pk, "message");
        pack_str_obj(pk, msg);
        pack_cstr(pk, "traceback");
        lines = PyObject_CallFunctionObjArgs(format_exc, type, value ? value : Py_None,
                                             tb ? tb : Py_None, NULL);
        empty = PyUnicode_FromString("");
        if (lines != NULL && empty != NULL)
            text = PyUnicode_Join(empty, lines);
        PyErr_Clear();
        if (text != NULL)
            pack_str_obj(pk, text);
        else
            msgpack_pack_nil(pk);
        Py_XDECREF(text);
        Py_XDECREF(empty);
        Py_XDECREF(lines);
    }
    Py_XDECREF(name);
    Py_XDECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

char *pyrun_format_exception(void)
{
    PyObject *type, *value, *tb, *lines = NULL, *empty = NULL, *text = NULL, *bytes = NULL;
    char *out = NULL;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (type != NULL && format_exc != NULL)
        lines = PyObject_CallFunctionObjArgs(format_exc, type, value ? value : Py_None, tb ? tb : Py_None, NULL);
    empty = PyUnicode_FromString("");
    if (lines != NULL && empty != NULL)
        text = PyUnicode_Join(empty, lines);
    if (text != NULL)
        bytes = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
    if (bytes != NULL)
        out = strdup(PyBytes_AS_STRING(bytes));
    PyErr_Clear();
    Py_XDECREF(bytes);
    Py_XDECREF(text);
    Py_XDECREF(empty);
    Py_XDECREF(lines);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return out;
}

/* Packs [nil, result] or, if result cannot be encoded, [EncodeError, nil]. */
static void pack_result(msgpack_sbuffer *out, msgpack_packer *pk, PyObject *result)
{
    size_t mark = out->size;
    char err[512];

    msgpack_pack_nil(pk);
    if (pyconv_encode(pk, result, "result", err, sizeof err) == 0)
        return;
    out->size = mark;
    pack_error(pk, ERROR_ENCODE, err);
    msgpack_pack_nil(pk);
}

/* ---- frames ---------------------------------------------------------- */

static int read_str(struct mpk_reader *r, const char **p, uint32_t *n)
{
    struct mpk_item it;

    if (mpk_read(r, &it) != 0 || (it.type != MPK_STR && it.type != MPK_BIN))
        return -1;
    *p = it.v.s.ptr;
    *n = it.v.s.len;
    return 0;
}

/* Decodes positional args into argv (stack or heap); returns the count or -1. */
static Py_ssize_t decode_args(struct mpk_reader *r, PyObject **stack, PyObject ***argv)
{
    struct mpk_item it;
    uint32_t i, n;

    *argv = stack;
    if (mpk_read(r, &it) != 0) {
        PyErr_SetString(PyExc_ValueError, "truncated args");
        return -1;
    }
    if (it.type == MPK_NIL)
        return 0;
    if (it.type != MPK_ARRAY) {
        PyErr_SetString(PyExc_TypeError, "args must be an array");
        return -1;
    }
    n = it.v.n;
    if (n > (size_t)(r->end - r->p)) {
        PyErr_SetString(PyExc_ValueError, "args array is longer than its data");
        return -1;
    }
    if (n > STACK_ARGS && (*argv = PyMem_Malloc(n * sizeof(PyObject *))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        (*argv)[i] = pyconv_decode(r);
        if ((*argv)[i] == NULL) {
            while (i-- > 0)
                Py_DECREF((*argv)[i]);
            if (*argv != stack)
                PyMem_Free(*argv);
            return -1;
        }
    }
    return n;
}

static void free_args(PyObject **argv, Py_ssize_t n, PyObject **stack)
{
    Py_ssize_t i;

    for (i = 0; i < n; i++)
        Py_DECREF(argv[i]);
    if (argv != stack)
        PyMem_Free(argv);
}

/* EVAL expr, locals / EXEC code. */
static void run_eval(msgpack_sbuffer *out, msgpack_packer *pk, struct mpk_reader *r, bool exec)
{
    const char *code;
    uint32_t len;
    PyObject *locals = NULL, *result;
    char *src;

    if (!eval_allowed) {
        pack_error(pk, "Forbidden", "eval and exec are disabled");
        msgpack_pack_nil(pk);
        return;
    }
    if (read_str(r, &code, &len) != 0) {
        pack_error(pk, ERROR_BAD_REQUEST, "code must be a str");
        msgpack_pack_nil(pk);
        return;
    }
    if (!exec && r->p < r->end && *(const unsigned char *)r->p != 0xc0) {
        locals = pyconv_decode(r);
        if (locals == NULL) {
            pack_exception(pk, ERROR_BAD_REQUEST, "cannot decode locals");
            msgpack_pack_nil(pk);
            return;
        }
    }
    src = PyMem_Malloc(len + 1);
    if (src == NULL) {
        Py_XDECREF(locals);
        PyErr_NoMemory();
        pack_exception(pk, NULL, NULL);
        msgpack_pack_nil(pk);
        return;
    }
    memcpy(src, code, len);
    src[len] = '\0';
    result = PyRun_String(src, exec ? Py_file_input : Py_eval_input, eval_globals,
                          locals ? locals : eval_globals);
    PyMem_Free(src);
    Py_XDECREF(locals);
    if (result == NULL) {
        pack_exception(pk, NULL, NULL);
        msgpack_pack_nil(pk);
        return;
    }
    pack_result(out, pk, result);
    Py_DECREF(result);
}

/* Calls callable(*args, **kwargs) for the args array at r; returns a new
 * reference or NULL with an exception set, *bad set when the args could not
 * be decoded (a BadRequest, not the function's own error). */
static PyObject *call_with(PyObject *callable, struct mpk_reader *r, PyObject *kwargs, bool *bad)
{
    PyObject *stack[STACK_ARGS], **argv, *result;
    Py_ssize_t nargs = decode_args(r, stack, &argv);

    *bad = nargs < 0;
    if (nargs < 0)
        return NULL;
    result = PyObject_VectorcallDict(callable, argv, (size_t)nargs, kwargs);
    free_args(argv, nargs, stack);
    return result;
}

/* CALL: module, function, args, kwargs. */
static void run_call(msgpack_sbuffer *out, msgpack_packer *pk, struct mpk_reader *r)
{
    const char *module, *function;
    uint32_t mlen, flen;
    PyObject *callable, *kwargs = NULL, *result;
    struct mpk_reader args;
    bool bad;

    if (read_str(r, &module, &mlen) != 0 || read_str(r, &function, &flen) != 0) {
        pack_error(pk, ERROR_BAD_REQUEST, "module and function must be str");
        msgpack_pack_nil(pk);
        return;
    }
    callable = lookup(module, mlen, function, flen);
    if (callable == NULL) {
        pack_exception(pk, NULL, NULL);
        msgpack_pack_nil(pk);
        return;
    }
    args = *r;
    mpk_skip(r);
    if (r->p < r->end && *(const unsigned char *)r->p != 0xc0) {
        kwargs = pyconv_decode(r);
        if (kwargs == NULL || !PyDict_Check(kwargs)) {
            if (kwargs != NULL)
                PyErr_SetString(PyExc_TypeError, "kwargs must be a map");
            Py_XDECREF(kwargs);
            Py_DECREF(callable);
            pack_exception(pk, ERROR_BAD_REQUEST, "cannot decode kwargs");
            msgpack_pack_nil(pk);
            return;
        }
    }
    result = call_with(callable, &args, kwargs, &bad);
    Py_DECREF(callable);
    Py_XDECREF(kwargs);
    if (result == NULL) {
        pack_exception(pk, bad ? ERROR_BAD_REQUEST : NULL, bad ? "cannot decode args" : NULL);
        msgpack_pack_nil(pk);
        return;
    }
    pack_result(out, pk, result);
    Py_DECREF(result);
}

/* A MAP frame's chunk: one function over a run of argument arrays. */
struct map_chunk {
    const char *module, *function;
    uint32_t mlen, flen;
    uint64_t base;              /* the first item's index in the whole map */
    uint32_t n;                 /* items */
    struct mpk_reader items;    /* at the first item's args array */
};

/* Reads module, function, base_index and the items (skipped over: items
 * points at them) of a MAP chunk, leaving r at its kwargs. Returns 0, or
 * -1 when they are not there. */
static int read_map_chunk(struct mpk_reader *r, struct map_chunk *c)
{
    struct mpk_item it;
    uint32_t i;

    if (read_str(r, &c->module, &c->mlen) != 0 || read_str(r, &c->function, &c->flen) != 0 ||
        mpk_read(r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    c->base = it.v.u;
    if (mpk_read(r, &it) != 0 || it.type != MPK_ARRAY)
        return -1;
    c->n = it.v.n;
    c->items = *r;
    for (i = 0; i < c->n; i++)
        mpk_skip(r);
    return 0;
}

/* The kwargs at r, decoded: *kwargs is NULL for nil or none. Returns 0, or
 * -1 with a Python exception set. */
static int read_map_kwargs(struct mpk_reader *r, PyObject **kwargs)
{
    *kwargs = NULL;
    if (r->p >= r->end || *(const unsigned char *)r->p == 0xc0)
        return 0;
    *kwargs = pyconv_decode(r);
    return *kwargs != NULL ? 0 : -1;
}

/* Calls callable on each item of c in turn, packing [nil, [results...]];
 * at the first item that fails, what was packed is dropped for that
 * item's [error, nil] (its error map carries map_index). */
static void map_items(msgpack_sbuffer *out, msgpack_packer *pk, PyObject *callable,
                      struct map_chunk *c, PyObject *kwargs)
{
    size_t mark = out->size;
    char err[512];
    PyObject *result;
    uint32_t i;
    bool bad;
    int rc;

    msgpack_pack_nil(pk);
    msgpack_pack_array(pk, c->n);
    for (i = 0; i < c->n; i++) {
        map_index = (int64_t)(c->base + i);
        result = call_with(callable, &c->items, kwargs, &bad);
        if (result == NULL) {
            out->size = mark;
            pack_exception(pk, bad ? ERROR_BAD_REQUEST : NULL, bad ? "cannot decode args" : NULL);
            msgpack_pack_nil(pk);
            return;
        }
        rc = pyconv_encode(pk, result, "result", err, sizeof err);
        Py_DECREF(result);
        if (rc != 0) {
            out->size = mark;
            pack_error(pk, ERROR_ENCODE, err);
            msgpack_pack_nil(pk);
            return;
        }
    }
}

/* MAP: module, function, base_index, [args...], kwargs. Packs [nil, results]
 * or the first failing item's error with its index. */
static void run_map(msgpack_sbuffer *out, msgpack_packer *pk, struct mpk_reader *r)
{
    struct map_chunk c;
    PyObject *callable, *kwargs;

    if (read_map_chunk(r, &c) != 0) {
        pack_error(pk, ERROR_BAD_REQUEST, "malformed map chunk");
        msgpack_pack_nil(pk);
        return;
    }
    map_index = (int64_t)c.base;
    if ((callable = lookup(c.module, c.mlen, c.function, c.flen)) == NULL) {
        pack_exception(pk, NULL, NULL);
        msgpack_pack_nil(pk);
    } else if (read_map_kwargs(r, &kwargs) != 0) {
        Py_DECREF(callable);
        pack_exception(pk, ERROR_BAD_REQUEST, "cannot decode kwargs");
        msgpack_pack_nil(pk);
    } else {
        map_items(out, pk, callable, &c, kwargs);
        Py_DECREF(callable);
        Py_XDECREF(kwargs);
    }
    map_index = -1;
}

int pyrun_frame(msgpack_sbuffer *out, const char *body, size_t len)
{
    struct mpk_reader r;
    struct mpk_item it;
    msgpack_packer pk;
    uint64_t kind, id;
    size_t start;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n < 3)
        return -1;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    kind = it.v.u;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    id = it.v.u;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT) /* timeout_ms: serial.c's */
        return -1;
    if (kind != FRAME_CALL && kind != FRAME_EVAL && kind != FRAME_EXEC && kind != FRAME_MAP)
        return -1;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    start = frame_begin(out);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, FRAME_RESULT);
    msgpack_pack_uint64(&pk, id);
    if (kind == FRAME_CALL)
        run_call(out, &pk, &r);
    else if (kind == FRAME_MAP)
        run_map(out, &pk, &r);
    else
        run_eval(out, &pk, &r, kind == FRAME_EXEC);
    frame_end(out, start);
    return 0;
}

/* Under python.allow the master lets only calls to allowed modules through,
 * but module:a.b.c is an attribute chain, and attributes lead to other
 * modules (json:codecs.builtins.eval): this resolver refuses a chain that
 * passes through a module, and names that start with _. */
static const char strict_resolver[] =
    "import importlib, types\n"
    "def resolve(name):\n"
    "    module, _, function = name.partition(':')\n"
    "    obj = importlib.import_module(module)\n"
    "    parts = function.split('.')\n"
    "    for i, part in enumerate(parts):\n"
    "        if not part or part.startswith('_'):\n"
    "            raise PermissionError(f'{name}: under python.allow a function name may not start with _')\n"
    "        obj = getattr(obj, part)\n"
    "        if i + 1 < len(parts) and isinstance(obj, types.ModuleType):\n"
    "            raise PermissionError(f'{name}: {part} is the module {obj.__name__}, which python.allow does '\n"
    "                                  'not let a call reach through another one')\n"
    "    return obj\n";

/* What every resolver is wrapped in: errors that say what to do instead. A
 * module path that names a class ("collections.OrderedDict" + "fromkeys",
 * as the shorthand splits collections.OrderedDict.fromkeys) gets a hint to
 * write module:Class.method; eval and exec need a calling frame, which a
 * call from C has not, so they point to the eval and exec methods; a value
 * that cannot be called says what it is. */
static const char checked_resolver[] =
    "import builtins, importlib\n"
    "def checked(base):\n"
    "    def resolve(name):\n"
    "        try:\n"
    "            obj = base(name)\n"
    "        except ModuleNotFoundError as e:\n"
    "            module, _, function = name.partition(':')\n"
    "            parent, _, attr = module.rpartition('.')\n"
    "            if e.name != module or not parent:\n"
    "                raise\n"
    "            try:\n"
    "                found = hasattr(importlib.import_module(parent), attr)\n"
    "            except Exception:\n"
    "                found = False\n"
    "            if not found:\n"
    "                raise\n"
    "            raise ModuleNotFoundError(f'No module named {module!r}: {attr!r} is an attribute of the module '\n"
    "                                      f'{parent!r}; call it as module {parent!r}, function '\n"
    "                                      f'{attr + \".\" + function!r} (shorthand '\n"
    "                                      f'\"{parent}:{attr}.{function}\")', name=module) from None\n"
    "        if obj is builtins.eval or obj is builtins.exec:\n"
    "            raise TypeError(f'{name} cannot run through call (it needs a calling frame): use the '\n"
    "                            f'{obj.__name__} method, which python.allow_eval turns on')\n"
    "        if not callable(obj):\n"
    "            raise TypeError(f'{name} is a {type(obj).__name__!r}, which is not callable')\n"
    "        return obj\n"
    "    return resolve\n";

/* Runs src in a namespace of its own and returns its function fname (a new
 * reference), or NULL with an exception set. */
static PyObject *define(const char *src, const char *fname)
{
    PyObject *ns = PyDict_New(), *code, *r, *fn = NULL;

    if (ns == NULL || PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) != 0) {
        Py_XDECREF(ns);
        return NULL;
    }
    code = Py_CompileString(src, "<pyrpool resolver>", Py_file_input);
    r = code != NULL ? PyEval_EvalCode(code, ns, ns) : NULL;
    Py_XDECREF(code);
    if (r != NULL) {
        fn = PyDict_GetItemString(ns, fname); /* borrowed */
        Py_XINCREF(fn);
        Py_DECREF(r);
    }
    Py_DECREF(ns);
    return fn;
}

/* base (pkgutil.resolve_name or the strict resolver) wrapped in checked. */
static PyObject *make_resolver(PyObject *base)
{
    PyObject *wrap = define(checked_resolver, "checked"), *fn = NULL;

    if (wrap != NULL && base != NULL)
        fn = PyObject_CallOneArg(wrap, base);
    Py_XDECREF(wrap);
    Py_XDECREF(base);
    return fn;
}

int pyrun_init(char **path, size_t npath, bool allow_eval, bool strict_names)
{
    PyObject *sys_path, *mod, *entry;
    size_t i;

    sys_path = PySys_GetObject("path"); /* borrowed */
    for (i = npath; i-- > 0;) {
        entry = PyUnicode_DecodeFSDefault(path[i]);
        if (entry == NULL || sys_path == NULL || PyList_Insert(sys_path, 0, entry) != 0)
            goto fail;
        Py_DECREF(entry);
    }
    if (strict_names) {
        resolve_name = make_resolver(define(strict_resolver, "resolve"));
    } else {
        if ((mod = PyImport_ImportModule("pkgutil")) == NULL)
            goto fail;
        resolve_name = make_resolver(PyObject_GetAttrString(mod, "resolve_name"));
        Py_DECREF(mod);
    }
    if ((mod = PyImport_ImportModule("traceback")) == NULL)
        goto fail;
    format_exc = PyObject_GetAttrString(mod, "format_exception");
    Py_DECREF(mod);
    eval_globals = PyDict_New();
    if (resolve_name == NULL || format_exc == NULL || eval_globals == NULL ||
        PyDict_SetItemString(eval_globals, "__builtins__", PyEval_GetBuiltins()) != 0)
        goto fail;
    eval_allowed = allow_eval;
    return 0;
fail:
    PyErr_Print();
    return -1;
}

void pyrun_fini(void)
{
    cache_clear();
    Py_CLEAR(resolve_name);
    Py_CLEAR(format_exc);
    Py_CLEAR(eval_globals);
}
