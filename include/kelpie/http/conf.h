/* The http { } block: server { } and location { } blocks, their directives,
 * and inheritance (http -> server -> location) into the structs of
 * proc/cycle.h.
 *
 * After loading, each struct kp_http_srv_conf has:
 *   loc        the server-level settings, merged with the http level;
 *   locations  every location merged with the server level, in the order
 *              kp_http_location_find searches them (http/location.h).
 *   listens    at least one (0.0.0.0:80, or :8000 when not started as root). */
#ifndef KP_HTTP_CONF_H
#define KP_HTTP_CONF_H

#include <stddef.h>

#include "kelpie/util/conf.h"

#define KP_HTTP_MAX_LOG_FORMATS 64    /* "combined" included */
#define KP_HTTP_BACKLOG         511   /* listen backlog unless backlog=N */
#define KP_HTTP_LOG_BUFFER      65536 /* access_log buffer when only flush= is given */

/* Directive table: `http` (main context) and everything inside it. */
extern const struct kp_conf_cmd kp_http_conf_cmds[];

#endif
