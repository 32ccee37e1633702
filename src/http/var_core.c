/* The core table of built-in variables (see var_core.h): the request, the
 * connection, the response and the clock, computed only when asked for.
 * Numbers and addresses are written into the caller's buffer; values that
 * need more room or must outlive it go to r->arena. */
#include "kelpie/http/var_core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#include "kelpie/http/auth.h"
#include "kelpie/http/req.h"
#include "kelpie/http/static.h"
#include "kelpie/http/stats.h"
#include "kelpie/http/var.h"
#include "kelpie/http/router.h"

#define GETTER(fn)                                                                                 \
    static struct kp_str fn(struct kp_http_request *r, const struct kp_http_var_ref *ref, char *buf)
#define UNUSED_ARGS                                                                                \
    do {                                                                                           \
        (void)r;                                                                                   \
        (void)ref;                                                                                 \
        (void)buf;                                                                                 \
    } while (0)

static struct kp_str num(char *buf, uint64_t v)
{
    return (struct kp_str){buf,
                           (size_t)snprintf(buf, KP_HTTP_VAR_BUF, "%llu", (unsigned long long)v)};
}

/* Milliseconds as seconds with three decimals: "0.002", "1700000000.123". */
static struct kp_str msec(char *buf, uint64_t ms)
{
    return (struct kp_str){buf, (size_t)snprintf(buf, KP_HTTP_VAR_BUF, "%llu.%03u",
                                                 (unsigned long long)(ms / 1000),
                                                 (unsigned)(ms % 1000))};
}

static const struct kp_conn *conn_of(const struct kp_http_request *r)
{
    return r->hc != NULL ? r->hc->c : NULL;
}

static const struct kp_clock *clock_of(const struct kp_http_request *r)
{
    return r->svc != NULL ? r->svc->clock : NULL;
}

/* Whether a field's name is name (lowercase, '-' for the variable's '_'):
 * case-insensitively (RFC 9110 section 5.1), and with a '_' in the field
 * matching a '-', as nginx's $http_x_y finds X-Y and X_Y alike (a field
 * with '_' is there only with underscores_in_headers on or
 * ignore_invalid_headers off). */
static bool field_is(struct kp_str field, struct kp_str name)
{
    if (field.len != name.len)
        return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = kp_str_lower(field.p[i]);
        if (c != name.p[i] && !(c == '_' && name.p[i] == '-'))
            return false;
    }
    return true;
}

/* The first field line named name (lowercase): by field_is for a
 * variable's name, else exactly as a recognised field is found (nginx's
 * $content_type is Content-Type, never Content_Type). */
static struct kp_str find_field(const struct kp_http_request *r, struct kp_str name, bool var)
{
    const struct kp_http_head *h = &r->parser.head;

    for (size_t i = 0; i < h->nfields; i++) {
        if (var ? field_is(h->fields[i].name, name) : kp_str_caseeq(h->fields[i].name, name))
            return h->fields[i].value;
    }
    return KP_STR_NULL;
}

static struct kp_str field(const struct kp_http_request *r, struct kp_str name)
{
    return find_field(r, name, false);
}

/* The value after "name=" in a list of items separated by sep (a query:
 * '&', a Cookie field: ';' with optional spaces). */
static struct kp_str list_item(struct kp_str list, struct kp_str name, char sep, bool icase)
{
    const char *p = list.p, *end = list.p + list.len;

    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *item = p;
        while (p < end && *p != sep)
            p++;
        struct kp_str key = {item, 0};
        while (item + key.len < p && item[key.len] != '=')
            key.len++;
        bool eq = icase ? kp_str_caseeq(key, name) : kp_str_eq(key, name);
        if (eq && item + key.len < p)
            return (struct kp_str){item + key.len + 1, (size_t)(p - item - key.len - 1)};
        p++;
    }
    return KP_STR_NULL;
}

GETTER(v_uri)
{
    UNUSED_ARGS;
    return r->uri;
}

/* $request_uri: the target's path and query; for an absolute-form target
 * without a path, "/" (nginx's), the host being no part of it. */
