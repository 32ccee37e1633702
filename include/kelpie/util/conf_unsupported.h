/* Directives of nginx modules kelpie does not have (proxying, FastCGI and
 * friends, SSI, ...): the parser refuses them, but names them as such
 * rather than reporting a typo (README "Not supported"). */
#ifndef KP_CONF_UNSUPPORTED_H
#define KP_CONF_UNSUPPORTED_H

#include <stdbool.h>

/* Whether name (NUL-terminated) is a directive of an nginx module kelpie
 * does not support: an exact name or one of a family such as proxy_*. */
bool kp_conf_unsupported_is(const char *name);

#endif
