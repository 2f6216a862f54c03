/* The public HTTP API: request parsing and validation, and the answers
 * written when a query is gathered (root_api_finish); all on the loop thread.
 *
 * A search request is validated completely (parameters, the query itself)
 * before anything is scattered, so a bad request is a 400 that no leaf sees. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "root/root.h"

static _Thread_local uint64_t trace_rng;

static uint64_t rnd64(void)
{
    if (trace_rng == 0)
        trace_rng = sgs_now_ns() ^ ((uint64_t)(uintptr_t)&trace_rng << 16) ^ 0x9e3779b97f4a7c15ull;
    uint64_t x = trace_rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    trace_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static bool all_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

/* Accepts a valid W3C traceparent's trace id and flags, or mints a trace;
 * the root's own span id goes to the leaves and back to the client. */
static void set_trace(root_query *q, const char *in)
{
    char trace[33], flags[3] = "01";
    if (in && strlen(in) == 55 && in[0] == '0' && in[1] == '0' && in[2] == '-' && in[35] == '-' &&
        in[52] == '-' && all_hex(in + 3, 32) && all_hex(in + 36, 16) &&
        isxdigit((unsigned char)in[53]) && isxdigit((unsigned char)in[54])) {
        memcpy(trace, in + 3, 32);
        trace[32] = 0;
        flags[0] = in[53];
        flags[1] = in[54];
    } else
        snprintf(trace, sizeof trace, "%016llx%016llx", (unsigned long long)rnd64(),
                 (unsigned long long)rnd64());
    snprintf(q->traceparent, sizeof q->traceparent, "00-%s-%016llx-%s", trace,
             (unsigned long long)rnd64(), flags);
    snprintf(q->trace_headers, sizeof q->trace_headers, "traceparent: %s\r\n", q->traceparent);
}

static int parse_uint(const char *text, const char *name, int64_t max, int64_t *out, sgs_err *err)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != 0 || v < 0 || v > max)
        return sgs_err_set(err, SGS_EBADREQ, "%s must be an integer in [0, %lld], got '%s'", name,
                           (long long)max, text);
    *out = v;
    return 0;
}

/* Common checks once k, offset, timeout and the query tree are known. */
static int finish_parse(root *r, root_query *q, sgs_query_node *tree, int64_t k, int64_t offset,
                        int64_t timeout_ms, sgs_err *err)
{
    const root_config *cfg = r->cfg;
    if (k > cfg->max_k)
        return sgs_err_set(err, SGS_EK_LARGE, "k is %lld; at most %lld", (long long)k,
                           (long long)cfg->max_k);
    if (k + offset > (int64_t)SGS_EVAL_MAX_K)
        return sgs_err_set(err, SGS_EK_LARGE, "offset + k is %lld (offset %lld, k %lld); at most %u",
                           (long long)(k + offset), (long long)offset, (long long)k,
                           SGS_EVAL_MAX_K);
    if (timeout_ms <= 0)
        timeout_ms = cfg->default_timeout_ms;
    if (timeout_ms > cfg->max_timeout_ms)
        timeout_ms = cfg->max_timeout_ms;
    q->k = (uint32_t)k;
    q->offset = (uint32_t)offset;
    q->deadline_ns = q->received_ns + (uint64_t)timeout_ms * 1000000u;
    sgs_wire_encode_request_bin(tree, (uint32_t)(k + offset), (uint32_t)timeout_ms, &q->wire);
    return 0;
}

static const char *const get_params[] = {"q", "k", "offset", "timeout_ms", "allow_partial",
                                         "fields", NULL};

