/* Behind a proxy, against the real binary: `listen ... proxy_protocol`
 * (v1 and v2 headers, sent whole or in pieces, LOCAL and UNKNOWN, before
 * TLS on an `ssl` address; a broken, oversized or unfinished header closes
 * the connection without a response and is logged as nginx does) and the
 * realip module (real_ip_header proxy_protocol, X-Forwarded-For with
 * real_ip_recursive off and on, X-Real-IP, another field, an untrusted
 * peer), checked through $remote_addr, $remote_port, $realip_remote_addr,
 * the $proxy_protocol_* variables, allow/deny and the access and error
 * logs. The test client is always 127.0.0.1. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "kelpie/http/ssl.h"
#include "tlsutil.h"

/* @PORT@ takes PROXY headers, @PORT2@ trusts 127.0.0.1's X-Forwarded-For. */
static const char *HTTP =
    "client_header_timeout 1s;\n"
    "limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/m;\n"
    "log_format pp '$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port|"
    "$proxy_protocol_addr|$proxy_protocol_port|$proxy_protocol_server_addr|"
    "$proxy_protocol_server_port \"$request\" $status';\n"
    "log_format rp '$uri $remote_addr|$remote_port|$realip_remote_addr';\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@ proxy_protocol;\n"
    "    access_log logs/pp.log pp;\n"
    "    location / { return 200 \"peer $remote_addr pp $proxy_protocol_addr\\n\"; }\n"
    "    location /real/ {\n"
    "        set_real_ip_from 127.0.0.0/8;\n"
    "        real_ip_header proxy_protocol;\n"
    "        error_page 404 = /echo3;\n"
    "    }\n"
    "    location = /echo3 { return 200 \"$remote_addr|$remote_port|$realip_remote_addr\\n\"; }\n"
    "    location /acl/ {\n"
    "        set_real_ip_from 127.0.0.1;\n"
    "        real_ip_header proxy_protocol;\n"
    "        deny 203.0.113.0/24;\n"
    "        allow all;\n"
    "    }\n"
    "}\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT2@;\n"
    "    set_real_ip_from 127.0.0.1;\n"
    "    real_ip_header X-Forwarded-For;\n"
    "    location /xff/ { return 200 \"$remote_addr|$remote_port|$realip_remote_addr\\n\"; }\n"
    "    location /xri/ { real_ip_header X-Real-IP; error_page 404 = /echo1; }\n"
    "    location /field/ { real_ip_header CF-Connecting-IP; error_page 404 = /echo1; }\n"
    "    location = /echo1 { access_log logs/rp.log rp; return 200 \"$remote_addr\\n\"; }\n"
    "    location /phase/ {\n"
    "        real_ip_header X-Real-IP;\n"
    "        return 200 \"$remote_addr\\n\";\n"
    "    }\n"
    "    location /untrusted/ {\n"
    "        set_real_ip_from 192.0.2.1;\n"
    "        real_ip_header X-Real-IP;\n"
    "        error_page 404 = /echo-u;\n"
    "    }\n"
    "    location = /echo-u { return 200 \"$remote_addr|$realip_remote_addr\\n\"; }\n"
    "    location /acl/ { deny 198.51.100.7; allow all; }\n"
    "    location /lim/ { limit_req zone=perip; }\n"
    "}\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT2@;\n"
    "    server_name rec.test;\n"
    "    set_real_ip_from 127.0.0.1;\n"
    "    set_real_ip_from 10.0.0.0/8;\n"
    "    set_real_ip_from 2001:db8::/32;\n"
    "    real_ip_header X-Forwarded-For;\n"
    "    real_ip_recursive on;\n"
    "    location /rec/ { return 200 \"$remote_addr|$remote_port\\n\"; }\n"
    "}\n";

#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    /* Started as root, the worker runs as nobody: it must reach the file. */
    chmod(s->prefix, 0755);
    kp_h_write(s, "html/acl/f.txt", "file\n");
    kp_h_write(s, "html/lim/f.txt", "file\n");
    kp_h_config(s, NULL, HTTP);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

/* Send raw bytes (a header, a request) on a new connection and read one
 * response; its body, malloc'ed. */
