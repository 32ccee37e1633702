/* The HTTP/1.1 connection state machine (RFC 9112).
 *
 * States (enum kp_http_conn_state, request.h):
 *   IDLE       no request: a new connection, or one kept alive between
 *              requests. It holds no buffer and no request object; the
 *              timer is client_header_timeout (new) or keepalive_timeout.
 *   READ_HEAD  bytes arrived: read buffer (client_header_buffer_size, grown
 *              up to the large_client_header_buffers bounds) and request
 *              taken; parsing; the timer is client_header_timeout (408).
 *   READ_BODY  a request body nobody uses is read and dropped (Content-Length
 *              or chunked) so the next request starts in the right place.
 *   WRITE      the response is being written; send_timeout between writes.
 *   HANDSHAKE  an `ssl` address: the TLS handshake (client_header_timeout),
 *              then IDLE; a connection whose first byte is not a TLS record
 *              is read as HTTP and answered 400 as nginx does.
 *   PROXY      a `proxy_protocol` address: the PROXY header (client_header_
 *              timeout), then HANDSHAKE or IDLE; a broken header closes
 *              the connection without a word to the client.
 *   LINGER     after a response that closes the connection while the client
 *              may still be sending (lingering_close on; always: after every
 *              closing response): write side shut down, input dropped until
 *              EOF, lingering_timeout without a byte or lingering_time in
 *              all, so the client reads the response instead of a reset
 *              (RFC 9112 section 9.6).
 *
 * Every handler returns an enum step saying what just happened; next() is
 * the one place that turns it into the next action, so the order of events
 * for any request can be read off one switch. Processing (routing, return,
 * static files, error pages) is synchronous and lives in handler.c. */
#include "kelpie/http/request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/conf.h"
#include "kelpie/util/log.h"
#include "kelpie/http/handler.h"
#include "kelpie/http/charset.h"
#include "kelpie/http/headers.h"
#include "kelpie/http/limit.h"
#include "kelpie/http/limit_rate.h"
#include "kelpie/http/proactor.h"
#include "kelpie/http/realip.h"
#include "kelpie/http/response.h"
#include "kelpie/http/ctx.h"
#include "kelpie/http/ssl.h"
#include "kelpie/http/static.h"
#include "kelpie/http/ua.h"
#include "kelpie/os/socket.h"

/* Reads per event while lingering; then the connection yields to others. */
#define KP_HTTP_LINGER_READS 16
/* Smallest read buffer, whatever client_header_buffer_size says. */
#define KP_HTTP_MIN_BUFFER 128
/* Room for the request line's CRLF and tolerated empty lines beyond the
 * parser's line and field-section limits. */
#define KP_HTTP_BUFFER_SLACK 64

/* What a step did; next() decides what follows. */
enum step {
    STEP_WAIT,    /* wait for the socket: readable, or writable in WRITE */
    STEP_HEAD,    /* a complete request head is in the buffer */
    STEP_PROCESS, /* the request and its body are in: decide the answer */
    STEP_RESPOND, /* r->resp is ready: write it */
    STEP_SENT,    /* the whole response is with the kernel */
    STEP_CLOSE,   /* close the connection now */
    STEP_AWAY,    /* the request is with a handler thread (http/proactor.h) */
};

static enum step read_head(struct kp_http_conn *hc);
static int first_byte(struct kp_http_conn *hc);

/* --- bookkeeping --------------------------------------------------------------------- */

static const struct kp_http_srv_conf *default_srv(const struct kp_http_conn *hc)
{
    return kp_http_addr_of(hc->c->ls)->default_server;
}

static enum kp_sb_gauge gauge_of(int state)
{
    switch (state) {
    case KP_HC_IDLE:
        return KP_SB_IDLE;
    case KP_HC_HANDSHAKE:
    case KP_HC_PROXY:
    case KP_HC_READ_HEAD:
    case KP_HC_READ_BODY:
        return KP_SB_READING;
    default:
        return KP_SB_WRITING;
    }
}

/* Enter state: scoreboard gauges, and the pool's lists of connections it
 * may close to make room: idle ones (which a drain closes too), and readers
 * of a request head. A reader keeps the place it took with its first bytes
 * however many trickle in after them, so the slowest head is the oldest. */
static void set_state(struct kp_http_conn *hc, enum kp_http_conn_state state)
{
    struct kp_sb_slot *sb = hc->ctx->sb;
    struct kp_conn_pool *pool = hc->ctx->pool;

    if (hc->state == (int)state)
        return;
    kp_sb_gauge(sb, gauge_of(hc->state), -1);
    kp_sb_gauge(sb, gauge_of(state), 1);
    if (state == KP_HC_IDLE)
        kp_conn_idle_add(pool, hc->c);
    else if (state == KP_HC_READ_HEAD)
        kp_conn_reading_add(pool, hc->c);
    else {
        kp_conn_idle_remove(pool, hc->c);
        kp_conn_reading_remove(pool, hc->c);
    }
    hc->state = state;
}

/* Where messages about the connection go: its request's error_log lines,
 * or before a request has a server, the address's default server's, as
 * nginx does; else the worker's own log. */
static const struct kp_log *client_log(const struct kp_http_conn *hc)
{
    const struct kp_http_request *r = hc->r;
    const struct kp_log *dest = r != NULL && (r->loc != NULL || r->srv != NULL)
                                    ? kp_http_req_error_log(r)
                                    : default_srv(hc)->loc->error_log;

    return dest != NULL ? dest : hc->ctx->log;
}

static void log_client(const struct kp_http_conn *hc, enum kp_log_level level, int err,
                       const char *what)
{
    const struct kp_log *log = hc->ctx->log;
    const struct kp_http_request *r = hc->r;
    const struct kp_log *dest = client_log(hc);
    char addr[64];

    if (!kp_log_enabled(dest, level))
        return;
    kp_http_req_client_text(r != NULL ? kp_http_req_client(r) : &hc->c->peer, addr, sizeof(addr));
    /* An unfinished head's slices have no pointers (see fail()). */
    if (r != NULL && r->parser.head.request_line.p != NULL && r->parser.head.request_line.len > 0)
        kp_log_error_via(dest, log, level, err, "*%" PRIu64 " %s, client: %s, request: \"%.*s\"",
                         hc->c->number, what, addr, (int)r->parser.head.request_line.len,
                         r->parser.head.request_line.p);
    else
        kp_log_error_via(dest, log, level, err, "*%" PRIu64 " %s, client: %s", hc->c->number, what,
                         addr);
}

/* --- buffer and request object ------------------------------------------------------- */

/* The worker keeps what its connections give back, so that a keep-alive
 * request allocates nothing while an idle connection holds neither a buffer
 * nor a request. */
#define ARENA_BLOCK   4096  /* first (retained) block of a request's arena */
#define REUSE_MAX     32    /* free requests, and free buffers, kept */
#define REUSE_BUF_MAX 16384 /* larger buffers (large header buffers) are never kept */

/* A kept read buffer, stored inside the buffer itself. */
struct kp_http_free_buf {
    struct kp_http_free_buf *next;
    size_t size;
};

void kp_http_reuse_free(struct kp_http_reuse *ru)
{
    while (ru->reqs != NULL) {
        struct kp_http_request *r = ru->reqs;
        ru->reqs = r->next;
        kp_arena_destroy(&r->arena);
        kp_free(r);
    }
    while (ru->bufs != NULL) {
        struct kp_http_free_buf *b = ru->bufs;
        ru->bufs = b->next;
        kp_free(b);
    }
    ru->n_reqs = ru->n_bufs = 0;
    kp_free(ru->batch);
    ru->batch = NULL;
}

/* A request object, kept or new with its arena; its fields are not reset. */
static struct kp_http_request *reuse_request(struct kp_http_reuse *ru)
{
    struct kp_http_request *r = ru->reqs;

    if (r != NULL) {
        ru->reqs = r->next;
        ru->n_reqs--;
        return r;
    }
    r = kp_alloc(sizeof(*r));
    kp_arena_init(&r->arena, ARENA_BLOCK);
    return r;
}

/* Reset r's arena, running its cleanups: those a handler thread registered
 * (the simulated proactor) give back what belongs to that thread's caches,
 * under its lock. */
