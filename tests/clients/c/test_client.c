/* test_client: libpyrpool against the real daemon (build/pyrpoold, started
 * on a generated config in a temporary folder: a Unix listener and a TCP
 * one with a token file), plus the shared protocol vectors run through the
 * client's own framing and decoding (clients/c/wire.h).
 *
 * Run from the repository root (make client-c-test). Every wait is bounded;
 * the make recipe runs the binary under `timeout` too. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include <pyrpool/client.h>

#include "hello.h"
#include "mpk.h"
#include "wire.h"

/* ------------------------------------------------------------ the daemon */

static const char HELPERS_PY[] =
    "import os, time\n"
    "def pid():\n    return os.getpid()\n"
    "def echo(x):\n    return x\n"
    "def sleep_echo(x, seconds):\n    time.sleep(seconds)\n    return x\n"
    "def started_sleep(path, seconds):\n"
    "    with open(path, 'w') as f:\n        f.write('started')\n"
    "    time.sleep(seconds)\n    return 'slept'\n"
    "def fail(msg):\n    raise ValueError(msg)\n"
    "def die(code):\n    os._exit(code)\n"
    "def kw(a, b=0, *, c=0):\n    return [a, b, c]\n"
    "def nest(n):\n    v = 0\n    for _ in range(n):\n        v = [v]\n    return v\n";

struct daemon {
    pid_t pid;
    char dir[256];
    char unix_addr[300];
    char tcp_addr[64];
    char token[64];
    char token_file[300];
};

static struct daemon main_daemon;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    poll(NULL, 0, ms);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int free_tcp_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void print_log(const struct daemon *d)
{
    char path[300], line[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/daemon.log", d->dir);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "--- pyrpoold log ---\n");
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

/* The daemon answers ping and has run a call on each pool. */
static bool daemon_ready(struct daemon *d)
{
    static const char *const pools[] = {"default", "io"};
    pyrpool_options o = {.connect_timeout_ms = 1000};
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_call_opts co = {.wait_ms = 10000};
    pyrpool_client *cli;
    bool ok;
    size_t i;

    if (pyrpool_connect(d->unix_addr, &o, &cli, &err) != 0) {
        pyrpool_error_free(&err);
        return false;
    }
    ok = pyrpool_ping(cli, &err) == 0;
    for (i = 0; ok && i < 2; i++) {
        co.pool = pools[i];
        ok = pyrpool_callf(cli, "ctest", "pid", &co, NULL, &err, "[]") == 0;
    }
    pyrpool_error_free(&err);
    pyrpool_close(cli);
    return ok;
}

static void daemon_start(struct daemon *d, const char *extra_yaml)
{
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    const char *binary = getenv("PYRPOOLD") != NULL ? getenv("PYRPOOLD") : "build/pyrpoold";
    char path[400], config[2048], bin[4096];
    double deadline;
    int port = free_tcp_port(), fd;

    memset(d, 0, sizeof(*d));
    assert_non_null(realpath(binary, bin));
    snprintf(d->dir, sizeof(d->dir), "%s/pyrpc-XXXXXX", tmp);
    assert_non_null(mkdtemp(d->dir));
    snprintf(path, sizeof(path), "%s/py", d->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/st", d->dir); /* for a state_file: st/NAME */
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/py/ctest.py", d->dir);
    write_file(path, HELPERS_PY);
    snprintf(d->token, sizeof(d->token), "token-%08lx-%08x-%d", (long)getpid(), (unsigned)(now_s() * 1e6), port);
    snprintf(d->token_file, sizeof(d->token_file), "%s/token", d->dir);
    write_file(d->token_file, d->token);
    chmod(d->token_file, 0600);
    snprintf(d->unix_addr, sizeof(d->unix_addr), "unix:%s/d.sock", d->dir);
    snprintf(d->tcp_addr, sizeof(d->tcp_addr), "tcp:127.0.0.1:%d", port);
    snprintf(config, sizeof(config),
             "listen:\n"
             "  - unix: \"%s/d.sock\"\n"
             "  - tcp: 127.0.0.1:%d\n"
             "    token_file: \"%s\"\n"
             "pools:\n"
             "  default: {size: 2, mode: process}\n"
             "  io: {size: 2, mode: process}\n"
             "python:\n"
             "  path: [py]\n"
             "%s",
             d->dir, port, d->token_file, extra_yaml);
    snprintf(path, sizeof(path), "%s/pyrpoold.yaml", d->dir);
    write_file(path, config);

    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        setsid(); /* its own group: the executors die with it in daemon_kill */
        snprintf(config, sizeof(config), "%s/daemon.log", d->dir);
        fd = open(config, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "-c", path, (char *)NULL);
        _exit(127);
    }
    for (deadline = now_s() + 20; now_s() < deadline; sleep_ms(50)) {
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            print_log(d);
            fail_msg("pyrpoold exited during start-up");
        }
        if (daemon_ready(d))
            return;
    }
    print_log(d);
    fail_msg("pyrpoold not ready within 20 s");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Waits (bounded) for the daemon to exit; returns its status or -1. */
static int daemon_wait(struct daemon *d, double seconds)
{
    double deadline = now_s() + seconds;
    int status;

    while (now_s() < deadline) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid)
            return status;
        sleep_ms(20);
    }
    return -1;
}

