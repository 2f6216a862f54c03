/* Metrics registry: families, labels, cumulative histogram buckets, the exact
 * text exposition, and lock-free updates from several threads. */
#include "common/metrics.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

static char *render(const sgs_metrics *m)
{
    sgs_buf b;
    sgs_buf_init(&b);
    sgs_metrics_render(m, &b);
    sgs_buf_putc(&b, 0);
    return (char *)b.data;
}

static void collect_gen(void *ctx, sgs_buf *out)
{
    sgs_buf_printf(out, "sgs_test_info{generation=\"%s\"} 1\n", (const char *)ctx);
}

Test(metrics, renders_text_format_0_0_4)
{
    sgs_metrics *m = sgs_metrics_new();
    sgs_counter *ok = sgs_metrics_counter(m, "sgs_q_total", "Queries by status.", "status=\"ok\"");
    sgs_gauge *inflight = sgs_metrics_gauge(m, "sgs_inflight", "In flight.", NULL);
    sgs_counter *bad = sgs_metrics_counter(m, "sgs_q_total", "ignored", "status=\"bad\"");
    const uint64_t bounds[] = {100, 1000};
    sgs_histogram *lat = sgs_metrics_histogram(m, "sgs_lat_seconds", "Latency\nin s.",
                                               "op=\"search\"", bounds, 2, 1e-6);
    sgs_metrics_collector(m, "sgs_test_info", "Info.", SGS_METRIC_GAUGE, collect_gen, "00ff");
    sgs_counter_add(ok, 41);
    sgs_counter_inc(ok);
    sgs_counter_inc(bad);
    sgs_gauge_set(inflight, 5);
    sgs_gauge_add(inflight, -7);
    sgs_histogram_observe(lat, 50);
    sgs_histogram_observe(lat, 100);
    sgs_histogram_observe(lat, 101);
    sgs_histogram_observe(lat, 5000);
    cr_assert_eq(sgs_counter_get(ok), 42);
    cr_assert_eq(sgs_gauge_get(inflight), -2);
    cr_assert_eq(sgs_histogram_count(lat), 4);
    char *text = render(m);
    const char *want =
        "# HELP sgs_q_total Queries by status.\n"
        "# TYPE sgs_q_total counter\n"
        "sgs_q_total{status=\"ok\"} 42\n"
        "sgs_q_total{status=\"bad\"} 1\n"
        "# HELP sgs_inflight In flight.\n"
        "# TYPE sgs_inflight gauge\n"
        "sgs_inflight -2\n"
        "# HELP sgs_lat_seconds Latency\\nin s.\n"
        "# TYPE sgs_lat_seconds histogram\n"
        "sgs_lat_seconds_bucket{op=\"search\",le=\"0.0001\"} 2\n"
        "sgs_lat_seconds_bucket{op=\"search\",le=\"0.001\"} 3\n"
        "sgs_lat_seconds_bucket{op=\"search\",le=\"+Inf\"} 4\n"
        "sgs_lat_seconds_sum{op=\"search\"} 0.005251\n"
        "sgs_lat_seconds_count{op=\"search\"} 4\n"
        "# HELP sgs_test_info Info.\n"
        "# TYPE sgs_test_info gauge\n"
        "sgs_test_info{generation=\"00ff\"} 1\n";
    cr_assert_str_eq(text, want);
    free(text);
    sgs_metrics_free(m);
}

Test(metrics, latency_bounds_increase)
{
    size_t n;
    const uint64_t *b = sgs_metrics_latency_bounds_us(&n);
    cr_assert_gt(n, 5);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(b[i - 1], b[i]);
}

static void *hammer(void *p)
{
    void **args = p;
    for (int i = 0; i < 100000; i++) {
        sgs_counter_inc(args[0]);
        sgs_gauge_add(args[1], i % 2 ? -1 : 1);
        sgs_histogram_observe(args[2], (uint64_t)i % 3000);
    }
    return NULL;
}

Test(metrics, concurrent_updates_lose_nothing)
{
    sgs_metrics *m = sgs_metrics_new();
    size_t n;
    const uint64_t *bounds = sgs_metrics_latency_bounds_us(&n);
    void *args[3] = {sgs_metrics_counter(m, "c_total", "c", NULL), sgs_metrics_gauge(m, "g", "g", NULL),
                     sgs_metrics_histogram(m, "h_seconds", "h", NULL, bounds, n, 1e-6)};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, args);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(sgs_counter_get(args[0]), 400000);
    cr_assert_eq(sgs_gauge_get(args[1]), 0);
    cr_assert_eq(sgs_histogram_count(args[2]), 400000);
    char *text = render(m);
    cr_assert(strstr(text, "h_seconds_bucket{le=\"+Inf\"} 400000\n"), "%s", text);
    cr_assert(strstr(text, "h_seconds_count 400000\n"));
    free(text);
    sgs_metrics_free(m);
}
