/* One worker: a reactor (loop), a connection pool and an acceptor over the
 * listening sockets, run until a signal stops it. With `master_process off`
 * the single process runs one worker; in prefork mode every child runs one.
 * The protocol (HTTP) plugs in through struct kp_proto (event/proto.h): its
 * hooks get the worker's loop and pool, never the worker itself.
 *
 * Signals, as the worker reacts to them:
 *   SIGTERM, SIGINT  fast stop: every connection is closed, run returns;
 *   SIGQUIT          graceful quit: accepting stops at once, pool.draining is
 *                    set (protocols stop keeping connections alive), idle
 *                    connections are closed, and run returns when no
 *                    connection is left, or when worker_shutdown_timeout
 *                    expires (then the rest are closed). A prefork worker
 *                    also closes its copies of the listening sockets, so that
 *                    clients are refused rather than queued;
 *   SIGUSR1          the protocol's reopen hook (flush buffers, reopen files
 *                    it opened itself), then the error log: reopened by its
 *                    path, or with a channel, every log descriptor the
 *                    master sent is put under its number (logfiles.h);
 *   SIGHUP           prefork only: this worker belongs to the old generation
 *                    after a reload; it stops accepting, closes its copies of
 *                    the listening sockets (a port the reload dropped is then
 *                    closed for good) and drains softly through the
 *                    protocol's drain hook (no keep-alive connection is
 *                    reset), then exits like a graceful quit. Single process:
 *                    logged and ignored;
 *   SIGWINCH         logged and ignored.
 *
 * Threads (worker_threads N > 1, see worker_threads.h): the process runs N
 * such workers, one per thread, each with its own loop, pool, acceptor,
 * timers and protocol context (and its own copy of the error log struct, so
 * that each stamps lines with its own clock). Signals then go to the
 * process's main thread only, which turns each into a request (below) to
 * every thread; a thread's worker reacts to a request as the process reacts
 * to the signal, except that the main thread logs it once, reopens the
 * error log and closes the copies of the listening sockets once every
 * thread has stopped accepting. */
#ifndef KP_WORKER_H
#define KP_WORKER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/util/log.h"
#include "kelpie/event/accept.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/handoff.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/proto.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/event/timer.h"

/* Requests from the main thread to a reactor thread (kp_worker.requests). */
enum {
    KP_WORKER_REQ_TERMINATE = 1u << 0, /* SIGTERM */
    KP_WORKER_REQ_QUIT = 1u << 1,      /* SIGQUIT */
    KP_WORKER_REQ_REOPEN = 1u << 2,    /* SIGUSR1: the protocol's reopen hook */
    KP_WORKER_REQ_RELOAD = 1u << 3,    /* SIGHUP to a prefork worker: drain */
};

/* Threads: what a process's reactor threads share with its main thread
 * (worker_threads.h). The main thread asks a thread through
 * kp_worker_request; a thread reports through the counters below (each
 * thread counts once) and rings wake, and the main thread acts once a
 * counter reaches n. */
struct kp_worker_group {
    struct kp_worker *ws;
    unsigned n;
    struct kp_handoff *handoff;  /* accept=handoff; NULL: each thread accepts */
    int wake;                    /* eventfd: a thread has news for the main thread */
    _Atomic unsigned quiet;      /* threads that stopped accepting for good */
    _Atomic unsigned untee;      /* threads whose log copy no longer tees */
    _Atomic unsigned done;       /* threads whose run returned */
    _Atomic unsigned reopen_seq; /* SIGUSR1s handed on so far */
};

struct kp_worker {
    /* Filled by the caller before kp_worker_run. */
    const struct kp_cycle *cycle;  /* listening fds already opened */
    struct kp_log *log;            /* error log; its clock is the loop's while running */
    unsigned index;                /* worker number: picks reuseport fds; 0 when single */
    struct kp_scoreboard *sb;      /* prefork: the shared scoreboard; NULL when single */
    struct kp_sb_slot *slot;       /* prefork: this worker's slot; NULL when single */
    bool has_chan;                 /* prefork: chan is the channel to the master */
    int chan;                      /* where reopened log files come from (logfiles.h) */
    struct kp_proto proto;         /* reopen on SIGUSR1, drain on SIGHUP; a start hook
                                    * that fails makes the run return -ECANCELED */
    unsigned thread;               /* reactor thread within the process; 0 when one */
    struct kp_worker_group *group; /* threads: the process's group (requests come from
                                    * its main thread); NULL: this worker is the
                                    * process's only reactor and takes signals itself */
    struct kp_handoff *handoff;    /* model reactor_pool: this thread is pool thread
                                    * `thread` of it (event/handoff.h); NULL: its loop
                                    * is built on events.use */
    /* Owned by kp_worker_run. */
    struct kp_loop loop;      /* loop.stop ends the run at the next iteration */
    struct kp_conn_pool pool; /* pool.draining: graceful quit in progress */
    struct kp_acceptor acceptor;
    struct kp_proto_env env;        /* the loop and the pool, for the protocol's hooks */
    struct kp_timer shutdown_timer; /* worker_shutdown_timeout */
    struct kp_timer heartbeat;      /* refreshes slot->heartbeat_ms */
    sigset_t wait_mask;             /* signals are delivered only while waiting */
    bool quitting;
    bool started; /* set up completely; false after a set-up failure */
    /* Threads only: the requests, and the eventfd the main thread writes
     * after adding one (watched by the loop through bell_io). */
    _Atomic unsigned requests;
    int bell;
    struct kp_io bell_io;
    bool quiet;                /* told the group it stopped accepting */
    bool untee;                /* told the group its log copy stopped teeing */
    _Atomic unsigned reopened; /* the group's reopen_seq this thread has acted on */
    _Atomic bool finished;     /* kp_worker_run returned; rc is its result */
    int rc;
};

/* Run the worker until it is stopped (see the signals above): apply
 * worker_rlimit_nofile (the soft limit, at most the hard one), build the loop
 * with events.use and worker_connections, start accepting on every listener
 * of the cycle, install the signal handlers, and keep the managed signals
 * blocked except while waiting. Every connection is closed and everything
 * released before returning; the listening fds stay open (the caller owns
 * them). Returns 0 after a stop, or -errno when setting up or waiting failed
 * (logged). Blocks. */
int kp_worker_run(struct kp_worker *w);
/* worker_rlimit_nofile (the soft limit, at most the hard one) for the
 * process, and a warning when worker_connections cannot fit: done by
 * kp_worker_run, or for threads by their main thread. */
void kp_worker_apply_nofile_limit(const struct kp_worker *w);
/* Begin a graceful quit, as SIGQUIT does (idempotent). */
void kp_worker_quit(struct kp_worker *w);
/* Fast stop, as SIGTERM does: the run ends after this iteration, then every
 * connection is closed through its close callback. Close callbacks must
 * release their connection at once; any still taken afterwards is closed with
 * kp_conn_close. Safe to call from a handler. */
void kp_worker_terminate(struct kp_worker *w);

/* Threads: from the main thread, add the KP_WORKER_REQ_* bits req to w's
 * requests and ring its bell (w's loop takes them after its wait). Safe from
 * any thread. */
void kp_worker_request(struct kp_worker *w, unsigned req);
/* Threads: report to the group that w's run returned, once w->rc holds its
 * result: w no longer accepts nor tees, w->finished is set and the group's
 * done count grows. Called by the thread that ran w. */
void kp_worker_report_done(struct kp_worker *w);

#endif
