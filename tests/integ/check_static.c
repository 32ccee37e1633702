/* Static files against the real binary: content types, index files, the
 * directory redirect, 403/404/405, HEAD, conditional requests (304/412),
 * ranges (206/416, If-Range), large bodies with sendfile on and off, alias,
 * try_files, and path traversal attempts that must never reach a file
 * outside the root. */
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define BIG_SIZE (1024 * 1024)

#define REQ(method, path, extra)                                                                   \
    method " " path " HTTP/1.1\r\nHost: localhost\r\n" extra "Connection: close\r\n\r\n"
#define GET(path)      REQ("GET", path, "")
#define GET_H(path, h) REQ("GET", path, h "\r\n")

static const char *CONF =
    "types { text/plain txt; text/html html htm; image/png png; }\n"
    "default_type application/x-kelpie-default;\n"
    "sendfile off;\n"
    "access_log off;\n"
    "server {\n"
    "    listen 127.0.0.1:@PORT@;\n"
    "    root html;\n"
    "    index index.html;\n"
    "    location /multi/ { index nope.html second.htm third.html; }\n"
    "    location /sf/ { sendfile on; }\n"
    "    location /typed/ { types { application/x-typed txt; } default_type text/x-other; }\n"
    "    location /retyped/ { alias html/; types { application/x-typed txt; } }\n"
    "    location /pics/ { alias data/images/; }\n"
    "    location /img { alias data/images/; }\n"
    "    location = /logo { alias data/images/logo.png; }\n"
    "    location /app/ { try_files $uri $uri.html $uri/ /app/index.html; }\n"
    "    location /strict/ { try_files $uri =410; }\n"
    "    location /loop/ { try_files $uri /loop/again; }\n"
    "    location /q/ { try_files $uri /a.txt?from=q; }\n"
    "    location /v/ { try_files /app/$args.html =404; }\n"
    "    location /nolinks/ { alias html/; disable_symlinks on; }\n"
    "    location /anylinks/ { alias html/; disable_symlinks off; }\n"
    "}\n";

/* 1 MiB of a pattern with no NUL bytes (kp_h_write takes a C string). */
static char *big_content(void)
{
    char *b = malloc(BIG_SIZE + 1);

    for (size_t i = 0; i < BIG_SIZE; i++)
        b[i] = (i % 61 == 60) ? '\n' : (char)('a' + (i * 7 + i / 4096) % 26);
    b[BIG_SIZE] = '\0';
    return b;
}

static void start(struct kp_h_server *s)
{
    char *big = big_content();

    kp_h_prepare(s);
    kp_h_write(s, "html/a.txt", "hello\n");
    kp_h_write(s, "html/index.html", "<h1>index</h1>\n");
    kp_h_write(s, "html/multi/second.htm", "second\n");
    kp_h_write(s, "html/multi/third.html", "third\n");
    kp_h_write(s, "html/dir/index.html", "dir index\n");
    kp_h_write(s, "html/sp ace/index.html", "space\n");
    kp_h_write(s, "html/empty/other.png", "x");
    kp_h_write(s, "html/noext", "plain?");
    kp_h_write(s, "html/UP.TXT", "upper");
    kp_h_write(s, "html/typed/t.txt", "typed");
    kp_h_write(s, "html/typed/t.png", "png?");
    kp_h_write(s, "html/sub/x.txt", "x");
    kp_h_write(s, "html/big.bin", big);
    kp_h_write(s, "html/sf/big.bin", big);
    kp_h_write(s, "secret.txt", "TOPSECRET\n");
    kp_h_write(s, "data/images/logo.png", "logo");
    kp_h_write(s, "data/images/index.html", "gallery\n");
    kp_h_write(s, "data/secret.txt", "TOPSECRET\n");
    kp_h_write(s, "html/app/index.html", "app shell\n");
    kp_h_write(s, "html/app/page.html", "page\n");
    kp_h_write(s, "html/app/real.txt", "real\n");
    kp_h_write(s, "html/app/sub/index.html", "sub index\n");
    kp_h_write(s, "html/strict/here.txt", "here\n");
    free(big);
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

/* One request that must succeed at the socket level. */
static void req(const struct kp_h_server *s, const char *raw, struct kp_h_resp *r)
{
    ck_assert_msg(kp_h_request(s->port, raw, r) == 0, "no response to %s", raw);
}

/* Send raw (with Connection: close), read the head only, then count what
 * else arrives before the server closes: the body bytes actually sent. */
static size_t head_then_rest(const struct kp_h_server *s, const char *raw, struct kp_h_resp *r)
{
    int fd = kp_h_connect(s->port);
    char buf[4096];
    size_t extra = 0;
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, raw);
    ck_assert_int_eq(kp_h_recv(fd, r, true), 0);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        extra += (size_t)n;
    close(fd);
    return extra;
}

