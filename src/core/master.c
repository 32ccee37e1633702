/* The master process (see master.h for the signals it acts on).
 *
 * Reload, step by step: the new configuration is loaded and validated (on
 * failure nothing changes); listening sockets with an unchanged address are
 * taken over with their fds, new ones opened; a new generation of workers is
 * forked and the master waits until each reports READY in the scoreboard (not
 * a fixed sleep); only then is the old generation told to drain (SIGHUP),
 * which it does without resetting any keep-alive connection. If the new
 * workers do not come up, they are stopped and the old generation keeps
 * serving. */
#include "kelpie/core/master.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/core/alloc.h"
#include "kelpie/core/listen.h"
#include "kelpie/core/log.h"
#include "kelpie/core/serve.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/os/process.h"
#include "kelpie/os/signal.h"

#define KILL_GRACE_MS    5000  /* after SIGTERM, before SIGKILL */
#define READY_TIMEOUT_MS 10000 /* a new generation must be up by then */
#define DRAIN_START_MS   2000  /* ... and the old one should stop accepting by then */
#define FAST_DEATH_MS    1000  /* a death this soon after start counts as a crash loop */
#define FAST_DEATHS_FREE 3     /* fast deaths respawned at once before backoff starts */
#define BACKOFF_MAX_MS   30000

struct kp_child {
    pid_t pid; /* 0: entry unused */
    unsigned index;
    unsigned generation;
    uint64_t started_ms; /* monotonic */
};

/* Respawn bookkeeping per worker index of the current generation. */
struct kp_respawn {
    unsigned fast_deaths; /* consecutive deaths within FAST_DEATH_MS of start */
    uint64_t due_ms;      /* monotonic; 0: nothing pending */
    bool fatal;           /* exited with KP_EXIT_FATAL: not respawned */
};

struct kp_master {
    struct kp_cycle *cycle;
    char *extra; /* -g directives, kept for reloads (argv is overwritten
                  * by the process title) */
    struct kp_log log;
    struct kp_title title;
    struct kp_scoreboard *sb;
    unsigned generation;
    struct kp_child kids[KP_SB_MAX_SLOTS];
    struct kp_respawn *respawn; /* cycle->core.worker_processes entries */
    struct kp_cycle *retiring;  /* during a reload: the cycle being replaced */
    sigset_t wait_mask;
    bool terminating, quitting, workers_stopped;
    uint64_t kill_at_ms; /* monotonic; when terminating */
};

static uint64_t now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t live_children(const struct kp_master *m)
{
    size_t n = 0;
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++)
        n += m->kids[i].pid != 0;
    return n;
}

static void signal_generation(struct kp_master *m, int sig, bool old_only)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_child *k = &m->kids[i];
        if (k->pid != 0 && (!old_only || k->generation != m->generation))
            kill(k->pid, sig);
    }
}

/* --- log files ---------------------------------------------------------------- */

static void give_access_logs(struct kp_master *m, const struct kp_http_loc_conf *loc)
{
    const struct kp_core_conf *core = &m->cycle->core;

    for (size_t i = 0; i < loc->n_access_logs; i++) {
        int rc = kp_process_give_file(loc->access_logs[i].path, core->user, core->group);
        if (rc != 0)
            kp_log_error(&m->log, KP_LOG_ALERT, -rc, "cannot prepare \"%s\" for the workers",
                         loc->access_logs[i].path);
    }
}

/* Workers drop root before they open their access logs, and reopen them
 * unprivileged on USR1: as root, the master creates every log file first and
 * hands it to the workers' user (a rotated, renamed file is recreated here). */
static void prepare_log_files(struct kp_master *m)
{
    const struct kp_http_conf *http = &m->cycle->http;

    if (m->log.path != NULL)
        kp_process_give_file(m->log.path, m->cycle->core.user, m->cycle->core.group);
    for (size_t i = 0; i < http->n_servers; i++) {
        give_access_logs(m, http->servers[i]->loc);
        for (size_t j = 0; j < http->servers[i]->n_locations; j++)
            give_access_logs(m, http->servers[i]->locations[j]);
    }
}

/* --- the worker side of fork ------------------------------------------------ */

