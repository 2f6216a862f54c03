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
 * NOT TERMs leapfrogs on the posting cursors directly (sgs_eval_flat_and,
 * eval_and.c); an OR of TERMs counts its union in a bitmap of the shard
 * (eval_count.c) and ranks with MaxScore (sgs_eval_maxscore_or, eval_or.c),
 * the bitmap filled by the MaxScore cursors themselves as they decode. Every
 * other tree takes the general walk (walk_tree). The differential tests in
 * tests/unit/test_eval.c cover all three. This file holds the cursor tree,
 * the scorers, the single-term paths, the walk and the choice of path;
 * eval_internal.h lists the others. */
#include "common/eval.h"

#include <string.h>

#include "common/eval_internal.h"

/* ---- match cursors ------------------------------------------------------- */

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
            d = sgs_eval_node_next(ev, lead);
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

uint32_t sgs_eval_node_next(evaluator *ev, enode *n)
{
    uint32_t d = n->doc;
    if (d == SGS_ITER_END)
        return d;
    switch (n->kind) {
    case N_TERM:
        return n->doc = sgs_term_iter_next(n->it);
    case N_AND:
        return and_settle(ev, n, sgs_eval_node_next(ev, n->kids[0]));
    case N_OR:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (n->kids[i]->doc == d)
                sgs_eval_node_next(ev, n->kids[i]);
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

/* ---- evaluation ---------------------------------------------------------- */

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
        d = sgs_eval_node_next(ev, root);
    }
    return total + sgs_eval_count_all(ev, root);
}

static bool all_terms(enode *const *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i]->kind != N_TERM)
            return false;
    return true;
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
    uint64_t shared = sgs_eval_count_both(ev, a, x);
    if (r->active)
        rank_single(ev, r, a->it, &x->it, 1);
    return a->it->df - shared;
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
        return sgs_eval_flat_and(ev, root, &r);
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
        if (top == NULL || sgs_eval_or_is_sparse(ev, root)) {
            if (top != NULL)
                sgs_eval_maxscore_or(ev, sc, true, top);
            return sgs_eval_count_or(ev, root);
        }
        /* The union is counted on MaxScore's own walk: each scorer cursor
         * marks every block it decodes into the bitmap, then the blocks it
         * never reached. Every distinct term of the root has a scorer. */
        uint32_t n_words = (ev->n_docs + 63) / 64;
        uint64_t *words = sgs_arena_zalloc(ev->a, (size_t)n_words * sizeof *words);
        for (uint32_t j = 0; j < ev->n_pos; j++)
            if (sc[j].it != NULL)
                sgs_term_iter_mark_along(sc[j].it, words);
        sgs_eval_maxscore_or(ev, sc, false, top);
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
    ev.ext_ranks = sgs_shard_ext_id_ranks(s);
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
        return sgs_err_set(err, SGS_ECORRUPT, "%s: doc %u past the shard's documents",
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
