/* Killing workers whose heartbeat stopped (see master_watchdog.h). */
#include "kelpie/proc/master_watchdog.h"

#include <signal.h>

static void kill_frozen(struct kp_master *m, struct kp_child *k, const struct kp_sb_slot *slot,
                        uint64_t silent_ms)
{
    uint64_t timeout = m->cycle->core.worker_watchdog_timeout_ms;

    k->watchdog_killed = true;
    kill(k->pid, SIGKILL);
    kp_log_error(&m->log, KP_LOG_ALERT, 0,
                 "worker process %d (worker %u, slot %u) has not run for %llu ms "
                 "(worker_watchdog_timeout %llu ms): killed, a new one replaces it",
                 (int)k->pid, k->index, (unsigned)(slot - m->sb->slots),
                 (unsigned long long)silent_ms, (unsigned long long)timeout);
}

int64_t kp_master_watchdog_check(struct kp_master *m)
{
    uint64_t timeout = m->cycle->core.worker_watchdog_timeout_ms;
    uint64_t now = kp_master_clock_ms(CLOCK_MONOTONIC);

    if (timeout == 0)
        return -1;
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        struct kp_child *k = &m->kids[i];
        if (k->pid == 0 || k->watchdog_killed)
            continue;
        /* Every reactor thread of the worker beats on its own slot: one
         * frozen thread is a frozen worker. A worker that never beat is
         * measured from its fork: one stuck while starting is as lost as
         * one stuck later. */
        for (struct kp_sb_slot *slot = kp_sb_find(m->sb, k->pid); slot != NULL;
             slot = kp_sb_next(m->sb, k->pid, slot)) {
            uint64_t beat = atomic_load(&slot->heartbeat_mono_ms);
            if (atomic_load(&slot->finished))
                continue;
            if (beat == 0)
                beat = k->started_ms;
            if (now > beat && now - beat >= timeout) {
                kill_frozen(m, k, slot, now - beat);
                break;
            }
        }
    }
    /* A quarter of the timeout between checks: a freeze is noticed within
     * 1.25 times the timeout, and a long timeout costs one wake-up a second. */
    return timeout >= 4000 ? 1000 : (int64_t)timeout / 4;
}
