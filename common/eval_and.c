/* A root AND of TERMs and excluded TERMs (eval_internal.h): counted and
 * ranked on the posting cursors themselves, without match cursors. Three
 * ways, by the terms' encodings: all bitsets, a word-by-word AND; the two
 * rarest positive terms block lists of comparable length, a merge of their
 * decoded blocks (the SIMD window kernels of intersect.h find the shared
 * docs); otherwise the leapfrog with the rarest leading.
 *
 * Invariants: every doc all positive terms hold and no excluded term holds
 * is counted once, in doc order, and ranked exactly as rank_doc() would
 * rank it (pend_flush() goes through the same rank_bar() and rank_tfs()); the
 * cursors are left wherever the walk stopped (nothing reads them after). */
#include "common/eval_internal.h"

#include "common/intersect.h"


/* merge_and() leads an AND when the second rarest list is at most this many
 * times longer than the rarest (beyond it, galloping past the longer list's
 * postings beats stepping through them). */
#define MERGE_MAX_RATIO 16u

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
    for (uint32_t k = 0; k < pb->n && r->active; k++) {
        const pend_doc *p = &pb->v[k];
        double theta;
        if (!rank_bar(r, &theta))
            break;
        if (r->per_doc && p->bound * BOUND_SLACK < theta)
            continue;
        double nlb = ev->norm_lb[ev->len_codes[p->doc]], lb = 0;
        for (uint32_t j = 0; j < 2; j++)
            lb += sgs_bm25_score(sc[j].idf, p->tf[j], nlb);
        rank_tfs(ev, r, p->doc, p->tf, lb, theta);
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
    /* The heap reads the id rank of a doc that reaches its bar. */
    __builtin_prefetch(ev->ext_ranks + 4 * (uint64_t)d);
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
        uint32_t ci[SGS_BLOCK_LEN + SGS_INTERSECT_ALL_SLACK];
        uint32_t cj[SGS_BLOCK_LEN + SGS_INTERSECT_ALL_SLACK], nc = 0;
#if defined(__x86_64__)
        if (ev->simd >= SGS_SIMD_AVX512)
            nc = sgs_intersect_all_avx512(ad, na, bd, nb, &i, &j, ci, cj);
        else
#endif
            while (sgs_intersect_shared(ev->simd, ad, na, bd, nb, &i, &j)) {
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
uint64_t sgs_eval_flat_and(evaluator *ev, enode *root, ranker *r)
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
