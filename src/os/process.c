/* Process title, daemon, pid file and privileges. */
#include "kelpie/os/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/str.h"

extern char **environ;

void kp_process_title_init(struct kp_title *t, int argc, char *argv[])
{
    char *end = argv[0] + strlen(argv[0]) + 1;
    size_t n = 0;

    for (int i = 1; i < argc && argv[i] == end; i++)
        end = argv[i] + strlen(argv[i]) + 1;
    while (environ[n] != NULL)
        n++;
    /* environ usually follows argv directly; move it to the heap so its
     * memory can hold a longer title. */
    char **env = kp_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
        env[i] = kp_strdup(environ[i]);
    }
    environ = env;
    t->start = argv[0];
    t->size = (size_t)(end - argv[0]);
}

void kp_process_title_set(const struct kp_title *t, const char *title)
{
    if (t->start == NULL || t->size < 2)
        return;
    size_t len = strlen(title);
    if (len > t->size - 1)
        len = t->size - 1;
    memcpy(t->start, title, len);
    memset(t->start + len, '\0', t->size - len);
}

int kp_process_daemonize(void)
{
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid > 0)
        return pid;
    if (setsid() < 0)
        return -errno;
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return -errno;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

int kp_process_pidfile_write(const char *path, pid_t pid)
{
    char tmp[4096], text[32];
    int n = snprintf(text, sizeof(text), "%d\n", (int)pid);

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, text, (size_t)n) != n) {
        int err = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return -err;
    }
    close(fd);
    /* rename is atomic: readers see the old file or the whole new one. */
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return -err;
    }
    return 0;
}

pid_t kp_process_pidfile_read(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t pid;

    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf));
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    if (kp_str_to_u64((struct kp_str){buf, (size_t)n}, 4194304, &pid) != 0 || pid == 0)
        return -EINVAL;
    return (pid_t)pid;
}

static bool is_kelpie(pid_t pid)
{
    char path[64], cmd[256];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
    close(fd);
    if (n <= 0)
        return false;
    cmd[n] = '\0';
    return strstr(cmd, "kelpie") != NULL;
}

pid_t kp_process_pidfile_live(const char *path)
{
    pid_t pid = kp_process_pidfile_read(path);

    if (pid <= 0 || pid == getpid())
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    return is_kelpie(pid) ? pid : 0;
}

/* The uid/gid workers run as: user (default nobody) and group (default the
 * user's primary group). */
static int worker_ids(const char *user, const char *group, struct passwd **pw, gid_t *gid)
{
    *pw = getpwnam(user ? user : "nobody");
    if (*pw == NULL)
        return -ENOENT;
    *gid = (*pw)->pw_gid;
    if (group != NULL) {
        struct group *gr = getgrnam(group);
        if (gr == NULL)
            return -ENOENT;
        *gid = gr->gr_gid;
    }
    return 0;
}

int kp_process_worker_uid(const char *user, uid_t *uid)
{
    const struct passwd *pw = getpwnam(user ? user : "nobody");

    if (pw == NULL)
        return -ENOENT;
    *uid = pw->pw_uid;
    return 0;
}

int kp_process_check_ids(const char *user, const char *group, const char **what)
{
    struct passwd *pw;
    gid_t gid;

    *what = user ? user : "nobody";
    if (getpwnam(*what) == NULL)
        return -ENOENT;
    *what = group;
    return worker_ids(user, group, &pw, &gid);
}

int kp_process_drop_privileges(const char *user, const char *group)
{
    struct passwd *pw;
    gid_t gid;

    if (geteuid() != 0)
        return 0;
    int rc = worker_ids(user, group, &pw, &gid);
    if (rc != 0)
        return rc;
    if (setgid(gid) != 0 || initgroups(pw->pw_name, gid) != 0 || setuid(pw->pw_uid) != 0)
        return -errno;
    /* setuid clears the dumpable flag; a crashing worker should still dump. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 0;
}

int kp_process_cpus(uint64_t *mask)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -errno;
    *mask = 0;
    for (int cpu = 0; cpu < 64; cpu++) {
        if (CPU_ISSET(cpu, &set))
            *mask |= UINT64_C(1) << cpu;
    }
    return 0;
}

int kp_process_set_cpus(uint64_t mask)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    for (int cpu = 0; cpu < 64; cpu++) {
        if (mask & (UINT64_C(1) << cpu))
            CPU_SET(cpu, &set);
    }
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}

int kp_process_reserve_fds(unsigned n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    if (rl.rlim_cur != RLIM_INFINITY && n > rl.rlim_cur)
        n = (unsigned)rl.rlim_cur;
    if (n > INT_MAX)
        n = INT_MAX;
    if (n == 0)
        return 0;
    int src = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -errno;
    int fd = fcntl(src, F_DUPFD_CLOEXEC, (int)n - 1);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    close(src);
    return err != 0 ? -err : (int)n;
}
