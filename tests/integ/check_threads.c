/* Reactor threads (worker_threads, issue 10): a worker process runs N
 * reactors, one per thread. Against the real binary: keep-alive and
 * pipelined requests under `worker_processes 1; worker_threads 4;` and
 * `worker_processes 2; worker_threads 2;`, each thread accepting for itself
 * or one acceptor handing connections round (accept=handoff: more than one
 * thread serves), a reload under load with no failed
 * request, a graceful quit, a killed worker respawned with all its threads,
 * the status page's slot per thread, and whole access log lines (buffered
 * or not). Nothing
 * here asserts timing or how the connections spread over the threads. */
#include <check.h>
#include <dirent.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "proc.h"
#include "tlsutil.h"

#define MAX_KIDS 8

/* The two shapes of the issue: all threads in one process, and a mix. */
static const int SHAPES[][2] = {{1, 4}, {2, 2}};

/* How the threads accept: each for itself, or one acceptor handing
 * connections round (the default, so said here by leaving it out). */
static const char *const ACCEPTS[] = {" accept=self", ""};

static void write_conf_extra(const struct kp_h_server *s, int procs, int threads,
                             const char *accept, int gen, const char *extra)
{
    char main_extra[200], http[640];

    snprintf(main_extra, sizeof(main_extra), "worker_processes %d;\nworker_threads %d%s;\n%s",
             procs, threads, accept, extra);
    snprintf(http, sizeof(http),
             "access_log logs/access.log;\n"
             "access_log logs/buffered.log combined buffer=4k;\n"
             "keepalive_requests 1000000;\n"
             "server {\n"
             "    listen 127.0.0.1:@PORT@;\n"
             "    location = /status { status; }\n"
             "    location / { return 200 \"gen %d\\n\"; }\n"
             "}\n",
             gen);
    kp_p_write_config(s, main_extra, NULL, http);
}

static void write_conf(const struct kp_h_server *s, int procs, int threads, const char *accept,
                       int gen)
{
    write_conf_extra(s, procs, threads, accept, gen, "");
}

static void start_extra(struct kp_h_server *s, int procs, int threads, const char *accept,
                        const char *extra)
{
    kp_h_prepare(s);
    write_conf_extra(s, procs, threads, accept, 1, extra);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
    ck_assert(kp_p_wait_children(s->pid, procs, 5000));
}

static void start(struct kp_h_server *s, int procs, int threads, const char *accept)
{
    start_extra(s, procs, threads, accept, "");
}

/* Every worker runs its reactors and its main thread (at least: a
 * sanitizer's runtime may add one of its own). Call once the slots are
 * READY, when every thread is up. */
static void expect_threads(const struct kp_h_server *s, int procs, int threads)
{
    pid_t kids[MAX_KIDS];
    int n = kp_p_children(s->pid, kids, MAX_KIDS);

    ck_assert_int_eq(n, procs);
    for (int i = 0; i < n; i++)
        ck_assert_int_ge(kp_h_count_threads(kids[i]), threads + 1);
}

/* Occurrences of needle in text. */
static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

struct slots_arg {
    const struct kp_h_server *s;
    int want;
};

/* The status page lists want READY slots. */
static bool slots_ready(void *arg)
{
    const struct slots_arg *a = arg;
    struct kp_h_resp r;
    bool ok =
        kp_h_request(a->s->port, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     &r) == 0 &&
        r.status == 200 && r.body != NULL && count(r.body, "\"state\":\"ready\"") == a->want;

    kp_h_resp_free(&r);
    return ok;
}

/* One slot per thread, on the JSON page and labelled by process and thread
 * on the Prometheus page. */
