/* Unit tests for the socket seams: listening sockets (flags, options,
 * address reuse, IPv6-only, UNIX-domain paths), accept, TCP_NODELAY and
 * TCP_CORK. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kelpie/os/socket.h"
#include "kelpie/util/conf.h"
#include "tmpdir.h"

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

static void unix_conf(struct kp_socket_conf *l, const char *dir, const char *name)
{
    char spec[128];

    memset(l, 0, sizeof(*l));
    snprintf(spec, sizeof(spec), "unix:%s%s", dir, name);
    ck_assert_int_eq(kp_conf_parse_addr(spec, 80, &l->addr, &l->addrlen), 0);
    l->backlog = 16;
}

static int unix_client(const struct kp_socket_conf *l)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    if (connect(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A UNIX-domain listener: a 0666 socket file, TCP options skipped, the
 * unnamed peer's address reads as an empty path, kp_socket_unlink removes
 * the file. */
START_TEST(socket_unix_listen_and_accept)
{
    char dir[64];
    struct kp_socket_conf l;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct stat st;

    tmpdir_make(dir, "kp_sock");
    unix_conf(&l, dir, "k.sock");
    l.deferred = true; /* TCP-only: left out, not an error */
    l.so_keepalive = 1;
    l.keepidle = 30;
    int lfd = kp_socket_listen(&l);
    ck_assert_int_ge(lfd, 0);
    const char *path = ((struct sockaddr_un *)&l.addr)->sun_path;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0666);
    ck_assert_int_eq(kp_socket_accept(lfd, &peer, &peer_len), -EAGAIN);
    int cfd = unix_client(&l);
    ck_assert_int_ge(cfd, 0);
    memset(&peer, 0x55, sizeof(peer)); /* what a reused buffer may hold */
    int fd = kp_socket_accept(lfd, &peer, &peer_len);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(peer.ss_family, AF_UNIX);
    ck_assert_str_eq(((struct sockaddr_un *)&peer)->sun_path, "");
    /* The same path while it is live: refused, and left in place. */
    ck_assert_int_eq(kp_socket_listen(&l), -EADDRINUSE);
    ck_assert_int_eq(lstat(path, &st), 0);
    close(fd);
    close(cfd);
    close(lfd);
    kp_socket_unlink(&l);
    ck_assert_int_ne(lstat(path, &st), 0);
    tmpdir_remove(dir);
}
END_TEST

/* A socket file nobody listens on any more is replaced; a file that is not
 * a socket is left alone and bind() fails. */
START_TEST(socket_unix_stale_file)
{
    char dir[64], other[128];
    struct kp_socket_conf l;
    struct stat st;

    tmpdir_make(dir, "kp_sock");
    unix_conf(&l, dir, "k.sock");
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(stale, (const struct sockaddr *)&l.addr, l.addrlen), 0);
    close(stale); /* the file stays: a server killed without cleaning up */
    int lfd = kp_socket_listen(&l);
    ck_assert_int_ge(lfd, 0);
    int cfd = unix_client(&l);
    ck_assert_int_ge(cfd, 0);
    close(cfd);
    close(lfd);
    kp_socket_unlink(&l);

    unix_conf(&l, dir, "plain");
    snprintf(other, sizeof(other), "%splain", dir);
    FILE *f = fopen(other, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(kp_socket_listen(&l), -EADDRINUSE);
    ck_assert_int_eq(lstat(other, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    tmpdir_remove(dir);
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
    tcase_add_test(tc, socket_unix_listen_and_accept);
    tcase_add_test(tc, socket_unix_stale_file);
    suite_add_tcase(s, tc);
    return s;
}
