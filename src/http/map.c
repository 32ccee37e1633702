/* The map module (see map.h): the map block and the getter of a map's
 * variable. */
#include "kelpie/http/map.h"

#include <errno.h>
#include <string.h>

#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

struct entry {
    char *key; /* lowercase; for masks without '*' / leading '.' kept */
    size_t len;
    struct kp_http_regex *regex;
    struct kp_http_cv value;
};

struct map {
    struct kp_http_cv source;
    struct entry *exact, *head, *tail, *regex; /* head: "*.x"/".x", tail: "x.*" */
    size_t n_exact, n_head, n_tail, n_regex;
    struct kp_http_cv *dflt;
    bool hostnames;
    const struct kp_http_var_def *var;
};

/* --- lookup ----------------------------------------------------------------- */

static bool ends_with(struct kp_str s, const char *suffix, size_t n)
{
    return s.len >= n &&
           kp_str_caseeq((struct kp_str){s.p + s.len - n, n}, (struct kp_str){suffix, n});
}

/* The longest "*.x" (which needs something before ".x") or ".x" (which
 * also takes x itself) key matching s. */
static const struct entry *find_head(const struct map *m, struct kp_str s)
{
    const struct entry *best = NULL;

    for (size_t i = 0; i < m->n_head; i++) {
        const struct entry *e = &m->head[i];
        bool star = e->key[0] == '*';
        const char *suffix = e->key + star; /* ".x" */
        size_t n = e->len - star;
        bool hit = (s.len > n && ends_with(s, suffix, n)) ||
                   (!star && s.len == n - 1 && ends_with(s, suffix + 1, n - 1));
        if (hit && (best == NULL || e->len > best->len))
            best = e;
    }
    return best;
}

static const struct entry *find_tail(const struct map *m, struct kp_str s)
{
    const struct entry *best = NULL;

    for (size_t i = 0; i < m->n_tail; i++) {
        const struct entry *e = &m->tail[i];
        size_t n = e->len - 1; /* "mail." of "mail.*" */
        if (s.len > n && kp_str_caseeq((struct kp_str){s.p, n}, (struct kp_str){e->key, n}) &&
            (best == NULL || e->len > best->len))
            best = e;
    }
    return best;
}

static const struct kp_http_cv *lookup(struct kp_http_request *r, const struct map *m,
                                       struct kp_str s)
{
    const struct entry *e = NULL;

    if (m->hostnames && s.len > 1 && s.p[s.len - 1] == '.')
        s.len--;
    for (size_t i = 0; i < m->n_exact && e == NULL; i++) {
        if (kp_str_caseeq(s, (struct kp_str){m->exact[i].key, m->exact[i].len}))
            e = &m->exact[i];
    }
    if (e == NULL && m->hostnames)
        e = find_head(m, s);
    if (e == NULL && m->hostnames)
        e = find_tail(m, s);
    for (size_t i = 0; i < m->n_regex && e == NULL; i++) {
        if (kp_http_regex_exec(r, m->regex[i].regex, s) == 1)
            e = &m->regex[i];
    }
    return e != NULL ? &e->value : m->dflt;
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

static bool is_head(const char *k)
{
    return (k[0] == '*' && k[1] == '.') || (k[0] == '.' && k[1] != '\0');
}

static bool is_tail(const char *k, size_t len)
{
    return len > 2 && k[len - 1] == '*' && k[len - 2] == '.';
}

static int add_entry(struct kp_conf *cf, struct map *m, const char *key, const char *value)
{
    struct entry *e;

    if (key[0] == '~') {
        e = KP_CONF_PUSH(cf->arena, m->regex, m->n_regex);
        bool icase = key[1] == '*';
        int rc = kp_http_regex_compile(cf, key + 1 + icase, icase, &e->regex);
        if (rc != 0)
            return rc;
    } else {
        key += key[0] == '\\';
        size_t len = strlen(key);
        if (m->hostnames && is_head(key))
            e = KP_CONF_PUSH(cf->arena, m->head, m->n_head);
        else if (m->hostnames && is_tail(key, len))
            e = KP_CONF_PUSH(cf->arena, m->tail, m->n_tail);
        else
            e = KP_CONF_PUSH(cf->arena, m->exact, m->n_exact);
        e->key = kp_conf_strdup(cf->arena, key);
        e->len = len;
    }
    return kp_http_cv_compile(cf, value, &e->value);
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
