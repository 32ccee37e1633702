/* Server selection by Host. Linear over the address's servers and their
 * names: configurations have a handful, and a single server (the benchmark
 * case) never looks at the name at all. */
#include "kelpie/http/router.h"

#include <string.h>

#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"

/* Case-insensitive: does host end with the lowercase suffix s? */
static bool ends_with(struct kp_str host, const char *s, size_t n)
{
    if (host.len < n)
        return false;
    const char *p = host.p + host.len - n;
    for (size_t i = 0; i < n; i++) {
        if (kp_str_lower(p[i]) != s[i])
            return false;
    }
    return true;
}

/* Case-insensitive: does host start with the lowercase prefix s? */
static bool starts_with(struct kp_str host, const char *s, size_t n)
{
    return host.len >= n && ends_with((struct kp_str){host.p, n}, s, n);
}

bool kp_http_router_match(const char *name, struct kp_str host)
{
    size_t n = strlen(name);

    if (n > 2 && name[n - 1] == '*' && name[n - 2] == '.')
        return host.len > n - 1 && starts_with(host, name, n - 1);
    if (name[0] == '*' && name[1] == '.')
        return host.len > n - 1 && ends_with(host, name + 1, n - 1);
    if (name[0] == '.') {
        /* ".example.com": the domain itself, or anything under it */
        if (host.len == n - 1 && ends_with(host, name + 1, n - 1))
            return true;
        return host.len > n && ends_with(host, name, n);
    }
    return host.len == n && ends_with(host, name, n);
}

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

/* How a name ranks when several match (nginx's order): 0 exact, 1 a
 * leading wildcard ("*.example.com", ".example.com"), 2 a trailing one
 * ("mail.*"); among wildcards of one kind the longest wins. */
static int wildcard_kind(const char *name)
{
    size_t n = strlen(name);

    if (name[0] == '.' || (name[0] == '*' && name[1] == '.'))
        return 1;
    return n > 2 && name[n - 1] == '*' && name[n - 2] == '.' ? 2 : 0;
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
    const struct kp_http_srv_conf *best = NULL;
    size_t best_len = 0;
    int best_kind = 3;

    /* One server without regex names: nothing to choose (the benchmark case). */
    if (addr->n_servers <= 1 && addr->default_server->n_name_regexes == 0)
        return addr->default_server;
    if (host.len == 0)
        return by_empty_name(addr);
    host = kp_http_router_host(host);
    for (size_t i = 0; i < addr->n_servers; i++) {
        const struct kp_http_srv_conf *srv = addr->servers[i];
        for (size_t j = 0; j < srv->n_server_names; j++) {
            const char *name = srv->server_names[j];
            if (!kp_http_router_match(name, host))
                continue;
            int kind = wildcard_kind(name);
            if (kind == 0)
                return srv; /* an exact name wins outright */
            size_t len = strlen(name);
            if (kind < best_kind || (kind == best_kind && len > best_len)) {
                best = srv;
                best_len = len;
                best_kind = kind;
            }
        }
    }
    if (best == NULL)
        best = by_regex(addr, host, r);
    return best != NULL ? best : addr->default_server;
}
