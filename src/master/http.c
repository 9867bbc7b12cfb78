/* http: the metrics listener, its connections and their one request each.
 * See http.h. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <msgpack.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "outq.h"
#include "stats.h"
#include "util.h"
#include "xalloc.h"

/* The longest request target kept: a longer one is no page of ours. */
#define HTTP_URL_MAX 256

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* A connection's life, changed by set_state alone. */
enum http_state {
    HTTP_READING,   /* its request head arrives */
    HTTP_WRITING,   /* its answer is being written */
    HTTP_LINGERING, /* answered, write side shut down: what it sends is dropped until it closes */
    HTTP_CLOSING,   /* uv_close called: freed in the close callback */
};

struct http_conn {
    uv_tcp_t tcp;
    struct http_server *s;
    unsigned long long id;   /* for logs */
    enum http_state state;
    bool eof;                /* the client closed its side */
    http_parser parser;
    size_t head_len;         /* bytes of the request head read so far */
    char url[HTTP_URL_MAX];
    size_t url_len;          /* more than HTTP_URL_MAX: cut */
    struct outq out;         /* its answer */
    uv_shutdown_t shutdown;
    struct deadline timer;   /* in s->deadlines: HTTP_TIMEOUT_MS after the accept */
    struct http_conn *prev, *next;
};

static const char *const state_names[] = {"reading", "writing", "lingering", "closing"};

static void on_conn_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_server *s = c->s;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nconns--;
    outq_destroy(&c->out);
    free(c);
}

static void set_state(struct http_conn *c, enum http_state state)
{
    log_debug("%s: connection %llu: %s -> %s", c->s->name, c->id, state_names[c->state], state_names[state]);
    c->state = state;
    if (state != HTTP_CLOSING)
        return;
    deadlines_remove(&c->s->deadlines, &c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void close_conn(struct http_conn *c)
{
    if (c->state != HTTP_CLOSING)
        set_state(c, HTTP_CLOSING);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct http_conn *c = req->handle->data;

    if (status < 0 || c->eof)
        close_conn(c);
}

/* The answer is written: the client may close now (a client that already
 * did is closed at once). */
static void written(struct http_conn *c)
{
    if (c->eof || uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        close_conn(c);
        return;
    }
    set_state(c, HTTP_LINGERING);
}

static void on_written(struct outq *q, int status)
{
    struct http_conn *c = container_of(q, struct http_conn, out);

    if (c->state != HTTP_WRITING)
        return; /* closing: the write was cancelled */
    if (status < 0)
        close_conn(c);
    else
        written(c);
}

/* c's one answer: status line, headers (extra: more of them, each ending in
 * CRLF), and body unless it is a HEAD request's. */
static void respond(struct http_conn *c, int status, const char *type, const char *extra, bool with_body,
                    const char *body, size_t len)
{
    char head[512];
    int n, rc;

    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                 status, http_status_str((enum http_status)status), type, len, extra);
    if (n < 0 || (size_t)n >= sizeof head) { /* cannot be: every part is this file's, and short */
        close_conn(c);
        return;
    }
    msgpack_sbuffer_write(&c->out.buf, head, (size_t)n);
    if (with_body)
        msgpack_sbuffer_write(&c->out.buf, body, len);
    set_state(c, HTTP_WRITING);
    rc = outq_flush(&c->out, (uv_stream_t *)&c->tcp);
    if (rc < 0)
        close_conn(c);
    else if (!c->out.writing)
        written(c);
}

static void respond_text(struct http_conn *c, int status, const char *extra, bool with_body, const char *text)
{
    respond(c, status, TEXT_PLAIN, extra, with_body, text, strlen(text));
}

/* The `stats` answer as it is now, unpacked into u from the bytes packed
 * holds; NULL if it does not unpack. */
static const msgpack_object *current_stats(struct daemon *d, msgpack_sbuffer *packed, msgpack_unpacked *u)
{
    msgpack_packer pk;
    size_t off = 0;

    msgpack_packer_init(&pk, packed, msgpack_sbuffer_write);
    stats_pack(d, &pk);
    if (msgpack_unpack_next(u, packed->data, packed->size, &off) != MSGPACK_UNPACK_SUCCESS)
        return NULL;
    return &u->data;
}

/* Makes both pages' answers from the stats as they are now, unless those
 * made last are fresh: younger than HTTP_FRESH_MS, and no `stats` request
 * came since (a scrape never shows older figures than one). */
static void make_answers(struct http_server *s)
{
    const msgpack_object *stats;
    msgpack_sbuffer packed;
    msgpack_unpacked u;
    uint64_t now = uv_now(s->d->loop);

    if (s->made && now - s->made_at < HTTP_FRESH_MS && s->made_for == s->d->stats_asked)
        return;
    s->made = true;
    s->made_at = now;
    s->made_for = s->d->stats_asked;
    s->metrics.size = 0;
    msgpack_sbuffer_init(&packed);
    msgpack_unpacked_init(&u);
    stats = current_stats(s->d, &packed, &u);
    if (stats == NULL) {
        log_error("%s: the stats do not unpack", s->name);
    } else {
        metrics_render(stats, &s->metrics);
        s->healthy = metrics_healthy(stats, s->health, sizeof s->health);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&packed);
}

/* /metrics and /healthz. */
static void serve(struct http_conn *c, bool metrics, bool with_body)
{
    struct http_server *s = c->s;

    make_answers(s);
    if (s->metrics.size == 0)
        respond_text(c, 500, "", with_body, "the daemon's stats do not unpack\n");
    else if (metrics)
        respond(c, 200, METRICS_CONTENT_TYPE, "", with_body, s->metrics.data, s->metrics.size);
    else if (s->healthy)
        respond_text(c, 200, "", with_body, "ok\n");
    else
        respond_text(c, 503, "", with_body, s->health);
}

/* The request head is whole: its path, then its method. */
static void answer(struct http_conn *c)
{
    struct http_parser_url u;
    bool with_body = c->parser.method != HTTP_HEAD, metrics;
    const char *path;
    size_t len = 0;

    http_parser_url_init(&u);
    if (c->url_len <= HTTP_URL_MAX && http_parser_parse_url(c->url, c->url_len, 0, &u) == 0 &&
        (u.field_set & (1 << UF_PATH)))
        len = u.field_data[UF_PATH].len;
    path = c->url + u.field_data[UF_PATH].off;
    metrics = len == 8 && memcmp(path, "/metrics", 8) == 0;
    if (!metrics && !(len == 8 && memcmp(path, "/healthz", 8) == 0)) {
        log_debug("%s: 404 for %.*s", c->s->name, (int)(c->url_len <= HTTP_URL_MAX ? c->url_len : 0), c->url);
        respond_text(c, 404, "", with_body, "not found: this listener serves /metrics and /healthz\n");
    } else if (c->parser.method != HTTP_GET && c->parser.method != HTTP_HEAD) {
        respond_text(c, 405, "Allow: GET, HEAD\r\n", with_body, "method not allowed: GET or HEAD\n");
    } else {
        serve(c, metrics, with_body);
    }
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->url_len + len <= HTTP_URL_MAX)
        memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

/* The head is whole: the parser stops there (a body is never parsed). */
static int on_headers_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = h->data;

    (void)suggested;
    *buf = uv_buf_init(c->s->readbuf, sizeof c->s->readbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = st->data;
    enum http_errno e;
    char why[160];

    if (nread < 0) {
        c->eof = true;
        uv_read_stop(st);
        if (c->state != HTTP_WRITING) /* else once its answer is written */
            close_conn(c);
        return;
    }
    if (nread == 0 || c->state != HTTP_READING)
        return; /* nothing, or dropped: see http.h */
    c->head_len += http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
    e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->head_len > HTTP_MAX_HEAD) {
        snprintf(why, sizeof why, "the request head is larger than %d bytes\n", HTTP_MAX_HEAD);
        respond_text(c, 431, "", true, why);
    } else if (e == HPE_PAUSED) {
        answer(c);
    } else if (e != HPE_OK) {
        log_debug("%s: 400: %s", c->s->name, http_errno_description(e));
        snprintf(why, sizeof why, "bad request: %s\n", http_errno_description(e));
        respond_text(c, 400, "", true, why);
    }
}

