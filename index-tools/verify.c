/* sgs-index verify DIR|FILE: proves an index (or one shard file) sound.
 *
 * For a FILE: every section checksum and structural invariant of
 * shard_format.h (sgs_shard_open with both verify flags), and that every
 * document sits in the shard its id hashes to. For a DIR, additionally: the
 * manifest reads and agrees with itself; every shard file exists with the
 * manifest's size and whole-file XXH3; every header agrees with the manifest
 * (generation, shard id and count, docs, corpus docs and average length);
 * and across shards the documents, postings and distinct terms sum to the
 * manifest's counts and each term's global df is the same in every shard
 * and equals the sum of its shard dfs.
 *
 * Invariants: "ok: ..." is printed (unless --quiet) and 0 returned only when
 * every check passed; each failure prints "FAIL <file>: <reason naming the
 * section or key>" on stderr and the status is 1; usage errors return 2.
 * Per-shard checks continue past a failing shard so one run reports every
 * bad file; cross-shard checks run only when every shard passed. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/bm25.h"
#include "common/flags.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/mem.h"
#include "common/shard_reader.h"
#include "common/tokenize.h"
#include "index-tools/commands.h"
#include "index-tools/term_union.h"

/* Relative tolerance for averages recomputed from integer sums. */
#define AVG_TOLERANCE 1e-12

static const char usage[] =
    "usage: sgs-index verify DIR|FILE [--quiet]\n"
    "Checks every checksum and invariant of an index directory (manifest and shard files)\n"
    "or of one shard file. Exit status: 0 sound, 1 a check failed, 2 usage.";

/* Prints the failure, dropping a leading "<file>: " the reader already put
 * in the message so the file is named once. */
static void report(const char *file, const char *msg)
{
    size_t n = strlen(file);
    if (strncmp(msg, file, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        msg += n + 2;
    fprintf(stderr, "FAIL %s: %s\n", file, msg);
}

static char *join_path(const char *dir, const char *name)
{
    size_t nd = strlen(dir), nn = strlen(name);
    char *p = sgs_xmalloc(nd + nn + 2);
    memcpy(p, dir, nd);
    p[nd] = '/';
    memcpy(p + nd + 1, name, nn + 1);
    return p;
}

static bool close_enough(double a, double b)
{
    return fabs(a - b) <= AVG_TOLERANCE * fmax(fabs(a), fabs(b));
}

/* Every document of the shard sits in the shard its external id hashes to
 * (jump_hash(XXH3(id), shard count)), so ids unique within each shard are
 * unique in the index. The shard is structure-verified. */
static int check_assignment(const sgs_shard *s, sgs_err *err)
{
    const sgs_shard_header *h = sgs_shard_header_get(s);
    for (uint64_t d = 0; d < h->n_docs; d++) {
        size_t len;
        const char *id = sgs_shard_ext_id(s, (uint32_t)d, &len);
        uint32_t home = sgs_shard_of_id(id, len, h->shard_count);
        if (home != h->shard_id)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "section ext_id_bytes: doc %llu: id '%.*s' belongs to shard %u, "
                               "not %u",
                               (unsigned long long)d, len > 64 ? 64 : (int)len, id, home,
                               h->shard_id);
    }
    return 0;
}

/* Opens the file with full verification and checks document assignment.
 * NULL with err set on failure. */
static sgs_shard *open_verified(const char *path, sgs_err *err)
{
    sgs_shard *s = sgs_shard_open(path, SGS_SHARD_VERIFY_CHECKSUMS | SGS_SHARD_VERIFY_STRUCTURE,
                                  err);
    if (s != NULL && check_assignment(s, err) != 0) {
        sgs_shard_close(s);
        return NULL;
    }
    return s;
}

static int verify_file(const char *path, bool quiet)
{
    sgs_err err = {0};
    sgs_shard *s = open_verified(path, &err);
    if (s == NULL) {
        report(path, err.msg);
        return 1;
    }
    if (!quiet)
        printf("ok: %s (1 shards, %llu docs)\n", path,
               (unsigned long long)sgs_shard_header_get(s)->n_docs);
    sgs_shard_close(s);
    return 0;
}

/* The manifest's own consistency and its agreement with this build. */
static int check_manifest(const sgs_manifest *m, sgs_err *err)
{
    uint64_t docs = 0;
    for (uint32_t i = 0; i < m->n_shards; i++)
        docs += m->shards[i].docs;
    if (docs != m->n_docs)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "key 'docs': %llu, but shard_files[].docs sum to %llu",
                           (unsigned long long)m->n_docs, (unsigned long long)docs);
    if (m->n_docs > 0 && !(isfinite(m->avg_doc_len) && m->avg_doc_len > 0))
        return sgs_err_set(err, SGS_ECORRUPT, "key 'avg_doc_len': not a positive number");
    if (strcmp(m->tokenizer, "unicode-ln-simple-lower") != 0)
        return sgs_err_set(err, SGS_ECORRUPT, "key 'tokenizer.name': unknown tokenizer '%s'",
                           m->tokenizer);
    if (strcmp(m->stemming, "none") != 0)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "key 'tokenizer.stemming': '%s', this build has no stemmer",
                           m->stemming);
    if (m->max_token_bytes != SGS_TOKEN_MAX_BYTES)
        return sgs_err_set(err, SGS_ECORRUPT, "key 'tokenizer.max_token_bytes': %u, not %u",
                           m->max_token_bytes, SGS_TOKEN_MAX_BYTES);
    if (m->bm25_k1 != SGS_BM25_K1 || m->bm25_b != SGS_BM25_B)
        return sgs_err_set(err, SGS_ECORRUPT, "key 'bm25': k1 %g b %g, this build scores with "
                           "k1 1.2 b 0.75", m->bm25_k1, m->bm25_b);
    if (m->rejected_lines > m->lines || m->n_docs > m->lines)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "key 'lines': %llu lines cannot hold %llu docs and %llu rejected",
                           (unsigned long long)m->lines, (unsigned long long)m->n_docs,
                           (unsigned long long)m->rejected_lines);
    return 0;
}

