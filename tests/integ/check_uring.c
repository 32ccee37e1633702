/* events { use io_uring; }: where the ring can be made, the worker runs one
 * (its descriptor shows in /proc); where it cannot, kelpie falls back to
 * epoll with one [warn] line giving the reason, at start and with -t. The
 * fallback is forced the way a container does it: a seccomp filter that
 * makes io_uring_setup fail with ENOSYS (unprivileged thanks to
 * PR_SET_NO_NEW_PRIVS; inherited by kelpie across fork and exec). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "load.h"
#include "proc.h"
#include "kelpie/event/uring.h"

#define HTTP_OK "server { listen 127.0.0.1:@PORT@; location / { return 200 ok; } }"

/* Check runs each test in a child of its own (CK_FORK), so the filter ends
 * with the test; without fork it would outlive it. */
static bool forked_tests(void)
{
    const char *f = getenv("CK_FORK");
    return f == NULL || strcmp(f, "no") != 0;
}

static void deny_io_uring_setup(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

static void write_conf(struct kp_h_server *s, const char *main_extra)
{
    char main_text[256];

    snprintf(main_text, sizeof(main_text),
             "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n%s", main_extra);
    kp_h_config_raw(s, main_text, "use io_uring;", HTTP_OK);
}

/* GET / on a new connection answers 200; if not, the failure says how
 * (errno of the client's last call) and what the server logged. */
static void get_ok(struct kp_h_server *s)
{
    struct kp_h_resp r;

    errno = 0;
    int rc = kp_h_request(s->port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    if (rc != 0 || r.status != 200) {
        int err = errno;
        char *log = kp_h_read(s, "logs/error.log");
        ck_abort_msg("GET / failed: rc %d status %d errno %d (%s); error log:\n%s", rc, r.status,
                     err, strerror(err), log != NULL ? log : "(none)");
    }
    kp_h_resp_free(&r);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* kelpie -t: the reason on one [warn] line, located, and the test passes. */
static char *test_config(struct kp_h_server *s)
{
    char conf[256], *out, *err;

    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s->prefix);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", s->prefix, "-c", conf, NULL};
    int rc = kp_h_run(argv, &out, &err);
    ck_assert_msg(rc == 0, "kelpie -t exited %d: %s", rc, err);
    free(out);
    return err;
}

START_TEST(uring_fallback_when_blocked)
{
    struct kp_h_server s;

    if (!forked_tests())
        return;
    kp_h_prepare(&s);
    write_conf(&s, "");
    deny_io_uring_setup();
    char *err = test_config(&s);
    ck_assert_msg(count(err, "[warn]") == 1, "stderr: %s", err);
    /* Built without liburing, that is the reason given instead. */
    const char *why = KP_HAVE_IO_URING ? "io_uring_setup() failed (38: Function not implemented"
                                       : "kelpie was built without io_uring";
    ck_assert_msg(strstr(err, "kelpie: [warn] io_uring is not available (") != NULL &&
                      strstr(err, why) != NULL,
                  "stderr: %s", err);
    ck_assert_msg(strstr(err, "), using epoll in ") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "kelpie.conf:6") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "test is successful") != NULL, "stderr: %s", err);
    free(err);
    /* Started, it serves on epoll; the worker logged no second warning. */
    ck_assert_int_eq(kp_h_start(&s), 0);
    get_ok(&s);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_msg(log != NULL && strstr(log, "io_uring") == NULL, "error log: %s", log);
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* A descriptor of the worker that is an io_uring instance. */
static bool has_ring(pid_t pid)
{
    char dir[64], path[PATH_MAX], target[128];
    bool found = false;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, "anon_inode:[io_uring]") == 0;
        }
    }
    closedir(d);
    return found;
}

/* Whether io_uring can be used here, asked in a child process: a ring
 * this process made and closed would interrupt its blocking socket calls
 * later (the kernel's teardown of a closed ring queues work to the task
 * that made it, with a signal-like notification, and a read with
 * SO_RCVTIMEO then fails with EINTR: CI saw one GET fail so). */
