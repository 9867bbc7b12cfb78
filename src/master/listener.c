/* listener: Unix and TCP listening sockets. See listener.h. */
#include "listener.h"

#include <errno.h>
#include <stdbool.h>
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
    rc = conn_accept(l->d, server, l->kind == LISTEN_TCP, l->handler, &l->access, l->counts);
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
    if (!config_loopback(cl->host))
        log_warn("%s: reachable from other machines, and nothing on it is encrypted (the token "
                 "included): keep it on a trusted network, or behind a TLS tunnel", l->name);
    return 0;
}

/* Checks that fd, passed by systemd, is a listening stream socket of the
 * family want (AF_UNIX, or AF_INET/AF_INET6 for want AF_INET), and gets
 * its address. */
static int check_passed(struct listener *l, int fd, int want, struct sockaddr_storage *sa, char *err,
                        size_t errlen)
{
    socklen_t len = sizeof *sa;
    int type = 0, listening = 0;
    socklen_t tlen = sizeof type, llen = sizeof listening;

    if (getsockname(fd, (struct sockaddr *)sa, &len) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) != 0) {
        snprintf(err, errlen, "%s: the socket systemd passed for it: %s", l->name, strerror(errno));
        return -1;
    }
    if (type != SOCK_STREAM || !listening ||
        (want == AF_UNIX ? sa->ss_family != AF_UNIX : sa->ss_family != AF_INET && sa->ss_family != AF_INET6)) {
        snprintf(err, errlen, "%s: the socket systemd passed for it is not a listening %s stream socket "
                 "(ListenStream=, and Accept=no)", l->name, want == AF_UNIX ? "Unix" : "TCP");
        return -1;
    }
    return 0;
}

/* A Unix socket systemd made: it must be at the config's path, and not
 * let every user connect (systemd's SocketMode= is 0666 unless set). The
 * file stays systemd's: not removed at exit. */
static int adopt_unix(struct listener *l, const struct config_listen *cl, int fd, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    const struct sockaddr_un *un = (const struct sockaddr_un *)&sa;
    struct stat st;

    if (check_passed(l, fd, AF_UNIX, &sa, err, errlen) != 0)
        return -1;
    if (strncmp(un->sun_path, cl->path, sizeof un->sun_path) != 0) {
        snprintf(err, errlen, "%s: systemd passed a socket at '%.108s' for it (ListenStream= and the "
                 "config must name the same path)", l->name, un->sun_path);
        return -1;
    }
    if (stat(cl->path, &st) != 0 || (st.st_mode & 0002)) {
        snprintf(err, errlen, "%s: the socket systemd made lets every user connect (mode %04o), and so run "
                 "code as the daemon's user: set SocketMode=0660 or 0600 in the socket unit", l->name,
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    uv_pipe_init(l->d->loop, &l->h.pipe, 0);
    l->h.handle.data = l;
    return uv_pipe_open(&l->h.pipe, fd) == 0 ? 0 : -1;
}

/* A TCP socket systemd made: bound where the config says. */
static int adopt_tcp(struct listener *l, const struct config_listen *cl, int fd, char *err, size_t errlen)
{
    struct sockaddr_storage sa, want;
    bool same;

    if (check_passed(l, fd, AF_INET, &sa, err, errlen) != 0)
        return -1;
    memset(&want, 0, sizeof want);
    if (uv_ip4_addr(cl->host, cl->port, (struct sockaddr_in *)&want) != 0)
        uv_ip6_addr(cl->host, cl->port, (struct sockaddr_in6 *)&want);
    if (sa.ss_family == AF_INET)
        same = want.ss_family == AF_INET &&
               ((struct sockaddr_in *)&sa)->sin_port == ((struct sockaddr_in *)&want)->sin_port &&
               ((struct sockaddr_in *)&sa)->sin_addr.s_addr == ((struct sockaddr_in *)&want)->sin_addr.s_addr;
    else
        same = want.ss_family == AF_INET6 &&
               ((struct sockaddr_in6 *)&sa)->sin6_port == ((struct sockaddr_in6 *)&want)->sin6_port &&
               memcmp(&((struct sockaddr_in6 *)&sa)->sin6_addr, &((struct sockaddr_in6 *)&want)->sin6_addr, 16) == 0;
    if (!same) {
        snprintf(err, errlen, "%s: systemd passed a socket bound elsewhere for it (ListenStream= and the "
                 "config must name the same address and port)", l->name);
        return -1;
    }
    uv_tcp_init(l->d->loop, &l->h.tcp);
    l->h.handle.data = l;
    if (uv_tcp_open(&l->h.tcp, fd) != 0)
        return -1;
    if (!config_loopback(cl->host))
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
                               int fd, struct listen_counts *counts, char *err, size_t errlen)
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
    l->counts = counts;
    snprintf(counts->name, sizeof counts->name, "%s", l->name);
    if (fd >= 0)
        rc = cl->kind == LISTEN_UNIX ? adopt_unix(l, cl, fd, err, errlen) : adopt_tcp(l, cl, fd, err, errlen);
    else
        rc = cl->kind == LISTEN_UNIX ? open_unix(l, cl, err, errlen) : open_tcp(l, cl, err, errlen);
    if (rc != 0 && fd >= 0 && err[0] == '\0')
        snprintf(err, errlen, "%s: cannot use the socket systemd passed", l->name);
    if (rc == 0 && (rc = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection)) < 0)
        snprintf(err, errlen, "%s: cannot listen: %s", l->name, uv_strerror(rc));
    if (rc != 0) {
        uv_os_fd_t held;

        if (fd >= 0 && (l->h.handle.loop == NULL || uv_fileno(&l->h.handle, &held) != 0))
            close(fd); /* the handle did not take it */
        if (l->h.handle.loop != NULL) {
            if (l->path != NULL)
                unlink(l->path);
            uv_close(&l->h.handle, on_close);
        } else {
            free(l);
        }
        return NULL;
    }
    log_info("listening on %s%s", l->name, fd >= 0 ? " (a socket from systemd)" : "");
    return l;
}

void listener_close(struct listener *l)
{
    if (l->path != NULL)
        unlink(l->path);
    uv_close(&l->h.handle, on_close);
}
