/* Query evaluation (eval.h): the query tree becomes a tree of document-at-
 * a-time match cursors over posting cursors (iter.h); the root cursor is
 * walked once, counting every match and scoring those that can still enter
 * the top-k heap (topk.h).
 *
 * Match cursors (each always positioned on its current doc or END):
 *   TERM   a posting cursor;
 *   AND    leapfrog: the cheapest positive child leads, the others advance
 *          to its doc, any that overshoots moves the lead; then each
 *          excluded child (an AND's NOT children) is advanced to the doc
 *          and rejects it when it stands on it;
 *   OR     union: the smallest doc of the children;
 *   COMPL  a NOT outside an AND (under an OR, or the root): every doc id of
 *          the shard, 0 .. n_docs-1, that its child does not match;
 *   ALL    every doc id (the lead of an AND whose children are all NOTs);
 *   EMPTY  nothing (a term the shard does not have, or a tree reduced to it).
 *
 * Scoring follows eval.h: one scorer per distinct positive term. A scorer
 * reuses the posting cursor of a TERM child of the root (all of a root AND's
 * children stand on the matched doc; a root OR's child contains it exactly
 * when it stands on it); any other positive term gets its own cursor,
 * advanced to each doc scored. Pruning: once the heap holds k hits, a doc
 * whose score bound (block maxima of the reused cursors on the doc, term
 * maxima of the others, widened by BOUND_SLACK for float rounding) is below
 * the k-th score cannot enter it and is only counted; once the sum of the
 * term maxima is below the k-th score, evaluation only counts. A bound equal
 * to the k-th score is still scored: a tie may win on the external id.
 *
 * Two root shapes have their own paths (evaluate()): an AND of TERMs and
 * NOT TERMs leapfrogs on the posting cursors directly (flat_and); an OR of
 * TERMs counts its union in a bitmap of the shard and ranks with MaxScore
 * (maxscore_or), the bitmap filled by the MaxScore cursors themselves as
 * they decode. Every other tree takes the general walk (walk_tree). The
 * differential tests in tests/unit/test_eval.c cover all three. */
#include "common/eval.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/bm25.h"
#include "common/iter.h"
#include "common/simd.h"
#include "common/topk.h"

/* Relative widening of stored float maxima: the shard verifier accepts
 * maxima up to 1e-6 below a recomputed score, and the bound is a sum. */
#define BOUND_SLACK (1.0 + 1e-5)

/* How many postings ahead the ranking walks prefetch length codes (8), and
 * MaxScore the lengths themselves (4 measured best of 0, 4, 8, 16 on the 1M
 * synthetic shard). */
#define PF_AHEAD 8u
#define MS_PF_AHEAD 4u

/* merge_and() leads an AND when the second rarest list is at most this many
 * times longer than the rarest (beyond it, galloping past the longer list's
 * postings beats stepping through them). */
#define MERGE_MAX_RATIO 16u

typedef enum { N_EMPTY, N_ALL, N_TERM, N_AND, N_OR, N_COMPL } nkind;

typedef struct enode enode;
struct enode {
    nkind kind;
    uint32_t doc;    /* current doc, SGS_ITER_END when done */
    uint64_t cost;   /* an upper bound of the docs it matches */
    sgs_term_iter *it; /* TERM */
    sgs_term_entry e;  /* TERM: its entry, to open more cursors on it */
    int32_t pos_term;  /* TERM: index among the positive terms; -1 under a NOT */
    enode **kids;      /* AND: positive children, cheapest first; OR; COMPL: one */
    uint32_t n_kids;
    enode **excl; /* AND: children under a NOT */
    uint32_t n_excl;
};

typedef struct scorer {
    sgs_term_iter *it; /* NULL when the shard lacks the term */
    bool own;          /* advanced by the scorer (else positioned by the tree) */
    double idf;
} scorer;

typedef struct evaluator {
    sgs_iter_ctx ctx;
    const sgs_shard *s;
    sgs_arena *a;
    uint32_t n_docs;
    const sgs_query_node **pos; /* distinct positive terms, score order */
    uint32_t n_pos;
    int64_t *pos_entry; /* per positive term: its entry index, -1 absent, -2 not looked up */
    uint64_t corpus_n_docs;
    double avg_len;
    const uint8_t *doc_lengths;
    const uint8_t *len_codes; /* one byte a doc (sgs_shard_len_codes) */
    const double *norm_lb;    /* [256]: norm of sgs_bm25_len_floor(code); need_norm_lb() */
    sgs_simd_level simd;      /* the kernels allowed (sgs_simd_active()) */
} evaluator;

/* ---- match cursors ------------------------------------------------------- */

static uint32_t node_next(evaluator *ev, enode *n);
static uint32_t node_advance(evaluator *ev, enode *n, uint32_t target);

/* AND: from the lead standing on d, the first doc >= d every positive child
 * holds and no excluded child does. */
static uint32_t and_settle(evaluator *ev, enode *n, uint32_t d)
{
    enode *lead = n->kids[0];
again:
    if (d == SGS_ITER_END)
        return n->doc = SGS_ITER_END;
    for (uint32_t i = 1; i < n->n_kids; i++) {
        enode *k = n->kids[i];
        uint32_t kd = k->doc < d ? node_advance(ev, k, d) : k->doc;
        if (kd > d) {
            d = node_advance(ev, lead, kd);
            goto again;
        }
    }
    for (uint32_t i = 0; i < n->n_excl; i++) {
        enode *x = n->excl[i];
        uint32_t xd = x->doc < d ? node_advance(ev, x, d) : x->doc;
        if (xd == d) {
            d = node_next(ev, lead);
            goto again;
        }
    }
    return n->doc = d;
}

static uint32_t or_min(enode *n)
{
    uint32_t m = SGS_ITER_END;
    for (uint32_t i = 0; i < n->n_kids; i++)
        if (n->kids[i]->doc < m)
            m = n->kids[i]->doc;
    return n->doc = m;
}

/* COMPL: the first doc >= d, below n_docs, that the child does not hold. */
static uint32_t compl_find(evaluator *ev, enode *n, uint32_t d)
{
    enode *c = n->kids[0];
    for (; d < ev->n_docs; d++) {
        if (!sgs_iter_charge(&ev->ctx, 1))
            break;
        uint32_t cd = c->doc < d ? node_advance(ev, c, d) : c->doc;
        if (cd != d)
            return n->doc = d;
    }
    return n->doc = SGS_ITER_END;
}

static uint32_t all_at(evaluator *ev, enode *n, uint32_t d)
{
    if (d >= ev->n_docs || !sgs_iter_charge(&ev->ctx, 1))
        return n->doc = SGS_ITER_END;
    return n->doc = d;
}

static uint32_t node_next(evaluator *ev, enode *n)
{
    uint32_t d = n->doc;
    if (d == SGS_ITER_END)
        return d;
    switch (n->kind) {
    case N_TERM:
        return n->doc = sgs_term_iter_next(n->it);
    case N_AND:
        return and_settle(ev, n, node_next(ev, n->kids[0]));
    case N_OR:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (n->kids[i]->doc == d)
                node_next(ev, n->kids[i]);
        return or_min(n);
    case N_COMPL:
        return compl_find(ev, n, d + 1);
    case N_ALL:
        return all_at(ev, n, d + 1);
    case N_EMPTY:
        break;
    }
    return n->doc = SGS_ITER_END;
}

static uint32_t node_advance(evaluator *ev, enode *n, uint32_t target)
{
    if (n->doc >= target)
        return n->doc;
    switch (n->kind) {
    case N_TERM:
        return n->doc = sgs_term_iter_advance(n->it, target);
    case N_AND:
        return and_settle(ev, n, node_advance(ev, n->kids[0], target));
    case N_OR:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (n->kids[i]->doc < target)
                node_advance(ev, n->kids[i], target);
        return or_min(n);
    case N_COMPL:
        return compl_find(ev, n, target);
    case N_ALL:
        return all_at(ev, n, target);
    case N_EMPTY:
        break;
    }
    return n->doc = SGS_ITER_END;
}

/* ---- building ------------------------------------------------------------ */

