/* Line to document record. Record layout in the results buffer:
 *   u32 status, u64 line_no, then
 *   status != OK: u32 msg_len, msg bytes
 *   status == OK: u32 shard, u32 n_tokens, u32 id_len, id, u32 stored_len,
 *                 stored, u32 n_terms, n_terms x (u8 len, bytes, u32 tf)
 * Terms are counted per document in an open-addressing table that is
 * cleared by walking its used slots, so a document costs what it holds. */
#include "index-tools/docparse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
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
};

idx_doc_parser *idx_doc_parser_new(const idx_doc_config *cfg)
{
    idx_doc_parser *p = sgs_xcalloc(1, sizeof *p);
    p->cfg = cfg;
    p->n_slots = 1024;
    p->slots = sgs_xcalloc(p->n_slots, sizeof *p->slots);
    sgs_buf_init(&p->scratch);
    return p;
}

void idx_doc_parser_free(idx_doc_parser *p)
{
    if (p == NULL)
        return;
    free(p->slots);
    free(p->used);
    sgs_buf_fini(&p->scratch);
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

void idx_doc_parser_line(idx_doc_parser *p, const char *line, size_t len, uint64_t line_no,
                         sgs_buf *out)
{
    const idx_doc_config *cfg = p->cfg;
    size_t bad_at;
    if (!sgs_utf8_check(line, len, &bad_at)) {
        idx_record_append_error(out, IDX_BAD_UTF8, line_no, "invalid UTF-8 at byte %zu", bad_at);
        return;
    }
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

    put_u32(out, IDX_OK);
    sgs_buf_put_u64(out, line_no);
    put_u32(out, sgs_shard_of_id(id_str, id_len, cfg->n_shards));
    put_u32(out, p->n_tokens);
    put_u32(out, (uint32_t)id_len);
    sgs_buf_append(out, id_str, id_len);
    size_t stored_len = strlen(stored_text);
    put_u32(out, (uint32_t)stored_len);
    sgs_buf_append(out, stored_text, stored_len);
    free(stored_text);
    put_u32(out, (uint32_t)p->n_used);
    for (size_t u = 0; u < p->n_used; u++) {
        const term_slot *s = &p->slots[p->used[u]];
        sgs_buf_putc(out, s->len);
        sgs_buf_append(out, p->scratch.data + s->off, s->len);
        put_u32(out, s->tf);
    }
done:
    json_decref(doc);
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
            p += 1 + p[0] + 4;
    }
    *pos = (size_t)(p - buf->data);
    return 1;
}
