/* bench_codec: how fast the posting-list codec decodes full blocks, measured
 * against this machine's single-thread memory read bandwidth in the same run.
 *
 * For each data set it encodes 64 MiB worth of decoded doc ids (131072 full
 * blocks of 128) with small tfs: doc gaps of 4, 8, 12 and 20 bits, and
 * "mixed", where each block's gap width is drawn at random from 2 .. 20 (the
 * worst case for the per-width dispatch branch). It then times passes of
 * sgs_block_decode over every block, docs only and docs + tfs, with the
 * active SIMD kernels and with the scalar reference (what SGS_SIMD=scalar
 * runs), plus the SSE2 kernels when AVX2 is active, plain sgs_unpack, and
 * (once) sgs_delta_decode alone on 128 values in L1; each figure is the best
 * pass. Speeds are million postings/s and output bytes/s (4 bytes per doc id,
 * 4 per tf); "ratio" is output bytes/s over read bandwidth, whose goal is
 * >= 0.45 for the active kernels' docs and docs+tfs rows on every data set.
 * Read bandwidth is the best of several passes summing a 512 MiB uint64 array
 * (past any L3), taken before and after the decodes; the higher one is used.
 * The decoded output stays in L1; the encoded input (16 .. 48 MiB) may partly
 * sit in a large L3.
 *
 * Usage: bench_codec [--json]   (one JSON object on stdout with --json) */
#include "common/postings.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"
#include "common/simd.h"

#define DECODED_BYTES (64u << 20) /* decoded doc ids per data set */
#define N_BLOCKS (DECODED_BYTES / 4 / SGS_BLOCK_LEN)
#define BW_BYTES ((size_t)512 << 20)
#define GOAL_RATIO 0.45
#define MIN_PASSES 3
#define MIN_SECONDS 0.12

typedef struct {
    const char *name;
    int gap_bits; /* 0: each block draws its width at random from a mix */
    uint8_t *data;
    uint32_t *offset, *prev;
    uint8_t *doc_bits, *tf_bits;
    size_t data_size;
} dataset;

typedef enum { DEC_ACTIVE, DEC_SSE2, DEC_SCALAR } decoder;
typedef enum { WHAT_DOCS, WHAT_DOCS_TFS, WHAT_UNPACK, WHAT_DELTA } what;

static const char *const what_names[] = {"docs", "docs+tfs", "unpack", "delta"};

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A gap of at most bits bits, often near the top of the range, as real lists
 * of one term have: most gaps in a block share a magnitude. */
static uint32_t gap_of(int bits)
{
    uint32_t mask = bits >= 32 ? UINT32_MAX : (1u << bits) - 1;
    uint32_t g = (uint32_t)rng_next() & mask;
    return g | (uint32_t)(1u << (bits - 1)) >> (rng_next() & 3);
}

static void dataset_build(dataset *d)
{
    static const int mix[] = {2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 18, 20};
    d->data = sgs_xmalloc((size_t)N_BLOCKS * sgs_block_max_bytes());
    d->offset = sgs_xmalloc(N_BLOCKS * sizeof *d->offset);
    d->prev = sgs_xmalloc(N_BLOCKS * sizeof *d->prev);
    d->doc_bits = sgs_xmalloc(N_BLOCKS);
    d->tf_bits = sgs_xmalloc(N_BLOCKS);
    uint32_t docs[SGS_BLOCK_LEN], tfs[SGS_BLOCK_LEN];
    uint32_t prev = UINT32_MAX;
    size_t pos = 0;
    for (size_t b = 0; b < N_BLOCKS; b++) {
        int bits = d->gap_bits ? d->gap_bits : mix[rng_next() % (sizeof mix / sizeof mix[0])];
        /* Start a new list when the next block might run past UINT32_MAX. */
        if (prev != UINT32_MAX && prev > UINT32_MAX - (uint32_t)SGS_BLOCK_LEN * (2u << bits))
            prev = UINT32_MAX;
        uint32_t doc = prev;
        for (size_t i = 0; i < SGS_BLOCK_LEN; i++) {
            doc = doc + gap_of(bits) + 1;
            docs[i] = doc;
            uint64_t r = rng_next();
            tfs[i] = (r & 3) != 0 ? 1 + (uint32_t)(r >> 60 & 1) : 1 + (uint32_t)(r >> 58 & 15);
        }
        unsigned db, tb;
        d->offset[b] = (uint32_t)pos;
        d->prev[b] = prev;
        pos += sgs_block_encode(docs, tfs, SGS_BLOCK_LEN, prev, d->data + pos, &db, &tb);
        d->doc_bits[b] = (uint8_t)db;
        d->tf_bits[b] = (uint8_t)tb;
        prev = docs[SGS_BLOCK_LEN - 1];
    }
    d->data_size = pos;
}