static void expect_slots(const struct kp_h_server *s, int procs, int threads)
{
    struct slots_arg a = {s, procs * threads};
    struct kp_h_resp r;

    ck_assert_msg(kp_h_wait_until(slots_ready, &a, 5000), "the status page lacks %d ready slots",
                  a.want);
    ck_assert_int_eq(kp_h_request(s->port,
                                  "GET /status?format=prometheus HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n",
                                  &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    for (int p = 0; p < procs; p++) {
        for (int t = 0; t < threads; t++) {
            char want[96];
            snprintf(want, sizeof(want), "kelpie_requests_total{worker=\"%d\",thread=\"%d\"}", p,
                     t);
            ck_assert_msg(strstr(r.body, want) != NULL, "no series %s", want);
        }
    }
    kp_h_resp_free(&r);
}

/* Reactor threads that took at least one connection (accepted it, or were
 * handed it), over all processes: the status page's "accepted" per slot
 * (after the totals' own "accepted"). */
static int busy_threads(const struct kp_h_server *s)
{
    const char *key = "\"accepted\":";
    struct kp_h_resp r;
    int busy = 0;

    ck_assert_int_eq(
        kp_h_request(s->port, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r),
        0);
    ck_assert_int_eq(r.status, 200);
    const char *totals = strstr(r.body, key);
    ck_assert_ptr_nonnull(totals);
    for (const char *p = strstr(totals + 1, key); p != NULL; p = strstr(p + 1, key))
        busy += atol(p + strlen(key)) > 0;
    kp_h_resp_free(&r);
    return busy;
}

/* Depth requests in one write on one connection: every answer in order. */
static void pipelined(int port, int depth)
{
    int fd = kp_h_connect(port);
    char batch[4096] = "";

    for (int i = 0; i < depth; i++)
        strcat(batch, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    kp_h_send_str(fd, batch);
    for (int i = 0; i < depth; i++) {
        struct kp_h_resp r;
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "gen 1\n");
        kp_h_resp_free(&r);
    }
    close(fd);
}

/* Lines of the access log: each one whole (one response each, ending in a
 * newline, none run into another); returns how many. */
static long whole_lines(const struct kp_h_server *s, const char *path)
{
    char *text = kp_h_read(s, path);
    long n = 0;

    ck_assert_ptr_nonnull(text);
    size_t len = strlen(text);
    ck_assert_msg(len == 0 || text[len - 1] == '\n', "the access log ends in a partial line");
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        ck_assert_msg(strncmp(line, "127.0.0.1 - - [", 15) == 0, "torn line: %s", line);
        ck_assert_msg(count(line, "HTTP/1.1\" 200 ") == 1, "torn line: %s", line);
        n++;
    }
    free(text);
    return n;
}

START_TEST(threads_serve)
{
    int procs = SHAPES[_i % 2][0], threads = SHAPES[_i % 2][1];
    const char *accept = ACCEPTS[_i / 2];
    struct kp_h_server s;
    struct kp_load_stats st;

    start(&s, procs, threads, accept);
    expect_slots(&s, procs, threads);
    expect_threads(&s, procs, threads);
    pipelined(s.port, 16);
    struct kp_load_conf lc = {
        .port = s.port, .conns = 32, .max_requests = 4000, .timeout_ms = 5000};
    kp_load_run(&lc, &st);
    kp_load_print("threads keep-alive", &st);
    ck_assert_msg(st.failures == 0, "%ld failed requests or connections", st.failures);
    lc.close = true;
    lc.max_requests = 400;
    struct kp_load_stats cl;
    kp_load_run(&lc, &cl);
    ck_assert_msg(cl.failures == 0, "%ld failed Connection: close requests", cl.failures);
    /* The acceptor hands connections round: more than one thread served
     * (how many each took is not asserted). */
    if (_i / 2 == 1)
        ck_assert_msg(busy_threads(&s) > 1, "one thread took every connection");
    /* The counters add up over the threads: every request is counted once
     * (the status requests included, whose own count is not known here). */
    ck_assert_int_eq(kp_h_signal_wait(&s, SIGQUIT, 10000), 0);
    long lines = whole_lines(&s, "logs/access.log");
    ck_assert_int_ge(lines, st.ok + cl.ok + 16);
    /* Buffered: each thread's buffer holds whole lines, flushed in one
     * write (and at the quit). */
    ck_assert_int_eq(whole_lines(&s, "logs/buffered.log"), lines);
    kp_h_stop(&s);
}
END_TEST

/* Reloads while clients keep every thread busy: no failed request, and the
 * new generation comes up with all its threads. */
START_TEST(threads_reload_under_load)
{
    struct kp_h_server s;
    struct kp_load_stats st;

    start(&s, 2, 2, ACCEPTS[_i]);
    struct kp_load_conf lc = {
        .port = s.port, .conns = 32, .duration_ms = 4000, .timeout_ms = 5000, .ramp_ms = 1};
    long t0 = kp_load_now_ms();
    struct kp_load *l = kp_load_start(&lc);
    for (int gen = 2; gen <= 4; gen++) {
        kp_h_sleep_ms((int)(gen - 1) * 900 - (int)(kp_load_now_ms() - t0));
        write_conf(&s, 2, 2, ACCEPTS[_i], gen);
        char prefix[128], *out, *err;
        snprintf(prefix, sizeof(prefix), "%s", s.prefix);
        char *argv[] = {(char *)kp_h_binary(), "-p", prefix, "-s", "reload", NULL};
        int rc = kp_h_run(argv, &out, &err);
        ck_assert_msg(rc == 0, "kelpie -s reload exited %d: %s", rc, err);
        free(out);
        free(err);
    }
    kp_load_finish(l, &st);
    kp_load_print("threads reload under load", &st);
    ck_assert_msg(st.failures == 0, "%ld failed requests or connections", st.failures);
    ck_assert_int_gt(st.ok, 100);
    ck_assert_str_eq(st.bodies[st.n_bodies - 1].text, "gen 4");
    ck_assert_msg(kp_p_wait_children(s.pid, 2, 10000), "the old generation did not exit");
    expect_slots(&s, 2, 2);
    expect_threads(&s, 2, 2);
    kp_h_stop(&s);
}
END_TEST

/* SIGQUIT: a request in flight on a keep-alive connection is still answered
 * (with Connection: close), then every thread and the master exit with 0. */
START_TEST(threads_graceful_quit)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s, 1, 4, ACCEPTS[_i]);
    int fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    kp_h_resp_free(&r);
    pid_t kids[MAX_KIDS];
    ck_assert_int_eq(kp_p_children(s.pid, kids, MAX_KIDS), 1);
    kill(kids[0], SIGQUIT);
    ck_assert_msg(kp_h_closed(fd, 5000), "the idle connection was not closed");
    close(fd);
    ck_assert_msg(kp_p_gone(kids[0], 5000), "the worker did not exit");
    ck_assert(kp_p_log_wait(&s, "gracefully shutting down", 1000));
    ck_assert_int_eq(kp_h_signal_wait(&s, SIGQUIT, 10000), 0);
    kp_h_stop(&s);
}
END_TEST

