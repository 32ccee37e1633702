/* The master's state, shared by the modules that make up the master process:
 * master (signals and the main loop), master_spawn (forking, reaping and
 * respawning workers), master_reload (a new generation on SIGHUP),
 * master_logs (log files for the workers) and master_start (checks before
 * serving). Only the master process touches it; workers see a copy after
 * fork and use only cycle, log, sb, title and retiring. */
#ifndef KP_MASTER_STATE_H
#define KP_MASTER_STATE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/util/log.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/os/process.h"

struct kp_upgrade;

/* One forked worker, of any generation still alive. */
struct kp_child {
    pid_t pid; /* 0: entry unused */
    unsigned index;
    unsigned generation;
    uint64_t started_ms;  /* monotonic */
    bool watchdog_killed; /* SIGKILL sent by the watchdog: not again */
    bool dismissed;       /* told to quit by SIGTTOU: not respawned */
    int chan;             /* the master's end of the worker's channel (logfiles.h) */
};

/* The respawn limit: a worker index is started at most this many times
 * (its first start included) within any window of this length. */
#define KP_RESPAWN_MAX_STARTS 5
#define KP_RESPAWN_WINDOW_MS  10000

/* Respawn bookkeeping per worker index of the current generation. */
struct kp_respawn {
    unsigned fast_deaths; /* consecutive deaths within FAST_DEATH_MS of start */
    uint64_t due_ms;      /* monotonic; 0: nothing pending */
    bool fatal;           /* exited with KP_EXIT_FATAL: not respawned */
    uint64_t starts_ms[KP_RESPAWN_MAX_STARTS]; /* the latest starts, a ring */
    unsigned n_starts;                         /* starts ever: the ring's next slot */
};

struct kp_master {
    struct kp_cycle *cycle;
    char *extra;     /* -g directives, kept for reloads (argv is overwritten
                      * by the process title) */
    char *error_log; /* -e, kept for reloads too; NULL: none */
    struct kp_log log;
    struct kp_title title;
    struct kp_scoreboard *sb;
    unsigned generation;
    struct kp_child kids[KP_SB_MAX_SLOTS];
    unsigned n_workers;         /* of the current generation: worker_processes, or
                                 * what TTIN/TTOU made of it until the next reload */
    struct kp_respawn *respawn; /* KP_SB_MAX_SLOTS entries, n_workers in use */
    struct kp_cycle *retiring;  /* during a reload: the cycle being replaced */
    sigset_t wait_mask;
    bool terminating, quitting, workers_stopped;
    uint64_t kill_at_ms;        /* monotonic; when terminating */
    int report_fd;              /* daemon starting: the pipe to the starting command; -1 */
    struct kp_upgrade *upgrade; /* binary upgrade state (master_upgrade.c) */
};

/* Milliseconds on `clock` (CLOCK_MONOTONIC or CLOCK_REALTIME). */
static inline uint64_t kp_master_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
