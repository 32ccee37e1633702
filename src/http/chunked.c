/* Chunked transfer-coding decoder (RFC 9112 section 7.1), one byte of framing
 * at a time so that it can resume anywhere; data is returned in place.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) */
#include "kelpie/http/chunked.h"

#include "kelpie/util/str.h"

enum state {
    S_SIZE_FIRST,  /* first hex digit of chunk-size */
    S_SIZE,        /* more hex digits */
    S_EXT_BWS,     /* whitespace that must lead to ';' */
    S_EXT_NAME_WS, /* after ';': BWS then ext-name */
    S_EXT_NAME,    /* in ext-name */
    S_EXT_AFTER,   /* whitespace after ext-name: '=' or ';' follows */
    S_EXT_VAL_WS,  /* after '=': BWS then ext-val */
    S_EXT_VAL,     /* in a token ext-val */
    S_EXT_QUOTED,  /* in a quoted-string ext-val */
    S_EXT_PAIR,    /* after a backslash in a quoted-string */
    S_EXT_QEND,    /* after the closing quote */
    S_SIZE_LF,     /* CR seen at the end of the size line */
    S_DATA,        /* chunk-data */
    S_DATA_CR,     /* CRLF after chunk-data */
    S_DATA_LF,
    S_TRAILER,      /* start of a trailer line (or the final CRLF) */
    S_TRAILER_NAME, /* in a field-name */
    S_TRAILER_VAL,  /* in a field-value */
    S_TRAILER_LF,   /* CR seen at the end of a trailer line */
    S_FINAL_LF,     /* CR of the final CRLF seen */
    S_DONE,
    S_ERROR,
};

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext (RFC 9110 section 5.6.4): HTAB / SP / VCHAR except '"' and '\'. */
static bool is_qdtext(unsigned char c)
{
    return is_ws(c) || (kp_http_parse_is_vchar(c) && c != '"' && c != '\\');
}

static bool fail(struct kp_http_chunked *ck, int status, const char *reason)
{
    ck->status = status;
    ck->reason = reason;
    ck->state = S_ERROR;
    return false;
}

/* Where an ext-name, ext-val or closing quote may be followed. */
static enum state after_ext_word(unsigned char c, enum state self)
{
    if (c == ';')
        return S_EXT_NAME_WS;
    if (c == '\r')
        return S_SIZE_LF;
    if (is_ws(c))
        return self == S_EXT_NAME ? S_EXT_AFTER : S_EXT_BWS;
    if (c == '=' && self == S_EXT_NAME)
        return S_EXT_VAL_WS;
    return S_ERROR;
}

/* Transition inside chunk-ext; S_ERROR on a syntax error. */
static enum state ext_byte(enum state s, unsigned char c)
{
    switch (s) {
    case S_EXT_BWS:
        return is_ws(c) ? s : c == ';' ? S_EXT_NAME_WS : S_ERROR;
    case S_EXT_NAME_WS:
        return is_ws(c) ? s : kp_http_parse_is_tchar(c) ? S_EXT_NAME : S_ERROR;
    case S_EXT_NAME:
    case S_EXT_VAL:
        return kp_http_parse_is_tchar(c) ? s : after_ext_word(c, s);
    case S_EXT_AFTER:
        return is_ws(c) ? s : c == '=' ? S_EXT_VAL_WS : c == ';' ? S_EXT_NAME_WS : S_ERROR;
    case S_EXT_VAL_WS:
        return is_ws(c)                    ? s
               : kp_http_parse_is_tchar(c) ? S_EXT_VAL
               : c == '"'                  ? S_EXT_QUOTED
                                           : S_ERROR;
    case S_EXT_QUOTED:
        return c == '"' ? S_EXT_QEND : c == '\\' ? S_EXT_PAIR : is_qdtext(c) ? s : S_ERROR;
    case S_EXT_PAIR:
        return is_ws(c) || kp_http_parse_is_vchar(c) ? S_EXT_QUOTED : S_ERROR;
    default: /* S_EXT_QEND */
        return after_ext_word(c, s);
    }
}

/* The size line is complete: decide between data and the trailer section. */
static bool size_line_end(struct kp_http_chunked *ck)
{
    if (ck->remaining == 0) {
        ck->state = S_TRAILER;
        return true;
    }
    /* refuse before reading the data: RFC 9110 section 15.5.14 */
    if (ck->remaining > ck->max_body - ck->total)
        return fail(ck, 413, "chunked body too large");
    ck->state = S_DATA;
    return true;
}

