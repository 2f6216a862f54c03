/* sgs-leaf internals shared by its files: the parsed configuration, the
 * serving generation, and the leaf object every handler gets.
 *
 * Generations: `current` points at the serving leaf_gen. Queries read it
 * inside a ck_epoch section on their thread's own record and use the shard
 * only inside that section; a reload publishes a new generation with one
 * atomic store, waits for every section that may still see the old one
 * (ck_epoch_synchronize) and only then closes it. So no query ever sees a
 * closed shard and none fails because of a reload. Reloads are serialized by
 * reload_lock and run on the reloader thread alone (leaf_reloader), so
 * neither the signal thread nor an HTTP worker ever waits for one; the last
 * reload error has its own short-held error_lock, so /v1/shard/info never
 * waits for a reload that is slow or stuck opening the index, and a drain
 * gives up on a stuck reload at its timeout. */
#ifndef SGS_LEAF_LEAF_H
#define SGS_LEAF_LEAF_H

#include <ck_epoch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shard_reader.h"

#define LEAF_VERSION "0.1.0"
#define LEAF_PROTOCOL 1

typedef struct leaf_config {
    const char *index_dir;
    int64_t shard;   /* -1: derive from the ordinal */
    bool shard_from_hostname;
    const char *hostname; /* NULL: gethostname() */
    int64_t ordinal; /* -1: from the hostname */
    const char *listen;
    const char *port_file;
    int64_t threads; /* 0: one per core */
    int64_t max_inflight;
    int64_t conn_timeout_s;
    int64_t max_connections;
    int64_t max_per_ip; /* 0: no limit */
    uint64_t max_body;
    int64_t drain_timeout_ms;
    const char *log_level;
    int64_t slow_query_ms;
} leaf_config;

/* One loaded, verified shard file and the manifest facts about it. */
typedef struct leaf_gen {
    sgs_shard *shard;
    uint64_t generation;
    char generation_hex[17];
    uint32_t shard_id;
    uint32_t shard_count;
    uint64_t n_docs;
    uint64_t corpus_n_docs;
    char *stored_fields_json; /* the manifest's stored field names, a JSON array */
} leaf_gen;

/* What the metrics of a leaf are; registered once in leaf_metrics_init. */
typedef struct leaf_metrics {
    sgs_metrics *registry;
    sgs_counter *queries_ok;
    sgs_counter *queries_bad_request;
    sgs_counter *queries_timeout;
    sgs_counter *queries_error;
    sgs_histogram *query_seconds;
    sgs_gauge *inflight;
    sgs_counter *reloads;
    sgs_counter *reload_failures;
    sgs_gauge *docs;
} leaf_metrics;

/* A POST /v1/admin/reload waiting for the reloader thread to answer it. */
typedef struct leaf_reload_waiter {
    sgs_http_request *req;
    struct leaf_reload_waiter *next;
} leaf_reload_waiter;

/* The reloader thread and its queue: SIGHUP and POST /v1/admin/reload only
 * ask for a reload, so neither the signal thread nor a worker ever waits for
 * one (a reload may block reading a slow or stuck file). A waiter is answered
 * exactly once, by whoever takes it off a list under lock: the reloader after
 * the reload it joined, or leaf_reloader_stop(). */
typedef struct leaf_reloader {
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards every field below */
    pthread_cond_t wake;  /* reloader: work to do or stop */
    pthread_cond_t idle;  /* leaf_reloader_stop: the reloader has exited */
    bool asked;           /* a SIGHUP reload is wanted */
    bool stop;
    bool exited;
    leaf_reload_waiter *queued;  /* answered by the next reload */
    leaf_reload_waiter *running; /* answered by the reload in progress */
} leaf_reloader;

/* Each worker thread's own state: its epoch record and query arena. */
typedef struct leaf_thread {
    ck_epoch_record_t record;
    sgs_arena arena;
} leaf_thread;

typedef struct leaf {
    const leaf_config *cfg;
    ck_epoch_t epoch;
    _Atomic(leaf_gen *) current; /* writer: leaf_reload under reload_lock */
    pthread_mutex_t reload_lock; /* serializes reloads; guards reload_record */
    ck_epoch_record_t reload_record;
    pthread_mutex_t error_lock; /* guards last_reload_error; held only to copy it */
    char last_reload_error[SGS_ERR_MSG_MAX];
    _Atomic uint64_t reloads;         /* writer: leaf_reload */
    _Atomic uint64_t reload_failures; /* writer: leaf_reload */
    _Atomic uint64_t generation_now;  /* writer: leaf_reload; for metrics */
    _Atomic bool draining;            /* writer: the signal thread */
    _Atomic uint64_t last_error_log_ns; /* rate limit of error logs */
    leaf_metrics metrics;
    sgs_http_server *http;
    leaf_reloader reloader;
} leaf;

