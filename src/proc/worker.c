/* The worker runner: builds one reactor around the inherited listening
 * sockets, runs it, and turns signals into fast stop, graceful quit and log
 * reopening. Everything a worker owns hangs off struct kp_worker. For a
 * reactor thread, both sides of its exchange with the process's main thread
 * live here too (requests in, news out through struct kp_worker_group), so
 * that worker_threads.c builds on this file and never the other way. */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include "kelpie/proc/listen.h"
#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/reload_request.h"
#include "kelpie/proc/worker.h"
#include "kelpie/proc/worker_handoff.h"
#include "kelpie/os/signal.h"

/* Apply worker_rlimit_nofile to the soft limit (an unprivileged process
 * cannot go past the hard one), then warn if worker_connections cannot fit. */
void kp_worker_apply_nofile_limit(const struct kp_worker *w)
{
    long want = w->cycle->core.worker_rlimit_nofile;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (want > 0) {
        rlim_t soft = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && soft > rl.rlim_max) {
            kp_log_error(w->log, KP_LOG_WARN, 0,
                         "worker_rlimit_nofile %ld exceeds the hard limit %llu, using that", want,
                         (unsigned long long)rl.rlim_max);
            soft = rl.rlim_max;
        }
        rl.rlim_cur = soft;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            kp_log_error(w->log, KP_LOG_ALERT, errno, "setrlimit(RLIMIT_NOFILE, %llu) failed",
                         (unsigned long long)soft);
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
            return;
    }
    if (rl.rlim_cur != RLIM_INFINITY && w->cycle->events.worker_connections > rl.rlim_cur)
        kp_log_error(w->log, KP_LOG_WARN, 0,
                     "%u worker_connections exceed the open file limit %llu",
                     w->cycle->events.worker_connections, (unsigned long long)rl.rlim_cur);
}

static void on_shutdown_timeout(struct kp_timer *t)
{
    struct kp_worker *w = t->data;

    kp_log_error(w->log, KP_LOG_NOTICE, 0,
                 "worker_shutdown_timeout expired, closing %u connections",
                 kp_conn_pool_active(&w->pool));
    kp_worker_terminate(w);
}

/* Wake an eventfd (the main thread's, or a thread's bell). A full counter
 * (EAGAIN) is a wake-up already pending. */
static void ring(int fd)
{
    uint64_t one = 1;

    if (write(fd, &one, sizeof(one)) < 0)
        return;
}

/* A thread's news for the group's main thread (see struct kp_worker_group):
 * it stopped accepting for good (once); its log copy stopped teeing (once);
 * it ran the reopen hook. */
static void report_quiet(struct kp_worker *w)
{
    if (w->quiet)
        return;
    w->quiet = true;
    atomic_fetch_add(&w->group->quiet, 1);
    ring(w->group->wake);
}

static void report_untee(struct kp_worker *w)
{
    if (w->untee)
        return;
    w->untee = true;
    w->log->tee = false; /* the thread's copy; the main thread closes the fd */
    atomic_fetch_add(&w->group->untee, 1);
    ring(w->group->wake);
}

static void report_reopened(struct kp_worker *w)
{
    atomic_store(&w->reopened, atomic_load(&w->group->reopen_seq));
    ring(w->group->wake);
}

/* With accept=handoff: the group's hand-off, else NULL. */
static struct kp_handoff *handoff_of(const struct kp_worker *w)
{
    return w->group != NULL ? w->group->handoff : NULL;
}

/* The acceptor's options: every reactor accepts for itself, or with a
 * hand-off reactor 0 accepts for all and the others watch no listener. */
static struct kp_accept_opts accept_opts(const struct kp_worker *w, int owner)
{
    const struct kp_cycle *cycle = w->cycle;
    struct kp_handoff *h = handoff_of(w);
    unsigned acceptors = kp_conf_core_acceptors(&cycle->core);
    bool accepts = h == NULL || w->thread == 0;

