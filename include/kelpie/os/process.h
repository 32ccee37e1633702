/* Process-level seams: the process title shown by ps, daemonizing, the pid
 * file, and privileges. */
#ifndef KP_PROCESS_H
#define KP_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The title storage: argv's memory, extended over environ (which is moved
 * to the heap first). Call once, early in main. */
struct kp_title {
    char *start;
    size_t size;
};

void kp_process_title_init(struct kp_title *t, int argc, char *argv[]);
/* Set what ps shows, e.g. "kelpie: worker process". Truncated to fit. */
void kp_process_title_set(const struct kp_title *t, const char *title);

/* Detach: fork; in the child setsid and stdin/stdout/stderr to /dev/null.
 * Returns 0 in the daemon, the daemon's pid in the parent (which decides
 * when and how to exit), or -errno. */
int kp_process_daemonize(void);

/* Write pid atomically (temp file + rename). Returns 0 or -errno. */
int kp_process_pidfile_write(const char *path, pid_t pid);
/* Read a pid file. Returns the pid (> 0) or -errno (-EINVAL: not a pid). */
pid_t kp_process_pidfile_read(const char *path);
/* If path names a live kelpie process, return its pid; else 0. */
pid_t kp_process_pidfile_live(const char *path);

/* Grow this process's descriptor table to hold descriptors 0 .. n-1 (at
 * most RLIMIT_NOFILE's soft limit), by duplicating a descriptor to n-1 and
 * closing it. Call while the process has one thread: the kernel grows the
 * table when a descriptor past its end is opened, and once threads share it
 * that waits for an RCU grace period (milliseconds on a busy machine) in
 * whichever thread opened it. Returns the table's size now covered, or
 * -errno. */
int kp_process_reserve_fds(unsigned n);

/* Drop root to user/group (NULL user: "nobody"; NULL group: the user's
 * primary group) and keep core dumps possible. No-op when not root.
 * Returns 0 or -errno (-ENOENT: unknown user or group). */
int kp_process_drop_privileges(const char *user, const char *group);
/* Whether the worker user (default nobody) and group exist: 0, or -ENOENT
 * with *what set to the name that does not. */
int kp_process_check_ids(const char *user, const char *group, const char **what);
/* The uid of the worker user (NULL: "nobody"). Returns 0 or -ENOENT. */
int kp_process_worker_uid(const char *user, uid_t *uid);

/* The CPUs this process may run on, as a mask of CPUs 0-63 (sched_getaffinity).
 * Returns 0 or -errno. */
int kp_process_cpus(uint64_t *mask);
/* Pin this process to the CPUs in mask (CPUs 0-63). Returns 0 or -errno
 * (-EINVAL: none of them is usable). */
int kp_process_set_cpus(uint64_t mask);

#endif
