/* Certificates across reloads, with a master and two workers: wrk keeps
 * HTTPS keep-alive load on while kelpie reloads five times and the
 * certificate files are replaced after the second reload; wrk must see no
 * socket error and no failed status, and a new connection then gets the new
 * certificate. A broken certificate makes `kelpie -s reload` fail with the
 * reason while the certificate before it keeps serving. Sessions resume on
 * any worker and after a reload, by ticket and by session ID (TLS 1.3 and
 * 1.2) through the shared cache; tickets of an ssl_session_ticket_key file
 * even after a restart. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
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

/* --- resumption across workers and reloads ------------------------------------ */

/* One request over s_client; with sess_in, resuming that session. Returns
 * the pid in the body (the server answers "$pid") and whether the session
 * was resumed. */
static int pid_of_request(const struct kp_h_server *s, const char *opts, const char *sess_in,
                          const char *sess_out, bool *reused)
{
    char *out = NULL;
    char in[256] = "", outp[256] = "";

    if (sess_in != NULL)
        snprintf(in, sizeof(in), "-sess_in %s%s", s->prefix, sess_in);
    if (sess_out != NULL)
        snprintf(outp, sizeof(outp), "-sess_out %s%s", s->prefix, sess_out);
    int rc = kp_t_sh(&out,
                     "printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | "
                     "timeout 10 " OPENSSL " s_client -connect 127.0.0.1:%d -ign_eof %s %s %s "
                     "2>&1",
                     s->port, opts, in, outp);
    ck_assert_msg(rc == 0, "s_client: %s", out);
    const char *body = strstr(out, "\r\n\r\n");
    ck_assert_msg(body != NULL, "no response: %s", out);
    *reused = strstr(out, "\nReused, ") != NULL;
    int pid = atoi(body + 4);
    free(out);
    return pid;
}

/* Save a session from a first connection, then resume it until a worker
 * other than the one that made it answers; reload and resume it on a worker
 * of the new generation. */
static void resume_everywhere(const char *http, const char *opts)
{
    struct kp_h_server s;
    char *err = NULL;
    bool reused;

    kp_h_prepare(&s);
    kp_t_make_cert(&s, "ec", "ec", "localhost");
    kp_p_write_config(&s, geteuid() == 0 ? "worker_processes 2; user root;" : "worker_processes 2;",
                      NULL, http);
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert(kp_p_wait_children(s.pid, 2, 5000));
    int first = pid_of_request(&s, opts, NULL, "sess.pem", &reused);
    ck_assert(!reused);
    int other = 0;
    for (int i = 0; i < 60 && other == 0; i++) {
        int pid = pid_of_request(&s, opts, "sess.pem", NULL, &reused);
        ck_assert_msg(reused, "connection %d (worker %d) did not resume", i, pid);
        other = pid != first ? pid : 0;
    }
    ck_assert_msg(other != 0, "no other worker answered in 60 connections");
    ck_assert_msg(reload(&s, &err) == 0, "reload: %s", err);
    free(err);
    int pid = pid_of_request(&s, opts, "sess.pem", NULL, &reused);
    ck_assert_msg(reused && pid != first && pid != other,
                  "after the reload: worker %d (old %d, %d), reused %d", pid, first, other, reused);
    kp_h_stop(&s);
}

#define RESUME_SERVER(extra)                                                                       \
    "access_log off;\n"                                                                            \
    "server { listen 127.0.0.1:@PORT@ ssl reuseport;\n"                                            \
    "  ssl_certificate ec.crt; ssl_certificate_key ec.key;\n" extra                                \
    "  return 200 \"$pid\\n\"; }\n"

/* The same server, TLS 1.3 only. */
#define RESUME_SERVER_TLS13(extra) RESUME_SERVER("  ssl_protocols TLSv1.3;\n" extra)

START_TEST(ticket_resumes_on_every_worker_and_after_reload)
{
    resume_everywhere(RESUME_SERVER(""), "");
}
END_TEST