static int term_cmp(const char *a, uint32_t an, const char *b, uint32_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

/* The index of q's term among the positive terms, or -1. */
static int32_t positive_index(const evaluator *ev, const sgs_query_node *q)
{
    uint32_t lo = 0, hi = ev->n_pos;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = term_cmp(ev->pos[mid]->term, ev->pos[mid]->term_len, q->term, q->term_len);
        if (c == 0)
            return (int32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static enode *new_node(evaluator *ev, nkind kind)
{
    enode *n = sgs_arena_zalloc(ev->a, sizeof *n);
    n->kind = kind;
    n->doc = SGS_ITER_END;
    n->pos_term = -1;
    return n;
}

static enode *empty_node(evaluator *ev)
{
    return new_node(ev, N_EMPTY);
}

/* A posting cursor on entry idx of the term bytes, or NULL when idx < 0
 * (the shard lacks the term; also on corruption, with ctx.status set). */
static sgs_term_iter *open_entry(evaluator *ev, int64_t idx, const char *term, uint32_t len,
                                 sgs_term_entry *e)
{
    if (idx < 0)
        return NULL;
    sgs_shard_term_entry(ev->s, (uint64_t)idx, e);
    sgs_term_iter *it = sgs_arena_alloc(ev->a, sizeof *it);
    if (sgs_term_iter_init(it, &ev->ctx, e, term, len) != 0)
        return NULL;
    return it;
}

static enode *build(evaluator *ev, const sgs_query_node *q, bool negated)
{
    switch (q->kind) {
    case SGS_QUERY_TERM: {
        int32_t pi = negated ? -1 : positive_index(ev, q);
        int64_t idx = pi >= 0 && ev->pos_entry[pi] != -2
                          ? ev->pos_entry[pi]
                          : sgs_shard_find_term(ev->s, q->term, q->term_len);
        if (pi >= 0)
            ev->pos_entry[pi] = idx;
        sgs_term_entry e;
        sgs_term_iter *it = open_entry(ev, idx, q->term, q->term_len, &e);
        if (it == NULL)
            return empty_node(ev);
        enode *n = new_node(ev, N_TERM);
        n->it = it;
        n->e = e;
        n->doc = it->doc;
        n->cost = it->df;
        n->pos_term = pi;
        return n;
    }
    case SGS_QUERY_AND: {
        enode **kids = sgs_arena_alloc(ev->a, (q->n_children + 1) * sizeof *kids);
        enode **excl = sgs_arena_alloc(ev->a, q->n_children * sizeof *excl);
        uint32_t nk = 0, nx = 0;
        for (uint32_t i = 0; i < q->n_children; i++) {
            const sgs_query_node *c = q->children[i];
            if (c->kind == SGS_QUERY_NOT && c->n_children == 1) {
                enode *x = build(ev, c->children[0], !negated);
                if (x->kind != N_EMPTY)
                    excl[nx++] = x;
                continue;
            }
            enode *k = build(ev, c, negated);
            if (k->kind == N_EMPTY)
                return empty_node(ev);
            kids[nk++] = k;
        }
        if (nk == 0) {
            enode *all = new_node(ev, N_ALL);
            all->cost = ev->n_docs;
            all->doc = ev->n_docs > 0 ? 0 : SGS_ITER_END;
            kids[nk++] = all;
        }
        if (nk == 1 && nx == 0)
            return kids[0];
        /* Cheapest first: the rarest child leads the leapfrog. */
        for (uint32_t i = 1; i < nk; i++)
            for (uint32_t j = i; j > 0 && kids[j - 1]->cost > kids[j]->cost; j--) {
                enode *t = kids[j];
                kids[j] = kids[j - 1];
                kids[j - 1] = t;
            }
        enode *n = new_node(ev, N_AND);
        n->kids = kids;
        n->n_kids = nk;
        n->excl = excl;
        n->n_excl = nx;
        n->cost = kids[0]->cost;
        return n; /* positioned by settle() */
    }
    case SGS_QUERY_OR: {
        enode **kids = sgs_arena_alloc(ev->a, q->n_children * sizeof *kids);
        uint32_t nk = 0;
        uint64_t cost = 0;
        for (uint32_t i = 0; i < q->n_children; i++) {
            enode *k = build(ev, q->children[i], negated);
            if (k->kind == N_EMPTY)
                continue;
            kids[nk++] = k;
            cost += k->cost;
        }
        if (nk == 0)
            return empty_node(ev);
        if (nk == 1)
            return kids[0];
        enode *n = new_node(ev, N_OR);
        n->kids = kids;
        n->n_kids = nk;
        n->cost = cost < ev->n_docs ? cost : ev->n_docs;
        return n; /* positioned by settle() */
    }
    case SGS_QUERY_NOT: {
        enode *c = q->n_children == 1 ? build(ev, q->children[0], !negated) : empty_node(ev);
        enode *n;
        if (c->kind == N_EMPTY) {
            n = new_node(ev, N_ALL);
            all_at(ev, n, 0);
        } else {
            n = new_node(ev, N_COMPL);
            n->kids = sgs_arena_alloc(ev->a, sizeof *n->kids);
            n->kids[0] = c;
            n->n_kids = 1;
        }
        n->cost = ev->n_docs;
        return n;
    }
    }
    return empty_node(ev);
}

/* Positions the AND, OR and COMPL cursors of a built tree on their first
 * doc, children first. build() leaves them unpositioned, since the flat
 * root paths of evaluate() drive the posting cursors themselves and would
 * otherwise repeat, through the slower generic walk, the search for the
 * first match (for an AND of rare terms, much of the whole work). */
static void settle(evaluator *ev, enode *n)
{
    switch (n->kind) {
    case N_AND:
        for (uint32_t i = 0; i < n->n_kids; i++)
            settle(ev, n->kids[i]);
        for (uint32_t i = 0; i < n->n_excl; i++)
            settle(ev, n->excl[i]);
        and_settle(ev, n, n->kids[0]->doc);
        return;
    case N_OR:
        for (uint32_t i = 0; i < n->n_kids; i++)
            settle(ev, n->kids[i]);
        or_min(n);
        return;
    case N_COMPL:
        settle(ev, n->kids[0]);
        compl_find(ev, n, 0);
        return;
    case N_TERM:
    case N_ALL:
    case N_EMPTY:
        return;
    }
}

/* ---- scoring ------------------------------------------------------------- */

static void bind_reused(scorer *sc, const enode *n)
{
    if (n->kind == N_TERM && n->pos_term >= 0 && sc[n->pos_term].it == NULL) {
        sc[n->pos_term].it = n->it;
        sc[n->pos_term].own = false;
    }
}

/* One scorer per positive term: reused root-child cursors, else own ones. */
static scorer *make_scorers(evaluator *ev, const enode *root)
{
    scorer *sc = sgs_arena_zalloc(ev->a, (ev->n_pos + 1) * sizeof *sc);
    if (root->kind == N_TERM)
        bind_reused(sc, root);
    else if (root->kind == N_AND || root->kind == N_OR)
        for (uint32_t i = 0; i < root->n_kids; i++)
            bind_reused(sc, root->kids[i]);
    for (uint32_t j = 0; j < ev->n_pos; j++) {
        int64_t idx = ev->pos_entry[j] != -2
                          ? ev->pos_entry[j]
                          : sgs_shard_find_term(ev->s, ev->pos[j]->term, ev->pos[j]->term_len);
        if (idx < 0)
            continue;
        sgs_term_entry e;
        sgs_shard_term_entry(ev->s, (uint64_t)idx, &e);
        sc[j].idf = sgs_bm25_idf(ev->corpus_n_docs, e.global_df);
        if (sc[j].it == NULL) {
            sc[j].it = open_entry(ev, idx, ev->pos[j]->term, ev->pos[j]->term_len, &e);
            sc[j].own = true;
        }
    }
    return sc;
}

/* An upper bound of d's score (before BOUND_SLACK). */
static double bound_doc(const evaluator *ev, const scorer *sc, uint32_t d)
{
    double b = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++) {
        const sgs_term_iter *it = sc[j].it;
        if (it == NULL)
            continue;
        if (sc[j].own)
            b += (double)it->max_score;
        else if (it->doc == d)
            b += (double)sgs_term_iter_bound(it);
    }
    return b;
}

/* ---- evaluation ---------------------------------------------------------- */

/* Scores docs into the heap, skipping those whose bound cannot reach it. */
typedef struct ranker {
    scorer *sc;
    sgs_topk *top;
    uint32_t *tf;     /* per positive term: its tf in the doc being ranked, 0 absent */
    double max_total; /* sum of the term maxima, widened */
    bool active;      /* false once no doc can enter any more */
    bool per_doc;     /* some reused cursor has block maxima, so bounds vary per doc */
    bool len_bound;   /* every idf >= 0, so a shorter length bounds a score from above */
} ranker;

static void ranker_init(ranker *r, const evaluator *ev, scorer *sc, sgs_topk *top)
{
    r->sc = sc;
    r->top = top;
    r->active = top != NULL;
    r->per_doc = false;
    r->max_total = 0;
    r->len_bound = true;
    r->tf = NULL;
    if (top == NULL)
        return;
    r->tf = sgs_arena_alloc(ev->a, (ev->n_pos + 1) * sizeof *r->tf);
    for (uint32_t j = 0; j < ev->n_pos; j++)
        r->len_bound &= sc[j].idf >= 0;
    for (uint32_t j = 0; j < ev->n_pos; j++)
        if (sc[j].it != NULL) {
            r->max_total += (double)sc[j].it->max_score;
            /* A doc without a reused term scores below its maximum. */
            r->per_doc |= !sc[j].own && (sc[j].it->encoding == SGS_POSTINGS_BLOCKS ||
                                         ev->n_pos > 1);
        }
    r->max_total *= BOUND_SLACK;
}

/* Scores d into the heap unless a bound shows it cannot enter. The bounds
 * in order of cost: the block and term maxima (nothing read), then the
 * doc's tfs with the floor of its length code (a length no longer than its
 * own, so a score no lower than its own), and only then its length. Scores
 * are summed in positive-term order. */
/* Points ev->norm_lb at the shard's table for rank_doc. */
static void need_norm_lb(evaluator *ev)
{
    ev->norm_lb = sgs_shard_norm_floors(ev->s);
}

static inline void rank_doc(const evaluator *ev, ranker *r, uint32_t d)
{
    bool full = sgs_topk_full(r->top);
    double theta = 0;
    if (full) {
        theta = sgs_topk_threshold(r->top);
        if (r->max_total < theta) {
            r->active = false;
            return;
        }
        if (r->per_doc && bound_doc(ev, r->sc, d) * BOUND_SLACK < theta)
            return;
    }
    const scorer *sc = r->sc;
    uint32_t *tf = r->tf;
    double nlb = ev->norm_lb[ev->len_codes[d]], lb = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++) {
        sgs_term_iter *it = sc[j].it;
        tf[j] = 0;
        if (it == NULL)
            continue;
        uint32_t at = sc[j].own ? sgs_term_iter_advance(it, d) : it->doc;
        if (at == d) {
            tf[j] = sgs_term_iter_tf_one(it);
            lb += sgs_bm25_score(sc[j].idf, tf[j], nlb);
        }
    }
    if (full && r->len_bound && lb * BOUND_SLACK < theta)
        return;
    double norm = sgs_bm25_norm(sgs_load_u32(ev->doc_lengths + 4 * (uint64_t)d), ev->avg_len);
    double score = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++)
        if (tf[j] != 0)
            score += sgs_bm25_score(sc[j].idf, tf[j], norm);
    sgs_topk_push(r->top, d, score);
}

