/* libmicrohttpd wrapper: per-connection request objects, body accumulation
 * under a cap, routing, the in-flight bound, suspend/resume for pending
 * answers, lazily created per-thread state, quiesce-and-drain stop, and the
 * external-loop mode (the daemon's epoll descriptor watched by an sgs_evloop,
 * MHD_run called from it; stop requests reach the loop through its wake-up,
 * an sgs_ev_wake watcher). */
#include "common/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* Body storage above this is released after each request, so one large
 * request does not pin memory on an idle keep-alive connection. */
#define KEEP_BUF_BYTES (256u * 1024u)

enum req_phase {
    PHASE_IDLE = 0,  /* between requests */
    PHASE_BODY,      /* receiving the body */
    PHASE_REJECTED,  /* an error was queued early; ignore the rest */
    PHASE_OVERSIZE,  /* a body without a usable length grew past the cap */
    PHASE_RUNNING,   /* handler running (or returned PENDING, not yet suspended) */
    PHASE_SUSPENDED, /* pending and suspended */
    PHASE_DONE,      /* reply complete; queue it on the next call */
};

typedef struct thread_slot {
    void *state;
    struct thread_slot *next;
} thread_slot;

struct sgs_http_request {
    sgs_http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    uint64_t received_ns;
    sgs_buf body;
    bool counted; /* holds one unit of srv->inflight */
    bool pending; /* holds one unit of srv->pending */
    bool active;  /* holds one unit of srv->active */
    size_t discarded; /* body bytes dropped after the cap was crossed */
    _Atomic int phase; /* writers: the worker thread; sgs_http_complete() */
    void *thread_state;
    int status;
    char content_type[128];
    sgs_buf reply;
    sgs_buf headers; /* "name\0value\0" pairs */
};

struct sgs_http_server {
    sgs_http_config cfg;
    struct MHD_Daemon *daemon;
    uint16_t port;
    _Atomic unsigned inflight; /* writers: worker threads and completers */
    _Atomic unsigned pending;  /* requests parked by SGS_HTTP_PENDING; writers: workers */
    _Atomic unsigned active;   /* requests from headers received to completion; workers */
    _Atomic uint64_t last_activity_ns; /* a request began or ended; writers: workers */
    pthread_key_t thread_key;
    pthread_mutex_t slots_lock; /* guards slots; taken once per worker thread */
    thread_slot *slots;
    /* External-loop mode (loop != NULL); all but ctl are the loop thread's. */
    sgs_evloop *loop;
    sgs_ev_io mhd_io;     /* the daemon's epoll descriptor */
    sgs_ev_timer mhd_timer; /* when MHD_run is due next */
    bool run_again;       /* a completion asked for a run (set while one runs) */
    sgs_ev_wake ctl_wake; /* sgs_http_server_stop() wakes the loop to read ctl */
    _Atomic int ctl;      /* enum ext_ctl; writers: the stopper and the loop */
};

/* External-loop stop steps: the stopper asks, the loop answers. */
enum ext_ctl {
    CTL_NONE = 0,
    CTL_QUIESCE,  /* asked: stop accepting */
    CTL_QUIESCED, /* done */
    CTL_DETACH,   /* asked: leave the loop */
    CTL_DETACHED, /* done: the stopper owns the daemon */
};

void sgs_http_error_json(int code, const char *reason, sgs_buf *out)
{
    const char *type = sgs_err_type(code);
    sgs_buf_append(out, "{\"error\":{\"type\":\"", 18);
    sgs_buf_json_escape(out, type, strlen(type));
    sgs_buf_append(out, "\",\"reason\":\"", 12);
    if (reason)
        sgs_buf_json_escape(out, reason, strlen(reason));
    sgs_buf_append(out, "\"}}", 3);
}

const char *sgs_http_method(const sgs_http_request *req)
{
    return req->method;
}

const char *sgs_http_path(const sgs_http_request *req)
{
    return req->path;
}

