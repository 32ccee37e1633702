/* The accept path: readiness on a listening socket becomes connections from
 * the pool, handed to the protocol. The policy (when to stop accepting and
 * when to start again) is decided here; update_interest() is the one place
 * that adds or removes listen interest.
 *
 * Prefork balance. Whoever watches a shared listener when a connection
 * arrives gets it, and an idle worker is always the quickest to watch again:
 * left alone, one worker takes nearly every connection (measured with two
 * workers under Connection: close load: 100% / 0% with the accept mutex,
 * 80% / 20% without it under select). So before each wait a worker compares
 * its room (free or idle connections, 1/8 of them or fewer; else a slow
 * reader of a request head to evict; else none) and active connections with
 * the other READY workers' in the scoreboard, and competes only when it is
 * "fair": nobody has more room, and among those with as much it is below
 * their average, or at it and not the last to accept (see scoreboard.h). The
 * other half of the rule is that the listeners must never be left unwatched
 * while a worker could take them, or connections queue until a sleeping
 * worker's accept_mutex_delay runs out (500 ms by default), or, when every
 * worker is short of room, until a client_header_timeout frees a slot: so a
 * worker with any room at all stays in the turns described next, and one
 * that would have to evict only stands in for the others. Hence the bell
 * (os/shmtx.h): a worker that does not watch the
 * shared listeners sleeps on the bell and says so in the scoreboard
 * (`waiting`), and its published count of active connections stays exact
 * while it sleeps (only its own loop changes it). A worker that leaves the
 * listeners to a better placed waiting worker (a fair one) rings, and the
 * waiting workers decide again at once:
 *   - with the mutex, a worker that is not fair still takes a free lock (so
 *     that the listeners stay watched), but offers it when another worker is
 *     fair, which takes it over (os/shmtx.h) before its next wait; if that
 *     worker sleeps on the bell, the offer comes with a ring. The one that
 *     offered is never among the workers woken by its own ring, since it
 *     holds the lock and does not wait on the bell; until it notices the
 *     take-over, at its next wait, both may watch the listeners, and whoever
 *     is quicker accepts;
 *   - without it, a worker above the average stops watching only while
 *     another worker watches; one that keeps watching only because nobody
 *     else does rings when a better placed worker waits. With EPOLLEXCLUSIVE,
 *     registering again also moves a worker to the back of the kernel's
 *     wake-up queue, which rotates the wake-ups.
 * A ring wakes every waiting worker: only hand-overs ring, and each costs a
 * waiting worker one extra wait and a failed try at most. A worker that is
 * not watching still decides again after at most accept_mutex_delay. */
#include <errno.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/accept.h"
#include "kelpie/os/socket.h"

/* The "worker_connections are not enough" warning repeats at most this often. */
#define KP_ACCEPT_STARVED_LOG_MS 1000

/* What one accept attempt means for the loop around it. */
enum accept_step {
    ACCEPT_DONE, /* a connection went to the protocol */
    ACCEPT_SKIP, /* nothing usable, but more may be pending: try again */
    ACCEPT_STOP, /* nothing pending (EAGAIN), or accepting was suspended */
};

/* Register or unregister every listener so that the interest matches the
 * policy: listen unless paused by the owner, starved, or backing off; and a
 * shared listener under the accept mutex only while holding it. */
static int update_interest(struct kp_acceptor *a)
{
    bool base = !a->paused && !a->starved && !a->backoff;

    a->listening = base;
    bool shared = a->use_mutex ? a->mutex_held : !a->stepped_back;

    for (size_t i = 0; i < a->n_listeners; i++) {
        struct kp_accept_listener *l = &a->listeners[i];
        bool want = base && (!l->shared || shared);
        if (want == l->watching)
            continue;
        if (!want) {
            kp_loop_del(a->loop, &l->io);
            l->watching = false;
            continue;
        }
        int rc = kp_loop_set(a->loop, &l->io, KP_EV_READ);
        if (rc < 0) {
            kp_log_error(a->loop->log, KP_LOG_ALERT, -rc, "cannot watch listening socket %s",
                         l->ls->conf.text);
            return rc;
        }
        l->watching = true;
    }
    return 0;
}

/* A connection for a socket just accepted: a free one, or else the place of
 * the oldest idle connection or slowest reader of a request head (the pool
 * picks). Evicting only once a socket is in hand means no client is closed
 * for a connection that never came. */
static struct kp_conn *take_conn(struct kp_acceptor *a)
{
    struct kp_conn *c = kp_conn_get(a->pool);
    uint64_t now = a->loop->clock.msec;

