/* Runtime SIMD level: the CPU's best level, capped by SGS_SIMD, decided once
 * under pthread_once and read-only afterwards. */
#include "common/simd.h"

#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

#include "common/log.h"

static pthread_once_t simd_once = PTHREAD_ONCE_INIT;
static sgs_simd_level simd_level = SGS_SIMD_SCALAR; /* written once by simd_decide */

/* The best level this CPU and OS support. */
static sgs_simd_level cpu_best(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    /* libgcc's "avx2" and "avx512*" already require the OS to save YMM and
     * ZMM state (XGETBV). */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vp2intersect"))
        return SGS_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return SGS_SIMD_AVX2;
    return SGS_SIMD_SSE2; /* part of the x86-64 baseline */
#else
    return SGS_SIMD_SCALAR;
#endif
}

static void simd_decide(void)
{
    sgs_simd_level level = cpu_best();
    const char *cap_name = getenv("SGS_SIMD");
    if (cap_name != NULL && cap_name[0] != '\0') {
        int cap = -1;
        for (int l = SGS_SIMD_SCALAR; l <= SGS_SIMD_AVX512; l++)
            if (strcasecmp(cap_name, sgs_simd_name((sgs_simd_level)l)) == 0)
                cap = l;
        if (cap < 0)
            sgs_log(SGS_LOG_WARN, "simd_env_ignored",
                    "SGS_SIMD='%s' is not scalar, sse2, avx2 or avx512; using %s", cap_name,
                    sgs_simd_name(level));
        else if ((int)level > cap)
            level = (sgs_simd_level)cap;
    }
    simd_level = level;
}

sgs_simd_level sgs_simd_active(void)
{
    pthread_once(&simd_once, simd_decide);
    return simd_level;
}

const char *sgs_simd_name(sgs_simd_level level)
{
    switch (level) {
    case SGS_SIMD_SCALAR:
        return "scalar";
    case SGS_SIMD_SSE2:
        return "sse2";
    case SGS_SIMD_AVX2:
        return "avx2";
    case SGS_SIMD_AVX512:
        return "avx512";
    }
    return "unknown";
}
