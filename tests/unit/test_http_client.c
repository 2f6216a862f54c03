/* The HTTP client: the response parser on whole, split, truncated and garbage
 * input; a connection against a scripted server on loopback (keep-alive,
 * close, reset); the event loop's timers and wake-ups. */
#include "common/http_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/evloop.h"

static long parse(const char *s, size_t max_body, sgs_http_response *r, sgs_err *e)
{
    return sgs_http_parse_response((const uint8_t *)s, strlen(s), max_body, r, e);
}

Test(http_parse, complete_response)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: application/x-sgs-v1\r\n"
                    "Content-Length: 5\r\n\r\nhello";
    sgs_http_response r;
    sgs_err e = {0};
    cr_assert_eq(parse(s, 100, &r, &e), (long)strlen(s), "%s", e.msg);
    cr_assert_eq(r.status, 200);
    cr_assert(r.keep_alive);
    cr_assert_eq(r.body_len, 5);
    cr_assert_eq(memcmp(r.body, "hello", 5), 0);
    cr_assert_eq(r.content_type_len, strlen("application/x-sgs-v1"));
    cr_assert_eq(memcmp(r.content_type, "application/x-sgs-v1", r.content_type_len), 0);
}

Test(http_parse, every_prefix_needs_more_and_extra_bytes_are_not_consumed)
{
    const char *s = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                    "content-length:   3  \r\n\r\nabcNEXT";
    size_t whole = strlen(s) - 4;
    for (size_t n = 0; n < whole; n++) {
        sgs_http_response r;
        sgs_err e = {0};
        long got = sgs_http_parse_response((const uint8_t *)s, n, 100, &r, &e);
        cr_assert_eq(got, 0, "prefix %zu: %ld %s", n, got, e.msg);
    }
    sgs_http_response r;
    sgs_err e = {0};
    cr_assert_eq(sgs_http_parse_response((const uint8_t *)s, strlen(s), 100, &r, &e),
                 (long)whole);
    cr_assert_eq(r.status, 503);
    cr_assert(!r.keep_alive);
    cr_assert_eq(r.body_len, 3);
}

Test(http_parse, header_known_before_body)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab";
    sgs_http_response r;
    sgs_err e = {0};
    cr_assert_eq(parse(s, 100, &r, &e), 0);
    cr_assert_eq(r.header_len, strlen(s) - 2);
    cr_assert_eq(r.body_len, 10);
}

Test(http_parse, http10_closes_unless_keep_alive)
{
    sgs_http_response r;
    sgs_err e = {0};
    cr_assert_gt(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 10, &r, &e), 0);
    cr_assert(!r.keep_alive);
    cr_assert_gt(
        parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 10, &r, &e),
        0);
    cr_assert(r.keep_alive);
    cr_assert_gt(parse("HTTP/1.1 204 No Content\r\n\r\n", 10, &r, &e), 0);
    cr_assert_eq(r.body_len, 0);
}

Test(http_parse, garbage_and_limits)
{
    static const struct {
        const char *text;
        int code;
    } bad[] = {
        {"GARBAGE", SGS_ECORRUPT},
        {"HTTP/2 200 OK\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\r\n folded\r\nContent-Length: 0\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", SGS_ECORRUPT},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", SGS_EPROTOCOL},
        {"HTTP/1.1 200 OK\r\nX: y\r\n\r\n", SGS_EPROTOCOL},
        {"HTTP/1.1 100 Continue\r\n\r\n", SGS_EPROTOCOL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", SGS_ELIMIT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sgs_http_response r;
        sgs_err e = {0};
        long got = parse(bad[i].text, 100, &r, &e);
        cr_assert_eq(got, bad[i].code, "case %zu: got %ld (%s)", i, got, e.msg);
        cr_assert_eq(e.code, bad[i].code);
    }
    /* Headers that never end stop at the cap. */
    size_t n = SGS_HTTP_MAX_HEADER + 10;
    char *big = malloc(n + 1);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', n - 20);
    big[n] = 0;
    sgs_http_response r;
    sgs_err e = {0};
    cr_assert_eq(parse(big, 100, &r, &e), SGS_ELIMIT);
    free(big);
}

Test(http_parse, random_bytes_never_crash)
{
    unsigned seed = (unsigned)sgs_now_ns();
    printf("SGS_TEST_SEED=%u\n", seed);
    const char *good = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nbody";
    size_t gl = strlen(good);
    uint8_t buf[128];
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, good, gl);
        int flips = 1 + rand_r(&seed) % 4;
        for (int f = 0; f < flips; f++)
            buf[rand_r(&seed) % gl] = (uint8_t)rand_r(&seed);
        size_t len = (size_t)rand_r(&seed) % (gl + 1);
        sgs_http_response r;
        sgs_err e = {0};
        long got = sgs_http_parse_response(buf, len, 64, &r, &e);
        if (got > 0) {
            cr_assert_leq((size_t)got, len);
            cr_assert_eq(r.header_len + r.body_len, (size_t)got);
        } else if (got < 0) {
            cr_assert(e.code != 0 && e.msg[0] != 0);
        }
    }
}

