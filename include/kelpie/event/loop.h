/* The reactor: one loop per worker. It waits for readiness on registered file
 * descriptors (through a backend chosen by `events { use ...; }`), dispatches
 * to handlers, runs posted (deferred) events after I/O, then expired timers.
 * All state lives in struct kp_loop; there are no globals, so a loop can run in
 * a process or a thread unchanged.
 *
 * Readiness contract (holds for every backend): a handler is called when its
 * fd MAY be ready for the events of interest. Handlers read and write until
 * EAGAIN; a handler that stops early on purpose (e.g. a full buffer) and wants
 * to continue later must kp_loop_post() itself, because the epoll backend is
 * edge-triggered and will not report the same readiness again. */
#ifndef KP_LOOP_H
#define KP_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "kelpie/core/cycle.h"
#include "kelpie/core/log.h"
#include "kelpie/core/time.h"
#include "kelpie/event/timer.h"

enum {
    KP_EV_READ = 1u << 0,
    KP_EV_WRITE = 1u << 1,
    KP_EV_ERROR = 1u << 2,   /* reported together with READ|WRITE for the interest set */
};

struct kp_loop;
struct kp_io;
typedef void (*kp_io_fn)(struct kp_loop *loop, struct kp_io *io, unsigned events);

/* One registered descriptor. Embedded in its owner (a connection, a listener). */
struct kp_io {
    int fd;
    unsigned interest;       /* KP_EV_READ | KP_EV_WRITE currently registered */
    kp_io_fn handler;
    void *data;
    bool registered;
    bool posted;             /* on the posted queue */
    unsigned posted_events;
    struct kp_io *posted_next;
    uint32_t gen;            /* bumped on del: stale events from one wait are dropped */
};

struct kp_loop_backend;      /* ops table: one per backend file */

struct kp_loop {
    const struct kp_loop_backend *ops;
    void *bstate;            /* backend state */
    struct kp_timer_heap timers;
    struct kp_io *posted_head, *posted_tail;
    struct kp_clock clock;
    const struct kp_log *log;
    unsigned max_fds;
    bool stop;
};

/* max_fds: how many descriptors may be registered at once (worker_connections
 * plus listeners). Returns 0 or -errno. */
int kp_loop_init(struct kp_loop *loop, enum kp_event_use use, unsigned max_fds,
                 const struct kp_log *log);
void kp_loop_free(struct kp_loop *loop);
const char *kp_loop_backend_name(const struct kp_loop *loop);

void kp_io_init(struct kp_io *io, int fd, kp_io_fn handler, void *data);
/* Register io for `interest`, or change its interest. Returns 0, -errno, or
 * -EMFILE for select when fd >= FD_SETSIZE (the caller closes the fd). */
int kp_loop_set(struct kp_loop *loop, struct kp_io *io, unsigned interest);
/* Unregister; also drops it from the posted queue. Call before close(fd). */
int kp_loop_del(struct kp_loop *loop, struct kp_io *io);
/* Call io->handler(loop, io, events) after the current I/O dispatch. */
void kp_loop_post(struct kp_loop *loop, struct kp_io *io, unsigned events);

/* Timer helpers on the loop's heap and clock. */
void kp_loop_timer_add(struct kp_loop *loop, struct kp_timer *t, uint64_t delay_ms);
void kp_loop_timer_del(struct kp_loop *loop, struct kp_timer *t);

/* One iteration: wait at most max_wait_ms (-1: until the next timer or an
 * event), dispatch I/O, run posted events, refresh the clock, run timers.
 * Returns 0, or -errno on a backend failure (EINTR is 0: a signal arrived). */
int kp_loop_run_once(struct kp_loop *loop, int max_wait_ms);

#endif
