/* Reading a shard file (layout in shard_format.h): load it, check it, and look
 * things up in it without allocating.
 *
 * Invariants: the file is read once into anonymous memory of its own, made
 * read-only, for the life of the sgs_shard, so nothing done to the file later
 * (truncation, rewriting in place, deletion) can change or fault the bytes
 * being read; SGS_SHARD_MAPPED instead maps the file lazily, for short-lived
 * tools that look at a little of a large file. Every pointer returned here
 * points into that copy (or mapping) and is valid until sgs_shard_close().
 * sgs_shard_open() always checks the header, the section table and the sizes
 * the header implies for each section, so the lookups below never read
 * outside the copy whatever the bytes are; a
 * lookup that meets an inconsistency it can see cheaply returns -1, 0 or NULL
 * rather than reading past a bound. Only sgs_shard_verify_structure() proves
 * the deeper invariants (sorted terms, hash placement, posting contents,
 * score bounds); callers that serve a shard open it with both verify flags.
 * Nothing here keeps mutable state, so one sgs_shard may be read from any
 * number of threads. */
#ifndef SGS_COMMON_SHARD_READER_H
#define SGS_COMMON_SHARD_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/shard_format.h"

typedef struct sgs_shard sgs_shard;

enum {
    SGS_SHARD_VERIFY_CHECKSUMS = 1u,
    SGS_SHARD_VERIFY_STRUCTURE = 2u,
    /* Map the file (MAP_PRIVATE, MADV_WILLNEED) instead of loading it. A
     * mapped file truncated while open raises SIGBUS on the next read of a
     * lost page: never for servers. */
    SGS_SHARD_MAPPED = 4u,
};

/* Reads the regular file at path into private anonymous memory (huge pages
 * advised; XXH3-64 of the whole file computed on the way) or, with
 * SGS_SHARD_MAPPED, maps it; checks the header, its checksum, the section
 * table and the section sizes; then the section checksums and the structure
 * as the flags ask. NULL and err set (SGS_EIO naming the call or "not a
 * regular file", SGS_ENOMEM, SGS_EVERSION, SGS_ECORRUPT naming the file and
 * the section, offset or field, or that it shrank while read) on failure.
 * Free with sgs_shard_close(). */
sgs_shard *sgs_shard_open(const char *path, unsigned verify_flags, sgs_err *err);

/* Frees the loaded copy (or unmaps the file) and the shard; NULL is a no-op. */
void sgs_shard_close(sgs_shard *s);

/* The decoded header; borrowed from s. */
const sgs_shard_header *sgs_shard_header_get(const sgs_shard *s);

/* The table entry of a section kind (1 .. SGS_SECTION_COUNT), or NULL for
 * any other kind; borrowed from s. */
const sgs_section *sgs_shard_section_get(const sgs_shard *s, uint32_t kind);

/* The first byte of a section in the copy (its size from
 * sgs_shard_section_get), or NULL for an unknown kind. */
const uint8_t *sgs_shard_section_bytes(const sgs_shard *s, uint32_t kind);

/* The size of the file in bytes, as loaded. */
uint64_t sgs_shard_file_size(const sgs_shard *s);

/* True with *xxh3 set to the XXH3-64 of the whole file's bytes as loaded
 * (the ones served, not a second read of the file); false for a file opened
 * SGS_SHARD_MAPPED without SGS_SHARD_VERIFY_CHECKSUMS, which never reads it all. */
bool sgs_shard_file_xxh3(const sgs_shard *s, uint64_t *xxh3);

/* The path the shard was opened from; borrowed from s. */
const char *sgs_shard_path(const sgs_shard *s);

/* Checks every section's XXH3-64 against the table. SGS_ECORRUPT
 * ("<file>: section postings: checksum mismatch") on the first bad one. */
int sgs_shard_verify_checksums(const sgs_shard *s, sgs_err *err);

/* Checks every invariant shard_format.h states, including each posting's
 * contents and that stored maxima bound every BM25 score. SGS_ECORRUPT naming
 * the section and the term, block, document or field on the first violation.
 * Allocates scratch proportional to n_docs; meant for open and verify, not
 * for query paths. */
int sgs_shard_verify_structure(const sgs_shard *s, sgs_err *err);

/* The entry index of the term's len bytes, or -1 when the shard does not have
 * it. O(1) expected through TERM_HASH; no allocation. */
int64_t sgs_shard_find_term(const sgs_shard *s, const char *term, size_t len);

/* Asks the CPU to bring in what sgs_shard_find_term() and a cursor's start
 * on the first block will read for each of the n terms (hash slot, entry,
 * term bytes, postings start), overlapping the cache misses the lookups
 * would otherwise take one after another. No effect on results; any bytes. */
void sgs_shard_prefetch_terms(const sgs_shard *s, const char *const *terms,
                              const uint32_t *lens, uint32_t n);

/* Decodes term entry index (< n_terms, asserted) into *out. */
void sgs_shard_term_entry(const sgs_shard *s, uint64_t index, sgs_term_entry *out);

/* The e->term_len bytes of the entry's term (not NUL-terminated), or NULL
 * when they lie outside TERM_STRINGS. */
const char *sgs_shard_term_bytes(const sgs_shard *s, const sgs_term_entry *e);

/* The first of the entry's e->postings_size bytes in POSTINGS, or NULL when
 * they lie outside the section. */
const uint8_t *sgs_shard_term_postings_bytes(const sgs_shard *s, const sgs_term_entry *e);

/* Tokens in document doc, or 0 when doc >= n_docs. */
uint32_t sgs_shard_doc_length(const sgs_shard *s, uint32_t doc);

/* One byte per document, n_docs of them: sgs_bm25_len_code() of each
 * document's length (bm25.h), built at open; borrowed from s. */
const uint8_t *sgs_shard_len_codes(const sgs_shard *s);

/* 256 doubles: entry c is sgs_bm25_norm(sgs_bm25_len_floor(c), corpus_avg_len)
 * of the header (bm25.h), the norm bound a length code gives; built at
 * open, so queries need not recompute it; borrowed from s. */
const double *sgs_shard_norm_floors(const sgs_shard *s);

/* Document doc's external id (*len bytes, not NUL-terminated), or NULL when
 * doc >= n_docs or its offsets are out of bounds. */
const char *sgs_shard_ext_id(const sgs_shard *s, uint32_t doc, size_t *len);

/* n_docs u32 (little-endian): each document's rank among the shard's external
 * ids in memcmp order (EXT_ID_RANKS, shard_format.h), so two docs' ids
 * compare as their ranks do; a permutation once sgs_shard_verify_structure()
 * passed; borrowed from s. */
const uint8_t *sgs_shard_ext_id_ranks(const sgs_shard *s);

/* Document doc's stored fields as compact JSON (*len bytes, not
 * NUL-terminated), or NULL as for sgs_shard_ext_id. */
const char *sgs_shard_stored(const sgs_shard *s, uint32_t doc, size_t *len);

/* Decodes every posting of the term into docs and, unless tfs is NULL, tfs,
 * each a caller array of e->shard_df entries, checking every bound, width,
 * count and order on the way. SGS_ECORRUPT naming the term and block when
 * anything is out of bounds or inconsistent. For verify, inspect and tests;
 * the leaf iterates blocks itself. */
int sgs_shard_decode_postings(const sgs_shard *s, const sgs_term_entry *e, uint32_t *docs,
                              uint32_t *tfs, sgs_err *err);

#endif
