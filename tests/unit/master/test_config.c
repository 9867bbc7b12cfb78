/* Unit tests for config loading (src/master/config.c): good files, and bad ones
 * with the exact error text an operator sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char dir[] = "/tmp/pyrpool-config-test-XXXXXX";
static char path[300];

/* Writes text to the test config file and loads it with 4 CPUs. */
static int load(const char *text, struct config *cfg, char *err)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return config_load(path, 4, cfg, err, CONFIG_ERR_LEN);
}

/* Asserts that text fails with "<path>:<where>" as the error; a "%s" in
 * where (the next error's line) stands for the path too. */
static void expect_error(const char *text, const char *where)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN], want[CONFIG_ERR_LEN];
    const char *w, *hole;
    size_t n;

    assert_int_equal(load(text, &cfg, err), -1);
    n = (size_t)snprintf(want, sizeof want, "%s:", path);
    for (w = where; (hole = strstr(w, "%s")) != NULL; w = hole + 2)
        n += (size_t)snprintf(want + n, sizeof want - n, "%.*s%s", (int)(hole - w), w, path);
    snprintf(want + n, sizeof want - n, "%s", w);
    assert_string_equal(err, want);
}

static void test_full_config(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN], want[400];

    (void)state;
    snprintf(want, sizeof want, "%s/examples", dir);
    mkdir(want, 0700); /* python.path folders must exist */
    assert_int_equal(load("listen:\n"
                          "  - unix: run/pyrpoold.sock\n"
                          "  - tcp: 127.0.0.1:7717\n"
                          "    token_file: token\n"
                          "  - tcp: \"[::1]:7718\"\n"
                          "    token_file: token\n"
                          "    admin: true\n"
                          "pools:\n"
                          "  default: {size: auto, mode: process}\n"
                          "  io:      {size: 10,  mode: process}\n"
                          "  gpu:     {size: 2, timeout: 2.5, preload_in_template: false}\n"
                          "  th:      {size: 3, hard_timeout: 4, mode: thread, crash_limit: 0, crash_interval: 5.5}\n"
                          "  gpu2:    {size: 1, max_queue: 5, max_requests: 100, max_requests_jitter: 10}\n"
                          "python:\n"
                          "  path: [examples, /usr/lib]\n"
                          "  allow_eval: true\n"
                          "routes:\n"
                          "  requests: io\n"
                          "  \"json:dumps\": default\n"
                          "limits:\n"
                          "  max_message_size: 8MiB\n"
                          "  max_inflight: 64\n",
                          &cfg, err),
                     0);
    assert_int_equal(cfg.nlisten, 3);
    assert_int_equal(cfg.listen[0].kind, LISTEN_UNIX);
    snprintf(want, sizeof want, "%s/run/pyrpoold.sock", dir);
    assert_string_equal(cfg.listen[0].path, want);
    assert_int_equal(cfg.listen[1].kind, LISTEN_TCP);
    assert_string_equal(cfg.listen[1].host, "127.0.0.1");
    assert_int_equal(cfg.listen[1].port, 7717);
    assert_string_equal(cfg.listen[2].host, "::1");
    assert_int_equal(cfg.listen[2].port, 7718);
    assert_true(cfg.listen[0].admin);             /* unix: admin by default */
    assert_int_equal(cfg.listen[0].mode, 0600);   /* and 0600 */
    assert_int_equal(cfg.listen[0].gid, -1);
    assert_null(cfg.listen[0].token);
    assert_false(cfg.listen[1].admin);            /* tcp: not admin by default */
    assert_string_equal(cfg.listen[1].token, "0123456789abcdef-token");
    assert_true(cfg.listen[2].admin);
    assert_int_equal(cfg.npools, 5);
    assert_int_equal(cfg.pools[4].max_queue, 5);
    assert_int_equal(cfg.pools[4].max_requests, 100);
    assert_int_equal(cfg.pools[4].max_requests_jitter, 10);
    assert_int_equal(cfg.pools[1].mode, POOL_PROCESS);
    assert_true(cfg.pools[2].timeout == 2.5);
    assert_true(cfg.pools[2].hard_timeout == CONFIG_DEFAULT_HARD_TIMEOUT);
    assert_int_equal(cfg.pools[3].mode, POOL_THREAD);
    assert_true(cfg.pools[3].hard_timeout == 4.0);
    assert_true(cfg.pools[3].timeout == 0);
    assert_true(cfg.pools[3].preload_in_template);
    assert_false(cfg.pools[2].preload_in_template);
    assert_int_equal(cfg.pools[2].crash_limit, CONFIG_DEFAULT_CRASH_LIMIT);
    assert_int_equal(cfg.pools[3].crash_limit, 0);
    assert_true(cfg.pools[3].crash_interval == 5.5);
    assert_int_equal(cfg.pools[0].max_queue, CONFIG_DEFAULT_MAX_QUEUE);
    assert_int_equal(cfg.max_inflight, 64);
    assert_string_equal(cfg.pools[0].name, "default");
    assert_int_equal(cfg.pools[0].size, 4);
    assert_string_equal(cfg.pools[1].name, "io");
    assert_int_equal(cfg.pools[1].size, 10);
    assert_string_equal(cfg.pools[2].name, "gpu");
    assert_int_equal(cfg.pools[2].size, 2);
    assert_int_equal(cfg.npython_path, 2);
    snprintf(want, sizeof want, "%s/examples", dir);
    assert_string_equal(cfg.python_path[0], want);
    assert_string_equal(cfg.python_path[1], "/usr/lib");
    assert_true(cfg.allow_eval);
    assert_int_equal(cfg.nroutes, 2);
    assert_string_equal(cfg.routes[0].module, "requests");
    assert_null(cfg.routes[0].function);
    assert_string_equal(cfg.routes[0].pool, "io");
    assert_string_equal(cfg.routes[1].module, "json");
    assert_string_equal(cfg.routes[1].function, "dumps");
    assert_int_equal(cfg.max_message_size, 8u << 20);
    config_free(&cfg);
}