    if (c != NULL || !kp_conn_pool_evict(a->pool))
        return c;
    if (now >= a->next_reuse_log) {
        kp_log_error(a->loop->log, KP_LOG_WARN, 0,
                     "%u worker_connections are not enough, reusing connections", a->pool->n);
        a->next_reuse_log = now + KP_ACCEPT_STARVED_LOG_MS;
    }
    return kp_conn_get(a->pool);
}

static void starve(struct kp_acceptor *a)
{
    uint64_t now = a->loop->clock.msec;

    if (now >= a->next_starved_log) {
        kp_log_error(a->loop->log, KP_LOG_WARN, 0, "%u worker_connections are not enough",
                     a->pool->n);
        a->next_starved_log = now + KP_ACCEPT_STARVED_LOG_MS;
    }
    a->starved = true;
    /* Only fresh connections stand in the way (their first reads may be on
     * their way): look again once they have had time to be read. */
    if (a->pool->n_fresh > 0)
        kp_loop_timer_add(a->loop, &a->retry, KP_ACCEPT_RETRY_MS);
    update_interest(a);
}

/* Stop accepting for a while: retrying at once would spin on the same error. */
static void back_off(struct kp_acceptor *a)
{
    a->backoff = true;
    update_interest(a);
    kp_loop_timer_add(a->loop, &a->retry, KP_ACCEPT_RETRY_MS);
}

/* How readily this worker can take a connection (enum kp_sb_room). An idle
 * connection counts as free: closing it costs its client nothing but a new
 * handshake. */
static enum kp_sb_room room(const struct kp_conn_pool *p)
{
    unsigned spare = p->n_free + p->n_idle;

    if (spare > 0)
        return spare >= p->n / 8 ? KP_SB_ROOM_PLENTY : KP_SB_ROOM_SCARCE;
    return p->n_reading > 0 ? KP_SB_ROOM_EVICT : KP_SB_ROOM_NONE;
}

/* Open connections into the scoreboard: before each wait, and as soon as
 * one is accepted, so that a status page served by that very connection
 * counts it (Active = Reading + Writing + Waiting, as in nginx). */
static void publish_active(struct kp_acceptor *a)
{
    unsigned active = kp_conn_pool_active(a->pool);

    if (a->slot == NULL)
        return;
    atomic_store_explicit(&a->slot->gauges[KP_SB_ACTIVE], (int64_t)active, memory_order_relaxed);
    atomic_store_explicit(&a->slot->free_conns, a->pool->n - active, memory_order_relaxed);
    /* A reactor that watches no listener (a hand-off sub-reactor) never
     * competes for them: no room, so the balance leaves it out. */
    atomic_store_explicit(&a->slot->room, a->n_listeners > 0 ? room(a->pool) : KP_SB_ROOM_NONE,
                          memory_order_relaxed);
}

static enum accept_step accept_failed(struct kp_acceptor *a, const struct kp_accept_listener *l,
                                      int err)
{
    switch (err) {
    case EAGAIN:
        return ACCEPT_STOP;
    case EINTR:
    case ECONNABORTED:
        return ACCEPT_SKIP;
    /* Errors of the new connection rather than of the listener, which
     * accept(2) says to treat like EAGAIN; more may be pending behind it. */
    case EPROTO:
    case EPERM:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETDOWN:
    case ENETUNREACH:
        kp_log_error(a->loop->log, KP_LOG_INFO, err, "accept4() on %s failed", l->ls->conf.text);
        return ACCEPT_SKIP;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        kp_log_error(a->loop->log, KP_LOG_ERR, err, "accept4() on %s failed", l->ls->conf.text);
        break;
    default:
        kp_log_error(a->loop->log, KP_LOG_ALERT, err, "accept4() on %s failed", l->ls->conf.text);
        break;
    }
    back_off(a);
    return ACCEPT_STOP;
}

/* A socket in hand becomes a connection of this reactor (see
 * kp_accept_adopt); fd is closed on failure. */
