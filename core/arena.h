/* SPDX-License-Identifier: MIT */
/*
 * arena: a bump allocator for scratch memory that dies all at once.
 *
 * An arena hands out memory from chained blocks; nothing is freed
 * individually. arena_reset() keeps the first block for reuse and frees the
 * rest, arena_fini() frees everything. Used for per-request and per-call
 * scratch (parsed fields, temporary strings). Allocations are 16-byte aligned.
 * An arena is owned by one thread.
 */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *_head; /* private: current block, newest first */
    size_t _block_size;        /* private: size of new blocks */
    size_t _used;              /* private: bytes handed out since reset */
};

/* Prepares a (caller-allocated) arena; block_size 0 picks 4 KiB. No allocation. */
void arena_init(struct arena *a, size_t block_size);

/* Frees every block. The arena may be reused after arena_init(). */
void arena_fini(struct arena *a);

/* Drops every allocation but keeps the first block. */
void arena_reset(struct arena *a);

/* size bytes, 16-byte aligned, uninitialised; NULL on OOM. Valid until reset/fini. */
void *arena_alloc(struct arena *a, size_t size);

/* Zeroed size bytes; NULL on OOM. */
void *arena_calloc(struct arena *a, size_t size);

/* A copy of s (NUL-terminated); NULL on OOM. */
char *arena_strdup(struct arena *a, const char *s);

/* A NUL-terminated copy of the n bytes at s; NULL on OOM. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* printf into the arena; NULL on OOM. */
char *arena_sprintf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes handed out since the last reset (for memory accounting). */
size_t arena_used(const struct arena *a);

#endif
