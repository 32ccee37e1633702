/* HTTPS against the real binary with real clients (curl --cacert, openssl
 * s_client, raw sockets). Certificates are made in each test's prefix with
 * the openssl command: an ECDSA P-256 and an RSA 2048 one for "localhost",
 * an ECDSA one for "b.test". Covered: both certificate types chosen by what
 * the client supports, SNI, ALPN, the protocol floor (TLS 1.0 and 1.1
 * refused by default), plain HTTP on the TLS port (nginx's 400, or the
 * server's error_page 497), a truncated
 * ClientHello and a handshake that never ends (client_header_timeout), the
 * variables in the access log, keep-alive and a large body, an encrypted key
 * with ssl_password_file, master_process off, client certificates
 * (ssl_verify_client on/optional, $ssl_client_verify), ssl_reject_handshake,
 * OCSP stapling from a file, and the configuration errors (-t names the
 * file and the line). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kelpie/http/ssl.h"
#include "tlsutil.h"

#define OPENSSL KP_T_OPENSSL

static void sh_ok(const char *cmd)
{
    char *out = NULL;
    int rc = kp_t_sh(&out, "%s", cmd);

    ck_assert_msg(rc == 0, "`%s` failed: %s", cmd, out);
    free(out);
}

static void make_certs(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "conf/.keep", "");
    kp_h_write(s, "html/index.html", "hello tls\n");
    kp_t_make_cert(s, "ec", "ec", "localhost");
    kp_t_make_cert(s, "rsa", "rsa", "localhost");
    kp_t_make_cert(s, "b", "ec", "b.test");
}

static const char *HTTP =
    "client_header_timeout 2s;\n"
    "log_format tls \"$scheme $https $ssl_protocol $ssl_cipher "
    "$ssl_server_name $ssl_session_reused $status\";\n"
    "access_log logs/access.log tls;\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@ ssl;\n"
    "    server_name localhost;\n"
    "    ssl_certificate ec.crt;\n"
    "    ssl_certificate_key ec.key;\n"
    "    ssl_certificate rsa.crt;\n"
    "    ssl_certificate_key rsa.key;\n"
    "    location = /scheme { return 200 \"$scheme://$host$request_uri\\n\"; }\n"
    "}\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@ ssl;\n"
    "    server_name b.test;\n"
    "    ssl_certificate b.crt;\n"
    "    ssl_certificate_key b.key;\n"
    "    return 200 \"b\\n\";\n"
    "}\n";

static void start(struct kp_h_server *s, const char *main_extra, const char *http)
{
    make_certs(s);
    /* A single process: the access log is opened as the user running the
     * test, in a prefix only that user may write. */
    kp_h_config(s, main_extra != NULL ? main_extra : "master_process off;", http);
    ck_assert_int_eq(kp_h_start(s), 0);
}

/* curl over HTTPS to NAME:PORT (resolved to loopback) trusting conf/CA;
 * returns curl's exit code, the body and "-w" output in *out. */
static int curl(const struct kp_h_server *s, const char *ca, const char *name, const char *path,
                const char *extra, char **out)
{
    return kp_t_sh(
        out,
        "/usr/bin/curl -sS --max-time 10 --cacert %sconf/%s --resolve %s:%d:127.0.0.1 %s "
        "https://%s:%d%s 2>&1",
        s->prefix, ca, name, s->port, extra, name, s->port, path);
}

/* openssl s_client with extra options, the request text piped in. */
static int s_client(const struct kp_h_server *s, const char *opts, const char *request, char **out)
{
    return kp_t_sh(out,
                   "printf '%s' | timeout 10 " OPENSSL
                   " s_client -connect 127.0.0.1:%d -ign_eof %s "
                   "2>&1",
                   request, s->port, opts);
}

#define GET_CLOSE "GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"

START_TEST(curl_serves_https)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL, HTTP);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", "", &out), 0);
    ck_assert_str_eq(out, "hello tls\n");
    free(out);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/scheme?a=1", "", &out), 0);
    ck_assert_str_eq(out, "https://localhost/scheme?a=1\n");
    free(out);
    /* The variables, as the access log writes them (TLS 1.3 by default). */
    char *log = kp_h_read(&s, "logs/access.log");
    ck_assert_msg(log != NULL && strstr(log, "https on TLSv1.3 TLS_") != NULL &&
                      strstr(log, " localhost . 200") != NULL,
                  "access log: %s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* An ECDSA-capable client gets the P-256 certificate; one that can only
 * verify RSA signatures gets the RSA certificate of the same server. */
START_TEST(ecdsa_and_rsa_by_client)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL, HTTP);
    ck_assert_int_eq(s_client(&s, "-servername localhost", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "Server public key is 256 bit") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "hello tls") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(
        s_client(&s, "-servername localhost -sigalgs RSA-PSS+SHA256:RSA+SHA256", GET_CLOSE, &out),
        0);
    ck_assert_msg(strstr(out, "Server public key is 2048 bit") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "hello tls") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(curl(&s, "rsa.crt", "localhost", "/",
                          "--tls-max 1.2 --ciphers "
                          "ECDHE-RSA-AES128-GCM-SHA256",
                          &out),
                     0);
    ck_assert_str_eq(out, "hello tls\n");
    free(out);
    kp_h_stop(&s);
}
END_TEST

