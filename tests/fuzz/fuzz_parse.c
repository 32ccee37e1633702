/* libFuzzer target for the request-head parser and the chunked decoder.
 *
 * The input is a request. It is parsed whole, then fed one byte at a time,
 * then in three pieces each copied into a fresh exact-size buffer (so the
 * parser must resume from offsets), under two sets of limits and field-name
 * rules; all feedings
 * must agree. Invariants: the result is a byte count <= size or one of the
 * two negative codes; an error carries a known status and a reason; every
 * slice lies inside the consumed head; rebase repoints slices correctly. A
 * complete head with a chunked body has the rest decoded whole and byte by
 * byte, with the same outcome; a path is run through the URI normaliser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/chunked.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/uri.h"

#include "fuzz.h"

#define NFIELDS 16

/* The parser's output with slices turned into offsets, comparable across
 * buffers. */
struct outcome {
    ssize_t rc;
    int status;
    bool must_close;
    int method, form, body;
    unsigned version, connection;
    bool expect_continue, expect_unknown;
    uint64_t clen;
    size_t nfields;
    size_t off[6 + 2 * NFIELDS], len[6 + 2 * NFIELDS];
    int known[KP_HTTP_HDR_COUNT];
};

static void put(struct outcome *o, size_t i, const char *buf, size_t rc, struct kp_str s)
{
    CHECK(s.p >= buf && s.len <= rc && (size_t)(s.p - buf) <= rc - s.len);
    o->off[i] = (size_t)(s.p - buf);
    o->len[i] = s.len;
}

static void describe(struct outcome *o, const struct kp_http_parser *ps, const char *buf,
                     size_t size, ssize_t rc)
{
    const struct kp_http_head *h = &ps->head;

    memset(o, 0, sizeof(*o));
    o->rc = rc;
    if (rc == KP_PARSE_INVALID) {
        CHECK(h->status == 400 || h->status == 414 || h->status == 494 || h->status == 501 ||
              h->status == 505);
        CHECK(h->reason != NULL && h->must_close);
        o->status = h->status;
        return;
    }
    CHECK(rc == KP_PARSE_INCOMPLETE || (rc > 0 && (size_t)rc <= size));
    if (rc < 0)
        return;
    CHECK(h->version == 10 || h->version == 11);
    /* RFC 9112 section 2.3: only "HTTP/1." DIGIT is accepted */
    CHECK(h->request_line.len > 8 &&
          memcmp(h->request_line.p + h->request_line.len - 8, "HTTP/1.", 7) == 0);
    CHECK(h->request_line.p[h->request_line.len - 1] >= '0' &&
          h->request_line.p[h->request_line.len - 1] <= '9');
    CHECK(h->nfields <= NFIELDS);
    CHECK((h->body == KP_HTTP_BODY_LENGTH) == (h->content_length > 0));
    o->must_close = h->must_close;
    o->method = h->method;
    o->form = h->form;
    o->body = h->body;
    o->version = h->version;
    o->connection = h->connection;
    o->expect_continue = h->expect_continue;
    o->expect_unknown = h->expect_unknown;
    o->clen = h->content_length;
    o->nfields = h->nfields;
    put(o, 0, buf, (size_t)rc, h->method_name);
    put(o, 1, buf, (size_t)rc, h->request_line);
    put(o, 2, buf, (size_t)rc, h->target);
    put(o, 3, buf, (size_t)rc, h->path);
    put(o, 4, buf, (size_t)rc, h->host);
    put(o, 5, buf, (size_t)rc, h->port);
    for (size_t i = 0; i < h->nfields; i++) {
        CHECK(h->fields[i].name.len > 0);
        put(o, 6 + 2 * i, buf, (size_t)rc, h->fields[i].name);
        put(o, 7 + 2 * i, buf, (size_t)rc, h->fields[i].value);
    }
    for (int i = 0; i < KP_HTTP_HDR_COUNT; i++) {
        CHECK(h->known[i] < (int)h->nfields);
        CHECK(h->known[i] < 0 || h->fields[h->known[i]].id == (enum kp_http_hdr)i);
    }
    memcpy(o->known, h->known, sizeof(o->known));
}

static void same(const struct outcome *a, const struct outcome *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->status == b->status);
    CHECK(memcmp(a, b, sizeof(*a)) == 0);
}

/* After any result, rebase may be used to point slices at the bytes seen
 * (for logging a rejected head): they must stay within those bytes. */
static void check_partial(struct kp_http_parser *ps, const char *buf, size_t size)
{
    struct outcome o;

    kp_http_parse_rebase(ps, buf);
    put(&o, 0, buf, size, ps->head.request_line);
    put(&o, 1, buf, size, ps->head.method_name);
    put(&o, 2, buf, size, ps->head.target);
    put(&o, 3, buf, size, ps->head.path);
    put(&o, 4, buf, size, ps->head.host);
    put(&o, 5, buf, size, ps->head.port);
    CHECK(ps->head.nfields <= NFIELDS);
    for (size_t i = 0; i < ps->head.nfields; i++) {
        put(&o, 6, buf, size, ps->head.fields[i].name);
        put(&o, 7, buf, size, ps->head.fields[i].value);
    }
}

