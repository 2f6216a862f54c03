/* Generations: opening and verifying a shard against its manifest, the
 * epoch-protected swap on reload, and each worker thread's epoch record. */
#include "leaf/leaf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/manifest.h"
#include "common/mem.h"

/* ThreadSanitizer cannot see ck_epoch's fences (inline assembly), so a TSan
 * build tells it what they guarantee: a section's reads happen before the
 * generation is freed after ck_epoch_synchronize(). */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define TSAN_RELEASE(p) __tsan_release((void *)(p))
#else
#define TSAN_ACQUIRE(p) ((void)(p))
#define TSAN_RELEASE(p) ((void)(p))
#endif

const leaf_gen *leaf_gen_enter(leaf *l, leaf_thread *t, ck_epoch_section_t *section)
{
    ck_epoch_begin(&t->record, section);
    return atomic_load_explicit(&l->current, memory_order_acquire);
}

void leaf_gen_leave(leaf_thread *t, ck_epoch_section_t *section, const leaf_gen *g)
{
    TSAN_RELEASE(g);
    ck_epoch_end(&t->record, section);
}

/* The ordinal at the end of a StatefulSet pod name: "sgs-leaf-7" is 7. */
static int ordinal_of_hostname(const char *name, int64_t *ordinal, sgs_err *err)
{
    size_t n = strlen(name);
    size_t i = n;
    while (i > 0 && isdigit((unsigned char)name[i - 1]))
        i--;
    if (i == n || i == 0 || name[i - 1] != '-' || n - i > 9)
        return sgs_err_set(err, SGS_EUSAGE,
                           "hostname '%s' does not end in -<ordinal> (like sgs-leaf-7)", name);
    *ordinal = strtoll(name + i, NULL, 10);
    return 0;
}

int leaf_resolve_shard(const leaf_config *cfg, uint32_t n_shards, uint32_t *shard_index,
                       sgs_err *err)
{
    if (n_shards == 0)
        return sgs_err_set(err, SGS_ECORRUPT, "the manifest lists no shards");
    if (cfg->shard >= 0) {
        if ((uint64_t)cfg->shard >= n_shards)
            return sgs_err_set(err, SGS_EUSAGE, "--shard %lld but the index has %u shards",
                               (long long)cfg->shard, n_shards);
        *shard_index = (uint32_t)cfg->shard;
        return 0;
    }
    int64_t ordinal = cfg->ordinal;
    if (ordinal < 0) {
        if (!cfg->shard_from_hostname)
            return sgs_err_set(err, SGS_EUSAGE,
                               "which shard? give --shard, --ordinal or --shard-from-hostname");
        char host[256];
        const char *name = cfg->hostname;
        if (name == NULL) {
            if (gethostname(host, sizeof host) != 0)
                return sgs_err_set(err, SGS_EUSAGE, "gethostname: %s", strerror(errno));
            host[sizeof host - 1] = '\0';
            name = host;
        }
        if (ordinal_of_hostname(name, &ordinal, err) != 0)
            return SGS_EUSAGE;
    }
    *shard_index = (uint32_t)((uint64_t)ordinal % n_shards);
    return 0;
}

