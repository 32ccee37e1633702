/* Bad and awkward requests against the real binary: every parser error
 * status (400, 414, 501, 505; 400 "Request Header Or Cookie Too Large" for a head too large), 408
 * on a slow head, 413, request bodies that are read and dropped so the next pipelined request is
 * answered, Expect: 100-continue (interim 100 Continue as from nginx), Transfer-Encoding with
 * Content-Length, and the lingering close that lets a client read an error response although it
 * keeps sending. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MAIN "master_process off;"

static const char *CONF = "access_log off;\n"
                          "client_header_timeout 1s;\n"
                          "large_client_header_buffers 2 1k;\n"
                          "client_max_body_size 100;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    root html;\n"
                          "    location /big/ { client_max_body_size 0; }\n"
                          "}\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/a.txt", "AAAA\n");
    kp_h_write(s, "html/big/b.txt", "BIG\n");
    kp_h_config(s, MAIN, CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

static int conn(const struct kp_h_server *s)
{
    int fd = kp_h_connect(s->port);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Send raw on a new connection; the answer must be status with
 * "Connection: close" and a built-in page, then the server closes. */
static void expect_error(const struct kp_h_server *s, const char *raw, size_t len, int status)
{
    struct kp_h_resp r;
    char title[64];
    int fd = conn(s);

    kp_h_send(fd, raw, len);
    ck_assert_msg(kp_h_recv(fd, &r, false) == 0, "no response to %.40s", raw);
    ck_assert_msg(r.status == status, "%d instead of %d for %.60s", r.status, status, raw);
    const char *c = kp_h_header(&r, "Connection");
    ck_assert_msg(c != NULL && strcmp(c, "close") == 0, "no Connection: close for %d", status);
    snprintf(title, sizeof(title), "<title>%d ", status);
    ck_assert_ptr_nonnull(strstr(r.body, title));
    ck_assert(kp_h_closed(fd, 3000));
    kp_h_resp_free(&r);
    close(fd);
}

#define EXPECT_ERROR(s, lit, status) expect_error((s), (lit), sizeof(lit) - 1, (status))