static uint64_t count_all(evaluator *ev, enode *root)
{
    uint64_t total = 0;
    for (uint32_t d = root->doc; d != SGS_ITER_END; d = node_next(ev, root)) {
        total++;
        if (!sgs_iter_charge(&ev->ctx, 1))
            break;
    }
    return total;
}

/* Any tree: walk the root cursor, counting every match, ranking while a
 * doc can still enter. */
static uint64_t walk_tree(evaluator *ev, enode *root, ranker *r)
{
    if (r->active)
        need_norm_lb(ev);
    uint64_t total = 0;
    uint32_t d = root->doc;
    while (d != SGS_ITER_END && r->active) {
        total++;
        if (!sgs_iter_charge(&ev->ctx, 1))
            return total;
        rank_doc(ev, r, d);
        d = node_next(ev, root);
    }
    return total + count_all(ev, root);
}

static bool all_terms(enode *const *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i]->kind != N_TERM)
            return false;
    return true;
}

/* A root AND whose terms are all bitsets: word by word, the AND of the
 * positive terms' words less the excluded terms' words; counting is a
 * popcount, ranking walks the set bits (positioning the cursors there, so
 * the reused scorers read their tfs). */
static inline __attribute__((always_inline)) uint64_t
bitset_and_body(evaluator *ev, sgs_term_iter *const *t, uint32_t n, sgs_term_iter *const *x,
                uint32_t nx, ranker *r)
{
    uint32_t n_words = t[0]->n_words, tail = ev->n_docs & 63;
    uint64_t total = 0;
    for (uint32_t w = 0; w < n_words; w++) {
        if (!sgs_iter_charge(&ev->ctx, 1))
            break;
        uint64_t bits = sgs_load_u64(t[0]->words + 8 * (uint64_t)w);
        for (uint32_t i = 1; i < n; i++)
            bits &= sgs_load_u64(t[i]->words + 8 * (uint64_t)w);
        for (uint32_t i = 0; i < nx; i++)
            bits &= ~sgs_load_u64(x[i]->words + 8 * (uint64_t)w);
        if (w + 1 == n_words && tail != 0)
            bits &= (UINT64_C(1) << tail) - 1;
        if (bits == 0)
            continue;
        total += (uint64_t)__builtin_popcountll(bits);
        while (r->active && bits != 0) {
            uint32_t d = (w << 6) + (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (bits != 0)
                __builtin_prefetch(ev->len_codes + (w << 6) + (uint32_t)__builtin_ctzll(bits));
            for (uint32_t i = 0; i < n; i++)
                t[i]->doc = d;
            rank_doc(ev, r, d);
        }
    }
    return total;
}

__attribute__((target("popcnt"))) static uint64_t
bitset_and_hw(evaluator *ev, sgs_term_iter *const *t, uint32_t n, sgs_term_iter *const *x,
              uint32_t nx, ranker *r)
{
    return bitset_and_body(ev, t, n, x, nx, r);
}

static uint64_t bitset_and_sw(evaluator *ev, sgs_term_iter *const *t, uint32_t n,
                              sgs_term_iter *const *x, uint32_t nx, ranker *r)
{
    return bitset_and_body(ev, t, n, x, nx, r);
}

/* Ranking put off by merge_and() for an AND whose two positive terms are its
 * two leading cursors (and the only scorers): a few matches are gathered
 * with their tfs and block-max bound, their length codes and lengths
 * fetched together, then ranked in order exactly as rank_doc() would (same
 * bounds, same sums in positive-term order), so their cache misses overlap
 * instead of coming one after another. */
#define PEND_MAX 16u

typedef struct pend_doc {
    uint32_t doc;
    uint32_t tf[2];   /* per positive term */
    double bound;     /* bound_doc(): the two block maxima, summed in term order */
} pend_doc;

typedef struct pend {
    pend_doc v[PEND_MAX];
    uint32_t n;
    uint32_t ja; /* positive-term index of the leading cursor; the other is 1 - ja */
} pend;

static void pend_flush(const evaluator *ev, ranker *r, pend *pb)
{
    const scorer *sc = r->sc;
    for (uint32_t k = 0; k < pb->n && r->active; k++)
        sgs_shard_prefetch_ext_id(ev->s, pb->v[k].doc);
    for (uint32_t k = 0; k < pb->n && r->active; k++) {
        const pend_doc *p = &pb->v[k];
        bool full = sgs_topk_full(r->top);
        double theta = 0;
        if (full) {
            theta = sgs_topk_threshold(r->top);
            if (r->max_total < theta) {
                r->active = false;
                break;
            }
            if (r->per_doc && p->bound * BOUND_SLACK < theta)
                continue;
        }
        double nlb = ev->norm_lb[ev->len_codes[p->doc]], lb = 0;
        for (uint32_t j = 0; j < 2; j++)
            lb += sgs_bm25_score(sc[j].idf, p->tf[j], nlb);
        if (full && r->len_bound && lb * BOUND_SLACK < theta)
            continue;
        double norm = sgs_bm25_norm(sgs_load_u32(ev->doc_lengths + 4 * (uint64_t)p->doc),
                                    ev->avg_len);
        double score = 0;
        for (uint32_t j = 0; j < 2; j++)
            score += sgs_bm25_score(sc[j].idf, p->tf[j], norm);
        sgs_topk_push(r->top, p->doc, score);
    }
    pb->n = 0;
}

/* Queues d (both leading cursors of merge_and() standing on it) for
 * pend_flush(). */
static inline void pend_add(const evaluator *ev, ranker *r, pend *pb, sgs_term_iter *a,
                            sgs_term_iter *b, uint32_t d)
{
    pend_doc *p = &pb->v[pb->n++];
    sgs_term_iter *first = pb->ja == 0 ? a : b, *second = pb->ja == 0 ? b : a;
    p->doc = d;
    p->tf[0] = sgs_term_iter_tf_one(first);
    p->tf[1] = sgs_term_iter_tf_one(second);
    double bound = 0;
    bound += (double)sgs_term_iter_bound(first);
    bound += (double)sgs_term_iter_bound(second);
    p->bound = bound;
    __builtin_prefetch(ev->len_codes + d);
    __builtin_prefetch(ev->doc_lengths + 4 * (uint64_t)d);
    /* Ties in score are broken on external ids, which the heap reads. */
    sgs_shard_prefetch_ext_offset(ev->s, d);
    if (pb->n == PEND_MAX)
        pend_flush(ev, r, pb);
}

/* A doc the two leading cursors of merge_and() share, standing on it: the
 * other positive terms and the excluded ones decide; a match is counted and
 * ranked (or queued on pb when not NULL). False once the evaluation must
 * stop. */
static inline bool merge_candidate(evaluator *ev, sgs_term_iter *const *t, uint32_t n,
                                   sgs_term_iter *const *x, uint32_t nx, ranker *r, pend *pb,
                                   uint32_t d, uint64_t *total)
{
    for (uint32_t i = 2; i < n; i++)
        if (sgs_term_iter_advance(t[i], d) != d)
            return t[i]->doc != SGS_ITER_END;
    for (uint32_t i = 0; i < nx; i++)
        if (sgs_term_iter_advance(x[i], d) == d)
            return true;
    ++*total;
    if (!sgs_iter_charge(&ev->ctx, 1))
        return false;
    if (r->active) {
        if (pb != NULL)
            pend_add(ev, r, pb, t[0], t[1], d);
        else
            rank_doc(ev, r, d);
    }
    return true;
}

/* Leaves a cursor whose decoded block merge_and() used up to the first
 * posting >= target (target above its block's last doc; SGS_ITER_END: the
 * next block). */
static inline void merge_leave(sgs_term_iter *it, uint32_t target)
{
    it->pos = it->count - 1;
    it->doc = it->docs[it->pos];
    if (target == SGS_ITER_END)
        sgs_term_iter_next(it);
    else
        sgs_term_iter_advance(it, target);
}

/* Window kernels of merge_and(): from ad[*i..na) and bd[*j..nb), W docs of
 * each are compared with each other (the second window rotated W - 1
 * times), then the window with the smaller last doc moves on (both on a
 * tie): none of its docs can meet a later doc of the other. True with *i,
 * *j on the first shared doc (windows meet in doc order); false once fewer
 * than W docs are left on a side, *i and *j where the windows stopped
 * (every doc before them that could be shared has been reported). */
#if defined(__x86_64__)
__attribute__((target("avx2"))) static bool shared_avx2(const uint32_t *ad, uint32_t na,
                                                        const uint32_t *bd, uint32_t nb,
                                                        uint32_t *pi, uint32_t *pj)
{
    uint32_t i = *pi, j = *pj;
    const __m256i r1 = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
    const __m256i r2 = _mm256_setr_epi32(2, 3, 4, 5, 6, 7, 0, 1);
    const __m256i r3 = _mm256_setr_epi32(3, 4, 5, 6, 7, 0, 1, 2);
    const __m256i r4 = _mm256_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3);
    const __m256i r5 = _mm256_setr_epi32(5, 6, 7, 0, 1, 2, 3, 4);
    const __m256i r6 = _mm256_setr_epi32(6, 7, 0, 1, 2, 3, 4, 5);
    const __m256i r7 = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    while (i + 8 <= na && j + 8 <= nb) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(ad + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(bd + j));
        __m256i m0 = _mm256_or_si256(
            _mm256_cmpeq_epi32(va, vb),
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r1)));
        __m256i m1 = _mm256_or_si256(
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r2)),
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r3)));
        __m256i m2 = _mm256_or_si256(
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r4)),
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r5)));
        __m256i m3 = _mm256_or_si256(
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r6)),
            _mm256_cmpeq_epi32(va, _mm256_permutevar8x32_epi32(vb, r7)));
        __m256i m = _mm256_or_si256(_mm256_or_si256(m0, m1), _mm256_or_si256(m2, m3));
        unsigned hit = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m));
        if (__builtin_expect(hit != 0, 0)) {
            uint32_t p = (uint32_t)__builtin_ctz(hit), u = ad[i + p], q = 0;
            while (bd[j + q] != u)
                q++;
            *pi = i + p;
            *pj = j + q;
            return true;
        }
        uint32_t am = ad[i + 7], bm = bd[j + 7];
        i += am <= bm ? 8 : 0;
        j += bm <= am ? 8 : 0;
    }
    *pi = i;
    *pj = j;
    return false;
}
#endif

