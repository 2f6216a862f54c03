/* Tests of query evaluation (common/eval.h), differential against a brute-
 * force reference written here from eval.h's contract alone.
 *
 * Shards are real files from common/shard_writer.h: one-document and tiny
 * shards, shards with many ties (few lengths, tf 1), and a large one whose
 * lists span many blocks beside dense (bitset) terms. The reference decodes
 * every term's postings (sgs_shard_decode_postings) into per-document tf
 * arrays, evaluates a tree as sets over all documents, scores each match by
 * summing BM25 over the distinct positive terms in byte order, sorts all
 * matches (score descending, external id ascending) and cuts at k. Random
 * normalized trees mix every operator, nesting, NOT anywhere, duplicate,
 * rare, dense and missing terms.
 *
 * Random inputs come from a splitmix64 seeded by SGS_TEST_SEED when set, else
 * by the clock; the seed is printed so a failure reruns with the same inputs. */
#include "common/eval.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bm25.h"
#include "common/iter.h"
#include "common/shard_writer.h"

#define ALL_VERIFY (SGS_SHARD_VERIFY_CHECKSUMS | SGS_SHARD_VERIFY_STRUCTURE)

/* ---- random ---------------------------------------------------------------- */

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

static uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0;
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
    fprintf(stderr, "eval/%s: SGS_TEST_SEED=%" PRIu64 "\n", test, seed);
    return (rng){seed};
}

/* ---- shards ---------------------------------------------------------------- */

typedef struct fixture {
    char path[64];
    sgs_shard *s;
    uint32_t n_docs, n_terms;
    uint64_t corpus;
    double avg_len;
    char (*names)[16];  /* sorted term names */
    uint32_t *global_df;
    uint32_t **tf;      /* tf[t][d] from the decoded postings; 0: absent */
    uint32_t *len;
    char (*ids)[16];
} fixture;

typedef enum { SHAPE_MIXED, SHAPE_TIES, SHAPE_LARGE, SHAPE_PRUNE, SHAPE_MERGE } shape;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b); /* NUL-terminated: a prefix sorts first, as memcmp order wants */
}

/* The probability that a document holds a term of this vocabulary slot. */
static double term_density(rng *r, uint32_t n_docs)
{
    switch (rng_below(r, 5)) {
    case 0:
        return 0.05 + 0.9 * rng_unit(r); /* dense: a bitset */
    case 1:
        return 1.0 / (40 + rng_below(r, 200)); /* many blocks in large shards */
    case 2:
        return 1.0 / (1 + rng_below(r, 8)); /* very common */
    case 3:
        return 3.0 / (n_docs + 1.0); /* rare */
    default:
        return 0; /* one posting */
    }
}

/* A shard writer (shard 0 of 1, generation 5) on a fresh temporary file
 * whose name goes to path (room for 64 bytes). */
