/* Forking, reaping and respawning workers (see master_spawn.h). */
#include "kelpie/proc/worker_setup.h"
#include "kelpie/proc/master_spawn.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/alloc.h"
#include "kelpie/proc/listen.h"
#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/master_upgrade.h"
#include "kelpie/proc/serve.h"
#include "kelpie/os/signal.h"

#define FAST_DEATH_MS    1000 /* a death this soon after start counts as a crash loop */
#define FAST_DEATHS_FREE 3    /* fast deaths respawned at once before backoff starts */
#define BACKOFF_MAX_MS   30000

size_t kp_master_spawn_live(const struct kp_master *m)
{
    size_t n = 0;
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++)
        n += m->kids[i].pid != 0;
    return n;
}

void kp_master_spawn_signal(struct kp_master *m, int sig, bool old_only)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_child *k = &m->kids[i];
        if (k->pid != 0 && (!old_only || k->generation != m->generation))
            kill(k->pid, sig);
    }
}

/* --- the worker side of fork ------------------------------------------------ */

/* What the master holds that a worker must not: the master's ends of the
 * other workers' channels and, during a reload, the retiring cycle's
 * sockets and log files (still open in the master until the new generation
 * is up: this worker must not keep them alive). */
static void drop_master_fds(struct kp_master *m)
{
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        if (m->kids[i].pid != 0)
            close(m->kids[i].chan);
    }
    if (m->retiring != NULL) {
        kp_listen_close_copies(m->retiring);
        kp_logfiles_close(m->retiring);
    }
}

static void worker_process(struct kp_master *m, pid_t master, unsigned index,
                           struct kp_sb_slot *const *slots, int chan)
{
    kp_process_title_set(&m->title, "kelpie: worker process");
    drop_master_fds(m);
    /* With threads, each reactor thread pins itself (worker_threads.h). */
    if (m->cycle->core.worker_threads <= 1)
        kp_worker_setup_cpus(&m->cycle->core, index, &m->log);
    kp_worker_setup_privileged(&m->cycle->core, &m->log);
    int rc = kp_process_drop_privileges(m->cycle->core.user, m->cycle->core.group);
    if (rc != 0) {
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "cannot switch to user \"%s\"",
                     m->cycle->core.user ? m->cycle->core.user : "nobody");
        _exit(KP_EXIT_FATAL);
    }
    /* Only now: the kernel clears the parent-death signal when the
     * credentials change, so one set before the switch would be lost as root
     * and the workers would outlive a master killed with SIGKILL. The master
     * may die before or after this call: check both ways. */
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != master)
        _exit(0);
#ifdef KP_DEBUG
    /* Test hook (debug builds only): a worker that crashes at start. */
    if (getenv("KELPIE_TEST_CRASH_AT_START") != NULL)
        abort();
#endif
    kp_worker_setup_user(&m->cycle->core, &m->log);
    rc = kp_serve_worker(m->cycle, &m->log, m->sb, slots, index, chan);
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "exit");
    _exit(rc);
}

/* A scoreboard slot per reactor thread of the new worker; on failure none
 * is left claimed. */
static bool claim_slots(struct kp_master *m, unsigned generation, unsigned index,
                        struct kp_sb_slot **slots, unsigned n)
{
    for (unsigned t = 0; t < n; t++) {
        slots[t] = kp_sb_claim(m->sb, generation, index);
        if (slots[t] == NULL) {
            while (t-- > 0)
                kp_sb_release(slots[t]);
            return false;
        }
        atomic_store(&slots[t]->thread, t);
    }
    return true;
}

static void release_slots(struct kp_sb_slot *const *slots, unsigned n)
{
    for (unsigned t = 0; t < n; t++)
        kp_sb_release(slots[t]);
}

