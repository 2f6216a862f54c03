/* Property tests of the posting-list codec (common/postings.h): packing and
 * delta coding against the scalar reference, against an independent bit-by-bit
 * reading of the layout spec, and against the original input; whole posting
 * lists through sgs_block_encode/decode; every SIMD kernel table the CPU can
 * run byte-identical to the scalar reference.
 *
 * Random inputs come from a splitmix64 seeded by SGS_TEST_SEED when set, else
 * by the clock; each test prints SGS_TEST_SEED=<n> so a failure reruns with
 * the same inputs. Run natively and with SGS_SIMD=scalar. */
#include "common/postings.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/simd.h"
#include "tests/unit/rng.h"

/* ---- helpers ---------------------------------------------------------------- */

static uint32_t rng_u32(rng *r)
{
    return (uint32_t)(rng_next(r) >> 32);
}

/* A value of exactly width bits (or zero for bits == 0): the top bit set. */
static uint32_t rng_width(rng *r, unsigned bits)
{
    if (bits == 0)
        return 0;
    uint32_t mask = bits == 32 ? UINT32_MAX : (UINT32_C(1) << bits) - 1;
    return (rng_u32(r) & mask) | (UINT32_C(1) << (bits - 1));
}

/* The seed for this test, printed so a failure can be rerun. */
static rng test_rng(const char *test)
{
    uint64_t seed = test_seed();
    fprintf(stderr, "postings/%s: SGS_TEST_SEED=%" PRIu64 " (simd %s)\n", test, seed,
            sgs_simd_name(sgs_simd_active()));
    return (rng){seed};
}

static uint32_t mask_of(unsigned bits)
{
    return bits >= 32 ? UINT32_MAX : (UINT32_C(1) << bits) - 1;
}

/* Fills v[0..n) with values that fit in bits, the largest needing exactly
 * bits, in one of several shapes. */
static void fill_values(rng *r, uint32_t *v, size_t n, unsigned bits)
{
    uint32_t mask = mask_of(bits);
    unsigned shape = rng_below(r, 4);
    for (size_t i = 0; i < n; i++) {
        switch (shape) {
        case 0: /* uniform */
            v[i] = rng_u32(r) & mask;
            break;
        case 1: /* all at the maximum */
            v[i] = mask;
            break;
        case 2: /* mostly small, a few wide */
            v[i] = rng_below(r, 8) == 0 ? rng_u32(r) & mask : rng_u32(r) & 3 & mask;
            break;
        default: /* alternating extremes */
            v[i] = (i & 1) ? mask : 0;
            break;
        }
    }
    if (n > 0)
        v[rng_below(r, (uint32_t)n)] = rng_width(r, bits);
}

/* Stream bit t of a TAIL block, straight from the spec: bit t % 8 of byte t / 8. */
static unsigned tail_bit(const uint8_t *p, size_t t)
{
    return (p[t / 8] >> (t % 8)) & 1u;
}

/* Stream bit t of lane j of a FULL block: bit t % 32 of the little-endian
 * word t / 32 of lane j, which sits at byte 16 * (t / 32) + 4 * j. */
static unsigned full_bit(const uint8_t *p, size_t j, size_t t)
{
    size_t byte = 16 * (t / 32) + 4 * j + (t % 32) / 8;
    return (p[byte] >> (t % 8)) & 1u;
}

/* Checks packed bytes p against values v bit by bit, per the layout spec. */
static void check_layout(const uint8_t *p, const uint32_t *v, size_t n, unsigned bits)
{
    for (size_t i = 0; i < n; i++) {
        for (unsigned t = 0; t < bits; t++) {
            unsigned want = (v[i] >> t) & 1u;
            unsigned got = n == SGS_BLOCK_LEN ? full_bit(p, i % 4, (i / 4) * bits + t)
                                              : tail_bit(p, i * bits + t);
            cr_assert_eq(got, want, "layout: n %zu bits %u value %zu bit %u: got %u", n, bits, i,
                         t, got);
        }
    }
    if (n != SGS_BLOCK_LEN)
        for (size_t t = n * bits; t < sgs_packed_size(n, bits) * 8; t++)
            cr_assert_eq(tail_bit(p, t), 0u, "layout: n %zu bits %u padding bit %zu set", n, bits,
                         t);
}

