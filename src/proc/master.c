/* The master process (see master.h for the signals it acts on): its main
 * loop and signal dispatch. Spawning and respawning live in master_spawn,
 * reload in master_reload, log files in master_logs, start-up checks in
 * master_start. */
#include "kelpie/proc/master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/proc/listen.h"
#include "kelpie/util/log.h"
#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/master_logs.h"
#include "kelpie/proc/master_notify.h"
#include "kelpie/proc/master_reload.h"
#include "kelpie/proc/master_spawn.h"
#include "kelpie/proc/master_start.h"
#include "kelpie/proc/master_state.h"
#include "kelpie/proc/master_upgrade.h"
#include "kelpie/proc/master_watchdog.h"
#include "kelpie/proc/serve.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/os/process.h"
#include "kelpie/os/signal.h"

#define KILL_GRACE_MS  5000 /* after SIGTERM, before SIGKILL */
#define FIRST_READY_S  "10" /* a daemon's first workers must be READY by then */
#define FIRST_READY_MS 10000

/* nginx's name and what the master does about a signal, for the log. */
static void signal_words(int signo, const char **name, const char **action)
{
    static const struct {
        int signo;
        const char *name, *action;
    } words[] = {
        {SIGHUP, "SIGHUP", ", reconfiguring"},
        {SIGUSR1, "SIGUSR1", ", reopening logs"},
        {SIGQUIT, "SIGQUIT", ", shutting down"},
        {SIGTERM, "SIGTERM", ", exiting"},
        {SIGINT, "SIGINT", ", exiting"},
        {SIGUSR2, "SIGUSR2", ", changing binary"},
        {SIGWINCH, "SIGWINCH", ", stop accepting connections"},
        {SIGCHLD, "SIGCHLD", ""},
        {SIGTTIN, "SIGTTIN", ", one worker more"},
        {SIGTTOU, "SIGTTOU", ", one worker fewer"},
    };

    *name = "SIGRTMIN+1";
    *action = ", reconfiguring"; /* KP_SIGNAL_RELOAD_RT, the one other */
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (words[i].signo == signo) {
            *name = words[i].name;
            *action = words[i].action;
        }
    }
}

/* "signal 1 (SIGHUP) received from 1234, reconfiguring" at notice, as
 * nginx: the operator sees who asked for what. */
static void log_signals(struct kp_master *m, const struct kp_signals *sig)
{
    for (unsigned i = 0; i < sig->n_seen; i++) {
        const char *name, *action;
        signal_words(sig->seen[i].signo, &name, &action);
        kp_log_error(&m->log, KP_LOG_NOTICE, 0, "signal %d (%s) received from %d%s",
                     sig->seen[i].signo, name, (int)sig->seen[i].from, action);
    }
}

/* A stop begins: the listening sockets close (a UNIX-domain socket's file
 * stays while the other master of a binary upgrade serves on it), and
 * systemd hears STOPPING unless that other master carries the service on. */
static void stop_listening(struct kp_master *m)
{
    bool handed_over = kp_master_upgrade_handed_over(m);

    kp_listen_close(m->cycle, !handed_over);
    if (!handed_over)
        kp_master_notify_stopping(m);
}

static void on_signals(struct kp_master *m, const struct kp_signals *sig)
{
    log_signals(m, sig);
    if (sig->child)
        kp_master_spawn_reap(m);
    if (sig->terminate && !m->terminating) {
        m->terminating = true;
        m->kill_at_ms = kp_master_clock_ms(CLOCK_MONOTONIC) + KILL_GRACE_MS;
        kp_master_spawn_signal(m, SIGTERM, false);
        stop_listening(m);
    }
    if (sig->quit && !m->quitting && !m->terminating) {
        m->quitting = true;
        /* While the other master of a binary upgrade serves on, its
         * clients are this one's: drain as in a reload, no keep-alive
         * connection closed under a request. */
        kp_master_spawn_signal(m, kp_master_upgrade_handed_over(m) ? SIGHUP : SIGQUIT, false);
        /* The workers close their copies: with the master's gone too, a new
         * client is refused at once instead of waiting in the backlog of a
         * server that will never accept it. A UNIX-domain socket's file
         * goes too, unless the other master of an upgrade serves on it. */
        stop_listening(m);
    }
    if (sig->upgrade && !m->terminating && !m->quitting)
        kp_master_upgrade_start(m);
    if (sig->reopen)
        kp_master_logs_reopen(m);
    bool running = !m->terminating && !m->quitting && !m->workers_stopped;
    if (sig->ttin && running)
        kp_master_spawn_more(m);
    if (sig->ttou && running)
        kp_master_spawn_fewer(m);
    if (sig->winch && !m->workers_stopped) {
        /* Drained as after a reload: no keep-alive client sees a reset. */
        m->workers_stopped = true;
        kp_master_spawn_signal(m, SIGHUP, false);
    }
    if (sig->reload) {
        if (m->terminating || m->quitting) {
            kp_master_reload_answer(sig, KP_RELOAD_EBUSY, 0);
        } else if (m->workers_stopped) {
            kp_master_reload_resume(m, sig);
            kp_master_notify_ready(m);
        } else {
            kp_master_notify_reloading(m);
            kp_master_reload_run(m, sig);
            kp_master_notify_ready(m);
        }
    }
}