static void whole(const char *buf, size_t size, const struct kp_http_limits *lim, size_t nf,
                  struct kp_http_parser *ps, struct kp_http_field *fields, struct outcome *o)
{
    ssize_t rc;

    kp_http_parse_init(ps, lim, fields, nf);
    rc = kp_http_parse_request(ps, buf, size);
    describe(o, ps, buf, size, rc);
    if (rc < 0)
        check_partial(ps, buf, size);
}

static void byte_by_byte(const char *buf, size_t size, const struct kp_http_limits *lim, size_t nf,
                         const struct outcome *want)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[NFIELDS];
    struct outcome o;
    ssize_t rc = KP_PARSE_INCOMPLETE;
    size_t k = 0;

    kp_http_parse_init(&ps, lim, fields, nf);
    while (k < size && rc == KP_PARSE_INCOMPLETE)
        rc = kp_http_parse_request(&ps, buf, ++k);
    /* a complete head is reported exactly when its last byte arrives */
    CHECK(rc < 0 || (size_t)rc == k);
    describe(&o, &ps, buf, size, rc);
    same(want, &o);
}

/* Feed in three pieces, each time from a new copy of the bytes so far. */
static void moving(const char *data, size_t size, const struct kp_http_limits *lim, size_t nf,
                   const struct outcome *want)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[NFIELDS];
    struct outcome o;
    size_t cuts[3] = {size / 3, size / 3 + (size > 8 ? (size_t)data[0] % (size / 3 + 1) : 0), size};
    ssize_t rc = KP_PARSE_INCOMPLETE;
    char *buf = NULL;

    kp_http_parse_init(&ps, lim, fields, nf);
    for (int i = 0; i < 3 && rc == KP_PARSE_INCOMPLETE; i++) {
        kp_free(buf);
        buf = kp_alloc(cuts[i]);
        memcpy(buf, data, cuts[i]);
        rc = kp_http_parse_request(&ps, buf, cuts[i]);
    }
    describe(&o, &ps, buf, size, rc);
    same(want, &o);
    if (rc > 0) {
        /* move once more and rebase */
        char *moved = kp_alloc(size);
        memcpy(moved, data, size);
        kp_free(buf);
        buf = moved;
        kp_http_parse_rebase(&ps, buf);
        describe(&o, &ps, buf, size, rc);
        same(want, &o);
    }
    kp_free(buf);
}

struct body_outcome {
    ssize_t status; /* 0 done, 1 incomplete, else the error status */
    size_t consumed;
    uint64_t total;
    uint64_t sum; /* a checksum of the data */
};

/* Decode p[0..len) handing over step bytes at a time. */
static void decode(const char *p, size_t len, size_t step, struct body_outcome *o)
{
    struct kp_http_chunked ck;
    size_t pos = 0;

    memset(o, 0, sizeof(*o));
    o->status = 1;
    kp_http_chunked_init(&ck, 1u << 20, 256);
    while (pos < len && !kp_http_chunked_done(&ck)) {
        size_t n = len - pos < step ? len - pos : step;
        struct kp_str d;
        ssize_t r = kp_http_chunked_decode(&ck, p + pos, n, &d);

        if (r < 0) {
            CHECK(r == KP_PARSE_INVALID && ck.reason != NULL);
            CHECK(ck.status == 400 || ck.status == 413 || ck.status == 431);
            o->status = ck.status;
            o->total = ck.total;
            return;
        }
        CHECK(r > 0 && (size_t)r <= n);
        CHECK(d.len == 0 || (d.p >= p + pos && d.p + d.len <= p + pos + r));
        for (size_t i = 0; i < d.len; i++)
            o->sum = o->sum * 31 + (unsigned char)d.p[i];
        pos += (size_t)r;
    }
    o->status = kp_http_chunked_done(&ck) ? 0 : 1;
    o->consumed = pos;
    o->total = ck.total;
}

static void check_body(const char *p, size_t len)
{
    struct body_outcome a, b;

    decode(p, len, len, &a);
    decode(p, len, 1, &b);
    CHECK(a.status == b.status && a.total == b.total);
    if (a.status <= 1)
        CHECK(a.consumed == b.consumed && a.sum == b.sum);
    if (a.status == 0)
        CHECK(a.consumed <= len);
}

/* plain: the parser's head.plain_len, a path the normaliser copies as it
 * is (the request handler then skips it). */
