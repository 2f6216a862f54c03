/* Tests of the shard reader (common/shard_reader.h).
 *
 * Two independent sources of shard files: a builder here that lays out bytes
 * straight from the tables of shard_format.h (so the reader is checked against
 * the spec, not against the writer), and common/shard_writer.c (round trips
 * of random shards). Corruption tests mutate built bytes, re-seal the
 * checksums where the structure checks are the target, and expect
 * SGS_ECORRUPT with a message naming the section.
 *
 * Random inputs come from a splitmix64 seeded by SGS_TEST_SEED when set, else
 * by the clock; the seed is printed so a failure reruns with the same inputs. */
#include "common/shard_reader.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bm25.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/postings.h"
#include "common/shard_writer.h"

#define TABLE_END (SGS_SHARD_HEADER_SIZE + SGS_SECTION_COUNT * SGS_SHARD_SECTION_ENTRY_SIZE)

/* ---- a spec-driven shard builder ----------------------------------------- */

typedef struct fx_term {
    const char *term;
    uint32_t n;
    uint32_t *docs;
    uint32_t *tfs;
    uint32_t global_df;
} fx_term;

typedef struct fixture {
    uint64_t n_docs;
    uint64_t corpus_n_docs;
    double avg_len;
    fx_term terms[8];
    size_t n_terms;
    float max_scale; /* multiplies stored maxima; 1 for a valid file */
} fixture;

