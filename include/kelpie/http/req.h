/* One HTTP request as data: the request object, the response a handler
 * fills in, the connection it arrived on, and what every module that looks
 * at a request may ask of it (its client, its error log). The state machine
 * that drives a request (http/request.h) and the modules it runs (handler,
 * static, auth, limits, rewrite, ...) all stand on this one; it calls none
 * of them. A handler looks at the request and fills in r->resp; the state
 * machine turns that into bytes on the wire (http/response.h).
 *
 * Memory: a request and everything hanging off it live in r->arena, which is
 * reset between keep-alive requests. The request object itself is taken when
 * the first byte of a request arrives and given back when the connection goes
 * idle, so an idle keep-alive connection holds no request memory. */
#ifndef KP_REQ_H
#define KP_REQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/conf.h"
#include "kelpie/util/log.h"
#include "kelpie/util/str.h"
#include "kelpie/event/conn.h"
#include "kelpie/event/offload.h"
#include "kelpie/event/tpool.h"
#include "kelpie/http/chunked.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/proxy_protocol.h"

/* Header fields a request may have (494, a 400, beyond). */
#define KP_HTTP_MAX_FIELDS KP_HTTP_DEFAULT_MAX_FIELDS

/* Response headers and body, as filled in by a handler. Unset fields are
 * zero/NULL/-1 as noted; the state machine adds Server, Date, Connection and
 * Content-Length itself. */
struct kp_http_head_memo; /* http/response.h */

/* One part of a body sent from a file in pieces: a head from memory, then
 * len bytes of the file at pos. */
struct kp_http_part {
    struct kp_str head;
    off_t pos;
    uint64_t len;
};

struct kp_http_response {
    int status;                     /* 200, 206, 304, 404, ... */
    struct kp_str content_type;     /* empty: no Content-Type */
    int64_t content_length;         /* -1: from the body below */
    time_t last_modified;           /* -1: none */
    struct kp_str etag;             /* with quotes, e.g. "\"5f3a-1c8\""; empty: none */
    struct kp_str location;         /* redirect target (absolute or path); empty: none */
    struct kp_str content_range;    /* "bytes 0-99/1000" or "bytes * /1000" value */
    struct kp_str allow;            /* 405: "GET, HEAD" */
    struct kp_str www_authenticate; /* 401: the challenge (http/auth.h); empty: none */
    bool accept_ranges;             /* send "Accept-Ranges: bytes" */
    struct kp_str extra;            /* "Name: value\r\n" lines sent as they are, last */
    /* Body: either memory or a file range (or neither). */
    struct kp_str body; /* memory body (lives in the arena or static) */
    int fd;             /* -1: no file body; closed by an arena cleanup */
    off_t file_offset;
    uint64_t file_len;
    const char *file_data; /* the whole file in memory (open-file cache), or NULL */
    /* multipart/byteranges (http/byteranges.h): parts sent in turn from fd
     * instead of file_offset/file_len; NULL: none. */
    const struct kp_http_part *parts;
    size_t n_parts;
    /* The prebuilt answer of file_data's version (http/response.h), kept in
     * front of those bytes by the open-file cache of the reactor that
     * prepares this response; NULL: none. */
    struct kp_http_head_memo *prebuilt;
    uint64_t gzip_from; /* the body's length before gzip compressed it ($gzip_ratio); 0: not */
};

/* aio threads (http/response.h): one piece of file work a pool thread does
 * for the writer. */
#define KP_HTTP_AIO_BUF 32768 /* bytes one read task reads (nginx's output_buffers 32k) */

enum kp_http_aio_op {
    KP_HTTP_AIO_READ,     /* pread len bytes at pos into buf */
    KP_HTTP_AIO_SENDFILE, /* sendfile len bytes at pos to sock (non-blocking) */
};

struct kp_http_aio {
    struct kp_task task; /* task.data: the protocol's (request.c: the connection) */
    enum kp_http_aio_op op;
    int fd, sock;
    off_t pos;
    size_t len;
    char *buf;  /* KP_HTTP_AIO_BUF bytes in the request's arena */
    ssize_t rc; /* the work's result: bytes, or -errno */
};

