/* Socket system calls behind small functions that return -errno. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kelpie/os/socket.h"

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* Options that must be set before bind(). */
static int prepare_listener(int fd, const struct kp_socket_conf *l)
{
    int rc = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);

    if (rc == 0 && l->reuseport)
        rc = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (rc == 0 && l->addr.ss_family == AF_INET6)
        rc = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, l->ipv6_dual ? 0 : 1);
    if (rc == 0 && l->rcvbuf > 0)
        rc = set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, l->rcvbuf);
    if (rc == 0 && l->sndbuf > 0)
        rc = set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, l->sndbuf);
    return rc;
}

/* Options of the listening socket that accepted connections inherit
 * (keepalive) or that shape accepting (deferred, fastopen). */
static int tune_listener(int fd, const struct kp_socket_conf *l)
{
    int rc = 0;

    if (l->addr.ss_family == AF_UNIX) /* none of them is a UNIX-domain option */
        return 0;
    if (l->so_keepalive != 0)
        rc = set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, l->so_keepalive > 0);
    if (rc == 0 && l->keepidle > 0)
        rc = set_int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, l->keepidle);
    if (rc == 0 && l->keepintvl > 0)
        rc = set_int_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, l->keepintvl);
    if (rc == 0 && l->keepcnt > 0)
        rc = set_int_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, l->keepcnt);
    /* The kernel takes seconds to wait for the first data; past them it
     * hands the connection over anyway, and client_header_timeout rules. */
    if (rc == 0 && l->deferred)
        rc = set_int_opt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 1);
    if (rc == 0 && l->fastopen > 0)
        rc = set_int_opt(fd, IPPROTO_TCP, TCP_FASTOPEN, l->fastopen);
    return rc;
}

/* A socket file left behind by a server that is gone (a crash, a kill -9):
 * nothing answers a connect() on it any more. A live socket and anything
 * that is not a socket stay, and bind() reports them. */
static void unlink_stale(const struct sockaddr_un *sun, socklen_t len)
{
    struct stat st;

    if (lstat(sun->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, (const struct sockaddr *)sun, len) < 0 && errno == ECONNREFUSED)
        unlink(sun->sun_path);
    close(fd);
}

/* A UNIX-domain socket's file: stale ones go before bind(); access is left
 * to the directory's permissions, as nginx does (workers running as another
 * user must be able to connect too). The file is born 0666 through the
 * umask, never chmod()ed by name afterwards: whoever may write to the
 * directory could swap a symlink in between and have the master open up
 * the link's target. Only the (single-threaded) master binds these. */
static int bind_listener(int fd, const struct kp_socket_conf *l)
{
    if (l->addr.ss_family != AF_UNIX) {
        if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
            return -errno;
        return 0;
    }
    unlink_stale((const struct sockaddr_un *)&l->addr, l->addrlen);
    mode_t old = umask(0111);
    int rc = bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0 ? -errno : 0;
    umask(old);
    return rc;
}

int kp_socket_listen(const struct kp_socket_conf *l)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    int rc = prepare_listener(fd, l);
    if (rc == 0)
        rc = bind_listener(fd, l);
    if (rc == 0)
        rc = tune_listener(fd, l);
    if (rc == 0 && listen(fd, l->backlog) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int kp_socket_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len)
{
    *peer_len = sizeof(*peer);
    int fd = accept4(lfd, (struct sockaddr *)peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return -errno;
    kp_socket_accepted_peer(peer, *peer_len);
    return fd;
}

void kp_socket_accepted_peer(struct sockaddr_storage *peer, socklen_t peer_len)
{
    /* An unnamed UNIX-domain client fills in the family only: the path
     * must read as empty, not as what the buffer held before. */
    if (peer->ss_family == AF_UNIX && peer_len < sizeof(struct sockaddr_un))
        memset((char *)peer + peer_len, 0, sizeof(struct sockaddr_un) - peer_len);
}

void kp_socket_unlink(const struct kp_socket_conf *l)
{
    if (l->addr.ss_family == AF_UNIX)
        unlink(((const struct sockaddr_un *)&l->addr)->sun_path);
}

int kp_socket_nodelay(int fd, bool on)
{
    return set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

int kp_socket_cork(int fd, bool on)
{
    return set_int_opt(fd, IPPROTO_TCP, TCP_CORK, on ? 1 : 0);
}

int kp_socket_reset_on_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};

    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == 0 ? 0 : -errno;
}
