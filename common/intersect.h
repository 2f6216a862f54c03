/* SIMD kernels that find the docs two sorted doc-id arrays share, a window
 * of lanes at a time (the block merge of an AND, eval_and.c), dispatched at
 * run time on the SIMD level (simd.h) so one binary runs on every CPU.
 *
 * Invariants: the arrays are strictly increasing; a kernel reads only
 * ad[*pi..na) and bd[*pj..nb), with unaligned loads, and reports shared docs
 * in doc order. It stops once fewer docs than its lanes are left on a side:
 * the caller finishes the rest with scalar code, which is also the whole
 * job at SGS_SIMD_SCALAR (and on CPUs without SSE2). */
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
