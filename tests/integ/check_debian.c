/* Debian 12's stock nginx configuration (tests/integ/data/debian-nginx:
 * nginx.conf, mime.types, sites-available/default from nginx-common) loads
 * with `kelpie -t` and serves its default site.
 *
 * The files name absolute paths (/etc/nginx/..., /var/log/nginx/...,
 * /run/nginx.pid, /var/www/html), which -p cannot move, so the copies in the
 * test prefix have exactly those paths rewritten into the prefix; to serve,
 * the two `listen ...80` lines are also moved to loopback test ports; the
 * file is otherwise untouched (`gzip on;` included). The directory layout
 * is Debian's: the empty modules-enabled/ and conf.d/ and sites-enabled/default
 * (a copy where Debian has a symlink). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define DATA "tests/integ/data/debian-nginx/"

/* from becomes before + X + after, X being nothing, the prefix or the port. */
enum { LITERAL, PREFIX, PORT };
struct rewrite {
    const char *from, *before, *after;
    int what;
};

static const struct rewrite path_rewrites[] = {
    {"/etc/nginx/", "", "etc/nginx/", PREFIX},
    {"/var/log/nginx/", "", "logs/", PREFIX},
    {"/run/nginx.pid", "", "logs/nginx.pid", PREFIX},
    {"/var/www/html", "", "html", PREFIX},
};

static const struct rewrite listen_rewrites[] = {
    {"listen 80 default_server;", "listen 127.0.0.1:", " default_server;", PORT},
    {"listen [::]:80 default_server;", "listen [::1]:", " default_server;", PORT},
};

static char *slurp(const char *path)
{
    char *text = kp_h_slurp(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    return text;
}

/* text with every occurrence of rw->from replaced (text is freed). */
static char *replace(char *text, const struct rewrite *rw, const struct kp_h_server *s)
{
    char to[256];
    size_t flen = strlen(rw->from);

    if (rw->what == PORT)
        snprintf(to, sizeof(to), "%s%d%s", rw->before, s->port, rw->after);
    else
        snprintf(to, sizeof(to), "%s%s%s", rw->before, rw->what == PREFIX ? s->prefix : "",
                 rw->after);
    size_t tlen = strlen(to), cap = strlen(text) * 2 + 4096, n = 0;
    char *out = malloc(cap);
    for (const char *p = text; *p;) {
        if (strncmp(p, rw->from, flen) == 0) {
            ck_assert_uint_lt(n + tlen, cap - 1);
            memcpy(out + n, to, tlen);
            n += tlen;
            p += flen;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    free(text);
    return out;
}

/* Copy DATA/name to PREFIX/dest with the rewrites applied. */
static void install(const struct kp_h_server *s, const char *name, const char *dest, bool serve)
{
    char path[256];

    snprintf(path, sizeof(path), DATA "%s", name);
    char *text = slurp(path);
    for (size_t i = 0; i < sizeof(path_rewrites) / sizeof(path_rewrites[0]); i++)
        text = replace(text, &path_rewrites[i], s);
    for (size_t i = 0; serve && i < sizeof(listen_rewrites) / sizeof(listen_rewrites[0]); i++)
        text = replace(text, &listen_rewrites[i], s);
    kp_h_write(s, dest, text);
    free(text);
}

/* Debian's /etc/nginx as the test prefix's etc/nginx; returns the path of
 * nginx.conf in conf (at least 256 bytes). */
static void debian_tree(struct kp_h_server *s, bool serve, char *conf)
{
    char path[256];

    kp_h_prepare(s);
    /* Workers run as www-data (user directive) and must reach html/. */
    ck_assert_int_eq(chmod(s->prefix, 0755), 0);
    install(s, "nginx.conf", "etc/nginx/nginx.conf", serve);
    install(s, "mime.types", "etc/nginx/mime.types", serve);
    install(s, "sites-available/default", "etc/nginx/sites-available/default", serve);
    install(s, "sites-available/default", "etc/nginx/sites-enabled/default", serve);
    snprintf(path, sizeof(path), "%setc/nginx/modules-enabled", s->prefix);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%setc/nginx/conf.d", s->prefix);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(conf, 256, "%setc/nginx/nginx.conf", s->prefix);
}

START_TEST(stock_config_test)
{
    struct kp_h_server s;
    char conf[256], *out, *err;

    debian_tree(&s, false, conf);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", s.prefix, "-c", conf, NULL};
    int rc = kp_h_run(argv, &out, &err);
    ck_assert_msg(rc == 0, "kelpie -t failed: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "syntax is ok"));
    ck_assert_ptr_nonnull(strstr(err, "test is successful"));
    free(out);
    free(err);
    kp_h_stop(&s);
}
END_TEST

static bool access_logged(void *arg)
{
    const struct kp_h_server *s = arg;
    char *log = kp_h_read(s, "logs/access.log");
    bool ok = log != NULL && strstr(log, "\"GET /nope HTTP/1.1\" 404") != NULL;
    free(log);
    return ok;
}

/* Started as Debian's nginx.service does, but with -g 'daemon off;' instead
 * of 'daemon on; master_process on;' so that the test owns the process. */
static void start_debian(struct kp_h_server *s, const char *conf)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl(kp_h_binary(), kp_h_binary(), "-p", s->prefix, "-c", conf, "-g", "daemon off;",
              (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 1000; i++) {
        int fd = kp_h_connect(s->port);
        if (fd >= 0) {
            close(fd);
            return;
        }
        kp_h_sleep_ms(10);
    }
    ck_abort_msg("kelpie did not start with Debian's configuration");
}

START_TEST(stock_config_serves)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char conf[256], url[128], *out, *err;

    debian_tree(&s, true, conf);
    kp_h_write(&s, "html/index.nginx-debian.html", "<h1>Welcome to nginx!</h1>\n");
    kp_h_write(&s, "html/site.css", "body{}\n");
    start_debian(&s, conf);
    /* index: neither index.html nor index.htm exists, the third name does. */
    ck_assert_int_eq(kp_h_request(s.port, "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "<h1>Welcome to nginx!</h1>\n");
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/html");
    kp_h_resp_free(&r);
    /* The type comes from Debian's mime.types. */
    ck_assert_int_eq(kp_h_request(s.port, "GET /site.css HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/css");
    kp_h_resp_free(&r);
    /* try_files $uri $uri/ =404 */
    ck_assert_int_eq(kp_h_request(s.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    /* The [::]:80 listen, moved to [::1]. */
    snprintf(url, sizeof(url), "http://[::1]:%d/site.css", s.port);
    char *argv[] = {"/usr/bin/curl", "-sg", "--max-time",   "10", "-o",
                    "/dev/null",     "-w",  "%{http_code}", url,  NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 0);
    ck_assert_str_eq(out, "200");
    free(out);
    free(err);
    /* access_log /var/log/nginx/access.log, in the combined format. */
    ck_assert(kp_h_wait_until(access_logged, &s, 10000));
    ck_assert_int_eq(kp_h_stop(&s), 0);
}
END_TEST

Suite *kp_test_debian_suite(void)
{
    Suite *s = suite_create("debian");
    TCase *tc = tcase_create("debian");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stock_config_test);
    tcase_add_test(tc, stock_config_serves);
    suite_add_tcase(s, tc);
    return s;
}
