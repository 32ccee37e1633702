/* Unit tests for the connection state machine (request.c, server.c) in
 * process: a real loop and pool, connections over socketpairs, and checks of
 * what an integration test cannot see: an idle connection holds no buffer
 * and no request, the scoreboard counters and gauges, the caches, and the
 * hard and soft drains. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/loop.h"
#include "kelpie/event/scoreboard.h"
#include "kelpie/http/request.h"
#include "kelpie/http/server.h"

static char dir[64];
static struct kp_cycle *cycle;
static struct kp_log log_;
static struct kp_loop loop;
static struct kp_conn_pool pool;
static struct kp_http_ctx ctx;
static struct kp_sb_slot slot;

static const char *CONF = "events { }\n"
                          "http {\n"
                          "  access_log off;\n"
                          "  keepalive_timeout 300ms;\n"
                          "  client_header_timeout 300ms;\n"
                          "  server { listen 127.0.0.1:1; root html; }\n"
                          "}\n";

static void put(const char *name, const char *text)
{
    char path[128];

    snprintf(path, sizeof(path), "%s%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    char err[512], path[128];

    strcpy(dir, "/tmp/kp_request_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    strcat(dir, "/");
    snprintf(path, sizeof(path), "%shtml", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    put("kelpie.conf", CONF);
    put("html/a.txt", "AAAA\n");
    cycle = kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(cycle != NULL, "%s", err);
    kp_log_init_stderr(&log_, KP_LOG_ERR);
    ck_assert_int_eq(kp_loop_init(&loop, KP_EVENT_EPOLL, 64, &log_), 0);
    ck_assert_int_eq(kp_conn_pool_init(&pool, 8), 0);
    memset(&slot, 0, sizeof(slot));
    kp_http_ctx_init(&ctx, &cycle->http, &log_, &slot);
    ck_assert_int_eq(kp_http_ctx_start(&ctx, &loop, &pool), 0);
}

static void teardown(void)
{
    char path[128];

    for (unsigned i = 0; i < pool.n; i++) {
        if (pool.conns[i].in_use)
            pool.conns[i].close(&pool.conns[i]);
    }
    kp_http_ctx_free(&ctx);
    kp_conn_pool_free(&pool);
    kp_loop_free(&loop);
    kp_cycle_free(cycle);
    snprintf(path, sizeof(path), "%shtml/a.txt", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%shtml", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%skelpie.conf", dir);
    unlink(path);
    rmdir(dir);
}

/* A connection as the acceptor would hand it over; returns the client end. */
static int open_conn(struct kp_conn **out)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct kp_conn *c = kp_conn_get(&pool);
    ck_assert_ptr_nonnull(c);
    c->io.fd = sv[0];
    c->ls = &cycle->listening[0];
    ck_assert_int_eq(kp_loop_set(&loop, &c->io, KP_EV_READ), 0);
    kp_http_conn_init(&ctx, c);
    *out = c;
    return sv[1];
}

static void spin(int ms)
{
    for (int i = 0; i < ms / 5; i++)
        kp_loop_run_once(&loop, 5);
}

