/* Worker-local inverted index. Terms live in an arena; each term's postings
 * are a growable array of packed (shard, doc, tf) triples. */
#include "index-tools/invert.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/mem.h"
#include "common/ofile.h"
#include "index-tools/docparse.h"

typedef struct posting {
    uint32_t shard, doc, tf;
} posting;

typedef struct term_rec {
    uint64_t hash;
    uint32_t off; /* into the arena */
    uint8_t len;
    uint32_t n, cap;
    posting *p;
} term_rec;

struct idx_inverter {
    term_rec *terms;
    size_t n_terms, terms_cap;
    uint32_t *slots; /* term index + 1, 0 empty */
    size_t n_slots;
    sgs_buf arena;
    size_t posting_bytes;
    uint32_t *counts; /* group_by_shard scratch */
    size_t counts_cap;
    posting *scratch;
    size_t scratch_cap;
};

idx_inverter *idx_inverter_new(void)
{
    idx_inverter *inv = sgs_xcalloc(1, sizeof *inv);
    inv->n_slots = 1u << 16;
    inv->slots = sgs_xcalloc(inv->n_slots, sizeof *inv->slots);
    sgs_buf_init(&inv->arena);
    return inv;
}

static void clear(idx_inverter *inv)
{
    for (size_t t = 0; t < inv->n_terms; t++)
        free(inv->terms[t].p);
    inv->n_terms = 0;
    memset(inv->slots, 0, inv->n_slots * sizeof *inv->slots);
    sgs_buf_reset(&inv->arena);
    inv->posting_bytes = 0;
}

void idx_inverter_free(idx_inverter *inv)
{
    if (inv == NULL)
        return;
    clear(inv);
    free(inv->terms);
    free(inv->slots);
    free(inv->counts);
    free(inv->scratch);
    sgs_buf_fini(&inv->arena);
    free(inv);
}

static void grow_slots(idx_inverter *inv)
{
    size_t n = inv->n_slots * 2;
    uint32_t *slots = sgs_xcalloc(n, sizeof *slots);
    for (size_t t = 0; t < inv->n_terms; t++) {
        size_t i = inv->terms[t].hash & (n - 1);
        while (slots[i] != 0)
            i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)(t + 1);
    }
    free(inv->slots);
    inv->slots = slots;
    inv->n_slots = n;
}

static inline void add_posting(idx_inverter *inv, const char *term, size_t len, uint64_t h,
                               uint32_t shard, uint32_t doc, uint32_t tf)
{
    size_t i = h & (inv->n_slots - 1);
    term_rec *t = NULL;
    for (;;) {
        uint32_t s = inv->slots[i];
        if (s == 0)
            break;
        term_rec *c = &inv->terms[s - 1];
        if (c->hash == h && c->len == len && memcmp(inv->arena.data + c->off, term, len) == 0) {
            t = c;
            break;
        }
        i = (i + 1) & (inv->n_slots - 1);
    }
    if (t == NULL) {
        if (inv->n_terms == inv->terms_cap) {
            inv->terms_cap = inv->terms_cap ? inv->terms_cap * 2 : 4096;
            inv->terms = sgs_xrealloc(inv->terms, inv->terms_cap * sizeof *inv->terms);
        }
        t = &inv->terms[inv->n_terms++];
        *t = (term_rec){.hash = h, .off = (uint32_t)inv->arena.len, .len = (uint8_t)len};
        sgs_buf_append(&inv->arena, term, len);
        inv->slots[i] = (uint32_t)inv->n_terms;
        if (inv->n_terms * 2 > inv->n_slots)
            grow_slots(inv);
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap + t->cap / 2 + 2 : 2;
        t->p = sgs_xrealloc(t->p, cap * sizeof *t->p);
        inv->posting_bytes += (cap - t->cap) * sizeof *t->p;
        t->cap = cap;
    }
    t->p[t->n++] = (posting){shard, doc, tf};
}

/* Terms looked up together: their table slots, records, bytes and posting
 * ends are prefetched in stages before any is touched, so the cache misses
 * of a batch overlap instead of coming one after another. */
#define ADD_BATCH 32

void idx_inverter_add_doc(idx_inverter *inv, const uint8_t *terms, uint32_t n_terms,
                          uint32_t shard, uint32_t doc)
{
    struct {
        const char *s;
        size_t len;
        uint64_t h;
        uint32_t tf;
    } b[ADD_BATCH];
    while (n_terms > 0) {
        uint32_t m = n_terms < ADD_BATCH ? n_terms : ADD_BATCH;
        size_t mask = inv->n_slots - 1;
        for (uint32_t k = 0; k < m; k++) {
            terms = idx_term_next(terms, &b[k].s, &b[k].len, &b[k].tf, &b[k].h);
            __builtin_prefetch(&inv->slots[b[k].h & mask]);
        }
        for (uint32_t k = 0; k < m; k++) {
            uint32_t s = inv->slots[b[k].h & mask];
            if (s != 0)
                __builtin_prefetch(&inv->terms[s - 1]);
        }
        for (uint32_t k = 0; k < m; k++) {
            uint32_t s = inv->slots[b[k].h & mask];
            if (s != 0) {
                const term_rec *t = &inv->terms[s - 1];
                __builtin_prefetch(inv->arena.data + t->off);
                if (t->p != NULL)
                    __builtin_prefetch(t->p + t->n, 1);
            }
        }
        for (uint32_t k = 0; k < m; k++)
            add_posting(inv, b[k].s, b[k].len, b[k].h, shard, doc, b[k].tf);
        n_terms -= m;
    }
}

size_t idx_inverter_memory(const idx_inverter *inv)
{
    return inv->posting_bytes + inv->arena.cap + inv->terms_cap * sizeof(term_rec) +
           inv->n_slots * sizeof(uint32_t);
}

