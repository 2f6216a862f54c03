/* Tests of the root-leaf protocol (common/wire.h): binary requests and
 * responses against hand-written bytes from the tables in wire.h, round trips
 * (including random query trees), every header, bound and limit error with
 * its offset, every truncation and every single-bit flip of valid bodies
 * (which must decode to a valid value or fail cleanly), deep and wide trees
 * that must not recurse or allocate past the limits, the strict JSON request
 * decoder, the JSON response and the error body.
 *
 * Random inputs come from a splitmix64 seeded by SGS_TEST_SEED when set, else
 * by the clock; each random test prints SGS_TEST_SEED=<n>. */
#include "common/wire.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/eval.h"
#include "tests/unit/rng.h"

/* ---- helpers ---------------------------------------------------------------- */

static rng test_rng(const char *test)
{
    uint64_t seed = test_seed();
    fprintf(stderr, "wire/%s: SGS_TEST_SEED=%" PRIu64 "\n", test, seed);
    return (rng){seed};
}

static sgs_arena arena;
static sgs_buf buf;

static void setup(void)
{
    sgs_arena_init(&arena, 1 << 16);
    sgs_buf_init(&buf);
}

static void teardown(void)
{
    sgs_buf_fini(&buf);
    sgs_arena_fini(&arena);
}

TestSuite(wire, .init = setup, .fini = teardown);

static sgs_query_node *parse(const char *q)
{
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_parse(q, strlen(q), &arena, &err);
    cr_assert_not_null(n, "parse \"%s\": %s", q, err.msg);
    return n;
}

static void expect_req_error(const uint8_t *body, size_t len, int code, const char *needle)
{
    sgs_err err = {0};
    sgs_shard_request req;
    int rc = sgs_wire_decode_request_bin(body, len, &arena, &req, &err);
    cr_assert_eq(rc, code, "rc %d (%s), want %d", rc, err.msg, code);
    cr_assert_eq(err.code, code);
    if (needle != NULL)
        cr_assert(strstr(err.msg, needle) != NULL, "reason \"%s\" lacks \"%s\"", err.msg, needle);
}

static void expect_resp_error(const uint8_t *body, size_t len, int code, const char *needle)
{
    sgs_err err = {0};
    sgs_shard_response resp;
    int rc = sgs_wire_decode_response_bin(body, len, &arena, &resp, &err);
    cr_assert_eq(rc, code, "rc %d (%s), want %d", rc, err.msg, code);
    if (needle != NULL)
        cr_assert(strstr(err.msg, needle) != NULL, "reason \"%s\" lacks \"%s\"", err.msg, needle);
}

/* A request header per the table, k and deadline as given. */
static size_t req_header(uint8_t *b, uint32_t k, uint32_t deadline_ms)
{
    memcpy(b, "SGSQ", 4);
    b[4] = 1, b[5] = 0, b[6] = 0, b[7] = 0;
    for (int i = 0; i < 4; i++) {
        b[8 + i] = (uint8_t)(k >> (8 * i));
        b[12 + i] = (uint8_t)(deadline_ms >> (8 * i));
    }
    return 16;
}

/* ---- binary request ----------------------------------------------------------- */

Test(wire, request_bytes_follow_the_table)
{
    sgs_wire_encode_request_bin(parse("ab -(c OR d)"), 10, 250, &buf);
    const uint8_t want[] = {'S', 'G', 'S', 'Q', 1, 0, 0, 0, 10, 0, 0, 0, 250, 0, 0, 0,
                            2, 2, 0,           /* AND, 2 children */
                            1, 2, 'a', 'b',    /* TERM "ab" */
                            4,                 /* NOT */
                            3, 2, 0,           /* OR, 2 children */
                            1, 1, 'c', 1, 1, 'd'};
    cr_assert_eq(buf.len, sizeof want);
    cr_assert_arr_eq(buf.data, want, sizeof want);
    sgs_err err = {0};
    sgs_shard_request req;
    cr_assert_eq(sgs_wire_decode_request_bin(want, sizeof want, &arena, &req, &err), 0, "%s",
                 err.msg);
    cr_assert(sgs_query_equal(req.query, parse("ab -(c OR d)")));
    cr_assert_eq(req.k, 10);
    cr_assert_eq(req.deadline_ms, 250);
}

