/* Unit tests for the connection pool: exhaustion, reuse, the idle LRU list,
 * reclaiming idle connections through their close callback, evicting the
 * oldest idle connection or reader of a request head, the freed hook and
 * kp_conn_close. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kelpie/event/conn.h"

START_TEST(conn_exhaust_and_reuse)
{
    struct kp_conn_pool p;
    struct kp_conn *c[3];

    ck_assert_int_eq(kp_conn_pool_init(&p, 0), -EINVAL);
    ck_assert_int_eq(kp_conn_pool_init(&p, 3), 0);
    for (int k = 0; k < 3; k++) {
        c[k] = kp_conn_get(&p);
        ck_assert_ptr_nonnull(c[k]);
        ck_assert(c[k]->in_use);
        ck_assert_uint_eq(c[k]->number, (uint64_t)k + 1);
        ck_assert_int_eq(c[k]->io.fd, -1);
        ck_assert_ptr_eq(c[k]->io.data, c[k]);
        /* The backend may prefetch the connection with its report. */
        ck_assert_ptr_eq(c[k]->io.warm[0].p, c[k]);
        ck_assert_uint_eq(c[k]->io.warm[0].len, sizeof(struct kp_conn));
        ck_assert_ptr_null(c[k]->io.warm[1].p);
        ck_assert(!kp_timer_armed(&c[k]->timer));
        ck_assert_ptr_eq(c[k]->timer.data, c[k]);
        ck_assert_ptr_null(c[k]->rbuf.start);
    }
    ck_assert_ptr_eq(c[0], &p.conns[0]);
    ck_assert_ptr_null(kp_conn_get(&p));
    ck_assert_uint_eq(p.n_free, 0);
    ck_assert_uint_eq(kp_conn_pool_active(&p), 3);

    /* A returned object comes back zeroed, with the next serial number. */
    c[1]->requests = 7;
    c[1]->data = &p;
    c[1]->io.warm[1] = (struct kp_io_warm){&p, sizeof(p)};
    kp_conn_put(&p, c[1]);
    ck_assert(!c[1]->in_use);
    ck_assert_uint_eq(kp_conn_pool_active(&p), 2);
    struct kp_conn *again = kp_conn_get(&p);
    ck_assert_ptr_eq(again, c[1]);
    ck_assert_uint_eq(again->number, 4);
    ck_assert_uint_eq(again->requests, 0);
    ck_assert_ptr_null(again->data);
    /* Nor does the last protocol's state stay named for prefetching. */
    ck_assert_ptr_null(again->io.warm[1].p);
    ck_assert_uint_eq(again->io.warm[1].len, 0);
    kp_conn_pool_free(&p);
}
END_TEST

static void unused_close(struct kp_conn *c)
{
    (void)c;
    ck_abort_msg("close called");
}

START_TEST(conn_idle_lru)
{
    struct kp_conn_pool p;
    struct kp_conn *c[4];

    ck_assert_int_eq(kp_conn_pool_init(&p, 4), 0);
    for (int k = 0; k < 4; k++) {
        c[k] = kp_conn_get(&p);
        c[k]->close = unused_close;
        kp_conn_idle_add(&p, c[k]);
    }
    ck_assert_uint_eq(p.n_idle, 4);
    ck_assert_ptr_eq(p.idle_head, c[0]);
    ck_assert_ptr_eq(p.idle_tail, c[3]);
    /* Going idle again moves to the tail; removal from the middle. */
    kp_conn_idle_add(&p, c[0]);
    ck_assert_ptr_eq(p.idle_head, c[1]);
    ck_assert_ptr_eq(p.idle_tail, c[0]);
    kp_conn_idle_remove(&p, c[2]);
    kp_conn_idle_remove(&p, c[2]);
    ck_assert(!c[2]->idle);
    ck_assert_uint_eq(p.n_idle, 3);
    ck_assert_ptr_eq(c[1]->next, c[3]);
    ck_assert_ptr_eq(c[3]->prev, c[1]);
    ck_assert_ptr_eq(c[3]->next, c[0]);
    ck_assert_ptr_null(c[0]->next);
    /* Putting an idle connection takes it off the list. */
    kp_conn_put(&p, c[3]);
    ck_assert_uint_eq(p.n_idle, 2);
    ck_assert_ptr_eq(c[1]->next, c[0]);
    ck_assert_ptr_eq(c[0]->prev, c[1]);
    kp_conn_pool_free(&p);
}
END_TEST

