/* Monotonic time for deadlines and latency measurement, and the calling
 * thread's CPU time for cost measurement. */
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

/* The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID) in nanoseconds. */
static inline uint64_t sgs_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
