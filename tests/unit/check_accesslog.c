/* Unit tests for accesslog.c: line formatting (combined, every variable,
 * both escapings, empty values) on a request built by hand, and the file
 * side: unbuffered, buffered, buffer overflow, flush timer, shared paths,
 * reopen and close. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/arena.h"
#include "kelpie/http/accesslog.h"
#include "kelpie/http/response.h"
#include "kelpie/http/server.h"
#include "kelpie/http/var.h"
#include "unit/conf_fixture.h"

#define COMBINED                                                                                   \
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "             \
    "\"$http_referer\" \"$http_user_agent\""

/* A request as the state machine would hand it to the log. */
struct fixture {
    struct kp_loop loop;
    struct kp_conn c;
    struct kp_http_conn hc;
    struct kp_http_services svc; /* the clock, $pid */
    struct kp_http_request r;
    struct kp_http_field fields[16];
    struct conf_fixture *cf; /* compiled formats */
    char raw[1024];
};

static struct fixture *fx_new(const char *head)
{
    struct fixture *fx = kp_calloc(1, sizeof(*fx));
    struct sockaddr_in *sin = (struct sockaddr_in *)&fx->c.peer;
    size_t len = strlen(head);

    sin->sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &sin->sin_addr);
    fx->c.number = 42;
    fx->c.requests = 3;
    strcpy(fx->loop.clock.local_time, "22/Nov/2026:10:00:00 +0100");
    strcpy(fx->loop.clock.iso8601, "2026-11-22T10:00:00+01:00");
    fx->loop.clock.msec = 10000;
    fx->loop.clock.wall_msec = UINT64_C(1700000000123);
    fx->hc.c = &fx->c;
    fx->hc.loop = &fx->loop;
    fx->svc = (struct kp_http_services){.clock = &fx->loop.clock, .pid = 4321};
    fx->r.hc = &fx->hc;
    fx->r.svc = &fx->svc;
    kp_arena_init(&fx->r.arena, 1024);
    fx->cf = conf_fixture_new("log_format");
    kp_http_response_init(&fx->r.resp);
    ck_assert_uint_lt(len, sizeof(fx->raw));
    memcpy(fx->raw, head, len);
    kp_http_parse_init(&fx->r.parser, NULL, fx->fields, 16);
    ck_assert_int_eq(kp_http_parse_request(&fx->r.parser, fx->raw, len), (ssize_t)len);
    fx->r.uri = KP_STR("/a b");
    fx->r.args = KP_STR("x=1");
    fx->r.resp.status = 200;
    fx->r.body_sent = 1234;
    fx->r.bytes_sent = 1500;
    fx->r.request_length = 120;
    fx->r.start_msec = 9998;
    return fx;
}

static void fx_free(struct fixture *fx)
{
    kp_arena_destroy(&fx->r.arena);
    conf_fixture_free(fx->cf);
    kp_free(fx);
}

static struct kp_http_log_format fmt_of(struct fixture *fx, const char *text, bool json)
{
    struct kp_http_log_format f = {
        .name = "t", .escape = json ? KP_HTTP_LOG_ESCAPE_JSON : KP_HTTP_LOG_ESCAPE_DEFAULT};

    ck_assert_int_eq(kp_http_cv_compile(&fx->cf->cf, text, &f.value), 0);
    ck_assert_int_eq(kp_http_var_check(&fx->cf->cf), 0);
    return f;
}

/* Format into a generous buffer and return it NUL-terminated (static). */
static const char *line_of(struct fixture *fx, const char *text, bool json)
{
    static char out[2048];
    struct kp_http_log_format f = fmt_of(fx, text, json);
    size_t n = kp_http_accesslog_format(&f, &fx->r, out, sizeof(out) - 1);

    ck_assert_uint_lt(n, sizeof(out));
    out[n] = '\0';
    return out;
}

static const char *HEAD_GET = "GET /a%20b?x=1 HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\n"
                              "User-Agent: curl/8 \"q\" \\ok\r\nReferer: http://r/\r\n"
                              "X-Custom-Thing: v1\r\nx-custom-thing: v2\r\n\r\n";

