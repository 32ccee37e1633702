/* The browsers nginx treats specially, told from a User-Agent value: old
 * MSIE (gzip_disable msie6, keepalive_disable msie6) and Safari on macOS
 * (keepalive_disable safari), and the ones whose own error pages hide a
 * short one (msie_padding). Pure functions. */
#ifndef KP_HTTP_UA_H
#define KP_HTTP_UA_H

#include <stdbool.h>

#include "kelpie/util/str.h"

/* MSIE 4 to 6, 6 only without "SV1" (the update that fixed its gzip and
 * keep-alive troubles), as nginx tells them. */
bool kp_http_ua_msie6(struct kp_str ua);

/* Any MSIE: "MSIE " with at least three bytes after it, and not Opera
 * (which names MSIE too), as nginx tells it (msie_padding, msie_refresh). */
bool kp_http_ua_msie(struct kp_str ua);

/* Chrome: "Chrome/", and neither MSIE, Opera nor a "Gecko/" browser, as
 * nginx tells it (msie_padding). */
bool kp_http_ua_chrome(struct kp_str ua);

/* Safari on macOS: "Safari/" and "Mac OS X", and not Chrome (whose
 * User-Agent names Safari too), as nginx tells it. */
bool kp_http_ua_safari(struct kp_str ua);

#endif
