/* Tests of the index manifest (common/manifest.h): a write/read round trip
 * keeps every field and the documented key order; the reader names the key
 * of every missing or mistyped value and refuses unknown format versions;
 * sgs_file_xxh3 agrees with one-shot XXH3. */
#include "common/manifest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"

static char *temp_path(void)
{
    char *path = strdup("/tmp/sgs-test-manifest-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    return path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static sgs_manifest sample(void)
{
    static char *text_fields[] = {"title", "body"};
    static char *stored_fields[] = {"title"};
    static sgs_manifest_input inputs[] = {{"/data/a.jsonl", 1234}, {"-", 0}};
    static sgs_manifest_shard shards[] = {
        {0, "shard-0000.sgs", 3, 1000, 0x0123456789abcdefULL},
        {1, "shard-0001.sgs", 4, 2000, 0xfedcba9876543210ULL},
    };
    sgs_manifest m = {
        .format_version = SGS_MANIFEST_FORMAT_VERSION,
        .generation = 0xabc,
        .n_shards = 2,
        .n_docs = 7,
        .avg_doc_len = 10.0 / 3.0,
        .n_terms = 42,
        .n_postings = 99,
        .tokenizer = "unicode-ln-simple-lower",
        .stemming = "none",
        .max_token_bytes = 255,
        .bm25_k1 = 1.2,
        .bm25_b = 0.75,
        .id_field = "id",
        .text_fields = text_fields,
        .n_text_fields = 2,
        .stored_fields = stored_fields,
        .n_stored_fields = 1,
        .inputs = inputs,
        .n_inputs = 2,
        .build_time = "2023-11-14T22:13:20Z",
        .lines = 9,
        .rejected_lines = 2,
        .shards = shards,
    };
    return m;
}

Test(manifest, round_trip_keeps_every_field_and_the_key_order)
{
    char *path = temp_path();
    sgs_manifest m = sample();
    sgs_err err = {0};
    cr_assert_eq(sgs_manifest_write(&m, path, &err), 0, "%s", err.msg);
    const char *text = slurp(path);
    const char *keys[] = {"\"format\"", "\"format_version\"",
                          "\"generation\": \"0000000000000abc\"", "\"shards\"", "\"docs\"",
                          "\"avg_doc_len\"", "\"terms\"", "\"postings\"",
                          "\"tokenizer\"", "\"bm25\"", "\"fields\"", "\"inputs\"",
                          "\"build_time\"", "\"lines\"", "\"rejected_lines\"", "\"shard_files\"",
                          "\"xxh3\": \"0123456789abcdef\""};
    const char *at = text;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *next = strstr(at, keys[i]);
        cr_assert_not_null(next, "key %s missing or out of order in\n%s", keys[i], text);
        at = next;
    }
    cr_assert_eq(text[strlen(text) - 1], '\n');

    sgs_manifest *r = sgs_manifest_read(path, &err);
    cr_assert_not_null(r, "%s", err.msg);
    cr_assert_eq(r->generation, 0xabc);
    cr_assert_eq(r->n_shards, 2);
    cr_assert_eq(r->n_docs, 7);
    cr_assert_eq(r->avg_doc_len, 10.0 / 3.0, "doubles round-trip exactly");
    cr_assert_eq(r->n_terms, 42);
    cr_assert_eq(r->n_postings, 99);
    cr_assert_str_eq(r->tokenizer, "unicode-ln-simple-lower");
    cr_assert_str_eq(r->stemming, "none");
    cr_assert_eq(r->max_token_bytes, 255);
    cr_assert_eq(r->bm25_k1, 1.2);
    cr_assert_eq(r->bm25_b, 0.75);
    cr_assert_str_eq(r->id_field, "id");
    cr_assert_eq(r->n_text_fields, 2);
    cr_assert_str_eq(r->text_fields[1], "body");
    cr_assert_eq(r->n_stored_fields, 1);
    cr_assert_str_eq(r->stored_fields[0], "title");
    cr_assert_eq(r->n_inputs, 2);
    cr_assert_str_eq(r->inputs[0].path, "/data/a.jsonl");
    cr_assert_eq(r->inputs[0].bytes, 1234);
    cr_assert_str_eq(r->build_time, "2023-11-14T22:13:20Z");
    cr_assert_eq(r->lines, 9);
    cr_assert_eq(r->rejected_lines, 2);
    cr_assert_eq(r->shards[1].shard, 1);
    cr_assert_str_eq(r->shards[1].file, "shard-0001.sgs");
    cr_assert_eq(r->shards[1].docs, 4);
    cr_assert_eq(r->shards[1].bytes, 2000);
    cr_assert_eq(r->shards[1].xxh3, 0xfedcba9876543210ULL);
    sgs_manifest_free(r);
    sgs_manifest_free(NULL);
    unlink(path);
    free(path);
}

/* Rewrites the sample with one substitution and expects the reader to fail
 * with code and a message containing needle. */
static void expect_bad(const char *from, const char *to, int code, const char *needle)
{
    char *path = temp_path();
    sgs_manifest m = sample();
    sgs_err err = {0};
    cr_assert_eq(sgs_manifest_write(&m, path, &err), 0);
    char *text = strdup(slurp(path));
    char *at = strstr(text, from);
    cr_assert_not_null(at, "'%s' not in the sample", from);
    size_t nf = strlen(from), nt = strlen(to);
    char *edited = malloc(strlen(text) + nt + 1);
    memcpy(edited, text, (size_t)(at - text));
    memcpy(edited + (at - text), to, nt);
    strcpy(edited + (at - text) + nt, at + nf);
    spit(path, edited);
    sgs_manifest *r = sgs_manifest_read(path, &err);
    cr_assert_null(r, "accepted '%s' -> '%s'", from, to);
    cr_assert_eq(err.code, code, "%s", err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    free(edited);
    free(text);
    unlink(path);
    free(path);
}

Test(manifest, reader_names_the_bad_key)
{
    expect_bad("\"format_version\": 1", "\"format_version\": 2", SGS_EVERSION, "format_version 2");
    expect_bad("\"sgsearch-index\"", "\"other\"", SGS_ECORRUPT, "key 'format'");
    expect_bad("\"generation\": \"0000000000000abc\"", "\"generation\": \"0000000000000ABC\"",
               SGS_ECORRUPT, "key 'generation': expected 16 lowercase hex digits");
    expect_bad("\"generation\": \"0000000000000abc\"", "\"generation\": 2748", SGS_ECORRUPT,
               "key 'generation'");
    expect_bad("\"docs\": 7", "\"docs\": -7", SGS_ECORRUPT, "key 'docs'");
    expect_bad("\"docs\": 7", "\"docs\": 7.5", SGS_ECORRUPT, "key 'docs'");
    expect_bad("\"avg_doc_len\"", "\"avg_len\"", SGS_ECORRUPT, "key 'avg_doc_len': missing");
    expect_bad("\"name\": \"unicode-ln-simple-lower\"", "\"name\": 1", SGS_ECORRUPT,
               "key 'tokenizer.name': expected a string");
    expect_bad("\"k1\": 1.2", "\"k1\": \"1.2\"", SGS_ECORRUPT, "key 'bm25.k1'");
    expect_bad("\"body\"", "3", SGS_ECORRUPT, "key 'fields.text': item 1");
    expect_bad("\"bytes\": 1234", "\"bytes\": null", SGS_ECORRUPT, "key 'inputs[0].bytes'");
    expect_bad("\"xxh3\": \"fedcba9876543210\"", "\"xxh3\": \"fedcba987654321\"", SGS_ECORRUPT,
               "key 'shard_files[1].xxh3'");
    expect_bad("\"shard\": 1", "\"shard\": 0", SGS_ECORRUPT, "key 'shard_files[1].shard'");
    expect_bad("\"shard-0001.sgs\"", "\"../etc/passwd\"", SGS_ECORRUPT,
               "key 'shard_files[1].file': not a plain file name");
    expect_bad("\"shards\": 2", "\"shards\": 3", SGS_ECORRUPT, "2 entries for 3 shards");
    expect_bad("\"shards\": 2", "\"shards\": 0", SGS_ECORRUPT, "key 'shards'");
    expect_bad("\"lines\": 9", "\"lines\": 9, \"lines\": 9", SGS_ECORRUPT, "duplicate");
    expect_bad("{", "[", SGS_ECORRUPT, "line");
}

Test(manifest, missing_file)
{
    sgs_err err = {0};
    cr_assert_null(sgs_manifest_read("/nonexistent/manifest.json", &err));
    cr_assert_eq(err.code, SGS_ENOTFOUND);
    cr_assert(strstr(err.msg, "/nonexistent/manifest.json") != NULL);
}

Test(manifest, file_xxh3_matches_one_shot)
{
    char *path = temp_path();
    size_t n = (3u << 20) + 17; /* several read chunks and a tail */
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 131 + (i >> 9));
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    uint64_t xxh3 = 0, size = 0;
    sgs_err err = {0};
    cr_assert_eq(sgs_file_xxh3(path, &xxh3, &size, &err), 0, "%s", err.msg);
    cr_assert_eq(size, n);
    cr_assert_eq(xxh3, sgs_hash64(data, n));
    free(data);
    unlink(path);
    free(path);
    cr_assert_eq(sgs_file_xxh3("/nonexistent/x", &xxh3, &size, &err), SGS_ENOTFOUND);
}
