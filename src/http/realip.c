/* realip (see realip.h): the directives, nginx's walk of X-Forwarded-For,
 * and the one place where a request's client address is replaced. */
#include "kelpie/http/realip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "kelpie/http/access.h"
#include "kelpie/http/req.h"

#define LOC(m)         KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, m)
#define LOC_SPAN(a, b) KP_CONF_SLOT_LOC, KP_CONF_SPAN(struct kp_http_loc_conf, a, b)
#define HTTP_ANY       (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)

/* --- directives ------------------------------------------------------------------- */

/* set_real_ip_from ADDR[/BITS] | unix: -- repeatable; the first one in a
 * block replaces what the block inherited. */
static int set_from(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_realip_conf *rc = &((struct kp_http_loc_conf *)conf)->realip;
    struct kp_http_acl_rule rule = {.allow = true, .family = AF_UNIX};
    const char *a = cf->args[1];

    if (strcmp(a, "unix:") != 0 && kp_conf_parse_cidr(a, &rule.family, rule.addr, rule.mask) != 0)
        return kp_conf_error(cf, "invalid parameter \"%s\"", a);
    if (!kp_conf_field_seen(cf, cmd)) {
        rc->from = NULL;
        rc->n_from = 0;
    }
    *KP_CONF_PUSH(cf->arena, rc->from, rc->n_from) = rule;
    return 0;
}

/* real_ip_header X-Real-IP | X-Forwarded-For | proxy_protocol | FIELD. The
 * three names are matched as nginx writes them (case matters there); any
 * other text names a field, compared without case. */
static int set_header(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_realip_conf *rc = &((struct kp_http_loc_conf *)conf)->realip;
    const char *v = cf->args[1];

    (void)cmd;
    rc->field = NULL;
    if (strcmp(v, "X-Real-IP") == 0) {
        rc->header = KP_REALIP_X_REAL_IP;
    } else if (strcmp(v, "X-Forwarded-For") == 0) {
        rc->header = KP_REALIP_X_FORWARDED_FOR;
    } else if (strcmp(v, "proxy_protocol") == 0) {
        rc->header = KP_REALIP_PROXY_PROTOCOL;
    } else {
        rc->header = KP_REALIP_FIELD;
        rc->field = kp_conf_strdup(cf->arena, v);
    }
    return 0;
}

const struct kp_conf_cmd kp_http_realip_conf_cmds[] = {
    {"set_real_ip_from", HTTP_ANY, KP_CONF_TAKE(1), KP_CONF_MULTI, set_from,
     LOC_SPAN(realip.from, realip.n_from)},
    {"real_ip_header", HTTP_ANY, KP_CONF_TAKE(1), 0, set_header,
     LOC_SPAN(realip.header, realip.field)},
    {"real_ip_recursive", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(realip.recursive)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

/* --- the walk ------------------------------------------------------------------------ */

static bool is_sep(char ch)
{
    return ch == ' ' || ch == ',';
}

/* An IPv4 or IPv6 address, nothing else, into *out (port 0). */
static bool plain_addr(const char *p, size_t len, struct sockaddr_storage *out)
{
    char text[INET6_ADDRSTRLEN];
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

    if (len == 0 || len >= sizeof(text) || memchr(p, '\0', len) != NULL)
        return false;
    memcpy(text, p, len);
    text[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

/* "ADDR", "ADDR:PORT" or "[IPV6]:PORT" (a bracketed address needs its
 * port), the forms nginx's address parser takes in these headers. */
static bool addr_port(const char *p, size_t len, struct sockaddr_storage *out)
{
    const char *end = p + len, *port;
    size_t alen;
    unsigned v = 0;

    if (plain_addr(p, len, out))
        return true;
    if (len > 0 && p[0] == '[') {
        const char *rb = memchr(p, ']', len);
        if (rb == NULL || rb + 1 == end || rb[1] != ':')
            return false;
        port = rb + 2;
        alen = (size_t)(rb - p - 1);
        p++;
    } else {
        const char *colon = memchr(p, ':', len);
        if (colon == NULL)
            return false;
        port = colon + 1;
        alen = (size_t)(colon - p);
    }
    if (port == end)
        return false;
    for (const char *d = port; d < end; d++) {
        if (*d < '0' || *d > '9' || (v = v * 10 + (unsigned)(*d - '0')) > 65535)
            return false;
    }
    if (!plain_addr(p, alen, out))
        return false;
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)v);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)v);
    return true;
}

