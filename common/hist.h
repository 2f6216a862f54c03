/* A log-linear latency histogram (HdrHistogram-style) of uint64 values, in
 * whatever unit the caller picks (µs or ns), with fixed memory.
 *
 * Layout: values below 2^SGS_HIST_SUB_BITS have one bucket each; above, every
 * power-of-two range [2^e, 2^(e+1)) is split into 2^SGS_HIST_SUB_BITS equal
 * buckets. So a bucket is never wider than 1/64 of its lower bound, and a
 * value reported from a bucket (its midpoint, clamped to the recorded min and
 * max) is within 1/128 (0.8 %) of any value recorded into it. Values up to
 * SGS_HIST_MAX_VALUE (2^44-1: 4.9 hours in ns, 203 days in µs) are tracked;
 * larger ones count in the top bucket (min, max and the sum stay exact).
 *
 * Concurrency: every counter is _Atomic. sgs_hist_record() is for a single
 * recording thread (relaxed load and store, no locked instruction);
 * sgs_hist_record_atomic() may be called from any number of threads at once.
 * Readers (quantile, count, iteration, merge source) may run concurrently
 * with recorders and see a slightly stale but never torn state: the count is
 * the sum of the buckets read, so quantiles stay within the buckets. Reset
 * while others record loses or keeps those few samples, nothing worse. */
#ifndef SGS_COMMON_HIST_H
#define SGS_COMMON_HIST_H

#include <stdbool.h>
#include <stdint.h>

#define SGS_HIST_SUB_BITS 6u
#define SGS_HIST_MAX_BITS 44u
#define SGS_HIST_MAX_VALUE ((UINT64_C(1) << SGS_HIST_MAX_BITS) - 1)
/* Number of buckets: the linear first range plus one range per power of two. */
#define SGS_HIST_BUCKETS \
    ((SGS_HIST_MAX_BITS - SGS_HIST_SUB_BITS + 1u) << SGS_HIST_SUB_BITS)

typedef struct sgs_hist sgs_hist;

/* One non-empty bucket seen by sgs_hist_next(). */
typedef struct sgs_hist_bucket {
    uint32_t index; /* private: where the iteration stands */
    uint64_t lo;    /* smallest value that lands in the bucket */
    uint64_t hi;    /* largest value that lands in the bucket */
    uint64_t count; /* samples in the bucket */
    uint64_t cumulative; /* samples in this bucket and every lower one */
} sgs_hist_bucket;

/* A new empty histogram (about 19 KB). Free with sgs_hist_free(). */
sgs_hist *sgs_hist_new(void);

/* Frees the histogram; NULL is a no-op. */
void sgs_hist_free(sgs_hist *h);

/* Records one value; only one thread may record this way at a time. */
void sgs_hist_record(sgs_hist *h, uint64_t value);

/* Records n samples of one value, as sgs_hist_record(). */
void sgs_hist_record_n(sgs_hist *h, uint64_t value, uint64_t n);

/* Records one value; safe from any number of threads at once. */
void sgs_hist_record_atomic(sgs_hist *h, uint64_t value);

/* Adds every sample of src into dst (src may be recorded into meanwhile). */
void sgs_hist_merge(sgs_hist *dst, const sgs_hist *src);

/* Forgets every sample. */
void sgs_hist_reset(sgs_hist *h);

/* Number of samples recorded. */
uint64_t sgs_hist_count(const sgs_hist *h);

/* Smallest and largest value recorded (exact), or 0 when empty. */
uint64_t sgs_hist_min(const sgs_hist *h);
uint64_t sgs_hist_max(const sgs_hist *h);

/* Sum of the values recorded (exact, wraps past 2^64). */
uint64_t sgs_hist_sum(const sgs_hist *h);

/* Mean of the values recorded (exact up to double rounding), 0 when empty. */
double sgs_hist_mean(const sgs_hist *h);

/* The value at quantile q in [0, 1]: the value v such that ceil(q * count)
 * samples (at least one) are <= v, reported as its bucket's midpoint clamped
 * to [min, max]; within 1/128 of the exact order statistic. 0 when empty;
 * q outside [0, 1] is clamped. */
uint64_t sgs_hist_quantile(const sgs_hist *h, double q);

/* Iterates the non-empty buckets in increasing value order: start with
 * b->index = 0 (e.g. `sgs_hist_bucket b = {0};`); each call fills b with the
 * next one and returns true, or returns false at the end. */
bool sgs_hist_next(const sgs_hist *h, sgs_hist_bucket *b);

/* The bucket a value lands in (for tests and tools). */
uint32_t sgs_hist_bucket_of(uint64_t value);

/* The smallest and largest value of bucket i (< SGS_HIST_BUCKETS). */
uint64_t sgs_hist_bucket_lo(uint32_t i);
uint64_t sgs_hist_bucket_hi(uint32_t i);

#endif