/* The shard file agrees with its manifest entry, bytes and header. */
static int check_shard_against_manifest(const sgs_manifest *m, uint32_t i, const char *path,
                                        sgs_shard **out, sgs_err *err)
{
    const sgs_manifest_shard *ms = &m->shards[i];
    /* One read of the file: size and XXH3 are those of the loaded bytes the
     * checks below run over. */
    sgs_shard *s = sgs_shard_open(path, 0, err);
    if (s == NULL)
        return SGS_ECORRUPT;
    *out = s;
    uint64_t xxh3 = 0, size = sgs_shard_file_size(s);
    if (size != ms->bytes)
        return sgs_err_set(err, SGS_ECORRUPT, "file is %llu bytes, the manifest says %llu",
                           (unsigned long long)size, (unsigned long long)ms->bytes);
    if (!sgs_shard_file_xxh3(s, &xxh3) || xxh3 != ms->xxh3)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "file XXH3 %016llx, the manifest says %016llx",
                           (unsigned long long)xxh3, (unsigned long long)ms->xxh3);
    if (sgs_shard_verify_checksums(s, err) != 0 || sgs_shard_verify_structure(s, err) != 0 ||
        check_assignment(s, err) != 0)
        return SGS_ECORRUPT;
    const sgs_shard_header *h = sgs_shard_header_get(s);
    if (h->generation != m->generation)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "header: generation %016llx, the manifest says %016llx",
                           (unsigned long long)h->generation, (unsigned long long)m->generation);
    if (h->shard_id != i || h->shard_count != m->n_shards)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "header: shard %u of %u, the manifest lists it as shard %u of %u",
                           h->shard_id, h->shard_count, i, m->n_shards);
    if (h->n_docs != ms->docs)
        return sgs_err_set(err, SGS_ECORRUPT, "header: n_docs %llu, the manifest says %llu",
                           (unsigned long long)h->n_docs, (unsigned long long)ms->docs);
    if (h->corpus_n_docs != m->n_docs)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "header: corpus n_docs %llu, the manifest says %llu docs",
                           (unsigned long long)h->corpus_n_docs, (unsigned long long)m->n_docs);
    if (!close_enough(h->corpus_avg_len, m->avg_doc_len))
        return sgs_err_set(err, SGS_ECORRUPT,
                           "header: corpus average length %.17g, the manifest says %.17g",
                           h->corpus_avg_len, m->avg_doc_len);
    return 0;
}

/* Cross-shard term statistics: each distinct term's global df is the same
 * in every shard holding it and equals the sum of its shard dfs; the
 * distinct terms number the manifest's terms. */
