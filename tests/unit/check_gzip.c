/* gzip: the Accept-Encoding negotiation (RFC 9110 section 12.5.3) and the
 * gzip_* directives: defaults, inheritance, Debian's stock lines, and one
 * [emerg] line with file:line for each kind of bad value. */
#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/http/coding.h"
#include "kelpie/http/gzip.h"
#include "tmpdir.h"

static const struct {
    const char *value;
    unsigned weight;
} weights[] = {
    {"gzip", 1000},
    {"GZIP", 1000},
    {"x-gzip", 1000},
    {"gzip, deflate, br", 1000},
    {"deflate, gzip;q=0.5", 500},
    {"gzip;q=0", 0},
    {"gzip; q=0.000", 0},
    {"gzip;Q=0.25", 250},
    {"gzip ;q=1.000", 1000},
    {"gzip;q=1.001", 0},  /* above 1: malformed, weighs 0 */
    {"gzip;q=0.1234", 0}, /* four decimals */
    {"gzip;q=2", 0},
    {"gzip;q=", 0},
    {"gzip junk", 0},
    {"*", 1000},
    {"*;q=0.3", 300},
    {"br, *;q=0.2", 200},
    {"*;q=0, gzip", 1000}, /* the explicit one wins */
    {"gzip;q=0, *", 0},
    {"identity", 0},
    {"identity;q=0", 0},
    {"deflate", 0},
    {"", 0},
    {",,, ,gzip,,", 1000},
    {"gzip;q=0.5, gzip;q=0.8", 800},
    {"gzipx, xgzip", 0},
    {"gzip;level=9;q=0.7", 700},
};

START_TEST(accept_encoding_weights)
{
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
        unsigned w = kp_http_coding_gzip_weight(kp_str_from(weights[i].value));
        ck_assert_msg(w == weights[i].weight, "\"%s\": %u, want %u", weights[i].value, w,
                      weights[i].weight);
    }
}
END_TEST

static struct kp_http_head head_with(struct kp_http_field *f, size_t n)
{
    struct kp_http_head h = {.fields = f, .nfields = n, .version = 11};

    return h;
}

START_TEST(accept_encoding_lines)
{
    struct kp_http_field f[3] = {
        {.name = KP_STR("Accept-Encoding"), .value = KP_STR("deflate")},
        {.name = KP_STR("Host"), .value = KP_STR("x")},
        {.name = KP_STR("accept-encoding"), .value = KP_STR("gzip;q=0.1")},
    };
    struct kp_http_head h = head_with(f, 3);

    ck_assert(kp_http_coding_accepts_gzip(&h)); /* lines form one list */
    h = head_with(f, 2);
    ck_assert(!kp_http_coding_accepts_gzip(&h));
    h = head_with(f + 1, 1);
    ck_assert(!kp_http_coding_accepts_gzip(&h)); /* no field: not asked */
}
END_TEST

START_TEST(accept_encoding_long)
{
    size_t n = 64 * 1024;
    char *v = malloc(n + 8);

    for (size_t i = 0; i < n; i += 2)
        memcpy(v + i, "a,", 2);
    memcpy(v + n, "gzip", 5);
    ck_assert_uint_eq(kp_http_coding_gzip_weight(kp_str_from(v)), 1000);
    memset(v, ';', n);
    ck_assert_uint_eq(kp_http_coding_gzip_weight(kp_str_from(v)), 0);
    free(v);
}
END_TEST

/* --- configuration ------------------------------------------------------------- */

static char dir[64];
static char err[1024];

static void setup(void)
{
    tmpdir_make(dir, "kp_gzip");
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

static struct kp_cycle *load(const char *text)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%skelpie.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
}

/* Debian's /etc/nginx/nginx.conf, gzip part (the commented lines enabled). */
static const char debian[] = "http {\n"
                             "\tgzip on;\n"
                             "\tgzip_disable \"msie6\";\n"
                             "\tgzip_vary on;\n"
                             "\tgzip_proxied any;\n"
                             "\tgzip_comp_level 6;\n"
                             "\tgzip_buffers 16 8k;\n"
                             "\tgzip_http_version 1.1;\n"
                             "\tgzip_types text/plain text/css application/json "
                             "application/javascript text/xml application/xml "
                             "application/xml+rss text/javascript;\n"
                             "\tserver { listen 127.0.0.1:1; location /a/ { gzip off; }\n"
                             "\t  location /b/ { gzip_types image/svg+xml; gzip_disable MSIE; } }\n"
                             "}\n";