static uint32_t fx_doc_len(uint64_t d)
{
    return (uint32_t)(d % 7) + 1;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void buf_f32(sgs_buf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    sgs_buf_put_u32(b, v);
}

static double fx_score(const fixture *fx, const fx_term *t, uint32_t doc, uint32_t tf)
{
    double idf = sgs_bm25_idf(fx->corpus_n_docs, t->global_df);
    return sgs_bm25_score(idf, tf, sgs_bm25_norm(fx_doc_len(doc), fx->avg_len));
}

/* One term's postings bytes, per the POSTINGS tables. */
static void build_postings(const fixture *fx, const fx_term *t, sgs_buf *out, float *max_score)
{
    size_t n_blocks = (t->n + SGS_BLOCK_LEN - 1) / SGS_BLOCK_LEN;
    double term_max = 0;
    sgs_buf table, data;
    sgs_buf_init(&table);
    sgs_buf_init(&data);
    bool dense = (uint64_t)t->n * SGS_SHARD_DENSE_DIVISOR > fx->n_docs;
    for (size_t b = 0; b < n_blocks; b++) {
        size_t first = b * SGS_BLOCK_LEN;
        size_t count = t->n - first < SGS_BLOCK_LEN ? t->n - first : SGS_BLOCK_LEN;
        uint32_t gaps[SGS_BLOCK_LEN], tfm1[SGS_BLOCK_LEN];
        uint32_t prev = first == 0 ? UINT32_MAX : t->docs[first - 1];
        double block_max = 0;
        for (size_t i = 0; i < count; i++) {
            uint32_t doc = t->docs[first + i];
            gaps[i] = doc - prev - 1;
            prev = doc;
            tfm1[i] = t->tfs[first + i] - 1;
            double s = fx_score(fx, t, doc, t->tfs[first + i]);
            block_max = s > block_max ? s : block_max;
        }
        term_max = block_max > term_max ? block_max : term_max;
        unsigned doc_bits = sgs_bits_max(gaps, count), tf_bits = sgs_bits_max(tfm1, count);
        uint32_t off = (uint32_t)data.len;
        if (dense) {
            sgs_buf_put_u32(&table, off);
            sgs_buf_putc(&table, (uint8_t)tf_bits);
            sgs_buf_zero(&table, 3);
        } else {
            sgs_buf_put_u32(&table, t->docs[first + count - 1]);
            sgs_buf_put_u32(&table, off);
            buf_f32(&table, sgs_float_ceil(block_max) * fx->max_scale);
            sgs_buf_putc(&table, (uint8_t)doc_bits);
            sgs_buf_putc(&table, (uint8_t)tf_bits);
            sgs_buf_putc(&table, (uint8_t)(count - 1));
            sgs_buf_putc(&table, 0);
            sgs_buf_reserve(&data, 16 * 32);
            data.len += sgs_pack(gaps, count, doc_bits, data.data + data.len);
        }
        sgs_buf_reserve(&data, 16 * 32);
        data.len += sgs_pack(tfm1, count, tf_bits, data.data + data.len);
    }
    if (dense) {
        size_t words = (size_t)((fx->n_docs + 63) / 64);
        uint64_t *bits = calloc(words, 8);
        for (uint32_t i = 0; i < t->n; i++)
            bits[t->docs[i] / 64] |= 1ull << (t->docs[i] % 64);
        for (size_t w = 0; w < words; w++)
            sgs_buf_put_u64(out, bits[w]);
        uint32_t rank = 0;
        for (size_t w = 0; w < words; w++) {
            if (w % SGS_SHARD_RANK_WORDS == 0)
                sgs_buf_put_u32(out, rank);
            rank += (uint32_t)__builtin_popcountll(bits[w]);
        }
        free(bits);
    }
    sgs_buf_append(out, table.data, table.len);
    sgs_buf_append(out, data.data, data.len);
    sgs_buf_fini(&table);
    sgs_buf_fini(&data);
    *max_score = sgs_float_ceil(term_max) * fx->max_scale;
}

/* Recomputes every section checksum, the table checksum and the header
 * checksum, so only structure checks can object to a mutation. */
static void reseal(sgs_buf *f)
{
    for (uint32_t i = 0; i < SGS_SECTION_COUNT; i++) {
        uint8_t *e = f->data + SGS_SHARD_HEADER_SIZE + i * SGS_SHARD_SECTION_ENTRY_SIZE;
        uint64_t off = sgs_load_u64(e + 8), size = sgs_load_u64(e + 16);
        if (off <= f->len && size <= f->len - off)
            put64(e + 24, sgs_hash64(f->data + off, size));
    }
    put64(f->data + 104, sgs_hash64(f->data + SGS_SHARD_HEADER_SIZE,
                                    SGS_SECTION_COUNT * SGS_SHARD_SECTION_ENTRY_SIZE));
    put64(f->data + 120, sgs_hash64(f->data, 120));
}

/* The fixture's ids while build_file() sorts their docs. */
static char (*sort_ctx_ids)[24];

static int id_order_cmp(const void *x, const void *y)
{
    return strcmp(sort_ctx_ids[*(const uint32_t *)x], sort_ctx_ids[*(const uint32_t *)y]);
}

/* The whole file, sections in kind order after the table (the writer puts
 * POSTINGS first; the spec allows any order). */
static void build_file(const fixture *fx, sgs_buf *f)
{
    sgs_buf sec[SGS_SECTION_COUNT + 1];
    for (int k = 1; k <= (int)SGS_SECTION_COUNT; k++)
        sgs_buf_init(&sec[k]);
    uint64_t n_postings = 0, n_tokens = 0;
    for (size_t t = 0; t < fx->n_terms; t++) {
        const fx_term *term = &fx->terms[t];
        bool dense = (uint64_t)term->n * SGS_SHARD_DENSE_DIVISOR > fx->n_docs;
        while (sec[SGS_SECTION_POSTINGS].len % (dense ? 8 : 4) != 0)
            sgs_buf_putc(&sec[SGS_SECTION_POSTINGS], 0);
        uint64_t start = sec[SGS_SECTION_POSTINGS].len;
        float max_score;
        build_postings(fx, term, &sec[SGS_SECTION_POSTINGS], &max_score);
        size_t len = strlen(term->term);
        sgs_buf *e = &sec[SGS_SECTION_TERM_ENTRIES];
        sgs_buf_put_u64(e, sgs_hash64(term->term, len));
        sgs_buf_put_u64(e, start);
        sgs_buf_put_u64(e, sec[SGS_SECTION_POSTINGS].len - start);
        sgs_buf_put_u32(e, (uint32_t)sec[SGS_SECTION_TERM_STRINGS].len);
        sgs_buf_put_u32(e, term->n);
        sgs_buf_put_u32(e, term->global_df);
        buf_f32(e, max_score);
        sgs_buf_putc(e, (uint8_t)len);
        sgs_buf_putc(e, dense ? SGS_POSTINGS_BITSET : SGS_POSTINGS_BLOCKS);
        sgs_buf_zero(e, 6);
        sgs_buf_append(&sec[SGS_SECTION_TERM_STRINGS], term->term, len);
        n_postings += term->n;
    }
    uint64_t n_slots = 2;
    while (n_slots < 2 * fx->n_terms)
        n_slots *= 2;
    uint32_t *slots = calloc(n_slots, 4);
    for (size_t t = 0; t < fx->n_terms; t++) {
        uint64_t i = sgs_hash64(fx->terms[t].term, strlen(fx->terms[t].term)) & (n_slots - 1);
        while (slots[i] != 0)
            i = (i + 1) & (n_slots - 1);
        slots[i] = (uint32_t)t + 1;
    }
    sgs_buf_put_u64(&sec[SGS_SECTION_TERM_HASH], n_slots);
    for (uint64_t i = 0; i < n_slots; i++)
        sgs_buf_put_u32(&sec[SGS_SECTION_TERM_HASH], slots[i]);
    free(slots);
    sgs_buf_put_u64(&sec[SGS_SECTION_EXT_ID_OFFSETS], 0);
    sgs_buf_put_u64(&sec[SGS_SECTION_STORED_OFFSETS], 0);
    for (uint64_t d = 0; d < fx->n_docs; d++) {
        sgs_buf_put_u32(&sec[SGS_SECTION_DOC_LENGTHS], fx_doc_len(d));
        n_tokens += fx_doc_len(d);
        sgs_buf_printf(&sec[SGS_SECTION_EXT_ID_BYTES], "d%" PRIu64, d);
        sgs_buf_put_u64(&sec[SGS_SECTION_EXT_ID_OFFSETS], sec[SGS_SECTION_EXT_ID_BYTES].len);
        sgs_buf_printf(&sec[SGS_SECTION_STORED_BYTES], "{\"n\":%" PRIu64 "}", d);
        sgs_buf_put_u64(&sec[SGS_SECTION_STORED_OFFSETS], sec[SGS_SECTION_STORED_BYTES].len);
    }

    /* EXT_ID_RANKS: "d<n>" ids in byte order, by sorting them here. */
    char (*ids)[24] = calloc(fx->n_docs + 1, sizeof *ids);
    uint32_t *order = calloc(fx->n_docs + 1, sizeof *order);
    for (uint64_t d = 0; d < fx->n_docs; d++) {
        snprintf(ids[d], sizeof ids[d], "d%" PRIu64, d);
        order[d] = (uint32_t)d;
    }
    sort_ctx_ids = ids;
    qsort(order, fx->n_docs, sizeof *order, id_order_cmp);
    uint32_t *rank = calloc(fx->n_docs + 1, sizeof *rank);
    for (uint64_t r = 0; r < fx->n_docs; r++)
        rank[order[r]] = (uint32_t)r;
    for (uint64_t d = 0; d < fx->n_docs; d++)
        sgs_buf_put_u32(&sec[SGS_SECTION_EXT_ID_RANKS], rank[d]);
    free(rank);
    free(order);
    free(ids);

    sgs_buf_init(f);
    sgs_buf_zero(f, TABLE_END);
    uint8_t *h = f->data;
    memcpy(h, SGS_SHARD_MAGIC, 8);
    put32(h + 8, SGS_SHARD_VERSION);
    put32(h + 12, SGS_SHARD_HEADER_SIZE);
    put32(h + 16, 0);
    put32(h + 20, 1);
    put64(h + 24, 0x1234);
    put64(h + 32, fx->n_docs);
    put64(h + 40, fx->corpus_n_docs);
    memcpy(h + 48, &fx->avg_len, 8);
    put64(h + 56, fx->n_terms);
    put64(h + 64, n_postings);
    put64(h + 72, n_tokens);
    put32(h + 80, SGS_TOKENIZER_UNICODE_LN_SIMPLE_LOWER);
    put32(h + 84, 255);
    float k1 = (float)SGS_BM25_K1, b = (float)SGS_BM25_B;
    memcpy(h + 88, &k1, 4);
    memcpy(h + 92, &b, 4);
    put32(h + 96, SGS_SHARD_DENSE_DIVISOR);
    put32(h + 100, SGS_SECTION_COUNT);
    for (uint32_t k = 1; k <= SGS_SECTION_COUNT; k++) {
        while (f->len % 8 != 0)
            sgs_buf_putc(f, 0);
        uint8_t *e = f->data + SGS_SHARD_HEADER_SIZE + (k - 1) * SGS_SHARD_SECTION_ENTRY_SIZE;
        put32(e, k);
        put64(e + 8, f->len);
        put64(e + 16, sec[k].len);
        sgs_buf_append(f, sec[k].data, sec[k].len);
        sgs_buf_fini(&sec[k]);
    }
    reseal(f);
}

/* The standard fixture: 5000 docs; "al" and "alpha" (a prefix pair, blocks),
 * "beta" (a bitset with 20 tf blocks and several rank samples), "delta"
 * (blocks, two of them), "gamma" (one posting, tf 300). */
static fixture standard(void)
{
    static uint32_t al_d[] = {0}, al_t[] = {1};
    static uint32_t alpha_d[] = {3, 4990}, alpha_t[] = {1, 4};
    static uint32_t beta_d[2500], beta_t[2500];
    static uint32_t delta_d[143], delta_t[143];
    static uint32_t gamma_d[] = {4999}, gamma_t[] = {300};
    for (uint32_t i = 0; i < 2500; i++) {
        beta_d[i] = 2 * i;
        beta_t[i] = i % 3 + 1;
    }
    for (uint32_t i = 0; i < 143; i++) {
        delta_d[i] = 35 * i;
        delta_t[i] = i % 5 + 1;
    }
    fixture fx = {.n_docs = 5000, .corpus_n_docs = 20000, .avg_len = 4.0, .max_scale = 1};
    fx.terms[0] = (fx_term){"al", 1, al_d, al_t, 11};
    fx.terms[1] = (fx_term){"alpha", 2, alpha_d, alpha_t, 2};
    fx.terms[2] = (fx_term){"beta", 2500, beta_d, beta_t, 9000};
    fx.terms[3] = (fx_term){"delta", 143, delta_d, delta_t, 400};
    fx.terms[4] = (fx_term){"gamma", 1, gamma_d, gamma_t, 1};
    fx.n_terms = 5;
    return fx;
}

static char *write_temp(const sgs_buf *f)
{
    char *path = strdup("/tmp/sgs-test-shard-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, f->data, f->len), (ssize_t)f->len);
    close(fd);
    return path;
}

/* Opens bytes as a shard file with flags; the file is removed at once (the
 * mapping keeps it alive). */
static sgs_shard *open_bytes(const sgs_buf *f, unsigned flags, sgs_err *err)
{
    char *path = write_temp(f);
    sgs_shard *s = sgs_shard_open(path, flags, err);
    unlink(path);
    free(path);
    return s;
}

#define ALL (SGS_SHARD_VERIFY_CHECKSUMS | SGS_SHARD_VERIFY_STRUCTURE)

static void expect_failure(const sgs_buf *f, unsigned flags, int code, const char *needle)
{
    sgs_err err = {0};
    sgs_shard *s = open_bytes(f, flags, &err);
    cr_assert_null(s, "expected failure with '%s'", needle);
    cr_assert_eq(err.code, code, "code %d (%s)", err.code, err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
}

static uint8_t *section_at(sgs_buf *f, uint32_t kind)
{
    return f->data + sgs_load_u64(f->data + SGS_SHARD_HEADER_SIZE +
                                  (kind - 1) * SGS_SHARD_SECTION_ENTRY_SIZE + 8);
}

static uint8_t *table_entry(sgs_buf *f, uint32_t kind)
{
    return f->data + SGS_SHARD_HEADER_SIZE + (kind - 1) * SGS_SHARD_SECTION_ENTRY_SIZE;
}

/* ---- valid files --------------------------------------------------------- */

Test(shard_reader, spec_built_file_opens_verifies_and_reads_back)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    sgs_err err = {0};
    sgs_shard *s = open_bytes(&f, ALL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    const sgs_shard_header *h = sgs_shard_header_get(s);
    cr_assert_eq(h->n_docs, 5000);
    cr_assert_eq(h->corpus_n_docs, 20000);
    cr_assert_eq(h->n_terms, 5);
    cr_assert_eq(h->generation, 0x1234);
    cr_assert_eq(sgs_shard_file_size(s), f.len);
    cr_assert_eq(sgs_shard_section_get(s, SGS_SECTION_TERM_HASH)->size, 8 + 4 * 16);
    cr_assert_null(sgs_shard_section_get(s, 0));
    cr_assert_null(sgs_shard_section_get(s, SGS_SECTION_COUNT + 1));

    uint32_t docs[2500], tfs[2500];
    for (size_t t = 0; t < fx.n_terms; t++) {
        const fx_term *want = &fx.terms[t];
        int64_t i = sgs_shard_find_term(s, want->term, strlen(want->term));
        cr_assert_eq(i, (int64_t)t, "term %s", want->term);
        sgs_term_entry e;
        sgs_shard_term_entry(s, (uint64_t)i, &e);
        cr_assert_eq(e.shard_df, want->n);
        cr_assert_eq(e.global_df, want->global_df);
        cr_assert_eq(e.term_len, strlen(want->term));
        cr_assert_eq(memcmp(sgs_shard_term_bytes(s, &e), want->term, e.term_len), 0);
        cr_assert_not_null(sgs_shard_term_postings_bytes(s, &e));
        cr_assert_eq(sgs_shard_decode_postings(s, &e, docs, tfs, &err), 0, "%s", err.msg);
        cr_assert_eq(memcmp(docs, want->docs, want->n * 4), 0, "docs of %s", want->term);
        cr_assert_eq(memcmp(tfs, want->tfs, want->n * 4), 0, "tfs of %s", want->term);
        cr_assert_eq(sgs_shard_decode_postings(s, &e, docs, NULL, &err), 0);
    }
    sgs_term_entry beta;
    sgs_shard_term_entry(s, 2, &beta);
    cr_assert_eq(beta.encoding, SGS_POSTINGS_BITSET);
    sgs_term_entry delta;
    sgs_shard_term_entry(s, 3, &delta);
    cr_assert_eq(delta.encoding, SGS_POSTINGS_BLOCKS);

    cr_assert_eq(sgs_shard_find_term(s, "alph", 4), -1);
    cr_assert_eq(sgs_shard_find_term(s, "alphas", 6), -1);
    cr_assert_eq(sgs_shard_find_term(s, "", 0), -1);
    cr_assert_eq(sgs_shard_find_term(s, "zzz", 3), -1);

    size_t len;
    const char *id = sgs_shard_ext_id(s, 4321, &len);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(id, "d4321", 5), 0);
    const char *stored = sgs_shard_stored(s, 7, &len);
    cr_assert_eq(len, 7);
    cr_assert_eq(memcmp(stored, "{\"n\":7}", 7), 0);
    cr_assert_eq(sgs_shard_doc_length(s, 13), fx_doc_len(13));
    cr_assert_eq(sgs_shard_doc_length(s, 5000), 0);
    cr_assert_null(sgs_shard_ext_id(s, 5000, &len));
    cr_assert_null(sgs_shard_stored(s, UINT32_MAX, &len));
    sgs_shard_close(s);
    sgs_buf_fini(&f);
}

Test(shard_reader, empty_shard_is_valid)
{
    fixture fx = {.n_docs = 0, .corpus_n_docs = 10, .avg_len = 2.5, .max_scale = 1};
    sgs_buf f;
    build_file(&fx, &f);
    sgs_err err = {0};
    sgs_shard *s = open_bytes(&f, ALL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(sgs_shard_find_term(s, "a", 1), -1);
    sgs_shard_close(s);
    sgs_shard_close(NULL);
    sgs_buf_fini(&f);
}

/* The served copy is the reader's own: the whole-file XXH3 is that of the
 * bytes loaded, and truncating or rewriting the file afterwards changes no
 * lookup (a mapping would fault or see the new bytes). The mapped mode reads
 * the same values. */
Test(shard_reader, loaded_copy_survives_the_file_being_truncated_and_rewritten)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    char *path = write_temp(&f);
    sgs_err err = {0};
    sgs_shard *s = sgs_shard_open(path, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    uint64_t xxh3 = 0;
    cr_assert(sgs_shard_file_xxh3(s, &xxh3));
    cr_assert_eq(xxh3, sgs_hash64(f.data, f.len));
    cr_assert_eq(truncate(path, 200), 0);
    FILE *w = fopen(path, "r+b");
    cr_assert_not_null(w);
    cr_assert_eq(fwrite("garbage!", 1, 8, w), 8);
    fclose(w);
    cr_assert_eq(sgs_shard_verify_checksums(s, &err), 0, "%s", err.msg);
    cr_assert_eq(sgs_shard_verify_structure(s, &err), 0, "%s", err.msg);
    size_t len;
    const char *stored = sgs_shard_stored(s, 4999, &len);
    cr_assert_not_null(stored);
    cr_assert_eq(len, 10);
    cr_assert_eq(memcmp(stored, "{\"n\":4999}", len), 0);
    sgs_shard_close(s);

    cr_assert_eq(truncate(path, 0), 0);
    FILE *again = fopen(path, "wb");
    cr_assert_not_null(again);
    cr_assert_eq(fwrite(f.data, 1, f.len, again), f.len);
    fclose(again);
    s = sgs_shard_open(path, SGS_SHARD_MAPPED, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_not(sgs_shard_file_xxh3(s, &xxh3), "a lazy mapping has read nothing yet");
    cr_assert_eq(sgs_shard_find_term(s, "delta", 5), 3);
    sgs_shard_close(s);
    s = sgs_shard_open(path, SGS_SHARD_MAPPED | SGS_SHARD_VERIFY_CHECKSUMS, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(sgs_shard_file_xxh3(s, &xxh3));
    cr_assert_eq(xxh3, sgs_hash64(f.data, f.len));
    sgs_shard_close(s);
    unlink(path);
    free(path);
    sgs_buf_fini(&f);
}

/* A FIFO in the shard's place is refused at once, not waited on. */
Test(shard_reader, fifo_is_not_a_regular_file)
{
    char path[] = "/tmp/sgs-test-fifo-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    unlink(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    sgs_err err = {0};
    cr_assert_null(sgs_shard_open(path, 0, &err));
    cr_assert_eq(err.code, SGS_EIO);
    cr_assert(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
    unlink(path);
}

/* ---- header and section table --------------------------------------------- */

Test(shard_reader, missing_file_and_empty_file)
{
    sgs_err err = {0};
    cr_assert_null(sgs_shard_open("/nonexistent/shard.sgs", 0, &err));
    cr_assert_eq(err.code, SGS_ENOTFOUND);
    cr_assert(strstr(err.msg, "/nonexistent/shard.sgs") != NULL);
    sgs_buf f;
    sgs_buf_init(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "header: file of 0 bytes");
    sgs_buf_fini(&f);
}

Test(shard_reader, bad_magic_version_and_header_checksum)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    f.data[0] = 'X';
    expect_failure(&f, 0, SGS_ECORRUPT, "header: bad magic");
    f.data[0] = 'S';
    put32(f.data + 8, SGS_SHARD_VERSION + 1);
    reseal(&f);
    expect_failure(&f, 0, SGS_EVERSION, "format version 3");
    put32(f.data + 8, 1); /* before EXT_ID_RANKS */
    reseal(&f);
    expect_failure(&f, 0, SGS_EVERSION, "format version 1");
    put32(f.data + 8, SGS_SHARD_VERSION);
    f.data[33] ^= 1; /* n_docs, not resealed */
    expect_failure(&f, 0, SGS_ECORRUPT, "header: checksum mismatch");
    sgs_buf_fini(&f);
}

Test(shard_reader, truncated_header_and_sections)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    size_t full = f.len;
    f.len = 200;
    expect_failure(&f, 0, SGS_ECORRUPT, "shorter than the header and section table");
    f.len = TABLE_END - 1;
    expect_failure(&f, 0, SGS_ECORRUPT, "shorter than the header and section table");
    f.len = full - 1;
    expect_failure(&f, 0, SGS_ECORRUPT, "section ext_id_ranks: [");
    f.len = full;
    sgs_buf_fini(&f);
}

Test(shard_reader, bad_header_fields)
{
    struct {
        size_t offset;
        uint32_t value;
        const char *needle;
    } cases[] = {
        {16, 1, "shard id not below shard count"},
        {20, 0, "shard count is 0"},
        {80, 7, "unknown tokenizer"},
        {84, 100, "maximum token bytes"},
        {96, 16, "dense divisor"},
        {100, 9, "n_sections is 9, not 10"}, /* the count before EXT_ID_RANKS */
        {112, 1, "reserved bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture fx = standard();
        sgs_buf f;
        build_file(&fx, &f);
        put32(f.data + cases[i].offset, cases[i].value);
        reseal(&f);
        expect_failure(&f, 0, SGS_ECORRUPT, cases[i].needle);
        sgs_buf_fini(&f);
    }
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    put64(f.data + 40, 4999); /* corpus docs below shard docs */
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "n_docs exceeds corpus n_docs");
    put64(f.data + 40, 20000);
    double zero = 0;
    memcpy(f.data + 48, &zero, 8);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "corpus average length");
    sgs_buf_fini(&f);
}

Test(shard_reader, bad_section_table)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    uint8_t saved[TABLE_END];
    memcpy(saved, f.data, TABLE_END);

    put32(table_entry(&f, 3), 4);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section table: entry 2 (offset 192) has kind 4");
    memcpy(f.data, saved, TABLE_END);

    f.data[128] ^= 1; /* not resealed */
    expect_failure(&f, 0, SGS_ECORRUPT, "section table: checksum mismatch");
    memcpy(f.data, saved, TABLE_END);

    put32(table_entry(&f, 5) + 4, 1);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section doc_lengths: flags not zero");
    memcpy(f.data, saved, TABLE_END);

    put64(table_entry(&f, 7) + 8, sgs_load_u64(table_entry(&f, 7) + 8) + 4);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section ext_id_bytes: offset");
    memcpy(f.data, saved, TABLE_END);

    put64(table_entry(&f, 1) + 8, 128);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "inside the header or section table");
    memcpy(f.data, saved, TABLE_END);

    put64(table_entry(&f, 9) + 16, UINT64_MAX - 8);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "past the end of the file");
    memcpy(f.data, saved, TABLE_END);

    put64(table_entry(&f, 4) + 8, sgs_load_u64(table_entry(&f, 3) + 8));
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "overlap");
    memcpy(f.data, saved, TABLE_END);

    put64(table_entry(&f, 2) + 16, sgs_load_u64(table_entry(&f, 2) + 16) - 48);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section term_entries: size");
    memcpy(f.data, saved, TABLE_END);

    put64(section_at(&f, SGS_SECTION_TERM_HASH), 12);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section term_hash: n_slots 12");
    put64(section_at(&f, SGS_SECTION_TERM_HASH), 16);
    reseal(&f);

    put64(section_at(&f, SGS_SECTION_EXT_ID_OFFSETS), 1);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section ext_id_offsets: first offset 1");
    put64(section_at(&f, SGS_SECTION_EXT_ID_OFFSETS), 0);
    reseal(&f);

    uint8_t *last = section_at(&f, SGS_SECTION_STORED_OFFSETS) + 8 * 5000;
    put64(last, sgs_load_u64(last) - 1);
    reseal(&f);
    expect_failure(&f, 0, SGS_ECORRUPT, "section stored_offsets: last offset");
    sgs_buf_fini(&f);
}