static char *exchange(int port, const char *raw, size_t len, int want_status)
{
    struct kp_h_resp r;
    int fd = kp_h_connect(port);

    ck_assert_int_ge(fd, 0);
    kp_h_send(fd, raw, len);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    close(fd);
    ck_assert_msg(r.status == want_status, "status %d, expected %d", r.status, want_status);
    char *body = strdup(r.body != NULL ? r.body : "");
    kp_h_resp_free(&r);
    return body;
}

static void expect_body(int port, const char *raw, size_t len, const char *want)
{
    char *body = exchange(port, raw, len, 200);

    ck_assert_str_eq(body, want);
    free(body);
}

#define GET(path, headers)                                                                         \
    "GET " path " HTTP/1.1\r\nHost: x\r\n" headers "Connection: close\r\n\r\n"
#define GETR(headers)         "GET /rec/ HTTP/1.1\r\nHost: rec.test\r\n" headers "Connection: close\r\n\r\n"
#define SEND(port, lit, want) expect_body(port, lit, sizeof(lit) - 1, want)

/* Bytes the server sends before it closes (it must close within 5 s). */
static size_t bytes_until_close(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[4096];
    size_t total = 0;

    for (;;) {
        ck_assert_msg(poll(&p, 1, 5000) == 1, "the server did not close the connection");
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return total;
        ck_assert_int_gt(n, 0);
        total += (size_t)n;
    }
}

static void expect_closed_silently(int port, const char *raw, size_t len)
{
    int fd = kp_h_connect(port);

    ck_assert_int_ge(fd, 0);
    kp_h_send(fd, raw, len);
    ck_assert_uint_eq(bytes_until_close(fd), 0);
    close(fd);
}

#define BROKEN(port, lit) expect_closed_silently(port, lit, sizeof(lit) - 1)

static void expect_log(const struct kp_h_server *s, const char *path, const char *needle)
{
    ck_assert_msg(kp_p_file_wait(s, path, needle, 5000), "%s has no \"%s\"", path, needle);
}

START_TEST(v1_header_and_variables)
{
    struct kp_h_server s;

    start(&s);
    /* Without real_ip_header proxy_protocol the peer stays the client. */
    SEND(s.port, "PROXY TCP4 203.0.113.9 192.0.2.1 4567 80\r\n" GET("/", ""),
         "peer 127.0.0.1 pp 203.0.113.9\n");
    expect_log(&s, "logs/pp.log", "|203.0.113.9|4567|192.0.2.1|80 \"GET / HTTP/1.1\" 200");
    /* With it (the peer is trusted), the header's source is the client. */
    SEND(s.port, "PROXY TCP4 203.0.113.9 192.0.2.1 4567 80\r\n" GET("/real/", ""),
         "203.0.113.9|4567|127.0.0.1\n");
    expect_log(&s, "logs/pp.log", "203.0.113.9|4567|127.0.0.1|");
    SEND(s.port, "PROXY TCP6 2001:db8::5 2001:db8::1 1234 443\r\n" GET("/real/", ""),
         "2001:db8::5|1234|127.0.0.1\n");
    kp_h_stop(&s);
}
END_TEST

START_TEST(v2_header)
{
    struct kp_h_server s;
    static const char inet[] =
        V2_SIG "\x21\x11\x00\x0c"
               "\xc0\x00\x02\x0a\xc6\x33\x64\x01\xdc\x04\x01\xbb" GET("/real/", "");
    static const char tlv[] = V2_SIG "\x21\x11\x00\x14"
                                     "\xc0\x00\x02\x0b\xc6\x33\x64\x01\x00\x50\x01\xbb"
                                     "\x01\x00\x05hello" GET("/real/", "");
    static const char local[] = V2_SIG "\x20\x00\x00\x00" GET("/real/", "");

    start(&s);
    expect_body(s.port, inet, sizeof(inet) - 1, "192.0.2.10|56324|127.0.0.1\n");
    /* TLVs are skipped. */
    expect_body(s.port, tlv, sizeof(tlv) - 1, "192.0.2.11|80|127.0.0.1\n");
    /* LOCAL: the connection's own addresses stay; so with UNKNOWN. */
    char *body = exchange(s.port, local, sizeof(local) - 1, 200);
    ck_assert_msg(strncmp(body, "127.0.0.1|", 10) == 0, "%s", body);
    free(body);
    static const char unknown[] = "PROXY UNKNOWN\r\n" GET("/", "");
    SEND(s.port, unknown, "peer 127.0.0.1 pp \n");
    kp_h_stop(&s);
}
END_TEST

