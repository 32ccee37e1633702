/* Routing against the real binary: server selection by Host (exact names,
 * wildcards, default_server, unknown hosts, absolute-form targets),
 * locations (exact, the longest prefix, ^~, regexes), `return` in its forms at
 * server and location level, and error_page (a custom page, =CODE, a URL,
 * and a page that is itself missing), add_header and expires. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "kelpie/util/time.h"

#define MAIN "master_process off; pcre_jit on;"

static const char *CONF =
    "access_log off;\n"
    "server { listen 127.0.0.1:@PORT@; server_name first.test; return 200 first; }\n"
    "server { listen 127.0.0.1:@PORT@ default_server; server_name dflt.test; return 200 dflt; }\n"
    "server { listen 127.0.0.1:@PORT@; server_name exact.test www.exact.test; return 200 exact; }\n"
    "server { listen 127.0.0.1:@PORT@; server_name *.wild.test; return 200 wild; }\n"
    "server { listen 127.0.0.1:@PORT@; server_name *.deep.wild.test; return 200 deep; }\n"
    "server { listen 127.0.0.1:@PORT@; server_name ~^RE\\.TEST$ re2.test; "
    "return 200 \"re $server_name\"; }\n"
    "server { listen 127.0.0.1:@PORT@; server_name .dot.test; return 200 \"dot $server_name\"; }\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    server_name site.test;\n"
    "    root html;\n"
    "    default_type text/x-site;\n"
    "    error_page 404 /errors/404.html;\n"
    "    location = /exact { return 200 exact-location; }\n"
    "    location /exact { return 200 prefix-location; }\n"
    "    location /a/ { return 200 a; }\n"
    "    location /a/b/ { return 200 ab; }\n"
    "    location /text { return 200 \"some text\"; }\n"
    "    location /typed { default_type application/x-typed; return 201 typed; }\n"
    "    location /gone { return 410; }\n"
    "    location /okbare { return 200; }\n"
    "    location /perm { return 301 http://example.com/new; }\n"
    "    location /rel { return 307 /relative?x=1; }\n"
    "    location /bare { return https://example.com/bare; }\n"
    "    location /silent { return 444; }\n"
    "    location = /r/empty301 { return 301 \"\"; }\n"
    "    location = /r/bare302 { return 302; }\n"
    "    location = /r/var302 { return 302 $arg_to; }\n"
    "    location = /r/empty404 { return 404 \"\"; }\n"
    "    location = /r/text444 { return 444 \"go away\"; }\n"
    "    location = /r/empty444 { return 444 \"\"; }\n"
    "    location = /r/var444 { return 444 $arg_t; }\n"
    "    location = /r/info100 { return 100 hi; }\n"
    "    location = /r/info101 { return 101; }\n"
    "    location = /r/nm304 { return 304 x; }\n"
    "    location = /r/nc204 { return 204; }\n"
    "    location /eq/ { error_page 404 =200 /errors/404.html; }\n"
    "    location /url/ { error_page 404 http://example.com/notfound; }\n"
    "    location /url301/ { error_page 404 =301 http://example.com/moved; }\n"
    "    location /url200/ { error_page 404 =200 http://example.com/other; }\n"
    "    location /broken/ { error_page 404 /errors/missing.html; }\n"
    "    location ^~ /assets/ { return 200 assets; }\n"
    "    location ~* \\.(png|jpe?g)$ { return 200 image; }\n"
    "    location ~ ^/v\\d+/ { return 200 versioned; }\n"
    "    location ~ /a/b/z { return 200 regex-ab; }\n"
    "    location /tls/ { return 301 https://$host$request_uri; }\n"
    "    location /vars { return 200 \"$scheme $server_name $request_method $uri$is_args$args\"; "
    "}\n"
    "    location /move/ { return 302 /moved$uri; }\n"
    "    location ~ ^/cap/(\\w+)/(?<rest>.*)$ { return 200 \"1=$1 rest=$rest all=$0\"; }\n"
    "    location ~ \"^/(?i)CI/(?:x|y)(?=\\.txt$)\" { return 200 pcre; }\n"
    "    location ~ ^/pics/(.+)$ { alias html/images/$1; }\n"
    "}\n"
    "server { listen 127.0.0.1:@PORT2@; return 302 /elsewhere; location /x { return 200 x; } }\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    server_name hdr.test;\n"
    "    add_header X-Server-Level yes;\n"
    "    location /cached/ {\n"
    "        expires 1h;\n"
    "        add_header X-Frame-Options DENY;\n"
    "        add_header X-Always \"on, really\" always;\n"
    "    }\n"
    "    location /inherit/ { }\n"
    "    location /epoch/ { expires epoch; }\n"
    "    location /max/ { expires max; }\n"
    "    location /neg/ { expires -10s; }\n"
    "    location /daily/ { expires @15h30m; }\n"
    "    location /own/ {\n"
    "        add_header Last-Modified \"Mon, 28 Sep 1970 06:00:00 GMT\";\n"
    "        add_header ETag foo always;\n"
    "        add_header ETag '\"mine\"';\n"
    "    }\n"
    "    location /modvar/ { expires modified $arg_e; }\n"
    "    location /noetag/ { add_header ETag \"\"; add_header X-Kept yes; }\n"
    "    location /var/ { add_header X-Arg $arg_a; add_header X-Fixed yes; }\n"
    "}\n";

static void start(struct kp_h_server *s)
{
    kp_h_prepare(s);
    kp_h_write(s, "html/page.txt", "page\n");
    kp_h_write(s, "html/errors/404.html", "custom not found\n");
    const char *dirs[] = {"cached", "inherit", "epoch",  "max",    "neg",
                          "daily",  "own",     "noetag", "modvar", "var"};
    char path[64];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "html/%s/a.txt", dirs[i]);
        kp_h_write(s, path, "a\n");
    }
    kp_h_config(s, MAIN, CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

/* One request on a fresh connection; returns the status, body in r. */
static int ask(int port, const char *raw, struct kp_h_resp *r)
{
    ck_assert_msg(kp_h_request(port, raw, r) == 0, "no response to %s", raw);
    return r->status;
}

