/* The geo module (see geo.h). A block is a list of networks searched in
 * full: the longest prefix that holds the address wins; or, with `ranges`,
 * a sorted list of IPv4 ranges that do not overlap, searched by halves. */
#include "kelpie/http/geo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
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

/* An IPv4 range of the `ranges` form, within one /16 block: nginx stores
 * a range cut at each /16 boundary, and which ranges may overlap and how
 * follows from those pieces. */
struct range {
    uint32_t start, end; /* host order, inclusive */
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
    bool ranges;      /* `ranges`: entries are START-END ranges */
    bool has_entries; /* a network, default or delete came (`ranges` must precede them) */
    struct range *rs; /* sorted by start, no two overlapping */
    size_t n_rs;
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

/* The index of the last range that starts at or before addr, or -1. */
static ptrdiff_t last_starting_by(const struct geo *g, uint32_t addr)
{
    size_t lo = 0, hi = g->n_rs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->rs[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

/* An IPv6 address (not IPv4-mapped) is 255.255.255.255 to the ranges, as
 * to nginx's. */
static struct kp_str range_value(const struct geo *g, struct kp_http_access_peer a)
{
    uint32_t addr = 0xffffffffu;

    if (a.family == AF_INET)
        addr = (uint32_t)a.addr[0] << 24 | (uint32_t)a.addr[1] << 16 | (uint32_t)a.addr[2] << 8 |
               a.addr[3];
    ptrdiff_t i = last_starting_by(g, addr);
    return i >= 0 && addr <= g->rs[i].end ? g->rs[i].value : g->dflt;
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
    if (g->ranges) {
        out = range_value(g, a);
        kp_http_var_set(r, d, out);
        return out;
    }
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

/* --- the ranges form ---------------------------------------------------------- */

static void insert_range(struct kp_conf *cf, struct geo *g, size_t at, struct range r)
{
    KP_CONF_PUSH(cf->arena, g->rs, g->n_rs);
    memmove(&g->rs[at + 1], &g->rs[at], (g->n_rs - 1 - at) * sizeof(*g->rs));
    g->rs[at] = r;
}

static void format_ipv4(uint32_t a, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* One piece [s, e] (within one /16 block) of a range, as nginx adds it:
 * an equal piece replaces, one inside another splits it; any other
 * overlap is an error naming the piece overlapped. */
static int add_piece(struct kp_conf *cf, struct geo *g, const char *text, struct range n)
{
    ptrdiff_t i = last_starting_by(g, n.end);

    if (i < 0 || g->rs[i].end < n.start) {
        insert_range(cf, g, (size_t)(i + 1), n);
        return 0;
    }
    struct range o = g->rs[i];
    if (o.start == n.start && o.end == n.end) {
        g->rs[i].value = n.value;
        return 0;
    }
    if (o.start <= n.start && n.end <= o.end) {
        size_t at = (size_t)i;
        if (o.start < n.start) {
            g->rs[at++].end = n.start - 1;
            insert_range(cf, g, at, n);
        } else {
            g->rs[at] = n;
        }
        if (n.end < o.end)
            insert_range(cf, g, at + 1, (struct range){n.end + 1, o.end, o.value});
        return 0;
    }
    char a[16], b[16];
    format_ipv4(o.start, a, sizeof(a));
    format_ipv4(o.end, b, sizeof(b));
    return kp_conf_error(cf, "range \"%s\" overlaps \"%s-%s\"", text, a, b);
}

/* The next /16 boundary after a, or 0 past the last block. */
static uint32_t next_block(uint32_t a)
{
    return (a | 0xffffu) + 1;
}

static int add_range(struct kp_conf *cf, struct geo *g, const char *text, uint32_t start,
                     uint32_t end, struct kp_str value)
{
    uint32_t s = start;

    do {
        uint32_t e = (s | 0xffffu) < end ? s | 0xffffu : end;
        int rc = add_piece(cf, g, text, (struct range){s, e, value});
        if (rc != 0)
            return rc;
        s = next_block(s);
    } while (s != 0 && s <= end);
    return 0;
}

/* Drops the pieces of [start, end] that were added as they are (nginx
 * warns of the others and keeps them). */
static void delete_range(struct geo *g, uint32_t start, uint32_t end)
{
    uint32_t s = start;

    do {
        uint32_t e = (s | 0xffffu) < end ? s | 0xffffu : end;
        ptrdiff_t i = last_starting_by(g, s);
        if (i >= 0 && g->rs[i].start == s && g->rs[i].end == e) {
            memmove(&g->rs[i], &g->rs[i + 1], (g->n_rs - (size_t)i - 1) * sizeof(*g->rs));
            g->n_rs--;
        }
        s = next_block(s);
    } while (s != 0 && s <= end);
}

static bool parse_ipv4(const char *p, size_t len, uint32_t *out)
{
    char text[INET_ADDRSTRLEN];
    struct in_addr a;

    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, p, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

/* START-END (IPv4 only, as nginx's ranges). */
static int parse_range(struct kp_conf *cf, const char *text, uint32_t *start, uint32_t *end)
{
    const char *dash = strchr(text, '-');

    if (dash == NULL || !parse_ipv4(text, (size_t)(dash - text), start) ||
        !parse_ipv4(dash + 1, strlen(dash + 1), end) || *start > *end)
        return kp_conf_error(cf, "invalid range \"%s\"", text);
    return 0;
}

static int range_entry(struct kp_conf *cf, struct geo *g, const char *key, const char *value)
{
    bool del = strcmp(key, "delete") == 0;
    const char *text = del ? value : key;
    uint32_t start = 0, end = 0;
    int rc = parse_range(cf, text, &start, &end);

    if (rc != 0)
        return rc;
    if (del) {
        delete_range(g, start, end);
        return 0;
    }
    return add_range(cf, g, text, start, end, kp_str_from(kp_conf_strdup(cf->arena, value)));
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
    if (cf->nargs == 1 && strcmp(k, "ranges") == 0) {
        if (g->has_entries)
            return kp_conf_error(
                cf, "the \"ranges\" directive must be the first directive inside \"geo\" block");
        g->ranges = true;
        return 0;
    }
    if (cf->nargs != 2)
        return kp_conf_error(cf, "invalid number of the geo parameters");
    if (strcmp(k, "proxy") == 0)
        return proxy_entry(cf, g, cf->args[1]);
    g->has_entries = true;
    if (strcmp(k, "default") == 0) {
        g->dflt = kp_str_from(kp_conf_strdup(cf->arena, cf->args[1]));
        return 0;
    }
    if (g->ranges)
        return range_entry(cf, g, k, cf->args[1]);
    if (strcmp(k, "delete") == 0)
        return delete_entry(cf, g, cf->args[1]);
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
