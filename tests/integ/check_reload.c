/* Reloads against the real binary (issue 5): SIGHUP every second under a
 * keep-alive load with the content changing each time (no failed request,
 * no connection error, and the responses switch), invalid configurations
 * (nothing changes, `kelpie -s reload` exits non-zero), a change of
 * worker_processes, a change of listening port, and a draining worker that
 * answers an idle keep-alive connection with "Connection: close" instead of
 * resetting it. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "proc.h"

#define MAX_KIDS 16

/* Generation `gen` of the configuration: `return 200 "gen N"` on port
 * (@PORT@ or @PORT2@), with `workers` workers. */
static void write_gen(const struct kp_h_server *s, int workers, const char *port, int gen)
{
    char main_extra[64], http[512];

    snprintf(main_extra, sizeof(main_extra), "worker_processes %d;\n", workers);
    snprintf(http, sizeof(http),
             "access_log off;\n"
             "keepalive_requests 1000000;\n"
             "server {\n"
             "    listen 127.0.0.1:%s;\n"
             "    location / { return 200 \"gen %d\\n\"; }\n"
             "}\n",
             port, gen);
    kp_p_write_config(s, main_extra, NULL, http);
}

static void start_gen(struct kp_h_server *s, int workers)
{
    kp_h_prepare(s);
    write_gen(s, workers, "@PORT@", 1);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
    ck_assert(kp_p_wait_children(s->pid, workers, 5000));
}

static int reload(const struct kp_h_server *s, char **err)
{
    char prefix[128], *out;
    snprintf(prefix, sizeof(prefix), "%s", s->prefix);
    char *argv[] = {(char *)kp_h_binary(), "-p", prefix, "-s", "reload", NULL};

    int rc = kp_h_run(argv, &out, err);
    free(out);
    return rc;
}

static void reload_ok(const struct kp_h_server *s)
{
    char *err;
    int rc = reload(s, &err);

    ck_assert_msg(rc == 0, "kelpie -s reload exited %d: %s", rc, err);
    free(err);
}

/* The body of GET / on a new connection ("" when there is no answer). */
static void body_of(int port, char *out, size_t size)
{
    struct kp_h_resp r;

    out[0] = '\0';
    if (kp_h_request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) == 0 &&
        r.status == 200 && r.body != NULL)
        snprintf(out, size, "%s", r.body);
    kp_h_resp_free(&r);
}

static void expect_body(int port, const char *want)
{
    char body[64];

    body_of(port, body, sizeof(body));
    ck_assert_str_eq(body, want);
}

static void check_log(const struct kp_h_server *s, const char *const *allowed)
{
    char *log = kp_h_read(s, "logs/error.log");

    ck_assert_ptr_nonnull(log);
    ck_assert_msg(kp_p_unexpected_alerts(log, allowed) == 0, "unexpected alerts in the error log");
    free(log);
}

/* Wait until the master has exactly `workers` children again (the old
 * generation has drained and exited). */
static void old_generation_gone(const struct kp_h_server *s, int workers)
{
    ck_assert_msg(kp_p_wait_children(s->pid, workers, 5000), "the old generation did not exit");
}

/* --- reload under load --------------------------------------------------------- */

/* 10 s of load and ten reloads with epoll; the other backends run the same
 * test for 3 s (the reload path does not depend on the backend, the
 * connections it drains do), which keeps `make integ` short. */