static bool uring_usable(void)
{
    char why[256];
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(kp_uring_probe(why, sizeof(why)) == 0 ? 0 : 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Where io_uring works, every worker has its own ring and nothing is
 * warned; where it does not (a CI container), the fallback is what shows. */
START_TEST(uring_ring_per_worker)
{
    struct kp_h_server s;
    bool usable = uring_usable();

    kp_h_prepare(&s);
    write_conf(&s, "master_process on;\nworker_processes 2;\n");
    char *err = test_config(&s);
    ck_assert_msg(count(err, "[warn]") == (usable ? 0 : 1), "stderr: %s", err);
    free(err);
    ck_assert_int_eq(kp_h_start(&s), 0);
    ck_assert(kp_p_wait_children(s.pid, 2, 10000));
    pid_t kids[4];
    int n = kp_p_children(s.pid, kids, 4);
    ck_assert_int_eq(n, 2);
    /* Requests first: a worker just forked may not have made its ring yet,
     * and one that answered has (each of the two gets asked, sooner or
     * later, but a ring is looked for until a generous bound either way). */
    for (int i = 0; i < 20; i++)
        get_ok(&s);
    for (int i = 0; i < n; i++) {
        bool ring = has_ring(kids[i]);
        for (int tries = 0; usable && !ring && tries < 500; tries++) {
            kp_h_sleep_ms(20);
            ring = has_ring(kids[i]);
        }
        ck_assert_msg(ring == usable, "worker %d ring: %d", (int)kids[i], !usable);
    }
    ck_assert_msg(!has_ring(s.pid), "the master has a ring");
    kp_h_stop(&s);
}
END_TEST

/* --- completion receives ----------------------------------------------------------- */

#define MANY      100
#define PIPELINED 3

/* Read n responses of "ok" from fd (blocking, with the harness's timeouts). */
static bool read_oks(int fd, int n)
{
    for (int i = 0; i < n; i++) {
        struct kp_h_resp r;
        if (kp_h_recv(fd, &r, false) != 0)
            return false;
        bool ok = r.status == 200 && r.body != NULL && strcmp(r.body, "ok") == 0;
        kp_h_resp_free(&r);
        if (!ok)
            return false;
    }
    return true;
}

/* More bytes in flight than the worker has receive buffers (256
 * connections: 64 buffers of 2 KiB; 100 clients each send three pipelined
 * requests of about 5 KiB before reading anything): connections that wait
 * to write stop receiving at their share, the ring runs dry and refills,
 * and every request is answered in order on every backend. */
START_TEST(uring_more_bytes_than_buffers)
{
    struct kp_h_server s;
    static char req[6000];
    char pad[5000];
    int fds[MANY];

    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n", pad);
    kp_h_prepare(&s);
    char events[64];
    snprintf(events, sizeof(events), "use %s;\nworker_connections 256;", kp_h_events());
    kp_h_config_raw(&s, "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;", events,
                    HTTP_OK);
    ck_assert_int_eq(kp_h_start(&s), 0);
    for (int i = 0; i < MANY; i++) {
        fds[i] = kp_h_connect(s.port);
        ck_assert_int_ge(fds[i], 0);
    }
    for (int k = 0; k < PIPELINED; k++)
        for (int i = 0; i < MANY; i++)
            kp_h_send_str(fds[i], req);
    for (int i = 0; i < MANY; i++) {
        ck_assert_msg(read_oks(fds[i], PIPELINED), "connection %d", i);
        close(fds[i]);
    }
    kp_h_stop(&s);
}
END_TEST

/* Clients that vanish mid-request (a reset with bytes unread, a FIN after
 * half a head) leave no descriptor behind, on every backend. */
START_TEST(uring_aborted_clients_leak_nothing)
{
    struct kp_h_server s;

    kp_h_start_with(&s, "master_process off;", HTTP_OK);
    /* Warm up, then count: the baseline has every lazily opened file. */
    for (int i = 0; i < 5; i++)
        get_ok(&s);
    kp_h_sleep_ms(100);
    int base = kp_h_count_fds(s.pid);
    for (int round = 0; round < 200; round++) {
        int fd = kp_h_connect(s.port);
        ck_assert_int_ge(fd, 0);
        kp_h_send_str(fd, round % 2 ? "GET / HTTP/1.1\r\nHost:"
                                    : "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /");
        if (round % 2) {
            shutdown(fd, SHUT_WR);
        } else {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    ck_assert_msg(kp_h_wait_fds(s.pid, base, 10000), "%d descriptors, %d before",
                  kp_h_count_fds(s.pid), base);
    get_ok(&s); /* and it still serves */
    kp_h_stop(&s);
}
END_TEST

/* Clients that reset right after a whole request (SO_LINGER 0, closed at
 * once): the reset often comes in the same turn as the request, and the
 * answer's send then fails. Neither may be lost, or the connection waits
 * idle for its keepalive_timeout (60 s here, beyond the bound). */
START_TEST(uring_reset_after_request_closes)
{
    struct kp_h_server s;

    kp_h_start_with(&s, "master_process off;",
                    "keepalive_timeout 60s;\n"
                    "server { listen 127.0.0.1:@PORT@; location / { return 200 ok; } }");
    for (int i = 0; i < 5; i++)
        get_ok(&s);
    kp_h_sleep_ms(100);
    int base = kp_h_count_fds(s.pid);
    for (int i = 0; i < 50; i++) {
        int fd = kp_h_connect(s.port);
        ck_assert_int_ge(fd, 0);
        kp_h_send_str(fd, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    ck_assert_msg(kp_h_wait_fds(s.pid, base, 10000), "%d descriptors, %d before [%s]",
                  kp_h_count_fds(s.pid), base, kp_h_events());
    get_ok(&s);
    kp_h_stop(&s);
}
END_TEST

/* --- accepting through the ring --------------------------------------------------- */

/* Prefork on io_uring with `extra` in events and `listen` options. */
static void start_accepting(struct kp_h_server *s, int workers, const char *events_extra,
                            const char *listen_opts, const char *http_extra)
{
    char main_text[256], events[128], http[1024];

    snprintf(main_text, sizeof(main_text),
             "daemon off;\nerror_log logs/error.log info;\npid logs/kelpie.pid;\n"
             "master_process on;\nworker_processes %d;\n",
             workers);
    snprintf(events, sizeof(events), "use io_uring;\n%s", events_extra);
    snprintf(http, sizeof(http),
             "access_log off;\n%s\n"
             "server {\n"
             "    listen 127.0.0.1:@PORT@%s;\n"
             "    location / { return 200 \"$remote_addr:$remote_port\"; }\n"
             "    location /slow { limit_rate 1; return 200 \"%0400d\"; }\n"
             "}\n",
             http_extra, listen_opts, 0);
    kp_h_prepare(s);
    kp_h_config_raw(s, main_text, events, http);
    ck_assert_int_eq(kp_h_start(s), 0);
    ck_assert(kp_p_wait_children(s->pid, workers, 10000));
}

/* One Connection: close request on a new connection: the body must be the
 * client's own address, as the accept that took the connection saw it. */
static void get_own_address(int port)
{
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    struct kp_h_resp r;
    char want[64];
    int fd = kp_h_connect(port);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&me, &len), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", ntohs(me.sin_port));
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.body != NULL && strcmp(r.body, want) == 0, "body %s, want %s", r.body, want);
    kp_h_resp_free(&r);
    close(fd);
}

struct accept_mode {
    const char *name;
    int workers;
    const char *events;
    const char *listen;
};

/* One worker, or two with a reuseport socket each (they accept through
 * the ring), and two sharing the socket under the accept mutex or without
 * it (those poll and accept4: see accept.c). */
static const struct accept_mode ACCEPT_MODES[] = {
    {"one worker", 1, "", ""},
    {"accept_mutex on", 2, "accept_mutex on;", ""},
    {"accept_mutex off", 2, "accept_mutex off;", ""},
    {"reuseport", 2, "", " reuseport"},
};

#define ACCEPT_ROUNDS 150

/* Every connection is served, each with its own client's address, and no
 * descriptor is left behind in a worker afterwards. */
START_TEST(uring_accept_policies)
{
    const struct accept_mode *m = &ACCEPT_MODES[_i];
    struct kp_h_server s;
    pid_t kids[4];
    int base[4];

    start_accepting(&s, m->workers, m->events, m->listen, "");
    int n = kp_p_children(s.pid, kids, 4);
    ck_assert_int_eq(n, m->workers);
    for (int i = 0; i < 10; i++)
        get_own_address(s.port);
    kp_h_sleep_ms(100);
    for (int i = 0; i < n; i++)
        base[i] = kp_h_count_fds(kids[i]);
    for (int i = 0; i < ACCEPT_ROUNDS; i++)
        get_own_address(s.port);
    for (int i = 0; i < n; i++)
        ck_assert_msg(kp_h_wait_fds(kids[i], base[i], 10000), "[%s] worker %d: %d fds, %d before",
                      m->name, (int)kids[i], kp_h_count_fds(kids[i]), base[i]);
    kp_h_stop(&s);
}
END_TEST

static bool port_refused(void *arg)
{
    int fd = kp_h_connect(*(int *)arg);

    if (fd >= 0)
        close(fd);
    return fd < 0;
}

/* A graceful stop cancels the accepts in flight before the worker closes
 * its listening sockets: an accept left in the ring would hold the socket
 * open (and take new clients) while the worker finishes its requests. */
START_TEST(uring_accept_graceful_stop)
{
    const struct accept_mode *m = &ACCEPT_MODES[_i];
    struct kp_h_server s;
    struct kp_h_resp r;

    start_accepting(&s, m->workers, m->events, m->listen, "");
    get_own_address(s.port);
    int busy = kp_h_connect(s.port);
    ck_assert_int_ge(busy, 0);
    kp_h_send_str(busy, "GET / HTTP/1.1\r\n");
    ck_assert(kp_h_wait_accepted(s.port, 10000));
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert_msg(kp_h_wait_until(port_refused, &s.port, 10000), "[%s] QUIT left the port open",
                  m->name);
    ck_assert(kp_p_alive(s.pid));
    kp_h_send_str(busy, "Host: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(busy, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    close(busy);
    ck_assert_int_eq(kp_h_signal_wait(&s, 0, 10000), 0);
    kp_h_stop(&s);
}
END_TEST

/* Reloads under Connection: close load: the old worker's accepts are
 * cancelled while the new one's wait on the same socket (one worker: both
 * accept through the ring), and a connection either of them took is
 * served; none is lost or left waiting in the backlog. */
START_TEST(uring_accept_across_reload)
{
    const struct accept_mode *m = &ACCEPT_MODES[_i];
    struct kp_h_server s;
    struct kp_load_stats st;

    start_accepting(&s, m->workers, m->events, m->listen, "");
    struct kp_load_conf lc = {
        .port = s.port, .conns = 4, .close = true, .duration_ms = 3000, .timeout_ms = 5000};
    struct kp_load *l = kp_load_start(&lc);
    for (int i = 0; i < 4; i++) {
        kp_h_sleep_ms(500);
        ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    }
    kp_load_finish(l, &st);
    if (st.failures != 0)
        kp_load_print(m->name, &st);
    ck_assert_msg(st.failures == 0, "[%s] %ld failed requests", m->name, st.failures);
    ck_assert_int_gt(st.ok, 0);
    ck_assert_msg(kp_p_wait_children(s.pid, m->workers, 10000), "the old workers did not exit");
    get_own_address(s.port);
    kp_h_stop(&s);
}
END_TEST

/* worker_connections exhausted by two responses in progress (limit_rate:
 * neither is idle, so neither can be reclaimed): a third client, accepted
 * ahead by the ring or left in the backlog, is not served until one of
 * them goes; then it is (not closed). */
START_TEST(uring_worker_connections_exhausted)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    int busy[2];
    char b[64];

    start_accepting(&s, 1, "worker_connections 2;", "", "");
    for (int i = 0; i < 2; i++) {
        busy[i] = kp_h_connect(s.port);
        ck_assert_int_ge(busy[i], 0);
        kp_h_send_str(busy[i], "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_int_gt(read(busy[i], b, sizeof(b)), 0); /* the response has begun */
    }
    int late = kp_h_connect(s.port);
    ck_assert_int_ge(late, 0);
    kp_h_send_str(late, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    struct pollfd pfd = {.fd = late, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 300), 0); /* not served while none is free */
    close(busy[0]);
    ck_assert_int_eq(kp_h_recv(late, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    close(late);
    close(busy[1]);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_uring_suite(void)
{
    Suite *s = suite_create("uring");
    TCase *tc = tcase_create("uring");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, uring_fallback_when_blocked);
    tcase_add_test(tc, uring_ring_per_worker);
    tcase_add_test(tc, uring_more_bytes_than_buffers);
    tcase_add_test(tc, uring_aborted_clients_leak_nothing);
    tcase_add_test(tc, uring_reset_after_request_closes);
    tcase_add_loop_test(tc, uring_accept_policies, 0, 4);
    tcase_add_loop_test(tc, uring_accept_graceful_stop, 0, 4);
    /* Not reuseport: reloads under Connection: close load reset a few
     * connections there on every backend (a known problem of its own). */
    tcase_add_loop_test(tc, uring_accept_across_reload, 0, 3);
    tcase_add_test(tc, uring_worker_connections_exhausted);
    suite_add_tcase(s, tc);
    return s;
}
