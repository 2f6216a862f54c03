/* sgs-leaf: serves one shard of an index over HTTP.
 *
 * Start-up: flags, load and verify the shard (exit 1 when it is missing or
 * corrupt, so a bad shard never turns ready), listen, write the port file.
 * Then the main thread is the signal thread: SIGHUP asks the reloader thread
 * for a reload (never waiting for it), SIGTERM and SIGINT drain (readyz 503
 * at once, in-flight queries finish, exit 0 within the drain timeout plus
 * about a second, even with a reload stuck). Every other thread starts with
 * those signals blocked. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/wire.h"
#include "leaf/leaf.h"

static const char synopsis[] =
    "usage: sgs-leaf --index DIR (--shard I | --shard-from-hostname | --ordinal N) [flags]\n"
    "Serves one shard of the index in DIR over HTTP: POST /v1/shard/search, GET /healthz,\n"
    "/readyz, /metrics, /v1/shard/info, POST /v1/admin/reload. SIGHUP reloads; SIGTERM drains.";

/* Writes the port to path atomically (temporary file, then rename). */
static int write_port_file(const char *path, unsigned port, sgs_err *err)
{
    size_t n = strlen(path) + 32;
    char *tmp = sgs_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (f == NULL) {
        rc = sgs_err_set(err, SGS_EIO, "fopen %s: %s", tmp, strerror(errno));
        goto out;
    }
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0) {
        rc = sgs_err_set(err, SGS_EIO, "write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = sgs_err_set(err, SGS_EIO, "rename %s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}

/* Waits for SIGHUP (reload) until SIGTERM or SIGINT; returns the latter. */
static int signal_loop(leaf *l, const sigset_t *set)
{
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            leaf_reload_ask(l, NULL);
            continue;
        }
        return sig;
    }
}

/* Quiet time a drain waits for with no request active before it stops
 * listening: requests already on their way (sent on kept-alive
 * connections, queued behind a busy worker) are answered, not cut off. */
#define DRAIN_QUIET_MS 100u

/* Marks the leaf not ready at once, keeps answering until no request has
 * begun or ended for DRAIN_QUIET_MS (or the drain timeout passes), stops the
 * reloader (waiting for a reload in progress until the drain timeout at
 * most), then stops the server. False when a reload is stuck: the reloader
 * thread still runs and may touch l. */
