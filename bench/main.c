/* sgs-bench: an open-loop HTTP load generator for sgsearch, and its report.
 *
 * Reads a query file, prepares every request's bytes once, runs
 * --threads workers (bench/worker.c) that share nothing, merges their
 * histograms and counters, and prints a text report (and JSON with --json).
 * In open-loop mode latency counts from each request's intended send time,
 * so a server stall shows in full however long it lasts; the latency from
 * the actual send is reported beside it. The report also says whether the
 * generator kept its schedule (CPU of each worker, lag of sends behind
 * their intended times, waits for a free connection): a saturated
 * generator measures itself, not the server.
 *
 * Exit status: 0 the run completed (whatever the server answered), 1 the
 * run could not start (query file, address, threads), 2 a usage error. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/mem.h"

#define BENCH_VERSION "0.1.0"
#define MAX_QUERY_BYTES (1u << 20)
#define MAX_QUERIES 10000000u

typedef struct options {
    char *url, *queries, *arrival, *json, *raw, *path, *label;
    double rate, duration_s, warmup_s;
    int64_t connections, max_connections, timeout_ms, threads, late_ms, k, seed;
    bool quiet;
} options;

static const char synopsis[] =
    "usage: sgs-bench --url http://HOST:PORT --queries FILE (--rate R [--arrival constant|poisson]\n"
    "                 | --connections C) --duration S [--warmup S] [--json OUT] [flags]\n"
    "Sends the queries of FILE (one a line: a query string, sent as GET PATH?q=...&k=K;\n"
    "a JSON object, POSTed as the body; or class<TAB>query) and reports latency\n"
    "percentiles. --rate: open loop, requests leave at their intended times whatever the\n"
    "server does, latency counted from the intended time. --connections: closed loop,\n"
    "each connection sends its next request when the previous answer arrives.\n"
    "Exit status: 0 ran, 1 could not start, 2 usage error.";

/* ---- configuration ---------------------------------------------------- */

static int parse_url(const char *url, char **host, char **port, char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *h_end, *p;
    if (*h == '[') {
        h_end = strchr(h, ']');
        if (!h_end)
            return -1;
        *host = sgs_xstrndup(h + 1, (size_t)(h_end - h - 1));
        p = h_end + 1;
    } else {
        h_end = h + strcspn(h, ":/");
        *host = sgs_xstrndup(h, (size_t)(h_end - h));
        p = h_end;
    }
    if (**host == '\0')
        goto fail;
    if (*p == ':') {
        const char *pe = p + 1 + strcspn(p + 1, "/");
        if (pe == p + 1)
            goto fail;
        *port = sgs_xstrndup(p + 1, (size_t)(pe - p - 1));
        p = pe;
    } else {
        *port = sgs_xstrdup("80");
    }
    *path = *p ? sgs_xstrdup(p) : NULL;
    return 0;
fail:
    free(*host);
    *host = NULL;
    return -1;
}

static void url_encode(sgs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            sgs_buf_putc(b, c);
        } else {
            sgs_buf_putc(b, '%');
            sgs_buf_putc(b, (uint8_t)hex[c >> 4]);
            sgs_buf_putc(b, (uint8_t)hex[c & 15]);
        }
    }
}

static uint32_t class_index(bench_config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->n_classes; i++)
        if (strlen(cfg->classes[i]) == len && !memcmp(cfg->classes[i], name, len))
            return (uint32_t)i;
    if (cfg->n_classes == BENCH_MAX_CLASSES - 1) {
        /* The last slot collects every class past the cap. */
        cfg->classes[cfg->n_classes++] = "other";
    }
    if (cfg->n_classes == BENCH_MAX_CLASSES)
        return BENCH_MAX_CLASSES - 1;
    cfg->classes[cfg->n_classes] = sgs_xstrndup(name, len);
    return (uint32_t)cfg->n_classes++;
}

