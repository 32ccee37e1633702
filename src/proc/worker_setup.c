/* worker_priority, worker_rlimit_core, working_directory, env (see
 * worker_setup.h). */
#include "kelpie/proc/worker_setup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"

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
