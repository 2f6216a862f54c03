/* Log-linear histogram: bucket arithmetic and relaxed-atomic counters. */
#include "common/hist.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "common/mem.h"

#define SUB_COUNT (1u << SGS_HIST_SUB_BITS)

struct sgs_hist {
    _Atomic uint64_t count;
    _Atomic uint64_t sum;
    _Atomic uint64_t min; /* UINT64_MAX while empty */
    _Atomic uint64_t max;
    _Atomic uint64_t buckets[SGS_HIST_BUCKETS];
};

uint32_t sgs_hist_bucket_of(uint64_t value)
{
    if (value > SGS_HIST_MAX_VALUE)
        value = SGS_HIST_MAX_VALUE;
    if (value < SUB_COUNT)
        return (uint32_t)value;
    unsigned msb = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = msb - SGS_HIST_SUB_BITS;
    return (shift + 1u) * SUB_COUNT + (uint32_t)((value >> shift) - SUB_COUNT);
}

uint64_t sgs_hist_bucket_lo(uint32_t i)
{
    if (i < SUB_COUNT)
        return i;
    unsigned shift = i / SUB_COUNT - 1u;
    return (uint64_t)(i % SUB_COUNT + SUB_COUNT) << shift;
}

uint64_t sgs_hist_bucket_hi(uint32_t i)
{
    if (i < SUB_COUNT)
        return i;
    unsigned shift = i / SUB_COUNT - 1u;
    return sgs_hist_bucket_lo(i) + ((UINT64_C(1) << shift) - 1u);
}

sgs_hist *sgs_hist_new(void)
{
    sgs_hist *h = sgs_xmalloc(sizeof *h);
    atomic_init(&h->count, 0);
    atomic_init(&h->sum, 0);
    atomic_init(&h->min, UINT64_MAX);
    atomic_init(&h->max, 0);
    for (uint32_t i = 0; i < SGS_HIST_BUCKETS; i++)
        atomic_init(&h->buckets[i], 0);
    return h;
}

void sgs_hist_free(sgs_hist *h)
{
    free(h);
}

/* Single-writer add: a relaxed load and store, no locked instruction. */
static inline void add_relaxed(_Atomic uint64_t *p, uint64_t n)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void sgs_hist_record_n(sgs_hist *h, uint64_t value, uint64_t n)
{
    if (n == 0)
        return;
    add_relaxed(&h->buckets[sgs_hist_bucket_of(value)], n);
    add_relaxed(&h->count, n);
    add_relaxed(&h->sum, value * n);
    if (value < atomic_load_explicit(&h->min, memory_order_relaxed))
        atomic_store_explicit(&h->min, value, memory_order_relaxed);
    if (value > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, value, memory_order_relaxed);
}

void sgs_hist_record(sgs_hist *h, uint64_t value)
{
    sgs_hist_record_n(h, value, 1);
}

static void atomic_min(_Atomic uint64_t *p, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

static void atomic_max(_Atomic uint64_t *p, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

void sgs_hist_record_atomic(sgs_hist *h, uint64_t value)
{
    atomic_fetch_add_explicit(&h->buckets[sgs_hist_bucket_of(value)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
    atomic_min(&h->min, value);
    atomic_max(&h->max, value);
}

void sgs_hist_merge(sgs_hist *dst, const sgs_hist *src)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < SGS_HIST_BUCKETS; i++) {
        uint64_t c = atomic_load_explicit(&src->buckets[i], memory_order_relaxed);
        if (c != 0) {
            atomic_fetch_add_explicit(&dst->buckets[i], c, memory_order_relaxed);
            n += c;
        }
    }
    atomic_fetch_add_explicit(&dst->count, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&dst->sum, atomic_load_explicit(&src->sum, memory_order_relaxed),
                              memory_order_relaxed);
    if (n != 0) {
        atomic_min(&dst->min, atomic_load_explicit(&src->min, memory_order_relaxed));
        atomic_max(&dst->max, atomic_load_explicit(&src->max, memory_order_relaxed));
    }
}

void sgs_hist_reset(sgs_hist *h)
{
    for (uint32_t i = 0; i < SGS_HIST_BUCKETS; i++)
        atomic_store_explicit(&h->buckets[i], 0, memory_order_relaxed);
    atomic_store_explicit(&h->count, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
    atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
    atomic_store_explicit(&h->max, 0, memory_order_relaxed);
}

uint64_t sgs_hist_count(const sgs_hist *h)
{
    return atomic_load_explicit(&h->count, memory_order_relaxed);
}

uint64_t sgs_hist_min(const sgs_hist *h)
{
    uint64_t v = atomic_load_explicit(&h->min, memory_order_relaxed);
    return v == UINT64_MAX ? 0 : v;
}

uint64_t sgs_hist_max(const sgs_hist *h)
{
    return atomic_load_explicit(&h->max, memory_order_relaxed);
}

uint64_t sgs_hist_sum(const sgs_hist *h)
{
    return atomic_load_explicit(&h->sum, memory_order_relaxed);
}

double sgs_hist_mean(const sgs_hist *h)
{
    uint64_t n = sgs_hist_count(h);
    return n == 0 ? 0.0 : (double)sgs_hist_sum(h) / (double)n;
}

uint64_t sgs_hist_quantile(const sgs_hist *h, double q)
{
    uint64_t counts[SGS_HIST_BUCKETS];
    uint64_t n = 0;
    for (uint32_t i = 0; i < SGS_HIST_BUCKETS; i++) {
        counts[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        n += counts[i];
    }
    if (n == 0)
        return 0;
    if (!(q > 0.0)) /* also catches NaN */
        q = 0.0;
    if (q > 1.0)
        q = 1.0;
    double want = q * (double)n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    if (rank > n)
        rank = n;
    uint64_t lo = sgs_hist_min(h), hi = sgs_hist_max(h);
    if (rank == 1 && lo <= hi)
        return lo;
    if (rank == n)
        return hi;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < SGS_HIST_BUCKETS; i++) {
        seen += counts[i];
        if (seen >= rank) {
            uint64_t b_lo = sgs_hist_bucket_lo(i), b_hi = sgs_hist_bucket_hi(i);
            uint64_t mid = b_lo + (b_hi - b_lo) / 2;
            if (mid < lo)
                mid = lo;
            if (mid > hi)
                mid = hi;
            return mid;
        }
    }
    return hi;
}

bool sgs_hist_next(const sgs_hist *h, sgs_hist_bucket *b)
{
    uint64_t cumulative = b->index == 0 ? 0 : b->cumulative;
    for (uint32_t i = b->index; i < SGS_HIST_BUCKETS; i++) {
        uint64_t c = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (c == 0)
            continue;
        b->index = i + 1;
        b->lo = sgs_hist_bucket_lo(i);
        b->hi = sgs_hist_bucket_hi(i);
        b->count = c;
        b->cumulative = cumulative + c;
        return true;
    }
    b->index = SGS_HIST_BUCKETS;
    return false;
}