Test(wire, request_round_trips)
{
    const char *queries[] = {"a", "a b", "a OR b", "a -b", "x (a b) OR -c d",
                             "日本語 café -straße", "a OR (b -(c OR d) e)"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        sgs_buf_reset(&buf);
        sgs_query_node *q = parse(queries[i]);
        sgs_wire_encode_request_bin(q, (uint32_t)i * 1000, UINT32_MAX - (uint32_t)i, &buf);
        sgs_err err = {0};
        sgs_shard_request req;
        cr_assert_eq(sgs_wire_decode_request_bin(buf.data, buf.len, &arena, &req, &err), 0,
                     "%s: %s", queries[i], err.msg);
        cr_assert(sgs_query_equal(q, req.query), "%s", queries[i]);
        cr_assert_eq(req.k, (uint32_t)i * 1000);
        cr_assert_eq(req.deadline_ms, UINT32_MAX - (uint32_t)i);
    }
}

Test(wire, request_header_errors)
{
    uint8_t b[64];
    size_t n = req_header(b, 10, 0);
    b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    expect_req_error(b, 0, SGS_EBADREQ, "shorter than its 16-byte header");
    expect_req_error(b, 3, SGS_EBADREQ, "shorter");
    expect_req_error(b, 5, SGS_EBADREQ, "shorter");
    expect_req_error(b, 15, SGS_EBADREQ, "shorter");
    expect_req_error(b, 16, SGS_EBADREQ, "offset 16: query tree truncated");
    b[0] = 'X';
    expect_req_error(b, n, SGS_EPROTOCOL, "offset 0");
    memcpy(b, "SGSR", 4);
    expect_req_error(b, n, SGS_EPROTOCOL, "magic");
    memcpy(b, "SGSQ", 4);
    b[4] = 2;
    expect_req_error(b, n, SGS_EPROTOCOL, "version 2");
    b[4] = 1, b[5] = 1;
    expect_req_error(b, n, SGS_EPROTOCOL, "version 257");
    b[5] = 0, b[7] = 0x80;
    expect_req_error(b, n, SGS_EBADREQ, "offset 6: flags 0x8000");
    b[7] = 0;
    req_header(b, SGS_EVAL_MAX_K + 1, 0);
    expect_req_error(b, n, SGS_EK_LARGE, "offset 8: k is 10001");
    req_header(b, SGS_EVAL_MAX_K, 0);
    sgs_err err = {0};
    sgs_shard_request req;
    cr_assert_eq(sgs_wire_decode_request_bin(b, n, &arena, &req, &err), 0, "%s", err.msg);
    cr_assert_eq(req.k, SGS_EVAL_MAX_K);
    req_header(b, 0, 0);
    cr_assert_eq(sgs_wire_decode_request_bin(b, n, &arena, &req, &err), 0, "%s", err.msg);
    cr_assert_eq(req.k, 0);
}

Test(wire, request_tree_errors)
{
    uint8_t b[256];
    size_t h = req_header(b, 10, 0), n;

    n = h;
    b[n++] = 1, b[n++] = 1, b[n++] = 'a', b[n++] = 0;
    expect_req_error(b, n, SGS_EBADREQ, "offset 19: 1 bytes follow the query tree");
    n = h;
    b[n++] = 9;
    expect_req_error(b, n, SGS_EBADREQ, "offset 16: unknown query node kind 9");
    n = h;
    b[n++] = 0;
    expect_req_error(b, n, SGS_EBADREQ, "kind 0");
    n = h;
    b[n++] = 1, b[n++] = 5, b[n++] = 'a';
    expect_req_error(b, n, SGS_EBADREQ, "offset 18: term of 5 bytes runs past the body");
    n = h;
    b[n++] = 1;
    expect_req_error(b, n, SGS_EBADREQ, "offset 17: query tree truncated (term length)");
    n = h;
    b[n++] = 2, b[n++] = 1;
    expect_req_error(b, n, SGS_EBADREQ, "offset 17: query tree truncated (child count)");
    n = h;
    b[n++] = 2, b[n++] = 3, b[n++] = 0, b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    expect_req_error(b, n, SGS_EBADREQ, "3 children do not fit");
    n = h;
    b[n++] = 3, b[n++] = 0xff, b[n++] = 0xff;
    expect_req_error(b, n, SGS_EQUERY_TERMS, "65535 children");
    /* Shape rules come from sgs_query_validate. */
    n = h;
    b[n++] = 2, b[n++] = 1, b[n++] = 0, b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    expect_req_error(b, n, SGS_EQUERY, "and with 1 children");
    n = h;
    b[n++] = 2, b[n++] = 0, b[n++] = 0;
    expect_req_error(b, n, SGS_EQUERY, "and with 0 children");
    n = h;
    b[n++] = 1, b[n++] = 1, b[n++] = 'A';
    expect_req_error(b, n, SGS_EQUERY, "not one token");
    n = h;
    b[n++] = 1, b[n++] = 0;
    expect_req_error(b, n, SGS_EQUERY, "term of 0 bytes");
    n = h;
    b[n++] = 1, b[n++] = 2, b[n++] = 0xc3, b[n++] = 0x28;
    expect_req_error(b, n, SGS_EQUERY, "UTF-8");
    n = h;
    b[n++] = 4, b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    expect_req_error(b, n, SGS_EQUERY, "no positive term");
    n = h;
    b[n++] = 2, b[n++] = 2, b[n++] = 0, b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    b[n++] = 4, b[n++] = 4, b[n++] = 1, b[n++] = 1, b[n++] = 'b';
    expect_req_error(b, n, SGS_EQUERY, "not directly inside not");
    n = h;
    b[n++] = 2, b[n++] = 2, b[n++] = 0, b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    b[n++] = 2, b[n++] = 2, b[n++] = 0, b[n++] = 1, b[n++] = 1, b[n++] = 'b', b[n++] = 1,
    b[n++] = 1, b[n++] = 'c';
    expect_req_error(b, n, SGS_EQUERY, "not flattened");
}