START_TEST(conf_debian)
{
    struct kp_cycle *c = load(debian);

    ck_assert_msg(c != NULL, "%s", err);
    const struct kp_http_srv_conf *srv = c->http.servers[0];
    const struct kp_http_gzip_conf *gz = &srv->loc->gzip;
    ck_assert(gz->on && gz->vary && gz->disable_msie6);
    ck_assert_int_eq(gz->level, 6);
    ck_assert_uint_eq(gz->proxied, KP_GZIP_PROXIED_ANY);
    ck_assert_uint_eq(gz->n_types, 8);
    ck_assert_str_eq(gz->types[7], "text/javascript");
    const struct kp_http_gzip_conf *a = &srv->locations[0]->gzip;
    const struct kp_http_gzip_conf *b = &srv->locations[1]->gzip;
    ck_assert(!a->on && a->vary && a->level == 6 && a->n_types == 8);
    ck_assert(b->on && b->n_types == 1 && b->n_disable == 1 && !b->disable_msie6);
    kp_cycle_free(c);
}
END_TEST

START_TEST(conf_defaults)
{
    struct kp_cycle *c = load("http { server { listen 127.0.0.1:1; } }");

    ck_assert_msg(c != NULL, "%s", err);
    const struct kp_http_gzip_conf *gz = &c->http.servers[0]->loc->gzip;
    ck_assert(!gz->on && !gz->vary && !gz->any_type && gz->n_types == 0);
    ck_assert_int_eq(gz->level, 1);
    ck_assert_uint_eq(gz->min_length, 20);
    ck_assert_uint_eq(gz->http_version, 11);
    ck_assert_uint_eq(gz->proxied, 0);
    ck_assert_int_eq(gz->static_mode, KP_GZIP_STATIC_OFF);
    kp_cycle_free(c);
}
END_TEST

static const struct {
    const char *conf, *msg;
} bad[] = {
    {"http {\ngzip maybe;\n}",
     "invalid value \"maybe\" in \"gzip\" directive, it must be \"on\" or \"off\""},
    {"http {\ngzip_comp_level 10;\n}", "invalid value \"10\" in \"gzip_comp_level\" directive"},
    {"http {\ngzip_comp_level 0;\n}", "invalid value \"0\" in \"gzip_comp_level\" directive"},
    {"http {\ngzip_http_version 2.0;\n}",
     "invalid value \"2.0\" in \"gzip_http_version\" directive"},
    {"http {\ngzip_proxied sometimes;\n}",
     "invalid value \"sometimes\" in \"gzip_proxied\" directive"},
    {"http {\ngzip_static maybe;\n}", "invalid value \"maybe\" in \"gzip_static\" directive"},
    {"http {\ngzip_buffers 0 8k;\n}", "invalid value \"0\" in \"gzip_buffers\" directive"},
    {"http {\ngzip_min_length x;\n}", "invalid value \"x\" in \"gzip_min_length\" directive"},
    {"http {\ngzip_disable \"(\";\n}",
     "pcre2_compile() failed: missing closing parenthesis in \"(\" at \"\""},
    {"http {\ngzip on;\ngzip off;\n}", "\"gzip\" directive is duplicate"},
};

START_TEST(conf_errors)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[1024];
        unsigned line = 2 + (strstr(bad[i].conf, "gzip off") != NULL);
        ck_assert_ptr_null(load(bad[i].conf));
        snprintf(want, sizeof(want), "%s in %skelpie.conf:%u", bad[i].msg, dir, line);
        ck_assert_str_eq(err, want);
    }
}
END_TEST

Suite *kp_test_gzip_suite(void)
{
    Suite *s = suite_create("gzip");
    TCase *tc = tcase_create("coding");
    TCase *conf = tcase_create("conf");

    tcase_add_test(tc, accept_encoding_weights);
    tcase_add_test(tc, accept_encoding_lines);
    tcase_add_test(tc, accept_encoding_long);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(conf, setup, teardown);
    tcase_add_test(conf, conf_debian);
    tcase_add_test(conf, conf_defaults);
    tcase_add_test(conf, conf_errors);
    suite_add_tcase(s, conf);
    return s;
}
