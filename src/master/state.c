/* state: run-time pools and registrations in state_file. See state.h. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "daemon.h"
#include "log.h"
#include "pool.h"
#include "route.h"
#include "xalloc.h"

#define STATE_VERSION 1

/* ---- writing ---------------------------------------------------------- */

struct text {
    char *p;
    size_t len, cap;
    bool bad;        /* a name that is not valid UTF-8: cannot be written */
};

static void add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = xrealloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void adds(struct text *t, const char *s)
{
    add(t, s, strlen(s));
}

static void addf(struct text *t, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    add(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1); /* short texts only */
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0, k, more;

    while (i < n) {
        unsigned c = s[i];

        more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
        if (more == 4 || (more == 1 && c < 0xc2) || i + more >= n + (more == 0))
            return false;
        for (k = 1; k <= more; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += more + 1;
    }
    return true;
}

/* A YAML double-quoted scalar (names hold any byte but NUL). */
static void quoted(struct text *t, const char *s, size_t n)
{
    size_t i;

    if (!valid_utf8((const unsigned char *)s, n))
        t->bad = true;
    adds(t, "\"");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\')
            addf(t, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            addf(t, "\\x%02x", c);
        else
            add(t, (const char *)&c, 1);
    }
    adds(t, "\"");
}

static void route_line(struct text *t, const char *module, size_t mlen, const char *function, size_t flen,
                       const char *pool)
{
    adds(t, "  - {module: ");
    quoted(t, module, mlen);
    adds(t, ", function: ");
    if (function != NULL)
        quoted(t, function, flen);
    else
        adds(t, "null");
    addf(t, ", pool: %s}\n", pool);
}

static bool same_key(const char *module, const char *function, const struct state_change *ch)
{
    return strlen(module) == ch->mlen && memcmp(module, ch->module, ch->mlen) == 0 &&
           (function == NULL ? ch->function == NULL
                             : ch->function != NULL && strlen(function) == ch->flen &&
                                   memcmp(function, ch->function, ch->flen) == 0);
}

struct emit {
    struct daemon *d;
    const struct state_change *ch;
    struct text *t;
};

static void emit_route(void *arg, const char *module, const char *function, void *value)
{
    struct emit *e = arg;
    const struct pool *p = value;
    const struct state_change *ch = e->ch;

    if (p->stopping || config_has_route(&e->d->cfg, module, strlen(module), function,
                                        function ? strlen(function) : 0, p->name))
        return;
    if ((ch->op == STATE_REGISTER || ch->op == STATE_UNREGISTER) && same_key(module, function, ch))
        return; /* replaced or removed by the change */
    if (ch->op == STATE_STOP_POOL && strcmp(p->name, ch->pool) == 0)
        return;
    route_line(e->t, module, strlen(module), function, function ? strlen(function) : 0, p->name);
}

static void contents(struct daemon *d, const struct state_change *ch, struct text *t)
{
    struct emit e = {d, ch, t};
    size_t i;
    int size;

    addf(t, "# pyrpoold state: the pools start_pool made and the registrations register_pool\n"
            "# made, restored at start. The daemon rewrites this file at each change;\n"
            "# edit it only while the daemon is stopped.\n"
            "version: %d\npools:\n", STATE_VERSION);
    for (i = 0; i < d->npools; i++) {
        const struct pool *p = d->pools[i];

        if (p->stopping || p->from_config || (ch->op == STATE_STOP_POOL && strcmp(p->name, ch->pool) == 0))
            continue;
        size = ch->op == STATE_RESIZE_POOL && strcmp(p->name, ch->pool) == 0 ? ch->size : p->size;
        addf(t, "  - {name: %s, size: %d, mode: %s}\n", p->name, size,
             p->mode == POOL_THREAD ? "thread" : "process");
    }
    if (ch->op == STATE_START_POOL)
        addf(t, "  - {name: %s, size: %d, mode: %s}\n", ch->pool, ch->size,
             ch->mode == POOL_THREAD ? "thread" : "process");
    adds(t, "routes:\n");
    route_each(d->routes, emit_route, &e);
    if (ch->op == STATE_REGISTER &&
        !config_has_route(&d->cfg, ch->module, ch->mlen, ch->function, ch->flen, ch->pool))
        route_line(t, ch->module, ch->mlen, ch->function, ch->flen, ch->pool);
}

/* Writes all of buf to path's folder as a temporary file, then renames it
 * over path, with the fsyncs that make the rename durable. */
static int write_atomically(const char *path, const char *buf, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX + 16], dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t done = 0;
    ssize_t n;
    int fd, dfd, e;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write state_file %s: %s: %s", path, tmp, strerror(errno));
        return -1;
    }
    while (done < len) {
        n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    e = done < len ? (errno ? errno : EIO) : fsync(fd) != 0 ? errno : 0;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = errno;
    if (e != 0) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write state_file %s: %s", path, strerror(e));
        return -1;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            log_warn("state_file %s: cannot fsync its folder: %s", path, strerror(errno));
        close(dfd);
    }
    return 0;
}