static void assert_header(const struct kp_h_resp *r, const char *name, const char *want)
{
    const char *v = kp_h_header(r, name);
    ck_assert_msg(v != NULL, "no %s in:\n%s", name, r->head);
    ck_assert_str_eq(v, want);
}

START_TEST(static_get_file)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    req(&s, GET("/a.txt"), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Type", "text/plain");
    assert_header(&r, "Content-Length", "6");
    assert_header(&r, "Accept-Ranges", "bytes");
    ck_assert_ptr_nonnull(kp_h_header(&r, "Last-Modified"));
    const char *etag = kp_h_header(&r, "ETag");
    ck_assert_ptr_nonnull(etag);
    ck_assert_int_eq(etag[0], '"');
    ck_assert_ptr_nonnull(strstr(etag, "-6\""));
    ck_assert_str_eq(r.body, "hello\n");
    kp_h_resp_free(&r);
    /* MIME: from types { }, per-location types, and default_type. */
    req(&s, GET("/index.html"), &r);
    assert_header(&r, "Content-Type", "text/html");
    kp_h_resp_free(&r);
    req(&s, GET("/noext"), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Type", "application/x-kelpie-default");
    kp_h_resp_free(&r);
    req(&s, GET("/typed/t.txt"), &r);
    assert_header(&r, "Content-Type", "application/x-typed");
    kp_h_resp_free(&r);
    req(&s, GET("/typed/t.png"), &r);
    assert_header(&r, "Content-Type", "text/x-other");
    kp_h_resp_free(&r);
    /* One file through locations with different types, in turn: each
     * location's own type, though the open-file cache holds the file once. */
    for (int i = 0; i < 2; i++) {
        req(&s, GET("/retyped/a.txt"), &r);
        ck_assert_int_eq(r.status, 200);
        assert_header(&r, "Content-Type", "application/x-typed");
        kp_h_resp_free(&r);
        req(&s, GET("/a.txt"), &r);
        ck_assert_int_eq(r.status, 200);
        assert_header(&r, "Content-Type", "text/plain");
        kp_h_resp_free(&r);
    }
    /* Extensions match case-insensitively; the path arrives percent-encoded. */
    req(&s, GET("/UP%2eTXT"), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Type", "text/plain");
    ck_assert_str_eq(r.body, "upper");
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_index_and_directories)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    req(&s, GET("/"), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Type", "text/html");
    ck_assert_str_eq(r.body, "<h1>index</h1>\n");
    kp_h_resp_free(&r);
    req(&s, GET("/dir/"), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "dir index\n");
    kp_h_resp_free(&r);
    /* Several index names: the first that exists wins. */
    req(&s, GET("/multi/"), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Type", "text/html");
    ck_assert_str_eq(r.body, "second\n");
    kp_h_resp_free(&r);
    /* A directory without its slash: 301 to path + '/', query kept; an
     * absolute URL by default (absolute_redirect on), as nginx sends. */
    char want[128];
    req(&s, GET("/dir?x=1&y=%20"), &r);
    ck_assert_int_eq(r.status, 301);
    snprintf(want, sizeof(want), "http://localhost:%d/dir/?x=1&y=%%20", s.port);
    assert_header(&r, "Location", want);
    kp_h_resp_free(&r);
    req(&s, GET("/sp%20ace"), &r);
    ck_assert_int_eq(r.status, 301);
    snprintf(want, sizeof(want), "http://localhost:%d/sp%%20ace/", s.port);
    assert_header(&r, "Location", want);
    kp_h_resp_free(&r);
    req(&s, GET("/sp%20ace/"), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "space\n");
    kp_h_resp_free(&r);
    /* A directory with no index file: 403, no listing. */
    req(&s, GET("/empty/"), &r);
    ck_assert_int_eq(r.status, 403);
    kp_h_resp_free(&r);
    /* Missing things: 404, also a file addressed as a directory. */
    req(&s, GET("/nope.txt"), &r);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    req(&s, GET("/nope/"), &r);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    req(&s, GET("/a.txt/"), &r);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    req(&s, GET("/a.txt/x"), &r);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* Root reads a file whatever its mode, so the 403 for EACCES can only be
 * observed when the tests run as an ordinary user. */
START_TEST(static_unreadable)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char path[256];

    if (geteuid() == 0)
        return;
    start(&s);
    snprintf(path, sizeof(path), "%shtml/a.txt", s.prefix);
    ck_assert_int_eq(chmod(path, 0), 0);
    req(&s, GET("/a.txt"), &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_null(strstr(r.body ? r.body : "", "hello"));
    kp_h_resp_free(&r);
    snprintf(path, sizeof(path), "%shtml/dir", s.prefix);
    ck_assert_int_eq(chmod(path, 0), 0);
    req(&s, GET("/dir/"), &r);
    ck_assert_int_eq(r.status, 403);
    kp_h_resp_free(&r);
    chmod(path, 0755);
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_head)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    size_t extra = head_then_rest(&s, REQ("HEAD", "/a.txt", ""), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Length", "6");
    assert_header(&r, "Content-Type", "text/plain");
    ck_assert_ptr_nonnull(kp_h_header(&r, "ETag"));
    ck_assert_uint_eq(extra, 0);
    extra = head_then_rest(&s, REQ("HEAD", "/big.bin", ""), &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Length", "1048576");
    ck_assert_uint_eq(extra, 0);
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_conditional)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char etag[128], lm[64], raw[512];

    start(&s);
    req(&s, GET("/a.txt"), &r);
    snprintf(etag, sizeof(etag), "%s", kp_h_header(&r, "ETag"));
    snprintf(lm, sizeof(lm), "%s", kp_h_header(&r, "Last-Modified"));
    kp_h_resp_free(&r);

    /* If-None-Match: a matching tag (weak comparison) is 304, no body. */
    snprintf(raw, sizeof(raw), GET_H("/a.txt", "If-None-Match: \"zzz\", W/%s"), etag);
    size_t extra = head_then_rest(&s, raw, &r);
    ck_assert_int_eq(r.status, 304);
    assert_header(&r, "ETag", etag);
    assert_header(&r, "Last-Modified", lm);
    ck_assert_ptr_null(kp_h_header(&r, "Content-Length"));
    ck_assert_uint_eq(extra, 0);
    req(&s, GET_H("/a.txt", "If-None-Match: \"other\""), &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    /* If-Modified-Since: the Last-Modified date itself is "not modified". */
    snprintf(raw, sizeof(raw), GET_H("/a.txt", "If-Modified-Since: %s"), lm);
    extra = head_then_rest(&s, raw, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(extra, 0);
    req(&s, GET_H("/a.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"), &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "If-Modified-Since: garbage"), &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    /* If-Match: strong comparison; a miss is 412. */
    snprintf(raw, sizeof(raw), GET_H("/a.txt", "If-Match: %s"), etag);
    req(&s, raw, &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "If-Match: \"nope\""), &r);
    ck_assert_int_eq(r.status, 412);
    ck_assert_ptr_null(strstr(r.body ? r.body : "", "hello"));
    kp_h_resp_free(&r);
    snprintf(raw, sizeof(raw), GET_H("/a.txt", "If-Match: W/%s"), etag);
    req(&s, raw, &r);
    ck_assert_int_eq(r.status, 412);
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"), &r);
    ck_assert_int_eq(r.status, 412);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_ranges)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char etag[128], lm[64], raw[512];

    start(&s);
    req(&s, GET_H("/a.txt", "Range: bytes=1-3"), &r);
    ck_assert_int_eq(r.status, 206);
    assert_header(&r, "Content-Range", "bytes 1-3/6");
    assert_header(&r, "Content-Length", "3");
    ck_assert_str_eq(r.body, "ell");
    snprintf(etag, sizeof(etag), "%s", kp_h_header(&r, "ETag"));
    snprintf(lm, sizeof(lm), "%s", kp_h_header(&r, "Last-Modified"));
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "Range: bytes=-2"), &r);
    ck_assert_int_eq(r.status, 206);
    assert_header(&r, "Content-Range", "bytes 4-5/6");
    ck_assert_str_eq(r.body, "o\n");
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "Range: bytes=2-"), &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_str_eq(r.body, "llo\n");
    kp_h_resp_free(&r);
    /* Unsatisfiable: 416 with the representation's length. */
    req(&s, GET_H("/a.txt", "Range: bytes=100-"), &r);
    ck_assert_int_eq(r.status, 416);
    assert_header(&r, "Content-Range", "bytes */6");
    ck_assert_ptr_null(strstr(r.body ? r.body : "", "hello"));
    kp_h_resp_free(&r);
    /* A backwards range alone: 416, as from nginx. */
    req(&s, GET_H("/a.txt", "Range: bytes=3-1"), &r);
    ck_assert_int_eq(r.status, 416);
    assert_header(&r, "Content-Range", "bytes */6");
    kp_h_resp_free(&r);
    /* Ignored: another unit, ranges adding up to more than the file (an
     * amplification guard, as nginx). */
    req(&s, GET_H("/a.txt", "Range: lines=1-2"), &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "Range: bytes=0-3,2-5"), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello\n");
    kp_h_resp_free(&r);
    /* Several ranges: multipart/byteranges (RFC 9110 section 14.6), the
     * parts in the order asked, an unsatisfiable one left out. */
    req(&s, GET_H("/a.txt", "Range: bytes=4-4, 0-1, 100-200"), &r);
    ck_assert_int_eq(r.status, 206);
    const char *ct = kp_h_header(&r, "Content-Type");
    ck_assert(strncmp(ct, "multipart/byteranges; boundary=", 31) == 0);
    const char *b = ct + 31;
    char want[512];
    snprintf(want, sizeof(want),
             "\r\n--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-4/6\r\n\r\no"
             "\r\n--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/6\r\n\r\nhe"
             "\r\n--%s--\r\n",
             b, b, b);
    ck_assert_str_eq(r.body, want);
    ck_assert_uint_eq(strtoul(kp_h_header(&r, "Content-Length"), NULL, 10), strlen(want));
    ck_assert_ptr_null(kp_h_header(&r, "Content-Range"));
    kp_h_resp_free(&r);
    /* Several ranges of the big file, sent from it part by part, with
     * sendfile on and off: every part's bytes where its head says. */
    const char *const multi[] = {GET_H("/sf/big.bin", "Range: bytes=0-9,500000-900009,-7"),
                                 GET_H("/big.bin", "Range: bytes=0-9,500000-900009,-7")};
    for (size_t k = 0; k < 2; k++) {
        char *bytes = big_content();
        req(&s, multi[k], &r);
        ck_assert_int_eq(r.status, 206);
        ck_assert_uint_eq(strtoul(kp_h_header(&r, "Content-Length"), NULL, 10), r.body_len);
        static const unsigned long at[][2] = {
            {0, 9}, {500000, 900009}, {BIG_SIZE - 7, BIG_SIZE - 1}};
        const char *p = r.body;
        for (size_t i = 0; i < 3; i++) {
            char cr[96];
            snprintf(cr, sizeof(cr), "Content-Range: bytes %lu-%lu/%d\r\n\r\n", at[i][0], at[i][1],
                     BIG_SIZE);
            p = memmem(p, r.body_len - (size_t)(p - r.body), cr, strlen(cr));
            ck_assert_msg(p != NULL, "part %zu: no %s", i, cr);
            p += strlen(cr);
            ck_assert_int_eq(memcmp(p, bytes + at[i][0], at[i][1] - at[i][0] + 1), 0);
            p += at[i][1] - at[i][0] + 1;
        }
        ck_assert(strncmp(p, "\r\n--", 4) == 0 && strcmp(r.body + r.body_len - 4, "--\r\n") == 0);
        free(bytes);
        kp_h_resp_free(&r);
    }
    /* A range in the middle of the big file, with sendfile on. */
    req(&s, GET_H("/sf/big.bin", "Range: bytes=500000-500009"), &r);
    ck_assert_int_eq(r.status, 206);
    char *big = big_content();
    ck_assert_uint_eq(r.body_len, 10);
    ck_assert_int_eq(memcmp(r.body, big + 500000, 10), 0);
    free(big);
    kp_h_resp_free(&r);
    /* If-Range: the current tag or date keeps the range, anything else gets
     * the whole file. */
    snprintf(raw, sizeof(raw), GET_H("/a.txt", "Range: bytes=0-1\r\nIf-Range: %s"), etag);
    req(&s, raw, &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_str_eq(r.body, "he");
    kp_h_resp_free(&r);
    snprintf(raw, sizeof(raw), GET_H("/a.txt", "Range: bytes=0-1\r\nIf-Range: %s"), lm);
    req(&s, raw, &r);
    ck_assert_int_eq(r.status, 206);
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "Range: bytes=0-1\r\nIf-Range: \"old\""), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello\n");
    kp_h_resp_free(&r);
    req(&s, GET_H("/a.txt", "Range: bytes=0-1\r\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT"), &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_methods)
{
    static const char *const reqs[] = {
        REQ("POST", "/a.txt", "Content-Length: 0\r\n"),
        REQ("PUT", "/a.txt", "Content-Length: 3\r\n") "abc",
        REQ("DELETE", "/a.txt", ""),
        REQ("POST", "/", "Content-Length: 0\r\n"),
    };
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        req(&s, reqs[i], &r);
        ck_assert_msg(r.status == 405, "%s: %d", reqs[i], r.status);
        assert_header(&r, "Allow", "GET, HEAD");
        kp_h_resp_free(&r);
    }
    /* A refused CONNECT closes: the bytes after it are tunnel data. */
    int fd = kp_h_connect(s.port);
    char rest[64];
    kp_h_send_str(fd, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
                      "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 405);
    assert_header(&r, "Connection", "close");
    kp_h_resp_free(&r);
    ck_assert_int_eq(read(fd, rest, sizeof(rest)), 0);
    close(fd);
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_large_file)
{
    static const char *const paths[] = {GET("/big.bin"), GET("/sf/big.bin")};
    struct kp_h_server s;
    struct kp_h_resp r;
    char *big = big_content();

    start(&s);
    for (size_t i = 0; i < 2; i++) {
        req(&s, paths[i], &r);
        ck_assert_int_eq(r.status, 200);
        assert_header(&r, "Content-Length", "1048576");
        ck_assert_uint_eq(r.body_len, BIG_SIZE);
        ck_assert_msg(memcmp(r.body, big, BIG_SIZE) == 0, "body differs for %s", paths[i]);
        kp_h_resp_free(&r);
    }
    free(big);
    kp_h_stop(&s);
}
END_TEST

/* Every spelling of "one level above the root" is a 400 or a 404, and the
 * file placed next to html/ never leaks. */
START_TEST(static_traversal)
{
    static const char *const reqs[] = {
        GET("/../secret.txt"),
        GET("/%2e%2e/secret.txt"),
        GET("/%2E%2e%2fsecret.txt"),
        GET("/..%2fsecret.txt"),
        GET("/..%2Fsecret.txt"),
        GET("/secret.txt%00"),
        GET("/%00/../secret.txt"),
        GET("/%252e%252e/secret.txt"),
        GET("/%252e%252e%252fsecret.txt"),
        GET("/sub/../../secret.txt"),
        GET("/sub/%2e%2e/%2e%2e/secret.txt"),
        GET("/./.././secret.txt"),
        GET("/..\\secret.txt"),
        GET("../secret.txt"),
        GET("/..;/secret.txt"),
        GET("http://x/../secret.txt"),
        GET("http://x/%2e%2e/secret.txt"),
        GET("//../secret.txt"),
    };
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        req(&s, reqs[i], &r);
        ck_assert_msg(r.status == 400 || r.status == 404, "%s: status %d", reqs[i], r.status);
        ck_assert_msg(r.body == NULL || strstr(r.body, "TOPSECRET") == NULL, "leak: %s", reqs[i]);
        kp_h_resp_free(&r);
    }
    /* The server is still fine afterwards. */
    req(&s, GET("/a.txt"), &r);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* GET path: the status, and the body when want_body is not NULL. */
static void expect(const struct kp_h_server *s, const char *path, int status, const char *want_body)
{
    char raw[256];
    struct kp_h_resp r;

    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             path);
    req(s, raw, &r);
    ck_assert_msg(r.status == status, "%s: status %d, want %d", path, r.status, status);
    if (want_body != NULL)
        ck_assert_msg(r.body != NULL && strcmp(r.body, want_body) == 0, "%s: body %s", path,
                      r.body ? r.body : "(none)");
    ck_assert_msg(r.body == NULL || strstr(r.body, "TOPSECRET") == NULL, "leak: %s", path);
    kp_h_resp_free(&r);
}

START_TEST(static_alias)
{
    struct kp_h_server s;

    start(&s);
    expect(&s, "/pics/logo.png", 200, "logo");
    expect(&s, "/pics/", 200, "gallery\n");
    expect(&s, "/img/logo.png", 200, "logo");
    expect(&s, "/logo", 200, "logo");
    expect(&s, "/pics/nope.png", 404, NULL);
    /* nginx's classic alias hole: "/img../secret.txt" must not become
     * data/images/../secret.txt. */
    expect(&s, "/img../secret.txt", 404, NULL);
    expect(&s, "/img..", 404, NULL);
    expect(&s, "/img%2e%2e/secret.txt", 404, NULL);
    expect(&s, "/pics/../secret.txt", 404, NULL); /* normalised to /secret.txt under root */
    kp_h_stop(&s);
}
END_TEST

/* An alias made from a capture, $host or another variable (in a regex or a
 * prefix location) holds no dot segment (403; a Host with one is 400), even
 * with disable_symlinks off, where openat2 does not keep the file beneath
 * the alias. */
START_TEST(static_alias_variables_stay_beneath)
{
    static const char *const hosts[] = {"..", "a..b", ".", "..."};
    struct kp_h_server s;
    struct kp_h_resp r;
    char http[1024], raw[256];

    kp_h_prepare(&s);
    kp_h_write(&s, "data/images/logo.png", "logo");
    kp_h_write(&s, "data/images/localhost/logo.png", "host logo");
    kp_h_write(&s, "data/secret.txt", "TOPSECRET\n");
    snprintf(http, sizeof(http),
             "access_log off;\n"
             "server { listen 127.0.0.1:@PORT@; root html;\n"
             "  location ~ ^/nf(.*)$ { disable_symlinks off; alias %sdata/images/$1; }\n"
             "  location ~ ^/hv/(.*)$ { disable_symlinks off; alias %sdata/images/$host/$1; }\n"
             "  location /hh/ { alias %sdata/images/$host/; }\n"
             "  location /ah/ { disable_symlinks off; alias %sdata/images/$arg_d/; }\n"
             "}\n",
             s.prefix, s.prefix, s.prefix, s.prefix);
    kp_h_config(&s, "master_process off;", http);
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    expect(&s, "/nflogo.png", 200, "logo");
    expect(&s, "/nf/logo.png", 200, "logo"); /* data/images//logo.png */
    expect(&s, "/nf../secret.txt", 403, NULL);
    expect(&s, "/nf%2e%2e/secret.txt", 403, NULL);
    expect(&s, "/nf/../secret.txt", 404, NULL); /* normalised to /secret.txt under root */
    expect(&s, "/hv/logo.png", 200, "host logo");
    /* A prefix location's alias evaluates its variables too. */
    expect(&s, "/hh/logo.png", 200, "host logo");
    expect(&s, "/ah/logo.png?d=localhost", 200, "host logo");
    expect(&s, "/ah/secret.txt?d=..", 403, NULL);
    expect(&s, "/ah/logo.png?d=", 200, "logo"); /* data/images//logo.png */
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(raw, sizeof(raw),
                 "GET /hv/secret.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", hosts[i]);
        req(&s, raw, &r);
        ck_assert_msg(r.status == 400, "Host %s: status %d", hosts[i], r.status);
        ck_assert_msg(r.body == NULL || strstr(r.body, "TOPSECRET") == NULL, "leak: %s", hosts[i]);
        kp_h_resp_free(&r);
    }
    kp_h_stop(&s);
}
END_TEST

