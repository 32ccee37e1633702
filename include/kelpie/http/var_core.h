/* The core table of built-in variables: those of HTTP itself (the request,
 * the connection, the response, the clock), which the process top lists
 * first among the registry's tables (http/var.h). It stands above the
 * registry and the modules whose state it reports (auth, static, router). */
#ifndef KP_HTTP_VAR_CORE_H
#define KP_HTTP_VAR_CORE_H

#include "kelpie/util/str.h"
#include "kelpie/http/var.h"

struct kp_http_request;

/* The core table: the variables of HTTP itself. */
extern const struct kp_http_var_def kp_http_var_core_vars[];

/* What nginx puts before a Location that starts with '/' when
 * absolute_redirect is on: "http://" or "https://", the host (the first
 * server_name with server_name_in_redirect on, else the Host without its
 * port, else the address the connection came in on) and ":PORT" of that
 * address with port_in_redirect on unless it is 80 (443 with TLS). In
 * r->arena; empty when r has no connection. */
struct kp_str kp_http_var_core_redirect_origin(struct kp_http_request *r);

#endif
