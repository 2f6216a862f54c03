/* Latency histogram: bucket bounds, quantiles against exact order statistics
 * of raw samples, merge, reset, iteration and concurrent recording. */
#include "common/hist.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t test_seed(void)
{
    const char *env = getenv("SGS_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("SGS_TEST_SEED=%llu\n", (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Log-uniform in [1, max]: every decade gets samples. */
static uint64_t log_uniform(uint64_t *s, double max)
{
    double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    double v = __builtin_exp(u * __builtin_log(max));
    return v < 1 ? 1 : (uint64_t)v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(hist, buckets_tile_the_range_and_stay_narrow)
{
    cr_assert_eq(sgs_hist_bucket_lo(0), 0);
    for (uint32_t i = 0; i + 1 < SGS_HIST_BUCKETS; i++) {
        uint64_t lo = sgs_hist_bucket_lo(i), hi = sgs_hist_bucket_hi(i);
        cr_assert_leq(lo, hi);
        cr_assert_eq(sgs_hist_bucket_lo(i + 1), hi + 1, "gap after bucket %u", i);
        cr_assert_eq(sgs_hist_bucket_of(lo), i);
        cr_assert_eq(sgs_hist_bucket_of(hi), i);
        cr_assert_leq((hi - lo) * 64, lo, "bucket %u too wide: [%llu, %llu]", i,
                      (unsigned long long)lo, (unsigned long long)hi);
    }
    cr_assert_eq(sgs_hist_bucket_hi(SGS_HIST_BUCKETS - 1), SGS_HIST_MAX_VALUE);
    cr_assert_eq(sgs_hist_bucket_of(UINT64_MAX), SGS_HIST_BUCKETS - 1);
    /* 100 s in µs and in ns are both tracked. */
    cr_assert_lt(sgs_hist_bucket_of(100000000ull), SGS_HIST_BUCKETS - 1);
    cr_assert_lt(sgs_hist_bucket_of(100000000000ull), SGS_HIST_BUCKETS - 1);
}

Test(hist, empty_histogram_reports_zero)
{
    sgs_hist *h = sgs_hist_new();
    cr_assert_eq(sgs_hist_count(h), 0);
    cr_assert_eq(sgs_hist_min(h), 0);
    cr_assert_eq(sgs_hist_max(h), 0);
    cr_assert_eq(sgs_hist_quantile(h, 0.5), 0);
    cr_assert_eq(sgs_hist_mean(h), 0.0);
    sgs_hist_bucket b = {0};
    cr_assert_not(sgs_hist_next(h, &b));
    sgs_hist_free(h);
}

static void check_quantiles(const sgs_hist *h, uint64_t *samples, size_t n)
{
    qsort(samples, n, sizeof *samples, cmp_u64);
    static const double qs[] = {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9,
                                0.95, 0.99, 0.999, 0.9999, 1};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double want = qs[i] * (double)n;
        size_t rank = (size_t)want;
        if ((double)rank < want)
            rank++;
        if (rank == 0)
            rank = 1;
        uint64_t exact = samples[rank - 1];
        uint64_t got = sgs_hist_quantile(h, qs[i]);
        uint64_t diff = got > exact ? got - exact : exact - got;
        cr_assert_leq(diff * 128, exact + 128, "q=%g: got %llu, exact %llu", qs[i],
                      (unsigned long long)got, (unsigned long long)exact);
    }
    cr_assert_eq(sgs_hist_min(h), samples[0]);
    cr_assert_eq(sgs_hist_max(h), samples[n - 1]);
    cr_assert_eq(sgs_hist_count(h), n);
}

Test(hist, quantiles_match_exact_order_statistics)
{
    uint64_t seed = test_seed();
    enum { N = 20000 };
    uint64_t *samples = malloc(N * sizeof *samples);
    const double maxes[] = {100.0, 1e5, 1e8, 1e11};
    for (size_t m = 0; m < 4; m++) {
        sgs_hist *h = sgs_hist_new();
        uint64_t sum = 0;
        size_t n = 1 + rng_next(&seed) % N;
        for (size_t i = 0; i < n; i++) {
            samples[i] = log_uniform(&seed, maxes[m]);
            sum += samples[i];
            sgs_hist_record(h, samples[i]);
        }
        cr_assert_eq(sgs_hist_sum(h), sum);
        cr_assert_float_eq(sgs_hist_mean(h), (double)sum / (double)n, 1e-6 * (double)sum);
        check_quantiles(h, samples, n);
        sgs_hist_free(h);
    }
    free(samples);
}

Test(hist, merge_equals_recording_everything_into_one)
{
    uint64_t seed = test_seed();
    sgs_hist *a = sgs_hist_new(), *b = sgs_hist_new(), *all = sgs_hist_new();
    for (int i = 0; i < 5000; i++) {
        uint64_t v = log_uniform(&seed, 1e9);
        sgs_hist_record(i % 3 ? a : b, v);
        sgs_hist_record(all, v);
    }
    sgs_hist_merge(a, b);
    cr_assert_eq(sgs_hist_count(a), sgs_hist_count(all));
    cr_assert_eq(sgs_hist_sum(a), sgs_hist_sum(all));
    cr_assert_eq(sgs_hist_min(a), sgs_hist_min(all));
    cr_assert_eq(sgs_hist_max(a), sgs_hist_max(all));
    sgs_hist_bucket x = {0}, y = {0};
    size_t n_buckets = 0;
    for (;;) {
        bool mx = sgs_hist_next(a, &x), my = sgs_hist_next(all, &y);
        cr_assert_eq(mx, my);
        if (!mx)
            break;
        cr_assert_eq(x.lo, y.lo);
        cr_assert_eq(x.count, y.count);
        cr_assert_eq(x.cumulative, y.cumulative);
        n_buckets++;
    }
    cr_assert_gt(n_buckets, 100);
    cr_assert_eq(x.cumulative, sgs_hist_count(all));
    for (double q = 0; q <= 1.0; q += 0.05)
        cr_assert_eq(sgs_hist_quantile(a, q), sgs_hist_quantile(all, q));
    sgs_hist_reset(a);
    cr_assert_eq(sgs_hist_count(a), 0);
    cr_assert_eq(sgs_hist_quantile(a, 0.5), 0);
    sgs_hist_bucket z = {0};
    cr_assert_not(sgs_hist_next(a, &z));
    sgs_hist_free(a);
    sgs_hist_free(b);
    sgs_hist_free(all);
}

Test(hist, iteration_is_increasing_and_cumulative)
{
    sgs_hist *h = sgs_hist_new();
    sgs_hist_record_n(h, 5, 3);
    sgs_hist_record(h, 1000);
    sgs_hist_record(h, 1001);
    sgs_hist_record(h, 1000000);
    sgs_hist_bucket b = {0};
    cr_assert(sgs_hist_next(h, &b));
    cr_assert_eq(b.lo, 5);
    cr_assert_eq(b.count, 3);
    cr_assert(sgs_hist_next(h, &b));
    cr_assert_leq(b.lo, 1000);
    cr_assert_geq(b.hi, 1001);
    cr_assert_eq(b.count, 2);
    cr_assert_eq(b.cumulative, 5);
    cr_assert(sgs_hist_next(h, &b));
    cr_assert_leq(b.lo, 1000000);
    cr_assert_geq(b.hi, 1000000);
    cr_assert_eq(b.cumulative, 6);
    cr_assert_not(sgs_hist_next(h, &b));
    cr_assert_eq(sgs_hist_quantile(h, 0.5), 5);
    cr_assert_eq(sgs_hist_quantile(h, 1.0), 1000000);
    sgs_hist_free(h);
}

typedef struct {
    sgs_hist *h;
    uint64_t base;
} rec_arg;

static void *recorder(void *p)
{
    rec_arg *a = p;
    for (uint64_t i = 0; i < 50000; i++)
        sgs_hist_record_atomic(a->h, a->base + i % 1000);
    return NULL;
}

Test(hist, atomic_recording_from_threads_loses_nothing)
{
    sgs_hist *h = sgs_hist_new();
    pthread_t t[4];
    rec_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (rec_arg){h, (uint64_t)i * 10};
        pthread_create(&t[i], NULL, recorder, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(sgs_hist_count(h), 200000);
    cr_assert_eq(sgs_hist_min(h), 0);
    cr_assert_eq(sgs_hist_max(h), 1029);
    uint64_t want_sum = 0;
    for (int i = 0; i < 4; i++)
        for (uint64_t j = 0; j < 50000; j++)
            want_sum += (uint64_t)i * 10 + j % 1000;
    cr_assert_eq(sgs_hist_sum(h), want_sum);
    sgs_hist_free(h);
}
