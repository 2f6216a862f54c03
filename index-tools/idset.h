/* The set of document ids a build has taken, for rejecting duplicates as
 * they are committed, in memory bounded apart from a filter of about 1.3
 * bytes an id.
 *
 * An id is kept as its XXH3-128 hash (two ids are the same when their
 * hashes are). New ids go to an in-memory hash table of at most table_bytes;
 * when it is full, its hashes are sorted and merged into one sorted file
 * of every earlier id, and the table starts empty. A lookup tries the table,
 * then a blocked Bloom filter over the file's ids (about 10 bits an id),
 * and only when the filter says maybe reads one 4 KiB page of the file,
 * found through a sparse in-memory index (one hash a page). Answers are
 * exact: the filter only decides whether the file must be read. */
#ifndef SGS_INDEX_TOOLS_IDSET_H
#define SGS_INDEX_TOOLS_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct idx_idset idx_idset;

/* An empty set whose table holds at most table_bytes (at least 64 KiB)
 * and whose spilled ids live in files under dir. Free with idx_idset_free(). */
idx_idset *idx_idset_new(const char *dir, size_t table_bytes);

/* Frees the set and removes its files; NULL is a no-op. */
void idx_idset_free(idx_idset *s);

/* Adds the id; *fresh is false when it was already in the set. SGS_EIO
 * when spilling to or reading the file fails. */
int idx_idset_insert(idx_idset *s, const char *id, size_t len, bool *fresh, sgs_err *err);

/* Bytes of memory the set holds. */
size_t idx_idset_memory(const idx_idset *s);

/* Ids in the set. */
uint64_t idx_idset_count(const idx_idset *s);

/* Ids that have moved from the table to the file. */
uint64_t idx_idset_spilled(const idx_idset *s);

#endif