#if defined(__SSE2__)
static bool shared_sse2(const uint32_t *ad, uint32_t na, const uint32_t *bd, uint32_t nb,
                        uint32_t *pi, uint32_t *pj)
{
    uint32_t i = *pi, j = *pj;
    while (i + 4 <= na && j + 4 <= nb) {
        __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(ad + i));
        __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(bd + j));
        __m128i m0 = _mm_cmpeq_epi32(va, vb);
        __m128i m1 = _mm_cmpeq_epi32(va, _mm_shuffle_epi32(vb, _MM_SHUFFLE(0, 3, 2, 1)));
        __m128i m2 = _mm_cmpeq_epi32(va, _mm_shuffle_epi32(vb, _MM_SHUFFLE(1, 0, 3, 2)));
        __m128i m3 = _mm_cmpeq_epi32(va, _mm_shuffle_epi32(vb, _MM_SHUFFLE(2, 1, 0, 3)));
        unsigned hit = (unsigned)_mm_movemask_ps(
            _mm_castsi128_ps(_mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3))));
        if (__builtin_expect(hit != 0, 0)) {
            uint32_t p = (uint32_t)__builtin_ctz(hit), u = ad[i + p], q = 0;
            while (bd[j + q] != u)
                q++;
            *pi = i + p;
            *pj = j + q;
            return true;
        }
        uint32_t am = ad[i + 3], bm = bd[j + 3];
        i += am <= bm ? 4 : 0;
        j += bm <= am ? 4 : 0;
    }
    *pi = i;
    *pj = j;
    return false;
}
#endif

/* The AND of the two rarest positive terms, both block lists, as a merge of
 * their decoded blocks: where the blocks overlap, the two sorted arrays are
 * walked without a data-dependent branch except on a shared doc (each step
 * moves the index of the smaller doc, or both), so the mispredicted exit of
 * an in-block search per posting is gone; a cursor whose block ends
 * gallops to the other's doc through its skip table. Each shared doc is a
 * candidate for merge_candidate(). */
static uint64_t merge_and(evaluator *ev, sgs_term_iter *const *t, uint32_t n,
                          sgs_term_iter *const *x, uint32_t nx, ranker *r)
{
    sgs_term_iter *a = t[0], *b = t[1];
    uint64_t total = 0;
    /* Put off ranking when the two cursors are the only scorers. */
    pend pbuf, *pb = NULL;
    const scorer *sc = r->sc;
    if (r->active && n == 2 && ev->n_pos == 2 && !sc[0].own && !sc[1].own &&
        ((sc[0].it == a && sc[1].it == b) || (sc[0].it == b && sc[1].it == a))) {
        pbuf.n = 0;
        pbuf.ja = sc[0].it == a ? 0 : 1;
        pb = &pbuf;
    }
    while (a->doc != SGS_ITER_END && b->doc != SGS_ITER_END) {
        if (a->last < b->doc) {
            sgs_term_iter_advance(a, b->doc);
            continue;
        }
        if (b->last < a->doc) {
            sgs_term_iter_advance(b, a->doc);
            continue;
        }
        const uint32_t *ad = a->docs, *bd = b->docs;
        uint32_t i = a->pos, j = b->pos, na = a->count, nb = b->count;
        /* The shared docs of this pair of blocks are gathered first, their
         * length codes and lengths asked for as they are found, then
         * handled in order: the cache misses of ranking overlap. */
        uint32_t ci[SGS_BLOCK_LEN], cj[SGS_BLOCK_LEN], nc = 0;
        for (;;) {
            bool hit = false;
#if defined(__x86_64__)
            if (ev->simd >= SGS_SIMD_AVX2)
                hit = shared_avx2(ad, na, bd, nb, &i, &j);
#endif
#if defined(__SSE2__)
            if (!hit && ev->simd >= SGS_SIMD_SSE2)
                hit = shared_sse2(ad, na, bd, nb, &i, &j);
#endif
            if (!hit)
                break;
            ci[nc] = i++;
            cj[nc++] = j++;
        }
        while (i < na && j < nb) {
            uint32_t u = ad[i], v = bd[j];
            if (__builtin_expect(u == v, 0)) {
                ci[nc] = i++;
                cj[nc++] = j++;
                continue;
            }
            i += u < v;
            j += v < u;
        }
        if (r->active && pb == NULL)
            for (uint32_t c = 0; c < nc; c++) {
                __builtin_prefetch(ev->len_codes + ad[ci[c]]);
                __builtin_prefetch(ev->doc_lengths + 4 * (uint64_t)ad[ci[c]]);
            }
        for (uint32_t c = 0; c < nc; c++) {
            uint32_t u = ad[ci[c]];
            a->pos = ci[c];
            a->doc = u;
            b->pos = cj[c];
            b->doc = u;
            if (!merge_candidate(ev, t, n, x, nx, r, pb, u, &total))
                return total;
        }
        /* The window steps can leave the other array's index on docs
         * already compared with the whole of the exhausted block: pass them
         * (none can be shared with a later block of the exhausted list). */
        if (j == nb)
            while (i < na && ad[i] <= bd[nb - 1])
                i++;
        if (i == na)
            while (j < nb && bd[j] <= ad[na - 1])
                j++;
        if (i < na) {
            a->pos = i;
            a->doc = ad[i];
            merge_leave(b, ad[i]);
        } else if (j < nb) {
            b->pos = j;
            b->doc = bd[j];
            merge_leave(a, bd[j]);
        } else {
            merge_leave(a, SGS_ITER_END);
            merge_leave(b, SGS_ITER_END);
        }
    }
    if (pb != NULL)
        pend_flush(ev, r, pb);
    return total;
}

