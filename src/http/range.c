/* Range field parsing (RFC 9110 section 14.1; see range.h). */
#include "kelpie/http/range.h"

#include <stdbool.h>
#include <string.h>

/* One range-spec as written: an int-range, or a suffix-range whose length
 * is kept in `last`. */
struct spec {
    uint64_t first, last;
    bool suffix;
};

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* 1*DIGIT, saturating at UINT64_MAX. Returns the byte after the digits, or
 * NULL if there are none. */
static const char *parse_num(const char *p, const char *end, uint64_t *out)
{
    const char *start = p;
    uint64_t v = 0;

    for (; p < end && is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        v = (v > (UINT64_MAX - d) / 10) ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return p == start ? NULL : p;
}

/* int-range = first-pos "-" [ last-pos ] / suffix-range = "-" suffix-length.
 * Returns the byte after the spec, or NULL if invalid. */
static const char *parse_spec(const char *p, const char *end, struct spec *s)
{
    s->suffix = p < end && *p == '-';
    if (s->suffix)
        return parse_num(p + 1, end, &s->last);
    p = parse_num(p, end, &s->first);
    if (p == NULL || p == end || *p != '-')
        return NULL;
    p++;
    s->last = UINT64_MAX;
    if (p < end && is_digit(*p)) {
        p = parse_num(p, end, &s->last);
        /* Section 14.1.1: last-pos < first-pos makes the ranges-specifier
         * invalid, not unsatisfiable. */
        if (s->last < s->first)
            return NULL;
    }
    return p;
}

/* Satisfiable as section 14.1.1 defines it (independent of our choices). */
static bool satisfiable(const struct spec *s, uint64_t size)
{
    return s->suffix ? s->last > 0 : s->first < size;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Skip OWS and empty list elements (section 5.6.1: recipients accept them). */
static const char *skip_sep(const char *p, const char *end, bool *comma)
{
    for (*comma = false; p < end && (is_ows(*p) || *p == ','); p++)
        *comma = *comma || *p == ',';
    return p;
}

/* The inclusive positions s selects in a representation of size bytes
 * (s satisfiable, size > 0). */
static void resolve(const struct spec *s, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (s->suffix) {
        *first = s->last >= size ? 0 : size - s->last;
        *last = size - 1;
    } else {
        *first = s->first;
        *last = s->last >= size ? size - 1 : s->last;
    }
}

/* Add s to out unless unsatisfiable; false when out is full or the ranges
 * already add up to more than size. */
static bool add(struct kp_http_ranges *out, const struct spec *s, uint64_t size, uint64_t *total)
{
    uint64_t first, last;

    if (!satisfiable(s, size))
        return true;
    resolve(s, size, &first, &last);
    *total += last - first + 1;
    if (out->n == KP_HTTP_RANGES_MAX || *total > size)
        return false;
    out->v[out->n].first = first;
    out->v[out->n].last = last;
    out->n++;
    return true;
}

enum kp_http_range kp_http_range_parse(struct kp_str value, uint64_t size,
                                       struct kp_http_ranges *out)
{
    const char *p = value.p, *end = value.p + value.len;
    const char *eq = memchr(p, '=', value.len);
    struct kp_http_ranges got = {0};
    struct spec s = {0};
    size_t n = 0;
    uint64_t total = 0;
    bool comma = true, fits = true;

    /* Section 14.2: a unit we do not understand means "ignore Range". */
    if (eq == NULL || !kp_str_caseeq_cstr((struct kp_str){p, (size_t)(eq - p)}, "bytes"))
        return KP_HTTP_RANGE_IGNORE;
    for (p = skip_sep(eq + 1, end, &comma); p < end; p = skip_sep(p, end, &comma)) {
        if (n > 0 && !comma)
            return KP_HTTP_RANGE_IGNORE;
        p = parse_spec(p, end, &s);
        if (p == NULL)
            return KP_HTTP_RANGE_IGNORE;
        n++;
        fits = fits && (size == 0 || add(&got, &s, size, &total));
    }
    /* An empty representation: the empty 200 is the whole answer, where a
     * 416 would stop the media players that open with "bytes=0-". */
    if (n == 0 || size == 0 || !fits)
        return KP_HTTP_RANGE_IGNORE;
    if (got.n == 0)
        return KP_HTTP_RANGE_UNSATISFIABLE;
    *out = got;
    return KP_HTTP_RANGE_OK;
}