static int parse_get(root *r, sgs_http_request *req, root_query *q, sgs_err *err)
{
    if (sgs_http_query_check(req, get_params, err) != 0)
        return err->code;
    const char *text = sgs_http_query_arg(req, "q");
    if (text == NULL || !*text)
        return sgs_err_set(err, SGS_EBADREQ, "missing query parameter q");
    int64_t k = SGS_WIRE_DEFAULT_K, offset = 0, timeout_ms = 0;
    const char *v;
    if ((v = sgs_http_query_arg(req, "k")) && parse_uint(v, "k", INT32_MAX, &k, err))
        return err->code;
    if ((v = sgs_http_query_arg(req, "offset")) &&
        parse_uint(v, "offset", INT32_MAX, &offset, err))
        return err->code;
    if ((v = sgs_http_query_arg(req, "timeout_ms")) &&
        parse_uint(v, "timeout_ms", 3600000, &timeout_ms, err))
        return err->code;
    if ((v = sgs_http_query_arg(req, "allow_partial"))) {
        if (!strcmp(v, "true") || !strcmp(v, "1"))
            q->allow_partial = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0"))
            q->allow_partial = false;
        else
            return sgs_err_set(err, SGS_EBADREQ, "allow_partial must be true or false");
    }
    if ((v = sgs_http_query_arg(req, "fields"))) {
        size_t n = 1;
        for (const char *p = v; *p; p++)
            n += *p == ',';
        q->fields = sgs_arena_alloc(&q->arena, n * sizeof *q->fields);
        q->n_fields = 0;
        const char *s = v;
        for (;;) {
            const char *e = strchr(s, ',');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            if (len > 0)
                q->fields[q->n_fields++] = sgs_arena_strndup(&q->arena, s, len);
            if (!e)
                break;
            s = e + 1;
        }
    }
    sgs_query_node *tree = sgs_query_parse(text, strlen(text), &q->arena, err);
    if (tree == NULL)
        return err->code;
    return finish_parse(r, q, tree, k, offset, timeout_ms, err);
}