/* Output in flight for one response (inside struct kp_http_request). */
struct kp_http_out {
    /* Earlier responses of a pipelined batch (request.c), sent first in the
     * same write: not this response's bytes, so not counted in bytes_sent. */
    struct kp_str prefix;
    struct kp_str head; /* not yet written part of the head */
    struct kp_str body; /* not yet written part of a memory body */
    /* head and body point into a prebuilt answer, which the next response
     * for that file rewrites: copied into the arena before the response
     * waits (kp_http_response_own). */
    bool shared;
    int fd;             /* file body, -1: none */
    off_t file_pos;     /* next file byte to send */
    uint64_t file_left; /* file bytes not yet sent */
    bool use_sendfile;
    bool cork;       /* set TCP_CORK for this response */
    bool corked;     /* TCP_CORK is on now */
    size_t head_len; /* whole head, for body_sent */
    uint64_t budget; /* bytes the next send may write (limit_rate); UINT64_MAX: any */
    /* Parts still to send after this one (multipart/byteranges): each
     * becomes body and file range in turn. */
    const struct kp_http_part *parts;
    size_t parts_left;
    /* aio threads (http/response.h): whether it is on for this response, the
     * file bytes a pool thread read (aio_len bytes at aio_pos in aio.buf;
     * sent from there instead of being read again), and the work asked. */
    bool aio_on;
    bool probed; /* the sendfile range at probed_pos was found cached */
    /* A probe of this response's file missed: every later sendfile goes to
     * the pool. A missed probe starts readahead at the range's two ends, so
     * a second probe of a range near it finds both ends cached while its
     * middle is still on the disk, and an inline sendfile would wait for it. */
    bool cold;
    off_t probed_pos;
    off_t aio_pos;
    size_t aio_len;
    struct kp_http_aio aio;
};

struct kp_http_ctx; /* worker-level HTTP state (http/ctx.h) */
struct kp_http_filecache;
struct kp_http_docroots;
struct kp_http_gzcache;
struct kp_http_auth_cache;
struct kp_scoreboard;
struct kp_tpools;

/* What a content handler may use besides its request and its configuration:
 * the worker's caches, clock and logs. The worker's HTTP context
 * (http/ctx.h) owns it and every request of the worker points at it
 * (r->svc), so that no handler reaches into the context. */
struct kp_http_services {
    const struct kp_http_conf *http; /* the whole http { } configuration */
    const struct kp_clock *clock;    /* the loop's: msec for caches, wall time for pages */
    const struct kp_log *log;        /* the error log */
    struct kp_http_filecache *files; /* open files (http/filecache.h) */
    struct kp_http_docroots *roots;  /* open document roots (http/docroot.h) */
    struct kp_http_gzcache *gz;      /* compressed files and compressors (http/gzip.h) */
    struct kp_http_auth_cache *auth; /* parsed password files (http/auth.h) */
    void *match_data;                /* regex captures (http/regex.h); NULL: one per match */
    struct kp_scoreboard *board;     /* every worker's counters, for `status;`; NULL: none */
    int pid;                         /* $pid */
    const struct kp_tpools *pools;   /* the process's thread pools (aio threads); NULL: none */
};

/* The value of one defined variable (set, map, named capture) for one
 * request (http/var.h). */
struct kp_http_var_value {
    struct kp_str value;
    bool valid;
};
struct kp_http_request;

/* HTTP state of one connection. request.c may add fields; content handlers
 * and the access log may read the ones below. One per pool connection,
 * preallocated by the worker's struct kp_http_ctx. */
