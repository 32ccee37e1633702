/* Work handed from a reactor to a pool of threads and back, for the
 * simulated proactor (`events { model sim_proactor threads=N; }`, see
 * http/proactor.h): the reactor submits a task, a pool thread runs it, and
 * the reactor's loop is woken (an eventfd it watches) to finish it.
 *
 * A task belongs to its submitter until submitted, to the pool while it
 * runs, and to the loop's thread again when done() is called there (or when
 * kp_offload_wait returns): run() and done() never overlap, and whatever
 * run() wrote is visible to done() (the pool's mutex orders them). */
#ifndef KP_OFFLOAD_H
#define KP_OFFLOAD_H

#include <stdbool.h>

#include "kelpie/util/log.h"
#include "kelpie/event/loop.h"

struct kp_offload_task;
/* In a pool thread, with that thread's context from thread_init. */
typedef void (*kp_offload_run_fn)(void *thread_ctx, struct kp_offload_task *t);
/* In the loop's thread, once run() returned. */
typedef void (*kp_offload_done_fn)(struct kp_offload_task *t);
/* A pool thread's own context, made in that thread before its first task
 * (NULL is a valid context) and released by thread_exit there. */
typedef void *(*kp_offload_init_fn)(void *arg, unsigned thread);
typedef void (*kp_offload_exit_fn)(void *thread_ctx);

/* Embedded in the submitter's object; all fields belong to the pool. */
struct kp_offload_task {
    struct kp_offload_task *next;
    kp_offload_run_fn run;
    kp_offload_done_fn done;
    bool finished;
};

struct kp_offload;

struct kp_offload_opts {
    unsigned threads; /* at least 1 */
    kp_offload_init_fn thread_init;
    kp_offload_exit_fn thread_exit;
    void *arg;
    const char *name; /* thread names: "NAME N" (at most 10 bytes) */
};

/* Start the pool's threads (every signal blocked in them) and watch its
 * eventfd in loop. Returns 0 and *out, or -errno (logged in log). */
int kp_offload_create(struct kp_offload **out, struct kp_loop *loop,
                      const struct kp_offload_opts *o, const struct kp_log *log);
/* Queue t; its done() runs in the loop's thread after its run(). The tasks
 * submitted in one loop turn reach the threads together, after the turn's
 * I/O dispatch (one lock and one wake-up for all; each thread then takes
 * its share of the queue, at most 8, and gives them back together). */
void kp_offload_submit(struct kp_offload *p, struct kp_offload_task *t, kp_offload_run_fn run,
                       kp_offload_done_fn done);
/* Block until t's run() returned; its done() is then never called (the
 * caller takes it back now, e.g. to close its connection). t must have been
 * submitted and not yet done. */
void kp_offload_wait(struct kp_offload *p, struct kp_offload_task *t);
/* Tasks submitted whose done() has not run yet. */
unsigned kp_offload_pending(const struct kp_offload *p);
/* Stop and join the threads once the queue is empty, stop watching the
 * eventfd and release everything (NULL is harmless). Tasks finished but not
 * yet done are dropped: call when none is left (kp_offload_pending). */
void kp_offload_destroy(struct kp_offload *p);

#endif
