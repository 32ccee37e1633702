/* Access logs against the real binary: the combined format, custom and
 * escape=json formats, per-location logs, access_log off, buffer= (nothing
 * written before the buffer fills or the server stops), flush= (written by
 * the timer), and reopen on SIGUSR1. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define REQ(path, extra) "GET " path " HTTP/1.1\r\nHost: localhost\r\n" extra "\r\n"

static const char *CONF =
    "log_format mine '$request_method $uri $status $body_bytes_sent $http_x_test \"$args\"';\n"
    "log_format more '$request_uri|$arg_a|$cookie_c|$host|$server_port|$remote_user|$pipe|"
    "$sent_http_content_type|$document_root|$request_filename|$is_args|$query_string';\n"
    "log_format js escape=json '{\"ua\":\"$http_user_agent\",\"uri\":\"$uri\",\"r\":\"$args\"}';\n"
    "log_format raw escape=none '$http_user_agent|$http_x_none|$arg_q|$status';\n"
    "log_format blank '$http_referer|$http_x_none|$arg_q|$arg_z|$cookie_c|$cookie_z';\n"
    "log_format gz '$uri $status \"$gzip_ratio\" u=$upstream_response_time,$upstream_addr';\n"
    "log_format rc '$request_method $uri $status [$request_completion][$http2]'\n"
    "    '[$is_args][$https][$server_name][$request_body]';\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    access_log logs/access.log combined;\n"
    "    access_log logs/mine.log mine;\n"
    "    location /json/ { access_log logs/json.log js; }\n"
    "    location /quiet/ { access_log off; }\n"
    "    location /raw/ { access_log logs/raw.log raw; access_log logs/blank.log blank;\n"
    "                  access_log logs/rawc.log combined; }\n"
    "    location /more/ { access_log logs/more.log more; }\n"
    "    location /buf/ { access_log logs/buf.log mine buffer=64k; }\n"
    "    location /flush/ { access_log logs/flush.log mine buffer=64k flush=200ms; }\n"
    "    location /gzlog/ { access_log logs/gzlog.log.gz mine gzip=6 flush=200ms; }\n"
    "    location /cond/ {\n"
    "        access_log logs/errors.log mine if=$loggable;\n"
    "        access_log logs/tagged.log mine buffer=4k if=$arg_log$http_x_log;\n"
    "    }\n"
    "    location /rc/ { access_log logs/rc.log rc; limit_rate 64k; }\n"
    "    location /closed/ { return 499; }\n"
    "    location /late/ { return 408; }\n"
    "    location /gz/ {\n"
    "        gzip on; gzip_types text/plain; gzip_min_length 1;\n"
    "        access_log logs/gz.log gz;\n"
    "    }\n"
    "}\n"
    "map $status $loggable { ~^[23] 0; default 1; }\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/a.txt", "hello\n");
    kp_h_write(s, "html/json/x.txt", "j");
    kp_h_write(s, "html/quiet/x.txt", "q");
    kp_h_write(s, "html/raw/x.txt", "r");
    kp_h_write(s, "html/more/x.txt", "m");
    kp_h_write(s, "html/buf/x.txt", "b");
    kp_h_write(s, "html/flush/x.txt", "f");
    kp_h_write(s, "html/gzlog/x.txt", "g");
    kp_h_write(s, "html/cond/ok.txt", "c");
    kp_h_write(s, "html/rc/x.txt", "x");
    kp_h_write(s, "html/gz/x.txt",
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

static int get(const struct kp_h_server *s, const char *raw)
{
    struct kp_h_resp r;

    ck_assert_int_eq(kp_h_request(s->port, raw, &r), 0);
    kp_h_resp_free(&r);
    return r.status;
}

/* Wait (generously) until path contains needle. */
static void wait_for(const struct kp_h_server *s, const char *path, const char *needle)
{
    if (!kp_p_file_wait(s, path, needle, 5000)) {
        char *text = kp_h_read(s, path);
        ck_abort_msg("%s never contained \"%s\"; it has:\n%s", path, needle,
                     text ? text : "(no file)");
    }
}

