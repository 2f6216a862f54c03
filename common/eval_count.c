/* Counting matches without ranking them (eval_internal.h): the generic
 * walk of a match cursor, the docs two terms share, and the union of a root
 * OR of terms in a bitmap of the shard.
 *
 * Invariants: each count is exact (every match once) unless the context
 * stops it (deadline, corruption: ctx.status says so); every loop charges
 * the context as it goes. */
#include "common/eval_internal.h"

/* Counts the matches of root from where it stands. */
uint64_t sgs_eval_count_all(evaluator *ev, enode *root)
{
    uint64_t total = 0;
    for (uint32_t d = root->doc; d != SGS_ITER_END; d = sgs_eval_node_next(ev, root)) {
        total++;
        if (!sgs_iter_charge(&ev->ctx, 1))
            break;
    }
    return total;
}

/* The docs two terms share, on fresh cursors (the rarer leads). */
uint64_t sgs_eval_count_both(evaluator *ev, const enode *p, const enode *q)
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

/* True when a root OR of terms has too few postings to pay for a bitmap. */
bool sgs_eval_or_is_sparse(const evaluator *ev, const enode *root)
{
    uint64_t sum_df = 0;
    for (uint32_t i = 0; i < root->n_kids; i++)
        sum_df += root->kids[i]->it->df;
    return sum_df * 512 < ev->n_docs;
}

/* The number of docs in the union of a root OR of terms: a bitmap of the
 * shard when the lists are long enough to pay for it, else the cursor walk.
 * Consumes the root's cursors. */
uint64_t sgs_eval_count_or(evaluator *ev, enode *root)
{
    if (sgs_eval_or_is_sparse(ev, root))
        return sgs_eval_count_all(ev, root);
    uint32_t n_words = (ev->n_docs + 63) / 64;
    uint64_t *words = sgs_arena_zalloc(ev->a, (size_t)n_words * sizeof *words);
    for (uint32_t i = 0; i < root->n_kids; i++)
        sgs_term_iter_mark(root->kids[i]->it, words);
    return sgs_popcount_words(words, n_words);
}
