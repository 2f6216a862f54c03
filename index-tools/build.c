/* sgs-index build: JSON Lines in, shard files and a manifest out.
 *
 * Pipeline (one reader thread, --threads workers, the main thread commits):
 *   reader   cuts the inputs into chunks of whole lines, in order;
 *   worker   parses a chunk's lines into document records (docparse.h),
 *            and once the chunk is committed inverts its documents into its
 *            own table, spilling sorted runs past its memory share; while a
 *            parsed chunk waits for its commit, it parses the next one;
 *   commit   (main) walks chunks in input order: rejects duplicates
 *            (idset.h: bounded table, spilled sorted ids), assigns each
 *            document its shard-local doc id, and streams ids, stored
 *            fields and lengths into the shard writers.
 * Then every run is merged into the shard writers by term range on
 * --merge-threads threads (merge.h), the shards are
 * finished and the manifest is written. Everything is built in a temporary
 * directory beside --out and renamed into place only when complete, so an
 * interrupted or failed build never leaves anything that looks like an index.
 *
 * Doc ids depend only on input order, and the merge orders postings by term
 * and doc id, so the output does not depend on thread timing: two builds of
 * the same input with the same --generation (and SOURCE_DATE_EPOCH) are
 * byte-identical. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/flags.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/manifest.h"
#include "common/mem.h"
#include "common/shard_writer.h"
#include "common/tokenize.h"
#include "index-tools/commands.h"
#include "index-tools/docparse.h"
#include "index-tools/idset.h"
#include "index-tools/input.h"
#include "index-tools/invert.h"
#include "index-tools/merge.h"

#define CHUNK_BYTES (512u << 10)
#define MAX_SHARDS 4096
#define REPORT_FIRST_BAD 20

typedef struct build_config {
    sgs_strlist inputs;
    int64_t n_shards;
    const char *out_dir;
    const char *id_field;
    const char *text_fields_csv;
    const char *store_fields_csv;
    int64_t threads;
    int64_t merge_threads;
    uint64_t mem_limit;
    uint64_t max_line_bytes;
    bool strict;
    const char *generation_hex;
    bool progress;
    bool quiet;
} build_config;

enum slot_state { SLOT_EMPTY, SLOT_READY, SLOT_PARSING, SLOT_PARSED, SLOT_COMMITTED };

typedef struct chunk {
    enum slot_state state;
    uint64_t seq;
    sgs_buf text;       /* whole lines, each ended by '\n' */
    uint64_t first_line;
    uint64_t too_long_line; /* a line dropped for length inside this chunk, 0 if none */
    uint64_t too_long_bytes;
    sgs_buf records;    /* parsed document records */
    uint32_t *doc_ids;  /* per record, after commit: doc id or UINT32_MAX */
    size_t n_records, doc_ids_cap;
} chunk;

typedef struct pipeline {
    const build_config *cfg;
    idx_doc_config doc_cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chunk *slots;
    size_t n_slots;
    uint64_t next_fill, next_parse, n_chunks; /* n_chunks valid once eof */
    bool eof;
    int failed;             /* first fatal error code, 0 if none */
    sgs_err err;            /* guarded by mu */
    /* progress: written by the reader under mu */
    uint64_t raw_done, raw_total, text_bytes;
    bool raw_total_known;
    /* runs */
    char *tmp_dir;
    char **run_paths;
    size_t n_runs;
    size_t worker_budget;   /* per worker, before per-document state is taken off */
    _Atomic size_t per_doc_bytes; /* id set and lengths; written by the committer */
    /* manifest inputs */
    sgs_manifest_input *inputs;
    /* seconds spent waiting, summed over threads; guarded by mu */
    double wait_reader_slot;    /* reader: for an empty slot */
    double wait_worker_chunk;   /* workers: for a chunk to parse */
    double wait_worker_commit;  /* workers: for their parsed chunk's commit */
    double wait_commit_parsed;  /* committer: for the next chunk's parse */
} pipeline;

static double now_s(void);

