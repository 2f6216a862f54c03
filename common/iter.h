/* Posting iterators over one term of a shard: the document-at-a-time cursor
 * the evaluator (common/eval*.c) drives. A cursor walks the term's doc ids in
 * increasing order, skips ahead to a target doc, and yields the term
 * frequency and a score bound of the doc it stands on.
 *
 * BLOCKS terms decode one block of 128 postings at a time (doc ids only;
 * the tfs of a block are unpacked the first time one is asked for) and skip
 * by galloping through the skip table. BITSET terms test bits; a tf is found
 * by rank (the rank samples plus popcounts) in the tf block of 128 postings
 * that holds it.
 *
 * Invariants: a cursor is always positioned: on a doc id < n_docs of the
 * shard, or on SGS_ITER_END. next() strictly increases doc; advance(t)
 * leaves doc >= t and never moves backwards. Every byte read is checked
 * against the term's postings size before it is read; each decoded block is
 * checked to be strictly increasing, to end at its skip entry's last doc and
 * to lie below n_docs, so whatever the bytes, no cursor yields a doc id
 * outside the shard. On an inconsistency the cursor sets SGS_ECORRUPT on
 * its context and ends.
 *
 * Deadline: cursors charge work units (postings decoded, words scanned) to
 * their shared sgs_iter_ctx; every SGS_ITER_CHECK_UNITS units the context
 * reads the clock. Once the context's status is set (timeout or corruption)
 * every cursor of it ends at its next block or word boundary, so the loops
 * above drain quickly and the caller reports the status.
 *
 * The struct is visible so that the evaluator can embed and inline it; its
 * fields are private except doc. One context and its cursors belong to one
 * thread; the shard is only read. */
#ifndef SGS_COMMON_ITER_H
#define SGS_COMMON_ITER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/postings.h"
#include "common/shard_reader.h"

#define SGS_ITER_END UINT32_MAX
#define SGS_ITER_CHECK_UNITS 4096u /* work units between clock reads */

/* State shared by the cursors of one evaluation. */
typedef struct sgs_iter_ctx {
    const sgs_shard *shard;
    uint32_t n_docs;      /* documents in the shard (< SGS_ITER_END) */
    uint64_t deadline_ns; /* absolute CLOCK_MONOTONIC; 0: none */
    uint64_t work;        /* units charged since the last clock read */
    int status;           /* 0, SGS_ETIMEOUT or SGS_ECORRUPT; once set, cursors end */
    sgs_err *err;         /* where a corruption's reason goes */
} sgs_iter_ctx;

/* A cursor over one term. Fields other than doc are private. */
typedef struct sgs_term_iter {
    uint32_t doc; /* current doc id, or SGS_ITER_END */
    uint8_t encoding;
    uint32_t df;
    float max_score;
    sgs_iter_ctx *ctx;
    const char *term; /* for error messages */
    uint32_t term_len;

    /* BLOCKS */
    const uint8_t *skip; /* n_blocks skip entries */
    const uint8_t *data; /* block data, data_size bytes */
    uint64_t data_size;
    uint32_t n_blocks;
    uint32_t block;      /* block decoded into docs; n_blocks when ended */
    uint32_t pos;        /* index of doc in docs */
    uint32_t count;      /* postings in docs */
    uint32_t last;       /* last doc of the decoded block */
    float block_max;     /* block max score of the decoded block */
    bool tfs_ready;      /* tfs holds the decoded block's tfs */
    uint32_t tf_reads;   /* tfs of the decoded block read one by one */
    const uint8_t *block_tf_bytes;
    unsigned block_tf_bits;

    /* BITSET */
    const uint8_t *words; /* n_words u64 */
    const uint8_t *ranks; /* one u32 per SGS_SHARD_RANK_WORDS words */
    const uint8_t *tf_table;
    const uint8_t *tf_data;
    uint64_t tf_data_size;
    uint32_t n_words;
    uint32_t tf_block; /* tf block decoded into tfs, or UINT32_MAX */
    uint32_t rank_w;   /* a word index ... */
    uint64_t rank_at;  /* ... and the set bits before it, for tf lookups */
    bool popcnt;       /* the CPU has a popcount instruction */
    uint64_t *mark;    /* BLOCKS: bitmap every loaded block is marked into, or NULL */

    uint32_t docs[SGS_BLOCK_LEN];
    uint32_t tfs[SGS_BLOCK_LEN];
} sgs_term_iter;

/* Initialises ctx for an evaluation on s with the given deadline; corruption
 * reasons go to err. SGS_ECORRUPT when n_docs does not fit a doc id. */
int sgs_iter_ctx_init(sgs_iter_ctx *ctx, const sgs_shard *s, uint64_t deadline_ns, sgs_err *err);

/* Reads the clock once the charged work passes SGS_ITER_CHECK_UNITS; sets
 * SGS_ETIMEOUT when the deadline has passed. False once the status is set. */
bool sgs_iter_ctx_check(sgs_iter_ctx *ctx);

/* Adds units of work; false once the evaluation must stop. */
static inline bool sgs_iter_charge(sgs_iter_ctx *ctx, uint64_t units)
{
    ctx->work += units;
    if (ctx->work >= SGS_ITER_CHECK_UNITS)
        return sgs_iter_ctx_check(ctx);
    return ctx->status == 0;
}

/* Sets SGS_ECORRUPT on ctx (first reason wins) naming the term; returns it. */
int sgs_iter_corrupt(sgs_iter_ctx *ctx, const char *term, uint32_t term_len, const char *what,
                     unsigned long long where);

