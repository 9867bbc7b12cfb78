/* address: which daemon pyrpoolctl talks to. In order: -s/--socket, else
 * $PYRPOOL_SOCKET, else the first admin listener of the config given by
 * -c (read for its listen: list alone), else the installed default
 * /run/pyrpoold/pyrpoold.sock. An address is a path (a Unix socket),
 * "unix:PATH" or "tcp:HOST:PORT"; a TCP one takes its token from
 * --token-file, else $PYRPOOL_TOKEN_FILE, else its listener's token_file. */
#ifndef PYRPOOL_CTL_ADDRESS_H
#define PYRPOOL_CTL_ADDRESS_H

#include <stddef.h>

#define CTL_DEFAULT_SOCKET "/run/pyrpoold/pyrpoold.sock"

struct target {
    char address[4200];    /* "unix:PATH" or "tcp:HOST:PORT", for pyrpool_connect */
    char token_file[4096]; /* "" for none */
    char from[4200];       /* where it came from, for messages */
};

/* Fills t from the options (NULL when not given) and the environment.
 * Returns 0, or -1 with why in err (a config that cannot be read, or has
 * no admin listener). */
int address_resolve(const char *socket, const char *config, const char *token_file, struct target *t,
                    char *err, size_t errlen);

#endif
