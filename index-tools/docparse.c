/* Line to document record. Record layout in the results buffer:
 *   u32 status, u64 line_no, then
 *   status != OK: u32 msg_len, msg bytes
 *   status == OK: u32 shard, u32 n_tokens, u32 id_len, id, u32 stored_len,
 *                 stored, u32 n_terms, n_terms x (u8 len, bytes, u32 tf, u64 hash)
 * Terms are counted per document in an open-addressing table that is
 * cleared by walking its used slots, so a document costs what it holds.
 *
 * Two JSON paths give the same records. The fast path scans the line in
 * place, without building a tree, and handles the common shape: an object
 * whose values are strings (escapes other than \u), null, true or false.
 * Anything else (numbers, arrays, nested objects, \u escapes, any line it
 * would reject) goes to the jansson path, which decides every rejection, so
 * the accepted documents and every error message are jansson's. The fast
 * path's stored fields are what json_dumps would print: jansson re-escapes
 * a string exactly as the input did, except that "\/" becomes "/".
 * SGS_INDEX_JSON=jansson turns the fast path off (tests compare the two). */
#include "index-tools/docparse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"
#include "common/tokenize.h"

const char *idx_bad_name(int kind)
{
    switch (kind) {
#define IDX_BAD_CASE(name, text) \
    case name:                   \
        return text;
        IDX_BAD_TABLE(IDX_BAD_CASE)
#undef IDX_BAD_CASE
    }
    return "ok";
}

typedef struct term_slot {
    uint64_t hash;
    uint32_t off; /* into scratch; 0 means empty (offset 0 is never used) */
    uint32_t tf;
    uint8_t len;
} term_slot;

struct idx_doc_parser {
    const idx_doc_config *cfg;
    term_slot *slots;
    size_t n_slots;     /* power of two */
    uint32_t *used;     /* slot indices in first-seen order */
    size_t n_used, used_cap;
    sgs_buf scratch;    /* term bytes of the current document */
    uint32_t n_tokens;
    /* fast path: the distinct field names it looks for, and scratch */
    bool fast;
    size_t n_names;
    const char **names;
    size_t *name_lens;
    struct fast_value *values; /* per name, the line's last value for it */
    size_t *text_name, *stored_name; /* config field -> names index */
    sgs_buf id_dec;   /* the decoded id, when it had escapes */
    sgs_buf text_dec; /* a decoded text field */
    sgs_buf stored;   /* the stored fields' JSON */
};

enum fast_type { FV_ABSENT, FV_STRING, FV_NULL, FV_TRUE, FV_FALSE };

struct fast_value {
    enum fast_type type;
    bool escaped;
    const char *s; /* string contents between the quotes, raw */
    size_t n;
};

/* Index of name in p->names, added if new. */
static size_t add_name(idx_doc_parser *p, const char *name)
{
    for (size_t i = 0; i < p->n_names; i++)
        if (strcmp(p->names[i], name) == 0)
            return i;
    p->names[p->n_names] = name;
    p->name_lens[p->n_names] = strlen(name);
    return p->n_names++;
}