START_TEST(accesslog_combined_and_custom)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/a.txt?q=1", "User-Agent: ua/1.0\r\nReferer: http://ref/\r\n"
                                               "X-Test: hello\r\n")),
                     200);
    wait_for(&s, "logs/access.log",
             "] \"GET /a.txt?q=1 HTTP/1.1\" 200 6 \"http://ref/\" \"ua/1.0\"\n");
    char *text = kp_h_read(&s, "logs/access.log");
    ck_assert_msg(strncmp(text, "127.0.0.1 - - [", 15) == 0, "%s", text);
    /* [22/Nov/2026:10:00:00 +0000] */
    ck_assert_msg(text[17] == '/' && text[21] == '/' && text[26] == ':' && text[35] == ' ' &&
                      text[41] == ']',
                  "%s", text);
    free(text);
    wait_for(&s, "logs/mine.log", "GET /a.txt 200 6 hello \"q=1\"\n");
    /* Absent values are "-"; the status of an error is logged too. */
    ck_assert_int_eq(get(&s, REQ("/missing", "")), 404);
    wait_for(&s, "logs/mine.log", "GET /missing 404 ");
    wait_for(&s, "logs/access.log", "\"GET /missing HTTP/1.1\" 404 ");
    wait_for(&s, "logs/access.log", " \"-\" \"-\"\n");
    text = kp_h_read(&s, "logs/mine.log");
    ck_assert_ptr_nonnull(strstr(text, " - \"-\"\n"));
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* The variables of the one registry, in a log_format: the same values
 * `return` and `if` see. */
START_TEST(accesslog_registry_variables)
{
    struct kp_h_server s;
    char want[1024];

    start(&s);
    ck_assert_int_eq(get(&s, "GET /more/x.txt?a=1&b=2 HTTP/1.1\r\nHost: EX.Test.\r\n"
                             "Cookie: z=0; c=yum\r\nAuthorization: Basic Ym9iOnNlY3JldA==\r\n\r\n"),
                     200);
    snprintf(want, sizeof(want),
             "/more/x.txt?a=1&b=2|1|yum|ex.test|%d|bob|.|text/plain|%shtml|%shtml/more/x.txt|?|"
             "a=1&b=2\n",
             s.port, s.prefix, s.prefix);
    wait_for(&s, "logs/more.log", want);
    kp_h_stop(&s);
}
END_TEST

START_TEST(accesslog_json_and_escaping)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/json/x.txt?a=%22", "User-Agent: a\"b\\c\tz\r\n")), 200);
    wait_for(&s, "logs/json.log",
             "{\"ua\":\"a\\\"b\\\\c\\tz\",\"uri\":\"/json/x.txt\",\"r\":\"a=%22\"}\n");
    /* A location with its own access_log does not also log to the server's. */
    ck_assert_int_eq(get(&s, REQ("/a.txt", "User-Agent: q\"\r\n")), 200);
    wait_for(&s, "logs/access.log", "\"GET /a.txt HTTP/1.1\" 200 6 \"-\" \"q\\x22\"\n");
    char *text = kp_h_read(&s, "logs/access.log");
    ck_assert_ptr_null(strstr(text, "/json/"));
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* nginx's escape=none writes values as they are, a missing one as nothing;
 * with the default escaping a field, argument or cookie that is present
 * but empty is logged as nothing, only a missing one as "-". */
START_TEST(accesslog_escape_none_and_empty_values)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/raw/x.txt?q=a%22b", "User-Agent: a\"b\\c\xe9\r\n")), 200);
    wait_for(&s, "logs/raw.log", "a\"b\\c\xe9||a%22b|200\n");
    ck_assert_int_eq(get(&s, REQ("/raw/x.txt?q=&y", "Referer:\r\nCookie: c=\r\n")), 200);
    wait_for(&s, "logs/blank.log", "-|-|a%22b|-|-|-\n|-||-||-\n");
    wait_for(&s, "logs/rawc.log", "\"GET /raw/x.txt?q=&y HTTP/1.1\" 200 1 \"\" \"-\"\n");
    kp_h_stop(&s);
}
END_TEST