GETTER(v_request_uri)
{
    const struct kp_http_head *h = &r->parser.head;

    UNUSED_ARGS;
    if (h->path.len == 0 && h->form == KP_HTTP_TARGET_ABSOLUTE)
        return KP_STR("/");
    return h->path.len > 0 ? h->path : h->target;
}

GETTER(v_args)
{
    UNUSED_ARGS;
    return r->args;
}

GETTER(v_arg)
{
    (void)buf;
    return list_item(r->args, ref->arg, '&', true);
}

GETTER(v_is_args)
{
    UNUSED_ARGS;
    return r->args.len > 0 ? KP_STR("?") : KP_STR_NULL;
}

/* $host: the request's host (target or Host field), else the server's
 * first name; lowercase, without a trailing dot, as nginx keeps it. */
GETTER(v_host)
{
    struct kp_str h = r->parser.head.host;

    (void)ref;
    if (h.len == 0 && r->srv != NULL && r->srv->name != NULL)
        return kp_str_from(r->srv->name);
    if (h.len > 1 && h.p[h.len - 1] == '.')
        h.len--;
    for (size_t i = 0; i < h.len; i++) {
        if (h.p[i] >= 'A' && h.p[i] <= 'Z') {
            char *low = h.len <= KP_HTTP_VAR_BUF ? buf : kp_arena_alloc(&r->arena, h.len);
            for (size_t j = 0; j < h.len; j++)
                low[j] = kp_str_lower(h.p[j]);
            return (struct kp_str){low, h.len};
        }
    }
    return h;
}

GETTER(v_hostname)
{
    (void)r;
    (void)ref;
    if (gethostname(buf, KP_HTTP_VAR_BUF) != 0)
        return KP_STR_NULL;
    buf[KP_HTTP_VAR_BUF - 1] = '\0';
    return kp_str_from(buf);
}

GETTER(v_server_name)
{
    UNUSED_ARGS;
    if (r->srv == NULL || r->srv->name == NULL)
        return KP_STR_NULL;
    return kp_str_from(r->srv->name);
}

/* The local address of the connection: the listener's, unless that is a
 * wildcard (then the kernel says which address the client reached). */
static bool local_addr(const struct kp_http_request *r, struct sockaddr_storage *ss)
{
    const struct kp_conn *c = conn_of(r);
    socklen_t len = sizeof(*ss);

    if (c == NULL || c->ls == NULL)
        return false;
    *ss = c->ls->conf.addr;
    if (ss->ss_family == AF_UNIX)
        return true;
    bool any = ss->ss_family == AF_INET6
                   ? IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)ss)->sin6_addr)
                   : ((struct sockaddr_in *)ss)->sin_addr.s_addr == INADDR_ANY;
    return !any || getsockname(c->io.fd, (struct sockaddr *)ss, &len) == 0;
}

/* nginx's text of an address: a UNIX-domain one is "unix:" and its path (an
 * unnamed client: "unix:" alone). */
static struct kp_str addr_text(const struct sockaddr_storage *ss, char *buf)
{
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
        int n =
            snprintf(buf, KP_HTTP_VAR_BUF, "unix:%.*s", (int)sizeof(sun->sun_path), sun->sun_path);
        return (struct kp_str){buf, (size_t)n};
    }
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

    if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6) ||
        inet_ntop(ss->ss_family, a, buf, KP_HTTP_VAR_BUF) == NULL)
        return KP_STR_NULL;
    return kp_str_from(buf);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port) : 0;
}

/* A port as nginx's variables give it: empty for none (0). */
static struct kp_str port_text(char *buf, unsigned port)
{
    return port > 0 ? num(buf, port) : KP_STR_NULL;
}

GETTER(v_server_addr)
{
    struct sockaddr_storage ss;

    (void)ref;
    return local_addr(r, &ss) ? addr_text(&ss, buf) : KP_STR_NULL;
}

GETTER(v_server_port)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    /* A UNIX-domain listener has no port: empty, as in nginx. */
    return c != NULL && c->ls != NULL ? port_text(buf, port_of(&c->ls->conf.addr)) : KP_STR_NULL;
}

