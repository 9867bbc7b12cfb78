/* main: the pyrpool-executor process, one per executor (and per pool's
 * template).
 *
 * Started by the master with a socketpair on fd 3 and its pool's boards on
 * fd 4 (board.h). Reads the INIT frame (init.h), starts Debian's CPython
 * with the configured sys.path, imports python.preload, then either forks
 * executors as its pool's template (forkserver.c) or serves calls:
 * serial.c runs a process-mode executor's batches, threads.c a thread-mode
 * executor's calls. guard.c keeps the process accountable to the master
 * (signals, its process group, fork() in a call). It exits when the master
 * closes the socket, and dies with the master (PR_SET_PDEATHSIG). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "board.h"
#include "confine.h"
#include "forkserver.h"
#include "frame.h"
#include "guard.h"
#include "init.h"
#include "log.h"
#include "proctitle.h"
#include "pyrun.h"
#include "serial.h"
#include "stop.h"
#include "threads.h"
#include "wire.h"

/* Python makes stdout block-buffered when it is a pipe (the master's, when
 * it captures executors' output): a print would wait in the buffer until
 * 8 KiB gather or the process ends. Line-buffered, each line reaches the
 * master's log when it is printed, in one write. stderr is line-buffered
 * already; it is asked too, in case a venv's site customisation changed
 * it. A stream that cannot be changed stays as it is (logged). */
static void line_buffered_stdio(void)
{
    static const char *const names[] = {"stdout", "stderr"};
    PyObject *args = PyTuple_New(0), *kw = Py_BuildValue("{s:O}", "line_buffering", Py_True), *f, *meth, *r;
    size_t i;

    for (i = 0; i < 2 && args != NULL && kw != NULL; i++) {
        f = PySys_GetObject(names[i]); /* borrowed */
        if (f == NULL || f == Py_None)
            continue;
        meth = PyObject_GetAttrString(f, "reconfigure");
        r = meth != NULL ? PyObject_Call(meth, args, kw) : NULL;
        if (r == NULL) {
            PyErr_Clear();
            log_warn("cannot make sys.%s line-buffered: its lines may reach the log late", names[i]);
        }
        Py_XDECREF(r);
        Py_XDECREF(meth);
    }
    Py_XDECREF(args);
    Py_XDECREF(kw);
}

/* Starts the interpreter; in venv (python.venv, "" for none) as that
 * environment's own python3 would start: with its bin/python3 as the
 * executable, Python's path setup reads pyvenv.cfg beside it and site.py
 * makes the venv sys.prefix and adds its site-packages and .pth files. */
