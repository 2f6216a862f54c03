/* Posting cursors (iter.h): block loading with its consistency checks,
 * galloping through the skip table, bitset scans and tf lookup by rank. */
#include "common/iter.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"

static float load_f32(const uint8_t *p)
{
    uint32_t v = sgs_load_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

/* A u64 of the mapping in one load (the host is little-endian). */
static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* Postings in block b of a list of df postings cut into n_blocks. */
static uint32_t block_count(uint32_t df, uint32_t b, uint32_t n_blocks)
{
    return b + 1 < n_blocks ? SGS_BLOCK_LEN : df - b * SGS_BLOCK_LEN;
}

int sgs_iter_ctx_init(sgs_iter_ctx *ctx, const sgs_shard *s, uint64_t deadline_ns, sgs_err *err)
{
    const sgs_shard_header *h = sgs_shard_header_get(s);
    memset(ctx, 0, sizeof *ctx);
    ctx->shard = s;
    ctx->deadline_ns = deadline_ns;
    ctx->err = err;
    /* The first charge reads the clock, so a deadline already past stops
     * the evaluation at its first block. */
    ctx->work = SGS_ITER_CHECK_UNITS;
    if (h->n_docs >= SGS_ITER_END)
        return sgs_err_set(err, SGS_ECORRUPT, "%s: header: n_docs %llu does not fit a doc id",
                           sgs_shard_path(s), (unsigned long long)h->n_docs);
    ctx->n_docs = (uint32_t)h->n_docs;
    return 0;
}

bool sgs_iter_ctx_check(sgs_iter_ctx *ctx)
{
    ctx->work = 0;
    if (ctx->status != 0)
        return false;
    if (ctx->deadline_ns != 0 && sgs_now_ns() >= ctx->deadline_ns) {
        ctx->status = SGS_ETIMEOUT;
        sgs_err_set(ctx->err, SGS_ETIMEOUT, "deadline passed during evaluation");
        return false;
    }
    return true;
}

int sgs_iter_corrupt(sgs_iter_ctx *ctx, const char *term, uint32_t term_len, const char *what,
                     unsigned long long where)
{
    char name[48];
    uint32_t n = term_len < 40 ? term_len : 40;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)term[i];
        name[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    name[n] = '\0';
    if (ctx->status == 0 || ctx->status == SGS_ETIMEOUT)
        ctx->status = SGS_ECORRUPT;
    sgs_err_set(ctx->err, SGS_ECORRUPT, "%s: section postings: term '%s': %s %llu",
                sgs_shard_path(ctx->shard), name, what, where);
    return SGS_ECORRUPT;
}

static uint32_t end_iter(sgs_term_iter *it)
{
    it->block = it->n_blocks;
    it->count = 0;
    it->pos = 0;
    it->last = SGS_ITER_END;
    return it->doc = SGS_ITER_END;
}

static uint32_t fail(sgs_term_iter *it, const char *what, unsigned long long where)
{
    sgs_iter_corrupt(it->ctx, it->term, it->term_len, what, where);
    return end_iter(it);
}

/* ---- BLOCKS ---------------------------------------------------------------- */

/* Decodes block b (its doc ids) and stands on its first posting. */
static uint32_t load_block(sgs_term_iter *it, uint32_t b)
{
    if (b >= it->n_blocks)
        return end_iter(it);
    if (!sgs_iter_charge(it->ctx, SGS_BLOCK_LEN))
        return end_iter(it);
    const uint8_t *skip = it->skip + (uint64_t)b * SGS_SHARD_SKIP_ENTRY_SIZE;
    uint32_t last = sgs_load_u32(skip);
    uint32_t off = sgs_load_u32(skip + 4);
    unsigned doc_bits = skip[12], tf_bits = skip[13];
    uint32_t count = (uint32_t)skip[14] + 1;
    if (count != block_count(it->df, b, it->n_blocks))
        return fail(it, "count disagrees with shard_df in block", b);
    if (doc_bits > 32 || tf_bits > 32)
        return fail(it, "bit width above 32 in block", b);
    uint64_t doc_size = sgs_packed_size(count, doc_bits);
    uint64_t tf_size = sgs_packed_size(count, tf_bits);
    if ((uint64_t)off + doc_size + tf_size > it->data_size)
        return fail(it, "data past the postings size in block", b);
    if (last >= it->ctx->n_docs)
        return fail(it, "last doc not below n_docs in block", b);
    uint32_t prev = b == 0 ? UINT32_MAX : sgs_load_u32(skip - SGS_SHARD_SKIP_ENTRY_SIZE);
    const uint8_t *in = it->data + off;
    sgs_block_decode(in, count, prev, doc_bits, tf_bits, it->docs, NULL);
    /* Strictly increasing above prev and ending at last keeps every doc id
     * inside the shard and every cursor moving forwards. Each step adds
     * gap + 1 >= 1 mod 2^32; with gaps below 2^24 the 128 steps sum to at
     * most 2^31, so when the block ends at last > prev nothing wrapped and
     * the order holds without looking at every id. */
    if (b > 0 && last <= prev)
        return fail(it, "last doc not above the previous block's in block", b);
    uint32_t bad = it->docs[count - 1] != last;
    if (doc_bits > 24) {
        bad |= b > 0 && it->docs[0] <= prev;
        for (uint32_t i = 1; i < count; i++)
            bad |= it->docs[i] <= it->docs[i - 1];
    }
    if (bad)
        return fail(it, "doc ids out of order in block", b);
    it->block = b;
    it->count = count;
    it->pos = 0;
    it->last = last;
    it->block_max = load_f32(skip + 8);
    it->tfs_ready = false;
    it->tf_reads = 0;
    it->block_tf_bytes = in + doc_size;
    it->block_tf_bits = tf_bits;
    if (it->mark != NULL)
        for (uint32_t i = 0; i < count; i++)
            it->mark[it->docs[i] >> 6] |= UINT64_C(1) << (it->docs[i] & 63);
    return it->doc = it->docs[0];
}

uint32_t sgs_term_iter_next_block(sgs_term_iter *it)
{
    if (it->doc == SGS_ITER_END)
        return SGS_ITER_END;
    return load_block(it, it->block + 1);
}

void sgs_term_iter_load_tfs(sgs_term_iter *it)
{
    sgs_unpack(it->block_tf_bytes, it->count, it->block_tf_bits, it->tfs);
    for (uint32_t i = 0; i < it->count; i++)
        it->tfs[i] += 1;
    it->tfs_ready = true;
}

/* The first block after the current one whose last doc is >= target:
 * exponential then binary search over the skip entries' last docs. */
static uint32_t gallop(const sgs_term_iter *it, uint32_t target)
{
    uint32_t lo = it->block + 1, n = it->n_blocks;
    uint32_t step = 1, hi = lo;
    while (hi < n && sgs_load_u32(it->skip + (uint64_t)hi * SGS_SHARD_SKIP_ENTRY_SIZE) < target) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    /* The answer is in [lo, hi]; hi == n means none. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sgs_load_u32(it->skip + (uint64_t)mid * SGS_SHARD_SKIP_ENTRY_SIZE) < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t sgs_term_iter_advance_slow(sgs_term_iter *it, uint32_t target)
{
    if (it->doc == SGS_ITER_END)
        return SGS_ITER_END;
    if (it->encoding == SGS_POSTINGS_BITSET)
        return sgs_term_iter_bitset_next(it, target);
    if (it->mark != NULL) {
        /* Marking: every block is decoded (and marked) on the way. */
        while (it->last < target)
            if (load_block(it, it->block + 1) == SGS_ITER_END)
                return SGS_ITER_END;
    } else {
        if (target >= it->ctx->n_docs)
            return end_iter(it);
        if (load_block(it, gallop(it, target)) == SGS_ITER_END)
            return SGS_ITER_END;
    }
    if (it->doc >= target)
        return it->doc;
    /* The skip entry's last doc is >= target and the block ends there. */
    uint32_t p = 1;
    while (it->docs[p] < target)
        p++;
    it->pos = p;
    return it->doc = it->docs[p];
}

