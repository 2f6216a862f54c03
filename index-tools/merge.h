/* The final phase of a build: a k-way merge of every worker's run files
 * (format in invert.h) in term order, streaming each term's postings into
 * the shard writers. A term's global df is the sum of its counts over all
 * runs and shards, known from the record headers before any posting is
 * read, so memory stays bounded by one posting per run.
 *
 * With several threads the term space is cut into contiguous ranges of
 * about equal run bytes (from the run indexes); each thread merges one range
 * for every shard. The first range goes straight into the writers; the
 * others are encoded into piece files (one per range and shard) that are
 * appended to the writers in range order once every thread is done. Terms
 * and their bytes do not depend on where the ranges fall, so the shard files
 * are byte-identical whatever the thread count. */
#ifndef SGS_INDEX_TOOLS_MERGE_H
#define SGS_INDEX_TOOLS_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/shard_writer.h"

/* Merges the runs into writers[0 .. n_shards) with n_threads threads (>= 1),
 * reading each run through buffers sized so all of them fit in
 * buffer_budget bytes (16 KiB to 256 KiB each); piece files go to
 * piece_dir. The writers must be past sgs_shard_writer_set_corpus. Reports
 * the index's distinct terms and postings, and the term ranges used (fewer
 * than n_threads when the runs hold too few distinct terms). SGS_EIO or SGS_ECORRUPT (a
 * damaged run or run index) on failure. */
int idx_merge_runs(const char *const *run_paths, size_t n_runs, sgs_shard_writer **writers,
                   uint32_t n_shards, uint64_t buffer_budget, uint32_t n_threads,
                   const char *piece_dir, uint64_t *n_terms, uint64_t *n_postings,
                   uint32_t *n_ranges, sgs_err *err);

#endif