START_TEST(reload_under_load)
{
    int duration = strcmp(kp_h_events(), "epoll") == 0 ? 10000 : 3000;
    struct kp_h_server s;
    struct kp_load_stats st;
    int gen = 1;

    start_gen(&s, 2);
    expect_body(s.port, "gen 1\n");
    struct kp_load_conf lc = {
        .port = s.port, .conns = 64, .duration_ms = duration, .timeout_ms = 5000, .ramp_ms = 1};
    long t0 = kp_load_now_ms();
    struct kp_load *l = kp_load_start(&lc);
    long slowest_reload = 0;
    while (kp_load_now_ms() - t0 < duration - 1000) {
        kp_h_sleep_ms((int)(1000 - (kp_load_now_ms() - t0) % 1000));
        write_gen(&s, 2, "@PORT@", ++gen);
        long r0 = kp_load_now_ms();
        reload_ok(&s);
        slowest_reload =
            kp_load_now_ms() - r0 > slowest_reload ? kp_load_now_ms() - r0 : slowest_reload;
    }
    kp_load_finish(l, &st);

    kp_load_print("reload under load", &st);
    fprintf(stderr,
            "reload under load [%s]: %d reloads, the slowest took %ld ms; bodies:", kp_h_events(),
            gen - 1, slowest_reload);
    for (int i = 0; i < st.n_bodies; i++)
        fprintf(stderr, " \"%s\" x%ld (%ld-%ld ms)", st.bodies[i].text, st.bodies[i].count,
                st.bodies[i].first_ms, st.bodies[i].last_ms);
    fprintf(stderr, "\n");
    ck_assert_msg(st.failures == 0, "%ld failed requests or connections", st.failures);
    ck_assert_int_gt(st.ok, 1000);
    /* Every generation served, in order, and the last one serves now. */
    ck_assert_int_eq(st.n_bodies, gen);
    for (int i = 0; i < st.n_bodies; i++) {
        char want[32];
        snprintf(want, sizeof(want), "gen %d", i + 1);
        ck_assert_str_eq(st.bodies[i].text, want);
        if (i > 0)
            ck_assert_int_gt(st.bodies[i].first_ms, st.bodies[i - 1].first_ms);
        ck_assert_int_le(st.bodies[i].last_ms, st.bodies[st.n_bodies - 1].last_ms);
    }
    char last[32];
    snprintf(last, sizeof(last), "gen %d\n", gen);
    expect_body(s.port, last);
    old_generation_gone(&s, 2);
    kp_h_stop(&s);
}
END_TEST

/* --- invalid configurations ------------------------------------------------------- */

static bool log_has(const struct kp_h_server *s, const char *needle)
{
    char *log = kp_h_read(s, "logs/error.log");
    bool found = log != NULL && strstr(log, needle) != NULL;

    free(log);
    return found;
}

struct log_wait {
    const struct kp_h_server *s;
    const char *needle;
};

static bool log_wait_fn(void *arg)
{
    const struct log_wait *w = arg;

    return log_has(w->s, w->needle);
}

START_TEST(reload_invalid_config)
{
    static const char *const allowed[] = {"unknown directive \"bogus\"",
                                          "bind() to",
                                          "/no/such/dir/a.log",
                                          "exited with code 2",
                                          "exited with fatal code 2",
                                          "new workers did not start",
                                          "cannot create the event loop",
                                          "getgrnam(\"kp-no-such-group\") failed",
                                          NULL};
    struct kp_h_server s;
    pid_t before[MAX_KIDS], after[MAX_KIDS];
    char *err;

    start_gen(&s, 2);
    int n = kp_p_children(s.pid, before, MAX_KIDS);
    kp_h_write(&s, "conf/kelpie.conf",
               "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n"
               "master_process on;\nworker_processes 2;\nbogus on;\nhttp { }\n");

    /* The command refuses it. */
    int rc = reload(&s, &err);
    ck_assert_msg(rc != 0 && strstr(err, "bogus") != NULL, "reload: exit %d, stderr \"%s\"", rc,
                  err);
    free(err);
    /* So does the master, when signalled directly: it logs why and keeps
     * everything as it was. */
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    struct log_wait w = {&s, "unknown directive \"bogus\""};
    ck_assert_msg(kp_h_wait_until(log_wait_fn, &w, 3000), "the master did not log the error");
    expect_body(s.port, "gen 1\n");

    /* A configuration only the master can find wrong: its port is taken. */
    int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s.port2),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(busy, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(busy, 1), 0);
    write_gen(&s, 2, "@PORT2@", 2);
    rc = reload(&s, &err);
    ck_assert_msg(rc != 0 && strstr(err, "listening socket") != NULL,
                  "reload: exit %d, stderr \"%s\"", rc, err);
    free(err);
    close(busy);
    expect_body(s.port, "gen 1\n");

    /* An access log the master cannot open (it opens them for the workers):
     * refused before any worker starts. */
    kp_p_write_config(
        &s, "worker_processes 2;\n", NULL,
        "access_log /no/such/dir/a.log;\n"
        "server { listen 127.0.0.1:@PORT@; location / { return 200 \"gen 2\\n\"; } }\n");
    rc = reload(&s, &err);
    ck_assert_msg(rc != 0 && strstr(err, "an access log could not be opened") != NULL,
                  "reload: exit %d, stderr \"%s\"", rc, err);
    free(err);
    expect_body(s.port, "gen 1\n");

    /* As root, a `user` or `group` that does not exist: refused as nginx
     * refuses it, with the [emerg] in the error log, before any worker
     * starts (workers that could not switch to it were tried before). */
    if (geteuid() == 0) {
        kp_p_write_config(
            &s, "worker_processes 2;\nuser nobody kp-no-such-group;\n", NULL,
            "server { listen 127.0.0.1:@PORT@; location / { return 200 \"gen 2\\n\"; } }\n");
        rc = reload(&s, &err);
        ck_assert_msg(rc != 0 && strstr(err, "configuration is invalid") != NULL,
                      "reload: exit %d, stderr \"%s\"", rc, err);
        free(err);
        ck_assert(log_has(&s, "[emerg]"));
        ck_assert(log_has(&s, "getgrnam(\"kp-no-such-group\") failed: no such group"));
        ck_assert(!log_has(&s, "cannot switch to user"));
        expect_body(s.port, "gen 1\n");
    }

    /* One only the new workers find wrong: with epoll, an open file limit of
     * 3 leaves no descriptor for their event loop (poll and select need
     * none). The reload fails as soon as they exit, and the old generation
     * (which must not be touched) keeps serving. */
    if (strcmp(kp_h_events(), "epoll") == 0) {
        kp_p_write_config(
            &s, "worker_processes 2;\nworker_rlimit_nofile 3;\n", NULL,
            "server { listen 127.0.0.1:@PORT@; location / { return 200 \"gen 2\\n\"; } }\n");
        long t0 = kp_load_now_ms();
        rc = reload(&s, &err);
        long took = kp_load_now_ms() - t0;
        ck_assert_msg(rc != 0 && strstr(err, "did not start") != NULL,
                      "reload: exit %d, stderr \"%s\"", rc, err);
        /* sooner than the master's 10 s wait for a new generation to be
         * ready: it noticed that they died, however busy the machine is */
        ck_assert_msg(took < 8000, "a reload whose workers died at once took %ld ms", took);
        free(err);
        expect_body(s.port, "gen 1\n");
    }
    ck_assert_int_eq(kp_p_children(s.pid, after, MAX_KIDS), n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(after[i] == before[i], "a failed reload replaced the workers");

    /* The master is still fine with a good configuration. */
    write_gen(&s, 2, "@PORT@", 3);
    reload_ok(&s);
    expect_body(s.port, "gen 3\n");
    check_log(&s, allowed);
    s.alerts_expected = true;
    kp_h_stop(&s);
}
END_TEST

