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
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

/* --- the byte stream of a KP_IO_STREAM io: kp_io_send, kp_io_sendfile,
 * kp_io_shutdown. Run on every backend, io_uring included (where it sends
 * by completion, from the loop, and where it cannot run here the loop falls
 * back to epoll, so these still pass). */

static const enum kp_event_use stream_backends[] = {KP_EVENT_EPOLL, KP_EVENT_POLL, KP_EVENT_SELECT,
                                                    KP_EVENT_IO_URING};
#define N_STREAM_BACKENDS 4

static void stream_io(struct kp_loop *loop, int i, struct kp_io *io, int fd, struct rec *r)
{
    ck_assert_int_eq(kp_loop_init(loop, stream_backends[i], 16, NULL), 0);
    kp_io_init(io, fd, on_io, r);
    io->flags |= KP_IO_STREAM;
    ck_assert_int_eq(kp_loop_set(loop, io, KP_EV_READ), 0);
}

/* Run the loop and read what reaches fd until its end of stream (or until
 * `want` bytes, when want > 0), into out. Returns the bytes read. */
static size_t drain_peer(struct kp_loop *loop, int fd, char *out, size_t cap, size_t want)
{
    size_t got = 0;

    for (int i = 0; i < 5000; i++) {
        if (loop != NULL)
            ck_assert_int_eq(kp_loop_run_once(loop, 0), 0);
        ssize_t n = recv(fd, out + got, cap - got, MSG_DONTWAIT);
        if (n == 0)
            return got;
        if (n > 0) {
            got += (size_t)n;
            if (want > 0 && got >= want)
                return got;
            continue;
        }
        ck_assert_int_eq(errno, EAGAIN);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 2);
    }
    ck_abort_msg("the peer's bytes or end of stream did not come");
    return got;
}

static char *pattern(size_t n)
{
    char *b = kp_alloc(n);

    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (i * 7 + i / 251) % 26);
    return b;
}

/* Bytes handed over then the connection closed at once: they all leave, in
 * order, then the end of stream (io_uring: the send outlives the slot). */
START_TEST(stream_send_then_close)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    size_t n = 48 * 1024;
    char *want = pattern(n), *got = kp_alloc(n + 1);

    pair(sv);
    stream_io(&loop, _i, &io, sv[0], &r);
    struct iovec iov[3] = {{want, 100}, {want + 100, 1000}, {want + 1100, n - 1100}};
    ck_assert_int_eq(kp_io_send(&io, iov, 3, 0), (ssize_t)n);
    kp_loop_del_closing(&loop, &io);
    close(sv[0]);
    ck_assert_uint_eq(drain_peer(&loop, sv[1], got, n + 1, 0), n);
    ck_assert(memcmp(got, want, n) == 0);
    close(sv[1]);
    kp_loop_free(&loop);
    kp_free(want);
    kp_free(got);
}
END_TEST

/* Several sends in one turn go out as one stream, in order; on io_uring
 * they leave from the loop, not from the call. */
START_TEST(stream_sends_in_order)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    char got[64];

    pair(sv);
    stream_io(&loop, _i, &io, sv[0], &r);
    const char *parts[] = {"one ", "two ", "three"};
    for (int i = 0; i < 3; i++) {
        struct iovec v = {(void *)parts[i], strlen(parts[i])};
        ck_assert_int_eq(kp_io_send(&io, &v, 1, 0), (ssize_t)strlen(parts[i]));
    }
    if (strcmp(kp_loop_backend_name(&loop), "io_uring") == 0)
        ck_assert_int_eq(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), -1);
    ck_assert_uint_eq(drain_peer(&loop, sv[1], got, sizeof(got), 13), 13);
    ck_assert(memcmp(got, "one two three", 13) == 0);
    kp_loop_del(&loop, &io);
    close(sv[0]);
    close(sv[1]);
    kp_loop_free(&loop);
}
END_TEST

/* A head handed over, then a file by sendfile: the file waits for the head
 * (io_uring: -EAGAIN until the head's send completed and KP_EV_WRITE said
 * so), and the shutdown after them comes after both. */
START_TEST(stream_sendfile_after_send)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    size_t n = 20000;
    char *body = pattern(n), *got = kp_alloc(n + 64);
    char path[] = "/tmp/kelpie-loop-XXXXXX";
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, body, n), (ssize_t)n);
    pair(sv);
    stream_io(&loop, _i, &io, sv[0], &r);
    struct iovec head = {"HEAD\n", 5};
    ck_assert_int_eq(kp_io_send(&io, &head, 1, 0), 5);
    off_t off = 0;
    ssize_t w = kp_io_sendfile(&io, fd, &off, n);
    if (w == -EAGAIN) {
        ck_assert_str_eq(kp_loop_backend_name(&loop), "io_uring");
        ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_READ | KP_EV_WRITE), 0);
        for (int i = 0; i < 1000 && !(r.events & KP_EV_WRITE); i++)
            ck_assert_int_eq(kp_loop_run_once(&loop, 10), 0);
        ck_assert(r.events & KP_EV_WRITE);
        w = kp_io_sendfile(&io, fd, &off, n);
    }
    ck_assert_int_eq(w, (ssize_t)n);
    ck_assert_int_eq(kp_io_shutdown(&io), 0);
    ck_assert_uint_eq(drain_peer(&loop, sv[1], got, n + 64, 0), n + 5);
    ck_assert(memcmp(got, "HEAD\n", 5) == 0 && memcmp(got + 5, body, n) == 0);
    kp_loop_del(&loop, &io);
    close(sv[0]);
    close(sv[1]);
    close(fd);
    kp_loop_free(&loop);
    kp_free(body);
    kp_free(got);
}
END_TEST