/* A worker killed with SIGKILL is respawned, and the new one runs all its
 * threads again and fills all its slots. */
START_TEST(threads_respawn)
{
    struct kp_h_server s;
    pid_t kids[MAX_KIDS];

    start(&s, 2, 2, ACCEPTS[_i]);
    ck_assert_int_eq(kp_p_children(s.pid, kids, MAX_KIDS), 2);
    expect_slots(&s, 2, 2);
    kill(kids[0], SIGKILL);
    ck_assert(kp_p_gone(kids[0], 5000));
    pid_t fresh = kp_p_new_child(s.pid, kids, 2, 5000);
    ck_assert_msg(fresh > 0, "no new worker");
    ck_assert(kp_p_wait_children(s.pid, 2, 5000));
    expect_slots(&s, 2, 2);
    expect_threads(&s, 2, 2);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    s.alerts_expected = true; /* "exited on signal 9" */
    kp_h_stop(&s);
}
END_TEST

/* TLS with accept=handoff: the handshake happens on whichever thread the
 * connection was handed to (round-robin over 3 threads: 6 connections
 * reach every thread twice). */
START_TEST(threads_handoff_tls)
{
    struct kp_h_server s;

    kp_h_prepare(&s);
    kp_t_make_cert(&s, "ec", "ec", "localhost");
    kp_p_write_config(&s, "worker_processes 1;\nworker_threads 3 accept=handoff;\n", NULL,
                      "access_log off;\n"
                      "server { listen 127.0.0.1:@PORT@ ssl;\n"
                      "    ssl_certificate ec.crt; ssl_certificate_key ec.key;\n"
                      "    location / { return 200 \"tls ok\\n\"; } }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert(kp_p_wait_children(s.pid, 1, 5000));
    for (int i = 0; i < 6; i++) {
        char *out = NULL;
        int rc = kp_t_sh(&out,
                         "printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | "
                         "timeout 10 " KP_T_OPENSSL " s_client -connect 127.0.0.1:%d -ign_eof "
                         "-quiet 2>/dev/null",
                         s.port);
        ck_assert_msg(rc == 0 && strstr(out, "HTTP/1.1 200 ") != NULL &&
                          strstr(out, "\r\n\r\ntls ok\n") != NULL,
                      "connection %d: %s", i, out);
        free(out);
    }
    kp_h_stop(&s);
}
END_TEST

/* One request for path on fd, answered with status. */
static void get_status(int fd, const char *path, int status)
{
    char req[128];
    struct kp_h_resp r;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    kp_h_send_str(fd, req);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, status);
    kp_h_resp_free(&r);
}