/* reload.c */

/* Enters an epoch section on t's record and returns the serving generation,
 * valid until leaf_gen_leave(). */
const leaf_gen *leaf_gen_enter(leaf *l, leaf_thread *t, ck_epoch_section_t *section);

/* Leaves the section entered by leaf_gen_enter(); g must not be used after. */
void leaf_gen_leave(leaf_thread *t, ck_epoch_section_t *section, const leaf_gen *g);


/* Works out the manifest slot to serve: cfg->shard, or the ordinal
 * (cfg->ordinal, else the trailing -N of the hostname) mod n_shards.
 * 0, or SGS_EUSAGE with err set. */
int leaf_resolve_shard(const leaf_config *cfg, uint32_t n_shards, uint32_t *shard_index,
                       sgs_err *err);

/* Reads the manifest in cfg->index_dir, resolves the slot, loads the shard
 * file into memory of its own, checks the loaded bytes' size and XXH3
 * against the manifest, verifies their checksums and structure and checks its header's shard id, shard count, generation and document
 * count against the manifest. NULL and err set (naming the file and what
 * differs) on any failure. Free with leaf_gen_free(). */
leaf_gen *leaf_gen_open(const leaf_config *cfg, sgs_err *err);

/* Closes the shard and frees the generation; NULL is a no-op. */
void leaf_gen_free(leaf_gen *g);

/* Sets up the epoch and the reload state around an opened first generation
 * (takes ownership of it). */
void leaf_generations_init(leaf *l, leaf_gen *first);

/* Frees the serving generation; call after every worker thread is gone. */
void leaf_generations_fini(leaf *l);

/* Loads the index again and swaps it in; the old generation is closed once
 * no query holds it. On failure the old one keeps serving, the failure is
 * counted and remembered for /v1/shard/info. 0 or the error, err set. Any
 * thread outside an epoch section. */
int leaf_reload(leaf *l, sgs_err *err);

/* Starts the reloader thread (after leaf_generations_init). */
void leaf_reloader_start(leaf *l);

/* Asks the reloader for a reload and returns at once. With req (a POST
 * /v1/admin/reload whose handler then returns SGS_HTTP_PENDING) the request
 * is answered after a reload that began after this call; NULL (SIGHUP): no
 * answer, and asks made while one waits are merged. */
void leaf_reload_ask(leaf *l, sgs_http_request *req);

/* Stops the reloader: waiters not yet started get 503 draining at once;
 * the reload in progress, if any, is waited for until deadline_ns
 * (CLOCK_MONOTONIC), then its waiters too get 503. True when the thread has
 * exited and been joined; false when it is still stuck in a reload, in
 * which case it may still touch l and generations must not be freed. */
bool leaf_reloader_stop(leaf *l, uint64_t deadline_ns);

/* Copies the last reload error ("" for none) into out. */
void leaf_last_reload_error(leaf *l, char *out, size_t cap);

/* Worker thread state for the HTTP server (thread_init / thread_fini). */
void *leaf_thread_new(void *leaf_ptr);
void leaf_thread_free(void *leaf_ptr, void *state);

/* search.c */

/* POST /v1/shard/search. */
sgs_http_result leaf_search_handler(void *leaf_ptr, sgs_http_request *req);

/* health.c */

/* Registers the leaf's metrics in a new registry. */
void leaf_metrics_init(leaf *l);

/* Frees the registry. */
void leaf_metrics_fini(leaf *l);

/* GET /healthz, GET /readyz, GET /v1/shard/info, GET /metrics,
 * POST /v1/admin/reload. */
sgs_http_result leaf_healthz_handler(void *leaf_ptr, sgs_http_request *req);
sgs_http_result leaf_readyz_handler(void *leaf_ptr, sgs_http_request *req);
sgs_http_result leaf_info_handler(void *leaf_ptr, sgs_http_request *req);
sgs_http_result leaf_metrics_handler(void *leaf_ptr, sgs_http_request *req);
sgs_http_result leaf_reload_handler(void *leaf_ptr, sgs_http_request *req);

/* True when an error log line may be written now (at most one a second). */
bool leaf_error_log_allowed(leaf *l);

#endif