/* nginx's log format for compression (its gzip module's example):
 * $gzip_ratio is the original length over the compressed one, two
 * decimals; "-" when the response was not compressed. The upstream
 * variables of proxy log formats are "-" on a static site. */
START_TEST(accesslog_gzip_ratio)
{
    struct kp_h_server s;
    unsigned whole, frac;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/gz/x.txt", "Accept-Encoding: gzip\r\n")), 200);
    ck_assert_int_eq(get(&s, REQ("/gz/x.txt", "")), 200);
    wait_for(&s, "logs/gz.log", "/gz/x.txt 200 \"-\" u=-,-\n");
    char *text = kp_h_read(&s, "logs/gz.log");
    ck_assert_msg(sscanf(text, "/gz/x.txt 200 \"%u.%2u\" u=-,-\n", &whole, &frac) == 2 &&
                      whole >= 2 && strstr(text, "\" u=-,-\n") != NULL,
                  "%s", text);
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* The text gzip -dc makes of a prefix-relative file (NULL if it fails). */
static char *gunzip(const struct kp_h_server *s, const char *path)
{
    char full[512], *out, *err;

    snprintf(full, sizeof(full), "%s%s", s->prefix, path);
    char *argv[] = {"/bin/gzip", "-dc", full, NULL};
    int rc = kp_h_run(argv, &out, &err);
    free(err);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* access_log ... gzip: each flush of the buffer is one gzip member, so that
 * the file is what gzip -dc (zcat) reads as the lines, as nginx writes it. */
START_TEST(accesslog_gzip)
{
    struct kp_h_server s;
    char *text = NULL;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/gzlog/x.txt?n=1", "")), 200);
    for (int i = 0; i < 100 && (text == NULL || strstr(text, "x.txt") == NULL); i++) {
        free(text);
        kp_h_sleep_ms(50);
        text = gunzip(&s, "logs/gzlog.log.gz");
    }
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "GET /gzlog/x.txt 200 1 - \"n=1\"\n");
    free(text);
    /* a second flush appends a second member: both lines come out */
    ck_assert_int_eq(get(&s, REQ("/gzlog/x.txt?n=2", "")), 200);
    text = NULL;
    for (int i = 0; i < 100 && (text == NULL || strstr(text, "n=2") == NULL); i++) {
        free(text);
        kp_h_sleep_ms(50);
        text = gunzip(&s, "logs/gzlog.log.gz");
    }
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "GET /gzlog/x.txt 200 1 - \"n=1\"\nGET /gzlog/x.txt 200 1 - \"n=2\"\n");
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* A client that closes its connection before its head is complete gets no
 * answer, but nginx logs the request as a 400 with nothing sent and as much
 * of the request line as came; a connection closed before any byte is not
 * logged. */
START_TEST(accesslog_closed_mid_head)
{
    static const char *const heads[] = {"GET /half.txt HTTP/1.1\r\nHost: localhost\r\n", "GET /hal",
                                        ""};
    struct kp_h_server s;

    start(&s);
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        int fd = kp_h_connect(s.port);
        ck_assert_int_ge(fd, 0);
        kp_h_send_str(fd, heads[i]);
        kp_h_sleep_ms(100);
        close(fd);
    }
    ck_assert_int_eq(get(&s, REQ("/a.txt?last", "")), 200);
    wait_for(&s, "logs/access.log", "/a.txt?last");
    char *text = kp_h_read(&s, "logs/access.log");
    ck_assert_msg(strstr(text, "] \"GET /half.txt HTTP/1.1\" 400 0 \"-\" \"-\"\n") != NULL &&
                      strstr(text, "] \"GET /hal\" 400 0 \"-\" \"-\"\n") != NULL &&
                      kp_p_count_lines(text, "\"") == 3,
                  "%s", text);
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* A bare `return 499;` or `return 408;` closes the connection without a
 * response, as 444 does, and the code is what the log says ($status), as
 * nginx 1.22 logs it. */
START_TEST(accesslog_closed_by_return)
{
    static const char *const paths[] = {"/closed/", "/late/"};
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    for (size_t i = 0; i < 2; i++) {
        char req[128];
        int fd = kp_h_connect(s.port);
        ck_assert_int_ge(fd, 0);
        snprintf(req, sizeof(req), REQ("%s", ""), paths[i]);
        kp_h_send_str(fd, req);
        ck_assert_int_ne(kp_h_recv(fd, &r, false), 0);
        ck_assert_uint_eq(r.head_len, 0);
        close(fd);
    }
    wait_for(&s, "logs/mine.log", "GET /closed/ 499 0 ");
    wait_for(&s, "logs/mine.log", "GET /late/ 408 0 ");
    kp_h_stop(&s);
}
END_TEST

/* $request_completion is "OK" for a response that went out in full, a
 * 404 or a HEAD's alike, and empty (logged as nothing) for a download the
 * client broke off; nginx 1.22 logs the same four lines. $http2, empty
 * on HTTP/1.x, is logged as nothing too, as by nginx, and so are $is_args
 * without arguments, $https on a plain connection and the empty
 * $server_name of a server without one; $request_body, which only a proxy
 * module fills, is "-". */
START_TEST(accesslog_request_completion)
{
    struct kp_h_server s;
    size_t big = 1 << 20;
    char *body = malloc(big + 1);

    start(&s);
    memset(body, 'b', big);
    body[big] = '\0';
    kp_h_write(&s, "html/rc/big", body);
    free(body);
    ck_assert_int_eq(get(&s, REQ("/rc/x.txt", "")), 200);
    ck_assert_int_eq(get(&s, REQ("/rc/none", "")), 404);
    ck_assert_int_eq(get(&s, "HEAD /rc/x.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"), 200);
    wait_for(&s, "logs/rc.log", "HEAD /rc/x.txt 200 [OK][][][][][-]\n");
    /* limit_rate keeps the 1 MiB going for many seconds: the client leaves
     * after the first bytes, unread data behind it (a reset). */
    int fd = kp_h_connect(s.port);
    char got[512];
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, REQ("/rc/big", ""));
    ck_assert_int_gt(read(fd, got, sizeof(got)), 0);
    close(fd);
    wait_for(&s, "logs/rc.log", "GET /rc/big 200 [][][][][][-]\n");
    char *text = kp_h_read(&s, "logs/rc.log");
    ck_assert_msg(strstr(text, "GET /rc/x.txt 200 [OK][][][][][-]\n") != NULL &&
                      strstr(text, "GET /rc/none 404 [OK][][][][][-]\n") != NULL,
                  "%s", text);
    free(text);
    kp_h_stop(&s);
}
END_TEST

