/* The scatter engine: one event loop thread that also runs the HTTP server,
 * owns every leaf connection, probes every replica, sends each query's
 * sub-requests (started by the request handler on the same thread), hedges
 * stragglers, retries connection errors, enforces the deadline and hands the
 * gathered query to root_api_finish().
 *
 * Invariants: a query's slot is PENDING while it has an active attempt or
 * the query is not finished; an attempt is in exactly one slot's active[]
 * and owns its connection; a connection is either carrying an attempt, idle
 * in its replica's list (watched for the peer closing it) or free. */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "root/root.h"

/* Idle leaf connections kept per replica. A burst (a stall somewhere, then
 * its backlog) needs one connection per concurrent sub-request; closing
 * what it opened when the answers come back, and opening them again for the
 * next burst, costs a handshake and a teardown on both ends per sub-request,
 * which under a backlog is more CPU than the queries and keeps the backlog
 * up. So the cap is high, and connections idle past IDLE_TIMEOUT_NS are
 * closed a few at a time (IDLE_REAP_PER_TICK per replica per maintenance
 * tick) rather than all in the tick they expire. */
#define IDLE_MAX_PER_REPLICA 1024u
#define IDLE_TIMEOUT_NS (10ull * 1000000000u)
#define IDLE_REAP_PER_TICK 8u
#define MAINT_INTERVAL_NS (100ull * 1000000u)
#define ROTATE_INTERVAL_NS (5ull * 1000000000u)
#define HEDGE_MIN_SAMPLES 20u
/* A query still pending this long gets its client's socket watched for a
 * disconnect; quicker ones never pay the two epoll_ctl calls. */
#define CLIENT_WATCH_DELAY_NS (2ull * 1000000u)
#define EWMA_ALPHA 0.2

static pthread_t loop_thread;
static root *the_root; /* the loop's root, for timer callbacks (set before the loop starts) */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- replica choice ---------------------------------------------------- */

bool root_replica_eligible(const root_replica *rep, uint64_t gen, uint64_t now_ns)
{
    (void)now_ns;
    return rep->probe_ok && rep->addr_len > 0 && rep->ejected_until_ns == 0 &&
           (gen == 0 || rep->generation == gen);
}

static double replica_cost(const root_replica *rep, uint64_t now_ns, int64_t slow_start_ms)
{
    double cost = ((double)rep->in_flight + (double)rep->lost + 1.0) * (rep->ewma_us + 50.0);
    uint64_t ss = (uint64_t)slow_start_ms * 1000000u;
    if (ss > 0 && rep->ready_since_ns > 0 && now_ns - rep->ready_since_ns < ss) {
        double left = 1.0 - (double)(now_ns - rep->ready_since_ns) / (double)ss;
        cost *= 1.0 + 3.0 * left;
    }
    return cost;
}

int root_pick_replica(root *r, root_shard *s, uint64_t now_ns, int avoid)
{
    uint64_t gen = atomic_load(&r->serving_generation);
    int cand[ROOT_MAX_REPLICAS];
    int n = 0;
    for (uint32_t i = 0; i < s->n_replicas; i++)
        if ((int)i != avoid && root_replica_eligible(&s->replicas[i], gen, now_ns))
            cand[n++] = (int)i;
    if (n == 0)
        return -1;
    if (n == 1)
        return cand[0];
    /* Two distinct draws, the cheaper wins: with two replicas a stalled one
     * (its in-flight count and latency estimate up) gets no new work. One
     * pick in ROOT_EXPLORE is uniform instead, so a replica that looked
     * worse keeps getting some traffic and its estimate recovers. */
    uint64_t x = rng_next(&r->rng);
    int ia = (int)(x % (uint64_t)n);
    int a = cand[ia];
    if ((x >> 32) % ROOT_EXPLORE == 0)
        return a;
    int b = cand[(ia + 1 + (int)(rng_next(&r->rng) % (uint64_t)(n - 1))) % n];
    int64_t ss = r->cfg ? r->cfg->slow_start_ms : 0;
    double ca = replica_cost(&s->replicas[a], now_ns, ss);
    double cb = replica_cost(&s->replicas[b], now_ns, ss);
    return cb < ca ? b : a;
}

/* ---- hedge budget ------------------------------------------------------ */

void root_hedge_credit(root *r, double budget)
{
    if (budget <= 0)
        return;
    double cap = r->hedge_burst > ROOT_HEDGE_BURST ? r->hedge_burst : ROOT_HEDGE_BURST;
    r->hedge_tokens += budget;
    if (r->hedge_tokens > cap)
        r->hedge_tokens = cap;
}

bool root_hedge_take(root *r)
{
    if (r->hedge_tokens < 1.0)
        return false;
    r->hedge_tokens -= 1.0;
    return true;
}

/* ---- connections ------------------------------------------------------- */

static void conn_ready(sgs_ev_io *io, uint32_t events);

static root_conn *conn_new(root *r, root_replica *rep)
{
    root_conn *c = r->free_conns;
    if (c)
        r->free_conns = c->next;
    else {
        c = sgs_xcalloc(1, sizeof *c);
        sgs_http_conn_init(&c->http, (size_t)r->cfg->max_leaf_body);
    }
    c->rep = rep;
    c->att = NULL;
    c->next = NULL;
    c->registered = false;
    c->probe = false;
    sgs_buf_reset(&c->http.out);
    return c;
}

static void conn_free(root *r, root_conn *c)
{
    if (c->registered)
        sgs_evloop_io_del(r->loop, &c->io);
    c->registered = false;
    sgs_http_conn_close(&c->http);
    sgs_buf_reset(&c->http.out);
    c->http.out_off = 0;
    c->att = NULL;
    c->next = r->free_conns;
    r->free_conns = c;
}