static enum accept_step adopt(struct kp_acceptor *a, int fd, const struct sockaddr_storage *peer,
                              socklen_t peer_len, const struct kp_listening *ls)
{
    struct kp_conn *c = take_conn(a);

    if (c == NULL) {
        /* The reclaimed connection is not released yet (its close path
         * takes time): this client cannot be served. */
        close(fd);
        starve(a);
        return ACCEPT_STOP;
    }
    c->peer = *peer;
    c->peer_len = peer_len;
    c->ls = ls;
    c->io.fd = fd;
    /* Plain TCP is read only through kp_conn_recv: a completion backend
     * may read it ahead. TLS reads through OpenSSL's socket BIO. */
    if (ls->stream)
        c->io.flags |= KP_IO_STREAM;
    int rc = kp_loop_set(a->loop, &c->io, KP_EV_READ);
    if (rc < 0) {
        /* With select this is a descriptor >= FD_SETSIZE: one line, and the
         * connection goes, rather than a write past the end of an fd_set. */
        kp_log_error(a->loop->log, KP_LOG_WARN, -rc,
                     "cannot watch accepted socket %d on %s with %s, closing it", fd, ls->conf.text,
                     kp_loop_backend_name(a->loop));
        kp_conn_close(a->pool, a->loop, c);
        return ACCEPT_SKIP;
    }
    a->accepted++;
    kp_sb_count(a->slot, KP_SB_ACCEPTED, 1);
    publish_active(a);
    a->on_conn(a->ctx, c);
    return ACCEPT_DONE;
}

/* Nothing free and nothing that may be evicted: a connection accepted now
 * could only be closed. */
static bool no_room(const struct kp_conn_pool *p)
{
    return p->free == NULL && kp_conn_pool_evictable(p) == 0;
}

static enum accept_step accept_one(struct kp_acceptor *a, struct kp_accept_listener *l)
{
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int fd = kp_io_accept(&l->io, &peer, &peer_len);

    if (fd < 0) {
        if (fd == -EAGAIN)
            kp_sb_count(a->slot, KP_SB_ACCEPT_EAGAIN, 1);
        return accept_failed(a, l, -fd);
    }
    /* The balance between processes counts the connection where it was
     * accepted, whichever reactor ends up serving it. */
    if (a->balance)
        kp_sb_accepted(a->sb, a->slot);
    if (a->handoff != NULL && a->handoff(a->handoff_ctx, fd, &peer, peer_len, l->ls))
        return ACCEPT_DONE;
    return adopt(a, fd, &peer, peer_len, l->ls);
}

int kp_accept_adopt(struct kp_acceptor *a, int fd, const struct sockaddr_storage *peer,
                    socklen_t peer_len, const struct kp_listening *ls)
{
    if (no_room(a->pool)) {
        kp_log_error(a->loop->log, KP_LOG_WARN, 0,
                     "%u worker_connections are not enough, closing a handed-over connection",
                     a->pool->n);
        close(fd);
        return -ENOBUFS;
    }
    enum accept_step step = adopt(a, fd, peer, peer_len, ls);
    return step == ACCEPT_DONE ? 0 : step == ACCEPT_STOP ? -ENOBUFS : -EBADF;
}

/* Readiness on a listener. Without multi_accept one connection is taken per
 * call, so a burst of connects is interleaved with I/O on the existing ones;
 * listeners are level-triggered, so the rest are reported at the next wait.
 * A completion backend may also report a listener it no longer watches: a
 * connection it accepted before the listener was given up (the accept
 * mutex passed on, the pool ran out, a graceful stop) is served like any
 * other (kp_io_accept takes no new one then). */
static void on_listener(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_accept_listener *l = io->data;
    struct kp_acceptor *a = l->a;

    (void)loop;
    (void)events;
    for (;;) {
        /* Nothing free and nothing to reclaim: leave the client queued in
         * the backlog rather than accept it only to close it. With a
         * hand-off another reactor may have room: that one decides. */
        if (a->handoff == NULL && no_room(a->pool)) {
            starve(a);
            return;
        }
        enum accept_step step = accept_one(a, l);
        if (step == ACCEPT_STOP || (step == ACCEPT_DONE && !a->multi_accept))
            return;
    }
}

static void on_retry(struct kp_timer *t)
{
    struct kp_acceptor *a = t->data;

    a->backoff = false;
    if (a->starved && a->pool->n_fresh > 0) {
        /* Connections still fresh after a retry period sent nothing: they
         * may be evicted for new clients like any idle one. */
        kp_conn_pool_settle(a->pool);
        a->starved = no_room(a->pool);
    }
    update_interest(a);
}

/* The pool's freed hook: a connection came back, so a starved acceptor can
 * listen again (re-registering reports the connections already queued). */
static void on_conn_freed(void *ctx)
{
    struct kp_acceptor *a = ctx;

    /* At once, not at the next wait: a hand-off acceptor reads the room. */
    publish_active(a);
    if (!a->starved)
        return;
    a->starved = false;
    update_interest(a);
}