/* One byte of a chunk-size line. */
static bool size_byte(struct kp_http_chunked *ck, unsigned char c)
{
    enum state s = (enum state)ck->state;

    if (s == S_SIZE_LF)
        return c == '\n' ? size_line_end(ck) : fail(ck, 400, "bare CR in chunk-size line");
    if (++ck->line_len > KP_HTTP_CHUNK_LINE_MAX)
        return fail(ck, 400, "chunk-size line too long");
    if (s == S_SIZE_FIRST || (s == S_SIZE && kp_str_is_hex(c))) {
        if (!kp_str_is_hex(c))
            return fail(ck, 400, "invalid chunk size");
        /* keep sizes below 2^63 so sums stay exact */
        if (ck->remaining > (INT64_MAX >> 4))
            return fail(ck, 400, "chunk size too large");
        ck->remaining = (ck->remaining << 4) | kp_str_hex_value(c);
        ck->state = S_SIZE;
        return true;
    }
    s = s == S_SIZE ? after_ext_word(c, S_EXT_VAL) : ext_byte(s, c);
    if (s == S_ERROR)
        return fail(ck, 400, "invalid chunk extension");
    ck->state = s;
    return true;
}

/* One byte of the trailer section (RFC 9112 section 7.1.2): field lines
 * with the header-field rules, then the final CRLF. */
static bool trailer_byte(struct kp_http_chunked *ck, unsigned char c)
{
    bool ok;

    if (++ck->trailer_len > ck->max_trailer)
        return fail(ck, 431, "trailer section too large");
    switch (ck->state) {
    case S_TRAILER:
        ck->state = c == '\r' ? S_FINAL_LF : S_TRAILER_NAME;
        ok = c == '\r' || kp_http_parse_is_tchar(c);
        break;
    case S_TRAILER_NAME:
        ck->state = c == ':' ? S_TRAILER_VAL : S_TRAILER_NAME;
        ok = c == ':' || kp_http_parse_is_tchar(c);
        break;
    case S_TRAILER_VAL:
        ck->state = c == '\r' ? S_TRAILER_LF : S_TRAILER_VAL;
        ok = c == '\r' || is_ws(c) || kp_http_parse_is_vchar(c);
        break;
    case S_TRAILER_LF:
        ck->state = S_TRAILER;
        ok = c == '\n';
        break;
    default: /* S_FINAL_LF */
        ck->state = S_DONE;
        ok = c == '\n';
        break;
    }
    return ok || fail(ck, 400, "invalid trailer section");
}

/* One framing byte in any state but S_DATA, S_DONE and S_ERROR. */
static bool framing_byte(struct kp_http_chunked *ck, unsigned char c)
{
    switch (ck->state) {
    case S_DATA_CR:
        ck->state = S_DATA_LF;
        return c == '\r' || fail(ck, 400, "chunk data not followed by CRLF");
    case S_DATA_LF:
        ck->state = S_SIZE_FIRST;
        ck->line_len = 0;
        return c == '\n' || fail(ck, 400, "chunk data not followed by CRLF");
    case S_TRAILER:
    case S_TRAILER_NAME:
    case S_TRAILER_VAL:
    case S_TRAILER_LF:
    case S_FINAL_LF:
        return trailer_byte(ck, c);
    default:
        return size_byte(ck, c);
    }
}

void kp_http_chunked_init(struct kp_http_chunked *ck, uint64_t max_body, size_t max_trailer)
{
    *ck = (struct kp_http_chunked){0};
    ck->max_body = max_body ? max_body : UINT64_MAX;
    ck->max_trailer = max_trailer ? max_trailer : KP_HTTP_DEFAULT_MAX_TRAILER;
    ck->state = S_SIZE_FIRST;
}

ssize_t kp_http_chunked_decode(struct kp_http_chunked *ck, const char *p, size_t len,
                               struct kp_str *data)
{
    size_t i = 0;

    *data = (struct kp_str){p, 0};
    while (i < len && ck->state != S_DONE && ck->state != S_ERROR) {
        if (ck->state == S_DATA) {
            size_t n = len - i < ck->remaining ? len - i : (size_t)ck->remaining;

            *data = (struct kp_str){p + i, n};
            ck->remaining -= n;
            ck->total += n;
            if (ck->remaining == 0)
                ck->state = S_DATA_CR;
            return (ssize_t)(i + n);
        }
        framing_byte(ck, (unsigned char)p[i++]);
    }
    return ck->state == S_ERROR ? KP_PARSE_INVALID : (ssize_t)i;
}

bool kp_http_chunked_done(const struct kp_http_chunked *ck)
{
    return ck->state == S_DONE;
}