/* Takes an idle connection of rep, or opens one. NULL with err set. */
static root_conn *conn_for(root *r, root_replica *rep, bool fresh, sgs_err *err)
{
    while (!fresh && rep->idle) {
        root_conn *c = rep->idle;
        rep->idle = c->next;
        rep->n_idle--;
        c->next = NULL;
        if (c->http.fd >= 0)
            return c;
        conn_free(r, c);
    }
    if (rep->addr_len == 0) {
        sgs_err_set(err, SGS_EUNAVAILABLE, "%s: address not resolved", rep->url);
        return NULL;
    }
    root_conn *c = conn_new(r, rep);
    if (sgs_http_conn_connect(&c->http, (struct sockaddr *)&rep->addr, rep->addr_len, err) != 0) {
        conn_free(r, c);
        return NULL;
    }
    if (sgs_evloop_io_add(r->loop, &c->io, c->http.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                          conn_ready, err) != 0) {
        conn_free(r, c);
        return NULL;
    }
    c->registered = true;
    return c;
}

static void conn_park(root *r, root_conn *c)
{
    root_replica *rep = c->rep;
    c->att = NULL;
    if (c->http.fd < 0 || rep->n_idle >= IDLE_MAX_PER_REPLICA) {
        conn_free(r, c);
        return;
    }
    sgs_err err = {0};
    if (sgs_evloop_io_mod(r->loop, &c->io, EPOLLIN | EPOLLRDHUP, &err) != 0) {
        conn_free(r, c);
        return;
    }
    c->idle_since_ns = sgs_evloop_now(r->loop);
    c->next = rep->idle;
    rep->idle = c;
    rep->n_idle++;
}

static void idle_unlink(root_conn *c)
{
    root_replica *rep = c->rep;
    for (root_conn **p = &rep->idle; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            rep->n_idle--;
            return;
        }
}

/* ---- breaker ----------------------------------------------------------- */

static void replica_failed(root *r, root_replica *rep, const char *type, const char *why)
{
    snprintf(rep->last_error, sizeof rep->last_error, "%.150s", why);
    snprintf(rep->last_error_type, sizeof rep->last_error_type, "%s", type);
    rep->consecutive_failures++;
    if (rep->ejected_until_ns == 0 &&
        rep->consecutive_failures >= (uint32_t)r->cfg->eject_failures) {
        uint64_t backoff_ms = (uint64_t)r->cfg->eject_base_ms << (rep->ejections < 10 ? rep->ejections : 10);
        if (backoff_ms > (uint64_t)r->cfg->eject_max_ms)
            backoff_ms = (uint64_t)r->cfg->eject_max_ms;
        rep->ejections++;
        rep->ejected_until_ns = sgs_evloop_now(r->loop) + backoff_ms * 1000000u;
        sgs_counter_inc(r->m.ejections);
        sgs_log(SGS_LOG_WARN, "replica_ejected", "shard %u replica %s: %u failures (%s); out for %llu ms",
                rep->shard->id, rep->url, rep->consecutive_failures, why,
                (unsigned long long)backoff_ms);
        /* Probe at the end of the backoff: a half-open check readmits it. */
        sgs_evloop_timer_arm(r->loop, &rep->probe_timer, rep->ejected_until_ns);
    }
}

static void replica_succeeded(root_replica *rep, uint64_t took_us)
{
    rep->consecutive_failures = 0;
    rep->lost = 0;
    rep->ejections = 0;
    rep->ewma_us = rep->ewma_us <= 0 ? (double)took_us
                                     : (1 - EWMA_ALPHA) * rep->ewma_us + EWMA_ALPHA * (double)took_us;
}

/* ---- queries ----------------------------------------------------------- */

/* Records why a shard has no answer (the latest reason wins). */
static void slot_error(root_slot *sl, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slot_error(root_slot *sl, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sl->error, sizeof sl->error, fmt, ap);
    va_end(ap);
    snprintf(sl->error_type, sizeof sl->error_type, "%s", type);
}

static void query_finish(root *r, root_query *q);
static void send_attempt(root *r, root_query *q, root_slot *sl, int avoid, bool hedge, bool fresh,
                         root_replica *same);

/* Drops an attempt: its connection is closed (its answer is not wanted).
 * beaten: a sub-request sent after it to another replica answered first. */
static void attempt_cancel(root *r, root_attempt *a, bool beaten)
{
    root_replica *rep = a->rep;
    if (rep->in_flight > 0)
        rep->in_flight--;
    if (beaten) {
        /* The replica took at least this long and is likely still stuck on
         * it: fold the time in, and count it as load until it answers. */
        uint64_t took_us = (sgs_evloop_now(r->loop) - a->start_ns) / 1000u;
        rep->ewma_us = (1 - EWMA_ALPHA) * rep->ewma_us + EWMA_ALPHA * (double)took_us;
        rep->lost++;
        rep->beaten++;
    }
    if (a->conn) {
        a->conn->att = NULL;
        conn_free(r, a->conn);
        a->conn = NULL;
    }
}

static void slot_remove(root_slot *sl, root_attempt *a)
{
    if (sl->active[0] == a) {
        sl->active[0] = sl->active[1];
        sl->active[1] = NULL;
    } else if (sl->active[1] == a)
        sl->active[1] = NULL;
}

/* Settles a pending slot; its attempts still active are cancelled. winner:
 * the attempt whose answer settled it OK (NULL otherwise); those sent before
 * it count as beaten. */
static void slot_settle(root *r, root_query *q, root_slot *sl, root_slot_status st,
                        const root_attempt *winner)
{
    if (sl->status != ROOT_SLOT_PENDING)
        return;
    sl->status = st;
    if (st != ROOT_SLOT_OK && sl->first_ns != 0)
        sl->took_ms = (double)(sgs_evloop_now(r->loop) - sl->first_ns) / 1e6;
    for (int i = 0; i < 2; i++)
        if (sl->active[i]) {
            attempt_cancel(r, sl->active[i],
                           winner != NULL && sl->active[i]->start_ns <= winner->start_ns);
            sl->active[i] = NULL;
        }
    sgs_evloop_timer_cancel(r->loop, &sl->hedge_timer);
    if (q->n_pending > 0)
        q->n_pending--;
    if (q->n_pending == 0)
        query_finish(r, q);
}

/* A sub-request ended without a usable answer. retry: a connection error
 * or wrong leaf, worth trying another replica while time remains. */