/* The i-th CPU (counting from 0, wrapping around) of a mask. */
static uint64_t nth_cpu(uint64_t cpus, unsigned i)
{
    unsigned n = (unsigned)__builtin_popcountll(cpus);

    if (n == 0)
        return 0;
    for (i %= n; i > 0; i--)
        cpus &= cpus - 1;
    return cpus & -cpus;
}

/* worker_cpu_affinity for worker `index`: with auto, one CPU each in turn
 * among those the master may use (limited by the optional mask); with masks,
 * the index-th mask, the last one repeating. 0: leave it alone. */
static uint64_t cpu_mask(const struct kp_core_conf *core, unsigned index)
{
    if (core->cpu_affinity_auto) {
        uint64_t cpus = 0;
        if (kp_process_cpus(&cpus) != 0)
            return 0;
        if (core->n_cpu_affinity_masks > 0)
            cpus &= core->cpu_affinity_masks[0];
        return nth_cpu(cpus, index);
    }
    if (core->n_cpu_affinity_masks == 0)
        return 0;
    size_t last = core->n_cpu_affinity_masks - 1;
    return core->cpu_affinity_masks[index < last ? index : last];
}

/* Pinning is an optimisation: a worker that cannot be pinned still serves. */
static void pin(struct kp_master *m, unsigned index)
{
    const struct kp_core_conf *core = &m->cycle->core;
    uint64_t mask = cpu_mask(core, index);

    if (mask == 0) {
        if (core->cpu_affinity_auto || core->n_cpu_affinity_masks > 0)
            kp_log_error(&m->log, KP_LOG_ALERT, 0,
                         "worker_cpu_affinity leaves no CPU for worker %u", index);
        return;
    }
    int rc = kp_process_set_cpus(mask);
    if (rc != 0)
        kp_log_error(&m->log, KP_LOG_ALERT, -rc, "sched_setaffinity(0x%llx) failed for worker %u",
                     (unsigned long long)mask, index);
    else
        kp_log_error(&m->log, KP_LOG_INFO, 0, "worker %u runs on CPUs 0x%llx", index,
                     (unsigned long long)mask);
}

static void worker_process(struct kp_master *m, pid_t master, unsigned index,
                           struct kp_sb_slot *slot)
{
    /* The master may die before or after this call: check both ways. */
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != master)
        _exit(0);
    kp_process_title_set(&m->title, "kelpie: worker process");
    /* Sockets the reload drops are still open in the master until the new
     * generation is up: this worker must not keep them alive. */
    if (m->retiring != NULL)
        kp_listen_close_copies(m->retiring);
    pin(m, index);
    int rc = kp_process_drop_privileges(m->cycle->core.user, m->cycle->core.group);
    if (rc != 0) {
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "cannot switch to user \"%s\"",
                     m->cycle->core.user ? m->cycle->core.user : "nobody");
        _exit(KP_EXIT_FATAL);
    }
#ifdef KP_DEBUG
    /* Test hook (debug builds only): a worker that crashes at start. */
    if (getenv("KELPIE_TEST_CRASH_AT_START") != NULL)
        abort();
#endif
    _exit(kp_serve_worker(m->cycle, &m->log, m->sb, slot, index));
}

static int spawn(struct kp_master *m, unsigned index, unsigned generation)
{
    struct kp_sb_slot *slot = kp_sb_claim(m->sb, generation, index);
    struct kp_child *k = NULL;

    for (size_t i = 0; i < KP_SB_MAX_SLOTS && k == NULL; i++)
        k = m->kids[i].pid == 0 ? &m->kids[i] : NULL;
    if (slot == NULL || k == NULL) {
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "no free worker slot (at most %d workers)",
                     KP_SB_MAX_SLOTS);
        return -ENOSPC;
    }
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        kp_sb_release(slot);
        kp_log_error(&m->log, KP_LOG_ALERT, errno, "fork() failed while spawning a worker");
        return -errno;
    }
    if (pid == 0)
        worker_process(m, master, index, slot);
    atomic_store(&slot->pid, (int)pid);
    atomic_store(&slot->start_ms, now_ms(CLOCK_REALTIME));
    *k = (struct kp_child){pid, index, generation, now_ms(CLOCK_MONOTONIC)};
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "start worker process %d", (int)pid);
    return 0;
}

