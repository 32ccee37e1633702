/* Request-path normalisation (see kelpie/http/uri.h): decode first, then
 * resolve dot segments on the decoded bytes, so that no encoding trick can
 * produce a path that climbs above the document root. */
#include "kelpie/http/uri.h"

#include <errno.h>
#include <string.h>

#include "kelpie/util/str.h"

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Percent-decode p[0..len) into out (which may not overlap p); returns the
 * decoded length or -EINVAL. */
static ssize_t decode(const char *p, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (is_control(c))
            return -EINVAL;
        if (c == '%') {
            if (len - i < 3 || !kp_str_is_hex((unsigned char)p[i + 1]) ||
                !kp_str_is_hex((unsigned char)p[i + 2]))
                return -EINVAL;
            c = (unsigned char)(kp_str_hex_value((unsigned char)p[i + 1]) << 4 |
                                kp_str_hex_value((unsigned char)p[i + 2]));
            /* a NUL would truncate the path at open() */
            if (c == 0)
                return -EINVAL;
            i += 2;
        }
        out[n++] = (char)c;
    }
    return (ssize_t)n;
}

/* Resolve "." and ".." (RFC 3986 section 5.2.4) in place on b[0..n), which
 * starts with '/', merging repeated slashes when merge is set. Unmerged, an
 * empty segment is a segment like any other: ".." removes it ("/a//.." is
 * "/a/"), so it climbs no further than a named one would. The output never
 * outruns the input, so one buffer serves both. Returns the new length or
 * -EINVAL when ".." would leave the root. */
static ssize_t remove_dots(char *b, size_t n, bool merge)
{
    size_t r = 0, w = 1; /* b[0] is the root '/'; b[w - 1] is always '/' here */

    while (r < n) {
        /* the separator: one slash, or all of a run when merging */
        r++;
        while (merge && r < n && b[r] == '/')
            r++;
        size_t s = r;
        while (r < n && b[r] != '/')
            r++;
        size_t len = r - s;
        if ((len == 0 && (merge || r == n)) || (len == 1 && b[s] == '.'))
            continue;
        if (len == 2 && b[s] == '.' && b[s + 1] == '.') {
            if (w == 1)
                return -EINVAL;
            /* drop the last segment and keep its leading '/' */
            for (w--; b[w - 1] != '/'; w--)
                ;
            continue;
        }
        memmove(b + w, b + s, len);
        w += len;
        if (r < n)
            b[w++] = '/';
    }
    return (ssize_t)w;
}

/* Whether decoding and remove_dots would leave p[0..n) (which starts with
 * '/') as it is: no escape, no control, and no segment that is empty or
 * starts with a dot (so none is "." or ".."). Most request paths are; they
 * are copied as they are. */
static bool plain_path(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        /* letters and digits in two comparisons: all the rest is below */
        if (c > '/' && c != 0x7f)
            continue;
        if (c == '%' || is_control(c))
            return false;
        if (c == '/' && i + 1 < n && (p[i + 1] == '/' || p[i + 1] == '.'))
            return false;
    }
    return true;
}

ssize_t kp_http_uri_normalize(struct kp_str target, char *out, size_t size, struct kp_str *query,
                              bool merge_slashes)
{
    const char *q = target.len ? memchr(target.p, '?', target.len) : NULL;
    size_t plen = q ? (size_t)(q - target.p) : target.len;
    ssize_t n;

    *query = q ? (struct kp_str){q + 1, target.len - plen - 1}
               : (struct kp_str){target.p + target.len, 0};
    for (size_t i = 0; i < query->len; i++) {
        if (is_control((unsigned char)query->p[i]))
            return -EINVAL;
    }
    if (plen == 0) {
        if (size < 2)
            return -ENOSPC;
        memcpy(out, "/", 2);
        return 1;
    }
    if (target.p[0] != '/')
        return -EINVAL;
    if (size < plen + 1)
        return -ENOSPC;
    if (plain_path(target.p, plen)) {
        memcpy(out, target.p, plen);
        out[plen] = '\0';
        return (ssize_t)plen;
    }
    n = decode(target.p, plen, out);
    if (n < 0)
        return n;
    n = remove_dots(out, (size_t)n, merge_slashes);
    if (n < 0)
        return n;
    out[n] = '\0';
    return n;
}

/* Bytes that may stand unescaped in a path: unreserved, sub-delims, ':',
 * '@' (RFC 3986 section 3.3) and '/'. */
static bool is_path_safe(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

size_t kp_http_uri_escape_size(struct kp_str path)
{
    size_t n = 1;

    for (size_t i = 0; i < path.len; i++)
        n += is_path_safe((unsigned char)path.p[i]) ? 1 : 3;
    return n;
}

ssize_t kp_http_uri_escape(struct kp_str path, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (size < kp_http_uri_escape_size(path))
        return -ENOSPC;
    for (size_t i = 0; i < path.len; i++) {
        unsigned char c = (unsigned char)path.p[i];

        if (is_path_safe(c)) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        }
    }
    out[n] = '\0';
    return (ssize_t)n;
}

/* Both checks of a path: every segment but "." and ".."; an empty one only
 * when allowed. */
static bool segments_ok(struct kp_str path, bool empty_ok)
{
    size_t i = 1;

    if (path.len == 0 || path.p[0] != '/' || memchr(path.p, '\0', path.len) != NULL)
        return false;
    while (i < path.len) {
        size_t s = i;
        while (i < path.len && path.p[i] != '/')
            i++;
        size_t len = i - s;
        if ((len == 0 && !empty_ok) || (len == 1 && path.p[s] == '.') ||
            (len == 2 && path.p[s] == '.' && path.p[s + 1] == '.'))
            return false;
        i++;
    }
    return true;
}

bool kp_http_uri_is_safe(struct kp_str path)
{
    return segments_ok(path, false);
}

bool kp_http_uri_no_dot_segments(struct kp_str path)
{
    return segments_ok(path, true);
}