/* The stored block max of block b (< n_blocks), from its skip entry. */
static float stored_block_max(const sgs_term_iter *it, uint32_t b)
{
    return load_f32(it->skip + (uint64_t)b * SGS_SHARD_SKIP_ENTRY_SIZE + 8);
}

uint32_t sgs_term_iter_next_block_reaching(sgs_term_iter *it, double theta, double slack)
{
    if (it->doc == SGS_ITER_END)
        return SGS_ITER_END;
    if (it->encoding != SGS_POSTINGS_BLOCKS)
        return sgs_term_iter_next(it);
    uint32_t b = it->block + 1;
    while (b < it->n_blocks && (double)stored_block_max(it, b) * slack < theta) {
        b++;
        if (!sgs_iter_charge(it->ctx, 1))
            return end_iter(it);
    }
    return load_block(it, b);
}

uint32_t sgs_term_iter_top_block(const sgs_term_iter *it)
{
    if (it->encoding != SGS_POSTINGS_BLOCKS)
        return it->n_blocks;
    uint32_t best = 0;
    float best_max = -INFINITY;
    for (uint32_t b = 0; b < it->n_blocks; b++) {
        float x = stored_block_max(it, b);
        if (x > best_max) {
            best_max = x;
            best = b;
        }
    }
    return best;
}