/* An alias is inherited by nested locations and replaces the path of the
 * location that set it; in a regex location try_files looks its candidates
 * up under the alias; a try_files URI without a query leaves none; a bare
 * ${name} is read whole by the config parser; without any `types` block
 * only nginx's three built-in types are known (all as nginx 1.22). */
START_TEST(static_alias_nested_and_regex_try_files)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char http[1024];

    kp_h_prepare(&s);
    kp_h_write(&s, "data/images/logo.png", "logo");
    kp_h_write(&s, "data/images/index.html", "gallery\n");
    kp_h_write(&s, "data/images/localhost.html", "by host\n");
    kp_h_write(&s, "data/images/app.js", "js\n");
    kp_h_write(&s, "data/re/re.png", "re");
    snprintf(http, sizeof(http),
             "access_log off; default_type text/x-dflt;\n"
             "server { listen 127.0.0.1:@PORT@; root html;\n"
             "  location /st/ { alias %sdata/images/;\n"
             "    location ~ \\.png$ { add_header X-Png 1; }\n"
             "    location ~ html { try_files $uri =404; } }\n"
             "  location ~ ^/re\\.png$ { alias %sdata/re; try_files $uri =404; }\n"
             "  location /vi/ { alias %sdata/images/; index ${host}.html; }\n"
             "  location /fb/ { try_files $uri /args; }\n"
             "  location = /args { return 200 \"args=[$args]\"; }\n"
             "}\n",
             s.prefix, s.prefix, s.prefix);
    kp_h_config(&s, "master_process off;", http);
    ck_assert_msg(kp_h_start(&s) == 0, "server failed to start");
    req(&s, GET("/st/logo.png"), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "logo");
    assert_header(&r, "X-Png", "1");
    assert_header(&r, "Content-Type", "text/x-dflt"); /* png is not built in */
    kp_h_resp_free(&r);
    expect(&s, "/st/index.html", 200, "gallery\n");
    expect(&s, "/st/nope.html", 404, NULL);
    expect(&s, "/re.png", 200, "re");
    expect(&s, "/vi/", 200, "by host\n");
    req(&s, GET("/st/app.js"), &r);
    assert_header(&r, "Content-Type", "text/x-dflt");
    kp_h_resp_free(&r);
    req(&s, GET("/st/index.html"), &r);
    assert_header(&r, "Content-Type", "text/html");
    kp_h_resp_free(&r);
    expect(&s, "/fb/x?a=b", 200, "args=[]");
    kp_h_stop(&s);
}
END_TEST