/* Reads FILE and prepares one request per non-empty line. */
static int load_queries(bench_config *cfg, const options *o, const char *host_hdr,
                        const char *path)
{
    FILE *f = fopen(o->queries, "r");
    if (!f) {
        fprintf(stderr, "sgs-bench: --queries %s: %s\n", o->queries, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, cap_req = 0, lineno = 0;
    ssize_t n;
    sgs_buf b;
    sgs_buf_init(&b);
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if ((size_t)n > MAX_QUERY_BYTES || cfg->n_requests == MAX_QUERIES) {
            fprintf(stderr, "sgs-bench: %s:%zu: line over %u bytes or more than %u queries\n",
                    o->queries, lineno, MAX_QUERY_BYTES, MAX_QUERIES);
            rc = -1;
            break;
        }
        const char *q = line, *cls = "all";
        size_t cls_len = 3;
        char *tab = line[0] != '{' ? strchr(line, '\t') : NULL;
        if (tab) {
            cls = line;
            cls_len = (size_t)(tab - line);
            q = tab + 1;
        }
        size_t qlen = strlen(q);
        if (qlen == 0)
            continue;
        sgs_buf_reset(&b);
        if (q[0] == '{') {
            sgs_buf_printf(&b,
                           "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sgs-bench\r\n"
                           "Accept: application/json\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n",
                           path, host_hdr, qlen);
            sgs_buf_append(&b, q, qlen);
        } else {
            sgs_buf_printf(&b, "GET %s%cq=", path, strchr(path, '?') ? '&' : '?');
            url_encode(&b, q, qlen);
            sgs_buf_printf(&b,
                           "&k=%lld HTTP/1.1\r\nHost: %s\r\nUser-Agent: sgs-bench\r\n"
                           "Accept: application/json\r\n\r\n",
                           (long long)o->k, host_hdr);
        }
        if (cfg->n_requests == cap_req) {
            cap_req = cap_req ? cap_req * 2 : 256;
            cfg->requests = sgs_xrealloc(cfg->requests, cap_req * sizeof *cfg->requests);
        }
        bench_request *r = &cfg->requests[cfg->n_requests++];
        r->bytes = sgs_xstrndup((const char *)b.data, b.len);
        r->len = b.len;
        r->cls = class_index(cfg, cls, cls_len);
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "sgs-bench: reading %s: %s\n", o->queries, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && cfg->n_requests == 0) {
        fprintf(stderr, "sgs-bench: %s holds no query\n", o->queries);
        rc = -1;
    }
    free(line);
    sgs_buf_fini(&b);
    fclose(f);
    return rc;
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "sgs-bench: %s (see --help)\n", msg);
    return 2;
}

/* Checks the flags against each other; returns 0 or the exit status 2. */
static int validate(const options *o)
{
    if (!o->url)
        return usage_error("--url is required");
    if (!o->queries)
        return usage_error("--queries is required");
    if ((o->rate > 0) == (o->connections > 0))
        return usage_error("give exactly one of --rate (open loop) or --connections (closed loop)");
    if (o->rate < 0 || !isfinite(o->rate) || o->rate > 10e6)
        return usage_error("--rate must be a number of requests per second in (0, 1e7]");
    if (!(o->duration_s > 0) || o->duration_s > 86400)
        return usage_error("--duration must be seconds in (0, 86400]");
    if (!(o->warmup_s >= 0) || o->warmup_s > 86400)
        return usage_error("--warmup must be seconds in [0, 86400]");
    if (strcmp(o->arrival, "constant") && strcmp(o->arrival, "poisson"))
        return usage_error("--arrival must be constant or poisson");
    if (o->path && o->path[0] != '/')
        return usage_error("--path must start with '/'");
    return 0;
}

/* ---- report ------------------------------------------------------------ */

static const char *const err_names[BENCH_ERR_N] = {"connect", "timeout", "io", "protocol"};

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static void json_latency(sgs_buf *b, const sgs_hist *h)
{
    sgs_buf_printf(b,
                   "{\"count\":%llu,\"min\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
                   "\"p999\":%.3f,\"p9999\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
                   (unsigned long long)sgs_hist_count(h), ms(sgs_hist_min(h)),
                   ms(sgs_hist_quantile(h, 0.5)), ms(sgs_hist_quantile(h, 0.9)),
                   ms(sgs_hist_quantile(h, 0.99)), ms(sgs_hist_quantile(h, 0.999)),
                   ms(sgs_hist_quantile(h, 0.9999)), ms(sgs_hist_max(h)), sgs_hist_mean(h) / 1000.0);
}