static void daemon_cleanup(struct daemon *d)
{
    if (d->pid > 0)
        kill(-d->pid, SIGKILL); /* executors left behind, if any */
    nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* SIGTERM: the daemon must still be alive and exit with status 0. */
static void daemon_stop(struct daemon *d)
{
    int status;

    assert_int_equal(kill(d->pid, SIGTERM), 0);
    status = daemon_wait(d, 30);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        print_log(d);
    daemon_cleanup(d);
    assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int group_setup(void **state)
{
    (void)state;
    daemon_start(&main_daemon, "");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    daemon_stop(&main_daemon);
    return 0;
}

/* ------------------------------------------------------------ helpers */

static pyrpool_client *connect_main(void)
{
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_client *cli = NULL;

    if (pyrpool_connect(main_daemon.unix_addr, NULL, &cli, &err) != 0)
        fail_msg("connect: %s", err.message);
    return cli;
}

/* An object built from a format, living in zone (its bytes copied there). */
static msgpack_object build(msgpack_zone *zone, const char *fmt, ...)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_object o;
    size_t off = 0;
    va_list ap;
    char *copy;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    va_start(ap, fmt);
    assert_int_equal(pyrpool_vpack(&pk, fmt, ap), 0);
    va_end(ap);
    copy = msgpack_zone_malloc(zone, sb.size);
    memcpy(copy, sb.data, sb.size);
    assert_int_equal(msgpack_unpack(copy, sb.size, &off, zone, &o), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_destroy(&sb);
    return o;
}

static double as_double(const pyrpool_result *r)
{
    double v = -1;

    assert_true(pyrpool_obj_double(pyrpool_result_value(r), &v));
    return v;
}

static int64_t as_int(const msgpack_object *o)
{
    int64_t v = -1;

    assert_true(pyrpool_obj_int(o, &v));
    return v;
}

/* The call must fail with a remote error of kind (and type name). */
static void expect_remote(int rc, const pyrpool_error *err, enum pyrpool_error_kind kind, const char *type)
{
    if (rc != PYRPOOL_ERR_REMOTE)
        fail_msg("expected a remote %s, got %d (%s)", type, rc, err->message ? err->message : "");
    assert_int_equal(err->code, PYRPOOL_ERR_REMOTE);
    assert_int_equal(err->kind, kind);
    assert_non_null(err->type);
    assert_string_equal(err->type, type);
    assert_non_null(err->message);
}

/* ------------------------------------------------------------ connecting */

static void test_connect_errors(void **state)
{
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_client *cli = (pyrpool_client *)&err;
    pyrpool_options o = {.connect_timeout_ms = 300};
    struct sockaddr_un sa;
    char missing[400];
    int rc, lfd;
    double t0;

    (void)state;
    snprintf(missing, sizeof(missing), "unix:%s/no-such.sock", main_daemon.dir);
    rc = pyrpool_connect(missing, NULL, &cli, &err);
    assert_int_equal(rc, PYRPOOL_ERR_CONNECTION);
    assert_null(cli);
    assert_int_equal(err.code, PYRPOOL_ERR_CONNECTION);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(strstr(err.message, missing));
    assert_non_null(strstr(err.message, "No such file or directory"));

    assert_int_equal(pyrpool_connect("http://x", NULL, &cli, &err), PYRPOOL_ERR_USAGE);
    assert_non_null(strstr(err.message, "unix:PATH or tcp:HOST:PORT"));
    assert_int_equal(pyrpool_connect("tcp:127.0.0.1", NULL, &cli, &err), PYRPOOL_ERR_USAGE);

    snprintf(missing, sizeof(missing), "tcp:127.0.0.1:%d", free_tcp_port());
    assert_int_equal(pyrpool_connect(missing, NULL, &cli, &err), PYRPOOL_ERR_CONNECTION);
    assert_int_equal(err.sys_errno, ECONNREFUSED);

    snprintf(missing, sizeof(missing), "tcp:[::1]:%d", free_tcp_port());
    assert_int_equal(pyrpool_connect(missing, NULL, &cli, &err), PYRPOOL_ERR_CONNECTION);
    assert_int_equal(pyrpool_connect("tcp:[::1:80", NULL, &cli, &err), PYRPOOL_ERR_USAGE);

    /* a socket that accepts and never answers: the connect timeout */
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(missing, sizeof(missing), "%s/silent.sock", main_daemon.dir);
    assert_true(strlen(missing) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, missing, strlen(missing) + 1);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    snprintf(missing, sizeof(missing), "unix:%s", sa.sun_path);
    t0 = now_s();
    assert_int_equal(pyrpool_connect(missing, &o, &cli, &err), PYRPOOL_ERR_TIMEOUT);
    assert_true(now_s() - t0 >= 0.25 && now_s() - t0 < 3);
    assert_non_null(strstr(err.message, "hello"));
    close(lfd);
    unlink(sa.sun_path);
    pyrpool_error_free(&err);
    assert_null(err.message);
}

static void test_hello(void **state)
{
    pyrpool_client *cli = connect_main();
    const msgpack_object *h = pyrpool_hello(cli);
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    msgpack_zone zone;
    msgpack_object fake;
    bool admin = true;

    (void)state;
    assert_int_equal(as_int(pyrpool_obj_get(h, "protocol")), 1);
    assert_true(pyrpool_obj_is(pyrpool_obj_get(h, "server"), "pyrpoold"));
    assert_true(pyrpool_obj_is(pyrpool_obj_get(h, "errors"), "map"));
    assert_true(pyrpool_is_admin(cli));
    assert_int_equal(pyrpool_broken(cli), 0);
    assert_int_equal(hello_check(h, &admin, &err), 0);

    /* The same check the client runs on hello's answer refuses another protocol. */
    msgpack_zone_init(&zone, 1024);
    fake = build(&zone, "{s:s s:i s:s s:b}", "server", "pyrpoold", "protocol", 2, "errors", "map", "admin", 1);
    assert_int_equal(hello_check(&fake, &admin, &err), PYRPOOL_ERR_PROTOCOL);
    assert_non_null(strstr(err.message, "protocol 2"));
    assert_non_null(strstr(err.message, "knows protocol 1"));
    fake = build(&zone, "{s:s}", "server", "pyrpoold");
    assert_int_equal(hello_check(&fake, &admin, &err), PYRPOOL_ERR_PROTOCOL);
    fake = build(&zone, "[i]", 1);
    assert_int_equal(hello_check(&fake, &admin, &err), PYRPOOL_ERR_PROTOCOL);
    msgpack_zone_destroy(&zone);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

static void test_tcp_auth(void **state)
{
    pyrpool_options o = {.token = main_daemon.token};
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_client *cli;
    pyrpool_result *res;
    double t0;
    int rc;

    (void)state;
    assert_int_equal(pyrpool_connect(main_daemon.tcp_addr, &o, &cli, &err), 0);
    assert_false(pyrpool_is_admin(cli));
    assert_int_equal(pyrpool_callf(cli, "math", "sqrt", NULL, &res, &err, "[i]", 81), 0);
    assert_true(as_double(res) == 9.0);
    pyrpool_result_free(res);
    /* Admin methods are Forbidden on a listener without admin: true. */
    expect_remote(pyrpool_register_pool(cli, "io", "json", NULL, &err), &err, PYRPOOL_KIND_FORBIDDEN, "Forbidden");
    pyrpool_close(cli);

    o = (pyrpool_options){.token_file = main_daemon.token_file};
    assert_int_equal(pyrpool_connect(main_daemon.tcp_addr, &o, &cli, &err), 0);
    assert_int_equal(pyrpool_ping(cli, &err), 0);
    pyrpool_close(cli);

    o = (pyrpool_options){.token = "wrong"};
    t0 = now_s();
    rc = pyrpool_connect(main_daemon.tcp_addr, &o, &cli, &err);
    expect_remote(rc, &err, PYRPOOL_KIND_UNAUTHORIZED, "Unauthorized");
    assert_non_null(strstr(err.message, "auth"));
    assert_true(now_s() - t0 < 5);
    rc = pyrpool_connect(main_daemon.tcp_addr, NULL, &cli, &err); /* no token at all */
    expect_remote(rc, &err, PYRPOOL_KIND_UNAUTHORIZED, "Unauthorized");
    o = (pyrpool_options){.token_file = "/nonexistent/token"};
    assert_int_equal(pyrpool_connect(main_daemon.tcp_addr, &o, &cli, &err), PYRPOOL_ERR_USAGE);
    pyrpool_error_free(&err);
}

/* ------------------------------------------------------------ calls */

static void test_call_shapes(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_call_opts io = {.pool = "io", .timeout = 10};
    const msgpack_object *v;
    msgpack_object args, kwargs, params;
    pyrpool_result *res, *pids;
    msgpack_zone zone;
    int64_t pid;
    uint32_t i;
    bool found = false;

    (void)state;
    msgpack_zone_init(&zone, 1024);
    /* args and kwargs as objects */
    args = build(&zone, "[i]", 1);
    kwargs = build(&zone, "{s:i s:i}", "b", 2, "c", 3);
    assert_int_equal(pyrpool_call(cli, "ctest", "kw", &args, &kwargs, NULL, &res, &err), 0);
    v = pyrpool_result_value(res);
    assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(v->via.array.size, 3);
    assert_int_equal(as_int(&v->via.array.ptr[0]) * 100 + as_int(&v->via.array.ptr[1]) * 10 +
                     as_int(&v->via.array.ptr[2]), 123);
    pyrpool_result_free(res);
    /* no args */
    assert_int_equal(pyrpool_call(cli, "ctest", "pid", NULL, NULL, NULL, &res, &err), 0);
    assert_true(as_int(pyrpool_result_value(res)) > 0);
    pyrpool_result_free(res);
    /* the format: args then kwargs, and opts.pool */
    assert_int_equal(pyrpool_callf(cli, "ctest", "kw", &io, &res, &err, "[s] {s:d}", "x", "c", 2.5), 0);
    v = pyrpool_result_value(res);
    assert_true(pyrpool_obj_is(&v->via.array.ptr[0], "x"));
    assert_true(v->via.array.ptr[2].via.f64 == 2.5);
    pyrpool_result_free(res);
    assert_int_equal(pyrpool_callf(cli, "ctest", "pid", &io, &res, &err, "[]"), 0);
    pid = as_int(pyrpool_result_value(res));
    pyrpool_result_free(res);
    assert_int_equal(pyrpool_contexts(cli, "io", &pids, &err), 0);
    for (i = 0; i < pyrpool_result_value(pids)->via.array.size; i++)
        found |= pyrpool_result_value(pids)->via.array.ptr[i].via.i64 == pid;
    assert_true(found);
    pyrpool_result_free(pids);
    /* a result that outlives its client */
    assert_int_equal(pyrpool_callf(cli, "ctest", "echo", NULL, &res, &err, "[{s:[n b y#]}]", "k", 1, "\0b", 2), 0);
    /* the shorthand, through pyrpool_request */
    params = build(&zone, "[i]", 16);
    assert_int_equal(pyrpool_request(cli, "math.sqrt", &params, 5000, &pids, &err), 0);
    assert_true(as_double(pids) == 4.0);
    pyrpool_result_free(pids);
    pyrpool_close(cli);
    v = pyrpool_obj_get(pyrpool_result_value(res), "k");
    assert_non_null(v);
    assert_int_equal(v->via.array.ptr[0].type, MSGPACK_OBJECT_NIL);
    assert_true(v->via.array.ptr[1].via.boolean);
    assert_int_equal(v->via.array.ptr[2].type, MSGPACK_OBJECT_BIN);
    assert_memory_equal(v->via.array.ptr[2].via.bin.ptr, "\0b", 2);
    pyrpool_result_free(res);
    msgpack_zone_destroy(&zone);
    pyrpool_error_free(&err);
}

static void test_map(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    const msgpack_object *v;
    msgpack_object list;
    pyrpool_handle *h;
    pyrpool_result *res;
    msgpack_zone zone;

    (void)state;
    msgpack_zone_init(&zone, 1024);
    list = build(&zone, "[[i] [i] [i]]", 1, 4, 9);
    assert_int_equal(pyrpool_map(cli, "math", "sqrt", &list, NULL, NULL, &res, &err), 0);
    v = pyrpool_result_value(res);
    assert_int_equal(v->via.array.size, 3);
    assert_true(v->via.array.ptr[0].via.f64 == 1.0 && v->via.array.ptr[1].via.f64 == 2.0 &&
                v->via.array.ptr[2].via.f64 == 3.0);
    pyrpool_result_free(res);
    list = build(&zone, "[[i i] [i i] [i i]]", 1, 1, 1, 0, 2, 1);
    assert_int_equal(pyrpool_cast_map(cli, "operator", "truediv", &list, NULL, NULL, &h, &err), 0);
    expect_remote(pyrpool_await(h, 10000, &res, &err), &err, PYRPOOL_KIND_PYTHON, "ZeroDivisionError");
    assert_int_equal(err.index, 1);
    list = build(&zone, "[]");
    assert_int_equal(pyrpool_map(cli, "math", "sqrt", &list, NULL, NULL, &res, &err), 0);
    assert_int_equal(pyrpool_result_value(res)->via.array.size, 0);
    pyrpool_result_free(res);
    msgpack_zone_destroy(&zone);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

static void test_python_exception(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;

    (void)state;
    expect_remote(pyrpool_callf(cli, "ctest", "fail", NULL, NULL, &err, "[s]", "boom"), &err, PYRPOOL_KIND_PYTHON,
                  "ValueError");
    assert_string_equal(err.message, "boom");
    assert_non_null(err.traceback);
    assert_non_null(strstr(err.traceback, "Traceback"));
    assert_non_null(strstr(err.traceback, "ValueError: boom"));
    assert_int_equal(err.index, -1);
    expect_remote(pyrpool_callf(cli, "no_such_module_x", "f", NULL, NULL, &err, "[]"), &err, PYRPOOL_KIND_PYTHON,
                  "ModuleNotFoundError");
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

static void test_daemon_errors(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_call_opts nopool = {.pool = "nope"};
    msgpack_object bad;
    msgpack_zone zone;
    msgpack_packer *pk;
    pyrpool_handle *h;

    (void)state;
    msgpack_zone_init(&zone, 1024);
    bad = build(&zone, "s", "x");
    expect_remote(pyrpool_request(cli, "call", &bad, 5000, NULL, &err), &err, PYRPOOL_KIND_BAD_REQUEST, "BadRequest");
    assert_non_null(strstr(err.message, "params must be an array"));
    assert_null(err.traceback);
    /* BadRequest from the packer path: an unknown opts key */
    pk = pyrpool_begin(cli, "call", &err);
    assert_non_null(pk);
    assert_int_equal(pyrpool_pack(pk, "[s s [i] n {s:i}]", "math", "sqrt", 4, "colour", 1), 0);
    assert_int_equal(pyrpool_end(cli, &h, &err), 0);
    expect_remote(pyrpool_await(h, 5000, NULL, &err), &err, PYRPOOL_KIND_BAD_REQUEST, "BadRequest");
    /* what pyrpool_abort drops is never sent */
    pk = pyrpool_begin(cli, "ctest.die", &err);
    assert_int_equal(pyrpool_pack(pk, "[i]", 4), 0);
    pyrpool_abort(cli);
    assert_int_equal(pyrpool_end(cli, &h, &err), PYRPOOL_ERR_USAGE);
    expect_remote(pyrpool_request(cli, "nosuch", NULL, 5000, NULL, &err), &err, PYRPOOL_KIND_NO_SUCH_METHOD,
                  "NoSuchMethod");
    expect_remote(pyrpool_callf(cli, "math", "sqrt", &nopool, NULL, &err, "[i]", 1), &err, PYRPOOL_KIND_NO_SUCH_POOL,
                  "NoSuchPool");
    expect_remote(pyrpool_eval(cli, "1 + 1", NULL, NULL, &err), &err, PYRPOOL_KIND_FORBIDDEN, "Forbidden");
    expect_remote(pyrpool_exec(cli, "x = 1", &err), &err, PYRPOOL_KIND_FORBIDDEN, "Forbidden");
    expect_remote(pyrpool_start_pool(cli, "default", 1, NULL, NULL, &err), &err, PYRPOOL_KIND_POOL_EXISTS,
                  "PoolExists");
    expect_remote(pyrpool_stop_pool(cli, "io", &err), &err, PYRPOOL_KIND_FORBIDDEN, "Forbidden");
    expect_remote(pyrpool_callf(cli, "builtins", "set", NULL, NULL, &err, "[[i]]", 1), &err,
                  PYRPOOL_KIND_ENCODE_ERROR, "EncodeError");
    expect_remote(pyrpool_callf(cli, "ctest", "die", NULL, NULL, &err, "[i]", 3), &err, PYRPOOL_KIND_WORKER_CRASHED,
                  "WorkerCrashed");
    /* The connection serves on after each. */
    assert_int_equal(pyrpool_ping(cli, &err), 0);
    msgpack_zone_destroy(&zone);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

static void test_timeouts(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_call_opts daemon_side = {.timeout = 0.2, .pool = "io"};
    pyrpool_call_opts client_side = {.wait_ms = 200};
    pyrpool_result *res;
    pyrpool_handle *h;
    double t0 = now_s();

    (void)state;
    /* opts.timeout: the daemon answers Timeout */
    expect_remote(pyrpool_callf(cli, "time", "sleep", &daemon_side, NULL, &err, "[i]", 20), &err,
                  PYRPOOL_KIND_TIMEOUT, "Timeout");
    assert_true(now_s() - t0 < 3);
    /* wait_ms: this library gives up, cancels, and the connection serves on */
    t0 = now_s();
    assert_int_equal(pyrpool_callf(cli, "ctest", "sleep_echo", &client_side, NULL, &err, "[i d]", 1, 5.0),
                     PYRPOOL_ERR_TIMEOUT);
    assert_int_equal(err.code, PYRPOOL_ERR_TIMEOUT);
    assert_true(now_s() - t0 < 2);
    assert_int_equal(pyrpool_callf(cli, "ctest", "echo", NULL, &res, &err, "[i]", 7), 0);
    assert_int_equal(as_int(pyrpool_result_value(res)), 7);
    pyrpool_result_free(res);
    /* an await's own timeout keeps the handle */
    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &h, &err, "[i d]", 5, 0.3), 0);
    assert_int_equal(pyrpool_await(h, 0, NULL, &err), PYRPOOL_ERR_TIMEOUT);
    assert_int_equal(pyrpool_await(h, 50, NULL, &err), PYRPOOL_ERR_TIMEOUT);
    assert_false(pyrpool_done(h));
    assert_int_equal(pyrpool_await(h, 10000, &res, &err), 0);
    assert_int_equal(as_int(pyrpool_result_value(res)), 5);
    pyrpool_result_free(res);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

static void test_cancel(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    char path[400];
    pyrpool_handle *h, *h2;
    pyrpool_result *res;
    double deadline;

    (void)state;
    snprintf(path, sizeof(path), "%s/started", main_daemon.dir);
    assert_int_equal(pyrpool_castf(cli, "ctest", "started_sleep", NULL, &h, &err, "[s i]", path, 30), 0);
    for (deadline = now_s() + 10; access(path, F_OK) != 0; sleep_ms(10))
        assert_true(now_s() < deadline);
    assert_int_equal(pyrpool_cancel(h, &err), 0);
    expect_remote(pyrpool_await(h, 10000, NULL, &err), &err, PYRPOOL_KIND_CANCELLED, "Cancelled");
    /* cancelling an answered call changes nothing */
    assert_int_equal(pyrpool_castf(cli, "ctest", "echo", NULL, &h2, &err, "[i]", 3), 0);
    for (deadline = now_s() + 10; !pyrpool_done(h2); ) {
        assert_true(pyrpool_process(cli, &err) >= 0);
        assert_true(now_s() < deadline);
        sleep_ms(1);
    }
    assert_int_equal(pyrpool_cancel(h2, &err), 0);
    assert_int_equal(pyrpool_await(h2, 0, &res, &err), 0);
    assert_int_equal(as_int(pyrpool_result_value(res)), 3);
    pyrpool_result_free(res);
    /* a discarded call's answer is dropped; the others come */
    assert_int_equal(pyrpool_castf(cli, "ctest", "echo", NULL, &h, &err, "[i]", 1), 0);
    pyrpool_discard(h);
    assert_int_equal(pyrpool_callf(cli, "ctest", "echo", NULL, &res, &err, "[i]", 2), 0);
    assert_int_equal(as_int(pyrpool_result_value(res)), 2);
    pyrpool_result_free(res);
    assert_null(pyrpool_next_ready(cli));
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

/* ------------------------------------------------------------ pipelining */

static void test_out_of_order(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_handle *slow, *fast, *ready;
    pyrpool_result *res;
    struct pollfd p;
    double deadline;
    int n = 0;

    (void)state;
    /* through the event-loop interface: the fast one is ready first */
    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &slow, &err, "[s d]", "slow", 0.6), 0);
    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &fast, &err, "[s d]", "fast", 0.0), 0);
    pyrpool_set_data(fast, &n);
    assert_ptr_equal(pyrpool_data(fast), &n);
    assert_null(pyrpool_data(slow));
    for (deadline = now_s() + 10; (ready = pyrpool_next_ready(cli)) == NULL;) {
        p = (struct pollfd){.fd = pyrpool_fd(cli), .events = (short)pyrpool_events(cli)};
        assert_true(poll(&p, 1, 1000) >= 0);
        n += pyrpool_process(cli, &err);
        assert_true(now_s() < deadline);
    }
    assert_ptr_equal(ready, fast);
    assert_int_equal(n, 1);
    assert_false(pyrpool_done(slow));
    /* awaiting the slow one first; the fast answer stays for its own await */
    assert_int_equal(pyrpool_await(slow, 10000, &res, &err), 0);
    assert_true(pyrpool_obj_is(pyrpool_result_value(res), "slow"));
    pyrpool_result_free(res);
    assert_true(pyrpool_done(fast));
    assert_int_equal(pyrpool_await(fast, 0, &res, &err), 0);
    assert_true(pyrpool_obj_is(pyrpool_result_value(res), "fast"));
    pyrpool_result_free(res);

    /* the other way round: the fast answer arrives while awaiting the slow one */
    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &slow, &err, "[s d]", "slow", 0.4), 0);
    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &fast, &err, "[s d]", "fast", 0.0), 0);
    assert_int_equal(pyrpool_await(slow, 10000, &res, &err), 0);
    assert_true(pyrpool_done(fast));
    assert_ptr_equal(pyrpool_next_ready(cli), fast);
    pyrpool_result_free(res);
    assert_int_equal(pyrpool_await(fast, 0, &res, &err), 0);
    assert_true(pyrpool_obj_is(pyrpool_result_value(res), "fast"));
    pyrpool_result_free(res);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

