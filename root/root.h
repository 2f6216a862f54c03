/* sgs-root internals: configuration, topology, replica state, the scatter
 * engine's query object, and the functions the files of root/ share.
 *
 * Threads: one loop thread (root/scatter.c's sgs_evloop) serves everything a
 * query touches. libmicrohttpd runs in that loop (external-loop mode of
 * common/http_server.h): the request handler parses and validates a query
 * (root/api.c) and starts its scatter at once; the same thread owns every
 * leaf connection, every replica's state and every query, and when the
 * gather ends it resumes the HTTP request and writes the answer in the same
 * loop round. No query crosses a thread. Besides it run only the main thread
 * (signals, the drain at stop) and the resolver (root/resolve.c, whose
 * results reach the loop through a mailbox and the loop's wake). Fields read
 * from other threads are _Atomic and say so. */
#ifndef SGS_ROOT_ROOT_H
#define SGS_ROOT_ROOT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/eval.h"
#include "common/evloop.h"
#include "common/flags.h"
#include "common/hist.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/query.h"
#include "common/wire.h"

#define ROOT_VERSION "0.1.0"
#define ROOT_MAX_SHARDS 1024u
#define ROOT_MAX_REPLICAS 16u

typedef struct root_config {
    const char *listen, *port_file, *topology_file, *leaf_pattern, *log_level, *resolve_file;
    sgs_strlist shard_specs, resolve;
    int64_t shards, replicas, threads, max_inflight, conn_timeout_s, max_connections;
    int64_t default_timeout_ms, max_timeout_ms, hedge_max_ms;
    int64_t probe_interval_ms, probe_timeout_ms, eject_failures, eject_base_ms, eject_max_ms;
    int64_t slow_start_ms, slow_query_ms, max_k, resolve_interval_ms;
    uint64_t max_leaf_body;
    double hedge_quantile, hedge_budget, hedge_min_ms;
} root_config;

typedef struct root_replica root_replica;
typedef struct root_shard root_shard;
typedef struct root_conn root_conn;
typedef struct root_query root_query;
typedef struct root_attempt root_attempt;
typedef struct root root;
typedef struct root_resolver root_resolver;

/* One leaf replica: address, health, breaker, load. Loop-thread state, except
 * the fields marked atomic (written by the loop, read by /v1/info). */
struct root_replica {
    root *r;
    root_shard *shard;
    uint32_t index;              /* within its shard */
    char *url, *host_header, *host;
    uint16_t port;
    struct sockaddr_storage addr;
    socklen_t addr_len;          /* 0: unresolved */
    char addr_text[64];          /* addr as IP:PORT, "" while unresolved */
    uint32_t resolve_slot;       /* its mailbox slot in the resolver */
    uint64_t lookups;            /* lookup results taken from the resolver */
    /* Probe results. */
    bool probe_ok;               /* last /v1/shard/info answered, ready, right shard */
    uint64_t generation;
    char last_error[160];
    char last_error_type[32];    /* what kind of error last_error is, "" with it */
    char **stored_fields;        /* names the leaf's /v1/shard/info lists */
    uint32_t n_stored_fields;
    bool stored_known;           /* the leaf listed them */
    /* Breaker. */
    uint32_t consecutive_failures;
    uint32_t ejections;          /* backoff exponent */
    uint64_t ejected_until_ns;   /* 0: not ejected */
    uint64_t ready_since_ns;     /* slow start */
    /* Load. */
    uint32_t in_flight;
    uint32_t lost;               /* sub-requests cancelled since its last answer because a
                                  * replica asked later answered first: it looks stalled */
    double ewma_us;
    uint64_t sent, beaten;       /* sub-requests sent to it; of those, lost as above */
    /* Idle keep-alive connections. */
    root_conn *idle;
    uint32_t n_idle;
    /* Probe. */
    sgs_ev_timer probe_timer;
    root_conn *probe_conn;
    uint64_t probe_started_ns;
};