static void attempt_failed(root *r, root_attempt *a, bool retry, bool timed_out, const char *type,
                           const char *why)
{
    root_query *q = a->q;
    root_slot *sl = &q->slots[a->shard];
    root_replica *rep = a->rep;
    slot_remove(sl, a);
    attempt_cancel(r, a, false);
    sgs_counter_inc(r->m.leaf_failures);
    slot_error(sl, type, "replica %u: %.160s", rep->index, why);
    if (sl->status == ROOT_SLOT_PENDING)
        sl->replica = (int)rep->index;
    if (sl->status != ROOT_SLOT_PENDING)
        return;
    if (sl->active[0] != NULL)
        return; /* the other (hedge or primary) may still answer */
    uint64_t now = sgs_evloop_now(r->loop);
    if (retry && now + 1000000u < q->deadline_ns && sl->n_tries <= rep->shard->n_replicas) {
        sgs_counter_inc(r->m.retries);
        sl->retried++;
        send_attempt(r, q, sl, (int)rep->index, false, false, NULL);
        return;
    }
    slot_settle(r, q, sl, timed_out ? ROOT_SLOT_TIMED_OUT : ROOT_SLOT_FAILED, NULL);
}

/* Reads the error of a JSON error body into out, its type into type. */
static void error_type(const sgs_http_response *resp, char *out, size_t cap, char *type_out,
                       size_t type_cap)
{
    snprintf(out, cap, "http %d", resp->status);
    snprintf(type_out, type_cap, "leaf_http_%d", resp->status);
    json_error_t je;
    json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
    if (!j)
        return;
    const char *type = json_string_value(json_object_get(json_object_get(j, "error"), "type"));
    const char *reason =
        json_string_value(json_object_get(json_object_get(j, "error"), "reason"));
    if (type) {
        snprintf(out, cap, "http %d %s: %s", resp->status, type, reason ? reason : "");
        snprintf(type_out, type_cap, "%s", type);
    }
    json_decref(j);
}

static void attempt_answered(root *r, root_attempt *a, const sgs_http_response *resp)
{
    root_query *q = a->q;
    root_slot *sl = &q->slots[a->shard];
    root_replica *rep = a->rep;
    uint64_t now = sgs_evloop_now(r->loop);
    uint64_t took_us = (now - a->start_ns) / 1000u;
    char why[200], type[32];
    if (resp->status != 200) {
        error_type(resp, why, sizeof why, type, sizeof type);
        bool timeout = resp->status == 504;
        bool health = resp->status >= 500 && !timeout;
        if (health)
            replica_failed(r, rep, type, why);
        if (resp->status == 503)
            rep->probe_ok = false; /* draining or not ready: wait for the next probe */
        root_conn *c = a->conn;
        a->conn = NULL;
        c->att = NULL;
        if (sgs_http_conn_reuse(&c->http, resp))
            conn_park(r, c);
        else
            conn_free(r, c);
        attempt_failed(r, a, !timeout, timeout, type, why);
        return;
    }
    /* Copy the body into the query's arena: the connection's buffer is reused. */
    uint8_t *body = sgs_arena_alloc(&q->arena, resp->body_len ? resp->body_len : 1);
    memcpy(body, resp->body, resp->body_len);
    size_t body_len = resp->body_len;
    root_conn *c = a->conn;
    a->conn = NULL;
    c->att = NULL;
    if (sgs_http_conn_reuse(&c->http, resp))
        conn_park(r, c);
    else
        conn_free(r, c);

    sgs_shard_response sr;
    sgs_err err = {0};
    if (sgs_wire_decode_response_bin(body, body_len, &q->arena, &sr, &err) != 0) {
        /* Another protocol version is named as such, never mixed in. */
        const char *t = err.code == SGS_EPROTOCOL ? sgs_err_type(SGS_EPROTOCOL) : "bad_answer";
        snprintf(why, sizeof why, "%s: %.160s", t, err.msg);
        replica_failed(r, rep, t, why);
        attempt_failed(r, a, true, false, t, why);
        return;
    }
    if (sr.shard != rep->shard->id || (q->generation != 0 && sr.generation != q->generation)) {
        const char *t = sr.shard != rep->shard->id ? "misrouted" : "generation_mismatch";
        snprintf(why, sizeof why, "%s: answered for shard %u generation %016llx, want shard %u generation %016llx",
                 t, sr.shard, (unsigned long long)sr.generation, rep->shard->id,
                 (unsigned long long)q->generation);
        rep->probe_ok = false;
        replica_failed(r, rep, t, why);
        attempt_failed(r, a, true, false, t, why);
        return;
    }
    replica_succeeded(rep, took_us);
    sgs_hist_record(rep->shard->lat_cur, took_us);
    sgs_histogram_observe(r->m.leaf_latency, took_us);
    slot_remove(sl, a);
    if (rep->in_flight > 0)
        rep->in_flight--;
    if (sl->status != ROOT_SLOT_PENDING)
        return;
    sl->resp = sr;
    sl->replica = (int)rep->index;
    sl->took_ms = (double)took_us / 1000.0;
    if (a->hedge) {
        sl->hedge_won = true;
        sgs_counter_inc(r->m.hedges_won);
    }
    slot_settle(r, q, sl, ROOT_SLOT_OK, a);
}

static void conn_ready(sgs_ev_io *io, uint32_t events);

static void probe_done(root *r, root_replica *rep, const sgs_http_response *resp, const char *fail);