/* A holder that stopped running (SIGSTOP, a debugger, a machine that froze
 * it) keeps the accept mutex, and with it every new connection, waiting:
 * one whose heartbeat (1 s) is this old loses it, as if it had died. If it
 * runs again it finds the lock gone and simply competes again. */
#define STUCK_HOLDER_MS 3000

static bool mutex_in_use(const struct kp_master *m)
{
    return m->cycle->events.accept_mutex &&
           m->cycle->core.worker_processes * (int)kp_conf_core_acceptors(&m->cycle->core) > 1;
}

static void check_mutex_holder(struct kp_master *m)
{
    pid_t owner = kp_shmtx_owner(&m->sb->accept_mutex);
    struct kp_sb_slot *slot = kp_sb_find_owner(m->sb, owner);

    if (slot == NULL)
        return;
    uint64_t beat = atomic_load(&slot->heartbeat_ms), now = kp_master_clock_ms(CLOCK_REALTIME);
    if (beat == 0 || now < beat + STUCK_HOLDER_MS)
        return;
    if (kp_shmtx_unlock(&m->sb->accept_mutex, owner)) {
        kp_shmtx_ring(&m->sb->accept_mutex);
        kp_log_error(&m->log, KP_LOG_WARN, 0,
                     "worker process %d has not run for %llu ms while holding the accept mutex: "
                     "released it",
                     (int)owner, (unsigned long long)(now - beat));
    }
}

static bool any_signal(const struct kp_signals *s)
{
    return s->terminate || s->quit || s->reload || s->reopen || s->winch || s->child ||
           s->upgrade || s->ttin || s->ttou;
}

static int master_loop(struct kp_master *m)
{
    struct kp_signals sig;

    for (;;) {
        /* Until none is left: acting on one (a reload) naps while waiting
         * for new workers, and a signal caught then (nap() leaves all but
         * SIGCHLD raised) would otherwise wait for the next one to arrive. */
        do {
            kp_signal_take(&sig);
            on_signals(m, &sig);
        } while (any_signal(&sig));
        int64_t wait = kp_master_spawn_due(m);
        if (mutex_in_use(m)) {
            check_mutex_holder(m);
            wait = wait < 0 || wait > 1000 ? 1000 : wait;
        }
        int64_t dog = kp_master_watchdog_check(m);
        if (dog >= 0 && (wait < 0 || dog < wait))
            wait = dog;
        if (m->terminating) {
            uint64_t now = kp_master_clock_ms(CLOCK_MONOTONIC);
            if (now >= m->kill_at_ms)
                kp_master_spawn_signal(m, SIGKILL, false);
            int64_t left = now >= m->kill_at_ms ? 100 : (int64_t)(m->kill_at_ms - now);
            wait = wait < 0 || left < wait ? left : wait;
        }
        if ((m->terminating || m->quitting) && kp_master_spawn_live(m) == 0)
            return 0;
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        if (ppoll(NULL, 0, wait < 0 ? NULL : &ts, &m->wait_mask) < 0 && errno != EINTR) {
            kp_log_error(&m->log, KP_LOG_ALERT, errno, "ppoll() failed in the master");
            return 1;
        }
    }
}

/* Wait for the first generation. Without a daemon's starting command
 * waiting, a crash ends the wait (the main loop respawns with backoff); with
 * one, crashed workers are respawned here until they are READY or the time
 * is up, so that the command's verdict is the real one. */
static enum kp_gen_start first_workers(struct kp_master *m)
{
    unsigned want = m->n_workers;
    uint64_t deadline = kp_master_clock_ms(CLOCK_MONOTONIC) + FIRST_READY_MS;
    enum kp_gen_start st = kp_master_reload_wait_ready(m, want);

