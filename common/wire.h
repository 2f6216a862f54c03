/* The root-leaf protocol: the shard search request and its answer, as
 * compact binary (what the root sends and asks for) and as JSON (what curl
 * sends and gets with Accept: application/json). The tables below are the
 * spec of the binary form. All integers little-endian; floats IEEE-754.
 *
 * Versioning: the binary form carries SGS_WIRE_VERSION in its header and the
 * content type names it; a decoder meeting another version fails with
 * SGS_EPROTOCOL, so a rolling upgrade never silently mixes formats.
 *
 * REQUEST (Content-Type: application/x-sgs-v1), POST /v1/shard/search
 *   OFFSET SIZE MEANING
 *   0      4    magic "SGSQ"
 *   4      2    version (SGS_WIRE_VERSION)
 *   6      2    flags, zero
 *   8      4    k (0 .. SGS_EVAL_MAX_K; 0 counts only)
 *   12     4    deadline_ms: time budget from receipt (0: none)
 *   16     ...  query tree, prefix order, normalized (common/query.h):
 *               u8 kind; TERM: u8 len, len bytes; AND/OR: u16 n_children,
 *               then the children; NOT: its child. Nothing may follow.
 *
 * RESPONSE (Content-Type: application/x-sgs-v1), 200
 *   OFFSET SIZE MEANING
 *   0      4    magic "SGSR"
 *   4      2    version (SGS_WIRE_VERSION)
 *   6      2    flags, zero
 *   8      4    shard id
 *   12     4    n_hits
 *   16     8    generation
 *   24     8    total: exact number of matching documents
 *   32     4    took_us: leaf evaluation time
 *   36     4    reserved, zero
 *   40     ...  n_hits hits, best first: f64 score, u32 id_len, u32 fields_len,
 *               id_len bytes of external id, fields_len bytes of stored
 *               fields (compact JSON object). Nothing may follow.
 *
 * JSON REQUEST: {"q": "<query string>"} or {"query": <JSON tree>} (exactly
 * one), optional "k" (integer, default 10), "deadline_ms" (integer >= 0).
 * Unknown keys and wrong types are SGS_EBADREQ naming the key.
 * JSON RESPONSE: {"shard", "generation", "total", "hits": [{"id", "score",
 * "fields"}], "took_us"}; generation as 16 lower-case hex digits,
 * as in the manifest, /v1/shard/info and metrics.
 *
 * Errors (either form): the HTTP status of the code and a JSON body
 * {"error": {"type", "reason"}}. */
#ifndef SGS_COMMON_WIRE_H
#define SGS_COMMON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/query.h"

#define SGS_WIRE_VERSION 1u
#define SGS_WIRE_CONTENT_TYPE "application/x-sgs-v1"
#define SGS_WIRE_MAX_BODY (64u * 1024u) /* request body bytes (SGS_EBODY_LARGE) */
#define SGS_WIRE_DEFAULT_K 10u

typedef struct sgs_shard_request {
    sgs_query_node *query; /* normalized, in the decoder's arena */
    uint32_t k;
    uint32_t deadline_ms; /* 0: none */
} sgs_shard_request;

typedef struct sgs_wire_hit {
    double score;
    const char *id; /* borrowed: into the shard or the decoded body */
    uint32_t id_len;
    const char *fields; /* compact JSON object, borrowed likewise */
    uint32_t fields_len;
} sgs_wire_hit;

typedef struct sgs_shard_response {
    uint32_t shard;
    uint64_t generation;
    uint64_t total;
    uint32_t took_us;
    uint32_t n_hits;
    sgs_wire_hit *hits;
} sgs_shard_response;

/* Decodes a JSON request body of len bytes (untrusted). 0, or SGS_EJSON,
 * SGS_EBADREQ, SGS_EK_LARGE or a query error, with err naming the key. */
int sgs_wire_decode_request_json(const char *body, size_t len, sgs_arena *a,
                                 sgs_shard_request *out, sgs_err *err);

/* Decodes a binary request body (untrusted): bounds, version, kinds, limits
 * and normalization all checked (sgs_query_validate). 0, or SGS_EPROTOCOL,
 * SGS_EBADREQ naming the offset, SGS_EK_LARGE or a query error. */
int sgs_wire_decode_request_bin(const uint8_t *body, size_t len, sgs_arena *a,
                                sgs_shard_request *out, sgs_err *err);

/* Appends the binary request for a normalized query. */
void sgs_wire_encode_request_bin(const sgs_query_node *query, uint32_t k, uint32_t deadline_ms,
                                 sgs_buf *out);

/* Appends the binary response. */
void sgs_wire_encode_response_bin(const sgs_shard_response *r, sgs_buf *out);

/* Appends the JSON response (ids and fields as given; fields are inserted
 * verbatim, so they must be a JSON object). */
void sgs_wire_encode_response_json(const sgs_shard_response *r, sgs_buf *out);

/* Decodes a binary response (untrusted). Hits point into body and live as
 * long as it; the hits array comes from arena a. Besides bounds it checks
 * n_hits <= min(total, SGS_EVAL_MAX_K), total <= 2^53, finite scores, UTF-8
 * ids and fields that are one JSON object (so they can be inserted
 * verbatim). 0, or SGS_EPROTOCOL or SGS_EBADREQ naming the offset. */
int sgs_wire_decode_response_bin(const uint8_t *body, size_t len, sgs_arena *a,
                                 sgs_shard_response *out, sgs_err *err);

/* Appends {"error": {"type": ..., "reason": ...}} for code and reason. */
void sgs_wire_encode_error_json(int code, const char *reason, sgs_buf *out);

#endif
