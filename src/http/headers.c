/* add_header and expires (see headers.h). The add_header lines are
 * serialised once, when the configuration is loaded; a response only
 * copies them, and formats one date for expires. */
#include "kelpie/http/headers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kelpie/util/log.h"
#include "kelpie/util/time.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/var.h"
#include "kelpie/http/var_core.h"

/* nginx's `expires max` date and age (ten years). */
#define EXPIRES_MAX_DATE "Thu, 31 Dec 2037 23:55:55 GMT"
#define EXPIRES_MAX_AGE  315360000
#define EXPIRES_EPOCH    "Thu, 01 Jan 1970 00:00:01 GMT"

/* The framing fields: a second copy would make where the body ends
 * ambiguous, which a proxy in front may read otherwise than a client (the
 * smuggling vector RFC 9112 section 6.3 warns of). nginx adds them all the
 * same; kelpie refuses the configuration. Any other field kelpie writes
 * itself (Content-Type, Server, Date, Location, ...) gets a second line
 * after its own, as from nginx: `add_header Content-Type text/plain` is
 * how many configurations give a `return` its type, and a browser takes
 * the last Content-Type. ETag and Last-Modified are replaced instead, as
 * in nginx (see below). */
static const char *const FRAMING_FIELDS[] = {"Content-Length", "Transfer-Encoding"};

/* The KP_HTTP_ADD_* bit of a field add_header replaces, else 0. */
static unsigned replaced_field(const char *name)
{
    if (strcasecmp(name, "ETag") == 0)
        return KP_HTTP_ADD_ETAG;
    return strcasecmp(name, "Last-Modified") == 0 ? KP_HTTP_ADD_LAST_MODIFIED : 0;
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (!kp_http_parse_is_tchar((unsigned char)*s))
            return false;
    }
    return true;
}