static bool drain(leaf *l, int sig)
{
    atomic_store(&l->draining, true);
    unsigned drain_ms = (unsigned)l->cfg->drain_timeout_ms;
    sgs_log(SGS_LOG_INFO, "drain", "signal %d: not ready; draining up to %u ms", sig, drain_ms);
    uint64_t start = sgs_now_ns();
    uint64_t until = start + (uint64_t)drain_ms * 1000000u;
    for (;;) {
        uint64_t now = sgs_now_ns();
        uint64_t last = sgs_http_server_last_activity_ns(l->http);
        if (sgs_http_server_active(l->http) != 0 || last > now)
            last = now;
        if (last < start)
            last = start;
        if (now >= until || now - last >= (uint64_t)DRAIN_QUIET_MS * 1000000u)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    bool reloader_gone = leaf_reloader_stop(l, until);
    uint64_t spent_ms = (sgs_now_ns() - start) / 1000000u;
    unsigned left =
        sgs_http_server_stop(l->http, drain_ms > spent_ms ? (unsigned)(drain_ms - spent_ms) : 0);
    l->http = NULL;
    sgs_log(SGS_LOG_INFO, "stopped", "drained in %llu ms; %u requests cut off",
            (unsigned long long)((sgs_now_ns() - start) / 1000000u), left);
    return reloader_gone;
}

int main(int argc, char **argv)
{
    leaf_config cfg = {.shard = -1, .ordinal = -1};
    const sgs_flag flags[] = {
        {"index", "SGS_LEAF_INDEX", SGS_FLAG_STR, NULL,
         "index directory (manifest.json and the shard files)", &cfg.index_dir, 0, 0},
        {"shard", "SGS_LEAF_SHARD", SGS_FLAG_INT, NULL, "shard to serve", &cfg.shard, 0,
         1000000},
        {"shard-from-hostname", "SGS_LEAF_SHARD_FROM_HOSTNAME", SGS_FLAG_BOOL, "false",
         "serve shard <ordinal> mod <shards>, the ordinal ending the hostname (sgs-leaf-7 is 7)",
         &cfg.shard_from_hostname, 0, 0},
        {"hostname", "SGS_LEAF_HOSTNAME", SGS_FLAG_STR, NULL,
         "hostname for --shard-from-hostname (default: gethostname())", &cfg.hostname, 0, 0},
        {"ordinal", "SGS_LEAF_ORDINAL", SGS_FLAG_INT, NULL,
         "ordinal to serve (shard = ordinal mod shards); overrides the hostname", &cfg.ordinal,
         0, 1000000000},
        {"listen", "SGS_LEAF_LISTEN", SGS_FLAG_STR, "127.0.0.1:7001",
         "HOST:PORT to listen on; port 0 lets the OS choose", &cfg.listen, 0, 0},
        {"port-file", "SGS_LEAF_PORT_FILE", SGS_FLAG_STR, NULL,
         "once listening, write the bound port here (atomically)", &cfg.port_file, 0, 0},
        {"threads", "SGS_LEAF_THREADS", SGS_FLAG_INT, "0",
         "worker threads (0: one per core)", &cfg.threads, 0, 1024},
        {"max-inflight", "SGS_LEAF_MAX_INFLIGHT", SGS_FLAG_INT, "1024",
         "requests handled at once; beyond it the answer is 429", &cfg.max_inflight, 1,
         1000000},
        {"conn-timeout-s", "SGS_LEAF_CONN_TIMEOUT_S", SGS_FLAG_INT, "15",
         "close a connection when no byte has moved on it this long (idle, or a request "
         "sent too slowly)", &cfg.conn_timeout_s, 1, 86400},
        {"max-connections", "SGS_LEAF_MAX_CONNECTIONS", SGS_FLAG_INT, "4096",
         "open client connections at most; more are closed at once (lowered to fit the "
         "open-file limit)", &cfg.max_connections, 1, 1000000},
        {"max-connections-per-ip", "SGS_LEAF_MAX_CONNECTIONS_PER_IP", SGS_FLAG_INT, "0",
         "open connections per client address at most (0: no limit; a root holds many)",
         &cfg.max_per_ip, 0, 1000000},
        {"max-body", "SGS_LEAF_MAX_BODY", SGS_FLAG_SIZE, "64K",
         "largest request body accepted", &cfg.max_body, 0, 0},
        {"drain-timeout-ms", "SGS_LEAF_DRAIN_TIMEOUT_MS", SGS_FLAG_INT, "5000",
         "on SIGTERM, wait this long for in-flight queries", &cfg.drain_timeout_ms, 0,
         3600000},
        {"log-level", "SGS_LEAF_LOG_LEVEL", SGS_FLAG_STR, "info", "debug|info|warn|error|off",
         &cfg.log_level, 0, 0},
        {"slow-query-ms", "SGS_LEAF_SLOW_QUERY_MS", SGS_FLAG_INT, "100",
         "log queries slower than this (0: never)", &cfg.slow_query_ms, 0, 3600000},
    };
    size_t n_pos;
    const char *pos[1];
    int rc = sgs_flags_cli(flags, sizeof flags / sizeof flags[0], argc, argv, "sgs-leaf",
                           synopsis, LEAF_VERSION, pos, 0, &n_pos);
    if (rc >= 0)
        return rc;
    int level = sgs_log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "sgs-leaf: --log-level wants debug|info|warn|error|off, got '%s'\n",
                cfg.log_level);
        return 2;
    }
    if (cfg.index_dir == NULL || !*cfg.index_dir) {
        fprintf(stderr, "sgs-leaf: --index DIR is required (see --help)\n");
        return 2;
    }
    if (cfg.shard < 0 && cfg.ordinal < 0 && !cfg.shard_from_hostname) {
        fprintf(stderr, "sgs-leaf: which shard? give --shard, --ordinal or "
                        "--shard-from-hostname (see --help)\n");
        return 2;
    }
    if (cfg.max_body == 0 || cfg.max_body > SGS_WIRE_MAX_BODY * 16u) {
        fprintf(stderr, "sgs-leaf: --max-body must be in [1, %u]\n", SGS_WIRE_MAX_BODY * 16u);
        return 2;
    }
    char host[256];
    uint16_t port;
    sgs_err err = {0};
    if (sgs_http_parse_listen(cfg.listen, host, sizeof host, &port, &err) != 0) {
        fprintf(stderr, "sgs-leaf: %s\n", err.msg);
        return 2;
    }
    if (cfg.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = n > 0 ? n : 1;
    }
    sgs_log_init("sgs-leaf", (sgs_log_level)level);

    /* Signals are taken by sigwait in this thread only. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sgs_log(SGS_LOG_INFO, "startup", "sgs-leaf %s: index %s, %lld threads", LEAF_VERSION,
            cfg.index_dir, (long long)cfg.threads);
    leaf_gen *first = leaf_gen_open(&cfg, &err);
    if (first == NULL) {
        sgs_log(SGS_LOG_ERROR, "startup_failed", "%s", err.msg);
        fprintf(stderr, "sgs-leaf: cannot serve the shard: %s\n", err.msg);
        return err.code == SGS_EUSAGE ? 2 : 1;
    }
    leaf l;
    memset(&l, 0, sizeof l);
    l.cfg = &cfg;
    atomic_init(&l.draining, false);
    atomic_init(&l.last_error_log_ns, 0);
    leaf_metrics_init(&l);
    leaf_generations_init(&l, first);
    leaf_reloader_start(&l);
    sgs_gauge_set(l.metrics.docs, (int64_t)first->n_docs);
    sgs_log(SGS_LOG_INFO, "loaded", "shard %u of %u, generation %s, %llu docs, %s",
            first->shard_id, first->shard_count, first->generation_hex,
            (unsigned long long)first->n_docs, sgs_shard_path(first->shard));

    const sgs_http_route routes[] = {
        {"POST", "/v1/shard/search", leaf_search_handler, &l},
        {"GET", "/healthz", leaf_healthz_handler, &l},
        {"GET", "/readyz", leaf_readyz_handler, &l},
        {"GET", "/metrics", leaf_metrics_handler, &l},
        {"GET", "/v1/shard/info", leaf_info_handler, &l},
        {"POST", "/v1/admin/reload", leaf_reload_handler, &l},
    };
    sgs_http_config http = {
        .listen = cfg.listen,
        .threads = (unsigned)cfg.threads,
        .conn_timeout_s = (unsigned)cfg.conn_timeout_s,
        .max_connections = (unsigned)cfg.max_connections,
        .max_per_ip = (unsigned)cfg.max_per_ip,
        .max_body = cfg.max_body,
        .max_inflight = (unsigned)cfg.max_inflight,
        .routes = routes,
        .n_routes = sizeof routes / sizeof routes[0],
        .thread_init = leaf_thread_new,
        .thread_fini = leaf_thread_free,
        .thread_ctx = &l,
    };
    int status = 0;
    l.http = sgs_http_server_start(&http, &err);
    if (l.http == NULL) {
        sgs_log(SGS_LOG_ERROR, "startup_failed", "%s", err.msg);
        fprintf(stderr, "sgs-leaf: %s\n", err.msg);
        status = 1;
        goto out;
    }
    unsigned bound = sgs_http_server_port(l.http);
    if (cfg.port_file && write_port_file(cfg.port_file, bound, &err) != 0) {
        sgs_log(SGS_LOG_ERROR, "startup_failed", "%s", err.msg);
        fprintf(stderr, "sgs-leaf: %s\n", err.msg);
        sgs_http_server_stop(l.http, 0);
        l.http = NULL;
        status = 1;
        goto out;
    }
    sgs_log(SGS_LOG_INFO, "listening", "listening on %s port %u", host, bound);
    if (!drain(&l, signal_loop(&l, &set))) {
        /* The reloader is blocked (say, reading a file that never ends) and
         * still owns generations: exit now rather than free them under it. */
        sgs_log(SGS_LOG_WARN, "exit", "exiting with a reload still blocked");
        fflush(stderr);
        _exit(0);
    }
out:
    leaf_reloader_stop(&l, sgs_now_ns());
    leaf_generations_fini(&l);
    leaf_metrics_fini(&l);
    return status;
}
