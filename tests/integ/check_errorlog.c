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
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
    snprintf(want, sizeof(want), "%d#%d: reopening logs", (int)s.pid, (int)s.pid);
    logged_at(&s, want, "[notice]");
    kp_h_stop(&s);
}
END_TEST

/* The [notice] lines nginx writes at start, on a reload and as workers and
 * the master leave, each with the pid of the process that writes it. */
START_TEST(start_reload_exit_notices)
{
    struct kp_h_server s;
    char want[160];
    pid_t worker;

    start(&s);
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    snprintf(want, sizeof(want), "[notice] %d#%d: using the \"", (int)s.pid, (int)s.pid);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    logged_at(&s, "\" event method\n", "[notice]");
    snprintf(want, sizeof(want), "[notice] %d#%d: kelpie/", (int)s.pid, (int)s.pid);
    ck_assert(kp_p_log_wait(&s, want, LOG_WAIT_MS));
    logged_at(&s, ": OS: Linux ", "[notice]");
    logged_at(&s, ": getrlimit(RLIMIT_NOFILE): ", "[notice]");
    snprintf(want, sizeof(want), "[notice] %d#%d: start worker processes\n", (int)s.pid,
             (int)s.pid);
    ck_assert(kp_p_log_wait(&s, want, LOG_WAIT_MS));
    /* a reload: the new configuration's event method and a new generation;
     * the old worker leaves as nginx's do */
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    ck_assert(kp_p_log_wait(&s, "reload complete", LOG_WAIT_MS));
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_int_eq(kp_p_count_lines(log, "start worker processes"), 2);
    ck_assert_int_eq(kp_p_count_lines(log, "\" event method"), 2);
    free(log);
    snprintf(want, sizeof(want), "[notice] %d#%d: exiting\n", (int)worker, (int)worker);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    snprintf(want, sizeof(want), "[notice] %d#%d: exit\n", (int)worker, (int)worker);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    /* QUIT: the new worker shuts down gracefully, exits, then the master */
    ck_assert(kp_p_wait_children(s.pid, 1, 5000));
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    snprintf(want, sizeof(want), "[notice] %d#%d: gracefully shutting down\n", (int)worker,
             (int)worker);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    snprintf(want, sizeof(want), "[notice] %d#%d: exiting\n", (int)worker, (int)worker);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    snprintf(want, sizeof(want), "[notice] %d#%d: exit\n", (int)worker, (int)worker);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    snprintf(want, sizeof(want), "[notice] %d#%d: exit\n", (int)s.pid, (int)s.pid);
    ck_assert_msg(kp_p_log_wait(&s, want, LOG_WAIT_MS), "never logged: %s", want);
    kp_h_stop(&s);
}
END_TEST

/* Several error_log lines, each at its own level; error_log in server and
 * location, inherited downwards, /dev/null crit silencing a location. */
static const char *PLACES = "error_log logs/http.log warn;\n"
                            "server {\n"
                            "    listen 127.0.0.1:@PORT@;\n"
                            "    server_name places.test;\n"
                            "    error_log logs/srv.log;\n"
                            "    error_log logs/srv-crit.log crit;\n"
                            "    location /own/ { error_log logs/own.log info; }\n"
                            "    location /mute/ { error_log /dev/null crit; }\n"
                            "    location /inherit/ { }\n"
                            "}\n";

static void start_places(struct kp_h_server *s, const char *main_extra)
{
    kp_h_prepare(s);
    ck_assert_int_eq(chmod(s->prefix, 0755), 0); /* workers started as root run as nobody */
    kp_h_config(s, main_extra, PLACES);
    ck_assert_int_eq(kp_h_start(s), 0);
}

/* Whether prefix-relative file path holds needle (it may not exist). */
static bool file_has(const struct kp_h_server *s, const char *path, const char *needle)
{
    char *text = kp_h_read(s, path);
    bool has = text != NULL && strstr(text, needle) != NULL;

    free(text);
    return has;
}