/* The test's close path: release through the pool, remembering the order. */
struct closer {
    struct kp_conn_pool *p;
    struct kp_conn *closed[8];
    int n;
};

static void on_close(struct kp_conn *c)
{
    struct closer *x = c->data;

    ck_assert(!c->idle);
    ck_assert(!c->reading);
    x->closed[x->n++] = c;
    kp_conn_put(x->p, c);
}

static void on_freed(void *ctx)
{
    (*(int *)ctx)++;
}

START_TEST(conn_reclaim_oldest)
{
    struct kp_conn_pool p;
    struct closer x = {.p = &p};
    struct kp_conn *c[4];
    int freed = 0;

    ck_assert_int_eq(kp_conn_pool_init(&p, 4), 0);
    p.freed = on_freed;
    p.freed_ctx = &freed;
    for (int k = 0; k < 4; k++) {
        c[k] = kp_conn_get(&p);
        c[k]->data = &x;
        c[k]->close = on_close;
    }
    /* c[1] is busy; idle order (oldest first): c[2], c[0], c[3]. */
    kp_conn_idle_add(&p, c[2]);
    kp_conn_idle_add(&p, c[0]);
    kp_conn_idle_add(&p, c[3]);
    ck_assert_ptr_null(kp_conn_get(&p));
    ck_assert_uint_eq(kp_conn_pool_reclaim(&p, 2), 2);
    ck_assert_int_eq(x.n, 2);
    ck_assert_ptr_eq(x.closed[0], c[2]);
    ck_assert_ptr_eq(x.closed[1], c[0]);
    ck_assert_int_eq(freed, 2);
    ck_assert_uint_eq(p.n_idle, 1);
    ck_assert_uint_eq(p.n_free, 2);
    /* Asking for more than there is closes what there is. */
    ck_assert_uint_eq(kp_conn_pool_reclaim(&p, 10), 1);
    ck_assert_ptr_eq(x.closed[2], c[3]);
    ck_assert_uint_eq(kp_conn_pool_reclaim(&p, 10), 0);
    ck_assert(c[1]->in_use);
    ck_assert_uint_eq(kp_conn_pool_active(&p), 1);
    kp_conn_pool_free(&p);
}
END_TEST

/* A connection nothing was read from yet is passed over by eviction (its
 * request may be waiting unread), until a read or the pool's settling ends
 * its freshness; then it goes in its turn, oldest first. */
START_TEST(conn_fresh_not_evicted)
{
    struct kp_conn_pool p;
    struct closer x = {.p = &p};
    struct kp_conn *c[3];

    ck_assert_int_eq(kp_conn_pool_init(&p, 3), 0);
    for (int k = 0; k < 3; k++) {
        c[k] = kp_conn_get(&p);
        c[k]->data = &x;
        c[k]->close = on_close;
        ck_assert(c[k]->fresh);
    }
    kp_conn_idle_add(&p, c[0]);    /* fresh, the oldest */
    kp_conn_reading_add(&p, c[1]); /* fresh */
    kp_conn_seen(&p, c[2]);
    kp_conn_idle_add(&p, c[2]); /* read from: evictable */
    ck_assert_uint_eq(kp_conn_pool_evictable(&p), 1);
    ck_assert(kp_conn_pool_evict(&p));
    ck_assert_ptr_eq(x.closed[0], c[2]);
    ck_assert_uint_eq(kp_conn_pool_evictable(&p), 0);
    ck_assert(!kp_conn_pool_evict(&p));
    kp_conn_seen(&p, c[1]);
    ck_assert_uint_eq(kp_conn_pool_evictable(&p), 1);
    kp_conn_pool_settle(&p);
    ck_assert_uint_eq(kp_conn_pool_evictable(&p), 2);
    ck_assert(kp_conn_pool_evict(&p));
    ck_assert(kp_conn_pool_evict(&p));
    ck_assert_ptr_eq(x.closed[1], c[0]);
    ck_assert_ptr_eq(x.closed[2], c[1]);
    ck_assert_uint_eq(p.n_fresh, 0);
    kp_conn_pool_free(&p);
}
END_TEST

/* Eviction takes the oldest of both lists by when they joined them: idle
 * ones and readers of a request head alike; a reader keeps its place. */
