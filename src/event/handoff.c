/* The reactor + worker pool model: the readiness thread and the pool
 * threads' backend (see handoff.h). */
#include "kelpie/event/handoff.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/event/backend.h"

/* Reports taken per wait of the readiness thread. */
#define HUB_BATCH 512u
/* The owner rides in the top 16 bits of a registration's tag; user-space
 * pointers on Linux fit in the other 48. */
#define TAG_SHIFT 48
#define TAG_PTR   ((UINT64_C(1) << TAG_SHIFT) - 1)
#define TAG_STOP  UINT64_MAX

struct item {
    uint64_t io; /* the struct kp_io, as a number: the readiness thread never follows it */
    uint32_t events;
};

/* One pool thread's inbox. */
struct queue {
    pthread_mutex_t mu;
    struct item *items;
    unsigned n, cap;
    int efd; /* eventfd: rung when items arrive in an empty queue */
};

struct kp_handoff {
    int epfd;    /* the shared oneshot set */
    int stop_fd; /* eventfd in that set: the readiness thread returns */
    unsigned n;
    struct queue *q;
    const struct kp_log *log;
    pthread_t tid;
    bool running;
    _Atomic uint64_t handed;
};

int kp_handoff_create(struct kp_handoff **out, unsigned n, const struct kp_log *log)
{
    if (n == 0 || n > 0xffff)
        return -EINVAL;
    struct kp_handoff *h = kp_calloc(1, sizeof(*h));
    h->n = n;
    h->log = log;
    h->q = kp_calloc(n, sizeof(*h->q));
    for (unsigned i = 0; i < n; i++)
        h->q[i].efd = -1;
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = h->epfd < 0 || h->stop_fd < 0 ? -errno : 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        pthread_mutex_init(&h->q[i].mu, NULL);
        h->q[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rc = h->q[i].efd < 0 ? -errno : 0;
    }
    struct epoll_event ee = {.events = EPOLLIN, .data.u64 = TAG_STOP};
    if (rc == 0 && epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->stop_fd, &ee) < 0)
        rc = -errno;
    if (rc < 0) {
        kp_log_error(log, KP_LOG_ALERT, -rc,
                     "cannot create the event loop of the readiness thread");
        kp_handoff_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* Append one owner's share of a wait; wake it if it may be asleep. */
static void deliver_to(struct queue *q, const struct item *items, unsigned n)
{
    pthread_mutex_lock(&q->mu);
    bool was_empty = q->n == 0;
    if (q->n + n > q->cap) {
        q->cap = q->n + n > 2 * q->cap ? q->n + n : 2 * q->cap;
        q->items = kp_realloc(q->items, q->cap * sizeof(*q->items));
    }
    memcpy(q->items + q->n, items, n * sizeof(*items));
    q->n += n;
    pthread_mutex_unlock(&q->mu);
    uint64_t one = 1;
    if (was_empty && write(q->efd, &one, sizeof(one)) < 0)
        return; /* EAGAIN: a wake-up is pending anyway */
}

static void *hub_main(void *arg)
{
    struct kp_handoff *h = arg;
    struct epoll_event ev[HUB_BATCH];
    struct item *by_owner = kp_calloc((size_t)h->n * HUB_BATCH, sizeof(*by_owner));
    unsigned *count = kp_calloc(h->n, sizeof(*count));

    for (;;) {
        int n = epoll_wait(h->epfd, ev, HUB_BATCH, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kp_log_error(h->log, KP_LOG_ALERT, errno,
                         "epoll_wait() failed in the readiness thread");
            break;
        }
        bool stop = false;
        for (int i = 0; i < n; i++) {
            uint64_t tag = ev[i].data.u64;
            if (tag == TAG_STOP) {
                stop = true;
                continue;
            }
            unsigned owner = (unsigned)(tag >> TAG_SHIFT);
            by_owner[(size_t)owner * HUB_BATCH + count[owner]++] =
                (struct item){.io = tag & TAG_PTR, .events = ev[i].events};
        }
        for (unsigned o = 0; o < h->n; o++) {
            if (count[o] > 0)
                deliver_to(&h->q[o], &by_owner[(size_t)o * HUB_BATCH], count[o]);
            count[o] = 0;
        }
        atomic_fetch_add_explicit(&h->handed, (uint64_t)n - stop, memory_order_relaxed);
        if (stop)
            break;
    }
    kp_free(count);
    kp_free(by_owner);
    return NULL;
}

int kp_handoff_start(struct kp_handoff *h)
{
    sigset_t all, old;

    /* Signals belong to the process's main thread (worker_threads.h). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&h->tid, NULL, hub_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        kp_log_error(h->log, KP_LOG_ALERT, err, "cannot start the readiness thread");
        return -err;
    }
    pthread_setname_np(h->tid, "readiness");
    h->running = true;
    return 0;
}

void kp_handoff_stop(struct kp_handoff *h)
{
    uint64_t one = 1;

    if (!h->running)
        return;
    if (write(h->stop_fd, &one, sizeof(one)) < 0)
        kp_log_error(h->log, KP_LOG_ALERT, errno, "cannot stop the readiness thread");
    pthread_join(h->tid, NULL);
    h->running = false;
}

void kp_handoff_destroy(struct kp_handoff *h)
{
    if (h == NULL)
        return;
    kp_handoff_stop(h);
    for (unsigned i = 0; i < h->n; i++) {
        if (h->q[i].efd < 0)
            continue;
        close(h->q[i].efd);
        pthread_mutex_destroy(&h->q[i].mu);
        kp_free(h->q[i].items);
    }
    kp_free(h->q);
    if (h->epfd >= 0)
        close(h->epfd);
    if (h->stop_fd >= 0)
        close(h->stop_fd);
    kp_free(h);
}

uint64_t kp_handoff_handed(const struct kp_handoff *h)
{
    return atomic_load_explicit(&h->handed, memory_order_relaxed);
}

/* --- the pool thread's backend ------------------------------------------------------ */

/* A report delivered by the last wait: re-armed by the next one. */
struct delivered {
    struct kp_io *io;
    uint32_t gen;
};

struct pool_state {
    struct kp_handoff *h;
    unsigned owner;
    int priv; /* listeners, the bell, and the queue's eventfd (tag NULL) */
    struct epoll_event *events;
    unsigned nevents;
    struct item *taken; /* swapped with the queue's array */
    unsigned n_taken, cap_taken;
    struct delivered *last;
    unsigned n_last, cap_last;
};

struct owner_arg {
    struct kp_handoff *h;
    unsigned owner;
};

static int pool_init(struct kp_loop *loop, unsigned max_fds)
{
    const struct owner_arg *a = loop->bstate;
    int priv = epoll_create1(EPOLL_CLOEXEC);

    if (priv < 0)
        return -errno;
    struct queue *q = &a->h->q[a->owner];
    struct epoll_event ee = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(priv, EPOLL_CTL_ADD, q->efd, &ee) < 0) {
        int err = errno;
        close(priv);
        return -err;
    }
    struct pool_state *st = kp_calloc(1, sizeof(*st));
    st->h = a->h;
    st->owner = a->owner;
    st->priv = priv;
    st->nevents = max_fds < HUB_BATCH ? max_fds + 1 : HUB_BATCH;
    st->events = kp_calloc(st->nevents, sizeof(*st->events));
    loop->bstate = st;
    return 0;
}

static void pool_free(struct kp_loop *loop)
{
    struct pool_state *st = loop->bstate;

    /* The thread is gone from the shared set: reports still queued are
     * dropped with their queue (the connections are closed). */
    struct queue *q = &st->h->q[st->owner];
    pthread_mutex_lock(&q->mu);
    q->n = 0;
    pthread_mutex_unlock(&q->mu);
    close(st->priv);
    kp_free(st->events);
    kp_free(st->taken);
    kp_free(st->last);
    kp_free(st);
    loop->bstate = NULL;
}

static bool is_private(const struct kp_io *io)
{
    return (io->flags & KP_IO_LEVEL) != 0;
}

static uint32_t epoll_events_of(unsigned interest)
{
    uint32_t e = 0;

    if (interest & KP_EV_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (interest & KP_EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

static int pool_set(struct kp_loop *loop, struct kp_io *io, unsigned interest)
{
    struct pool_state *st = loop->bstate;
    int op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    struct epoll_event ee;

    if (is_private(io)) {
        ee =
            (struct epoll_event){.events = epoll_events_of(interest) & ~EPOLLRDHUP, .data.ptr = io};
#ifdef KP_HAVE_EPOLLEXCLUSIVE
        /* Every pool thread's set watches the listener: wake one. */
        if ((io->flags & KP_IO_EXCLUSIVE) && op == EPOLL_CTL_ADD)
            ee.events |= EPOLLEXCLUSIVE;
#endif
        return epoll_ctl(st->priv, op, io->fd, &ee) < 0 ? -errno : 0;
    }
    if (((uintptr_t)io & ~TAG_PTR) != 0)
        return -EINVAL;
    ee = (struct epoll_event){.events = epoll_events_of(interest) | EPOLLONESHOT,
                              .data.u64 =
                                  ((uint64_t)st->owner << TAG_SHIFT) | (uint64_t)(uintptr_t)io};
    if (epoll_ctl(st->h->epfd, op, io->fd, &ee) < 0)
        return -errno;
    io->slot = 1; /* armed */
    return 0;
}

static int pool_del(struct kp_loop *loop, struct kp_io *io)
{
    struct pool_state *st = loop->bstate;
    int epfd = is_private(io) ? st->priv : st->h->epfd;

    return epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0 ? -errno : 0;
}

/* Connection sockets are never duplicated: closing removes them. */
static void pool_forget(struct kp_loop *loop, struct kp_io *io)
{
    if (is_private(io))
        pool_del(loop, io);
}

/* Re-arm what the last wait delivered and is still registered, unless a
 * handler changed its interest meanwhile (which re-armed it). */
static void rearm(struct kp_loop *loop, struct pool_state *st)
{
    for (unsigned i = 0; i < st->n_last; i++) {
        struct kp_io *io = st->last[i].io;
        if (!io->registered || io->gen != st->last[i].gen || io->slot != 0 || io->interest == 0)
            continue;
        struct epoll_event ee = {.events = epoll_events_of(io->interest) | EPOLLONESHOT,
                                 .data.u64 =
                                     ((uint64_t)st->owner << TAG_SHIFT) | (uint64_t)(uintptr_t)io};
        if (epoll_ctl(st->h->epfd, EPOLL_CTL_MOD, io->fd, &ee) == 0)
            io->slot = 1;
        else
            kp_log_error(loop->log, KP_LOG_ALERT, errno, "epoll_ctl(MOD) failed re-arming %d",
                         io->fd);
    }
    st->n_last = 0;
}

/* Take up to `room` queued reports (the rest stay for the next wait). */
static void take(struct pool_state *st, unsigned room)
{
    struct queue *q = &st->h->q[st->owner];

    pthread_mutex_lock(&q->mu);
    unsigned n = q->n < room ? q->n : room;
    if (n == 0) { /* also: no queue allocated yet, memcpy() may not see NULL */
        pthread_mutex_unlock(&q->mu);
        return;
    }
    if (st->n_taken + n > st->cap_taken) {
        st->cap_taken = st->n_taken + n > 64 ? st->n_taken + n : 64;
        st->taken = kp_realloc(st->taken, st->cap_taken * sizeof(*st->taken));
    }
    memcpy(st->taken + st->n_taken, q->items, n * sizeof(*q->items));
    memmove(q->items, q->items + n, (q->n - n) * sizeof(*q->items));
    q->n -= n;
    st->n_taken += n;
    pthread_mutex_unlock(&q->mu);
}

/* The taken reports become the loop's, and are remembered for rearm(). */
static unsigned report_taken(struct pool_state *st, struct kp_ready *ready, unsigned n)
{
    if (st->cap_last < st->n_taken) {
        st->cap_last = st->n_taken;
        st->last = kp_realloc(st->last, st->cap_last * sizeof(*st->last));
    }
    for (unsigned i = 0; i < st->n_taken; i++) {
        struct kp_io *io = (struct kp_io *)(uintptr_t)st->taken[i].io;
        io->slot = 0; /* fired: disarmed until re-armed */
        ready[n++] = (struct kp_ready){
            .io = io, .gen = io->gen, .events = kp_epoll_events(st->taken[i].events, io->interest)};
        st->last[st->n_last++] = (struct delivered){io, io->gen};
    }
    st->n_taken = 0;
    return n;
}

static int pool_wait(struct kp_loop *loop, int timeout_ms, struct kp_ready *ready, unsigned cap)
{
    struct pool_state *st = loop->bstate;
    unsigned room = cap / 2 > 0 ? cap / 2 : 1; /* the rest for the private set */

    rearm(loop, st);
    take(st, room);
    int max = (int)(cap - st->n_taken < st->nevents ? cap - st->n_taken : st->nevents);
    int n = max > 0 ? epoll_pwait(st->priv, st->events, max, st->n_taken > 0 ? 0 : timeout_ms,
                                  loop->wait_mask)
                    : 0;
    if (n < 0 && (errno != EINTR || st->n_taken == 0))
        return -errno;
    unsigned got = 0;
    for (int i = 0; i < n; i++) {
        struct kp_io *io = st->events[i].data.ptr;
        if (io == NULL) {
            uint64_t v;
            if (read(st->h->q[st->owner].efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return -errno;
            continue;
        }
        ready[got++] =
            (struct kp_ready){.io = io,
                              .gen = io->gen,
                              .events = kp_epoll_events(st->events[i].events, io->interest)};
    }
    if (got + st->n_taken < cap)
        take(st, cap - got - st->n_taken);
    return (int)report_taken(st, ready, got);
}

static const struct kp_loop_backend kp_handoff_ops = {
    .name = "epoll",
    .init = pool_init,
    .free = pool_free,
    .set = pool_set,
    .del = pool_del,
    .forget = pool_forget,
    .wait = pool_wait,
};

int kp_handoff_loop_init(struct kp_loop *loop, struct kp_handoff *h, unsigned owner,
                         unsigned max_fds, const struct kp_log *log)
{
    struct owner_arg a = {h, owner};

    if (owner >= h->n)
        return -EINVAL;
    return kp_loop_init_with(loop, &kp_handoff_ops, &a, max_fds, log);
}
