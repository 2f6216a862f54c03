/* Property tests of the AND merge's SIMD kernels (common/intersect.h): on
 * random pairs of sorted doc-id arrays of block size and below, of every
 * density ratio, overlap and offset, with ids from 0 up to UINT32_MAX, every
 * kernel this CPU can run finds exactly the shared docs, at the right
 * positions and in doc order, that a two-pointer merge written here finds;
 * the AVX-512 kernel also stops where merge_and() can go on from as from
 * the merge's end, and writes nothing beyond its slack. Drawn patterns add
 * windows that end on the same doc, identical blocks, short sides against
 * full blocks, and lengths around multiples of 16.
 *
 * Random inputs come from a splitmix64 seeded by SGS_TEST_SEED when set, else
 * by the clock; each test prints SGS_TEST_SEED=<n> so a failure reruns with
 * the same inputs. */
#include "common/intersect.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/postings.h"
#include "tests/unit/rng.h"

/* The longest arrays tried: two blocks, so windows of every kernel end at
 * every offset. */
#define MAX_LEN (2 * SGS_BLOCK_LEN)

static rng test_rng(const char *test)
{
    uint64_t seed = test_seed();
    fprintf(stderr, "intersect/%s: SGS_TEST_SEED=%" PRIu64 " (simd %s)\n", test, seed,
            sgs_simd_name(sgs_simd_active()));
    return (rng){seed};
}

/* n strictly increasing ids from base on (base itself possible), gaps of
 * 1..max_gap. False when they would pass UINT32_MAX (the caller draws
 * again). */
static bool fill_sorted(rng *r, uint32_t *v, uint32_t n, uint64_t base, uint32_t max_gap)
{
    uint64_t d = base + rng_below(r, max_gap);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            d += 1 + rng_below(r, max_gap);
        if (d > UINT32_MAX)
            return false;
        v[i] = (uint32_t)d;
    }
    return true;
}

/* Two arrays drawn to share some docs: b holds some of a's docs (each with
 * probability share/8) and docs of its own between and around them. */
static void draw_pair(rng *r, uint32_t *a, uint32_t *na, uint32_t *b, uint32_t *nb)
{
    for (;;) {
        *na = rng_below(r, MAX_LEN + 1);
        uint32_t gap = 1 + rng_below(r, rng_below(r, 2) ? 4 : 5000);
        uint64_t base = rng_below(r, 4) == 0 ? UINT32_MAX - (uint64_t)*na * gap + rng_below(r, gap)
                      : rng_below(r, 3) == 0 ? 0
                                             : rng_below(r, 1000);
        if (base > UINT32_MAX || !fill_sorted(r, a, *na, base, gap))
            continue;
        uint32_t share = rng_below(r, 9), own = rng_below(r, 6);
        uint64_t lo = *na ? a[0] : base, hi = *na ? a[*na - 1] : base + 1000;
        uint32_t k = 0, i = 0;
        /* Merge a's kept docs with b's own docs, drawn in a's range. */
        uint32_t mine[MAX_LEN], n_mine = own == 0 ? 0 : rng_below(r, MAX_LEN / own + 1);
        for (uint32_t m = 0; m < n_mine; m++)
            mine[m] = (uint32_t)(lo + (hi - lo + 1) * rng_below(r, 1u << 20) / (1u << 20));
        /* Sort mine (insertion sort, small). */
        for (uint32_t x = 1; x < n_mine; x++)
            for (uint32_t y = x; y > 0 && mine[y - 1] > mine[y]; y--) {
                uint32_t t = mine[y];
                mine[y] = mine[y - 1];
                mine[y - 1] = t;
            }
        uint32_t m = 0;
        while ((i < *na || m < n_mine) && k < MAX_LEN) {
            uint32_t next;
            if (m >= n_mine || (i < *na && a[i] <= mine[m])) {
                next = a[i++];
                if (rng_below(r, 8) >= share)
                    continue;
            } else {
                next = mine[m++];
            }
            if (k == 0 || b[k - 1] < next)
                b[k++] = next;
        }
        *nb = k;
        return;
    }
}

/* The reference: every shared doc's positions, by a two-pointer merge of
 * a[si..na) and b[sj..nb); *ei, *ej (when not NULL) get where it stopped. */
