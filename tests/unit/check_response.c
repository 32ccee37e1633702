/* Unit tests for response heads (status.c, response.c serialisation) and the
 * response writer over a socketpair: memory bodies, file bodies with
 * sendfile on and off, HEAD, and partial writes resumed after EAGAIN. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/http/filecache.h"
#include "kelpie/http/req.h"
#include "kelpie/http/response.h"
#include "kelpie/http/status.h"

#define DATE "Sun, 22 Nov 2026 10:00:00 GMT"

static size_t head_of(const struct kp_http_response *resp, const struct kp_http_head_opts *o,
                      char *out)
{
    size_t n = kp_http_response_head(resp, o, out);

    ck_assert_uint_le(n, kp_http_response_head_size(resp));
    out[n] = '\0';
    return n;
}

/* The head memo (kp_http_head_opts.memo) gives byte for byte the head built
 * without it, whatever changes from one response to the next: each input in
 * turn, the Date, and heads that are never kept. */
START_TEST(head_memo_same_bytes)
{
    static struct kp_http_head_memo memo;
    char with[1024], without[1024];
    const char *dates[] = {DATE, "Sun, 22 Nov 2026 10:00:01 GMT"};

    memset(&memo, 0, sizeof(memo));
    for (int k = 0; k < 40; k++) {
        struct kp_http_response resp;
        kp_http_response_init(&resp);
        resp.status = k % 13 == 12 ? 404 : 200;
        resp.content_type = k % 5 == 4 ? KP_STR("text/plain") : KP_STR("text/html");
        resp.etag = k % 7 == 6 ? KP_STR("\"5f-259\"") : KP_STR("\"5f-258\"");
        resp.last_modified = k % 11 == 10 ? 1000 : 999;
        resp.accept_ranges = k % 9 != 8;
        resp.fd = 3;
        resp.file_len = k % 17 == 16 ? 601 : 600;
        if (k % 19 == 18)
            resp.location = KP_STR("http://x/");
        if (k % 23 == 22)
            resp.extra = KP_STR("X-A: b\r\n");
        struct kp_http_head_opts o = {
            .date = dates[(k / 3) % 2],
            .server_tokens = k % 8 == 7 ? KP_HTTP_TOKENS_OFF : KP_HTTP_TOKENS_ON,
            .connection = k % 10 == 9 ? KP_HTTP_CONN_HDR_CLOSE : KP_HTTP_CONN_HDR_NONE,
            .keepalive_s = k % 15 == 14 ? 5 : 0,
            .memo = &memo};
        size_t n = head_of(&resp, &o, with);
        o.memo = NULL;
        size_t m = head_of(&resp, &o, without);
        ck_assert_uint_eq(n, m);
        ck_assert_msg(memcmp(with, without, n) == 0, "response %d: %s", k, with);
    }
    ck_assert_uint_gt(memo.len, 0);
}
END_TEST

