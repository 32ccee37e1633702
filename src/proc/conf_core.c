/* Main-context directives (process model, paths, limits) and their defaults.
 * Every directive is one row of kp_conf_core_cmds; simple values use the
 * generic setters, the rest a short handler below. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/proc/conf_core.h"
#include "kelpie/util/logconf.h"

#define CORE(m)     KP_CONF_SLOT_MAIN, KP_CONF_FIELD(struct kp_core_conf, m)
#define MAX_WORKERS 1024
#define MAX_THREADS 64

void kp_conf_core_init(struct kp_core_conf *core, struct kp_arena *a, const char *prefix)
{
    memset(core, 0, sizeof(*core));
    core->daemon = true;
    core->master_process = true;
    core->worker_processes = 1;
    core->worker_threads = 1;
    /* Measured (BENCHMARKS.md, "Reactor threads"): only the hand-off spreads
     * the connections evenly over the threads, on a busy machine too, at the
     * same requests per CPU-second. */
    core->thread_accept = KP_THREAD_ACCEPT_HANDOFF;
    core->pid_path = kp_conf_join(a, prefix, KP_PID_PATH);
    core->error_log_path = kp_conf_join(a, prefix, KP_ERROR_LOG_PATH);
    core->error_log_level = KP_LOG_ERR;
    core->worker_watchdog_timeout_ms = 10000;
    core->worker_rlimit_core = -1;
}

/* worker_priority N: a nice value, -20 (first) to 20 (last). */
static int set_priority(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    const char *s = cf->args[1];
    uint64_t n;

    (void)cmd;
    bool neg = s[0] == '-';
    if (kp_conf_parse_num(s + (neg || s[0] == '+'), 20, &n) != 0)
        return kp_conf_invalid(cf, s);
    ((struct kp_core_conf *)conf)->worker_priority = neg ? -(int)n : (int)n;
    return 0;
}

