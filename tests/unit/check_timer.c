/* Unit tests for the timer heap: ordering, cancellation, re-arming, callbacks
 * that touch the heap, and 100,000 random timers expiring in order. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "kelpie/util/alloc.h"
#include "kelpie/event/timer.h"

/* Every fired timer appends its `when` here. */
struct fired_log {
    uint64_t *v;
    size_t n;
};

struct tm {
    struct kp_timer t;
    struct fired_log *log;
    struct kp_timer_heap *h;
    struct kp_timer *victim; /* deleted by the callback, if set */
    uint64_t rearm_at;       /* re-armed by the callback once, if set */
};

static void on_fire(struct kp_timer *t)
{
    struct tm *x = t->data;

    x->log->v[x->log->n++] = t->when;
    if (x->victim != NULL)
        kp_timer_del(x->h, x->victim);
    if (x->rearm_at != 0) {
        kp_timer_set(x->h, t, x->rearm_at);
        x->rearm_at = 0;
    }
}

static void setup_tm(struct tm *x, struct kp_timer_heap *h, struct fired_log *fl)
{
    *x = (struct tm){.log = fl, .h = h};
    kp_timer_init(&x->t, on_fire, x);
}

/* The heap property and every index field, checked exhaustively but with
 * one assertion each rather than one per entry: every ck_assert is a
 * message to Check's parent process, and 90,000 of them ran past the test
 * timeout with both cores busy. */
static void check_heap(const struct kp_timer_heap *h)
{
    size_t bad_index = h->n, bad_order = h->n;

    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i]->index != i && bad_index == h->n)
            bad_index = i;
        if (i > 0 && h->v[(i - 1) / 2]->key > h->v[i]->key && bad_order == h->n)
            bad_order = i;
    }
    ck_assert_msg(bad_index == h->n, "entry %zu has a wrong index", bad_index);
    ck_assert_msg(bad_order == h->n, "entry %zu is earlier than its parent", bad_order);
}

START_TEST(timer_order_and_next)
{
    struct kp_timer_heap h;
    struct tm x[4];
    uint64_t fired[8];
    struct fired_log fl = {fired, 0};
    static const uint64_t when[] = {300, 100, 400, 200};

    kp_timer_heap_init(&h);
    ck_assert_int_eq(kp_timer_next(&h, 0), -1);
    for (int k = 0; k < 4; k++) {
        setup_tm(&x[k], &h, &fl);
        ck_assert(!kp_timer_armed(&x[k].t));
        kp_timer_set(&h, &x[k].t, when[k]);
        ck_assert(kp_timer_armed(&x[k].t));
    }
    check_heap(&h);
    ck_assert_int_eq(kp_timer_next(&h, 40), 60);
    ck_assert_int_eq(kp_timer_next(&h, 100), 0);
    ck_assert_int_eq(kp_timer_next(&h, 150), 0);
    ck_assert_uint_eq(kp_timer_expire(&h, 99), 0);
    ck_assert_uint_eq(kp_timer_expire(&h, 250), 2);
    ck_assert_uint_eq(fl.n, 2);
    ck_assert_uint_eq(fired[0], 100);
    ck_assert_uint_eq(fired[1], 200);
    ck_assert(!kp_timer_armed(&x[1].t));
    ck_assert_uint_eq(kp_timer_expire(&h, 1000), 2);
    ck_assert_uint_eq(fired[2], 300);
    ck_assert_uint_eq(fired[3], 400);
    ck_assert_uint_eq(h.n, 0);
    kp_timer_heap_free(&h);
}
END_TEST

START_TEST(timer_cancel_and_rearm)
{
    struct kp_timer_heap h;
    struct tm x[5];
    uint64_t fired[8];
    struct fired_log fl = {fired, 0};

    kp_timer_heap_init(&h);
    for (int k = 0; k < 5; k++) {
        setup_tm(&x[k], &h, &fl);
        kp_timer_set(&h, &x[k].t, (uint64_t)(k + 1) * 10);
    }
    kp_timer_del(&h, &x[0].t); /* the root */
    kp_timer_del(&h, &x[3].t); /* an inner node */
    kp_timer_del(&h, &x[3].t); /* harmless twice */
    ck_assert(!kp_timer_armed(&x[0].t));
    check_heap(&h);
    kp_timer_set(&h, &x[4].t, 5);   /* re-arm earlier */
    kp_timer_set(&h, &x[1].t, 100); /* re-arm later */
    check_heap(&h);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(kp_timer_expire(&h, 1000), 3);
    ck_assert_uint_eq(fired[0], 5);
    ck_assert_uint_eq(fired[1], 30);
    ck_assert_uint_eq(fired[2], 100);
    kp_timer_heap_free(&h);
}
END_TEST

/* Re-armed later, a timer keeps its place: no heap work. Its old time may
 * come up (kp_timer_next reports it), but then it is moved, not fired, and
 * timers still fire at their real times, earliest first. */