/* pthread_cond_wait on pl->cv (mu held), adding the time waited to *acc. */
static void wait_timed(pipeline *pl, double *acc)
{
    double t = now_s();
    pthread_cond_wait(&pl->cv, &pl->mu);
    *acc += now_s() - t;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void fail_pipeline(pipeline *pl, const sgs_err *err)
{
    pthread_mutex_lock(&pl->mu);
    if (!pl->failed) {
        pl->failed = err->code ? err->code : SGS_EINTERNAL;
        pl->err = *err;
    }
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* ---- reader ------------------------------------------------------------ */

static chunk *reader_take_slot(pipeline *pl, uint64_t seq)
{
    chunk *c = &pl->slots[seq % pl->n_slots];
    pthread_mutex_lock(&pl->mu);
    while (c->state != SLOT_EMPTY && !pl->failed)
        wait_timed(pl, &pl->wait_reader_slot);
    pthread_mutex_unlock(&pl->mu);
    if (pl->failed)
        return NULL;
    sgs_buf_reset(&c->text);
    sgs_buf_reset(&c->records);
    c->n_records = 0;
    c->seq = seq;
    c->too_long_line = 0;
    return c;
}

static void reader_publish(pipeline *pl, chunk *c, uint64_t raw_done)
{
    pthread_mutex_lock(&pl->mu);
    c->state = SLOT_READY;
    pl->next_fill = c->seq + 1;
    pl->raw_done = raw_done;
    pl->text_bytes += c->text.len;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

static void *reader_main(void *arg)
{
    pipeline *pl = arg;
    const build_config *cfg = pl->cfg;
    sgs_err err = {0};
    uint64_t seq = 0, line_no = 1, raw_before = 0;
    uint8_t *buf = sgs_xmalloc(CHUNK_BYTES);
    chunk *c = reader_take_slot(pl, seq);
    if (c == NULL)
        goto out;
    c->first_line = line_no;
    bool dropping = false; /* inside a line longer than max_line_bytes */
    uint64_t line_start_len = 0; /* c->text.len where the current line began */
    uint64_t dropped_len = 0;

    for (size_t f = 0; f < cfg->inputs.n && !interrupted; f++) {
        idx_input *in = idx_input_open(cfg->inputs.items[f], &err);
        if (in == NULL)
            goto fail;
        for (;;) {
            ssize_t got = idx_input_read(in, buf, CHUNK_BYTES, &err);
            if (got < 0) {
                idx_input_close(in);
                goto fail;
            }
            if (interrupted)
                break;
            if (got == 0)
                break;
            size_t i = 0;
            while (i < (size_t)got) {
                uint8_t *nl = memchr(buf + i, '\n', (size_t)got - i);
                size_t end = nl ? (size_t)(nl - buf) : (size_t)got;
                size_t piece = end - i;
                if (!dropping) {
                    sgs_buf_append(&c->text, buf + i, piece);
                    if (c->text.len - line_start_len > cfg->max_line_bytes) {
                        dropping = true;
                        dropped_len = c->text.len - line_start_len;
                        c->text.len = line_start_len;
                    }
                } else {
                    dropped_len += piece;
                }
                i = end;
                if (nl == NULL)
                    break;
                i++; /* the newline */
                if (dropping) {
                    /* An empty line stays as a placeholder so line numbers hold;
                     * the chunk ends right after it, so a chunk holds at most one. */
                    c->too_long_line = line_no;
                    c->too_long_bytes = dropped_len;
                    dropping = false;
                }
                sgs_buf_putc(&c->text, '\n');
                line_no++;
                line_start_len = c->text.len;
                if (c->text.len >= CHUNK_BYTES || c->too_long_line != 0) {
                    reader_publish(pl, c, raw_before + idx_input_raw_pos(in));
                    c = reader_take_slot(pl, ++seq);
                    if (c == NULL) {
                        idx_input_close(in);
                        goto out;
                    }
                    c->first_line = line_no;
                    line_start_len = 0;
                }
            }
        }
        /* A file's last line may lack its newline; it still ends there. */
        if (dropping) {
            c->too_long_line = line_no;
            c->too_long_bytes = dropped_len;
            dropping = false;
        }
        if (c->text.len > line_start_len || c->too_long_line == line_no) {
            sgs_buf_putc(&c->text, '\n');
            line_no++;
            line_start_len = c->text.len;
        }
        raw_before += idx_input_raw_pos(in);
        idx_input_close(in);
    }
    if (interrupted) {
        sgs_err_set(&err, SGS_EIO, "interrupted by a signal");
        goto fail;
    }
    if (c->text.len > 0 || c->too_long_line) {
        reader_publish(pl, c, raw_before);
        seq++;
    }
    pthread_mutex_lock(&pl->mu);
    pl->eof = true;
    pl->n_chunks = seq;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    goto out;
fail:
    fail_pipeline(pl, &err);
out:
    free(buf);
    return NULL;
}

/* ---- workers ----------------------------------------------------------- */

static void parse_chunk(idx_doc_parser *parser, chunk *c)
{
    const char *p = (const char *)c->text.data, *end = p + c->text.len;
    uint64_t line_no = c->first_line;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        size_t trimmed = len;
        if (trimmed > 0 && p[trimmed - 1] == '\r')
            trimmed--;
        bool blank = true;
        for (size_t i = 0; i < trimmed && blank; i++)
            blank = p[i] == ' ' || p[i] == '\t';
        if (line_no == c->too_long_line)
            idx_record_append_error(&c->records, IDX_BAD_TOO_LONG, line_no,
                                    "line is %llu bytes, more than --max-line-bytes",
                                    (unsigned long long)c->too_long_bytes);
        else if (!blank)
            idx_doc_parser_line(parser, p, trimmed, line_no, &c->records);
        p = nl + 1;
        line_no++;
    }
}

static void invert_chunk(idx_inverter *inv, const chunk *c)
{
    size_t pos = 0, k = 0;
    idx_record rec;
    while (idx_record_next(&c->records, &pos, &rec)) {
        uint32_t doc = c->doc_ids[k++];
        if (rec.status != IDX_OK || doc == UINT32_MAX)
            continue;
        idx_inverter_add_doc(inv, rec.terms, rec.n_terms, rec.shard, doc);
    }
}

static int spill(pipeline *pl, idx_inverter *inv, sgs_err *err)
{
    pthread_mutex_lock(&pl->mu);
    size_t n = pl->n_runs++;
    pl->run_paths = sgs_xrealloc(pl->run_paths, pl->n_runs * sizeof *pl->run_paths);
    char path[4096];
    snprintf(path, sizeof path, "%s/run-%06zu.tmp", pl->tmp_dir, n);
    pl->run_paths[n] = sgs_xstrdup(path);
    pthread_mutex_unlock(&pl->mu);
    return idx_inverter_spill(inv, path, err);
}

/* A worker's share of memory for its table: the fixed budget less its part
 * of the per-document state, which grows with the corpus; never below 2 MiB. */
static size_t worker_share(pipeline *pl)
{
    size_t per_doc = atomic_load(&pl->per_doc_bytes) / (size_t)pl->cfg->threads;
    size_t floor = 2u << 20;
    return pl->worker_budget > per_doc + floor ? pl->worker_budget - per_doc : floor;
}

/* Chunks a worker may hold parsed but not yet inverted: while the oldest
 * waits for its commit, the worker parses the next one instead of idling. */
#define WORKER_AHEAD 2

static void *worker_main(void *arg)
{
    pipeline *pl = arg;
    sgs_err err = {0};
    idx_doc_parser *parser = idx_doc_parser_new(&pl->doc_cfg);
    idx_inverter *inv = idx_inverter_new();
    chunk *held[WORKER_AHEAD]; /* in the order taken, which is input order */
    size_t n_held = 0;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        chunk *parse = NULL;
        bool invert = false;
        for (;;) {
            if (pl->failed)
                break;
            /* Inverting first keeps memory and the commit order moving. */
            if (n_held > 0 && held[0]->state == SLOT_COMMITTED) {
                invert = true;
                break;
            }
            chunk *cand = &pl->slots[pl->next_parse % pl->n_slots];
            if (n_held < WORKER_AHEAD && pl->next_parse < pl->next_fill &&
                cand->state == SLOT_READY && cand->seq == pl->next_parse) {
                parse = cand;
                parse->state = SLOT_PARSING;
                pl->next_parse++;
                break;
            }
            if (n_held == 0 && pl->eof && pl->next_parse >= pl->n_chunks)
                break;
            wait_timed(pl, n_held > 0 ? &pl->wait_worker_commit : &pl->wait_worker_chunk);
        }
        pthread_mutex_unlock(&pl->mu);

        if (parse != NULL) {
            parse_chunk(parser, parse);
            pthread_mutex_lock(&pl->mu);
            parse->state = SLOT_PARSED;
            pthread_cond_broadcast(&pl->cv);
            pthread_mutex_unlock(&pl->mu);
            held[n_held++] = parse;
            continue;
        }
        if (!invert)
            break;
        chunk *c = held[0];
        memmove(held, held + 1, (n_held - 1) * sizeof *held);
        n_held--;
        invert_chunk(inv, c);
        pthread_mutex_lock(&pl->mu);
        c->state = SLOT_EMPTY;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);

        if (idx_inverter_memory(inv) > worker_share(pl) && spill(pl, inv, &err) != 0) {
            fail_pipeline(pl, &err);
            break;
        }
    }
    if (!pl->failed && !idx_inverter_empty(inv) && spill(pl, inv, &err) != 0)
        fail_pipeline(pl, &err);
    idx_inverter_free(inv);
    idx_doc_parser_free(parser);
    return NULL;
}

