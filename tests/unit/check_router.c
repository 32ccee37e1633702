/* Unit tests for routing: host name patterns (hostmatch.c: matching,
 * ranking, conflicts), Host normalisation (router.c), server selection on a loaded configuration,
 * the location a path gets, and the processing phases of handler.c (route, return, error_page to a
 * URL, built-in pages) on parsed requests. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/proc/cycle.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/handler.h"
#include "kelpie/http/hostmatch.h"
#include "kelpie/http/response.h"
#include "kelpie/http/router.h"

/* Whether pattern (lowercase) matches host, as hostmatch.h says. */
static bool matches(const char *pattern, const char *host)
{
    struct kp_http_hostmatch p = kp_http_hostmatch_parse(kp_str_from(pattern));
    return kp_http_hostmatch_rank(&p, kp_str_from(host)) > 0;
}

START_TEST(name_matching)
{
    ck_assert(matches("example.com", "example.com"));
    ck_assert(matches("example.com", "EXAMPLE.Com"));
    ck_assert(!matches("example.com", "www.example.com"));
    ck_assert(!matches("example.com", "example.co"));
    ck_assert(matches("*.example.com", "www.example.com"));
    ck_assert(matches("*.example.com", "a.b.Example.com"));
    ck_assert(!matches("*.example.com", "example.com"));
    /* an empty first label, as nginx's hash finds it */
    ck_assert(matches("*.example.com", ".example.com"));
    ck_assert(!matches("*.example.com", "wwwexample.com"));
    ck_assert(matches(".example.com", "example.com"));
    ck_assert(matches(".example.com", "x.example.com"));
    ck_assert(matches(".example.com", ".example.com"));
    ck_assert(!matches(".example.com", "xexample.com"));
    ck_assert(!matches(".example.com", "example.co"));
    ck_assert(!matches("", "x"));
    ck_assert(matches("", ""));
    ck_assert(matches("mail.*", "mail.example.org"));
    ck_assert(matches("mail.*", "MAIL.x"));
    ck_assert(matches("mail.*", "mail.")); /* a Referer's host keeps its dot */
    ck_assert(!matches("mail.*", "mail"));
    ck_assert(!matches("mail.*", "email.example.org"));
}
END_TEST

/* Exact first, then the longest leading wildcard, then the longest
 * trailing one, whatever the order of the list. */
