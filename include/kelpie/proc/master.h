/* The master process: opens the logs and listening sockets, becomes a daemon,
 * writes the pid file, then either serves in the single process (`master_process
 * off`) or forks `worker_processes` workers and supervises them.
 *
 * The master sleeps until a signal arrives and acts on it; it never touches a
 * client connection:
 *   SIGCHLD       reap, release the accept mutex of a dead worker, respawn it
 *                 (with backoff when it keeps dying right after its start)
 *   SIGTERM/INT   fast shutdown: workers get SIGTERM, then SIGKILL after 5 s
 *   SIGQUIT       graceful shutdown: workers get SIGQUIT
 *   SIGHUP        reload: new configuration, new generation of workers, old
 *                 generation drained (see master_reload.h)
 *   SIGUSR1       reopen the logs and hand them to the workers (logfiles.h)
 *   SIGWINCH      drain the workers as in a reload, keep the master (HUP
 *                 restarts them with the same configuration)
 *   SIGTTIN/TTOU  one worker more / fewer (never below one) until the next
 *                 reload (master_spawn.h)
 *   SIGUSR2       binary upgrade: a new master from the binary on disk
 *                 inherits the listening sockets (see master_upgrade.h)
 *
 * Master-to-worker commands are signals: TERM fast stop, QUIT graceful quit,
 * HUP "you are the old generation: drain softly and exit", USR1 "take the
 * reopened logs waiting on your channel" (the one message the per-worker
 * socketpair carries). A worker learns of its master's death through
 * PR_SET_PDEATHSIG (SIGQUIT), set after it switched user. Also in the
 * master: a watchdog (master_watchdog.h) and, with `daemon on`, the start
 * report to the command that started it (master_start.h). */
#ifndef KP_MASTER_H
#define KP_MASTER_H

#include <sys/types.h>

#include "kelpie/proc/cli.h"
#include "kelpie/proc/cycle.h"

/* Run the server described by cycle (takes ownership of it). cli and argv
 * are kept for reloads (-p/-c/-g) and the process title. Returns the exit
 * status for main. */
int kp_master_main(struct kp_cycle *cycle, const struct kp_cli *cli, int argc, char *argv[]);

#endif
