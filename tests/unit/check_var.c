/* Unit tests for the variable registry and evaluator (http/var.h): name
 * lookup (built-in, prefix families, captures, defined, pending), the
 * compiler's errors, and the values of the request variables on a request
 * built by hand. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kelpie/http/req.h"
#include "kelpie/http/response.h"
#include "kelpie/http/var.h"
#include "unit/conf_fixture.h"

struct req {
    struct kp_http_request r;
    struct kp_http_field fields[16];
    char raw[1024];
};

static struct req *req_new(const char *head)
{
    struct req *q = kp_calloc(1, sizeof(*q));
    size_t len = strlen(head);

    kp_arena_init(&q->r.arena, 1024);
    kp_http_response_init(&q->r.resp);
    memcpy(q->raw, head, len);
    kp_http_parse_init(&q->r.parser, NULL, q->fields, 16);
    ck_assert_int_eq(kp_http_parse_request(&q->r.parser, q->raw, len), (ssize_t)len);
    return q;
}

static void req_free(struct req *q)
{
    kp_arena_destroy(&q->r.arena);
    kp_free(q);
}

/* The value of text (compiled in f) for q's request. */
static const char *eval(struct conf_fixture *f, struct req *q, const char *text)
{
    struct kp_http_cv cv;

    ck_assert_int_eq(kp_http_cv_compile(&f->cf, text, &cv), 0);
    q->r.n_var_slots = f->cycle.http.vars.n_slots;
    return kp_http_cv_eval(&q->r, &cv, KP_HTTP_CV_RAW).p;
}

START_TEST(lookup)
{
    struct conf_fixture *f = conf_fixture_new("return");
    struct kp_http_var_ref ref;

    ck_assert_int_eq(kp_http_var_ref(&f->cf, KP_STR("Request_URI"), &ref), 0);
    ck_assert_str_eq(ref.def->name, "request_uri");
    ck_assert_int_eq(kp_http_var_ref(&f->cf, KP_STR("http_X_Real_IP"), &ref), 0);
    ck_assert_str_eq(ref.def->name, "http_");
    ck_assert(kp_str_eq(ref.arg, KP_STR("x-real-ip")));
    ck_assert_int_eq(kp_http_var_ref(&f->cf, KP_STR("arg_Page"), &ref), 0);
    ck_assert(kp_str_eq(ref.arg, KP_STR("Page")));
    ck_assert_int_eq(kp_http_var_ref(&f->cf, KP_STR("7"), &ref), 0);
    ck_assert(kp_str_eq(ref.arg, KP_STR("7")));
    /* Not known yet: pending until set/map define it, an error otherwise. */
    ck_assert_int_eq(kp_http_var_ref(&f->cf, KP_STR("later"), &ref), 0);
    ck_assert(ref.def->flags & KP_HTTP_VAR_PENDING);
    ck_assert_int_eq(kp_http_var_check(&f->cf), -EINVAL);
    ck_assert_str_eq(f->err, "unknown \"later\" variable in test.conf:7");
    struct kp_http_var_def *d = kp_http_var_define(&f->cf, "later", NULL);
    ck_assert_ptr_eq(d, ref.def);
    ck_assert_int_eq(kp_http_var_check(&f->cf), 0);
    /* A built-in name cannot be defined. */
    ck_assert_ptr_null(kp_http_var_define(&f->cf, "uri", NULL));
    ck_assert_str_eq(f->err, "the duplicate \"uri\" variable in test.conf:7");
    conf_fixture_free(f);
}
END_TEST

START_TEST(compile_errors)
{
    struct conf_fixture *f = conf_fixture_new("return");
    struct kp_http_cv cv;

    ck_assert_int_eq(kp_http_cv_compile(&f->cf, "a $ b", &cv), -EINVAL);
    ck_assert_str_eq(f->err, "invalid variable name in \"return\" directive in test.conf:7");
    ck_assert_int_eq(kp_http_cv_compile(&f->cf, "${uri", &cv), -EINVAL);
    ck_assert_str_eq(f->err, "the closing bracket in \"uri\" variable is missing in test.conf:7");
    ck_assert_int_eq(kp_http_cv_compile(&f->cf, "100%", &cv), 0);
    ck_assert(kp_http_cv_is_static(&cv));
    ck_assert_int_eq(kp_http_cv_compile(&f->cf, "${uri}x$1y", &cv), 0);
    ck_assert_uint_eq(cv.n_vars, 2);
    ck_assert(kp_str_eq(cv.parts[1].lit, KP_STR("x")));
    ck_assert(kp_str_eq(cv.parts[2].lit, KP_STR("y")));
    conf_fixture_free(f);
}
END_TEST

