/* Location modifiers, order and lookup (see location.h). Regexes are
 * PCRE2's (http/regex.h). */
#include "kelpie/http/location.h"

#include <stdlib.h>
#include <string.h>

#include "kelpie/http/regex.h"

/* What one location argument starts with, nginx's spellings. */
struct modifier {
    const char *text;
    enum kp_http_loc_match match;
};

static const struct modifier MODIFIERS[] = {
    {"=", KP_LOC_EXACT},
    {"^~", KP_LOC_PREFIX_STOP},
    {"~*", KP_LOC_REGEX_ICASE},
    {"~", KP_LOC_REGEX},
};

#define N_MODIFIERS (sizeof(MODIFIERS) / sizeof(MODIFIERS[0]))

static const struct modifier *find_modifier(const char *arg, bool whole)
{
    for (size_t i = 0; i < N_MODIFIERS; i++) {
        size_t n = strlen(MODIFIERS[i].text);
        if (strncmp(arg, MODIFIERS[i].text, n) == 0 && (!whole || arg[n] == '\0'))
            return &MODIFIERS[i];
    }
    return NULL;
}

static bool is_regex(enum kp_http_loc_match m)
{
    return m == KP_LOC_REGEX || m == KP_LOC_REGEX_ICASE;
}

static bool is_prefix(enum kp_http_loc_match m)
{
    return m == KP_LOC_PREFIX || m == KP_LOC_PREFIX_STOP;
}

static int compile(struct kp_conf *cf, struct kp_http_loc_conf *l)
{
    return kp_http_regex_compile(cf, l->path, l->match == KP_LOC_REGEX_ICASE, &l->regex);
}

int kp_http_location_parse(struct kp_conf *cf, struct kp_http_loc_conf *l)
{
    const char *path = cf->args[1];
    const struct modifier *m = find_modifier(path, cf->nargs == 3);

    if (cf->nargs == 3) {
        if (m == NULL)
            return kp_conf_error(cf, "invalid location modifier \"%s\"", path);
        path = cf->args[2];
    } else if (m != NULL) {
        path += strlen(m->text);
    }
    l->match = m != NULL ? m->match : KP_LOC_PREFIX;
    l->path = kp_conf_strdup(cf->arena, path);
    l->path_len = strlen(path);
    if (m == NULL && path[0] == '@') {
        l->match = KP_LOC_NAMED;
        return path[1] != '\0' && cf->nargs == 2 ? 0 : kp_conf_invalid(cf, path);
    }
    if (is_regex(l->match))
        return path[0] == '\0' ? kp_conf_invalid(cf, path) : compile(cf, l);
    return path[0] == '/' ? 0 : kp_conf_invalid(cf, path);
}

int kp_http_location_nest(struct kp_conf *cf, const struct kp_http_loc_conf *parent,
                          const struct kp_http_loc_conf *child)
{
    const char *kind = parent->match == KP_LOC_EXACT   ? "exact"
                       : parent->match == KP_LOC_NAMED ? "named"
                                                       : NULL;

    if (kind != NULL)
        return kp_conf_error(cf, "location \"%s\" cannot be inside the %s location \"%s\"",
                             child->path, kind, parent->path);
    if (child->match == KP_LOC_NAMED)
        return kp_conf_error(cf, "named location \"%s\" can be on the server level only",
                             child->path);
    /* A regex inside a prefix is free; a path must extend the parent's. */
    if (!is_regex(child->match) && strncmp(child->path, parent->path, strlen(parent->path)) != 0)
        return kp_conf_error(cf, "location \"%s\" is outside location \"%s\"", child->path,
                             parent->path);
    return 0;
}

bool kp_http_location_same(const struct kp_http_loc_conf *a, const struct kp_http_loc_conf *b)
{
    if (strcmp(a->path, b->path) != 0)
        return false;
    return a->match == b->match || (is_prefix(a->match) && is_prefix(b->match));
}