#define MANY 10000

static void test_many_in_flight(void **state)
{
    static pyrpool_handle *h[MANY];
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_result *res;
    int i, round;

    (void)state;
    /* more than the daemon's max_inflight (4096): it stops reading, this
     * library keeps the rest buffered and writes it while it reads */
    for (round = 0; round < 2; round++) {
        assert_int_equal(pyrpool_cork(cli, round == 1, &err), 0);
        for (i = 0; i < MANY; i++)
            assert_int_equal(pyrpool_castf(cli, "ctest", "echo", NULL, &h[i], &err, "[i]", i + round), 0);
        for (i = MANY - 1; i >= 0; i--) {
            if (pyrpool_await(h[i], 60000, &res, &err) != 0)
                fail_msg("await %d: %s", i, err.message);
            assert_int_equal(as_int(pyrpool_result_value(res)), i + round);
            pyrpool_result_free(res);
        }
        assert_null(pyrpool_next_ready(cli));
    }
    /* handles never awaited are freed by pyrpool_close */
    for (i = 0; i < 100; i++)
        assert_int_equal(pyrpool_castf(cli, "ctest", "echo", NULL, &h[i], &err, "[i]", i), 0);
    assert_int_equal(pyrpool_await(h[99], 10000, NULL, &err), 0);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

static void test_deep_answer(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_result *res;
    const msgpack_object *v;
    int depth = 0;

    (void)state;
    /* 31 arrays in the result, 32 with the envelope: msgpack-c's limit */
    assert_int_equal(pyrpool_callf(cli, "ctest", "nest", NULL, &res, &err, "[i]", 31), 0);
    for (v = pyrpool_result_value(res); v->type == MSGPACK_OBJECT_ARRAY; v = &v->via.array.ptr[0])
        depth++;
    assert_int_equal(depth, 31);
    pyrpool_result_free(res);
    /* legal, but deeper than msgpack-c decodes: only that call fails */
    assert_int_equal(pyrpool_callf(cli, "ctest", "nest", NULL, &res, &err, "[i]", 32), PYRPOOL_ERR_PROTOCOL);
    assert_int_equal(pyrpool_callf(cli, "ctest", "nest", NULL, &res, &err, "[i]", 100), PYRPOOL_ERR_PROTOCOL);
    assert_non_null(strstr(err.message, "deeper"));
    assert_int_equal(pyrpool_broken(cli), 0);
    assert_int_equal(pyrpool_ping(cli, &err), 0);
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

/* Distinct clients in distinct threads at once (no shared state). */
#define THREADS 4
#define THREAD_CALLS 500

static void *thread_calls(void *arg)
{
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_handle *h[16];
    pyrpool_result *res;
    pyrpool_client *cli;
    long base = (long)(intptr_t)arg, bad = 0;
    int i, k;

    if (pyrpool_connect(main_daemon.unix_addr, NULL, &cli, &err) != 0)
        return (void *)1;
    for (i = 0; i < THREAD_CALLS; i += 16) {
        for (k = 0; k < 16; k++)
            bad += pyrpool_castf(cli, "ctest", "echo", NULL, &h[k], &err, "[I]", (int64_t)(base + i + k)) != 0;
        for (k = 0; k < 16; k++) {
            if (pyrpool_await(h[k], 20000, &res, &err) != 0) {
                bad++;
                continue;
            }
            bad += pyrpool_result_value(res)->via.i64 != base + i + k;
            pyrpool_result_free(res);
        }
    }
    pyrpool_close(cli);
    pyrpool_error_free(&err);
    return (void *)(intptr_t)bad;
}

static void test_threads(void **state)
{
    pthread_t t[THREADS];
    void *bad;
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_calls, (void *)(intptr_t)(i * 100000)), 0);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
}

