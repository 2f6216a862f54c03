/* The top-k min-heap (topk.h). */
#include "common/topk.h"

#include <string.h>

void sgs_topk_init(sgs_topk *t, const sgs_shard *s, uint32_t k, sgs_arena *a)
{
    t->shard = s;
    t->heap = sgs_arena_alloc(a, (size_t)k * sizeof *t->heap);
    t->n = 0;
    t->k = k;
    t->bad_doc = UINT32_MAX;
}

static void fill_id(sgs_topk *t, sgs_topk_entry *e);

/* Compares external ids, reading them from the shard the first time (most
 * entries never meet a tie and never need theirs). */
static int id_cmp(sgs_topk *t, sgs_topk_entry *a, sgs_topk_entry *b)
{
    if (a->id == NULL)
        fill_id(t, a);
    if (b->id == NULL)
        fill_id(t, b);
    uint32_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int c = n ? memcmp(a->id, b->id, n) : 0;
    if (c != 0)
        return c;
    return a->id_len < b->id_len ? -1 : a->id_len > b->id_len;
}

/* True when a ranks below b (lower score, or equal score and later id). */
static bool worse(sgs_topk *t, sgs_topk_entry *a, sgs_topk_entry *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    return id_cmp(t, a, b) > 0;
}

static void sift_down(sgs_topk *t, sgs_topk_entry *h, uint32_t n, uint32_t i)
{
    sgs_topk_entry x = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && worse(t, &h[c + 1], &h[c]))
            c++;
        if (!worse(t, &h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void sift_up(sgs_topk *t, sgs_topk_entry *h, uint32_t i)
{
    sgs_topk_entry x = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!worse(t, &x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static void fill_id(sgs_topk *t, sgs_topk_entry *e)
{
    size_t len = 0;
    e->id = sgs_shard_ext_id(t->shard, e->doc, &len);
    e->id_len = (uint32_t)len;
    if (e->id == NULL) {
        /* Out of bounds: remembered for the caller, compared as empty. */
        if (t->bad_doc == UINT32_MAX)
            t->bad_doc = e->doc;
        e->id = "";
    }
}

void sgs_topk_push(sgs_topk *t, uint32_t doc, double score)
{
    sgs_topk_entry e = {.score = score, .doc = doc};
    if (t->n < t->k) {
        t->heap[t->n] = e;
        sift_up(t, t->heap, t->n++);
        return;
    }
    if (score < t->heap[0].score)
        return;
    if (!worse(t, &t->heap[0], &e))
        return;
    t->heap[0] = e;
    sift_down(t, t->heap, t->n, 0);
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
            sift_down(t, t->heap, t->n, 0);
    }
    *hits = out;
    return n;
}