START_TEST(error_log_per_location)
{
    struct kp_h_server s;

    start_places(&s, "error_log logs/main2.log error;");
    get(&s, "/own/a.html", "places.test", 404);
    get(&s, "/inherit/b.html", "places.test", 404);
    get(&s, "/mute/c.html", "places.test", 404);
    get(&s, "/d.html", "places.test", 404);
    /* The location's own log, not the server's, and not the main ones. */
    ck_assert(kp_p_file_wait(&s, "logs/own.log", "html/own/a.html\" failed", LOG_WAIT_MS));
    /* A location without error_log has the server's lines (both of them:
     * the crit one does not take an [error]). */
    ck_assert(kp_p_file_wait(&s, "logs/srv.log", "html/inherit/b.html\" failed", LOG_WAIT_MS));
    ck_assert(kp_p_file_wait(&s, "logs/srv.log", "html/d.html\" failed", LOG_WAIT_MS));
    ck_assert(!file_has(&s, "logs/srv.log", "a.html"));
    ck_assert(!file_has(&s, "logs/srv.log", "c.html"));
    ck_assert(!file_has(&s, "logs/srv-crit.log", "failed"));
    ck_assert(!file_has(&s, "logs/http.log", "failed"));
    ck_assert(!file_has(&s, "logs/error.log", "\" failed (2:"));
    ck_assert(!file_has(&s, "logs/main2.log", "c.html"));
    /* The main block's second error_log takes the master's and workers'
     * own lines at its level: [alert] yes, [notice] no. */
    ck_assert(file_has(&s, "logs/error.log", "[notice]"));
    ck_assert(!file_has(&s, "logs/main2.log", "[notice]"));
    kp_h_stop(&s);
}
END_TEST

/* SIGUSR1 reopens the location's and the main block's further logs: after
 * the rename, new lines go to new files of the same names. */
START_TEST(error_log_reopened)
{
    struct kp_h_server s;
    char from[300], to[300];

    start_places(&s, "error_log logs/main2.log notice;");
    get(&s, "/own/before.html", "places.test", 404);
    ck_assert(kp_p_file_wait(&s, "logs/own.log", "before.html", LOG_WAIT_MS));
    snprintf(from, sizeof(from), "%slogs/own.log", s.prefix);
    snprintf(to, sizeof(to), "%slogs/own.log.1", s.prefix);
    ck_assert_int_eq(rename(from, to), 0);
    snprintf(from, sizeof(from), "%slogs/main2.log", s.prefix);
    snprintf(to, sizeof(to), "%slogs/main2.log.1", s.prefix);
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
    snprintf(from, sizeof(from), "%d#%d: reopening logs", (int)s.pid, (int)s.pid);
    ck_assert(kp_p_log_wait(&s, from, LOG_WAIT_MS));
    /* The worker logs that line before it takes the new files: ask until
     * a line lands in the new own.log. */
    for (int i = 0; i < 100 && !file_has(&s, "logs/own.log", "after.html"); i++) {
        get(&s, "/own/after.html", "places.test", 404);
        kp_h_sleep_ms(100);
    }
    ck_assert(file_has(&s, "logs/own.log", "after.html"));
    ck_assert(!file_has(&s, "logs/own.log", "before.html"));
    ck_assert(file_has(&s, "logs/own.log.1", "before.html"));
    /* As nginx does, a master running as root gives the reopened files to
     * the worker user (nobody here), readable and writable by their owner. */
    if (geteuid() == 0) {
        static const char *const files[] = {"logs/own.log", "logs/main2.log", "logs/error.log",
                                            "logs/srv.log"};
        const struct passwd *pw = getpwnam("nobody");
        ck_assert_ptr_nonnull(pw);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            struct stat st;
            snprintf(from, sizeof(from), "%s%s", s.prefix, files[i]);
            ck_assert_int_eq(stat(from, &st), 0);
            ck_assert_msg(st.st_uid == pw->pw_uid, "%s owned by %d", files[i], (int)st.st_uid);
            ck_assert_int_eq(st.st_mode & 0600, 0600);
        }
    }
    /* The worker's own [notice] at exit lands in the new main2.log. */
    pid_t worker;
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    snprintf(from, sizeof(from), "%d#%d: exiting", (int)worker, (int)worker);
    ck_assert(kp_p_file_wait(&s, "logs/main2.log", from, LOG_WAIT_MS));
    ck_assert(file_has(&s, "logs/main2.log.1", "reopening logs"));
    kp_h_stop(&s);
}
END_TEST

