/* Unit tests for http/regex.c: PCRE2 syntax nginx configurations use,
 * caseless matching, captures and named captures as variables, the JIT,
 * and compile errors with the pattern. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"
#include "unit/conf_fixture.h"

static struct kp_http_regex *compile(struct conf_fixture *f, const char *pattern, bool icase)
{
    struct kp_http_regex *re = NULL;

    ck_assert_msg(kp_http_regex_compile(&f->cf, pattern, icase, &re) == 0, "%s", f->err);
    return re;
}

static int match(const struct kp_http_regex *re, const char *s)
{
    return kp_http_regex_exec(NULL, re, kp_str_from(s));
}

START_TEST(syntax)
{
    struct conf_fixture *f = conf_fixture_new("location");

    ck_assert_int_eq(match(compile(f, "^/(?:a|b)/\\d+$", false), "/b/12"), 1);
    ck_assert_int_eq(match(compile(f, "(?i)^/X$", false), "/x"), 1);
    ck_assert_int_eq(match(compile(f, "\\.PNG$", true), "/a.png"), 1);
    ck_assert_int_eq(match(compile(f, "\\.PNG$", false), "/a.png"), 0);
    ck_assert_int_eq(match(compile(f, "^/a(?=b)", false), "/ab"), 1);
    ck_assert_int_eq(match(compile(f, "^/a(?!b)", false), "/ab"), 0);
    ck_assert_int_eq(match(compile(f, "(?<!x)\\.js$", false), "/a.js"), 1);
    ck_assert_int_eq(match(compile(f, "(?<!x)\\.js$", false), "/ax.js"), 0);
    conf_fixture_free(f);
}
END_TEST

START_TEST(captures)
{
    struct conf_fixture *f = conf_fixture_new("location");
    struct kp_http_regex *re = compile(f, "^/(\\w+)/(?<file>[^/]+)\\.(?<ext>\\w+)$", false);
    struct kp_http_request r;
    struct kp_http_cv cv;

    ck_assert_uint_eq(re->groups, 3);
    ck_assert_uint_eq(re->n_names, 2);
    ck_assert_int_eq(kp_http_cv_compile(&f->cf, "$1|$2|$3|$file|$ext|$0", &cv), 0);
    ck_assert_int_eq(kp_http_var_check(&f->cf), 0);
    memset(&r, 0, sizeof(r));
    kp_arena_init(&r.arena, 1024);
    r.n_var_slots = f->cycle.http.vars.n_slots;
    ck_assert_int_eq(kp_http_regex_exec(&r, re, KP_STR("/img/cat.png")), 1);
    ck_assert_str_eq(kp_http_cv_eval(&r, &cv, KP_HTTP_CV_RAW).p,
                     "img|cat|png|cat|png|/img/cat.png");
    /* A failed match leaves the last captures alone. */
    ck_assert_int_eq(kp_http_regex_exec(&r, re, KP_STR("/nope")), 0);
    ck_assert_str_eq(kp_http_cv_eval(&r, &cv, KP_HTTP_CV_RAW).p,
                     "img|cat|png|cat|png|/img/cat.png");
    kp_arena_destroy(&r.arena);
    conf_fixture_free(f);
}
END_TEST

START_TEST(jit_and_errors)
{
    struct conf_fixture *f = conf_fixture_new("location");
    struct kp_http_regex *re = compile(f, "^/before", false);

    /* pcre_jit on JIT-compiles regexes already made and the ones after. */
    f->cf.args[0] = "pcre_jit";
    f->cf.args[1] = "on";
    f->cf.nargs = 2;
    ck_assert_int_eq(kp_http_regex_conf_jit(&f->cf, NULL, NULL), 0);
    ck_assert(f->cycle.http.pcre_jit);
    ck_assert_int_eq(match(re, "/before/x"), 1);
    ck_assert_int_eq(match(compile(f, "^/after$", false), "/after"), 1);
    f->cf.args[0] = "location";
    ck_assert_int_eq(kp_http_regex_compile(&f->cf, "a(b", false, &re), -EINVAL);
    ck_assert_str_eq(f->err, "pcre2_compile() failed: missing closing parenthesis in \"a(b\" at "
                             "\"\" in test.conf:7");
    char v[64];
    kp_http_regex_version(v, sizeof(v));
    ck_assert_int_eq(strncmp(v, "10.", 3), 0);
    conf_fixture_free(f);
}
END_TEST

Suite *kp_test_regex_suite(void)
{
    Suite *s = suite_create("regex");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, syntax);
    tcase_add_test(tc, captures);
    tcase_add_test(tc, jit_and_errors);
    suite_add_tcase(s, tc);
    return s;
}
