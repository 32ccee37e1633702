/* The map module (see map.h): the map block and the getter of a map's
 * variable. */
#include "kelpie/http/map.h"

#include <errno.h>
#include <string.h>

#include "kelpie/http/hostmatch.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

struct regex_key {
    struct kp_http_regex *regex;
    struct kp_http_cv value;
};

struct map {
    struct kp_http_cv source;
    /* every key but the regexes, in order, lowercase (hostmatch.h; all exact
     * before `hostnames`); data: its value (struct kp_http_cv) */
    struct kp_http_hostmatch *keys;
    size_t n_keys;
    struct regex_key *regexes; /* in order */
    size_t n_regexes;
    struct kp_http_cv *dflt;
    bool hostnames;
    const struct kp_http_var_def *var;
};

/* --- lookup ----------------------------------------------------------------- */

static const struct kp_http_cv *lookup(struct kp_http_request *r, const struct map *m,
                                       struct kp_str s)
{
    if (m->hostnames && s.len > 1 && s.p[s.len - 1] == '.')
        s.len--;
    const struct kp_http_hostmatch *k = kp_http_hostmatch_find(m->keys, m->n_keys, s);
    if (k != NULL)
        return k->data;
    for (size_t i = 0; i < m->n_regexes; i++) {
        if (kp_http_regex_exec(r, m->regexes[i].regex, s) == 1)
            return &m->regexes[i].value;
    }
    return m->dflt;
}

/* Maps whose values name each other would recurse without end: past this
 * depth the value is empty and the cycle is logged. */
#define MAP_DEPTH_MAX 32

/* The variable's getter: the cached value, else the map's answer. */
static struct kp_str get(struct kp_http_request *r, const struct kp_http_var_ref *ref, char *buf)
{
    const struct kp_http_var_def *d = ref->def;
    const struct map *m = d->data;
    bool cache = !(d->flags & KP_HTTP_VAR_VOLATILE) && d->index < r->n_var_slots;

    (void)buf;
    if (cache && r->var_values != NULL && r->var_values[d->index].valid)
        return r->var_values[d->index].value;
    if (r->map_depth >= MAP_DEPTH_MAX) {
        kp_http_req_log(r, KP_LOG_ERR, 0, "cycle while evaluating variable \"%s\"", d->name);
        return KP_STR_NULL;
    }
    r->map_depth++;
    struct kp_str src = kp_http_cv_eval(r, &m->source, KP_HTTP_CV_RAW);
    const struct kp_http_cv *v = lookup(r, m, src);
    struct kp_str out = v != NULL ? kp_http_cv_eval(r, v, KP_HTTP_CV_RAW) : KP_STR_NULL;
    r->map_depth--;
    if (cache)
        kp_http_var_set(r, d, out);
    return out;
}

/* --- configuration ------------------------------------------------------------ */

/* A key other than a regex: exact, or with `hostnames` seen, a wildcard
 * as hostmatch.h takes it. As in nginx, a key that conflicts with an
 * earlier one is an error (exact keys too, without regard to case). */
static int add_key(struct kp_conf *cf, struct map *m, const char *key, const char *value)
{
    size_t len = strlen(key);
    char *low = kp_arena_alloc(cf->arena, len + 1);
    struct kp_http_hostmatch k = {{low, len}, KP_HTTP_HOSTMATCH_EXACT, NULL};

    if (m->hostnames && !kp_http_hostmatch_valid((struct kp_str){key, len}))
        return kp_conf_error(cf, "invalid hostname or wildcard \"%s\"", key);
    for (size_t i = 0; i <= len; i++)
        low[i] = kp_str_lower(key[i]);
    if (m->hostnames)
        k = kp_http_hostmatch_parse(k.key);
    if (kp_http_hostmatch_conflicts(m->keys, m->n_keys, &k))
        return kp_conf_error(cf, "conflicting parameter \"%s\"", low);
    struct kp_http_cv *cv = kp_arena_calloc(cf->arena, sizeof(*cv));
    k.data = cv;
    *KP_CONF_PUSH(cf->arena, m->keys, m->n_keys) = k;
    return kp_http_cv_compile(cf, value, cv);
}

static int add_entry(struct kp_conf *cf, struct map *m, const char *key, const char *value)
{
    if (key[0] != '~')
        return add_key(cf, m, key + (key[0] == '\\'), value);
    bool icase = key[1] == '*';
    struct regex_key *e = KP_CONF_PUSH(cf->arena, m->regexes, m->n_regexes);
    int rc = kp_http_regex_compile(cf, key + 1 + icase, icase, &e->regex);
    return rc != 0 ? rc : kp_http_cv_compile(cf, value, &e->value);
}

/* One statement of the block: KEY VALUE, default VALUE, hostnames,
 * volatile. */
static int map_entry(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct map *m = conf;
    const char *k = cf->args[0];

    (void)cmd;
    if (cf->nargs == 1 && strcmp(k, "hostnames") == 0) {
        m->hostnames = true;
        return 0;
    }
    if (cf->nargs == 1 && strcmp(k, "volatile") == 0) {
        ((struct kp_http_var_def *)m->var)->flags |= KP_HTTP_VAR_VOLATILE;
        return 0;
    }
    if (cf->nargs != 2)
        return kp_conf_error(cf, "invalid number of the map parameters");
    if (strcmp(k, "default") != 0)
        return add_entry(cf, m, k, cf->args[1]);
    if (m->dflt != NULL)
        return kp_conf_error(cf, "duplicate default map parameter");
    m->dflt = kp_arena_calloc(cf->arena, sizeof(*m->dflt));
    return kp_http_cv_compile(cf, cf->args[1], m->dflt);
}

int kp_http_map_conf(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct map *m = kp_arena_calloc(cf->arena, sizeof(*m));

    (void)cmd;
    (void)conf;
    m->var = kp_http_var_define_from(cf, cf->args[1], cf->args[2], &m->source, get, m);
    if (m->var == NULL)
        return -EINVAL;
    struct kp_conf_frame frame = {cf->frame->ctx, {m, NULL, NULL}, NULL, map_entry};
    return kp_conf_parse_block(cf, &frame);
}
