/* nginx's `charset` and `charset_types`: the charset named by `charset` is
 * added to the Content-Type of responses whose type is in charset_types
 * ("text/html" becomes "text/html; charset=utf-8"). kelpie converts nothing:
 * the name only declares what the files already are, which is all nginx
 * does without source_charset. */
#ifndef KP_HTTP_CHARSET_H
#define KP_HTTP_CHARSET_H

#include <stdbool.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/str.h"

struct kp_http_request;
struct kp_http_loc_conf;

/* `charset NAME|off` into the location's charset (NULL for off). */
int kp_http_charset_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
/* `charset_types TYPE...` ("*": every type) into charset_types. */
int kp_http_charset_conf_types(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf);
/* The default charset_types, nginx's list, for a location's defaults. */
void kp_http_charset_defaults(struct kp_arena *a, char ***types, size_t *n);

/* Add "; charset=NAME" to r->resp.content_type when r->loc has a charset,
 * the type (without parameters) is one of its charset_types and no charset
 * is there yet, unless the status is 301 or 302 (as nginx). The new value
 * lives in r->arena. */
void kp_http_charset_apply(struct kp_http_request *r);

/* Whether a response of type (no parameters) under loc is labelled
 * "charset=utf-8" by kp_http_charset_apply (the autoindex page measures
 * names in characters then, as nginx does). */
bool kp_http_charset_is_utf8(const struct kp_http_loc_conf *loc, struct kp_str type);

#endif