idx_doc_parser *idx_doc_parser_new(const idx_doc_config *cfg)
{
    idx_doc_parser *p = sgs_xcalloc(1, sizeof *p);
    p->cfg = cfg;
    p->n_slots = 1024;
    p->slots = sgs_xcalloc(p->n_slots, sizeof *p->slots);
    sgs_buf_init(&p->scratch);
    sgs_buf_init(&p->id_dec);
    sgs_buf_init(&p->text_dec);
    sgs_buf_init(&p->stored);
    const char *json = getenv("SGS_INDEX_JSON");
    p->fast = json == NULL || strcmp(json, "jansson") != 0;
    size_t max = 1 + cfg->n_text_fields + cfg->n_stored_fields;
    p->names = sgs_xcalloc(max, sizeof *p->names);
    p->name_lens = sgs_xcalloc(max, sizeof *p->name_lens);
    p->values = sgs_xcalloc(max, sizeof *p->values);
    p->text_name = sgs_xcalloc(cfg->n_text_fields + 1, sizeof *p->text_name);
    p->stored_name = sgs_xcalloc(cfg->n_stored_fields + 1, sizeof *p->stored_name);
    add_name(p, cfg->id_field);
    for (size_t f = 0; f < cfg->n_text_fields; f++)
        p->text_name[f] = add_name(p, cfg->text_fields[f]);
    for (size_t f = 0; f < cfg->n_stored_fields; f++) {
        p->stored_name[f] = add_name(p, cfg->stored_fields[f]);
        /* A stored field named twice is one key in jansson's object. */
        for (size_t g = 0; g < f; g++)
            if (p->stored_name[g] == p->stored_name[f])
                p->fast = false;
        /* Names jansson would escape in its output take the jansson path. */
        for (const char *c = cfg->stored_fields[f]; *c; c++)
            if (*c < 0x20 || *c == '"' || *c == '\\' || (unsigned char)*c >= 0x80)
                p->fast = false;
    }
    return p;
}

void idx_doc_parser_free(idx_doc_parser *p)
{
    if (p == NULL)
        return;
    free(p->slots);
    free(p->used);
    sgs_buf_fini(&p->scratch);
    sgs_buf_fini(&p->id_dec);
    sgs_buf_fini(&p->text_dec);
    sgs_buf_fini(&p->stored);
    free(p->names);
    free(p->name_lens);
    free(p->values);
    free(p->text_name);
    free(p->stored_name);
    free(p);
}

static void grow_table(idx_doc_parser *p)
{
    size_t n = p->n_slots * 2;
    term_slot *slots = sgs_xcalloc(n, sizeof *slots);
    for (size_t u = 0; u < p->n_used; u++) {
        term_slot s = p->slots[p->used[u]];
        size_t i = s.hash & (n - 1);
        while (slots[i].off != 0)
            i = (i + 1) & (n - 1);
        slots[i] = s;
        p->used[u] = (uint32_t)i;
    }
    free(p->slots);
    p->slots = slots;
    p->n_slots = n;
}

static void count_token(void *ctx, const char *tok, size_t len)
{
    idx_doc_parser *p = ctx;
    p->n_tokens++;
    uint64_t h = sgs_hash64(tok, len);
    size_t i = h & (p->n_slots - 1);
    for (;;) {
        term_slot *s = &p->slots[i];
        if (s->off == 0)
            break;
        if (s->hash == h && s->len == len && memcmp(p->scratch.data + s->off, tok, len) == 0) {
            s->tf++;
            return;
        }
        i = (i + 1) & (p->n_slots - 1);
    }
    if (p->n_used == p->used_cap) {
        p->used_cap = p->used_cap ? p->used_cap * 2 : 256;
        p->used = sgs_xrealloc(p->used, p->used_cap * sizeof *p->used);
    }
    p->slots[i] = (term_slot){.hash = h, .off = (uint32_t)p->scratch.len, .tf = 1,
                              .len = (uint8_t)len};
    sgs_buf_append(&p->scratch, tok, len);
    p->used[p->n_used++] = (uint32_t)i;
    if (p->n_used * 2 > p->n_slots)
        grow_table(p);
}

static void reset_doc(idx_doc_parser *p)
{
    for (size_t u = 0; u < p->n_used; u++)
        p->slots[p->used[u]].off = 0;
    p->n_used = 0;
    p->n_tokens = 0;
    sgs_buf_reset(&p->scratch);
    sgs_buf_putc(&p->scratch, 0); /* offset 0 marks an empty slot */
}

static void put_u32(sgs_buf *b, uint32_t v)
{
    sgs_buf_put_u32(b, v);
}

void idx_record_append_error(sgs_buf *out, int kind, uint64_t line_no, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof msg)
        n = sizeof msg - 1;
    put_u32(out, (uint32_t)kind);
    sgs_buf_put_u64(out, line_no);
    put_u32(out, (uint32_t)n);
    sgs_buf_append(out, msg, (size_t)n);
}

