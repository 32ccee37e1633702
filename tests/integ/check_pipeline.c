/* Pipelined requests answered in batches (request.c): whatever the server
 * gathers and however it splits its writes, the byte stream a pipelining
 * client reads is exactly the concatenation of the answers each request
 * gets on its own, in order, up to and including a Connection: close one
 * and nothing after it. Mixes of GET, HEAD, 304, 404, 206, 405 after a
 * request body, files read from disk and by sendfile between memory
 * answers; more requests than one batch and one read buffer hold; and a
 * client that reads nothing until it has sent everything (the server's
 * socket fills mid-batch). Files are left alone long enough first for the
 * open-file cache to keep small ones in memory, as in production. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"

#define MAIN "master_process off;"

static const char *CONF = "access_log off;\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT@;\n"
                          "    root html;\n"
                          "    keepalive_requests 100000;\n"
                          "    location /sf/ { sendfile on; }\n"
                          "}\n"
                          "server {\n"
                          "    listen 127.0.0.1:@PORT2@ sndbuf=4096;\n"
                          "    root html;\n"
                          "}\n";

/* A growing byte string. */
struct bytes {
    char *p;
    size_t len, cap;
};

static void bytes_add(struct bytes *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void bytes_str(struct bytes *b, const char *s)
{
    bytes_add(b, s, strlen(s));
}

static char *filled(size_t n, char seed)
{
    char *p = malloc(n + 1);

    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (seed + i * 7 + i / 13) % 26);
    p[n] = '\0';
    return p;
}

static void start(struct kp_h_server *s)
{
    char *m = filled(600, 1), *big = filled(65536, 2);

    kp_h_prepare(s);
    kp_h_write(s, "html/a.txt", "AAAA\n");
    kp_h_write(s, "html/m.html", m);
    kp_h_write(s, "html/big.bin", big);
    kp_h_write(s, "html/sf/big.bin", big);
    free(m);
    free(big);
    /* Old enough for the open-file cache to keep the small ones in memory
     * (KP_HTTP_FILECACHE_RACY_S), so that their answers batch. */
    kp_h_sleep_ms(2100);
    kp_h_config(s, MAIN, CONF);
    ck_assert_msg(kp_h_start(s) == 0, "server failed to start");
}

/* The Date field is the one thing two answers a second apart may not
 * share: blank its value. */
static void blank_dates(struct bytes *b)
{
    static const char field[] = "\r\nDate: ";
    size_t n = sizeof(field) - 1;

    /* One pass by hand: strstr() over megabytes, once per field, is
     * quadratic under the sanitizers' interceptors. */
    for (size_t i = 0; i + n <= b->len; i++) {
        if (b->p[i] != '\r' || memcmp(b->p + i, field, n) != 0)
            continue;
        size_t j = i + n;
        while (j < b->len && b->p[j] != '\r')
            b->p[j++] = '-';
        i = j - 1;
    }
}

/* What req gets on a connection of its own, head and body as sent. */
static void answer_alone(const struct kp_h_server *s, const char *req, struct bytes *out)
{
    struct kp_h_resp r;
    int fd = kp_h_connect(s->port);

    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, req);
    ck_assert_msg(kp_h_recv(fd, &r, strncmp(req, "HEAD ", 5) == 0) == 0, "no answer to %s", req);
    bytes_add(out, r.head, r.head_len);
    if (r.body != NULL)
        bytes_add(out, r.body, r.body_len);
    kp_h_resp_free(&r);
    close(fd);
}

/* Everything the server sends on fd until it closes. */
static void read_to_close(int fd, struct bytes *out)
{
    char buf[16384];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        bytes_add(out, buf, (size_t)n);
    ck_assert_msg(n == 0, "the connection broke instead of closing");
}

/* Send reqs[0..n) pipelined (one send unless `writer`: then a child process
 * sends them while nothing is read until all are sent... by the child),
 * read until the server closes, and compare with each answered alone;
 * reqs[n - 1] carries Connection: close, and `after` (never answered)
 * follows it. */
static void check_pipeline(const struct kp_h_server *s, const char *const *reqs, size_t n,
                           bool writer)
{
    struct bytes all = {0}, want = {0}, got = {0};
    const char *after = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";

    /* Answers alone, asked once per distinct request text. */
    enum { SEEN = 16 };
    const char *seen[SEEN];
    struct bytes alone[SEEN] = {{0}};
    size_t n_seen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_seen && seen[k] != reqs[i])
            k++;
        if (k == n_seen) {
            ck_assert_uint_lt(n_seen, SEEN);
            seen[n_seen++] = reqs[i];
            answer_alone(s, reqs[i], &alone[k]);
        }
        bytes_str(&all, reqs[i]);
        bytes_add(&want, alone[k].p, alone[k].len);
    }
    for (size_t k = 0; k < n_seen; k++)
        free(alone[k].p);
    bytes_str(&all, after);
    int fd = kp_h_connect(s->port);
    ck_assert_int_ge(fd, 0);
    if (writer) {
        /* The server's socket fills while the client is still sending. */
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            kp_h_send(fd, all.p, all.len);
            _exit(0);
        }
        kp_h_sleep_ms(200);
        read_to_close(fd, &got);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    } else {
        kp_h_send(fd, all.p, all.len);
        read_to_close(fd, &got);
    }
    close(fd);
    blank_dates(&want);
    blank_dates(&got);
    ck_assert_uint_eq(got.len, want.len);
    ck_assert_msg(memcmp(got.p, want.p, want.len) == 0, "pipelined answers differ");
    free(all.p);
    free(want.p);
    free(got.p);
}

