/* HTTP server: a real server on loopback driven by a raw socket client:
 * keep-alive, routing errors, body cap, in-flight bound, asynchronous
 * completion from other threads, per-thread state, draining stop. */
#include "common/http_server.h"
#include "tests/unit/raw_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- handlers ---- */

typedef struct fixture {
    _Atomic int thread_inits;
    _Atomic int thread_finis;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    sgs_http_request *held[8]; /* pending requests awaiting release */
    int n_held;
} fixture;

static void *thread_init(void *ctx)
{
    fixture *f = ctx;
    atomic_fetch_add(&f->thread_inits, 1);
    int *state = malloc(sizeof *state);
    *state = 7;
    return state;
}

static void thread_fini(void *ctx, void *state)
{
    fixture *f = ctx;
    atomic_fetch_add(&f->thread_finis, 1);
    free(state);
}

static sgs_http_result h_hello(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    int *state = sgs_http_thread_state(req);
    cr_assert(state != NULL && *state == 7);
    const char *who = sgs_http_query_arg(req, "who");
    const char *trace = sgs_http_header(req, "traceparent");
    if (trace)
        sgs_http_reply_header(req, "traceparent", trace);
    sgs_http_reply(req, 200, "text/plain");
    sgs_buf_printf(sgs_http_reply_body(req), "hello %s", who ? who : "world");
    return SGS_HTTP_DONE;
}

static sgs_http_result h_echo(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    size_t len;
    const uint8_t *body = sgs_http_body(req, &len);
    sgs_http_reply(req, 200, "application/octet-stream");
    sgs_buf_append(sgs_http_reply_body(req), body, len);
    return SGS_HTTP_DONE;
}

static void *complete_later(void *p)
{
    sgs_http_request *req = p;
    size_t len;
    const uint8_t *body = sgs_http_body(req, &len);
    int delay_us = len > 0 ? atoi((const char *)body) : 0;
    if (delay_us > 0) {
        struct timespec ts = {0, (long)delay_us * 1000};
        nanosleep(&ts, NULL);
    }
    sgs_http_reply(req, 200, "text/plain");
    sgs_buf_printf(sgs_http_reply_body(req), "async %d", delay_us);
    sgs_http_complete(req);
    return NULL;
}

/* Completes from a detached thread, after the delay (µs) given in the body. */
static sgs_http_result h_async(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, complete_later, req), 0);
    pthread_detach(t);
    return SGS_HTTP_PENDING;
}

/* Holds the request until release_held() is called. */
static sgs_http_result h_hold(void *ctx, sgs_http_request *req)
{
    fixture *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->held[f->n_held++] = req;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return SGS_HTTP_PENDING;
}