START_TEST(status_table)
{
    ck_assert_str_eq(kp_http_status_reason(404), "Not Found");
    ck_assert_str_eq(kp_http_status_reason(431), "Request Header Fields Too Large");
    ck_assert_ptr_null(kp_http_status_reason(299));
    ck_assert_ptr_null(kp_http_status_reason(-1));
    ck_assert_ptr_null(kp_http_status_reason(100000));
    struct kp_str line = kp_http_status_line(200);
    ck_assert(kp_str_eq(line, KP_STR("HTTP/1.1 200 OK\r\n")));
    ck_assert_uint_eq(kp_http_status_line(299).len, 0);
    ck_assert_uint_eq(kp_http_status_page(200, KP_HTTP_TOKENS_ON).len, 0);
    ck_assert_uint_eq(kp_http_status_page(304, KP_HTTP_TOKENS_ON).len, 0);
    /* nginx's layout, and its title where it differs from the reason. */
    ck_assert(kp_str_eq(kp_http_status_page(503, KP_HTTP_TOKENS_OFF),
                        KP_STR("<html>\r\n<head><title>503 Service Temporarily Unavailable</title>"
                               "</head>\r\n<body>\r\n<center><h1>503 Service Temporarily "
                               "Unavailable</h1></center>\r\n<hr><center>kelpie</center>\r\n"
                               "</body>\r\n</html>\r\n")));
    ck_assert(kp_str_eq(kp_http_status_line(503), KP_STR("HTTP/1.1 503 Service Unavailable\r\n")));
    /* The server named as in the Server field. */
    ck_assert_ptr_nonnull(strstr(kp_http_status_page(404, KP_HTTP_TOKENS_ON).p,
                                 "<hr><center>kelpie/" KP_VERSION "</center>\r\n"));
    /* nginx's internal 494-497: a 400 page with a line of its own. */
    ck_assert(kp_str_eq(kp_http_status_page(494, KP_HTTP_TOKENS_OFF),
                        KP_STR("<html>\r\n<head><title>400 Request Header Or Cookie Too Large"
                               "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1>"
                               "</center>\r\n<center>Request Header Or Cookie Too Large</center>"
                               "\r\n<hr><center>kelpie</center>\r\n</body>\r\n</html>\r\n")));
    /* Codes nginx answers with an empty body have no page. */
    ck_assert_uint_eq(kp_http_status_page(431, KP_HTTP_TOKENS_ON).len, 0);
    ck_assert_uint_eq(kp_http_status_page(417, KP_HTTP_TOKENS_ON).len, 0);
    ck_assert(kp_http_status_no_body(100) && kp_http_status_no_body(204));
    ck_assert(kp_http_status_no_body(304) && !kp_http_status_no_body(200));
}
END_TEST

START_TEST(head_full)
{
    struct kp_http_response resp;
    struct kp_http_date_cache lm = {.t = -1};
    const struct kp_http_head_opts o = {DATE, true, KP_HTTP_CONN_HDR_KEEP_ALIVE, &lm, 0, NULL};
    char out[1024];

    kp_http_response_init(&resp);
    resp.status = 206;
    resp.content_type = KP_STR("text/plain");
    resp.fd = 3;
    resp.file_len = 100;
    resp.last_modified = 0;
    resp.etag = KP_STR("\"0-64\"");
    resp.accept_ranges = true;
    resp.content_range = KP_STR("bytes 0-99/1000");
    head_of(&resp, &o, out);
    ck_assert_str_eq(out, "HTTP/1.1 206 Partial Content\r\n"
                          "Server: kelpie/" KP_VERSION "\r\n"
                          "Date: " DATE "\r\n"
                          "Content-Type: text/plain\r\n"
                          "Content-Length: 100\r\n"
                          "Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                          "Connection: keep-alive\r\n"
                          "ETag: \"0-64\"\r\n"
                          "Accept-Ranges: bytes\r\n"
                          "Content-Range: bytes 0-99/1000\r\n"
                          "\r\n");
    /* The cache now holds the date and serves it again. */
    ck_assert_int_eq((int)lm.t, 0);
    ck_assert_str_eq(lm.text, "Thu, 01 Jan 1970 00:00:00 GMT");
    resp.last_modified = 86400;
    head_of(&resp, &o, out);
    ck_assert_ptr_nonnull(strstr(out, "Last-Modified: Fri, 02 Jan 1970 00:00:00 GMT\r\n"));
}
END_TEST

/* server_tokens: off names no version, on the version, build the version
 * and the name ./configure --build gave (on's field without one). */
START_TEST(head_server_tokens)
{
    static const char *const want[] = {"Server: kelpie\r\n", "Server: kelpie/" KP_VERSION "\r\n",
                                       KP_BUILD[0] ? "Server: kelpie/" KP_VERSION " (" KP_BUILD
                                                     ")\r\n"
                                                   : "Server: kelpie/" KP_VERSION "\r\n"};
    unsigned tokens[] = {KP_HTTP_TOKENS_OFF, KP_HTTP_TOKENS_ON, KP_HTTP_TOKENS_BUILD};
    struct kp_http_response resp;
    char out[1024];

    kp_http_response_init(&resp);
    resp.status = 204;
    for (size_t i = 0; i < 3; i++) {
        struct kp_http_head_opts o = {DATE, tokens[i], KP_HTTP_CONN_HDR_NONE, NULL, 0, NULL};
        head_of(&resp, &o, out);
        const char *server = strstr(out, "\r\n") + 2;
        ck_assert_msg(strncmp(server, want[i], strlen(want[i])) == 0, "%u: %s", tokens[i], out);
    }
}
END_TEST

