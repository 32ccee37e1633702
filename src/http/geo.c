/* The geo module (see geo.h). A block is a list of networks searched in
 * full: the longest prefix that holds the address wins. */
#include "kelpie/http/geo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/access.h"
#include "kelpie/http/realip.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

struct net {
    struct kp_http_acl_rule rule; /* family, addr (masked) and mask */
    unsigned bits;
    struct kp_str value;
};

struct geo {
    struct kp_http_cv source; /* with has_source */
    bool has_source;
    struct kp_http_cv xff; /* $http_x_forwarded_for, for proxy entries */
    struct net *nets;
    size_t n_nets;
    struct kp_str dflt;
    struct kp_http_acl_rule *proxies;
    size_t n_proxies;
    bool recursive;
};

/* An address as the networks see it (access.h: an IPv4-mapped IPv6 one
 * is IPv4); anything else (no address, a UNIX-domain peer, text that is
 * no address) is 255.255.255.255, nginx's stand-in. */
static struct kp_http_access_peer peer_of(const struct sockaddr_storage *ss)
{
    struct kp_http_access_peer p = {.known = false};

    if (ss != NULL)
        p = kp_http_access_peer_of(ss);
    if (!p.known)
        p = (struct kp_http_access_peer){true, AF_INET, {255, 255, 255, 255}};
    return p;
}

static struct kp_http_access_peer parse_address(struct kp_str v)
{
    char text[INET6_ADDRSTRLEN];
    struct sockaddr_storage ss = {0};

    if (v.len > 0 && v.len < sizeof(text)) {
        memcpy(text, v.p, v.len);
        text[v.len] = '\0';
        if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
            ss.ss_family = AF_INET;
        else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
            ss.ss_family = AF_INET6;
    }
    return peer_of(ss.ss_family != 0 ? &ss : NULL);
}

/* The address the block looks up for r. */
static struct kp_http_access_peer lookup_address(struct kp_http_request *r, const struct geo *g)
{
    if (g->has_source)
        return parse_address(kp_http_cv_eval(r, &g->source, KP_HTTP_CV_RAW));
    const struct sockaddr_storage *peer = kp_http_req_client(r);
    struct sockaddr_storage real;
    if (peer != NULL && g->n_proxies > 0 &&
        kp_http_realip_walk(kp_http_cv_eval(r, &g->xff, KP_HTTP_CV_RAW), peer, g->proxies,
                            g->n_proxies, g->recursive, &real))
        peer = &real;
    return peer_of(peer);
}

static struct kp_str get(struct kp_http_request *r, const struct kp_http_var_ref *ref, char *buf)
{
    const struct kp_http_var_def *d = ref->def;
    const struct geo *g = d->data;
    struct kp_str out;

    (void)buf;
    if (kp_http_var_stored(r, d, &out))
        return out;
    struct kp_http_access_peer a = lookup_address(r, g);
    const struct net *best = NULL;
    for (size_t i = 0; i < g->n_nets; i++) {
        if (kp_http_access_rule_matches(&g->nets[i].rule, &a) &&
            (best == NULL || g->nets[i].bits >= best->bits))
            best = &g->nets[i];
    }
    out = best != NULL ? best->value : g->dflt;
    kp_http_var_set(r, d, out);
    return out;
}

/* --- configuration ------------------------------------------------------------ */

static unsigned mask_bits(const uint8_t mask[16])
{
    unsigned bits = 0;

    for (size_t i = 0; i < 16; i++)
        bits += (unsigned)__builtin_popcount(mask[i]);
    return bits;
}

/* The network already listed that is exactly n, or NULL. */
static struct net *same_net(struct geo *g, const struct net *n)
{
    for (size_t i = 0; i < g->n_nets; i++) {
        struct net *o = &g->nets[i];
        if (o->rule.family == n->rule.family && memcmp(o->rule.addr, n->rule.addr, 16) == 0 &&
            memcmp(o->rule.mask, n->rule.mask, 16) == 0)
            return o;
    }
    return NULL;
}

static int parse_net(struct kp_conf *cf, const char *a, struct net *n)
{
    memset(n, 0, sizeof(*n));
    if (kp_conf_parse_cidr(a, &n->rule.family, n->rule.addr, n->rule.mask) != 0)
        return kp_conf_error(cf, "invalid network \"%s\"", a);
    n->bits = mask_bits(n->rule.mask);
    return 0;
}

static int net_entry(struct kp_conf *cf, struct geo *g, const char *key, const char *value)
{
    struct net n;
    int rc = parse_net(cf, key, &n);

    if (rc != 0)
        return rc;
    n.value = kp_str_from(kp_conf_strdup(cf->arena, value));
    struct net *old = same_net(g, &n);
    if (old != NULL) { /* the later one wins, as in nginx */
        *old = n;
        return 0;
    }
    *KP_CONF_PUSH(cf->arena, g->nets, g->n_nets) = n;
    return 0;
}

static int delete_entry(struct kp_conf *cf, struct geo *g, const char *key)
{
    struct net n;
    int rc = parse_net(cf, key, &n);

    if (rc != 0)
        return rc;
    struct net *old = same_net(g, &n);
    if (old != NULL)
        *old = g->nets[--g->n_nets];
    return 0;
}

static int proxy_entry(struct kp_conf *cf, struct geo *g, const char *a)
{
    struct kp_http_acl_rule *p = KP_CONF_PUSH(cf->arena, g->proxies, g->n_proxies);

    p->allow = true;
    if (kp_conf_parse_cidr(a, &p->family, p->addr, p->mask) != 0)
        return kp_conf_error(cf, "invalid network \"%s\"", a);
    return 0;
}

/* One statement of the block. */
static int geo_entry(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct geo *g = conf;
    const char *k = cf->args[0];

    (void)cmd;
    if (cf->nargs == 1 && strcmp(k, "proxy_recursive") == 0) {
        g->recursive = true;
        return 0;
    }
    if (cf->nargs == 1 && strcmp(k, "ranges") == 0)
        return kp_conf_error(cf, "\"ranges\" in \"geo\" is not supported by kelpie");
    if (cf->nargs != 2)
        return kp_conf_error(cf, "invalid number of the geo parameters");
    if (strcmp(k, "default") == 0) {
        g->dflt = kp_str_from(kp_conf_strdup(cf->arena, cf->args[1]));
        return 0;
    }
    if (strcmp(k, "delete") == 0)
        return delete_entry(cf, g, cf->args[1]);
    if (strcmp(k, "proxy") == 0)
        return proxy_entry(cf, g, cf->args[1]);
    return net_entry(cf, g, k, cf->args[1]);
}

int kp_http_geo_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct geo *g = kp_arena_calloc(cf->arena, sizeof(*g));
    bool has_source = cf->nargs == 3;

    (void)cmd;
    (void)conf;
    g->has_source = has_source;
    g->dflt = KP_STR("");
    if (kp_http_var_define_from(cf, has_source ? cf->args[1] : "", cf->args[cf->nargs - 1],
                                &g->source, get, g) == NULL ||
        kp_http_cv_compile(cf, "$http_x_forwarded_for", &g->xff) != 0)
        return -EINVAL;
    struct kp_conf_frame frame = {cf->frame->ctx, {g, NULL, NULL}, NULL, geo_entry};
    return kp_conf_parse_block(cf, &frame);
}
