/* Prometheus metrics: a registry of counters, gauges and histograms rendered
 * in the text exposition format 0.0.4.
 *
 * A metric family is a name with HELP and TYPE; each registration adds one
 * series to its family, told apart by a fixed label string such as
 * `status="ok"` (or NULL for none). Registration happens at start-up from one
 * thread; the registry owns every series and hands out stable pointers.
 * Updates on the hot path are relaxed atomics, never locks, and may run on
 * any thread, as may rendering (which reads each value once; a scrape sees
 * every update that happened before it, and maybe some racing ones).
 * The registry is passed down explicitly: there is no global one.
 *
 * Histograms take integer observations in a unit the caller picks (say µs)
 * against upper bounds in that unit, and render `le` and `_sum` scaled into
 * the Prometheus base unit (seconds) by the `unit` factor given. */
#ifndef SGS_COMMON_METRICS_H
#define SGS_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct sgs_metrics sgs_metrics;
typedef struct sgs_counter sgs_counter;
typedef struct sgs_gauge sgs_gauge;
typedef struct sgs_histogram sgs_histogram;

typedef enum sgs_metric_type {
    SGS_METRIC_COUNTER = 0,
    SGS_METRIC_GAUGE = 1,
    SGS_METRIC_HISTOGRAM = 2,
} sgs_metric_type;

/* Appends sample lines (`name{labels} value\n`) for a collector family. */
typedef void (*sgs_metrics_collect_fn)(void *ctx, sgs_buf *out);

/* A new empty registry. Free with sgs_metrics_free(). */
sgs_metrics *sgs_metrics_new(void);

/* Frees the registry and every series it handed out; NULL is a no-op. */
void sgs_metrics_free(sgs_metrics *m);

/* Registers a counter series (name should end in _total). Same name again
 * joins the family (help of the first registration wins); a name already
 * used with another type aborts, as that is a programming error. labels are
 * copied; the result is owned by the registry. */
sgs_counter *sgs_metrics_counter(sgs_metrics *m, const char *name, const char *help,
                                 const char *labels);

/* Registers a gauge series, as sgs_metrics_counter(). */
sgs_gauge *sgs_metrics_gauge(sgs_metrics *m, const char *name, const char *help,
                             const char *labels);

/* Registers a histogram series with n_bounds increasing upper bounds (copied;
 * +Inf is implicit), in the unit of its observations; unit converts that unit
 * to the rendered one (1e-6 for µs rendered as seconds). */
sgs_histogram *sgs_metrics_histogram(sgs_metrics *m, const char *name, const char *help,
                                     const char *labels, const uint64_t *bounds, size_t n_bounds,
                                     double unit);

/* Registers a family whose samples fn appends at render time (for values
 * with changing labels, like generation info). fn and ctx are borrowed and
 * must outlive the registry's renders. */
void sgs_metrics_collector(sgs_metrics *m, const char *name, const char *help,
                           sgs_metric_type type, sgs_metrics_collect_fn fn, void *ctx);

/* Adds n (or 1) to a counter; any thread. */
void sgs_counter_add(sgs_counter *c, uint64_t n);
void sgs_counter_inc(sgs_counter *c);

/* The counter's value. */
uint64_t sgs_counter_get(const sgs_counter *c);

/* Sets, adds to (delta may be negative) and reads a gauge; any thread. */
void sgs_gauge_set(sgs_gauge *g, int64_t v);
void sgs_gauge_add(sgs_gauge *g, int64_t delta);
int64_t sgs_gauge_get(const sgs_gauge *g);

/* Records one observation; any thread. */
void sgs_histogram_observe(sgs_histogram *h, uint64_t v);

/* Observations recorded so far. */
uint64_t sgs_histogram_count(const sgs_histogram *h);

/* Latency bounds in µs from 50 µs to 10 s, for sgs_metrics_histogram with
 * unit 1e-6; *n receives their number. */
const uint64_t *sgs_metrics_latency_bounds_us(size_t *n);

/* Appends every family in registration order in text format 0.0.4: HELP and
 * TYPE lines, then its series (histograms as cumulative _bucket{le=...},
 * _sum and _count). Content type: SGS_METRICS_CONTENT_TYPE. */
void sgs_metrics_render(const sgs_metrics *m, sgs_buf *out);

#define SGS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
