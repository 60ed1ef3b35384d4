/* SPDX-License-Identifier: MIT */
/*
 * map: a string-keyed hash map, and an ordered index for prefix questions.
 *
 * sim_map is open addressing with linear probing and tombstones; it grows at
 * half full and rehashes (dropping tombstones) when they pile up. Keys are
 * copied; values are borrowed pointers. A map may compare keys ASCII
 * case-insensitively (channel names).
 *
 * sim_idx is a skip list of lower-cased keys. Asterisk refuses a
 * client-chosen channel id that is a case-insensitive prefix of a live
 * channel's id or name ("x-1" while "x-10" exists); answering that needs the
 * first key >= the candidate in sorted order, which the skip list gives in
 * O(log n). Duplicate keys are kept as separate nodes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/sim_int.h"

#define SIM_MAP_TOMB ((char *)(uintptr_t)1)

static uint64_t key_hash(const char *k, int nocase)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++) {
        unsigned c = nocase ? (unsigned)tolower(*p) : *p;
        h = (h ^ c) * 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int key_eq(const char *a, const char *b, int nocase)
{
    return nocase ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

void sim__map_init(struct sim_map *m, int nocase)
{
    memset(m, 0, sizeof(*m));
    m->nocase = nocase;
}

void sim__map_fini(struct sim_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->e[i].key != NULL && m->e[i].key != SIM_MAP_TOMB) {
            free(m->e[i].key);
        }
    }
    free(m->e);
    m->e = NULL;
    m->cap = m->n = m->used = 0;
}

static struct sim_map_ent *find_slot(const struct sim_map *m, const char *key)
{
    size_t mask, i;

    if (m->cap == 0) {
        return NULL;
    }
    mask = m->cap - 1;
    i = (size_t)key_hash(key, m->nocase) & mask;
    for (;;) {
        struct sim_map_ent *e = &m->e[i];
        if (e->key == NULL) {
            return NULL;
        }
        if (e->key != SIM_MAP_TOMB && key_eq(e->key, key, m->nocase)) {
            return e;
        }
        i = (i + 1) & mask;
    }
}

static void rehash(struct sim_map *m, size_t cap)
{
    struct sim_map_ent *old = m->e;
    size_t oldcap = m->cap;

    m->e = calloc(cap, sizeof(*m->e));
    if (m->e == NULL) {
        abort();
    }
    m->cap = cap;
    m->used = m->n;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key != NULL && old[i].key != SIM_MAP_TOMB) {
            size_t j = (size_t)key_hash(old[i].key, m->nocase) & (cap - 1);
            while (m->e[j].key != NULL) {
                j = (j + 1) & (cap - 1);
            }
            m->e[j] = old[i];
        }
    }
    free(old);
}

void *sim__map_get(const struct sim_map *m, const char *key)
{
    struct sim_map_ent *e = find_slot(m, key);
    return e != NULL ? e->value : NULL;
}

void sim__map_put(struct sim_map *m, const char *key, void *value)
{
    struct sim_map_ent *e = find_slot(m, key);
    size_t i, mask;

    if (e != NULL) {
        e->value = value;
        return;
    }
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->n + 1) * 2 > cap) {
            cap *= 2;
        }
        if (m->n * 4 > cap) {
            cap *= 2;
        }
        rehash(m, cap);
    }
    mask = m->cap - 1;
    i = (size_t)key_hash(key, m->nocase) & mask;
    while (m->e[i].key != NULL && m->e[i].key != SIM_MAP_TOMB) {
        i = (i + 1) & mask;
    }
    if (m->e[i].key == NULL) {
        m->used++;
    }
    m->e[i].key = strdup(key);
    if (m->e[i].key == NULL) {
        abort();
    }
    m->e[i].value = value;
    m->n++;
}

void *sim__map_del(struct sim_map *m, const char *key)
{
    struct sim_map_ent *e = find_slot(m, key);
    void *v;

    if (e == NULL) {
        return NULL;
    }
    v = e->value;
    free(e->key);
    e->key = SIM_MAP_TOMB;
    e->value = NULL;
    m->n--;
    return v;
}

struct sim_map_ent *sim__map_next(const struct sim_map *m, size_t *i)
{
    while (*i < m->cap) {
        struct sim_map_ent *e = &m->e[(*i)++];
        if (e->key != NULL && e->key != SIM_MAP_TOMB) {
            return e;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */

