/* The final phase of a build: a k-way merge of every worker's run files
 * (format in invert.h) in term order, streaming each term's postings into
 * the shard writers. A term's global df is the sum of its counts over all
 * runs and shards, known from the record headers before any posting is
 * read, so memory stays bounded by one posting per run. */
#ifndef SGS_INDEX_TOOLS_MERGE_H
#define SGS_INDEX_TOOLS_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/shard_writer.h"

/* Merges the runs into writers[0 .. n_shards), reading each run through a
 * buffer sized so all of them fit in buffer_budget bytes (16 KiB to 256 KiB
 * each). The writers must be past sgs_shard_writer_set_corpus. Reports the
 * index's distinct terms and postings. SGS_EIO or SGS_ECORRUPT (a damaged
 * run) on failure. */
int idx_merge_runs(const char *const *run_paths, size_t n_runs, sgs_shard_writer **writers,
                   uint32_t n_shards, uint64_t buffer_budget, uint64_t *n_terms,
                   uint64_t *n_postings, sgs_err *err);

#endif