/* ---- fast path ---------------------------------------------------------- */

static inline bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && json_ws(s[i]))
        i++;
    return i;
}

/* Nonzero when one of the eight bytes of w is '"', '\\' or below 0x20. */
static inline uint64_t special_bytes(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b, lt = (w - ones * 0x20) & ~w;
    return (zq | zb | lt) & highs;
}

/* Scans the string whose opening quote is s[*i] into v and moves *i past
 * its closing quote; false for what the fast path leaves to jansson (a \u
 * escape, a control byte, an unterminated string). */
static bool scan_string(const char *s, size_t n, size_t *i, struct fast_value *v)
{
    size_t k = *i + 1;
    const char *start = s + k;
    bool escaped = false;
    for (;;) {
        while (k + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + k, 8);
            if (special_bytes(w))
                break;
            k += 8;
        }
        if (k >= n)
            return false;
        unsigned char c = (unsigned char)s[k];
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (k + 1 >= n)
                return false;
            switch (s[k + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            default:
                return false;
            }
            escaped = true;
            k += 2;
            continue;
        }
        k++;
    }
    *v = (struct fast_value){.type = FV_STRING, .escaped = escaped, .s = start,
                             .n = (size_t)(s + k - start)};
    *i = k + 1;
    return true;
}

/* Scans a line that is one flat JSON object into p->values; false when the
 * line is not of the shape the fast path takes. */
static bool fast_scan(idx_doc_parser *p, const char *s, size_t n)
{
    for (size_t k = 0; k < p->n_names; k++)
        p->values[k].type = FV_ABSENT;
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{')
        return false;
    i = skip_ws(s, n, i + 1);
    for (;;) {
        struct fast_value key, v;
        if (i >= n || s[i] != '"' || !scan_string(s, n, &i, &key) || key.escaped)
            return false;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':')
            return false;
        i = skip_ws(s, n, i + 1);
        if (i >= n)
            return false;
        if (s[i] == '"') {
            if (!scan_string(s, n, &i, &v))
                return false;
        } else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            v = (struct fast_value){.type = FV_NULL};
            i += 4;
        } else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            v = (struct fast_value){.type = FV_TRUE};
            i += 4;
        } else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            v = (struct fast_value){.type = FV_FALSE};
            i += 5;
        } else {
            return false;
        }
        /* The last value of a repeated key wins, as in jansson. */
        for (size_t k = 0; k < p->n_names; k++)
            if (key.n == p->name_lens[k] && memcmp(key.s, p->names[k], key.n) == 0) {
                p->values[k] = v;
                break;
            }
        i = skip_ws(s, n, i);
        if (i >= n)
            return false;
        if (s[i] == '}')
            break;
        if (s[i] != ',')
            return false;
        i = skip_ws(s, n, i + 1);
    }
    return skip_ws(s, n, i + 1) == n;
}

/* Appends the decoded contents of a scanned string (simple escapes only). */
static void decode_string(sgs_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *bs = memchr(s + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
        sgs_buf_append(b, s + i, run);
        i += run;
        if (i >= n)
            break;
        char c = s[i + 1];
        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        default: break; /* '"', '\\', '/' stand for themselves */
        }
        sgs_buf_putc(b, (uint8_t)c);
        i += 2;
    }
}

/* Appends a scanned string as json_dumps prints it: the input's escapes,
 * except "\/", which jansson prints as "/". */
static void dump_string(sgs_buf *b, const struct fast_value *v)
{
    sgs_buf_putc(b, '"');
    if (!v->escaped) {
        sgs_buf_append(b, v->s, v->n);
    } else {
        size_t i = 0;
        while (i < v->n) {
            const char *bs = memchr(v->s + i, '\\', v->n - i);
            size_t run = bs ? (size_t)(bs - (v->s + i)) : v->n - i;
            sgs_buf_append(b, v->s + i, run);
            i += run;
            if (i >= v->n)
                break;
            if (v->s[i + 1] != '/')
                sgs_buf_putc(b, '\\');
            sgs_buf_putc(b, (uint8_t)v->s[i + 1]);
            i += 2;
        }
    }
    sgs_buf_putc(b, '"');
}