    while (m->report_fd >= 0 && st == KP_GEN_DIED &&
           kp_master_clock_ms(CLOCK_MONOTONIC) < deadline) {
        int64_t due = kp_master_spawn_due(m);
        kp_master_spawn_nap(m, due < 0 || due > 50 ? 50 : (int)due);
        st = kp_master_reload_wait_ready(m, want);
    }
    return st;
}

static int run_master(struct kp_master *m, int argc, char *argv[])
{
    char title[512];
    size_t n = (size_t)snprintf(title, sizeof(title), "kelpie: master process");

    for (int i = 0; i < argc && n < sizeof(title); i++)
        n += (size_t)snprintf(title + n, sizeof(title) - n, " %s", argv[i]);
    kp_process_title_set(&m->title, title);
    m->sb = kp_sb_create();
    if (m->sb == NULL) {
        kp_log_error(&m->log, KP_LOG_EMERG, errno, "mmap() of the scoreboard failed");
        return 1;
    }
    atomic_store(&m->sb->master_pid, (int)getpid());
    atomic_store(&m->sb->start_ms, kp_master_clock_ms(CLOCK_REALTIME));
    m->generation = 1;
    kp_master_spawn_generation(m);
    int rc;
    enum kp_gen_start st = first_workers(m);
    /* Workers that cannot run this configuration at all: rather than a
     * master holding the port with no one to serve it, exit. Workers that
     * crash are respawned with backoff by the main loop, except while a
     * daemon's starting command waits for the verdict. */
    if (st == KP_GEN_FATAL || (m->report_fd >= 0 && st != KP_GEN_READY)) {
        kp_log_error(&m->log, KP_LOG_EMERG, 0, "worker processes %s, exiting",
                     st == KP_GEN_FATAL ? "cannot start"
                                        : "did not become ready within " FIRST_READY_S " s");
        m->terminating = true;
        kp_master_spawn_signal(m, SIGKILL, false);
        while (kp_master_spawn_live(m) > 0)
            kp_master_spawn_nap(m, 5);
        rc = 1;
    } else {
        kp_master_start_report(m, true);
        kp_master_notify_ready(m);
        rc = master_loop(m);
    }
    kp_free(m->respawn);
    kp_sb_destroy(m->sb);
    return rc;
}

/* master_process off: the process serves itself. A daemon's starting
 * command is told "ready" once the listening sockets and the pid file are
 * there (a reactor that cannot be built is the one failure left). */
static int serve_single(struct kp_master *m)
{
    kp_master_start_report(m, true);
    kp_master_notify_ready(m);
    return kp_serve_worker(m->cycle, &m->log, NULL, NULL, 0, -1) == 0 ? 0 : 1;
}

int kp_master_main(struct kp_cycle *cycle, const struct kp_cli *cli, int argc, char *argv[])
{
    struct kp_master *m = kp_calloc(1, sizeof(*m));
    sigset_t old;
    int rc = 1;

    m->cycle = cycle;
    m->report_fd = -1;
    m->extra = cli->directives ? kp_strdup(cli->directives) : NULL;
    m->error_log = cli->error_log ? kp_strdup(cli->error_log) : NULL;
    kp_log_init_stderr(&m->log, cycle->core.error_log_level);
    kp_master_upgrade_init(m, argc, argv);
    kp_process_title_init(&m->title, argc, argv);
    if (kp_master_start_checks(m) != 0 || kp_master_start_daemon(m) != 0)
        goto out;
    if ((rc = kp_process_pidfile_write(cycle->core.pid_path, getpid())) != 0) {
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "writing the pid file \"%s\" failed",
                     cycle->core.pid_path);
        rc = 1;
        goto out;
    }
    kp_signal_install();
    kp_signal_block(&old);
    kp_signal_wait_mask(&old, &m->wait_mask);
    kp_master_start_log(m->cycle, &m->log);
    if (cycle->core.master_process)
        rc = run_master(m, argc, argv);
    else
        rc = serve_single(m);
    unlink(kp_master_upgrade_pidfile(m));
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "exit");
out:
    kp_listen_close(m->cycle, !kp_master_upgrade_handed_over(m));
    kp_logfiles_close(m->cycle);
    kp_cycle_free(m->cycle);
    kp_log_close(&m->log);
    kp_free(m->extra);
    kp_free(m->error_log);
    kp_master_upgrade_free(m);
    kp_free(m);
    return rc;
}
