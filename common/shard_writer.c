/* Streaming shard file writer; the layout is specified in shard_format.h.
 *
 * Physical order in the file: header and section table (written last, at
 * offset 0), POSTINGS (streamed as terms end), then the other sections in
 * kind order, each copied from the temporary file that collected it or built
 * in memory at the end (TERM_HASH, DOC_LENGTHS, EXT_ID_RANKS). Every
 * section's checksum is computed as its bytes stream through an sgs_ofile. */
#include "common/shard_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/bm25.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/mem.h"
#include "common/ofile.h"
#include "common/postings.h"
#include "common/shard_format.h"
#include "common/tokenize.h"

/* Temporary streams, one per section collected before the end. */
enum {
    TMP_TERM_STRINGS,
    TMP_TERM_ENTRIES,
    TMP_EXT_ID_OFFSETS,
    TMP_EXT_ID_BYTES,
    TMP_STORED_OFFSETS,
    TMP_STORED_BYTES,
    TMP_COUNT
};
static const char *const tmp_suffix[TMP_COUNT] = {
    ".strings.tmp", ".entries.tmp", ".extoff.tmp", ".extid.tmp", ".storedoff.tmp", ".stored.tmp",
};

#define TABLE_END (SGS_SHARD_HEADER_SIZE + SGS_SECTION_COUNT * SGS_SHARD_SECTION_ENTRY_SIZE)

/* One term's postings being encoded; see sgs_term_encoder_begin. */
struct sgs_term_encoder {
    const uint32_t *doc_len; /* borrowed from the writer */
    uint64_t n_docs, corpus_n_docs;
    double avg_len;
    bool in_term;
    uint32_t shard_df, n_added;
    int64_t last_doc;
    double idf;
    double max_score;
    bool dense;
    uint32_t block_docs[SGS_BLOCK_LEN], block_tfs[SGS_BLOCK_LEN];
    size_t block_n;
    double block_max;
    sgs_buf skips, data; /* skip entries (or tf entries) and block data */
    uint64_t *bitset;    /* dense terms: ceil(n_docs / 64) words */
    size_t bitset_words; /* allocated */
    sgs_buf ranks;       /* dense terms: the rank table */
};

struct sgs_shard_writer {
    char *path;
    char *tmp_path[TMP_COUNT];
    sgs_ofile *out;            /* the shard file; POSTINGS stream into it */
    XXH3_state_t *postings_xxh; /* running checksum of the POSTINGS bytes */
    sgs_ofile *tmp[TMP_COUNT];
    uint32_t shard_id, shard_count;
    uint64_t generation;

    /* documents */
    uint32_t *doc_len;
    uint64_t n_docs, doc_cap, n_tokens;
    uint64_t ext_id_bytes, stored_bytes;
    uint64_t corpus_n_docs;
    double avg_len;
    bool corpus_set;

    /* terms */
    uint64_t *term_hashes;
    uint64_t n_terms, term_cap, n_postings, term_strings_size;
    char prev_term[SGS_TOKEN_MAX_BYTES];
    size_t prev_term_len;

