/* Status table: one row per registered code, with the status line and (for
 * 3xx-5xx) the built-in page spelled out at compile time, so that answering
 * costs a table lookup and a memcpy. Reason phrases are RFC 9110's. */
#include "kelpie/http/status.h"

#include <stddef.h>

/* Codes above this have no row (the table is indexed by code). */
#define KP_STATUS_MAX 511

struct status_row {
    const char *reason;
    struct kp_str line;
    struct kp_str page;
};

#define LINE(code, text) KP_STR("HTTP/1.1 " #code " " text "\r\n")
#define PAGE(code, text)                                                                           \
    KP_STR("<html><head><title>" #code " " text "</title></head><body><center><h1>" #code " " text \
           "</h1></center><hr><center>kelpie</center></body></html>\r\n")
/* A code answered without a page (informational and successful ones). */
#define PLAIN(code, text) [code] = {text, LINE(code, text), {NULL, 0}}
/* A code with a built-in page. */
#define PAGED(code, text) [code] = {text, LINE(code, text), PAGE(code, text)}

static const struct status_row rows[KP_STATUS_MAX + 1] = {
    PLAIN(100, "Continue"),
    PLAIN(101, "Switching Protocols"),
    PLAIN(200, "OK"),
    PLAIN(201, "Created"),
    PLAIN(202, "Accepted"),
    PLAIN(203, "Non-Authoritative Information"),
    PLAIN(204, "No Content"),
    PLAIN(205, "Reset Content"),
    PLAIN(206, "Partial Content"),
    PAGED(300, "Multiple Choices"),
    PAGED(301, "Moved Permanently"),
    PAGED(302, "Found"),
    PAGED(303, "See Other"),
    PLAIN(304, "Not Modified"),
    PAGED(305, "Use Proxy"),
    PAGED(307, "Temporary Redirect"),
    PAGED(308, "Permanent Redirect"),
    PAGED(400, "Bad Request"),
    /* nginx's page names the 401 by its older reason phrase. */
    [401] = {"Unauthorized", LINE(401, "Unauthorized"), PAGE(401, "Authorization Required")},
    PAGED(402, "Payment Required"),
    PAGED(403, "Forbidden"),
    PAGED(404, "Not Found"),
    PAGED(405, "Method Not Allowed"),
    PAGED(406, "Not Acceptable"),
    PAGED(407, "Proxy Authentication Required"),
    PAGED(408, "Request Timeout"),
    PAGED(409, "Conflict"),
    PAGED(410, "Gone"),
    PAGED(411, "Length Required"),
    PAGED(412, "Precondition Failed"),
    PAGED(413, "Content Too Large"),
    PAGED(414, "URI Too Long"),
    PAGED(415, "Unsupported Media Type"),
    PAGED(416, "Range Not Satisfiable"),
    PAGED(417, "Expectation Failed"),
    PAGED(421, "Misdirected Request"),
    PAGED(422, "Unprocessable Content"),
    PAGED(426, "Upgrade Required"),
    PAGED(428, "Precondition Required"),
    PAGED(429, "Too Many Requests"),
    PAGED(431, "Request Header Fields Too Large"),
    PAGED(500, "Internal Server Error"),
    PAGED(501, "Not Implemented"),
    PAGED(502, "Bad Gateway"),
    PAGED(503, "Service Unavailable"),
    PAGED(504, "Gateway Timeout"),
    PAGED(505, "HTTP Version Not Supported"),
};

static const struct status_row *row(int code)
{
    if (code < 0 || code > KP_STATUS_MAX || rows[code].reason == NULL)
        return NULL;
    return &rows[code];
}

const char *kp_http_status_reason(int code)
{
    const struct status_row *r = row(code);
    return r != NULL ? r->reason : NULL;
}

struct kp_str kp_http_status_line(int code)
{
    const struct status_row *r = row(code);
    return r != NULL ? r->line : KP_STR_NULL;
}

struct kp_str kp_http_status_page(int code)
{
    const struct status_row *r = row(code);
    return r != NULL ? r->page : KP_STR_NULL;
}

bool kp_http_status_no_body(int code)
{
    return (code >= 100 && code < 200) || code == 204 || code == 304;
}
