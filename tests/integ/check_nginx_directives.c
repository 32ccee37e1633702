/* nginx's response directives against the real binary: keepalive_timeout's
 * header value (Keep-Alive: timeout=N), charset and charset_types, etag,
 * if_modified_since off|exact|before, max_ranges, server_tokens build,
 * client_body_timeout, reset_timedout_connection, sendfile_max_chunk,
 * open_log_file_cache (checked), keepalive_time, keepalive_disable,
 * recursive_error_pages. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define LATER "Fri, 01 Jan 2100 00:00:00 GMT"

static const char *CONF =
    "access_log off;\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    keepalive_timeout 30s 25;\n"
    "    charset utf-8;\n"
    "    types { text/html html; text/css css; }\n"
    "    location /noetag/ { etag off; alias html/; }\n"
    "    location /before/ { if_modified_since before; alias html/; }\n"
    "    location /imsoff/ { if_modified_since off; alias html/; }\n"
    "    location /noranges/ { max_ranges 0; alias html/; }\n"
    "    location /onerange/ { max_ranges 1; alias html/; }\n"
    "    location /types/ { charset_types text/css; alias html/; }\n"
    "    location /nocharset/ { charset off; alias html/; }\n"
    "    location = /text { return 200 \"hi\"; }\n"
    "    location /slowbody/ { client_body_timeout 1s; client_body_buffer_size 16k; }\n"
    "    location /chunked/ { sendfile on; sendfile_max_chunk 4k; alias html/; }\n"
    "    location = /silent { reset_timedout_connection on; return 444; }\n"
    "    location = /quiet { return 444; }\n"
    "    location /old/ { keepalive_time 1s; alias html/; }\n"
    "    location /nosafari/ { keepalive_disable safari; alias html/; }\n"
    "    location /rec/ { recursive_error_pages on; error_page 404 /gone/x.html; }\n"
    "    location /norec/ { error_page 404 /gone/x.html; }\n"
    "    location /gone/ { error_page 404 /a.html; }\n"
    "}\n"
    "server { listen 127.0.0.1:@PORT2@; server_tokens build; keepalive_timeout 0;\n"
    "         reset_timedout_connection on; client_header_timeout 1s;\n"
    "         open_log_file_cache max=100 inactive=20s valid=1m min_uses=2;\n"
    "         return 200 x; }\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    char *big = malloc(100001);
    for (int i = 0; i < 100000; i++)
        big[i] = (char)('a' + i % 23);
    big[100000] = '\0';
    kp_h_write(s, "html/big.txt", big);
    free(big);
    kp_h_write(s, "html/a.html", "<p>hello</p>\n");
    kp_h_write(s, "html/a.css", "p{}\n");
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_int_eq(kp_h_start(s), 0);
}

/* GET path with the extra header lines (each ending in CRLF). */
static int get(const struct kp_h_server *s, int port, const char *path, const char *extra,
               struct kp_h_resp *r)
{
    char raw[1024];

    (void)s;
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, extra);
    ck_assert_msg(kp_h_request(port, raw, r) == 0, "no response to %s", path);
    return r->status;
}

