/* The HTTP/1.1 connection lifecycle against the real binary: persistence
 * (HTTP/1.1 and 1.0, Connection: close both ways, keepalive_requests,
 * keepalive_timeout), pipelining (several requests in one send, and one byte
 * at a time), HEAD, the Server and Date fields, server_tokens, a worker that
 * keeps serving after bad requests, graceful quit with idle connections, and
 * descriptors that do not leak. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

#define MAIN "master_process off;"

static const char *CONF = "access_log off;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    root html;\n"
                          "    location /ka2/ { keepalive_requests 2; }\n"
                          "    location /noka/ { keepalive_timeout 0; }\n"
                          "    location /quiet/ { server_tokens off; }\n"
                          "}\n";

static void start(struct kp_h_server *s, const char *conf)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/a.txt", "AAAA\n");
    kp_h_write(s, "html/b.txt", "BB\n");
    kp_h_write(s, "html/c.txt", "C\n");
    kp_h_write(s, "html/ka2/x.txt", "ka2\n");
    kp_h_write(s, "html/noka/x.txt", "noka\n");
    kp_h_write(s, "html/quiet/x.txt", "quiet\n");
    kp_h_config(s, MAIN, conf);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

static int conn(const struct kp_h_server *s)
{
    int fd = kp_h_connect(s->port);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Send raw on fd and read one response that must arrive. */
static void exchange(int fd, const char *raw, struct kp_h_resp *r)
{
    kp_h_send_str(fd, raw);
    ck_assert_msg(kp_h_recv(fd, r, strncmp(raw, "HEAD ", 5) == 0) == 0, "no response to %s", raw);
}

static void expect_header(const struct kp_h_resp *r, const char *name, const char *want)
{
    const char *v = kp_h_header(r, name);

    if (want == NULL) {
        ck_assert_msg(v == NULL, "unexpected %s: %s", name, v ? v : "");
        return;
    }
    ck_assert_msg(v != NULL, "no %s field in\n%s", name, r->head);
    ck_assert_str_eq(v, want);
}

