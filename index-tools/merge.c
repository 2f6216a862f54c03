/* K-way merge of run files into shard writers, split by term range over
 * threads. */
#include "index-tools/merge.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/ofile.h"
#include "common/shard_format.h"
#include "common/tokenize.h"
#include "index-tools/invert.h"

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

static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0)
        return c;
    return (na > nb) - (na < nb);
}

static int term_cmp(const run *a, const run *b)
{
    return bytes_cmp(a->term, a->term_len, b->term, b->term_len);
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

/* Reads past the postings of the current term record. */
static int run_skip_postings(run *r, sgs_err *err)
{
    for (size_t g = 0; g < r->n_groups; g++)
        for (uint32_t i = 0; i < r->groups[g].count; i++) {
            uint64_t v;
            if (get_varint(r, &v, err) != 0 || get_varint(r, &v, err) != 0)
                return SGS_ECORRUPT;
        }
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- sinks: where one range's terms of one shard go ------------------- */

/* The first range writes straight into the shard writer; the others encode
 * into a piece file of records:
 *   u8 term length, term bytes, u32 shard df, u32 global df, u32 max score
 *   (float bits), u8 dense, u64 postings bytes, then those bytes. */
typedef struct sink {
    sgs_shard_writer *w;
    sgs_term_encoder *enc;
    sgs_ofile *piece;
    char *piece_path;
    const char *term;
    size_t term_len;
    uint32_t shard_df, global_df;
} sink;

#define PIECE_HEAD_BYTES 21u /* after the term: dfs, max score, dense, size */

static int sink_begin(sink *k, const char *term, size_t len, uint32_t shard_df,
                      uint32_t global_df, sgs_err *err)
{
    if (k->w != NULL)
        return sgs_shard_writer_begin_term(k->w, term, len, shard_df, global_df, err);
    k->term = term;
    k->term_len = len;
    k->shard_df = shard_df;
    k->global_df = global_df;
    return sgs_term_encoder_begin(k->enc, shard_df, global_df, err);
}

static inline int sink_add(sink *k, uint32_t doc, uint32_t tf, sgs_err *err)
{
    return k->w != NULL ? sgs_shard_writer_add_posting(k->w, doc, tf, err)
                        : sgs_term_encoder_add(k->enc, doc, tf, err);
}

static int sink_end(sink *k, sgs_err *err)
{
    if (k->w != NULL)
        return sgs_shard_writer_end_term(k->w, err);
    sgs_encoded_term t;
    int rc = sgs_term_encoder_end(k->enc, &t, err);
    if (rc != 0)
        return rc;
    uint8_t h[1 + SGS_TOKEN_MAX_BYTES + PIECE_HEAD_BYTES];
    size_t n = 0;
    h[n++] = (uint8_t)k->term_len;
    memcpy(h + n, k->term, k->term_len);
    n += k->term_len;
    put_u32(h + n, k->shard_df);
    put_u32(h + n + 4, k->global_df);
    uint32_t bits;
    memcpy(&bits, &t.max_score, 4);
    put_u32(h + n + 8, bits);
    h[n + 12] = t.dense;
    uint64_t total = 0;
    for (size_t i = 0; i < t.n_parts; i++)
        total += t.part_len[i];
    put_u64(h + n + 13, total);
    n += PIECE_HEAD_BYTES;
    rc = sgs_ofile_write(k->piece, h, n, err);
    for (size_t i = 0; i < t.n_parts && rc == 0; i++)
        if (t.part_len[i] > 0)
            rc = sgs_ofile_write(k->piece, t.part[i], t.part_len[i], err);
    return rc;
}

/* Streams the postings of one term in one shard from the runs whose current
 * group is that shard: a heap of runs by next doc id, taking postings from
 * the top run while they stay below both its children, since runs hold
 * long stretches of consecutive postings. */
static int merge_shard(run **active, size_t n_active, uint32_t shard, sink *k, sgs_err *err)
{
    run *h[n_active ? n_active : 1];
    size_t n = 0;
    for (size_t i = 0; i < n_active; i++) {
        run *r = active[i];
        if (r->cur_group < r->n_groups && r->groups[r->cur_group].shard == shard) {
            if (run_read_posting(r, err) != 0)
                return SGS_ECORRUPT;
            size_t j = n++;
            h[j] = r;
            while (j > 0 && h[(j - 1) / 2]->next_doc > h[j]->next_doc) {
                run *t = h[j];
                h[j] = h[(j - 1) / 2];
                h[(j - 1) / 2] = t;
                j = (j - 1) / 2;
            }
        }
    }
    while (n > 0) {
        run *r = h[0];
        uint32_t limit = UINT32_MAX;
        if (n > 1)
            limit = h[1]->next_doc;
        if (n > 2 && h[2]->next_doc < limit)
            limit = h[2]->next_doc;
        for (;;) {
            int rc = sink_add(k, r->next_doc, r->next_tf, err);
            if (rc != 0)
                return rc;
            if (r->left_in_group == 0) {
                r->cur_group++;
                if (r->cur_group < r->n_groups) {
                    r->left_in_group = r->groups[r->cur_group].count;
                    r->first_in_group = true;
                }
                h[0] = h[--n];
                break;
            }
            if (run_read_posting(r, err) != 0)
                return SGS_ECORRUPT;
            if (r->next_doc > limit)
                break;
        }
        /* Restore the heap from the top. */
        for (size_t i = 0;;) {
            size_t l = 2 * i + 1, m = i;
            if (l < n && h[l]->next_doc < h[m]->next_doc)
                m = l;
            if (l + 1 < n && h[l + 1]->next_doc < h[m]->next_doc)
                m = l + 1;
            if (m == i)
                break;
            run *t = h[i];
            h[i] = h[m];
            h[m] = t;
            i = m;
        }
    }
    return 0;
}

/* ---- one term range ---------------------------------------------------- */

typedef struct range_job {
    const char *const *run_paths;
    size_t n_runs;
    uint64_t *start;      /* per run: offset of the first record to read */
    const char *lo, *hi;  /* [lo, hi) in term order; NULL for no bound */
    size_t lo_len, hi_len;
    sink *sinks;          /* one per shard */
    uint32_t n_shards;
    size_t buf_size;
    atomic_int *stop;     /* set when any range fails */
    uint64_t n_terms, n_postings;
    int rc;
    bool stopped; /* gave up because another range failed */
    sgs_err err;
} range_job;

/* Reads the next term record of r, ending the run at the range's end. */
static int run_advance(run *r, const range_job *job, sgs_err *err)
{
    int rc = run_next_term(r, err);
    if (rc == 0 && !r->done && job->hi != NULL &&
        bytes_cmp(r->term, r->term_len, job->hi, job->hi_len) >= 0)
        r->done = true;
    return rc;
}

static int merge_range(range_job *job)
{
    sgs_err *err = &job->err;
    size_t n_runs = job->n_runs;
    uint32_t n_shards = job->n_shards;
    run *runs = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *runs);
    run **heap = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *heap);
    run **active = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *active);
    uint64_t *shard_df = sgs_xcalloc(n_shards, sizeof *shard_df);
    size_t n_heap = 0;
    int rc = 0;
    for (size_t i = 0; i < n_runs; i++) {
        run *r = &runs[i];
        r->path = job->run_paths[i];
        r->f = fopen(r->path, "rb");
        if (r->f == NULL) {
            rc = sgs_err_set(err, SGS_EIO, "fopen %s: %s", r->path, strerror(errno));
            goto done;
        }
        r->iobuf = sgs_xmalloc(job->buf_size);
        setvbuf(r->f, r->iobuf, _IOFBF, job->buf_size);
        if (job->start[i] != 0 && fseeko(r->f, (off_t)job->start[i], SEEK_SET) != 0) {
            rc = sgs_err_set(err, SGS_EIO, "seek %s: %s", r->path, strerror(errno));
            goto done;
        }
        if ((rc = run_advance(r, job, err)) != 0)
            goto done;
        while (!r->done && job->lo != NULL &&
               bytes_cmp(r->term, r->term_len, job->lo, job->lo_len) < 0) {
            if ((rc = run_skip_postings(r, err)) != 0 || (rc = run_advance(r, job, err)) != 0)
                goto done;
        }
        if (!r->done)
            heap_push(heap, &n_heap, r);
    }
    while (n_heap > 0) {
        if (atomic_load_explicit(job->stop, memory_order_relaxed)) {
            job->stopped = true;
            rc = SGS_EINTERNAL;
            goto done;
        }
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
            sink *k = &job->sinks[s];
            rc = sink_begin(k, t->term, t->term_len, (uint32_t)shard_df[s], (uint32_t)global_df,
                            err);
            if (rc == 0)
                rc = merge_shard(active, n_active, s, k, err);
            if (rc == 0)
                rc = sink_end(k, err);
            if (rc != 0)
                goto done;
            shard_df[s] = 0;
        }
        job->n_terms++;
        job->n_postings += global_df;
        for (size_t a = 0; a < n_active; a++) {
            if ((rc = run_advance(active[a], job, err)) != 0)
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
    if (rc != 0 && !job->stopped)
        atomic_store(job->stop, 1);
    job->rc = rc;
    return rc;
}