int kp_master_spawn_worker(struct kp_master *m, unsigned index, unsigned generation)
{
    unsigned n = m->cycle->core.worker_threads > 1 ? m->cycle->core.worker_threads : 1;
    struct kp_sb_slot *slots[KP_SB_MAX_SLOTS];
    struct kp_child *k = NULL;

    for (size_t i = 0; i < KP_SB_MAX_SLOTS && k == NULL; i++)
        k = m->kids[i].pid == 0 ? &m->kids[i] : NULL;
    if (k == NULL || n > KP_SB_MAX_SLOTS || !claim_slots(m, generation, index, slots, n)) {
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "no free worker slot (at most %d workers)",
                     KP_SB_MAX_SLOTS);
        return -ENOSPC;
    }
    /* The channel: the master sends the worker its reopened log files. */
    int chan[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, chan) < 0) {
        release_slots(slots, n);
        kp_log_error(&m->log, KP_LOG_ALERT, errno, "socketpair() failed while spawning a worker");
        return -errno;
    }
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(chan[0]);
        close(chan[1]);
        release_slots(slots, n);
        kp_log_error(&m->log, KP_LOG_ALERT, err, "fork() failed while spawning a worker");
        return -err;
    }
    if (pid == 0) {
        close(chan[0]);
        worker_process(m, master, index, slots, chan[1]);
    }
    close(chan[1]);
    for (unsigned t = 0; t < n; t++) {
        atomic_store(&slots[t]->pid, (int)pid);
        atomic_store(&slots[t]->start_ms, kp_master_clock_ms(CLOCK_REALTIME));
    }
    *k = (struct kp_child){.pid = pid,
                           .index = index,
                           .generation = generation,
                           .started_ms = kp_master_clock_ms(CLOCK_MONOTONIC),
                           .chan = chan[0]};
    if (generation == m->generation && m->respawn != NULL) {
        struct kp_respawn *r = &m->respawn[index];
        r->starts_ms[r->n_starts++ % KP_RESPAWN_MAX_STARTS] = k->started_ms;
    }
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "start worker process %d", (int)pid);
    return 0;
}

void kp_master_spawn_generation(struct kp_master *m)
{
    m->n_workers = (unsigned)m->cycle->core.worker_processes;
    kp_free(m->respawn);
    m->respawn = kp_calloc(KP_SB_MAX_SLOTS, sizeof(*m->respawn));
    atomic_store(&m->sb->generation, m->generation);
    atomic_store(&m->sb->threads, m->cycle->core.worker_threads);
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "start worker processes");
    for (unsigned i = 0; i < m->n_workers; i++)
        kp_master_spawn_worker(m, i, m->generation);
}

/* Half the slots: a reload still finds room for a whole new generation. */
#define LIVE_MAX (KP_SB_MAX_SLOTS / 2)

void kp_master_spawn_more(struct kp_master *m)
{
    if (m->n_workers >= LIVE_MAX) {
        kp_log_error(&m->log, KP_LOG_WARN, 0, "SIGTTIN ignored: already %u worker processes",
                     m->n_workers);
        return;
    }
    unsigned index = m->n_workers++;
    m->respawn[index] = (struct kp_respawn){0};
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "SIGTTIN: %u worker process%s", m->n_workers,
                 m->n_workers == 1 ? "" : "es");
    kp_master_spawn_worker(m, index, m->generation);
}

void kp_master_spawn_fewer(struct kp_master *m)
{
    if (m->n_workers <= 1) {
        kp_log_error(&m->log, KP_LOG_NOTICE, 0, "SIGTTOU ignored: one worker process is left");
        return;
    }
    unsigned index = --m->n_workers;
    m->respawn[index] = (struct kp_respawn){0};
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "SIGTTOU: %u worker process%s", m->n_workers,
                 m->n_workers == 1 ? "" : "es");
    /* The last one goes, gracefully: its connections are finished. */
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_child *k = &m->kids[i];
        if (k->pid != 0 && k->generation == m->generation && k->index == index && !k->dismissed) {
            k->dismissed = true;
            kill(k->pid, SIGQUIT);
        }
    }
}

