/* The top-k heap of an evaluation: the k best (score, doc) pairs seen so far
 * in the order eval.h defines, score descending, then external id ascending
 * (memcmp of the id bytes, a prefix first).
 *
 * Invariants: a min-heap of at most k entries whose root is the worst kept
 * hit, so the root's score is the bar a new doc must reach (a doc scoring
 * exactly the bar still enters when its external id sorts first). External
 * ids are read from the shard only to break ties and are cached in the
 * entries. The struct is caller storage with private fields except bad_doc;
 * the entries come from the caller's arena. */
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
    uint32_t id_len;
    const char *id; /* external id bytes in the shard mapping; NULL until a tie needs them */
} sgs_topk_entry;

typedef struct sgs_topk {
    const sgs_shard *shard;
    sgs_topk_entry *heap;
    uint32_t n, k;
    uint32_t bad_doc; /* UINT32_MAX, or a doc whose external id is out of bounds */
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