    /* the current term */
    bool in_term;
    char term[SGS_TOKEN_MAX_BYTES];
    size_t term_len;
    uint32_t shard_df, global_df;
    bool dense;
    uint64_t term_start; /* POSTINGS offset of the current term */
    sgs_term_encoder *enc; /* encodes terms given through begin_term/add_posting */
    bool finished;
};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = sgs_xmalloc(na + nb + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

sgs_shard_writer *sgs_shard_writer_new(const char *path, uint32_t shard_id, uint32_t shard_count,
                                       uint64_t generation, sgs_err *err)
{
    sgs_shard_writer *w = sgs_xcalloc(1, sizeof *w);
    w->path = sgs_xstrdup(path);
    w->shard_id = shard_id;
    w->shard_count = shard_count;
    w->generation = generation;
    w->postings_xxh = XXH3_createState();
    if (w->postings_xxh == NULL)
        abort();
    XXH3_64bits_reset(w->postings_xxh);
    w->out = sgs_ofile_open(path, false, err);
    if (w->out == NULL)
        goto fail;
    /* Room for the header and section table, written at the end. */
    uint8_t zeros[TABLE_END] = {0};
    if (sgs_ofile_write(w->out, zeros, sizeof zeros, err) != 0)
        goto fail;
    for (int i = 0; i < TMP_COUNT; i++) {
        w->tmp_path[i] = concat(path, tmp_suffix[i]);
        w->tmp[i] = sgs_ofile_open(w->tmp_path[i], true, err);
        if (w->tmp[i] == NULL)
            goto fail;
    }
    return w;
fail:
    sgs_shard_writer_free(w);
    return NULL;
}

int sgs_shard_writer_add_doc(sgs_shard_writer *w, const char *ext_id, size_t ext_id_len,
                             const char *stored_json, size_t stored_len, uint32_t n_tokens,
                             sgs_err *err)
{
    if (w->corpus_set || n_tokens == 0 || ext_id_len == 0 || w->n_docs >= UINT32_MAX)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: add_doc out of order or empty");
    if (ext_id_len > UINT32_MAX) /* the rank sort and the wire hold id lengths in 32 bits */
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: external id of %zu bytes",
                           ext_id_len);
    if (w->n_docs == w->doc_cap) {
        w->doc_cap = w->doc_cap ? w->doc_cap * 2 : 1024;
        w->doc_len = sgs_xrealloc(w->doc_len, w->doc_cap * sizeof *w->doc_len);
    }
    w->doc_len[w->n_docs++] = n_tokens;
    w->n_tokens += n_tokens;
    uint8_t off[8];
    put_u64(off, w->ext_id_bytes);
    sgs_ofile_write(w->tmp[TMP_EXT_ID_OFFSETS], off, 8, err);
    sgs_ofile_write(w->tmp[TMP_EXT_ID_BYTES], ext_id, ext_id_len, err);
    put_u64(off, w->stored_bytes);
    sgs_ofile_write(w->tmp[TMP_STORED_OFFSETS], off, 8, err);
    int rc = sgs_ofile_write(w->tmp[TMP_STORED_BYTES], stored_json, stored_len, err);
    w->ext_id_bytes += ext_id_len;
    w->stored_bytes += stored_len;
    return rc;
}

uint64_t sgs_shard_writer_n_docs(const sgs_shard_writer *w)
{
    return w->n_docs;
}

void sgs_shard_writer_set_corpus(sgs_shard_writer *w, uint64_t corpus_n_docs, double avg_len)
{
    w->corpus_n_docs = corpus_n_docs;
    w->avg_len = avg_len;
    w->corpus_set = true;
}

/* Byte order (memcmp, a prefix first), of terms and of external ids. */
static int term_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb;
}

/* Appends bytes to the POSTINGS section, keeping its checksum. */
static int postings_write(sgs_shard_writer *w, const void *data, size_t n, sgs_err *err)
{
    XXH3_64bits_update(w->postings_xxh, data, n);
    return sgs_ofile_write(w->out, data, n, err);
}

/* Pads the POSTINGS section with zeros to a multiple of align. */
static int postings_pad(sgs_shard_writer *w, size_t align, sgs_err *err)
{
    static const uint8_t zeros[8];
    size_t rem = (size_t)((sgs_ofile_size(w->out) - TABLE_END) % align);
    return rem ? postings_write(w, zeros, align - rem, err) : 0;
}

sgs_term_encoder *sgs_shard_writer_new_encoder(const sgs_shard_writer *w)
{
    sgs_term_encoder *e = sgs_xcalloc(1, sizeof *e);
    e->doc_len = w->doc_len;
    e->n_docs = w->n_docs;
    e->corpus_n_docs = w->corpus_n_docs;
    e->avg_len = w->avg_len;
    sgs_buf_init(&e->skips);
    sgs_buf_init(&e->data);
    sgs_buf_init(&e->ranks);
    return e;
}

void sgs_term_encoder_free(sgs_term_encoder *e)
{
    if (e == NULL)
        return;
    sgs_buf_fini(&e->skips);
    sgs_buf_fini(&e->data);
    sgs_buf_fini(&e->ranks);
    free(e->bitset);
    free(e);
}

