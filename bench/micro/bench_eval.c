/* bench_eval: in-process latency of query evaluation (common/eval.h) on one
 * shard, per query class, without any server around it.
 *
 * QUERIES holds `class<TAB>query` lines (bench/leaf/make_queries.py); each
 * query string is parsed once with sgs_query_parse. Every query of the file
 * is then evaluated R times (after one warm-up pass), each timed alone with
 * CLOCK_MONOTONIC, with k = 10 (--mode top10) or k = 0 (--mode count). The
 * report gives, per class and overall, mean / p50 / p99 wall latency in µs,
 * the mean thread CPU time per query (cpu_us: wall time less preemption, the
 * steadier figure on a shared machine), the queries per second of one thread
 * (from the wall mean), the CPU time per million documents of the shard, and
 * the mean total (so runs can be compared for sameness).
 *
 * Usage: bench_eval INDEX_DIR_OR_SHARD QUERIES [--mode top10|count] [--repeat R] [--shard I]
 *        [--cpu-batch]   (thread CPU time read once per run of consecutive
 *                         queries of one class instead of around each query:
 *                         on a guest where that clock is a slow system call,
 *                         about 2.8 us here, the per-query reads add their own
 *                         cost to every query's CPU figure)
 *        [--no-verify]   (skips the open-time checks, for profilers)
 *        [--dump FILE]   (writes each query's answer from the warm-up pass:
 *                         query, total, then doc:score with the score's exact
 *                         bits in hex, so two builds' answers can be diffed) */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/eval.h"
#include "common/manifest.h"
#include "common/mem.h"
#include "common/query.h"
#include "common/shard_reader.h"
#include "common/simd.h"

#define MAX_CLASSES 32

typedef struct bench_query {
    int cls;
    char *text;
    sgs_query_node *tree;
} bench_query;

typedef struct bench_class {
    char name[32];
    uint64_t *lat_ns;
    size_t n, cap;
    double sum_cpu_ns; /* thread CPU time: what preemption on a shared machine leaves out */
    double sum_total, sum_hits;
} bench_class;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_eval INDEX_DIR_OR_SHARD QUERIES [--mode top10|count] "
                    "[--repeat R] [--shard I] [--cpu-batch] [--no-verify] [--dump FILE]\n");
    exit(2);
}

