/* POST /v1/shard/search: decode (binary or JSON), evaluate on the serving
 * generation inside an epoch section, look up ids and stored fields, encode.
 * Everything per query lives in the worker thread's arena. */
#include "leaf/leaf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/eval.h"
#include "common/log.h"
#include "common/query.h"
#include "common/wire.h"

/* The trace id of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"), or "-". */
static void trace_id(const char *traceparent, char out[33])
{
    if (traceparent && strlen(traceparent) >= 55 && traceparent[2] == '-') {
        memcpy(out, traceparent + 3, 32);
        out[32] = '\0';
        for (int i = 0; i < 32; i++)
            if (!strchr("0123456789abcdef", out[i]))
                goto none;
        return;
    }
none:
    snprintf(out, 33, "-");
}

static void count_outcome(leaf *l, int code)
{
    if (code == 0)
        sgs_counter_inc(l->metrics.queries_ok);
    else if (code == SGS_ETIMEOUT)
        sgs_counter_inc(l->metrics.queries_timeout);
    else if (sgs_err_http_status(code) < 500)
        sgs_counter_inc(l->metrics.queries_bad_request);
    else
        sgs_counter_inc(l->metrics.queries_error);
}

static void log_query(sgs_log_level level, const char *event, const char *traceparent,
                      const sgs_query_node *query, uint64_t took_us, const char *what)
{
    char trace[33];
    trace_id(traceparent, trace);
    sgs_buf q;
    sgs_buf_init(&q);
    if (query)
        sgs_query_to_string(query, &q);
    sgs_buf_putc(&q, '\0');
    sgs_log(level, event, "trace_id=%s took_us=%llu %s query=%.400s", trace,
            (unsigned long long)took_us, what, (const char *)q.data);
    sgs_buf_fini(&q);
}

/* Evaluates and encodes under the epoch section; returns 0 or the error. */
static int run(leaf *l, leaf_thread *t, const sgs_shard_request *sr, uint64_t received_ns,
               bool json_out, sgs_http_request *req, uint64_t *total, sgs_err *err)
{
    uint64_t deadline_ns = sr->deadline_ms ? received_ns + (uint64_t)sr->deadline_ms * 1000000u : 0;
    ck_epoch_section_t section;
    const leaf_gen *g = leaf_gen_enter(l, t, &section);
    sgs_eval_result res;
    int rc = sgs_eval(g->shard, sr->query, sr->k, deadline_ns, &t->arena, &res, err);
    if (rc == 0) {
        sgs_wire_hit *hits = sgs_arena_alloc(&t->arena, (res.n_hits ? res.n_hits : 1) * sizeof *hits);
        for (uint32_t i = 0; i < res.n_hits; i++) {
            size_t id_len = 0, fields_len = 0;
            const char *id = sgs_shard_ext_id(g->shard, res.hits[i].doc, &id_len);
            const char *fields = sgs_shard_stored(g->shard, res.hits[i].doc, &fields_len);
            if (id == NULL) {
                id = "";
                id_len = 0;
            }
            if (fields == NULL || fields_len == 0) {
                fields = "{}";
                fields_len = 2;
            }
            hits[i] = (sgs_wire_hit){res.hits[i].score, id, (uint32_t)id_len, fields,
                                     (uint32_t)fields_len};
        }
        uint64_t took_us = (sgs_now_ns() - received_ns) / 1000u;
        sgs_shard_response resp = {
            .shard = g->shard_id,
            .generation = g->generation,
            .total = res.total,
            .took_us = took_us > UINT32_MAX ? UINT32_MAX : (uint32_t)took_us,
            .n_hits = res.n_hits,
            .hits = hits,
        };
        *total = res.total;
        /* Ids and fields point into the shard: encode before leaving. */
        if (json_out) {
            sgs_http_reply(req, 200, "application/json");
            sgs_wire_encode_response_json(&resp, sgs_http_reply_body(req));
        } else {
            sgs_http_reply(req, 200, SGS_WIRE_CONTENT_TYPE);
            sgs_wire_encode_response_bin(&resp, sgs_http_reply_body(req));
        }
    }
    leaf_gen_leave(t, &section, g);
    return rc;
}

sgs_http_result leaf_search_handler(void *leaf_ptr, sgs_http_request *req)
{
    leaf *l = leaf_ptr;
    leaf_thread *t = sgs_http_thread_state(req);
    uint64_t received_ns = sgs_http_received_ns(req);
    sgs_arena_reset(&t->arena);
    sgs_gauge_add(l->metrics.inflight, 1);

    const char *traceparent = sgs_http_header(req, "traceparent");
    if (traceparent)
        sgs_http_reply_header(req, "traceparent", traceparent);
    const char *ctype = sgs_http_header(req, "Content-Type");
    bool bin_in = ctype && strncasecmp(ctype, SGS_WIRE_CONTENT_TYPE,
                                       strlen(SGS_WIRE_CONTENT_TYPE)) == 0;
    const char *accept = sgs_http_header(req, "Accept");
    bool json_out = !bin_in || (accept && strstr(accept, "application/json"));

    size_t len;
    const uint8_t *body = sgs_http_body(req, &len);
    sgs_err err = {0};
    sgs_shard_request sr = {0};
    uint64_t total = 0;
    int rc = bin_in ? sgs_wire_decode_request_bin(body, len, &t->arena, &sr, &err)
                    : sgs_wire_decode_request_json((const char *)body, len, &t->arena, &sr, &err);
    if (rc == 0)
        rc = run(l, t, &sr, received_ns, json_out, req, &total, &err);
    uint64_t took_us = (sgs_now_ns() - received_ns) / 1000u;
    if (rc != 0) {
        if (err.code == 0)
            sgs_err_set(&err, rc, "%s", sgs_err_type(rc));
        sgs_http_reply_error(req, rc, err.msg);
        if ((rc == SGS_ETIMEOUT || sgs_err_http_status(rc) >= 500) && leaf_error_log_allowed(l))
            log_query(rc == SGS_ETIMEOUT ? SGS_LOG_WARN : SGS_LOG_ERROR, "query_error",
                      traceparent, sr.query, took_us, err.msg);
    } else if (l->cfg->slow_query_ms > 0 && took_us >= (uint64_t)l->cfg->slow_query_ms * 1000u) {
        char what[64];
        snprintf(what, sizeof what, "total=%llu k=%u", (unsigned long long)total, sr.k);
        log_query(SGS_LOG_WARN, "slow_query", traceparent, sr.query, took_us, what);
    }
    count_outcome(l, rc);
    sgs_histogram_observe(l->metrics.query_seconds, took_us);
    sgs_gauge_add(l->metrics.inflight, -1);
    return SGS_HTTP_DONE;
}
