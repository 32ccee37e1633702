/* Log files opened by the master and handed to the workers (see logfiles.h). */
#include "kelpie/proc/logfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"

/* Descriptors per message: well below the kernel's SCM_MAX_FD (253). */
#define CHUNK 32

/* Control buffer aligned for struct cmsghdr. */
union control {
    char buf[CMSG_SPACE(sizeof(int) * CHUNK)];
    struct cmsghdr align;
};

static int open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

/* Add path unless it is there already; the table has room for every path. */
static int add_path(struct kp_cycle *cycle, const char *path, const struct kp_log *log)
{
    if (kp_logfiles_fd(cycle, path) >= 0)
        return 0;
    int fd = open_append(path);
    if (fd < 0) {
        kp_log_error(log, KP_LOG_EMERG, -fd, "open() \"%s\" failed", path);
        return fd;
    }
    cycle->log_files[cycle->n_log_files++] = (struct kp_log_file){path, fd};
    return 0;
}

/* Open every file of an error_log chain and give each log its descriptor. */
static int add_chain(struct kp_cycle *cycle, struct kp_log *chain, const struct kp_log *log)
{
    int rc = 0;

    for (struct kp_log *l = chain; l != NULL && rc == 0; l = l->next) {
        if (l->path == NULL)
            continue; /* stderr */
        rc = add_path(cycle, l->path, log);
        if (rc == 0)
            l->fd = kp_logfiles_fd(cycle, l->path);
    }
    return rc;
}

static int add_loc(struct kp_cycle *cycle, const struct kp_http_loc_conf *loc,
                   const struct kp_log *log)
{
    int rc = 0;

    for (size_t i = 0; i < loc->n_access_logs && rc == 0; i++) {
        if (loc->access_logs[i].syslog == NULL)
            rc = add_path(cycle, loc->access_logs[i].path, log);
    }
    return rc == 0 ? add_chain(cycle, loc->error_log, log) : rc;
}

static size_t chain_length(const struct kp_log *chain)
{
    size_t n = 0;

    for (; chain != NULL; chain = chain->next)
        n++;
    return n;
}

static size_t loc_paths(const struct kp_http_loc_conf *loc)
{
    return loc->n_access_logs + chain_length(loc->error_log);
}

static size_t count_paths(const struct kp_cycle *cycle)
{
    size_t n = chain_length(cycle->core.error_log_more);

    for (size_t s = 0; s < cycle->http.n_servers; s++) {
        const struct kp_http_srv_conf *srv = cycle->http.servers[s];
        n += loc_paths(srv->loc);
        for (size_t i = 0; i < srv->n_all; i++)
            n += loc_paths(srv->all[i]);
    }
    return n;
}

int kp_logfiles_open(struct kp_cycle *cycle, const struct kp_log *log)
{
    size_t n = count_paths(cycle);

    kp_logfiles_close(cycle);
    cycle->log_files = kp_calloc(n > 0 ? n : 1, sizeof(*cycle->log_files));
    int rc = add_chain(cycle, cycle->core.error_log_more, log);
    for (size_t s = 0; s < cycle->http.n_servers && rc == 0; s++) {
        const struct kp_http_srv_conf *srv = cycle->http.servers[s];
        rc = add_loc(cycle, srv->loc, log);
        for (size_t i = 0; i < srv->n_all && rc == 0; i++)
            rc = add_loc(cycle, srv->all[i], log);
    }
    if (rc != 0)
        kp_logfiles_close(cycle);
    return rc;
}

int kp_logfiles_fd(const struct kp_cycle *cycle, const char *path)
{
    return kp_log_file_fd(cycle->log_files, cycle->n_log_files, path);
}

void kp_logfiles_close(struct kp_cycle *cycle)
{
    for (size_t i = 0; i < cycle->n_log_files; i++)
        close(cycle->log_files[i].fd);
    kp_free(cycle->log_files);
    cycle->log_files = NULL;
    cycle->n_log_files = 0;
}

int kp_logfiles_reopen_own(const struct kp_cycle *cycle, struct kp_log *errlog)
{
    int rc = kp_log_reopen(errlog);

    if (rc != 0)
        kp_log_error(errlog, KP_LOG_ALERT, -rc, "reopening the error log failed");
    int rc2 = kp_logfiles_reopen(cycle, errlog);
    return rc != 0 ? rc : rc2;
}

