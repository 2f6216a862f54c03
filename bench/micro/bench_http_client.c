/* CPU cost of the root's fan-out client per sub-request: one thread drives
 * C keep-alive connections through the event loop (common/evloop.h) with
 * the lean client (common/http_client.h), each carrying one request at a
 * time, N requests in all, and reports that thread's CPU time per request.
 *
 *   bench_http_client [N] [C]            against a trivial in-process server
 *                                        (its own thread; its CPU is not counted)
 *   bench_http_client N C PORT [TERM]    against a real sgs-leaf on 127.0.0.1:PORT,
 *                                        binary shard requests for TERM (k=10) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/evloop.h"
#include "common/http_client.h"
#include "common/query.h"
#include "common/wire.h"
#include "bench/micro/trivial_server.h"

typedef struct bconn {
    sgs_http_conn http;
    sgs_ev_io io;
} bconn;

static sgs_evloop *loop;
static sgs_buf request;
static long remaining, done, failed;
static char host_header[64];

static void issue(bconn *c);

static void step(bconn *c)
{
    sgs_http_response resp;
    sgs_err err = {0};
    int rc = sgs_http_conn_io(&c->http, &resp, &err);
    if (rc == SGS_HTTP_IO_WANT_READ || rc == SGS_HTTP_IO_WANT_WRITE) {
        sgs_evloop_io_mod(loop, &c->io, rc == SGS_HTTP_IO_WANT_READ ? EPOLLIN : EPOLLOUT, NULL);
        return;
    }
    if (rc != SGS_HTTP_IO_DONE || resp.status != 200) {
        fprintf(stderr, "request failed: %d %s (status %d)\n", rc, err.msg,
                rc == SGS_HTTP_IO_DONE ? resp.status : 0);
        failed++;
        return;
    }
    done++;
    if (!sgs_http_conn_reuse(&c->http, &resp)) {
        fprintf(stderr, "server closed the connection\n");
        failed++;
        return;
    }
    issue(c);
}

static void issue(bconn *c)
{
    if (remaining <= 0)
        return;
    remaining--;
    sgs_buf_append(&c->http.out, request.data, request.len);
    step(c);
}

static void ready(sgs_ev_io *io, uint32_t events)
{
    (void)events;
    step((bconn *)((char *)io - offsetof(bconn, io)));
}

int main(int argc, char **argv)
{
    bench_client_args args;
    sgs_buf body;
    if (bench_client_setup(argc, argv, &args, &body) != 0)
        return 1;
    snprintf(host_header, sizeof host_header, "127.0.0.1:%u", ntohs(args.addr.sin_port));
    sgs_err err = {0};
    sgs_buf_init(&request);
    sgs_http_format_request(&request, "POST", host_header, "/v1/shard/search",
                            "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n",
                            SGS_WIRE_CONTENT_TYPE, body.data, body.len);

    loop = sgs_evloop_new(&err);
    bconn *cs = calloc((size_t)args.connections, sizeof *cs);
    for (int i = 0; i < args.connections; i++) {
        sgs_http_conn_init(&cs[i].http, 1u << 24);
        if (sgs_http_conn_connect(&cs[i].http, (struct sockaddr *)&args.addr, sizeof args.addr,
                                  &err) != 0 ||
            sgs_evloop_io_add(loop, &cs[i].io, cs[i].http.fd, EPOLLOUT, ready, &err) != 0) {
            fprintf(stderr, "connect: %s\n", err.msg);
            return 1;
        }
    }
    /* Warm up (connects, first buffers), then measure. */
    remaining = args.connections * 10;
    for (int i = 0; i < args.connections; i++)
        issue(&cs[i]);
    while (done + failed < args.connections * 10 && failed == 0)
        sgs_evloop_run_once(loop, 1000);
    done = failed = 0;
    remaining = args.requests;
    uint64_t cpu0 = sgs_thread_cpu_ns(), wall0 = sgs_now_ns();
    for (int i = 0; i < args.connections; i++)
        issue(&cs[i]);
    while (done + failed < args.requests && failed == 0)
        sgs_evloop_run_once(loop, 1000);
    uint64_t cpu = sgs_thread_cpu_ns() - cpu0, wall = sgs_now_ns() - wall0;
    bench_client_report("http_client", NULL, &args, done, failed, cpu, wall);
    for (int i = 0; i < args.connections; i++)
        sgs_http_conn_fini(&cs[i].http);
    free(cs);
    sgs_evloop_free(loop);
    sgs_buf_fini(&request);
    sgs_buf_fini(&body);
    return failed ? 1 : 0;
}
