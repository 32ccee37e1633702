/* nginx's request-side directives against the real binary: merge_slashes
 * (and that nothing outside the root is reachable either way),
 * underscores_in_headers and ignore_invalid_headers (from the address's
 * default server, with nginx's info line for a dropped field),
 * lingering_close / lingering_time / lingering_timeout, stub_status, and
 * TRACE on a `return` location. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "stub.h"

/* @PORT@: nginx's defaults. @PORT2@: merge_slashes off, underscores
 * allowed, and a second (not default) server with the opposite settings,
 * which must not apply: they are read before the Host is known. */
static const char *CONF =
    "access_log off;\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    location /echo { return 200 \"uri=$uri xyz=$http_x_y_z ab=$http_a_b\\n\"; }\n"
    "    location ~ ^/a// { return 200 \"double $uri\\n\"; }\n"
    "}\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT2@;\n"
    "    merge_slashes off;\n"
    "    absolute_redirect off;\n"
    "    underscores_in_headers on;\n"
    "    location /echo { return 200 \"uri=$uri xyz=$http_x_y_z ab=$http_a_b\\n\"; }\n"
    "    location ~ ^/a// { return 200 \"double $uri\\n\"; }\n"
    "}\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT2@;\n"
    "    server_name other;\n"
    "    merge_slashes on;\n"
    "    ignore_invalid_headers off;\n"
    "    location /echo { return 200 \"other uri=$uri xyz=$http_x_y_z\\n\"; }\n"
    "}\n";

static void start(struct kp_h_server *s, const char *conf)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/a/f", "A\n");
    kp_h_write(s, "html/b/f", "B\n");
    kp_h_write(s, "html/index.html", "I\n");
    kp_h_write(s, "secret.txt", "S\n");
    kp_h_config(s, "master_process off;", conf);
    ck_assert_int_eq(kp_h_start(s), 0);
}

/* GET target on port with the extra header lines (each ending in CRLF);
 * the status, the body in body (at most size bytes, "" if none). */
static int get(int port, const char *target, const char *host, const char *extra, char *body,
               size_t size)
{
    char raw[1024];
    struct kp_h_resp r;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", target,
             host, extra);
    ck_assert_msg(kp_h_request(port, raw, &r) == 0, "no response to %s", target);
    snprintf(body, size, "%s", r.body != NULL ? r.body : "");
    int status = r.status;
    kp_h_resp_free(&r);
    return status;
}

static void expect(int port, const char *target, int status, const char *body)
{
    char got[512];

    ck_assert_int_eq(get(port, target, "t", "", got, sizeof(got)), status);
    if (body != NULL)
        ck_assert_msg(strcmp(got, body) == 0, "%s: body '%s', want '%s'", target, got, body);
}

/* merge_slashes on (the default) and off: $uri, location matching and
 * the file served follow nginx; neither climbs out of the root. */