static void spawn_generation(struct kp_master *m)
{
    unsigned n = (unsigned)m->cycle->core.worker_processes;

    kp_free(m->respawn);
    m->respawn = kp_calloc(n, sizeof(*m->respawn));
    atomic_store(&m->sb->generation, m->generation);
    for (unsigned i = 0; i < n; i++)
        spawn(m, i, m->generation);
}

/* --- reaping and respawning --------------------------------------------------- */

static void schedule_respawn(struct kp_master *m, const struct kp_child *k, int status)
{
    struct kp_respawn *r = &m->respawn[k->index];
    uint64_t now = now_ms(CLOCK_MONOTONIC);

    if (WIFEXITED(status) && WEXITSTATUS(status) == KP_EXIT_FATAL) {
        r->fatal = true;
        kp_log_error(&m->log, KP_LOG_ALERT, 0,
                     "worker process %d exited with fatal code %d and cannot be respawned",
                     (int)k->pid, KP_EXIT_FATAL);
        return;
    }
    r->fast_deaths = now - k->started_ms < FAST_DEATH_MS ? r->fast_deaths + 1 : 0;
    uint64_t delay = 0;
    if (r->fast_deaths >= FAST_DEATHS_FREE) {
        unsigned shift = r->fast_deaths - FAST_DEATHS_FREE;
        delay = shift >= 5 ? BACKOFF_MAX_MS : (uint64_t)1000 << shift;
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
        kp_log_error(&m->log, KP_LOG_ALERT, 0,
                     "worker %u died within 1 s of its start %u times in a row: "
                     "respawning in %llu ms",
                     k->index, r->fast_deaths, (unsigned long long)delay);
    }
    r->due_ms = now + delay;
    if (r->due_ms == 0)
        r->due_ms = 1;
}

static void log_exit(struct kp_master *m, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "worker process %d exited on signal %d%s", (int)pid,
                     WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
    else if (WEXITSTATUS(status) != 0)
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "worker process %d exited with code %d", (int)pid,
                     WEXITSTATUS(status));
    else
        kp_log_error(&m->log, KP_LOG_NOTICE, 0, "worker process %d exited with code 0", (int)pid);
}

static struct kp_child *find_child(struct kp_master *m, pid_t pid)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        if (m->kids[i].pid == pid)
            return &m->kids[i];
    }
    return NULL;
}

static void reap(struct kp_master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct kp_child *k = find_child(m, pid);
        if (k == NULL)
            continue;
        log_exit(m, pid, status);
        /* A worker killed while holding the accept mutex would stall
         * accepting for everyone: release it on its behalf, and ring the
         * bell so that a waiting worker takes it now rather than when its
         * accept_mutex_delay runs out. */
        if (kp_shmtx_unlock(&m->sb->accept_mutex, pid)) {
            kp_shmtx_ring(&m->sb->accept_mutex);
            kp_log_error(&m->log, KP_LOG_NOTICE, 0, "released the accept mutex held by %d",
                         (int)pid);
        }
        struct kp_sb_slot *slot = kp_sb_find(m->sb, pid);
        if (slot != NULL)
            kp_sb_release(slot);
        /* Workers of the current generation only exit when told to: any
         * other exit is a loss to make good. */
        if (k->generation == m->generation && !m->terminating && !m->quitting &&
            !m->workers_stopped)
            schedule_respawn(m, k, status);
        k->pid = 0;
    }
}

static int64_t respawn_due(struct kp_master *m)
{
    uint64_t now = now_ms(CLOCK_MONOTONIC);
    int64_t next = -1;

    for (int i = 0; i < m->cycle->core.worker_processes; i++) {
        struct kp_respawn *r = &m->respawn[i];
        if (r->due_ms == 0 || r->fatal)
            continue;
        if (r->due_ms <= now) {
            r->due_ms = 0;
            atomic_fetch_add(&m->sb->respawns, 1);
            spawn(m, (unsigned)i, m->generation);
        } else if (next < 0 || (int64_t)(r->due_ms - now) < next) {
            next = (int64_t)(r->due_ms - now);
        }
    }
    return next;
}

/* --- reload ------------------------------------------------------------------- */

