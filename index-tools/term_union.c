/* k-way merge of shard term dictionaries with a binary min-heap of shards
 * keyed by each shard's current term (ties broken by shard number, so the
 * walk is deterministic).
 *
 * Invariants: heap holds exactly the shards whose cursor is below n_terms;
 * cur_term/cur_len describe the entry at each such cursor. */
#include "index-tools/term_union.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct idx_term_union {
    sgs_shard *const *shards;
    uint32_t n_shards;
    uint64_t *cursor;     /* next entry index per shard */
    const char **cur_term; /* bytes of the entry at the cursor */
    size_t *cur_len;
    uint32_t *heap;
    uint32_t heap_len;
    int64_t *entries; /* reported per shard for the current term */
};

static int term_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb;
}

static bool less(const idx_term_union *u, uint32_t a, uint32_t b)
{
    int c = term_cmp(u->cur_term[a], u->cur_len[a], u->cur_term[b], u->cur_len[b]);
    return c < 0 || (c == 0 && a < b);
}

static void sift_down(idx_term_union *u, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < u->heap_len && less(u, u->heap[l], u->heap[m]))
            m = l;
        if (r < u->heap_len && less(u, u->heap[r], u->heap[m]))
            m = r;
        if (m == i)
            return;
        uint32_t t = u->heap[i];
        u->heap[i] = u->heap[m];
        u->heap[m] = t;
        i = m;
    }
}

static void sift_up(idx_term_union *u, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!less(u, u->heap[i], u->heap[p]))
            return;
        uint32_t t = u->heap[i];
        u->heap[i] = u->heap[p];
        u->heap[p] = t;
        i = p;
    }
}

/* Loads shard k's entry at its cursor; false when the shard is exhausted. */
static bool load(idx_term_union *u, uint32_t k)
{
    if (u->cursor[k] >= sgs_shard_header_get(u->shards[k])->n_terms)
        return false;
    sgs_term_entry e;
    sgs_shard_term_entry(u->shards[k], u->cursor[k], &e);
    const char *bytes = sgs_shard_term_bytes(u->shards[k], &e);
    u->cur_term[k] = bytes ? bytes : "";
    u->cur_len[k] = bytes ? e.term_len : 0;
    return true;
}

idx_term_union *idx_term_union_new(sgs_shard *const *shards, uint32_t n_shards)
{
    idx_term_union *u = sgs_xcalloc(1, sizeof *u);
    size_t n = n_shards ? n_shards : 1;
    u->shards = shards;
    u->n_shards = n_shards;
    u->cursor = sgs_xcalloc(n, sizeof *u->cursor);
    u->cur_term = sgs_xcalloc(n, sizeof *u->cur_term);
    u->cur_len = sgs_xcalloc(n, sizeof *u->cur_len);
    u->heap = sgs_xcalloc(n, sizeof *u->heap);
    u->entries = sgs_xcalloc(n, sizeof *u->entries);
    for (uint32_t k = 0; k < n_shards; k++)
        if (load(u, k)) {
            u->heap[u->heap_len++] = k;
            sift_up(u, u->heap_len - 1);
        }
    return u;
}

bool idx_term_union_next(idx_term_union *u, const char **term, size_t *len,
                         const int64_t **entries)
{
    if (u->heap_len == 0)
        return false;
    for (uint32_t k = 0; k < u->n_shards; k++)
        u->entries[k] = -1;
    uint32_t top = u->heap[0];
    *term = u->cur_term[top];
    *len = u->cur_len[top];
    /* Take every shard whose current term equals the smallest one. */
    while (u->heap_len > 0) {
        uint32_t k = u->heap[0];
        if (term_cmp(u->cur_term[k], u->cur_len[k], *term, *len) != 0)
            break;
        u->entries[k] = (int64_t)u->cursor[k]++;
        if (load(u, k)) {
            sift_down(u, 0);
        } else {
            u->heap[0] = u->heap[--u->heap_len];
            sift_down(u, 0);
        }
    }
    *entries = u->entries;
    return true;
}

void idx_term_union_free(idx_term_union *u)
{
    if (u == NULL)
        return;
    free(u->cursor);
    free(u->cur_term);
    free(u->cur_len);
    free(u->heap);
    free(u->entries);
    free(u);
}
