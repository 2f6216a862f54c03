/* Query latency of SQLite FTS5 on a benchmark query file
 * (bench/leaf/make_queries.py), in process through the C API.
 *
 *   fts5_query DB QUERIES [--mode top10|count] [--repeat R] [--counts] [--cpu-batch]
 *
 * Queries are rewritten to FTS5 syntax: "a b" -> "a AND b", "a OR b" as is,
 * "a b -c" -> "a AND b NOT c". top10: ORDER BY rank (FTS5's bm25(), k1 = 1.2,
 * b = 0.75) LIMIT 10; count: SELECT count(*). Statements are prepared once
 * per mode and reset per query. Prints one JSON line per query class: latency
 * mean, p50, p99 in microseconds, mean thread CPU time and queries/s of one thread over every
 * query, each run R times, after one untimed warm-up pass. The database is
 * memory-mapped (PRAGMA mmap_size), as sgsearch maps its shard. --counts
 * prints instead one JSON line per query with its exact match count, for
 * checking that the engines agree. --cpu-batch reads the thread CPU clock
 * once around each pass over a class instead of around each query (as
 * bench_eval --cpu-batch and xapian_query --cpu-batch). */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_QUERIES 100000

typedef struct query {
    char cls[16];
    char text[512];
    char fts[1024];
} query;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Thread CPU time: what preemption on a shared machine leaves out. */
static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Rewrites sgsearch's simple syntax to FTS5's, quoting each term. */
static void rewrite(const char *q, char *out, size_t cap)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", q);
    size_t len = 0;
    int first = 1, or_query = strstr(q, " OR ") != NULL;
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (!strcmp(w, "OR"))
            continue;
        const char *op = first ? "" : w[0] == '-' ? " NOT " : or_query ? " OR " : " AND ";
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", op, w[0] == '-' ? w + 1 : w);
        first = 0;
    }
}

static long run(sqlite3_stmt *st, const char *fts)
{
    long rows = 0;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, fts, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        rows += sqlite3_column_int64(st, 0) + 1;
    return rows;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DB QUERIES [--mode top10|count] [--repeat R] [--counts] [--cpu-batch]\n",
                argv[0]);
        return 2;
    }
    const char *mode = "top10";
    int repeat = 3, counts = 0, cpu_batch = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--counts"))
            counts = 1, mode = "count";
        else if (!strcmp(argv[i], "--cpu-batch"))
            cpu_batch = 1;
        else {
            fprintf(stderr, "fts5_query: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (repeat < 1 || (strcmp(mode, "top10") && strcmp(mode, "count"))) {
        fprintf(stderr, "fts5_query: bad --mode or --repeat\n");
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "fts5_query: %s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_exec(db, "PRAGMA mmap_size=17179869184", NULL, NULL, NULL);
    const char *sql = !strcmp(mode, "count")
                          ? "SELECT count(*) FROM docs WHERE docs MATCH ?1"
                          : "SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY rank LIMIT 10";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "fts5_query: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    static query qs[MAX_QUERIES];
    size_t n = 0;
    char line[1024];
    while (n < MAX_QUERIES && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        snprintf(qs[n].cls, sizeof qs[n].cls, "%.15s", line);
        snprintf(qs[n].text, sizeof qs[n].text, "%.511s", tab + 1);
        rewrite(qs[n].text, qs[n].fts, sizeof qs[n].fts);
        n++;
    }
    fclose(f);
    long checksum = 0;
    if (counts) {
        for (size_t i = 0; i < n; i++)
            printf("{\"engine\":\"fts5\",\"class\":\"%s\",\"q\":\"%s\",\"count\":%ld}\n",
                   qs[i].cls, qs[i].text, run(st, qs[i].fts) - 1);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        checksum += run(st, qs[i].fts);
    double *us = malloc(sizeof *us * n * (size_t)repeat);
    for (size_t i = 0; i < n;) {
        size_t j = i, m = 0;
        double cpu = 0;
        while (j < n && !strcmp(qs[j].cls, qs[i].cls))
            j++;
        for (int r = 0; r < repeat; r++) {
            double b0 = cpu_batch ? cpu_us() : 0;
            for (size_t q = i; q < j; q++) {
                double c0 = cpu_batch ? 0 : cpu_us(), t0 = now_us();
                checksum += run(st, qs[q].fts);
                us[m++] = now_us() - t0;
                if (!cpu_batch)
                    cpu += cpu_us() - c0;
            }
            if (cpu_batch)
                cpu += cpu_us() - b0;
        }
        qsort(us, m, sizeof *us, cmp_double);
        double sum = 0;
        for (size_t q = 0; q < m; q++)
            sum += us[q];
        printf("{\"engine\":\"fts5\",\"mode\":\"%s\",\"class\":\"%s\",\"queries\":%zu,"
               "\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu_us\":%.1f,\"qps\":%.0f}\n",
               mode, qs[i].cls, m, sum / (double)m, us[m / 2],
               us[m * 99 / 100 < m ? m * 99 / 100 : m - 1], cpu / (double)m, 1e6 * (double)m / sum);
        i = j;
    }
    fprintf(stderr, "fts5_query: checksum %ld\n", checksum);
    free(us);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}
