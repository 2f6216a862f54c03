/* The fan-out client benchmark of bench_http_client.c with libcurl's multi
 * interface in place of the lean client: one thread drives C easy handles
 * through curl_multi_socket_action() over its own epoll (the way an event
 * loop embeds libcurl), at most C keep-alive connections to the one host,
 * each handle carrying one request at a time, N requests in all; it reports
 * that thread's CPU time per request.
 *
 * The request bytes are the lean client's: the same request line, Host,
 * traceparent, Content-Type and Content-Length headers and binary body
 * (libcurl's default Accept and Expect headers are removed).
 *
 *   curl_http_client [N] [C]            against the trivial in-process server
 *   curl_http_client N C PORT [TERM]    against a real sgs-leaf on 127.0.0.1:PORT
 *
 * Not part of the default build (it needs libcurl): scripts/bench-root.sh
 * compiles it when libcurl's headers are installed. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "bench/micro/trivial_server.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/query.h"
#include "common/wire.h"

typedef struct bhandle {
    CURL *easy;
    size_t got; /* body bytes of the current response */
} bhandle;

static CURLM *multi;
static int ep;
static long timeout_ms = -1;
static long remaining, done, failed;
static sgs_buf body;
static char url[128];
static struct curl_slist *headers;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    ((bhandle *)ud)->got += size * n;
    return size * n;
}

/* CURLMOPT_SOCKETFUNCTION: mirror libcurl's wishes into the epoll set. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    (void)e;
    (void)ud;
    struct epoll_event ev = {.data.fd = s};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(multi, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (sockp == NULL) {
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        curl_multi_assign(multi, s, (void *)1);
    } else
        epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
    return 0;
}

static int on_timer(CURLM *m, long ms, void *ud)
{
    (void)m;
    (void)ud;
    timeout_ms = ms;
    return 0;
}

static void issue(bhandle *h)
{
    if (remaining <= 0)
        return;
    remaining--;
    h->got = 0;
    curl_multi_add_handle(multi, h->easy);
}

static void reap(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        bhandle *h;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(multi, m->easy_handle);
        if (rc != CURLE_OK || status != 200 || h->got == 0) {
            fprintf(stderr, "request failed: %s (status %ld)\n", curl_easy_strerror(rc), status);
            failed++;
            continue;
        }
        done++;
        issue(h);
    }
}

static void run_until(long target)
{
    int running = 0;
    while (done + failed < target && failed == 0) {
        struct epoll_event got[64];
        int n = epoll_wait(ep, got, 64, timeout_ms < 0 ? 1000 : (int)timeout_ms);
        if (n == 0) {
            timeout_ms = -1;
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        for (int i = 0; i < n; i++) {
            int mask = (got[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (got[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (got[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(multi, got[i].data.fd, mask, &running);
        }
        /* A timeout of 0 asks for an immediate call (new handles). */
        while (timeout_ms == 0) {
            timeout_ms = -1;
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        reap();
    }
}

int main(int argc, char **argv)
{
    bench_client_args args;
    if (bench_client_setup(argc, argv, &args, &body) != 0)
        return 1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/shard/search", ntohs(args.addr.sin_port));

    curl_global_init(CURL_GLOBAL_DEFAULT);
    headers = curl_slist_append(headers, "Accept:");
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(
        headers, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    headers = curl_slist_append(headers, "Content-Type: " SGS_WIRE_CONTENT_TYPE);
    multi = curl_multi_init();
    ep = epoll_create1(0);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)args.connections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)args.connections);
    bhandle *hs = calloc((size_t)args.connections, sizeof *hs);
    for (int i = 0; i < args.connections; i++) {
        CURL *e = curl_easy_init();
        hs[i].easy = e;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body.len);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &hs[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&hs[i]);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    /* Warm up (connects, caches), then measure. */
    remaining = args.connections * 10L;
    for (int i = 0; i < args.connections; i++)
        issue(&hs[i]);
    run_until(args.connections * 10L);
    done = failed = 0;
    remaining = args.requests;
    uint64_t cpu0 = sgs_thread_cpu_ns(), wall0 = sgs_now_ns();
    for (int i = 0; i < args.connections; i++)
        issue(&hs[i]);
    run_until(args.requests);
    uint64_t cpu = sgs_thread_cpu_ns() - cpu0, wall = sgs_now_ns() - wall0;
    char client[64];
    snprintf(client, sizeof client, "libcurl %s multi_socket",
             curl_version_info(CURLVERSION_NOW)->version);
    bench_client_report("curl_http_client", client, &args, done, failed, cpu, wall);
    for (int i = 0; i < args.connections; i++)
        curl_easy_cleanup(hs[i].easy);
    free(hs);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    sgs_buf_fini(&body);
    return failed ? 1 : 0;
}
