/* Host name patterns (see hostmatch.h). Lists are short (a block's
 * valid_referers, a map, the names on one address) and are searched in
 * full; nginx's label-by-label hash gives the same answers, since every
 * wildcard matching a host ends (or starts) at a label of it. */
#include "kelpie/http/hostmatch.h"

#include <stdint.h>
#include <string.h>

/* Leading wildcards rank above every trailing one. */
#define HEAD_RANK (SIZE_MAX / 2)

/* kp_http_hostmatch_parse() and _rank() wrap parse() and rank(), which the
 * per-request functions of this file (rank_name, take_names) have inline. */
static struct kp_http_hostmatch parse(struct kp_str name)
{
    const char *s = name.p;
    size_t n = name.len;

    if (n > 1 && s[0] == '.')
        return (struct kp_http_hostmatch){name, KP_HTTP_HOSTMATCH_DOT, NULL};
    if (n > 2 && s[0] == '*' && s[1] == '.')
        return (struct kp_http_hostmatch){{s + 1, n - 1}, KP_HTTP_HOSTMATCH_STAR, NULL};
    if (n > 2 && s[n - 2] == '.' && s[n - 1] == '*')
        return (struct kp_http_hostmatch){{s, n - 1}, KP_HTTP_HOSTMATCH_TAIL, NULL};
    return (struct kp_http_hostmatch){name, KP_HTTP_HOSTMATCH_EXACT, NULL};
}

struct kp_http_hostmatch kp_http_hostmatch_parse(struct kp_str name)
{
    return parse(name);
}

bool kp_http_hostmatch_valid(struct kp_str name)
{
    size_t stars = 0;

    for (size_t i = 0; i < name.len; i++) {
        stars += name.p[i] == '*';
        if (i + 1 < name.len && name.p[i] == '.' && name.p[i + 1] == '.')
            return false;
    }
    return stars == 0 || (stars == 1 && parse(name).form != KP_HTTP_HOSTMATCH_EXACT);
}

/* Whether the n bytes at h are key's (lowercase), h in any case. */
static bool same(const char *h, const char *key, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (kp_str_lower(h[i]) != key[i])
            return false;
    }
    return true;
}

/* Whether host ends with k (lowercase). */
static bool ends(struct kp_str host, struct kp_str k)
{
    return host.len >= k.len && same(host.p + host.len - k.len, k.p, k.len);
}

static size_t rank(const struct kp_http_hostmatch *p, struct kp_str host)
{
    struct kp_str k = p->key;

    switch (p->form) {
    case KP_HTTP_HOSTMATCH_EXACT:
        return host.len == k.len && same(host.p, k.p, k.len) ? SIZE_MAX : 0;
    case KP_HTTP_HOSTMATCH_DOT:
        /* ".x": the names under x, and x itself */
        return ends(host, k) || (host.len == k.len - 1 && same(host.p, k.p + 1, host.len))
                   ? HEAD_RANK + k.len
                   : 0;
    case KP_HTTP_HOSTMATCH_STAR:
        return ends(host, k) ? HEAD_RANK + k.len : 0;
    case KP_HTTP_HOSTMATCH_TAIL:
        return host.len >= k.len && same(host.p, k.p, k.len) ? k.len : 0;
    }
    return 0;
}

size_t kp_http_hostmatch_rank(const struct kp_http_hostmatch *p, struct kp_str host)
{
    return rank(p, host);
}

size_t kp_http_hostmatch_rank_name(const char *name, struct kp_str host,
                                   struct kp_http_hostmatch *p)
{
    /* An exact or trailing pattern starts as host does; the leading ones
     * start with '.' or '*'. */
    if (name[0] != '.' && name[0] != '*' && host.len > 0 && name[0] != kp_str_lower(host.p[0]))
        return 0;
    struct kp_http_hostmatch m = parse((struct kp_str){name, strlen(name)});
    size_t r = rank(&m, host);
    if (r > 0)
        *p = m;
    return r;
}

/* The name a head pattern or an exact one is about: x of "x", ".x", "*.x". */
static struct kp_str stem(const struct kp_http_hostmatch *p)
{
    bool head = p->form == KP_HTTP_HOSTMATCH_DOT || p->form == KP_HTTP_HOSTMATCH_STAR;
    return (struct kp_str){p->key.p + head, p->key.len - head};
}

void kp_http_hostmatch_take(struct kp_http_hostmatch_taken *t, const struct kp_http_hostmatch *p,
                            const struct kp_http_hostmatch *earlier)
{
    bool tail = earlier->form == KP_HTTP_HOSTMATCH_TAIL;

    /* Trailing patterns are a table of their own, as in nginx. */
    if (tail != (p->form == KP_HTTP_HOSTMATCH_TAIL))
        return;
    if (tail) {
        t->start |= kp_str_eq(earlier->key, p->key);
        return;
    }
    if (!kp_str_eq(stem(earlier), stem(p)))
        return;
    switch (earlier->form) {
    case KP_HTTP_HOSTMATCH_EXACT:
        t->name = true;
        break;
    case KP_HTTP_HOSTMATCH_DOT:
        /* nginx takes the name first, then (if it got it) the names under it */
        if (!t->name)
            t->name = t->under = true;
        break;
    default:
        t->under = true;
        break;
    }
}

/* The first character of what the pattern spelled name is about: its
 * stem (see stem()), or for a trailing pattern its key. */
static char stem_first(const char *name)
{
    if (name[0] == '.' && name[1] != '\0')
        return name[1];
    if (name[0] == '*' && name[1] == '.' && name[2] != '\0')
        return name[2];
    return name[0];
}

void kp_http_hostmatch_take_names(struct kp_http_hostmatch_taken *t,
                                  const struct kp_http_hostmatch *p, char *const *names, size_t n)
{
    bool head = p->form == KP_HTTP_HOSTMATCH_DOT || p->form == KP_HTTP_HOSTMATCH_STAR;
    char first = p->key.len > (size_t)head ? p->key.p[head] : '\0';

    for (size_t i = 0; i < n; i++) {
        if (stem_first(names[i]) != first)
            continue;
        struct kp_http_hostmatch e = parse((struct kp_str){names[i], strlen(names[i])});
        kp_http_hostmatch_take(t, p, &e);
    }
}

bool kp_http_hostmatch_free(const struct kp_http_hostmatch_taken *t,
                            const struct kp_http_hostmatch *p)
{
    switch (p->form) {
    case KP_HTTP_HOSTMATCH_EXACT:
        return !t->name;
    case KP_HTTP_HOSTMATCH_DOT:
        return !t->name && !t->under;
    case KP_HTTP_HOSTMATCH_STAR:
        return !t->under;
    case KP_HTTP_HOSTMATCH_TAIL:
        return !t->start;
    }
    return false;
}

bool kp_http_hostmatch_conflicts(const struct kp_http_hostmatch *list, size_t n,
                                 const struct kp_http_hostmatch *p)
{
    struct kp_http_hostmatch_taken t = {false, false, false};

    for (size_t i = 0; i < n; i++)
        kp_http_hostmatch_take(&t, p, &list[i]);
    return !kp_http_hostmatch_free(&t, p);
}

const struct kp_http_hostmatch *kp_http_hostmatch_find(const struct kp_http_hostmatch *list,
                                                       size_t n, struct kp_str host)
{
    const struct kp_http_hostmatch *best = NULL;
    size_t best_rank = 0;

    for (size_t i = 0; i < n && best_rank != SIZE_MAX; i++) {
        size_t r = rank(&list[i], host);
        if (r > best_rank) {
            best = &list[i];
            best_rank = r;
        }
    }
    return best;
}