START_TEST(format_combined)
{
    struct fixture *fx = fx_new(HEAD_GET);

    ck_assert_str_eq(line_of(fx, COMBINED, false),
                     "192.0.2.7 - - [22/Nov/2026:10:00:00 +0100] \"GET /a%20b?x=1 HTTP/1.1\" "
                     "200 1234 \"http://r/\" \"curl/8 \\x22q\\x22 \\x5Cok\"\n");
    fx_free(fx);
}
END_TEST

START_TEST(format_every_variable)
{
    struct fixture *fx = fx_new(HEAD_GET);

    ck_assert_str_eq(line_of(fx,
                             "$time_iso8601|$bytes_sent|$request_time|$request_method|$uri|"
                             "$args|$host|$pid|$connection|$connection_requests|$msec|"
                             "$server_protocol|$request_length|$http_x_custom_thing|${status}x",
                             false),
                     "2026-11-22T10:00:00+01:00|1500|0.002|GET|/a b|x=1|www.example.com|4321|"
                     "42|3|1700000000.123|HTTP/1.1|120|v1|200x\n");
    fx_free(fx);
}
END_TEST

START_TEST(format_empty_and_missing)
{
    struct fixture *fx = fx_new("GET / HTTP/1.0\r\n\r\n");

    fx->r.args = KP_STR("");
    fx->r.resp.status = 0;
    ck_assert_str_eq(line_of(fx,
                             "$args $http_referer $http_user_agent $http_x_none $host "
                             "$status $remote_user $server_protocol",
                             false),
                     "- - - - - 000 - HTTP/1.0\n");
    ck_assert_str_eq(line_of(fx, "{\"a\":\"$args\",\"r\":\"$http_referer\",\"s\":$status}", true),
                     "{\"a\":\"\",\"r\":\"\",\"s\":000}\n");
    /* Without a connection the peer, clock and counters are simply absent. */
    fx->r.hc = NULL;
    fx->r.svc = NULL;
    ck_assert_str_eq(line_of(fx, "$remote_addr $time_local $msec $connection", false),
                     "- - 0.000 0\n");
    fx_free(fx);
}
END_TEST

START_TEST(format_escaping)
{
    struct fixture *fx = fx_new(HEAD_GET);

    fx->r.uri = KP_STR("/\x01\n\t\x7f\xc3\xa9\"\\x");
    ck_assert_str_eq(line_of(fx, "$uri", false), "/\\x01\\x0A\\x09\\x7F\\xC3\\xA9\\x22\\x5Cx\n");
    ck_assert_str_eq(line_of(fx, "{\"uri\":\"$uri\"}", true),
                     "{\"uri\":\"/\\u0001\\n\\t\x7f\xc3\xa9\\\"\\\\x\"}\n");
    fx->r.uri = KP_STR("\b\f\r\x1f");
    ck_assert_str_eq(line_of(fx, "$uri", true), "\\b\\f\\r\\u001F\n");
    /* Literal text is never escaped. */
    ck_assert_str_eq(line_of(fx, "\"\\ $status", false), "\"\\ 200\n");
    fx_free(fx);
}
END_TEST

START_TEST(format_ipv6_and_truncation)
{
    struct fixture *fx = fx_new(HEAD_GET);
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&fx->c.peer;
    struct kp_http_log_format f = fmt_of(fx, "$remote_addr $request", false);
    char small[8];

    memset(&fx->c.peer, 0, sizeof(fx->c.peer));
    sin6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr);
    ck_assert_str_eq(line_of(fx, "$remote_addr", false), "2001:db8::1\n");
    /* Too small: the full length is reported, and only size bytes written:
     * the line's first ones, no gap (syslog sends them as they are). */
    memset(small, '#', sizeof(small));
    size_t n = kp_http_accesslog_format(&f, &fx->r, small, 4);
    ck_assert_uint_eq(n, strlen("2001:db8::1 GET /a%20b?x=1 HTTP/1.1\n"));
    ck_assert_int_eq(memcmp(small, "2001", 4), 0);
    ck_assert_int_eq(small[4], '#');
    char mid[16];
    memset(mid, '#', sizeof(mid));
    ck_assert_uint_eq(kp_http_accesslog_format(&f, &fx->r, mid, 14), n);
    ck_assert_int_eq(memcmp(mid, "2001:db8::1 GE", 14), 0);
    ck_assert_int_eq(mid[14], '#');
    fx_free(fx);
}
END_TEST

