/* Table-driven tests for the request-head parser. Every case is parsed from
 * one exact-size buffer, then fed one byte at a time and at a few
 * pseudo-random split points, each step in a freshly allocated buffer (so the
 * parser must resume from offsets and never read past what it was given);
 * all feedings must agree with each other and with the table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/parse.h"
#include "kelpie/http/uri.h"

#define NF         16 /* default field array size in these tests */
#define H          "Host: a\r\n"
#define INCOMPLETE (-1)
#define NOFIELDS   SIZE_MAX

struct pcase {
    const char *name;
    const char *req;  /* on success, the head: all of it is consumed */
    const char *tail; /* bytes after the head, which must not be consumed */
    size_t len;       /* 0: strlen(req) (set for requests holding a NUL) */
    int status;       /* 0: success, INCOMPLETE, or the expected error status */
    /* limits: 0 = the parser's defaults; max_fields: 0 = NF, NOFIELDS = 0 */
    size_t max_line, max_header, max_fields;
    /* checked on success when set */
    enum kp_http_method method;
    const char *method_name;
    const char *target;
    const char *path;
    const char *host;
    const char *port;
    unsigned version; /* 0: expect 11 */
    enum kp_http_target_form form;
    enum kp_http_body body;
    uint64_t clen;
    bool must_close;
    unsigned connection;
    bool expect_continue;
    bool expect_unknown;
    const char *fields; /* "name=value\n" for every field */
    enum kp_http_hdr kid;
    const char *kval;               /* expected value of known field kid */
    bool kabsent;                   /* kid expected absent */
    bool underscores, keep_invalid; /* the field-name rules (kp_http_limits) */
};

#define GET_(t) "GET " t " HTTP/1.1\r\n"

