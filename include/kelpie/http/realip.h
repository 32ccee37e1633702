/* The realip module: behind a proxy or load balancer, take the client's
 * address from what the proxy says, as nginx's ngx_http_realip_module.
 *
 *   set_real_ip_from ADDR | CIDR | unix:;   trusted peers (repeatable)
 *   real_ip_header X-Real-IP | X-Forwarded-For | proxy_protocol | FIELD;
 *   real_ip_recursive on | off;
 *
 * All three in http, server and location. Once per request, in nginx's two
 * places: right after the request's head, by the server level's settings
 * (so the server's rewrite directives see the client); else, when those
 * found nothing, at the preaccess phase of the location the rewrite phase
 * ended in, by its settings (a location's own `return` still sees the
 * peer, as in nginx). When
 * the connection's peer is trusted, the address found replaces the
 * client's for $remote_addr/$remote_port, allow/deny, the access and error
 * logs and limit zones (kp_http_req_client() in req.h), while
 * $realip_remote_addr/$realip_remote_port keep the peer's.
 *
 * Walking a header value (nginx's rules): the last address of the list
 * (items separated by spaces and commas, "ADDR", "ADDR:PORT" or
 * "[IPV6]:PORT") is the client. With real_ip_recursive on, while that
 * address is trusted too, the one before it is taken instead; the walk
 * stops at the first untrusted address, or keeps the last good one at an
 * item that is not an address. X-Forwarded-For's lines are one list; any
 * other field's first line is used. A port found in the header becomes
 * $remote_port (none: $remote_port is empty); proxy_protocol gives the
 * header's source port. */
#ifndef KP_HTTP_REALIP_H
#define KP_HTTP_REALIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/http/conf.h"

struct kp_http_request;

/* The three directives; fields in struct kp_http_loc_conf.realip. */
extern const struct kp_conf_cmd kp_http_realip_conf_cmds[];

/* Replace r's client address as the settings conf (a server level's or a
 * location's) say (see above). Does nothing when set_real_ip_from is not
 * set, the peer is not trusted, or no address is found; and nothing once an
 * address replaced the client's for this request. */
void kp_http_realip_apply(struct kp_http_request *r, const struct kp_http_loc_conf *conf);

/* The walk of one header value (see above), pure: peer is the connection's
 * address, from the n trusted rules. Returns true with the address found
 * in *out (its port 0 when the item had none), false when none replaces
 * peer. */
bool kp_http_realip_walk(struct kp_str value, const struct sockaddr_storage *peer,
                         const struct kp_http_acl_rule *from, size_t n, bool recursive,
                         struct sockaddr_storage *out);

#endif