static uint32_t reference_from(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb,
                               uint32_t si, uint32_t sj, uint32_t *ri, uint32_t *rj, uint32_t *ei,
                               uint32_t *ej)
{
    uint32_t i = si, j = sj, n = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            ri[n] = i++;
            rj[n++] = j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    if (ei != NULL)
        *ei = i, *ej = j;
    return n;
}

static uint32_t reference(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb,
                          uint32_t *ri, uint32_t *rj)
{
    return reference_from(a, na, b, nb, 0, 0, ri, rj, NULL, NULL);
}

/* merge_and()'s passes after a block pair's merge: when one side's block
 * is used up, the other side's index moves past the docs already compared
 * with the whole of it. Where a kernel stopped and where the merge stopped
 * must come, through these, to the same place. */
static void settle(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb, uint32_t si,
                   uint32_t sj, uint32_t *i, uint32_t *j)
{
    if (*j == nb && nb > sj)
        while (*i < na && a[*i] <= b[nb - 1])
            (*i)++;
    if (*i == na && na > si)
        while (*j < nb && b[*j] <= a[na - 1])
            (*j)++;
}

/* Checks that a kernel's end, settled, is the merge's, settled. */
static void check_end(const char *kernel, const uint32_t *a, uint32_t na, const uint32_t *b,
                      uint32_t nb, uint32_t si, uint32_t sj, uint32_t i, uint32_t j)
{
    uint32_t ri[MAX_LEN], rj[MAX_LEN], ei, ej;
    reference_from(a, na, b, nb, si, sj, ri, rj, &ei, &ej);
    settle(a, na, b, nb, si, sj, &i, &j);
    settle(a, na, b, nb, si, sj, &ei, &ej);
    cr_assert(i == ei && j == ej,
              "%s: goes on from (%u, %u), the merge from (%u, %u) (starts %u, %u; lengths %u, %u)",
              kernel, i, j, ei, ej, si, sj, na, nb);
}

/* What merge_and() does with a stepping kernel (sgs_intersect_shared at a
 * level): its hits, then the scalar merge of what it left; checks where it
 * ends (check_end). */
static uint32_t by_shared_kernel(sgs_simd_level level, const uint32_t *a, uint32_t na,
                                 const uint32_t *b, uint32_t nb, uint32_t *ci, uint32_t *cj)
{
    uint32_t i = 0, j = 0, n = 0;
    while (sgs_intersect_shared(level, a, na, b, nb, &i, &j)) {
        cr_assert(i < na && j < nb && a[i] == b[j], "%s: a hit that is not shared",
                  sgs_simd_name(level));
        ci[n] = i++;
        cj[n++] = j++;
    }
    while (i < na && j < nb) {
        uint32_t u = a[i], v = b[j];
        if (u == v) {
            ci[n] = i++;
            cj[n++] = j++;
        } else {
            i += u < v;
            j += v < u;
        }
    }
    check_end(sgs_simd_name(level), a, na, b, nb, 0, 0, i, j);
    return n;
}

static void check_same(const char *kernel, const uint32_t *ci, const uint32_t *cj, uint32_t n,
                       const uint32_t *ri, const uint32_t *rj, uint32_t rn, uint32_t na,
                       uint32_t nb)
{
    cr_assert_eq(n, rn, "%s: %u shared docs, the merge finds %u (lengths %u, %u)", kernel, n, rn,
                 na, nb);
    for (uint32_t k = 0; k < n; k++)
        cr_assert(ci[k] == ri[k] && cj[k] == rj[k],
                  "%s: shared doc %u at (%u, %u), the merge has (%u, %u)", kernel, k, ci[k], cj[k],
                  ri[k], rj[k]);
}

#if defined(__x86_64__)
#define SENTINEL 0xdeadbeefu

/* Runs the AVX-512 kernel on x[si..nx), y[sj..ny) and checks it against the
 * merge: the same shared docs, the same end (check_end), and no write to ci
 * or cj beyond the shared docs plus the slack. */