/* The bell rang: a worker left the shared listeners to the waiting ones.
 * Consuming the ring is all there is to do here; the decision follows
 * before the next wait. */
static void on_bell(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_acceptor *a = io->data;

    (void)loop;
    (void)events;
    kp_shmtx_hear(&a->sb->accept_mutex);
}

static int listener_fd(const struct kp_listening *ls, unsigned worker_index)
{
    if (ls->conf.reuseport && worker_index < ls->n_reuseport_fds)
        return ls->reuseport_fds[worker_index];
    return ls->fd;
}

int kp_accept_init(struct kp_acceptor *a, struct kp_loop *loop, struct kp_conn_pool *pool,
                   const struct kp_accept_opts *o)
{
    *a = (struct kp_acceptor){.loop = loop,
                              .pool = pool,
                              .multi_accept = o->multi_accept,
                              .on_conn = o->on_conn,
                              .ctx = o->ctx,
                              .handoff = o->handoff,
                              .handoff_ctx = o->handoff_ctx,
                              .sb = o->sb,
                              .slot = o->slot,
                              .use_mutex = o->sb != NULL && o->accept_mutex,
                              .pid = o->owner > 0 ? o->owner : (int)getpid(),
                              .mutex_delay_ms = o->mutex_delay_ms};
    a->listeners = kp_calloc(o->n_listening, sizeof(*a->listeners));
    a->n_listeners = o->n_listening;
    kp_timer_init(&a->retry, on_retry, a);
    for (size_t i = 0; i < o->n_listening; i++) {
        struct kp_accept_listener *l = &a->listeners[i];
        int fd = listener_fd(&o->listening[i], o->worker_index);
        if (fd < 0) {
            kp_log_error(loop->log, KP_LOG_ALERT, 0, "listening socket %s is not open",
                         o->listening[i].conf.text);
            kp_free(a->listeners);
            return -EBADF;
        }
        kp_io_init(&l->io, fd, on_listener, l);
        l->ls = &o->listening[i];
        l->a = a;
        l->shared = !(l->ls->conf.reuseport && o->worker_index < l->ls->n_reuseport_fds);
        l->io.flags = KP_IO_LEVEL | KP_IO_PRIORITY;
        /* Accepting ahead (io_uring) only on a socket no other reactor
         * waits on in turn: a reuseport socket of this reactor's own, or
         * any for the server's sole reactor. Where several wait on one
         * socket, the kernel wakes one waiting accept per connection, and
         * the accept mutex or the balance cancel the one woken as often as
         * they hand the listeners over, leaving the connection queued
         * (nobody woken) until the next one comes: those keep poll +
         * accept4. */
        if (!l->shared || o->sole)
            l->io.flags |= KP_IO_LISTEN;
        if (l->shared && o->sb != NULL && !o->accept_mutex)
            l->io.flags |= KP_IO_EXCLUSIVE;
        a->balance |= l->shared && o->sb != NULL && o->slot != NULL;
    }
    a->use_mutex &= a->balance;
    /* Level-triggered and not exclusive: a ring wakes every waiting worker,
     * and a worker that starts waiting after a ring nobody heard yet is
     * woken at once. */
    kp_io_init(&a->bell, o->sb != NULL ? o->sb->accept_mutex.bell : -1, on_bell, a);
    a->bell.flags = KP_IO_LEVEL;
    int rc = update_interest(a);
    if (rc < 0) {
        kp_free(a->listeners);
        return rc;
    }
    pool->freed = on_conn_freed;
    pool->freed_ctx = a;
    return 0;
}

/* Sleep on the bell (and say so in the scoreboard) or stop. */
static void wait_on_bell(struct kp_acceptor *a, bool wait)
{
    atomic_store_explicit(&a->slot->waiting, wait, memory_order_relaxed);
    if (!wait) {
        kp_loop_del(a->loop, &a->bell);
        return;
    }
    int rc = kp_loop_set(a->loop, &a->bell, KP_EV_READ);
    if (rc < 0)
        kp_log_error(a->loop->log, KP_LOG_ALERT, -rc, "cannot watch the accept mutex bell");
}

/* What a worker may do about the shared listeners before a wait. */
struct turn {
    bool able;     /* it has room for a connection, if only by evicting */
    bool stand_in; /* it may watch them for the others while not fair */
    bool compete;  /* it is fair: it takes them, over a stand-in */
};

