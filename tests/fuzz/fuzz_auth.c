/* libFuzzer target for what a client or an operator hands auth_basic: the
 * input is read both as a password file (http/htpasswd.h) and as an
 * Authorization field value (http/auth.h). Checks that every entry is a
 * slice of the input with a non-empty user and no line end or ':' where
 * the format forbids one, that the decoder agrees with a reference base64
 * decoder written independently here, and that the password checks of
 * kelpie's own formats run on any field (crypt(3) is left out: a fuzzed
 * bcrypt cost could take hours). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/auth.h"
#include "kelpie/http/htpasswd.h"

#include "fuzz.h"

static bool within(struct kp_str s, const char *text, size_t len)
{
    return s.p >= text && s.p + s.len <= text + len;
}

static void check_file(const char *text, size_t len)
{
    size_t max = kp_htpasswd_max_entries(text, len);
    struct kp_htpasswd_entry *v = kp_alloc(max * sizeof(*v));
    size_t n = kp_htpasswd_parse(text, len, v, NULL, NULL);

    CHECK(n <= max);
    for (size_t i = 0; i < n; i++) {
        CHECK(within(v[i].user, text, len) && within(v[i].hash, text, len));
        CHECK(v[i].user.len > 0 && v[i].user.p[0] != '#');
        CHECK(memchr(v[i].user.p, ':', v[i].user.len) == NULL);
        CHECK(memchr(v[i].user.p, '\n', v[i].user.len) == NULL);
        CHECK(memchr(v[i].hash.p, ':', v[i].hash.len) == NULL);
        CHECK(memchr(v[i].hash.p, '\n', v[i].hash.len) == NULL);
        CHECK(v[i].user.len + v[i].hash.len < KP_HTPASSWD_MAX_LINE + 2);
        CHECK(kp_htpasswd_find(v, n, v[i].user) <= &v[i]);
        struct kp_str h = v[i].hash;
        if (kp_str_has_prefix(h, KP_STR("{PLAIN}"))) {
            /* The password itself matches (up to a NUL, as crypt(3) reads
             * it); one byte more never does. */
            char *pw = kp_alloc(h.len + 2);
            memcpy(pw, h.p + 7, h.len - 7);
            pw[h.len - 7] = '\0';
            CHECK(kp_htpasswd_verify(pw, h) == (memchr(h.p, '\0', h.len) == NULL));
            memcpy(pw + h.len - 7, "x", 2);
            CHECK(!kp_htpasswd_verify(pw, h));
            kp_free(pw);
        } else if (kp_str_has_prefix(h, KP_STR("{")) || kp_str_has_prefix(h, KP_STR("$apr1$"))) {
            /* kelpie's own formats take any field without harm. */
            char *pw = kp_strndup(h.p, h.len);
            (void)kp_htpasswd_verify(pw, h);
            kp_free(pw);
        }
    }
    kp_free(v);
}

static int b64val(unsigned char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c != 0 ? strchr(a, c) : NULL;
    return p != NULL ? (int)(p - a) : -1;
}

/* Reference: decode 4 characters to 3 bytes at a time, up to '='. */
static long reference(const char *in, size_t len, unsigned char *out)
{
    size_t chars = 0, n = 0;
    int q[4];

    while (chars < len && in[chars] != '=')
        chars++;
    if (chars % 4 == 1)
        return -1;
    for (size_t i = 0; i < chars; i += 4) {
        size_t k = chars - i < 4 ? chars - i : 4;
        for (size_t j = 0; j < 4; j++) {
            q[j] = j < k ? b64val((unsigned char)in[i + j]) : 0;
            if (q[j] < 0)
                return -1;
        }
        unsigned long v = (unsigned long)q[0] << 18 | (unsigned long)q[1] << 12 |
                          (unsigned long)q[2] << 6 | (unsigned long)q[3];
        for (size_t j = 0; j + 1 < k; j++)
            out[n++] = (unsigned char)(v >> (16 - 8 * j));
    }
    return (long)n;
}

static void check_header(const char *value, size_t len)
{
    char *out = kp_alloc(len + 1);
    unsigned char *ref = kp_alloc(len + 1);
    struct kp_str user, pw;
    bool ok = kp_http_auth_basic_decode((struct kp_str){value, len}, out, &user, &pw);
    size_t i = 6;

    bool basic = len >= 6 && strncasecmp(value, "Basic ", 6) == 0;
    while (basic && i < len && value[i] == ' ')
        i++;
    long n = basic && i < len ? reference(value + i, len - i, ref) : -1;
    const unsigned char *colon = n > 0 ? memchr(ref, ':', (size_t)n) : NULL;
    CHECK(ok == (colon != NULL && colon != ref));
    if (ok) {
        CHECK(user.p == out && user.len == (size_t)(colon - ref));
        CHECK(memcmp(user.p, ref, user.len) == 0);
        CHECK(pw.len == (size_t)n - user.len - 1 && pw.p[pw.len] == '\0');
        CHECK(memcmp(pw.p, colon + 1, pw.len) == 0);
    }
    kp_free(out);
    kp_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that reading past the end is caught */
    char *in = kp_alloc(size);

    memcpy(in, data, size);
    check_file(in, size);
    check_header(in, size);
    kp_free(in);
    return 0;
}
