/* How the master supervises its workers (issue 14), against the real binary:
 * a daemon's start that says how it went, workers that do not outlive a master killed with SIGKILL
 * (also when they switched from root to nobody), the watchdog that replaces a worker whose
 * heartbeat stopped, and TTIN/TTOU adding and removing a worker live. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define MAX_KIDS 16

static const char *HTTP_OK = "access_log off;\n"
                             "server {\n"
                             "    listen 127.0.0.1:@PORT@;\n"
                             "    location / { return 200 \"ok\\n\"; }\n"
                             "    location = /status { status; allow 127.0.0.1; deny all; }\n"
                             "}\n";

static void workers(struct kp_h_server *s, int n, const char *main_more)
{
    char main_extra[256];

    snprintf(main_extra, sizeof(main_extra), "worker_processes %d;\n%s", n,
             main_more ? main_more : "");
    kp_p_start(s, main_extra, NULL, HTTP_OK);
    ck_assert_msg(kp_p_wait_children(s->pid, n, 5000), "%d workers did not start", n);
}

/* --- a daemon's start ------------------------------------------------------------ */

/* The command that starts a daemon exits only with the verdict: workers that
 * cannot build their reactor (an open file limit of 3 leaves no descriptor
 * for epoll; -t cannot know) make it exit 1 with their reason on stderr,
 * and nothing is left running. poll and select need no descriptor, so this
 * runs with epoll only. */