/* Run the loop until the client end has data or is closed; read it all. */
static ssize_t client_read(int fd, char *buf, size_t size)
{
    size_t n = 0;

    for (int i = 0; i < 200; i++) {
        kp_loop_run_once(&loop, 5);
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r == 0 && n == 0)
            return 0;
        if (r > 0)
            n += (size_t)r;
        else if (n > 0)
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

static int64_t gauge(enum kp_sb_gauge g)
{
    return kp_sb_gauge_get(&slot, g);
}

START_TEST(idle_holds_nothing_and_counts)
{
    static const char req[] = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    struct kp_conn *c;
    char buf[4096];
    int fd = open_conn(&c);
    struct kp_http_conn *hc = c->data;

    ck_assert_int_eq(hc->state, KP_HC_IDLE);
    ck_assert_int_eq(gauge(KP_SB_IDLE), 1);
    ck_assert(c->idle);
    ck_assert_ptr_null(c->rbuf.start);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
        ssize_t n = client_read(fd, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
        ck_assert(strstr(buf, "\r\n\r\nAAAA\n") != NULL);
        /* Back to idle: no buffer, no request, on the idle list. */
        ck_assert_int_eq(hc->state, KP_HC_IDLE);
        ck_assert_ptr_null(hc->r);
        ck_assert_ptr_null(c->rbuf.start);
        ck_assert(c->idle);
        ck_assert_uint_eq(c->requests, (unsigned)i);
        ck_assert_uint_eq(kp_sb_get(&slot, KP_SB_REQUESTS), (uint64_t)i);
        ck_assert_uint_eq(kp_sb_get(&slot, KP_SB_2XX), (uint64_t)i);
        ck_assert_uint_eq(kp_sb_get(&slot, KP_SB_BYTES_IN), (uint64_t)i * (sizeof(req) - 1));
    }
    ck_assert_uint_gt(kp_sb_get(&slot, KP_SB_BYTES_OUT), 3 * 100);
    ck_assert_int_eq(gauge(KP_SB_READING), 0);
    ck_assert_int_eq(gauge(KP_SB_WRITING), 0);
    /* The request object and buffer went to the caches, for the next one. */
    ck_assert_uint_eq(ctx.reuse.n_reqs, 1);
    ck_assert_uint_eq(ctx.reuse.n_bufs, 1);
    /* keepalive_timeout: closed silently. */
    spin(500);
    ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(kp_conn_pool_active(&pool), 0);
    ck_assert_int_eq(gauge(KP_SB_IDLE), 0);
    close(fd);
}
END_TEST

START_TEST(timeouts_and_errors_count)
{
    struct kp_conn *c;
    char buf[4096];

    /* Part of a head, then silence: 408, then the connection goes. */
    int fd = open_conn(&c);
    ck_assert_int_eq(write(fd, "GET / HTTP/1.1\r\n", 16), 16);
    spin(50);
    ck_assert_int_eq(gauge(KP_SB_READING), 1);
    ck_assert_int_eq(gauge(KP_SB_IDLE), 0);
    ssize_t n = client_read(fd, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert(strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
    ck_assert_ptr_nonnull(strstr(buf, "Connection: close\r\n"));
    ck_assert_uint_eq(kp_sb_get(&slot, KP_SB_4XX), 1);
    close(fd);
    spin(20);
    ck_assert_uint_eq(kp_conn_pool_active(&pool), 0);
    ck_assert_int_eq(gauge(KP_SB_READING) + gauge(KP_SB_WRITING) + gauge(KP_SB_IDLE), 0);
    /* A new connection that sends nothing is closed without a response. */
    fd = open_conn(&c);
    spin(500);
    ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(kp_conn_pool_active(&pool), 0);
    close(fd);
}
END_TEST

START_TEST(hard_drain_closes_idle)
{
    struct kp_conn *a, *b;
    char buf[4096];
    int fa = open_conn(&a), fb = open_conn(&b);

    ck_assert_int_eq(write(fb, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 32), 32);
    ck_assert_int_gt(client_read(fb, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(pool.n_idle, 2);
    kp_http_ctx_drain(&ctx);
    ck_assert_uint_eq(kp_conn_pool_active(&pool), 0);
    ck_assert_int_eq(read(fa, buf, sizeof(buf)), 0);
    ck_assert_int_eq(read(fb, buf, sizeof(buf)), 0);
    close(fa);
    close(fb);
}
END_TEST

START_TEST(soft_drain_answers_then_closes)
{
    struct kp_conn *a, *b;
    char buf[4096];
    int fa = open_conn(&a), fb = open_conn(&b);

    kp_http_ctx_soft_drain(&ctx, 100);
    ck_assert_uint_eq(kp_conn_pool_active(&pool), 2);
    /* A request on its way is still answered, with Connection: close. */
    ck_assert_int_eq(write(fa, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 32), 32);
    ck_assert_int_gt(client_read(fa, buf, sizeof(buf)), 0);
    ck_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ck_assert_ptr_nonnull(strstr(buf, "Connection: close\r\n"));
    /* The idle one is gone after the period, well before its timeout. */
    spin(200);
    ck_assert_int_eq(read(fb, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(kp_conn_pool_active(&pool), 0);
    close(fa);
    close(fb);
}
END_TEST

Suite *kp_test_request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("state machine");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idle_holds_nothing_and_counts);
    tcase_add_test(tc, timeouts_and_errors_count);
    tcase_add_test(tc, hard_drain_closes_idle);
    tcase_add_test(tc, soft_drain_answers_then_closes);
    suite_add_tcase(s, tc);
    return s;
}