static void reset_arena(struct kp_http_request *r)
{
    if (r->ran_on == NULL) {
        kp_arena_reset(&r->arena);
        return;
    }
    pthread_mutex_lock(r->ran_on);
    kp_arena_reset(&r->arena);
    pthread_mutex_unlock(r->ran_on);
    r->ran_on = NULL;
}

/* Reset r's arena (running its cleanups) and keep r, or free it. */
static void keep_request(struct kp_http_reuse *ru, struct kp_http_request *r)
{
    reset_arena(r);
    if (ru->n_reqs < REUSE_MAX) {
        r->next = ru->reqs;
        ru->reqs = r;
        ru->n_reqs++;
        return;
    }
    kp_arena_destroy(&r->arena);
    kp_free(r);
}

/* A read buffer of exactly size bytes (at least 16), kept or new. */
static char *reuse_buf(struct kp_http_reuse *ru, size_t size)
{
    struct kp_http_free_buf *b = ru->bufs;

    if (b != NULL) {
        ru->bufs = b->next;
        ru->n_bufs--;
        if (b->size == size)
            return (char *)b;
        /* Another size (servers differ): make room for the current one. */
        kp_free(b);
    }
    return kp_alloc(size);
}

static void keep_buf(struct kp_http_reuse *ru, char *buf, size_t size)
{
    if (size > REUSE_BUF_MAX || ru->n_bufs >= REUSE_MAX) {
        kp_free(buf);
        return;
    }
    struct kp_http_free_buf *b = (struct kp_http_free_buf *)(void *)buf;
    b->next = ru->bufs;
    b->size = size;
    ru->bufs = b;
    ru->n_bufs++;
}

static void buf_take(struct kp_http_conn *hc)
{
    size_t size = default_srv(hc)->client_header_buffer_size;

    if (size < KP_HTTP_MIN_BUFFER)
        size = KP_HTTP_MIN_BUFFER;
    kp_buf_init(&hc->c->rbuf, reuse_buf(&hc->ctx->reuse, size), size);
    hc->buf_size = size;
}

static void buf_give(struct kp_http_conn *hc)
{
    if (hc->c->rbuf.start == NULL)
        return;
    keep_buf(&hc->ctx->reuse, hc->c->rbuf.start, hc->buf_size);
    hc->c->rbuf = (struct kp_buf){0};
    hc->buf_size = 0;
}

/* A field line the parser dropped for its invalid name: nginx's info line,
 * with bytes outside printable ASCII (and '"', '\\') as \xHH. */
static void dropped_field(void *arg, struct kp_str line)
{
    static const char hex[] = "0123456789abcdef";
    struct kp_http_request *r = arg;
    char what[600] = "client sent invalid header line: \"";
    size_t n = strlen(what);

    if (!kp_log_enabled(client_log(r->hc), KP_LOG_INFO))
        return;
    for (size_t i = 0; i < line.len && n + 8 < sizeof(what); i++) {
        unsigned char c = (unsigned char)line.p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            what[n++] = (char)c;
            continue;
        }
        what[n++] = '\\';
        what[n++] = 'x';
        what[n++] = hex[c >> 4];
        what[n++] = hex[c & 0xf];
    }
    memcpy(what + n, "\"", 2);
    /* the request line, for the log's request: part */
    kp_http_parse_rebase(&r->parser, r->hc->c->rbuf.pos);
    log_client(r->hc, KP_LOG_INFO, 0, what);
}

/* Parser limits and field-name rules of the address's default server: the
 * Host is not known yet (nginx does the same). A line with its CRLF must fit
 * in one large buffer (so 8190 bytes with the default 8k, as in nginx), the
 * field section in all of them. */
static struct kp_http_limits limits(const struct kp_http_conn *hc)
{
    const struct kp_http_srv_conf *srv = default_srv(hc);
    size_t size = srv->large_client_header_buffers_size;

    return (struct kp_http_limits){.max_line = size > 2 ? size - 2 : size,
                                   .max_header = srv->large_client_header_buffers_size *
                                                 srv->large_client_header_buffers_num,
                                   .underscores = srv->underscores_in_headers,
                                   .keep_invalid = !srv->ignore_invalid_headers,
                                   .dropped = dropped_field,
                                   .dropped_arg = hc->r};
}

/* Make room in a full buffer: to a large buffer, then doubling, up to what
 * the parser's limits can use. False at that bound. */
static bool buf_grow(struct kp_http_conn *hc)
{
    struct kp_buf *b = &hc->c->rbuf;
    struct kp_http_limits lim = limits(hc);
    size_t max = lim.max_line + lim.max_header + KP_HTTP_BUFFER_SLACK;
    size_t large = default_srv(hc)->large_client_header_buffers_size;

    if (hc->buf_size >= max)
        return false;
    size_t size = hc->buf_size < large ? large : hc->buf_size * 2;
    if (size > max)
        size = max;
    char *p = kp_alloc(size);
    size_t pos = (size_t)(b->pos - b->start), used = (size_t)(b->last - b->start);
    memcpy(p, b->start, used);
    buf_give(hc);
    kp_buf_init(b, p, size);
    b->pos = p + pos;
    b->last = p + used;
    hc->buf_size = size;
    return true;
}

/* Start a request whose first bytes are at rbuf.pos == rbuf.start. The
 * object is reused for pipelined requests (its arena reset). */
static void request_new(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;

    if (r == NULL)
        r = hc->r = reuse_request(&hc->ctx->reuse);
    else
        reset_arena(r);
    /* From the parser's end to real_addr, where the members that are
     * written whole before they are read begin (the field array last); the
     * arena stays, and the parser is set by kp_http_parse_init anyway. */
    _Static_assert(offsetof(struct kp_http_request, svc) == sizeof(struct kp_http_conn *) &&
                       offsetof(struct kp_http_request, arena) ==
                           offsetof(struct kp_http_request, svc) + sizeof(r->svc) &&
                       offsetof(struct kp_http_request, parser) ==
                           offsetof(struct kp_http_request, arena) + sizeof(r->arena),
                   "request_new resets only what follows the parser: hc, svc, arena, parser first");
    _Static_assert(
        offsetof(struct kp_http_request, resp) > offsetof(struct kp_http_request, parser) &&
            offsetof(struct kp_http_request, resp) < offsetof(struct kp_http_request, real_addr) &&
            offsetof(struct kp_http_request, next) < offsetof(struct kp_http_request, real_addr) &&
            offsetof(struct kp_http_request, real_addr) <
                offsetof(struct kp_http_request, chunked) &&
            offsetof(struct kp_http_request, chunked) < offsetof(struct kp_http_request, fields),
        "the response lies in the part request_new resets; real_addr, chunked, fields last");
    size_t from = offsetof(struct kp_http_request, parser) + sizeof(r->parser);
    size_t resp = offsetof(struct kp_http_request, resp), after = resp + sizeof(r->resp);
    /* Around the response, which kp_http_response_init sets whole. */
    memset((char *)r + from, 0, resp - from);
    memset((char *)r + after, 0, offsetof(struct kp_http_request, real_addr) - after);
    kp_http_response_init(&r->resp);
    r->hc = hc;
    r->svc = &hc->ctx->svc;
    r->start_msec = hc->loop->clock.msec;
    r->n_var_slots = hc->ctx->http->vars.n_slots;
    r->out.fd = -1;
    struct kp_http_limits lim = limits(hc);
    kp_http_parse_init(&r->parser, &lim, r->fields, KP_HTTP_MAX_FIELDS);
    kp_loop_timer_add(hc->loop, &hc->c->timer, default_srv(hc)->client_header_timeout_ms);
}

static void request_free(struct kp_http_conn *hc)
{
    if (hc->r == NULL)
        return;
    keep_request(&hc->ctx->reuse, hc->r);
    hc->r = NULL;
}

/* --- pipelined responses, batched ---------------------------------------------------- */

/* Responses to pipelined requests already in the buffer are not sent one
 * by one: each is copied into the connection's batch, and the batch leaves
 * in front of the response that ends it (the request whose answer finds no
 * more input, or does not qualify) in that response's one write. What ends
 * a batch before an answer is sent (waiting to read the rest of a request,
 * a limit_req delay) sends it alone. A connection answers at most
 * KP_HTTP_BATCH_REQUESTS requests per event, then the others get their
 * turn, and nothing more is read from it while a batch is waiting. */