Test(shard_reader, section_checksums_only_with_the_flag)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    section_at(&f, SGS_SECTION_POSTINGS)[5] ^= 0x10;
    expect_failure(&f, SGS_SHARD_VERIFY_CHECKSUMS, SGS_ECORRUPT,
                   "section postings: checksum mismatch");
    sgs_err err = {0};
    sgs_shard *s = open_bytes(&f, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(sgs_shard_verify_checksums(s, &err), SGS_ECORRUPT);
    sgs_shard_close(s);
    sgs_buf_fini(&f);
}

/* ---- structure ------------------------------------------------------------ */

Test(shard_reader, terms_out_of_order)
{
    fixture fx = standard();
    fx_term t = fx.terms[0];
    fx.terms[0] = fx.terms[1];
    fx.terms[1] = t; /* "alpha" before "al" */
    sgs_buf f;
    build_file(&fx, &f);
    expect_failure(&f, ALL, SGS_ECORRUPT,
                   "section term_entries: term 1 'al': not strictly after the previous term");
    sgs_buf_fini(&f);
}

Test(shard_reader, duplicate_terms)
{
    fixture fx = standard();
    fx.terms[1] = fx.terms[0];
    sgs_buf f;
    build_file(&fx, &f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "not strictly after");
    sgs_buf_fini(&f);
}

