/* config: pyrpoold.yaml parsing and validation with libyaml's document API.
 * Each mapping is read against a table of {key, parser}; a key that is not in
 * the table is refused with the list of keys that are. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "xalloc.h"

struct ctx {
    const char *file;
    yaml_document_t *doc;
    struct config *cfg;
    int ncpu;
    char *err;
    size_t errlen;
    /* where each route was written, to report a route to an unknown pool */
    yaml_mark_t *route_marks;
    yaml_node_t *hard_timeout_node; /* the pool being read set hard_timeout here */
    unsigned nerrors;               /* found so far: each is a line of err */
};

/* Adds "file:line:col: message" (at mark; without one, "file: message")
 * to the errors: the file is read to its end, so that every error in it is
 * told at once, one per line (up to CONFIG_MAX_ERRORS, then how many
 * more). Always returns -1. */
static int vfail(struct ctx *c, const yaml_mark_t *mark, const char *fmt, va_list ap)
{
    char msg[CONFIG_ERR_LEN];
    size_t used = c->nerrors > 0 ? strlen(c->err) : 0;

    if (++c->nerrors > CONFIG_MAX_ERRORS || used + 1 >= c->errlen)
        return -1; /* counted: config_load tells how many more */
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (mark != NULL)
        snprintf(c->err + used, c->errlen - used, "%s%s:%zu:%zu: %s", used ? "\n" : "", c->file,
                 mark->line + 1, mark->column + 1, msg);
    else
        snprintf(c->err + used, c->errlen - used, "%s%s: %s", used ? "\n" : "", c->file, msg);
    return -1;
}

static int fail_at(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, n != NULL ? &n->start_mark : NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static int fail_mark(struct ctx *c, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, mark, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

/* An absolute path for p, relative ones taken from the config's folder. */
static char *resolve_path(struct ctx *c, const char *p)
{
    char *out;

    if (p[0] == '/')
        return xstrdup(p);
    out = xrealloc(NULL, strlen(c->cfg->dir) + strlen(p) + 2);
    sprintf(out, "%s/%s", c->cfg->dir, p);
    return out;
}

typedef int (*parse_fn)(struct ctx *c, const char *path, yaml_node_t *value, void *target);

struct key_spec {
    const char *name;
    parse_fn parse;
};

/* Reads mapping m against specs; path names m in error messages. */
static int parse_mapping(struct ctx *c, const char *path, yaml_node_t *m,
                         const struct key_spec *specs, void *target)
{
    yaml_node_pair_t *p, *q;
    const struct key_spec *s;
    char known[256], sub[256];
    size_t off = 0;
    int rc = 0;

    if (m->type != YAML_MAPPING_NODE)
        return fail_at(c, m, "%s: expected a mapping, got %s", path, kind_name(m));
    for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        const char *key = scalar(k);

        if (key == NULL) {
            rc = fail_at(c, k, "%s: keys must be scalars", path);
            continue;
        }
        for (q = m->data.mapping.pairs.start; q < p; q++) {
            const char *prev = scalar(node(c, q->key));

            if (prev != NULL && strcmp(prev, key) == 0)
                break;
        }
        if (q < p) {
            rc = fail_at(c, k, "%s: duplicate key '%s'", path, key);
            continue;
        }
        for (s = specs; s->name != NULL; s++)
            if (strcmp(s->name, key) == 0)
                break;
        if (s->name == NULL) {
            for (s = specs, off = 0; s->name != NULL && off < sizeof known; s++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s%s",
                                        s == specs ? "" : ", ", s->name);
            rc = fail_at(c, k, "%s: unknown key '%s' (expected one of: %s)", path, key, known);
            continue;
        }
        snprintf(sub, sizeof sub, "%s%s%s", path[0] == '(' ? "" : path,
                 path[0] == '(' ? "" : ".", key);
        if (s->parse(c, sub, v, target) != 0)
            rc = -1;
    }
    return rc;
}

static int parse_bool(struct ctx *c, const char *path, yaml_node_t *v, bool *out)
{
    const char *s = scalar(v);

    if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)) {
        *out = true;
        return 0;
    }
    if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)) {
        *out = false;
        return 0;
    }
    return fail_at(c, v, "%s: expected true or false, got %s%s%s", path, s ? "'" : "",
                   s ? s : kind_name(v), s ? "'" : "");
}

/* A whole number in [min, max] with unit (for messages: "ms", "us"). */
static int parse_uint(struct ctx *c, const char *path, yaml_node_t *v, long min, long max,
                      const char *unit, unsigned *out)
{
    const char *s = scalar(v);
    char *end;
    long n;

    if (s == NULL)
        return fail_at(c, v, "%s: expected a number of %s, got %s", path, unit, kind_name(v));
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return fail_at(c, v, "%s: expected a number of %s, got '%s'", path, unit, s);
    if (n < min || n > max)
        return fail_at(c, v, "%s: %ld %s is out of range (%ld to %ld)", path, n, unit, min, max);
    *out = (unsigned)n;
    return 0;
}

/* ---- listen ---------------------------------------------------------- */

static int parse_tcp_address(struct ctx *c, const char *path, yaml_node_t *v, struct config_listen *l)
{
    const char *s = scalar(v), *colon, *host;
    size_t hlen;
    char *end;
    long port;

    if (s == NULL)
        return fail_at(c, v, "%s: expected HOST:PORT, got %s", path, kind_name(v));
    colon = strrchr(s, ':');
    if (colon == NULL || colon == s)
        return fail_at(c, v, "%s: expected HOST:PORT, got '%s'", path, s);
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return fail_at(c, v, "%s: port must be 1 to 65535, got '%s'", path, colon + 1);
    host = s;
    hlen = (size_t)(colon - s);
    if (host[0] == '[') {
        if (hlen < 2 || host[hlen - 1] != ']')
            return fail_at(c, v, "%s: unbalanced brackets in '%s'", path, s);
        host++;
        hlen -= 2;
    }
    l->kind = LISTEN_TCP;
    l->host = xrealloc(NULL, hlen + 1);
    memcpy(l->host, host, hlen);
    l->host[hlen] = '\0';
    l->port = (int)port;
    return 0;
}