const char *sgs_http_query_arg(const sgs_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

#define QUERY_CHECK_MAX 32u

typedef struct query_check {
    const char *const *allowed;
    unsigned seen[QUERY_CHECK_MAX];
    sgs_err *err;
    int rc;
} query_check;

static enum MHD_Result query_check_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    (void)value;
    query_check *qc = cls;
    size_t i = 0;
    while (qc->allowed[i] && strcasecmp(qc->allowed[i], key) != 0)
        i++;
    if (qc->allowed[i] == NULL) {
        qc->rc = sgs_err_set(qc->err, SGS_EBADREQ, "unknown query parameter '%.100s'", key);
        return MHD_NO;
    }
    if (i < QUERY_CHECK_MAX && qc->seen[i]++ > 0) {
        qc->rc = sgs_err_set(qc->err, SGS_EBADREQ, "query parameter '%.100s' given more than once",
                             key);
        return MHD_NO;
    }
    return MHD_YES;
}

int sgs_http_query_check(const sgs_http_request *req, const char *const *allowed, sgs_err *err)
{
    query_check qc = {.allowed = allowed, .err = err, .rc = 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_check_one, &qc);
    return qc.rc;
}

const char *sgs_http_header(const sgs_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const uint8_t *sgs_http_body(const sgs_http_request *req, size_t *len)
{
    *len = req->body.len;
    return req->body.data;
}

int sgs_http_client_fd(const sgs_http_request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

uint64_t sgs_http_received_ns(const sgs_http_request *req)
{
    return req->received_ns;
}

void *sgs_http_thread_state(const sgs_http_request *req)
{
    return req->thread_state;
}

void sgs_http_reply(sgs_http_request *req, int status, const char *content_type)
{
    req->status = status;
    snprintf(req->content_type, sizeof req->content_type, "%s",
             content_type ? content_type : "application/json");
}

sgs_buf *sgs_http_reply_body(sgs_http_request *req)
{
    return &req->reply;
}

void sgs_http_reply_header(sgs_http_request *req, const char *name, const char *value)
{
    sgs_buf_append(&req->headers, name, strlen(name) + 1);
    sgs_buf_append(&req->headers, value, strlen(value) + 1);
}

void sgs_http_reply_error(sgs_http_request *req, int code, const char *reason)
{
    sgs_buf_reset(&req->reply);
    sgs_http_reply(req, sgs_err_http_status(code), "application/json");
    sgs_http_error_json(code, reason, &req->reply);
}

static void reset_reply(sgs_http_request *req)
{
    req->status = 200;
    snprintf(req->content_type, sizeof req->content_type, "application/json");
    sgs_buf_reset(&req->reply);
    sgs_buf_reset(&req->headers);
}

/* Queues the reply held in req. The body is handed over as persistent
 * memory: it stays untouched until this response has been sent, because the
 * connection's next request starts only after that. */
static enum MHD_Result queue_reply(sgs_http_request *req)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(req->reply.len, req->reply.data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
    for (size_t off = 0; off < req->headers.len;) {
        const char *name = (const char *)req->headers.data + off;
        off += strlen(name) + 1;
        const char *value = (const char *)req->headers.data + off;
        off += strlen(value) + 1;
        MHD_add_response_header(resp, name, value);
    }
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void release_active(sgs_http_request *req)
{
    if (req->active) {
        atomic_fetch_sub_explicit(&req->srv->active, 1, memory_order_release);
        req->active = false;
    }
}

static void release_inflight(sgs_http_request *req)
{
    if (req->pending) {
        atomic_fetch_sub_explicit(&req->srv->pending, 1, memory_order_release);
        req->pending = false;
    }
    if (req->counted) {
        atomic_fetch_sub_explicit(&req->srv->inflight, 1, memory_order_release);
        req->counted = false;
    }
}

static enum MHD_Result reject(sgs_http_request *req, int code, const char *reason)
{
    reset_reply(req);
    sgs_http_reply_error(req, code, reason);
    atomic_store_explicit(&req->phase, PHASE_REJECTED, memory_order_relaxed);
    return queue_reply(req);
}

static void *thread_state(sgs_http_server *srv)
{
    if (srv->cfg.thread_init == NULL)
        return NULL;
    thread_slot *slot = pthread_getspecific(srv->thread_key);
    if (slot != NULL)
        return slot->state;
    slot = sgs_xmalloc(sizeof *slot);
    slot->state = srv->cfg.thread_init(srv->cfg.thread_ctx);
    pthread_mutex_lock(&srv->slots_lock);
    slot->next = srv->slots;
    srv->slots = slot;
    pthread_mutex_unlock(&srv->slots_lock);
    pthread_setspecific(srv->thread_key, slot);
    return slot->state;
}

static const sgs_http_route *find_route(const sgs_http_server *srv, const char *method,
                                        const char *path, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < srv->cfg.n_routes; i++) {
        const sgs_http_route *r = &srv->cfg.routes[i];
        if (strcmp(r->path, path) != 0)
            continue;
        *path_known = true;
        if (strcmp(r->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r;
    }
    return NULL;
}

static enum MHD_Result dispatch(sgs_http_request *req)
{
    sgs_http_server *srv = req->srv;
    bool path_known;
    const sgs_http_route *route = find_route(srv, req->method, req->path, &path_known);
    reset_reply(req);
    if (route == NULL) {
        char reason[160];
        if (path_known) {
            snprintf(reason, sizeof reason, "method %.16s not allowed on %.100s", req->method,
                     req->path);
            sgs_http_reply_error(req, SGS_EMETHOD, reason);
        } else {
            snprintf(reason, sizeof reason, "no such endpoint: %.100s", req->path);
            sgs_http_reply_error(req, SGS_ENOTFOUND, reason);
        }
        atomic_store_explicit(&req->phase, PHASE_DONE, memory_order_relaxed);
        return queue_reply(req);
    }
    unsigned now = atomic_fetch_add_explicit(&srv->inflight, 1, memory_order_acq_rel) + 1;
    req->counted = true;
    if (srv->cfg.max_inflight != 0 && now > srv->cfg.max_inflight) {
        release_inflight(req);
        sgs_http_reply_error(req, SGS_EBUSY, "too many requests in flight; retry shortly");
        sgs_http_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        atomic_store_explicit(&req->phase, PHASE_DONE, memory_order_relaxed);
        return queue_reply(req);
    }
    req->thread_state = thread_state(srv);
    atomic_store_explicit(&req->phase, PHASE_RUNNING, memory_order_relaxed);
    sgs_http_result res = route->handler(route->ctx, req);
    /* A pending request completed before its handler returned (on this
     * thread, or already on another) is answered now, never suspended. */
    if (res == SGS_HTTP_DONE ||
        atomic_load_explicit(&req->phase, memory_order_acquire) == PHASE_DONE) {
        atomic_store_explicit(&req->phase, PHASE_DONE, memory_order_relaxed);
        release_inflight(req);
        return queue_reply(req);
    }
    /* Pending: suspend; a completion that came in before the suspend is
     * seen by the failed exchange below and resumes it at once. */
    req->pending = true;
    atomic_fetch_add_explicit(&srv->pending, 1, memory_order_acq_rel);
    MHD_suspend_connection(req->conn);
    int expected = PHASE_RUNNING;
    if (!atomic_compare_exchange_strong_explicit(&req->phase, &expected, PHASE_SUSPENDED,
                                                 memory_order_acq_rel, memory_order_acquire))
        MHD_resume_connection(req->conn);
    return MHD_YES;
}

static void ext_run_soon(sgs_http_server *srv);

void sgs_http_complete(sgs_http_request *req)
{
    struct MHD_Connection *conn = req->conn;
    sgs_http_server *srv = req->srv;
    int old = atomic_exchange_explicit(&req->phase, PHASE_DONE, memory_order_acq_rel);
    if (old == PHASE_SUSPENDED)
        MHD_resume_connection(conn);
    if (srv->loop)
        ext_run_soon(srv);
}

/* ---- external-loop mode ------------------------------------------------ */

/* The longest the daemon goes without a run. At its connection limit it
 * takes its listening socket out of its epoll set, and puts it back only at
 * the start of a later run once connections closed: with none left to time
 * out it would ask for no run at all and the backlog would wait forever. */
#define EXT_MAX_IDLE_MS 100u

/* Runs the daemon once and arms the timer for when it must run again. */
static void ext_run(sgs_http_server *srv)
{
    srv->run_again = false;
    MHD_run(srv->daemon);
    if (srv->run_again) { /* a completion during the run: once more this round */
        sgs_evloop_timer_arm(srv->loop, &srv->mhd_timer, sgs_evloop_now(srv->loop));
        return;
    }
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(srv->daemon, &ms) != MHD_YES || ms > EXT_MAX_IDLE_MS)
        ms = EXT_MAX_IDLE_MS;
    /* sgs_now_ns(), not the round's time: a zero timeout runs next round. */
    sgs_evloop_timer_arm(srv->loop, &srv->mhd_timer, sgs_now_ns() + (uint64_t)ms * 1000000u);
}

/* Makes the daemon run in this round, after the callback that asked. */
static void ext_run_soon(sgs_http_server *srv)
{
    srv->run_again = true;
    sgs_evloop_timer_arm(srv->loop, &srv->mhd_timer, sgs_evloop_now(srv->loop));
}

static void ext_mhd_ready(sgs_ev_io *io, uint32_t events)
{
    (void)events;
    ext_run((sgs_http_server *)((char *)io - offsetof(sgs_http_server, mhd_io)));
}

static void ext_mhd_timer(sgs_ev_timer *t)
{
    ext_run((sgs_http_server *)((char *)t - offsetof(sgs_http_server, mhd_timer)));
}

/* Runs after every wake of the loop (the loop's owner wakes it too), so it
 * acts only on a step asked and not yet done. ctl is read seq_cst, as
 * sgs_evloop_wake() requires of state written before a wake. */
static void ext_ctl_wake(sgs_ev_wake *w)
{
    sgs_http_server *srv = (sgs_http_server *)((char *)w - offsetof(sgs_http_server, ctl_wake));
    int ctl = atomic_load(&srv->ctl);
    if (ctl == CTL_QUIESCE) {
        MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
        ext_run_soon(srv);
        atomic_store_explicit(&srv->ctl, CTL_QUIESCED, memory_order_release);
    } else if (ctl == CTL_DETACH) {
        sgs_evloop_io_del(srv->loop, &srv->mhd_io);
        sgs_evloop_timer_cancel(srv->loop, &srv->mhd_timer);
        sgs_evloop_wake_del(srv->loop, &srv->ctl_wake);
        atomic_store_explicit(&srv->ctl, CTL_DETACHED, memory_order_release);
    }
}

/* Stopper side (any thread): asks the loop for step `ask` and waits until
 * it is `done`. */
static void ext_ask(sgs_http_server *srv, int ask, int done)
{
    atomic_store(&srv->ctl, ask);
    sgs_evloop_wake(srv->loop);
    while (atomic_load_explicit(&srv->ctl, memory_order_acquire) != done) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Registers the daemon's epoll descriptor and the stop watcher in the loop. */
static int ext_attach(sgs_http_server *srv, sgs_err *err)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (di == NULL || di->epoll_fd < 0)
        return sgs_err_set(err, SGS_EIO, "libmicrohttpd has no epoll descriptor");
    sgs_ev_timer_init(&srv->mhd_timer, ext_mhd_timer);
    if (sgs_evloop_io_add(srv->loop, &srv->mhd_io, di->epoll_fd, EPOLLIN, ext_mhd_ready, err) !=
        0)
        return err->code;
    sgs_evloop_wake_add(srv->loop, &srv->ctl_wake, ext_ctl_wake);
    sgs_evloop_timer_arm(srv->loop, &srv->mhd_timer, sgs_now_ns());
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    sgs_http_server *srv = cls;
    (void)version;
    if (*con_cls == NULL) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        sgs_http_request *req = ci ? ci->socket_context : NULL;
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->received_ns = sgs_now_ns();
        req->counted = false;
        req->pending = false;
        req->active = true;
        atomic_fetch_add_explicit(&srv->active, 1, memory_order_acq_rel);
        atomic_store_explicit(&srv->last_activity_ns, req->received_ns, memory_order_relaxed);
        req->discarded = 0;
        req->thread_state = NULL;
        sgs_buf_reset(&req->body);
        atomic_store_explicit(&req->phase, PHASE_BODY, memory_order_relaxed);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && n > srv->cfg.max_body) {
                char reason[128];
                snprintf(reason, sizeof reason, "request body of %llu bytes exceeds %zu", n,
                         srv->cfg.max_body);
                return reject(req, SGS_EBODY_LARGE, reason);
            }
        }
        return MHD_YES;
    }
    sgs_http_request *req = *con_cls;
    int phase = atomic_load_explicit(&req->phase, memory_order_acquire);
    if (phase == PHASE_REJECTED) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        /* MHD cannot queue a response while body data is being delivered,
         * so a body over the cap is dropped as it arrives and refused at
         * its end; one that keeps coming far past the cap is cut off. */
        if (phase == PHASE_OVERSIZE || req->body.len + *upload_data_size > srv->cfg.max_body) {
            atomic_store_explicit(&req->phase, PHASE_OVERSIZE, memory_order_relaxed);
            req->discarded += *upload_data_size;
            *upload_data_size = 0;
            return req->discarded > 16 * srv->cfg.max_body + (1u << 20) ? MHD_NO : MHD_YES;
        }
        sgs_buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (phase == PHASE_BODY)
        return dispatch(req);
    if (phase == PHASE_OVERSIZE) {
        char reason[128];
        snprintf(reason, sizeof reason, "request body exceeds %zu bytes", srv->cfg.max_body);
        return reject(req, SGS_EBODY_LARGE, reason);
    }
    if (phase == PHASE_DONE) { /* resumed after sgs_http_complete() */
        release_inflight(req);
        return queue_reply(req);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    sgs_http_request *req = *con_cls;
    if (req == NULL)
        return;
    release_inflight(req);
    release_active(req);
    atomic_store_explicit(&req->srv->last_activity_ns, sgs_now_ns(), memory_order_relaxed);
    atomic_store_explicit(&req->phase, PHASE_IDLE, memory_order_relaxed);
    if (req->body.cap > KEEP_BUF_BYTES)
        sgs_buf_fini(&req->body);
    if (req->reply.cap > KEEP_BUF_BYTES)
        sgs_buf_fini(&req->reply);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    sgs_http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        sgs_http_request *req = sgs_xcalloc(1, sizeof *req);
        req->srv = srv;
        req->conn = conn;
        sgs_buf_init(&req->body);
        sgs_buf_init(&req->reply);
        sgs_buf_init(&req->headers);
        atomic_init(&req->phase, PHASE_IDLE);
        *socket_context = req;
        return;
    }
    sgs_http_request *req = *socket_context;
    if (req == NULL)
        return;
    release_inflight(req);
    release_active(req);
    sgs_buf_fini(&req->body);
    sgs_buf_fini(&req->reply);
    sgs_buf_fini(&req->headers);
    free(req);
    *socket_context = NULL;
}

