/* K-way merge of run files into shard writers. */
#include "index-tools/merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/tokenize.h"

typedef struct group {
    uint32_t shard, count;
} group;

typedef struct run {
    FILE *f;
    const char *path;
    char *iobuf;
    bool done;
    char term[SGS_TOKEN_MAX_BYTES];
    size_t term_len;
    group *groups;
    size_t n_groups, groups_cap, cur_group;
    uint32_t left_in_group; /* postings not yet read of groups[cur_group] */
    uint32_t next_doc, next_tf; /* the posting read ahead */
    bool first_in_group;
} run;

static int run_fail(run *r, sgs_err *err, const char *what)
{
    if (ferror(r->f))
        return sgs_err_set(err, SGS_EIO, "read %s: %s", r->path, strerror(errno));
    return sgs_err_set(err, SGS_ECORRUPT, "run %s: %s", r->path, what);
}

static int get_varint(run *r, uint64_t *v, sgs_err *err)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        int c = getc_unlocked(r->f);
        if (c == EOF)
            return run_fail(r, err, "truncated varint");
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return run_fail(r, err, "overlong varint");
}

/* Reads the next term record header; sets done at the end marker. */
static int run_next_term(run *r, sgs_err *err)
{
    int len = getc_unlocked(r->f);
    if (len == EOF)
        return run_fail(r, err, "missing end marker");
    if (len == 0) {
        r->done = true;
        return 0;
    }
    if (fread(r->term, 1, (size_t)len, r->f) != (size_t)len)
        return run_fail(r, err, "truncated term");
    r->term_len = (size_t)len;
    uint64_t n_groups;
    if (get_varint(r, &n_groups, err) != 0)
        return SGS_ECORRUPT;
    if (n_groups == 0 || n_groups > (1u << 24))
        return run_fail(r, err, "bad group count");
    if (n_groups > r->groups_cap) {
        r->groups_cap = (size_t)n_groups;
        r->groups = sgs_xrealloc(r->groups, r->groups_cap * sizeof *r->groups);
    }
    r->n_groups = (size_t)n_groups;
    for (size_t g = 0; g < r->n_groups; g++) {
        uint64_t shard, count;
        if (get_varint(r, &shard, err) != 0 || get_varint(r, &count, err) != 0)
            return SGS_ECORRUPT;
        if (count == 0 || count > UINT32_MAX || shard > UINT32_MAX)
            return run_fail(r, err, "bad group");
        r->groups[g] = (group){(uint32_t)shard, (uint32_t)count};
    }
    r->cur_group = 0;
    r->left_in_group = r->groups[0].count;
    r->first_in_group = true;
    return 0;
}

/* Reads the next posting of the current group into next_doc/next_tf. */
static int run_read_posting(run *r, sgs_err *err)
{
    uint64_t gap, tf;
    if (get_varint(r, &gap, err) != 0 || get_varint(r, &tf, err) != 0)
        return SGS_ECORRUPT;
    uint64_t doc = r->first_in_group ? gap : (uint64_t)r->next_doc + gap;
    if (doc > UINT32_MAX || tf == 0 || tf > UINT32_MAX || (!r->first_in_group && gap == 0))
        return run_fail(r, err, "bad posting");
    r->next_doc = (uint32_t)doc;
    r->next_tf = (uint32_t)tf;
    r->first_in_group = false;
    r->left_in_group--;
    return 0;
}

static int term_cmp(const run *a, const run *b)
{
    size_t n = a->term_len < b->term_len ? a->term_len : b->term_len;
    int c = memcmp(a->term, b->term, n);
    if (c != 0)
        return c;
    return (a->term_len > b->term_len) - (a->term_len < b->term_len);
}