/* A unix listener's mode: an octal string such as "0660". */
static int parse_listen_mode(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_listen *l = target;
    const char *s = scalar(v);
    char *end;
    long m;

    if (l->kind != LISTEN_UNIX)
        return fail_at(c, v, "%s: applies to unix listeners only", path);
    errno = 0;
    m = s ? strtol(s, &end, 8) : -1;
    if (s == NULL || s[0] != '0' || errno != 0 || *end != '\0' || m < 0 || m > 0777)
        return fail_at(c, v, "%s: expected an octal mode such as \"0660\", got %s%s%s", path, s ? "'" : "",
                       s ? s : kind_name(v), s ? "'" : "");
    if (m & 0007)
        return fail_at(c, v, "%s: mode %s lets every user on the machine connect (and so run code as the "
                       "daemon's user); use a group instead", path, s);
    l->mode = (unsigned)m;
    return 0;
}

static int parse_listen_group(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_listen *l = target;
    const char *s = scalar(v);
    struct group *g;

    if (l->kind != LISTEN_UNIX)
        return fail_at(c, v, "%s: applies to unix listeners only", path);
    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected a group name, got %s", path, s ? "an empty string" : kind_name(v));
    g = getgrnam(s);
    if (g == NULL)
        return fail_at(c, v, "%s: no group named '%s' on this machine", path, s);
    l->gid = (int)g->gr_gid;
    l->group = xstrdup(s);
    return 0;
}

static int parse_listen_owner(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_listen *l = target;
    const char *s = scalar(v);
    struct passwd *pw;

    if (l->kind != LISTEN_UNIX)
        return fail_at(c, v, "%s: applies to unix listeners only", path);
    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected a user name, got %s", path, s ? "an empty string" : kind_name(v));
    pw = getpwnam(s);
    if (pw == NULL)
        return fail_at(c, v, "%s: no user named '%s' on this machine", path, s);
    if (pw->pw_uid != geteuid() && geteuid() != 0)
        return fail_at(c, v, "%s: giving the socket to another user takes a daemon run as root", path);
    l->uid = (int)pw->pw_uid;
    return 0;
}

static int parse_listen_admin(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_bool(c, path, v, &((struct config_listen *)target)->admin);
}

/* Reads the token a TCP listener's clients must send (auth). The file must
 * not be readable by others, and holds one line of at least
 * CONFIG_TOKEN_MIN characters. */
static int parse_listen_token_file(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_listen *l = target;
    const char *s = scalar(v);
    char buf[CONFIG_TOKEN_MAX + 2];
    struct stat st;
    size_t n;
    FILE *f;

    if (l->kind != LISTEN_TCP)
        return fail_at(c, v, "%s: applies to tcp listeners only", path);
    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected a file path, got %s", path, s ? "an empty string" : kind_name(v));
    l->token_file = resolve_path(c, s);
    f = fopen(l->token_file, "r");
    if (f == NULL)
        return fail_at(c, v, "%s: cannot read '%s': %s", path, l->token_file, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 0007)) {
        fclose(f);
        return fail_at(c, v, "%s: '%s' is readable by every user (mode %04o): chmod 600 it", path,
                       l->token_file, (unsigned)(st.st_mode & 07777));
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (n < CONFIG_TOKEN_MIN || n > CONFIG_TOKEN_MAX || strchr(buf, '\n') != NULL)
        return fail_at(c, v, "%s: '%s' must hold one line of %d to %d characters (e.g. from `openssl rand "
                       "-hex 32`), it has %zu", path, l->token_file, CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX, n);
    l->token = xstrdup(buf);
    return 0;
}

/* errors: map | string | array. */
static int parse_listen_errors(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_listen *l = target;
    const char *s = scalar(v);

    if (s != NULL && strcmp(s, ERRORS_MAP_NAME) == 0)
        l->errors = ERRORS_MAP;
    else if (s != NULL && strcmp(s, ERRORS_STRING_NAME) == 0)
        l->errors = ERRORS_STRING;
    else if (s != NULL && strcmp(s, ERRORS_ARRAY_NAME) == 0)
        l->errors = ERRORS_ARRAY;
    else
        return fail_at(c, v, "%s: expected map, string or array, got %s%s%s", path, s ? "'" : "",
                       s ? s : kind_name(v), s ? "'" : "");
    return 0;
}

/* name: systemd's FileDescriptorName= for this listener's socket (socket
 * activation): printable ASCII without ':', at most 255 bytes, unique. */
static int parse_listen_name(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_listen *l = target;
    const char *s = scalar(v), *q;
    size_t i;

    if (s == NULL || s[0] == '\0' || strlen(s) > 255)
        return fail_at(c, v, "%s: expected a name of 1 to 255 characters, got %s", path,
                       s == NULL ? kind_name(v) : s[0] == '\0' ? "an empty string" : "a longer one");
    for (q = s; *q != '\0'; q++)
        if (*q <= ' ' || *q > '~' || *q == ':')
            return fail_at(c, v, "%s: '%s': a socket name is printable ASCII without spaces or ':' "
                           "(systemd's FileDescriptorName=)", path, s);
    for (i = 0; i < c->cfg->nlisten; i++)
        if (c->cfg->listen[i].name != NULL && strcmp(c->cfg->listen[i].name, s) == 0)
            return fail_at(c, v, "%s: another listener is named '%s' already", path, s);
    l->name = xstrdup(s);
    return 0;
}

static const struct key_spec listen_keys[] = {
    {"mode", parse_listen_mode},
    {"owner", parse_listen_owner},
    {"group", parse_listen_group},
    {"admin", parse_listen_admin},
    {"token_file", parse_listen_token_file},
    {"errors", parse_listen_errors},
    {"name", parse_listen_name},
    {NULL, NULL},
};