static void drive(root *r, root_conn *c)
{
    sgs_http_response resp;
    sgs_err err;
    err.code = 0; /* not = {0}: this runs twice per sub-request */
    err.msg[0] = 0;
    int rc = sgs_http_conn_io(&c->http, &resp, &err);
    if (rc == SGS_HTTP_IO_WANT_WRITE || rc == SGS_HTTP_IO_WANT_READ) {
        uint32_t ev = (rc == SGS_HTTP_IO_WANT_WRITE ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP;
        sgs_err e2;
        e2.code = 0;
        e2.msg[0] = 0;
        if (sgs_evloop_io_mod(r->loop, &c->io, ev, &e2) == 0)
            return;
        rc = SGS_EIO;
        sgs_err_set(&err, SGS_EIO, "%s", e2.msg);
    }
    if (c->probe) {
        root_replica *rep = c->rep;
        rep->probe_conn = NULL;
        if (rc == SGS_HTTP_IO_DONE)
            probe_done(r, rep, &resp, NULL);
        else
            probe_done(r, rep, NULL, err.msg);
        conn_free(r, c);
        return;
    }
    root_attempt *a = c->att;
    if (rc == SGS_HTTP_IO_DONE) {
        attempt_answered(r, a, &resp);
        return;
    }
    /* A kept-alive connection the leaf closed just before our request: try
     * once more on a fresh one without blaming the replica. */
    bool stale = c->http.n_responses > 0 && c->http.in.len == 0;
    root_query *q = a->q;
    root_slot *sl = &q->slots[a->shard];
    root_replica *rep = a->rep;
    if (stale && !a->fresh_retry) {
        bool hedge = a->hedge;
        slot_remove(sl, a);
        attempt_cancel(r, a, false);
        send_attempt(r, q, sl, -1, hedge, true, rep);
        return;
    }
    replica_failed(r, rep, "connection_error", err.msg);
    attempt_failed(r, a, true, false, "connection_error", err.msg);
}

static void conn_ready(sgs_ev_io *io, uint32_t events)
{
    root_conn *c = (root_conn *)((char *)io - offsetof(root_conn, io));
    root *r = c->rep->r;
    if (c->att == NULL && !c->probe) {
        /* Idle: the peer closed it or sent stray bytes. */
        (void)events;
        if (sgs_http_conn_idle_broken(&c->http)) {
            idle_unlink(c);
            conn_free(r, c);
        }
        return;
    }
    drive(r, c);
}

/* Writes the deadline left into the encoded request (offset 12). */
static void patch_deadline(sgs_buf *wire, uint64_t now, uint64_t deadline_ns)
{
    uint32_t ms = deadline_ns > now ? (uint32_t)((deadline_ns - now + 999999u) / 1000000u) : 1;
    if (wire->len >= 16) {
        wire->data[12] = (uint8_t)ms;
        wire->data[13] = (uint8_t)(ms >> 8);
        wire->data[14] = (uint8_t)(ms >> 16);
        wire->data[15] = (uint8_t)(ms >> 24);
    }
}

/* Why shard s has no replica to ask: each replica's last error, and the
 * first one's type (or a generation mismatch, or plain unavailability). */
static void no_replica_error(root_slot *sl, const root_shard *s, uint64_t gen)
{
    size_t n = (size_t)snprintf(sl->error, sizeof sl->error,
                                "no ready replica of shard %u at generation %016llx", s->id,
                                (unsigned long long)gen);
    const char *type = NULL;
    for (uint32_t i = 0; i < s->n_replicas && n < sizeof sl->error; i++) {
        const root_replica *rep = &s->replicas[i];
        const char *why = rep->last_error, *t = rep->last_error_type;
        if (why[0] == 0 && rep->probe_ok && gen != 0 && rep->generation != gen) {
            why = "serves another generation";
            t = "generation_mismatch";
        }
        if (why[0] == 0)
            continue;
        n += (size_t)snprintf(sl->error + n, sizeof sl->error - n, "; replica %u: %s", i, why);
        if (type == NULL && t[0] != 0)
            type = t;
    }
    snprintf(sl->error_type, sizeof sl->error_type, "%s",
             type ? type : sgs_err_type(SGS_EUNAVAILABLE));
}

static void send_attempt(root *r, root_query *q, root_slot *sl, int avoid, bool hedge, bool fresh,
                         root_replica *same)
{
    root_shard *s = &r->shards[sl->shard];
    uint64_t now = sgs_evloop_now(r->loop);
    int idx = same ? (int)same->index : root_pick_replica(r, s, now, avoid);
    if (idx < 0 && avoid >= 0 && !hedge)
        idx = root_pick_replica(r, s, now, -1);
    if (idx < 0) {
        if (hedge)
            return;
        if (sl->error[0] == 0)
            no_replica_error(sl, s, q->generation);
        if (sl->active[0] == NULL)
            slot_settle(r, q, sl, ROOT_SLOT_FAILED, NULL);
        return;
    }
    root_replica *rep = &s->replicas[idx];
    sgs_err err = {0};
    root_conn *c = conn_for(r, rep, fresh, &err);
    sl->n_tries++;
    if (sl->first_ns == 0)
        sl->first_ns = now;
    if (c == NULL) {
        const char *t = rep->addr_len == 0 ? "unresolved" : "connection_error";
        replica_failed(r, rep, t, err.msg);
        slot_error(sl, t, "replica %d: %.160s", idx, err.msg);
        sl->replica = idx;
        if (!hedge && sl->active[0] == NULL && sl->n_tries <= s->n_replicas &&
            now + 1000000u < q->deadline_ns) {
            sgs_counter_inc(r->m.retries);
            sl->retried++;
            send_attempt(r, q, sl, idx, false, false, NULL);
        } else if (sl->active[0] == NULL)
            slot_settle(r, q, sl, ROOT_SLOT_FAILED, NULL);
        return;
    }
    root_attempt *a = sgs_arena_zalloc(&q->arena, sizeof *a);
    a->q = q;
    a->shard = sl->shard;
    a->rep = rep;
    a->conn = c;
    a->start_ns = now;
    a->hedge = hedge;
    a->fresh_retry = fresh;
    c->att = a;
    sl->active[sl->active[0] ? 1 : 0] = a;
    rep->in_flight++;
    rep->sent++;
    sgs_counter_inc(r->m.leaf_requests);
    if (!hedge) {
        r->primaries++;
        root_hedge_credit(r, r->cfg->hedge_budget);
    }
    patch_deadline(&q->wire, now, q->deadline_ns);
    sgs_http_format_request(&c->http.out, "POST", rep->host_header, "/v1/shard/search",
                            q->trace_headers, SGS_WIRE_CONTENT_TYPE, q->wire.data, q->wire.len);
    c->http.out_off = 0;
    drive(r, c);
}


static void hedge_timer_cb(sgs_ev_timer *t)
{
    root_slot *sl = (root_slot *)((char *)t - offsetof(root_slot, hedge_timer));
    root_query *q = sl->q;
    root *r = the_root;
    if (q->done || sl->status != ROOT_SLOT_PENDING || sl->active[0] == NULL ||
        sl->active[1] != NULL)
        return;
    root_shard *s = &r->shards[sl->shard];
    uint64_t now = sgs_evloop_now(r->loop);
    int idx = root_pick_replica(r, s, now, (int)sl->active[0]->rep->index);
    if (idx < 0 || idx == (int)sl->active[0]->rep->index || !root_hedge_take(r)) {
        /* No other replica or no token now: look again shortly rather than
         * leave the sub-request to its stall (the deadline still ends it). */
        uint64_t again = s->hedge_delay_ns / 4;
        sgs_evloop_timer_arm(r->loop, &sl->hedge_timer,
                             now + (again < 1000000u ? 1000000u : again));
        return;
    }
    sl->hedged = true;
    sgs_counter_inc(r->m.hedges_sent);
    send_attempt(r, q, sl, -1, true, false, &s->replicas[idx]);
}

static void deadline_cb(sgs_ev_timer *t)
{
    root_query *q = (root_query *)((char *)t - offsetof(root_query, deadline_timer));
    root *r = the_root;
    for (uint32_t i = 0; i < r->n_shards && !q->done; i++) {
        root_slot *sl = &q->slots[i];
        if (sl->status == ROOT_SLOT_PENDING) {
            char earlier[sizeof sl->error];
            memcpy(earlier, sl->error, sizeof earlier);
            slot_error(sl, sgs_err_type(SGS_ETIMEOUT), "no answer within the deadline%s%.150s",
                       earlier[0] ? "; earlier: " : "", earlier);
            for (int j = 0; j < 2; j++)
                if (sl->active[j]) {
                    sl->waiting[j] = (int)sl->active[j]->rep->index;
                    if (j == 0)
                        sl->replica = sl->waiting[0];
                    attempt_cancel(r, sl->active[j], true);
                    sl->active[j] = NULL;
                }
            slot_settle(r, q, sl, ROOT_SLOT_TIMED_OUT, NULL);
        }
    }
}

static void release_cb(sgs_ev_timer *t)
{
    root_query *q = (root_query *)((char *)t - offsetof(root_query, deadline_timer));
    root_query_put(the_root, q);
}

/* Answers the client at once; the query object goes back to the pool from a
 * timer of this round, after every callback still on the stack has seen
 * q->done. */
static void query_finish(root *r, root_query *q)
{
    if (q->done)
        return;
    q->done = true;
    if (q->client_watched)
        sgs_evloop_io_del(r->loop, &q->client_io);
    q->client_watched = false;
    sgs_evloop_timer_cancel(r->loop, &q->watch_timer);
    sgs_evloop_timer_cancel(r->loop, &q->deadline_timer);
    for (uint32_t i = 0; i < r->n_shards; i++)
        sgs_evloop_timer_cancel(r->loop, &q->slots[i].hedge_timer);
    root_api_finish(r, q);
    sgs_ev_timer_init(&q->deadline_timer, release_cb);
    sgs_evloop_timer_arm(r->loop, &q->deadline_timer, sgs_evloop_now(r->loop));
}

/* The client closed its connection: the answer has no reader, so every
 * outstanding sub-request is cancelled now. */
static void client_gone(sgs_ev_io *io, uint32_t events)
{
    root_query *q = (root_query *)((char *)io - offsetof(root_query, client_io));
    root *r = the_root;
    if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || q->done)
        return;
    sgs_counter_inc(r->m.client_gone);
    for (uint32_t i = 0; i < r->n_shards && !q->done; i++) {
        root_slot *sl = &q->slots[i];
        if (sl->status != ROOT_SLOT_PENDING)
            continue;
        slot_error(sl, "client_gone", "the client went away");
        slot_settle(r, q, sl, ROOT_SLOT_FAILED, NULL);
    }
}

