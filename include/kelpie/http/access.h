/* The access phase: `allow` and `deny` rules by client address. Rules are
 * checked in configuration order and the first one that matches decides;
 * when none matches the client is let in (nginx's rule). An IPv4-mapped
 * IPv6 peer (::ffff:a.b.c.d, as a dual-stack listener reports IPv4 clients)
 * is matched as the IPv4 address it carries, so IPv4 rules apply to it and
 * IPv6 rules do not. "all" (family AF_UNSPEC) matches every peer, "unix:"
 * (AF_UNIX) every peer of a UNIX-domain socket. */
#ifndef KP_ACCESS_H
#define KP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kelpie/http/conf.h"

/* What the rules say about a peer: satisfy any (http/auth.h) needs to
 * tell "no rule matched" from "allowed". */
enum kp_http_access_verdict {
    KP_HTTP_ACCESS_NO_MATCH = 0, /* no rule (or none at all) matched */
    KP_HTTP_ACCESS_ALLOW,
    KP_HTTP_ACCESS_DENY,
};

/* A peer as rules see it: its family and, for IPv4 and IPv6 (an
 * IPv4-mapped IPv6 address as the IPv4 one), its bytes (4 or 16). */
struct kp_http_access_peer {
    bool known; /* IPv4 or IPv6 */
    int family; /* AF_INET, AF_INET6, or the socket's own (AF_UNIX...) */
    uint8_t addr[16];
};

/* ss as rules see it. Pure. */
struct kp_http_access_peer kp_http_access_peer_of(const struct sockaddr_storage *ss);

/* Whether rule matches p (whatever it says about it): for the lists that
 * ask one address against many rules (geo). Pure. */
bool kp_http_access_rule_matches(const struct kp_http_acl_rule *rule,
                                 const struct kp_http_access_peer *p);

/* The first of the n rules of acl that matches peer decides. Pure; peer of
 * any family (one that is neither IPv4 nor IPv6 is matched by "all"
 * only). */
enum kp_http_access_verdict kp_http_access_check(const struct kp_http_acl_rule *acl, size_t n,
                                                 const struct sockaddr_storage *peer);

/* Whether the n rules of acl let peer in: no matching rule lets it in. */
bool kp_http_access_allowed(const struct kp_http_acl_rule *acl, size_t n,
                            const struct sockaddr_storage *peer);

/* Whether any of the n rules matches addr, whatever it says about it (the
 * set_real_ip_from list asks this). Pure. */
bool kp_http_access_match(const struct kp_http_acl_rule *acl, size_t n,
                          const struct sockaddr_storage *addr);

#endif