/* RFC 9110 section 5.5: visible characters, spaces and tabs, obs-text. */
static bool is_field_value(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static int check_field(struct kp_conf *cf, const char *name, const char *value)
{
    if (!is_token(name))
        return kp_conf_error(cf, "invalid header name \"%s\"", name);
    for (size_t i = 0; i < sizeof(FRAMING_FIELDS) / sizeof(FRAMING_FIELDS[0]); i++) {
        if (strcasecmp(name, FRAMING_FIELDS[i]) == 0)
            return kp_conf_error(cf,
                                 "\"add_header\" cannot set \"%s\": a second one would make "
                                 "the message's length ambiguous",
                                 name);
    }
    if (!is_field_value(value))
        return kp_conf_error(cf, "control characters in the value of header \"%s\"", name);
    return 0;
}

/* to = to + the bytes of s, in a new arena copy. */
static void append(struct kp_arena *a, struct kp_str *to, const char *s, size_t n)
{
    if (n == 0)
        return;
    char *p = kp_arena_alloc(a, to->len + n + 1);

    if (to->len > 0)
        memcpy(p, to->p, to->len);
    memcpy(p + to->len, s, n);
    p[to->len + n] = '\0';
    *to = (struct kp_str){p, to->len + n};
}

static int compile_lines(struct kp_conf *cf, struct kp_str lines, struct kp_http_cv **cv)
{
    *cv = kp_arena_calloc(cf->arena, sizeof(**cv));
    return kp_http_cv_compile(cf, lines.p, *cv);
}

/* Whether a line ("Name: value\r\n") is one to leave out: name's (see
 * drop_field), or one whose value came out empty (see
 * kp_http_headers_apply). */
typedef bool (*line_test)(const char *line, size_t len, const char *name);

static bool named(const char *line, size_t len, const char *name)
{
    size_t nlen = strlen(name);

    return len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0;
}

/* A field value holds no CR or LF (KP_HTTP_CV_FIELD), so the first ':'
 * ends the name and an empty value leaves ": \r\n" after it. */
static bool empty_value(const char *line, size_t len, const char *name)
{
    const char *colon = memchr(line, ':', len);

    (void)name;
    return colon != NULL && (size_t)(colon - line) + 4 == len;
}

/* lines without those drop() picks, copied into a only once one is
 * picked; lines itself when none is. */
static struct kp_str filter_lines(struct kp_arena *a, struct kp_str lines, line_test drop,
                                  const char *name)
{
    struct kp_str kept = KP_STR_NULL;
    bool dropped = false;

    for (const char *p = lines.p, *end = p + lines.len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol != NULL ? (size_t)(eol + 1 - p) : (size_t)(end - p);
        if (drop(p, len, name)) {
            if (!dropped)
                append(a, &kept, lines.p, (size_t)(p - lines.p));
            dropped = true;
        } else if (dropped) {
            append(a, &kept, p, len);
        }
        p += len;
    }
    return dropped ? kept : lines;
}

/* lines without those of field name: an ETag or Last-Modified that a later
 * add_header replaces (or, empty, removes), as in nginx; a compiled form is
 * compiled again. */
static int drop_field(struct kp_conf *cf, struct kp_str *lines, struct kp_http_cv **cv,
                      const char *name)
{
    struct kp_str kept = filter_lines(cf->arena, *lines, named, name);

    if (kept.len == lines->len)
        return 0;
    *lines = kept.len > 0 ? kept : KP_STR_NULL;
    if (*cv == NULL)
        return 0;
    if (kept.len == 0) {
        *cv = NULL;
        return 0;
    }
    return compile_lines(cf, *lines, cv);
}

int kp_http_headers_conf_add(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    const char *name = cf->args[1], *value = cf->args[2];
    bool always = cf->nargs == 4;

    (void)cmd;
    if (always && strcmp(cf->args[3], "always") != 0)
        return kp_conf_invalid(cf, cf->args[3]);
    int rc = check_field(cf, name, value);
    if (rc != 0)
        return rc;
    if (replaced_field(name) != 0) {
        loc->add_headers_own |= replaced_field(name);
        rc = drop_field(cf, &loc->add_headers, &loc->add_headers_cv, name);
        if (rc == 0 && always) {
            loc->add_headers_own_always |= replaced_field(name);
            rc = drop_field(cf, &loc->add_headers_always, &loc->add_headers_always_cv, name);
        }
        if (rc != 0)
            return rc;
    }
    if (value[0] == '\0')
        return 0;
    size_t n = strlen(name) + strlen(value) + sizeof(": \r\n");
    char *line = kp_arena_alloc(cf->arena, n);
    int len = snprintf(line, n, "%s: %s\r\n", name, value);
    append(cf->arena, &loc->add_headers, line, (size_t)len);
    if (always)
        append(cf->arena, &loc->add_headers_always, line, (size_t)len);
    /* With variables, the lines are also compiled (http/var.h) and that
     * form is what a response gets. */
    if (strchr(value, '$') != NULL || loc->add_headers_cv != NULL)
        rc = compile_lines(cf, loc->add_headers, &loc->add_headers_cv);
    if (rc == 0 && always && (strchr(value, '$') != NULL || loc->add_headers_always_cv != NULL))
        rc = compile_lines(cf, loc->add_headers_always, &loc->add_headers_always_cv);
    return rc;
}

/* An expires value (without `modified`): off, epoch, max, @TIME (a time
 * of day, below 24 hours: -ERANGE) or [-|+]TIME. */
static int parse_expires(const char *a, enum kp_http_expires *kind, int64_t *seconds)
{
    uint64_t ms;

    if (strcmp(a, "off") == 0 || strcmp(a, "epoch") == 0 || strcmp(a, "max") == 0) {
        *kind = a[0] == 'o' ? KP_EXPIRES_OFF : a[0] == 'e' ? KP_EXPIRES_EPOCH : KP_EXPIRES_MAX;
        return 0;
    }
    if (a[0] == '@') {
        if (kp_conf_parse_msec(a + 1, &ms) != 0)
            return -EINVAL;
        if (ms / 1000 > 24 * 60 * 60)
            return -ERANGE;
        *kind = KP_EXPIRES_DAILY;
        *seconds = (int64_t)(ms / 1000);
        return 0;
    }
    bool negative = a[0] == '-';
    if (kp_conf_parse_msec(a + (a[0] == '-' || a[0] == '+'), &ms) != 0 || ms / 1000 > INT32_MAX)
        return -EINVAL;
    *kind = KP_EXPIRES_AFTER;
    *seconds = negative ? -(int64_t)(ms / 1000) : (int64_t)(ms / 1000);
    return 0;
}

/* expires [modified] TIME | epoch | max | off; the value may hold
 * variables (then it is parsed for each response, as in nginx). */
int kp_http_headers_conf_expires(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    bool modified = cf->nargs == 3;
    const char *a = cf->args[cf->nargs - 1];

    (void)cmd;
    if (modified && strcmp(cf->args[1], "modified") != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    if (strchr(a, '$') != NULL) {
        loc->expires = KP_EXPIRES_VAR;
        loc->expires_var_modified = modified;
        loc->expires_cv = kp_arena_calloc(cf->arena, sizeof(*loc->expires_cv));
        return kp_http_cv_compile(cf, a, loc->expires_cv);
    }
    int rc = parse_expires(a, &loc->expires, &loc->expires_s);
    if (rc == -ERANGE)
        return kp_conf_error(cf,
                             "\"expires\" directive daily time value must be less than 24 hours");
    if (rc == 0 && modified && loc->expires == KP_EXPIRES_DAILY)
        return kp_conf_error(
            cf, "\"expires\" directive daily time cannot be used with \"modified\" parameter");
    if (rc != 0 || (modified && loc->expires != KP_EXPIRES_AFTER))
        return kp_conf_invalid(cf, a);
    if (modified)
        loc->expires = KP_EXPIRES_MODIFIED;
    return 0;
}

enum kp_http_expires kp_http_headers_expires(struct kp_http_request *r, int64_t *seconds)
{
    const struct kp_http_loc_conf *loc = r->loc;
    enum kp_http_expires kind = loc->expires;

    *seconds = loc->expires_s;
    if (kind != KP_EXPIRES_VAR)
        return kind;
    struct kp_str v = kp_http_cv_eval(r, loc->expires_cv, KP_HTTP_CV_RAW);
    char text[64];
    if (v.len < sizeof(text)) {
        memcpy(text, v.p, v.len);
        text[v.len] = '\0';
        /* `expires modified $var`: only a time, counted from the file's */
        bool modified = loc->expires_var_modified;
        if (parse_expires(text, &kind, seconds) == 0 && (!modified || kind == KP_EXPIRES_AFTER))
            return modified ? KP_EXPIRES_MODIFIED : kind;
    }
    if (r->svc != NULL)
        kp_log_error(r->svc->log, KP_LOG_ERR, 0, "invalid \"expires\" value \"%.*s\"", (int)v.len,
                     v.p);
    return KP_EXPIRES_OFF;
}

/* nginx adds its fields to these codes only, unless `always`. */
static bool adds_fields(int status)
{
    switch (status) {
    case 200:
    case 201:
    case 204:
    case 206:
    case 301:
    case 302:
    case 303:
    case 304:
    case 307:
    case 308:
        return true;
    default:
        return false;
    }
}

/* The first moment after now that is `seconds` past a local midnight:
 * today's, or tomorrow's once today's has come. */
static time_t next_time_of_day(time_t now, int64_t seconds)
{
    struct tm tm;

    if (localtime_r(&now, &tm) == NULL)
        return now;
    tm.tm_hour = (int)(seconds / 3600);
    tm.tm_min = (int)(seconds / 60 % 60);
    tm.tm_sec = (int)(seconds % 60);
    tm.tm_isdst = -1;
    time_t at = mktime(&tm);
    if (at != (time_t)-1 && at > now)
        return at;
    tm.tm_mday++;
    at = mktime(&tm);
    return at != (time_t)-1 ? at : now;
}

/* Expires and Cache-Control for r at now into out (128 bytes); returns
 * the length, 0 when none apply. `modified` counts from the file's time
 * (from now when it has none) and says no-cache once that is past. */
static size_t expires_fields(struct kp_http_request *r, time_t now, char *out)
{
    int64_t s;
    enum kp_http_expires kind = kp_http_headers_expires(r, &s);
    time_t base = kind == KP_EXPIRES_MODIFIED && r->resp.last_modified != (time_t)-1
                      ? r->resp.last_modified
                      : now;
    char date[32];
    int n;

    if (kind == KP_EXPIRES_DAILY) {
        /* as an AFTER from now, by the seconds left until then */
        s = (int64_t)(next_time_of_day(now, s) - now);
        kind = KP_EXPIRES_AFTER;
    }
    switch (kind) {
    case KP_EXPIRES_EPOCH:
        n = snprintf(out, 128, "Expires: %s\r\nCache-Control: no-cache\r\n", EXPIRES_EPOCH);
        break;
    case KP_EXPIRES_MAX:
        n = snprintf(out, 128, "Expires: %s\r\nCache-Control: max-age=%d\r\n", EXPIRES_MAX_DATE,
                     EXPIRES_MAX_AGE);
        break;
    case KP_EXPIRES_AFTER:
    case KP_EXPIRES_MODIFIED: {
        /* A far-future mtime plus a long expires saturates instead of
         * wrapping (kp_time_http_date clamps what it prints). */
        int64_t at, age;
        if (__builtin_add_overflow((int64_t)base, s, &at))
            at = s < 0 ? INT64_MIN : INT64_MAX;
        if (__builtin_sub_overflow(at, (int64_t)now, &age))
            age = INT64_MAX;
        kp_time_http_date((time_t)at, date);
        if (s < 0 || at < (int64_t)now)
            n = snprintf(out, 128, "Expires: %s\r\nCache-Control: no-cache\r\n", date);
        else
            n = snprintf(out, 128, "Expires: %s\r\nCache-Control: max-age=%" PRId64 "\r\n", date,
                         age);
        break;
    }
    default:
        n = 0;
    }
    return (size_t)n;
}

/* absolute_redirect: a Location that is a path gets the origin in front,
 * whoever set it (the directory redirect, return, rewrite, error_page), as
 * nginx's header filter does. */
static void absolute_location(struct kp_http_request *r)
{
    struct kp_str l = r->resp.location;

    if (l.len == 0 || l.p[0] != '/' || !r->loc->absolute_redirect)
        return;
    struct kp_str origin = kp_http_var_core_redirect_origin(r);
    if (origin.len == 0)
        return;
    char *p = kp_arena_alloc(&r->arena, origin.len + l.len);
    memcpy(p, origin.p, origin.len);
    memcpy(p + origin.len, l.p, l.len);
    r->resp.location = (struct kp_str){p, origin.len + l.len};
}

void kp_http_headers_apply(struct kp_http_request *r, time_t now)
{
    const struct kp_http_loc_conf *loc = r->loc;
    bool ok = adds_fields(r->resp.status);
    struct kp_str add = ok ? loc->add_headers : loc->add_headers_always;
    const struct kp_http_cv *cv = ok ? loc->add_headers_cv : loc->add_headers_always_cv;
    char expires[128];
    size_t n = ok ? expires_fields(r, now, expires) : 0;

    unsigned own = ok ? loc->add_headers_own : loc->add_headers_own_always;

    absolute_location(r);
    /* The response's own validators give way to add_header's (the request's
     * conditions were checked against them already, as in nginx). */
    if (own & KP_HTTP_ADD_ETAG)
        r->resp.etag = KP_STR_NULL;
    if (own & KP_HTTP_ADD_LAST_MODIFIED)
        r->resp.last_modified = (time_t)-1;
    if (add.len == 0 && n == 0)
        return;
    if (cv != NULL)
        /* A field whose value came out empty is left out, as nginx does. */
        add = filter_lines(&r->arena, kp_http_cv_eval(r, cv, KP_HTTP_CV_FIELD), empty_value, NULL);
    /* nginx's order: the expires fields, then the add_header lines (a
     * Cache-Control of add_header follows the one of expires). */
    append(&r->arena, &r->resp.extra, expires, n);
    append(&r->arena, &r->resp.extra, add.p, add.len);
}