START_TEST(daemon_start_reports_failure)
{
    static const char *const allowed[] = {"cannot create the event loop", "exited with",
                                          "cannot start", "exited on signal", NULL};
    struct kp_h_server s;
    char prefix[128], *out, *err;

    if (strcmp(kp_h_events(), "epoll") != 0)
        return;
    kp_h_prepare(&s);
    kp_h_config_raw(&s,
                    "error_log logs/error.log info;\npid logs/kelpie.pid;\n"
                    "worker_processes 2;\nworker_rlimit_nofile 3;\n",
                    "use epoll;", HTTP_OK);
    snprintf(prefix, sizeof(prefix), "%s", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-p", prefix, NULL};
    int rc = kp_h_run(argv, &out, &err);
    ck_assert_msg(rc == 1, "kelpie exited %d: %s", rc, err);
    ck_assert_msg(strstr(err, "cannot create the event loop (24: ") != NULL, "no reason: %s", err);
    ck_assert_msg(strstr(err, "worker processes cannot start") != NULL, "stderr: %s", err);
    free(out);
    free(err);
    char *pid = kp_h_read(&s, "logs/kelpie.pid");
    ck_assert_msg(pid == NULL, "a pid file is left: %s", pid);
    ck_assert_int_lt(kp_h_connect(s.port), 0);
    kp_p_stop_allowing(&s, allowed);
}
END_TEST

/* --- the master killed with SIGKILL ---------------------------------------------- */

/* Started as root, the workers switch to nobody, and the kernel clears a
 * parent-death signal set before that switch: it must be set after it. The
 * orphans would otherwise keep the port, and a restart would fail. */
START_TEST(master_sigkill_takes_workers)
{
    struct kp_h_server s;
    pid_t kids[MAX_KIDS];

    workers(&s, 2, NULL);
    int n = kp_p_children(s.pid, kids, MAX_KIDS);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    if (getuid() != 0)
        fprintf(stderr, "master_sigkill_takes_workers: not root, the workers keep their user\n");
    ck_assert_int_ge(kp_h_signal_wait(&s, SIGKILL, 5000), 0);
    /* A second is what an operator may expect; the bound is generous for a
     * loaded machine, but the workers would never go without the signal. */
    for (int i = 0; i < n; i++)
        ck_assert_msg(kp_p_gone(kids[i], 5000), "worker %d outlived its master", (int)kids[i]);
    ck_assert_msg(kp_h_start(&s) == 0, "a restart did not bind the port");
    ck_assert_int_eq(kp_p_get(s.port), 200);
    kp_h_stop(&s);
}
END_TEST

/* --- log files the workers' user cannot reach ------------------------------------ */

static const char *HTTP_PRIVATE_LOG = "access_log logs/private/access.log;\n"
                                      "server {\n"
                                      "    listen 127.0.0.1:@PORT@;\n"
                                      "    location / { return 200 \"ok\\n\"; }\n"
                                      "}\n";

struct lines_wait {
    const struct kp_h_server *s;
    const char *path;
    int want;
};

static int count_lines(const struct kp_h_server *s, const char *path)
{
    char *text = kp_h_read(s, path);
    int n = text ? kp_p_count_lines(text, "\"GET / HTTP/1.1\" 200") : -1;

    free(text);
    return n;
}

static bool has_lines(void *arg)
{
    const struct lines_wait *w = arg;

    return count_lines(w->s, w->path) >= w->want;
}

static void requests_logged(const struct kp_h_server *s, const char *path, int n)
{
    struct lines_wait w = {s, path, n};

    for (int i = 0; i < n; i++)
        ck_assert_int_eq(kp_p_get(s->port), 200);
    ck_assert_msg(kp_h_wait_until(has_lines, &w, 5000), "%s: %d lines, want %d", path,
                  count_lines(s, path), n);
}

/* Whether pid has a descriptor open on a path ending in suffix. */
static bool holds_file(pid_t pid, const char *suffix)
{
    char dir[64], link[512], target[512];
    bool found = false;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && !found && (e = readdir(d)) != NULL;) {
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        size_t len = strlen(suffix);
        found = (size_t)n >= len && strcmp(target + n - len, suffix) == 0;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* After USR1: no worker writes to the rotated file any more (each takes the
 * new descriptors when it handles the signal, a moment after the master). */
static bool workers_switched(void *arg)
{
    const struct kp_h_server *s = arg;
    pid_t kids[MAX_KIDS];
    int n = kp_p_children(s->pid, kids, MAX_KIDS);

    for (int i = 0; i < n; i++) {
        if (holds_file(kids[i], "/access.log.1"))
            return false;
    }
    return n > 0;
}

/* nginx's way: the master opens the log files (as root), the workers (as
 * nobody) write through the descriptors they inherit, and on USR1 they get
 * the reopened files from the master. The access log's directory is 0700
 * root: a worker could neither open nor reopen anything in it. */
START_TEST(logs_in_root_only_dir)
{
    struct kp_h_server s;
    char dir[256];

    if (getuid() != 0) {
        fprintf(stderr, "logs_in_root_only_dir: skipped (needs root)\n");
        return;
    }
    kp_h_prepare(&s);
    snprintf(dir, sizeof(dir), "%s", s.prefix);
    chmod(dir, 0755);
    snprintf(dir, sizeof(dir), "%slogs/private", s.prefix);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    kp_p_write_config(&s, "worker_processes 2;\n", NULL, HTTP_PRIVATE_LOG);
    ck_assert_msg(kp_h_start(&s) == 0, "kelpie did not start");
    ck_assert(kp_p_wait_children(s.pid, 2, 5000));
    requests_logged(&s, "logs/private/access.log", 6);

    char from[300], to[300];
    snprintf(from, sizeof(from), "%s/access.log", dir);
    snprintf(to, sizeof(to), "%s/access.log.1", dir);
    ck_assert_int_eq(rename(from, to), 0);
    snprintf(from, sizeof(from), "%slogs/error.log", s.prefix);
    snprintf(to, sizeof(to), "%slogs/error.log.1", s.prefix);
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
    struct lines_wait created = {&s, "logs/private/access.log", 0};
    ck_assert_msg(kp_h_wait_until(has_lines, &created, 5000), "USR1 did not recreate the log");
    ck_assert_msg(kp_h_wait_until(workers_switched, &s, 5000), "a worker kept the old file");
    /* Both workers write to the new file: each request may reach either. */
    requests_logged(&s, "logs/private/access.log", 10);
    ck_assert_int_eq(count_lines(&s, "logs/private/access.log.1"), 6);
    char *old = kp_h_read(&s, "logs/error.log.1");
    ck_assert_msg(old != NULL && kp_p_unexpected_alerts(old, NULL) == 0, "alerts before USR1");
    free(old);
    kp_h_stop(&s);
}
END_TEST

/* --- the watchdog ----------------------------------------------------------------- */

/* A worker that stops running (SIGSTOP here; an endless loop or a debugger
 * alike) is killed once its heartbeat is worker_watchdog_timeout old, and a
 * new one takes its place; the other worker is left alone. */
START_TEST(watchdog_replaces_stopped_worker)
{
    static const char *const allowed[] = {"has not run for", "exited on signal 9", NULL};
    struct kp_h_server s;
    pid_t kids[MAX_KIDS];

    workers(&s, 2, "worker_watchdog_timeout 1s;\n");
    int n = kp_p_children(s.pid, kids, MAX_KIDS);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(kill(kids[0], SIGSTOP), 0);
    ck_assert_msg(kp_p_gone(kids[0], 15000), "the stopped worker was not killed");
    ck_assert_msg(kp_p_new_child(s.pid, kids, n, 10000) > 0, "no worker replaced it");
    ck_assert(kp_p_wait_children(s.pid, 2, 10000));
    char needle[64];
    snprintf(needle, sizeof(needle), "worker process %d (worker ", (int)kids[0]);
    ck_assert_msg(kp_p_log_wait(&s, needle, 5000), "no alert names the stopped worker");
    ck_assert(kp_p_log_wait(&s, "(worker_watchdog_timeout 1000 ms): killed", 1000));
    ck_assert_msg(kp_p_alive(kids[1]), "the running worker was killed too");
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(kp_p_get(s.port), 200);
    kp_p_stop_allowing(&s, allowed);
}
END_TEST

/* --- TTIN / TTOU -------------------------------------------------------------------- */

/* Workers the status page lists (each has a "slot"). */
static int status_workers(int port)
{
    struct kp_h_resp r;
    int n = -1;

    if (kp_h_request(port, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) ==
            0 &&
        r.status == 200 && r.body != NULL) {
        n = 0;
        for (const char *p = r.body; (p = strstr(p, "\"slot\":")) != NULL; p++)
            n++;
    }
    kp_h_resp_free(&r);
    return n;
}

struct count_wait {
    const struct kp_h_server *s;
    int want;
};

/* The master has want workers, the status page lists want, all serve. */
static bool workers_are(void *arg)
{
    const struct count_wait *w = arg;
    pid_t kids[MAX_KIDS];

    return kp_p_children(w->s->pid, kids, MAX_KIDS) == w->want &&
           status_workers(w->s->port) == w->want;
}

static void expect_workers(const struct kp_h_server *s, int want)
{
    struct count_wait w = {s, want};

    ck_assert_msg(kp_h_wait_until(workers_are, &w, 10000), "not %d workers (status lists %d)", want,
                  status_workers(s->port));
    for (int i = 0; i < 2 * want; i++)
        ck_assert_int_eq(kp_p_get(s->port), 200);
}

/* gunicorn's signals: TTIN adds a worker, TTOU removes one (never the last),
 * and a reload restores worker_processes. */
START_TEST(ttin_ttou)
{
    struct kp_h_server s;
    char prefix[128], *out, *err;

    workers(&s, 2, NULL);
    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    expect_workers(&s, 3);
    ck_assert(kp_p_log_wait(&s, "SIGTTIN: 3 worker processes", 5000));
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    expect_workers(&s, 2);
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    expect_workers(&s, 1);
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    ck_assert(kp_p_log_wait(&s, "SIGTTOU ignored: one worker process is left", 5000));
    expect_workers(&s, 1);
    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    expect_workers(&s, 2);
    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    expect_workers(&s, 3);

    snprintf(prefix, sizeof(prefix), "%s", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-p", prefix, "-s", "reload", NULL};
    ck_assert_msg(kp_h_run(argv, &out, &err) == 0, "reload failed: %s", err);
    free(out);
    free(err);
    expect_workers(&s, 2);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_supervise_suite(void)
{
    Suite *s = suite_create("supervise");
    TCase *tc = tcase_create("supervise");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, daemon_start_reports_failure);
    tcase_add_test(tc, master_sigkill_takes_workers);
    tcase_add_test(tc, watchdog_replaces_stopped_worker);
    tcase_add_test(tc, logs_in_root_only_dir);
    tcase_add_test(tc, ttin_ttou);
    suite_add_tcase(s, tc);
    return s;
}