static const double spectrum_q[] = {0,      0.1,    0.2,     0.3,     0.4,      0.5,   0.6,
                                    0.7,    0.75,   0.8,     0.85,    0.9,      0.925, 0.95,
                                    0.975,  0.99,   0.9925,  0.995,   0.9975,   0.999, 0.99925,
                                    0.9995, 0.9999, 0.99999, 1.0};
#define N_SPECTRUM (sizeof spectrum_q / sizeof spectrum_q[0])

static void text_latency(FILE *out, const char *what, const sgs_hist *h)
{
    fprintf(out,
            "  %-26s p50 %9.3f  p90 %9.3f  p99 %9.3f  p99.9 %9.3f  max %9.3f  mean %9.3f ms\n",
            what, ms(sgs_hist_quantile(h, 0.5)), ms(sgs_hist_quantile(h, 0.9)),
            ms(sgs_hist_quantile(h, 0.99)), ms(sgs_hist_quantile(h, 0.999)), ms(sgs_hist_max(h)),
            sgs_hist_mean(h) / 1000.0);
}

typedef struct totals {
    bench_result r;       /* merged counters and histograms */
    double max_cpu_pct;
    uint64_t answered, errors;
    bool saturated, sat_cpu, sat_lag, sat_pool;
} totals;

static void merge(totals *t, const bench_config *cfg, bench_result *res, size_t n)
{
    bench_result *m = &t->r;
    for (size_t i = 0; i < n; i++) {
        bench_result *r = &res[i];
        sgs_hist_merge(m->latency, r->latency);
        sgs_hist_merge(m->service, r->service);
        sgs_hist_merge(m->send_lag, r->send_lag);
        sgs_hist_merge(m->loop_lag, r->loop_lag);
        for (size_t c = 0; c < cfg->n_classes; c++)
            sgs_hist_merge(m->class_latency[c], r->class_latency[c]);
        m->scheduled += r->scheduled;
        m->sent += r->sent;
        m->sent_total += r->sent_total;
        m->ok += r->ok;
        m->late_sends += r->late_sends;
        m->pool_waits += r->pool_waits;
        m->conn_waits += r->conn_waits;
        for (int e = 0; e < BENCH_ERR_N; e++)
            m->errors[e] += r->errors[e];
        for (int s = 0; s < BENCH_MAX_STATUS; s++)
            m->status[s] += r->status[s];
        m->partial += r->partial;
        m->shard_details += r->shard_details;
        m->hedged += r->hedged;
        m->hedge_won += r->hedge_won;
        m->retried += r->retried;
        m->connects += r->connects;
        m->peak_connections += r->peak_connections;
        m->unsent += r->unsent;
        double pct = r->wall_s > 0 ? 100.0 * r->cpu_s / r->wall_s : 0;
        if (pct > t->max_cpu_pct)
            t->max_cpu_pct = pct;
    }
    for (int s = 0; s < BENCH_MAX_STATUS; s++) {
        t->answered += m->status[s];
        if (s < 200 || s >= 300)
            t->errors += m->status[s];
    }
    for (int e = 0; e < BENCH_ERR_N; e++)
        t->errors += m->errors[e];
    t->errors += m->unsent;
    if (cfg->connections > 0)
        m->scheduled = m->sent; /* closed loop: a request exists once it is sent */
    t->sat_cpu = t->max_cpu_pct >= 90.0;
    t->sat_lag = cfg->rate > 0 &&
                 sgs_hist_quantile(m->loop_lag, 0.99) > (uint64_t)cfg->late_ms * 1000u;
    t->sat_pool = m->pool_waits > 0;
    t->saturated = t->sat_cpu || t->sat_lag || t->sat_pool;
}