Test(http_format, request_text)
{
    sgs_buf b;
    sgs_buf_init(&b);
    sgs_http_format_request(&b, "POST", "h:1", "/v1/shard/search", "traceparent: t\r\n",
                            "application/x-sgs-v1", "xyz", 3);
    const char *want = "POST /v1/shard/search HTTP/1.1\r\nHost: h:1\r\ntraceparent: t\r\n"
                       "Content-Type: application/x-sgs-v1\r\nContent-Length: 3\r\n\r\nxyz";
    cr_assert_eq(b.len, strlen(want));
    cr_assert_eq(memcmp(b.data, want, b.len), 0);
    sgs_buf_fini(&b);
}

/* A scripted server: accepts one connection, and for each request read
 * answers with the next scripted reply; "" means close at once, "RST" means reset. */
typedef struct script {
    int lfd;
    const char *replies[4];
} script;

static void *serve(void *arg)
{
    script *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    char buf[4096];
    for (int i = 0; i < 4 && s->replies[i]; i++) {
        if (!*s->replies[i])
            break;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        if (!strcmp(s->replies[i], "RST")) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        }
        send(fd, s->replies[i], strlen(s->replies[i]), MSG_NOSIGNAL);
    }
    close(fd);
    return NULL;
}

static int listen_any(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)sa, sizeof *sa), 0);
    socklen_t sl = sizeof *sa;
    getsockname(fd, (struct sockaddr *)sa, &sl);
    listen(fd, 4);
    return fd;
}

/* Drives c to completion with poll-like waiting on its fd via epoll. */
static int drive(sgs_http_conn *c, sgs_http_response *r, sgs_err *e)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLOUT};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    int rc;
    for (;;) {
        rc = sgs_http_conn_io(c, r, e);
        if (rc < 0 || rc == SGS_HTTP_IO_DONE)
            break;
        ev.events = rc == SGS_HTTP_IO_WANT_WRITE ? EPOLLOUT : EPOLLIN;
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        struct epoll_event got;
        cr_assert_eq(epoll_wait(ep, &got, 1, 5000), 1);
    }
    close(ep);
    return rc;
}

Test(http_conn, keep_alive_then_close)
{
    struct sockaddr_in sa;
    script s = {.lfd = listen_any(&sa),
                .replies = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                            "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close"
                            "\r\n\r\nnope",
                            NULL}};
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);
    sgs_http_conn c;
    sgs_http_conn_init(&c, 1024);
    sgs_err e = {0};
    cr_assert_eq(sgs_http_conn_connect(&c, (struct sockaddr *)&sa, sizeof sa, &e), 0);
    sgs_http_format_request(&c.out, "GET", "x", "/a", NULL, NULL, NULL, 0);
    sgs_http_response r;
    cr_assert_eq(drive(&c, &r, &e), SGS_HTTP_IO_DONE, "%s", e.msg);
    cr_assert_eq(r.status, 200);
    cr_assert(sgs_http_conn_reuse(&c, &r));
    cr_assert(!sgs_http_conn_idle_broken(&c));
    sgs_http_format_request(&c.out, "GET", "x", "/b", NULL, NULL, NULL, 0);
    cr_assert_eq(drive(&c, &r, &e), SGS_HTTP_IO_DONE, "%s", e.msg);
    cr_assert_eq(r.status, 404);
    cr_assert_eq(r.body_len, 4);
    cr_assert(!sgs_http_conn_reuse(&c, &r));
    cr_assert_eq(c.fd, -1);
    pthread_join(th, NULL);
    close(s.lfd);
    sgs_http_conn_fini(&c);
}