START_TEST(static_try_files)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    expect(&s, "/app/real.txt", 200, "real\n");       /* $uri */
    expect(&s, "/app/page", 200, "page\n");           /* $uri.html */
    expect(&s, "/app/sub", 301, NULL);                /* $uri/: the directory, redirected */
    expect(&s, "/app/sub/", 200, "sub index\n");      /* $uri/ served with its index */
    expect(&s, "/app/deep/link", 200, "app shell\n"); /* the fallback */
    expect(&s, "/app/", 200, "app shell\n");
    expect(&s, "/strict/here.txt", 200, "here\n");
    expect(&s, "/strict/gone.txt", 410, NULL);
    expect(&s, "/loop/x", 500, NULL);       /* the fallback leads back to itself */
    expect(&s, "/v/x?page", 200, "page\n"); /* other variables, as for return */
    expect(&s, "/v/x?nope", 404, NULL);
    req(&s, GET("/q/none?orig=1"), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello\n");
    kp_h_resp_free(&r);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_nonnull(strstr(log, "rewrite or internal redirection cycle"));
    free(log);
    kp_h_stop(&s);
}
END_TEST

static void link_in_prefix(const struct kp_h_server *s, const char *target, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s%s", s->prefix, name);
    ck_assert_int_eq(symlink(target, path), 0);
}

