/* String slices: a pointer and a length into some buffer that outlives the
 * slice. Slices are NOT NUL-terminated unless a function says so. */
#ifndef KP_STR_H
#define KP_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kp_str {
    const char *p;
    size_t len;
};

#define KP_STR(lit) ((struct kp_str){(lit), sizeof(lit) - 1})
#define KP_STR_NULL ((struct kp_str){NULL, 0})

/* Slice of a NUL-terminated C string (the slice does not include the NUL). */
struct kp_str kp_str_from(const char *s);
bool kp_str_eq(struct kp_str a, struct kp_str b);
/* ASCII case-insensitive comparison, as for header names and tokens. */
bool kp_str_caseeq(struct kp_str a, struct kp_str b);
bool kp_str_caseeq_cstr(struct kp_str a, const char *b);
bool kp_str_has_prefix(struct kp_str s, struct kp_str prefix);
/* Strip optional whitespace (SP / HTAB) at both ends. */
struct kp_str kp_str_trim_ows(struct kp_str s);
/* Parse a non-negative decimal integer occupying the whole slice. Returns 0 or
 * -EINVAL (empty, non-digit) / -ERANGE (above max). */
int kp_str_to_u64(struct kp_str s, uint64_t max, uint64_t *out);
/* Copy into a new NUL-terminated kp_alloc'ed string. */
char *kp_str_dup(struct kp_str s);
/* ASCII lowercase of c. */
static inline char kp_str_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

/* Hexadecimal digits (percent-encoding, chunk sizes). */
static inline bool kp_str_is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Value of a hex digit; c must satisfy kp_str_is_hex. */
static inline unsigned kp_str_hex_value(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

#endif
