/* state: the run-time changes that outlive a restart, kept in the config's
 * state_file: the pools start_pool made (name, mode, and size after any
 * resize_pool) and the registrations register_pool made (one that points a
 * config route at another pool counts). The config's own pools keep the
 * size the config gives them, and a config route that unregister_pool
 * removed comes back at a restart: the config says what they are.
 *
 * Each change is written before it is made (state_save with the change):
 * the whole new contents go to a temporary file beside the state file,
 * which is fsynced, renamed over it, and its folder fsynced. A change that
 * cannot be written is not made, and the previous file stays whole. At
 * start, once the config's pools and routes are in place, the file is read
 * back (state_load): a file that does not parse stops the start, naming
 * file:line:column (a daemon that silently lost its routes would send
 * calls to the wrong pools); an entry the config now contradicts (a pool
 * the config makes itself, a route to a pool that is gone, a module
 * python.allow no longer names) is skipped with a warning. Without
 * state_file nothing is written or read. */
#ifndef PYRPOOL_STATE_H
#define PYRPOOL_STATE_H

#include <stddef.h>

#include "config.h"

struct daemon;

/* A change about to be made, for state_save. */
enum state_op { STATE_NONE, STATE_REGISTER, STATE_UNREGISTER, STATE_START_POOL, STATE_STOP_POOL, STATE_RESIZE_POOL };

struct state_change {
    enum state_op op;
    const char *module;   /* (un)register: module, and function (NULL: module-wide) */
    size_t mlen;
    const char *function;
    size_t flen;
    const char *pool;     /* register: its pool; start, stop, resize: the pool */
    int size;             /* start, resize */
    enum pool_mode mode;  /* start */
};

/* Writes the state as it will be once ch is made (ch NULL or STATE_NONE:
 * as it is). Returns 0 (also without state_file), or -1 with the reason in
 * err: the change must not be made. */
int state_save(struct daemon *d, const struct state_change *ch, char *err, size_t errlen);

/* Reads the state file back and makes its pools and registrations.
 * Returns 0 (also when there is no file yet), or -1 with err. */
int state_load(struct daemon *d, char *err, size_t errlen);

#endif
