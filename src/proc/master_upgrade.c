/* Binary upgrade and rollback (see master_upgrade.h). */
#include "kelpie/proc/master_upgrade.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/proc/listen.h"
#include "kelpie/proc/master_notify.h"
#include "kelpie/os/inherit.h"

struct kp_upgrade {
    char exe[PATH_MAX]; /* the binary at start: /proc/self/exe, else argv[0] */
    char **argv;        /* a copy, NULL-terminated */
    char oldbin[PATH_MAX + 8];
    bool inherited;                             /* this master is an upgrade's new binary */
    struct kp_inherited handed[KP_INHERIT_MAX]; /* sockets handed over at exec */
    size_t n_handed;
    pid_t parent; /* ... started by this old master */
    pid_t child;  /* the new master this one started; 0: none */
};

void kp_master_upgrade_init(struct kp_master *m, int argc, char *argv[])
{
    struct kp_upgrade *u = kp_calloc(1, sizeof(*u));
    ssize_t n = readlink("/proc/self/exe", u->exe, sizeof(u->exe) - 1);

    /* Resolved now: the working directory changes, and after an install
     * over the file /proc/self/exe names the deleted old one. */
    if (n <= 0 || (size_t)n >= sizeof(u->exe) - 1) {
        if (argc < 1 || realpath(argv[0], u->exe) == NULL)
            snprintf(u->exe, sizeof(u->exe), "%s", argc > 0 ? argv[0] : "kelpie");
    } else {
        u->exe[n] = '\0';
    }
    u->argv = kp_calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++)
        u->argv[i] = kp_strdup(argv[i]);
    u->inherited = getenv(KP_INHERIT_ENV) != NULL;
    u->parent = u->inherited ? getppid() : 0;
    /* Before the process title takes over environ: the variables are
     * removed, and strings moved to the heap would be lost with them. */
    u->n_handed = kp_inherit_collect(u->handed, KP_INHERIT_MAX);
    m->upgrade = u;
}

void kp_master_upgrade_free(struct kp_master *m)
{
    struct kp_upgrade *u = m->upgrade;

    if (u == NULL)
        return;
    for (size_t i = 0; u->argv[i] != NULL; i++)
        kp_free(u->argv[i]);
    kp_free(u->argv);
    kp_free(u);
    m->upgrade = NULL;
}

bool kp_master_upgrade_inherited(const struct kp_master *m)
{
    return m->upgrade != NULL && m->upgrade->inherited;
}

static bool parent_alive(const struct kp_upgrade *u)
{
    return u->parent > 1 && getppid() == u->parent;
}

bool kp_master_upgrade_handed_over(const struct kp_master *m)
{
    return m->upgrade != NULL && (m->upgrade->child != 0 || parent_alive(m->upgrade));
}

const struct kp_inherited *kp_master_upgrade_handed(const struct kp_master *m, size_t *n)
{
    *n = m->upgrade->n_handed;
    return m->upgrade->handed;
}

const char *kp_master_upgrade_pidfile(const struct kp_master *m)
{
    const struct kp_upgrade *u = m->upgrade;

    return u != NULL && u->child != 0 ? u->oldbin : m->cycle->core.pid_path;
}

/* The child: become the new binary. Never returns. */
static void exec_new_binary(struct kp_master *m)
{
    struct kp_upgrade *u = m->upgrade;
    char fds[512];
    sigset_t none;

    int rc = kp_listen_export(m->cycle, fds, sizeof(fds));
    if (rc == 0 && setenv(KP_INHERIT_ENV, fds, 1) != 0)
        rc = -errno;
    if (rc != 0) {
        kp_log_error(&m->log, KP_LOG_ALERT, -rc, "passing the listening sockets to \"%s\" failed",
                     u->exe);
        _exit(1);
    }
    /* What the new binary says before it has opened its own log (a bad
     * configuration, a socket it cannot use) lands in this error log. */
    if (m->log.fd >= 0)
        dup2(m->log.fd, STDERR_FILENO);
    /* The mask survives exec; the new master blocks what it manages itself. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(u->exe, u->argv);
    kp_log_error(&m->log, KP_LOG_ALERT, errno, "execv() of the new binary \"%s\" failed", u->exe);
    _exit(1);
}

void kp_master_upgrade_start(struct kp_master *m)
{
    struct kp_upgrade *u = m->upgrade;
    const char *pid_path = m->cycle->core.pid_path;

    if (u->child != 0 || parent_alive(u)) {
        kp_log_error(&m->log, KP_LOG_NOTICE, 0,
                     "SIGUSR2 ignored: a binary upgrade is in progress (master %d is running); "
                     "end the old or the new master first",
                     (int)(u->child != 0 ? u->child : u->parent));
        return;
    }
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "changing binary");
    snprintf(u->oldbin, sizeof(u->oldbin), "%s.oldbin", pid_path);
    if (rename(pid_path, u->oldbin) != 0) {
        kp_log_error(&m->log, KP_LOG_ALERT, errno,
                     "rename() \"%s\" to \"%s\" failed: upgrade abandoned", pid_path, u->oldbin);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        kp_log_error(&m->log, KP_LOG_ALERT, errno, "fork() for the new binary failed");
        rename(u->oldbin, pid_path);
        return;
    }
    if (pid == 0)
        exec_new_binary(m);
    u->child = pid;
    /* nginx's words, then which file runs (resolved at start) */
    kp_log_error(&m->log, KP_LOG_NOTICE, 0, "start new binary process %d (\"%s\")", (int)pid,
                 u->exe);
}

bool kp_master_upgrade_reaped(struct kp_master *m, pid_t pid, int status)
{
    struct kp_upgrade *u = m->upgrade;

    if (u == NULL || u->child == 0 || pid != u->child)
        return false;
    u->child = 0;
    if (rename(u->oldbin, m->cycle->core.pid_path) != 0)
        kp_log_error(&m->log, KP_LOG_ALERT, errno, "rename() \"%s\" back to \"%s\" failed",
                     u->oldbin, m->cycle->core.pid_path);
    if (WIFSIGNALED(status))
        kp_log_error(&m->log, KP_LOG_ALERT, 0,
                     "new binary's master %d exited on signal %d: pid file restored, "
                     "this master serves",
                     (int)pid, WTERMSIG(status));
    else
        kp_log_error(&m->log, WEXITSTATUS(status) == 0 ? KP_LOG_NOTICE : KP_LOG_ALERT, 0,
                     "new binary's master %d exited with code %d: pid file restored, "
                     "this master serves",
                     (int)pid, WEXITSTATUS(status));
    /* It may have told systemd it was the main process. */
    if (!m->quitting && !m->terminating)
        kp_master_notify_ready(m);
    return true;
}
