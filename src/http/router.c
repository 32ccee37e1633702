/* Server selection by Host. Linear over the address's servers and their
 * names: configurations have a handful, and a single server (the benchmark
 * case) never looks at the name at all. A name that matches is checked
 * against the names before it (kept()) only when it would win. */
#include "kelpie/http/router.h"

#include <stdint.h>

#include "kelpie/http/hostmatch.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"

struct kp_str kp_http_router_host(struct kp_str host)
{
    /* The last ':' starts a port unless it is inside an IPv6 literal. */
    for (size_t i = host.len; i-- > 0;) {
        if (host.p[i] == ']')
            break;
        if (host.p[i] == ':') {
            host.len = i;
            break;
        }
    }
    if (host.len > 1 && host.p[host.len - 1] == '.')
        host.len--;
    return host;
}

/* Whether server_name p, the j-th name of the address's i-th server, is in
 * nginx's hash of the address: it is not when an earlier name there took
 * what p would (nginx warns "conflicting server name" and drops it). */
static bool kept(const struct kp_http_addr *addr, size_t i, size_t j,
                 const struct kp_http_hostmatch *p)
{
    struct kp_http_hostmatch_taken t = {false, false, false};

    for (size_t s = 0; s <= i; s++) {
        const struct kp_http_srv_conf *srv = addr->servers[s];
        kp_http_hostmatch_take_names(&t, p, srv->server_names, s < i ? srv->n_server_names : j);
    }
    return kp_http_hostmatch_free(&t, p);
}

/* The server whose server_name matches host best (hostmatch.h), or NULL. */
static const struct kp_http_srv_conf *by_name(const struct kp_http_addr *addr, struct kp_str host)
{
    const struct kp_http_srv_conf *best = NULL;
    size_t best_rank = 0;
    bool took_host = false; /* a name so far took host itself */

    for (size_t i = 0; i < addr->n_servers; i++) {
        const struct kp_http_srv_conf *srv = addr->servers[i];
        for (size_t j = 0; j < srv->n_server_names; j++) {
            struct kp_http_hostmatch p;
            size_t rank = kp_http_hostmatch_rank_name(srv->server_names[j], host, &p);
            if (rank == 0)
                continue;
            /* An exact name is in the list unless a name that matched
             * before took the host: the others need not be looked at. */
            if (rank == SIZE_MAX && !took_host)
                return srv;
            if (rank == SIZE_MAX)
                continue;
            took_host |= kp_http_hostmatch_took_host(&p, host);
            if (rank > best_rank && kept(addr, i, j, &p)) {
                best = srv;
                best_rank = rank;
            }
        }
    }
    return best;
}

/* The first server with a ~REGEX name matching host (lowercased: copied
 * into r's arena, or a stack buffer without r). */
static const struct kp_http_srv_conf *by_regex(const struct kp_http_addr *addr, struct kp_str host,
                                               struct kp_http_request *r)
{
    char small[256];
    char *low = r != NULL ? kp_arena_alloc(&r->arena, host.len + 1) : small;

    if (r == NULL && host.len >= sizeof(small))
        return NULL;
    for (size_t i = 0; i < host.len; i++)
        low[i] = kp_str_lower(host.p[i]);
    low[host.len] = '\0';
    for (size_t i = 0; i < addr->n_servers; i++) {
        const struct kp_http_srv_conf *srv = addr->servers[i];
        for (size_t j = 0; j < srv->n_name_regexes; j++) {
            if (kp_http_regex_exec(r, srv->name_regexes[j], (struct kp_str){low, host.len}) == 1)
                return srv;
        }
    }
    return NULL;
}

/* The server for a request without a host: the first whose names include
 * the empty one (`server_name ""`, or no server_name at all, which nginx
 * takes as ""), else the default server. */
static const struct kp_http_srv_conf *by_empty_name(const struct kp_http_addr *addr)
{
    for (size_t i = 0; i < addr->n_servers; i++) {
        const struct kp_http_srv_conf *srv = addr->servers[i];
        if (srv->n_server_names == 0 && srv->n_name_regexes == 0)
            return srv;
        for (size_t j = 0; j < srv->n_server_names; j++) {
            if (srv->server_names[j][0] == '\0')
                return srv;
        }
    }
    return addr->default_server;
}

const struct kp_http_srv_conf *kp_http_router_server(const struct kp_http_addr *addr,
                                                     struct kp_str host, struct kp_http_request *r)
{
    /* One server without regex names: nothing to choose (the benchmark case). */
    if (addr->n_servers <= 1 && addr->default_server->n_name_regexes == 0)
        return addr->default_server;
    if (host.len == 0)
        return by_empty_name(addr);
    host = kp_http_router_host(host);
    const struct kp_http_srv_conf *best = by_name(addr, host);
    if (best == NULL)
        best = by_regex(addr, host, r);
    return best != NULL ? best : addr->default_server;
}
