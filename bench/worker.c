/* One sgs-bench worker: an epoll loop that sends the run's requests over
 * keep-alive HTTP/1.1 connections and measures their answers.
 *
 * Why its own transport rather than common/http_client: the generator must
 * stamp each request with the time it was meant to leave and the time it
 * actually left, must grow its pool on demand so a stalled server makes
 * requests wait on the clock rather than on the generator, and must count
 * every failure by class (connect, timeout, I/O, HTTP status). That is a
 * few hundred lines over raw non-blocking sockets, with no allocation per
 * request and one write and one read per request on the common path.
 *
 * Invariants:
 * - One request in flight per connection (no pipelining); a connection is
 *   FREE (no socket), CONNECTING, IDLE (open, no request) or BUSY.
 * - Every connection holding a request (CONNECTING with a request, or BUSY)
 *   is on the active list in the order its request was assigned, so the
 *   list head has the earliest timeout.
 * - IDLE connections sit on the idle stack and stay registered for EPOLLIN
 *   so a server-side close is noticed.
 * - Open-loop: intended send times come from the arrival process alone;
 *   a due request that finds no connection stays due (next_ns does not
 *   advance) and its latency still counts from its intended time. */
#include "bench/bench.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"

/* Handshakes in progress at once, per worker: more would overflow the
 * server's listen backlog, and a dropped SYN costs a 1 s retransmit. */
#define MAX_CONNECTING 4

typedef enum conn_state { C_FREE, C_CONNECTING, C_IDLE, C_BUSY } conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    bool has_req;
    bool reused;   /* carried an earlier request: a close before any byte is stale */
    bool on_idle;  /* on the idle stack (IDLE, or CONNECTING without a request) */
    bool measured; /* the request counts in the window */
    bool headers_done, chunked, close_after, until_eof;
    const bench_request *req;
    size_t woff;
    uint64_t intended_ns, assigned_ns, sent_ns;
    int status;
    size_t hdr_len;
    uint64_t content_length;
    sgs_buf in;
    struct conn *prev, *next; /* active list links */
    struct conn *next_idle;   /* idle stack or free list */
} conn;

typedef struct worker {
    const bench_config *cfg;
    bench_result *res;
    int epfd;
    conn *conns;
    size_t cap;           /* pool cap for this worker */
    size_t n_open;        /* connections not FREE */
    size_t n_connecting;  /* connections in CONNECTING */
    conn *free_list, *idle;
    conn *active_head, *active_tail;
    uint64_t start_ns, measure_ns, end_ns, timeout_ns;
    size_t next_req;      /* round-robin position in cfg->requests */
    uint64_t rng;
    bool open_loop;
    uint64_t reconnect_ns; /* closed-loop: earliest time to reopen after a connect failure */
} worker;

static double rand_unit(worker *w)
{
    /* xorshift64*: uniform in (0, 1]. */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    uint64_t x = w->rng * UINT64_C(2685821657736338717);
    return ((double)(x >> 11) + 1.0) / 9007199254740992.0;
}

static void active_push(worker *w, conn *c)
{
    c->next = NULL;
    c->prev = w->active_tail;
    if (w->active_tail)
        w->active_tail->next = c;
    else
        w->active_head = c;
    w->active_tail = c;
}

static void active_remove(worker *w, conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->active_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        w->active_tail = c->prev;
    c->prev = c->next = NULL;
}

static bool in_window(const worker *w, uint64_t t_ns)
{
    return t_ns >= w->measure_ns && t_ns < w->end_ns;
}

static void record_sample(worker *w, const conn *c, uint64_t now, int status)
{
    bench_result *r = w->res;
    if (!w->cfg->record_raw)
        return;
    if (r->n_samples == r->cap_samples) {
        r->cap_samples = r->cap_samples ? r->cap_samples * 2 : 4096;
        r->samples = sgs_xrealloc(r->samples, r->cap_samples * sizeof *r->samples);
    }
    bench_sample *s = &r->samples[r->n_samples++];
    uint64_t lat = (now - c->intended_ns) / 1000u;
    uint64_t svc = c->sent_ns ? (now - c->sent_ns) / 1000u : 0;
    s->intended_ns = c->intended_ns - w->measure_ns;
    s->latency_us = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    s->service_us = svc > UINT32_MAX ? UINT32_MAX : (uint32_t)svc;
    s->status = (uint16_t)status;
    s->cls = (uint16_t)c->req->cls;
}

