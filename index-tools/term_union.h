/* The union of several shards' term dictionaries, visited in term order: a
 * k-way merge over their sorted TERM_ENTRIES, used by verify (cross-shard df
 * and distinct-term checks) and inspect (top terms by global df).
 *
 * Invariants: each distinct term is reported once, with the entry index it has
 * in every shard that holds it. Shards whose dictionaries are not sorted (not
 * structure-verified) still give a terminating walk, possibly reporting a term
 * more than once; a term whose bytes are out of bounds sorts as empty. Memory
 * is O(number of shards); nothing is allocated per term. */
#ifndef SGS_INDEX_TOOLS_TERM_UNION_H
#define SGS_INDEX_TOOLS_TERM_UNION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/shard_reader.h"

typedef struct idx_term_union idx_term_union;

/* Starts a walk over shards[0 .. n_shards), which it borrows (they must
 * outlive the walk). Free with idx_term_union_free(). */
idx_term_union *idx_term_union_new(sgs_shard *const *shards, uint32_t n_shards);

/* Advances to the next distinct term: *term and *len name its bytes (in a
 * shard's mapping), and entries[i] is its entry index in shard i or -1 (the
 * array is owned by the walk, valid until the next call). False at the end. */
bool idx_term_union_next(idx_term_union *u, const char **term, size_t *len,
                         const int64_t **entries);

/* Frees the walk; NULL is a no-op. */
void idx_term_union_free(idx_term_union *u);

#endif
