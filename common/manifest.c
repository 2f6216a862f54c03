/* The index manifest (shape in manifest.h), written and read with jansson.
 *
 * Invariants: the writer emits the keys in the documented order with two-space
 * indentation and a final newline, so two builds of the same input produce
 * the same bytes; integers are written as JSON integers and the generation
 * and checksums as 16 lowercase hex digits. The reader checks the type (and
 * range) of every key it uses before storing it, names the key (with its path,
 * as in "shard_files[2].xxh3") on failure, and ignores keys it does not know
 * so a later writer may add some. */
#include "common/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/mem.h"

#define MANIFEST_FORMAT "sgsearch-index"
#define MANIFEST_MAX_BYTES (64u << 20) /* refuse bigger files before reading them */

/* ---- writing ------------------------------------------------------------- */

static json_t *hex16(uint64_t v)
{
    char text[17];
    snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
    return json_string(text);
}

/* A JSON integer for v; sets *overflow when v does not fit json_int_t (long long). */
static json_t *uint_value(uint64_t v, bool *overflow)
{
    if (v > (uint64_t)INT64_MAX)
        *overflow = true;
    return json_integer((json_int_t)v);
}

/* A JSON string for s; sets *missing when s is NULL (which jansson would
 * otherwise drop silently, key and all). */
static json_t *str(const char *s, bool *missing)
{
    if (s == NULL) {
        *missing = true;
        return json_null();
    }
    return json_string(s);
}

static json_t *string_array(char *const *items, size_t n, bool *missing)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, str(items[i], missing));
    return a;
}

static json_t *manifest_to_json(const sgs_manifest *m, bool *overflow, bool *missing)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(MANIFEST_FORMAT));
    json_object_set_new(root, "format_version", json_integer(m->format_version));
    json_object_set_new(root, "generation", hex16(m->generation));
    json_object_set_new(root, "shards", json_integer(m->n_shards));
    json_object_set_new(root, "docs", uint_value(m->n_docs, overflow));
    json_object_set_new(root, "avg_doc_len", json_real(m->avg_doc_len));
    json_object_set_new(root, "terms", uint_value(m->n_terms, overflow));
    json_object_set_new(root, "postings", uint_value(m->n_postings, overflow));

    json_t *tok = json_object();
    json_object_set_new(tok, "name", str(m->tokenizer, missing));
    json_object_set_new(tok, "stemming", str(m->stemming, missing));
    json_object_set_new(tok, "max_token_bytes", json_integer(m->max_token_bytes));
    json_object_set_new(root, "tokenizer", tok);

    json_t *bm25 = json_object();
    json_object_set_new(bm25, "k1", json_real(m->bm25_k1));
    json_object_set_new(bm25, "b", json_real(m->bm25_b));
    json_object_set_new(root, "bm25", bm25);

    json_t *fields = json_object();
    json_object_set_new(fields, "id", str(m->id_field, missing));
    json_object_set_new(fields, "text", string_array(m->text_fields, m->n_text_fields, missing));
    json_object_set_new(fields, "stored",
                        string_array(m->stored_fields, m->n_stored_fields, missing));
    json_object_set_new(root, "fields", fields);

    json_t *inputs = json_array();
    for (size_t i = 0; i < m->n_inputs; i++) {
        json_t *in = json_object();
        json_object_set_new(in, "path", str(m->inputs[i].path, missing));
        json_object_set_new(in, "bytes", uint_value(m->inputs[i].bytes, overflow));
        json_array_append_new(inputs, in);
    }
    json_object_set_new(root, "inputs", inputs);
    json_object_set_new(root, "build_time", str(m->build_time, missing));
    json_object_set_new(root, "lines", uint_value(m->lines, overflow));
    json_object_set_new(root, "rejected_lines", uint_value(m->rejected_lines, overflow));

    json_t *files = json_array();
    for (uint32_t i = 0; i < m->n_shards; i++) {
        const sgs_manifest_shard *sh = &m->shards[i];
        json_t *f = json_object();
        json_object_set_new(f, "shard", json_integer(sh->shard));
        json_object_set_new(f, "file", str(sh->file, missing));
        json_object_set_new(f, "docs", uint_value(sh->docs, overflow));
        json_object_set_new(f, "bytes", uint_value(sh->bytes, overflow));
        json_object_set_new(f, "xxh3", hex16(sh->xxh3));
        json_array_append_new(files, f);
    }
    json_object_set_new(root, "shard_files", files);
    return root;
}

static int write_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

