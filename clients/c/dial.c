/* dial: the socket to the daemon, connected without blocking past the
 * deadline: a TCP connect waits in poll; a Unix socket whose listen backlog
 * is full (EAGAIN: it never completes by itself) is retried until then. */
#include "dial.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"

#define UNIX_RETRY_MS 5

int64_t dial_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dial_left_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - dial_now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static int dial_unix(const char *address, const char *path, int64_t deadline, pyrpool_error *err)
{
    struct sockaddr_un sa;
    int fd, e;

    if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path))
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "%s: a Unix socket path must have 1 to %zu bytes",
                          address, sizeof(sa.sun_path) - 1);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errors_set(err, PYRPOOL_ERR_CONNECTION, errno, "cannot connect to %s: socket: %s", address,
                          strerror(errno));
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN && dial_left_ms(deadline) != 0) {
            poll(NULL, 0, UNIX_RETRY_MS);
            continue;
        }
        close(fd);
        if (e == EAGAIN)
            return errors_set(err, PYRPOOL_ERR_TIMEOUT, e, "cannot connect to %s: its backlog stayed full",
                              address);
        return errors_set(err, PYRPOOL_ERR_CONNECTION, e, "cannot connect to %s: %s", address, strerror(e));
    }
    return fd;
}

/* Waits for a non-blocking connect to finish. Returns 0 or an errno. */
static int tcp_wait(int fd, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    socklen_t len = sizeof(int);
    int rc, e = 0;

    do
        rc = poll(&p, 1, dial_left_ms(deadline));
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        return ETIMEDOUT;
    if (rc < 0)
        return errno;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        return errno;
    return e;
}

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port (in buf). */
static int split_host_port(const char *hp, char *buf, size_t size, const char **host, const char **port)
{
    char *colon;

    if (strlen(hp) >= size)
        return -1;
    strcpy(buf, hp);
    if (buf[0] == '[') {
        colon = strchr(buf, ']');
        if (colon == NULL || colon[1] != ':')
            return -1;
        *colon = '\0';
        *host = buf + 1;
        *port = colon + 2;
    } else {
        colon = strrchr(buf, ':');
        if (colon == NULL)
            return -1;
        *colon = '\0';
        *host = buf;
        *port = colon + 1;
    }
    return (**host != '\0' && **port != '\0') ? 0 : -1;
}

static int dial_tcp(const char *address, const char *hp, int64_t deadline, pyrpool_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char buf[512];
    const char *host, *port;
    int fd = -1, e = 0, rc, one = 1;

    if (split_host_port(hp, buf, sizeof(buf), &host, &port) != 0)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "%s: expected tcp:HOST:PORT", address);
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return errors_set(err, PYRPOOL_ERR_CONNECTION, 0, "cannot connect to %s: %s", address, gai_strerror(rc));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
        if (e == EINPROGRESS)
            e = tcp_wait(fd, deadline);
        if (e == 0)
            break;
        close(fd);
        fd = -1;
        if (e == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0 && e == ETIMEDOUT)
        return errors_set(err, PYRPOOL_ERR_TIMEOUT, e, "cannot connect to %s: timed out", address);
    if (fd < 0)
        return errors_set(err, PYRPOOL_ERR_CONNECTION, e, "cannot connect to %s: %s", address, strerror(e));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int dial(const char *address, int64_t deadline, pyrpool_error *err)
{
    if (address == NULL)
        return errors_set(err, PYRPOOL_ERR_USAGE, 0, "no address given (expected unix:PATH or tcp:HOST:PORT)");
    if (strncmp(address, "unix:", 5) == 0)
        return dial_unix(address, address + 5, deadline, err);
    if (strncmp(address, "tcp:", 4) == 0)
        return dial_tcp(address, address + 4, deadline, err);
    return errors_set(err, PYRPOOL_ERR_USAGE, 0, "%s: unknown address (expected unix:PATH or tcp:HOST:PORT)",
                      address);
}