uint32_t sgs_term_iter_seek_block(sgs_term_iter *it, uint32_t b)
{
    if (it->encoding != SGS_POSTINGS_BLOCKS)
        return end_iter(it);
    return load_block(it, b);
}

/* ---- BITSET ---------------------------------------------------------------- */

/* Without -mpopcnt the builtin is a library call; the CPU's instruction,
 * where it has one, is several times faster. */
__attribute__((target("popcnt"))) static uint64_t popcount_hw(const uint8_t *p, uint64_t n)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < n; i++)
        c += (uint64_t)__builtin_popcountll(load64(p + 8 * i));
    return c;
}

static uint64_t popcount_sw(const uint8_t *p, uint64_t n)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < n; i++)
        c += (uint64_t)__builtin_popcountll(load64(p + 8 * i));
    return c;
}

uint64_t sgs_popcount_words(const void *words, uint64_t n)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("popcnt"))
        return popcount_hw(words, n);
#endif
    return popcount_sw(words, n);
}

uint32_t sgs_term_iter_bitset_next(sgs_term_iter *it, uint32_t from)
{
    if (from >= it->ctx->n_docs)
        return it->doc = SGS_ITER_END;
    uint32_t w = from >> 6;
    uint64_t bits = load64(it->words + 8 * (uint64_t)w) & (~UINT64_C(0) << (from & 63));
    uint32_t scanned = 0;
    while (bits == 0) {
        if (++w >= it->n_words)
            return it->doc = SGS_ITER_END;
        bits = load64(it->words + 8 * (uint64_t)w);
        if (++scanned == 64) {
            if (!sgs_iter_charge(it->ctx, 64))
                return it->doc = SGS_ITER_END;
            scanned = 0;
        }
    }
    uint32_t doc = (w << 6) + (uint32_t)__builtin_ctzll(bits);
    /* Bits past n_docs in the last word are not documents. */
    if (doc >= it->ctx->n_docs)
        return it->doc = SGS_ITER_END;
    if (it->ctx->status != 0)
        return it->doc = SGS_ITER_END;
    return it->doc = doc;
}

