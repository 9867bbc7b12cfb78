/* guard: an executor's process boundaries: stop signals, its process group,
 * crash culprits, fork() in a call, reaping. See guard.h. */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board.h"
#include "frame.h"
#include "log.h"


__thread uint64_t guard_current_call;

static pid_t master_pid;       /* who may stop us: our parent at start */
static struct board *board;
static volatile sig_atomic_t in_forked_child;
static int reap_pipe[2] = {-1, -1}; /* forked children write their pid here */
/* Forks whose child's pid is not collected yet, plus children not reaped
 * yet: while 0, guard_reap has nothing to do and costs no system call. */
static unsigned long pending;

/* Calls running now (their sequence numbers) and the children forked while
 * they ran, under m. */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_seq = 1;
static uint64_t *running;
static size_t nrunning, running_cap;
static struct child {
    pid_t pid;
    uint64_t newest; /* the newest call started when it was seen */
} *children;
static size_t nchildren, children_cap;

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};

/* SIGTERM / SIGINT: the default action when the master (our parent, or the
 * template's parent) sent it; anyone else's is ignored. */
static void on_stop_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (si->si_code != SI_USER || (si->si_pid != master_pid && si->si_pid != getppid()))
        return;
    signal(sig, SIG_DFL);
    raise(sig);
}

void guard_init(void)
{
    struct sigaction sa;

    master_pid = getppid();
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* A fatal signal: names the call this thread ran, then dies of it. */
static void on_fatal_signal(int sig)
{
    if (board != NULL && guard_current_call != 0)
        board_store(&board->culprit, guard_current_call);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Wakes an executor sleeping in poll (guard_wake_fd): guard_reap follows. */
static void on_sigchld(int sig)
{
    pid_t none = 0;
    int saved = errno;

    (void)sig;
    if (write(reap_pipe[1], &none, sizeof none) < 0) {
        /* full: a wake-up is pending anyway */
    }
    errno = saved;
}

int guard_wake_fd(void)
{
    return reap_pipe[0];
}

/* In the parent after a fork() made by a call (pthread_atfork). */
static void in_parent(void)
{
    __atomic_add_fetch(&pending, 1, __ATOMIC_RELEASE);
}

/* In the child of a fork() made by a call (pthread_atfork). */
static void in_child(void)
{
    pid_t pid = getpid();
    size_t i;
    int fd;

    in_forked_child = 1;
    if (reap_pipe[1] >= 0 && write(reap_pipe[1], &pid, sizeof pid) < 0) {
        /* the executor's pipe is full or gone: the child goes unreaped */
    }
    close(reap_pipe[0]);
    close(reap_pipe[1]);
    reap_pipe[0] = reap_pipe[1] = -1;
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        dup3(fd, FRAME_MASTER_FD, O_CLOEXEC);
        close(fd);
    }
    if (board != NULL)
        mmap(board, BOARD_STRIDE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    board = NULL;
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    for (i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        signal(fatal_signals[i], SIG_DFL);
    nrunning = nchildren = 0;
    pending = 0;
    pthread_mutex_init(&m, NULL);
}

int guard_serve(struct board *b)
{
    struct sigaction sa;
    size_t i;

    board = b;
    if (setpgid(0, 0) != 0)
        log_warn("cannot lead a process group of its own: %s", strerror(errno));
    fcntl(FRAME_MASTER_FD, F_SETFD, FD_CLOEXEC);
    if (pipe2(reap_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_NODEFER | SA_RESETHAND | SA_ONSTACK;
    for (i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaction(fatal_signals[i], &sa, NULL);
    if (pthread_atfork(NULL, in_parent, in_child) != 0) {
        log_error("cannot set the at-fork handler");
        return -1;
    }
    return 0;
}

void guard_thread(void)
{
    sigset_t fatal;
    size_t i;

    sigemptyset(&fatal);
    for (i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaddset(&fatal, fatal_signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &fatal, NULL);
}

uint64_t guard_call_begin(uint64_t id)
{
    uint64_t seq;

    guard_current_call = id;
    pthread_mutex_lock(&m);
    seq = next_seq++;
    if (nrunning == running_cap) {
        running_cap = running_cap ? 2 * running_cap : 8;
        running = realloc(running, running_cap * sizeof *running);
        if (running == NULL)
            abort();
    }
    running[nrunning++] = seq;
    pthread_mutex_unlock(&m);
    return seq;
}

void guard_call_end(uint64_t seq)
{
    size_t i;

    guard_current_call = 0;
    pthread_mutex_lock(&m);
    for (i = 0; i < nrunning && running[i] != seq; i++)
        ;
    if (i < nrunning)
        running[i] = running[--nrunning];
    pthread_mutex_unlock(&m);
    guard_reap();
}

void guard_stray_exit(void)
{
    if (in_forked_child)
        _exit(0);
}

/* Under m: the pids forked children wrote, stamped with the newest call. */
static void collect(void)
{
    pid_t pids[64];
    ssize_t n;
    size_t k;

    while ((n = read(reap_pipe[0], pids, sizeof pids)) > 0) {
        for (k = 0; k < (size_t)n / sizeof *pids; k++) {
            if (pids[k] <= 0)
                continue; /* a wake-up from on_sigchld */
            /* the fork is collected; the child stays pending until reaped */
            if (nchildren == children_cap) {
                children_cap = children_cap ? 2 * children_cap : 8;
                children = realloc(children, children_cap * sizeof *children);
                if (children == NULL)
                    abort();
            }
            children[nchildren++] = (struct child){pids[k], next_seq - 1};
        }
    }
}

/* SIGCHLD wakes a sleeping executor while forgotten children remain. */
static void watch_children(bool on)
{
    static bool watching;
    struct sigaction sa;

    if (on == watching)
        return;
    watching = on;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_sigchld : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
}

void guard_reap(void)
{
    uint64_t oldest = UINT64_MAX;
    size_t i;
    pid_t r;

    if (__atomic_load_n(&pending, __ATOMIC_ACQUIRE) == 0 || reap_pipe[0] < 0 || in_forked_child)
        return;
    pthread_mutex_lock(&m);
    collect();
    /* before looking: one that ends after its waitpid below still wakes us */
    if (nchildren > 0)
        watch_children(true);
    for (i = 0; i < nrunning; i++)
        if (running[i] < oldest)
            oldest = running[i];
    for (i = 0; i < nchildren;) {
        if (children[i].newest >= oldest) { /* a call that may wait for it still runs */
            i++;
            continue;
        }
        r = waitpid(children[i].pid, NULL, WNOHANG);
        if (r == 0) {
            i++;
            continue;
        }
        children[i] = children[--nchildren]; /* reaped, or already reaped by the call */
        __atomic_sub_fetch(&pending, 1, __ATOMIC_RELEASE);
    }
    if (nchildren == 0)
        watch_children(false);
    pthread_mutex_unlock(&m);
}