START_TEST(sni_picks_the_server)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL, HTTP);
    ck_assert_int_eq(curl(&s, "b.crt", "b.test", "/", "", &out), 0);
    ck_assert_str_eq(out, "b\n");
    free(out);
    ck_assert_int_eq(s_client(&s, "-servername b.test", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "CN = b.test") != NULL, "%s", out);
    free(out);
    /* No SNI: the address's default server (the first). */
    ck_assert_int_eq(s_client(&s, "-noservername", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "CN = localhost") != NULL, "%s", out);
    free(out);
    /* HTTP/1.0 without Host: the server SNI named answers, as in nginx. */
    ck_assert_int_eq(s_client(&s, "-servername b.test", "GET / HTTP/1.0\\r\\n\\r\\n", &out), 0);
    ck_assert_msg(strstr(out, "\nb\n") != NULL, "%s", out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

START_TEST(alpn_http11_or_http10)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL, HTTP);
    ck_assert_int_eq(s_client(&s, "-servername localhost -alpn h2,http/1.1", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "ALPN protocol: http/1.1") != NULL, "%s", out);
    free(out);
    ck_assert_int_ne(s_client(&s, "-servername localhost -alpn h2", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "no application protocol") != NULL, "%s", out);
    free(out);
    /* curl --http1.0 offers http/1.0 alone: accepted, as by nginx */
    ck_assert_int_eq(s_client(&s, "-servername localhost -alpn http/1.0", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "ALPN protocol: http/1.0") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "HTTP/1.1 200 ") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(s_client(&s, "-servername localhost -alpn http/1.0,http/1.1", GET_CLOSE, &out),
                     0);
    ck_assert_msg(strstr(out, "ALPN protocol: http/1.1") != NULL, "%s", out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* The largest ApplicationData record in s_client -trace output, 0 if none. */
static long largest_record(const char *trace)
{
    long max = 0;

    for (const char *p = strstr(trace, "Content Type = ApplicationData"); p != NULL;
         p = strstr(p + 1, "Content Type = ApplicationData")) {
        const char *len = strstr(p, "Length = ");
        if (len != NULL && strtol(len + 9, NULL, 10) > max)
            max = strtol(len + 9, NULL, 10);
    }
    return max;
}

/* ssl_buffer_size bounds the records a response is sent in (16k by
 * default, OpenSSL's largest); a 40 KiB file shows both. */
START_TEST(ssl_buffer_size_bounds_records)
{
    static const char *conf = "server {\n"
                              "    listen 127.0.0.1:@PORT@ ssl;\n"
                              "    ssl_certificate ec.crt;\n"
                              "    ssl_certificate_key ec.key;\n"
                              "}\n"
                              "server {\n"
                              "    listen 127.0.0.1:@PORT2@ ssl;\n"
                              "    ssl_certificate ec.crt;\n"
                              "    ssl_certificate_key ec.key;\n"
                              "    ssl_buffer_size 4k;\n"
                              "}\n";
    struct kp_h_server s;
    char big[40001], *out = NULL;
    const char *get = "GET /big.txt HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n";

    make_certs(&s);
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kp_h_write(&s, "html/big.txt", big);
    kp_h_config(&s, "master_process off;", conf);
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(kp_t_sh(&out,
                             "printf '%s' | timeout 10 " OPENSSL
                             " s_client -connect 127.0.0.1:%d -ign_eof -tls1_2 -trace 2>&1",
                             get, s.port),
                     0);
    ck_assert_msg(largest_record(out) > 16384, "default records: %ld", largest_record(out));
    free(out);
    ck_assert_int_eq(kp_t_sh(&out,
                             "printf '%s' | timeout 10 " OPENSSL
                             " s_client -connect 127.0.0.1:%d -ign_eof -tls1_2 -trace 2>&1",
                             get, s.port2),
                     0);
    long max = largest_record(out);
    ck_assert_msg(max > 4096 && max <= 4096 + 64, "ssl_buffer_size 4k records: %ld", max);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 "));
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* TLS 1.0 and 1.1 are refused by default (the client is allowed to offer
 * them), logged at info with the client's address, never at error. */
START_TEST(old_protocols_refused)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL, HTTP);
    const char *opts[] = {"-tls1 -cipher DEFAULT@SECLEVEL=0", "-tls1_1 -cipher DEFAULT@SECLEVEL=0"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_ne(s_client(&s, opts[i], GET_CLOSE, &out), 0);
        ck_assert_msg(strstr(out, "hello tls") == NULL, "%s", out);
        free(out);
    }
    ck_assert_int_eq(s_client(&s, "-tls1_2", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "hello tls") != NULL, "%s", out);
    free(out);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "[info]") != NULL &&
                      strstr(log, "SSL_do_handshake() failed") != NULL &&
                      strstr(log, "client: 127.0.0.1") != NULL,
                  "%s", log);
    ck_assert_msg(strstr(log, "[error]") == NULL && strstr(log, "[crit]") == NULL, "%s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* Opt-in: ssl_protocols lists TLSv1.2 alone, so TLS 1.3 is refused. */
START_TEST(protocols_directive)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL,
          "server { listen 127.0.0.1:@PORT@ ssl; ssl_protocols TLSv1.2;\n"
          "  ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
          "  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256; ssl_prefer_server_ciphers on;\n"
          "  ssl_ecdh_curve prime256v1; ssl_conf_command Options -SessionTicket; }\n");
    ck_assert_int_ne(s_client(&s, "-tls1_3", GET_CLOSE, &out), 0);
    free(out);
    ck_assert_int_eq(s_client(&s, "", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "ECDHE-ECDSA-AES128-GCM-SHA256") != NULL &&
                      strstr(out, "hello tls") != NULL,
                  "%s", out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

START_TEST(plain_http_gets_400)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, NULL, HTTP);
    ck_assert_int_eq(kp_h_request(s.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(r.body);
    ck_assert_msg(strstr(r.body, "The plain HTTP request was sent to HTTPS port") != NULL, "%s",
                  r.body);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    kp_h_resp_free(&r);
    char *log = kp_h_read(&s, "logs/error.log");
    /* The client as nginx names it: the address without the port. */
    ck_assert_msg(strstr(log, "[info]") != NULL &&
                      strstr(log, "plain HTTP request to HTTPS port, client: 127.0.0.1, request: "
                                  "\"GET / HTTP/1.1\"") != NULL,
                  "%s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* error_page 497 of the server the Host names: a URL is a 302 (or its
 * =3xx), a local URI is served with 400 (nginx's default for 497). */
static const char *HTTP_497 = "server {\n"
                              "    listen 127.0.0.1:@PORT@ ssl;\n"
                              "    server_name localhost;\n"
                              "    ssl_certificate ec.crt;\n"
                              "    ssl_certificate_key ec.key;\n"
                              "    error_page 497 https://$host:$server_port$request_uri;\n"
                              "}\n"
                              "server {\n"
                              "    listen 127.0.0.1:@PORT@ ssl;\n"
                              "    server_name b.test;\n"
                              "    ssl_certificate b.crt;\n"
                              "    ssl_certificate_key b.key;\n"
                              "    error_page 497 =301 https://b.test$request_uri;\n"
                              "}\n"
                              "server {\n"
                              "    listen 127.0.0.1:@PORT@ ssl;\n"
                              "    server_name c.test;\n"
                              "    ssl_certificate b.crt;\n"
                              "    ssl_certificate_key b.key;\n"
                              "    error_page 497 /plain.html;\n"
                              "}\n";

static void plain_request(const struct kp_h_server *s, const char *host, const char *target,
                          struct kp_h_resp *r)
{
    char req[256];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host);
    ck_assert_int_eq(kp_h_request(s->port, req, r), 0);
}

START_TEST(plain_http_error_page_497)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char want[128];

    make_certs(&s);
    kp_h_write(&s, "html/plain.html", "use https\n");
    kp_h_config(&s, "master_process off;", HTTP_497);
    ck_assert_int_eq(kp_h_start(&s), 0);
    plain_request(&s, "localhost", "/a/b?x=1", &r);
    ck_assert_int_eq(r.status, 302);
    snprintf(want, sizeof(want), "https://localhost:%d/a/b?x=1", s.port);
    ck_assert_str_eq(kp_h_header(&r, "Location"), want);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    kp_h_resp_free(&r);
    plain_request(&s, "b.test", "/x", &r);
    ck_assert_int_eq(r.status, 301);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "https://b.test/x");
    kp_h_resp_free(&r);
    plain_request(&s, "c.test", "/x", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "use https\n");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* A ClientHello cut short then closed, and one that never ends: both go
 * without an error-level line, the second when client_header_timeout runs
 * out; the server serves on. */
START_TEST(truncated_client_hello)
{
    struct kp_h_server s;
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    char *out = NULL;

    start(&s, NULL, HTTP);
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send(fd, hello, sizeof(hello) - 1);
    close(fd);
    fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send(fd, hello, sizeof(hello) - 1);
    ck_assert_msg(kp_h_closed(fd, 10000), "a stalled handshake outlived client_header_timeout");
    close(fd);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", "", &out), 0);
    ck_assert_str_eq(out, "hello tls\n");
    free(out);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "timed out while SSL handshaking") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "[error]") == NULL && strstr(log, "[crit]") == NULL, "%s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* Keep-alive (two requests on one connection, the second pipelined) and a
 * body larger than the scratch buffer with sendfile on (read and encrypted
 * in pieces), served by two workers that got the context from the master. */