/* ---- commit (main thread) ---------------------------------------------- */

typedef struct commit_stats {
    uint64_t lines, docs, tokens, rejected;
    uint64_t by_kind[IDX_BAD_COUNT];
} commit_stats;

static void report_bad(commit_stats *st, int kind, uint64_t line_no, const char *msg,
                       size_t msg_len, bool quiet)
{
    st->rejected++;
    st->by_kind[kind]++;
    if (!quiet && st->rejected <= REPORT_FIRST_BAD)
        sgs_log(SGS_LOG_WARN, "bad_line", "line %llu: %s: %.*s", (unsigned long long)line_no,
                idx_bad_name(kind), (int)msg_len, msg);
    if (!quiet && st->rejected == REPORT_FIRST_BAD + 1)
        sgs_log(SGS_LOG_WARN, "bad_line", "more bad lines: only counts are reported from here");
}

static int commit_chunk(pipeline *pl, chunk *c, sgs_shard_writer **writers, idx_idset *ids,
                        commit_stats *st, sgs_err *err)
{
    const build_config *cfg = pl->cfg;
    size_t pos = 0;
    idx_record rec;
    c->n_records = 0;
    while (idx_record_next(&c->records, &pos, &rec)) {
        if (c->n_records == c->doc_ids_cap) {
            c->doc_ids_cap = c->doc_ids_cap ? c->doc_ids_cap * 2 : 1024;
            c->doc_ids = sgs_xrealloc(c->doc_ids, c->doc_ids_cap * sizeof *c->doc_ids);
        }
        uint32_t *doc = &c->doc_ids[c->n_records++];
        *doc = UINT32_MAX;
        st->lines++;
        bool fresh = true;
        if (rec.status == IDX_OK && idx_idset_insert(ids, rec.id, rec.id_len, &fresh, err) != 0)
            return err->code;
        if (rec.status == IDX_OK && !fresh) {
            char msg[1200];
            int n = snprintf(msg, sizeof msg, "id '%.*s' seen before; the first one is kept",
                             (int)(rec.id_len > 1024 ? 1024 : rec.id_len), rec.id);
            rec.status = IDX_BAD_DUPLICATE_ID;
            rec.msg = msg;
            rec.msg_len = n > 0 ? (size_t)n : 0;
            report_bad(st, rec.status, rec.line_no, rec.msg, rec.msg_len, cfg->quiet);
        } else if (rec.status != IDX_OK) {
            report_bad(st, rec.status, rec.line_no, rec.msg, rec.msg_len, cfg->quiet);
        } else {
            sgs_shard_writer *w = writers[rec.shard];
            uint64_t n = sgs_shard_writer_n_docs(w);
            if (n >= UINT32_MAX - 1)
                return sgs_err_set(err, SGS_ELIMIT, "shard %u is full (2^32 documents)",
                                   rec.shard);
            int rc = sgs_shard_writer_add_doc(w, rec.id, rec.id_len, rec.stored, rec.stored_len,
                                              rec.n_tokens, err);
            if (rc != 0)
                return rc;
            *doc = (uint32_t)n;
            st->docs++;
            st->tokens += rec.n_tokens;
            continue;
        }
        if (cfg->strict)
            return sgs_err_set(err, SGS_EBADREQ, "line %llu: %s (--strict stops at the first bad line)",
                               (unsigned long long)rec.line_no, idx_bad_name(rec.status));
    }
    return 0;
}