/* A header in pieces, and a keep-alive connection whose every request
 * keeps the header's address. */
START_TEST(split_header_and_keepalive)
{
    struct kp_h_server s;
    static const char *const pieces[] = {"PRO", "XY TCP4 198.51", ".100.3 192.0.2.1 ", "9 80\r",
                                         "\n"};
    struct kp_h_resp r;

    start(&s);
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        kp_h_send_str(fd, pieces[i]);
        kp_h_sleep_ms(50);
    }
    for (int i = 0; i < 2; i++) {
        kp_h_send_str(fd, "GET /real/ HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "198.51.100.3|9|127.0.0.1\n");
        kp_h_resp_free(&r);
    }
    close(fd);
    /* A v2 header cut inside its signature and its addresses. */
    static const char v2[] = V2_SIG "\x21\x11\x00\x0c"
                                    "\xc0\x00\x02\x0a\xc6\x33\x64\x01\xdc\x04\x01\xbb";
    fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send(fd, v2, 5);
    kp_h_sleep_ms(50);
    kp_h_send(fd, v2 + 5, 15);
    kp_h_sleep_ms(50);
    kp_h_send(fd, v2 + 20, sizeof(v2) - 1 - 20);
    kp_h_send_str(fd, GET("/real/", ""));
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_str_eq(r.body, "192.0.2.10|56324|127.0.0.1\n");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(broken_headers_close)
{
    struct kp_h_server s;
    static const char bad_v2[] = V2_SIG "\x31\x11\x00\x0c";
    static const char long_v2[] = V2_SIG "\x21\x11\xff\xff";
    char line[200];

    start(&s);
    /* No header at all: a plain request gets nothing back. */
    BROKEN(s.port, GET("/", ""));
    BROKEN(s.port, "PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n" GET("/", ""));
    BROKEN(s.port, "PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n" GET("/", ""));
    BROKEN(s.port, "PROXY TCP4 ::1 5.6.7.8 1 80\r\n" GET("/", ""));
    BROKEN(s.port, "PROXY TCP4 1.2.3.4 5.6.7.8 1 80\n" GET("/", ""));
    expect_closed_silently(s.port, bad_v2, sizeof(bad_v2) - 1);
    expect_closed_silently(s.port, long_v2, sizeof(long_v2) - 1);
    /* 107 bytes without a CRLF. */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    expect_closed_silently(s.port, line, sizeof(line));
    expect_log(&s, "logs/error.log", "[error] ");
    expect_log(&s, "logs/error.log", "broken header: \"GET / HTTP/1.1\\x0d\\x0aHost: x\\x0d\\x0a");
    expect_log(&s, "logs/error.log", "\" while reading PROXY protocol, client: 127.0.0.1");
    /* Unfinished: closed after client_header_timeout, still without a word. */
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "PROXY TCP4 1.2.");
    ck_assert_uint_eq(bytes_until_close(fd), 0);
    close(fd);
    expect_log(&s, "logs/error.log", "client timed out while reading PROXY protocol");
    /* Nothing of these reached the access log. */
    char *alog = kp_h_read(&s, "logs/pp.log");
    ck_assert_msg(alog == NULL || alog[0] == '\0', "%s", alog);
    free(alog);
    kp_h_stop(&s);
}
END_TEST

