/* sgs-index inspect DIR|FILE: what an index or one shard file holds.
 *
 * The summary (header fields, counts, bytes per section, the top terms and,
 * with --term, one term's postings) is first built as one JSON value, then
 * printed either as JSON (--json) or as text from that same value, so both
 * views always agree. --dump-terms and --dump-docs instead stream JSON Lines
 * of every term of every shard and every document, in shard order and then
 * dictionary or doc id order; tests compare them with a reference, so they
 * are complete and carry exact values ("stored" is the stored JSON text as a
 * string, byte for byte).
 *
 * Invariants: shards are mapped (SGS_SHARD_MAPPED: a summary of a large file
 * reads only what it prints; a file truncated while inspect runs may kill
 * it with SIGBUS, which a one-shot tool may afford and a server may not) and
 * opened with the checks sgs_shard_open always makes (header, section table,
 * section sizes) but not fully verified, so inspect
 * works on a damaged file as far as it can; every value it prints comes from
 * a bounds-checked accessor, and a posting list that fails to decode is
 * reported (and makes the exit status 1) rather than trusted. Strings that are
 * not UTF-8 are printed with '?' for bytes >= 0x80 so output stays valid
 * JSON. Exit status: 0 done, 1 a file could not be read or decoded, 2 usage. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/flags.h"
#include "common/manifest.h"
#include "common/mem.h"
#include "common/postings.h"
#include "common/shard_reader.h"
#include "common/tokenize.h"
#include "index-tools/commands.h"
#include "index-tools/term_union.h"

#define TERM_POSTINGS_SHOWN 50
#define DUMP_FLUSH_BYTES (1u << 16)

static const char usage[] =
    "usage: sgs-index inspect DIR|FILE [--top N] [--term T] [--json] [--dump-terms] "
    "[--dump-docs]\n"
    "Prints header fields, counts, bytes per section, the top N terms (by shard df for a\n"
    "FILE, by global df for a DIR) and, with --term, the first 50 postings of the term in\n"
    "each shard. --json prints all of it as one JSON object. --dump-terms and --dump-docs\n"
    "print only JSON Lines: {term, shard, shard_df, global_df} for every term of every\n"
    "shard, {id, shard, doc, length, stored} for every document (stored: the stored\n"
    "fields' JSON text, as a string).\n"
    "Exit status: 0 done, 1 a file could not be read or decoded, 2 usage.";

typedef struct inspect_opts {
    int64_t top;
    const char *term;
    bool json;
    bool dump_terms;
    bool dump_docs;
} inspect_opts;

/* What is being inspected: a whole index (manifest set) or one file. */
typedef struct target {
    const char *path;
    sgs_manifest *manifest; /* NULL for a single file */
    json_t *manifest_json;  /* the manifest as written, for --json */
    sgs_shard **shards;
    char **shard_paths;
    uint32_t n_shards;
} target;

/* ---- strings ------------------------------------------------------------- */

/* A copy of bytes with every byte >= 0x80 replaced by '?' (and NUL by '?'),
 * for strings that are not valid UTF-8. Free with free(). */
static char *ascii_copy(const char *bytes, size_t n)
{
    char *s = sgs_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = ((unsigned char)bytes[i] >= 0x80 || bytes[i] == '\0') ? '?' : bytes[i];
    s[n] = '\0';
    return s;
}

