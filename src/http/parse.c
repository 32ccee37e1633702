/* Strict incremental HTTP/1.1 request-head parser (see kelpie/http/parse.h).
 *
 * Bytes are scanned once, in order, by kp_http_parse_request(); every byte is
 * checked for what a single byte can prove (NUL, bare CR, a limit crossed)
 * and each complete line is then validated as a whole. A line that is all
 * there and passes those checks is taken in one scan (whole_line), any other
 * byte by byte (check_byte), with the same result. Because every check
 * depends only on bytes at or before the current one, the result is the same
 * whatever way the input is split across calls. All positions are kept as
 * offsets from the request's first byte so the buffer may move between
 * calls; slices are materialised only once the head is complete. */
#include "kelpie/http/parse.h"

#include <arpa/inet.h>
#include <string.h>

enum phase { PH_LINE, PH_FIELDS, PH_DONE };

/* A slice under construction, as offsets from the request start. */
struct span {
    size_t off;
    size_t len;
};

struct known_field {
    const char *name; /* in lowercase (see name_is) */
    size_t len;
    bool singleton;  /* RFC 9110: a second line is an error */
    const char *dup; /* reason when a singleton is repeated */
};

/* A literal and its length, for the tables below. */
#define NAME(s) (s), sizeof(s) - 1

static const struct known_field known_fields[KP_HTTP_HDR_COUNT] = {
    [KP_HTTP_HDR_HOST] = {NAME("host"), true, "duplicate Host field"},
    [KP_HTTP_HDR_CONNECTION] = {NAME("connection"), false, NULL},
    /* RFC 9110 section 8.6 lets a recipient refuse a repeated value as
     * well as merge it; nginx refuses it, and so do we: no two parsers of
     * one message can then disagree on where the body ends. */
    [KP_HTTP_HDR_CONTENT_LENGTH] = {NAME("content-length"), true, "duplicate Content-Length field"},
    [KP_HTTP_HDR_TRANSFER_ENCODING] = {NAME("transfer-encoding"), false, NULL},
    [KP_HTTP_HDR_IF_MATCH] = {NAME("if-match"), false, NULL},
    [KP_HTTP_HDR_IF_NONE_MATCH] = {NAME("if-none-match"), false, NULL},
    [KP_HTTP_HDR_IF_MODIFIED_SINCE] = {NAME("if-modified-since"), true,
                                       "duplicate If-Modified-Since field"},
    [KP_HTTP_HDR_IF_UNMODIFIED_SINCE] = {NAME("if-unmodified-since"), true,
                                         "duplicate If-Unmodified-Since field"},
    [KP_HTTP_HDR_IF_RANGE] = {NAME("if-range"), true, "duplicate If-Range field"},
    /* A second Range, User-Agent or Referer line is ignored, the first
     * one counting, as nginx takes them. */
    [KP_HTTP_HDR_RANGE] = {NAME("range"), false, NULL},
    [KP_HTTP_HDR_USER_AGENT] = {NAME("user-agent"), false, NULL},
    [KP_HTTP_HDR_REFERER] = {NAME("referer"), false, NULL},
    [KP_HTTP_HDR_EXPECT] = {NAME("expect"), false, NULL},
    [KP_HTTP_HDR_AUTHORIZATION] = {NAME("authorization"), true, "duplicate Authorization field"},
};

struct method_name {
    const char *name;
    size_t len;
    enum kp_http_method method;
};

/* Method names are case-sensitive (RFC 9110 section 9.1). */
static const struct method_name methods[] = {
    {NAME("GET"), KP_HTTP_METHOD_GET},       {NAME("HEAD"), KP_HTTP_METHOD_HEAD},
    {NAME("POST"), KP_HTTP_METHOD_POST},     {NAME("PUT"), KP_HTTP_METHOD_PUT},
    {NAME("DELETE"), KP_HTTP_METHOD_DELETE}, {NAME("OPTIONS"), KP_HTTP_METHOD_OPTIONS},
    {NAME("TRACE"), KP_HTTP_METHOD_TRACE},   {NAME("CONNECT"), KP_HTTP_METHOD_CONNECT},
    {NAME("PATCH"), KP_HTTP_METHOD_PATCH},
};

/* --- character classes (ASCII, locale-independent) ------------------------ */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* The classes below as bits of one table, built at compile time: a lookup
 * per byte instead of comparisons and a strchr(), since the target and the
 * Host field go through them byte by byte. */
enum {
    CL_TCHAR = 1,
    CL_UNRES_SUB = 2,
    CL_PATH = 4,
    CL_SEGMENT = 8,
    CL_NAME = 16,
    CL_LABEL = 32,
    CL_PCHAR = 64,
    CL_DIGIT = 128
};

#define CL_ALNUM(c)                                                                                \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
/* RFC 9110 section 5.6.2: tchar besides letters and digits. */
#define CL_TCHAR_PUNCT(c)                                                                          \
    ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' ||          \
     (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' ||           \
     (c) == '`' || (c) == '|' || (c) == '~')