/* Tell every `kelpie -s reload` waiting how its reload went. */
static void answer(const struct kp_signals *sig, enum kp_reload_result result, int err)
{
    kp_signal_answer(sig, KP_RELOAD_ANSWER(result, err));
}

static bool generation_ready(struct kp_master *m, unsigned generation, unsigned want)
{
    unsigned ready = 0;
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_sb_slot *s = &m->sb->slots[i];
        if (atomic_load(&s->generation) == generation && atomic_load(&s->state) == KP_SB_READY)
            ready++;
    }
    return ready >= want;
}

/* Sleep a little with signals deliverable, reaping children meanwhile. */
static void nap(struct kp_master *m, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    ppoll(NULL, 0, &ts, &m->wait_mask);
    /* Only children are handled here; every other signal (another reload
     * with its requester included) stays raised for the main loop. */
    if (kp_signal_take_child())
        reap(m);
}

/* How a new generation's start went. */
enum gen_start {
    GEN_READY,   /* every worker said READY */
    GEN_FATAL,   /* a worker exited with KP_EXIT_FATAL: the configuration cannot run */
    GEN_DIED,    /* a worker died otherwise (it is being respawned) */
    GEN_TIMEOUT, /* not all READY within READY_TIMEOUT_MS */
};

static enum gen_start generation_state(struct kp_master *m, unsigned want)
{
    enum gen_start st = GEN_READY;

    for (int i = 0; i < m->cycle->core.worker_processes; i++) {
        if (m->respawn[i].fatal)
            return GEN_FATAL;
        if (m->respawn[i].due_ms != 0)
            st = GEN_DIED;
    }
    if (st == GEN_READY && !generation_ready(m, m->generation, want))
        return GEN_TIMEOUT;
    return st;
}

/* Wait until the current generation is READY or cannot be: a death ends
 * the wait at once (waiting longer would not help). */
static enum gen_start wait_ready(struct kp_master *m, unsigned want)
{
    uint64_t deadline = now_ms(CLOCK_MONOTONIC) + READY_TIMEOUT_MS;

    for (;;) {
        enum gen_start st = generation_state(m, want);
        if (st != GEN_TIMEOUT || now_ms(CLOCK_MONOTONIC) > deadline)
            return st;
        nap(m, 5);
    }
}

/* After SIGHUP to the old generation: wait until none of its workers can
 * accept any more (each says DRAINING once it has stopped), so that the
 * reload is reported done only when every new connection meets the new
 * configuration. */
static bool wait_old_draining(struct kp_master *m)
{
    uint64_t deadline = now_ms(CLOCK_MONOTONIC) + DRAIN_START_MS;

    for (;;) {
        bool accepting = false;
        for (size_t i = 0; i < KP_SB_MAX_SLOTS && !accepting; i++) {
            struct kp_sb_slot *s = &m->sb->slots[i];
            int state = atomic_load(&s->state);
            accepting = atomic_load(&s->generation) != m->generation &&
                        (state == KP_SB_STARTING || state == KP_SB_READY);
        }
        if (!accepting)
            return true;
        if (now_ms(CLOCK_MONOTONIC) > deadline)
            return false;
        nap(m, 2);
    }
}

/* The new generation failed: stop it and go back to the old one. */
static void abandon_generation(struct kp_master *m, struct kp_cycle *nc)
{
    /* Only the new generation goes: the old one keeps serving. */
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        if (m->kids[i].pid != 0 && m->kids[i].generation == m->generation) {
            kill(m->kids[i].pid, SIGKILL);
            waitpid(m->kids[i].pid, NULL, 0);
            struct kp_sb_slot *slot = kp_sb_find(m->sb, m->kids[i].pid);
            if (kp_shmtx_unlock(&m->sb->accept_mutex, m->kids[i].pid))
                kp_shmtx_ring(&m->sb->accept_mutex);
            if (slot != NULL)
                kp_sb_release(slot);
            m->kids[i].pid = 0;
        }
    }
    m->generation--;
    atomic_store(&m->sb->generation, m->generation);
    kp_listen_give_back(nc, m->cycle);
}

