/* `map SOURCE $name { ... }` (http context), nginx's: $name takes the value
 * of the first entry SOURCE (text with variables) matches, in this order:
 *   an exact key (compared ignoring case);
 *   with `hostnames`: the longest "*.example.com" / ".example.com" key,
 *   then the longest "mail.*" key, as kelpie/http/hostmatch.h matches them
 *   (one trailing dot of the source ignored);
 *   the first matching regex key, "~RE" or "~*RE" (caseless), in config
 *   order; its captures may be used in the value;
 *   `default VALUE` (else empty).
 * A key that conflicts with an earlier one (the same key in any case; with
 * `hostnames`, what hostmatch.h calls a conflict, such as "*.x" and ".x")
 * is an error, as in nginx. Values may hold variables. A key spelled like a
 * parameter (default, hostnames, volatile) is written with a leading '\'.
 * The value is computed the first time $name is used in a request and kept
 * for the request, unless the map is `volatile`. */
#ifndef KP_HTTP_MAP_H
#define KP_HTTP_MAP_H

#include "kelpie/util/conf.h"

/* The `map` block directive (conf: unused). */
int kp_http_map_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);

#endif