#define KP_HTTP_BATCH_SIZE     32768
#define KP_HTTP_BATCH_REQUESTS 32
/* Kept free in the batch for an interim response (see send_continue). */
#define KP_HTTP_INTERIM_ROOM 32

static bool batch_pending(const struct kp_http_conn *hc)
{
    return hc->batch_sent < hc->batch_len;
}

/* The batch is out (or the connection is closing): its buffer goes back. */
static void batch_release(struct kp_http_conn *hc)
{
    struct kp_http_reuse *ru = &hc->ctx->reuse;

    if (hc->batch != NULL && ru->batch == NULL)
        ru->batch = hc->batch;
    else
        kp_free(hc->batch);
    hc->batch = NULL;
    hc->batch_len = hc->batch_sent = 0;
}

/* Whether the response just prepared joins the batch: more input waits
 * behind its request, the connection stays open, the whole response is in
 * memory and fits, and no limit_rate meters it. */
static bool batch_wanted(const struct kp_http_conn *hc)
{
    const struct kp_http_request *r = hc->r;
    const struct kp_http_out *out = &r->out;
    uint64_t wait;

    return r->keepalive && kp_buf_len(&hc->c->rbuf) > 0 && hc->answered < KP_HTTP_BATCH_REQUESTS &&
           out->fd < 0 &&
           hc->batch_len + KP_HTTP_INTERIM_ROOM + out->head.len + out->body.len <=
               KP_HTTP_BATCH_SIZE &&
           kp_http_limit_rate_budget(r, hc->loop->clock.msec, &wait) == UINT64_MAX;
}

/* The connection's batch buffer, taken from the worker's spare if any. */
static void batch_take(struct kp_http_conn *hc)
{
    struct kp_http_reuse *ru = &hc->ctx->reuse;

    if (hc->batch == NULL) {
        hc->batch = ru->batch != NULL ? ru->batch : kp_alloc(KP_HTTP_BATCH_SIZE);
        ru->batch = NULL;
    }
}

/* Copy the response into the batch: for the request it is sent. */
static void batch_add(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    struct kp_http_out *out = &r->out;

    batch_take(hc);
    memcpy(hc->batch + hc->batch_len, out->head.p, out->head.len);
    if (out->body.len > 0) /* a HEAD or 304 has no body pointer at all */
        memcpy(hc->batch + hc->batch_len + out->head.len, out->body.p, out->body.len);
    hc->batch_len += out->head.len + out->body.len;
    r->bytes_sent = out->head.len + out->body.len;
    r->body_sent = out->body.len;
    kp_sb_count(hc->ctx->sb, KP_SB_BYTES_OUT, r->bytes_sent);
    out->head.len = out->body.len = 0;
}

/* Send the batch on its own: bytes taken or -errno; an empty batch is
 * released. */
static ssize_t batch_send(struct kp_http_conn *hc)
{
    struct iovec iov = {hc->batch + hc->batch_sent, hc->batch_len - hc->batch_sent};
    ssize_t w = kp_conn_send(hc->c, &iov, 1, 0);

    if (w > 0)
        hc->batch_sent += (size_t)w;
    if (!batch_pending(hc))
        batch_release(hc);
    return w;
}

/* Before any wait but WRITE's (whose response carries the batch), and when
 * the socket is writable again: send what is gathered. False when the
 * connection broke (logged); true when the batch is out or the socket is
 * full (the rest waits for writability). */
static bool batch_flush(struct kp_http_conn *hc)
{
    if (hc->state == KP_HC_WRITE || !batch_pending(hc))
        return true;
    ssize_t w = batch_send(hc);
    if (w < 0 && w != -EAGAIN) {
        log_client(hc, KP_LOG_INFO, (int)-w, "sendmsg() failed while sending a response");
        return false;
    }
    return true;
}

/* Counters and the access log, once per request that got a status. */
static void request_log(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    int cls = r->resp.status / 100;

    r->logged = true;
    if (cls >= 1 && cls <= 5)
        kp_sb_count(hc->ctx->sb, (enum kp_sb_counter)(KP_SB_1XX + cls - 1), 1);
    if (hc->ctx->alog_open)
        kp_http_accesslog_write(&hc->ctx->alog, r);
}

static void close_conn(struct kp_http_conn *hc)
{
    /* A stop (or its worker_shutdown_timeout) closes every connection: one
     * whose task is in a pool thread is freed only once the task is back. */
    if (hc->aio_busy) {
        kp_task_port_forget(&hc->ctx->port, hc->aio_task);
        hc->aio_busy = false; /* an open's descriptor is closed with the request */
    }
    /* Answers already made still go, as far as the socket takes them. */
    if (batch_pending(hc) && hc->state != KP_HC_WRITE)
        batch_send(hc);
    batch_release(hc);
    if (hc->c->tls != NULL)
        kp_tls_shutdown(hc->c->tls);
    if (hc->r != NULL && !hc->r->logged && hc->r->resp.status != 0)
        request_log(hc);
    request_free(hc);
    buf_give(hc);
    kp_sb_gauge(hc->ctx->sb, gauge_of(hc->state), -1);
    kp_conn_close(hc->ctx->pool, hc->loop, hc->c);
}

/* c->close: the pool reclaims an idle connection, or the worker stops. */
static void close_cb(struct kp_conn *c)
{
    struct kp_http_conn *hc = c->data;

    /* A fast stop: the handler thread finishes with the request first. */
    if (hc->away)
        kp_http_proactor_reclaim(hc->ctx->proactor, hc);
    close_conn(hc);
}

/* --- reading ------------------------------------------------------------------------- */

/* One read into the buffer's free space: bytes read, 0 at EOF, or -errno
 * (-EAGAIN: nothing now). */
static ssize_t recv_some(struct kp_http_conn *hc)
{
    struct kp_buf *b = &hc->c->rbuf;
    size_t room = kp_buf_free(b);
    ssize_t n = kp_conn_recv(hc->c, b->last, room);

    hc->read_full = kp_conn_recv_more(hc->c, n, room);
    if (n == -EAGAIN)
        return n;
    kp_conn_seen(hc->ctx->pool, hc->c);
    if (n < 0)
        return n;
    b->last += n;
    kp_sb_count(hc->ctx->sb, KP_SB_BYTES_IN, (uint64_t)n);
    return n;
}

/* The client closed (0) or broke (-errno) the connection mid-request. */
static enum step read_failed(struct kp_http_conn *hc, ssize_t n)
{
    log_client(hc, KP_LOG_INFO, n < 0 ? (int)-n : 0,
               n < 0 ? "recv() failed while reading the request"
                     : "client closed the connection while sending the request");
    return STEP_CLOSE;
}

/* The client closed or broke the connection before its head was complete:
 * nothing can be answered, but nginx logs the request as a 400 (with what
 * came of its request line, no bytes sent), and so does kelpie: the close
 * writes the access log line of a request that has a status. */
static enum step head_read_failed(struct kp_http_conn *hc, ssize_t n)
{
    struct kp_http_request *r = hc->r;
    struct kp_str *line = &r->parser.head.request_line;
    const char *p = hc->c->rbuf.pos, *end = hc->c->rbuf.last;

    kp_http_parse_rebase(&r->parser, hc->c->rbuf.pos);
    if (line->len == 0) {
        /* a request line cut short: $request is what came of it */
        while (p < end && (*p == '\r' || *p == '\n'))
            p++;
        const char *eol = p;
        while (eol < end && *eol != '\r' && *eol != '\n')
            eol++;
        *line = (struct kp_str){p, (size_t)(eol - p)};
    }
    r->resp.status = 400;
    if (r->srv == NULL) {
        r->srv = default_srv(hc);
        r->loc = r->srv->loc;
    }
    return read_failed(hc, n);
}

/* An error answered with the built-in page (or its error_page), then the
 * connection is closed: after a bad head the stream position is lost. */
static enum step fail(struct kp_http_conn *hc, int status, const char *reason)
{
    struct kp_http_request *r = hc->r;

