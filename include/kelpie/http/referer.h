/* nginx's referer module: `valid_referers` (server, location) and
 * $invalid_referer, empty when the request's Referer is one of those
 * listed and "1" when it is not:
 *   none            a request without Referer is valid
 *   blocked         so is one whose Referer does not start with "http://"
 *                   or "https://" (a firewall or proxy cut it)
 *   server_names    the server's own names (server_name) are valid hosts
 *                   (its ~REGEX names are matched against the host)
 *   HOST[/PREFIX]   a host (exact, "*.example.com", ".example.com" or
 *                   "www.example.*", as kelpie/http/hostmatch.h matches
 *                   them), and if a path follows, the Referer's path must
 *                   start with it (case-sensitive)
 *   ~REGEX          a caseless regex against the Referer without its
 *                   scheme ("www.example.com/page")
 * The host is what follows the scheme up to a '/' or ':' (the port does
 * not count; a trailing dot does). The block's hosts and then the server's
 * names form one list, searched as hostmatch.h says: only the entry that
 * names the host best has its path looked at, as nginx looks one entry up.
 * A host conflicting with an earlier one of the block is refused
 * ("conflicting parameter"); a server name that conflicts is left out (nginx
 * refuses the configuration). A location without its own valid_referers
 * lines inherits its parent's; with none anywhere every request is valid. */
#ifndef KP_HTTP_REFERER_H
#define KP_HTTP_REFERER_H

#include "kelpie/util/conf.h"
#include "kelpie/http/hostmatch.h"
#include "kelpie/http/var.h"

/* A block's valid_referers lines together. */
struct kp_http_referers {
    bool none, blocked, server_names;
    struct kp_http_hostmatch *hosts; /* data: the path prefix (char *), NULL: any path */
    size_t n_hosts;
    struct kp_http_regex **regexes;
    size_t n_regexes;
};

extern const struct kp_conf_cmd kp_http_referer_conf_cmds[];
extern const struct kp_http_var_def kp_http_referer_vars[];

#endif
