/* forkserver: a pool's template process forking executors. See
 * forkserver.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>

#include "frame.h"
#include "log.h"
#include "mpk.h"
#include "wire.h"

#define READ_CHUNK 4096
#define MAX_FDS 3

/* Sends one frame to the master, with the nfds descriptors of fds
 * attached. The master reads promptly, so a blocking send is fine. */
static void send_frame(const msgpack_sbuffer *sb, const int *fds, size_t nfds)
{
    char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    struct iovec iov = {sb->data, sb->size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;
    ssize_t n;

    if (nfds > 0) {
        memset(cbuf, 0, sizeof cbuf);
        msg.msg_control = cbuf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }
    do
        n = sendmsg(FRAME_MASTER_FD, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sb->size)
        _exit(0); /* the master is gone (a frame this small goes whole) */
}

/* [kind, a, b, c...]: a frame of unsigned numbers, with nfds descriptors. */
static void send_numbers(int kind, const uint64_t *v, size_t n, const int *fds, size_t nfds)
{
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    wire_pack_numbers(&sb, (unsigned)kind, v, n);
    send_frame(&sb, fds, nfds);
    msgpack_sbuffer_destroy(&sb);
}

/* Reports every child that ended. What is left of its process group (what
 * its calls started) is killed first, while the dead child still holds its
 * pid, so the group's id cannot name anyone else yet. */
static void reap(void)
{
    siginfo_t si;
    uint64_t v[3];
    pid_t pid;
    int st;

    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
            return;
        kill(-si.si_pid, SIGKILL);
        if ((pid = waitpid(si.si_pid, &st, 0)) <= 0)
            return;
        v[0] = (uint64_t)pid;
        v[1] = WIFEXITED(st) ? (uint64_t)WEXITSTATUS(st) : 0;
        v[2] = WIFSIGNALED(st) ? (uint64_t)WTERMSIG(st) : 0;
        send_numbers(FRAME_EXITED, v, 3, NULL, 0);
    }
}

/* What is buffered for stdout and stderr (Python's and C's) is written
 * before a fork, so that the child does not write it again. */
