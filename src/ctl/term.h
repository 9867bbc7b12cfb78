/* term: the terminal `pyrpoolctl top` draws on, and its lines cut to the
 * terminal's width.
 *
 * Plain ANSI (ECMA-48) escapes, not ncurses: the view is one block of text
 * redrawn from the top left, which takes six sequences (cursor home, erase
 * to the end of the line and of the screen, the alternate screen in and
 * out, the cursor hidden and shown) that every terminal in use reads
 * (xterm and its kin, VTE, the Linux console, tmux, screen). ncurses would
 * add a library to link and install for that, and its own idea of the
 * output, where top also writes plain frames to pipes.
 *
 * While open: stdin, when it is a terminal, gives keys one at a time
 * without echo (ISIG stays on: Ctrl-C is SIGINT, Ctrl-Z SIGTSTP); the
 * screen is the alternate one, so the shell's comes back at the end, with
 * the cursor hidden. Signal handlers only record what they ask for and
 * write a byte to a pipe that the caller polls (term_signal_fd); the
 * caller acts on term_event. */
#ifndef PYRPOOL_CTL_TERM_H
#define PYRPOOL_CTL_TERM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <termios.h>

#define TERM_NSIGNALS 7     /* the signals term catches */

struct term {
    bool keys;              /* stdin was switched to keys: restore saved */
    struct termios saved;   /* stdin's settings before */
    int pipe[2];            /* the signal handlers write to [1] */
    struct sigaction old[TERM_NSIGNALS]; /* the actions before (an ignored signal stays ignored) */
};

enum term_event {
    TERM_NONE,
    TERM_QUIT,      /* SIGINT, SIGTERM, SIGHUP or SIGQUIT: term_die */
    TERM_SUSPEND,   /* SIGTSTP (Ctrl-Z): term_suspend, then redraw */
    TERM_REDRAW,    /* SIGWINCH (the size changed) or SIGCONT: draw again */
};

/* Takes the terminal over (see above). Returns 0, or -errno (the pipe or
 * a handler could not be made; nothing is changed then). */
int term_open(struct term *t);

/* Gives the terminal back as it was; the handlers are undone. */
void term_close(struct term *t);

/* The fds to poll for input: the signal pipe, and stdin when it gives keys (else -1). */
int term_signal_fd(const struct term *t);
int term_key_fd(const struct term *t);

/* What the signals since the last call ask for, the most urgent first;
 * *sig is the signal of a TERM_QUIT. Empties the signal pipe. */
enum term_event term_event(struct term *t, int *sig);

/* Reads the keys pressed: 1 when one of them is q (or Q), 0 when none is,
 * -1 at the end of stdin (stop polling it). */
int term_key_quit(void);

/* Ctrl-Z: gives the terminal back, stops until SIGCONT, takes it again. */
void term_suspend(struct term *t);

/* Gives the terminal back and ends the process by sig (as if it had not
 * been caught), so that the shell sees how it ended. */
_Noreturn void term_die(struct term *t, int sig);

/* Draws text (lines ending in '\n') over the open term's screen from the
 * top left: each line cut to the width, as many lines as the height holds,
 * what was below them erased. */
void term_draw(const char *text, size_t len);

/* Prints text to f as it is, each line cut to cols characters (0: not
 * cut). */
void term_print(FILE *f, const char *text, size_t len, int cols);

/* The width of the terminal on fd, or 0 when fd is not one. */
int term_cols(int fd);

#endif
