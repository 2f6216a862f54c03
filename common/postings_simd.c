/* SSE2 and AVX2 kernels for full blocks of the posting-list codec (the
 * 4-lane vertical layout in postings.h) and for delta decoding.
 *
 * Invariants: every kernel writes exactly what the scalar reference in
 * postings.c writes (the unit tests compare them byte for byte) and reads
 * only the 16 * bits bytes of its block, with unaligned loads. The kernels
 * are specialised per bit width: one body, fully unrolled over the 32 values
 * of a lane by REP32, instantiated by WIDTHS for each width 0 .. 32 with the
 * width a constant, so every word index, shift, mask and branch in it folds
 * at compile time; a switch per operation picks the width's kernel.
 *
 * SSE2 handles one value of each lane (4 consecutive values) per register.
 * AVX2 handles two (8 consecutive values): the two lane words needed sit in
 * adjacent 16-byte rows, so one load or broadcast and one variable shift get
 * them, and the 8-wide prefix sum costs fewer shuffles than two 4-wide ones.
 * AVX2 is used for the doc and tf decodes only; plain unpack and pack gain
 * little from it and share the SSE2 kernels. x86-64 only; elsewhere the
 * scalar path in postings.c runs. */
#include "common/postings.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
#define TARGET_SSE2 __attribute__((target("sse2")))
#define TARGET_AVX2 __attribute__((target("avx2")))

#define REP8(X, o) X((o) + 0) X((o) + 1) X((o) + 2) X((o) + 3) \
                   X((o) + 4) X((o) + 5) X((o) + 6) X((o) + 7)
#define REP32(X) REP8(X, 0) REP8(X, 8) REP8(X, 16) REP8(X, 24)
/* X(b) for every bit width b = 0 .. 32, with a literal b. */
#define WIDTHS(X)                                                                              \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)  \
    X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29)   \
    X(30) X(31) X(32)

/* What an unpack body does with each register of 4 consecutive values. */
enum sink { SINK_VALUES, SINK_DOCS, SINK_TFS };

INLINE __m128i load_word(const uint8_t *in, unsigned w)
{
    return _mm_loadu_si128((const __m128i *)(const void *)(in + 16 * (size_t)w));
}

INLINE __m128i mask_of(unsigned bits)
{
    return _mm_set1_epi32(bits >= 32 ? -1 : (int)((1u << bits) - 1));
}

/* Values 4k .. 4k+3 (value k of each lane) at width bits. *cur holds the
 * lanes' word the previous value ended in; bits and k are constants. */
INLINE __m128i unpack_step(const uint8_t *in, __m128i *cur, unsigned bits, unsigned k,
                           __m128i mask)
{
    if (bits == 0)
        return _mm_setzero_si128();
    unsigned bit = k * bits, w = bit / 32, shift = bit % 32;
    if (shift == 0)
        *cur = load_word(in, w);
    __m128i v = shift == 0 ? *cur : _mm_srli_epi32(*cur, (int)shift);
    if (shift + bits > 32) {
        *cur = load_word(in, w + 1);
        v = _mm_or_si128(v, _mm_slli_epi32(*cur, (int)(32 - shift)));
    }
    if (shift + bits != 32) /* a value ending at bit 31 has nothing above it */
        v = _mm_and_si128(v, mask);
    return v;
}

/* Inclusive prefix sum of the 4 values of v. */
INLINE __m128i prefix_sum4(__m128i v)
{
    v = _mm_add_epi32(v, _mm_slli_si128(v, 4));
    return _mm_add_epi32(v, _mm_slli_si128(v, 8));
}

/* Stores register k of a block (values 4k .. 4k+3) after applying the sink.
 * For SINK_DOCS, *base holds prev + (1, 2, 3, 4) advanced past the values
 * already stored, so doc = base + inclusive prefix sum of the gaps. */
INLINE void sink_step(uint32_t *out, unsigned k, __m128i v, enum sink sink, __m128i *base)
{
    if (sink == SINK_DOCS) {
        v = prefix_sum4(v);
        __m128i docs = _mm_add_epi32(v, *base);
        /* The chain between registers is one add; the rest is off it. */
        *base = _mm_add_epi32(*base, _mm_add_epi32(_mm_shuffle_epi32(v, 0xFF), _mm_set1_epi32(4)));
        v = docs;
    } else if (sink == SINK_TFS) {
        v = _mm_add_epi32(v, _mm_set1_epi32(1));
    }
    _mm_storeu_si128((__m128i *)(void *)(out + 4 * (size_t)k), v);
}