START_TEST(timer_rearm_later_is_lazy)
{
    struct kp_timer_heap h;
    struct tm a, b;
    uint64_t fired[8];
    struct fired_log fl = {fired, 0};

    kp_timer_heap_init(&h);
    setup_tm(&a, &h, &fl);
    setup_tm(&b, &h, &fl);
    kp_timer_set(&h, &a.t, 10);
    kp_timer_set(&h, &b.t, 40);
    kp_timer_set(&h, &a.t, 50); /* later: stays first in the heap */
    ck_assert_ptr_eq(h.v[0], &a.t);
    ck_assert_uint_eq(a.t.when, 50);
    ck_assert_int_eq(kp_timer_next(&h, 0), 10);
    ck_assert_uint_eq(kp_timer_expire(&h, 20), 0); /* moved, not fired */
    check_heap(&h);
    ck_assert_int_eq(kp_timer_next(&h, 20), 20);
    kp_timer_set(&h, &a.t, 5); /* earlier: moves at once */
    ck_assert_ptr_eq(h.v[0], &a.t);
    kp_timer_set(&h, &a.t, 45);
    ck_assert_uint_eq(kp_timer_expire(&h, 60), 2);
    ck_assert_uint_eq(fired[0], 40);
    ck_assert_uint_eq(fired[1], 45);
    ck_assert_uint_eq(h.n, 0);
    kp_timer_heap_free(&h);
}
END_TEST

/* A callback deletes a timer that was also due, and re-arms itself: once in
 * the future (fires later), once for "now" (fires in the next call only). */
START_TEST(timer_callbacks_touch_heap)
{
    struct kp_timer_heap h;
    struct tm a, b, c;
    uint64_t fired[8];
    struct fired_log fl = {fired, 0};

    kp_timer_heap_init(&h);
    setup_tm(&a, &h, &fl);
    setup_tm(&b, &h, &fl);
    setup_tm(&c, &h, &fl);
    kp_timer_set(&h, &a.t, 10);
    kp_timer_set(&h, &b.t, 20);
    kp_timer_set(&h, &c.t, 30);
    a.victim = &b.t;
    a.rearm_at = 50;
    ck_assert_uint_eq(kp_timer_expire(&h, 40), 2); /* a, then c; b was deleted */
    ck_assert_uint_eq(fired[0], 10);
    ck_assert_uint_eq(fired[1], 30);
    ck_assert(kp_timer_armed(&a.t));
    ck_assert_uint_eq(a.t.when, 50);
    a.victim = NULL;
    a.rearm_at = 60;
    ck_assert_uint_eq(kp_timer_expire(&h, 100), 1); /* re-armed for 60 <= 100: next call */
    ck_assert_uint_eq(kp_timer_expire(&h, 100), 1);
    ck_assert_uint_eq(fired[3], 60);
    ck_assert_uint_eq(h.n, 0);
    kp_timer_heap_free(&h);
}
END_TEST

START_TEST(timer_random_100k)
{
    enum { N = 100000 };
    struct kp_timer_heap h;
    struct tm *x = kp_calloc(N, sizeof(*x));
    struct fired_log fl = {kp_calloc(N, sizeof(uint64_t)), 0};
    size_t armed = 0;

    srand(12345);
    kp_timer_heap_init(&h);
    for (size_t k = 0; k < N; k++) {
        setup_tm(&x[k], &h, &fl);
        kp_timer_set(&h, &x[k].t, (uint64_t)rand() % 1000000);
    }
    /* Cancel a tenth and re-arm another tenth to random times. */
    for (size_t k = 0; k < N; k += 10)
        kp_timer_del(&h, &x[k].t);
    for (size_t k = 5; k < N; k += 10)
        kp_timer_set(&h, &x[k].t, (uint64_t)rand() % 1000000);
    check_heap(&h);
    armed = h.n;
    ck_assert_uint_eq(armed, N - N / 10);
    /* Expire in steps, as a loop would. */
    for (uint64_t now = 0; now <= 1000000; now += 997)
        kp_timer_expire(&h, now);
    kp_timer_expire(&h, UINT64_MAX);
    ck_assert_uint_eq(fl.n, armed);
    size_t unordered = 0;
    for (size_t k = 1; k < fl.n; k++)
        unordered += fl.v[k - 1] > fl.v[k];
    ck_assert_msg(unordered == 0, "%zu timers fired before an earlier one", unordered);
    ck_assert_uint_eq(h.n, 0);
    kp_timer_heap_free(&h);
    kp_free(fl.v);
    kp_free(x);
}
END_TEST

Suite *kp_test_timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("timer");

    tcase_add_test(tc, timer_order_and_next);
    tcase_add_test(tc, timer_rearm_later_is_lazy);
    tcase_add_test(tc, timer_cancel_and_rearm);
    tcase_add_test(tc, timer_callbacks_touch_heap);
    tcase_add_test(tc, timer_random_100k);
    suite_add_tcase(s, tc);
    return s;
}