struct kp_str kp_http_var_core_redirect_origin(struct kp_http_request *r)
{
    const struct kp_conn *c = conn_of(r);
    struct kp_str host = kp_http_router_host(r->parser.head.host);
    struct sockaddr_storage ss;
    char addr[KP_HTTP_VAR_BUF];

    if (c == NULL || !local_addr(r, &ss))
        return KP_STR_NULL;
    bool lower = true; /* the Host as nginx keeps it; a socket path as it is */
    if (r->loc->server_name_in_redirect && r->srv->name != NULL)
        host = kp_str_from(r->srv->name);
    else if (host.len == 0) {
        host = addr_text(&ss, addr);
        lower = ss.ss_family != AF_UNIX;
    }
    unsigned port = port_of(&ss);
    if (!r->loc->port_in_redirect || port == (c->tls != NULL ? 443u : 80u))
        port = 0;
    size_t size = sizeof("https://:65535") + host.len;
    char *p = kp_arena_alloc(&r->arena, size);
    int n = snprintf(p, size, "%s://", c->tls != NULL ? "https" : "http");
    for (size_t i = 0; i < host.len; i++)
        p[n++] = lower ? kp_str_lower(host.p[i]) : host.p[i];
    if (port != 0)
        n += snprintf(p + n, size - (size_t)n, ":%u", port);
    return (struct kp_str){p, (size_t)n};
}

/* "https" and "on" on a TLS connection (see http/ssl.h for $ssl_*). */
GETTER(v_scheme)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    (void)buf;
    return c != NULL && c->tls != NULL ? KP_STR("https") : KP_STR("http");
}

GETTER(v_https)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    (void)buf;
    return c != NULL && c->tls != NULL ? KP_STR("on") : KP_STR_NULL;
}

GETTER(v_request_method)
{
    UNUSED_ARGS;
    return r->parser.head.method_name;
}

GETTER(v_request)
{
    UNUSED_ARGS;
    return r->parser.head.request_line;
}

/* The client: the peer, or who a trusted proxy says it is (realip.h). */
GETTER(v_remote_addr)
{
    const struct sockaddr_storage *a = kp_http_req_client(r);

    (void)ref;
    return a != NULL ? addr_text(a, buf) : KP_STR_NULL;
}

/* Empty when the address came from a header without a port, as nginx. */
GETTER(v_remote_port)
{
    const struct sockaddr_storage *a = kp_http_req_client(r);

    (void)ref;
    return a != NULL ? port_text(buf, port_of(a)) : KP_STR_NULL;
}

/* The peer whatever realip did. */
GETTER(v_realip_remote_addr)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    return c != NULL ? addr_text(&c->peer, buf) : KP_STR_NULL;
}

GETTER(v_realip_remote_port)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    return c != NULL ? port_text(buf, port_of(&c->peer)) : KP_STR_NULL;
}

/* $proxy_protocol_*: the PROXY header's source (or, server, destination)
 * address or port; empty without a header or when it carried no
 * addresses (UNKNOWN, LOCAL). */
static struct kp_str proxy_var(const struct kp_http_request *r, char *buf, bool server, bool port)
{
    const struct kp_http_conn *hc = r->hc;

    if (hc == NULL || !hc->has_proxy)
        return KP_STR_NULL;
    const union kp_proxy_addr *a = server ? &hc->proxy.dst : &hc->proxy.src;
    if (port)
        return port_text(buf, kp_proxy_protocol_port(a));
    size_t n = kp_proxy_protocol_addr_text(a, buf, KP_HTTP_VAR_BUF);
    return n > 0 ? (struct kp_str){buf, n} : KP_STR_NULL;
}

GETTER(v_proxy_protocol_addr)
{
    (void)ref;
    return proxy_var(r, buf, false, false);
}

GETTER(v_proxy_protocol_port)
{
    (void)ref;
    return proxy_var(r, buf, false, true);
}

GETTER(v_proxy_protocol_server_addr)
{
    (void)ref;
    return proxy_var(r, buf, true, false);
}

GETTER(v_proxy_protocol_server_port)
{
    (void)ref;
    return proxy_var(r, buf, true, true);
}

