/* Unit tests for the socket seams: listening sockets (flags, options,
 * address reuse, IPv6-only), accept, TCP_NODELAY and TCP_CORK. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kelpie/os/socket.h"

static int get_opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);

    ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static void loopback(struct kp_socket_conf *l, int port, bool reuseport)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;

    memset(l, 0, sizeof(*l));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l->addrlen = sizeof(*sin);
    l->backlog = 16;
    l->reuseport = reuseport;
}

static int port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

START_TEST(socket_listen_options)
{
    struct kp_socket_conf l;

    loopback(&l, 0, false);
    int fd = kp_socket_listen(&l);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(get_opt(fd, SOL_SOCKET, SO_REUSEADDR), 1);
    ck_assert_int_eq(get_opt(fd, SOL_SOCKET, SO_REUSEPORT), 0);
    ck_assert_int_eq(get_opt(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    /* The same address again without reuseport is refused. */
    int port = port_of(fd);
    loopback(&l, port, false);
    ck_assert_int_eq(kp_socket_listen(&l), -EADDRINUSE);
    close(fd);
}
END_TEST

/* nginx's listen parameters reach the socket, and accepted sockets inherit
 * the keepalive settings. */
START_TEST(socket_nginx_parameters)
{
    struct kp_socket_conf l;

    loopback(&l, 0, false);
    l.deferred = true;
    l.fastopen = 16;
    l.so_keepalive = 1;
    l.keepidle = 30;
    l.keepintvl = 5;
    l.keepcnt = 3;
    l.rcvbuf = 65536;
    l.sndbuf = 32768;
    int fd = kp_socket_listen(&l);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(get_opt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
    ck_assert_int_eq(get_opt(fd, IPPROTO_TCP, TCP_FASTOPEN), 16);
    /* Linux doubles the buffer sizes for its bookkeeping. */
    ck_assert_int_ge(get_opt(fd, SOL_SOCKET, SO_RCVBUF), 65536);
    ck_assert_int_ge(get_opt(fd, SOL_SOCKET, SO_SNDBUF), 32768);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port_of(fd)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    /* Deferred: the connection is handed over once a byte has arrived. */
    ck_assert_int_eq(write(c, "G", 1), 1);
    struct sockaddr_storage peer;
    socklen_t plen;
    int a = -EAGAIN;
    for (int i = 0; i < 500 && a == -EAGAIN; i++) {
        a = kp_socket_accept(fd, &peer, &plen);
        if (a == -EAGAIN)
            usleep(10000);
    }
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(get_opt(a, SOL_SOCKET, SO_KEEPALIVE), 1);
    ck_assert_int_eq(get_opt(a, IPPROTO_TCP, TCP_KEEPIDLE), 30);
    ck_assert_int_eq(get_opt(a, IPPROTO_TCP, TCP_KEEPINTVL), 5);
    ck_assert_int_eq(get_opt(a, IPPROTO_TCP, TCP_KEEPCNT), 3);
    close(a);
    close(c);
    close(fd);
}
END_TEST

START_TEST(socket_reuseport)
{
    struct kp_socket_conf l;

    loopback(&l, 0, true);
    int a = kp_socket_listen(&l);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(get_opt(a, SOL_SOCKET, SO_REUSEPORT), 1);
    loopback(&l, port_of(a), true);
    int b = kp_socket_listen(&l);
    ck_assert_int_ge(b, 0);
    close(a);
    close(b);
}
END_TEST

START_TEST(socket_ipv6_only)
{
    struct kp_socket_conf l = {.addrlen = sizeof(struct sockaddr_in6), .backlog = 16};
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l.addr;

    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_loopback;
    int fd = kp_socket_listen(&l);
    if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
        fprintf(stderr, "socket_ipv6_only: skipped, no IPv6 loopback (%d)\n", -fd);
        return;
    }
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(get_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
    close(fd);
}
END_TEST

START_TEST(socket_bad_address)
{
    struct kp_socket_conf l;

    loopback(&l, 0, false);
    l.addrlen = 3;
    ck_assert_int_eq(kp_socket_listen(&l), -EINVAL);
}
END_TEST

START_TEST(socket_accept_and_tcp_options)
{
    struct kp_socket_conf l;
    struct sockaddr_storage peer;
    socklen_t peer_len;

    loopback(&l, 0, false);
    int lfd = kp_socket_listen(&l);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(kp_socket_accept(lfd, &peer, &peer_len), -EAGAIN);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    loopback(&l, port_of(lfd), false);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&l.addr, l.addrlen), 0);
    int fd = kp_socket_accept(lfd, &peer, &peer_len);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(peer.ss_family, AF_INET);
    ck_assert_uint_eq(peer_len, sizeof(struct sockaddr_in));
    ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);

    ck_assert_int_eq(kp_socket_nodelay(fd, true), 0);
    ck_assert_int_ne(get_opt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    ck_assert_int_eq(kp_socket_nodelay(fd, false), 0);
    ck_assert_int_eq(get_opt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    ck_assert_int_eq(kp_socket_cork(fd, true), 0);
    ck_assert_int_ne(get_opt(fd, IPPROTO_TCP, TCP_CORK), 0);
    ck_assert_int_eq(kp_socket_cork(fd, false), 0);
    ck_assert_int_eq(get_opt(fd, IPPROTO_TCP, TCP_CORK), 0);
    ck_assert_int_eq(kp_socket_nodelay(-1, true), -EBADF);
    close(fd);
    close(cfd);
    close(lfd);
}
END_TEST

Suite *kp_test_socket_suite(void)
{
    Suite *s = suite_create("socket");
    TCase *tc = tcase_create("socket");

    tcase_add_test(tc, socket_listen_options);
    tcase_add_test(tc, socket_nginx_parameters);
    tcase_add_test(tc, socket_reuseport);
    tcase_add_test(tc, socket_ipv6_only);
    tcase_add_test(tc, socket_bad_address);
    tcase_add_test(tc, socket_accept_and_tcp_options);
    suite_add_tcase(s, tc);
    return s;
}