Test(wire, request_limits_without_deep_recursion)
{
    static uint8_t b[SGS_WIRE_MAX_BODY + 16];
    size_t h = req_header(b, 10, 0);
    /* 60000 nested NOTs: refused at the 17th level. */
    size_t n = h;
    while (n < h + 60000)
        b[n++] = 4;
    b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    expect_req_error(b, n, SGS_EQUERY_DEPTH, "offset 32: query tree nested deeper than 16");
    /* 30000 nested single-child ANDs likewise. */
    n = h;
    while (n < h + 60000)
        b[n++] = 2, b[n++] = 1, b[n++] = 0;
    b[n++] = 1, b[n++] = 1, b[n++] = 'a';
    expect_req_error(b, n, SGS_EQUERY_DEPTH, NULL);
    /* 80 terms in two ORs of 40. */
    n = h;
    b[n++] = 2, b[n++] = 2, b[n++] = 0;
    for (int o = 0; o < 2; o++) {
        b[n++] = 3, b[n++] = 40, b[n++] = 0;
        for (int i = 0; i < 40; i++)
            b[n++] = 1, b[n++] = 1, b[n++] = (uint8_t)('a' + i % 26);
    }
    expect_req_error(b, n, SGS_EQUERY_TERMS, "more than 64 terms");
    /* Over the body limit. */
    memset(b + h, 0, sizeof b - h);
    expect_req_error(b, SGS_WIRE_MAX_BODY + 1, SGS_EBODY_LARGE, "65537 bytes");
}

static bool known_code(int rc)
{
    return rc == SGS_EBADREQ || rc == SGS_EPROTOCOL || rc == SGS_EK_LARGE || rc == SGS_EQUERY ||
           rc == SGS_EQUERY_TERMS || rc == SGS_EQUERY_DEPTH;
}

Test(wire, request_truncations_and_bit_flips_fail_cleanly)
{
    sgs_wire_encode_request_bin(parse("alpha (beta OR -gamma) delta OR épsilon -(x y)"), 7, 99,
                                &buf);
    uint8_t *copy = malloc(buf.len);
    for (size_t cut = 0; cut < buf.len; cut++) {
        memcpy(copy, buf.data, cut);
        sgs_err err = {0};
        sgs_shard_request req;
        int rc = sgs_wire_decode_request_bin(copy, cut, &arena, &req, &err);
        cr_assert_eq(rc, SGS_EBADREQ, "cut at %zu: rc %d %s", cut, rc, err.msg);
    }
    uint32_t ok = 0;
    for (size_t i = 0; i < buf.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, buf.data, buf.len);
            copy[i] ^= (uint8_t)(1u << bit);
            sgs_err err = {0};
            sgs_shard_request req;
            int rc = sgs_wire_decode_request_bin(copy, buf.len, &arena, &req, &err);
            if (rc == 0) {
                ok++;
                cr_assert_eq(sgs_query_validate(req.query, &err), 0, "%s", err.msg);
            } else {
                cr_assert(known_code(rc), "flip %zu.%d: rc %d %s", i, bit, rc, err.msg);
                cr_assert_neq(err.msg[0], '\0');
            }
        }
    }
    /* Flips in k, deadline and term letters still decode. */
    cr_assert_gt(ok, 0);
    free(copy);
}