START_TEST(conn_evict_oldest_of_both)
{
    struct kp_conn_pool p;
    struct closer x = {.p = &p};
    struct kp_conn *c[5];

    ck_assert_int_eq(kp_conn_pool_init(&p, 5), 0);
    for (int k = 0; k < 5; k++) {
        c[k] = kp_conn_get(&p);
        c[k]->data = &x;
        c[k]->close = on_close;
        kp_conn_seen(&p, c[k]);
    }
    /* c[4] is busy (answering a request). Joined in the order c[1] (idle),
     * c[3] (reading), c[0] (idle), c[2] (idle, then reading). */
    kp_conn_idle_add(&p, c[1]);
    kp_conn_reading_add(&p, c[3]);
    kp_conn_idle_add(&p, c[0]);
    kp_conn_idle_add(&p, c[2]);
    kp_conn_reading_add(&p, c[2]);
    ck_assert(!c[2]->idle);
    ck_assert(c[2]->reading);
    ck_assert_uint_eq(p.n_idle, 2);
    ck_assert_uint_eq(p.n_reading, 2);
    ck_assert_uint_eq(kp_conn_pool_evictable(&p), 4);
    for (int k = 0; k < 4; k++)
        ck_assert(kp_conn_pool_evict(&p));
    ck_assert(!kp_conn_pool_evict(&p));
    ck_assert_int_eq(x.n, 4);
    ck_assert_ptr_eq(x.closed[0], c[1]);
    ck_assert_ptr_eq(x.closed[1], c[3]);
    ck_assert_ptr_eq(x.closed[2], c[0]);
    ck_assert_ptr_eq(x.closed[3], c[2]);
    ck_assert_uint_eq(kp_conn_pool_evictable(&p), 0);
    ck_assert(c[4]->in_use);
    /* A reader that leaves the list (its head is complete) is not evicted,
     * and the idle-only reclaim never takes a reader. */
    struct kp_conn *r = kp_conn_get(&p);
    r->data = &x;
    r->close = on_close;
    kp_conn_seen(&p, r);
    kp_conn_reading_add(&p, r);
    ck_assert_uint_eq(kp_conn_pool_reclaim(&p, 5), 0);
    kp_conn_reading_remove(&p, r);
    kp_conn_reading_remove(&p, r);
    ck_assert_uint_eq(p.n_reading, 0);
    ck_assert(!kp_conn_pool_evict(&p));
    kp_conn_pool_free(&p);
}
END_TEST

static void on_timer(struct kp_timer *t)
{
    (void)t;
    ck_abort_msg("timer of a closed connection fired");
}

static void on_io(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    (void)loop;
    (void)io;
    (void)events;
    ck_abort_msg("io of a closed connection reported");
}

START_TEST(conn_close_releases_everything)
{
    struct kp_loop loop;
    struct kp_conn_pool p;
    int sv[2];

    ck_assert_int_eq(kp_loop_init(&loop, KP_EVENT_EPOLL, 8, NULL), 0);
    ck_assert_int_eq(kp_conn_pool_init(&p, 1), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct kp_conn *c = kp_conn_get(&p);
    c->io.fd = sv[0];
    c->io.handler = on_io;
    c->timer.fn = on_timer;
    ck_assert_int_eq(kp_loop_set(&loop, &c->io, KP_EV_READ), 0);
    kp_loop_timer_add(&loop, &c->timer, 0);
    kp_loop_post(&loop, &c->io, KP_EV_READ);
    kp_conn_idle_add(&p, c);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    kp_conn_close(&p, &loop, c);
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
    ck_assert_int_eq(c->io.fd, -1);
    ck_assert(!c->in_use);
    ck_assert_uint_eq(p.n_idle, 0);
    ck_assert_uint_eq(p.n_free, 1);
    ck_assert_int_eq(kp_loop_run_once(&loop, 20), 0);
    close(sv[1]);
    kp_conn_pool_free(&p);
    kp_loop_free(&loop);
}
END_TEST

Suite *kp_test_conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("conn");

    tcase_add_test(tc, conn_exhaust_and_reuse);
    tcase_add_test(tc, conn_idle_lru);
    tcase_add_test(tc, conn_reclaim_oldest);
    tcase_add_test(tc, conn_evict_oldest_of_both);
    tcase_add_test(tc, conn_fresh_not_evicted);
    tcase_add_test(tc, conn_close_releases_everything);
    suite_add_tcase(s, tc);
    return s;
}
