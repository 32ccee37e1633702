/* The process settings nginx gives its workers, applied in a freshly forked
 * worker: worker_priority and worker_rlimit_core while it may still be root,
 * working_directory and env once it runs as the configured user. Failures
 * are logged ([alert], as nginx) and the worker goes on. */
#ifndef KP_WORKER_SETUP_H
#define KP_WORKER_SETUP_H

#include "kelpie/proc/cycle.h"
#include "kelpie/util/log.h"

/* setpriority() to core->worker_priority (when not 0) and RLIMIT_CORE to
 * core->worker_rlimit_core (when set). Before the privilege switch. */
void kp_worker_setup_privileged(const struct kp_core_conf *core, const struct kp_log *log);
/* chdir(core->working_directory) when set; the environment reduced to TZ
 * and the env lines (VAR keeps the inherited value, VAR=VALUE sets it), as
 * nginx's workers see it. After the privilege switch. */
void kp_worker_setup_user(const struct kp_core_conf *core, const struct kp_log *log);
/* worker_cpu_affinity for reactor index (the worker number; with
 * worker_threads, worker * worker_threads + thread): pins the calling
 * thread (sched_setaffinity applies to the caller), before the calling
 * process or thread starts others. auto: one CPU each in turn among those
 * the caller may use; masks: the index-th, the last repeating. Unset:
 * nothing. Failures are logged and the reactor serves unpinned. */
void kp_worker_setup_cpus(const struct kp_core_conf *core, unsigned index,
                          const struct kp_log *log);

#endif