/* The tf of the current doc: its rank among the set bits picks the tf
 * block and the slot. Ranks come from a running count kept on the cursor
 * (docs are visited in order, so it advances a few words at a time), reset
 * from the rank samples after a long jump. */
static inline __attribute__((always_inline)) uint32_t bitset_tf(sgs_term_iter *it)
{
    uint32_t d = it->doc;
    uint32_t w = d >> 6;
    if (w < it->rank_w || w - it->rank_w > 2 * SGS_SHARD_RANK_WORDS) {
        uint32_t sample = w / SGS_SHARD_RANK_WORDS;
        it->rank_w = sample * SGS_SHARD_RANK_WORDS;
        it->rank_at = sgs_load_u32(it->ranks + 4 * (uint64_t)sample);
    }
    uint64_t rank = it->rank_at;
    for (uint32_t i = it->rank_w; i < w; i++)
        rank += (uint64_t)__builtin_popcountll(load64(it->words + 8 * (uint64_t)i));
    it->rank_w = w;
    it->rank_at = rank;
    uint64_t below = load64(it->words + 8 * (uint64_t)w) & ((UINT64_C(1) << (d & 63)) - 1);
    rank += (uint64_t)__builtin_popcountll(below);
    if (rank >= it->df) {
        fail(it, "rank past shard_df at doc", d);
        return 1;
    }
    uint32_t b = (uint32_t)(rank / SGS_BLOCK_LEN);
    if (b != it->tf_block) {
        const uint8_t *entry = it->tf_table + (uint64_t)b * SGS_SHARD_TF_ENTRY_SIZE;
        uint32_t off = sgs_load_u32(entry);
        unsigned bits = entry[4];
        uint32_t count = block_count(it->df, b, it->n_blocks);
        if (bits > 32 || (uint64_t)off + sgs_packed_size(count, bits) > it->tf_data_size) {
            fail(it, "tf block out of bounds:", b);
            return 1;
        }
        sgs_unpack(it->tf_data + off, count, bits, it->tfs);
        it->tf_block = b;
    }
    return it->tfs[rank % SGS_BLOCK_LEN] + 1;
}

__attribute__((target("popcnt"))) static uint32_t bitset_tf_hw(sgs_term_iter *it)
{
    return bitset_tf(it);
}

static uint32_t bitset_tf_sw(sgs_term_iter *it)
{
    return bitset_tf(it);
}

uint32_t sgs_term_iter_bitset_tf(sgs_term_iter *it)
{
    return it->popcnt ? bitset_tf_hw(it) : bitset_tf_sw(it);
}

/* ---- init ------------------------------------------------------------------ */

