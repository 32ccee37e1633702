/* Incremental decoder for the chunked transfer coding (RFC 9112 section 7.1).
 * A pure state machine over body bytes: no I/O, no allocation. It consumes
 * framing bytes as it goes and hands back the data in place, so the caller
 * never needs to keep undecoded bytes around and can keep or drop the data.
 *
 * Strictness: every line ends with CRLF (no bare LF inside a chunked body,
 * where a lenient reading invites request smuggling); chunk extensions are
 * checked for token / quoted-string syntax and ignored; trailer fields follow
 * the header-field rules and are ignored. Typical loop:
 *
 *     while (len > 0 && !kp_http_chunked_done(&ck)) {
 *         n = kp_http_chunked_decode(&ck, p, len, &data);
 *         if (n < 0) answer ck.status;
 *         use or drop data; p += n; len -= n;
 *     }
 *     if (!kp_http_chunked_done(&ck)) read more and loop again. */
#ifndef KP_CHUNKED_H
#define KP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kelpie/util/str.h"
#include "kelpie/http/parse.h"

/* Bound on one chunk-size line (size and extensions, CRLF excluded). */
#define KP_HTTP_CHUNK_LINE_MAX 4096
/* Default bound on the trailer section, for max_trailer == 0. */
#define KP_HTTP_DEFAULT_MAX_TRAILER 8192

struct kp_http_chunked {
    uint64_t total;     /* data bytes decoded so far: the body size */
    int status;         /* on KP_PARSE_INVALID: 400, 413 or 431 */
    const char *reason; /* on KP_PARSE_INVALID: static text for the error log */
    /* private state */
    uint64_t max_body;
    uint64_t remaining; /* chunk size being read, then data bytes left */
    size_t max_trailer;
    size_t line_len; /* bytes of the current chunk-size line */
    size_t trailer_len;
    unsigned state;
};

/* Prepare ck for a new body. max_body: the largest body accepted (0: no
 * limit); a chunk whose declared size would exceed it fails with 413 as soon
 * as its size line is read. max_trailer: trailer-section bytes (0: default),
 * beyond which decoding fails with 431. */
void kp_http_chunked_init(struct kp_http_chunked *ck, uint64_t max_body, size_t max_trailer);

/* Decode from p[0 .. len). Returns the number of bytes consumed (framing and
 * data) and sets *data to the data bytes among them (in place; possibly
 * empty). At most one data slice is returned per call, so the call stops
 * right after it; it also stops at the end of the body, leaving any bytes
 * that follow (a pipelined request) unconsumed. Returns KP_PARSE_INVALID
 * with ck->status and ck->reason set on a framing error, after which the
 * connection must be closed. Never blocks. */
ssize_t kp_http_chunked_decode(struct kp_http_chunked *ck, const char *p, size_t len,
                               struct kp_str *data);

/* The last chunk, trailer section and final CRLF have been consumed. */
bool kp_http_chunked_done(const struct kp_http_chunked *ck);

#endif
