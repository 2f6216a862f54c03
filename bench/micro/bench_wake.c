/* The machine's own latency tail under a scatter: one process sends a small
 * message to each of F echo processes over loopback TCP at a fixed rate and
 * waits for all F answers, as the root does with its leaves, but with no HTTP,
 * no parsing and no work in the echo processes. What it measures is only
 * waking processes up and moving bytes between them, so its percentiles are
 * a floor under any cluster's on the same machine: a query that fans out to
 * F processes cannot have a tail below this one's at the same rate.
 *
 * Open loop, as sgs-bench: exchange i is due at start + i / RATE; when the
 * previous one ends late, the next leaves at once, and its latency still
 * counts from the time it was due. Timer slack is 1 µs, as sgs-bench's.
 *
 *   bench_wake RATE SECONDS [FANOUT]   (FANOUT default 4, at most 64)
 *   bench_wake 0 SECONDS [FANOUT]      back to back for SECONDS: each exchange
 *                                      leaves when the previous one ends
 *
 * Prints one JSON object: {"bench": "wake", "rate", "seconds", "fanout",
 * "exchanges", "late" (exchanges that left more than one period after
 * they were due), "latency_us": {"p50", "p90", "p99", "p999", "max",
 * "mean"}, "service_us": {...}}; latency_us from the due time, service_us
 * from the actual send. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hist.h"

#define MAX_FANOUT 64
#define MSG_BYTES 64

/* Echoes whatever arrives on fd until the peer closes it. Never returns. */
static void echo_forever(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
            _exit(0);
    }
}

/* Starts one echo process on a loopback listener and returns the parent's
 * connected socket to it, or -1. The child's pid goes to *pid. */
static int start_echo(pid_t *pid)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0)
            _exit(1);
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        close(lfd);
        echo_forever(cfd);
    }
    close(lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        return -1;
    return fd;
}

/* One exchange: the message to every echo, then every answer in full.
 * 0, or -1 when a socket failed. */
static int exchange(const int *fds, int fanout)
{
    static const char msg[MSG_BYTES] = "wake";
    for (int i = 0; i < fanout; i++)
        if (send(fds[i], msg, sizeof msg, MSG_NOSIGNAL) != (ssize_t)sizeof msg)
            return -1;
    for (int i = 0; i < fanout; i++) {
        char in[MSG_BYTES];
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t n = recv(fds[i], in + got, sizeof in - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -1;
            got += (size_t)n;
        }
    }
    return 0;
}

static void print_hist(const char *name, const sgs_hist *h)
{
    printf("\"%s\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, "
           "\"max\": %.1f, \"mean\": %.1f}",
           name, sgs_hist_quantile(h, 0.5) / 1e3, sgs_hist_quantile(h, 0.9) / 1e3,
           sgs_hist_quantile(h, 0.99) / 1e3, sgs_hist_quantile(h, 0.999) / 1e3,
           sgs_hist_max(h) / 1e3, sgs_hist_mean(h) / 1e3);
}

/* The number text spells in full, or -1 when it is not one. */
static double number_arg(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    return end != text && *end == '\0' ? v : -1;
}

int main(int argc, char **argv)
{
    double rate = argc > 1 ? number_arg(argv[1]) : -1;
    double seconds = argc > 2 ? number_arg(argv[2]) : -1;
    double fanout_arg = argc > 3 ? number_arg(argv[3]) : 4;
    int fanout = fanout_arg >= 1 && fanout_arg <= MAX_FANOUT && fanout_arg == (int)fanout_arg
                     ? (int)fanout_arg
                     : -1;
    if (argc < 3 || !(rate >= 0 && rate <= 1e6) || !(seconds > 0 && seconds <= 3600) ||
        fanout < 1 || fanout > MAX_FANOUT || argc > 4) {
        fprintf(stderr, "usage: bench_wake RATE SECONDS [FANOUT]  (0 <= RATE <= 1e6, 0: back to back; "
                        "0 < SECONDS <= 3600, 1 <= FANOUT <= %d)\n", MAX_FANOUT);
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL); /* as sgs-bench: wake on time */
    int fds[MAX_FANOUT];
    pid_t pids[MAX_FANOUT];
    int started = 0, rc = 0;
    for (; started < fanout; started++)
        if ((fds[started] = start_echo(&pids[started])) < 0) {
            perror("bench_wake: echo process");
            rc = 1;
            break;
        }
    sgs_hist *latency = sgs_hist_new(), *service = sgs_hist_new();
    uint64_t period = rate > 0 ? (uint64_t)(1e9 / rate) : 0, late = 0, n = 0;
    uint64_t total = rate > 0 ? (uint64_t)(seconds * rate) : UINT64_MAX;
    for (int i = 0; rc == 0 && i < 100; i++) /* untimed: connections and caches warm */
        rc = exchange(fds, fanout);
    uint64_t start = sgs_now_ns() + period, stop = start + (uint64_t)(seconds * 1e9);
    for (; rc == 0 && n < total; n++) {
        uint64_t due = start + n * period, now = sgs_now_ns();
        if (period == 0) {
            if (now >= stop)
                break;
            due = now;
        } else if (now < due) {
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
            now = sgs_now_ns();
        } else if (now > due + period) {
            late++;
        }
        if (exchange(fds, fanout) != 0) {
            perror("bench_wake: exchange");
            rc = 1;
            break;
        }
        uint64_t end = sgs_now_ns();
        sgs_hist_record(latency, end - due);
        sgs_hist_record(service, end - now);
    }
    /* Later echo processes hold copies of earlier sockets, so a close does
     * not end them all: each is stopped. */
    for (int i = 0; i < started; i++) {
        close(fds[i]);
        kill(pids[i], SIGTERM);
        waitpid(pids[i], NULL, 0);
    }
    if (rc == 0) {
        printf("{\"bench\": \"wake\", \"rate\": %g, \"seconds\": %g, \"fanout\": %d, "
               "\"exchanges\": %llu, \"late\": %llu, ",
               rate, seconds, fanout, (unsigned long long)n, (unsigned long long)late);
        print_hist("latency_us", latency);
        printf(", ");
        print_hist("service_us", service);
        printf("}\n");
    }
    sgs_hist_free(latency);
    sgs_hist_free(service);
    return rc;
}