struct fds_arg {
    pid_t pid;
    int at_most;
};

static bool fds_at_most(void *arg)
{
    const struct fds_arg *a = arg;
    int n = kp_h_count_fds(a->pid);

    return n >= 0 && n <= a->at_most;
}

/* The number N of pid's thread tid, named "reactor N" (or "pool-thread N"
 * under model reactor_pool); -1 if it is none. */
static int reactor_number(pid_t pid, int tid)
{
    char path[64], name[32] = "";
    int n = -1;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(name, sizeof(name), f) == NULL ||
        (sscanf(name, "reactor %d", &n) != 1 && sscanf(name, "pool-thread %d", &n) != 1))
        n = -1;
    fclose(f);
    return n;
}

/* The reactor thread of pid that served "GET /missing-I": its error log
 * line ("PID#TID: *N open() ... missing-I\" failed") says; -1 if none. */
static int thread_of(const char *log, pid_t pid, int i)
{
    char needle[32];

    snprintf(needle, sizeof(needle), "/missing-%d\" failed", i);
    const char *hit = strstr(log, needle);
    if (hit == NULL)
        return -1;
    const char *line = hit;
    while (line > log && line[-1] != '\n')
        line--;
    const char *hash = memchr(line, '#', (size_t)(hit - line));
    return hash != NULL ? reactor_number(pid, atoi(hash + 1)) : -1;
}

/* accept=handoff passes over a full thread, the acceptor's own included:
 * with 8 connections per thread, 16 idle keep-alive clients fill both
 * threads; once thread 1's are closed, 8 new clients all go to thread 1, so
 * none of thread 0's is evicted to make room ("reusing connections"). Which
 * thread took a client is read from the error log line of its first
 * request (a missing file), whose thread id names it. */