START_TEST(keepalive_and_large_body)
{
    struct kp_h_server s;
    char *out = NULL;

    make_certs(&s);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "head -c 3000000 /dev/urandom > %shtml/big.bin", s.prefix);
    sh_ok(cmd);
    /* The workers must read the temporary prefix (mode 0700). */
    kp_h_config(&s, geteuid() == 0 ? "worker_processes 2; user root;" : "worker_processes 2;",
                "sendfile on; tcp_nopush on; access_log off;\n"
                "server { listen 127.0.0.1:@PORT@ ssl; server_name localhost;\n"
                "  ssl_certificate ec.crt; ssl_certificate_key ec.key; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(s_client(&s, "-servername localhost",
                              "GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n" GET_CLOSE, &out),
                     0);
    const char *first = strstr(out, "hello tls");
    ck_assert_msg(first != NULL && strstr(first + 1, "hello tls") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(kp_t_sh(&out,
                             "/usr/bin/curl -sS --max-time 20 --cacert %sconf/ec.crt --resolve "
                             "localhost:%d:127.0.0.1 https://localhost:%d/big.bin -o %sgot.bin && "
                             "cmp %shtml/big.bin %sgot.bin 2>&1",
                             s.prefix, s.port, s.port, s.prefix, s.prefix, s.prefix),
                     0);
    free(out);
    kp_h_stop(&s);
}
END_TEST