START_TEST(x_forwarded_for)
{
    struct kp_h_server s;

    start(&s);
    /* Not recursive: the last address, whatever precedes it; no port. */
    SEND(s.port2, GET("/xff/", "X-Forwarded-For: 198.51.100.7, 10.0.0.2\r\n"),
         "10.0.0.2||127.0.0.1\n");
    /* Recursive: from the right, past every trusted address. */
    SEND(s.port2, GETR("X-Forwarded-For: 198.51.100.7, 10.0.0.2\r\n"), "198.51.100.7|\n");
    SEND(s.port2, GETR("X-Forwarded-For: 203.0.113.1, 198.51.100.7, 10.0.0.2, 10.9.9.9\r\n"),
         "198.51.100.7|\n");
    /* All trusted: the leftmost. */
    SEND(s.port2, GETR("X-Forwarded-For: 10.0.0.1 10.0.0.2\r\n"), "10.0.0.1|\n");
    /* Several lines are one list. */
    SEND(s.port2, GETR("X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-For: 10.0.0.2\r\n"),
         "198.51.100.7|\n");
    /* A port comes along; IPv6 in brackets with one. */
    SEND(s.port2, GETR("X-Forwarded-For: 198.51.100.7:8080, 10.0.0.2\r\n"), "198.51.100.7|8080\n");
    SEND(s.port2, GETR("X-Forwarded-For: [2001:db9::1]:443, 2001:db8::2\r\n"), "2001:db9::1|443\n");
    /* Something that is no address: the last good one stands. */
    SEND(s.port2, GETR("X-Forwarded-For: 198.51.100.7, junk, 10.0.0.2\r\n"), "10.0.0.2|\n");
    static const char junk[] = GET("/xff/", "X-Forwarded-For: junk\r\n");
    char *body = exchange(s.port2, junk, sizeof(junk) - 1, 200);
    ck_assert_msg(strncmp(body, "127.0.0.1|", 10) == 0, "%s", body);
    free(body);
    kp_h_stop(&s);
}
END_TEST

START_TEST(other_headers_and_untrusted)
{
    struct kp_h_server s;

    start(&s);
    SEND(s.port2, GET("/xri/", "X-Real-IP: 198.51.100.9\r\n"), "198.51.100.9\n");
    SEND(s.port2, GET("/field/", "cf-connecting-ip: 2001:db8::9\r\n"), "2001:db8::9\n");
    /* Without the header the peer stays. */
    SEND(s.port2, GET("/xri/", ""), "127.0.0.1\n");
    /* No port in the header: $remote_port is empty, logged as nothing. */
    expect_log(&s, "logs/rp.log", "/echo1 198.51.100.9||127.0.0.1\n");
    /* A location's own settings act at its preaccess phase, as nginx's:
     * its `return`, earlier, still sees the peer. */
    SEND(s.port2, GET("/phase/", "X-Real-IP: 198.51.100.9\r\n"), "127.0.0.1\n");
    /* An untrusted peer's header is ignored. */
    SEND(s.port2, GET("/untrusted/", "X-Real-IP: 198.51.100.7\r\n"), "127.0.0.1|127.0.0.1\n");
    kp_h_stop(&s);
}
END_TEST

/* allow/deny and the logs see the real address. */
START_TEST(access_rules_and_logs)
{
    struct kp_h_server s;
    char *body;

    start(&s);
    body = exchange(s.port2, GET("/acl/f.txt", "X-Forwarded-For: 198.51.100.7\r\n"),
                    sizeof(GET("/acl/f.txt", "X-Forwarded-For: 198.51.100.7\r\n")) - 1, 403);
    free(body);
    body = exchange(s.port2, GET("/acl/f.txt", "X-Forwarded-For: 198.51.100.8\r\n"),
                    sizeof(GET("/acl/f.txt", "X-Forwarded-For: 198.51.100.8\r\n")) - 1, 200);
    ck_assert_str_eq(body, "file\n");
    free(body);
    expect_log(&s, "logs/access.log", "198.51.100.7 - - [");
    expect_log(&s, "logs/access.log", "198.51.100.8 - - [");
    expect_log(&s, "logs/error.log", "access forbidden by rule, client: 198.51.100.7, server: ");
    /* The same through a PROXY header. */
    static const char denied[] = "PROXY TCP4 203.0.113.5 192.0.2.1 1 80\r\n" GET("/acl/f.txt", "");
    static const char allowed[] =
        "PROXY TCP4 198.51.100.5 192.0.2.1 1 80\r\n" GET("/acl/f.txt", "");
    free(exchange(s.port, denied, sizeof(denied) - 1, 403));
    free(exchange(s.port, allowed, sizeof(allowed) - 1, 200));
    expect_log(&s, "logs/error.log", "access forbidden by rule, client: 203.0.113.5");
    kp_h_stop(&s);
}
END_TEST