/* ---- progress ---------------------------------------------------------- */

/* CPU time of the whole process so far, user plus system. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_progress(pipeline *pl, const commit_stats *st, double t0, bool final)
{
    double dt = now_s() - t0;
    if (dt <= 0)
        dt = 1e-9;
    pthread_mutex_lock(&pl->mu);
    uint64_t raw = pl->raw_done, total = pl->raw_total, text = pl->text_bytes;
    pthread_mutex_unlock(&pl->mu);
    char eta[64] = "";
    if (pl->raw_total_known && total > 0 && raw > 0 && !final) {
        double left = dt * (double)(total - (raw < total ? raw : total)) / (double)raw;
        snprintf(eta, sizeof eta, " %3.0f%% ETA %.0fs", 100.0 * (double)raw / (double)total, left);
    }
    fprintf(stderr, "\r%llu docs  %.0f docs/s  %.1f MB/s%s   %s",
            (unsigned long long)st->docs, (double)st->docs / dt, (double)text / dt / 1e6, eta,
            final ? "\n" : "");
    fflush(stderr);
}

/* ---- output directory -------------------------------------------------- */

static int remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(dir);
}

static bool dir_is_replaceable(const char *dir, sgs_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return true;
        sgs_err_set(err, SGS_EIO, "opendir %s: %s", dir, strerror(errno));
        return false;
    }
    bool empty = true, has_manifest = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        empty = false;
        if (!strcmp(e->d_name, SGS_MANIFEST_FILE))
            has_manifest = true;
    }
    closedir(d);
    if (!empty && !has_manifest) {
        sgs_err_set(err, SGS_EUSAGE,
                    "--out %s exists and is not an index (no %s); refusing to replace it", dir,
                    SGS_MANIFEST_FILE);
        return false;
    }
    return true;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Moves the finished temporary directory into place, replacing an older index. */
