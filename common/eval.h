/* Query evaluation over one shard: the exact number of matching documents
 * and the BM25 top-k, document at a time over posting iterators.
 *
 * Semantics (the contract tests compare against):
 *   - A document matches TERM t when t's postings hold it; AND, OR, NOT are
 *     set intersection, union and complement within the shard's documents.
 *   - total is the exact number of matching documents, always.
 *   - A matching document's score is the sum, over the query's distinct
 *     positive terms (sgs_query_positive_terms) that the document contains, of
 *     sgs_bm25_score(idf(corpus_n_docs, global_df), tf, norm(len, corpus_avg_len)),
 *     summed in double in sgs_query_positive_terms order, so the same document
 *     scores the same bits on any shard layout. Excluded terms never score.
 *   - Hits: the k best matches by score descending, then external id
 *     ascending (memcmp of the id bytes, a prefix first).
 *
 * Evaluation skips by block through the skip data (galloping AND, union for
 * OR, exclusion for NOT), treats dense terms as bitsets, and prunes scoring
 * with block-max bounds against the k-th score; pruning never changes the
 * answer. The deadline is checked inside the loops. All memory comes from the
 * caller's arena; nothing is locked and the shard is only read, so any number
 * of threads may evaluate on one shard at once (each with its own arena). */
#ifndef SGS_COMMON_EVAL_H
#define SGS_COMMON_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/query.h"
#include "common/shard_reader.h"

#define SGS_EVAL_MAX_K 10000u

typedef struct sgs_hit {
    uint32_t doc; /* shard-local document id */
    double score;
} sgs_hit;

typedef struct sgs_eval_result {
    uint64_t total;    /* exact number of matching documents */
    sgs_hit *hits;     /* arena array, n_hits long, best first */
    uint32_t n_hits;   /* min(k, total) */
} sgs_eval_result;

/* Evaluates query (a normalized tree, borrowed) on shard s, which must have
 * been opened with both verify flags. k may be 0 (count only), at most
 * SGS_EVAL_MAX_K. deadline_ns is an absolute CLOCK_MONOTONIC time in
 * nanoseconds (0: none). Returns 0 and fills *out, or SGS_ETIMEOUT when the
 * deadline passes mid-evaluation (*out then undefined), or SGS_EK_LARGE, or
 * SGS_ECORRUPT (naming the term and block) when postings bytes are
 * inconsistent; never reads outside the mapping. All memory from arena a. */
int sgs_eval(const sgs_shard *s, const sgs_query_node *query, uint32_t k, uint64_t deadline_ns,
             sgs_arena *a, sgs_eval_result *out, sgs_err *err);

#endif
