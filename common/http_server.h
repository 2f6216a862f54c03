/* The HTTP/1.1 front end both servers use: a libmicrohttpd daemon with a
 * thread pool (one epoll loop per worker), or run inside a caller's
 * sgs_evloop (external-loop mode), exact-path routing, bodies accumulated
 * under a size cap, bounded in-flight work, asynchronous answers and a
 * graceful stop.
 *
 * Invariants and rules it keeps:
 *   - A response is queued on the handler's last call, after the body is
 *     complete, never on the first, so MHD keeps the connection alive.
 *     The one exception closes the connection on purpose: a Content-Length
 *     over the cap is answered at once, without reading the body. A chunked
 *     body that grows past the cap is dropped as it arrives (never stored)
 *     and refused when it ends; one running past 16 times the cap is cut off.
 *   - Every answer the server makes itself is JSON {"error": {"type",
 *     "reason"}} with the status from common/err.h: unknown path 404,
 *     wrong method 405, body over the cap 400 body_too_large, more than
 *     max_inflight requests in handlers or pending 429 with Retry-After.
 *   - A request object belongs to its connection and is reused by the next
 *     request on it; handlers see it only between dispatch and the reply.
 *   - Per-thread state: thread_init is called once in each worker thread
 *     that serves a request (lazily, before its first handler call) and its
 *     result is handed to every handler running on that thread, so the query
 *     path needs no locks; thread_fini frees each at stop.
 *   - Asynchronous answers: a handler that returns SGS_HTTP_PENDING keeps the
 *     request; the connection is suspended until sgs_http_complete() is
 *     called, from any thread, after the reply is set. The owner must
 *     complete every pending request: sgs_http_server_stop() waits for them
 *     (past its drain timeout too, logging), as the daemon cannot be stopped
 *     with a request parked.
 *   - External-loop mode (cfg.loop set): the daemon has no thread of its
 *     own. Its epoll descriptor is watched by that loop, and every callback,
 *     handler and sgs_http_complete() call runs on the loop's thread. A
 *     completion makes the daemon run again in the same loop round, so the
 *     answer is written without any wake-up between threads. Only
 *     sgs_http_server_stop() wakes the loop (sgs_evloop_wake(), through an
 *     sgs_ev_wake watcher), which runs the loop owner's wake function too. */
#ifndef SGS_COMMON_HTTP_SERVER_H
#define SGS_COMMON_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/evloop.h"

typedef struct sgs_http_server sgs_http_server;
typedef struct sgs_http_request sgs_http_request;

typedef enum sgs_http_result {
    SGS_HTTP_DONE = 0,    /* the reply is set; the server sends it now */
    SGS_HTTP_PENDING = 1, /* the handler completes later with sgs_http_complete() */
} sgs_http_result;

typedef sgs_http_result (*sgs_http_handler)(void *ctx, sgs_http_request *req);

/* One route: exact path match; method "GET" also serves HEAD. */
typedef struct sgs_http_route {
    const char *method;
    const char *path;
    sgs_http_handler handler;
    void *ctx;
} sgs_http_route;

typedef struct sgs_http_config {
    const char *listen;          /* "HOST:PORT"; port 0 lets the OS choose */
    unsigned threads;            /* worker threads, >= 1 (1 with a loop) */
    unsigned conn_timeout_s;     /* a connection with no bytes moving this long is closed, >= 1 */
    size_t max_body;             /* request body bytes accepted */
    unsigned max_inflight;       /* requests in handlers or pending; 0: unbounded */
    unsigned max_connections;    /* open client connections at most; 0: 1020 */
    unsigned max_per_ip;         /* open connections per client address; 0: no limit */
    unsigned fd_reserve;         /* descriptors the program needs besides these (0: 64) */
    const sgs_http_route *routes; /* borrowed; must outlive the server */
    size_t n_routes;
    void *(*thread_init)(void *thread_ctx);              /* NULL: no per-thread state */
    void (*thread_fini)(void *thread_ctx, void *state);  /* NULL: nothing to free */
    void *thread_ctx;
    sgs_evloop *loop;            /* NULL: own threads; else external-loop mode in this loop */
} sgs_http_config;

/* Binds cfg->listen and starts the worker threads (with cfg->loop: registers
 * the daemon in that loop, which must not be running on another thread yet
 * or must be the caller's). Connections past
 * max_connections (or max_per_ip) are accepted and closed at once. The soft
 * RLIMIT_NOFILE is raised (up to the hard one) to hold max_connections plus
 * fd_reserve plus the threads' own; when the hard limit is lower,
 * max_connections is lowered to fit and a warning logged, so accept() never
 * runs out of descriptors. NULL and err set
 * (SGS_EUSAGE for a bad listen address or config, SGS_EIO when the daemon
 * cannot start, naming the address). cfg and its routes are borrowed for the
 * server's life. Free with sgs_http_server_stop(). */