/* A JSON string of n bytes; NULL bytes become null. */
static json_t *jstr(const char *bytes, size_t n)
{
    if (bytes == NULL)
        return json_null();
    if (sgs_utf8_check(bytes, n, NULL))
        return json_stringn(bytes, n);
    char *s = ascii_copy(bytes, n);
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* Appends a quoted JSON string of n bytes (null for NULL). */
static void put_json_string(sgs_buf *b, const char *bytes, size_t n)
{
    if (bytes == NULL) {
        sgs_buf_append(b, "null", 4);
        return;
    }
    sgs_buf_putc(b, '"');
    if (sgs_utf8_check(bytes, n, NULL)) {
        sgs_buf_json_escape(b, bytes, n);
    } else {
        char *s = ascii_copy(bytes, n);
        sgs_buf_json_escape(b, s, n);
        free(s);
    }
    sgs_buf_putc(b, '"');
}

static json_t *hex16(uint64_t v)
{
    char text[17];
    snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
    return json_string(text);
}

static json_t *juint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

/* ---- loading ------------------------------------------------------------- */

static char *join_path(const char *dir, const char *name)
{
    size_t nd = strlen(dir), nn = strlen(name);
    char *p = sgs_xmalloc(nd + nn + 2);
    memcpy(p, dir, nd);
    p[nd] = '/';
    memcpy(p + nd + 1, name, nn + 1);
    return p;
}

static void target_fini(target *t)
{
    for (uint32_t i = 0; i < t->n_shards; i++) {
        sgs_shard_close(t->shards[i]);
        free(t->shard_paths[i]);
    }
    free(t->shards);
    free(t->shard_paths);
    sgs_manifest_free(t->manifest);
    json_decref(t->manifest_json);
}

static int target_load(target *t, const char *path, sgs_err *err)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return sgs_err_set(err, SGS_EIO, "stat %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        t->n_shards = 1;
        t->shards = sgs_xcalloc(1, sizeof *t->shards);
        t->shard_paths = sgs_xcalloc(1, sizeof *t->shard_paths);
        t->shard_paths[0] = sgs_xstrdup(path);
        t->shards[0] = sgs_shard_open(path, SGS_SHARD_MAPPED, err);
        return t->shards[0] == NULL ? SGS_ECORRUPT : 0;
    }
    char *man_path = join_path(path, SGS_MANIFEST_FILE);
    t->manifest = sgs_manifest_read(man_path, err);
    if (t->manifest != NULL)
        t->manifest_json = json_load_file(man_path, 0, NULL);
    free(man_path);
    if (t->manifest == NULL)
        return SGS_ECORRUPT;
    uint32_t n = t->manifest->n_shards;
    t->shards = sgs_xcalloc(n, sizeof *t->shards);
    t->shard_paths = sgs_xcalloc(n, sizeof *t->shard_paths);
    t->n_shards = n;
    for (uint32_t i = 0; i < n; i++) {
        t->shard_paths[i] = join_path(path, t->manifest->shards[i].file);
        t->shards[i] = sgs_shard_open(t->shard_paths[i], SGS_SHARD_MAPPED, err);
        if (t->shards[i] == NULL)
            return SGS_ECORRUPT;
    }
    return 0;
}

/* ---- dumps --------------------------------------------------------------- */

static void flush_buf(sgs_buf *b, bool force)
{
    if (b->len >= DUMP_FLUSH_BYTES || (force && b->len > 0)) {
        fwrite(b->data, 1, b->len, stdout);
        sgs_buf_reset(b);
    }
}

static void dump_terms(const target *t, sgs_buf *b)
{
    for (uint32_t k = 0; k < t->n_shards; k++) {
        const sgs_shard *s = t->shards[k];
        const sgs_shard_header *h = sgs_shard_header_get(s);
        for (uint64_t i = 0; i < h->n_terms; i++) {
            sgs_term_entry e;
            sgs_shard_term_entry(s, i, &e);
            sgs_buf_append(b, "{\"term\":", 8);
            put_json_string(b, sgs_shard_term_bytes(s, &e), e.term_len);
            sgs_buf_printf(b, ",\"shard\":%u,\"shard_df\":%u,\"global_df\":%u}\n", h->shard_id,
                           e.shard_df, e.global_df);
            flush_buf(b, false);
        }
    }
}

static void dump_docs(const target *t, sgs_buf *b)
{
    for (uint32_t k = 0; k < t->n_shards; k++) {
        const sgs_shard *s = t->shards[k];
        const sgs_shard_header *h = sgs_shard_header_get(s);
        for (uint64_t d = 0; d < h->n_docs; d++) {
            size_t id_len, stored_len;
            const char *id = sgs_shard_ext_id(s, (uint32_t)d, &id_len);
            const char *stored = sgs_shard_stored(s, (uint32_t)d, &stored_len);
            sgs_buf_append(b, "{\"id\":", 6);
            put_json_string(b, id, id_len);
            sgs_buf_printf(b, ",\"shard\":%u,\"doc\":%llu,\"length\":%u,\"stored\":", h->shard_id,
                           (unsigned long long)d, sgs_shard_doc_length(s, (uint32_t)d));
            put_json_string(b, stored, stored_len);
            sgs_buf_append(b, "}\n", 2);
            flush_buf(b, false);
        }
    }
}