static int install_dir(const char *tmp_dir, const char *out_dir, sgs_err *err)
{
    if (rename(tmp_dir, out_dir) == 0)
        return 0;
    if (errno != EEXIST && errno != ENOTEMPTY)
        return sgs_err_set(err, SGS_EIO, "rename %s to %s: %s", tmp_dir, out_dir, strerror(errno));
    /* Swap atomically with the old index, then delete the old one. */
    if (renameat2(AT_FDCWD, tmp_dir, AT_FDCWD, out_dir, RENAME_EXCHANGE) != 0)
        return sgs_err_set(err, SGS_EIO, "renameat2 exchange %s and %s: %s", tmp_dir, out_dir,
                           strerror(errno));
    remove_tree(tmp_dir);
    return 0;
}

/* ---- main -------------------------------------------------------------- */

static size_t split_csv(const char *csv, const char ***out)
{
    char *copy = sgs_xstrdup(csv);
    size_t n = 0;
    const char **items = NULL;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        items = sgs_xrealloc(items, (n + 1) * sizeof *items);
        items[n++] = t;
    }
    if (n == 0)
        free(copy);
    *out = items;
    return n;
}

static void free_csv(const char **items, size_t n)
{
    if (n > 0)
        free((void *)items[0]);
    free(items);
}

static uint64_t make_generation(const char *hex, sgs_err *err)
{
    if (hex != NULL && *hex != '\0') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(hex, &end, 16);
        if (*end != '\0' || errno != 0 || v == 0 || strlen(hex) > 16) {
            sgs_err_set(err, SGS_EUSAGE, "--generation wants 1 to 16 hex digits, not zero");
            return 0;
        }
        return v;
    }
    uint64_t g = 0;
    while (g == 0)
        if (getrandom(&g, sizeof g, 0) != sizeof g)
            g = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return g;
}

static void format_build_time(char *out, size_t n)
{
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde != NULL && *sde != '\0')
        t = (time_t)strtoll(sde, NULL, 10);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char usage[] =
    "usage: sgs-index build --input FILE [--input FILE ...] --shards N --out DIR [flags]\n"
    "Reads JSON Lines (plain, gzip or zstd; '-' is stdin) and writes N shard files and\n"
    "DIR/manifest.json. Bad lines are reported with their line numbers, counted and\n"
    "skipped; --strict stops at the first one. Exit status: 0 built, 1 failed, 2 usage.";