/* The ETag of path, with its quotes, in a static buffer. */
static const char *etag_of(const struct kp_h_server *s, const char *path)
{
    static char tag[128];
    char req[256];
    struct kp_h_resp r;

    snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    ck_assert_int_eq(kp_h_request(s->port, req, &r), 0);
    const char *v = kp_h_header(&r, "ETag");
    ck_assert_ptr_nonnull(v);
    snprintf(tag, sizeof(tag), "%s", v);
    kp_h_resp_free(&r);
    return tag;
}

START_TEST(pipeline_mixed_byte_exact)
{
    struct kp_h_server s;
    char inm[256];

    start(&s);
    snprintf(inm, sizeof(inm), "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n",
             etag_of(&s, "/a.txt"));
    const char *const reqs[] = {
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        inm,
        "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /m.html HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n",
        "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /m.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /sf/big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "GET /m.html HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    check_pipeline(&s, reqs, sizeof(reqs) / sizeof(reqs[0]), false);
    /* Connection: close in the middle of what could be one batch. */
    const char *const two[] = {
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /m.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    check_pipeline(&s, two, 2, false);
    kp_h_stop(&s);
}
END_TEST

/* More requests than one batch answers per event and than one read buffer
 * holds; then a client that reads nothing while it sends. */
START_TEST(pipeline_long_and_unread)
{
    struct kp_h_server s;
    enum { N = 300, M = 12000 };
    const char **reqs = calloc(M, sizeof(*reqs));

    start(&s);
    for (size_t i = 0; i < N; i++)
        reqs[i] = i % 3 == 0   ? "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                  : i % 3 == 1 ? "GET /m.html HTTP/1.1\r\nHost: x\r\n\r\n"
                               : "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n";
    reqs[N - 1] = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    check_pipeline(&s, reqs, N, false);
    for (size_t i = 0; i < M; i++)
        reqs[i] = i % 1000 == 7 ? "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                                : "GET /m.html HTTP/1.1\r\nHost: x\r\n\r\n";
    reqs[M - 1] = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    check_pipeline(&s, reqs, M, true);
    free(reqs);
    kp_h_stop(&s);
}
END_TEST

/* Answers gathered before the rest of a request arrives are sent without
 * waiting for it, also when the socket takes only part of them (a small
 * sndbuf, a client that is not reading yet): nothing is lost or reordered. */
START_TEST(pipeline_split_request)
{
    struct kp_h_server s;
    struct bytes all = {0}, want = {0}, got = {0};
    const char *req = "GET /m.html HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *last = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int small = 4096;

    start(&s);
    for (int i = 0; i < 20; i++) {
        bytes_str(&all, req);
        answer_alone(&s, req, &want);
    }
    answer_alone(&s, last, &want);
    /* A complete request and the start of the next: the first answer comes
     * while the server waits for the rest. */
    int fd = kp_h_connect(s.port);
    ck_assert_int_ge(fd, 0);
    kp_h_send_str(fd, req);
    kp_h_send(fd, last, 10);
    struct kp_h_resp r;
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    kp_h_resp_free(&r);
    kp_h_send_str(fd, last + 10);
    ck_assert_int_eq(kp_h_recv(fd, &r, false), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "AAAA\n");
    kp_h_resp_free(&r);
    close(fd);
    /* Twenty answers for a 4 KiB send buffer and a client not reading. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port2)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    bytes_add(&all, last, 10);
    kp_h_send(fd, all.p, all.len);
    kp_h_sleep_ms(300);
    kp_h_send_str(fd, last + 10);
    read_to_close(fd, &got);
    close(fd);
    blank_dates(&want);
    blank_dates(&got);
    ck_assert_uint_eq(got.len, want.len);
    ck_assert_msg(memcmp(got.p, want.p, want.len) == 0, "pipelined answers differ");
    free(all.p);
    free(want.p);
    free(got.p);
    kp_h_stop(&s);
}
END_TEST

Suite *kp_test_pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pipeline_mixed_byte_exact);
    tcase_add_test(tc, pipeline_long_and_unread);
    tcase_add_test(tc, pipeline_split_request);
    suite_add_tcase(s, tc);
    return s;
}