/* ---- the summary model --------------------------------------------------- */

static json_t *shard_summary(const sgs_shard *s, const char *path)
{
    const sgs_shard_header *h = sgs_shard_header_get(s);
    uint64_t file_bytes = sgs_shard_file_size(s);
    json_t *o = json_object();
    json_object_set_new(o, "file", jstr(path, strlen(path)));
    json_object_set_new(o, "file_bytes", juint(file_bytes));
    json_object_set_new(o, "version", juint(h->version));
    json_object_set_new(o, "shard", juint(h->shard_id));
    json_object_set_new(o, "shard_count", juint(h->shard_count));
    json_object_set_new(o, "generation", hex16(h->generation));
    json_object_set_new(o, "docs", juint(h->n_docs));
    json_object_set_new(o, "corpus_docs", juint(h->corpus_n_docs));
    json_object_set_new(o, "corpus_avg_len", json_real(h->corpus_avg_len));
    json_object_set_new(o, "terms", juint(h->n_terms));
    json_object_set_new(o, "postings", juint(h->n_postings));
    json_object_set_new(o, "tokens", juint(h->n_tokens));
    json_object_set_new(o, "tokenizer", juint(h->tokenizer));
    json_object_set_new(o, "max_token_bytes", juint(h->max_token_bytes));
    json_object_set_new(o, "bm25_k1", json_real(h->bm25_k1));
    json_object_set_new(o, "bm25_b", json_real(h->bm25_b));
    json_object_set_new(o, "dense_divisor", juint(h->dense_divisor));

    uint64_t dense = 0;
    for (uint64_t i = 0; i < h->n_terms; i++) {
        sgs_term_entry e;
        sgs_shard_term_entry(s, i, &e);
        dense += e.encoding == SGS_POSTINGS_BITSET;
    }
    json_object_set_new(o, "bitset_terms", juint(dense));

    json_t *sections = json_array();
    uint64_t table_end = SGS_SHARD_HEADER_SIZE + SGS_SECTION_COUNT * SGS_SHARD_SECTION_ENTRY_SIZE;
    uint64_t accounted = table_end;
    for (uint32_t kind = 1; kind <= SGS_SECTION_COUNT; kind++) {
        const sgs_section *sec = sgs_shard_section_get(s, kind);
        json_t *x = json_object();
        json_object_set_new(x, "name", json_string(sgs_section_name(kind)));
        json_object_set_new(x, "offset", juint(sec->offset));
        json_object_set_new(x, "bytes", juint(sec->size));
        json_object_set_new(x, "percent",
                            json_real(round(10000.0 * (double)sec->size / (double)file_bytes) /
                                      100.0));
        json_object_set_new(x, "xxh3", hex16(sec->xxh3));
        json_array_append_new(sections, x);
        accounted += sec->size;
    }
    json_object_set_new(o, "header_bytes", juint(table_end));
    json_object_set_new(o, "padding_bytes", juint(file_bytes - accounted));
    json_object_set_new(o, "sections", sections);
    return o;
}

/* The N best terms seen so far: a min-heap on (df, then term descending), so
 * the root is the one to evict. */
typedef struct top_term {
    uint64_t df;
    const char *term;
    size_t len;
    uint64_t shard_df_sum;
    uint32_t n_shards;
} top_term;

typedef struct top_terms {
    top_term *items;
    size_t n, cap;
} top_terms;

/* True when a ranks below b (lower df, or equal df and a later term). */
static bool ranks_below(const top_term *a, const top_term *b)
{
    if (a->df != b->df)
        return a->df < b->df;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->term, b->term, n) : 0;
    if (c == 0)
        c = a->len < b->len ? -1 : a->len > b->len;
    return c > 0;
}

static void top_sift_down(top_terms *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && ranks_below(&t->items[l], &t->items[m]))
            m = l;
        if (r < t->n && ranks_below(&t->items[r], &t->items[m]))
            m = r;
        if (m == i)
            return;
        top_term x = t->items[i];
        t->items[i] = t->items[m];
        t->items[m] = x;
        i = m;
    }
}