START_TEST(accesslog_off)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/quiet/x.txt", "")), 200);
    /* The next request is logged; by then the quiet one would have been. */
    ck_assert_int_eq(get(&s, REQ("/a.txt", "")), 200);
    wait_for(&s, "logs/access.log", "GET /a.txt ");
    char *text = kp_h_read(&s, "logs/access.log");
    ck_assert_ptr_null(strstr(text, "/quiet/"));
    free(text);
    text = kp_h_read(&s, "logs/mine.log");
    ck_assert_ptr_null(strstr(text, "/quiet/"));
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* access_log ... if=: nginx's usual map on $status logs only the errors;
 * a condition that is "" or "0" writes nothing, any other value writes. */
START_TEST(accesslog_if_condition)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/cond/ok.txt", "")), 200);
    ck_assert_int_eq(get(&s, REQ("/cond/missing.txt", "")), 404);
    ck_assert_int_eq(get(&s, REQ("/cond/ok.txt?log=0", "")), 200);
    ck_assert_int_eq(get(&s, REQ("/cond/ok.txt?log=yes", "")), 200);
    ck_assert_int_eq(get(&s, REQ("/cond/ok.txt?x=1", "X-Log: 1\r\n")), 200);
    wait_for(&s, "logs/errors.log", "GET /cond/missing.txt 404");
    kp_h_signal_wait(&s, SIGQUIT, 10000); /* writes out tagged.log's buffer */
    char *text = kp_h_read(&s, "logs/errors.log");
    ck_assert_msg(strstr(text, " 200 ") == NULL, "%s", text);
    free(text);
    text = kp_h_read(&s, "logs/tagged.log");
    ck_assert_ptr_nonnull(strstr(text, "\"log=yes\""));
    ck_assert_ptr_nonnull(strstr(text, "\"x=1\""));
    ck_assert_msg(strstr(text, "log=0") == NULL, "%s", text);
    ck_assert_msg(kp_p_count_lines(text, "GET /cond/") == 2, "%s", text);
    free(text);
    kp_h_stop(&s);
}
END_TEST

