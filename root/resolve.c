/* The resolver: one thread that looks every replica's host up (--resolve
 * entries, then --resolve-file, then getaddrinfo) at start, every
 * --resolve-interval-ms, and soon after the loop asks for one replica again
 * (a failed probe: the pod may have moved). Lookups may block for seconds
 * (DNS, a slow file), so they never run on the loop thread.
 *
 * Hand-off: each replica has a mailbox slot, written by the resolver under
 * the mutex; a posted flag and the loop's eventfd wake (sgs_evloop_wake)
 * tell the loop, which takes every fresh slot in root_resolve_apply() and
 * alone writes the replicas' addresses. The replica's host, host_header and
 * port are immutable after the topology is loaded, so the resolver reads them
 * without a lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "root/root.h"

typedef enum lookup_outcome {
    LOOKUP_OK = 0,
    LOOKUP_NOT_FOUND = 1, /* the name does not exist (or has no address) */
    LOOKUP_TEMPORARY = 2, /* the resolver failed; the last address may still hold */
} lookup_outcome;

typedef struct mailbox_slot {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    lookup_outcome outcome;
    char error[160];
    bool fresh;  /* written by the resolver, not yet taken by the loop */
    bool wanted; /* the loop asked for a lookup */
} mailbox_slot;

struct root_resolver {
    root *r;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool stopping;     /* written under mu */
    bool wanted_any;           /* under mu */
    _Atomic bool posted;       /* a slot is fresh; cleared by the loop */
    _Atomic bool done;         /* the thread returned */
    uint32_t n;
    root_replica **reps;
    mailbox_slot *slots; /* under mu */
    bool *todo;          /* the thread's own */
};

/* Looks name up in NAME=IP:PORT entries; true and the address when found. */
static bool resolve_override(const char *entry, const char *name, struct sockaddr_storage *ss,
                             socklen_t *len)
{
    const char *eq = strchr(entry, '=');
    if (!eq || (size_t)(eq - entry) != strlen(name) || strncmp(entry, name, strlen(name)) != 0)
        return false;
    const char *addr = eq + 1;
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return false;
    char ip[64];
    size_t n = (size_t)(colon - addr);
    if (n >= sizeof ip)
        return false;
    memcpy(ip, addr, n);
    ip[n] = 0;
    int port = atoi(colon + 1);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof *ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1 || port <= 0 || port > 65535)
        return false;
    *len = sizeof *sin;
    return true;
}

/* One lookup of a replica's address; may block. */
static lookup_outcome lookup(const root_config *cfg, const root_replica *rep,
                             struct sockaddr_storage *ss, socklen_t *len, char *why, size_t cap)
{
    *len = 0;
    for (size_t i = 0; i < cfg->resolve.n && *len == 0; i++)
        if (!resolve_override(cfg->resolve.items[i], rep->host_header, ss, len))
            resolve_override(cfg->resolve.items[i], rep->host, ss, len);
    if (*len == 0 && cfg->resolve_file) {
        FILE *f = fopen(cfg->resolve_file, "r");
        char line[512];
        while (f && *len == 0 && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n \t")] = 0;
            if (!resolve_override(line, rep->host_header, ss, len))
                resolve_override(line, rep->host, ss, len);
        }
        if (f)
            fclose(f);
    }
    if (*len > 0)
        return LOOKUP_OK;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", rep->port);
    int rc = getaddrinfo(rep->host, port, &hints, &res);
    if (rc == 0 && res && res->ai_addrlen <= sizeof *ss) {
        memcpy(ss, res->ai_addr, res->ai_addrlen);
        *len = res->ai_addrlen;
    }
    if (res)
        freeaddrinfo(res);
    if (*len > 0)
        return LOOKUP_OK;
    snprintf(why, cap, "cannot resolve %.100s: %s", rep->host,
             rc == EAI_SYSTEM ? strerror(errno) : rc ? gai_strerror(rc) : "no address");
    return rc == EAI_AGAIN || rc == EAI_SYSTEM || rc == EAI_MEMORY ? LOOKUP_TEMPORARY
                                                                   : LOOKUP_NOT_FOUND;
}

static void *resolver_main(void *arg)
{
    root_resolver *rs = arg;
    const root_config *cfg = rs->r->cfg;
    uint64_t interval_ns = (uint64_t)cfg->resolve_interval_ms * 1000000u;
    uint64_t next_all = 0; /* everything at once at start */
    pthread_mutex_lock(&rs->mu);
    while (!rs->stopping) {
        uint64_t now = sgs_now_ns();
        bool all = now >= next_all;
        if (!all && !rs->wanted_any) {
            struct timespec ts = {.tv_sec = (time_t)(next_all / 1000000000u),
                                  .tv_nsec = (long)(next_all % 1000000000u)};
            pthread_cond_timedwait(&rs->cv, &rs->mu, &ts);
            continue;
        }
        rs->wanted_any = false;
        for (uint32_t i = 0; i < rs->n; i++) {
            rs->todo[i] = all || rs->slots[i].wanted;
            rs->slots[i].wanted = false;
        }
        if (all)
            next_all = now + interval_ns;
        pthread_mutex_unlock(&rs->mu);
        for (uint32_t i = 0; i < rs->n && !rs->stopping; i++) {
            if (!rs->todo[i])
                continue;
            mailbox_slot res;
            memset(&res, 0, sizeof res);
            res.outcome = lookup(cfg, rs->reps[i], &res.addr, &res.addr_len, res.error,
                                 sizeof res.error);
            res.fresh = true;
            pthread_mutex_lock(&rs->mu);
            res.wanted = rs->slots[i].wanted;
            rs->slots[i] = res;
            pthread_mutex_unlock(&rs->mu);
        }
        atomic_store(&rs->posted, true);
        sgs_evloop_wake(rs->r->loop);
        pthread_mutex_lock(&rs->mu);
    }
    pthread_mutex_unlock(&rs->mu);
    atomic_store(&rs->done, true);
    return NULL;
}