struct root_shard {
    uint32_t id;
    root_replica *replicas;
    uint32_t n_replicas;
    sgs_hist *lat_cur, *lat_prev; /* leaf answer latency, µs; rotated */
    uint64_t hedge_delay_ns;      /* recomputed from the histograms */
};

/* A connection to a leaf, from the loop's free list. */
struct root_conn {
    sgs_http_conn http;
    sgs_ev_io io;
    root_replica *rep;
    root_attempt *att;      /* the sub-request it carries, or NULL */
    root_conn *next;        /* idle or free list */
    uint64_t idle_since_ns;
    bool registered;
    bool probe;
};

/* One sub-request of a query to one replica. */
struct root_attempt {
    root_query *q;
    uint32_t shard;
    root_replica *rep;
    root_conn *conn;
    uint64_t start_ns;
    bool hedge;
    bool fresh_retry; /* already retried once on a fresh connection */
};

typedef enum root_slot_status {
    ROOT_SLOT_PENDING = 0,
    ROOT_SLOT_OK,
    ROOT_SLOT_FAILED,
    ROOT_SLOT_TIMED_OUT,
} root_slot_status;

/* A query's view of one shard. */
typedef struct root_slot {
    root_slot_status status;
    root_attempt *active[2];
    uint32_t n_tries;
    bool hedged, hedge_won;
    int replica;       /* that answered (or, failed or timed out, was last asked), -1 */
    int waiting[2];    /* replicas still outstanding at the deadline, -1 */
    uint32_t retried;  /* sub-requests moved to another replica after a connection error */
    uint64_t first_ns; /* first sub-request sent, 0: none yet */
    double took_ms;    /* to the answer used, or from the first send to the failure */
    sgs_shard_response resp;
    char error[200];
    char error_type[32]; /* an error.type-like name of why the shard did not answer */
    sgs_ev_timer hedge_timer;
    root_query *q;
    uint32_t shard;
} root_slot;

/* One search request, from its handler to its answer (loop thread). */
struct root_query {
    sgs_http_request *req;
    sgs_arena arena;
    sgs_buf wire;              /* encoded binary request (deadline patched per send) */
    uint32_t k, offset;
    bool allow_partial;
    const char **fields;       /* arena; NULL: all stored fields */
    uint32_t n_fields;
    uint64_t received_ns, deadline_ns, generation;
    char traceparent[56];      /* what goes to the leaves and back to the client */
    char trace_headers[80];
    sgs_ev_timer deadline_timer;
    int client_fd;             /* watched for the client leaving, -1 */
    sgs_ev_io client_io;
    bool client_watched;
    sgs_ev_timer watch_timer;  /* starts the client watch once the query is slow */
    root_slot *slots;
    uint32_t n_pending;
    bool done;
    root_query *next;          /* free list */
};

typedef struct root_metrics {
    sgs_metrics *registry;
    sgs_counter *requests_ok, *requests_partial, *requests_bad, *requests_unavailable;
    sgs_counter *leaf_requests, *leaf_failures, *hedges_sent, *hedges_won, *retries;
    sgs_counter *ejections, *partial, *timeouts, *client_gone;
    sgs_histogram *request_latency, *leaf_latency;
} root_metrics;

struct root {
    const root_config *cfg;
    root_shard *shards;
    uint32_t n_shards;
    sgs_evloop *loop;
    root_metrics m;
    _Atomic uint64_t serving_generation; /* writer: the loop */
    _Atomic bool ready;                  /* writer: the loop */
    /* Hedge token bucket (loop thread): its capacity follows the primary
     * request rate (ROOT_HEDGE_BURST_S seconds of earnings). */
    double hedge_tokens, hedge_burst;
    uint64_t primaries, primaries_mark, burst_mark_ns;
    /* Free lists (loop thread). */
    root_conn *free_conns;
    root_query *free_queries;
    sgs_ev_timer maint_timer;
    uint64_t last_rotate_ns;
    uint64_t rng;
    sgs_http_server *http;
    root_resolver *resolver;
};

