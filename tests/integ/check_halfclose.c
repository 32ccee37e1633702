/* A client that sends its last request and then shuts down its writing side
 * (issue 14): it gets its response, and the server closes the connection at
 * once instead of keeping it in CLOSE-WAIT until keepalive_timeout. On epoll
 * the end of stream often arrives with the request itself and raises no
 * readiness of its own, so this runs on every backend. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "proc.h"

#define HALF_CONNS 300
/* Far below the test's keepalive_timeout (60 s): only a server that noticed
 * the end of stream closes within it. */
#define HALF_BOUND_MS 10000

static const char REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* The worker's descriptors once it serves: one request answered (its loop,
 * ring and helpers made), then the count unchanged for 200 ms (the closed
 * connection gone). A count taken while the worker was still starting was
 * one short on io_uring. */
static int settled_fds(int port, pid_t worker)
{
    struct kp_h_resp r;
    int n = -1, last;

    ck_assert_int_eq(
        kp_h_request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r), 0);
    kp_h_resp_free(&r);
    for (int i = 0; i < 100; i++) {
        last = n;
        kp_h_sleep_ms(200);
        n = kp_h_count_fds(worker);
        if (n == last)
            break;
    }
    return n;
}

START_TEST(halfclose_after_keepalive_request)
{
    struct kp_h_server s;
    pid_t worker;
    static int fds[HALF_CONNS];

    kp_p_start(&s, "worker_processes 1;\n", "",
               "access_log off;\n"
               "keepalive_timeout 60s;\n"
               "server {\n"
               "    listen 127.0.0.1:@PORT@ backlog=1024;\n"
               "    location / { return 200 \"ok\\n\"; }\n"
               "}\n");
    ck_assert(kp_p_wait_children(s.pid, 1, 5000));
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    int before = settled_fds(s.port, worker);

    for (int i = 0; i < HALF_CONNS; i++) {
        fds[i] = kp_h_connect(s.port);
        ck_assert_msg(fds[i] >= 0, "connection %d failed", i);
    }
    /* The end of stream right behind the request, so that it often arrives
     * before the server reads the request. */
    for (int i = 0; i < HALF_CONNS; i++) {
        kp_h_send_str(fds[i], REQ);
        ck_assert_int_eq(shutdown(fds[i], SHUT_WR), 0);
    }
    long deadline = kp_load_now_ms() + HALF_BOUND_MS;
    int open = 0;
    for (int i = 0; i < HALF_CONNS; i++) {
        struct kp_h_resp r;
        ck_assert_msg(kp_h_recv(fds[i], &r, false) == 0, "no response on connection %d", i);
        ck_assert_int_eq(r.status, 200);
        /* A keep-alive response: the close below is the server noticing the
         * client's end of stream, not a Connection: close. */
        ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
        kp_h_resp_free(&r);
        long left = deadline - kp_load_now_ms();
        open += !kp_h_closed(fds[i], left > 0 ? (int)left : 0);
    }
    ck_assert_msg(open == 0, "%d of %d half-closed connections still open after %d ms [%s]", open,
                  HALF_CONNS, HALF_BOUND_MS, kp_h_events());
    /* Closed for good, not only shut down for writing: the worker holds no
     * descriptor for them any more. */
    ck_assert_msg(kp_h_wait_fds(worker, before, HALF_BOUND_MS),
                  "worker still holds %d descriptors (%d before)", kp_h_count_fds(worker), before);
    for (int i = 0; i < HALF_CONNS; i++)
        close(fds[i]);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_halfclose_suite(void)
{
    Suite *s = suite_create("halfclose");
    TCase *tc = tcase_create("halfclose");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, halfclose_after_keepalive_request);
    suite_add_tcase(s, tc);
    return s;
}
