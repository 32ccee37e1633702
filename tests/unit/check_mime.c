/* Unit tests for mime.c: extension extraction and the types lookup. */
#include <check.h>
#include <string.h>

#include "kelpie/http/mime.h"

/* Sorted by ext in strcmp order, as the configuration loader leaves it. */
static struct kp_http_type table[] = {
    {"css", "text/css"},
    {"gif", "image/gif"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"js", "application/javascript"},
    {"png", "image/png"},
    {"tar.gz", "application/x-never"},
    {"txt", "text/plain"},
};
static const struct kp_http_types types = {table, sizeof(table) / sizeof(table[0])};

START_TEST(mime_extension)
{
    ck_assert(kp_str_eq(kp_http_mime_ext(KP_STR("/a/b.html")), KP_STR("html")));
    ck_assert(kp_str_eq(kp_http_mime_ext(KP_STR("/a.b/c.tar.gz")), KP_STR("gz")));
    ck_assert(kp_str_eq(kp_http_mime_ext(KP_STR("/.htaccess")), KP_STR("htaccess")));
    ck_assert_uint_eq(kp_http_mime_ext(KP_STR("/a.d/readme")).len, 0);
    ck_assert_uint_eq(kp_http_mime_ext(KP_STR("/file.")).len, 0);
    ck_assert_uint_eq(kp_http_mime_ext(KP_STR("/")).len, 0);
    ck_assert_uint_eq(kp_http_mime_ext(KP_STR("")).len, 0);
}
END_TEST

START_TEST(mime_lookup)
{
    char longext[KP_HTTP_MIME_MAX_EXT + 2];

    ck_assert_str_eq(kp_http_mime_lookup(&types, KP_STR("html")), "text/html");
    ck_assert_str_eq(kp_http_mime_lookup(&types, KP_STR("css")), "text/css");
    ck_assert_str_eq(kp_http_mime_lookup(&types, KP_STR("txt")), "text/plain");
    ck_assert_str_eq(kp_http_mime_lookup(&types, KP_STR("PNG")), "image/png");
    ck_assert_str_eq(kp_http_mime_lookup(&types, KP_STR("HtMl")), "text/html");
    ck_assert_ptr_null(kp_http_mime_lookup(&types, KP_STR("htmlx")));
    ck_assert_ptr_null(kp_http_mime_lookup(&types, KP_STR("ht")));
    ck_assert_ptr_null(kp_http_mime_lookup(&types, KP_STR("")));
    ck_assert_ptr_null(kp_http_mime_lookup(NULL, KP_STR("html")));
    memset(longext, 'a', sizeof(longext));
    ck_assert_ptr_null(kp_http_mime_lookup(&types, (struct kp_str){longext, sizeof(longext)}));
}
END_TEST

START_TEST(mime_type_with_fallback)
{
    struct kp_http_loc_conf loc;

    memset(&loc, 0, sizeof(loc));
    loc.types = &types;
    loc.default_type = "application/octet-stream";
    ck_assert(kp_str_eq(kp_http_mime_type(&loc, KP_STR("/x/INDEX.HTML")), KP_STR("text/html")));
    ck_assert(kp_str_eq(kp_http_mime_type(&loc, KP_STR("/x/a.tar.gz")),
                        KP_STR("application/octet-stream")));
    ck_assert(kp_str_eq(kp_http_mime_type(&loc, KP_STR("/x.js/noext")),
                        KP_STR("application/octet-stream")));
    ck_assert_str_eq(kp_http_mime_type(&loc, KP_STR("/a.gif")).p, "image/gif");
    loc.default_type = NULL;
    ck_assert_uint_eq(kp_http_mime_type(&loc, KP_STR("/noext")).len, 0);
    loc.types = NULL;
    ck_assert_uint_eq(kp_http_mime_type(&loc, KP_STR("/a.html")).len, 0);
}
END_TEST

Suite *kp_test_mime_suite(void)
{
    Suite *s = suite_create("mime");
    TCase *tc = tcase_create("mime");

    tcase_add_test(tc, mime_extension);
    tcase_add_test(tc, mime_lookup);
    tcase_add_test(tc, mime_type_with_fallback);
    suite_add_tcase(s, tc);
    return s;
}