static int reopen_error_log(struct kp_master *m, const struct kp_cycle *nc)
{
    const char *path = nc->core.error_log_path;
    bool same = (m->log.path == NULL && strcmp(path, "stderr") == 0) ||
                (m->log.path != NULL && strcmp(m->log.path, path) == 0);

    if (same) {
        m->log.level = nc->core.error_log_level;
        return 0;
    }
    int rc = kp_log_open(&m->log, path, nc->core.error_log_level);
    if (rc != 0)
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "open() \"%s\" failed", path);
    return rc;
}

static void reload(struct kp_master *m, const struct kp_signals *requesters)
{
    char err[1024];
    struct kp_cycle *nc;

    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "reconfiguring");
    nc = kp_cycle_load(m->cycle->prefix, m->cycle->conf_path, m->extra, err, sizeof(err));
    if (nc == NULL) {
        kp_log_error(&m->log, KP_LOG_EMERG, 0, "%s", err);
        answer(requesters, KP_RELOAD_ECONF, 0);
        return;
    }
    int rc = kp_listen_open(nc, m->cycle, &m->log);
    if (rc != 0) {
        kp_cycle_free(nc);
        answer(requesters, KP_RELOAD_ELISTEN, -rc);
        return;
    }
    reopen_error_log(m, nc);
    struct kp_cycle *old = m->cycle;
    m->cycle = nc;
    prepare_log_files(m);
    struct kp_respawn *old_respawn = m->respawn;
    m->respawn = NULL;
    m->generation++;
    m->retiring = old;
    spawn_generation(m);
    bool ready = wait_ready(m, (unsigned)nc->core.worker_processes) == GEN_READY;
    m->retiring = NULL;
    if (!ready) {
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "new workers did not start: keeping the old ones");
        m->cycle = old;
        abandon_generation(m, nc);
        kp_free(m->respawn);
        m->respawn = old_respawn;
        kp_cycle_free(nc);
        answer(requesters, KP_RELOAD_EWORKERS, 0);
        return;
    }
    kp_free(old_respawn);
    signal_generation(m, SIGHUP, true);
    if (!wait_old_draining(m))
        kp_log_error(&m->log, KP_LOG_WARN, 0, "old workers are slow to stop accepting");
    kp_listen_close(old);
    kp_cycle_free(old);
    atomic_fetch_add(&m->sb->reloads, 1);
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "reload complete: generation %u", m->generation);
    answer(requesters, KP_RELOAD_OK, 0);
}

/* --- the master loop ------------------------------------------------------------ */