int sgs_term_encoder_begin(sgs_term_encoder *e, uint32_t shard_df, uint32_t global_df,
                           sgs_err *err)
{
    if (e->in_term || shard_df == 0 || shard_df > e->n_docs || global_df < shard_df ||
        global_df > e->corpus_n_docs)
        return sgs_err_set(err, SGS_EINTERNAL, "term encoder: bad begin (df %u of %u)", shard_df,
                           global_df);
    e->in_term = true;
    e->shard_df = shard_df;
    e->n_added = 0;
    e->last_doc = -1;
    e->idf = sgs_bm25_idf(e->corpus_n_docs, global_df);
    e->max_score = 0;
    e->block_n = 0;
    e->block_max = 0;
    e->dense = sgs_shard_term_is_dense(shard_df, e->n_docs);
    sgs_buf_reset(&e->skips);
    sgs_buf_reset(&e->data);
    sgs_buf_reset(&e->ranks);
    if (e->dense) {
        size_t words = (size_t)((e->n_docs + 63) / 64);
        if (e->bitset == NULL) {
            e->bitset = sgs_xmalloc(words * 8);
            e->bitset_words = words;
        }
        memset(e->bitset, 0, words * 8);
    }
    return 0;
}

/* Packs the buffered block: doc gaps and tfs for sparse terms, tfs alone
 * for dense ones, and records its skip (or tf table) entry. */
static void flush_block(sgs_term_encoder *e)
{
    size_t n = e->block_n;
    if (n == 0)
        return;
    uint8_t entry[SGS_SHARD_SKIP_ENTRY_SIZE] = {0};
    uint32_t data_off = (uint32_t)e->data.len;
    if (e->dense) {
        uint32_t vals[SGS_BLOCK_LEN];
        for (size_t i = 0; i < n; i++)
            vals[i] = e->block_tfs[i] - 1;
        unsigned bits = sgs_bits_max(vals, n);
        /* All-one tfs pack to no bytes; the buffer may still be unallocated. */
        if (sgs_packed_size(n, bits) > 0) {
            sgs_buf_reserve(&e->data, sgs_packed_size(n, bits));
            e->data.len += sgs_pack(vals, n, bits, e->data.data + e->data.len);
        }
        put_u32(entry, data_off);
        entry[4] = (uint8_t)bits;
        sgs_buf_append(&e->skips, entry, SGS_SHARD_TF_ENTRY_SIZE);
    } else {
        uint32_t prev = e->n_added == n ? UINT32_MAX : 0;
        if (e->n_added > n)
            prev = sgs_load_u32(e->skips.data + e->skips.len - SGS_SHARD_SKIP_ENTRY_SIZE);
        unsigned doc_bits, tf_bits;
        sgs_buf_reserve(&e->data, sgs_block_max_bytes());
        e->data.len += sgs_block_encode(e->block_docs, e->block_tfs, n, prev,
                                        e->data.data + e->data.len, &doc_bits, &tf_bits);
        put_u32(entry, e->block_docs[n - 1]);
        put_u32(entry + 4, data_off);
        put_f32(entry + 8, sgs_float_ceil(e->block_max));
        entry[12] = (uint8_t)doc_bits;
        entry[13] = (uint8_t)tf_bits;
        entry[14] = (uint8_t)(n - 1);
        sgs_buf_append(&e->skips, entry, SGS_SHARD_SKIP_ENTRY_SIZE);
    }
    e->block_n = 0;
    e->block_max = 0;
}

int sgs_term_encoder_add(sgs_term_encoder *e, uint32_t doc, uint32_t tf, sgs_err *err)
{
    if (!e->in_term || (int64_t)doc <= e->last_doc || doc >= e->n_docs || tf == 0 ||
        e->n_added >= e->shard_df)
        return sgs_err_set(err, SGS_EINTERNAL, "term encoder: bad posting (doc %u, tf %u)", doc,
                           tf);
    double score = sgs_bm25_score(e->idf, tf, sgs_bm25_norm(e->doc_len[doc], e->avg_len));
    if (score > e->max_score)
        e->max_score = score;
    if (score > e->block_max)
        e->block_max = score;
    e->last_doc = doc;
    e->block_docs[e->block_n] = doc;
    e->block_tfs[e->block_n] = tf;
    e->block_n++;
    e->n_added++;
    if (e->dense)
        e->bitset[doc / 64] |= 1ULL << (doc % 64);
    if (e->block_n == SGS_BLOCK_LEN)
        flush_block(e);
    return 0;
}

