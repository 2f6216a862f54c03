/* The trivial leaf stand-in the client micro benchmarks share: one thread
 * on an OS-chosen loopback port that answers every read with the same
 * 40-byte binary shard answer, so a client's cost is measured without a
 * real leaf's. Header-only (static functions): each benchmark is one file.
 *
 * Invariants: one request per read (the clients send one at a time per
 * connection, in one write); the thread lives until the process exits. */
#ifndef SGS_BENCH_MICRO_TRIVIAL_SERVER_H
#define SGS_BENCH_MICRO_TRIVIAL_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/query.h"
#include "common/wire.h"

static int trivial_server_fd;
static const char trivial_reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-sgs-v1\r\n"
                                    "Content-Length: 40\r\n\r\n"
                                    "SGSR\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                    "\0\0\0\0\0\0\0\0\0";

static void *trivial_serve(void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = trivial_server_fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, trivial_server_fd, &ev);
    static char buf[65536];
    for (;;) {
        struct epoll_event got[64];
        int n = epoll_wait(ep, got, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = got[i].data.fd;
            if (fd == trivial_server_fd) {
                int c = accept(trivial_server_fd, NULL, NULL);
                struct epoll_event e2 = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &e2);
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                close(fd);
                continue;
            }
            send(fd, trivial_reply, sizeof trivial_reply - 1, MSG_NOSIGNAL);
        }
    }
    return NULL;
}

/* Starts the server thread on 127.0.0.1 and fills *sa with its address.
 * 0, or -1 when a socket call failed. */
static int trivial_server_start(struct sockaddr_in *sa)
{
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    trivial_server_fd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t sl = sizeof *sa;
    if (trivial_server_fd < 0 || bind(trivial_server_fd, (struct sockaddr *)sa, sizeof *sa) != 0 ||
        getsockname(trivial_server_fd, (struct sockaddr *)sa, &sl) != 0 ||
        listen(trivial_server_fd, 128) != 0)
        return -1;
    pthread_t th;
    if (pthread_create(&th, NULL, trivial_serve, NULL) != 0)
        return -1;
    pthread_detach(th);
    return 0;
}

/* What a client benchmark's command line names: request count, connection
 * count, and the target (a running leaf's port, or 0 for the trivial
 * server). */
typedef struct {
    long requests;
    int connections;
    int port; /* 0: the trivial server */
    struct sockaddr_in addr;
} bench_client_args;

/* Reads `[requests [connections [port [term]]]]` into *a (defaults 200000,
 * 8, 0 = trivial server started here, "apple") and encodes the binary shard
 * request for term (k=10, 1000 ms) into body (initialised here). Returns 0,
 * or -1 after printing why. */
static int bench_client_setup(int argc, char **argv, bench_client_args *a, sgs_buf *body)
{
    a->requests = argc > 1 ? atol(argv[1]) : 200000;
    a->connections = argc > 2 ? atoi(argv[2]) : 8;
    int port = a->port = argc > 3 ? atoi(argv[3]) : 0;
    const char *term = argc > 4 ? argv[4] : "apple";
    a->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (port == 0) {
        if (trivial_server_start(&a->addr) != 0) {
            perror("trivial server");
            return -1;
        }
    } else
        a->addr.sin_port = htons((uint16_t)port);

    sgs_arena arena;
    sgs_arena_init(&arena, 4096);
    sgs_err err = {0};
    sgs_query_node *q = sgs_query_parse(term, strlen(term), &arena, &err);
    if (q == NULL) {
        fprintf(stderr, "query: %s\n", err.msg);
        return -1;
    }
    sgs_buf_init(body);
    sgs_wire_encode_request_bin(q, 10, 1000, body);
    sgs_arena_fini(&arena);
    return 0;
}

/* Prints the run's one JSON line: bench, then client when not NULL, the
 * target (a leaf when a port was given, else the trivial server), counts and
 * client CPU, wall time per request and the rate over the measured part
 * (cpu_ns and wall_ns; each ratio is 0 when its divisor is). */
static void bench_client_report(const char *bench, const char *client, const bench_client_args *a,
                                long done, long failed, uint64_t cpu_ns, uint64_t wall_ns)
{
    printf("{\"bench\":\"%s\",", bench);
    if (client)
        printf("\"client\":\"%s\",", client);
    printf("\"target\":\"%s\",\"requests\":%ld,\"connections\":%d,"
           "\"failed\":%ld,\"client_cpu_us_per_request\":%.2f,\"wall_us_per_request\":%.2f,"
           "\"requests_per_s\":%.0f}\n",
           a->port ? "sgs-leaf" : "trivial", done, a->connections, failed,
           done ? (double)cpu_ns / 1000.0 / (double)done : 0.0,
           done ? (double)wall_ns / 1000.0 / (double)done : 0.0,
           wall_ns ? (double)done * 1e9 / (double)wall_ns : 0.0);
}

#endif