static void on_expired(struct deadlines *set, struct deadline *e)
{
    struct http_conn *c = container_of(e, struct http_conn, timer);

    (void)set;
    log_debug("%s: connection %llu still open %d ms after its accept: closed", c->s->name, c->id, HTTP_TIMEOUT_MS);
    close_conn(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct http_server *s = server->data;
    struct http_conn *c;
    int rc;

    if (status < 0) {
        log_warn("%s: accept failed: %s", s->name, uv_strerror(status));
        return;
    }
    c = xcalloc(1, sizeof *c);
    c->s = s;
    c->id = ++s->next_id;
    deadline_clear(&c->timer);
    outq_init(&c->out, on_written);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_tcp_init(s->d->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if ((rc = uv_accept(server, (uv_stream_t *)&c->tcp)) < 0 ||
        (rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) < 0) {
        log_warn("%s: cannot take a client: %s", s->name, uv_strerror(rc));
        close_conn(c);
        return;
    }
    if (s->nconns > HTTP_MAX_CONNS) {
        log_warn_often(uv_now(s->d->loop), "%s: %d connections open already: one more closed", s->name,
                       HTTP_MAX_CONNS);
        close_conn(c);
        return;
    }
    c->timer.at = uv_now(s->d->loop) + HTTP_TIMEOUT_MS;
    deadlines_add(&s->deadlines, &c->timer);
}

int http_open(struct http_server *s, struct daemon *d, const struct config_metrics *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    int rc;

    memset(s, 0, sizeof *s);
    s->d = d;
    msgpack_sbuffer_init(&s->metrics);
    snprintf(s->name, sizeof s->name, strchr(cfg->host, ':') != NULL ? "http:[%s]:%d" : "http:%s:%d", cfg->host,
             cfg->port);
    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&sa) != 0) {
        snprintf(err, errlen, "%s: '%s' is not an IPv4 or IPv6 address", s->name, cfg->host);
        return -1;
    }
    uv_tcp_init(d->loop, &s->tcp);
    s->tcp.data = s;
    deadlines_init(&s->deadlines, d->loop, on_expired, s);
    s->open = true;
    if ((rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&s->tcp, HTTP_MAX_CONNS, on_connection)) < 0) {
        snprintf(err, errlen, "%s (metrics.listen): cannot listen: %s", s->name, uv_strerror(rc));
        return -1;
    }
    if (!config_loopback(cfg->host))
        log_warn("%s: reachable from other machines, and it asks no one who they are: keep it behind a "
                 "firewall, or on a loopback address", s->name);
    log_info("serving metrics on %s (/metrics, /healthz)", s->name);
    return 0;
}

void http_close(struct http_server *s)
{
    struct http_conn *c, *next;

    if (!s->open)
        return;
    s->open = false;
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        close_conn(c);
    }
    uv_close((uv_handle_t *)&s->tcp, NULL);
    deadlines_close(&s->deadlines);
    msgpack_sbuffer_destroy(&s->metrics);
}
