/* The referer module (see referer.h). A block's hosts are a short list
 * searched in full, as map's wildcard keys are. */
#include "kelpie/http/referer.h"

#include <string.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"

/* nginx reads at most this much of the Referer's host; a longer one is
 * invalid. */
#define HOST_MAX 256

/* How well pattern names host (both lowercase): 0 not at all; more is
 * better: the exact name, then a leading wildcard ("*.x" needs a label
 * before ".x", ".x" also takes x itself), then a trailing one ("x.*"),
 * the longest of a kind first. */
static size_t rank(struct kp_str pattern, struct kp_str host)
{
    enum { TAIL = 0, HEAD = 1u << 16 };
    const char *k = pattern.p;
    size_t n = pattern.len;

    if (n > 1 && (k[0] == '.' || (k[0] == '*' && k[1] == '.'))) {
        size_t star = k[0] == '*', sn = n - star; /* ".x" */
        bool below = host.len > sn && memcmp(host.p + host.len - sn, k + star, sn) == 0;
        bool itself = !star && host.len == sn - 1 && memcmp(host.p, k + 1, sn - 1) == 0;
        return below || itself ? HEAD + sn : 0;
    }
    if (n > 2 && k[n - 1] == '*' && k[n - 2] == '.') /* "www.x." itself too */
        return host.len >= n - 1 && memcmp(host.p, k, n - 1) == 0 ? TAIL + n : 0;
    return host.len == n && memcmp(host.p, k, n) == 0 ? SIZE_MAX : 0;
}

/* The entry that names host best: the block's own, then the server's
 * names under `server_names` (the first of equals wins, as in nginx's
 * hash, where a later equal key is refused). */
static const struct kp_http_referer_host *best_host(const struct kp_http_request *r,
                                                    const struct kp_http_referers *v,
                                                    struct kp_str host,
                                                    struct kp_http_referer_host *named)
{
    const struct kp_http_referer_host *best = NULL;
    size_t best_rank = 0;

    for (size_t i = 0; i < v->n_hosts; i++) {
        size_t k = rank((struct kp_str){v->hosts[i].host, v->hosts[i].len}, host);
        if (k > best_rank) {
            best = &v->hosts[i];
            best_rank = k;
        }
    }
    for (size_t i = 0; v->server_names && r->srv != NULL && i < r->srv->n_server_names; i++) {
        struct kp_str name = kp_str_from(r->srv->server_names[i]);
        size_t k = name.len > 0 ? rank(name, host) : 0;
        if (k > best_rank) {
            *named = (struct kp_http_referer_host){name.p, name.len, NULL};
            best = named;
            best_rank = k;
        }
    }
    return best;
}

/* The length of the Referer's "http://" or "https://" (any case), 0 for
 * anything else or a value shorter than "http://i.ru", as nginx checks. */
static size_t scheme_len(struct kp_str ref)
{
    if (ref.len < sizeof("http://i.ru") - 1)
        return 0;
    if (kp_str_caseeq((struct kp_str){ref.p, 7}, KP_STR("http://")))
        return 7;
    return kp_str_caseeq((struct kp_str){ref.p, 8}, KP_STR("https://")) ? 8 : 0;
}

/* Whether the path after the host (and a port) starts with h's. */
static bool path_matches(const struct kp_http_referer_host *h, struct kp_str rest)
{
    if (h->uri == NULL)
        return true;
    const char *slash = memchr(rest.p, '/', rest.len);
    if (slash == NULL) /* h's path starts with '/' */
        return false;
    size_t len = rest.len - (size_t)(slash - rest.p), n = strlen(h->uri);
    return len >= n && memcmp(slash, h->uri, n) == 0;
}

/* Whether a regex of the list matches ref (nginx keeps no captures of
 * these). */
static bool any_regex(struct kp_http_regex *const *re, size_t n, struct kp_str ref)
{
    for (size_t i = 0; i < n; i++) {
        if (kp_http_regex_exec(NULL, re[i], ref) == 1)
            return true;
    }
    return false;
}

