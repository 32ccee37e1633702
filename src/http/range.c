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

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && is_ows(*p))
        p++;
    return p;
}

/* Skip OWS and empty list elements (section 5.6.1: recipients accept them). */
static const char *skip_sep(const char *p, const char *end)
{
    while (p < end && (is_ows(*p) || *p == ','))
        p++;
    return p;
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

/* int-range = first-pos "-" [ last-pos ] / suffix-range = "-" suffix-length,
 * with spaces around the "-" tolerated as nginx does. Returns the byte after
 * the spec, or NULL if invalid. */
static const char *parse_spec(const char *p, const char *end, struct spec *s)
{
    s->suffix = *p == '-';
    if (s->suffix)
        return parse_num(p + 1, end, &s->last);
    p = parse_num(p, end, &s->first);
    if (p == NULL)
        return NULL;
    p = skip_ows(p, end);
    if (p == end || *p != '-')
        return NULL;
    p = skip_ows(p + 1, end);
    s->last = UINT64_MAX;
    return p == end || *p == ',' ? p : parse_num(p, end, &s->last);
}

/* The half-open [first, end) that s selects in a representation of size
 * bytes; empty when s is unsatisfiable (section 14.1.1) or has last-pos
 * below first-pos (dropped like an unsatisfiable one, as nginx does). */
static void resolve(const struct spec *s, uint64_t size, uint64_t *first, uint64_t *stop)
{
    if (s->suffix) {
        *first = s->last >= size ? 0 : size - s->last;
        *stop = size;
    } else {
        *first = s->first;
        *stop = s->last >= size ? size : s->last + 1;
    }
}

enum kp_http_range kp_http_range_parse(struct kp_str value, uint64_t size,
                                       struct kp_http_ranges *out)
{
    const char *end = value.p + value.len, *p;
    struct kp_http_ranges got = {0};
    uint64_t total = 0;

    /* Section 14.2: a unit we do not understand means "ignore Range"; so
     * does an empty set (nginx too). */
    if (value.len <= 6 || !kp_str_caseeq_cstr((struct kp_str){value.p, 6}, "bytes="))
        return KP_HTTP_RANGE_IGNORE;
    /* Invalid syntax is answered 416 (section 15.5.17: "invalid ranges"),
     * as nginx answers it. */
    for (p = skip_sep(value.p + 6, end); p < end; p = skip_sep(p, end)) {
        struct spec s;
        uint64_t first, stop;
        p = parse_spec(p, end, &s);
        if (p == NULL)
            return KP_HTTP_RANGE_UNSATISFIABLE;
        p = skip_ows(p, end);
        if (p < end && *p != ',')
            return KP_HTTP_RANGE_UNSATISFIABLE;
        resolve(&s, size, &first, &stop);
        /* A range from the first byte of an empty representation: the
         * empty 200 is the whole answer, where a 416 would stop the media
         * players that open with "bytes=0-". */
        if (first >= stop && first == 0)
            return KP_HTTP_RANGE_IGNORE;
        if (first >= stop)
            continue;
        if (got.n == KP_HTTP_RANGES_MAX || stop - first > size - total)
            return KP_HTTP_RANGE_IGNORE;
        total += stop - first;
        got.v[got.n].first = first;
        got.v[got.n].last = stop - 1;
        got.n++;
    }
    if (got.n == 0)
        return KP_HTTP_RANGE_UNSATISFIABLE;
    *out = got;
    return KP_HTTP_RANGE_OK;
}
