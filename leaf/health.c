/* The leaf's operational endpoints (liveness, readiness, info, metrics,
 * admin reload) and its metrics registry. */
#include "leaf/leaf.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

static void collect_generation(void *ctx, sgs_buf *out)
{
    leaf *l = ctx;
    sgs_buf_printf(out, "sgs_leaf_generation_info{generation=\"%016llx\"} 1\n",
                   (unsigned long long)atomic_load(&l->generation_now));
}

static void collect_ready(void *ctx, sgs_buf *out)
{
    leaf *l = ctx;
    sgs_buf_printf(out, "sgs_leaf_ready %d\n", atomic_load(&l->draining) ? 0 : 1);
}

void leaf_metrics_init(leaf *l)
{
    leaf_metrics *m = &l->metrics;
    m->registry = sgs_metrics_new();
    const char *q = "Shard queries answered, by outcome.";
    m->queries_ok = sgs_metrics_counter(m->registry, "sgs_leaf_queries_total", q, "status=\"ok\"");
    m->queries_bad_request =
        sgs_metrics_counter(m->registry, "sgs_leaf_queries_total", q, "status=\"bad_request\"");
    m->queries_timeout =
        sgs_metrics_counter(m->registry, "sgs_leaf_queries_total", q, "status=\"timeout\"");
    m->queries_error =
        sgs_metrics_counter(m->registry, "sgs_leaf_queries_total", q, "status=\"error\"");
    size_t n;
    const uint64_t *bounds = sgs_metrics_latency_bounds_us(&n);
    m->query_seconds = sgs_metrics_histogram(
        m->registry, "sgs_leaf_query_duration_seconds",
        "Shard query time from receipt to encoded answer.", NULL, bounds, n, 1e-6);
    m->inflight = sgs_metrics_gauge(m->registry, "sgs_leaf_queries_in_flight",
                                    "Shard queries being evaluated now.", NULL);
    m->reloads = sgs_metrics_counter(m->registry, "sgs_leaf_reloads_total",
                                     "Index reloads that swapped in a generation.", NULL);
    m->reload_failures =
        sgs_metrics_counter(m->registry, "sgs_leaf_reload_failures_total",
                            "Index reloads that failed; the old generation kept serving.", NULL);
    m->docs = sgs_metrics_gauge(m->registry, "sgs_leaf_docs", "Documents in the served shard.",
                                NULL);
    sgs_metrics_collector(m->registry, "sgs_leaf_generation_info",
                          "The index generation being served (as a label).", SGS_METRIC_GAUGE,
                          collect_generation, l);
    sgs_metrics_collector(m->registry, "sgs_leaf_ready", "1 when ready, 0 while draining.",
                          SGS_METRIC_GAUGE, collect_ready, l);
}

void leaf_metrics_fini(leaf *l)
{
    sgs_metrics_free(l->metrics.registry);
    l->metrics.registry = NULL;
}

bool leaf_error_log_allowed(leaf *l)
{
    uint64_t now = sgs_now_ns();
    uint64_t last = atomic_load_explicit(&l->last_error_log_ns, memory_order_relaxed);
    if (last != 0 && now - last < 1000000000u)
        return false;
    return atomic_compare_exchange_strong(&l->last_error_log_ns, &last, now);
}

sgs_http_result leaf_healthz_handler(void *leaf_ptr, sgs_http_request *req)
{
    (void)leaf_ptr;
    sgs_http_reply(req, 200, "application/json");
    sgs_buf_printf(sgs_http_reply_body(req), "{\"ok\":true}");
    return SGS_HTTP_DONE;
}

sgs_http_result leaf_readyz_handler(void *leaf_ptr, sgs_http_request *req)
{
    leaf *l = leaf_ptr;
    leaf_thread *t = sgs_http_thread_state(req);
    sgs_buf *out = sgs_http_reply_body(req);
    if (atomic_load(&l->draining)) {
        sgs_http_reply(req, 503, "application/json");
        sgs_buf_printf(out, "{\"ready\":false,\"reason\":\"draining\",\"error\":{\"type\":\"%s\","
                            "\"reason\":\"the leaf is shutting down\"}}",
                       sgs_err_type(SGS_EDRAINING));
        return SGS_HTTP_DONE;
    }
    ck_epoch_section_t section;
    const leaf_gen *g = leaf_gen_enter(l, t, &section);
    sgs_http_reply(req, 200, "application/json");
    sgs_buf_printf(out, "{\"ready\":true,\"shard\":%u,\"generation\":\"%s\"}", g->shard_id,
                   g->generation_hex);
    leaf_gen_leave(t, &section, g);
    return SGS_HTTP_DONE;
}

static void put_json_string(sgs_buf *out, const char *s)
{
    sgs_buf_putc(out, '"');
    sgs_buf_json_escape(out, s, strlen(s));
    sgs_buf_putc(out, '"');
}

sgs_http_result leaf_info_handler(void *leaf_ptr, sgs_http_request *req)
{
    leaf *l = leaf_ptr;
    leaf_thread *t = sgs_http_thread_state(req);
    char last_error[SGS_ERR_MSG_MAX];
    leaf_last_reload_error(l, last_error, sizeof last_error);
    bool draining = atomic_load(&l->draining);
    sgs_buf *out = sgs_http_reply_body(req);
    sgs_http_reply(req, 200, "application/json");
    ck_epoch_section_t section;
    const leaf_gen *g = leaf_gen_enter(l, t, &section);
    sgs_buf_printf(out,
                   "{\"shard\":%u,\"shard_count\":%u,\"generation\":\"%s\",\"n_docs\":%llu,"
                   "\"corpus_n_docs\":%llu,\"ready\":%s,\"draining\":%s,\"protocol\":%d,"
                   "\"version\":\"%s\",\"path\":",
                   g->shard_id, g->shard_count, g->generation_hex,
                   (unsigned long long)g->n_docs, (unsigned long long)g->corpus_n_docs,
                   draining ? "false" : "true", draining ? "true" : "false", LEAF_PROTOCOL,
                   LEAF_VERSION);
    put_json_string(out, sgs_shard_path(g->shard));
    sgs_buf_printf(out, ",\"stored_fields\":%s", g->stored_fields_json);
    leaf_gen_leave(t, &section, g);
    sgs_buf_printf(out, ",\"reloads\":%llu,\"reload_failures\":%llu,\"last_reload_error\":",
                   (unsigned long long)atomic_load(&l->reloads),
                   (unsigned long long)atomic_load(&l->reload_failures));
    if (last_error[0])
        put_json_string(out, last_error);
    else
        sgs_buf_printf(out, "null");
    sgs_buf_putc(out, '}');
    return SGS_HTTP_DONE;
}

sgs_http_result leaf_metrics_handler(void *leaf_ptr, sgs_http_request *req)
{
    leaf *l = leaf_ptr;
    sgs_http_reply(req, 200, SGS_METRICS_CONTENT_TYPE);
    sgs_metrics_render(l->metrics.registry, sgs_http_reply_body(req));
    return SGS_HTTP_DONE;
}

sgs_http_result leaf_reload_handler(void *leaf_ptr, sgs_http_request *req)
{
    /* Answered by the reloader thread: a slow reload holds no worker. */
    leaf_reload_ask(leaf_ptr, req);
    return SGS_HTTP_PENDING;
}