/* Random bytes after a valid header: decoding never crashes. */
Test(wire, request_random_trees_of_bytes)
{
    rng r = test_rng("request_random_trees_of_bytes");
    uint8_t b[128];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = req_header(b, rng_below(&r, 20000), 0);
        size_t len = n + rng_below(&r, 64);
        while (n < len) {
            /* Bias towards plausible bytes: kinds, small lengths and letters. */
            uint32_t pick = rng_below(&r, 4);
            b[n++] = pick == 0   ? (uint8_t)(1 + rng_below(&r, 4))
                     : pick == 1 ? (uint8_t)rng_below(&r, 4)
                     : pick == 2 ? (uint8_t)('a' + rng_below(&r, 3))
                                 : (uint8_t)rng_next(&r);
        }
        sgs_err err = {0};
        sgs_shard_request req;
        int rc = sgs_wire_decode_request_bin(b, len, &arena, &req, &err);
        if (rc == 0)
            cr_assert_eq(sgs_query_validate(req.query, &err), 0, "%s", err.msg);
        else
            cr_assert(known_code(rc), "rc %d %s", rc, err.msg);
        if (iter % 1000 == 0)
            sgs_arena_reset(&arena);
    }
}

static const char *vocab[] = {"a", "b", "ab", "or", "not", "x1", "42", "café", "ß", "日本", "z"};

static sgs_query_node *mk(sgs_query_kind kind, uint32_t cap)
{
    sgs_query_node *n = sgs_arena_zalloc(&arena, sizeof *n);
    n->kind = kind;
    n->children = sgs_arena_zalloc(&arena, (cap ? cap : 1) * sizeof *n->children);
    return n;
}

/* A random normalized tree (see test_query.c): at most budget terms. */
static sgs_query_node *random_tree(rng *r, uint32_t max_depth, sgs_query_kind parent,
                                   uint32_t budget, uint32_t *used)
{
    uint32_t pick = rng_below(r, 10);
    if (max_depth <= 1 || budget < 2 || pick < 4) {
        *used = 1;
        sgs_query_node *t = mk(SGS_QUERY_TERM, 0);
        t->term = vocab[rng_below(r, sizeof vocab / sizeof vocab[0])];
        t->term_len = (uint32_t)strlen(t->term);
        return t;
    }
    sgs_query_kind kind = pick < 6 ? SGS_QUERY_AND : pick < 8 ? SGS_QUERY_OR : SGS_QUERY_NOT;
    if (kind == parent)
        kind = kind == SGS_QUERY_NOT ? SGS_QUERY_AND : SGS_QUERY_NOT;
    if (kind == SGS_QUERY_NOT) {
        sgs_query_node *n = mk(kind, 1);
        n->n_children = 1;
        n->children[0] = random_tree(r, max_depth - 1, kind, budget, used);
        return n;
    }
    uint32_t want = 2 + rng_below(r, 4);
    if (want > budget)
        want = budget;
    sgs_query_node *n = mk(kind, want);
    uint32_t remaining = budget;
    for (uint32_t i = 0; i < want; i++) {
        uint32_t after = want - i - 1, got = 0;
        n->children[n->n_children++] =
            random_tree(r, max_depth - 1, kind, 1 + rng_below(r, remaining - after), &got);
        remaining -= got;
    }
    *used = budget - remaining;
    return n;
}

Test(wire, random_trees_round_trip_in_binary)
{
    rng r = test_rng("random_trees_round_trip_in_binary");
    uint32_t tested = 0;
    for (int iter = 0; iter < 5000; iter++) {
        sgs_arena_reset(&arena);
        uint32_t used = 0;
        sgs_query_node *q = random_tree(&r, 1 + rng_below(&r, SGS_QUERY_MAX_DEPTH),
                                        (sgs_query_kind)0, SGS_QUERY_MAX_TERMS, &used);
        sgs_err err = {0};
        if (sgs_query_validate(q, &err) != 0)
            continue; /* no positive term */
        tested++;
        sgs_buf_reset(&buf);
        uint32_t k = rng_below(&r, SGS_EVAL_MAX_K + 1);
        sgs_wire_encode_request_bin(q, k, 5, &buf);
        sgs_shard_request req;
        cr_assert_eq(sgs_wire_decode_request_bin(buf.data, buf.len, &arena, &req, &err), 0,
                     "%s", err.msg);
        cr_assert(sgs_query_equal(q, req.query));
        cr_assert_eq(req.k, k);
    }
    cr_assert_gt(tested, 2000);
}

/* ---- JSON request -------------------------------------------------------------- */

static int json_req(const char *body, sgs_shard_request *req, sgs_err *err)
{
    return sgs_wire_decode_request_json(body, strlen(body), &arena, req, err);
}

