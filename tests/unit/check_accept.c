/* Unit tests for the accept path over a real listening socket on 127.0.0.1
 * and an ephemeral port, once per backend: the callback's view of a new
 * connection, one-at-a-time versus multi_accept, pool exhaustion pausing
 * accepting until a connection is put back, reclaiming idle connections,
 * pause/resume, the EMFILE backoff, and select refusing fds >= FD_SETSIZE. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kelpie/util/log.h"
#include "kelpie/event/accept.h"
#include "kelpie/os/socket.h"

/* select stays at index 2 (accept_select_fd_limit); io_uring accepts
 * through the ring (IORING_OP_ACCEPT) where the kernel has it, else it runs
 * as epoll. */
static const enum kp_event_use backends[] = {KP_EVENT_EPOLL, KP_EVENT_POLL, KP_EVENT_SELECT,
                                             KP_EVENT_IO_URING};
#define N_BACKENDS 4

struct actx {
    struct kp_loop loop;
    struct kp_conn_pool pool;
    struct kp_acceptor a;
    struct kp_listening ls;
    struct kp_log log;
    char log_path[64];
    int port;
    struct kp_conn *conns[16];
    int n;          /* connections the callback saw */
    int reads;      /* client I/O events */
    int closed;     /* close callbacks */
    bool make_idle; /* the callback parks connections on the idle list */
};

static void on_client(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_conn *c = io->data;
    struct actx *x = c->data;
    char buf[64];

    (void)loop;
    (void)events;
    x->reads++;
    while (read(io->fd, buf, sizeof(buf)) > 0)
        ;
}

static void on_close(struct kp_conn *c)
{
    struct actx *x = c->data;

    x->closed++;
    kp_conn_close(&x->pool, &x->loop, c);
}

static void on_conn(void *ctx, struct kp_conn *c)
{
    struct actx *x = ctx;

    ck_assert_int_lt(x->n, 16);
    x->conns[x->n++] = c;
    c->data = x;
    c->io.handler = on_client;
    c->close = on_close;
    if (x->make_idle)
        kp_conn_idle_add(&x->pool, c);
}

static void setup_ctx(struct actx *x, int backend, unsigned nconn, bool multi)
{
    struct kp_socket_conf *l = &x->ls.conf;
    struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
    socklen_t len = sizeof(*sin);

    memset(x, 0, sizeof(*x));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l->addrlen = sizeof(*sin);
    l->backlog = 64;
    snprintf(l->text, sizeof(l->text), "127.0.0.1:0");
    x->ls.fd = kp_socket_listen(l);
    ck_assert_int_ge(x->ls.fd, 0);
    ck_assert_int_eq(getsockname(x->ls.fd, (struct sockaddr *)sin, &len), 0);
    x->port = ntohs(sin->sin_port);

    snprintf(x->log_path, sizeof(x->log_path), "/tmp/kp_accept_log.XXXXXX");
    int tmp = mkstemp(x->log_path);
    ck_assert_int_ge(tmp, 0);
    close(tmp);
    kp_log_init_stderr(&x->log, KP_LOG_INFO);
    ck_assert_int_eq(kp_log_open(&x->log, x->log_path, KP_LOG_INFO), 0);

    ck_assert_int_eq(kp_loop_init(&x->loop, backends[backend], nconn + 1, &x->log), 0);
    ck_assert_int_eq(kp_conn_pool_init(&x->pool, nconn), 0);
    const struct kp_accept_opts o = {.listening = &x->ls,
                                     .n_listening = 1,
                                     .multi_accept = multi,
                                     .sole = true,
                                     .on_conn = on_conn,
                                     .ctx = x};
    ck_assert_int_eq(kp_accept_init(&x->a, &x->loop, &x->pool, &o), 0);
    ck_assert(x->a.listening);
    ck_assert_ptr_eq(x->pool.freed_ctx, &x->a);
}

static void teardown_ctx(struct actx *x)
{
    for (unsigned i = 0; i < x->pool.n; i++)
        if (x->pool.conns[i].in_use)
            on_close(&x->pool.conns[i]);
    kp_accept_free(&x->a);
    ck_assert_ptr_null(x->pool.freed);
    kp_conn_pool_free(&x->pool);
    kp_loop_free(&x->loop);
    close(x->ls.fd);
    kp_log_close(&x->log);
    unlink(x->log_path);
}