static void check_u32s(const uint32_t *got, const uint32_t *want, size_t n, const char *what,
                       size_t n_block, unsigned bits)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s: n %zu bits %u index %zu: got %" PRIu32
                     " want %" PRIu32, what, n_block, bits, i, got[i], want[i]);
}

static void check_bytes(const uint8_t *got, const uint8_t *want, size_t size, const char *what,
                        size_t n, unsigned bits)
{
    for (size_t i = 0; i < size; i++)
        cr_assert_eq(got[i], want[i], "%s: n %zu bits %u byte %zu: got 0x%02x want 0x%02x",
                     what, n, bits, i, got[i], want[i]);
}

/* Packs v with the dispatching and reference packers, checks the bytes agree,
 * follow the spec and stay in bounds, then unpacks from an exactly sized heap
 * copy at several alignments. */
static void round_trip(const uint32_t *v, size_t n, unsigned bits)
{
    enum { CANARY = 64 };
    uint8_t fast[1024 + CANARY], ref[1024 + CANARY];
    size_t size = sgs_packed_size(n, bits);
    memset(fast, 0xA5, sizeof fast);
    memset(ref, 0x5A, sizeof ref);
    cr_assert_eq(sgs_pack(v, n, bits, fast), size, "pack size n %zu bits %u", n, bits);
    cr_assert_eq(sgs_pack_scalar(v, n, bits, ref), size, "scalar pack size n %zu bits %u", n,
                 bits);
    check_bytes(fast, ref, size, "pack vs scalar", n, bits);
    for (size_t i = size; i < size + CANARY; i++)
        cr_assert_eq(fast[i], 0xA5, "pack wrote past its size: n %zu bits %u byte %zu", n, bits,
                     i);
    check_layout(ref, v, n, bits);

    for (size_t align = 0; align < 16; align += 5) {
        /* Exactly the packed bytes (malloc(0) aside), so ASan sees any over-read. */
        uint8_t *heap = malloc(size + align > 0 ? size + align : 1);
        cr_assert_not_null(heap);
        memcpy(heap + align, ref, size);
        uint32_t out[SGS_BLOCK_LEN + 1], out_ref[SGS_BLOCK_LEN];
        memset(out, 0xEE, sizeof out);
        sgs_unpack(heap + align, n, bits, out + (align & 1));
        sgs_unpack_scalar(heap + align, n, bits, out_ref);
        check_u32s(out + (align & 1), v, n, "unpack", n, bits);
        check_u32s(out_ref, v, n, "scalar unpack", n, bits);
        free(heap);
    }
}

/* Increasing doc ids above prev (UINT32_MAX: none) in one of several shapes;
 * returns how many fit below UINT32_MAX (at most n). */
static size_t fill_docs(rng *r, uint32_t *docs, size_t n, uint32_t prev, unsigned shape)
{
    uint64_t d = prev == UINT32_MAX ? 0 : (uint64_t)prev + 1;
    size_t i = 0;
    for (; i < n; i++) {
        uint64_t gap;
        switch (shape) {
        case 0: /* consecutive: gap 0 */
            gap = 0;
            break;
        case 1: /* dense */
            gap = rng_below(r, 4);
            break;
        case 2: /* typical: a few bits */
            gap = rng_below(r, 1u << rng_below(r, 16));
            break;
        case 3: /* huge gaps */
            gap = rng_u32(r) >> rng_below(r, 8);
            break;
        default: /* runs of consecutive ids broken by jumps */
            gap = rng_below(r, 16) == 0 ? rng_u32(r) >> 12 : 0;
            break;
        }
        if (i == 0 && shape == 0 && prev == UINT32_MAX)
            gap = 0; /* doc id 0 */
        d += gap;
        if (d > UINT32_MAX - 1)
            break;
        docs[i] = (uint32_t)d;
        d++;
    }
    return i;
}

