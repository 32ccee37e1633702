/* Response heads and the response writer. The head is built with memcpy of
 * precomputed pieces (status lines from status.c, constant field names, the
 * cached Date) into the request arena; the writer hands head, memory body and
 * file data to the kernel in as few calls as possible (see response.h). */
#include "kelpie/http/response.h"

#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/util/log.h"
#include "kelpie/util/time.h"
#include "kelpie/http/filecache.h"
#include "kelpie/http/req.h"
#include "kelpie/http/status.h"
#include "kelpie/os/socket.h"

#define SERVER_FULL  "Server: kelpie/" KP_VERSION "\r\n"
#define SERVER_BARE  "Server: kelpie\r\n"
#define SERVER_BUILD "Server: kelpie/" KP_VERSION " (" KP_BUILD ")\r\n"
/* Whether ./configure was given a build name. */
#define HAVE_BUILD (sizeof(KP_BUILD) > 1)
/* Everything but the variable-length values: status line, field names,
 * dates, numbers and CRLFs, with room to spare. */
#define HEAD_FIXED 448
/* Bodies up to this size are copied with the head rather than sent with
 * sendfile (see kp_http_response_prepare). Must not exceed the scratch. */
#define KP_HTTP_SMALL_BODY 16384

/* Memory bodies up to this size are copied behind the head, so that head
 * and body leave in one piece by send(2) rather than two by sendmsg(2):
 * measured over loopback with an 840-byte response, the kernel's sendmsg
 * path costs 150-200 ns more per call, the copy of 600 bytes about 20. */
#define KP_HTTP_JOIN_BODY 1024

/* One sendfile() call moves at most this much (Linux caps it near 2 GiB). */
#define SENDFILE_MAX (1u << 30)

void kp_http_response_init(struct kp_http_response *resp)
{
    *resp = (struct kp_http_response){.content_length = -1, .last_modified = -1, .fd = -1};
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return put(p, tmp + sizeof(tmp) - n, n);
}

/* "Name: value\r\n"; name_sep includes the ": ". */
static char *put_field(char *p, const char *name_sep, size_t n, struct kp_str v)
{
    p = put(p, name_sep, n);
    p = put(p, v.p, v.len);
    return PUT_LIT(p, "\r\n");
}

#define PUT_FIELD(p, name, v) put_field((p), name ": ", sizeof(name ": ") - 1, (v))

static char *put_status(char *p, int code)
{
    if (code < 100 || code > 999)
        code = 500;
    struct kp_str line = kp_http_status_line(code);
    if (line.len > 0)
        return put(p, line.p, line.len);
    /* An unregistered code: the reason phrase may be empty (RFC 9112 section 4). */
    p = PUT_LIT(p, "HTTP/1.1 ");
    p = put_u64(p, (uint64_t)code);
    return PUT_LIT(p, " \r\n");
}

static struct kp_str date_text(struct kp_http_date_cache *lm, time_t t, char *own)
{
    if (lm == NULL)
        return (struct kp_str){own, kp_time_http_date(t, own)};
    if (lm->t != t) {
        kp_time_http_date(t, lm->text);
        lm->t = t;
    }
    return (struct kp_str){lm->text, KP_TIME_HTTP_DATE_LEN};
}

int64_t kp_http_response_length(const struct kp_http_response *resp)
{
    if (kp_http_status_no_body(resp->status))
        return -1;
    if (resp->content_length >= 0)
        return resp->content_length;
    if (resp->fd >= 0)
        return (int64_t)resp->file_len;
    return (int64_t)resp->body.len;
}

size_t kp_http_response_head_size(const struct kp_http_response *resp)
{
    return HEAD_FIXED + resp->content_type.len + resp->etag.len + resp->content_range.len +
           resp->location.len + resp->allow.len + resp->www_authenticate.len + resp->extra.len;
}

/* a[0..a.len) and b[0..n) hold the same bytes (a.p may be NULL when empty).
 * Eight bytes a step, the last word overlapping the one before: the values
 * compared on every response (a Content-Type, an ETag) are 9-30 bytes, for
 * which a call to memcmp cost more than the comparison. */
