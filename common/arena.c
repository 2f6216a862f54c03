#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct sgs_arena_chunk {
    sgs_arena_chunk *next;
    size_t size; /* usable bytes in data */
    _Alignas(16) unsigned char data[];
};

#define ARENA_ALIGN 16u
#define ARENA_MIN_CHUNK 4096u

void sgs_arena_init(sgs_arena *a, size_t chunk_bytes)
{
    a->head = NULL;
    a->used = 0;
    a->chunk_bytes = chunk_bytes < ARENA_MIN_CHUNK ? ARENA_MIN_CHUNK : chunk_bytes;
}

void sgs_arena_fini(sgs_arena *a)
{
    sgs_arena_chunk *c = a->head;
    while (c) {
        sgs_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void *sgs_arena_alloc(sgs_arena *a, size_t n)
{
    size_t need = align_up(n ? n : 1);
    if (!a->head || a->head->size - a->used < need) {
        size_t size = a->chunk_bytes;
        while (size < need)
            size *= 2;
        /* Grow geometrically so a large query settles on one chunk after reset. */
        if (a->head && size < a->head->size * 2)
            size = a->head->size * 2;
        sgs_arena_chunk *c = sgs_xmalloc(sizeof *c + size);
        c->size = size;
        c->next = a->head;
        a->head = c;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    return p;
}

void *sgs_arena_zalloc(sgs_arena *a, size_t n)
{
    void *p = sgs_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *sgs_arena_strndup(sgs_arena *a, const char *s, size_t n)
{
    char *p = sgs_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sgs_arena_reset(sgs_arena *a)
{
    sgs_arena_chunk *keep = NULL;
    sgs_arena_chunk *c = a->head;
    while (c) {
        sgs_arena_chunk *next = c->next;
        if (!keep || c->size > keep->size) {
            if (keep)
                free(keep);
            keep = c;
        } else {
            free(c);
        }
        c = next;
    }
    if (keep)
        keep->next = NULL;
    a->head = keep;
    a->used = 0;
}

size_t sgs_arena_capacity(const sgs_arena *a)
{
    size_t total = 0;
    for (const sgs_arena_chunk *c = a->head; c; c = c->next)
        total += c->size;
    return total;
}
