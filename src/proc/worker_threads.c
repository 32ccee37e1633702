/* Reactor threads and the main thread that takes their signals (see
 * worker_threads.h). */
#include "kelpie/proc/worker_threads.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/proc/listen.h"
#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/reload_request.h"
#include "kelpie/proc/worker_setup.h"
#include "kelpie/os/signal.h"

static void *thread_main(void *arg)
{
    struct kp_worker *w = arg;

    unsigned threads = w->cycle->core.worker_threads;
    char name[16];

    /* "reactor N" (model reactor_pool: "pool-thread N") in top -H, ps -L and
     * /proc/PID/task/TID/comm. */
    snprintf(name, sizeof(name), "%s %u", w->handoff != NULL ? "pool-thread" : "reactor",
             w->thread);
    pthread_setname_np(pthread_self(), name);
    kp_log_own_thread(w->log);
    kp_worker_setup_cpus(&w->cycle->core, w->index * threads + w->thread, w->log);
    w->rc = kp_worker_run(w);
    if (w->slot != NULL)
        atomic_store(&w->slot->finished, true); /* no more heartbeats: not frozen */
    kp_worker_report_done(w);
    return NULL;
}

static void request(struct kp_worker_group *g, unsigned n, unsigned req)
{
    for (unsigned i = 0; i < n; i++)
        kp_worker_request(&g->ws[i], req);
}

/* What the main thread still has to do for the threads. */
struct pending {
    bool close_copies; /* once every thread is quiet */
    bool reopen;       /* once every thread flushed its access logs */
    bool stopping;     /* a stop went out already */
    bool exiting;      /* "exiting" is logged already */
};

static void take_signals(struct kp_worker_group *g, struct kp_log *log, struct pending *p)
{
    const struct kp_cycle *cycle = g->ws[0].cycle;
    struct kp_signals s;

    kp_signal_take(&s);
    if (s.terminate) {
        kp_log_error(log, KP_LOG_NOTICE, 0, "exiting");
        request(g, g->n, KP_WORKER_REQ_TERMINATE);
        p->stopping = p->exiting = true;
    }
    if (s.quit) {
        kp_log_error(log, KP_LOG_NOTICE, 0, "gracefully shutting down");
        request(g, g->n, KP_WORKER_REQ_QUIT);
        p->close_copies |= cycle->core.master_process;
    }
    if (s.reopen) {
        kp_log_error(log, KP_LOG_NOTICE, 0, "reopening logs");
        atomic_fetch_add(&g->reopen_seq, 1);
        request(g, g->n, KP_WORKER_REQ_REOPEN);
        p->reopen = true;
    }
    if (s.reload && g->ws[0].slot != NULL && cycle->core.master_process) {
        kp_log_error(log, KP_LOG_NOTICE, 0, "gracefully shutting down");
        request(g, g->n, KP_WORKER_REQ_RELOAD);
        p->close_copies = true;
    } else if (s.reload || s.winch) {
        kp_log_error(log, KP_LOG_NOTICE, 0, "%s ignored by the worker",
                     s.reload ? "SIGHUP" : "SIGWINCH");
    }
    if (s.reload && !cycle->core.master_process)
        kp_signal_answer(&s, KP_RELOAD_ANSWER(KP_RELOAD_ENOTSUP, 0));
}

/* After every thread flushed its buffered lines into the old files: the
 * error log, and with a master the access log descriptors it sends. */
static void reopen_logs(struct kp_worker_group *g, struct kp_log *log, struct pending *p)
{
    unsigned seq = atomic_load(&g->reopen_seq);

    for (unsigned i = 0; i < g->n; i++) {
        if (!atomic_load(&g->ws[i].finished) && atomic_load(&g->ws[i].reopened) != seq)
            return;
    }
    p->reopen = false;
    const struct kp_worker *w = &g->ws[0];
    int rc =
        w->has_chan ? kp_logfiles_receive(w->chan, log) : kp_logfiles_reopen_own(w->cycle, log);
    if (rc < 0)
        kp_log_error(log, KP_LOG_ALERT, -rc, "reopening the logs failed");
}

/* A thread whose run failed (not one told to stop) stops the others: the
 * process exits and, in prefork, the master starts it again. */
static void check_failed(struct kp_worker_group *g, struct pending *p)
{
    for (unsigned i = 0; i < g->n && !p->stopping; i++) {
        if (atomic_load(&g->ws[i].finished) && g->ws[i].rc != 0) {
            request(g, g->n, KP_WORKER_REQ_TERMINATE);
            p->stopping = true;
        }
    }
}

