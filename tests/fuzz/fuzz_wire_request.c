/* Fuzz target for the wire decoders (common/wire.h). The first byte picks
 * the decoder: 0 mod 3 the binary request, 1 the JSON request, 2 the binary
 * response. A decoder either fails with an error whose JSON error body is
 * valid JSON, or returns a value that re-encodes to the same bytes (binary
 * forms are canonical) and, for responses, to valid JSON. */
#include "common/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* The text is valid JSON (\u0000 included: an id may hold a NUL byte). */
static void check_json(const sgs_buf *b)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_ALLOW_NUL, &je);
    check(j != NULL);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static sgs_arena a;
    static bool init;
    if (!init) {
        sgs_arena_init(&a, 1 << 16);
        init = true;
    }
    sgs_arena_reset(&a);
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    sgs_err err = {0};
    sgs_buf b;
    sgs_buf_init(&b);
    int rc;
    switch (data[0] % 3) {
    case 0: {
        sgs_shard_request req;
        rc = sgs_wire_decode_request_bin(body, len, &a, &req, &err);
        if (rc == 0) {
            check(sgs_query_validate(req.query, &err) == 0);
            sgs_wire_encode_request_bin(req.query, req.k, req.deadline_ms, &b);
            check(b.len == len && memcmp(b.data, body, len) == 0);
        }
        break;
    }
    case 1: {
        sgs_shard_request req;
        rc = sgs_wire_decode_request_json((const char *)body, len, &a, &req, &err);
        if (rc == 0) {
            check(sgs_query_validate(req.query, &err) == 0);
            check(req.k <= 10000);
        }
        break;
    }
    default: {
        sgs_shard_response resp;
        rc = sgs_wire_decode_response_bin(body, len, &a, &resp, &err);
        if (rc == 0) {
            sgs_wire_encode_response_bin(&resp, &b);
            check(b.len == len && memcmp(b.data, body, len) == 0);
            sgs_buf_reset(&b);
            sgs_wire_encode_response_json(&resp, &b);
            check_json(&b);
        }
        break;
    }
    }
    if (rc != 0) {
        check(err.code == rc && err.msg[0] != '\0');
        sgs_buf_reset(&b);
        sgs_wire_encode_error_json(rc, err.msg, &b);
        check_json(&b);
    }
    sgs_buf_fini(&b);
    return 0;
}
