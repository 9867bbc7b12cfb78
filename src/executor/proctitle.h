/* proctitle: what `ps` and `top` show for an executor or a template:
 * "pyrpool: default executor 3", "pyrpool: default template" (the command
 * line, written over the argv area), and "pyrp default/3" as the 15-byte
 * thread name (PR_SET_NAME). Forked executors would otherwise show their
 * template's. */
#ifndef PYRPOOL_PROCTITLE_H
#define PYRPOOL_PROCTITLE_H

#include <stdbool.h>

/* Remembers argv's area (once, before anything else reads argv again). */
void proctitle_init(int argc, char **argv);

/* Titles this process for its name ("pool/index" or "pool/template");
 * threads: a thread-mode executor. */
void proctitle_set(const char *name, bool threads);

#endif