static const struct pcase cases[] = {
    /* --- basic valid requests --- */
    {"simple GET", GET_("/") H "\r\n", .method = KP_HTTP_METHOD_GET, .method_name = "GET",
     .target = "/", .path = "/", .host = "a", .port = "", .fields = "Host=a\n"},
    {"HEAD", "HEAD /x HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_HEAD, .target = "/x"},
    {"POST with body", "POST /f HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\n", .tail = "hello",
     .method = KP_HTTP_METHOD_POST, .body = KP_HTTP_BODY_LENGTH, .clen = 5},
    {"PUT", "PUT /f HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", .method = KP_HTTP_METHOD_PUT,
     .body = KP_HTTP_BODY_NONE},
    {"DELETE", "DELETE /f HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_DELETE},
    {"OPTIONS asterisk", "OPTIONS * HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_OPTIONS,
     .form = KP_HTTP_TARGET_ASTERISK, .target = "*", .path = "", .host = "a"},
    {"OPTIONS path", "OPTIONS /p HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_OPTIONS,
     .path = "/p"},
    {"TRACE", "TRACE / HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_TRACE},
    {"PATCH", "PATCH / HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_PATCH},
    {"CONNECT authority", "CONNECT ex.org:443 HTTP/1.1\r\nHost: ex.org:443\r\n\r\n",
     .method = KP_HTTP_METHOD_CONNECT, .form = KP_HTTP_TARGET_AUTHORITY, .host = "ex.org",
     .port = "443", .path = ""},
    {"unknown method", "BREW /pot HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_UNKNOWN,
     .method_name = "BREW"},
    /* methods are case-sensitive, and only capitals, '_' and '-' (nginx) */
    {"lower-case method", "get / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"mixed-case method", "Get / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"method with a digit", "GET2 / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"method with '_'", "GE_T / HTTP/1.1\r\n" H "\r\n", .method = KP_HTTP_METHOD_UNKNOWN,
     .method_name = "GE_T"},
    {"asterisk for unknown method", "M-SEARCH * HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"token method", "M-SEARCH / HTTP/1.1\r\n" H "\r\n", .method_name = "M-SEARCH"},
    {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", .version = 10, .must_close = true,
     .host = "", .fields = ""},
    {"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", .version = 10,
     .must_close = false, .connection = KP_HTTP_CONN_KEEP_ALIVE},
    {"HTTP/1.1 close", GET_("/") H "Connection: close\r\n\r\n", .must_close = true,
     .connection = KP_HTTP_CONN_CLOSE},
    {"Connection list", GET_("/") H "Connection: Keep-Alive, Upgrade\r\n\r\n",
     .connection = KP_HTTP_CONN_KEEP_ALIVE | KP_HTTP_CONN_UPGRADE},
    {"Connection empty elements", GET_("/") H "Connection: , close ,, foo,\r\n\r\n",
     .connection = KP_HTTP_CONN_CLOSE, .must_close = true},
    {"Connection over two lines", GET_("/") H "Connection: upgrade\r\nConnection: close\r\n\r\n",
     .connection = KP_HTTP_CONN_CLOSE | KP_HTTP_CONN_UPGRADE, .must_close = true},
    {"Connection bad token", GET_("/") H "Connection: cl/ose\r\n\r\n", .status = 400},
    {"Connection with parameter", GET_("/") H "Connection: close;x=1\r\n\r\n", .status = 400},
    {"query in target", GET_("/a/b?x=1&y=%20") H "\r\n", .target = "/a/b?x=1&y=%20",
     .path = "/a/b?x=1&y=%20"},
    {"all path characters", GET_("/-._~!$&'()*+,;=:@/%41?/?") H "\r\n",
     .target = "/-._~!$&'()*+,;=:@/%41?/?"},
    {"pipelined requests", GET_("/1") H "\r\n", .tail = GET_("/2") H "\r\n", .target = "/1"},
    /* --- line endings and empty lines --- */
    {"leading CRLFs", "\r\n\r\n" GET_("/") H "\r\n", .target = "/"},
    {"leading bare LF", "\n" GET_("/") H "\r\n", .target = "/"},
    {"eight leading empty lines", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n" GET_("/") H "\r\n",
     .host = "a"},
    {"nine leading empty lines", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\n" GET_("/") H "\r\n",
     .status = 400},
    {"bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", .host = "a"},
    {"mixed line endings", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n", .fields = "Host=a\nX=y\n"},
    {"bare CR in request line", "GET / HTTP/1.1\r\r\n" H "\r\n", .status = 400},
    {"bare CR in field value", GET_("/") "X: a\rb\r\n" H "\r\n", .status = 400},
    {"bare CR as line end", "GET / HTTP/1.1\r" H "\r\n", .status = 400},
    {"bare CR ending the head", GET_("/") H "\r\r\n", .status = 400},
    {"bytes after the head unread", GET_("/") H "\r\n", .tail = "\r"},
    {"leading space line", " \r\n" GET_("/") H "\r\n", .status = 400},
    /* --- request line syntax --- */
    {"double space after method", "GET  / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"double space before version", "GET /  HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"leading space", " GET / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"tab separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"trailing space", "GET / HTTP/1.1 \r\n" H "\r\n", .status = 400},
    {"space in target", "GET /a b HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"invalid method char", "G@T / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"no method", "/ HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"no version (HTTP/0.9)", "GET /\r\n\r\n", .status = 400},
    {"only a method", "GET\r\n\r\n", .status = 400},
    {"NUL in request line", "GET /\0 HTTP/1.1\r\n\r\n", .len = 19, .status = 400},
    {"NUL in field", GET_("/") "X: \0\r\n\r\n", .len = 24, .status = 400},
    {"NUL first", "\0", .len = 1, .status = 400},
    /* --- versions: "HTTP/" DIGIT "." DIGIT exactly (RFC 9112 section 2.3) --- */
    /* RFC 9110 section 2.5: a later 1.x is answered as 1.1 */
    {"HTTP/1.2", "GET / HTTP/1.2\r\n" H "\r\n", .version = 11},
    {"HTTP/1.9", "GET / HTTP/1.9\r\n" H "\r\n", .version = 11},
    {"HTTP/2.0", "GET / HTTP/2.0\r\n" H "\r\n", .status = 505},
    /* a major version above 1 is 505 however it is written, as from nginx */
    {"HTTP/3 without a minor version", "GET / HTTP/3\r\n" H "\r\n", .status = 505},
    {"HTTP/2 without a minor version", "GET / HTTP/2\r\n" H "\r\n", .status = 505},
    {"HTTP/1 without a minor version", "GET / HTTP/1\r\n" H "\r\n", .status = 400},
    {"HTTP/3.0", "GET / HTTP/3.0\r\n" H "\r\n", .status = 505},
    {"HTTP/9.9", "GET / HTTP/9.9\r\n" H "\r\n", .status = 505},
    {"HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", .status = 505},
    {"two-digit major", "GET / HTTP/10.0\r\n" H "\r\n", .status = 505},
    {"two-digit minor", "GET / HTTP/1.10\r\n" H "\r\n", .status = 400},
    {"leading zero in major", "GET / HTTP/01.1\r\n" H "\r\n", .status = 400},
    {"leading zero in minor", "GET / HTTP/1.01\r\n" H "\r\n", .status = 400},
    {"leading zeros in both", "GET / HTTP/001.001\r\n" H "\r\n", .status = 400},
    {"leading zeros in 1.0", "GET / HTTP/01.00\r\n\r\n", .status = 400},
    /* more digits than any int holds: settled without accumulating them */
    {"major overflowing an int", "GET / HTTP/99999999999.1\r\n" H "\r\n", .status = 505},
    {"minor overflowing an int", "GET / HTTP/1.99999999999\r\n" H "\r\n", .status = 400},
    {"minor overflowing 64 bits", "GET / HTTP/1.99999999999999999999999\r\n" H "\r\n",
     .status = 400},
    {"lowercase http", "GET / http/1.1\r\n" H "\r\n", .status = 400},
    {"version without minor digits", "GET / HTTP/1.\r\n" H "\r\n", .status = 400},
    {"version without digits", "GET / HTTP/\r\n" H "\r\n", .status = 400},
    {"version without a dot", "GET / HTTP/1-1\r\n" H "\r\n", .status = 400},
    {"HTTP/11: major 11", "GET / HTTP/11\r\n" H "\r\n", .status = 505},
    {"comma for the dot", "GET / HTTP/1,1\r\n" H "\r\n", .status = 400},
    {"letters in version", "GET / HTTP/a.b\r\n" H "\r\n", .status = 400},
    {"sign in version", "GET / HTTP/+1.1\r\n" H "\r\n", .status = 400},
    {"junk after version", "GET / HTTP/1.1x\r\n" H "\r\n", .status = 400},
    {"too many version digits", "GET / HTTP/1.1234\r\n" H "\r\n", .status = 400},
    {"many major digits", "GET / HTTP/1234.1\r\n" H "\r\n", .status = 505},
    {"not HTTP", "GET / FTP/1.1\r\n" H "\r\n", .status = 400},
    {"505 still needs a valid target", "GET /<> HTTP/2.0\r\n\r\n", .status = 400},
    /* --- request-target forms --- */
    /* a fragment is taken and cut off (nginx), but must be well formed */
    {"fragment in target", GET_("/a#f") H "\r\n", .target = "/a#f", .path = "/a"},
    {"fragment after the query", GET_("/a?b=c#f/?g") H "\r\n", .path = "/a?b=c"},
    {"'#' in the fragment", GET_("/a#f#g") H "\r\n", .status = 400},
    {"space-like byte in the fragment", GET_("/a#<") H "\r\n", .status = 400},
    {"fragment of an absolute-form target", GET_("http://h#f") H "\r\n", .path = "", .host = "h"},
    {"bad escape", GET_("/%zz") H "\r\n", .status = 400},
    {"short escape", GET_("/%4") H "\r\n", .status = 400},
    {"angle brackets", GET_("/<x>") H "\r\n", .status = 400},
    {"raw UTF-8 in the path", GET_("/\xc3\xa9?q=\xc3\xa9") H "\r\n",
     .path = "/\xc3\xa9?q=\xc3\xa9"},
    {"bad escape in the query", GET_("/a?q=100%&r=%zz") H "\r\n", .path = "/a?q=100%&r=%zz"},
    {"bad escape before the query", GET_("/a%?q") H "\r\n", .status = 400},
    {"space in the query", "GET /a?q r HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"quote in the query", GET_("/a?q=\"") H "\r\n", .status = 400},
    {"raw backslash", GET_("/a\\b") H "\r\n", .path = "/a\\b"},
    {"characters browsers send raw", GET_("/[x]|^`{}?a={b}") H "\r\n", .path = "/[x]|^`{}?a={b}"},
    {"double quote", GET_("/a\"b") H "\r\n", .status = 400},
    {"asterisk for GET", GET_("*") H "\r\n", .status = 400},
    {"CONNECT origin-form", "CONNECT / HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"CONNECT without port", "CONNECT ex.org HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"CONNECT empty port", "CONNECT ex.org: HTTP/1.1\r\n" H "\r\n", .status = 400},
    {"authority-form for GET", GET_("ex.org:80") H "\r\n", .status = 400},
    {"absolute-form", GET_("http://ex.org/x?y") "Host: other\r\n\r\n",
     .form = KP_HTTP_TARGET_ABSOLUTE, .host = "ex.org", .port = "", .path = "/x?y",
     .target = "http://ex.org/x?y"},
    {"absolute-form port, no path", GET_("http://Ex.ORG:8080") H "\r\n",
     .form = KP_HTTP_TARGET_ABSOLUTE, .host = "Ex.ORG", .port = "8080", .path = ""},
    {"absolute-form query, no path", GET_("http://h?q") H "\r\n", .host = "h", .path = "?q"},
    {"absolute-form https uppercase", GET_("HTTPS://h/") H "\r\n", .host = "h", .path = "/"},
    {"absolute-form IPv6", GET_("http://[::1]:81/") H "\r\n", .host = "[::1]", .port = "81"},
    {"absolute-form still needs Host", GET_("http://h/") "\r\n", .status = 400},
    {"absolute-form other scheme", GET_("ftp://h/") H "\r\n", .status = 400},
    {"absolute-form userinfo", GET_("http://u@h/") H "\r\n", .status = 400},
    {"absolute-form empty host", GET_("http:///x") H "\r\n", .status = 400},
    {"absolute-form bad port", GET_("http://h:99999/") H "\r\n", .status = 400},
    {"absolute-form bad path", GET_("http://h/a b") H "\r\n", .status = 400},
    {"absolute-form scheme only", GET_("http://") H "\r\n", .status = 400},
    /* --- Host --- */
    {"missing Host in 1.1", GET_("/") "\r\n", .status = 400},
    {"duplicate Host", GET_("/") H H "\r\n", .status = 400},
    {"empty Host", GET_("/") "Host:\r\n\r\n", .status = 400},
    {"empty Host, blank value", GET_("/") "Host:  \r\n\r\n", .status = 400},
    {"empty Host in 1.0", "GET / HTTP/1.0\r\nHost:\r\n\r\n", .status = 400},
    {"Host with port only", GET_("/") "Host: :80\r\n\r\n", .status = 400},
    {"Host with port", GET_("/") "Host: ex.org:8080\r\n\r\n", .host = "ex.org", .port = "8080"},
    {"Host with empty port", GET_("/") "Host: ex.org:\r\n\r\n", .host = "ex.org", .port = ""},
    {"Host IPv4", GET_("/") "Host: 127.0.0.1:80\r\n\r\n", .host = "127.0.0.1", .port = "80"},
    {"Host IPv6", GET_("/") "Host: [2001:db8::1]:8080\r\n\r\n", .host = "[2001:db8::1]",
     .port = "8080"},
    {"Host IPvFuture", GET_("/") "Host: [v1.x:y]\r\n\r\n", .host = "[v1.x:y]"},
    {"Host bad IPv6", GET_("/") "Host: [zz::1]\r\n\r\n", .status = 400},
    {"Host unclosed bracket", GET_("/") "Host: [::1\r\n\r\n", .status = 400},
    {"Host junk after bracket", GET_("/") "Host: [::1]x\r\n\r\n", .status = 400},
    {"Host with space", GET_("/") "Host: a b\r\n\r\n", .status = 400},
    {"Host port letters", GET_("/") "Host: a:8o\r\n\r\n", .status = 400},
    {"Host port too big", GET_("/") "Host: a:65536\r\n\r\n", .status = 400},
    {"Host with slash", GET_("/") "Host: a/b\r\n\r\n", .status = 400},
    {"Host with userinfo", GET_("/") "Host: u@a\r\n\r\n", .status = 400},
    {"Host pct-encoded", GET_("/") "Host: %41b\r\n\r\n", .host = "%41b"},
    {"Host bad pct", GET_("/") "Host: %4\r\n\r\n", .status = 400},
    {"Host double dot", GET_("/") "Host: ..\r\n\r\n", .status = 400},
    {"Host dots only", GET_("/") "Host: ...\r\n\r\n", .status = 400},
    {"Host one dot", GET_("/") "Host: .\r\n\r\n", .status = 400},
    {"Host empty label", GET_("/") "Host: a..b:80\r\n\r\n", .status = 400},
    {"Host leading double dot", GET_("/") "Host: ..a\r\n\r\n", .status = 400},
    {"Host trailing dot", GET_("/") "Host: a.b.\r\n\r\n", .host = "a.b."},
    {"Host leading dot", GET_("/") "Host: .a\r\n\r\n", .host = ".a"},
    {"absolute-form host ..", GET_("http://../x") H "\r\n", .status = 400},
    {"Host overridden by target", GET_("http://t:1/") "Host: h:2\r\n\r\n", .host = "t",
     .port = "1"},
    /* --- field syntax --- */
    {"OWS trimmed", GET_("/") "Host: \t a \t \r\nX:y\r\n\r\n", .fields = "Host=a\nX=y\n"},
    {"empty field value", GET_("/") H "X-Empty:\r\nY:   \r\n\r\n",
     .fields = "Host=a\nX-Empty=\nY=\n"},
    {"inner whitespace kept", GET_("/") H "X: a  b\r\n\r\n", .fields = "Host=a\nX=a  b\n"},
    {"obs-text value", GET_("/") H "X: caf\xc3\xa9\r\n\r\n", .fields = "Host=a\nX=caf\xc3\xa9\n"},
    {"space before colon", GET_("/") "Host : a\r\n\r\n", .status = 400},
    {"tab before colon", GET_("/") "Host\t: a\r\n\r\n", .status = 400},
    {"empty field name", GET_("/") H ": a\r\n\r\n", .status = 400},
    {"no colon", GET_("/") H "Xy\r\n\r\n", .status = 400},
    /* --- field names: nginx's rule (letters, digits, '-'), invalid ones dropped --- */
    {"bad name char dropped", GET_("/") H "X@y: z\r\nA: b\r\n\r\n", .fields = "Host=a\nA=b\n"},
    {"bad name char kept", GET_("/") H "X@y: z\r\n\r\n", .keep_invalid = true,
     .fields = "Host=a\nX@y=z\n"},
    {"underscore dropped", GET_("/") H "X_Y: z\r\n\r\n", .fields = "Host=a\n"},
    {"underscore allowed", GET_("/") H "X_Y: z\r\n\r\n", .underscores = true,
     .fields = "Host=a\nX_Y=z\n"},
    {"underscore kept as invalid", GET_("/") H "X_Y: z\r\n\r\n", .keep_invalid = true,
     .fields = "Host=a\nX_Y=z\n"},
    {"dot and 8-bit names dropped", GET_("/") H "X.Y: 1\r\nX\xc3\xa9: 2\r\n_: 3\r\n\r\n",
     .fields = "Host=a\n"},
    {"8-bit name kept", GET_("/") H "X\xc3\xa9: 2\r\n\r\n", .keep_invalid = true,
     .fields = "Host=a\nX\xc3\xa9=2\n"},
    {"Content_Length is not Content-Length", "POST / HTTP/1.1\r\n" H "Content_Length: 5\r\n\r\n",
     .tail = "hello", .body = KP_HTTP_BODY_NONE, .fields = "Host=a\n"},
    {"Content_Length kept is still not Content-Length",
     "POST / HTTP/1.1\r\n" H "Content_Length: 5\r\n\r\n", .tail = "hello", .underscores = true,
     .body = KP_HTTP_BODY_NONE, .kid = KP_HTTP_HDR_CONTENT_LENGTH, .kabsent = true},
    {"Transfer_Encoding dropped", "POST / HTTP/1.1\r\n" H "Transfer_Encoding: chunked\r\n\r\n",
     .body = KP_HTTP_BODY_NONE, .kid = KP_HTTP_HDR_TRANSFER_ENCODING, .kabsent = true},
    {"dropped line still needs a valid value", GET_("/") H "X_Y: a\x01\r\n\r\n", .status = 400},
    {"control char in name", GET_("/") H "X\x01Y: z\r\n\r\n", .status = 400},
    {"DEL in name", GET_("/") H "X\x7fY: z\r\n\r\n", .status = 400, .keep_invalid = true},
    {"space inside name", GET_("/") H "X Y: z\r\n\r\n", .status = 400, .keep_invalid = true},
    {"space before colon, invalid name", GET_("/") H "X_Y : z\r\n\r\n", .status = 400},
    {"space before colon, smuggling", "POST / HTTP/1.1\r\n" H "Content-Length : 5\r\n\r\n",
     .status = 400, .underscores = true, .keep_invalid = true},
    {"obs-fold after dropped line", GET_("/") H "X_Y: a\r\n b\r\n\r\n", .status = 400},
    {"obs-fold", GET_("/") H "X: a\r\n b\r\n\r\n", .status = 400},
    {"obs-fold first", GET_("/") " X: a\r\n" H "\r\n", .status = 400},
    {"control char in value",
     GET_("/") H "X: a\x01"
                 "b\r\n\r\n",
     .status = 400},
    {"DEL in value", GET_("/") H "X: a\x7f\r\n\r\n", .status = 400},
    {"tab in value", GET_("/") H "X: a\tb\r\n\r\n", .fields = "Host=a\nX=a\tb\n"},
    {"field names keep case", GET_("/") "hOsT: a\r\n\r\n", .fields = "hOsT=a\n", .host = "a"},
    /* --- recognised fields --- */
    {"Range recognised", GET_("/") H "range: bytes=0-1\r\n\r\n", .kid = KP_HTTP_HDR_RANGE,
     .kval = "bytes=0-1"},
    {"If-None-Match twice", GET_("/") H "If-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n",
     .kid = KP_HTTP_HDR_IF_NONE_MATCH, .kval = "\"a\""},
    {"If-Match", GET_("/") H "If-Match: *\r\n\r\n", .kid = KP_HTTP_HDR_IF_MATCH, .kval = "*"},
    {"If-Modified-Since", GET_("/") H "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
     .kid = KP_HTTP_HDR_IF_MODIFIED_SINCE, .kval = "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"If-Unmodified-Since", GET_("/") H "If-Unmodified-Since: x\r\n\r\n",
     .kid = KP_HTTP_HDR_IF_UNMODIFIED_SINCE, .kval = "x"},
    {"If-Range", GET_("/") H "If-Range: \"e\"\r\n\r\n", .kid = KP_HTTP_HDR_IF_RANGE,
     .kval = "\"e\""},
    {"User-Agent", GET_("/") H "User-Agent: curl/8\r\n\r\n", .kid = KP_HTTP_HDR_USER_AGENT,
     .kval = "curl/8"},
    {"Referer", GET_("/") H "Referer: http://x/\r\n\r\n", .kid = KP_HTTP_HDR_REFERER,
     .kval = "http://x/"},
    {"absent field", GET_("/") H "\r\n", .kid = KP_HTTP_HDR_RANGE, .kabsent = true},
    {"duplicate If-Modified-Since",
     GET_("/") H "If-Modified-Since: a\r\nIf-Modified-Since: b\r\n\r\n", .status = 400},
    /* the first of two Range, User-Agent or Referer lines counts (nginx) */
    {"duplicate Range", GET_("/") H "Range: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n",
     .kid = KP_HTTP_HDR_RANGE, .kval = "bytes=0-1"},
    {"duplicate If-Range", GET_("/") H "If-Range: a\r\nIf-Range: a\r\n\r\n", .status = 400},
    {"duplicate User-Agent", GET_("/") H "User-Agent: a\r\nUser-Agent: b\r\n\r\n",
     .kid = KP_HTTP_HDR_USER_AGENT, .kval = "a"},
    {"Authorization", GET_("/") H "authorization: Basic YTpi\r\n\r\n",
     .kid = KP_HTTP_HDR_AUTHORIZATION, .kval = "Basic YTpi"},
    {"duplicate Authorization",
     GET_("/") H "Authorization: Basic YTpi\r\nAuthorization: Basic YTpi\r\n\r\n", .status = 400},
    {"Expect 100-continue",
     "PUT / HTTP/1.1\r\n" H "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
     .expect_continue = true, .body = KP_HTTP_BODY_LENGTH, .clen = 1},
    {"Expect ignored in 1.0", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", .version = 10,
     .must_close = true, .expect_continue = false},
    {"Expect unknown", GET_("/") H "Expect: teapot\r\n\r\n", .expect_unknown = true},
    {"Expect with value", GET_("/") H "Expect: 100-continue=1\r\n\r\n", .expect_unknown = true},
    {"Expect bad syntax", GET_("/") H "Expect: @\r\n\r\n", .status = 400},
    /* --- Content-Length --- */
    {"Content-Length 0 is no body", GET_("/") H "Content-Length: 0\r\n\r\n",
     .body = KP_HTTP_BODY_NONE, .clen = 0},
    /* a repeated value, even an equal one, is refused (as by nginx) */
    {"Content-Length list same", "POST / HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\n",
     .status = 400},
    {"Content-Length lines same",
     "POST / HTTP/1.1\r\n" H "Content-Length: 7\r\nContent-Length:  7 \r\n\r\n", .status = 400},
    {"Content-Length padded", "POST / HTTP/1.1\r\n" H "Content-Length:  7 \r\n\r\n",
     .body = KP_HTTP_BODY_LENGTH, .clen = 7},
    {"Content-Length list differs", "POST / HTTP/1.1\r\n" H "Content-Length: 5, 6\r\n\r\n",
     .status = 400},
    {"Content-Length lines differ",
     "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", .status = 400},
    {"Content-Length empty", "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", .status = 400},
    {"Content-Length plus", "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", .status = 400},
    {"Content-Length negative", "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n",
     .status = 400},
    {"Content-Length hex", "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", .status = 400},
    {"Content-Length inner space", "POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n",
     .status = 400},
    {"Content-Length empty element", "POST / HTTP/1.1\r\n" H "Content-Length: 5,\r\n\r\n",
     .status = 400},
    {"Content-Length max", "POST / HTTP/1.1\r\n" H "Content-Length: 9223372036854775807\r\n\r\n",
     .body = KP_HTTP_BODY_LENGTH, .clen = 9223372036854775807ull},
    {"Content-Length overflow",
     "POST / HTTP/1.1\r\n" H "Content-Length: 9223372036854775808\r\n\r\n", .status = 400},
    {"Content-Length huge",
     "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999\r\n\r\n", .status = 400},
    /* --- Transfer-Encoding --- */
    {"chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n", .tail = "5\r\n",
     .body = KP_HTTP_BODY_CHUNKED},
    {"chunked any case", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: ChUnKeD\r\n\r\n",
     .body = KP_HTTP_BODY_CHUNKED},
    {"chunked trailing empty elements",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked , \r\n\r\n", .body = KP_HTTP_BODY_CHUNKED},
    {"gzip then chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
     .status = 501},
    {"gzip then chunked on two lines",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
     .status = 501},
    {"gzip only", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", .status = 501},
    {"identity", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", .status = 501},
    {"coding with quoted parameter",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: x;q=\"a,b\", chunked\r\n\r\n", .status = 501},
    {"chunked not last", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n",
     .status = 400},
    {"chunked twice", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n",
     .status = 400},
    {"chunked on two lines",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     .status = 400},
    {"chunked with parameter", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;a=b\r\n\r\n",
     .status = 400},
    {"Transfer-Encoding empty", "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n",
     .status = 400},
    {"Transfer-Encoding only commas", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: , ,\r\n\r\n",
     .status = 400},
    {"Transfer-Encoding junk", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked x\r\n\r\n",
     .status = 400},
    {"Transfer-Encoding unclosed quote",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: x;q=\"a\r\n\r\n", .status = 400},
    {"Transfer-Encoding and Content-Length",
     "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     .status = 400},
    {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
     .status = 400},
    /* --- incomplete heads --- */
    {"empty input", "", .status = INCOMPLETE},
    {"method only", "GET", .status = INCOMPLETE},
    {"request line only", "GET / HTTP/1.1\r\n", .status = INCOMPLETE},
    {"no final empty line", GET_("/") H, .status = INCOMPLETE},
    {"half a line end", GET_("/") H "\r", .status = INCOMPLETE},
    /* --- limits (494: nginx's internal code for a head too large, a 400) --- */
    {"line at limit", GET_("/abc") H "\r\n", .max_line = 17},
    {"line over limit", GET_("/abcd") H "\r\n", .status = 414, .max_line = 17},
    {"line over limit, no line end yet", "GET /aaaaaaaaaaaaa", .status = 414, .max_line = 17},
    {"line at limit, CR pending", "GET /abc HTTP/1.1\r", .status = INCOMPLETE, .max_line = 17},
    {"header at limit", GET_("/") "Host: a\r\nX: 1\r\n\r\n", .max_header = 17},
    {"header over limit", GET_("/") "Host: a\r\nX: 12\r\n\r\n", .status = 494, .max_header = 17},
    {"header over limit, incomplete", GET_("/") "Host: a\r\nX: 1234567890123", .status = 494,
     .max_header = 17},
    {"field line at limit", GET_("/") H "X: 12345678901234\r\n\r\n", .max_line = 17},
    {"field line over limit", GET_("/") H "X: 123456789012345\r\n\r\n", .status = 494,
     .max_line = 17},
    {"field line over limit, no line end yet", GET_("/") H "X: 123456789012345678", .status = 494,
     .max_line = 17},
    {"fields at limit", GET_("/") H "X: 1\r\nY: 2\r\n\r\n", .max_fields = 3},
    {"fields over limit", GET_("/") H "X: 1\r\nY: 2\r\nZ", .status = 494, .max_fields = 3},
    {"zero fields allowed", "GET / HTTP/1.0\r\n\r\n", .max_fields = NOFIELDS, .version = 10,
     .must_close = true},
    {"zero fields, one sent", "GET / HTTP/1.0\r\nX: y\r\n\r\n", .max_fields = NOFIELDS,
     .status = 494},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Everything the parser reported, with slices as offsets into buf. */
struct summary {
    ssize_t rc;
    int status;
    bool must_close;
    enum kp_http_method method;
    unsigned version;
    enum kp_http_target_form form;
    enum kp_http_body body;
    uint64_t clen;
    unsigned connection;
    bool expect_continue, expect_unknown;
    size_t nfields;
    size_t off[6 + 2 * NF], len[6 + 2 * NF];
    int known[KP_HTTP_HDR_COUNT];
    enum kp_http_hdr ids[NF];
};

static void put(struct summary *s, size_t i, const char *buf, struct kp_str v)
{
    s->off[i] = (size_t)(v.p - buf);
    s->len[i] = v.len;
}

static void summarize(struct summary *s, const struct kp_http_parser *ps, const char *buf,
                      size_t len, ssize_t rc)
{
    const struct kp_http_head *h = &ps->head;

    memset(s, 0, sizeof(*s));
    s->rc = rc;
    if (rc == KP_PARSE_INVALID) {
        s->status = h->status;
        s->must_close = h->must_close;
        ck_assert_ptr_nonnull(h->reason);
    }
    if (rc < 0)
        return;
    ck_assert_uint_le((size_t)rc, len);
    s->must_close = h->must_close;
    s->method = h->method;
    s->version = h->version;
    s->form = h->form;
    s->body = h->body;
    s->clen = h->content_length;
    s->connection = h->connection;
    s->expect_continue = h->expect_continue;
    s->expect_unknown = h->expect_unknown;
    s->nfields = h->nfields;
    put(s, 0, buf, h->method_name);
    put(s, 1, buf, h->request_line);
    put(s, 2, buf, h->target);
    put(s, 3, buf, h->path);
    put(s, 4, buf, h->host);
    put(s, 5, buf, h->port);
    for (size_t i = 0; i < h->nfields; i++) {
        put(s, 6 + 2 * i, buf, h->fields[i].name);
        put(s, 7 + 2 * i, buf, h->fields[i].value);
        s->ids[i] = h->fields[i].id;
    }
    for (size_t i = 0; i < 6 + 2 * h->nfields; i++)
        ck_assert_uint_le(s->off[i] + s->len[i], (size_t)rc);
    memcpy(s->known, h->known, sizeof(s->known));
}

static size_t head_len(const struct pcase *c)
{
    return c->len ? c->len : strlen(c->req);
}

/* The bytes to feed: head and tail; kp_free() it. */
static char *case_bytes(const struct pcase *c, size_t *len)
{
    size_t hl = head_len(c), tl = c->tail ? strlen(c->tail) : 0;
    char *b = kp_alloc(hl + tl + 1);

    memcpy(b, c->req, hl);
    if (tl)
        memcpy(b + hl, c->tail, tl);
    *len = hl + tl;
    return b;
}

static void init(struct kp_http_parser *ps, struct kp_http_field *fields, const struct pcase *c)
{
    struct kp_http_limits lim = {c->max_line, c->max_header, .underscores = c->underscores,
                                 .keep_invalid = c->keep_invalid};
    size_t nf = c->max_fields == NOFIELDS ? 0 : c->max_fields ? c->max_fields : NF;

    kp_http_parse_init(ps, &lim, fields, nf);
}

/* Feed the case's bytes growing to each length in cuts[] (ascending, last =
 * full length), copying them each time into a fresh exact-size buffer. */
static void feed(const struct pcase *c, const size_t *cuts, size_t ncuts, struct summary *out)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[NF];
    size_t len, k = 0, prev = 0;
    char *all = case_bytes(c, &len), *buf = NULL;
    ssize_t rc = KP_PARSE_INCOMPLETE;

    init(&ps, fields, c);
    for (size_t i = 0; i < ncuts && rc == KP_PARSE_INCOMPLETE; i++) {
        prev = k;
        k = cuts[i];
        kp_free(buf);
        buf = kp_alloc(k ? k : 1);
        memcpy(buf, all, k);
        rc = kp_http_parse_request(&ps, buf, k);
    }
    /* a complete head is reported as soon as its last byte arrives */
    if (rc >= 0)
        ck_assert(prev < (size_t)rc && (size_t)rc <= k);
    kp_free(all);
    summarize(out, &ps, buf, k, rc);
    /* a final result is repeated */
    if (rc != KP_PARSE_INCOMPLETE)
        ck_assert_int_eq(kp_http_parse_request(&ps, buf, k), rc);
    kp_free(buf);
}

static void check_str(const struct pcase *c, const char *what, struct kp_str got, const char *want)
{
    if (want == NULL)
        return;
    ck_assert_msg(got.len == strlen(want) && memcmp(got.p, want, got.len) == 0,
                  "%s: %s is '%.*s', want '%s'", c->name, what, (int)got.len, got.p, want);
}

static void check_fields(const struct pcase *c, const struct kp_http_head *h)
{
    char got[1024] = "";
    size_t n = 0;

    if (c->fields == NULL)
        return;
    for (size_t i = 0; i < h->nfields; i++)
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%.*s=%.*s\n", (int)h->fields[i].name.len,
                              h->fields[i].name.p, (int)h->fields[i].value.len,
                              h->fields[i].value.p);
    ck_assert_msg(strcmp(got, c->fields) == 0, "%s: fields '%s', want '%s'", c->name, got,
                  c->fields);
}

/* The whole-buffer parse, checked against the table. */
static void check_expected(const struct pcase *c, struct summary *whole)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[NF];
    size_t len;
    char *buf = case_bytes(c, &len);
    ssize_t rc;

    init(&ps, fields, c);
    rc = kp_http_parse_request(&ps, buf, len);
    summarize(whole, &ps, buf, len, rc);
    if (c->status == INCOMPLETE) {
        ck_assert_msg(rc == KP_PARSE_INCOMPLETE, "%s: rc %zd, want incomplete", c->name, rc);
    } else if (c->status != 0) {
        ck_assert_msg(rc == KP_PARSE_INVALID && ps.head.status == c->status,
                      "%s: rc %zd status %d (%s), want %d", c->name, rc, ps.head.status,
                      ps.head.reason ? ps.head.reason : "-", c->status);
        ck_assert(ps.head.must_close);
    } else {
        const struct kp_http_head *h = &ps.head;
        const struct kp_str *kv = kp_http_parse_value(h, c->kid);

        ck_assert_msg(rc == (ssize_t)head_len(c), "%s: rc %zd (status %d, %s), want %zu", c->name,
                      rc, h->status, h->reason ? h->reason : "-", head_len(c));
        if (c->method_name || c->method)
            ck_assert_int_eq(h->method, c->method);
        check_str(c, "method", h->method_name, c->method_name);
        check_str(c, "target", h->target, c->target);
        check_str(c, "path", h->path, c->path);
        check_str(c, "host", h->host, c->host);
        check_str(c, "port", h->port, c->port);
        ck_assert_uint_eq(h->version, c->version ? c->version : 11);
        if (c->form)
            ck_assert_int_eq(h->form, c->form);
        ck_assert_int_eq(h->body, c->body);
        ck_assert_uint_eq(h->content_length, c->clen);
        ck_assert_msg(h->must_close == c->must_close, "%s: must_close", c->name);
        if (c->connection)
            ck_assert_uint_eq(h->connection, c->connection);
        ck_assert(h->expect_continue == c->expect_continue);
        ck_assert(h->expect_unknown == c->expect_unknown);
        check_fields(c, h);
        if (c->kval)
            ck_assert_msg(kv != NULL, "%s: known field absent", c->name);
        if (c->kval)
            check_str(c, "known field", *kv, c->kval);
        if (c->kabsent)
            ck_assert_ptr_null(kv);
    }
    kp_free(buf);
}

static void assert_same(const struct pcase *c, const struct summary *a, const struct summary *b,
                        const char *how)
{
    ck_assert_msg(a->rc == b->rc && a->status == b->status, "%s: %s gives rc %zd/%d, whole %zd/%d",
                  c->name, how, b->rc, b->status, a->rc, a->status);
    ck_assert_msg(memcmp(a, b, sizeof(*a)) == 0, "%s: %s gives different output", c->name, how);
}

START_TEST(parse_table)
{
    const struct pcase *c = &cases[_i];
    size_t len;
    struct summary whole, split;
    unsigned seed = (unsigned)_i * 2654435761u + 1;

    kp_free(case_bytes(c, &len));
    size_t *cuts = kp_alloc((len + 1) * sizeof(*cuts));
    check_expected(c, &whole);
    /* one byte at a time */
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    if (len > 0) {
        feed(c, cuts, len, &split);
        assert_same(c, &whole, &split, "byte-at-a-time");
    }
    /* a few random two- and three-way splits */
    for (int round = 0; round < 4 && len > 1; round++) {
        size_t a, b;
        seed = seed * 1103515245u + 12345u;
        a = 1 + (seed >> 8) % (len - 1);
        seed = seed * 1103515245u + 12345u;
        b = a + (seed >> 8) % (len - a);
        /* b may equal a: a call with no new bytes must be harmless */
        size_t three[3] = {a, b, len};
        feed(c, three, 3, &split);
        assert_same(c, &whole, &split, "split");
    }
    kp_free(cuts);
}
END_TEST

/* The head survives a move of the buffer after parsing (rebase). */
START_TEST(parse_rebase)
{
    static const char req[] = "GET http://h:8/p?q HTTP/1.1\r\nHost: x\r\nRange: bytes=1-\r\n\r\n";
    struct kp_http_parser ps;
    struct kp_http_field fields[4];
    char *a = kp_alloc(sizeof(req)), *b = kp_alloc(sizeof(req) + 7);
    struct summary sa, sb;

    memcpy(a, req, sizeof(req));
    kp_http_parse_init(&ps, NULL, fields, 4);
    ck_assert_int_eq(kp_http_parse_request(&ps, a, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    summarize(&sa, &ps, a, sizeof(req) - 1, (ssize_t)sizeof(req) - 1);
    memcpy(b + 7, a, sizeof(req));
    kp_free(a);
    kp_http_parse_rebase(&ps, b + 7);
    summarize(&sb, &ps, b + 7, sizeof(req) - 1, (ssize_t)sizeof(req) - 1);
    ck_assert_mem_eq(&sa, &sb, sizeof(sa));
    ck_assert(kp_str_eq(ps.head.host, KP_STR("h")));
    ck_assert(kp_str_eq(*kp_http_parse_value(&ps.head, KP_HTTP_HDR_RANGE), KP_STR("bytes=1-")));
    kp_free(b);
}
END_TEST

/* Resuming must not rescan: completed lines are never read again, which is
 * checked by overwriting them with NUL bytes (an error if seen) before each
 * call while the head is fed a byte at a time. */
START_TEST(parse_no_rescan)
{
    char req[4096], work[4096];
    struct kp_http_parser ps;
    struct kp_http_field fields[NF];
    size_t n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n");
    ssize_t rc = KP_PARSE_INCOMPLETE;

    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-%d: %0200d\r\n", i, i);
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
    memcpy(work, req, n);
    kp_http_parse_init(&ps, NULL, fields, NF);
    for (size_t k = 1; k <= n && rc == KP_PARSE_INCOMPLETE; k++) {
        memset(work, 0, ps.line_start);
        rc = kp_http_parse_request(&ps, work, k);
    }
    ck_assert_int_eq(rc, (ssize_t)n);
    ck_assert_uint_eq(ps.head.nfields, 11);
    ck_assert_uint_eq(ps.head.fields[10].value.len, 200);
}
END_TEST

/* After an error, rebase points the parts parsed so far at the bytes seen,
 * for the error log. */
START_TEST(parse_rebase_after_error)
{
    static const char bad_line[] = "G@T /x HTTP/1.1\r\n";
    static const char bad_field[] = "GET /x HTTP/1.1\r\nHost: h\r\nX y\r\n";
    struct kp_http_parser ps;
    struct kp_http_field fields[4];

    kp_http_parse_init(&ps, NULL, fields, 4);
    ck_assert_int_eq(kp_http_parse_request(&ps, bad_line, sizeof(bad_line) - 1), KP_PARSE_INVALID);
    kp_http_parse_rebase(&ps, bad_line);
    ck_assert(kp_str_eq(ps.head.request_line, KP_STR("G@T /x HTTP/1.1")));
    ck_assert_uint_eq(ps.head.target.len, 0);

    kp_http_parse_init(&ps, NULL, fields, 4);
    ck_assert_int_eq(kp_http_parse_request(&ps, bad_field, sizeof(bad_field) - 1),
                     KP_PARSE_INVALID);
    kp_http_parse_rebase(&ps, bad_field);
    ck_assert(kp_str_eq(ps.head.target, KP_STR("/x")));
    ck_assert(kp_str_eq(ps.head.host, KP_STR("h")));
    ck_assert_uint_eq(ps.head.nfields, 1);
    ck_assert(kp_str_eq(ps.head.fields[0].value, KP_STR("h")));
}
END_TEST

struct dropped_lines {
    char text[256];
    size_t n;
};

static void on_dropped(void *arg, struct kp_str line)
{
    struct dropped_lines *d = arg;
    size_t used = strlen(d->text);

    snprintf(d->text + used, sizeof(d->text) - used, "%.*s|", (int)line.len, line.p);
    d->n++;
}

/* Each dropped line is reported once, whole, in order, however the bytes
 * arrive; dropped lines take no slot of the field array. */
START_TEST(parse_dropped_report)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX_A: 1\r\nB.c:2 \r\nD: 3\r\n\r\n";
    struct dropped_lines d = {"", 0};
    struct kp_http_limits lim = {.dropped = on_dropped, .dropped_arg = &d};
    struct kp_http_parser ps;
    struct kp_http_field fields[2];

    kp_http_parse_init(&ps, &lim, fields, 2);
    for (size_t i = 1; i < sizeof(req) - 1; i++)
        ck_assert_int_eq(kp_http_parse_request(&ps, req, i), KP_PARSE_INCOMPLETE);
    ck_assert_int_eq(kp_http_parse_request(&ps, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_str_eq(d.text, "X_A: 1|B.c:2 |");
    ck_assert_uint_eq(ps.head.nfields, 2);
    ck_assert(kp_str_eq(ps.head.fields[1].name, KP_STR("D")));
}
END_TEST

START_TEST(parse_defaults_and_lookup)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[2];
    char line[KP_HTTP_DEFAULT_MAX_LINE + 32];

    kp_http_parse_init(&ps, NULL, fields, 2);
    ck_assert_ptr_null(kp_http_parse_value(&ps.head, KP_HTTP_HDR_OTHER));
    memset(line, 'a', sizeof(line));
    memcpy(line, "GET /", 5);
    ck_assert_int_eq(kp_http_parse_request(&ps, line, KP_HTTP_DEFAULT_MAX_LINE),
                     KP_PARSE_INCOMPLETE);
    ck_assert_int_eq(kp_http_parse_request(&ps, line, KP_HTTP_DEFAULT_MAX_LINE + 1),
                     KP_PARSE_INVALID);
    ck_assert_int_eq(ps.head.status, 414);
    ck_assert(kp_http_parse_is_tchar('~'));
    ck_assert(!kp_http_parse_is_tchar('('));
    ck_assert(kp_http_parse_is_vchar(0x80));
    ck_assert(!kp_http_parse_is_vchar(' '));
}
END_TEST

/* Field values are checked eight bytes a word, then the word that ends
 * the value: every byte at every place of values of 1 to 24 bytes (whole
 * words, tails, a word overlapping the last) is refused exactly when RFC
 * 9110 section 5.5 forbids it (a control but HTAB, or DEL), the head in an
 * exact-size buffer so that a read past it is caught. */
START_TEST(parse_value_every_byte)
{
    static const char pre[] = "GET / HTTP/1.1\r\n" H "X-V: ", post[] = "\r\n\r\n";

    for (size_t len = 1; len <= 24; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int c = 0; c < 256; c++) {
                if (c == '\r' || c == '\n')
                    continue;
                size_t n = sizeof(pre) - 1 + len + sizeof(post) - 1;
                char *req = kp_alloc(n);
                memcpy(req, pre, sizeof(pre) - 1);
                memset(req + sizeof(pre) - 1, 'v', len);
                req[sizeof(pre) - 1 + at] = (char)c;
                memcpy(req + sizeof(pre) - 1 + len, post, sizeof(post) - 1);
                struct kp_http_parser ps;
                struct kp_http_field fields[NF];
                kp_http_parse_init(&ps, NULL, fields, NF);
                ssize_t rc = kp_http_parse_request(&ps, req, n);
                bool valid = c == '\t' || (c >= ' ' && c != 0x7f);
                ck_assert_msg(valid ? rc == (ssize_t)n : rc == KP_PARSE_INVALID,
                              "byte 0x%02x at %zu of %zu: %zd", c, at, len, rc);
                kp_free(req);
            }
        }
    }
}
END_TEST

/* The uri-host rule as written before the Host field got its fast path
 * (a reg-name, then an optional port up to 65535), byte by byte: the
 * parser must give the same verdict, host and port for any Host value. */
static bool ref_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool ref_host(const char *p, size_t len, size_t *host_len)
{
    static const char sub[] = "-._~!$&'()*+,;=";
    bool only_dots = true;
    size_t i = 0;
    unsigned long v = 0;

    for (; i < len; i++) {
        char c = p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != '\0' && strchr(sub, c) != NULL)) {
            if (c != '.')
                only_dots = false;
            else if (i > 0 && p[i - 1] == '.')
                return false;
        } else if (c == ':') {
            break;
        } else if (c == '%' && i + 2 < len && ref_hex(p[i + 1]) && ref_hex(p[i + 2])) {
            only_dots = false;
            i += 2;
        } else {
            return false;
        }
    }
    if (i == 0 || only_dots)
        return false;
    *host_len = i;
    if (i == len)
        return true;
    if (len - i - 1 > 5)
        return false;
    for (i++; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v <= 65535;
}

START_TEST(parse_host_random)
{
    /* bytes that matter to the rule, with letters and digits weighted up;
     * every other name is mostly made of the bytes taken eight at a time */
    static const char mixed[] = "aaaZZ0099...--::%%4Ef_~!/@[]\"x\x7f\x80";
    static const char common[] = "aaaaazzzz00009999....----:5%E_\xff";
    static const char pre[] = "GET / HTTP/1.1\r\nHost: ", post[] = "\r\n\r\n";
    uint64_t seed = 0x9e3779b97f4a7c15u;

    for (int n = 0; n < 60000; n++) {
        const char *alphabet = n % 2 ? common : mixed;
        size_t na = n % 2 ? sizeof(common) - 1 : sizeof(mixed) - 1;
        char req[80], host[32];
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t len = 1 + (size_t)(seed >> 59) % 28;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            host[i] = alphabet[(seed >> 33) % na];
        }
        if (host[0] == '[')
            continue; /* an IP literal: valid_ip_literal, not this rule */
        size_t rn = 0, hl = 0;
        memcpy(req + rn, pre, sizeof(pre) - 1), rn += sizeof(pre) - 1;
        memcpy(req + rn, host, len), rn += len;
        memcpy(req + rn, post, sizeof(post) - 1), rn += sizeof(post) - 1;
        struct kp_http_parser ps;
        struct kp_http_field fields[NF];
        kp_http_parse_init(&ps, NULL, fields, NF);
        ssize_t rc = kp_http_parse_request(&ps, req, rn);
        bool valid = ref_host(host, len, &hl);
        ck_assert_msg(valid ? rc == (ssize_t)rn : rc == KP_PARSE_INVALID, "Host %.*s: %zd",
                      (int)len, host, rc);
        if (!valid)
            continue;
        ck_assert_uint_eq(ps.head.host.len, hl);
        ck_assert(memcmp(ps.head.host.p, host, hl) == 0);
        ck_assert_uint_eq(ps.head.port.len, hl < len ? len - hl - 1 : 0);
    }
}
END_TEST

/* head.plain_len promises that kp_http_uri_normalize would copy the path
 * as it is: over random targets, whenever it is set, the normalised path
 * and query are the path's bytes and what follows its '?'; and it is set
 * for every target without '%', "//" or "/." (the common case it serves). */
START_TEST(parse_plain_path_random)
{
    static const char alphabet[] = "aaaaZZ09//////....??%%4E-_~!$&'()*+,;=:@[]x\x80";
    uint64_t seed = 0x2545f4914f6cdd1du;

    for (int n = 0; n < 60000; n++) {
        char req[80], target[32], out[40];
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t len = 1 + (size_t)(seed >> 59) % 24;
        target[0] = '/';
        for (size_t i = 1; i < len; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            target[i] = alphabet[(seed >> 33) % (sizeof(alphabet) - 1)];
        }
        int rn =
            snprintf(req, sizeof(req), "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", (int)len, target);
        struct kp_http_parser ps;
        struct kp_http_field fields[NF];
        kp_http_parse_init(&ps, NULL, fields, NF);
        if (kp_http_parse_request(&ps, req, (size_t)rn) != rn)
            continue;
        struct kp_str path = ps.head.path, query;
        ssize_t on = kp_http_uri_normalize(path, out, sizeof(out), &query, true);
        const char *q = memchr(target, '?', len);
        size_t plen = q ? (size_t)(q - target) : len;
        bool plain = memchr(target, '%', plen) == NULL;
        for (size_t i = 0; i + 1 < plen; i++)
            plain = plain && !(target[i] == '/' && (target[i + 1] == '/' || target[i + 1] == '.'));
        ck_assert_msg(ps.head.plain_len == (plain ? plen : 0), "%.*s: plain_len %zu", (int)len,
                      target, ps.head.plain_len);
        if (!plain)
            continue;
        ck_assert_msg(on == (ssize_t)plen && memcmp(out, path.p, plen) == 0, "%.*s", (int)len,
                      target);
        ck_assert_uint_eq(query.len, q ? len - plen - 1 : 0);
        ck_assert_ptr_eq(query.p, path.p + (q ? plen + 1 : len));
    }
}
END_TEST

/* Status and reason of one parse of req[0..n), fed whole (step 0) or
 * step bytes at a time, with the given limits. */
static void parse_outcome(const char *req, size_t n, size_t step, const struct kp_http_limits *lim,
                          int *status, const char **reason, ssize_t *rc)
{
    struct kp_http_parser ps;
    struct kp_http_field fields[NF];
    size_t k = step ? 0 : n;

    kp_http_parse_init(&ps, lim, fields, NF);
    *rc = KP_PARSE_INCOMPLETE;
    do {
        k = step && n - k > step ? k + step : n;
        *rc = kp_http_parse_request(&ps, req, k);
    } while (*rc == KP_PARSE_INCOMPLETE && k < n);
    *status = *rc == KP_PARSE_INVALID ? ps.head.status : 0;
    *reason = *rc == KP_PARSE_INVALID ? ps.head.reason : NULL;
}

static void same_outcome(const char *req, size_t n, const struct kp_http_limits *lim, int status,
                         const char *reason, const char *what)
{
    static const size_t steps[] = {0, 1, 3, 7};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int got;
        const char *why;
        ssize_t rc;
        parse_outcome(req, n, steps[i], lim, &got, &why, &rc);
        ck_assert_msg(got == status &&
                          (reason == NULL ? why == NULL : why != NULL && strcmp(why, reason) == 0),
                      "%s, step %zu: %d %s, want %d %s", what, steps[i], got, why ? why : "-",
                      status, reason ? reason : "-");
    }
}

/* A NUL or a CR not followed by LF is refused as such wherever it is --
 * request line, field name, field value, a line's first byte -- before any
 * error of the line it is in, whether the line arrives whole or in pieces;
 * every other byte gives the same result whole and in pieces. */
START_TEST(parse_byte_errors_first)
{
    static const char head[] = "GET /a HTTP/1.1\r\nHost: a\r\nX-Name: value\r\n\r\n";
    size_t n = sizeof(head) - 1;
    char req[sizeof(head)];

    for (size_t at = 0; at < n; at++) {
        for (int c = 0; c < 256; c++) {
            int status;
            const char *reason;
            ssize_t rc;
            char what[64];
            memcpy(req, head, n);
            req[at] = (char)c;
            parse_outcome(req, n, 0, NULL, &status, &reason, &rc);
            snprintf(what, sizeof(what), "byte 0x%02x at %zu", c, at);
            if (c == '\0') {
                ck_assert_msg(status == 400 && strcmp(reason, "NUL byte in request head") == 0,
                              "%s: %d %s", what, status, reason ? reason : "-");
            } else if (c == '\r' && head[at + 1] != '\n') {
                ck_assert_msg(status == 400 && strcmp(reason, "bare CR in request head") == 0,
                              "%s: %d %s", what, status, reason ? reason : "-");
            }
            same_outcome(req, n, NULL, status, reason, what);
        }
    }
}
END_TEST

/* The line and field-section limits against a plain statement of the
 * rule, for every pair of limits around the lengths of a small head: the
 * request line's bytes beyond max_line give 414; past it, a byte from
 * max_header on in the field section, or a field line's byte other than
 * its CR LF from max_line on, gives 494, whichever comes first. */
START_TEST(parse_limits_every_size)
{
    static const char head[] = "GET /abc HTTP/1.1\r\nHost: a\r\nX-Long: vvvvvvvvvv\r\n\r\n";
    static const size_t line_len = sizeof("GET /abc HTTP/1.1") - 1;
    size_t n = sizeof(head) - 1, fields_start = line_len + 2;

    for (size_t max_line = 1; max_line <= 32; max_line++) {
        for (size_t max_header = 1; max_header <= n - fields_start + 2; max_header++) {
            struct kp_http_limits lim = {.max_line = max_line, .max_header = max_header};
            int want = 0;
            const char *why = NULL;
            char what[64];
            if (line_len > max_line) {
                want = 414;
                why = "request line too long";
            }
            for (size_t k = fields_start, ls = k; want == 0 && k < n; k++) {
                if (k - fields_start >= max_header) {
                    want = 494;
                    why = "header section too large";
                } else if (head[k] != '\r' && head[k] != '\n' && k - ls >= max_line) {
                    want = 494;
                    why = "too long header line";
                }
                if (head[k] == '\n')
                    ls = k + 1;
            }
            snprintf(what, sizeof(what), "max_line %zu max_header %zu", max_line, max_header);
            same_outcome(head, n, &lim, want, why, what);
        }
    }
}
END_TEST

Suite *kp_test_parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, parse_table, 0, (int)NCASES);
    tcase_add_test(tc, parse_rebase);
    tcase_add_test(tc, parse_rebase_after_error);
    tcase_add_test(tc, parse_no_rescan);
    tcase_add_test(tc, parse_defaults_and_lookup);
    tcase_add_test(tc, parse_dropped_report);
    tcase_add_test(tc, parse_value_every_byte);
    tcase_add_test(tc, parse_host_random);
    tcase_add_test(tc, parse_plain_path_random);
    tcase_add_test(tc, parse_byte_errors_first);
    tcase_add_test(tc, parse_limits_every_size);
    suite_add_tcase(s, tc);
    return s;
}