/* $remote_user: the user name of "Authorization: Basic" (RFC 7617),
 * decoded as auth_basic decodes it (auth.h); not found for any other
 * scheme or a malformed value. */
GETTER(v_remote_user)
{
    struct kp_str v = field(r, KP_STR("authorization")), user, password;
    char *out = v.len <= KP_HTTP_VAR_BUF ? buf : kp_arena_alloc(&r->arena, v.len);

    (void)ref;
    if (v.p == NULL || !kp_http_auth_basic_decode(v, out, &user, &password))
        return KP_STR_NULL;
    return user;
}

/* Every line of a field nginx joins ($http_cookie with "; ",
 * $http_x_forwarded_for with ", "); the first one's value when it is alone. */
static struct kp_str joined_field(struct kp_http_request *r, struct kp_str name, const char *sep)
{
    const struct kp_http_head *h = &r->parser.head;
    size_t len = 0, n = 0, seplen = strlen(sep);
    struct kp_str first = KP_STR_NULL;

    for (size_t i = 0; i < h->nfields; i++) {
        if (field_is(h->fields[i].name, name)) {
            first = n++ == 0 ? h->fields[i].value : first;
            len += h->fields[i].value.len + seplen;
        }
    }
    if (n < 2)
        return first;
    char *out = kp_arena_alloc(&r->arena, len + 1), *o = out;
    for (size_t i = 0; i < h->nfields; i++) {
        if (!field_is(h->fields[i].name, name))
            continue;
        if (o != out) {
            memcpy(o, sep, seplen);
            o += seplen;
        }
        memcpy(o, h->fields[i].value.p, h->fields[i].value.len);
        o += h->fields[i].value.len;
    }
    *o = '\0';
    return (struct kp_str){out, (size_t)(o - out)};
}

GETTER(v_http)
{
    (void)buf;
    if (kp_str_eq(ref->arg, KP_STR("cookie")))
        return joined_field(r, ref->arg, "; ");
    if (kp_str_eq(ref->arg, KP_STR("x-forwarded-for")))
        return joined_field(r, ref->arg, ", ");
    return find_field(r, ref->arg, true);
}

GETTER(v_cookie)
{
    const struct kp_http_head *h = &r->parser.head;

    (void)buf;
    for (size_t i = 0; i < h->nfields; i++) {
        if (!kp_str_caseeq(h->fields[i].name, KP_STR("cookie")))
            continue;
        struct kp_str v = list_item(h->fields[i].value, ref->arg, ';', false);
        if (v.p != NULL)
            return v;
    }
    return KP_STR_NULL;
}

/* A "Name: value\r\n" line of lines whose name is name (any case). */
static struct kp_str header_line(struct kp_str lines, struct kp_str name)
{
    const char *p = lines.p, *end = lines.p + lines.len;

    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)((eol != NULL ? eol : end) - p));
        if (eol == NULL || colon == NULL)
            break;
        if (kp_str_caseeq((struct kp_str){p, (size_t)(colon - p)}, name)) {
            const char *v = colon + 1 + (colon[1] == ' ');
            return (struct kp_str){v, (size_t)(eol - v)};
        }
        p = eol + 2;
    }
    return KP_STR_NULL;
}

/* $sent_http_NAME: a field of the response (those kelpie writes and the
 * add_header lines). */
GETTER(v_sent_http)
{
    const struct kp_http_response *resp = &r->resp;
    struct kp_str name = ref->arg;

    if (kp_str_eq(name, KP_STR("content-type")))
        return resp->content_type;
    if (kp_str_eq(name, KP_STR("location")))
        return resp->location;
    if (kp_str_eq(name, KP_STR("etag")))
        return resp->etag;
    if (kp_str_eq(name, KP_STR("content-length"))) {
        if (resp->content_length >= 0)
            return num(buf, (uint64_t)resp->content_length);
        return resp->fd >= 0 ? num(buf, resp->file_len) : num(buf, resp->body.len);
    }
    struct kp_str v = header_line(resp->extra, name);
    if (v.p == NULL && r->loc != NULL)
        v = header_line(r->loc->add_headers_always, name);
    if (v.p == NULL && r->loc != NULL && resp->status < 400)
        v = header_line(r->loc->add_headers, name);
    return v;
}