int state_save(struct daemon *d, const struct state_change *ch, char *err, size_t errlen)
{
    static const struct state_change none = {.op = STATE_NONE};
    struct text t = {NULL, 0, 0, false};
    int rc;

    if (d->cfg.state_file == NULL)
        return 0;
    contents(d, ch != NULL ? ch : &none, &t);
    if (t.bad) {
        snprintf(err, errlen, "cannot write state_file %s: a module or function name is not valid UTF-8",
                 d->cfg.state_file);
        free(t.p);
        return -1;
    }
    rc = write_atomically(d->cfg.state_file, t.p, t.len, err, errlen);
    free(t.p);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

struct reader {
    const char *file;
    yaml_document_t doc;
    char *err;
    size_t errlen;
};

static int fail_at(struct reader *r, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "%s:%zu:%zu: %s (fix the file, or remove it to start without the run-time "
             "pools and registrations it holds)", r->file, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key in map n (NULL: absent); unknown keys are an error. */
static int fields(struct reader *r, yaml_node_t *n, const char *what, const char *const *keys, yaml_node_t **out)
{
    yaml_node_pair_t *p;
    size_t i;

    if (n == NULL || n->type != YAML_MAPPING_NODE)
        return fail_at(r, n, "%s: expected a map", what);
    for (i = 0; keys[i] != NULL; i++)
        out[i] = NULL;
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key);
        const char *name = scalar(k);

        for (i = 0; keys[i] != NULL && (name == NULL || strcmp(keys[i], name) != 0); i++)
            ;
        if (keys[i] == NULL)
            return fail_at(r, k, "%s: unknown key '%s'", what, name ? name : "?");
        out[i] = yaml_document_get_node(&r->doc, p->value);
    }
    return 0;
}

static int load_pool(struct reader *r, struct daemon *d, yaml_node_t *n)
{
    static const char *const keys[] = {"name", "size", "mode", NULL};
    yaml_node_t *v[3];
    const char *name, *size, *mode;
    struct config_pool cp;
    char *end;
    long sz;

    if (fields(r, n, "pools[]", keys, v) != 0)
        return -1;
    name = scalar(v[0]);
    size = scalar(v[1]);
    mode = scalar(v[2]);
    if (name == NULL || !config_valid_pool_name(name, strlen(name)))
        return fail_at(r, v[0] ? v[0] : n, "pools[].name: expected a pool name");
    sz = size != NULL ? strtol(size, &end, 10) : 0;
    if (size == NULL || *end != '\0' || sz < 1 || sz > CONFIG_POOL_SIZE_MAX)
        return fail_at(r, v[1] ? v[1] : n, "pools[].size: expected 1 to %d", CONFIG_POOL_SIZE_MAX);
    if (mode == NULL || (strcmp(mode, "process") != 0 && strcmp(mode, "thread") != 0))
        return fail_at(r, v[2] ? v[2] : n, "pools[].mode: expected process or thread");
    if (pool_find(d, name, strlen(name)) != NULL) {
        log_warn("state_file %s: pool %s is made by the config now: the config's settings apply", r->file, name);
        return 0;
    }
    if (d->npools >= d->cfg.max_pools) {
        log_warn("state_file %s: pool %s not started: limits.max_pools (%u) reached", r->file, name,
                 d->cfg.max_pools);
        return 0;
    }
    config_pool_init(&cp, name, strlen(name), (int)sz);
    cp.mode = strcmp(mode, "thread") == 0 ? POOL_THREAD : POOL_PROCESS;
    pool_list_add(d, pool_new(d, &cp, &d->cfg, false));
    log_info("state_file: pool %s restored (%ld %s, %s mode)", name, sz, cp.mode == POOL_THREAD ? "threads" : "executors",
             mode);
    return 0;
}

