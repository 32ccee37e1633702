/* Location modifiers, order and lookup (see location.h). Regexes are the C
 * library's POSIX EREs: nginx configurations are written for PCRE, so the
 * PCRE spellings whose meaning an ERE can express are rewritten, and those
 * it cannot are refused with the file and line instead of matching
 * something else. */
#include "kelpie/http/location.h"

#include <stdlib.h>
#include <string.h>

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

static char *put(char *dst, const char *s)
{
    size_t n = strlen(s);

    memcpy(dst, s, n);
    return dst + n;
}

/* PCRE's \d and \D, which ERE lacks; glibc's ERE knows \w \W \s \S \b \B and
 * backslashed punctuation, which are kept as written. */
static const char *digit_class(char c, bool bracket)
{
    if (c == 'd')
        return bracket ? "0-9" : "[0-9]";
    return c == 'D' && !bracket ? "[^0-9]" : NULL;
}

/* Inside [...]: PCRE escapes there, ERE takes a backslash literally. */
static const char *bracket_escape(const char **pp, char **dp)
{
    const char *p = *pp;
    const char *digits = digit_class(p[1], true);

    if (strchr("]^-", p[1]) != NULL)
        return "an escaped ']', '^' or '-' in a bracket expression";
    if (digits != NULL)
        *dp = put(*dp, digits);
    else
        *(*dp)++ = p[1];
    *pp = p + 1;
    return NULL;
}

/* Copy the start of a bracket expression, where '^' and a first ']' are
 * not what they are elsewhere. */
static void bracket_open(const char **pp, char **dp)
{
    const char *p = *pp;
    char *d = *dp;

    *d++ = *p++;
    if (*p == '^')
        *d++ = *p++;
    if (*p == ']')
        *d++ = *p++;
    *pp = p - 1;
    *dp = d;
}

/* Rewrite the PCRE-style pattern src into the ERE dst (at least 6 *
 * strlen(src) + 1 bytes). Returns NULL, or what cannot be expressed. */
static const char *to_ere(const char *src, char *dst)
{
    bool bracket = false;
    const char *bad = NULL;

    for (const char *p = src; *p != '\0' && bad == NULL; p++) {
        if (bracket && p[0] == '\\' && p[1] != '\0') {
            bad = bracket_escape(&p, &dst);
        } else if (bracket) {
            bracket = *p != ']';
            *dst++ = *p;
        } else if (p[0] == '[') {
            bracket = true;
            bracket_open(&p, &dst);
        } else if (p[0] == '(' && p[1] == '?') {
            bad = "PCRE \"(?...)\" groups";
        } else if (p[0] == '\\' && p[1] != '\0') {
            const char *digits = digit_class(p[1], false);
            if (digits != NULL)
                dst = put(dst, digits);
            else
                dst = put(put(dst, "\\"), (char[]){p[1], '\0'});
            p++;
        } else if (p[0] != '?' || p == src || strchr("*+?}", p[-1]) == NULL) {
            *dst++ = *p;
        }
        /* else a lazy quantifier's '?': lazy or greedy, the same paths match */
    }
    *dst = '\0';
    return bad;
}

static void free_regex(void *re)
{
    regfree(re);
}

static int compile(struct kp_conf *cf, struct kp_http_loc_conf *l)
{
    char *ere = kp_arena_alloc(cf->arena, 6 * strlen(l->path) + 1);
    const char *bad = to_ere(l->path, ere);
    int flags = REG_EXTENDED | REG_NOSUB | (l->match == KP_LOC_REGEX_ICASE ? REG_ICASE : 0);
    char msg[128];

    if (bad != NULL)
        return kp_conf_error(cf, "regex \"%s\" uses %s, which POSIX regular expressions lack",
                             l->path, bad);
    l->regex = kp_arena_alloc(cf->arena, sizeof(*l->regex));
    int rc = regcomp(l->regex, ere, flags);
    if (rc != 0) {
        regerror(rc, l->regex, msg, sizeof(msg));
        return kp_conf_error(cf, "invalid regex \"%s\": %s", l->path, msg);
    }
    kp_arena_cleanup_add(cf->arena, free_regex, l->regex);
    return 0;
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
    if (is_regex(l->match))
        return path[0] == '\0' ? kp_conf_invalid(cf, path) : compile(cf, l);
    return path[0] == '/' ? 0 : kp_conf_invalid(cf, path);
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

void kp_http_location_order(struct kp_http_srv_conf *srv)
{
    struct kp_http_loc_conf **v = srv->locations;
    size_t n = srv->n_locations, plain = 0;

    /* A stable partition: the regexes keep their config order. */
    for (size_t i = 0; i < n; i++) {
        if (is_regex(v[i]->match))
            continue;
        struct kp_http_loc_conf *l = v[i];
        memmove(&v[plain + 1], &v[plain], (i - plain) * sizeof(*v));
        v[plain++] = l;
    }
    qsort(v, plain, sizeof(*v), plain_order);
    srv->first_regex = plain;
}

/* The longest matching prefix, or an exact match; NULL when none. */
static const struct kp_http_loc_conf *find_plain(const struct kp_http_srv_conf *srv,
                                                 const char *path, size_t len)
{
    for (size_t i = 0; i < srv->first_regex; i++) {
        const struct kp_http_loc_conf *l = srv->locations[i];
        size_t n = strlen(l->path);
        bool fits = l->match == KP_LOC_EXACT ? n == len : n <= len;
        if (fits && memcmp(l->path, path, n) == 0)
            return l;
    }
    return NULL;
}

static bool regex_matches(const struct kp_http_loc_conf *l, const char *path, size_t len)
{
    /* REG_STARTEND bounds the subject, so path needs no terminating NUL. */
    regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)len};

    return regexec(l->regex, path, 1, &range, REG_STARTEND) == 0;
}

const struct kp_http_loc_conf *kp_http_location_find(const struct kp_http_srv_conf *srv,
                                                     const char *path, size_t len)
{
    const struct kp_http_loc_conf *best = find_plain(srv, path, len);

    if (best != NULL && best->match != KP_LOC_PREFIX)
        return best; /* exact, or ^~ */
    for (size_t i = srv->first_regex; i < srv->n_locations; i++) {
        if (regex_matches(srv->locations[i], path, len))
            return srv->locations[i];
    }
    return best != NULL ? best : srv->loc;
}
