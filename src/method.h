/* method: what the daemon does with each decoded client message.
 *
 * "call", "eval", "exec" and shorthand calls ("math.sqrt") become calls on a
 * pool; admin methods (admin.h) are answered by the master itself; anything
 * else is NoSuchMethod. Notifications are ignored. */
#ifndef PYRPOOL_METHOD_H
#define PYRPOOL_METHOD_H

#include <stddef.h>

struct conn;

/* Handles one complete MessagePack message (msg, len) from c. Answers go to
 * c's output buffer, now or when the call completes. */
void method_dispatch(struct conn *c, const char *msg, size_t len);

#endif