struct kp_http_conn {
    struct kp_conn *c;    /* peer address, number, requests served */
    struct kp_loop *loop; /* loop->clock is the cached time */
    struct kp_http_ctx *ctx;
    struct kp_http_request *r; /* NULL while idle */
    int state;                 /* enum kp_http_conn_state (http/request.h) */
    /* private to request.c */
    size_t buf_size; /* c->rbuf's allocation (0: none) */
    bool read_full;  /* the last read filled the buffer: more may wait */
    bool peer_eof;   /* the client shut down its writing side (KP_EV_EOF) */
    bool nodelay;    /* TCP_NODELAY is set */
    bool probing;    /* the first read after accept was posted on speculation */
    bool plain_http; /* plain HTTP on an `ssl` address: its request is answered 400 */
    bool rate_wait;  /* WRITE held back by limit_rate: a timer, no I/O */
    bool delay_deaf; /* DELAY: bytes came (a pipelined request): stop watching */
    bool aio_busy;   /* WRITE: a pool thread works for the response (aio_task:
                      * r->out.aio, or r->open_task's): no I/O, no timer, no
                      * freeing until it is back */
    struct kp_task *aio_task;
    uint64_t started_ms;        /* loop clock at accept, for keepalive_time */
    uint64_t linger_end_ms;     /* LINGER: loop clock when lingering_time is up */
    uint64_t linger_timeout_ms; /* LINGER: lingering_timeout */
    /* Responses to pipelined requests gathered to leave in one send
     * (request.c, "batching"): batch_len bytes, the first batch_sent of
     * them written; batch is NULL while nothing is gathered. */
    char *batch;
    size_t batch_len, batch_sent;
    unsigned answered; /* responses made since the connection's event came */
    bool parse_first;  /* READ_HEAD: a request is in the buffer, parse before reading */
    /* The PROXY header of a `proxy_protocol` address, once read (its
     * addresses are AF_UNSPEC for UNKNOWN and LOCAL). */
    bool has_proxy;
    struct kp_proxy_header proxy;
    /* The simulated proactor (http/proactor.h): the request is with a
     * handler thread (nothing of the connection is touched meanwhile but
     * these: readiness reported while away waits in away_events). */
    bool away;
    bool away_resume; /* limit_req's delay is over: resume the handler */
    unsigned away_events;
    struct kp_offload_task task;
    struct kp_clock away_clock; /* the loop's clock when it left */
};

struct kp_http_request {
    struct kp_http_conn *hc;            /* the connection this request arrived on */
    const struct kp_http_services *svc; /* the worker's; NULL without a worker (unit tests) */
    struct kp_arena arena;
    struct kp_http_parser parser;       /* parser.head is the parsed request head */
    const struct kp_http_srv_conf *srv; /* chosen by Host */
    const struct kp_http_loc_conf *loc; /* chosen by the normalised path */
    struct kp_str uri;                  /* decoded, normalised path; NUL-terminated */
    struct kp_str args;                 /* raw query without '?', not decoded */
    uint64_t start_msec;                /* monotonic ms when the first byte arrived */
    uint64_t request_length;            /* head + body bytes read */
    uint64_t body_sent;                 /* body bytes written ($body_bytes_sent) */
    uint64_t bytes_sent;                /* all bytes written ($bytes_sent) */
    uint64_t interim_sent;              /* 100 Continue bytes (in $bytes_sent) */
    bool head_only;                     /* HEAD: send headers only */
    bool keepalive;                     /* the connection stays open after this response */
    bool pipelined;                     /* its bytes came in behind the previous request's */
    unsigned internal_redirects;        /* error_page hops, bounded */
    bool error_pages_done; /* a later error gets the built-in page (recursive_error_pages) */
    unsigned uri_changes;  /* rewrites and internal redirects, bounded */
    bool internal;         /* internally redirected: `internal` locations apply */
    bool alias_add_uri;    /* try_files found r->uri under a regex location's alias: the
                            * file is the alias + r->uri (nginx); cleared by a new location */
    int closed_status;     /* `return 408;` or `return 499;`: closed as for 444, this logged */
    struct kp_http_response resp;
    /* Variables (http/var.h): values of defined variables (NULL until one is
     * used), the captures of the last regex match, $request_id once made. */
    struct kp_http_var_value *var_values;
    unsigned n_var_slots; /* the cycle's http.vars.n_slots */
    unsigned map_depth;   /* maps being evaluated, one inside another (a cycle's bound) */
    unsigned n_captures;  /* pairs in captures */
    const size_t *captures;
    const char *capture_subject;
    const char *request_id;
    /* The limit modules (http/limit.h): what limit_req and limit_conn
     * decided (enum kp_http_limit_result; 0: did not run), limit_req's
     * delay, limit_rate's bytes per second (0: none), free bytes and start. */
    unsigned char limit_req_status, limit_conn_status;
    uint64_t limit_delay_ms;
    uint64_t limit_rate, limit_rate_after, limit_rate_start;
    /* The client's address when set_real_ip_from trusts the peer and the
     * real_ip_header names another (http/realip.h): then addr points to
     * real_addr (below); NULL: the connection's peer. Read it through
     * kp_http_req_client(). */
    const struct sockaddr_storage *addr;
    /* aio threads: whether the static handler may hand the open of a file
     * not in the kernel's caches to a pool thread (a reactor runs the
     * handler: request.c sets it), and that open (http/static.h) once one
     * was handed over; NULL: none. */
    bool open_async;
    struct kp_http_open_task *open_task;
    /* private to the state machine (request.c, handler.c, response.c) */
    struct kp_http_out out;       /* the response being written */
    size_t head_len;              /* bytes of the request head */
    uint64_t body_left;           /* Content-Length body bytes still to drop */
    bool close;                   /* answer with Connection: close whatever was asked */
    bool linger;                  /* close lingering (the stream position may be lost) */
    bool logged;                  /* the access log has it */
    bool complete;                /* the response went out in full ($request_completion) */
    pthread_mutex_t *ran_on;      /* the handler thread's lock its cleanups take, or NULL */
    struct kp_http_request *next; /* the worker's cache of free requests */
    /* Not reset between requests: each is written whole before it is read. */
    struct sockaddr_storage real_addr; /* by realip, before addr points to it */
    struct kp_http_chunked chunked;    /* by kp_http_chunked_init, for a chunked body */
    struct kp_http_field fields[KP_HTTP_MAX_FIELDS]; /* by the parser: parser.head.fields */
};

