/* worker_priority, worker_rlimit_core, working_directory, env (see
 * worker_setup.h). */
#include "kelpie/proc/worker_setup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/os/process.h"

void kp_worker_setup_privileged(const struct kp_core_conf *core, const struct kp_log *log)
{
    if (core->worker_priority != 0 && setpriority(PRIO_PROCESS, 0, core->worker_priority) < 0)
        kp_log_error(log, KP_LOG_ALERT, errno, "setpriority(%d) failed", core->worker_priority);
    if (core->worker_rlimit_core >= 0) {
        struct rlimit rl = {(rlim_t)core->worker_rlimit_core, (rlim_t)core->worker_rlimit_core};
        if (setrlimit(RLIMIT_CORE, &rl) < 0)
            kp_log_error(log, KP_LOG_ALERT, errno, "setrlimit(RLIMIT_CORE, %lld) failed",
                         (long long)core->worker_rlimit_core);
    }
}

/* "name=value" in a new allocation. */
static char *env_line(const char *name, size_t nl, const char *value)
{
    size_t vl = strlen(value);
    char *line = kp_alloc(nl + vl + 2);

    memcpy(line, name, nl);
    line[nl] = '=';
    memcpy(line + nl + 1, value, vl + 1);
    return line;
}

/* The environment of the worker: TZ and the env lines only. The lines are
 * copied first: clearenv() may free what getenv() returned. */
static void reduce_env(const struct kp_core_conf *core, const struct kp_log *log)
{
    size_t n = core->n_env + 1;
    char **keep = kp_calloc(n, sizeof(*keep));

    for (size_t i = 0; i < n; i++) {
        const char *name = i < core->n_env ? core->env[i] : "TZ";
        const char *eq = strchr(name, '=');
        const char *v = eq != NULL ? eq + 1 : getenv(name);
        if (v != NULL)
            keep[i] = env_line(name, eq != NULL ? (size_t)(eq - name) : strlen(name), v);
    }
    clearenv();
    for (size_t i = 0; i < n; i++) {
        char *eq = keep[i] != NULL ? strchr(keep[i], '=') : NULL;
        if (eq == NULL)
            continue;
        *eq = '\0';
        if (setenv(keep[i], eq + 1, 1) < 0)
            kp_log_error(log, KP_LOG_ALERT, errno, "setenv(\"%s\") failed", keep[i]);
        kp_free(keep[i]);
    }
    kp_free(keep);
}

void kp_worker_setup_user(const struct kp_core_conf *core, const struct kp_log *log)
{
    if (core->working_directory != NULL && chdir(core->working_directory) < 0)
        kp_log_error(log, KP_LOG_ALERT, errno, "chdir(\"%s\") failed", core->working_directory);
    reduce_env(core, log);
}

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

/* worker_cpu_affinity for reactor `index`: with auto, one CPU each in turn
 * among those the caller may use (limited by the optional mask); with masks,
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

/* Pinning is an optimisation: a reactor that cannot be pinned still serves. */
void kp_worker_setup_cpus(const struct kp_core_conf *core, unsigned index, const struct kp_log *log)
{
    uint64_t mask = cpu_mask(core, index);

    if (mask == 0) {
        if (core->cpu_affinity_auto || core->n_cpu_affinity_masks > 0)
            kp_log_error(log, KP_LOG_ALERT, 0, "worker_cpu_affinity leaves no CPU for worker %u",
                         index);
        return;
    }
    int rc = kp_process_set_cpus(mask);
    if (rc != 0)
        kp_log_error(log, KP_LOG_ALERT, -rc, "sched_setaffinity(0x%llx) failed for worker %u",
                     (unsigned long long)mask, index);
    else
        kp_log_error(log, KP_LOG_INFO, 0, "worker %u runs on CPUs 0x%llx", index,
                     (unsigned long long)mask);
}