static void append_ok(idx_doc_parser *p, sgs_buf *out, uint64_t line_no, const char *id,
                      size_t id_len, const char *stored, size_t stored_len);

/* The fast path: true when it appended the line's record, false to leave
 * the line to the jansson path (which decides every rejection). */
static bool fast_line(idx_doc_parser *p, const char *line, size_t len, uint64_t line_no,
                      sgs_buf *out)
{
    const idx_doc_config *cfg = p->cfg;
    if (!fast_scan(p, line, len))
        return false;
    const struct fast_value *id = &p->values[0];
    if (id->type != FV_STRING)
        return false;
    const char *id_s = id->s;
    size_t id_len = id->n;
    if (id->escaped) {
        sgs_buf_reset(&p->id_dec);
        decode_string(&p->id_dec, id->s, id->n);
        id_s = (const char *)p->id_dec.data;
        id_len = p->id_dec.len;
    }
    if (id_len == 0 || id_len > 1024)
        return false;
    reset_doc(p);
    for (size_t f = 0; f < cfg->n_text_fields; f++) {
        const struct fast_value *v = &p->values[p->text_name[f]];
        if (v->type == FV_ABSENT || v->type == FV_NULL)
            continue;
        if (v->type != FV_STRING)
            return false;
        if (!v->escaped) {
            sgs_tokenize(v->s, v->n, count_token, p);
        } else {
            sgs_buf_reset(&p->text_dec);
            decode_string(&p->text_dec, v->s, v->n);
            sgs_tokenize((const char *)p->text_dec.data, p->text_dec.len, count_token, p);
        }
    }
    if (p->n_tokens == 0)
        return false;
    sgs_buf *st = &p->stored;
    sgs_buf_reset(st);
    sgs_buf_putc(st, '{');
    bool first = true;
    for (size_t f = 0; f < cfg->n_stored_fields; f++) {
        size_t k = p->stored_name[f];
        const struct fast_value *v = &p->values[k];
        if (v->type == FV_ABSENT)
            continue;
        if (!first)
            sgs_buf_putc(st, ',');
        first = false;
        sgs_buf_putc(st, '"');
        sgs_buf_append(st, p->names[k], p->name_lens[k]);
        sgs_buf_append(st, "\":", 2);
        switch (v->type) {
        case FV_STRING: dump_string(st, v); break;
        case FV_NULL: sgs_buf_append(st, "null", 4); break;
        case FV_TRUE: sgs_buf_append(st, "true", 4); break;
        default: sgs_buf_append(st, "false", 5); break;
        }
    }
    sgs_buf_putc(st, '}');
    append_ok(p, out, line_no, id_s, id_len, (const char *)st->data, st->len);
    return true;
}

/* ---- jansson path ------------------------------------------------------- */