/* The handler result: which status to answer with. A handler returns the
 * status it fully prepared in r->resp (2xx, 3xx with location, 304, 206,
 * 416 with content_range...), or an error status (403, 404, 405, 500, ...)
 * for which it prepared nothing but perhaps resp.allow: the state machine
 * then produces the error page (built-in, or error_page's URI). */
typedef int (*kp_http_handler_fn)(struct kp_http_request *r);

/* nginx's own codes a handler, `return`, the head reader or the TLS checks
 * may answer with (the state machine and the error pages, http/handler.h,
 * act on them).
 * `return 444`: close the connection without any response. */
#define KP_HTTP_CLOSE_SILENTLY 444
/* A request head that does not fit large_client_header_buffers past its
 * request line (nginx's internal 494): answered 400 with the page "Request
 * Header Or Cookie Too Large" and the connection closed; `error_page 494`
 * applies. */
#define KP_HTTP_HEADER_TOO_LARGE 494
/* Plain HTTP on an `ssl` address (nginx's internal 497): answered 400 with
 * the page "The plain HTTP request was sent to HTTPS port", unless the
 * server has an `error_page 497` (a URL: 302 or its =3xx; a URI: served
 * with 400 or its =CODE). 495 and 496 take error pages the same way. */
#define KP_HTTP_PLAIN_TO_HTTPS 497
/* ssl_verify_client (nginx's 495 and 496): answered 400 with the pages "The
 * SSL certificate error" and "No required SSL certificate was sent". */
#define KP_HTTP_SSL_CERT_ERROR 495
#define KP_HTTP_SSL_NO_CERT    496

/* Where messages about r go: the error_log lines of its location, else of
 * its server (both inherit from http), or NULL for the worker's own log
 * (main's error_log), to be written with kp_log_error_via. */
static inline const struct kp_log *kp_http_req_error_log(const struct kp_http_request *r)
{
    if (r->loc != NULL)
        return r->loc->error_log;
    return r->srv != NULL ? r->srv->loc->error_log : NULL;
}

/* Log a message about r at level, with the context nginx gives it:
 * "WHAT (ERRNO: TEXT), client: ADDR, server: NAME, request: "LINE", host:
 * "HOST"" (WHAT from fmt; no errno part when err is 0; no host part without
 * one; server is the server's first name, "" without one), into
 * kp_http_req_error_log(r). Nothing when r has no connection or the
 * level is not logged. */
void kp_http_req_log(const struct kp_http_request *r, enum kp_log_level level, int err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The client's address for everything that asks who the client is:
 * $remote_addr, allow/deny, the logs, limit zones. The connection's peer,
 * or the address the realip module put in its place; NULL for a request
 * without a connection. */
static inline const struct sockaddr_storage *kp_http_req_client(const struct kp_http_request *r)
{
    if (r->addr != NULL)
        return r->addr;
    return r->hc != NULL ? &r->hc->c->peer : NULL;
}

/* The client's address as $remote_addr has it, without the port, into buf
 * (size bytes, NUL-terminated): nginx's "client:" in the error log; a
 * unix-socket client is "unix:". */
void kp_http_req_client_text(const struct sockaddr_storage *ss, char *buf, size_t size);

#endif
