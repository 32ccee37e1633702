/* Unit tests for the worker runner, once per backend. The worker runs in a
 * child process with a toy protocol over a 127.0.0.1 listener; the test
 * drives it with clients and signals:
 *   byte 'p' -> "pong", the connection stays busy;
 *   byte 'i' -> "ok", the connection goes idle (keep-alive), or is closed
 *               when the pool is draining;
 *   byte 'q' -> "bye" and close.
 * The child's exit status reports which protocol hooks ran. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kelpie/proc/worker.h"
#include "kelpie/os/socket.h"

static const enum kp_event_use backends[] = {KP_EVENT_EPOLL, KP_EVENT_POLL, KP_EVENT_SELECT};
#define N_BACKENDS 3

enum {
    F_START = 1,  /* start hook ran */
    F_EXIT = 2,   /* exit hook ran, with no connection left */
    F_REOPEN = 4, /* reopen hook ran */
    F_RLIMIT = 8, /* worker_rlimit_nofile was applied */
};

struct wctx {
    struct kp_worker *w;
    int notify_fd; /* a byte per start/reopen hook, for the test */
    long rlimit;
    unsigned flags;
};

static void notify(const struct wctx *x)
{
    ck_assert_int_eq(write(x->notify_fd, "!", 1), 1);
}

static void proto_close(struct kp_conn *c)
{
    struct wctx *x = c->data;

    kp_conn_close(&x->w->pool, &x->w->loop, c);
}

static void reply(struct kp_conn *c, const char *text)
{
    ck_assert_int_eq(send(c->io.fd, text, strlen(text), 0), (ssize_t)strlen(text));
}

static void proto_read(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_conn *c = io->data;
    struct wctx *x = c->data;
    char buf[64];
    ssize_t n;

    (void)loop;
    (void)events;
    while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
        char cmd = buf[n - 1];
        if (cmd == 'p') {
            reply(c, "pong");
        } else if (cmd == 'i') {
            reply(c, "ok");
            if (x->w->pool.draining) {
                proto_close(c);
                return;
            }
            kp_conn_idle_add(&x->w->pool, c);
        } else if (cmd == 'q') {
            reply(c, "bye");
            proto_close(c);
            return;
        }
    }
    if (n == 0 || errno != EAGAIN)
        proto_close(c);
}

static void proto_conn(void *ctx, struct kp_conn *c)
{
    c->data = ctx;
    c->io.handler = proto_read;
    c->close = proto_close;
}

static int proto_start(void *ctx, const struct kp_proto_env *env)
{
    struct wctx *x = ctx;
    struct rlimit rl;

    ck_assert_ptr_eq(env->loop, &x->w->loop);
    ck_assert_ptr_eq(env->pool, &x->w->pool);
    x->flags |= F_START;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t want = (rlim_t)x->rlimit;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    if (x->rlimit > 0 && rl.rlim_cur == want)
        x->flags |= F_RLIMIT;
    notify(x);
    return 0;
}

static void proto_reopen(void *ctx, const struct kp_proto_env *env)
{
    struct wctx *x = ctx;

    (void)env;
    x->flags |= F_REOPEN;
    notify(x);
}

static void proto_exit(void *ctx, const struct kp_proto_env *env)
{
    struct wctx *x = ctx;

    if (kp_conn_pool_active(env->pool) == 0)
        x->flags |= F_EXIT;
}

struct child {
    pid_t pid;
    int port;
    int lfd;
    int notify_fd; /* read end */
    char log_path[64];
};

static void run_worker(int backend, const struct child *ch, int notify_w, uint64_t shutdown_ms,
                       long rlimit)
{
    struct kp_log log;
    struct kp_listening ls = {.fd = ch->lfd};
    struct kp_cycle cycle = {.listening = &ls, .n_listening = 1};
    struct wctx x = {.notify_fd = notify_w, .rlimit = rlimit};

    snprintf(ls.conf.text, sizeof(ls.conf.text), "127.0.0.1:%d", ch->port);
    cycle.events = (struct kp_events_conf){.worker_connections = 16, .use = backends[backend]};
    cycle.core.worker_shutdown_timeout_ms = shutdown_ms;
    cycle.core.worker_rlimit_nofile = rlimit;
    kp_log_init_stderr(&log, KP_LOG_INFO);
    if (kp_log_open(&log, ch->log_path, KP_LOG_INFO) < 0)
        _exit(101);
    struct kp_worker w = {
        .cycle = &cycle,
        .log = &log,
        .proto = {.on_conn = proto_conn,
                  .start = proto_start,
                  .reopen = proto_reopen,
                  .exit = proto_exit,
                  .ctx = &x},
    };
    x.w = &w;
    int rc = kp_worker_run(&w);
    kp_log_close(&log);
    _exit(rc == 0 ? (int)x.flags : 100);
}

/* Wait for one notification byte from the child (at most 5 s). */
static void wait_notify(const struct child *ch)
{
    struct pollfd pfd = {.fd = ch->notify_fd, .events = POLLIN};
    char b;

    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_int_eq(read(ch->notify_fd, &b, 1), 1);
}

