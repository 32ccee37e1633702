/* Certificates across reloads, with a master and two workers: wrk keeps
 * HTTPS keep-alive load on while kelpie reloads five times and the
 * certificate files are replaced after the second reload; wrk must see no
 * socket error and no failed status, and a new connection then gets the new
 * certificate. A broken certificate makes `kelpie -s reload` fail with the
 * reason while the certificate before it keeps serving. Tickets issued
 * before a reload are not required to work after it here (see check_tls). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kelpie/http/ssl.h"
#include "proc.h"
#include "tlsutil.h"

#define OPENSSL KP_T_OPENSSL
#define WRK     "/usr/bin/wrk"

/* SHA-256 fingerprint line of a certificate file, or of the one served. */
static char *fingerprint(const struct kp_h_server *s, const char *file)
{
    char *out = NULL;

    if (file != NULL)
        kp_t_sh(&out, OPENSSL " x509 -noout -fingerprint -sha256 -in %sconf/%s", s->prefix, file);
    else
        kp_t_sh(&out,
                "echo | timeout 10 " OPENSSL
                " s_client -connect 127.0.0.1:%d 2>/dev/null | " OPENSSL
                " x509 -noout -fingerprint -sha256",
                s->port);
    return out;
}

static int reload(const struct kp_h_server *s, char **err)
{
    char prefix[128], *out = NULL;

    snprintf(prefix, sizeof(prefix), "%s", s->prefix);
    char *argv[] = {(char *)kp_h_binary(), "-p", prefix, "-s", "reload", NULL};
    int rc = kp_h_run(argv, &out, err);
    free(out);
    return rc;
}

START_TEST(reload_switches_certificate_under_load)
{
    struct kp_h_server s;
    char *out = NULL, *err = NULL;

    if (access(WRK, X_OK) != 0) {
        fprintf(stderr, "tls reload: %s not found (tools/install-deps installs it): skipped\n",
                WRK);
        return;
    }
    kp_h_prepare(&s);
    kp_h_write(&s, "html/index.html", "hello tls\n");
    kp_t_make_cert(&s, "ec", "ec", "localhost");
    kp_t_make_cert(&s, "next", "ec", "localhost");
    /* The workers must read the temporary prefix (mode 0700). */
    kp_p_write_config(&s, geteuid() == 0 ? "worker_processes 2; user root;" : "worker_processes 2;",
                      NULL,
                      "access_log off;\n"
                      "server { listen 127.0.0.1:@PORT@ ssl;\n"
                      "  ssl_certificate ec.crt; ssl_certificate_key ec.key; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert(kp_p_wait_children(s.pid, 2, 5000));
    char *before = fingerprint(&s, "ec.crt"), *next = fingerprint(&s, "next.crt");
    char *served = fingerprint(&s, NULL);
    ck_assert_str_eq(served, before);
    free(served);

    ck_assert_int_eq(
        kp_t_sh(&out, WRK " -t 2 -c 8 -d 8s https://127.0.0.1:%d/ > %swrk.txt 2>&1 & echo $!",
                s.port, s.prefix),
        0);
    int wrk = atoi(out);
    free(out);
    kp_h_sleep_ms(1000);
    for (int i = 0; i < 5; i++) {
        if (i == 2) {
            ck_assert_int_eq(
                kp_t_sh(&out, "cd %sconf && mv next.key ec.key && mv next.crt ec.crt", s.prefix),
                0);
            free(out);
        }
        int rc = reload(&s, &err);
        ck_assert_msg(rc == 0, "reload %d: exit %d: %s", i, rc, err);
        free(err);
        kp_h_sleep_ms(700);
    }
    /* wrk runs 8 s: wait for its report. */
    char *report = NULL;
    for (int waited = 0; waited < 20000; waited += 100) {
        report = kp_h_read(&s, "wrk.txt");
        if (report != NULL && strstr(report, "Requests/sec") != NULL)
            break;
        free(report);
        report = NULL;
        kp_h_sleep_ms(100);
    }
    ck_assert_msg(report != NULL, "wrk (pid %d) did not finish", wrk);
    ck_assert_msg(strstr(report, "Socket errors") == NULL && strstr(report, "Non-2xx") == NULL &&
                      strstr(report, "requests in") != NULL,
                  "wrk: %s", report);
    fprintf(stderr, "tls reload [%s]: 5 reloads under load, wrk: %s", kp_h_events(),
            strstr(report, "Requests/sec"));
    free(report);
    served = fingerprint(&s, NULL);
    ck_assert_str_eq(served, next);
    free(served);

    /* A broken certificate: the reload fails and names it; the last good
     * one keeps serving. */
    kp_h_write(&s, "conf/ec.crt", "-----BEGIN CERTIFICATE-----\nbroken\n");
    int rc = reload(&s, &err);
    ck_assert_msg(rc == 1 && strstr(err, "cannot load certificate") != NULL &&
                      strstr(err, "ec.crt") != NULL,
                  "reload: exit %d: %s", rc, err);
    free(err);
    served = fingerprint(&s, NULL);
    ck_assert_str_eq(served, next);
    free(served);
    free(before);
    free(next);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_tls_reload_suite(void)
{
    Suite *s = suite_create("tls_reload");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, reload_switches_certificate_under_load);
    /* A build without OpenSSL (configure --without-ssl) has nothing to test. */
    if (kp_http_ssl_available())
        suite_add_tcase(s, tc);
    return s;
}
