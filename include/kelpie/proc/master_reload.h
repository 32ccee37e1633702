/* Reload, step by step: the new configuration is loaded and validated (on
 * failure nothing changes); listening sockets with an unchanged address are
 * taken over with their fds, new ones opened; a new generation of workers is
 * forked and the master waits until each reports READY in the scoreboard (not
 * a fixed sleep); only then is the old generation told to drain (SIGHUP),
 * which it does without resetting any keep-alive connection. If the new
 * workers do not come up, they are stopped and the old generation keeps
 * serving. */
#ifndef KP_MASTER_RELOAD_H
#define KP_MASTER_RELOAD_H

#include "kelpie/proc/reload_request.h"
#include "kelpie/proc/master_state.h"
#include "kelpie/os/signal.h"

/* How a new generation's start went. */
enum kp_gen_start {
    KP_GEN_READY,   /* every worker said READY */
    KP_GEN_FATAL,   /* a worker exited with KP_EXIT_FATAL: the configuration cannot run */
    KP_GEN_DIED,    /* a worker died otherwise (it is being respawned) */
    KP_GEN_TIMEOUT, /* not all READY within 10 s */
};

/* Wait (at most 10 s, reaping meanwhile) until `want` workers of the current
 * generation are READY or cannot be: a death ends the wait at once (waiting
 * longer would not help). Blocks; other signals stay raised. */
enum kp_gen_start kp_master_reload_wait_ready(struct kp_master *m, unsigned want);
/* Reload as described above, then answer every `kelpie -s reload` in
 * requesters with the outcome (KP_RELOAD_*). On success m->cycle is the new
 * cycle and the old one is freed; on failure nothing changes but the log.
 * Blocks until the new generation is ready and the old one stops accepting
 * (bounded). */
void kp_master_reload_run(struct kp_master *m, const struct kp_signals *requesters);
/* HUP after WINCH: a new generation of workers with the current
 * configuration (nginx's rollback of a binary upgrade, master_upgrade.h),
 * ready before this returns (bounded); requesters are answered. The caller
 * tells systemd READY afterwards, as after kp_master_reload_run. */
void kp_master_reload_resume(struct kp_master *m, const struct kp_signals *requesters);
/* Tell every `kelpie -s reload` waiting in sig how its reload went (err: an
 * errno for details, or 0). */
void kp_master_reload_answer(const struct kp_signals *sig, enum kp_reload_result result, int err);

#endif
