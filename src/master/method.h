/* method: what the daemon does with each decoded client message.
 *
 * "call", "eval", "exec" and shorthand calls ("math.sqrt") become calls on a
 * pool; admin methods (admin.h) are answered by the master itself; anything
 * else is NoSuchMethod. Notifications are ignored, but for "cancel". */
#ifndef PYRPOOL_METHOD_H
#define PYRPOOL_METHOD_H

#include "conn.h"

/* The handler every client connection gets at accept (conn.h): decodes its
 * messages (the fast way first, in one pass over the bytes), runs them, and
 * lets its queued calls go when it drains. Answers go to the connection's
 * output buffer, now or when the call completes. */
extern const struct conn_handler method_handler;

#endif
