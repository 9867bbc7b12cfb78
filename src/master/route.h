/* route: the routing table that picks a pool for module.function.
 *
 * Registrations are "module" (module-wide) or "module" + "function". A lookup
 * tries, most specific first: module:function, module, then each parent
 * package of module, nearest first ("xml" covers "xml.etree.ElementTree").
 * The table stores an opaque value per registration (the daemon stores a
 * pool); it knows nothing about pools. Pure C, no I/O. */
#ifndef PYRPOOL_ROUTE_H
#define PYRPOOL_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct route_table;

/* Returns a new empty table, or NULL when out of memory. */
struct route_table *route_new(void);
void route_free(struct route_table *t);

/* Registers module (or module.function when function is not NULL) to value,
 * replacing any earlier registration of the same key. Returns 0 or -ENOMEM,
 * -EINVAL for an empty name or one containing ':'. */
int route_register(struct route_table *t, const char *module, size_t mlen,
                   const char *function, size_t flen, void *value);

/* Removes the registration of module (function NULL) or module.function.
 * Returns true when one was removed. */
bool route_unregister(struct route_table *t, const char *module, size_t mlen,
                      const char *function, size_t flen);

/* The value for a call of module.function, or NULL when nothing matches
 * (the caller uses the default pool). */
void *route_lookup(const struct route_table *t, const char *module, size_t mlen,
                   const char *function, size_t flen);

/* Removes every registration whose value is value; returns how many. */
size_t route_unregister_value(struct route_table *t, const void *value);

size_t route_count(const struct route_table *t);

/* Calls fn for each registration, sorted by module then function (module-wide
 * first). function is NULL for a module-wide registration. */
typedef void (*route_visit_fn)(void *arg, const char *module, const char *function, void *value);
void route_each(const struct route_table *t, route_visit_fn fn, void *arg);

#endif
