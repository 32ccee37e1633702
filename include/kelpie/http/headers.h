/* `add_header NAME VALUE [always]` and `expires`, nginx's way: the fields a
 * location adds to its responses. Without `always`, and for `expires`,
 * only responses with status 200, 201, 204, 206, 301, 302, 303, 304, 307
 * or 308 get them. A block with its own add_header lines does not inherit
 * the enclosing block's (and likewise for expires).
 *
 *   expires TIME     Expires: now + TIME, Cache-Control: max-age=SECONDS
 *   expires -TIME    Expires: now - TIME, Cache-Control: no-cache
 *   expires epoch    Expires: Thu, 01 Jan 1970 00:00:01 GMT, Cache-Control: no-cache
 *   expires max      Expires: Thu, 31 Dec 2037 23:55:55 GMT,
 *                    Cache-Control: max-age=315360000
 *   expires off      nothing (the default)
 *   expires @TIME    Expires: the next TIME of day (local time, below 24h),
 *                    Cache-Control: max-age=SECONDS until then
 *   expires modified TIME
 *                    Expires: the file's modification time + TIME,
 *                    Cache-Control: max-age until then (no-cache once past)
 *   expires $VAR     the value of the variables, one of the above but
 *                    `modified` (an invalid value is logged, nothing sent)
 *
 * add_header values may hold variables. A name that is not an HTTP token,
 * a value with control characters, and Content-Length or Transfer-Encoding
 * (a second copy would make the framing ambiguous) are configuration
 * errors; any other field kelpie writes itself (Content-Type, Server, ...)
 * gets a second line after kelpie's own, as from nginx. An empty value adds
 * nothing, as in nginx. */
#ifndef KP_HEADERS_H
#define KP_HEADERS_H

#include "kelpie/util/conf.h"
#include "kelpie/http/req.h"

/* Fields add_header replaces rather than adds (bits of add_headers_own). */
#define KP_HTTP_ADD_ETAG          (1u << 0)
#define KP_HTTP_ADD_LAST_MODIFIED (1u << 1)

/* Directive handlers (struct kp_conf_cmd) for add_header and expires; conf
 * is the block's struct kp_http_loc_conf. */
int kp_http_headers_conf_add(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
int kp_http_headers_conf_expires(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

/* The expires kind that applies to r's response (*seconds: its time):
 * r->loc's, or for `expires $VAR` the value parsed now (KP_EXPIRES_OFF
 * when it is not valid, logged). */
enum kp_http_expires kp_http_headers_expires(struct kp_http_request *r, int64_t *seconds);

/* Append r->loc's fields for the final r->resp.status (and the time now, in
 * seconds) to r->resp.extra, and make a Location that is a path absolute
 * when r->loc's absolute_redirect is on (http/var.h). */
void kp_http_headers_apply(struct kp_http_request *r, time_t now);

#endif
