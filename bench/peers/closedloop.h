/* A closed-loop (or fixed-rate open-loop) load driver shared by the
 * end-to-end peer clients (sphinx_e2e.c, xapian_e2e.cc): C threads, each
 * with its own connection, issue the queries of a benchmark query file
 * (bench/leaf/make_queries.py, `class<TAB>query` lines) back to back, each
 * thread starting at its own offset, and record every answer's latency
 * (ns, from send to last byte) into per-thread common/hist.h histograms,
 * merged at the end.
 *
 * Only requests that start after the warm-up and finish before the end of
 * the measured window are counted. The JSON report has the shape of
 * sgs-bench's closed-loop report where they overlap: latency_ms {p50, p90,
 * p99, p999, max, mean}, achieved_rate, requests, errors, connections,
 * duration_s, spectrum [{q, ms}], plus client_cpu_s (getrusage of the
 * driver), hits (sum of the hits returned, a checksum) and sent_total
 * (every answer, warm-up included).
 *
 * With --rate R the loop is open instead: request i is intended at
 * start + i / R and sent by the first of the C threads free then, its
 * latency counted from the intended time (so queueing behind a slow answer
 * counts, as in sgs-bench's open loop); every request intended inside the
 * window is waited for and counted. The report then has mode "open",
 * target_rate and latency_from "intended_send".
 *
 * With --counts the driver instead prints one JSON line per query with the
 * engine's exact match count, on one connection, for checking agreement.
 *
 *   DRIVER --target SPEC --queries FILE [--connections C] [--duration S]
 *          [--warmup S] [--rate R] [--json OUT] [--label L] [--counts]
 *
 * SPEC is the peer's own address syntax (see each driver). */
#ifndef SGS_BENCH_PEERS_CLOSEDLOOP_H
#define SGS_BENCH_PEERS_CLOSEDLOOP_H

#ifdef __cplusplus
extern "C" {
#endif

/* What a peer client supplies. Every callback runs on one driver thread;
 * a connection is used by the thread that opened it only. */
typedef struct cl_peer {
    const char *name; /* engine name in the report */
    /* Opens connection number idx to SPEC; NULL (message on stderr) on failure. */
    void *(*open)(const char *spec, int idx);
    /* Runs one TOP-10 query (sgsearch syntax: words ANDed, "OR" between
     * words, "-w" excludes); returns the hits returned, or -1 on error. */
    long (*top10)(void *conn, const char *query);
    /* The exact number of matches of a query, or -1 on error. */
    long (*count)(void *conn, const char *query);
    /* Closes a connection. */
    void (*close)(void *conn);
} cl_peer;

/* Parses the driver's arguments and runs it; returns the exit status
 * (0 done, 1 a run failed, 2 usage). */
int cl_main(int argc, char **argv, const cl_peer *peer);

#ifdef __cplusplus
}
#endif

#endif
