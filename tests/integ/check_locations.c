/* Named locations, `internal`, error_page targets and internal redirects
 * against the real binary, as nginx documents them: try_files ... @name,
 * error_page CODE [=[CODE]] @name|URI (the target's own redirect or error
 * is what is sent; a redirect's Location survives its error page), an
 * external request to an internal location is 404, an index (absolute, or
 * a relative name found in the directory) is an internal redirect that the
 * location of the new URI answers, and redirect cycles end at 10 with 500; nested
 * locations are searched as nginx's tree and inherit their parent's
 * settings. One server, one table of {request, status, Location, body}. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *CONF =
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    root html;\n"
    "    location /tf/ { try_files $uri @fallback; }\n"
    "    location @fallback { return 200 \"fallback $uri\"; }\n"
    "    location /eq/ { error_page 404 = @answer; }\n"
    "    location @answer { return 202 \"answer $uri\"; }\n"
    "    location /keep/ { error_page 404 @answer; }\n"
    "    location /code/ { error_page 404 =200 @answer; }\n"
    "    location /named-static/ { error_page 404 = @static; }\n"
    "    location @static { rewrite ^ /pages/found.html break; }\n"
    "    location /moved/ { error_page 404 /gone; }\n"
    "    location = /gone { return 301 /elsewhere; }\n"
    "    location /missing-page/ { error_page 404 /pages/none.html; }\n"
    "    location = /old { error_page 302 /pages/found.html; return 302 /new; }\n"
    "    location /private/ { internal; }\n"
    "    location /hidden/ { error_page 404 /private/404.html; }\n"
    "    location /cycle/ { try_files /none @a; }\n"
    "    location @a { try_files /none @b; }\n"
    "    location @b { try_files /none @a; }\n"
    "    location /lost/ { try_files /none @nowhere; }\n"
    "    location /absidx/ { index /target; }\n"
    "    location = /target { return 200 \"target $uri $args\"; }\n"
    "    location /idxloop/ { index /idxloop/; }\n"
    "    location /ridx/ { index index.html; }\n"
    "    location = /ridx/index.html { return 200 \"exact $uri $args\"; }\n"
    "    location /php/ { index index.php index.html; }\n"
    "    location ~ \\.php$ { return 200 \"php $uri\"; }\n"
    "    location /rloop/ { index index.html; }\n"
    "    location = /rloop/index.html { rewrite ^ /rloop/ last; }\n"
    "    location /plain/ { index none.html index.html; add_header X-Uri $uri; }\n"
    "    location /n/ { root nroot; error_page 404 =200 @answer;\n"
    "        location /n/in/ { return 200 \"inner $uri\"; }\n"
    "        location ~ \\.nx$ { return 200 \"nested regex $uri\"; }\n"
    "        location /n/files/ { }\n"
    "    }\n"
    "    location ~ \\.nx$ { return 200 \"server regex $uri\"; }\n"
    "}\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/tf/here.txt", "here\n");
    kp_h_write(s, "html/pages/found.html", "found page\n");
    kp_h_write(s, "html/private/404.html", "private 404\n");
    kp_h_write(s, "html/private/p.html", "private\n");
    kp_h_write(s, "html/absidx/index.html", "relative index\n");
    kp_h_write(s, "html/idxloop/index.html", "never\n");
    kp_h_write(s, "html/ridx/index.html", "never\n");
    kp_h_write(s, "html/php/index.php", "never\n");
    kp_h_write(s, "html/php/index.html", "never\n");
    kp_h_write(s, "html/rloop/index.html", "never\n");
    kp_h_write(s, "html/plain/index.html", "plain index\n");
    kp_h_write(s, "nroot/n/files/f.html", "nested file\n");
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

struct lcase {
    const char *target;
    int status;
    const char *location, *body; /* NULL: not checked; location "" must be absent */
};

