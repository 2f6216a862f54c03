/* Top-k of a root OR of TERMs by MaxScore (eval_internal.h): terms sorted
 * by their maximum score, the prefix whose summed maxima cannot reach the
 * k-th score non-essential (probed, never a source of candidates). When
 * every idf is >= 0 and there are two terms or more, window-at-a-time
 * (window_or: bounds per window of doc ids, bulk length-code bounds in a
 * dense accumulator); otherwise document-at-a-time (maxscore_loop).
 *
 * Before the windows, a seed bar: the k-th best score the highest-max
 * term alone gives the docs of its best block (seed_bar).
 *
 * Invariants: only ranks (the union is counted in eval_count.c or by the
 * cursors' marks); a doc is pushed with the exact score summed in
 * positive-term order as everywhere else, and pruning skips only docs whose
 * widened bound is below the k-th score, so the hits equal an exhaustive
 * ranking's. */
#include "common/eval_internal.h"

#include <math.h>
#include <string.h>

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

/* The dense accumulator of window_or, one per thread and zero between
 * windows (each window clears what it added), so no query pays to zero
 * WIN_DOCS doubles. */
static _Thread_local double window_acc[WIN_DOCS];

/* Per-window state of window_or. */
typedef struct wstate {
    double *wm;       /* per term: its bound within the window, widened */
    double *pw;       /* per term: prefix sums of wm */
    const uint32_t **rd, **rt; /* per essential term: its docs and tfs in the window ... */
    uint32_t *rn;     /* ... and how many */
    uint32_t **bd, **bt; /* per BITSET term: room for WIN_DOCS docs and tfs (else NULL) */
    double *acc;      /* window_acc: summed bounds of the essential terms, by doc - wbase */
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

/* A bar no hit of window_or can be below, found before any window: the
 * k-th best score that term t alone gives the docs of its block with the
 * highest stored maximum, or -INFINITY when that block holds fewer than k
 * docs. With every idf >= 0 a doc's score is a sum of non-negative terms,
 * summed in order, so it is at least its term-t score (rounding is
 * monotonic); those k docs all score at least the bar, hence so does the
 * k-th hit. Starting from it, windows and candidates below it are passed
 * before the heap has filled. Reads one block on a cursor of its own. */
static double seed_bar(evaluator *ev, const mterm *t, uint32_t k)
{
    const sgs_term_iter *src = t->it;
    if (src->encoding != SGS_POSTINGS_BLOCKS || src->df < k || k > SGS_BLOCK_LEN)
        return -INFINITY;
    sgs_term_iter *it = sgs_arena_alloc(ev->a, sizeof *it);
    *it = *src;
    it->mark = NULL;
    if (sgs_term_iter_seek_block(it, sgs_term_iter_top_block(src)) == SGS_ITER_END ||
        it->count < k)
        return -INFINITY;
    sgs_term_iter_load_tfs(it);
    for (uint32_t p = 0; p < it->count; p++)
        __builtin_prefetch(ev->doc_lengths + 4 * (uint64_t)it->docs[p]);
    /* best[0 .. k): the k best scores so far, ascending. Not an sgs_topk:
     * only the k-th score is wanted, not which docs hold the k best. */
    double best[SGS_BLOCK_LEN];
    uint32_t n = 0;
    for (uint32_t p = 0; p < it->count; p++) {
        uint32_t d = it->docs[p];
        double norm =
            sgs_bm25_norm(sgs_load_u32(ev->doc_lengths + 4 * (uint64_t)d), ev->avg_len);
        double x = sgs_bm25_score(t->idf, it->tfs[p], norm);
        if (n < k) {
            uint32_t i = n++;
            for (; i > 0 && best[i - 1] > x; i--)
                best[i] = best[i - 1];
            best[i] = x;
        } else if (x > best[0]) {
            /* The smallest leaves; x moves up into place. */
            uint32_t i = 0;
            for (; i + 1 < k && best[i + 1] < x; i++)
                best[i] = best[i + 1];
            best[i] = x;
        }
    }
    return n == k ? best[0] : -INFINITY;
}

/* The bar of window_or: the heap's k-th score once it is full, never below
 * the seed. */
static inline double window_bar(const sgs_topk *top, double seed)
{
    if (!sgs_topk_full(top))
        return seed;
    double t = sgs_topk_threshold(top);
    return t > seed ? t : seed;
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
 * positive-term order). "The k-th score" is window_bar()'s: never below
 * seed (seed_bar, or -INFINITY for none). */
static void window_or(evaluator *ev, mterm *m, uint32_t n, const double *ub, double *c,
                      sgs_topk *top, double seed, wstate *w)
{
    const uint8_t *codes = ev->len_codes;
    const double *nlb = ev->norm_lb;
    double *wm = w->wm, *pw = w->pw, *acc = w->acc;
    const uint32_t **rd = w->rd, **rt = w->rt;
    uint32_t *rn = w->rn;
    uint64_t *marks = w->marks, *held = w->held;
    uint32_t e = 0; /* terms [0, e) are non-essential by their maxima */
    for (;;) {
        double theta = window_bar(top, seed);
        while (e < n && ub[e] < theta)
            e++;
        if (e == n)
            return;
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
        if (sum >= theta) {
            uint32_t we = 0; /* terms [0, we) are non-essential in the window */
            while (we < n && pw[we] < theta)
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
            bool all = pw[n - 1] - ne_ub >= theta;
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
                theta = window_bar(top, seed);
                /* A doc no non-essential term holds needs no probe. */
                uint32_t o = d - wbase;
                bool keep = true, h = (held[o >> 6] >> (o & 63)) & 1;
                for (uint32_t i = h ? we : 0; keep && i-- > 0;) {
                    if (b + pw[i] < theta)
                        keep = false;
                    else if (probe(m[i].it, d) == d)
                        b += wm[i];
                }
                if (keep && b >= theta)
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
void sgs_eval_maxscore_or(evaluator *ev, scorer *sc, bool copy, sgs_topk *top)
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
        w.acc = window_acc;
        w.marks = sgs_arena_zalloc(ev->a, 2 * WIN_DOCS / 64 * sizeof *w.marks);
        w.held = w.marks + WIN_DOCS / 64;
        w.cand = sgs_arena_alloc(ev->a, WIN_DOCS * sizeof *w.cand);
        w.cand_ub = sgs_arena_alloc(ev->a, WIN_DOCS * sizeof *w.cand_ub);
        window_or(ev, m, n, ub, c, top, seed_bar(ev, &m[n - 1], top->k), &w);
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