static void expect_json_req_error(const char *body, int code, const char *needle)
{
    sgs_err err = {0};
    sgs_shard_request req;
    int rc = json_req(body, &req, &err);
    cr_assert_eq(rc, code, "%s: rc %d (%s), want %d", body, rc, err.msg, code);
    cr_assert_eq(err.code, code);
    if (needle != NULL)
        cr_assert(strstr(err.msg, needle) != NULL, "%s: reason \"%s\" lacks \"%s\"", body,
                  err.msg, needle);
}

Test(wire, json_request_forms)
{
    sgs_err err = {0};
    sgs_shard_request req;
    cr_assert_eq(json_req("{\"q\": \"a b OR c\"}", &req, &err), 0, "%s", err.msg);
    cr_assert(sgs_query_equal(req.query, parse("a b OR c")));
    cr_assert_eq(req.k, SGS_WIRE_DEFAULT_K);
    cr_assert_eq(req.deadline_ms, 0);
    cr_assert_eq(json_req("{\"query\": {\"or\": [{\"term\": \"a\"}, {\"not\": {\"term\": \"b\"}}]},"
                          " \"k\": 0, \"deadline_ms\": 4294967295}",
                          &req, &err),
                 0, "%s", err.msg);
    cr_assert(sgs_query_equal(req.query, parse("a OR -b")));
    cr_assert_eq(req.k, 0);
    cr_assert_eq(req.deadline_ms, UINT32_MAX);
    cr_assert_eq(json_req("{\"k\": 10000, \"q\": \"x\"}", &req, &err), 0, "%s", err.msg);
    cr_assert_eq(req.k, 10000);
}

Test(wire, json_request_errors_name_the_key)
{
    expect_json_req_error("", SGS_EJSON, NULL);
    expect_json_req_error("{\"q\": ", SGS_EJSON, "not valid JSON");
    expect_json_req_error("{\"q\": \"a\"} x", SGS_EJSON, NULL);
    expect_json_req_error("{\"q\": \"a\", \"q\": \"b\"}", SGS_EJSON, NULL);
    expect_json_req_error("[\"a\"]", SGS_EBADREQ, "expected a JSON object");
    expect_json_req_error("{\"q\": \"a\", \"size\": 3}", SGS_EBADREQ, "unknown key \"size\"");
    expect_json_req_error("{\"q\": 3}", SGS_EBADREQ, "q: expected a string");
    expect_json_req_error("{\"q\": \"a\", \"k\": \"10\"}", SGS_EBADREQ, "k: expected an integer");
    expect_json_req_error("{\"q\": \"a\", \"k\": 10.0}", SGS_EBADREQ, "k: expected an integer");
    expect_json_req_error("{\"q\": \"a\", \"k\": -1}", SGS_EBADREQ, "k: must not be negative");
    expect_json_req_error("{\"q\": \"a\", \"k\": 10001}", SGS_EK_LARGE, "k: 10001");
    expect_json_req_error("{\"q\": \"a\", \"deadline_ms\": -5}", SGS_EBADREQ, "deadline_ms");
    expect_json_req_error("{\"q\": \"a\", \"deadline_ms\": 4294967296}", SGS_EBADREQ,
                          "deadline_ms: 4294967296 is more than");
    expect_json_req_error("{\"q\": \"a\", \"deadline_ms\": null}", SGS_EBADREQ, "deadline_ms");
    expect_json_req_error("{\"q\": \"a\", \"query\": {\"term\": \"a\"}}", SGS_EBADREQ,
                          "exactly one");
    expect_json_req_error("{\"k\": 3}", SGS_EBADREQ, "q or query: missing");
    expect_json_req_error("{\"q\": \"-a\"}", SGS_EQUERY, "no positive term");
    expect_json_req_error("{\"q\": \"(a\"}", SGS_EQUERY, "never closed");
    expect_json_req_error("{\"query\": {\"and\": [{\"term\": \"a\"}, 1]}}", SGS_EQUERY,
                          "query.and[1]");
    expect_json_req_error("{\"query\": \"a\"}", SGS_EQUERY, "query: expected an object");
    char *big = malloc(SGS_WIRE_MAX_BODY + 2);
    memset(big, ' ', SGS_WIRE_MAX_BODY + 1);
    big[SGS_WIRE_MAX_BODY + 1] = '\0';
    expect_json_req_error(big, SGS_EBODY_LARGE, NULL);
    free(big);
    sgs_buf_printf(&buf, "{\"q\": \"");
    for (unsigned i = 0; i < SGS_QUERY_MAX_TERMS + 1; i++)
        sgs_buf_printf(&buf, "t%u ", i);
    sgs_buf_printf(&buf, "\"}");
    sgs_buf_putc(&buf, 0);
    expect_json_req_error((const char *)buf.data, SGS_EQUERY_TERMS, NULL);
}