START_TEST(threads_handoff_skips_full)
{
    struct kp_h_server s;
    int fds[24], on[16], n0 = 0;
    pid_t kid;

    kp_h_prepare(&s);
    /* As root the workers would be nobody, who may not enter the prefix. */
    kp_p_write_config(&s,
                      geteuid() == 0 ? "worker_processes 1;\nworker_threads 2;\nuser root;\n"
                                     : "worker_processes 1;\nworker_threads 2;\n",
                      "worker_connections 8;\n",
                      "access_log off;\nserver { listen 127.0.0.1:@PORT@; root html; }\n");
    kp_h_write(&s, "html/index.html", "index\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert(kp_p_wait_children(s.pid, 1, 5000));
    ck_assert_int_eq(kp_p_children(s.pid, &kid, 1), 1);
    for (int i = 0; i < 16; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/missing-%d", i);
        fds[i] = kp_h_connect(s.port);
        get_status(fds[i], path, 404);
    }
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(log);
    for (int i = 0; i < 16; i++) {
        on[i] = thread_of(log, kid, i);
        ck_assert_msg(on[i] == 0 || on[i] == 1, "no log line for client %d", i);
        n0 += on[i] == 0;
    }
    free(log);
    ck_assert_int_eq(n0, 8);
    int full = kp_h_count_fds(kid);
    for (int i = 0; i < 16; i++) {
        if (on[i] == 1)
            close(fds[i]);
    }
    struct fds_arg fa = {kid, full - 8};
    ck_assert_msg(kp_h_wait_until(fds_at_most, &fa, 5000), "thread 1 kept its connections");
    /* Its room is published as each connection is freed, just after the
     * close() seen above: a moment's grace for a thread preempted between. */
    kp_h_sleep_ms(100);
    for (int i = 16; i < 24; i++) {
        fds[i] = kp_h_connect(s.port);
        get_status(fds[i], "/missing", 404);
    }
    for (int i = 0; i < 16; i++) {
        if (on[i] == 0)
            get_status(fds[i], "/missing", 404);
    }
    log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(strstr(log, "reusing connections") == NULL, "a connection was evicted");
    free(log);
    for (int i = 0; i < 24; i++) {
        if (i >= 16 || on[i] == 0)
            close(fds[i]);
    }
    kp_h_stop(&s);
}
END_TEST

/* The CPUs a thread may run on (CPUs 0-63). */
static uint64_t cpus_of(pid_t tid)
{
    cpu_set_t set;
    uint64_t mask = 0;

    CPU_ZERO(&set);
    ck_assert_int_eq(sched_getaffinity(tid, sizeof(set), &set), 0);
    for (int cpu = 0; cpu < 64; cpu++)
        mask |= CPU_ISSET(cpu, &set) ? UINT64_C(1) << cpu : 0;
    return mask;
}

/* The reactor threads of pid (named "reactor N", or "pool-thread N" under model
 * reactor_pool), at most max. */
static int reactors(pid_t pid, pid_t *out, int max)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    int n = 0;

    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d)) != NULL && n < max;) {
        char comm[384], name[32] = "";
        snprintf(comm, sizeof(comm), "%s/%s/comm", path, de->d_name);
        FILE *f = de->d_name[0] != '.' ? fopen(comm, "r") : NULL;
        if (f == NULL)
            continue;
        if (fgets(name, sizeof(name), f) != NULL &&
            (strncmp(name, "reactor ", 8) == 0 || strncmp(name, "pool-thread ", 12) == 0))
            out[n++] = (pid_t)atoi(de->d_name);
        fclose(f);
    }
    closedir(d);
    return n;
}

/* worker_cpu_affinity auto with threads: each reactor thread on one CPU of
 * those allowed, in turn (so two threads differ when two CPUs are there). */
START_TEST(threads_cpu_affinity)
{
    struct kp_h_server s;
    pid_t kids[MAX_KIDS], tids[4];
    uint64_t mine = cpus_of(0), got[2];

    start_extra(&s, 1, 2, "", "worker_cpu_affinity auto;\n");
    expect_slots(&s, 1, 2);
    ck_assert_int_eq(kp_p_children(s.pid, kids, MAX_KIDS), 1);
    ck_assert_int_eq(reactors(kids[0], tids, 4), 2);
    for (int i = 0; i < 2; i++) {
        got[i] = cpus_of(tids[i]);
        ck_assert_msg(__builtin_popcountll(got[i]) == 1 && (got[i] & mine),
                      "reactor %d runs on CPUs %#llx", i, (unsigned long long)got[i]);
    }
    if (__builtin_popcountll(mine) > 1)
        ck_assert_msg(got[0] != got[1], "both reactors on CPUs %#llx", (unsigned long long)got[0]);
    ck_assert_int_eq(kp_p_get(s.port), 200);
    kp_h_stop(&s);
}
END_TEST