/* libmicrohttpd logs once per refused connection: under a flood of them at
 * most one line per MHD_LOG_GAP_NS goes out, with the count left out. */
#define MHD_LOG_GAP_NS 1000000000ull

static _Atomic uint64_t mhd_log_last_ns;
static _Atomic uint64_t mhd_log_dropped;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    uint64_t now = sgs_now_ns();
    uint64_t last = atomic_load_explicit(&mhd_log_last_ns, memory_order_relaxed);
    if ((last != 0 && now - last < MHD_LOG_GAP_NS) ||
        !atomic_compare_exchange_strong(&mhd_log_last_ns, &last, now)) {
        atomic_fetch_add_explicit(&mhd_log_dropped, 1, memory_order_relaxed);
        return;
    }
    uint64_t dropped = atomic_exchange_explicit(&mhd_log_dropped, 0, memory_order_relaxed);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (dropped != 0)
        sgs_log(SGS_LOG_WARN, "http", "%s (%llu similar lines left out)", msg,
                (unsigned long long)dropped);
    else
        sgs_log(SGS_LOG_WARN, "http", "%s", msg);
}

/* libmicrohttpd's connection limit when none is given (FD_SETSIZE - 4). */
#define DEFAULT_MAX_CONNECTIONS 1020u

/* Descriptors kept back for everything but client connections. */
#define DEFAULT_FD_RESERVE 64u

