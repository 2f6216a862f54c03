/* A single-threaded event loop: epoll for sockets, a binary min-heap of
 * timers kept intrusive in their owners' structs, and an eventfd through
 * which other threads wake the loop to hand it work.
 *
 * Invariants: every function except sgs_evloop_wake() and sgs_evloop_stop()
 * is called from the loop's own thread (or before it starts). An io watcher
 * and a timer are caller storage that must stay put while registered or
 * armed. Watchers are level-triggered. Timers fire in deadline order, each at
 * most once per arming; a callback may arm, cancel or free any timer or
 * watcher, including its own. */
#ifndef SGS_COMMON_EVLOOP_H
#define SGS_COMMON_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

typedef struct sgs_evloop sgs_evloop;
typedef struct sgs_ev_io sgs_ev_io;
typedef struct sgs_ev_timer sgs_ev_timer;

/* events: EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP as reported. */
typedef void (*sgs_ev_io_fn)(sgs_ev_io *io, uint32_t events);
typedef void (*sgs_ev_timer_fn)(sgs_ev_timer *t);

/* An fd watcher; caller storage. fd and events are private once added. */
struct sgs_ev_io {
    int fd;
    uint32_t events;
    sgs_ev_io_fn fn;
};

/* A timer; caller storage. Initialise with sgs_ev_timer_init. */
struct sgs_ev_timer {
    uint64_t at_ns;    /* private: CLOCK_MONOTONIC deadline */
    uint32_t heap_idx; /* private: position in the heap, UINT32_MAX when idle */
    sgs_ev_timer_fn fn;
};

/* A wake-up watcher: a function run on the loop thread after every
 * sgs_evloop_wake(), for a module that shares a loop it does not own.
 * Caller storage; both fields are private once added. */
typedef struct sgs_ev_wake sgs_ev_wake;
typedef void (*sgs_ev_wake_fn)(sgs_ev_wake *w);
struct sgs_ev_wake {
    sgs_ev_wake_fn fn;
    sgs_ev_wake *next;
};

/* A new loop (epoll instance and eventfd). NULL and err set (SGS_EIO naming
 * the call). Free with sgs_evloop_free(). */
sgs_evloop *sgs_evloop_new(sgs_err *err);

/* Frees the loop; registered watchers and armed timers are forgotten, not
 * closed. NULL is a no-op. */
void sgs_evloop_free(sgs_evloop *l);

/* Starts watching fd for events (EPOLLIN, EPOLLOUT, EPOLLRDHUP) with fn.
 * 0, or SGS_EIO naming epoll_ctl. */
int sgs_evloop_io_add(sgs_evloop *l, sgs_ev_io *io, int fd, uint32_t events, sgs_ev_io_fn fn,
                      sgs_err *err);

/* Changes the events watched (no system call when they are unchanged). */
int sgs_evloop_io_mod(sgs_evloop *l, sgs_ev_io *io, uint32_t events, sgs_err *err);

/* Stops watching; call before closing the fd. Pending events for it from the
 * current round are not delivered. */
void sgs_evloop_io_del(sgs_evloop *l, sgs_ev_io *io);

/* Initialises an idle timer that calls fn when it fires. */
void sgs_ev_timer_init(sgs_ev_timer *t, sgs_ev_timer_fn fn);

/* Arms (or re-arms) t for the absolute CLOCK_MONOTONIC time at_ns. */
void sgs_evloop_timer_arm(sgs_evloop *l, sgs_ev_timer *t, uint64_t at_ns);

/* Disarms t; a no-op when idle. */
void sgs_evloop_timer_cancel(sgs_evloop *l, sgs_ev_timer *t);

/* True while t is armed. */
bool sgs_ev_timer_armed(const sgs_ev_timer *t);

/* Sets the loop owner's function run on the loop thread after
 * sgs_evloop_wake(). */
void sgs_evloop_on_wake(sgs_evloop *l, void (*fn)(void *ctx), void *ctx);

/* Also runs fn(w) on the loop thread after every sgs_evloop_wake(), after
 * the owner's function. w must stay put until sgs_evloop_wake_del(). */
void sgs_evloop_wake_add(sgs_evloop *l, sgs_ev_wake *w, sgs_ev_wake_fn fn);

/* Stops running w's function (a no-op when w is not added); a wake
 * function may delete any watcher, its own included. */
void sgs_evloop_wake_del(sgs_evloop *l, sgs_ev_wake *w);

/* Any thread: makes the loop run its wake functions soon. Wakes coalesce:
 * every wake before the functions start is served by that one run, so each
 * function checks its own state (written before the wake, read with
 * seq_cst: the loop clears its pending flag before running them). */
void sgs_evloop_wake(sgs_evloop *l);

/* Any thread: makes sgs_evloop_run() return after the current round. */
void sgs_evloop_stop(sgs_evloop *l);

/* Runs one round: waits up to max_wait_ms (-1: until the next timer) for
 * events, dispatches them, then fires due timers. Returns the number of
 * callbacks run. */
int sgs_evloop_run_once(sgs_evloop *l, int max_wait_ms);

/* Runs rounds until sgs_evloop_stop(). */
void sgs_evloop_run(sgs_evloop *l);

/* The time at the start of the current round (CLOCK_MONOTONIC ns). */
uint64_t sgs_evloop_now(const sgs_evloop *l);

#endif