static double per(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

static void write_json(sgs_buf *b, const totals *t, const bench_config *cfg, const options *o,
                       const char *cmdline)
{
    const bench_result *m = &t->r;
    sgs_buf_printf(b, "{\"command\":\"");
    sgs_buf_json_escape(b, cmdline, strlen(cmdline));
    sgs_buf_printf(b, "\",\"label\":\"");
    sgs_buf_json_escape(b, o->label ? o->label : "", o->label ? strlen(o->label) : 0);
    sgs_buf_printf(b, "\",\"url\":\"");
    sgs_buf_json_escape(b, o->url, strlen(o->url));
    sgs_buf_printf(b, "\",\"mode\":\"%s\",", cfg->rate > 0 ? "open" : "closed");
    if (cfg->rate > 0)
        sgs_buf_printf(b, "\"arrival\":\"%s\",\"target_rate\":%.3f,\"max_connections\":%lld,",
                       o->arrival, cfg->rate, (long long)cfg->max_connections);
    else
        sgs_buf_printf(b, "\"target_rate\":null,\"connections\":%lld,",
                       (long long)cfg->connections);
    sgs_buf_printf(b,
                   "\"achieved_rate\":%.3f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"threads\":%lld,"
                   "\"timeout_ms\":%lld,\"queries\":%zu,",
                   (double)t->answered / cfg->duration_s, cfg->duration_s, cfg->warmup_s,
                   (long long)cfg->threads, (long long)cfg->timeout_ms, cfg->n_requests);
    sgs_buf_printf(b,
                   "\"requests\":%llu,\"sent\":%llu,\"sent_total\":%llu,\"answered\":%llu,\"ok\":%llu,\"errors\":%llu,"
                   "\"errors_by_class\":{",
                   (unsigned long long)m->scheduled, (unsigned long long)m->sent,
                   (unsigned long long)m->sent_total, (unsigned long long)t->answered,
                   (unsigned long long)m->ok, (unsigned long long)t->errors);
    const char *sep = "";
    for (int e = 0; e < BENCH_ERR_N; e++) {
        sgs_buf_printf(b, "%s\"%s\":%llu", sep, err_names[e], (unsigned long long)m->errors[e]);
        sep = ",";
    }
    sgs_buf_printf(b, ",\"unsent\":%llu", (unsigned long long)m->unsent);
    for (int s = 0; s < BENCH_MAX_STATUS; s++)
        if (m->status[s] && (s < 200 || s >= 300))
            sgs_buf_printf(b, ",\"http_%d\":%llu", s, (unsigned long long)m->status[s]);
    sgs_buf_printf(b, "},\"status\":{");
    sep = "";
    for (int s = 0; s < BENCH_MAX_STATUS; s++)
        if (m->status[s]) {
            sgs_buf_printf(b, "%s\"%d\":%llu", sep, s, (unsigned long long)m->status[s]);
            sep = ",";
        }
    sgs_buf_printf(b, "},\"latency_ms\":");
    json_latency(b, m->latency);
    sgs_buf_printf(b, ",\"latency_from\":\"%s\",\"service_latency_ms\":",
                   cfg->rate > 0 ? "intended_send" : "send");
    json_latency(b, m->service);
    if (cfg->rate > 0) {
        sgs_buf_printf(b, ",\"send_lag_ms\":");
        json_latency(b, m->send_lag);
        sgs_buf_printf(b, ",\"loop_lag_ms\":");
        json_latency(b, m->loop_lag);
    }
    sgs_buf_printf(b,
                   ",\"late_ms\":%lld,\"late_sends\":%llu,\"pool_waits\":%llu,"
                   "\"connection_waits\":%llu,\"connects\":%llu,\"peak_connections\":%llu,",
                   (long long)cfg->late_ms, (unsigned long long)m->late_sends,
                   (unsigned long long)m->pool_waits, (unsigned long long)m->conn_waits,
                   (unsigned long long)m->connects,
                   (unsigned long long)m->peak_connections);
    sgs_buf_printf(b,
                   "\"partial\":%llu,\"partial_rate\":%.6f,\"shard_requests\":%llu,"
                   "\"hedged\":%llu,\"hedge_rate\":%.6f,\"hedge_won\":%llu,\"retried\":%llu,"
                   "\"retry_rate\":%.6f,",
                   (unsigned long long)m->partial, per(m->partial, m->ok),
                   (unsigned long long)m->shard_details, (unsigned long long)m->hedged,
                   per(m->hedged, m->shard_details), (unsigned long long)m->hedge_won,
                   (unsigned long long)m->retried, per(m->retried, m->shard_details));
    sgs_buf_printf(b, "\"generator\":{\"max_cpu_pct\":%.1f,\"saturated\":%s,\"reasons\":[",
                   t->max_cpu_pct, t->saturated ? "true" : "false");
    sep = "";
    if (t->sat_cpu)
        sgs_buf_printf(b, "\"cpu\""), sep = ",";
    if (t->sat_lag)
        sgs_buf_printf(b, "%s\"loop_lag\"", sep), sep = ",";
    if (t->sat_pool)
        sgs_buf_printf(b, "%s\"pool_cap\"", sep);
    sgs_buf_printf(b, "]},\"spectrum\":[");
    for (size_t i = 0; i < N_SPECTRUM; i++)
        sgs_buf_printf(b, "%s{\"q\":%g,\"ms\":%.3f}", i ? "," : "", spectrum_q[i],
                       ms(sgs_hist_quantile(m->latency, spectrum_q[i])));
    sgs_buf_printf(b, "],\"histogram_us\":[");
    sgs_hist_bucket bk = {0};
    sep = "";
    while (sgs_hist_next(m->latency, &bk)) {
        sgs_buf_printf(b, "%s[%llu,%llu,%llu]", sep, (unsigned long long)bk.lo,
                       (unsigned long long)bk.hi, (unsigned long long)bk.count);
        sep = ",";
    }
    sgs_buf_printf(b, "],\"classes\":{");
    for (size_t c = 0; c < cfg->n_classes; c++) {
        sgs_buf_printf(b, "%s\"", c ? "," : "");
        sgs_buf_json_escape(b, cfg->classes[c], strlen(cfg->classes[c]));
        sgs_buf_printf(b, "\":");
        json_latency(b, m->class_latency[c]);
    }
    sgs_buf_printf(b, "}}\n");
}

static void write_text(FILE *out, const totals *t, const bench_config *cfg, const options *o)
{
    const bench_result *m = &t->r;
    if (cfg->rate > 0)
        fprintf(out, "sgs-bench: open loop, %.1f req/s %s, %.1f s (+%.1f s warm-up), %lld thread(s), %s\n",
                cfg->rate, o->arrival, cfg->duration_s, cfg->warmup_s, (long long)cfg->threads,
                o->url);
    else
        fprintf(out, "sgs-bench: closed loop, %lld connections, %.1f s (+%.1f s warm-up), %lld thread(s), %s\n",
                (long long)cfg->connections, cfg->duration_s, cfg->warmup_s,
                (long long)cfg->threads, o->url);
    fprintf(out, "  requests %llu  sent %llu  answered %llu  ok %llu  errors %llu  achieved %.1f req/s\n",
            (unsigned long long)m->scheduled, (unsigned long long)m->sent,
            (unsigned long long)t->answered, (unsigned long long)m->ok,
            (unsigned long long)t->errors, (double)t->answered / cfg->duration_s);
    if (cfg->rate > 0) {
        text_latency(out, "latency (intended send)", m->latency);
        text_latency(out, "latency (actual send)", m->service);
        text_latency(out, "send lag", m->send_lag);
        text_latency(out, "loop lag", m->loop_lag);
        fprintf(out,
                "  late sends (> %lld ms) %llu  waited for a connection %llu (at the cap %llu)"
                "  peak connections %llu\n",
                (long long)cfg->late_ms, (unsigned long long)m->late_sends,
                (unsigned long long)m->conn_waits, (unsigned long long)m->pool_waits,
                (unsigned long long)m->peak_connections);
    } else {
        text_latency(out, "latency", m->latency);
    }
    if (t->errors) {
        fprintf(out, "  errors:");
        for (int e = 0; e < BENCH_ERR_N; e++)
            if (m->errors[e])
                fprintf(out, " %s %llu", err_names[e], (unsigned long long)m->errors[e]);
        if (m->unsent)
            fprintf(out, " unsent %llu", (unsigned long long)m->unsent);
        for (int s = 0; s < BENCH_MAX_STATUS; s++)
            if (m->status[s] && (s < 200 || s >= 300))
                fprintf(out, " http_%d %llu", s, (unsigned long long)m->status[s]);
        fprintf(out, "\n");
    }
    fprintf(out, "  partial answers %llu (%.2f %%)  hedged shard requests %llu of %llu (%.2f %%), won %llu  retried %llu\n",
            (unsigned long long)m->partial, 100 * per(m->partial, m->ok),
            (unsigned long long)m->hedged, (unsigned long long)m->shard_details,
            100 * per(m->hedged, m->shard_details), (unsigned long long)m->hedge_won,
            (unsigned long long)m->retried);
    if (cfg->n_classes > 1)
        for (size_t c = 0; c < cfg->n_classes; c++)
            text_latency(out, cfg->classes[c], m->class_latency[c]);
    fprintf(out, "  generator: max worker CPU %.0f %%, %s%s%s%s\n", t->max_cpu_pct,
            t->saturated ? "SATURATED:" : "kept its schedule", t->sat_cpu ? " cpu" : "",
            t->sat_lag ? " loop-lag" : "", t->sat_pool ? " connection-pool-cap" : "");
    fprintf(out, "  percentile spectrum (ms):");
    for (size_t i = 0; i < N_SPECTRUM; i++)
        fprintf(out, "%s%g:%.3f", i % 6 ? "  " : "\n    ", spectrum_q[i] * 100,
                ms(sgs_hist_quantile(m->latency, spectrum_q[i])));
    fprintf(out, "\n");
}

static int write_raw(const char *path, const bench_result *res, size_t n, const bench_config *cfg)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sgs-bench: --raw %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# intended_ms latency_us service_us status class\n");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < res[i].n_samples; j++) {
            const bench_sample *s = &res[i].samples[j];
            fprintf(f, "%.3f %u %u %u %s\n", (double)s->intended_ns / 1e6, s->latency_us,
                    s->service_us, s->status, cfg->classes[s->cls]);
        }
    int rc = fclose(f) == 0 ? 0 : -1;
    if (rc)
        fprintf(stderr, "sgs-bench: writing %s: %s\n", path, strerror(errno));
    return rc;
}