START_TEST(password_protected_key)
{
    struct kp_h_server s;
    char cmd[1024], *out = NULL;

    make_certs(&s);
    snprintf(cmd, sizeof(cmd),
             "cd %sconf && " OPENSSL " pkey -in ec.key -aes256 -passout pass:s3cret -out enc.key "
             "&& printf 'wrong\\ns3cret\\n' > pass.txt",
             s.prefix);
    sh_ok(cmd);
    kp_h_config(&s, "master_process off;",
                "server { listen 127.0.0.1:@PORT@ ssl; ssl_password_file pass.txt;\n"
                "  ssl_certificate ec.crt; ssl_certificate_key enc.key; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", "", &out), 0);
    ck_assert_str_eq(out, "hello tls\n");
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* --- client certificates, ssl_reject_handshake, stapling --------------------- */

/* conf/ca.crt (a CA) and conf/NAME.crt + NAME.key signed by it for cn. */
static void make_ca_signed(const struct kp_h_server *s, const char *name, const char *cn)
{
    char cmd[2048];

    snprintf(
        cmd, sizeof(cmd),
        "cd %sconf && { test -e ca.crt || " OPENSSL " req -x509 -newkey ec -pkeyopt "
        "ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj "
        "'/CN=kelpie test CA' 2>&1; } && printf 'subjectAltName=DNS:%s\\n' > %s.ext && " OPENSSL
        " req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
        "-out %s.csr -subj /CN=%s 2>&1 && " OPENSSL " x509 -req -in %s.csr -CA ca.crt "
        "-CAkey ca.key -CAcreateserial -out %s.crt -days 2 -extfile %s.ext 2>&1",
        s->prefix, cn, name, name, name, cn, name, name, name);
    sh_ok(cmd);
}