/* A listener's own address key (unix or tcp), then its options. */
static int parse_one_listener(struct ctx *c, const char *path, yaml_node_t *item, struct config_listen *l)
{
    yaml_node_pair_t *p, *q;
    yaml_node_t *k, *val;
    const char *key;
    size_t j;
    int rc = 0;

    for (p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        k = node(c, p->key);
        key = scalar(k) ? scalar(k) : "";
        if (strcmp(key, "unix") != 0 && strcmp(key, "tcp") != 0)
            continue;
        if (p != item->data.mapping.pairs.start)
            return fail_at(c, k, "%s: '%s': a listener has one address (unix: or tcp:), written first", path,
                           key);
    }
    k = node(c, item->data.mapping.pairs.start->key);
    key = scalar(k) ? scalar(k) : "";
    if (strcmp(key, "unix") != 0 && strcmp(key, "tcp") != 0)
        return fail_at(c, k, "%s: unknown listener kind '%s' (expected unix or tcp)", path, key);
    for (p = item->data.mapping.pairs.start + 1; p < item->data.mapping.pairs.top; p++) {
        char sub[256];

        k = node(c, p->key);
        val = node(c, p->value);
        key = scalar(k) ? scalar(k) : "";
        for (q = item->data.mapping.pairs.start; q < p; q++)
            if (scalar(node(c, q->key)) != NULL && strcmp(scalar(node(c, q->key)), key) == 0)
                break;
        if (q < p) {
            rc = fail_at(c, k, "%s: duplicate key '%s'", path, key);
            continue;
        }
        for (j = 0; listen_keys[j].name != NULL && strcmp(listen_keys[j].name, key) != 0; j++)
            ;
        if (listen_keys[j].name == NULL) {
            rc = fail_at(c, k, "%s: unknown key '%s' (expected one of: mode, owner, group, admin, errors, "
                         "name for unix; token_file, admin, errors, name for tcp)", path, key);
            continue;
        }
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        if (listen_keys[j].parse(c, sub, val, l) != 0)
            rc = -1;
    }
    if (l->kind == LISTEN_TCP && l->token == NULL && l->token_file == NULL)
        return fail_at(c, item, "%s: a tcp listener needs token_file (anyone who can connect can run code "
                       "as the daemon's user)", path);
    return rc;
}

/* An earlier listener of cfg on l's address, or NULL. */
static const struct config_listen *same_address(const struct config *cfg, const struct config_listen *l)
{
    const struct config_listen *o;

    for (o = cfg->listen; o < l; o++) {
        if (o->kind != l->kind)
            continue;
        if (l->kind == LISTEN_UNIX ? o->path != NULL && l->path != NULL && strcmp(o->path, l->path) == 0
                                   : o->host != NULL && l->host != NULL && o->port == l->port &&
                                         strcmp(o->host, l->host) == 0)
            return o;
    }
    return NULL;
}

static int parse_listen(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    yaml_node_item_t *i;
    int rc = 0;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(c, v, "%s: expected a list of listeners, got %s", path, kind_name(v));
    for (i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *item = node(c, *i), *k, *val;
        struct config_listen *l;
        const char *key;
        char where[64];

        if (item->type != YAML_MAPPING_NODE || item->data.mapping.pairs.top == item->data.mapping.pairs.start) {
            rc = fail_at(c, item, "%s[%td]: expected one of 'unix: PATH' or 'tcp: HOST:PORT'", path,
                         i - v->data.sequence.items.start);
            continue;
        }
        k = node(c, item->data.mapping.pairs.start->key);
        val = node(c, item->data.mapping.pairs.start->value);
        key = scalar(k) ? scalar(k) : "";
        cfg->listen = xrealloc(cfg->listen, (cfg->nlisten + 1) * sizeof *cfg->listen);
        l = &cfg->listen[cfg->nlisten];
        memset(l, 0, sizeof *l);
        l->mode = 0600;
        l->gid = l->uid = -1;
        snprintf(where, sizeof where, "%s[%td]", path, i - v->data.sequence.items.start);
        if (strcmp(key, "unix") == 0) {
            const char *p = scalar(val);

            if (p == NULL || p[0] == '\0') {
                rc = fail_at(c, val, "%s.unix: expected a socket path, got %s", path,
                             p ? "an empty string" : kind_name(val));
                continue;
            }
            l->kind = LISTEN_UNIX;
            l->admin = true;
            l->path = resolve_path(c, p);
            cfg->nlisten++; /* freed with the config from here on */
            if (strlen(l->path) >= 108)
                rc = fail_at(c, val, "%s.unix: socket path '%s' is longer than 107 bytes", path, l->path);
        } else if (strcmp(key, "tcp") == 0) {
            char sub[256];

            snprintf(sub, sizeof sub, "%s.tcp", path);
            cfg->nlisten++;
            if (parse_tcp_address(c, sub, val, l) != 0)
                rc = -1;
        } else {
            rc = fail_at(c, k, "%s: unknown listener kind '%s' (expected unix or tcp)", path, key);
            continue;
        }
        if (parse_one_listener(c, where, item, l) != 0)
            rc = -1;
        else if (same_address(cfg, l) != NULL)
            rc = fail_at(c, item, "%s: listen[%td] has that address already", where,
                         same_address(cfg, l) - cfg->listen);
    }
    return rc;
}

/* ---- pools ----------------------------------------------------------- */

static int parse_pool_size(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_pool *p = target;
    const char *s = scalar(v);
    char *end;
    long n;

    if (s != NULL && strcmp(s, "auto") == 0) {
        p->size = c->ncpu;
        return 0;
    }
    if (s == NULL)
        return fail_at(c, v, "%s: expected a number of executors or 'auto', got %s", path, kind_name(v));
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return fail_at(c, v, "%s: expected a number of executors or 'auto', got '%s'", path, s);
    if (n < 1 || n > CONFIG_POOL_SIZE_MAX)
        return fail_at(c, v, "%s: %ld executors is out of range (1 to %d)", path, n, CONFIG_POOL_SIZE_MAX);
    p->size = (int)n;
    return 0;
}

static int parse_pool_mode(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_pool *p = target;
    const char *s = scalar(v);

    if (s != NULL && strcmp(s, "process") == 0) {
        p->mode = POOL_PROCESS;
        return 0;
    }
    if (s != NULL && strcmp(s, "thread") == 0) {
        p->mode = POOL_THREAD;
        return 0;
    }
    return fail_at(c, v, "%s: expected 'process' or 'thread', got %s%s%s", path, s ? "'" : "",
                   s ? s : kind_name(v), s ? "'" : "");
}