/* ---- binary response ------------------------------------------------------------- */

static sgs_shard_response sample_response(sgs_wire_hit *hits)
{
    hits[0] = (sgs_wire_hit){.score = 12.5, .id = "doc-1", .id_len = 5,
                             .fields = "{\"title\":\"One\"}", .fields_len = 15};
    hits[1] = (sgs_wire_hit){.score = 0.1 + 0.2, .id = "é", .id_len = 2,
                             .fields = "{}", .fields_len = 2};
    return (sgs_shard_response){.shard = 3, .generation = UINT64_C(0xfedcba9876543210),
                                .total = 1234567890123, .took_us = 77, .n_hits = 2,
                                .hits = hits};
}

Test(wire, response_bytes_follow_the_table)
{
    sgs_wire_hit hits[2];
    sgs_shard_response r = sample_response(hits);
    r.n_hits = 1;
    sgs_wire_encode_response_bin(&r, &buf);
    uint8_t want[40 + 16 + 5 + 15] = {'S', 'G', 'S', 'R', 1, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0,
                                      0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe};
    uint64_t total = 1234567890123;
    for (int i = 0; i < 8; i++)
        want[24 + i] = (uint8_t)(total >> (8 * i));
    want[32] = 77;
    double score = 12.5;
    uint64_t bits;
    memcpy(&bits, &score, 8);
    for (int i = 0; i < 8; i++)
        want[40 + i] = (uint8_t)(bits >> (8 * i));
    want[48] = 5, want[52] = 15;
    memcpy(want + 56, "doc-1", 5);
    memcpy(want + 61, "{\"title\":\"One\"}", 15);
    cr_assert_eq(buf.len, sizeof want);
    cr_assert_arr_eq(buf.data, want, sizeof want);
}