    return (struct kp_accept_opts){
        .listening = cycle->listening,
        .n_listening = accepts ? cycle->n_listening : 0,
        .worker_index = w->index * acceptors + (h != NULL ? 0 : w->thread),
        .owner = owner,
        .multi_accept = cycle->events.multi_accept,
        .sole = (cycle->core.master_process ? cycle->core.worker_processes : 1) * acceptors == 1,
        .on_conn = w->proto.on_conn,
        .ctx = w->proto.ctx,
        .handoff = h != NULL && w->thread == 0 ? kp_handoff_send : NULL,
        .handoff_ctx = h,
        .sb = w->sb,
        .slot = w->slot,
        .accept_mutex = cycle->events.accept_mutex && cycle->core.master_process &&
                        cycle->core.worker_processes * acceptors > 1,
        .mutex_delay_ms = cycle->events.accept_mutex_delay_ms};
}

/* Loop, pool, acceptor; on failure everything built so far is released. */
static int build(struct kp_worker *w)
{
    const struct kp_cycle *cycle = w->cycle;
    unsigned nconn = cycle->events.worker_connections;
    /* Connections, listeners, the accept mutex's bell, and a thread's bell. */
    unsigned max_fds = nconn + (unsigned)cycle->n_listening + 1 + (w->group != NULL);
    int rc = w->handoff != NULL
                 ? kp_handoff_loop_init(&w->loop, w->handoff, w->thread, max_fds, w->log)
                 : kp_loop_init(&w->loop, cycle->events.use, max_fds, w->log);

    if (rc < 0) {
        kp_log_error(w->log, KP_LOG_ALERT, -rc, "cannot create the event loop");
        return rc;
    }
    if (cycle->events.use == KP_EVENT_SELECT && nconn + cycle->n_listening > FD_SETSIZE)
        kp_log_error(w->log, KP_LOG_WARN, 0,
                     "select watches only descriptors below %d: connections above are closed",
                     FD_SETSIZE);
    rc = kp_conn_pool_init(&w->pool, nconn);
    if (rc == 0) {
        /* Every reactor competes for the accept mutex under a value of its
         * own: the pid, or with threads the thread id. */
        int owner = w->group != NULL ? (int)gettid() : (int)getpid();
        if (w->slot != NULL)
            atomic_store(&w->slot->owner, owner);
        const struct kp_accept_opts o = accept_opts(w, owner);
        rc = kp_accept_init(&w->acceptor, &w->loop, &w->pool, &o);
        if (rc < 0)
            kp_conn_pool_free(&w->pool);
    } else {
        kp_log_error(w->log, KP_LOG_ALERT, -rc, "cannot create %u connections", nconn);
    }
    if (rc < 0)
        kp_loop_free(&w->loop);
    kp_timer_init(&w->shutdown_timer, on_shutdown_timeout, w);
    return rc;
}

/* This reactor stops accepting for good: with a hand-off, reactor 0 also
 * closes it, so that the others can finish their drains. */
static void stop_accepting(struct kp_worker *w)
{
    kp_accept_pause(&w->acceptor);
    if (handoff_of(w) != NULL && w->thread == 0)
        kp_handoff_close(handoff_of(w));
}

/* A draining reactor may end: no connection left, and none still on its
 * way from the acceptor. */
static bool drained(struct kp_worker *w)
{
    struct kp_handoff *h = handoff_of(w);

    /* Posted work first: a completion backend posts the connections it
     * accepted before the listeners were given up, to be served. */
    if (kp_conn_pool_active(&w->pool) > 0 || w->loop.posted_head != NULL)
        return false;
    return h == NULL || w->thread == 0 || kp_handoff_drained(h, w->thread);
}

/* The master and the status page read the heartbeat to tell a stuck worker
 * from a quiet one; once a second is plenty and costs two stores. A short
 * worker_watchdog_timeout gets beats four times as often, so that a healthy
 * worker is never mistaken for a frozen one. */