/* --- reaping and respawning --------------------------------------------------- */

/* How long the respawn limit holds the next start back: until the oldest of
 * the last KP_RESPAWN_MAX_STARTS starts leaves the window. */
static uint64_t window_wait(const struct kp_respawn *r, uint64_t now)
{
    if (r->n_starts < KP_RESPAWN_MAX_STARTS)
        return 0;
    uint64_t free_at = r->starts_ms[r->n_starts % KP_RESPAWN_MAX_STARTS] + KP_RESPAWN_WINDOW_MS;
    return free_at > now ? free_at - now : 0;
}

static void schedule_respawn(struct kp_master *m, const struct kp_child *k, int status)
{
    struct kp_respawn *r = &m->respawn[k->index];
    uint64_t now = kp_master_clock_ms(CLOCK_MONOTONIC);

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
    uint64_t hold = window_wait(r, now);
    if (hold > delay) {
        delay = hold;
        kp_log_error(&m->log, KP_LOG_ALERT, 0,
                     "worker %u was started %d times within %d s: respawning in %llu ms", k->index,
                     KP_RESPAWN_MAX_STARTS, KP_RESPAWN_WINDOW_MS / 1000, (unsigned long long)delay);
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

void kp_master_spawn_forget(struct kp_master *m, pid_t pid)
{
    struct kp_sb_slot *slot;

    /* A worker killed while holding the accept mutex would stall accepting
     * for everyone: release it on its behalf (under the value of whichever
     * of its reactors held it), and ring the bell so that a waiting worker
     * takes it now rather than when its accept_mutex_delay runs out. */
    while ((slot = kp_sb_find(m->sb, pid)) != NULL) {
        int owner = atomic_load(&slot->owner);
        if (kp_shmtx_unlock(&m->sb->accept_mutex, owner > 0 ? owner : pid)) {
            kp_shmtx_ring(&m->sb->accept_mutex);
            kp_log_error(&m->log, KP_LOG_NOTICE, 0, "released the accept mutex held by %d",
                         (int)pid);
        }
        kp_sb_retire(m->sb, slot);
    }
}

void kp_master_spawn_reap(struct kp_master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct kp_child *k = find_child(m, pid);
        if (k == NULL) {
            kp_master_upgrade_reaped(m, pid, status); /* a new binary's master? */
            continue;
        }
        log_exit(m, pid, status);
        kp_master_spawn_forget(m, pid);
        /* Workers of the current generation only exit when told to: any
         * other exit is a loss to make good. */
        if (k->generation == m->generation && !k->dismissed && k->index < m->n_workers &&
            !m->terminating && !m->quitting && !m->workers_stopped)
            schedule_respawn(m, k, status);
        close(k->chan);
        k->pid = 0;
    }
}

int64_t kp_master_spawn_due(struct kp_master *m)
{
    uint64_t now = kp_master_clock_ms(CLOCK_MONOTONIC);
    int64_t next = -1;

    for (unsigned i = 0; i < m->n_workers; i++) {
        struct kp_respawn *r = &m->respawn[i];
        if (r->due_ms == 0 || r->fatal)
            continue;
        if (r->due_ms <= now) {
            r->due_ms = 0;
            atomic_fetch_add(&m->sb->respawns, 1);
            kp_master_spawn_worker(m, i, m->generation);
        } else if (next < 0 || (int64_t)(r->due_ms - now) < next) {
            next = (int64_t)(r->due_ms - now);
        }
    }
    return next;
}

/* Sleep a little with signals deliverable, reaping children meanwhile. */
void kp_master_spawn_nap(struct kp_master *m, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    ppoll(NULL, 0, &ts, &m->wait_mask);
    /* Only children are handled here; every other signal (another reload
     * with its requester included) stays raised for the main loop. */
    if (kp_signal_take_child())
        kp_master_spawn_reap(m);
}