Test(wire, response_round_trips)
{
    sgs_wire_hit hits[2];
    sgs_shard_response r = sample_response(hits);
    sgs_wire_encode_response_bin(&r, &buf);
    sgs_err err = {0};
    sgs_shard_response d;
    cr_assert_eq(sgs_wire_decode_response_bin(buf.data, buf.len, &arena, &d, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(d.shard, 3);
    cr_assert_eq(d.generation, r.generation);
    cr_assert_eq(d.total, r.total);
    cr_assert_eq(d.took_us, 77);
    cr_assert_eq(d.n_hits, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(memcmp(&d.hits[i].score, &hits[i].score, 8), 0);
        cr_assert_eq(d.hits[i].id_len, hits[i].id_len);
        cr_assert_arr_eq(d.hits[i].id, hits[i].id, hits[i].id_len);
        cr_assert_eq(d.hits[i].fields_len, hits[i].fields_len);
        cr_assert_arr_eq(d.hits[i].fields, hits[i].fields, hits[i].fields_len);
        /* Hits point into the body. */
        cr_assert(d.hits[i].id >= (const char *)buf.data &&
                  d.hits[i].id < (const char *)buf.data + buf.len);
    }
    /* No hits. */
    r.n_hits = 0;
    r.total = 0;
    sgs_buf_reset(&buf);
    sgs_wire_encode_response_bin(&r, &buf);
    cr_assert_eq(buf.len, 40);
    cr_assert_eq(sgs_wire_decode_response_bin(buf.data, buf.len, &arena, &d, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(d.n_hits, 0);
}

/* Rewrites one hit's fields and decodes. */
static int decode_with_fields(const char *fields, sgs_err *err)
{
    sgs_wire_hit hit = {.score = 1, .id = "d", .id_len = 1, .fields = fields,
                        .fields_len = (uint32_t)strlen(fields)};
    sgs_shard_response r = {.total = 1, .n_hits = 1, .hits = &hit};
    sgs_buf_reset(&buf);
    sgs_wire_encode_response_bin(&r, &buf);
    sgs_shard_response d;
    return sgs_wire_decode_response_bin(buf.data, buf.len, &arena, &d, err);
}

Test(wire, response_fields_must_be_a_json_object)
{
    const char *good[] = {"{}", " { } ", "{\"a\":[1,-2.5e3,0,true,false,null,\"x\\u00e9\\n\"]}",
                          "{\"t\":\"日本\",\"n\":{\"m\":{}}}", "{\"a\":0.5E+2}"};
    const char *bad[] = {"", "[]", "\"x\"", "{", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{} {}",
                         "{\"a\":01}", "{\"a\":1,}", "{\"a\":\"\\x\"}", "{\"a\":tru}",
                         "{\"a\":\"\x01\"}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":\"\\u12\"}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sgs_err err = {0};
        cr_assert_eq(decode_with_fields(good[i], &err), 0, "%s: %s", good[i], err.msg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sgs_err err = {0};
        cr_assert_eq(decode_with_fields(bad[i], &err), SGS_EBADREQ, "%s accepted", bad[i]);
        cr_assert(strstr(err.msg, "offset 57: hit 0 fields are not a JSON object") != NULL,
                  "%s: %s", bad[i], err.msg);
    }
    char deep[400] = "{\"a\":";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    sgs_err err = {0};
    cr_assert_eq(decode_with_fields(deep, &err), SGS_EBADREQ);
    sgs_err_clear(&err);
    cr_assert_eq(decode_with_fields("{\"a\":\"\xff\"}", &err), SGS_EBADREQ);
    cr_assert(strstr(err.msg, "offset 63: hit 0 fields not UTF-8") != NULL, "%s", err.msg);
}

Test(wire, response_errors)
{
    sgs_wire_hit hits[2];
    sgs_shard_response r = sample_response(hits);
    sgs_wire_encode_response_bin(&r, &buf);
    uint8_t *b = malloc(buf.len + 1);
    memcpy(b, buf.data, buf.len);
    expect_resp_error(b, 39, SGS_EBADREQ, "shorter than its 40-byte header");
    memcpy(b, "SGSQ", 4);
    expect_resp_error(b, buf.len, SGS_EPROTOCOL, "magic is not \"SGSR\"");
    memcpy(b, "SGSR", 4);
    b[4] = 9;
    expect_resp_error(b, buf.len, SGS_EPROTOCOL, "version 9");
    b[4] = 1;
    b[6] = 1;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "offset 6: flags");
    b[6] = 0;
    b[36] = 1;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "offset 36: reserved");
    b[36] = 0;
    b[buf.len] = 0;
    expect_resp_error(b, buf.len + 1, SGS_EBADREQ, "1 bytes follow the last hit");
    /* A huge hit count is refused before anything is allocated for it. */
    b[12] = 0xff, b[13] = 0xff, b[14] = 0xff, b[15] = 0xff;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "offset 12: 4294967295 hits");
    b[12] = 0x10, b[13] = 0x27, b[14] = 0, b[15] = 0; /* 10000 */
    expect_resp_error(b, buf.len, SGS_EBADREQ, "do not fit");
    b[12] = 2, b[13] = 0;
    /* More hits than the total. */
    memset(b + 24, 0, 8);
    b[24] = 1;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "2 hits but a total of 1");
    /* A total no count can reach (found by fuzz_wire_request: its JSON
     * answer held an integer past int64). */
    b[31] = 0xf9;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "is more than 2^53");
    b[31] = 0;
    b[24] = 9;
    /* A NaN score. */
    uint64_t nan_bits = UINT64_C(0x7ff8000000000000);
    for (int i = 0; i < 8; i++)
        b[40 + i] = (uint8_t)(nan_bits >> (8 * i));
    expect_resp_error(b, buf.len, SGS_EBADREQ, "offset 40: hit 0 score not finite");
    memcpy(b + 40, buf.data + 40, 8);
    /* An id running past the body. */
    b[48] = 0xff, b[49] = 0xff;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "offset 56: hit 0 id of 65535 bytes runs past");
    b[48] = 5, b[49] = 0;
    b[56] = 0xff;
    expect_resp_error(b, buf.len, SGS_EBADREQ, "offset 56: hit 0 id not UTF-8");
    free(b);
}

Test(wire, response_truncations_and_bit_flips_fail_cleanly)
{
    sgs_wire_hit hits[2];
    sgs_shard_response r = sample_response(hits);
    sgs_wire_encode_response_bin(&r, &buf);
    uint8_t *copy = malloc(buf.len);
    for (size_t cut = 0; cut < buf.len; cut++) {
        memcpy(copy, buf.data, cut);
        sgs_err err = {0};
        sgs_shard_response d;
        int rc = sgs_wire_decode_response_bin(copy, cut, &arena, &d, &err);
        cr_assert_eq(rc, SGS_EBADREQ, "cut at %zu: rc %d %s", cut, rc, err.msg);
    }
    for (size_t i = 0; i < buf.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, buf.data, buf.len);
            copy[i] ^= (uint8_t)(1u << bit);
            sgs_err err = {0};
            sgs_shard_response d;
            int rc = sgs_wire_decode_response_bin(copy, buf.len, &arena, &d, &err);
            if (rc == 0) {
                cr_assert_eq(d.n_hits, 2);
                for (uint32_t h = 0; h < d.n_hits; h++)
                    cr_assert(isfinite(d.hits[h].score));
            } else {
                cr_assert(rc == SGS_EBADREQ || rc == SGS_EPROTOCOL, "flip %zu.%d: rc %d %s", i,
                          bit, rc, err.msg);
            }
        }
    }
    free(copy);
}

