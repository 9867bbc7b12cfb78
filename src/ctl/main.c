/* pyrpoolctl: the admin command line of pyrpoold, on the C client
 * (include/pyrpool/client.h). Each subcommand is one request to the
 * daemon's admin socket (address.h says which), printed as an aligned
 * table or a line for people, or as the daemon's answer in JSON with
 * --json (value.h). Exit status: 0 ok, 1 the daemon answered an error
 * (printed "Type: message"), 2 bad usage, 3 cannot connect. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "address.h"
#include "client.h"
#include "protocol.h"
#include "stats.h"
#include "table.h"
#include "top.h"
#include "value.h"

#define EXIT_REMOTE 1
#define EXIT_USAGE 2
#define EXIT_CONNECT 3

#ifndef PYRPOOL_SYSCONFDIR
#define PYRPOOL_SYSCONFDIR "/etc"
#endif

struct ctl {
    const char *socket, *config, *token_file;
    bool json;
    pyrpool_client *cli;
    pyrpool_error err;
};

struct command {
    const char *name;
    const char *args;
    const char *help;
    int min, max;        /* positional arguments */
    int (*run)(struct ctl *c, int argc, char **argv);
};

static const struct command commands[];

static void usage(FILE *f)
{
    const struct command *cmd;

    fputs("Usage: pyrpoolctl [-s SOCKET] [-c FILE] [--token-file FILE] [--json] COMMAND [ARGS]\n"
          "Administers a running pyrpoold over its admin socket.\n\n"
          "Commands:\n", f);
    for (cmd = commands; cmd->name != NULL; cmd++) {
        char head[64];

        snprintf(head, sizeof head, "%s %s", cmd->name, cmd->args);
        fprintf(f, "  %-38s %s\n", head, cmd->help);
    }
    fputs("\nOptions:\n"
          "  -s, --socket ADDR   the daemon: a Unix socket path, unix:PATH or tcp:HOST:PORT\n"
          "                      (else $PYRPOOL_SOCKET, else the first admin listener of -c FILE,\n"
          "                      else " CTL_DEFAULT_SOCKET ")\n"
          "  -c, --config FILE   the daemon's config (for the socket, and for check)\n"
          "      --token-file F  the token of a TCP listener (else $PYRPOOL_TOKEN_FILE, else the\n"
          "                      listener's token_file in -c FILE)\n"
          "      --json          print the daemon's answer as JSON (bin values as base64)\n"
          "  -h, --help          show this help;  --version  show the version\n"
          "\n"
          "call takes its arguments as JSON values (a bare word is a string: '\"16\"' is the\n"
          "string 16) and keyword arguments as KEY=VALUE.\n"
          "\n"
          "top redraws the screen every -d seconds (0.1 to 3600) until q or Ctrl-C; with -n N,\n"
          "or when stdout is not a terminal, it prints N frames (1 by default) as text and ends.\n"
          "\n"
          "Exit status: 0 ok, 1 the daemon answered an error (printed as Type: message),\n"
          "2 bad usage, 3 cannot connect.\n", f);
}

/* Prints what went wrong; returns the exit status for it. */
static int failed(struct ctl *c)
{
    pyrpool_error *e = &c->err;

    if (e->code == PYRPOOL_ERR_REMOTE) {
        fprintf(stderr, "%s: %s\n", e->type ? e->type : "Error", e->message ? e->message : "");
        if (e->traceback != NULL && strstr(e->traceback, "Traceback (most recent call last)") != NULL)
            fputs(e->traceback, stderr); /* one without frames only says the line above again */
        return EXIT_REMOTE;
    }
    fprintf(stderr, "pyrpoolctl: %s\n", e->message ? e->message : pyrpool_strcode(e->code));
    return e->code == PYRPOOL_ERR_CONNECTION ? EXIT_CONNECT : EXIT_REMOTE;
}

static int connect_daemon(struct ctl *c)
{
    struct target t;
    pyrpool_options o = {0};
    char err[4400];

    if (address_resolve(c->socket, c->config, c->token_file, &t, err, sizeof err) != 0) {
        fprintf(stderr, "pyrpoolctl: %s\n", err);
        return EXIT_CONNECT;
    }
    o.token_file = t.token_file[0] != '\0' ? t.token_file : NULL;
    o.client_name = "pyrpoolctl";
    o.connect_timeout_ms = 10000;
    if (pyrpool_connect(t.address, &o, &c->cli, &c->err) == 0)
        return 0;
    /* the client's message names the address; say where it came from */
    fprintf(stderr, "pyrpoolctl: %s%s%s (the socket from %s)\n", c->err.type ? c->err.type : "",
            c->err.type ? ": " : "", c->err.message ? c->err.message : pyrpool_strcode(c->err.code), t.from);
    return EXIT_CONNECT;
}

