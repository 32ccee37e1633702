/* gzip against the real binary: on-the-fly compression (types, min_length,
 * Vary, weak ETag, Range ignored, 304, HEAD, HTTP/1.0, Via, gzip_disable),
 * Accept-Encoding q-values and a 10 KiB field, the per-version cache,
 * gzip_static on|always, error pages and `return` text, and curl --compressed. Bodies are checked
 * by decompressing them. */
#include <check.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TEXT_SIZE 65536

#define REQ(path, extra) "GET " path " HTTP/1.1\r\nHost: x\r\n" extra "Connection: close\r\n\r\n"
#define AE_GZIP          "Accept-Encoding: gzip, deflate\r\n"

static const char *CONF = "types { text/plain txt; text/html html; image/png png; "
                          "text/css css; }\n"
                          "access_log off;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    large_client_header_buffers 4 16k;\n"
                          "    root html;\n"
                          "    gzip on;\n"
                          "    gzip_types text/plain;\n"
                          "    gzip_vary on;\n"
                          "    gzip_min_length 100;\n"
                          "    gzip_disable msie6 \"^BadBot\";\n"
                          "    location /lvl9/ { gzip_comp_level 9; }\n"
                          "    location /proxied/ { gzip_proxied any; }\n"
                          "    location /http10/ { gzip_http_version 1.0; }\n"
                          "    location /st/ { gzip off; gzip_static on; }\n"
                          "    location /always/ { gzip off; gzip_static always; }\n"
                          "    location /novary/ { gzip_vary off; }\n"
                          "    location = /ret { default_type text/plain; return 200 "
                          "\"returned text returned text returned text returned text returned "
                          "text returned text returned text returned text\"; }\n"
                          "    location = /denied { deny all; }\n"
                          "}\n";

static char *text_content(void)
{
    char *b = malloc(TEXT_SIZE + 1);

    for (size_t i = 0; i < TEXT_SIZE; i++)
        b[i] = (i % 64 == 63) ? '\n' : (char)("the quick brown fox "[i % 20]);
    b[TEXT_SIZE] = '\0';
    return b;
}

static void start(struct kp_h_server *s)
{
    char *text = text_content();

    kp_h_prepare(s);
    kp_h_write(s, "html/t.txt", text);
    kp_h_write(s, "html/index.html", text);
    kp_h_write(s, "html/small.txt", "tiny\n");
    kp_h_write(s, "html/t.png", text);
    kp_h_write(s, "html/t.css", text);
    kp_h_write(s, "html/lvl9/t.txt", text);
    kp_h_write(s, "html/proxied/t.txt", text);
    kp_h_write(s, "html/http10/t.txt", text);
    kp_h_write(s, "html/novary/t.txt", text);
    kp_h_write(s, "html/st/p.txt", text);
    kp_h_write(s, "html/st/only.txt.gz", "");
    kp_h_write(s, "html/always/p.txt", text);
    free(text);
    kp_h_config(s, "master_process off;", CONF);
    ck_assert_int_eq(kp_h_start(s), 0);
}

/* Decompress r's body and compare it with the test text. */
static void assert_gunzips_to_text(const struct kp_h_resp *r)
{
    char *text = text_content(), *out = malloc(TEXT_SIZE + 16);
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t n = 0;

    ck_assert_ptr_nonnull(r->body);
    ck_assert_int_eq(libdeflate_gzip_decompress(d, r->body, r->body_len, out, TEXT_SIZE + 16, &n),
                     LIBDEFLATE_SUCCESS);
    ck_assert_uint_eq(n, TEXT_SIZE);
    ck_assert(memcmp(out, text, TEXT_SIZE) == 0);
    libdeflate_free_decompressor(d);
    free(out);
    free(text);
}

static bool compressed(const struct kp_h_resp *r)
{
    const char *ce = kp_h_header(r, "Content-Encoding");

    return ce != NULL && strcmp(ce, "gzip") == 0;
}