/* A root AND of terms and excluded terms: the leapfrog on the posting
 * cursors themselves, the rarest leading; when the two rarest are block
 * lists of comparable length, merge_and() instead. */
static uint64_t flat_and(evaluator *ev, enode *root, ranker *r)
{
    if (r->active)
        need_norm_lb(ev);
    uint32_t n = root->n_kids, nx = root->n_excl;
    sgs_term_iter **t = sgs_arena_alloc(ev->a, (n + nx) * sizeof *t);
    for (uint32_t i = 0; i < n; i++)
        t[i] = root->kids[i]->it;
    sgs_term_iter **x = t + n;
    for (uint32_t i = 0; i < nx; i++)
        x[i] = root->excl[i]->it;
    bool bitsets = true;
    for (uint32_t i = 0; i < n + nx; i++)
        bitsets &= t[i]->encoding == SGS_POSTINGS_BITSET;
    if (bitsets)
        return t[0]->popcnt ? bitset_and_hw(ev, t, n, x, nx, r)
                            : bitset_and_sw(ev, t, n, x, nx, r);
    if (n >= 2 && t[0]->encoding == SGS_POSTINGS_BLOCKS &&
        t[1]->encoding == SGS_POSTINGS_BLOCKS &&
        (uint64_t)t[1]->df <= (uint64_t)t[0]->df * MERGE_MAX_RATIO)
        return merge_and(ev, t, n, x, nx, r);
    sgs_term_iter *lead = t[0];
    uint64_t total = 0;
    uint32_t d = lead->doc;
    while (d != SGS_ITER_END) {
        uint32_t i;
        for (i = 1; i < n; i++)
            if (sgs_term_iter_advance(t[i], d) != d)
                break;
        if (i < n) {
            d = sgs_term_iter_advance(lead, t[i]->doc);
            continue;
        }
        for (i = 0; i < nx; i++)
            if (sgs_term_iter_advance(x[i], d) == d)
                break;
        if (i == nx) {
            total++;
            if (!sgs_iter_charge(&ev->ctx, 1))
                break;
            if (r->active)
                rank_doc(ev, r, d);
        }
        d = sgs_term_iter_next(lead);
        if (r->active && d != SGS_ITER_END)
            __builtin_prefetch(ev->len_codes + d);
    }
    return total;
}

/* Asks for the length code of the doc PF_AHEAD postings past the cursor's
 * (inside its decoded block), so the cache misses of a walk overlap. */
static inline void prefetch_ahead(const evaluator *ev, const sgs_term_iter *it)
{
    if (it->encoding == SGS_POSTINGS_BLOCKS && it->pos + PF_AHEAD < it->count)
        __builtin_prefetch(ev->len_codes + it->docs[it->pos + PF_AHEAD]);
}

/* Ranks the docs of one positive term (the only scorer, reusing it) that
 * none of the nx excluded cursors holds, from where the cursors stand: once
 * the heap is full, a block whose maximum cannot reach the k-th score is
 * passed without decoding it. Counts nothing. */
static void rank_single(evaluator *ev, ranker *r, sgs_term_iter *it, sgs_term_iter *const *x,
                        uint32_t nx)
{
    need_norm_lb(ev);
    uint32_t d = it->doc;
    /* The length-code bound of rank_doc without its division:
     * idf tf (k1 + 1) / (tf + norm) < theta, both sides times the sum. */
    double lift = r->sc[0].idf * (SGS_BM25_K1 + 1.0) * BOUND_SLACK;
    while (d != SGS_ITER_END) {
        if (!sgs_iter_charge(&ev->ctx, 1))
            return;
        if (sgs_topk_full(r->top)) {
            double theta = sgs_topk_threshold(r->top);
            if (r->max_total < theta)
                return;
            if ((double)sgs_term_iter_bound(it) * BOUND_SLACK < theta) {
                d = sgs_term_iter_next_block_reaching(it, theta, BOUND_SLACK);
                continue;
            }
            double tf = (double)sgs_term_iter_tf(it);
            if (r->len_bound && lift * tf < theta * (tf + ev->norm_lb[ev->len_codes[d]])) {
                d = sgs_term_iter_next(it);
                prefetch_ahead(ev, it);
                continue;
            }
        }
        uint32_t i;
        for (i = 0; i < nx; i++)
            if (sgs_term_iter_advance(x[i], d) == d)
                break;
        if (i == nx)
            rank_doc(ev, r, d);
        d = sgs_term_iter_next(it);
        prefetch_ahead(ev, it);
    }
}

/* The docs two terms share, on fresh cursors (the rarer leads). */
static uint64_t count_both(evaluator *ev, const enode *p, const enode *q)
{
    if (q->it->df < p->it->df) {
        const enode *t = p;
        p = q;
        q = t;
    }
    sgs_term_iter *a = sgs_arena_alloc(ev->a, 2 * sizeof *a), *b = a + 1;
    if (sgs_term_iter_init(a, &ev->ctx, &p->e, p->it->term, p->it->term_len) != 0 ||
        sgs_term_iter_init(b, &ev->ctx, &q->e, q->it->term, q->it->term_len) != 0)
        return 0;
    uint64_t n = 0;
    uint32_t d = a->doc;
    while (d != SGS_ITER_END) {
        uint32_t o = sgs_term_iter_advance(b, d);
        if (o == d) {
            n++;
            if (!sgs_iter_charge(&ev->ctx, 1))
                break;
            d = sgs_term_iter_next(a);
        } else {
            d = sgs_term_iter_advance(a, o);
        }
    }
    return n;
}

/* A root that is one term: its shard_df docs match; ranking skips blocks. */
static uint64_t single_term(evaluator *ev, enode *root, ranker *r)
{
    if (r->active)
        rank_single(ev, r, root->it, NULL, 0);
    return root->it->df;
}

/* A root AND of one positive term a and one excluded term x: a's docs less
 * those it shares with x (counted with the rarer of the two leading),
 * ranking as single_term does with x excluded. */
static uint64_t single_and_not(evaluator *ev, enode *root, ranker *r)
{
    enode *a = root->kids[0], *x = root->excl[0];
    uint64_t shared = count_both(ev, a, x);
    if (r->active)
        rank_single(ev, r, a->it, &x->it, 1);
    return a->it->df - shared;
}

/* The number of docs in the union of a root OR of terms: a bitmap of the
 * shard when the lists are long enough to pay for it, else the cursor walk.
 * Consumes the root's cursors. */
/* True when a root OR of terms has too few postings to pay for a bitmap. */
static bool or_is_sparse(const evaluator *ev, const enode *root)
{
    uint64_t sum_df = 0;
    for (uint32_t i = 0; i < root->n_kids; i++)
        sum_df += root->kids[i]->it->df;
    return sum_df * 512 < ev->n_docs;
}

static uint64_t count_or(evaluator *ev, enode *root)
{
    if (or_is_sparse(ev, root))
        return count_all(ev, root);
    uint32_t n_words = (ev->n_docs + 63) / 64;
    uint64_t *words = sgs_arena_zalloc(ev->a, (size_t)n_words * sizeof *words);
    for (uint32_t i = 0; i < root->n_kids; i++)
        sgs_term_iter_mark(root->kids[i]->it, words);
    return sgs_popcount_words(words, n_words);
}

typedef struct mterm {
    sgs_term_iter *it;
    double idf;
    double max; /* widened term max */
    uint32_t j; /* index among the positive terms */
} mterm;

/* sgs_term_iter_advance() for MaxScore's probes of non-essential terms:
 * within the decoded block the first doc >= target is found by a search of
 * fixed steps (the block ends at last >= target), since how far a probe
 * moves is too irregular for the branch predictor. */
static inline uint32_t probe(sgs_term_iter *it, uint32_t target)
{
    if (it->encoding != SGS_POSTINGS_BLOCKS || it->last == SGS_ITER_END || target > it->last)
        return sgs_term_iter_advance(it, target);
    const uint32_t *a = it->docs;
    uint32_t lo = 0, len = it->count;
    while (len > 1) {
        uint32_t half = len >> 1;
        lo = a[lo + half - 1] < target ? lo + half : lo;
        len -= half;
    }
    lo = lo > it->pos ? lo : it->pos;
    it->pos = lo;
    return it->doc = a[lo];
}

/* The MaxScore loop over n terms sorted by maximum; inlined with constant n
 * for the common sizes so its per-doc loops unroll. */
