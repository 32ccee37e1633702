/* Locations within a server: the `location` modifiers, their order, and the
 * choice of a location for a request path, as nginx makes it:
 *
 *   location = /p   exact: only the path /p; chosen at once;
 *   location ^~ /p  prefix: when it is the longest matching prefix, no
 *                   regex of its level is tried;
 *   location /p     prefix: the longest matching prefix is remembered;
 *   location ~ RE   regex, case-sensitive; location ~* RE case-insensitive:
 *                   tried in config order after the prefixes, the first
 *                   match wins over the remembered prefix;
 *   otherwise       the remembered prefix, else the server level.
 *
 *   location @name  named: never chosen by a path, only as the target of
 *                   try_files' last argument or of error_page.
 *
 * Locations nest. A prefix or exact location inside another one must
 * extend its path ("/a/b" inside "/a"); a regex may be inside any prefix
 * or regex location; nothing goes inside an exact or a named location, and
 * a named one only on the server level. The search descends: the longest
 * prefix of a level is searched again among its own locations (prefixes,
 * then its regexes), and only when that finds no exact or regex match are
 * the regexes of the outer level tried (unless the outer prefix was ^~). A
 * regex that matches is searched the same way for nested locations.
 *
 * Regexes are PCRE2's (http/regex.h), matched against the decoded,
 * normalised path, without the query; the captures of the one that is
 * chosen become $1 ... and its named captures variables. */
#ifndef KP_LOCATION_H
#define KP_LOCATION_H

#include <stddef.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/conf.h"

/* Fill l->path, l->match and l->regex from the arguments of a `location`
 * directive (cf->args[1..], one or two: "[MODIFIER] PATH", the modifier may
 * also be glued to the path as in "=/p" or "~\.png$"). A regex is compiled
 * here and freed with cf->arena. Returns 0 or kp_conf_error's -EINVAL. */
int kp_http_location_parse(struct kp_conf *cf, struct kp_http_loc_conf *l);

/* Check that child (parsed) may be nested in parent, with nginx's errors:
 * `location "/b" is outside location "/a"`, `location "/x" cannot be
 * inside the exact location "/a"` (or "named location"), and `named
 * location "@n" can be on the server level only`. Returns 0 or -EINVAL. */
int kp_http_location_nest(struct kp_conf *cf, const struct kp_http_loc_conf *parent,
                          const struct kp_http_loc_conf *child);

/* Whether a and b are the same location (a duplicate in one server): the
 * same exact path, the same prefix (with or without ^~), or the same
 * regex with the same case rule. */
bool kp_http_location_same(const struct kp_http_loc_conf *a, const struct kp_http_loc_conf *b);

/* Order v (n locations of one level, in config order on entry) for
 * kp_http_location_find: exact ones (sorted by path), then prefixes from
 * the longest to the shortest, then regexes in config order. Returns the
 * index of the first regex (n when there is none). */
size_t kp_http_location_order(struct kp_http_loc_conf **v, size_t n);

struct kp_http_request;

/* The named location ("@name", '@' included) of srv, or NULL. */
const struct kp_http_loc_conf *kp_http_location_named(const struct kp_http_srv_conf *srv,
                                                      const char *name);

/* The location for a request path of len bytes (need not be
 * NUL-terminated), chosen as described above, nested locations included. Never NULL: srv->loc when
 * no location matches. With r (may be NULL), the captures of the regex that matched are kept in r
 * (path must then live as long as r's arena). */
const struct kp_http_loc_conf *kp_http_location_find(const struct kp_http_srv_conf *srv,
                                                     const char *path, size_t len,
                                                     struct kp_http_request *r);

#endif