static bool same_bytes(struct kp_str a, const char *b, size_t n)
{
    uint64_t x, y;

    if (a.len != n)
        return false;
    if (n < 8)
        return n == 0 || memcmp(a.p, b, n) == 0;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a.p + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    memcpy(&x, a.p + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* Copy s into out; an empty s may have no pointer. */
static void copy_bytes(char *out, struct kp_str s)
{
    if (s.len > 0)
        memcpy(out, s.p, s.len);
}

/* Whether m holds the head of resp under o (all but the Date). */
static bool memo_hit(const struct kp_http_head_memo *m, const struct kp_http_response *resp,
                     const struct kp_http_head_opts *o, int64_t length)
{
    return m->len > 0 && m->status == resp->status && m->length == length &&
           m->last_modified == resp->last_modified && m->accept_ranges == resp->accept_ranges &&
           m->server_tokens == o->server_tokens && m->connection == (int)o->connection &&
           m->keepalive_s == o->keepalive_s && resp->content_range.len == 0 &&
           resp->location.p == NULL && resp->allow.len == 0 && resp->www_authenticate.len == 0 &&
           resp->extra.len == 0 && same_bytes(resp->content_type, m->type, m->type_len) &&
           same_bytes(resp->etag, m->etag, m->etag_len);
}

/* Keep the head just built in out[0..n) in m, when it is a plain one: at
 * the start of m->text, or with at_end where the text ends (a prebuilt
 * answer, whose body follows). */
static void memo_keep(struct kp_http_head_memo *m, const struct kp_http_response *resp,
                      const struct kp_http_head_opts *o, int64_t length, const char *out, size_t n,
                      size_t date_at, bool at_end)
{
    m->len = 0;
    if (resp->content_range.len > 0 || resp->location.p != NULL || resp->allow.len > 0 ||
        resp->www_authenticate.len > 0 || resp->extra.len > 0 || n > sizeof(m->text) ||
        resp->content_type.len > sizeof(m->type) || resp->etag.len > sizeof(m->etag))
        return;
    *m = (struct kp_http_head_memo){.at = at_end ? sizeof(m->text) - n : 0,
                                    .date_at = date_at,
                                    .status = resp->status,
                                    .server_tokens = o->server_tokens,
                                    .connection = (int)o->connection,
                                    .keepalive_s = o->keepalive_s,
                                    .length = length,
                                    .last_modified = resp->last_modified,
                                    .accept_ranges = resp->accept_ranges,
                                    .type_len = resp->content_type.len,
                                    .etag_len = resp->etag.len};
    copy_bytes(m->type, resp->content_type);
    copy_bytes(m->etag, resp->etag);
    memcpy(m->text + m->at, out, n);
    m->len = n;
}

/* The kept head of m with the Date of o stamped in. */
static char *memo_stamp(struct kp_http_head_memo *m, const struct kp_http_head_opts *o)
{
    char *head = m->text + m->at;

    memcpy(head + m->date_at, o->date, KP_TIME_HTTP_DATE_LEN);
    return head;
}

/* The prebuilt answer's text ends where the file's bytes start. */
_Static_assert(offsetof(struct kp_http_head_memo, text) + KP_HTTP_HEAD_MEMO_TEXT ==
                       sizeof(struct kp_http_head_memo) &&
                   sizeof(struct kp_http_head_memo) <= KP_HTTP_FILECACHE_ROOM,
               "a prebuilt answer fits the open-file cache's room, its text last");

struct kp_http_head_memo *kp_http_response_prebuilt(const char *data)
{
    return (struct kp_http_head_memo *)(void *)(data - sizeof(struct kp_http_head_memo));
}

static size_t build_head(const struct kp_http_response *resp, const struct kp_http_head_opts *o,
                         int64_t length, char *out, size_t *date_at);

/* The head of resp into out, from the reactor's memo when it holds it;
 * *date_at: where its Date value is. */
static size_t make_head(const struct kp_http_response *resp, const struct kp_http_head_opts *o,
                        int64_t length, char *out, size_t *date_at)
{
    struct kp_http_head_memo *m = o->memo;
    size_t n;

    if (m != NULL && memo_hit(m, resp, o, length)) {
        memcpy(out, m->text + m->at, m->len);
        memcpy(out + m->date_at, o->date, KP_TIME_HTTP_DATE_LEN);
        *date_at = m->date_at;
        return m->len;
    }
    n = build_head(resp, o, length, out, date_at);
    if (m != NULL)
        memo_keep(m, resp, o, length, out, n, *date_at, false);
    return n;
}

size_t kp_http_response_head(const struct kp_http_response *resp, const struct kp_http_head_opts *o,
                             char *out)
{
    size_t date_at;

    return make_head(resp, o, kp_http_response_length(resp), out, &date_at);
}

static size_t build_head(const struct kp_http_response *resp, const struct kp_http_head_opts *o,
                         int64_t length, char *out, size_t *date_at)
{
    char *p = put_status(out, resp->status);

    if (o->server_tokens == KP_HTTP_TOKENS_OFF)
        p = PUT_LIT(p, SERVER_BARE);
    else if (o->server_tokens == KP_HTTP_TOKENS_BUILD && HAVE_BUILD)
        p = PUT_LIT(p, SERVER_BUILD);
    else
        p = PUT_LIT(p, SERVER_FULL);
    p = PUT_LIT(p, "Date: ");
    *date_at = (size_t)(p - out);
    p = put(p, o->date, KP_TIME_HTTP_DATE_LEN); /* a constant size: no call */
    p = PUT_LIT(p, "\r\n");
    if (resp->content_type.len > 0)
        p = PUT_FIELD(p, "Content-Type", resp->content_type);
    if (length >= 0) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, (uint64_t)length);
        p = PUT_LIT(p, "\r\n");
    }
    if (resp->last_modified != (time_t)-1) {
        char own[32];
        p = PUT_FIELD(p, "Last-Modified", date_text(o->lm, resp->last_modified, own));
    }
    if (o->connection == KP_HTTP_CONN_HDR_CLOSE)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (o->connection == KP_HTTP_CONN_HDR_KEEP_ALIVE)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    if (o->keepalive_s > 0 && o->connection != KP_HTTP_CONN_HDR_CLOSE) {
        p = PUT_LIT(p, "Keep-Alive: timeout=");
        p = put_u64(p, (uint64_t)o->keepalive_s);
        p = PUT_LIT(p, "\r\n");
    }
    if (resp->etag.len > 0)
        p = PUT_FIELD(p, "ETag", resp->etag);
    if (resp->accept_ranges)
        p = PUT_LIT(p, "Accept-Ranges: bytes\r\n");
    if (resp->content_range.len > 0)
        p = PUT_FIELD(p, "Content-Range", resp->content_range);
    /* Present though empty after `return 301 "";`, as nginx sends it. */
    if (resp->location.p != NULL)
        p = PUT_FIELD(p, "Location", resp->location);
    if (resp->allow.len > 0)
        p = PUT_FIELD(p, "Allow", resp->allow);
    if (resp->www_authenticate.len > 0)
        p = PUT_FIELD(p, "WWW-Authenticate", resp->www_authenticate);
    if (resp->extra.len > 0)
        p = put(p, resp->extra.p, resp->extra.len);
    p = PUT_LIT(p, "\r\n");
    return (size_t)(p - out);
}