/* ---- tests ---------------------------------------------------------------------- */

Test(postings, simd_level_respects_env)
{
    sgs_simd_level level = sgs_simd_active();
    const char *env = getenv("SGS_SIMD");
    fprintf(stderr, "postings: simd level %s\n", sgs_simd_name(level));
    cr_assert_eq(sgs_simd_active(), level, "the level must not change");
    if (env != NULL && strcmp(env, "scalar") == 0)
        cr_assert_eq(level, SGS_SIMD_SCALAR);
    if (env != NULL && strcmp(env, "sse2") == 0)
        cr_assert_leq(level, SGS_SIMD_SSE2);
    if (env != NULL && strcmp(env, "avx2") == 0)
        cr_assert_leq(level, SGS_SIMD_AVX2);
    cr_assert_str_eq(sgs_simd_name(SGS_SIMD_SCALAR), "scalar");
    cr_assert_str_eq(sgs_simd_name(SGS_SIMD_SSE2), "sse2");
    cr_assert_str_eq(sgs_simd_name(SGS_SIMD_AVX2), "avx2");
    cr_assert_str_eq(sgs_simd_name(SGS_SIMD_AVX512), "avx512");
}

Test(postings, bits_max_and_sizes)
{
    uint32_t v[SGS_BLOCK_LEN] = {0};
    cr_assert_eq(sgs_bits_max(v, 0), 0u);
    cr_assert_eq(sgs_bits_max(NULL, 0), 0u);
    cr_assert_eq(sgs_bits_max(v, SGS_BLOCK_LEN), 0u);
    for (unsigned b = 1; b <= 32; b++) {
        v[77] = UINT32_C(1) << (b - 1);
        cr_assert_eq(sgs_bits_max(v, SGS_BLOCK_LEN), b);
        v[77] = mask_of(b);
        cr_assert_eq(sgs_bits_max(v, SGS_BLOCK_LEN), b);
        cr_assert_eq(sgs_bits_max(v, 77), 0u, "only the first n values count");
        v[77] = 0;
    }
    v[0] = UINT32_MAX;
    cr_assert_eq(sgs_bits_max(v, 1), 32u);

    cr_assert_eq(sgs_packed_size(0, 7), 0u);
    cr_assert_eq(sgs_packed_size(128, 0), 0u);
    cr_assert_eq(sgs_packed_size(128, 1), 16u);
    cr_assert_eq(sgs_packed_size(128, 32), 512u);
    cr_assert_eq(sgs_packed_size(1, 1), 1u);
    cr_assert_eq(sgs_packed_size(1, 9), 2u);
    cr_assert_eq(sgs_packed_size(127, 32), 508u);
    cr_assert_eq(sgs_packed_size(127, 0), 0u);
    cr_assert_eq(sgs_packed_size(3, 3), 2u);
    cr_assert_eq(sgs_block_max_bytes(), 1024u);
}

Test(postings, pack_round_trip_every_width_and_length)
{
    rng r = test_rng("pack_round_trip_every_width_and_length");
    uint32_t v[SGS_BLOCK_LEN];
    for (unsigned bits = 0; bits <= 32; bits++) {
        for (size_t n = 1; n <= SGS_BLOCK_LEN; n++) {
            fill_values(&r, v, n, bits);
            cr_assert_eq(sgs_bits_max(v, n), bits, "fill: n %zu bits %u", n, bits);
            round_trip(v, n, bits);
        }
        for (int rep = 0; rep < 20; rep++) { /* full blocks matter most */
            fill_values(&r, v, SGS_BLOCK_LEN, bits);
            round_trip(v, SGS_BLOCK_LEN, bits);
        }
    }
}

