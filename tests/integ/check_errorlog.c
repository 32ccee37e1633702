/* The error log says what nginx says where an operator looks for it: a
 * missing file's open() failure at [error] with the client, server, request
 * and host (and nothing under log_not_found off), a directory without an
 * index, a file the worker may not read (13: Permission denied), and the
 * master's signals with their sender and what it does about them, and log
 * reopening, at [notice]. */
#include <check.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define LOG_WAIT_MS 10000

static const char *HTTP = "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    server_name errs.test;\n"
                          "    location /quiet/ { log_not_found off; }\n"
                          "}\n";

/* Workers started as root run as nobody: the prefix must be open to them,
 * and a file of mode 0 is then unreadable to the worker either way. */
static void start(struct kp_h_server *s)
{
    char path[256];

    kp_h_prepare(s);
    ck_assert_int_eq(chmod(s->prefix, 0755), 0);
    kp_h_write(s, "html/index.html", "home\n");
    kp_h_write(s, "html/dir/.hidden", "h");
    kp_h_write(s, "html/secret.txt", "s");
    snprintf(path, sizeof(path), "%shtml/secret.txt", s->prefix);
    ck_assert_int_eq(chmod(path, 0), 0);
    kp_p_write_config(s, "worker_processes 1;", NULL, HTTP);
    ck_assert_int_eq(kp_h_start(s), 0);
    ck_assert(kp_p_wait_children(s->pid, 1, 5000));
}

static void get(const struct kp_h_server *s, const char *path, const char *host, int status)
{
    char raw[256];
    struct kp_h_resp r;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
             host);
    ck_assert_int_eq(kp_h_request(s->port, raw, &r), 0);
    ck_assert_int_eq(r.status, status);
    kp_h_resp_free(&r);
}

/* The error log's line holding needle (waiting for it) must be at level
 * ("[error]", "[notice]"). */
static void logged_at(const struct kp_h_server *s, const char *needle, const char *level)
{
    ck_assert_msg(kp_p_log_wait(s, needle, LOG_WAIT_MS), "never logged: %s", needle);
    char *log = kp_h_read(s, "logs/error.log");
    char *at = strstr(log, needle), *bol = at;
    while (bol > log && bol[-1] != '\n')
        bol--;
    char *eol = strchr(at, '\n');
    if (eol != NULL)
        *eol = '\0';
    ck_assert_msg(strstr(bol, level) != NULL, "not at %s: %s", level, bol);
    free(log);
}

/* Whether some line of the error log has nginx's connection number, "*N ",
 * right before message. */
static bool numbered(const struct kp_h_server *s, const char *message)
{
    char *log = kp_h_read(s, "logs/error.log");
    bool found = false;

    for (char *at = log; !found && (at = strstr(at, message)) != NULL; at++) {
        const char *p = at - 1;
        if (p <= log || *p != ' ')
            continue;
        while (p > log && p[-1] >= '0' && p[-1] <= '9')
            p--;
        found = p < at - 1 && p > log && p[-1] == '*';
    }
    free(log);
    return found;
}

START_TEST(request_errors_with_context)
{
    struct kp_h_server s;
    char want[1024], host[64];

    start(&s);
    snprintf(host, sizeof(host), "errs.test:%d", s.port);
    get(&s, "/missing.html", host, 404);
    snprintf(want, sizeof(want),
             "open() \"%shtml/missing.html\" failed (2: No such file or directory), client: "
             "127.0.0.1, server: errs.test, request: \"GET /missing.html HTTP/1.1\", host: "
             "\"%s\"",
             s.prefix, host);
    logged_at(&s, want, "[error]");
    ck_assert(numbered(&s, "open() \""));

    get(&s, "/dir/", "errs.test", 403);
    snprintf(want, sizeof(want),
             "directory index of \"%shtml/dir/\" is forbidden, client: 127.0.0.1, server: "
             "errs.test, request: \"GET /dir/ HTTP/1.1\", host: \"errs.test\"",
             s.prefix);
    logged_at(&s, want, "[error]");

    get(&s, "/secret.txt", "errs.test", 403);
    snprintf(want, sizeof(want),
             "open() \"%shtml/secret.txt\" failed (13: Permission denied), client: 127.0.0.1, "
             "server: errs.test, request: \"GET /secret.txt HTTP/1.1\", host: \"errs.test\"",
             s.prefix);
    logged_at(&s, want, "[error]");

    /* log_not_found off: the 404 stays, the line goes. A later line proves
     * the worker has written what it would have. */
    get(&s, "/quiet/gone.html", "errs.test", 404);
    get(&s, "/after.html", "errs.test", 404);
    logged_at(&s, "html/after.html\" failed (2: No such file or directory)", "[error]");
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "gone.html") == NULL, "%s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

START_TEST(signals_logged_at_notice)
{
    struct kp_h_server s;
    char want[128];

    start(&s);
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    snprintf(want, sizeof(want), "signal 1 (SIGHUP) received from %d, reconfiguring",
             (int)getpid());
    logged_at(&s, want, "[notice]");
    ck_assert(kp_p_log_wait(&s, "reload complete", LOG_WAIT_MS));
    ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
    snprintf(want, sizeof(want), "signal 10 (SIGUSR1) received from %d, reopening logs",
             (int)getpid());
    logged_at(&s, want, "[notice]");
    logged_at(&s, "#0: reopening logs", "[notice]");
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_errorlog_suite(void)
{
    Suite *s = suite_create("errorlog");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, request_errors_with_context);
    tcase_add_test(tc, signals_logged_at_notice);
    suite_add_tcase(s, tc);
    return s;
}