/* A number of seconds in (min, max]: "0.5", "30". */
static int parse_seconds(struct ctx *c, const char *path, yaml_node_t *v, double min, double max,
                         double *out)
{
    const char *s = scalar(v);
    char *end;
    double x;

    if (s == NULL)
        return fail_at(c, v, "%s: expected a number of seconds, got %s", path, kind_name(v));
    errno = 0;
    x = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || x != x)
        return fail_at(c, v, "%s: expected a number of seconds, got '%s'", path, s);
    if (x <= min || x > max)
        return fail_at(c, v, "%s: %s seconds is out of range (more than %g, at most %g)", path, s, min,
                       max);
    *out = x;
    return 0;
}

static int parse_pool_timeout(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_seconds(c, path, v, 0, 31536000, &((struct config_pool *)target)->timeout);
}

/* slow_call: seconds, or 0 for never. */
static int parse_slow_call(struct ctx *c, const char *path, yaml_node_t *v, double *out)
{
    if (v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, "0") == 0) {
        *out = 0;
        return 0;
    }
    return parse_seconds(c, path, v, 0, 86400, out);
}

static int parse_pool_slow_call(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_slow_call(c, path, v, &((struct config_pool *)target)->slow_call);
}

static int parse_hard_timeout(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    c->hard_timeout_node = v;
    return parse_seconds(c, path, v, 0, 86400, &((struct config_pool *)target)->hard_timeout);
}

static int parse_preload_in_template(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_bool(c, path, v, &((struct config_pool *)target)->preload_in_template);
}

static int parse_crash_limit(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 0, 1000000, "deaths", &((struct config_pool *)target)->crash_limit);
}

static int parse_crash_interval(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_seconds(c, path, v, 0, 86400, &((struct config_pool *)target)->crash_interval);
}

static int parse_max_queue(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 100000000, "calls", &((struct config_pool *)target)->max_queue);
}

static int parse_max_requests(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 0, 1000000000, "calls", &((struct config_pool *)target)->max_requests);
}

static int parse_max_requests_jitter(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 0, 1000000000, "calls",
                      &((struct config_pool *)target)->max_requests_jitter);
}

static int parse_size(struct ctx *c, const char *path, yaml_node_t *v, size_t min, size_t max,
                      size_t *out);

static int parse_max_memory(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_size(c, path, v, 1 << 20, (size_t)1 << 40, &((struct config_pool *)target)->max_memory);
}

/* user: the pool's executors drop to this user (and its group, unless
 * group: says otherwise) before any Python runs; only a daemon run as root
 * can. */
static int parse_pool_user(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_pool *p = target;
    const char *s = scalar(v);
    struct passwd *pw;

    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected a user name, got %s", path, s ? "an empty string" : kind_name(v));
    if (geteuid() != 0)
        return fail_at(c, v, "%s: running a pool as another user takes a daemon run as root", path);
    pw = getpwnam(s);
    if (pw == NULL)
        return fail_at(c, v, "%s: no user named '%s' on this machine", path, s);
    if (pw->pw_uid == 0 || pw->pw_uid > INT32_MAX)
        return fail_at(c, v, "%s: '%s' is not an unprivileged user", path, s);
    p->uid = (int)pw->pw_uid;
    if (p->gid < 0)
        p->gid = (int)pw->pw_gid;
    return 0;
}

static int parse_pool_group(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_pool *p = target;
    const char *s = scalar(v);
    struct group *g;

    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected a group name, got %s", path, s ? "an empty string" : kind_name(v));
    if (geteuid() != 0)
        return fail_at(c, v, "%s: running a pool as another group takes a daemon run as root", path);
    g = getgrnam(s);
    if (g == NULL)
        return fail_at(c, v, "%s: no group named '%s' on this machine", path, s);
    if (g->gr_gid == 0 || g->gr_gid > INT32_MAX)
        return fail_at(c, v, "%s: '%s' is not an unprivileged group", path, s);
    p->gid = (int)g->gr_gid;
    return 0;
}

static const struct key_spec pool_keys[] = {
    {"size", parse_pool_size},
    {"mode", parse_pool_mode},
    {"max_queue", parse_max_queue},
    {"max_requests", parse_max_requests},
    {"max_requests_jitter", parse_max_requests_jitter},
    {"max_memory", parse_max_memory},
    {"timeout", parse_pool_timeout},
    {"hard_timeout", parse_hard_timeout},
    {"slow_call", parse_pool_slow_call},
    {"preload_in_template", parse_preload_in_template},
    {"crash_limit", parse_crash_limit},
    {"crash_interval", parse_crash_interval},
    {"user", parse_pool_user},
    {"group", parse_pool_group},
    {NULL, NULL},
};

bool config_has_route(const struct config *cfg, const char *module, size_t mlen, const char *function,
                      size_t flen, const char *pool)
{
    size_t i;

    for (i = 0; i < cfg->nroutes; i++) {
        const struct config_route *r = &cfg->routes[i];

        if (strlen(r->module) == mlen && memcmp(r->module, module, mlen) == 0 &&
            (r->function == NULL ? function == NULL
                                 : function != NULL && strlen(r->function) == flen &&
                                       memcmp(r->function, function, flen) == 0) &&
            strcmp(r->pool, pool) == 0)
            return true;
    }
    return false;
}

bool config_valid_pool_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > CONFIG_POOL_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

void config_pool_init(struct config_pool *p, const char *name, size_t len, int size)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%.*s", (int)len, name);
    p->size = size;
    p->mode = POOL_PROCESS;
    p->max_queue = CONFIG_DEFAULT_MAX_QUEUE;
    p->hard_timeout = CONFIG_DEFAULT_HARD_TIMEOUT;
    p->slow_call = -1;
    p->preload_in_template = true;
    p->crash_limit = CONFIG_DEFAULT_CRASH_LIMIT;
    p->crash_interval = CONFIG_DEFAULT_CRASH_INTERVAL;
    p->uid = p->gid = -1;
}

static struct config_pool *add_pool(struct config *cfg, const char *name, int size)
{
    struct config_pool *p;

    cfg->pools = xrealloc(cfg->pools, (cfg->npools + 1) * sizeof *cfg->pools);
    p = &cfg->pools[cfg->npools++];
    config_pool_init(p, name, strlen(name), size);
    return p;
}

