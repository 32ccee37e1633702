/* Inherited listening sockets (see inherit.h). */
#include "kelpie/os/inherit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Check and prepare one descriptor: a listening stream socket (TCP over IPv4
 * or IPv6, or UNIX-domain),
 * switched to what kelpie's own sockets are (non-blocking, close-on-exec). */
static void describe(struct kp_inherited *in, int fd, enum kp_inherit_source source)
{
    int type = 0, listening = 0, reuse = 0;
    socklen_t len = sizeof(int);

    memset(in, 0, sizeof(*in));
    in->fd = fd;
    in->source = source;
    in->addrlen = sizeof(in->addr);
    if (fcntl(fd, F_GETFD) < 0)
        in->err = -EBADF;
    else if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
             getsockname(fd, (struct sockaddr *)&in->addr, &in->addrlen) != 0)
        in->err = -errno;
    else if (type != SOCK_STREAM ||
             (in->addr.ss_family != AF_INET && in->addr.ss_family != AF_INET6 &&
              in->addr.ss_family != AF_UNIX))
        in->err = -EAFNOSUPPORT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        in->err = -EINVAL;
    if (in->err != 0)
        return;
    getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuse, &len);
    in->reuseport = reuse != 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        in->err = -errno;
}

static bool parse_int(const char *s, const char **end, long max, long *out)
{
    char *e;

    errno = 0;
    long v = s != NULL ? strtol(s, &e, 10) : -1;
    if (s == NULL || e == s || errno != 0 || v < 0 || v > max)
        return false;
    *out = v;
    if (end != NULL)
        *end = e;
    return true;
}

/* sd_listen_fds(): LISTEN_FDS descriptors from 3 on, if LISTEN_PID is us.
 * LISTEN_FDNAMES is a ':'-separated list, one name per descriptor. */
static size_t from_systemd(struct kp_inherited *out, size_t max)
{
    long pid, n;
    const char *names = getenv("LISTEN_FDNAMES");

    if (!parse_int(getenv("LISTEN_PID"), NULL, INT_MAX, &pid) || pid != getpid() ||
        !parse_int(getenv("LISTEN_FDS"), NULL, INT_MAX - KP_INHERIT_FIRST_FD, &n))
        return 0;
    size_t count = 0;
    for (long i = 0; i < n && count < max; i++) {
        struct kp_inherited *in = &out[count++];
        describe(in, KP_INHERIT_FIRST_FD + (int)i, KP_INHERIT_SYSTEMD);
        if (names == NULL)
            continue;
        size_t len = strcspn(names, ":");
        snprintf(in->name, sizeof(in->name), "%.*s", (int)len, names);
        names = names[len] == ':' ? names + len + 1 : NULL;
    }
    return count;
}

/* KELPIE="3;4;": what an old master passes to its new binary. */
static size_t from_upgrade(struct kp_inherited *out, size_t max)
{
    const char *p = getenv(KP_INHERIT_ENV);
    size_t count = 0;
    long fd;

    while (p != NULL && *p != '\0' && count < max && parse_int(p, &p, INT_MAX, &fd)) {
        describe(&out[count++], (int)fd, KP_INHERIT_UPGRADE);
        p += *p == ';';
    }
    return count;
}

size_t kp_inherit_collect(struct kp_inherited *out, size_t max)
{
    size_t n = from_systemd(out, max);

    n += from_upgrade(out + n, max - n);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    unsetenv(KP_INHERIT_ENV);
    return n;
}

int kp_inherit_export(const int *fds, size_t n, char *buf, size_t size)
{
    size_t len = 0;

    if (size == 0)
        return -ENAMETOOLONG;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, size - len, "%d;", fds[i]);
        if (w < 0 || (size_t)w >= size - len)
            return -ENAMETOOLONG;
        len += (size_t)w;
        if (fcntl(fds[i], F_SETFD, 0) < 0)
            return -errno;
    }
    return 0;
}
