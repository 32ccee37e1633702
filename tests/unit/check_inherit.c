/* Unit tests for inherited listening sockets: the KELPIE fd list of a
 * binary upgrade (described, made non-blocking and close-on-exec, the
 * variable removed), unusable descriptors reported, systemd's variables
 * ignored when LISTEN_PID is another process, and kp_listen_open taking a
 * handed socket for the `listen` with its address (a UNIX-domain one too,
 * whose file the new master then owns). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/proc/listen.h"
#include "kelpie/os/inherit.h"
#include "kelpie/os/socket.h"
#include "kelpie/util/conf.h"
#include "tmpdir.h"

static struct kp_socket_conf loopback_any_port(void)
{
    struct kp_socket_conf l;
    struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;

    memset(&l, 0, sizeof(l));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l.addrlen = sizeof(*sin);
    l.backlog = 16;
    return l;
}

/* A blocking, inheritable listening socket, as systemd or an exec leaves it. */
static int plain_listener(struct kp_socket_conf *l)
{
    *l = loopback_any_port();
    int fd = kp_socket_listen(l);
    ck_assert_int_ge(fd, 0);
    fcntl(fd, F_SETFL, 0);
    fcntl(fd, F_SETFD, 0);
    l->addrlen = sizeof(l->addr);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen), 0);
    return fd;
}

START_TEST(inherit_upgrade_list)
{
    struct kp_socket_conf l;
    struct kp_inherited in[4];
    char env[64];
    int fd = plain_listener(&l);
    int file = open("/dev/null", O_RDONLY);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);

    snprintf(env, sizeof(env), "%d;%d;%d;999;", fd, file, udp);
    setenv(KP_INHERIT_ENV, env, 1);
    ck_assert_uint_eq(kp_inherit_collect(in, 4), 4);
    ck_assert_ptr_null(getenv(KP_INHERIT_ENV));
    ck_assert_int_eq(in[0].fd, fd);
    ck_assert_int_eq(in[0].err, 0);
    ck_assert_int_eq(in[0].source, KP_INHERIT_UPGRADE);
    ck_assert_uint_eq(in[0].addrlen, l.addrlen);
    ck_assert_int_eq(memcmp(&in[0].addr, &l.addr, l.addrlen), 0);
    ck_assert(!in[0].reuseport);
    ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(in[1].err, -ENOTSOCK);
    ck_assert_int_eq(in[2].err, -EAFNOSUPPORT);
    ck_assert_int_eq(in[3].err, -EBADF);
    close(fd);
    close(file);
    close(udp);
}
END_TEST

START_TEST(inherit_systemd_for_another_process)
{
    struct kp_inherited in[4];
    char pid[16];

    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    setenv("LISTEN_FDNAMES", "a:b", 1);
    ck_assert_uint_eq(kp_inherit_collect(in, 4), 0);
    ck_assert_ptr_null(getenv("LISTEN_FDS"));
    ck_assert_ptr_null(getenv("LISTEN_PID"));
    ck_assert_ptr_null(getenv("LISTEN_FDNAMES"));
}
END_TEST

START_TEST(inherit_export_round_trip)
{
    struct kp_socket_conf l;
    char buf[64];
    int fds[2] = {plain_listener(&l), plain_listener(&l)};

    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    ck_assert_int_eq(kp_inherit_export(fds, 2, buf, sizeof(buf)), 0);
    char want[64];
    snprintf(want, sizeof(want), "%d;%d;", fds[0], fds[1]);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(kp_inherit_export(fds, 2, buf, 4), -ENAMETOOLONG);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* kp_listen_open takes the handed socket for the listen with its address,
 * and the one nobody wants is closed by kp_listen_inherited_done. */
START_TEST(inherit_listen_takes_matching_socket)
{
    struct kp_socket_conf l1, l2;
    struct kp_log log;
    char env[64];
    int fd1 = plain_listener(&l1), fd2 = plain_listener(&l2);

    kp_log_init_stderr(&log, KP_LOG_EMERG);
    snprintf(env, sizeof(env), "%d;%d;", fd1, fd2);
    setenv(KP_INHERIT_ENV, env, 1);
    struct kp_inherited in[4];
    size_t n = kp_inherit_collect(in, 4);
    struct kp_cycle *inh = kp_listen_inherited(in, n, &log);
    ck_assert_ptr_nonnull(inh);
    ck_assert_uint_eq(inh->n_listening, 2);

    struct kp_listening ls = {.conf = l1, .fd = -1};
    struct kp_cycle cycle = {.listening = &ls, .n_listening = 1};
    ck_assert_int_eq(kp_listen_open(&cycle, inh, &log), 0);
    ck_assert_int_eq(ls.fd, fd1);
    kp_listen_inherited_done(inh, &log);
    ck_assert_int_lt(fcntl(fd2, F_GETFD), 0); /* closed */
    ck_assert_int_ge(fcntl(fd1, F_GETFD), 0);
    kp_listen_close(&cycle, false);
}
END_TEST

/* A UNIX-domain socket handed over by an old master matches `listen
 * unix:PATH` (getsockname's length is the parser's), and the new master
 * removes its file when it closes it for good. */
START_TEST(inherit_unix_socket_taken_and_owned)
{
    char dir[64], spec[128];
    struct kp_socket_conf l;
    struct kp_log log;
    struct stat st;

    tmpdir_make(dir, "kp_inherit");
    snprintf(spec, sizeof(spec), "unix:%sk.sock", dir);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(kp_conf_parse_addr(spec, 80, &l.addr, &l.addrlen), 0);
    l.backlog = 16;
    int fd = kp_socket_listen(&l);
    ck_assert_int_ge(fd, 0);
    kp_log_init_stderr(&log, KP_LOG_EMERG);
    char env[32];
    snprintf(env, sizeof(env), "%d;", fd);
    setenv(KP_INHERIT_ENV, env, 1);
    struct kp_inherited in[2];
    ck_assert_uint_eq(kp_inherit_collect(in, 2), 1);
    ck_assert_int_eq(in[0].err, 0);
    ck_assert_uint_eq(in[0].addrlen, l.addrlen);
    struct kp_cycle *inh = kp_listen_inherited(in, 1, &log);
    ck_assert_ptr_nonnull(inh);
    ck_assert_str_eq(inh->listening[0].conf.text, spec);

    struct kp_listening ls = {.conf = l, .fd = -1};
    struct kp_cycle cycle = {.listening = &ls, .n_listening = 1};
    ck_assert_int_eq(kp_listen_open(&cycle, inh, &log), 0);
    ck_assert_int_eq(ls.fd, fd);
    ck_assert(ls.owns_path);
    kp_listen_inherited_done(inh, &log);
    ck_assert_int_eq(lstat(spec + 5, &st), 0);
    kp_listen_close(&cycle, true);
    ck_assert_int_lt(fcntl(fd, F_GETFD), 0);
    ck_assert_int_ne(lstat(spec + 5, &st), 0);
    tmpdir_remove(dir);
}
END_TEST

Suite *kp_test_inherit_suite(void)
{
    Suite *s = suite_create("inherit");
    TCase *tc = tcase_create("inherit");

    tcase_add_test(tc, inherit_upgrade_list);
    tcase_add_test(tc, inherit_systemd_for_another_process);
    tcase_add_test(tc, inherit_export_round_trip);
    tcase_add_test(tc, inherit_listen_takes_matching_socket);
    tcase_add_test(tc, inherit_unix_socket_taken_and_owned);
    suite_add_tcase(s, tc);
    return s;
}
