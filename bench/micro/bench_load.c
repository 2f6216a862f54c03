/* bench_load: the cost of loading a shard file the way the leaf does, and of
 * each part of it, on a file already in the page cache.
 *
 * Phases, each run R times (after one warm-up of the whole set), median wall
 * time and median process CPU time (user + system, getrusage) reported:
 *   file_xxh3     sgs_file_xxh3 over the file (read() in 1 MiB chunks)
 *   open_bare     sgs_shard_open(path, 0): load (or map) and header checks
 *   open_sums     sgs_shard_open with SGS_SHARD_VERIFY_CHECKSUMS
 *   open_full     sgs_shard_open with both verify flags (what the leaf does)
 *   mapped_bare   sgs_shard_open(path, SGS_SHARD_MAPPED): the lazy mapping
 *                 the tools use, when the reader has that flag
 *
 * Usage: bench_load SHARD_FILE [--repeat R] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/clock.h"
#include "common/manifest.h"
#include "common/shard_reader.h"

typedef struct phase {
    const char *name;
    unsigned flags;
    bool file_hash; /* sgs_file_xxh3 instead of sgs_shard_open */
} phase;

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs one phase once; 0 or 1 after printing the error. */
static int run_once(const char *path, const phase *p, uint64_t *wall, uint64_t *cpu)
{
    sgs_err err = {0};
    uint64_t w0 = sgs_now_ns(), c0 = cpu_ns();
    if (p->file_hash) {
        uint64_t h, size;
        if (sgs_file_xxh3(path, &h, &size, &err) != 0)
            goto fail;
    } else {
        sgs_shard *s = sgs_shard_open(path, p->flags, &err);
        if (s == NULL)
            goto fail;
        sgs_shard_close(s);
    }
    *wall = sgs_now_ns() - w0;
    *cpu = cpu_ns() - c0;
    return 0;
fail:
    fprintf(stderr, "bench_load: %s: %s\n", p->name, err.msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_load SHARD_FILE [--repeat R]\n");
        return 2;
    }
    const char *path = argv[1];
    int repeat = 5;
    for (int i = 2; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
    if (repeat < 1 || repeat > 1000)
        repeat = 5;
    const phase phases[] = {
        {"file_xxh3", 0, true},
        {"open_bare", 0, false},
        {"open_sums", SGS_SHARD_VERIFY_CHECKSUMS, false},
        {"open_full", SGS_SHARD_VERIFY_CHECKSUMS | SGS_SHARD_VERIFY_STRUCTURE, false},
#ifdef SGS_SHARD_MAPPED
        {"mapped_bare", SGS_SHARD_MAPPED, false},
#endif
    };
    size_t n = sizeof phases / sizeof phases[0];
    uint64_t w, c;
    for (size_t i = 0; i < n; i++)
        if (run_once(path, &phases[i], &w, &c) != 0)
            return 1;
    uint64_t *walls = calloc((size_t)repeat, sizeof *walls);
    uint64_t *cpus = calloc((size_t)repeat, sizeof *cpus);
    if (walls == NULL || cpus == NULL)
        return 1;
    printf("%-12s %10s %10s  (median of %d)\n", "phase", "wall_ms", "cpu_ms", repeat);
    for (size_t i = 0; i < n; i++) {
        for (int r = 0; r < repeat; r++)
            if (run_once(path, &phases[i], &walls[r], &cpus[r]) != 0)
                return 1;
        qsort(walls, (size_t)repeat, sizeof *walls, cmp_u64);
        qsort(cpus, (size_t)repeat, sizeof *cpus, cmp_u64);
        printf("%-12s %10.1f %10.1f\n", phases[i].name, walls[repeat / 2] / 1e6,
               cpus[repeat / 2] / 1e6);
    }
    free(walls);
    free(cpus);
    return 0;
}