/* The body of GET path with this Host. */
static void expect_body(const struct kp_h_server *s, const char *host, const char *path,
                        const char *body)
{
    char raw[512];
    struct kp_h_resp r;

    if (host != NULL)
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    else
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.0\r\n\r\n", path);
    ask(s->port, raw, &r);
    ck_assert_msg(r.body != NULL && strcmp(r.body, body) == 0, "Host %s %s: got %s, want %s",
                  host ? host : "(none)", path, r.body ? r.body : "(null)", body);
    kp_h_resp_free(&r);
}

START_TEST(server_names)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    expect_body(&s, "first.test", "/", "first");
    expect_body(&s, "exact.test", "/", "exact");
    expect_body(&s, "WWW.Exact.TEST", "/", "exact");
    expect_body(&s, "exact.test.", "/", "exact");
    expect_body(&s, "exact.test:8080", "/", "exact");
    expect_body(&s, "a.wild.test", "/", "wild");
    expect_body(&s, "a.b.wild.test", "/", "wild");
    expect_body(&s, "x.deep.wild.test", "/", "deep"); /* the longest wildcard wins */
    expect_body(&s, "wild.test", "/", "dflt");        /* *.x does not match x itself */
    expect_body(&s, "unknown.test", "/", "dflt");
    expect_body(&s, "127.0.0.1", "/", "dflt");
    expect_body(&s, NULL, "/", "dflt");
    /* A regex name is caseless, and $server_name is the first name as
     * written: a regex with its '~', ".dot.test" without its dot (nginx). */
    expect_body(&s, "re.test", "/", "re ~^RE\\.TEST$");
    expect_body(&s, "re2.test", "/", "re ~^RE\\.TEST$");
    expect_body(&s, "a.dot.test", "/", "dot dot.test");
    expect_body(&s, "dot.test", "/", "dot dot.test");
    /* An absolute-form target names the host (RFC 9112 section 3.2.2). */
    ask(s.port, "GET http://exact.test/ HTTP/1.1\r\nHost: first.test\r\n\r\n", &r);
    ck_assert_str_eq(r.body, "exact");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(locations)
{
    struct kp_h_server s;

    start(&s);
    expect_body(&s, "site.test", "/exact", "exact-location");
    expect_body(&s, "site.test", "/exact?q=1", "exact-location");
    expect_body(&s, "site.test", "/exact/more", "prefix-location");
    expect_body(&s, "site.test", "/exactly", "prefix-location");
    expect_body(&s, "site.test", "/a/x", "a");
    expect_body(&s, "site.test", "/a/b/c", "ab");
    expect_body(&s, "site.test", "/a/b", "a");
    expect_body(&s, "site.test", "/a/./b/../b/c", "ab"); /* matched after normalising */
    expect_body(&s, "site.test", "/a%2Fb/c", "ab");
    expect_body(&s, "site.test", "/page.txt", "page\n");
    /* Regexes after the longest prefix, in config order, on the decoded path. */
    expect_body(&s, "site.test", "/a/b/x.PNG", "image");
    expect_body(&s, "site.test", "/a/b/%7A", "regex-ab");
    expect_body(&s, "site.test", "/x.jpeg?y.txt", "image");
    expect_body(&s, "site.test", "/x.png.txt", "custom not found\n");
    expect_body(&s, "site.test", "/v12/x", "versioned");
    expect_body(&s, "site.test", "/vx/x", "custom not found\n");
    expect_body(&s, "site.test", "/assets/x.png", "assets"); /* ^~ stops the regexes */
    kp_h_stop(&s);
}
END_TEST