START_TEST(head_minimal_and_variants)
{
    struct kp_http_response resp;
    struct kp_http_head_opts o = {DATE, false, KP_HTTP_CONN_HDR_CLOSE, NULL, 0, NULL};
    char out[1024];

    kp_http_response_init(&resp);
    resp.status = 301;
    resp.location = KP_STR("/new/");
    resp.body = KP_STR("moved");
    head_of(&resp, &o, out);
    ck_assert_str_eq(out, "HTTP/1.1 301 Moved Permanently\r\nServer: kelpie\r\nDate: " DATE
                          "\r\nContent-Length: 5\r\nConnection: close\r\nLocation: /new/\r\n\r\n");
    /* No Content-Length for 204 and 304; an explicit one wins otherwise. */
    o.connection = KP_HTTP_CONN_HDR_NONE;
    kp_http_response_init(&resp);
    resp.status = 304;
    resp.etag = KP_STR("\"e\"");
    head_of(&resp, &o, out);
    ck_assert_ptr_null(strstr(out, "Content-Length"));
    ck_assert_ptr_null(strstr(out, "Connection"));
    ck_assert_int_eq(kp_http_response_length(&resp), -1);
    resp.status = 200;
    resp.content_length = 42;
    ck_assert_int_eq(kp_http_response_length(&resp), 42);
    head_of(&resp, &o, out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 42\r\n"));
    /* keepalive_timeout's second value, on a connection that stays open only. */
    o.keepalive_s = 60;
    head_of(&resp, &o, out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nKeep-Alive: timeout=60\r\n"));
    o.connection = KP_HTTP_CONN_HDR_CLOSE;
    head_of(&resp, &o, out);
    ck_assert_ptr_null(strstr(out, "Keep-Alive"));
    o.connection = KP_HTTP_CONN_HDR_NONE;
    o.keepalive_s = 0;
    /* Unregistered codes keep an empty reason; nonsense becomes 500. */
    kp_http_response_init(&resp);
    resp.status = 299;
    head_of(&resp, &o, out);
    ck_assert(strncmp(out, "HTTP/1.1 299 \r\n", 15) == 0);
    ck_assert_ptr_nonnull(strstr(out, "Content-Length: 0\r\n"));
    resp.status = 42;
    head_of(&resp, &o, out);
    ck_assert(strncmp(out, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);
    /* 405 with Allow. */
    kp_http_response_init(&resp);
    resp.status = 405;
    resp.allow = KP_STR("GET, HEAD");
    head_of(&resp, &o, out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET, HEAD\r\n\r\n"));
}
END_TEST

/* --- the writer -------------------------------------------------------------------------- */

struct writer {
    struct kp_http_request *r;
    struct kp_http_loc_conf loc;
    int sv[2];
    char *got;
    size_t n, cap;
};

static void writer_init(struct writer *w, bool use_sendfile)
{
    memset(w, 0, sizeof(*w));
    w->r = calloc(1, sizeof(*w->r));
    kp_arena_init(&w->r->arena, 4096);
    kp_http_response_init(&w->r->resp);
    w->loc.sendfile = use_sendfile;
    w->r->loc = &w->loc;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, w->sv), 0);
    w->cap = 1 << 20;
    w->got = malloc(w->cap);
}

static void writer_free(struct writer *w)
{
    kp_arena_destroy(&w->r->arena);
    free(w->r);
    free(w->got);
    close(w->sv[0]);
    close(w->sv[1]);
}

/* Read what the writer sent so far. */
static void drain(struct writer *w)
{
    ssize_t n;

    while ((n = read(w->sv[1], w->got + w->n, w->cap - w->n)) > 0)
        w->n += (size_t)n;
}

/* Send until done, draining when the socket is full; returns the number of
 * KP_HTTP_SEND_AGAIN results seen. */
static int send_all(struct writer *w, size_t scratch_size)
{
    char *scratch = malloc(scratch_size);
    int again = 0;

    for (;;) {
        struct kp_conn c = {.io = {.fd = w->sv[0]}};
        enum kp_http_send_result rc = kp_http_response_send(w->r, &c, scratch, scratch_size);
        ck_assert_int_ne(rc, KP_HTTP_SEND_ERROR);
        if (rc == KP_HTTP_SEND_DONE)
            break;
        again++;
        drain(w);
    }
    drain(w);
    free(scratch);
    return again;
}

static const struct kp_http_head_opts OPTS = {DATE, true, KP_HTTP_CONN_HDR_NONE, NULL, 0, NULL};

START_TEST(send_memory_body)
{
    struct writer w;

    writer_init(&w, false);
    w.r->resp.status = 200;
    w.r->resp.body = KP_STR("hello body");
    kp_http_response_prepare(w.r, &OPTS);
    ck_assert_int_eq(send_all(&w, 64), 0);
    w.got[w.n] = '\0';
    ck_assert(strstr(w.got, "Content-Length: 10\r\n\r\nhello body") != NULL);
    ck_assert_uint_eq(w.r->bytes_sent, w.n);
    ck_assert_uint_eq(w.r->body_sent, 10);
    /* HEAD: the same head, no body. */
    size_t head = w.n - 10;
    w.r->head_only = true;
    w.r->bytes_sent = w.r->body_sent = 0;
    w.n = 0;
    kp_http_response_prepare(w.r, &OPTS);
    send_all(&w, 64);
    ck_assert_uint_eq(w.n, head);
    ck_assert_uint_eq(w.r->body_sent, 0);
    writer_free(&w);
}
END_TEST

/* A small memory body is copied behind its head (one piece for the
 * kernel, see KP_HTTP_JOIN_BODY in response.c), a large one is not; either
 * way the bytes, and their accounting, are the same, also when limit_rate's
 * budget cuts the sends anywhere in head or body. */
static void memory_body_in_steps(size_t len, bool joined)
{
    struct writer w;
    char *body = malloc(len);

    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 23);
    writer_init(&w, false);
    w.r->resp.status = 200;
    w.r->resp.body = (struct kp_str){body, len};
    kp_http_response_prepare(w.r, &OPTS);
    ck_assert_int_eq(w.r->out.body.p == w.r->out.head.p + w.r->out.head.len, joined);
    ck_assert_int_eq(w.r->out.body.p == body, !joined);
    size_t head = w.r->out.head.len;
    char scratch[64];
    struct kp_conn c = {.io = {.fd = w.sv[0]}};
    for (int i = 0; i < 1000; i++) {
        w.r->out.budget = 97; /* a step that falls inside head and body alike */
        enum kp_http_send_result rc = kp_http_response_send(w.r, &c, scratch, sizeof(scratch));
        ck_assert(rc == KP_HTTP_SEND_DONE || rc == KP_HTTP_SEND_LIMIT);
        drain(&w);
        if (rc == KP_HTTP_SEND_DONE)
            break;
    }
    ck_assert_uint_eq(w.n, head + len);
    ck_assert(memcmp(w.got + head, body, len) == 0);
    ck_assert_uint_eq(w.r->bytes_sent, head + len);
    ck_assert_uint_eq(w.r->body_sent, len);
    writer_free(&w);
    free(body);
}

START_TEST(send_memory_body_joined)
{
    memory_body_in_steps(600, true);
    memory_body_in_steps(5000, false);
}
END_TEST

/* A file of size bytes with a known pattern; returns its fd. */
static int pattern_file(size_t size)
{
    char path[] = "/tmp/kelpie-resp-XXXXXX";
    int fd = mkstemp(path);
    char buf[4096];

    ck_assert_int_ge(fd, 0);
    unlink(path);
    for (size_t off = 0; off < size; off += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (char)('a' + (off + i) % 23);
        size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);
        ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
    }
    return fd;
}