static void flush_stdio(void)
{
    static const char *const names[] = {"stdout", "stderr"};
    PyObject *f, *r;
    size_t i;

    for (i = 0; i < 2; i++) {
        f = PySys_GetObject(names[i]); /* borrowed */
        if (f == NULL || f == Py_None)
            continue;
        r = PyObject_CallMethod(f, "flush", NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    fflush(stdout);
}

static void close_all(const int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* The descriptors a new executor needs: its socket (sv[0] the master's
 * end, sv[1] its own) and, when capture, the pipes for its stdout and
 * stderr (out[0], err[0] the master's read ends, which do not block).
 * Returns 0, or -1 (logged; nothing left open). */
static int make_fds(bool capture, int sv[2], int out[2], int err[2])
{
    out[0] = out[1] = err[0] = err[1] = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        log_error("cannot make a socket pair for a new executor: %s", strerror(errno));
        return -1;
    }
    if (capture && (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
                    fcntl(out[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) != 0)) {
        log_error("cannot make the pipes for a new executor's output: %s", strerror(errno));
        close_all(sv, 2);
        close_all(out, 2);
        close_all(err, 2);
        return -1;
    }
    return 0;
}

/* In a forked child: its own socket on FRAME_MASTER_FD, its own pipes on
 * fd 1 and 2 (capture); the template's ends closed. */
static void take_fds(bool capture, const int sv[2], const int out[2], const int err[2])
{
    if (dup2(sv[1], FRAME_MASTER_FD) < 0 || (capture && (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)))
        _exit(1);
    close_all(sv, 2);
    close_all(out, 2);
    close_all(err, 2);
}

/* Forks one executor. Returns its pid in the template, 0 in the child
 * (which then owns a fresh socket on FRAME_MASTER_FD, and with capture
 * pipes of its own on fd 1 and 2), -1 when it failed. */
static pid_t fork_child(uint64_t key, bool capture)
{
    pid_t template_pid = getpid(), pid;
    uint64_t v[2] = {key, 0};
    int sv[2], out[2], err[2], give[MAX_FDS];

    if (make_fds(capture, sv, out, err) != 0) {
        send_numbers(FRAME_FORK, v, 2, NULL, 0);
        return -1;
    }
    flush_stdio();
    PyOS_BeforeFork();
    pid = fork();
    if (pid == 0) {
        PyOS_AfterFork_Child();
        take_fds(capture, sv, out, err);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != template_pid)
            _exit(1); /* the template died before the line above */
        return 0;
    }
    PyOS_AfterFork_Parent();
    close(sv[1]);
    if (capture) {
        close(out[1]);
        close(err[1]);
    }
    if (pid < 0)
        log_error("cannot fork an executor: %s", strerror(errno));
    v[1] = pid > 0 ? (uint64_t)pid : 0;
    give[0] = sv[0];
    give[1] = out[0];
    give[2] = err[0];
    send_numbers(FRAME_FORK, v, 2, give, pid <= 0 ? 0 : capture ? 3 : 1);
    close_all(give, capture ? 3 : 1);
    return pid;
}

/* Handles every whole frame in in: [FRAME_FORK, key, name, board]. Returns
 * 1 in a forked child (name and board set), 0 in the template, -1 on a
 * malformed frame. */
static int handle_frames(struct rbuf *in, bool capture, char *name, size_t namelen, int *board)
{
    struct mpk_reader r;
    struct mpk_item it, idx;
    size_t off = 0;
    int64_t body;
    uint64_t key;

    while (in->len - off >= FRAME_PREFIX) {
        body = frame_body_len(in->data + off);
        if (body < 0)
            return -1;
        if (in->len - off - FRAME_PREFIX < (size_t)body)
            break;
        mpk_reader_init(&r, in->data + off + FRAME_PREFIX, (size_t)body);
        if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n != 4 || mpk_read(&r, &it) != 0 ||
            it.type != MPK_UINT || it.v.u != FRAME_FORK || mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
            return -1;
        key = it.v.u;
        if (mpk_read(&r, &it) != 0 || it.type != MPK_STR || mpk_read(&r, &idx) != 0 ||
            idx.type != MPK_UINT || idx.v.u > INT32_MAX)
            return -1;
        off += FRAME_PREFIX + (size_t)body;
        if (fork_child(key, capture) == 0) {
            snprintf(name, namelen, "%.*s", (int)it.v.s.len, it.v.s.ptr);
            *board = (int)idx.v.u;
            return 1;
        }
    }
    rbuf_consume(in, off);
    return 0;
}

void forkserver_run(struct rbuf *in, bool capture, char *name, size_t namelen, int *board)
{
    struct signalfd_siginfo si;
    struct pollfd pf[2];
    sigset_t chld;
    ssize_t n;
    int sfd, rc;

    /* orphans of its executors' calls come to it, to be reaped, rather
     * than to init */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        _exit(1);
    }
    for (;;) {
        pf[0] = (struct pollfd){.fd = FRAME_MASTER_FD, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (pf[1].revents != 0) {
            while (read(sfd, &si, sizeof si) > 0)
                ;
            reap();
        }
        if (pf[0].revents == 0)
            continue;
        if (rbuf_reserve(in, READ_CHUNK) != 0)
            _exit(1);
        n = read(FRAME_MASTER_FD, rbuf_end(in), rbuf_room(in));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0); /* the master closed us: the children follow (PDEATHSIG) */
        in->len += (size_t)n;
        rc = handle_frames(in, capture, name, namelen, board);
        if (rc < 0) {
            log_error("malformed frame from the master");
            _exit(1);
        }
        if (rc == 1) { /* a new executor */
            close(sfd);
            sigprocmask(SIG_UNBLOCK, &chld, NULL);
            rbuf_consume(in, in->len);
            return;
        }
    }
}
