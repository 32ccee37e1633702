/* ETag generation and conditional-request evaluation (RFC 9110 section 13). */
#include "kelpie/http/cond.h"

#include <string.h>

#include "kelpie/util/time.h"

/* An entity-tag split into its weakness and its opaque part (quotes kept). */
struct etag {
    struct kp_str opaque;
    bool weak;
};

/* Lowercase hex of v without leading zeros; returns the digits written. */
static size_t put_hex(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char d[16];
    size_t n = 0;

    do {
        d[n++] = hex[v & 0xf];
        v >>= 4;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = d[n - 1 - i];
    return n;
}

size_t kp_http_cond_etag(char *out, time_t mtime, uint64_t size)
{
    /* Hex of the raw bits keeps the tag short and total for any time_t; by
     * hand because this runs for every file served. */
    size_t n = 0;

    out[n++] = '"';
    n += put_hex(out + n, (uint64_t)mtime);
    out[n++] = '-';
    n += put_hex(out + n, size);
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

/* entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E /
 * obs-text (RFC 9110 section 8.8.3). Returns the byte after the tag, or NULL
 * if p does not start with one. */
static const char *parse_etag(const char *p, const char *end, struct etag *t)
{
    t->weak = false;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
        t->weak = true;
        p += 2;
    }
    if (p >= end || *p != '"')
        return NULL;
    const char *start = p++;
    while (p < end && *p != '"') {
        unsigned char ch = (unsigned char)*p++;
        if (ch < 0x21 || ch == 0x7f)
            return NULL;
    }
    if (p >= end)
        return NULL;
    p++;
    t->opaque = (struct kp_str){start, (size_t)(p - start)};
    return p;
}

/* Section 8.8.3.2: strong comparison needs both tags strong; weak comparison
 * looks at the opaque part only. */
static bool etag_eq(const struct etag *a, const struct etag *b, bool strong)
{
    if (strong && (a->weak || b->weak))
        return false;
    return kp_str_eq(a->opaque, b->opaque);
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* True if a member of one field line's list is `*` or matches cur (NULL:
 * the representation has no tag, so only `*` matches). Invalid members are
 * skipped up to the next comma. */
static bool list_match(struct kp_str v, const struct etag *cur, bool strong)
{
    const char *p = v.p, *end = v.p + v.len;

    while (p < end) {
        if (*p == ',' || is_ows(*p)) {
            p++;
            continue;
        }
        struct etag t;
        const char *q = (*p == '*') ? p + 1 : parse_etag(p, end, &t);
        if (q != NULL && (q == end || *q == ',' || is_ows(*q))) {
            if (*p == '*' || (cur != NULL && etag_eq(&t, cur, strong)))
                return true;
            p = q;
            continue;
        }
        q = memchr(p, ',', (size_t)(end - p));
        if (q == NULL)
            break;
        p = q + 1;
    }
    return false;
}

/* The list of field id may span several lines (section 5.3): any of them. */
static bool field_match(const struct kp_http_head *h, enum kp_http_hdr id, const struct etag *cur,
                        bool strong)
{
    for (size_t i = (size_t)h->known[id]; i < h->nfields; i++) {
        if (h->fields[i].id == id && list_match(h->fields[i].value, cur, strong))
            return true;
    }
    return false;
}

/* Parse a date field; false when absent or invalid (then it is ignored). */
static bool field_date(const struct kp_http_head *h, enum kp_http_hdr id, time_t *out)
{
    const struct kp_str *v = kp_http_parse_value(h, id);
    return v != NULL && kp_time_parse_http_date(v->p, v->len, out) == 0;
}

/* The current tag parsed, or NULL when there is none (or it is malformed). */
static const struct etag *current_tag(struct kp_str etag, struct etag *t)
{
    if (etag.len == 0)
        return NULL;
    const char *q = parse_etag(etag.p, etag.p + etag.len, t);
    return q == etag.p + etag.len ? t : NULL;
}

static bool is_get_or_head(const struct kp_http_head *h)
{
    return h->method == KP_HTTP_METHOD_GET || h->method == KP_HTTP_METHOD_HEAD;
}

enum kp_http_cond kp_http_cond_check(const struct kp_http_head *h, struct kp_str etag,
                                     time_t last_modified, enum kp_http_ims ims)
{
    struct etag buf;
    const struct etag *cur = NULL;
    time_t date;

    /* Most requests carry no precondition, and this runs for every file
     * served. */
    if (h->known[KP_HTTP_HDR_IF_MATCH] < 0 && h->known[KP_HTTP_HDR_IF_NONE_MATCH] < 0 &&
        h->known[KP_HTTP_HDR_IF_MODIFIED_SINCE] < 0 &&
        h->known[KP_HTTP_HDR_IF_UNMODIFIED_SINCE] < 0)
        return KP_HTTP_COND_PROCEED;
    /* Only the tag lists need the current tag parsed. */
    if (h->known[KP_HTTP_HDR_IF_MATCH] >= 0 || h->known[KP_HTTP_HDR_IF_NONE_MATCH] >= 0)
        cur = current_tag(etag, &buf);
    /* Steps 1-2: a client that wants to act only on a known state. */
    if (h->known[KP_HTTP_HDR_IF_MATCH] >= 0) {
        if (!field_match(h, KP_HTTP_HDR_IF_MATCH, cur, true))
            return KP_HTTP_COND_FAILED;
    } else if (last_modified != -1 && field_date(h, KP_HTTP_HDR_IF_UNMODIFIED_SINCE, &date) &&
               last_modified > date) {
        return KP_HTTP_COND_FAILED;
    }
    /* Steps 3-4: a cache revalidating what it has. */
    if (h->known[KP_HTTP_HDR_IF_NONE_MATCH] >= 0) {
        if (field_match(h, KP_HTTP_HDR_IF_NONE_MATCH, cur, false))
            return is_get_or_head(h) ? KP_HTTP_COND_NOT_MODIFIED : KP_HTTP_COND_FAILED;
    } else if (is_get_or_head(h) && last_modified != -1 && ims != KP_HTTP_IMS_OFF &&
               field_date(h, KP_HTTP_HDR_IF_MODIFIED_SINCE, &date) &&
               (last_modified == date || (ims == KP_HTTP_IMS_BEFORE && last_modified < date))) {
        return KP_HTTP_COND_NOT_MODIFIED;
    }
    return KP_HTTP_COND_PROCEED;
}

bool kp_http_cond_if_range(const struct kp_http_head *h, struct kp_str etag, time_t last_modified)
{
    const struct kp_str *v = kp_http_parse_value(h, KP_HTTP_HDR_IF_RANGE);
    struct etag buf, t;
    time_t date;

    if (v == NULL)
        return true;
    /* An entity-tag starts with DQUOTE or "W/"; anything else must be a date
     * (section 13.1.5). Only a strong validator may select a range. */
    if (v->len > 0 && (v->p[0] == '"' || v->p[0] == 'W')) {
        const struct etag *cur = current_tag(etag, &buf);
        const char *q = parse_etag(v->p, v->p + v->len, &t);
        return cur != NULL && q == v->p + v->len && etag_eq(&t, cur, true);
    }
    return last_modified != -1 && kp_time_parse_http_date(v->p, v->len, &date) == 0 &&
           date == last_modified;
}
