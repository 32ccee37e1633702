/* Slow clients cannot shut kelpie out (issue 14). Two workers share the
 * listener through the accept mutex; thousands of connections each send part
 * of a request head and then nothing (a slowloris attack), with
 * client_header_timeout far beyond the test so that no timeout frees a slot.
 *   - Below the connection limit, every worker above 7/8 of its connections
 *     used to leave the accept mutex alone, so nobody accepted and a normal
 *     client waited in the backlog: now a worker with a free slot accepts.
 *   - With every slot taken, a new client closes the oldest reader of an
 *     unfinished head in its place and is served.
 * A normal client must get each answer within a generous client timeout
 * (10 s): this asserts success, not a duration. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#define MAX_SLOW     2200
#define WORKERS      2
#define CLIENT_MS    10000
#define NORMAL_TRIES 20

static const char PARTIAL[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";

/* worker_connections for the backend: select cannot watch descriptors past
 * FD_SETSIZE (1024), so it gets fewer slots and the same proportions. */
static int slots_per_worker(void)
{
    return strcmp(kp_h_events(), "select") == 0 ? 800 : 1024;
}

/* Raise our descriptor limit for the client ends. */
static bool enough_fds(int want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur < (rlim_t)want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 8192 ? 8192 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur >= (rlim_t)want;
}

/* mutex: accept_mutex on (the default) or off (EPOLLEXCLUSIVE). */
static void start(struct kp_h_server *s, int slots, bool mutex)
{
    char events[96];

    snprintf(events, sizeof(events), "worker_connections %d;\naccept_mutex %s;\n", slots,
             mutex ? "on" : "off");
    kp_p_start(s, "worker_processes 2;\nworker_rlimit_nofile 4096;\n", events,
               "access_log off;\n"
               "client_header_timeout 600s;\n"
               "keepalive_timeout 60s;\n"
               "server {\n"
               "    listen 127.0.0.1:@PORT@ backlog=4096;\n"
               "    location / { return 200 \"ok\\n\"; }\n"
               "}\n");
    ck_assert_msg(kp_p_wait_children(s->pid, WORKERS, 5000), "the workers did not start");
}

/* n connections, each with part of a request head sent. */
static void open_slow(int port, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i] = kp_h_connect(port);
        ck_assert_msg(fds[i] >= 0, "slow connection %d failed", i);
        kp_h_send_str(fds[i], PARTIAL);
    }
}

/* A normal client: a whole request on a new connection, answered within the
 * client timeout. */
static void normal_request(int port, int try)
{
    struct timeval tv = {CLIENT_MS / 1000, 0};
    struct kp_h_resp r;
    int fd = kp_h_connect(port);

    ck_assert_msg(fd >= 0, "normal client %d cannot connect", try);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    kp_h_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_msg(kp_h_recv(fd, &r, false) == 0, "normal client %d got no answer within %d ms", try,
                  CLIENT_MS);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    kp_h_resp_free(&r);
    close(fd);
}

/* Still open: nothing to read and no hang-up. */
static int closed_count(const int *fds, int n)
{
    int closed = 0;

    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        closed += poll(&p, 1, 0) != 0;
    }
    return closed;
}

struct closed_wait {
    const int *fds;
    int n, want;
};

static bool enough_closed(void *arg)
{
    const struct closed_wait *w = arg;

    return closed_count(w->fds, w->n) >= w->want;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* 1,900 of 2,048 slots (in proportion with select): all accepted, and a
 * normal client is served again and again. A slow connection may be closed
 * only in a full worker's eviction (a busy machine can let one worker take
 * more than its share while the other waits for a CPU): never otherwise. */
START_TEST(slowloris_below_limit)
{
    static int fds[MAX_SLOW];
    struct kp_h_server s;
    int slots = slots_per_worker();
    int n = slots * WORKERS * 1900 / 2048;

    ck_assert_msg(enough_fds(n + 256), "the open file limit is below %d", n + 256);
    start(&s, slots, _i == 0);
    open_slow(s.port, fds, n);
    ck_assert_msg(kp_h_wait_accepted(s.port, 20000),
                  "%d of %d slow connections not accepted with %d free slots [%s, accept_mutex %s]",
                  kp_h_backlog(s.port), n, slots * WORKERS - n, kp_h_events(),
                  _i == 0 ? "on" : "off");
    for (int i = 0; i < NORMAL_TRIES; i++)
        normal_request(s.port, i);
    int closed = closed_count(fds, n);
    if (closed > 0) {
        char *log = kp_h_read(&s, "logs/error.log");
        ck_assert_msg(log != NULL &&
                          strstr(log, "worker_connections are not enough, reusing connections"),
                      "%d slow connections closed with free slots: %s", closed, log);
        free(log);
    }
    close_all(fds, n);
    kp_h_stop(&s);
}
END_TEST

