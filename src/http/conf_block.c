/* The http { } block. While parsing, each http, server and location block is
 * a node holding its settings and the directives it used; at the end of the
 * http block every unset setting is inherited from the enclosing block
 * (kp_conf_merge, driven by the table below) and the result is published
 * into the struct kp_http_conf of cf->modules[KP_CONF_MODULE_HTTP]. */
#include "kelpie/http/conf_block.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "kelpie/http/conf.h"
#include "kelpie/http/charset.h"
#include "kelpie/http/cond.h"
#include "kelpie/http/auth.h"
#include "kelpie/http/autoindex.h"
#include "kelpie/http/realip.h"
#include "kelpie/http/referer.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/headers.h"
#include "kelpie/http/limit.h"
#include "kelpie/http/location.h"
#include "kelpie/http/geo.h"
#include "kelpie/http/map.h"
#include "kelpie/http/split_clients.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/response.h"
#include "kelpie/http/rewrite.h"
#include "kelpie/http/ssl.h"
#include "kelpie/http/var.h"
#include "kelpie/util/logconf.h"
#include "kelpie/util/syslog.h"

#define HTTP_ANY       (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)
#define HTTP_ANY_IF    (HTTP_ANY | KP_CONF_LIF) /* nginx's directives allowed in a location's if */
#define RW_CTX         (KP_CONF_SRV | KP_CONF_LOC | KP_CONF_SIF | KP_CONF_LIF)
#define HTTP_SRV       (KP_CONF_HTTP | KP_CONF_SRV)
#define LOC(m)         KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, m)
#define LOC_SPAN(a, b) KP_CONF_SLOT_LOC, KP_CONF_SPAN(struct kp_http_loc_conf, a, b)
#define SRV(m)         KP_CONF_SLOT_SRV, KP_CONF_FIELD(struct kp_http_srv_conf, m)
#define SRV_SPAN(a, b) KP_CONF_SLOT_SRV, KP_CONF_SPAN(struct kp_http_srv_conf, a, b)

/* A location-level block (also used for the http and server levels). The
 * settings come first so that a node pointer is also a settings pointer,
 * which is what the generic setters receive. */
struct loc_node {
    struct kp_http_loc_conf conf;
    struct kp_conf_seen seen;        /* directives of this block, all slots */
    struct kp_http_types *own_types; /* this block's `types`, NULL if none */
    struct loc_node **ifs;           /* its if { } blocks (http/rewrite.h) */
    size_t n_ifs;
    struct loc_node *except; /* its limit_except { } block (http/auth.h), or NULL */
    struct loc_node **locs;  /* the location { } blocks inside, in config order */
    size_t n_locs;
};

struct srv_node {
    struct kp_http_srv_conf conf;
    struct loc_node loc; /* the server-level block; its locs are the server's */
};

/* The frame's KP_CONF_SLOT_MAIN object in every http context. */
struct http_state {
    struct srv_node top; /* http-level values, with the defaults */
    struct srv_node **servers;
    size_t n_servers;
};

/* nginx's predefined format, so that existing log tooling reads our logs. */
static const char combined_format[] = "$remote_addr - $remote_user [$time_local] \"$request\" "
                                      "$status $body_bytes_sent \"$http_referer\" "
                                      "\"$http_user_agent\"";

static struct http_state *state(const struct kp_conf *cf)
{
    return cf->frame->conf[KP_CONF_SLOT_MAIN];
}

/* --- types ---------------------------------------------------------------- */

/* Insert keeping t sorted by extension; a repeated extension takes the new
 * type, as in nginx. */
static void types_add(struct kp_arena *a, struct kp_http_types *t, const char *ext, char *type)
{
    char *lower = kp_conf_strdup(a, ext);
    size_t lo = 0, hi = t->n;

    for (char *p = lower; *p != '\0'; p++)
        *p = kp_str_lower(*p);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].ext, lower);
        if (c == 0) {
            t->v[mid].type = type;
            return;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    KP_CONF_PUSH(a, t->v, t->n);
    memmove(&t->v[lo + 1], &t->v[lo], (t->n - 1 - lo) * sizeof(t->v[0]));
    t->v[lo] = (struct kp_http_type){lower, type};
}

/* Used when the http block has no `types` at all: nginx's built-in set,
 * exactly (everything else is default_type until mime.types is included). */
static void builtin_types(struct kp_arena *a, struct kp_http_types *t)
{
    static const char *const map[][2] = {
        {"text/html", "html"}, {"image/gif", "gif"}, {"image/jpeg", "jpg"}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        types_add(a, t, map[i][1], kp_conf_strdup(a, map[i][0]));
}

/* One "TYPE EXT...;" line inside types { }. */
static int type_entry(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    char *type = kp_conf_strdup(cf->arena, cf->args[0]);

    (void)cmd;
    for (size_t i = 1; i < cf->nargs; i++)
        types_add(cf->arena, conf, cf->args[i], type);
    return 0;
}

static int types_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct loc_node *node = conf;

    (void)cmd;
    /* Several types { } in one block add up; the http level's table is the
     * one published as cycle->http.types. */
    if (node->own_types == NULL) {
        node->own_types = cf->frame->ctx == KP_CONF_HTTP
                              ? &kp_http_conf_of(cf)->types
                              : kp_arena_calloc(cf->arena, sizeof(*node->own_types));
        node->conf.types = node->own_types;
    }
    struct kp_conf_frame frame = {KP_CONF_TYPES, {node->own_types, NULL, NULL}, NULL, type_entry};
    return kp_conf_parse_block(cf, &frame);
}

/* --- log formats and access logs ----------------------------------------------- */

static const struct kp_http_log_format *find_log_format(const struct kp_http_conf *http,
                                                        const char *name)
{
    for (size_t i = 0; i < http->n_log_formats; i++) {
        if (strcmp(http->log_formats[i].name, name) == 0)
            return &http->log_formats[i];
    }
    return NULL;
}

static int add_log_format(struct kp_conf *cf, const char *name, enum kp_http_log_escape escape,
                          struct kp_str text)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);

    if (find_log_format(http, name) != NULL)
        return kp_conf_error(cf, "duplicate \"log_format\" name \"%s\"", name);
    if (http->n_log_formats == KP_HTTP_MAX_LOG_FORMATS)
        return kp_conf_error(cf, "too many \"log_format\" directives");
    struct kp_http_log_format *f = &http->log_formats[http->n_log_formats];
    char *src = kp_arena_strndup(cf->arena, text.p, text.len);
    int rc = kp_http_cv_compile(cf, src, &f->value);
    if (rc != 0)
        return rc;
    f->name = kp_conf_strdup(cf->arena, name);
    f->escape = escape;
    http->n_log_formats++;
    return 0;
}

/* open_file_cache max=N [inactive=TIME] | off (http/filecache.h) */
static int open_file_cache(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);
    uint64_t max = 0, inactive = 60000;

    (void)cmd;
    (void)conf;
    if (cf->nargs == 2 && strcmp(cf->args[1], "off") == 0) {
        http->open_file_cache_max = 0;
        return 0;
    }
    for (size_t i = 1; i < cf->nargs; i++) {
        const char *a = cf->args[i];
        bool ok =
            strncmp(a, "max=", 4) == 0
                ? kp_conf_parse_num(a + 4, 1u << 20, &max) == 0 && max > 0
                : strncmp(a, "inactive=", 9) == 0 && kp_conf_parse_msec(a + 9, &inactive) == 0;
        if (!ok)
            return kp_conf_invalid(cf, a);
    }
    if (max == 0)
        return kp_conf_error(cf, "\"open_file_cache\" must have the \"max\" parameter");
    http->open_file_cache_max = (size_t)max;
    http->open_file_cache_inactive_ms = inactive;
    return 0;
}