Test(postings, pack_edge_values)
{
    uint32_t v[SGS_BLOCK_LEN];
    for (size_t n = 1; n <= SGS_BLOCK_LEN; n++) {
        for (size_t i = 0; i < n; i++)
            v[i] = UINT32_MAX;
        round_trip(v, n, 32);
        for (size_t i = 0; i < n; i++)
            v[i] = (uint32_t)i * 0x01010101u ^ 0x80000001u;
        round_trip(v, n, 32);
        memset(v, 0, sizeof v);
        round_trip(v, n, 0);
        v[n - 1] = 1;
        round_trip(v, n, 1);
        v[0] = UINT32_MAX - 1;
        round_trip(v, n, 32);
    }
}

Test(postings, pack_drops_bits_above_width)
{
    rng r = test_rng("pack_drops_bits_above_width");
    uint32_t v[SGS_BLOCK_LEN], masked[SGS_BLOCK_LEN];
    uint8_t a[1024], b[1024], c[1024];
    for (unsigned bits = 0; bits < 32; bits++) {
        for (size_t n = 1; n <= SGS_BLOCK_LEN; n += (n < 8 ? 1 : 13)) {
            size_t nn = n > 120 ? SGS_BLOCK_LEN : n;
            for (size_t i = 0; i < nn; i++) {
                v[i] = rng_u32(&r) | ~mask_of(bits);
                masked[i] = v[i] & mask_of(bits);
            }
            size_t size = sgs_pack(v, nn, bits, a);
            cr_assert_eq(sgs_pack_scalar(v, nn, bits, b), size);
            cr_assert_eq(sgs_pack_scalar(masked, nn, bits, c), size);
            check_bytes(a, c, size, "pack of wide values", nn, bits);
            check_bytes(b, c, size, "scalar pack of wide values", nn, bits);
        }
    }
}

Test(postings, delta_round_trip)
{
    rng r = test_rng("delta_round_trip");
    uint32_t docs[300], gaps[300], fast[300], ref[300];
    for (int rep = 0; rep < 2000; rep++) {
        size_t want = rng_below(&r, 300) + 1;
        uint32_t prev = rng_below(&r, 3) == 0 ? UINT32_MAX : rng_u32(&r) >> rng_below(&r, 32);
        if (prev == UINT32_MAX - 1)
            prev = UINT32_MAX;
        size_t n = fill_docs(&r, docs, want, prev, (unsigned)(rep % 5));
        sgs_delta_encode(docs, n, prev, gaps);
        if (n > 0 && prev == UINT32_MAX)
            cr_assert_eq(gaps[0], docs[0], "the first gap of a list is its first doc id");
        for (size_t i = 1; i < n; i++)
            cr_assert_eq(gaps[i], docs[i] - docs[i - 1] - 1);
        memcpy(fast, gaps, n * sizeof *gaps);
        memcpy(ref, gaps, n * sizeof *gaps);
        sgs_delta_decode(fast, n, prev);
        sgs_delta_decode_scalar(ref, n, prev);
        check_u32s(fast, docs, n, "delta decode", n, 0);
        check_u32s(ref, docs, n, "scalar delta decode", n, 0);
    }
}

Test(postings, delta_decode_matches_scalar_on_any_input)
{
    rng r = test_rng("delta_decode_matches_scalar_on_any_input");
    uint32_t fast[300], ref[300];
    for (size_t n = 0; n < 300; n++) {
        uint32_t prev = rng_u32(&r);
        for (size_t i = 0; i < n; i++)
            ref[i] = fast[i] = rng_u32(&r) >> rng_below(&r, 32); /* wraps around freely */
        sgs_delta_decode(fast, n, prev);
        sgs_delta_decode_scalar(ref, n, prev);
        check_u32s(fast, ref, n, "delta decode vs scalar", n, 0);
    }
}