/* RFC 3986 section 2: unreserved / sub-delims besides letters and digits. */
#define CL_SUB_PUNCT(c)                                                                            \
    ((c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || (c) == '!' || (c) == '$' ||           \
     (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' ||          \
     (c) == ',' || (c) == ';' || (c) == '=')
/* Characters of path-abempty / query besides pct-encoded (RFC 3986 3.3,
 * 3.4), plus those real clients send unencoded although RFC 3986 does not
 * allow them: [ ] \ ^ ` { | } (the WHATWG URL path and query encode sets
 * leave them raw) and 8-bit bytes (UTF-8 from clients that do not encode,
 * such as curl). Rejecting those would turn away real clients; they are
 * harmless here because paths are normalised after decoding. Space, '"',
 * '<', '>', '#' and controls stay invalid: browsers always encode them. */
#define CL_PATH_EXTRA(c)                                                                           \
    ((c) >= 0x80 || (c) == ':' || (c) == '@' || (c) == '/' || (c) == '?' || (c) == '[' ||          \
     (c) == ']' || (c) == '\\' || (c) == '^' || (c) == '`' || (c) == '{' || (c) == '|' ||          \
     (c) == '}')
#define CL_IS_PATH(c) (CL_ALNUM(c) || CL_SUB_PUNCT(c) || CL_PATH_EXTRA(c))
/* CL_SEGMENT: CL_PATH without '?', so that one loop can find where a path
 * ends; CL_NAME: the bytes of a valid field name but '_' (is_name_char);
 * CL_LABEL: CL_UNRES_SUB without '.', the bytes inside a reg-name's label;
 * CL_PCHAR: CL_SEGMENT without '/', the bytes inside a path segment. */
#define CL(c)                                                                                      \
    ((CL_ALNUM(c) || CL_TCHAR_PUNCT(c) ? CL_TCHAR : 0) |                                           \
     (CL_ALNUM(c) || CL_SUB_PUNCT(c) ? CL_UNRES_SUB : 0) | (CL_IS_PATH(c) ? CL_PATH : 0) |         \
     (CL_IS_PATH(c) && (c) != '?' ? CL_SEGMENT : 0) | (CL_ALNUM(c) || (c) == '-' ? CL_NAME : 0) |  \
     ((CL_ALNUM(c) || CL_SUB_PUNCT(c)) && (c) != '.' ? CL_LABEL : 0) |                             \
     (CL_IS_PATH(c) && (c) != '?' && (c) != '/' ? CL_PCHAR : 0) |                                  \
     ((c) >= '0' && (c) <= '9' ? CL_DIGIT : 0))
#define CL4(c)  CL(c), CL((c) + 1), CL((c) + 2), CL((c) + 3)
#define CL16(c) CL4(c), CL4((c) + 4), CL4((c) + 8), CL4((c) + 12)
#define CL64(c) CL16(c), CL16((c) + 16), CL16((c) + 32), CL16((c) + 48)

static const unsigned char char_class[256] = {CL64(0), CL64(64), CL64(128), CL64(192)};

bool kp_http_parse_is_tchar(unsigned char c)
{
    return char_class[c] & CL_TCHAR;
}

bool kp_http_parse_is_vchar(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

static bool is_unreserved_or_sub(unsigned char c)
{
    return char_class[c] & CL_UNRES_SUB;
}

static bool is_path_char(unsigned char c)
{
    return char_class[c] & CL_PATH;
}

/* The four bytes at p are all of the class cl: one test for four table
 * lookups, for the loops that see every byte of a target or a name. */
static bool all4(const char *p, unsigned cl)
{
    return char_class[(unsigned char)p[0]] & char_class[(unsigned char)p[1]] &
           char_class[(unsigned char)p[2]] & char_class[(unsigned char)p[3]] & cl;
}

/* Bit 7 of each byte of v set where that byte is zero; below the lowest
 * zero byte the borrow cannot reach, so the lowest set bit is exact. */
static uint64_t zero_bytes(uint64_t v)
{
    return (v - 0x0101010101010101u) & ~v & 0x8080808080808080u;
}

/* A well-formed %XX escape starts p[0..len). */
static bool escape_ok(const char *p, size_t len)
{
    return len >= 3 && is_hex((unsigned char)p[1]) && is_hex((unsigned char)p[2]);
}

/* Whether p[0..len) is a valid fragment (RFC 3986 section 3.5: the
 * query's bytes). */
static bool valid_fragment(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '%' && !is_path_char((unsigned char)p[i]))
            return false;
    }
    return true;
}

/* path ["?" query] ["#" fragment]: the path's escapes must be well formed,
 * because it is decoded; the query is passed on undecoded, so a stray '%'
 * there (which browsers send as typed, "?q=100%") is accepted like nginx
 * does. A fragment has no business in a request-target (RFC 9112 section
 * 3.2), but nginx takes it and leaves it out of the path and the query, so
 * it is cut off here: *len becomes the length before the '#'. One pass over
 * the path, which stops at its end ('?' or '#'), at a '/', at an escape or
 * at an invalid byte. *plain: the path's length if it starts with '/' and
 * has no escape and no segment that is empty or starts with a dot (nothing
 * for kp_http_uri_normalize to decode or resolve), else 0. */
static bool valid_path_query(const char *p, size_t *len_io, size_t *plain)
{
    size_t len = *len_io;
    bool is_plain = len > 0 && p[0] == '/';
    size_t i = 0;

    for (;;) {
        while (len - i >= 4 && all4(p + i, CL_PCHAR))
            i += 4;
        while (i < len && (char_class[(unsigned char)p[i]] & CL_PCHAR))
            i++;
        if (i == len || p[i] == '?' || p[i] == '#')
            break;
        if (p[i] == '/') {
            if (i + 1 < len && (p[i + 1] == '/' || p[i + 1] == '.'))
                is_plain = false;
            i++;
            continue;
        }
        if (p[i] != '%' || !escape_ok(p + i, len - i))
            return false;
        is_plain = false;
        i += 3;
    }
    *plain = is_plain ? i : 0;
    if (i < len && p[i] == '?') {
        for (i++; i < len && p[i] != '#'; i++) {
            if (p[i] != '%' && !is_path_char((unsigned char)p[i]))
                return false;
        }
    }
    if (i < len && !valid_fragment(p + i + 1, len - i - 1))
        return false;
    *len_io = i;
    return true;
}

/* --- uri-host [":" port] (RFC 3986 section 3.2.2, RFC 9112 section 3.2) --- */

/* The inside of "[...]": IPv6address or IPvFuture. */
static bool valid_ip_literal(const char *p, size_t len)
{
    char tmp[INET6_ADDRSTRLEN];
    struct in6_addr addr;
    size_t i = 1;

    if (len > 0 && (p[0] == 'v' || p[0] == 'V')) {
        while (i < len && is_hex((unsigned char)p[i]))
            i++;
        if (i == 1 || i + 1 >= len || p[i] != '.')
            return false;
        for (i++; i < len; i++) {
            if (!is_unreserved_or_sub((unsigned char)p[i]) && p[i] != ':')
                return false;
        }
        return true;
    }
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET6, tmp, &addr) == 1;
}

/* Bit 7 of each byte of v set where that byte, below 0x80, is within
 * [lo, hi]: the sums cannot carry from one byte into the next. */
#define ONES 0x0101010101010101u
static uint64_t bytes_in(uint64_t v, unsigned lo, unsigned hi)
{
    return (v + (0x80 - lo) * ONES) & ~(v + (0x7f - hi) * ONES) & 0x80 * ONES;
}

/* How far from p[s] a reg-name's common bytes (lowercase letters, digits,
 * '-' and '.' without two dots in a row) go, eight at a time; the byte
 * loop in reg_name checks the rest, from any point (it looks back one
 * byte for "..") so stopping early is always safe. */
static size_t skip_host_words(const char *p, size_t s, size_t e)
{
    size_t i = s;

    for (; e - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t dots = bytes_in(w, '.', '.');
        uint64_t ok = (bytes_in(w, '0', '9') | bytes_in(w, 'a', 'z') | bytes_in(w, '-', '.')) & ~w;
        if (ok != 0x80 * ONES || (dots & (dots << 8)) != 0 ||
            (p[i] == '.' && i > s && p[i - 1] == '.'))
            break;
    }
    return i;
}

/* A reg-name from p[s] to the first ':' or e, whose position goes to *end:
 * unreserved and sub-delims bytes and well-formed %XX escapes, no empty
 * label ("a..b") and not only dots: $host goes into file names (root
 * /sites/$host), where ".." would climb. One trailing dot (a fully
 * qualified name) is fine, as nginx has it. Every request's Host goes
 * through it, so the bytes of a label are skipped by one table test each
 * and only dots, ':' and escapes are looked at. Without empty labels, a
 * name of dots only is "." itself. */
static bool reg_name(const char *p, size_t s, size_t e, size_t *end)
{
    size_t i = skip_host_words(p, s, e);

    for (;;) {
        while (i < e && (char_class[(unsigned char)p[i]] & CL_LABEL))
            i++;
        if (i == e || p[i] == ':')
            break;
        if (p[i] == '.') {
            if (i > s && p[i - 1] == '.')
                return false;
            i++;
        } else if (p[i] == '%' && escape_ok(p + i, e - i)) {
            i += 3;
        } else {
            return false;
        }
    }
    *end = i;
    return !(i - s == 1 && p[s] == '.');
}

/* Split p[s..e) into host and port; false if it is not uri-host [":" port]
 * or the port is above 65535. */
static bool split_host(const char *p, size_t s, size_t e, struct span *host, struct span *port)
{
    size_t i = s;

    if (i < e && p[i] == '[') {
        const char *rb = memchr(p + i, ']', e - i);
        if (rb == NULL || !valid_ip_literal(p + i + 1, (size_t)(rb - p) - i - 1))
            return false;
        i = (size_t)(rb - p) + 1;
    } else if (!reg_name(p, s, e, &i)) {
        return false;
    }
    *host = (struct span){s, i - s};
    *port = (struct span){e, 0};
    if (i == e)
        return true;
    if (p[i] != ':' || e - i - 1 > 5)
        return false;
    *port = (struct span){i + 1, e - i - 1};
    i++;
    while (e - i >= 4 && all4(p + i, CL_DIGIT))
        i += 4;
    for (; i < e; i++) {
        if (!is_digit((unsigned char)p[i]))
            return false;
    }
    /* digits of one length compare as numbers do */
    return port->len < 5 || memcmp(p + e - 5, "65535", 5) <= 0;
}

/* --- errors ----------------------------------------------------------------- */

static bool error(struct kp_http_parser *ps, int status, const char *reason)
{
    ps->head.status = status;
    ps->head.reason = reason;
    ps->head.must_close = true;
    ps->phase = PH_DONE;
    ps->result = KP_PARSE_INVALID;
    return false;
}

/* --- request line (RFC 9112 section 3) ------------------------------------ */

/* HTTP-version = "HTTP/" DIGIT "." DIGIT, exactly (RFC 9112 section 2.3):
 * one digit each, so no number is ever accumulated and "HTTP/01.1" or
 * "HTTP/1.10" are malformed rather than read as 1.1. Returns 10 for
 * HTTP/1.0, 11 for HTTP/1.1 and any later 1.x (RFC 9110 section 2.5: a
 * higher minor version is answered as the highest one supported), 0 for
 * another major version (505; above 1 in any spelling, see below), -1 if
 * malformed (400). */
static int parse_version(const char *v, size_t len)
{
    /* nearly every request: one compare */
    if (len == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
        return 11;
    if (len < 6 || memcmp(v, "HTTP/", 5) != 0)
        return -1;
    /* A major version above 1 however written ("HTTP/2", "HTTP/3",
     * "HTTP/10.0") is one we do not speak: 505, as nginx answers it. */
    if ((v[5] >= '2' && v[5] <= '9') || (len > 6 && v[5] == '1' && is_digit((unsigned char)v[6])))
        return 0;
    if (len != 8 || !is_digit((unsigned char)v[5]) || v[6] != '.' || !is_digit((unsigned char)v[7]))
        return -1;
    if (v[5] != '1')
        return 0;
    return v[7] == '0' ? 10 : 11;
}

static void set_host(struct kp_http_parser *ps, struct span host, struct span port)
{
    ps->host_off = host.off;
    ps->head.host.len = host.len;
    ps->port_off = port.off;
    ps->head.port.len = port.len;
}

/* absolute-form: http[s]://authority[path-abempty]["?" query] (RFC 9112
 * section 3.2.2). Userinfo is an error (RFC 9110 section 4.2.4). */
static bool absolute_form(struct kp_http_parser *ps, const char *p, size_t s, size_t e)
{
    struct span host, port;
    size_t a = s, ae;

    if (e - s > 7 && kp_str_caseeq((struct kp_str){p + s, 7}, KP_STR("http://")))
        a = s + 7;
    else if (e - s > 8 && kp_str_caseeq((struct kp_str){p + s, 8}, KP_STR("https://")))
        a = s + 8;
    else
        return error(ps, 400, "invalid request-target");
    for (ae = a; ae < e && p[ae] != '/' && p[ae] != '?' && p[ae] != '#'; ae++) {
        if (p[ae] == '@')
            return error(ps, 400, "userinfo in request-target");
    }
    if (!split_host(p, a, ae, &host, &port) || host.len == 0)
        return error(ps, 400, "invalid host in request-target");
    size_t len = e - ae;
    if (!valid_path_query(p + ae, &len, &ps->head.plain_len))
        return error(ps, 400, "invalid request-target");
    set_host(ps, host, port);
    ps->path_off = ae;
    ps->head.path.len = len;
    ps->head.form = KP_HTTP_TARGET_ABSOLUTE;
    return true;
}

/* Classify and validate the request-target p[s..e) (RFC 9112 section 3.2). */
static bool request_target(struct kp_http_parser *ps, const char *p, size_t s, size_t e)
{
    struct kp_http_head *h = &ps->head;
    struct span host, port;

    if (p[s] == '/') {
        size_t len = e - s;
        if (!valid_path_query(p + s, &len, &h->plain_len))
            return error(ps, 400, "invalid request-target");
        if (h->method == KP_HTTP_METHOD_CONNECT)
            return error(ps, 400, "CONNECT needs an authority-form target");
        ps->path_off = s;
        h->path.len = len;
        h->form = KP_HTTP_TARGET_ORIGIN;
        return true;
    }
    if (e - s == 1 && p[s] == '*') {
        if (h->method != KP_HTTP_METHOD_OPTIONS)
            return error(ps, 400, "asterisk-form is only for OPTIONS");
        h->form = KP_HTTP_TARGET_ASTERISK;
        return true;
    }
    if (h->method != KP_HTTP_METHOD_CONNECT)
        return absolute_form(ps, p, s, e);
    if (!split_host(p, s, e, &host, &port) || host.len == 0 || port.len == 0)
        return error(ps, 400, "invalid authority-form target");
    set_host(ps, host, port);
    h->form = KP_HTTP_TARGET_AUTHORITY;
    return true;
}

static enum kp_http_method method_id(const char *p, size_t len)
{
    /* nearly every request: no memcmp() call */
    if (len == 3 && p[0] == 'G' && p[1] == 'E' && p[2] == 'T')
        return KP_HTTP_METHOD_GET;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (methods[i].len == len && memcmp(methods[i].name, p, len) == 0)
            return methods[i].method;
    }
    return KP_HTTP_METHOD_UNKNOWN;
}

/* request-line = method SP request-target SP HTTP-version, single SPs. */
static bool request_line(struct kp_http_parser *ps, const char *p, size_t s, size_t e)
{
    struct kp_http_head *h = &ps->head;
    size_t m = s, t, te;
    const char *sp;
    int version;

    /* set first, so that the error log can show a rejected line */
    ps->line_off = s;
    h->request_line.len = e - s;
    /* A method of capitals, '_' and '-' as nginx reads one: any other
     * token ("get", "Get") is a 400 from it rather than an unknown method. */
    if (e - s > 4 && memcmp(p + s, "GET ", 4) == 0)
        m = s + 3;
    while (m < e && ((p[m] >= 'A' && p[m] <= 'Z') || p[m] == '_' || p[m] == '-'))
        m++;
    if (m == s || m == e || p[m] != ' ')
        return error(ps, 400, "invalid method");
    t = m + 1;
    sp = memchr(p + t, ' ', e - t);
    if (sp == NULL || sp == p + t)
        return error(ps, 400, "invalid request-target");
    te = (size_t)(sp - p);
    version = parse_version(sp + 1, e - te - 1);
    if (version < 0)
        return error(ps, 400, "invalid HTTP version");
    ps->method_off = s;
    h->method_name.len = m - s;
    h->method = method_id(p + s, m - s);
    ps->target_off = t;
    h->target.len = te - t;
    if (!request_target(ps, p, t, te))
        return false;
    if (version == 0)
        return error(ps, 505, "unsupported HTTP version");
    h->version = (unsigned)version;
    return true;
}

/* --- list-valued fields (RFC 9110 section 5.6.1) ----------------------------- */

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && is_ows((unsigned char)*p))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *end)
{
    while (p < end && kp_http_parse_is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* token / quoted-string at p; returns the end, or NULL if neither. The
 * field value has already been checked for control characters. */
static const char *skip_word(const char *p, const char *end)
{
    const char *q = skip_token(p, end);

    if (q != p)
        return q;
    if (p == end || *p != '"')
        return NULL;
    for (q = p + 1; q < end; q++) {
        if (*q == '"')
            return q + 1;
        if (*q == '\\' && ++q == end)
            return NULL;
    }
    return NULL;
}

struct list {
    const char *p;
    const char *end;
};

/* Next non-empty list element: a token, then optionally parameters or a
 * value, i.e. *( OWS (";" / "=") OWS (token / quoted-string) ). Returns 1
 * with *name set and *extra telling whether anything followed the token,
 * 0 at the end of the list, -1 on a syntax error. */
static int list_next(struct list *l, struct kp_str *name, bool *extra)
{
    const char *p = l->p, *q;

    while (p < l->end && (*p == ',' || is_ows((unsigned char)*p)))
        p++;
    if (p == l->end)
        return 0;
    q = skip_token(p, l->end);
    if (q == p)
        return -1;
    *name = (struct kp_str){p, (size_t)(q - p)};
    *extra = false;
    for (;;) {
        p = skip_ows(q, l->end);
        if (p == l->end || *p == ',')
            break;
        if (*p != ';' && *p != '=')
            return -1;
        q = skip_word(skip_ows(p + 1, l->end), l->end);
        if (q == NULL)
            return -1;
        *extra = true;
    }
    l->p = p;
    return 1;
}

/* Connection: 1#token (RFC 9110 section 7.6.1). */
static bool connection_field(struct kp_http_parser *ps, struct kp_str v)
{
    struct list l = {v.p, v.p + v.len};
    struct kp_str tok;
    bool extra;
    int rc;

    while ((rc = list_next(&l, &tok, &extra)) > 0) {
        if (extra)
            return error(ps, 400, "invalid Connection field");
        if (kp_str_caseeq_cstr(tok, "close"))
            ps->head.connection |= KP_HTTP_CONN_CLOSE;
        else if (kp_str_caseeq_cstr(tok, "keep-alive"))
            ps->head.connection |= KP_HTTP_CONN_KEEP_ALIVE;
        else if (kp_str_caseeq_cstr(tok, "upgrade"))
            ps->head.connection |= KP_HTTP_CONN_UPGRADE;
    }
    return rc == 0 || error(ps, 400, "invalid Connection field");
}

/* Transfer-Encoding: 1#transfer-coding (RFC 9112 section 6.1). Only the
 * order and names are recorded here; framing is decided at the end. */
static bool transfer_encoding_field(struct kp_http_parser *ps, struct kp_str v)
{
    struct list l = {v.p, v.p + v.len};
    struct kp_str coding;
    unsigned before = ps->te_codings;
    bool extra;
    int rc;

    while ((rc = list_next(&l, &coding, &extra)) > 0) {
        ps->te_codings++;
        ps->te_last_chunked = kp_str_caseeq_cstr(coding, "chunked");
        if (ps->te_last_chunked) {
            /* chunked takes no parameters (RFC 9112 section 7.1) */
            if (extra)
                return error(ps, 400, "parameters on chunked coding");
            ps->te_chunked++;
        } else {
            ps->te_unknown = true;
        }
    }
    if (rc < 0 || ps->te_codings == before)
        return error(ps, 400, "invalid Transfer-Encoding field");
    return true;
}

/* Content-Length = 1*DIGIT, one value (a list, even of equal values, is
 * refused as by nginx: see known_fields). */
static bool content_length_field(struct kp_http_parser *ps, struct kp_str v)
{
    uint64_t n;

    if (kp_str_to_u64(v, INT64_MAX, &n) != 0)
        return error(ps, 400, "invalid Content-Length");
    ps->head.content_length = n;
    return true;
}

/* Expect (RFC 9110 section 10.1.1); 100-continue only counts in HTTP/1.1. */
static bool expect_field(struct kp_http_parser *ps, struct kp_str v)
{
    struct list l = {v.p, v.p + v.len};
    struct kp_str exp;
    bool extra;
    int rc;

    while ((rc = list_next(&l, &exp, &extra)) > 0) {
        if (!extra && kp_str_caseeq_cstr(exp, "100-continue"))
            ps->head.expect_continue = ps->head.version == 11;
        else
            ps->head.expect_unknown = true;
    }
    return rc == 0 || error(ps, 400, "invalid Expect field");
}

/* Act on a recognised field f whose value lies in p. */
static bool known_field(struct kp_http_parser *ps, const char *p, const struct kp_http_field *f)
{
    struct kp_http_head *h = &ps->head;
    struct kp_str v = {p + f->value_off, f->value.len};
    struct span host, port;

    if (h->known[f->id] >= 0 && known_fields[f->id].singleton)
        return error(ps, 400, known_fields[f->id].dup);
    switch (f->id) {
    case KP_HTTP_HDR_HOST:
        /* an empty host is invalid in an http URI (RFC 9110 section 4.2.1) */
        if (!split_host(p, f->value_off, f->value_off + v.len, &host, &port) || host.len == 0)
            return error(ps, 400, "invalid Host field");
        /* an absolute- or authority-form target overrides Host */
        if (h->form == KP_HTTP_TARGET_ORIGIN || h->form == KP_HTTP_TARGET_ASTERISK)
            set_host(ps, host, port);
        return true;
    case KP_HTTP_HDR_CONNECTION:
        return connection_field(ps, v);
    case KP_HTTP_HDR_CONTENT_LENGTH:
        return content_length_field(ps, v);
    case KP_HTTP_HDR_TRANSFER_ENCODING:
        return transfer_encoding_field(ps, v);
    case KP_HTTP_HDR_EXPECT:
        return expect_field(ps, v);
    default:
        return true;
    }
}

/* The recognised fields by name length (at most two share one), so that a
 * name is compared with two of them at most: every field line of every
 * request goes through field_id. A field missing here is never recognised;
 * an unused slot holds 0 (Host), whose length rules it out. */
static const unsigned char fields_by_len[20][2] = {
    [4] = {KP_HTTP_HDR_HOST},
    [5] = {KP_HTTP_HDR_RANGE},
    [6] = {KP_HTTP_HDR_EXPECT},
    [7] = {KP_HTTP_HDR_REFERER},
    [8] = {KP_HTTP_HDR_IF_MATCH, KP_HTTP_HDR_IF_RANGE},
    [10] = {KP_HTTP_HDR_CONNECTION, KP_HTTP_HDR_USER_AGENT},
    [13] = {KP_HTTP_HDR_IF_NONE_MATCH, KP_HTTP_HDR_AUTHORIZATION},
    [14] = {KP_HTTP_HDR_CONTENT_LENGTH},
    [17] = {KP_HTTP_HDR_TRANSFER_ENCODING, KP_HTTP_HDR_IF_MODIFIED_SINCE},
    [19] = {KP_HTTP_HDR_IF_UNMODIFIED_SINCE},
};

/* p[0..n) is the lowercase name lc in any case, for the names of
 * known_fields: letters and '-' only, 4 <= n <= 19. OR-ing 0x20 maps a
 * letter's two cases onto the lowercase one and, among the bytes a name
 * may hold (no control), only '-' onto '-': one OR per byte makes the
 * compare case-insensitive, eight bytes (or four) a word, the last word
 * ending at n. */
static bool name_is(const char *p, const char *lc, size_t n)
{
    uint64_t a, b;
    uint32_t c, d;

    if (n < 8) {
        memcpy(&c, p, 4);
        memcpy(&d, lc, 4);
        if ((c | 0x20202020u) != d)
            return false;
        memcpy(&c, p + n - 4, 4);
        memcpy(&d, lc + n - 4, 4);
        return (c | 0x20202020u) == d;
    }
    for (size_t i = 0; i < n - 8; i += 8) {
        memcpy(&a, p + i, 8);
        memcpy(&b, lc + i, 8);
        if ((a | 0x2020202020202020u) != b)
            return false;
    }
    memcpy(&a, p + n - 8, 8);
    memcpy(&b, lc + n - 8, 8);
    return (a | 0x2020202020202020u) == b;
}

static enum kp_http_hdr field_id(struct kp_str name)
{
    if (name.len >= sizeof(fields_by_len) / sizeof(fields_by_len[0]))
        return KP_HTTP_HDR_OTHER;
    /* the first letter rules out nearly every other name at once */
    char first = (char)(name.p[0] | 0x20);
    for (int k = 0; k < 2; k++) {
        const struct known_field *kf = &known_fields[fields_by_len[name.len][k]];
        if (kf->len == name.len && kf->name[0] == first && name_is(name.p, kf->name, kf->len))
            return (enum kp_http_hdr)fields_by_len[name.len][k];
    }
    return KP_HTTP_HDR_OTHER;
}

/* --- field lines (RFC 9112 section 5, RFC 9110 section 5.5) ---------------- */

/* A byte of a valid field name by nginx's rule, which is narrower than
 * RFC 9110's token: letters, digits, '-', and '_' when allowed. */
static bool is_name_char(unsigned char c, bool underscores)
{
    return is_alpha(c) || is_digit(c) || c == '-' || (c == '_' && underscores);
}

/* No byte of the eight at p is below 0x20 or DEL. */
static bool plain_word(const char *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    uint64_t below_space = (w - 0x2020202020202020u) & ~w & 0x8080808080808080u;
    return (below_space | zero_bytes(w ^ 0x7f7f7f7f7f7f7f7fu)) == 0;
}

/* Every byte of p[s..e) may be in a field value: VCHAR, obs-text or OWS,
 * i.e. no control but HTAB and no DEL (RFC 9110 section 5.5). Eight bytes a
 * word: a word with no byte below 0x20 and no DEL passes whole; from one
 * that has one (a tab, usually) on, byte by byte. */
static bool valid_value(const char *p, size_t s, size_t e)
{
    size_t i = s;

    for (; e - i >= 8; i += 8) {
        if (!plain_word(p + i))
            break;
    }
    /* the rest of a value of eight bytes or more: the word that ends at e */
    if (i > s && i < e && e - i < 8 && plain_word(p + e - 8))
        return true;
    for (; i < e; i++) {
        if (!kp_http_parse_is_vchar((unsigned char)p[i]) && !is_ows((unsigned char)p[i]))
            return false;
    }
    return true;
}

/* field-line = field-name ":" OWS field-value OWS, on p[s..e), where p[e]
 * is the line's CR or LF; clean: the scanner saw no control byte and no DEL
 * in the line, so its value needs no second look. The caller
 * has checked that a slot is free in fields. A name with other visible
 * bytes ('_', '.', '@', 8-bit ...) is invalid: dropped (and reported) unless
 * the limits keep invalid names, as nginx's ignore_invalid_headers does. No
 * name is ever one of the recognised ones, so dropping one cannot change
 * the framing. Bytes that are never part of a name -- whitespace before the
 * colon, controls, DEL -- are always a 400 (RFC 9112 section 5.1). */
static bool field_line(struct kp_http_parser *ps, const char *p, size_t s, size_t e, bool clean)
{
    struct kp_http_head *h = &ps->head;
    struct kp_http_field *f = &h->fields[h->nfields];
    size_t i = s;
    bool valid = true;
    size_t vs, ve;

    /* obs-fold is obsolete; rejecting it is allowed (RFC 9112 section 5.2) */
    if (is_ows((unsigned char)p[s]))
        return error(ps, 400, "obsolete line folding");
    /* the bytes of a valid name but '_' first; p[e] stops this */
    while (char_class[(unsigned char)p[i]] & CL_NAME)
        i++;
    for (; i < e && p[i] != ':' && kp_http_parse_is_vchar((unsigned char)p[i]); i++)
        valid = valid && is_name_char((unsigned char)p[i], ps->lim.underscores);
    if (i == e || p[i] != ':')
        return error(ps, 400,
                     i < e && is_ows((unsigned char)p[i]) ? "whitespace before colon"
                                                          : "invalid field name");
    if (i == s)
        return error(ps, 400, "empty field name");
    if (!clean && !valid_value(p, i + 1, e))
        return error(ps, 400, "invalid character in field value");
    if (!valid && !ps->lim.keep_invalid) {
        if (ps->lim.dropped != NULL)
            ps->lim.dropped(ps->lim.dropped_arg, (struct kp_str){p + s, e - s});
        return true;
    }
    for (vs = i + 1; vs < e && is_ows((unsigned char)p[vs]); vs++)
        ;
    for (ve = e; ve > vs && is_ows((unsigned char)p[ve - 1]); ve--)
        ;
    f->name_off = s;
    f->name.len = i - s;
    f->value_off = vs;
    f->value.len = ve - vs;
    f->id = field_id((struct kp_str){p + s, i - s});
    if (f->id != KP_HTTP_HDR_OTHER) {
        if (!known_field(ps, p, f))
            return false;
        if (h->known[f->id] < 0)
            h->known[f->id] = (int)h->nfields;
    }
    h->nfields++;
    return true;
}

/* --- end of head: framing and persistence ---------------------------------- */

/* Host requirement (RFC 9112 section 3.2), message body length (RFC 9112
 * section 6.1-6.3), persistence (RFC 9112 section 9.3). */
static bool finish_head(struct kp_http_parser *ps)
{
    struct kp_http_head *h = &ps->head;

    if (h->version == 11 && h->known[KP_HTTP_HDR_HOST] < 0)
        return error(ps, 400, "missing Host field");
    if (h->known[KP_HTTP_HDR_TRANSFER_ENCODING] >= 0) {
        if (h->version == 10)
            return error(ps, 400, "Transfer-Encoding in HTTP/1.0");
        /* a classic request-smuggling vector: never guess, close */
        if (h->known[KP_HTTP_HDR_CONTENT_LENGTH] >= 0)
            return error(ps, 400, "both Transfer-Encoding and Content-Length");
        if (ps->te_chunked > 1)
            return error(ps, 400, "chunked applied more than once");
        if (ps->te_chunked == 1 && !ps->te_last_chunked)
            return error(ps, 400, "chunked is not the final transfer coding");
        if (ps->te_unknown)
            return error(ps, 501, "unsupported transfer coding");
        h->body = KP_HTTP_BODY_CHUNKED;
    } else if (h->content_length > 0) {
        h->body = KP_HTTP_BODY_LENGTH;
    }
    h->must_close = (h->connection & KP_HTTP_CONN_CLOSE) ||
                    (h->version == 10 && !(h->connection & KP_HTTP_CONN_KEEP_ALIVE));
    return true;
}

static struct kp_str slice(const char *p, size_t off, size_t len)
{
    return (struct kp_str){p + off, len};
}

void kp_http_parse_rebase(struct kp_http_parser *ps, const char *p)
{
    struct kp_http_head *h = &ps->head;

    h->request_line = slice(p, ps->line_off, h->request_line.len);
    h->method_name = slice(p, ps->method_off, h->method_name.len);
    h->target = slice(p, ps->target_off, h->target.len);
    h->path = slice(p, ps->path_off, h->path.len);
    h->host = slice(p, ps->host_off, h->host.len);
    h->port = slice(p, ps->port_off, h->port.len);
    for (size_t i = 0; i < h->nfields; i++) {
        h->fields[i].name = slice(p, h->fields[i].name_off, h->fields[i].name.len);
        h->fields[i].value = slice(p, h->fields[i].value_off, h->fields[i].value.len);
    }
}

/* --- the scanner -------------------------------------------------------------- */

/* A complete line ends with the LF at lf: dispatch it by phase. clean: as
 * for field_line. */
static bool end_of_line(struct kp_http_parser *ps, const char *p, size_t lf, bool clean)
{
    size_t s = ps->line_start, e = lf;

    /* CRLF, or a bare LF which RFC 9112 section 2.2 lets us accept */
    if (e > s && p[e - 1] == '\r')
        e--;
    ps->line_start = lf + 1;
    if (ps->phase == PH_LINE) {
        if (e == s)
            return ++ps->empty_lines <= KP_HTTP_MAX_EMPTY_LINES ||
                   error(ps, 400, "too many empty lines before request line");
        ps->phase = PH_FIELDS;
        ps->fields_start = lf + 1;
        return request_line(ps, p, s, e);
    }
    if (e > s)
        return field_line(ps, p, s, e, clean);
    if (!finish_head(ps))
        return false;
    ps->phase = PH_DONE;
    ps->result = (ssize_t)(lf + 1);
    kp_http_parse_rebase(ps, p);
    return true;
}

/* Checks one byte can settle: NUL, bare CR, limits. Early limit checks keep a
 * client from filling our buffer before we answer 414/494. */
static bool check_byte(struct kp_http_parser *ps, const char *p, size_t i)
{
    unsigned char c = (unsigned char)p[i];

    if (c == '\0')
        return error(ps, 400, "NUL byte in request head");
    if (i > ps->line_start && p[i - 1] == '\r' && c != '\n')
        return error(ps, 400, "bare CR in request head");
    if (ps->phase == PH_LINE) {
        if (c != '\r' && c != '\n' && i - ps->line_start >= ps->lim.max_line)
            return error(ps, 414, "request line too long");
        return true;
    }
    /* A head too large past its request line is nginx's internal 494
     * (handler.h): 400 with its own page, as from nginx. */
    if (i - ps->fields_start >= ps->lim.max_header)
        return error(ps, 494, "header section too large");
    if (c != '\r' && c != '\n' && i - ps->line_start >= ps->lim.max_line)
        return error(ps, 494, "too long header line");
    if (i == ps->line_start && c != '\r' && c != '\n' && ps->head.nfields == ps->fields_cap)
        return error(ps, 494, "too many header fields");
    return true;
}

void kp_http_parse_init(struct kp_http_parser *ps, const struct kp_http_limits *lim,
                        struct kp_http_field *fields, size_t nfields)
{
    memset(ps, 0, sizeof(*ps));
    if (lim != NULL)
        ps->lim = *lim;
    if (ps->lim.max_line == 0)
        ps->lim.max_line = KP_HTTP_DEFAULT_MAX_LINE;
    if (ps->lim.max_header == 0)
        ps->lim.max_header = KP_HTTP_DEFAULT_MAX_HEADER;
    ps->head.fields = fields;
    ps->fields_cap = nfields;
    for (int i = 0; i < KP_HTTP_HDR_COUNT; i++)
        ps->head.known[i] = -1;
    ps->phase = PH_LINE;
}

/* The first index in [i, stop) holding NUL, CR or LF, else stop: a byte
 * outside those three that neither starts a line nor follows a CR passes
 * every check of check_byte but the limits, which bound stop. Eight bytes
 * a word, since this sees every byte of every head. */
static size_t skip_plain(const char *p, size_t i, size_t stop)
{
    for (; stop - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t m = zero_bytes(w) | zero_bytes(w ^ 0x0d0d0d0d0d0d0d0du) |
                     zero_bytes(w ^ 0x0a0a0a0a0a0a0a0au);
        if (m != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)__builtin_ctzll(m) / 8;
#else
            break;
#endif
        }
    }
    while (i < stop && p[i] != '\0' && p[i] != '\r' && p[i] != '\n')
        i++;
    return i;
}

/* Where the bytes from i on may be skipped to: up to len, but not past the
 * limit of the current line or of the head (fields), whose bytes check_byte
 * must see. Only for i > line_start with no CR at i - 1. */
static size_t plain_end(const struct kp_http_parser *ps, size_t i, size_t len)
{
    size_t line_used = i - ps->line_start;
    size_t room = line_used < ps->lim.max_line ? ps->lim.max_line - line_used : 0;

    if (ps->phase != PH_LINE) {
        size_t head_used = i - ps->fields_start;
        size_t head_room = head_used < ps->lim.max_header ? ps->lim.max_header - head_used : 0;
        if (head_room < room)
            room = head_room;
    }
    return room < len - i ? i + room : len;
}

/* Bit 7 of each byte of the eight at p set where it is a control byte
 * or DEL. With bit 7 cleared first, no byte's sum carries into the next
 * (0x7f + 0x60 < 0x100): a byte below 0x20 is one whose sum with 0x60
 * stays below 0x80, DEL the only one whose sum with 1 reaches it. */
static uint64_t text_stops(const char *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    uint64_t t = w & 0x7f7f7f7f7f7f7f7fu;
    return (~(t + 0x6060606060606060u) | (t + 0x0101010101010101u)) & ~w & 0x8080808080808080u;
}

/* The first index in [i, stop) holding a control byte or DEL, else stop.
 * Eight bytes a word while eight bytes are left before len (they exist,
 * even past stop, which only bounds the answer). */
static size_t skip_text(const char *p, size_t i, size_t stop, size_t len)
{
    size_t words_end = len < 8 ? 0 : len - 7 < stop ? len - 7 : stop;

    for (; i < words_end; i += 8) {
        uint64_t m = text_stops(p + i);
        if (m != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            i += (size_t)__builtin_ctzll(m) / 8;
#else
            i += (size_t)__builtin_clzll(m) / 8;
#endif
            return i < stop ? i : stop;
        }
    }
    while (i < stop && (unsigned char)p[i] >= 0x20 && p[i] != 0x7f)
        i++;
    return i < stop ? i : stop;
}

/* The fast path, for a line that starts at ps->line_start and is all in
 * p[0..len) (nearly every line): when every byte of it would pass
 * check_byte -- within the limits, no NUL, a CR only before its LF, a free
 * slot for a field -- the index of its LF, else len, and the byte loop
 * takes the line instead, which finds the error, the limit or the missing
 * bytes exactly as before. The line is scanned once, for its end and for
 * control bytes: *clean tells that it has none (a tab included) and no DEL
 * before its CR LF. */
static size_t whole_line(const struct kp_http_parser *ps, const char *p, size_t len, bool *clean)
{
    size_t s = ps->line_start, end = len;

    if (ps->phase != PH_LINE) {
        size_t used = s - ps->fields_start;
        if (used >= ps->lim.max_header)
            return len;
        if (ps->lim.max_header - used < len - s)
            end = s + (ps->lim.max_header - used);
        if (p[s] != '\r' && p[s] != '\n' && ps->head.nfields == ps->fields_cap)
            return len;
    }
    /* a byte from stop on, if not the line ending, is over the line limit */
    size_t stop = end - s > ps->lim.max_line ? s + ps->lim.max_line : end;
    *clean = true;
    for (size_t i = s;; i++) {
        i = skip_text(p, i, stop, end);
        if (i == end)
            return len;
        if (p[i] == '\n')
            return i;
        if (p[i] == '\r')
            return i + 1 < end && p[i + 1] == '\n' ? i + 1 : len;
        if (i == stop || p[i] == '\0')
            return len;
        *clean = false;
    }
}

/* The byte loop, from i up to the end of the line or len: check_byte on
 * every byte that may fail it. Returns the index of the line's LF, or len
 * (more bytes needed, or an error). */
static size_t line_bytes(struct kp_http_parser *ps, const char *p, size_t i, size_t len)
{
    for (; i < len; i++) {
        if (i > ps->line_start && p[i - 1] != '\r') {
            i = skip_plain(p, i, plain_end(ps, i, len));
            if (i == len)
                break;
        }
        if (!check_byte(ps, p, i))
            break;
        if (p[i] == '\n')
            return i;
    }
    return len;
}

ssize_t kp_http_parse_request(struct kp_http_parser *ps, const char *p, size_t len)
{
    size_t i = ps->pos;

    while (i < len && ps->phase != PH_DONE) {
        bool clean = false;
        size_t lf = i == ps->line_start ? whole_line(ps, p, len, &clean) : len;
        if (lf == len)
            lf = line_bytes(ps, p, i, len);
        if (lf == len)
            break;
        ps->pos = i = lf + 1;
        end_of_line(ps, p, lf, clean);
    }
    if (ps->phase == PH_DONE)
        return ps->result;
    /* never step back: a shorter len must not make us scan a line twice */
    if (len > ps->pos)
        ps->pos = len;
    return KP_PARSE_INCOMPLETE;
}

const struct kp_str *kp_http_parse_value(const struct kp_http_head *h, enum kp_http_hdr id)
{
    if ((unsigned)id >= KP_HTTP_HDR_COUNT || h->known[id] < 0)
        return NULL;
    return &h->fields[h->known[id]].value;
}
