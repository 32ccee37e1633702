/* Variables in `return` text (see expand.h): two passes over the text, one
 * to size the result, one to write it. */
#include "kelpie/http/expand.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

enum var {
    V_SCHEME,
    V_HOST,
    V_SERVER_NAME,
    V_SERVER_PORT,
    V_REQUEST_URI,
    V_URI,
    V_ARGS,
    V_IS_ARGS,
    V_REQUEST_METHOD,
    V_UNKNOWN,
};

static const char *const NAMES[] = {"scheme", "host", "server_name", "server_port",   "request_uri",
                                    "uri",    "args", "is_args",     "request_method"};

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The variable at p (just after '$'): its id and, in *name, its name;
 * *end is where the text goes on. */
static enum var scan(const char *p, struct kp_str *name, const char **end)
{
    bool braced = *p == '{';
    const char *s = p + braced, *e = s;

    while (is_name_char(*e))
        e++;
    *name = (struct kp_str){s, (size_t)(e - s)};
    *end = e + (braced && *e == '}');
    if (braced && *e != '}')
        return V_UNKNOWN;
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        if (name->len == strlen(NAMES[i]) && memcmp(name->p, NAMES[i], name->len) == 0)
            return (enum var)i;
    }
    return V_UNKNOWN;
}

bool kp_http_expand_check(const char *text, struct kp_str *bad)
{
    for (const char *p = strchr(text, '$'); p != NULL; p = strchr(p, '$')) {
        if (scan(p + 1, bad, &p) == V_UNKNOWN)
            return false;
    }
    return true;
}

static struct kp_str host_of(const struct kp_http_request *r)
{
    if (r->parser.head.host.len > 0)
        return r->parser.head.host;
    return r->srv->n_server_names > 0 ? kp_str_from(r->srv->server_names[0]) : KP_STR_NULL;
}

/* The port the connection came in on, as text in buf (8 bytes). */
static struct kp_str port_of(const struct kp_http_request *r, char *buf)
{
    const struct sockaddr_storage *a = &r->hc->c->ls->conf.addr;
    uint16_t port = a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
                                             : ((const struct sockaddr_in *)a)->sin_port;

    return (struct kp_str){buf, (size_t)snprintf(buf, 8, "%u", (unsigned)ntohs(port))};
}

static struct kp_str value(const struct kp_http_request *r, enum var v, char *buf)
{
    const struct kp_http_head *h = &r->parser.head;

    switch (v) {
    case V_SCHEME:
        return KP_STR("http");
    case V_HOST:
        return host_of(r);
    case V_SERVER_NAME:
        return r->srv->n_server_names > 0 ? kp_str_from(r->srv->server_names[0]) : KP_STR_NULL;
    case V_SERVER_PORT:
        return port_of(r, buf);
    case V_REQUEST_URI:
        return h->path.len > 0 ? h->path : h->target;
    case V_URI:
        return r->uri;
    case V_ARGS:
        return r->args;
    case V_IS_ARGS:
        return r->args.len > 0 ? KP_STR("?") : KP_STR_NULL;
    case V_REQUEST_METHOD:
        return h->method_name;
    default:
        return KP_STR_NULL;
    }
}

static bool needs_escape(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f;
}

/* Append v to out (NULL: only count); returns the bytes it takes. */
static size_t put_value(char *out, struct kp_str v, bool url)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (url && needs_escape(c)) {
            if (out != NULL) {
                out[n] = '%';
                out[n + 1] = hex[c >> 4];
                out[n + 2] = hex[c & 15];
            }
            n += 3;
        } else {
            if (out != NULL)
                out[n] = (char)c;
            n++;
        }
    }
    return n;
}

/* One pass: write into out (NULL: only count). Returns the length. */
static size_t expand_into(const struct kp_http_request *r, const char *text, bool url, char *out)
{
    char port[8];
    size_t n = 0;

    for (const char *p = text; *p != '\0';) {
        if (*p != '$') {
            if (out != NULL)
                out[n] = *p;
            n++;
            p++;
            continue;
        }
        struct kp_str name;
        enum var v = scan(p + 1, &name, &p);
        n += put_value(out != NULL ? out + n : NULL, value(r, v, port), url);
    }
    return n;
}

struct kp_str kp_http_expand(struct kp_http_request *r, const char *text, bool url)
{
    size_t len = expand_into(r, text, url, NULL);
    char *out = kp_arena_alloc(&r->arena, len + 1);

    expand_into(r, text, url, out);
    out[len] = '\0';
    return (struct kp_str){out, len};
}
