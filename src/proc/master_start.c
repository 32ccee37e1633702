/* Start-up checks and daemonising (see master_start.h). */
#include "kelpie/proc/master_start.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"

#include "kelpie/event/conf.h"
#include "kelpie/proc/listen.h"
#include "kelpie/proc/logfiles.h"
#include "kelpie/proc/master_upgrade.h"
#include "kelpie/os/process.h"

/* How long the command that starts a daemon waits for its report: longer
 * than the master waits for its first workers (10 s), so that the master's
 * own verdict arrives first. */
#define START_WAIT_MS 30000

static int check_appendable(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        int err = errno;
        fprintf(stderr, "kelpie: [emerg] open() \"%s\" failed (%d: %s)\n", path, err,
                strerror(err));
        return -err;
    }
    close(fd);
    return 0;
}

static int check_access_logs(const struct kp_http_loc_conf *loc)
{
    for (size_t i = 0; i < loc->n_access_logs; i++) {
        if (loc->access_logs[i].syslog != NULL)
            continue;
        int rc = check_appendable(loc->access_logs[i].path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_pid_dir(const char *pid_path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(pid_path, '/');
    size_t n = slash == NULL ? 1 : slash == pid_path ? 1 : (size_t)(slash - pid_path);

    if (n >= sizeof(dir))
        return -ENAMETOOLONG;
    memcpy(dir, slash == NULL ? "." : pid_path, n);
    dir[n] = '\0';
    if (access(dir, W_OK) == 0)
        return 0;
    int err = errno;
    fprintf(stderr, "kelpie: [emerg] cannot write the pid file \"%s\" (%d: %s)\n", pid_path, err,
            strerror(err));
    return -err;
}

int kp_master_start_check_ids(const struct kp_cycle *cycle, char *why, size_t len)
{
    const struct kp_core_conf *core = &cycle->core;
    const char *what;

    if (geteuid() != 0 || kp_process_check_ids(core->user, core->group, &what) == 0)
        return 0;
    snprintf(why, len, "%s(\"%s\") failed: no such %s",
             what == core->group ? "getgrnam" : "getpwnam", what,
             what == core->group ? "group" : "user");
    return -ENOENT;
}

int kp_master_start_preflight(const struct kp_cycle *cycle)
{
    const struct kp_core_conf *core = &cycle->core;
    const struct kp_http_conf *http = &cycle->http;
    char why[300];
    int rc = 0;

    if (kp_master_start_check_ids(cycle, why, sizeof(why)) != 0) {
        fprintf(stderr, "kelpie: [emerg] %s\n", why);
        return -ENOENT;
    }
    if (cycle->events.uring_fallback != NULL)
        fprintf(stderr, "kelpie: [warn] %s\n", cycle->events.uring_fallback);
    for (size_t i = 0; i < http->n_warnings; i++)
        fprintf(stderr, "kelpie: [warn] %s\n", http->warnings[i]);
    if (strcmp(core->error_log_path, "stderr") != 0)
        rc = check_appendable(core->error_log_path);
    for (size_t i = 0; i < http->n_servers && rc == 0; i++) {
        rc = check_access_logs(http->servers[i]->loc);
        for (size_t j = 0; j < http->servers[i]->n_all && rc == 0; j++)
            rc = check_access_logs(http->servers[i]->all[j]);
    }
    return rc != 0 ? rc : check_pid_dir(core->pid_path);
}

int kp_master_start_checks(struct kp_master *m)
{
    const struct kp_core_conf *core = &m->cycle->core;
    pid_t live = kp_process_pidfile_live(core->pid_path);

    if (live > 0) {
        fprintf(stderr, "kelpie: [emerg] kelpie is already running (pid %d from \"%s\")\n",
                (int)live, core->pid_path);
        return -EEXIST;
    }
    int rc = kp_master_start_preflight(m->cycle);
    if (rc != 0)
        return rc;
    rc = kp_log_open(&m->log, core->error_log_path, core->error_log_level);
    if (rc != 0) {
        fprintf(stderr, "kelpie: [emerg] open() \"%s\" failed (%d: %s)\n", core->error_log_path,
                -rc, strerror(-rc));
        return rc;
    }
    /* Sockets handed over by systemd or an old master are used for their
     * addresses instead of binding them again. */
    size_t n_handed;
    const struct kp_inherited *handed = kp_master_upgrade_handed(m, &n_handed);
    struct kp_cycle *inherited = kp_listen_inherited(handed, n_handed, &m->log);
    rc = kp_listen_open(m->cycle, inherited, &m->log);
    kp_listen_inherited_done(inherited, &m->log);
    if (rc != 0 && m->log.path != NULL)
        fprintf(stderr, "kelpie: [emerg] cannot open listening sockets (%d: %s), see %s\n", -rc,
                strerror(-rc), m->log.path);
    /* Workers never open log paths: they inherit what the master opened
     * (as root, if started as root). A single process uses the same table. */
    if (rc == 0 && (rc = kp_logfiles_open(m->cycle, &m->log)) != 0)
        fprintf(stderr, "kelpie: [emerg] cannot open the log files (%d: %s)\n", -rc, strerror(-rc));
    if (rc == 0)
        m->log.next = core->error_log_more;
    return rc;
}

/* The line a daemon sends when it serves; anything else it sends is an
 * [emerg] or [alert] line of its error log, shown to the operator. */
#define READY_LINE "kelpie: ready\n"

/* The starting command's side of the report: copy the daemon's lines to
 * stderr until READY_LINE (exit 0), or the end of the pipe or the time
 * limit (exit 1). Never returns. */
static void await_report(int fd, const char *error_log)
{
    char buf[8192];
    size_t len = 0;
    bool said = false;
    uint64_t deadline = kp_master_clock_ms(CLOCK_MONOTONIC) + START_WAIT_MS;

    for (;;) {
        int64_t left = (int64_t)(deadline - kp_master_clock_ms(CLOCK_MONOTONIC));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR))
            break;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n')) != NULL) {
            size_t line = (size_t)(nl - buf) + 1;
            if (line == sizeof(READY_LINE) - 1 && memcmp(buf, READY_LINE, line) == 0)
                _exit(0);
            said = fwrite(buf, 1, line, stderr) == line || said;
            memmove(buf, buf + line, len - line + 1);
            len -= line;
        }
        if (len == sizeof(buf) - 1)
            len = 0; /* a line too long to keep: drop it */
    }
    if (!said)
        fprintf(stderr, "kelpie: [emerg] the master did not report ready within %d s%s%s\n",
                START_WAIT_MS / 1000, error_log ? ", see " : "", error_log ? error_log : "");
    _exit(1);
}