START_TEST(session_id_resumes_on_every_worker_and_after_reload)
{
    /* TLS 1.3 without tickets resumes through the cache (stateful
     * tickets carry only the session ID); TLS 1.2 by its session ID. */
    resume_everywhere(
        RESUME_SERVER("  ssl_session_cache shared:SSL:1m; ssl_session_tickets off;\n"), "");
    resume_everywhere(
        RESUME_SERVER("  ssl_session_cache shared:SSL:1m; ssl_session_tickets off;\n"), "-tls1_2");
}
END_TEST

/* ssl_session_ticket_key: tickets survive even a restart, with either size
 * of key file nginx reads (80 bytes: AES-256; 48 bytes: AES-128). */
START_TEST(ticket_key_file_survives_restart)
{
    static const int sizes[] = {80, 48};
    struct kp_h_server s;
    char *out = NULL;
    bool reused;

    kp_h_prepare(&s);
    kp_t_make_cert(&s, "ec", "ec", "localhost");
    ck_assert_int_eq(
        kp_t_sh(&out, "head -c %d /dev/urandom > %sconf/ticket.key", sizes[_i], s.prefix), 0);
    free(out);
    kp_h_config(&s, "master_process off;", RESUME_SERVER("  ssl_session_ticket_key ticket.key;\n"));
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_of_request(&s, "", NULL, "sess.pem", &reused);
    ck_assert(!reused);
    kp_h_signal_wait(&s, SIGTERM, 10000);
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_of_request(&s, "", "sess.pem", NULL, &reused);
    ck_assert_msg(reused, "a ticket of the key file was not accepted after a restart");
    kp_h_stop(&s);
}
END_TEST

/* A TLS 1.3 client uses a ticket once (OpenSSL's does): each resumption
 * must bring a new ticket, or every other connection of a client that
 * reconnects is a full handshake. Three connections in a chain, each
 * resuming with the session the one before saved, with the zone's rotating
 * keys and with a key file. */
START_TEST(resumption_brings_a_new_ticket)
{
    static const char *const http[] = {
        RESUME_SERVER_TLS13(""),
        RESUME_SERVER_TLS13("  ssl_session_ticket_key ticket.key;\n"),
    };
    struct kp_h_server s;
    char *out = NULL, path[512];
    bool reused;

    kp_h_prepare(&s);
    kp_t_make_cert(&s, "ec", "ec", "localhost");
    ck_assert_int_eq(kp_t_sh(&out, "head -c 80 /dev/urandom > %sconf/ticket.key", s.prefix), 0);
    free(out);
    kp_h_config(&s, "master_process off;", http[_i]);
    ck_assert_int_eq(kp_h_start(&s), 0);
    pid_of_request(&s, "", NULL, "s0.pem", &reused);
    ck_assert(!reused);
    for (int i = 1; i <= 2; i++) {
        char in[32], outf[32];
        snprintf(in, sizeof(in), "s%d.pem", i - 1);
        snprintf(outf, sizeof(outf), "s%d.pem", i);
        pid_of_request(&s, "", in, outf, &reused);
        ck_assert_msg(reused, "connection %d did not resume", i);
        snprintf(path, sizeof(path), "%s%s", s.prefix, outf);
        ck_assert_msg(access(path, R_OK) == 0, "resumed connection %d brought no new ticket", i);
    }
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_tls_reload_suite(void)
{
    Suite *s = suite_create("tls_reload");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, reload_switches_certificate_under_load);
    tcase_add_test(tc, ticket_resumes_on_every_worker_and_after_reload);
    tcase_add_test(tc, session_id_resumes_on_every_worker_and_after_reload);
    tcase_add_loop_test(tc, ticket_key_file_survives_restart, 0, 2);
    tcase_add_loop_test(tc, resumption_brings_a_new_ticket, 0, 2);
    /* A build without OpenSSL (configure --without-ssl) has nothing to test. */
    if (kp_http_ssl_available())
        suite_add_tcase(s, tc);
    return s;
}
