/* The index manifest: DIR/manifest.json, written last by the indexer and read
 * by verify, inspect, the leaf and the root. It ties the shard files of one
 * build together (generation id, per-file size and XXH3) and records how the
 * index was built (tokenizer, fields, inputs, build time).
 *
 * JSON shape (keys are stable; readers reject a format_version they do not know):
 * {"format": "sgsearch-index", "format_version": 1, "generation": "<16 hex>",
 *  "shards": N, "docs": n, "avg_doc_len": x, "terms": distinct terms,
 *  "postings": n, "tokenizer": {"name": "unicode-ln-simple-lower",
 *  "stemming": "none", "max_token_bytes": 255},
 *  "bm25": {"k1": 1.2, "b": 0.75},
 *  "fields": {"id": "id", "text": ["title", "body"], "stored": ["title"]},
 *  "inputs": [{"path": "...", "bytes": n}], "build_time": "<RFC 3339 UTC>",
 *  "lines": n, "rejected_lines": n,
 *  "shard_files": [{"shard": 0, "file": "shard-0000.sgs", "docs": n,
 *                   "bytes": n, "xxh3": "<16 hex>"}]} */
#ifndef SGS_COMMON_MANIFEST_H
#define SGS_COMMON_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SGS_MANIFEST_FILE "manifest.json"
#define SGS_MANIFEST_FORMAT_VERSION 1u

typedef struct sgs_manifest_shard {
    uint32_t shard;
    char *file; /* name relative to the index directory */
    uint64_t docs;
    uint64_t bytes;
    uint64_t xxh3; /* XXH3-64 of the whole file */
} sgs_manifest_shard;

typedef struct sgs_manifest_input {
    char *path;
    uint64_t bytes;
} sgs_manifest_input;

/* All strings and arrays are owned by the manifest. */
typedef struct sgs_manifest {
    uint32_t format_version;
    uint64_t generation;
    uint32_t n_shards;
    uint64_t n_docs;
    double avg_doc_len;
    uint64_t n_terms;
    uint64_t n_postings;
    char *tokenizer;
    char *stemming;
    uint32_t max_token_bytes;
    double bm25_k1, bm25_b;
    char *id_field;
    char **text_fields;
    size_t n_text_fields;
    char **stored_fields;
    size_t n_stored_fields;
    sgs_manifest_input *inputs;
    size_t n_inputs;
    char *build_time;
    uint64_t lines;
    uint64_t rejected_lines;
    sgs_manifest_shard *shards; /* n_shards entries, shards[i].shard == i */
} sgs_manifest;

/* Writes m as JSON to path (write to path, fsync). Fails with SGS_EIO. */
int sgs_manifest_write(const sgs_manifest *m, const char *path, sgs_err *err);

/* Reads and validates a manifest. NULL and err set (SGS_EIO, SGS_ECORRUPT
 * naming the key, SGS_EVERSION). Free with sgs_manifest_free(). */
sgs_manifest *sgs_manifest_read(const char *path, sgs_err *err);

/* Frees the manifest and everything it owns; NULL is a no-op. */
void sgs_manifest_free(sgs_manifest *m);

/* XXH3-64 and size of a whole file (streamed). SGS_EIO naming the call on failure. */
int sgs_file_xxh3(const char *path, uint64_t *xxh3, uint64_t *size, sgs_err *err);

#endif