static int check_terms_across(sgs_shard *const *shards, const sgs_manifest *m, sgs_err *err)
{
    idx_term_union *u = idx_term_union_new(shards, m->n_shards);
    uint64_t distinct = 0;
    const char *term;
    size_t len;
    const int64_t *entries;
    int rc = 0;
    while (rc == 0 && idx_term_union_next(u, &term, &len, &entries)) {
        distinct++;
        uint64_t sum = 0;
        uint32_t global = 0, first_shard = UINT32_MAX;
        for (uint32_t k = 0; k < m->n_shards && rc == 0; k++) {
            if (entries[k] < 0)
                continue;
            sgs_term_entry e;
            sgs_shard_term_entry(shards[k], (uint64_t)entries[k], &e);
            sum += e.shard_df;
            if (first_shard == UINT32_MAX) {
                first_shard = k;
                global = e.global_df;
            } else if (e.global_df != global) {
                rc = sgs_err_set(err, SGS_ECORRUPT,
                                 "section term_entries: term '%.*s': global_df %u in shard %u, "
                                 "%u in shard %u",
                                 len > 64 ? 64 : (int)len, term, global, first_shard,
                                 e.global_df, k);
            }
        }
        if (rc == 0 && sum != global)
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "section term_entries: term '%.*s': global_df %u, but its shard_df "
                             "sum to %llu",
                             len > 64 ? 64 : (int)len, term, global, (unsigned long long)sum);
    }
    idx_term_union_free(u);
    if (rc == 0 && distinct != m->n_terms)
        rc = sgs_err_set(err, SGS_ECORRUPT, "key 'terms': %llu, but the shards hold %llu "
                         "distinct terms",
                         (unsigned long long)m->n_terms, (unsigned long long)distinct);
    return rc;
}

static int verify_dir(const char *dir, bool quiet)
{
    sgs_err err = {0};
    char *man_path = join_path(dir, SGS_MANIFEST_FILE);
    sgs_manifest *m = sgs_manifest_read(man_path, &err);
    sgs_shard **shards = NULL;
    int status = 1;
    if (m == NULL || check_manifest(m, &err) != 0) {
        report(man_path, err.msg);
        goto done;
    }
    shards = sgs_xcalloc(m->n_shards, sizeof *shards);
    bool all_ok = true;
    uint64_t n_postings = 0, n_tokens = 0;
    for (uint32_t i = 0; i < m->n_shards; i++) {
        char *path = join_path(dir, m->shards[i].file);
        sgs_err serr = {0};
        if (check_shard_against_manifest(m, i, path, &shards[i], &serr) != 0) {
            report(path, serr.msg);
            all_ok = false;
        } else {
            n_postings += sgs_shard_header_get(shards[i])->n_postings;
            n_tokens += sgs_shard_header_get(shards[i])->n_tokens;
        }
        free(path);
    }
    if (!all_ok)
        goto done;
    if (n_postings != m->n_postings) {
        sgs_err_set(&err, SGS_ECORRUPT, "key 'postings': %llu, but the shards hold %llu",
                    (unsigned long long)m->n_postings, (unsigned long long)n_postings);
    } else if (m->n_docs > 0 &&
               !close_enough((double)n_tokens / (double)m->n_docs, m->avg_doc_len)) {
        sgs_err_set(&err, SGS_ECORRUPT,
                    "key 'avg_doc_len': %.17g, but the shards hold %llu tokens in %llu docs",
                    m->avg_doc_len, (unsigned long long)n_tokens, (unsigned long long)m->n_docs);
    } else {
        check_terms_across(shards, m, &err);
    }
    if (err.code != 0) {
        report(dir, err.msg);
        goto done;
    }
    if (!quiet)
        printf("ok: %s (%u shards, %llu docs)\n", dir, m->n_shards,
               (unsigned long long)m->n_docs);
    status = 0;
done:
    if (shards != NULL)
        for (uint32_t i = 0; i < m->n_shards; i++)
            sgs_shard_close(shards[i]);
    free(shards);
    sgs_manifest_free(m);
    free(man_path);
    return status;
}

int idx_verify_main(int argc, char **argv)
{
    bool quiet = false;
    sgs_flag flags[] = {
        {"quiet", "SGS_INDEX_VERIFY_QUIET", SGS_FLAG_BOOL, "false",
         "print nothing when the index is sound", &quiet, 0, 0},
    };
    size_t n_flags = sizeof flags / sizeof flags[0];
    const char *pos[1];
    size_t n_pos = 0;
    int exit_status = sgs_flags_cli(flags, n_flags, argc, argv, "sgs-index verify", usage,
                                    SGS_VERSION, pos, 1, &n_pos);
    if (exit_status >= 0)
        return exit_status;
    if (n_pos != 1) {
        fprintf(stderr, "sgs-index verify: exactly one DIR or FILE is required (see --help)\n");
        return 2;
    }
    const char *path = pos[0];
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "FAIL %s: stat: %s\n", path, strerror(errno));
        return 1;
    }
    int status = S_ISDIR(st.st_mode) ? verify_dir(path, quiet) : verify_file(path, quiet);
    fflush(stdout);
    return status;
}