static void on_heartbeat(struct kp_timer *t)
{
    struct kp_worker *w = t->data;
    uint64_t watchdog = w->cycle->core.worker_watchdog_timeout_ms;
    uint64_t period = watchdog == 0 || watchdog >= 4000 ? 1000 : watchdog / 4;

    atomic_store_explicit(&w->slot->heartbeat_ms, w->loop.clock.wall_msec, memory_order_relaxed);
    atomic_store_explicit(&w->slot->heartbeat_mono_ms, w->loop.clock.msec, memory_order_relaxed);
    kp_loop_timer_add(&w->loop, &w->heartbeat, period);
}

/* Prefork: the reactor is up and the acceptor live, so tell the master this
 * worker is READY (a reload waits for that before draining the old ones). */
static void start_heartbeat(struct kp_worker *w)
{
    kp_timer_init(&w->heartbeat, on_heartbeat, w);
    if (w->slot == NULL || w->loop.stop)
        return;
    on_heartbeat(&w->heartbeat);
    atomic_store(&w->slot->state, KP_SB_READY);
    /* Set-up errors of a daemon's first workers went to the command that
     * started it; that is over (for a thread, once all are up: the main
     * thread owns the descriptor). */
    if (w->group != NULL)
        report_untee(w);
    else
        kp_log_untee(w->log);
}

/* Close every connection still taken, through the protocol when it can. */
static void close_all(struct kp_worker *w)
{
    for (unsigned i = 0; i < w->pool.n; i++) {
        struct kp_conn *c = &w->pool.conns[i];
        if (c->in_use && c->close != NULL)
            c->close(c);
    }
    for (unsigned i = 0; i < w->pool.n; i++) {
        struct kp_conn *c = &w->pool.conns[i];
        if (c->in_use)
            kp_conn_close(&w->pool, &w->loop, c);
    }
}

/* Buffers first, so that lines written before the rotation land in the old
 * file. A prefork worker, perhaps unprivileged, never opens a log path: the
 * master has sent it the reopened files. */
static void reopen_logs(struct kp_worker *w)
{
    kp_log_error(w->log, KP_LOG_NOTICE, 0, "reopening logs");
    if (w->proto.reopen != NULL)
        w->proto.reopen(w->proto.ctx, &w->env);
    int rc = w->has_chan ? kp_logfiles_receive(w->chan, w->log)
                         : kp_logfiles_reopen_own(w->cycle, w->log);
    if (rc < 0)
        kp_log_error(w->log, KP_LOG_ALERT, -rc, "reopening the logs failed");
}

/* Old generation after a reload: stop accepting and let the protocol close
 * its connections at their next idle point, then exit as after a quit. */
static void drain_for_reload(struct kp_worker *w)
{
    if (w->quitting)
        return;
    if (w->group == NULL)
        kp_log_error(w->log, KP_LOG_NOTICE, 0, "gracefully shutting down");
    w->quitting = true;
    stop_accepting(w);
    /* This worker will never accept again: without its copies, a socket the
     * new configuration dropped refuses connections now instead of queueing
     * them until the last old worker exits. Threads share the copies: the
     * main thread closes them once no thread watches them. */
    if (w->group != NULL)
        report_quiet(w);
    else
        kp_listen_close_copies(w->cycle);
    /* Only now: the master reports the reload done once no worker of the
     * old generation can take a new connection any more. */
    atomic_store(&w->slot->state, KP_SB_DRAINING);
    if (w->proto.drain != NULL)
        w->proto.drain(w->proto.ctx, &w->env);
    else
        w->pool.draining = true;
    uint64_t timeout = w->cycle->core.worker_shutdown_timeout_ms;
    if (timeout > 0)
        kp_loop_timer_add(&w->loop, &w->shutdown_timer, timeout);
}

/* A thread's requests, as handle_signals below reacts to the signals (the
 * main thread logged them). */