/* ------------------------------------------------------------ admin */

static void test_admin(void **state)
{
    pyrpool_client *cli = connect_main();
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    const msgpack_object *v, *e;
    pyrpool_result *res;
    bool b, found = false;
    char *pool;
    int64_t n, pid;
    uint32_t i;

    (void)state;
    assert_int_equal(pyrpool_ping(cli, &err), 0);
    assert_int_equal(pyrpool_register_pool(cli, "io", "json", NULL, &err), 0);
    assert_int_equal(pyrpool_register_pool(cli, "io", "os.path", "join", &err), 0);
    assert_int_equal(pyrpool_lookup_pool(cli, "json", "dumps", &pool, &err), 0);
    assert_string_equal(pool, "io");
    free(pool);
    assert_int_equal(pyrpool_lookup_pool(cli, "math", NULL, &pool, &err), 0);
    assert_string_equal(pool, "default");
    free(pool);
    expect_remote(pyrpool_register_pool(cli, "nope", "json", NULL, &err), &err, PYRPOOL_KIND_NO_SUCH_POOL,
                  "NoSuchPool");
    assert_int_equal(pyrpool_list_pool_registrations(cli, &res, &err), 0);
    v = pyrpool_result_value(res);
    assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
    for (i = 0; i < v->via.array.size; i++) {
        e = &v->via.array.ptr[i];
        if (pyrpool_obj_is(pyrpool_obj_get(e, "module"), "os.path"))
            found = pyrpool_obj_is(pyrpool_obj_get(e, "function"), "join") &&
                    pyrpool_obj_is(pyrpool_obj_get(e, "pool"), "io") &&
                    pyrpool_obj_is(pyrpool_obj_get(e, "source"), "runtime");
    }
    assert_true(found);
    pyrpool_result_free(res);
    assert_int_equal(pyrpool_unregister_pool(cli, "json", NULL, &b, &err), 0);
    assert_true(b);
    assert_int_equal(pyrpool_unregister_pool(cli, "json", NULL, &b, &err), 0);
    assert_false(b);
    assert_int_equal(pyrpool_unregister_pool(cli, "os.path", "join", &b, &err), 0);
    assert_true(b);

    assert_int_equal(pyrpool_pools(cli, &res, &err), 0);
    v = pyrpool_result_value(res);
    assert_int_equal(v->via.array.size, 2);
    assert_true(pyrpool_obj_is(pyrpool_obj_get(&v->via.array.ptr[0], "name"), "default"));
    assert_int_equal(as_int(pyrpool_obj_get(&v->via.array.ptr[0], "size")), 2);
    assert_true(pyrpool_obj_is(pyrpool_obj_get(&v->via.array.ptr[1], "name"), "io"));
    pyrpool_result_free(res);

    assert_int_equal(pyrpool_start_pool(cli, "extra", 1, NULL, &res, &err), 0);
    assert_int_equal(pyrpool_result_value(res)->via.array.size, 1);
    pyrpool_result_free(res);
    assert_int_equal(pyrpool_pool_started(cli, "extra", &b, &err), 0);
    assert_true(b);
    assert_int_equal(pyrpool_resize_pool(cli, "extra", 2, &err), 0);
    assert_int_equal(pyrpool_num_contexts(cli, "extra", &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pyrpool_contexts(cli, "extra", &res, &err), 0);
    assert_int_equal(pyrpool_result_value(res)->via.array.size, 2);
    pyrpool_result_free(res);
    assert_int_equal(pyrpool_get_context(cli, "extra", &pid, &err), 0);
    assert_true(pid >= 0);
    expect_remote(pyrpool_start_pool(cli, "extra", 1, "thread", NULL, &err), &err, PYRPOOL_KIND_POOL_EXISTS,
                  "PoolExists");
    assert_int_equal(pyrpool_stop_pool(cli, "extra", &err), 0);
    assert_int_equal(pyrpool_pool_started(cli, "extra", &b, &err), 0);
    assert_false(b);
    expect_remote(pyrpool_num_contexts(cli, "extra", &n, &err), &err, PYRPOOL_KIND_NO_SUCH_POOL, "NoSuchPool");
    pyrpool_error_free(&err);
    pyrpool_close(cli);
}

/* ------------------------------------------------------------ a daemon that goes away */

static void test_daemon_killed(void **state)
{
    struct daemon d;
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    pyrpool_client *cli;
    pyrpool_handle *a, *b, *c;
    double t0;

    pyrpool_client *other, *third;
    char path[400], moved[400];
    int tries;

    (void)state;
    daemon_start(&d, "limits:\n  max_connections: 2\nstate_file: st/saved.state\n");
    assert_int_equal(pyrpool_connect(d.unix_addr, NULL, &cli, &err), 0);
    assert_int_equal(pyrpool_connect(d.unix_addr, NULL, &other, &err), 0);
    /* reload: the same file serves again; a broken one is ReloadFailed */
    assert_int_equal(pyrpool_reload(cli, &err), 0);
    snprintf(path, sizeof(path), "%s/pyrpoold.yaml", d.dir);
    write_file(path, "listen: [\n");
    expect_remote(pyrpool_reload(cli, &err), &err, PYRPOOL_KIND_RELOAD_FAILED, "ReloadFailed");
    assert_int_equal(pyrpool_ping(cli, &err), 0);
    /* a state_file that cannot be written (its folder is now a file): StateNotSaved */
    assert_int_equal(pyrpool_register_pool(cli, "io", "json", NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/st", d.dir);
    snprintf(moved, sizeof(moved), "%s/st.old", d.dir);
    assert_int_equal(rename(path, moved), 0);
    write_file(path, "not a folder\n");
    expect_remote(pyrpool_register_pool(cli, "io", "csv", NULL, &err), &err, PYRPOOL_KIND_STATE_NOT_SAVED,
                  "StateNotSaved");
    /* past max_connections: the daemon says Overloaded (msgid nil) and
     * closes; the readiness check's connections may take a moment to go */
    for (tries = 0; pyrpool_connect(d.unix_addr, NULL, &third, &err) == 0; tries++) {
        pyrpool_close(third);
        assert_true(tries < 100);
        sleep_ms(20);
    }
    assert_int_equal(err.code, PYRPOOL_ERR_CONNECTION);
    assert_int_equal(err.kind, PYRPOOL_KIND_OVERLOADED);
    assert_string_equal(err.type, "Overloaded");
    assert_non_null(strstr(err.message, "after the daemon said Overloaded: "));
    assert_non_null(strstr(err.message, "max_connections"));
    pyrpool_close(other);

    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &a, &err, "[i i]", 1, 30), 0);
    assert_int_equal(pyrpool_castf(cli, "ctest", "sleep_echo", NULL, &b, &err, "[i i]", 2, 30), 0);
    assert_int_equal(pyrpool_await(a, 200, NULL, &err), PYRPOOL_ERR_TIMEOUT);
    kill(-d.pid, SIGKILL);
    t0 = now_s();
    assert_int_equal(pyrpool_await(a, 20000, NULL, &err), PYRPOOL_ERR_CONNECTION);
    assert_true(now_s() - t0 < 2);
    assert_non_null(strstr(err.message, "closed"));
    assert_true(pyrpool_done(b));
    assert_int_equal(pyrpool_await(b, 20000, NULL, &err), PYRPOOL_ERR_CONNECTION);
    assert_int_equal(pyrpool_broken(cli), PYRPOOL_ERR_CONNECTION);
    /* new requests fail at once */
    assert_int_equal(pyrpool_castf(cli, "ctest", "echo", NULL, &c, &err, "[i]", 3), PYRPOOL_ERR_CONNECTION);
    assert_int_equal(pyrpool_ping(cli, &err), PYRPOOL_ERR_CONNECTION);
    assert_true(pyrpool_process(cli, &err) < 0);
    pyrpool_close(cli);
    pyrpool_error_free(&err);
    assert_true(daemon_wait(&d, 10) != -1);
    daemon_cleanup(&d);
}

/* ------------------------------------------------------------ the library alone */

static void test_pack_format(void **state)
{
    static const unsigned char want[] = {0x93, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, 'x', 0x81, 0xa1, 'k', 0x02};
    msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 7};
    static const char *const bad[] = {"[", "]", "{i}", "[x]", "y", "[s##]", "{i i i}"};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t i;

    (void)state;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(pyrpool_pack(&pk, "[d s {s:i}]", 1.5, "x", "k", 2), 0);
    assert_int_equal(sb.size, sizeof(want));
    assert_memory_equal(sb.data, want, sizeof(want));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pyrpool_fmt_count(bad[i]), -1);
        assert_int_equal(pyrpool_pack(&pk, bad[i], 1, 2, 3), PYRPOOL_ERR_USAGE);
    }
    assert_int_equal(sb.size, sizeof(want)); /* nothing packed */
    assert_int_equal(pyrpool_fmt_count("[i] {s:i}"), 2);
    assert_int_equal(pyrpool_fmt_count(""), 0);
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(pyrpool_pack(&pk, "n b I u U o s s# o", 1, (int64_t)-5, 3u, (uint64_t)1 << 40, &o,
                                  (const char *)NULL, "abc", (size_t)2, (msgpack_object *)NULL), 0);
    assert_int_equal(sb.size, 1 + 1 + 1 + 1 + 9 + 1 + 1 + 3 + 1);
    msgpack_sbuffer_destroy(&sb);
    assert_string_equal(pyrpool_kind_name(PYRPOOL_KIND_WORKER_CRASHED), "WorkerCrashed");
    assert_string_equal(pyrpool_strcode(PYRPOOL_ERR_CONNECTION), "connection failure");
}

