/* The root-leaf protocol codecs. Decoders read untrusted bytes through a
 * cursor that checks every bound before it reads, cap every count before it
 * allocates, and bound the query tree's recursion by SGS_QUERY_MAX_DEPTH
 * before each descent; every failure names the byte offset (binary) or the
 * key (JSON). Encoders trust their input (it is ours) and only append. */
#include "common/wire.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/eval.h"
#include "common/shard_format.h"
#include "common/tokenize.h"

#define REQUEST_HEADER_BYTES 16u
#define RESPONSE_HEADER_BYTES 40u
#define HIT_HEADER_BYTES 16u   /* f64 score, u32 id_len, u32 fields_len */
#define MIN_TREE_NODE_BYTES 3u /* a TERM: kind, len, at least one byte */
#define FIELDS_MAX_NESTING 64u /* JSON nesting accepted in a hit's stored fields */
/* A total past 2^53 cannot be a document count, and JSON readers that hold
 * numbers as doubles (or int64) could not represent it exactly. */
#define MAX_TOTAL (UINT64_C(1) << 53)

/* ---- little-endian cursor over untrusted bytes ---------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t len;
    size_t off;
} cursor;

static bool has(const cursor *c, size_t n)
{
    return c->len - c->off >= n;
}

static uint8_t get_u8(cursor *c)
{
    return c->p[c->off++];
}

static uint16_t get_u16(cursor *c)
{
    uint16_t v = (uint16_t)(c->p[c->off] | (c->p[c->off + 1] << 8));
    c->off += 2;
    return v;
}

static uint32_t get_u32(cursor *c)
{
    uint32_t v = sgs_load_u32(c->p + c->off);
    c->off += 4;
    return v;
}

static uint64_t get_u64(cursor *c)
{
    uint64_t v = sgs_load_u64(c->p + c->off);
    c->off += 8;
    return v;
}

/* Checks magic and version at the start of a binary body. */
static int check_header(const uint8_t *body, size_t len, const char *magic, const char *what,
                        size_t header_bytes, sgs_err *err)
{
    if (len < 4)
        return sgs_err_set(err, SGS_EBADREQ, "%s is %zu bytes, shorter than its %zu-byte header",
                           what, len, header_bytes);
    if (memcmp(body, magic, 4) != 0)
        return sgs_err_set(err, SGS_EPROTOCOL, "offset 0: %s magic is not \"%s\"", what, magic);
    if (len < 6)
        return sgs_err_set(err, SGS_EBADREQ, "%s is %zu bytes, shorter than its %zu-byte header",
                           what, len, header_bytes);
    unsigned version = (unsigned)(body[4] | (body[5] << 8));
    if (version != SGS_WIRE_VERSION)
        return sgs_err_set(err, SGS_EPROTOCOL,
                           "offset 4: %s protocol version %u, this build speaks %u", what, version,
                           SGS_WIRE_VERSION);
    if (len < header_bytes)
        return sgs_err_set(err, SGS_EBADREQ, "%s is %zu bytes, shorter than its %zu-byte header",
                           what, len, header_bytes);
    return 0;
}

/* ---- binary request --------------------------------------------------------- */

typedef struct tree_ctx {
    cursor c;
    sgs_arena *a;
    uint32_t n_terms;
    sgs_err *err;
} tree_ctx;

/* One node in prefix order at depth (the root is 1). Shape rules beyond what
 * decoding needs are left to sgs_query_validate. */
