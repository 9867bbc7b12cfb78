/* route: a chained hash table keyed by "module" or "module:function".
 * See route.h for the lookup order. */
#include "route.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Longest key looked up: module + ':' + function. Longer names cannot have
 * been registered (route_register refuses them), so lookups skip them. */
#define ROUTE_KEY_MAX 1024

struct route_entry {
    struct route_entry *next;
    uint64_t hash;
    void *value;
    size_t mlen;     /* bytes of key that are the module */
    size_t klen;
    char key[];      /* "module" or "module:function", NUL-terminated */
};

struct route_table {
    struct route_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    while (n-- > 0) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

struct route_table *route_new(void)
{
    struct route_table *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->nbuckets = 16;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (t->buckets == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void route_free(struct route_table *t)
{
    size_t i;
    struct route_entry *e, *next;

    if (t == NULL)
        return;
    for (i = 0; i < t->nbuckets; i++) {
        for (e = t->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    free(t);
}

/* Builds the key into buf; returns its length, or 0 if it does not fit. */
static size_t make_key(char *buf, const char *module, size_t mlen, const char *function, size_t flen)
{
    size_t n = mlen + (function != NULL ? 1 + flen : 0);

    if (n >= ROUTE_KEY_MAX)
        return 0;
    memcpy(buf, module, mlen);
    if (function != NULL) {
        buf[mlen] = ':';
        memcpy(buf + mlen + 1, function, flen);
    }
    buf[n] = '\0';
    return n;
}

static struct route_entry **find(const struct route_table *t, const char *key, size_t klen, uint64_t h)
{
    struct route_entry **pp = &t->buckets[h & (t->nbuckets - 1)];

    for (; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    }
    return pp;
}

static int grow(struct route_table *t)
{
    size_t n = t->nbuckets * 2, i;
    struct route_entry **b = calloc(n, sizeof *b), *e, *next;

    if (b == NULL)
        return -ENOMEM;
    for (i = 0; i < t->nbuckets; i++) {
        for (e = t->buckets[i]; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

int route_register(struct route_table *t, const char *module, size_t mlen,
                   const char *function, size_t flen, void *value)
{
    char key[ROUTE_KEY_MAX];
    size_t klen;
    uint64_t h;
    struct route_entry **pp, *e;

    if (mlen == 0 || memchr(module, ':', mlen) != NULL ||
        (function != NULL && (flen == 0 || memchr(function, ':', flen) != NULL)))
        return -EINVAL;
    klen = make_key(key, module, mlen, function, flen);
    if (klen == 0)
        return -EINVAL;
    h = hash_bytes(key, klen);
    pp = find(t, key, klen, h);
    if (*pp != NULL) {
        (*pp)->value = value;
        return 0;
    }
    if (t->count >= t->nbuckets && grow(t) == 0)
        pp = find(t, key, klen, h);
    e = malloc(sizeof *e + klen + 1);
    if (e == NULL)
        return -ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->mlen = mlen;
    e->klen = klen;
    memcpy(e->key, key, klen + 1);
    *pp = e;
    t->count++;
    return 0;
}

bool route_unregister(struct route_table *t, const char *module, size_t mlen,
                      const char *function, size_t flen)
{
    char key[ROUTE_KEY_MAX];
    size_t klen = make_key(key, module, mlen, function, flen);
    struct route_entry **pp, *e;

    if (klen == 0)
        return false;
    pp = find(t, key, klen, hash_bytes(key, klen));
    if (*pp == NULL)
        return false;
    e = *pp;
    *pp = e->next;
    free(e);
    t->count--;
    return true;
}

static void *get(const struct route_table *t, const char *key, size_t klen)
{
    struct route_entry *e = *find(t, key, klen, hash_bytes(key, klen));

    return e != NULL ? e->value : NULL;
}

void *route_lookup(const struct route_table *t, const char *module, size_t mlen,
                   const char *function, size_t flen)
{
    char key[ROUTE_KEY_MAX];
    size_t klen;
    void *v;

    if (t->count == 0)
        return NULL;
    klen = make_key(key, module, mlen, function, flen);
    if (klen == 0)
        return NULL;
    if ((v = get(t, key, klen)) != NULL)
        return v;
    /* key now holds "module:function"; the module and its parents are prefixes */
    while (mlen > 0) {
        if ((v = get(t, key, mlen)) != NULL)
            return v;
        while (mlen > 0 && key[mlen - 1] != '.')
            mlen--;
        if (mlen > 0)
            mlen--; /* drop the '.' */
    }
    return NULL;
}

size_t route_unregister_value(struct route_table *t, const void *value)
{
    size_t i, n = 0;
    struct route_entry **pp, *e;

    for (i = 0; i < t->nbuckets; i++) {
        for (pp = &t->buckets[i]; *pp != NULL;) {
            if ((*pp)->value == value) {
                e = *pp;
                *pp = e->next;
                free(e);
                t->count--;
                n++;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    return n;
}

size_t route_count(const struct route_table *t)
{
    return t->count;
}

/* Orders "json" before "json:dumps" before "json.x": module first, then function. */
static int cmp_entries(const void *a, const void *b)
{
    const struct route_entry *x = *(struct route_entry *const *)a;
    const struct route_entry *y = *(struct route_entry *const *)b;
    size_t n = x->mlen < y->mlen ? x->mlen : y->mlen;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    if (x->mlen != y->mlen)
        return x->mlen < y->mlen ? -1 : 1;
    return strcmp(x->key + x->mlen, y->key + y->mlen);
}

void route_each(const struct route_table *t, route_visit_fn fn, void *arg)
{
    struct route_entry **all, *e;
    size_t i, n = 0;

    if (t->count == 0)
        return;
    all = xmalloc(t->count * sizeof *all);
    for (i = 0; i < t->nbuckets; i++)
        for (e = t->buckets[i]; e != NULL; e = e->next)
            all[n++] = e;
    qsort(all, n, sizeof *all, cmp_entries);
    for (i = 0; i < n; i++) {
        char module[ROUTE_KEY_MAX];

        memcpy(module, all[i]->key, all[i]->mlen);
        module[all[i]->mlen] = '\0';
        fn(arg, module, all[i]->klen > all[i]->mlen ? all[i]->key + all[i]->mlen + 1 : NULL,
           all[i]->value);
    }
    free(all);
}