static void print_json(const msgpack_object *o)
{
    value_print_json(stdout, o);
    putchar('\n');
}

/* A true/false answer: printed as JSON with --json, else the line. */
static int done(struct ctl *c, bool value, const char *line)
{
    if (c->json)
        puts(value ? "true" : "false");
    else if (line != NULL)
        puts(line);
    return 0;
}

/* MODULE[:FUNCTION] or MODULE FUNCTION from argv into module/function. */
static void split_target(int argc, char **argv, char *module, size_t mlen, const char **function)
{
    char *colon;

    snprintf(module, mlen, "%s", argv[0]);
    *function = argc > 1 ? argv[1] : NULL;
    if (argc == 1 && (colon = strchr(module, ':')) != NULL) {
        *colon = '\0';
        *function = argv[0] + (colon - module) + 1;
    }
}

static int cmd_register(struct ctl *c, int argc, char **argv)
{
    char module[512], line[1200];
    const char *function;

    split_target(argc - 1, argv + 1, module, sizeof module, &function);
    if (pyrpool_register_pool(c->cli, argv[0], module, function, &c->err) != 0)
        return failed(c);
    snprintf(line, sizeof line, "%s%s%s -> %s", module, function ? ":" : "", function ? function : "", argv[0]);
    return done(c, true, line);
}

static int cmd_unregister(struct ctl *c, int argc, char **argv)
{
    char module[512], line[1200];
    const char *function;
    bool removed;

    split_target(argc, argv, module, sizeof module, &function);
    if (pyrpool_unregister_pool(c->cli, module, function, &removed, &c->err) != 0)
        return failed(c);
    snprintf(line, sizeof line, "%s%s%s: %s", module, function ? ":" : "", function ? function : "",
             removed ? "unregistered" : "was not registered");
    return done(c, removed, line);
}

static int cmd_lookup(struct ctl *c, int argc, char **argv)
{
    char module[512], *pool;
    const char *function;

    split_target(argc, argv, module, sizeof module, &function);
    if (pyrpool_lookup_pool(c->cli, module, function, &pool, &c->err) != 0)
        return failed(c);
    if (c->json)
        printf("\"%s\"\n", pool);
    else
        puts(pool);
    free(pool);
    return 0;
}