/* Several `kelpie -s reload` at once: each gets its answer (the requests
 * are queued, not merged), none waits for a timeout. */
START_TEST(concurrent_reload_commands)
{
    struct kp_h_server s;
    char prefix[128];
    pid_t cmds[6];

    start_gen(&s, 2);
    write_gen(&s, 2, "@PORT@", 2);
    snprintf(prefix, sizeof(prefix), "%s", s.prefix);
    long t0 = kp_load_now_ms();
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        cmds[i] = fork();
        ck_assert_int_ge(cmds[i], 0);
        if (cmds[i] == 0) {
            execl(kp_h_binary(), kp_h_binary(), "-p", prefix, "-s", "reload", (char *)NULL);
            _exit(127);
        }
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int status;
        ck_assert_int_eq(waitpid(cmds[i], &status, 0), cmds[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "command %zu: status %d", i,
                      status);
    }
    /* well below the 60 s a command waits for its answer at most */
    ck_assert_msg(kp_load_now_ms() - t0 < 40000, "the commands took %ld ms", kp_load_now_ms() - t0);
    expect_body(s.port, "gen 2\n");
    kp_h_stop(&s);
}
END_TEST

/* --- worker_processes and listen ------------------------------------------------- */

static bool in(const pid_t *v, int n, pid_t pid)
{
    for (int i = 0; i < n; i++) {
        if (v[i] == pid)
            return true;
    }
    return false;
}

/* Connections until one is served by pid (keep-alive, so that the owner can
 * be looked up while it is open). */
static bool answers(int port, pid_t pid)
{
    for (int tries = 0; tries < 200; tries++) {
        struct kp_h_resp r;
        struct sockaddr_in local;
        socklen_t len = sizeof(local);
        int fd = kp_h_connect(port);
        if (fd < 0)
            return false;
        kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        int rc = kp_h_recv(fd, &r, false);
        kp_h_resp_free(&r);
        getsockname(fd, (struct sockaddr *)&local, &len);
        pid_t owner = rc == 0 ? kp_p_socket_owner(port, ntohs(local.sin_port), &pid, 1) : 0;
        close(fd);
        if (owner == pid)
            return true;
        kp_h_sleep_ms(5);
    }
    return false;
}

/* _i 1: with `listen ... reuseport`, where a new worker count means a new
 * set of sockets: every connection must still be answered (none may land
 * in a socket of the old set that nobody accepts from any more). */