leaf_gen *leaf_gen_open(const leaf_config *cfg, sgs_err *err)
{
    leaf_gen *g = NULL;
    char *path = NULL;
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/%s", cfg->index_dir, SGS_MANIFEST_FILE);
    sgs_manifest *m = sgs_manifest_read(mpath, err);
    if (m == NULL)
        goto fail;
    uint32_t slot;
    if (leaf_resolve_shard(cfg, m->n_shards, &slot, err) != 0)
        goto fail;
    const sgs_manifest_shard *ms = &m->shards[slot];
    size_t plen = strlen(cfg->index_dir) + strlen(ms->file) + 2;
    path = sgs_xmalloc(plen);
    snprintf(path, plen, "%s/%s", cfg->index_dir, ms->file);
    /* The shard is loaded into memory of its own once; the manifest's size
     * and XXH3 are checked against those loaded bytes, the ones served. */
    g = sgs_xcalloc(1, sizeof *g);
    g->shard = sgs_shard_open(path, 0, err);
    if (g->shard == NULL)
        goto fail;
    uint64_t xxh3 = 0, size = sgs_shard_file_size(g->shard);
    if (!sgs_shard_file_xxh3(g->shard, &xxh3) || size != ms->bytes || xxh3 != ms->xxh3) {
        sgs_err_set(err, SGS_ECORRUPT,
                    "%s: %llu bytes with XXH3 %016llx, but the manifest says %llu bytes, %016llx",
                    path, (unsigned long long)size, (unsigned long long)xxh3,
                    (unsigned long long)ms->bytes, (unsigned long long)ms->xxh3);
        goto fail;
    }
    if (sgs_shard_verify_checksums(g->shard, err) != 0 ||
        sgs_shard_verify_structure(g->shard, err) != 0)
        goto fail;
    const sgs_shard_header *h = sgs_shard_header_get(g->shard);
    if (h->shard_id != slot || h->shard_count != m->n_shards || h->generation != m->generation ||
        h->n_docs != ms->docs) {
        sgs_err_set(err, SGS_ECORRUPT,
                    "%s: header says shard %u of %u, generation %016llx, %llu docs; the manifest "
                    "says shard %u of %u, generation %016llx, %llu docs",
                    path, h->shard_id, h->shard_count, (unsigned long long)h->generation,
                    (unsigned long long)h->n_docs, slot, m->n_shards,
                    (unsigned long long)m->generation, (unsigned long long)ms->docs);
        goto fail;
    }
    g->generation = h->generation;
    snprintf(g->generation_hex, sizeof g->generation_hex, "%016llx",
             (unsigned long long)h->generation);
    g->shard_id = h->shard_id;
    g->shard_count = h->shard_count;
    g->n_docs = h->n_docs;
    g->corpus_n_docs = h->corpus_n_docs;
    sgs_buf names;
    sgs_buf_init(&names);
    sgs_buf_putc(&names, '[');
    for (size_t i = 0; i < m->n_stored_fields; i++) {
        sgs_buf_append(&names, i ? ",\"" : "\"", i ? 2 : 1);
        sgs_buf_json_escape(&names, m->stored_fields[i], strlen(m->stored_fields[i]));
        sgs_buf_putc(&names, '"');
    }
    sgs_buf_putc(&names, ']');
    g->stored_fields_json = sgs_xstrndup((const char *)names.data, names.len);
    sgs_buf_fini(&names);
    free(path);
    sgs_manifest_free(m);
    return g;
fail:
    leaf_gen_free(g);
    free(path);
    sgs_manifest_free(m);
    return NULL;
}

void leaf_gen_free(leaf_gen *g)
{
    if (g == NULL)
        return;
    sgs_shard_close(g->shard);
    free(g->stored_fields_json);
    free(g);
}

void leaf_generations_init(leaf *l, leaf_gen *first)
{
    ck_epoch_init(&l->epoch);
    ck_epoch_register(&l->epoch, &l->reload_record, NULL);
    pthread_mutex_init(&l->reload_lock, NULL);
    pthread_mutex_init(&l->error_lock, NULL);
    l->last_reload_error[0] = '\0';
    atomic_init(&l->reloads, 0);
    atomic_init(&l->reload_failures, 0);
    atomic_init(&l->generation_now, first->generation);
    atomic_init(&l->current, first);
}

void leaf_generations_fini(leaf *l)
{
    leaf_gen_free(atomic_load(&l->current));
    atomic_store(&l->current, NULL);
    ck_epoch_unregister(&l->reload_record);
    pthread_mutex_destroy(&l->reload_lock);
    pthread_mutex_destroy(&l->error_lock);
}

int leaf_reload(leaf *l, sgs_err *err)
{
    pthread_mutex_lock(&l->reload_lock);
    leaf_gen *g = leaf_gen_open(l->cfg, err);
    if (g == NULL) {
        atomic_fetch_add(&l->reload_failures, 1);
        sgs_counter_inc(l->metrics.reload_failures);
        pthread_mutex_lock(&l->error_lock);
        snprintf(l->last_reload_error, sizeof l->last_reload_error, "%s", err->msg);
        pthread_mutex_unlock(&l->error_lock);
        pthread_mutex_unlock(&l->reload_lock);
        sgs_log(SGS_LOG_ERROR, "reload_failed", "keeping the serving generation: %s", err->msg);
        return err->code ? err->code : SGS_EINTERNAL;
    }
    leaf_gen *old = atomic_exchange_explicit(&l->current, g, memory_order_acq_rel);
    atomic_store(&l->generation_now, g->generation);
    sgs_gauge_set(l->metrics.docs, (int64_t)g->n_docs);
    /* Every section that began before the exchange may still use old. */
    ck_epoch_synchronize(&l->reload_record);
    TSAN_ACQUIRE(old);
    leaf_gen_free(old);
    atomic_fetch_add(&l->reloads, 1);
    sgs_counter_inc(l->metrics.reloads);
    pthread_mutex_lock(&l->error_lock);
    l->last_reload_error[0] = '\0';
    pthread_mutex_unlock(&l->error_lock);
    sgs_log(SGS_LOG_INFO, "reload", "serving shard %u of %u, generation %s, %llu docs",
            g->shard_id, g->shard_count, g->generation_hex, (unsigned long long)g->n_docs);
    pthread_mutex_unlock(&l->reload_lock);
    return 0;
}

void leaf_last_reload_error(leaf *l, char *out, size_t cap)
{
    pthread_mutex_lock(&l->error_lock);
    snprintf(out, cap, "%s", l->last_reload_error);
    pthread_mutex_unlock(&l->error_lock);
}