    /* An unfinished head has lengths but no pointers yet: point its slices
     * at the bytes seen, for the error and access logs. */
    if (r->head_len == 0)
        kp_http_parse_rebase(&r->parser, hc->c->rbuf.pos);
    log_client(hc, KP_LOG_INFO, 0, reason);
    r->close = true;
    r->linger = true;
    /* A HEAD gets no body even in an error (method is set once its line parsed). */
    r->head_only = r->parser.head.method == KP_HTTP_METHOD_HEAD;
    if (r->srv == NULL) {
        r->srv = default_srv(hc);
        r->loc = r->srv->loc;
    }
    kp_http_handler_error(r, status);
    return STEP_RESPOND;
}

static enum step parse(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    struct kp_buf *b = &hc->c->rbuf;
    ssize_t rc = kp_http_parse_request(&r->parser, b->pos, kp_buf_len(b));

    /* A head that came whole is never a reader of the pool's lists: its
     * connection goes from where it was straight to WRITE. */
    if (rc == KP_PARSE_INCOMPLETE) {
        set_state(hc, KP_HC_READ_HEAD);
        return STEP_WAIT;
    }
    if (rc == KP_PARSE_INVALID)
        return fail(hc, r->parser.head.status, r->parser.head.reason);
    r->head_len = (size_t)rc;
    return STEP_HEAD;
}

/* Keep the speculative first reads' record recent: halve it now and then. */
#define PROBE_WINDOW 256

static void count_probe(struct kp_http_ctx *ctx, bool hit)
{
    ctx->probes++;
    ctx->probe_hits += hit;
    if (ctx->probes >= PROBE_WINDOW) {
        ctx->probes /= 2;
        ctx->probe_hits /= 2;
    }
}

/* The client closed (0) or broke (-errno) a connection waiting for a
 * request: nginx's info lines, made only once the close is seen. */
static void log_idle_close(const struct kp_http_conn *hc, ssize_t n)
{
    const struct kp_log *dest = client_log(hc);
    char addr[64], server[KP_CONF_ADDR_TEXT], ebuf[128];
    int err = n < 0 ? (int)-n : 0;

    if (!kp_log_enabled(dest, KP_LOG_INFO))
        return;
    kp_http_req_client_text(&hc->c->peer, addr, sizeof(addr));
    if (hc->c->requests > 0) {
        kp_log_error_via(dest, hc->ctx->log, KP_LOG_INFO, err,
                         "*%" PRIu64 " client %s closed keepalive connection", hc->c->number, addr);
        return;
    }
    kp_conf_addr_text(&hc->c->ls->conf.addr, server, sizeof(server));
    if (err == 0)
        kp_log_error_via(dest, hc->ctx->log, KP_LOG_INFO, 0,
                         "*%" PRIu64 " client closed connection while waiting for request, "
                         "client: %s, server: %s",
                         hc->c->number, addr, server);
    else
        kp_log_error_via(dest, hc->ctx->log, KP_LOG_INFO, 0,
                         "*%" PRIu64 " recv() failed (%d: %s) while waiting for request, "
                         "client: %s, server: %s",
                         hc->c->number, err, strerror_r(err, ebuf, sizeof(ebuf)), addr, server);
}

/* IDLE and readable: take a buffer for the bytes, and a request once some
 * arrive. */
static enum step wake(struct kp_http_conn *hc)
{
    bool probe = hc->probing;

    hc->probing = false;
    buf_take(hc);
    ssize_t n = recv_some(hc);
    if (probe)
        count_probe(hc->ctx, n != -EAGAIN);
    if (n == -EAGAIN) {
        buf_give(hc);
        return STEP_WAIT;
    }
    if (n <= 0) {
        log_idle_close(hc, n);
        return STEP_CLOSE;
    }
    request_new(hc);
    enum step s = parse(hc);
    return s == STEP_WAIT ? read_head(hc) : s;
}

/* A pipelined request left in the buffer when its connection yielded. */
static enum step parse_buffered(struct kp_http_conn *hc)
{
    hc->parse_first = false;
    enum step s = parse(hc);
    return s == STEP_WAIT ? read_head(hc) : s;
}

static enum step read_head(struct kp_http_conn *hc)
{
    for (;;) {
        if (kp_buf_free(&hc->c->rbuf) == 0 && !buf_grow(hc))
            return fail(hc, KP_HTTP_HEADER_TOO_LARGE, "client sent a too large request head");
        ssize_t n = recv_some(hc);
        if (n == -EAGAIN)
            return STEP_WAIT;
        if (n <= 0)
            return head_read_failed(hc, n);
        /* Incomplete: read on until EAGAIN even after a short read, as an
         * end of stream that arrived with the last bytes would otherwise
         * never be reported again by an edge-triggered backend. */
        enum step s = parse(hc);
        if (s != STEP_WAIT)
            return s;
    }
}

/* --- the request body, dropped ------------------------------------------------------- */

/* Drop body bytes from the buffer. STEP_PROCESS once the body is complete
 * (anything after it is the next request), STEP_WAIT when more is needed. */
static enum step drop_buffered(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    struct kp_buf *b = &hc->c->rbuf;

    while (kp_buf_len(b) > 0) {
        size_t len = kp_buf_len(b), n;
        if (r->parser.head.body == KP_HTTP_BODY_LENGTH) {
            n = len < r->body_left ? len : (size_t)r->body_left;
            r->body_left -= n;
        } else {
            struct kp_str data;
            ssize_t rc = kp_http_chunked_decode(&r->chunked, b->pos, len, &data);
            if (rc < 0)
                return fail(hc, r->chunked.status, r->chunked.reason);
            n = (size_t)rc;
        }
        b->pos += n;
        r->request_length += n;
        if (r->parser.head.body == KP_HTTP_BODY_LENGTH ? r->body_left == 0
                                                       : kp_http_chunked_done(&r->chunked))
            return STEP_PROCESS;
    }
    return STEP_WAIT;
}

static enum step read_body(struct kp_http_conn *hc)
{
    for (;;) {
        /* Like read_head: until EAGAIN, so that an end of stream is seen. */
        enum step s = drop_buffered(hc);
        if (s != STEP_WAIT)
            return s;
        kp_buf_reset(&hc->c->rbuf);
        ssize_t n = recv_some(hc);
        if (n == -EAGAIN)
            return STEP_WAIT;
        if (n <= 0)
            return read_failed(hc, n);
        /* Like send_timeout, client_body_timeout runs between two reads. */
        kp_loop_timer_add(hc->loop, &hc->c->timer, hc->r->loc->client_body_timeout_ms);
    }
}

/* RFC 9110 section 15.2.1, as nginx does it: an HTTP/1.1 client that
 * asked "Expect: 100-continue" and whose body is about to be read gets the
 * interim "100 Continue" first (even if some of the body came along: the
 * client may still be waiting for it). It joins the batch, which leaves
 * before the worker waits for the body, or in front of the final response
 * if the body is already in; batch_wanted keeps room for it. Its bytes are
 * the request's ($bytes_sent), not its body's ($body_bytes_sent). */
static void send_continue(struct kp_http_conn *hc)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t len = sizeof(line) - 1;

    batch_take(hc);
    memcpy(hc->batch + hc->batch_len, line, len);
    hc->batch_len += len;
    hc->r->interim_sent = len;
    kp_sb_count(hc->ctx->sb, KP_SB_BYTES_OUT, len);
}

static enum step body_start(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    const struct kp_http_head *h = &r->parser.head;
    uint64_t max = r->loc->client_max_body_size;

    if (h->body == KP_HTTP_BODY_LENGTH) {
        if (max > 0 && h->content_length > max)
            return fail(hc, 413, "client intended to send a too large body");
        r->body_left = h->content_length;
    } else {
        kp_http_chunked_init(&r->chunked, max, 0);
    }
    if (h->expect_continue && !h->expect_unknown)
        send_continue(hc);
    set_state(hc, KP_HC_READ_BODY);
    kp_loop_timer_add(hc->loop, &hc->c->timer, r->loc->client_body_timeout_ms);
    return read_body(hc);
}

