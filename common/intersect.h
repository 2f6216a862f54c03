/* SIMD kernels that find the docs two sorted doc-id arrays share, a window
 * of lanes at a time (the block merge of an AND, eval_and.c), dispatched at
 * run time on the SIMD level (simd.h) so one binary runs on every CPU.
 *
 * Invariants: the arrays are strictly increasing; a kernel reads only
 * ad[*pi..na) and bd[*pj..nb), with unaligned loads (masked ones, which
 * never fault past the end, for AVX-512), and reports shared docs in doc
 * order. The AVX2 and SSE2 kernels stop once fewer docs than their lanes
 * are left on a side: the caller finishes the rest with scalar code, which
 * is also the whole job at SGS_SIMD_SCALAR (and on CPUs without SSE2); the
 * AVX-512 one runs to the end of a side. */
#ifndef SGS_COMMON_INTERSECT_H
#define SGS_COMMON_INTERSECT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/simd.h"

#if defined(__x86_64__)
/* 8-lane windows (AVX2), then 4-lane ones (SSE2) on what is left. True with
 * *pi, *pj on the first doc shared from there; false with them where the
 * windows stopped (no doc before them is shared but those reported). Only
 * call when sgs_simd_active() >= SGS_SIMD_AVX2. */
bool sgs_intersect_shared_avx2(const uint32_t *ad, uint32_t na, const uint32_t *bd, uint32_t nb,
                               uint32_t *pi, uint32_t *pj);
#endif

#if defined(__x86_64__)
/* Every doc ad[*pi..na) and bd[*pj..nb) share, 16-lane windows compared
 * with one VP2INTERSECT each (the last windows masked to what is left): the
 * positions of the shared docs are appended, in doc order, to ci (in ad)
 * and cj (in bd), which must have room for the shared docs plus
 * SGS_INTERSECT_ALL_SLACK (at most min(na - *pi, nb - *pj) docs, as both
 * arrays strictly increase); returns their number. Stops with *pi == na or
 * *pj == nb, every doc before them on both sides compared with every doc
 * it could share. Only call when sgs_simd_active() >= SGS_SIMD_AVX512. */
uint32_t sgs_intersect_all_avx512(const uint32_t *ad, uint32_t na, const uint32_t *bd,
                                  uint32_t nb, uint32_t *pi, uint32_t *pj, uint32_t *ci,
                                  uint32_t *cj);
#endif

/* Positions sgs_intersect_all_avx512 may write past the shared docs it
 * reports (it stores whole 16-lane vectors). */
#define SGS_INTERSECT_ALL_SLACK 16u

#if defined(__SSE2__)
/* As sgs_intersect_shared_avx2 with 4-lane windows (SSE2) alone. */
bool sgs_intersect_shared_sse2(const uint32_t *ad, uint32_t na, const uint32_t *bd, uint32_t nb,
                               uint32_t *pi, uint32_t *pj);
#endif

/* The kernel of the given level (at most sgs_simd_active()): true with *pi,
 * *pj on the next shared doc; false where the windows stopped, or at once
 * (nothing moved) at SGS_SIMD_SCALAR. Inline so the AVX2 path costs one
 * call a shared doc. */
static inline bool sgs_intersect_shared(sgs_simd_level level, const uint32_t *ad, uint32_t na,
                                        const uint32_t *bd, uint32_t nb, uint32_t *pi,
                                        uint32_t *pj)
{
#if defined(__x86_64__)
    if (level >= SGS_SIMD_AVX2)
        return sgs_intersect_shared_avx2(ad, na, bd, nb, pi, pj);
#endif
#if defined(__SSE2__)
    if (level >= SGS_SIMD_SSE2)
        return sgs_intersect_shared_sse2(ad, na, bd, nb, pi, pj);
#endif
    (void)level, (void)ad, (void)na, (void)bd, (void)nb, (void)pi, (void)pj;
    return false;
}

#endif
