/* The load driver of closedloop.h: argument parsing, the query file, the
 * worker threads (closed loop, or open loop at a fixed rate) and the JSON
 * report. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "closedloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/hist.h"

#define CL_MAX_QUERIES 1000000
#define CL_MAX_CONNECTIONS 1024

typedef struct cl_query {
    char cls[16];
    char *text;
} cl_query;

typedef struct cl_run {
    const cl_peer *peer;
    const char *spec;
    cl_query *qs;
    size_t n_qs;
    int conns;
    double rate;              /* > 0: open loop at this many requests a second */
    int64_t start_ns;         /* open loop: request i is intended at start + i / rate */
    atomic_llong next;        /* open loop: the next request's number */
    int64_t measure_from_ns; /* requests started before are warm-up */
    int64_t measure_to_ns;   /* requests finished after are not counted */
    atomic_int stop;
    atomic_int open_failures;
} cl_run;

typedef struct cl_worker {
    cl_run *run;
    int idx;
    pthread_t thread;
    sgs_hist *hist;
    uint64_t errors;
    uint64_t hits;
    uint64_t done; /* every answer, warm-up and tail included */
} cl_worker;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Open loop: the thread takes the next request number, sleeps until its
 * intended time, sends it and counts its latency from that time, so a
 * stalled server shows in the latency even though only C requests can be
 * in flight (the others wait their turn, late). It stops at the first
 * number intended after the window: every request intended inside the
 * window is answered and counted. */
