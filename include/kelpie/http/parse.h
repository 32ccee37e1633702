/* Strict, incremental, zero-copy HTTP/1.1 request-head parser (RFC 9112,
 * RFC 9110 section 5). A pure function over a byte buffer: no I/O, no
 * allocation, no logging.
 *
 * Usage: the caller owns a struct kp_http_parser and an array of fields,
 * calls kp_http_parse_init() once per request, then calls
 * kp_http_parse_request() each time more bytes have arrived, always passing a
 * pointer to the FIRST byte of the request and the number of bytes available
 * from there. The parser resumes where it stopped (nothing is rescanned) and
 * keeps only offsets internally, so the caller may move or grow the buffer
 * between calls (kp_buf_compact, realloc): just pass the new pointer.
 *
 * On success the slices in parser.head point into the buffer passed on the
 * completing call. If the buffer moves after that, call
 * kp_http_parse_rebase() with the request's new first byte to repoint them.
 * Slices are NOT NUL-terminated. */
#ifndef KP_PARSE_H
#define KP_PARSE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kelpie/util/str.h"

/* Results other than a byte count (shared with the chunked decoder). */
#define KP_PARSE_INCOMPLETE ((ssize_t)-EAGAIN)  /* need more bytes */
#define KP_PARSE_INVALID    ((ssize_t)-EBADMSG) /* see head.status, head.reason */

/* Defaults used for a zero member of struct kp_http_limits. */
#define KP_HTTP_DEFAULT_MAX_LINE   8192
#define KP_HTTP_DEFAULT_MAX_HEADER 32768
/* Suggested size of the caller's field array (the field-count limit). */
#define KP_HTTP_DEFAULT_MAX_FIELDS 100
/* Empty lines tolerated before the request line (RFC 9112 section 2.2). */
#define KP_HTTP_MAX_EMPTY_LINES 8

enum kp_http_method {
    KP_HTTP_METHOD_UNKNOWN = 0, /* a valid token we do not implement: answer 501 */
    KP_HTTP_METHOD_GET,
    KP_HTTP_METHOD_HEAD,
    KP_HTTP_METHOD_POST,
    KP_HTTP_METHOD_PUT,
    KP_HTTP_METHOD_DELETE,
    KP_HTTP_METHOD_OPTIONS,
    KP_HTTP_METHOD_TRACE,
    KP_HTTP_METHOD_CONNECT,
    KP_HTTP_METHOD_PATCH,
};

/* RFC 9112 section 3.2. */
enum kp_http_target_form {
    KP_HTTP_TARGET_ORIGIN,    /* /path?query */
    KP_HTTP_TARGET_ABSOLUTE,  /* http://host[:port]/path?query */
    KP_HTTP_TARGET_AUTHORITY, /* host:port, CONNECT only */
    KP_HTTP_TARGET_ASTERISK,  /* *, OPTIONS only */
};

enum kp_http_body {
    KP_HTTP_BODY_NONE,    /* no body (also Content-Length: 0) */
    KP_HTTP_BODY_LENGTH,  /* content_length bytes, always > 0 */
    KP_HTTP_BODY_CHUNKED, /* decode with kelpie/http/chunked.h */
};

/* Header fields recognised while parsing, so that later layers need not
 * search. Singletons (Host, If-Modified-Since, If-Unmodified-Since, If-Range,
 * Range, User-Agent, Referer) may appear once, a second line is a 400. The
 * list fields (Connection, Content-Length, Transfer-Encoding, If-Match,
 * If-None-Match, Expect) may span several lines: iterate head.fields by id. */
enum kp_http_hdr {
    KP_HTTP_HDR_HOST,
    KP_HTTP_HDR_CONNECTION,
    KP_HTTP_HDR_CONTENT_LENGTH,
    KP_HTTP_HDR_TRANSFER_ENCODING,
    KP_HTTP_HDR_IF_MATCH,
    KP_HTTP_HDR_IF_NONE_MATCH,
    KP_HTTP_HDR_IF_MODIFIED_SINCE,
    KP_HTTP_HDR_IF_UNMODIFIED_SINCE,
    KP_HTTP_HDR_IF_RANGE,
    KP_HTTP_HDR_RANGE,
    KP_HTTP_HDR_USER_AGENT,
    KP_HTTP_HDR_REFERER,
    KP_HTTP_HDR_EXPECT,
    KP_HTTP_HDR_AUTHORIZATION, /* one only: two sets of credentials are ambiguous (nginx: 400) */
    KP_HTTP_HDR_COUNT,         /* number of recognised fields */
    KP_HTTP_HDR_OTHER = KP_HTTP_HDR_COUNT, /* any other field */
};

/* Bits of kp_http_head.connection: tokens of the Connection field. */
#define KP_HTTP_CONN_CLOSE      0x1u
#define KP_HTTP_CONN_KEEP_ALIVE 0x2u
#define KP_HTTP_CONN_UPGRADE    0x4u

struct kp_http_field {
    struct kp_str name;  /* as sent (compare case-insensitively) */
    struct kp_str value; /* OWS-trimmed, may be empty */
    enum kp_http_hdr id;
    size_t name_off; /* private: offsets from the request start (rebase) */
    size_t value_off;
};

/* Limits and field-name rules. Zero members take the KP_HTTP_DEFAULT_*
 * values, and nginx's defaults for the name rules.
 *
 * Field names: a valid name is letters, digits and '-' (and '_' with
 * underscores), nginx's rule. A name with any other visible byte is
 * invalid: its line is dropped -- not stored, not counted against the
 * field array, reported through dropped -- unless keep_invalid is set,
 * then it is stored like any other (never as a recognised field).
 * Whitespace or a control byte in a name is always a 400. */
