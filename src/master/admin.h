/* admin: methods the master answers itself, without an executor: routing
 * (register_pool, unregister_pool, lookup_pool, list_pool_registrations),
 * pool status (pools, pool_started, num_contexts, contexts, get_context),
 * pools started and stopped at run time (start_pool, whose answer waits
 * for the pool to be ready: pool_when_ready; stop_pool, resize_pool) and
 * ping. Registration changes apply to every call that arrives after them. */
#ifndef PYRPOOL_ADMIN_H
#define PYRPOOL_ADMIN_H

#include "rpc.h"

struct conn;
struct daemon;

/* Answers request m if its method is an admin method. Returns 0 when it was
 * one (answered, possibly with an error), -1 when the method is unknown. */
int admin_dispatch(struct conn *c, const struct rpc_msg *m);

/* At shutdown: answers the get_context calls still waiting and closes
 * their timer. */
void admin_close(struct daemon *d);

/* "register_pool, unregister_pool, ...", for NoSuchMethod messages. */
const char *admin_method_names(void);

#endif
