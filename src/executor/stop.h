/* stop: what stopping a running call needs in either runner (serial.c,
 * threads.c): pyrpool.Cancelled, and the stack of the thread a call runs
 * in. With the GIL held. */
#ifndef PYRPOOL_STOP_H
#define PYRPOOL_STOP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* pyrpool.Cancelled, a BaseException: raised in a cancelled call. */
extern PyObject *stop_cancelled;

/* Makes pyrpool.Cancelled. Returns 0, or -1 after printing the error. */
int stop_init(void);
void stop_fini(void);

/* The Python stack of thread, as text (a new reference), or NULL. */
PyObject *stop_stack(unsigned long thread);

#endif