GETTER(v_status)
{
    int s = r->resp.status == KP_HTTP_CLOSE_SILENTLY && r->closed_status != 0 ? r->closed_status
                                                                              : r->resp.status;

    (void)ref;
    if (s <= 0 || s >= 1000)
        return KP_STR("000");
    return (struct kp_str){buf, (size_t)snprintf(buf, KP_HTTP_VAR_BUF, "%03d", s)};
}

GETTER(v_body_bytes_sent)
{
    (void)ref;
    return num(buf, r->body_sent);
}

GETTER(v_bytes_sent)
{
    (void)ref;
    return num(buf, r->bytes_sent + r->interim_sent);
}

/* $request_completion: "OK" once the whole response went out; empty while
 * it is being made and for a request the client (or a stop) cut short. */
GETTER(v_request_completion)
{
    (void)ref;
    (void)buf;
    return r->complete ? KP_STR("OK") : KP_STR("");
}

GETTER(v_request_length)
{
    (void)ref;
    return num(buf, r->request_length);
}

GETTER(v_request_time)
{
    const struct kp_clock *clk = clock_of(r);

    (void)ref;
    return msec(buf, clk != NULL && clk->msec > r->start_msec ? clk->msec - r->start_msec : 0);
}

GETTER(v_msec)
{
    const struct kp_clock *clk = clock_of(r);

    (void)ref;
    return msec(buf, clk != NULL ? clk->wall_msec : 0);
}

GETTER(v_time_local)
{
    const struct kp_clock *clk = clock_of(r);

    (void)ref;
    (void)buf;
    return clk != NULL ? kp_str_from(clk->local_time) : KP_STR_NULL;
}

GETTER(v_time_iso8601)
{
    const struct kp_clock *clk = clock_of(r);

    (void)ref;
    (void)buf;
    return clk != NULL ? kp_str_from(clk->iso8601) : KP_STR_NULL;
}

GETTER(v_pid)
{
    (void)ref;
    bool known = r->svc != NULL && r->svc->pid > 0;
    return num(buf, (uint64_t)(known ? r->svc->pid : getpid()));
}

GETTER(v_pipe)
{
    UNUSED_ARGS;
    return r->pipelined ? KP_STR("p") : KP_STR(".");
}

GETTER(v_connection)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    return num(buf, c != NULL ? c->number : 0);
}

GETTER(v_connection_requests)
{
    const struct kp_conn *c = conn_of(r);

    (void)ref;
    return num(buf, c != NULL ? c->requests : 0);
}

/* $connection_time: seconds (with milliseconds) since the accept. */
GETTER(v_connection_time)
{
    const struct kp_clock *clk = clock_of(r);
    uint64_t since = r->hc != NULL ? r->hc->started_ms : 0;

    (void)ref;
    return msec(buf, clk != NULL && r->hc != NULL && clk->msec > since ? clk->msec - since : 0);
}

/* $nginx_version: configurations print it or test it for a number; kelpie
 * answers with its own. */
GETTER(v_nginx_version)
{
    UNUSED_ARGS;
    return KP_STR(KP_VERSION);
}

/* $date_gmt, $date_local: nginx's SSI module's variables, which
 * configurations also use outside SSI (`add_header Last-Modified
 * $date_gmt;` to defeat caches), in that module's default format. */
static struct kp_str date_text(struct kp_http_request *r, bool local, char *buf)
{
    const struct kp_clock *clk = clock_of(r);
    time_t now = clk != NULL ? clk->sec : time(NULL);
    struct tm tm;

    if ((local ? localtime_r(&now, &tm) : gmtime_r(&now, &tm)) == NULL)
        return KP_STR_NULL;
    size_t n = strftime(buf, KP_HTTP_VAR_BUF, "%A, %d-%b-%Y %H:%M:%S %Z", &tm);
    return (struct kp_str){buf, n};
}

GETTER(v_date_gmt)
{
    (void)ref;
    return date_text(r, false, buf);
}

