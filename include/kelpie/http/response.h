/* Responses on the wire: the response head serialised from struct
 * kp_http_response with memcpy of precomputed pieces, and the writer that
 * sends head and body with as few system calls as the socket allows:
 *   - head and a memory body (a small file the open-file cache keeps in
 *     memory, or the first piece of a file read with sendfile off) leave
 *     in one writev();
 *   - a file body with `sendfile on` follows with sendfile(); the head is
 *     then sent with MSG_MORE so that it shares a packet with the file's
 *     first bytes;
 *   - with `tcp_nopush on` (and sendfile), TCP_CORK is set at the start of
 *     such a response and cleared at its end, so no tail is left waiting;
 *   - a partial write keeps its place and reports KP_HTTP_SEND_AGAIN: the
 *     caller waits for writability (send_timeout) and calls again. */
#ifndef KP_RESPONSE_H
#define KP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "kelpie/util/str.h"
#include "kelpie/event/tpool.h"
#include "kelpie/http/req.h"
#include "kelpie/http/status.h"

struct kp_conn;

/* Which Connection field the head carries (RFC 9112 section 9.6). */
enum kp_http_conn_hdr {
    KP_HTTP_CONN_HDR_NONE = 0,   /* no Connection field */
    KP_HTTP_CONN_HDR_CLOSE,      /* "Connection: close" */
    KP_HTTP_CONN_HDR_KEEP_ALIVE, /* "Connection: keep-alive" (staying open, as nginx says) */
};

/* The text of one time value, reformatted only when the value changes: a
 * benchmark hitting one file formats its Last-Modified once. */
struct kp_http_date_cache {
    time_t t;      /* -1: empty */
    char text[32]; /* IMF-fixdate, NUL-terminated */
};

/* A head kept with everything it was made from but the Date, so that the
 * same answer again costs a comparison instead of a dozen pieces. Only plain
 * heads are kept: no Content-Range, Location, Allow, WWW-Authenticate or
 * extra fields, and a Content-Type and an ETag that fit here. The key is
 * every input of the head but the Date, so a hit is byte for byte the head
 * that would be built (tests/unit/check_response.c, integ prebuilt_*).
 * Two kinds:
 *   - the last head built, one per reactor (kp_http_head_opts.memo),
 *     copied into each response's arena;
 *   - the prebuilt answer of one version of a small file the open-file
 *     cache keeps in memory (kp_http_response.prebuilt): the head is kept
 *     right in front of the file's bytes (text ends where they start), so
 *     that head and body leave as one piece from there with no copy; only
 *     the Date is stamped in, and a response that has to wait (a short
 *     write, limit_rate) copies what is left of it into its arena first. */
#define KP_HTTP_HEAD_MEMO_VALUE 96
#define KP_HTTP_HEAD_MEMO_TEXT  512
struct kp_http_head_memo {
    size_t len;     /* 0: empty */
    size_t at;      /* the head is text[at .. at + len) */
    size_t date_at; /* where the Date value (KP_TIME_HTTP_DATE_LEN bytes) is in the head */
    int status;
    unsigned server_tokens;
    int connection;
    uint64_t keepalive_s;
    int64_t length;
    time_t last_modified;
    bool accept_ranges;
    size_t type_len, etag_len;
    char type[KP_HTTP_HEAD_MEMO_VALUE], etag[KP_HTTP_HEAD_MEMO_VALUE];
    char text[KP_HTTP_HEAD_MEMO_TEXT]; /* last: a prebuilt answer's body follows */
};

/* The prebuilt answer kept in front of data, a small file's bytes that the
 * open-file cache holds in memory (filecache.h: KP_HTTP_FILECACHE_ROOM
 * zeroed bytes are kept there for it). Only the reactor that owns that
 * cache may use it. */
struct kp_http_head_memo *kp_http_response_prebuilt(const char *data);

/* What the head needs besides the response itself. */
struct kp_http_head_opts {
    const char *date;       /* IMF-fixdate (29 bytes), NUL-terminated */
    unsigned server_tokens; /* KP_HTTP_TOKENS_* */
    enum kp_http_conn_hdr connection;
    struct kp_http_date_cache *lm; /* for Last-Modified; NULL: format every time */
    uint64_t keepalive_s; /* > 0: "Keep-Alive: timeout=N" (keepalive_timeout's 2nd value) */
    struct kp_http_head_memo *memo; /* the last head (see above); NULL: build every time */
};

