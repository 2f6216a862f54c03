/* The kernel's floor under the root's fan-out client: the CPU one thread
 * spends per loopback TCP request/response when it does nothing else, a
 * blocking send() of the request and recv() of the whole answer on one
 * keep-alive connection, with no event loop and no buffers to manage (the
 * answer's framing is still parsed, to know when it is whole). Against the
 * same targets and the same bytes as bench_http_client, so the two figures
 * differ by the client's own cost:
 * what bench_http_client pays above this line is ours to cut, what lies
 * under it is the machine's (system calls, the loopback TCP path, waking
 * the server).
 *
 *   bench_tcp_floor [N]              N round trips (default 200000) after 1000
 *                                    untimed, against the trivial in-process server
 *   bench_tcp_floor N 1 PORT [TERM]  against a real sgs-leaf on 127.0.0.1:PORT,
 *                                    binary shard requests for TERM (k=10) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/http_client.h"
#include "bench/micro/trivial_server.h"

/* One round trip: sends the request in one call, then receives until a
 * whole 200 response is in. 0, or -1 when the socket or the answer failed. */
static int round_trip(int fd, const sgs_buf *request, uint8_t *in, size_t in_cap)
{
    if (send(fd, request->data, request->len, MSG_NOSIGNAL) != (ssize_t)request->len)
        return -1;
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, in + got, in_cap - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
        sgs_http_response resp;
        sgs_err err = {0};
        long whole = sgs_http_parse_response(in, got, in_cap, &resp, &err);
        if (whole < 0 || (whole > 0 && ((size_t)whole != got || resp.status != 200)))
            return -1;
        if (whole > 0)
            return 0;
        if (got == in_cap)
            return -1;
    }
}

int main(int argc, char **argv)
{
    bench_client_args args;
    sgs_buf body;
    char *one_conn[] = {argv[0], argc > 1 ? argv[1] : "200000", "1", argc > 3 ? argv[3] : "0",
                        argc > 4 ? argv[4] : "apple"};
    if (bench_client_setup(5, one_conn, &args, &body) != 0)
        return 1;
    sgs_buf request;
    sgs_buf_init(&request);
    sgs_http_format_request(&request, "POST", "127.0.0.1", "/v1/shard/search", NULL,
                            "application/x-sgs-v1", body.data, body.len);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&args.addr, sizeof args.addr) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        perror("connect");
        return 1;
    }
    static uint8_t in[1 << 20];
    for (int i = 0; i < 1000; i++)
        if (round_trip(fd, &request, in, sizeof in) != 0) {
            perror("warm-up round trip");
            return 1;
        }
    long done = 0, failed = 0;
    uint64_t cpu0 = sgs_thread_cpu_ns(), wall0 = sgs_now_ns();
    for (; done < args.requests; done++)
        if (round_trip(fd, &request, in, sizeof in) != 0) {
            perror("round trip");
            failed = 1;
            break;
        }
    uint64_t cpu = sgs_thread_cpu_ns() - cpu0, wall = sgs_now_ns() - wall0;
    bench_client_report("tcp_floor", "blocking send+recv", &args, done, failed, cpu, wall);
    close(fd);
    sgs_buf_fini(&request);
    sgs_buf_fini(&body);
    return failed ? 1 : 0;
}