static void dataset_free(dataset *d)
{
    free(d->data);
    free(d->offset);
    free(d->prev);
    free(d->doc_bits);
    free(d->tf_bits);
}

/* One pass over every block; returns a checksum so no work is dead. */
static uint64_t decode_pass(const dataset *d, decoder dec, what w,
                            const sgs_postings_kernels *sse2)
{
    uint32_t docs[SGS_BLOCK_LEN] = {0}, tfs[SGS_BLOCK_LEN];
    uint64_t sum = 0;
    for (size_t b = 0; b < N_BLOCKS; b++) {
        const uint8_t *in = d->data + d->offset[b];
        unsigned db = d->doc_bits[b], tb = d->tf_bits[b];
        uint32_t prev = d->prev[b];
        if (w == WHAT_DELTA) { /* sgs_delta_decode alone, in place on an L1 buffer */
            if (dec == DEC_SCALAR)
                sgs_delta_decode_scalar(docs, SGS_BLOCK_LEN, prev);
            else
                sgs_delta_decode(docs, SGS_BLOCK_LEN, prev);
            sum += docs[SGS_BLOCK_LEN - 1];
            continue;
        }
        if (w == WHAT_UNPACK) {
            if (dec == DEC_SCALAR)
                sgs_unpack_scalar(in, SGS_BLOCK_LEN, db, docs);
            else if (dec == DEC_SSE2)
                sse2->unpack128(in, db, docs);
            else
                sgs_unpack(in, SGS_BLOCK_LEN, db, docs);
            sum += docs[SGS_BLOCK_LEN - 1];
            continue;
        }
        uint32_t *t = w == WHAT_DOCS_TFS ? tfs : NULL;
        switch (dec) {
        case DEC_ACTIVE:
            sgs_block_decode(in, SGS_BLOCK_LEN, prev, db, tb, docs, t);
            break;
        case DEC_SSE2:
            sse2->unpack128_docs(in, db, prev, docs);
            if (t != NULL)
                sse2->unpack128_tfs(in + 16 * db, tb, t);
            break;
        case DEC_SCALAR: /* what SGS_SIMD=scalar runs for a full block */
            sgs_unpack_scalar(in, SGS_BLOCK_LEN, db, docs);
            sgs_delta_decode_scalar(docs, SGS_BLOCK_LEN, prev);
            if (t != NULL) {
                sgs_unpack_scalar(in + 16 * db, SGS_BLOCK_LEN, tb, t);
                for (size_t i = 0; i < SGS_BLOCK_LEN; i++)
                    t[i] += 1;
            }
            break;
        }
        sum += docs[SGS_BLOCK_LEN - 1] + (t != NULL ? t[SGS_BLOCK_LEN - 1] : 0);
    }
    return sum;
}

