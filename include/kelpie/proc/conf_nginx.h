/* Tuning knobs of nginx internals kelpie does not have (hash table sizes,
 * memory pool sizes, the request body temp directory): accepted with their
 * nginx syntax and checked, then ignored, so that configurations written for
 * nginx load unchanged (README "Accepted and ignored"). The directives of
 * nginx modules kelpie lacks are named in util/conf_unsupported.h. */
#ifndef KP_CONF_NGINX_H
#define KP_CONF_NGINX_H

#include "kelpie/util/conf.h"

/* Directive table of the accepted-and-ignored knobs (http, server and
 * location contexts as in nginx). */
extern const struct kp_conf_cmd kp_conf_nginx_cmds[];

#endif
