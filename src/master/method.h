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

/* The fast way in for a message at the start of buf (len bytes, maybe more
 * or less than the message): runs it when it is whole, well formed and at
 * most max bytes long, and returns its length; else returns 0 and the caller
 * frames it with the scanner and hands it to method_dispatch. One pass over
 * the bytes instead of two. */
size_t method_dispatch_prefix(struct conn *c, const char *buf, size_t len, size_t max);

#endif