START_TEST(merge_slashes)
{
    struct kp_h_server s;

    start(&s, CONF);
    /* on */
    expect(s.port, "//echo", 200, "uri=/echo xyz= ab=\n");
    expect(s.port, "/echo//x", 200, "uri=/echo/x xyz= ab=\n");
    expect(s.port, "/a//f", 200, "A\n");
    expect(s.port, "/a//../b/f", 200, "B\n");
    expect(s.port, "//..", 400, NULL);
    /* off: "//" stays in $uri and in matching; ".." removes an empty segment */
    expect(s.port2, "//echo", 404, NULL);
    expect(s.port2, "/echo//x", 200, "uri=/echo//x xyz= ab=\n");
    expect(s.port2, "/echo/.//x", 200, "uri=/echo//x xyz= ab=\n");
    expect(s.port2, "/echo//../x", 200, "uri=/echo/x xyz= ab=\n");
    expect(s.port2, "/a//f", 200, "double /a//f\n");
    expect(s.port2, "/a/%2F/f", 200, "double /a///f\n");
    expect(s.port2, "//..", 200, "I\n");
    expect(s.port2, "/a//../b/f", 404, NULL);
    /* the default server's setting, whatever the Host names */
    char got[256];
    ck_assert_int_eq(get(s.port2, "/echo//x", "other", "", got, sizeof(got)), 200);
    ck_assert_str_eq(got, "other uri=/echo//x xyz=\n");
    /* never above the root, merged or not, encoded or not */
    static const char *climbs[] = {
        "/..//secret.txt",
        "//../../secret.txt",
        "/%2e%2e//%2e%2e/secret.txt",
        "/a/%2F..%2F..%2F../secret.txt",
        "/..%2F%2F..%2Fsecret.txt",
    };
    for (size_t i = 0; i < sizeof(climbs) / sizeof(climbs[0]); i++) {
        ck_assert_msg(get(s.port, climbs[i], "t", "", got, sizeof(got)) == 400, "%s", climbs[i]);
        ck_assert_msg(get(s.port2, climbs[i], "t", "", got, sizeof(got)) == 400, "%s", climbs[i]);
    }
    /* a directory's redirect never names another host ("//a/" would) */
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_request(s.port2, "GET //a HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "/a/");
    kp_h_resp_free(&r);
    /* unmerged, each ".." here takes an empty segment: it stays in /a/ */
    expect(s.port, "/a//..//..//../secret.txt", 400, NULL);
    expect(s.port2, "/a//..//..//../secret.txt", 404, NULL);
    kp_h_stop(&s);
}
END_TEST

/* Field names: '_' and other bytes outside nginx's rule make a field
 * invalid; by default it is dropped with nginx's info line, kept with
 * underscores_in_headers on (for '_') or ignore_invalid_headers off.
 * Whitespace before the colon stays a 400 whatever the settings. */
START_TEST(header_names)
{
    struct kp_h_server s;
    char got[512];

    start(&s, CONF);
    ck_assert_int_eq(get(s.port, "/echo", "t", "X-Y-Z: 1\r\nA_B: 2\r\n", got, sizeof(got)), 200);
    ck_assert_str_eq(got, "uri=/echo xyz=1 ab=\n");
    ck_assert_int_eq(get(s.port, "/echo", "t", "X_Y_Z: 3\r\nX.Q: 4\r\n", got, sizeof(got)), 200);
    ck_assert_str_eq(got, "uri=/echo xyz= ab=\n");
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(strstr(log, "[info]"));
    ck_assert_ptr_nonnull(strstr(log, "client sent invalid header line: \"X_Y_Z: 3\""));
    ck_assert_ptr_nonnull(strstr(log, "client sent invalid header line: \"X.Q: 4\""));
    ck_assert_ptr_nonnull(strstr(log, "request: \"GET /echo HTTP/1.1\""));
    free(log);
    /* underscores_in_headers on */
    ck_assert_int_eq(get(s.port2, "/echo", "t", "X_Y_Z: 5\r\nA_B: 6\r\n", got, sizeof(got)), 200);
    ck_assert_str_eq(got, "uri=/echo xyz=5 ab=6\n");
    /* the default server's rules, whatever the Host names */
    ck_assert_int_eq(get(s.port2, "/echo", "other", "X_Y_Z: 7\r\n", got, sizeof(got)), 200);
    ck_assert_str_eq(got, "other uri=/echo xyz=7\n");
    /* smuggling defences stand */
    ck_assert_int_eq(get(s.port, "/echo", "t", "X_Y : 1\r\n", got, sizeof(got)), 400);
    ck_assert_int_eq(get(s.port2, "/echo", "t", "Content-Length : 1\r\n", got, sizeof(got)), 400);
    ck_assert_int_eq(get(s.port2, "/echo", "t", "X\tY: 1\r\n", got, sizeof(got)), 400);
    ck_assert_int_eq(get(s.port2, "/echo", "t", "X_Y: a\r\n b\r\n", got, sizeof(got)), 400);
    kp_h_stop(&s);
}
END_TEST

/* ignore_invalid_headers off on the default server keeps invalid names:
 * $http_x_y_z finds X_Y_Z as nginx's does. */
START_TEST(keep_invalid_headers)
{
    static const char *conf = "access_log off;\n"
                              "server {\n"
                              "    listen 127.0.0.1:@PORT@;\n"
                              "    ignore_invalid_headers off;\n"
                              "    location /echo { return 200 \"xyz=$http_x_y_z\\n\"; }\n"
                              "}\n";
    struct kp_h_server s;
    char got[512];

    start(&s, conf);
    ck_assert_int_eq(get(s.port, "/echo", "t", "X_Y_Z: 1\r\nX@Q: 2\r\n", got, sizeof(got)), 200);
    ck_assert_str_eq(got, "xyz=1\n");
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_null(strstr(log, "invalid header line"));
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* The server's descriptors once it is quiet: the count unchanged over
 * 200 ms after the connections tried so far are gone. */
static int quiet_fds(pid_t pid)
{
    int n = -1, last;

    for (int i = 0; i < 100; i++) {
        last = n;
        kp_h_sleep_ms(200);
        n = kp_h_count_fds(pid);
        if (n == last)
            break;
    }
    return n;
}

/* Send raw on a new connection to port: a request answered status with
 * Connection: close. The connection, read up to the server's end of
 * stream. */
static int closing_request(int port, const char *raw, int status)
{
    struct kp_h_resp r;
    int fd = kp_h_connect(port);

    kp_h_send_str(fd, raw);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, status);
    ck_assert(r.closed || kp_h_closed(fd, 10000));
    kp_h_resp_free(&r);
    return fd;
}

/* A POST whose body is larger than client_max_body_size: 413 at once with
 * Connection: close, before its body came (a reason to linger with
 * lingering_close on, as the body may be on its way). */
static int unread_body(int port, const char *path)
{
    char raw[256];

    snprintf(raw, sizeof(raw), "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n", path);
    return closing_request(port, raw, 413);
}

/* A GET with Connection: close and nothing after it. */
static int plain_close(int port, const char *path)
{
    char raw[256];

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    return closing_request(port, raw, 200);
}

/* The server lets go of fd by itself (within a bound far below the 60 s
 * of lingering the test's configuration would otherwise allow). */
static void closed_at_once(pid_t pid, int before, int fd)
{
    ck_assert_msg(kp_h_wait_fds(pid, before, 20000), "still %d descriptors, %d before",
                  kp_h_count_fds(pid), before);
    close(fd);
}

/* lingering_close on (the default) lingers only when the client may still
 * be sending; always lingers after every closing response; off closes at
 * once. A lingering connection holds its descriptor after the server's end
 * of stream until the client closes, lingering_timeout passes with nothing
 * read, or lingering_time is up. */
START_TEST(lingering)
{
    static const char *conf =
        "access_log off;\n"
        "lingering_time 60s;\n"
        "lingering_timeout 60s;\n"
        "client_max_body_size 5;\n"
        "server {\n"
        "    listen 127.0.0.1:@PORT@;\n"
        "    location /on { return 200 \"on\\n\"; }\n"
        "    location /off { lingering_close off; return 200 \"off\\n\"; }\n"
        "    location /always { lingering_close always; return 200 \"always\\n\"; }\n"
        "    location /time { lingering_close always; lingering_time 1s; return 200 \"t\\n\"; }\n"
        "    location /timeout { lingering_close always; lingering_timeout 1s;\n"
        "                        return 200 \"t\\n\"; }\n"
        "}\n";
    struct kp_h_server s;

    start(&s, conf);
    int before = quiet_fds(s.pid);

    /* on: nothing pending, closed at once; a body may follow, lingers */
    closed_at_once(s.pid, before, plain_close(s.port, "/on"));
    int fd = unread_body(s.port, "/on");
    ck_assert_int_eq(kp_h_count_fds(s.pid), before + 1);
    /* what the client still sends is read and dropped, no reset */
    kp_h_send_str(fd, "0123456789");
    kp_h_sleep_ms(100);
    ck_assert_int_eq(kp_h_count_fds(s.pid), before + 1);
    close(fd);
    ck_assert(kp_h_wait_fds(s.pid, before, 20000));
    /* off: closed at once even so */
    closed_at_once(s.pid, before, unread_body(s.port, "/off"));
    /* always: lingers with nothing pending */
    fd = plain_close(s.port, "/always");
    ck_assert_int_eq(kp_h_count_fds(s.pid), before + 1);
    close(fd);
    ck_assert(kp_h_wait_fds(s.pid, before, 20000));
    /* lingering_time bounds the whole, lingering_timeout each wait: both
     * close a silent client's connection long before the other's 60 s */
    closed_at_once(s.pid, before, plain_close(s.port, "/time"));
    closed_at_once(s.pid, before, plain_close(s.port, "/timeout"));
    kp_h_stop(&s);
}
END_TEST

/* stub_status (nginx's spelling, server or location, an old "on" argument
 * allowed): nginx's stub page, byte for byte in layout, whatever the query;
 * GET and HEAD only. */
START_TEST(stub_status)
{
    static const char *conf = "access_log off;\n"
                              "server {\n"
                              "    listen 127.0.0.1:@PORT@;\n"
                              "    location = /basic_status { stub_status; }\n"
                              "    location = /old { stub_status on; }\n"
                              "}\n"
                              "server { listen 127.0.0.1:@PORT2@; stub_status; }\n";
    static const char *paths[] = {"/basic_status", "/basic_status?format=json", "/old"};
    struct kp_h_server s;
    struct kp_h_resp r;
    char raw[256];
    struct kp_stub st;

    start(&s, conf);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 paths[i]);
        ck_assert_int_eq(kp_h_request(s.port, raw, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/plain");
        kp_stub_parse(r.body, &st);
        ck_assert_int_ge(st.writing, 1);
        kp_h_resp_free(&r);
    }
    ck_assert_int_eq(kp_h_request(s.port2, "GET /any HTTP/1.0\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "server accepts handled requests\n"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port,
                                  "POST /basic_status HTTP/1.1\r\nHost: t\r\n"
                                  "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                  &r),
                     0);
    ck_assert_int_eq(r.status, 405);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* TRACE is refused with 405 wherever it lands, a `return` location
 * included (nginx answers it before any location runs). */
START_TEST(trace_on_return)
{
    static const char *conf = "access_log off;\n"
                              "server {\n"
                              "    listen 127.0.0.1:@PORT@;\n"
                              "    location = /r { return 200 \"r\\n\"; }\n"
                              "    location = /go { return 301 /r; }\n"
                              "}\n";
    static const char *paths[] = {"/r", "/go", "/a/f"};
    struct kp_h_server s;
    struct kp_h_resp r;
    char raw[256];

    start(&s, conf);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(raw, sizeof(raw), "TRACE %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 paths[i]);
        ck_assert_int_eq(kp_h_request(s.port, raw, &r), 0);
        ck_assert_msg(r.status == 405, "TRACE %s: %d", paths[i], r.status);
        kp_h_resp_free(&r);
    }
    ck_assert_int_eq(kp_h_request(s.port, "GET /r HTTP/1.0\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_nginx_request_suite(void)
{
    Suite *s = suite_create("nginx_request");
    TCase *tc = tcase_create("nginx_request");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, merge_slashes);
    tcase_add_test(tc, header_names);
    tcase_add_test(tc, keep_invalid_headers);
    tcase_add_test(tc, lingering);
    tcase_add_test(tc, stub_status);
    tcase_add_test(tc, trace_on_return);
    suite_add_tcase(s, tc);
    return s;
}
