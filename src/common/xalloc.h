/* xalloc: allocation that cannot fail. The master's memory is bounded by its
 * limits; running out means the machine is in trouble, and a clear message
 * and abort beat limping on with half-built state. */
#ifndef PYRPOOL_XALLOC_H
#define PYRPOOL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
