/* The browsers nginx treats specially, told from a User-Agent value: old
 * MSIE (gzip_disable msie6, keepalive_disable msie6) and Safari on macOS
 * (keepalive_disable safari). Pure functions. */
#ifndef KP_HTTP_UA_H
#define KP_HTTP_UA_H

#include <stdbool.h>

#include "kelpie/util/str.h"

/* MSIE 4 to 6, 6 only without "SV1" (the update that fixed its gzip and
 * keep-alive troubles), as nginx tells them. */
bool kp_http_ua_msie6(struct kp_str ua);

/* Safari on macOS: "Safari/" and "Mac OS X", and not Chrome (whose
 * User-Agent names Safari too), as nginx tells it. */
bool kp_http_ua_safari(struct kp_str ua);

#endif