START_TEST(accesslog_buffer_and_flush)
{
    struct kp_h_server s;

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/buf/x.txt", "")), 200);
    ck_assert_int_eq(get(&s, REQ("/flush/x.txt", "")), 200);
    /* flush=200ms: the timer writes the line out. */
    wait_for(&s, "logs/flush.log", "GET /flush/x.txt 200 1 - \"-\"\n");
    /* buffer=64k without flush=: nothing until the buffer fills or the
     * server stops; a graceful stop writes it. */
    ck_assert_int_eq(get(&s, REQ("/a.txt", "")), 200);
    wait_for(&s, "logs/access.log", "GET /a.txt ");
    char *text = kp_h_read(&s, "logs/buf.log");
    ck_assert_msg(text == NULL || text[0] == '\0', "buffered line written early: %s", text);
    free(text);
    ck_assert_int_ne(kp_h_signal_wait(&s, SIGQUIT, 10000), -1);
    text = kp_h_read(&s, "logs/buf.log");
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "GET /buf/x.txt 200 1 - \"-\"\n");
    free(text);
    kp_h_stop(&s);
}
END_TEST

START_TEST(accesslog_reopen)
{
    struct kp_h_server s;
    char from[256], to[256];

    start(&s);
    ck_assert_int_eq(get(&s, REQ("/a.txt?n=1", "")), 200);
    wait_for(&s, "logs/access.log", "GET /a.txt?n=1 ");
    snprintf(from, sizeof(from), "%slogs/access.log", s.prefix);
    snprintf(to, sizeof(to), "%slogs/access.log.1", s.prefix);
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
    /* The reopen happens in the server's loop: retry until a request lands
     * in the new file. */
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(get(&s, REQ("/a.txt?n=2", "")), 200);
        char *text = kp_h_read(&s, "logs/access.log");
        bool done = text != NULL && strstr(text, "GET /a.txt?n=2 ") != NULL;
        free(text);
        if (done)
            break;
        usleep(100 * 1000);
    }
    wait_for(&s, "logs/access.log", "GET /a.txt?n=2 ");
    wait_for(&s, "logs/access.log.1", "GET /a.txt?n=1 ");
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_accesslog_suite(void)
{
    Suite *s = suite_create("accesslog");
    TCase *tc = tcase_create("accesslog");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, accesslog_combined_and_custom);
    tcase_add_test(tc, accesslog_json_and_escaping);
    tcase_add_test(tc, accesslog_registry_variables);
    tcase_add_test(tc, accesslog_escape_none_and_empty_values);
    tcase_add_test(tc, accesslog_gzip_ratio);
    tcase_add_test(tc, accesslog_gzip);
    tcase_add_test(tc, accesslog_closed_mid_head);
    tcase_add_test(tc, accesslog_closed_by_return);
    tcase_add_test(tc, accesslog_request_completion);
    tcase_add_test(tc, accesslog_off);
    tcase_add_test(tc, accesslog_if_condition);
    tcase_add_test(tc, accesslog_buffer_and_flush);
    tcase_add_test(tc, accesslog_reopen);
    suite_add_tcase(s, tc);
    return s;
}
