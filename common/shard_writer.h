/* Writes one shard file (layout in shard_format.h) in a single streaming
 * pass, with memory bounded by a document-length array, one term's postings
 * and one u64 per term: postings go straight to the file, and the term
 * dictionary and document metadata go to temporary files beside it that are
 * appended at the end. Only the finish takes more: 20 bytes a document, with
 * the temporary id files mapped, to sort the ids for EXT_ID_RANKS.
 *
 * Call order: sgs_shard_writer_new, sgs_shard_writer_add_doc for every
 * document (doc ids are assigned in call order), sgs_shard_writer_set_corpus,
 * then for every term in strictly increasing byte order begin_term,
 * add_posting for each document in increasing doc id order, end_term; then
 * sgs_shard_writer_finish. Calls out of this order fail with SGS_EINTERNAL.
 *
 * A term's postings may instead be encoded apart from the writer, on another
 * thread, by a term encoder the writer made (it reads the writer's document
 * lengths, so it lives between set_corpus and finish), and appended later
 * with begin_raw_term / raw_postings / end_raw_term: the bytes are the same
 * as begin_term / add_posting / end_term would write. */
#ifndef SGS_COMMON_SHARD_WRITER_H
#define SGS_COMMON_SHARD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct sgs_shard_writer sgs_shard_writer;

/* Creates path (truncating it) and its temporary files. NULL and err set
 * (SGS_EIO naming the call) on failure. Free with sgs_shard_writer_free(). */
sgs_shard_writer *sgs_shard_writer_new(const char *path, uint32_t shard_id, uint32_t shard_count,
                                       uint64_t generation, sgs_err *err);

/* Appends the next document: its external id (1 .. UINT32_MAX bytes), its
 * stored fields as a compact JSON object, and its length in tokens (>= 1).
 * Both strings are copied out. */
int sgs_shard_writer_add_doc(sgs_shard_writer *w, const char *ext_id, size_t ext_id_len,
                             const char *stored_json, size_t stored_len, uint32_t n_tokens,
                             sgs_err *err);

/* Documents added so far. */
uint64_t sgs_shard_writer_n_docs(const sgs_shard_writer *w);

/* Sets the corpus-wide statistics BM25 needs; call after the last add_doc. */
void sgs_shard_writer_set_corpus(sgs_shard_writer *w, uint64_t corpus_n_docs, double avg_len);

/* Starts a term (1..255 bytes, greater than the previous term) that occurs
 * in shard_df documents of this shard and global_df of the corpus. */
int sgs_shard_writer_begin_term(sgs_shard_writer *w, const char *term, size_t len,
                                uint32_t shard_df, uint32_t global_df, sgs_err *err);

/* Adds the current term's posting for doc (increasing) with frequency tf >= 1. */
int sgs_shard_writer_add_posting(sgs_shard_writer *w, uint32_t doc, uint32_t tf, sgs_err *err);

/* Ends the current term; exactly shard_df postings must have been added. */
int sgs_shard_writer_end_term(sgs_shard_writer *w, sgs_err *err);

/* One term's encoded postings: the bytes are part[0 .. n_parts) in order;
 * they stay valid until the encoder's next begin. */
typedef struct sgs_encoded_term {
    const void *part[4];
    size_t part_len[4];
    size_t n_parts;
    bool dense;      /* the BITSET encoding */
    float max_score; /* the term entry's max score */
} sgs_encoded_term;

typedef struct sgs_term_encoder sgs_term_encoder;

/* A term encoder for this writer's shard; call after set_corpus. It borrows
 * the writer's document lengths, and one encoder serves one thread. Free
 * with sgs_term_encoder_free() before the writer is finished. */
sgs_term_encoder *sgs_shard_writer_new_encoder(const sgs_shard_writer *w);

/* Frees an encoder; NULL is a no-op. */
void sgs_term_encoder_free(sgs_term_encoder *e);

/* Starts encoding a term with these document frequencies (as begin_term). */
int sgs_term_encoder_begin(sgs_term_encoder *e, uint32_t shard_df, uint32_t global_df,
                           sgs_err *err);

/* Adds the current term's posting for doc (increasing) with frequency tf >= 1. */
int sgs_term_encoder_add(sgs_term_encoder *e, uint32_t doc, uint32_t tf, sgs_err *err);

/* Ends the term (exactly shard_df postings added) and describes its bytes in *out. */
int sgs_term_encoder_end(sgs_term_encoder *e, sgs_encoded_term *out, sgs_err *err);

/* Starts a term encoded elsewhere (order and df rules as begin_term; dense
 * must be the encoder's choice) and aligns the postings for it. */
int sgs_shard_writer_begin_raw_term(sgs_shard_writer *w, const char *term, size_t len,
                                    uint32_t shard_df, uint32_t global_df, bool dense,
                                    sgs_err *err);

/* Appends n bytes of the current raw term's encoded postings. */
int sgs_shard_writer_raw_postings(sgs_shard_writer *w, const void *data, size_t n, sgs_err *err);

/* Ends the current raw term, recording its entry with max_score. */
int sgs_shard_writer_end_raw_term(sgs_shard_writer *w, float max_score, sgs_err *err);

/* Writes the dictionary, metadata, section table and header, fsyncs and
 * closes the file, removes the temporary files, and reports the file's size
 * and XXH3-64. */
int sgs_shard_writer_finish(sgs_shard_writer *w, uint64_t *file_xxh3, uint64_t *file_size,
                            sgs_err *err);

/* Frees the writer; an unfinished file and the temporary files are removed.
 * NULL is a no-op. */
void sgs_shard_writer_free(sgs_shard_writer *w);

#endif
