/* The rewrite module and map against the real binary, as nginx documents
 * them: rewrite flags (last, break, redirect, permanent, none), absolute
 * replacements, argument handling ('?' at the end), set, if with each kind
 * of condition and the block's own settings, return inside if, server-level
 * rewrites, captures of an encoded path encoded again, a rewritten URI with "//", if against ""
 * (spaces inside the parentheses too), the cycle cut at 10 with 500, map (exact, regex with
 * captures, hostnames, default, volatile, entries from an included file, with includes nested),
 * rewrite_log, and the variables in the access log. One server, one table of {request, status,
 * Location, body, field}. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *CONF =
    "log_format rw '$uri|$args|$kind|$request_uri';\n"
    "map $http_x_kind $kind {\n"
    "    default none;\n"
    "    bee b;\n"
    "    \\default literal-default;\n"
    "    ~^a(?<num>\\d+)$ a-$num;\n"
    "    ~*^CASE$ caseless;\n"
    "}\n"
    "map $host $site { hostnames; *.wild.test wild; .dot.test dot; www.* www; exact.test exact; "
    "default other; }\n"
    "map $http_x_inc $inc { default none; include maps/inc.map; last after-include; }\n"
    "map $uri $kept { default $uri; }\n"
    "map $uri $fresh { volatile; default $uri; }\n"
    "map $http_x_ma $ma { default $mb; v direct; }\n"
    "map $http_x_mb $mb { default \"<$ma>\"; }\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    root html;\n"
    "    rewrite_log on;\n"
    "    access_log logs/rw.log rw;\n"
    "    rewrite ^/srv/(.*)$ /new/$1 last;\n"
    "    if ($http_x_server = deny) { return 403 \"server if\"; }\n"
    "    location /old/ { rewrite ^/old/(.*)$ /new/$1 permanent; }\n"
    "    location /tmp/ { rewrite ^/tmp/(.*)$ /new/$1 redirect; }\n"
    "    location /abs/ { rewrite ^ https://example.com/x?y=1; }\n"
    "    location /scheme/ { rewrite ^/scheme/(.*) $scheme://$host/$1?; }\n"
    "    location /drop/ { rewrite ^ /show? last; }\n"
    "    location /add/ { rewrite ^/add/(.*)$ /show?a=$1 last; }\n"
    "    location /brk/ { rewrite ^/brk/(.*)$ /new/$1 break; return 200 never; }\n"
    "    location /last/ { rewrite ^/last/(.*)$ /new/$1 last; return 200 never; }\n"
    "    location /none/ { rewrite ^/none/(.*)$ /new/$1; rewrite ^/new/(.*)$ /show?n=$1; }\n"
    "    location /loop/ { rewrite ^/loop/(.*)$ /loop/x$1 last; }\n"
    "    location = /show { return 200 \"uri=$uri args=$args\"; }\n"
    "    location /set/ { set $a hello; set $b \"$a-$arg_q\"; return 200 \"$b\"; }\n"
    "    location /stop/ { set $a 1; break; set $a 2; return 200 never; }\n"
    "    location /map/ { return 200 \"$kind|$site\"; }\n"
    "    location /inc/ { return 200 \"$inc\"; }\n"
    "    location /mm/ { return 200 \"[$ma]\"; }\n"
    "    location /vol/ {\n"
    "        set $before \"$kept $fresh\";\n"
    "        rewrite ^ /changed;\n"
    "        return 200 \"$before, $kept $fresh\";\n"
    "    }\n"
    "    location /if/ {\n"
    "        if ($arg_x) { return 200 \"x set\"; }\n"
    "        if ($arg_y = \"two\") { return 201 \"y is two\"; }\n"
    "        if ($arg_y != \"one\") { add_header X-Not-One yes; }\n"
    "        if ($http_user_agent ~* ^(curl|wget)/(?<v>\\d+)) { add_header X-UA \"$1 $v\"; }\n"
    "        if ($uri !~ \\.txt$) { return 200 \"not txt\"; }\n"
    "        if (!-f $request_filename) { return 404 \"no such file\"; }\n"
    "    }\n"
    "    location /files/ {\n"
    "        if (-d $request_filename) { return 200 dir; }\n"
    "        if (-e $request_filename) { return 200 exists; }\n"
    "        if (!-e $request_filename) { return 200 missing; }\n"
    "    }\n"
    "    location /cap/ { rewrite ^(.*)$ /show?c=$1; }\n"
    "    location /capr/ { rewrite ^/capr/(.*)$ /to/$1 redirect; }\n"
    "    location /capa/ { rewrite ^/capa/(.*)$ /to?x=$1 redirect; }\n"
    "    location /varq/ { rewrite ^ /shw$uri last; }\n"
    "    location /shw/ { return 200 \"uri=$uri args=$args\"; }\n"
    "    location /pfx/ { set $http_x_who \"set\"; return 200 \"[$http_x_who][$arg_k]\"; }\n"
    "    location /pfx2/ { set $arg_k \"k-$arg_k\"; return 200 \"[$http_x_who][$arg_k]\"; }\n"
    "    location /unset/ { if ($arg_x) { set $nv 1; } return 200 \"[$nv][$nv]\"; }\n"
    "    location /quiet/ { uninitialized_variable_warn off;\n"
    "                       if ($arg_x) { set $nq 1; } return 200 \"[$nq]\"; }\n"
    "    location /dbl/ { rewrite ^/dbl(.*)$ /new/$1 last; }\n"
    "    location /empty/ {\n"
    "        if ($arg_e = \"\") { return 200 \"e empty\"; }\n"
    "        if ( $arg_e != \"\" ) { return 200 \"e=$arg_e\"; }\n"
    "    }\n"
    "    location /ifroot/ { if ($arg_alt) { root html/alt; } }\n"
    "    location /idx/ { index $arg_i index.html; }\n"
    "    location /ep/ { error_page 404 /errors/$arg_p.html; }\n"
    "}\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT2@;\n"
    "    server_name ~^(?<sub>[a-z]+)\\.regex\\.test$ ~^www\\.(\\w+)\\.test$;\n"
    "    root html/sites/$sub;\n"
    "    location /cap/ { return 200 \"sub=$sub 1=$1 root=$document_root\"; }\n"
    "}\n"
    "server { listen 127.0.0.1:@PORT2@; server_name plain.test *.plain.test; return 200 plain; }\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/new/page.html", "new page\n");
    kp_h_write(s, "html/if/a.txt", "a text\n");
    kp_h_write(s, "html/files/f.txt", "f");
    kp_h_write(s, "html/files/d/x", "x");
    kp_h_write(s, "html/ifroot/p.txt", "main\n");
    kp_h_write(s, "html/alt/ifroot/p.txt", "alt\n");
    kp_h_write(s, "html/sites/abc/f.txt", "abc site\n");
    kp_h_write(s, "html/idx/index.html", "main index\n");
    kp_h_write(s, "html/idx/alt.html", "alt index\n");
    kp_h_write(s, "html/secret.html", "secret\n");
    kp_h_write(s, "html/errors/custom.html", "custom page\n");
    /* map entries from a file, one of them from a file it includes (paths
     * relative to the configuration's directory, as nginx) */
    kp_h_write(s, "conf/maps/inc.map",
               "# a comment\nfirst from-file;\n~^re(\\d+)$ re-$1;\n"
               "include maps/more.map;\n");
    kp_h_write(s, "conf/maps/more.map", "nested \"from nested file\";\n");
    kp_h_config(s, "master_process off; pcre_jit on;", CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

struct rcase {
    const char *target, *extra; /* request target, extra header lines */
    int status;
    const char *location, *body; /* NULL: not checked */
    const char *field, *value;   /* a response field, NULL: none */
};

static const struct rcase CASES[] = {
    /* flags */
    {"/old/a?z=1", "", 301, "/new/a?z=1", NULL, NULL, NULL},
    {"/tmp/b", "", 302, "/new/b", NULL, NULL, NULL},
    {"/abs/q?k=v", "", 302, "https://example.com/x?y=1&k=v", NULL, NULL, NULL},
    {"/scheme/p?k=v", "", 302, "http://rw.test/p", NULL, NULL, NULL},
    {"/brk/page.html", "", 200, NULL, "new page\n", NULL, NULL},
    {"/last/page.html", "", 200, NULL, "new page\n", NULL, NULL},
    {"/none/page.html?k=v", "", 200, NULL, "uri=/show args=n=page.html&k=v", NULL, NULL},
    {"/srv/page.html", "", 200, NULL, "new page\n", NULL, NULL},
    /* arguments */
    {"/drop/?q=1", "", 200, NULL, "uri=/show args=", NULL, NULL},
    {"/add/zz?b=2", "", 200, NULL, "uri=/show args=a=zz&b=2", NULL, NULL},
    {"/loop/a", "", 500, NULL, NULL, NULL, NULL},
    /* set on a prefix family's name: its value once set, else the field's
     * or argument's, as nginx */
    {"/pfx/?k=1", "X-Who: hdr\r\n", 200, NULL, "[set][1]", NULL, NULL},
    {"/pfx2/?k=1", "X-Who: hdr\r\n", 200, NULL, "[hdr][k-1]", NULL, NULL},
    /* a capture of a path that came encoded is encoded again in arguments
     * and redirects; only the template's own '?' starts the arguments */
    {"/cap/%25?a=b", "", 200, NULL, "uri=/show args=c=/cap/%25&a=b", NULL, NULL},
    {"/cap/a+b", "", 200, NULL, "uri=/show args=c=/cap/a%2Bb", NULL, NULL},
    {"/cap/plain", "", 200, NULL, "uri=/show args=c=/cap/plain", NULL, NULL},
    {"/capr/a%20b%3F%26c", "", 302, "/to/a%20b?%26c", NULL, NULL, NULL},
    {"/capa/a%20b%3F%26c", "", 302, "/to?x=a%20b%3F%26c", NULL, NULL, NULL},
    {"/varq/a%3Fb?q", "", 200, NULL, "uri=/shw/varq/a?b args=q", NULL, NULL},
    /* set, break */
    {"/set/?q=9", "", 200, NULL, "hello-9", NULL, NULL},
    {"/stop/", "", 404, NULL, NULL, NULL, NULL},
    /* if */
    {"/if/a.txt?x=1", "", 200, NULL, "x set", NULL, NULL},
    {"/if/a.txt?x=0", "", 200, NULL, "a text\n", "X-Not-One", "yes"},
    {"/if/a.txt?y=two", "", 201, NULL, "y is two", NULL, NULL},
    {"/if/a.txt?y=one", "User-Agent: Wget/12.1\r\n", 200, NULL, "a text\n", "X-UA", "Wget 12"},
    {"/if/b.html", "", 200, NULL, "not txt", NULL, NULL},
    {"/if/b.txt", "", 404, NULL, "no such file", NULL, NULL},
    {"/files/d", "", 200, NULL, "dir", NULL, NULL},
    {"/files/f.txt", "", 200, NULL, "exists", NULL, NULL},
    {"/files/g.txt", "", 200, NULL, "missing", NULL, NULL},
    {"/dbl/page.html", "", 200, NULL, "new page\n", NULL, NULL}, /* /new//page.html */
    {"/empty/", "", 200, NULL, "e empty", NULL, NULL},
    {"/empty/?e=", "", 200, NULL, "e empty", NULL, NULL},
    {"/empty/?e=3", "", 200, NULL, "e=3", NULL, NULL},
    {"/ifroot/p.txt", "", 200, NULL, "main\n", NULL, NULL},
    {"/ifroot/p.txt?alt=1", "", 200, NULL, "alt\n", NULL, NULL},
    {"/x", "X-Server: deny\r\n", 403, NULL, "server if", NULL, NULL},
    /* map */
    {"/map/", "X-Kind: bee\r\nHost: www.example.test\r\n", 200, NULL, "b|www", NULL, NULL},
    {"/map/", "X-Kind: BEE\r\nHost: a.wild.test\r\n", 200, NULL, "b|wild", NULL, NULL},
    {"/map/", "X-Kind: a42\r\nHost: dot.test\r\n", 200, NULL, "a-42|dot", NULL, NULL},
    {"/map/", "X-Kind: case\r\nHost: exact.test.\r\n", 200, NULL, "caseless|exact", NULL, NULL},
    {"/map/", "X-Kind: default\r\nHost: b.dot.test\r\n", 200, NULL, "literal-default|dot", NULL,
     NULL},
    {"/map/", "Host: other.test\r\n", 200, NULL, "none|other", NULL, NULL},
    {"/inc/", "X-Inc: first\r\n", 200, NULL, "from-file", NULL, NULL},
    {"/inc/", "X-Inc: re7\r\n", 200, NULL, "re-7", NULL, NULL},
    {"/inc/", "X-Inc: nested\r\n", 200, NULL, "from nested file", NULL, NULL},
    {"/inc/", "X-Inc: last\r\n", 200, NULL, "after-include", NULL, NULL},
    {"/inc/", "X-Inc: other\r\n", 200, NULL, "none", NULL, NULL},
    /* index and error_page with variables */
    {"/idx/?i=alt.html", "", 200, NULL, "alt index\n", NULL, NULL},
    {"/idx/", "", 200, NULL, "main index\n", NULL, NULL},
    {"/idx/?i=../secret.html", "", 200, NULL, "main index\n", NULL, NULL},
    {"/ep/none?p=custom", "", 404, NULL, "custom page\n", NULL, NULL},
    /* a map's value is kept for the request unless the map is volatile */
    {"/vol/", "", 200, NULL, "/vol/ /vol/, /vol/ /changed", NULL, NULL},
};

static void check_case(const struct kp_h_server *s, const struct rcase *c)
{
    char origin[64];

    snprintf(origin, sizeof(origin), "http://rw.test:%d", s->port);
    char raw[1024];
    struct kp_h_resp r;
    bool host = strstr(c->extra, "Host:") != NULL;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\n%s%s\r\n", c->target,
             host ? "" : "Host: rw.test\r\n", c->extra);
    ck_assert_msg(kp_h_request(s->port, raw, &r) == 0, "no response to %s", c->target);
    ck_assert_msg(r.status == c->status, "%s: status %d, want %d", c->target, r.status, c->status);
    if (c->location != NULL) {
        const char *l = kp_h_header(&r, "Location");
        char want[256]; /* a path: absolute_redirect puts the origin in front */
        snprintf(want, sizeof(want), "%s%s", c->location[0] == '/' ? origin : "", c->location);
        ck_assert_msg(l != NULL && strcmp(l, want) == 0, "%s: Location %s, want %s", c->target,
                      l ? l : "(none)", want);
    }
    if (c->body != NULL)
        ck_assert_msg(r.body != NULL && strcmp(r.body, c->body) == 0, "%s: body %s, want %s",
                      c->target, r.body ? r.body : "(none)", c->body);
    if (c->field != NULL) {
        const char *v = kp_h_header(&r, c->field);
        ck_assert_msg(v != NULL && strcmp(v, c->value) == 0, "%s: %s %s, want %s", c->target,
                      c->field, v ? v : "(none)", c->value);
    }
    kp_h_resp_free(&r);
}