void *leaf_thread_new(void *leaf_ptr)
{
    leaf *l = leaf_ptr;
    leaf_thread *t = sgs_xcalloc(1, sizeof *t);
    ck_epoch_register(&l->epoch, &t->record, NULL);
    sgs_arena_init(&t->arena, 64 * 1024);
    return t;
}

void leaf_thread_free(void *leaf_ptr, void *state)
{
    (void)leaf_ptr;
    leaf_thread *t = state;
    ck_epoch_unregister(&t->record);
    sgs_arena_fini(&t->arena);
    free(t);
}

/* ---- the reloader thread ------------------------------------------------- */

/* Sets the answer of a finished reload on req and sends it. The reloader
 * alone swaps and frees generations, so it reads the current one without an
 * epoch section. */
static void answer_waiter(leaf *l, sgs_http_request *req, int rc, const char *msg)
{
    if (rc != 0) {
        sgs_http_reply_error(req, rc, msg);
    } else {
        const leaf_gen *g = atomic_load_explicit(&l->current, memory_order_acquire);
        sgs_http_reply(req, 200, "application/json");
        sgs_buf_printf(sgs_http_reply_body(req),
                       "{\"reloaded\":true,\"shard\":%u,\"generation\":\"%s\",\"n_docs\":%llu}",
                       g->shard_id, g->generation_hex, (unsigned long long)g->n_docs);
    }
    sgs_http_complete(req);
}

/* Answers and frees every waiter of a list taken off the reloader's lists. */
static void answer_all(leaf *l, leaf_reload_waiter *w, int rc, const char *msg)
{
    while (w != NULL) {
        leaf_reload_waiter *next = w->next;
        answer_waiter(l, w->req, rc, msg);
        free(w);
        w = next;
    }
}

static void *reloader_main(void *leaf_ptr)
{
    leaf *l = leaf_ptr;
    leaf_reloader *r = &l->reloader;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->stop && !r->asked && r->queued == NULL)
            pthread_cond_wait(&r->wake, &r->lock);
        if (r->stop)
            break;
        r->asked = false;
        r->running = r->queued;
        r->queued = NULL;
        pthread_mutex_unlock(&r->lock);
        sgs_err err = {0};
        int rc = leaf_reload(l, &err);
        pthread_mutex_lock(&r->lock);
        leaf_reload_waiter *done = r->running;
        r->running = NULL;
        pthread_mutex_unlock(&r->lock);
        answer_all(l, done, rc, err.msg);
        pthread_mutex_lock(&r->lock);
    }
    r->exited = true;
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

void leaf_reloader_start(leaf *l)
{
    leaf_reloader *r = &l->reloader;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->idle, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&r->thread, NULL, reloader_main, l) != 0) {
        sgs_log(SGS_LOG_ERROR, "startup_failed", "cannot start the reloader thread");
        abort();
    }
    r->started = true;
}

void leaf_reload_ask(leaf *l, sgs_http_request *req)
{
    leaf_reloader *r = &l->reloader;
    leaf_reload_waiter *w = NULL;
    if (req != NULL) {
        w = sgs_xmalloc(sizeof *w);
        w->req = req;
    }
    pthread_mutex_lock(&r->lock);
    if (r->stop) {
        pthread_mutex_unlock(&r->lock);
        if (w != NULL) {
            free(w);
            answer_waiter(l, req, SGS_EDRAINING, "the leaf is shutting down");
        }
        return;
    }
    if (w != NULL) {
        w->next = r->queued;
        r->queued = w;
    } else {
        r->asked = true;
    }
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

bool leaf_reloader_stop(leaf *l, uint64_t deadline_ns)
{
    leaf_reloader *r = &l->reloader;
    if (!r->started)
        return true;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    leaf_reload_waiter *queued = r->queued;
    r->queued = NULL;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    answer_all(l, queued, SGS_EDRAINING, "the leaf is shutting down; reload not started");

    pthread_mutex_lock(&r->lock);
    struct timespec until = {(time_t)(deadline_ns / 1000000000u),
                             (long)(deadline_ns % 1000000000u)};
    while (!r->exited) {
        if (pthread_cond_timedwait(&r->idle, &r->lock, &until) == ETIMEDOUT)
            break;
    }
    bool exited = r->exited;
    leaf_reload_waiter *stuck = exited ? NULL : r->running;
    if (!exited)
        r->running = NULL;
    pthread_mutex_unlock(&r->lock);
    if (!exited) {
        sgs_log(SGS_LOG_WARN, "reload_abandoned",
                "a reload is still running at the drain timeout; exiting without it");
        answer_all(l, stuck, SGS_EDRAINING,
                   "the leaf is shutting down; the reload did not finish in the drain timeout");
        return false;
    }
    pthread_join(r->thread, NULL);
    r->started = false;
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->idle);
    return true;
}
