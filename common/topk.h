/* The top-k heap of an evaluation: the k best (score, doc) pairs seen so far
 * in the order eval.h defines, score descending, then external id ascending
 * (memcmp of the id bytes, a prefix first), which is the order of the ids'
 * ranks in the shard (sgs_shard_ext_id_ranks), so no id is read.
 *
 * Invariants: a min-heap of at most k entries whose root is the worst kept
 * hit, so the root's score is the bar a new doc must reach (a doc scoring
 * exactly the bar still enters when its external id sorts first). A doc's
 * id rank is read once, when it reaches the bar. The struct is caller
 * storage with private fields except bad_doc; the entries come from the
 * caller's arena. */
#ifndef SGS_COMMON_TOPK_H
#define SGS_COMMON_TOPK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/eval.h"
#include "common/shard_reader.h"

typedef struct sgs_topk_entry {
    double score;
    uint32_t doc;
    uint32_t id_rank; /* the rank of doc's external id in the shard */
} sgs_topk_entry;

typedef struct sgs_topk {
    const uint8_t *ranks; /* the shard's external id ranks, n_docs u32 */
    uint32_t n_docs;
    sgs_topk_entry *heap;
    uint32_t n, k;
    uint32_t bad_doc; /* UINT32_MAX, or a doc pushed past n_docs (never kept) */
} sgs_topk;

/* Prepares an empty heap for k >= 1 hits of shard s, entries from arena a. */
void sgs_topk_init(sgs_topk *t, const sgs_shard *s, uint32_t k, sgs_arena *a);

/* True once the heap holds k hits. */
static inline bool sgs_topk_full(const sgs_topk *t)
{
    return t->n == t->k;
}

/* The worst kept score (meaningful once full): a doc scoring below it
 * cannot enter. */
static inline double sgs_topk_threshold(const sgs_topk *t)
{
    return t->heap[0].score;
}

/* Offers doc with score; kept when among the k best so far. */
void sgs_topk_push(sgs_topk *t, uint32_t doc, double score);

/* Empties the heap into an arena array of hits, best first (*hits; NULL when
 * empty) and returns how many. */
uint32_t sgs_topk_finish(sgs_topk *t, sgs_arena *a, sgs_hit **hits);

#endif