/* A binary min-heap of runs by current term. */
static void heap_sift_down(run **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && term_cmp(h[l], h[m]) < 0)
            m = l;
        if (r < n && term_cmp(h[r], h[m]) < 0)
            m = r;
        if (m == i)
            return;
        run *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_push(run **h, size_t *n, run *x)
{
    size_t i = (*n)++;
    h[i] = x;
    while (i > 0 && term_cmp(h[(i - 1) / 2], h[i]) > 0) {
        run *t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static run *heap_pop(run **h, size_t *n)
{
    run *top = h[0];
    h[0] = h[--*n];
    heap_sift_down(h, *n, 0);
    return top;
}

/* Streams the postings of one term in one shard from the runs whose
 * current group is that shard. */
static int merge_shard(run **active, size_t n_active, uint32_t shard, sgs_shard_writer *w,
                       sgs_err *err)
{
    run *parts[n_active ? n_active : 1];
    size_t n_parts = 0;
    for (size_t i = 0; i < n_active; i++) {
        run *r = active[i];
        if (r->cur_group < r->n_groups && r->groups[r->cur_group].shard == shard) {
            if (run_read_posting(r, err) != 0)
                return SGS_ECORRUPT;
            parts[n_parts++] = r;
        }
    }
    while (n_parts > 0) {
        size_t m = 0;
        for (size_t i = 1; i < n_parts; i++)
            if (parts[i]->next_doc < parts[m]->next_doc)
                m = i;
        run *r = parts[m];
        int rc = sgs_shard_writer_add_posting(w, r->next_doc, r->next_tf, err);
        if (rc != 0)
            return rc;
        if (r->left_in_group > 0) {
            if (run_read_posting(r, err) != 0)
                return SGS_ECORRUPT;
        } else {
            r->cur_group++;
            if (r->cur_group < r->n_groups) {
                r->left_in_group = r->groups[r->cur_group].count;
                r->first_in_group = true;
            }
            parts[m] = parts[--n_parts];
        }
    }
    return 0;
}

int idx_merge_runs(const char *const *run_paths, size_t n_runs, sgs_shard_writer **writers,
                   uint32_t n_shards, uint64_t buffer_budget, uint64_t *n_terms,
                   uint64_t *n_postings, sgs_err *err)
{
    uint64_t per_run = buffer_budget / (n_runs ? n_runs : 1);
    size_t buf_size = per_run < (16u << 10) ? (16u << 10)
                      : per_run > (256u << 10) ? (256u << 10) : (size_t)per_run;
    run *runs = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *runs);
    run **heap = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *heap);
    run **active = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *active);
    uint64_t *shard_df = sgs_xcalloc(n_shards, sizeof *shard_df);
    size_t n_heap = 0;
    int rc = 0;
    *n_terms = 0;
    *n_postings = 0;
    for (size_t i = 0; i < n_runs; i++) {
        run *r = &runs[i];
        r->path = run_paths[i];
        r->f = fopen(r->path, "rb");
        if (r->f == NULL) {
            rc = sgs_err_set(err, SGS_EIO, "fopen %s: %s", r->path, strerror(errno));
            goto done;
        }
        r->iobuf = sgs_xmalloc(buf_size);
        setvbuf(r->f, r->iobuf, _IOFBF, buf_size);
        if ((rc = run_next_term(r, err)) != 0)
            goto done;
        if (!r->done)
            heap_push(heap, &n_heap, r);
    }
    while (n_heap > 0) {
        size_t n_active = 0;
        active[n_active++] = heap_pop(heap, &n_heap);
        while (n_heap > 0 && term_cmp(heap[0], active[0]) == 0)
            active[n_active++] = heap_pop(heap, &n_heap);

        uint64_t global_df = 0;
        for (size_t a = 0; a < n_active; a++)
            for (size_t g = 0; g < active[a]->n_groups; g++) {
                const group *gr = &active[a]->groups[g];
                if (gr->shard >= n_shards) {
                    rc = run_fail(active[a], err, "shard out of range");
                    goto done;
                }
                shard_df[gr->shard] += gr->count;
                global_df += gr->count;
            }
        if (global_df > UINT32_MAX) {
            rc = sgs_err_set(err, SGS_ELIMIT, "term '%.*s' is in more than 2^32 documents",
                             (int)active[0]->term_len, active[0]->term);
            goto done;
        }
        for (uint32_t s = 0; s < n_shards; s++) {
            if (shard_df[s] == 0)
                continue;
            const run *t = active[0];
            rc = sgs_shard_writer_begin_term(writers[s], t->term, t->term_len,
                                             (uint32_t)shard_df[s], (uint32_t)global_df, err);
            if (rc == 0)
                rc = merge_shard(active, n_active, s, writers[s], err);
            if (rc == 0)
                rc = sgs_shard_writer_end_term(writers[s], err);
            if (rc != 0)
                goto done;
            shard_df[s] = 0;
        }
        (*n_terms)++;
        *n_postings += global_df;
        for (size_t a = 0; a < n_active; a++) {
            if ((rc = run_next_term(active[a], err)) != 0)
                goto done;
            if (!active[a]->done)
                heap_push(heap, &n_heap, active[a]);
        }
    }
done:
    for (size_t i = 0; i < n_runs; i++) {
        if (runs[i].f)
            fclose(runs[i].f);
        free(runs[i].iobuf);
        free(runs[i].groups);
    }
    free(runs);
    free(heap);
    free(active);
    free(shard_df);
    return rc;
}