/* Exact ones first (by path), then prefixes, longest first. */
static int plain_order(const void *a, const void *b)
{
    const struct kp_http_loc_conf *x = *(const struct kp_http_loc_conf *const *)a;
    const struct kp_http_loc_conf *y = *(const struct kp_http_loc_conf *const *)b;
    size_t lx = strlen(x->path), ly = strlen(y->path);

    if ((x->match == KP_LOC_EXACT) != (y->match == KP_LOC_EXACT))
        return x->match == KP_LOC_EXACT ? -1 : 1;
    if (x->match != KP_LOC_EXACT && lx != ly)
        return lx > ly ? -1 : 1;
    return strcmp(x->path, y->path);
}

size_t kp_http_location_order(struct kp_http_loc_conf **v, size_t n)
{
    size_t plain = 0;

    /* A stable partition: the regexes keep their config order. */
    for (size_t i = 0; i < n; i++) {
        if (is_regex(v[i]->match))
            continue;
        struct kp_http_loc_conf *l = v[i];
        memmove(&v[plain + 1], &v[plain], (i - plain) * sizeof(*v));
        v[plain++] = l;
    }
    qsort(v, plain, sizeof(*v), plain_order);
    return plain;
}

/* One level of the location tree: a server's own locations, or the ones
 * nested in a location. */
struct level {
    struct kp_http_loc_conf *const *v;
    size_t n, first_regex;
};

static struct level nested(const struct kp_http_loc_conf *l)
{
    return (struct level){l->locations, l->n_locations, l->first_regex};
}

/* The longest matching prefix, or an exact match; NULL when none. */
static const struct kp_http_loc_conf *find_plain(struct level lv, const char *path, size_t len)
{
    for (size_t i = 0; i < lv.first_regex; i++) {
        const struct kp_http_loc_conf *l = lv.v[i];
        size_t n = l->path_len;
        bool fits = l->match == KP_LOC_EXACT ? n == len : n <= len;
        if (fits && memcmp(l->path, path, n) == 0)
            return l;
    }
    return NULL;
}

/* nginx's search of one level (see the header): *final is set when an
 * exact or a regex location was found, which ends the search of the
 * levels outside. NULL: nothing at this level or below. */
static const struct kp_http_loc_conf *find_level(struct level lv, const char *path, size_t len,
                                                 struct kp_http_request *r, bool *final)
{
    const struct kp_http_loc_conf *best = find_plain(lv, path, len);
    bool noregex = false, inner_final = false;

    if (best != NULL && best->match == KP_LOC_EXACT) {
        *final = true;
        return best;
    }
    if (best != NULL) {
        noregex = best->match == KP_LOC_PREFIX_STOP; /* for this level's regexes only */
        const struct kp_http_loc_conf *inner = find_level(nested(best), path, len, r, &inner_final);
        if (inner_final) {
            *final = true;
            return inner;
        }
        if (inner != NULL)
            best = inner;
    }
    for (size_t i = lv.first_regex; i < lv.n && !noregex; i++) {
        const struct kp_http_loc_conf *re = lv.v[i];
        if (kp_http_regex_exec(r, re->regex, (struct kp_str){path, len}) != 1)
            continue;
        *final = true;
        const struct kp_http_loc_conf *inner = find_level(nested(re), path, len, r, &inner_final);
        return inner != NULL ? inner : re;
    }
    return best;
}

const struct kp_http_loc_conf *kp_http_location_named(const struct kp_http_srv_conf *srv,
                                                      const char *name)
{
    for (size_t i = 0; i < srv->n_named; i++) {
        if (strcmp(srv->named[i]->path, name) == 0)
            return srv->named[i];
    }
    return NULL;
}

const struct kp_http_loc_conf *kp_http_location_find(const struct kp_http_srv_conf *srv,
                                                     const char *path, size_t len,
                                                     struct kp_http_request *r)
{
    struct level top = {srv->locations, srv->n_locations, srv->first_regex};
    bool final = false;
    const struct kp_http_loc_conf *l = find_level(top, path, len, r, &final);

    return l != NULL ? l : srv->loc;
}