int kp_master_start_daemon(struct kp_master *m)
{
    int p[2];

    /* The new master of a binary upgrade stays the old master's child:
     * the old one learns from its exit whether the upgrade failed. */
    if (!m->cycle->core.daemon || kp_master_upgrade_inherited(m))
        return 0;
    if (pipe2(p, O_CLOEXEC) < 0) {
        kp_log_error(&m->log, KP_LOG_EMERG, errno, "pipe() for the start report failed");
        return -errno;
    }
    fflush(stderr);
    int rc = kp_process_daemonize();
    if (rc > 0) {
        close(p[1]);
        await_report(p[0], m->log.path);
    }
    close(p[0]);
    if (rc < 0) {
        close(p[1]);
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "daemonizing failed");
        return rc;
    }
    m->report_fd = p[1];
    kp_log_tee(&m->log, p[1]);
    return 0;
}

void kp_master_start_report(struct kp_master *m, bool ready)
{
    if (m->report_fd < 0)
        return;
    if (ready && write(m->report_fd, READY_LINE, sizeof(READY_LINE) - 1) < 0) {
        /* The starting command is gone: nobody to tell. */
    }
    kp_log_untee(&m->log);
    m->report_fd = -1;
}

void kp_master_start_log_method(const struct kp_cycle *cycle, const struct kp_log *log)
{
    kp_log_error(log, KP_LOG_NOTICE, 0, "using the \"%s\" event method",
                 kp_event_use_name(cycle->events.use));
}

void kp_master_start_log(const struct kp_cycle *cycle, const struct kp_log *log)
{
    struct utsname u;
    struct rlimit rl;

    kp_master_start_log_method(cycle, log);
    kp_log_error(log, KP_LOG_NOTICE, 0, "kelpie/%s", KP_VERSION);
    if (uname(&u) == 0)
        kp_log_error(log, KP_LOG_NOTICE, 0, "OS: %s %s", u.sysname, u.release);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        kp_log_error(log, KP_LOG_NOTICE, 0, "getrlimit(RLIMIT_NOFILE): %llu:%llu",
                     (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}