static int open_file_cache_valid(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    (void)conf;
    if (kp_conf_parse_msec(cf->args[1], &kp_http_conf_of(cf)->open_file_cache_valid_ms) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    return 0;
}

/* log_format NAME [escape=default|json|none] STRING...: the strings are joined. */
static int log_format(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    size_t first = 2, len = 0;
    enum kp_http_log_escape escape = KP_HTTP_LOG_ESCAPE_DEFAULT;
    const char *esc = cf->args[2];

    (void)cmd;
    (void)conf;
    if (strncmp(esc, "escape=", 7) == 0) {
        if (strcmp(esc + 7, "json") == 0)
            escape = KP_HTTP_LOG_ESCAPE_JSON;
        else if (strcmp(esc + 7, "none") == 0)
            escape = KP_HTTP_LOG_ESCAPE_NONE;
        else if (strcmp(esc + 7, "default") != 0)
            return kp_conf_invalid(cf, esc);
        first = 3;
        if (cf->nargs == first)
            return kp_conf_error(cf, "invalid number of arguments in \"log_format\" directive");
    }
    for (size_t i = first; i < cf->nargs; i++)
        len += strlen(cf->args[i]);
    char *text = kp_arena_alloc(cf->arena, len + 1), *p = text;
    for (size_t i = first; i < cf->nargs; i++)
        p = stpcpy(p, cf->args[i]);
    return add_log_format(cf, cf->args[1], escape, (struct kp_str){text, len});
}

static int log_param(struct kp_conf *cf, struct kp_http_access_log *log, const char *p)
{
    uint64_t v;

    if (strncmp(p, "buffer=", 7) == 0) {
        if (kp_conf_parse_size(p + 7, INT32_MAX, &v) != 0 || v == 0)
            return kp_conf_invalid(cf, p);
        log->buffer_size = (size_t)v;
    } else if (strncmp(p, "flush=", 6) == 0) {
        if (kp_conf_parse_msec(p + 6, &v) != 0 || v == 0)
            return kp_conf_invalid(cf, p);
        log->flush_ms = v;
    } else if (strcmp(p, "gzip") == 0 || strncmp(p, "gzip=", 5) == 0) {
        if (p[4] == '\0')
            v = 1; /* nginx's default level */
        else if (kp_conf_parse_num(p + 5, 9, &v) != 0 || v == 0)
            return kp_conf_invalid(cf, p);
        log->gzip_level = (int)v;
    } else if (strncmp(p, "if=", 3) == 0) {
        log->cond = kp_arena_alloc(cf->arena, sizeof(*log->cond));
        return kp_http_cv_compile(cf, p + 3, log->cond);
    } else {
        return kp_conf_error(cf, "invalid parameter \"%s\"", p);
    }
    return 0;
}

/* aio off | on | threads[=NAME]. `aio on` asks nginx for Linux native
 * AIO, which needs directio; kelpie has neither and serves it with the
 * default thread pool, as `aio threads` does. */
static int set_aio(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    struct kp_http_conf *http = cf->modules[KP_CONF_MODULE_HTTP];
    const char *a = cf->args[1], *pool = "default";

    (void)cmd;
    if (strcmp(a, "off") == 0) {
        loc->aio_pool = NULL;
        return 0;
    }
    if (strncmp(a, "threads=", 8) == 0) {
        pool = a + 8;
        if (strchr(pool, '$') != NULL)
            return kp_conf_error(cf, "variables in \"aio threads=\" are not supported");
        if (*pool == '\0')
            return kp_conf_invalid(cf, a);
    } else if (strcmp(a, "on") != 0 && strcmp(a, "threads") != 0) {
        return kp_conf_invalid(cf, a);
    }
    loc->aio_pool = kp_conf_strdup(cf->arena, pool);
    /* The error for a pool that is never declared, located here. */
    kp_conf_error(cf, "unknown thread pool \"%s\"", pool);
    struct kp_http_aio_ref *ref = KP_CONF_PUSH(cf->arena, http->aio_refs, http->n_aio_refs);
    *ref = (struct kp_http_aio_ref){loc->aio_pool, kp_conf_strdup(cf->arena, cf->err)};
    cf->err[0] = '\0';
    return 0;
}

/* access_log PATH [FORMAT [buffer=SIZE] [gzip[=LEVEL]] [flush=TIME] [if=CONDITION]] | off */
static int access_log(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    const char *name = cf->nargs > 2 ? cf->args[2] : "combined";

    if (!kp_conf_field_seen(cf, cmd) || strcmp(cf->args[1], "off") == 0) {
        loc->access_logs = NULL; /* replace what was inherited or set before "off" */
        loc->n_access_logs = 0;
    }
    if (strcmp(cf->args[1], "off") == 0)
        return cf->nargs == 2 ? 0 : kp_conf_error(cf, "invalid parameter \"%s\"", cf->args[2]);
    const struct kp_http_log_format *fmt = find_log_format(kp_http_conf_of(cf), name);
    if (fmt == NULL)
        return kp_conf_error(cf, "unknown log format \"%s\"", name);
    struct kp_http_access_log log = {
        kp_conf_join(cf->arena, cf->prefix, cf->args[1]), fmt, 0, 0, NULL, NULL, 0};
    if (kp_syslog_is(cf->args[1])) {
        log.path = kp_conf_strdup(cf->arena, cf->args[1]);
        if ((log.syslog = kp_syslog_parse(cf, cf->args[1])) == NULL)
            return -EINVAL;
    }
    for (size_t i = 3; i < cf->nargs; i++) {
        int rc = log_param(cf, &log, cf->args[i]);
        if (rc != 0)
            return rc;
    }
    if (log.syslog != NULL && (log.flush_ms > 0 || log.buffer_size > 0 || log.gzip_level > 0))
        return kp_conf_error(cf, "logs to syslog cannot be buffered");
    if ((log.flush_ms > 0 || log.gzip_level > 0) && log.buffer_size == 0)
        log.buffer_size = KP_HTTP_LOG_BUFFER;
    *KP_CONF_PUSH(cf->arena, loc->access_logs, loc->n_access_logs) = log;
    return 0;
}

/* error_log FILE|stderr [LEVEL] in http, server and location: where the
 * messages about a request handled here go. */
static int error_log(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    struct kp_log *log = kp_logconf_parse(cf);

    if (log == NULL)
        return -EINVAL;
    kp_logconf_add(&loc->error_log, log, !kp_conf_field_seen(cf, cmd));
    return 0;
}

/* --- server and listen ------------------------------------------------------------- */

static bool same_addr(const struct kp_socket_conf *a, const struct kp_socket_conf *b)
{
    return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* Socket options may be given by one server only: they apply to the socket. */
static bool has_options(const struct kp_socket_conf *l)
{
    return l->reuseport || l->backlog != KP_HTTP_BACKLOG || l->ipv6_dual || l->bind ||
           l->deferred || l->fastopen != 0 || l->so_keepalive != 0 || l->rcvbuf != 0 ||
           l->sndbuf != 0;
}

static int check_listen(struct kp_conf *cf, const struct srv_node *s,
                        const struct kp_http_listen *l)
{
    const struct http_state *h = state(cf);

    for (size_t i = 0; i < s->conf.n_listens; i++) {
        if (same_addr(&s->conf.listens[i].sock, &l->sock))
            return kp_conf_error(cf, "a duplicate listen %s", l->sock.text);
    }
    for (size_t i = 0; i < h->n_servers; i++) {
        const struct kp_http_srv_conf *o = &h->servers[i]->conf;
        for (size_t j = 0; o != &s->conf && j < o->n_listens; j++) {
            if (!same_addr(&o->listens[j].sock, &l->sock))
                continue;
            if (l->default_server && o->listens[j].default_server)
                return kp_conf_error(cf, "a duplicate default server for %s", l->sock.text);
            if (has_options(&l->sock) && has_options(&o->listens[j].sock))
                return kp_conf_error(cf, "duplicate listen options for %s", l->sock.text);
        }
    }
    return 0;
}

/* A so_keepalive time part: empty (system default) or a time in seconds. */
static int keepalive_part(const char *s, size_t len, int *out)
{
    char buf[32];
    uint64_t ms;

    if (len == 0)
        return 0;
    if (len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (kp_conf_parse_msec(buf, &ms) != 0 || ms < 1000 || ms / 1000 > INT32_MAX)
        return -EINVAL;
    *out = (int)(ms / 1000);
    return 0;
}

/* so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt] */
static int so_keepalive(struct kp_conf *cf, struct kp_socket_conf *l, const char *p)
{
    const char *v = p + 13, *c1 = strchr(v, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    uint64_t n;

    if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) {
        l->so_keepalive = v[1] == 'n' ? 1 : -1;
        return 0;
    }
    if (c2 == NULL || keepalive_part(v, (size_t)(c1 - v), &l->keepidle) != 0 ||
        keepalive_part(c1 + 1, (size_t)(c2 - c1 - 1), &l->keepintvl) != 0)
        return kp_conf_invalid(cf, p);
    if (c2[1] != '\0') {
        if (kp_conf_parse_num(c2 + 1, INT32_MAX, &n) != 0 || n == 0)
            return kp_conf_invalid(cf, p);
        l->keepcnt = (int)n;
    }
    l->so_keepalive = 1;
    return 0;
}

static int listen_param(struct kp_conf *cf, struct kp_http_listen *l, const char *p)
{
    struct kp_socket_conf *sk = &l->sock;
    uint64_t n;

    if (strcmp(p, "default_server") == 0 || strcmp(p, "default") == 0) {
        l->default_server = true;
    } else if (strcmp(p, "reuseport") == 0) {
        sk->reuseport = true;
    } else if (strcmp(p, "ssl") == 0) {
        if (!kp_http_ssl_available())
            return kp_conf_error(cf, "the \"ssl\" parameter requires kelpie built with OpenSSL "
                                     "(it was configured --without-ssl)");
        l->ssl = true;
    } else if (strcmp(p, "proxy_protocol") == 0) {
        l->proxy_protocol = true;
    } else if (strcmp(p, "http2") == 0) {
        /* nginx 1.22's way of enabling HTTP/2, in most HTTPS configurations:
         * accepted so that they load; kelpie offers HTTP/1.1 only (no h2 in
         * ALPN), which every HTTP/2 client falls back to. */
        return 0;
    } else if (strncmp(p, "backlog=", 8) == 0) {
        if (kp_conf_parse_num(p + 8, INT32_MAX, &n) != 0 || n == 0)
            return kp_conf_invalid(cf, p);
        sk->backlog = (int)n;
    } else if (strcmp(p, "deferred") == 0) {
        sk->deferred = true;
    } else if (strcmp(p, "bind") == 0) {
        sk->bind = true;
    } else if (strncmp(p, "fastopen=", 9) == 0) {
        if (kp_conf_parse_num(p + 9, INT32_MAX, &n) != 0)
            return kp_conf_invalid(cf, p);
        sk->fastopen = (int)n;
    } else if (strncmp(p, "rcvbuf=", 7) == 0 || strncmp(p, "sndbuf=", 7) == 0) {
        if (kp_conf_parse_size(p + 7, INT32_MAX, &n) != 0 || n == 0)
            return kp_conf_invalid(cf, p);
        *(p[0] == 'r' ? &sk->rcvbuf : &sk->sndbuf) = (int)n;
    } else if (strncmp(p, "ipv6only=", 9) == 0) {
        bool only;
        if (kp_conf_parse_flag(p + 9, &only) != 0)
            return kp_conf_invalid(cf, p);
        /* Meaningless on an IPv4 address, which nginx also lets pass. */
        sk->ipv6_dual = !only && sk->addr.ss_family == AF_INET6;
    } else if (strncmp(p, "so_keepalive=", 13) == 0) {
        return so_keepalive(cf, sk, p);
    } else {
        return kp_conf_error(cf, "invalid parameter \"%s\"", p);
    }
    return 0;
}

/* listen ADDR[:PORT]|PORT|unix:PATH [default_server] [ssl] [http2] [proxy_protocol] [reuseport]
 * [backlog=N] [deferred] [bind] [fastopen=N] [rcvbuf=SIZE] [sndbuf=SIZE] [ipv6only=on|off]
 * [so_keepalive=...]
 */
static int set_listen(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct srv_node *s = conf;
    struct kp_http_listen l = {.sock.backlog = KP_HTTP_BACKLOG};
    const char *a = cf->args[1];

    (void)cmd;
    int rc = kp_conf_parse_addr(a, 80, &l.sock.addr, &l.sock.addrlen);
    if (rc == -ENOENT)
        return kp_conf_error(cf, "host not found in \"%s\" of the \"listen\" directive", a);
    if (rc == -ERANGE)
        return kp_conf_error(cf, "invalid port in \"%s\" of the \"listen\" directive", a);
    if (rc != 0 && strncmp(a, "unix:", 5) == 0)
        return kp_conf_error(
            cf, "%s path in the unix domain socket in \"%s\" of the \"listen\" directive",
            rc == -ENAMETOOLONG ? "too long" : "no", a);
    if (rc != 0)
        return kp_conf_invalid(cf, a);
    kp_conf_addr_text(&l.sock.addr, l.sock.text, sizeof(l.sock.text));
    for (size_t i = 2; i < cf->nargs && rc == 0; i++)
        rc = listen_param(cf, &l, cf->args[i]);
    /* The kernel has no SO_REUSEPORT for UNIX-domain sockets (nginx fails
     * at start on it); the TCP-only parameters are left unset on them. */
    if (rc == 0 && l.sock.reuseport && l.sock.addr.ss_family == AF_UNIX)
        return kp_conf_error(cf, "the \"reuseport\" parameter is not supported on %s", l.sock.text);
    if (rc == 0)
        rc = check_listen(cf, s, &l);
    if (rc == 0)
        *KP_CONF_PUSH(cf->arena, s->conf.listens, s->conf.n_listens) = l;
    if (rc == 0 && l.ssl && s->conf.ssl_listen == NULL)
        s->conf.ssl_listen = kp_http_ssl_where(cf);
    return rc;
}

/* server_name NAME...: exact names, "*.example.com" wildcards and ~REGEX
 * (PCRE2, caseless as nginx compiles them, matched against the lowercase
 * host; captures become variables). The very first name, whatever its
 * kind, is the server's own ($server_name, redirects): a regex with its
 * '~', ".example.com" without its dot, as nginx keeps it. */
static int server_name(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_srv_conf *srv = conf;

    (void)cmd;
    for (size_t i = 1; i < cf->nargs; i++) {
        if (cf->args[i][0] == '~') {
            struct kp_http_regex **re =
                KP_CONF_PUSH(cf->arena, srv->name_regexes, srv->n_name_regexes);
            int rc = kp_http_regex_compile(cf, cf->args[i] + 1, true, re);
            if (rc != 0)
                return rc;
            if (srv->name == NULL)
                srv->name = kp_conf_strdup(cf->arena, cf->args[i]);
            continue;
        }
        char *name = kp_conf_strdup(cf->arena, cf->args[i]);
        for (char *p = name; *p != '\0'; p++)
            *p = kp_str_lower(*p);
        *KP_CONF_PUSH(cf->arena, srv->server_names, srv->n_server_names) = name;
        if (srv->name == NULL)
            srv->name = name[0] == '.' ? name + 1 : name;
    }
    return 0;
}

static int large_buffers(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_srv_conf *srv = conf;
    uint64_t n, size;

    (void)cmd;
    if (kp_conf_parse_num(cf->args[1], 1024, &n) != 0 || n == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    if (kp_conf_parse_size(cf->args[2], INT32_MAX, &size) != 0 || size == 0)
        return kp_conf_invalid(cf, cf->args[2]);
    srv->large_client_header_buffers_num = (unsigned)n;
    srv->large_client_header_buffers_size = (size_t)size;
    return 0;
}

/* --- location-level directives -------------------------------------------------------- */

/* root and alias write the same field, so each sees the other. */
static int set_root(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    /* "root $base/html": whether the value is relative is known per
     * request only, so it is resolved against the prefix then. */
    bool leading_var = cf->args[1][0] == '$';
    char *root = leading_var ? kp_conf_strdup(cf->arena, cf->args[1])
                             : kp_conf_join(cf->arena, cf->prefix, cf->args[1]);
    size_t len = strlen(root);

    if (kp_conf_field_seen(cf, cmd))
        return kp_conf_error(cf, "\"root\" directive is duplicate, \"alias\" directive was "
                                 "specified earlier");
    while (len > 0 && root[len - 1] == '/') /* the URI brings its own '/' */
        root[--len] = '\0';
    loc->root = root;
    loc->root_len = len;
    loc->alias = false;
    loc->alias_value = NULL;
    loc->root_value = NULL;
    loc->root_prefix = leading_var ? kp_conf_strdup(cf->arena, cf->prefix) : NULL;
    if (strchr(root, '$') != NULL) { /* root /sites/$host; */
        loc->root_value = kp_arena_calloc(cf->arena, sizeof(*loc->root_value));
        return kp_http_cv_compile(cf, root, loc->root_value);
    }
    return 0;
}

/* Whether an alias ends in a dot segment, which would become one in every
 * path made from it. */
static bool ends_in_dots(const char *a)
{
    const char *last = strrchr(a, '/');

    last = last != NULL ? last + 1 : a;
    return strcmp(last, ".") == 0 || strcmp(last, "..") == 0;
}

/* alias PATH: the location's path is replaced by PATH as written (a
 * trailing '/' included), its variables evaluated per request. In a regex
 * location, as in nginx, PATH (with its captures and variables) is the
 * whole file name. */
static int set_alias(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    const char *a = cf->args[1];

    if (kp_conf_field_seen(cf, cmd))
        return kp_conf_error(cf, "\"alias\" directive is duplicate, \"root\" directive was "
                                 "specified earlier");
    if (a[0] == '\0' || ends_in_dots(a))
        return kp_conf_invalid(cf, a);
    loc->root = kp_conf_join(cf->arena, cf->prefix, a);
    loc->root_len = strlen(loc->root);
    loc->alias = true;
    loc->alias_skip = strlen(loc->path);
    loc->alias_value = NULL;
    loc->root_value = NULL;
    loc->root_prefix = NULL;
    if (loc->match == KP_LOC_REGEX || loc->match == KP_LOC_REGEX_ICASE) {
        loc->alias_value = kp_arena_calloc(cf->arena, sizeof(*loc->alias_value));
        return kp_http_cv_compile(cf, loc->root, loc->alias_value);
    }
    if (strchr(loc->root, '$') != NULL) { /* location /u/ { alias /home/$host/; } */
        loc->root_value = kp_arena_calloc(cf->arena, sizeof(*loc->root_value));
        return kp_http_cv_compile(cf, loc->root, loc->root_value);
    }
    return 0;
}

static int set_index(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;

    if (!kp_conf_field_seen(cf, cmd)) {
        loc->index = NULL; /* the first `index` of a block replaces the inherited list */
        loc->n_index = 0;
    }
    for (size_t i = 1; i < cf->nargs; i++) {
        if (cf->args[i][0] == '\0')
            return kp_conf_invalid(cf, cf->args[i]);
        /* An absolute name is an internal redirect, taken at once: only
         * the last one can be reached. */
        if (cf->args[i][0] == '/' && i + 1 < cf->nargs)
            return kp_conf_error(cf,
                                 "only the last index in \"index\" directive should be absolute");
        int rc =
            kp_http_cv_compile(cf, cf->args[i], KP_CONF_PUSH(cf->arena, loc->index, loc->n_index));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* disable_symlinks on|off (see http/docroot.h; unset: links stay beneath
 * the root). */
static int set_symlinks(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    bool on;

    (void)cmd;
    if (kp_conf_parse_flag(cf->args[1], &on) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    loc->symlinks = on ? KP_SYMLINKS_NONE : KP_SYMLINKS_FOLLOW;
    return 0;
}

/* try_files FILE... URI | =CODE */
static int try_files(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    const char *last = cf->args[cf->nargs - 1];
    uint64_t code;

    (void)cmd;
    for (size_t i = 1; i < cf->nargs; i++) {
        if (cf->args[i][0] == '\0')
            return kp_conf_invalid(cf, cf->args[i]);
    }
    if (last[0] == '=' ? kp_conf_parse_num(last + 1, 999, &code) != 0 || code < 100
                       : last[0] != '/' && last[0] != '$' && (last[0] != '@' || last[1] == '\0'))
        return kp_conf_invalid(cf, last);
    for (size_t i = 1; i < cf->nargs; i++) {
        int rc = kp_http_cv_compile(cf, cf->args[i],
                                    KP_CONF_PUSH(cf->arena, loc->try_files, loc->n_try_files));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* return CODE [TEXT|URL] | return URL (302): an op of the rewrite module
 * (http/rewrite.h), run in order with rewrite, set and if. */
static int set_return(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    const char *a = cf->args[1];
    uint64_t code;

    (void)cmd;
    if (kp_conf_parse_num(a, 999, &code) == 0 && code >= 100)
        return kp_http_rewrite_conf_return(cf, conf, (int)code,
                                           cf->nargs == 3 ? cf->args[2] : NULL);
    if (cf->nargs == 2 && (strncmp(a, "http://", 7) == 0 || strncmp(a, "https://", 8) == 0 ||
                           strncmp(a, "$scheme", 7) == 0))
        return kp_http_rewrite_conf_return(cf, conf, 302, a);
    return kp_conf_error(cf, "invalid return code \"%s\"", a);
}

/* keepalive_disable none | msie6 | safari ... */
static int keepalive_disable(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    unsigned *v = &((struct kp_http_loc_conf *)conf)->keepalive_disable;

    (void)cmd;
    *v = 0;
    for (size_t i = 1; i < cf->nargs; i++) {
        if (strcmp(cf->args[i], "msie6") == 0)
            *v |= KP_KEEPALIVE_DISABLE_MSIE6;
        else if (strcmp(cf->args[i], "safari") == 0)
            *v |= KP_KEEPALIVE_DISABLE_SAFARI;
        else if (strcmp(cf->args[i], "none") != 0)
            return kp_conf_invalid(cf, cf->args[i]);
    }
    return 0;
}

/* error_page CODE... [=CODE] URI */
static int error_page(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    size_t last = cf->nargs - 1, n_codes = last - 1;
    const char *eq = cf->args[last - 1];
    uint64_t response = 0, code;
    int answer = 0;

    if (eq[0] == '=') {
        if (eq[1] == '\0')
            answer = KP_HTTP_EP_ANSWER;
        else if (kp_conf_parse_num(eq + 1, 999, &response) != 0 || response < 100)
            return kp_conf_invalid(cf, eq);
        if (--n_codes == 0)
            return kp_conf_error(cf, "invalid number of arguments in \"error_page\" directive");
    }
    if (!kp_conf_field_seen(cf, cmd)) {
        loc->error_pages = NULL;
        loc->n_error_pages = 0;
    }
    char *uri = kp_conf_strdup(cf->arena, cf->args[last]);
    struct kp_http_cv *value = NULL;
    if (strchr(uri, '$') != NULL) {
        value = kp_arena_calloc(cf->arena, sizeof(*value));
        int rc = kp_http_cv_compile(cf, uri, value);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 1; i <= n_codes; i++) {
        if (kp_conf_parse_num(cf->args[i], 999, &code) != 0)
            return kp_conf_invalid(cf, cf->args[i]);
        if (code < 300 || code > 599)
            return kp_conf_error(cf, "value \"%s\" must be between 300 and 599", cf->args[i]);
        *KP_CONF_PUSH(cf->arena, loc->error_pages, loc->n_error_pages) =
            (struct kp_http_error_page){(int)code, uri, value,
                                        answer != 0 ? answer : (int)response};
    }
    return 0;
}

/* server_tokens on|off|build (KP_HTTP_TOKENS_*): build adds the name given
 * to ./configure --build, and is on without one (as in nginx). */
static int server_tokens(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    const char *v = cf->args[1];
    unsigned *t = &((struct kp_http_loc_conf *)conf)->server_tokens;

    (void)cmd;
    if (strcasecmp(v, "on") == 0)
        *t = KP_HTTP_TOKENS_ON;
    else if (strcasecmp(v, "off") == 0)
        *t = KP_HTTP_TOKENS_OFF;
    else if (strcmp(v, "build") == 0)
        *t = KP_HTTP_TOKENS_BUILD;
    else
        return kp_conf_invalid(cf, v);
    return 0;
}

/* keepalive_timeout TIME [HEADER_TIME]: the second value is announced to
 * the client as "Keep-Alive: timeout=N" (whole seconds). */
static int keepalive_timeout(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    uint64_t ms;

    (void)cmd;
    if (kp_conf_parse_msec(cf->args[1], &ms) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    loc->keepalive_timeout_ms = ms;
    loc->keepalive_header_s = 0;
    if (cf->nargs == 3) {
        if (kp_conf_parse_msec(cf->args[2], &ms) != 0)
            return kp_conf_invalid(cf, cf->args[2]);
        loc->keepalive_header_s = ms / 1000;
    }
    return 0;
}

/* A directive taking one of n keywords: the index of cf->args[1] in names
 * into *out, or the [emerg]. */
static int keyword(struct kp_conf *cf, const char *const *names, unsigned n, unsigned *out)
{
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(cf->args[1], names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return kp_conf_invalid(cf, cf->args[1]);
}

/* if_modified_since off|exact|before (http/cond.h). */
static int if_modified_since(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {"off", "exact", "before"};

    (void)cmd;
    return keyword(cf, names, 3, &((struct kp_http_loc_conf *)conf)->if_modified_since);
}

/* lingering_close off|on|always (KP_LINGER_*, in that order). */
static int lingering_close(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {"off", "on", "always"};

    (void)cmd;
    return keyword(cf, names, 3, &((struct kp_http_loc_conf *)conf)->lingering_close);
}

/* internal: not inherited (nginx keeps it per location). */
static int set_internal(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cf;
    (void)cmd;
    ((struct kp_http_loc_conf *)conf)->internal = true;
    return 0;
}

/* status; | stub_status [on]; (nginx's old spelling had the "on", which it
 * still accepts and ignores; so does kelpie, any other word is refused) */
static int set_status(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    bool stub = strcmp(cmd->name, "stub_status") == 0;

    if (cf->nargs > 1 && strcmp(cf->args[1], "on") != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    ((struct kp_http_loc_conf *)conf)->status = stub ? KP_HTTP_STATUS_STUB : KP_HTTP_STATUS_PAGE;
    return 0;
}

/* allow|deny ADDR[/BITS] | unix: | all; rules are checked in order. */
static int acl_rule(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    struct kp_http_acl_rule r = {.allow = strcmp(cmd->name, "allow") == 0, .family = AF_UNSPEC};

    if (strcmp(cf->args[1], "unix:") == 0)
        r.family = AF_UNIX;
    else if (strcmp(cf->args[1], "all") != 0 &&
             kp_conf_parse_cidr(cf->args[1], &r.family, r.addr, r.mask) != 0)
        return kp_conf_invalid(cf, cf->args[1]);
    if (!kp_conf_field_seen(cf, cmd)) {
        loc->acl = NULL;
        loc->n_acl = 0;
    }
    *KP_CONF_PUSH(cf->arena, loc->acl, loc->n_acl) = r;
    return 0;
}

/* --- blocks ------------------------------------------------------------------------------ */

/* location [MOD] PATH { }: in a server, or nested in a location (conf is
 * the enclosing block's node either way). */
static int location_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct loc_node *parent = conf;
    struct loc_node *l = kp_arena_calloc(cf->arena, sizeof(*l));

    (void)cmd;
    int rc = kp_http_location_parse(cf, &l->conf);
    if (rc == 0 && cf->frame->ctx == KP_CONF_LOC)
        rc = kp_http_location_nest(cf, &parent->conf, &l->conf);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < parent->n_locs; i++) {
        if (kp_http_location_same(&parent->locs[i]->conf, &l->conf))
            return kp_conf_error(cf, "duplicate location \"%s\"", l->conf.path);
    }
    *KP_CONF_PUSH(cf->arena, parent->locs, parent->n_locs) = l;
    struct kp_conf_frame frame = {
        KP_CONF_LOC, {state(cf), cf->frame->conf[KP_CONF_SLOT_SRV], l}, &l->seen, NULL};
    return kp_conf_parse_block(cf, &frame);
}

/* if (COND) { }: a block whose settings inherit the enclosing one's and
 * whose rewrite directives run when COND holds (http/rewrite.h). */
static int if_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct loc_node *parent = conf;
    struct loc_node *b = kp_arena_calloc(cf->arena, sizeof(*b));
    bool in_loc = cf->frame->ctx == KP_CONF_LOC;

    (void)cmd;
    b->conf.path = parent->conf.path;
    b->conf.path_len = parent->conf.path_len;
    b->conf.match = parent->conf.match;
    b->conf.regex = parent->conf.regex;
    int rc = kp_http_rewrite_conf_if(cf, &parent->conf, &b->conf);
    if (rc != 0)
        return rc;
    *KP_CONF_PUSH(cf->arena, parent->ifs, parent->n_ifs) = b;
    struct kp_conf_frame frame = {in_loc ? KP_CONF_LIF : KP_CONF_SIF,
                                  {state(cf), cf->frame->conf[KP_CONF_SLOT_SRV], b},
                                  &b->seen,
                                  NULL};
    return kp_conf_parse_block(cf, &frame);
}

/* limit_except METHOD... { }: allow, deny and auth_basic for the methods
 * it does not list; its block inherits the location's settings. */
static int limit_except_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct loc_node *loc = conf;
    struct loc_node *b = kp_arena_calloc(cf->arena, sizeof(*b));

    (void)cmd;
    int rc = kp_http_auth_conf_methods(cf, &loc->conf.auth.except_methods);
    if (rc != 0)
        return rc;
    b->conf.path = loc->conf.path;
    b->conf.path_len = loc->conf.path_len;
    loc->except = b;
    struct kp_conf_frame frame = {
        KP_CONF_LMT, {state(cf), cf->frame->conf[KP_CONF_SLOT_SRV], b}, &b->seen, NULL};
    return kp_conf_parse_block(cf, &frame);
}

/* Tables whose location-slot fields are inherited: the core's, then the
 * modules' that keep settings in struct kp_http_loc_conf. */
static const struct kp_conf_cmd *const loc_tables[] = {
    kp_http_conf_block_cmds,  kp_http_gzip_conf_cmds,  kp_http_autoindex_conf_cmds,
    kp_http_auth_conf_cmds,   kp_http_limit_conf_cmds, kp_http_realip_conf_cmds,
    kp_http_referer_conf_cmds};

static void merge_loc(const struct kp_conf_seen *seen, struct kp_http_loc_conf *child,
                      const struct kp_http_loc_conf *parent)
{
    for (size_t i = 0; i < sizeof(loc_tables) / sizeof(loc_tables[0]); i++)
        kp_conf_merge(loc_tables[i], KP_CONF_SLOT_LOC, seen, child, parent);
}

/* Merge node's limit_except block with node (already merged). */
static void merge_except(struct loc_node *node)
{
    if (node->except == NULL)
        return;
    merge_loc(&node->except->seen, &node->except->conf, &node->conf);
    node->conf.auth.except = &node->except->conf;
}

/* Merge node's if blocks with node (already merged), for the access log
 * too (conf.ifs). */
static void merge_ifs(struct kp_arena *a, struct loc_node *node)
{
    node->conf.ifs = kp_arena_alloc(a, (node->n_ifs > 0 ? node->n_ifs : 1) * sizeof(void *));
    for (size_t i = 0; i < node->n_ifs; i++) {
        struct loc_node *b = node->ifs[i];
        merge_loc(&b->seen, &b->conf, &node->conf);
        node->conf.ifs[i] = &b->conf;
    }
    node->conf.n_ifs = node->n_ifs;
}

static int server_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct http_state *h = conf;
    struct srv_node *s = kp_arena_calloc(cf->arena, sizeof(*s));

    (void)cmd;
    s->loc.conf.path = kp_conf_strdup(cf->arena, "");
    *KP_CONF_PUSH(cf->arena, h->servers, h->n_servers) = s;
    struct kp_conf_frame frame = {KP_CONF_SRV, {h, s, &s->loc}, &s->loc.seen, NULL};
    return kp_conf_parse_block(cf, &frame);
}

/* The http-level defaults (nginx's, except where conf.h says otherwise). */
static void set_defaults(struct kp_conf *cf, struct srv_node *top)
{
    struct kp_arena *a = cf->arena;
    struct kp_http_conf *http = kp_http_conf_of(cf);
    struct kp_http_loc_conf *loc = &top->loc.conf;

    top->conf.client_header_timeout_ms = 60000;
    top->conf.client_header_buffer_size = 1024;
    top->conf.large_client_header_buffers_num = 4;
    top->conf.large_client_header_buffers_size = 8192;
    top->conf.merge_slashes = true;
    top->conf.ignore_invalid_headers = true;
    kp_http_ssl_conf_defaults(a, &top->conf.ssl);
    loc->uninitialized_variable_warn = true;
    loc->path = kp_conf_strdup(a, "");
    loc->root = kp_conf_join(a, cf->prefix, "html");
    loc->root_len = strlen(loc->root);
    struct kp_http_cv *index = KP_CONF_PUSH(a, loc->index, loc->n_index);
    index->text = kp_conf_strdup(a, "index.html");
    index->parts = kp_arena_calloc(a, sizeof(*index->parts));
    index->parts[0].lit = kp_str_from(index->text);
    index->n_parts = 1;
    loc->tcp_nodelay = true;
    loc->server_tokens = KP_HTTP_TOKENS_ON;
    loc->keepalive_timeout_ms = 75000;
    loc->etag = true;
    loc->absolute_redirect = true;
    loc->port_in_redirect = true;
    loc->msie_padding = true;
    loc->log_not_found = true;
    loc->if_modified_since = KP_HTTP_IMS_EXACT;
    loc->lingering_close = KP_LINGER_ON;
    loc->lingering_time_ms = 30000;
    loc->lingering_timeout_ms = 5000;
    loc->max_ranges = UINT_MAX;
    kp_http_charset_defaults(a, &loc->charset_types, &loc->n_charset_types);
    loc->keepalive_requests = 1000;
    loc->keepalive_time_ms = 3600 * 1000;
    loc->keepalive_disable = KP_KEEPALIVE_DISABLE_MSIE6;
    loc->send_timeout_ms = 60000;
    loc->client_max_body_size = 1u << 20;
    loc->client_body_timeout_ms = 60000;
    loc->sendfile_max_chunk = 2u << 20;
    loc->types = &http->types;
    loc->default_type = kp_conf_strdup(a, "text/plain");
    kp_http_gzip_conf_defaults(&loc->gzip);
    kp_http_autoindex_conf_defaults(&loc->autoindex);
    kp_http_limit_conf_defaults(&loc->limit);
    *KP_CONF_PUSH(a, loc->access_logs, loc->n_access_logs) = (struct kp_http_access_log){
        kp_conf_join(a, cf->prefix, KP_HTTP_LOG_PATH), &http->log_formats[0], 0, 0, NULL, NULL, 0};
}

/* Like nginx: port 80 as root, 8000 otherwise (binding 80 would fail). */
static void default_listen(struct kp_arena *a, struct kp_http_srv_conf *srv)
{
    struct kp_http_listen *l = KP_CONF_PUSH(a, srv->listens, srv->n_listens);

    kp_conf_parse_addr(geteuid() == 0 ? "80" : "8000", 80, &l->sock.addr, &l->sock.addrlen);
    kp_conf_addr_text(&l->sock.addr, l->sock.text, sizeof(l->sock.text));
    l->sock.backlog = KP_HTTP_BACKLOG;
}

/* Merge node's nested locations with node (already merged), depth first,
 * order each level for the search, and list them all in srv->all. */
static void merge_nested(struct kp_arena *a, struct kp_http_srv_conf *srv, struct loc_node *node)
{
    struct kp_http_loc_conf *p = &node->conf;

    p->locations = kp_arena_alloc(a, (node->n_locs + 1) * sizeof(*p->locations));
    for (size_t i = 0; i < node->n_locs; i++) {
        struct kp_http_loc_conf *l = &node->locs[i]->conf;
        merge_loc(&node->locs[i]->seen, l, p);
        merge_ifs(a, node->locs[i]);
        merge_except(node->locs[i]);
        *KP_CONF_PUSH(a, srv->all, srv->n_all) = l;
        if (l->match == KP_LOC_NAMED)
            srv->named[srv->n_named++] = l;
        else
            p->locations[p->n_locations++] = l;
        merge_nested(a, srv, node->locs[i]);
    }
    p->first_regex = kp_http_location_order(p->locations, p->n_locations);
}

static void merge_server(struct kp_arena *a, const struct srv_node *top, struct srv_node *s)
{
    const struct kp_conf_cmd *t = kp_http_conf_block_cmds;
    struct kp_http_srv_conf *srv = &s->conf;

    kp_conf_merge(t, KP_CONF_SLOT_SRV, &s->loc.seen, srv, &top->conf);
    kp_conf_merge(kp_http_ssl_conf_cmds, KP_CONF_SLOT_SRV, &s->loc.seen, srv, &top->conf);
    merge_loc(&s->loc.seen, &s->loc.conf, &top->loc.conf);
    merge_ifs(a, &s->loc);
    if (srv->n_listens == 0)
        default_listen(a, srv);
    srv->loc = &s->loc.conf;
    /* named ones are on the server level only */
    srv->named = kp_arena_alloc(a, (s->loc.n_locs + 1) * sizeof(*srv->named));
    merge_nested(a, srv, &s->loc);
    srv->locations = srv->loc->locations;
    srv->n_locations = srv->loc->n_locations;
    srv->first_regex = srv->loc->first_regex;
}

static int http_block(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_conf *http = kp_http_conf_of(cf);
    struct http_state *h = kp_arena_calloc(cf->arena, sizeof(*h));
    struct kp_conf_frame frame = {KP_CONF_HTTP, {h, &h->top, &h->top.loc}, &h->top.loc.seen, NULL};

    (void)cmd;
    (void)conf;
    http->log_formats =
        kp_arena_calloc(cf->arena, KP_HTTP_MAX_LOG_FORMATS * sizeof(*http->log_formats));
    int rc = add_log_format(cf, "combined", KP_HTTP_LOG_ESCAPE_DEFAULT, KP_STR(combined_format));
    if (rc != 0)
        return rc;
    set_defaults(cf, &h->top);
    /* kelpie keeps files open by default (nginx does not): see filecache.h. */
    http->open_file_cache_max = 64;
    http->open_file_cache_inactive_ms = 60000;
    http->open_file_cache_valid_ms = 1000;
    rc = kp_conf_parse_block(cf, &frame);
    if (rc == 0)
        rc = kp_http_var_check(cf);
    if (rc == 0)
        rc = kp_http_limit_conf_finish(cf);
    if (rc != 0)
        return rc;
    if (h->top.loc.own_types == NULL)
        builtin_types(cf->arena, &http->types);
    http->servers = kp_arena_alloc(cf->arena, h->n_servers * sizeof(*http->servers));
    for (size_t i = 0; i < h->n_servers; i++) {
        merge_server(cf->arena, &h->top, h->servers[i]);
        http->servers[i] = &h->servers[i]->conf;
        rc = kp_http_ssl_build(cf, http->servers[i]);
        if (rc != 0)
            return rc;
    }
    http->n_servers = h->n_servers;
    return 0;
}

/* The single source of truth for http directives: where each may appear,
 * its arguments, its handler, and the field inherited downwards. */
const struct kp_conf_cmd kp_http_conf_block_cmds[] = {
    {"http", KP_CONF_MAIN, KP_CONF_NOARGS, KP_CONF_BLOCK, http_block, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"server", KP_CONF_HTTP, KP_CONF_NOARGS, KP_CONF_BLOCK | KP_CONF_MULTI, server_block,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"location", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_RANGE(1, 2), KP_CONF_BLOCK | KP_CONF_MULTI,
     location_block, KP_CONF_SLOT_LOC, KP_CONF_NOFIELD},
    {"pcre_jit", KP_CONF_MAIN, KP_CONF_TAKE(1), 0, kp_http_regex_conf_jit, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"types", HTTP_ANY, KP_CONF_NOARGS, KP_CONF_BLOCK | KP_CONF_MULTI, types_block, LOC(types)},
    {"default_type", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_str, LOC(default_type)},
    {"log_format", KP_CONF_HTTP, KP_CONF_2MORE, KP_CONF_MULTI, log_format, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"open_file_cache", KP_CONF_HTTP, KP_CONF_RANGE(1, 2), 0, open_file_cache, KP_CONF_SLOT_MAIN,
     KP_CONF_NOFIELD},
    {"open_file_cache_valid", KP_CONF_HTTP, KP_CONF_TAKE(1), 0, open_file_cache_valid,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"access_log", HTTP_ANY_IF, KP_CONF_RANGE(1, 5), KP_CONF_MULTI, access_log,
     LOC_SPAN(access_logs, n_access_logs)},
    {"error_log", HTTP_ANY, KP_CONF_RANGE(1, 2), KP_CONF_MULTI, error_log, LOC(error_log)},
    {"sendfile", HTTP_ANY_IF, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(sendfile)},
    {"tcp_nodelay", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(tcp_nodelay)},
    {"tcp_nopush", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(tcp_nopush)},
    {"sendfile_max_chunk", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_size, LOC(sendfile_max_chunk)},
    {"aio", HTTP_ANY, KP_CONF_TAKE(1), 0, set_aio, LOC(aio_pool)},
    {"reset_timedout_connection", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     LOC(reset_timedout_connection)},
    {"server_tokens", HTTP_ANY, KP_CONF_TAKE(1), 0, server_tokens, LOC(server_tokens)},
    {"keepalive_timeout", HTTP_ANY, KP_CONF_RANGE(1, 2), 0, keepalive_timeout,
     LOC_SPAN(keepalive_timeout_ms, keepalive_header_s)},
    {"keepalive_requests", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_num, LOC(keepalive_requests)},
    {"keepalive_time", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_msec, LOC(keepalive_time_ms)},
    {"keepalive_disable", HTTP_ANY, KP_CONF_1MORE, 0, keepalive_disable, LOC(keepalive_disable)},
    {"recursive_error_pages", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     LOC(recursive_error_pages)},
    {"send_timeout", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_msec, LOC(send_timeout_ms)},
    {"client_max_body_size", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_size,
     LOC(client_max_body_size)},
    {"client_body_timeout", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     LOC(client_body_timeout_ms)},
    {"client_header_timeout", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     SRV(client_header_timeout_ms)},
    {"client_header_buffer_size", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_size,
     SRV(client_header_buffer_size)},
    {"large_client_header_buffers", HTTP_SRV, KP_CONF_TAKE(2), 0, large_buffers,
     SRV_SPAN(large_client_header_buffers_num, large_client_header_buffers_size)},
    {"merge_slashes", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag, SRV(merge_slashes)},
    {"underscores_in_headers", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     SRV(underscores_in_headers)},
    {"ignore_invalid_headers", HTTP_SRV, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     SRV(ignore_invalid_headers)},
    {"listen", KP_CONF_SRV, KP_CONF_1MORE, KP_CONF_MULTI, set_listen, KP_CONF_SLOT_SRV,
     KP_CONF_NOFIELD},
    {"server_name", KP_CONF_SRV, KP_CONF_1MORE, KP_CONF_MULTI, server_name, KP_CONF_SLOT_SRV,
     KP_CONF_NOFIELD},
    {"root", HTTP_ANY_IF, KP_CONF_TAKE(1), 0, set_root, LOC_SPAN(root, root_value)},
    {"alias", KP_CONF_LOC, KP_CONF_TAKE(1), 0, set_alias, LOC_SPAN(root, root_value)},
    {"disable_symlinks", HTTP_ANY, KP_CONF_TAKE(1), 0, set_symlinks, LOC(symlinks)},
    /* Not inherited, as in nginx: a location without try_files serves its
     * URI even when the server level has one. */
    {"try_files", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_2MORE, 0, try_files, KP_CONF_SLOT_LOC,
     KP_CONF_NOFIELD},
    {"index", HTTP_ANY, KP_CONF_1MORE, KP_CONF_MULTI, set_index, LOC_SPAN(index, n_index)},
    {"return", RW_CTX, KP_CONF_RANGE(1, 2), KP_CONF_MULTI, set_return, KP_CONF_SLOT_LOC,
     KP_CONF_NOFIELD},
    {"error_page", HTTP_ANY_IF, KP_CONF_2MORE, KP_CONF_MULTI, error_page,
     LOC_SPAN(error_pages, n_error_pages)},
    {"status", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_NOARGS, 0, set_status, LOC(status)},
    {"stub_status", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_RANGE(0, 1), 0, set_status, LOC(status)},
    {"internal", KP_CONF_LOC, KP_CONF_NOARGS, 0, set_internal, KP_CONF_SLOT_LOC, KP_CONF_NOFIELD},
    {"allow", HTTP_ANY | KP_CONF_LMT, KP_CONF_TAKE(1), KP_CONF_MULTI, acl_rule,
     LOC_SPAN(acl, n_acl)},
    {"deny", HTTP_ANY | KP_CONF_LMT, KP_CONF_TAKE(1), KP_CONF_MULTI, acl_rule,
     LOC_SPAN(acl, n_acl)},
    /* limit_except (http/auth.h): the location's own, not inherited. */
    {"limit_except", KP_CONF_LOC, KP_CONF_1MORE, KP_CONF_BLOCK, limit_except_block,
     KP_CONF_SLOT_LOC, KP_CONF_NOFIELD},
    {"add_header", HTTP_ANY_IF, KP_CONF_RANGE(2, 3), KP_CONF_MULTI, kp_http_headers_conf_add,
     LOC_SPAN(add_headers, add_headers_own_always)},
    {"expires", HTTP_ANY_IF, KP_CONF_RANGE(1, 2), 0, kp_http_headers_conf_expires,
     LOC_SPAN(expires, expires_cv)},
    /* The rewrite module (http/rewrite.h): directives run in order, not
     * inherited. */
    {"map", KP_CONF_HTTP, KP_CONF_TAKE(2), KP_CONF_BLOCK | KP_CONF_MULTI, kp_http_map_conf,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"split_clients", KP_CONF_HTTP, KP_CONF_TAKE(2), KP_CONF_BLOCK | KP_CONF_MULTI,
     kp_http_split_clients_conf, KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"geo", KP_CONF_HTTP, KP_CONF_RANGE(1, 2), KP_CONF_BLOCK | KP_CONF_MULTI, kp_http_geo_conf,
     KP_CONF_SLOT_MAIN, KP_CONF_NOFIELD},
    {"rewrite", RW_CTX, KP_CONF_RANGE(2, 3), KP_CONF_MULTI, kp_http_rewrite_conf_rewrite,
     KP_CONF_SLOT_LOC, KP_CONF_NOFIELD},
    {"set", RW_CTX, KP_CONF_TAKE(2), KP_CONF_MULTI, kp_http_rewrite_conf_set, KP_CONF_SLOT_LOC,
     KP_CONF_NOFIELD},
    {"break", RW_CTX, KP_CONF_NOARGS, KP_CONF_MULTI, kp_http_rewrite_conf_break, KP_CONF_SLOT_LOC,
     KP_CONF_NOFIELD},
    {"if", KP_CONF_SRV | KP_CONF_LOC, KP_CONF_1MORE, KP_CONF_BLOCK | KP_CONF_MULTI, if_block,
     KP_CONF_SLOT_LOC, KP_CONF_NOFIELD},
    {"rewrite_log", HTTP_ANY | KP_CONF_SIF | KP_CONF_LIF, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     LOC(rewrite_log)},
    {"uninitialized_variable_warn", HTTP_ANY | KP_CONF_SIF | KP_CONF_LIF, KP_CONF_TAKE(1), 0,
     kp_conf_set_flag, LOC(uninitialized_variable_warn)},
    {"absolute_redirect", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(absolute_redirect)},
    {"port_in_redirect", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(port_in_redirect)},
    {"msie_padding", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(msie_padding)},
    {"msie_refresh", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(msie_refresh)},
    {"server_name_in_redirect", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     LOC(server_name_in_redirect)},
    {"etag", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(etag)},
    {"log_not_found", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(log_not_found)},
    {"if_modified_since", HTTP_ANY, KP_CONF_TAKE(1), 0, if_modified_since, LOC(if_modified_since)},
    {"lingering_close", HTTP_ANY, KP_CONF_TAKE(1), 0, lingering_close, LOC(lingering_close)},
    {"lingering_time", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_msec, LOC(lingering_time_ms)},
    {"lingering_timeout", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_msec,
     LOC(lingering_timeout_ms)},
    {"max_ranges", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_num, LOC(max_ranges)},
    {"charset", HTTP_ANY | KP_CONF_LIF, KP_CONF_TAKE(1), 0, kp_http_charset_conf, LOC(charset)},
    {"charset_types", HTTP_ANY, KP_CONF_1MORE, 0, kp_http_charset_conf_types,
     LOC_SPAN(charset_types, n_charset_types)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};