START_TEST(keepalive_http11_default)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    int fd = conn(&s);
    for (int i = 0; i < 3; i++) {
        exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "AAAA\n");
        expect_header(&r, "Connection", "keep-alive"); /* said, as by nginx */
        kp_h_resp_free(&r);
    }
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(http10_closes_unless_keepalive)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    int fd = conn(&s);
    exchange(fd, "GET /a.txt HTTP/1.0\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "AAAA\n");
    expect_header(&r, "Connection", "close");
    ck_assert(kp_h_closed(fd, 3000));
    kp_h_resp_free(&r);
    close(fd);

    fd = conn(&s);
    for (int i = 0; i < 2; i++) {
        exchange(fd, "GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "BB\n");
        expect_header(&r, "Connection", "keep-alive");
        kp_h_resp_free(&r);
    }
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(connection_close_both_ways)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    /* The client asks. */
    int fd = conn(&s);
    exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    expect_header(&r, "Connection", "close");
    ck_assert(kp_h_closed(fd, 3000));
    kp_h_resp_free(&r);
    close(fd);
    /* The server decides: keepalive_timeout 0 disables keep-alive. */
    fd = conn(&s);
    exchange(fd, "GET /noka/x.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "noka\n");
    expect_header(&r, "Connection", "close");
    ck_assert(kp_h_closed(fd, 3000));
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(keepalive_requests_limit)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    int fd = conn(&s);
    exchange(fd, "GET /ka2/x.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    expect_header(&r, "Connection", "keep-alive");
    kp_h_resp_free(&r);
    /* The last allowed request says so. */
    exchange(fd, "GET /ka2/x.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    expect_header(&r, "Connection", "close");
    ck_assert(kp_h_closed(fd, 3000));
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(keepalive_timeout_closes_idle)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, "access_log off; keepalive_timeout 1s;\n"
              "server { listen 127.0.0.1:@PORT@; root html; }\n");
    int fd = conn(&s);
    exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(kp_h_closed(fd, 5000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(waited > 0.5, "closed after %.2f s, before the keep-alive timeout", waited);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

static const char PIPELINE[] = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                               "HEAD /c.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /c.txt HTTP/1.1\r\nHost: x\r\n\r\n";

/* Read the five answers to PIPELINE, in order. */
static void read_pipeline(int fd)
{
    struct kp_h_resp r;

    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "AAAA\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_str_eq(r.body, "BB\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    ck_assert_int_eq(r.status, 200);
    expect_header(&r, "Content-Length", "2");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "C\n");
    kp_h_resp_free(&r);
}

START_TEST(pipelining_one_send)
{
    struct kp_h_server s;

    start(&s, CONF);
    int fd = conn(&s);
    kp_h_send_str(fd, PIPELINE);
    read_pipeline(fd);
    /* The connection is still in sync. */
    struct kp_h_resp r;
    exchange(fd, "GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_str_eq(r.body, "BB\n");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(pipelining_byte_at_a_time)
{
    struct kp_h_server s;
    int one = 1;

    start(&s, CONF);
    int fd = conn(&s);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; i < sizeof(PIPELINE) - 1; i++) {
        kp_h_send(fd, PIPELINE + i, 1);
        if (i % 7 == 0)
            usleep(500);
    }
    read_pipeline(fd);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* Many pipelined requests: more than one read buffer's worth. */
START_TEST(pipelining_many)
{
    struct kp_h_server s;
    char req[64 * 40];
    size_t n = 0;

    start(&s, CONF);
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "GET /%c.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                              "abc"[i % 3]);
    static const char *bodies[] = {"AAAA\n", "BB\n", "C\n"};
    int fd = conn(&s);
    kp_h_send(fd, req, n);
    for (int i = 0; i < 40; i++) {
        struct kp_h_resp r;
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, bodies[i % 3]);
        kp_h_resp_free(&r);
    }
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(head_has_get_headers_no_body)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    int fd = conn(&s);
    exchange(fd, "HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    expect_header(&r, "Content-Length", "5");
    ck_assert_ptr_nonnull(kp_h_header(&r, "Last-Modified"));
    /* No body bytes in between: the next response starts right away. */
    exchange(fd, "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(kp_h_header(&r, "Content-Length"));
    exchange(fd, "GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "BB\n");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(server_and_date_fields)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    int fd = conn(&s);
    exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    expect_header(&r, "Server", "kelpie/" KP_VERSION);
    const char *date = kp_h_header(&r, "Date");
    ck_assert_ptr_nonnull(date);
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    ck_assert_uint_eq(strlen(date), 29);
    ck_assert(strcmp(date + 25, " GMT") == 0 && date[3] == ',');
    kp_h_resp_free(&r);
    exchange(fd, "GET /quiet/x.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    expect_header(&r, "Server", "kelpie");
    kp_h_resp_free(&r);
    /* Error pages too. */
    exchange(fd, "GET /quiet/none HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 404);
    expect_header(&r, "Server", "kelpie");
    expect_header(&r, "Content-Type", "text/html");
    /* Laid out as nginx's, the server named as in the Server field. */
    ck_assert_str_eq(r.body, "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
                             "<center><h1>404 Not Found</h1></center>\r\n<hr><center>kelpie"
                             "</center>\r\n</body>\r\n</html>\r\n");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(serves_after_bad_requests)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    static const char *bad[] = {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
                                "GET / HTTP/9.9\r\nHost: x\r\n\r\n", "\x01\x02\x03\r\n\r\n",
                                "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"};

    start(&s, CONF);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(kp_h_request(s.port, bad[i % 5], &r), 0);
        ck_assert_int_ge(r.status, 400);
        kp_h_resp_free(&r);
    }
    /* Connections that go away mid-request. */
    for (int i = 0; i < 10; i++) {
        int fd = conn(&s);
        kp_h_send_str(fd, "GET /a.txt HTTP/1.1\r\nHo");
        close(fd);
    }
    ck_assert_int_eq(kp_h_request(s.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "AAAA\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kill(s.pid, 0), 0);
    kp_h_stop(&s);
}
END_TEST

START_TEST(no_descriptor_leak)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    /* Both files first: the open-file cache keeps them (and the root)
     * open, which is not a leak. On several connections at once, several
     * times: under model sim_proactor each handler thread has a cache of
     * its own, and requests that arrive together keep them all busy. */
    for (int round = 0; round < 8; round++) {
        int fds[4];
        for (int i = 0; i < 4; i++) {
            fds[i] = conn(&s);
            kp_h_send_str(fds[i], "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        for (int i = 0; i < 4; i++) {
            for (int k = 0; k < 2; k++) {
                ck_assert_int_eq(kp_h_recv(fds[i], &r, false), 0);
                kp_h_resp_free(&r);
            }
            close(fds[i]);
        }
    }
    int before = kp_h_count_fds(s.pid);
    ck_assert_int_gt(before, 0);
    for (int i = 0; i < 150; i++) {
        int fd = conn(&s);
        switch (i % 5) {
        case 0: /* keep-alive, closed by the client */
            exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
            break;
        case 1: /* closed by the server */
            exchange(fd, "GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
            break;
        case 2: /* an error, lingering close */
            exchange(fd, "BAD\r\n\r\n", &r);
            break;
        case 3: /* a file that is not there */
            exchange(fd, "GET /none HTTP/1.0\r\n\r\n", &r);
            break;
        default: /* gone mid-request */
            kp_h_send_str(fd, "GET /a.txt HTTP/1.1\r\n");
            memset(&r, 0, sizeof(r));
            break;
        }
        kp_h_resp_free(&r);
        close(fd);
    }
    ck_assert_msg(kp_h_wait_fds(s.pid, before, 5000), "descriptors: %d, before: %d",
                  kp_h_count_fds(s.pid), before);
    kp_h_stop(&s);
}
END_TEST

#define BIG_SIZE  (2 * 1024 * 1024)
#define HUGE_SIZE (24 * 1024 * 1024)

static void write_big(const struct kp_h_server *s, const char *path, size_t size)
{
    char *big = malloc(size + 1);

    for (size_t i = 0; i < size; i++)
        big[i] = (char)('a' + i % 26);
    big[size] = '\0';
    kp_h_write(s, path, big);
    free(big);
}

/* sendfile with TCP_CORK around each response: every byte arrives, and the
 * small response after it is not held back. */
START_TEST(sendfile_nopush_keepalive)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    kp_h_prepare(&s);
    write_big(&s, "html/big.bin", BIG_SIZE);
    kp_h_write(&s, "html/a.txt", "AAAA\n");
    kp_h_config(&s, MAIN,
                "access_log off; sendfile on; tcp_nopush on;\n"
                "server { listen 127.0.0.1:@PORT@; root html; }\n");
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    int fd = conn(&s);
    for (int i = 0; i < 2; i++) {
        exchange(fd, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(r.body_len, BIG_SIZE);
        ck_assert_int_eq(r.body[BIG_SIZE - 1], 'a' + (BIG_SIZE - 1) % 26);
        kp_h_resp_free(&r);
        exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        ck_assert_str_eq(r.body, "AAAA\n");
        kp_h_resp_free(&r);
    }
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* A client that stops reading is dropped after send_timeout: the file is
 * larger than what the socket buffers can hold. */
START_TEST(send_timeout_drops_stalled_reader)
{
    struct kp_h_server s;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    int small = 4096;
    char buf[65536];
    size_t got = 0;
    ssize_t n;

    kp_h_prepare(&s);
    write_big(&s, "html/big.bin", HUGE_SIZE);
    kp_h_config(&s, MAIN,
                "access_log off; send_timeout 1s;\n"
                "server { listen 127.0.0.1:@PORT@; root html; }\n");
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    /* A small receive window, set before connecting so that it holds. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    a.sin_port = htons((uint16_t)s.port);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    kp_h_send_str(fd, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep(3);
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        got += (size_t)n;
    ck_assert_msg(n == 0 || errno == ECONNRESET, "the connection was not closed (%zd)", n);
    ck_assert_msg(got < HUGE_SIZE, "received all %zu bytes of a stalled response", got);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* SIGQUIT: idle keep-alive connections are closed at once, the process
 * exits cleanly. */
START_TEST(graceful_quit_closes_idle)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, CONF);
    int fd = conn(&s);
    exchange(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    kp_h_resp_free(&r);
    int status = kp_h_signal_wait(&s, SIGQUIT, 5000);
    ck_assert_msg(status >= 0, "no exit after SIGQUIT");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert(kp_h_closed(fd, 1000));
    close(fd);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("lifecycle");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, keepalive_http11_default);
    tcase_add_test(tc, http10_closes_unless_keepalive);
    tcase_add_test(tc, connection_close_both_ways);
    tcase_add_test(tc, keepalive_requests_limit);
    tcase_add_test(tc, keepalive_timeout_closes_idle);
    tcase_add_test(tc, pipelining_one_send);
    tcase_add_test(tc, pipelining_byte_at_a_time);
    tcase_add_test(tc, pipelining_many);
    tcase_add_test(tc, head_has_get_headers_no_body);
    tcase_add_test(tc, server_and_date_fields);
    tcase_add_test(tc, serves_after_bad_requests);
    tcase_add_test(tc, no_descriptor_leak);
    tcase_add_test(tc, sendfile_nopush_keepalive);
    tcase_add_test(tc, send_timeout_drops_stalled_reader);
    tcase_add_test(tc, graceful_quit_closes_idle);
    suite_add_tcase(s, tc);
    return s;
}