Test(postings, delta_edges)
{
    uint32_t docs[3] = {0, 1, UINT32_MAX - 1}, gaps[3];
    sgs_delta_encode(docs, 3, UINT32_MAX, gaps);
    cr_assert_eq(gaps[0], 0u);
    cr_assert_eq(gaps[1], 0u);
    cr_assert_eq(gaps[2], UINT32_MAX - 3);
    sgs_delta_decode(gaps, 3, UINT32_MAX);
    check_u32s(gaps, docs, 3, "edges", 3, 0);

    uint32_t one = UINT32_MAX - 1;
    sgs_delta_encode(&one, 1, UINT32_MAX, &one);
    cr_assert_eq(one, UINT32_MAX - 1);
    sgs_delta_decode(&one, 1, UINT32_MAX);
    cr_assert_eq(one, UINT32_MAX - 1);
    sgs_delta_decode(&one, 0, 5); /* n == 0 touches nothing */
    cr_assert_eq(one, UINT32_MAX - 1);
}

/* Encodes docs/tfs as a whole posting list, block by block, then decodes every
 * block with and without tfs and through the scalar reference. */
static void list_round_trip(const uint32_t *docs, const uint32_t *tfs, size_t n)
{
    size_t n_blocks = (n + SGS_BLOCK_LEN - 1) / SGS_BLOCK_LEN;
    uint8_t *data = malloc(n_blocks * sgs_block_max_bytes() + 1);
    size_t *offset = malloc((n_blocks + 1) * sizeof *offset);
    unsigned *dbits = malloc(n_blocks * sizeof *dbits), *tbits = malloc(n_blocks * sizeof *tbits);
    cr_assert(data != NULL && offset != NULL && dbits != NULL && tbits != NULL);

    size_t pos = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        size_t first = b * SGS_BLOCK_LEN, count = n - first;
        if (count > SGS_BLOCK_LEN)
            count = SGS_BLOCK_LEN;
        uint32_t prev = b == 0 ? UINT32_MAX : docs[first - 1];
        offset[b] = pos;
        size_t size = sgs_block_encode(docs + first, tfs + first, count, prev, data + pos,
                                       &dbits[b], &tbits[b]);
        cr_assert_leq(size, sgs_block_max_bytes());
        cr_assert_eq(size, sgs_packed_size(count, dbits[b]) + sgs_packed_size(count, tbits[b]),
                     "block %zu size", b);

        /* The same bytes from the reference pieces. */
        uint32_t vals[SGS_BLOCK_LEN];
        uint8_t ref[1024];
        sgs_delta_encode(docs + first, count, prev, vals);
        cr_assert_eq(sgs_bits_max(vals, count), dbits[b]);
        size_t ref_size = sgs_pack_scalar(vals, count, dbits[b], ref);
        for (size_t i = 0; i < count; i++)
            vals[i] = tfs[first + i] - 1;
        cr_assert_eq(sgs_bits_max(vals, count), tbits[b]);
        ref_size += sgs_pack_scalar(vals, count, tbits[b], ref + ref_size);
        cr_assert_eq(ref_size, size);
        check_bytes(data + pos, ref, size, "block encode vs scalar", count, dbits[b]);
        pos += size;
    }
    offset[n_blocks] = pos;

    for (size_t b = 0; b < n_blocks; b++) {
        size_t first = b * SGS_BLOCK_LEN;
        size_t count = n - first > SGS_BLOCK_LEN ? SGS_BLOCK_LEN : n - first;
        uint32_t prev = b == 0 ? UINT32_MAX : docs[first - 1];
        size_t size = offset[b + 1] - offset[b];
        /* An exactly sized copy, so reading past the block is an ASan error. */
        uint8_t *blk = malloc(size > 0 ? size : 1);
        cr_assert_not_null(blk);
        memcpy(blk, data + offset[b], size);

        uint32_t d[SGS_BLOCK_LEN], t[SGS_BLOCK_LEN], d2[SGS_BLOCK_LEN];
        sgs_block_decode(blk, count, prev, dbits[b], tbits[b], d, t);
        check_u32s(d, docs + first, count, "block decode docs", count, dbits[b]);
        check_u32s(t, tfs + first, count, "block decode tfs", count, tbits[b]);
        sgs_block_decode(blk, count, prev, dbits[b], tbits[b], d2, NULL);
        check_u32s(d2, docs + first, count, "block decode docs only", count, dbits[b]);

        sgs_unpack_scalar(blk, count, dbits[b], d);
        sgs_delta_decode_scalar(d, count, prev);
        check_u32s(d, docs + first, count, "scalar docs", count, dbits[b]);
        sgs_unpack_scalar(blk + sgs_packed_size(count, dbits[b]), count, tbits[b], t);
        for (size_t i = 0; i < count; i++)
            cr_assert_eq(t[i] + 1, tfs[first + i], "scalar tfs block %zu index %zu", b, i);
        free(blk);
    }
    free(tbits);
    free(dbits);
    free(offset);
    free(data);
}

