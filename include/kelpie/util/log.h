/* Error log. Lines look like
 *   2026/11/22 10:00:00 [error] 1234#1234: open() "/x" failed (2: No such file or directory)
 * Each line leaves in one write() on an O_APPEND descriptor so that lines from
 * several processes never interleave. Opened by the master before fork;
 * reopened on SIGUSR1. */
#ifndef KP_LOG_H
#define KP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "kelpie/util/log_level.h"
#include "kelpie/util/time.h"

struct kp_syslog;

struct kp_log {
    int fd;                       /* -1: stderr */
    enum kp_log_level level;      /* messages above this level are dropped */
    char *path;                   /* NULL or "stderr" means fd 2 */
    const struct kp_clock *clock; /* NULL: read the wall clock per line */
    bool tee;                     /* [emerg] and [alert] lines also go to tee_fd */
    int tee_fd;                   /* a daemon's start report (see master_start.h) */
    int tid;                      /* after the pid in each line (pid#tid), as nginx built
                                   * with threads writes it: the id of the thread
                                   * that owns this log (kp_log_own_thread); 0 for
                                   * the process's main thread, whose id is the pid */
    struct kp_syslog *syslog;     /* error_log syslog:...: lines go there (util/syslog.h) */
    struct kp_log *next;          /* the context's further error_log lines, each with its
                                   * own level: a line goes to every log of the chain
                                   * that wants it (owned by the configuration) */
};

/* Stamp log's lines with the calling thread's id from now on: called once
 * by a thread that owns a log of its own (a reactor thread), so that no
 * line costs a system call for it. */
void kp_log_own_thread(struct kp_log *log);
/* A log that writes to stderr at the given level. */
void kp_log_init_stderr(struct kp_log *log, enum kp_log_level level);
/* Open path (O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, 0644). "stderr" is accepted.
 * Returns 0 or -errno; the log is unchanged on failure. */
int kp_log_open(struct kp_log *log, const char *path, enum kp_log_level level);
/* Reopen the same path (log rotation). Returns 0 or -errno (old fd kept). */
int kp_log_reopen(struct kp_log *log);
void kp_log_close(struct kp_log *log);
/* Copy every later [emerg] and [alert] line to fd as well (one write each),
 * until kp_log_untee. The log does not own fd. */
void kp_log_tee(struct kp_log *log, int fd);
/* Stop copying lines to the tee descriptor and close it (this process's copy). */
void kp_log_untee(struct kp_log *log);

/* Whether some log of the chain starting at log takes level l. */
static inline bool kp_log_enabled(const struct kp_log *log, enum kp_log_level l)
{
    for (; log != NULL; log = log->next) {
        if (l <= log->level)
            return true;
    }
    return false;
}

/* err: an errno value to append as " (err: strerror)", or 0. */
void kp_log_error(const struct kp_log *log, enum kp_log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kp_log_verror(const struct kp_log *log, enum kp_log_level level, int err, const char *fmt,
                   va_list ap);
/* kp_log_error into the chain dest (a configuration's error_log lines, whose
 * files the master opened), the line stamped with stamp's clock and thread
 * (the writing reactor's own log). dest NULL: stamp's chain. A log of dest
 * whose file was not opened (fd -1 and a path) is skipped. */
void kp_log_error_via(const struct kp_log *dest, const struct kp_log *stamp,
                      enum kp_log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Format one line into out (size n, always NUL-terminated); returns length.
 * Exposed for tests. */
size_t kp_log_format(char *out, size_t n, const char *time_str, enum kp_log_level level, int pid,
                     int tid, int err, const char *fmt, va_list ap);

/* A log file opened ahead for whoever writes it: the master opens every
 * access_log path before it forks (proc/logfiles.h), and the workers write
 * through these descriptors instead of opening the paths themselves. */
struct kp_log_file {
    const char *path; /* NUL-terminated, owned by the configuration */
    int fd;
};

/* The descriptor of path among files[0..n-1], or -1 when none was opened for
 * it (the caller opens the path itself, as a single process or a unit test
 * does). */
int kp_log_file_fd(const struct kp_log_file *files, size_t n, const char *path);

#endif
