/* Start-up checks and daemonising (see master_start.h). */
#include "kelpie/core/master_start.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/core/listen.h"
#include "kelpie/os/process.h"

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

int kp_master_start_preflight(const struct kp_cycle *cycle)
{
    const struct kp_core_conf *core = &cycle->core;
    const struct kp_http_conf *http = &cycle->http;
    const char *what;
    int rc = 0;

    if (geteuid() == 0 && kp_process_check_ids(core->user, core->group, &what) != 0) {
        fprintf(stderr, "kelpie: [emerg] %s(\"%s\") failed: no such %s\n",
                what == core->group ? "getgrnam" : "getpwnam", what,
                what == core->group ? "group" : "user");
        return -ENOENT;
    }
    if (strcmp(core->error_log_path, "stderr") != 0)
        rc = check_appendable(core->error_log_path);
    for (size_t i = 0; i < http->n_servers && rc == 0; i++) {
        rc = check_access_logs(http->servers[i]->loc);
        for (size_t j = 0; j < http->servers[i]->n_locations && rc == 0; j++)
            rc = check_access_logs(http->servers[i]->locations[j]);
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
    rc = kp_listen_open(m->cycle, NULL, &m->log);
    if (rc != 0 && m->log.path != NULL)
        fprintf(stderr, "kelpie: [emerg] cannot open listening sockets (%d: %s), see %s\n", -rc,
                strerror(-rc), m->log.path);
    return rc;
}

int kp_master_start_daemon(struct kp_master *m)
{
    if (!m->cycle->core.daemon)
        return 0;
    int rc = kp_process_daemonize();
    if (rc != 0)
        kp_log_error(&m->log, KP_LOG_EMERG, -rc, "daemonizing failed");
    return rc;
}