static void watch_cb(sgs_ev_timer *t)
{
    root_query *q = (root_query *)((char *)t - offsetof(root_query, watch_timer));
    root *r = the_root;
    if (!q->done && !q->client_watched && q->client_fd >= 0)
        q->client_watched = sgs_evloop_io_add(r->loop, &q->client_io, q->client_fd, EPOLLRDHUP,
                                              client_gone, NULL) == 0;
}

static bool refuse_unknown_fields(root *r, root_query *q);

void root_query_start(root *r, root_query *q)
{
    uint64_t now = sgs_evloop_now(r->loop);
    q->generation = atomic_load(&r->serving_generation);
    if (refuse_unknown_fields(r, q)) {
        root_query_put(r, q);
        return;
    }
    q->slots = sgs_arena_zalloc(&q->arena, r->n_shards * sizeof *q->slots);
    q->n_pending = r->n_shards;
    q->done = false;
    sgs_ev_timer_init(&q->deadline_timer, deadline_cb);
    sgs_ev_timer_init(&q->watch_timer, watch_cb);
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_slot *sl = &q->slots[i];
        sl->q = q;
        sl->shard = i;
        sl->replica = -1;
        sl->waiting[0] = sl->waiting[1] = -1;
        sgs_ev_timer_init(&sl->hedge_timer, hedge_timer_cb);
    }
    if (q->deadline_ns <= now) {
        for (uint32_t i = 0; i < r->n_shards; i++) {
            q->slots[i].status = ROOT_SLOT_TIMED_OUT;
            slot_error(&q->slots[i], sgs_err_type(SGS_ETIMEOUT), "the deadline passed before the query started");
        }
        q->n_pending = 0;
        query_finish(r, q);
        return;
    }
    sgs_evloop_timer_arm(r->loop, &q->deadline_timer, q->deadline_ns);
    q->client_watched = false;
    if (q->client_fd >= 0)
        sgs_evloop_timer_arm(r->loop, &q->watch_timer, now + CLIENT_WATCH_DELAY_NS);
    /* The query may finish inside the loop (every shard failing at once):
     * q->done guards the slots after that. */
    for (uint32_t i = 0; i < r->n_shards && !q->done; i++) {
        root_slot *sl = &q->slots[i];
        send_attempt(r, q, sl, -1, false, false, NULL);
        if (!q->done && sl->status == ROOT_SLOT_PENDING && r->cfg->hedge_budget > 0 &&
            r->shards[i].n_replicas > 1)
            sgs_evloop_timer_arm(r->loop, &sl->hedge_timer, now + r->shards[i].hedge_delay_ns);
    }
}

