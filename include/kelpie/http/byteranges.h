/* multipart/byteranges responses (RFC 9110 section 14.6) for a request that
 * asked for several ranges of a file, laid out as nginx lays them out: each
 * part is CRLF, "--BOUNDARY", its Content-Type and Content-Range, a blank
 * line and the bytes; the body ends with CRLF "--BOUNDARY--" CRLF.
 *
 * Nothing of the file is copied: the response lists its parts (a small head
 * in the request's arena, then a range of the file) and the writer sends
 * them in turn from the file, with sendfile when it is on (http/response.h).
 * Memory is the parts' heads only, at most KP_HTTP_RANGES_MAX of them. */
#ifndef KP_HTTP_BYTERANGES_H
#define KP_HTTP_BYTERANGES_H

#include <stdint.h>

#include "kelpie/http/range.h"

struct kp_http_request;

/* Make r->resp, a 200 for a file of size bytes sent from r->resp.fd with
 * the type r->resp.content_type, a 206 with the multipart/byteranges body
 * of ranges (at least two): sets the parts, the Content-Length and the
 * Content-Type with its boundary. Does no I/O. */
void kp_http_byteranges(struct kp_http_request *r, const struct kp_http_ranges *ranges,
                        uint64_t size);

#endif