static void on_signals(struct kp_master *m, const struct kp_signals *sig)
{
    if (sig->child)
        reap(m);
    if (sig->terminate && !m->terminating) {
        m->terminating = true;
        m->kill_at_ms = now_ms(CLOCK_MONOTONIC) + KILL_GRACE_MS;
        signal_generation(m, SIGTERM, false);
        kp_listen_close(m->cycle);
    }
    if (sig->quit && !m->quitting && !m->terminating) {
        m->quitting = true;
        signal_generation(m, SIGQUIT, false);
        /* The workers close their copies: with the master's gone too, a new
         * client is refused at once instead of waiting in the backlog of a
         * server that will never accept it. */
        kp_listen_close(m->cycle);
    }
    if (sig->upgrade)
        kp_log_error(&m->log, KP_LOG_NOTICE, 0,
                     "SIGUSR2 (binary upgrade) is not supported, ignored: reload with SIGHUP");
    if (sig->reopen) {
        int rc = kp_log_reopen(&m->log);
        if (rc != 0)
            kp_log_error(&m->log, KP_LOG_ALERT, -rc, "reopening the error log failed");
        prepare_log_files(m);
        signal_generation(m, SIGUSR1, false);
    }
    if (sig->winch && !m->workers_stopped) {
        m->workers_stopped = true;
        signal_generation(m, SIGQUIT, false);
    }
    if (sig->reload) {
        if (m->terminating || m->quitting) {
            answer(sig, KP_RELOAD_EBUSY, 0);
        } else {
            m->workers_stopped = false;
            reload(m, sig);
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
    return m->cycle->events.accept_mutex && m->cycle->core.worker_processes > 1;
}

static void check_mutex_holder(struct kp_master *m)
{
    pid_t owner = kp_shmtx_owner(&m->sb->accept_mutex);
    struct kp_sb_slot *slot = owner > 0 ? kp_sb_find(m->sb, owner) : NULL;

    if (slot == NULL)
        return;
    uint64_t beat = atomic_load(&slot->heartbeat_ms), now = now_ms(CLOCK_REALTIME);
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
    return s->terminate || s->quit || s->reload || s->reopen || s->winch || s->child || s->upgrade;
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
        int64_t wait = respawn_due(m);
        if (mutex_in_use(m)) {
            check_mutex_holder(m);
            wait = wait < 0 || wait > 1000 ? 1000 : wait;
        }
        if (m->terminating) {
            uint64_t now = now_ms(CLOCK_MONOTONIC);
            if (now >= m->kill_at_ms)
                signal_generation(m, SIGKILL, false);
            int64_t left = now >= m->kill_at_ms ? 100 : (int64_t)(m->kill_at_ms - now);
            wait = wait < 0 || left < wait ? left : wait;
        }
        if ((m->terminating || m->quitting) && live_children(m) == 0)
            return 0;
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        if (ppoll(NULL, 0, wait < 0 ? NULL : &ts, &m->wait_mask) < 0 && errno != EINTR) {
            kp_log_error(&m->log, KP_LOG_ALERT, errno, "ppoll() failed in the master");
            return 1;
        }
    }
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
    atomic_store(&m->sb->start_ms, now_ms(CLOCK_REALTIME));
    prepare_log_files(m);
    m->generation = 1;
    spawn_generation(m);
    int rc;
    /* Workers that cannot run this configuration at all: rather than a
     * master holding the port with no one to serve it, exit. Workers that
     * crash are respawned with backoff by the main loop. */
    if (wait_ready(m, (unsigned)m->cycle->core.worker_processes) == GEN_FATAL) {
        kp_log_error(&m->log, KP_LOG_EMERG, 0, "worker processes cannot start, exiting");
        m->terminating = true;
        signal_generation(m, SIGKILL, false);
        while (live_children(m) > 0)
            nap(m, 5);
        rc = 1;
    } else {
        rc = master_loop(m);
    }
    kp_free(m->respawn);
    kp_sb_destroy(m->sb);
    return rc;
}

/* --- start-up ------------------------------------------------------------------- */

static int check_appendable(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        int err = errno;
        fprintf(stderr, "kelpie: [emerg] open() \"%s\" failed (%d: %s)\n", path, err,
                strerror(err));
        return -err;
    }
    close(fd);
    return 0;
}