bool kp_http_realip_walk(struct kp_str value, const struct sockaddr_storage *peer,
                         const struct kp_http_acl_rule *from, size_t n, bool recursive,
                         struct sockaddr_storage *out)
{
    const char *v = value.p;
    size_t end = value.len;
    bool found = false;

    while (end > 0 && kp_http_access_match(from, n, found ? out : peer)) {
        /* The last item: separators after it dropped, and it starts after
         * the separator before it. As in nginx, the value's first byte is
         * never taken for a separator. */
        while (end > 1 && is_sep(v[end - 1]))
            end--;
        size_t start = end - 1;
        while (start > 0 && !is_sep(v[start]))
            start--;
        if (start > 0)
            start++;
        struct sockaddr_storage addr;
        if (!addr_port(v + start, end - start, &addr))
            break; /* not an address: the last one found (if any) stands */
        *out = addr;
        found = true;
        if (!recursive || start == 0)
            break;
        end = start - 1;
    }
    return found;
}

/* --- per request --------------------------------------------------------------------- */

/* The header's value: X-Forwarded-For's lines joined into one list (in
 * r's arena when there are several), another field's first line. */
static struct kp_str header_value(struct kp_http_request *r, const struct kp_http_realip_conf *rc)
{
    const struct kp_http_head *h = &r->parser.head;
    struct kp_str name = rc->header == KP_REALIP_X_FORWARDED_FOR ? KP_STR("x-forwarded-for")
                         : rc->header == KP_REALIP_X_REAL_IP     ? KP_STR("x-real-ip")
                                                                 : kp_str_from(rc->field);
    struct kp_str v = {NULL, 0};

    for (size_t i = 0; i < h->nfields; i++) {
        struct kp_str f = h->fields[i].value;
        if (!kp_str_caseeq(h->fields[i].name, name))
            continue;
        if (v.p == NULL) {
            v = f;
            if (rc->header != KP_REALIP_X_FORWARDED_FOR)
                break;
            continue;
        }
        char *joined = kp_arena_alloc(&r->arena, v.len + 2 + f.len);
        memcpy(joined, v.p, v.len);
        memcpy(joined + v.len, ", ", 2);
        memcpy(joined + v.len + 2, f.p, f.len);
        v = (struct kp_str){joined, v.len + 2 + f.len};
    }
    return v;
}

/* The PROXY header's source (with its port), when the connection had one
 * that carried addresses. */
static bool proxy_source(const struct kp_http_conn *hc, struct sockaddr_storage *out)
{
    const union kp_proxy_addr *src = &hc->proxy.src;

    if (!hc->has_proxy || src->sa.sa_family == AF_UNSPEC)
        return false;
    memset(out, 0, sizeof(*out));
    memcpy(out, src, src->sa.sa_family == AF_INET ? sizeof(src->sin) : sizeof(src->sin6));
    return true;
}

void kp_http_realip_apply(struct kp_http_request *r, const struct kp_http_loc_conf *conf)
{
    const struct kp_http_realip_conf *rc = &conf->realip;
    const struct sockaddr_storage *peer;
    bool found;

    if (rc->n_from == 0 || r->hc == NULL || r->addr != NULL)
        return;
    peer = &r->hc->c->peer;
    if (!kp_http_access_match(rc->from, rc->n_from, peer))
        return;
    if (rc->header == KP_REALIP_PROXY_PROTOCOL) {
        found = proxy_source(r->hc, &r->real_addr);
    } else {
        struct kp_str v = header_value(r, rc);
        found = v.len > 0 &&
                kp_http_realip_walk(v, peer, rc->from, rc->n_from, rc->recursive, &r->real_addr);
    }
    if (found)
        r->addr = &r->real_addr;
}