static int decode_node(tree_ctx *t, uint32_t depth, sgs_query_node **out)
{
    size_t at = t->c.off;
    if (depth > SGS_QUERY_MAX_DEPTH)
        return sgs_err_set(t->err, SGS_EQUERY_DEPTH,
                           "offset %zu: query tree nested deeper than %u levels", at,
                           SGS_QUERY_MAX_DEPTH);
    if (!has(&t->c, 1))
        return sgs_err_set(t->err, SGS_EBADREQ, "offset %zu: query tree truncated (node kind)",
                           at);
    uint8_t kind = get_u8(&t->c);
    sgs_query_node *n = sgs_arena_zalloc(t->a, sizeof *n);
    n->kind = (sgs_query_kind)kind;
    switch (kind) {
    case SGS_QUERY_TERM: {
        if (!has(&t->c, 1))
            return sgs_err_set(t->err, SGS_EBADREQ,
                               "offset %zu: query tree truncated (term length)", t->c.off);
        uint8_t len = get_u8(&t->c);
        if (!has(&t->c, len))
            return sgs_err_set(t->err, SGS_EBADREQ,
                               "offset %zu: term of %u bytes runs past the body", t->c.off,
                               (unsigned)len);
        if (++t->n_terms > SGS_QUERY_MAX_TERMS)
            return sgs_err_set(t->err, SGS_EQUERY_TERMS, "offset %zu: more than %u terms", at,
                               SGS_QUERY_MAX_TERMS);
        n->term = sgs_arena_strndup(t->a, (const char *)t->c.p + t->c.off, len);
        n->term_len = len;
        t->c.off += len;
        break;
    }
    case SGS_QUERY_AND:
    case SGS_QUERY_OR: {
        if (!has(&t->c, 2))
            return sgs_err_set(t->err, SGS_EBADREQ,
                               "offset %zu: query tree truncated (child count)", t->c.off);
        uint16_t count = get_u16(&t->c);
        /* Every child holds a term, so more children than terms allowed is
         * over the term limit; fewer bytes than children need is truncation. */
        if (count > SGS_QUERY_MAX_TERMS)
            return sgs_err_set(t->err, SGS_EQUERY_TERMS,
                               "offset %zu: %u children, more than %u terms", at, (unsigned)count,
                               SGS_QUERY_MAX_TERMS);
        if ((size_t)count * MIN_TREE_NODE_BYTES > t->c.len - t->c.off)
            return sgs_err_set(t->err, SGS_EBADREQ,
                               "offset %zu: %u children do not fit in the %zu bytes left", at,
                               (unsigned)count, t->c.len - t->c.off);
        n->n_children = count;
        n->children = sgs_arena_zalloc(t->a, (count ? count : 1) * sizeof *n->children);
        for (uint32_t i = 0; i < count; i++) {
            int rc = decode_node(t, depth + 1, &n->children[i]);
            if (rc != 0)
                return rc;
        }
        break;
    }
    case SGS_QUERY_NOT: {
        n->n_children = 1;
        n->children = sgs_arena_zalloc(t->a, sizeof *n->children);
        int rc = decode_node(t, depth + 1, &n->children[0]);
        if (rc != 0)
            return rc;
        break;
    }
    default:
        return sgs_err_set(t->err, SGS_EBADREQ, "offset %zu: unknown query node kind %u", at,
                           (unsigned)kind);
    }
    *out = n;
    return 0;
}

int sgs_wire_decode_request_bin(const uint8_t *body, size_t len, sgs_arena *a,
                                sgs_shard_request *out, sgs_err *err)
{
    if (len > SGS_WIRE_MAX_BODY)
        return sgs_err_set(err, SGS_EBODY_LARGE, "request body is %zu bytes, more than %u", len,
                           SGS_WIRE_MAX_BODY);
    int rc = check_header(body, len, "SGSQ", "request", REQUEST_HEADER_BYTES, err);
    if (rc != 0)
        return rc;
    cursor c = {.p = body, .len = len, .off = 6};
    uint16_t flags = get_u16(&c);
    if (flags != 0)
        return sgs_err_set(err, SGS_EBADREQ, "offset 6: flags 0x%04x, must be zero",
                           (unsigned)flags);
    uint32_t k = get_u32(&c);
    if (k > SGS_EVAL_MAX_K)
        return sgs_err_set(err, SGS_EK_LARGE, "offset 8: k is %" PRIu32 ", more than %u", k,
                           SGS_EVAL_MAX_K);
    uint32_t deadline_ms = get_u32(&c);
    tree_ctx t = {.c = c, .a = a, .err = err};
    sgs_query_node *q = NULL;
    if ((rc = decode_node(&t, 1, &q)) != 0)
        return rc;
    if (t.c.off != len)
        return sgs_err_set(err, SGS_EBADREQ, "offset %zu: %zu bytes follow the query tree",
                           t.c.off, len - t.c.off);
    if ((rc = sgs_query_validate(q, err)) != 0)
        return rc;
    out->query = q;
    out->k = k;
    out->deadline_ms = deadline_ms;
    return 0;
}