static void open_loop(cl_worker *w, void **conn)
{
    cl_run *r = w->run;
    for (;;) {
        long long k = atomic_fetch_add(&r->next, 1);
        int64_t intended = r->start_ns + (int64_t)((double)k * 1e9 / r->rate);
        if (intended > r->measure_to_ns)
            return;
        struct timespec at = {(time_t)(intended / 1000000000), (long)(intended % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
            ;
        long hits = r->peer->top10(*conn, r->qs[(size_t)k % r->n_qs].text);
        int64_t t1 = now_ns();
        w->done++;
        if (intended >= r->measure_from_ns) {
            if (hits < 0)
                w->errors++;
            else {
                sgs_hist_record(w->hist, (uint64_t)(t1 - intended));
                w->hits += (uint64_t)hits;
            }
        }
        if (hits < 0) {
            r->peer->close(*conn);
            if (!(*conn = r->peer->open(r->spec, w->idx))) {
                atomic_fetch_add(&r->open_failures, 1);
                return;
            }
        }
    }
}

static void *worker_main(void *arg)
{
    cl_worker *w = arg;
    cl_run *r = w->run;
    void *conn = r->peer->open(r->spec, w->idx);
    if (!conn) {
        atomic_fetch_add(&r->open_failures, 1);
        return NULL;
    }
    if (r->rate > 0) {
        open_loop(w, &conn);
        if (conn)
            r->peer->close(conn);
        return NULL;
    }
    size_t i = (size_t)w->idx * r->n_qs / (size_t)r->conns; /* spread the starts */
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        int64_t t0 = now_ns();
        long hits = r->peer->top10(conn, r->qs[i].text);
        int64_t t1 = now_ns();
        w->done++;
        if (t0 >= r->measure_from_ns && t1 <= r->measure_to_ns) {
            if (hits < 0)
                w->errors++;
            else {
                sgs_hist_record(w->hist, (uint64_t)(t1 - t0));
                w->hits += (uint64_t)hits;
            }
        }
        if (hits < 0) { /* a broken connection is reopened */
            r->peer->close(conn);
            conn = r->peer->open(r->spec, w->idx);
            if (!conn) {
                atomic_fetch_add(&r->open_failures, 1);
                return NULL;
            }
        }
        if (++i == r->n_qs)
            i = 0;
    }
    r->peer->close(conn);
    return NULL;
}

static int load_queries(const char *path, cl_query **out, size_t *n_out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1024, n = 0;
    cl_query *qs = malloc(cap * sizeof *qs);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while (qs && n < CL_MAX_QUERIES && (len = getline(&line, &line_cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char *tab = strchr(line, '\t');
        const char *text = tab ? tab + 1 : line;
        if (!*text)
            continue;
        if (n == cap) {
            cl_query *bigger = realloc(qs, 2 * cap * sizeof *qs);
            if (!bigger)
                break;
            qs = bigger, cap *= 2;
        }
        snprintf(qs[n].cls, sizeof qs[n].cls, "%.*s", tab ? (int)(tab - line) : 0, line);
        qs[n].text = strdup(text);
        if (!qs[n].text)
            break;
        n++;
    }
    free(line);
    fclose(f);
    if (!qs || n == 0) {
        fprintf(stderr, "closedloop: no queries in %s\n", path);
        free(qs);
        return -1;
    }
    *out = qs, *n_out = n;
    return 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report(FILE *f, const cl_peer *peer, const char *label, double rate, const sgs_hist *h,
                   uint64_t errors, uint64_t hits, uint64_t done, int conns, double duration,
                   double cpu, int argc, char **argv)
{
    uint64_t n = sgs_hist_count(h);
    fprintf(f, "{\"engine\":");
    json_str(f, peer->name);
    fprintf(f, ",\"label\":");
    json_str(f, label);
    if (rate > 0)
        fprintf(f, ",\"mode\":\"open\",\"target_rate\":%.3f,\"latency_from\":\"intended_send\"",
                rate);
    else
        fprintf(f, ",\"mode\":\"closed\",\"target_rate\":null,\"latency_from\":\"send\"");
    fprintf(f, ",\"connections\":%d,\"duration_s\":%.3f,\"requests\":%llu,"
               "\"errors\":%llu,\"achieved_rate\":%.1f,\"hits\":%llu,\"client_cpu_s\":%.3f,"
               "\"sent_total\":%llu,",
            conns, duration, (unsigned long long)n, (unsigned long long)errors,
            duration > 0 ? (double)n / duration : 0.0, (unsigned long long)hits, cpu,
            (unsigned long long)done);
    fprintf(f, "\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"p999\":%.4f,"
               "\"max\":%.4f,\"mean\":%.4f},",
            (double)sgs_hist_quantile(h, 0.5) / 1e6, (double)sgs_hist_quantile(h, 0.9) / 1e6,
            (double)sgs_hist_quantile(h, 0.99) / 1e6, (double)sgs_hist_quantile(h, 0.999) / 1e6,
            (double)sgs_hist_max(h) / 1e6, sgs_hist_mean(h) / 1e6);
    fprintf(f, "\"spectrum\":[");
    static const double qs[] = {0,    0.1,   0.25,   0.5,     0.75,     0.9,  0.95,
                                0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        fprintf(f, "%s{\"q\":%g,\"ms\":%.4f}", i ? "," : "", qs[i],
                (double)sgs_hist_quantile(h, qs[i]) / 1e6);
    fprintf(f, "],\"command\":");
    char cmd[4096];
    size_t len = 0;
    for (int i = 0; i < argc && len < sizeof cmd; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", argv[i]);
    json_str(f, cmd);
    fprintf(f, "}\n");
}

static int run_counts(const cl_peer *peer, const char *spec, cl_query *qs, size_t n)
{
    void *conn = peer->open(spec, 0);
    if (!conn)
        return 1;
    for (size_t i = 0; i < n; i++) {
        long c = peer->count(conn, qs[i].text);
        printf("{\"engine\":");
        json_str(stdout, peer->name);
        printf(",\"class\":");
        json_str(stdout, qs[i].cls);
        printf(",\"q\":");
        json_str(stdout, qs[i].text);
        printf(",\"count\":%ld}\n", c);
    }
    peer->close(conn);
    return 0;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --target SPEC --queries FILE [--connections C] [--duration S]\n"
            "          [--warmup S] [--rate R] [--json OUT] [--label L] [--counts]\n",
            prog);
}

int cl_main(int argc, char **argv, const cl_peer *peer)
{
    const char *spec = NULL, *queries = NULL, *json = NULL, *label = "";
    int conns = 1, counts = 0;
    double duration = 5, warmup = 1, rate = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--counts"))
            counts = 1;
        else if (v && !strcmp(a, "--target"))
            spec = v, i++;
        else if (v && !strcmp(a, "--queries"))
            queries = v, i++;
        else if (v && !strcmp(a, "--json"))
            json = v, i++;
        else if (v && !strcmp(a, "--label"))
            label = v, i++;
        else if (v && !strcmp(a, "--connections"))
            conns = atoi(v), i++;
        else if (v && !strcmp(a, "--duration"))
            duration = atof(v), i++;
        else if (v && !strcmp(a, "--warmup"))
            warmup = atof(v), i++;
        else if (v && !strcmp(a, "--rate"))
            rate = atof(v), i++;
        else {
            fprintf(stderr, "%s: unknown or incomplete argument %s\n", argv[0], a);
            usage(argv[0]);
            return 2;
        }
    }
    if (!spec || !queries || conns < 1 || conns > CL_MAX_CONNECTIONS || duration <= 0 ||
        warmup < 0 || rate < 0 || rate > 1e7) {
        usage(argv[0]);
        return 2;
    }
    cl_query *qs;
    size_t n;
    if (load_queries(queries, &qs, &n))
        return 1;
    if (counts)
        return run_counts(peer, spec, qs, n);

    cl_run run = {.peer = peer, .spec = spec, .qs = qs, .n_qs = n, .conns = conns, .rate = rate};
    atomic_init(&run.stop, 0);
    atomic_init(&run.next, 0);
    atomic_init(&run.open_failures, 0);
    int64_t t_start = now_ns();
    run.start_ns = t_start;
    run.measure_from_ns = t_start + (int64_t)(warmup * 1e9);
    run.measure_to_ns = run.measure_from_ns + (int64_t)(duration * 1e9);
    cl_worker *ws = calloc((size_t)conns, sizeof *ws);
    int rc = 0;
    for (int i = 0; i < conns; i++) {
        ws[i].run = &run, ws[i].idx = i, ws[i].hist = sgs_hist_new();
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) {
            fprintf(stderr, "closedloop: cannot start thread %d\n", i);
            conns = i;
            rc = 1;
            break;
        }
    }
    double cpu0 = cpu_seconds();
    while (!rc && now_ns() < run.measure_to_ns) {
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
        if (atomic_load(&run.open_failures))
            rc = 1;
    }
    atomic_store(&run.stop, 1);
    sgs_hist *all = sgs_hist_new();
    uint64_t errors = 0, hits = 0, done = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].thread, NULL);
        sgs_hist_merge(all, ws[i].hist);
        errors += ws[i].errors, hits += ws[i].hits, done += ws[i].done;
        sgs_hist_free(ws[i].hist);
    }
    double cpu = cpu_seconds() - cpu0;
    if (atomic_load(&run.open_failures)) {
        fprintf(stderr, "%s: %d connection(s) could not be opened\n", argv[0],
                atomic_load(&run.open_failures));
        rc = 1;
    }
    report(stdout, peer, label, rate, all, errors, hits, done, conns, duration, cpu, argc, argv);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            perror(json);
            rc = 1;
        } else {
            report(f, peer, label, rate, all, errors, hits, done, conns, duration, cpu, argc, argv);
            fclose(f);
        }
    }
    sgs_hist_free(all);
    free(ws);
    for (size_t i = 0; i < n; i++)
        free(qs[i].text);
    free(qs);
    return rc;
}
