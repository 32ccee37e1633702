/* Tests for path decoding/normalisation (traversal attempts above all) and
 * for the Location escaping. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "kelpie/http/uri.h"

struct ucase {
    const char *in;
    const char *path;  /* NULL: expect -EINVAL */
    const char *query; /* NULL: "" */
};

static const struct ucase cases[] = {
    {"/", "/", NULL},
    {"/index.html", "/index.html", NULL},
    {"/a/b/c", "/a/b/c", NULL},
    {"/a/b/", "/a/b/", NULL},
    {"/a/./b//c", "/a/b/c", NULL},
    {"//a///b", "/a/b", NULL},
    {"/a/b/..", "/a/", NULL},
    {"/a/b/.", "/a/b/", NULL},
    {"/a/b/../", "/a/", NULL},
    {"/a/../b", "/b", NULL},
    {"/a/b/../../c", "/c", NULL},
    {"/.", "/", NULL},
    {"/./", "/", NULL},
    {"/..", NULL, NULL},
    {"/../", NULL, NULL},
    {"/../etc/passwd", NULL, NULL},
    {"/a/../../b", NULL, NULL},
    {"/a/b/../../../", NULL, NULL},
    {"/a/../..", NULL, NULL},
    {"/%2e%2e", NULL, NULL},
    {"/%2e%2e/", NULL, NULL},
    {"/%2E%2e/etc", NULL, NULL},
    {"/a/%2e%2e%2f%2e%2e%2fetc", NULL, NULL},
    {"/a/%2e%2e", "/", NULL},
    {"/a/.%2e/b", "/b", NULL},
    {"/%2e/a", "/a", NULL},
    {"/a%2fb", "/a/b", NULL},
    {"/a%2F..%2F..%2Fb", NULL, NULL},
    {"/a%2F..%2Fb", "/b", NULL},
    {"/%252e%252e/x", "/%2e%2e/x", NULL},
    {"/%25", "/%", NULL},
    {"/%00", NULL, NULL},
    {"/a%00.html", NULL, NULL},
    {"/%", NULL, NULL},
    {"/%4", NULL, NULL},
    {"/%G1", NULL, NULL},
    {"/%1G", NULL, NULL},
    {"/a%", NULL, NULL},
    {"/%41%62c", "/Abc", NULL},
    {"/%c3%a9", "/\xc3\xa9", NULL},
    {"/%7E", "/~", NULL},
    {"/%0a", "/\n", NULL},
    {"/a\\..\\b", "/a\\..\\b", NULL},
    {"/a/..\\b", "/a/..\\b", NULL},
    {"/...", "/...", NULL},
    {"/..a/a..", "/..a/a..", NULL},
    {"/a\x01", NULL, NULL},
    {"/a\x7f", NULL, NULL},
    {"/a\tb", NULL, NULL},
    {"a/b", NULL, NULL},
    {"%2fa", NULL, NULL},
    {"/a?x=1&y=%2e", "/a", "x=1&y=%2e"},
    {"/a/../b?../../etc", "/b", "../../etc"},
    {"/a%3Fb?c", "/a?b", "c"},
    {"/?", "/", NULL},
    {"/p?q?r", "/p", "q?r"},
    {"/p?%zz", "/p", "%zz"},
    {"/p?a\x01", NULL, NULL},
    {"", "/", NULL},
    {"?q", "/", "q"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Normalise c->in (merging slashes or not) and check the result: the
 * path and query wanted, and the guarantee of the mode. */
static void check_case(const struct ucase *c, bool merge)
{
    struct kp_str in = kp_str_from(c->in), q;
    char out[256];
    ssize_t n = kp_http_uri_normalize(in, out, sizeof(out), &q, merge);

    if (c->path == NULL) {
        ck_assert_msg(n == -EINVAL, "'%s': %zd, want -EINVAL", c->in, n);
        return;
    }
    ck_assert_msg(n == (ssize_t)strlen(c->path) && strcmp(out, c->path) == 0,
                  "'%s': got '%s' (%zd), want '%s'", c->in, n >= 0 ? out : "", n, c->path);
    if (merge)
        ck_assert(kp_http_uri_is_safe((struct kp_str){out, (size_t)n}));
    ck_assert(kp_http_uri_no_dot_segments((struct kp_str){out, (size_t)n}));
    ck_assert(kp_str_eq(q, kp_str_from(c->query ? c->query : "")));
    /* the query is a slice of the input */
    ck_assert(q.p >= in.p && q.p + q.len == in.p + in.len);
}

START_TEST(uri_table)
{
    check_case(&cases[_i], true);
}
END_TEST

/* merge_slashes off: empty segments stay, ".." removes one like any other
 * segment (nginx's results), and nothing climbs above the root. */
static const struct ucase unmerged[] = {
    {"/", "/", NULL},
    {"//", "//", NULL},
    {"//a///b", "//a///b", NULL},
    {"/a//b/", "/a//b/", NULL},
    {"/a/.//b", "/a//b", NULL},
    {"/a//../b", "/a/b", NULL},
    {"/a//..", "/a/", NULL},
    {"//..", "/", NULL},
    {"/a/b//..//..", "/a/b/", NULL},
    {"/x//..//../a/f", "/x/a/f", NULL},
    {"/a/f//..", "/a/f/", NULL},
    {"/a//.", "/a//", NULL},
    {"/%2F/a", "///a", NULL},
    {"/..//..", NULL, NULL},
    {"/..", NULL, NULL},
    {"//../..", NULL, NULL},
    {"/a//../../..", NULL, NULL},
    {"/%2e%2e//%2e%2e", NULL, NULL},
    {"//a//b?x//y", "//a//b", "x//y"},
};

START_TEST(uri_unmerged)
{
    check_case(&unmerged[_i], false);
}
END_TEST

START_TEST(uri_buffer_size)
{
    char out[8];
    struct kp_str q;

    /* target.len + 1 is enough for a non-empty path */
    ck_assert_int_eq(kp_http_uri_normalize(KP_STR("/abcdef"), out, 8, &q, true), 7);
    ck_assert_int_eq(kp_http_uri_normalize(KP_STR("/abcdefg"), out, 8, &q, true), -ENOSPC);
    ck_assert_int_eq(kp_http_uri_normalize(KP_STR("/abcdef?q"), out, 8, &q, true), 7);
    ck_assert_int_eq(kp_http_uri_normalize(KP_STR(""), out, 1, &q, true), -ENOSPC);
    ck_assert_int_eq(kp_http_uri_normalize(KP_STR(""), out, 2, &q, true), 1);
    ck_assert_str_eq(out, "/");
}
END_TEST

START_TEST(uri_is_safe)
{
    ck_assert(kp_http_uri_is_safe(KP_STR("/")));
    ck_assert(kp_http_uri_is_safe(KP_STR("/a/b/")));
    ck_assert(kp_http_uri_is_safe(KP_STR("/.a/..b/...")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("a")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("//a")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("/a//b")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("/a/..")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("/../a")));
    ck_assert(!kp_http_uri_is_safe(KP_STR("/a/./b")));
    ck_assert(!kp_http_uri_is_safe((struct kp_str){"/a\0b", 4}));
}
END_TEST

START_TEST(uri_no_dot_segments)
{
    ck_assert(kp_http_uri_no_dot_segments(KP_STR("/")));
    ck_assert(kp_http_uri_no_dot_segments(KP_STR("//a")));
    ck_assert(kp_http_uri_no_dot_segments(KP_STR("/a//b/")));
    ck_assert(kp_http_uri_no_dot_segments(KP_STR("/.a/..b/...")));
    ck_assert(!kp_http_uri_no_dot_segments(KP_STR("")));
    ck_assert(!kp_http_uri_no_dot_segments(KP_STR("a/b")));
    ck_assert(!kp_http_uri_no_dot_segments(KP_STR("/a//..")));
    ck_assert(!kp_http_uri_no_dot_segments(KP_STR("/x/img/../secret")));
    ck_assert(!kp_http_uri_no_dot_segments(KP_STR("/a/./b")));
    ck_assert(!kp_http_uri_no_dot_segments((struct kp_str){"/a\0b", 4}));
}
END_TEST

START_TEST(uri_escape)
{
    char out[64];
    struct kp_str in = KP_STR("/a b/%/?#/\xc3\xa9/~!$&'()*+,;=:@\x01");
    const char *want = "/a%20b/%25/%3F%23/%C3%A9/~!$&'()*+,;=:@%01";

    ck_assert_uint_eq(kp_http_uri_escape_size(in), strlen(want) + 1);
    ck_assert_int_eq(kp_http_uri_escape(in, out, sizeof(out)), (ssize_t)strlen(want));
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(kp_http_uri_escape(in, out, strlen(want)), -ENOSPC);
    ck_assert_int_eq(kp_http_uri_escape(KP_STR(""), out, 1), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* Escaping a normalised path and normalising it again gives it back. */
START_TEST(uri_escape_roundtrip)
{
    static const char *paths[] = {"/a b/c%d", "/\xc3\xa9t\xc3\xa9/", "/x?y#z", "/100%/"};
    char esc[64], back[64];
    struct kp_str q;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ssize_t n = kp_http_uri_escape(kp_str_from(paths[i]), esc, sizeof(esc));
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(
            kp_http_uri_normalize((struct kp_str){esc, (size_t)n}, back, sizeof(back), &q, true),
            (ssize_t)strlen(paths[i]));
        ck_assert_str_eq(back, paths[i]);
        ck_assert_uint_eq(q.len, 0);
    }
}
END_TEST

Suite *kp_test_uri_suite(void)
{
    Suite *s = suite_create("uri");
    TCase *tc = tcase_create("uri");

    tcase_add_loop_test(tc, uri_table, 0, (int)NCASES);
    tcase_add_loop_test(tc, uri_unmerged, 0, (int)(sizeof(unmerged) / sizeof(unmerged[0])));
    tcase_add_test(tc, uri_buffer_size);
    tcase_add_test(tc, uri_is_safe);
    tcase_add_test(tc, uri_no_dot_segments);
    tcase_add_test(tc, uri_escape);
    tcase_add_test(tc, uri_escape_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
