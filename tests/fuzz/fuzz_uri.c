/* libFuzzer target for the URI normaliser. The input is a request path,
 * normalised with slashes merged and unmerged (merge_slashes on and off).
 * Checks the documented guarantee (a result starts with '/', has no NUL,
 * no "." or ".." segment, and merged no "//"), compares the in-place
 * algorithm with a plain segment-stack reference written independently here,
 * and checks that escaping a result and normalising it again gives it
 * back. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/uri.h"

#include "fuzz.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reference: decode into dec, split on '/', keep a stack of segment
 * (start, len) pairs, rebuild. Unmerged, an empty segment other than the
 * last is pushed like any other. Returns the length written to out or -1. */
static ssize_t reference(const char *p, size_t len, char *out, bool merge)
{
    char *dec = kp_alloc(len + 1);
    size_t *seg_s = kp_alloc((len + 1) * sizeof(size_t));
    size_t *seg_l = kp_alloc((len + 1) * sizeof(size_t));
    size_t n = 0, depth = 0, o = 0, plen = 0, last_s = 0;
    ssize_t rc = -1;

    while (plen < len && p[plen] != '?')
        plen++;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            goto out;
    }
    if (plen == 0) {
        memcpy(out, "/", 2);
        rc = 1;
        goto out;
    }
    if (p[0] != '/')
        goto out;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] != '%') {
            dec[n++] = p[i];
            continue;
        }
        if (i + 2 >= plen || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
            goto out;
        dec[n] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
        if (dec[n++] == 0)
            goto out;
        i += 2;
    }
    /* segments after the leading '/' */
    for (size_t s = 1; s <= n; s = last_s + 1) {
        size_t e = s;
        while (e < n && dec[e] != '/')
            e++;
        last_s = e;
        if ((e - s == 0 && (merge || e == n)) || (e - s == 1 && dec[s] == '.'))
            continue;
        if (e - s == 2 && dec[s] == '.' && dec[s + 1] == '.') {
            if (depth == 0)
                goto out;
            depth--;
            continue;
        }
        seg_s[depth] = s;
        seg_l[depth++] = e - s;
    }
    out[o++] = '/';
    for (size_t d = 0; d < depth; d++) {
        memcpy(out + o, dec + seg_s[d], seg_l[d]);
        o += seg_l[d];
        if (d + 1 < depth)
            out[o++] = '/';
    }
    /* a trailing '/', ".", or ".." leaves the path ending in '/' */
    if (depth > 0 && (dec[n - 1] == '/' || (n >= 2 && dec[n - 1] == '.' && dec[n - 2] == '/') ||
                      (n >= 3 && dec[n - 1] == '.' && dec[n - 2] == '.' && dec[n - 3] == '/')))
        out[o++] = '/';
    out[o] = '\0';
    rc = (ssize_t)o;
out:
    kp_free(dec);
    kp_free(seg_s);
    kp_free(seg_l);
    return rc;
}

static void check_result(struct kp_str in, const char *out, ssize_t n, struct kp_str q, bool merge)
{
    struct kp_str res = {out, (size_t)n};

    CHECK(out[0] == '/' && out[n] == '\0');
    CHECK(memchr(out, '\0', (size_t)n) == NULL);
    CHECK(kp_http_uri_no_dot_segments(res));
    CHECK(!merge || (kp_http_uri_is_safe(res) && strstr(out, "//") == NULL));
    CHECK(strstr(out, "/./") == NULL && strstr(out, "/../") == NULL);
    CHECK(!(n >= 2 && memcmp(out + n - 2, "/.", 2) == 0));
    CHECK(!(n >= 3 && memcmp(out + n - 3, "/..", 3) == 0));
    /* the query is the raw tail of the input after the first '?' */
    if (q.len > 0) {
        CHECK(q.p > in.p && q.p[-1] == '?' && q.p + q.len == in.p + in.len);
        CHECK(memchr(in.p, '?', (size_t)(q.p - 1 - in.p)) == NULL);
    } else {
        CHECK(q.p >= in.p && q.p <= in.p + in.len);
    }
}

/* escape(result) normalises back to result. */
static void check_roundtrip(const char *out, ssize_t n, bool merge)
{
    struct kp_str res = {out, (size_t)n}, q;
    size_t esize = kp_http_uri_escape_size(res);
    char *esc = kp_alloc(esize), *back = kp_alloc(esize + 2);
    ssize_t e = kp_http_uri_escape(res, esc, esize);

    CHECK(e >= n && (size_t)e + 1 == esize);
    CHECK(kp_http_uri_normalize((struct kp_str){esc, (size_t)e}, back, esize + 2, &q, merge) == n);
    CHECK(memcmp(back, out, (size_t)n + 1) == 0 && q.len == 0);
    kp_free(esc);
    kp_free(back);
}

static void run(struct kp_str target, bool merge)
{
    /* exact-size copies, so that writing past the end is caught */
    char *out = kp_alloc(target.len + 2), *ref = kp_alloc(target.len + 2);
    struct kp_str q;
    ssize_t n = kp_http_uri_normalize(target, out, target.len + 2, &q, merge);
    ssize_t r = reference(target.p, target.len, ref, merge);

    CHECK(n == -EINVAL || n >= 0);
    CHECK((n < 0) == (r < 0));
    if (n >= 0) {
        CHECK(n == r && memcmp(out, ref, (size_t)n + 1) == 0);
        check_result(target, out, n, q, merge);
        check_roundtrip(out, n, merge);
    }
    kp_free(out);
    kp_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that reading past the end is caught */
    char *in = kp_alloc(size);

    memcpy(in, data, size);
    run((struct kp_str){in, size}, true);
    run((struct kp_str){in, size}, false);
    kp_free(in);
    return 0;
}