static int json_uint(json_t *v, const char *name, int64_t max, int64_t *out, sgs_err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return sgs_err_set(err, SGS_EBADREQ, "%s must be an integer in [0, %lld]", name,
                           (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static int parse_post(root *r, sgs_http_request *req, root_query *q, sgs_err *err)
{
    size_t len;
    const uint8_t *body = sgs_http_body(req, &len);
    json_error_t je;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (j == NULL)
        return sgs_err_set(err, SGS_EJSON, "body is not JSON: %s (line %d, column %d)", je.text,
                           je.line, je.column);
    if (!json_is_object(j)) {
        rc = sgs_err_set(err, SGS_EBADREQ, "body must be a JSON object");
        goto out;
    }
    int64_t k = SGS_WIRE_DEFAULT_K, offset = 0, timeout_ms = 0;
    json_t *qs = NULL, *tree_json = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if (!strcmp(key, "q")) {
            if (!json_is_string(v)) {
                rc = sgs_err_set(err, SGS_EBADREQ, "q must be a string");
                goto out;
            }
            qs = v;
        } else if (!strcmp(key, "query"))
            tree_json = v;
        else if (!strcmp(key, "k")) {
            if ((rc = json_uint(v, "k", INT32_MAX, &k, err)))
                goto out;
        } else if (!strcmp(key, "offset")) {
            if ((rc = json_uint(v, "offset", INT32_MAX, &offset, err)))
                goto out;
        } else if (!strcmp(key, "timeout_ms")) {
            if ((rc = json_uint(v, "timeout_ms", 3600000, &timeout_ms, err)))
                goto out;
        } else if (!strcmp(key, "allow_partial")) {
            if (!json_is_boolean(v)) {
                rc = sgs_err_set(err, SGS_EBADREQ, "allow_partial must be true or false");
                goto out;
            }
            q->allow_partial = json_is_true(v);
        } else if (!strcmp(key, "fields")) {
            if (!json_is_array(v)) {
                rc = sgs_err_set(err, SGS_EBADREQ, "fields must be an array of strings");
                goto out;
            }
            size_t n = json_array_size(v);
            q->fields = sgs_arena_alloc(&q->arena, (n ? n : 1) * sizeof *q->fields);
            q->n_fields = 0;
            for (size_t i = 0; i < n; i++) {
                json_t *f = json_array_get(v, i);
                if (!json_is_string(f)) {
                    rc = sgs_err_set(err, SGS_EBADREQ, "fields[%zu] must be a string", i);
                    goto out;
                }
                q->fields[q->n_fields++] =
                    sgs_arena_strndup(&q->arena, json_string_value(f), json_string_length(f));
            }
        } else {
            rc = sgs_err_set(err, SGS_EBADREQ, "unknown key '%s'", key);
            goto out;
        }
    }
    if ((qs == NULL) == (tree_json == NULL)) {
        rc = sgs_err_set(err, SGS_EBADREQ, "give exactly one of q (a query string) or query (a tree)");
        goto out;
    }
    sgs_query_node *tree =
        qs ? sgs_query_parse(json_string_value(qs), json_string_length(qs), &q->arena, err)
           : sgs_query_from_json(tree_json, &q->arena, err);
    if (tree == NULL) {
        rc = err->code;
        goto out;
    }
    rc = finish_parse(r, q, tree, k, offset, timeout_ms, err);
out:
    json_decref(j);
    return rc;
}

static sgs_http_result search_handler(void *ctx, sgs_http_request *req)
{
    root *r = ctx;
    root_query *q = root_query_get(r);
    q->req = req;
    q->received_ns = sgs_http_received_ns(req);
    q->client_fd = sgs_http_client_fd(req);
    set_trace(q, sgs_http_header(req, "traceparent"));
    sgs_http_reply_header(req, "traceparent", q->traceparent);
    sgs_err err = {0};
    int rc = strcmp(sgs_http_method(req), "POST") == 0 ? parse_post(r, req, q, &err)
                                                       : parse_get(r, req, q, &err);
    if (rc != 0) {
        sgs_counter_inc(r->m.requests_bad);
        sgs_http_reply_error(req, rc, err.msg);
        root_query_put(r, q);
        return SGS_HTTP_DONE;
    }
    /* Answered now (a refused field, no shard to ask) or when the gather
     * ends; either way through sgs_http_complete(). */
    root_query_start(r, q);
    return SGS_HTTP_PENDING;
}

static sgs_http_result readyz_handler(void *ctx, sgs_http_request *req)
{
    root_api_info(ctx, req, true);
    return SGS_HTTP_DONE;
}

static sgs_http_result info_handler(void *ctx, sgs_http_request *req)
{
    root_api_info(ctx, req, false);
    return SGS_HTTP_DONE;
}

static sgs_http_result healthz_handler(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    sgs_buf_printf(sgs_http_reply_body(req), "{\"ok\":true}");
    return SGS_HTTP_DONE;
}

static sgs_http_result metrics_handler(void *ctx, sgs_http_request *req)
{
    root *r = ctx;
    sgs_http_reply(req, 200, SGS_METRICS_CONTENT_TYPE);
    sgs_metrics_render(r->m.registry, sgs_http_reply_body(req));
    return SGS_HTTP_DONE;
}

void root_api_routes(root *r, sgs_http_route *routes, size_t *n_routes)
{
    const sgs_http_route table[] = {
        {"GET", "/search", search_handler, r},     {"POST", "/search", search_handler, r},
        {"GET", "/healthz", healthz_handler, r},   {"GET", "/readyz", readyz_handler, r},
        {"GET", "/metrics", metrics_handler, r},   {"GET", "/v1/info", info_handler, r},
    };
    *n_routes = sizeof table / sizeof table[0];
    memcpy(routes, table, sizeof table);
}

/* ---- answers (loop thread) -------------------------------------------- */

static void put_str(sgs_buf *b, const char *s, size_t n)
{
    sgs_buf_putc(b, '"');
    sgs_buf_json_escape(b, s, n);
    sgs_buf_putc(b, '"');
}

/* Appends the stored fields of a hit, only the requested ones when the
 * query names some. */
static void put_fields(const root_query *q, const sgs_wire_hit *h, sgs_buf *b)
{
    if (q->fields == NULL) {
        if (h->fields_len > 0)
            sgs_buf_append(b, h->fields, h->fields_len);
        else
            sgs_buf_append(b, "{}", 2);
        return;
    }
    json_error_t je;
    json_t *all = json_loadb(h->fields, h->fields_len, 0, &je);
    json_t *keep = json_object();
    for (uint32_t i = 0; i < q->n_fields && all; i++) {
        json_t *v = json_object_get(all, q->fields[i]);
        if (v)
            json_object_set(keep, q->fields[i], v);
    }
    char *text = json_dumps(keep, JSON_COMPACT);
    sgs_buf_append(b, text, strlen(text));
    free(text);
    json_decref(keep);
    json_decref(all);
}

static int hit_cmp(const sgs_wire_hit *a, const sgs_wire_hit *b)
{
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    uint32_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int c = memcmp(a->id, b->id, n);
    if (c != 0)
        return c;
    return a->id_len < b->id_len ? -1 : a->id_len > b->id_len;
}

void root_gather_hits(root_query *q, uint32_t n_shards, sgs_buf *out)
{
    uint32_t *pos = sgs_arena_zalloc(&q->arena, n_shards * sizeof *pos);
    uint32_t want = q->offset + q->k, emitted = 0;
    sgs_buf_putc(out, '[');
    for (uint32_t rank = 0; rank < want; rank++) {
        int best = -1;
        for (uint32_t s = 0; s < n_shards; s++) {
            const root_slot *sl = &q->slots[s];
            if (sl->status != ROOT_SLOT_OK || pos[s] >= sl->resp.n_hits)
                continue;
            if (best < 0 ||
                hit_cmp(&sl->resp.hits[pos[s]], &q->slots[best].resp.hits[pos[best]]) < 0)
                best = (int)s;
        }
        if (best < 0)
            break;
        const sgs_wire_hit *h = &q->slots[best].resp.hits[pos[best]++];
        if (rank < q->offset)
            continue;
        if (emitted++)
            sgs_buf_putc(out, ',');
        sgs_buf_append(out, "{\"id\":", 6);
        put_str(out, h->id, h->id_len);
        sgs_buf_printf(out, ",\"score\":%.17g,\"shard\":%d,\"fields\":", h->score, best);
        put_fields(q, h, out);
        sgs_buf_putc(out, '}');
    }
    sgs_buf_putc(out, ']');
}

static const char *slot_status_name(root_slot_status s)
{
    switch (s) {
    case ROOT_SLOT_OK: return "ok";
    case ROOT_SLOT_FAILED: return "failed";
    case ROOT_SLOT_TIMED_OUT: return "timed_out";
    default: return "pending";
    }
}

static void put_replica_url(root *r, uint32_t shard, int replica, sgs_buf *b)
{
    if (replica < 0) {
        sgs_buf_append(b, "null", 4);
        return;
    }
    const char *url = r->shards[shard].replicas[replica].url;
    put_str(b, url, strlen(url));
}

static void put_uint(sgs_buf *b, uint64_t v)
{
    char d[24];
    size_t n = 0;
    do {
        d[sizeof d - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    sgs_buf_append(b, d + sizeof d - n, n);
}

/* Appends ms as printf's "%.3f" would for the durations the details carry
 * (printf's float path costs about a microsecond a call). */
static void put_ms(sgs_buf *b, double ms)
{
    if (!(ms >= 0 && ms < 1e12)) {
        sgs_buf_printf(b, "%.3f", ms);
        return;
    }
    uint64_t milli = (uint64_t)(ms * 1000.0 + 0.5);
    put_uint(b, milli / 1000);
    char f[4] = {'.', (char)('0' + milli / 100 % 10), (char)('0' + milli / 10 % 10),
                 (char)('0' + milli % 10)};
    sgs_buf_append(b, f, 4);
}

#define PUT_LIT(b, lit) sgs_buf_append((b), (lit), sizeof(lit) - 1)

/* Appends "shards": {total, successful, failed, timed_out, details}. */
static void put_shards(root *r, const root_query *q, uint32_t ok, uint32_t failed,
                       uint32_t timed_out, sgs_buf *b)
{
    sgs_buf_printf(b, "\"shards\":{\"total\":%u,\"successful\":%u,\"failed\":%u,\"timed_out\":%u,"
                      "\"details\":[",
                   r->n_shards, ok, failed, timed_out);
    for (uint32_t i = 0; i < r->n_shards; i++) {
        const root_slot *sl = &q->slots[i];
        if (i)
            sgs_buf_putc(b, ',');
        PUT_LIT(b, "{\"shard\":");
        put_uint(b, i);
        PUT_LIT(b, ",\"status\":\"");
        const char *status = slot_status_name(sl->status);
        sgs_buf_append(b, status, strlen(status));
        PUT_LIT(b, "\",\"replica\":");
        put_replica_url(r, i, sl->replica, b);
        PUT_LIT(b, ",\"took_ms\":");
        put_ms(b, sl->took_ms);
        if (sl->hedged)
            PUT_LIT(b, ",\"hedged\":true");
        else
            PUT_LIT(b, ",\"hedged\":false");
        if (sl->hedge_won)
            PUT_LIT(b, ",\"hedge_won\":true,\"retried\":");
        else
            PUT_LIT(b, ",\"hedge_won\":false,\"retried\":");
        put_uint(b, sl->retried);
        if (sl->status == ROOT_SLOT_TIMED_OUT) {
            sgs_buf_append(b, ",\"waiting_on\":[", 15);
            for (int j = 0; j < 2 && sl->waiting[j] >= 0; j++) {
                if (j)
                    sgs_buf_putc(b, ',');
                put_replica_url(r, i, sl->waiting[j], b);
            }
            sgs_buf_putc(b, ']');
        }
        if (sl->status == ROOT_SLOT_OK) {
            PUT_LIT(b, ",\"leaf_took_ms\":");
            put_ms(b, (double)sl->resp.took_us / 1000.0);
        } else {
            const char *type = sl->error_type[0] ? sl->error_type : sgs_err_type(SGS_EUNAVAILABLE);
            sgs_buf_append(b, ",\"error_type\":", 14);
            put_str(b, type, strlen(type));
            sgs_buf_append(b, ",\"error\":", 9);
            put_str(b, sl->error, strlen(sl->error));
        }
        sgs_buf_putc(b, '}');
    }
    sgs_buf_append(b, "]}", 2);
}

void root_api_finish(root *r, root_query *q)
{
    sgs_http_request *req = q->req;
    uint32_t ok = 0, failed = 0, timed_out = 0;
    uint64_t total = 0;
    const char *first_error = NULL;
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_slot *sl = &q->slots[i];
        if (sl->status == ROOT_SLOT_OK) {
            ok++;
            total += sl->resp.total;
        } else {
            if (sl->status == ROOT_SLOT_TIMED_OUT)
                timed_out++;
            else
                failed++;
            if (!first_error)
                first_error = sl->error;
        }
    }
    uint64_t now = sgs_now_ns();
    double took_ms = (double)(now - q->received_ns) / 1e6;
    sgs_histogram_observe(r->m.request_latency, (now - q->received_ns) / 1000u);
    bool partial = ok < r->n_shards;
    if (timed_out)
        sgs_counter_inc(r->m.timeouts);
    sgs_buf *b = sgs_http_reply_body(req);
    if (ok == 0 || (partial && !q->allow_partial)) {
        char reason[400];
        snprintf(reason, sizeof reason, "%u of %u shards answered%s%s", ok, r->n_shards,
                 first_error ? "; " : "", first_error ? first_error : "");
        sgs_counter_inc(r->m.requests_unavailable);
        sgs_log(SGS_LOG_WARN, "query_unavailable", "traceparent %s: %s", q->traceparent, reason);
        /* The error, and which shard failed and why. */
        sgs_http_reply(req, sgs_err_http_status(SGS_EUNAVAILABLE), "application/json");
        sgs_buf_reset(b);
        sgs_buf_printf(b, "{\"error\":{\"type\":\"%s\",\"reason\":", sgs_err_type(SGS_EUNAVAILABLE));
        put_str(b, reason, strlen(reason));
        sgs_buf_printf(b, "},\"took_ms\":%.3f,\"timed_out\":%s,", took_ms,
                       timed_out ? "true" : "false");
        put_shards(r, q, ok, failed, timed_out, b);
        sgs_buf_printf(b, ",\"generation\":\"%016llx\"}", (unsigned long long)q->generation);
        sgs_http_complete(req);
        return;
    }
    if (partial) {
        sgs_counter_inc(r->m.partial);
        sgs_counter_inc(r->m.requests_partial);
    } else
        sgs_counter_inc(r->m.requests_ok);
    sgs_buf_reserve(b, 256 + (size_t)q->k * 128);
    sgs_buf_printf(b,
                   "{\"took_ms\":%.3f,\"timed_out\":%s,\"partial\":%s,"
                   "\"total\":{\"value\":%llu,\"relation\":\"%s\"},\"hits\":",
                   took_ms, timed_out ? "true" : "false", partial ? "true" : "false",
                   (unsigned long long)total, partial ? "gte" : "eq");
    root_gather_hits(q, r->n_shards, b);
    sgs_buf_putc(b, ',');
    put_shards(r, q, ok, failed, timed_out, b);
    sgs_buf_printf(b, ",\"generation\":\"%016llx\"}", (unsigned long long)q->generation);
    if (r->cfg->slow_query_ms > 0 && took_ms >= (double)r->cfg->slow_query_ms) {
        /* Name the slowest shard: a straggler, or the root itself. */
        uint32_t w = 0;
        for (uint32_t i = 1; i < r->n_shards; i++)
            if (q->slots[i].took_ms > q->slots[w].took_ms)
                w = i;
        const root_slot *ws = &q->slots[w];
        sgs_log(SGS_LOG_WARN, "slow_query",
                "traceparent %s: %.1f ms, %u of %u shards; slowest shard %u replica %d "
                "%.2f ms%s%s",
                q->traceparent, took_ms, ok, r->n_shards, w, ws->replica, ws->took_ms,
                ws->hedged ? ", hedged" : "", ws->hedge_won ? ", hedge won" : "");
    }
    sgs_http_complete(req);
}

void root_api_info(root *r, sgs_http_request *req, bool readyz)
{
    sgs_buf *b = sgs_http_reply_body(req);
    bool ready = atomic_load(&r->ready);
    uint64_t gen = atomic_load(&r->serving_generation);
    if (readyz) {
        if (ready)
            sgs_buf_printf(b, "{\"ready\":true,\"generation\":\"%016llx\"}",
                           (unsigned long long)gen);
        else {
            sgs_http_reply(req, 503, "application/json");
            sgs_buf_printf(b, "{\"ready\":false,\"reason\":\"a shard has no ready replica\","
                              "\"error\":{\"type\":\"unavailable\",\"reason\":"
                              "\"a shard has no ready replica\"}}");
        }
        return;
    }
    uint64_t now = sgs_now_ns();
    sgs_buf_printf(b, "{\"version\":\"%s\",\"protocol\":%u,\"generation\":\"%016llx\",\"ready\":%s,"
                      "\"hedge_tokens\":%.2f,\"shards\":[",
                   ROOT_VERSION, SGS_WIRE_VERSION, (unsigned long long)gen,
                   ready ? "true" : "false", r->hedge_tokens);
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_shard *s = &r->shards[i];
        sgs_buf_printf(b, "%s{\"shard\":%u,\"hedge_delay_ms\":%.3f,\"replicas\":[", i ? "," : "",
                       i, (double)s->hedge_delay_ns / 1e6);
        for (uint32_t j = 0; j < s->n_replicas; j++) {
            root_replica *rep = &s->replicas[j];
            sgs_buf_printf(b, "%s{\"url\":", j ? "," : "");
            put_str(b, rep->url, strlen(rep->url));
            sgs_buf_printf(b,
                           ",\"ready\":%s,\"ejected\":%s,\"in_flight\":%u,\"latency_ewma_ms\":%.3f,"
                           "\"generation\":\"%016llx\",\"consecutive_failures\":%u,"
                           "\"idle_connections\":%u,\"requests\":%llu,\"beaten\":%llu,\"lost\":%u,"
                           "\"last_error\":",
                           root_replica_eligible(rep, gen, now) ? "true" : "false",
                           rep->ejected_until_ns ? "true" : "false", rep->in_flight,
                           rep->ewma_us / 1000.0, (unsigned long long)rep->generation,
                           rep->consecutive_failures, rep->n_idle, (unsigned long long)rep->sent,
                           (unsigned long long)rep->beaten, rep->lost);
            put_str(b, rep->last_error, strlen(rep->last_error));
            sgs_buf_append(b, ",\"last_error_type\":", 19);
            put_str(b, rep->last_error_type, strlen(rep->last_error_type));
            sgs_buf_printf(b, ",\"resolved\":%s,\"address\":", rep->addr_len ? "true" : "false");
            if (rep->addr_len)
                put_str(b, rep->addr_text, strlen(rep->addr_text));
            else
                sgs_buf_append(b, "null", 4);
            sgs_buf_printf(b, ",\"lookups\":%llu}", (unsigned long long)rep->lookups);
        }
        sgs_buf_append(b, "]}", 2);
    }
    sgs_buf_append(b, "]}", 2);
}