START_TEST(gzip_on_the_fly)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(compressed(&r));
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/plain");
    ck_assert_ptr_nonnull(kp_h_header(&r, "Last-Modified"));
    ck_assert(strncmp(kp_h_header(&r, "ETag"), "W/\"", 3) == 0);
    ck_assert_ptr_null(kp_h_header(&r, "Accept-Ranges"));
    ck_assert_uint_eq((size_t)atol(kp_h_header(&r, "Content-Length")), r.body_len);
    ck_assert_uint_lt(r.body_len, TEXT_SIZE / 4);
    assert_gunzips_to_text(&r);
    kp_h_resp_free(&r);

    /* Without Accept-Encoding: the file as it is, still varying. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", ""), &r), 0);
    ck_assert(!compressed(&r));
    ck_assert_uint_eq(r.body_len, TEXT_SIZE);
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    ck_assert(kp_h_header(&r, "ETag")[0] == '"');
    ck_assert_str_eq(kp_h_header(&r, "Accept-Ranges"), "bytes");
    kp_h_resp_free(&r);

    /* text/html is always compressed; level 9 gives valid gzip too. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/", AE_GZIP), &r), 0);
    ck_assert(compressed(&r));
    assert_gunzips_to_text(&r);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/lvl9/t.txt", AE_GZIP), &r), 0);
    ck_assert(compressed(&r));
    assert_gunzips_to_text(&r);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(gzip_not_eligible)
{
    struct kp_h_server s;
    struct kp_h_resp r;

    start(&s);
    /* Below gzip_min_length, or a type not in gzip_types: no Vary either. */
    const char *paths[] = {REQ("/small.txt", AE_GZIP), REQ("/t.png", AE_GZIP),
                           REQ("/t.css", AE_GZIP)};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(kp_h_request(s.port, paths[i], &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert(!compressed(&r));
        ck_assert_ptr_null(kp_h_header(&r, "Vary"));
        kp_h_resp_free(&r);
    }
    /* Clients gzip refuses: HTTP/1.0 (gzip_http_version 1.1), a proxy
     * (gzip_proxied off), MSIE 6 and a gzip_disable regex. */
    const char *refused[] = {
        "GET /t.txt HTTP/1.0\r\n" AE_GZIP "\r\n",
        REQ("/t.txt", AE_GZIP "Via: 1.1 proxy\r\n"),
        REQ("/t.txt", AE_GZIP "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)\r\n"),
        REQ("/t.txt", AE_GZIP "User-Agent: badbot/1.0\r\n"),
    };
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(kp_h_request(s.port, refused[i], &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(!compressed(&r), "%s", refused[i]);
        ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
        kp_h_resp_free(&r);
    }
    const char *allowed[] = {
        "GET /http10/t.txt HTTP/1.0\r\n" AE_GZIP "\r\n",
        REQ("/proxied/t.txt", AE_GZIP "Via: 1.1 proxy\r\n"),
        REQ("/t.txt", AE_GZIP "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; SV1)\r\n"),
    };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(kp_h_request(s.port, allowed[i], &r), 0);
        ck_assert_msg(compressed(&r), "%s", allowed[i]);
        assert_gunzips_to_text(&r);
        kp_h_resp_free(&r);
    }
    ck_assert_int_eq(kp_h_request(s.port, REQ("/novary/t.txt", AE_GZIP), &r), 0);
    ck_assert(compressed(&r));
    ck_assert_ptr_null(kp_h_header(&r, "Vary"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* r's body gunzipped into out (size bytes, NUL-terminated). */
static void gunzip(const struct kp_h_resp *r, char *out, size_t size)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t n = 0;

    ck_assert_ptr_nonnull(r->body);
    ck_assert_int_eq(libdeflate_gzip_decompress(d, r->body, r->body_len, out, size - 1, &n),
                     LIBDEFLATE_SUCCESS);
    out[n] = '\0';
    libdeflate_free_decompressor(d);
}

/* Responses made in memory go through the gzip filter too, as in nginx:
 * error pages of 403 and 404 and `return` text; other statuses do not. */
START_TEST(gzip_memory_bodies)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char out[4096];

    start(&s);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/missing", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert(compressed(&r));
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    ck_assert_uint_eq((size_t)atol(kp_h_header(&r, "Content-Length")), r.body_len);
    gunzip(&r, out, sizeof(out));
    ck_assert_ptr_nonnull(strstr(out, "<title>404 Not Found</title>"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/denied", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 403);
    ck_assert(compressed(&r));
    gunzip(&r, out, sizeof(out));
    ck_assert_ptr_nonnull(strstr(out, "403 Forbidden"));
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/ret", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(compressed(&r));
    gunzip(&r, out, sizeof(out));
    ck_assert(strncmp(out, "returned text returned", 22) == 0);
    kp_h_resp_free(&r);
    /* Without Accept-Encoding: plain, still varying. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/missing", ""), &r), 0);
    ck_assert(!compressed(&r));
    ck_assert_ptr_nonnull(strstr(r.body, "404 Not Found"));
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    kp_h_resp_free(&r);
    /* A 405 is not a status nginx's filter compresses. */
    ck_assert_int_eq(
        kp_h_request(s.port, "TRACE / HTTP/1.1\r\nHost: x\r\n" AE_GZIP "Connection: close\r\n\r\n",
                     &r),
        0);
    ck_assert_int_eq(r.status, 405);
    ck_assert(!compressed(&r));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(gzip_accept_encoding)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    static const struct {
        const char *ae;
        bool gzip;
    } cases[] = {
        {"Accept-Encoding: gzip;q=0\r\n", false},
        {"Accept-Encoding: gzip;q=0, *\r\n", false},
        {"Accept-Encoding: br, *;q=0.5\r\n", true},
        {"Accept-Encoding: *;q=0\r\n", false},
        {"Accept-Encoding: identity\r\n", false},
        {"Accept-Encoding: X-GZIP;Q=0.5\r\n", true},
        {"Accept-Encoding: deflate\r\nAccept-Encoding: gzip\r\n", true},
        {"Accept-Encoding: gzip;q=1.5\r\n", false},
    };

    start(&s);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[512];
        snprintf(req, sizeof(req), "GET /t.txt HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
                 cases[i].ae);
        ck_assert_int_eq(kp_h_request(s.port, req, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(compressed(&r) == cases[i].gzip, "%s", cases[i].ae);
        kp_h_resp_free(&r);
    }
    /* A 10 KiB Accept-Encoding: parsed, gzip found at its end. */
    size_t n = 10 * 1024;
    char *big = malloc(n + 256);
    int len = sprintf(big, "GET /t.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: ");
    for (size_t i = 0; i < n; i += 8)
        len += sprintf(big + len, "x;q=0.1,");
    len += sprintf(big + len, "gzip\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(kp_h_request(s.port, big, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(compressed(&r));
    assert_gunzips_to_text(&r);
    kp_h_resp_free(&r);
    free(big);
    kp_h_stop(&s);
}
END_TEST

START_TEST(gzip_validators_and_ranges)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char etag[64], req[512];

    start(&s);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", AE_GZIP), &r), 0);
    snprintf(etag, sizeof(etag), "%s", kp_h_header(&r, "ETag"));
    size_t zlen = r.body_len;
    kp_h_resp_free(&r);

    /* Range on a compressed response: ignored, 200 with the whole body. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", AE_GZIP "Range: bytes=0-9\r\n"), &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(compressed(&r));
    ck_assert_ptr_null(kp_h_header(&r, "Content-Range"));
    ck_assert_uint_eq(r.body_len, zlen);
    kp_h_resp_free(&r);
    /* Without gzip the range is honoured. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", "Range: bytes=0-9\r\n"), &r), 0);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.body_len, 10);
    kp_h_resp_free(&r);

    /* 304: the weak tag matches (weak comparison), and the 304 carries the
     * tag and Vary the 200 would have. The strong form matches too. */
    snprintf(req, sizeof(req), REQ("/t.txt", AE_GZIP "If-None-Match: %s\r\n"), etag);
    ck_assert_int_eq(kp_h_request(s.port, req, &r), 0);
    ck_assert_int_eq(r.status, 304);
    ck_assert_str_eq(kp_h_header(&r, "ETag"), etag);
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    ck_assert_ptr_null(kp_h_header(&r, "Content-Encoding"));
    ck_assert_uint_eq(r.body_len, 0);
    kp_h_resp_free(&r);
    snprintf(req, sizeof(req), REQ("/t.txt", "If-None-Match: %s\r\n"), etag + 2);
    ck_assert_int_eq(kp_h_request(s.port, req, &r), 0);
    ck_assert_int_eq(r.status, 304);
    kp_h_resp_free(&r);

    /* HEAD: the GET's head, no body. */
    int fd = kp_h_connect(s.port);
    kp_h_send_str(fd, "HEAD /t.txt HTTP/1.1\r\nHost: x\r\n" AE_GZIP "\r\n");
    ck_assert_int_eq(kp_h_recv(fd, &r, true), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(compressed(&r));
    ck_assert_uint_eq((size_t)atol(kp_h_header(&r, "Content-Length")), zlen);
    ck_assert_str_eq(kp_h_header(&r, "ETag"), etag);
    kp_h_resp_free(&r);
    /* The connection is still in step: the next response is whole. */
    kp_h_send_str(fd, REQ("/t.txt", AE_GZIP));
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    assert_gunzips_to_text(&r);
    kp_h_resp_free(&r);
    close(fd);

    /* An error page is a page of its own: no validators of the file. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/nope.txt", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_null(kp_h_header(&r, "ETag"));
    ck_assert_ptr_null(kp_h_header(&r, "Content-Range"));
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

/* The cache is keyed by the file's version: the same inode, size and mtime
 * give the bytes compressed before (proof that nothing was compressed
 * again), a new mtime gives the new contents. */
START_TEST(gzip_cache_by_version)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char path[256];
    struct stat st;

    start(&s);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", AE_GZIP), &r), 0);
    assert_gunzips_to_text(&r);
    kp_h_resp_free(&r);
    snprintf(path, sizeof(path), "%shtml/t.txt", s.prefix);
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *f = fopen(path, "r+");
    ck_assert_ptr_nonnull(f);
    fputs("CHANGED", f); /* same size, in place */
    fclose(f);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    /* Under model sim_proactor each handler thread has a cache of its own,
     * and which one answers is not known: only the new version is certain. */
    if (!kp_h_model_is("sim_proactor")) {
        ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", AE_GZIP), &r), 0);
        assert_gunzips_to_text(&r); /* the cached version */
        kp_h_resp_free(&r);
    }

    times[1].tv_sec -= 100;
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/t.txt", AE_GZIP), &r), 0);
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    char *out = malloc(TEXT_SIZE);
    size_t n = 0;
    ck_assert_int_eq(libdeflate_gzip_decompress(d, r.body, r.body_len, out, TEXT_SIZE, &n),
                     LIBDEFLATE_SUCCESS);
    ck_assert(memcmp(out, "CHANGED", 7) == 0);
    free(out);
    libdeflate_free_decompressor(d);
    kp_h_resp_free(&r);
    kp_h_stop(&s);
}
END_TEST

START_TEST(gzip_static_files)
{
    struct kp_h_server s;
    struct kp_h_resp r;
    char *text = text_content();
    size_t zsize;

    kp_h_prepare(&s);
    kp_h_write(&s, "html/t.txt", text);
    kp_h_config(&s, "master_process off;", CONF);
    ck_assert_int_eq(kp_h_start(&s), 0);
    /* Put a real gzip file beside st/p.txt and always/p.txt. */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
    char *gz = malloc(TEXT_SIZE);
    zsize = libdeflate_gzip_compress(c, text, TEXT_SIZE, gz, TEXT_SIZE);
    libdeflate_free_compressor(c);
    const char *dirs[] = {"st", "always"};
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%shtml/%s/p.txt", s.prefix, dirs[i]);
        kp_h_write(&s, path + strlen(s.prefix), text);
        strcat(path, ".gz");
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(gz, 1, zsize, f), zsize);
        fclose(f);
    }
    kp_h_write(&s, "html/st/only.txt.gz", "x"); /* FILE.gz without FILE */

    ck_assert_int_eq(kp_h_request(s.port, REQ("/st/p.txt", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(compressed(&r));
    ck_assert_str_eq(kp_h_header(&r, "Content-Type"), "text/plain");
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    ck_assert(kp_h_header(&r, "ETag")[0] == '"'); /* the .gz file's own, strong */
    ck_assert_uint_eq(r.body_len, zsize);
    ck_assert(memcmp(r.body, gz, zsize) == 0);
    kp_h_resp_free(&r);
    /* Not accepted: the plain file, still varying. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/st/p.txt", ""), &r), 0);
    ck_assert(!compressed(&r));
    ck_assert_uint_eq(r.body_len, TEXT_SIZE);
    ck_assert_str_eq(kp_h_header(&r, "Vary"), "Accept-Encoding");
    kp_h_resp_free(&r);
    /* A range of the .gz file is a range of its bytes. */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/st/p.txt", AE_GZIP "Range: bytes=0-1\r\n"), &r), 0);
    ck_assert_int_eq(r.status, 206);
    ck_assert(compressed(&r));
    ck_assert(memcmp(r.body, "\x1f\x8b", 2) == 0);
    kp_h_resp_free(&r);
    ck_assert_int_eq(kp_h_request(s.port, REQ("/st/only.txt", AE_GZIP), &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "x");
    kp_h_resp_free(&r);
    /* always: whatever the client said, so the answer does not vary with
     * it (no Vary, though gzip_vary is on: nginx's rule). */
    ck_assert_int_eq(kp_h_request(s.port, REQ("/always/p.txt", ""), &r), 0);
    ck_assert(compressed(&r));
    ck_assert_uint_eq(r.body_len, zsize);
    ck_assert_ptr_null(kp_h_header(&r, "Vary"));
    kp_h_resp_free(&r);
    free(gz);
    free(text);
    kp_h_stop(&s);
}
END_TEST

/* curl --compressed decodes what kelpie sends to the file's bytes. */
START_TEST(gzip_curl)
{
    struct kp_h_server s;
    char url[128], *out = NULL, *err = NULL;

    start(&s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/t.txt", s.port);
    char *argv[] = {"/usr/bin/curl",      "-sS", "--compressed", "-w",
                    "\n%{size_download}", url,   (char *)NULL};
    ck_assert_int_eq(kp_h_run(argv, &out, &err), 0);
    char *text = text_content();
    ck_assert(strncmp(out, text, TEXT_SIZE) == 0);
    ck_assert_int_lt(atoi(out + TEXT_SIZE + 1), TEXT_SIZE / 4); /* sent compressed */
    free(text);
    free(out);
    free(err);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_gzip_suite(void)
{
    Suite *s = suite_create("gzip");
    TCase *tc = tcase_create("gzip");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gzip_on_the_fly);
    tcase_add_test(tc, gzip_not_eligible);
    tcase_add_test(tc, gzip_memory_bodies);
    tcase_add_test(tc, gzip_accept_encoding);
    tcase_add_test(tc, gzip_validators_and_ranges);
    tcase_add_test(tc, gzip_cache_by_version);
    tcase_add_test(tc, gzip_static_files);
    tcase_add_test(tc, gzip_curl);
    suite_add_tcase(s, tc);
    return s;
}
