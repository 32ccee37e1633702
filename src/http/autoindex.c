/* autoindex (see autoindex.h): the directives and the listing of one
 * directory in nginx's four formats. */
#include "kelpie/http/autoindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/log.h"
#include "kelpie/util/time.h"
#include "kelpie/http/charset.h"
#include "kelpie/http/dirlist.h"
#include "kelpie/http/docroot.h"
#include "kelpie/http/req.h"

#define LOC(m)       KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, m)
#define HTTP_ANY     (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC)
#define CALLBACK_MAX 128 /* longest jsonp callback name, as nginx */
#define FLUSH_AT     (64 * 1024)

/* --- directives ------------------------------------------------------------------- */

void kp_http_autoindex_conf_defaults(struct kp_http_autoindex_conf *ai)
{
    *ai = (struct kp_http_autoindex_conf){.format = KP_AUTOINDEX_HTML, .exact_size = true};
}

static int set_format(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    static const char *const names[] = {"html", "xml", "json", "jsonp"};
    struct kp_http_loc_conf *loc = conf;

    (void)cmd;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(cf->args[1], names[i]) == 0) {
            loc->autoindex.format = i;
            return 0;
        }
    }
    return kp_conf_invalid(cf, cf->args[1]);
}

const struct kp_conf_cmd kp_http_autoindex_conf_cmds[] = {
    {"autoindex", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag, LOC(autoindex.on)},
    {"autoindex_format", HTTP_ANY, KP_CONF_TAKE(1), 0, set_format, LOC(autoindex.format)},
    {"autoindex_exact_size", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     LOC(autoindex.exact_size)},
    {"autoindex_localtime", HTTP_ANY, KP_CONF_TAKE(1), 0, kp_conf_set_flag,
     LOC(autoindex.localtime)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

/* --- writing ---------------------------------------------------------------------- */

/* The output: grows with realloc, freed with the request's arena; for a
 * spilled listing (http/dirlist.h) written on to a temporary file in
 * pieces of about FLUSH_AT bytes, so a listing of any size costs bounded
 * memory. */
struct out {
    char *p;
    size_t len, cap;
    int fd;        /* -1: the whole body stays in memory */
    off_t start;   /* where the body begins in fd */
    off_t flushed; /* bytes of the body written to fd */
    int err;       /* the first write error, -errno */
};

static const struct kp_log *req_log(const struct kp_http_request *r)
{
    return r->svc != NULL ? r->svc->log : NULL;
}

static void flush(struct out *o)
{
    const char *p = o->p;
    size_t n = o->len;

    while (n > 0 && o->err == 0) {
        ssize_t w = pwrite(o->fd, p, n, o->start + o->flushed);
        if (w < 0 && errno != EINTR)
            o->err = -errno;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            o->flushed += w;
        }
    }
    o->len = 0;
}

/* After each entry: hand a full buffer to the file. */
static void entry_done(struct out *o)
{
    if (o->fd >= 0 && o->len >= FLUSH_AT)
        flush(o);
}

static char *reserve(struct out *o, size_t more)
{
    if (o->len + more > o->cap) {
        size_t cap = o->cap == 0 ? 4096 : o->cap;
        while (cap < o->len + more)
            cap *= 2;
        o->p = kp_realloc(o->p, cap);
        o->cap = cap;
    }
    return o->p + o->len;
}

static void put(struct out *o, const char *s, size_t n)
{
    memcpy(reserve(o, n), s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void printf_(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char *p = reserve(o, 128);

    va_start(ap, fmt);
    int n = vsnprintf(p, 128, fmt, ap);
    va_end(ap);
    o->len += n > 0 && n < 128 ? (size_t)n : 0;
}

/* Text for HTML element content and attribute values, and for XML. */
static void put_markup(struct out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<':
            puts_(o, "&lt;");
            break;
        case '>':
            puts_(o, "&gt;");
            break;
        case '&':
            puts_(o, "&amp;");
            break;
        case '"':
            puts_(o, "&quot;");
            break;
        default:
            put(o, s + i, 1);
        }
    }
}

/* A name as a relative URI reference: every byte but unreserved ones
 * (RFC 3986 section 2.3) percent-encoded, so it is also safe inside an
 * HTML attribute and never read as a scheme (a name with ':'). */
static void put_uri(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            put(o, s + i, 1);
            continue;
        }
        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
        put(o, e, 3);
    }
}

/* A JSON string's content (RFC 8259 section 7). */
static void put_json(struct out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(o, e, 2);
        } else if (c < 0x20) {
            printf_(o, "\\u%04x", c);
        } else {
            put(o, s + i, 1);
        }
    }
}

/* Bytes of s's first `chars` UTF-8 characters (continuation bytes do not
 * count), and in *total the number of characters in s. */
static size_t utf8_prefix(const char *s, size_t n, size_t chars, size_t *total)
{
    size_t count = 0, cut = n;

    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xc0) == 0x80)
            continue;
        if (count == chars)
            cut = i;
        count++;
    }
    *total = count;
    return count > chars ? cut : n;
}