static int parse_pools(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    yaml_node_pair_t *p, *q;
    int rc = 0;

    if (v->type != YAML_MAPPING_NODE)
        return fail_at(c, v, "%s: expected a mapping of pool names, got %s", path, kind_name(v));
    for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
        const char *name = scalar(k);
        struct config_pool *pool;
        char sub[256];

        if (name == NULL || !config_valid_pool_name(name, strlen(name))) {
            rc = fail_at(c, k, "%s: pool name '%s' must be 1 to %d letters, digits, '_' or '-'",
                         path, name ? name : "?", CONFIG_POOL_NAME_MAX);
            continue;
        }
        for (q = v->data.mapping.pairs.start; q < p; q++)
            if (scalar(node(c, q->key)) != NULL && strcmp(scalar(node(c, q->key)), name) == 0)
                break;
        if (q < p) {
            rc = fail_at(c, k, "%s: duplicate key '%s'", path, name);
            continue;
        }
        pool = (struct config_pool *)config_find_pool(cfg, name);
        if (pool == NULL)
            pool = add_pool(cfg, name, c->ncpu);
        snprintf(sub, sizeof sub, "%s.%s", path, name);
        if (val->type == YAML_SCALAR_NODE && scalar(val)[0] == '\0')
            continue; /* "gpu:" with nothing: all defaults */
        c->hard_timeout_node = NULL;
        if (parse_mapping(c, sub, val, pool_keys, pool) != 0)
            rc = -1;
        if (c->hard_timeout_node != NULL && pool->mode != POOL_THREAD)
            rc = fail_at(c, c->hard_timeout_node,
                         "%s.hard_timeout: applies to thread mode only (a process executor is "
                         "killed limits.timeout_grace_ms after its call is stopped)", sub);
        if (pool->gid >= 0 && pool->uid < 0)
            rc = fail_at(c, val, "%s.group: needs user: too (the executors would keep the daemon's user)", sub);
    }
    return rc;
}

/* ---- python ---------------------------------------------------------- */

static int parse_python_path(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    yaml_node_item_t *i;
    struct stat st;
    const char *dir;
    int rc = 0;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(c, v, "%s: expected a list of folders, got %s", path, kind_name(v));
    for (i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *item = node(c, *i);

        if (scalar(item) == NULL || scalar(item)[0] == '\0') {
            rc = fail_at(c, item, "%s[%td]: expected a folder, got %s", path,
                         i - v->data.sequence.items.start,
                         scalar(item) ? "an empty string" : kind_name(item));
            continue;
        }
        cfg->python_path = xrealloc(cfg->python_path, (cfg->npython_path + 1) * sizeof(char *));
        dir = cfg->python_path[cfg->npython_path++] = resolve_path(c, scalar(item));
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = fail_at(c, item, "%s[%td]: '%s' is not a folder%s", path, i - v->data.sequence.items.start,
                         scalar(item), errno == ENOENT ? " (it does not exist)" : "");
    }
    return rc;
}

static int parse_allow_eval(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_bool(c, path, v, &((struct config *)target)->allow_eval);
}

static int parse_preload(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    yaml_node_item_t *i;
    const char *name;
    int rc = 0;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(c, v, "%s: expected a list of module names, got %s", path, kind_name(v));
    for (i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *item = node(c, *i);

        name = scalar(item);
        if (name == NULL || name[0] == '\0' || strlen(name) > 255 || strchr(name, ':') != NULL ||
            name[0] == '.' || name[strlen(name) - 1] == '.') {
            rc = fail_at(c, item, "%s[%td]: expected a module name, got %s%s%s", path,
                         i - v->data.sequence.items.start, name ? "'" : "",
                         name ? name : kind_name(item), name ? "'" : "");
            continue;
        }
        cfg->preload = xrealloc(cfg->preload, (cfg->npreload + 1) * sizeof(char *));
        cfg->preload[cfg->npreload++] = xstrdup(name);
    }
    return rc;
}

/* python.allow: module names, or "package.*" for a package and all under it. */
static int parse_allow(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    yaml_node_item_t *i;
    const char *name, *dot;
    size_t n;
    int rc = 0;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(c, v, "%s: expected a list of module names (\"json\", \"myapp.*\"), got %s", path,
                       kind_name(v));
    cfg->allow_set = true;
    for (i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *item = node(c, *i);

        name = scalar(item);
        n = name ? strlen(name) : 0;
        dot = n > 2 && strcmp(name + n - 2, ".*") == 0 ? name + n - 2 : NULL;
        if (name == NULL || n == 0 || n > 255 || strchr(name, ':') != NULL || name[0] == '.' ||
            (dot == NULL && (name[n - 1] == '.' || strchr(name, '*') != NULL)) ||
            (dot != NULL && strchr(name, '*') != dot + 1)) {
            rc = fail_at(c, item, "%s[%td]: expected a module name or \"package.*\", got %s%s%s", path,
                         i - v->data.sequence.items.start, name ? "'" : "",
                         name ? name : kind_name(item), name ? "'" : "");
            continue;
        }
        cfg->allow = xrealloc(cfg->allow, (cfg->nallow + 1) * sizeof(char *));
        cfg->allow[cfg->nallow++] = xstrdup(name);
    }
    return rc;
}

