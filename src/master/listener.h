/* listener: the Unix and TCP sockets the daemon accepts clients on.
 *
 * A Unix socket's folder is created if missing (mode 0750); a stale socket
 * file left by a daemon that died is replaced, but one that a live daemon
 * still answers on is an error. The socket file gets the listener's mode
 * (0600 unless set; never the umask's) and group before the daemon serves.
 * Socket files this daemon created are removed at exit; a socket systemd
 * passed (socket activation) is used as it is. Each client gets
 * its listener's access: admin methods or not, and the token its first
 * request must carry (TCP). */
#ifndef PYRPOOL_LISTENER_H
#define PYRPOOL_LISTENER_H

#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "conn.h"

struct daemon;
struct conn_handler;

struct listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    struct daemon *d;
    const struct conn_handler *handler; /* for each client accepted */
    struct conn_access access;          /* what its clients may do (token owned) */
    enum listen_kind kind;
    char name[300];   /* "unix:/path" or "tcp:host:port", for logs */
    char *path;       /* unix: the socket file to remove at exit */
    struct listen_counts *counts; /* its clients' figures (the daemon's) */
};

/* Opens and starts listening on l; each client accepted is run by handler.
 * fd >= 0: a socket systemd passed for l (socket activation) is used
 * instead of binding: it must be a listening stream socket at l's address
 * and, for Unix, not open to every user; its file stays systemd's.
 * fd is the listener's from the call on (closed if it fails). Returns a
 * listener, or NULL with the reason in err. */
struct listener *listener_open(struct daemon *d, const struct config_listen *l, const struct conn_handler *handler,
                               int fd, struct listen_counts *counts, char *err, size_t errlen);

/* Stops accepting, removes the socket file, and frees the listener once its
 * handle is closed. */
void listener_close(struct listener *l);

#endif