START_TEST(request_values)
{
    struct conf_fixture *f = conf_fixture_new("return");
    struct req *q = req_new("GET /a%20b?x=1&Page=2&e= HTTP/1.1\r\nHost: WWW.Example.COM.:8080\r\n"
                            "Cookie: a=1; sid=xyz\r\nAuthorization: Basic dXNlcjpwYXNz\r\n"
                            "Content-Type: text/plain\r\n\r\n");

    q->r.uri = KP_STR("/a b");
    q->r.args = KP_STR("x=1&Page=2&e=");
    ck_assert_str_eq(eval(f, q, "$uri|$document_uri|$request_uri|$args|$query_string|$is_args"),
                     "/a b|/a b|/a%20b?x=1&Page=2&e=|x=1&Page=2&e=|x=1&Page=2&e=|?");
    ck_assert_str_eq(eval(f, q, "[$arg_page][$arg_x][$arg_e][$arg_none]"), "[2][1][][]");
    ck_assert_str_eq(eval(f, q, "$host"), "www.example.com");
    ck_assert_str_eq(eval(f, q, "$cookie_sid|$cookie_a|$cookie_none"), "xyz|1|");
    ck_assert_str_eq(eval(f, q, "$remote_user $content_type $request_method $server_protocol"),
                     "user text/plain GET HTTP/1.1");
    ck_assert_str_eq(eval(f, q, "$status $pipe $scheme [$https]"), "000 . http []");
    q->r.resp.status = 404;
    q->r.resp.content_type = KP_STR("text/html");
    ck_assert_str_eq(eval(f, q, "$status $sent_http_content_type"), "404 text/html");
    const char *id = eval(f, q, "$request_id");
    ck_assert_uint_eq(strlen(id), 32);
    ck_assert_str_eq(eval(f, q, "$request_id"), id); /* fixed per request */
    req_free(q);
    conf_fixture_free(f);
}
END_TEST

/* nginx joins the lines of Cookie ("; ") and X-Forwarded-For (", ") in
 * their $http_ variables; any other field gives its first line. */
START_TEST(joined_fields)
{
    struct conf_fixture *f = conf_fixture_new("return");
    struct req *q = req_new("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=2\r\nX-M: one\r\n"
                            "X-Forwarded-For: 10.0.0.1\r\nCookie: c=3\r\nX-M: two\r\n"
                            "X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n\r\n");

    ck_assert_str_eq(eval(f, q, "[$http_cookie][$cookie_c][$http_x_m]"), "[a=1; b=2; c=3][3][one]");
    ck_assert_str_eq(eval(f, q, "$http_x_forwarded_for"), "10.0.0.1, 10.0.0.2, 10.0.0.3");
    req_free(q);
    conf_fixture_free(f);
}
END_TEST

/* Variables of nginx modules kelpie answers for: the SSI module's dates
 * (its default format), $nginx_version, trailers (none are sent), and no
 * TCP_INFO without a connection. */
START_TEST(module_variables)
{
    struct conf_fixture *f = conf_fixture_new("return");
    struct req *q = req_new("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    char day[16], mon[4], zone[8];
    int d, y, hh, mm, ss;

    ck_assert_str_eq(eval(f, q, "$nginx_version"), KP_VERSION);
    const char *gmt = eval(f, q, "$date_gmt");
    ck_assert_msg(sscanf(gmt, "%15[A-Za-z], %d-%3[A-Za-z]-%d %d:%d:%d %7s", day, &d, mon, &y, &hh,
                         &mm, &ss, zone) == 8,
                  "%s", gmt);
    ck_assert_str_eq(zone, "GMT");
    ck_assert_uint_gt(strlen(eval(f, q, "$date_local")), 20);
    ck_assert_str_eq(eval(f, q, "[$sent_trailer_grpc_status][$tcpinfo_rtt]"), "[][]");
    req_free(q);
    conf_fixture_free(f);
}
END_TEST

START_TEST(defined_and_captures)
{
    struct conf_fixture *f = conf_fixture_new("set");
    struct req *q = req_new("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    const struct kp_http_var_def *d = kp_http_var_define(&f->cf, "v", NULL);
    static const char subject[] = "/img/cat.png";
    const size_t ovec[] = {0, 12, 5, 8, 9, 12, 1, 0};

    /* Unset: empty; the value table is taken only now. */
    ck_assert_ptr_null(q->r.var_values);
    ck_assert_str_eq(eval(f, q, "[$v]"), "[]");
    kp_http_var_set(&q->r, d, KP_STR("val"));
    ck_assert_str_eq(eval(f, q, "[$v]"), "[val]");
    kp_http_var_captures(&q->r, subject, ovec, 4);
    ck_assert_str_eq(eval(f, q, "$0|$1|$2|$3|$4"), "/img/cat.png|cat|png||");
    /* url: values that cannot stand in a Location are percent-encoded. */
    q->r.uri = KP_STR("/a b\x01");
    struct kp_http_cv cv;
    ck_assert_int_eq(kp_http_cv_compile(&f->cf, "http://h$uri", &cv), 0);
    ck_assert_str_eq(kp_http_cv_eval(&q->r, &cv, KP_HTTP_CV_URL).p, "http://h/a%20b%01");
    req_free(q);
    conf_fixture_free(f);
}
END_TEST

Suite *kp_test_var_suite(void)
{
    Suite *s = suite_create("var");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, lookup);
    tcase_add_test(tc, compile_errors);
    tcase_add_test(tc, request_values);
    tcase_add_test(tc, joined_fields);
    tcase_add_test(tc, module_variables);
    tcase_add_test(tc, defined_and_captures);
    suite_add_tcase(s, tc);
    return s;
}
