/* Thread pools and the ports that bring finished tasks back to a reactor
 * (see tpool.h). A pool is a mutex-guarded FIFO and threads sleeping on a
 * condition variable; a port is an eventfd plus a mutex-guarded list of
 * finished tasks, drained by the eventfd's handler in the reactor. */
#include "kelpie/event/tpool.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"

/* --- the FIFOs: the pool's queue and a port's finished list, both under a mutex --- */

static void append(struct kp_task **head, struct kp_task **tail, struct kp_task *t)
{
    t->next = NULL;
    if (*tail != NULL)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

/* The first task, taken off; NULL when there is none. */
static struct kp_task *shift(struct kp_task **head, struct kp_task **tail)
{
    struct kp_task *t = *head;

    if (t != NULL) {
        *head = t->next;
        if (*head == NULL)
            *tail = NULL;
    }
    return t;
}

/* --- the pool side ------------------------------------------------------------------- */

/* Hand a finished task to its port and wake the reactor. The eventfd is
 * written under the port's mutex: once the reactor sees nothing running
 * (kp_task_port_close) no thread touches the descriptor any more. The
 * reactor reads the eventfd before taking tasks, so a task pushed after
 * that read raises a new wake-up. */
static void finish(struct kp_task *t)
{
    struct kp_task_port *port = t->port;
    uint64_t one = 1;

    pthread_mutex_lock(&port->mu);
    t->finished = true;
    append(&port->done_head, &port->done_tail, t);
    port->running--;
    pthread_cond_broadcast(&port->cv);
    /* A full counter (EAGAIN) is a wake-up already pending. */
    ssize_t w = write(port->io.fd, &one, sizeof(one));
    pthread_mutex_unlock(&port->mu);
    (void)w;
}

/* Run the calling pool thread below the reactors: a pool thread's work is
 * bulk file data, a reactor's is every connection's latency, and when both
 * want a CPU the reactor should get it. SCHED_BATCH: a pool thread whose
 * read has finished does not preempt a running reactor on waking;
 * KP_TPOOL_NICE_STEP nice steps above the worker's own nice value: about a
 * tenth of a reactor's CPU share while both are runnable, and no more than
 * that, so the pool still progresses on a busy machine. An unprivileged
 * process may do both (it may always lower its own priority; raising it
 * back would need CAP_SYS_NICE or RLIMIT_NICE, and is never done). Not
 * SCHED_IDLE: such a thread runs only on an otherwise idle CPU, and one
 * preempted while holding a port's or the queue's mutex would keep its
 * reactor waiting as long (a priority inversion, seconds on a busy
 * machine). A failure (a seccomp filter, say) leaves the thread at the
 * reactors' priority, as before, and is logged once per pool. */
static void lower_priority(struct kp_tpool *tp)
{
    struct sched_param sp = {.sched_priority = 0};
    id_t tid = (id_t)gettid();
    int err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);

    if (err == 0) {
        errno = 0;
        int nice = getpriority(PRIO_PROCESS, tid);
        nice = nice + KP_TPOOL_NICE_STEP > 19 ? 19 : nice + KP_TPOOL_NICE_STEP;
        if (errno != 0 || setpriority(PRIO_PROCESS, tid, nice) < 0)
            err = errno;
    }
    if (err == 0)
        return;
    pthread_mutex_lock(&tp->mu);
    bool first = !tp->prio_failed;
    tp->prio_failed = true;
    pthread_mutex_unlock(&tp->mu);
    if (first)
        kp_log_error(tp->log, KP_LOG_WARN, err,
                     "cannot lower the priority of thread pool \"%s\"'s threads", tp->name);
}