/* server_name ~REGEX: chosen after exact names and wildcards, against the
 * lowercase host; its captures are variables (root /sites/$sub). */
START_TEST(regex_server_names)
{
    static const struct {
        const char *host, *path, *body, *root; /* root: after the prefix, at the end */
    } cases[] = {
        {"abc.regex.test", "/cap/", "sub=abc 1=abc root=", "html/sites/abc"},
        {"ABC.Regex.Test.", "/f.txt", "abc site\n", ""},
        {"www.xyz.test", "/cap/", "sub= 1=xyz root=", "html/sites/"},
        {"plain.test", "/cap/", "plain", ""},
        {"a.plain.test", "/cap/", "plain", ""},
    };
    struct kp_h_server s;
    char raw[512], want[512];
    struct kp_h_resp r;

    start(&s);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", cases[i].path,
                 cases[i].host);
        snprintf(want, sizeof(want), "%s%s%s", cases[i].body, cases[i].root[0] ? s.prefix : "",
                 cases[i].root);
        ck_assert_int_eq(kp_h_request(s.port2, raw, &r), 0);
        ck_assert_msg(r.body != NULL && strcmp(r.body, want) == 0, "%s%s: %s, want %s",
                      cases[i].host, cases[i].path, r.body ? r.body : "(none)", want);
        kp_h_resp_free(&r);
    }
    kp_h_stop(&s);
}
END_TEST