/* ---- probes ------------------------------------------------------------ */

static uint64_t parse_hex64(const char *s, bool *ok)
{
    uint64_t v = 0;
    *ok = s != NULL && strlen(s) == 16;
    for (int i = 0; *ok && i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            *ok = false;
        v = v * 16 + (uint64_t)(d < 0 ? 0 : d);
    }
    return v;
}

/* Keeps the stored field names a leaf lists (a JSON array of strings), so
 * queries naming another field are refused before any leaf is asked. */
static void set_stored_fields(root_replica *rep, json_t *names)
{
    size_t n = json_array_size(names);
    bool same = json_is_array(names) && rep->stored_known && n == rep->n_stored_fields;
    for (size_t i = 0; same && i < n; i++) {
        const char *s = json_string_value(json_array_get(names, i));
        same = s && strcmp(s, rep->stored_fields[i]) == 0;
    }
    if (same)
        return;
    for (uint32_t i = 0; i < rep->n_stored_fields; i++)
        free(rep->stored_fields[i]);
    free(rep->stored_fields);
    rep->stored_fields = NULL;
    rep->n_stored_fields = 0;
    rep->stored_known = false;
    if (!json_is_array(names))
        return;
    rep->stored_fields = sgs_xcalloc(n ? n : 1, sizeof *rep->stored_fields);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(names, i));
        if (s)
            rep->stored_fields[rep->n_stored_fields++] = sgs_xstrdup(s);
    }
    rep->stored_known = true;
}

/* The stored field names at generation gen, from any ready replica that
 * listed them; NULL when none did (then every name is let through). */
static const root_replica *stored_fields_of(root *r, uint64_t gen)
{
    for (uint32_t i = 0; i < r->n_shards; i++)
        for (uint32_t j = 0; j < r->shards[i].n_replicas; j++) {
            const root_replica *rep = &r->shards[i].replicas[j];
            if (rep->probe_ok && rep->stored_known && rep->generation == gen)
                return rep;
        }
    return NULL;
}

/* A query naming a field the index does not store: answered 400 at once,
 * before any leaf is asked. */
static bool refuse_unknown_fields(root *r, root_query *q)
{
    const root_replica *known = q->fields ? stored_fields_of(r, q->generation) : NULL;
    if (known == NULL)
        return false;
    for (uint32_t i = 0; i < q->n_fields; i++) {
        bool found = false;
        for (uint32_t k = 0; k < known->n_stored_fields && !found; k++)
            found = strcmp(q->fields[i], known->stored_fields[k]) == 0;
        if (found)
            continue;
        char reason[400];
        size_t n = (size_t)snprintf(reason, sizeof reason,
                                    "unknown field '%.100s' in fields; stored fields:",
                                    q->fields[i]);
        for (uint32_t k = 0; k < known->n_stored_fields && n < sizeof reason; k++)
            n += (size_t)snprintf(reason + n, sizeof reason - n, "%s %.60s", k ? "," : "",
                                  known->stored_fields[k]);
        if (known->n_stored_fields == 0 && n < sizeof reason)
            snprintf(reason + n, sizeof reason - n, " none");
        sgs_counter_inc(r->m.requests_bad);
        sgs_http_reply_error(q->req, SGS_EBADREQ, reason);
        sgs_http_complete(q->req);
        return true;
    }
    return false;
}

static void probe_done(root *r, root_replica *rep, const sgs_http_response *resp, const char *fail)
{
    char why[160] = "";
    const char *type = "probe_failed";
    bool ok = false;
    uint64_t next = sgs_evloop_now(r->loop) + (uint64_t)r->cfg->probe_interval_ms * 1000000u;
    if (rep->addr_len == 0) {
        /* The name went away while the probe ran: the resolver's reason stands. */
        rep->probe_ok = false;
        sgs_evloop_timer_arm(r->loop, &rep->probe_timer, next);
        return;
    }
    if (fail) {
        snprintf(why, sizeof why, "probe: %.140s", fail);
        /* The address may have moved (a rescheduled pod): look it up again. */
        root_resolve_request(r, rep);
    }
    else if (resp->status != 200)
        snprintf(why, sizeof why, "probe: /v1/shard/info answered %d", resp->status);
    else {
        json_error_t je;
        json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, &je);
        json_t *shard = json_object_get(j, "shard");
        json_t *proto = json_object_get(j, "protocol");
        bool gen_ok;
        uint64_t gen = parse_hex64(json_string_value(json_object_get(j, "generation")), &gen_ok);
        if (!j || !json_is_integer(shard) || !gen_ok) {
            snprintf(why, sizeof why, "probe: /v1/shard/info is not the leaf's JSON");
        } else if ((uint64_t)json_integer_value(shard) != rep->shard->id) {
            type = "misrouted";
            snprintf(why, sizeof why, "misrouted: leaf serves shard %lld, topology says %u",
                     (long long)json_integer_value(shard), rep->shard->id);
        } else if (!json_is_integer(proto) || json_integer_value(proto) != SGS_WIRE_VERSION) {
            type = sgs_err_type(SGS_EPROTOCOL);
            snprintf(why, sizeof why, "protocol_mismatch: leaf speaks protocol %lld, root %u",
                     json_is_integer(proto) ? (long long)json_integer_value(proto) : -1LL,
                     SGS_WIRE_VERSION);
        } else if (!json_is_true(json_object_get(j, "ready"))) {
            type = "not_ready";
            snprintf(why, sizeof why, "leaf not ready");
        } else {
            ok = true;
            rep->generation = gen;
            set_stored_fields(rep, json_object_get(j, "stored_fields"));
        }
        json_decref(j);
    }
    uint64_t now = sgs_evloop_now(r->loop);
    if (ok) {
        if (!rep->probe_ok || rep->ejected_until_ns != 0)
            rep->ready_since_ns = now;
        if (rep->ejected_until_ns != 0 && now >= rep->ejected_until_ns) {
            rep->ejected_until_ns = 0;
            rep->consecutive_failures = 0;
            sgs_log(SGS_LOG_INFO, "replica_readmitted", "shard %u replica %s", rep->shard->id,
                    rep->url);
        }
        if (rep->ejected_until_ns == 0) {
            rep->last_error[0] = 0;
            rep->last_error_type[0] = 0;
        }
    } else {
        if (rep->probe_ok)
            sgs_log(SGS_LOG_WARN, "replica_not_ready", "shard %u replica %s: %s", rep->shard->id,
                    rep->url, why);
        snprintf(rep->last_error, sizeof rep->last_error, "%.150s", why);
        snprintf(rep->last_error_type, sizeof rep->last_error_type, "%s", type);
    }
    rep->probe_ok = ok;
    if (rep->ejected_until_ns > now && rep->ejected_until_ns < next)
        next = rep->ejected_until_ns;
    sgs_evloop_timer_arm(r->loop, &rep->probe_timer, next);
}