/* A map's str value as text ("-" for nil), for a table cell. */
static void cell_str(char *out, size_t len, const msgpack_object *map, const char *key)
{
    const msgpack_object *v = pyrpool_obj_get(map, key);
    int64_t n;

    if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
        snprintf(out, len, "-");
    else if (v->type == MSGPACK_OBJECT_STR)
        snprintf(out, len, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    else if (pyrpool_obj_int(v, &n))
        snprintf(out, len, "%lld", (long long)n);
    else if (v->type == MSGPACK_OBJECT_BOOLEAN)
        snprintf(out, len, "%s", v->via.boolean ? "yes" : "no");
    else
        snprintf(out, len, "?");
}

/* A row's cell: the text for key of row (a map). */
typedef void cell_fn(char *out, size_t len, const msgpack_object *row, const char *key);

/* Prints res (an array of maps) as JSON with --json, else as a table: a
 * column per key, each cell made by cell; frees res. */
static int print_listing(struct ctl *c, pyrpool_result *res, const char *const *cols, const char *const *keys,
                         size_t ncols, cell_fn *cell)
{
    const msgpack_object *list = pyrpool_result_value(res);
    struct table t;
    uint32_t i;
    size_t k;

    if (c->json) {
        print_json(list);
    } else {
        table_init(&t, cols, ncols);
        for (i = 0; list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++) {
            char cells[16][512];
            const char *row[16];

            for (k = 0; k < ncols && k < 16; k++) {
                cell(cells[k], sizeof cells[k], &list->via.array.ptr[i], keys[k]);
                row[k] = cells[k];
            }
            table_add(&t, row);
        }
        table_print(&t, stdout);
        table_free(&t);
    }
    pyrpool_result_free(res);
    return 0;
}

/* A routes cell: a module-wide registration's function is "*". */
static void route_cell(char *out, size_t len, const msgpack_object *row, const char *key)
{
    cell_str(out, len, row, key);
    if (strcmp(key, "function") == 0 && strcmp(out, "-") == 0)
        snprintf(out, len, "*");
}

static int cmd_routes(struct ctl *c, int argc, char **argv)
{
    static const char *const cols[] = {"MODULE", "FUNCTION", "POOL", "SOURCE"};
    static const char *const keys[] = {"module", "function", "pool", "source"};
    pyrpool_result *res;

    (void)argc;
    (void)argv;
    if (pyrpool_list_pool_registrations(c->cli, &res, &c->err) != 0)
        return failed(c);
    return print_listing(c, res, cols, keys, 4, route_cell);
}

/* A pool's state: ok, starting, degraded, or the functions it holds off. */
static void pool_state(char *out, size_t len, const msgpack_object *p)
{
    const msgpack_object *deg = pyrpool_obj_get(p, "degraded"), *q = pyrpool_obj_get(p, "quarantined");
    int64_t starting = 0;
    size_t n;
    uint32_t i;

    pyrpool_obj_int(pyrpool_obj_get(p, "starting"), &starting);
    if (deg != NULL && deg->type == MSGPACK_OBJECT_BOOLEAN && deg->via.boolean) {
        snprintf(out, len, "degraded");
        return;
    }
    if (q != NULL && q->type == MSGPACK_OBJECT_ARRAY && q->via.array.size > 0) {
        n = (size_t)snprintf(out, len, "quarantined:");
        for (i = 0; i < q->via.array.size && n < len; i++)
            n += (size_t)snprintf(out + n, len - n, "%s%.*s", i ? "," : " ", (int)q->via.array.ptr[i].via.str.size,
                                  q->via.array.ptr[i].via.str.ptr);
        return;
    }
    snprintf(out, len, "%s", starting > 0 ? "starting" : "ok");
}

/* A pools cell: "state" is made from degraded, quarantined and starting. */
static void pool_cell(char *out, size_t len, const msgpack_object *row, const char *key)
{
    if (strcmp(key, "state") == 0)
        pool_state(out, len, row);
    else
        cell_str(out, len, row, key);
}

static int cmd_pools(struct ctl *c, int argc, char **argv)
{
    static const char *const cols[] = {"NAME", "MODE", "SIZE", "BUSY", "IDLE", "QUEUED",
                                       "COMPLETED", "FAILED", "RESTARTS", "STATE"};
    static const char *const keys[] = {"name", "mode", "size", "busy", "idle", "queued",
                                       "completed", "failed", "restarts", "state"};
    pyrpool_result *res;

    (void)argc;
    (void)argv;
    if (pyrpool_pools(c->cli, &res, &c->err) != 0)
        return failed(c);
    return print_listing(c, res, cols, keys, 10, pool_cell);
}

/* A size argument: 1 to 1024, else usage. */
static int size_arg(const char *s, int *out)
{
    char *end;
    long n = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || n < 1 || n > 1024) {
        fprintf(stderr, "pyrpoolctl: '%s' is not a pool size (1 to 1024)\n", s);
        return EXIT_USAGE;
    }
    *out = (int)n;
    return 0;
}

static int cmd_start_pool(struct ctl *c, int argc, char **argv)
{
    const char *mode = NULL;
    pyrpool_result *pids;
    int size, rc, i, n = 0;
    char *pos[2];

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
            mode = argv[++i];
        else if (strncmp(argv[i], "--mode=", 7) == 0)
            mode = argv[i] + 7;
        else if (n < 2)
            pos[n++] = argv[i];
        else
            n = 3;
    }
    if (n != 2 || (mode != NULL && strcmp(mode, "process") != 0 && strcmp(mode, "thread") != 0)) {
        fputs("pyrpoolctl: usage: start-pool NAME SIZE [--mode process|thread]\n", stderr);
        return EXIT_USAGE;
    }
    if ((rc = size_arg(pos[1], &size)) != 0)
        return rc;
    if (pyrpool_start_pool(c->cli, pos[0], size, mode, &pids, &c->err) != 0)
        return failed(c);
    if (c->json) {
        print_json(pyrpool_result_value(pids));
    } else {
        const msgpack_object *a = pyrpool_result_value(pids);

        printf("pool %s started (%d %s", pos[0], size, mode != NULL && strcmp(mode, "thread") == 0 ? "threads" : "executors");
        for (i = 0; a->type == MSGPACK_OBJECT_ARRAY && i < (int)a->via.array.size; i++)
            printf("%s%lld", i ? " " : "; pids ", (long long)a->via.array.ptr[i].via.i64);
        puts(")");
    }
    pyrpool_result_free(pids);
    return 0;
}