/* Whether resp's body (if it has one) is sent from memory: bytes it was
 * given, or a file the open-file cache keeps in memory. */
static bool body_in_memory(const struct kp_http_response *resp)
{
    return resp->fd < 0 || (resp->parts == NULL && resp->file_data != NULL);
}

/* The memory body of resp (body_in_memory). */
static struct kp_str memory_body(const struct kp_http_response *resp)
{
    if (resp->fd < 0)
        return resp->body;
    return (struct kp_str){resp->file_data + resp->file_offset, (size_t)resp->file_len};
}

/* resp's prebuilt answer, when its body is the whole file in front of
 * which that answer is kept. */
static struct kp_http_head_memo *prebuilt_of(const struct kp_http_response *resp)
{
    struct kp_http_head_memo *pb = resp->prebuilt;

    if (pb == NULL || resp->fd < 0 || resp->parts != NULL || resp->file_offset != 0 ||
        resp->file_data != pb->text + sizeof(pb->text))
        return NULL;
    return pb;
}

/* Sent from the prebuilt answer pb: its head, stamped with o's Date, and
 * (unless bodiless) the file's bytes right behind it. */
static void prepare_prebuilt(struct kp_http_request *r, struct kp_http_head_memo *pb,
                             const struct kp_http_head_opts *o, bool bodiless)
{
    char *head = memo_stamp(pb, o);

    r->out = (struct kp_http_out){.head = {head, pb->len},
                                  .body = {head + pb->len, bodiless ? 0 : r->resp.file_len},
                                  .shared = true,
                                  .fd = -1,
                                  .head_len = pb->len,
                                  .budget = UINT64_MAX};
}