START_TEST(client_certificate_verified)
{
    struct kp_h_server s;
    char *out = NULL, opts[512];

    make_certs(&s);
    make_ca_signed(&s, "client", "client");
    kp_t_make_cert(&s, "stranger", "ec", "stranger");
    kp_h_config(&s, "master_process off;",
                "server { listen 127.0.0.1:@PORT@ ssl; server_name localhost;\n"
                "  ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
                "  ssl_verify_client on; ssl_client_certificate ca.crt;\n"
                "  return 200 \"verify=$ssl_client_verify\\n\"; }\n"
                "server { listen 127.0.0.1:@PORT2@ ssl; server_name localhost;\n"
                "  ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
                "  ssl_verify_client optional; ssl_client_certificate ca.crt;\n"
                "  location /cert { return 200 \"$ssl_client_s_dn|$ssl_client_i_dn|"
                "$ssl_client_s_dn_legacy|$ssl_client_serial|$ssl_client_fingerprint|"
                "$ssl_client_v_remain|$ssl_alpn_protocol|$ssl_curve|[$ssl_early_data]\\n"
                "$ssl_client_escaped_cert\"; }\n"
                "  location / { return 200 \"verify=$ssl_client_verify\\n\"; } }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    snprintf(opts, sizeof(opts), "--cert %sconf/client.crt --key %sconf/client.key", s.prefix,
             s.prefix);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", opts, &out), 0);
    ck_assert_str_eq(out, "verify=SUCCESS\n");
    free(out);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", "", &out), 0);
    ck_assert_msg(strstr(out, "No required SSL certificate was sent") != NULL, "%s", out);
    free(out);
    snprintf(opts, sizeof(opts), "--cert %sconf/stranger.crt --key %sconf/stranger.key", s.prefix,
             s.prefix);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", opts, &out), 0);
    ck_assert_msg(strstr(out, "The SSL certificate error") != NULL, "%s", out);
    free(out);
    /* optional: no certificate is fine, and says so. */
    ck_assert_int_eq(kp_t_sh(&out,
                             "/usr/bin/curl -sS --max-time 10 --cacert %sconf/ec.crt --resolve "
                             "localhost:%d:127.0.0.1 https://localhost:%d/ 2>&1",
                             s.prefix, s.port2, s.port2),
                     0);
    ck_assert_str_eq(out, "verify=NONE\n");
    free(out);
    /* The certificate's variables, as nginx gives them (what openssl says). */
    char *want = NULL;
    ck_assert_int_eq(kp_t_sh(&want,
                             "cd %sconf && " OPENSSL " x509 -in client.crt -noout -serial "
                             "| sed 's/^serial=//' | tr -d '\\n' && printf '|' && " OPENSSL
                             " x509 -in client.crt -noout -fingerprint -sha1 "
                             "| sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' | tr -d '\\n'",
                             s.prefix),
                     0);
    ck_assert_int_eq(kp_t_sh(&out,
                             "/usr/bin/curl -sS --max-time 10 --http1.1 --cacert %sconf/ec.crt "
                             "--cert %sconf/client.crt --key %sconf/client.key --resolve "
                             "localhost:%d:127.0.0.1 https://localhost:%d/cert 2>&1",
                             s.prefix, s.prefix, s.prefix, s.port2, s.port2),
                     0);
    char head[512];
    snprintf(head, sizeof(head), "CN=client|CN=kelpie test CA|/CN=client|%s|", want);
    ck_assert_msg(strncmp(out, head, strlen(head)) == 0, "%s\nwant %s", out, head);
    /* valid for 2 days from (about) now: 1 whole day left, 2 within its
     * first second */
    const char *rest = out + strlen(head);
    ck_assert_msg(strncmp(rest, "1|http/1.1|", 11) == 0 || strncmp(rest, "2|http/1.1|", 11) == 0,
                  "%s", out);
    ck_assert_msg(strstr(out, "|[]\n-----BEGIN%20CERTIFICATE-----%0A") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "%0A-----END%20CERTIFICATE-----%0A") != NULL, "%s", out);
    free(want);
    free(out);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "client sent no required SSL certificate") != NULL &&
                      strstr(log, "client SSL certificate verify error") != NULL,
                  "%s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* A second CA (cab) and a client certificate (clib) signed by it. */
static void make_second_ca(const struct kp_h_server *s)
{
    char cmd[2048];

    snprintf(
        cmd, sizeof(cmd),
        "cd %sconf && " OPENSSL " req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout cab.key -out cab.crt -days 2 -subj '/CN=kelpie test CA B' 2>&1 && " OPENSSL
        " req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout clib.key -out "
        "clib.csr -subj /CN=clib 2>&1 && " OPENSSL " x509 -req -in clib.csr -CA cab.crt "
        "-CAkey cab.key -CAcreateserial -out clib.crt -days 2 2>&1",
        s->prefix);
    sh_ok(cmd);
}

/* TLS 1.3 session tickets wait in the socket for the first response, to
 * leave in one segment with it: a client that sends its request gets them,
 * one that sends nothing after the handshake gets them too (waiting for
 * the request lets them go), and both resume with them. */
START_TEST(tickets_reach_the_client)
{
    struct kp_h_server s;
    char *out = NULL;
    const char *feeds[] = {"printf '" GET_CLOSE "'", "sleep 1"};

    start(&s, NULL, HTTP);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(kp_t_sh(&out,
                                 "%s | timeout 10 " OPENSSL
                                 " s_client -connect 127.0.0.1:%d -tls1_3 -sess_out "
                                 "%sconf/t%d.sess %s 2>&1",
                                 feeds[i], s.port, s.prefix, i, i == 0 ? "-ign_eof" : ""),
                         0);
        ck_assert_msg(i == 1 || strstr(out, "hello tls") != NULL, "%s", out);
        free(out);
        char opts[512];
        snprintf(opts, sizeof(opts), "-tls1_3 -sess_in %sconf/t%d.sess", s.prefix, i);
        ck_assert_int_eq(s_client(&s, opts, GET_CLOSE, &out), 0);
        ck_assert_msg(strstr(out, "\nReused, TLSv1.3") != NULL && strstr(out, "hello tls"),
                      "case %d: %s", i, out);
        free(out);
    }
    kp_h_stop(&s);
}
END_TEST

/* A certificate file without its chain: the chain comes from the CAs the
 * server knows (here ssl_client_certificate), built once at load; a file
 * with its chain sends that one, and a certificate whose issuer is not
 * known goes alone. s_client -showcerts prints each certificate sent. */
