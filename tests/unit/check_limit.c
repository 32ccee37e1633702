/* The limit modules' arithmetic and their shared zone (http/limit_req.h,
 * limit_rate.h, limit_zone.h): nginx's leaky bucket in thousandths, the
 * delays it gives, limit_rate's allowance; the zone's keys (short and long),
 * its bound with least-recently-used eviction (and the refusal when nothing
 * may be evicted), one "full" report per zone, and two processes counting
 * in one zone without losing an update. */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/limit_rate.h"
#include "kelpie/http/limit_req.h"
#include "kelpie/http/limit_zone.h"

START_TEST(bucket_excess)
{
    /* 1r/s is 1000 thousandths a second: at once, each request adds one. */
    ck_assert_uint_eq(kp_limit_req_excess(0, 0, 1000), 1000);
    ck_assert_uint_eq(kp_limit_req_excess(1000, 0, 1000), 2000);
    ck_assert_uint_eq(kp_limit_req_excess(2000, 500000, 1000), 2500);
    ck_assert_uint_eq(kp_limit_req_excess(2000, 1000000, 1000), 2000);
    /* A request a period after the last one brings no excess (burst 0 lets
     * it pass), and a long pause drains everything. */
    ck_assert_uint_eq(kp_limit_req_excess(0, 1000000, 1000), 0);
    ck_assert_uint_eq(kp_limit_req_excess(0, 999000, 1000), 1);
    ck_assert_uint_eq(kp_limit_req_excess(2000, 60000000, 1000), 0);
    /* 2000r/s: a request each half millisecond passes without a burst. */
    ck_assert_uint_eq(kp_limit_req_excess(0, 500, 2000000), 0);
    ck_assert_uint_eq(kp_limit_req_excess(0, 499, 2000000), 2);
    /* 1r/m is 16 thousandths a second (nginx's rounding). */
    ck_assert_uint_eq(kp_limit_req_excess(3000, 1000000, 16), 3984);
    /* No overflow with huge gaps or rates. */
    ck_assert_uint_eq(kp_limit_req_excess(5000, UINT64_MAX, 1000), 0);
    ck_assert_uint_eq(kp_limit_req_excess(5000, 1u << 30, UINT64_MAX / 2), 0);
    ck_assert_uint_eq(kp_limit_req_excess(UINT64_MAX, 0, 1), UINT64_MAX);
}
END_TEST

START_TEST(bucket_delay)
{
    /* Default delay 0: every excess request waits for the rate. */
    ck_assert_uint_eq(kp_limit_req_delay_ms(0, 0, 1000), 0);
    ck_assert_uint_eq(kp_limit_req_delay_ms(1000, 0, 1000), 1000);
    ck_assert_uint_eq(kp_limit_req_delay_ms(2500, 0, 2000), 1250);
    /* delay=2: the first two excess requests go at once. */
    ck_assert_uint_eq(kp_limit_req_delay_ms(2000, 2000, 1000), 0);
    ck_assert_uint_eq(kp_limit_req_delay_ms(3000, 2000, 1000), 1000);
    /* nodelay */
    ck_assert_uint_eq(kp_limit_req_delay_ms(9000, UINT64_MAX, 1000), 0);
}
END_TEST

START_TEST(rate_allowance)
{
    /* The first second's worth at once, then the rate, plus the free bytes. */
    ck_assert_uint_eq(kp_limit_rate_allowed(1000, 0, 0), 1000);
    ck_assert_uint_eq(kp_limit_rate_allowed(1000, 0, 500), 1500);
    ck_assert_uint_eq(kp_limit_rate_allowed(1000, 4096, 2000), 7096);
    ck_assert_uint_eq(kp_limit_rate_allowed(UINT64_MAX, 0, 10), UINT64_MAX);
    ck_assert_uint_eq(kp_limit_rate_allowed(1, UINT64_MAX, 10), UINT64_MAX);
    /* 1000 sent at 1000 B/s: the next step (21 bytes) is allowed 21 ms on. */
    ck_assert_uint_eq(kp_limit_rate_wait_ms(1000, 0, 0, 1000), 21);
    /* Far behind: the wait is never 0. */
    ck_assert_uint_eq(kp_limit_rate_wait_ms(1000, 0, 60000, 10), 1);
    /* limit_rate_after: waits only for what is beyond it. */
    ck_assert_uint_eq(kp_limit_rate_wait_ms(100000, 50000, 0, 150000), 21);
}
END_TEST

