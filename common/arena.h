/* A bump allocator for query-lifetime memory: one per worker thread, reset
 * after each reply, so the query path never calls malloc once the arena has
 * grown to the size its queries need.
 *
 * Invariants: every allocation is 16-byte aligned and lives until the next
 * sgs_arena_reset() or sgs_arena_fini(). Reset keeps the largest chunk and
 * frees the rest, so a steady workload settles on one chunk. An arena is not
 * thread-safe; each thread owns its own. */
#ifndef SGS_COMMON_ARENA_H
#define SGS_COMMON_ARENA_H

#include <stddef.h>

typedef struct sgs_arena_chunk sgs_arena_chunk;

/* Caller-provided storage; fields are private. */
typedef struct sgs_arena {
    sgs_arena_chunk *head; /* chunk being filled; older chunks follow */
    size_t used;           /* bytes used in head */
    size_t chunk_bytes;    /* size of the next chunk to allocate */
} sgs_arena;

/* Initialises an empty arena whose first chunk will hold chunk_bytes
 * (no allocation until the first sgs_arena_alloc). */
void sgs_arena_init(sgs_arena *a, size_t chunk_bytes);

/* Frees every chunk; the arena may be initialised again. */
void sgs_arena_fini(sgs_arena *a);

/* n bytes, 16-byte aligned, uninitialised; aborts on out-of-memory. */
void *sgs_arena_alloc(sgs_arena *a, size_t n);

/* n bytes, 16-byte aligned, zeroed; aborts on out-of-memory. */
void *sgs_arena_zalloc(sgs_arena *a, size_t n);

/* A NUL-terminated copy of n bytes of s. */
char *sgs_arena_strndup(sgs_arena *a, const char *s, size_t n);

/* Forgets every allocation; keeps the largest chunk for reuse. */
void sgs_arena_reset(sgs_arena *a);

/* Bytes held in chunks (for metrics and tests). */
size_t sgs_arena_capacity(const sgs_arena *a);

#endif
