/* Prebuilt answers (http/response.h): a small file the open-file cache
 * keeps in memory is answered from a head built once per file version,
 * with only the Date stamped in. Differential tests: the same requests to
 * two servers on the same files, one with the open-file cache (so with
 * prebuilt answers) and one with `open_file_cache off` (every head built
 * from its pieces), must get the same bytes, the Date (and Expires, which
 * follows it) aside, for every header kelpie sends: server_tokens, etag,
 * charset, add_header (constant and from variables), expires,
 * keepalive_timeout's header, max_ranges, keepalive_requests, HTTP/1.0,
 * HEAD, Connection: close, preconditions and ranges; one by one, and
 * pipelined. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The locations of both servers (%s: the html directory, absolute). */
#define LOCATIONS                                                                                  \
    "    location / { }\n"                                                                         \
    "    location /tokens_off/ { alias %s/; server_tokens off; }\n"                                \
    "    location /tokens_build/ { alias %s/; server_tokens build; }\n"                            \
    "    location /etag_off/ { alias %s/; etag off; }\n"                                           \
    "    location /charset/ { alias %s/; charset utf-8; }\n"                                       \
    "    location /add/ { alias %s/; add_header X-Fast yes; }\n"                                   \
    "    location /addvar/ { alias %s/; add_header X-Uri $uri; }\n"                                \
    "    location /expires/ { alias %s/; expires 1h; }\n"                                          \
    "    location /ka/ { alias %s/; keepalive_timeout 30s 20s; }\n"                                \
    "    location /noranges/ { alias %s/; max_ranges 0; }\n"                                       \
    "    location /once/ { alias %s/; keepalive_requests 1; }\n"

static const char *const PLACES[] = {"/",         "/tokens_off/", "/tokens_build/", "/etag_off/",
                                     "/charset/", "/add/",        "/addvar/",       "/expires/",
                                     "/ka/",      "/noranges/",   "/once/"};

/* File name and size: in memory up to KP_HTTP_FILECACHE_BODY_MAX (16 KiB). */
static const struct {
    const char *name;
    size_t size;
} FILES[] = {{"index.html", 600}, {"a.txt", 5},       {"empty.txt", 0},
             {"mid.bin", 1500},   {"max.bin", 16384}, {"over.bin", 16385}};

/* Request shapes: method and target, then the rest. */
static const struct {
    const char *method, *rest;
} SHAPES[] = {
    {"GET ", " HTTP/1.1\r\nHost: x\r\n\r\n"},
    {"HEAD ", " HTTP/1.1\r\nHost: x\r\n\r\n"},
    {"GET ", " HTTP/1.0\r\n\r\n"},
    {"GET ", " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
    {"GET ", " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
    {"GET ", " HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n"},
    {"GET ", " HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n"},
    {"GET ", " HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n"},
};

struct pair {
    struct kp_h_server fast, plain;
};

static void write_files(const struct kp_h_server *s)
{
    for (size_t i = 0; i < sizeof(FILES) / sizeof(FILES[0]); i++) {
        char *text = malloc(FILES[i].size + 1), path[64];
        for (size_t j = 0; j < FILES[i].size; j++)
            text[j] = (char)('a' + j % 26);
        text[FILES[i].size] = '\0';
        snprintf(path, sizeof(path), "html/%s", FILES[i].name);
        kp_h_write(s, path, text);
        free(text);
    }
}

/* The http block: cache or not, the rest the same, on html. */
static char *http_body(const char *html, bool cache)
{
    char locs[4096], *out = malloc(8192);

    snprintf(locs, sizeof(locs), LOCATIONS, html, html, html, html, html, html, html, html, html,
             html);
    snprintf(out, 8192,
             "types { text/html html; text/plain txt; }\n"
             "default_type application/octet-stream;\n"
             "sendfile off;\n"
             "access_log off;\n"
             "%s"
             "server {\n"
             "    listen 127.0.0.1:@PORT@;\n"
             "    root %s;\n"
             "%s"
             "}\n",
             cache ? "" : "open_file_cache off;\n", html, locs);
    return out;
}

/* Both servers on the files of the first; the files are left alone long
 * enough to be kept in memory (KP_HTTP_FILECACHE_RACY_S). */
static void pair_start(struct pair *p)
{
    char html[256];

    kp_h_prepare(&p->fast);
    write_files(&p->fast);
    /* Workers started by root run as nobody: the other server's must get
     * through the first one's prefix to the files. */
    ck_assert_int_eq(chmod(p->fast.prefix, 0755), 0);
    snprintf(html, sizeof(html), "%shtml", p->fast.prefix);
    char *fast = http_body(html, true), *plain = http_body(html, false);
    kp_h_config(&p->fast, "", fast);
    kp_h_prepare(&p->plain);
    kp_h_config(&p->plain, "", plain);
    free(fast);
    free(plain);
    ck_assert_int_eq(kp_h_start(&p->fast), 0);
    ck_assert_int_eq(kp_h_start(&p->plain), 0);
    kp_h_sleep_ms(3100);
}

static void pair_stop(struct pair *p)
{
    kp_h_stop(&p->fast);
    kp_h_stop(&p->plain);
}

/* The 29 bytes after each "\r\n<name>: " in head, as X: the time of the
 * answer, which may differ by a second between the two servers. */
static void mask(char *head, const char *name)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "\r\n%s: ", name);

    for (char *p = strstr(head, key); p != NULL; p = strstr(p + n, key))
        memset(p + n, 'X', strnlen(p + n, 29));
}