/* worker_rlimit_core SIZE */
static int set_rlimit_core(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t n;

    (void)cmd;
    if (kp_conf_parse_size(cf->args[1], INT64_MAX, &n) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    ((struct kp_core_conf *)conf)->worker_rlimit_core = (int64_t)n;
    return 0;
}

/* env VAR[=VALUE]: the workers' environment holds TZ and these only. */
static int add_env(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;
    const char *v = cf->args[1];

    (void)cmd;
    if (v[0] == '=' || v[0] == '\0')
        return kp_conf_invalid(cf, v);
    *KP_CONF_PUSH(cf->arena, core->env, core->n_env) = kp_conf_strdup(cf->arena, v);
    return 0;
}

/* timer_resolution TIME: checked, then unused. nginx reads the clock once
 * per interval to save gettimeofday() calls; kelpie's loop reads the clock
 * once per iteration through the vDSO (no system call), which costs less
 * than the timer that would replace it. */
static int timer_resolution(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t ms;

    (void)cmd;
    (void)conf;
    return kp_conf_parse_msec(cf->args[1], &ms) == 0 ? 0 : kp_conf_invalid(cf, cf->args[1]);
}

/* worker_watchdog_timeout TIME | off */
static int set_watchdog(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;
    uint64_t ms;

    (void)cmd;
    if (strcmp(cf->args[1], "off") == 0) {
        core->worker_watchdog_timeout_ms = 0;
        return 0;
    }
    /* A heartbeat comes once a second: less would kill healthy workers. */
    if (kp_conf_parse_msec(cf->args[1], &ms) != 0 || ms < 1000)
        return kp_conf_invalid(cf, cf->args[1]);
    core->worker_watchdog_timeout_ms = ms;
    return 0;
}

/* worker_processes N | auto; "auto" is the number of online CPUs. */
static int set_worker_processes(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;
    uint64_t n;

    (void)cmd;
    if (strcmp(cf->args[1], "auto") == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        core->worker_processes = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
        return 0;
    }
    if (kp_conf_parse_num(cf->args[1], MAX_WORKERS, &n) != 0 || n == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    core->worker_processes = (int)n;
    return 0;
}

/* worker_threads N [accept=self|handoff]: reactor threads per worker
 * process, 1 to 64, and who accepts for them. */
static int set_worker_threads(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;
    uint64_t n;

    (void)cmd;
    if (kp_conf_parse_num(cf->args[1], MAX_THREADS, &n) != 0 || n == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    core->worker_threads = (unsigned)n;
    if (cf->nargs < 3)
        return 0;
    if (strcmp(cf->args[2], "accept=self") == 0)
        core->thread_accept = KP_THREAD_ACCEPT_SELF;
    else if (strcmp(cf->args[2], "accept=handoff") == 0)
        core->thread_accept = KP_THREAD_ACCEPT_HANDOFF;
    else
        return kp_conf_invalid(cf, cf->args[2]);
    return 0;
}

unsigned kp_conf_core_acceptors(const struct kp_core_conf *core)
{
    unsigned threads = core->worker_threads > 0 ? core->worker_threads : 1;

    return core->thread_accept == KP_THREAD_ACCEPT_HANDOFF ? 1 : threads;
}

/* error_log FILE|stderr [LEVEL]: the first one is the master's own log
 * (opened first, at start); later ones in main add to it. */
static int set_error_log(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;
    struct kp_log *log = kp_logconf_parse(cf);

    if (log == NULL)
        return -EINVAL;
    if (kp_conf_field_seen(cf, cmd)) {
        kp_logconf_add(&core->error_log_more, log, false);
        return 0;
    }
    if (log->syslog != NULL) {
        /* The master's own log is a file: /dev/null, taking only [emerg]
         * (which also goes to syslog); the syslog target follows it. */
        core->error_log_level = KP_LOG_EMERG;
        core->error_log_path = kp_conf_strdup(cf->arena, "/dev/null");
        core->error_log_more = log;
        return 0;
    }
    core->error_log_level = log->level;
    core->error_log_path = log->path != NULL ? log->path : kp_conf_strdup(cf->arena, cf->args[1]);
    core->error_log_more = NULL;
    return 0;
}

/* user USER [GROUP]; the group defaults to the user's name, as in nginx. */
static int set_user(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;

    (void)cmd;
    core->user = kp_conf_strdup(cf->arena, cf->args[1]);
    core->group = kp_conf_strdup(cf->arena, cf->args[cf->nargs == 3 ? 2 : 1]);
    return 0;
}

/* A CPU mask written in binary, lowest CPU rightmost: "0101". */
static int parse_cpu_mask(const char *s, uint64_t *mask)
{
    size_t len = strlen(s);

    if (len == 0 || len > 64 || strspn(s, "01") != len)
        return -EINVAL;
    *mask = 0;
    for (size_t i = 0; i < len; i++)
        *mask = (*mask << 1) | (uint64_t)(s[i] - '0');
    return 0;
}

/* worker_cpu_affinity MASK... | auto [MASK]: one mask per worker in order, or
 * automatic binding limited to the CPUs of the optional mask. */
static int set_cpu_affinity(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_core_conf *core = conf;
    size_t first = 1;

    (void)cmd;
    if (strcmp(cf->args[1], "auto") == 0) {
        if (cf->nargs > 3)
            return kp_conf_invalid(cf, cf->args[3]);
        core->cpu_affinity_auto = true;
        first = 2;
    }
    for (size_t i = first; i < cf->nargs; i++) {
        uint64_t *m = KP_CONF_PUSH(cf->arena, core->cpu_affinity_masks, core->n_cpu_affinity_masks);
        if (parse_cpu_mask(cf->args[i], m) != 0)
            return kp_conf_invalid(cf, cf->args[i]);
    }
    return 0;
}

const struct kp_conf_cmd kp_conf_core_cmds[] = {
    {"daemon", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_flag, CORE(daemon)},
    {"master_process", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_flag, CORE(master_process)},
    {"worker_processes", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, set_worker_processes,
     CORE(worker_processes)},
    {"worker_threads", KP_CONF_MAIN, KP_CONF_RANGE(1, 2), 0, set_worker_threads,
     CORE(worker_threads)},
    {"pid", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_path, CORE(pid_path)},
    {"error_log", KP_CONF_MAIN, KP_CONF_RANGE(1, 2), KP_CONF_MULTI, set_error_log,
     CORE(error_log_path)},
    {"user", KP_CONF_MAIN, KP_CONF_RANGE(1, 2), 0, set_user, CORE(user)},
    {"worker_rlimit_nofile", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_num,
     CORE(worker_rlimit_nofile)},
    {"worker_shutdown_timeout", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     CORE(worker_shutdown_timeout_ms)},
    {"worker_watchdog_timeout", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, set_watchdog,
     CORE(worker_watchdog_timeout_ms)},
    {"worker_cpu_affinity", KP_CONF_MAIN, KP_CONF_1MORE, 0, set_cpu_affinity,
     CORE(cpu_affinity_masks)},
    {"worker_priority", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, set_priority, CORE(worker_priority)},
    {"worker_rlimit_core", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, set_rlimit_core,
     CORE(worker_rlimit_core)},
    {"working_directory", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_conf_set_path,
     CORE(working_directory)},
    {"env", KP_CONF_MAIN, KP_CONF_TAKE(1), KP_CONF_MULTI, add_env, CORE(env)},
    {"timer_resolution", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, timer_resolution, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"include", KP_CONF_ANY, KP_CONF_TAKE(1), KP_CONF_MULTI, kp_conf_include, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