/* How many lines of the error log contain `needle`. */
static int log_count(const struct actx *x, const char *needle)
{
    char text[8192];
    FILE *f = fopen(x->log_path, "r");
    int count = 0;

    ck_assert_ptr_nonnull(f);
    while (fgets(text, sizeof(text), f) != NULL)
        count += strstr(text, needle) != NULL;
    fclose(f);
    return count;
}

static int client(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Run the loop until *counter reaches want (at most ~5 s). */
static void run_until(struct actx *x, const int *counter, int want)
{
    for (int k = 0; k < 50 && *counter < want; k++)
        ck_assert_int_eq(kp_loop_run_once(&x->loop, 100), 0);
    ck_assert_int_eq(*counter, want);
}

START_TEST(accept_basic)
{
    struct actx x;

    setup_ctx(&x, _i, 4, false);
    int fd = client(x.port);
    run_until(&x, &x.n, 1);
    struct kp_conn *c = x.conns[0];
    const struct sockaddr_in *peer = (const struct sockaddr_in *)&c->peer;
    ck_assert_int_eq(peer->sin_family, AF_INET);
    ck_assert_uint_eq(ntohl(peer->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_uint_eq(c->peer_len, sizeof(struct sockaddr_in));
    ck_assert_ptr_eq(c->ls, &x.ls);
    ck_assert(c->io.registered);
    ck_assert_uint_eq(c->io.interest, KP_EV_READ);
    ck_assert_uint_eq(x.a.accepted, 1);
    /* The handler set by the callback receives the client's bytes. */
    ck_assert_int_eq(write(fd, "hi", 2), 2);
    run_until(&x, &x.reads, 1);
    close(fd);
    teardown_ctx(&x);
}
END_TEST

static void accept_burst(int backend, bool multi)
{
    struct actx x;
    int fds[5];

    setup_ctx(&x, backend, 8, multi);
    for (int k = 0; k < 5; k++)
        fds[k] = client(x.port);
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 1000), 0);
    /* io_uring takes as many as it had accepts in flight (4) in a turn. */
    if (multi)
        ck_assert_int_eq(x.n, strcmp(kp_loop_backend_name(&x.loop), "io_uring") == 0 ? 4 : 5);
    else
        ck_assert_int_le(x.n, 2); /* one per event, plus the posted retry */
    run_until(&x, &x.n, 5);
    for (int k = 0; k < 5; k++)
        close(fds[k]);
    teardown_ctx(&x);
}

START_TEST(accept_one_at_a_time)
{
    accept_burst(_i, false);
}
END_TEST

START_TEST(accept_multi)
{
    accept_burst(_i, true);
}
END_TEST

START_TEST(accept_pool_exhaustion)
{
    struct actx x;
    int fds[4];

    setup_ctx(&x, _i, 2, true);
    for (int k = 0; k < 3; k++)
        fds[k] = client(x.port);
    run_until(&x, &x.n, 2);
    ck_assert(x.a.starved);
    ck_assert(!x.a.listening);
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 50), 0);
    ck_assert_int_eq(x.n, 2);
    /* Putting one back resumes accepting. */
    on_close(x.conns[0]);
    ck_assert(!x.a.starved);
    ck_assert(x.a.listening);
    run_until(&x, &x.n, 3);
    /* Starving again within the second logs no second warning. */
    fds[3] = client(x.port);
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 200), 0);
    ck_assert(x.a.starved);
    ck_assert_int_eq(log_count(&x, "2 worker_connections are not enough"), 1);
    on_close(x.conns[1]);
    run_until(&x, &x.n, 4);
    for (int k = 0; k < 4; k++)
        close(fds[k]);
    teardown_ctx(&x);
}
END_TEST

START_TEST(accept_reclaims_idle)
{
    struct actx x;
    int fds[3];
    char b;

    setup_ctx(&x, _i, 2, false);
    x.make_idle = true;
    for (int k = 0; k < 3; k++) {
        fds[k] = client(x.port);
        run_until(&x, &x.n, k + 1);
    }
    /* The third took the place of the oldest idle one, which was closed
     * (io_uring: once the next wait dropped the ring's hold on it). */
    ck_assert_int_eq(x.closed, 1);
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 0), 0);
    ck_assert(!x.a.starved);
    ck_assert_int_eq(read(fds[0], &b, 1), 0);
    ck_assert_uint_eq(x.pool.n_idle, 2);
    for (int k = 0; k < 3; k++)
        close(fds[k]);
    teardown_ctx(&x);
}
END_TEST

