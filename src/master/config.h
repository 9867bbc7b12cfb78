/* config: pyrpoold.yaml, loaded and validated into a struct config.
 *
 * Every error names file:line:column, the key path and the bad value. Unknown
 * keys are refused. Relative paths resolve against the config file's folder.
 * The pools `default` and `io` always exist; the file may resize them and
 * add more. Pure C over libyaml: no sockets, no processes. */
#ifndef PYRPOOL_CONFIG_H
#define PYRPOOL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "protocol.h"

#define CONFIG_ERR_LEN 4096  /* room for every error of a file, one per line */
#define CONFIG_MAX_ERRORS 20  /* told one by one; past it, how many more */
#define CONFIG_POOL_NAME_MAX 63
#define CONFIG_POOL_SIZE_MAX 1024

enum listen_kind { LISTEN_UNIX, LISTEN_TCP };

/* A token shorter than this is refused (a token_file's content). */
#define CONFIG_TOKEN_MIN 16
#define CONFIG_TOKEN_MAX 1024

struct config_listen {
    enum listen_kind kind;
    char *path;   /* unix: absolute path */
    char *host;   /* tcp: address as written, without brackets */
    int port;     /* tcp */
    bool admin;   /* admin methods allowed (default: unix yes, tcp no) */
    unsigned mode; /* unix: the socket file's mode (default 0600) */
    int gid;      /* unix: its group (-1: the daemon's) */
    int uid;      /* unix: its owner (-1: the daemon's user) */
    char *group;  /* unix: that group's name, as written */
    char *token_file; /* tcp: where the token was read from */
    char *token;  /* tcp: what a connection's first request (auth) must carry */
    enum error_shape errors; /* its connections' error answers, until a hello changes it */
    char *name;   /* the FileDescriptorName of the socket systemd passes for it, or NULL */
};

enum pool_mode { POOL_PROCESS, POOL_THREAD };

struct config_pool {
    char name[CONFIG_POOL_NAME_MAX + 1];
    int size;          /* executors (process mode) or threads (thread mode) */
    enum pool_mode mode;
    double timeout;               /* default per-call timeout, seconds; 0: none */
    bool preload_in_template;     /* fork executors from a template process */
    unsigned crash_limit;         /* this many executor deaths within crash_interval... */
    double crash_interval;        /* ...seconds hold calls off the pool; 0: never */
    double slow_call;             /* seconds a call runs before its stack is logged;
                                   * 0: never; -1: limits.slow_call */
    double hard_timeout;          /* thread mode: seconds a stopped call may keep its
                                   * thread before the executor is replaced */
    unsigned max_queue;           /* calls waiting at most; past it: Overloaded */
    unsigned max_requests;        /* calls before an executor is replaced; 0: never */
    unsigned max_requests_jitter; /* plus up to this many, per executor */
    size_t max_memory;            /* RSS bytes past which an executor is replaced; 0: never */
    int uid, gid;                 /* user:, group: its executors run as (-1: the daemon's) */
};

/* metrics: the HTTP listener for Prometheus (http.h). */
struct config_metrics {
    char *host;   /* an IPv4 or IPv6 address as written, without brackets; NULL: no listener */
    int port;
};

struct config_route {
    char *module;
    char *function;    /* NULL for a module-wide route */
    char *pool;
};