/* A complete head: count it, route it, then read its body or answer. */
static enum step on_head(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    struct kp_http_head *h = &r->parser.head;
    struct kp_buf *b = &hc->c->rbuf;

    hc->c->requests++;
    kp_sb_count(hc->ctx->sb, KP_SB_REQUESTS, 1);
    r->request_length = r->head_len;
    if (h->body != KP_HTTP_BODY_NONE) {
        /* The buffer will carry the body: keep the head in the arena. */
        char *copy = kp_arena_alloc(&r->arena, r->head_len);
        memcpy(copy, b->pos, r->head_len);
        kp_http_parse_rebase(&r->parser, copy);
    }
    b->pos += r->head_len;
    if (hc->plain_http) {
        /* As nginx: the server the Host names, at its server level, so
         * that its `error_page 497` can redirect to https. */
        (void)kp_http_handler_route(r, kp_http_addr_of(hc->c->ls));
        r->loc = r->srv->loc;
        return fail(hc, KP_HTTP_PLAIN_TO_HTTPS, "client sent plain HTTP request to HTTPS port");
    }
    int st = kp_http_handler_route(r, kp_http_addr_of(hc->c->ls));
    if (st != 0)
        return fail(hc, st, "client sent an invalid request path");
    /* nginx's post-read phase, by the server level's settings: from here on
     * the client may be the one a trusted proxy names (a location's own
     * settings wait for its preaccess phase). */
    kp_http_realip_apply(r, r->srv->loc);
    if (hc->c->tls != NULL) {
        char why[160];
        st = kp_http_ssl_verify_result(hc->c, r->srv, why, sizeof(why));
        if (st != 0)
            return fail(hc, st, why);
    }
    if (h->method == KP_HTTP_METHOD_UNKNOWN)
        return fail(hc, 501, "client sent an unknown method");
    r->head_only = h->method == KP_HTTP_METHOD_HEAD;
    /* What follows a refused CONNECT is the client's tunnel data (TLS,
     * say), not another request: close after answering. */
    r->close |= h->method == KP_HTTP_METHOD_CONNECT;
    return h->body == KP_HTTP_BODY_NONE ? STEP_PROCESS : body_start(hc);
}

/* --- answering ----------------------------------------------------------------------- */

/* reset_timedout_connection (of the request's location, or before one is
 * chosen the address's default server): when it is on, the connection is
 * set to end with a reset, its socket freed at once, nothing more sent.
 * Returns whether it was set. */
static bool reset_if_asked(struct kp_http_conn *hc)
{
    const struct kp_http_loc_conf *loc =
        hc->r != NULL && hc->r->loc != NULL ? hc->r->loc : default_srv(hc)->loc;

    if (!loc->reset_timedout_connection)
        return false;
    kp_conn_reset_on_close(hc->c);
    return true;
}

/* Readable while limit_req delays the request: a client that closed (or
 * broke) the connection ends the request now, answered 499 in the access
 * log as nginx does; bytes (a pipelined request, TLS records) stay where
 * they are, unwatched until the delay is over. Peeks at the raw socket. */
static enum step delay_check(struct kp_http_conn *hc)
{
    int b = first_byte(hc);

    if (b == -EAGAIN)
        return STEP_WAIT;
    if (b > 0) {
        hc->delay_deaf = true;
        return STEP_WAIT;
    }
    log_client(hc, KP_LOG_INFO, 0,
               "client prematurely closed connection while delaying the request");
    hc->r->resp.status = 499;
    return STEP_CLOSE;
}

static enum step open_post(struct kp_http_conn *hc);

/* What the handler left: no response, a delay, an open for the pool, or a
 * response to write. */
static enum step handled(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;

    if (r->resp.status == KP_HTTP_STATIC_OPEN_WAIT)
        return open_post(hc);
    if (r->resp.status == KP_HTTP_LIMIT_DELAY) {
        /* limit_req: the loop's timer resumes it; nothing is read or
         * written meanwhile. */
        set_state(hc, KP_HC_DELAY);
        hc->delay_deaf = false;
        kp_loop_timer_add(hc->loop, &hc->c->timer, r->limit_delay_ms);
        return STEP_WAIT;
    }
    /* A 444 with content (`return 444 "text";`) is a response like any. */
    if (r->resp.status != KP_HTTP_CLOSE_SILENTLY || r->resp.body.p != NULL)
        return STEP_RESPOND;
    reset_if_asked(hc);
    return STEP_CLOSE;
}

/* The simulated proactor: the handler runs in a handler thread, and the
 * connection waits with no timer (its send_timeout starts with the
 * response) until kp_http_request_processed. */
static enum step send_away(struct kp_http_conn *hc, bool resume)
{
    kp_loop_timer_del(hc->loop, &hc->c->timer);
    kp_http_proactor_submit(hc->ctx->proactor, hc, resume);
    return STEP_AWAY;
}

static enum step process(struct kp_http_conn *hc)
{
    /* Counted as writing from here, as nginx's stub_status does: the
     * status page itself then shows its own request as Writing. */
    set_state(hc, KP_HC_WRITE);
    if (hc->ctx->proactor != NULL)
        return send_away(hc, false);
    /* Only a reactor hands opens to the pool: a handler thread of the
     * simulated proactor may block. */
    hc->r->open_async = true;
    kp_http_handler_run(hc->r);
    return handled(hc);
}

/* The delay limit_req asked for is over. */
static enum step resume(struct kp_http_conn *hc)
{
    set_state(hc, KP_HC_WRITE);
    if (hc->ctx->proactor != NULL)
        return send_away(hc, true);
    hc->r->open_async = true;
    kp_http_handler_resume(hc->r);
    return handled(hc);
}

/* keepalive_disable: the browsers that mishandle keep-alive, as nginx
 * tells them (MSIE 6 after a POST, Safari on macOS). */
static bool browser_refuses(const struct kp_http_request *r, unsigned disable)
{
    const struct kp_str *ua = kp_http_parse_value(&r->parser.head, KP_HTTP_HDR_USER_AGENT);

    if (disable == 0 || ua == NULL)
        return false;
    if ((disable & KP_KEEPALIVE_DISABLE_MSIE6) && r->parser.head.method == KP_HTTP_METHOD_POST &&
        kp_http_ua_msie6(*ua))
        return true;
    return (disable & KP_KEEPALIVE_DISABLE_SAFARI) && kp_http_ua_safari(*ua);
}

/* Persistence, RFC 9112 section 9.3, and the server's own limits:
 * keepalive_requests, keepalive_time (the connection's age), draining. */
static bool keep_alive(const struct kp_http_conn *hc)
{
    const struct kp_http_request *r = hc->r;
    const struct kp_http_loc_conf *loc = r->loc;
    uint64_t age = hc->loop->clock.msec - hc->started_ms;

    return !r->close && !r->parser.head.must_close && loc->keepalive_timeout_ms > 0 &&
           hc->c->requests < loc->keepalive_requests && age < loc->keepalive_time_ms &&
           !browser_refuses(r, loc->keepalive_disable) && !kp_http_ctx_draining(hc->ctx);
}

static enum kp_http_conn_hdr conn_header(const struct kp_http_request *r)
{
    /* HTTP/1.0 is persistent only when both sides say so; HTTP/1.1 needs
     * no word (RFC 9112 section 9.3), but nginx says it there too and
     * clients and tests written against nginx look for it. */
    return r->keepalive ? KP_HTTP_CONN_HDR_KEEP_ALIVE : KP_HTTP_CONN_HDR_CLOSE;
}

/* limit_rate holds the writer back: its timer brings it back (see
 * on_timer), with no I/O watched meanwhile. */
static enum step rate_pause(struct kp_http_conn *hc)
{
    uint64_t wait = 1;

    if (kp_http_limit_rate_budget(hc->r, hc->loop->clock.msec, &wait) != 0)
        wait = 1;
    hc->rate_wait = true;
    kp_loop_timer_add(hc->loop, &hc->c->timer, wait);
    return STEP_WAIT;
}

/* --- aio threads ---------------------------------------------------------------------- */

static enum step write_out(struct kp_http_conn *hc);
static void next(struct kp_http_conn *hc, enum step s);

static void aio_work(struct kp_task *t)
{
    kp_http_aio_run(&((struct kp_http_conn *)t->data)->r->out.aio);
}

/* Back from the pool thread, in the reactor: send on. */
static void aio_done(struct kp_task *t)
{
    struct kp_http_conn *hc = t->data;
    struct kp_http_request *r = hc->r;
    uint64_t before = r->bytes_sent;
    enum step s = STEP_CLOSE;

    hc->aio_busy = false;
    hc->answered = 0;
    enum kp_http_send_result rc = kp_http_response_aio_done(r);
    kp_sb_count(hc->ctx->sb, KP_SB_BYTES_OUT, r->bytes_sent - before);
    if (rc == KP_HTTP_SEND_DONE) {
        s = write_out(hc);
    } else if (rc == KP_HTTP_SEND_AGAIN) {
        kp_loop_timer_add(hc->loop, &hc->c->timer, r->loc->send_timeout_ms);
        s = STEP_WAIT;
    }
    next(hc, s);
}