struct kp_http_limits {
    size_t max_line; /* line bytes, line ending excluded: request line -> 414, field line -> 400 */
    size_t max_header; /* field-section bytes incl. line endings and final empty line -> 494 */
    bool underscores;  /* nginx's underscores_in_headers on */
    bool keep_invalid; /* nginx's ignore_invalid_headers off */
    /* Called for each dropped line (may be NULL) with the whole line, CRLF
     * excluded; the slice is valid during the call only. */
    void (*dropped)(void *arg, struct kp_str line);
    void *dropped_arg;
};

/* The parsed request head. Valid after kp_http_parse_request() returned a
 * byte count, except status/reason/must_close which are set on
 * KP_PARSE_INVALID. */
struct kp_http_head {
    enum kp_http_method method;
    struct kp_str method_name;  /* the token as sent (case-sensitive) */
    struct kp_str request_line; /* whole line without its ending, for logs */
    enum kp_http_target_form form;
    struct kp_str target; /* the raw request-target */
    /* abs-path ["?" query] of an origin- or absolute-form target, still
     * percent-encoded (feed it to kp_http_uri_normalize). Besides the RFC
     * 3986 characters it may hold [ ] \ ^ ` { | } and 8-bit bytes, which
     * clients send raw, and a stray '%' in the query; never space, '"',
     * '<', '>', '#' or controls. Empty for the
     * authority and asterisk forms; may be empty or start with '?' for an
     * absolute-form target without a path, which means "/". */
    struct kp_str path;
    /* When above 0: path[0..plain_len) is the whole path (a '?' or the end
     * follows), starts with '/' and has no escape and no segment that is
     * empty or starts with a dot, so kp_http_uri_normalize would copy it as
     * it is. */
    size_t plain_len;
    /* The host the request is for, without port: from an absolute- or
     * authority-form target (which overrides Host, RFC 9112 section 3.2.2),
     * else from the Host field. Validated uri-host, original case; IPv6
     * literals keep their brackets. Empty when absent (HTTP/1.0) or empty. */
    struct kp_str host;
    struct kp_str port;           /* digits after host's ':', may be empty */
    unsigned version;             /* 10 for HTTP/1.0, 11 for HTTP/1.1 */
    struct kp_http_field *fields; /* the caller's array, nfields used */
    size_t nfields;
    int known[KP_HTTP_HDR_COUNT]; /* index into fields of first line, or -1 */
    unsigned connection;          /* KP_HTTP_CONN_* */
    bool expect_continue;         /* "Expect: 100-continue" in HTTP/1.1 */
    bool expect_unknown;          /* some other expectation (417 allowed) */
    enum kp_http_body body;
    uint64_t content_length; /* for KP_HTTP_BODY_LENGTH */
    /* On success: the connection is not persistent (RFC 9112 section 9.3).
     * After KP_PARSE_INVALID it is always true: the stream position is lost,
     * so close after answering. */
    bool must_close;
    int status; /* on KP_PARSE_INVALID: 400, 414, 494 (nginx's internal code: a 400 with its own
                   page), 501 or 505 */
    const char *reason; /* on KP_PARSE_INVALID: static text for the error log */
};

struct kp_http_parser {
    struct kp_http_head head; /* the output */
    /* private state */
    struct kp_http_limits lim;
    size_t fields_cap;
    size_t pos;          /* next byte to scan */
    size_t line_start;   /* first byte of the current line */
    size_t fields_start; /* first byte after the request line */
    unsigned phase;
    unsigned empty_lines;
    ssize_t result; /* final result, repeated if called again */
    size_t line_off, method_off, target_off, path_off, host_off, port_off;
    unsigned te_codings; /* Transfer-Encoding: codings seen */
    unsigned te_chunked; /* how many of them were chunked */
    bool te_last_chunked;
    bool te_unknown;
};

/* Prepare ps for a new request. lim may be NULL (defaults). fields is the
 * caller's array of nfields entries, which is also the field-count limit
 * (494 beyond it); it must outlive the use of ps->head. */
void kp_http_parse_init(struct kp_http_parser *ps, const struct kp_http_limits *lim,
                        struct kp_http_field *fields, size_t nfields);

/* Parse a request head from p[0 .. len), where p is the request's first byte
 * and len grows (or stays) from call to call. Returns the number of bytes the
 * head occupies (leading empty lines, request line, fields, empty line) once
 * it is complete; the body, if any, starts there. Returns
 * KP_PARSE_INCOMPLETE when more bytes are needed, or KP_PARSE_INVALID with
 * ps->head.status and ps->head.reason set. Errors are reported as soon as
 * the bytes seen prove them (a limit is exceeded before the line ends).
 * After a final result, further calls return the same result. Never blocks. */
ssize_t kp_http_parse_request(struct kp_http_parser *ps, const char *p, size_t len);

/* Repoint every slice in ps->head (fields included) at a buffer where the
 * request's first byte now lives at p. Meant for after a successful parse;
 * also allowed after KP_PARSE_INCOMPLETE or KP_PARSE_INVALID, e.g. to log a
 * rejected request: then only what was parsed so far is set (the request
 * line once it was complete, the fields accepted so far), the rest is
 * empty, and every slice lies within the bytes already passed in. */
void kp_http_parse_rebase(struct kp_http_parser *ps, const char *p);

/* The value of the first line of a recognised field, or NULL if absent. */
const struct kp_str *kp_http_parse_value(const struct kp_http_head *h, enum kp_http_hdr id);

/* RFC 9110 section 5.6.2 token character. */
bool kp_http_parse_is_tchar(unsigned char c);
/* RFC 9110 section 5.5 field-vchar (VCHAR or obs-text); SP/HTAB excluded. */
bool kp_http_parse_is_vchar(unsigned char c);

#endif