/* master_process off: the single process uses the same files. */
START_TEST(error_log_single_process)
{
    struct kp_h_server s;

    start_places(&s, "master_process off;");
    get(&s, "/own/single.html", "places.test", 404);
    ck_assert(kp_p_file_wait(&s, "logs/own.log", "single.html", LOG_WAIT_MS));
    kp_h_stop(&s);
}
END_TEST

/* A message about a connection whose request head never came whole goes
 * to the default server's error_log, at its level, as in nginx. */
START_TEST(error_log_client_timeout)
{
    struct kp_h_server s;

    kp_h_prepare(&s);
    kp_h_config(&s, "error_log logs/main2.log error;",
                "server {\n"
                "    listen 127.0.0.1:@PORT@;\n"
                "    client_header_timeout 1s;\n"
                "    error_log logs/srv.log info;\n"
                "}\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
    ck_assert(kp_h_closed(fd, LOG_WAIT_MS));
    close(fd);
    ck_assert(
        kp_p_file_wait(&s, "logs/srv.log", "client timed out sending the request", LOG_WAIT_MS));
    ck_assert(!file_has(&s, "logs/main2.log", "timed out"));
    kp_h_stop(&s);
}
END_TEST

/* Close fd with a reset (RST) instead of a FIN. */
static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd);
}

/* A client that closes an idle connection, or resets it, is logged at
 * [info] in nginx's words: before its first request "while waiting for
 * request" with the listening address, after one as a keep-alive
 * connection closed, by the worker. */
START_TEST(idle_close_logged_at_info)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char want[256], prefix[64];
    pid_t worker;

    start(&s);
    ck_assert_int_eq(kp_p_children(s.pid, &worker, 1), 1);
    snprintf(prefix, sizeof(prefix), "[info] %d#", (int)worker);
    for (int reset = 0; reset < 2; reset++) {
        int fd = kp_h_connect(s.port);
        ck_assert(kp_h_wait_accepted(s.port, LOG_WAIT_MS));
        if (reset)
            close_reset(fd);
        else
            close(fd);
        snprintf(want, sizeof(want),
                 reset ? "recv() failed (104: Connection reset by peer) while waiting for "
                         "request, client: 127.0.0.1, server: 127.0.0.1:%d\n"
                       : "client closed connection while waiting for request, client: "
                         "127.0.0.1, server: 127.0.0.1:%d\n",
                 s.port);
        logged_at(&s, want, prefix);

        fd = kp_h_connect(s.port);
        kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: errs.test\r\n\r\n");
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        kp_h_resp_free(&r);
        if (reset)
            close_reset(fd);
        else
            close(fd);
        logged_at(&s,
                  reset ? "client 127.0.0.1 closed keepalive connection (104: Connection reset "
                          "by peer)\n"
                        : "client 127.0.0.1 closed keepalive connection\n",
                  prefix);
    }
    kp_h_stop(&s);
}
END_TEST

/* --- syslog ------------------------------------------------------------------------- */

/* A unix datagram socket bound at prefix-relative path, standing in for
 * /dev/log. */
static int syslog_bind(const struct kp_h_server *s, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_uint_lt(strlen(s->prefix) + strlen(path), sizeof(a.sun_path));
    memcpy(a.sun_path, s->prefix, strlen(s->prefix));
    memcpy(a.sun_path + strlen(s->prefix), path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(chmod(a.sun_path, 0666), 0); /* workers started as root run as nobody */
    return fd;
}

/* The next datagram holding needle (others are skipped), NUL-terminated in
 * buf; false when none came within the wait. */
static bool syslog_recv(int fd, const char *needle, char *buf, size_t size)
{
    for (int waited = 0; waited < LOG_WAIT_MS;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) {
            waited += 100;
            continue;
        }
        ssize_t n = recv(fd, buf, size - 1, 0);
        if (n < 0)
            return false;
        buf[n] = '\0';
        if (strstr(buf, needle) != NULL)
            return true;
    }
    return false;
}