static bool never(const struct kp_limit_state *s)
{
    (void)s;
    return false;
}

static bool idle(const struct kp_limit_state *s)
{
    return s->conns == 0;
}

START_TEST(zone_keys)
{
    struct kp_arena a;
    bool made, evicted;
    char longkey[300], other[300];

    kp_arena_init(&a, 4096);
    struct kp_limit_zone *z = kp_limit_zone_new(&a, "one", KP_LIMIT_REQ, "$uri", 64 << 10);
    ck_assert_ptr_nonnull(z);
    ck_assert_str_eq(kp_limit_zone_name(z), "one");
    ck_assert_str_eq(kp_limit_zone_key(z), "$uri");
    ck_assert_uint_gt(kp_limit_zone_capacity(z), 300);
    kp_limit_zone_lock(z);
    struct kp_limit_state *s = kp_limit_zone_get(z, "abc", 3, true, NULL, &made, &evicted);
    ck_assert(made && !evicted);
    s->excess = 42;
    /* The same bytes of another length are another key. */
    ck_assert_ptr_null(kp_limit_zone_get(z, "ab", 2, false, NULL, &made, &evicted));
    ck_assert_ptr_eq(kp_limit_zone_get(z, "abc", 3, true, NULL, &made, &evicted), s);
    ck_assert(!made);
    /* Keys longer than the inline room are kept by digest, still apart. */
    memset(longkey, 'k', sizeof(longkey));
    memcpy(other, longkey, sizeof(other));
    other[299] = 'x';
    struct kp_limit_state *l1 =
        kp_limit_zone_get(z, longkey, sizeof(longkey), true, NULL, &made, &evicted);
    struct kp_limit_state *l2 =
        kp_limit_zone_get(z, other, sizeof(other), true, NULL, &made, &evicted);
    ck_assert(made);
    ck_assert_ptr_ne(l1, l2);
    ck_assert_ptr_eq(kp_limit_zone_get(z, longkey, sizeof(longkey), false, NULL, &made, &evicted),
                     l1);
    kp_limit_zone_drop(z, s);
    ck_assert_ptr_null(kp_limit_zone_get(z, "abc", 3, false, NULL, &made, &evicted));
    kp_limit_zone_unlock(z);
    ck_assert_uint_eq(kp_limit_zone_count(z), 2);
    kp_arena_destroy(&a);
}
END_TEST

/* Far more keys than room: the newest stay, the least recently used go, a
 * key touched again survives, and "full" is reported once. */
START_TEST(zone_evicts_lru)
{
    struct kp_arena a;
    bool made, evicted, any_evicted = false;
    unsigned n;

    kp_arena_init(&a, 4096);
    struct kp_limit_zone *z = kp_limit_zone_new(&a, "one", KP_LIMIT_REQ, "$k", 32 << 10);
    size_t cap = kp_limit_zone_capacity(z);
    kp_limit_zone_lock(z);
    for (n = 0; n < cap * 3; n++) {
        ck_assert_ptr_nonnull(kp_limit_zone_get(z, &n, sizeof(n), true, NULL, &made, &evicted));
        any_evicted |= evicted;
        unsigned keep = 0; /* touched every time: never the oldest */
        ck_assert_ptr_nonnull(
            kp_limit_zone_get(z, &keep, sizeof(keep), true, NULL, &made, &evicted));
    }
    unsigned found_new = 0, found_old = 0, keep = 0;
    for (unsigned i = 0; i < 32; i++) {
        unsigned k = n - 1 - i;
        found_new += kp_limit_zone_get(z, &k, sizeof(k), false, NULL, &made, &evicted) != NULL;
        k = i + 1;
        found_old += kp_limit_zone_get(z, &k, sizeof(k), false, NULL, &made, &evicted) != NULL;
    }
    ck_assert_ptr_nonnull(kp_limit_zone_get(z, &keep, sizeof(keep), false, NULL, &made, &evicted));
    kp_limit_zone_unlock(z);
    ck_assert(any_evicted);
    ck_assert_uint_eq(found_new, 32);
    ck_assert_uint_eq(found_old, 0);
    ck_assert_uint_eq(kp_limit_zone_count(z), cap);
    ck_assert(kp_limit_zone_first_full(z));
    ck_assert(!kp_limit_zone_first_full(z));
    kp_arena_destroy(&a);
}
END_TEST

