/* What the files of the evaluator (eval.h) share, and nothing else includes:
 * the evaluator's state, the match-cursor tree, the scorers and the ranker,
 * with the per-doc helpers every evaluation path calls kept static inline
 * here so each path inlines them as it did in one file.
 *
 *   eval.c        the match-cursor tree (build, settle, next, advance), the
 *                 scorers and ranker, the single-term paths, the general walk
 *                 and sgs_eval(), which picks a path by the root's shape;
 *   eval_and.c    a root AND of terms: bitset AND, leapfrog, block merge;
 *   eval_or.c     top-k of a root OR of terms: window-at-a-time and
 *                 document-at-a-time MaxScore;
 *   eval_count.c  counting without ranking (the walk, two-term AND, OR union);
 *   intersect.h   the SIMD kernels of the block merge (intersect_simd.c).
 *
 * Invariants: a match cursor (enode) always stands on its current doc or
 * SGS_ITER_END; every path counts each match exactly once and ranks through
 * the same bounds and positive-term-order sums (eval.h), so which path runs
 * never changes an answer. Memory comes from the evaluator's arena. */
#ifndef SGS_COMMON_EVAL_INTERNAL_H
#define SGS_COMMON_EVAL_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/bm25.h"
#include "common/eval.h"
#include "common/iter.h"
#include "common/simd.h"
#include "common/topk.h"

/* Relative widening of stored float maxima: the shard verifier accepts
 * maxima up to 1e-6 below a recomputed score, and the bound is a sum. */
#define BOUND_SLACK (1.0 + 1e-5)

/* How many postings ahead the ranking walks prefetch length codes (8), and
 * MaxScore the lengths themselves (4 measured best of 0, 4, 8, 16 on the 1M
 * synthetic shard). */
#define PF_AHEAD 8u
#define MS_PF_AHEAD 4u

typedef enum { N_EMPTY, N_ALL, N_TERM, N_AND, N_OR, N_COMPL } nkind;

typedef struct enode enode;
struct enode {
    nkind kind;
    uint32_t doc;    /* current doc, SGS_ITER_END when done */
    uint64_t cost;   /* an upper bound of the docs it matches */
    sgs_term_iter *it; /* TERM */
    sgs_term_entry e;  /* TERM: its entry, to open more cursors on it */
    int32_t pos_term;  /* TERM: index among the positive terms; -1 under a NOT */
    enode **kids;      /* AND: positive children, cheapest first; OR; COMPL: one */
    uint32_t n_kids;
    enode **excl; /* AND: children under a NOT */
    uint32_t n_excl;
};

typedef struct scorer {
    sgs_term_iter *it; /* NULL when the shard lacks the term */
    bool own;          /* advanced by the scorer (else positioned by the tree) */
    double idf;
} scorer;

typedef struct evaluator {
    sgs_iter_ctx ctx;
    const sgs_shard *s;
    sgs_arena *a;
    uint32_t n_docs;
    const sgs_query_node **pos; /* distinct positive terms, score order */
    uint32_t n_pos;
    int64_t *pos_entry; /* per positive term: its entry index, -1 absent, -2 not looked up */
    uint64_t corpus_n_docs;
    double avg_len;
    const uint8_t *doc_lengths;
    const uint8_t *len_codes; /* one byte a doc (sgs_shard_len_codes) */
    const uint8_t *ext_ranks; /* n_docs u32 (sgs_shard_ext_id_ranks) */
    const double *norm_lb;    /* [256]: norm of sgs_bm25_len_floor(code); need_norm_lb() */
    sgs_simd_level simd;      /* the kernels allowed (sgs_simd_active()) */
} evaluator;

/* An upper bound of d's score (before BOUND_SLACK). */
static inline double bound_doc(const evaluator *ev, const scorer *sc, uint32_t d)
{
    double b = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++) {
        const sgs_term_iter *it = sc[j].it;
        if (it == NULL)
            continue;
        if (sc[j].own)
            b += (double)it->max_score;
        else if (it->doc == d)
            b += (double)sgs_term_iter_bound(it);
    }
    return b;
}

/* Scores docs into the heap, skipping those whose bound cannot reach it. */
typedef struct ranker {
    scorer *sc;
    sgs_topk *top;
    uint32_t *tf;     /* per positive term: its tf in the doc being ranked, 0 absent */
    double max_total; /* sum of the term maxima, widened */
    bool active;      /* false once no doc can enter any more */
    bool per_doc;     /* some reused cursor has block maxima, so bounds vary per doc */
    bool len_bound;   /* every idf >= 0, so a shorter length bounds a score from above */
} ranker;

