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

/* The ASCII lowercase of the eight bytes in w at once: a byte is upper case
 * when its low seven bits reach 'A' and not 'Z' + 1 (two additions that set
 * bit 7 without carrying into the next byte) and its bit 7 is clear. */
static uint64_t lower8(uint64_t w)
{
    uint64_t low7 = w & 0x7f7f7f7f7f7f7f7fu;
    uint64_t from_a = low7 + 0x3f3f3f3f3f3f3f3fu; /* 0x80 - 'A' */
    uint64_t past_z = low7 + 0x2525252525252525u; /* 0x80 - ('Z' + 1) */
    uint64_t upper = from_a & ~past_z & ~w & 0x8080808080808080u;

    return w | (upper >> 2);
}

/* Eight bytes a step: header names and tokens are compared on every
 * request. */
bool kp_str_caseeq(struct kp_str a, struct kp_str b)
{
    size_t i = 0;

    if (a.len != b.len)
        return false;
    for (; a.len - i >= 8; i += 8) {
        uint64_t wa, wb;
        memcpy(&wa, a.p + i, 8);
        memcpy(&wb, b.p + i, 8);
        if (wa != wb && lower8(wa) != lower8(wb))
            return false;
    }
    for (; i < a.len; i++) {
        if (a.p[i] != b.p[i] && kp_str_lower(a.p[i]) != kp_str_lower(b.p[i]))
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
