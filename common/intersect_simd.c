/* The SIMD window kernels of intersect.h: from ad[*pi..na) and
 * bd[*pj..nb), W docs of each are compared with each other (the second
 * window rotated W - 1 times), then the window with the smaller last doc
 * moves on (both on a tie): none of its docs can meet a later doc of the
 * other. A hit is the first shared doc (windows meet in doc order).
 *
 * Invariants: as intersect.h; the AVX2 and AVX-512 kernels are compiled with
 * target attributes and only called when the CPU has them
 * (sgs_simd_active()); the SSE2 kernel is x86-64 baseline. Elsewhere the file is empty and the
 * merge's scalar loop does all the work. */
#include "common/intersect.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__SSE2__)
/* The tail of a window compare, for windows of lanes docs at ad + *i and
 * bd + *j: with hit (bit p set when ad[*i + p] is in the other window) not
 * 0, moves *i and *j onto the first shared doc and returns true; else moves
 * on the window with the smaller last doc (both on a tie) and returns
 * false. */
static inline __attribute__((always_inline)) bool window_step(const uint32_t *ad,
                                                              const uint32_t *bd, unsigned hit,
                                                              uint32_t lanes, uint32_t *i,
                                                              uint32_t *j)
{
    if (__builtin_expect(hit != 0, 0)) {
        uint32_t p = (uint32_t)__builtin_ctz(hit), u = ad[*i + p], q = 0;
        while (bd[*j + q] != u)
            q++;
        *i += p;
        *j += q;
        return true;
    }
    uint32_t am = ad[*i + lanes - 1], bm = bd[*j + lanes - 1];
    *i += am <= bm ? lanes : 0;
    *j += bm <= am ? lanes : 0;
    return false;
}

/* W = 4. Inlined into both entry points below. */
static inline __attribute__((always_inline)) bool shared_sse2(const uint32_t *ad, uint32_t na,
                                                              const uint32_t *bd, uint32_t nb,
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
        if (window_step(ad, bd, hit, 4, &i, &j)) {
            *pi = i;
            *pj = j;
            return true;
        }
    }
    *pi = i;
    *pj = j;
    return false;
}

bool sgs_intersect_shared_sse2(const uint32_t *ad, uint32_t na, const uint32_t *bd, uint32_t nb,
                               uint32_t *pi, uint32_t *pj)
{
    return shared_sse2(ad, na, bd, nb, pi, pj);
}
#endif

#if defined(__x86_64__)
/* W = 8, then W = 4 on what is left. */
__attribute__((target("avx2"))) bool sgs_intersect_shared_avx2(const uint32_t *ad, uint32_t na,
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
        if (window_step(ad, bd, hit, 8, &i, &j)) {
            *pi = i;
            *pj = j;
            return true;
        }
    }
    *pi = i;
    *pj = j;
    return shared_sse2(ad, na, bd, nb, pi, pj);
}

/* W = 16 with VP2INTERSECT: one instruction compares the two windows
 * whole and marks the shared lanes of each; the marked positions are
 * compressed into ci and cj together (shared docs are distinct and in the
 * same order on both sides, so the k-th mark of one window and the k-th of
 * the other are the same doc). A window shorter than 16 at the end of an
 * array is filled with copies of its last doc and its marks masked to its
 * real lanes: a copy can only repeat a real doc of the same side. */
__attribute__((target("avx512f,avx512vl,avx512vp2intersect,popcnt"))) uint32_t
sgs_intersect_all_avx512(const uint32_t *ad, uint32_t na, const uint32_t *bd, uint32_t nb,
                         uint32_t *pi, uint32_t *pj, uint32_t *ci, uint32_t *cj)
{
    uint32_t i = *pi, j = *pj, nc = 0;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    while (i < na && j < nb) {
        uint32_t wa = na - i < 16 ? na - i : 16, wb = nb - j < 16 ? nb - j : 16;
        uint32_t am = ad[i + wa - 1], bm = bd[j + wb - 1];
        __mmask16 ma = (__mmask16)(0xFFFFu >> (16 - wa)), mb = (__mmask16)(0xFFFFu >> (16 - wb));
        __m512i va = _mm512_mask_loadu_epi32(_mm512_set1_epi32((int)am), ma, ad + i);
        __m512i vb = _mm512_mask_loadu_epi32(_mm512_set1_epi32((int)bm), mb, bd + j);
        __mmask16 ka, kb;
        _mm512_2intersect_epi32(va, vb, &ka, &kb);
        ka &= ma;
        kb &= mb;
        if (__builtin_expect(ka != 0, 0)) {
            __m512i pa = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)i));
            __m512i pb = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)j));
            _mm512_storeu_si512(ci + nc, _mm512_maskz_compress_epi32(ka, pa));
            _mm512_storeu_si512(cj + nc, _mm512_maskz_compress_epi32(kb, pb));
            nc += (uint32_t)__builtin_popcount(ka);
        }
        i += am <= bm ? wa : 0;
        j += bm <= am ? wb : 0;
    }
    *pi = i;
    *pj = j;
    return nc;
}
#endif