/* ---- JSON answers ------------------------------------------------------------------ */

Test(wire, json_response)
{
    sgs_wire_hit hits[2];
    sgs_shard_response r = sample_response(hits);
    hits[1].fields_len = 0;
    sgs_wire_encode_response_json(&r, &buf);
    json_error_t je;
    json_t *j = json_loadb((const char *)buf.data, buf.len, 0, &je);
    cr_assert_not_null(j, "%.*s: %s", (int)buf.len, buf.data, je.text);
    cr_assert_eq(json_integer_value(json_object_get(j, "shard")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(j, "generation")), "fedcba9876543210");
    cr_assert_eq(json_integer_value(json_object_get(j, "total")), 1234567890123);
    cr_assert_eq(json_integer_value(json_object_get(j, "took_us")), 77);
    json_t *hs = json_object_get(j, "hits");
    cr_assert_eq(json_array_size(hs), 2);
    json_t *h0 = json_array_get(hs, 0), *h1 = json_array_get(hs, 1);
    cr_assert_str_eq(json_string_value(json_object_get(h0, "id")), "doc-1");
    cr_assert_eq(json_real_value(json_object_get(h0, "score")), 12.5);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(h0, "fields"), "title")),
                     "One");
    cr_assert_str_eq(json_string_value(json_object_get(h1, "id")), "é");
    /* The score survives printing bit for bit. */
    double want = 0.1 + 0.2;
    cr_assert_eq(json_real_value(json_object_get(h1, "score")), want);
    cr_assert(json_is_object(json_object_get(h1, "fields")));
    cr_assert_eq(json_object_size(json_object_get(h1, "fields")), 0);
    json_decref(j);
    cr_assert(strstr((const char *)buf.data, "{\"shard\":3,\"generation\":\"") ==
              (const char *)buf.data);
}

Test(wire, json_response_ids_are_escaped)
{
    sgs_wire_hit hit = {.score = 1, .id = "a\"b\\c\n\xff", .id_len = 7, .fields = "{}",
                        .fields_len = 2};
    sgs_shard_response r = {.total = 1, .n_hits = 1, .hits = &hit};
    sgs_wire_encode_response_json(&r, &buf);
    json_error_t je;
    json_t *j = json_loadb((const char *)buf.data, buf.len, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "hits"), 0), "id")),
        "a\"b\\c\n\xef\xbf\xbd");
    json_decref(j);
    /* A NUL byte becomes \u0000 (found by fuzz_wire_request). */
    hit.id = "do\0x1";
    hit.id_len = 5;
    sgs_buf_reset(&buf);
    sgs_wire_encode_response_json(&r, &buf);
    j = json_loadb((const char *)buf.data, buf.len, JSON_ALLOW_NUL, &je);
    cr_assert_not_null(j, "%s", je.text);
    json_t *id = json_object_get(json_array_get(json_object_get(j, "hits"), 0), "id");
    cr_assert_eq(json_string_length(id), 5);
    cr_assert_arr_eq(json_string_value(id), "do\0x1", 5);
    json_decref(j);
}

Test(wire, error_json)
{
    sgs_wire_encode_error_json(SGS_EQUERY, "OR at byte 2 has \"no\" word\xc3", &buf);
    json_error_t je;
    json_t *j = json_loadb((const char *)buf.data, buf.len, 0, &je);
    cr_assert_not_null(j, "%.*s: %s", (int)buf.len, buf.data, je.text);
    json_t *e = json_object_get(j, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "invalid_query");
    cr_assert_str_eq(json_string_value(json_object_get(e, "reason")),
                     "OR at byte 2 has \"no\" word\xef\xbf\xbd");
    cr_assert_eq(json_object_size(j), 1);
    cr_assert_eq(json_object_size(e), 2);
    json_decref(j);
    sgs_buf_reset(&buf);
    sgs_wire_encode_error_json(SGS_EK_LARGE, NULL, &buf);
    cr_assert_eq(buf.len, strlen("{\"error\":{\"type\":\"k_too_large\",\"reason\":\"\"}}"));
    cr_assert_arr_eq(buf.data, "{\"error\":{\"type\":\"k_too_large\",\"reason\":\"\"}}", buf.len);
}