int kp_logfiles_reopen(const struct kp_cycle *cycle, const struct kp_log *log)
{
    int first = 0;

    for (size_t i = 0; i < cycle->n_log_files; i++) {
        const struct kp_log_file *f = &cycle->log_files[i];
        int fd = open_append(f->path);
        /* dup3 replaces the file behind the number in one step: a line
         * written meanwhile lands in the old file or the new one. */
        if (fd >= 0 && dup3(fd, f->fd, O_CLOEXEC) < 0)
            fd = -errno;
        else if (fd >= 0)
            close(fd);
        if (fd < 0) {
            kp_log_error(log, KP_LOG_ALERT, -fd, "reopen of \"%s\" failed", f->path);
            first = first != 0 ? first : fd;
        }
    }
    return first;
}

static void give(const char *path, uid_t uid, const struct kp_log *log)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        kp_log_error(log, KP_LOG_ALERT, errno, "stat() \"%s\" failed", path);
        return;
    }
    if (st.st_uid != uid && chown(path, uid, (gid_t)-1) != 0) {
        kp_log_error(log, KP_LOG_ALERT, errno, "chown(\"%s\", %d) failed", path, (int)uid);
        return;
    }
    if ((st.st_mode & (S_IRUSR | S_IWUSR)) != (S_IRUSR | S_IWUSR) &&
        chmod(path, (st.st_mode & 07777) | S_IRUSR | S_IWUSR) != 0)
        kp_log_error(log, KP_LOG_ALERT, errno, "chmod() \"%s\" failed", path);
}

void kp_logfiles_give(const struct kp_cycle *cycle, const struct kp_log *errlog, uid_t uid)
{
    if (errlog->path != NULL && strcmp(errlog->path, "stderr") != 0)
        give(errlog->path, uid, errlog);
    for (size_t i = 0; i < cycle->n_log_files; i++)
        give(cycle->log_files[i].path, uid, errlog);
}

/* One datagram: the descriptors in SCM_RIGHTS, the numbers they replace as
 * the payload (the same numbers in the worker, which inherited them). */
static int send_chunk(int chan, const int *fds, size_t n)
{
    union control control;
    struct iovec iov = {(void *)fds, n * sizeof(int)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * n)};

    memset(&control, 0, sizeof(control));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    return sendmsg(chan, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int kp_logfiles_send(int chan, const struct kp_cycle *cycle, const struct kp_log *errlog)
{
    int fds[CHUNK];
    size_t n = 0;
    int rc = 0;

    if (errlog->fd >= 0)
        fds[n++] = errlog->fd;
    for (size_t i = 0; i < cycle->n_log_files && rc == 0; i++) {
        fds[n++] = cycle->log_files[i].fd;
        if (n == CHUNK) {
            rc = send_chunk(chan, fds, n);
            n = 0;
        }
    }
    return rc == 0 && n > 0 ? send_chunk(chan, fds, n) : rc;
}

/* Put each received descriptor under the number it replaces. */
static int install(const struct msghdr *msg, const int *targets, size_t n_targets,
                   const struct kp_log *log)
{
    int done = 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL;
         cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[CHUNK];
        memcpy(fds, CMSG_DATA(cm), (n < CHUNK ? n : CHUNK) * sizeof(int));
        for (size_t i = 0; i < n && i < CHUNK; i++) {
            if (i < n_targets && dup3(fds[i], targets[i], O_CLOEXEC) >= 0)
                done++;
            else
                kp_log_error(log, KP_LOG_ALERT, errno, "taking over a reopened log file failed");
            close(fds[i]);
        }
    }
    return done;
}

int kp_logfiles_receive(int chan, const struct kp_log *log)
{
    int done = 0;

    for (;;) {
        int targets[CHUNK];
        union control control;
        struct iovec iov = {targets, sizeof(targets)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf)};
        ssize_t len = recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (len < 0 && errno == EINTR)
            continue;
        if (len < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? done : -errno;
        if (len == 0)
            return done;
        done += install(&msg, targets, (size_t)len / sizeof(int), log);
    }
}