static void test_example_links(void **state)
{
    char cmd[600], out[64] = "";
    FILE *f;

    (void)state;
    snprintf(cmd, sizeof(cmd), "./build/example-client-c '%s'", main_daemon.unix_addr);
    f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(out, sizeof(out), f));
    assert_int_equal(pclose(f), 0);
    assert_string_equal(out, "4\n");
}

/* ------------------------------------------------------------ the shared vectors */

/* Every daemon error type and the kind it must map to (kept here, apart
 * from the library's own table, so that the two are checked against each
 * other). */
static const struct {
    const char *type;
    enum pyrpool_error_kind kind;
} daemon_types[] = {
    {"BadRequest", PYRPOOL_KIND_BAD_REQUEST},       {"NoSuchMethod", PYRPOOL_KIND_NO_SUCH_METHOD},
    {"NoSuchPool", PYRPOOL_KIND_NO_SUCH_POOL},      {"Unauthorized", PYRPOOL_KIND_UNAUTHORIZED},
    {"Forbidden", PYRPOOL_KIND_FORBIDDEN},          {"EncodeError", PYRPOOL_KIND_ENCODE_ERROR},
    {"Timeout", PYRPOOL_KIND_TIMEOUT},              {"Cancelled", PYRPOOL_KIND_CANCELLED},
    {"PoolExists", PYRPOOL_KIND_POOL_EXISTS},       {"PoolDegraded", PYRPOOL_KIND_POOL_DEGRADED},
    {"Quarantined", PYRPOOL_KIND_QUARANTINED},      {"Overloaded", PYRPOOL_KIND_OVERLOADED},
    {"WorkerCrashed", PYRPOOL_KIND_WORKER_CRASHED}, {"ShuttingDown", PYRPOOL_KIND_SHUTTING_DOWN},
    {"ReloadFailed", PYRPOOL_KIND_RELOAD_FAILED},   {"StateNotSaved", PYRPOOL_KIND_STATE_NOT_SAVED},
};
#define NTYPES (sizeof(daemon_types) / sizeof(daemon_types[0]))

