/* Metrics registry: families of series in registration order, relaxed atomic
 * values, text-format rendering. */
#include "common/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct sgs_counter {
    _Atomic uint64_t v;
};

struct sgs_gauge {
    _Atomic int64_t v;
};

struct sgs_histogram {
    uint64_t *bounds; /* n_bounds increasing upper bounds */
    size_t n_bounds;
    double unit;
    _Atomic uint64_t *buckets; /* n_bounds + 1, the last is +Inf; not cumulative */
    _Atomic uint64_t sum;
    _Atomic uint64_t count;
};

typedef struct series {
    char *labels; /* NULL for none */
    union {
        sgs_counter counter;
        sgs_gauge gauge;
        sgs_histogram hist;
    } u;
} series;

typedef struct family {
    char *name;
    char *help;
    sgs_metric_type type;
    series **series;
    size_t n_series;
    sgs_metrics_collect_fn collect; /* collector families only */
    void *collect_ctx;
} family;

struct sgs_metrics {
    family *families;
    size_t n_families;
};

static const char *const type_names[] = {"counter", "gauge", "histogram"};

sgs_metrics *sgs_metrics_new(void)
{
    return sgs_xcalloc(1, sizeof(sgs_metrics));
}

void sgs_metrics_free(sgs_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_families; i++) {
        family *f = &m->families[i];
        for (size_t j = 0; j < f->n_series; j++) {
            series *s = f->series[j];
            if (f->type == SGS_METRIC_HISTOGRAM) {
                free(s->u.hist.bounds);
                free((void *)s->u.hist.buckets);
            }
            free(s->labels);
            free(s);
        }
        free(f->series);
        free(f->name);
        free(f->help);
    }
    free(m->families);
    free(m);
}

static family *family_get(sgs_metrics *m, const char *name, const char *help,
                          sgs_metric_type type)
{
    for (size_t i = 0; i < m->n_families; i++) {
        family *f = &m->families[i];
        if (strcmp(f->name, name) != 0)
            continue;
        if (f->type != type || f->collect != NULL) {
            fprintf(stderr, "metrics: %s registered twice with different kinds\n", name);
            abort();
        }
        return f;
    }
    m->families = sgs_xrealloc(m->families, (m->n_families + 1) * sizeof *m->families);
    family *f = &m->families[m->n_families++];
    memset(f, 0, sizeof *f);
    f->name = sgs_xstrdup(name);
    f->help = sgs_xstrdup(help ? help : "");
    f->type = type;
    return f;
}

static series *series_add(sgs_metrics *m, const char *name, const char *help,
                          sgs_metric_type type, const char *labels)
{
    family *f = family_get(m, name, help, type);
    series *s = sgs_xcalloc(1, sizeof *s);
    s->labels = labels && *labels ? sgs_xstrdup(labels) : NULL;
    f->series = sgs_xrealloc(f->series, (f->n_series + 1) * sizeof *f->series);
    f->series[f->n_series++] = s;
    return s;
}

sgs_counter *sgs_metrics_counter(sgs_metrics *m, const char *name, const char *help,
                                 const char *labels)
{
    series *s = series_add(m, name, help, SGS_METRIC_COUNTER, labels);
    atomic_init(&s->u.counter.v, 0);
    return &s->u.counter;
}

sgs_gauge *sgs_metrics_gauge(sgs_metrics *m, const char *name, const char *help,
                             const char *labels)
{
    series *s = series_add(m, name, help, SGS_METRIC_GAUGE, labels);
    atomic_init(&s->u.gauge.v, 0);
    return &s->u.gauge;
}

sgs_histogram *sgs_metrics_histogram(sgs_metrics *m, const char *name, const char *help,
                                     const char *labels, const uint64_t *bounds, size_t n_bounds,
                                     double unit)
{
    series *s = series_add(m, name, help, SGS_METRIC_HISTOGRAM, labels);
    sgs_histogram *h = &s->u.hist;
    h->bounds = sgs_xmalloc((n_bounds ? n_bounds : 1) * sizeof *h->bounds);
    if (n_bounds)
        memcpy(h->bounds, bounds, n_bounds * sizeof *bounds);
    h->n_bounds = n_bounds;
    h->unit = unit;
    h->buckets = sgs_xmalloc((n_bounds + 1) * sizeof *h->buckets);
    for (size_t i = 0; i <= n_bounds; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->sum, 0);
    atomic_init(&h->count, 0);
    return h;
}

