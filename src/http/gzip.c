/* gzip (see gzip.h): directives, the compress-or-not decision, and the
 * worker's cache of compressed file versions. */
#include "kelpie/http/gzip.h"

#include <errno.h>
#include <libdeflate.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/log.h"
#include "kelpie/http/coding.h"
#include "kelpie/http/regex.h"
#include "kelpie/http/req.h"
#include "kelpie/http/ua.h"

#define LOC(m)        KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, m)
#define GZ_SPAN(a, b) KP_CONF_SLOT_LOC, KP_CONF_SPAN(struct kp_http_loc_conf, gzip.a, gzip.b)
#define HTTP_ANY      (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)

/* One compressed file version. */
struct kp_http_gz_entry {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int level;
    unsigned refs; /* the cache's own (while in a slot) plus each response's */
    uint64_t used; /* the cache's tick at the last hit */
    size_t len;
    unsigned char data[];
};

/* --- directives ------------------------------------------------------------------- */

void kp_http_gzip_conf_defaults(struct kp_http_gzip_conf *gz)
{
    *gz = (struct kp_http_gzip_conf){.level = 1, .min_length = 20, .http_version = 11};
}

/* gzip_comp_level 1..9 */
static int comp_level(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_loc_conf *loc = conf;
    uint64_t n;

    (void)cmd;
    if (kp_conf_parse_num(cf->args[1], 9, &n) != 0 || n == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    loc->gzip.level = (int)n;
    return 0;
}

/* gzip_types TYPE... | *; text/html is always in. */
static int types(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_gzip_conf *gz = &((struct kp_http_loc_conf *)conf)->gzip;

    (void)cmd;
    gz->types = NULL;
    gz->n_types = 0;
    gz->any_type = false;
    for (size_t i = 1; i < cf->nargs; i++) {
        if (strcmp(cf->args[i], "*") == 0) {
            gz->any_type = true;
            continue;
        }
        char *t = kp_conf_strdup(cf->arena, cf->args[i]);
        for (char *p = t; *p != '\0'; p++)
            *p = kp_str_lower(*p);
        *KP_CONF_PUSH(cf->arena, gz->types, gz->n_types) = t;
    }
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} proxied_names[] = {
    {"expired", KP_GZIP_PROXIED_EXPIRED},
    {"no-cache", KP_GZIP_PROXIED_NO_CACHE},
    {"no-store", KP_GZIP_PROXIED_NO_STORE},
    {"private", KP_GZIP_PROXIED_PRIVATE},
    {"no_last_modified", KP_GZIP_PROXIED_NO_LAST_MODIFIED},
    {"no_etag", KP_GZIP_PROXIED_NO_ETAG},
    {"auth", KP_GZIP_PROXIED_AUTH},
    {"any", KP_GZIP_PROXIED_ANY},
};

/* gzip_proxied off | expired no-cache no-store private no_last_modified
 * no_etag auth any ... */
static int proxied(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_gzip_conf *gz = &((struct kp_http_loc_conf *)conf)->gzip;

    (void)cmd;
    gz->proxied = 0;
    for (size_t i = 1; i < cf->nargs; i++) {
        size_t k = 0, n = sizeof(proxied_names) / sizeof(proxied_names[0]);
        if (strcmp(cf->args[i], "off") == 0 && cf->nargs == 2)
            return 0;
        while (k < n && strcmp(cf->args[i], proxied_names[k].name) != 0)
            k++;
        if (k == n)
            return kp_conf_invalid(cf, cf->args[i]);
        gz->proxied |= proxied_names[k].bit;
    }
    return 0;
}

/* gzip_disable REGEX... | msie6 (repeatable; the first in a block replaces
 * the inherited list). */
static int disable(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_gzip_conf *gz = &((struct kp_http_loc_conf *)conf)->gzip;

    if (!kp_conf_field_seen(cf, cmd)) {
        gz->disable = NULL;
        gz->n_disable = 0;
        gz->disable_msie6 = false;
    }
    for (size_t i = 1; i < cf->nargs; i++) {
        if (strcmp(cf->args[i], "msie6") == 0) {
            gz->disable_msie6 = true;
            continue;
        }
        /* nginx matches these case-insensitively. */
        int rc = kp_http_regex_compile(cf, cf->args[i], true,
                                       KP_CONF_PUSH(cf->arena, gz->disable, gz->n_disable));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* gzip_http_version 1.0|1.1 */
static int http_version(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_gzip_conf *gz = &((struct kp_http_loc_conf *)conf)->gzip;

    (void)cmd;
    if (strcmp(cf->args[1], "1.0") == 0)
        gz->http_version = 10;
    else if (strcmp(cf->args[1], "1.1") == 0)
        gz->http_version = 11;
    else
        return kp_conf_invalid(cf, cf->args[1]);
    return 0;
}

/* gzip_buffers NUMBER SIZE: checked, then unused (compression is done on
 * whole files into memory sized for the result). */
static int buffers(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    uint64_t v;

    (void)cmd;
    (void)conf;
    if (kp_conf_parse_num(cf->args[1], 65536, &v) != 0 || v == 0)
        return kp_conf_invalid(cf, cf->args[1]);
    if (kp_conf_parse_size(cf->args[2], INT32_MAX, &v) != 0 || v == 0)
        return kp_conf_invalid(cf, cf->args[2]);
    return 0;
}

/* gzip_static on|off|always */
static int gzip_static(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_gzip_conf *gz = &((struct kp_http_loc_conf *)conf)->gzip;
    const char *a = cf->args[1];

    (void)cmd;
    if (strcmp(a, "on") == 0)
        gz->static_mode = KP_GZIP_STATIC_ON;
    else if (strcmp(a, "off") == 0)
        gz->static_mode = KP_GZIP_STATIC_OFF;
    else if (strcmp(a, "always") == 0)
        gz->static_mode = KP_GZIP_STATIC_ALWAYS;
    else
        return kp_conf_invalid(cf, a);
    return 0;
}

const struct kp_conf_cmd kp_http_gzip_conf_cmds[] = {
    {"gzip", HTTP_ANY | KP_CONF_LIF, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(gzip.on)},
    {"gzip_comp_level", HTTP_ANY, KP_CONF_TAKE(1), 0, comp_level, LOC(gzip.level)},
    {"gzip_min_length", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_size, LOC(gzip.min_length)},
    {"gzip_types", HTTP_ANY, KP_CONF_1MORE, 0, types, GZ_SPAN(types, any_type)},
    {"gzip_vary", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(gzip.vary)},
    {"gzip_proxied", HTTP_ANY, KP_CONF_1MORE, 0, proxied, LOC(gzip.proxied)},
    {"gzip_disable", HTTP_ANY, KP_CONF_1MORE, KP_CONF_MULTI, disable,
     GZ_SPAN(disable, disable_msie6)},
    {"gzip_http_version", HTTP_ANY, KP_CONF_TAKE(1), 0, http_version, LOC(gzip.http_version)},
    {"gzip_buffers", HTTP_ANY, KP_CONF_TAKE(2), 0, buffers, KP_CONF_SLOT_LOC, KP_CONF_NOFIELD},
    {"gzip_static", HTTP_ANY, KP_CONF_TAKE(1), 0, gzip_static, LOC(gzip.static_mode)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

/* --- the decision ------------------------------------------------------------------ */

static bool type_listed(const struct kp_http_gzip_conf *gz, struct kp_str type)
{
    const char *semi = memchr(type.p, ';', type.len);

    if (semi != NULL)
        type.len = (size_t)(semi - type.p);
    type = kp_str_trim_ows(type);
    if (gz->any_type || kp_str_caseeq_cstr(type, "text/html"))
        return true;
    for (size_t i = 0; i < gz->n_types; i++) {
        if (kp_str_caseeq_cstr(type, gz->types[i]))
            return true;
    }
    return false;
}

bool kp_http_gzip_wanted(const struct kp_http_request *r, struct kp_str type, uint64_t len)
{
    const struct kp_http_gzip_conf *gz = &r->loc->gzip;

    return gz->on && len >= gz->min_length && type_listed(gz, type);
}

static const struct kp_str *field(const struct kp_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nfields; i++) {
        if (kp_str_caseeq_cstr(h->fields[i].name, name))
            return &h->fields[i].value;
    }
    return NULL;
}

/* Whether s contains the token tok (case-insensitively). */
static bool contains(struct kp_str s, const char *tok)
{
    size_t n = strlen(tok);

    for (size_t i = 0; i + n <= s.len; i++) {
        if (kp_str_caseeq_cstr((struct kp_str){s.p + i, n}, tok))
            return true;
    }
    return false;
}

/* Whether a Cache-Control of add_header holds tok ("": any). */
static bool cache_control_has(const struct kp_http_loc_conf *loc, const char *tok)
{
    for (const char *p = loc->add_headers.p, *end = p + loc->add_headers.len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        struct kp_str line = {p, eol != NULL ? (size_t)(eol - p) : (size_t)(end - p)};
        if (kp_str_has_prefix(line, KP_STR("Cache-Control:")) && contains(line, tok))
            return true;
        p = line.p + line.len + 1;
    }
    return false;
}

/* Whether the Expires of r's response (`expires` is set) is already past.
 * An `expires $VAR` counts as not past: its value may depend on the
 * response's own fields, which are not settled yet. */
static bool expired(const struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = r->loc;
    time_t lm = r->resp.last_modified;

    switch (loc->expires) {
    case KP_EXPIRES_EPOCH:
        return true;
    case KP_EXPIRES_AFTER:
        return loc->expires_s < 0;
    case KP_EXPIRES_MODIFIED:
        return loc->expires_s < 0 || (lm != (time_t)-1 && lm + loc->expires_s < time(NULL));
    default:
        return false;
    }
}

/* gzip_proxied for a request with Via, decided as nginx decides it: `auth`
 * passes a request with Authorization; a response with Expires passes only
 * by `expired` with a date already past, one with Cache-Control only by the
 * no-cache, no-store or private it names; any other response passes,
 * unless no_etag is listed and it has an ETag (unless `etag off`). nginx's
 * no_last_modified looks for a Last-Modified set by another module, which
 * a static file's never is: it never refuses. */
static bool proxied_ok(const struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = r->loc;
    unsigned p = loc->gzip.proxied;

    if (p == 0) /* off */
        return false;
    if (p & KP_GZIP_PROXIED_ANY)
        return true;
    if ((p & KP_GZIP_PROXIED_AUTH) && field(&r->parser.head, "authorization") != NULL)
        return true;
    if (loc->expires != KP_EXPIRES_OFF)
        return (p & KP_GZIP_PROXIED_EXPIRED) && expired(r);
    if (cache_control_has(loc, ""))
        return ((p & KP_GZIP_PROXIED_NO_CACHE) && cache_control_has(loc, "no-cache")) ||
               ((p & KP_GZIP_PROXIED_NO_STORE) && cache_control_has(loc, "no-store")) ||
               ((p & KP_GZIP_PROXIED_PRIVATE) && cache_control_has(loc, "private"));
    return !((p & KP_GZIP_PROXIED_NO_ETAG) && loc->etag);
}

static bool ua_disabled(const struct kp_http_gzip_conf *gz, const struct kp_str *ua)
{
    if (ua == NULL)
        return false;
    if (gz->disable_msie6 && kp_http_ua_msie6(*ua))
        return true;
    for (size_t i = 0; i < gz->n_disable; i++) {
        if (kp_http_regex_exec(NULL, gz->disable[i], *ua) == 1)
            return true;
    }
    return false;
}

bool kp_http_gzip_client_ok(const struct kp_http_request *r)
{
    const struct kp_http_gzip_conf *gz = &r->loc->gzip;
    const struct kp_http_head *h = &r->parser.head;

    if (!kp_http_coding_accepts_gzip(h) || h->version < gz->http_version)
        return false;
    if (field(h, "via") != NULL && !proxied_ok(r))
        return false;
    return !ua_disabled(gz, kp_http_parse_value(h, KP_HTTP_HDR_USER_AGENT));
}

static void add_line(struct kp_http_request *r, struct kp_str line)
{
    struct kp_str *x = &r->resp.extra;
    char *p = kp_arena_alloc(&r->arena, x->len + line.len);

    if (x->len > 0)
        memcpy(p, x->p, x->len);
    memcpy(p + x->len, line.p, line.len);
    *x = (struct kp_str){p, x->len + line.len};
}

void kp_http_gzip_vary(struct kp_http_request *r)
{
    if (r->loc->gzip.vary)
        add_line(r, KP_STR("Vary: Accept-Encoding\r\n"));
}

void kp_http_gzip_encoded(struct kp_http_request *r)
{
    add_line(r, KP_STR("Content-Encoding: gzip\r\n"));
}

/* --- the cache --------------------------------------------------------------------- */

static void entry_release(void *data)
{
    struct kp_http_gz_entry *e = data;

    if (--e->refs == 0)
        kp_free(e);
}

static bool same_version(const struct kp_http_gz_entry *e, const struct stat *st, int level)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           e->level == level;
}

static void evict(struct kp_http_gzcache *c, size_t i)
{
    struct kp_http_gz_entry *e = c->slots[i];

    if (e == NULL)
        return;
    c->bytes -= e->len;
    c->slots[i] = NULL;
    entry_release(e);
}

/* Drop the least recently used entries until need more bytes fit. */
static void make_room(struct kp_http_gzcache *c, size_t need)
{
    while (c->bytes + need > KP_GZIP_CACHE_BYTES) {
        size_t oldest = KP_GZIP_CACHE_SLOTS;
        for (size_t i = 0; i < KP_GZIP_CACHE_SLOTS; i++) {
            if (c->slots[i] != NULL &&
                (oldest == KP_GZIP_CACHE_SLOTS || c->slots[i]->used < c->slots[oldest]->used))
                oldest = i;
        }
        if (oldest == KP_GZIP_CACHE_SLOTS)
            return;
        evict(c, oldest);
    }
}

static void *compressor(struct kp_http_gzcache *c, int level)
{
    if (c->compressor != NULL && c->level == level)
        return c->compressor;
    if (c->compressor != NULL)
        libdeflate_free_compressor(c->compressor);
    c->compressor = libdeflate_alloc_compressor(level);
    c->level = level;
    return c->compressor;
}

/* Read all size bytes of fd into buf; false on an error or a short file. */
static bool read_all(int fd, unsigned char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* A new entry with the gzip of fd's contents, or NULL (logged). */
static struct kp_http_gz_entry *compress_file(struct kp_http_gzcache *c, const struct kp_log *log,
                                              int fd, const struct stat *st, int level)
{
    size_t size = (size_t)st->st_size;
    unsigned char *in = kp_alloc(size);
    void *z = compressor(c, level);
    struct kp_http_gz_entry *e = NULL;

    if (!read_all(fd, in, size)) {
        kp_log_error(log, KP_LOG_ERR, errno, "gzip: reading a file of %zu bytes failed", size);
    } else if (z == NULL) {
        kp_log_error(log, KP_LOG_ALERT, ENOMEM, "gzip: no compressor for level %d", level);
    } else {
        size_t bound = libdeflate_gzip_compress_bound(z, size);
        e = kp_alloc(sizeof(*e) + bound);
        *e = (struct kp_http_gz_entry){st->st_dev, st->st_ino, st->st_size, st->st_mtim,
                                       level,      1,          0,           0};
        e->len = libdeflate_gzip_compress(z, in, size, e->data, bound);
        e = kp_realloc(e, sizeof(*e) + e->len);
    }
    kp_free(in);
    return e;
}

static size_t slot_of(const struct stat *st)
{
    uint64_t h = ((uint64_t)st->st_dev * 1099511628211u) ^ (uint64_t)st->st_ino;

    return (size_t)((h * 11400714819323198485u) >> 54) & (KP_GZIP_CACHE_SLOTS - 1);
}

/* The entry for this version of the file, found or made; NULL on failure. */
static struct kp_http_gz_entry *lookup(struct kp_http_gzcache *c, const struct kp_log *log, int fd,
                                       const struct stat *st, int level)
{
    if (c->slots == NULL)
        c->slots = kp_calloc(KP_GZIP_CACHE_SLOTS, sizeof(*c->slots));
    size_t i = slot_of(st);
    struct kp_http_gz_entry *e = c->slots[i];

    if (e == NULL || !same_version(e, st, level)) {
        e = compress_file(c, log, fd, st, level);
        if (e == NULL)
            return NULL;
        evict(c, i);
        make_room(c, e->len);
        c->slots[i] = e;
        c->bytes += e->len;
    }
    e->used = ++c->tick;
    return e;
}

int kp_http_gzip_body(struct kp_http_request *r, int fd, const struct stat *st)
{
    const struct kp_http_services *svc = r->svc;
    struct kp_http_response *resp = &r->resp;

    if ((uint64_t)st->st_size > KP_GZIP_MAX_FILE)
        return -EFBIG;
    struct kp_http_gz_entry *e = lookup(svc->gz, svc->log, fd, st, r->loc->gzip.level);
    if (e == NULL)
        return -EIO;
    e->refs++;
    kp_arena_cleanup_add(&r->arena, entry_release, e);
    resp->body = (struct kp_str){(const char *)e->data, e->len};
    resp->gzip_from = (uint64_t)st->st_size;
    resp->fd = -1;
    resp->file_len = 0;
    resp->accept_ranges = false;
    kp_http_gzip_encoded(r);
    return 0;
}

static bool gzip_status(int status)
{
    return status == 200 || status == 403 || status == 404;
}

void kp_http_gzip_memory(struct kp_http_request *r)
{
    struct kp_http_response *resp = &r->resp;
    struct kp_str body = resp->body;

    /* A body from the static path's cache is encoded (and varied) already. */
    if (r->svc == NULL || resp->fd >= 0 || body.p == NULL || !gzip_status(resp->status) ||
        contains(resp->extra, "Content-Encoding:") ||
        !kp_http_gzip_wanted(r, resp->content_type, body.len))
        return;
    kp_http_gzip_vary(r);
    if (body.len > KP_GZIP_MAX_FILE || !kp_http_gzip_client_ok(r))
        return;
    void *z = compressor(r->svc->gz, r->loc->gzip.level);
    if (z == NULL)
        return;
    size_t bound = libdeflate_gzip_compress_bound(z, body.len);
    char *out = kp_arena_alloc(&r->arena, bound);
    size_t n = libdeflate_gzip_compress(z, body.p, body.len, out, bound);
    if (n == 0)
        return;
    resp->gzip_from = body.len;
    resp->body = (struct kp_str){out, n};
    kp_http_gzip_encoded(r);
}

const char *kp_http_gzip_library(void)
{
    return "libdeflate " LIBDEFLATE_VERSION_STRING;
}

void kp_http_gzcache_free(struct kp_http_gzcache *c)
{
    for (size_t i = 0; c->slots != NULL && i < KP_GZIP_CACHE_SLOTS; i++)
        evict(c, i);
    kp_free(c->slots);
    if (c->compressor != NULL)
        libdeflate_free_compressor(c->compressor);
    *c = (struct kp_http_gzcache){0};
}