static void check_avx512_from(const char *what, const uint32_t *x, uint32_t nx, const uint32_t *y,
                              uint32_t ny, uint32_t si, uint32_t sj)
{
    uint32_t ri[MAX_LEN], rj[MAX_LEN];
    uint32_t ci[MAX_LEN + 2 * SGS_INTERSECT_ALL_SLACK], cj[MAX_LEN + 2 * SGS_INTERSECT_ALL_SLACK];
    for (uint32_t k = 0; k < MAX_LEN + 2 * SGS_INTERSECT_ALL_SLACK; k++)
        ci[k] = cj[k] = SENTINEL;
    uint32_t rn = reference_from(x, nx, y, ny, si, sj, ri, rj, NULL, NULL);
    uint32_t i = si, j = sj;
    uint32_t n = sgs_intersect_all_avx512(x, nx, y, ny, &i, &j, ci, cj);
    check_same(what, ci, cj, n, ri, rj, rn, nx, ny);
    cr_assert(i == nx || j == ny, "%s: stopped at (%u, %u) of (%u, %u)", what, i, j, nx, ny);
    for (uint32_t k = n + SGS_INTERSECT_ALL_SLACK; k < MAX_LEN + 2 * SGS_INTERSECT_ALL_SLACK; k++)
        cr_assert(ci[k] == SENTINEL && cj[k] == SENTINEL,
                  "%s: wrote slot %u with %u shared docs (lengths %u, %u)", what, k, n, nx, ny);
    check_end(what, x, nx, y, ny, si, sj, i, j);
}
#endif

Test(intersect, kernels_match_a_merge)
{
    rng r = test_rng("kernels_match_a_merge");
    static uint32_t a[MAX_LEN], b[MAX_LEN];
    uint32_t ri[MAX_LEN], rj[MAX_LEN];
    uint32_t ci[MAX_LEN + SGS_INTERSECT_ALL_SLACK], cj[MAX_LEN + SGS_INTERSECT_ALL_SLACK];
    uint64_t shared_total = 0;
    for (int rep = 0; rep < 20000; rep++) {
        uint32_t na, nb;
        draw_pair(&r, a, &na, b, &nb);
        bool swap = rng_below(&r, 2);
        const uint32_t *x = swap ? b : a, *y = swap ? a : b;
        uint32_t nx = swap ? nb : na, ny = swap ? na : nb;
        uint32_t rn = reference(x, nx, y, ny, ri, rj);
        shared_total += rn;
        for (int level = SGS_SIMD_SCALAR; level <= (int)sgs_simd_active(); level++) {
            uint32_t n = by_shared_kernel((sgs_simd_level)level, x, nx, y, ny, ci, cj);
            check_same(sgs_simd_name((sgs_simd_level)level), ci, cj, n, ri, rj, rn, nx, ny);
        }
#if defined(__x86_64__)
        if (sgs_simd_active() >= SGS_SIMD_AVX512) {
            check_avx512_from("avx512", x, nx, y, ny, 0, 0);
            /* From a start inside both arrays or at their ends, as after an
             * earlier block: the shared docs of the two suffixes. */
            check_avx512_from("avx512 (from inside)", x, nx, y, ny,
                              (uint32_t)rng_below(&r, nx + 1), (uint32_t)rng_below(&r, ny + 1));
        }
#endif
    }
    cr_assert(shared_total > 20000, "the pairs drawn share too few docs (%" PRIu64 ")",
              shared_total);
}

/* Windows that meet exactly at their last docs, or share only the largest
 * id an array may hold, and arrays of one doc. */
Test(intersect, edges)
{
    uint32_t a[MAX_LEN], b[MAX_LEN], ri[MAX_LEN], rj[MAX_LEN];
    uint32_t ci[MAX_LEN + SGS_INTERSECT_ALL_SLACK], cj[MAX_LEN + SGS_INTERSECT_ALL_SLACK];
    for (uint32_t na = 1; na <= 40; na++)
        for (uint32_t nb = 1; nb <= 40; nb++) {
            for (uint32_t i = 0; i < na; i++)
                a[i] = UINT32_MAX - 1 - 2 * (na - 1 - i);
            for (uint32_t j = 0; j < nb; j++)
                b[j] = UINT32_MAX - 1 - 3 * (nb - 1 - j);
            uint32_t rn = reference(a, na, b, nb, ri, rj);
            cr_assert(rn >= 1, "the last ids are shared");
            for (int level = SGS_SIMD_SCALAR; level <= (int)sgs_simd_active(); level++) {
                uint32_t n = by_shared_kernel((sgs_simd_level)level, a, na, b, nb, ci, cj);
                check_same(sgs_simd_name((sgs_simd_level)level), ci, cj, n, ri, rj, rn, na, nb);
            }
#if defined(__x86_64__)
            if (sgs_simd_active() >= SGS_SIMD_AVX512)
                check_avx512_from("avx512", a, na, b, nb, 0, 0);
#endif
        }
}

