/* Unit tests for range.c: a table of Range values against sizes. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/http/range.h"

struct range_case {
    const char *value;
    uint64_t size;
    enum kp_http_range want;
    uint64_t first, last; /* for KP_HTTP_RANGE_OK */
};

static const struct range_case cases[] = {
    /* valid single ranges */
    {"bytes=0-99", 1000, KP_HTTP_RANGE_OK, 0, 99},
    {"bytes=10-10", 1000, KP_HTTP_RANGE_OK, 10, 10},
    {"bytes=500-", 1000, KP_HTTP_RANGE_OK, 500, 999},
    {"bytes=0-", 1, KP_HTTP_RANGE_OK, 0, 0},
    {"bytes=-100", 1000, KP_HTTP_RANGE_OK, 900, 999},
    {"bytes=-1", 1000, KP_HTTP_RANGE_OK, 999, 999},
    {"BYTES=1-2", 1000, KP_HTTP_RANGE_OK, 1, 2},
    {"Bytes=1-2", 1000, KP_HTTP_RANGE_OK, 1, 2},
    /* beyond the size: clamped */
    {"bytes=900-5000", 1000, KP_HTTP_RANGE_OK, 900, 999},
    {"bytes=-5000", 1000, KP_HTTP_RANGE_OK, 0, 999},
    {"bytes=999-999", 1000, KP_HTTP_RANGE_OK, 999, 999},
    /* empty list elements and OWS are tolerated */
    {"bytes=, 0-4 ,", 1000, KP_HTTP_RANGE_OK, 0, 4},
    /* unsatisfiable */
    {"bytes=1000-", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1000-2000", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-0", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=2000-3000, 4000-", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    /* a range from the first byte of an empty representation: the whole
     * (empty) 200; one from further on is unsatisfiable */
    {"bytes=-5", 0, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"bytes=0-0", 0, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"bytes=0-", 0, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"bytes=5-", 0, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    /* invalid syntax: 416, as from nginx; an unknown unit: ignored */
    {"bytes=5-4", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=,", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=a-b", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1-2x", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1-2 3-4", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=--1", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-1-2", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=+1-2", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-1;x", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"bytes 0-1", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"bytes =0-1", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"items=0-1", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"byte=0-1", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"=0-1", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    /* spaces around the "-", as nginx takes them */
    {"bytes=1 - 2", 1000, KP_HTTP_RANGE_OK, 1, 2},
    {"bytes=1 -", 1000, KP_HTTP_RANGE_OK, 1, 999},
    /* several ranges: the satisfiable ones, in order (first and last
     * below are the first range's); too many bytes in all: ignored */
    {"bytes=0-1,5-6", 1000, KP_HTTP_RANGE_OK, 0, 1},
    {"bytes=5-6,0-1", 1000, KP_HTTP_RANGE_OK, 5, 6},
    {"bytes=0-1, 2000-", 1000, KP_HTTP_RANGE_OK, 0, 1},
    {"bytes=2000-, -3", 1000, KP_HTTP_RANGE_OK, 997, 999},
    {"bytes=0-1,x", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=5-1,0-1", 1000, KP_HTTP_RANGE_OK, 0, 1},
    {"bytes=0-1,,4-5", 1000, KP_HTTP_RANGE_OK, 0, 1},
    {"bytes=0-599,400-999", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    {"bytes=0-,0-", 1000, KP_HTTP_RANGE_IGNORE, 0, 0},
    /* overflow: saturates, never wraps */
    {"bytes=0-99999999999999999999999", 1000, KP_HTTP_RANGE_OK, 0, 999},
    {"bytes=18446744073709551615-", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=99999999999999999999999-", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-99999999999999999999999", 1000, KP_HTTP_RANGE_OK, 0, 999},
    {"bytes=18446744073709551616-18446744073709551615", 1000, KP_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=18446744073709551614-18446744073709551615", UINT64_MAX, KP_HTTP_RANGE_OK,
     UINT64_MAX - 1, UINT64_MAX - 1},
    {"bytes=-18446744073709551615", UINT64_MAX, KP_HTTP_RANGE_OK, 0, UINT64_MAX - 1},
};

START_TEST(range_table)
{
    const struct range_case *c = &cases[_i];
    struct kp_http_ranges rs = {.n = 12345};
    enum kp_http_range got = kp_http_range_parse(kp_str_from(c->value), c->size, &rs);

    ck_assert_msg(got == c->want, "\"%s\" size %llu: got %d want %d", c->value,
                  (unsigned long long)c->size, (int)got, (int)c->want);
    if (c->want == KP_HTTP_RANGE_OK) {
        ck_assert_msg(rs.v[0].first == c->first && rs.v[0].last == c->last, "\"%s\": got %llu-%llu",
                      c->value, (unsigned long long)rs.v[0].first,
                      (unsigned long long)rs.v[0].last);
    } else {
        ck_assert_uint_eq(rs.n, 12345);
    }
}
END_TEST

/* Every satisfiable range in order; past KP_HTTP_RANGES_MAX, the whole. */
START_TEST(range_lists)
{
    struct kp_http_ranges rs;
    char value[4096] = "bytes=";

    ck_assert_int_eq(kp_http_range_parse(kp_str_from("bytes=0-0,-1,5-9,100-"), 50, &rs),
                     KP_HTTP_RANGE_OK);
    ck_assert_uint_eq(rs.n, 3);
    ck_assert_uint_eq(rs.v[1].first, 49);
    ck_assert_uint_eq(rs.v[1].last, 49);
    ck_assert_uint_eq(rs.v[2].first, 5);
    ck_assert_uint_eq(rs.v[2].last, 9);
    for (int i = 0; i < KP_HTTP_RANGES_MAX; i++)
        snprintf(value + strlen(value), sizeof(value) - strlen(value), "%d-%d,", 2 * i, 2 * i);
    ck_assert_int_eq(kp_http_range_parse(kp_str_from(value), 1000, &rs), KP_HTTP_RANGE_OK);
    ck_assert_uint_eq(rs.n, KP_HTTP_RANGES_MAX);
    strcat(value, "999-999");
    ck_assert_int_eq(kp_http_range_parse(kp_str_from(value), 1000, &rs), KP_HTTP_RANGE_IGNORE);
}
END_TEST

Suite *kp_test_range_suite(void)
{
    Suite *s = suite_create("range");
    TCase *tc = tcase_create("range");

    tcase_add_loop_test(tc, range_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, range_lists);
    suite_add_tcase(s, tc);
    return s;
}