Test(postings, whole_lists_round_trip)
{
    rng r = test_rng("whole_lists_round_trip");
    enum { MAX_N = 5000 };
    uint32_t *docs = malloc(MAX_N * sizeof *docs), *tfs = malloc(MAX_N * sizeof *tfs);
    cr_assert(docs != NULL && tfs != NULL);
    for (int rep = 0; rep < 300; rep++) {
        size_t want;
        switch (rep % 4) {
        case 0:
            want = rng_below(&r, 130) + 1; /* one block, often a tail */
            break;
        case 1:
            want = SGS_BLOCK_LEN * (rng_below(&r, 8) + 1); /* only full blocks */
            break;
        default:
            want = rng_below(&r, MAX_N) + 1;
            break;
        }
        size_t n = fill_docs(&r, docs, want, UINT32_MAX, (unsigned)rng_below(&r, 5));
        unsigned tf_shape = rng_below(&r, 4);
        for (size_t i = 0; i < n; i++) {
            switch (tf_shape) {
            case 0:
                tfs[i] = 1; /* tf bits 0 */
                break;
            case 1:
                tfs[i] = rng_below(&r, 5) + 1;
                break;
            case 2:
                tfs[i] = rng_below(&r, 50) == 0 ? rng_u32(&r) | 1 : rng_below(&r, 100) + 1;
                break;
            default:
                tfs[i] = rng_below(&r, 2) ? UINT32_MAX : 1;
                break;
            }
        }
        if (n > 0)
            list_round_trip(docs, tfs, n);
    }
    free(tfs);
    free(docs);
}

Test(postings, list_edges)
{
    uint32_t docs[2 * SGS_BLOCK_LEN + 3], tfs[2 * SGS_BLOCK_LEN + 3];
    /* One posting: doc 0; then the largest doc id alone. */
    docs[0] = 0;
    tfs[0] = 1;
    list_round_trip(docs, tfs, 1);
    docs[0] = UINT32_MAX - 1;
    tfs[0] = UINT32_MAX;
    list_round_trip(docs, tfs, 1);
    /* Consecutive ids from 0 across blocks (gaps 0, doc bits 0). */
    for (size_t i = 0; i < 2 * SGS_BLOCK_LEN + 3; i++) {
        docs[i] = (uint32_t)i;
        tfs[i] = 1;
    }
    list_round_trip(docs, tfs, 2 * SGS_BLOCK_LEN + 3);
    list_round_trip(docs, tfs, SGS_BLOCK_LEN);
    list_round_trip(docs, tfs, SGS_BLOCK_LEN + 1);
    /* Ending at the largest doc id, with a huge first gap. */
    for (size_t i = 0; i < 2 * SGS_BLOCK_LEN + 3; i++)
        docs[i] = UINT32_MAX - 1 - (uint32_t)(2 * SGS_BLOCK_LEN + 2 - i);
    list_round_trip(docs, tfs, 2 * SGS_BLOCK_LEN + 3);
    /* Alternating tiny and huge gaps: doc bits 32 in full blocks. */
    for (size_t i = 0; i < SGS_BLOCK_LEN; i++)
        docs[i] = (uint32_t)(i / 2) * 0x02000000u + (uint32_t)(i % 2);
    list_round_trip(docs, tfs, SGS_BLOCK_LEN);
}

