/* The main context's own directives (process model, paths, limits, the
 * workers' environment) and their settings. */
#ifndef KP_CONF_CORE_H
#define KP_CONF_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/arena.h"
#include "kelpie/util/conf.h"
#include "kelpie/util/log.h"

/* How the reactor threads of a worker process get their connections
 * (worker_threads N accept=...; see proc/worker_threads.h). */
enum kp_thread_accept {
    KP_THREAD_ACCEPT_HANDOFF = 0, /* thread 0 accepts and hands connections round */
    KP_THREAD_ACCEPT_SELF,        /* every thread accepts for itself */
};

struct kp_core_conf {
    bool daemon;                         /* on */
    bool master_process;                 /* on */
    int worker_processes;                /* 1; "auto" resolved to online CPUs */
    unsigned worker_threads;             /* 1: reactor threads per worker process */
    enum kp_thread_accept thread_accept; /* handoff */
    char *pid_path;                      /* logs/kelpie.pid */
    char *error_log_path;                /* logs/error.log, or "stderr" */
    enum kp_log_level error_log_level;   /* error */
    struct kp_log *error_log_more;       /* the main block's further error_log lines (their
                                          * files opened with the access logs, logfiles.h) */
    char *user, *group;                  /* NULL: nobody / nogroup when root */
    long worker_rlimit_nofile;           /* 0: unchanged */
    uint64_t worker_shutdown_timeout_ms; /* 0: none */
    uint64_t worker_watchdog_timeout_ms; /* 10 s; 0: off */
    bool cpu_affinity_auto;
    uint64_t *cpu_affinity_masks; /* worker_cpu_affinity MASK...; NULL if unset */
    size_t n_cpu_affinity_masks;
    int worker_priority;        /* nice value of the workers; 0: unchanged */
    int64_t worker_rlimit_core; /* RLIMIT_CORE bytes of the workers; -1: unchanged */
    char *working_directory;    /* the workers' cwd (where they dump core); NULL: unchanged */
    char **env;                 /* `env VAR[=VALUE]` lines, in order */
    size_t n_env;
};

/* Directive table of the main context (include among them). The handlers
 * write the struct kp_core_conf that is the top block's main slot (and
 * cf->modules[KP_CONF_MODULE_CORE]). */
extern const struct kp_conf_cmd kp_conf_core_cmds[];

/* How many reactors of one worker process accept connections (and own a
 * reuseport socket each): worker_threads with accept=self, 1 with
 * accept=handoff. */
unsigned kp_conf_core_acceptors(const struct kp_core_conf *core);

/* Set the main-context defaults into core: the pid file and error log paths
 * resolved against prefix (ending with '/'), memory from a. */
void kp_conf_core_init(struct kp_core_conf *core, struct kp_arena *a, const char *prefix);

#endif
