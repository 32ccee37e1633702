/* Request-path decoding and normalisation, and the reverse escaping for
 * Location headers. Pure functions, no allocation.
 *
 * Guarantee (checked by kp_http_uri_is_safe / kp_http_uri_no_dot_segments
 * and asserted by the fuzzer): a path produced by kp_http_uri_normalize
 * starts with '/', contains no NUL and no "." or ".." segment, and, when
 * slashes are merged, no "//". It can therefore be appended to a document
 * root without ever leaving it. */
#ifndef KP_URI_H
#define KP_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kelpie/util/str.h"

/* Decode and normalise target = abs-path ["?" query] (the parser's
 * head.path). The query is split off first, at the first '?', and returned
 * raw (not decoded, '?' excluded; empty if none) in *query as a slice of
 * target. The path is then percent-decoded (a decoded "%2F" separates
 * segments like '/': decoding happens before normalisation, so "%2e%2e%2f"
 * cannot climb), repeated slashes are merged when merge_slashes is set
 * (nginx's merge_slashes on, its default) and "." / ".." segments resolved
 * as in RFC 3986 section 5.2.4; a trailing "." or ".." leaves a trailing
 * '/'. Unmerged, an empty segment counts as one: ".." removes it, as nginx
 * does with merge_slashes off ("/a//../b" is "/a/b", "//.." is "/"). An empty path (absolute-form
 * target without one) means "/" (RFC 9110 section 4.2.3).
 *
 * Writes the result NUL-terminated into out (size bytes; target.len + 2
 * always suffices; out must not overlap target). Returns its length (without the NUL), -EINVAL for
 * a path not starting with '/', an invalid escape ("%", "%G1", "%4"), an encoded NUL, a raw control
 * character, or a ".." above the root (all 400), or -ENOSPC if out is too small. */
ssize_t kp_http_uri_normalize(struct kp_str target, char *out, size_t size, struct kp_str *query,
                              bool merge_slashes);

/* Bytes kp_http_uri_escape needs for path, NUL included. */
size_t kp_http_uri_escape_size(struct kp_str path);

/* Percent-encode a decoded path for a Location header: every byte other than
 * unreserved, sub-delims, ':', '@' and '/' becomes %XX (uppercase hex).
 * Writes a NUL-terminated string into out; returns its length or -ENOSPC. */
ssize_t kp_http_uri_escape(struct kp_str path, char *out, size_t size);

/* path starts with '/' and contains no NUL, no "//", no "." or ".."
 * segment. */
bool kp_http_uri_is_safe(struct kp_str path);

/* path starts with '/' and contains no NUL and no "." or ".." segment;
 * empty segments ("//") are allowed: what a value built from variables (an
 * alias, a rewritten URI) must be so that it cannot climb out of where it
 * starts, whatever the symlink checks. */
bool kp_http_uri_no_dot_segments(struct kp_str path);

#endif
