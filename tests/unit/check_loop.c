/* Unit tests for the event loop. Every case runs once per backend (the loop
 * index: 0 epoll, 1 poll, 2 select) over socketpairs: readiness, removal,
 * modification, posted events, many descriptors, the select FD_SETSIZE
 * limit, and stale-event protection when a handler closes another io. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/loop.h"

static const enum kp_event_use backends[] = {KP_EVENT_EPOLL, KP_EVENT_POLL, KP_EVENT_SELECT};
#define N_BACKENDS 3

/* What a handler saw. */
struct rec {
    int calls;
    unsigned events;
    bool drain;  /* read until EAGAIN on READ */
    int reposts; /* post itself this many more times */
};

static void on_io(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct rec *r = io->data;
    char buf[256];

    r->calls++;
    r->events = events;
    if (r->drain && (events & KP_EV_READ))
        while (read(io->fd, buf, sizeof(buf)) > 0)
            ;
    if (r->reposts > 0) {
        r->reposts--;
        kp_loop_post(loop, io, KP_EV_READ);
    }
}

static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void loop_for(struct kp_loop *loop, int i, unsigned max_fds)
{
    ck_assert_int_eq(kp_loop_init(loop, backends[i], max_fds, NULL), 0);
}

START_TEST(loop_init_names)
{
    static const char *names[] = {"epoll", "poll", "select"};
    struct kp_loop loop;

    loop_for(&loop, _i, 8);
    ck_assert_str_eq(kp_loop_backend_name(&loop), names[_i]);
    ck_assert_uint_gt(loop.clock.msec, 0);
    kp_loop_free(&loop);
    ck_assert_int_eq(kp_loop_init(&loop, backends[_i], 0, NULL), -EINVAL);
}
END_TEST

START_TEST(loop_readable)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {.drain = true};
    int sv[2];

    loop_for(&loop, _i, 8);
    pair(sv);
    kp_io_init(&io, sv[0], on_io, &r);
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ), 0);
    ck_assert_int_eq(kp_loop_run_once(&loop, 0), 0);
    ck_assert_int_eq(r.calls, 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_uint_eq(r.events, KP_EV_READ);
    /* Drained: nothing more to report. */
    ck_assert_int_eq(kp_loop_run_once(&loop, 0), 0);
    ck_assert_int_eq(r.calls, 1);
    /* The peer's close reads as EOF. */
    close(sv[1]);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 2);
    ck_assert(r.events & KP_EV_READ);
    kp_loop_del(&loop, &io);
    close(sv[0]);
    kp_loop_free(&loop);
}
END_TEST

/* Bytes and the peer's shutdown arrive before the wait: a handler that reads
 * once (a short read) is told of the end of stream, since an edge-triggered
 * backend raises no new edge for it; a level-triggered one reports the
 * readable socket again instead. */
START_TEST(loop_eof_with_last_bytes)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    char buf[16];

    loop_for(&loop, _i, 8);
    pair(sv);
    kp_io_init(&io, sv[0], on_io, &r);
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ), 0);
    ck_assert_int_eq(write(sv[1], "req", 3), 3);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(read(sv[0], buf, sizeof(buf)), 3);
    ck_assert_int_eq(kp_loop_run_once(&loop, 0), 0);
    if (backends[_i] == KP_EVENT_EPOLL) {
        ck_assert_uint_eq(r.events, KP_EV_READ | KP_EV_EOF);
        ck_assert_int_eq(r.calls, 1);
    } else {
        ck_assert_int_eq(r.calls, 2);
        ck_assert(r.events & KP_EV_READ);
    }
    kp_loop_del(&loop, &io);
    close(sv[0]);
    close(sv[1]);
    kp_loop_free(&loop);
}
END_TEST

START_TEST(loop_writable_and_modify)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];

    loop_for(&loop, _i, 8);
    pair(sv);
    kp_io_init(&io, sv[0], on_io, &r);
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_WRITE), 0);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_uint_eq(r.events, KP_EV_WRITE);
    /* Data arrives while only WRITE is wanted: READ is not reported. */
    ck_assert_int_eq(kp_loop_set(&loop, &io, 0), 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    ck_assert_int_eq(kp_loop_run_once(&loop, 20), 0);
    ck_assert_int_eq(r.calls, 1);
    /* Asking for READ now reports the data that is already there. */
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ), 0);
    ck_assert_uint_eq(io.interest, KP_EV_READ);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_uint_eq(r.events, KP_EV_READ);
    /* Both directions at once. */
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ | KP_EV_WRITE), 0);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 3);
    ck_assert_uint_eq(r.events, KP_EV_READ | KP_EV_WRITE);
    kp_loop_del(&loop, &io);
    close(sv[0]);
    close(sv[1]);
    kp_loop_free(&loop);
}
END_TEST

