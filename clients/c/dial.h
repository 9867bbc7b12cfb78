/* dial: opening the socket to an address ("unix:PATH", "tcp:HOST:PORT")
 * within a deadline. */
#ifndef PYRPOOL_CLIENT_DIAL_H
#define PYRPOOL_CLIENT_DIAL_H

#include <stdint.h>

#include "client.h"

/* The monotonic clock in milliseconds. */
int64_t dial_now_ms(void);

/* Milliseconds left until deadline (a dial_now_ms value; < 0: none): -1
 * for no limit, else >= 0. */
int dial_left_ms(int64_t deadline);

/* Connects a non-blocking, close-on-exec stream socket to address before
 * deadline. Returns the fd, or a negative pyrpool_code with err filled: its
 * message names the address and the reason (PYRPOOL_ERR_USAGE for an
 * address of no known form, PYRPOOL_ERR_CONNECTION when it cannot connect,
 * PYRPOOL_ERR_TIMEOUT when the deadline passes). */
int dial(const char *address, int64_t deadline, pyrpool_error *err);

#endif
