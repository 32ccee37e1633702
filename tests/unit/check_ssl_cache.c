/* The shared TLS session cache and ticket keys (http/ssl_cache.h): store,
 * find, expire and remove sessions, a full cache evicting its oldest
 * entries, ticket key rotation with the older keys still found, and a zone
 * adopted by a second configuration living until both are freed. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/ssl_cache.h"

#define ZONE_SIZE (64u << 10)

static void id_of(uint8_t id[32], unsigned n)
{
    memset(id, 0, 32);
    memcpy(id, &n, sizeof(n));
}

START_TEST(put_get_remove_expire)
{
    struct kp_arena a;
    uint8_t id[32], der[KP_SSL_SLOT_DER], big[KP_SSL_SLOT_DER + 1] = {0};

    kp_arena_init(&a, 4096);
    struct kp_ssl_zone *z = kp_ssl_zone_new(&a, "SSL", ZONE_SIZE);
    ck_assert_ptr_nonnull(z);
    ck_assert_uint_gt(kp_ssl_zone_slots(z), 100);
    id_of(id, 1);
    ck_assert(kp_ssl_zone_put(z, id, 32, (const uint8_t *)"session-one", 11, 200, 100));
    ck_assert_uint_eq(kp_ssl_zone_get(z, id, 32, der, 150), 11);
    ck_assert(memcmp(der, "session-one", 11) == 0);
    /* Another length of the same bytes is another ID. */
    ck_assert_uint_eq(kp_ssl_zone_get(z, id, 16, der, 150), 0);
    /* Expired at its time. */
    ck_assert_uint_eq(kp_ssl_zone_get(z, id, 32, der, 200), 0);
    ck_assert(kp_ssl_zone_put(z, id, 32, (const uint8_t *)"again", 5, 300, 150));
    kp_ssl_zone_remove(z, id, 32);
    ck_assert_uint_eq(kp_ssl_zone_get(z, id, 32, der, 160), 0);
    /* Too large for a slot: refused, not truncated. */
    ck_assert(!kp_ssl_zone_put(z, id, 32, big, sizeof(big), 300, 150));
    kp_arena_destroy(&a);
}
END_TEST

/* Far more sessions than slots: the cache stays bounded, the newest are
 * found, the oldest were evicted. */
START_TEST(full_cache_evicts_oldest)
{
    struct kp_arena a;
    uint8_t id[32], der[KP_SSL_SLOT_DER];
    unsigned n = 0, found_new = 0, found_old = 0;

    kp_arena_init(&a, 4096);
    struct kp_ssl_zone *z = kp_ssl_zone_new(&a, "SSL", ZONE_SIZE);
    size_t slots = kp_ssl_zone_slots(z);
    for (n = 0; n < slots * 4; n++) {
        id_of(id, n);
        ck_assert(kp_ssl_zone_put(z, id, 32, (const uint8_t *)&n, sizeof(n), 1000, 10));
    }
    for (unsigned i = 0; i < 32; i++) {
        id_of(id, n - 1 - i);
        found_new += kp_ssl_zone_get(z, id, 32, der, 20) == sizeof(n);
        id_of(id, i);
        found_old += kp_ssl_zone_get(z, id, 32, der, 20) != 0;
    }
    ck_assert_uint_eq(found_new, 32);
    ck_assert_uint_eq(found_old, 0);
    kp_arena_destroy(&a);
}
END_TEST

START_TEST(ticket_keys_rotate)
{
    struct kp_arena a;
    struct kp_ssl_ticket_key k1, k2, k3, k4, found;

    kp_arena_init(&a, 4096);
    struct kp_ssl_zone *z = kp_ssl_zone_new(&a, "", 0);
    ck_assert_uint_eq(kp_ssl_zone_slots(z), 0);
    kp_ssl_zone_ticket_key(z, 0, 3600, &k1); /* the key made with the zone */
    uint64_t t = k1.created;
    kp_ssl_zone_ticket_key(z, t + 10, 3600, &k2);
    ck_assert(memcmp(k1.name, k2.name, 16) == 0); /* not due yet */
    kp_ssl_zone_ticket_key(z, t + 3600, 3600, &k3);
    ck_assert(memcmp(k1.name, k3.name, 16) != 0);
    ck_assert_int_eq(kp_ssl_zone_find_key(z, k3.name, &found), 1);
    ck_assert_int_eq(kp_ssl_zone_find_key(z, k1.name, &found), 2);
    ck_assert(memcmp(found.aes, k1.aes, 32) == 0 && memcmp(found.hmac, k1.hmac, 32) == 0);
    /* Two more rotations push the first key out. */
    kp_ssl_zone_ticket_key(z, t + 7200, 3600, &k4);
    ck_assert_int_eq(kp_ssl_zone_find_key(z, k1.name, &found), 2);
    kp_ssl_zone_ticket_key(z, t + 10800, 3600, &k4);
    ck_assert_int_eq(kp_ssl_zone_find_key(z, k1.name, &found), 0);
    ck_assert_int_eq(kp_ssl_zone_find_key(z, k3.name, &found), 2);
    kp_arena_destroy(&a);
}
END_TEST

/* A reload's configuration takes the old zone: what the old one stored is
 * found through the new one, and it outlives the old configuration. */
START_TEST(adopted_zone_outlives_the_old_configuration)
{
    struct kp_arena old_a, new_a;
    uint8_t id[32], der[KP_SSL_SLOT_DER];

    kp_arena_init(&old_a, 4096);
    kp_arena_init(&new_a, 4096);
    struct kp_ssl_zone *old = kp_ssl_zone_new(&old_a, "SSL", ZONE_SIZE);
    struct kp_ssl_zone *fresh = kp_ssl_zone_new(&new_a, "SSL", ZONE_SIZE);
    id_of(id, 7);
    ck_assert(kp_ssl_zone_put(old, id, 32, (const uint8_t *)"kept", 4, 100, 1));
    kp_ssl_zone_adopt(&new_a, &fresh, old);
    ck_assert_ptr_eq(fresh, old);
    kp_arena_destroy(&old_a);
    ck_assert_uint_eq(kp_ssl_zone_get(fresh, id, 32, der, 2), 4);
    ck_assert_str_eq(kp_ssl_zone_name(fresh), "SSL");
    kp_arena_destroy(&new_a);
}
END_TEST

Suite *kp_test_ssl_cache_suite(void)
{
    Suite *s = suite_create("ssl_cache");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, put_get_remove_expire);
    tcase_add_test(tc, full_cache_evicts_oldest);
    tcase_add_test(tc, ticket_keys_rotate);
    tcase_add_test(tc, adopted_zone_outlives_the_old_configuration);
    suite_add_tcase(s, tc);
    return s;
}