/* A symbolic link may lead anywhere below the root, never above it
 * (unless `disable_symlinks off`); `disable_symlinks on` allows none. */
START_TEST(static_symlinks)
{
    struct kp_h_server s;
    char target[PATH_MAX];

    start(&s);
    snprintf(target, sizeof(target), "%ssecret.txt", s.prefix);
    link_in_prefix(&s, target, "html/abs-out.txt");
    link_in_prefix(&s, "../secret.txt", "html/rel-out.txt");
    link_in_prefix(&s, "..", "html/up");
    link_in_prefix(&s, "sub/x.txt", "html/in.txt");
    link_in_prefix(&s, "sub", "html/subdir");
    expect(&s, "/abs-out.txt", 403, NULL);
    expect(&s, "/rel-out.txt", 403, NULL);
    expect(&s, "/up/secret.txt", 403, NULL);
    expect(&s, "/in.txt", 200, "x");
    expect(&s, "/subdir/x.txt", 200, "x");
    expect(&s, "/nolinks/in.txt", 403, NULL);
    expect(&s, "/nolinks/sub/x.txt", 200, "x");
    /* disable_symlinks off: nginx's default, the operator's choice */
    struct kp_h_resp r;
    req(&s, GET("/anylinks/rel-out.txt"), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "TOPSECRET\n");
    kp_h_resp_free(&r);
    char *log = kp_h_read(&s, "logs/error.log");
    ck_assert_ptr_nonnull(log);
    ck_assert_ptr_nonnull(strstr(log, "a symbolic link leads out of the root"));
    free(log);
    kp_h_stop(&s);
}
END_TEST