static struct tm when(const struct kp_http_request *r, time_t t)
{
    struct tm tm;

    if (r->loc->autoindex.localtime)
        localtime_r(&t, &tm);
    else
        gmtime_r(&t, &tm);
    return tm;
}

/* nginx's short sizes: up to 9999 bytes as they are, then K, M, G,
 * rounded to the nearest. */
static void put_short_size(struct out *o, off_t size)
{
    static const struct {
        off_t unit;
        char scale;
    } steps[] = {{1 << 30, 'G'}, {1 << 20, 'M'}, {1 << 10, 'K'}};

    for (size_t i = 0; i < 3; i++) {
        if (size >= (i == 2 ? 10000 : steps[i].unit)) {
            off_t v = size / steps[i].unit + (size % steps[i].unit >= steps[i].unit / 2);
            printf_(o, "%6jd%c", (intmax_t)v, steps[i].scale);
            return;
        }
    }
    printf_(o, "%7jd", (intmax_t)size);
}

static void html_entry(struct kp_http_request *r, struct out *o, const struct kp_http_dirent *e,
                       bool utf8)
{
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const size_t width = KP_AUTOINDEX_NAME_WIDTH;
    size_t chars = e->len;

    /* Names are measured in characters when the page goes out as UTF-8,
     * else in bytes, as nginx measures them. */
    if (utf8)
        utf8_prefix(e->name, e->len, width, &chars);
    puts_(o, "<a href=\"");
    put_uri(o, e->name, e->len);
    puts_(o, e->dir ? "/\">" : "\">");
    if (chars > width) {
        /* Too long: as many characters as leave room for "..>". */
        size_t keep = utf8 ? utf8_prefix(e->name, e->len, width - 3, &chars) : width - 3;
        put_markup(o, e->name, keep);
        puts_(o, "..&gt;</a>");
        chars = width;
    } else {
        /* A directory's '/' only where it fits, as nginx. */
        bool slash = e->dir && chars < width;
        put_markup(o, e->name, e->len);
        chars += slash;
        puts_(o, slash ? "/</a>" : "</a>");
    }
    for (size_t i = chars; i < width + 1; i++)
        put(o, " ", 1);
    struct tm tm = when(r, e->mtime);
    printf_(o, "%02d-%s-%d %02d:%02d ", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
            tm.tm_hour, tm.tm_min);
    if (r->loc->autoindex.exact_size && e->dir)
        printf_(o, "%19s", "-");
    else if (r->loc->autoindex.exact_size)
        printf_(o, "%19jd", (intmax_t)e->size);
    else if (e->dir)
        printf_(o, "%7s", "-");
    else
        put_short_size(o, e->size);
    puts_(o, "\r\n");
}

static void html(struct kp_http_request *r, struct out *o, struct kp_http_dirlist *dl)
{
    const struct kp_http_dirent *e;
    bool utf8 = kp_http_charset_is_utf8(r->loc, KP_STR("text/html"));

    puts_(o, "<html>\r\n<head><title>Index of ");
    put_markup(o, r->uri.p, r->uri.len);
    puts_(o, "</title></head>\r\n<body>\r\n<h1>Index of ");
    put_markup(o, r->uri.p, r->uri.len);
    puts_(o, "</h1><hr><pre><a href=\"../\">../</a>\r\n");
    while ((e = kp_http_dirlist_next(dl, &o->err)) != NULL) {
        html_entry(r, o, e, utf8);
        entry_done(o);
    }
    puts_(o, "</pre><hr></body>\r\n</html>\r\n");
}

static const char *kind_of(const struct kp_http_dirent *e)
{
    return e->dir ? "directory" : e->reg ? "file" : "other";
}