/* A full queue: nginx's log line; then a 503 if nothing of the response
 * has gone out yet (the writer holds the head back until the first file
 * bytes are in hand), else the connection is closed. */
static enum step aio_overflow(struct kp_http_conn *hc, const char *pool, unsigned waiting)
{
    struct kp_http_request *r = hc->r;

    kp_http_req_log(r, KP_LOG_ERR, 0, "thread pool \"%s\" queue overflow: %u tasks waiting", pool,
                    waiting);
    if (r->out.head.len < r->out.head_len)
        return STEP_CLOSE;
    /* Earlier responses that went out in front of this one stay sent. */
    if (r->out.prefix.p != NULL)
        hc->batch_sent = hc->batch_len - r->out.prefix.len;
    kp_http_handler_error(r, 503);
    return STEP_RESPOND;
}

/* Hand task to the location's pool and leave the connection alone until
 * it is back (its done callback). */
static enum step pool_post(struct kp_http_conn *hc, struct kp_task *task)
{
    struct kp_http_request *r = hc->r;
    /* The writer and the handler ask only when the process has pools
     * (r->svc->pools), and the configuration checked that the location's
     * is one of them. */
    struct kp_tpool *tp = kp_tpools_find(r->svc->pools, r->loc->aio_pool);
    unsigned waiting = 0;

    if (tp == NULL) {
        log_client(hc, KP_LOG_ALERT, 0, "no thread pool for aio");
        return STEP_CLOSE;
    }
    if (kp_tpool_post(tp, &hc->ctx->port, task, &waiting) < 0)
        return aio_overflow(hc, r->loc->aio_pool, waiting);
    hc->aio_busy = true;
    hc->aio_task = task;
    kp_loop_timer_del(hc->loop, &hc->c->timer);
    return STEP_WAIT;
}

/* The writer needs the disk: r->out.aio goes to the pool. */
static enum step aio_post(struct kp_http_conn *hc)
{
    struct kp_http_aio *a = &hc->r->out.aio;

    a->task = (struct kp_task){.work = aio_work, .done = aio_done, .data = hc};
    return pool_post(hc, &a->task);
}

static void open_work(struct kp_task *t)
{
    kp_http_static_open_run(((struct kp_http_conn *)t->data)->r->open_task);
}

/* The open is back, in the reactor: the handler goes on from where it
 * stopped (it may stop again for another open). */
static void open_done(struct kp_task *t)
{
    struct kp_http_conn *hc = t->data;

    hc->aio_busy = false;
    hc->answered = 0;
    kp_http_handler_open_done(hc->r);
    next(hc, handled(hc));
}

/* The static handler found a path not in the kernel's caches: its open
 * (r->open_task) goes to the pool, the request waits as for a read. */
static enum step open_post(struct kp_http_conn *hc)
{
    struct kp_http_open_task *o = hc->r->open_task;

    o->task = (struct kp_task){.work = open_work, .done = open_done, .data = hc};
    return pool_post(hc, &o->task);
}

static enum step write_out(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    uint64_t before = r->bytes_sent, wait;

    r->out.budget = kp_http_limit_rate_budget(r, hc->loop->clock.msec, &wait);
    if (r->out.budget == 0) {
        kp_http_response_own(r);
        return rate_pause(hc);
    }
    enum kp_http_send_result rc =
        kp_http_response_send(r, hc->c, hc->ctx->scratch, KP_HTTP_SCRATCH_SIZE);

    kp_sb_count(hc->ctx->sb, KP_SB_BYTES_OUT, r->bytes_sent - before);
    switch (rc) {
    case KP_HTTP_SEND_DONE:
        return STEP_SENT;
    case KP_HTTP_SEND_AGAIN:
        kp_loop_timer_add(hc->loop, &hc->c->timer, r->loc->send_timeout_ms);
        return STEP_WAIT;
    case KP_HTTP_SEND_LIMIT:
        return rate_pause(hc);
    case KP_HTTP_SEND_AIO:
        return aio_post(hc);
    default:
        return STEP_CLOSE;
    }
}

static enum step respond(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    const struct kp_http_loc_conf *loc = r->loc;

    r->keepalive = keep_alive(hc);
    kp_http_headers_apply(r, hc->loop->clock.sec);
    kp_http_charset_apply(r);
    const struct kp_http_head_opts o = {.date = hc->loop->clock.http_date,
                                        .server_tokens = loc->server_tokens,
                                        .connection = conn_header(r),
                                        .keepalive_s = loc->keepalive_header_s,
                                        .lm = &hc->ctx->lm,
                                        .memo = &hc->ctx->head};
    kp_http_response_prepare(r, &o);
    kp_http_limit_rate_start(r, hc->loop->clock.msec);
    /* Nagle would hold the small tail of the next response until this one
     * is acknowledged: off once per connection that stays open. */
    if (r->keepalive && loc->tcp_nodelay && !hc->nodelay) {
        kp_socket_nodelay(hc->c->io.fd, true);
        hc->nodelay = true;
    }
    set_state(hc, KP_HC_WRITE);
    hc->answered++;
    if (batch_wanted(hc)) {
        batch_add(hc);
        return STEP_SENT;
    }
    /* This response ends the batch: the batch leaves in front of it. */
    if (batch_pending(hc))
        r->out.prefix = (struct kp_str){hc->batch + hc->batch_sent, hc->batch_len - hc->batch_sent};
    return write_out(hc);
}

/* --- after the response -------------------------------------------------------------- */

/* The next wait of a lingering connection: lingering_timeout, or what is
 * left of lingering_time if less; nothing left: close (nginx's rule). */
static enum step linger_wait(struct kp_http_conn *hc)
{
    uint64_t now = hc->loop->clock.msec;

    if (now >= hc->linger_end_ms)
        return STEP_CLOSE;
    uint64_t left = hc->linger_end_ms - now;
    kp_loop_timer_add(hc->loop, &hc->c->timer,
                      left < hc->linger_timeout_ms ? left : hc->linger_timeout_ms);
    return STEP_WAIT;
}

/* Raw reads even under TLS (kp_io_recv, not kp_conn_recv): what arrives
 * now is dropped undecrypted. Bytes read start a new wait. */
static enum step linger_read(struct kp_http_conn *hc)
{
    char buf[4096];
    bool got = false;

    for (int i = 0; i < KP_HTTP_LINGER_READS; i++) {
        ssize_t n = kp_io_recv(&hc->c->io, buf, sizeof(buf));
        if (n > 0) {
            kp_sb_count(hc->ctx->sb, KP_SB_BYTES_IN, (uint64_t)n);
            got = true;
            continue;
        }
        hc->read_full = false;
        if (n != -EAGAIN)
            return STEP_CLOSE;
        return got ? linger_wait(hc) : STEP_WAIT;
    }
    hc->read_full = true; /* more may be waiting: come back after the others */
    return linger_wait(hc);
}

/* Whether closing after hc->r lingers, by lingering_close of loc: on when
 * the client may still be sending -- a body not read, or bytes behind the
 * request, which close() would answer with a reset. */
static bool lingers(const struct kp_http_conn *hc, const struct kp_http_loc_conf *loc)
{
    if (loc->lingering_close == KP_LINGER_ALWAYS)
        return true;
    return loc->lingering_close == KP_LINGER_ON && (hc->r->linger || kp_buf_len(&hc->c->rbuf) > 0);
}

static enum step linger_start(struct kp_http_conn *hc, const struct kp_http_loc_conf *loc)
{
    hc->linger_end_ms = hc->loop->clock.msec + loc->lingering_time_ms;
    hc->linger_timeout_ms = loc->lingering_timeout_ms;
    request_free(hc);
    buf_give(hc);
    if (hc->c->tls != NULL)
        kp_tls_shutdown(hc->c->tls); /* close_notify before the FIN */
    if (kp_conn_shutdown(hc->c) < 0)
        return STEP_CLOSE;
    set_state(hc, KP_HC_LINGER);
    enum step s = linger_wait(hc);
    return s == STEP_WAIT ? linger_read(hc) : s;
}