static inline __attribute__((always_inline)) void maxscore_loop(evaluator *ev, mterm *m,
                                                                const uint32_t n,
                                                                const double *ub, double *c,
                                                                sgs_topk *top)
{
    uint32_t e = 0; /* terms [0, e) are non-essential */
    uint32_t d = SGS_ITER_END;
    for (uint32_t i = 0; i < n; i++)
        if (m[i].it->doc < d)
            d = m[i].it->doc;
    /* The stretch up to win_end passed the block-max test at bar win_theta. */
    uint32_t win_end = 0;
    double win_theta = -1, theta = 0;
    bool full = false;
    while (d != SGS_ITER_END) {
        if (!full && sgs_topk_full(top))
            full = true;
        if (full && sgs_topk_threshold(top) != theta) {
            theta = sgs_topk_threshold(top);
            uint32_t e0 = e;
            while (e < n && ub[e] < theta)
                e++;
            if (e == n)
                return;
            if (e != e0) {
                d = SGS_ITER_END;
                for (uint32_t i = e; i < n; i++)
                    if (m[i].it->doc < d)
                        d = m[i].it->doc;
                if (d == SGS_ITER_END)
                    return;
            }
        }
        if (!sgs_iter_charge(&ev->ctx, 1))
            return;
        if (full && (d > win_end || theta != win_theta)) {
            /* Up to the first end of an essential cursor's block, no doc
             * beats the sum of those blocks' maxima and the other terms'
             * maxima: when that cannot reach the bar, skip the stretch
             * without looking at its docs. */
            double wb = e > 0 ? ub[e - 1] : 0;
            uint32_t w = SGS_ITER_END;
            for (uint32_t i = e; i < n; i++) {
                wb += (double)sgs_term_iter_bound(m[i].it) * BOUND_SLACK;
                if (m[i].it->encoding == SGS_POSTINGS_BLOCKS && m[i].it->last < w)
                    w = m[i].it->last;
            }
            if (wb < theta) {
                if (w == SGS_ITER_END)
                    return;
                d = SGS_ITER_END;
                for (uint32_t i = e; i < n; i++) {
                    uint32_t id = sgs_term_iter_advance(m[i].it, w + 1);
                    d = id < d ? id : d;
                }
                continue;
            }
            win_end = w;
            win_theta = theta;
        }
        /* Presence first, arithmetic last: the non-essential terms are
         * probed while the bound of the terms found (block maxima) plus the
         * maxima of those not yet probed can reach the bar; only a doc that
         * still can is scored. (A length-code bound here, as rank_doc has,
         * measured slower: most candidates that pass the block maxima need
         * their tfs decoded for it, and the length's own miss is already
         * hidden by the prefetches below.) */
        bool keep = true;
        double b = 0;
        for (uint32_t i = e; i < n; i++)
            if (m[i].it->doc == d)
                b += (double)sgs_term_iter_bound(m[i].it) * BOUND_SLACK;
        for (uint32_t i = e; keep && i-- > 0;) {
            if (full && b + ub[i] < theta)
                keep = false;
            else if (probe(m[i].it, d) == d)
                b += (double)sgs_term_iter_bound(m[i].it) * BOUND_SLACK;
        }
        if (keep && full && b < theta)
            keep = false;
        if (keep) {
            double norm =
                sgs_bm25_norm(sgs_load_u32(ev->doc_lengths + 4 * (uint64_t)d), ev->avg_len);
            double score = 0;
            for (uint32_t i = 0; i < n; i++)
                if (m[i].it->doc == d)
                    c[m[i].j] = sgs_bm25_score(m[i].idf, sgs_term_iter_tf(m[i].it), norm);
            for (uint32_t j = 0; j < ev->n_pos; j++)
                score += c[j];
            sgs_topk_push(top, d, score);
            for (uint32_t i = 0; i < n; i++)
                c[m[i].j] = 0;
        }
        uint32_t nd = SGS_ITER_END;
        for (uint32_t i = e; i < n; i++) {
            sgs_term_iter *it = m[i].it;
            uint32_t id = it->doc;
            if (id == d) {
                id = sgs_term_iter_next(it);
                /* Lengths a few candidates ahead, so the misses overlap. */
                if (it->encoding == SGS_POSTINGS_BLOCKS && it->pos + MS_PF_AHEAD < it->count)
                    __builtin_prefetch(ev->doc_lengths +
                                       4 * (uint64_t)it->docs[it->pos + MS_PF_AHEAD]);
            }
            nd = id < nd ? id : nd;
        }
        d = nd;
        /* The length of a doc that gets scored is a cache miss more often
         * than not: ask for it while the bounds are worked out. */
        if (d != SGS_ITER_END)
            __builtin_prefetch(ev->doc_lengths + 4 * (uint64_t)d);
    }
}

/* The most docs of a window that two or more essential terms score into
 * the dense accumulator (window_or). */
#define WIN_DOCS 8192u

/* The position in its decoded block of the first doc after upto, which is
 * at most it->last (it->count when upto is the last). */
static inline uint32_t block_end_after(const sgs_term_iter *it, uint32_t upto)
{
    if (upto >= it->last)
        return it->count;
    const uint32_t *a = it->docs;
    uint32_t lo = it->pos, len = it->count - it->pos;
    while (len > 1) {
        uint32_t half = len >> 1;
        lo = a[lo + half - 1] <= upto ? lo + half : lo;
        len -= half;
    }
    return lo;
}

/* Per-window state of window_or. */
typedef struct wstate {
    double *wm;       /* per term: its bound within the window, widened */
    double *pw;       /* per term: prefix sums of wm */
    const uint32_t **rd, **rt; /* per essential term: its docs and tfs in the window ... */
    uint32_t *rn;     /* ... and how many */
    uint32_t **bd, **bt; /* per BITSET term: room for WIN_DOCS docs and tfs (else NULL) */
    double *acc;      /* WIN_DOCS: summed bounds of the essential terms, by doc - wbase */
    uint64_t *marks;  /* WIN_DOCS / 64 words: docs whose bound in acc reaches their bar */
    uint64_t *held;   /* WIN_DOCS / 64 words: docs a non-essential term holds */
    uint32_t *cand;   /* candidates of the window, doc order */
    double *cand_ub;  /* their bounds from the essential terms */
} wstate;

/* The docs and tfs of a BITSET cursor from its doc up to wend into docs and
 * tfs; the cursor is left where it stood. Returns how many (the cursor has
 * ended, with the context's status set, when that is not 0 afterwards). */
static uint32_t bitset_run(sgs_term_iter *it, uint32_t wend, uint32_t *docs, uint32_t *tfs)
{
    uint32_t d0 = it->doc, k = 0;
    for (uint32_t d = d0; d <= wend && d != SGS_ITER_END; d = sgs_term_iter_bitset_next(it, d + 1)) {
        docs[k] = d;
        tfs[k++] = sgs_term_iter_bitset_tf(it);
    }
    if (it->ctx->status == 0)
        it->doc = d0;
    return k;
}

/* The exact score of candidate d, already past the bounds, into the heap:
 * every term probed (the essential ones inside their blocks, the others
 * already standing on d or past it), then summed in positive-term order. */
static inline void window_score(const evaluator *ev, mterm *m, uint32_t n, double *c,
                                sgs_topk *top, uint32_t we, uint32_t d)
{
    double norm = sgs_bm25_norm(sgs_load_u32(ev->doc_lengths + 4 * (uint64_t)d), ev->avg_len);
    for (uint32_t i = 0; i < n; i++) {
        sgs_term_iter *it = m[i].it;
        if ((i < we ? it->doc : probe(it, d)) == d)
            c[m[i].j] = sgs_bm25_score(m[i].idf, sgs_term_iter_tf(it), norm);
    }
    double score = 0;
    for (uint32_t j = 0; j < ev->n_pos; j++)
        score += c[j];
    sgs_topk_push(top, d, score);
    for (uint32_t i = 0; i < n; i++)
        c[m[i].j] = 0;
}

/* Window-at-a-time MaxScore over n BLOCKS terms sorted by maximum (ub:
 * prefix sums of the widened term maxima). The doc ids are cut into
 * windows of at most WIN_DOCS docs that end no later than the decoded block
 * of any term, so every term's postings of a window are one run of its
 * block. Per window: each term's bound there (its block max) is summed, and
 * a window whose sum cannot reach the k-th score is passed without looking
 * at its docs; the terms whose prefix of window bounds stays below the k-th
 * score are non-essential for the window, and only mark which docs they
 * hold. The essential terms' postings get, in bulk, an upper bound of their
 * score (the tf with the floor of the doc's one-byte length code), summed
 * per doc in a dense accumulator; a doc whose sum, plus the bounds of the
 * non-essential terms when one of them holds it, can reach the k-th score
 * is a candidate: the non-essential terms are probed while it still can,
 * and only then is it scored exactly, as everywhere else (exact lengths,
 * positive-term order). */