static int check_access_logs(const struct kp_http_loc_conf *loc)
{
    for (size_t i = 0; i < loc->n_access_logs; i++) {
        int rc = check_appendable(loc->access_logs[i].path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_pid_dir(const char *pid_path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(pid_path, '/');
    size_t n = slash == NULL ? 1 : slash == pid_path ? 1 : (size_t)(slash - pid_path);

    if (n >= sizeof(dir))
        return -ENAMETOOLONG;
    memcpy(dir, slash == NULL ? "." : pid_path, n);
    dir[n] = '\0';
    if (access(dir, W_OK) == 0)
        return 0;
    int err = errno;
    fprintf(stderr, "kelpie: [emerg] cannot write the pid file \"%s\" (%d: %s)\n", pid_path, err,
            strerror(err));
    return -err;
}

int kp_master_preflight(const struct kp_cycle *cycle)
{
    const struct kp_core_conf *core = &cycle->core;
    const struct kp_http_conf *http = &cycle->http;
    const char *what;
    int rc = 0;

    if (geteuid() == 0 && kp_process_check_ids(core->user, core->group, &what) != 0) {
        fprintf(stderr, "kelpie: [emerg] %s(\"%s\") failed: no such %s\n",
                what == core->group ? "getgrnam" : "getpwnam", what,
                what == core->group ? "group" : "user");
        return -ENOENT;
    }
    if (strcmp(core->error_log_path, "stderr") != 0)
        rc = check_appendable(core->error_log_path);
    for (size_t i = 0; i < http->n_servers && rc == 0; i++) {
        rc = check_access_logs(http->servers[i]->loc);
        for (size_t j = 0; j < http->servers[i]->n_locations && rc == 0; j++)
            rc = check_access_logs(http->servers[i]->locations[j]);
    }
    return rc != 0 ? rc : check_pid_dir(core->pid_path);
}

static int start_checks(struct kp_master *m)
{
    const struct kp_core_conf *core = &m->cycle->core;
    pid_t live = kp_process_pidfile_live(core->pid_path);

    if (live > 0) {
        fprintf(stderr, "kelpie: [emerg] kelpie is already running (pid %d from \"%s\")\n",
                (int)live, core->pid_path);
        return -EEXIST;
    }
    int rc = kp_master_preflight(m->cycle);
    if (rc != 0)
        return rc;
    rc = kp_log_open(&m->log, core->error_log_path, core->error_log_level);
    if (rc != 0) {
        fprintf(stderr, "kelpie: [emerg] open() \"%s\" failed (%d: %s)\n", core->error_log_path,
                -rc, strerror(-rc));
        return rc;
    }
    rc = kp_listen_open(m->cycle, NULL, &m->log);
    if (rc != 0 && m->log.path != NULL)
        fprintf(stderr, "kelpie: [emerg] cannot open listening sockets (%d: %s), see %s\n", -rc,
                strerror(-rc), m->log.path);
    return rc;
}

static int become_daemon(struct kp_master *m)
{
    if (!m->cycle->core.daemon)
        return 0;
    int rc = kp_process_daemonize();
    if (rc != 0)
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "daemonizing failed");
    return rc;
}

int kp_master_main(struct kp_cycle *cycle, const struct kp_cli *cli, int argc, char *argv[])
{
    struct kp_master *m = kp_calloc(1, sizeof(*m));
    sigset_t old;
    int rc = 1;

    m->cycle = cycle;
    m->extra = cli->directives ? kp_strdup(cli->directives) : NULL;
    kp_log_init_stderr(&m->log, cycle->core.error_log_level);
    kp_process_title_init(&m->title, argc, argv);
    if (start_checks(m) != 0 || become_daemon(m) != 0)
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
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "kelpie/%s started", KP_VERSION);
    if (cycle->core.master_process)
        rc = run_master(m, argc, argv);
    else
        rc = kp_serve_worker(m->cycle, &m->log, NULL, NULL, 0) == 0 ? 0 : 1;
    unlink(m->cycle->core.pid_path);
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "exit");
out:
    kp_listen_close(m->cycle);
    kp_cycle_free(m->cycle);
    kp_log_close(&m->log);
    kp_free(m->extra);
    kp_free(m);
    return rc;
}

/* --- kelpie -s reload ----------------------------------------------------------- */

static const char *reload_reason(enum kp_reload_result r)
{
    switch (r) {
    case KP_RELOAD_ECONF:
        return "the configuration is invalid";
    case KP_RELOAD_ELISTEN:
        return "a listening socket could not be opened";
    case KP_RELOAD_EWORKERS:
        return "the new worker processes did not start";
    case KP_RELOAD_EBUSY:
        return "the master is shutting down";
    case KP_RELOAD_ENOTSUP:
        return "kelpie runs with master_process off, which cannot reload: restart it";
    default:
        return "unknown failure";
    }
}

int kp_master_reload_and_wait(const struct kp_cycle *cycle, pid_t pid)
{
    sigset_t set;
    siginfo_t info;
    struct timespec timeout = {60, 0};

    (void)cycle;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (sigqueue(pid, KP_SIGNAL_RELOAD_RT, (union sigval){.sival_int = KP_RELOAD_COOKIE}) != 0) {
        fprintf(stderr, "kelpie: [error] sigqueue(%d) failed (%d: %s)\n", (int)pid, errno,
                strerror(errno));
        return 1;
    }
    for (;;) {
        if (sigtimedwait(&set, &info, &timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "kelpie: [error] no answer from the master (pid %d) within 60 s\n",
                    (int)pid);
            return 1;
        }
        if (info.si_pid == pid)
            break;
    }
    int result = info.si_value.sival_int >> 16, err = info.si_value.sival_int & 0xffff;
    if (result == KP_RELOAD_OK)
        return 0;
    fprintf(stderr, "kelpie: [error] reload failed: %s%s%s (see the error log)\n",
            reload_reason((enum kp_reload_result)result), err ? ": " : "",
            err ? strerror(err) : "");
    return 1;
}