static void *range_thread(void *arg)
{
    merge_range(arg);
    return NULL;
}

/* ---- splitting the term space ------------------------------------------ */

typedef struct sample {
    const char *term;
    size_t len;
    uint64_t off, span; /* record offset, and bytes up to the next sample */
} sample;

typedef struct run_index {
    uint8_t *bytes;
    sample *samples;
    size_t n;
} run_index;

/* Loads and checks the run index beside run_path. */
static int load_run_index(const char *run_path, run_index *ix, sgs_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s%s", run_path, IDX_RUN_INDEX_SUFFIX);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sgs_err_set(err, SGS_EIO, "fopen %s: %s", path, strerror(errno));
    size_t cap = 1u << 16, len = 0;
    ix->bytes = sgs_xmalloc(cap);
    for (;;) {
        if (len == cap)
            ix->bytes = sgs_xrealloc(ix->bytes, cap *= 2);
        size_t got = fread(ix->bytes + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool bad_read = ferror(f);
    fclose(f);
    if (bad_read)
        return sgs_err_set(err, SGS_EIO, "read %s", path);
    size_t pos = 0, cap_s = 0;
    for (;;) {
        if (len - pos < 9)
            return sgs_err_set(err, SGS_ECORRUPT, "run index %s: truncated", path);
        uint64_t off = sgs_load_u64(ix->bytes + pos);
        size_t tlen = ix->bytes[pos + 8];
        pos += 9;
        if (ix->n > 0 && off < ix->samples[ix->n - 1].off)
            return sgs_err_set(err, SGS_ECORRUPT, "run index %s: offsets out of order", path);
        if (ix->n > 0)
            ix->samples[ix->n - 1].span = off - ix->samples[ix->n - 1].off;
        if (tlen == 0)
            break;
        if (len - pos < tlen)
            return sgs_err_set(err, SGS_ECORRUPT, "run index %s: truncated", path);
        if ((ix->n == 0 && off != 0) ||
            (ix->n > 0 && bytes_cmp(ix->samples[ix->n - 1].term, ix->samples[ix->n - 1].len,
                                    (const char *)ix->bytes + pos, tlen) >= 0))
            return sgs_err_set(err, SGS_ECORRUPT, "run index %s: terms out of order", path);
        if (ix->n == cap_s) {
            cap_s = cap_s ? cap_s * 2 : 64;
            ix->samples = sgs_xrealloc(ix->samples, cap_s * sizeof *ix->samples);
        }
        ix->samples[ix->n++] = (sample){(const char *)ix->bytes + pos, tlen, off, 0};
        pos += tlen;
    }
    return 0;
}

static int sample_cmp(const void *a, const void *b)
{
    const sample *x = *(const sample *const *)a, *y = *(const sample *const *)b;
    return bytes_cmp(x->term, x->len, y->term, y->len);
}

/* Offset in a run of the last sampled record whose term is <= lo. */
static uint64_t start_offset(const run_index *ix, const char *lo, size_t lo_len)
{
    size_t a = 0, b = ix->n; /* the answer is below b */
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (bytes_cmp(ix->samples[m].term, ix->samples[m].len, lo, lo_len) <= 0)
            a = m + 1;
        else
            b = m;
    }
    return a == 0 ? 0 : ix->samples[a - 1].off;
}

/* Appends one piece file's terms to the writer. */
static int append_piece(const char *path, sgs_shard_writer *w, uint8_t *buf, size_t buf_size,
                        sgs_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sgs_err_set(err, SGS_EIO, "fopen %s: %s", path, strerror(errno));
    int rc = 0;
    for (;;) {
        int len = getc_unlocked(f);
        if (len == EOF)
            break;
        uint8_t h[SGS_TOKEN_MAX_BYTES + PIECE_HEAD_BYTES];
        if (len == 0 || fread(h, 1, (size_t)len + PIECE_HEAD_BYTES, f) !=
                            (size_t)len + PIECE_HEAD_BYTES) {
            rc = sgs_err_set(err, SGS_EIO, "piece %s: truncated", path);
            break;
        }
        const uint8_t *p = h + len;
        uint32_t shard_df = sgs_load_u32(p), global_df = sgs_load_u32(p + 4);
        uint32_t bits = sgs_load_u32(p + 8);
        float max_score;
        memcpy(&max_score, &bits, 4);
        uint64_t left = sgs_load_u64(p + 13);
        rc = sgs_shard_writer_begin_raw_term(w, (const char *)h, (size_t)len, shard_df, global_df,
                                             p[12] != 0, err);
        while (rc == 0 && left > 0) {
            size_t n = left < buf_size ? (size_t)left : buf_size;
            if (fread(buf, 1, n, f) != n) {
                rc = sgs_err_set(err, SGS_EIO, "piece %s: truncated", path);
                break;
            }
            rc = sgs_shard_writer_raw_postings(w, buf, n, err);
            left -= n;
        }
        if (rc == 0)
            rc = sgs_shard_writer_end_raw_term(w, max_score, err);
        if (rc != 0)
            break;
    }
    fclose(f);
    return rc;
}

int idx_merge_runs(const char *const *run_paths, size_t n_runs, sgs_shard_writer **writers,
                   uint32_t n_shards, uint64_t buffer_budget, uint32_t n_threads,
                   const char *piece_dir, uint64_t *n_terms, uint64_t *n_postings,
                   uint32_t *n_ranges_out, sgs_err *err)
{
    int rc = 0;
    *n_terms = 0;
    *n_postings = 0;
    *n_ranges_out = 1;
    if (n_threads < 1)
        n_threads = 1;
    run_index *ix = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *ix);
    sample **sorted = NULL;
    /* Range boundaries: lo of range k (k >= 1) is bound[k - 1]. */
    sample **bound = sgs_xcalloc(n_threads, sizeof *bound);
    size_t n_ranges = 1;
    if (n_threads > 1 && n_runs > 0) {
        size_t n_samples = 0;
        uint64_t total = 0;
        for (size_t i = 0; i < n_runs; i++) {
            if ((rc = load_run_index(run_paths[i], &ix[i], err)) != 0)
                goto out;
            n_samples += ix[i].n;
        }
        sorted = sgs_xmalloc((n_samples ? n_samples : 1) * sizeof *sorted);
        size_t m = 0;
        for (size_t i = 0; i < n_runs; i++)
            for (size_t j = 0; j < ix[i].n; j++) {
                sorted[m++] = &ix[i].samples[j];
                total += ix[i].samples[j].span;
            }
        qsort(sorted, n_samples, sizeof *sorted, sample_cmp);
        uint64_t cum = 0;
        for (size_t j = 0; j < n_samples && n_ranges < n_threads; j++) {
            if (cum >= total / n_threads * n_ranges) {
                const sample *prev = n_ranges > 1 ? bound[n_ranges - 2] : sorted[0];
                if (bytes_cmp(sorted[j]->term, sorted[j]->len, prev->term, prev->len) > 0)
                    bound[n_ranges++ - 1] = sorted[j];
            }
            cum += sorted[j]->span;
        }
    }

    *n_ranges_out = (uint32_t)n_ranges;
    uint64_t per_run = buffer_budget / ((n_runs ? n_runs : 1) * n_ranges);
    size_t buf_size = per_run < (16u << 10) ? (16u << 10)
                      : per_run > (256u << 10) ? (256u << 10) : (size_t)per_run;
    atomic_int stop = 0;
    range_job *jobs = sgs_xcalloc(n_ranges, sizeof *jobs);
    pthread_t *tids = sgs_xcalloc(n_ranges, sizeof *tids);
    bool *started = sgs_xcalloc(n_ranges, sizeof *started);
    for (size_t k = 0; k < n_ranges; k++) {
        range_job *j = &jobs[k];
        j->run_paths = run_paths;
        j->n_runs = n_runs;
        j->start = sgs_xcalloc(n_runs ? n_runs : 1, sizeof *j->start);
        j->n_shards = n_shards;
        j->buf_size = buf_size;
        j->stop = &stop;
        if (k > 0) {
            j->lo = bound[k - 1]->term;
            j->lo_len = bound[k - 1]->len;
            for (size_t i = 0; i < n_runs; i++)
                j->start[i] = start_offset(&ix[i], j->lo, j->lo_len);
        }
        if (k + 1 < n_ranges) {
            j->hi = bound[k]->term;
            j->hi_len = bound[k]->len;
        }
        j->sinks = sgs_xcalloc(n_shards, sizeof *j->sinks);
        for (uint32_t s = 0; s < n_shards; s++) {
            sink *sk = &j->sinks[s];
            if (k == 0) {
                sk->w = writers[s];
                continue;
            }
            char path[4200];
            snprintf(path, sizeof path, "%s/piece-%03zu-%04u.tmp", piece_dir, k, s);
            sk->piece_path = sgs_xstrdup(path);
            sk->enc = sgs_shard_writer_new_encoder(writers[s]);
            sk->piece = sgs_ofile_open(path, false, err);
            if (sk->piece == NULL) {
                rc = SGS_EIO;
                goto finish;
            }
        }
    }
    for (size_t k = 1; k < n_ranges; k++) {
        if (pthread_create(&tids[k], NULL, range_thread, &jobs[k]) != 0) {
            rc = sgs_err_set(err, SGS_EINTERNAL, "pthread_create: %s", strerror(errno));
            atomic_store(&stop, 1);
            break;
        }
        started[k] = true;
    }
    if (rc == 0)
        merge_range(&jobs[0]);
    for (size_t k = 1; k < n_ranges; k++)
        if (started[k])
            pthread_join(tids[k], NULL);
    for (size_t k = 0; k < n_ranges && rc == 0; k++)
        if (jobs[k].rc != 0 && !jobs[k].stopped) {
            *err = jobs[k].err;
            rc = jobs[k].rc;
        }
    for (size_t k = 1; k < n_ranges; k++)
        for (uint32_t s = 0; s < n_shards; s++) {
            int crc = sgs_ofile_close(jobs[k].sinks[s].piece, false, rc ? NULL : err);
            jobs[k].sinks[s].piece = NULL;
            if (rc == 0 && crc != 0)
                rc = crc;
        }
    if (rc == 0) {
        size_t buf_n = 1u << 20;
        uint8_t *buf = sgs_xmalloc(buf_n);
        for (uint32_t s = 0; s < n_shards && rc == 0; s++)
            for (size_t k = 1; k < n_ranges && rc == 0; k++) {
                rc = append_piece(jobs[k].sinks[s].piece_path, writers[s], buf, buf_n, err);
                unlink(jobs[k].sinks[s].piece_path);
            }
        free(buf);
    }
    for (size_t k = 0; k < n_ranges; k++) {
        *n_terms += jobs[k].n_terms;
        *n_postings += jobs[k].n_postings;
    }
finish:
    for (size_t k = 0; k < n_ranges; k++) {
        for (uint32_t s = 0; jobs[k].sinks && s < n_shards; s++) {
            sink *sk = &jobs[k].sinks[s];
            sgs_ofile_close(sk->piece, false, NULL);
            sgs_term_encoder_free(sk->enc);
            if (sk->piece_path != NULL)
                unlink(sk->piece_path);
            free(sk->piece_path);
        }
        free(jobs[k].sinks);
        free(jobs[k].start);
    }
    free(jobs);
    free(tids);
    free(started);
out:
    for (size_t i = 0; i < n_runs; i++) {
        free(ix[i].bytes);
        free(ix[i].samples);
    }
    free(ix);
    free(sorted);
    free(bound);
    return rc;
}