INLINE void unpack_body(const uint8_t *in, unsigned bits, uint32_t prev, uint32_t *out,
                        enum sink sink)
{
    const __m128i mask = mask_of(bits);
    __m128i cur = _mm_setzero_si128();
    __m128i base = _mm_add_epi32(_mm_set1_epi32((int)prev), _mm_setr_epi32(1, 2, 3, 4));
#define UNPACK_STEP(k) sink_step(out, (k), unpack_step(in, &cur, bits, (k), mask), sink, &base);
    REP32(UNPACK_STEP)
#undef UNPACK_STEP
}

/* Packs values 4k .. 4k+3 into *acc, storing each lane word as it fills. */
INLINE void pack_step(const uint32_t *in, uint8_t *out, __m128i *acc, unsigned bits, unsigned k,
                      __m128i mask)
{
    if (bits == 0)
        return;
    unsigned bit = k * bits, w = bit / 32, shift = bit % 32;
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + 4 * (size_t)k));
    if (bits < 32)
        v = _mm_and_si128(v, mask);
    *acc = shift == 0 ? v : _mm_or_si128(*acc, _mm_slli_epi32(v, (int)shift));
    if (shift + bits >= 32) {
        _mm_storeu_si128((__m128i *)(void *)(out + 16 * (size_t)w), *acc);
        if (shift + bits > 32)
            *acc = _mm_srli_epi32(v, (int)(32 - shift));
    }
}

INLINE void pack_body(const uint32_t *in, unsigned bits, uint8_t *out)
{
    const __m128i mask = mask_of(bits);
    __m128i acc = _mm_setzero_si128();
#define PACK_STEP(k) pack_step(in, out, &acc, bits, (k), mask);
    REP32(PACK_STEP)
#undef PACK_STEP
}

/* AVX2: 32 bytes holding lane words wa and wb of a full block, in the low and
 * high half; wb is wa or wa + 1, so one load (a broadcast or a plain one). */
INLINE TARGET_AVX2 __m256i load_words2(const uint8_t *in, unsigned wa, unsigned wb)
{
    if (wa == wb)
        return _mm256_broadcastsi128_si256(load_word(in, wa));
    return _mm256_loadu_si256((const __m256i *)(const void *)(in + 16 * (size_t)wa));
}

/* AVX2: values 4k .. 4k+7 (lane values k and k+1) in one register, with
 * per-half shift counts; bits and k are constants. */
INLINE TARGET_AVX2 __m256i unpack_pair(const uint8_t *in, unsigned bits, unsigned k, __m256i mask)
{
    if (bits == 0)
        return _mm256_setzero_si256();
    unsigned bit0 = k * bits, bit1 = bit0 + bits;
    unsigned w0 = bit0 / 32, w1 = bit1 / 32, sh0 = bit0 % 32, sh1 = bit1 % 32;
    int cross0 = sh0 + bits > 32, cross1 = sh1 + bits > 32;
    __m256i v = load_words2(in, w0, w1);
    if (sh0 != 0 || sh1 != 0)
        v = _mm256_srlv_epi32(v, _mm256_setr_epi32((int)sh0, (int)sh0, (int)sh0, (int)sh0,
                                                   (int)sh1, (int)sh1, (int)sh1, (int)sh1));
    if (cross0 || cross1) {
        /* The next words of the straddling values; a half that does not
         * straddle reuses the other half's word and shifts it out (count 32). */
        unsigned n0 = cross0 ? w0 + 1 : w1 + 1, n1 = cross1 ? w1 + 1 : w0 + 1;
        int c0 = cross0 ? (int)(32 - sh0) : 32, c1 = cross1 ? (int)(32 - sh1) : 32;
        __m256i hi = load_words2(in, n0, n1);
        v = _mm256_or_si256(v, _mm256_sllv_epi32(hi, _mm256_setr_epi32(c0, c0, c0, c0, c1, c1,
                                                                        c1, c1)));
    }
    if (sh0 + bits != 32 || sh1 + bits != 32)
        v = _mm256_and_si256(v, mask);
    return v;
}

/* AVX2: inclusive prefix sum of the 8 values of v, with two shuffles (a
 * shift and a blend otherwise) where the 4-wide way needs three per half. */
