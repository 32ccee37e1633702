/* allow / deny by client address (see access.h). */
#include "kelpie/http/access.h"

#include <netinet/in.h>
#include <string.h>

/* The peer as a family and its address bytes (4 or 16). Returns false for
 * a family that no address rule can match. */
static bool peer_addr(const struct sockaddr_storage *peer, int *family, uint8_t addr[16])
{
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)peer;
        *family = AF_INET;
        memcpy(addr, &sin->sin_addr, 4);
        return true;
    }
    if (peer->ss_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)peer;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        /* RFC 4291 section 2.5.5.2: the IPv4 address is the low 32 bits. */
        *family = AF_INET;
        memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
        return true;
    }
    *family = AF_INET6;
    memcpy(addr, &sin6->sin6_addr, 16);
    return true;
}

struct kp_http_access_peer kp_http_access_peer_of(const struct sockaddr_storage *ss)
{
    struct kp_http_access_peer p = {.family = ss->ss_family};

    p.known = peer_addr(ss, &p.family, p.addr);
    return p;
}

bool kp_http_access_rule_matches(const struct kp_http_acl_rule *rule,
                                 const struct kp_http_access_peer *p)
{
    int family = p->family;
    const uint8_t *addr = p->addr;

    if (rule->family == AF_UNSPEC)
        return true;
    if (rule->family == AF_UNIX)
        return family == AF_UNIX;
    if (!p->known || rule->family != family)
        return false;
    size_t len = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < len; i++) {
        /* The rule's address is stored already masked (conf_block.c). */
        if ((addr[i] & rule->mask[i]) != rule->addr[i])
            return false;
    }
    return true;
}

enum kp_http_access_verdict kp_http_access_check(const struct kp_http_acl_rule *acl, size_t n,
                                                 const struct sockaddr_storage *peer)
{
    struct kp_http_access_peer p = kp_http_access_peer_of(peer);

    for (size_t i = 0; i < n; i++) {
        if (kp_http_access_rule_matches(&acl[i], &p))
            return acl[i].allow ? KP_HTTP_ACCESS_ALLOW : KP_HTTP_ACCESS_DENY;
    }
    return KP_HTTP_ACCESS_NO_MATCH;
}

bool kp_http_access_allowed(const struct kp_http_acl_rule *acl, size_t n,
                            const struct sockaddr_storage *peer)
{
    return kp_http_access_check(acl, n, peer) != KP_HTTP_ACCESS_DENY;
}

bool kp_http_access_match(const struct kp_http_acl_rule *acl, size_t n,
                          const struct sockaddr_storage *addr)
{
    return kp_http_access_check(acl, n, addr) != KP_HTTP_ACCESS_NO_MATCH;
}