/* Topology (root/topology.c): fills r->shards from the config. 0, or
 * SGS_EUSAGE naming the bad flag or file entry. */
int root_topology_load(root *r, sgs_err *err);
/* Frees what root_topology_load allocated. */
void root_topology_free(root *r);

/* Resolver (root/resolve.c): a thread that looks every replica up at start,
 * every --resolve-interval-ms and when the loop asks; results reach the loop
 * through a mailbox and the loop's wake. Starts after the loop exists. 0, or
 * SGS_EINTERNAL. */
int root_resolve_start(root *r, sgs_err *err);
/* Stops the resolver; false when a lookup hung past a short wait (its state
 * is then left to the process exit and the topology must not be freed). */
bool root_resolve_stop(root *r);
/* Loop thread: asks for a fresh lookup of rep soon. */
void root_resolve_request(root *r, root_replica *rep);
/* Loop thread: takes the resolver's fresh results into the replicas; changed
 * is called for each replica whose address appeared, moved or went away. */
void root_resolve_apply(root *r, void (*changed)(root *r, root_replica *rep, bool was_resolved));

/* Scatter engine (root/scatter.c). Creates the loop, the resolver, the
 * probes' timers; the loop thread starts with root_scatter_run(), once the
 * HTTP server is registered in r->loop. 0, or err set. */
int root_scatter_start(root *r, sgs_err *err);
/* Starts the loop thread. 0, or SGS_EINTERNAL. */
int root_scatter_run(root *r, sgs_err *err);
/* Stops the resolver and the loop thread and frees the engine's state (after
 * the server stopped). false when the resolver hung: the loop and topology
 * are then kept for the process exit. */
bool root_scatter_stop(root *r);
/* Loop thread: a query object from the pool (arena reset, fields zeroed). */
root_query *root_query_get(root *r);
/* Loop thread: back to the pool. */
void root_query_put(root *r, root_query *q);
/* Loop thread: scatters a parsed query (or answers it at once: a refused
 * field, a passed deadline, no shard to ask); root_api_finish() answers it
 * when the gather ends, and the query goes back to the pool after that. */
void root_query_start(root *r, root_query *q);

/* Pure parts, unit-tested. */
#define ROOT_HEDGE_BURST 10.0  /* hedge tokens banked at least (the bucket's floor capacity) */
#define ROOT_HEDGE_BURST_S 2.0 /* seconds of hedge earnings the bucket holds */
#define ROOT_EXPLORE 16u       /* one replica choice in this many is uniform */
/* Token bucket: a primary leaf request adds budget tokens (capped at the
 * larger of ROOT_HEDGE_BURST and r->hedge_burst); root_hedge_take spends
 * one, false when none is left. */
void root_hedge_credit(root *r, double budget);
bool root_hedge_take(root *r);
/* Picks a replica index of shard s for a new sub-request by power of two
 * distinct choices among the eligible ones (uniform one time in
 * ROOT_EXPLORE), avoiding `avoid` (-1 for none) when another is eligible;
 * -1 when none is. A replica's cost is (in_flight + lost + 1) times its
 * latency estimate, so one that a later-sent request just beat keeps
 * counting as loaded after its cancelled sub-request left in_flight. */
int root_pick_replica(root *r, root_shard *s, uint64_t now_ns, int avoid);
/* True when the replica may take a sub-request at generation gen now. */
bool root_replica_eligible(const root_replica *rep, uint64_t gen, uint64_t now_ns);
/* Merges the OK slots' hits into out_json as the "hits" array (offset skipped,
 * k kept). */
void root_gather_hits(root_query *q, uint32_t n_shards, sgs_buf *out);

/* API (root/api.c). */
void root_api_routes(root *r, sgs_http_route *routes, size_t *n_routes);
/* Loop thread: writes the answer of a finished query and completes it. */
void root_api_finish(root *r, root_query *q);
/* Loop thread: the /readyz (readyz true) or /v1/info answer into req. */
void root_api_info(root *r, sgs_http_request *req, bool readyz);

#endif