static void check_file_body(const struct writer *w, off_t from, size_t len)
{
    const char *body = strstr(w->got, "\r\n\r\n");

    ck_assert_ptr_nonnull(body);
    body += 4;
    ck_assert_uint_eq((size_t)(w->got + w->n - body), len);
    /* One comparison, not one assertion per byte: that took seconds under
     * the sanitizers on a busy machine and ran into the test timeout. */
    char *want = malloc(len);
    for (size_t i = 0; i < len; i++)
        want[i] = (char)('a' + ((size_t)from + i) % 23);
    ck_assert(memcmp(body, want, len) == 0);
    free(want);
}

static void file_body(bool use_sendfile)
{
    struct writer w;
    size_t size = 600000;
    int fd = pattern_file(size);

    writer_init(&w, use_sendfile);
    w.r->resp.status = 206;
    w.r->resp.fd = fd;
    w.r->resp.file_offset = 1000;
    w.r->resp.file_len = size - 2000;
    kp_http_response_prepare(w.r, &OPTS);
    /* Larger than the socket buffer: at least one EAGAIN and a resume. */
    ck_assert_int_gt(send_all(&w, 8192), 0);
    w.got[w.n] = '\0';
    ck_assert(strstr(w.got, "Content-Length: 598000\r\n") != NULL);
    check_file_body(&w, 1000, size - 2000);
    ck_assert_uint_eq(w.r->body_sent, size - 2000);
    writer_free(&w);
    close(fd);
}