static void encode_node(const sgs_query_node *n, sgs_buf *out)
{
    sgs_buf_putc(out, (uint8_t)n->kind);
    switch (n->kind) {
    case SGS_QUERY_TERM:
        sgs_buf_putc(out, (uint8_t)n->term_len);
        sgs_buf_append(out, n->term, n->term_len);
        break;
    case SGS_QUERY_NOT:
        encode_node(n->children[0], out);
        break;
    default:
        sgs_buf_put_u16(out, (uint16_t)n->n_children);
        for (uint32_t i = 0; i < n->n_children; i++)
            encode_node(n->children[i], out);
    }
}

void sgs_wire_encode_request_bin(const sgs_query_node *query, uint32_t k, uint32_t deadline_ms,
                                 sgs_buf *out)
{
    sgs_buf_append(out, "SGSQ", 4);
    sgs_buf_put_u16(out, SGS_WIRE_VERSION);
    sgs_buf_put_u16(out, 0);
    sgs_buf_put_u32(out, k);
    sgs_buf_put_u32(out, deadline_ms);
    encode_node(query, out);
}

/* ---- JSON request ------------------------------------------------------------ */

/* A JSON integer in [0, max] for key, or SGS_EBADREQ naming it. */
static int json_uint(const json_t *v, const char *key, uint64_t max, uint64_t *out, sgs_err *err)
{
    if (!json_is_integer(v))
        return sgs_err_set(err, SGS_EBADREQ, "%s: expected an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return sgs_err_set(err, SGS_EBADREQ, "%s: must not be negative", key);
    if ((uint64_t)x > max)
        return sgs_err_set(err, SGS_EBADREQ, "%s: %" PRId64 " is more than %" PRIu64, key,
                           (int64_t)x, max);
    *out = (uint64_t)x;
    return 0;
}

int sgs_wire_decode_request_json(const char *body, size_t len, sgs_arena *a,
                                 sgs_shard_request *out, sgs_err *err)
{
    if (len > SGS_WIRE_MAX_BODY)
        return sgs_err_set(err, SGS_EBODY_LARGE, "request body is %zu bytes, more than %u", len,
                           SGS_WIRE_MAX_BODY);
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return sgs_err_set(err, SGS_EJSON, "body is not valid JSON: %s (line %d, column %d)",
                           je.text, je.line, je.column);
    int rc = 0;
    const json_t *q = NULL, *tree = NULL;
    uint64_t k = SGS_WIRE_DEFAULT_K, deadline_ms = 0;
    if (!json_is_object(root)) {
        rc = sgs_err_set(err, SGS_EBADREQ, "body: expected a JSON object");
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "q") == 0) {
            if (!json_is_string(v)) {
                rc = sgs_err_set(err, SGS_EBADREQ, "q: expected a string");
                goto fail;
            }
            q = v;
        } else if (strcmp(key, "query") == 0) {
            tree = v;
        } else if (strcmp(key, "k") == 0) {
            if (json_is_integer(v) && json_integer_value(v) > (json_int_t)SGS_EVAL_MAX_K) {
                rc = sgs_err_set(err, SGS_EK_LARGE, "k: %" PRId64 " is more than %u",
                                 (int64_t)json_integer_value(v), SGS_EVAL_MAX_K);
                goto fail;
            }
            if ((rc = json_uint(v, "k", SGS_EVAL_MAX_K, &k, err)) != 0)
                goto fail;
        } else if (strcmp(key, "deadline_ms") == 0) {
            if ((rc = json_uint(v, "deadline_ms", UINT32_MAX, &deadline_ms, err)) != 0)
                goto fail;
        } else {
            rc = sgs_err_set(err, SGS_EBADREQ,
                             "unknown key \"%.64s\" (expected q, query, k, deadline_ms)", key);
            goto fail;
        }
    }
    if (q != NULL && tree != NULL) {
        rc = sgs_err_set(err, SGS_EBADREQ, "q and query: give exactly one");
        goto fail;
    }
    if (q == NULL && tree == NULL) {
        rc = sgs_err_set(err, SGS_EBADREQ, "q or query: missing");
        goto fail;
    }
    sgs_query_node *n = q != NULL
                            ? sgs_query_parse(json_string_value(q), json_string_length(q), a, err)
                            : sgs_query_from_json(tree, a, err);
    if (n == NULL) {
        rc = err != NULL && err->code != 0 ? err->code : SGS_EQUERY;
        goto fail;
    }
    out->query = n;
    out->k = (uint32_t)k;
    out->deadline_ms = (uint32_t)deadline_ms;
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    return rc;
}