bool config_allows(const struct config *cfg, const char *module, size_t len)
{
    size_t i, n;

    if (!cfg->allow_set)
        return true;
    for (i = 0; i < cfg->nallow; i++) {
        n = strlen(cfg->allow[i]);
        if (n > 2 && strcmp(cfg->allow[i] + n - 2, ".*") == 0) {
            n -= 2; /* "pkg.*": pkg itself, or pkg.anything */
            if (len >= n && memcmp(module, cfg->allow[i], n) == 0 && (len == n || module[n] == '.'))
                return true;
        } else if (len == n && memcmp(module, cfg->allow[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/* python.venv: a virtual environment made for the Python the executors
 * embed (Debian's `python3 -m venv`): its pyvenv.cfg names the version. */
static int parse_venv(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    const char *s = scalar(v);
    char file[PATH_MAX + 32], line[512], *version = NULL;
    struct stat st;
    FILE *f;

    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected the folder of a virtual environment, got %s", path,
                       s ? "an empty string" : kind_name(v));
    cfg->venv = resolve_path(c, s);
    if (strlen(cfg->venv) > PATH_MAX - 64)
        return fail_at(c, v, "%s: the path is too long", path);
    snprintf(file, sizeof file, "%s/pyvenv.cfg", cfg->venv);
    f = fopen(file, "r");
    if (f == NULL)
        return fail_at(c, v, "%s: '%s' is not a virtual environment: %s: %s (make one with %s -m venv)",
                       path, cfg->venv, file, strerror(errno), "python3");
    while (version == NULL && fgets(line, sizeof line, f) != NULL) {
        char *k = line + strspn(line, " \t"), *eq = strchr(k, '=');

        if (eq != NULL && strncmp(k, "version", 7) == 0 && strspn(k + 7, " \t") == (size_t)(eq - k - 7)) {
            version = eq + 1 + strspn(eq + 1, " \t");
            version[strcspn(version, " \t\r\n")] = '\0';
        }
    }
    fclose(f);
    if (version == NULL)
        return fail_at(c, v, "%s: %s says no version", path, file);
    /* the same major.minor: "3.11.2" for the embedded "3.11" */
    if (strncmp(version, PYRPOOL_PYTHON_VERSION, strlen(PYRPOOL_PYTHON_VERSION)) != 0 ||
        (version[strlen(PYRPOOL_PYTHON_VERSION)] != '.' && version[strlen(PYRPOOL_PYTHON_VERSION)] != '\0'))
        return fail_at(c, v, "%s: '%s' was made for Python %s; the executors run Python %s: make it again "
                       "with that Python (python%s -m venv)", path, cfg->venv, version, PYRPOOL_PYTHON_VERSION,
                       PYRPOOL_PYTHON_VERSION);
    snprintf(file, sizeof file, "%s/lib/python%s/site-packages", cfg->venv, PYRPOOL_PYTHON_VERSION);
    if (stat(file, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail_at(c, v, "%s: '%s' has no %s", path, cfg->venv, file);
    return 0;
}

static const struct key_spec python_keys[] = {
    {"path", parse_python_path},
    {"venv", parse_venv},
    {"allow_eval", parse_allow_eval},
    {"allow", parse_allow},
    {"preload", parse_preload},
    {NULL, NULL},
};

static int parse_python(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_mapping(c, path, v, python_keys, target);
}

/* ---- routes ---------------------------------------------------------- */

static int parse_routes(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    yaml_node_pair_t *p, *q;
    int rc = 0;

    if (v->type != YAML_MAPPING_NODE)
        return fail_at(c, v, "%s: expected a mapping of module or \"module:function\" to pool, got %s",
                       path, kind_name(v));
    for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
        const char *key = scalar(k), *pool = scalar(val), *colon;
        struct config_route *r;

        if (key == NULL || key[0] == '\0') {
            rc = fail_at(c, k, "%s: a route key must be a module name or \"module:function\"", path);
            continue;
        }
        for (q = v->data.mapping.pairs.start; q < p; q++)
            if (scalar(node(c, q->key)) != NULL && strcmp(scalar(node(c, q->key)), key) == 0)
                break;
        if (q < p) {
            rc = fail_at(c, k, "%s: duplicate key '%s'", path, key);
            continue;
        }
        if (pool == NULL || pool[0] == '\0') {
            rc = fail_at(c, val, "%s.%s: expected a pool name, got %s", path, key,
                         pool ? "an empty string" : kind_name(val));
            continue;
        }
        colon = strchr(key, ':');
        if (colon == key || (colon != NULL && (colon[1] == '\0' || strchr(colon + 1, ':') != NULL)) ||
            key[strlen(key) - 1] == '.' || key[0] == '.' || strlen(key) > 255) {
            rc = fail_at(c, k, "%s: '%s' is not a module name or \"module:function\"", path, key);
            continue;
        }
        cfg->routes = xrealloc(cfg->routes, (cfg->nroutes + 1) * sizeof *cfg->routes);
        c->route_marks = xrealloc(c->route_marks, (cfg->nroutes + 1) * sizeof *c->route_marks);
        c->route_marks[cfg->nroutes] = val->start_mark;
        r = &cfg->routes[cfg->nroutes++];
        if (colon != NULL) {
            r->module = xrealloc(NULL, (size_t)(colon - key) + 1);
            memcpy(r->module, key, (size_t)(colon - key));
            r->module[colon - key] = '\0';
            r->function = xstrdup(colon + 1);
        } else {
            r->module = xstrdup(key);
            r->function = NULL;
        }
        r->pool = xstrdup(pool);
    }
    return rc;
}

/* ---- limits ---------------------------------------------------------- */

/* A byte count: an integer with an optional KiB, MiB or GiB suffix. */
static int parse_size(struct ctx *c, const char *path, yaml_node_t *v, size_t min, size_t max,
                      size_t *out)
{
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30},
    };
    const char *s = scalar(v);
    unsigned long long n;
    char *end;
    size_t i;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return fail_at(c, v, "%s: expected a size in bytes (e.g. 65536 or 64MiB), got %s%s%s", path,
                       s ? "'" : "", s ? s : kind_name(v), s ? "'" : "");
    errno = 0;
    n = strtoull(s, &end, 10);
    for (i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0)
            break;
    if (errno != 0 || i == sizeof units / sizeof units[0])
        return fail_at(c, v, "%s: expected a size in bytes (e.g. 65536 or 64MiB), got '%s'", path, s);
    if (n > (max >> units[i].shift) || (n << units[i].shift) < min)
        return fail_at(c, v, "%s: '%s' is out of range (%zu to %zu bytes)", path, s, min, max);
    *out = (size_t)(n << units[i].shift);
    return 0;
}

static int parse_max_message(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_size(c, path, v, 1024, (size_t)1 << 31, &((struct config *)target)->max_message_size);
}

static int parse_handback(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 60000, "ms", &((struct config *)target)->handback_ms);
}

static int parse_spin(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 0, 1000, "us", &((struct config *)target)->spin_us);
}

static int parse_shutdown_timeout(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 0, 3600, "seconds", &((struct config *)target)->shutdown_timeout);
}

