/* A worker's in-memory inverted index and the sorted runs it spills.
 *
 * Each build worker inverts the documents it parsed into its own table
 * (term -> postings of (shard, doc, tf)); when the table's memory passes the
 * worker's budget, it is written out as a run file sorted by term and
 * cleared. Every run is later merged (merge.h). Because a worker takes its
 * chunks in input order and doc ids grow with input order within a shard,
 * each (term, shard) posting list is already sorted by doc id.
 *
 * RUN FILE: a sequence of term records, then a zero byte.
 *   u8 term length (1..255), term bytes,
 *   varint n_groups, n_groups x (varint shard, varint count), shards increasing,
 *   then for each group in order, count x (varint doc gap, varint tf), where the
 *   first gap of a group is the doc id and later gaps are doc - previous doc.
 *
 * RUN INDEX: beside each run, at its path + IDX_RUN_INDEX_SUFFIX, a sample of
 * its records for splitting the merge by term range: about IDX_RUN_SAMPLES
 * entries (u64 little-endian offset of a record in the run, u8 term length,
 * term bytes), the first record always among them, in run order; then the
 * run's size as a u64 and a zero byte. */
#ifndef SGS_INDEX_TOOLS_INVERT_H
#define SGS_INDEX_TOOLS_INVERT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define IDX_RUN_INDEX_SUFFIX ".idx"
#define IDX_RUN_SAMPLES 256

typedef struct idx_inverter idx_inverter;

/* A new, empty inverted index. Free with idx_inverter_free(). */
idx_inverter *idx_inverter_new(void);

/* Frees it; NULL is a no-op. */
void idx_inverter_free(idx_inverter *inv);

/* Adds one document's postings: its n_terms distinct terms, laid out as
 * idx_record.terms (docparse.h). Postings of a (term, shard) arrive in
 * increasing doc order. */
void idx_inverter_add_doc(idx_inverter *inv, const uint8_t *terms, uint32_t n_terms,
                          uint32_t shard, uint32_t doc);

/* Bytes of memory the table holds. */
size_t idx_inverter_memory(const idx_inverter *inv);

/* True when nothing has been added since the last spill. */
int idx_inverter_empty(const idx_inverter *inv);

/* Writes the table as a run file at path, and its run index beside it, and
 * clears it. SGS_EIO on failure. */
int idx_inverter_spill(idx_inverter *inv, const char *path, sgs_err *err);

#endif
