/* Start-up of the master: what is checked before serving (also by -t), the
 * error log and listening sockets opened, and becoming a daemon. */
#ifndef KP_MASTER_START_H
#define KP_MASTER_START_H

#include <stdbool.h>
#include <stddef.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/proc/master_state.h"
#include "kelpie/util/log.h"

/* What nginx checks beyond syntax before it starts (and with -t): as
 * root, that the `user` and `group` exist; that the error log and every
 * access log can be opened for appending (they are created if missing);
 * that the pid file's directory exists and is writable. Each failure is
 * one "kelpie: [emerg] ..." line on stderr. Returns 0 or -errno (the first
 * failure). */
int kp_master_start_preflight(const struct kp_cycle *cycle);
/* As root, whether cycle's `user` and `group` exist: 0, or -ENOENT with
 * nginx's words for the one that does not in why ("getgrnam("x") failed:
 * no such group"). A reload checks it too, as nginx does. */
int kp_master_start_check_ids(const struct kp_cycle *cycle, char *why, size_t len);
/* Before serving m->cycle: no live master named by the pid file, the
 * preflight checks, then the error log opened into m->log, every
 * listening socket bound and, with master_process on, every access log
 * opened for the workers (logfiles.h). Failures are reported on stderr (and in the error
 * log once it is open). Returns 0 or -errno. */
int kp_master_start_checks(struct kp_master *m);
/* With `daemon on`, detach from the terminal (fork, setsid, stdio to
 * /dev/null): the caller continues as the daemon. The starting process does
 * not return: it waits (at most 30 s) for the daemon's report on a pipe,
 * copies every [emerg] and [alert] line the daemon logs meanwhile to its
 * stderr, and exits 0 once the daemon reports ready, 1 if the daemon exits
 * or says nothing in time. In the daemon, m->report_fd is the pipe and the
 * error log tees to it (workers forked meanwhile inherit both). Returns 0 or
 * -errno (logged). */
int kp_master_start_daemon(struct kp_master *m);
/* End the start report (no-op without one): with ready, tell the starting
 * process that the pid file is written and the first workers are READY;
 * without, just close the pipe so that it exits 1 with what was logged. */
void kp_master_start_report(struct kp_master *m, bool ready);
/* The [notice] lines nginx writes as it starts, for whoever reads the error
 * log: the event method, the version, the kernel and the descriptor limit. */
void kp_master_start_log(const struct kp_cycle *cycle, const struct kp_log *log);
/* The first of them alone, as after a reload: `using the "epoll" event method`. */
void kp_master_start_log_method(const struct kp_cycle *cycle, const struct kp_log *log);

#endif