/* Raises the soft RLIMIT_NOFILE so max_connections fit beside the reserve,
 * or lowers max_connections to what the hard limit allows (at least 1). */
static unsigned fit_connections(unsigned max_connections, unsigned reserve)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return max_connections;
    rlim_t want = (rlim_t)max_connections + reserve;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = rl;
        raised.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want
                                                                                : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return max_connections;
    unsigned fit = rl.rlim_cur > (rlim_t)reserve + 1 ? (unsigned)(rl.rlim_cur - reserve) : 1u;
    sgs_log(SGS_LOG_WARN, "http_limits",
            "open-file limit %llu holds %u connections besides %u reserved descriptors, not %u; "
            "serving at most %u (raise ulimit -n)",
            (unsigned long long)rl.rlim_cur, fit, reserve, max_connections, fit);
    return fit;
}

int sgs_http_parse_listen(const char *text, char *host, size_t host_cap, uint16_t *port,
                          sgs_err *err)
{
    const char *colon;
    const char *h = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return sgs_err_set(err, SGS_EUSAGE, "listen address '%s': want [V6]:PORT", text);
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return sgs_err_set(err, SGS_EUSAGE, "listen address '%s': want HOST:PORT", text);
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= host_cap)
        return sgs_err_set(err, SGS_EUSAGE, "listen address '%s': bad host", text);
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535)
        return sgs_err_set(err, SGS_EUSAGE, "listen address '%s': bad port", text);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