int root_resolve_start(root *r, sgs_err *err)
{
    root_resolver *rs = sgs_xcalloc(1, sizeof *rs);
    rs->r = r;
    for (uint32_t i = 0; i < r->n_shards; i++)
        rs->n += r->shards[i].n_replicas;
    rs->reps = sgs_xcalloc(rs->n ? rs->n : 1, sizeof *rs->reps);
    rs->slots = sgs_xcalloc(rs->n ? rs->n : 1, sizeof *rs->slots);
    rs->todo = sgs_xcalloc(rs->n ? rs->n : 1, sizeof *rs->todo);
    uint32_t k = 0;
    for (uint32_t i = 0; i < r->n_shards; i++)
        for (uint32_t j = 0; j < r->shards[i].n_replicas; j++) {
            root_replica *rep = &r->shards[i].replicas[j];
            rep->resolve_slot = k;
            rs->reps[k++] = rep;
        }
    pthread_mutex_init(&rs->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rs->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->resolver = rs;
    if (pthread_create(&rs->thread, NULL, resolver_main, rs) != 0)
        return sgs_err_set(err, SGS_EINTERNAL, "pthread_create (resolver): %s", strerror(errno));
    rs->started = true;
    return 0;
}

bool root_resolve_stop(root *r)
{
    root_resolver *rs = r->resolver;
    if (rs == NULL)
        return true;
    pthread_mutex_lock(&rs->mu);
    rs->stopping = true;
    pthread_cond_signal(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
    if (rs->started) {
        /* A lookup may hang (DNS, a file that never ends): wait a while,
         * then leave the thread and its state to the process exit. */
        uint64_t until = sgs_now_ns() + 2000000000ull;
        while (!atomic_load(&rs->done) && sgs_now_ns() < until) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (!atomic_load(&rs->done)) {
            sgs_log(SGS_LOG_WARN, "resolver_stuck", "a lookup has not returned; not waiting");
            return false;
        }
        pthread_join(rs->thread, NULL);
    }
    pthread_cond_destroy(&rs->cv);
    pthread_mutex_destroy(&rs->mu);
    free(rs->reps);
    free(rs->slots);
    free(rs->todo);
    free(rs);
    r->resolver = NULL;
    return true;
}

void root_resolve_request(root *r, root_replica *rep)
{
    root_resolver *rs = r->resolver;
    if (rs == NULL) /* stopped at shutdown: a failing probe may still ask */
        return;
    pthread_mutex_lock(&rs->mu);
    rs->slots[rep->resolve_slot].wanted = true;
    rs->wanted_any = true;
    pthread_cond_signal(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
}

static void address_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
        port = ntohs(sin->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
        port = ntohs(sin6->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    } else
        snprintf(out, cap, "?");
}

void root_resolve_apply(root *r, void (*changed)(root *r, root_replica *rep, bool was_resolved))
{
    root_resolver *rs = r->resolver;
    if (rs == NULL || !atomic_exchange(&rs->posted, false))
        return;
    pthread_mutex_lock(&rs->mu);
    for (uint32_t i = 0; i < rs->n; i++) {
        mailbox_slot *sl = &rs->slots[i];
        if (!sl->fresh)
            continue;
        sl->fresh = false;
        root_replica *rep = rs->reps[i];
        rep->lookups++;
        bool was = rep->addr_len > 0;
        if (sl->outcome == LOOKUP_OK) {
            bool same = was && rep->addr_len == sl->addr_len &&
                        memcmp(&rep->addr, &sl->addr, sl->addr_len) == 0;
            if (same)
                continue;
            memcpy(&rep->addr, &sl->addr, sl->addr_len);
            rep->addr_len = sl->addr_len;
            address_text(&rep->addr, rep->addr_text, sizeof rep->addr_text);
            sgs_log(SGS_LOG_INFO, was ? "replica_moved" : "replica_resolved",
                    "shard %u replica %s at %s", rep->shard->id, rep->url, rep->addr_text);
            if (strcmp(rep->last_error_type, "unresolved") == 0) {
                rep->last_error[0] = 0;
                rep->last_error_type[0] = 0;
            }
            changed(r, rep, was);
        } else if (sl->outcome == LOOKUP_NOT_FOUND || !was) {
            /* Gone from DNS (or never found): not ready, never asked. */
            snprintf(rep->last_error, sizeof rep->last_error, "%s", sl->error);
            snprintf(rep->last_error_type, sizeof rep->last_error_type, "unresolved");
            if (was)
                sgs_log(SGS_LOG_WARN, "replica_unresolved", "shard %u replica %s: %s",
                        rep->shard->id, rep->url, sl->error);
            rep->addr_len = 0;
            rep->addr_text[0] = 0;
            rep->probe_ok = false;
            if (was)
                changed(r, rep, was);
        }
        /* A temporary failure keeps the address it had. */
    }
    pthread_mutex_unlock(&rs->mu);
}