/* Reset r->resp to "nothing set" (fd -1, lengths -1). */
void kp_http_response_init(struct kp_http_response *resp);

/* Bytes the head of resp can take at most (kp_http_response_head's out). */
size_t kp_http_response_head_size(const struct kp_http_response *resp);

/* Serialise the head of resp into out (at least kp_http_response_head_size
 * bytes; not NUL-terminated) and return its length. Fields, in order:
 * status line ("HTTP/1.1 NNN \r\n" for a code without a registered reason;
 * codes outside 100-999 are sent as 500), Server, Date, Content-Type,
 * Content-Length (from resp->content_length, else the memory body's or the
 * file range's length; never for 1xx, 204 and 304), Last-Modified,
 * Connection, Keep-Alive, ETag, Accept-Ranges, Content-Range, Location, Allow, then
 * resp->extra as it is. */
size_t kp_http_response_head(const struct kp_http_response *resp, const struct kp_http_head_opts *o,
                             char *out);

/* The response body length the head announces (see above), or -1 when the
 * status carries none. */
int64_t kp_http_response_length(const struct kp_http_response *resp);

/* aio threads: file data that is not in the page cache is read (or sent
 * with sendfile) by a pool thread, not by the reactor. The writer probes
 * with preadv2(RWF_NOWAIT): data in the cache goes out inline as without
 * aio; for the rest it stops with KP_HTTP_SEND_AIO and describes the work
 * here. Nothing of a response goes out before its first file bytes are in
 * hand, so that a pool that cannot take the work leaves room for a 503. The
 * work and the output state live in the request (struct kp_http_aio and
 * struct kp_http_out, http/req.h). */
/* A sendfile() inline or in the pool moves at most this much with aio on:
 * the probe looks at the range's first and last bytes only. */
#define KP_HTTP_AIO_SENDFILE_MAX (2u << 20)

enum kp_http_send_result {
    KP_HTTP_SEND_DONE,  /* every byte was handed to the kernel */
    KP_HTTP_SEND_AGAIN, /* the socket is full: wait until writable */
    KP_HTTP_SEND_ERROR, /* the peer is gone or the file failed (logged) */
    KP_HTTP_SEND_LIMIT, /* out->budget is spent: wait for limit_rate's timer */
    KP_HTTP_SEND_AIO,   /* the next file bytes are not cached: r->out.aio says what a pool
                         * thread must do (kp_http_aio_run), then kp_http_response_aio_done */
};

/* Serialise r->resp into r->arena and set r->out up: the head, then the body
 * unless r->head_only or the status has none. sendfile/tcp_nopush come from
 * r->loc. A response with a prebuilt answer (r->resp.prebuilt) that matches
 * sends from there (r->out.shared), else builds its head and keeps it there
 * for the next one. Does no I/O. */
void kp_http_response_prepare(struct kp_http_request *r, const struct kp_http_head_opts *o);

/* Make r->out independent of a prebuilt answer: what is left of it is
 * copied into r's arena. For a response that waits before or after a send
 * (kp_http_response_send does it itself when it returns anything but
 * KP_HTTP_SEND_DONE). */
void kp_http_response_own(struct kp_http_request *r);

/* Write as much of r->out to c (through TLS when c->tls is set) as it takes, at most
 * r->out.budget bytes (spent as they go; KP_HTTP_SEND_LIMIT when it runs out first), counting
 * r->bytes_sent
 * and r->body_sent. scratch (scratch_size bytes, shared by the worker) holds file data read with
 * sendfile off for the length of one call: after a partial write the unsent part is read again from
 * the file next time, so nothing is copied or kept between calls. Never blocks on the socket (it
 * may block reading the file). */
enum kp_http_send_result kp_http_response_send(struct kp_http_request *r, struct kp_conn *c,
                                               char *scratch, size_t scratch_size);

/* In a pool thread: do the work a KP_HTTP_SEND_AIO left in a (blocking
 * pread, or sendfile to the non-blocking socket) and keep its result. */
void kp_http_aio_run(struct kp_http_aio *a);

/* Back in the reactor: take the result of r->out.aio into r->out (the data
 * read, or the bytes sendfile sent, counted as kp_http_response_send
 * counts them). KP_HTTP_SEND_DONE: send on with kp_http_response_send;
 * AGAIN: the socket is full; ERROR: logged. */
enum kp_http_send_result kp_http_response_aio_done(struct kp_http_request *r);

#endif