Test(shard_reader, doc_ids_not_increasing)
{
    fixture fx = standard();
    uint32_t docs[] = {50, 40}, tfs[] = {1, 1};
    fx.terms[1].docs = docs;
    fx.terms[1].tfs = tfs;
    sgs_buf f;
    build_file(&fx, &f);
    expect_failure(&f, ALL, SGS_ECORRUPT,
                   "section postings: term 'alpha': block 0: doc ids not increasing");
    sgs_buf_fini(&f);
}

Test(shard_reader, doc_id_past_n_docs)
{
    fixture fx = standard();
    uint32_t docs[] = {3, 5000}, tfs[] = {1, 1};
    fx.terms[1].docs = docs;
    fx.terms[1].tfs = tfs;
    sgs_buf f;
    build_file(&fx, &f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "doc id 5000 not below n_docs 5000");
    sgs_buf_fini(&f);
}

Test(shard_reader, max_scores_below_a_posting_score)
{
    fixture fx = standard();
    fx.max_scale = 0.99f;
    sgs_buf f;
    build_file(&fx, &f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "max score");
    sgs_buf_fini(&f);
}

Test(shard_reader, global_df_below_shard_df)
{
    fixture fx = standard();
    fx.terms[3].global_df = 142;
    sgs_buf f;
    build_file(&fx, &f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'delta': global_df 142");
    sgs_buf_fini(&f);
}

Test(shard_reader, wrong_encoding_for_density)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    uint8_t *e = section_at(&f, SGS_SECTION_TERM_ENTRIES) + 3 * SGS_SHARD_TERM_ENTRY_SIZE;
    e[41] = SGS_POSTINGS_BITSET;
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'delta': encoding 1");
    sgs_buf_fini(&f);
}