/* PCRE2: captures and named captures as variables, (?i), (?:...),
 * lookahead, and `alias` with captures in a regex location. */
START_TEST(regex_captures)
{
    struct kp_h_server s;

    start(&s);
    kp_h_write(&s, "html/images/cat.txt", "meow");
    expect_body(&s, "site.test", "/cap/abc/d/e", "1=abc rest=d/e all=/cap/abc/d/e");
    expect_body(&s, "site.test", "/ci/Y.txt", "pcre");
    expect_body(&s, "site.test", "/pics/cat.txt", "meow");
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_request(s.port, "GET /ci/z.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", &r),
                     0);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(return_forms)
{
    char want[256];
    struct kp_h_server s;
    struct kp_h_resp r;
    int fd;

    start(&s);
    ck_assert_int_eq(ask(s.port, "GET /text HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 200);
    ck_assert_str_eq(r.body, "some text");
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/x-site");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /typed HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 201);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "application/x-typed");
    kp_h_resp_free(&r);
    /* A bare success code: an empty body, typed all the same (nginx). */
    ck_assert_int_eq(ask(s.port, "GET /okbare HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/x-site");
    ck_assert_str_eq(kp_h_header(&r, "Content-Length"), "0");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /gone HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 410);
    ck_assert_ptr_nonnull(strstr(r.body, "<title>410 Gone</title>"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /perm HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 301);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "http://example.com/new");
    ck_assert_ptr_nonnull(strstr(r.body, "301 Moved Permanently"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /rel HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 307);
    /* absolute_redirect on (the default): the Host and the port put in front */
    snprintf(want, sizeof(want), "http://site.test:%d/relative?x=1", s.port);
    ck_assert_str_eq(kp_h_header(&r, "Location"), want);
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /bare HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 302);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "https://example.com/bare");
    kp_h_resp_free(&r);
    /* Variables, nginx's way: $host is lowercase, without the port. */
    ck_assert_int_eq(ask(s.port, "GET /tls/a%20b?x=1 HTTP/1.1\r\nHost: Site.Test:8080\r\n\r\n", &r),
                     301);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "https://site.test/tls/a%20b?x=1");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /vars?q HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 200);
    ck_assert_str_eq(r.body, "http site.test GET /vars?q");
    kp_h_resp_free(&r);
    /* A decoded value cannot split the Location field. */
    ck_assert_int_eq(ask(s.port, "GET /move/%C3%A9%09x HTTP/1.1\r\nHost: site.test\r\n\r\n", &r),
                     302);
    snprintf(want, sizeof(want), "http://site.test:%d/moved/move/%%C3%%A9%%09x", s.port);
    ck_assert_str_eq(kp_h_header(&r, "Location"), want);
    kp_h_resp_free(&r);
    /* HEAD of a return: the same head, no body. */
    ck_assert_int_eq(ask(s.port, "HEAD /text HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Content-Length"), "9");
    kp_h_resp_free(&r);
    /* TRACE is refused on a return location as on static files. */
    ck_assert_int_eq(ask(s.port, "TRACE /text HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 405);
    ck_assert_str_eq(kp_h_header(&r, "Allow"), "GET, HEAD");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port2, "TRACE /x HTTP/1.1\r\nHost: any\r\n\r\n", &r), 405);
    kp_h_resp_free(&r);
    /* Server level: before any location. */
    ck_assert_int_eq(ask(s.port2, "GET /x HTTP/1.1\r\nHost: any\r\n\r\n", &r), 302);
    snprintf(want, sizeof(want), "http://any:%d/elsewhere", s.port2);
    ck_assert_str_eq(kp_h_header(&r, "Location"), want);
    kp_h_resp_free(&r);
    /* 444: the connection closes without a response. */
    fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "GET /silent HTTP/1.1\r\nHost: site.test\r\n\r\n");
    ck_assert_int_ne(kp_h_recv(fd, &r, false), 0);
    ck_assert_uint_eq(r.head_len, 0);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* The next read on fd finds the end of the connection: no byte more. */