/* The response is out: log it, then close, linger, start the next
 * pipelined request from the bytes already read, or go idle. */
static enum step after_response(struct kp_http_conn *hc)
{
    struct kp_http_request *r = hc->r;
    struct kp_buf *b = &hc->c->rbuf;

    r->complete = true; /* the only way here: a broken or stopped one is logged by close_conn */
    request_log(hc);
    if (r->out.prefix.p != NULL)
        batch_release(hc); /* it went out in front of this response */
    if (!r->keepalive) {
        const struct kp_http_loc_conf *loc = r->loc != NULL ? r->loc : default_srv(hc)->loc;
        return lingers(hc, loc) ? linger_start(hc, loc) : STEP_CLOSE;
    }
    uint64_t idle_ms = r->loc->keepalive_timeout_ms;
    if (kp_buf_len(b) > 0) {
        kp_buf_compact(b);
        request_new(hc);
        hc->r->pipelined = true;
        if (hc->answered >= KP_HTTP_BATCH_REQUESTS) {
            /* Enough for one event: the rest after the other connections. */
            hc->parse_first = true;
            set_state(hc, KP_HC_READ_HEAD);
            kp_loop_post(hc->loop, &hc->c->io, KP_EV_READ);
            return STEP_WAIT;
        }
        enum step s = parse(hc);
        return s == STEP_WAIT ? read_head(hc) : s;
    }
    request_free(hc);
    buf_give(hc);
    set_state(hc, KP_HC_IDLE);
    kp_loop_timer_add(hc->loop, &hc->c->timer, idle_ms);
    return STEP_WAIT;
}

/* --- TLS ------------------------------------------------------------------------------ */

/* The next byte waiting on the raw socket, left there. The first byte of a
 * TLS connection is a handshake record's type (22); anything else is taken
 * for plain HTTP, read as a request and answered 400, as nginx does. Also
 * used to see a delayed request's client go. Returns the byte, -EAGAIN, or
 * 0 for a connection that closed or broke. */