static void start_child(struct child *ch, int backend, uint64_t shutdown_ms, long rlimit)
{
    struct kp_socket_conf l = {.addrlen = sizeof(struct sockaddr_in), .backlog = 16};
    struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;
    socklen_t len = sizeof(*sin);
    int pfd[2];

    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ch->lfd = kp_socket_listen(&l);
    ck_assert_int_ge(ch->lfd, 0);
    ck_assert_int_eq(getsockname(ch->lfd, (struct sockaddr *)sin, &len), 0);
    ch->port = ntohs(sin->sin_port);
    snprintf(ch->log_path, sizeof(ch->log_path), "/tmp/kp_worker_log.XXXXXX");
    int tmp = mkstemp(ch->log_path);
    ck_assert_int_ge(tmp, 0);
    close(tmp);
    ck_assert_int_eq(pipe(pfd), 0);
    ch->pid = fork();
    ck_assert_int_ge(ch->pid, 0);
    if (ch->pid == 0) {
        close(pfd[0]);
        run_worker(backend, ch, pfd[1], shutdown_ms, rlimit);
    }
    close(pfd[1]);
    ch->notify_fd = pfd[0];
    wait_notify(ch);
}

/* The child's exit status (it must exit within 5 s). */
static int wait_child(struct child *ch)
{
    int status = 0;

    for (int k = 0; k < 500; k++) {
        pid_t p = waitpid(ch->pid, &status, WNOHANG);
        ck_assert_int_ge(p, 0);
        if (p == ch->pid) {
            ck_assert_msg(WIFEXITED(status), "worker died, status %d", status);
            return WEXITSTATUS(status);
        }
        usleep(10000);
    }
    kill(ch->pid, SIGKILL);
    waitpid(ch->pid, &status, 0);
    ck_abort_msg("worker did not exit");
    return -1;
}

static bool child_alive(const struct child *ch)
{
    int status;

    return waitpid(ch->pid, &status, WNOHANG) == 0;
}

static bool log_has(const struct child *ch, const char *needle)
{
    char text[8192];
    FILE *f = fopen(ch->log_path, "r");
    size_t n = fread(text, 1, sizeof(text) - 1, f);

    fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

static void end_child(struct child *ch)
{
    close(ch->lfd);
    close(ch->notify_fd);
    unlink(ch->log_path);
}

static int client(const struct child *ch)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ch->port)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Send one command and check the reply. */
static void ask(int fd, char cmd, const char *want)
{
    char buf[16];
    size_t len = strlen(want), got = 0;

    ck_assert_int_eq(write(fd, &cmd, 1), 1);
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert(memcmp(buf, want, len) == 0);
}

static void expect_eof(int fd)
{
    char b;

    ck_assert_int_eq(read(fd, &b, 1), 0);
}

START_TEST(worker_graceful_quit)
{
    struct child ch;

    start_child(&ch, _i, 0, 0);
    int busy = client(&ch), idle = client(&ch);
    ask(busy, 'p', "pong");
    ask(idle, 'i', "ok");
    kill(ch.pid, SIGQUIT);
    /* The idle connection is closed at once; the busy one is served. */
    expect_eof(idle);
    ck_assert(child_alive(&ch));
    ask(busy, 'p', "pong");
    ck_assert(child_alive(&ch));
    /* Draining: the response ends with a close instead of keep-alive, and
     * with no connection left the worker returns. */
    ask(busy, 'i', "ok");
    expect_eof(busy);
    ck_assert_int_eq(wait_child(&ch), F_START | F_EXIT);
    ck_assert(log_has(&ch, "gracefully shutting down"));
    close(busy);
    close(idle);
    end_child(&ch);
}
END_TEST

START_TEST(worker_fast_stop)
{
    struct child ch;

    start_child(&ch, _i, 0, 0);
    int fd = client(&ch), fd2 = client(&ch);
    ask(fd, 'p', "pong");
    ask(fd2, 'i', "ok");
    kill(ch.pid, SIGTERM);
    expect_eof(fd);
    expect_eof(fd2);
    ck_assert_int_eq(wait_child(&ch), F_START | F_EXIT);
    ck_assert(log_has(&ch, "exiting"));
    close(fd);
    close(fd2);
    end_child(&ch);
}
END_TEST

START_TEST(worker_shutdown_timeout)
{
    struct child ch;
    struct timespec t0, t1;

    start_child(&ch, _i, 200, 0);
    int fd = client(&ch);
    ask(fd, 'p', "pong");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(ch.pid, SIGQUIT);
    expect_eof(fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_ge(ms, 150);
    ck_assert_int_eq(wait_child(&ch), F_START | F_EXIT);
    ck_assert(log_has(&ch, "worker_shutdown_timeout expired, closing 1 connections"));
    close(fd);
    end_child(&ch);
}
END_TEST

START_TEST(worker_reopen_and_rlimit)
{
    struct child ch;

    start_child(&ch, _i, 0, 1500);
    kill(ch.pid, SIGUSR1);
    wait_notify(&ch);
    kill(ch.pid, SIGHUP);
    int fd = client(&ch);
    ask(fd, 'p', "pong"); /* still serving after both signals */
    kill(ch.pid, SIGTERM);
    ck_assert_int_eq(wait_child(&ch), F_START | F_EXIT | F_REOPEN | F_RLIMIT);
    ck_assert(log_has(&ch, "SIGHUP ignored by the worker"));
    close(fd);
    end_child(&ch);
}
END_TEST

Suite *kp_test_worker_suite(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("worker");

    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, worker_graceful_quit, 0, N_BACKENDS);
    tcase_add_loop_test(tc, worker_fast_stop, 0, N_BACKENDS);
    tcase_add_loop_test(tc, worker_shutdown_timeout, 0, N_BACKENDS);
    tcase_add_loop_test(tc, worker_reopen_and_rlimit, 0, N_BACKENDS);
    suite_add_tcase(s, tc);
    return s;
}