static void top_add(top_terms *t, const top_term *x)
{
    if (t->cap == 0)
        return;
    if (t->n < t->cap) {
        size_t i = t->n++;
        t->items[i] = *x;
        while (i > 0 && ranks_below(&t->items[i], &t->items[(i - 1) / 2])) {
            top_term y = t->items[i];
            t->items[i] = t->items[(i - 1) / 2];
            t->items[(i - 1) / 2] = y;
            i = (i - 1) / 2;
        }
    } else if (ranks_below(&t->items[0], x)) {
        t->items[0] = *x;
        top_sift_down(t, 0);
    }
}

static int cmp_rank_desc(const void *a, const void *b)
{
    const top_term *x = a, *y = b;
    return ranks_below(x, y) ? 1 : ranks_below(y, x) ? -1 : 0;
}

static json_t *top_terms_summary(const target *t, size_t n_top)
{
    top_terms top = {sgs_xcalloc(n_top ? n_top : 1, sizeof *top.items), 0, n_top};
    bool by_global = t->manifest != NULL;
    if (by_global) {
        idx_term_union *u = idx_term_union_new(t->shards, t->n_shards);
        const char *term;
        size_t len;
        const int64_t *entries;
        while (idx_term_union_next(u, &term, &len, &entries)) {
            top_term x = {0, term, len, 0, 0};
            for (uint32_t k = 0; k < t->n_shards; k++) {
                if (entries[k] < 0)
                    continue;
                sgs_term_entry e;
                sgs_shard_term_entry(t->shards[k], (uint64_t)entries[k], &e);
                if (e.global_df > x.df)
                    x.df = e.global_df;
                x.shard_df_sum += e.shard_df;
                x.n_shards++;
            }
            top_add(&top, &x);
        }
        idx_term_union_free(u);
    } else {
        const sgs_shard *s = t->shards[0];
        for (uint64_t i = 0; i < sgs_shard_header_get(s)->n_terms; i++) {
            sgs_term_entry e;
            sgs_shard_term_entry(s, i, &e);
            const char *bytes = sgs_shard_term_bytes(s, &e);
            /* The global df rides in shard_df_sum's place for a single file. */
            top_term x = {e.shard_df, bytes ? bytes : "", bytes ? e.term_len : 0, e.global_df, 1};
            top_add(&top, &x);
        }
    }
    qsort(top.items, top.n, sizeof *top.items, cmp_rank_desc);
    json_t *o = json_object();
    json_object_set_new(o, "by", json_string(by_global ? "global_df" : "shard_df"));
    json_t *a = json_array();
    for (size_t i = 0; i < top.n; i++) {
        const top_term *x = &top.items[i];
        json_t *e = json_object();
        json_object_set_new(e, "term", jstr(x->term, x->len));
        if (by_global) {
            json_object_set_new(e, "global_df", juint(x->df));
            json_object_set_new(e, "shard_df_sum", juint(x->shard_df_sum));
            json_object_set_new(e, "shards", juint(x->n_shards));
        } else {
            json_object_set_new(e, "shard_df", juint(x->df));
            json_object_set_new(e, "global_df", juint(x->shard_df_sum));
        }
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "terms", a);
    free(top.items);
    return o;
}

/* The tokenizer's form of what the user typed, when it is one token;
 * otherwise the bytes as given. */
typedef struct term_key {
    char bytes[SGS_TOKEN_MAX_BYTES];
    size_t len;
    size_t n_tokens;
} term_key;

static void on_token(void *ctx, const char *token, size_t len)
{
    term_key *k = ctx;
    if (k->n_tokens++ == 0) {
        memcpy(k->bytes, token, len);
        k->len = len;
    }
}

/* One shard's view of the term: df, encoding, blocks, first postings. Sets
 * *failed when the postings do not decode. */