START_TEST(send_file_read_write)
{
    file_body(false);
}
END_TEST

START_TEST(send_file_sendfile)
{
    file_body(true);
}
END_TEST

START_TEST(send_to_closed_peer_fails)
{
    struct writer w;

    writer_init(&w, false);
    w.r->resp.status = 200;
    w.r->resp.body = KP_STR("x");
    kp_http_response_prepare(w.r, &OPTS);
    close(w.sv[1]);
    w.sv[1] = socket(AF_UNIX, SOCK_STREAM, 0);
    char scratch[64];
    struct kp_conn c = {.io = {.fd = w.sv[0]}};
    ck_assert_int_eq(kp_http_response_send(w.r, &c, scratch, sizeof(scratch)), KP_HTTP_SEND_ERROR);
    writer_free(&w);
}
END_TEST

/* --- prebuilt answers ------------------------------------------------------------------- */

/* A small file as the open-file cache keeps it in memory: its bytes behind
 * KP_HTTP_FILECACHE_ROOM zeroed bytes. */
struct held_file {
    char *room;
    const char *data;
    size_t len;
};

static void held_file_init(struct held_file *f, size_t len)
{
    f->room = calloc(1, KP_HTTP_FILECACHE_ROOM + len + 1);
    f->len = len;
    for (size_t i = 0; i < len; i++)
        f->room[KP_HTTP_FILECACHE_ROOM + i] = (char)('A' + i % 53);
    f->data = f->room + KP_HTTP_FILECACHE_ROOM;
}

/* Response k of a sequence whose inputs change now and then (each set
 * twice in a row, with another Date the second time), as the static
 * handler fills it in for the file f (with or without its prebuilt
 * answer), and the head options for it. */