static int parse_timeout_grace(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 600000, "ms", &((struct config *)target)->timeout_grace_ms);
}

static int parse_max_output(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_size(c, path, v, 65536, (size_t)1 << 40, &((struct config *)target)->max_output);
}

static int parse_max_inflight(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 1000000, "calls", &((struct config *)target)->max_inflight);
}

static int parse_max_connections(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 1000000, "connections", &((struct config *)target)->max_connections);
}

static int parse_request_timeout(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 3600, "seconds", &((struct config *)target)->request_timeout);
}

static int parse_idle_timeout(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 0, 86400, "seconds", &((struct config *)target)->idle_timeout);
}

static int parse_max_pools(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 2, 10000, "pools", &((struct config *)target)->max_pools);
}

static int parse_max_executors(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 2, 100000, "executors", &((struct config *)target)->max_executors);
}

static int parse_core_files(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_bool(c, path, v, &((struct config *)target)->core_files);
}

static int parse_limits_slow_call(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_slow_call(c, path, v, &((struct config *)target)->slow_call);
}

static const struct key_spec limit_keys[] = {
    {"core_files", parse_core_files},
    {"max_connections", parse_max_connections},
    {"request_timeout", parse_request_timeout},
    {"idle_timeout", parse_idle_timeout},
    {"max_pools", parse_max_pools},
    {"max_executors", parse_max_executors},
    {"max_message_size", parse_max_message},
    {"handback_ms", parse_handback},
    {"spin_us", parse_spin},
    {"max_inflight", parse_max_inflight},
    {"max_output", parse_max_output},
    {"shutdown_timeout", parse_shutdown_timeout},
    {"timeout_grace_ms", parse_timeout_grace},
    {"slow_call", parse_limits_slow_call},
    {NULL, NULL},
};

static int parse_limits(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_mapping(c, path, v, limit_keys, target);
}

/* ---- log ------------------------------------------------------------ */

static int parse_log_level(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    const char *s = scalar(v);

    if (s == NULL || log_level_parse(s, &cfg->log_level) != 0)
        return fail_at(c, v, "%s: expected debug, info, warning or error, got %s%s%s", path, s ? "'" : "",
                       s ? s : kind_name(v), s ? "'" : "");
    return 0;
}

static int parse_log_format(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    const char *s = scalar(v);

    if (s == NULL || (strcmp(s, "text") != 0 && strcmp(s, "json") != 0))
        return fail_at(c, v, "%s: expected text or json, got %s%s%s", path, s ? "'" : "", s ? s : kind_name(v),
                       s ? "'" : "");
    cfg->log_json = strcmp(s, "json") == 0;
    return 0;
}

static int parse_log_calls(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_bool(c, path, v, &((struct config *)target)->log_calls);
}

static int parse_log_executor_output(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_bool(c, path, v, &((struct config *)target)->log_executor_output);
}

static int parse_log_executor_output_rate(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_uint(c, path, v, 1, 1000000, "lines a second", &((struct config *)target)->log_executor_output_rate);
}

static const struct key_spec log_keys[] = {
    {"level", parse_log_level},
    {"format", parse_log_format},
    {"calls", parse_log_calls},
    {"executor_output", parse_log_executor_output},
    {"executor_output_rate", parse_log_executor_output_rate},
    {NULL, NULL},
};

static int parse_log(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    return parse_mapping(c, path, v, log_keys, target);
}

/* ---- metrics -------------------------------------------------------- */

/* metrics.listen: HOST:PORT of the HTTP listener, HOST an IPv4 or IPv6
 * address (not a name: nothing is looked up). A Unix socket is refused:
 * Prometheus scrapes over TCP. */
static int parse_metrics_listen(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config_metrics *m = target;
    struct config_listen l = {0};
    unsigned char addr[16];
    const char *s = scalar(v);

    if (s != NULL && (s[0] == '/' || strncmp(s, "unix:", 5) == 0))
        return fail_at(c, v, "%s: '%s': metrics are served over TCP only (Prometheus scrapes HTTP over TCP): "
                       "give HOST:PORT, e.g. 127.0.0.1:9717", path, s);
    if (parse_tcp_address(c, path, v, &l) != 0)
        return -1;
    if (inet_pton(AF_INET, l.host, addr) != 1 && inet_pton(AF_INET6, l.host, addr) != 1) {
        fail_at(c, v, "%s: '%s' is not an IPv4 or IPv6 address (names are not looked up), e.g. 127.0.0.1:9717",
                path, l.host);
        free(l.host);
        return -1;
    }
    m->host = l.host;
    m->port = l.port;
    return 0;
}

bool config_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;

    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

static const struct key_spec metrics_keys[] = {
    {"listen", parse_metrics_listen},
    {NULL, NULL},
};

static int parse_metrics(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;

    if (parse_mapping(c, path, v, metrics_keys, &cfg->metrics) != 0)
        return -1;
    if (cfg->metrics.host == NULL)
        return fail_at(c, v, "%s: needs listen: HOST:PORT (e.g. 127.0.0.1:9717); without metrics: there is no "
                       "HTTP listener", path);
    return 0;
}

/* ---- the file -------------------------------------------------------- */

/* state_file: where register_pool, start_pool and resize_pool are kept
 * across restarts (state.c); its folder must exist. */
static int parse_state_file(struct ctx *c, const char *path, yaml_node_t *v, void *target)
{
    struct config *cfg = target;
    const char *s = scalar(v);
    char *dir, *slash;
    struct stat st;

    if (s == NULL || s[0] == '\0')
        return fail_at(c, v, "%s: expected a file path, got %s", path, s ? "an empty string" : kind_name(v));
    cfg->state_file = resolve_path(c, s);
    dir = xstrdup(cfg->state_file);
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fail_at(c, v, "%s: its folder '%s' does not exist", path, dir);
        free(dir);
        return -1;
    }
    free(dir);
    return 0;
}

static const struct key_spec top_keys[] = {
    {"listen", parse_listen},
    {"pools", parse_pools},
    {"python", parse_python},
    {"routes", parse_routes},
    {"limits", parse_limits},
    {"state_file", parse_state_file},
    {"log", parse_log},
    {"metrics", parse_metrics},
    {NULL, NULL},
};