/* The shard file path: the argument itself, or shard I of the index's manifest. */
static char *shard_path(const char *arg, uint32_t shard)
{
    struct stat st;
    if (stat(arg, &st) != 0) {
        perror(arg);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode))
        return sgs_xstrdup(arg);
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", arg);
    sgs_err err = {0};
    sgs_manifest *m = sgs_manifest_read(mpath, &err);
    if (m == NULL) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        exit(1);
    }
    if (shard >= m->n_shards) {
        fprintf(stderr, "bench_eval: shard %u of %u\n", shard, m->n_shards);
        exit(1);
    }
    char *p = sgs_xmalloc(strlen(arg) + strlen(m->shards[shard].file) + 2);
    sprintf(p, "%s/%s", arg, m->shards[shard].file);
    sgs_manifest_free(m);
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *index = argv[1], *qpath = argv[2];
    uint32_t k = 10, repeat = 5, shard = 0;
    const char *dump_path = NULL;
    bool cpu_batch = false;
    unsigned verify = SGS_SHARD_VERIFY_CHECKSUMS | SGS_SHARD_VERIFY_STRUCTURE;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "top10") == 0)
                k = 10;
            else if (strcmp(m, "count") == 0)
                k = 0;
            else
                usage();
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
            dump_path = argv[++i];
        } else if (strcmp(argv[i], "--cpu-batch") == 0) {
            cpu_batch = true;
        } else if (strcmp(argv[i], "--no-verify") == 0) {
            verify = 0; /* for profilers: skip the open-time checks */
        } else if (strcmp(argv[i], "--shard") == 0 && i + 1 < argc) {
            shard = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    if (repeat == 0)
        repeat = 1;

    char *path = shard_path(index, shard);
    sgs_err err = {0};
    sgs_shard *s = sgs_shard_open(path, verify, &err);
    if (s == NULL) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return 1;
    }
    const sgs_shard_header *h = sgs_shard_header_get(s);

    FILE *f = fopen(qpath, "r");
    if (f == NULL) {
        perror(qpath);
        return 1;
    }
    sgs_arena qa;
    sgs_arena_init(&qa, 1 << 20);
    bench_class classes[MAX_CLASSES];
    int n_classes = 0;
    bench_query *qs = NULL;
    size_t n_qs = 0, cap_qs = 0;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        int c;
        for (c = 0; c < n_classes; c++)
            if (strcmp(classes[c].name, line) == 0)
                break;
        if (c == n_classes) {
            if (n_classes == MAX_CLASSES)
                continue;
            memset(&classes[c], 0, sizeof classes[c]);
            snprintf(classes[c].name, sizeof classes[c].name, "%.31s", line);
            n_classes++;
        }
        sgs_err perr = {0};
        sgs_query_node *tree = sgs_query_parse(tab + 1, strlen(tab + 1), &qa, &perr);
        if (tree == NULL) {
            fprintf(stderr, "bench_eval: skipping '%s': %s\n", tab + 1, perr.msg);
            continue;
        }
        if (n_qs == cap_qs) {
            cap_qs = cap_qs ? 2 * cap_qs : 256;
            qs = sgs_xrealloc(qs, cap_qs * sizeof *qs);
        }
        qs[n_qs++] = (bench_query){c, sgs_xstrdup(tab + 1), tree};
    }
    fclose(f);
    if (n_qs == 0) {
        fprintf(stderr, "bench_eval: no queries in %s\n", qpath);
        return 1;
    }

    FILE *dump = NULL;
    if (dump_path != NULL && (dump = fopen(dump_path, "w")) == NULL) {
        perror(dump_path);
        return 1;
    }
    sgs_arena a;
    sgs_arena_init(&a, 1 << 20);
    bench_class all = {.name = "all"};
    for (uint32_t pass = 0; pass <= repeat; pass++) {
        /* --cpu-batch: the open run of queries of class seg_cls since seg_c0. */
        int seg_cls = -1;
        uint64_t seg_c0 = 0;
        for (size_t i = 0; i <= n_qs; i++) {
            if (cpu_batch && pass > 0 && (i == n_qs || qs[i].cls != seg_cls)) {
                uint64_t c = sgs_thread_cpu_ns();
                if (seg_cls >= 0) {
                    classes[seg_cls].sum_cpu_ns += (double)(c - seg_c0);
                    all.sum_cpu_ns += (double)(c - seg_c0);
                }
                seg_cls = i < n_qs ? qs[i].cls : -1;
                seg_c0 = sgs_thread_cpu_ns();
            }
            if (i == n_qs)
                break;
            sgs_eval_result res;
            uint64_t c0 = cpu_batch ? 0 : sgs_thread_cpu_ns(), t0 = sgs_now_ns();
            int rc = sgs_eval(s, qs[i].tree, k, 0, &a, &res, &err);
            uint64_t dt = sgs_now_ns() - t0, dc = cpu_batch ? 0 : sgs_thread_cpu_ns() - c0;
            if (rc != 0) {
                fprintf(stderr, "bench_eval: '%s': %s\n", qs[i].text, err.msg);
                return 1;
            }
            if (pass == 0 && dump != NULL) {
                fprintf(dump, "%s\t%" PRIu64, qs[i].text, res.total);
                for (uint32_t j = 0; j < res.n_hits; j++)
                    fprintf(dump, " %u:%a", res.hits[j].doc, res.hits[j].score);
                fputc('\n', dump);
            }
            sgs_arena_reset(&a);
            if (pass == 0)
                continue; /* warm-up */
            bench_class *targets[2] = {&classes[qs[i].cls], &all};
            for (int t = 0; t < 2; t++) {
                bench_class *bc = targets[t];
                if (bc->n == bc->cap) {
                    bc->cap = bc->cap ? 2 * bc->cap : 1024;
                    bc->lat_ns = sgs_xrealloc(bc->lat_ns, bc->cap * sizeof *bc->lat_ns);
                }
                bc->lat_ns[bc->n++] = dt;
                bc->sum_cpu_ns += (double)dc;
                bc->sum_total += (double)res.total;
                bc->sum_hits += res.n_hits;
            }
        }
    }

    double mdocs = (double)h->n_docs / 1e6;
    printf("bench_eval: %s, %" PRIu64 " docs, %zu queries x %u, k=%u, simd %s\n", path,
           h->n_docs, n_qs, repeat, k, sgs_simd_name(sgs_simd_active()));
    printf("%-8s %7s %9s %9s %9s %9s %9s %12s %11s\n", "class", "n", "mean_us", "p50_us",
           "p99_us", "cpu_us", "qps", "cpu_us/Mdoc", "mean_total");
    for (int c = 0; c <= n_classes; c++) {
        bench_class *bc = c < n_classes ? &classes[c] : &all;
        if (bc->n == 0)
            continue;
        qsort(bc->lat_ns, bc->n, sizeof *bc->lat_ns, cmp_u64);
        double sum = 0;
        for (size_t i = 0; i < bc->n; i++)
            sum += (double)bc->lat_ns[i];
        double mean_us = sum / (double)bc->n / 1e3;
        double p50 = (double)bc->lat_ns[bc->n / 2] / 1e3;
        size_t i99 = (bc->n * 99) / 100 < bc->n ? (bc->n * 99) / 100 : bc->n - 1;
        double p99 = (double)bc->lat_ns[i99] / 1e3;
        double cpu_us = bc->sum_cpu_ns / (double)bc->n / 1e3;
        printf("%-8s %7zu %9.1f %9.1f %9.1f %9.1f %9.0f %12.1f %11.0f\n", bc->name, bc->n,
               mean_us, p50, p99, cpu_us, 1e6 / mean_us, cpu_us / mdocs,
               bc->sum_total / (double)bc->n);
        free(bc->lat_ns);
    }
    if (dump != NULL)
        fclose(dump);
    for (size_t i = 0; i < n_qs; i++)
        free(qs[i].text);
    free(qs);
    free(path);
    sgs_arena_fini(&a);
    sgs_arena_fini(&qa);
    sgs_shard_close(s);
    return 0;
}