void kp_http_response_prepare(struct kp_http_request *r, const struct kp_http_head_opts *o)
{
    const struct kp_http_response *resp = &r->resp;
    struct kp_http_out *out = &r->out;
    bool bodiless = r->head_only || kp_http_status_no_body(resp->status);
    bool in_memory = body_in_memory(resp);
    int64_t length = kp_http_response_length(resp);
    struct kp_http_head_memo *pb = prebuilt_of(resp);

    if (pb != NULL && memo_hit(pb, resp, o, length)) {
        prepare_prebuilt(r, pb, o, bodiless);
        return;
    }
    struct kp_str mem = !bodiless && in_memory ? memory_body(resp) : (struct kp_str){0};
    /* A small memory body is copied right behind the head, so that the
     * writer hands both to the kernel as one piece (see KP_HTTP_JOIN_BODY). */
    size_t join = mem.len <= KP_HTTP_JOIN_BODY ? mem.len : 0, date_at;
    char *head = kp_arena_alloc(&r->arena, kp_http_response_head_size(resp) + join);
    size_t n = make_head(resp, o, length, head, &date_at);

    /* The next response for this file version sends from there. */
    if (pb != NULL)
        memo_keep(pb, resp, o, length, head, n, date_at, true);
    *out = (struct kp_http_out){.head = {head, n}, .fd = -1, .head_len = n, .budget = UINT64_MAX};
    if (bodiless)
        return;
    if (join > 0) {
        memcpy(head + n, mem.p, join);
        mem.p = head + n;
    }
    if (in_memory) {
        out->body = mem;
        return;
    }
    if (resp->parts != NULL) {
        /* The first part is loaded by the first send. */
        out->fd = resp->fd;
        out->parts = resp->parts;
        out->parts_left = resp->n_parts;
        out->use_sendfile = r->loc->sendfile;
    } else {
        out->fd = resp->fd;
        out->file_pos = resp->file_offset;
        out->file_left = resp->file_len;
        /* A small body goes out with the head in one sendmsg (pread into
         * the scratch buffer first): two system calls instead of sendmsg,
         * sendfile and, with tcp_nopush, two setsockopt. Measured on the
         * 600-byte Connection: close case (2 workers): 16 -> 12 syscalls
         * per request. */
        out->use_sendfile = r->loc->sendfile && out->file_left > KP_HTTP_SMALL_BODY;
    }
    /* Under TLS the file must be encrypted: sendfile only through kernel
     * TLS, else it is read and encrypted in scratch-sized pieces. */
    const struct kp_conn *c = r->hc != NULL ? r->hc->c : NULL;
    if (c != NULL && c->tls != NULL && !kp_tls_ktls_send(c->tls))
        out->use_sendfile = false;
    out->cork = out->use_sendfile && r->loc->tcp_nopush;
    out->aio_on = r->loc->aio_pool != NULL && r->hc != NULL && r->svc != NULL &&
                  r->svc->pools != NULL && r->svc->pools->n > 0;
}

void kp_http_response_own(struct kp_http_request *r)
{
    struct kp_http_out *out = &r->out;

    if (!out->shared)
        return;
    out->shared = false;
    /* The body follows the head wherever the head has been sent up to. */
    size_t n = out->head.len + out->body.len;
    char *p = kp_arena_alloc(&r->arena, n > 0 ? n : 1);
    copy_bytes(p, out->head);
    copy_bytes(p + out->head.len, out->body);
    out->head.p = p;
    out->body.p = p + out->head.len;
}

