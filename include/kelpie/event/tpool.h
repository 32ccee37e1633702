/* Thread pools for blocking work (nginx's `thread_pool` and `aio threads`):
 * a reactor hands a task (a read or a sendfile of a file that is not in the
 * page cache) to a pool thread, so that a slow disk never stalls the loop,
 * and gets it back through a port: an eventfd registered in its own loop,
 * whose handler runs each finished task's done callback in the reactor's
 * thread.
 *
 * Shape: the pools (struct kp_tpools) belong to a worker process and are
 * started after fork, one set shared by every reactor thread of the process
 * (worker_threads N); each reactor has one port. A task is posted to a pool
 * with the port it returns to.
 *
 * Ownership: between kp_tpool_post and its done callback (or
 * kp_task_port_forget) the task and everything its work touches belong to
 * the pool thread; the reactor must leave them alone. Everything that
 * passes between the threads passes under a mutex, so the hand-off is
 * race-free (ThreadSanitizer checks it in CI). */
#ifndef KP_TPOOL_H
#define KP_TPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "kelpie/util/log.h"
#include "kelpie/event/conf.h"
#include "kelpie/event/loop.h"

struct kp_task;
typedef void (*kp_task_fn)(struct kp_task *t);

/* One piece of blocking work. The caller fills work, done and data; the
 * rest is the pool's. */
struct kp_task {
    kp_task_fn work; /* in a pool thread: may block */
    kp_task_fn done; /* then in the posting reactor's thread, from its loop */
    void *data;
    struct kp_task_port *port;
    struct kp_task *next;
    bool finished; /* work returned (guarded by the port's mutex) */
};

/* Where finished tasks come back to one reactor. */
struct kp_task_port {
    struct kp_io io; /* the eventfd, readable while finished tasks wait */
    struct kp_loop *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;                     /* signalled when a task finishes */
    struct kp_task *done_head, *done_tail; /* finished, done not yet called */
    unsigned running;                      /* posted and not finished */
    bool open;
};

/* One pool: its threads and the queue of tasks waiting for one of them. */
struct kp_tpool {
    const char *name;
    unsigned max_queue;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct kp_task *head, *tail;
    unsigned waiting; /* tasks in the queue (not the ones running) */
    bool stop;
    pthread_t *tids;
    unsigned started;
    const struct kp_log *log;
    bool prio_failed; /* lowering a thread's priority failed (logged once; under mu) */
};

/* Every pool of a worker process. */
struct kp_tpools {
    struct kp_tpool *pools;
    size_t n;
};

/* How many nice steps a pool thread runs below its worker's reactors. */
#define KP_TPOOL_NICE_STEP 10

/* Start one pool per entry of confs (n of them; the names must outlive the
 * pools and log the set), each thread with every signal blocked, named
 * "pool NAME", and running below the reactors: scheduling policy
 * SCHED_BATCH at KP_TPOOL_NICE_STEP above the worker's nice value (at most
 * 19; a thread that cannot lower itself stays as it is, logged once).
 * Returns 0, or -errno when a thread cannot be created (logged to log; the
 * pools already started are stopped). Call after fork, never before. */
int kp_tpools_start(struct kp_tpools *set, const struct kp_tpool_conf *confs, size_t n,
                    const struct kp_log *log);
/* Let every thread finish what is queued, then join them and free the set.
 * Every port must be closed first. Blocks. Harmless on an empty set. */
void kp_tpools_stop(struct kp_tpools *set);
/* The pool named name, or NULL. */
struct kp_tpool *kp_tpools_find(const struct kp_tpools *set, const char *name);

/* Queue t (work, done and data set) for tp, to come back to port.
 * Returns 0, or -EAGAIN when max_queue tasks already wait (nginx's queue
 * overflow; *waiting then says how many, for the caller's log line). */
int kp_tpool_post(struct kp_tpool *tp, struct kp_task_port *port, struct kp_task *t,
                  unsigned *waiting);

/* Create the port's eventfd and register it for reading in loop. Returns 0
 * or -errno (nothing left open). */
int kp_task_port_open(struct kp_task_port *port, struct kp_loop *loop);
/* Wait until every task posted to the port has finished (their done
 * callbacks are not called), then unregister and close it. Blocks for as
 * long as the slowest task. Harmless on a port never opened. */
void kp_task_port_close(struct kp_task_port *port);
/* Wait until t (posted to port) has finished and take it back without
 * calling its done callback: for a reactor that must free what the task
 * uses now (a connection closed by a stop). Blocks. */
void kp_task_port_forget(struct kp_task_port *port, struct kp_task *t);

#endif