static void expect_type(const struct kp_h_server *s, const char *path, const char *type)
{
    struct kp_h_resp r;

    ck_assert_int_eq(get(s, s->port, path, "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), type);
    kp_h_resp_free(&r);
}

START_TEST(charset)
{
    struct kp_h_server s;

    start(&s);
    expect_type(&s, "/a.html", "text/html; charset=utf-8");
    expect_type(&s, "/text", "text/plain; charset=utf-8");
    expect_type(&s, "/a.css", "text/css");
    /* charset_types replaces the list, which keeps text/html (as in nginx:
     * the types listed are "in addition to text/html"). */
    expect_type(&s, "/types/a.css", "text/css; charset=utf-8");
    expect_type(&s, "/types/a.html", "text/html; charset=utf-8");
    expect_type(&s, "/nocharset/a.html", "text/html");
    kp_h_stop(&s);
}
END_TEST

/* client_body_timeout, not client_header_timeout (60s here), bounds the
 * wait for the rest of a body: 408 and the connection closed. */
START_TEST(body_timeout)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    int fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "POST /slowbody/a.html HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 408);
    kp_h_resp_free(&r);
    ck_assert(kp_h_closed(fd, 10000));
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* recv() on fd after the server is done with it: 0 for an orderly close,
 * -ECONNRESET for a reset. */
static int ending(int fd)
{
    char b[256];
    ssize_t n;

    while ((n = recv(fd, b, sizeof(b), 0)) > 0)
        ;
    return n == 0 ? 0 : -errno;
}

/* reset_timedout_connection on: a head that never ends and `return 444`
 * end with a reset, not a 408 or a FIN; off, as before. */
START_TEST(reset_timedout)
{
    struct kp_h_server s;

    start(&s);
    int fd = kp_h_connect(s.port2);
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n");
    ck_assert_int_eq(ending(fd), -ECONNRESET);
    close(fd);
    fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "GET /silent HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(ending(fd), -ECONNRESET);
    close(fd);
    fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "GET /quiet HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(ending(fd), 0);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* sendfile_max_chunk: a body sent in 4 KiB sendfile calls arrives whole. */
START_TEST(sendfile_chunks)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(get(&s, s.port, "/chunked/big.txt", "", &r), 200);
    ck_assert_uint_eq(r.body_len, 100000);
    for (int i = 0; i < 100000; i++)
        ck_assert_int_eq(r.body[i], 'a' + i % 23);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* A keep-alive GET path with extra header lines on fd; the response. */
static void ask_on(int fd, const char *path, const char *extra, struct kp_h_resp *r)
{
    char raw[512];

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, extra);
    kp_h_send_str(fd, raw);
    ck_assert_int_eq(kp_h_recv(fd, r, false), 0);
}

/* keepalive_time: no request after the connection's age passes it keeps
 * the connection; keepalive_disable safari: Safari on macOS gets none. */
START_TEST(keepalive_limits)
{
    static const char *safari = "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
                                "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
                                "Safari/605.1.15\r\n";
    static const char *chrome = "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
                                "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
                                "Safari/537.36\r\n";
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    int fd = kp_h_connect(s.port);
    ask_on(fd, "/old/a.html", "", &r);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
    kp_h_resp_free(&r);
    kp_h_sleep_ms(1500);
    ask_on(fd, "/old/a.html", "", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    kp_h_resp_free(&r);
    close(fd);
    fd = kp_h_connect(s.port);
    ask_on(fd, "/nosafari/a.html", chrome, &r);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
    kp_h_resp_free(&r);
    ask_on(fd, "/a.html", safari, &r);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
    kp_h_resp_free(&r);
    ask_on(fd, "/nosafari/a.html", safari, &r);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    kp_h_resp_free(&r);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* recursive_error_pages: with it, the error of an error page has its own
 * page (the next location's error_page); without, the built-in one. */
START_TEST(recursive_error_pages)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(get(&s, s.port, "/rec/missing", "", &r), 404);
    ck_assert_str_eq(r.body, "<p>hello</p>\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/norec/missing", "", &r), 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<title>404 Not Found</title>"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(keepalive_header)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(get(&s, s.port, "/a.html", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Keep-Alive"), "timeout=25");
    kp_h_resp_free(&r);
    /* Not on a response that closes the connection. */
    ck_assert_int_eq(get(&s, s.port, "/a.html", "Connection: close\r\n", &r), 200);
    ck_assert_ptr_null(kp_h_header(&r, "Keep-Alive"));
    kp_h_resp_free(&r);
    /* keepalive_timeout 0 closes; server_tokens build names the version. */
    ck_assert_int_eq(get(&s, s.port2, "/", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
    ck_assert_ptr_null(kp_h_header(&r, "Keep-Alive"));
    ck_assert_ptr_nonnull(strstr(kp_h_header(&r, "Server"), "kelpie/"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(validators)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char lm[64], ims[128];

    start(&s);
    ck_assert_int_eq(get(&s, s.port, "/a.html", "", &r), 200);
    ck_assert_ptr_nonnull(kp_h_header(&r, "ETag"));
    snprintf(lm, sizeof(lm), "%s", kp_h_header(&r, "Last-Modified"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/noetag/a.html", "", &r), 200);
    ck_assert_ptr_null(kp_h_header(&r, "ETag"));
    ck_assert_str_eq(kp_h_header(&r, "Last-Modified"), lm);
    kp_h_resp_free(&r);
    /* exact (the default): only the very time is "not modified". */
    snprintf(ims, sizeof(ims), "If-Modified-Since: %s\r\n", lm);
    ck_assert_int_eq(get(&s, s.port, "/a.html", ims, &r), 304);
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/a.html", "If-Modified-Since: " LATER "\r\n", &r), 200);
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/before/a.html", "If-Modified-Since: " LATER "\r\n", &r),
                     304);
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/imsoff/a.html", ims, &r), 200);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(ranges)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(get(&s, s.port, "/a.html", "Range: bytes=0-1\r\n", &r), 206);
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/noranges/a.html", "Range: bytes=0-1\r\n", &r), 200);
    ck_assert_ptr_null(kp_h_header(&r, "Accept-Ranges"));
    ck_assert_str_eq(r.body, "<p>hello</p>\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/onerange/a.html", "Range: bytes=0-1\r\n", &r), 206);
    ck_assert_str_eq(r.body, "<p");
    kp_h_resp_free(&r);
    ck_assert_int_eq(get(&s, s.port, "/onerange/a.html", "Range: bytes=0-1,3-4\r\n", &r), 200);
    kp_h_resp_free(&r);
    /* Only satisfiable ranges count toward max_ranges (nginx): one good
     * range beside one beyond the end is a single part. */
    ck_assert_int_eq(get(&s, s.port, "/onerange/a.html", "Range: bytes=0-1,9000-\r\n", &r), 206);
    ck_assert_str_eq(r.body, "<p");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* A listening socket with nginx's parameters serves as any other, and its
 * connections carry SO_KEEPALIVE (seen by ss as a keepalive timer). */
START_TEST(listen_parameters)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    kp_h_prepare(&s);
    kp_h_write(&s, "html/index.html", "ok\n");
    kp_h_config(&s, "master_process off;",
                "access_log off;\n"
                "server { listen 127.0.0.1:@PORT@ deferred bind fastopen=8 rcvbuf=64k sndbuf=64k\n"
                "                so_keepalive=30s:5:3 backlog=64; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    kp_h_resp_free(&r);
    char filter[64], *out, *err;
    snprintf(filter, sizeof(filter), "sport = :%d", s.port);
    char *argv[] = {"/usr/bin/ss", "-tnoH", "state", "established", filter, NULL};
    if (access(argv[0], X_OK) == 0) {
        ck_assert_int_eq(kp_h_run(argv, &out, &err), 0);
        ck_assert_msg(strstr(out, "keepalive") != NULL, "ss: %s", out);
        free(out);
        free(err);
    }
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* The first child of pid, or 0. */
static pid_t first_child(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    int child = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &child) != 1)
            child = 0;
        fclose(f);
    }
    return child;
}

/* /proc/PID/NAME, malloc'ed. */
static char *proc_file(pid_t pid, const char *name)
{
    char path[64];
    static char buf[65536];

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static bool has_child(void *arg)
{
    pid_t *p = arg;

    p[1] = first_child(p[0]);
    return p[1] != 0;
}

/* worker_priority, worker_rlimit_core and working_directory reach the
 * worker process (env is checked by the worker_setup unit test: the process
 * title overwrites what /proc/PID/environ shows). */
START_TEST(worker_process_settings)
{
    struct kp_h_server s;
    pid_t p[2];
    char want[256], cwd[256];

    kp_h_prepare(&s);
    /* The workers (nobody) must be able to enter logs/. */
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    kp_h_config(&s,
                "worker_processes 1; worker_priority 5; worker_rlimit_core 1m;\n"
                "working_directory logs; env KP_KEEP; env KP_SET=yes; timer_resolution 100ms;",
                "access_log off; server { listen 127.0.0.1:@PORT@; return 200 x; }");
    ck_assert_int_eq(kp_h_start(&s), 0);
    p[0] = s.pid;
    ck_assert(kp_h_wait_until(has_child, p, 10000));
    /* The worker serves only after its settings are applied. */
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_request(s.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    kp_h_resp_free(&r);
    char *stat = proc_file(p[1], "stat");
    /* Field 19 is the nice value; the command field has no ')' here. */
    const char *f = strrchr(stat, ')');
    int nice = 99;
    ck_assert_int_eq(
        sscanf(f + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %d", &nice),
        1);
    ck_assert_int_eq(nice, 5);
    free(stat);
    char *limits = proc_file(p[1], "limits");
    ck_assert_ptr_nonnull(strstr(limits, "Max core file size        1048576              1048576"));
    free(limits);
    snprintf(want, sizeof(want), "%slogs", s.prefix);
    snprintf(cwd, sizeof(cwd), "/proc/%d/cwd", (int)p[1]);
    char link[256];
    ssize_t n = readlink(cwd, link, sizeof(link) - 1);
    ck_assert_int_gt(n, 0);
    link[n] = '\0';
    ck_assert_str_eq(link, want);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_nginx_directives_suite(void)
{
    Suite *s = suite_create("nginx_directives");
    TCase *tc = tcase_create("response");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, charset);
    tcase_add_test(tc, keepalive_header);
    tcase_add_test(tc, body_timeout);
    tcase_add_test(tc, reset_timedout);
    tcase_add_test(tc, sendfile_chunks);
    tcase_add_test(tc, keepalive_limits);
    tcase_add_test(tc, recursive_error_pages);
    tcase_add_test(tc, validators);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, listen_parameters);
    tcase_add_test(tc, worker_process_settings);
    suite_add_tcase(s, tc);
    return s;
}
