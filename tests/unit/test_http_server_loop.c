/* HTTP server in external-loop mode: the daemon runs inside an sgs_evloop
 * on one thread. Handlers run on the loop's thread; a pending request is
 * completed from a loop timer (or inside its own handler) and answered;
 * keep-alive, the idle timeout, the connection limit's backlog and the
 * draining stop (called from another thread while the loop runs) hold. */
#include "common/http_server.h"
#include "tests/unit/raw_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the loop and its handlers ---- */

typedef struct later {
    sgs_ev_timer timer;
    sgs_http_request *req;
    bool used;
} later;

static sgs_evloop *loop;
static pthread_t loop_tid;
static _Atomic bool off_loop; /* a handler or completion ran on another thread */
static later laters[64];
static uint64_t later_delay_ns;

static void check_thread(void)
{
    if (!pthread_equal(pthread_self(), loop_tid))
        atomic_store(&off_loop, true);
}

static sgs_http_result h_now(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    check_thread();
    sgs_http_reply(req, 200, "text/plain");
    sgs_buf_printf(sgs_http_reply_body(req), "now");
    return SGS_HTTP_DONE;
}

static void later_fire(sgs_ev_timer *t)
{
    later *l = (later *)((char *)t - offsetof(later, timer));
    check_thread();
    sgs_http_reply(l->req, 200, "text/plain");
    sgs_buf_printf(sgs_http_reply_body(l->req), "later");
    l->used = false;
    sgs_http_complete(l->req);
}

/* Pending; a loop timer completes it after later_delay_ns. */
static sgs_http_result h_later(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    check_thread();
    for (size_t i = 0; i < sizeof laters / sizeof laters[0]; i++)
        if (!laters[i].used) {
            laters[i].used = true;
            laters[i].req = req;
            sgs_ev_timer_init(&laters[i].timer, later_fire);
            sgs_evloop_timer_arm(loop, &laters[i].timer, sgs_evloop_now(loop) + later_delay_ns);
            return SGS_HTTP_PENDING;
        }
    sgs_http_reply_error(req, SGS_EBUSY, "no timer slot");
    return SGS_HTTP_DONE;
}

/* Pending, but completed before the handler returns. */
static sgs_http_result h_sync(void *ctx, sgs_http_request *req)
{
    (void)ctx;
    sgs_http_reply(req, 200, "text/plain");
    sgs_buf_printf(sgs_http_reply_body(req), "sync");
    sgs_http_complete(req);
    return SGS_HTTP_PENDING;
}

static sgs_http_route routes[] = {
    {"GET", "/now", h_now, NULL},
    {"GET", "/later", h_later, NULL},
    {"GET", "/sync", h_sync, NULL},
};

static void *loop_main(void *arg)
{
    (void)arg;
    sgs_evloop_run(loop);
    return NULL;
}

static sgs_http_config kept;

static sgs_http_server *start(unsigned timeout_s, unsigned max_connections, uint64_t delay_ms)
{
    sgs_err err = {0};
    loop = sgs_evloop_new(&err);
    cr_assert_not_null(loop, "%s", err.msg);
    memset(laters, 0, sizeof laters);
    later_delay_ns = delay_ms * 1000000u;
    atomic_store(&off_loop, false);
    kept = (sgs_http_config){
        .listen = "127.0.0.1:0",
        .threads = 1,
        .conn_timeout_s = timeout_s,
        .max_body = 1000,
        .max_connections = max_connections,
        .routes = routes,
        .n_routes = sizeof routes / sizeof routes[0],
        .loop = loop,
    };
    sgs_http_server *srv = sgs_http_server_start(&kept, &err);
    cr_assert_not_null(srv, "%s", err.msg);
    cr_assert_neq(sgs_http_server_port(srv), 0);
    cr_assert_eq(pthread_create(&loop_tid, NULL, loop_main, NULL), 0);
    return srv;
}

static void stop(sgs_http_server *srv, unsigned want_left)
{
    cr_assert_eq(sgs_http_server_stop(srv, 2000), want_left);
    sgs_evloop_stop(loop);
    pthread_join(loop_tid, NULL);
    sgs_evloop_free(loop);
    cr_assert(!atomic_load(&off_loop), "a handler ran off the loop thread");
}