START_TEST(reload_worker_processes)
{
    const char *port = _i ? "@PORT@ reuseport" : "@PORT@";
    struct kp_h_server s;
    pid_t old[MAX_KIDS], now[MAX_KIDS];
    char cmd[128];

    kp_h_prepare(&s);
    write_gen(&s, 2, port, 1);
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    ck_assert(kp_p_wait_children(s.pid, 2, 5000));
    int n_old = kp_p_children(s.pid, old, MAX_KIDS);
    write_gen(&s, 3, port, 2);
    reload_ok(&s);
    expect_body(s.port, "gen 2\n");
    old_generation_gone(&s, 3);
    int n = kp_p_children(s.pid, now, MAX_KIDS);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(!in(old, n_old, now[i]), "an old worker is still there");
        kp_p_cmdline(now[i], cmd, sizeof(cmd));
        ck_assert_str_eq(cmd, "kelpie: worker process");
        ck_assert_msg(answers(s.port, now[i]), "new worker %d does not answer", (int)now[i]);
    }
    struct kp_load_conf lc = {
        .port = s.port, .conns = 4, .close = true, .max_requests = 400, .timeout_ms = 2000};
    struct kp_load_stats st;
    kp_load_run(&lc, &st);
    if (st.failures != 0)
        kp_load_print("after the reload", &st);
    ck_assert_int_eq(st.failures, 0);
    kp_h_stop(&s);
}
END_TEST

static bool refused(void *arg)
{
    int fd = kp_h_connect(*(int *)arg);

    if (fd >= 0)
        close(fd);
    return fd < 0;
}

START_TEST(reload_listen_port)
{
    struct kp_h_server s;

    start_gen(&s, 2);
    write_gen(&s, 2, "@PORT2@", 2);
    reload_ok(&s);
    expect_body(s.port2, "gen 2\n");
    ck_assert_msg(kp_h_wait_until(refused, &s.port, 3000), "the old port is still open");
    old_generation_gone(&s, 2);
    expect_body(s.port2, "gen 2\n");
    kp_h_stop(&s);
}
END_TEST

/* --- the soft drain ---------------------------------------------------------------- */

static int count_in_log(const struct kp_h_server *s, const char *needle)
{
    char *log = kp_h_read(s, "logs/error.log");
    int n = log ? kp_p_count_lines(log, needle) : 0;

    free(log);
    return n;
}

static bool both_draining(void *arg)
{
    return count_in_log(arg, "gracefully shutting down") >= 2;
}

START_TEST(draining_worker_closes_softly)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char c;

    start_gen(&s, 2);
    /* Two keep-alive connections, each used once and then idle. */
    int busy = kp_h_connect(s.port), idle = kp_h_connect(s.port);
    ck_assert(busy >= 0 && idle >= 0);
    for (int i = 0; i < 2; i++) {
        kp_h_send_str(i ? idle : busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_int_eq(kp_h_recv(i ? idle : busy, &r, false), 0);
        ck_assert_str_eq(r.body, "gen 1\n");
        ck_assert_str_eq(kp_h_header(&r, "Connection"), "keep-alive");
        kp_h_resp_free(&r);
    }
    write_gen(&s, 2, "@PORT@", 2);
    reload_ok(&s);
    ck_assert_msg(kp_h_wait_until(both_draining, &s, 3000), "the old workers are not draining");

    /* A request that arrives while its worker drains is answered, by the
     * old generation, and the answer says the connection ends. */
    kp_h_send_str(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(kp_h_recv(busy, &r, false) == 0, "the draining worker did not answer");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "gen 1\n");
    const char *conn = kp_h_header(&r, "Connection");
    ck_assert_msg(conn != NULL && strcmp(conn, "close") == 0, "no Connection: close");
    kp_h_resp_free(&r);
    ck_assert_int_eq(recv(busy, &c, 1, 0), 0);
    /* A connection left idle is closed after the drain period, with a FIN
     * (a reset would make a client that sends at that moment fail). */
    ssize_t got = recv(idle, &c, 1, 0);
    ck_assert_msg(got == 0, "idle connection: recv %zd (%s)", got, got < 0 ? strerror(errno) : "");
    close(busy);
    close(idle);
    expect_body(s.port, "gen 2\n");
    old_generation_gone(&s, 2);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_reload_suite(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("reload");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reload_under_load);
    tcase_add_test(tc, reload_invalid_config);
    tcase_add_test(tc, concurrent_reload_commands);
    tcase_add_loop_test(tc, reload_worker_processes, 0, 2);
    tcase_add_test(tc, reload_listen_port);
    tcase_add_test(tc, draining_worker_closes_softly);
    suite_add_tcase(s, tc);
    return s;
}