/* A limit zone keyed by $binary_remote_addr counts the real clients: one
 * request a minute each, whatever the proxy in front of them. */
START_TEST(limit_zone_keys)
{
    struct kp_h_server s;
    static const char a[] = GET("/lim/f.txt", "X-Forwarded-For: 198.51.100.20\r\n");
    static const char b[] = GET("/lim/f.txt", "X-Forwarded-For: 198.51.100.21\r\n");

    start(&s);
    free(exchange(s.port2, a, sizeof(a) - 1, 200));
    free(exchange(s.port2, a, sizeof(a) - 1, 503));
    free(exchange(s.port2, b, sizeof(b) - 1, 200));
    /* The excess reads 1.000 only if the two requests came within 60 ms
     * (1r/m drains one thousandth each 60 ms): the key is what counts. */
    expect_log(&s, "logs/error.log", "by zone \"perip\", client: 198.51.100.20");
    kp_h_stop(&s);
}
END_TEST

/* On an `ssl proxy_protocol` address the header comes before the TLS
 * handshake (curl --haproxy-protocol sends the connection's own
 * addresses), and a broken one closes before any TLS. */
START_TEST(before_tls)
{
    struct kp_h_server s;
    char *out = NULL;

    kp_h_prepare(&s);
    kp_h_write(&s, "conf/.keep", "");
    kp_t_make_cert(&s, "ec", "ec", "localhost");
    kp_h_config(&s, NULL,
                "log_format pp '$proxy_protocol_addr $proxy_protocol_server_port $scheme';\n"
                "server {\n"
                "    listen 127.0.0.1:@PORT@ ssl proxy_protocol;\n"
                "    ssl_certificate ec.crt;\n"
                "    ssl_certificate_key ec.key;\n"
                "    access_log logs/pp.log pp;\n"
                "    location / { return 200 \"tls $proxy_protocol_addr\\n\"; }\n"
                "}\n");
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    int rc = kp_t_sh(&out, "curl -sS -k --haproxy-protocol https://127.0.0.1:%d/ 2>&1", s.port);
    ck_assert_msg(rc == 0 && strcmp(out, "tls 127.0.0.1\n") == 0, "curl: %d %s", rc, out);
    free(out);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1 %d https", s.port);
    expect_log(&s, "logs/pp.log", want);
    /* A header in pieces is taken exactly (the socket is peeked at): what
     * follows it is read as the connection's first bytes, here plain HTTP
     * on an https port, which nginx answers 400. */
    int fd = kp_h_connect(s.port);
    struct kp_h_resp r;
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "PROXY TCP4 198.51");
    kp_h_sleep_ms(50);
    kp_h_send_str(fd, ".100.4 192.0.2.1 5 443\r");
    kp_h_sleep_ms(50);
    kp_h_send_str(fd, "\n" GET("/", ""));
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "The plain HTTP request was sent to HTTPS port"));
    kp_h_resp_free(&r);
    close(fd);
    expect_log(&s, "logs/pp.log", "198.51.100.4 443 http");
    /* A TLS ClientHello where the header should be. */
    BROKEN(s.port, "\x16\x03\x01\x00\x05hello");
    expect_log(&s, "logs/error.log", "broken header: \"\\x16\\x03\\x01");
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_realip_suite(void)
{
    Suite *s = suite_create("realip");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, v1_header_and_variables);
    tcase_add_test(tc, v2_header);
    tcase_add_test(tc, split_header_and_keepalive);
    tcase_add_test(tc, broken_headers_close);
    tcase_add_test(tc, x_forwarded_for);
    tcase_add_test(tc, other_headers_and_untrusted);
    tcase_add_test(tc, access_rules_and_logs);
    tcase_add_test(tc, limit_zone_keys);
    if (kp_http_ssl_available())
        tcase_add_test(tc, before_tls);
    suite_add_tcase(s, tc);
    return s;
}