static bool ends_here(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&p, 1, 5000) != 1)
        return false;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* One request on the open connection fd; returns the status. */
static int ask_on(int fd, const char *raw, struct kp_h_resp *r)
{
    kp_h_send_str(fd, raw);
    ck_assert_msg(kp_h_recv(fd, r, false) == 0, "no response to %s", raw);
    return r->status;
}

/* `return` with an empty or absent text, as nginx 1.22 answers it: an
 * empty text is none (`return 404 "";` gets the error page, `return 444
 * "";` closes); a redirect without a URL sends an empty Location; a 444
 * with a text (a variable's empty value too) is a response, on a
 * connection that stays open. Where nginx is unsafe, kelpie is not: a 1xx
 * goes out bare and the connection closes (nginx sends it as if final, its
 * text as a body), a 304 carries neither Content-Type nor Content-Length
 * (nginx sends both, which would retype a cached copy). */
START_TEST(return_without_text)
{
    static const char *const redirects[][2] = {
        {"/r/empty301", "301"}, {"/r/bare302", "302"}, {"/r/var302", "302"}};
    struct kp_h_server s;
    struct kp_h_resp r;
    char raw[256];

    start(&s);
    for (size_t i = 0; i < sizeof(redirects) / sizeof(redirects[0]); i++) {
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: site.test\r\n\r\n", redirects[i][0]);
        ck_assert_int_eq(ask(s.port, raw, &r), atoi(redirects[i][1]));
        ck_assert_msg(kp_h_header(&r, "Location") != NULL, "%s: no Location", redirects[i][0]);
        ck_assert_str_eq(kp_h_header(&r, "Location"), "");
        ck_assert_ptr_nonnull(strstr(r.body, redirects[i][1]));
        kp_h_resp_free(&r);
    }
    ck_assert_int_eq(ask(s.port, "GET /r/empty404 HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 404);
    ck_assert_str_eq(r.body, "custom not found\n");
    kp_h_resp_free(&r);

    int fd = kp_h_connect(s.port);
    ck_assert_int_eq(ask_on(fd, "GET /r/text444 HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 444);
    ck_assert_str_eq(r.body, "go away");
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/x-site");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_on(fd, "GET /r/var444 HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 444);
    ck_assert_str_eq(kp_h_header(&r, "Content-Length"), "0");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_on(fd, "GET /r/nm304 HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 304);
    ck_assert_ptr_null(kp_h_header(&r, "Content-Type"));
    ck_assert_ptr_null(kp_h_header(&r, "Content-Length"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_on(fd, "GET /r/nc204 HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 204);
    ck_assert_ptr_null(kp_h_header(&r, "Content-Type"));
    ck_assert_ptr_null(kp_h_header(&r, "Content-Length"));
    kp_h_resp_free(&r);
    /* Still open after all of them. */
    ck_assert_int_eq(ask_on(fd, "GET /text HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 200);
    kp_h_resp_free(&r);
    close(fd);

    fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "GET /r/empty444 HTTP/1.1\r\nHost: site.test\r\n\r\n");
    ck_assert_int_ne(kp_h_recv(fd, &r, false), 0);
    ck_assert_uint_eq(r.head_len, 0);
    close(fd);

    static const char *const interim[] = {"/r/info100", "/r/info101"};
    for (size_t i = 0; i < 2; i++) {
        fd = kp_h_connect(s.port);
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: site.test\r\n\r\n", interim[i]);
        ck_assert_int_eq(ask_on(fd, raw, &r), i == 0 ? 100 : 101);
        ck_assert_ptr_null(kp_h_header(&r, "Content-Length"));
        ck_assert_str_eq(kp_h_header(&r, "Connection"), "close");
        ck_assert_msg(ends_here(fd), "%s: more after the 1xx", interim[i]);
        kp_h_resp_free(&r);
        close(fd);
    }
    kp_h_stop(&s);
}
END_TEST

START_TEST(error_pages)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(ask(s.port, "GET /nope HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 404);
    ck_assert_str_eq(r.body, "custom not found\n");
    kp_h_resp_free(&r);
    /* Conditionals of the original request do not apply to the page. */
    ck_assert_int_eq(ask(s.port,
                         "GET /nope HTTP/1.1\r\nHost: site.test\r\nRange: bytes=0-1\r\n"
                         "If-None-Match: *\r\n\r\n",
                         &r),
                     404);
    ck_assert_str_eq(r.body, "custom not found\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "HEAD /nope HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 404);
    ck_assert_str_eq(kp_h_header(&r, "Content-Length"), "17");
    ck_assert_int_eq(ask(s.port, "GET /eq/nope HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 200);
    ck_assert_str_eq(r.body, "custom not found\n");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /url/nope HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 302);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "http://example.com/notfound");
    kp_h_resp_free(&r);
    /* A URL takes =3xx; any other =CODE still redirects with 302, as nginx. */
    ck_assert_int_eq(ask(s.port, "GET /url301/x HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 301);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "http://example.com/moved");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask(s.port, "GET /url200/x HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 302);
    ck_assert_str_eq(kp_h_header(&r, "Location"), "http://example.com/other");
    kp_h_resp_free(&r);
    /* The error page is missing too: the built-in page. */
    ck_assert_int_eq(ask(s.port, "GET /broken/nope HTTP/1.1\r\nHost: site.test\r\n\r\n", &r), 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<title>404 Not Found</title>"));
    kp_h_resp_free(&r);
    /* Errors found before routing use the default server's pages: none here. */
    ck_assert_int_eq(ask(s.port, "GET / HTTP/1.1\r\n\r\n", &r), 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<title>400 Bad Request</title>"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* GET path on hdr.test with extra (header lines) and its status. */
static int ask_hdr(const struct kp_h_server *s, const char *path, const char *extra,
                   struct kp_h_resp *r)
{
    char raw[512];

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: hdr.test\r\n%s\r\n", path, extra);
    return ask(s->port, raw, r);
}

/* Expires minus Date, in seconds. */
static long expires_after_date(const struct kp_h_resp *r)
{
    const char *v;
    time_t te, td;

    ck_assert_ptr_nonnull(v = kp_h_header(r, "Expires"));
    ck_assert_int_eq(kp_time_parse_http_date(v, strlen(v), &te), 0);
    ck_assert_ptr_nonnull(v = kp_h_header(r, "Date"));
    ck_assert_int_eq(kp_time_parse_http_date(v, strlen(v), &td), 0);
    return (long)(te - td);
}

START_TEST(added_fields)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(ask_hdr(&s, "/cached/a.txt", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "X-Frame-Options"), "DENY");
    ck_assert_str_eq(kp_h_header(&r, "X-Always"), "on, really");
    ck_assert_ptr_null(kp_h_header(&r, "X-Server-Level")); /* own add_header: none inherited */
    ck_assert_str_eq(kp_h_header(&r, "Cache-Control"), "max-age=3600");
    ck_assert_int_eq(expires_after_date(&r), 3600);
    char inm[128];
    snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", kp_h_header(&r, "ETag"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/cached/a.txt", inm, &r), 304);
    ck_assert_str_eq(kp_h_header(&r, "Cache-Control"), "max-age=3600");
    ck_assert_str_eq(kp_h_header(&r, "X-Frame-Options"), "DENY");
    kp_h_resp_free(&r);
    /* An error gets only the `always` fields. */
    ck_assert_int_eq(ask_hdr(&s, "/cached/nope", "", &r), 404);
    ck_assert_str_eq(kp_h_header(&r, "X-Always"), "on, really");
    ck_assert_ptr_null(kp_h_header(&r, "X-Frame-Options"));
    ck_assert_ptr_null(kp_h_header(&r, "Expires"));
    ck_assert_ptr_null(kp_h_header(&r, "Cache-Control"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/inherit/a.txt", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "X-Server-Level"), "yes");
    ck_assert_ptr_null(kp_h_header(&r, "Expires"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/inherit/", "", &r), 403);
    ck_assert_ptr_null(kp_h_header(&r, "X-Server-Level"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/epoch/a.txt", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Expires"), "Thu, 01 Jan 1970 00:00:01 GMT");
    ck_assert_str_eq(kp_h_header(&r, "Cache-Control"), "no-cache");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/max/a.txt", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Expires"), "Thu, 31 Dec 2037 23:55:55 GMT");
    ck_assert_str_eq(kp_h_header(&r, "Cache-Control"), "max-age=315360000");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/neg/a.txt", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Cache-Control"), "no-cache");
    ck_assert_int_eq(expires_after_date(&r), -10);
    kp_h_resp_free(&r);
    /* add_header ETag / Last-Modified replace the file's own (the last one
     * of a block wins, an empty one removes it), as nginx's do; the request's
     * conditions are still those of the file. */
    ck_assert_int_eq(ask_hdr(&s, "/own/a.txt", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "Last-Modified"), "Mon, 28 Sep 1970 06:00:00 GMT");
    ck_assert_str_eq(kp_h_header(&r, "ETag"), "\"mine\"");
    ck_assert_int_eq(kp_p_count_lines(r.head, "ETag:"), 1);
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/own/a.txt", "If-None-Match: \"mine\"\r\n", &r), 200);
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/own/nope", "", &r), 404);
    ck_assert_str_eq(kp_h_header(&r, "ETag"), "foo");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/noetag/a.txt", "", &r), 200);
    ck_assert_ptr_null(kp_h_header(&r, "ETag"));
    ck_assert_ptr_nonnull(kp_h_header(&r, "Last-Modified"));
    ck_assert_str_eq(kp_h_header(&r, "X-Kept"), "yes");
    kp_h_resp_free(&r);
    /* expires modified $var: the value's time, from the file's mtime. */
    ck_assert_int_eq(ask_hdr(&s, "/modvar/a.txt?e=2h", "", &r), 200);
    time_t tl, tx;
    const char *v = kp_h_header(&r, "Last-Modified"); /* one value at a time */
    ck_assert_int_eq(kp_time_parse_http_date(v, strlen(v), &tl), 0);
    v = kp_h_header(&r, "Expires");
    ck_assert_int_eq(kp_time_parse_http_date(v, strlen(v), &tx), 0);
    ck_assert_int_eq((long)(tx - tl), 7200);
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/modvar/a.txt?e=max", "", &r), 200);
    ck_assert_ptr_null(kp_h_header(&r, "Expires")); /* only a time goes with modified */
    kp_h_resp_free(&r);
    /* A field whose value comes out empty is left out, as nginx does. */
    ck_assert_int_eq(ask_hdr(&s, "/var/a.txt?a=1", "", &r), 200);
    ck_assert_str_eq(kp_h_header(&r, "X-Arg"), "1");
    kp_h_resp_free(&r);
    ck_assert_int_eq(ask_hdr(&s, "/var/a.txt?b=1", "", &r), 200);
    ck_assert_msg(strstr(r.head, "X-Arg") == NULL, "%s", r.head);
    ck_assert_str_eq(kp_h_header(&r, "X-Fixed"), "yes");
    kp_h_resp_free(&r);
    /* @15h30m: the next 15:30:00 local time (the server shares this
     * process's time zone), at most a day away, max-age counting to it. */
    ck_assert_int_eq(ask_hdr(&s, "/daily/a.txt", "", &r), 200);
    long left = expires_after_date(&r);
    ck_assert_msg(left > 0 && left <= 86400 + 3600, "%ld", left); /* a DST day may be 25 h */
    char want[64];
    snprintf(want, sizeof(want), "max-age=%ld", left);
    ck_assert_str_eq(kp_h_header(&r, "Cache-Control"), want);
    const char *ev = kp_h_header(&r, "Expires");
    time_t at;
    struct tm tm;
    ck_assert_int_eq(kp_time_parse_http_date(ev, strlen(ev), &at), 0);
    ck_assert_ptr_nonnull(localtime_r(&at, &tm));
    ck_assert_msg(tm.tm_hour == 15 && tm.tm_min == 30 && tm.tm_sec == 0, "%s", ev);
    kp_h_resp_free(&r);
    /* A redirect is one of the codes that get the fields. */
    ck_assert_int_eq(ask_hdr(&s, "/cached", "", &r), 301);
    ck_assert_ptr_null(kp_h_header(&r, "X-Frame-Options")); /* the server level answers */
    ck_assert_str_eq(kp_h_header(&r, "X-Server-Level"), "yes");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_http_routing_suite(void)
{
    Suite *s = suite_create("http_routing");
    TCase *tc = tcase_create("routing");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, server_names);
    tcase_add_test(tc, locations);
    tcase_add_test(tc, return_forms);
    tcase_add_test(tc, return_without_text);
    tcase_add_test(tc, regex_captures);
    tcase_add_test(tc, error_pages);
    tcase_add_test(tc, added_fields);
    suite_add_tcase(s, tc);
    return s;
}
