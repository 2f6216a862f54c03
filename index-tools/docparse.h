/* Turns one JSON Lines input line into a document record: external id,
 * shard, length, stored fields and each distinct term with its frequency,
 * or an error record naming why the line is rejected.
 *
 * Records are appended to a byte buffer (the chunk's results) and read back
 * with idx_record_next(); a term's tf and hash are in host byte order. A parser owns scratch space and is used by one
 * thread at a time. */
#ifndef SGS_INDEX_TOOLS_DOCPARSE_H
#define SGS_INDEX_TOOLS_DOCPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

/* Why a line was rejected; the committer adds IDX_BAD_DUPLICATE_ID. */
#define IDX_BAD_TABLE(X)                                         \
    X(IDX_BAD_JSON, "malformed_json")                            \
    X(IDX_BAD_NOT_OBJECT, "not_an_object")                       \
    X(IDX_BAD_ID, "bad_id")                                      \
    X(IDX_BAD_FIELD, "bad_field")                                \
    X(IDX_BAD_UTF8, "invalid_utf8")                              \
    X(IDX_BAD_NO_TOKENS, "no_tokens")                            \
    X(IDX_BAD_TOO_LONG, "line_too_long")                         \
    X(IDX_BAD_DUPLICATE_ID, "duplicate_id")

enum idx_bad_kind {
    IDX_OK = 0,
#define IDX_BAD_ENUM(name, text) name,
    IDX_BAD_TABLE(IDX_BAD_ENUM)
#undef IDX_BAD_ENUM
    IDX_BAD_COUNT
};

/* The name of a rejection kind ("malformed_json", ...). */
const char *idx_bad_name(int kind);

typedef struct idx_doc_config {
    const char *id_field;
    const char *const *text_fields;
    size_t n_text_fields;
    const char *const *stored_fields;
    size_t n_stored_fields;
    uint32_t n_shards;
} idx_doc_config;

/* A record read back from a results buffer; pointers borrow the buffer. */
typedef struct idx_record {
    int status; /* IDX_OK or an idx_bad_kind */
    uint64_t line_no;
    const char *msg; /* rejection reason, msg_len bytes */
    size_t msg_len;
    uint32_t shard;
    uint32_t n_tokens;
    const char *id;
    size_t id_len;
    const char *stored;
    size_t stored_len;
    uint32_t n_terms;
    const uint8_t *terms; /* n_terms x (u8 len, len bytes, u32 tf, u64 sgs_hash64 of the term) */
} idx_record;

typedef struct idx_doc_parser idx_doc_parser;

/* A parser for one thread. Borrows cfg for its lifetime. Free with idx_doc_parser_free(). */
idx_doc_parser *idx_doc_parser_new(const idx_doc_config *cfg);

/* Frees the parser; NULL is a no-op. */
void idx_doc_parser_free(idx_doc_parser *p);

/* Parses one line (without its newline) and appends its record to out. */
void idx_doc_parser_line(idx_doc_parser *p, const char *line, size_t len, uint64_t line_no,
                         sgs_buf *out);

/* Appends an error record for a line that was not parsed (too long). */
void idx_record_append_error(sgs_buf *out, int kind, uint64_t line_no, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads the record at *pos of buf and advances *pos; 0 at the end. */
int idx_record_next(const sgs_buf *buf, size_t *pos, idx_record *rec);

/* Iterates a record's terms: call with *p = rec->terms, n_terms times. */
static inline const uint8_t *idx_term_next(const uint8_t *p, const char **term, size_t *len,
                                           uint32_t *tf, uint64_t *hash)
{
    *len = p[0];
    *term = (const char *)p + 1;
    p += 1 + *len;
    memcpy(tf, p, 4);
    memcpy(hash, p + 4, 8);
    return p + 12;
}

#endif