INLINE TARGET_AVX2 __m256i prefix_sum8(__m256i v)
{
    /* Within each 128-bit half: pairs, then the first pair's total (element
     * 1) into elements 2 and 3 ... */
    v = _mm256_add_epi32(v, _mm256_slli_epi64(v, 32));
    v = _mm256_add_epi32(
        v, _mm256_blend_epi32(_mm256_setzero_si256(), _mm256_shuffle_epi32(v, 0x55), 0xCC));
    /* ... then the low half's total (element 3) into the high half. */
    __m256i low_total = _mm256_permutevar8x32_epi32(v, _mm256_set1_epi32(3));
    return _mm256_add_epi32(v, _mm256_blend_epi32(_mm256_setzero_si256(), low_total, 0xF0));
}

/* AVX2: gaps 4k .. 4k+7 decoded to doc ids and stored. *base holds
 * prev + (1 .. 8) advanced past the doc ids already stored. */
INLINE TARGET_AVX2 void docs_pair(uint32_t *out, unsigned k, __m256i v, __m256i *base)
{
    v = prefix_sum8(v);
    _mm256_storeu_si256((__m256i *)(void *)(out + 4 * (size_t)k), _mm256_add_epi32(v, *base));
    __m256i step = _mm256_add_epi32(_mm256_permutevar8x32_epi32(v, _mm256_set1_epi32(7)),
                                    _mm256_set1_epi32(8));
    *base = _mm256_add_epi32(*base, step); /* the only add on the chain between pairs */
}

INLINE TARGET_AVX2 void docs_body_avx2(const uint8_t *in, unsigned bits, uint32_t prev,
                                       uint32_t *out)
{
    const __m256i mask = _mm256_set1_epi32(bits >= 32 ? -1 : (int)((1u << bits) - 1));
    __m256i base = _mm256_add_epi32(_mm256_set1_epi32((int)prev),
                                    _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8));
#define DOCS_PAIR(k)                                                                   \
    if ((k) % 2 == 0)                                                                  \
        docs_pair(out, (k), unpack_pair(in, bits, (k), mask), &base);
    REP32(DOCS_PAIR)
#undef DOCS_PAIR
}

INLINE TARGET_AVX2 void tfs_body_avx2(const uint8_t *in, unsigned bits, uint32_t *out)
{
    const __m256i mask = _mm256_set1_epi32(bits >= 32 ? -1 : (int)((1u << bits) - 1));
#define TFS_PAIR(k)                                                                    \
    if ((k) % 2 == 0)                                                                  \
        _mm256_storeu_si256((__m256i *)(void *)(out + 4 * (k)),                        \
                            _mm256_add_epi32(unpack_pair(in, bits, (k), mask),         \
                                             _mm256_set1_epi32(1)));
    REP32(TFS_PAIR)
#undef TFS_PAIR
}

/* The per-width kernels: SSE2 for every operation, AVX2 for the doc and tf
 * decodes (plain unpack and pack gain little from 256-bit code). */
#define DEFINE_WIDTH(b)                                                                  \
    static TARGET_SSE2 void sse2_unpack_##b(const uint8_t *in, uint32_t *out)            \
    {                                                                                    \
        unpack_body(in, b, 0, out, SINK_VALUES);                                         \
    }                                                                                    \
    static TARGET_SSE2 void sse2_docs_##b(const uint8_t *in, uint32_t prev, uint32_t *out) \
    {                                                                                    \
        unpack_body(in, b, prev, out, SINK_DOCS);                                        \
    }                                                                                    \
    static TARGET_SSE2 void sse2_tfs_##b(const uint8_t *in, uint32_t *out)               \
    {                                                                                    \
        unpack_body(in, b, 0, out, SINK_TFS);                                            \
    }                                                                                    \
    static TARGET_SSE2 void sse2_pack_##b(const uint32_t *in, uint8_t *out)              \
    {                                                                                    \
        pack_body(in, b, out);                                                           \
    }                                                                                    \
    static TARGET_AVX2 void avx2_docs_##b(const uint8_t *in, uint32_t prev, uint32_t *out) \
    {                                                                                    \
        docs_body_avx2(in, b, prev, out);                                                \
    }                                                                                    \
    static TARGET_AVX2 void avx2_tfs_##b(const uint8_t *in, uint32_t *out)               \
    {                                                                                    \
        tfs_body_avx2(in, b, out);                                                       \
    }
WIDTHS(DEFINE_WIDTH)