int idx_inverter_empty(const idx_inverter *inv)
{
    return inv->n_terms == 0;
}

static int cmp_terms(const void *a, const void *b, void *ctx)
{
    const idx_inverter *inv = ctx;
    const term_rec *x = &inv->terms[*(const uint32_t *)a];
    const term_rec *y = &inv->terms[*(const uint32_t *)b];
    const uint8_t *base = inv->arena.data;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(base + x->off, base + y->off, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_varint(sgs_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        sgs_buf_putc(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    sgs_buf_putc(b, (uint8_t)v);
}

/* Orders a term's postings by shard, keeping doc order within a shard:
 * insertion sort for short lists, a counting sort into scratch otherwise. */
static void group_by_shard(idx_inverter *inv, posting *p, uint32_t n)
{
    if (n <= 64) {
        for (uint32_t i = 1; i < n; i++) {
            posting x = p[i];
            uint32_t j = i;
            while (j > 0 && p[j - 1].shard > x.shard) {
                p[j] = p[j - 1];
                j--;
            }
            p[j] = x;
        }
        return;
    }
    uint32_t max_shard = 0;
    for (uint32_t i = 0; i < n; i++)
        if (p[i].shard > max_shard)
            max_shard = p[i].shard;
    if (max_shard + 2 > inv->counts_cap) {
        inv->counts_cap = max_shard + 2;
        inv->counts = sgs_xrealloc(inv->counts, inv->counts_cap * sizeof *inv->counts);
    }
    if (n > inv->scratch_cap) {
        inv->scratch_cap = n;
        inv->scratch = sgs_xrealloc(inv->scratch, inv->scratch_cap * sizeof *inv->scratch);
    }
    memset(inv->counts, 0, (max_shard + 2) * sizeof *inv->counts);
    for (uint32_t i = 0; i < n; i++)
        inv->counts[p[i].shard + 1]++;
    for (uint32_t s = 1; s <= max_shard + 1; s++)
        inv->counts[s] += inv->counts[s - 1];
    for (uint32_t i = 0; i < n; i++)
        inv->scratch[inv->counts[p[i].shard]++] = p[i];
    memcpy(p, inv->scratch, n * sizeof *p);
}

int idx_inverter_spill(idx_inverter *inv, const char *path, sgs_err *err)
{
    sgs_ofile *out = sgs_ofile_open(path, false, err);
    if (out == NULL)
        return SGS_EIO;
    uint32_t *order = sgs_xmalloc((inv->n_terms ? inv->n_terms : 1) * sizeof *order);
    for (size_t t = 0; t < inv->n_terms; t++)
        order[t] = (uint32_t)t;
    qsort_r(order, inv->n_terms, sizeof *order, cmp_terms, inv);

    char idx_path[4200];
    snprintf(idx_path, sizeof idx_path, "%s%s", path, IDX_RUN_INDEX_SUFFIX);
    sgs_ofile *idx = sgs_ofile_open(idx_path, false, err);
    if (idx == NULL) {
        sgs_ofile_close(out, false, NULL);
        free(order);
        return SGS_EIO;
    }
    size_t every = inv->n_terms / IDX_RUN_SAMPLES + 1;
    sgs_buf rec;
    sgs_buf_init(&rec);
    int rc = 0;
    for (size_t k = 0; k < inv->n_terms && rc == 0; k++) {
        term_rec *t = &inv->terms[order[k]];
        if (k % every == 0) {
            uint8_t off[8];
            put_u64(off, sgs_ofile_size(out));
            sgs_ofile_write(idx, off, 8, err);
            sgs_ofile_write(idx, &t->len, 1, err);
            sgs_ofile_write(idx, inv->arena.data + t->off, t->len, err);
        }
        bool sorted = true;
        for (uint32_t i = 1; i < t->n && sorted; i++)
            sorted = t->p[i - 1].shard <= t->p[i].shard;
        if (!sorted)
            group_by_shard(inv, t->p, t->n);
        sgs_buf_reset(&rec);
        sgs_buf_putc(&rec, t->len);
        sgs_buf_append(&rec, inv->arena.data + t->off, t->len);
        uint32_t n_groups = 0;
        for (uint32_t i = 0; i < t->n; i++)
            n_groups += i == 0 || t->p[i].shard != t->p[i - 1].shard;
        put_varint(&rec, n_groups);
        for (uint32_t i = 0; i < t->n;) {
            uint32_t j = i;
            while (j < t->n && t->p[j].shard == t->p[i].shard)
                j++;
            put_varint(&rec, t->p[i].shard);
            put_varint(&rec, j - i);
            i = j;
        }
        for (uint32_t i = 0; i < t->n; i++) {
            bool first = i == 0 || t->p[i].shard != t->p[i - 1].shard;
            put_varint(&rec, first ? t->p[i].doc : t->p[i].doc - t->p[i - 1].doc);
            put_varint(&rec, t->p[i].tf);
        }
        rc = sgs_ofile_write(out, rec.data, rec.len, err);
    }
    uint8_t end = 0;
    if (rc == 0)
        rc = sgs_ofile_write(out, &end, 1, err);
    {
        uint8_t off[9] = {0};
        put_u64(off, sgs_ofile_size(out));
        if (rc == 0)
            rc = sgs_ofile_write(idx, off, 9, err);
    }
    int close_rc = sgs_ofile_close(out, false, err);
    int idx_rc = sgs_ofile_close(idx, false, err);
    close_rc = close_rc ? close_rc : idx_rc;
    sgs_buf_fini(&rec);
    free(order);
    clear(inv);
    return rc ? rc : close_rc;
}