/* Closes the socket and returns the connection to the free list. */
static void conn_close(worker *w, conn *c)
{
    if (c->has_req)
        active_remove(w, c);
    if (c->on_idle) {
        /* Unlink from the idle stack. */
        conn **p = &w->idle;
        while (*p && *p != c)
            p = &(*p)->next_idle;
        if (*p)
            *p = c->next_idle;
        c->on_idle = false;
    }
    if (c->state == C_CONNECTING)
        w->n_connecting--;
    close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
    c->has_req = false;
    c->next_idle = w->free_list;
    w->free_list = c;
    w->n_open--;
}

static void fail_request(worker *w, conn *c, int err_class, uint64_t now)
{
    if (c->measured) {
        w->res->errors[err_class]++;
        record_sample(w, c, now, 0);
    }
    conn_close(w, c);
}

static conn *conn_open(worker *w)
{
    conn *c = w->free_list;
    if (!c)
        return NULL;
    int fd = socket(w->cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    w->free_list = c->next_idle;
    c->next_idle = NULL;
    c->fd = fd;
    c->state = C_CONNECTING;
    c->has_req = false;
    c->reused = false;
    c->on_idle = false;
    w->n_open++;
    w->n_connecting++;
    w->res->connects++;
    if (w->n_open > w->res->peak_connections)
        w->res->peak_connections = w->n_open;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (const struct sockaddr *)&w->cfg->addr, w->cfg->addr_len) < 0 &&
        errno != EINPROGRESS) {
        /* Refused at once: report it through the event path like a late refusal. */
        c->status = -errno;
    } else {
        c->status = 0;
    }
    return c;
}

static void set_events(worker *w, conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what remains of the request; on a full socket waits for EPOLLOUT. */
static void conn_write(worker *w, conn *c, uint64_t now)
{
    if (c->woff == 0) {
        c->sent_ns = now;
        w->res->sent_total++;
        if (c->measured && w->open_loop) {
            uint64_t lag_ns = now > c->intended_ns ? now - c->intended_ns : 0;
            sgs_hist_record(w->res->send_lag, lag_ns / 1000u);
            if (lag_ns > (uint64_t)w->cfg->late_ms * 1000000u)
                w->res->late_sends++;
        }
        if (c->measured)
            w->res->sent++;
    }
    while (c->woff < c->req->len) {
        ssize_t n = write(c->fd, c->req->bytes + c->woff, c->req->len - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            set_events(w, c, EPOLLIN | EPOLLOUT);
            return;
        }
        fail_request(w, c, c->reused ? BENCH_ERR_IO : BENCH_ERR_CONNECT, now);
        return;
    }
}

/* Gives connection c (CONNECTING or IDLE) the request due at intended_ns. */
static void conn_assign(worker *w, conn *c, const bench_request *req, uint64_t intended_ns,
                        uint64_t now)
{
    c->req = req;
    c->woff = 0;
    c->intended_ns = intended_ns;
    c->assigned_ns = now;
    c->sent_ns = 0;
    c->measured = in_window(w, intended_ns);
    c->headers_done = c->chunked = c->close_after = c->until_eof = false;
    c->hdr_len = 0;
    c->content_length = 0;
    sgs_buf_reset(&c->in);
    c->has_req = true;
    active_push(w, c);
    if (c->state == C_IDLE) {
        c->state = C_BUSY;
        c->reused = true;
        conn_write(w, c, now);
    }
}

static const bench_request *pick_request(worker *w)
{
    const bench_request *r = &w->cfg->requests[w->next_req];
    if (++w->next_req == w->cfg->n_requests)
        w->next_req = 0;
    return r;
}

/* Counts keys `"key"` whose value is the literal true (any spacing). */
static uint64_t count_true(const char *s, size_t n, const char *key, uint64_t *seen)
{
    size_t klen = strlen(key);
    uint64_t hits = 0;
    const char *end = s + n;
    const char *p = s;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), key, klen);
        if (!q)
            break;
        if (seen)
            (*seen)++;
        q += klen;
        while (q < end && (*q == ' ' || *q == ':' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (end - q >= 4 && !memcmp(q, "true", 4))
            hits++;
        p = q;
    }
    return hits;
}