static const struct kp_log *req_log(const struct kp_http_request *r)
{
    return r->hc != NULL && r->hc->loop != NULL ? r->hc->loop->log : NULL;
}

/* A failed write: the peer went away (logged at info, as it is the client's
 * doing) or something else broke. */
static enum kp_http_send_result send_failed(const struct kp_http_request *r, const char *call,
                                            int err)
{
    enum kp_log_level level = (err == EPIPE || err == ECONNRESET) ? KP_LOG_INFO : KP_LOG_ERR;

    kp_log_error_via(kp_http_req_error_log(r), req_log(r), level, err,
                     "%s() failed while sending a response", call);
    return KP_HTTP_SEND_ERROR;
}

/* Account for w bytes taken from head, then memory body, then a file chunk
 * of chunk bytes (read at file_pos). */
static void consume(struct kp_http_request *r, size_t w, size_t chunk)
{
    struct kp_http_out *out = &r->out;
    size_t n = w < out->head.len ? w : out->head.len;

    out->head.p += n;
    out->head.len -= n;
    w -= n;
    n = w < out->body.len ? w : out->body.len;
    out->body.p += n;
    out->body.len -= n;
    w -= n;
    /* Whatever part of the chunk did not go is read again next time. */
    n = w < chunk ? w : chunk;
    out->file_pos += (off_t)n;
    out->file_left -= n;
}

/* Cut the n pieces of iov (total bytes) down to budget bytes. Returns the
 * bytes left in them. */
static size_t trim(struct iovec *iov, size_t *n, size_t total, uint64_t budget)
{
    if (total <= budget)
        return total;
    size_t left = (size_t)budget, i = 0;
    while (i < *n && left > 0) {
        if (iov[i].iov_len > left)
            iov[i].iov_len = left;
        left -= iov[i].iov_len;
        i++;
    }
    *n = i;
    return (size_t)budget;
}

static void spend(struct kp_http_out *out, uint64_t w)
{
    if (out->budget != UINT64_MAX)
        out->budget -= w < out->budget ? w : out->budget;
}

/* What limit_rate's budget leaves for file bytes after the memory pieces
 * (pre bytes of earlier responses, the head, the memory body). */
static uint64_t room(const struct kp_http_out *out, size_t pre)
{
    uint64_t mem = pre + out->head.len + out->body.len;

    return out->budget == UINT64_MAX ? UINT64_MAX : out->budget > mem ? out->budget - mem : 0;
}

/* --- aio threads: what is cached goes inline, the rest to a pool thread ---------------- */

/* A read of want bytes at pos that must not wait for the disk:
 * preadv2(RWF_NOWAIT). -EAGAIN: not in the page cache. A filesystem
 * without RWF_NOWAIT reads as without aio. */
static ssize_t read_nowait(int fd, char *buf, size_t want, off_t pos)
{
    struct iovec iov = {buf, want};
    ssize_t got = preadv2(fd, &iov, 1, pos, RWF_NOWAIT);

    if (got < 0 && errno == EOPNOTSUPP)
        got = pread(fd, buf, want, pos);
    return got < 0 ? -errno : got;
}

/* Whether the bytes at pos and pos + len - 1 are in the page cache (one
 * byte read of each: readahead fills a range from its front, so its two
 * ends stand for it). */
static bool cached(int fd, off_t pos, size_t len)
{
    char b = 0;

    return read_nowait(fd, &b, 1, pos) != -EAGAIN &&
           (len <= 1 || read_nowait(fd, &b, 1, pos + (off_t)len - 1) != -EAGAIN);
}

/* Ask for a pool thread (KP_HTTP_SEND_AIO): op on len bytes at file_pos. */
static enum kp_http_send_result need_aio(struct kp_http_request *r, enum kp_http_aio_op op,
                                         int sock, size_t len)
{
    struct kp_http_out *out = &r->out;
    struct kp_http_aio *a = &out->aio;

    if (a->buf == NULL && op == KP_HTTP_AIO_READ)
        a->buf = kp_arena_alloc(&r->arena, KP_HTTP_AIO_BUF);
    a->op = op;
    a->fd = out->fd;
    a->sock = sock;
    a->pos = out->file_pos;
    a->len = op == KP_HTTP_AIO_READ && len > KP_HTTP_AIO_BUF ? KP_HTTP_AIO_BUF : len;
    a->rc = 0;
    return KP_HTTP_SEND_AIO;
}