/* A reactor thread's error log lines carry its own thread id after the
 * pid (pid#tid), as nginx built with threads writes them. */
START_TEST(threads_log_tid)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    pid_t kids[MAX_KIDS], tids[4];
    int pid = 0, tid = 0;

    start(&s, 1, 2, "");
    expect_slots(&s, 1, 2);
    ck_assert_int_eq(kp_p_children(s.pid, kids, MAX_KIDS), 1);
    ck_assert_int_eq(reactors(kids[0], tids, 4), 2);
    int fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    kp_h_resp_free(&r);
    close(fd);
    ck_assert(kp_p_log_wait(&s, "closed keepalive connection", 10000));
    char *log = kp_h_read(&s, "logs/error.log");
    char *at = strstr(log, "closed keepalive connection"), *bol = at;
    while (bol > log && bol[-1] != '\n')
        bol--;
    const char *info = strstr(bol, "[info] ");
    ck_assert(info != NULL && info < at);
    ck_assert_int_eq(sscanf(info, "[info] %d#%d:", &pid, &tid), 2);
    free(log);
    ck_assert_int_eq(pid, kids[0]);
    ck_assert_msg(tid == tids[0] || tid == tids[1], "tid %d is no reactor of %d", tid, pid);
    kp_h_stop(&s);
}
END_TEST

/* worker_threads takes 1 to 64, and accept=self|handoff. */
START_TEST(threads_conf_bounds)
{
    struct kp_h_server s;
    char *out, *err;

    kp_h_prepare(&s);
    kp_p_write_config(&s, "worker_threads 0;\n", NULL, "server { listen 127.0.0.1:@PORT@; }\n");
    char conf[160], prefix[128];
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
    snprintf(prefix, sizeof(prefix), "%s", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", prefix, "-c", conf, NULL};
    int rc = kp_h_run(argv, &out, &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err, "[emerg]") != NULL && strstr(err, "\"0\"") != NULL, "stderr: %s",
                  err);
    free(out);
    free(err);
    kp_p_write_config(&s, "worker_threads 64;\n", NULL, "server { listen 127.0.0.1:@PORT@; }\n");
    rc = kp_h_run(argv, &out, &err);
    ck_assert_msg(rc == 0, "worker_threads 64: %s", err);
    free(out);
    free(err);
    /* accept= takes self or handoff; anything else is one [emerg] with the
     * file and line. */
    kp_p_write_config(&s, "worker_threads 2 accept=handoff;\n", NULL,
                      "server { listen 127.0.0.1:@PORT@; }\n");
    rc = kp_h_run(argv, &out, &err);
    ck_assert_msg(rc == 0, "accept=handoff: %s", err);
    free(out);
    free(err);
    kp_p_write_config(&s, "worker_threads 2 accept=steal;\n", NULL,
                      "server { listen 127.0.0.1:@PORT@; }\n");
    rc = kp_h_run(argv, &out, &err);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(count(err, "[emerg]") == 1 && strstr(err, "\"accept=steal\"") != NULL &&
                      strstr(err, "kelpie.conf:") != NULL,
                  "stderr: %s", err);
    free(out);
    free(err);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, threads_serve, 0, 4);
    tcase_add_loop_test(tc, threads_reload_under_load, 0, 2);
    tcase_add_loop_test(tc, threads_graceful_quit, 0, 2);
    tcase_add_loop_test(tc, threads_respawn, 0, 2);
    tcase_add_test(tc, threads_handoff_tls);
    tcase_add_test(tc, threads_handoff_skips_full);
    tcase_add_test(tc, threads_cpu_affinity);
    tcase_add_test(tc, threads_log_tid);
    tcase_add_test(tc, threads_conf_bounds);
    suite_add_tcase(s, tc);
    return s;
}
