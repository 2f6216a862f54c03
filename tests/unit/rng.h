/* Seeded randomness for the unit tests: a splitmix64 generator and the
 * run's seed, SGS_TEST_SEED when set, else one from the clock. Each test
 * prints the seed it used, so a failure reruns with the same inputs. */
#ifndef SGS_TESTS_UNIT_RNG_H
#define SGS_TESTS_UNIT_RNG_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t state;
} rng;

/* The next 64 random bits (splitmix64). */
static inline uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform-ish in [0, bound); bound > 0. */
static inline uint32_t rng_below(rng *r, uint32_t bound)
{
    return (uint32_t)(((rng_next(r) >> 32) * bound) >> 32);
}

/* SGS_TEST_SEED when set and non-empty, else a fresh seed from the clock. */
static inline uint64_t test_seed(void)
{
    const char *env = getenv("SGS_TEST_SEED");
    if (env != NULL && env[0] != '\0')
        return strtoull(env, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (uint64_t)getpid();
}

#endif
