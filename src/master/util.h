/* util: small helpers every master module uses. */
#ifndef PYRPOOL_UTIL_H
#define PYRPOOL_UTIL_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define countof(a) (sizeof(a) / sizeof((a)[0]))

#endif