static void xml(struct out *o, struct kp_http_dirlist *dl)
{
    const struct kp_http_dirent *e;

    puts_(o, "<?xml version=\"1.0\"?>\r\n<list>\r\n");
    while ((e = kp_http_dirlist_next(dl, &o->err)) != NULL) {
        struct tm tm;
        gmtime_r(&e->mtime, &tm);
        printf_(o, "<%s mtime=\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", kind_of(e), tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (e->reg)
            printf_(o, " size=\"%jd\"", (intmax_t)e->size);
        puts_(o, ">");
        put_markup(o, e->name, e->len);
        printf_(o, "</%s>\r\n", kind_of(e));
        entry_done(o);
    }
    puts_(o, "</list>\r\n");
}

static void json(struct out *o, struct kp_http_dirlist *dl)
{
    const struct kp_http_dirent *e;
    size_t left = kp_http_dirlist_count(dl);
    char date[32];

    puts_(o, "[\r\n");
    while ((e = kp_http_dirlist_next(dl, &o->err)) != NULL) {
        puts_(o, "{ \"name\":\"");
        put_json(o, e->name, e->len);
        date[kp_time_http_date(e->mtime, date)] = '\0';
        printf_(o, "\", \"type\":\"%s\", \"mtime\":\"%s\"", kind_of(e), date);
        if (e->reg)
            printf_(o, ", \"size\":%jd", (intmax_t)e->size);
        puts_(o, --left > 0 ? " },\r\n" : " }\r\n");
        entry_done(o);
    }
    puts_(o, "]"); /* no line end after it, as from nginx */
}

/* The `callback` query argument for jsonp: empty when absent; -1 when it
 * is too long or holds anything but letters, digits, '_' and '.'. */
static int jsonp_callback(const struct kp_http_request *r, struct kp_str *cb)
{
    const char *p = r->args.p, *end = r->args.p + r->args.len;

    *cb = KP_STR_NULL;
    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) >= 9 && memcmp(p, "callback=", 9) == 0) {
            *cb = (struct kp_str){p + 9, (size_t)(stop - p - 9)};
            break;
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    if (cb->len > CALLBACK_MAX)
        return -1;
    for (size_t i = 0; i < cb->len; i++) {
        char c = cb->p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.'))
            return -1;
    }
    return 0;
}

static int open_error(const struct kp_http_request *r, const char *path, int rc)
{
    if (rc == -ENOENT || rc == -ENOTDIR)
        return 404;
    if (rc == -EACCES || rc == -EPERM || rc == -EXDEV || rc == -ELOOP) {
        kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_ERR, -rc,
                         "opendir() \"%s\" failed", path);
        return 403;
    }
    kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_CRIT, -rc,
                     "opendir() \"%s\" failed", path);
    return 500;
}

static void render(struct kp_http_request *r, struct out *o, struct kp_http_dirlist *dl,
                   struct kp_str cb)
{
    unsigned format = r->loc->autoindex.format;

    if (format == KP_AUTOINDEX_HTML) {
        html(r, o, dl);
        r->resp.content_type = KP_STR("text/html");
    } else if (format == KP_AUTOINDEX_XML) {
        xml(o, dl);
        /* The listing is written in UTF-8 (the file names as they are). */
        r->resp.content_type = KP_STR("text/xml; charset=utf-8");
    } else if (cb.len > 0) {
        /* nginx's wrapping, comment line included */
        puts_(o, "/* callback */\r\n");
        put(o, cb.p, cb.len);
        puts_(o, "(");
        json(o, dl);
        puts_(o, ");");
        r->resp.content_type = KP_STR("application/javascript");
    } else {
        json(o, dl);
        r->resp.content_type = KP_STR("application/json");
    }
}

static void close_fd(void *fd)
{
    close((int)(intptr_t)fd);
}

/* The body: o's memory, or the file it was written to. */
static int body(struct kp_http_request *r, struct out *o)
{
    if (o->fd < 0) {
        kp_arena_cleanup_add(&r->arena, kp_free, o->p);
        r->resp.body = (struct kp_str){o->p, o->len};
        return 0;
    }
    flush(o);
    kp_free(o->p);
    int fd = o->err == 0 ? dup(o->fd) : -1;
    if (fd < 0)
        return o->err != 0 ? o->err : -errno;
    kp_arena_cleanup_add(&r->arena, close_fd, (void *)(intptr_t)fd);
    r->resp.fd = fd;
    r->resp.file_offset = o->start;
    r->resp.file_len = (uint64_t)o->flushed;
    return 0;
}

int kp_http_autoindex(struct kp_http_request *r, const char *path, size_t dir_len)
{
    struct kp_str cb = KP_STR_NULL;

    if (r->loc->autoindex.format == KP_AUTOINDEX_JSONP && jsonp_callback(r, &cb) != 0) {
        kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_ERR, 0,
                         "client sent invalid callback name");
        return 400;
    }
    struct kp_http_docroots *roots = r->svc != NULL ? r->svc->roots : NULL;
    uint64_t now = r->svc != NULL ? r->svc->clock->msec : 0;
    struct stat st;
    int fd = kp_http_docroot_open_stat(roots, path, dir_len, r->loc->symlinks,
                                       O_RDONLY | O_DIRECTORY, now, &st);
    if (fd < 0)
        return open_error(r, path, fd);
    struct kp_http_dirlist *dl;
    int rc = kp_http_dirlist_read(r, fd, path, dir_len, &dl);
    if (rc != 0)
        return open_error(r, path, rc);
    struct out o = {.fd = -1};
    o.fd = kp_http_dirlist_file(dl, &o.start);
    render(r, &o, dl, cb);
    rc = body(r, &o);
    kp_http_dirlist_free(dl);
    if (rc != 0) {
        kp_log_error_via(kp_http_req_error_log(r), req_log(r), KP_LOG_CRIT, -rc,
                         "writing the listing of \"%s\" failed", path);
        return 500;
    }
    r->resp.status = 200;
    return 200;
}