static const struct lcase CASES[] = {
    /* try_files' last argument names a location */
    {"/tf/here.txt", 200, NULL, "here\n"},
    {"/tf/none", 200, NULL, "fallback /tf/none"},
    /* error_page to a named location: "=" takes its status, =CODE sets it,
     * no '=' keeps the original code */
    {"/eq/none", 202, NULL, "answer /eq/none"},
    {"/keep/none", 404, NULL, "answer /keep/none"},
    {"/code/none", 200, NULL, "answer /code/none"},
    {"/named-static/none", 200, NULL, "found page\n"},
    /* the target's own redirect is the answer, with its Location */
    {"/moved/none", 301, "/elsewhere", NULL},
    /* the target's own error is sent with the built-in page */
    {"/missing-page/none", 404, "", NULL},
    /* a redirect whose code has an error page keeps its Location */
    {"/old", 302, "/new", "found page\n"},
    /* internal: 404 from outside, served to an internal redirect */
    {"/private/p.html", 404, "", NULL},
    {"/hidden/none", 404, NULL, "private 404\n"},
    /* cycles and a named location that does not exist: 500 */
    {"/cycle/x", 500, NULL, NULL},
    {"/lost/x", 500, NULL, NULL},
    /* an absolute index redirects internally, keeping the arguments */
    {"/absidx/?a=1", 200, NULL, "target /target a=1"},
    {"/idxloop/", 500, NULL, NULL},
    /* a relative index that exists: an internal redirect to URI + name,
     * answered by that URI's location (exact, regex), arguments kept */
    {"/ridx/?q=2", 200, NULL, "exact /ridx/index.html q=2"},
    {"/php/", 200, NULL, "php /php/index.php"},
    {"/plain/", 200, NULL, "plain index\n"},
    {"/rloop/", 500, NULL, NULL},
    /* nested locations: the inner prefix, the inner regex before the
     * server's, and the parent's root and error_page inherited */
    {"/n/in/a", 200, NULL, "inner /n/in/a"},
    {"/n/a.nx", 200, NULL, "nested regex /n/a.nx"},
    {"/b.nx", 200, NULL, "server regex /b.nx"},
    {"/n/files/f.html", 200, NULL, "nested file\n"},
    {"/n/files/none", 200, NULL, "answer /n/files/none"},
};

static void check_case(const struct kp_h_server *s, const struct lcase *c)
{
    char origin[64];

    snprintf(origin, sizeof(origin), "http://loc.test:%d", s->port);
    char raw[512];
    struct kp_h_resp r;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: loc.test\r\n\r\n", c->target);
    ck_assert_msg(kp_h_request(s->port, raw, &r) == 0, "no response to %s", c->target);
    ck_assert_msg(r.status == c->status, "%s: status %d, want %d", c->target, r.status, c->status);
    const char *l = kp_h_header(&r, "Location");
    if (c->location != NULL && c->location[0] == '\0')
        ck_assert_msg(l == NULL, "%s: Location %s, want none", c->target, l);
    else if (c->location != NULL) {
        char want[256]; /* a path: absolute_redirect puts the origin in front */
        snprintf(want, sizeof(want), "%s%s", c->location[0] == '/' ? origin : "", c->location);
        ck_assert_msg(l != NULL && strcmp(l, want) == 0, "%s: Location %s, want %s", c->target,
                      l ? l : "(none)", want);
    }
    if (c->body != NULL)
        ck_assert_msg(r.body != NULL && strcmp(r.body, c->body) == 0, "%s: body %s, want %s",
                      c->target, r.body ? r.body : "(none)", c->body);
    kp_h_resp_free(&r);
}

static bool cycle_logged(void *arg)
{
    const struct kp_h_server *s = arg;
    char *text = kp_h_read(s, "logs/error.log");
    bool found = text != NULL &&
                 strstr(text, "rewrite or internal redirection cycle while redirect to named "
                              "location \"/cycle/x\"") != NULL &&
                 strstr(text, "could not find named location \"@nowhere\"") != NULL &&
                 strstr(text, "rewrite or internal redirection cycle while internally "
                              "redirecting to \"/rloop/index.html\"") != NULL;

    free(text);
    return found;
}

START_TEST(locations_table)
{
    struct kp_h_server s;

    start(&s);
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
        check_case(&s, &CASES[i]);
    /* after the index's redirect, $uri is the file's URI, as in nginx */
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_request(s.port, "GET /plain/ HTTP/1.1\r\nHost: loc.test\r\n\r\n", &r), 0);
    ck_assert_str_eq(kp_h_header(&r, "X-Uri"), "/plain/index.html");
    kp_h_resp_free(&r);
    ck_assert(kp_h_wait_until(cycle_logged, &s, 5000));
    kp_h_stop(&s);
}
END_TEST