static void check_path(struct kp_str path, size_t plain)
{
    char *out = kp_alloc(path.len + 2);
    struct kp_str q;
    ssize_t n = kp_http_uri_normalize(path, out, path.len + 2, &q, true);

    CHECK(n == -EINVAL || (n > 0 && kp_http_uri_is_safe((struct kp_str){out, (size_t)n})));
    CHECK(plain == 0 || (n == (ssize_t)plain && memcmp(out, path.p, plain) == 0 &&
                         q.p == path.p + (plain < path.len ? plain + 1 : plain)));
    n = kp_http_uri_normalize(path, out, path.len + 2, &q, false);
    CHECK(n == -EINVAL || (n > 0 && kp_http_uri_no_dot_segments((struct kp_str){out, (size_t)n})));
    kp_free(out);
}

/* The Content-Length values of p[0..n) (a comma list; the accepted ones
 * are below 2^63) are all *seen, which the first one sets. */
static void same_lengths(const char *p, size_t n, uint64_t *seen, bool *any)
{
    for (size_t i = 0; i <= n; i++) {
        uint64_t v = 0;
        for (; i < n && p[i] != ','; i++) {
            if (p[i] >= '0' && p[i] <= '9')
                v = v * 10 + (uint64_t)(p[i] - '0');
        }
        CHECK(!*any || v == *seen);
        *seen = v;
        *any = true;
    }
}

/* An accepted head holds nothing RFC 9112 forbids, checked on its raw bytes
 * apart from the parser: no NUL, no CR but before LF, no control or DEL in
 * the request line, no folded line (section 5.2), no whitespace or control
 * before a field's colon (5.1), no control but HTAB and no DEL in a value
 * (RFC 9110 5.5); never both Transfer-Encoding and Content-Length (6.1), and
 * differing Content-Length values never (RFC 9110 8.6). */
static void check_wire(const char *p, size_t n)
{
    size_t i = 0, te = 0;
    bool line = false, any_cl = false;
    uint64_t cl = 0;

    while (i < n) {
        const char *lf = memchr(p + i, '\n', n - i);
        CHECK(lf != NULL);
        size_t e = (size_t)(lf - p), le = e > i && p[e - 1] == '\r' ? e - 1 : e;
        for (size_t k = i; k < le; k++)
            CHECK(p[k] != '\0' && p[k] != '\r' && p[k] != 0x7f);
        if (le == i && line) {
            CHECK(e + 1 == n);
            break;
        }
        if (le > i && !line) {
            line = true;
            for (size_t k = i; k < le; k++)
                CHECK((unsigned char)p[k] >= 0x20);
        } else if (le > i) {
            const char *colon = memchr(p + i, ':', le - i);
            CHECK(colon != NULL && colon > p + i);
            for (const char *k = p + i; k < colon; k++)
                CHECK(kp_http_parse_is_vchar((unsigned char)*k));
            for (const char *k = colon + 1; k < p + le; k++)
                CHECK(*k == '\t' || (unsigned char)*k >= 0x20);
            struct kp_str name = {p + i, (size_t)(colon - p - i)};
            te += kp_str_caseeq_cstr(name, "Transfer-Encoding");
            if (kp_str_caseeq_cstr(name, "Content-Length"))
                same_lengths(colon + 1, (size_t)(p + le - colon - 1), &cl, &any_cl);
        }
        i = e + 1;
    }
    CHECK(line && !(te > 0 && any_cl));
}

static void run(const char *buf, size_t size, const struct kp_http_limits *lim, size_t nf)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[NFIELDS];
    struct outcome o;

    whole(buf, size, lim, nf, &ps, fields, &o);
    byte_by_byte(buf, size, lim, nf, &o);
    moving(buf, size, lim, nf, &o);
    if (o.rc > 0)
        check_wire(buf, (size_t)o.rc);
    if (o.rc > 0 && ps.head.body == KP_HTTP_BODY_CHUNKED)
        check_body(buf + o.rc, size - (size_t)o.rc);
    if (o.rc > 0 && ps.head.path.len > 0)
        check_path(ps.head.path, ps.head.plain_len);
}

/* A dropped line is a whole field line: not empty, no line ending, not
 * folded, with a colon. */
static void dropped(void *arg, struct kp_str line)
{
    (void)arg;
    CHECK(line.len > 1 && line.p[0] != ' ' && line.p[0] != '\t');
    CHECK(memchr(line.p, '\n', line.len) == NULL && line.p[line.len - 1] != '\r');
    CHECK(memchr(line.p, ':', line.len) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* nginx's default field-name rules (invalid names dropped), and the
     * laxest (underscores on, invalid names kept) */
    static const struct kp_http_limits roomy = {512, 2048, .dropped = dropped};
    static const struct kp_http_limits tight = {24, 64, .underscores = true, .keep_invalid = true};
    /* an exact-size copy, so that reading past the end is caught */
    char *buf = kp_alloc(size);

    memcpy(buf, data, size);
    run(buf, size, &roomy, NFIELDS);
    run(buf, size, &tight, 2);
    kp_free(buf);
    return 0;
}