START_TEST(name_ranking)
{
    static const char *names[] = {"mail.example.*", "mail.*", ".example.com", "*.a.example.com",
                                  "a.example.com"};
    struct kp_http_hostmatch list[5];
    for (size_t i = 0; i < 5; i++)
        list[i] = kp_http_hostmatch_parse(kp_str_from(names[i]));
    static const struct {
        const char *host;
        int want; /* index in names, -1: none */
    } cases[] = {
        {"a.example.com", 4},    {"b.a.example.com", 3},  {"b.example.com", 2}, {"example.com", 2},
        {"mail.example.com", 2}, {"mail.example.org", 0}, {"mail.test", 1},     {"x.test", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct kp_http_hostmatch *m =
            kp_http_hostmatch_find(list, 5, kp_str_from(cases[i].host));
        ck_assert_msg(m == (cases[i].want < 0 ? NULL : &list[cases[i].want]), "%s", cases[i].host);
    }
}
END_TEST

/* What nginx's hash refuses after the names before, and what it takes. */
static bool conflicts(const char *earlier, const char *earlier2, const char *name)
{
    struct kp_http_hostmatch list[2] = {kp_http_hostmatch_parse(kp_str_from(earlier)),
                                        kp_http_hostmatch_parse(kp_str_from(earlier2))};
    struct kp_http_hostmatch p = kp_http_hostmatch_parse(kp_str_from(name));
    return kp_http_hostmatch_conflicts(list, 2, &p);
}

START_TEST(name_conflicts)
{
    ck_assert(conflicts("x.test", "a", "x.test"));
    ck_assert(conflicts("x.test", "a", ".x.test"));
    ck_assert(conflicts(".x.test", "a", "x.test"));
    ck_assert(conflicts(".x.test", "a", "*.x.test"));
    ck_assert(conflicts("*.x.test", "a", ".x.test"));
    ck_assert(conflicts("*.x.test", "a", "*.x.test"));
    ck_assert(conflicts("x.*", "a", "x.*"));
    /* a ".x" refused for its subdomains has still taken x itself */
    ck_assert(conflicts("*.x.test", ".x.test", "x.test"));
    /* a ".x" refused for x itself has taken nothing */
    ck_assert(!conflicts("x.test", ".x.test", "*.x.test"));
    ck_assert(!conflicts("x.test", "*.x.test", "x.*"));
    ck_assert(!conflicts("x.test", "x.*", "*.x.test"));
    ck_assert(!conflicts("*.x.test", "a", "*.a.x.test"));
    ck_assert(!conflicts("x.test", "a", "x.test.*"));
    ck_assert(kp_http_hostmatch_valid(KP_STR(".a*")));
    ck_assert(kp_http_hostmatch_valid(KP_STR("*.a")));
    ck_assert(kp_http_hostmatch_valid(KP_STR("a.*")));
    ck_assert(kp_http_hostmatch_valid(KP_STR("a.")));
    ck_assert(!kp_http_hostmatch_valid(KP_STR("*")));
    ck_assert(!kp_http_hostmatch_valid(KP_STR("a*")));
    ck_assert(!kp_http_hostmatch_valid(KP_STR("*.a.*")));
    ck_assert(!kp_http_hostmatch_valid(KP_STR("a..b")));
}
END_TEST

START_TEST(host_normalisation)
{
    ck_assert(kp_str_eq(kp_http_router_host(KP_STR("a.test:8080")), KP_STR("a.test")));
    ck_assert(kp_str_eq(kp_http_router_host(KP_STR("a.test.")), KP_STR("a.test")));
    ck_assert(kp_str_eq(kp_http_router_host(KP_STR("a.test.:80")), KP_STR("a.test")));
    ck_assert(kp_str_eq(kp_http_router_host(KP_STR("[::1]:80")), KP_STR("[::1]")));
    ck_assert(kp_str_eq(kp_http_router_host(KP_STR("[::1]")), KP_STR("[::1]")));
    ck_assert(kp_str_eq(kp_http_router_host(KP_STR("a.test")), KP_STR("a.test")));
}
END_TEST

/* --- on a loaded configuration ------------------------------------------------------------ */

static char dir[64];
static struct kp_cycle *cycle;

static const char *CONF =
    "events { }\n"
    "http {\n"
    "  server { listen 127.0.0.1:1; server_name first.test; }\n"
    "  server { listen 127.0.0.1:1 default_server; server_name dflt.test; }\n"
    "  server { listen 127.0.0.1:1; server_name exact.test *.wild.test; }\n"
    "  server { listen 127.0.0.1:1; server_name *.deep.wild.test .dot.test; }\n"
    "  server { listen 127.0.0.1:1; server_name a.deep.*; }\n"
    "  server { listen 127.0.0.1:1; server_name mail.* mail.example.*; }\n"
    "  server { listen 127.0.0.1:1; server_name site.test; root /nonexistent;\n"
    "    error_page 404 http://example.com/404;\n"
    "    location / { return 200 root; }\n"
    "    location = /x { return 200 exact; }\n"
    "    location /x { return 200 prefix; }\n"
    "    location /x/y/ { return 418; }\n"
    "    location /r { return 308 /target; }\n"
    "    location /missing { root /nonexistent; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:2; return 404; }\n"
    "}\n";

static void load(void)
{
    char path[128], err[512];

    strcpy(dir, "/tmp/kp_router_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    strcat(dir, "/");
    snprintf(path, sizeof(path), "%skelpie.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(CONF, f);
    fclose(f);
    cycle = kp_cycle_load(dir, "kelpie.conf", NULL, err, sizeof(err));
    ck_assert_msg(cycle != NULL, "%s", err);
    unlink(path);
    rmdir(dir);
}

static void unload(void)
{
    kp_cycle_free(cycle);
}

static const struct kp_http_addr *listening(int port)
{
    for (size_t i = 0; i < cycle->n_listening; i++) {
        if (strstr(cycle->listening[i].conf.text, port == 1 ? ":1" : ":2") != NULL)
            return kp_http_addr_of(&cycle->listening[i]);
    }
    ck_abort_msg("no listening for port %d", port);
    return NULL;
}

static const char *name_of(const struct kp_http_srv_conf *srv)
{
    return srv->n_server_names > 0 ? srv->server_names[0] : "";
}

static void expect_server(const char *host, const char *name)
{
    const struct kp_http_srv_conf *srv =
        kp_http_router_server(listening(1), kp_str_from(host), NULL);
    ck_assert_msg(strcmp(name_of(srv), name) == 0, "%s went to %s, not %s", host, name_of(srv),
                  name);
}

START_TEST(server_selection)
{
    expect_server("first.test", "first.test");
    expect_server("FIRST.test.", "first.test");
    expect_server("exact.test:81", "exact.test");
    expect_server("a.wild.test", "exact.test");
    expect_server("a.deep.wild.test", "*.deep.wild.test");
    expect_server("dot.test", "*.deep.wild.test");
    expect_server("x.dot.test", "*.deep.wild.test");
    expect_server("wild.test", "dflt.test");
    /* A trailing wildcard only when no leading one matches; the longest. */
    expect_server("a.deep.example", "a.deep.*");
    expect_server("mail.example.org", "mail.*");
    expect_server("mail.test", "mail.*");
    expect_server("other", "dflt.test");
    expect_server("", "dflt.test");
    /* One server on an address: no name is looked at. */
    const struct kp_http_addr *addr = listening(2);
    ck_assert_ptr_eq(kp_http_router_server(addr, KP_STR("whatever"), NULL), addr->default_server);
}
END_TEST

/* A request parsed from raw, routed on port 1. */
struct req {
    struct kp_http_request *r;
    char raw[256];
};

static int route(struct req *q, const char *raw, int port)
{
    struct kp_http_request *r = q->r = calloc(1, sizeof(*r));
    snprintf(q->raw, sizeof(q->raw), "%s", raw);
    kp_arena_init(&r->arena, 1024);
    kp_http_response_init(&r->resp);
    kp_http_parse_init(&r->parser, NULL, r->fields, KP_HTTP_MAX_FIELDS);
    ck_assert_int_gt(kp_http_parse_request(&r->parser, q->raw, strlen(q->raw)), 0);
    return kp_http_handler_route(r, listening(port));
}

static void req_free(struct req *q)
{
    kp_arena_destroy(&q->r->arena);
    free(q->r);
}

/* The `return` body chosen for a path on site.test. */
static void expect_location(const char *path, const char *body)
{
    struct req q;
    char raw[200];

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: site.test\r\n\r\n", path);
    ck_assert_int_eq(route(&q, raw, 1), 0);
    kp_http_handler_run(q.r);
    ck_assert_int_eq(q.r->resp.status, 200);
    ck_assert_msg(kp_str_eq(q.r->resp.body, kp_str_from(body)), "%s: got %.*s, want %s", path,
                  (int)q.r->resp.body.len, q.r->resp.body.p, body);
    req_free(&q);
}

START_TEST(location_selection)
{
    expect_location("/", "root");
    expect_location("/x", "exact");
    expect_location("/x?a=b", "exact");
    expect_location("/x/", "prefix");
    expect_location("/xyz", "prefix");
    expect_location("/x/y", "prefix");
    expect_location("/y/../x", "exact");
    expect_location("/%78", "exact"); /* decoded before matching */
}
END_TEST

START_TEST(route_normalises)
{
    struct req q;

    ck_assert_int_eq(route(&q, "GET /a//b/./c/../d?q=%20 HTTP/1.1\r\nHost: site.test\r\n\r\n", 1),
                     0);
    ck_assert(kp_str_eq(q.r->uri, KP_STR("/a/b/d")));
    ck_assert_int_eq(q.r->uri.p[q.r->uri.len], '\0');
    ck_assert(kp_str_eq(q.r->args, KP_STR("q=%20")));
    ck_assert_str_eq(name_of(q.r->srv), "site.test");
    req_free(&q);
    ck_assert_int_eq(route(&q, "GET /../x HTTP/1.1\r\nHost: site.test\r\n\r\n", 1), 400);
    ck_assert_ptr_nonnull(q.r->srv);
    ck_assert_ptr_eq(q.r->loc, q.r->srv->loc);
    req_free(&q);
    /* OPTIONS * has no path: the server level, and 405 from static. */
    ck_assert_int_eq(route(&q, "OPTIONS * HTTP/1.1\r\nHost: dflt.test\r\n\r\n", 1), 0);
    ck_assert_ptr_eq(q.r->loc, q.r->srv->loc);
    kp_http_handler_run(q.r);
    ck_assert_int_eq(q.r->resp.status, 405);
    ck_assert(kp_str_eq(q.r->resp.allow, KP_STR("GET, HEAD")));
    ck_assert(kp_str_eq(q.r->resp.content_type, KP_STR("text/html")));
    req_free(&q);
}
END_TEST

START_TEST(return_and_pages)
{
    struct req q;

    /* A redirect keeps its relative URL and gets the built-in page. */
    ck_assert_int_eq(route(&q, "GET /r HTTP/1.1\r\nHost: site.test\r\n\r\n", 1), 0);
    kp_http_handler_run(q.r);
    ck_assert_int_eq(q.r->resp.status, 308);
    ck_assert(kp_str_eq(q.r->resp.location, KP_STR("/target")));
    ck_assert_ptr_nonnull(strstr(q.r->resp.body.p, "308 Permanent Redirect"));
    req_free(&q);
    /* An unregistered code without text: no page, empty body. */
    ck_assert_int_eq(route(&q, "GET /x/y/z HTTP/1.1\r\nHost: site.test\r\n\r\n", 1), 0);
    kp_http_handler_run(q.r);
    ck_assert_int_eq(q.r->resp.status, 418);
    ck_assert_uint_eq(q.r->resp.body.len, 0);
    req_free(&q);
    /* error_page to a URL: 302 with Location. */
    ck_assert_int_eq(route(&q, "GET /missing/f HTTP/1.1\r\nHost: site.test\r\n\r\n", 1), 0);
    kp_http_handler_run(q.r);
    ck_assert_int_eq(q.r->resp.status, 302);
    ck_assert(kp_str_eq(q.r->resp.location, KP_STR("http://example.com/404")));
    req_free(&q);
    /* A server-level return beats the locations; errors outside handlers. */
    ck_assert_int_eq(route(&q, "GET /x HTTP/1.1\r\nHost: any\r\n\r\n", 2), 0);
    kp_http_handler_run(q.r);
    ck_assert_int_eq(q.r->resp.status, 404);
    ck_assert_ptr_nonnull(strstr(q.r->resp.body.p, "<title>404 Not Found</title>"));
    kp_http_handler_error(q.r, 413);
    ck_assert_int_eq(q.r->resp.status, 413);
    ck_assert(kp_str_eq(q.r->resp.content_type, KP_STR("text/html")));
    req_free(&q);
}
END_TEST

Suite *kp_test_router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("names");
    TCase *conf = tcase_create("configured");

    tcase_add_test(tc, name_matching);
    tcase_add_test(tc, name_ranking);
    tcase_add_test(tc, name_conflicts);
    tcase_add_test(tc, host_normalisation);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(conf, load, unload);
    tcase_add_test(conf, server_selection);
    tcase_add_test(conf, location_selection);
    tcase_add_test(conf, route_normalises);
    tcase_add_test(conf, return_and_pages);
    suite_add_tcase(s, conf);
    return s;
}
