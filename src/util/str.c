/* String slice helpers. */
#include "kelpie/util/str.h"

#include <errno.h>
#include <string.h>

#include "kelpie/util/alloc.h"

struct kp_str kp_str_from(const char *s)
{
    return (struct kp_str){s, s ? strlen(s) : 0};
}

bool kp_str_eq(struct kp_str a, struct kp_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool kp_str_caseeq(struct kp_str a, struct kp_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        if (kp_str_lower(a.p[i]) != kp_str_lower(b.p[i]))
            return false;
    }
    return true;
}

bool kp_str_caseeq_cstr(struct kp_str a, const char *b)
{
    return kp_str_caseeq(a, kp_str_from(b));
}

bool kp_str_has_prefix(struct kp_str s, struct kp_str prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.p, prefix.p, prefix.len) == 0);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

struct kp_str kp_str_trim_ows(struct kp_str s)
{
    while (s.len > 0 && is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
}

int kp_str_to_u64(struct kp_str s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s.len == 0)
        return -EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s.p[i] - '0');
        if (d > max || v > (max - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

char *kp_str_dup(struct kp_str s)
{
    return kp_strndup(s.p ? s.p : "", s.len);
}