START_TEST(accept_pause_resume)
{
    struct actx x;

    setup_ctx(&x, _i, 4, false);
    kp_accept_pause(&x.a);
    ck_assert(!x.a.listening);
    int fd = client(x.port);
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 50), 0);
    ck_assert_int_eq(x.n, 0);
    kp_accept_resume(&x.a);
    ck_assert(x.a.listening);
    run_until(&x, &x.n, 1);
    close(fd);
    teardown_ctx(&x);
}
END_TEST

/* Out of descriptors: accept4() fails with EMFILE; the acceptor stops, logs,
 * and tries again after KP_ACCEPT_RETRY_MS instead of spinning. */
START_TEST(accept_emfile_backoff)
{
    struct actx x;
    struct rlimit saved, low;

    setup_ctx(&x, _i, 4, true);
    int fd = client(x.port);
    int lowest = dup(x.ls.fd);
    ck_assert_int_ge(lowest, 0);
    close(lowest);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)lowest;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 1000), 0);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_int_eq(x.n, 0);
    ck_assert(x.a.backoff);
    ck_assert(!x.a.listening);
    ck_assert(kp_timer_armed(&x.a.retry));
    ck_assert_int_eq(log_count(&x, "[error]"), 1);
    ck_assert_int_eq(log_count(&x, "accept4() on 127.0.0.1:0 failed (24: "), 1);
    uint64_t start = x.loop.clock.msec;
    run_until(&x, &x.n, 1);
    ck_assert_uint_ge(x.loop.clock.msec - start, KP_ACCEPT_RETRY_MS - 20);
    ck_assert(!x.a.backoff);
    close(fd);
    teardown_ctx(&x);
}
END_TEST

/* With select, a connection whose fd lands at or above FD_SETSIZE is closed
 * with one warning; nothing is written past the fd_set. */
START_TEST(accept_select_fd_limit)
{
    struct rlimit rl;
    struct actx x;
    int fillers[FD_SETSIZE];
    int nfill = 0;
    char b;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < FD_SETSIZE + 16) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FD_SETSIZE + 16) {
            fprintf(stderr, "accept_select_fd_limit: skipped, RLIMIT_NOFILE hard limit %llu\n",
                    (unsigned long long)rl.rlim_max);
            return;
        }
        rl.rlim_cur = FD_SETSIZE + 16;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    setup_ctx(&x, 2, 4, true);
    int fd = client(x.port);
    /* Occupy every descriptor below FD_SETSIZE. */
    for (;;) {
        int f = dup(x.ls.fd);
        ck_assert_int_ge(f, 0);
        if (f >= FD_SETSIZE) {
            close(f);
            break;
        }
        fillers[nfill++] = f;
    }
    ck_assert_int_eq(kp_loop_run_once(&x.loop, 1000), 0);
    ck_assert_int_eq(x.n, 0);
    ck_assert_uint_eq(x.pool.n_free, x.pool.n);
    ck_assert_int_eq(log_count(&x, "[warn]"), 1);
    ck_assert_int_eq(read(fd, &b, 1), 0);
    ck_assert(x.a.listening);
    while (nfill > 0)
        close(fillers[--nfill]);
    close(fd);
    /* Below the limit again, connections are accepted as usual. */
    fd = client(x.port);
    run_until(&x, &x.n, 1);
    close(fd);
    teardown_ctx(&x);
}
END_TEST

Suite *kp_test_accept_suite(void)
{
    Suite *s = suite_create("accept");
    TCase *tc = tcase_create("accept");

    tcase_set_timeout(tc, 20);
    tcase_add_loop_test(tc, accept_basic, 0, N_BACKENDS);
    tcase_add_loop_test(tc, accept_one_at_a_time, 0, N_BACKENDS);
    tcase_add_loop_test(tc, accept_multi, 0, N_BACKENDS);
    tcase_add_loop_test(tc, accept_pool_exhaustion, 0, N_BACKENDS);
    tcase_add_loop_test(tc, accept_reclaims_idle, 0, N_BACKENDS);
    tcase_add_loop_test(tc, accept_pause_resume, 0, N_BACKENDS);
    tcase_add_loop_test(tc, accept_emfile_backoff, 0, N_BACKENDS);
    tcase_add_test(tc, accept_select_fd_limit);
    suite_add_tcase(s, tc);
    return s;
}