static void probe_timer_cb(sgs_ev_timer *t)
{
    root_replica *rep = (root_replica *)((char *)t - offsetof(root_replica, probe_timer));
    root *r = rep->r;
    if (rep->probe_conn) {
        /* The probe did not answer in time. */
        root_conn *c = rep->probe_conn;
        rep->probe_conn = NULL;
        conn_free(r, c);
        probe_done(r, rep, NULL, "timed out");
        return;
    }
    if (rep->addr_len == 0) {
        /* Unresolved: not ready, and the resolver's reason stays; the
         * resolver's next result (periodic) arms the probe again. */
        if (rep->probe_ok)
            sgs_log(SGS_LOG_WARN, "replica_not_ready", "shard %u replica %s: %s",
                    rep->shard->id, rep->url, rep->last_error);
        rep->probe_ok = false;
        sgs_evloop_timer_arm(r->loop, &rep->probe_timer,
                             sgs_evloop_now(r->loop) + (uint64_t)r->cfg->probe_interval_ms * 1000000u);
        return;
    }
    sgs_err err = {0};
    root_conn *c = conn_for(r, rep, true, &err);
    if (c == NULL) {
        probe_done(r, rep, NULL, err.msg);
        return;
    }
    c->probe = true;
    rep->probe_conn = c;
    rep->probe_started_ns = sgs_evloop_now(r->loop);
    sgs_http_format_request(&c->http.out, "GET", rep->host_header, "/v1/shard/info",
                            "Connection: close\r\n", NULL, NULL, 0);
    sgs_evloop_timer_arm(r->loop, &rep->probe_timer,
                         rep->probe_started_ns + (uint64_t)r->cfg->probe_timeout_ms * 1000000u);
    drive(r, c);
}

/* ---- maintenance ------------------------------------------------------- */

/* Chooses the newest generation every shard has a ready replica of; failing
 * that, the one most shards have (newest among ties), so a missing shard
 * still lets the others answer. */
static void choose_generation(root *r, uint64_t now)
{
    uint64_t gens[64];
    uint32_t counts[64];
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_shard *s = &r->shards[i];
        uint64_t seen[ROOT_MAX_REPLICAS];
        uint32_t n_seen = 0;
        for (uint32_t j = 0; j < s->n_replicas; j++) {
            root_replica *rep = &s->replicas[j];
            if (!root_replica_eligible(rep, 0, now))
                continue;
            bool dup = false;
            for (uint32_t k = 0; k < n_seen; k++)
                dup |= seen[k] == rep->generation;
            if (dup)
                continue;
            seen[n_seen++] = rep->generation;
            uint32_t k = 0;
            while (k < n && gens[k] != rep->generation)
                k++;
            if (k == n && n < 64) {
                gens[n] = rep->generation;
                counts[n++] = 0;
            }
            if (k < n)
                counts[k]++;
        }
    }
    uint64_t best = 0;
    uint32_t best_count = 0;
    for (uint32_t k = 0; k < n; k++)
        if (counts[k] > best_count || (counts[k] == best_count && gens[k] > best)) {
            best = gens[k];
            best_count = counts[k];
        }
    uint64_t old = atomic_load(&r->serving_generation);
    if (best_count > 0 && best != old) {
        sgs_log(SGS_LOG_INFO, "generation", "serving generation %016llx (%u of %u shards)",
                (unsigned long long)best, best_count, r->n_shards);
        atomic_store(&r->serving_generation, best);
    }
    atomic_store(&r->ready, best_count == r->n_shards && r->n_shards > 0);
}

