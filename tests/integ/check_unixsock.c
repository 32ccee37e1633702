/* `listen unix:PATH` against the real binary: a prefork server with the
 * accept mutex answers raw AF_UNIX clients and curl --unix-socket, with
 * nginx's $remote_addr ("unix:"), $server_addr ("unix:PATH") and empty
 * ports, `allow`/`deny unix:` and the access log's "unix:"; the socket file
 * is 0666, a stale one is replaced while a live one is refused, a reload
 * keeps the socket (same inode) and removes one the configuration drops,
 * QUIT and TERM remove the file, a binary upgrade hands the socket to the new
 * master (the old one's exit leaves the file), systemd's socket is used and
 * its file left alone, TLS works over it, and bad `listen unix:` lines are
 * refused with file:line. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "tlsutil.h"

#define VARS_LOCATION                                                                              \
    "location /v { return 200 \"ra=[$remote_addr] rp=[$remote_port] sa=[$server_addr] "            \
    "sp=[$server_port]\\n\"; }\n"

/* The socket's path in s's prefix. */
static void sock_path(const struct kp_h_server *s, const char *name, char *out, size_t size)
{
    ck_assert_int_lt(snprintf(out, size, "%s%s", s->prefix, name), (int)size);
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct timeval tv = {5, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One raw request over the UNIX-domain socket at path; 0 or -1. */
static int unix_request(const char *path, const char *raw, struct kp_h_resp *r)
{
    int fd = unix_connect(path);

    if (fd < 0)
        return -1;
    kp_h_send_str(fd, raw);
    int rc = kp_h_recv(fd, r, false);
    close(fd);
    return rc;
}

/* The status of `GET uri` over path, or -1 when nothing answers. */
static int unix_get(const char *path, const char *uri)
{
    struct kp_h_resp r;
    char raw[512];

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", uri);
    if (unix_request(path, raw, &r) != 0)
        return -1;
    int status = r.status;
    kp_h_resp_free(&r);
    return status;
}

static bool is_socket(const char *path, ino_t *ino)
{
    struct stat st;

    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    if (ino != NULL)
        *ino = st.st_ino;
    return true;
}

/* Stop s's master with sig, check that the socket file at path is gone (or,
 * with kept, still there), then clean the prefix. */
static void stop_expecting(struct kp_h_server *s, int sig, const char *path, bool kept)
{
    ck_assert(WIFEXITED(kp_h_signal_wait(s, sig, 15000)));
    ck_assert_msg(is_socket(path, NULL) == kept, "%s %s", path, kept ? "removed" : "left");
    s->pid = 0;
    kp_h_stop(s);
}

/* A fresh prefix whose configuration has `workers` workers and one server on
 * 127.0.0.1:@PORT@ and on `listen unix:PREFIX/k.sock params`, with body
 * inside; path gets the socket's path. Nothing started. */
static void prepare_unix(struct kp_h_server *s, const char *main_extra, const char *events,
                         const char *params, const char *body, char *path, size_t size)
{
    char http[4096];

    kp_h_prepare(s);
    chmod(s->prefix, 0755); /* started as root, the workers run as nobody */
    sock_path(s, "k.sock", path, size);
    snprintf(http, sizeof(http),
             "access_log logs/access.log;\n"
             "server { listen 127.0.0.1:@PORT@; listen unix:%s%s; root html;\n%s }",
             path, params, body);
    kp_p_write_config(s, main_extra, events, http);
}

/* The same, 2 workers, started. */
static void start_unix(struct kp_h_server *s, const char *events, const char *body)
{
    char path[256];

    prepare_unix(s, "worker_processes 2;", events, "", body, path, sizeof(path));
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

START_TEST(unix_listener_serves_with_nginx_variables)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char path[256], want[512], *out = NULL;
    struct stat st;

    start_unix(&s, "accept_mutex on;",
               VARS_LOCATION "location /r { return 301 /x; }\n"
                             "location /d { deny unix:; }\n"
                             "location /a { allow unix:; deny all; }\n");
    kp_h_write(&s, "html/index.html", "static over unix\n");
    kp_h_write(&s, "html/a", "in\n");
    sock_path(&s, "k.sock", path, sizeof(path));
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0666); /* as nginx: the directory decides */

    ck_assert_int_eq(unix_request(path, "GET /v HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "ra=[unix:] rp=[] sa=[unix:%s] sp=[]\n", path);
    ck_assert_str_eq(r.body, want);
    kp_h_resp_free(&r);
    /* The TCP listener of the same server is unchanged. */
    ck_assert_int_eq(kp_h_request(s.port, "GET /v HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "ra=[127.0.0.1] rp=["));
    ck_assert_ptr_null(strstr(r.body, "sp=[]"));
    kp_h_resp_free(&r);

    /* Without a Host, a redirect names the socket as nginx does. */
    ck_assert_int_eq(unix_request(path, "GET /r HTTP/1.0\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 301);
    snprintf(want, sizeof(want), "http://unix:%s/x", path);
    ck_assert_str_eq(kp_h_header(&r, "Location"), want);
    kp_h_resp_free(&r);

    ck_assert_int_eq(unix_get(path, "/d"), 403);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    ck_assert_int_eq(unix_get(path, "/a"), 200);
    ck_assert_int_eq(kp_h_request(s.port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 403);
    kp_h_resp_free(&r);

    /* Keep-alive requests over one connection, answered by curl too. */
    int fd = unix_connect(path);
    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < 3; i++) {
        kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        ck_assert_str_eq(r.body, "static over unix\n");
        kp_h_resp_free(&r);
    }
    close(fd);
    ck_assert_int_eq(kp_t_sh(&out, "curl -s --unix-socket '%s' http://localhost/", path), 0);
    ck_assert_str_eq(out, "static over unix\n");
    free(out);
    ck_assert(kp_p_file_wait(&s, "logs/access.log", "unix: - - [", 5000));

    /* TERM: the socket file goes with the server. */
    stop_expecting(&s, SIGTERM, path, false);
}
END_TEST

/* A socket file bound and closed without unlink: what a killed server leaves. */
static void make_stale(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
    memcpy(sun.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
}

START_TEST(stale_socket_replaced_live_one_refused)
{
    struct kp_h_server s, t;
    char path[256], http[1024], *out = NULL, *err = NULL, conf[512];

    prepare_unix(&s, NULL, NULL, "", "location / { return 200 \"first\\n\"; }", path, sizeof(path));
    make_stale(path);
    ck_assert(is_socket(path, NULL));
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(unix_get(path, "/"), 200);

    /* A second server on the same path finds it live: bind() fails, the
     * first keeps its socket. */
    kp_h_prepare(&t);
    snprintf(http, sizeof(http),
             "server { listen 127.0.0.1:@PORT@; listen unix:%s; location / { return 200 "
             "\"second\\n\"; } }",
             path);
    kp_p_write_config(&t, "", NULL, http);
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", t.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-p", t.prefix, "-c", conf, NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 1);
    char *log = kp_h_read(&t, "logs/error.log");
    snprintf(conf, sizeof(conf), "bind() to unix:%s failed (98: Address already in use)", path);
    ck_assert_msg(strstr(log, conf) != NULL, "%s", log);
    free(log);
    free(out);
    free(err);
    t.pid = 0;
    t.alerts_expected = true;
    kp_h_stop(&t);
    ck_assert_int_eq(unix_get(path, "/"), 200);

    /* A path that is no socket is never removed. */
    kp_h_signal_wait(&s, SIGQUIT, 10000);
    ck_assert_int_ne(access(path, F_OK), 0);
    kp_h_write(&s, "k.sock", "not a socket\n");
    s.pid = fork();
    ck_assert_int_ge(s.pid, 0);
    if (s.pid == 0) {
        snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
        execl(kp_h_binary(), kp_h_binary(), "-p", s.prefix, "-c", conf, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(s.pid, &status, 0), s.pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *kept = kp_h_read(&s, "k.sock");
    ck_assert_str_eq(kept, "not a socket\n");
    free(kept);
    s.pid = 0;
    s.alerts_expected = true;
    kp_h_stop(&s);
}
END_TEST

START_TEST(reload_keeps_drops_and_quit_removes)
{
    struct kp_h_server s;
    char path[256], path2[256], http[1024];
    ino_t ino, ino2;

    start_unix(&s, NULL, "location / { return 200 \"one\\n\"; }");
    sock_path(&s, "k.sock", path, sizeof(path));
    sock_path(&s, "k2.sock", path2, sizeof(path2));
    ck_assert(is_socket(path, &ino));
    int fd = unix_connect(path); /* waits in the backlog across the reload */
    ck_assert_int_ge(fd, 0);

    snprintf(http, sizeof(http),
             "server { listen 127.0.0.1:@PORT@; listen unix:%s; listen unix:%s;"
             " location / { return 200 \"two\\n\"; } }",
             path, path2);
    kp_p_write_config(&s, "worker_processes 2;", NULL, http);
    kill(s.pid, SIGHUP);
    ck_assert(kp_p_log_wait(&s, "reload complete: generation 2", 10000));
    ck_assert(is_socket(path, &ino2));
    ck_assert_uint_eq(ino2, ino); /* the same socket, not a new file */
    ck_assert(is_socket(path2, NULL));
    ck_assert_int_eq(unix_get(path2, "/"), 200);
    struct kp_h_resp r;
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    close(fd);

    /* A reload that drops the first socket removes its file. */
    snprintf(http, sizeof(http),
             "server { listen 127.0.0.1:@PORT@; listen unix:%s;"
             " location / { return 200 \"three\\n\"; } }",
             path2);
    kp_p_write_config(&s, "worker_processes 2;", NULL, http);
    kill(s.pid, SIGHUP);
    ck_assert(kp_p_log_wait(&s, "reload complete: generation 3", 10000));
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(unix_get(path2, "/"), 200);

    /* QUIT removes the file once the master stops. */
    stop_expecting(&s, SIGQUIT, path2, false);
}
END_TEST

START_TEST(upgrade_hands_the_socket_over)
{
    struct kp_h_server s;
    char path[256];
    ino_t ino, ino2;

    prctl(PR_SET_CHILD_SUBREAPER, 1); /* the orphaned new master is ours to reap */
    start_unix(&s, NULL, "location / { return 200 \"up\\n\"; }");
    sock_path(&s, "k.sock", path, sizeof(path));
    ck_assert(is_socket(path, &ino));
    pid_t old = s.pid;
    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    ck_assert(kp_p_log_wait(&s, "handed over by the old master", 10000));
    ck_assert(kp_p_file_wait(&s, "logs/kelpie.pid.oldbin", "", 10000));
    pid_t nm = 0;
    for (int i = 0; i < 1000 && nm == 0; i++) {
        char *text = kp_h_read(&s, "logs/kelpie.pid");
        nm = text != NULL && atoi(text) != old ? (pid_t)atoi(text) : 0;
        free(text);
        if (nm == 0)
            kp_h_sleep_ms(10);
    }
    ck_assert_int_gt(nm, 0);
    /* The old master leaves: its exit must not take the file along. */
    ck_assert_int_eq(kill(old, SIGQUIT), 0);
    ck_assert(kp_p_gone(old, 15000));
    waitpid(old, NULL, 0);
    ck_assert(is_socket(path, &ino2));
    ck_assert_uint_eq(ino2, ino);
    ck_assert_int_eq(unix_get(path, "/"), 200);
    /* The new master owns it now (our child, as the subreaper): its stop
     * removes it. */
    s.pid = nm;
    stop_expecting(&s, SIGQUIT, path, false);
}
END_TEST

START_TEST(systemd_socket_used_and_left_alone)
{
    struct kp_h_server s;
    char path[256], a1[64];

    if (access("/usr/bin/systemd-socket-activate", X_OK) != 0 &&
        access("/bin/systemd-socket-activate", X_OK) != 0) {
        fprintf(stderr, "systemd unix: systemd-socket-activate is not installed, skipped\n");
        return;
    }
    prepare_unix(&s, NULL, NULL, "", "location / { return 200 \"activated\\n\"; }", path,
                 sizeof(path));
    snprintf(a1, sizeof(a1), "127.0.0.1:%d", s.port);
    char *wrapper[] = {"systemd-socket-activate", "-l", a1, "-l", path, NULL};
    ck_assert_int_eq(kp_h_start_wrapped(&s, wrapper), 0);
    ck_assert(kp_p_log_wait(&s, "listening socket unix:", 5000));
    ino_t ino;
    ck_assert(is_socket(path, &ino));
    ck_assert_int_eq(unix_get(path, "/"), 200);
    /* systemd made the file: it stays for the next activation. */
    stop_expecting(&s, SIGQUIT, path, true);
}
END_TEST

START_TEST(tls_over_unix)
{
    struct kp_h_server s;
    char path[256], *out = NULL;

    prepare_unix(&s, NULL, NULL, " ssl",
                 "ssl_certificate site.crt; ssl_certificate_key site.key;\n"
                 "location / { return 200 \"scheme=$scheme\\n\"; }",
                 path, sizeof(path));
    kp_t_make_cert(&s, "site", "ec", "localhost");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert_int_eq(kp_t_sh(&out, "curl -sk --unix-socket '%s' https://localhost/", path), 0);
    ck_assert_str_eq(out, "scheme=https\n");
    free(out);
    kp_h_stop(&s);
}
END_TEST

START_TEST(bad_unix_listen_refused)
{
    char body[512];

    kp_p_expect_refused("server { listen unix:; }",
                        "no path in the unix domain socket in \"unix:\" of the \"listen\" "
                        "directive");
    snprintf(body, sizeof(body), "server { listen unix:/tmp/%0120d; }", 0);
    kp_p_expect_refused(body, "too long path in the unix domain socket");
    kp_p_expect_refused("server { listen unix:/tmp/kelpie-test.sock reuseport; }",
                        "the \"reuseport\" parameter is not supported on "
                        "unix:/tmp/kelpie-test.sock");
    kp_p_expect_refused("server { listen unix:/tmp/a.sock; listen unix:/tmp/a.sock; }",
                        "a duplicate listen unix:/tmp/a.sock");
}
END_TEST

Suite *kp_test_unixsock_suite(void)
{
    Suite *s = suite_create("unixsock");
    TCase *tc = tcase_create("unixsock");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, unix_listener_serves_with_nginx_variables);
    tcase_add_test(tc, stale_socket_replaced_live_one_refused);
    tcase_add_test(tc, reload_keeps_drops_and_quit_removes);
    tcase_add_test(tc, upgrade_hands_the_socket_over);
    tcase_add_test(tc, systemd_socket_used_and_left_alone);
    tcase_add_test(tc, tls_over_unix);
    tcase_add_test(tc, bad_unix_listen_refused);
    suite_add_tcase(s, tc);
    return s;
}