static sgs_shard_writer *temp_writer(char *path)
{
    snprintf(path, 64, "/tmp/sgs-test-eval-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    sgs_err err = {0};
    sgs_shard_writer *w = sgs_shard_writer_new(path, 0, 1, 5, &err);
    cr_assert_not_null(w, "%s", err.msg);
    return w;
}

/* Finishes and frees w, then opens its file with every check. */
static sgs_shard *finish_and_open(sgs_shard_writer *w, const char *path)
{
    sgs_err err = {0};
    uint64_t xxh3, size;
    cr_assert_eq(sgs_shard_writer_finish(w, &xxh3, &size, &err), 0, "%s", err.msg);
    sgs_shard_writer_free(w);
    sgs_shard *s = sgs_shard_open(path, ALL_VERIFY, &err);
    cr_assert_not_null(s, "%s", err.msg);
    return s;
}

static void fixture_build(fixture *fx, rng *r, uint32_t n_docs, uint32_t n_terms, shape sh)
{
    memset(fx, 0, sizeof *fx);
    fx->n_docs = n_docs;
    fx->n_terms = n_terms;
    fx->corpus = n_docs + rng_below(r, 3 * n_docs + 10);
    fx->avg_len = sh == SHAPE_TIES ? 2.5 : 20 + 100 * rng_unit(r);
    fx->len = malloc(n_docs * sizeof *fx->len);
    fx->ids = malloc(n_docs * sizeof *fx->ids);
    /* External ids from a permutation, so their order is not doc order and
     * some are prefixes of others ("7" < "71"). */
    uint32_t *perm = malloc(n_docs * sizeof *perm);
    for (uint32_t d = 0; d < n_docs; d++)
        perm[d] = d;
    for (uint32_t d = n_docs; d > 1; d--) {
        uint32_t j = rng_below(r, d), t = perm[d - 1];
        perm[d - 1] = perm[j];
        perm[j] = t;
    }
    sgs_err err = {0};
    sgs_shard_writer *w = temp_writer(fx->path);
    for (uint32_t d = 0; d < n_docs; d++) {
        snprintf(fx->ids[d], sizeof fx->ids[d], "%u", perm[d]);
        fx->len[d] = sh == SHAPE_TIES ? 1 + rng_below(r, 3) : 1 + rng_below(r, 200);
        if (sh == SHAPE_PRUNE && rng_below(r, 4) == 0) /* long ones, past 2^18 now and then */
            fx->len[d] = rng_below(r, 20) ? 1 + rng_below(r, 5000) : 1 + rng_below(r, 400000);
        cr_assert_eq(sgs_shard_writer_add_doc(w, fx->ids[d], strlen(fx->ids[d]), "{}", 2,
                                              fx->len[d], &err),
                     0, "%s", err.msg);
    }
    free(perm);
    sgs_shard_writer_set_corpus(w, fx->corpus, fx->avg_len);
    fx->names = malloc(n_terms * sizeof *fx->names);
    for (uint32_t t = 0; t < n_terms; t++)
        snprintf(fx->names[t], sizeof fx->names[t], "t%u", t);
    qsort(fx->names, n_terms, sizeof *fx->names, cmp_name);
    fx->global_df = malloc(n_terms * sizeof *fx->global_df);
    uint32_t *docs = malloc(n_docs * sizeof *docs), *tfs = malloc(n_docs * sizeof *tfs);
    /* SHAPE_MERGE: block lists that share most of their docs (a common
     * base set), so that two lists meet often, at block ends too. */
    uint8_t *base = calloc(n_docs, 1);
    for (uint32_t d = 0; sh == SHAPE_MERGE && d < n_docs; d++)
        base[d] = rng_below(r, 40) == 0;
    for (uint32_t t = 0; t < n_terms; t++) {
        double p = term_density(r, n_docs);
        double keep = 0.5 + 0.45 * rng_unit(r);
        if (sh == SHAPE_PRUNE && rng_below(r, 4) > 0)
            p = 1.0 / (3 + rng_below(r, 60)); /* many blocks each */
        uint32_t df = 0;
        for (uint32_t d = 0; d < n_docs; d++)
            if (rng_unit(r) < (sh != SHAPE_MERGE ? p : base[d] ? keep : 1.0 / 400)) {
                docs[df] = d;
                tfs[df++] = sh == SHAPE_TIES      ? 1
                            : rng_below(r, 10) > 0 ? 1 + rng_below(r, 4)
                                                   : 1 + rng_below(r, 300);
            }
        if (df == 0) {
            docs[0] = rng_below(r, n_docs);
            tfs[df++] = 1 + rng_below(r, 3);
        }
        fx->global_df[t] = df + rng_below(r, (uint32_t)(fx->corpus - n_docs) + 1);
        cr_assert_eq(sgs_shard_writer_begin_term(w, fx->names[t], strlen(fx->names[t]), df,
                                                 fx->global_df[t], &err),
                     0, "%s", err.msg);
        for (uint32_t i = 0; i < df; i++)
            cr_assert_eq(sgs_shard_writer_add_posting(w, docs[i], tfs[i], &err), 0, "%s",
                         err.msg);
        cr_assert_eq(sgs_shard_writer_end_term(w, &err), 0, "%s", err.msg);
    }
    fx->s = finish_and_open(w, fx->path);
    /* The reference reads the postings back through the decoder. */
    fx->tf = malloc(n_terms * sizeof *fx->tf);
    for (uint32_t t = 0; t < n_terms; t++) {
        fx->tf[t] = calloc(n_docs, sizeof **fx->tf);
        int64_t i = sgs_shard_find_term(fx->s, fx->names[t], strlen(fx->names[t]));
        cr_assert(i >= 0);
        sgs_term_entry e;
        sgs_shard_term_entry(fx->s, (uint64_t)i, &e);
        cr_assert_eq(sgs_shard_decode_postings(fx->s, &e, docs, tfs, &err), 0, "%s", err.msg);
        for (uint32_t j = 0; j < e.shard_df; j++)
            fx->tf[t][docs[j]] = tfs[j];
    }
    free(docs);
    free(tfs);
    free(base);
}

static void fixture_free(fixture *fx)
{
    sgs_shard_close(fx->s);
    unlink(fx->path);
    for (uint32_t t = 0; t < fx->n_terms; t++)
        free(fx->tf[t]);
    free(fx->tf);
    free(fx->names);
    free(fx->global_df);
    free(fx->len);
    free(fx->ids);
}

/* The vocabulary index of a term, or -1 when the shard lacks it. */
static int term_index(const fixture *fx, const char *term)
{
    for (uint32_t t = 0; t < fx->n_terms; t++)
        if (strcmp(fx->names[t], term) == 0)
            return (int)t;
    return -1;
}

/* ---- query trees ------------------------------------------------------------ */

static sgs_query_node *mk(sgs_arena *a, sgs_query_kind kind, uint32_t n)
{
    sgs_query_node *q = sgs_arena_zalloc(a, sizeof *q);
    q->kind = kind;
    q->n_children = n;
    if (n > 0)
        q->children = sgs_arena_zalloc(a, n * sizeof *q->children);
    return q;
}

static sgs_query_node *mk_term(sgs_arena *a, const char *t)
{
    sgs_query_node *q = mk(a, SGS_QUERY_TERM, 0);
    q->term = sgs_arena_strndup(a, t, strlen(t));
    q->term_len = (uint32_t)strlen(t);
    return q;
}

static sgs_query_node *random_term(const fixture *fx, rng *r, sgs_arena *a)
{
    char name[16];
    switch (rng_below(r, 12)) {
    case 0:
        snprintf(name, sizeof name, "m%u", rng_below(r, 3)); /* missing */
        break;
    case 1:
        snprintf(name, sizeof name, "t%u", fx->n_terms + rng_below(r, 3)); /* missing */
        break;
    default:
        return mk_term(a, fx->names[rng_below(r, fx->n_terms)]);
    }
    return mk_term(a, name);
}

/* A normalized tree: AND/OR never directly under the same kind, >= 2
 * children; NOT with one non-NOT child. */
static sgs_query_node *random_tree(const fixture *fx, rng *r, sgs_arena *a, uint32_t depth,
                                   sgs_query_kind parent)
{
    if (depth >= 4 || rng_below(r, 10) < 4)
        return random_term(fx, r, a);
    sgs_query_kind kind;
    if (parent == SGS_QUERY_AND)
        kind = SGS_QUERY_OR;
    else if (parent == SGS_QUERY_OR)
        kind = SGS_QUERY_AND;
    else
        kind = rng_below(r, 2) ? SGS_QUERY_AND : SGS_QUERY_OR;
    uint32_t n = 2 + rng_below(r, 3);
    sgs_query_node *q = mk(a, kind, n);
    for (uint32_t i = 0; i < n; i++) {
        if (rng_below(r, 5) == 0) {
            sgs_query_node *x = mk(a, SGS_QUERY_NOT, 1);
            x->children[0] = random_tree(fx, r, a, depth + 1, SGS_QUERY_NOT);
            q->children[i] = x;
        } else {
            q->children[i] = random_tree(fx, r, a, depth + 1, kind);
        }
    }
    return q;
}

/* The shapes served by dedicated paths: an AND of terms and NOT terms, an
 * OR of terms, with duplicates and missing terms now and then. */
static sgs_query_node *random_flat(const fixture *fx, rng *r, sgs_arena *a)
{
    bool is_and = rng_below(r, 2);
    uint32_t n = 2 + rng_below(r, 4);
    sgs_query_node *q = mk(a, is_and ? SGS_QUERY_AND : SGS_QUERY_OR, n);
    for (uint32_t i = 0; i < n; i++) {
        sgs_query_node *t = rng_below(r, 25) == 0
                                ? random_term(fx, r, a)
                                : mk_term(a, fx->names[rng_below(r, fx->n_terms)]);
        if (is_and && i > 0 && rng_below(r, 3) == 0) {
            sgs_query_node *x = mk(a, SGS_QUERY_NOT, 1);
            x->children[0] = t;
            t = x;
        }
        q->children[i] = t;
    }
    return q;
}

/* ---- the reference ---------------------------------------------------------- */

static void ref_match(const fixture *fx, const sgs_query_node *q, uint8_t *out)
{
    uint32_t n = fx->n_docs;
    switch (q->kind) {
    case SGS_QUERY_TERM: {
        int t = term_index(fx, q->term);
        for (uint32_t d = 0; d < n; d++)
            out[d] = t >= 0 && fx->tf[t][d] > 0;
        return;
    }
    case SGS_QUERY_NOT:
        ref_match(fx, q->children[0], out);
        for (uint32_t d = 0; d < n; d++)
            out[d] = !out[d];
        return;
    case SGS_QUERY_AND:
    case SGS_QUERY_OR: {
        uint8_t *tmp = malloc(n + 1);
        ref_match(fx, q->children[0], out);
        for (uint32_t i = 1; i < q->n_children; i++) {
            ref_match(fx, q->children[i], tmp);
            for (uint32_t d = 0; d < n; d++)
                out[d] = q->kind == SGS_QUERY_AND ? out[d] && tmp[d] : out[d] || tmp[d];
        }
        free(tmp);
        return;
    }
    }
    cr_assert_fail("bad kind");
}

/* Term names of the positive terms (reached through no NOT), deduplicated. */
static void ref_positive(const sgs_query_node *q, const char **names, uint32_t *n)
{
    if (q->kind == SGS_QUERY_NOT)
        return;
    if (q->kind == SGS_QUERY_TERM) {
        for (uint32_t i = 0; i < *n; i++)
            if (strcmp(names[i], q->term) == 0)
                return;
        names[(*n)++] = q->term;
        return;
    }
    for (uint32_t i = 0; i < q->n_children; i++)
        ref_positive(q->children[i], names, n);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct ref_hit {
    uint32_t doc;
    double score;
    const char *id;
} ref_hit;

static int cmp_ref_hit(const void *pa, const void *pb)
{
    const ref_hit *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id); /* ids hold no NUL: strcmp is memcmp order, prefix first */
}

typedef struct ref_result {
    uint64_t total;
    ref_hit *hits; /* every match, ranked */
} ref_result;

static ref_result reference(const fixture *fx, const sgs_query_node *q)
{
    uint8_t *m = malloc(fx->n_docs + 1);
    ref_match(fx, q, m);
    const char *pos[256];
    uint32_t n_pos = 0;
    ref_positive(q, pos, &n_pos);
    qsort(pos, n_pos, sizeof *pos, cmp_str_ptr);
    int idx[256];
    double idf[256];
    for (uint32_t j = 0; j < n_pos; j++) {
        idx[j] = term_index(fx, pos[j]);
        idf[j] = idx[j] >= 0 ? sgs_bm25_idf(fx->corpus, fx->global_df[idx[j]]) : 0;
    }
    ref_result res = {0, malloc((fx->n_docs + 1) * sizeof *res.hits)};
    for (uint32_t d = 0; d < fx->n_docs; d++) {
        if (!m[d])
            continue;
        double norm = sgs_bm25_norm(fx->len[d], fx->avg_len), score = 0;
        for (uint32_t j = 0; j < n_pos; j++)
            if (idx[j] >= 0 && fx->tf[idx[j]][d] > 0)
                score += sgs_bm25_score(idf[j], fx->tf[idx[j]][d], norm);
        res.hits[res.total++] = (ref_hit){d, score, fx->ids[d]};
    }
    qsort(res.hits, res.total, sizeof *res.hits, cmp_ref_hit);
    free(m);
    return res;
}

/* ---- comparing -------------------------------------------------------------- */

static void print_tree(const sgs_query_node *q, char *buf, size_t cap)
{
    size_t len = strlen(buf);
    if (len + 40 >= cap)
        return;
    switch (q->kind) {
    case SGS_QUERY_TERM:
        snprintf(buf + len, cap - len, "%s", q->term);
        return;
    case SGS_QUERY_NOT:
        snprintf(buf + len, cap - len, "-(");
        print_tree(q->children[0], buf, cap);
        strncat(buf, ")", cap - strlen(buf) - 1);
        return;
    default:
        strncat(buf, "(", cap - len - 1);
        for (uint32_t i = 0; i < q->n_children; i++) {
            if (i > 0)
                strncat(buf, q->kind == SGS_QUERY_AND ? " " : " OR ", cap - strlen(buf) - 1);
            print_tree(q->children[i], buf, cap);
        }
        strncat(buf, ")", cap - strlen(buf) - 1);
    }
}

static void check_query(const fixture *fx, const sgs_query_node *q, const ref_result *ref,
                        uint32_t k, sgs_arena *a)
{
    char text[1024] = "";
    print_tree(q, text, sizeof text);
    sgs_eval_result res;
    sgs_err err = {0};
    int rc = sgs_eval(fx->s, q, k, 0, a, &res, &err);
    cr_assert_eq(rc, 0, "%s k=%u: rc %d %s", text, k, rc, err.msg);
    cr_assert_eq(res.total, ref->total, "%s k=%u: total %" PRIu64 ", expected %" PRIu64, text,
                 k, res.total, ref->total);
    uint32_t want = ref->total < k ? (uint32_t)ref->total : k;
    cr_assert_eq(res.n_hits, want, "%s k=%u: %u hits, expected %u", text, k, res.n_hits, want);
    for (uint32_t i = 0; i < want; i++) {
        const ref_hit *h = &ref->hits[i];
        cr_assert_eq(res.hits[i].doc, h->doc,
                     "%s k=%u: hit %u is doc %u (id %s, %.17g), expected doc %u (id %s, %.17g)",
                     text, k, i, res.hits[i].doc, fx->ids[res.hits[i].doc], res.hits[i].score,
                     h->doc, h->id, h->score);
        double diff = fabs(res.hits[i].score - h->score);
        cr_assert(diff <= 1e-9 * fabs(h->score) + 1e-300 || diff == 0,
                  "%s k=%u: hit %u score %.17g, expected %.17g", text, k, i, res.hits[i].score,
                  h->score);
    }
}

static const uint32_t FIXED_KS[] = {0, 1, 2, 3, 10, 100, SGS_EVAL_MAX_K};

static void run_queries(const fixture *fx, rng *r, uint32_t n_queries)
{
    sgs_arena a, ea; /* the trees; the evaluations */
    sgs_arena_init(&a, 1 << 16);
    sgs_arena_init(&ea, 1 << 16);
    for (uint32_t i = 0; i < n_queries; i++) {
        sgs_query_node *q;
        if (rng_below(r, 20) == 0) {
            q = mk(&a, SGS_QUERY_NOT, 1); /* a NOT at the root: complement */
            q->children[0] = random_tree(fx, r, &a, 1, SGS_QUERY_NOT);
        } else if (rng_below(r, 3) == 0) {
            q = random_flat(fx, r, &a);
        } else {
            q = random_tree(fx, r, &a, 0, 0);
        }
        ref_result ref = reference(fx, q);
        uint32_t k1 = FIXED_KS[rng_below(r, sizeof FIXED_KS / sizeof *FIXED_KS)];
        uint32_t k2 = (uint32_t)(ref.total < SGS_EVAL_MAX_K ? ref.total : SGS_EVAL_MAX_K - 1) + 1;
        uint32_t ks[] = {0, k1, 1 + rng_below(r, 20), k2};
        for (uint32_t j = 0; j < 4; j++) {
            check_query(fx, q, &ref, ks[j], &ea);
            sgs_arena_reset(&ea);
        }
        free(ref.hits);
        sgs_arena_reset(&a);
    }
    sgs_arena_fini(&a);
    sgs_arena_fini(&ea);
}

/* ---- tests ------------------------------------------------------------------ */

Test(eval, differential_small_shards)
{
    rng r = seeded("differential_small_shards");
    static const uint32_t sizes[] = {1, 1, 2, 3, 7, 30, 200, 1000, 3000};
    for (uint32_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        fixture fx;
        fixture_build(&fx, &r, sizes[i], 2 + rng_below(&r, 12), SHAPE_MIXED);
        run_queries(&fx, &r, sizes[i] < 100 ? 150 : 300);
        fixture_free(&fx);
    }
}

Test(eval, differential_ties)
{
    rng r = seeded("differential_ties");
    for (uint32_t i = 0; i < 3; i++) {
        fixture fx;
        fixture_build(&fx, &r, 50 + rng_below(&r, 2000), 3 + rng_below(&r, 6), SHAPE_TIES);
        run_queries(&fx, &r, 300);
        fixture_free(&fx);
    }
}

Test(eval, differential_large_shard)
{
    rng r = seeded("differential_large_shard");
    fixture fx;
    fixture_build(&fx, &r, 120000 + rng_below(&r, 30000), 10, SHAPE_LARGE);
    run_queries(&fx, &r, 60);
    fixture_free(&fx);
}

/* The shapes with their own pruning paths: one term (blocks skipped by
 * their maxima), a -b (count by subtraction, ranking with blocks skipped),
 * a -b -c, OR of 2 - 4 terms (MaxScore), AND of 2 - 3 terms and a b -c, all
 * with the length-code bound; k from 1 to past the matches. */
static void run_pruned_shapes(const fixture *fx, rng *r, uint32_t n_queries)
{
    sgs_arena a, ea;
    sgs_arena_init(&a, 1 << 16);
    sgs_arena_init(&ea, 1 << 16);
    static const uint32_t ks[] = {1, 2, 3, 10, 37, 200};
    for (uint32_t i = 0; i < n_queries; i++) {
        const char *t[4];
        for (uint32_t j = 0; j < 4; j++)
            t[j] = fx->names[rng_below(r, fx->n_terms)];
        sgs_query_node *q;
        uint32_t form = rng_below(r, 6);
        if (form == 0) {
            q = mk_term(&a, t[0]);
        } else if (form == 3) {
            uint32_t n = 2 + rng_below(r, 3);
            q = mk(&a, SGS_QUERY_OR, n);
            for (uint32_t j = 0; j < n; j++)
                q->children[j] = mk_term(&a, t[j]);
        } else {
            /* 1: a -b; 2: a -b -c; 4: a b [c]; 5: a b -c */
            uint32_t n_pos = form <= 2 ? 1 : 2 + (form == 4 && rng_below(r, 2));
            uint32_t n_neg = form == 1 || form == 5 ? 1 : form == 2 ? 2 : 0;
            q = mk(&a, SGS_QUERY_AND, n_pos + n_neg);
            for (uint32_t j = 0; j < n_pos + n_neg; j++) {
                sgs_query_node *c = mk_term(&a, t[j]);
                if (j >= n_pos) {
                    sgs_query_node *x = mk(&a, SGS_QUERY_NOT, 1);
                    x->children[0] = c;
                    c = x;
                }
                q->children[j] = c;
            }
        }
        ref_result ref = reference(fx, q);
        check_query(fx, q, &ref, 0, &ea);
        sgs_arena_reset(&ea);
        for (uint32_t j = 0; j < 2; j++) {
            check_query(fx, q, &ref, ks[rng_below(r, sizeof ks / sizeof *ks)], &ea);
            sgs_arena_reset(&ea);
        }
        free(ref.hits);
        sgs_arena_reset(&a);
    }
    sgs_arena_fini(&a);
    sgs_arena_fini(&ea);
}

/* A row of fixtures for run_pruned_shapes(): `times` shards of n_docs plus
 * [0, docs_spread) docs and n_terms terms of the given shape, each asked
 * n_queries queries. */
typedef struct shape_run {
    uint32_t times, n_docs, docs_spread, n_terms;
    shape sh;
    uint32_t n_queries;
} shape_run;

/* The rows of a table in order, on one generator seeded for test. */
static void run_shape_table(const char *test, const shape_run *rows, size_t n_rows)
{
    rng r = seeded(test);
    for (size_t k = 0; k < n_rows; k++)
        for (uint32_t i = 0; i < rows[k].times; i++) {
            fixture fx;
            fixture_build(&fx, &r, rows[k].n_docs + rng_below(&r, rows[k].docs_spread),
                          rows[k].n_terms, rows[k].sh);
            run_pruned_shapes(&fx, &r, rows[k].n_queries);
            fixture_free(&fx);
        }
}

Test(eval, differential_pruned_shapes)
{
    static const shape_run rows[] = {
        {2, 20000, 30000, 12, SHAPE_PRUNE, 150},
        {1, 5000, 5000, 6, SHAPE_TIES, 150},
    };
    run_shape_table("differential_pruned_shapes", rows, sizeof rows / sizeof *rows);
}

/* Root ORs of 2 - 5 terms (the window-at-a-time MaxScore; a term may
 * repeat), k from 1 to past the matches, against the reference. */
Test(eval, differential_window_or)
{
    rng r = seeded("differential_window_or");
    static const uint32_t ks[] = {1, 2, 5, 10, 10, 64, 500};
    sgs_arena a, ea;
    sgs_arena_init(&a, 1 << 16);
    sgs_arena_init(&ea, 1 << 16);
    for (uint32_t f = 0; f < 2; f++) {
        fixture fx;
        fixture_build(&fx, &r, 30000 + rng_below(&r, 40000), 12, f == 0 ? SHAPE_PRUNE : SHAPE_TIES);
        for (uint32_t i = 0; i < 120; i++) {
            uint32_t n = 2 + rng_below(&r, 4);
            sgs_query_node *q = mk(&a, SGS_QUERY_OR, n);
            for (uint32_t j = 0; j < n; j++)
                q->children[j] = mk_term(&a, fx.names[rng_below(&r, fx.n_terms)]);
            ref_result ref = reference(&fx, q);
            for (uint32_t j = 0; j < 2; j++) {
                check_query(&fx, q, &ref, ks[rng_below(&r, sizeof ks / sizeof *ks)], &ea);
                sgs_arena_reset(&ea);
            }
            free(ref.hits);
            sgs_arena_reset(&a);
        }
        fixture_free(&fx);
    }
    sgs_arena_fini(&a);
    sgs_arena_fini(&ea);
}

/* Conjunctions of block lists of about the same length that share most of
 * their docs: the block merge of the two rarest (and its SIMD windows). */
Test(eval, differential_merge_shapes)
{
    static const shape_run rows[] = {
        {2, 20000, 30000, 8, SHAPE_MERGE, 120},
    };
    run_shape_table("differential_merge_shapes", rows, sizeof rows / sizeof *rows);
}

/* Length codes never exceed the length they code, lose at most 1/16 of it
 * below 2^18, keep the order, and the shard's codes are those of its lengths. */
Test(eval, length_codes)
{
    uint8_t prev = 0;
    for (uint32_t len = 0; len < (1u << 20); len++) {
        uint8_t c = sgs_bm25_len_code(len);
        uint32_t f = sgs_bm25_len_floor(c);
        cr_assert(f <= len, "len %u: code %u floor %u", len, c, f);
        if (len < (1u << 18))
            cr_assert(len - f <= len / 16, "len %u: code %u floor %u", len, c, f);
        cr_assert(c >= prev, "len %u: code %u after %u", len, c, prev);
        prev = c;
    }
    rng r = seeded("length_codes");
    for (int i = 0; i < 100000; i++) {
        uint32_t len = (uint32_t)rng_next(&r);
        cr_assert(sgs_bm25_len_floor(sgs_bm25_len_code(len)) <= len, "len %u", len);
    }
    cr_assert_eq(sgs_bm25_len_code(UINT32_MAX), 255);
    fixture fx;
    fixture_build(&fx, &r, 3000, 2, SHAPE_PRUNE);
    const uint8_t *codes = sgs_shard_len_codes(fx.s);
    for (uint32_t d = 0; d < fx.n_docs; d++)
        cr_assert_eq(codes[d], sgs_bm25_len_code(fx.len[d]), "doc %u", d);
    fixture_free(&fx);
}

Test(eval, k_limits)
{
    rng r = seeded("k_limits");
    fixture fx;
    fixture_build(&fx, &r, 500, 4, SHAPE_MIXED);
    sgs_arena a;
    sgs_arena_init(&a, 1 << 16);
    sgs_query_node *q = mk_term(&a, fx.names[0]);
    sgs_eval_result res;
    sgs_err err = {0};
    cr_assert_eq(sgs_eval(fx.s, q, SGS_EVAL_MAX_K + 1, 0, &a, &res, &err), SGS_EK_LARGE);
    cr_assert_eq(err.code, SGS_EK_LARGE);
    ref_result ref = reference(&fx, q);
    check_query(&fx, q, &ref, SGS_EVAL_MAX_K, &a);
    check_query(&fx, q, &ref, 0, &a);
    free(ref.hits);
    /* A term the shard lacks matches nothing. */
    sgs_query_node *m = mk_term(&a, "absent");
    cr_assert_eq(sgs_eval(fx.s, m, 10, 0, &a, &res, &err), 0, "%s", err.msg);
    cr_assert_eq(res.total, 0);
    cr_assert_eq(res.n_hits, 0);
    sgs_arena_fini(&a);
    fixture_free(&fx);
}

Test(eval, deadline)
{
    rng r = seeded("deadline");
    fixture fx;
    fixture_build(&fx, &r, 60000, 6, SHAPE_MIXED);
    sgs_arena a;
    sgs_arena_init(&a, 1 << 16);
    sgs_query_node *q = mk(&a, SGS_QUERY_OR, fx.n_terms);
    for (uint32_t t = 0; t < fx.n_terms; t++)
        q->children[t] = mk_term(&a, fx.names[t]);
    sgs_eval_result res;
    sgs_err err = {0};
    /* No deadline, and one far away: the query runs to the end. */
    cr_assert_eq(sgs_eval(fx.s, q, 10, 0, &a, &res, &err), 0, "%s", err.msg);
    uint64_t total = res.total;
    cr_assert_gt(total, 0);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    cr_assert_eq(sgs_eval(fx.s, q, 10, now + UINT64_C(3600000000000), &a, &res, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(res.total, total);
    /* A deadline already past: SGS_ETIMEOUT, for ranking and for counting. */
    cr_assert_eq(sgs_eval(fx.s, q, 10, now - 1, &a, &res, &err), SGS_ETIMEOUT);
    cr_assert_eq(err.code, SGS_ETIMEOUT);
    sgs_err_clear(&err);
    cr_assert_eq(sgs_eval(fx.s, q, 0, 1, &a, &res, &err), SGS_ETIMEOUT);
    sgs_arena_fini(&a);
    fixture_free(&fx);
}

/* Postings bytes flipped at random in a shard opened without verification:
 * every evaluation returns 0 or SGS_ECORRUPT and never reads out of bounds
 * (the sanitizer build checks the latter). */
Test(eval, corrupt_postings_never_crash)
{
    rng r = seeded("corrupt_postings_never_crash");
    fixture fx;
    fixture_build(&fx, &r, 5000, 8, SHAPE_MIXED);
    FILE *f = fopen(fx.path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *orig = malloc((size_t)size);
    cr_assert_eq(fread(orig, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const sgs_section *ps = sgs_shard_section_get(fx.s, SGS_SECTION_POSTINGS);
    uint64_t p_off = ps->offset, p_size = ps->size;
    char path[] = "/tmp/sgs-test-eval-bad-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    sgs_arena a;
    sgs_arena_init(&a, 1 << 16);
    uint8_t *bad = malloc((size_t)size);
    for (int round = 0; round < 40; round++) {
        memcpy(bad, orig, (size_t)size);
        uint32_t flips = 1 + rng_below(&r, 20);
        for (uint32_t i = 0; i < flips; i++)
            bad[p_off + rng_next(&r) % p_size] ^= (uint8_t)(1u << rng_below(&r, 8));
        f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(bad, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        sgs_err err = {0};
        sgs_shard *s = sgs_shard_open(path, 0, &err);
        cr_assert_not_null(s, "%s", err.msg);
        for (int qi = 0; qi < 20; qi++) {
            sgs_query_node *q = random_tree(&fx, &r, &a, 0, 0);
            sgs_eval_result res;
            sgs_err_clear(&err);
            int rc = sgs_eval(s, q, rng_below(&r, 2) ? 10 : 0, 0, &a, &res, &err);
            cr_assert(rc == 0 || rc == SGS_ECORRUPT, "rc %d: %s", rc, err.msg);
            if (rc == SGS_ECORRUPT)
                cr_assert(strstr(err.msg, "postings") != NULL, "%s", err.msg);
            sgs_arena_reset(&a);
        }
        sgs_shard_close(s);
    }
    free(bad);
    free(orig);
    unlink(path);
    sgs_arena_fini(&a);
    fixture_free(&fx);
}

/* Many threads on one shard, each with its own arena, get exactly the
 * answers one thread gets (run it under TSan to check for races too). */
#define N_THREADS 4
#define N_SHARED_QUERIES 60

typedef struct shared_run {
    const fixture *fx;
    sgs_query_node **qs;
    sgs_eval_result *want;
    uint32_t *ks;
    int mismatches;
} shared_run;

static void *shared_worker(void *arg)
{
    shared_run *run = arg;
    sgs_arena a;
    sgs_arena_init(&a, 1 << 16);
    for (int rep = 0; rep < 3; rep++)
        for (uint32_t i = 0; i < N_SHARED_QUERIES; i++) {
            sgs_eval_result res;
            sgs_err err = {0};
            const sgs_eval_result *w = &run->want[i];
            if (sgs_eval(run->fx->s, run->qs[i], run->ks[i], 0, &a, &res, &err) != 0 ||
                res.total != w->total || res.n_hits != w->n_hits) {
                run->mismatches++;
            } else {
                for (uint32_t h = 0; h < res.n_hits; h++)
                    if (res.hits[h].doc != w->hits[h].doc ||
                        memcmp(&res.hits[h].score, &w->hits[h].score, sizeof(double)) != 0)
                        run->mismatches++;
            }
            sgs_arena_reset(&a);
        }
    sgs_arena_fini(&a);
    return NULL;
}

Test(eval, threads_share_a_shard)
{
    rng r = seeded("threads_share_a_shard");
    fixture fx;
    fixture_build(&fx, &r, 20000, 8, SHAPE_MIXED);
    sgs_arena qa, wa;
    sgs_arena_init(&qa, 1 << 16);
    sgs_arena_init(&wa, 1 << 16);
    sgs_query_node *qs[N_SHARED_QUERIES];
    sgs_eval_result want[N_SHARED_QUERIES];
    uint32_t ks[N_SHARED_QUERIES];
    for (uint32_t i = 0; i < N_SHARED_QUERIES; i++) {
        qs[i] = i % 2 ? random_flat(&fx, &r, &qa) : random_tree(&fx, &r, &qa, 0, 0);
        ks[i] = FIXED_KS[rng_below(&r, sizeof FIXED_KS / sizeof *FIXED_KS)];
        sgs_err err = {0};
        cr_assert_eq(sgs_eval(fx.s, qs[i], ks[i], 0, &wa, &want[i], &err), 0, "%s", err.msg);
    }
    shared_run runs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        runs[t] = (shared_run){&fx, qs, want, ks, 0};
        cr_assert_eq(pthread_create(&th[t], NULL, shared_worker, &runs[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(runs[t].mismatches, 0, "thread %d: %d answers differ", t, runs[t].mismatches);
    }
    sgs_arena_fini(&wa);
    sgs_arena_fini(&qa);
    fixture_free(&fx);
}

/* The window OR starts from a seed bar: the k-th score its highest-max
 * term alone gives the docs of that term's best block (eval_or.c). Here
 * every doc has the same length and every posting tf 1, so all docs of "a"
 * score the same, the first of its two blocks is the best, and the seed
 * equals the k-th hit's score exactly; the hits must still be the docs of
 * "a" with the smallest external ids, which are all in its second block. */
Test(eval, window_or_seed_ties)
{
    char path[64];
    const uint32_t n_docs = 10000;
    sgs_err err = {0};
    sgs_shard_writer *w = temp_writer(path);
    for (uint32_t d = 0; d < n_docs; d++) {
        /* Docs 256, 258 .. 510 (the second block of "a") sort first. */
        char id[16];
        bool second = d >= 256 && d <= 510 && d % 2 == 0;
        snprintf(id, sizeof id, "%05u", second ? (d - 256) / 2 : 1000 + d);
        cr_assert_eq(sgs_shard_writer_add_doc(w, id, strlen(id), "{}", 2, 10, &err), 0, "%s",
                     err.msg);
    }
    sgs_shard_writer_set_corpus(w, n_docs, 10.0);
    cr_assert_eq(sgs_shard_writer_begin_term(w, "a", 1, 256, 256, &err), 0, "%s", err.msg);
    for (uint32_t d = 0; d <= 510; d += 2)
        cr_assert_eq(sgs_shard_writer_add_posting(w, d, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(sgs_shard_writer_end_term(w, &err), 0, "%s", err.msg);
    cr_assert_eq(sgs_shard_writer_begin_term(w, "b", 1, 100, 5000, &err), 0, "%s", err.msg);
    for (uint32_t d = 1001; d <= 1100; d++)
        cr_assert_eq(sgs_shard_writer_add_posting(w, d, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(sgs_shard_writer_end_term(w, &err), 0, "%s", err.msg);
    sgs_shard *s = finish_and_open(w, path);

    sgs_arena a;
    sgs_arena_init(&a, 1 << 16);
    sgs_query_node *q = mk(&a, SGS_QUERY_OR, 2);
    q->children[0] = mk_term(&a, "a");
    q->children[1] = mk_term(&a, "b");
    static const uint32_t ks[] = {1, 10, 128};
    for (uint32_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        sgs_eval_result res;
        cr_assert_eq(sgs_eval(s, q, ks[i], 0, &a, &res, &err), 0, "%s", err.msg);
        cr_assert_eq(res.total, 356);
        cr_assert_eq(res.n_hits, ks[i]);
        for (uint32_t j = 0; j < ks[i]; j++)
            cr_assert_eq(res.hits[j].doc, 256 + 2 * j, "k=%u: hit %u is doc %u", ks[i], j,
                         res.hits[j].doc);
    }
    sgs_arena_fini(&a);
    sgs_shard_close(s);
    unlink(path);
}

/* Cursors advanced by short and long jumps land where a scan of the decoded
 * list says, on lists whose postings are spread evenly, crowded at both
 * ends of the shard, or in one narrow run. */
Test(eval, advance_matches_a_scan)
{
    rng r = seeded("advance_matches_a_scan");
    enum { N_DOCS = 100000, N_SHAPES = 3 };
    static const char *names[N_SHAPES] = {"crowded", "even", "run"};
    char path[64];
    sgs_err err = {0};
    sgs_shard_writer *w = temp_writer(path);
    for (uint32_t d = 0; d < N_DOCS; d++) {
        char id[16];
        snprintf(id, sizeof id, "%u", d);
        cr_assert_eq(sgs_shard_writer_add_doc(w, id, strlen(id), "{}", 2, 10, &err), 0, "%s",
                     err.msg);
    }
    sgs_shard_writer_set_corpus(w, N_DOCS, 10);
    static uint32_t docs[N_SHAPES][N_DOCS];
    uint32_t df[N_SHAPES] = {0};
    for (uint32_t d = 0; d < N_DOCS; d++) {
        if ((d < 2000 && rng_below(&r, 2) == 0) || (d >= 97000 && rng_below(&r, 3) == 0))
            docs[0][df[0]++] = d;
        if (rng_below(&r, 40) == 0)
            docs[1][df[1]++] = d;
        if (d >= 41000 && d < 44000 && rng_below(&r, 2) == 0)
            docs[2][df[2]++] = d;
    }
    for (uint32_t t = 0; t < N_SHAPES; t++) { /* names are in byte order */
        cr_assert_eq(sgs_shard_writer_begin_term(w, names[t], strlen(names[t]), df[t], df[t],
                                                 &err),
                     0, "%s", err.msg);
        for (uint32_t i = 0; i < df[t]; i++)
            cr_assert_eq(sgs_shard_writer_add_posting(w, docs[t][i], 1, &err), 0, "%s", err.msg);
        cr_assert_eq(sgs_shard_writer_end_term(w, &err), 0, "%s", err.msg);
    }
    sgs_shard *s = finish_and_open(w, path);

    for (uint32_t t = 0; t < N_SHAPES; t++) {
        sgs_term_entry e;
        sgs_shard_term_entry(s, (uint64_t)sgs_shard_find_term(s, names[t], strlen(names[t])), &e);
        cr_assert_eq(e.encoding, SGS_POSTINGS_BLOCKS, "%s", names[t]);
        cr_assert_gt(e.shard_df, 10 * SGS_BLOCK_LEN, "%s", names[t]);
        for (int round = 0; round < 300; round++) {
            sgs_iter_ctx ctx;
            cr_assert_eq(sgs_iter_ctx_init(&ctx, s, 0, &err), 0);
            sgs_term_iter it;
            cr_assert_eq(sgs_term_iter_init(&it, &ctx, &e, names[t], strlen(names[t])), 0);
            uint32_t target = 0, i = 0;
            for (;;) {
                /* Jumps of a few docs, of a few blocks, or across the shard. */
                uint32_t kind = rng_below(&r, 3);
                target += kind == 0 ? rng_below(&r, 50)
                          : kind == 1 ? rng_below(&r, 3000)
                                      : rng_below(&r, N_DOCS + 5000);
                while (i < df[t] && docs[t][i] < target)
                    i++;
                uint32_t want = i < df[t] ? docs[t][i] : SGS_ITER_END;
                uint32_t got = sgs_term_iter_advance(&it, target);
                cr_assert_eq(got, want, "%s: advance to %u from round %d: %u, want %u", names[t],
                             target, round, got, want);
                if (want == SGS_ITER_END)
                    break;
                target = got; /* advance may be asked for the current doc again */
            }
        }
    }
    sgs_shard_close(s);
    unlink(path);
}
