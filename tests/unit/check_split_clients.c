/* Unit tests for split_clients (http/split_clients.c): nginx's MurmurHash2
 * (the block's errors are in check_conf, its split against nginx's in the
 * corpus, tests/integ/corpus/209-split-clients.conf). */
#include <check.h>

#include "kelpie/http/split_clients.h"

/* MurmurHash2 as nginx computes it (seeded with the length); the split
 * these give agreed with nginx 1.22's for fifty keys. */
START_TEST(murmur_hash2)
{
    ck_assert_uint_eq(kp_http_split_clients_hash("", 0), 0);
    ck_assert_uint_eq(kp_http_split_clients_hash("a", 1), 2456313694u);
    ck_assert_uint_eq(kp_http_split_clients_hash("ab", 2), 446775395u);
    ck_assert_uint_eq(kp_http_split_clients_hash("abc", 3), 324500635u);
    ck_assert_uint_eq(kp_http_split_clients_hash("abcd", 4), 646393889u);
    ck_assert_uint_eq(kp_http_split_clients_hash("abcde", 5), 1594468574u);
    ck_assert_uint_eq(kp_http_split_clients_hash("hello world", 11), 1151865881u);
}
END_TEST

Suite *kp_test_split_clients_suite(void)
{
    Suite *s = suite_create("split_clients");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, murmur_hash2);
    suite_add_tcase(s, tc);
    return s;
}
