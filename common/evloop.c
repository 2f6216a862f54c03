/* Event loop: epoll, an intrusive timer heap and an eventfd wake-up. */
#include "common/evloop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/mem.h"

#define MAX_EVENTS 256

struct sgs_evloop {
    int epfd;
    sgs_ev_io wake_io;
    void (*wake_fn)(void *ctx);
    void *wake_ctx;
    sgs_ev_wake *wakes;     /* sgs_evloop_wake_add()ed watchers */
    sgs_ev_wake *wake_next; /* the next to run while wake_ready() walks wakes */
    _Atomic int wake_pending; /* writers: sgs_evloop_wake (1), the loop (0) */
    _Atomic int stop;         /* writer: sgs_evloop_stop */
    uint64_t now_ns;
    sgs_ev_timer **heap;
    uint32_t n_heap, cap_heap;
    struct epoll_event events[MAX_EVENTS];
    int n_events; /* events of the round being dispatched */
};

static void heap_swap(sgs_evloop *l, uint32_t a, uint32_t b)
{
    sgs_ev_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(sgs_evloop *l, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (l->heap[p]->at_ns <= l->heap[i]->at_ns)
            break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(sgs_evloop *l, uint32_t i)
{
    for (;;) {
        uint32_t c = 2 * i + 1, m = i;
        if (c < l->n_heap && l->heap[c]->at_ns < l->heap[m]->at_ns)
            m = c;
        if (c + 1 < l->n_heap && l->heap[c + 1]->at_ns < l->heap[m]->at_ns)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

void sgs_ev_timer_init(sgs_ev_timer *t, sgs_ev_timer_fn fn)
{
    t->at_ns = 0;
    t->heap_idx = UINT32_MAX;
    t->fn = fn;
}

bool sgs_ev_timer_armed(const sgs_ev_timer *t)
{
    return t->heap_idx != UINT32_MAX;
}

void sgs_evloop_timer_cancel(sgs_evloop *l, sgs_ev_timer *t)
{
    uint32_t i = t->heap_idx;
    if (i == UINT32_MAX)
        return;
    t->heap_idx = UINT32_MAX;
    l->n_heap--;
    if (i == l->n_heap)
        return;
    l->heap[i] = l->heap[l->n_heap];
    l->heap[i]->heap_idx = i;
    heap_down(l, i);
    heap_up(l, i);
}

void sgs_evloop_timer_arm(sgs_evloop *l, sgs_ev_timer *t, uint64_t at_ns)
{
    if (t->heap_idx != UINT32_MAX) {
        uint64_t old = t->at_ns;
        t->at_ns = at_ns;
        if (at_ns < old)
            heap_up(l, t->heap_idx);
        else
            heap_down(l, t->heap_idx);
        return;
    }
    if (l->n_heap == l->cap_heap) {
        l->cap_heap = l->cap_heap ? l->cap_heap * 2 : 64;
        l->heap = sgs_xrealloc(l->heap, l->cap_heap * sizeof *l->heap);
    }
    t->at_ns = at_ns;
    t->heap_idx = l->n_heap;
    l->heap[l->n_heap++] = t;
    heap_up(l, t->heap_idx);
}

static void wake_ready(sgs_ev_io *io, uint32_t events)
{
    (void)events;
    sgs_evloop *l = (sgs_evloop *)((char *)io - offsetof(sgs_evloop, wake_io));
    uint64_t v;
    ssize_t unused = read(l->wake_io.fd, &v, sizeof v);
    (void)unused;
    atomic_store(&l->wake_pending, 0);
    if (l->wake_fn)
        l->wake_fn(l->wake_ctx);
    for (sgs_ev_wake *w = l->wakes; w; w = l->wake_next) {
        l->wake_next = w->next;
        w->fn(w);
    }
    l->wake_next = NULL;
}

sgs_evloop *sgs_evloop_new(sgs_err *err)
{
    sgs_evloop *l = sgs_xcalloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        sgs_err_set(err, SGS_EIO, "epoll_create1: %s", strerror(errno));
        free(l);
        return NULL;
    }
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        sgs_err_set(err, SGS_EIO, "eventfd: %s", strerror(errno));
        close(l->epfd);
        free(l);
        return NULL;
    }
    if (sgs_evloop_io_add(l, &l->wake_io, efd, EPOLLIN, wake_ready, err) != 0) {
        close(efd);
        close(l->epfd);
        free(l);
        return NULL;
    }
    l->now_ns = sgs_now_ns();
    return l;
}

void sgs_evloop_free(sgs_evloop *l)
{
    if (l == NULL)
        return;
    close(l->wake_io.fd);
    close(l->epfd);
    free(l->heap);
    free(l);
}

int sgs_evloop_io_add(sgs_evloop *l, sgs_ev_io *io, int fd, uint32_t events, sgs_ev_io_fn fn,
                      sgs_err *err)
{
    io->fd = fd;
    io->events = events;
    io->fn = fn;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return sgs_err_set(err, SGS_EIO, "epoll_ctl add fd %d: %s", fd, strerror(errno));
    return 0;
}

int sgs_evloop_io_mod(sgs_evloop *l, sgs_ev_io *io, uint32_t events, sgs_err *err)
{
    if (io->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0)
        return sgs_err_set(err, SGS_EIO, "epoll_ctl mod fd %d: %s", io->fd, strerror(errno));
    io->events = events;
    return 0;
}

void sgs_evloop_io_del(sgs_evloop *l, sgs_ev_io *io)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    for (int i = 0; i < l->n_events; i++)
        if (l->events[i].data.ptr == io)
            l->events[i].data.ptr = NULL;
}

void sgs_evloop_on_wake(sgs_evloop *l, void (*fn)(void *ctx), void *ctx)
{
    l->wake_fn = fn;
    l->wake_ctx = ctx;
}

void sgs_evloop_wake_add(sgs_evloop *l, sgs_ev_wake *w, sgs_ev_wake_fn fn)
{
    w->fn = fn;
    w->next = l->wakes;
    l->wakes = w;
}

void sgs_evloop_wake_del(sgs_evloop *l, sgs_ev_wake *w)
{
    for (sgs_ev_wake **p = &l->wakes; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    if (l->wake_next == w)
        l->wake_next = w->next;
}

void sgs_evloop_wake(sgs_evloop *l)
{
    if (atomic_exchange(&l->wake_pending, 1) == 0) {
        uint64_t one = 1;
        ssize_t unused = write(l->wake_io.fd, &one, sizeof one);
        (void)unused;
    }
}

void sgs_evloop_stop(sgs_evloop *l)
{
    atomic_store(&l->stop, 1);
    uint64_t one = 1;
    ssize_t unused = write(l->wake_io.fd, &one, sizeof one);
    (void)unused;
}

uint64_t sgs_evloop_now(const sgs_evloop *l)
{
    return l->now_ns;
}

int sgs_evloop_run_once(sgs_evloop *l, int max_wait_ms)
{
    int wait_ms = max_wait_ms;
    if (l->n_heap > 0) {
        uint64_t now = sgs_now_ns();
        uint64_t at = l->heap[0]->at_ns;
        int64_t ms = at <= now ? 0 : (int64_t)((at - now + 999999u) / 1000000u);
        if (wait_ms < 0 || ms < wait_ms)
            wait_ms = (int)(ms > 1000000 ? 1000000 : ms);
    }
    int n = epoll_wait(l->epfd, l->events, MAX_EVENTS, wait_ms);
    l->now_ns = sgs_now_ns();
    int ran = 0;
    if (n > 0) {
        l->n_events = n;
        for (int i = 0; i < n; i++) {
            sgs_ev_io *io = l->events[i].data.ptr;
            if (io == NULL)
                continue;
            io->fn(io, l->events[i].events);
            ran++;
        }
        l->n_events = 0;
    }
    while (l->n_heap > 0 && l->heap[0]->at_ns <= l->now_ns) {
        sgs_ev_timer *t = l->heap[0];
        sgs_evloop_timer_cancel(l, t);
        t->fn(t);
        ran++;
    }
    return ran;
}

void sgs_evloop_run(sgs_evloop *l)
{
    while (!atomic_load(&l->stop))
        sgs_evloop_run_once(l, -1);
}
