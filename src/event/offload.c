/* The reactor's pool of threads (see offload.h). */
#include "kelpie/event/offload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"

struct list {
    struct kp_offload_task *head, *tail;
};

struct kp_offload {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* queue not empty, or stopping */
    pthread_cond_t finished; /* some task's run() returned */
    struct list queue;       /* submitted, not yet taken */
    unsigned queued;         /* tasks in queue */
    unsigned idle;           /* threads waiting for work */
    struct list done;        /* run, waiting for the loop */
    bool stopping;
    /* The loop's thread only: tasks submitted in this loop turn, handed to
     * the threads together (one lock, one wake-up) after its I/O dispatch. */
    struct list outbox;
    bool flush_posted;
    unsigned pending; /* submitted, done() not yet called: the loop's thread only */
    struct kp_offload_opts o;
    pthread_t *tids;
    unsigned started;
    int efd;
    struct kp_io io;
    struct kp_loop *loop;
    const struct kp_log *log;
};

struct thread_arg {
    struct kp_offload *p;
    unsigned index;
};

static void push(struct list *l, struct kp_offload_task *t)
{
    t->next = NULL;
    if (l->tail != NULL)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
}

static struct kp_offload_task *pop(struct list *l)
{
    struct kp_offload_task *t = l->head;

    if (t != NULL) {
        l->head = t->next;
        if (l->head == NULL)
            l->tail = NULL;
    }
    return t;
}

static void unlink_task(struct list *l, struct kp_offload_task *t)
{
    struct kp_offload_task *prev = NULL;

    for (struct kp_offload_task *x = l->head; x != NULL; prev = x, x = x->next) {
        if (x != t)
            continue;
        if (prev != NULL)
            prev->next = x->next;
        else
            l->head = x->next;
        if (l->tail == x)
            l->tail = prev;
        return;
    }
}

/* Take this thread's share of the queue (at most TAKE_MAX), so that the
 * threads split a burst and the lock is taken once per share, not per task. */
#define TAKE_MAX 8u

static struct list take_share(struct kp_offload *p)
{
    struct list got = {NULL, NULL};
    unsigned n = p->queued / p->o.threads;

    n = n < 1 ? 1 : n > TAKE_MAX ? TAKE_MAX : n;
    for (struct kp_offload_task *t; n > 0 && (t = pop(&p->queue)) != NULL; n--) {
        p->queued--;
        push(&got, t);
    }
    return got;
}

/* The share is run: back to the loop in one go. Rung under the lock: the
 * loop may destroy the pool once its last task is done. */
static void give_back(struct kp_offload *p, struct list *ran)
{
    for (struct kp_offload_task *t = ran->head; t != NULL; t = t->next)
        t->finished = true;
    bool was_empty = p->done.head == NULL;
    if (p->done.tail != NULL)
        p->done.tail->next = ran->head;
    else
        p->done.head = ran->head;
    p->done.tail = ran->tail;
    pthread_cond_broadcast(&p->finished);
    uint64_t one = 1;
    /* EAGAIN: a wake-up is pending anyway. */
    if (was_empty && write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        kp_log_error(p->log, KP_LOG_ALERT, errno, "cannot wake the reactor");
}

static void *thread_main(void *varg)
{
    struct thread_arg *a = varg;
    struct kp_offload *p = a->p;
    void *ctx = p->o.thread_init != NULL ? p->o.thread_init(p->o.arg, a->index) : NULL;

    kp_free(a);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct list share = take_share(p);
        if (share.head == NULL) {
            if (p->stopping)
                break;
            p->idle++;
            pthread_cond_wait(&p->work, &p->mu);
            p->idle--;
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        for (struct kp_offload_task *t = share.head; t != NULL; t = t->next)
            t->run(ctx, t);
        pthread_mutex_lock(&p->mu);
        give_back(p, &share);
    }
    pthread_mutex_unlock(&p->mu);
    if (p->o.thread_exit != NULL)
        p->o.thread_exit(ctx);
    return NULL;
}

/* The loop's side: hand this turn's submissions over, waking as many idle
 * threads as there is work for. */
static void flush(struct kp_offload *p)
{
    unsigned n = 0;

    p->flush_posted = false;
    if (p->outbox.head == NULL)
        return;
    for (const struct kp_offload_task *t = p->outbox.head; t != NULL; t = t->next)
        n++;
    pthread_mutex_lock(&p->mu);
    if (p->queue.tail != NULL)
        p->queue.tail->next = p->outbox.head;
    else
        p->queue.head = p->outbox.head;
    p->queue.tail = p->outbox.tail;
    p->queued += n;
    if (n >= p->idle)
        pthread_cond_broadcast(&p->work);
    else
        while (n-- > 0)
            pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    p->outbox = (struct list){NULL, NULL};
}

/* The loop's side: the posted flush (KP_EV_WRITE), and every task that came
 * back (the eventfd is readable). */
static void on_done(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_offload *p = io->data;
    uint64_t n;

    (void)loop;
    if (events & KP_EV_WRITE)
        flush(p);
    if (!(events & KP_EV_READ))
        return;
    if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&p->mu);
    struct list done = p->done;
    p->done = (struct list){NULL, NULL};
    pthread_mutex_unlock(&p->mu);
    for (struct kp_offload_task *t = done.head, *next; t != NULL; t = next) {
        next = t->next;
        p->pending--;
        t->done(t);
    }
}