static void vary_response(struct kp_http_request *r, int step, const struct held_file *f,
                          bool prebuilt, struct kp_http_head_opts *o)
{
    static const char *const dates[] = {DATE, "Sun, 22 Nov 2026 10:00:01 GMT"};
    struct kp_http_response *resp = &r->resp;
    int k = step / 2;

    kp_http_response_init(resp);
    resp->status = 200;
    resp->content_type = k % 5 == 4   ? KP_STR("text/html; charset=utf-8")
                         : k % 7 == 3 ? KP_STR("")
                                      : KP_STR("text/html");
    resp->etag = k % 6 == 5 ? KP_STR("") : KP_STR("\"6955b900-258\"");
    resp->last_modified = k % 11 == 10 ? 1000 : 999;
    resp->accept_ranges = k % 9 != 8;
    resp->fd = 3;
    resp->file_len = f->len;
    resp->file_data = f->data;
    if (k % 13 == 12)
        resp->extra = KP_STR("X-A: b\r\n");
    if (k % 17 == 16)
        resp->content_length = (int64_t)f->len; /* the same length, said so */
    resp->prebuilt = prebuilt ? kp_http_response_prebuilt(f->data) : NULL;
    r->head_only = k % 4 == 3;
    *o = (struct kp_http_head_opts){.date = dates[step % 2],
                                    .server_tokens =
                                        k % 8 == 7 ? KP_HTTP_TOKENS_OFF : KP_HTTP_TOKENS_ON,
                                    .connection = k % 10 == 9  ? KP_HTTP_CONN_HDR_CLOSE
                                                  : k % 3 == 1 ? KP_HTTP_CONN_HDR_NONE
                                                               : KP_HTTP_CONN_HDR_KEEP_ALIVE,
                                    .keepalive_s = k % 15 == 14 ? 5 : 0};
}

/* What the writer sends for response k, all of it. */
static size_t send_response(struct writer *w, int k, const struct held_file *f, bool prebuilt,
                            char *out)
{
    struct kp_http_head_opts o;

    kp_arena_reset(&w->r->arena);
    w->r->bytes_sent = w->r->body_sent = 0;
    vary_response(w->r, k, f, prebuilt, &o);
    kp_http_response_prepare(w->r, &o);
    w->n = 0;
    send_all(w, 64);
    memcpy(out, w->got, w->n);
    return w->n;
}

/* A file's prebuilt answer sends byte for byte what the head built for
 * each response would, body included, whatever changes from one response
 * to the next (every input of the head, HEAD, the Date), and is used
 * (sent from the file's room, not copied) where it applies. */
START_TEST(prebuilt_same_bytes)
{
    static const size_t sizes[] = {0, 1, 600, 1500, KP_HTTP_FILECACHE_BODY_MAX};
    struct writer with, without;
    char *a = malloc(1 << 16), *b = malloc(1 << 16);
    int shared = 0;

    writer_init(&with, false);
    writer_init(&without, false);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct held_file f;
        held_file_init(&f, sizes[i]);
        for (int k = 0; k < 120; k++) {
            size_t n = send_response(&with, k, &f, true, a);
            shared += with.r->out.shared;
            size_t m = send_response(&without, k, &f, false, b);
            ck_assert_uint_eq(n, m);
            ck_assert_msg(memcmp(a, b, n) == 0, "size %zu, response %d", sizes[i], k);
            ck_assert_uint_eq(with.r->bytes_sent, without.r->bytes_sent);
            ck_assert_uint_eq(with.r->body_sent, without.r->body_sent);
        }
        free(f.room);
    }
    ck_assert_int_gt(shared, 100);
    writer_free(&with);
    writer_free(&without);
    free(a);
    free(b);
}
END_TEST

/* A response sent from a prebuilt answer that has to wait (limit_rate's
 * budget here; a full socket alike) keeps its own bytes: the next
 * response for the same file stamps another Date into the answer, and the
 * first one still finishes with its own. */