static void test_minimal_config_gets_defaults(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(load("listen:\n  - unix: /tmp/x.sock\n", &cfg, err), 0);
    assert_int_equal(cfg.npools, 2);
    assert_int_equal(config_find_pool(&cfg, "default")->size, 4);
    assert_int_equal(config_find_pool(&cfg, "io")->size, CONFIG_DEFAULT_IO_SIZE);
    assert_int_equal(config_find_pool(&cfg, "io")->mode, POOL_THREAD);
    assert_int_equal(config_find_pool(&cfg, "default")->mode, POOL_PROCESS);
    assert_false(cfg.allow_eval);
    assert_int_equal(cfg.max_message_size, CONFIG_DEFAULT_MAX_MESSAGE);
    assert_null(config_find_pool(&cfg, "gpu"));
    config_free(&cfg);
}

static void test_missing_file(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(config_load("/nonexistent/pyrpoold.yaml", 2, &cfg, err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/pyrpoold.yaml: cannot open: No such file or directory");
}

static void test_bad_files(void **state)
{
    char want[CONFIG_ERR_LEN];

    (void)state;
    expect_error("", " the file is empty (at least 'listen:' is needed)");
    expect_error("lisen:\n  - unix: a\n",
                 "1:1: (top level): unknown key 'lisen' (expected one of: listen, pools, python, routes, limits, state_file, log, metrics)");
    expect_error("listen: [{unix: a}]\npools:\n  io: {size: ten}\n",
                 "3:14: pools.io.size: expected a number of executors or 'auto', got 'ten'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {size: -1}\n",
                 "3:14: pools.io.size: -1 executors is out of range (1 to 1024)");
    expect_error("listen: [{unix: a}]\npools:\n  io: {size: 2, mode: fiber}\n",
                 "3:23: pools.io.mode: expected 'process' or 'thread', got 'fiber'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {size: 2, workers: 3}\n",
                 "3:17: pools.io: unknown key 'workers' (expected one of: size, mode, max_queue, max_requests, max_requests_jitter, max_memory, timeout, hard_timeout, slow_call, preload_in_template, crash_limit, crash_interval, user, group)");
    expect_error("listen: [{unix: a}]\npools:\n  cpu: {hard_timeout: 2, size: 2}\n",
                 "3:23: pools.cpu.hard_timeout: applies to thread mode only (a process executor is killed limits.timeout_grace_ms after its call is stopped)");
    expect_error("listen: [{unix: a}]\npools:\n  io: {hard_timeout: 2, mode: process}\n",
                 "3:22: pools.io.hard_timeout: applies to thread mode only (a process executor is killed limits.timeout_grace_ms after its call is stopped)");
    expect_error("listen: [{unix: a}]\npools:\n  io: {timeout: 0}\n",
                 "3:17: pools.io.timeout: 0 seconds is out of range (more than 0, at most 3.1536e+07)");
    expect_error("listen: [{unix: a}]\npools:\n  io: {timeout: 1s}\n",
                 "3:17: pools.io.timeout: expected a number of seconds, got '1s'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {crash_limit: -2}\n",
                 "3:21: pools.io.crash_limit: -2 deaths is out of range (0 to 1000000)");
    expect_error("listen: [{unix: a}]\npools:\n  io: {crash_interval: forever}\n",
                 "3:24: pools.io.crash_interval: expected a number of seconds, got 'forever'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {preload_in_template: maybe}\n",
                 "3:29: pools.io.preload_in_template: expected true or false, got 'maybe'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {hard_timeout: nan}\n",
                 "3:22: pools.io.hard_timeout: expected a number of seconds, got 'nan'");
    expect_error("listen: [{unix: a}]\npools:\n  \"bad name\": {size: 1}\n",
                 "3:3: pools: pool name 'bad name' must be 1 to 63 letters, digits, '_' or '-'");
    expect_error("listen: [{unix: a}]\nroutes:\n  requests: nosuchpool\n",
                 "3:13: routes: no pool named 'nosuchpool'");
    expect_error("listen: [{unix: a}]\nroutes:\n  \"json:\": io\n",
                 "3:3: routes: 'json:' is not a module name or \"module:function\"");
    expect_error("listen:\n  - tcp: 127.0.0.1:7717\n",
                 "2:5: listen[0]: a tcp listener needs token_file (anyone who can connect can run code as the "
                 "daemon's user)");
    snprintf(want, sizeof want, "3:17: listen[0].token_file: cannot read '%s/nosuchfile': No such file or directory", dir);
    expect_error("listen:\n  - tcp: 127.0.0.1:7717\n    token_file: nosuchfile\n", want);
    snprintf(want, sizeof want, "3:17: listen[0].token_file: '%s/open-token' is readable by every user (mode 0644): chmod 600 it", dir);
    expect_error("listen:\n  - tcp: 127.0.0.1:7717\n    token_file: open-token\n", want);
    snprintf(want, sizeof want, "3:17: listen[0].token_file: '%s/short-token' must hold one line of 16 to 1024 characters (e.g. from `openssl rand -hex 32`), it has 5", dir);
    expect_error("listen:\n  - tcp: 127.0.0.1:7717\n    token_file: short-token\n", want);
    expect_error("listen:\n  - unix: a\n    mode: \"0666\"\n",
                 "3:11: listen[0].mode: mode 0666 lets every user on the machine connect (and so run code as the daemon's user); use a group instead");
    expect_error("listen:\n  - unix: a\n    mode: 660\n",
                 "3:11: listen[0].mode: expected an octal mode such as \"0660\", got '660'");
    expect_error("listen:\n  - unix: a\n    group: no-such-group-here\n",
                 "3:12: listen[0].group: no group named 'no-such-group-here' on this machine");
    expect_error("listen:\n  - unix: a\n    token_file: token\n",
                 "3:17: listen[0].token_file: applies to tcp listeners only");
    expect_error("listen:\n  - tcp: 127.0.0.1:1\n    token_file: token\n    mode: \"0600\"\n",
                 "4:11: listen[0].mode: applies to unix listeners only");
    expect_error("listen:\n  - unix: a\n    perms: me\n",
                 "3:5: listen[0]: unknown key 'perms' (expected one of: mode, owner, group, admin, errors, name for unix; "
                 "token_file, admin, errors, name for tcp)");
    expect_error("listen:\n  - unix: a\n    errors: xml\n",
                 "3:13: listen[0].errors: expected map, string or array, got 'xml'");
    expect_error("listen:\n  - unix: a\n    name: \"a:b\"\n",
                 "3:11: listen[0].name: 'a:b': a socket name is printable ASCII without spaces or ':' "
                 "(systemd's FileDescriptorName=)");
    expect_error("listen:\n  - unix: a\n    name: main\n  - unix: b\n    name: main\n",
                 "5:11: listen[1].name: another listener is named 'main' already");
    expect_error("listen:\n  - unix: a\n    name: \"\"\n",
                 "3:11: listen[0].name: expected a name of 1 to 255 characters, got an empty string");
    expect_error("listen:\n  - unix: a\n    owner: no-such-user-here\n",
                 "3:12: listen[0].owner: no user named 'no-such-user-here' on this machine");
    expect_error("listen:\n  - mode: \"0600\"\n    unix: a\n",
                 "2:5: listen: unknown listener kind 'mode' (expected unix or tcp)");
    expect_error("listen:\n  - unix: a\n    tcp: 127.0.0.1:1\n",
                 "3:5: listen[0]: 'tcp': a listener has one address (unix: or tcp:), written first");
    expect_error("listen:\n  - unix: a\n    admin: yes please\n",
                 "3:12: listen[0].admin: expected true or false, got 'yes please'");
    /* a path too long for a socket: refused, and (under the sanitizer) not leaked */
    expect_error("listen:\n  - unix: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "2:11: listen.unix: socket path '/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is longer than 107 bytes");
    expect_error("listen:\n  - tcp: 127.0.0.1:99999\n",
                 "2:10: listen.tcp: port must be 1 to 65535, got '99999'");
    expect_error("listen:\n  - tcp: localhost\n", "2:10: listen.tcp: expected HOST:PORT, got 'localhost'");
    expect_error("listen:\n  - udp: 1.2.3.4:5\n",
                 "2:5: listen: unknown listener kind 'udp' (expected unix or tcp)");
    expect_error("listen: [{unix: a}]\npython:\n  allow_eval: maybe\n",
                 "3:15: python.allow_eval: expected true or false, got 'maybe'");
    expect_error("listen: [{unix: a}]\npython:\n  path: examples\n",
                 "3:9: python.path: expected a list of folders, got a scalar");
    expect_error("listen: [{unix: a}]\nlimits:\n  max_message_size: 12XB\n",
                 "3:21: limits.max_message_size: expected a size in bytes (e.g. 65536 or 64MiB), got '12XB'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {max_queue: 0}\n",
                 "3:19: pools.io.max_queue: 0 calls is out of range (1 to 100000000)");
    expect_error("listen: [{unix: a}]\nlimits:\n  max_inflight: lots\n",
                 "3:17: limits.max_inflight: expected a number of calls, got 'lots'");
    expect_error("listen: [{unix: a}]\npython:\n  preload: [\"a:b\"]\n",
                 "3:13: python.preload[0]: expected a module name, got 'a:b'");
    expect_error("listen: [{unix: a}]\npools:\n  io: {max_memory: 10}\n",
                 "3:20: pools.io.max_memory: '10' is out of range (1048576 to 1099511627776 bytes)");
    expect_error("listen: [{unix: a}]\nlimits:\n  timeout_grace_ms: 0\n",
                 "3:21: limits.timeout_grace_ms: 0 ms is out of range (1 to 600000)");
    expect_error("listen: [{unix: a}]\nlimits:\n  max_output: 1KiB\n",
                 "3:15: limits.max_output: '1KiB' is out of range (65536 to 1099511627776 bytes)");
    expect_error("listen: [{unix: a}]\nlimits:\n  shutdown_timeout: -1\n",
                 "3:21: limits.shutdown_timeout: -1 seconds is out of range (0 to 3600)");
    expect_error("listen: [{unix: a}]\nlimits:\n  max_message_size: 10\n",
                 "3:21: limits.max_message_size: '10' is out of range (1024 to 2147483648 bytes)");
    expect_error("listen: [{unix: a}]\nlisten: [{unix: b}]\n", "2:1: (top level): duplicate key 'listen'");
    expect_error("listen: [{unix: a}\n", "2:1: invalid YAML: did not find expected ',' or ']'");
    expect_error("pools: {}\n", "1:1: listen: at least one listener is needed");
    expect_error("- a\n- b\n", "1:1: (top level): expected a mapping, got a list");
}

/* python.allow: what it accepts, what it names, and its errors. */
static void test_allow(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(load("listen: [{unix: a}]\n", &cfg, err), 0);
    assert_false(cfg.allow_set);
    assert_true(config_allows(&cfg, "os", 2)); /* no allow: everything */
    config_free(&cfg);

    assert_int_equal(load("listen: [{unix: a}]\npython:\n  allow: [math, json, \"myapp.*\", a.b]\n"
                          "routes:\n  myapp.x: default\n", &cfg, err), 0);
    assert_true(cfg.allow_set);
    assert_int_equal(cfg.nallow, 4);
    assert_true(config_allows(&cfg, "math", 4));
    assert_true(config_allows(&cfg, "json", 4));
    assert_false(config_allows(&cfg, "json.decoder", 12)); /* "json" is json alone */
    assert_false(config_allows(&cfg, "jso", 3));
    assert_false(config_allows(&cfg, "jsonx", 5));
    assert_true(config_allows(&cfg, "myapp", 5));
    assert_true(config_allows(&cfg, "myapp.models.x", 14));
    assert_false(config_allows(&cfg, "myappx", 6));
    assert_false(config_allows(&cfg, "myapp_x.y", 9));
    assert_true(config_allows(&cfg, "a.b", 3));
    assert_false(config_allows(&cfg, "a", 1));
    assert_false(config_allows(&cfg, "os", 2));
    assert_false(config_allows(&cfg, "builtins", 8));
    assert_false(config_allows(&cfg, "", 0));
    config_free(&cfg);

    assert_int_equal(load("listen: [{unix: a}]\npython:\n  allow: []\n", &cfg, err), 0);
    assert_true(cfg.allow_set);
    assert_false(config_allows(&cfg, "math", 4)); /* an empty list allows nothing */
    config_free(&cfg);

    expect_error("listen: [{unix: a}]\npython:\n  allow: math\n",
                 "3:10: python.allow: expected a list of module names (\"json\", \"myapp.*\"), got a scalar");
    expect_error("listen: [{unix: a}]\npython:\n  allow: [\"*\"]\n",
                 "3:11: python.allow[0]: expected a module name or \"package.*\", got '*'");
    expect_error("listen: [{unix: a}]\npython:\n  allow: [math, \"a.*.b\"]\n",
                 "3:17: python.allow[1]: expected a module name or \"package.*\", got 'a.*.b'");
    /* every error of the file, one per line */
    expect_error("listen: [{unix: a}]\npython:\n  allow: [os., .os, \"a:b\"]\n",
                 "3:11: python.allow[0]: expected a module name or \"package.*\", got 'os.'\n%s:"
                 "3:16: python.allow[1]: expected a module name or \"package.*\", got '.os'\n%s:"
                 "3:21: python.allow[2]: expected a module name or \"package.*\", got 'a:b'");
    expect_error("listen: [{unix: a}]\npython:\n  allow: [math]\nroutes:\n  requests: io\n",
                 "5:13: routes: module 'requests' is not in python.allow");
}

/* limits.core_files: off unless set. */
static void test_core_files(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(load("listen: [{unix: a}]\n", &cfg, err), 0);
    assert_false(cfg.core_files);
    config_free(&cfg);
    assert_int_equal(load("listen: [{unix: a}]\nlimits:\n  core_files: true\n", &cfg, err), 0);
    assert_true(cfg.core_files);
    config_free(&cfg);
    expect_error("listen: [{unix: a}]\nlimits:\n  core_files: 1\n",
                 "3:15: limits.core_files: expected true or false, got '1'");
}

/* limits.max_connections, max_pools, max_executors: defaults, and a file
 * that passes its own limits. */
static void test_security_limits(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(load("listen: [{unix: a}]\n", &cfg, err), 0);
    assert_int_equal(cfg.max_connections, CONFIG_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(cfg.request_timeout, CONFIG_DEFAULT_REQUEST_TIMEOUT);
    assert_int_equal(cfg.idle_timeout, 0);
    assert_int_equal(cfg.max_pools, CONFIG_DEFAULT_MAX_POOLS);
    assert_int_equal(cfg.max_executors, CONFIG_DEFAULT_MAX_EXECUTORS);
    config_free(&cfg);
    assert_int_equal(load("listen: [{unix: a}]\nlimits:\n  max_connections: 3\n  max_pools: 2\n"
                          "  max_executors: 5\n", &cfg, err), 0); /* default 4 + io (one process) */
    assert_int_equal(cfg.max_connections, 3);
    config_free(&cfg);
    expect_error("listen: [{unix: a}]\nlimits:\n  max_pools: 2\npools:\n  gpu: {size: 1}\n",
                 "1:1: pools: 3 pools, more than limits.max_pools (2)");
    expect_error("listen: [{unix: a}]\nlimits:\n  max_executors: 4\n",
                 "1:1: pools: 5 executor processes in all, more than limits.max_executors (4)");
    assert_int_equal(load("listen: [{unix: a}]\nlimits:\n  max_connections: 0\n", &cfg, err), -1);
    assert_non_null(strstr(err, "limits.max_connections"));
}

/* log.executor_output and log.executor_output_rate: defaults, values, and
 * bad ones. */
static void test_executor_output(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(load("listen: [{unix: a}]\n", &cfg, err), 0);
    assert_true(cfg.log_executor_output);
    assert_int_equal(cfg.log_executor_output_rate, CONFIG_DEFAULT_EXECUTOR_OUTPUT_RATE);
    config_free(&cfg);
    assert_int_equal(load("listen: [{unix: a}]\nlog:\n  executor_output: false\n  executor_output_rate: 5\n",
                          &cfg, err), 0);
    assert_false(cfg.log_executor_output);
    assert_int_equal(cfg.log_executor_output_rate, 5);
    config_free(&cfg);
    expect_error("listen: [{unix: a}]\nlog:\n  executor_output: [yes]\n",
                 "3:20: log.executor_output: expected true or false, got a list");
    expect_error("listen: [{unix: a}]\nlog:\n  executor_output_rate: 1000001\n",
                 "3:25: log.executor_output_rate: 1000001 lines a second is out of range (1 to 1000000)");
}

/* Writes dir/name with text and mode. */
static int put(const char *name, const char *text, mode_t mode)
{
    char p[400];
    FILE *f;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    f = fopen(p, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(p, mode);
}

static const char *const token_files[] = {"token", "open-token", "short-token"};

static int group_setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/pyrpoold.yaml", dir);
    return put("token", "0123456789abcdef-token\n", 0600) || put("open-token", "0123456789abcdef-token\n", 0644) ||
           put("short-token", "short\n", 0600);
}

static int group_teardown(void **state)
{
    char p[400];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof token_files / sizeof token_files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, token_files[i]);
        unlink(p);
    }
    unlink(path);
    rmdir(dir);
    return 0;
}

/* --check and a reload tell every error of a file, not the first. */
static void test_every_error_at_once(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN], text[4096];
    size_t n = 0;
    int i;

    (void)state;
    expect_error("listen:\n  - unix: a\n    mode: \"0666\"\n  - unix: a\n"
                 "pools:\n  default: {size: 0}\n  bad name: {}\n  io: {colour: red}\n"
                 "python:\n  path: [no-such-folder]\n"
                 "routes:\n  x: nope\n"
                 "limits:\n  max_inflight: lots\n",
                 "3:11: listen[0].mode: mode 0666 lets every user on the machine connect (and so run code as the "
                 "daemon's user); use a group instead\n%s"
                 ":4:5: listen[1]: listen[0] has that address already\n%s"
                 ":6:19: pools.default.size: 0 executors is out of range (1 to 1024)\n%s"
                 ":7:3: pools: pool name 'bad name' must be 1 to 63 letters, digits, '_' or '-'\n%s"
                 ":8:8: pools.io: unknown key 'colour' (expected one of: size, mode, max_queue, max_requests, "
                 "max_requests_jitter, max_memory, timeout, hard_timeout, slow_call, preload_in_template, crash_limit, "
                 "crash_interval, user, group)\n%s"
                 ":10:10: python.path[0]: 'no-such-folder' is not a folder (it does not exist)\n%s"
                 ":14:17: limits.max_inflight: expected a number of calls, got 'lots'\n%s"
                 ":12:6: routes: no pool named 'nope'");
    /* past CONFIG_MAX_ERRORS: how many more */
    n += (size_t)snprintf(text + n, sizeof text - n, "listen: [{unix: a}]\nroutes:\n");
    for (i = 0; i < 25; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "  m%d: nope%d\n", i, i);
    assert_int_equal(load(text, &cfg, err), -1);
    assert_non_null(strstr(err, "routes: no pool named 'nope19'"));
    assert_null(strstr(err, "nope20"));
    assert_non_null(strstr(err, ": ... and 5 more errors"));
}

/* metrics.listen: an IP address and port, or no HTTP listener at all. */
static void test_metrics(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_int_equal(load("listen: [{unix: a}]\n", &cfg, err), 0);
    assert_null(cfg.metrics.host);
    config_free(&cfg);
    assert_int_equal(load("listen: [{unix: a}]\nmetrics: {listen: 127.0.0.1:9717}\n", &cfg, err), 0);
    assert_string_equal(cfg.metrics.host, "127.0.0.1");
    assert_int_equal(cfg.metrics.port, 9717);
    config_free(&cfg);
    assert_int_equal(load("listen: [{unix: a}]\nmetrics:\n  listen: \"[::1]:9717\"\n", &cfg, err), 0);
    assert_string_equal(cfg.metrics.host, "::1");
    config_free(&cfg);
    expect_error("listen: [{unix: a}]\nmetrics: {listen: localhost:9717}\n",
                 "2:19: metrics.listen: 'localhost' is not an IPv4 or IPv6 address (names are not looked up), "
                 "e.g. 127.0.0.1:9717");
    expect_error("listen: [{unix: a}]\nmetrics: {listen: 127.0.0.1:0}\n",
                 "2:19: metrics.listen: port must be 1 to 65535, got '0'");
    expect_error("listen: [{unix: a}]\nmetrics: {listen: 9717}\n",
                 "2:19: metrics.listen: expected HOST:PORT, got '9717'");
    expect_error("listen: [{unix: a}]\nmetrics: {listen: /run/metrics.sock}\n",
                 "2:19: metrics.listen: '/run/metrics.sock': metrics are served over TCP only (Prometheus "
                 "scrapes HTTP over TCP): give HOST:PORT, e.g. 127.0.0.1:9717");
    expect_error("listen: [{unix: a}]\nmetrics: {listen: 127.0.0.1:9717, path: /m}\n",
                 "2:35: metrics: unknown key 'path' (expected one of: listen)");
    expect_error("listen: [{unix: a}]\nmetrics: {}\n",
                 "2:10: metrics: needs listen: HOST:PORT (e.g. 127.0.0.1:9717); without metrics: there is no "
                 "HTTP listener");
    expect_error("listen: [{unix: a}]\nmetrics: 127.0.0.1:9717\n",
                 "2:10: metrics: expected a mapping, got a scalar");
}

/* What the daemon warns about: a listener other machines can reach. */
static void test_loopback(void **state)
{
    (void)state;
    assert_true(config_loopback("127.0.0.1"));
    assert_true(config_loopback("127.255.0.9"));
    assert_true(config_loopback("::1"));
    assert_false(config_loopback("0.0.0.0"));
    assert_false(config_loopback("128.0.0.1"));
    assert_false(config_loopback("192.168.1.2"));
    assert_false(config_loopback("::"));
    assert_false(config_loopback("::ffff:127.0.0.1"));
    assert_false(config_loopback("localhost"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_at_once),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_minimal_config_gets_defaults),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_core_files),
        cmocka_unit_test(test_security_limits),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_executor_output),
    };

    return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