GETTER(v_date_local)
{
    (void)ref;
    return date_text(r, true, buf);
}

/* $tcpinfo_rtt, _rttvar, _snd_cwnd, _rcv_space: the kernel's TCP_INFO of
 * the connection (not found on a UNIX-domain socket). */
static struct kp_str tcpinfo(struct kp_http_request *r, size_t field, char *buf)
{
    const struct kp_conn *c = conn_of(r);
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    if (c == NULL || getsockopt(c->io.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return KP_STR_NULL;
    const uint32_t values[] = {ti.tcpi_rtt, ti.tcpi_rttvar, ti.tcpi_snd_cwnd, ti.tcpi_rcv_space};
    return num(buf, values[field]);
}

GETTER(v_tcpinfo_rtt)
{
    (void)ref;
    return tcpinfo(r, 0, buf);
}

GETTER(v_tcpinfo_rttvar)
{
    (void)ref;
    return tcpinfo(r, 1, buf);
}

GETTER(v_tcpinfo_snd_cwnd)
{
    (void)ref;
    return tcpinfo(r, 2, buf);
}

GETTER(v_tcpinfo_rcv_space)
{
    (void)ref;
    return tcpinfo(r, 3, buf);
}

/* $connections_active, _reading, _writing, _waiting: the stub_status
 * page's counts, over every worker, now. */
static struct kp_str gauge(struct kp_http_request *r, enum kp_sb_gauge g, char *buf)
{
    struct kp_scoreboard *sb = r->svc != NULL ? r->svc->board : NULL;
    int64_t v = sb != NULL ? kp_http_stats_gauge(sb, g) : 0;

    return num(buf, (uint64_t)v);
}

GETTER(v_connections_active)
{
    (void)ref;
    return gauge(r, KP_SB_ACTIVE, buf);
}

GETTER(v_connections_reading)
{
    (void)ref;
    return gauge(r, KP_SB_READING, buf);
}

GETTER(v_connections_writing)
{
    (void)ref;
    return gauge(r, KP_SB_WRITING, buf);
}

GETTER(v_connections_waiting)
{
    (void)ref;
    return gauge(r, KP_SB_IDLE, buf);
}

/* $request_id: 16 random bytes in hex, made on first use and then fixed
 * for the request. */
GETTER(v_request_id)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[16];

    (void)ref;
    (void)buf;
    if (r->request_id == NULL) {
        char *id = kp_arena_alloc(&r->arena, 33);
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
            for (size_t i = 0; i < sizeof(rnd); i++)
                rnd[i] = (unsigned char)random();
        }
        for (size_t i = 0; i < sizeof(rnd); i++) {
            id[2 * i] = hex[rnd[i] >> 4];
            id[2 * i + 1] = hex[rnd[i] & 15];
        }
        id[32] = '\0';
        r->request_id = id;
    }
    return (struct kp_str){r->request_id, 32};
}

GETTER(v_content_type)
{
    UNUSED_ARGS;
    return field(r, KP_STR("content-type"));
}

GETTER(v_content_length)
{
    const struct kp_str *v = kp_http_parse_value(&r->parser.head, KP_HTTP_HDR_CONTENT_LENGTH);

    UNUSED_ARGS;
    return v != NULL ? *v : KP_STR_NULL;
}

GETTER(v_document_root)
{
    UNUSED_ARGS;
    return r->loc != NULL ? kp_http_static_root(r) : KP_STR_NULL;
}

GETTER(v_realpath_root)
{
    char *path;

    UNUSED_ARGS;
    if (r->loc == NULL || (path = realpath(kp_http_static_root(r).p, NULL)) == NULL)
        return KP_STR_NULL;
    struct kp_str v = {kp_arena_strndup(&r->arena, path, strlen(path)), strlen(path)};
    free(path);
    return v;
}

GETTER(v_request_filename)
{
    char *path = kp_arena_alloc(&r->arena, PATH_MAX);

    UNUSED_ARGS;
    ssize_t n = r->loc != NULL ? kp_http_static_filename(r, path, PATH_MAX) : -1;
    return n >= 0 ? (struct kp_str){path, (size_t)n} : KP_STR_NULL;
}

