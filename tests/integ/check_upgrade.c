/* nginx's binary upgrade against the real binary (USR2, WINCH, QUIT, and
 * the HUP rollback): three upgrades in a row under a keep-alive load lose
 * no request, a rollback brings the old workers back and restores the pid
 * file, and a new binary that cannot start leaves the old master serving
 * with its pid file restored and the reason in the error log. The server
 * runs from a copy of the binary in the prefix, so that the test can put a
 * different "new binary" in its place. The test process is a subreaper: a
 * new master whose old master exits becomes its child, to be reaped. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "proc.h"

#define WORKERS 2

/* Install `content` (or a copy of the binary under test when NULL) as the
 * prefix's sbin/kelpie, replacing the file by rename as an install does. */
static void install_binary(const struct kp_h_server *s, const char *content)
{
    char tmp[256], dst[256], cmd[600];

    snprintf(tmp, sizeof(tmp), "%ssbin/kelpie.new", s->prefix);
    snprintf(dst, sizeof(dst), "%ssbin/kelpie", s->prefix);
    if (content == NULL) {
        snprintf(cmd, sizeof(cmd), "mkdir -p '%ssbin' && cp '%s' '%s'", s->prefix, kp_h_binary(),
                 tmp);
        ck_assert_int_eq(system(cmd), 0);
    } else {
        kp_h_write(s, "sbin/kelpie.new", content);
    }
    ck_assert_int_eq(chmod(tmp, 0755), 0);
    ck_assert_int_eq(rename(tmp, dst), 0);
}

/* The children of master other than `except` (a new master is the old
 * master's child too). */
static int workers_of(pid_t master, pid_t except)
{
    pid_t kids[64];
    int n = kp_p_children(master, kids, 64), count = 0;

    for (int i = 0; i < n; i++)
        count += kids[i] != except;
    return count;
}

static bool wait_workers(pid_t master, pid_t except, int want)
{
    for (int i = 0; i < 1500; i++) {
        if (workers_of(master, except) == want)
            return true;
        kp_h_sleep_ms(10);
    }
    return false;
}

static void start(struct kp_h_server *s)
{
    char bin[256];

    prctl(PR_SET_CHILD_SUBREAPER, 1);
    kp_h_prepare(s);
    install_binary(s, NULL);
    snprintf(bin, sizeof(bin), "%ssbin/kelpie", s->prefix);
    setenv("KP_TEST_BINARY", bin, 1);
    char dir[sizeof(s->prefix)];
    snprintf(dir, sizeof(dir), "%s", s->prefix);
    chmod(dir, 0755); /* started as root, the workers run as nobody */
    kp_p_write_config(s, "worker_processes 2;", NULL,
                      "access_log off;\nkeepalive_requests 1000000;\n"
                      "server { listen 127.0.0.1:@PORT@; location / { return 200 \"ok\\n\"; } }");
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
    unsetenv("KP_TEST_BINARY");
    ck_assert(wait_workers(s->pid, 0, WORKERS));
}

/* The pid in a prefix-relative file, or 0. */
static pid_t pid_in(const struct kp_h_server *s, const char *path)
{
    char *text = kp_h_read(s, path);
    pid_t pid = text != NULL ? (pid_t)atoi(text) : 0;

    free(text);
    return pid;
}

struct pidfile_wait {
    const struct kp_h_server *s;
    pid_t not ;
};

static bool pidfile_moved(void *arg)
{
    struct pidfile_wait *w = arg;
    pid_t now = pid_in(w->s, "logs/kelpie.pid");

    return now > 0 && now != w->not ;
}

/* Wait (at most 10 s) until pid is gone, reaping it if it is our child. */
static bool ended(pid_t pid)
{
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid || !kp_p_alive(pid))
            return true;
        kp_h_sleep_ms(10);
    }
    return false;
}

/* USR2 to old: the new master it starts, once its workers are up. */
static pid_t upgrade(struct kp_h_server *s, pid_t old)
{
    struct pidfile_wait w = {s, old};

    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    ck_assert_msg(kp_h_wait_until(pidfile_moved, &w, 10000), "no new master wrote the pid file");
    pid_t nm = pid_in(s, "logs/kelpie.pid");
    ck_assert_int_eq(pid_in(s, "logs/kelpie.pid.oldbin"), old);
    ck_assert_int_eq(kp_p_ppid(nm), old);
    /* nginx's notices for it, by the old master */
    char want[96];
    snprintf(want, sizeof(want), "[notice] %d#%d: changing binary\n", (int)old, (int)old);
    ck_assert_msg(kp_p_log_wait(s, want, 10000), "never logged: %s", want);
    snprintf(want, sizeof(want), "[notice] %d#%d: start new binary process %d ", (int)old, (int)old,
             (int)nm);
    ck_assert_msg(kp_p_log_wait(s, want, 10000), "never logged: %s", want);
    ck_assert(wait_workers(nm, 0, WORKERS));
    /* Both generations serve until the old one is told to drain. */
    ck_assert_int_eq(workers_of(old, nm), WORKERS);
    return nm;
}

