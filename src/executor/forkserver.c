/* forkserver: a pool's template process forking executors. See
 * forkserver.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "forkserver.h"

#include <errno.h>
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

/* Sends one frame to the master, with fd attached when it is not -1. The
 * master reads promptly, so a blocking send is fine. */
static void send_frame(const msgpack_sbuffer *sb, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {sb->data, sb->size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;
    ssize_t n;

    if (fd >= 0) {
        memset(cbuf, 0, sizeof cbuf);
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    do
        n = sendmsg(FRAME_MASTER_FD, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sb->size)
        _exit(0); /* the master is gone (a frame this small goes whole) */
}

/* [kind, a, b, c...]: a frame of unsigned numbers. */
static void send_numbers(int kind, const uint64_t *v, size_t n, int fd)
{
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    wire_pack_numbers(&sb, (unsigned)kind, v, n);
    send_frame(&sb, fd);
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
        send_numbers(FRAME_EXITED, v, 3, -1);
    }
}

/* Forks one executor. Returns its pid in the template, 0 in the child
 * (which then owns a fresh socket on FRAME_MASTER_FD), -1 when it failed. */
static pid_t fork_child(uint64_t key)
{
    pid_t template_pid = getpid(), pid;
    uint64_t v[2] = {key, 0};
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        log_error("cannot make a socket pair for a new executor: %s", strerror(errno));
        send_numbers(FRAME_FORK, v, 2, -1);
        return -1;
    }
    PyOS_BeforeFork();
    pid = fork();
    if (pid == 0) {
        PyOS_AfterFork_Child();
        if (dup2(sv[1], FRAME_MASTER_FD) < 0)
            _exit(1);
        close(sv[0]);
        close(sv[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != template_pid)
            _exit(1); /* the template died before the line above */
        return 0;
    }
    PyOS_AfterFork_Parent();
    close(sv[1]);
    if (pid < 0)
        log_error("cannot fork an executor: %s", strerror(errno));
    v[1] = pid > 0 ? (uint64_t)pid : 0;
    send_numbers(FRAME_FORK, v, 2, pid > 0 ? sv[0] : -1);
    close(sv[0]);
    return pid;
}

/* Handles every whole frame in in: [FRAME_FORK, key, name, board]. Returns
 * 1 in a forked child (name and board set), 0 in the template, -1 on a
 * malformed frame. */
static int handle_frames(struct rbuf *in, char *name, size_t namelen, int *board)
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
        if (fork_child(key) == 0) {
            snprintf(name, namelen, "%.*s", (int)it.v.s.len, it.v.s.ptr);
            *board = (int)idx.v.u;
            return 1;
        }
    }
    rbuf_consume(in, off);
    return 0;
}

void forkserver_run(struct rbuf *in, char *name, size_t namelen, int *board)
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
        rc = handle_frames(in, name, namelen, board);
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