static void handle_requests(struct kp_worker *w)
{
    unsigned r = atomic_exchange_explicit(&w->requests, 0, memory_order_acquire);

    if (r == 0)
        return;
    if (r & KP_WORKER_REQ_TERMINATE)
        kp_worker_terminate(w);
    if (r & KP_WORKER_REQ_QUIT)
        kp_worker_quit(w);
    if ((r & KP_WORKER_REQ_REOPEN) && w->proto.reopen != NULL)
        w->proto.reopen(w->proto.ctx, &w->env);
    if (r & KP_WORKER_REQ_REOPEN)
        report_reopened(w);
    if (r & KP_WORKER_REQ_RELOAD)
        drain_for_reload(w);
}

static void handle_signals(struct kp_worker *w)
{
    struct kp_signals s;

    if (w->group != NULL) {
        handle_requests(w);
        return;
    }
    kp_signal_take(&s);
    if (s.terminate) {
        kp_log_error(w->log, KP_LOG_NOTICE, 0, "exiting");
        kp_worker_terminate(w);
    }
    if (s.quit)
        kp_worker_quit(w);
    if (s.reopen)
        reopen_logs(w);
    if (s.reload && w->slot != NULL && w->cycle->core.master_process)
        drain_for_reload(w);
    else if (s.reload || s.winch)
        kp_log_error(w->log, KP_LOG_NOTICE, 0, "%s ignored by the worker",
                     s.reload ? "SIGHUP" : "SIGWINCH");
    /* Only a single process (master_process off) is asked directly. */
    if (s.reload && !w->cycle->core.master_process)
        kp_signal_answer(&s, KP_RELOAD_ANSWER(KP_RELOAD_ENOTSUP, 0));
}

static int run_loop(struct kp_worker *w)
{
    uint64_t overflows = 0; /* of loop.cq_overflows, counted in the slot */

    while (!w->loop.stop) {
        int rc = kp_loop_run_once(&w->loop, kp_accept_before_wait(&w->acceptor));
        if (rc < 0) {
            kp_log_error(w->log, KP_LOG_ALERT, -rc, "%s wait failed",
                         kp_loop_backend_name(&w->loop));
            return rc;
        }
        if (w->loop.cq_overflows != overflows) {
            kp_sb_count(w->slot, KP_SB_CQ_OVERFLOW, w->loop.cq_overflows - overflows);
            overflows = w->loop.cq_overflows;
        }
        handle_signals(w);
        if (w->quitting) {
            /* Connections that finished a response in this iteration and
             * went idle anyway are closed here (a soft drain leaves that to
             * the protocol, which closes them after a grace period). */
            if (w->pool.draining)
                kp_conn_pool_reclaim(&w->pool, w->pool.n_idle);
            if (drained(w)) {
                /* a graceful end, as nginx words it (the threads' main
                 * thread speaks for them) */
                if (w->group == NULL)
                    kp_log_error(w->log, KP_LOG_NOTICE, 0, "exiting");
                break;
            }
        }
    }
    return 0;
}

/* The main thread rang (its requests are taken after this wait), or with
 * a hand-off the acceptor did: connections wait in this reactor's inbox. */
static void on_bell(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_worker *w = io->data;
    struct kp_handoff *h = handoff_of(w);
    uint64_t n;

    (void)loop;
    (void)events;
    /* Read first: a ring that comes after it is for what is queued after
     * the take below, and wakes this loop again. */
    if (read(io->fd, &n, sizeof(n)) < 0 && h == NULL)
        return; /* EAGAIN: a ring already heard */
    if (h != NULL && w->thread != 0)
        kp_handoff_take(h, w->thread, &w->acceptor);
}

/* The process's only reactor takes the signals; a thread's are blocked (the
 * main thread takes them) and its bell is watched instead. */