START_TEST(loop_removal)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];

    loop_for(&loop, _i, 8);
    pair(sv);
    kp_io_init(&io, sv[0], on_io, &r);
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ | KP_EV_WRITE), 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    kp_loop_post(&loop, &io, KP_EV_READ);
    ck_assert_int_eq(kp_loop_del(&loop, &io), 0);
    ck_assert(!io.registered);
    ck_assert(!io.posted);
    ck_assert_int_eq(kp_loop_del(&loop, &io), 0);
    ck_assert_int_eq(kp_loop_run_once(&loop, 50), 0);
    ck_assert_int_eq(r.calls, 0);
    /* Registering again works and reports the pending data. */
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ), 0);
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(r.calls, 1);
    kp_loop_del(&loop, &io);
    close(sv[0]);
    close(sv[1]);
    kp_loop_free(&loop);
}
END_TEST

START_TEST(loop_posted)
{
    struct kp_loop loop;
    struct kp_io a, b;
    struct rec ra = {.reposts = 2}, rb = {0};

    loop_for(&loop, _i, 8);
    kp_io_init(&a, -1, on_io, &ra);
    kp_io_init(&b, -1, on_io, &rb);
    kp_loop_post(&loop, &a, KP_EV_READ);
    kp_loop_post(&loop, &b, KP_EV_WRITE);
    kp_loop_post(&loop, &b, KP_EV_READ);
    /* Posted work makes the wait return at once even with no limit. */
    ck_assert_int_eq(kp_loop_run_once(&loop, -1), 0);
    ck_assert_int_eq(ra.calls, 1);
    ck_assert_int_eq(rb.calls, 1);
    ck_assert_uint_eq(rb.events, KP_EV_READ | KP_EV_WRITE);
    /* A handler posting itself runs once per iteration, not in a loop. */
    ck_assert(a.posted);
    ck_assert_int_eq(kp_loop_run_once(&loop, -1), 0);
    ck_assert_int_eq(ra.calls, 2);
    ck_assert_int_eq(kp_loop_run_once(&loop, -1), 0);
    ck_assert_int_eq(ra.calls, 3);
    ck_assert(!a.posted);
    ck_assert_ptr_null(loop.posted_head);
    ck_assert_ptr_null(loop.posted_tail);
    kp_loop_free(&loop);
}
END_TEST

/* Deleting an io from the middle of the posted queue keeps the queue whole. */
START_TEST(loop_posted_unlink)
{
    struct kp_loop loop;
    struct kp_io io[3];
    struct rec r[3] = {{0}};

    loop_for(&loop, _i, 8);
    for (int k = 0; k < 3; k++) {
        kp_io_init(&io[k], -1, on_io, &r[k]);
        kp_loop_post(&loop, &io[k], KP_EV_READ);
    }
    kp_loop_del(&loop, &io[1]);
    ck_assert_int_eq(kp_loop_run_once(&loop, -1), 0);
    ck_assert_int_eq(r[0].calls, 1);
    ck_assert_int_eq(r[1].calls, 0);
    ck_assert_int_eq(r[2].calls, 1);
    kp_loop_free(&loop);
}
END_TEST

/* 500 descriptors, with a loop sized for 64 so that reports come in several
 * batches: every one must be served. */
START_TEST(loop_many_fds)
{
    enum { NPAIRS = 250 };
    struct kp_loop loop;
    static struct kp_io ios[2 * NPAIRS];
    static struct rec recs[2 * NPAIRS];
    int fds[2 * NPAIRS];

    loop_for(&loop, _i, 64);
    for (int k = 0; k < NPAIRS; k++)
        pair(&fds[2 * k]);
    for (int k = 0; k < 2 * NPAIRS; k++) {
        recs[k] = (struct rec){.drain = true};
        kp_io_init(&ios[k], fds[k], on_io, &recs[k]);
        ck_assert_int_eq(kp_loop_set(&loop, &ios[k], KP_EV_READ), 0);
        ck_assert_int_eq(write(fds[k], "x", 1), 1);
    }
    int served = 0;
    for (int round = 0; round < 100 && served < 2 * NPAIRS; round++) {
        ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
        served = 0;
        for (int k = 0; k < 2 * NPAIRS; k++)
            served += recs[k].calls > 0;
    }
    ck_assert_int_eq(served, 2 * NPAIRS);
    for (int k = 0; k < 2 * NPAIRS; k++) {
        ck_assert_int_eq(recs[k].calls, 1);
        kp_loop_del(&loop, &ios[k]);
        close(fds[k]);
    }
    kp_loop_free(&loop);
}
END_TEST

/* select cannot watch fd 1100; the others can. */
START_TEST(loop_fd_above_setsize)
{
    enum { HIGH_FD = FD_SETSIZE + 76 };
    struct rlimit rl;
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {.drain = true};
    int sv[2];

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur <= HIGH_FD) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= HIGH_FD) {
            fprintf(stderr, "loop_fd_above_setsize: skipped, RLIMIT_NOFILE hard limit %llu\n",
                    (unsigned long long)rl.rlim_max);
            return;
        }
        rl.rlim_cur = HIGH_FD + 1;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    loop_for(&loop, _i, 8);
    pair(sv);
    ck_assert_int_eq(dup2(sv[0], HIGH_FD), HIGH_FD);
    kp_io_init(&io, HIGH_FD, on_io, &r);
    if (backends[_i] == KP_EVENT_SELECT) {
        ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ), -EMFILE);
        ck_assert(!io.registered);
    } else {
        ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ), 0);
        ck_assert_int_eq(write(sv[1], "x", 1), 1);
        ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
        ck_assert_int_eq(r.calls, 1);
        kp_loop_del(&loop, &io);
    }
    close(HIGH_FD);
    close(sv[0]);
    close(sv[1]);
    kp_loop_free(&loop);
}
END_TEST

