/* systemd integration against the real binary: the sd_notify messages a
 * master sends to a test-owned NOTIFY_SOCKET, in order, through start,
 * reload and stop (Type=notify-reload), MAINPID across a binary upgrade,
 * and socket activation through
 * systemd-socket-activate (a handed socket serves, one no `listen` wants is
 * closed, a reload keeps the handed socket). */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

/* A datagram socket on an abstract name, exported as NOTIFY_SOCKET for the
 * server the test starts next. */
static int notify_socket(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char name[64];
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    int one = 1;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
    int len = snprintf(name, sizeof(name), "@kp-test-notify-%d", (int)getpid());
    memcpy(sa.sun_path, name, (size_t)len);
    sa.sun_path[0] = '\0';
    ck_assert_int_eq(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    setenv("NOTIFY_SOCKET", name, 1);
    return fd;
}

/* The next message (at most 10 s), NUL-terminated in buf; returns the
 * sender's pid (the socket passes credentials, as systemd's does). */
static pid_t next_message(int fd, char *buf, size_t size)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    struct iovec iov = {buf, size - 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
    struct pollfd p = {fd, POLLIN, 0};
    struct ucred cred = {0};

    ck_assert_msg(poll(&p, 1, 10000) == 1, "no sd_notify message within 10 s");
    ssize_t n = recvmsg(fd, &msg, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c != NULL && c->cmsg_type == SCM_CREDENTIALS)
        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
    return cred.pid;
}

/* The next message must start with first and contain each of the others.
 * Returns its sender. */
static pid_t expect(int fd, const char *first, const char *with1, const char *with2)
{
    char buf[512];

    pid_t from = next_message(fd, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, first, strlen(first)) == 0, "expected %s, got \"%s\"", first, buf);
    ck_assert_msg(with1 == NULL || strstr(buf, with1) != NULL, "no %s in \"%s\"", with1, buf);
    ck_assert_msg(with2 == NULL || strstr(buf, with2) != NULL, "no %s in \"%s\"", with2, buf);
    return from;
}

START_TEST(notify_start_reload_stop)
{
    struct kp_h_server s;
    char mainpid[32];
    int fd = notify_socket();

    kp_p_start(&s, "worker_processes 2;", NULL,
               "server { listen 127.0.0.1:@PORT@; location / { return 200 ok; } }");
    unsetenv("NOTIFY_SOCKET");
    snprintf(mainpid, sizeof(mainpid), "MAINPID=%d\n", (int)s.pid);
    /* READY only once the first workers are: a request then succeeds. */
    expect(fd, "READY=1\n", mainpid, "STATUS=generation 1, 2 workers");
    ck_assert_int_eq(kp_p_get(s.port), 200);
    /* notify-reload: RELOADING=1 with the clock, then READY=1 again. */
    kill(s.pid, SIGHUP);
    expect(fd, "RELOADING=1\n", "MONOTONIC_USEC=", NULL);
    expect(fd, "READY=1\n", mainpid, "STATUS=generation 2, 2 workers");
    /* A refused configuration still ends the reload with READY=1. */
    kp_h_write(&s, "conf/kelpie.conf", "worker_processes 2; bogus_directive;\n");
    kill(s.pid, SIGHUP);
    expect(fd, "RELOADING=1\n", "MONOTONIC_USEC=", NULL);
    expect(fd, "READY=1\n", mainpid, "STATUS=generation 2, 2 workers");
    kill(s.pid, SIGQUIT);
    expect(fd, "STOPPING=1", NULL, NULL);
    ck_assert(kp_p_gone(s.pid, 10000));
    s.alerts_expected = true; /* the bogus directive's [emerg] */
    kp_h_stop(&s);
    close(fd);
}
END_TEST

/* A binary upgrade under systemd: the new master announces itself with
 * MAINPID=, the old one leaves without STOPPING=1 (the service goes on), and
 * the new one's stop is reported by the new one. */