/* A peer that does not read: sends take less and less, then nothing
 * (-EAGAIN); once it reads, KP_EV_WRITE comes, and every byte taken
 * arrives exactly once, in order. */
START_TEST(stream_send_full_then_writable)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    size_t cap = 8u << 20, taken = 0;
    char *src = pattern(cap), *got = kp_alloc(cap);

    pair(sv);
    stream_io(&loop, _i, &io, sv[0], &r);
    for (int i = 0; i < 200 && taken < cap; i++) {
        struct iovec v = {src + taken, 65536 < cap - taken ? 65536 : cap - taken};
        ssize_t w = kp_io_send(&io, &v, 1, 0);
        if (w == -EAGAIN) {
            ck_assert_int_eq(kp_loop_run_once(&loop, 0), 0);
            continue;
        }
        ck_assert_int_gt(w, 0);
        taken += (size_t)w;
    }
    ck_assert_uint_lt(taken, cap); /* the socket (and the backend's queue) filled */
    ck_assert_int_eq(kp_loop_set(&loop, &io, KP_EV_WRITE), 0);
    r.calls = 0;
    size_t got_n = drain_peer(NULL, sv[1], got, cap, 0 + 1);
    for (int i = 0; i < 2000 && r.calls == 0; i++) {
        ck_assert_int_eq(kp_loop_run_once(&loop, 1), 0);
        ssize_t k = recv(sv[1], got + got_n, cap - got_n, MSG_DONTWAIT);
        if (k > 0)
            got_n += (size_t)k;
    }
    ck_assert_int_gt(r.calls, 0);
    ck_assert(r.events & KP_EV_WRITE);
    kp_loop_del_closing(&loop, &io);
    close(sv[0]);
    got_n += drain_peer(&loop, sv[1], got + got_n, cap - got_n, 0);
    ck_assert_uint_eq(got_n, taken);
    ck_assert(memcmp(got, src, taken) == 0);
    close(sv[1]);
    kp_loop_free(&loop);
    kp_free(src);
    kp_free(got);
}
END_TEST

/* A connection closed with a reset (KP_IO_ABORT) does not wait for a peer
 * that reads nothing: what it still had to send is dropped, the peer sees
 * the end at once. */
START_TEST(stream_abort_drops_queued)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    size_t cap = 4u << 20, taken = 0;
    char *src = pattern(cap), *got = kp_alloc(cap);

    pair(sv);
    stream_io(&loop, _i, &io, sv[0], &r);
    for (int i = 0; i < 100; i++) {
        struct iovec v = {src + taken, 65536};
        ssize_t w = kp_io_send(&io, &v, 1, 0);
        if (w > 0)
            taken += (size_t)w;
        ck_assert_int_eq(kp_loop_run_once(&loop, 0), 0);
    }
    io.flags |= KP_IO_ABORT;
    kp_loop_del_closing(&loop, &io);
    close(sv[0]);
    size_t got_n = drain_peer(&loop, sv[1], got, cap, 0);
    ck_assert_uint_le(got_n, taken);
    ck_assert(memcmp(got, src, got_n) == 0);
    close(sv[1]);
    kp_loop_free(&loop);
    kp_free(src);
    kp_free(got);
}
END_TEST

struct reader {
    int fd;
    char *buf;
    size_t cap, got;
};

static void *read_to_end(void *arg)
{
    struct reader *r = arg;

    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->got, r->cap - r->got, 0);
        if (n > 0)
            r->got += (size_t)n;
        else if (n == 0 || errno != EAGAIN)
            return NULL;
        else
            poll(&(struct pollfd){.fd = r->fd, .events = POLLIN}, 1, 10);
    }
}

/* The loop ends (the worker exits) while bytes of a closed connection are
 * still on their way to a slow peer: they leave before the loop is gone. */
START_TEST(stream_free_keeps_bytes)
{
    struct kp_loop loop;
    struct kp_io io;
    struct rec r = {0};
    int sv[2];
    size_t n = 1u << 20, taken = 0;
    char *want = pattern(n);
    struct reader rd = {.buf = kp_alloc(n + 1), .cap = n + 1};
    pthread_t t;

    pair(sv);
    stream_io(&loop, _i, &io, sv[0], &r);
    while (taken < n) {
        struct iovec v = {want + taken, n - taken};
        ssize_t w = kp_io_send(&io, &v, 1, 0);
        if (w == -EAGAIN)
            break;
        ck_assert_int_gt(w, 0);
        taken += (size_t)w;
    }
    kp_loop_del_closing(&loop, &io);
    close(sv[0]);
    rd.fd = sv[1];
    ck_assert_int_eq(pthread_create(&t, NULL, read_to_end, &rd), 0);
    kp_loop_free(&loop);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(rd.got, taken);
    ck_assert(memcmp(rd.buf, want, taken) == 0);
    close(sv[1]);
    kp_free(want);
    kp_free(rd.buf);
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
    tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, stream_send_then_close, 0, N_STREAM_BACKENDS);
    tcase_add_loop_test(tc, stream_sends_in_order, 0, N_STREAM_BACKENDS);
    tcase_add_loop_test(tc, stream_sendfile_after_send, 0, N_STREAM_BACKENDS);
    tcase_add_loop_test(tc, stream_send_full_then_writable, 0, N_STREAM_BACKENDS);
    tcase_add_loop_test(tc, stream_abort_drops_queued, 0, N_STREAM_BACKENDS);
    tcase_add_loop_test(tc, stream_free_keeps_bytes, 0, N_STREAM_BACKENDS);
    suite_add_tcase(s, tc);
    return s;
}