START_TEST(rewrite_table)
{
    struct kp_h_server s;

    start(&s);
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
        check_case(&s, &CASES[i]);
    kp_h_stop(&s);
}
END_TEST

static bool log_has(void *arg)
{
    const struct kp_h_server *s = arg;
    char *text = kp_h_read(s, "logs/error.log");
    bool found = text != NULL && strstr(text, "rewrite or internal redirection cycle") != NULL;

    free(text);
    return found;
}

/* The cycle is logged; rewrite_log logs the matches; the access log sees
 * the URI and arguments as rewritten, $request_uri as sent. */
START_TEST(rewrite_logs)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(
        kp_h_request(s.port, "GET /add/q?b=1 HTTP/1.1\r\nHost: h\r\nX-Kind: bee\r\n\r\n", &r), 0);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, "GET /loop/a HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, "GET /tmp/b HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, "GET /quiet/ HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    ck_assert_str_eq(r.body, "[]");
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, "GET /unset/ HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    ck_assert_str_eq(r.body, "[][]");
    kp_h_resp_free(&r);
    /* Two maps that name each other: the cycle is cut and logged, and the
     * worker goes on answering. */
    ck_assert_int_eq(kp_h_request(s.port, "GET /mm/ HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strncmp(r.body, "[<", 2) == 0, "%s", r.body);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, "GET /mm/ HTTP/1.1\r\nHost: h\r\nX-Ma: v\r\n\r\n", &r),
                     0);
    ck_assert_str_eq(r.body, "[direct]");
    kp_h_resp_free(&r);
    ck_assert(kp_h_wait_until(log_has, &s, 5000));
    char *err = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(strstr(err, "cycle while evaluating variable \"m"));
    /* nginx's words and the request's context */
    const char *cycle =
        strstr(err, "rewrite or internal redirection cycle while processing \"/loop/x");
    ck_assert_ptr_nonnull(cycle);
    const char *eol = strchr(cycle, '\n');
    const char *ctx = strstr(cycle, "\", client: 127.0.0.1, server: ");
    ck_assert_msg(ctx != NULL && (eol == NULL || ctx < eol), "%s", cycle);
    ck_assert_ptr_nonnull(strstr(err, "[notice]"));
    ck_assert_ptr_nonnull(strstr(err, "\"^/add/(.*)$\" matches \"/add/q\", client: 127.0.0.1"));
    /* nginx's other rewrite_log lines: a miss, the rewritten URI and
     * arguments, and a redirect's target; an if's regex too. */
    ck_assert_ptr_nonnull(strstr(err, "\"^/srv/(.*)$\" does not match \"/add/q\""));
    ck_assert_ptr_nonnull(strstr(err, "rewritten data: \"/show\", args: \"a=q&b=1\""));
    ck_assert_ptr_nonnull(strstr(err, "rewritten redirect: \"/new/b\""));
    /* A `set` variable read before any value: warned of once (unless
     * uninitialized_variable_warn off), empty. */
    ck_assert_ptr_nonnull(strstr(err, "[warn]"));
    char *first = strstr(err, "using uninitialized \"nv\" variable");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "using uninitialized \"nv\" variable"));
    ck_assert_ptr_null(strstr(err, "using uninitialized \"nq\" variable"));
    free(err);
    char *log = kp_h_read(&s, "logs/rw.log");
    ck_assert_msg(log != NULL && strstr(log, "/show|a=q&b=1|b|/add/q?b=1\n") != NULL, "%s",
                  log ? log : "(none)");
    free(log);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_rewrite_suite(void)
{
    Suite *s = suite_create("rewrite");
    TCase *tc = tcase_create("rewrite");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rewrite_table);
    tcase_add_test(tc, rewrite_logs);
    tcase_add_test(tc, regex_server_names);
    suite_add_tcase(s, tc);
    return s;
}
