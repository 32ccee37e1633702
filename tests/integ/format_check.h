/* Validators for the status page's formats, for tests:
 *   kp_json_valid  strict JSON (RFC 8259 grammar: objects, arrays, strings
 *                  with escapes, numbers, literals; nothing after the value
 *                  but whitespace);
 *   kp_prom_check  the Prometheus text exposition format 0.0.4: sample
 *                  lines `name{label="value",...} value [timestamp]`, names
 *                  [a-zA-Z_:][a-zA-Z0-9_:]*, HELP and TYPE at most once per
 *                  family and before its samples, a family's samples
 *                  together, every line ended by '\n'.
 * Header-only so that both the unit and the integration runners can use it:
 * include it only from files that call both. */
#ifndef KP_TEST_FORMAT_CHECK_H
#define KP_TEST_FORMAT_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KP_JSON_MAX_DEPTH 64

struct json_cursor {
    const char *p, *end;
    int depth;
};

static bool json_value(struct json_cursor *j);

static void json_ws(struct json_cursor *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool json_eat(struct json_cursor *j, char c)
{
    json_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static bool json_hex4(struct json_cursor *j)
{
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end || strchr("0123456789abcdefABCDEF", *j->p) == NULL || *j->p == '\0')
            return false;
    }
    return true;
}

/* RFC 8259 section 7: no raw control characters, only the listed escapes. */
static bool json_string(struct json_cursor *j)
{
    if (!json_eat(j, '"'))
        return false;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (j->p >= j->end)
            return false;
        char e = *j->p++;
        if (e == 'u') {
            if (!json_hex4(j))
                return false;
        } else if (strchr("\"\\/bfnrt", e) == NULL || e == '\0') {
            return false;
        }
    }
    return false;
}

static bool json_digits(struct json_cursor *j)
{
    const char *start = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start;
}

/* RFC 8259 section 6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(struct json_cursor *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!json_digits(j))
        return false;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!json_digits(j))
            return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!json_digits(j))
            return false;
    }
    return true;
}

static bool json_literal(struct json_cursor *j, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return false;
    j->p += n;
    return true;
}

/* Members or elements after the opening bracket, up to close. */
static bool json_items(struct json_cursor *j, char close, bool members)
{
    if (json_eat(j, close))
        return true;
    do {
        if (members && (!json_string(j) || !json_eat(j, ':')))
            return false;
        if (!json_value(j))
            return false;
    } while (json_eat(j, ','));
    return json_eat(j, close);
}

static bool json_value(struct json_cursor *j)
{
    bool ok;

    json_ws(j);
    if (j->p >= j->end || ++j->depth > KP_JSON_MAX_DEPTH)
        return false;
    switch (*j->p) {
    case '{':
        j->p++;
        ok = json_items(j, '}', true);
        break;
    case '[':
        j->p++;
        ok = json_items(j, ']', false);
        break;
    case '"':
        ok = json_string(j);
        break;
    case 't':
        ok = json_literal(j, "true");
        break;
    case 'f':
        ok = json_literal(j, "false");
        break;
    case 'n':
        ok = json_literal(j, "null");
        break;
    default:
        ok = json_number(j);
        break;
    }
    j->depth--;
    return ok;
}

/* Whether text (len bytes) is exactly one JSON value, whitespace around. */
static inline bool kp_json_valid(const char *text, size_t len)
{
    struct json_cursor j = {text, text + len, 0};

    if (!json_value(&j))
        return false;
    json_ws(&j);
    return j.p == j.end;
}

/* --- Prometheus ---------------------------------------------------------------------- */

#define KP_PROM_MAX_FAMILIES 128
#define KP_PROM_MAX_NAME     128

struct prom_family {
    char name[KP_PROM_MAX_NAME];
    bool help, type, samples, ended;
};

struct prom_state {
    struct prom_family fam[KP_PROM_MAX_FAMILIES];
    int n;
    struct prom_family *last; /* family of the previous sample */
    char *err;
    size_t errlen;
    int line;
};

__attribute__((format(printf, 2, 3))) static int prom_fail(struct prom_state *st, const char *fmt,
                                                           ...)
{
    va_list ap;
    int n = snprintf(st->err, st->errlen, "line %d: ", st->line);

    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < st->errlen)
        vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static bool prom_name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Length of the name at p (metric names may hold ':', label names not). */
static size_t prom_name(const char *p, const char *end, bool colon)
{
    const char *s = p;

    while (p < end && prom_name_char(*p, p == s, colon))
        p++;
    return (size_t)(p - s);
}