/* Bytes a pool thread read that start at file_pos (0: none). */
static size_t aio_ready(const struct kp_http_out *out)
{
    if (out->aio_len == 0 || out->file_pos < out->aio_pos ||
        out->file_pos >= out->aio_pos + (off_t)out->aio_len)
        return 0;
    return out->aio_len - (size_t)(out->file_pos - out->aio_pos);
}

void kp_http_aio_run(struct kp_http_aio *a)
{
    if (a->op == KP_HTTP_AIO_SENDFILE) {
        off_t pos = a->pos;
        ssize_t w = sendfile(a->sock, a->fd, &pos, a->len);
        a->rc = w < 0 ? -errno : w;
        return;
    }
    size_t got = 0;
    while (got < a->len) {
        ssize_t n = pread(a->fd, a->buf + got, a->len - got, a->pos + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            a->rc = n < 0 && got == 0 ? -errno : (ssize_t)got;
            return;
        }
        got += (size_t)n;
    }
    a->rc = (ssize_t)got;
}

/* The next file piece for write_pieces, at most want bytes: read by a pool
 * thread already, or read now (with aio only from the page cache). Returns
 * its length with *p set, 0 when a pool thread must read it first (*res
 * then KP_HTTP_SEND_AIO), or -1 after an error (logged, *res ERROR). */
static ssize_t file_piece(struct kp_http_request *r, char *scratch, size_t want, const char **p,
                          enum kp_http_send_result *res)
{
    struct kp_http_out *out = &r->out;
    size_t ready = aio_ready(out);
    ssize_t got;

    if (ready > 0) {
        *p = out->aio.buf + (out->file_pos - out->aio_pos);
        return (ssize_t)(ready < want ? ready : want);
    }
    if (out->aio_on) {
        got = read_nowait(out->fd, scratch, want, out->file_pos);
        if (got == -EAGAIN) {
            *res = need_aio(r, KP_HTTP_AIO_READ, -1, (size_t)out->file_left);
            return 0;
        }
    } else {
        got = pread(out->fd, scratch, want, out->file_pos);
        got = got < 0 ? -errno : got;
    }
    if (got <= 0) {
        /* 0: the file shrank under us; the announced length cannot be kept. */
        kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_ERR, got < 0 ? (int)-got : 0,
                         "pread() of a response body failed%s", got == 0 ? ": file shrank" : "");
        *res = KP_HTTP_SEND_ERROR;
        return -1;
    }
    *p = scratch;
    return got;
}

/* Whether write_pieces carries file bytes: always with sendfile off; with
 * sendfile, the bytes a pool thread read. */
static bool pieces_carry_file(const struct kp_http_out *out)
{
    return !out->use_sendfile || aio_ready(out) > 0;
}

/* The most one sendfile() call of r may send now (sendfile_max_chunk, and
 * with aio the range the probe stands for). */
static size_t sendfile_want(const struct kp_http_request *r)
{
    const struct kp_http_out *out = &r->out;
    uint64_t max = r->loc->sendfile_max_chunk > 0 ? r->loc->sendfile_max_chunk : SENDFILE_MAX;
    uint64_t want = out->file_left < max ? out->file_left : max;

    if (out->aio_on && want > KP_HTTP_AIO_SENDFILE_MAX)
        want = KP_HTTP_AIO_SENDFILE_MAX;
    return (size_t)want;
}

/* aio with sendfile: the head of a response whose file is not cached
 * waits for its first bytes, read by a pool thread (see KP_HTTP_AIO_BUF's
 * note). One probe decides, of the range the first sendfile() will send
 * (a cached one is remembered, so that send_file does not probe it again);
 * a read the probe started may fill the cache a moment later, but the
 * decision stands. */
static bool head_waits(struct kp_http_request *r, const struct kp_conn *c)
{
    struct kp_http_out *out = &r->out;

    if (!out->use_sendfile || !out->aio_on || c->tls != NULL || out->head.len < out->head_len ||
        out->file_left == 0 || aio_ready(out) > 0)
        return false;
    if (!cached(out->fd, out->file_pos, sendfile_want(r))) {
        out->cold = true;
        return true;
    }
    out->probed = true;
    out->probed_pos = out->file_pos;
    return false;
}

