/* Root overhead probe: one keep-alive connection, one request at a time
 * (no queueing), each query of a file sent as GET PATH?q=<query>&k=K, the
 * wall time from the first byte sent to the last byte received measured per
 * request. When the answers are the root's JSON, each is parsed (after the
 * clock stopped) for its slowest shard's leaf-reported service time
 * (shards.details[].leaf_took_ms) and the root's own took_ms; the overhead
 * of a request is its latency minus that slowest service time; it splits
 * into the root's own time (took_ms minus the slowest shard's round trip as
 * the root saw it, details[].took_ms), the leaf round trip beyond service
 * time, and what lies outside the root's clock. Against any
 * other server (nginx returning a fixed body) only latency is reported: the
 * same client measures the loopback HTTP round trip.
 *
 *   bench_root_latency HOST PORT PATH QUERY_FILE PASSES [K]
 *
 * QUERY_FILE holds one query a line (a "class<TAB>" prefix is skipped); an
 * untimed warm-up pass precedes PASSES timed passes. Prints one JSON line. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/http_client.h"

typedef struct sample {
    double latency_us, slowest_leaf_us, root_took_us, slowest_round_trip_us;
} sample;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void url_escape(sgs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            sgs_buf_putc(b, (char)c);
        else {
            sgs_buf_putc(b, '%');
            sgs_buf_putc(b, hex[c >> 4]);
            sgs_buf_putc(b, hex[c & 15]);
        }
    }
}

/* Sends req on fd and reads one whole response into in. Its size, or -1. */
static long round_trip(int fd, const sgs_buf *req, sgs_buf *in, sgs_http_response *resp)
{
    size_t off = 0;
    while (off < req->len) {
        ssize_t n = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    sgs_buf_reset(in);
    for (;;) {
        sgs_buf_reserve(in, 65536);
        ssize_t n = recv(fd, in->data + in->len, 65536, 0);
        if (n <= 0)
            return -1;
        in->len += (size_t)n;
        sgs_err err = {0};
        long r = sgs_http_parse_response(in->data, in->len, 1u << 26, resp, &err);
        if (r < 0) {
            fprintf(stderr, "bad response: %s\n", err.msg);
            return -1;
        }
        if (r > 0)
            return r;
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_root_latency HOST PORT PATH QUERY_FILE PASSES [K]\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), passes = atoi(argv[5]);
    int k = argc > 6 ? atoi(argv[6]) : 10;
    FILE *f = fopen(argv[4], "r");
    if (f == NULL) {
        perror(argv[4]);
        return 1;
    }
    char host_header[300];
    snprintf(host_header, sizeof host_header, "%s:%d", host, port);
    /* Every request formatted up front. */
    sgs_buf *reqs = NULL;
    size_t n_q = 0, cap_q = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *q = strchr(line, '\t');
        q = q ? q + 1 : line;
        size_t len = strcspn(q, "\r\n");
        if (len == 0)
            continue;
        sgs_buf target;
        sgs_buf_init(&target);
        sgs_buf_printf(&target, "%s?q=", path);
        url_escape(&target, q, len);
        sgs_buf_printf(&target, "&k=%d", k);
        sgs_buf_putc(&target, 0);
        if (n_q == cap_q) {
            cap_q = cap_q ? cap_q * 2 : 256;
            reqs = realloc(reqs, cap_q * sizeof *reqs);
        }
        sgs_buf_init(&reqs[n_q]);
        sgs_http_format_request(&reqs[n_q], "GET", host_header, (const char *)target.data, NULL,
                                NULL, NULL, 0);
        n_q++;
        sgs_buf_fini(&target);
    }
    fclose(f);
    if (n_q == 0) {
        fprintf(stderr, "%s: no queries\n", argv[4]);
        return 1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "%s: not an IPv4 address\n", host);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        return 1;
    }
    size_t n_s = n_q * (size_t)passes;
    sample *s = calloc(n_s ? n_s : 1, sizeof *s);
    sgs_buf in;
    sgs_buf_init(&in);
    size_t got = 0, have_leaf = 0, errors = 0;
    for (int p = -1; p < passes; p++)
        for (size_t i = 0; i < n_q; i++) {
            sgs_http_response resp;
            uint64_t t0 = sgs_now_ns();
            long r = round_trip(fd, &reqs[i], &in, &resp);
            uint64_t t1 = sgs_now_ns();
            if (r < 0) {
                fprintf(stderr, "request failed\n");
                return 1;
            }
            if (resp.status != 200) {
                errors++;
                continue;
            }
            if (p < 0)
                continue;
            sample *x = &s[got++];
            x->latency_us = (double)(t1 - t0) / 1000.0;
            x->slowest_leaf_us = -1;
            json_error_t je;
            json_t *j = json_loadb((const char *)resp.body, resp.body_len, 0, &je);
            json_t *details = json_object_get(json_object_get(j, "shards"), "details");
            if (json_is_array(details) && json_array_size(details) > 0) {
                double slowest = 0, slowest_rt = 0;
                bool all = true;
                size_t di;
                json_t *d;
                json_array_foreach(details, di, d)
                {
                    json_t *t = json_object_get(d, "leaf_took_ms");
                    json_t *rt = json_object_get(d, "took_ms");
                    if (json_is_number(rt) && json_number_value(rt) * 1000.0 > slowest_rt)
                        slowest_rt = json_number_value(rt) * 1000.0;
                    if (!json_is_number(t))
                        all = false;
                    else if (json_number_value(t) * 1000.0 > slowest)
                        slowest = json_number_value(t) * 1000.0;
                }
                if (all) {
                    x->slowest_leaf_us = slowest;
                    x->slowest_round_trip_us = slowest_rt;
                    x->root_took_us = json_number_value(json_object_get(j, "took_ms")) * 1000.0;
                    have_leaf++;
                }
            }
            json_decref(j);
        }
    close(fd);
    double *v = calloc(got ? got : 1, sizeof *v);
    for (size_t i = 0; i < got; i++)
        v[i] = s[i].latency_us;
    double lat50 = quantile(v, got, 0.5), lat90 = quantile(v, got, 0.9),
           lat99 = quantile(v, got, 0.99);
    printf("{\"bench\":\"root_latency\",\"requests\":%zu,\"errors\":%zu,\"latency_us\":"
           "{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f}",
           got, errors, lat50, lat90, lat99);
    if (have_leaf == got && got > 0) {
        for (size_t i = 0; i < got; i++)
            v[i] = s[i].latency_us - s[i].slowest_leaf_us;
        double o50 = quantile(v, got, 0.5), o90 = quantile(v, got, 0.9);
        for (size_t i = 0; i < got; i++)
            v[i] = s[i].slowest_leaf_us;
        double l50 = quantile(v, got, 0.5);
        for (size_t i = 0; i < got; i++)
            v[i] = s[i].root_took_us - s[i].slowest_leaf_us;
        double r50 = quantile(v, got, 0.5);
        for (size_t i = 0; i < got; i++)
            v[i] = s[i].root_took_us - s[i].slowest_round_trip_us;
        double own50 = quantile(v, got, 0.5);
        for (size_t i = 0; i < got; i++)
            v[i] = s[i].slowest_round_trip_us - s[i].slowest_leaf_us;
        double net50 = quantile(v, got, 0.5);
        printf(",\"overhead_us\":{\"p50\":%.1f,\"p90\":%.1f},\"slowest_leaf_us_p50\":%.1f,"
               "\"root_internal_overhead_us_p50\":%.1f,\"root_own_us_p50\":%.1f,"
               "\"leaf_round_trip_minus_service_us_p50\":%.1f",
               o50, o90, l50, r50, own50, net50);
    }
    printf("}\n");
    for (size_t i = 0; i < n_q; i++)
        sgs_buf_fini(&reqs[i]);
    free(reqs);
    free(s);
    free(v);
    sgs_buf_fini(&in);
    return errors ? 1 : 0;
}