START_TEST(chain_from_the_store)
{
    struct kp_h_server s;
    char *out = NULL;

    make_certs(&s);
    make_ca_signed(&s, "leaf", "localhost");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %sconf && cat leaf.crt ca.crt > full.crt", s.prefix);
    sh_ok(cmd);
    kp_h_config(&s, "master_process off;",
                "server { listen 127.0.0.1:@PORT@ ssl; server_name localhost;\n"
                "  ssl_certificate leaf.crt; ssl_certificate_key leaf.key;\n"
                "  ssl_verify_client optional; ssl_client_certificate ca.crt;\n"
                "  return 200 \"ok\\n\"; }\n"
                "server { listen 127.0.0.1:@PORT2@ ssl; server_name localhost;\n"
                "  ssl_certificate full.crt; ssl_certificate_key leaf.key;\n"
                "  ssl_certificate rsa.crt; ssl_certificate_key rsa.key;\n"
                "  return 200 \"ok\\n\"; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    const int ports[] = {s.port, s.port2, s.port2};
    const char *sigalgs[] = {"", "-sigalgs ECDSA+SHA256", "-sigalgs RSA-PSS+SHA256"};
    const int expect[] = {2, 2, 1};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kp_t_sh(&out,
                                 "printf 'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n"
                                 "Connection: close\\r\\n\\r\\n' | timeout 10 " OPENSSL
                                 " s_client -connect 127.0.0.1:%d -showcerts -ign_eof %s "
                                 "-CAfile %sconf/ca.crt 2>&1 | grep -e 'BEGIN CERTIFICATE' -e "
                                 "'Verify return code'",
                                 ports[i], sigalgs[i], s.prefix),
                         0);
        int n = 0;
        for (const char *p = strstr(out, "BEGIN CERTIFICATE"); p != NULL;
             p = strstr(p + 1, "BEGIN CERTIFICATE"))
            n++;
        ck_assert_msg(n == expect[i], "case %d: %d certificates sent:\n%s", i, n, out);
        /* The chains sent verify against the CA. */
        ck_assert_msg(i == 2 || strstr(out, "Verify return code: 0 (ok)") != NULL, "%s", out);
        free(out);
    }
    kp_h_stop(&s);
}
END_TEST

/* curl with conf/clib.crt as client certificate: SNI sni, Host host; the
 * body then " STATUS" in *out. */
static int curl_clib(const struct kp_h_server *s, const char *sni, const char *host, char **out)
{
    return kp_t_sh(out,
                   "/usr/bin/curl -sS -k --max-time 10 --cert %sconf/clib.crt --key "
                   "%sconf/clib.key --resolve %s:%d:127.0.0.1 -H 'Host: %s' -w ' %%{http_code}' "
                   "https://%s:%d/ 2>&1",
                   s->prefix, s->prefix, sni, s->port, host, sni, s->port);
}

/* A certificate verified under the SNI server's CAs does not open another
 * server that verifies against other CAs: a Host naming it gets 421. */
