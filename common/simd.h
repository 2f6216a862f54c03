/* Runtime choice of the SIMD level the hot kernels (postings codec,
 * intersection, top-k) run at, so one binary runs on every x86-64 CPU and
 * on other architectures with the scalar code.
 *
 * Invariants: the level is decided once per process, on first use, and never
 * changes afterwards; it is never above what the CPU (and OS) supports. The
 * environment variable SGS_SIMD=scalar|sse2|avx2|avx512 caps it (for tests and
 * benchmarks of the fallback paths); an unknown value is logged and ignored.
 * Levels are ordered: a higher level implies every lower one. */
#ifndef SGS_COMMON_SIMD_H
#define SGS_COMMON_SIMD_H

typedef enum {
    SGS_SIMD_SCALAR = 0,
    SGS_SIMD_SSE2 = 1,
    SGS_SIMD_AVX2 = 2,
    /* AVX-512 F, VL and VP2INTERSECT (the 16 x 16 doc compare of the AND
     * merge); the postings codec runs its AVX2 kernels at this level. */
    SGS_SIMD_AVX512 = 3,
} sgs_simd_level;

/* The level kernels dispatch to: the best the CPU supports, capped by
 * SGS_SIMD. Decided on the first call (thread-safe); later calls are cheap. */
sgs_simd_level sgs_simd_active(void);

/* The lowercase name of a level ("scalar", "sse2", "avx2", "avx512"); "unknown" for
 * anything else. Returns a static string. */
const char *sgs_simd_name(sgs_simd_level level);

#endif