static void maint_cb(sgs_ev_timer *t)
{
    root *r = (root *)((char *)t - offsetof(root, maint_timer));
    uint64_t now = sgs_evloop_now(r->loop);
    choose_generation(r, now);
    if (now - r->burst_mark_ns >= 1000000000u) {
        /* The bucket holds ROOT_HEDGE_BURST_S seconds of what the last
         * second's primaries earned, so a stall as long as that can be
         * hedged throughout while the long-run share stays the budget. */
        double per_s = (double)(r->primaries - r->primaries_mark) * 1e9 /
                       (double)(now - r->burst_mark_ns);
        r->hedge_burst = per_s * r->cfg->hedge_budget * ROOT_HEDGE_BURST_S;
        r->primaries_mark = r->primaries;
        r->burst_mark_ns = now;
    }
    bool rotate = now - r->last_rotate_ns >= ROTATE_INTERVAL_NS;
    if (rotate)
        r->last_rotate_ns = now;
    sgs_hist *tmp = sgs_hist_new();
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_shard *s = &r->shards[i];
        sgs_hist_reset(tmp);
        sgs_hist_merge(tmp, s->lat_prev);
        sgs_hist_merge(tmp, s->lat_cur);
        uint64_t lo = (uint64_t)(r->cfg->hedge_min_ms * 1e6);
        uint64_t hi = (uint64_t)r->cfg->hedge_max_ms * 1000000u;
        uint64_t d = hi;
        if (sgs_hist_count(tmp) >= HEDGE_MIN_SAMPLES)
            d = sgs_hist_quantile(tmp, r->cfg->hedge_quantile) * 1000u;
        s->hedge_delay_ns = d < lo ? lo : d > hi ? hi : d;
        if (rotate) {
            sgs_hist *x = s->lat_prev;
            s->lat_prev = s->lat_cur;
            s->lat_cur = x;
            sgs_hist_reset(s->lat_cur);
        }
        for (uint32_t j = 0; j < s->n_replicas; j++) {
            root_replica *rep = &s->replicas[j];
            uint32_t reaped = 0;
            for (root_conn **p = &rep->idle; *p && reaped < IDLE_REAP_PER_TICK;) {
                root_conn *c = *p;
                if (now - c->idle_since_ns > IDLE_TIMEOUT_NS) {
                    reaped++;
                    *p = c->next;
                    rep->n_idle--;
                    conn_free(r, c);
                } else
                    p = &c->next;
            }
        }
    }
    sgs_hist_free(tmp);
    sgs_evloop_timer_arm(r->loop, &r->maint_timer, now + MAINT_INTERVAL_NS);
}

/* ---- hand-off ---------------------------------------------------------- */

/* The resolver gave rep a new address, or took it away: connections to the
 * old one are dropped, and a replica that just resolved is probed now. */
static void address_changed(root *r, root_replica *rep, bool was_resolved)
{
    while (rep->idle) {
        root_conn *c = rep->idle;
        rep->idle = c->next;
        rep->n_idle--;
        conn_free(r, c);
    }
    if (rep->addr_len > 0 && rep->probe_conn == NULL &&
        (!was_resolved || !rep->probe_ok))
        sgs_evloop_timer_arm(r->loop, &rep->probe_timer, sgs_evloop_now(r->loop));
}

static void on_wake(void *ctx)
{
    root_resolve_apply(ctx, address_changed);
}

root_query *root_query_get(root *r)
{
    root_query *q = r->free_queries;
    if (q)
        r->free_queries = q->next;
    else {
        q = sgs_xcalloc(1, sizeof *q);
        sgs_arena_init(&q->arena, 16384);
        sgs_buf_init(&q->wire);
    }
    q->req = NULL;
    q->client_fd = -1;
    q->client_watched = false;
    q->k = 10;
    q->offset = 0;
    q->allow_partial = true;
    q->fields = NULL;
    q->n_fields = 0;
    q->slots = NULL;
    q->n_pending = 0;
    q->done = false;
    q->next = NULL;
    q->traceparent[0] = 0;
    q->trace_headers[0] = 0;
    sgs_buf_reset(&q->wire);
    return q;
}

void root_query_put(root *r, root_query *q)
{
    sgs_arena_reset(&q->arena);
    q->next = r->free_queries;
    r->free_queries = q;
}

static void *loop_main(void *arg)
{
    root *r = arg;
    sgs_evloop_run(r->loop);
    return NULL;
}

int root_scatter_start(root *r, sgs_err *err)
{
    the_root = r;
    r->loop = sgs_evloop_new(err);
    if (r->loop == NULL)
        return err->code;
    if (root_resolve_start(r, err) != 0)
        return err->code;
    r->rng = sgs_now_ns() | 1;
    r->hedge_tokens = r->cfg->hedge_budget > 0 ? ROOT_HEDGE_BURST : 0;
    sgs_evloop_on_wake(r->loop, on_wake, r);
    uint64_t now = sgs_now_ns();
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_shard *s = &r->shards[i];
        s->lat_cur = sgs_hist_new();
        s->lat_prev = sgs_hist_new();
        s->hedge_delay_ns = (uint64_t)r->cfg->hedge_max_ms * 1000000u;
        for (uint32_t j = 0; j < s->n_replicas; j++) {
            root_replica *rep = &s->replicas[j];
            rep->r = r;
            sgs_ev_timer_init(&rep->probe_timer, probe_timer_cb);
            sgs_evloop_timer_arm(r->loop, &rep->probe_timer, now);
        }
    }
    sgs_ev_timer_init(&r->maint_timer, maint_cb);
    r->last_rotate_ns = now;
    r->burst_mark_ns = now;
    sgs_evloop_timer_arm(r->loop, &r->maint_timer, now + 20000000u);
    return 0;
}

int root_scatter_run(root *r, sgs_err *err)
{
    int rc = pthread_create(&loop_thread, NULL, loop_main, r);
    if (rc != 0)
        return sgs_err_set(err, SGS_EINTERNAL, "pthread_create: %s", strerror(rc));
    return 0;
}

static void conn_destroy(root_conn *c)
{
    sgs_http_conn_fini(&c->http);
    free(c);
}

bool root_scatter_stop(root *r)
{
    bool resolver_stopped = root_resolve_stop(r);
    sgs_evloop_stop(r->loop);
    pthread_join(loop_thread, NULL);
    if (!resolver_stopped)
        return false;
    for (uint32_t i = 0; i < r->n_shards; i++) {
        root_shard *s = &r->shards[i];
        for (uint32_t j = 0; j < s->n_replicas; j++) {
            root_replica *rep = &s->replicas[j];
            while (rep->idle) {
                root_conn *c = rep->idle;
                rep->idle = c->next;
                conn_destroy(c);
            }
            if (rep->probe_conn)
                conn_destroy(rep->probe_conn);
            rep->probe_conn = NULL;
        }
        sgs_hist_free(s->lat_cur);
        sgs_hist_free(s->lat_prev);
    }
    while (r->free_conns) {
        root_conn *c = r->free_conns;
        r->free_conns = c->next;
        conn_destroy(c);
    }
    while (r->free_queries) {
        root_query *q = r->free_queries;
        r->free_queries = q->next;
        sgs_arena_fini(&q->arena);
        sgs_buf_fini(&q->wire);
        free(q);
    }
    sgs_evloop_free(r->loop);
    return true;
}
