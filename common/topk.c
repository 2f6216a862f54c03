/* The top-k min-heap (topk.h). */
#include "common/topk.h"

void sgs_topk_init(sgs_topk *t, const sgs_shard *s, uint32_t k, sgs_arena *a)
{
    t->ranks = sgs_shard_ext_id_ranks(s);
    t->n_docs = (uint32_t)sgs_shard_header_get(s)->n_docs;
    t->heap = sgs_arena_alloc(a, (size_t)k * sizeof *t->heap);
    t->n = 0;
    t->k = k;
    t->bad_doc = UINT32_MAX;
}

/* True when a ranks below b (lower score, or equal score and later id: a
 * higher rank of its external id). */
static bool worse(const sgs_topk_entry *a, const sgs_topk_entry *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    return a->id_rank > b->id_rank;
}

static void sift_down(sgs_topk_entry *h, uint32_t n, uint32_t i)
{
    sgs_topk_entry x = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && worse(&h[c + 1], &h[c]))
            c++;
        if (!worse(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void sift_up(sgs_topk_entry *h, uint32_t i)
{
    sgs_topk_entry x = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!worse(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

void sgs_topk_push(sgs_topk *t, uint32_t doc, double score)
{
    if (doc >= t->n_docs) {
        /* Past the shard: remembered for the caller, never kept. */
        if (t->bad_doc == UINT32_MAX)
            t->bad_doc = doc;
        return;
    }
    if (t->n == t->k && score < t->heap[0].score)
        return;
    sgs_topk_entry e = {.score = score, .doc = doc,
                        .id_rank = sgs_load_u32(t->ranks + 4 * (uint64_t)doc)};
    if (t->n < t->k) {
        t->heap[t->n] = e;
        sift_up(t->heap, t->n++);
        return;
    }
    if (!worse(&t->heap[0], &e))
        return;
    t->heap[0] = e;
    sift_down(t->heap, t->n, 0);
}

uint32_t sgs_topk_finish(sgs_topk *t, sgs_arena *a, sgs_hit **hits)
{
    uint32_t n = t->n;
    *hits = NULL;
    if (n == 0)
        return 0;
    sgs_hit *out = sgs_arena_alloc(a, (size_t)n * sizeof *out);
    /* Popping the worst each time fills the array from the back. */
    for (uint32_t i = n; i > 0; i--) {
        out[i - 1].doc = t->heap[0].doc;
        out[i - 1].score = t->heap[0].score;
        t->heap[0] = t->heap[--t->n];
        if (t->n > 0)
            sift_down(t->heap, t->n, 0);
    }
    *hits = out;
    return n;
}