/* Add s to the n pieces of iov; bytes that follow the last piece in memory
 * (a body copied behind its head) extend it. Returns the new count. */
static size_t add_piece(struct iovec *iov, size_t n, struct kp_str s)
{
    if (n > 0 && (const char *)iov[n - 1].iov_base + iov[n - 1].iov_len == s.p) {
        iov[n - 1].iov_len += s.len;
        return n;
    }
    iov[n] = (struct iovec){(void *)s.p, s.len};
    return n + 1;
}

/* One sendmsg() of the head, the memory body and (sendfile off) the next
 * piece of the file read into scratch. */
static enum kp_http_send_result write_pieces(struct kp_http_request *r, struct kp_conn *c,
                                             char *scratch, size_t scratch_size)
{
    struct kp_http_out *out = &r->out;
    struct iovec iov[4];
    size_t n = 0, chunk = 0, pre = out->prefix.len;

    if (pre > 0)
        iov[n++] = (struct iovec){(void *)out->prefix.p, pre};
    if (out->head.len > 0)
        iov[n++] = (struct iovec){(void *)out->head.p, out->head.len};
    if (out->body.len > 0)
        n = add_piece(iov, n, out->body);
    uint64_t left = room(out, pre);
    if (head_waits(r, c))
        return need_aio(r, KP_HTTP_AIO_READ, -1, (size_t)out->file_left);
    if (out->file_left > 0 && left > 0 && pieces_carry_file(out)) {
        size_t want = out->file_left < scratch_size ? (size_t)out->file_left : scratch_size;
        /* Under limit_rate, read no more than the budget lets go. */
        if (want > left)
            want = (size_t)left;
        const char *p = NULL;
        enum kp_http_send_result res = KP_HTTP_SEND_DONE;
        ssize_t got = file_piece(r, scratch, want, &p, &res);
        if (got <= 0)
            return res;
        chunk = (size_t)got;
        iov[n++] = (struct iovec){(void *)p, chunk};
    }
    size_t total = trim(iov, &n, pre + out->head.len + out->body.len + chunk, out->budget);
    /* The head of a sendfile body waits for the file's first bytes. */
    int more = (out->use_sendfile && out->file_left > chunk && !out->corked) ? MSG_MORE : 0;
    ssize_t w = kp_conn_send(c, iov, n, more);
    if (w < 0) {
        if (w == -EAGAIN)
            return KP_HTTP_SEND_AGAIN;
        return send_failed(r, c->tls != NULL ? "SSL_write" : "sendmsg", (int)-w);
    }
    size_t took = (size_t)w < pre ? (size_t)w : pre;
    out->prefix.p += took;
    out->prefix.len -= took;
    r->bytes_sent += (uint64_t)w - took;
    spend(out, (uint64_t)w);
    consume(r, (size_t)w - took, chunk);
    /* A short write proves the socket buffer is full. */
    return (size_t)w < total ? KP_HTTP_SEND_AGAIN : KP_HTTP_SEND_DONE;
}

static enum kp_http_send_result send_file(struct kp_http_request *r, struct kp_conn *c)
{
    struct kp_http_out *out = &r->out;
    /* sendfile_max_chunk: one call sends at most this much, so that a fast
     * client of a large file does not keep the worker from the others. */
    size_t want = sendfile_want(r);