/* Best seconds per pass. */
static double time_decode(const dataset *d, decoder dec, what w, const sgs_postings_kernels *sse2,
                          uint64_t *check)
{
    double best = 1e30, start = now_s();
    for (int pass = 0; pass < MIN_PASSES || now_s() - start < MIN_SECONDS; pass++) {
        double t0 = now_s();
        *check += decode_pass(d, dec, w, sse2);
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    return best;
}

/* Single-thread read bandwidth in bytes/s: best pass summing the n_words
 * array a with independent accumulators, so loads and not adds are the limit. */
static double read_bandwidth(const uint64_t *a, size_t n_words, uint64_t *check)
{
    double best = 1e30;
    for (int pass = 0; pass < 6; pass++) {
        double t0 = now_s();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (size_t i = 0; i + 8 <= n_words; i += 8) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
            s4 += a[i + 4];
            s5 += a[i + 5];
            s6 += a[i + 6];
            s7 += a[i + 7];
        }
        double dt = now_s() - t0;
        *check += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
        if (dt < best)
            best = dt;
    }
    return (double)(n_words * sizeof *a) / best;
}

typedef struct {
    const char *data, *decoder, *what;
    int gap_bits;
    double encoded_mib, seconds, out_bytes;
} result;

int main(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            fprintf(stderr, "usage: %s [--json]\n", argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    double t_start = now_s();
    sgs_simd_level level = sgs_simd_active();
    const sgs_postings_kernels *sse2 = NULL;
    if (level >= SGS_SIMD_AVX2)
        sse2 = sgs_postings_simd_kernels(SGS_SIMD_SSE2);
    uint64_t check = 0;

    /* Bandwidth before and after the decodes; the higher one divides, so a
     * noisy neighbour during one measurement cannot flatter the ratios. */
    size_t bw_words = BW_BYTES / sizeof(uint64_t);
    uint64_t *bw_array = sgs_xmalloc(BW_BYTES);
    for (size_t i = 0; i < bw_words; i++)
        bw_array[i] = i * 0x9E3779B97F4A7C15ull;
    double bw_before = read_bandwidth(bw_array, bw_words, &check);

    dataset sets[] = {
        {.name = "gap4", .gap_bits = 4},   {.name = "gap8", .gap_bits = 8},
        {.name = "gap12", .gap_bits = 12}, {.name = "gap20", .gap_bits = 20},
        {.name = "mixed", .gap_bits = 0},
    };
    enum { N_SETS = sizeof sets / sizeof sets[0] };
    static const struct {
        decoder dec;
        what w;
    } runs[] = {
        {DEC_ACTIVE, WHAT_DOCS},   {DEC_ACTIVE, WHAT_DOCS_TFS}, {DEC_SSE2, WHAT_DOCS},
        {DEC_SSE2, WHAT_DOCS_TFS}, {DEC_SCALAR, WHAT_DOCS},     {DEC_SCALAR, WHAT_DOCS_TFS},
        {DEC_ACTIVE, WHAT_UNPACK}, {DEC_SCALAR, WHAT_UNPACK},
        {DEC_ACTIVE, WHAT_DELTA},  {DEC_SCALAR, WHAT_DELTA}, /* first data set only */
    };
    enum { N_RUNS = sizeof runs / sizeof runs[0] };
    result res[N_SETS * N_RUNS];
    size_t n_res = 0;
    for (size_t s = 0; s < N_SETS; s++) {
        dataset *d = &sets[s];
        dataset_build(d);
        for (size_t r = 0; r < N_RUNS; r++) {
            if (runs[r].dec == DEC_SSE2 && sse2 == NULL)
                continue;
            if (runs[r].w == WHAT_DELTA && s > 0)
                continue;
            result *x = &res[n_res++];
            x->seconds = time_decode(d, runs[r].dec, runs[r].w, sse2, &check);
            x->out_bytes = (double)N_BLOCKS * SGS_BLOCK_LEN * (runs[r].w == WHAT_DOCS_TFS ? 8 : 4);
            x->data = d->name;
            x->gap_bits = d->gap_bits;
            x->decoder = runs[r].dec == DEC_SCALAR ? "scalar"
                         : runs[r].dec == DEC_SSE2 ? "sse2"
                                                   : sgs_simd_name(level);
            x->what = what_names[runs[r].w];
            x->encoded_mib = (double)d->data_size / (1 << 20);
        }
        dataset_free(d);
    }

    double bw_after = read_bandwidth(bw_array, bw_words, &check);
    free(bw_array);
    double bw = bw_before > bw_after ? bw_before : bw_after;
    double min_docs = 1e30, min_docs_tfs = 1e30;
    for (size_t i = 0; i < n_res; i++) {
        double ratio = res[i].out_bytes / res[i].seconds / bw;
        if (strcmp(res[i].decoder, sgs_simd_name(level)) != 0)
            continue;
        if (strcmp(res[i].what, "docs") == 0 && ratio < min_docs)
            min_docs = ratio;
        if (strcmp(res[i].what, "docs+tfs") == 0 && ratio < min_docs_tfs)
            min_docs_tfs = ratio;
    }
    int goal_met = min_docs >= GOAL_RATIO && min_docs_tfs >= GOAL_RATIO;
    double elapsed = now_s() - t_start;

    if (json) {
        printf("{\"bench\":\"codec\",\"simd\":\"%s\",\"read_bw_gbs\":%.3f,"
               "\"read_bw_before_gbs\":%.3f,\"read_bw_after_gbs\":%.3f,\"decoded_mib\":%u,"
               "\"goal_ratio\":%.2f,\"min_ratio_docs\":%.3f,\"min_ratio_docs_tfs\":%.3f,"
               "\"goal_met\":%s,\"seconds\":%.2f,\"results\":[",
               sgs_simd_name(level), bw / 1e9, bw_before / 1e9, bw_after / 1e9,
               DECODED_BYTES >> 20, GOAL_RATIO, min_docs, min_docs_tfs,
               goal_met ? "true" : "false", elapsed);
        for (size_t i = 0; i < n_res; i++) {
            const result *x = &res[i];
            printf("%s{\"data\":\"%s\",\"gap_bits\":%d,\"encoded_mib\":%.2f,"
                   "\"decoder\":\"%s\",\"what\":\"%s\",\"mpostings_per_s\":%.1f,"
                   "\"out_gbs\":%.3f,\"ratio\":%.3f}",
                   i ? "," : "", x->data, x->gap_bits, x->encoded_mib, x->decoder, x->what,
                   (double)N_BLOCKS * SGS_BLOCK_LEN / x->seconds / 1e6,
                   x->out_bytes / x->seconds / 1e9, x->out_bytes / x->seconds / bw);
        }
        printf("],\"checksum\":%" PRIu64 "}\n", check);
        return 0;
    }
    printf("read bandwidth %.2f GB/s (1 thread, %zu MiB; %.2f before, %.2f after); simd %s\n"
           "%u MiB of decoded doc ids per data set; Mpost/s: million postings (a doc id, with\n"
           "its tf for docs+tfs) per second; GB/s: output bytes; ratio: GB/s / read bandwidth\n"
           "%-6s %7s %-7s %-9s %9s %9s %6s\n",
           bw / 1e9, BW_BYTES >> 20, bw_before / 1e9, bw_after / 1e9, sgs_simd_name(level),
           DECODED_BYTES >> 20, "data", "encoded", "decoder", "what", "Mpost/s", "GB/s", "ratio");
    for (size_t i = 0; i < n_res; i++) {
        const result *x = &res[i];
        printf("%-6s %6.1fM %-7s %-9s %9.0f %9.2f %6.2f\n", x->data, x->encoded_mib,
               x->decoder, x->what, (double)N_BLOCKS * SGS_BLOCK_LEN / x->seconds / 1e6,
               x->out_bytes / x->seconds / 1e9, x->out_bytes / x->seconds / bw);
    }
    printf("goal: %s decode output >= %.2f x read bandwidth: docs min %.2f, docs+tfs min %.2f "
           "-> %s (%.1f s; checksum %" PRIu64 ")\n",
           sgs_simd_name(level), GOAL_RATIO, min_docs, min_docs_tfs, goal_met ? "met" : "NOT met",
           elapsed, check);
    return 0;
}