static json_t *term_in_shard(const sgs_shard *s, const char *path, const char *term, size_t len,
                             bool *failed)
{
    const sgs_shard_header *h = sgs_shard_header_get(s);
    json_t *o = json_object();
    json_object_set_new(o, "shard", juint(h->shard_id));
    json_object_set_new(o, "file", jstr(path, strlen(path)));
    int64_t index = sgs_shard_find_term(s, term, len);
    if (index < 0) {
        json_object_set_new(o, "found", json_false());
        return o;
    }
    sgs_term_entry e;
    sgs_shard_term_entry(s, (uint64_t)index, &e);
    json_object_set_new(o, "found", json_true());
    json_object_set_new(o, "entry", juint((uint64_t)index));
    json_object_set_new(o, "shard_df", juint(e.shard_df));
    json_object_set_new(o, "global_df", juint(e.global_df));
    json_object_set_new(o, "max_score", json_real(e.max_score));
    json_object_set_new(o, "encoding",
                        json_string(e.encoding == SGS_POSTINGS_BITSET  ? "bitset"
                                    : e.encoding == SGS_POSTINGS_BLOCKS ? "blocks"
                                                                        : "unknown"));
    json_object_set_new(o, "blocks", juint((e.shard_df + SGS_BLOCK_LEN - 1) / SGS_BLOCK_LEN));
    json_object_set_new(o, "postings_offset", juint(e.postings_offset));
    json_object_set_new(o, "postings_bytes", juint(e.postings_size));
    if (e.shard_df == 0 || e.shard_df > h->n_docs) {
        json_object_set_new(o, "error", json_string("shard_df out of range"));
        *failed = true;
        return o;
    }
    uint32_t *docs = sgs_xmalloc(e.shard_df * sizeof *docs);
    uint32_t *tfs = sgs_xmalloc(e.shard_df * sizeof *tfs);
    sgs_err err = {0};
    if (sgs_shard_decode_postings(s, &e, docs, tfs, &err) != 0) {
        json_object_set_new(o, "error", json_string(err.msg));
        *failed = true;
    } else {
        json_t *a = json_array();
        uint32_t shown = e.shard_df < TERM_POSTINGS_SHOWN ? e.shard_df : TERM_POSTINGS_SHOWN;
        for (uint32_t i = 0; i < shown; i++) {
            size_t id_len;
            const char *id = sgs_shard_ext_id(s, docs[i], &id_len);
            json_t *p = json_object();
            json_object_set_new(p, "doc", juint(docs[i]));
            json_object_set_new(p, "id", jstr(id, id_len));
            json_object_set_new(p, "tf", juint(tfs[i]));
            json_array_append_new(a, p);
        }
        json_object_set_new(o, "postings", a);
        json_object_set_new(o, "truncated", json_boolean(shown < e.shard_df));
    }
    free(docs);
    free(tfs);
    return o;
}

static json_t *term_summary(const target *t, const char *typed, bool *failed)
{
    term_key key = {0};
    size_t typed_len = strlen(typed);
    sgs_tokenize(typed, typed_len, on_token, &key);
    if (key.n_tokens != 1) {
        key.len = typed_len < sizeof key.bytes ? typed_len : sizeof key.bytes;
        memcpy(key.bytes, typed, key.len);
    }
    json_t *o = json_object();
    json_object_set_new(o, "term", jstr(key.bytes, key.len));
    json_t *a = json_array();
    for (uint32_t k = 0; k < t->n_shards; k++)
        json_array_append_new(a, term_in_shard(t->shards[k], t->shard_paths[k], key.bytes,
                                               key.len, failed));
    json_object_set_new(o, "shards", a);
    return o;
}

static json_t *build_summary(const target *t, const inspect_opts *opts, bool *failed)
{
    json_t *o = json_object();
    json_object_set_new(o, "path", jstr(t->path, strlen(t->path)));
    json_object_set_new(o, "kind", json_string(t->manifest ? "index" : "shard"));
    if (t->manifest_json != NULL)
        json_object_set(o, "manifest", t->manifest_json);
    json_t *shards = json_array();
    for (uint32_t k = 0; k < t->n_shards; k++)
        json_array_append_new(shards, shard_summary(t->shards[k], t->shard_paths[k]));
    json_object_set_new(o, "shards", shards);
    json_object_set_new(o, "top_terms", top_terms_summary(t, (size_t)opts->top));
    if (opts->term != NULL)
        json_object_set_new(o, "term", term_summary(t, opts->term, failed));
    return o;
}

/* ---- text rendering of the model ----------------------------------------- */