static enum pyrpool_error_kind expected_kind(const char *type)
{
    size_t i;

    for (i = 0; i < NTYPES; i++)
        if (strcmp(daemon_types[i].type, type) == 0)
            return daemon_types[i].kind;
    return PYRPOOL_KIND_PYTHON;
}

static size_t unhex(const char *s, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned v;

    while (*s != '\0' && *s != '\n') {
        if (*s == ' ') {
            s++;
            continue;
        }
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (unsigned char)v;
        s += 2;
    }
    return n;
}

/* The msgids of the requests in bytes (several may follow one another). */
static int request_msgids(const unsigned char *b, size_t len, uint32_t *ids, int max)
{
    msgpack_zone zone;
    msgpack_object o;
    size_t off = 0;
    int n = 0;

    msgpack_zone_init(&zone, 2048);
    while (off < len && n < max) {
        if (msgpack_unpack((const char *)b, len, &off, &zone, &o) < 0)
            break;
        if (o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == 4 &&
            o.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            ids[n++] = (uint32_t)o.via.array.ptr[1].via.u64;
    }
    msgpack_zone_destroy(&zone);
    return n;
}

struct vec_counts {
    int files, responses, errors, repacked, types_repacked, answer_files;
    bool seen_type[NTYPES];
};

/* Decodes one response: through a pipe into the client's receive buffer,
 * cut by wire_in_next, decoded by wire_unpack, wire_response and
 * wire_outcome: the client's path for every answer. */
static void check_response(const char *file, const unsigned char *b, size_t len, const uint32_t *ids, int nids,
                           struct vec_counts *c)
{
    pyrpool_error err = PYRPOOL_ERROR_INIT;
    struct wire_response r;
    struct wire_in in;
    const msgpack_object *msg;
    msgpack_zone *zone;
    const char *bytes;
    int fds[2], k, rc;
    bool known = nids == 0;
    char name[128];

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], b, len), (ssize_t)len);
    wire_in_init(&in, 1 << 20);
    assert_int_equal(wire_in_read(&in, fds[0], NULL), (ssize_t)len);
    assert_int_equal(wire_in_next(&in, &bytes), (ssize_t)len);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(wire_unpack(bytes, len, &zone, &msg, &err), 0);
    wire_in_free(&in);
    if (wire_response(msg, &r, &err) != 0)
        fail_msg("%s: %s", file, err.message);
    c->responses++;
    for (k = 0; k < nids; k++)
        known |= r.has_msgid && r.msgid == ids[k];
    if (strcmp(file, "answer-nil-msgid.vec") == 0 || strcmp(file, "error-not-map-envelope.vec") == 0)
        assert_false(r.has_msgid);
    else if (!known)
        fail_msg("%s: the response's msgid %u is none of the request's", file, r.msgid);
    rc = wire_outcome(&r, &err);
    if (rc == PYRPOOL_ERR_REMOTE) {
        c->errors++;
        assert_non_null(err.type);
        assert_non_null(err.message);
        if (err.kind != expected_kind(err.type))
            fail_msg("%s: type %s decoded to kind %d", file, err.type, err.kind);
        if (sscanf(file, "answer-%127[A-Za-z].vec", name) == 1 && expected_kind(name) != PYRPOOL_KIND_PYTHON) {
            assert_string_equal(err.type, name);
            for (k = 0; k < (int)NTYPES; k++)
                c->seen_type[k] |= strcmp(daemon_types[k].type, name) == 0;
        }
        if (strcmp(file, "answer-map-error-index.vec") == 0)
            assert_int_equal(err.index, 1);
        else
            assert_int_equal(err.index, -1);
        if (strcmp(file, "answer-python-exception.vec") == 0) {
            assert_int_equal(err.kind, PYRPOOL_KIND_PYTHON);
            assert_string_equal(err.type, "ValueError");
            assert_non_null(strstr(err.traceback, "Traceback"));
        }
    } else {
        /* the result, packed again, is the response's result bytes */
        struct mpk_reader rd;
        struct mpk_item it;
        msgpack_sbuffer sb;
        msgpack_packer pk;

        assert_int_equal(rc, 0);
        mpk_reader_init(&rd, b, len);
        assert_int_equal(mpk_read(&rd, &it), 0);
        for (k = 0; k < 3; k++)
            assert_int_equal(mpk_skip(&rd), 0);
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        assert_int_equal(msgpack_pack_object(&pk, *r.result), 0);
        if (sb.size != (size_t)(rd.end - rd.p) || memcmp(sb.data, rd.p, sb.size) != 0)
            fail_msg("%s: the result packed again differs from the response's bytes", file);
        msgpack_sbuffer_destroy(&sb);
        c->repacked++;
        c->types_repacked += strncmp(file, "type-", 5) == 0;
    }
    msgpack_zone_free(zone);
    pyrpool_error_free(&err);
}

