/* Socket system calls behind small functions that return -errno. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
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

int kp_socket_listen(const struct kp_socket_conf *l)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    int rc = prepare_listener(fd, l);
    if (rc == 0 && bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
        rc = -errno;
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
    return fd < 0 ? -errno : fd;
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