static int first_byte(struct kp_http_conn *hc)
{
    unsigned char b;
    ssize_t n;

    do {
        n = recv(hc->c->io.fd, &b, 1, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return -EAGAIN;
    return n == 1 ? b : 0;
}

static enum step handshake(struct kp_http_conn *hc)
{
    char reason[256], what[320];

    if (hc->c->tls == NULL) {
        int b = first_byte(hc);
        if (b <= 0)
            return b == -EAGAIN ? STEP_WAIT : STEP_CLOSE;
        if (b != 0x16) {
            hc->plain_http = true;
            return wake(hc);
        }
        if (kp_http_ssl_attach(hc->c) != 0) {
            log_client(hc, KP_LOG_ALERT, ENOMEM, "cannot start TLS");
            return STEP_CLOSE;
        }
        /* A handshake, tickets, a response and close_notify are several
         * small writes: Nagle would hold each behind the last one's ACK
         * (resumed handshakes took 12 ms each before this). */
        if (default_srv(hc)->loc->tcp_nodelay && !hc->nodelay)
            hc->nodelay = kp_socket_nodelay(hc->c->io.fd, true) == 0;
    }
    int rc = kp_tls_handshake(hc->c->tls, reason, sizeof(reason));
    if (rc == -EAGAIN)
        return STEP_WAIT;
    if (rc < 0) {
        /* The client's doing (a wrong version, a truncated hello, a scan):
         * info, as nginx logs it, never error. */
        if (rc == -EPROTO)
            snprintf(what, sizeof(what),
                     "SSL_do_handshake() failed (SSL: %s) while SSL handshaking", reason);
        else
            snprintf(what, sizeof(what), "%s in SSL handshake", reason);
        log_client(hc, KP_LOG_INFO, 0, what);
        return STEP_CLOSE;
    }
    /* Done: wait for the request as a new connection would, with a fresh
     * client_header_timeout; it often came with the client's Finished. */
    set_state(hc, KP_HC_IDLE);
    kp_loop_timer_add(hc->loop, &hc->c->timer, default_srv(hc)->client_header_timeout_ms);
    return wake(hc);
}

/* --- the PROXY header ------------------------------------------------------------------ */

/* On an `ssl` address the bytes behind the header are the TLS handshake,
 * which OpenSSL reads from the socket itself: look at what has arrived
 * (MSG_PEEK, as first_byte does) and take only the header's bytes. All
 * that an incomplete header has shown belongs to it, so they are taken
 * too (a level-triggered backend would otherwise report them forever). */
static ssize_t proxy_recv_exact(struct kp_http_conn *hc)
{
    struct kp_buf *b = &hc->c->rbuf;
    struct kp_proxy_header h;
    ssize_t n;

    do {
        n = recv(hc->c->io.fd, b->last, kp_buf_free(b), MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    ssize_t rc = kp_proxy_protocol_parse(b->pos, kp_buf_len(b) + (size_t)n, &h);
    size_t take = rc > 0 ? (size_t)rc - kp_buf_len(b) : (size_t)n;
    n = kp_conn_recv(hc->c, b->last, take);
    hc->read_full = false;
    if (n > 0) {
        b->last += n;
        kp_sb_count(hc->ctx->sb, KP_SB_BYTES_IN, (uint64_t)n);
    }
    return n;
}

/* nginx's words, with the bytes escaped: a v2 header is binary. */
static enum step proxy_broken(struct kp_http_conn *hc)
{
    const struct kp_buf *b = &hc->c->rbuf;
    size_t len = kp_buf_len(b) < KP_PROXY_V1_MAX ? kp_buf_len(b) : KP_PROXY_V1_MAX;
    char text[4 * KP_PROXY_V1_MAX + 1], what[sizeof(text) + 64];
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)b->pos[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            text[o++] = (char)ch;
        else
            o += (size_t)snprintf(text + o, sizeof(text) - o, "\\x%02x", ch);
    }
    text[o] = '\0';
    snprintf(what, sizeof(what), "broken header: \"%s\" while reading PROXY protocol", text);
    log_client(hc, KP_LOG_ERR, 0, what);
    return STEP_CLOSE;
}

/* The header is in: TLS follows on an `ssl` address; else a request,
 * perhaps already behind the header in the buffer. */
static enum step proxy_done(struct kp_http_conn *hc)
{
    struct kp_buf *b = &hc->c->rbuf;

    hc->has_proxy = true;
    if (kp_http_addr_of(hc->c->ls)->ssl) {
        buf_give(hc);
        set_state(hc, KP_HC_HANDSHAKE);
        return handshake(hc);
    }
    if (kp_buf_len(b) == 0) {
        /* The header's client_header_timeout keeps running. */
        buf_give(hc);
        set_state(hc, KP_HC_IDLE);
        return STEP_WAIT;
    }
    kp_buf_compact(b);
    request_new(hc);
    enum step s = parse(hc);
    return s == STEP_WAIT ? read_head(hc) : s;
}

static enum step read_proxy(struct kp_http_conn *hc)
{
    struct kp_buf *b = &hc->c->rbuf;

    if (b->start == NULL)
        buf_take(hc);
    for (;;) {
        if (kp_buf_free(b) == 0 && !buf_grow(hc))
            return proxy_broken(hc);
        ssize_t n = kp_http_addr_of(hc->c->ls)->ssl ? proxy_recv_exact(hc) : recv_some(hc);
        if (n == -EAGAIN)
            return STEP_WAIT;
        if (n <= 0) {
            log_client(hc, KP_LOG_INFO, n < 0 ? (int)-n : 0,
                       n < 0 ? "recv() failed while reading PROXY protocol"
                             : "client closed connection while reading PROXY protocol");
            return STEP_CLOSE;
        }
        ssize_t rc = kp_proxy_protocol_parse(b->pos, kp_buf_len(b), &hc->proxy);
        if (rc == KP_PARSE_INVALID)
            return proxy_broken(hc);
        if (rc > 0) {
            b->pos += rc;
            return proxy_done(hc);
        }
    }
}

/* --- the driver ---------------------------------------------------------------------- */

static void wait_io(struct kp_http_conn *hc)
{
    unsigned ev = hc->state == KP_HC_WRITE ? KP_EV_WRITE : KP_EV_READ;

    /* A batch the socket did not take: nothing is read until it is out. */
    if (hc->state != KP_HC_WRITE && batch_pending(hc))
        ev = KP_EV_WRITE;
    /* Held back by a limit (only the timer, so that no readiness spins a
     * level-triggered backend meanwhile), or a pool thread works for the
     * response (WRITE): nothing is watched. */
    else if ((hc->state == KP_HC_DELAY && hc->delay_deaf) || hc->rate_wait || hc->aio_busy)
        ev = 0;
    else if (hc->state == KP_HC_DELAY)
        ev = KP_EV_READ; /* only to see the client go */
    /* A TLS read may wait to write and a TLS write to read. */
    else if (hc->c->tls != NULL)
        ev |= kp_tls_want(hc->c->tls);
    int rc = kp_loop_set(hc->loop, &hc->c->io, ev);

    if (rc < 0) {
        log_client(hc, KP_LOG_ALERT, -rc, "cannot watch the connection");
        close_conn(hc);
        return;
    }
    /* An edge-triggered backend reports readiness once: after a read that
     * filled the buffer, come back instead of waiting for a new edge. The
     * same after the client's end of stream was reported: it came with the
     * bytes already read and raises no new edge, so the read that sees it
     * (and closes, as in any state but WRITE) must be made here, or the
     * connection would sit in CLOSE-WAIT until its timeout. Not while
     * limit_req delays the request: what waits there is left for after the
     * delay (read_full stays set for then), and posting would spin the loop
     * on a peek that finds nothing new for the whole delay. */
    bool more = hc->read_full && hc->state != KP_HC_DELAY;
    if (ev == KP_EV_READ && (more || hc->peer_eof))
        kp_loop_post(hc->loop, &hc->c->io, KP_EV_READ);
}

/* The one place that decides what follows a step. */
static void next(struct kp_http_conn *hc, enum step s)
{
    for (;;) {
        switch (s) {
        case STEP_WAIT:
            if (!batch_flush(hc)) {
                close_conn(hc);
                return;
            }
            wait_io(hc);
            return;
        case STEP_HEAD:
            s = on_head(hc);
            break;
        case STEP_PROCESS:
            s = process(hc);
            break;
        case STEP_RESPOND:
            s = respond(hc);
            break;
        case STEP_SENT:
            s = after_response(hc);
            break;
        case STEP_CLOSE:
            close_conn(hc);
            return;
        case STEP_AWAY:
            return;
        }
    }
}

void kp_http_request_processed(struct kp_http_conn *hc)
{
    struct kp_conn *c = hc->c;
    unsigned ev = hc->away_events;

    hc->away_events = 0;
    next(hc, handled(hc));
    /* Readiness that came meanwhile was reported once (edge-triggered):
     * act on it now, or when the next request (already in the buffer)
     * comes back; not on a connection that closed. */
    if (ev == 0 || !c->in_use || c->data != hc)
        return;
    if (hc->away)
        hc->away_events |= ev;
    else
        kp_loop_post(hc->loop, &c->io, ev);
}

static void on_io(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_conn *c = io->data;
    struct kp_http_conn *hc = c->data;
    enum step s;

    (void)loop;
    /* A hang-up reported while a pool thread works (epoll reports one even
     * with nothing watched) is seen by the write that follows the task. */
    if (hc->aio_busy)
        return;
    /* Errors surface from read/write themselves; an end of stream may be
     * reported only now (see wait_io). */
    hc->peer_eof |= (events & KP_EV_EOF) != 0;
    if (hc->away) {
        hc->away_events |= events & (KP_EV_READ | KP_EV_WRITE);
        return;
    }
    hc->answered = 0;
    if (hc->state != KP_HC_WRITE && batch_pending(hc)) {
        /* Writable again: the batch first, then on as the state says. */
        if (!batch_flush(hc)) {
            close_conn(hc);
            return;
        }
        if (batch_pending(hc)) {
            wait_io(hc);
            return;
        }
    }
    switch (hc->state) {
    case KP_HC_IDLE:
        s = wake(hc);
        break;
    case KP_HC_READ_HEAD:
        s = hc->parse_first ? parse_buffered(hc) : read_head(hc);
        break;
    case KP_HC_READ_BODY:
        s = read_body(hc);
        break;
    case KP_HC_WRITE:
        s = hc->rate_wait ? STEP_WAIT : write_out(hc);
        break;
    case KP_HC_HANDSHAKE:
        s = handshake(hc);
        break;
    case KP_HC_DELAY:
        s = delay_check(hc);
        break;
    case KP_HC_PROXY:
        s = read_proxy(hc);
        break;
    default:
        s = linger_read(hc);
        break;
    }
    next(hc, s);
}

static void on_timer(struct kp_timer *t)
{
    struct kp_conn *c = t->data;
    struct kp_http_conn *hc = c->data;
    enum step s = STEP_CLOSE;

    if (hc->away)
        return; /* disarmed when it left; nothing to time meanwhile */
    hc->answered = 0;
    switch (hc->state) {
    case KP_HC_READ_HEAD:
    case KP_HC_READ_BODY:
        if (reset_if_asked(hc))
            log_client(hc, KP_LOG_INFO, ETIMEDOUT, "client timed out sending the request");
        else
            s = fail(hc, 408, "client timed out sending the request");
        break;
    case KP_HC_WRITE:
        if (hc->rate_wait) {
            hc->rate_wait = false;
            s = write_out(hc);
            break;
        }
        log_client(hc, KP_LOG_INFO, 0, "client timed out reading the response");
        reset_if_asked(hc);
        break;
    case KP_HC_DELAY:
        s = resume(hc);
        break;
    case KP_HC_HANDSHAKE:
        log_client(hc, KP_LOG_INFO, ETIMEDOUT, "client timed out while SSL handshaking");
        reset_if_asked(hc);
        break;
    case KP_HC_PROXY:
        log_client(hc, KP_LOG_INFO, ETIMEDOUT, "client timed out while reading PROXY protocol");
        break;
    default:
        break; /* idle or lingering: close without a word */
    }
    next(hc, s);
}

void kp_http_request_begin(struct kp_http_conn *hc)
{
    struct kp_conn *c = hc->c;

    hc->started_ms = hc->loop->clock.msec;
    c->io.handler = on_io;
    c->close = close_cb;
    c->timer.fn = on_timer;
    if (kp_http_addr_of(c->ls)->proxy_protocol) {
        /* Before anything else, TLS included (nginx's order). A reader
         * of a request head for the pool: evicted first if it dawdles. */
        hc->state = KP_HC_PROXY;
        kp_sb_gauge(hc->ctx->sb, KP_SB_READING, 1);
        kp_conn_reading_add(hc->ctx->pool, c);
        kp_loop_timer_add(hc->loop, &c->timer, default_srv(hc)->client_header_timeout_ms);
        return;
    }
    if (kp_http_addr_of(c->ls)->ssl) {
        /* The ClientHello is reported by the next wait. */
        hc->state = KP_HC_HANDSHAKE;
        kp_sb_gauge(hc->ctx->sb, KP_SB_READING, 1);
        kp_loop_timer_add(hc->loop, &c->timer, default_srv(hc)->client_header_timeout_ms);
        return;
    }
    hc->state = KP_HC_IDLE;
    kp_sb_gauge(hc->ctx->sb, KP_SB_IDLE, 1);
    kp_conn_idle_add(hc->ctx->pool, c);
    kp_loop_timer_add(hc->loop, &c->timer, default_srv(hc)->client_header_timeout_ms);
    /* A client often sends its request right behind the handshake: try
     * reading in this iteration, as a posted event so that it runs after
     * the accept phase (the accept mutex is never held while serving),
     * instead of waiting for the next wait to report it. That saves a wait
     * when the request is there, and costs an EAGAIN read when it is not:
     * on loopback it mostly is not (the read after accept4 failed about once
     * per connection), so try only while at least half the recent tries
     * found it, and on one connection in 16 to notice when that changes.
     * Not posting is safe: the accept registered the socket for reading,
     * and a request already there is reported by the next wait. */
    const struct kp_http_ctx *ctx = hc->ctx;
    hc->probing = ctx->probes < 16 || ctx->probe_hits * 2 >= ctx->probes || c->number % 16 == 0;
    if (hc->probing)
        kp_loop_post(hc->loop, &c->io, KP_EV_READ);
}
