/* Unit tests for cond.c: ETag generation, each precedence rule of RFC 9110
 * section 13.2.2 and If-Range, on heads produced by the real parser. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/http/cond.h"

#define TAG     "\"abc-10\""
#define LM      "Sun, 06 Nov 1994 08:49:37 GMT"
#define EARLIER "Sat, 05 Nov 1994 08:49:37 GMT"
#define LATER   "Mon, 07 Nov 1994 08:49:37 GMT"
#define LM_T    ((time_t)784111777)

struct cond_case {
    const char *method;
    const char *fields;  /* header lines, each ending in CRLF */
    bool no_etag, no_lm; /* the representation lacks that validator */
    int want;            /* enum kp_http_cond, or 0/1 for If-Range */
};

static const struct cond_case check_cases[] = {
    {"GET", "", false, false, KP_HTTP_COND_PROCEED},
    /* step 1: If-Match, strong comparison */
    {"GET", "If-Match: " TAG "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Match: \"xyz\"\r\n", false, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Match: *\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Match: W/" TAG "\r\n", false, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Match: \"x\", " TAG "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Match: \"x\"\r\nIf-Match: " TAG "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Match: abc-10\r\n", false, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Match: \"abc-10\r\n", false, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Match: bogus, " TAG "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Match: " TAG "\r\n", true, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Match: *\r\n", true, false, KP_HTTP_COND_PROCEED},
    {"PUT", "If-Match: \"xyz\"\r\n", false, false, KP_HTTP_COND_FAILED},
    /* step 2: If-Unmodified-Since, only without If-Match */
    {"GET", "If-Unmodified-Since: " LM "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Unmodified-Since: " LATER "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Unmodified-Since: " EARLIER "\r\n", false, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Unmodified-Since: yesterday\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Unmodified-Since: " EARLIER "\r\n", false, true, KP_HTTP_COND_PROCEED},
    {"GET", "If-Match: " TAG "\r\nIf-Unmodified-Since: " EARLIER "\r\n", false, false,
     KP_HTTP_COND_PROCEED},
    /* steps 1-2 come before step 3 */
    {"GET", "If-Match: \"x\"\r\nIf-None-Match: " TAG "\r\n", false, false, KP_HTTP_COND_FAILED},
    {"GET", "If-Unmodified-Since: " EARLIER "\r\nIf-None-Match: " TAG "\r\n", false, false,
     KP_HTTP_COND_FAILED},
    {"GET", "If-Match: " TAG "\r\nIf-None-Match: " TAG "\r\n", false, false,
     KP_HTTP_COND_NOT_MODIFIED},
    /* step 3: If-None-Match, weak comparison */
    {"GET", "If-None-Match: " TAG "\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"HEAD", "If-None-Match: " TAG "\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: W/" TAG "\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: *\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: *\r\n", true, true, KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: \"x\"\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"HEAD", "If-None-Match: \"x\" ,W/" TAG "\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: \"x\"\r\nIf-None-Match: " TAG "\r\n", false, false,
     KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: garbage\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-None-Match: \"a,b\", \"c\"\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"POST", "If-None-Match: " TAG "\r\n", false, false, KP_HTTP_COND_FAILED},
    {"DELETE", "If-None-Match: *\r\n", false, false, KP_HTTP_COND_FAILED},
    /* step 4: If-Modified-Since, GET/HEAD only, not with If-None-Match */
    {"GET", "If-Modified-Since: " LM "\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"HEAD", "If-Modified-Since: " LATER "\r\n", false, false, KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-Modified-Since: " EARLIER "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Modified-Since: not a date\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Modified-Since: " LM "\r\n", false, true, KP_HTTP_COND_PROCEED},
    {"POST", "If-Modified-Since: " LM "\r\n", false, false, KP_HTTP_COND_PROCEED},
    {"GET", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n", false, false,
     KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n", false, false,
     KP_HTTP_COND_NOT_MODIFIED},
    {"GET", "If-None-Match: \"x\"\r\nIf-Modified-Since: " LATER "\r\n", false, false,
     KP_HTTP_COND_PROCEED},
};

static const struct cond_case range_cases[] = {
    {"GET", "", false, false, 1},
    {"GET", "If-Range: " TAG "\r\n", false, false, 1},
    {"GET", "If-Range: W/" TAG "\r\n", false, false, 0},
    {"GET", "If-Range: \"x\"\r\n", false, false, 0},
    {"GET", "If-Range: " TAG "\r\n", true, false, 0},
    {"GET", "If-Range: " TAG " junk\r\n", false, false, 0},
    {"GET", "If-Range: " LM "\r\n", false, false, 1},
    {"GET", "If-Range: " EARLIER "\r\n", false, false, 0},
    {"GET", "If-Range: " LATER "\r\n", false, false, 0},
    {"GET", "If-Range: " LM "\r\n", false, true, 0},
    {"GET", "If-Range: Wednesday\r\n", false, false, 0},
    {"GET", "If-Range: soon\r\n", false, false, 0},
};

/* Parse "METHOD / HTTP/1.1" with the case's fields into ps. The head's
 * slices point into req, so it outlives the call (it was a local: the
 * slices dangled, and a check read whatever the next call left there). */
static void parse(struct kp_http_parser *ps, struct kp_http_field *fields, size_t n,
                  const struct cond_case *c)
{
    static char req[1024];
    int len =
        snprintf(req, sizeof(req), "%s / HTTP/1.1\r\nHost: x\r\n%s\r\n", c->method, c->fields);

    kp_http_parse_init(ps, NULL, fields, n);
    ck_assert_int_eq(kp_http_parse_request(ps, req, (size_t)len), len);
}

START_TEST(cond_check_table)
{
    const struct cond_case *c = &check_cases[_i];
    struct kp_http_field fields[16];
    struct kp_http_parser ps;

    parse(&ps, fields, 16, c);
    enum kp_http_cond got = kp_http_cond_check(&ps.head, c->no_etag ? KP_STR("") : KP_STR(TAG),
                                               c->no_lm ? (time_t)-1 : LM_T, KP_HTTP_IMS_BEFORE);
    ck_assert_msg((int)got == c->want, "%s %s: got %d want %d", c->method, c->fields, (int)got,
                  c->want);
}
END_TEST

START_TEST(cond_if_range_table)
{
    const struct cond_case *c = &range_cases[_i];
    struct kp_http_field fields[16];
    struct kp_http_parser ps;

    parse(&ps, fields, 16, c);
    bool got = kp_http_cond_if_range(&ps.head, c->no_etag ? KP_STR("") : KP_STR(TAG),
                                     c->no_lm ? (time_t)-1 : LM_T);
    ck_assert_msg((int)got == c->want, "%s: got %d want %d", c->fields, (int)got, c->want);
}
END_TEST

START_TEST(cond_etag_format)
{
    char out[KP_HTTP_ETAG_SIZE];

    ck_assert_uint_eq(kp_http_cond_etag(out, (time_t)0x5f3a, 0x1c8), 10);
    ck_assert_str_eq(out, "\"5f3a-1c8\"");
    kp_http_cond_etag(out, (time_t)1700000000, 0);
    ck_assert_str_eq(out, "\"6553f100-0\"");
    /* The longest possible tag still fits. */
    size_t n = kp_http_cond_etag(out, (time_t)-1, UINT64_MAX);
    ck_assert_uint_eq(n, 35);
    ck_assert_str_eq(out, "\"ffffffffffffffff-ffffffffffffffff\"");
}
END_TEST

Suite *kp_test_cond_suite(void)
{
    Suite *s = suite_create("cond");
    TCase *tc = tcase_create("cond");

    tcase_add_test(tc, cond_etag_format);
    tcase_add_loop_test(tc, cond_check_table, 0,
                        (int)(sizeof(check_cases) / sizeof(check_cases[0])));
    tcase_add_loop_test(tc, cond_if_range_table, 0,
                        (int)(sizeof(range_cases) / sizeof(range_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}