static int start_python(const char *argv0, const char *venv)
{
    char exe[4200];
    PyConfig config;
    PyStatus status;

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    status = PyConfig_SetBytesString(&config, &config.program_name, argv0);
    if (!PyStatus_Exception(status) && venv[0] != '\0') {
        snprintf(exe, sizeof exe, "%s/bin/python3", venv);
        status = PyConfig_SetBytesString(&config, &config.executable, exe);
    }
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        log_error("cannot start Python: %s", status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    line_buffered_stdio();
    return 0;
}

/* Maps board i of the pool's memfd (BOARD_FD), which it then closes: what
 * this process's calls start cannot reach the other executors' boards. */
static struct board *attach_board(int i)
{
    void *p;

    if (i < 0) {
        log_error("no board from the master");
        return NULL;
    }
    p = mmap(NULL, BOARD_STRIDE, PROT_READ | PROT_WRITE, MAP_SHARED, BOARD_FD, (off_t)i * (off_t)BOARD_STRIDE);
    close(BOARD_FD);
    if (p == MAP_FAILED) {
        log_error("cannot map board %d: %s", i, strerror(errno));
        return NULL;
    }
    return p;
}

#if defined(__SANITIZE_ADDRESS__)

/* LeakSanitizer's hook: CPython keeps much of its memory until exit by
 * design, so leak reports from executors are noise; the master's count. */
int __lsan_is_turned_off(void);

int __lsan_is_turned_off(void)
{
    return 1;
}

#endif

/* Reads the INIT frame into init. Returns 0, or the exit status (logged):
 * 2 when fd 3 is not open (run by hand), 1 for no valid INIT frame. */
static int read_init(struct rbuf *in, struct frame_init *init)
{
    int64_t body;
    int flags = fcntl(FRAME_MASTER_FD, F_GETFL);

    if (flags < 0) {
        fprintf(stderr, "pyrpool-executor: run by pyrpoold only (it talks on fd %d)\n", FRAME_MASTER_FD);
        return 2;
    }
    fcntl(FRAME_MASTER_FD, F_SETFL, flags & ~O_NONBLOCK);
    body = wire_read_frame(in);
    if (body <= 0 || init_parse(in->data + FRAME_PREFIX, (size_t)body, init) != 0) {
        log_error("no valid INIT frame from the master");
        return 1;
    }
    rbuf_consume(in, FRAME_PREFIX + (size_t)body);
    return 0;
}

/* Starts Python with init's sys.path and imports python.preload: READY
 * only once these are imported. Returns 0, or the exit status: 3 when a
 * preload fails (the master backs off), 1 otherwise. */
static int start(const char *argv0, const struct frame_init *init)
{
    PyObject *mod;
    size_t i;

    if (start_python(argv0, init->venv) != 0 || pyrun_init(init->path, init->npath, init->allow_eval, init->strict_names) != 0 ||
        stop_init() != 0)
        return 1;
    for (i = 0; i < init->npreload; i++) {
        if ((mod = PyImport_ImportModule(init->preload[i])) == NULL) {
            char *tb = pyrun_format_exception();

            log_error("preloading %s failed: %s", init->preload[i], tb != NULL ? tb : "(no traceback)");
            free(tb);
            return 3;
        }
        Py_DECREF(mod);
    }
    return 0;
}

/* Names this process in its log lines ("executor <name>") and in ps. */
static void set_name(const char *name, bool threads)
{
    char logname[160];

    snprintf(logname, sizeof logname, "executor %s", name);
    log_set_name(logname);
    proctitle_set(name, threads);
}

/* Before the INIT frame: the log's name from --name and its descriptor,
 * C's stdout line-buffered (as Python's: a C extension's printf lines
 * reach the log as they are printed), death with the master, the guard's
 * signals. */
static void prepare(int argc, char **argv, struct frame_init *init)
{
    if (argc == 3 && strcmp(argv[1], "--name") == 0)
        snprintf(init->name, sizeof init->name, "%s", argv[2]);
    if (fcntl(FRAME_LOG_FD, F_GETFD) >= 0)
        log_set_fd(FRAME_LOG_FD);
    setvbuf(stdout, NULL, _IOLBF, 0);
    proctitle_init(argc, argv);
    set_name(init->name, false);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    guard_init();
    signal(SIGPIPE, SIG_IGN);
}

/* A template: READY, then fork executors. Returns 0 in each forked child,
 * which goes on as an executor on a socket of its own, its name and board
 * in init; -1 when READY could not be sent (the template then exits 0). */
static int fork_executors(struct rbuf *in, struct frame_init *init)
{
    if (wire_send_ready() != 0)
        return -1;
    forkserver_run(in, init->capture_output, init->name, sizeof init->name, &init->board);
    set_name(init->name, init->threads);
    return 0;
}

/* Process mode's watcher threads (serial.c); thread mode starts its
 * threads per call, and the slow-call watcher (threads.c). Returns 0 or -1
 * (logged). */
static int start_runner(struct board *board, const struct frame_init *init)
{
    if (!init->threads && serial_start(board, init->handback_ms, init->spin_us, init->slow_call_ms) != 0) {
        log_error("cannot start the watcher threads");
        return -1;
    }
    if (init->threads && threads_start(init->slow_call_ms) != 0) {
        log_error("cannot start the slow-call watcher");
        return -1;
    }
    return 0;
}

/* After serving: stops the runner and Python and frees the rest. Returns
 * rc, or 1 when Python did not end cleanly. */
static int finish(struct rbuf *in, struct frame_init *init, int rc)
{
    serial_fini();
    stop_fini();
    pyrun_fini();
    if (Py_FinalizeEx() < 0)
        rc = 1;
    rbuf_release(in);
    init_free(init);
    return rc;
}

/* pyrpoold --check's throwaway executor: pyrpool-executor --check-imports
 * [--venv DIR] [--path DIR]... -- MODULE...: starts Python as an executor
 * would (venv, python.path) and imports each module; one line
 * "MODULE<TAB>Type: message" on stdout for each that fails. Exit status 0
 * when every one imports, 1 when one does not, 2 for bad arguments. */
static int check_imports(int argc, char **argv)
{
    char *paths[256];
    const char *venv = "";
    PyObject *mod, *type, *value, *tb, *text;
    size_t npaths = 0;
    int i = 2, failed = 0;

    for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc || npaths == 256)
            return 2;
        if (strcmp(argv[i], "--venv") == 0)
            venv = argv[i + 1];
        else if (strcmp(argv[i], "--path") == 0)
            paths[npaths++] = argv[i + 1];
        else
            return 2;
    }
    if (start_python(argv[0], venv) != 0 || pyrun_init(paths, npaths, false, false) != 0)
        return 1;
    for (i++; i < argc; i++) {
        mod = PyImport_ImportModule(argv[i]);
        if (mod != NULL) {
            Py_DECREF(mod);
            continue;
        }
        failed = 1;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        text = value != NULL ? PyObject_Str(value) : NULL;
        printf("%s\t%s: %s\n", argv[i], type != NULL ? ((PyTypeObject *)type)->tp_name : "Error",
               text != NULL ? PyUnicode_AsUTF8(text) : "?");
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    fflush(stdout);
    return failed;
}

int main(int argc, char **argv)
{
    struct frame_init init = {.name = "executor", .handback_ms = 10, .board = -1, .uid = -1, .gid = -1,
                              .log_level = LOG_INFO};
    struct rbuf in = {0};
    struct board *board;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "--check-imports") == 0)
        return check_imports(argc, argv);
    if (confine() != 0)
        return 1;
    prepare(argc, argv, &init);
    if ((rc = read_init(&in, &init)) != 0)
        return rc;
    log_set_level((enum log_level)(init.log_level <= LOG_ERROR ? init.log_level : LOG_INFO));
    log_set_json(init.log_json);
    set_name(init.name, init.threads && !init.template);
    if (init.uid >= 0 && confine_user(init.uid, init.gid) != 0)
        return 1;
    if ((rc = start(argv[0], &init)) != 0)
        return rc;
    if (init.template && fork_executors(&in, &init) != 0)
        return 0;
    if ((board = attach_board(init.board)) == NULL || guard_serve(board) != 0 ||
        start_runner(board, &init) != 0)
        return 1;
    if (wire_send_ready() != 0)
        rc = 1;
    else
        rc = init.threads ? threads_serve(&in, board) : serial_serve(&in);
    return finish(&in, &init, rc);
}