sgs_http_server *sgs_http_server_start(const sgs_http_config *cfg, sgs_err *err);

/* The bound TCP port (the OS's choice when the listen port was 0). */
uint16_t sgs_http_server_port(const sgs_http_server *srv);

/* Requests currently in handlers or pending (what max_inflight bounds). */
unsigned sgs_http_server_inflight(const sgs_http_server *srv);

/* Requests whose headers have arrived and whose answer is not yet sent
 * (a superset of the in-flight ones); what a drain waits for. */
unsigned sgs_http_server_active(const sgs_http_server *srv);

/* CLOCK_MONOTONIC ns when a request last began or ended (0: none yet). */
uint64_t sgs_http_server_last_activity_ns(const sgs_http_server *srv);

/* Stops accepting connections, waits up to drain_ms for every active
 * request to be answered (and then for pending ones still parked, which
 * only their owner can complete), closes every connection, joins the threads,
 * calls thread_fini for each per-thread state and frees the server. Returns
 * the number of requests still active when the wait ended (0 when all
 * drained). NULL is a no-op. In external-loop mode the loop must keep
 * running on its own thread meanwhile and this is called from another one;
 * the daemon leaves the loop before it is stopped. */
unsigned sgs_http_server_stop(sgs_http_server *srv, unsigned drain_ms);

/* Parses "HOST:PORT" ("[v6]:PORT" for IPv6) into host (NUL-terminated, at
 * most host_cap bytes) and port. 0, or SGS_EUSAGE with err naming the text. */
int sgs_http_parse_listen(const char *text, char *host, size_t host_cap, uint16_t *port,
                          sgs_err *err);

/* Request accessors, valid while the handler runs (the body and the reply
 * also while the request is pending). Strings are borrowed. */
const char *sgs_http_method(const sgs_http_request *req);
const char *sgs_http_path(const sgs_http_request *req);

/* A query-string argument or a request header (case-insensitive name), or
 * NULL; only while the handler runs. */
const char *sgs_http_query_arg(const sgs_http_request *req, const char *name);
const char *sgs_http_header(const sgs_http_request *req, const char *name);

/* Checks the query string against a NULL-terminated list of allowed
 * parameter names (compared case-insensitively, as sgs_http_query_arg looks
 * them up). 0, or SGS_EBADREQ naming the first parameter that is not
 * allowed or that is given more than once. Only while the handler runs. */
int sgs_http_query_check(const sgs_http_request *req, const char *const *allowed, sgs_err *err);

/* The complete request body (len 0 for none). Not NUL-terminated. */
const uint8_t *sgs_http_body(const sgs_http_request *req, size_t *len);

/* The client's socket, for watching it (e.g. EPOLLRDHUP in another epoll
 * set) while the request is pending; never read, write or close it. -1 when
 * unknown. Only while the handler runs. */
int sgs_http_client_fd(const sgs_http_request *req);

/* CLOCK_MONOTONIC ns when the request's headers had arrived. */
uint64_t sgs_http_received_ns(const sgs_http_request *req);

/* The calling worker thread's state from thread_init (NULL without one);
 * only while the handler runs. */
void *sgs_http_thread_state(const sgs_http_request *req);

/* Sets the reply status and content type (copied; at most 127 bytes). The
 * body goes into sgs_http_reply_body(). Status defaults to 200 and content
 * type to application/json. */
void sgs_http_reply(sgs_http_request *req, int status, const char *content_type);

/* The reply body buffer, empty when the handler starts; append to it. */
sgs_buf *sgs_http_reply_body(sgs_http_request *req);

/* Adds a reply header (both strings copied). */
void sgs_http_reply_header(sgs_http_request *req, const char *name, const char *value);

/* Replaces the reply with {"error": {"type", "reason"}} and the status of
 * code (common/err.h). */
void sgs_http_reply_error(sgs_http_request *req, int code, const char *reason);

/* Appends {"error": {"type": ..., "reason": ...}} for code and reason. */
void sgs_http_error_json(int code, const char *reason, sgs_buf *out);

/* Sends the reply of a request whose handler returned SGS_HTTP_PENDING; any
 * thread (the loop's in external-loop mode), exactly once. The request must
 * not be touched afterwards. */
void sgs_http_complete(sgs_http_request *req);

#endif