static void scan_body(worker *w, const char *body, size_t n)
{
    bench_result *r = w->res;
    if (count_true(body, n, "\"partial\"", NULL))
        r->partial++;
    r->hedged += count_true(body, n, "\"hedged\"", &r->shard_details);
    r->hedge_won += count_true(body, n, "\"hedge_won\"", NULL);
    r->retried += count_true(body, n, "\"retried\"", NULL);
}

static void complete(worker *w, conn *c, uint64_t now, const char *body, size_t body_len)
{
    bench_result *r = w->res;
    int st = c->status;
    if (c->measured) {
        if (st >= 0 && st < BENCH_MAX_STATUS)
            r->status[st]++;
        if (st >= 200 && st < 300) {
            r->ok++;
            uint64_t lat_us = (now - c->intended_ns) / 1000u;
            sgs_hist_record(r->latency, lat_us);
            sgs_hist_record(r->service, (now - c->sent_ns) / 1000u);
            sgs_hist_record(r->class_latency[c->req->cls], lat_us);
            scan_body(w, body, body_len);
        }
        record_sample(w, c, now, st);
    }
    active_remove(w, c);
    c->has_req = false;
    if (c->close_after || c->until_eof) {
        c->has_req = false;
        conn_close(w, c);
        return;
    }
    c->state = C_IDLE;
    c->on_idle = true;
    c->next_idle = w->idle;
    w->idle = c;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && !strncasecmp(line, name, n);
}

/* Parses the status line and headers once they are complete. Returns 1 when
 * parsed, 0 when more bytes are needed, -1 on a malformed answer. */
static int parse_headers(conn *c)
{
    const char *d = (const char *)c->in.data;
    const char *end = memmem(d, c->in.len, "\r\n\r\n", 4);
    if (!end)
        return c->in.len > 65536 ? -1 : 0;
    c->hdr_len = (size_t)(end - d) + 4;
    if (c->hdr_len < 16 || memcmp(d, "HTTP/1.", 7) != 0)
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        st = st * 10 + (d[i] - '0');
    }
    c->status = st;
    bool have_len = false;
    const char *line = memchr(d, '\n', c->hdr_len) + 1;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        size_t len = (size_t)(eol - line);
        if (header_is(line, len, "content-length:")) {
            c->content_length = strtoull(line + 15, NULL, 10);
            have_len = true;
        } else if (header_is(line, len, "transfer-encoding:")) {
            c->chunked = memmem(line, len, "chunked", 7) != NULL;
        } else if (header_is(line, len, "connection:")) {
            c->close_after = memmem(line, len, "close", 5) != NULL;
        }
        line = eol + 1;
    }
    if (!have_len && !c->chunked)
        c->until_eof = st >= 200 && st != 204 && st != 304;
    c->headers_done = true;
    return 1;
}

/* Whether a chunked body is complete in the buffer: 1 yes, 0 not yet, -1 bad. */
static int chunked_done(const conn *c)
{
    const char *p = (const char *)c->in.data + c->hdr_len;
    const char *end = (const char *)c->in.data + c->in.len;
    for (;;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            return 0;
        char *num_end;
        unsigned long long size = strtoull(p, &num_end, 16);
        if (num_end == p)
            return -1;
        p = eol + 2;
        if (size == 0)
            return end - p >= 2 ? 1 : 0; /* no trailers: the final CRLF */
        if ((unsigned long long)(end - p) < size + 2)
            return 0;
        p += size + 2;
    }
}

