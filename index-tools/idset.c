/* The build's id set: a bounded hash table in front of one sorted file of
 * spilled hashes, a blocked Bloom filter over the file and a sparse index
 * of its pages.
 *
 * Invariants: the table and the file hold disjoint ids; the file is sorted
 * by (hi, lo) with no repeats, sparse[p] is its entry p * PAGE_IDS, and every
 * id of the file is in the filter. The all-zero hash marks an empty slot,
 * so an id hashing to it is stored with lo = 1. */
#include "index-tools/idset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/mem.h"
#include "common/ofile.h"

#define PAGE_IDS 256u    /* ids a page of the file: 4 KiB */
#define BLOOM_BITS_PER_ID 10u
#define BLOOM_K 7        /* bits set an id, 9 bits of lo each */
#define MERGE_IDS 4096u  /* ids read from the old file at a time while merging */

typedef struct h128 {
    uint64_t hi, lo;
} h128;

struct idx_idset {
    char *path, *new_path;
    int fd;           /* the sorted file; -1 before the first spill */
    uint64_t n_file;  /* ids in it */
    h128 *sparse;     /* first hash of each page */
    uint64_t *bloom;  /* n_blocks blocks of 8 words */
    uint64_t n_blocks, bloom_cap;
    h128 *slots;
    size_t n_slots, n, max_slots;
};

static int h_cmp(h128 a, h128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return (a.lo > b.lo) - (a.lo < b.lo);
}

static int h_qcmp(const void *a, const void *b)
{
    return h_cmp(*(const h128 *)a, *(const h128 *)b);
}

static bool h_empty(h128 h)
{
    return h.hi == 0 && h.lo == 0;
}

static void bloom_add(uint64_t *bloom, uint64_t n_blocks, h128 h)
{
    uint64_t *b = bloom + (h.hi & (n_blocks - 1)) * 8;
    uint64_t x = h.lo;
    for (int i = 0; i < BLOOM_K; i++, x >>= 9)
        b[(x & 511) >> 6] |= 1ULL << (x & 63);
}

static bool bloom_maybe(const uint64_t *bloom, uint64_t n_blocks, h128 h)
{
    const uint64_t *b = bloom + (h.hi & (n_blocks - 1)) * 8;
    uint64_t x = h.lo;
    for (int i = 0; i < BLOOM_K; i++, x >>= 9)
        if (!(b[(x & 511) >> 6] & (1ULL << (x & 63))))
            return false;
    return true;
}

idx_idset *idx_idset_new(const char *dir, size_t table_bytes)
{
    idx_idset *s = sgs_xcalloc(1, sizeof *s);
    size_t len = strlen(dir) + 32;
    s->path = sgs_xmalloc(len);
    s->new_path = sgs_xmalloc(len);
    snprintf(s->path, len, "%s/ids.tmp", dir);
    snprintf(s->new_path, len, "%s/ids.new.tmp", dir);
    s->fd = -1;
    if (table_bytes < (64u << 10))
        table_bytes = 64u << 10;
    s->max_slots = 4096;
    while (s->max_slots * 2 * sizeof(h128) <= table_bytes)
        s->max_slots *= 2;
    s->n_slots = s->max_slots < (1u << 16) ? s->max_slots : (1u << 16);
    s->slots = sgs_xcalloc(s->n_slots, sizeof *s->slots);
    return s;
}

void idx_idset_free(idx_idset *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0) {
        close(s->fd);
        unlink(s->path);
    }
    unlink(s->new_path);
    free(s->path);
    free(s->new_path);
    free(s->sparse);
    free(s->bloom);
    free(s->slots);
    free(s);
}

size_t idx_idset_memory(const idx_idset *s)
{
    size_t pages = (size_t)((s->n_file + PAGE_IDS - 1) / PAGE_IDS);
    return s->n_slots * sizeof(h128) + (size_t)s->n_blocks * 64 + pages * sizeof(h128);
}

uint64_t idx_idset_count(const idx_idset *s)
{
    return s->n_file + s->n;
}

uint64_t idx_idset_spilled(const idx_idset *s)
{
    return s->n_file;
}

/* Doubles the table. */
static void grow(idx_idset *s)
{
    size_t n = s->n_slots * 2;
    h128 *slots = sgs_xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < s->n_slots; i++) {
        h128 h = s->slots[i];
        if (h_empty(h))
            continue;
        size_t j = h.lo & (n - 1);
        while (!h_empty(slots[j]))
            j = (j + 1) & (n - 1);
        slots[j] = h;
    }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
}

/* Reads up to MERGE_IDS ids of the old file from position *pos. */
static ssize_t read_ids(const idx_idset *s, h128 *buf, uint64_t *pos, sgs_err *err)
{
    uint64_t left = s->n_file - *pos;
    size_t want = left < MERGE_IDS ? (size_t)left : MERGE_IDS;
    if (want == 0)
        return 0;
    ssize_t got = pread(s->fd, buf, want * sizeof *buf, (off_t)(*pos * sizeof *buf));
    if (got != (ssize_t)(want * sizeof *buf))
        return sgs_err_set(err, SGS_EIO, "read %s: %s", s->path,
                           got < 0 ? strerror(errno) : "short read");
    *pos += want;
    return (ssize_t)want;
}