static void supervise(struct kp_worker_group *g, struct kp_log *log, const sigset_t *mask)
{
    struct pending p = {0};

    while (atomic_load(&g->done) < g->n) {
        struct pollfd pfd = {.fd = g->wake, .events = POLLIN};
        uint64_t n;
        if (ppoll(&pfd, 1, NULL, mask) > 0 && read(g->wake, &n, sizeof(n)) < 0)
            continue;
        take_signals(g, log, &p);
        if (p.reopen)
            reopen_logs(g, log, &p);
        /* Set-up errors of a daemon's first workers went to the command
         * that started it; that is over once every thread is up. */
        if (log->tee && atomic_load(&g->untee) == g->n)
            kp_log_untee(log);
        /* No thread watches the listening sockets any more: closing the
         * process's copies cannot pull one from under a thread's loop. */
        if (p.close_copies && atomic_load(&g->quiet) == g->n) {
            kp_listen_close_copies(g->ws[0].cycle);
            p.close_copies = false;
        }
        check_failed(g, &p);
    }
    /* A graceful end (quit, reload, drain) as nginx words it, once for the
     * process: the threads leave that line to this one. */
    if (!p.exiting)
        kp_log_error(log, KP_LOG_NOTICE, 0, "exiting");
}

/* Every thread's bell, before any thread runs: with accept=handoff, thread
 * 0 may hand a connection to thread 1 before thread 1 is up. Returns
 * -errno (logged) with none left open. */
static int make_bells(struct kp_worker_group *g, struct kp_log *log)
{
    for (unsigned i = 0; i < g->n; i++) {
        g->ws[i].bell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (g->ws[i].bell < 0) {
            int err = errno;
            kp_log_error(log, KP_LOG_ALERT, err, "eventfd() failed");
            while (i-- > 0)
                close(g->ws[i].bell);
            return -err;
        }
    }
    return 0;
}

/* Start a thread per worker; returns how many started. */
static unsigned start_threads(struct kp_worker_group *g, pthread_t *tids, struct kp_log *log)
{
    for (unsigned i = 0; i < g->n; i++) {
        struct kp_worker *w = &g->ws[i];
        w->group = g;
        w->thread = i;
        int err = pthread_create(&tids[i], NULL, thread_main, w);
        if (err != 0) {
            kp_log_error(log, KP_LOG_ALERT, err, "cannot start reactor thread %u", i);
            return i;
        }
    }
    return g->n;
}

/* accept=handoff: thread 0's acceptor hands connections round. */
static void setup_handoff(struct kp_worker_group *g, struct kp_handoff *h)
{
    if (g->ws[0].cycle->core.thread_accept != KP_THREAD_ACCEPT_HANDOFF)
        return;
    int *bells = kp_calloc(g->n, sizeof(*bells));
    struct kp_sb_slot **slots = kp_calloc(g->n, sizeof(*slots));
    for (unsigned i = 0; i < g->n; i++) {
        bells[i] = g->ws[i].bell;
        slots[i] = g->ws[i].slot;
    }
    kp_handoff_init(h, g->n, bells, slots);
    g->handoff = h;
    kp_free(slots);
    kp_free(bells);
}

int kp_worker_run_threads(struct kp_worker *ws, unsigned n, struct kp_log *log)
{
    struct kp_worker_group g = {.ws = ws, .n = n};
    struct kp_handoff handoff;
    sigset_t old, mask;

    g.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (g.wake < 0) {
        kp_log_error(log, KP_LOG_ALERT, errno, "eventfd() failed");
        return -errno;
    }
    int rc = make_bells(&g, log);
    if (rc < 0) {
        close(g.wake);
        return rc;
    }
    setup_handoff(&g, &handoff);
    kp_worker_apply_nofile_limit(&ws[0]);
    rc = kp_signal_install();
    if (rc < 0)
        kp_log_error(log, KP_LOG_ALERT, -rc, "installing signal handlers failed");
    /* Blocked before the threads exist, so that they inherit the mask and
     * every signal reaches this thread only. */
    kp_signal_block(&old);
    kp_signal_wait_mask(&old, &mask);
    pthread_t *tids = kp_calloc(n, sizeof(*tids));
    unsigned started = start_threads(&g, tids, log);
    if (started < n) {
        g.n = started;
        request(&g, started, KP_WORKER_REQ_TERMINATE);
        rc = -EAGAIN;
    }
    supervise(&g, log, &mask);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        rc = rc == 0 ? ws[i].rc : rc;
    }
    if (g.handoff != NULL)
        kp_handoff_free(g.handoff);
    for (unsigned i = 0; i < n; i++)
        close(ws[i].bell);
    kp_free(tids);
    close(g.wake);
    if (log->tee)
        kp_log_untee(log);
    kp_signal_restore(&old);
    return rc;
}