static void take_signals(struct kp_worker *w, sigset_t *old)
{
    if (w->group != NULL) {
        kp_io_init(&w->bell_io, w->bell, on_bell, w);
        int rc = kp_loop_set(&w->loop, &w->bell_io, KP_EV_READ);
        if (rc < 0) {
            kp_log_error(w->log, KP_LOG_ALERT, -rc, "cannot watch the thread's bell");
            w->loop.stop = true;
        }
        return;
    }
    int rc = kp_signal_install();
    if (rc < 0)
        kp_log_error(w->log, KP_LOG_ALERT, -rc, "installing signal handlers failed");
    kp_signal_block(old);
    kp_signal_wait_mask(old, &w->wait_mask);
    w->loop.wait_mask = &w->wait_mask;
}

int kp_worker_run(struct kp_worker *w)
{
    sigset_t old;

    w->quitting = false;
    w->started = false;
    if (w->group == NULL)
        kp_worker_apply_nofile_limit(w); /* the main thread did it for its threads */
    int rc = build(w);
    if (rc < 0)
        return rc;
    take_signals(w, &old);
    const struct kp_clock *log_clock = w->log->clock;
    w->log->clock = &w->loop.clock;

    w->loop.after_priority = kp_accept_after_accept;
    w->loop.hook_ctx = &w->acceptor;
    w->env = (struct kp_proto_env){&w->loop, &w->pool};
    if (w->proto.start != NULL && w->proto.start(w->proto.ctx, &w->env) < 0)
        w->loop.stop = true;
    if (w->loop.stop) {
        /* The protocol could not start (it logged why): a set-up failure. */
        rc = -ECANCELED;
    } else {
        w->started = true;
        start_heartbeat(w);
        rc = run_loop(w);
        kp_loop_timer_del(&w->loop, &w->heartbeat);
    }
    if (handoff_of(w) != NULL) {
        /* Reactor 0 gone (even after a failure): nothing more is handed out. */
        if (w->thread == 0)
            kp_handoff_close(handoff_of(w));
        kp_handoff_leave(handoff_of(w), w->thread);
    }
    close_all(w);
    if (w->proto.exit != NULL)
        w->proto.exit(w->proto.ctx, &w->env);

    kp_loop_timer_del(&w->loop, &w->shutdown_timer);
    kp_accept_free(&w->acceptor);
    kp_conn_pool_free(&w->pool);
    w->log->clock = log_clock;
    if (w->group != NULL)
        kp_loop_del(&w->loop, &w->bell_io);
    kp_loop_free(&w->loop);
    if (w->group == NULL)
        kp_signal_restore(&old);
    return rc;
}

void kp_worker_quit(struct kp_worker *w)
{
    if (w->pool.draining)
        return;
    w->quitting = true;
    w->pool.draining = true;
    stop_accepting(w);
    /* A prefork worker owns only copies of the listening sockets (the master
     * closes its own as it exits): closing them now refuses new clients at
     * once rather than leaving them queued until this worker is gone. A
     * thread leaves that to the main thread (see drain_for_reload). */
    if (w->group != NULL)
        report_quiet(w);
    else if (w->cycle->core.master_process)
        kp_listen_close_copies(w->cycle);
    if (w->group == NULL)
        kp_log_error(w->log, KP_LOG_NOTICE, 0, "gracefully shutting down");
    uint64_t timeout = w->cycle->core.worker_shutdown_timeout_ms;
    if (timeout > 0)
        kp_loop_timer_add(&w->loop, &w->shutdown_timer, timeout);
}

void kp_worker_terminate(struct kp_worker *w)
{
    w->loop.stop = true;
}

void kp_worker_request(struct kp_worker *w, unsigned req)
{
    atomic_fetch_or_explicit(&w->requests, req, memory_order_release);
    ring(w->bell);
}

void kp_worker_report_done(struct kp_worker *w)
{
    report_untee(w);
    report_quiet(w);
    atomic_store(&w->finished, true);
    atomic_fetch_add(&w->group->done, 1);
    ring(w->group->wake);
}