/* limit_conn's rule: a key counting connections is never evicted, so a
 * full zone refuses new keys until one falls back to 0. */
START_TEST(zone_refuses_when_nothing_may_go)
{
    struct kp_arena a;
    bool made, evicted;

    kp_arena_init(&a, 4096);
    struct kp_limit_zone *z = kp_limit_zone_new(&a, "c", KP_LIMIT_CONN, "$k", 32 << 10);
    size_t cap = kp_limit_zone_capacity(z);
    kp_limit_zone_lock(z);
    for (unsigned n = 0; n < cap; n++)
        kp_limit_zone_get(z, &n, sizeof(n), true, never, &made, &evicted)->conns = 1;
    unsigned extra = (unsigned)cap;
    ck_assert_ptr_null(kp_limit_zone_get(z, &extra, sizeof(extra), true, never, &made, &evicted));
    /* A key back at 0 is dropped (as limit_conn does): room again. */
    unsigned first = 0;
    kp_limit_zone_drop(z,
                       kp_limit_zone_get(z, &first, sizeof(first), false, NULL, &made, &evicted));
    ck_assert_ptr_nonnull(kp_limit_zone_get(z, &extra, sizeof(extra), true, idle, &made, &evicted));
    ck_assert(made && !evicted);
    kp_limit_zone_unlock(z);
    kp_arena_destroy(&a);
}
END_TEST

/* Two processes (the zone is mapped before the fork, as the master does
 * for its workers) add to one key under the lock: no update is lost. */
START_TEST(zone_shared_across_fork)
{
    struct kp_arena a;
    bool made, evicted;
    const unsigned rounds = 20000;

    kp_arena_init(&a, 4096);
    struct kp_limit_zone *z = kp_limit_zone_new(&a, "c", KP_LIMIT_CONN, "$k", 32 << 10);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    for (unsigned i = 0; i < rounds; i++) {
        kp_limit_zone_lock(z);
        kp_limit_zone_get(z, "key", 3, true, NULL, &made, &evicted)->conns++;
        kp_limit_zone_unlock(z);
    }
    if (pid == 0)
        _exit(0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kp_limit_zone_lock(z);
    ck_assert_uint_eq(kp_limit_zone_get(z, "key", 3, false, NULL, &made, &evicted)->conns,
                      2 * rounds);
    kp_limit_zone_unlock(z);
    kp_arena_destroy(&a);
}
END_TEST

/* A reload adopts the old zone: it lives until both configurations go. */
START_TEST(zone_adopted)
{
    struct kp_arena old, fresh;
    bool made, evicted;

    kp_arena_init(&old, 4096);
    kp_arena_init(&fresh, 4096);
    struct kp_limit_zone *o = kp_limit_zone_new(&old, "one", KP_LIMIT_REQ, "$k", 64 << 10);
    struct kp_limit_zone *z = kp_limit_zone_new(&fresh, "one", KP_LIMIT_REQ, "$k", 64 << 10);
    kp_limit_zone_lock(o);
    kp_limit_zone_get(o, "k", 1, true, NULL, &made, &evicted)->excess = 7000;
    kp_limit_zone_unlock(o);
    kp_limit_zone_adopt(&fresh, &z, o);
    ck_assert_ptr_eq(z, o);
    kp_arena_destroy(&old);
    kp_limit_zone_lock(z);
    ck_assert_uint_eq(kp_limit_zone_get(z, "k", 1, false, NULL, &made, &evicted)->excess, 7000);
    kp_limit_zone_unlock(z);
    kp_arena_destroy(&fresh);
}
END_TEST

Suite *kp_test_limit_suite(void)
{
    Suite *s = suite_create("limit");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, bucket_excess);
    tcase_add_test(tc, bucket_delay);
    tcase_add_test(tc, rate_allowance);
    tcase_add_test(tc, zone_keys);
    tcase_add_test(tc, zone_evicts_lru);
    tcase_add_test(tc, zone_refuses_when_nothing_may_go);
    tcase_add_test(tc, zone_shared_across_fork);
    tcase_add_test(tc, zone_adopted);
    suite_add_tcase(s, tc);
    return s;
}