sgs_http_server *sgs_http_server_start(const sgs_http_config *cfg, sgs_err *err)
{
    char host[256];
    uint16_t port;
    if (cfg->listen == NULL ||
        sgs_http_parse_listen(cfg->listen, host, sizeof host, &port, err) != 0) {
        if (cfg->listen == NULL)
            sgs_err_set(err, SGS_EUSAGE, "no listen address");
        return NULL;
    }
    if (cfg->threads < 1 || cfg->conn_timeout_s < 1 || (cfg->loop && cfg->threads != 1)) {
        sgs_err_set(err, SGS_EUSAGE, "http server needs threads >= 1 (1 in a loop) and a "
                                     "timeout >= 1 s");
        return NULL;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", port);
    int gai = getaddrinfo(host, port_text, &hints, &ai);
    if (gai != 0) {
        sgs_err_set(err, SGS_EUSAGE, "listen address '%s': getaddrinfo: %s", cfg->listen,
                    gai_strerror(gai));
        return NULL;
    }
    sgs_http_server *srv = sgs_xcalloc(1, sizeof *srv);
    srv->cfg = *cfg;
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->pending, 0);
    atomic_init(&srv->active, 0);
    atomic_init(&srv->last_activity_ns, 0);
    pthread_mutex_init(&srv->slots_lock, NULL);
    pthread_key_create(&srv->thread_key, NULL);

    srv->loop = cfg->loop;
    atomic_init(&srv->ctl, CTL_NONE);
    unsigned flags = (cfg->loop ? MHD_USE_EPOLL : MHD_USE_EPOLL_INTERNAL_THREAD) |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
    if (cfg->threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
    /* Each worker holds an epoll descriptor and a pair for inter-thread signals. */
    unsigned reserve = (cfg->fd_reserve ? cfg->fd_reserve : DEFAULT_FD_RESERVE) + 4 * cfg->threads;
    unsigned max_conn = fit_connections(
        cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS, reserve);
    /* libmicrohttpd splits the limit among the workers; each needs one. */
    if (max_conn < cfg->threads)
        max_conn = cfg->threads;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL};
    if (cfg->max_per_ip)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip,
                                            NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    srv->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY,
                                   opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (srv->daemon == NULL) {
        sgs_err_set(err, SGS_EIO, "cannot listen on %s (address in use or not permitted)",
                    cfg->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : port;
    if (srv->loop && ext_attach(srv, err) != 0) {
        MHD_stop_daemon(srv->daemon);
        goto fail;
    }
    return srv;
fail:
    pthread_key_delete(srv->thread_key);
    pthread_mutex_destroy(&srv->slots_lock);
    free(srv);
    return NULL;
}

uint16_t sgs_http_server_port(const sgs_http_server *srv)
{
    return srv->port;
}

unsigned sgs_http_server_inflight(const sgs_http_server *srv)
{
    return atomic_load_explicit(&srv->inflight, memory_order_acquire);
}

unsigned sgs_http_server_active(const sgs_http_server *srv)
{
    return atomic_load_explicit(&srv->active, memory_order_acquire);
}

uint64_t sgs_http_server_last_activity_ns(const sgs_http_server *srv)
{
    return atomic_load_explicit(&srv->last_activity_ns, memory_order_relaxed);
}

unsigned sgs_http_server_stop(sgs_http_server *srv, unsigned drain_ms)
{
    if (srv == NULL)
        return 0;
    if (srv->loop)
        ext_ask(srv, CTL_QUIESCE, CTL_QUIESCED);
    else {
        MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
    }
    uint64_t until = sgs_now_ns() + (uint64_t)drain_ms * 1000000u;
    while (sgs_http_server_active(srv) != 0 && sgs_now_ns() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    unsigned left = sgs_http_server_active(srv);
    /* libmicrohttpd aborts when stopped with a suspended connection, so a
     * pending request the owner has not completed yet is waited for. */
    for (uint64_t n = 0; atomic_load_explicit(&srv->pending, memory_order_acquire) != 0; n++) {
        if (n % 1000 == 0)
            sgs_log(SGS_LOG_WARN, "http_stop", "waiting for %u pending requests to complete",
                    atomic_load_explicit(&srv->pending, memory_order_acquire));
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* A just-resumed request leaves libmicrohttpd's suspended list only as
     * its worker moves on; let the answers of the last ones go out. */
    for (int i = 0; i < 1000 && sgs_http_server_active(srv) != 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (srv->loop) {
        /* The loop lets go of the daemon; from here this thread runs it. */
        ext_ask(srv, CTL_DETACH, CTL_DETACHED);
    }
    MHD_stop_daemon(srv->daemon);
    thread_slot *slot = srv->slots;
    while (slot) {
        thread_slot *next = slot->next;
        if (srv->cfg.thread_fini)
            srv->cfg.thread_fini(srv->cfg.thread_ctx, slot->state);
        free(slot);
        slot = next;
    }
    pthread_key_delete(srv->thread_key);
    pthread_mutex_destroy(&srv->slots_lock);
    free(srv);
    return left;
}