int sgs_term_iter_init(sgs_term_iter *it, sgs_iter_ctx *ctx, const sgs_term_entry *e,
                       const char *term, uint32_t term_len)
{
    it->ctx = ctx;
    it->term = term;
    it->term_len = term_len;
    it->df = e->shard_df;
    it->max_score = e->max_score;
    it->encoding = e->encoding;
    it->n_blocks = 0;
    it->tf_block = UINT32_MAX;
    it->mark = NULL;
    it->rank_w = 0;
    it->rank_at = 0;
#if defined(__x86_64__)
    it->popcnt = __builtin_cpu_supports("popcnt");
#else
    it->popcnt = false;
#endif
    it->tfs_ready = false;
    it->tf_reads = 0;
    end_iter(it);
    const uint8_t *p = sgs_shard_term_postings_bytes(ctx->shard, e);
    if (p == NULL)
        return sgs_iter_corrupt(ctx, term, term_len, "postings outside the section at offset",
                                (unsigned long long)e->postings_offset);
    if (e->shard_df == 0 || e->shard_df > ctx->n_docs)
        return sgs_iter_corrupt(ctx, term, term_len, "shard_df not in 1 .. n_docs:",
                                e->shard_df);
    uint64_t n_blocks = div_ceil(e->shard_df, SGS_BLOCK_LEN);
    if (e->encoding == SGS_POSTINGS_BLOCKS) {
        uint64_t skip_bytes = n_blocks * SGS_SHARD_SKIP_ENTRY_SIZE;
        if (e->postings_size < skip_bytes)
            return sgs_iter_corrupt(ctx, term, term_len, "size too small for skip entries:",
                                    (unsigned long long)n_blocks);
        it->skip = p;
        it->data = p + skip_bytes;
        it->data_size = e->postings_size - skip_bytes;
        it->n_blocks = (uint32_t)n_blocks;
        load_block(it, 0);
        return ctx->status == SGS_ECORRUPT ? SGS_ECORRUPT : 0;
    }
    if (e->encoding != SGS_POSTINGS_BITSET)
        return sgs_iter_corrupt(ctx, term, term_len, "unknown encoding", e->encoding);
    uint64_t n_words = div_ceil(ctx->n_docs, 64);
    uint64_t n_ranks = div_ceil(n_words, SGS_SHARD_RANK_WORDS);
    uint64_t table_at = 8 * n_words + 4 * n_ranks;
    uint64_t data_at = table_at + SGS_SHARD_TF_ENTRY_SIZE * n_blocks;
    if (e->postings_size < data_at)
        return sgs_iter_corrupt(ctx, term, term_len, "size too small for a bitset:",
                                (unsigned long long)e->postings_size);
    it->words = p;
    it->ranks = p + 8 * n_words;
    it->tf_table = p + table_at;
    it->tf_data = p + data_at;
    it->tf_data_size = e->postings_size - data_at;
    it->n_words = (uint32_t)n_words;
    it->n_blocks = (uint32_t)n_blocks;
    it->block = 0;
    it->last = SGS_ITER_END;
    it->doc = 0;
    sgs_term_iter_bitset_next(it, 0);
    return 0;
}

/* ---- marking --------------------------------------------------------------- */

static void mark_bitset(sgs_term_iter *it, uint64_t *words)
{
    uint32_t from = it->doc;
    uint32_t w0 = from >> 6, n = it->n_words;
    uint32_t tail = it->ctx->n_docs & 63;
    for (uint32_t w = w0; w < n; w++) {
        uint64_t bits = load64(it->words + 8 * (uint64_t)w);
        if (w == w0)
            bits &= ~UINT64_C(0) << (from & 63);
        if (w + 1 == n && tail != 0)
            bits &= (UINT64_C(1) << tail) - 1;
        words[w] |= bits;
    }
    sgs_iter_charge(it->ctx, n - w0);
}

void sgs_term_iter_mark_along(sgs_term_iter *it, uint64_t *words)
{
    if (it->doc == SGS_ITER_END)
        return;
    if (it->encoding == SGS_POSTINGS_BITSET) {
        mark_bitset(it, words);
        return;
    }
    for (uint32_t i = it->pos; i < it->count; i++)
        words[it->docs[i] >> 6] |= UINT64_C(1) << (it->docs[i] & 63);
    it->mark = words;
}

void sgs_term_iter_mark_rest(sgs_term_iter *it)
{
    if (it->mark == NULL || it->encoding != SGS_POSTINGS_BLOCKS)
        return;
    while (it->doc != SGS_ITER_END)
        load_block(it, it->block + 1);
}

void sgs_term_iter_mark(sgs_term_iter *it, uint64_t *words)
{
    if (it->doc == SGS_ITER_END)
        return;
    if (it->encoding == SGS_POSTINGS_BITSET) {
        mark_bitset(it, words);
        it->doc = SGS_ITER_END;
        return;
    }
    for (;;) {
        for (uint32_t i = it->pos; i < it->count; i++) {
            uint32_t d = it->docs[i];
            words[d >> 6] |= UINT64_C(1) << (d & 63);
        }
        if (sgs_term_iter_next_block(it) == SGS_ITER_END)
            return;
    }
}
