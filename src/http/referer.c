/* The referer module (see referer.h). A block's hosts are a short list
 * searched in full (hostmatch.h), as map's keys are. */
#include "kelpie/http/referer.h"

#include <stdint.h>
#include <string.h>

#include "kelpie/util/arena.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"

/* nginx reads at most this much of the Referer's host; a longer one is
 * invalid. */
#define HOST_MAX 256

/* Whether the j-th server name q is in the list after the block's hosts
 * and the names before it (nginx would refuse the configuration if not). */
static bool name_kept(const struct kp_http_referers *v, const struct kp_http_srv_conf *srv,
                      size_t j, const struct kp_http_hostmatch *q)
{
    struct kp_http_hostmatch_taken t = {false, false, false};

    for (size_t i = 0; i < v->n_hosts; i++)
        kp_http_hostmatch_take(&t, q, &v->hosts[i]);
    kp_http_hostmatch_take_names(&t, q, srv->server_names, j);
    return kp_http_hostmatch_free(&t, q);
}

/* The entry that names host best: the block's own, then the server's
 * names under `server_names` (one list, hostmatch.h). A server without
 * server_name is named "", as in nginx: a Referer without a host
 * ("http:///page") names it. */
static const struct kp_http_hostmatch *best_host(const struct kp_http_request *r,
                                                 const struct kp_http_referers *v,
                                                 struct kp_str host,
                                                 struct kp_http_hostmatch *named)
{
    const struct kp_http_srv_conf *srv = v->server_names ? r->srv : NULL;
    const struct kp_http_hostmatch *best = kp_http_hostmatch_find(v->hosts, v->n_hosts, host);
    size_t best_rank = best != NULL ? kp_http_hostmatch_rank(best, host) : 0;

    for (size_t i = 0; srv != NULL && i < srv->n_server_names; i++) {
        struct kp_http_hostmatch q;
        size_t k = kp_http_hostmatch_rank_name(srv->server_names[i], host, &q);
        if (k > best_rank && name_kept(v, srv, i, &q)) {
            *named = q;
            best = named;
            best_rank = k;
        }
    }
    if (srv != NULL && srv->n_server_names == 0 && srv->n_name_regexes == 0 && host.len == 0 &&
        best_rank != SIZE_MAX) {
        *named = kp_http_hostmatch_parse(KP_STR(""));
        best = named;
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
static bool path_matches(const struct kp_http_hostmatch *h, struct kp_str rest)
{
    const char *uri = h->data;

    if (uri == NULL)
        return true;
    const char *slash = memchr(rest.p, '/', rest.len);
    if (slash == NULL) /* h's path starts with '/' */
        return false;
    size_t len = rest.len - (size_t)(slash - rest.p), n = strlen(uri);
    return len >= n && memcmp(slash, uri, n) == 0;
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
    struct kp_http_hostmatch named;
    struct kp_str host = {low, n};
    const struct kp_http_hostmatch *h = best_host(r, v, host, &named);
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

/* HOST[/PREFIX]: one more entry of the block's list (hostmatch.h). */
static int add_host(struct kp_conf *cf, struct kp_http_referers *v, const char *a)
{
    const char *slash = strchr(a, '/');
    size_t n = slash != NULL ? (size_t)(slash - a) : strlen(a);
    char *host = kp_arena_alloc(cf->arena, n + 1);

    if (!kp_http_hostmatch_valid((struct kp_str){a, n}))
        return kp_conf_error(cf, "invalid hostname or wildcard \"%.*s\"", (int)n, a);
    for (size_t i = 0; i < n; i++)
        host[i] = kp_str_lower(a[i]);
    host[n] = '\0';
    struct kp_http_hostmatch h = kp_http_hostmatch_parse((struct kp_str){host, n});
    if (kp_http_hostmatch_conflicts(v->hosts, v->n_hosts, &h))
        return kp_conf_error(cf, "conflicting parameter \"%s\"", host);
    h.data = slash != NULL ? kp_conf_strdup(cf->arena, slash) : NULL;
    *KP_CONF_PUSH(cf->arena, v->hosts, v->n_hosts) = h;
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