/* Merges the table into the file and empties the table. */
static int spill(idx_idset *s, sgs_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_slots; i++)
        if (!h_empty(s->slots[i]))
            s->slots[n++] = s->slots[i];
    qsort(s->slots, n, sizeof *s->slots, h_qcmp);

    uint64_t total = s->n_file + n;
    bool rebuild = total > s->bloom_cap;
    uint64_t *bloom = s->bloom, n_blocks = s->n_blocks;
    if (rebuild) {
        uint64_t cap = s->bloom_cap * 2 > total ? s->bloom_cap * 2 : total;
        n_blocks = 1;
        while (n_blocks * 512 < cap * BLOOM_BITS_PER_ID)
            n_blocks *= 2;
        bloom = sgs_xcalloc((size_t)n_blocks * 8, sizeof *bloom);
        s->bloom_cap = cap;
    }
    h128 *sparse = sgs_xmalloc((size_t)((total + PAGE_IDS - 1) / PAGE_IDS) * sizeof *sparse);
    h128 *old = sgs_xmalloc(MERGE_IDS * sizeof *old);
    sgs_ofile *out = sgs_ofile_open(s->new_path, false, err);
    int rc = out == NULL ? SGS_EIO : 0;
    uint64_t pos = 0, k = 0;
    size_t t = 0, o = 0, n_old = 0;
    while (rc == 0 && k < total) {
        if (o == n_old) {
            ssize_t got = read_ids(s, old, &pos, err);
            if (got < 0) {
                rc = (int)got;
                break;
            }
            n_old = (size_t)got;
            o = 0;
        }
        h128 h;
        if (o < n_old && (t == n || h_cmp(old[o], s->slots[t]) < 0)) {
            h = old[o++];
            if (rebuild)
                bloom_add(bloom, n_blocks, h);
        } else {
            h = s->slots[t++];
            bloom_add(bloom, n_blocks, h);
        }
        if (k % PAGE_IDS == 0)
            sparse[k / PAGE_IDS] = h;
        rc = sgs_ofile_write(out, &h, sizeof h, err);
        k++;
    }
    int crc = sgs_ofile_close(out, false, rc ? NULL : err);
    free(old);
    if (rc == 0)
        rc = crc;
    if (rc == 0 && rename(s->new_path, s->path) != 0)
        rc = sgs_err_set(err, SGS_EIO, "rename %s: %s", s->new_path, strerror(errno));
    int fd = rc == 0 ? open(s->path, O_RDONLY | O_CLOEXEC) : -1;
    if (rc == 0 && fd < 0)
        rc = sgs_err_set(err, SGS_EIO, "open %s: %s", s->path, strerror(errno));
    if (rc != 0) {
        if (rebuild)
            free(bloom);
        free(sparse);
        return rc;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    s->n_file = total;
    free(s->sparse);
    s->sparse = sparse;
    if (rebuild) {
        free(s->bloom);
        s->bloom = bloom;
        s->n_blocks = n_blocks;
    }
    memset(s->slots, 0, s->n_slots * sizeof *s->slots);
    s->n = 0;
    return 0;
}

/* Whether the file holds h. */
static int file_has(const idx_idset *s, h128 h, bool *found, sgs_err *err)
{
    *found = false;
    if (s->n_file == 0 || !bloom_maybe(s->bloom, s->n_blocks, h))
        return 0;
    size_t n_pages = (size_t)((s->n_file + PAGE_IDS - 1) / PAGE_IDS);
    size_t a = 0, b = n_pages; /* pages below a start at or before h */
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (h_cmp(s->sparse[m], h) <= 0)
            a = m + 1;
        else
            b = m;
    }
    if (a == 0)
        return 0;
    uint64_t first = (uint64_t)(a - 1) * PAGE_IDS;
    size_t cnt = s->n_file - first < PAGE_IDS ? (size_t)(s->n_file - first) : PAGE_IDS;
    h128 page[PAGE_IDS];
    ssize_t got = pread(s->fd, page, cnt * sizeof *page, (off_t)(first * sizeof *page));
    if (got != (ssize_t)(cnt * sizeof *page))
        return sgs_err_set(err, SGS_EIO, "read %s: %s", s->path,
                           got < 0 ? strerror(errno) : "short read");
    size_t lo = 0, hi = cnt;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        int c = h_cmp(page[m], h);
        if (c == 0) {
            *found = true;
            return 0;
        }
        if (c < 0)
            lo = m + 1;
        else
            hi = m;
    }
    return 0;
}

int idx_idset_insert(idx_idset *s, const char *id, size_t len, bool *fresh, sgs_err *err)
{
    XXH128_hash_t x = XXH3_128bits(id, len);
    h128 h = {x.high64, x.low64};
    if (h_empty(h))
        h.lo = 1;
    *fresh = false;
    for (size_t j = h.lo & (s->n_slots - 1); !h_empty(s->slots[j]);
         j = (j + 1) & (s->n_slots - 1))
        if (h_cmp(s->slots[j], h) == 0)
            return 0;
    bool in_file;
    int rc = file_has(s, h, &in_file, err);
    if (rc != 0 || in_file)
        return rc;
    if ((s->n + 1) * 10 > s->n_slots * 7) {
        if (s->n_slots < s->max_slots)
            grow(s);
        else if ((rc = spill(s, err)) != 0)
            return rc;
    }
    size_t j = h.lo & (s->n_slots - 1);
    while (!h_empty(s->slots[j]))
        j = (j + 1) & (s->n_slots - 1);
    s->slots[j] = h;
    s->n++;
    *fresh = true;
    return 0;
}