Test(shard_reader, bad_skip_entries_and_bitsets)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    uint8_t *entries = section_at(&f, SGS_SECTION_TERM_ENTRIES);
    uint8_t *post = section_at(&f, SGS_SECTION_POSTINGS);
    uint8_t *delta = post + sgs_load_u64(entries + 3 * SGS_SHARD_TERM_ENTRY_SIZE + 8);
    uint8_t *beta = post + sgs_load_u64(entries + 2 * SGS_SHARD_TERM_ENTRY_SIZE + 8);
    sgs_buf saved;
    sgs_buf_init(&saved);
    sgs_buf_append(&saved, f.data, f.len);
#define RESTORE() memcpy(f.data, saved.data, f.len)

    put32(delta, sgs_load_u32(delta) + 1);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'delta': block 0: last doc");
    RESTORE();
    delta[16 + 14] = 100; /* second block's count */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'delta': block 1: count 101, expected 15");
    RESTORE();
    delta[16 + 4] += 1; /* second block's data offset */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'delta': block 1: data offset");
    RESTORE();
    delta[12] = 40;
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "bit widths 40/");
    RESTORE();
    delta[15] = 1;
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "reserved skip byte");
    RESTORE();

    beta[8 * 78 + 7] |= 0x80; /* doc 5055 in the last word, past n_docs */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'beta': bit 5055 set past n_docs");
    RESTORE();
    beta[1] |= 0x80; /* doc 15: one bit too many */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'beta': rank 1 is 256, expected 257");
    RESTORE();
    put32(beta + 8 * 79 + 4 * 3, 7);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'beta': rank 3 is 7");
    RESTORE();
    uint8_t *tf_table = beta + 8 * 79 + 4 * 10;
    tf_table[8 * 19 + 5] = 1;
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'beta': tf block 19: reserved bytes");
    RESTORE();
    tf_table[8 * 2] += 1;
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "term 'beta': tf block 2: data offset");
    RESTORE();