int idx_build_main(int argc, char **argv)
{
    build_config cfg = {0};
    sgs_flag flags[] = {
        {"input", "SGS_INDEX_INPUT", SGS_FLAG_STR_LIST, NULL,
         "JSON Lines input (repeatable; '-' is stdin; .gz/.zst detected)", &cfg.inputs, 0, 0},
        {"shards", "SGS_INDEX_SHARDS", SGS_FLAG_INT, NULL, "number of shards", &cfg.n_shards, 1,
         MAX_SHARDS},
        {"out", "SGS_INDEX_OUT", SGS_FLAG_STR, NULL, "output directory", &cfg.out_dir, 0, 0},
        {"id-field", "SGS_INDEX_ID_FIELD", SGS_FLAG_STR, "id", "field holding the unique string id",
         &cfg.id_field, 0, 0},
        {"text-fields", "SGS_INDEX_TEXT_FIELDS", SGS_FLAG_STR, "title,body",
         "comma-separated fields to tokenize", &cfg.text_fields_csv, 0, 0},
        {"store-fields", "SGS_INDEX_STORE_FIELDS", SGS_FLAG_STR, "title",
         "comma-separated fields returned with hits", &cfg.store_fields_csv, 0, 0},
        {"threads", "SGS_INDEX_THREADS", SGS_FLAG_INT, "0", "worker threads (0: one per core)",
         &cfg.threads, 0, 256},
        {"merge-threads", "SGS_INDEX_MERGE_THREADS", SGS_FLAG_INT, "0",
         "threads merging the spilled runs, by term range (0: --threads)", &cfg.merge_threads,
         0, 256},
        {"mem-limit", "SGS_INDEX_MEM_LIMIT", SGS_FLAG_SIZE, "1G",
         "memory for inversion; past it sorted runs spill to disk", &cfg.mem_limit, 0, 0},
        {"max-line-bytes", "SGS_INDEX_MAX_LINE_BYTES", SGS_FLAG_SIZE, "16M",
         "longer lines are rejected as line_too_long", &cfg.max_line_bytes, 0, 0},
        {"strict", "SGS_INDEX_STRICT", SGS_FLAG_BOOL, "false", "fail at the first bad line",
         &cfg.strict, 0, 0},
        {"generation", "SGS_INDEX_GENERATION", SGS_FLAG_STR, NULL,
         "generation id as hex (default: random)", &cfg.generation_hex, 0, 0},
        {"progress", "SGS_INDEX_PROGRESS", SGS_FLAG_BOOL, NULL,
         "progress line on stderr (default: when stderr is a terminal)", &cfg.progress, 0, 0},
        {"quiet", "SGS_INDEX_QUIET", SGS_FLAG_BOOL, "false", "no per-line reports or summary",
         &cfg.quiet, 0, 0},
    };
    size_t n_flags = sizeof flags / sizeof flags[0];
    cfg.progress = isatty(STDERR_FILENO);
    sgs_err err = {0};
    const char *pos[1];
    size_t n_pos;
    int exit_status = sgs_flags_cli(flags, n_flags, argc, argv, "sgs-index build", usage,
                                    SGS_VERSION, pos, 0, &n_pos);
    if (exit_status >= 0)
        return exit_status;
    if (cfg.inputs.n == 0 || cfg.n_shards == 0 || cfg.out_dir == NULL) {
        fprintf(stderr, "sgs-index build: --input, --shards and --out are required (see --help)\n");
        return 2;
    }
    if (cfg.max_line_bytes < 64 || cfg.mem_limit < (16u << 20)) {
        fprintf(stderr, "sgs-index build: --max-line-bytes must be >= 64 and --mem-limit >= 16M\n");
        return 2;
    }
    if (cfg.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = n > 0 ? n : 1;
    }
    uint64_t generation = make_generation(cfg.generation_hex, &err);
    if (generation == 0) {
        fprintf(stderr, "sgs-index build: %s\n", err.msg);
        return 2;
    }

    const char **text_fields, **stored_fields;
    size_t n_text = split_csv(cfg.text_fields_csv, &text_fields);
    size_t n_stored = split_csv(cfg.store_fields_csv, &stored_fields);
    if (n_text == 0) {
        fprintf(stderr, "sgs-index build: --text-fields names no field\n");
        return 2;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    pipeline pl = {0};
    pl.cfg = &cfg;
    pl.doc_cfg = (idx_doc_config){cfg.id_field, text_fields, n_text, stored_fields, n_stored,
                                  (uint32_t)cfg.n_shards};
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    pl.n_slots = (size_t)cfg.threads * 2 + 2;
    pl.slots = sgs_xcalloc(pl.n_slots, sizeof *pl.slots);
    for (size_t i = 0; i < pl.n_slots; i++) {
        sgs_buf_init(&pl.slots[i].text);
        sgs_buf_init(&pl.slots[i].records);
    }
    /* Inversion tables get three quarters of what the limit leaves after the fixed
     * costs: chunks in flight (text plus records, about 4x the chunk size
     * each), the writers' buffers (7 x 128 KiB per shard); the other quarter
     * is the allocator's slack and the growth of a table between checks. */
    {
        uint64_t fixed = (uint64_t)pl.n_slots * 4 * CHUNK_BYTES +
                         (uint64_t)cfg.n_shards * 7 * (128u << 10) + (4u << 20);
        uint64_t left = cfg.mem_limit > fixed + (4u << 20) ? cfg.mem_limit - fixed : (4u << 20);
        pl.worker_budget = (size_t)(left * 3 / 4 / (uint64_t)cfg.threads);
    }

    pl.raw_total_known = true;
    pl.inputs = sgs_xcalloc(cfg.inputs.n, sizeof *pl.inputs);
    for (size_t i = 0; i < cfg.inputs.n; i++) {
        struct stat st;
        const char *in = cfg.inputs.items[i];
        pl.inputs[i].path = (char *)in;
        if (strcmp(in, "-") != 0 && stat(in, &st) == 0 && S_ISREG(st.st_mode)) {
            pl.inputs[i].bytes = (uint64_t)st.st_size;
            pl.raw_total += (uint64_t)st.st_size;
        } else if (strcmp(in, "-") == 0) {
            pl.raw_total_known = false;
        } else {
            fprintf(stderr, "sgs-index build: input %s: %s\n", in,
                    strerror(errno ? errno : ENOENT));
            return 1;
        }
    }

    /* The temporary directory lives beside --out so the final rename stays
     * on one file system. Its name starts with a dot and it holds no
     * manifest until complete. */
    char tmp_dir[4096];
    {
        char *slash = strrchr(cfg.out_dir, '/');
        const char *base = slash ? slash + 1 : cfg.out_dir;
        int parent_len = slash ? (int)(slash - cfg.out_dir) : 1;
        const char *parent = slash ? cfg.out_dir : ".";
        if (slash == cfg.out_dir)
            parent_len = 1;
        snprintf(tmp_dir, sizeof tmp_dir, "%.*s/.%s.tmp-%d", parent_len, parent, base, getpid());
    }
    pl.tmp_dir = tmp_dir;
    if (!dir_is_replaceable(cfg.out_dir, &err)) {
        fprintf(stderr, "sgs-index build: %s\n", err.msg);
        return 1;
    }
    if (mkdir(tmp_dir, 0755) != 0) {
        fprintf(stderr, "sgs-index build: mkdir %s: %s\n", tmp_dir, strerror(errno));
        return 1;
    }

    int status = 1;
    sgs_shard_writer **writers = sgs_xcalloc((size_t)cfg.n_shards, sizeof *writers);
    sgs_manifest man = {0};
    man.shards = sgs_xcalloc((size_t)cfg.n_shards, sizeof *man.shards);
    char names[MAX_SHARDS][32];
    for (int64_t s = 0; s < cfg.n_shards; s++) {
        char path[4200];
        snprintf(names[s], sizeof names[s], "shard-%04d.sgs", (int)s);
        snprintf(path, sizeof path, "%s/%s", tmp_dir, names[s]);
        writers[s] = sgs_shard_writer_new(path, (uint32_t)s, (uint32_t)cfg.n_shards, generation,
                                          &err);
        if (writers[s] == NULL)
            goto fail;
    }

    double t0 = now_s();
    pthread_t reader;
    pthread_t *workers = sgs_xcalloc((size_t)cfg.threads, sizeof *workers);
    pthread_create(&reader, NULL, reader_main, &pl);
    for (int64_t i = 0; i < cfg.threads; i++)
        pthread_create(&workers[i], NULL, worker_main, &pl);

    /* The id set's table gets a sixteenth of the limit; past it, ids spill. */
    idx_idset *ids = idx_idset_new(tmp_dir, (size_t)(cfg.mem_limit / 16));
    commit_stats st = {0};
    double last_progress = t0;
    for (uint64_t seq = 0;; seq++) {
        chunk *c = &pl.slots[seq % pl.n_slots];
        pthread_mutex_lock(&pl.mu);
        while (!pl.failed && !(pl.eof && seq >= pl.n_chunks) &&
               !(c->seq == seq && c->state == SLOT_PARSED))
            wait_timed(&pl, &pl.wait_commit_parsed);
        bool stop = pl.failed || (pl.eof && seq >= pl.n_chunks);
        pthread_mutex_unlock(&pl.mu);
        if (stop)
            break;
        sgs_err cerr = {0};
        if (commit_chunk(&pl, c, writers, ids, &st, &cerr) != 0) {
            fail_pipeline(&pl, &cerr);
            break;
        }
        atomic_store(&pl.per_doc_bytes,
                     idx_idset_memory(ids) + (size_t)st.docs * sizeof(uint32_t));
        pthread_mutex_lock(&pl.mu);
        c->state = SLOT_COMMITTED;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        if (cfg.progress && now_s() - last_progress > 0.5) {
            print_progress(&pl, &st, t0, false);
            last_progress = now_s();
        }
    }
    pthread_join(reader, NULL);
    for (int64_t i = 0; i < cfg.threads; i++)
        pthread_join(workers[i], NULL);
    free(workers);
    uint64_t ids_spilled = idx_idset_spilled(ids);
    idx_idset_free(ids);
    if (cfg.progress)
        print_progress(&pl, &st, t0, true);
    if (pl.failed) {
        err = pl.err;
        goto fail;
    }
    if (interrupted) {
        sgs_err_set(&err, SGS_EIO, "interrupted by a signal");
        goto fail;
    }
    if (st.docs == 0) {
        sgs_err_set(&err, SGS_EBADREQ, "no valid documents in the input (%llu lines, %llu rejected)",
                    (unsigned long long)st.lines, (unsigned long long)st.rejected);
        goto fail;
    }

    double t_merge = now_s();
    double avg_len = (double)st.tokens / (double)st.docs;
    for (int64_t s = 0; s < cfg.n_shards; s++)
        sgs_shard_writer_set_corpus(writers[s], st.docs, avg_len);
    uint64_t n_terms = 0, n_postings = 0;
    uint32_t n_ranges = 1;
    double cpu_merge = cpu_s();
    if (idx_merge_runs((const char *const *)pl.run_paths, pl.n_runs, writers,
                       (uint32_t)cfg.n_shards, cfg.mem_limit / 4,
                       (uint32_t)(cfg.merge_threads ? cfg.merge_threads : cfg.threads), tmp_dir,
                       &n_terms, &n_postings, &n_ranges, &err) != 0)
        goto fail;
    cpu_merge = cpu_s() - cpu_merge;
    for (size_t r = 0; r < pl.n_runs; r++) {
        char idx_path[4200];
        snprintf(idx_path, sizeof idx_path, "%s%s", pl.run_paths[r], IDX_RUN_INDEX_SUFFIX);
        unlink(pl.run_paths[r]);
        unlink(idx_path);
    }
    for (int64_t s = 0; s < cfg.n_shards; s++) {
        man.shards[s].shard = (uint32_t)s;
        man.shards[s].file = names[s];
        man.shards[s].docs = sgs_shard_writer_n_docs(writers[s]);
        if (sgs_shard_writer_finish(writers[s], &man.shards[s].xxh3, &man.shards[s].bytes, &err) !=
            0)
            goto fail;
    }

    char build_time[64];
    format_build_time(build_time, sizeof build_time);
    man.format_version = SGS_MANIFEST_FORMAT_VERSION;
    man.generation = generation;
    man.n_shards = (uint32_t)cfg.n_shards;
    man.n_docs = st.docs;
    man.avg_doc_len = avg_len;
    man.n_terms = n_terms;
    man.n_postings = n_postings;
    man.tokenizer = "unicode-ln-simple-lower";
    man.stemming = "none";
    man.max_token_bytes = SGS_TOKEN_MAX_BYTES;
    man.bm25_k1 = 1.2;
    man.bm25_b = 0.75;
    man.id_field = (char *)cfg.id_field;
    man.text_fields = (char **)text_fields;
    man.n_text_fields = n_text;
    man.stored_fields = (char **)stored_fields;
    man.n_stored_fields = n_stored;
    man.inputs = pl.inputs;
    man.n_inputs = cfg.inputs.n;
    man.build_time = build_time;
    man.lines = st.lines;
    man.rejected_lines = st.rejected;
    {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", tmp_dir, SGS_MANIFEST_FILE);
        if (sgs_manifest_write(&man, path, &err) != 0)
            goto fail;
    }
    if (interrupted) {
        sgs_err_set(&err, SGS_EIO, "interrupted by a signal");
        goto fail;
    }
    if (fsync_dir(tmp_dir) != 0 || install_dir(tmp_dir, cfg.out_dir, &err) != 0) {
        sgs_err_set(&err, SGS_EIO, "fsync %s: %s", tmp_dir, strerror(errno));
        goto fail;
    }
    double secs = now_s() - t0;
    if (!cfg.quiet) {
        uint64_t bytes = 0;
        for (int64_t s = 0; s < cfg.n_shards; s++)
            bytes += man.shards[s].bytes;
        printf("{\"event\":\"built\",\"out\":\"%s\",\"generation\":\"%016llx\",\"shards\":%lld,"
               "\"docs\":%llu,\"terms\":%llu,\"postings\":%llu,\"tokens\":%llu,"
               "\"lines\":%llu,\"rejected\":%llu,\"runs\":%zu,\"input_bytes\":%llu,"
               "\"index_bytes\":%llu,\"seconds\":%.3f,\"merge_seconds\":%.3f,"
               "\"merge_cpu_seconds\":%.3f,\"merge_ranges\":%u,\"cpu_seconds\":%.3f,"
               "\"ids_spilled\":%llu,"
               "\"docs_per_s\":%.0f,\"mb_per_s\":%.2f",
               cfg.out_dir, (unsigned long long)generation, (long long)cfg.n_shards,
               (unsigned long long)st.docs, (unsigned long long)n_terms,
               (unsigned long long)n_postings, (unsigned long long)st.tokens,
               (unsigned long long)st.lines, (unsigned long long)st.rejected, pl.n_runs,
               (unsigned long long)pl.text_bytes, (unsigned long long)bytes, secs,
               now_s() - t_merge, cpu_merge, n_ranges, cpu_s(), (unsigned long long)ids_spilled,
               (double)st.docs / secs,
               (double)pl.text_bytes / secs / 1e6);
        printf(",\"waits\":{\"reader_slot\":%.3f,\"worker_chunk\":%.3f,\"worker_commit\":%.3f,"
               "\"commit_parsed\":%.3f}",
               pl.wait_reader_slot, pl.wait_worker_chunk, pl.wait_worker_commit,
               pl.wait_commit_parsed);
        printf(",\"rejected_by_reason\":{");
        bool first = true;
        for (int k = 1; k < IDX_BAD_COUNT; k++)
            if (st.by_kind[k]) {
                printf("%s\"%s\":%llu", first ? "" : ",", idx_bad_name(k),
                       (unsigned long long)st.by_kind[k]);
                first = false;
            }
        printf("}}\n");
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "sgs-index build: %s\n", err.msg[0] ? err.msg : "failed");
    remove_tree(tmp_dir);
done:
    for (int64_t s = 0; s < cfg.n_shards; s++)
        sgs_shard_writer_free(writers[s]);
    free(writers);
    free(man.shards);
    for (size_t r = 0; r < pl.n_runs; r++)
        free(pl.run_paths[r]);
    free(pl.run_paths);
    for (size_t i = 0; i < pl.n_slots; i++) {
        sgs_buf_fini(&pl.slots[i].text);
        sgs_buf_fini(&pl.slots[i].records);
        free(pl.slots[i].doc_ids);
    }
    free(pl.slots);
    free(pl.inputs);
    free_csv(text_fields, n_text);
    free_csv(stored_fields, n_stored);
    sgs_strlist_fini(&cfg.inputs);
    pthread_mutex_destroy(&pl.mu);
    pthread_cond_destroy(&pl.cv);
    return status;
}
