/* Variables in `return` text and `try_files` arguments, nginx's spelling: "$name" or "${name}". The
 * ones a redirect or a short answer needs are known:
 *   $scheme          "http"
 *   $host            the request's host (as for server selection), else
 *                    the first server_name
 *   $server_name     the first server_name of the server that answers
 *   $server_port     the port the connection came in on
 *   $request_uri     the original target: path and query, still encoded
 *   $uri             the decoded, normalised path
 *   $args            the query, without '?'; $is_args "?" when there is one
 *   $request_method  GET, HEAD, ...
 * so that `return 301 https://$host$request_uri;` works as in nginx. Any
 * other name is a configuration error. */
#ifndef KP_EXPAND_H
#define KP_EXPAND_H

#include <stdbool.h>

#include "kelpie/core/str.h"
#include "kelpie/http/request.h"

/* Whether every variable in text is known. On false, *bad is the name that
 * is not (a slice of text; empty for a '$' without a name). */
bool kp_http_expand_check(const char *text, struct kp_str *bad);

/* text with its variables replaced for r, in r->arena. With url set (a
 * Location), bytes of values that cannot stand in a URL (controls, space,
 * 8-bit) are percent-encoded, so no value can break the header. */
struct kp_str kp_http_expand(struct kp_http_request *r, const char *text, bool url);

#endif