#undef RESTORE
    sgs_buf_fini(&saved);
    sgs_buf_fini(&f);
}

Test(shard_reader, bad_term_hash_and_strings)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    uint8_t *slots = section_at(&f, SGS_SECTION_TERM_HASH) + 8;
    sgs_buf saved;
    sgs_buf_init(&saved);
    sgs_buf_append(&saved, f.data, f.len);

    /* A hostile table with no empty slot: lookups stay bounded. */
    for (int i = 0; i < 16; i++)
        put32(slots + 4 * i, 1);
    reseal(&f);
    sgs_err err = {0};
    sgs_shard *s = open_bytes(&f, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(sgs_shard_find_term(s, "zzz", 3), -1);
    cr_assert_eq(sgs_shard_find_term(s, "al", 2), 0);
    cr_assert_eq(sgs_shard_find_term(s, "gamma", 5), -1);
    cr_assert_eq(sgs_shard_verify_structure(s, &err), SGS_ECORRUPT);
    cr_assert(strstr(err.msg, "section term_hash") != NULL, "%s", err.msg);
    sgs_shard_close(s);
    memcpy(f.data, saved.data, f.len);

    for (int i = 0; i < 16; i++)
        if (sgs_load_u32(slots + 4 * i) == 0) {
            put32(slots + 4 * i, 99);
            break;
        }
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "past n_terms");
    memcpy(f.data, saved.data, f.len);

    section_at(&f, SGS_SECTION_TERM_STRINGS)[0] = 'b'; /* "al" -> "bl": hash and order break */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "section term_entries");
    memcpy(f.data, saved.data, f.len);

    uint8_t *e = section_at(&f, SGS_SECTION_TERM_ENTRIES);
    put32(e + 24, 1000); /* term offset far outside TERM_STRINGS */
    reseal(&f);
    s = open_bytes(&f, 0, &err);
    cr_assert_not_null(s);
    sgs_term_entry te;
    sgs_shard_term_entry(s, 0, &te);
    cr_assert_null(sgs_shard_term_bytes(s, &te));
    cr_assert_eq(sgs_shard_find_term(s, "al", 2), -1);
    sgs_err_clear(&err);
    cr_assert_eq(sgs_shard_verify_structure(s, &err), SGS_ECORRUPT);
    cr_assert(strstr(err.msg, "term offset 1000") != NULL, "%s", err.msg);
    sgs_shard_close(s);
    sgs_buf_fini(&saved);
    sgs_buf_fini(&f);
}