/* Two readable ios; whichever handler runs first closes the other, puts a
 * fresh (quiet) socket on the same fd number and registers it again, either
 * through the same io object re-initialised (as the connection pool does) or
 * through another one. The report collected for the old socket must not
 * reach the new owner in the same round. */
struct stale_ctx {
    struct kp_io io[3]; /* io[2]: the "other object" for the new socket */
    int calls[3];
    bool same_object;
    bool done;
    int spare_peer;
};

static void on_stale(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct stale_ctx *x = io->data;
    int self = (int)(io - x->io);
    char buf[16];

    (void)events;
    x->calls[self]++;
    while (read(io->fd, buf, sizeof(buf)) > 0)
        ;
    if (x->done)
        return;
    x->done = true;
    struct kp_io *victim = &x->io[self == 0 ? 1 : 0];
    int fd = victim->fd, sv[2];
    kp_loop_del(loop, victim);
    close(fd);
    pair(sv);
    if (sv[0] != fd) {
        ck_assert_int_eq(dup2(sv[0], fd), fd);
        close(sv[0]);
    }
    x->spare_peer = sv[1];
    struct kp_io *owner = x->same_object ? victim : &x->io[2];
    kp_io_init(owner, fd, on_stale, x);
    ck_assert_int_eq(kp_loop_set(loop, owner, KP_EV_READ | KP_EV_WRITE), 0);
}

static void stale_round(int backend, bool same_object)
{
    struct kp_loop loop;
    struct stale_ctx x = {.same_object = same_object, .spare_peer = -1};
    int a[2], b[2];

    loop_for(&loop, backend, 8);
    pair(a);
    pair(b);
    kp_io_init(&x.io[0], a[0], on_stale, &x);
    kp_io_init(&x.io[1], b[0], on_stale, &x);
    ck_assert_int_eq(kp_loop_set(&loop, &x.io[0], KP_EV_READ), 0);
    ck_assert_int_eq(kp_loop_set(&loop, &x.io[1], KP_EV_READ), 0);
    ck_assert_int_eq(write(a[1], "x", 1), 1);
    ck_assert_int_eq(write(b[1], "x", 1), 1);
    /* Both are ready before the wait, so both are collected in one round. */
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(x.calls[0] + x.calls[1] + x.calls[2], 1);
    /* The new owner is reported normally from the next wait on (it is
     * writable). */
    ck_assert_int_eq(kp_loop_run_once(&loop, 1000), 0);
    ck_assert_int_eq(x.calls[0] + x.calls[1] + x.calls[2], 2);
    for (int k = 0; k < 3; k++)
        kp_loop_del(&loop, &x.io[k]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    close(x.spare_peer);
    kp_loop_free(&loop);
}

START_TEST(loop_stale_same_object)
{
    stale_round(_i, true);
}
END_TEST

START_TEST(loop_stale_other_object)
{
    stale_round(_i, false);
}
END_TEST

static void on_timer_fired(struct kp_timer *t)
{
    (*(int *)t->data)++;
}

/* A timer bounds an unlimited wait, and fires once the clock reaches it. */
START_TEST(loop_timer_wakes_wait)
{
    struct kp_loop loop;
    struct kp_timer t;
    int fired = 0;

    loop_for(&loop, _i, 8);
    kp_timer_init(&t, on_timer_fired, &fired);
    uint64_t start = loop.clock.msec;
    kp_loop_timer_add(&loop, &t, 30);
    for (int k = 0; k < 100 && fired == 0; k++)
        ck_assert_int_eq(kp_loop_run_once(&loop, -1), 0);
    ck_assert_int_eq(fired, 1);
    ck_assert_uint_ge(loop.clock.msec, start + 30);
    ck_assert(!kp_timer_armed(&t));
    /* A deleted timer does not fire. */
    kp_loop_timer_add(&loop, &t, 10);
    kp_loop_timer_del(&loop, &t);
    ck_assert_int_eq(kp_loop_run_once(&loop, 30), 0);
    ck_assert_int_eq(fired, 1);
    kp_loop_free(&loop);
}
END_TEST

Suite *kp_test_loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");

    tcase_add_loop_test(tc, loop_init_names, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_readable, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_eof_with_last_bytes, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_writable_and_modify, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_removal, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_posted, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_posted_unlink, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_many_fds, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_fd_above_setsize, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_stale_same_object, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_stale_other_object, 0, N_BACKENDS);
    tcase_add_loop_test(tc, loop_timer_wakes_wait, 0, N_BACKENDS);
    suite_add_tcase(s, tc);
    return s;
}
