/* executor_main: the pyrpool-executor process, one per executor.
 *
 * Started by the master with a socketpair on fd 3. Reads the INIT frame,
 * starts Debian's CPython with the configured sys.path, answers READY, then
 * loops: read every frame that has arrived (GIL released while waiting),
 * run each, and write all their RESULT frames with one write. It exits when
 * the master closes the socket, and dies with the master (PR_SET_PDEATHSIG). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <msgpack.h>

#include "frame.h"
#include "log.h"
#include "mpk.h"
#include "pyrun.h"
#include "rbuf.h"

#define MASTER_FD 3
#define READ_CHUNK 65536

struct init {
    char name[128];
    char **path;
    size_t npath;
    bool allow_eval;
};

/* Reads until buf holds one whole frame; returns its body length, 0 on EOF. */
static int64_t read_frame(struct rbuf *in)
{
    int64_t body;
    ssize_t n;

    for (;;) {
        if (in->len >= FRAME_PREFIX) {
            body = frame_body_len(in->data);
            if (body < 0)
                return -1;
            if (in->len - FRAME_PREFIX >= (size_t)body)
                return body;
        }
        if (rbuf_reserve(in, READ_CHUNK) != 0)
            return -1;
        n = read(MASTER_FD, in->data + in->len, in->cap - in->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        in->len += (size_t)n;
    }
}

static char *dup_str(const struct mpk_item *it)
{
    char *s = malloc(it->v.s.len + 1);

    if (s == NULL)
        abort();
    memcpy(s, it->v.s.ptr, it->v.s.len);
    s[it->v.s.len] = '\0';
    return s;
}

/* [FRAME_INIT, {"name": str, "path": [str...], "allow_eval": bool}] */
static int parse_init(const char *body, size_t len, struct init *init)
{
    struct mpk_reader r;
    struct mpk_item it, key;
    uint32_t i, j, n;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n != 2 || mpk_read(&r, &it) != 0 ||
        it.type != MPK_UINT || it.v.u != FRAME_INIT || mpk_read(&r, &it) != 0 || it.type != MPK_MAP)
        return -1;
    n = it.v.n;
    for (i = 0; i < n; i++) {
        if (mpk_read(&r, &key) != 0 || key.type != MPK_STR || mpk_read(&r, &it) != 0)
            return -1;
        if (key.v.s.len == 4 && memcmp(key.v.s.ptr, "name", 4) == 0 && it.type == MPK_STR) {
            snprintf(init->name, sizeof init->name, "%.*s", (int)it.v.s.len, it.v.s.ptr);
        } else if (key.v.s.len == 4 && memcmp(key.v.s.ptr, "path", 4) == 0 && it.type == MPK_ARRAY) {
            init->npath = it.v.n;
            init->path = calloc(it.v.n + 1, sizeof(char *));
            for (j = 0; j < init->npath; j++) {
                if (mpk_read(&r, &it) != 0 || it.type != MPK_STR)
                    return -1;
                init->path[j] = dup_str(&it);
            }
        } else if (key.v.s.len == 10 && memcmp(key.v.s.ptr, "allow_eval", 10) == 0 &&
                   it.type == MPK_BOOL) {
            init->allow_eval = it.v.b;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Writes all of buf; the GIL is released meanwhile. */
static int write_all(const char *buf, size_t len)
{
    ssize_t n = 0;

    Py_BEGIN_ALLOW_THREADS
    while (len > 0) {
        n = write(MASTER_FD, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf += n;
        len -= (size_t)n;
    }
    Py_END_ALLOW_THREADS
    return len == 0 ? 0 : -1;
}

static int start_python(const char *argv0)
{
    PyConfig config;
    PyStatus status;

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.buffered_stdio = 0;
    config.parse_argv = 0;
    status = PyConfig_SetBytesString(&config, &config.program_name, argv0);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        log_error("cannot start Python: %s", status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

/* Runs every complete frame in in, answering into out. */
static int run_frames(struct rbuf *in, msgpack_sbuffer *out)
{
    size_t off = 0;
    int64_t body;

    while (in->len - off >= FRAME_PREFIX) {
        body = frame_body_len(in->data + off);
        if (body < 0)
            return -1;
        if (in->len - off - FRAME_PREFIX < (size_t)body)
            break;
        if (pyrun_frame(out, in->data + off + FRAME_PREFIX, (size_t)body) != 0)
            return -1;
        off += FRAME_PREFIX + (size_t)body;
    }
    rbuf_consume(in, off);
    return 0;
}

static int serve(struct rbuf *in)
{
    msgpack_sbuffer out;
    ssize_t n;
    int rc = 0;

    msgpack_sbuffer_init(&out);
    for (;;) {
        if (run_frames(in, &out) != 0) {
            log_error("malformed frame from the master");
            rc = 1;
            break;
        }
        if (out.size > 0) {
            if (write_all(out.data, out.size) != 0)
                break;
            out.size = 0;
        }
        if (rbuf_reserve(in, READ_CHUNK) != 0) {
            rc = 1;
            break;
        }
        Py_BEGIN_ALLOW_THREADS
        do
            n = read(MASTER_FD, in->data + in->len, in->cap - in->len);
        while (n < 0 && errno == EINTR);
        Py_END_ALLOW_THREADS
        if (n <= 0)
            break; /* the master is gone or closed us: exit quietly */
        in->len += (size_t)n;
    }
    msgpack_sbuffer_destroy(&out);
    return rc;
}

int main(int argc, char **argv)
{
    struct init init = {.name = "executor"};
    struct rbuf in = {0};
    msgpack_sbuffer ready;
    msgpack_packer pk;
    char logname[160];
    int64_t body;
    size_t start, i;
    int rc, flags;

    if (argc == 3 && strcmp(argv[1], "--name") == 0)
        snprintf(init.name, sizeof init.name, "%s", argv[2]);
    snprintf(logname, sizeof logname, "executor %s", init.name);
    log_set_name(logname);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    flags = fcntl(MASTER_FD, F_GETFL);
    if (flags < 0) {
        fprintf(stderr, "pyrpool-executor: run by pyrpoold only (it talks on fd %d)\n", MASTER_FD);
        return 2;
    }
    fcntl(MASTER_FD, F_SETFL, flags & ~O_NONBLOCK);
    body = read_frame(&in);
    if (body <= 0 || parse_init(in.data + FRAME_PREFIX, (size_t)body, &init) != 0) {
        log_error("no valid INIT frame from the master");
        return 1;
    }
    rbuf_consume(&in, FRAME_PREFIX + (size_t)body);
    if (start_python(argv[0]) != 0 || pyrun_init(init.path, init.npath, init.allow_eval) != 0)
        return 1;

    msgpack_sbuffer_init(&ready);
    msgpack_packer_init(&pk, &ready, msgpack_sbuffer_write);
    start = frame_begin(&ready);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_READY);
    msgpack_pack_int(&pk, (int)getpid());
    frame_end(&ready, start);
    rc = write_all(ready.data, ready.size) == 0 ? serve(&in) : 1;
    msgpack_sbuffer_destroy(&ready);

    pyrun_fini();
    if (Py_FinalizeEx() < 0)
        rc = 1;
    rbuf_release(&in);
    for (i = 0; i < init.npath; i++)
        free(init.path[i]);
    free(init.path);
    return rc;
}