/* GET path until its body is want (the open-file cache trusts a path for
 * 1 s); returns the milliseconds it took, or -1. */
static long body_becomes(const struct kp_h_server *s, const char *raw, const char *want)
{
    struct kp_h_resp r;

    for (long waited = 0; waited <= 3000; waited += 50) {
        req(s, raw, &r);
        bool same = r.status == 200 && r.body != NULL && strcmp(r.body, want) == 0;
        kp_h_resp_free(&r);
        if (same)
            return waited;
        kp_h_sleep_ms(50);
    }
    return -1;
}

/* The open-file cache never serves stale bytes: a file changed in place is
 * seen at once, a deleted one is gone at once, a replaced one within the
 * validity (1 s). */
START_TEST(static_file_cache)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char from[PATH_MAX], to[PATH_MAX];

    start(&s);
    ck_assert_int_eq(body_becomes(&s, GET("/a.txt"), "hello\n"), 0);
    kp_h_write(&s, "html/a.txt", "changed in place, longer\n");
    ck_assert_int_eq(body_becomes(&s, GET("/a.txt"), "changed in place, longer\n"), 0);
    kp_h_write(&s, "html/b.txt", "replaced\n");
    snprintf(from, sizeof(from), "%shtml/b.txt", s.prefix);
    snprintf(to, sizeof(to), "%shtml/a.txt", s.prefix);
    ck_assert_int_eq(rename(from, to), 0);
    long ms = body_becomes(&s, GET("/a.txt"), "replaced\n");
    ck_assert_msg(ms >= 0 && ms <= 1500, "a replaced file was served stale for %ld ms", ms);
    ck_assert_int_eq(unlink(to), 0);
    req(&s, GET("/a.txt"), &r);
    ck_assert_int_eq(r.status, 404);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* A file changed in place between two requests of one keep-alive
 * connection is served as it is now, every time: the change (in place, the
 * same length, so only its timestamps tell) is made before the request is
 * sent, so the cache's check of the file (its inotify report, or a stat)
 * comes before the answer. Truncated to nothing and appended to as well. */
