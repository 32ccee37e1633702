/* Extension -> MIME type lookup over the configuration's sorted types table. */
#include "kelpie/http/mime.h"

#include <stdlib.h>
#include <string.h>

struct kp_str kp_http_mime_ext(struct kp_str path)
{
    /* Scan backwards: the last '.' wins, a '/' means the last segment has
     * no extension. */
    for (size_t i = path.len; i > 0; i--) {
        char ch = path.p[i - 1];
        if (ch == '/')
            break;
        if (ch == '.')
            return (struct kp_str){path.p + i, path.len - i};
    }
    return (struct kp_str){path.p, 0};
}

static int cmp_type(const void *key, const void *elem)
{
    const struct kp_http_type *t = elem;
    return strcmp(key, t->ext);
}

const char *kp_http_mime_lookup(const struct kp_http_types *types, struct kp_str ext)
{
    char lower[KP_HTTP_MIME_MAX_EXT + 1];

    if (types == NULL || types->n == 0 || ext.len == 0 || ext.len > KP_HTTP_MIME_MAX_EXT)
        return NULL;
    /* The table holds lowercase extensions, so lowering the key makes the
     * lookup case-insensitive without a custom collation. */
    for (size_t i = 0; i < ext.len; i++)
        lower[i] = kp_str_lower(ext.p[i]);
    lower[ext.len] = '\0';
    const struct kp_http_type *t =
        bsearch(lower, types->v, types->n, sizeof(types->v[0]), cmp_type);
    return t != NULL ? t->type : NULL;
}

struct kp_str kp_http_mime_type(const struct kp_http_loc_conf *loc, struct kp_str path)
{
    const char *type = kp_http_mime_lookup(loc->types, kp_http_mime_ext(path));

    if (type == NULL)
        type = loc->default_type;
    return type != NULL ? kp_str_from(type) : (struct kp_str){"", 0};
}
