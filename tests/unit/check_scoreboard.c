/* Unit tests for the scoreboard's balance (kp_sb_balance): which worker is
 * "fair" to take the next connection, given each one's room and active
 * connections. The room decides first, so a worker that would have to evict a
 * slow client leaves the connection to one with a free slot; among workers
 * with as much room, the less busy one. */
#include <check.h>
#include <stdlib.h>

#include "kelpie/event/scoreboard.h"

/* Two READY workers with the given rooms and active connections. */
static struct kp_scoreboard *two(unsigned room0, int64_t active0, unsigned room1, int64_t active1)
{
    struct kp_scoreboard *sb = kp_sb_create();

    ck_assert_ptr_nonnull(sb);
    const unsigned rooms[2] = {room0, room1};
    const int64_t active[2] = {active0, active1};
    for (unsigned i = 0; i < 2; i++) {
        struct kp_sb_slot *s = kp_sb_claim(sb, 1, i);
        ck_assert_ptr_nonnull(s);
        atomic_store(&s->pid, (int)(1000 + i));
        atomic_store(&s->state, KP_SB_READY);
        atomic_store(&s->room, rooms[i]);
        kp_sb_gauge(s, KP_SB_ACTIVE, active[i]);
    }
    return sb;
}

static bool fair(struct kp_scoreboard *sb, unsigned i, unsigned *n_fair)
{
    struct kp_sb_balance b;

    kp_sb_balance(sb, &sb->slots[i], &b);
    ck_assert_uint_eq(b.n_ready, 2);
    *n_fair = b.n_fair;
    return b.fair;
}

START_TEST(balance_less_busy_with_equal_room)
{
    struct kp_scoreboard *sb = two(KP_SB_ROOM_PLENTY, 10, KP_SB_ROOM_PLENTY, 20);
    unsigned n_fair;

    ck_assert(fair(sb, 0, &n_fair));
    ck_assert_uint_eq(n_fair, 0);
    ck_assert(!fair(sb, 1, &n_fair));
    ck_assert_uint_eq(n_fair, 1);
    kp_sb_destroy(sb);
}
END_TEST

/* Both above 7/8 of their connections (a slowloris attack below the limit):
 * one of them still takes the next connection. */
START_TEST(balance_scarce_room_still_fair)
{
    struct kp_scoreboard *sb = two(KP_SB_ROOM_SCARCE, 950, KP_SB_ROOM_SCARCE, 960);
    unsigned n_fair;

    ck_assert(fair(sb, 0, &n_fair));
    ck_assert(!fair(sb, 1, &n_fair));
    ck_assert_uint_eq(n_fair, 1);
    kp_sb_destroy(sb);
}
END_TEST

/* Room before load: a full worker (it could only evict) with fewer active
 * connections is not fair while the other has a free slot. */
START_TEST(balance_room_before_load)
{
    struct kp_scoreboard *sb = two(KP_SB_ROOM_EVICT, 800, KP_SB_ROOM_SCARCE, 1000);
    unsigned n_fair;

    ck_assert(!fair(sb, 0, &n_fair));
    ck_assert_uint_eq(n_fair, 1);
    ck_assert(fair(sb, 1, &n_fair));
    kp_sb_destroy(sb);
}
END_TEST

/* Every slot taken everywhere: evicting is what is left, and ties go round
 * (the last to accept waits its turn). No room at all is never fair. */
START_TEST(balance_evict_ties_and_none)
{
    struct kp_scoreboard *sb = two(KP_SB_ROOM_EVICT, 1024, KP_SB_ROOM_EVICT, 1024);
    unsigned n_fair;

    kp_sb_accepted(sb, &sb->slots[0]);
    ck_assert(!fair(sb, 0, &n_fair));
    ck_assert(fair(sb, 1, &n_fair));
    atomic_store(&sb->slots[1].room, KP_SB_ROOM_NONE);
    ck_assert(fair(sb, 0, &n_fair));
    ck_assert(!fair(sb, 1, &n_fair));
    atomic_store(&sb->slots[0].room, KP_SB_ROOM_NONE);
    ck_assert(!fair(sb, 0, &n_fair));
    ck_assert_uint_eq(n_fair, 0);
    kp_sb_destroy(sb);
}
END_TEST

Suite *kp_test_scoreboard_suite(void)
{
    Suite *s = suite_create("scoreboard");
    TCase *tc = tcase_create("scoreboard");

    tcase_add_test(tc, balance_less_busy_with_equal_room);
    tcase_add_test(tc, balance_scarce_room_still_fair);
    tcase_add_test(tc, balance_room_before_load);
    tcase_add_test(tc, balance_evict_ties_and_none);
    suite_add_tcase(s, tc);
    return s;
}
