/* Log files opened by the master, nginx's way: the master (root, if started
 * as root) opens the error log and every access_log path before it forks, and
 * workers write through the inherited descriptors without ever opening a log
 * path themselves, so a log directory only root can enter works with an
 * unprivileged `user`.
 *
 * Rotation (SIGUSR1): the master reopens each path and puts the new file
 * under the same descriptor number (dup3), then sends every worker of the
 * current generation the new descriptors over its channel (an AF_UNIX
 * datagram socketpair made at fork, SCM_RIGHTS) together with the numbers
 * they replace; the worker flushes its buffers and puts each one under its
 * number too. A worker's descriptors are its own after fork, so passing them
 * is the only way to change which file its number refers to. */
#ifndef KP_LOGFILES_H
#define KP_LOGFILES_H

#include <stdbool.h>
#include <sys/types.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/util/log.h"

/* Open every distinct access_log path of cycle and every error_log file but
 * the main block's first (the master's own log, opened at start) (O_WRONLY|
 * O_APPEND|O_CREAT|O_CLOEXEC, 0644) into cycle->log_files, and give each
 * error_log of the configuration (main's further ones, the http blocks')
 * its descriptor. On failure logs "open() PATH
 * failed" as [emerg] to log, closes what it opened and returns -errno.
 * Blocking: opens files. */
int kp_logfiles_open(struct kp_cycle *cycle, const struct kp_log *log);
/* The descriptor the master opened for path, or -1 (none: the caller opens
 * the path itself, as a single process or a unit test does). */
int kp_logfiles_fd(const struct kp_cycle *cycle, const char *path);
/* Close the descriptors and free the table (idempotent). */
void kp_logfiles_close(struct kp_cycle *cycle);
/* Master, on SIGUSR1: reopen each path of cycle under its descriptor number.
 * A path that cannot be reopened keeps its old file ([alert] logged).
 * Returns 0 or the first -errno. */
int kp_logfiles_reopen(const struct kp_cycle *cycle, const struct kp_log *log);
/* On SIGUSR1 in the master, or in a process without one (master_process
 * off): reopen errlog (kp_log_reopen), then every file of cycle
 * (kp_logfiles_reopen).
 * Failures are logged to errlog. Returns 0 or the first -errno. */
int kp_logfiles_reopen_own(const struct kp_cycle *cycle, struct kp_log *errlog);
/* Master running as root, after a reopen: give errlog's file and every file
 * of cycle to uid, with read and write for their owner, as nginx does with
 * the files a rotation made (so the worker user may read and write them as
 * it would under nginx). A failure is an [alert] and the next file is
 * tried. */
void kp_logfiles_give(const struct kp_cycle *cycle, const struct kp_log *errlog, uid_t uid);
/* Master: send over chan the error log's descriptor (when it is a file) and
 * every log file of cycle, each with the number it replaces. Never blocks.
 * Returns 0 or -errno. */
int kp_logfiles_send(int chan, const struct kp_cycle *cycle, const struct kp_log *errlog);
/* Worker: take every message waiting on chan and put each descriptor under
 * the number it replaces. Failures are logged to log. Never blocks. Returns
 * the number of descriptors replaced, or -errno. */
int kp_logfiles_receive(int chan, const struct kp_log *log);

#endif