/* Positions it on the first posting of entry e (term bytes borrowed for
 * messages). 0, or SGS_ECORRUPT (also set on ctx) when the postings' layout
 * does not fit their size; it then stands on SGS_ITER_END. */
int sgs_term_iter_init(sgs_term_iter *it, sgs_iter_ctx *ctx, const sgs_term_entry *e,
                       const char *term, uint32_t term_len);

/* Sets bit d of words (ceil(n_docs / 64) u64) for the current posting and
 * every later one, leaving the cursor at SGS_ITER_END. */
void sgs_term_iter_mark(sgs_term_iter *it, uint64_t *words);

/* Set bits in n little-endian u64 words at words (any alignment). */
uint64_t sgs_popcount_words(const void *words, uint64_t n);

/* Marks the current posting and every later one into words, as the cursor
 * goes: the current block now, each block it loads later (skips then decode
 * every block on the way instead of galloping). A bitset is marked at once.
 * sgs_term_iter_mark_rest() then marks what the cursor did not reach. */
void sgs_term_iter_mark_along(sgs_term_iter *it, uint64_t *words);

/* Marks the postings a cursor under sgs_term_iter_mark_along() has not
 * reached yet, leaving it at SGS_ITER_END; no-op for other cursors. */
void sgs_term_iter_mark_rest(sgs_term_iter *it);

/* Leaves the current block for the first posting of the first later block
 * whose stored block max, times slack, reaches theta; the blocks passed are
 * not decoded. A BITSET cursor (no block maxima) moves to its next posting.
 * Returns the new doc (SGS_ITER_END when no block is left). */
uint32_t sgs_term_iter_next_block_reaching(sgs_term_iter *it, double theta, double slack);

/* The block with the highest stored block max (the first of equals), or
 * n_blocks for a BITSET cursor (no block maxima). Reads the skip table only. */
uint32_t sgs_term_iter_top_block(const sgs_term_iter *it);

/* Decodes block b of a BLOCKS cursor and stands on its first posting, even
 * when that moves the cursor backwards: for a cursor of its own (a copy),
 * never one the evaluation walks. SGS_ITER_END when b >= n_blocks or on
 * corruption. */
uint32_t sgs_term_iter_seek_block(sgs_term_iter *it, uint32_t b);

/* Slow paths of the inline functions below. */
uint32_t sgs_term_iter_next_block(sgs_term_iter *it);
uint32_t sgs_term_iter_advance_slow(sgs_term_iter *it, uint32_t target);
uint32_t sgs_term_iter_bitset_next(sgs_term_iter *it, uint32_t from);
void sgs_term_iter_load_tfs(sgs_term_iter *it);
uint32_t sgs_term_iter_bitset_tf(sgs_term_iter *it);

/* Moves to the next posting; returns the new doc (SGS_ITER_END at the end). */
static inline uint32_t sgs_term_iter_next(sgs_term_iter *it)
{
    if (it->encoding == SGS_POSTINGS_BLOCKS) {
        if (it->pos + 1 < it->count)
            return it->doc = it->docs[++it->pos];
        return sgs_term_iter_next_block(it);
    }
    if (it->doc == SGS_ITER_END)
        return SGS_ITER_END;
    return sgs_term_iter_bitset_next(it, it->doc + 1);
}

/* Moves to the first posting >= target (no move when doc >= target). */
static inline uint32_t sgs_term_iter_advance(sgs_term_iter *it, uint32_t target)
{
    if (it->doc >= target)
        return it->doc;
    if (it->encoding == SGS_POSTINGS_BLOCKS && target <= it->last) {
        uint32_t p = it->pos + 1;
        while (it->docs[p] < target)
            p++;
        it->pos = p;
        return it->doc = it->docs[p];
    }
    return sgs_term_iter_advance_slow(it, target);
}

/* The tf of the current doc (doc != SGS_ITER_END); 1 with SGS_ECORRUPT on
 * the context when the tf bytes are inconsistent. */
static inline uint32_t sgs_term_iter_tf(sgs_term_iter *it)
{
    if (it->encoding == SGS_POSTINGS_BLOCKS) {
        if (!it->tfs_ready)
            sgs_term_iter_load_tfs(it);
        return it->tfs[it->pos];
    }
    return sgs_term_iter_bitset_tf(it);
}

/* Tfs of a block read one by one before the whole block's are decoded. */
#define SGS_ITER_TF_ONE_MAX 8u

/* sgs_term_iter_tf(), for a cursor that reads few tfs of each block: the
 * first SGS_ITER_TF_ONE_MAX of a block are read alone, without decoding the
 * block's tfs; past them, the block's are decoded. */
static inline uint32_t sgs_term_iter_tf_one(sgs_term_iter *it)
{
    if (it->encoding == SGS_POSTINGS_BLOCKS) {
        if (it->tfs_ready)
            return it->tfs[it->pos];
        if (it->tf_reads++ < SGS_ITER_TF_ONE_MAX)
            return sgs_unpack_one(it->block_tf_bytes, it->count, it->block_tf_bits, it->pos) +
                   1;
        sgs_term_iter_load_tfs(it);
        return it->tfs[it->pos];
    }
    return sgs_term_iter_bitset_tf(it);
}

/* An upper bound of the term's score on the current doc: the block max of
 * its block (BLOCKS) or the term max (BITSET). */
static inline float sgs_term_iter_bound(const sgs_term_iter *it)
{
    return it->encoding == SGS_POSTINGS_BLOCKS ? it->block_max : it->max_score;
}

#endif
