/* Server selection by Host. Linear over the address's names, with the
 * conflicts between them settled when the configuration was built
 * (kp_http_router_names): configurations have a handful, and a single
 * server (the benchmark case) never looks at the name at all. */
#include "kelpie/http/router.h"

#include <stdint.h>
#include <string.h>

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

size_t kp_http_router_names_max(const struct kp_http_addr *addr)
{
    size_t n = 0;

    for (size_t i = 0; i < addr->n_servers; i++)
        n += addr->servers[i]->n_server_names;
    return n;
}

/* p, the next name of an address whose earlier names are out[0..n), as
 * nginx's hash takes it: written to out[n] (1), or dropped (0). A ".x"
 * whose names under x were taken still took x itself, for no server: it is
 * written as x without data, which keeps a later x out and then goes. */
static size_t take(struct kp_http_hostmatch *out, size_t n, struct kp_http_hostmatch p)
{
    struct kp_http_hostmatch_taken t = {false, false, false};

    for (size_t i = 0; i < n; i++)
        kp_http_hostmatch_take(&t, &p, &out[i]);
    if (!kp_http_hostmatch_free(&t, &p)) {
        if (p.form != KP_HTTP_HOSTMATCH_DOT || t.name)
            return 0;
        p = (struct kp_http_hostmatch){{p.key.p + 1, p.key.len - 1}, KP_HTTP_HOSTMATCH_EXACT, NULL};
    }
    out[n] = p;
    return 1;
}

size_t kp_http_router_names(const struct kp_http_addr *addr, struct kp_http_hostmatch *out)
{
    size_t n = 0, kept = 0;

    for (size_t i = 0; i < addr->n_servers; i++) {
        const struct kp_http_srv_conf *srv = addr->servers[i];
        for (size_t j = 0; j < srv->n_server_names; j++) {
            const char *name = srv->server_names[j];
            if (name[0] == '\0')
                continue;
            struct kp_http_hostmatch p =
                kp_http_hostmatch_parse((struct kp_str){name, strlen(name)});
            p.data = srv;
            n += take(out, n, p);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (out[i].data != NULL)
            out[kept++] = out[i];
    }
    return kept;
}

/* The server whose server_name matches host best (hostmatch.h), or NULL. */
static const struct kp_http_srv_conf *by_name(const struct kp_http_addr *addr, struct kp_str host)
{
    const struct kp_http_hostmatch *m = kp_http_hostmatch_find(addr->names, addr->n_names, host);

    return m != NULL ? m->data : NULL;
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