    if (want > out->budget)
        want = (size_t)out->budget;
    /* aio: a range not in the page cache is sent by a pool thread (kernel
     * TLS's SSL_sendfile stays inline: the TLS object is the reactor's),
     * after whatever the connection handed over before (on io_uring, a
     * send still on its way: its completion brings KP_EV_WRITE). */
    bool probed = out->probed && out->probed_pos == out->file_pos;
    out->probed = false;
    if (out->aio_on && c->tls == NULL && !probed &&
        (out->cold || !cached(out->fd, out->file_pos, want))) {
        out->cold = true;
        return kp_conn_sending(c) ? KP_HTTP_SEND_AGAIN
                                  : need_aio(r, KP_HTTP_AIO_SENDFILE, c->io.fd, want);
    }
    ssize_t w = kp_conn_sendfile(c, out->fd, &out->file_pos, want);
    if (w < 0) {
        if (w == -EAGAIN || w == -EINTR)
            return KP_HTTP_SEND_AGAIN;
        return send_failed(r, c->tls != NULL ? "SSL_sendfile" : "sendfile", (int)-w);
    }
    if (w == 0) {
        kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_ERR, 0,
                         "sendfile() of a response body: file shrank");
        return KP_HTTP_SEND_ERROR;
    }
    r->bytes_sent += (uint64_t)w;
    spend(out, (uint64_t)w);
    out->file_left -= (uint64_t)w;
    return (size_t)w < want ? KP_HTTP_SEND_AGAIN : KP_HTTP_SEND_DONE;
}

static bool pending(const struct kp_http_out *out)
{
    return out->prefix.len > 0 || out->head.len > 0 || out->body.len > 0 || out->file_left > 0 ||
           out->parts_left > 0;
}

/* With this part sent, the next one's head and file range. */
static void next_part(struct kp_http_out *out)
{
    if (out->parts_left == 0 || out->body.len > 0 || out->file_left > 0)
        return;
    out->body = out->parts->head;
    out->file_pos = out->parts->pos;
    out->file_left = out->parts->len;
    out->parts++;
    out->parts_left--;
}

enum kp_http_send_result kp_http_response_send(struct kp_http_request *r, struct kp_conn *c,
                                               char *scratch, size_t scratch_size)
{
    struct kp_http_out *out = &r->out;
    enum kp_http_send_result rc = KP_HTTP_SEND_DONE;

    if (out->cork && !out->corked && pending(out))
        out->corked = kp_socket_cork(c->io.fd, true) == 0;
    while (rc == KP_HTTP_SEND_DONE && pending(out)) {
        if (out->budget == 0) {
            rc = KP_HTTP_SEND_LIMIT;
            break;
        }
        next_part(out);
        bool buffers = out->prefix.len > 0 || out->head.len > 0 || out->body.len > 0 ||
                       !out->use_sendfile || aio_ready(out) > 0;
        rc = buffers ? write_pieces(r, c, scratch, scratch_size) : send_file(r, c);
    }
    r->body_sent = r->bytes_sent > out->head_len ? r->bytes_sent - out->head_len : 0;
    if (rc != KP_HTTP_SEND_DONE)
        kp_http_response_own(r);
    if (rc == KP_HTTP_SEND_DONE && out->corked) {
        /* Clearing the cork pushes out the last partial frame at once. */
        kp_socket_cork(c->io.fd, false);
        out->corked = false;
    }
    return rc;
}

enum kp_http_send_result kp_http_response_aio_done(struct kp_http_request *r)
{
    struct kp_http_out *out = &r->out;
    struct kp_http_aio *a = &out->aio;

    if (a->op == KP_HTTP_AIO_READ) {
        if (a->rc <= 0) {
            kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_ERR, (int)-a->rc,
                             "pread() of a response body failed%s",
                             a->rc == 0 ? ": file shrank" : "");
            return KP_HTTP_SEND_ERROR;
        }
        out->aio_pos = a->pos;
        out->aio_len = (size_t)a->rc;
        return KP_HTTP_SEND_DONE;
    }
    if (a->rc == -EAGAIN || a->rc == -EINTR)
        return KP_HTTP_SEND_AGAIN;
    if (a->rc < 0)
        return send_failed(r, "sendfile", (int)-a->rc);
    if (a->rc == 0) {
        kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_ERR, 0,
                         "sendfile() of a response body: file shrank");
        return KP_HTTP_SEND_ERROR;
    }
    out->file_pos += a->rc;
    out->file_left -= (uint64_t)a->rc;
    r->bytes_sent += (uint64_t)a->rc;
    spend(out, (uint64_t)a->rc);
    r->body_sent = r->bytes_sent > out->head_len ? r->bytes_sent - out->head_len : 0;
    return (size_t)a->rc < a->len ? KP_HTTP_SEND_AGAIN : KP_HTTP_SEND_DONE;
}