static void *pool_main(void *arg)
{
    struct kp_tpool *tp = arg;

    lower_priority(tp);
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (tp->head == NULL && !tp->stop)
            pthread_cond_wait(&tp->cv, &tp->mu);
        struct kp_task *t = shift(&tp->head, &tp->tail);
        if (t == NULL)
            break; /* stopping, and the queue is empty */
        tp->waiting--;
        pthread_mutex_unlock(&tp->mu);
        t->work(t);
        finish(t);
        pthread_mutex_lock(&tp->mu);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

static void pool_stop(struct kp_tpool *tp)
{
    pthread_mutex_lock(&tp->mu);
    tp->stop = true;
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (unsigned i = 0; i < tp->started; i++)
        pthread_join(tp->tids[i], NULL);
    kp_free(tp->tids);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
}

/* Start tp's threads with every signal blocked: signals belong to the
 * reactor (or the process's main thread), never to a pool thread. */
static int pool_start(struct kp_tpool *tp, const struct kp_tpool_conf *cf, const struct kp_log *log)
{
    sigset_t all, old;
    char name[16];
    int err = 0;

    *tp = (struct kp_tpool){.name = cf->name, .max_queue = cf->max_queue, .log = log};
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    tp->tids = kp_calloc(cf->threads, sizeof(*tp->tids));
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    snprintf(name, sizeof(name), "pool %s", cf->name);
    while (tp->started < cf->threads && err == 0) {
        err = pthread_create(&tp->tids[tp->started], NULL, pool_main, tp);
        if (err == 0)
            pthread_setname_np(tp->tids[tp->started++], name);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err == 0)
        return 0;
    kp_log_error(log, KP_LOG_ALERT, err, "cannot start a thread of thread pool \"%s\"", cf->name);
    pool_stop(tp);
    return -err;
}

int kp_tpools_start(struct kp_tpools *set, const struct kp_tpool_conf *confs, size_t n,
                    const struct kp_log *log)
{
    *set = (struct kp_tpools){0};
    if (n == 0)
        return 0;
    set->pools = kp_calloc(n, sizeof(*set->pools));
    for (size_t i = 0; i < n; i++) {
        int rc = pool_start(&set->pools[i], &confs[i], log);
        if (rc < 0) {
            kp_tpools_stop(set);
            return rc;
        }
        set->n++;
    }
    return 0;
}

void kp_tpools_stop(struct kp_tpools *set)
{
    for (size_t i = 0; i < set->n; i++)
        pool_stop(&set->pools[i]);
    kp_free(set->pools);
    *set = (struct kp_tpools){0};
}

struct kp_tpool *kp_tpools_find(const struct kp_tpools *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->pools[i].name, name) == 0)
            return &set->pools[i];
    }
    return NULL;
}

int kp_tpool_post(struct kp_tpool *tp, struct kp_task_port *port, struct kp_task *t,
                  unsigned *waiting)
{
    pthread_mutex_lock(&tp->mu);
    if (tp->waiting >= tp->max_queue) {
        *waiting = tp->waiting;
        pthread_mutex_unlock(&tp->mu);
        return -EAGAIN;
    }
    /* Counted before a thread can see it, so that the port never reads
     * fewer running than will finish. */
    pthread_mutex_lock(&port->mu);
    port->running++;
    pthread_mutex_unlock(&port->mu);
    t->port = port;
    t->finished = false;
    append(&tp->head, &tp->tail, t);
    tp->waiting++;
    pthread_cond_signal(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    return 0;
}

/* --- the reactor side ---------------------------------------------------------------- */

/* The next finished task, or NULL. One at a time: a done callback may
 * forget another finished task (kp_task_port_forget), which must then not
 * be called. */
static struct kp_task *take(struct kp_task_port *port)
{
    pthread_mutex_lock(&port->mu);
    struct kp_task *t = shift(&port->done_head, &port->done_tail);
    pthread_mutex_unlock(&port->mu);
    return t;
}

/* The eventfd is readable: run the done callback of every finished task. */
static void on_port(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_task_port *port = io->data;
    struct kp_task *t;
    uint64_t n;

    (void)loop;
    (void)events;
    /* Reset the counter first (see finish()). */
    if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        kp_log_error(port->loop->log, KP_LOG_ALERT, errno, "read() of a thread pool eventfd");
    while ((t = take(port)) != NULL)
        t->done(t);
}

int kp_task_port_open(struct kp_task_port *port, struct kp_loop *loop)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    *port = (struct kp_task_port){.loop = loop};
    if (fd < 0)
        return -errno;
    kp_io_init(&port->io, fd, on_port, port);
    int rc = kp_loop_set(loop, &port->io, KP_EV_READ);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    pthread_mutex_init(&port->mu, NULL);
    pthread_cond_init(&port->cv, NULL);
    port->open = true;
    return 0;
}

void kp_task_port_close(struct kp_task_port *port)
{
    if (!port->open)
        return;
    pthread_mutex_lock(&port->mu);
    while (port->running > 0)
        pthread_cond_wait(&port->cv, &port->mu);
    pthread_mutex_unlock(&port->mu);
    kp_loop_del_closing(port->loop, &port->io);
    close(port->io.fd);
    pthread_cond_destroy(&port->cv);
    pthread_mutex_destroy(&port->mu);
    port->open = false;
}

void kp_task_port_forget(struct kp_task_port *port, struct kp_task *t)
{
    struct kp_task **pp, *prev = NULL;

    pthread_mutex_lock(&port->mu);
    while (!t->finished)
        pthread_cond_wait(&port->cv, &port->mu);
    for (pp = &port->done_head; *pp != NULL && *pp != t; pp = &(*pp)->next)
        prev = *pp;
    if (*pp == t) {
        *pp = t->next;
        if (port->done_tail == t)
            port->done_tail = prev;
    }
    pthread_mutex_unlock(&port->mu);
}
