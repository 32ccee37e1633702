/* multipart/byteranges bodies (see byteranges.h). */
#include "kelpie/http/byteranges.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/util/log.h"
#include "kelpie/http/request.h"

#define BOUNDARY_LEN 20
/* A part's header besides its type and boundary, numbers at their longest. */
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

static int read_exact(int fd, char *p, uint64_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (uint64_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static uint64_t body_size(const struct kp_http_ranges *rs, size_t type_len)
{
    uint64_t total = BOUNDARY_LEN + sizeof("\r\n----\r\n");

    for (size_t i = 0; i < rs->n; i++)
        total += PART_HEAD_MAX + BOUNDARY_LEN + type_len + rs->v[i].last - rs->v[i].first + 1;
    return total;
}

int kp_http_byteranges(struct kp_http_request *r, int fd, const struct kp_http_ranges *ranges,
                       uint64_t size)
{
    struct kp_str type = r->resp.content_type;
    uint64_t cap = body_size(ranges, type.len);
    char b[BOUNDARY_LEN + 1];

    if (cap > KP_HTTP_BYTERANGES_MAX)
        return -EFBIG;
    boundary(r, b);
    char *body = kp_arena_alloc(&r->arena, cap), *p = body;
    for (size_t i = 0; i < ranges->n; i++) {
        uint64_t first = ranges->v[i].first, len = ranges->v[i].last - first + 1;
        p += snprintf(p, PART_HEAD_MAX + BOUNDARY_LEN + type.len,
                      "\r\n--%s\r\nContent-Type: %.*s\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64
                      "/%" PRIu64 "\r\n\r\n",
                      b, (int)type.len, type.p, first, ranges->v[i].last, size);
        int rc = read_exact(fd, p, len, first);
        if (rc != 0) {
            kp_http_request_log(r, KP_LOG_CRIT, -rc, "reading a byte range of %" PRIu64 " failed",
                                len);
            return rc;
        }
        p += len;
    }
    p += snprintf(p, BOUNDARY_LEN + sizeof("\r\n----\r\n"), "\r\n--%s--\r\n", b);
    size_t ctype_len = sizeof("multipart/byteranges; boundary=") - 1 + BOUNDARY_LEN;
    char *ctype = kp_arena_alloc(&r->arena, ctype_len + 1);
    snprintf(ctype, ctype_len + 1, "multipart/byteranges; boundary=%s", b);
    r->resp.content_type = (struct kp_str){ctype, ctype_len};
    r->resp.body = (struct kp_str){body, (size_t)(p - body)};
    r->resp.fd = -1;
    r->resp.file_len = 0;
    r->resp.status = 206;
    return 0;
}
