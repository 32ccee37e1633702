/* Unit tests for the syslog target (util/syslog.h): the parameters and their
 * defaults, the errors, the RFC 3164 header, a message through a socket, and
 * a missing socket that drops without blocking. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf_fixture.h"
#include "kelpie/util/log.h"
#include "kelpie/util/syslog.h"

static struct kp_syslog *parse(struct conf_fixture *f, const char *target)
{
    f->cf.args[1] = (char *)target;
    f->cf.nargs = 2;
    return kp_syslog_parse(&f->cf, target);
}

START_TEST(syslog_defaults_and_params)
{
    struct conf_fixture *f = conf_fixture_new("access_log");
    char host[256] = "";

    ck_assert(kp_syslog_is("syslog:server=unix:/dev/log"));
    ck_assert(!kp_syslog_is("logs/syslog.log"));
    struct kp_syslog *s = parse(f, "syslog:server=unix:/dev/log");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->addr.sun_path, "/dev/log");
    ck_assert_uint_eq(s->facility, 23); /* local7 */
    ck_assert_uint_eq(s->severity, KP_LOG_INFO);
    ck_assert_str_eq(s->tag, "kelpie");
    gethostname(host, sizeof(host) - 1);
    ck_assert_str_eq(s->hostname, host);
    ck_assert_int_ge(s->fd, 0);
    s = parse(f, "syslog:facility=auth,severity=warn,tag=my_app2,nohostname,server=unix:/run/x");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->addr.sun_path, "/run/x");
    ck_assert_uint_eq(s->facility, 4);
    ck_assert_uint_eq(s->severity, KP_LOG_WARN);
    ck_assert_str_eq(s->tag, "my_app2");
    ck_assert_str_eq(s->hostname, "");
    conf_fixture_free(f);
}
END_TEST

static const struct {
    const char *target, *msg;
} bad[] = {
    {"syslog:tag=x", "no syslog server specified"},
    {"syslog:server=127.0.0.1",
     "syslog server \"127.0.0.1\" is not supported: kelpie logs only to a local syslog socket "
     "(server=unix:PATH)"},
    {"syslog:server=unix:", "invalid syslog socket path \"\""},
    {"syslog:server=unix:/dev/log,facility=local9", "unknown syslog facility \"local9\""},
    {"syslog:server=unix:/dev/log,severity=loud", "unknown syslog severity \"loud\""},
    {"syslog:server=unix:/dev/log,tag=a-b",
     "syslog \"tag\" only allows alphanumeric characters and underscore"},
    {"syslog:server=unix:/dev/log,tag=abcdefghijabcdefghijabcdefghijabc",
     "syslog tag \"abcdefghijabcdefghijabcdefghijabc\" must be 1 to 32 characters"},
    {"syslog:server=unix:/dev/log,hostname", "unknown syslog parameter \"hostname\""},
};

START_TEST(syslog_errors)
{
    struct conf_fixture *f = conf_fixture_new("access_log");
    char want[512];

    ck_assert_ptr_null(parse(f, bad[_i].target));
    snprintf(want, sizeof(want), "%s in test.conf:7", bad[_i].msg);
    ck_assert_str_eq(f->err, want);
    conf_fixture_free(f);
}
END_TEST

START_TEST(syslog_header_and_send)
{
    struct conf_fixture *f = conf_fixture_new("error_log");
    char dir[] = "/tmp/kp_syslog_XXXXXX", path[64], target[96], out[256];
    struct sockaddr_un a = {.sun_family = AF_UNIX};

    setenv("TZ", "UTC", 1);
    tzset();
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/log", dir);
    snprintf(target, sizeof(target), "syslog:server=unix:%s,tag=t1", path);
    struct kp_syslog *s = parse(f, target);
    ck_assert_ptr_nonnull(s);
    strcpy(s->hostname, "box");
    /* 2026-12-06 09:05:07 UTC; the day is space-padded, as RFC 3164 wants */
    size_t n = kp_syslog_header(s, KP_LOG_ERR, (time_t)1796547907, out, sizeof(out));
    ck_assert_str_eq(out, "<187>Dec  6 09:05:07 box t1: ");
    ck_assert_uint_eq(n, strlen(out));
    s->hostname[0] = '\0';
    kp_syslog_header(s, KP_LOG_DEBUG, (time_t)1796547907, out, sizeof(out));
    ck_assert_str_eq(out, "<191>Dec  6 09:05:07 t1: ");

    /* No socket there yet: dropped and counted, at once. */
    kp_syslog_send(s, KP_LOG_ERR, "lost\n", 5);
    ck_assert_uint_eq(s->dropped, 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    strcpy(a.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    kp_syslog_send(s, KP_LOG_WARN, "hello there\n", 12);
    ssize_t got = recv(fd, out, sizeof(out) - 1, MSG_DONTWAIT);
    ck_assert_int_gt(got, 0);
    out[got] = '\0';
    ck_assert_msg(strncmp(out, "<188>", 5) == 0, "%s", out);
    ck_assert_str_eq(out + 20, " t1: hello there"); /* the newline dropped */
    /* A message longer than the bound is cut, not refused. */
    static char big[KP_SYSLOG_MSG_MAX * 2];
    memset(big, 'x', sizeof(big));
    kp_syslog_send(s, KP_LOG_WARN, big, sizeof(big));
    static char rbig[KP_SYSLOG_MSG_MAX * 2];
    ck_assert_int_eq(recv(fd, rbig, sizeof(rbig), MSG_DONTWAIT), KP_SYSLOG_MSG_MAX);
    close(fd);
    unlink(path);
    rmdir(dir);
    conf_fixture_free(f);
}
END_TEST

Suite *kp_test_syslog_suite(void)
{
    Suite *s = suite_create("syslog");
    TCase *tc = tcase_create("syslog");

    tcase_add_test(tc, syslog_defaults_and_params);
    tcase_add_loop_test(tc, syslog_errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, syslog_header_and_send);
    suite_add_tcase(s, tc);
    return s;
}