/* Switches from a run-time width to its kernel: one jump table each. */
#define CASE_UNPACK(b) case b: sse2_unpack_##b(in, out); return;
#define CASE_DOCS(b) case b: sse2_docs_##b(in, prev, out); return;
#define CASE_TFS(b) case b: sse2_tfs_##b(in, out); return;
#define CASE_PACK(b) case b: sse2_pack_##b(in, out); return;
#define CASE_DOCS_AVX2(b) case b: avx2_docs_##b(in, prev, out); return;
#define CASE_TFS_AVX2(b) case b: avx2_tfs_##b(in, out); return;

static void sse2_unpack128(const uint8_t *in, unsigned bits, uint32_t *out)
{
    switch (bits) { WIDTHS(CASE_UNPACK) }
}

static void sse2_unpack128_docs(const uint8_t *in, unsigned bits, uint32_t prev, uint32_t *out)
{
    switch (bits) { WIDTHS(CASE_DOCS) }
}

static void sse2_unpack128_tfs(const uint8_t *in, unsigned bits, uint32_t *out)
{
    switch (bits) { WIDTHS(CASE_TFS) }
}

static void sse2_pack128(const uint32_t *in, unsigned bits, uint8_t *out)
{
    switch (bits) { WIDTHS(CASE_PACK) }
}

static void avx2_unpack128_docs(const uint8_t *in, unsigned bits, uint32_t prev, uint32_t *out)
{
    switch (bits) { WIDTHS(CASE_DOCS_AVX2) }
}

static void avx2_unpack128_tfs(const uint8_t *in, unsigned bits, uint32_t *out)
{
    switch (bits) { WIDTHS(CASE_TFS_AVX2) }
}

/* ---- delta decode: doc = previous doc + gap + 1 ---------------------------- */

static TARGET_SSE2 void sse2_delta_decode(uint32_t *vals, size_t n, uint32_t prev)
{
    __m128i base = _mm_add_epi32(_mm_set1_epi32((int)prev), _mm_setr_epi32(1, 2, 3, 4));
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i v = prefix_sum4(_mm_loadu_si128((const __m128i *)(const void *)(vals + i)));
        _mm_storeu_si128((__m128i *)(void *)(vals + i), _mm_add_epi32(v, base));
        base = _mm_add_epi32(base, _mm_add_epi32(_mm_shuffle_epi32(v, 0xFF), _mm_set1_epi32(4)));
    }
    prev = (uint32_t)_mm_cvtsi128_si32(base) - 1;
    for (; i < n; i++)
        prev = vals[i] = prev + vals[i] + 1;
}

static TARGET_AVX2 void avx2_delta_decode(uint32_t *vals, size_t n, uint32_t prev)
{
    __m256i base = _mm256_add_epi32(_mm256_set1_epi32((int)prev),
                                    _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = prefix_sum8(_mm256_loadu_si256((const __m256i *)(const void *)(vals + i)));
        _mm256_storeu_si256((__m256i *)(void *)(vals + i), _mm256_add_epi32(v, base));
        __m256i total = _mm256_permutevar8x32_epi32(v, _mm256_set1_epi32(7));
        base = _mm256_add_epi32(base, _mm256_add_epi32(total, _mm256_set1_epi32(8)));
    }
    prev = (uint32_t)_mm256_cvtsi256_si32(base) - 1;
    for (; i < n; i++)
        prev = vals[i] = prev + vals[i] + 1;
}

static const sgs_postings_kernels sse2_kernels = {
    .unpack128 = sse2_unpack128,
    .unpack128_docs = sse2_unpack128_docs,
    .unpack128_tfs = sse2_unpack128_tfs,
    .pack128 = sse2_pack128,
    .delta_decode = sse2_delta_decode,
};

static const sgs_postings_kernels avx2_kernels = {
    .unpack128 = sse2_unpack128,
    .unpack128_docs = avx2_unpack128_docs,
    .unpack128_tfs = avx2_unpack128_tfs,
    .pack128 = sse2_pack128,
    .delta_decode = avx2_delta_decode,
};

const sgs_postings_kernels *sgs_postings_simd_kernels(sgs_simd_level level)
{
    switch (level) {
    case SGS_SIMD_AVX512: /* no codec kernels of its own */
    case SGS_SIMD_AVX2:
        return &avx2_kernels;
    case SGS_SIMD_SSE2:
        return &sse2_kernels;
    case SGS_SIMD_SCALAR:
        break;
    }
    return NULL;
}

#else /* !__x86_64__ */

const sgs_postings_kernels *sgs_postings_simd_kernels(sgs_simd_level level)
{
    (void)level;
    return NULL;
}

#endif