/* ---- binary response ---------------------------------------------------------- */

void sgs_wire_encode_response_bin(const sgs_shard_response *r, sgs_buf *out)
{
    sgs_buf_append(out, "SGSR", 4);
    sgs_buf_put_u16(out, SGS_WIRE_VERSION);
    sgs_buf_put_u16(out, 0);
    sgs_buf_put_u32(out, r->shard);
    sgs_buf_put_u32(out, r->n_hits);
    sgs_buf_put_u64(out, r->generation);
    sgs_buf_put_u64(out, r->total);
    sgs_buf_put_u32(out, r->took_us);
    sgs_buf_put_u32(out, 0);
    for (uint32_t i = 0; i < r->n_hits; i++) {
        const sgs_wire_hit *h = &r->hits[i];
        uint64_t bits;
        memcpy(&bits, &h->score, sizeof bits);
        sgs_buf_put_u64(out, bits);
        sgs_buf_put_u32(out, h->id_len);
        sgs_buf_put_u32(out, h->fields_len);
        sgs_buf_append(out, h->id, h->id_len);
        sgs_buf_append(out, h->fields, h->fields_len);
    }
}

/* A syntax check of JSON text, so stored fields a leaf sends can be inserted
 * verbatim into the root's JSON. Recursion is bounded by FIELDS_MAX_NESTING. */
typedef struct json_scan {
    const char *s;
    size_t n, i;
} json_scan;

static void scan_ws(json_scan *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
                           j->s[j->i] == '\r'))
        j->i++;
}

static bool scan_lit(json_scan *j, const char *lit)
{
    size_t l = strlen(lit);
    if (j->n - j->i < l || memcmp(j->s + j->i, lit, l) != 0)
        return false;
    j->i += l;
    return true;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool scan_string(json_scan *j)
{
    if (j->i >= j->n || j->s[j->i] != '"')
        return false;
    j->i++;
    while (j->i < j->n) {
        unsigned char c = (unsigned char)j->s[j->i++];
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (j->i >= j->n)
                return false;
            char e = j->s[j->i++];
            if (e == 'u') {
                if (j->n - j->i < 4)
                    return false;
                for (int k = 0; k < 4; k++)
                    if (!is_hex(j->s[j->i++]))
                        return false;
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return false;
            }
        }
    }
    return false;
}

static bool scan_digits(json_scan *j)
{
    size_t start = j->i;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
        j->i++;
    return j->i > start;
}

static bool scan_number(json_scan *j)
{
    if (j->i < j->n && j->s[j->i] == '-')
        j->i++;
    if (j->i < j->n && j->s[j->i] == '0')
        j->i++;
    else if (!scan_digits(j))
        return false;
    if (j->i < j->n && j->s[j->i] == '.') {
        j->i++;
        if (!scan_digits(j))
            return false;
    }
    if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
            j->i++;
        if (!scan_digits(j))
            return false;
    }
    return true;
}

static bool scan_value(json_scan *j, uint32_t depth);

static bool scan_container(json_scan *j, uint32_t depth, char close)
{
    if (depth >= FIELDS_MAX_NESTING)
        return false;
    j->i++;
    scan_ws(j);
    if (j->i < j->n && j->s[j->i] == close) {
        j->i++;
        return true;
    }
    for (;;) {
        scan_ws(j);
        if (close == '}') {
            if (!scan_string(j))
                return false;
            scan_ws(j);
            if (j->i >= j->n || j->s[j->i] != ':')
                return false;
            j->i++;
            scan_ws(j);
        }
        if (!scan_value(j, depth + 1))
            return false;
        scan_ws(j);
        if (j->i >= j->n)
            return false;
        char c = j->s[j->i++];
        if (c == close)
            return true;
        if (c != ',')
            return false;
    }
}