int sgs_manifest_write(const sgs_manifest *m, const char *path, sgs_err *err)
{
    int fd = -1, rc = 0;
    char *text = NULL;
    bool overflow = false, missing = false;
    json_t *root = manifest_to_json(m, &overflow, &missing);
    if (overflow) {
        rc = sgs_err_set(err, SGS_ELIMIT, "%s: a count exceeds 2^63", path);
        goto done;
    }
    if (missing) {
        rc = sgs_err_set(err, SGS_EINTERNAL, "%s: a string field is NULL", path);
        goto done;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (text == NULL) {
        rc = sgs_err_set(err, SGS_EIO, "%s: json_dumps failed", path);
        goto done;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = sgs_err_set(err, SGS_EIO, "open %s: %s", path, strerror(errno));
        goto done;
    }
    if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0) {
        rc = sgs_err_set(err, SGS_EIO, "write %s: %s", path, strerror(errno));
        goto done;
    }
    if (fsync(fd) != 0) {
        rc = sgs_err_set(err, SGS_EIO, "fsync %s: %s", path, strerror(errno));
        goto done;
    }
done:
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = sgs_err_set(err, SGS_EIO, "close %s: %s", path, strerror(errno));
    free(text);
    json_decref(root);
    return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* Where the reader is: the file, for messages. */
typedef struct mreader {
    const char *path;
    sgs_err *err;
} mreader;

static int bad_key(const mreader *r, const char *where, const char *key, const char *what)
{
    sgs_err_set(r->err, SGS_ECORRUPT, "%s: key '%s%s%s': %s", r->path, where, *where ? "." : "",
                key, what);
    return SGS_ECORRUPT;
}

/* The value of key in obj, or NULL with err set when it is missing. */
static json_t *member(const mreader *r, json_t *obj, const char *where, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        bad_key(r, where, key, "missing");
    return v;
}

static int get_uint(const mreader *r, json_t *obj, const char *where, const char *key,
                    uint64_t max, uint64_t *out)
{
    json_t *v = member(r, obj, where, key);
    if (v == NULL)
        return SGS_ECORRUPT;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max) {
        char what[64];
        snprintf(what, sizeof what, "expected an integer in 0 .. %llu", (unsigned long long)max);
        return bad_key(r, where, key, what);
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_u32(const mreader *r, json_t *obj, const char *where, const char *key,
                   uint32_t *out)
{
    uint64_t v = 0;
    if (get_uint(r, obj, where, key, UINT32_MAX, &v) != 0)
        return SGS_ECORRUPT;
    *out = (uint32_t)v;
    return 0;
}

static int get_u64(const mreader *r, json_t *obj, const char *where, const char *key,
                   uint64_t *out)
{
    return get_uint(r, obj, where, key, (uint64_t)INT64_MAX, out);
}

static int get_double(const mreader *r, json_t *obj, const char *where, const char *key,
                      double *out)
{
    json_t *v = member(r, obj, where, key);
    if (v == NULL)
        return SGS_ECORRUPT;
    if (!json_is_number(v))
        return bad_key(r, where, key, "expected a number");
    *out = json_number_value(v);
    return 0;
}

/* A copy of the string at key (free with free()). */
static int get_string(const mreader *r, json_t *obj, const char *where, const char *key,
                      char **out)
{
    json_t *v = member(r, obj, where, key);
    if (v == NULL)
        return SGS_ECORRUPT;
    if (!json_is_string(v))
        return bad_key(r, where, key, "expected a string");
    *out = sgs_xstrndup(json_string_value(v), json_string_length(v));
    return 0;
}

static int get_hex16(const mreader *r, json_t *obj, const char *where, const char *key,
                     uint64_t *out)
{
    json_t *v = member(r, obj, where, key);
    if (v == NULL)
        return SGS_ECORRUPT;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    bool ok = s != NULL && json_string_length(v) == 16;
    uint64_t x = 0;
    for (size_t i = 0; ok && i < 16; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            x = x << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x << 4 | (uint64_t)(c - 'a' + 10);
        else
            ok = false;
    }
    if (!ok)
        return bad_key(r, where, key, "expected 16 lowercase hex digits");
    *out = x;
    return 0;
}

static int get_object(const mreader *r, json_t *obj, const char *where, const char *key,
                      json_t **out)
{
    json_t *v = member(r, obj, where, key);
    if (v == NULL)
        return SGS_ECORRUPT;
    if (!json_is_object(v))
        return bad_key(r, where, key, "expected an object");
    *out = v;
    return 0;
}

static int get_array(const mreader *r, json_t *obj, const char *where, const char *key,
                     json_t **out)
{
    json_t *v = member(r, obj, where, key);
    if (v == NULL)
        return SGS_ECORRUPT;
    if (!json_is_array(v))
        return bad_key(r, where, key, "expected an array");
    *out = v;
    return 0;
}

/* An array of strings at key into a new array of copies. */
static int get_string_array(const mreader *r, json_t *obj, const char *where, const char *key,
                            char ***out, size_t *n)
{
    json_t *a;
    if (get_array(r, obj, where, key, &a) != 0)
        return SGS_ECORRUPT;
    size_t len = json_array_size(a);
    *out = sgs_xcalloc(len ? len : 1, sizeof **out);
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v)) {
            char what[64];
            snprintf(what, sizeof what, "item %zu: expected a string", i);
            return bad_key(r, where, key, what);
        }
        (*out)[(*n)++] = sgs_xstrndup(json_string_value(v), json_string_length(v));
    }
    return 0;
}