static int cmd_stop_pool(struct ctl *c, int argc, char **argv)
{
    char line[128];

    (void)argc;
    if (pyrpool_stop_pool(c->cli, argv[0], &c->err) != 0)
        return failed(c);
    snprintf(line, sizeof line, "pool %s stopping: its queued and running calls finish first", argv[0]);
    return done(c, true, line);
}

static int cmd_resize(struct ctl *c, int argc, char **argv)
{
    char line[128];
    int size, rc;

    (void)argc;
    if ((rc = size_arg(argv[1], &size)) != 0)
        return rc;
    if (pyrpool_resize_pool(c->cli, argv[0], size, &c->err) != 0)
        return failed(c);
    snprintf(line, sizeof line, "pool %s resized to %d", argv[0], size);
    return done(c, true, line);
}

/* KEY=VALUE with KEY a Python identifier (eq: its '='): a keyword argument. */
static bool is_kwarg(const char *arg, const char *eq)
{
    return eq != NULL && eq > arg && !(arg[0] >= '0' && arg[0] <= '9') &&
           strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == (size_t)(eq - arg);
}

/* call MODULE.FUNCTION [ARG...] [KEY=VALUE...] [--pool P] [--timeout S] */
static int cmd_call(struct ctl *c, int argc, char **argv)
{
    msgpack_sbuffer args, kwargs;
    msgpack_packer apk, kpk;
    msgpack_unpacked ua, uk;
    pyrpool_call_opts opts = {0};
    pyrpool_result *res = NULL;
    char module[512], err[256], *cut, *end;
    const char *function;
    int i, nargs = 0, nkw = 0, rc = EXIT_USAGE;
    bool options = true;

    snprintf(module, sizeof module, "%s", argv[0]);
    cut = strchr(module, ':');
    if (cut == NULL)
        cut = strrchr(module, '.');
    if (cut == NULL || cut == module || cut[1] == '\0') {
        fprintf(stderr, "pyrpoolctl: '%s' is not MODULE.FUNCTION (or MODULE:FUNCTION)\n", argv[0]);
        return EXIT_USAGE;
    }
    *cut = '\0';
    function = cut + 1;
    msgpack_sbuffer_init(&args);
    msgpack_sbuffer_init(&kwargs);
    msgpack_packer_init(&apk, &args, msgpack_sbuffer_write);
    msgpack_packer_init(&kpk, &kwargs, msgpack_sbuffer_write);
    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&uk);
    /* count first: array and map headers come before their items */
    for (i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');

        if (options && strcmp(argv[i], "--") == 0) {
            options = false;
        } else if (options && (strcmp(argv[i], "--pool") == 0 || strcmp(argv[i], "--timeout") == 0)) {
            if (i + 1 == argc) {
                fprintf(stderr, "pyrpoolctl: %s needs a value\n", argv[i]);
                goto out;
            }
            if (argv[i][2] == 'p') {
                opts.pool = argv[++i];
            } else {
                opts.timeout = strtod(argv[++i], &end);
                if (*end != '\0' || !(opts.timeout > 0)) {
                    fprintf(stderr, "pyrpoolctl: --timeout takes seconds > 0, got '%s'\n", argv[i]);
                    goto out;
                }
            }
        } else if (is_kwarg(argv[i], eq)) {
            nkw++;
        } else {
            nargs++;
        }
    }
    msgpack_pack_array(&apk, (size_t)nargs);
    msgpack_pack_map(&kpk, (size_t)nkw);
    options = true;
    for (i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');

        if (options && strcmp(argv[i], "--") == 0) {
            options = false;
        } else if (options && (strcmp(argv[i], "--pool") == 0 || strcmp(argv[i], "--timeout") == 0)) {
            i++;
        } else if (is_kwarg(argv[i], eq)) {
            msgpack_pack_str(&kpk, (size_t)(eq - argv[i]));
            msgpack_pack_str_body(&kpk, argv[i], (size_t)(eq - argv[i]));
            if (value_pack(&kpk, eq + 1, err, sizeof err) != 0) {
                fprintf(stderr, "pyrpoolctl: %.*s: %s\n", (int)(eq - argv[i]), argv[i], err);
                goto out;
            }
        } else if (value_pack(&apk, argv[i], err, sizeof err) != 0) {
            fprintf(stderr, "pyrpoolctl: argument %d ('%.40s'): %s\n", i, argv[i], err);
            goto out;
        }
    }
    msgpack_unpack_next(&ua, args.data, args.size, NULL);
    msgpack_unpack_next(&uk, kwargs.data, kwargs.size, NULL);
    if ((rc = connect_daemon(c)) != 0)
        goto out;
    if (pyrpool_call(c->cli, module, function, &ua.data, nkw > 0 ? &uk.data : NULL, &opts, &res, &c->err) != 0) {
        rc = failed(c);
        goto out;
    }
    print_json(pyrpool_result_value(res));
    pyrpool_result_free(res);
    rc = 0;