/* WINCH then QUIT to the old master: its workers drain, it exits. */
static void retire(pid_t old, pid_t nm)
{
    ck_assert_int_eq(kill(old, SIGWINCH), 0);
    ck_assert_msg(wait_workers(old, nm, 0), "the old workers did not drain");
    ck_assert_int_eq(kill(old, SIGQUIT), 0);
    ck_assert_msg(ended(old), "the old master did not exit on QUIT");
}

/* Let the load get at least n more answers (each step is taken under
 * traffic, not between bursts). */
static void traffic(struct kp_load *load, long n)
{
    struct kp_load_stats st;

    kp_load_snapshot(load, &st);
    long want = st.ok + n;
    for (int i = 0; i < 1000 && st.ok < want; i++) {
        kp_h_sleep_ms(10);
        kp_load_snapshot(load, &st);
    }
    ck_assert_msg(st.ok >= want, "the load stalled at %ld answers", st.ok);
}

static const char *const allowed[] = {"exited with code 1", "upgrade-test: cannot start", NULL};

START_TEST(upgrade_three_times_under_load_and_roll_back)
{
    struct kp_h_server s;
    struct kp_load_stats st;

    start(&s);
    struct kp_load_conf lc = {.port = s.port, .conns = 16, .timeout_ms = 10000};
    struct kp_load *load = kp_load_start(&lc);
    pid_t master = s.pid;
    for (int i = 0; i < 3; i++) {
        traffic(load, 200);
        pid_t nm = upgrade(&s, master);
        traffic(load, 200); /* both generations serve */
        retire(master, nm);
        ck_assert_int_eq(pid_in(&s, "logs/kelpie.pid"), nm);
        char *old = kp_h_read(&s, "logs/kelpie.pid.oldbin");
        ck_assert_msg(old == NULL, "the old master left its pid file behind");
        master = nm;
    }
    /* Rollback: the new binary is bad after all. */
    traffic(load, 200);
    pid_t nm = upgrade(&s, master);
    ck_assert_int_eq(kill(master, SIGWINCH), 0);
    ck_assert(wait_workers(master, nm, 0));
    traffic(load, 200); /* only the new generation serves */
    ck_assert_int_eq(kill(master, SIGHUP), 0);
    ck_assert_msg(wait_workers(master, nm, WORKERS), "HUP did not bring the workers back");
    traffic(load, 200);
    ck_assert_int_eq(kill(nm, SIGQUIT), 0);
    ck_assert(kp_p_gone(nm, 15000));
    struct pidfile_wait w = {&s, nm};
    ck_assert_msg(kp_h_wait_until(pidfile_moved, &w, 5000), "pid file not restored");
    ck_assert_int_eq(pid_in(&s, "logs/kelpie.pid"), master);
    ck_assert_ptr_null(kp_h_read(&s, "logs/kelpie.pid.oldbin"));
    traffic(load, 200);
    kp_load_stop(load, &st);
    kp_load_print("upgrades", &st);
    ck_assert_int_eq(st.failures, 0);
    ck_assert_int_gt(st.ok, 0);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    s.pid = master;
    kp_p_stop_allowing(&s, allowed);
}
END_TEST

START_TEST(upgrade_to_a_binary_that_cannot_start)
{
    struct kp_h_server s;

    start(&s);
    install_binary(&s,
                   "#!/bin/sh\necho 'kelpie: [emerg] upgrade-test: cannot start' >&2\nexit 1\n");
    ck_assert_int_eq(kill(s.pid, SIGUSR2), 0);
    ck_assert_msg(kp_p_log_wait(&s, "exited with code 1: pid file restored", 10000),
                  "the old master did not notice the failed upgrade");
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(strstr(log, "upgrade-test: cannot start"));
    free(log);
    ck_assert_int_eq(pid_in(&s, "logs/kelpie.pid"), s.pid);
    ck_assert_ptr_null(kp_h_read(&s, "logs/kelpie.pid.oldbin"));
    ck_assert_int_eq(workers_of(s.pid, 0), WORKERS);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    /* A later upgrade to a good binary still works. */
    install_binary(&s, NULL);
    pid_t nm = upgrade(&s, s.pid);
    retire(s.pid, nm);
    s.pid = nm;
    ck_assert_int_eq(kp_p_get(s.port), 200);
    kp_p_stop_allowing(&s, allowed);
}
END_TEST

Suite *kp_test_upgrade_suite(void)
{
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("upgrade");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, upgrade_three_times_under_load_and_roll_back);
    tcase_add_test(tc, upgrade_to_a_binary_that_cannot_start);
    suite_add_tcase(s, tc);
    return s;
}
