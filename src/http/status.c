/* Status table: one row per registered code, with the status line and (for
 * 3xx-5xx) the built-in page spelled out at compile time, once per
 * server_tokens setting, so that answering costs a table lookup and a
 * memcpy. Reason phrases in status lines are RFC 9110's; the pages are laid
 * out and titled as nginx's (its older titles for 401, 405, 408, 413, 414,
 * 416, 503 and 504), and codes nginx has no page for get none. */
#include "kelpie/http/status.h"

#include <stddef.h>

#include "config.h"

/* Codes above this have no row (the table is indexed by code). */
#define KP_STATUS_MAX 511

struct status_row {
    const char *reason;
    struct kp_str line;
    struct kp_str page[3]; /* by KP_HTTP_TOKENS_* */
};

#define LINE(code, text) KP_STR("HTTP/1.1 " #code " " text "\r\n")
#define TOP(title, h1)                                                                             \
    "<html>\r\n<head><title>" title "</title></head>\r\n<body>\r\n<center><h1>" h1                 \
    "</h1></center>\r\n"
#define END "</center>\r\n</body>\r\n</html>\r\n"
/* The page in its three tails, as the Server field names us. */
#define PAGES(top)                                                                                 \
    {                                                                                              \
        KP_STR(top "<hr><center>kelpie" END), KP_STR(top "<hr><center>kelpie/" KP_VERSION END),    \
            KP_STR(top "<hr><center>kelpie/" KP_VERSION " (" KP_BUILD ")" END)                     \
    }
/* A code answered without a page (informational and successful ones, and
 * those nginx sends with an empty body). */
#define PLAIN(code, text) [code] = {text, LINE(code, text), {{NULL, 0}, {NULL, 0}, {NULL, 0}}}
/* A code with a built-in page titled as its reason phrase... */
#define PAGED(code, text)                                                                          \
    [code] = {text, LINE(code, text), PAGES(TOP(#code " " text, #code " " text))}
/* ...or as nginx titles it. */
#define TITLED(code, text, title)                                                                  \
    [code] = {text, LINE(code, text), PAGES(TOP(#code " " title, #code " " title))}
/* nginx's internal codes (handler.h), sent as 400 with a line of their own. */
#define INTERNAL(code, text)                                                                       \
    [code] = {"Bad Request", LINE(400, "Bad Request"),                                             \
              PAGES(TOP("400 " text, "400 Bad Request") "<center>" text "</center>\r\n")}

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
    PLAIN(300, "Multiple Choices"),
    PAGED(301, "Moved Permanently"),
    PAGED(302, "Found"),
    PAGED(303, "See Other"),
    PLAIN(304, "Not Modified"),
    PLAIN(305, "Use Proxy"),
    PAGED(307, "Temporary Redirect"),
    PAGED(308, "Permanent Redirect"),
    PAGED(400, "Bad Request"),
    TITLED(401, "Unauthorized", "Authorization Required"),
    PAGED(402, "Payment Required"),
    PAGED(403, "Forbidden"),
    PAGED(404, "Not Found"),
    TITLED(405, "Method Not Allowed", "Not Allowed"),
    PAGED(406, "Not Acceptable"),
    PLAIN(407, "Proxy Authentication Required"),
    TITLED(408, "Request Timeout", "Request Time-out"),
    PAGED(409, "Conflict"),
    PAGED(410, "Gone"),
    PAGED(411, "Length Required"),
    PAGED(412, "Precondition Failed"),
    TITLED(413, "Content Too Large", "Request Entity Too Large"),
    TITLED(414, "URI Too Long", "Request-URI Too Large"),
    PAGED(415, "Unsupported Media Type"),
    TITLED(416, "Range Not Satisfiable", "Requested Range Not Satisfiable"),
    PLAIN(417, "Expectation Failed"),
    PAGED(421, "Misdirected Request"),
    PLAIN(422, "Unprocessable Content"),
    PLAIN(426, "Upgrade Required"),
    PLAIN(428, "Precondition Required"),
    PAGED(429, "Too Many Requests"),
    PLAIN(431, "Request Header Fields Too Large"),
    INTERNAL(494, "Request Header Or Cookie Too Large"),
    INTERNAL(495, "The SSL certificate error"),
    INTERNAL(496, "No required SSL certificate was sent"),
    INTERNAL(497, "The plain HTTP request was sent to HTTPS port"),
    PAGED(500, "Internal Server Error"),
    PAGED(501, "Not Implemented"),
    PAGED(502, "Bad Gateway"),
    TITLED(503, "Service Unavailable", "Service Temporarily Unavailable"),
    TITLED(504, "Gateway Timeout", "Gateway Time-out"),
    PAGED(505, "HTTP Version Not Supported"),
    PAGED(507, "Insufficient Storage"),
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

struct kp_str kp_http_status_page(int code, unsigned server_tokens)
{
    const struct status_row *r = row(code);
    /* "build" without a build name reads as "on", as in the Server field. */
    if (server_tokens == KP_HTTP_TOKENS_BUILD && sizeof(KP_BUILD) == 1)
        server_tokens = KP_HTTP_TOKENS_ON;
    return r != NULL && server_tokens <= KP_HTTP_TOKENS_BUILD ? r->page[server_tokens]
                                                              : KP_STR_NULL;
}

bool kp_http_status_no_body(int code)
{
    return (code >= 100 && code < 200) || code == 204 || code == 304;
}