static void same_response(struct kp_h_resp *a, struct kp_h_resp *b, const char *what)
{
    mask(a->head, "Date");
    mask(b->head, "Date");
    mask(a->head, "Expires");
    mask(b->head, "Expires");
    ck_assert_msg(strcmp(a->head, b->head) == 0, "%s:\n%s\n---\n%s", what, a->head, b->head);
    ck_assert_msg(a->body_len == b->body_len &&
                      (a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0),
                  "%s: bodies differ", what);
}

/* Every request shape for every file in every place, one connection
 * each: the cached server twice (the second from the prebuilt answer the
 * first left), the other once; all three alike. */
START_TEST(prebuilt_same_bytes_as_built)
{
    struct pair p;
    char path[128], raw[512];
    int compared = 0;

    pair_start(&p);
    for (size_t i = 0; i < sizeof(PLACES) / sizeof(PLACES[0]); i++) {
        /* All files at the root, the two most telling elsewhere. */
        size_t nfiles = i == 0 ? sizeof(FILES) / sizeof(FILES[0]) : 2;
        for (size_t f = 0; f < nfiles; f++) {
            snprintf(path, sizeof(path), "%s%s", PLACES[i], FILES[f].name);
            for (size_t k = 0; k < sizeof(SHAPES) / sizeof(SHAPES[0]); k++) {
                struct kp_h_resp first, second, plain;
                snprintf(raw, sizeof(raw), "%s%s%s", SHAPES[k].method, path, SHAPES[k].rest);
                ck_assert_int_eq(kp_h_request(p.fast.port, raw, &first), 0);
                ck_assert_int_eq(kp_h_request(p.fast.port, raw, &second), 0);
                ck_assert_int_eq(kp_h_request(p.plain.port, raw, &plain), 0);
                /* Every place answers (the last shape asks for a range,
                 * which an empty file cannot satisfy; max_ranges 0 ignores
                 * it). */
                bool ranged = k == 7 && strcmp(PLACES[i], "/noranges/") != 0;
                int want = !ranged ? 200 : FILES[f].size > 0 ? 206 : 416;
                ck_assert_msg(first.status == want, "%s: %d", raw, first.status);
                same_response(&first, &plain, raw);
                same_response(&second, &plain, raw);
                kp_h_resp_free(&first);
                kp_h_resp_free(&second);
                kp_h_resp_free(&plain);
                compared++;
            }
        }
    }
    ck_assert_int_eq(compared, (6 + 10 * 2) * 8);
    pair_stop(&p);
}
END_TEST

/* Pipelined requests, batched into one send (request.c): the same bytes
 * from both servers, in order. */
START_TEST(prebuilt_pipelined_same_bytes)
{
    static const char *const reqs[] = {
        "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /add/index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /max.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"};
    enum { N = sizeof(reqs) / sizeof(reqs[0]) };
    struct pair p;
    char all[4096] = "";

    pair_start(&p);
    for (size_t i = 0; i < N; i++)
        strcat(all, reqs[i]);
    for (int round = 0; round < 3; round++) {
        int a = kp_h_connect(p.fast.port), b = kp_h_connect(p.plain.port);
        ck_assert_int_ge(a, 0);
        ck_assert_int_ge(b, 0);
        kp_h_send_str(a, all);
        kp_h_send_str(b, all);
        for (size_t i = 0; i < N; i++) {
            struct kp_h_resp ra, rb;
            bool head = strncmp(reqs[i], "HEAD ", 5) == 0;
            ck_assert_int_eq(kp_h_recv(a, &ra, head), 0);
            ck_assert_int_eq(kp_h_recv(b, &rb, head), 0);
            same_response(&ra, &rb, reqs[i]);
            kp_h_resp_free(&ra);
            kp_h_resp_free(&rb);
        }
        close(a);
        close(b);
    }
    pair_stop(&p);
}
END_TEST

/* The Date of an answer from a prebuilt head is the time of that answer,
 * not of the one that built it: answers a second apart carry later and
 * later Dates. */
START_TEST(prebuilt_date_moves_on)
{
    struct pair p;
    struct kp_h_resp r;
    const char *raw = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    time_t last = 0;

    pair_start(&p);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kp_h_request(p.fast.port, raw, &r), 0);
        const char *date = kp_h_header(&r, "Date");
        ck_assert_ptr_nonnull(date);
        struct tm tm = {0};
        ck_assert_ptr_nonnull(strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm));
        time_t t = timegm(&tm);
        ck_assert_msg(t > last, "Date %s did not move on", date);
        last = t;
        kp_h_resp_free(&r);
        kp_h_sleep_ms(1100);
    }
    pair_stop(&p);
}
END_TEST

Suite *kp_test_prebuilt_suite(void)
{
    Suite *s = suite_create("prebuilt");
    TCase *tc = tcase_create("prebuilt");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, prebuilt_same_bytes_as_built);
    tcase_add_test(tc, prebuilt_pipelined_same_bytes);
    tcase_add_test(tc, prebuilt_date_moves_on);
    suite_add_tcase(s, tc);
    return s;
}