static uint64_t uget(json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *sget(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_text(json_t *model)
{
    json_t *man = json_object_get(model, "manifest");
    if (man != NULL) {
        json_t *fields = json_object_get(man, "fields");
        printf("index %s: %llu shards, %llu docs, %llu terms, %llu postings\n",
               sget(model, "path"), (unsigned long long)uget(man, "shards"),
               (unsigned long long)uget(man, "docs"), (unsigned long long)uget(man, "terms"),
               (unsigned long long)uget(man, "postings"));
        printf("  generation %s, built %s, avg doc len %.4f, id field '%s'\n",
               sget(man, "generation"), sget(man, "build_time"),
               json_number_value(json_object_get(man, "avg_doc_len")), sget(fields, "id"));
    }
    json_t *shard;
    size_t i;
    json_array_foreach(json_object_get(model, "shards"), i, shard) {
        printf("\nshard %llu of %llu: %s (%llu bytes)\n", (unsigned long long)uget(shard, "shard"),
               (unsigned long long)uget(shard, "shard_count"), sget(shard, "file"),
               (unsigned long long)uget(shard, "file_bytes"));
        printf("  format %llu, generation %s\n", (unsigned long long)uget(shard, "version"),
               sget(shard, "generation"));
        printf("  docs %llu of %llu in the corpus (avg len %.4f), terms %llu (%llu bitsets), "
               "postings %llu, tokens %llu\n",
               (unsigned long long)uget(shard, "docs"),
               (unsigned long long)uget(shard, "corpus_docs"),
               json_real_value(json_object_get(shard, "corpus_avg_len")),
               (unsigned long long)uget(shard, "terms"),
               (unsigned long long)uget(shard, "bitset_terms"),
               (unsigned long long)uget(shard, "postings"),
               (unsigned long long)uget(shard, "tokens"));
        printf("  tokenizer %llu, max token bytes %llu, bm25 k1 %g b %g, dense divisor %llu\n",
               (unsigned long long)uget(shard, "tokenizer"),
               (unsigned long long)uget(shard, "max_token_bytes"),
               json_real_value(json_object_get(shard, "bm25_k1")),
               json_real_value(json_object_get(shard, "bm25_b")),
               (unsigned long long)uget(shard, "dense_divisor"));
        printf("  %-16s %12s %14s %7s\n", "section", "offset", "bytes", "%");
        uint64_t file_bytes = uget(shard, "file_bytes");
        printf("  %-16s %12u %14llu %6.2f%%\n", "header+table", 0u,
               (unsigned long long)uget(shard, "header_bytes"),
               100.0 * (double)uget(shard, "header_bytes") / (double)file_bytes);
        json_t *sec;
        size_t j;
        json_array_foreach(json_object_get(shard, "sections"), j, sec) {
            printf("  %-16s %12llu %14llu %6.2f%%\n", sget(sec, "name"),
                   (unsigned long long)uget(sec, "offset"), (unsigned long long)uget(sec, "bytes"),
                   json_real_value(json_object_get(sec, "percent")));
        }
        printf("  %-16s %12s %14llu\n", "padding", "",
               (unsigned long long)uget(shard, "padding_bytes"));
    }

    json_t *top = json_object_get(model, "top_terms");
    json_t *terms = json_object_get(top, "terms");
    if (json_array_size(terms) > 0) {
        bool by_global = strcmp(sget(top, "by"), "global_df") == 0;
        printf("\ntop %zu terms by %s:\n", json_array_size(terms), sget(top, "by"));
        printf(by_global ? "  %12s %8s  %s\n" : "  %12s %10s  %s\n",
               by_global ? "global_df" : "shard_df", by_global ? "shards" : "global_df", "term");
        json_t *e;
        size_t j;
        json_array_foreach(terms, j, e) {
            if (by_global)
                printf("  %12llu %8llu  %s\n", (unsigned long long)uget(e, "global_df"),
                       (unsigned long long)uget(e, "shards"), sget(e, "term"));
            else
                printf("  %12llu %10llu  %s\n", (unsigned long long)uget(e, "shard_df"),
                       (unsigned long long)uget(e, "global_df"), sget(e, "term"));
        }
    }

    json_t *term = json_object_get(model, "term");
    if (term != NULL) {
        printf("\nterm '%s':\n", sget(term, "term"));
        json_t *ts;
        size_t j;
        json_array_foreach(json_object_get(term, "shards"), j, ts) {
            if (!json_is_true(json_object_get(ts, "found"))) {
                printf("  shard %llu: not present\n", (unsigned long long)uget(ts, "shard"));
                continue;
            }
            unsigned long long blocks = (unsigned long long)uget(ts, "blocks");
            printf("  shard %llu: shard_df %llu, global_df %llu, %s, %llu block%s, max score "
                   "%.6g, %llu bytes at %llu\n",
                   (unsigned long long)uget(ts, "shard"), (unsigned long long)uget(ts, "shard_df"),
                   (unsigned long long)uget(ts, "global_df"), sget(ts, "encoding"), blocks,
                   blocks == 1 ? "" : "s", json_real_value(json_object_get(ts, "max_score")),
                   (unsigned long long)uget(ts, "postings_bytes"),
                   (unsigned long long)uget(ts, "postings_offset"));
            if (json_object_get(ts, "error") != NULL) {
                printf("    error: %s\n", sget(ts, "error"));
                continue;
            }
            printf("    %10s %8s  %s\n", "doc", "tf", "id");
            json_t *p;
            size_t q;
            json_array_foreach(json_object_get(ts, "postings"), q, p) {
                printf("    %10llu %8llu  %s\n", (unsigned long long)uget(p, "doc"),
                       (unsigned long long)uget(p, "tf"), sget(p, "id"));
            }
            if (json_is_true(json_object_get(ts, "truncated")))
                printf("    ... (first %d of %llu)\n", TERM_POSTINGS_SHOWN,
                       (unsigned long long)uget(ts, "shard_df"));
        }
    }
}

/* ---- main ---------------------------------------------------------------- */

int idx_inspect_main(int argc, char **argv)
{
    inspect_opts opts = {0};
    sgs_flag flags[] = {
        {"top", "SGS_INSPECT_TOP", SGS_FLAG_INT, "10", "how many of the most frequent terms",
         &opts.top, 0, 1000000},
        {"term", NULL, SGS_FLAG_STR, NULL, "show this term's postings (tokenized as indexed)",
         &opts.term, 0, 0},
        {"json", NULL, SGS_FLAG_BOOL, "false", "print one JSON object instead of text",
         &opts.json, 0, 0},
        {"dump-terms", NULL, SGS_FLAG_BOOL, "false",
         "print only JSON Lines {term, shard, shard_df, global_df}, every term of every shard",
         &opts.dump_terms, 0, 0},
        {"dump-docs", NULL, SGS_FLAG_BOOL, "false",
         "print only JSON Lines {id, shard, doc, length, stored}, every document; stored is "
         "the stored fields' JSON text as a string",
         &opts.dump_docs, 0, 0},
    };
    size_t n_flags = sizeof flags / sizeof flags[0];
    sgs_err err = {0};
    const char *pos[1];
    size_t n_pos = 0;
    int exit_status = sgs_flags_cli(flags, n_flags, argc, argv, "sgs-index inspect", usage,
                                    SGS_VERSION, pos, 1, &n_pos);
    if (exit_status >= 0)
        return exit_status;
    if (n_pos != 1) {
        fprintf(stderr, "sgs-index inspect: exactly one DIR or FILE is required (see --help)\n");
        return 2;
    }

    target t;
    int status = 0;
    if (target_load(&t, pos[0], &err) != 0) {
        fprintf(stderr, "sgs-index inspect: %s\n", err.msg);
        status = 1;
        goto done;
    }
    if (opts.dump_terms || opts.dump_docs) {
        sgs_buf b;
        sgs_buf_init(&b);
        if (opts.dump_terms)
            dump_terms(&t, &b);
        if (opts.dump_docs)
            dump_docs(&t, &b);
        flush_buf(&b, true);
        sgs_buf_fini(&b);
    } else {
        bool failed = false;
        json_t *model = build_summary(&t, &opts, &failed);
        if (opts.json) {
            json_dumpf(model, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
        } else {
            print_text(model);
        }
        json_decref(model);
        status = failed ? 1 : 0;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "sgs-index inspect: write stdout: %s\n", strerror(errno));
        status = 1;
    }
done:
    target_fini(&t);
    return status;
}