START_TEST(bad_requests_400)
{
    struct kp_h_server s;

    start(&s);
    EXPECT_ERROR(&s, "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.1\r\nNoHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.0\r\nHost: \r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET /a/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    kp_h_stop(&s);
}
END_TEST

START_TEST(unknown_method_501_and_version_505)
{
    struct kp_h_server s;

    start(&s);
    EXPECT_ERROR(&s, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501);
    EXPECT_ERROR(&s, "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    kp_h_stop(&s);
}
END_TEST

/* The version token is "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3):
 * longer numbers, leading zeros and digits beyond any integer are 400 and
 * leave the server answering; a later 1.x is served as HTTP/1.1. */
START_TEST(version_token_is_one_digit_each)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    /* a major version above 1, however long, is 505 (as from nginx) */
    EXPECT_ERROR(&s, "GET / HTTP/99999999999.1\r\nHost: x\r\n\r\n", 505);
    EXPECT_ERROR(&s, "GET / HTTP/3\r\nHost: x\r\n\r\n", 505);
    EXPECT_ERROR(&s, "GET / HTTP/1.99999999999999999999\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/01.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/001.001\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400);
    EXPECT_ERROR(&s, "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505);
    ck_assert_int_eq(kp_h_request(s.port, "GET /a.txt HTTP/1.2\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(strncmp(r.head, "HTTP/1.1 200 ", 13), 0);
    ck_assert_str_eq(r.body, "AAAA\n");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* nginx's 494: a 400 whose page says why. */
static void expect_too_large(const struct kp_h_server *s, const char *raw)
{
    struct kp_h_resp r;
    int fd = conn(s);

    kp_h_send(fd, raw, strlen(raw));
    ck_assert_msg(kp_h_recv(fd, &r, false) == 0, "no response to %.40s", raw);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    ck_assert_ptr_nonnull(strstr(r.body, "<title>400 Request Header Or Cookie Too Large</title>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<center>Request Header Or Cookie Too Large</center>"));
    kp_h_resp_free(&r);
    close(fd);
}

START_TEST(too_long_414_and_494)
{
    struct kp_h_server s;
    char req[4096];

    start(&s);
    /* A request line longer than one large buffer (1k). */
    memset(req, 0, sizeof(req));
    strcpy(req, "GET /");
    memset(req + 5, 'u', 1500);
    strcat(req, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(&s, req, strlen(req), 414);
    /* A field section larger than all of them (2 x 1k). */
    strcpy(req, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(req);
        snprintf(req + n, sizeof(req) - n, "X-Pad-%d: ", i);
        n = strlen(req);
        memset(req + n, 'p', 800);
        strcpy(req + n + 800, "\r\n");
    }
    strcat(req, "\r\n");
    expect_too_large(&s, req);
    /* More fields than kelpie keeps. */
    strcpy(req, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 150; i++)
        strcat(req, "A: b\r\n");
    strcat(req, "\r\n");
    expect_too_large(&s, req);
    kp_h_stop(&s);
}
END_TEST

/* A line and its CRLF must fit in one large buffer (1k here), as in nginx:
 * a request line of 1022 bytes is served, one of 1023 is 414; a field line
 * of 1023 bytes is 400 (nginx's documented answer) although the whole
 * section would fit in the two buffers. */
START_TEST(line_fits_one_large_buffer)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char req[4096];
    const char *version = " HTTP/1.1";

    start(&s);
    strcpy(req, "GET /a.txt?");
    size_t n = strlen(req);
    memset(req + n, 'q', 1022 - n - strlen(version));
    strcpy(req + 1022 - strlen(version), version);
    strcat(req, "\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_request(s.port, req, &r), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    memmove(req + 12, req + 11, strlen(req + 11) + 1);
    expect_error(&s, req, strlen(req), 414);

    strcpy(req, "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Long: ");
    n = strlen(req);
    size_t line = n - strlen("GET /a.txt HTTP/1.1\r\nHost: x\r\n");
    memset(req + n, 'v', 1022 - line);
    strcpy(req + n + 1022 - line, "\r\n\r\n");
    ck_assert_int_eq(kp_h_request(s.port, req, &r), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    memmove(req + n + 1, req + n, strlen(req + n) + 1);
    expect_error(&s, req, strlen(req), 400);
    kp_h_stop(&s);
}
END_TEST

/* client_header_timeout with part of a head: 408 and close. A connection
 * that never sent anything is closed without a response. */
START_TEST(header_timeout_408)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char c;

    start(&s);
    int fd = conn(&s);
    kp_h_send_str(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 408);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    ck_assert(kp_h_closed(fd, 3000));
    kp_h_resp_free(&r);
    close(fd);

    fd = conn(&s);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 4000), 1);
    ck_assert_int_eq(recv(fd, &c, 1, 0), 0); /* EOF, not a response */
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(body_too_large_413)
{
    struct kp_h_server s;

    start(&s);
    EXPECT_ERROR(&s, "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", 413);
    /* Chunked: found out while reading. */
    char req[512];
    snprintf(req, sizeof(req),
             "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "40\r\n%064d\r\n40\r\n%064d\r\n0\r\n\r\n",
             0, 0);
    expect_error(&s, req, strlen(req), 413);
    kp_h_stop(&s);
}
END_TEST

/* A body nobody uses is read and dropped; the request after it is
 * answered from the same bytes. */
START_TEST(bodies_dropped_then_pipelined)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    static const char req[] =
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
        "0123456789"
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: t\r\n\r\n"
        "GET /big/b.txt HTTP/1.1\r\nHost: x\r\n\r\n";

    start(&s);
    int fd = conn(&s);
    kp_h_send(fd, req, sizeof(req) - 1);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "AAAA\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 405); /* the static handler answers POST with 405 */
    ck_assert_str_eq(kp_h_header(&r, "Allow"), "GET, HEAD");
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "BIG\n");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* A body larger than the read buffer, arriving in pieces. */
START_TEST(large_body_dropped)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char *body = malloc(200000);

    start(&s);
    memset(body, 'b', 200000);
    int fd = conn(&s);
    kp_h_send_str(fd, "PUT /big/b.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n");
    for (int i = 0; i < 4; i++) {
        kp_h_send(fd, body + i * 50000, 50000);
        usleep(10000);
    }
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 405);
    kp_h_resp_free(&r);
    kp_h_send_str(fd, "GET /big/b.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_str_eq(r.body, "BIG\n");
    kp_h_resp_free(&r);
    free(body);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Read exactly the interim response, no byte more (the final one must not
 * have come yet when the body is still missing). */
static void expect_continue(int fd)
{
    char got[sizeof(CONTINUE)] = "";
    size_t have = 0;

    while (have < sizeof(CONTINUE) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        ssize_t n = read(fd, got + have, sizeof(CONTINUE) - 1 - have);
        ck_assert_int_gt(n, 0);
        have += (size_t)n;
    }
    ck_assert_str_eq(got, CONTINUE);
}

/* The final response, on a connection that stays open: a second request
 * on it is answered too. */
static void expect_final_then_next(int fd, int status)
{
    struct kp_h_resp r;

    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, status);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
    kp_h_resp_free(&r);
    kp_h_send_str(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "AAAA\n");
    kp_h_resp_free(&r);
}

/* As nginx: an HTTP/1.1 request whose body is about to be read gets
 * "100 Continue" once, then its body is read and the final response sent
 * on a connection kept open. */
START_TEST(expect_100_continue)
{
    struct kp_h_server s;

    start(&s);
    int fd = conn(&s);
    kp_h_send_str(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Expect: 100-continue\r\n\r\n");
    expect_continue(fd);
    kp_h_send_str(fd, "hello");
    expect_final_then_next(fd, 200);
    /* The same connection again, chunked, the token in another case. */
    kp_h_send_str(fd, "PUT /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      "Expect: 100-Continue\r\n\r\n");
    expect_continue(fd);
    kp_h_send_str(fd, "5\r\nhello\r\n0\r\n\r\n");
    expect_final_then_next(fd, 405);
    close(fd);
    /* The body already came with the head: nginx sends 100 all the same. */
    fd = conn(&s);
    kp_h_send_str(fd, "PUT /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Expect: 100-continue\r\n\r\nhello");
    expect_continue(fd);
    expect_final_then_next(fd, 405);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* No 100 Continue for HTTP/1.0, for an expectation other than
 * 100-continue (ignored, as by nginx), nor before a 413. */
START_TEST(expect_no_continue)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    int fd = conn(&s);
    kp_h_send_str(fd, "PUT /a.txt HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Expect: 100-continue\r\n\r\n");
    kp_h_sleep_ms(200);
    kp_h_send_str(fd, "hello");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 405);
    kp_h_resp_free(&r);
    close(fd);
    fd = conn(&s);
    kp_h_send_str(fd, "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Expect: foo\r\n\r\n");
    kp_h_sleep_ms(200);
    kp_h_send_str(fd, "hello");
    expect_final_then_next(fd, 200);
    kp_h_send_str(fd, "PUT /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                      "Expect: 100-continue\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* The interim response's 25 bytes count in $bytes_sent, not in
 * $body_bytes_sent. */
START_TEST(expect_continue_bytes)
{
    struct kp_h_server s;
    char *log = NULL;

    kp_h_prepare(&s);
    kp_h_write(&s, "html/a.txt", "AAAA\n");
    kp_h_start_with(&s, MAIN,
                    "log_format b '$status $bytes_sent $body_bytes_sent';\n"
                    "server {\n"
                    "    listen 127.0.0.1:@PORT@;\n"
                    "    root html;\n"
                    "    access_log logs/b.log b;\n"
                    "    location /r { return 200 \"ret\\n\"; }\n"
                    "}\n");
    int fd = conn(&s);
    kp_h_send_str(fd, "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Expect: 100-continue\r\n\r\n");
    expect_continue(fd);
    kp_h_send_str(fd, "hello");
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    size_t head = r.head_len;
    kp_h_resp_free(&r);
    close(fd);
    for (int i = 0; i < 500 && (log == NULL || strchr(log, '\n') == NULL); i++) {
        free(log);
        kp_h_sleep_ms(20);
        log = kp_h_read(&s, "logs/b.log");
    }
    char want[64];
    snprintf(want, sizeof(want), "200 %zu 4\n", head + 4 + 25);
    ck_assert_str_eq(log, want);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* RFC 9112 section 6.1: both framings is a smuggling attempt. */
START_TEST(te_and_cl_rejected)
{
    struct kp_h_server s;

    start(&s);
    EXPECT_ERROR(
        &s,
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        400);
    EXPECT_ERROR(&s,
                 "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
                 "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                 501);
    kp_h_stop(&s);
}
END_TEST

/* The client keeps sending after a request the server rejects. A plain
 * close() with unread input would answer with a reset (RFC 9112 section
 * 9.6), which can destroy the response in flight; lingering drains the
 * input instead, so the client reads the whole response and then a clean
 * end of stream. */
START_TEST(lingering_close)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    size_t junk_len = 256 * 1024;
    char *junk = malloc(junk_len);
    static const char bad[] = "GET / HTTP/1.1\r\nHost: x\r\nBad Field\r\n\r\n";
    char c;

    start(&s);
    memset(junk, 'j', junk_len);
    memcpy(junk, bad, sizeof(bad) - 1);
    int fd = conn(&s);
    kp_h_send(fd, junk, 64 * 1024); /* the bad head, and more input behind it */
    usleep(100000);                 /* the server has answered meanwhile */
    /* Still accepted: the server reads on rather than resetting. */
    for (size_t off = 64 * 1024; off < junk_len;) {
        ssize_t w = send(fd, junk + off, junk_len - off, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send after the error failed: %s", strerror(errno));
        off += (size_t)w;
    }
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "</html>"));
    ssize_t n = recv(fd, &c, 1, 0);
    ck_assert_msg(n == 0, "no clean end of stream after the response (%zd, %s)", n,
                  n < 0 ? strerror(errno) : "data");
    kp_h_resp_free(&r);
    close(fd);
    free(junk);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_http_errors_suite(void)
{
    Suite *s = suite_create("http_errors");
    TCase *tc = tcase_create("errors");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bad_requests_400);
    tcase_add_test(tc, unknown_method_501_and_version_505);
    tcase_add_test(tc, version_token_is_one_digit_each);
    tcase_add_test(tc, too_long_414_and_494);
    tcase_add_test(tc, line_fits_one_large_buffer);
    tcase_add_test(tc, header_timeout_408);
    tcase_add_test(tc, body_too_large_413);
    tcase_add_test(tc, bodies_dropped_then_pipelined);
    tcase_add_test(tc, large_body_dropped);
    tcase_add_test(tc, expect_100_continue);
    tcase_add_test(tc, expect_no_continue);
    tcase_add_test(tc, expect_continue_bytes);
    tcase_add_test(tc, te_and_cl_rejected);
    tcase_add_test(tc, lingering_close);
    suite_add_tcase(s, tc);
    return s;
}
