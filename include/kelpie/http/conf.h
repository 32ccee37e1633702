/* The http { } block: server { } and location { } blocks, their directives,
 * and inheritance (http -> server -> location) into the structs of
 * core/cycle.h.
 *
 * After loading, each struct kp_http_srv_conf has:
 *   loc        the server-level settings, merged with the http level;
 *   locations  every location merged with the server level, in this order:
 *              first the exact ("location = /p") ones sorted by strcmp, then
 *              the prefix ones from the longest path to the shortest (ties by
 *              strcmp). So the first location that matches a path is the one
 *              nginx would choose: an exact match, else the longest prefix.
 *   listens    at least one (0.0.0.0:80, or :8000 when not started as root). */
#ifndef KP_HTTP_CONF_H
#define KP_HTTP_CONF_H

#include <stddef.h>

#include "kelpie/core/conf.h"

#define KP_HTTP_MAX_LOG_FORMATS 64    /* "combined" included */
#define KP_HTTP_BACKLOG         511   /* listen backlog unless backlog=N */
#define KP_HTTP_LOG_BUFFER      65536 /* access_log buffer when only flush= is given */

/* Directive table: `http` (main context) and everything inside it. */
extern const struct kp_conf_cmd kp_http_conf_cmds[];

/* The settings for a request path of len bytes (need not be NUL-terminated):
 * the exact location, else the longest matching prefix location, else the
 * server level (srv->loc). Never NULL. */
const struct kp_http_loc_conf *kp_http_conf_find_location(const struct kp_http_srv_conf *srv,
                                                          const char *path, size_t len);

#endif