static bool scan_value(json_scan *j, uint32_t depth)
{
    if (j->i >= j->n)
        return false;
    switch (j->s[j->i]) {
    case '{':
        return scan_container(j, depth, '}');
    case '[':
        return scan_container(j, depth, ']');
    case '"':
        return scan_string(j);
    case 't':
        return scan_lit(j, "true");
    case 'f':
        return scan_lit(j, "false");
    case 'n':
        return scan_lit(j, "null");
    default:
        return scan_number(j);
    }
}

/* True when s is one JSON object and nothing else (bytes checked as UTF-8 apart). */
static bool is_json_object(const char *s, size_t n)
{
    json_scan j = {.s = s, .n = n};
    scan_ws(&j);
    if (j.i >= n || s[j.i] != '{' || !scan_value(&j, 0))
        return false;
    scan_ws(&j);
    return j.i == n;
}

int sgs_wire_decode_response_bin(const uint8_t *body, size_t len, sgs_arena *a,
                                 sgs_shard_response *out, sgs_err *err)
{
    int rc = check_header(body, len, "SGSR", "response", RESPONSE_HEADER_BYTES, err);
    if (rc != 0)
        return rc;
    cursor c = {.p = body, .len = len, .off = 6};
    uint16_t flags = get_u16(&c);
    if (flags != 0)
        return sgs_err_set(err, SGS_EBADREQ, "offset 6: flags 0x%04x, must be zero",
                           (unsigned)flags);
    uint32_t shard = get_u32(&c);
    uint32_t n_hits = get_u32(&c);
    uint64_t generation = get_u64(&c);
    uint64_t total = get_u64(&c);
    uint32_t took_us = get_u32(&c);
    uint32_t reserved = get_u32(&c);
    if (reserved != 0)
        return sgs_err_set(err, SGS_EBADREQ, "offset 36: reserved 0x%08" PRIx32 ", must be zero",
                           reserved);
    if (total > MAX_TOTAL)
        return sgs_err_set(err, SGS_EBADREQ, "offset 24: total %" PRIu64 " is more than 2^53",
                           total);
    if (n_hits > SGS_EVAL_MAX_K)
        return sgs_err_set(err, SGS_EBADREQ, "offset 12: %" PRIu32 " hits, more than %u", n_hits,
                           SGS_EVAL_MAX_K);
    if ((size_t)n_hits * HIT_HEADER_BYTES > len - c.off)
        return sgs_err_set(err, SGS_EBADREQ,
                           "offset 12: %" PRIu32 " hits do not fit in the %zu bytes left", n_hits,
                           len - c.off);
    if ((uint64_t)n_hits > total)
        return sgs_err_set(err, SGS_EBADREQ,
                           "offset 12: %" PRIu32 " hits but a total of %" PRIu64, n_hits, total);
    sgs_wire_hit *hits = sgs_arena_zalloc(a, (n_hits ? n_hits : 1) * sizeof *hits);
    for (uint32_t i = 0; i < n_hits; i++) {
        size_t at = c.off;
        if (!has(&c, HIT_HEADER_BYTES))
            return sgs_err_set(err, SGS_EBADREQ, "offset %zu: hit %" PRIu32 " truncated", at, i);
        uint64_t bits = get_u64(&c);
        double score;
        memcpy(&score, &bits, sizeof score);
        if (!isfinite(score))
            return sgs_err_set(err, SGS_EBADREQ, "offset %zu: hit %" PRIu32 " score not finite",
                               at, i);
        uint32_t id_len = get_u32(&c);
        uint32_t fields_len = get_u32(&c);
        if (!has(&c, id_len))
            return sgs_err_set(err, SGS_EBADREQ,
                               "offset %zu: hit %" PRIu32 " id of %" PRIu32 " bytes runs past "
                               "the body",
                               c.off, i, id_len);
        const char *id = (const char *)body + c.off;
        size_t bad;
        if (!sgs_utf8_check(id, id_len, &bad))
            return sgs_err_set(err, SGS_EBADREQ, "offset %zu: hit %" PRIu32 " id not UTF-8",
                               c.off + bad, i);
        c.off += id_len;
        if (!has(&c, fields_len))
            return sgs_err_set(err, SGS_EBADREQ,
                               "offset %zu: hit %" PRIu32 " fields of %" PRIu32 " bytes run "
                               "past the body",
                               c.off, i, fields_len);
        const char *fields = (const char *)body + c.off;
        if (!sgs_utf8_check(fields, fields_len, &bad))
            return sgs_err_set(err, SGS_EBADREQ, "offset %zu: hit %" PRIu32 " fields not UTF-8",
                               c.off + bad, i);
        if (!is_json_object(fields, fields_len))
            return sgs_err_set(err, SGS_EBADREQ,
                               "offset %zu: hit %" PRIu32 " fields are not a JSON object", c.off,
                               i);
        c.off += fields_len;
        hits[i] = (sgs_wire_hit){.score = score,
                                 .id = id,
                                 .id_len = id_len,
                                 .fields = fields,
                                 .fields_len = fields_len};
    }
    if (c.off != len)
        return sgs_err_set(err, SGS_EBADREQ, "offset %zu: %zu bytes follow the last hit", c.off,
                           len - c.off);
    out->shard = shard;
    out->generation = generation;
    out->total = total;
    out->took_us = took_us;
    out->n_hits = n_hits;
    out->hits = hits;
    return 0;
}