int sgs_term_encoder_end(sgs_term_encoder *e, sgs_encoded_term *out, sgs_err *err)
{
    if (!e->in_term || e->n_added != e->shard_df)
        return sgs_err_set(err, SGS_EINTERNAL, "term encoder: %u of %u postings", e->n_added,
                           e->shard_df);
    flush_block(e);
    e->in_term = false;
    memset(out, 0, sizeof *out);
    out->dense = e->dense;
    out->max_score = sgs_float_ceil(e->max_score);
    if (e->dense) {
        size_t words = (size_t)((e->n_docs + 63) / 64);
        size_t n_ranks = (words + SGS_SHARD_RANK_WORDS - 1) / SGS_SHARD_RANK_WORDS;
        uint32_t rank = 0;
        sgs_buf_reserve(&e->ranks, n_ranks * 4);
        for (size_t r = 0; r < n_ranks; r++) {
            put_u32(e->ranks.data + 4 * r, rank);
            for (size_t i = r * SGS_SHARD_RANK_WORDS; i < words && i < (r + 1) * SGS_SHARD_RANK_WORDS;
                 i++)
                rank += (uint32_t)__builtin_popcountll(e->bitset[i]);
        }
        e->ranks.len = n_ranks * 4;
        out->part[out->n_parts] = e->bitset;
        out->part_len[out->n_parts++] = words * 8;
        out->part[out->n_parts] = e->ranks.data;
        out->part_len[out->n_parts++] = e->ranks.len;
    }
    out->part[out->n_parts] = e->skips.data;
    out->part_len[out->n_parts++] = e->skips.len;
    out->part[out->n_parts] = e->data.data;
    out->part_len[out->n_parts++] = e->data.len;
    return 0;
}

int sgs_shard_writer_begin_term(sgs_shard_writer *w, const char *term, size_t len,
                                uint32_t shard_df, uint32_t global_df, sgs_err *err)
{
    int rc = sgs_shard_writer_begin_raw_term(w, term, len, shard_df, global_df,
                                             sgs_shard_term_is_dense(shard_df, w->n_docs), err);
    if (rc != 0)
        return rc;
    if (w->enc == NULL)
        w->enc = sgs_shard_writer_new_encoder(w);
    return sgs_term_encoder_begin(w->enc, shard_df, global_df, err);
}

int sgs_shard_writer_add_posting(sgs_shard_writer *w, uint32_t doc, uint32_t tf, sgs_err *err)
{
    if (!w->in_term || w->enc == NULL || !w->enc->in_term)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: add_posting outside a term");
    return sgs_term_encoder_add(w->enc, doc, tf, err);
}

int sgs_shard_writer_end_term(sgs_shard_writer *w, sgs_err *err)
{
    if (!w->in_term || w->enc == NULL || !w->enc->in_term ||
        w->enc->n_added != w->enc->shard_df)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: term '%.*s' has %u of %u postings",
                           (int)w->term_len, w->term, w->enc ? w->enc->n_added : 0, w->shard_df);
    sgs_encoded_term t;
    int rc = sgs_term_encoder_end(w->enc, &t, err);
    for (size_t i = 0; i < t.n_parts && rc == 0; i++)
        rc = sgs_shard_writer_raw_postings(w, t.part[i], t.part_len[i], err);
    if (rc != 0)
        return rc;
    return sgs_shard_writer_end_raw_term(w, t.max_score, err);
}

int sgs_shard_writer_begin_raw_term(sgs_shard_writer *w, const char *term, size_t len,
                                    uint32_t shard_df, uint32_t global_df, bool dense,
                                    sgs_err *err)
{
    if (!w->corpus_set || w->in_term || len == 0 || len > SGS_TOKEN_MAX_BYTES || shard_df == 0 ||
        shard_df > w->n_docs || global_df < shard_df || global_df > w->corpus_n_docs ||
        dense != (bool)sgs_shard_term_is_dense(shard_df, w->n_docs))
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: bad begin_term for '%.*s'",
                           (int)len, term);
    if (w->n_terms > 0 && term_cmp(w->prev_term, w->prev_term_len, term, len) >= 0)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: term '%.*s' out of order",
                           (int)len, term);
    int rc = postings_pad(w, dense ? 8 : 4, err);
    if (rc != 0)
        return rc;
    w->in_term = true;
    memcpy(w->term, term, len);
    w->term_len = len;
    w->shard_df = shard_df;
    w->global_df = global_df;
    w->dense = dense;
    w->term_start = sgs_ofile_size(w->out) - TABLE_END;
    return 0;
}

int sgs_shard_writer_raw_postings(sgs_shard_writer *w, const void *data, size_t n, sgs_err *err)
{
    if (!w->in_term)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: postings outside a term");
    return n ? postings_write(w, data, n, err) : 0;
}

