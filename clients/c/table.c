/* table: msgid -> handle. Msgids are handed out in sequence, so a
 * multiplicative hash spreads them; the table keeps at most half full. */
#include "table.h"

#include <stdlib.h>

#define TABLE_MIN 64

static size_t slot_of(const struct table *t, uint32_t key)
{
    return (size_t)((key * 2654435761u) & t->mask);
}

void table_init(struct table *t)
{
    t->slots = NULL;
    t->mask = 0;
    t->count = 0;
}

void table_free(struct table *t)
{
    free(t->slots);
    table_init(t);
}

void *table_get(const struct table *t, uint32_t key)
{
    size_t i;

    if (t->slots == NULL)
        return NULL;
    for (i = slot_of(t, key); t->slots[i].val != NULL; i = (i + 1) & t->mask)
        if (t->slots[i].key == key)
            return t->slots[i].val;
    return NULL;
}

static void insert(struct table *t, uint32_t key, void *val)
{
    size_t i;

    for (i = slot_of(t, key); t->slots[i].val != NULL; i = (i + 1) & t->mask)
        ;
    t->slots[i].key = key;
    t->slots[i].val = val;
}

static int grow(struct table *t)
{
    struct table_slot *old = t->slots;
    size_t n = t->slots != NULL ? (t->mask + 1) * 2 : TABLE_MIN, i, oldn = t->slots != NULL ? t->mask + 1 : 0;

    t->slots = calloc(n, sizeof(*t->slots));
    if (t->slots == NULL) {
        t->slots = old;
        return -1;
    }
    t->mask = n - 1;
    for (i = 0; i < oldn; i++)
        if (old[i].val != NULL)
            insert(t, old[i].key, old[i].val);
    free(old);
    return 0;
}

int table_put(struct table *t, uint32_t key, void *val)
{
    if ((t->count + 1) * 2 > (t->slots != NULL ? t->mask + 1 : 0) && grow(t) != 0)
        return -1;
    insert(t, key, val);
    t->count++;
    return 0;
}

void *table_del(struct table *t, uint32_t key)
{
    size_t i, j, home;
    void *val;

    if (t->slots == NULL)
        return NULL;
    for (i = slot_of(t, key); t->slots[i].key != key || t->slots[i].val == NULL; i = (i + 1) & t->mask)
        if (t->slots[i].val == NULL)
            return NULL;
    val = t->slots[i].val;
    /* Shift back the entries after it that probed past i. */
    for (j = (i + 1) & t->mask; t->slots[j].val != NULL; j = (j + 1) & t->mask) {
        home = slot_of(t, t->slots[j].key);
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].val = NULL;
    t->count--;
    return val;
}

void table_each(const struct table *t, void (*fn)(void *val, void *arg), void *arg)
{
    size_t i;

    if (t->slots == NULL)
        return;
    for (i = 0; i <= t->mask; i++)
        if (t->slots[i].val != NULL)
            fn(t->slots[i].val, arg);
}
