/* A new generation of workers on SIGHUP (see master_reload.h). */
#include "kelpie/proc/master_reload.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/proc/listen.h"
#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/master_start.h"
#include "kelpie/proc/master_spawn.h"
#include "kelpie/http/limit.h"
#include "kelpie/http/ssl.h"

#define READY_TIMEOUT_MS 10000 /* a new generation must be up by then */
#define DRAIN_START_MS   2000  /* ... and the old one should stop accepting by then */

/* Tell every `kelpie -s reload` waiting how its reload went. */
void kp_master_reload_answer(const struct kp_signals *sig, enum kp_reload_result result, int err)
{
    kp_signal_answer(sig, KP_RELOAD_ANSWER(result, err));
}

/* want workers, each with a READY slot per reactor thread. */
static bool generation_ready(struct kp_master *m, unsigned generation, unsigned want)
{
    unsigned ready = 0;

    want *= m->cycle->core.worker_threads > 1 ? m->cycle->core.worker_threads : 1;
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_sb_slot *s = &m->sb->slots[i];
        if (atomic_load(&s->generation) == generation && atomic_load(&s->state) == KP_SB_READY)
            ready++;
    }
    return ready >= want;
}

static enum kp_gen_start generation_state(struct kp_master *m, unsigned want)
{
    enum kp_gen_start st = KP_GEN_READY;

    for (unsigned i = 0; i < m->n_workers; i++) {
        if (m->respawn[i].fatal)
            return KP_GEN_FATAL;
        if (m->respawn[i].due_ms != 0)
            st = KP_GEN_DIED;
    }
    if (st == KP_GEN_READY && !generation_ready(m, m->generation, want))
        return KP_GEN_TIMEOUT;
    return st;
}

/* Wait until the current generation is READY or cannot be: a death ends
 * the wait at once (waiting longer would not help). */
enum kp_gen_start kp_master_reload_wait_ready(struct kp_master *m, unsigned want)
{
    uint64_t deadline = kp_master_clock_ms(CLOCK_MONOTONIC) + READY_TIMEOUT_MS;

    for (;;) {
        enum kp_gen_start st = generation_state(m, want);
        if (st != KP_GEN_TIMEOUT || kp_master_clock_ms(CLOCK_MONOTONIC) > deadline)
            return st;
        kp_master_spawn_nap(m, 5);
    }
}

/* After SIGHUP to the old generation: wait until none of its workers can
 * accept any more (each says DRAINING once it has stopped), so that the
 * reload is reported done only when every new connection meets the new
 * configuration. */
static bool wait_old_draining(struct kp_master *m)
{
    uint64_t deadline = kp_master_clock_ms(CLOCK_MONOTONIC) + DRAIN_START_MS;

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
        if (kp_master_clock_ms(CLOCK_MONOTONIC) > deadline)
            return false;
        kp_master_spawn_nap(m, 2);
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
            kp_master_spawn_forget(m, m->kids[i].pid);
            close(m->kids[i].chan);
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

    /* The further main error_log lines' files are in nc's table already. */
    m->log.next = nc->core.error_log_more;
    if (same) {
        m->log.level = nc->core.error_log_level;
        return 0;
    }
    int rc = kp_log_open(&m->log, path, nc->core.error_log_level);
    if (rc != 0)
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "open() \"%s\" failed", path);
    return rc;
}

void kp_master_reload_resume(struct kp_master *m, const struct kp_signals *requesters)
{
    unsigned want = (unsigned)m->cycle->core.worker_processes;

    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "SIGHUP after SIGWINCH: starting the workers again");
    m->workers_stopped = false;
    m->generation++;
    kp_master_spawn_generation(m);
    if (kp_master_reload_wait_ready(m, want) != KP_GEN_READY) {
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "the restarted workers are not all ready");
        kp_master_reload_answer(requesters, KP_RELOAD_EWORKERS, 0);
    } else {
        kp_master_reload_answer(requesters, KP_RELOAD_OK, 0);
    }
}

void kp_master_reload_run(struct kp_master *m, const struct kp_signals *requesters)
{
    char err[1024];
    struct kp_cycle *nc;

    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "reconfiguring");
    nc = kp_cycle_load_elog(m->cycle->prefix, m->cycle->conf_path, m->extra, m->error_log, err,
                            sizeof(err));
    if (nc != NULL && kp_master_start_check_ids(nc, err, sizeof(err)) != 0) {
        kp_cycle_free(nc);
        nc = NULL;
    }
    if (nc == NULL) {
        kp_log_error(&m->log, KP_LOG_EMERG, 0, "%s", err);
        kp_master_reload_answer(requesters, KP_RELOAD_ECONF, 0);
        return;
    }
    kp_master_start_log_method(nc, &m->log);
    int rc = kp_listen_open(nc, m->cycle, &m->log);
    if (rc != 0) {
        kp_cycle_free(nc);
        kp_master_reload_answer(requesters, KP_RELOAD_ELISTEN, -rc);
        return;
    }
    rc = kp_logfiles_open(nc, &m->log);
    if (rc != 0) {
        kp_listen_give_back(nc, m->cycle);
        kp_cycle_free(nc);
        kp_master_reload_answer(requesters, KP_RELOAD_ELOGS, -rc);
        return;
    }
    reopen_error_log(m, nc);
    kp_http_ssl_adopt(&nc->http, nc->arena,
                      &m->cycle->http); /* TLS sessions and ticket keys live on */
    kp_http_limit_adopt(&nc->http, nc->arena, &m->cycle->http); /* and the limit zones */
    struct kp_cycle *old = m->cycle;
    m->cycle = nc;
    struct kp_respawn *old_respawn = m->respawn;
    unsigned old_n = m->n_workers;
    m->respawn = NULL;
    m->generation++;
    m->retiring = old;
    kp_master_spawn_generation(m);
    bool ready = kp_master_reload_wait_ready(m, m->n_workers) == KP_GEN_READY;
    m->retiring = NULL;
    if (!ready) {
        kp_log_error(&m->log, KP_LOG_ALERT, 0, "new workers did not start: keeping the old ones");
        m->cycle = old;
        abandon_generation(m, nc);
        kp_logfiles_close(nc);
        kp_free(m->respawn);
        m->respawn = old_respawn;
        m->n_workers = old_n;
        kp_cycle_free(nc);
        kp_master_reload_answer(requesters, KP_RELOAD_EWORKERS, 0);
        return;
    }
    kp_free(old_respawn);
    kp_master_spawn_signal(m, SIGHUP, true);
    if (!wait_old_draining(m))
        kp_log_error(&m->log, KP_LOG_WARN, 0, "old workers are slow to stop accepting");
    kp_listen_close(old, true); /* what the new configuration dropped */
    kp_logfiles_close(old);
    kp_cycle_free(old);
    atomic_fetch_add(&m->sb->reloads, 1);
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "reload complete: generation %u", m->generation);
    kp_master_reload_answer(requesters, KP_RELOAD_OK, 0);
}