int sgs_shard_writer_end_raw_term(sgs_shard_writer *w, float max_score, sgs_err *err)
{
    if (!w->in_term)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: end_term outside a term");
    uint64_t start = w->term_start;
    uint64_t size = sgs_ofile_size(w->out) - TABLE_END - start;

    uint8_t e[SGS_SHARD_TERM_ENTRY_SIZE] = {0};
    uint64_t hash = sgs_hash64(w->term, w->term_len);
    put_u64(e, hash);
    put_u64(e + 8, start);
    put_u64(e + 16, size);
    put_u32(e + 24, (uint32_t)w->term_strings_size);
    put_u32(e + 28, w->shard_df);
    put_u32(e + 32, w->global_df);
    put_f32(e + 36, max_score);
    e[40] = (uint8_t)w->term_len;
    e[41] = w->dense ? SGS_POSTINGS_BITSET : SGS_POSTINGS_BLOCKS;
    sgs_ofile_write(w->tmp[TMP_TERM_ENTRIES], e, sizeof e, err);
    int rc = sgs_ofile_write(w->tmp[TMP_TERM_STRINGS], w->term, w->term_len, err);
    if (rc != 0)
        return rc;
    if (w->term_strings_size + w->term_len > UINT32_MAX)
        return sgs_err_set(err, SGS_ELIMIT, "shard writer: term strings exceed 4 GiB");
    w->term_strings_size += w->term_len;

    if (w->n_terms == w->term_cap) {
        w->term_cap = w->term_cap ? w->term_cap * 2 : 4096;
        w->term_hashes = sgs_xrealloc(w->term_hashes, w->term_cap * sizeof *w->term_hashes);
    }
    w->term_hashes[w->n_terms++] = hash;
    w->n_postings += w->shard_df;
    memcpy(w->prev_term, w->term, w->term_len);
    w->prev_term_len = w->term_len;
    w->in_term = false;
    return 0;
}

/* Appends a section to the shard file (8-aligned) and records its table entry. */
static int append_section(sgs_shard_writer *w, sgs_section *table, uint32_t kind, const void *data,
                          size_t n, const char *from_file, uint64_t from_checksum, sgs_err *err)
{
    if (sgs_ofile_pad(w->out, 8, err) != 0)
        return SGS_EIO;
    sgs_section *s = &table[kind - 1];
    s->kind = kind;
    s->offset = sgs_ofile_size(w->out);
    int rc;
    if (from_file != NULL) {
        rc = sgs_ofile_append_file(w->out, from_file, err);
        s->xxh3 = from_checksum;
    } else {
        rc = sgs_ofile_write(w->out, data, n, err);
        s->xxh3 = XXH3_64bits(data, n);
    }
    s->size = sgs_ofile_size(w->out) - s->offset;
    return rc;
}

static uint8_t *build_hash_section(const sgs_shard_writer *w, size_t *size)
{
    uint64_t n_slots = 2;
    while (n_slots < 2 * w->n_terms)
        n_slots *= 2;
    *size = 8 + 4 * n_slots;
    uint8_t *sec = sgs_xcalloc(1, *size);
    put_u64(sec, n_slots);
    uint8_t *slots = sec + 8;
    for (uint64_t t = 0; t < w->n_terms; t++) {
        uint64_t i = w->term_hashes[t] & (n_slots - 1);
        while (sgs_load_u32(slots + 4 * i) != 0)
            i = (i + 1) & (n_slots - 1);
        put_u32(slots + 4 * i, (uint32_t)(t + 1));
    }
    return sec;
}

/* One document's external id, for sorting the ids into ranks. */
typedef struct id_ref {
    const uint8_t *bytes;
    uint32_t len;
    uint32_t doc;
} id_ref;

static int id_ref_cmp(const void *x, const void *y)
{
    const id_ref *a = x, *b = y;
    return term_cmp((const char *)a->bytes, a->len, (const char *)b->bytes, b->len);
}

/* Maps a flushed temporary file of size bytes read-only (NULL, err set, on failure). */
static const uint8_t *map_tmp(const char *path, uint64_t size, sgs_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sgs_err_set(err, SGS_EIO, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        sgs_err_set(err, SGS_EIO, "mmap %s: %s", path, strerror(e));
        return NULL;
    }
    return m;
}