static struct prom_family *prom_family_of(struct prom_state *st, const char *name, size_t len)
{
    for (int i = 0; i < st->n; i++) {
        if (strlen(st->fam[i].name) == len && memcmp(st->fam[i].name, name, len) == 0)
            return &st->fam[i];
    }
    if (st->n == KP_PROM_MAX_FAMILIES || len >= KP_PROM_MAX_NAME)
        return NULL;
    struct prom_family *f = &st->fam[st->n++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    return f;
}

/* "# HELP name text" / "# TYPE name type"; other comments are free. */
static int prom_comment(struct prom_state *st, const char *p, const char *end)
{
    bool help = end - p > 7 && memcmp(p, "# HELP ", 7) == 0;
    bool type = end - p > 7 && memcmp(p, "# TYPE ", 7) == 0;

    if (!help && !type)
        return 0;
    p += 7;
    size_t n = prom_name(p, end, true);
    if (n == 0 || (p + n < end && p[n] != ' '))
        return prom_fail(st, "bad metric name in HELP/TYPE");
    struct prom_family *f = prom_family_of(st, p, n);
    if (f == NULL)
        return prom_fail(st, "too many families");
    if (f->samples)
        return prom_fail(st, "HELP/TYPE of %s after its samples", f->name);
    if ((help && f->help) || (type && f->type))
        return prom_fail(st, "second %s for %s", help ? "HELP" : "TYPE", f->name);
    f->help |= help;
    f->type |= type;
    if (!type)
        return 0;
    const char *t = p + n + 1;
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if ((size_t)(end - t) == strlen(types[i]) && memcmp(t, types[i], strlen(types[i])) == 0)
            return 0;
    }
    return prom_fail(st, "unknown type for %s", f->name);
}

/* {name="value",...} with \\, \" and \n escapes; *pp past the brace. */
static int prom_labels(struct prom_state *st, const char **pp, const char *end)
{
    const char *p = *pp + 1;

    while (p < end && *p != '}') {
        size_t n = prom_name(p, end, false);
        if (n == 0 || p + n + 1 >= end || p[n] != '=' || p[n + 1] != '"')
            return prom_fail(st, "bad label");
        for (p += n + 2; p < end && *p != '"'; p++) {
            if (*p == '\\' && (++p >= end || strchr("\\\"n", *p) == NULL || *p == '\0'))
                return prom_fail(st, "bad escape in a label value");
        }
        if (p >= end)
            return prom_fail(st, "unterminated label value");
        p++;
        if (p < end && *p == ',')
            p++;
        else if (p < end && *p != '}')
            return prom_fail(st, "expected , or } after a label");
    }
    if (p >= end)
        return prom_fail(st, "unterminated labels");
    *pp = p + 1;
    return 0;
}

/* A Go ParseFloat value (digits, '.', exponent, NaN, +Inf, -Inf). */
static bool prom_value(const char *p, const char *end)
{
    char buf[64], *stop;
    size_t n = (size_t)(end - p);

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (strcmp(buf, "NaN") == 0 || strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0)
        return true;
    if (strspn(buf, "0123456789.eE+-") != n)
        return false;
    strtod(buf, &stop);
    return *stop == '\0';
}

static int prom_sample(struct prom_state *st, const char *p, const char *end)
{
    size_t n = prom_name(p, end, true);

    if (n == 0)
        return prom_fail(st, "bad metric name");
    struct prom_family *f = prom_family_of(st, p, n);
    if (f == NULL)
        return prom_fail(st, "too many families");
    if (f->ended)
        return prom_fail(st, "samples of %s are not together", f->name);
    if (st->last != NULL && st->last != f)
        st->last->ended = true;
    st->last = f;
    f->samples = true;
    p += n;
    if (p < end && *p == '{' && prom_labels(st, &p, end) != 0)
        return -1;
    if (p >= end || *p != ' ')
        return prom_fail(st, "expected a space before the value of %s", f->name);
    p++;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!prom_value(p, sp != NULL ? sp : end))
        return prom_fail(st, "bad value for %s", f->name);
    if (sp != NULL && strspn(sp + 1, "-0123456789") != (size_t)(end - sp - 1))
        return prom_fail(st, "bad timestamp for %s", f->name);
    return 1;
}

/* Check text (len bytes). Returns the number of samples, or -1 with the
 * first problem in err. */
static inline int kp_prom_check(const char *text, size_t len, char *err, size_t errlen)
{
    struct prom_state *st = calloc(1, sizeof(*st));
    const char *p = text, *end = text + len;
    int samples = 0, rc = 0;

    st->err = err;
    st->errlen = errlen;
    err[0] = '\0';
    if (len > 0 && text[len - 1] != '\n')
        rc = prom_fail(st, "no newline at the end");
    while (rc >= 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        st->line++;
        if (eol == p)
            rc = 0;
        else if (*p == '#')
            rc = prom_comment(st, p, eol);
        else
            rc = prom_sample(st, p, eol);
        samples += rc > 0;
        p = eol + 1;
    }
    free(st);
    return rc < 0 ? -1 : samples;
}

#endif