out:
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&uk);
    msgpack_sbuffer_destroy(&args);
    msgpack_sbuffer_destroy(&kwargs);
    return rc;
}

static int cmd_ping(struct ctl *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (pyrpool_ping(c->cli, &c->err) != 0)
        return failed(c);
    puts(c->json ? "\"pong\"" : "pong");
    return 0;
}

static int cmd_hello(struct ctl *c, int argc, char **argv)
{
    const msgpack_object *h = pyrpool_hello(c->cli), *a;
    char version[64], protocol[32];
    uint32_t i;
    int k;

    (void)argc;
    (void)argv;
    if (c->json) {
        print_json(h);
        return 0;
    }
    cell_str(version, sizeof version, h, "version");
    cell_str(protocol, sizeof protocol, h, "protocol");
    printf("pyrpoold %s, protocol %s\n", version, protocol);
    for (k = 0; k < 2; k++) {
        a = pyrpool_obj_get(h, k == 0 ? "pools" : "features");
        printf("%s:", k == 0 ? "pools" : "features");
        for (i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++)
            printf("%s%.*s", i ? ", " : " ", (int)a->via.array.ptr[i].via.str.size, a->via.array.ptr[i].via.str.ptr);
        putchar('\n');
    }
    printf("admin methods: %s\n", pyrpool_is_admin(c->cli) ? "yes" : "no");
    return 0;
}

static int cmd_stats(struct ctl *c, int argc, char **argv)
{
    pyrpool_result *res;

    (void)argc;
    (void)argv;
    if (pyrpool_request(c->cli, METHOD_STATS, NULL, 0, &res, &c->err) != 0)
        return failed(c);
    if (c->json)
        print_json(pyrpool_result_value(res));
    else
        stats_print(stdout, pyrpool_result_value(res));
    pyrpool_result_free(res);
    return 0;
}

/* top [-d SECONDS] [-n ITERATIONS]: connects once its arguments are read. */
static int cmd_top(struct ctl *c, int argc, char **argv)
{
    struct top_opts o;
    char err[256];
    int rc;

    if (c->json) {
        fputs("pyrpoolctl: top has no --json (stats --json prints the same figures)\n", stderr);
        return EXIT_USAGE;
    }
    if (top_options(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "pyrpoolctl: %s\n", err);
        return EXIT_USAGE;
    }
    if ((rc = connect_daemon(c)) != 0)
        return rc;
    if (top_run(c->cli, &o, &c->err) != 0)
        return failed(c);
    return 0;
}

static int cmd_reload(struct ctl *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (pyrpool_reload(c->cli, &c->err) != 0)
        return failed(c);
    return done(c, true, "reloaded: the new generation serves");
}

/* pyrpoold: beside this binary (the build tree), in ../sbin (installed),
 * else on PATH. */
static void find_daemon(char *out, size_t len)
{
    char self[PATH_MAX], *dir;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

    snprintf(out, len, "pyrpoold");
    if (n < 0)
        return;
    self[n] = '\0';
    dir = dirname(self);
    snprintf(out, len, "%s/pyrpoold", dir);
    if (access(out, X_OK) == 0)
        return;
    snprintf(out, len, "%s/../sbin/pyrpoold", dir);
    if (access(out, X_OK) == 0)
        return;
    snprintf(out, len, "pyrpoold");
}

