/* Unit tests for the hand-written sd_notify: a path and an abstract socket
 * receive the state as one datagram; no
 * NOTIFY_SOCKET is a silent no-op; bad names are refused. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kelpie/os/notify.h"

/* Bind a datagram socket at name ("/path" or "@abstract") and point
 * NOTIFY_SOCKET at it. */
static int listen_at(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memcpy(sa.sun_path, name, len);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        salen++;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, salen), 0);
    setenv(KP_NOTIFY_ENV, name, 1);
    return fd;
}

/* Receive one datagram (at most 2 s) into buf. (The sender's pid, which
 * systemd checks, is asserted by the integration suite "systemd".) */
static void receive(int fd, char *buf, size_t size)
{
    struct pollfd p = {fd, POLLIN, 0};

    ck_assert_int_eq(poll(&p, 1, 2000), 1);
    ssize_t n = recv(fd, buf, size - 1, 0);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
}

START_TEST(notify_path_socket)
{
    char path[64], buf[256];

    snprintf(path, sizeof(path), "/tmp/kp-notify-%d", (int)getpid());
    unlink(path);
    int fd = listen_at(path);
    ck_assert_int_eq(kp_notify_send("READY=1\nSTATUS=generation 1, 2 workers"), 0);
    receive(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1\nSTATUS=generation 1, 2 workers");
    ck_assert_int_eq(kp_notify_send("STOPPING=1"), 0);
    receive(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "STOPPING=1");
    close(fd);
    unlink(path);
    unsetenv(KP_NOTIFY_ENV);
}
END_TEST

START_TEST(notify_abstract_socket)
{
    char name[64], buf[256];

    snprintf(name, sizeof(name), "@kp-notify-%d", (int)getpid());
    int fd = listen_at(name);
    ck_assert_int_eq(kp_notify_send("RELOADING=1\nMONOTONIC_USEC=1"), 0);
    receive(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "RELOADING=1\nMONOTONIC_USEC=1");
    close(fd);
    unsetenv(KP_NOTIFY_ENV);
}
END_TEST

START_TEST(notify_unset_and_bad_names)
{
    char longname[200];

    unsetenv(KP_NOTIFY_ENV);
    ck_assert_int_eq(kp_notify_send("READY=1"), 0);
    setenv(KP_NOTIFY_ENV, "", 1);
    ck_assert_int_eq(kp_notify_send("READY=1"), 0);
    setenv(KP_NOTIFY_ENV, "relative/socket", 1);
    ck_assert_int_eq(kp_notify_send("READY=1"), -EINVAL);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv(KP_NOTIFY_ENV, longname, 1);
    ck_assert_int_eq(kp_notify_send("READY=1"), -EINVAL);
    /* Nobody listening: the error is returned, not raised as a signal. */
    setenv(KP_NOTIFY_ENV, "/nonexistent/kp-notify", 1);
    ck_assert_int_eq(kp_notify_send("READY=1"), -ENOENT);
    unsetenv(KP_NOTIFY_ENV);
}
END_TEST

START_TEST(notify_monotonic_clock)
{
    uint64_t a = kp_notify_monotonic_usec();
    usleep(2000);
    uint64_t b = kp_notify_monotonic_usec();
    ck_assert_uint_gt(a, 0);
    ck_assert_uint_ge(b, a + 2000);
}
END_TEST

Suite *kp_test_notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("notify");

    tcase_add_test(tc, notify_path_socket);
    tcase_add_test(tc, notify_abstract_socket);
    tcase_add_test(tc, notify_unset_and_bad_names);
    tcase_add_test(tc, notify_monotonic_clock);
    suite_add_tcase(s, tc);
    return s;
}
