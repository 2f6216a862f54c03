/* sgs-bench internals shared by its files: the run configuration, the
 * prepared requests, and the per-worker results the report merges.
 *
 * Model. Each worker thread owns one epoll loop, its own connections and its
 * own histograms; nothing is shared while the run lasts, and main() merges
 * the workers' results once they have joined. In open-loop mode (rate > 0)
 * a worker computes every request's intended send time from the arrival
 * process alone (constant spacing or exponential gaps), never from when
 * earlier requests returned; a request that cannot leave on time (every
 * connection busy and the pool at its cap, or the loop running late) waits
 * on the clock, and its latency still counts from the intended time. In
 * closed-loop mode (connections > 0) each connection sends its next request
 * as soon as the previous answer arrives: the maximum-throughput probe,
 * which by construction hides server stalls (coordinated omission).
 *
 * Units: times are CLOCK_MONOTONIC nanoseconds; histograms record
 * microseconds. */
#ifndef SGS_BENCH_BENCH_H
#define SGS_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/hist.h"

#define BENCH_MAX_CLASSES 32
#define BENCH_MAX_STATUS 600

/* One prepared HTTP request: the complete bytes put on the wire. */
typedef struct bench_request {
    char *bytes;  /* owned */
    size_t len;
    uint32_t cls; /* index into bench_config.classes */
} bench_request;

typedef enum bench_arrival { BENCH_ARRIVAL_CONSTANT, BENCH_ARRIVAL_POISSON } bench_arrival;

/* The parsed, validated run configuration; read-only once workers start. */
typedef struct bench_config {
    struct sockaddr_storage addr; /* resolved --url host and port */
    socklen_t addr_len;
    double rate;         /* requests/s, open-loop; 0 in closed-loop mode */
    bench_arrival arrival;
    int64_t connections; /* closed-loop connection count; 0 in open-loop mode */
    int64_t max_connections; /* open-loop pool cap, total over workers */
    double duration_s;
    double warmup_s;
    int64_t timeout_ms;
    int64_t threads;
    int64_t late_ms;  /* a send later than this behind its intended time is late */
    uint64_t seed;
    bench_request *requests; /* owned */
    size_t n_requests;
    const char *classes[BENCH_MAX_CLASSES]; /* class names; "all" when the file has none */
    size_t n_classes;
    bool record_raw;  /* keep every sample for --raw */
} bench_config;

/* One raw sample, kept only with --raw. */
typedef struct bench_sample {
    uint64_t intended_ns; /* relative to the measured window's start */
    uint32_t latency_us;  /* from the intended send time */
    uint32_t service_us;  /* from the actual send */
    uint16_t status;      /* HTTP status, or 0 for a transport error */
    uint16_t cls;
} bench_sample;

/* Error classes counted apart from HTTP statuses. */
enum { BENCH_ERR_CONNECT, BENCH_ERR_TIMEOUT, BENCH_ERR_IO, BENCH_ERR_PROTOCOL, BENCH_ERR_N };

/* What one worker measured inside the measured window (warm-up excluded). */
typedef struct bench_result {
    sgs_hist *latency;  /* µs from the intended send time (open-loop) or the send */
    sgs_hist *service;  /* µs from the actual send */
    sgs_hist *send_lag; /* µs from intended to actual send, open-loop only */
    sgs_hist *loop_lag; /* µs the loop dispatched late, requests that found a connection */
    sgs_hist *class_latency[BENCH_MAX_CLASSES];
    uint64_t scheduled;  /* requests whose intended time fell in the window */
    uint64_t sent;
    uint64_t sent_total; /* every request sent, warm-up and drain included */
    uint64_t ok;         /* 2xx answers */
    uint64_t late_sends; /* send_lag above late_ms */
    uint64_t pool_waits; /* a due request found the pool at its cap */
    uint64_t conn_waits; /* a due request found no free connection (cap or handshakes) */
    uint64_t errors[BENCH_ERR_N];
    uint64_t status[BENCH_MAX_STATUS]; /* answers by HTTP status */
    uint64_t partial;    /* answers with "partial": true */
    uint64_t shard_details; /* "hedged" keys seen: one per shard detail */
    uint64_t hedged;     /* shard details with "hedged": true */
    uint64_t hedge_won;  /* shard details with "hedge_won": true */
    uint64_t retried;    /* shard details with "retried": true */
    uint64_t connects;   /* connections opened */
    uint64_t peak_connections;
    uint64_t unsent;     /* scheduled in the window but never sent before the end */
    double cpu_s;        /* thread CPU time over the whole run */
    double wall_s;
    bench_sample *samples; /* owned, with --raw */
    size_t n_samples, cap_samples;
} bench_result;

/* Runs worker `index` of cfg->threads from start_ns to the end of the run
 * and fills res (which the caller zeroed and gave histograms). Returns 0, or
 * -1 after printing why the loop could not run at all (epoll failure). */
int bench_worker_run(const bench_config *cfg, int index, uint64_t start_ns, bench_result *res);

#endif