/* Every kernel on x and y (both ways round), against the merge. */
static void check_all_kernels(const char *pattern, const uint32_t *x, uint32_t nx,
                              const uint32_t *y, uint32_t ny)
{
    uint32_t ri[MAX_LEN], rj[MAX_LEN];
    uint32_t ci[MAX_LEN + SGS_INTERSECT_ALL_SLACK], cj[MAX_LEN + SGS_INTERSECT_ALL_SLACK];
    for (int way = 0; way < 2; way++) {
        const uint32_t *a = way ? y : x, *b = way ? x : y;
        uint32_t na = way ? ny : nx, nb = way ? nx : ny;
        uint32_t rn = reference(a, na, b, nb, ri, rj);
        for (int level = SGS_SIMD_SCALAR; level <= (int)sgs_simd_active(); level++) {
            uint32_t n = by_shared_kernel((sgs_simd_level)level, a, na, b, nb, ci, cj);
            check_same(sgs_simd_name((sgs_simd_level)level), ci, cj, n, ri, rj, rn, na, nb);
        }
#if defined(__x86_64__)
        if (sgs_simd_active() >= SGS_SIMD_AVX512)
            check_avx512_from(pattern, a, na, b, nb, 0, 0);
#endif
    }
}

/* Inputs built on purpose rather than drawn: windows of both sides ending
 * on the same doc, identical full blocks, a short side whose only shared
 * doc is its last (the one masked lanes are filled with), lengths around
 * multiples of 16, and doc 0 and UINT32_MAX as members. */
Test(intersect, patterns)
{
    fprintf(stderr, "intersect/patterns: simd %s\n", sgs_simd_name(sgs_simd_active()));
    static uint32_t a[MAX_LEN], b[MAX_LEN];
    for (uint32_t n = 1; n <= SGS_BLOCK_LEN; n++) {
        for (uint32_t k = 0; k < n; k++)
            a[k] = k; /* 0, 1, 2, ... */
        uint32_t nb = 0;
        for (uint32_t k = 15; k < n; k += 16)
            b[nb++] = a[k]; /* every 16-doc window's last doc */
        check_all_kernels("window ends", a, n, b, nb);
        check_all_kernels("identical", a, n, a, n);
        for (uint32_t k = 0; k < n; k++)
            b[k] = UINT32_MAX - (n - 1 - k); /* ..., UINT32_MAX - 1, UINT32_MAX */
        check_all_kernels("identical at the top", b, n, b, n);
    }
    for (uint32_t s = 1; s < 16; s++)
        for (uint32_t at = 0; at < SGS_BLOCK_LEN; at += 7) {
            for (uint32_t k = 0; k < SGS_BLOCK_LEN; k++)
                a[k] = 2 * k;
            for (uint32_t k = 0; k < s; k++)
                b[k] = 2 * at - 2 * (s - 1 - k) - 1; /* odd: not in a ... */
            b[s - 1] = 2 * at; /* ... but the last, a[at] */
            if (b[0] > b[s - 1]) /* wrapped below 0 */
                continue;
            check_all_kernels("short side, last doc shared", a, SGS_BLOCK_LEN, b, s);
        }
    for (uint32_t m = 16; m <= SGS_BLOCK_LEN; m += 16)
        for (int d = -1; d <= 1; d++) {
            uint32_t n = (uint32_t)((int)m + d), nb = 0;
            for (uint32_t k = 0; k < n; k++)
                a[k] = 3 * k;
            for (uint32_t k = 0; k < 3 * n; k += 2)
                b[nb++] = k; /* shares every other of a's docs */
            if (nb > MAX_LEN)
                nb = MAX_LEN;
            check_all_kernels("around multiples of 16", a, n, b, nb);
        }
}