/* Every kernel table this CPU may run (up to the active level), directly:
 * a native run then covers SSE2 as well as AVX2. */
Test(postings, simd_kernels_match_scalar)
{
    rng r = test_rng("simd_kernels_match_scalar");
    for (int level = SGS_SIMD_SSE2; level <= (int)sgs_simd_active(); level++) {
        const sgs_postings_kernels *k = sgs_postings_simd_kernels((sgs_simd_level)level);
        if (k == NULL)
            continue;
        for (unsigned bits = 0; bits <= 32; bits++) {
            for (int rep = 0; rep < 30; rep++) {
                uint32_t v[SGS_BLOCK_LEN], out[SGS_BLOCK_LEN], want[SGS_BLOCK_LEN];
                uint8_t packed[512 + 16], ref[512];
                fill_values(&r, v, SGS_BLOCK_LEN, bits);
                size_t size = sgs_pack_scalar(v, SGS_BLOCK_LEN, bits, ref);
                size_t align = (size_t)rep % 16;
                k->pack128(v, bits, packed + align);
                check_bytes(packed + align, ref, size, sgs_simd_name((sgs_simd_level)level),
                            SGS_BLOCK_LEN, bits);

                k->unpack128(ref, bits, out);
                check_u32s(out, v, SGS_BLOCK_LEN, "kernel unpack", SGS_BLOCK_LEN, bits);

                k->unpack128_tfs(ref, bits, out);
                for (size_t i = 0; i < SGS_BLOCK_LEN; i++)
                    want[i] = v[i] + 1;
                check_u32s(out, want, SGS_BLOCK_LEN, "kernel tfs", SGS_BLOCK_LEN, bits);

                uint32_t prev = rng_u32(&r);
                k->unpack128_docs(ref, bits, prev, out);
                memcpy(want, v, sizeof want);
                sgs_delta_decode_scalar(want, SGS_BLOCK_LEN, prev);
                check_u32s(out, want, SGS_BLOCK_LEN, "kernel docs", SGS_BLOCK_LEN, bits);

                size_t n = rng_below(&r, SGS_BLOCK_LEN + 1);
                memcpy(out, v, sizeof out);
                memcpy(want, v, sizeof want);
                k->delta_decode(out, n, prev);
                sgs_delta_decode_scalar(want, n, prev);
                check_u32s(out, want, n, "kernel delta decode", n, bits);
            }
        }
    }
}

/* sgs_unpack_one reads each value exactly as sgs_unpack does, in both
 * layouts (full block and tail), at every width. */
Test(postings, unpack_one_matches_unpack)
{
    rng r = test_rng("unpack_one_matches_unpack");
    uint32_t v[SGS_BLOCK_LEN], out[SGS_BLOCK_LEN];
    uint8_t buf[16 * 32 + 8];
    for (unsigned bits = 0; bits <= 32; bits++) {
        for (size_t n = 1; n <= SGS_BLOCK_LEN; n++) {
            size_t rounds = n == SGS_BLOCK_LEN ? 10 : 1;
            for (size_t rep = 0; rep < rounds; rep++) {
                fill_values(&r, v, n, bits);
                memset(buf, 0xa5, sizeof buf);
                size_t size = sgs_pack(v, n, bits, buf);
                cr_assert_eq(size, sgs_packed_size(n, bits));
                sgs_unpack(buf, n, bits, out);
                for (size_t i = 0; i < n; i++) {
                    uint32_t one = sgs_unpack_one(buf, n, bits, i);
                    cr_assert_eq(one, out[i], "n %zu bits %u i %zu: %u, unpack %u", n, bits, i,
                                 one, out[i]);
                    cr_assert_eq(one, v[i] & mask_of(bits), "n %zu bits %u i %zu", n, bits, i);
                }
            }
        }
    }
}
