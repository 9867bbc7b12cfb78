/* listener: Unix and TCP listening sockets. See listener.h. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "log.h"

#define LISTEN_BACKLOG 1024

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    int rc;

    if (status < 0) {
        log_warn("%s: accept failed: %s", l->name, uv_strerror(status));
        return;
    }
    rc = conn_accept(l->d, server, l->kind == LISTEN_TCP, l->handler, &l->access);
    if (rc < 0)
        log_warn("%s: cannot take a client: %s", l->name, uv_strerror(rc));
}

/* Creates the folders above path, like mkdir -p, mode 0750; those it
 * creates get group gid when it is not -1 (so that the socket's group can
 * reach the socket). */
static int make_parents(const char *path, int gid)
{
    char buf[PATH_MAX];
    char *p;

    snprintf(buf, sizeof buf, "%s", path);
    for (p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(buf, 0750) == 0) {
            if (gid >= 0 && chown(buf, (uid_t)-1, (gid_t)gid) != 0)
                return -errno;
        } else if (errno != EEXIST) {
            return -errno;
        }
        *p = '/';
    }
    return 0;
}

/* 0 when nothing answers on the socket file path (so it may be replaced),
 * -EADDRINUSE when a live server does, another -errno otherwise. */
static int check_stale(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (unlink(path) != 0)
        return -errno;
    return 0;
}

static int open_unix(struct listener *l, const struct config_listen *cl, char *err, size_t errlen)
{
    mode_t old;
    int rc;

    if ((rc = make_parents(cl->path, cl->gid)) != 0) {
        snprintf(err, errlen, "%s: cannot create its folder: %s", l->name, strerror(-rc));
        return -1;
    }
    rc = check_stale(cl->path);
    if (rc == -EADDRINUSE) {
        snprintf(err, errlen, "%s: another server is already listening there", l->name);
        return -1;
    }
    if (rc == -EEXIST) {
        snprintf(err, errlen, "%s: the path exists and is not a socket", l->name);
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", l->name, strerror(-rc));
        return -1;
    }
    uv_pipe_init(l->d->loop, &l->h.pipe, 0);
    l->h.handle.data = l;
    old = umask(0177); /* no moment with the umask's mode: listen.mode is set next */
    rc = uv_pipe_bind(&l->h.pipe, cl->path);
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot bind: %s", l->name, uv_strerror(rc));
        return -1;
    }
    l->path = strdup(cl->path);
    if ((cl->gid >= 0 || cl->uid >= 0) && chown(cl->path, (uid_t)cl->uid, (gid_t)cl->gid) != 0) {
        snprintf(err, errlen, "%s: cannot give the socket to its owner or group: %s", l->name, strerror(errno));
        return -1;
    }
    if (chmod(cl->path, cl->mode) != 0) {
        snprintf(err, errlen, "%s: cannot set its mode %04o: %s", l->name, cl->mode, strerror(errno));
        return -1;
    }
    return 0;
}

/* 127.0.0.0/8 or ::1. */
static bool loopback(const struct sockaddr_storage *sa)
{
    static const unsigned char v6[16] = {[15] = 1};

    if (sa->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, v6, 16) == 0;
}

static int open_tcp(struct listener *l, const struct config_listen *cl, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    int rc;

    if (uv_ip4_addr(cl->host, cl->port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(cl->host, cl->port, (struct sockaddr_in6 *)&sa) != 0) {
        snprintf(err, errlen, "%s: '%s' is not an IPv4 or IPv6 address", l->name, cl->host);
        return -1;
    }
    uv_tcp_init(l->d->loop, &l->h.tcp);
    l->h.handle.data = l;
    if ((rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&sa, 0)) < 0) {
        snprintf(err, errlen, "%s: cannot bind: %s", l->name, uv_strerror(rc));
        return -1;
    }
    if (!loopback(&sa))
        log_warn("%s: reachable from other machines, and nothing on it is encrypted (the token "
                 "included): keep it on a trusted network, or behind a TLS tunnel", l->name);
    return 0;
}

static void on_close(uv_handle_t *h)
{
    struct listener *l = h->data;

    free(l->path);
    if (l->access.token != NULL)
        explicit_bzero((char *)l->access.token, strlen(l->access.token));
    free((char *)l->access.token);
    free(l);
}

struct listener *listener_open(struct daemon *d, const struct config_listen *cl, const struct conn_handler *handler,
                               char *err, size_t errlen)
{
    struct listener *l = calloc(1, sizeof *l);
    int rc;

    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->d = d;
    l->handler = handler;
    l->access.admin = cl->admin;
    l->access.errors = cl->errors;
    l->access.token = cl->token != NULL ? strdup(cl->token) : NULL;
    l->kind = cl->kind;
    if (cl->kind == LISTEN_UNIX)
        snprintf(l->name, sizeof l->name, "unix:%s", cl->path);
    else
        snprintf(l->name, sizeof l->name, "tcp:%s:%d", cl->host, cl->port);
    rc = cl->kind == LISTEN_UNIX ? open_unix(l, cl, err, errlen) : open_tcp(l, cl, err, errlen);
    if (rc == 0 && (rc = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection)) < 0)
        snprintf(err, errlen, "%s: cannot listen: %s", l->name, uv_strerror(rc));
    if (rc != 0) {
        if (l->h.handle.loop != NULL) {
            if (l->path != NULL)
                unlink(l->path);
            uv_close(&l->h.handle, on_close);
        } else {
            free(l);
        }
        return NULL;
    }
    log_info("listening on %s", l->name);
    return l;
}

void listener_close(struct listener *l)
{
    if (l->path != NULL)
        unlink(l->path);
    uv_close(&l->h.handle, on_close);
}