START_TEST(syslog_access_and_error)
{
    struct kp_h_server s;
    char http[1024], msg[4096], host[256], want[512];

    kp_h_prepare(&s);
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    int fd = syslog_bind(&s, "log.sock");
    kp_h_write(&s, "html/a.txt", "a");
    snprintf(http, sizeof(http),
             "log_format brief '$request_method $uri $status';\n"
             "server {\n"
             "    listen 127.0.0.1:@PORT@;\n"
             "    access_log syslog:server=unix:%slog.sock,facility=local0,severity=notice,"
             "nohostname brief;\n"
             "    error_log syslog:server=unix:%slog.sock,tag=web_1;\n"
             "}\n",
             s.prefix, s.prefix);
    kp_h_config(&s, NULL, http);
    ck_assert_int_eq(kp_h_start(&s), 0);
    get(&s, "/a.txt", "localhost", 200);
    /* local0 (16) * 8 + notice (5), no hostname, the default tag. */
    ck_assert_msg(syslog_recv(fd, "GET /a.txt 200", msg, sizeof(msg)), "no access line");
    ck_assert_msg(strncmp(msg, "<133>", 5) == 0, "%s", msg);
    ck_assert_msg(strlen(msg) > 21 && msg[8] == ' ' && msg[11] == ' ' && msg[14] == ':' &&
                      msg[17] == ':',
                  "%s", msg);
    ck_assert_str_eq(msg + 20, " kelpie: GET /a.txt 200");
    get(&s, "/missing.txt", "localhost", 404);
    /* local7 (23) * 8 + error (3), the hostname, tag=, nginx's whole line. */
    ck_assert_msg(syslog_recv(fd, "missing.txt", msg, sizeof(msg)), "no error line");
    ck_assert_msg(strncmp(msg, "<187>", 5) == 0, "%s", msg);
    ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
    snprintf(want, sizeof(want), " %s web_1: ", host);
    ck_assert_msg(strstr(msg, want) == msg + 20, "%s", msg);
    ck_assert_msg(strstr(msg, " [error] ") != NULL, "%s", msg);
    ck_assert_msg(strstr(msg, "html/missing.txt\" failed (2: No such file or directory)") != NULL,
                  "%s", msg);
    ck_assert_msg(strchr(msg, '\n') == NULL, "%s", msg);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* No syslog daemon at the path: the messages are dropped and the worker
 * serves on. */
START_TEST(syslog_missing_socket)
{
    struct kp_h_server s;
    char http[512];

    kp_h_prepare(&s);
    ck_assert_int_eq(chmod(s.prefix, 0755), 0);
    kp_h_write(&s, "html/a.txt", "a");
    snprintf(http, sizeof(http),
             "server {\n"
             "    listen 127.0.0.1:@PORT@;\n"
             "    access_log syslog:server=unix:%snobody.sock;\n"
             "    error_log syslog:server=unix:%snobody.sock info;\n"
             "}\n",
             s.prefix, s.prefix);
    kp_h_config(&s, NULL, http);
    ck_assert_int_eq(kp_h_start(&s), 0);
    for (int i = 0; i < 20; i++) {
        get(&s, "/a.txt", "localhost", 200);
        get(&s, "/gone.txt", "localhost", 404);
    }
    kp_h_stop(&s);
}
END_TEST

/* Only the local socket is a server: an address is refused with the reason. */
START_TEST(syslog_remote_refused)
{
    kp_p_expect_refused("server { access_log syslog:server=192.0.2.1:514; }",
                        "syslog server \"192.0.2.1:514\" is not supported: kelpie logs only to a "
                        "local syslog socket (server=unix:PATH)");
}
END_TEST

Suite *kp_test_errorlog_suite(void)
{
    Suite *s = suite_create("errorlog");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, request_errors_with_context);
    tcase_add_test(tc, signals_logged_at_notice);
    tcase_add_test(tc, start_reload_exit_notices);
    tcase_add_test(tc, error_log_per_location);
    tcase_add_test(tc, error_log_reopened);
    tcase_add_test(tc, error_log_single_process);
    tcase_add_test(tc, error_log_client_timeout);
    tcase_add_test(tc, idle_close_logged_at_info);
    tcase_add_test(tc, syslog_access_and_error);
    tcase_add_test(tc, syslog_missing_socket);
    tcase_add_test(tc, syslog_remote_refused);
    suite_add_tcase(s, tc);
    return s;
}