/* ---- threads ------------------------------------------------------------ */

typedef struct thread_arg {
    const bench_config *cfg;
    int index;
    uint64_t start_ns;
    bench_result *res;
    int rc;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    a->rc = bench_worker_run(a->cfg, a->index, a->start_ns, a->res);
    return NULL;
}

static void result_init(bench_result *r, size_t n_classes)
{
    memset(r, 0, sizeof *r);
    r->latency = sgs_hist_new();
    r->service = sgs_hist_new();
    r->send_lag = sgs_hist_new();
    r->loop_lag = sgs_hist_new();
    for (size_t c = 0; c < n_classes; c++)
        r->class_latency[c] = sgs_hist_new();
}

static void result_fini(bench_result *r, size_t n_classes)
{
    sgs_hist_free(r->latency);
    sgs_hist_free(r->service);
    sgs_hist_free(r->send_lag);
    sgs_hist_free(r->loop_lag);
    for (size_t c = 0; c < n_classes; c++)
        sgs_hist_free(r->class_latency[c]);
    free(r->samples);
}

int main(int argc, char **argv)
{
    sgs_log_init("sgs-bench", SGS_LOG_WARN);
    options o = {0};
    sgs_flag flags[] = {
        {"url", "SGS_BENCH_URL", SGS_FLAG_STR, NULL, "server to load: http://HOST:PORT[/PATH]",
         &o.url, 0, 0},
        {"queries", "SGS_BENCH_QUERIES", SGS_FLAG_STR, NULL,
         "query file: one query string, JSON body or class<TAB>query a line", &o.queries, 0, 0},
        {"rate", "SGS_BENCH_RATE", SGS_FLAG_DOUBLE, "0",
         "open loop: requests per second (intended send times fixed in advance)", &o.rate, 0, 0},
        {"arrival", "SGS_BENCH_ARRIVAL", SGS_FLAG_STR, "constant",
         "open-loop arrivals: constant spacing or poisson", &o.arrival, 0, 0},
        {"connections", "SGS_BENCH_CONNECTIONS", SGS_FLAG_INT, "0",
         "closed loop: connections, each sending on the previous answer", &o.connections, 0,
         100000},
        {"max-connections", "SGS_BENCH_MAX_CONNECTIONS", SGS_FLAG_INT, "0",
         "open-loop connection pool cap (0: rate x timeout, within the fd limit)",
         &o.max_connections, 0, 1000000},
        {"duration", "SGS_BENCH_DURATION", SGS_FLAG_DOUBLE, "10", "measured seconds",
         &o.duration_s, 0, 0},
        {"warmup", "SGS_BENCH_WARMUP", SGS_FLAG_DOUBLE, "0",
         "seconds of load before the measured window (not counted)", &o.warmup_s, 0, 0},
        {"json", "SGS_BENCH_JSON", SGS_FLAG_STR, NULL, "also write the report as JSON to this file",
         &o.json, 0, 0},
        {"raw", "SGS_BENCH_RAW", SGS_FLAG_STR, NULL,
         "write every measured request (intended time, latencies, status) to this file", &o.raw,
         0, 0},
        {"path", "SGS_BENCH_PATH", SGS_FLAG_STR, NULL,
         "request path (default: the URL's, else /search); may carry a query string", &o.path, 0,
         0},
        {"k", "SGS_BENCH_K", SGS_FLAG_INT, "10", "k sent with plain query strings", &o.k, 0,
         100000},
        {"timeout-ms", "SGS_BENCH_TIMEOUT_MS", SGS_FLAG_INT, "5000",
         "a request without an answer this long after it was assigned counts as a timeout",
         &o.timeout_ms, 1, 3600000},
        {"threads", "SGS_BENCH_THREADS", SGS_FLAG_INT, "1", "worker threads, one epoll loop each",
         &o.threads, 1, 256},
        {"late-ms", "SGS_BENCH_LATE_MS", SGS_FLAG_INT, "5",
         "a send this far behind its intended time counts as late", &o.late_ms, 0, 3600000},
        {"seed", "SGS_BENCH_SEED", SGS_FLAG_INT, "1", "seed of the Poisson arrivals", &o.seed, 0,
         0},
        {"label", "SGS_BENCH_LABEL", SGS_FLAG_STR, NULL, "a name stored in the JSON report",
         &o.label, 0, 0},
        {"quiet", "SGS_BENCH_QUIET", SGS_FLAG_BOOL, "false", "no text report on stdout", &o.quiet,
         0, 0},
    };
    size_t n_flags = sizeof flags / sizeof flags[0];
    const char *pos[1];
    size_t n_pos;
    int st = sgs_flags_cli(flags, n_flags, argc, argv, "sgs-bench", synopsis, BENCH_VERSION, pos,
                           0, &n_pos);
    if (st >= 0)
        return st;
    if ((st = validate(&o)) != 0)
        return st;

    char *host = NULL, *port = NULL, *url_path = NULL;
    if (parse_url(o.url, &host, &port, &url_path) < 0)
        return usage_error("--url must look like http://HOST:PORT");
    const char *path = o.path ? o.path : url_path ? url_path : "/search";

    bench_config cfg = {0};
    int exit_status = 1;
    bench_result *res = NULL;
    size_t n = 0;
    pthread_t *tids = NULL;
    thread_arg *args = NULL;
    totals t = {0};
    sgs_buf out;
    sgs_buf_init(&out);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "sgs-bench: --url %s: %s\n", o.url, gai_strerror(gai));
        goto done;
    }
    memcpy(&cfg.addr, ai->ai_addr, ai->ai_addrlen);
    cfg.addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    char host_hdr[300];
    snprintf(host_hdr, sizeof host_hdr, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    if (load_queries(&cfg, &o, host_hdr, path) < 0)
        goto done;

    cfg.rate = o.rate;
    cfg.arrival = strcmp(o.arrival, "poisson") ? BENCH_ARRIVAL_CONSTANT : BENCH_ARRIVAL_POISSON;
    cfg.connections = o.connections;
    cfg.duration_s = o.duration_s;
    cfg.warmup_s = o.warmup_s;
    cfg.timeout_ms = o.timeout_ms;
    cfg.threads = o.threads;
    if (cfg.connections && cfg.threads > cfg.connections)
        cfg.threads = cfg.connections;
    cfg.late_ms = o.late_ms;
    cfg.seed = (uint64_t)o.seed;
    cfg.record_raw = o.raw != NULL;

    /* Raise the descriptor limit to its hard cap: an open-loop run against a
     * stalled server holds one connection per outstanding request. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    int64_t fd_room = (int64_t)rl.rlim_cur - 64;
    if (cfg.connections > fd_room) {
        fprintf(stderr, "sgs-bench: --connections %lld exceeds the descriptor limit (%lld)\n",
                (long long)cfg.connections, (long long)rl.rlim_cur);
        exit_status = 2;
        goto done;
    }
    cfg.max_connections = o.max_connections;
    if (cfg.rate > 0 && cfg.max_connections == 0) {
        double want = ceil(cfg.rate * (double)cfg.timeout_ms / 1000.0) + 16.0;
        cfg.max_connections = want < 64 ? 64 : want > (double)fd_room ? fd_room : (int64_t)want;
    }
    if (cfg.rate > 0 && cfg.max_connections > fd_room)
        cfg.max_connections = fd_room;
    if (cfg.rate > 0 && cfg.max_connections < cfg.threads)
        cfg.max_connections = cfg.threads;

    n = (size_t)cfg.threads;
    res = sgs_xcalloc(n, sizeof *res);
    tids = sgs_xcalloc(n, sizeof *tids);
    args = sgs_xcalloc(n, sizeof *args);
    for (size_t i = 0; i < n; i++)
        result_init(&res[i], cfg.n_classes);
    result_init(&t.r, cfg.n_classes);
    uint64_t start_ns = sgs_now_ns() + 20000000u; /* every worker starts on one clock */
    size_t started = 0;
    for (; started < n; started++) {
        args[started] = (thread_arg){&cfg, (int)started, start_ns, &res[started], 0};
        if (pthread_create(&tids[started], NULL, thread_main, &args[started]) != 0) {
            fprintf(stderr, "sgs-bench: pthread_create failed\n");
            break;
        }
    }
    bool failed = started < n;
    for (size_t i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        failed |= args[i].rc != 0;
    }
    if (failed)
        goto done;

    merge(&t, &cfg, res, n);
    sgs_buf cmd;
    sgs_buf_init(&cmd);
    for (int i = 0; i < argc; i++)
        sgs_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
    sgs_buf_putc(&cmd, 0);
    if (!o.quiet)
        write_text(stdout, &t, &cfg, &o);
    exit_status = 0;
    if (o.json) {
        write_json(&out, &t, &cfg, &o, (const char *)cmd.data);
        FILE *f = fopen(o.json, "w");
        if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
            fprintf(stderr, "sgs-bench: writing --json %s: %s\n", o.json, strerror(errno));
            exit_status = 1;
        }
    }
    sgs_buf_fini(&cmd);
    if (o.raw && write_raw(o.raw, res, n, &cfg) < 0)
        exit_status = 1;

done:
    if (res) {
        for (size_t i = 0; i < n; i++)
            result_fini(&res[i], cfg.n_classes);
        result_fini(&t.r, cfg.n_classes);
    }
    free(res);
    free(tids);
    free(args);
    sgs_buf_fini(&out);
    for (size_t i = 0; i < cfg.n_requests; i++)
        free(cfg.requests[i].bytes);
    free(cfg.requests);
    for (size_t c = 0; c < cfg.n_classes; c++)
        if (strcmp(cfg.classes[c], "other") || c != BENCH_MAX_CLASSES - 1)
            free((char *)cfg.classes[c]);
    free(host);
    free(port);
    free(url_path);
    return exit_status;
}
