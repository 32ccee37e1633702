/* HTTP status codes: reason phrases (RFC 9110 section 15), the precomputed
 * status lines the response serialiser copies, and the small built-in HTML
 * pages sent for errors and redirects that have no body of their own. All
 * strings are static and NUL-terminated. */
#ifndef KP_STATUS_H
#define KP_STATUS_H

#include <stdbool.h>

#include "kelpie/util/str.h"

/* server_tokens: "Server: kelpie"; "Server: kelpie/VERSION"; that and
 * " (NAME)" when built with ./configure --build=NAME (else as on), as
 * nginx's build. */
enum { KP_HTTP_TOKENS_OFF, KP_HTTP_TOKENS_ON, KP_HTTP_TOKENS_BUILD };

/* The reason phrase of a registered code ("Not Found"), or NULL. */
const char *kp_http_status_reason(int code);

/* The whole status line with its CRLF ("HTTP/1.1 404 Not Found\r\n") for a
 * registered code, or an empty slice (the caller formats "HTTP/1.1 NNN \r\n",
 * an empty reason being valid, RFC 9112 section 4). */
struct kp_str kp_http_status_line(int code);

/* The built-in page for a registered 3xx, 4xx or 5xx code, laid out as
 * nginx's (CRLF line ends), its last line naming the server as
 * server_tokens (KP_HTTP_TOKENS_* above) has it:
 *   <html>
 *   <head><title>404 Not Found</title></head>
 *   <body>
 *   <center><h1>404 Not Found</h1></center>
 *   <hr><center>kelpie/VERSION</center>
 *   </body>
 *   </html>
 * sent as text/html. nginx's internal codes 494-497 (req.h) have the
 * page of their 400, titled with their own text, which is also a line of
 * its own. Empty for other codes, and for those nginx sends without a body
 * (300, 305, 407, 417, 422, 426, 428, 431). */
struct kp_str kp_http_status_page(int code, unsigned server_tokens);

/* Codes whose responses never carry content (RFC 9110 sections 6.4.1,
 * 15.3.5 and 15.4.5): 1xx, 204 and 304. */
bool kp_http_status_no_body(int code);

#endif