START_TEST(prebuilt_waiting_response_keeps_its_bytes)
{
    struct writer w1, w2;
    struct held_file f;
    char scratch[64];
    struct kp_http_head_opts o = {DATE, KP_HTTP_TOKENS_ON, KP_HTTP_CONN_HDR_KEEP_ALIVE, NULL, 0,
                                  NULL};
    struct kp_http_head_opts later = o;

    later.date = "Mon, 23 Nov 2026 11:11:11 GMT";
    held_file_init(&f, 600);
    writer_init(&w1, false);
    writer_init(&w2, false);
    for (int i = 0; i < 2; i++) { /* the first builds the answer, the second sends from it */
        kp_arena_reset(&w1.r->arena);
        w1.r->bytes_sent = 0;
        w1.n = 0;
        kp_http_response_init(&w1.r->resp);
        w1.r->resp.status = 200;
        w1.r->resp.content_type = KP_STR("text/html");
        w1.r->resp.fd = 3;
        w1.r->resp.file_len = f.len;
        w1.r->resp.file_data = f.data;
        w1.r->resp.prebuilt = kp_http_response_prebuilt(f.data);
        kp_http_response_prepare(w1.r, &o);
    }
    ck_assert(w1.r->out.shared);
    struct kp_conn c = {.io = {.fd = w1.sv[0]}};
    w1.r->out.budget = 20; /* inside the status line */
    ck_assert_int_eq(kp_http_response_send(w1.r, &c, scratch, sizeof(scratch)), KP_HTTP_SEND_LIMIT);
    ck_assert(!w1.r->out.shared);
    /* Another response for the file, from the answer, with another Date. */
    w2.r->resp = w1.r->resp;
    kp_http_response_prepare(w2.r, &later);
    ck_assert(w2.r->out.shared);
    w1.r->out.budget = UINT64_MAX;
    send_all(&w1, 64);
    send_all(&w2, 64);
    w1.got[w1.n] = w2.got[w2.n] = '\0';
    ck_assert_ptr_nonnull(strstr(w1.got, "\r\nDate: " DATE "\r\n"));
    ck_assert_ptr_nonnull(strstr(w2.got, "\r\nDate: Mon, 23 Nov 2026 11:11:11 GMT\r\n"));
    ck_assert_uint_eq(w1.n, w2.n);
    ck_assert(memcmp(w1.got + w1.n - 600, f.data, 600) == 0);
    ck_assert_uint_eq(w1.r->body_sent, 600);
    writer_free(&w1);
    writer_free(&w2);
    free(f.room);
}
END_TEST

/* A response that is not the whole file (a range), or whose head has
 * fields the answer cannot hold, never sends from it. */
START_TEST(prebuilt_only_whole_plain)
{
    struct writer w;
    struct held_file f;
    struct kp_http_head_opts o = {DATE, KP_HTTP_TOKENS_ON, KP_HTTP_CONN_HDR_NONE, NULL, 0, NULL};

    held_file_init(&f, 600);
    writer_init(&w, false);
    for (int k = 0; k < 6; k++) {
        kp_arena_reset(&w.r->arena);
        kp_http_response_init(&w.r->resp);
        w.r->resp.status = 200;
        w.r->resp.fd = 3;
        w.r->resp.file_len = f.len;
        w.r->resp.file_data = f.data;
        w.r->resp.prebuilt = kp_http_response_prebuilt(f.data);
        if (k >= 2 && k % 2 == 0) {
            w.r->resp.status = 206;
            w.r->resp.file_offset = 100;
            w.r->resp.file_len = 100;
            w.r->resp.content_range = KP_STR("bytes 100-199/600");
        } else if (k >= 2) {
            w.r->resp.location = KP_STR("/x");
        }
        kp_http_response_prepare(w.r, &o);
        ck_assert_int_eq(w.r->out.shared, k == 1);
    }
    writer_free(&w);
    free(f.room);
}
END_TEST

Suite *kp_test_response_suite(void)
{
    Suite *s = suite_create("response");
    TCase *tc = tcase_create("response");

    tcase_add_test(tc, status_table);
    tcase_add_test(tc, head_memo_same_bytes);
    tcase_add_test(tc, head_full);
    tcase_add_test(tc, head_minimal_and_variants);
    tcase_add_test(tc, head_server_tokens);
    tcase_add_test(tc, send_memory_body);
    tcase_add_test(tc, send_memory_body_joined);
    tcase_add_test(tc, send_file_read_write);
    tcase_add_test(tc, send_file_sendfile);
    tcase_add_test(tc, send_to_closed_peer_fails);
    tcase_add_test(tc, prebuilt_same_bytes);
    tcase_add_test(tc, prebuilt_waiting_response_keeps_its_bytes);
    tcase_add_test(tc, prebuilt_only_whole_plain);
    suite_add_tcase(s, tc);
    return s;
}