GETTER(v_server_protocol)
{
    unsigned v = r->parser.head.version;

    UNUSED_ARGS;
    if (v == 11)
        return KP_STR("HTTP/1.1");
    return v == 10 ? KP_STR("HTTP/1.0") : KP_STR_NULL;
}

/* $0 .. $9: the captures of the last regex that matched (ref->arg is the
 * digit); empty for a group that did not take part. */
GETTER(v_capture)
{
    unsigned i = (unsigned)(ref->arg.p[0] - '0');

    (void)buf;
    if (i >= r->n_captures || r->captures[2 * i] > r->captures[2 * i + 1])
        return KP_STR_NULL;
    return (struct kp_str){r->capture_subject + r->captures[2 * i],
                           r->captures[2 * i + 1] - r->captures[2 * i]};
}

/* $gzip_ratio: how many times smaller gzip made the body, with two
 * decimals, rounded, as nginx writes it ("3.12"); not found when nothing was
 * compressed (a precompressed .gz file included). */
GETTER(v_gzip_ratio)
{
    const struct kp_http_response *resp = &r->resp;

    (void)ref;
    if (resp->gzip_from == 0 || resp->body.len == 0)
        return KP_STR_NULL;
    uint64_t thousandths = resp->gzip_from * 1000 / resp->body.len;
    uint64_t hundredths = thousandths / 10 + (thousandths % 10 >= 5);
    return (struct kp_str){buf, (size_t)snprintf(buf, KP_HTTP_VAR_BUF, "%llu.%02u",
                                                 (unsigned long long)(hundredths / 100),
                                                 (unsigned)(hundredths % 100))};
}

/* $http2: the HTTP/2 protocol negotiated ("h2", "h2c"); kelpie speaks
 * HTTP/1.x alone, so it is always empty, as nginx's is for HTTP/1.x, and
 * logged as nothing, not "-". */
GETTER(v_http2)
{
    UNUSED_ARGS;
    return KP_STR("");
}

/* nginx's upstream variables, which log formats written for proxies name
 * ($upstream_response_time, $upstream_cache_status, ...): kelpie passes
 * nothing to an upstream, so they are never found ("-" in a log line, as
 * from nginx for a request it served itself). So are $request_body and
 * $request_body_file: nginx fills them only when a proxy (or fastcgi, ...)
 * module read the body, and kelpie reads a body only to drop it. */
GETTER(v_none)
{
    UNUSED_ARGS;
    return KP_STR_NULL;
}