void idx_doc_parser_line(idx_doc_parser *p, const char *line, size_t len, uint64_t line_no,
                         sgs_buf *out)
{
    const idx_doc_config *cfg = p->cfg;
    size_t bad_at;
    if (!sgs_utf8_check(line, len, &bad_at)) {
        idx_record_append_error(out, IDX_BAD_UTF8, line_no, "invalid UTF-8 at byte %zu", bad_at);
        return;
    }
    if (p->fast && fast_line(p, line, len, line_no, out))
        return;
    json_error_t jerr;
    json_t *doc = json_loadb(line, len, 0, &jerr);
    if (doc == NULL) {
        idx_record_append_error(out, IDX_BAD_JSON, line_no, "malformed JSON at column %d: %s",
                                jerr.column, jerr.text);
        return;
    }
    if (!json_is_object(doc)) {
        idx_record_append_error(out, IDX_BAD_NOT_OBJECT, line_no, "line is not a JSON object");
        goto done;
    }
    json_t *id = json_object_get(doc, cfg->id_field);
    if (id == NULL) {
        idx_record_append_error(out, IDX_BAD_ID, line_no, "missing id field '%s'", cfg->id_field);
        goto done;
    }
    if (!json_is_string(id) || json_string_length(id) == 0) {
        idx_record_append_error(out, IDX_BAD_ID, line_no, "id field '%s' is not a non-empty string",
                                cfg->id_field);
        goto done;
    }
    const char *id_str = json_string_value(id);
    size_t id_len = json_string_length(id);
    if (id_len > 1024) {
        idx_record_append_error(out, IDX_BAD_ID, line_no, "id is %zu bytes, longer than 1024",
                                id_len);
        goto done;
    }

    reset_doc(p);
    for (size_t f = 0; f < cfg->n_text_fields; f++) {
        json_t *v = json_object_get(doc, cfg->text_fields[f]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            idx_record_append_error(out, IDX_BAD_FIELD, line_no, "text field '%s' is not a string",
                                    cfg->text_fields[f]);
            goto done;
        }
        sgs_tokenize(json_string_value(v), json_string_length(v), count_token, p);
    }
    if (p->n_tokens == 0) {
        idx_record_append_error(out, IDX_BAD_NO_TOKENS, line_no, "document '%s' has no tokens",
                                id_str);
        goto done;
    }

    json_t *stored = json_object();
    for (size_t f = 0; f < cfg->n_stored_fields; f++) {
        json_t *v = json_object_get(doc, cfg->stored_fields[f]);
        if (v != NULL)
            json_object_set(stored, cfg->stored_fields[f], v);
    }
    char *stored_text = json_dumps(stored, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(stored);
    if (stored_text == NULL)
        abort();

    append_ok(p, out, line_no, id_str, id_len, stored_text, strlen(stored_text));
    free(stored_text);
done:
    json_decref(doc);
}

static void append_ok(idx_doc_parser *p, sgs_buf *out, uint64_t line_no, const char *id,
                      size_t id_len, const char *stored, size_t stored_len)
{
    put_u32(out, IDX_OK);
    sgs_buf_put_u64(out, line_no);
    put_u32(out, sgs_shard_of_id(id, id_len, p->cfg->n_shards));
    put_u32(out, p->n_tokens);
    put_u32(out, (uint32_t)id_len);
    sgs_buf_append(out, id, id_len);
    put_u32(out, (uint32_t)stored_len);
    sgs_buf_append(out, stored, stored_len);
    put_u32(out, (uint32_t)p->n_used);
    for (size_t u = 0; u < p->n_used; u++) {
        const term_slot *s = &p->slots[p->used[u]];
        sgs_buf_putc(out, s->len);
        sgs_buf_append(out, p->scratch.data + s->off, s->len);
        sgs_buf_append(out, &s->tf, 4);
        sgs_buf_append(out, &s->hash, 8);
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int idx_record_next(const sgs_buf *buf, size_t *pos, idx_record *rec)
{
    if (*pos >= buf->len)
        return 0;
    const uint8_t *p = buf->data + *pos;
    memset(rec, 0, sizeof *rec);
    rec->status = (int)get_u32(p);
    rec->line_no = (uint64_t)get_u32(p + 4) | (uint64_t)get_u32(p + 8) << 32;
    p += 12;
    if (rec->status != IDX_OK) {
        rec->msg_len = get_u32(p);
        rec->msg = (const char *)p + 4;
        p += 4 + rec->msg_len;
    } else {
        rec->shard = get_u32(p);
        rec->n_tokens = get_u32(p + 4);
        rec->id_len = get_u32(p + 8);
        rec->id = (const char *)p + 12;
        p += 12 + rec->id_len;
        rec->stored_len = get_u32(p);
        rec->stored = (const char *)p + 4;
        p += 4 + rec->stored_len;
        rec->n_terms = get_u32(p);
        rec->terms = p + 4;
        p += 4;
        for (uint32_t t = 0; t < rec->n_terms; t++)
            p += 1 + p[0] + 12;
    }
    *pos = (size_t)(p - buf->data);
    return 1;
}