static void check_vector_file(const char *dir, const char *file, struct vec_counts *c)
{
    static unsigned char req[1 << 16], buf[1 << 16];
    char path[600], line[1 << 17];
    uint32_t ids[16];
    size_t rlen = 0, n;
    int nids = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "r");
    assert_non_null(f);
    c->files++;
    c->answer_files += strncmp(file, "answer-", 7) == 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "request: ", 9) == 0) {
            rlen += unhex(line + 9, req + rlen, sizeof(req) - rlen);
            nids = request_msgids(req, rlen, ids, 16);
        } else if (strncmp(line, "response: ", 10) == 0) {
            n = unhex(line + 10, buf, sizeof(buf));
            check_response(file, buf, n, ids, nids, c);
        }
    }
    fclose(f);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_vectors(void **state)
{
    const char *dir = getenv("PYRPOOL_VECTORS") != NULL ? getenv("PYRPOOL_VECTORS") : "proto/vectors";
    struct vec_counts c = {0};
    char *names[512];
    int n = 0, i, types = 0;
    struct dirent *e;
    DIR *d = opendir(dir);
    size_t k;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL && n < 512)
        if (strlen(e->d_name) > 4 && strcmp(e->d_name + strlen(e->d_name) - 4, ".vec") == 0)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
    for (i = 0; i < n; i++) {
        check_vector_file(dir, names[i], &c);
        types += strncmp(names[i], "type-", 5) == 0;
        free(names[i]);
    }
    print_message("vectors: %d files, %d responses decoded (%d errors, %d results packed again, %d of type-*)\n",
                  c.files, c.responses, c.errors, c.repacked, c.types_repacked);
    assert_true(c.files >= 60);
    assert_true(c.types_repacked >= 20);
    for (k = 0; k < NTYPES; k++)
        if (!c.seen_type[k])
            fail_msg("no answer-%s.vec decoded", daemon_types[k].type);
    (void)types;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_format),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_tcp_auth),
        cmocka_unit_test(test_call_shapes),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_python_exception),
        cmocka_unit_test(test_daemon_errors),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_deep_answer),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_admin),
        cmocka_unit_test(test_example_links),
        cmocka_unit_test(test_daemon_killed),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
