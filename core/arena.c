/* SPDX-License-Identifier: MIT */
/* arena: see arena.h. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *next; /* older block */
    size_t size;              /* usable bytes in data */
    size_t off;               /* first free byte */
    _Alignas(16) unsigned char data[];
};

#define ARENA_ALIGN ((size_t)16)

void arena_init(struct arena *a, size_t block_size)
{
    a->_head = NULL;
    a->_block_size = block_size != 0 ? block_size : 4096;
    a->_used = 0;
}

void arena_fini(struct arena *a)
{
    struct arena_block *b = a->_head;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->_head = NULL;
    a->_used = 0;
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->_head;
    struct arena_block *first = NULL;

    while (b != NULL) {
        struct arena_block *next = b->next;
        if (next == NULL) {
            first = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (first != NULL) {
        first->off = 0;
    }
    a->_head = first;
    a->_used = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
    struct arena_block *b = a->_head;
    size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);

    if (need < size) {
        return NULL; /* overflow */
    }
    if (b == NULL || b->size - b->off < need) {
        size_t bsz = a->_block_size;
        if (need > bsz) {
            bsz = need;
        }
        if (bsz > SIZE_MAX - sizeof(*b)) {
            return NULL;
        }
        struct arena_block *nb = malloc(sizeof(*nb) + bsz);
        if (nb == NULL) {
            return NULL;
        }
        nb->size = bsz;
        nb->off = 0;
        if (b != NULL && need > a->_block_size) {
            /* An oversized allocation gets its own block behind the current
             * one so the current block's free space stays usable. */
            nb->next = b->next;
            b->next = nb;
            nb->off = need;
            a->_used += need;
            return nb->data;
        }
        nb->next = b;
        a->_head = nb;
        b = nb;
    }
    void *p = b->data + b->off;
    b->off += need;
    a->_used += need;
    return p;
}

void *arena_calloc(struct arena *a, size_t size)
{
    void *p = arena_alloc(a, size);
    if (p != NULL) {
        memset(p, 0, size);
    }
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    p = arena_alloc(a, (size_t)n + 1);
    if (p == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const struct arena *a)
{
    return a->_used;
}
