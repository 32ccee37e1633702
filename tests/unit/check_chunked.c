/* Table-driven tests for the chunked body decoder. Each case is decoded in
 * one piece, one byte at a time and at random split points (every piece in
 * a fresh exact-size buffer); all must give the same data, consumed count
 * and outcome. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/chunked.h"

#define DONE       0
#define INCOMPLETE (-1)

struct ccase {
    const char *name;
    const char *body; /* on DONE, all of it is consumed */
    const char *tail; /* bytes after the body (a pipelined request) */
    int status;       /* DONE, INCOMPLETE or the error status */
    const char *data; /* decoded data (checked unless NULL) */
    uint64_t max_body;
    size_t max_trailer;
    size_t len; /* 0: strlen(body) (set for a body holding a NUL) */
};

static const struct ccase cases[] = {
    {.name = "empty body", .body = "0\r\n\r\n", .status = DONE, .data = ""},
    {.name = "one chunk", .body = "5\r\nhello\r\n0\r\n\r\n", .status = DONE, .data = "hello"},
    {.name = "two chunks",
     .body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
     .status = DONE,
     .data = "hello world"},
    {.name = "uppercase hex",
     .body = "A\r\n0123456789\r\n0\r\n\r\n",
     .status = DONE,
     .data = "0123456789"},
    {.name = "lowercase hex",
     .body = "a\r\n0123456789\r\n0\r\n\r\n",
     .status = DONE,
     .data = "0123456789"},
    {.name = "leading zeros",
     .body = "0005\r\nhello\r\n000\r\n\r\n",
     .status = DONE,
     .data = "hello"},
    {.name = "data with CRLF inside",
     .body = "4\r\n\r\n\r\n\r\n0\r\n\r\n",
     .status = DONE,
     .data = "\r\n\r\n"},
    {.name = "extension", .body = "5;a=b\r\nhello\r\n0;x\r\n\r\n", .status = DONE, .data = "hello"},
    {.name = "extensions with BWS",
     .body = "5 ; a = b ;c\t;d\r\nhello\r\n0\r\n\r\n",
     .status = DONE,
     .data = "hello"},
    {.name = "quoted extension",
     .body = "5;a=\"x y\\\"z;\"\r\nhello\r\n0\r\n\r\n",
     .status = DONE,
     .data = "hello"},
    {.name = "empty quoted extension",
     .body = "5;a=\"\"\r\nhello\r\n0\r\n\r\n",
     .status = DONE,
     .data = "hello"},
    {.name = "quoted then ws",
     .body = "5;a=\"b\" ;c\r\nhello\r\n0\r\n\r\n",
     .status = DONE,
     .data = "hello"},
    {.name = "trailers",
     .body = "3\r\nabc\r\n0\r\nX: y\r\nEmpty:\r\nZ: caf\xc3\xa9 \t!\r\n\r\n",
     .status = DONE,
     .data = "abc"},
    {.name = "pipelined request after body",
     .body = "1\r\nx\r\n0\r\n\r\n",
     .tail = "GET / HTTP/1.1\r\n",
     .status = DONE,
     .data = "x"},
    {.name = "body limit exact",
     .body = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
     .status = DONE,
     .data = "helloworld",
     .max_body = 10},
    {.name = "trailer at limit",
     .body = "0\r\nX: y\r\n\r\n",
     .status = DONE,
     .data = "",
     .max_body = 0,
     .max_trailer = 8},
    /* incomplete */
    {.name = "nothing yet", .body = "", .status = INCOMPLETE, .data = ""},
    {.name = "size only", .body = "5", .status = INCOMPLETE, .data = ""},
    {.name = "part of the data", .body = "5\r\nhel", .status = INCOMPLETE, .data = "hel"},
    {.name = "data without CRLF yet", .body = "5\r\nhello", .status = INCOMPLETE, .data = "hello"},
    {.name = "no last chunk", .body = "5\r\nhello\r\n", .status = INCOMPLETE, .data = "hello"},
    {.name = "no final CRLF", .body = "0\r\n", .status = INCOMPLETE, .data = ""},
    {.name = "trailer, no final CRLF", .body = "0\r\nX: y\r\n", .status = INCOMPLETE, .data = ""},
    {.name = "largest size", .body = "7fffffffffffffff\r\nab", .status = INCOMPLETE, .data = "ab"},
    /* bad sizes */
    {.name = "non-hex size", .body = "x\r\n", .status = 400},
    {.name = "empty size", .body = "\r\n", .status = 400},
    {.name = "negative size", .body = "-1\r\n", .status = 400},
    {.name = "space before size", .body = " 5\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "space after size", .body = "5 \r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "0x prefix", .body = "0x5\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "size overflow", .body = "8000000000000000\r\n", .status = 400},
    {.name = "size overflow long", .body = "100000000000000000000\r\n", .status = 400},
    {.name = "NUL in size", .body = "5\0\r\n", .status = 400, .len = 4},
    {.name = "bare LF after size", .body = "5\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "bare CR after size", .body = "5\rhello\r\n0\r\n\r\n", .status = 400},
    /* CRLF after data */
    {.name = "data too long", .body = "5\r\nhelloX\r\n0\r\n\r\n", .status = 400},
    {.name = "bare LF after data", .body = "5\r\nhello\n0\r\n\r\n", .status = 400},
    {.name = "CR CR after data", .body = "5\r\nhello\r\r0\r\n\r\n", .status = 400},
    {.name = "data too short", .body = "5\r\nhell\r\n0\r\n\r\n", .status = 400},
    /* extensions */
    {.name = "empty extension name", .body = "5;\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "extension without name", .body = "5;=b\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "extension without value", .body = "5;a=\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "unterminated quote", .body = "5;a=\"x\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "space inside name", .body = "5;a b\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "space inside value", .body = "5;a=b c\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "junk after quoted value", .body = "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "trailing ws after extension", .body = "5;a=b \r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "control char in quoted", .body = "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", .status = 400},
    {.name = "bad char in name", .body = "5;a@\r\nhello\r\n0\r\n\r\n", .status = 400},
    /* trailers */
    {.name = "space before colon in trailer", .body = "0\r\nX : y\r\n\r\n", .status = 400},
    {.name = "obs-fold in trailer", .body = "0\r\nX: y\r\n z\r\n\r\n", .status = 400},
    {.name = "empty trailer name", .body = "0\r\n: y\r\n\r\n", .status = 400},
    {.name = "trailer without colon", .body = "0\r\nXy\r\n\r\n", .status = 400},
    {.name = "control char in trailer", .body = "0\r\nX: \x01\r\n\r\n", .status = 400},
    {.name = "bare LF in trailer", .body = "0\r\nX: y\n\r\n", .status = 400},
    {.name = "bare CR at the end", .body = "0\r\n\r\r", .status = 400},
    {.name = "bare LF at the end", .body = "0\r\n\n", .status = 400},
    {.name = "trailer too large",
     .body = "0\r\nX: yy\r\n\r\n",
     .status = 431,
     .data = NULL,
     .max_body = 0,
     .max_trailer = 8},
    /* limits */
    {.name = "chunk over body limit",
     .body = "5\r\nhello\r\n0\r\n\r\n",
     .status = 413,
     .data = NULL,
     .max_body = 4},
    {.name = "second chunk over body limit",
     .body = "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n",
     .status = 413,
     .data = "hello",
     .max_body = 10},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

struct outcome {
    int status;
    size_t consumed;
    uint64_t total;
    size_t dlen;
    char data[128];
};

static char *case_bytes(const struct ccase *c, size_t *len)
{
    size_t bl = c->len ? c->len : strlen(c->body);
    size_t tl = c->tail ? strlen(c->tail) : 0;
    char *b = kp_alloc(bl + tl + 1);

    memcpy(b, c->body, bl);
    if (tl)
        memcpy(b + bl, c->tail, tl);
    *len = bl + tl;
    return b;
}

/* Decode the bytes handed over in pieces ending at cuts[] (the last cut is
 * the full length), each piece in its own exact-size buffer. */
static void run(const struct ccase *c, const size_t *cuts, size_t ncuts, struct outcome *o)
{
    struct kp_http_chunked ck;
    size_t len, fed = 0;
    char *all = case_bytes(c, &len);

    memset(o, 0, sizeof(*o));
    o->status = INCOMPLETE;
    kp_http_chunked_init(&ck, c->max_body, c->max_trailer);
    for (size_t i = 0; i < ncuts && o->status == INCOMPLETE; i++) {
        size_t n = cuts[i] - fed, pos = 0;
        char *buf = kp_alloc(n ? n : 1);

        memcpy(buf, all + fed, n);
        while (pos < n && !kp_http_chunked_done(&ck)) {
            struct kp_str d;
            ssize_t r = kp_http_chunked_decode(&ck, buf + pos, n - pos, &d);

            if (r < 0) {
                ck_assert_int_eq(r, KP_PARSE_INVALID);
                ck_assert_ptr_nonnull(ck.reason);
                o->status = ck.status;
                /* on an error, only the status and data so far matter */
                o->consumed = pos = 0;
                break;
            }
            ck_assert_msg(r > 0, "%s: no progress", c->name);
            ck_assert(d.p >= buf + pos && d.p + d.len <= buf + pos + (size_t)r);
            ck_assert_uint_le(o->dlen + d.len, sizeof(o->data));
            memcpy(o->data + o->dlen, d.p, d.len);
            o->dlen += d.len;
            pos += (size_t)r;
        }
        o->consumed += pos;
        fed = cuts[i];
        if (kp_http_chunked_done(&ck))
            o->status = DONE;
        kp_free(buf);
    }
    o->total = ck.total;
    kp_free(all);
}

START_TEST(chunked_table)
{
    const struct ccase *c = &cases[_i];
    size_t len;
    struct outcome whole, split;
    unsigned seed = (unsigned)_i * 2246822519u + 7;

    kp_free(case_bytes(c, &len));
    size_t *cuts = kp_alloc((len + 1) * sizeof(*cuts));
    cuts[0] = len;
    run(c, cuts, 1, &whole);
    ck_assert_msg(whole.status == c->status, "%s: status %d, want %d", c->name, whole.status,
                  c->status);
    if (c->data) {
        ck_assert_msg(whole.dlen == strlen(c->data) && memcmp(whole.data, c->data, whole.dlen) == 0,
                      "%s: data '%.*s', want '%s'", c->name, (int)whole.dlen, whole.data, c->data);
        ck_assert_uint_eq(whole.total, whole.dlen);
    }
    if (c->status == DONE)
        ck_assert_uint_eq(whole.consumed, strlen(c->body));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    if (len > 0) {
        run(c, cuts, len, &split);
        ck_assert_msg(memcmp(&whole, &split, sizeof(whole)) == 0, "%s: byte-at-a-time differs",
                      c->name);
    }
    for (int round = 0; round < 4 && len > 1; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t a = 1 + (seed >> 8) % (len - 1);
        seed = seed * 1103515245u + 12345u;
        size_t three[3] = {a, a + (seed >> 8) % (len - a), len};
        run(c, three, 3, &split);
        ck_assert_msg(memcmp(&whole, &split, sizeof(whole)) == 0, "%s: split differs", c->name);
    }
    kp_free(cuts);
}
END_TEST

/* A large chunk arrives in pieces; the decoder hands each piece straight
 * back and counts the total. */
START_TEST(chunked_large_in_pieces)
{
    static char body[70000];
    struct kp_http_chunked ck;
    struct kp_str d;
    size_t n = (size_t)snprintf(body, sizeof(body), "FFFF\r\n"), hdr = n, got = 0;

    memset(body + n, 'z', 0xffff);
    n += 0xffff;
    memcpy(body + n, "\r\n0\r\n\r\n", 7);
    n += 7;
    kp_http_chunked_init(&ck, 0, 0);
    for (size_t pos = 0; pos < n;) {
        size_t piece = n - pos < 1000 ? n - pos : 1000;
        ssize_t r = kp_http_chunked_decode(&ck, body + pos, piece, &d);
        ck_assert_int_gt(r, 0);
        if (d.len)
            ck_assert_ptr_eq(d.p, body + hdr + got);
        got += d.len;
        pos += (size_t)r;
    }
    ck_assert(kp_http_chunked_done(&ck));
    ck_assert_uint_eq(got, 0xffff);
    ck_assert_uint_eq(ck.total, 0xffff);
    /* once done, nothing more is consumed */
    ck_assert_int_eq(kp_http_chunked_decode(&ck, "x", 1, &d), 0);
    ck_assert_uint_eq(d.len, 0);
}
END_TEST

START_TEST(chunked_error_repeats)
{
    struct kp_http_chunked ck;
    struct kp_str d;

    kp_http_chunked_init(&ck, 0, 0);
    ck_assert_int_eq(kp_http_chunked_decode(&ck, "g", 1, &d), KP_PARSE_INVALID);
    ck_assert_int_eq(ck.status, 400);
    ck_assert_int_eq(kp_http_chunked_decode(&ck, "0\r\n\r\n", 5, &d), KP_PARSE_INVALID);
}
END_TEST

START_TEST(chunked_line_limit)
{
    static char line[KP_HTTP_CHUNK_LINE_MAX + 16];
    struct kp_http_chunked ck;
    struct kp_str d;

    /* "1;" then a long extension name: fails once the line passes the bound */
    memset(line, 'a', sizeof(line));
    memcpy(line, "1;", 2);
    kp_http_chunked_init(&ck, 0, 0);
    ck_assert_int_eq(kp_http_chunked_decode(&ck, line, KP_HTTP_CHUNK_LINE_MAX, &d),
                     KP_HTTP_CHUNK_LINE_MAX);
    ck_assert_int_eq(kp_http_chunked_decode(&ck, line, 1, &d), KP_PARSE_INVALID);
    ck_assert_int_eq(ck.status, 400);
}
END_TEST

Suite *kp_test_chunked_suite(void)
{
    Suite *s = suite_create("chunked");
    TCase *tc = tcase_create("chunked");

    tcase_add_loop_test(tc, chunked_table, 0, (int)NCASES);
    tcase_add_test(tc, chunked_large_in_pieces);
    tcase_add_test(tc, chunked_error_repeats);
    tcase_add_test(tc, chunked_line_limit);
    suite_add_tcase(s, tc);
    return s;
}
