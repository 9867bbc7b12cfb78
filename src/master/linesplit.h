/* linesplit: a byte stream cut into lines, whatever pieces it arrives in.
 *
 * A line comes out whole however many reads brought it, without its
 * newline (nor a carriage return just before it). A line longer than
 * LINESPLIT_MAX bytes comes out in pieces of LINESPLIT_MAX, numbered from
 * 1, the last one saying it is. What follows the last newline comes out
 * when the stream ends (linesplit_end). At most LINESPLIT_MAX bytes are
 * kept between reads, and only while a line is incomplete. Pure: no I/O. */
#ifndef PYRPOOL_LINESPLIT_H
#define PYRPOOL_LINESPLIT_H

#include <stdbool.h>
#include <stddef.h>

#define LINESPLIT_MAX 16384

/* One line (part 0), or piece part (from 1) of a line longer than
 * LINESPLIT_MAX; last: the line ends with it (always true for part 0).
 * line is the splitter's or the caller's bytes: valid during the call. */
typedef void (*linesplit_fn)(void *arg, const char *line, size_t len, unsigned part, bool last);

struct linesplit {
    char *buf;     /* the incomplete line (LINESPLIT_MAX bytes), or NULL */
    size_t len;    /* its bytes so far */
    unsigned part; /* pieces of it given out already */
};

/* Gives fn every line (or piece) that data (n bytes) completes, in order. */
void linesplit_feed(struct linesplit *ls, const char *data, size_t n, linesplit_fn fn, void *arg);

/* The stream ended: gives fn what is left of an incomplete line, if
 * anything, as its last piece; ls is empty after (nothing allocated). */
void linesplit_end(struct linesplit *ls, linesplit_fn fn, void *arg);

#endif