/* A shard file name must stay inside the index directory. */
static bool safe_file_name(const char *name)
{
    return *name != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static int read_shard_files(const mreader *r, json_t *root, sgs_manifest *m)
{
    json_t *files;
    if (get_array(r, root, "", "shard_files", &files) != 0)
        return SGS_ECORRUPT;
    if (json_array_size(files) != m->n_shards)
        return sgs_err_set(r->err, SGS_ECORRUPT,
                           "%s: key 'shard_files': %zu entries for %u shards", r->path,
                           json_array_size(files), m->n_shards);
    m->shards = sgs_xcalloc(m->n_shards, sizeof *m->shards);
    for (uint32_t i = 0; i < m->n_shards; i++) {
        char where[48];
        snprintf(where, sizeof where, "shard_files[%u]", i);
        json_t *f = json_array_get(files, i);
        if (!json_is_object(f))
            return sgs_err_set(r->err, SGS_ECORRUPT, "%s: key '%s': expected an object",
                               r->path, where);
        sgs_manifest_shard *sh = &m->shards[i];
        if (get_u32(r, f, where, "shard", &sh->shard) != 0 ||
            get_string(r, f, where, "file", &sh->file) != 0 ||
            get_u64(r, f, where, "docs", &sh->docs) != 0 ||
            get_u64(r, f, where, "bytes", &sh->bytes) != 0 ||
            get_hex16(r, f, where, "xxh3", &sh->xxh3) != 0)
            return SGS_ECORRUPT;
        if (sh->shard != i)
            return bad_key(r, where, "shard", "not the entry's position");
        if (!safe_file_name(sh->file))
            return bad_key(r, where, "file", "not a plain file name");
    }
    return 0;
}

static int read_inputs(const mreader *r, json_t *root, sgs_manifest *m)
{
    json_t *inputs;
    if (get_array(r, root, "", "inputs", &inputs) != 0)
        return SGS_ECORRUPT;
    size_t n = json_array_size(inputs);
    m->inputs = sgs_xcalloc(n ? n : 1, sizeof *m->inputs);
    for (size_t i = 0; i < n; i++) {
        char where[48];
        snprintf(where, sizeof where, "inputs[%zu]", i);
        json_t *in = json_array_get(inputs, i);
        if (!json_is_object(in))
            return sgs_err_set(r->err, SGS_ECORRUPT, "%s: key '%s': expected an object",
                               r->path, where);
        m->n_inputs = i + 1;
        if (get_string(r, in, where, "path", &m->inputs[i].path) != 0 ||
            get_u64(r, in, where, "bytes", &m->inputs[i].bytes) != 0)
            return SGS_ECORRUPT;
    }
    return 0;
}

static int read_manifest(const mreader *r, json_t *root, sgs_manifest *m)
{
    char *format = NULL;
    if (!json_is_object(root))
        return sgs_err_set(r->err, SGS_ECORRUPT, "%s: not a JSON object", r->path);
    if (get_string(r, root, "", "format", &format) != 0)
        return SGS_ECORRUPT;
    bool is_ours = strcmp(format, MANIFEST_FORMAT) == 0;
    free(format);
    if (!is_ours)
        return bad_key(r, "", "format", "not \"" MANIFEST_FORMAT "\"");
    if (get_u32(r, root, "", "format_version", &m->format_version) != 0)
        return SGS_ECORRUPT;
    if (m->format_version != SGS_MANIFEST_FORMAT_VERSION)
        return sgs_err_set(r->err, SGS_EVERSION,
                           "%s: format_version %u, this build reads version %u", r->path,
                           m->format_version, SGS_MANIFEST_FORMAT_VERSION);
    json_t *tok, *bm25, *fields;
    if (get_hex16(r, root, "", "generation", &m->generation) != 0 ||
        get_u32(r, root, "", "shards", &m->n_shards) != 0 ||
        get_u64(r, root, "", "docs", &m->n_docs) != 0 ||
        get_double(r, root, "", "avg_doc_len", &m->avg_doc_len) != 0 ||
        get_u64(r, root, "", "terms", &m->n_terms) != 0 ||
        get_u64(r, root, "", "postings", &m->n_postings) != 0 ||
        get_object(r, root, "", "tokenizer", &tok) != 0 ||
        get_string(r, tok, "tokenizer", "name", &m->tokenizer) != 0 ||
        get_string(r, tok, "tokenizer", "stemming", &m->stemming) != 0 ||
        get_u32(r, tok, "tokenizer", "max_token_bytes", &m->max_token_bytes) != 0 ||
        get_object(r, root, "", "bm25", &bm25) != 0 ||
        get_double(r, bm25, "bm25", "k1", &m->bm25_k1) != 0 ||
        get_double(r, bm25, "bm25", "b", &m->bm25_b) != 0 ||
        get_object(r, root, "", "fields", &fields) != 0 ||
        get_string(r, fields, "fields", "id", &m->id_field) != 0 ||
        get_string_array(r, fields, "fields", "text", &m->text_fields, &m->n_text_fields) != 0 ||
        get_string_array(r, fields, "fields", "stored", &m->stored_fields,
                         &m->n_stored_fields) != 0 ||
        read_inputs(r, root, m) != 0 ||
        get_string(r, root, "", "build_time", &m->build_time) != 0 ||
        get_u64(r, root, "", "lines", &m->lines) != 0 ||
        get_u64(r, root, "", "rejected_lines", &m->rejected_lines) != 0)
        return SGS_ECORRUPT;
    if (m->n_shards == 0)
        return bad_key(r, "", "shards", "must be at least 1");
    return read_shard_files(r, root, m);
}

sgs_manifest *sgs_manifest_read(const char *path, sgs_err *err)
{
    sgs_manifest *m = sgs_xcalloc(1, sizeof *m);
    json_t *root = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        sgs_err_set(err, errno == ENOENT ? SGS_ENOTFOUND : SGS_EIO, "open %s: %s", path,
                    strerror(errno));
        goto fail;
    }
    if (fseek(f, 0, SEEK_END) != 0 || ftell(f) < 0) {
        sgs_err_set(err, SGS_EIO, "fseek %s: %s", path, strerror(errno));
        goto fail;
    }
    if ((unsigned long)ftell(f) > MANIFEST_MAX_BYTES) {
        sgs_err_set(err, SGS_ELIMIT, "%s: larger than %u bytes", path,
                    MANIFEST_MAX_BYTES);
        goto fail;
    }
    rewind(f);
    json_error_t jerr;
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        sgs_err_set(err, SGS_ECORRUPT, "%s: line %d column %d: %s", path, jerr.line,
                    jerr.column, jerr.text);
        goto fail;
    }
    mreader r = {path, err};
    if (read_manifest(&r, root, m) != 0)
        goto fail;
    json_decref(root);
    fclose(f);
    return m;