static void window_or(evaluator *ev, mterm *m, uint32_t n, const double *ub, double *c,
                      sgs_topk *top, wstate *w)
{
    const uint8_t *codes = ev->len_codes;
    const double *nlb = ev->norm_lb;
    double *wm = w->wm, *pw = w->pw, *acc = w->acc;
    const uint32_t **rd = w->rd, **rt = w->rt;
    uint32_t *rn = w->rn;
    uint64_t *marks = w->marks, *held = w->held;
    uint32_t e = 0; /* terms [0, e) are non-essential by their maxima */
    bool full = false;
    double theta = -INFINITY;
    for (;;) {
        if (!full && sgs_topk_full(top))
            full = true;
        if (full) {
            theta = sgs_topk_threshold(top);
            while (e < n && ub[e] < theta)
                e++;
            if (e == n)
                return;
        }
        uint32_t base = SGS_ITER_END;
        for (uint32_t i = e; i < n; i++)
            if (m[i].it->doc < base)
                base = m[i].it->doc;
        if (base == SGS_ITER_END || ev->ctx.status != 0)
            return;
        /* The window starts at the word of base (so bitsets mark a word at
         * a time; no essential term has a doc before base). The
         * non-essential cursors catch up with base (the blocks they pass
         * hold no candidate), then every cursor's block bounds the window. */
        uint32_t wbase = base & ~63u;
        uint32_t wend = wbase + (WIN_DOCS - 1) < wbase ? SGS_ITER_END - 1 : wbase + (WIN_DOCS - 1);
        for (uint32_t i = 0; i < n; i++) {
            sgs_term_iter *it = m[i].it;
            if (i < e)
                sgs_term_iter_advance(it, base);
            if (it->doc != SGS_ITER_END && it->last < wend)
                wend = it->last;
        }
        double sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            const sgs_term_iter *it = m[i].it;
            double b = it->doc <= wend ? (double)sgs_term_iter_bound(it) * BOUND_SLACK : 0;
            /* Never above the term max, so the terms non-essential by their
             * maxima stay so in the window. */
            b = b < m[i].max ? b : m[i].max;
            wm[i] = b;
            pw[i] = sum += b;
        }
        uint32_t posted = 0;
        if (!full || sum >= theta) {
            uint32_t we = 0; /* terms [0, we) are non-essential in the window */
            while (full && we < n && pw[we] < theta)
                we++;
            double ne_ub = we > 0 ? pw[we - 1] : 0;
            uint32_t n_words = (wend - wbase) / 64 + 1;
            /* The essential terms' postings in the window: a run of the
             * decoded block, or a bitset's docs listed. */
            uint32_t n_ess = 0, only = 0;
            for (uint32_t i = we; i < n; i++) {
                sgs_term_iter *it = m[i].it;
                rn[i] = 0;
                if (it->doc > wend)
                    continue;
                n_ess++;
                only = i;
                if (it->encoding == SGS_POSTINGS_BLOCKS) {
                    if (!it->tfs_ready)
                        sgs_term_iter_load_tfs(it);
                    rd[i] = it->docs + it->pos;
                    rt[i] = it->tfs + it->pos;
                    rn[i] = block_end_after(it, wend) - it->pos;
                } else {
                    rd[i] = w->bd[i];
                    rt[i] = w->bt[i];
                    rn[i] = bitset_run(it, wend, w->bd[i], w->bt[i]);
                    if (ev->ctx.status != 0)
                        return;
                }
                posted += rn[i];
            }
            /* When the essential terms' bounds cannot reach theta alone,
             * only the docs a non-essential term holds can be candidates:
             * the others are passed without reading their length codes.
             * Else every essential posting's code is read: asked for here,
             * so the misses overlap the marking below. */
            bool all = !full || pw[n - 1] - ne_ub >= theta;
            if (all)
                for (uint32_t i = we; i < n; i++)
                    for (uint32_t p = 0; p < rn[i]; p++)
                        __builtin_prefetch(codes + rd[i][p]);
            for (uint32_t i = 0; i < we; i++) {
                const sgs_term_iter *it = m[i].it;
                if (it->doc > wend)
                    continue;
                if (it->encoding == SGS_POSTINGS_BLOCKS) {
                    uint32_t p1 = block_end_after(it, wend);
                    for (uint32_t p = it->pos; p < p1; p++) {
                        uint32_t o = it->docs[p] - wbase;
                        held[o >> 6] |= UINT64_C(1) << (o & 63);
                    }
                    posted += p1 - it->pos;
                } else {
                    /* Bits before the cursor's doc or past wend mark docs
                     * no essential term has in the window: harmless. */
                    uint32_t g0 = wbase >> 6;
                    for (uint32_t x = 0; x < n_words && g0 + x < it->n_words; x++)
                        held[x] |= sgs_load_u64(it->words + 8 * (uint64_t)(g0 + x));
                    posted += n_words;
                }
            }
            uint32_t n_cand = 0;
            /* A candidate's bar: theta, less the non-essential bounds when
             * one of those terms holds it. */
            double bar[2] = {theta, theta - ne_ub};
            if (n_ess == 1) {
                const uint32_t *docs = rd[only], *tfs = rt[only];
                double lift = m[only].idf * (SGS_BM25_K1 + 1.0);
                for (uint32_t p = 0; p < rn[only]; p++) {
                    uint32_t d = docs[p], o = d - wbase;
                    uint64_t h = (held[o >> 6] >> (o & 63)) & 1;
                    if (!all && !h)
                        continue;
                    double tf = (double)tfs[p];
                    double u = lift * tf / (tf + nlb[codes[d]]) * BOUND_SLACK;
                    w->cand[n_cand] = d;
                    w->cand_ub[n_cand] = u;
                    n_cand += u >= bar[h];
                }
            } else if (n_ess > 1) {
                /* Bounds summed per doc, then the docs that reach their bar
                 * marked, then the sums cleared: three passes over the
                 * postings, none with a branch on the data, and a scan of
                 * the (mostly empty) marks in doc order. */
                for (uint32_t i = we; i < n; i++) {
                    const uint32_t *docs = rd[i], *tfs = rt[i];
                    double lift = m[i].idf * (SGS_BM25_K1 + 1.0);
                    for (uint32_t p = 0; p < rn[i]; p++) {
                        uint32_t d = docs[p], o = d - wbase;
                        if (!all && !((held[o >> 6] >> (o & 63)) & 1))
                            continue;
                        double tf = (double)tfs[p];
                        acc[o] += lift * tf / (tf + nlb[codes[d]]);
                    }
                }
                for (uint32_t i = we; i < n; i++) {
                    const uint32_t *docs = rd[i];
                    for (uint32_t p = 0; p < rn[i]; p++) {
                        uint32_t o = docs[p] - wbase;
                        uint64_t h = (held[o >> 6] >> (o & 63)) & 1;
                        if (!all && !h)
                            continue;
                        marks[o >> 6] |= (uint64_t)(acc[o] * BOUND_SLACK >= bar[h]) << (o & 63);
                    }
                }
                for (uint32_t x = 0; x < n_words; x++) {
                    uint64_t bits = marks[x];
                    if (bits == 0)
                        continue;
                    marks[x] = 0;
                    do {
                        uint32_t o = (x << 6) + (uint32_t)__builtin_ctzll(bits);
                        bits &= bits - 1;
                        w->cand[n_cand] = wbase + o;
                        w->cand_ub[n_cand++] = acc[o] * BOUND_SLACK;
                    } while (bits != 0);
                }
                for (uint32_t i = we; i < n; i++)
                    for (uint32_t p = 0; p < rn[i]; p++)
                        acc[rd[i][p] - wbase] = 0;
            }
            /* Most candidates get scored: their lengths' misses overlap. */
            for (uint32_t q = 0; q < n_cand; q++)
                __builtin_prefetch(ev->doc_lengths + 4 * (uint64_t)w->cand[q]);
            for (uint32_t q = 0; q < n_cand; q++) {
                uint32_t d = w->cand[q];
                double b = w->cand_ub[q];
                if (!full && sgs_topk_full(top))
                    full = true;
                if (full)
                    theta = sgs_topk_threshold(top);
                /* A doc no non-essential term holds needs no probe. */
                uint32_t o = d - wbase;
                bool keep = true, h = (held[o >> 6] >> (o & 63)) & 1;
                for (uint32_t i = h ? we : 0; keep && i-- > 0;) {
                    if (full && b + pw[i] < theta)
                        keep = false;
                    else if (probe(m[i].it, d) == d)
                        b += wm[i];
                }
                if (keep && (!full || b >= theta))
                    window_score(ev, m, n, c, top, we, d);
            }
            if (we > 0)
                memset(held, 0, n_words * sizeof *held);
        }
        for (uint32_t i = e; i < n; i++)
            if (m[i].it->doc <= wend)
                sgs_term_iter_advance(m[i].it, wend + 1);
        if (!sgs_iter_charge(&ev->ctx, 1 + posted / 8))
            return;
    }
}

/* MaxScore top-k over the distinct terms of a root OR, on copies of the
 * scorers' cursors (the count walks the originals). Terms sorted by max
 * score; the prefix whose summed maxima stay below the k-th score is
 * non-essential: a doc holding only those cannot enter, so candidates come
 * from the essential terms alone and the others are probed only while the
 * doc can still reach the bar. Scores are summed in positive-term order as
 * everywhere else. */
