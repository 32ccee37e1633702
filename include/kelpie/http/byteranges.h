/* multipart/byteranges bodies (RFC 9110 section 14.6) for a request that
 * asked for several ranges of a file, laid out as nginx lays them out: each
 * part is CRLF, "--BOUNDARY", its Content-Type and Content-Range, a blank
 * line and the bytes; the body ends with CRLF "--BOUNDARY--" CRLF.
 *
 * The body is built in the request's arena, with the parts' bytes read from
 * the file now, so it is bounded: a body over KP_HTTP_BYTERANGES_MAX is not
 * built (the caller sends the whole file, as RFC 9110 section 14.2
 * permits). The ranges' sum never exceeds the file (http/range.h), so
 * that bound is about the file's size plus the part headers. */
#ifndef KP_HTTP_BYTERANGES_H
#define KP_HTTP_BYTERANGES_H

#include <stdint.h>

#include "kelpie/http/range.h"

#define KP_HTTP_BYTERANGES_MAX (4u << 20) /* largest multipart body built */

struct kp_http_request;

/* Make r->resp a 206 with the multipart/byteranges body of the ranges of fd
 * (size bytes, the type r->resp.content_type): sets the body, the
 * Content-Type with its boundary, drops the file body (resp.fd = -1; the
 * caller still owns fd). Returns 0, -EFBIG (the body would be larger than
 * KP_HTTP_BYTERANGES_MAX) or -errno when reading fd failed or came up short
 * (logged), without touching r->resp. May block reading the file. */
int kp_http_byteranges(struct kp_http_request *r, int fd, const struct kp_http_ranges *ranges,
                       uint64_t size);

#endif