START_TEST(static_file_cache_keepalive)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char want[32];
    const char *raw = "GET /k.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";

    start(&s);
    kp_h_write(&s, "html/k.txt", "version 00\n");
    int fd = kp_h_connect(s.port);
    for (int i = 0; i < 60; i++) {
        snprintf(want, sizeof(want), i % 20 == 19 ? "" : "version %02d\n", i);
        kp_h_write(&s, "html/k.txt", want);
        kp_h_send_str(fd, raw);
        ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(r.body_len == strlen(want) &&
                          (r.body_len == 0 || memcmp(r.body, want, r.body_len) == 0),
                      "request %d: a stale body (%zu bytes)", i, r.body_len);
        kp_h_resp_free(&r);
    }
    close(fd);
    kp_h_stop(&s);
}
END_TEST

/* A small file's bytes kept in memory by the open-file cache are never
 * served stale: changed in place to a text of the same length (so only its
 * timestamps change), the next request gets the new bytes. The file is
 * first left alone long enough (KP_HTTP_FILECACHE_RACY_S) to be copied. */
START_TEST(static_file_cache_memory)
{
    struct kp_h_server s;

    start(&s);
    kp_h_write(&s, "html/m.txt", "first version\n");
    kp_h_sleep_ms(3100);
    ck_assert_int_eq(body_becomes(&s, GET("/m.txt"), "first version\n"), 0);
    ck_assert_int_eq(body_becomes(&s, GET("/m.txt"), "first version\n"), 0);
    kp_h_write(&s, "html/m.txt", "other version\n");
    ck_assert_int_eq(body_becomes(&s, GET("/m.txt"), "other version\n"), 0);
    kp_h_write(&s, "html/m.txt", "third, longer version\n");
    ck_assert_int_eq(body_becomes(&s, GET("/m.txt"), "third, longer version\n"), 0);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_static_suite(void)
{
    Suite *s = suite_create("static");
    TCase *tc = tcase_create("static");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, static_get_file);
    tcase_add_test(tc, static_index_and_directories);
    tcase_add_test(tc, static_unreadable);
    tcase_add_test(tc, static_head);
    tcase_add_test(tc, static_conditional);
    tcase_add_test(tc, static_ranges);
    tcase_add_test(tc, static_methods);
    tcase_add_test(tc, static_large_file);
    tcase_add_test(tc, static_alias);
    tcase_add_test(tc, static_alias_variables_stay_beneath);
    tcase_add_test(tc, static_try_files);
    tcase_add_test(tc, static_alias_nested_and_regex_try_files);
    tcase_add_test(tc, static_symlinks);
    tcase_add_test(tc, static_file_cache);
    tcase_add_test(tc, static_file_cache_memory);
    tcase_add_test(tc, static_file_cache_keepalive);
    tcase_add_test(tc, static_traversal);
    suite_add_tcase(s, tc);
    return s;
}