Test(shard_reader, bad_documents)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    sgs_buf saved;
    sgs_buf_init(&saved);
    sgs_buf_append(&saved, f.data, f.len);

    put32(section_at(&f, SGS_SECTION_DOC_LENGTHS) + 4 * 9, 0);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "section doc_lengths: doc 9: length 0");
    memcpy(f.data, saved.data, f.len);

    uint8_t *offs = section_at(&f, SGS_SECTION_EXT_ID_OFFSETS);
    put64(offs + 8 * 11, sgs_load_u64(offs + 8 * 10)); /* doc 10's id empty */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "section ext_id_bytes: doc 10: empty id");
    memcpy(f.data, saved.data, f.len);

    put64(offs + 8 * 11, 1u << 30); /* out of bounds, then decreasing */
    reseal(&f);
    sgs_err err = {0};
    sgs_shard *s = open_bytes(&f, 0, &err);
    cr_assert_not_null(s);
    size_t len;
    cr_assert_null(sgs_shard_ext_id(s, 10, &len));
    cr_assert_null(sgs_shard_ext_id(s, 11, &len));
    cr_assert_not_null(sgs_shard_ext_id(s, 12, &len));
    sgs_shard_close(s);
    expect_failure(&f, ALL, SGS_ECORRUPT, "section ext_id_offsets: doc 10");
    memcpy(f.data, saved.data, f.len);

    memcpy(section_at(&f, SGS_SECTION_EXT_ID_BYTES), "d1", 2); /* doc 0 "d0" -> "d1" */
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "section ext_id_bytes: doc 1: id 'd1' repeats doc 0");
    memcpy(f.data, saved.data, f.len);

    /* Ranks: "d0" < "d1" < "d10" < "d100" < ..., so doc 0 has rank 0, doc 1
     * rank 1 and doc 10 rank 2. */
    uint8_t *ranks = section_at(&f, SGS_SECTION_EXT_ID_RANKS);
    cr_assert_eq(sgs_load_u32(ranks + 4 * 10), 2);
    put32(ranks, 5000);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT,
                   "section ext_id_ranks: doc 0: rank 5000 is not below n_docs");
    memcpy(f.data, saved.data, f.len);
    put32(ranks + 4 * 10, 1);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT,
                   "section ext_id_ranks: doc 10: rank 1 is doc 1's as well");
    memcpy(f.data, saved.data, f.len);
    put32(ranks + 4 * 1, 2); /* a permutation still, but "d10" ranked before "d1" */
    put32(ranks + 4 * 10, 1);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT,
                   "section ext_id_ranks: doc 10 has rank 1, but its id sorts after that of doc "
                   "1, rank 2");
    memcpy(f.data, saved.data, f.len);

    section_at(&f, SGS_SECTION_STORED_BYTES)[0] = '[';
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "section stored_bytes: doc 0: not a JSON object");
    memcpy(f.data, saved.data, f.len);

    put64(f.data + 72, sgs_load_u64(f.data + 72) + 1);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "header: n_tokens");
    memcpy(f.data, saved.data, f.len);

    put64(f.data + 64, sgs_load_u64(f.data + 64) - 1);
    reseal(&f);
    expect_failure(&f, ALL, SGS_ECORRUPT, "header: n_postings");
    sgs_buf_fini(&saved);
    sgs_buf_fini(&f);
}