static void maxscore_or(evaluator *ev, scorer *sc, bool copy, sgs_topk *top)
{
    uint32_t n = 0;
    mterm *m = sgs_arena_alloc(ev->a, (ev->n_pos + 1) * sizeof *m);
    double *c = sgs_arena_zalloc(ev->a, (ev->n_pos + 1) * sizeof *c);
    double *ub = sgs_arena_alloc(ev->a, (ev->n_pos + 1) * sizeof *ub);
    for (uint32_t j = 0; j < ev->n_pos; j++) {
        if (sc[j].it == NULL)
            continue;
        sgs_term_iter *it = sc[j].it;
        if (copy) {
            it = sgs_arena_alloc(ev->a, sizeof *it);
            *it = *sc[j].it;
        }
        mterm t = {it, sc[j].idf, (double)it->max_score * BOUND_SLACK, j};
        uint32_t i = n++;
        while (i > 0 && m[i - 1].max > t.max) {
            m[i] = m[i - 1];
            i--;
        }
        m[i] = t;
    }
    double acc = 0;
    bool blocks = true;
    for (uint32_t i = 0; i < n; i++) {
        ub[i] = acc += m[i].max;
        blocks &= m[i].idf >= 0;
    }
    if (blocks && n >= 2) {
        need_norm_lb(ev);
        wstate w;
        w.wm = sgs_arena_alloc(ev->a, 2 * (size_t)n * sizeof *w.wm);
        w.pw = w.wm + n;
        w.rd = sgs_arena_alloc(ev->a, 2 * (size_t)n * sizeof *w.rd);
        w.rt = w.rd + n;
        w.rn = sgs_arena_alloc(ev->a, (size_t)n * sizeof *w.rn);
        w.bd = sgs_arena_zalloc(ev->a, 2 * (size_t)n * sizeof *w.bd);
        w.bt = w.bd + n;
        for (uint32_t i = 0; i < n; i++)
            if (m[i].it->encoding != SGS_POSTINGS_BLOCKS) {
                w.bd[i] = sgs_arena_alloc(ev->a, 2 * WIN_DOCS * sizeof *w.bd[i]);
                w.bt[i] = w.bd[i] + WIN_DOCS;
            }
        w.acc = sgs_arena_zalloc(ev->a, WIN_DOCS * sizeof *w.acc);
        w.marks = sgs_arena_zalloc(ev->a, 2 * WIN_DOCS / 64 * sizeof *w.marks);
        w.held = w.marks + WIN_DOCS / 64;
        w.cand = sgs_arena_alloc(ev->a, WIN_DOCS * sizeof *w.cand);
        w.cand_ub = sgs_arena_alloc(ev->a, WIN_DOCS * sizeof *w.cand_ub);
        window_or(ev, m, n, ub, c, top, &w);
        return;
    }
    switch (n) {
    case 1:
        maxscore_loop(ev, m, 1, ub, c, top);
        break;
    case 2:
        maxscore_loop(ev, m, 2, ub, c, top);
        break;
    case 3:
        maxscore_loop(ev, m, 3, ub, c, top);
        break;
    case 4:
        maxscore_loop(ev, m, 4, ub, c, top);
        break;
    default:
        maxscore_loop(ev, m, n, ub, c, top);
    }
}

/* The root: a flat shape's fast path, or the general walk. */
static uint64_t evaluate(evaluator *ev, enode *root, scorer *sc, sgs_topk *top)
{
    ranker r;
    ranker_init(&r, ev, sc, top);
    /* Ranking one term by its blocks needs it to be the only scorer. */
    bool lone = top == NULL || (ev->n_pos == 1 && sc[0].it != NULL && !sc[0].own);
    if (root->kind == N_TERM && lone && (top == NULL || sc[0].it == root->it))
        return single_term(ev, root, &r);
    if (root->kind == N_AND && root->n_kids == 1 && root->n_excl == 1 &&
        root->kids[0]->kind == N_TERM && root->excl[0]->kind == N_TERM && lone &&
        (top == NULL || sc[0].it == root->kids[0]->it))
        return single_and_not(ev, root, &r);
    if (root->kind == N_AND && all_terms(root->kids, root->n_kids) &&
        all_terms(root->excl, root->n_excl))
        return flat_and(ev, root, &r);
    settle(ev, root);
    if (root->kind == N_OR && all_terms(root->kids, root->n_kids)) {
        /* MaxScore draws candidates from every scorer, so it needs each to
         * be a child of the root (a positive term of a subtree the shard
         * reduced to nothing scores but does not match). */
        bool own = false;
        for (uint32_t j = 0; top != NULL && j < ev->n_pos; j++)
            own |= sc[j].it != NULL && sc[j].own;
        if (own)
            return walk_tree(ev, root, &r);
        if (top == NULL || or_is_sparse(ev, root)) {
            if (top != NULL)
                maxscore_or(ev, sc, true, top);
            return count_or(ev, root);
        }
        /* The union is counted on MaxScore's own walk: each scorer cursor
         * marks every block it decodes into the bitmap, then the blocks it
         * never reached. Every distinct term of the root has a scorer. */
        uint32_t n_words = (ev->n_docs + 63) / 64;
        uint64_t *words = sgs_arena_zalloc(ev->a, (size_t)n_words * sizeof *words);
        for (uint32_t j = 0; j < ev->n_pos; j++)
            if (sc[j].it != NULL)
                sgs_term_iter_mark_along(sc[j].it, words);
        maxscore_or(ev, sc, false, top);
        for (uint32_t j = 0; j < ev->n_pos; j++)
            if (sc[j].it != NULL)
                sgs_term_iter_mark_rest(sc[j].it);
        return sgs_popcount_words(words, n_words);
    }
    return walk_tree(ev, root, &r);
}

/* The TERM nodes of q (at most max), positive or not, in tree order. */
static void collect_terms(const sgs_query_node *q, const char **terms, uint32_t *lens,
                          uint32_t *n, uint32_t max)
{
    if (q->kind == SGS_QUERY_TERM) {
        if (*n < max) {
            terms[*n] = q->term;
            lens[(*n)++] = q->term_len;
        }
        return;
    }
    for (uint32_t i = 0; i < q->n_children; i++)
        collect_terms(q->children[i], terms, lens, n, max);
}

int sgs_eval(const sgs_shard *s, const sgs_query_node *query, uint32_t k, uint64_t deadline_ns,
             sgs_arena *a, sgs_eval_result *out, sgs_err *err)
{
    if (k > SGS_EVAL_MAX_K)
        return sgs_err_set(err, SGS_EK_LARGE, "k %u exceeds the maximum %u", k, SGS_EVAL_MAX_K);
    /* The dictionary lookups and first blocks of all terms, fetched at once. */
    const char *terms[SGS_QUERY_MAX_TERMS];
    uint32_t lens[SGS_QUERY_MAX_TERMS], n_terms = 0;
    collect_terms(query, terms, lens, &n_terms, SGS_QUERY_MAX_TERMS);
    sgs_shard_prefetch_terms(s, terms, lens, n_terms);
    evaluator ev = {0};
    int rc = sgs_iter_ctx_init(&ev.ctx, s, deadline_ns, err);
    if (rc != 0)
        return rc;
    const sgs_shard_header *h = sgs_shard_header_get(s);
    ev.s = s;
    ev.a = a;
    ev.simd = sgs_simd_active();
    ev.n_docs = ev.ctx.n_docs;
    ev.corpus_n_docs = h->corpus_n_docs;
    ev.avg_len = h->corpus_avg_len;
    ev.doc_lengths = sgs_shard_section_bytes(s, SGS_SECTION_DOC_LENGTHS);
    ev.len_codes = sgs_shard_len_codes(s);
    ev.n_pos = sgs_query_positive_terms(query, a, &ev.pos);
    ev.pos_entry = sgs_arena_alloc(a, (ev.n_pos + 1) * sizeof *ev.pos_entry);
    for (uint32_t j = 0; j < ev.n_pos; j++)
        ev.pos_entry[j] = -2;

    enode *root = build(&ev, query, false);
    scorer *sc = NULL;
    sgs_topk top;
    if (k > 0) {
        sc = make_scorers(&ev, root);
        sgs_topk_init(&top, s, k, a);
    }
    if (ev.ctx.status != 0)
        return ev.ctx.status;
    uint64_t total = evaluate(&ev, root, sc, k > 0 ? &top : NULL);
    if (ev.ctx.status == 0 && k > 0 && top.bad_doc != SGS_ITER_END)
        return sgs_err_set(err, SGS_ECORRUPT, "%s: external id of doc %u out of bounds",
                           sgs_shard_path(s), top.bad_doc);
    if (ev.ctx.status != 0)
        return ev.ctx.status;
    out->total = total;
    out->hits = NULL;
    out->n_hits = 0;
    if (k > 0)
        out->n_hits = sgs_topk_finish(&top, a, &out->hits);
    return 0;
}
