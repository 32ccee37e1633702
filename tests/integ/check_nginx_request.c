/* nginx's request-side directives against the real binary: merge_slashes
 * (and that nothing outside the root is reachable either way),
 * underscores_in_headers and ignore_invalid_headers (from the address's
 * default server, with nginx's info line for a dropped field). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

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

Suite *kp_test_nginx_request_suite(void)
{
    Suite *s = suite_create("nginx_request");
    TCase *tc = tcase_create("nginx_request");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, merge_slashes);
    tcase_add_test(tc, header_names);
    tcase_add_test(tc, keep_invalid_headers);
    suite_add_tcase(s, tc);
    return s;
}