enum { IDX_MAXLEVEL = 24 };

struct sim_idx_node {
    char *key; /* lower-cased */
    int level;
    struct sim_idx_node *next[]; /* level entries */
};

static struct sim_idx_node *node_new(const char *key, int level)
{
    size_t klen = key ? strlen(key) : 0;
    struct sim_idx_node *n = malloc(sizeof(*n) + sizeof(n->next[0]) * (size_t)level + klen + 1);
    if (n == NULL) {
        abort();
    }
    n->level = level;
    n->key = (char *)&n->next[level];
    for (size_t i = 0; i < klen; i++) {
        n->key[i] = (char)tolower((unsigned char)key[i]);
    }
    n->key[klen] = '\0';
    for (int i = 0; i < level; i++) {
        n->next[i] = NULL;
    }
    return n;
}

void sim__idx_init(struct sim_idx *x)
{
    x->head = node_new(NULL, IDX_MAXLEVEL);
    x->level = 1;
    x->rnd = 0x9e3779b97f4a7c15ULL;
    x->n = 0;
}

void sim__idx_fini(struct sim_idx *x)
{
    struct sim_idx_node *n = x->head;
    while (n != NULL) {
        struct sim_idx_node *next = n->next[0];
        free(n);
        n = next;
    }
    x->head = NULL;
}

/* Compares key (already lower case) with s case-insensitively. */
static int cmp_lower(const char *key, const char *s)
{
    for (;; key++, s++) {
        int a = (unsigned char)*key;
        int b = tolower((unsigned char)*s);
        if (a != b || a == 0) {
            return a - b;
        }
    }
}

void sim__idx_add(struct sim_idx *x, const char *key)
{
    struct sim_idx_node *update[IDX_MAXLEVEL];
    struct sim_idx_node *p = x->head;
    struct sim_idx_node *n;
    int level = 1;

    /* xorshift64 for the level: one extra level with probability 1/4. */
    x->rnd ^= x->rnd << 13;
    x->rnd ^= x->rnd >> 7;
    x->rnd ^= x->rnd << 17;
    for (uint64_t r = x->rnd; (r & 3) == 0 && level < IDX_MAXLEVEL; r >>= 2) {
        level++;
    }
    for (int i = x->level - 1; i >= 0; i--) {
        while (p->next[i] != NULL && cmp_lower(p->next[i]->key, key) < 0) {
            p = p->next[i];
        }
        update[i] = p;
    }
    if (level > x->level) {
        for (int i = x->level; i < level; i++) {
            update[i] = x->head;
        }
        x->level = level;
    }
    n = node_new(key, level);
    for (int i = 0; i < level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    x->n++;
}

void sim__idx_del(struct sim_idx *x, const char *key)
{
    struct sim_idx_node *update[IDX_MAXLEVEL];
    struct sim_idx_node *p = x->head;
    struct sim_idx_node *n;

    for (int i = x->level - 1; i >= 0; i--) {
        while (p->next[i] != NULL && cmp_lower(p->next[i]->key, key) < 0) {
            p = p->next[i];
        }
        update[i] = p;
    }
    n = p->next[0];
    if (n == NULL || cmp_lower(n->key, key) != 0) {
        return;
    }
    for (int i = 0; i < n->level; i++) {
        if (update[i]->next[i] == n) {
            update[i]->next[i] = n->next[i];
        }
    }
    free(n);
    while (x->level > 1 && x->head->next[x->level - 1] == NULL) {
        x->level--;
    }
    x->n--;
}

int sim__idx_has_prefix(const struct sim_idx *x, const char *prefix)
{
    struct sim_idx_node *p = x->head;
    size_t plen = strlen(prefix);

    for (int i = x->level - 1; i >= 0; i--) {
        while (p->next[i] != NULL && cmp_lower(p->next[i]->key, prefix) < 0) {
            p = p->next[i];
        }
    }
    p = p->next[0];
    if (p == NULL) {
        return 0;
    }
    /* p->key >= prefix: it starts with prefix iff prefix is one of its prefixes. */
    return strncasecmp(p->key, prefix, plen) == 0;
}