static int mutex_turn(struct kp_acceptor *a, struct turn t, const struct kp_sb_balance *b)
{
    struct kp_shmtx *mtx = &a->sb->accept_mutex;

    if (t.compete)
        a->mutex_held = kp_shmtx_trylock(mtx, a->pid) || kp_shmtx_take_over(mtx, a->pid);
    else
        a->mutex_held = t.stand_in && kp_shmtx_trylock(mtx, a->pid);
    /* Not fair, but another worker is: stand in for it (keep the listeners
     * watched) with the lock offered; it takes over before its next wait,
     * and if it is waiting already, the bell wakes it. */
    if (!t.compete && b->n_fair > 0 && a->mutex_held)
        kp_shmtx_offer(mtx, a->pid);
    if (!t.compete && b->n_better > 0 && (a->mutex_held || kp_shmtx_owner(mtx) == 0))
        kp_shmtx_ring(mtx);
    wait_on_bell(a, !a->mutex_held && t.able);
    update_interest(a);
    return a->mutex_held ? -1 : (int)a->mutex_delay_ms;
}

static int shared_turn(struct kp_acceptor *a, struct turn t, const struct kp_sb_balance *b)
{
    a->stepped_back = !t.compete && (b->n_accepting > 0 || !t.stand_in);
    if (!t.compete && b->n_accepting == 0 && b->n_better > 0)
        kp_shmtx_ring(&a->sb->accept_mutex);
    atomic_store_explicit(&a->slot->accepting, !a->stepped_back, memory_order_relaxed);
    wait_on_bell(a, a->stepped_back && t.able);
    update_interest(a);
    return a->stepped_back ? (int)a->mutex_delay_ms : -1;
}

/* Give up every claim on the shared listeners (pause, free), and wake the
 * waiting workers so that one of them takes over at once. */
static void leave_turns(struct kp_acceptor *a)
{
    struct kp_sb_balance b;

    if (!a->balance)
        return;
    if (a->mutex_held)
        kp_accept_after_accept(a);
    wait_on_bell(a, false);
    atomic_store_explicit(&a->slot->accepting, false, memory_order_relaxed);
    kp_sb_balance(a->sb, a->slot, &b);
    if (b.n_waiting > 0)
        kp_shmtx_ring(&a->sb->accept_mutex);
}

void kp_accept_free(struct kp_acceptor *a)
{
    a->paused = true;
    leave_turns(a);
    update_interest(a);
    /* Off the posted queue too (a completion backend posts the connections
     * it accepted ahead; the loop closes those when it is freed). */
    for (size_t i = 0; i < a->n_listeners; i++)
        kp_loop_del(a->loop, &a->listeners[i].io);
    kp_loop_timer_del(a->loop, &a->retry);
    if (a->pool->freed_ctx == a) {
        a->pool->freed = NULL;
        a->pool->freed_ctx = NULL;
    }
    kp_free(a->listeners);
    a->listeners = NULL;
    a->n_listeners = 0;
}

void kp_accept_pause(struct kp_acceptor *a)
{
    a->paused = true;
    leave_turns(a);
    update_interest(a);
}

void kp_accept_resume(struct kp_acceptor *a)
{
    a->paused = false;
    update_interest(a);
}

int kp_accept_before_wait(struct kp_acceptor *a)
{
    struct kp_sb_balance b;

    publish_active(a);
    if (!a->balance || a->paused)
        return -1;
    kp_sb_balance(a->sb, a->slot, &b);
    /* Any room at all keeps a worker in the turns: the listeners must stay
     * watched while some worker can take a connection, even if only by
     * evicting a slow client; the balance decides who goes first. One that
     * could only evict does not stand in for a fair worker (which has more
     * room): it might accept, and evict, before that one takes over. */
    enum kp_sb_room r = room(a->pool);
    struct turn t = {.able = r != KP_SB_ROOM_NONE,
                     .stand_in = r != KP_SB_ROOM_NONE && (r != KP_SB_ROOM_EVICT || b.n_fair == 0),
                     .compete = b.fair};
    return a->use_mutex ? mutex_turn(a, t, &b) : shared_turn(a, t, &b);
}

void kp_accept_after_accept(void *acceptor)
{
    struct kp_acceptor *a = acceptor;

    if (!a->mutex_held)
        return;
    kp_shmtx_unlock(&a->sb->accept_mutex, a->pid);
    a->mutex_held = false;
    /* The shared listeners stay registered until the next kp_accept_before_wait
     * decides: no wait happens in between, so no wake-up is stolen. */
}
