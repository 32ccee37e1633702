/* msie_padding and msie_refresh against the real binary, with the
 * User-Agent values nginx tells apart: an MSIE's or Chrome's built-in error
 * page is padded past the 512 bytes below which they show their own page
 * (but not Firefox's, Opera's or an error_page's), and with msie_refresh on
 * an MSIE gets a 301 or 302 as a page that refreshes to the Location. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MSIE    "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
#define CHROME  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
#define FIREFOX "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
#define OPERA   "Opera/9.80 (compatible; MSIE 6.0; Windows NT 5.1)"

static const char *CONF = "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    root html;\n"
                          "    location /plain/ { msie_padding off; }\n"
                          "    location /own/ { error_page 404 /page.html; }\n"
                          "    location = /page.html { }\n"
                          "    location = /moved { return 301 /new; }\n"
                          "    location /refresh/ {\n"
                          "        msie_refresh on;\n"
                          "        location = /refresh/moved { return 302 \"/a b?q=<'x'>&r=~\"; }\n"
                          "        location = /refresh/gone { return 410; }\n"
                          "    }\n"
                          "}\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/page.html", "own page\n");
    kp_h_write(s, "html/refresh/dir/index.html", "d\n");
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

/* GET path with User-Agent ua (none if NULL); r is the caller's to free. */
static void get(const struct kp_h_server *s, const char *path, const char *ua, struct kp_h_resp *r)
{
    char raw[512];

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%s\r\n", path,
             ua ? "User-Agent: " : "", ua ? ua : "", ua ? "\r\n" : "");
    ck_assert_int_eq(kp_h_request(s->port, raw, r), 0);
}

static size_t error_len(const struct kp_h_server *s, const char *path, const char *ua)
{
    struct kp_h_resp r;

    get(s, path, ua, &r);
    ck_assert_int_ge(r.status, 400);
    size_t n = r.body_len;
    kp_h_resp_free(&r);
    return n;
}

START_TEST(msie_padding_of_builtin_pages)
{
    struct kp_h_server s;

    start(&s);
    size_t plain = error_len(&s, "/none", NULL);
    ck_assert_uint_lt(plain, 512);
    /* nginx adds six comment lines, 402 bytes, whatever the page. */
    ck_assert_uint_eq(error_len(&s, "/none", MSIE), plain + 402);
    ck_assert_uint_eq(error_len(&s, "/none", CHROME), plain + 402);
    ck_assert_uint_eq(error_len(&s, "/none", "MSIE 6.0"), plain + 402);
    ck_assert_uint_eq(error_len(&s, "/none", "MSIE 6."), plain);
    ck_assert_uint_eq(error_len(&s, "/none", FIREFOX), plain);
    ck_assert_uint_eq(error_len(&s, "/none", OPERA), plain);
    ck_assert_uint_eq(error_len(&s, "/plain/none", MSIE), plain);
    ck_assert_uint_ge(error_len(&s, "/refresh/gone", MSIE), 512);

    struct kp_h_resp r;
    get(&s, "/none", MSIE, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_msg(strstr(r.body, "</html>\r\n<!-- ") != NULL &&
                      strcmp(r.body + r.body_len - 5, "-->\r\n") == 0,
                  "%s", r.body);
    kp_h_resp_free(&r);
    /* An error_page's own page is the site's: left alone. */
    get(&s, "/own/none", MSIE, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "own page\n");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(msie_refresh_of_redirects)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    get(&s, "/refresh/moved", MSIE, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(kp_h_header(&r, "Location"));
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/html");
    ck_assert_str_eq(r.body, "<html><head><meta http-equiv=\"Refresh\" content=\"0; "
                             "URL=/a%20b?q=%3C%27x%27%3E&r=%7E\"></head><body></body></html>\r\n");
    kp_h_resp_free(&r);
    /* The directory redirect too. */
    get(&s, "/refresh/dir", MSIE, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "<html><head><meta http-equiv=\"Refresh\" content=\"0; "
                             "URL=/refresh/dir/\"></head><body></body></html>\r\n");
    kp_h_resp_free(&r);
    /* Not for other browsers, nor where msie_refresh is off (the default). */
    get(&s, "/refresh/moved", CHROME, &r);
    ck_assert_int_eq(r.status, 302);
    ck_assert_ptr_nonnull(kp_h_header(&r, "Location"));
    kp_h_resp_free(&r);
    get(&s, "/moved", MSIE, &r);
    ck_assert_int_eq(r.status, 301);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(msie_directives_take_on_or_off)
{
    struct kp_h_server s;
    char *out = NULL, *err = NULL;

    kp_h_prepare(&s);
    kp_h_config(&s, "", "msie_padding maybe;\n");
    char conf[600];
    snprintf(conf, sizeof(conf), "%sconf/kelpie.conf", s.prefix);
    char *argv[] = {(char *)kp_h_binary(), "-t", "-p", s.prefix, "-c", conf, NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 1);
    ck_assert_msg(strstr(err, "invalid value \"maybe\" in \"msie_padding\" directive, it must be "
                              "\"on\" or \"off\"") != NULL,
                  "%s", err);
    free(out);
    free(err);
}
END_TEST

Suite *kp_test_msie_suite(void)
{
    Suite *s = suite_create("msie");
    TCase *tc = tcase_create("msie");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, msie_padding_of_builtin_pages);
    tcase_add_test(tc, msie_refresh_of_redirects);
    tcase_add_test(tc, msie_directives_take_on_or_off);
    suite_add_tcase(s, tc);
    return s;
}