/* ---- JSON answers ----------------------------------------------------------------- */

/* Appends s as a JSON string body; bytes that are not UTF-8 become U+FFFD,
 * so the output is always valid JSON whatever the input. */
static void escape_utf8(sgs_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && (unsigned char)s[run] < 0x80)
            run++;
        sgs_buf_json_escape(b, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (want <= n - i && sgs_utf8_check(s + i, want, NULL)) {
            sgs_buf_append(b, s + i, want);
            i += want;
        } else {
            sgs_buf_append(b, "\\ufffd", 6);
            i++;
        }
    }
}

void sgs_wire_encode_response_json(const sgs_shard_response *r, sgs_buf *out)
{
    sgs_buf_printf(out, "{\"shard\":%" PRIu32 ",\"generation\":\"%016" PRIx64 "\",\"total\":%" PRIu64
                        ",\"hits\":[",
                   r->shard, r->generation, r->total);
    for (uint32_t i = 0; i < r->n_hits; i++) {
        const sgs_wire_hit *h = &r->hits[i];
        sgs_buf_append(out, i ? ",{\"id\":\"" : "{\"id\":\"", i ? 8 : 7);
        escape_utf8(out, h->id, h->id_len);
        /* One snprintf into the stack (sgs_buf_printf formats twice); 17
         * digits so the double reads back bit for bit. */
        char score[40];
        int w = isfinite(h->score) ? snprintf(score, sizeof score, "%.17g", h->score) : -1;
        if (w <= 0 || (size_t)w >= sizeof score)
            w = snprintf(score, sizeof score, "null");
        sgs_buf_append(out, "\",\"score\":", 10);
        sgs_buf_append(out, score, (size_t)w);
        sgs_buf_append(out, ",\"fields\":", 10);
        if (h->fields_len > 0)
            sgs_buf_append(out, h->fields, h->fields_len);
        else
            sgs_buf_append(out, "{}", 2);
        sgs_buf_putc(out, '}');
    }
    sgs_buf_printf(out, "],\"took_us\":%" PRIu32 "}", r->took_us);
}

void sgs_wire_encode_error_json(int code, const char *reason, sgs_buf *out)
{
    sgs_buf_printf(out, "{\"error\":{\"type\":\"%s\",\"reason\":\"", sgs_err_type(code));
    if (reason != NULL)
        escape_utf8(out, reason, strlen(reason));
    sgs_buf_append(out, "\"}}", 3);
}