static void wait_held(fixture *f, int n)
{
    pthread_mutex_lock(&f->lock);
    while (f->n_held < n)
        pthread_cond_wait(&f->cond, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

static void release_held(fixture *f)
{
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->n_held; i++) {
        sgs_http_reply(f->held[i], 200, "text/plain");
        sgs_buf_printf(sgs_http_reply_body(f->held[i]), "released");
        sgs_http_complete(f->held[i]);
    }
    f->n_held = 0;
    pthread_mutex_unlock(&f->lock);
}

/* Answers 200 "ok" when the query string passes sgs_http_query_check with
 * the names a and b, else 400 with the reason. */
static sgs_http_result h_check(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    static const char *const allowed[] = {"a", "b", NULL};
    sgs_err err = {0};
    if (sgs_http_query_check(req, allowed, &err) != 0) {
        sgs_http_reply_error(req, err.code, err.msg);
        return SGS_HTTP_DONE;
    }
    sgs_http_reply(req, 200, "text/plain");
    sgs_buf_printf(sgs_http_reply_body(req), "ok");
    return SGS_HTTP_DONE;
}

static fixture fx;
static sgs_http_route routes[] = {
    {"GET", "/check", h_check, &fx},
    {"GET", "/hello", h_hello, &fx},
    {"POST", "/echo", h_echo, &fx},
    {"POST", "/async", h_async, &fx},
    {"POST", "/hold", h_hold, &fx},
};

static sgs_http_server *start_with(unsigned threads, unsigned max_inflight, unsigned timeout_s)
{
    memset(&fx, 0, sizeof fx);
    pthread_mutex_init(&fx.lock, NULL);
    pthread_cond_init(&fx.cond, NULL);
    sgs_http_config cfg = {
        .listen = "127.0.0.1:0",
        .threads = threads,
        .conn_timeout_s = timeout_s,
        .max_body = 1000,
        .max_inflight = max_inflight,
        .routes = routes,
        .n_routes = sizeof routes / sizeof routes[0],
        .thread_init = thread_init,
        .thread_fini = thread_fini,
        .thread_ctx = &fx,
    };
    static sgs_http_config kept;
    kept = cfg;
    sgs_err err = {0};
    sgs_http_server *srv = sgs_http_server_start(&kept, &err);
    cr_assert_not_null(srv, "%s", err.msg);
    cr_assert_neq(sgs_http_server_port(srv), 0);
    return srv;
}

static sgs_http_server *start(unsigned threads, unsigned max_inflight)
{
    return start_with(threads, max_inflight, 10);
}

static void stop(sgs_http_server *srv)
{
    cr_assert_eq(sgs_http_server_stop(srv, 2000), 0);
    cr_assert_eq(atomic_load(&fx.thread_inits), atomic_load(&fx.thread_finis));
}

Test(http_server, keep_alive_serves_two_requests_on_one_connection)
{
    sgs_http_server *srv = start(2, 0);
    int fd = dial(sgs_http_server_port(srv));
    const char *req = "GET /hello?who=you HTTP/1.1\r\nHost: x\r\n"
                      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    reply r;
    for (int i = 0; i < 2; i++) {
        send_all(fd, req, strlen(req));
        cr_assert_eq(read_reply(fd, &r), 0);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "hello you");
        cr_assert_null(strcasestr(r.head, "Connection: close"), "%s", r.head);
        cr_assert_not_null(strstr(r.head, "b7ad6b7169203331"), "%s", r.head);
    }
    /* A POST with a body, then a GET, still on the same connection. */
    const char *post = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde";
    send_all(fd, post, strlen(post));
    cr_assert_eq(read_reply(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "abcde");
    cr_assert_null(strcasestr(r.head, "Connection: close"), "%s", r.head);
    send_all(fd, req, strlen(req));
    cr_assert_eq(read_reply(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    close(fd);
    cr_assert_geq(atomic_load(&fx.thread_inits), 1);
    stop(srv);
}

Test(http_server, query_check_refuses_unknown_and_repeated_parameters)
{
    sgs_http_server *srv = start(1, 0);
    static const struct {
        const char *query;
        int status;
        const char *named; /* in the reason */
    } cases[] = {
        {"", 200, NULL},
        {"?a=1", 200, NULL},
        {"?a=1&b=2", 200, NULL},
        {"?B=2&a=", 200, NULL},
        {"?c=1", 400, "'c'"},
        {"?a=1&zz", 400, "'zz'"},
        {"?a=1&a=2", 400, "'a' given more than once"},
        {"?a=1&A=2", 400, "'A' given more than once"},
        {"?b=1&x=1&b=2", 400, "'x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET /check%s HTTP/1.1\r\nHost: x\r\n\r\n", cases[i].query);
        reply r;
        roundtrip(sgs_http_server_port(srv), req, &r);
        cr_assert_eq(r.status, cases[i].status, "%s: %d %s", cases[i].query, r.status, r.body);
        if (cases[i].named) {
            cr_assert_not_null(strstr(r.body, "\"type\":\"bad_request\""), "%s", r.body);
            cr_assert_not_null(strstr(r.body, cases[i].named), "%s: %s", cases[i].query, r.body);
        }
    }
    stop(srv);
}

Test(http_server, unknown_path_and_wrong_method_answer_json)
{
    sgs_http_server *srv = start(1, 0);
    reply r;
    roundtrip(sgs_http_server_port(srv), "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 404);
    cr_assert_not_null(strstr(r.body, "\"type\":\"not_found\""), "%s", r.body);
    cr_assert_not_null(strcasestr(r.head, "Content-Type: application/json"));
    roundtrip(sgs_http_server_port(srv), "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 405);
    cr_assert_not_null(strstr(r.body, "\"type\":\"method_not_allowed\""), "%s", r.body);
    stop(srv);
}

Test(http_server, body_over_the_cap_is_refused)
{
    sgs_http_server *srv = start(1, 0);
    uint16_t port = sgs_http_server_port(srv);
    reply r;
    /* Announced length over the cap: answered before the body is read. */
    int fd = dial(port);
    const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
    send_all(fd, head, strlen(head));
    cr_assert_eq(read_reply(fd, &r), 0);
    cr_assert_eq(r.status, 400);
    cr_assert_not_null(strstr(r.body, "\"type\":\"body_too_large\""), "%s", r.body);
    close(fd);
    /* Chunked body that grows past the cap. */
    fd = dial(port);
    const char *chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_all(fd, chunked, strlen(chunked));
    char chunk[700 + 16];
    int n = snprintf(chunk, sizeof chunk, "2bc\r\n");
    memset(chunk + n, 'a', 700);
    memcpy(chunk + n + 700, "\r\n", 2);
    send_all(fd, chunk, (size_t)n + 702);
    send_all(fd, chunk, (size_t)n + 702);
    send_all(fd, "0\r\n\r\n", 5);
    cr_assert_eq(read_reply(fd, &r), 0);
    cr_assert_eq(r.status, 400);
    cr_assert_not_null(strstr(r.body, "body_too_large"), "%s", r.body);
    /* The body was consumed, so the connection still serves. */
    const char *get = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, get, strlen(get));
    cr_assert_eq(read_reply(fd, &r), 0);
    cr_assert_eq(r.status, 200);
    close(fd);
    /* Exactly at the cap is fine. */
    char big[1200];
    n = snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    memset(big + n, 'b', 1000);
    big[n + 1000] = '\0';
    roundtrip(port, big, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 1000);
    stop(srv);
}

Test(http_server, async_completion_from_other_threads)
{
    sgs_http_server *srv = start(2, 0);
    int fd = dial(sgs_http_server_port(srv));
    reply r;
    /* Immediate completion races the suspend; delayed ones resume it. */
    for (int i = 0; i < 200; i++) {
        int delay = i % 4 == 0 ? 2000 : 0;
        char req[128], body[16];
        int blen = snprintf(body, sizeof body, "%d", delay);
        snprintf(req, sizeof req, "POST /async HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s",
                 blen, body);
        send_all(fd, req, strlen(req));
        cr_assert_eq(read_reply(fd, &r), 0, "request %d", i);
        cr_assert_eq(r.status, 200);
        char want[32];
        snprintf(want, sizeof want, "async %d", delay);
        cr_assert_str_eq(r.body, want);
        cr_assert_null(strcasestr(r.head, "Connection: close"));
    }
    close(fd);
    stop(srv);
}

Test(http_server, inflight_bound_answers_429_then_recovers)
{
    sgs_http_server *srv = start(2, 1);
    uint16_t port = sgs_http_server_port(srv);
    int held = dial(port);
    const char *hold = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    send_all(held, hold, strlen(hold));
    wait_held(&fx, 1);
    cr_assert_eq(sgs_http_server_inflight(srv), 1);
    reply r;
    roundtrip(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 429);
    cr_assert_not_null(strstr(r.body, "too_many_requests"));
    cr_assert_not_null(strcasestr(r.head, "Retry-After: 1"));
    release_held(&fx);
    cr_assert_eq(read_reply(held, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "released");
    close(held);
    roundtrip(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    stop(srv);
}

static void *release_soon(void *p)
{
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    release_held(p);
    return NULL;
}

Test(http_server, stop_waits_for_pending_requests)
{
    sgs_http_server *srv = start(2, 0);
    int fd = dial(sgs_http_server_port(srv));
    const char *hold = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    send_all(fd, hold, strlen(hold));
    wait_held(&fx, 1);
    pthread_t t;
    pthread_create(&t, NULL, release_soon, &fx);
    cr_assert_eq(sgs_http_server_stop(srv, 5000), 0);
    pthread_join(t, NULL);
    close(fd);
}

Test(http_server, listen_addresses_parse)
{
    char host[64];
    uint16_t port;
    sgs_err err = {0};
    cr_assert_eq(sgs_http_parse_listen("127.0.0.1:7001", host, sizeof host, &port, &err), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 7001);
    cr_assert_eq(sgs_http_parse_listen("[::1]:0", host, sizeof host, &port, &err), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 0);
    const char *bad[] = {"127.0.0.1", ":80", "h:", "h:99999", "h:12x", "[::1]80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sgs_err e = {0};
        cr_assert_eq(sgs_http_parse_listen(bad[i], host, sizeof host, &port, &e), SGS_EUSAGE,
                     "%s", bad[i]);
    }
    sgs_http_config cfg = {.listen = "nonsense", .threads = 1, .conn_timeout_s = 1};
    cr_assert_null(sgs_http_server_start(&cfg, &err));
    cr_assert_eq(err.code, SGS_EUSAGE);
}

Test(http_server, stop_past_the_drain_timeout_still_waits_for_parked_requests)
{
    sgs_http_server *srv = start(2, 0);
    int fd = dial(sgs_http_server_port(srv));
    const char *hold = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    send_all(fd, hold, strlen(hold));
    wait_held(&fx, 1);
    pthread_t t;
    pthread_create(&t, NULL, release_soon, &fx);
    /* Drain time 0: one request was still in flight, and stopping did not
     * abort the process on the suspended connection. */
    cr_assert_eq(sgs_http_server_stop(srv, 0), 1);
    pthread_join(t, NULL);
    close(fd);
}

Test(http_server, idle_connections_are_closed_after_the_timeout)
{
    sgs_http_server *srv = start_with(1, 0, 1);
    int fd = dial(sgs_http_server_port(srv));
    /* Half a request, then silence: the server hangs up (the client's own
     * receive timeout is 5 s, so a server that never closes fails here). */
    send_all(fd, "GET /hello HTTP/1.1\r\n", 21);
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    cr_assert_eq(n, 0, "expected the server to close the idle connection, recv gave %zd", n);
    close(fd);
    stop(srv);
}
