/* Accept-Encoding: one left-to-right scan per field line, remembering the
 * weights of gzip/x-gzip and of "*". */
#include "kelpie/http/coding.h"

#include <stddef.h>

#define WEIGHT_NONE 0xffffu /* not listed */

struct scan {
    const char *p, *end;
};

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_ows(struct scan *s)
{
    while (s->p < s->end && is_ows(*s->p))
        s->p++;
}

/* A qvalue (RFC 9110 section 12.4.2): "0" ["." 0-3 DIGIT] or "1" ["." 0-3
 * "0"], in thousandths; -1 when malformed. Consumes it. */
static int qvalue(struct scan *s)
{
    if (s->p >= s->end || (*s->p != '0' && *s->p != '1'))
        return -1;
    int whole = *s->p++ - '0', frac = 0, digits = 0;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            if (++digits > 3)
                return -1;
            frac = frac * 10 + (*s->p++ - '0');
        }
    }
    for (; digits < 3; digits++)
        frac *= 10;
    int q = whole * 1000 + frac;
    return q > 1000 ? -1 : q;
}

/* The parameters after a coding, up to the member's end (',' or the end of
 * the line): the weight, 1000 when none is given, or -1 when malformed. A
 * parameter other than q is skipped (none is defined, but tolerated). */
static int weight(struct scan *s)
{
    int q = 1000;

    for (;;) {
        skip_ows(s);
        if (s->p >= s->end || *s->p == ',')
            return q;
        if (*s->p++ != ';')
            return -1;
        skip_ows(s);
        if (s->end - s->p >= 2 && (s->p[0] == 'q' || s->p[0] == 'Q') && s->p[1] == '=') {
            s->p += 2;
            q = qvalue(s);
            if (q < 0)
                return -1;
            continue;
        }
        while (s->p < s->end && kp_http_parse_is_tchar((unsigned char)*s->p))
            s->p++;
        if (s->p < s->end && *s->p == '=') {
            s->p++;
            while (s->p < s->end && *s->p != ',' && *s->p != ';' && !is_ows(*s->p))
                s->p++;
        }
    }
}

/* Skip the rest of a malformed member, up to its ','. */
static void skip_member(struct scan *s)
{
    while (s->p < s->end && *s->p != ',')
        s->p++;
}

static void keep_max(unsigned *slot, unsigned q)
{
    if (*slot == WEIGHT_NONE || q > *slot)
        *slot = q;
}

static void scan_line(struct kp_str value, unsigned *gzip, unsigned *star)
{
    struct scan s = {value.p, value.p + value.len};

    while (s.p < s.end) {
        skip_ows(&s);
        const char *tok = s.p;
        while (s.p < s.end && kp_http_parse_is_tchar((unsigned char)*s.p))
            s.p++;
        struct kp_str coding = {tok, (size_t)(s.p - tok)};
        int q = weight(&s);
        if (q < 0) {
            skip_member(&s);
            q = 0;
        }
        if (kp_str_caseeq_cstr(coding, "gzip") || kp_str_caseeq_cstr(coding, "x-gzip"))
            keep_max(gzip, (unsigned)q);
        else if (kp_str_eq(coding, KP_STR("*")))
            keep_max(star, (unsigned)q);
        if (s.p < s.end) /* at ',' */
            s.p++;
    }
}

/* An explicit gzip weight wins over "*"; neither listed: not acceptable. */
static unsigned result(unsigned gzip, unsigned star)
{
    return gzip != WEIGHT_NONE ? gzip : star != WEIGHT_NONE ? star : 0;
}

unsigned kp_http_coding_gzip_weight(struct kp_str value)
{
    unsigned gzip = WEIGHT_NONE, star = WEIGHT_NONE;

    scan_line(value, &gzip, &star);
    return result(gzip, star);
}

bool kp_http_coding_accepts_gzip(const struct kp_http_head *h)
{
    unsigned gzip = WEIGHT_NONE, star = WEIGHT_NONE;
    bool seen = false;

    for (size_t i = 0; i < h->nfields; i++) {
        if (!kp_str_caseeq_cstr(h->fields[i].name, "accept-encoding"))
            continue;
        scan_line(h->fields[i].value, &gzip, &star);
        seen = true;
    }
    return seen && result(gzip, star) > 0;
}