/* The EXT_ID_RANKS section (n_docs u32), from the flushed temporary id
 * files: the documents sorted by id bytes, each given its place. NULL, err
 * set, on failure. */
static uint8_t *build_rank_section(const sgs_shard_writer *w, sgs_err *err)
{
    uint8_t *sec = sgs_xmalloc(4 * (size_t)w->n_docs + 1);
    if (w->n_docs == 0)
        return sec;
    uint64_t off_size = 8 * (w->n_docs + 1);
    const uint8_t *offs = map_tmp(w->tmp_path[TMP_EXT_ID_OFFSETS], off_size, err);
    const uint8_t *bytes = NULL;
    if (offs != NULL)
        bytes = map_tmp(w->tmp_path[TMP_EXT_ID_BYTES], w->ext_id_bytes, err);
    if (bytes == NULL) {
        if (offs != NULL)
            munmap((void *)offs, (size_t)off_size);
        free(sec);
        return NULL;
    }
    id_ref *refs = sgs_xmalloc((size_t)w->n_docs * sizeof *refs);
    for (uint64_t d = 0; d < w->n_docs; d++) {
        uint64_t from = sgs_load_u64(offs + 8 * d), to = sgs_load_u64(offs + 8 * (d + 1));
        refs[d] = (id_ref){bytes + from, (uint32_t)(to - from), (uint32_t)d};
    }
    qsort(refs, (size_t)w->n_docs, sizeof *refs, id_ref_cmp);
    for (uint64_t r = 0; r < w->n_docs; r++)
        put_u32(sec + 4 * (uint64_t)refs[r].doc, (uint32_t)r);
    free(refs);
    munmap((void *)bytes, (size_t)w->ext_id_bytes);
    munmap((void *)offs, (size_t)off_size);
    return sec;
}

static void encode_header(const sgs_shard_writer *w, const sgs_section *table, uint8_t *h)
{
    memset(h, 0, TABLE_END);
    memcpy(h, SGS_SHARD_MAGIC, 8);
    put_u32(h + 8, SGS_SHARD_VERSION);
    put_u32(h + 12, SGS_SHARD_HEADER_SIZE);
    put_u32(h + 16, w->shard_id);
    put_u32(h + 20, w->shard_count);
    put_u64(h + 24, w->generation);
    put_u64(h + 32, w->n_docs);
    put_u64(h + 40, w->corpus_n_docs);
    uint64_t avg_bits;
    memcpy(&avg_bits, &w->avg_len, 8);
    put_u64(h + 48, avg_bits);
    put_u64(h + 56, w->n_terms);
    put_u64(h + 64, w->n_postings);
    put_u64(h + 72, w->n_tokens);
    put_u32(h + 80, SGS_TOKENIZER_UNICODE_LN_SIMPLE_LOWER);
    put_u32(h + 84, SGS_TOKEN_MAX_BYTES);
    put_f32(h + 88, (float)SGS_BM25_K1);
    put_f32(h + 92, (float)SGS_BM25_B);
    put_u32(h + 96, SGS_SHARD_DENSE_DIVISOR);
    put_u32(h + 100, SGS_SECTION_COUNT);
    uint8_t *t = h + SGS_SHARD_HEADER_SIZE;
    for (uint32_t k = 0; k < SGS_SECTION_COUNT; k++) {
        uint8_t *e = t + k * SGS_SHARD_SECTION_ENTRY_SIZE;
        put_u32(e, table[k].kind);
        put_u64(e + 8, table[k].offset);
        put_u64(e + 16, table[k].size);
        put_u64(e + 24, table[k].xxh3);
    }
    put_u64(h + 104, XXH3_64bits(t, SGS_SECTION_COUNT * SGS_SHARD_SECTION_ENTRY_SIZE));
    put_u64(h + 120, XXH3_64bits(h, 120));
}

