/* multipart/byteranges responses (see byteranges.h). */
#include "kelpie/http/byteranges.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kelpie/http/req.h"

#define BOUNDARY_LEN 20
/* A part's head besides its type and boundary, numbers at their longest. */
#define PART_HEAD_MAX (sizeof("\r\n--\r\nContent-Type: \r\nContent-Range: bytes -/\r\n\r\n") + 60)

/* The boundary: 20 digits, like nginx's, from the connection and request
 * numbers, so that two responses of one worker do not share one. A file
 * containing the boundary line is the risk every multipart sender takes;
 * RFC 2046 section 5.1.1 asks only that it be improbable. */
static void boundary(const struct kp_http_request *r, char out[BOUNDARY_LEN + 1])
{
    uint64_t conn = r->hc != NULL ? r->hc->c->number : 0;
    unsigned req = r->hc != NULL ? r->hc->c->requests : 0;

    snprintf(out, BOUNDARY_LEN + 1, "%0*" PRIu64, BOUNDARY_LEN,
             (conn * 1000003u + req) % 10000000000000000000u);
}

static struct kp_str part_head(struct kp_http_request *r, const char *b, uint64_t first,
                               uint64_t last, uint64_t size)
{
    struct kp_str type = r->resp.content_type;
    size_t cap = PART_HEAD_MAX + BOUNDARY_LEN + type.len;
    char *p = kp_arena_alloc(&r->arena, cap);
    int n = snprintf(p, cap,
                     "\r\n--%s\r\nContent-Type: %.*s\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64
                     "/%" PRIu64 "\r\n\r\n",
                     b, (int)type.len, type.p, first, last, size);

    return (struct kp_str){p, (size_t)n};
}

void kp_http_byteranges(struct kp_http_request *r, const struct kp_http_ranges *ranges,
                        uint64_t size)
{
    struct kp_http_part *parts = kp_arena_alloc(&r->arena, (ranges->n + 1) * sizeof(*parts));
    char b[BOUNDARY_LEN + 1];
    uint64_t total = 0;

    boundary(r, b);
    for (size_t i = 0; i < ranges->n; i++) {
        uint64_t first = ranges->v[i].first, last = ranges->v[i].last;
        parts[i] = (struct kp_http_part){part_head(r, b, first, last, size), (off_t)first,
                                         last - first + 1};
        total += parts[i].head.len + parts[i].len;
    }
    /* The closing delimiter: a part with no file bytes. */
    char *end = kp_arena_alloc(&r->arena, BOUNDARY_LEN + sizeof("\r\n----\r\n"));
    int n = snprintf(end, BOUNDARY_LEN + sizeof("\r\n----\r\n"), "\r\n--%s--\r\n", b);
    parts[ranges->n] = (struct kp_http_part){{end, (size_t)n}, 0, 0};
    total += (uint64_t)n;

    size_t ctype_len = sizeof("multipart/byteranges; boundary=") - 1 + BOUNDARY_LEN;
    char *ctype = kp_arena_alloc(&r->arena, ctype_len + 1);
    snprintf(ctype, ctype_len + 1, "multipart/byteranges; boundary=%s", b);
    r->resp.content_type = (struct kp_str){ctype, ctype_len};
    r->resp.parts = parts;
    r->resp.n_parts = ranges->n + 1;
    r->resp.content_length = (int64_t)total;
    r->resp.status = 206;
}