const struct kp_http_var_def kp_http_var_core_vars[] = {
    {"uri", v_uri, 0, 0, NULL, NULL},
    {"document_uri", v_uri, 0, 0, NULL, NULL},
    {"request_uri", v_request_uri, 0, 0, NULL, NULL},
    {"args", v_args, 0, 0, NULL, NULL},
    {"query_string", v_args, 0, 0, NULL, NULL},
    {"arg_", v_arg, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"is_args", v_is_args, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"host", v_host, 0, 0, NULL, NULL},
    {"hostname", v_hostname, 0, 0, NULL, NULL},
    {"server_name", v_server_name, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"server_addr", v_server_addr, 0, 0, NULL, NULL},
    {"server_port", v_server_port, 0, 0, NULL, NULL},
    {"scheme", v_scheme, 0, 0, NULL, NULL},
    {"https", v_https, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"request_method", v_request_method, 0, 0, NULL, NULL},
    {"request", v_request, 0, 0, NULL, NULL},
    {"remote_addr", v_remote_addr, 0, 0, NULL, NULL},
    {"remote_port", v_remote_port, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"realip_remote_addr", v_realip_remote_addr, 0, 0, NULL, NULL},
    {"realip_remote_port", v_realip_remote_port, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"proxy_protocol_addr", v_proxy_protocol_addr, 0, 0, NULL, NULL},
    {"proxy_protocol_port", v_proxy_protocol_port, 0, 0, NULL, NULL},
    {"proxy_protocol_server_addr", v_proxy_protocol_server_addr, 0, 0, NULL, NULL},
    {"proxy_protocol_server_port", v_proxy_protocol_server_port, 0, 0, NULL, NULL},
    {"remote_user", v_remote_user, 0, 0, NULL, NULL},
    {"http_", v_http, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"cookie_", v_cookie, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"sent_http_", v_sent_http, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"status", v_status, 0, 0, NULL, NULL},
    {"body_bytes_sent", v_body_bytes_sent, 0, 0, NULL, NULL},
    {"bytes_sent", v_bytes_sent, 0, 0, NULL, NULL},
    {"request_length", v_request_length, 0, 0, NULL, NULL},
    {"request_completion", v_request_completion, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"request_time", v_request_time, 0, 0, NULL, NULL},
    {"msec", v_msec, 0, 0, NULL, NULL},
    {"time_local", v_time_local, 0, 0, NULL, NULL},
    {"time_iso8601", v_time_iso8601, 0, 0, NULL, NULL},
    {"pid", v_pid, 0, 0, NULL, NULL},
    {"pipe", v_pipe, 0, 0, NULL, NULL},
    {"connection", v_connection, 0, 0, NULL, NULL},
    {"connection_requests", v_connection_requests, 0, 0, NULL, NULL},
    {"request_id", v_request_id, 0, 0, NULL, NULL},
    {"connection_time", v_connection_time, 0, 0, NULL, NULL},
    {"nginx_version", v_nginx_version, 0, 0, NULL, NULL},
    {"date_gmt", v_date_gmt, 0, 0, NULL, NULL},
    {"date_local", v_date_local, 0, 0, NULL, NULL},
    {"tcpinfo_rtt", v_tcpinfo_rtt, 0, 0, NULL, NULL},
    {"tcpinfo_rttvar", v_tcpinfo_rttvar, 0, 0, NULL, NULL},
    {"tcpinfo_snd_cwnd", v_tcpinfo_snd_cwnd, 0, 0, NULL, NULL},
    {"tcpinfo_rcv_space", v_tcpinfo_rcv_space, 0, 0, NULL, NULL},
    {"connections_active", v_connections_active, 0, 0, NULL, NULL},
    {"connections_reading", v_connections_reading, 0, 0, NULL, NULL},
    {"connections_writing", v_connections_writing, 0, 0, NULL, NULL},
    {"connections_waiting", v_connections_waiting, 0, 0, NULL, NULL},
    {"content_type", v_content_type, 0, 0, NULL, NULL},
    {"content_length", v_content_length, 0, 0, NULL, NULL},
    {"document_root", v_document_root, 0, 0, NULL, NULL},
    {"realpath_root", v_realpath_root, 0, 0, NULL, NULL},
    {"request_filename", v_request_filename, 0, 0, NULL, NULL},
    {"server_protocol", v_server_protocol, 0, 0, NULL, NULL},
    {"0", v_capture, 0, 0, NULL, NULL},
    {"gzip_ratio", v_gzip_ratio, 0, 0, NULL, NULL},
    {"http2", v_http2, KP_HTTP_VAR_EMPTY, 0, NULL, NULL},
    {"request_body", v_none, 0, 0, NULL, NULL},
    {"request_body_file", v_none, 0, 0, NULL, NULL},
    {"sent_trailer_", v_none, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"upstream_addr", v_none, 0, 0, NULL, NULL},
    {"upstream_bytes_received", v_none, 0, 0, NULL, NULL},
    {"upstream_bytes_sent", v_none, 0, 0, NULL, NULL},
    {"upstream_cache_status", v_none, 0, 0, NULL, NULL},
    {"upstream_connect_time", v_none, 0, 0, NULL, NULL},
    {"upstream_header_time", v_none, 0, 0, NULL, NULL},
    {"upstream_queue_time", v_none, 0, 0, NULL, NULL},
    {"upstream_response_length", v_none, 0, 0, NULL, NULL},
    {"upstream_response_time", v_none, 0, 0, NULL, NULL},
    {"upstream_status", v_none, 0, 0, NULL, NULL},
    {"upstream_http_", v_none, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"upstream_cookie_", v_none, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {"upstream_trailer_", v_none, KP_HTTP_VAR_PREFIX, 0, NULL, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
