/* Monotonic time for deadlines and latency measurement. */
#ifndef SGS_COMMON_CLOCK_H
#define SGS_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The current CLOCK_MONOTONIC time in nanoseconds. */
static inline uint64_t sgs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
