/* Log rotation in the master (see master_logs.h). */
#include "kelpie/proc/master_logs.h"

#include <signal.h>
#include <unistd.h>

#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/master_spawn.h"
#include "kelpie/os/process.h"

void kp_master_logs_reopen(struct kp_master *m)
{
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "reopening logs");
    kp_logfiles_reopen_own(m->cycle, &m->log);
    uid_t uid;
    if (geteuid() == 0 && kp_process_worker_uid(m->cycle->core.user, &uid) == 0)
        kp_logfiles_give(m->cycle, &m->log, uid);
    for (size_t i = 0; i < KP_SB_MAX_SLOTS; i++) {
        const struct kp_child *k = &m->kids[i];
        if (k->pid == 0 || k->generation != m->generation)
            continue;
        int rc = kp_logfiles_send(k->chan, m->cycle, &m->log);
        if (rc != 0)
            kp_log_error(&m->log, KP_LOG_ALERT, -rc,
                         "cannot hand the reopened logs to worker process %d", (int)k->pid);
    }
    kp_master_spawn_signal(m, SIGUSR1, false);
}