Test(shard_reader, decode_rejects_out_of_bounds_entries)
{
    fixture fx = standard();
    sgs_buf f;
    build_file(&fx, &f);
    sgs_err err = {0};
    sgs_shard *s = open_bytes(&f, ALL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    uint32_t docs[2500], tfs[2500];
    sgs_term_entry e;
    sgs_shard_term_entry(s, 3, &e);
    sgs_term_entry bad = e;
    bad.postings_offset = UINT64_MAX - 2;
    cr_assert_null(sgs_shard_term_postings_bytes(s, &bad));
    cr_assert_eq(sgs_shard_decode_postings(s, &bad, docs, tfs, &err), SGS_ECORRUPT);
    cr_assert(strstr(err.msg, "section postings: term 'delta': postings") != NULL, "%s", err.msg);
    sgs_err_clear(&err);
    bad = e;
    bad.postings_size -= 1;
    cr_assert_eq(sgs_shard_decode_postings(s, &bad, docs, tfs, &err), SGS_ECORRUPT);
    sgs_err_clear(&err);
    bad = e;
    bad.shard_df = 6000;
    cr_assert_eq(sgs_shard_decode_postings(s, &bad, docs, tfs, &err), SGS_ECORRUPT);
    sgs_err_clear(&err);
    bad = e;
    bad.postings_offset += 2;
    cr_assert_eq(sgs_shard_decode_postings(s, &bad, docs, tfs, &err), SGS_ECORRUPT);
    cr_assert(strstr(err.msg, "aligned") != NULL, "%s", err.msg);
    sgs_shard_close(s);
    sgs_buf_fini(&f);
}

/* ---- round trips through the writer ------------------------------------- */

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static rng seeded(const char *test)
{
    uint64_t seed;
    const char *env = getenv("SGS_TEST_SEED");
    if (env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (uint64_t)getpid();
    }
    fprintf(stderr, "shard_reader/%s: SGS_TEST_SEED=%" PRIu64 "\n", test, seed);
    return (rng){seed};
}

/* A writer for shard shard of count, generation gen, on a fresh temporary
 * file named by the template path (rewritten in place). */
static sgs_shard_writer *temp_writer(char *path, uint32_t shard, uint32_t count, uint64_t gen)
{
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    sgs_err err = {0};
    sgs_shard_writer *w = sgs_shard_writer_new(path, shard, count, gen, &err);
    cr_assert_not_null(w, "%s", err.msg);
    return w;
}

Test(shard_reader, writer_round_trips)
{
    rng r = seeded("writer_round_trips");
    for (int round = 0; round < 6; round++) {
        uint32_t n_docs = (uint32_t)(rng_next(&r) % 6000) + 1;
        uint64_t corpus = n_docs + rng_next(&r) % 5000;
        uint32_t n_terms = (uint32_t)(rng_next(&r) % 40) + 1;
        char path[] = "/tmp/sgs-test-writer-XXXXXX";
        sgs_err err = {0};
        sgs_shard_writer *w = temp_writer(path, 1, 3, 77);
        uint32_t *lengths = malloc(n_docs * sizeof *lengths);
        for (uint32_t d = 0; d < n_docs; d++) {
            char id[32], stored[64];
            int id_len = snprintf(id, sizeof id, "doc-%u-%u", round, d);
            int st_len = snprintf(stored, sizeof stored, "{\"t\":\"%u\"}", d * 7);
            lengths[d] = (uint32_t)(rng_next(&r) % 300) + 1;
            cr_assert_eq(sgs_shard_writer_add_doc(w, id, (size_t)id_len, stored, (size_t)st_len,
                                                  lengths[d], &err),
                         0, "%s", err.msg);
        }
        sgs_shard_writer_set_corpus(w, corpus, 150.5);
        uint32_t **docs = calloc(n_terms, sizeof *docs), **tfs = calloc(n_terms, sizeof *tfs);
        uint32_t *dfs = calloc(n_terms, sizeof *dfs);
        char (*names)[16] = calloc(n_terms, sizeof *names);
        for (uint32_t t = 0; t < n_terms; t++) {
            snprintf(names[t], sizeof names[t], "t%05u", t);
            /* Densities from one posting to every document. */
            uint64_t keep = 1 + rng_next(&r) % (rng_next(&r) % 2 ? 64 : 2);
            docs[t] = malloc(n_docs * sizeof **docs);
            tfs[t] = malloc(n_docs * sizeof **tfs);
            for (uint32_t d = 0; d < n_docs; d++)
                if (rng_next(&r) % keep == 0) {
                    docs[t][dfs[t]] = d;
                    tfs[t][dfs[t]++] = rng_next(&r) % 8 ? (uint32_t)(rng_next(&r) % 5) + 1
                                                        : (uint32_t)(rng_next(&r) % 70000) + 1;
                }
            if (dfs[t] == 0) {
                docs[t][0] = n_docs - 1;
                tfs[t][dfs[t]++] = 1;
            }
            uint32_t global = dfs[t] + (uint32_t)(rng_next(&r) % (corpus - n_docs + 1));
            cr_assert_eq(sgs_shard_writer_begin_term(w, names[t], strlen(names[t]), dfs[t],
                                                     global, &err),
                         0, "%s", err.msg);
            for (uint32_t i = 0; i < dfs[t]; i++)
                cr_assert_eq(sgs_shard_writer_add_posting(w, docs[t][i], tfs[t][i], &err), 0,
                             "%s", err.msg);
            cr_assert_eq(sgs_shard_writer_end_term(w, &err), 0, "%s", err.msg);
        }
        uint64_t xxh3, size;
        cr_assert_eq(sgs_shard_writer_finish(w, &xxh3, &size, &err), 0, "%s", err.msg);
        sgs_shard_writer_free(w);

        sgs_shard *s = sgs_shard_open(path, ALL, &err);
        cr_assert_not_null(s, "round %d: %s", round, err.msg);
        cr_assert_eq(sgs_shard_file_size(s), size);
        const sgs_shard_header *h = sgs_shard_header_get(s);
        cr_assert_eq(h->shard_id, 1);
        cr_assert_eq(h->shard_count, 3);
        cr_assert_eq(h->generation, 77);
        cr_assert_eq(h->n_docs, n_docs);
        cr_assert_eq(h->n_terms, n_terms);
        uint32_t *got_docs = malloc(n_docs * 4), *got_tfs = malloc(n_docs * 4);
        for (uint32_t t = 0; t < n_terms; t++) {
            int64_t i = sgs_shard_find_term(s, names[t], strlen(names[t]));
            cr_assert_eq(i, (int64_t)t);
            sgs_term_entry e;
            sgs_shard_term_entry(s, (uint64_t)i, &e);
            cr_assert_eq(e.shard_df, dfs[t]);
            cr_assert_eq(e.encoding, sgs_shard_term_is_dense(dfs[t], n_docs)
                                         ? SGS_POSTINGS_BITSET
                                         : SGS_POSTINGS_BLOCKS);
            cr_assert_eq(sgs_shard_decode_postings(s, &e, got_docs, got_tfs, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(memcmp(got_docs, docs[t], dfs[t] * 4), 0);
            cr_assert_eq(memcmp(got_tfs, tfs[t], dfs[t] * 4), 0);
        }
        for (uint32_t d = 0; d < n_docs; d += 97) {
            char id[32];
            int id_len = snprintf(id, sizeof id, "doc-%u-%u", round, d);
            size_t len;
            const char *got = sgs_shard_ext_id(s, d, &len);
            cr_assert_eq(len, (size_t)id_len);
            cr_assert_eq(memcmp(got, id, len), 0);
            cr_assert_eq(sgs_shard_doc_length(s, d), lengths[d]);
        }
        /* The ranks the writer gave are every doc's place in the byte order
         * of the ids ("doc-R-10" before "doc-R-2"), whatever n_docs is. */
        char (*ids)[24] = calloc(n_docs, sizeof *ids);
        uint32_t *order = calloc(n_docs, sizeof *order);
        for (uint32_t d = 0; d < n_docs; d++) {
            snprintf(ids[d], sizeof ids[d], "doc-%u-%u", round, d);
            order[d] = d;
        }
        sort_ctx_ids = ids;
        qsort(order, n_docs, sizeof *order, id_order_cmp);
        const uint8_t *ranks = sgs_shard_ext_id_ranks(s);
        for (uint32_t place = 0; place < n_docs; place++)
            cr_assert_eq(sgs_load_u32(ranks + 4 * (uint64_t)order[place]), place,
                         "round %d: doc %u", round, order[place]);
        free(order);
        free(ids);
        sgs_shard_close(s);
        unlink(path);
        for (uint32_t t = 0; t < n_terms; t++) {
            free(docs[t]);
            free(tfs[t]);
        }
        free(docs);
        free(tfs);
        free(dfs);
        free(names);
        free(got_docs);
        free(got_tfs);
        free(lengths);
    }
}

Test(shard_reader, writer_refuses_an_id_past_32_bit_lengths)
{
    char path[] = "/tmp/sgs-test-writer-XXXXXX";
    sgs_err err = {0};
    sgs_shard_writer *w = temp_writer(path, 0, 1, 1);
    /* Refused before a byte is read, so a short buffer is enough. */
    cr_assert_eq(sgs_shard_writer_add_doc(w, "x", (size_t)UINT32_MAX + 1, "{}", 2, 1, &err),
                 SGS_EINTERNAL);
    cr_assert(strstr(err.msg, "external id of 4294967296 bytes") != NULL, "%s", err.msg);
    cr_assert_eq(sgs_shard_writer_n_docs(w), 0);
    sgs_shard_writer_free(w);
    unlink(path);
}