void sgs_metrics_collector(sgs_metrics *m, const char *name, const char *help,
                           sgs_metric_type type, sgs_metrics_collect_fn fn, void *ctx)
{
    for (size_t i = 0; i < m->n_families; i++)
        if (strcmp(m->families[i].name, name) == 0) {
            fprintf(stderr, "metrics: collector %s registered twice\n", name);
            abort();
        }
    family *f = family_get(m, name, help, type);
    f->collect = fn;
    f->collect_ctx = ctx;
}

void sgs_counter_add(sgs_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void sgs_counter_inc(sgs_counter *c)
{
    atomic_fetch_add_explicit(&c->v, 1, memory_order_relaxed);
}

uint64_t sgs_counter_get(const sgs_counter *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

void sgs_gauge_set(sgs_gauge *g, int64_t v)
{
    atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

void sgs_gauge_add(sgs_gauge *g, int64_t delta)
{
    atomic_fetch_add_explicit(&g->v, delta, memory_order_relaxed);
}

int64_t sgs_gauge_get(const sgs_gauge *g)
{
    return atomic_load_explicit(&g->v, memory_order_relaxed);
}

void sgs_histogram_observe(sgs_histogram *h, uint64_t v)
{
    size_t lo = 0, hi = h->n_bounds; /* first bound >= v, or n_bounds for +Inf */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

uint64_t sgs_histogram_count(const sgs_histogram *h)
{
    return atomic_load_explicit(&h->count, memory_order_relaxed);
}

const uint64_t *sgs_metrics_latency_bounds_us(size_t *n)
{
    static const uint64_t bounds[] = {50,     100,     250,     500,     1000,    2500,
                                      5000,   10000,   25000,   50000,   100000,  250000,
                                      500000, 1000000, 2500000, 5000000, 10000000};
    *n = sizeof bounds / sizeof bounds[0];
    return bounds;
}

/* HELP text escapes backslash and newline (format 0.0.4). */
static void put_help(sgs_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            sgs_buf_append(out, "\\\\", 2);
        else if (*s == '\n')
            sgs_buf_append(out, "\\n", 2);
        else
            sgs_buf_putc(out, (uint8_t)*s);
    }
}

static void put_name(sgs_buf *out, const char *name, const char *suffix, const char *labels,
                     const char *extra)
{
    sgs_buf_printf(out, "%s%s", name, suffix);
    if (labels || extra) {
        sgs_buf_putc(out, '{');
        if (labels)
            sgs_buf_append(out, labels, strlen(labels));
        if (labels && extra)
            sgs_buf_putc(out, ',');
        if (extra)
            sgs_buf_append(out, extra, strlen(extra));
        sgs_buf_putc(out, '}');
    }
    sgs_buf_putc(out, ' ');
}

static void render_hist(sgs_buf *out, const char *name, const series *s)
{
    const sgs_histogram *h = &s->u.hist;
    uint64_t cumulative = 0;
    char le[64];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->n_bounds)
            snprintf(le, sizeof le, "le=\"%.9g\"", (double)h->bounds[i] * h->unit);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        put_name(out, name, "_bucket", s->labels, le);
        sgs_buf_printf(out, "%llu\n", (unsigned long long)cumulative);
    }
    put_name(out, name, "_sum", s->labels, NULL);
    sgs_buf_printf(out, "%.15g\n",
                   (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * h->unit);
    /* _count equals the +Inf bucket, read once above, so a scrape is consistent. */
    put_name(out, name, "_count", s->labels, NULL);
    sgs_buf_printf(out, "%llu\n", (unsigned long long)cumulative);
}

void sgs_metrics_render(const sgs_metrics *m, sgs_buf *out)
{
    for (size_t i = 0; i < m->n_families; i++) {
        const family *f = &m->families[i];
        sgs_buf_printf(out, "# HELP %s ", f->name);
        put_help(out, f->help);
        sgs_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        if (f->collect) {
            f->collect(f->collect_ctx, out);
            continue;
        }
        for (size_t j = 0; j < f->n_series; j++) {
            const series *s = f->series[j];
            switch (f->type) {
            case SGS_METRIC_COUNTER:
                put_name(out, f->name, "", s->labels, NULL);
                sgs_buf_printf(out, "%llu\n", (unsigned long long)sgs_counter_get(&s->u.counter));
                break;
            case SGS_METRIC_GAUGE:
                put_name(out, f->name, "", s->labels, NULL);
                sgs_buf_printf(out, "%lld\n", (long long)sgs_gauge_get(&s->u.gauge));
                break;
            case SGS_METRIC_HISTOGRAM:
                render_hist(out, f->name, s);
                break;
            }
        }
    }
}