Test(http_conn, peer_close_and_reset_are_errors)
{
    const char *modes[] = {"", "RST", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"};
    for (size_t m = 0; m < 3; m++) {
        struct sockaddr_in sa;
        script s = {.lfd = listen_any(&sa), .replies = {modes[m], NULL}};
        if (m == 2)
            s.replies[1] = "";
        pthread_t th;
        pthread_create(&th, NULL, serve, &s);
        sgs_http_conn c;
        sgs_http_conn_init(&c, 1024);
        sgs_err e = {0};
        cr_assert_eq(sgs_http_conn_connect(&c, (struct sockaddr *)&sa, sizeof sa, &e), 0);
        sgs_http_format_request(&c.out, "GET", "x", "/", NULL, NULL, NULL, 0);
        sgs_http_response r;
        int rc = drive(&c, &r, &e);
        cr_assert_eq(rc, SGS_EIO, "mode %zu: rc %d", m, rc);
        cr_assert(e.msg[0]);
        pthread_join(th, NULL);
        close(s.lfd);
        sgs_http_conn_fini(&c);
    }
}

Test(http_conn, refused)
{
    struct sockaddr_in sa;
    int lfd = listen_any(&sa);
    close(lfd); /* nothing listens there now */
    sgs_http_conn c;
    sgs_http_conn_init(&c, 1024);
    sgs_err e = {0};
    int rc = sgs_http_conn_connect(&c, (struct sockaddr *)&sa, sizeof sa, &e);
    if (rc == 0) {
        sgs_http_format_request(&c.out, "GET", "x", "/", NULL, NULL, NULL, 0);
        sgs_http_response r;
        rc = drive(&c, &r, &e);
    }
    cr_assert_eq(rc, SGS_EIO);
    cr_assert(strstr(e.msg, "refused") != NULL, "%s", e.msg);
    sgs_http_conn_fini(&c);
}

typedef struct fired {
    sgs_ev_timer t;
    int order;
    int *next;
} fired;

static void on_fire(sgs_ev_timer *t)
{
    fired *f = (fired *)t;
    f->order = (*f->next)++;
}

Test(evloop, timers_fire_in_deadline_order_and_cancel_works)
{
    sgs_err e = {0};
    sgs_evloop *l = sgs_evloop_new(&e);
    cr_assert_not_null(l);
    int next = 1;
    fired f[50];
    uint64_t base = sgs_now_ns();
    unsigned seed = 7;
    for (int i = 0; i < 50; i++) {
        sgs_ev_timer_init(&f[i].t, on_fire);
        f[i].order = 0;
        f[i].next = &next;
        sgs_evloop_timer_arm(l, &f[i].t, base + (uint64_t)(rand_r(&seed) % 20) * 100000u + i);
    }
    for (int i = 0; i < 50; i += 5)
        sgs_evloop_timer_cancel(l, &f[i].t);
    sgs_evloop_timer_arm(l, &f[1].t, base); /* re-arm earlier */
    while (next <= 40)
        sgs_evloop_run_once(l, 100);
    cr_assert_eq(f[1].order, 1);
    for (int i = 0; i < 50; i++) {
        if (i % 5 == 0) {
            cr_assert_eq(f[i].order, 0);
            continue;
        }
        cr_assert(!sgs_ev_timer_armed(&f[i].t));
        for (int j = 0; j < 50; j++)
            if (j % 5 && j != 1 && i != 1 && f[j].t.at_ns < f[i].t.at_ns)
                cr_assert_lt(f[j].order, f[i].order);
    }
    sgs_evloop_free(l);
}

static void on_wake(void *ctx)
{
    (*(int *)ctx)++;
}

static void *waker(void *arg)
{
    for (int i = 0; i < 1000; i++)
        sgs_evloop_wake(arg);
    return NULL;
}

Test(evloop, wakes_coalesce_and_arrive)
{
    sgs_err e = {0};
    sgs_evloop *l = sgs_evloop_new(&e);
    int woke = 0;
    sgs_evloop_on_wake(l, on_wake, &woke);
    pthread_t th;
    pthread_create(&th, NULL, waker, l);
    pthread_join(th, NULL);
    sgs_evloop_run_once(l, 1000);
    cr_assert_geq(woke, 1);
    cr_assert_leq(woke, 1000);
    int before = woke;
    sgs_evloop_run_once(l, 0);
    cr_assert_eq(woke, before, "no wake pending");
    sgs_evloop_wake(l);
    sgs_evloop_run_once(l, 1000);
    cr_assert_eq(woke, before + 1);
    sgs_evloop_free(l);
}

typedef struct counted_wake {
    sgs_ev_wake w;
    int runs;
    sgs_evloop *l;
    struct counted_wake *del; /* deleted by this one's function when set */
} counted_wake;

static void count_wake(sgs_ev_wake *w)
{
    counted_wake *c = (counted_wake *)((char *)w - offsetof(counted_wake, w));
    c->runs++;
    if (c->del)
        sgs_evloop_wake_del(c->l, &c->del->w);
}

Test(evloop, wake_watchers_run_after_each_wake_until_deleted)
{
    sgs_err e = {0};
    sgs_evloop *l = sgs_evloop_new(&e);
    cr_assert_not_null(l, "%s", e.msg);
    int woke = 0;
    sgs_evloop_on_wake(l, on_wake, &woke);
    /* Added a, b, c: they run c, b, a. c deletes b before b's turn; a
     * deletes itself. */
    counted_wake a = {.l = l}, b = {.l = l}, c = {.l = l};
    a.del = &a;
    c.del = &b;
    sgs_evloop_wake_add(l, &a.w, count_wake);
    sgs_evloop_wake_add(l, &b.w, count_wake);
    sgs_evloop_wake_add(l, &c.w, count_wake);
    sgs_evloop_wake(l);
    sgs_evloop_run_once(l, 1000);
    cr_assert_eq(woke, 1);
    cr_assert_eq(a.runs, 1);
    cr_assert_eq(b.runs, 0, "b was deleted before its turn");
    cr_assert_eq(c.runs, 1);
    c.del = NULL;
    sgs_evloop_wake(l);
    sgs_evloop_run_once(l, 1000);
    cr_assert_eq(woke, 2);
    cr_assert_eq(a.runs, 1, "a deleted itself");
    cr_assert_eq(b.runs, 0);
    cr_assert_eq(c.runs, 2);
    sgs_evloop_free(l);
}
