/* Fuzz target for the query parsers (common/query.h). The first byte picks
 * the parser: even, the query string; odd, the JSON query tree. Whatever the
 * input, a parser either fails with an error or returns a tree that
 * validates and survives every printer and the binary codec unchanged. */
#include "common/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
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
    sgs_err err = {0};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    sgs_query_node *n = NULL;
    if (data[0] % 2 == 0) {
        n = sgs_query_parse(text, len, &a, &err);
    } else {
        json_error_t je;
        json_t *j = json_loadb(text, len, 0, &je);
        if (j == NULL)
            return 0;
        n = sgs_query_from_json(j, &a, &err);
        json_decref(j);
    }
    if (n == NULL) {
        check(err.code != 0 && err.msg[0] != '\0');
        return 0;
    }
    check(err.code == 0);
    check(sgs_query_validate(n, &err) == 0);

    sgs_buf b;
    sgs_buf_init(&b);
    sgs_query_to_string(n, &b);
    sgs_query_node *back = sgs_query_parse((const char *)b.data, b.len, &a, &err);
    check(back != NULL && sgs_query_equal(n, back));

    json_t *j = sgs_query_to_json(n);
    back = sgs_query_from_json(j, &a, &err);
    json_decref(j);
    check(back != NULL && sgs_query_equal(n, back));

    sgs_buf_reset(&b);
    sgs_wire_encode_request_bin(n, 10, 0, &b);
    sgs_shard_request req;
    check(sgs_wire_decode_request_bin(b.data, b.len, &a, &req, &err) == 0);
    check(sgs_query_equal(n, req.query));

    const sgs_query_node **terms = NULL;
    uint32_t k = sgs_query_positive_terms(n, &a, &terms);
    check(k >= 1 && k <= SGS_QUERY_MAX_TERMS);
    for (uint32_t i = 1; i < k; i++) {
        uint32_t m = terms[i - 1]->term_len < terms[i]->term_len ? terms[i - 1]->term_len
                                                                 : terms[i]->term_len;
        int c = memcmp(terms[i - 1]->term, terms[i]->term, m);
        check(c < 0 || (c == 0 && terms[i - 1]->term_len < terms[i]->term_len));
    }
    sgs_buf_fini(&b);
    return 0;
}