START_TEST(client_certificate_sni_host_mismatch)
{
    struct kp_h_server s;
    char *out = NULL;

    make_certs(&s);
    make_ca_signed(&s, "a", "a.test");
    make_second_ca(&s);
    kp_h_config(&s, "master_process off;",
                "server { listen 127.0.0.1:@PORT@ ssl; server_name a.test;\n"
                "  ssl_certificate a.crt; ssl_certificate_key a.key;\n"
                "  ssl_verify_client on; ssl_client_certificate ca.crt;\n"
                "  return 200 \"a secret\\n\"; }\n"
                "server { listen 127.0.0.1:@PORT@ ssl; server_name b.test;\n"
                "  ssl_certificate b.crt; ssl_certificate_key b.key;\n"
                "  ssl_verify_client on; ssl_client_certificate cab.crt;\n"
                "  return 200 \"b\\n\"; }\n"
                "server { listen 127.0.0.1:@PORT@ ssl; server_name open.test;\n"
                "  ssl_certificate b.crt; ssl_certificate_key b.key;\n"
                "  return 200 \"open\\n\"; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    /* Its own server: served. */
    ck_assert_int_eq(curl_clib(&s, "b.test", "b.test", &out), 0);
    ck_assert_str_eq(out, "b\n 200");
    free(out);
    /* SNI b.test (CA B), Host a.test (CA A): refused. */
    ck_assert_int_eq(curl_clib(&s, "b.test", "a.test", &out), 0);
    ck_assert_msg(strstr(out, "a secret") == NULL && strstr(out, " 421") != NULL, "%s", out);
    free(out);
    /* SNI open.test (verifies nothing), Host a.test: refused too. */
    ck_assert_int_eq(curl_clib(&s, "open.test", "a.test", &out), 0);
    ck_assert_msg(strstr(out, "a secret") == NULL && strstr(out, " 421") != NULL, "%s", out);
    free(out);
    /* SNI b.test (verifies), Host open.test: refused, as nginx does. */
    ck_assert_int_eq(curl_clib(&s, "b.test", "open.test", &out), 0);
    ck_assert_msg(strstr(out, " 421") != NULL, "%s", out);
    free(out);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "client attempted to request the server name different") != NULL,
                  "%s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* A TLS 1.3 session made with a server that verified the client's
 * certificate cannot be resumed under the name of another server that
 * verifies against other CAs: its stored verify result would pass there. */
START_TEST(resumed_session_keeps_its_server)
{
    struct kp_h_server s;
    char *out = NULL, opts[1024];

    make_certs(&s);
    make_ca_signed(&s, "a", "a.test");
    make_ca_signed(&s, "client", "client");
    make_second_ca(&s);
    kp_h_config(&s, "master_process off;",
                "server { listen 127.0.0.1:@PORT@ ssl; server_name a.test;\n"
                "  ssl_certificate a.crt; ssl_certificate_key a.key;\n"
                "  ssl_verify_client on; ssl_client_certificate ca.crt;\n"
                "  return 200 \"a verify=$ssl_client_verify\\n\"; }\n"
                "server { listen 127.0.0.1:@PORT@ ssl; server_name b.test;\n"
                "  ssl_certificate b.crt; ssl_certificate_key b.key;\n"
                "  ssl_verify_client on; ssl_client_certificate cab.crt;\n"
                "  return 200 \"b verify=$ssl_client_verify\\n\"; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    snprintf(opts, sizeof(opts),
             "-tls1_3 -servername a.test -cert %sconf/client.crt -key %sconf/client.key "
             "-sess_out %sa.sess",
             s.prefix, s.prefix, s.prefix);
    ck_assert_int_eq(s_client(&s, opts,
                              "GET / HTTP/1.1\\r\\nHost: a.test\\r\\nConnection: close\\r\\n\\r\\n",
                              &out),
                     0);
    ck_assert_msg(strstr(out, "a verify=SUCCESS") != NULL, "%s", out);
    free(out);
    /* The same session back under a.test resumes: the session is good. */
    snprintf(opts, sizeof(opts), "-tls1_3 -servername a.test -sess_in %sa.sess", s.prefix);
    s_client(&s, opts, "GET / HTTP/1.1\\r\\nHost: a.test\\r\\nConnection: close\\r\\n\\r\\n", &out);
    ck_assert_msg(strstr(out, "Reused, TLSv1.3") != NULL && strstr(out, "a verify=SUCCESS"), "%s",
                  out);
    free(out);
    /* Under b.test, without a certificate: never b's SUCCESS. */
    snprintf(opts, sizeof(opts), "-tls1_3 -servername b.test -sess_in %sa.sess", s.prefix);
    s_client(&s, opts, "GET / HTTP/1.1\\r\\nHost: b.test\\r\\nConnection: close\\r\\n\\r\\n", &out);
    ck_assert_msg(strstr(out, "b verify=SUCCESS") == NULL && strstr(out, "Reused,") == NULL, "%s",
                  out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* The default server refuses every handshake (no certificate needed); a
 * name that has a server is served. */
START_TEST(reject_handshake)
{
    struct kp_h_server s;
    char *out = NULL;

    start(&s, NULL,
          "server { listen 127.0.0.1:@PORT@ ssl default_server; ssl_reject_handshake on; }\n"
          "server { listen 127.0.0.1:@PORT@ ssl; server_name localhost;\n"
          "  ssl_certificate ec.crt; ssl_certificate_key ec.key; }\n");
    ck_assert_int_ne(s_client(&s, "-servername unknown.test", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "unrecognized name") != NULL, "%s", out);
    free(out);
    ck_assert_int_ne(s_client(&s, "-noservername", GET_CLOSE, &out), 0);
    free(out);
    ck_assert_int_eq(s_client(&s, "-servername localhost", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "hello tls") != NULL, "%s", out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* `kelpie -t` on a configuration; returns the exit code, stderr in *err. */
static int test_config(const struct kp_h_server *s, const char *http, char **err)
{
    char prefix[256], *out = NULL;

    kp_h_config(s, NULL, http);
    snprintf(prefix, sizeof(prefix), "%s", s->prefix);
    char *const argv[] = {(char *)kp_h_binary(), "-p", prefix, "-t", NULL};
    int rc = kp_h_run(argv, &out, err);
    free(out);
    return rc;
}

/* ssl_stapling on without a file, as most HTTPS guides write it (with
 * ssl_stapling_verify and a resolver): kelpie fetches no OCSP response, so
 * stapling is ignored with one located [warn], as nginx ignores it for a
 * certificate without a responder, and the site is served. */
START_TEST(stapling_without_file_warns)
{
    static const char *const site =
        "resolver 1.1.1.1 [2606:4700:4700::1111] valid=60s; resolver_timeout 2s;\n"
        "server { listen 127.0.0.1:@PORT@ ssl;\n"
        "  ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
        "  ssl_stapling on; ssl_stapling_verify on; }\n";
    struct kp_h_server s;
    char *err = NULL, *out = NULL;

    make_certs(&s);
    ck_assert_int_eq(test_config(&s, site, &err), 0);
    ck_assert_msg(strstr(err, "[warn] \"ssl_stapling\" ignored") != NULL &&
                      strstr(err, "kelpie.conf:9") != NULL && strstr(err, "[emerg]") == NULL,
                  "%s", err);
    free(err);
    kp_h_config(&s, "master_process off;", site);
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(curl(&s, "ec.crt", "localhost", "/", "", &out), 0);
    ck_assert_str_eq(out, "hello tls\n");
    free(out);
    ck_assert_int_eq(s_client(&s, "-status", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "OCSP response: no response sent") != NULL, "%s", out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* ssl_stapling_file: the response is stapled when the client asks. */
START_TEST(stapling_from_file)
{
    struct kp_h_server s;
    char cmd[1024], *out = NULL;

    make_certs(&s);
    make_ca_signed(&s, "srv", "localhost");
    snprintf(cmd, sizeof(cmd),
             "cd %sconf && : > index.txt && " OPENSSL " ocsp -issuer ca.crt -cert srv.crt "
             "-reqout req.der 2>&1 && " OPENSSL " ocsp -index index.txt -rsigner ca.crt -rkey "
             "ca.key -CA ca.crt -reqin req.der -respout resp.der -ndays 1 2>&1",
             s.prefix);
    sh_ok(cmd);
    kp_h_config(&s, "master_process off;",
                "server { listen 127.0.0.1:@PORT@ ssl;\n"
                "  ssl_certificate srv.crt; ssl_certificate_key srv.key;\n"
                "  ssl_stapling on; ssl_stapling_file resp.der; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(s_client(&s, "-status", GET_CLOSE, &out), 0);
    ck_assert_msg(strstr(out, "OCSP Response Status: successful") != NULL, "%s", out);
    free(out);
    kp_h_stop(&s);
}
END_TEST

/* The body's lines start at line 7 of the file kp_h_config writes. */
START_TEST(config_errors)
{
    static const struct {
        const char *http, *want;
    } cases[] = {
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key rsa.key; }\n",
         "SSL_CTX_use_PrivateKey(\""},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key b.key; }\n",
         "key values mismatch"},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate missing.crt;\n"
         "  ssl_certificate_key ec.key; }\n",
         "cannot load certificate \""},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key ec.key; ssl_ciphers NOSUCHCIPHER; }\n",
         "SSL_CTX_set_cipher_list(\"NOSUCHCIPHER\") failed"},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "\n"
         "  ssl_protocols TLSv1.2 TLSv9; }\n",
         "invalid value \"TLSv9\""},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key ec.key; ssl_session_cache builtin shared:SSL; }\n",
         "invalid value \"shared:SSL\""},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key ec.key; ssl_session_ticket_key ec.key; }\n",
         "must be 48 or 80 bytes"},
        {"server { listen 127.0.0.1:@PORT@ ssl;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key ec.key; ssl_early_data on; }\n",
         "\"ssl_early_data on\" is not supported"},
        {"server { listen 127.0.0.1:@PORT@ ssl; ssl_verify_client on;\n"
         "  ssl_certificate ec.crt;\n"
         "  ssl_certificate_key ec.key; }\n",
         "no ssl_client_certificate"},
    };
    struct kp_h_server s;
    char *err = NULL;

    make_certs(&s);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(test_config(&s, cases[i].http, &err), 1);
        ck_assert_msg(strstr(err, "[emerg]") != NULL && strstr(err, cases[i].want) != NULL &&
                          strstr(err, "kelpie.conf:9") != NULL,
                      "case %zu: %s", i, err);
        free(err);
    }
    ck_assert_int_eq(test_config(&s, "server { listen 127.0.0.1:@PORT@ ssl; }\n", &err), 1);
    ck_assert_msg(strstr(err, "no \"ssl_certificate\" is defined") != NULL &&
                      strstr(err, "kelpie.conf:7") != NULL,
                  "%s", err);
    free(err);
    ck_assert_int_eq(test_config(&s, HTTP, &err), 0);
    free(err);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, curl_serves_https);
    tcase_add_test(tc, ecdsa_and_rsa_by_client);
    tcase_add_test(tc, sni_picks_the_server);
    tcase_add_test(tc, alpn_http11_or_http10);
    tcase_add_test(tc, ssl_buffer_size_bounds_records);
    tcase_add_test(tc, old_protocols_refused);
    tcase_add_test(tc, protocols_directive);
    tcase_add_test(tc, plain_http_gets_400);
    tcase_add_test(tc, plain_http_error_page_497);
    tcase_add_test(tc, truncated_client_hello);
    tcase_add_test(tc, keepalive_and_large_body);
    tcase_add_test(tc, password_protected_key);
    tcase_add_test(tc, client_certificate_verified);
    tcase_add_test(tc, client_certificate_sni_host_mismatch);
    tcase_add_test(tc, resumed_session_keeps_its_server);
    tcase_add_test(tc, chain_from_the_store);
    tcase_add_test(tc, tickets_reach_the_client);
    tcase_add_test(tc, reject_handshake);
    tcase_add_test(tc, stapling_from_file);
    tcase_add_test(tc, stapling_without_file_warns);
    tcase_add_test(tc, config_errors);
    /* A build without OpenSSL (configure --without-ssl) has nothing to test. */
    if (kp_http_ssl_available())
        suite_add_tcase(s, tc);
    return s;
}
