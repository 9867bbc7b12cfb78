/* term: the terminal top draws on. See term.h. */
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SCREEN_IN "\033[?1049h\033[?25l" /* the alternate screen; the cursor hidden */
#define SCREEN_OUT "\033[?25h\033[?1049l"
#define HOME "\033[H"
#define ERASE_LINE "\033[K"
#define ERASE_BELOW "\033[J"

static const int signals[TERM_NSIGNALS] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGWINCH, SIGCONT};

/* What the handlers recorded, and the pipe that wakes the loop: a handler
 * reaches nothing else. */
static volatile sig_atomic_t quit_sig, suspend_asked, redraw_asked, continued;
static int wake_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    char b = 0;
    ssize_t n;

    if (sig == SIGTSTP)
        suspend_asked = 1;
    else if (sig == SIGWINCH)
        redraw_asked = 1;
    else if (sig == SIGCONT)
        continued = 1;
    else
        quit_sig = sig;
    n = write(wake_fd, &b, 1); /* a full pipe wakes the loop already */
    (void)n;
    errno = saved;
}

static void catch(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a wait ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* stdin to keys, the alternate screen: again after a stop, idempotent. */
static void enter(const struct term *t)
{
    struct termios raw;

    if (t->keys) {
        raw = t->saved;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    fputs(SCREEN_IN, stdout);
    fflush(stdout);
}

static void leave(const struct term *t)
{
    fputs(SCREEN_OUT, stdout);
    fflush(stdout);
    if (t->keys)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

int term_open(struct term *t)
{
    size_t i;

    memset(t, 0, sizeof *t);
    if (pipe2(t->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -errno;
    wake_fd = t->pipe[1];
    quit_sig = suspend_asked = redraw_asked = continued = 0;
    t->keys = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0;
    for (i = 0; i < TERM_NSIGNALS; i++) {
        sigaction(signals[i], NULL, &t->old[i]);
        if (t->old[i].sa_handler != SIG_IGN)
            catch(signals[i]);
    }
    enter(t);
    return 0;
}

void term_close(struct term *t)
{
    size_t i;

    leave(t);
    for (i = 0; i < TERM_NSIGNALS; i++)
        sigaction(signals[i], &t->old[i], NULL);
    close(t->pipe[0]);
    close(t->pipe[1]);
    wake_fd = -1;
}

int term_signal_fd(const struct term *t)
{
    return t->pipe[0];
}

int term_key_fd(const struct term *t)
{
    return t->keys ? STDIN_FILENO : -1;
}

enum term_event term_event(struct term *t, int *sig)
{
    char buf[64];

    while (read(t->pipe[0], buf, sizeof buf) > 0)
        ;
    if (quit_sig != 0) {
        *sig = quit_sig;
        return TERM_QUIT;
    }
    if (suspend_asked) {
        suspend_asked = 0;
        return TERM_SUSPEND;
    }
    if (continued || redraw_asked) {
        if (continued) /* stopped from outside: the shell may have reset stdin */
            enter(t);
        continued = redraw_asked = 0;
        return TERM_REDRAW;
    }
    return TERM_NONE;
}

int term_key_quit(void)
{
    char buf[64];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return -1;
    return n > 0 && (memchr(buf, 'q', (size_t)n) != NULL || memchr(buf, 'Q', (size_t)n) != NULL);
}

void term_suspend(struct term *t)
{
    leave(t);
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP); /* stopped here until SIGCONT */
    catch(SIGTSTP);
    continued = 0;
    enter(t);
}

_Noreturn void term_die(struct term *t, int sig)
{
    term_close(t);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig); /* a signal whose default is not to end (none of term's) */
}

/* Writes the first cols characters of s[0..n) (UTF-8: a character is its
 * lead byte and what continues it); returns how many it wrote. */
static int put_cut(FILE *f, const char *s, size_t n, int cols)
{
    size_t i;
    int chars = 0;

    for (i = 0; i < n; i++) {
        bool lead = ((unsigned char)s[i] & 0xC0) != 0x80;

        if (lead && chars == cols)
            break;
        chars += lead;
    }
    fwrite(s, 1, i, f);
    return chars;
}

/* The length of the line at text[at..len), its '\n' left out. */
static size_t line_len(const char *text, size_t at, size_t len)
{
    const char *nl = memchr(text + at, '\n', len - at);

    return nl != NULL ? (size_t)(nl - (text + at)) : len - at;
}

void term_draw(const char *text, size_t len)
{
    struct winsize ws;
    int rows = 24, cols = 80, row;
    size_t at, n;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        rows = ws.ws_row;
        cols = ws.ws_col;
    }
    fputs(HOME, stdout);
    for (at = 0, row = 0; at < len && row < rows; at += n + 1, row++) {
        n = line_len(text, at, len);
        if (row > 0)
            fputc('\n', stdout); /* none after the last row: the screen must not scroll */
        /* a full line leaves the cursor on its last character, which an erase would take */
        if (put_cut(stdout, text + at, n, cols) < cols)
            fputs(ERASE_LINE, stdout);
    }
    if (row < rows) /* on the next line: from a full line's end, an erase would take its last character */
        fputs("\n" ERASE_BELOW, stdout);
    fflush(stdout);
}

void term_print(FILE *f, const char *text, size_t len, int cols)
{
    size_t at, n;

    for (at = 0; at < len; at += n + 1) {
        n = line_len(text, at, len);
        put_cut(f, text + at, n, cols > 0 ? cols : INT_MAX);
        fputc('\n', f);
    }
}

int term_cols(int fd)
{
    struct winsize ws;

    if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0)
        return 0;
    return ws.ws_col;
}
