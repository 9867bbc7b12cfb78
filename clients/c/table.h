/* table: the calls in flight on a client, by msgid (open addressing with
 * linear probing; deletion shifts back, so there are no tombstones). */
#ifndef PYRPOOL_CLIENT_TABLE_H
#define PYRPOOL_CLIENT_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct table_slot {
    uint32_t key;
    void *val; /* NULL: the slot is free */
};

struct table {
    struct table_slot *slots;
    size_t mask;  /* slots - 1 (a power of two), 0 before the first put */
    size_t count;
};

void table_init(struct table *t);
void table_free(struct table *t);

/* The value for key, or NULL. */
void *table_get(const struct table *t, uint32_t key);

/* Adds key (not present yet) with val (not NULL). Returns 0 or -1 (no memory). */
int table_put(struct table *t, uint32_t key, void *val);

/* Removes key; returns its value, or NULL if it was not there. */
void *table_del(struct table *t, uint32_t key);

/* Calls fn on every value (the table must not change meanwhile). */
void table_each(const struct table *t, void (*fn)(void *val, void *arg), void *arg);

#endif
