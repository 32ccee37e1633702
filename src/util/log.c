/* The error log. One write() per line on an O_APPEND descriptor: lines from
 * the master and every worker land whole even when they share the file. */
#include "kelpie/util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/syslog.h"

#define LOG_LINE_MAX 2048

void kp_log_init_stderr(struct kp_log *log, enum kp_log_level level)
{
    log->fd = -1;
    log->level = level;
    log->path = NULL;
    log->clock = NULL;
    log->tee = false;
    log->tee_fd = -1;
    log->tid = 0;
    log->next = NULL;
    log->syslog = NULL;
}

void kp_log_own_thread(struct kp_log *log)
{
    log->tid = (int)gettid();
}

static bool is_stderr(const char *path)
{
    return path == NULL || strcmp(path, "stderr") == 0;
}

static int open_path(const char *path)
{
    if (is_stderr(path))
        return -1;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int kp_log_open(struct kp_log *log, const char *path, enum kp_log_level level)
{
    int fd = open_path(path);

    if (fd < -1)
        return fd;
    kp_log_close(log);
    log->fd = fd;
    log->level = level;
    log->path = is_stderr(path) ? NULL : kp_strdup(path);
    return 0;
}

int kp_log_reopen(struct kp_log *log)
{
    if (log->path == NULL)
        return 0;
    int fd = open_path(log->path);
    if (fd < 0)
        return fd;
    /* dup3 keeps the descriptor number, so a worker forked later inherits
     * the new file under the number its log names (workers forked earlier
     * get it from the master: see logfiles.h). */
    if (log->fd >= 0) {
        dup3(fd, log->fd, O_CLOEXEC);
        close(fd);
    } else {
        log->fd = fd;
    }
    return 0;
}

void kp_log_close(struct kp_log *log)
{
    if (log->fd >= 0)
        close(log->fd);
    kp_free(log->path);
    log->fd = -1;
    log->path = NULL;
}

void kp_log_tee(struct kp_log *log, int fd)
{
    log->tee = true;
    log->tee_fd = fd;
}

void kp_log_untee(struct kp_log *log)
{
    if (log->tee)
        close(log->tee_fd);
    log->tee = false;
    log->tee_fd = -1;
}

static bool is_control(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f;
}

/* s[0..len) with each control byte written as \xHH, in place, within cap
 * bytes (what does not fit is cut); returns the new length. Messages carry
 * paths and names a client chose: a decoded %0a must not start a line of
 * its own in the file or a message of its own in syslog. */
static size_t escape_controls(char *s, size_t len, size_t cap)
{
    size_t k = 0, e = 0;

    while (k < len && e + (is_control((unsigned char)s[k]) ? 4 : 1) <= cap)
        e += is_control((unsigned char)s[k++]) ? 4 : 1;
    /* Backwards: a byte only ever moves right, past bytes already moved. */
    for (size_t d = e; k > 0;) {
        unsigned char ch = (unsigned char)s[--k];
        if (!is_control(ch)) {
            s[--d] = (char)ch;
            continue;
        }
        d -= 4;
        s[d] = '\\';
        s[d + 1] = 'x';
        s[d + 2] = "0123456789ABCDEF"[ch >> 4];
        s[d + 3] = "0123456789ABCDEF"[ch & 15];
    }
    s[e] = '\0';
    return e;
}

size_t kp_log_format(char *out, size_t n, const char *time_str, enum kp_log_level level, int pid,
                     int tid, int err, const char *fmt, va_list ap)
{
    size_t len = 0;
    char ebuf[128];
    int w = snprintf(out, n, "%s [%s] %d#%d: ", time_str, kp_log_level_name(level), pid, tid);

    if (w > 0)
        len = (size_t)w < n ? (size_t)w : n - 1;
    w = vsnprintf(out + len, n - len, fmt, ap);
    if (w > 0) {
        size_t m = (size_t)w < n - len ? (size_t)w : n - len - 1;
        len += escape_controls(out + len, m, n - len - 1);
    }
    if (err != 0) {
        w = snprintf(out + len, n - len, " (%d: %s)", err, strerror_r(err, ebuf, sizeof(ebuf)));
        if (w > 0)
            len += (size_t)w < n - len ? (size_t)w : n - len - 1;
    }
    return len;
}

static void current_time(const struct kp_log *log, char *buf, size_t n)
{
    if (log->clock != NULL && log->clock->log_time[0] != '\0') {
        snprintf(buf, n, "%s", log->clock->log_time);
        return;
    }
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y/%m/%d %H:%M:%S", &tm);
}

/* Write one finished line to every log of the chain that takes level. */
static void write_chain(const struct kp_log *log, enum kp_log_level level, const char *line,
                        size_t len)
{
    for (const struct kp_log *l = log; l != NULL; l = l->next) {
        if (level > l->level)
            continue;
        if (l->syslog != NULL) {
            kp_syslog_send(l->syslog, (unsigned)level, line, len);
            continue;
        }
        if (l->fd < 0 && l->path != NULL)
            continue;
        if (write(l->fd >= 0 ? l->fd : STDERR_FILENO, line, len) < 0) {
            /* The log is the place errors go; there is nowhere to report this. */
        }
    }
}

static void vwrite_line(const struct kp_log *dest, const struct kp_log *stamp,
                        enum kp_log_level level, int err, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    char ts[32];
    int saved = errno;

    if (!kp_log_enabled(dest, level))
        return;
    current_time(stamp, ts, sizeof(ts));
    int pid = (int)getpid();
    size_t len = kp_log_format(line, sizeof(line) - 1, ts, level, pid,
                               stamp->tid != 0 ? stamp->tid : pid, err, fmt, ap);
    line[len++] = '\n';
    write_chain(dest, level, line, len);
    if (stamp->tee && level <= KP_LOG_ALERT && write(stamp->tee_fd, line, len) < 0) {
        /* The reader (the command that started a daemon) is gone. */
    }
    errno = saved;
}

void kp_log_verror(const struct kp_log *log, enum kp_log_level level, int err, const char *fmt,
                   va_list ap)
{
    if (log != NULL)
        vwrite_line(log, log, level, err, fmt, ap);
}

void kp_log_error_via(const struct kp_log *dest, const struct kp_log *stamp,
                      enum kp_log_level level, int err, const char *fmt, ...)
{
    va_list ap;

    if (stamp == NULL)
        return;
    va_start(ap, fmt);
    vwrite_line(dest != NULL ? dest : stamp, stamp, level, err, fmt, ap);
    va_end(ap);
}

void kp_log_error(const struct kp_log *log, enum kp_log_level level, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    kp_log_verror(log, level, err, fmt, ap);
    va_end(ap);
}

int kp_log_file_fd(const struct kp_log_file *files, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(files[i].path, path) == 0)
            return files[i].fd;
    }
    return -1;
}