/* absolute_redirect, port_in_redirect, server_name_in_redirect: every
 * Location that is a path (directory slash, return, rewrite, and the
 * target of an error_page, see /moved/ above)
 * gets scheme://host[:port] in front unless absolute_redirect is off; the
 * host is the Host without its port, or the first server_name, or (no Host)
 * the address the connection came in on; the Host is lower-cased, as
 * nginx's. */
static const char *REDIRECT_CONF =
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    server_name primary.test other.test;\n"
    "    root html;\n"
    "    location = /ret { return 301 /target?a=1; }\n"
    "    location = /rw { rewrite ^ /rewritten redirect; }\n"
    "    location /off/ { absolute_redirect off; }\n"
    "    location = /off/ret { absolute_redirect off; return 302 /rel; }\n"
    "    location /noport/ { port_in_redirect off; }\n"
    "    location /sn/ { server_name_in_redirect on; }\n"
    "    location = /abs { return 302 http://example.com/x; }\n"
    "}\n";

struct rcase {
    const char *raw;
    int status;
    const char *location; /* "@P@" stands for the port */
};

static const struct rcase REDIRECTS[] = {
    {"GET /ret HTTP/1.1\r\nHost: Other.test:@P@\r\n\r\n", 301, "http://other.test:@P@/target?a=1"},
    {"GET /rw HTTP/1.1\r\nHost: a.test\r\n\r\n", 302, "http://a.test:@P@/rewritten"},
    {"GET /d HTTP/1.1\r\nHost: a.test\r\n\r\n", 301, "http://a.test:@P@/d/"},
    {"GET /ret HTTP/1.0\r\n\r\n", 301, "http://127.0.0.1:@P@/target?a=1"},
    {"GET /off/d HTTP/1.1\r\nHost: a.test\r\n\r\n", 301, "/off/d/"},
    {"GET /off/ret HTTP/1.1\r\nHost: a.test\r\n\r\n", 302, "/rel"},
    {"GET /noport/d HTTP/1.1\r\nHost: a.test\r\n\r\n", 301, "http://a.test/noport/d/"},
    {"GET /sn/d HTTP/1.1\r\nHost: a.test\r\n\r\n", 301, "http://primary.test:@P@/sn/d/"},
    {"GET /abs HTTP/1.1\r\nHost: a.test\r\n\r\n", 302, "http://example.com/x"},
};

/* tmpl with each "@P@" replaced by port. */
static void with_port(char *out, size_t size, const char *tmpl, int port)
{
    const char *at = strstr(tmpl, "@P@");

    if (at == NULL) {
        snprintf(out, size, "%s", tmpl);
        return;
    }
    snprintf(out, size, "%.*s%d%s", (int)(at - tmpl), tmpl, port, at + 3);
}

START_TEST(redirect_composition)
{
    struct kp_h_server s;

    kp_h_prepare(&s);
    kp_h_write(&s, "html/d/f", "");
    kp_h_write(&s, "html/off/d/f", "");
    kp_h_write(&s, "html/noport/d/f", "");
    kp_h_write(&s, "html/sn/d/f", "");
    kp_h_config(&s, "master_process off;", REDIRECT_CONF);
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    for (size_t i = 0; i < sizeof(REDIRECTS) / sizeof(REDIRECTS[0]); i++) {
        const struct rcase *c = &REDIRECTS[i];
        char raw[256], want[256];
        struct kp_h_resp r;
        with_port(raw, sizeof(raw), c->raw, s.port);
        with_port(want, sizeof(want), c->location, s.port);
        ck_assert_msg(kp_h_request(s.port, raw, &r) == 0, "no response to %s", raw);
        ck_assert_msg(r.status == c->status, "%s: status %d", raw, r.status);
        const char *l = kp_h_header(&r, "Location");
        ck_assert_msg(l != NULL && strcmp(l, want) == 0, "%s: Location %s, want %s", raw,
                      l ? l : "(none)", want);
        kp_h_resp_free(&r);
    }
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_locations_suite(void)
{
    Suite *s = suite_create("locations");
    TCase *tc = tcase_create("locations");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, locations_table);
    tcase_add_test(tc, redirect_composition);
    suite_add_tcase(s, tc);
    return s;
}
