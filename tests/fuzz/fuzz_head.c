/* libFuzzer target for the response head and its per-reactor memo
 * (kp_http_head_opts.memo). The input is a sequence of responses, nine
 * bytes each, every one picking each input of the head (status, length,
 * Content-Type, ETag, Last-Modified, Accept-Ranges, Server, Connection,
 * Keep-Alive, Date and the fields that are never kept) from a few values,
 * so that consecutive responses share most of them. Each head is built
 * with the memo the earlier ones left and without any memo: the two must be
 * the same bytes, and within kp_http_response_head_size. A response must
 * never get a head kept from another. */
#include <stdint.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/request.h"
#include "kelpie/http/response.h"

#include "fuzz.h"

#define STEP 9

static const int statuses[] = {200, 206, 304, 404, 204, 301, 100, 999};
static const char *const dates[] = {"Sun, 22 Nov 2026 10:00:00 GMT",
                                    "Sun, 22 Nov 2026 10:00:01 GMT"};

/* A value of one of a few lengths, some past the memo's room for it. */
static struct kp_str pick(unsigned k, const char *a, const char *b, const char *longer)
{
    switch (k % 4) {
    case 0:
        return (struct kp_str){NULL, 0};
    case 1:
        return kp_str_from(a);
    case 2:
        return kp_str_from(b);
    default:
        return kp_str_from(longer);
    }
}

static struct kp_str type_of(unsigned k)
{
    static char longer[KP_HTTP_HEAD_MEMO_VALUE + 8];

    if (longer[0] == '\0') {
        memset(longer, 'x', sizeof(longer) - 1);
        memcpy(longer, "text/", 5);
    }
    return pick(k, "text/html", "text/html; charset=utf-8", k & 4 ? longer : "text/htmL");
}

/* The optional fields a memo never keeps. */
static void rare(struct kp_http_response *resp, unsigned k)
{
    if (k & 1)
        resp->content_range = KP_STR("bytes 0-9/600");
    if (k & 2)
        resp->location = KP_STR("http://x/");
    if (k & 4)
        resp->allow = KP_STR("GET, HEAD");
    if (k & 8)
        resp->www_authenticate = KP_STR("Basic realm=\"a\"");
    if (k & 16)
        resp->extra = KP_STR("X-A: b\r\n");
    if (k & 32)
        resp->extra = KP_STR("Cache-Control: max-age=5\r\n");
}

static void one(const uint8_t *d, struct kp_http_head_memo *memo, struct kp_http_date_cache *lm)
{
    struct kp_http_response resp;

    kp_http_response_init(&resp);
    resp.status = statuses[d[0] % 8];
    resp.content_type = type_of(d[1]);
    resp.etag = pick(d[2], "\"5f-258\"", "\"5f-259\"", "W/\"5f-258\"");
    resp.last_modified = d[3] % 3 == 0 ? -1 : (time_t)(999 + d[3] % 3);
    resp.accept_ranges = d[3] & 8;
    switch (d[4] % 4) {
    case 0:
        resp.fd = 3;
        resp.file_len = 600 + d[4] / 64;
        break;
    case 1:
        resp.body = (struct kp_str){"abc", d[4] / 64};
        break;
    case 2:
        resp.content_length = d[4] / 4;
        break;
    default:
        break;
    }
    if (d[5] % 4 == 0)
        rare(&resp, d[5] / 4);
    struct kp_http_head_opts o = {.date = dates[d[6] % 2],
                                  .server_tokens = (d[6] / 2) % 3,
                                  .connection = (enum kp_http_conn_hdr)(d[7] % 3),
                                  .keepalive_s = d[7] / 3 % 4 == 0 ? d[7] / 12 : 0,
                                  .lm = d[8] & 1 ? lm : NULL,
                                  .memo = memo};
    size_t size = kp_http_response_head_size(&resp);
    /* exact-size buffers, so that a head past its bound is caught */
    char *with = kp_alloc(size), *without = kp_alloc(size);
    size_t n = kp_http_response_head(&resp, &o, with);
    o.memo = NULL;
    size_t m = kp_http_response_head(&resp, &o, without);

    CHECK(n <= size && m <= size);
    CHECK(n == m && memcmp(with, without, n) == 0);
    kp_free(with);
    kp_free(without);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kp_http_head_memo *memo = kp_alloc(sizeof(*memo));
    struct kp_http_date_cache lm = {.t = -1};

    memset(memo, 0, sizeof(*memo));
    for (size_t i = 0; i + STEP <= size; i += STEP)
        one(data + i, memo, &lm);
    kp_free(memo);
    return 0;
}