static int start_threads(struct kp_offload *p)
{
    sigset_t all, old;

    /* Signals belong to the thread that runs the loop (or the process's
     * main thread): none may land here. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = 0;
    for (; p->started < p->o.threads && err == 0; p->started++) {
        struct thread_arg *a = kp_alloc(sizeof(*a));
        *a = (struct thread_arg){p, p->started};
        err = pthread_create(&p->tids[p->started], NULL, thread_main, a);
        if (err != 0) {
            kp_free(a);
            break;
        }
        char name[16];
        snprintf(name, sizeof(name), "%.10s %u", p->o.name, p->started);
        pthread_setname_np(p->tids[p->started], name);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -err;
}

int kp_offload_create(struct kp_offload **out, struct kp_loop *loop,
                      const struct kp_offload_opts *o, const struct kp_log *log)
{
    if (o->threads == 0)
        return -EINVAL;
    struct kp_offload *p = kp_calloc(1, sizeof(*p));
    p->o = *o;
    p->loop = loop;
    p->log = log;
    p->tids = kp_calloc(o->threads, sizeof(*p->tids));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->finished, NULL);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = p->efd < 0 ? -errno : 0;
    if (rc == 0) {
        kp_io_init(&p->io, p->efd, on_done, p);
        rc = kp_loop_set(loop, &p->io, KP_EV_READ);
    }
    if (rc == 0)
        rc = start_threads(p);
    if (rc < 0) {
        kp_log_error(log, KP_LOG_ALERT, -rc, "cannot start the %s threads", o->name);
        kp_offload_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

void kp_offload_submit(struct kp_offload *p, struct kp_offload_task *t, kp_offload_run_fn run,
                       kp_offload_done_fn done)
{
    t->run = run;
    t->done = done;
    t->finished = false;
    p->pending++;
    push(&p->outbox, t);
    if (!p->flush_posted) {
        p->flush_posted = true;
        kp_loop_post(p->loop, &p->io, KP_EV_WRITE);
    }
}

void kp_offload_wait(struct kp_offload *p, struct kp_offload_task *t)
{
    flush(p);
    pthread_mutex_lock(&p->mu);
    while (!t->finished)
        pthread_cond_wait(&p->finished, &p->mu);
    unlink_task(&p->done, t);
    pthread_mutex_unlock(&p->mu);
    p->pending--;
}

unsigned kp_offload_pending(const struct kp_offload *p)
{
    return p->pending;
}

void kp_offload_destroy(struct kp_offload *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->tids[i], NULL);
    if (p->io.registered)
        kp_loop_del(p->loop, &p->io);
    if (p->efd >= 0)
        close(p->efd);
    pthread_cond_destroy(&p->finished);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    kp_free(p->tids);
    kp_free(p);
}