/* Points ev->norm_lb at the shard's table for rank_doc. */
static inline void need_norm_lb(evaluator *ev)
{
    ev->norm_lb = sgs_shard_norm_floors(ev->s);
}

/* The bar a doc must reach to enter r's heap: -INFINITY while the heap is
 * not full, else its k-th score. False, with r->active cleared, once no doc
 * can enter any more (the k-th score is above every possible sum). */
static inline bool rank_bar(ranker *r, double *theta)
{
    *theta = -INFINITY;
    if (!sgs_topk_full(r->top))
        return true;
    *theta = sgs_topk_threshold(r->top);
    if (r->max_total < *theta) {
        r->active = false;
        return false;
    }
    return true;
}

/* Scores d, with tf[j] its tf of positive term j (0: absent), into the heap
 * unless lb, the score its tfs give with the floor of its length code, shows
 * against theta (rank_bar) that it cannot enter; reads its length only then.
 * Sums in positive-term order. */
static inline void rank_tfs(const evaluator *ev, ranker *r, uint32_t d, const uint32_t *tf,
                            double lb, double theta)
{
    if (r->len_bound && lb * BOUND_SLACK < theta)
        return;
    double norm = sgs_bm25_norm(sgs_load_u32(ev->doc_lengths + 4 * (uint64_t)d), ev->avg_len);
    double score = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++)
        if (tf[j] != 0)
            score += sgs_bm25_score(r->sc[j].idf, tf[j], norm);
    sgs_topk_push(r->top, d, score);
}

/* Scores d into the heap unless a bound shows it cannot enter. The bounds
 * in order of cost: the block and term maxima (nothing read), then the
 * doc's tfs with the floor of its length code (a length no longer than its
 * own, so a score no lower than its own), and only then its length. Scores
 * are summed in positive-term order. Needs need_norm_lb() first. */
static inline void rank_doc(const evaluator *ev, ranker *r, uint32_t d)
{
    double theta;
    if (!rank_bar(r, &theta))
        return;
    if (r->per_doc && bound_doc(ev, r->sc, d) * BOUND_SLACK < theta)
        return;
    const scorer *sc = r->sc;
    uint32_t *tf = r->tf;
    double nlb = ev->norm_lb[ev->len_codes[d]], lb = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++) {
        sgs_term_iter *it = sc[j].it;
        tf[j] = 0;
        if (it == NULL)
            continue;
        uint32_t at = sc[j].own ? sgs_term_iter_advance(it, d) : it->doc;
        if (at == d) {
            tf[j] = sgs_term_iter_tf_one(it);
            lb += sgs_bm25_score(sc[j].idf, tf[j], nlb);
        }
    }
    rank_tfs(ev, r, d, tf, lb, theta);
}

/* ---- across the files ---------------------------------------------------- */

/* Moves n to its next match and returns it (SGS_ITER_END when done or when
 * the context stops: deadline, corruption). eval.c. */
uint32_t sgs_eval_node_next(evaluator *ev, enode *n);

/* Counts the matches of root from where it stands to its end, consuming it;
 * stops early (short count) when the context stops. eval_count.c. */
uint64_t sgs_eval_count_all(evaluator *ev, enode *root);

/* The number of docs TERM nodes p and q share, on fresh cursors of their
 * entries (theirs are not moved); 0 on corruption (ctx.status set).
 * eval_count.c. */
uint64_t sgs_eval_count_both(evaluator *ev, const enode *p, const enode *q);

/* True when a root OR of TERMs has too few postings to pay for a bitmap of
 * the shard. eval_count.c. */
bool sgs_eval_or_is_sparse(const evaluator *ev, const enode *root);

/* The number of docs in the union of a root OR of TERMs: a bitmap of the
 * shard, or the cursor walk when sgs_eval_or_is_sparse(). Consumes the
 * root's cursors. eval_count.c. */
uint64_t sgs_eval_count_or(evaluator *ev, enode *root);

/* A root AND of TERMs and excluded TERMs: returns the number of matches,
 * ranking them through r while r->active. eval_and.c. */
uint64_t sgs_eval_flat_and(evaluator *ev, enode *root, ranker *r);

/* MaxScore top-k of a root OR of TERMs into top, on the scorers' cursors
 * (copies of them when copy). Counts nothing. eval_or.c. */
void sgs_eval_maxscore_or(evaluator *ev, scorer *sc, bool copy, sgs_topk *top);

#endif
