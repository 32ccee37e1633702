/* allow/deny against the real binary (the client is always 127.0.0.1):
 * single addresses, CIDR, "all", IPv6 rules that never match an IPv4
 * client, first match wins, inheritance from http and server level (a
 * block's own rules replace the inherited ones), `return` before the
 * access phase as in nginx, the status location, and a refusal recorded in
 * the access and error logs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

static const char *HTTP = "deny all;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    allow all;\n"
                          "    location /plain/ { }\n"
                          "    location /lo/ { allow 127.0.0.1; deny all; }\n"
                          "    location /notlo/ { deny 127.0.0.1; allow all; }\n"
                          "    location /net8/ { allow 127.0.0.0/8; deny all; }\n"
                          "    location /net10/ { allow 10.0.0.0/8; deny all; }\n"
                          "    location /other/ { allow 127.0.0.2; deny all; }\n"
                          "    location /order/ { deny 127.0.0.0/24; allow 127.0.0.1; }\n"
                          "    location /v6deny/ { deny ::1; allow all; }\n"
                          "    location /v6allow/ { allow ::1; allow ::/0; deny all; }\n"
                          "    location /ret/ { deny all; return 200 \"returned\\n\"; }\n"
                          "    location = /status { status; deny all; }\n"
                          "}\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT2@;\n"
                          "    location / { }\n"
                          "    location /open/ { allow 127.0.0.1; }\n"
                          "}\n";

static const char *const DIRS[] = {"plain", "lo",     "notlo",   "net8", "net10", "other",
                                   "order", "v6deny", "v6allow", "ret",  "open"};

static void start(struct kp_h_server *s)
{
    char path[192];

    kp_h_prepare(s);
    /* Started as root, the worker runs as nobody: it must reach the prefix. */
    snprintf(path, sizeof(path), "%s", s->prefix);
    chmod(path, 0755);
    kp_h_write(s, "html/index.html", "root\n");
    for (size_t i = 0; i < sizeof(DIRS) / sizeof(DIRS[0]); i++) {
        snprintf(path, sizeof(path), "html/%s/f.txt", DIRS[i]);
        kp_h_write(s, path, "file\n");
    }
    kp_h_config(s, NULL, HTTP);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

static int get(int port, const char *path)
{
    char raw[256];
    struct kp_h_resp r;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    ck_assert_int_eq(kp_h_request(port, raw, &r), 0);
    kp_h_resp_free(&r);
    return r.status;
}

static void expect(int port, const char *path, int status)
{
    int got = get(port, path);

    ck_assert_msg(got == status, "%s: %d, expected %d", path, got, status);
}

START_TEST(location_rules)
{
    struct kp_h_server s;

    start(&s);
    expect(s.port, "/plain/f.txt", 200);
    expect(s.port, "/lo/f.txt", 200);
    expect(s.port, "/notlo/f.txt", 403);
    expect(s.port, "/net8/f.txt", 200);
    expect(s.port, "/net10/f.txt", 403);
    expect(s.port, "/other/f.txt", 403);
    expect(s.port, "/order/f.txt", 403);
    /* An IPv6 rule is never an IPv4 client's. */
    expect(s.port, "/v6deny/f.txt", 200);
    expect(s.port, "/v6allow/f.txt", 403);
    /* `return` runs before the access phase, as in nginx. */
    expect(s.port, "/ret/f.txt", 200);
    expect(s.port, "/status", 403);
    kp_h_stop(&s);
}
END_TEST

START_TEST(inherited_rules)
{
    struct kp_h_server s;

    start(&s);
    /* Server 1 replaced http's `deny all` with its own `allow all`. */
    expect(s.port, "/", 200);
    /* Server 2 inherits `deny all`; a location with rules has only its own. */
    expect(s.port2, "/", 403);
    expect(s.port2, "/index.html", 403);
    expect(s.port2, "/open/f.txt", 200);
    kp_h_stop(&s);
}
END_TEST

START_TEST(refusal_logged)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(
        kp_h_request(s.port, "GET /notlo/f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     &r),
        0);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "403"));
    kp_h_resp_free(&r);
    /* HEAD: the status, no body. */
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "HEAD /notlo/f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    ck_assert_int_eq(r.status, 403);
    kp_h_resp_free(&r);
    close(fd);

    /* Each line is written once its response is out: wait for the last. */
    ck_assert_msg(
        kp_p_file_wait(&s, "logs/access.log", "\"HEAD /notlo/f.txt HTTP/1.1\" 403 ", 5000),
        "no 403 line in the access log");
    char *alog = kp_h_read(&s, "logs/access.log");
    char *elog = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(alog);
    ck_assert_ptr_nonnull(elog);
    ck_assert_ptr_nonnull(strstr(alog, "\"GET /notlo/f.txt HTTP/1.1\" 403 "));
    /* nginx's level for a refusal, so that it shows at the default level. */
    ck_assert_ptr_nonnull(strstr(elog, "[error] "));
    ck_assert_ptr_nonnull(strstr(elog, "access forbidden by rule, client: 127.0.0.1"));
    ck_assert_ptr_nonnull(strstr(elog, "request: \"GET /notlo/f.txt HTTP/1.1\""));
    free(alog);
    free(elog);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, location_rules);
    tcase_add_test(tc, inherited_rules);
    tcase_add_test(tc, refusal_logged);
    suite_add_tcase(s, tc);
    return s;
}