static int load_route(struct reader *r, struct daemon *d, yaml_node_t *n)
{
    static const char *const keys[] = {"module", "function", "pool", NULL};
    yaml_node_t *v[3];
    const char *module, *function, *pool;
    struct pool *p;

    if (fields(r, n, "routes[]", keys, v) != 0)
        return -1;
    module = scalar(v[0]);
    function = scalar(v[1]);
    pool = scalar(v[2]);
    if (v[1] != NULL && v[1]->type == YAML_SCALAR_NODE && v[1]->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        strcmp(function, "null") == 0)
        function = NULL;
    if (module == NULL || module[0] == '\0' || strlen(module) > 255 || strchr(module, ':') != NULL)
        return fail_at(r, v[0] ? v[0] : n, "routes[].module: expected a module name");
    if (v[1] == NULL || (function != NULL && (function[0] == '\0' || strlen(function) > 255 ||
                                              strchr(function, ':') != NULL)))
        return fail_at(r, v[1] ? v[1] : n, "routes[].function: expected a function name or null");
    if (pool == NULL || !config_valid_pool_name(pool, strlen(pool)))
        return fail_at(r, v[2] ? v[2] : n, "routes[].pool: expected a pool name");
    p = pool_find(d, pool, strlen(pool));
    if (p == NULL) {
        log_warn("state_file %s: %s%s%s not registered: no pool named '%s' now", r->file, module,
                 function ? ":" : "", function ? function : "", pool);
        return 0;
    }
    if (!config_allows(&d->cfg, module, strlen(module))) {
        log_warn("state_file %s: %s not registered: python.allow does not name it now", r->file, module);
        return 0;
    }
    route_register(d->routes, module, strlen(module), function, function ? strlen(function) : 0, p);
    return 0;
}

int state_load(struct daemon *d, char *err, size_t errlen)
{
    static const char *const keys[] = {"version", "pools", "routes", NULL};
    struct reader r = {.file = d->cfg.state_file, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_node_t *root, *v[3];
    yaml_node_item_t *it;
    const char *version;
    FILE *f;
    int rc = -1;

    if (r.file == NULL)
        return 0;
    f = fopen(r.file, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0; /* nothing changed at run time yet */
        snprintf(err, errlen, "cannot read state_file %s: %s", r.file, strerror(errno));
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &r.doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: not YAML: %s (fix the file, or remove it to start without the "
                 "run-time pools and registrations it holds)", r.file, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "unreadable");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    root = yaml_document_get_root_node(&r.doc);
    if (root == NULL) {
        snprintf(err, errlen, "%s: empty (fix the file, or remove it)", r.file);
        goto out;
    }
    if (fields(&r, root, "(top level)", keys, v) != 0)
        goto out;
    version = scalar(v[0]);
    if (version == NULL || atoi(version) != STATE_VERSION) {
        fail_at(&r, v[0] ? v[0] : root, "version: expected %d", STATE_VERSION);
        goto out;
    }
    if (v[1] != NULL && v[1]->type == YAML_SEQUENCE_NODE) {
        for (it = v[1]->data.sequence.items.start; it < v[1]->data.sequence.items.top; it++)
            if (load_pool(&r, d, yaml_document_get_node(&r.doc, *it)) != 0)
                goto out;
    } else if (v[1] != NULL && !(v[1]->type == YAML_SCALAR_NODE && scalar(v[1])[0] == '\0')) {
        fail_at(&r, v[1], "pools: expected a list");
        goto out;
    }
    if (v[2] != NULL && v[2]->type == YAML_SEQUENCE_NODE) {
        for (it = v[2]->data.sequence.items.start; it < v[2]->data.sequence.items.top; it++)
            if (load_route(&r, d, yaml_document_get_node(&r.doc, *it)) != 0)
                goto out;
    } else if (v[2] != NULL && !(v[2]->type == YAML_SCALAR_NODE && scalar(v[2])[0] == '\0')) {
        fail_at(&r, v[2], "routes: expected a list");
        goto out;
    }
    rc = 0;
out:
    yaml_document_delete(&r.doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