/* More slow connections than slots: each one past the limit takes the place
 * of the oldest, and so does a normal client. */
START_TEST(slowloris_every_slot_taken)
{
    static int fds[MAX_SLOW];
    struct kp_h_server s;
    int slots = slots_per_worker();
    int extra = 50, n = slots * WORKERS + extra;

    ck_assert_msg(enough_fds(n + 256), "the open file limit is below %d", n + 256);
    start(&s, slots, _i == 0);
    open_slow(s.port, fds, n);
    /* The ones past the limit are accepted too, each in the place of an
     * older one. */
    ck_assert_msg(kp_h_wait_accepted(s.port, 20000),
                  "%d of %d slow connections not accepted with %d slots [%s, accept_mutex %s]",
                  kp_h_backlog(s.port), n, slots * WORKERS, kp_h_events(), _i == 0 ? "on" : "off");
    struct closed_wait evicted = {fds, n, extra};
    ck_assert_msg(kp_h_wait_until(enough_closed, &evicted, 10000),
                  "%d slow connections closed for %d newer ones", closed_count(fds, n), extra);
    for (int i = 0; i < NORMAL_TRIES; i++)
        normal_request(s.port, i);
    /* The first normal client took the place of a slow one; the others the
     * place the one before them left. The oldest slow clients went first. */
    evicted.want = extra + 1;
    ck_assert_msg(kp_h_wait_until(enough_closed, &evicted, 10000),
                  "only %d slow connections were closed", closed_count(fds, n));
    ck_assert_msg(closed_count(fds + n - extra, extra) == 0,
                  "the newest slow connections were closed before older ones");
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(strstr(log, "worker_connections are not enough, reusing connections"));
    free(log);
    close_all(fds, n);
    kp_h_stop(&s);
}
END_TEST

#define FULL_SLOTS 8
#define QUEUED     12

/* A download that the client does not read: its connection stays busy
 * writing (a small receive window). */
static int stalled_download(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    kp_h_send_str(fd, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    return fd;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 10000) == 1;
}

/* Clients that queue while every slot is busy are all served once the slots
 * free: a connection just accepted, whose request the worker has not read
 * yet, is never closed to make room for the next one (on io_uring its first
 * read completes a turn after its accept). */
START_TEST(queued_clients_served)
{
    struct kp_h_server s;
    int busy[FULL_SLOTS], queued[QUEUED];
    size_t big = 8u << 20;
    char *body = malloc(big + 1);

    memset(body, 'x', big);
    body[big] = '\0';
    kp_h_prepare(&s);
    chmod(s.prefix, 0755); /* workers run as nobody when started as root */
    kp_h_write(&s, "html/big.bin", body);
    kp_h_write(&s, "html/index.html", "small\n");
    free(body);
    kp_p_write_config(&s, "worker_processes 1;\n", "worker_connections 8;\n",
                      "access_log off;\nserver { listen 127.0.0.1:@PORT@; root html; }\n");
    ck_assert_int_eq(kp_h_start(&s), 0);
    for (int i = 0; i < FULL_SLOTS; i++) {
        busy[i] = stalled_download(s.port);
        ck_assert_msg(readable(busy[i]), "download %d never started", i);
    }
    for (int i = 0; i < QUEUED; i++) {
        queued[i] = kp_h_connect(s.port);
        ck_assert_int_ge(queued[i], 0);
        kp_h_send_str(queued[i],
                      "GET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    }
    kp_h_sleep_ms(300); /* the queued clients wait in the backlog */
    close_all(busy, FULL_SLOTS);
    for (int i = 0; i < QUEUED; i++) {
        struct timeval tv = {CLIENT_MS / 1000, 0};
        struct kp_h_resp r;
        setsockopt(queued[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ck_assert_msg(kp_h_recv(queued[i], &r, false) == 0, "queued client %d got no answer [%s]",
                      i, kp_h_events());
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "small\n");
        kp_h_resp_free(&r);
    }
    close_all(queued, QUEUED);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_slowloris_suite(void)
{
    Suite *s = suite_create("slowloris");
    TCase *tc = tcase_create("slowloris");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, slowloris_below_limit, 0, 2);
    tcase_add_loop_test(tc, slowloris_every_slot_taken, 0, 2);
    tcase_add_test(tc, queued_clients_served);
    suite_add_tcase(s, tc);
    return s;
}