START_TEST(notify_mainpid_across_upgrade)
{
    struct kp_h_server s;
    char want[32], buf[512];
    int fd = notify_socket();

    prctl(PR_SET_CHILD_SUBREAPER, 1); /* the new master outlives its parent */
    kp_p_start(&s, "worker_processes 1;", NULL,
               "server { listen 127.0.0.1:@PORT@; location / { return 200 ok; } }");
    unsetenv("NOTIFY_SOCKET");
    pid_t old = s.pid;
    snprintf(want, sizeof(want), "MAINPID=%d\n", (int)old);
    ck_assert_int_eq(expect(fd, "READY=1\n", want, NULL), old);
    kill(old, SIGUSR2);
    pid_t nm = next_message(fd, buf, sizeof(buf));
    snprintf(want, sizeof(want), "READY=1\nMAINPID=%d\n", (int)nm);
    ck_assert_msg(nm != old && strncmp(buf, want, strlen(want)) == 0, "from %d: \"%s\"", (int)nm,
                  buf);
    ck_assert_int_eq(kp_p_ppid(nm), old);
    kill(old, SIGWINCH);
    kill(old, SIGQUIT);
    ck_assert_int_eq(waitpid(old, NULL, 0), old);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    s.pid = nm;
    kp_h_stop(&s);
    /* The first message after the new master's READY: its own STOPPING. */
    ck_assert_int_eq(expect(fd, "STOPPING=1", NULL, NULL), nm);
    close(fd);
}
END_TEST

/* The inode of the socket behind /proc/PID/fd/FD (0 if none). */
static unsigned long socket_inode(pid_t pid, int fd)
{
    char path[64], link[64];
    unsigned long ino = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    sscanf(link, "socket:[%lu]", &ino);
    return ino;
}

START_TEST(socket_activation)
{
    struct kp_h_server s;
    char a1[64], a2[64];

    if (access("/usr/bin/systemd-socket-activate", X_OK) != 0 &&
        access("/bin/systemd-socket-activate", X_OK) != 0) {
        fprintf(stderr, "socket_activation: systemd-socket-activate is not installed, skipped\n");
        return;
    }
    kp_h_prepare(&s);
    chmod(s.prefix, 0755); /* started as root, the workers run as nobody */
    kp_p_write_config(&s, "worker_processes 2;", NULL,
                      "server { listen 127.0.0.1:@PORT@; location / { return 200 "
                      "\"activated\\n\"; } }");
    snprintf(a1, sizeof(a1), "127.0.0.1:%d", s.port);
    snprintf(a2, sizeof(a2), "127.0.0.1:%d", s.port2);
    /* Two sockets: the one `listen` names, and one nothing asks for. */
    char *wrapper[] = {"systemd-socket-activate", "-l", a1, "-l", a2, "--fdname=web:spare", NULL};
    ck_assert_int_eq(kp_h_start_wrapped(&s, wrapper), 0);
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "activated\n");
    kp_h_resp_free(&r);
    ck_assert(kp_p_log_wait(&s, "listening socket 127.0.0.1", 5000));
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "(fd 3, \"web\") handed over by systemd") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "matches no listen directive: closed") != NULL, "%s", log);
    free(log);
    /* kelpie did not bind the address itself: fd 3 is the handed socket. */
    unsigned long ino = socket_inode(s.pid, 3);
    ck_assert_uint_ne(ino, 0);
    /* The spare socket was closed: nobody listens on it any more. */
    ck_assert_int_lt(kp_p_get(s.port2), 0);
    /* A reload keeps the handed socket (same descriptor, same socket). */
    kill(s.pid, SIGHUP);
    ck_assert(kp_p_log_wait(&s, "reload complete: generation 2", 10000));
    ck_assert_uint_eq(socket_inode(s.pid, 3), ino);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_systemd_suite(void)
{
    Suite *s = suite_create("systemd");
    TCase *tc = tcase_create("systemd");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, notify_start_reload_stop);
    tcase_add_test(tc, notify_mainpid_across_upgrade);
    tcase_add_test(tc, socket_activation);
    suite_add_tcase(s, tc);
    return s;
}
