/* nginx's directive names that kelpie does not implement as behaviour:
 *
 *   - tuning knobs of nginx internals kelpie does not have (hash table sizes,
 *     memory pool sizes, the request body temp directory): accepted with
 *     their nginx syntax and checked, then ignored, so that configurations
 *     written for nginx load unchanged (README "Accepted and ignored");
 *   - directives of nginx modules kelpie does not have (proxying, FastCGI
 *     and friends, SSI, ...): refused, but named as such rather than
 *     reported like a typo (README "Not supported"). */
#ifndef KP_CONF_NGINX_H
#define KP_CONF_NGINX_H

#include <stdbool.h>

#include "kelpie/core/conf.h"

/* Directive table of the accepted-and-ignored knobs (http, server and
 * location contexts as in nginx). */
extern const struct kp_conf_cmd kp_conf_nginx_cmds[];

/* Whether name is a directive of an nginx module kelpie does not support
 * (exact names and families such as proxy_*, fastcgi_*). */
bool kp_conf_nginx_unsupported(const char *name);

#endif