static bool valid(const struct kp_http_request *r, const struct kp_http_referers *v)
{
    const struct kp_str *field = kp_http_parse_value(&r->parser.head, KP_HTTP_HDR_REFERER);

    if (field == NULL)
        return v->none;
    size_t skip = scheme_len(*field);
    if (skip == 0)
        return v->blocked;
    struct kp_str ref = {field->p + skip, field->len - skip};
    char low[HOST_MAX];
    size_t n = 0;
    for (; n < ref.len && ref.p[n] != '/' && ref.p[n] != ':'; n++) {
        if (n == HOST_MAX)
            return false;
        low[n] = kp_str_lower(ref.p[n]);
    }
    struct kp_http_referer_host named;
    struct kp_str host = {low, n};
    const struct kp_http_referer_host *h = best_host(r, v, host, &named);
    if (h != NULL)
        return path_matches(h, (struct kp_str){ref.p + n, ref.len - n});
    /* As nginx: the block's regexes see the Referer without its scheme,
     * the server's `~` names only its lowercase host. */
    return any_regex(v->regexes, v->n_regexes, ref) ||
           (v->server_names && r->srv != NULL &&
            any_regex(r->srv->name_regexes, r->srv->n_name_regexes, host));
}

static struct kp_str invalid_referer(struct kp_http_request *r, const struct kp_http_var_ref *ref,
                                     char *buf)
{
    const struct kp_http_referers *v = r->loc != NULL ? r->loc->referers : NULL;

    (void)ref;
    (void)buf;
    return v == NULL || valid(r, v) ? KP_STR("") : KP_STR("1");
}

const struct kp_http_var_def kp_http_referer_vars[] = {
    {"invalid_referer", invalid_referer, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

/* --- configuration ------------------------------------------------------------ */

/* A host as nginx's wildcard hash takes it: one '*' at most, as "*.x" or
 * "x.*", or a leading "."; no "..". */
static bool host_ok(const char *h, size_t n)
{
    size_t stars = 0;

    for (size_t i = 0; i < n; i++) {
        stars += h[i] == '*';
        if (i + 1 < n && h[i] == '.' && h[i + 1] == '.')
            return false;
    }
    if (stars == 0)
        return true;
    return stars == 1 && n > 2 &&
           ((h[0] == '*' && h[1] == '.') || (h[n - 2] == '.' && h[n - 1] == '*'));
}

static int add_host(struct kp_conf *cf, struct kp_http_referers *v, const char *a)
{
    const char *slash = strchr(a, '/');
    size_t n = slash != NULL ? (size_t)(slash - a) : strlen(a);
    char *host = kp_arena_alloc(cf->arena, n + 1);

    for (size_t i = 0; i < n; i++)
        host[i] = kp_str_lower(a[i]);
    host[n] = '\0';
    if (!host_ok(host, n))
        return kp_conf_error(cf, "invalid hostname or wildcard \"%s\"", host);
    for (size_t i = 0; i < v->n_hosts; i++) {
        if (v->hosts[i].len == n && memcmp(v->hosts[i].host, host, n) == 0)
            return 0; /* nginx keeps the first ("conflicting parameter") */
    }
    const char *uri = slash != NULL ? kp_conf_strdup(cf->arena, slash) : NULL;
    *KP_CONF_PUSH(cf->arena, v->hosts, v->n_hosts) = (struct kp_http_referer_host){host, n, uri};
    return 0;
}

static int referer_arg(struct kp_conf *cf, struct kp_http_referers *v, const char *a)
{
    if (a[0] == '\0')
        return kp_conf_error(cf, "invalid referer \"\"");
    if (strcmp(a, "none") == 0)
        v->none = true;
    else if (strcmp(a, "blocked") == 0)
        v->blocked = true;
    else if (strcmp(a, "server_names") == 0)
        v->server_names = true;
    else if (a[0] == '~' && a[1] == '\0')
        return kp_conf_error(cf, "empty regex in \"%s\"", a);
    else if (a[0] == '~')
        return kp_http_regex_compile(cf, a + 1, true,
                                     KP_CONF_PUSH(cf->arena, v->regexes, v->n_regexes));
    else
        return add_host(cf, v, a);
    return 0;
}

/* valid_referers ARG...: the lines of one block add up; the first
 * replaces what the block inherited. */
static int valid_referers(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;

    if (!kp_conf_field_seen(cf, cmd) || loc->referers == NULL)
        loc->referers = kp_arena_calloc(cf->arena, sizeof(*loc->referers));
    for (size_t i = 1; i < cf->nargs; i++) {
        int rc = referer_arg(cf, loc->referers, cf->args[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const struct kp_conf_cmd kp_http_referer_conf_cmds[] = {
    {"valid_referers", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_1MORE, KP_CONF_MULTI, valid_referers,
     KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, referers)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
