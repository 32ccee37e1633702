/* nginx's referer module: `valid_referers` (server, location) and
 * $invalid_referer, empty when the request's Referer is one of those
 * listed and "1" when it is not:
 *   none            a request without Referer is valid
 *   blocked         so is one whose Referer does not start with "http://"
 *                   or "https://" (a firewall or proxy cut it)
 *   server_names    the server's own names (server_name) are valid hosts
 *                   (its ~REGEX names are matched against the host)
 *   HOST[/PREFIX]   a host (exact, "*.example.com", ".example.com" or
 *                   "www.example.*"; caseless), and if a path follows, the
 *                   Referer's path must start with it (case-sensitive)
 *   ~REGEX          a caseless regex against the Referer without its
 *                   scheme ("www.example.com/page")
 * The host is what follows the scheme up to a '/' or ':' (the port does
 * not count). An exact host wins over a leading wildcard, which wins over
 * a trailing one (the longest wildcard of a kind); only that entry's path
 * decides, as nginx looks one entry up. A location without its own
 * valid_referers lines inherits its parent's; with none anywhere every
 * request is valid. */
#ifndef KP_HTTP_REFERER_H
#define KP_HTTP_REFERER_H

#include "kelpie/util/conf.h"
#include "kelpie/http/var.h"

struct kp_http_referer_host {
    const char *host; /* lowercase, wildcard '*' or leading '.' kept */
    size_t len;
    const char *uri; /* the path prefix; NULL: any path */
};

/* A block's valid_referers lines together. */
struct kp_http_referers {
    bool none, blocked, server_names;
    struct kp_http_referer_host *hosts;
    size_t n_hosts;
    struct kp_http_regex **regexes;
    size_t n_regexes;
};

extern const struct kp_conf_cmd kp_http_referer_conf_cmds[];
extern const struct kp_http_var_def kp_http_referer_vars[];

#endif
