/* sgs-root: the public search API over sharded, replicated leaves.
 *
 * Start-up: flags, topology, metrics, the scatter loop, the HTTP server in
 * that loop, the loop's thread, then the port file. The main thread then
 * waits for SIGTERM or SIGINT: the server stops accepting and drains its
 * requests while the loop runs on (every pending one completes within its
 * deadline), leaves the loop, and the loop stops. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/mem.h"
#include "root/root.h"

static const char synopsis[] =
    "usage: sgs-root (--shard I=URL[,URL...]... | --topology FILE | --leaf-pattern P --shards N\n"
    "                --replicas R) [flags]\n"
    "Scatters each query to one replica of every shard, hedges stragglers, gathers and merges.\n"
    "Serves GET/POST /search, GET /healthz, /readyz, /metrics, /v1/info.";

static int write_port_file(const char *path, unsigned port, sgs_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return sgs_err_set(err, SGS_EIO, "fopen %s: %s", tmp, strerror(errno));
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0) {
        unlink(tmp);
        return sgs_err_set(err, SGS_EIO, "write %s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return sgs_err_set(err, SGS_EIO, "rename %s: %s", path, strerror(errno));
    }
    return 0;
}

static void metrics_init(root_metrics *m)
{
    m->registry = sgs_metrics_new();
    const char *rq = "sgs_root_requests_total";
    const char *rqh = "Search requests answered, by outcome.";
    m->requests_ok = sgs_metrics_counter(m->registry, rq, rqh, "outcome=\"ok\"");
    m->requests_partial = sgs_metrics_counter(m->registry, rq, rqh, "outcome=\"partial\"");
    m->requests_bad = sgs_metrics_counter(m->registry, rq, rqh, "outcome=\"bad_request\"");
    m->requests_unavailable = sgs_metrics_counter(m->registry, rq, rqh, "outcome=\"unavailable\"");
    m->leaf_requests = sgs_metrics_counter(m->registry, "sgs_root_leaf_requests_total",
                                           "Sub-requests sent to leaves (hedges included).", NULL);
    m->leaf_failures = sgs_metrics_counter(m->registry, "sgs_root_leaf_failures_total",
                                           "Sub-requests that failed or were refused.", NULL);
    m->hedges_sent = sgs_metrics_counter(m->registry, "sgs_root_hedges_sent_total",
                                         "Hedged sub-requests sent to a second replica.", NULL);
    m->hedges_won = sgs_metrics_counter(m->registry, "sgs_root_hedges_won_total",
                                        "Hedged sub-requests that answered first.", NULL);
    m->retries = sgs_metrics_counter(m->registry, "sgs_root_retries_total",
                                     "Sub-requests retried on another replica.", NULL);
    m->ejections = sgs_metrics_counter(m->registry, "sgs_root_ejections_total",
                                       "Replicas ejected by the circuit breaker.", NULL);
    m->partial = sgs_metrics_counter(m->registry, "sgs_root_partial_answers_total",
                                     "Answers missing at least one shard.", NULL);
    m->timeouts = sgs_metrics_counter(m->registry, "sgs_root_timed_out_answers_total",
                                      "Answers with a shard past the deadline.", NULL);
    m->client_gone = sgs_metrics_counter(m->registry, "sgs_root_client_disconnects_total",
                                         "Queries whose client left before the answer; their "
                                         "sub-requests were cancelled.", NULL);
    size_t nb;
    const uint64_t *bounds = sgs_metrics_latency_bounds_us(&nb);
    m->request_latency = sgs_metrics_histogram(m->registry, "sgs_root_request_duration_seconds",
                                               "Search request latency in the root.", NULL,
                                               bounds, nb, 1e-6);
    m->leaf_latency = sgs_metrics_histogram(m->registry, "sgs_root_leaf_duration_seconds",
                                            "Leaf sub-request latency seen by the root.", NULL,
                                            bounds, nb, 1e-6);
}

int main(int argc, char **argv)
{
    root_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const sgs_flag flags[] = {
        {"listen", "SGS_ROOT_LISTEN", SGS_FLAG_STR, "127.0.0.1:7100",
         "HOST:PORT to listen on; port 0 lets the OS choose", &cfg.listen, 0, 0},
        {"port-file", "SGS_ROOT_PORT_FILE", SGS_FLAG_STR, NULL,
         "once listening, write the bound port here (atomically)", &cfg.port_file, 0, 0},
        {"shard", "SGS_ROOT_SHARD", SGS_FLAG_STR_LIST, NULL,
         "I=URL[,URL...]: the replicas of shard I (repeatable)", &cfg.shard_specs, 0, 0},
        {"topology", "SGS_ROOT_TOPOLOGY", SGS_FLAG_STR, NULL,
         "JSON file {\"shards\": [[URL, ...], ...]}", &cfg.topology_file, 0, 0},
        {"leaf-pattern", "SGS_ROOT_LEAF_PATTERN", SGS_FLAG_STR, NULL,
         "replica URL with {ordinal} (= replica * shards + shard), e.g. "
         "http://sgs-leaf-{ordinal}.sgs-leaf:7001", &cfg.leaf_pattern, 0, 0},
        {"shards", "SGS_ROOT_SHARDS", SGS_FLAG_INT, "0", "shard count for --leaf-pattern",
         &cfg.shards, 0, ROOT_MAX_SHARDS},
        {"replicas", "SGS_ROOT_REPLICAS", SGS_FLAG_INT, "0", "replicas per shard for --leaf-pattern",
         &cfg.replicas, 0, ROOT_MAX_REPLICAS},
        {"resolve", "SGS_ROOT_RESOLVE", SGS_FLAG_STR_LIST, NULL,
         "NAME=IP:PORT: address of a replica host (NAME or NAME:PORT), before DNS (repeatable)",
         &cfg.resolve, 0, 0},
        {"resolve-file", "SGS_ROOT_RESOLVE_FILE", SGS_FLAG_STR, NULL,
         "file of NAME=IP:PORT lines, reread whenever a replica is looked up again",
         &cfg.resolve_file, 0, 0},
        {"resolve-interval-ms", "SGS_ROOT_RESOLVE_INTERVAL_MS", SGS_FLAG_INT, "5000",
         "how often every replica's name is looked up again (off the event loop)",
         &cfg.resolve_interval_ms, 10, 3600000},
        {"threads", "SGS_ROOT_THREADS", SGS_FLAG_INT, "1",
         "serving loops: one thread runs HTTP and the scatter (more are accepted and run as 1, "
         "with a warning)", &cfg.threads, 1, 256},
        {"max-inflight", "SGS_ROOT_MAX_INFLIGHT", SGS_FLAG_INT, "4096",
         "requests in flight at once; beyond it the answer is 429 with Retry-After",
         &cfg.max_inflight, 1, 1000000},
        {"conn-timeout-s", "SGS_ROOT_CONN_TIMEOUT_S", SGS_FLAG_INT, "30",
         "close client connections idle (or sending a request) this long", &cfg.conn_timeout_s,
         1, 86400},
        {"max-connections", "SGS_ROOT_MAX_CONNECTIONS", SGS_FLAG_INT, "1020",
         "open client connections at most; more are closed at once (lowered to fit the "
         "open-file limit)", &cfg.max_connections, 1, 1000000},
        {"default-timeout-ms", "SGS_ROOT_DEFAULT_TIMEOUT_MS", SGS_FLAG_INT, "1000",
         "deadline of a query that gives no timeout_ms", &cfg.default_timeout_ms, 1, 3600000},
        {"max-timeout-ms", "SGS_ROOT_MAX_TIMEOUT_MS", SGS_FLAG_INT, "30000",
         "cap on a query's timeout_ms", &cfg.max_timeout_ms, 1, 3600000},
        {"max-k", "SGS_ROOT_MAX_K", SGS_FLAG_INT, "1000", "largest k accepted", &cfg.max_k, 1,
         SGS_EVAL_MAX_K},
        {"hedge-quantile", "SGS_ROOT_HEDGE_QUANTILE", SGS_FLAG_DOUBLE, "0.95",
         "hedge a sub-request outstanding past this quantile of the shard's recent latency",
         &cfg.hedge_quantile, 0, 0},
        {"hedge-min-ms", "SGS_ROOT_HEDGE_MIN_MS", SGS_FLAG_DOUBLE, "1",
         "floor of the hedge delay (fractions allowed, e.g. 0.5)", &cfg.hedge_min_ms, 0, 0},
        {"hedge-max-ms", "SGS_ROOT_HEDGE_MAX_MS", SGS_FLAG_INT, "100",
         "ceiling of the hedge delay (also used until enough latencies are seen)",
         &cfg.hedge_max_ms, 0, 3600000},
        {"hedge-budget", "SGS_ROOT_HEDGE_BUDGET", SGS_FLAG_DOUBLE, "0.05",
         "hedges allowed per leaf request (token bucket); 0 turns hedging off",
         &cfg.hedge_budget, 0, 0},
        {"probe-interval-ms", "SGS_ROOT_PROBE_INTERVAL_MS", SGS_FLAG_INT, "500",
         "how often every replica's /v1/shard/info is probed", &cfg.probe_interval_ms, 10,
         600000},
        {"probe-timeout-ms", "SGS_ROOT_PROBE_TIMEOUT_MS", SGS_FLAG_INT, "1000",
         "a probe slower than this marks the replica not ready", &cfg.probe_timeout_ms, 10,
         600000},
        {"eject-failures", "SGS_ROOT_EJECT_FAILURES", SGS_FLAG_INT, "3",
         "consecutive failures that eject a replica", &cfg.eject_failures, 1, 1000},
        {"eject-base-ms", "SGS_ROOT_EJECT_BASE_MS", SGS_FLAG_INT, "500",
         "first ejection length; doubles with each ejection in a row", &cfg.eject_base_ms, 1,
         3600000},
        {"eject-max-ms", "SGS_ROOT_EJECT_MAX_MS", SGS_FLAG_INT, "30000",
         "longest ejection", &cfg.eject_max_ms, 1, 3600000},
        {"slow-start-ms", "SGS_ROOT_SLOW_START_MS", SGS_FLAG_INT, "3000",
         "a replica that just became ready takes a growing share over this long",
         &cfg.slow_start_ms, 0, 3600000},
        {"max-leaf-body", "SGS_ROOT_MAX_LEAF_BODY", SGS_FLAG_SIZE, "16M",
         "largest leaf answer accepted", &cfg.max_leaf_body, 0, 0},
        {"slow-query-ms", "SGS_ROOT_SLOW_QUERY_MS", SGS_FLAG_INT, "500",
         "log queries slower than this (0: never)", &cfg.slow_query_ms, 0, 3600000},
        {"log-level", "SGS_ROOT_LOG_LEVEL", SGS_FLAG_STR, "info", "debug|info|warn|error|off",
         &cfg.log_level, 0, 0},
    };
    size_t n_pos;
    const char *pos[1];
    int rc = sgs_flags_cli(flags, sizeof flags / sizeof flags[0], argc, argv, "sgs-root", synopsis,
                           ROOT_VERSION, pos, 0, &n_pos);
    if (rc >= 0)
        return rc;
    int level = sgs_log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "sgs-root: --log-level wants debug|info|warn|error|off\n");
        goto usage;
    }
    if (!(cfg.hedge_quantile > 0 && cfg.hedge_quantile < 1) || cfg.hedge_budget < 0 ||
        cfg.hedge_budget > 1 || !(cfg.hedge_min_ms >= 0) ||
        cfg.hedge_min_ms > (double)cfg.hedge_max_ms) {
        fprintf(stderr, "sgs-root: --hedge-quantile must be in (0, 1), --hedge-budget in [0, 1], "
                        "0 <= --hedge-min-ms <= --hedge-max-ms\n");
        goto usage;
    }
    if (cfg.max_leaf_body < 1024)
        cfg.max_leaf_body = 1024;
    sgs_log_init("sgs-root", (sgs_log_level)level);
    if (cfg.threads > 1)
        sgs_log(SGS_LOG_WARN, "threads",
                "--threads %lld: one loop thread serves HTTP and the scatter; running 1",
                (long long)cfg.threads);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    root r;
    memset(&r, 0, sizeof r);
    r.cfg = &cfg;
    sgs_err err = {0};
    if (root_topology_load(&r, &err) != 0) {
        fprintf(stderr, "sgs-root: %s\n", err.msg);
        root_topology_free(&r);
        return 2;
    }
    metrics_init(&r.m);
    if (root_scatter_start(&r, &err) != 0) {
        fprintf(stderr, "sgs-root: %s\n", err.msg);
        return 1;
    }
    sgs_http_route routes[8];
    size_t n_routes;
    root_api_routes(&r, routes, &n_routes);
    sgs_http_config http = {
        .listen = cfg.listen,
        .threads = 1,
        .loop = r.loop,
        .conn_timeout_s = (unsigned)cfg.conn_timeout_s,
        .max_connections = (unsigned)cfg.max_connections,
        .max_body = SGS_WIRE_MAX_BODY,
        .max_inflight = (unsigned)cfg.max_inflight,
        .routes = routes,
        .n_routes = n_routes,
    };
    r.http = sgs_http_server_start(&http, &err);
    if (r.http == NULL) {
        fprintf(stderr, "sgs-root: %s\n", err.msg);
        return err.code == SGS_EUSAGE ? 2 : 1;
    }
    if (root_scatter_run(&r, &err) != 0) {
        fprintf(stderr, "sgs-root: %s\n", err.msg);
        return 1;
    }
    unsigned port = sgs_http_server_port(r.http);
    if (cfg.port_file && write_port_file(cfg.port_file, port, &err) != 0) {
        fprintf(stderr, "sgs-root: %s\n", err.msg);
        return 1;
    }
    sgs_log(SGS_LOG_INFO, "listening", "sgs-root %s on port %u: %u shards", ROOT_VERSION, port,
            r.n_shards);
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    sgs_log(SGS_LOG_INFO, "stopping", "signal %d", sig);
    /* Pending queries finish by their deadlines; the loop must run meanwhile. */
    sgs_http_server_stop(r.http, (unsigned)cfg.max_timeout_ms + 1000u);
    if (root_scatter_stop(&r))
        root_topology_free(&r);
    sgs_metrics_free(r.m.registry);
    sgs_strlist_fini(&cfg.shard_specs);
    sgs_strlist_fini(&cfg.resolve);
    sgs_log(SGS_LOG_INFO, "stopped", "bye");
    return 0;
usage:
    sgs_strlist_fini(&cfg.shard_specs);
    sgs_strlist_fini(&cfg.resolve);
    return 2;
}