static int check_routes(struct ctx *c)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < c->cfg->nroutes; i++) {
        const char *module = c->cfg->routes[i].module;

        if (!config_allows(c->cfg, module, strlen(module)))
            rc = fail_mark(c, &c->route_marks[i], "routes: module '%s' is not in python.allow", module);
        if (config_find_pool(c->cfg, c->cfg->routes[i].pool) == NULL)
            rc = fail_mark(c, &c->route_marks[i], "routes: no pool named '%s'", c->cfg->routes[i].pool);
    }
    return rc;
}

/* The file's own pools within limits.max_pools and limits.max_executors
 * (a thread-mode pool is one executor process). */
static int check_totals(struct ctx *c, yaml_node_t *root)
{
    size_t i, n = 0;

    for (i = 0; i < c->cfg->npools; i++)
        n += c->cfg->pools[i].mode == POOL_THREAD ? 1 : (size_t)c->cfg->pools[i].size;
    if (c->cfg->npools > c->cfg->max_pools)
        return fail_at(c, root, "pools: %zu pools, more than limits.max_pools (%u)", c->cfg->npools,
                       c->cfg->max_pools);
    if (n > c->cfg->max_executors)
        return fail_at(c, root, "pools: %zu executor processes in all, more than limits.max_executors (%u)", n,
                       c->cfg->max_executors);
    return 0;
}

static int set_dir(struct config *cfg, const char *file, char *err, size_t errlen)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(file, '/');
    size_t n = slash ? (size_t)(slash - file) : 0;

    if (file[0] == '/') {
        cfg->dir = xrealloc(NULL, n + 2);
        memcpy(cfg->dir, file, n);
        strcpy(cfg->dir + n, n == 0 ? "/" : "");
        return 0;
    }
    if (getcwd(cwd, sizeof cwd) == NULL) {
        snprintf(err, errlen, "%s: cannot read the current folder: %s", file, strerror(errno));
        return -1;
    }
    cfg->dir = xrealloc(NULL, strlen(cwd) + n + 2);
    sprintf(cfg->dir, "%s%s%.*s", cwd, n ? "/" : "", (int)n, file);
    return 0;
}

int config_load(const char *file, int ncpu, struct config *cfg, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    struct ctx c = {file, &doc, cfg, ncpu, err, errlen, NULL, NULL, 0};
    FILE *f;
    int rc = -1;

    memset(cfg, 0, sizeof *cfg);
    cfg->file = xstrdup(file);
    cfg->max_message_size = CONFIG_DEFAULT_MAX_MESSAGE;
    cfg->handback_ms = CONFIG_DEFAULT_HANDBACK_MS;
    cfg->spin_us = CONFIG_DEFAULT_SPIN_US;
    cfg->max_inflight = CONFIG_DEFAULT_MAX_INFLIGHT;
    cfg->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
    cfg->request_timeout = CONFIG_DEFAULT_REQUEST_TIMEOUT;
    cfg->max_pools = CONFIG_DEFAULT_MAX_POOLS;
    cfg->max_executors = CONFIG_DEFAULT_MAX_EXECUTORS;
    cfg->max_output = CONFIG_DEFAULT_MAX_OUTPUT;
    cfg->shutdown_timeout = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT;
    cfg->timeout_grace_ms = CONFIG_DEFAULT_TIMEOUT_GRACE_MS;
    cfg->log_level = LOG_INFO;
    cfg->log_executor_output = true;
    cfg->log_executor_output_rate = CONFIG_DEFAULT_EXECUTOR_OUTPUT_RATE;
    add_pool(cfg, "default", ncpu);
    add_pool(cfg, "io", CONFIG_DEFAULT_IO_SIZE)->mode = POOL_THREAD;
    if (set_dir(cfg, file, err, errlen) != 0) {
        config_free(cfg);
        return -1;
    }
    f = fopen(file, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
        config_free(cfg);
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: invalid YAML: %s", file, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(f);
        config_free(cfg);
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        fail_at(&c, NULL, "the file is empty (at least 'listen:' is needed)");
    } else {
        parse_mapping(&c, "(top level)", root, top_keys, cfg);
        check_routes(&c);
        if (cfg->nlisten == 0 && c.nerrors == 0)
            fail_at(&c, root, "listen: at least one listener is needed");
        check_totals(&c, root);
    }
    if (c.nerrors > CONFIG_MAX_ERRORS) {
        size_t used = strlen(err);

        snprintf(err + used, errlen - used, "\n%s: ... and %u more errors", file, c.nerrors - CONFIG_MAX_ERRORS);
    }
    rc = c.nerrors == 0 ? 0 : -1;
    free(c.route_marks);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

void config_free(struct config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nlisten; i++) {
        free(cfg->listen[i].path);
        free(cfg->listen[i].host);
        free(cfg->listen[i].group);
        free(cfg->listen[i].token_file);
        free(cfg->listen[i].name);
        if (cfg->listen[i].token != NULL)
            explicit_bzero(cfg->listen[i].token, strlen(cfg->listen[i].token));
        free(cfg->listen[i].token);
    }
    free(cfg->state_file);
    free(cfg->metrics.host);
    free(cfg->venv);
    for (i = 0; i < cfg->npython_path; i++)
        free(cfg->python_path[i]);
    for (i = 0; i < cfg->npreload; i++)
        free(cfg->preload[i]);
    free(cfg->preload);
    for (i = 0; i < cfg->nallow; i++)
        free(cfg->allow[i]);
    free(cfg->allow);
    for (i = 0; i < cfg->nroutes; i++) {
        free(cfg->routes[i].module);
        free(cfg->routes[i].function);
        free(cfg->routes[i].pool);
    }
    free(cfg->listen);
    free(cfg->pools);
    free(cfg->python_path);
    free(cfg->routes);
    free(cfg->file);
    free(cfg->dir);
    memset(cfg, 0, sizeof *cfg);
}

const struct config_pool *config_find_pool(const struct config *cfg, const char *name)
{
    size_t i;

    for (i = 0; i < cfg->npools; i++)
        if (strcmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}