/* Opens n connections to port, each sending request, and leaves the
 * replies unread; the caller closes fds[0..n). */
static void dial_each(uint16_t port, int *fds, int n, const char *request)
{
    for (int i = 0; i < n; i++) {
        fds[i] = dial(port);
        send_str(fds[i], request);
    }
}

Test(http_server_loop, keep_alive_answers_done_pending_and_sync_requests)
{
    sgs_http_server *srv = start(10, 0, 2);
    int fd = dial(sgs_http_server_port(srv));
    const char *paths[] = {"/now", "/later", "/sync", "/later", "/now", "/nope"};
    const char *want[] = {"now", "later", "sync", "later", "now", NULL};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        send_str(fd, req);
        reply r;
        cr_assert_eq(read_reply(fd, &r), 0, "no reply to %s", paths[i]);
        if (want[i]) {
            cr_assert_eq(r.status, 200, "%s: %d", paths[i], r.status);
            cr_assert_str_eq(r.body, want[i]);
        } else {
            cr_assert_eq(r.status, 404);
            cr_assert(strstr(r.body, "\"error\"") != NULL, "%s", r.body);
        }
    }
    close(fd);
    stop(srv, 0);
}

Test(http_server_loop, many_connections_with_pending_requests_all_answer)
{
    sgs_http_server *srv = start(10, 0, 1);
    enum { N = 32 };
    int fds[N];
    dial_each(sgs_http_server_port(srv), fds, N, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < N; i++) {
        reply r;
        cr_assert_eq(read_reply(fds[i], &r), 0, "connection %d got no reply", i);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "later");
        close(fds[i]);
    }
    stop(srv, 0);
}

Test(http_server_loop, stop_drains_a_pending_request_while_the_loop_runs)
{
    sgs_http_server *srv = start(10, 0, 300);
    int fd = dial(sgs_http_server_port(srv));
    send_str(fd, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    /* Wait until the request is in flight, then stop: the answer comes
     * from the loop during the drain. */
    for (int i = 0; i < 2000 && sgs_http_server_inflight(srv) == 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(sgs_http_server_inflight(srv), 1);
    uint16_t port = sgs_http_server_port(srv);
    stop(srv, 0);
    reply r;
    cr_assert_eq(read_reply(fd, &r), 0, "the pending request was not answered at stop");
    cr_assert_str_eq(r.body, "later");
    close(fd);
    /* Not listening any more. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_neq(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
}

Test(http_server_loop, idle_connections_time_out_and_the_backlog_past_the_limit_is_served)
{
    sgs_http_server *srv = start(1, 4, 1);
    enum { N = 10 };
    int fds[N];
    dial_each(sgs_http_server_port(srv), fds, N, "GET /now HTTP/1.1\r\n");
    /* Each half request is closed after the 1 s timeout, those past the
     * limit of 4 once they are accepted (the client waits 5 s at most). */
    for (int i = 0; i < N; i++) {
        char c;
        ssize_t n = recv(fds[i], &c, 1, 0);
        cr_assert_eq(n, 0, "connection %d: expected the server to close it, recv gave %zd", i, n);
        close(fds[i]);
    }
    int fd = dial(sgs_http_server_port(srv));
    send_str(fd, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n");
    reply r;
    cr_assert_eq(read_reply(fd, &r), 0);
    cr_assert_str_eq(r.body, "now");
    close(fd);
    stop(srv, 0);
}

Test(http_server_loop, more_than_one_thread_in_a_loop_is_refused)
{
    sgs_err err = {0};
    sgs_evloop *l = sgs_evloop_new(&err);
    cr_assert_not_null(l);
    sgs_http_config cfg = {.listen = "127.0.0.1:0", .threads = 2, .conn_timeout_s = 1, .loop = l};
    cr_assert_null(sgs_http_server_start(&cfg, &err));
    cr_assert_eq(err.code, SGS_EUSAGE);
    sgs_evloop_free(l);
}