int sgs_shard_writer_finish(sgs_shard_writer *w, uint64_t *file_xxh3, uint64_t *file_size,
                            sgs_err *err)
{
    if (!w->corpus_set || w->in_term || w->finished)
        return sgs_err_set(err, SGS_EINTERNAL, "shard writer: finish out of order");
    sgs_section table[SGS_SECTION_COUNT];
    memset(table, 0, sizeof table);
    table[SGS_SECTION_POSTINGS - 1] = (sgs_section){
        .kind = SGS_SECTION_POSTINGS, .offset = TABLE_END,
        .size = sgs_ofile_size(w->out) - TABLE_END, .xxh3 = 0};
    uint8_t off[8];
    put_u64(off, w->ext_id_bytes);
    sgs_ofile_write(w->tmp[TMP_EXT_ID_OFFSETS], off, 8, err);
    put_u64(off, w->stored_bytes);
    sgs_ofile_write(w->tmp[TMP_STORED_OFFSETS], off, 8, err);
    for (int i = 0; i < TMP_COUNT; i++)
        if (sgs_ofile_flush(w->tmp[i], err) != 0)
            return SGS_EIO;

    table[SGS_SECTION_POSTINGS - 1].xxh3 = XXH3_64bits_digest(w->postings_xxh);

    uint8_t *rank_sec = build_rank_section(w, err);
    if (rank_sec == NULL)
        return SGS_EIO;
    size_t hash_size;
    uint8_t *hash_sec = build_hash_section(w, &hash_size);
    /* Sections after POSTINGS, in kind order: from a temporary file, or from memory. */
    static const struct {
        uint32_t kind;
        int tmp; /* TMP_* index, or -1 for memory */
    } order[] = {
        {SGS_SECTION_TERM_STRINGS, TMP_TERM_STRINGS},
        {SGS_SECTION_TERM_ENTRIES, TMP_TERM_ENTRIES},
        {SGS_SECTION_TERM_HASH, -1},
        {SGS_SECTION_DOC_LENGTHS, -1},
        {SGS_SECTION_EXT_ID_OFFSETS, TMP_EXT_ID_OFFSETS},
        {SGS_SECTION_EXT_ID_BYTES, TMP_EXT_ID_BYTES},
        {SGS_SECTION_STORED_OFFSETS, TMP_STORED_OFFSETS},
        {SGS_SECTION_STORED_BYTES, TMP_STORED_BYTES},
        {SGS_SECTION_EXT_ID_RANKS, -1},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0] && rc == 0; i++) {
        int t = order[i].tmp;
        if (t >= 0)
            rc = append_section(w, table, order[i].kind, NULL, 0, w->tmp_path[t],
                                sgs_ofile_checksum(w->tmp[t]), err);
        else if (order[i].kind == SGS_SECTION_TERM_HASH)
            rc = append_section(w, table, order[i].kind, hash_sec, hash_size, NULL, 0, err);
        else if (order[i].kind == SGS_SECTION_EXT_ID_RANKS)
            rc = append_section(w, table, order[i].kind, rank_sec, (size_t)w->n_docs * 4, NULL,
                                0, err);
        else
            rc = append_section(w, table, order[i].kind, w->doc_len, (size_t)w->n_docs * 4,
                                NULL, 0, err);
    }
    free(hash_sec);
    free(rank_sec);
    if (rc != 0)
        return rc;
    if (sgs_ofile_flush(w->out, err) != 0)
        return SGS_EIO;

    uint8_t header[TABLE_END];
    encode_header(w, table, header);
    if (pwrite(sgs_ofile_fd(w->out), header, sizeof header, 0) != (ssize_t)sizeof header)
        return sgs_err_set(err, SGS_EIO, "pwrite %s: %s", w->path, strerror(errno));
    rc = sgs_ofile_close(w->out, true, err);
    w->out = NULL;
    if (rc != 0)
        return rc;
    w->finished = true;
    for (int i = 0; i < TMP_COUNT; i++) {
        sgs_ofile_close(w->tmp[i], false, NULL);
        w->tmp[i] = NULL;
        unlink(w->tmp_path[i]);
    }
    return sgs_file_xxh3(w->path, file_xxh3, file_size, err);
}

void sgs_shard_writer_free(sgs_shard_writer *w)
{
    if (w == NULL)
        return;
    if (w->out != NULL)
        sgs_ofile_close(w->out, false, NULL);
    if (!w->finished)
        unlink(w->path);
    for (int i = 0; i < TMP_COUNT; i++) {
        if (w->tmp[i] != NULL)
            sgs_ofile_close(w->tmp[i], false, NULL);
        if (w->tmp_path[i] != NULL)
            unlink(w->tmp_path[i]);
        free(w->tmp_path[i]);
    }
    if (w->postings_xxh != NULL)
        XXH3_freeState(w->postings_xxh);
    sgs_term_encoder_free(w->enc);
    free(w->doc_len);
    free(w->term_hashes);
    free(w->path);
    free(w);
}