struct config {
    char *file;        /* the file as given */
    char *dir;         /* its folder, absolute */
    struct config_listen *listen;
    size_t nlisten;
    struct config_pool *pools;
    size_t npools;
    char **python_path; /* absolute */
    size_t npython_path;
    char **preload;     /* python.preload: modules every executor imports at start */
    char *venv;         /* python.venv: absolute, checked at load; NULL: none */
    size_t npreload;
    bool allow_eval;
    char **allow;       /* python.allow: "module" or "package.*" entries */
    size_t nallow;
    bool allow_set;     /* python.allow given: only what it names is callable */
    struct config_route *routes;
    size_t nroutes;
    size_t max_message_size;  /* limits.max_message_size, bytes */
    unsigned handback_ms;     /* limits.handback_ms */
    unsigned spin_us;         /* limits.spin_us */
    unsigned max_inflight;    /* limits.max_inflight: per connection */
    size_t max_output;        /* limits.max_output: unwritten answer bytes per connection */
    unsigned shutdown_timeout; /* limits.shutdown_timeout, seconds */
    unsigned timeout_grace_ms; /* limits.timeout_grace_ms */
    double slow_call;         /* limits.slow_call: seconds (0: off), for pools without their own */
    bool core_files;          /* limits.core_files: executors may dump core */
    unsigned max_connections; /* limits.max_connections: clients at once */
    unsigned request_timeout; /* limits.request_timeout: seconds a request may take to arrive */
    unsigned idle_timeout;    /* limits.idle_timeout: seconds idle before a close; 0: never */
    unsigned max_pools;       /* limits.max_pools: pools at once */
    unsigned max_executors;   /* limits.max_executors: executor processes, all pools */
    char *state_file;         /* absolute; NULL: run-time changes last until a restart */
    enum log_level log_level; /* log.level: messages below it are dropped */
    bool log_json;            /* log.format: json (else text) */
    bool log_calls;           /* log.calls: an access log line per call */
    struct config_metrics metrics; /* metrics.listen */
    bool log_executor_output; /* log.executor_output: executors' stdout/stderr into the log */
    unsigned log_executor_output_rate; /* log.executor_output_rate: lines a second per process */
};

/* Defaults that the documentation quotes. */
#define CONFIG_DEFAULT_MAX_MESSAGE (64u << 20)
#define CONFIG_DEFAULT_IO_SIZE 10
#define CONFIG_DEFAULT_HANDBACK_MS 10
#define CONFIG_DEFAULT_SPIN_US 50
#define CONFIG_DEFAULT_MAX_QUEUE 100000
#define CONFIG_DEFAULT_MAX_INFLIGHT 4096
#define CONFIG_DEFAULT_MAX_CONNECTIONS 1024
#define CONFIG_DEFAULT_REQUEST_TIMEOUT 30
#define CONFIG_DEFAULT_MAX_POOLS 64
#define CONFIG_DEFAULT_MAX_EXECUTORS 1024
#define CONFIG_DEFAULT_MAX_OUTPUT (64u << 20)
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT 30
#define CONFIG_DEFAULT_TIMEOUT_GRACE_MS 1000
#define CONFIG_DEFAULT_HARD_TIMEOUT 10.0
#define CONFIG_DEFAULT_CRASH_LIMIT 10
#define CONFIG_DEFAULT_CRASH_INTERVAL 10.0
#define CONFIG_DEFAULT_EXECUTOR_OUTPUT_RATE 1000

/* Loads and validates file. ncpu is what `size: auto` means. Returns 0, or -1
 * with "file:line:col: what is wrong" in err (cfg is then left empty). The
 * caller frees a loaded config with config_free. */
int config_load(const char *file, int ncpu, struct config *cfg, char *err, size_t errlen);

void config_free(struct config *cfg);

/* A pool named name (len bytes) of size with every other key at its
 * default, as the file would give it. */
void config_pool_init(struct config_pool *p, const char *name, size_t len, int size);

/* The pool named name, or NULL. */
const struct config_pool *config_find_pool(const struct config *cfg, const char *name);

/* True when the file's routes register module (function NULL: module-wide)
 * or module:function to pool. */
bool config_has_route(const struct config *cfg, const char *module, size_t mlen, const char *function,
                      size_t flen, const char *pool);

/* True when host, an IPv4 or IPv6 address as written, is a loopback one
 * (127.0.0.0/8, ::1): no other machine reaches a listener there. */
bool config_loopback(const char *host);

/* A pool name: 1 to CONFIG_POOL_NAME_MAX letters, digits, '_' or '-'. */
bool config_valid_pool_name(const char *s, size_t n);

/* True when calls to module (len bytes) are allowed: python.allow is not
 * set, or one of its entries names it ("json" names json; "myapp.*" names
 * myapp and every module under it). */
bool config_allows(const struct config *cfg, const char *module, size_t len);

#endif
