/* bench_wire: in-process CPU cost of the query parsers and the root-leaf
 * codecs (common/query.h, common/wire.h), per operation, without any server:
 * what the root pays per query and per leaf sub-request, and what a leaf pays
 * per request, before and after evaluation.
 *
 * Each operation runs N times (after a warm-up of N/10) on one thread with
 * the arena reset between runs, as the servers do; the report gives thread
 * CPU nanoseconds per operation.
 *
 * Usage: bench_wire [N] (default 200000) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/query.h"
#include "common/wire.h"

enum op {
    OP_PARSE_SHORT,
    OP_PARSE_LONG,
    OP_FROM_JSON,
    OP_REQ_ENCODE,
    OP_REQ_DECODE,
    OP_REQ_DECODE_JSON,
    OP_RESP_ENCODE,
    OP_RESP_DECODE,
    OP_RESP_JSON,
    OP_COUNT
};

static const char *op_names[OP_COUNT] = {
    "parse \"rust async\"",
    "parse 14-term query",
    "from_json 5-node tree",
    "encode binary request",
    "decode binary request",
    "decode JSON request (q)",
    "encode binary response, 10 hits",
    "decode binary response, 10 hits",
    "encode JSON response, 10 hits",
};

static const char *short_q = "rust async";
static const char *long_q = "distributed (search OR retrieval) engine -java \"sharded\" index "
                            "latency OR throughput top-k bm25 NOT (slow OR legacy)";
static const char *json_tree = "{\"and\":[{\"term\":\"rust\"},{\"or\":[{\"term\":\"async\"},"
                               "{\"term\":\"tokio\"}]},{\"not\":{\"term\":\"java\"}}]}";
static const char *json_req = "{\"q\":\"rust async OR tokio -java\",\"k\":10,\"deadline_ms\":250}";

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_wire [N]\n");
        return 2;
    }
    sgs_arena a;
    sgs_arena_init(&a, 1 << 16);
    sgs_buf b, req_bin, resp_bin;
    sgs_buf_init(&b);
    sgs_buf_init(&req_bin);
    sgs_buf_init(&resp_bin);
    sgs_err err = {0};

    json_error_t je;
    json_t *tree = json_loads(json_tree, 0, &je);
    sgs_query_node *q = sgs_query_parse(long_q, strlen(long_q), &a, &err);
    if (tree == NULL || q == NULL) {
        fprintf(stderr, "bench_wire: setup failed: %s\n", err.msg);
        return 1;
    }
    /* The query and the answer stay outside the arena that is reset below. */
    sgs_arena keep;
    sgs_arena_init(&keep, 1 << 16);
    q = sgs_query_parse(long_q, strlen(long_q), &keep, &err);
    sgs_wire_encode_request_bin(q, 10, 250, &req_bin);
    sgs_wire_hit hits[10];
    char ids[10][16];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "doc-%07d", i * 7919);
        hits[i] = (sgs_wire_hit){.score = 12.5 - i * 0.37,
                                 .id = ids[i],
                                 .id_len = (uint32_t)strlen(ids[i]),
                                 .fields = "{\"title\":\"An example document title\"}",
                                 .fields_len = 37};
    }
    sgs_shard_response resp = {.shard = 3, .generation = 0x0123456789abcdefULL, .total = 48213,
                               .took_us = 420, .n_hits = 10, .hits = hits};
    sgs_wire_encode_response_bin(&resp, &resp_bin);

    printf("bench_wire: %ld runs per operation, thread CPU ns per operation\n", n);
    for (int op = 0; op < OP_COUNT; op++) {
        uint64_t start = 0;
        long fails = 0;
        for (long i = -(n / 10); i < n; i++) {
            if (i == 0)
                start = sgs_thread_cpu_ns();
            sgs_arena_reset(&a);
            sgs_buf_reset(&b);
            sgs_err_clear(&err);
            sgs_shard_request sr;
            sgs_shard_response dr;
            int rc = 0;
            switch (op) {
            case OP_PARSE_SHORT:
                fails += sgs_query_parse(short_q, strlen(short_q), &a, &err) == NULL;
                break;
            case OP_PARSE_LONG:
                fails += sgs_query_parse(long_q, strlen(long_q), &a, &err) == NULL;
                break;
            case OP_FROM_JSON:
                fails += sgs_query_from_json(tree, &a, &err) == NULL;
                break;
            case OP_REQ_ENCODE:
                sgs_wire_encode_request_bin(q, 10, 250, &b);
                break;
            case OP_REQ_DECODE:
                rc = sgs_wire_decode_request_bin(req_bin.data, req_bin.len, &a, &sr, &err);
                fails += rc != 0;
                break;
            case OP_REQ_DECODE_JSON:
                rc = sgs_wire_decode_request_json(json_req, strlen(json_req), &a, &sr, &err);
                fails += rc != 0;
                break;
            case OP_RESP_ENCODE:
                sgs_wire_encode_response_bin(&resp, &b);
                break;
            case OP_RESP_DECODE:
                rc = sgs_wire_decode_response_bin(resp_bin.data, resp_bin.len, &a, &dr, &err);
                fails += rc != 0;
                break;
            case OP_RESP_JSON:
                sgs_wire_encode_response_json(&resp, &b);
                break;
            }
        }
        uint64_t ns = sgs_thread_cpu_ns() - start;
        if (fails) {
            fprintf(stderr, "bench_wire: %s failed %ld times: %s\n", op_names[op], fails, err.msg);
            return 1;
        }
        printf("  %-34s %8.1f ns\n", op_names[op], (double)ns / (double)n);
    }
    printf("  (request %zu bytes, response %zu bytes)\n", req_bin.len, resp_bin.len);
    json_decref(tree);
    sgs_buf_fini(&b);
    sgs_buf_fini(&req_bin);
    sgs_buf_fini(&resp_bin);
    sgs_arena_fini(&keep);
    sgs_arena_fini(&a);
    return 0;
}
