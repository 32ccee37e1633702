/* Idle keep-alive connections are cheap (issue 3): a worker holding 5,000 of
 * them, each of which made one request and then went quiet, grows by less
 * than 2 KiB per connection, and keeps serving another client meanwhile. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define IDLE_CONNS 5000
#define BATCH      250

static const char REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* Raise our descriptor limit for the client ends. */
static bool enough_fds(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur < IDLE_CONNS + 256) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 16384 ? 16384 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur >= IDLE_CONNS + 256;
}

static void one_request(int fd)
{
    struct kp_h_resp r;

    kp_h_send_str(fd, REQ);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
    kp_h_resp_free(&r);
}

/* Still open: nothing to read and no hang-up. */
static bool quiet(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 0;
}

START_TEST(idle_keepalive_memory)
{
    struct kp_h_server s;
    pid_t worker;
    static int fds[IDLE_CONNS];

    if (strcmp(kp_h_events(), "select") == 0) {
        fprintf(stderr, "idle_keepalive_memory: skipped with select (descriptors above "
                        "FD_SETSIZE are refused)\n");
        return;
    }
    if (!enough_fds()) {
        fprintf(stderr, "idle_keepalive_memory: skipped (the open file limit is below %d)\n",
                IDLE_CONNS + 256);
        return;
    }
    kp_p_start(&s, "worker_processes 1;\nworker_rlimit_nofile 12000;\n",
               "worker_connections 6000;\n",
               "access_log off;\n"
               "keepalive_timeout 300s;\n"
               "server {\n"
               "    listen 127.0.0.1:@PORT@ backlog=1024;\n"
               "    location / { return 200 \"ok\\n\"; }\n"
               "}\n");
    /* The port answers as soon as the master listens, maybe before it forks. */
    ck_assert(kp_p_wait_children(s.pid, 1, 5000));
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    /* Warm up: every cache the worker fills on its first requests. */
    for (int i = 0; i < 20; i++) {
        int fd = kp_h_connect(s.port);
        ck_assert_int_ge(fd, 0);
        for (int j = 0; j < 10; j++)
            one_request(fd);
        close(fd);
    }
    kp_h_sleep_ms(200);
    long before = kp_p_rss(worker);

    for (int i = 0; i < IDLE_CONNS; i += BATCH) {
        for (int j = i; j < i + BATCH; j++) {
            fds[j] = kp_h_connect(s.port);
            ck_assert_msg(fds[j] >= 0, "connection %d failed", j);
            kp_h_send_str(fds[j], REQ);
        }
        for (int j = i; j < i + BATCH; j++) {
            struct kp_h_resp r;
            ck_assert_int_eq(kp_h_recv(fds[j], &r, false), 0);
            ck_assert_int_eq(r.status, 200);
            kp_h_resp_free(&r);
        }
    }
    /* Another client is served normally meanwhile. */
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    for (int j = 0; j < 20; j++)
        one_request(fd);
    close(fd);
    kp_h_sleep_ms(200);
    long after = kp_p_rss(worker);
    double per = (double)(after - before) / IDLE_CONNS;

    fprintf(stderr,
            "idle [%s]: worker RSS %ld KiB before, %ld KiB with %d idle keep-alive "
            "connections: %.0f bytes per connection\n",
            kp_h_events(), before / 1024, after / 1024, IDLE_CONNS, per);
    for (int j = 0; j < IDLE_CONNS; j += 97)
        ck_assert_msg(quiet(fds[j]), "idle connection %d was closed", j);
    ck_assert_msg(per < 2048, "%.0f bytes per idle connection", per);
    for (int j = 0; j < IDLE_CONNS; j++)
        close(fds[j]);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_idle_suite(void)
{
    Suite *s = suite_create("idle");
    TCase *tc = tcase_create("idle");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, idle_keepalive_memory);
    suite_add_tcase(s, tc);
    return s;
}