/* --- files ------------------------------------------------------------------- */

struct files {
    char dir[64];
    char path_a[128], path_b[128];
    struct kp_http_log_format fmt;
    struct kp_http_access_log logs_srv[2]; /* a (unbuffered), b (buffered) */
    struct kp_http_access_log logs_loc[1]; /* b again, other settings */
    struct kp_http_loc_conf srv_loc, loc;
    struct kp_http_loc_conf *locs[1];
    struct kp_http_srv_conf srv;
    struct kp_http_srv_conf *srvs[1];
    struct kp_cycle cycle;
};

static void files_init(struct files *fs, struct fixture *fx, size_t buf_b, uint64_t flush_b)
{
    memset(fs, 0, sizeof(*fs));
    strcpy(fs->dir, "/tmp/kp-accesslog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fs->dir));
    snprintf(fs->path_a, sizeof(fs->path_a), "%s/a.log", fs->dir);
    snprintf(fs->path_b, sizeof(fs->path_b), "%s/b.log", fs->dir);
    fs->fmt = fmt_of(fx, "$status $uri", false);
    fs->logs_srv[0] = (struct kp_http_access_log){fs->path_a, &fs->fmt, 0, 0, NULL, NULL, 0};
    fs->logs_srv[1] =
        (struct kp_http_access_log){fs->path_b, &fs->fmt, buf_b / 2, flush_b * 2, NULL, NULL, 0};
    fs->logs_loc[0] =
        (struct kp_http_access_log){fs->path_b, &fs->fmt, buf_b, flush_b, NULL, NULL, 0};
    fs->srv_loc.access_logs = fs->logs_srv;
    fs->srv_loc.n_access_logs = 2;
    fs->loc.access_logs = fs->logs_loc;
    fs->loc.n_access_logs = 1;
    fs->locs[0] = &fs->loc;
    fs->srv.loc = &fs->srv_loc;
    fs->srv.all = fs->locs;
    fs->srv.n_all = 1;
    fs->srvs[0] = &fs->srv;
    fs->cycle.http.servers = fs->srvs;
    fs->cycle.http.n_servers = 1;
}

static void files_done(struct files *fs)
{
    unlink(fs->path_a);
    unlink(fs->path_b);
    char moved[160];
    snprintf(moved, sizeof(moved), "%s.1", fs->path_a);
    unlink(moved);
    rmdir(fs->dir);
}

/* Size of a file, or -1. */
static long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(files_unbuffered_and_buffered)
{
    struct fixture *fx = fx_new(HEAD_GET);
    struct kp_http_accesslog al;
    struct files fs;

    files_init(&fs, fx, 64, 0);
    ck_assert_int_eq(kp_http_accesslog_open(&al, &fs.cycle.http, NULL, 0, NULL, NULL), 0);
    ck_assert_uint_eq(al.n_files, 2);
    ck_assert_uint_eq(al.n_map, 3);
    /* Server level: a is written at once, b is buffered. */
    fx->r.loc = &fs.srv_loc;
    kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(fsize(fs.path_a), 9);
    ck_assert_int_eq(fsize(fs.path_b), 0);
    /* The location logs only to b, which already holds one line: seven
     * 9-byte lines fill 63 of 64 bytes, the eighth does not fit. */
    fx->r.loc = &fs.loc;
    for (int i = 0; i < 6; i++)
        kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(fsize(fs.path_b), 0);
    kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(fsize(fs.path_b), 63);
    /* A line longer than the buffer goes through, after what was buffered
     * (two lines by then). */
    kp_http_accesslog_write(&al, &fx->r);
    fx->r.uri = KP_STR("/0123456789012345678901234567890123456789012345678901234567890123");
    kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(fsize(fs.path_b), 63 + 18 + 70);
    fx->r.uri = KP_STR("/a b");
    kp_http_accesslog_write(&al, &fx->r);
    kp_http_accesslog_flush(&al);
    ck_assert_int_eq(fsize(fs.path_b), 63 + 18 + 70 + 9);
    kp_http_accesslog_write(&al, &fx->r);
    kp_http_accesslog_close(&al);
    ck_assert_int_eq(fsize(fs.path_b), 63 + 18 + 70 + 18);
    ck_assert_int_eq(fsize(fs.path_a), 9);
    kp_http_accesslog_close(&al);
    files_done(&fs);
    fx_free(fx);
}
END_TEST

START_TEST(files_reopen)
{
    struct fixture *fx = fx_new(HEAD_GET);
    struct kp_http_accesslog al;
    struct files fs;
    char moved[160];

    files_init(&fs, fx, 4096, 0);
    ck_assert_int_eq(kp_http_accesslog_open(&al, &fs.cycle.http, NULL, 0, NULL, NULL), 0);
    fx->r.loc = &fs.srv_loc;
    kp_http_accesslog_write(&al, &fx->r);
    snprintf(moved, sizeof(moved), "%s.1", fs.path_a);
    ck_assert_int_eq(rename(fs.path_a, moved), 0);
    kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(kp_http_accesslog_reopen(&al), 0);
    kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(fsize(moved), 18);
    ck_assert_int_eq(fsize(fs.path_a), 9);
    /* Reopen flushed b's buffer. */
    ck_assert_int_eq(fsize(fs.path_b), 18);
    kp_http_accesslog_close(&al);
    files_done(&fs);
    fx_free(fx);
}
END_TEST

START_TEST(files_flush_timer)
{
    struct fixture *fx = fx_new(HEAD_GET);
    struct kp_http_accesslog al;
    struct kp_loop loop;
    struct files fs;

    files_init(&fs, fx, 4096, 20);
    ck_assert_int_eq(kp_loop_init(&loop, KP_EVENT_POLL, 4, NULL), 0);
    ck_assert_int_eq(kp_http_accesslog_open(&al, &fs.cycle.http, NULL, 0, &loop, NULL), 0);
    /* The shortest flush of the two directives for b applies. */
    ck_assert_uint_eq(al.files[1].flush_ms, 20);
    ck_assert_uint_eq(al.files[1].size, 4096);
    fx->r.loc = &fs.loc;
    kp_http_accesslog_write(&al, &fx->r);
    ck_assert_int_eq(fsize(fs.path_b), 0);
    for (int i = 0; i < 200 && fsize(fs.path_b) == 0; i++)
        kp_loop_run_once(&loop, 50);
    ck_assert_int_eq(fsize(fs.path_b), 9);
    kp_http_accesslog_close(&al);
    kp_loop_free(&loop);
    files_done(&fs);
    fx_free(fx);
}
END_TEST

START_TEST(files_open_failure)
{
    struct fixture *fx = fx_new(HEAD_GET);
    struct kp_http_accesslog al;
    struct files fs;

    files_init(&fs, fx, 0, 0);
    fs.logs_loc[0].path = "/nonexistent-dir-kelpie/x.log";
    ck_assert_int_eq(kp_http_accesslog_open(&al, &fs.cycle.http, NULL, 0, NULL, NULL), -ENOENT);
    ck_assert_uint_eq(al.n_files, 0);
    kp_http_accesslog_close(&al);
    files_done(&fs);
    fx_free(fx);
}
END_TEST

Suite *kp_test_accesslog_suite(void)
{
    Suite *s = suite_create("accesslog");
    TCase *tc = tcase_create("format");
    TCase *tf = tcase_create("files");

    tcase_add_test(tc, format_combined);
    tcase_add_test(tc, format_every_variable);
    tcase_add_test(tc, format_empty_and_missing);
    tcase_add_test(tc, format_escaping);
    tcase_add_test(tc, format_ipv6_and_truncation);
    tcase_add_test(tf, files_unbuffered_and_buffered);
    tcase_add_test(tf, files_reopen);
    tcase_add_test(tf, files_flush_timer);
    tcase_add_test(tf, files_open_failure);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tf);
    return s;
}
