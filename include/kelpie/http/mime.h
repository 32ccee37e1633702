/* Content-Type selection for static files: the file name's extension looked
 * up in a `types { }` table, with `default_type` as the fallback. Pure
 * functions, no allocation. */
#ifndef KP_MIME_H
#define KP_MIME_H

#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"

/* Longest extension looked up; a longer one never matches (no configured
 * extension is that long in practice, and it bounds the lowercase copy). */
#define KP_HTTP_MIME_MAX_EXT 64

/* The extension of path: the bytes after the last '.' of its last segment
 * (after the last '/'). Empty when the segment has no '.', or ends in one. A
 * leading dot counts, so "/.htaccess" has the extension "htaccess". */
struct kp_str kp_http_mime_ext(struct kp_str path);

/* The type for extension ext (compared case-insensitively) in types, whose
 * entries are lowercase and sorted by ext in strcmp order. Returns the
 * NUL-terminated type, or NULL when types is NULL, ext is empty or too long,
 * or nothing matches. */
const char *kp_http_mime_lookup(const struct kp_http_types *types, struct kp_str ext);

/* The Content-Type for path under a location: the lookup of its extension in
 * loc->types, else loc->default_type. The slice is NUL-terminated and lives
 * as long as the configuration; it is empty if default_type is NULL. */
struct kp_str kp_http_mime_type(const struct kp_http_loc_conf *loc, struct kp_str path);

#endif