fail:
    json_decref(root);
    if (f != NULL)
        fclose(f);
    sgs_manifest_free(m);
    return NULL;
}

static void free_strings(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

void sgs_manifest_free(sgs_manifest *m)
{
    if (m == NULL)
        return;
    free(m->tokenizer);
    free(m->stemming);
    free(m->id_field);
    free_strings(m->text_fields, m->n_text_fields);
    free_strings(m->stored_fields, m->n_stored_fields);
    for (size_t i = 0; i < m->n_inputs; i++)
        free(m->inputs[i].path);
    free(m->inputs);
    free(m->build_time);
    if (m->shards != NULL)
        for (uint32_t i = 0; i < m->n_shards; i++)
            free(m->shards[i].file);
    free(m->shards);
    free(m);
}

/* ---- whole-file checksum ------------------------------------------------- */

int sgs_file_xxh3(const char *path, uint64_t *xxh3, uint64_t *size, sgs_err *err)
{
    enum { CHUNK = 1 << 20 };
    int rc = 0;
    uint8_t *buf = NULL;
    XXH3_state_t *state = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = sgs_err_set(err, errno == ENOENT ? SGS_ENOTFOUND : SGS_EIO, "open %s: %s", path,
                         strerror(errno));
        goto done;
    }
    buf = sgs_xmalloc(CHUNK);
    state = XXH3_createState();
    if (state == NULL) {
        rc = sgs_err_set(err, SGS_ENOMEM, "XXH3_createState: out of memory");
        goto done;
    }
    XXH3_64bits_reset(state);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = sgs_err_set(err, SGS_EIO, "read %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(state, buf, (size_t)n);
        total += (uint64_t)n;
    }
    *xxh3 = XXH3_64bits_digest(state);
    *size = total;
done:
    if (state != NULL)
        XXH3_freeState(state);
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}
