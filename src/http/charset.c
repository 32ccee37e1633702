/* charset and charset_types (see charset.h). */
#include "kelpie/http/charset.h"

#include <string.h>
#include <strings.h>

#include "kelpie/http/conf.h"
#include "kelpie/http/req.h"

static const char *const default_types[] = {
    "text/html",           "text/xml", "text/plain", "text/vnd.wap.wml", "application/javascript",
    "application/rss+xml",
};

void kp_http_charset_defaults(struct kp_arena *a, char ***types, size_t *n)
{
    *types = NULL;
    *n = 0;
    for (size_t i = 0; i < sizeof(default_types) / sizeof(default_types[0]); i++)
        *KP_CONF_PUSH(a, *types, *n) = kp_conf_strdup(a, default_types[i]);
}

int kp_http_charset_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    const char *name = cf->args[1];

    (void)cmd;
    /* The name goes into a header field: a token, as RFC 9110 wants. */
    if (name[0] == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789!#$%&'*+-.^_`|~") != strlen(name))
        return kp_conf_invalid(cf, name);
    loc->charset = strcmp(name, "off") == 0 ? NULL : kp_conf_strdup(cf->arena, name);
    return 0;
}

int kp_http_charset_conf_types(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;

    (void)cmd;
    /* The list replaces the inherited one; text/html is always in it, as
     * nginx adds the types listed to "text/html". */
    loc->charset_types = NULL;
    loc->n_charset_types = 0;
    *KP_CONF_PUSH(cf->arena, loc->charset_types, loc->n_charset_types) =
        kp_conf_strdup(cf->arena, default_types[0]);
    for (size_t i = 1; i < cf->nargs; i++) {
        if (strchr(cf->args[i], '/') == NULL && strcmp(cf->args[i], "*") != 0)
            return kp_conf_invalid(cf, cf->args[i]);
        *KP_CONF_PUSH(cf->arena, loc->charset_types, loc->n_charset_types) =
            kp_conf_strdup(cf->arena, cf->args[i]);
    }
    return 0;
}

static bool listed(const struct kp_http_loc_conf *loc, struct kp_str type)
{
    for (size_t i = 0; i < loc->n_charset_types; i++) {
        const char *t = loc->charset_types[i];
        if (strcmp(t, "*") == 0 || (strlen(t) == type.len && strncasecmp(t, type.p, type.len) == 0))
            return true;
    }
    return false;
}

/* Whether the value already names a charset parameter. */
static bool has_charset(struct kp_str ct)
{
    static const char key[] = "charset=";

    for (size_t i = 0; i + sizeof(key) - 1 <= ct.len; i++) {
        if (strncasecmp(ct.p + i, key, sizeof(key) - 1) == 0)
            return true;
    }
    return false;
}

void kp_http_charset_apply(struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = r->loc;
    struct kp_str ct = r->resp.content_type;

    /* As nginx: not on a 301 or 302, whose page is not what the client
     * reads next (old browsers kept its charset for the next page). */
    if (loc == NULL || loc->charset == NULL || ct.len == 0 || r->resp.status == 301 ||
        r->resp.status == 302)
        return;
    const char *semi = memchr(ct.p, ';', ct.len);
    struct kp_str type = {ct.p, semi != NULL ? (size_t)(semi - ct.p) : ct.len};
    while (type.len > 0 && type.p[type.len - 1] == ' ')
        type.len--;
    if (!listed(loc, type) || has_charset(ct))
        return;
    size_t nlen = strlen(loc->charset), len = ct.len + sizeof("; charset=") - 1 + nlen;
    char *out = kp_arena_alloc(&r->arena, len);
    memcpy(out, ct.p, ct.len);
    memcpy(out + ct.len, "; charset=", sizeof("; charset=") - 1);
    memcpy(out + len - nlen, loc->charset, nlen);
    r->resp.content_type = (struct kp_str){out, len};
}

bool kp_http_charset_is_utf8(const struct kp_http_loc_conf *loc, struct kp_str type)
{
    return loc->charset != NULL && strcasecmp(loc->charset, "utf-8") == 0 && listed(loc, type);
}