static void on_readable(worker *w, conn *c, uint64_t now)
{
    for (;;) {
        sgs_buf_reserve(&c->in, 16384);
        ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            if (c->in.len > (64u << 20)) {
                fail_request(w, c, BENCH_ERR_PROTOCOL, now);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* EOF or error. */
        if (!c->has_req) {
            conn_close(w, c);
            return;
        }
        if (c->until_eof && c->headers_done) {
            complete(w, c, now, (const char *)c->in.data + c->hdr_len,
                     c->in.len - c->hdr_len);
            return;
        }
        if (c->reused && c->in.len == 0) {
            /* The server closed an idle keep-alive connection as we reused
             * it: send the same request again on a fresh connection, still
             * timed from its intended send time. */
            const bench_request *req = c->req;
            uint64_t intended = c->intended_ns;
            bool counted = c->measured && c->sent_ns;
            conn_close(w, c);
            conn *nc = conn_open(w);
            if (!nc) {
                if (in_window(w, intended))
                    w->res->errors[BENCH_ERR_CONNECT]++;
                return;
            }
            conn_assign(w, nc, req, intended, now);
            if (counted)
                w->res->sent--; /* counted again when it leaves */
            return;
        }
        fail_request(w, c, BENCH_ERR_IO, now);
        return;
    }
    if (!c->has_req) {
        /* Bytes on an idle connection: nothing was asked; drop it. */
        if (c->in.len) {
            conn_close(w, c);
        }
        return;
    }
    if (!c->headers_done) {
        int rc = parse_headers(c);
        if (rc < 0) {
            fail_request(w, c, BENCH_ERR_PROTOCOL, now);
            return;
        }
        if (rc == 0)
            return;
    }
    const char *body = (const char *)c->in.data + c->hdr_len;
    size_t have = c->in.len - c->hdr_len;
    if (c->chunked) {
        int rc = chunked_done(c);
        if (rc < 0)
            fail_request(w, c, BENCH_ERR_PROTOCOL, now);
        else if (rc > 0)
            complete(w, c, now, body, have);
    } else if (!c->until_eof && have >= c->content_length) {
        complete(w, c, now, body, (size_t)c->content_length);
    }
}

static void on_event(worker *w, conn *c, uint32_t events, uint64_t now)
{
    if (c->state == C_FREE)
        return;
    if (c->state == C_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (c->status < 0)
            soerr = -c->status;
        else if (events & (EPOLLERR | EPOLLHUP)) {
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            if (soerr == 0)
                soerr = EIO;
        }
        if (soerr) {
            if (!w->open_loop)
                w->reconnect_ns = now + 10000000u;
            if (c->has_req)
                fail_request(w, c, BENCH_ERR_CONNECT, now);
            else {
                /* A connection opened with no request failed. Closed loop: no
                 * request can be sent at all, so count it once as a connect
                 * error. Open loop: it is a pre-opened spare; the requests due
                 * meanwhile fail on their own connections and are counted
                 * there, so errors never exceed requests. */
                if (!w->open_loop && now >= w->measure_ns)
                    w->res->errors[BENCH_ERR_CONNECT]++;
                conn_close(w, c);
            }
            return;
        }
        set_events(w, c, EPOLLIN);
        w->n_connecting--;
        if (c->has_req) {
            c->state = C_BUSY;
            conn_write(w, c, now);
        } else {
            c->state = C_IDLE;
            if (!c->on_idle) {
                c->on_idle = true;
                c->next_idle = w->idle;
                w->idle = c;
            }
        }
        return;
    }
    if ((events & EPOLLOUT) && c->state == C_BUSY && c->woff < c->req->len) {
        conn_write(w, c, now);
        if (c->state == C_FREE)
            return;
        if (c->woff == c->req->len)
            set_events(w, c, EPOLLIN);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(w, c, now);
}

static conn *take_idle(worker *w)
{
    conn *c = w->idle;
    if (c) {
        w->idle = c->next_idle;
        c->next_idle = NULL;
        c->on_idle = false;
    }
    return c;
}

static void expire(worker *w, uint64_t now)
{
    while (w->active_head && now - w->active_head->assigned_ns >= w->timeout_ns)
        fail_request(w, w->active_head, BENCH_ERR_TIMEOUT, now);
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_worker_run(const bench_config *cfg, int index, uint64_t start_ns, bench_result *res)
{
    worker w = {0};
    w.cfg = cfg;
    w.res = res;
    w.open_loop = cfg->rate > 0;
    w.start_ns = start_ns;
    w.measure_ns = start_ns + (uint64_t)(cfg->warmup_s * 1e9);
    w.end_ns = w.measure_ns + (uint64_t)(cfg->duration_s * 1e9);
    w.timeout_ns = (uint64_t)cfg->timeout_ms * 1000000u;
    w.rng = (cfg->seed + (uint64_t)index * UINT64_C(0x9E3779B97F4A7C15)) | 1u;
    w.next_req = cfg->n_requests * (size_t)index / (size_t)cfg->threads;
    size_t n_threads = (size_t)cfg->threads;
    size_t closed_target = 0;
    if (w.open_loop) {
        w.cap = (size_t)cfg->max_connections / n_threads;
    } else {
        closed_target = (size_t)cfg->connections / n_threads +
                        ((size_t)index < (size_t)cfg->connections % n_threads);
        w.cap = closed_target;
    }
    if (w.cap == 0)
        w.cap = 1;
    w.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w.epfd < 0) {
        fprintf(stderr, "sgs-bench: epoll_create1: %s\n", strerror(errno));
        return -1;
    }
    w.conns = sgs_xcalloc(w.cap, sizeof *w.conns);
    for (size_t i = w.cap; i-- > 0;) {
        w.conns[i].fd = -1;
        sgs_buf_init(&w.conns[i].in);
        w.conns[i].next_idle = w.free_list;
        w.free_list = &w.conns[i];
    }
    /* Wake-ups at intended send times should be late by microseconds, not
     * by the default 50 us timer slack. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    double cpu0 = thread_cpu_s();

    /* Open-loop: pre-open a few connections so the first requests do not all
     * pay a handshake; the pool grows on demand beyond them. */
    double rate_w = cfg->rate / (double)n_threads;
    size_t preopen = w.open_loop ? 4 + (size_t)(rate_w / 200.0) : 0;
    if (preopen > w.cap)
        preopen = w.cap;
    for (size_t i = 0; i < preopen; i++) {
        conn *c = conn_open(&w);
        if (!c)
            break;
        /* Still connecting, but a due request may take it: it leaves once
         * the handshake completes. */
        c->on_idle = true;
        c->next_idle = w.idle;
        w.idle = c;
    }

    uint64_t seq = 0; /* open-loop: requests this worker scheduled so far */
    uint64_t blocked_seq = UINT64_MAX;
    uint64_t waited_seq = UINT64_MAX; /* last request that found no connection */
    uint64_t waited_ns = 0;           /* when it did */
    uint64_t next_ns = start_ns;
    if (w.open_loop) {
        if (cfg->arrival == BENCH_ARRIVAL_CONSTANT)
            next_ns = start_ns + (uint64_t)((double)index / cfg->rate * 1e9);
        else
            next_ns = start_ns + (uint64_t)(-log(rand_unit(&w)) / rate_w * 1e9);
    }
    uint64_t drain_ns = w.end_ns + w.timeout_ns;
    struct epoll_event evs[256];

    for (;;) {
        uint64_t now = sgs_now_ns();
        bool blocked = false; /* a due request waits for a connection */
        bool at_cap = false;  /* ... because the pool is at its cap */
        if (w.open_loop) {
            while (next_ns < w.end_ns && next_ns <= now) {
                conn *c = take_idle(&w);
                if (!c && w.n_open < w.cap && w.n_connecting < MAX_CONNECTING)
                    c = conn_open(&w);
                if (!c) {
                    blocked = true;
                    at_cap = w.n_open >= w.cap;
                    if (waited_seq != seq && in_window(&w, next_ns))
                        res->conn_waits++;
                    waited_seq = seq;
                    waited_ns = now; /* every request due by now waited too */
                    break;
                }
                if (in_window(&w, next_ns)) {
                    res->scheduled++;
                    /* How late the loop itself got to this request; a
                     * request that waited for a connection is not the
                     * loop's lateness. */
                    if (waited_seq != seq && next_ns > waited_ns)
                        sgs_hist_record(res->loop_lag, (now - next_ns) / 1000u);
                }
                conn_assign(&w, c, pick_request(&w), next_ns, now);
                seq++;
                if (cfg->arrival == BENCH_ARRIVAL_CONSTANT)
                    next_ns = start_ns + (uint64_t)(((double)seq * (double)n_threads + index) /
                                                    cfg->rate * 1e9);
                else
                    next_ns += (uint64_t)(-log(rand_unit(&w)) / rate_w * 1e9);
            }
            if (at_cap && seq != blocked_seq && in_window(&w, next_ns)) {
                res->pool_waits++; /* once per request that had to wait */
                blocked_seq = seq;
            }
        } else if (now < w.end_ns) {
            conn *c;
            while ((c = take_idle(&w)) != NULL)
                conn_assign(&w, c, pick_request(&w), now, now);
            while (w.n_open < closed_target && now >= w.reconnect_ns && (c = conn_open(&w)))
                conn_assign(&w, c, pick_request(&w), now, now);
        }
        expire(&w, now);

        bool sched_left = w.open_loop && next_ns < w.end_ns;
        if (!sched_left && now >= w.end_ns && !w.active_head)
            break;
        if (now >= drain_ns)
            break;

        /* Sleep until the next intended send, the oldest timeout, or the end. */
        uint64_t wake = drain_ns;
        if (sched_left && !blocked && next_ns < wake)
            wake = next_ns;
        if (w.active_head && w.active_head->assigned_ns + w.timeout_ns < wake)
            wake = w.active_head->assigned_ns + w.timeout_ns;
        if (!w.open_loop && now < w.end_ns) {
            if (w.end_ns < wake)
                wake = w.end_ns;
            if (w.n_open < closed_target && w.reconnect_ns < wake)
                wake = w.reconnect_ns > now ? w.reconnect_ns : now;
        }
        uint64_t wait_ns = wake > now ? wake - now : 0;
        struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
        int n = epoll_pwait2(w.epfd, evs, 256, &ts, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "sgs-bench: epoll_pwait2: %s\n", strerror(errno));
            break;
        }
        now = sgs_now_ns();
        for (int i = 0; i < n; i++)
            on_event(&w, evs[i].data.ptr, evs[i].events, now);
    }

    /* Whatever is still out at the end of the drain timed out; whatever was
     * due in the window but never left counts as unsent. */
    uint64_t now = sgs_now_ns();
    while (w.active_head)
        fail_request(&w, w.active_head, BENCH_ERR_TIMEOUT, now);
    if (w.open_loop) {
        while (next_ns < w.end_ns) {
            if (in_window(&w, next_ns)) {
                res->scheduled++;
                res->unsent++;
            }
            seq++;
            if (cfg->arrival == BENCH_ARRIVAL_CONSTANT)
                next_ns = start_ns +
                          (uint64_t)(((double)seq * (double)n_threads + index) / cfg->rate * 1e9);
            else
                next_ns += (uint64_t)(-log(rand_unit(&w)) / rate_w * 1e9);
        }
    }
    res->cpu_s = thread_cpu_s() - cpu0;
    res->wall_s = (double)(sgs_now_ns() - start_ns) / 1e9;
    for (size_t i = 0; i < w.cap; i++) {
        if (w.conns[i].state != C_FREE)
            close(w.conns[i].fd);
        sgs_buf_fini(&w.conns[i].in);
    }
    free(w.conns);
    close(w.epfd);
    return 0;
}