/* check [-c FILE]: pyrpoold --check on the config, without a daemon. */
static int cmd_check(struct ctl *c, int argc, char **argv)
{
    char daemon[PATH_MAX + 32];
    const char *file = c->config != NULL ? c->config : PYRPOOL_SYSCONFDIR "/pyrpoold/pyrpoold.yaml";

    if (argc == 2 && (strcmp(argv[0], "-c") == 0 || strcmp(argv[0], "--config") == 0))
        file = argv[1];
    else if (argc != 0) {
        fputs("pyrpoolctl: usage: check [-c FILE]\n", stderr);
        return EXIT_USAGE;
    }
    find_daemon(daemon, sizeof daemon);
    fflush(stdout);
    execlp(daemon, daemon, "--check", "-c", file, (char *)NULL);
    fprintf(stderr, "pyrpoolctl: cannot run %s: %s\n", daemon, strerror(errno));
    return EXIT_REMOTE;
}

static const struct command commands[] = {
    {"register", "POOL MODULE[:FUNCTION]", "route a module (and its submodules) or one function to POOL", 2, 3,
     cmd_register},
    {"unregister", "MODULE[:FUNCTION]", "remove that registration", 1, 2, cmd_unregister},
    {"lookup", "MODULE [FUNCTION]", "the pool a call would run on", 1, 2, cmd_lookup},
    {"routes", "", "every registration: module, function, pool, source", 0, 0, cmd_routes},
    {"pools", "", "every pool: mode, size, busy, idle, queued, counters, state", 0, 0, cmd_pools},
    {"start-pool", "NAME SIZE [--mode M]", "start a pool (mode process or thread), once ready", 2, 4,
     cmd_start_pool},
    {"stop-pool", "NAME", "stop a pool once its calls are done", 1, 1, cmd_stop_pool},
    {"resize", "NAME SIZE", "grow or shrink a pool without failing a call", 2, 2, cmd_resize},
    {"call", "MOD.FUNC [ARG...] [K=V...]", "run a function (--pool P, --timeout S), print its result as JSON", 1,
     INT_MAX, cmd_call},
    {"ping", "", "check that the daemon answers", 0, 0, cmd_ping},
    {"hello", "", "the daemon's version, protocol, pools and features", 0, 0, cmd_hello},
    {"stats", "", "pools' latencies, outcomes, restarts, memory; listeners' traffic", 0, 0, cmd_stats},
    {"top", "[-d SECONDS] [-n ITERATIONS]", "stats refreshed every -d seconds (1), full screen until q", 0, 4,
     cmd_top},
    {"reload", "", "reload the config (what SIGHUP does), once it serves", 0, 0, cmd_reload},
    {"check", "[-c FILE]", "check a config file (pyrpoold --check), no daemon needed", 0, 2, cmd_check},
    {NULL, NULL, NULL, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct ctl c = {.err = PYRPOOL_ERROR_INIT};
    const struct command *cmd;
    int opt, rc, i, n;

    while ((opt = getopt_long(argc, argv, "+s:c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': c.socket = optarg; break;
        case 'c': c.config = optarg; break;
        case 't': c.token_file = optarg; break;
        case 'j': c.json = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("pyrpoolctl %s\n", PYRPOOL_CLIENT_VERSION); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (cmd = commands; cmd->name != NULL && strcmp(cmd->name, argv[optind]) != 0; cmd++)
        ;
    if (cmd->name == NULL) {
        fprintf(stderr, "pyrpoolctl: unknown command '%s' (pyrpoolctl --help lists them)\n", argv[optind]);
        return EXIT_USAGE;
    }
    /* --json may come after the command too (not for call: its arguments are its own) */
    for (i = optind + 1, n = optind + 1; i < argc; i++) {
        if (cmd->run != cmd_call && strcmp(argv[i], "--json") == 0)
            c.json = true;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    n = argc - optind - 1;
    if (n < cmd->min || n > cmd->max) {
        fprintf(stderr, "pyrpoolctl: usage: %s %s\n", cmd->name, cmd->args);
        return EXIT_USAGE;
    }
    /* call and top connect once their arguments are read; check needs no daemon */
    rc = cmd->run == cmd_call || cmd->run == cmd_top || cmd->run == cmd_check ? 0 : connect_daemon(&c);
    if (rc == 0)
        rc = cmd->run(&c, n, argv + optind + 1);
    pyrpool_close(c.cli);
    pyrpool_error_free(&c.err);
    return rc;
}
