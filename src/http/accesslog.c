/* Access log: per-worker files, line formatting from compiled log_format
 * ops, buffering with a flush timer, reopen and close. */
#include "kelpie/http/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/syslog.h"
#include "kelpie/http/var.h"

/* Stack room for an unbuffered line; longer lines go to the request arena. */
#define LINE_STACK 2048

/* --- formatting ------------------------------------------------------------ */

/* A line being formatted: bytes past size are counted but not stored, so
 * the caller learns the full length in one pass. What is stored is always
 * the line's first bytes, with no gap: a caller that cuts the line (syslog)
 * sends out[0..size) as it is. */
struct line {
    char *out;
    size_t size, n;
    enum kp_http_log_escape escape;
};

static void put(struct line *l, const char *s, size_t len)
{
    if (l->n < l->size)
        memcpy(l->out + l->n, s, len < l->size - l->n ? len : l->size - l->n);
    l->n += len;
}

static bool needs_escape(unsigned char ch, enum kp_http_log_escape escape)
{
    if (escape == KP_HTTP_LOG_ESCAPE_NONE)
        return false;
    if (ch < 0x20 || ch == '"' || ch == '\\')
        return true;
    return escape == KP_HTTP_LOG_ESCAPE_DEFAULT && ch >= 0x7f;
}

/* One byte that needs escaping, in the format's escaping style. */
static void put_escaped(struct line *l, unsigned char ch)
{
    /* JSON's two-character escapes, as (byte, letter) pairs (RFC 8259
     * section 7); other control bytes become \u00XX. */
    static const char named[] = "\"\"\\\\\nn\rr\tt\bb\ff";
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\', 'x', hex[ch >> 4], hex[ch & 0xf], 0, 0};

    if (l->escape == KP_HTTP_LOG_ESCAPE_DEFAULT) {
        put(l, e, 4);
        return;
    }
    for (size_t i = 0; i + 1 < sizeof(named); i += 2) {
        if ((unsigned char)named[i] == ch) {
            e[1] = named[i + 1];
            put(l, e, 2);
            return;
        }
    }
    memcpy(e, "\\u00", 4);
    e[4] = hex[ch >> 4];
    e[5] = hex[ch & 0xf];
    put(l, e, 6);
}

/* Whether an empty value of def is one that was found empty: a request
 * field, cookie or argument present with no value ("Referer:", "?q="),
 * which nginx logs as nothing, not as "-" (not found); so is a variable
 * whose empty value means something ($request_completion, $http2). */
static bool found_empty(const struct kp_http_var_def *def, struct kp_str v)
{
    if (def->flags & KP_HTTP_VAR_EMPTY)
        return true;
    return v.p != NULL && (def->flags & KP_HTTP_VAR_PREFIX) != 0 &&
           (strcmp(def->name, "http_") == 0 || strcmp(def->name, "cookie_") == 0 ||
            strcmp(def->name, "arg_") == 0);
}

/* A variable's value, escaped; empty is "-" unless it was found empty
 * (nothing with escape=json or none). Unescaped runs are copied whole. */
static void put_value(struct line *l, const struct kp_http_var_def *def, struct kp_str v)
{
    const unsigned char *p = (const unsigned char *)v.p, *end = p + v.len;

    if (v.len == 0 && l->escape == KP_HTTP_LOG_ESCAPE_DEFAULT && !found_empty(def, v))
        put(l, "-", 1);
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !needs_escape(*p, l->escape))
            p++;
        put(l, (const char *)run, (size_t)(p - run));
        if (p < end)
            put_escaped(l, *p++);
    }
}

size_t kp_http_accesslog_format(const struct kp_http_log_format *fmt, struct kp_http_request *r,
                                char *out, size_t size)
{
    struct line l = {out, size, 0, fmt->escape};
    char buf[KP_HTTP_VAR_BUF];

    for (size_t i = 0; i < fmt->value.n_parts; i++) {
        const struct kp_http_cv_part *part = &fmt->value.parts[i];
        put(&l, part->lit.p, part->lit.len);
        if (part->var.def != NULL)
            put_value(&l, part->var.def, kp_http_var_get(r, &part->var, buf));
    }
    put(&l, "\n", 1);
    return l.n;
}

/* --- files ------------------------------------------------------------------ */

/* Write all of p; a failure is logged once until a later write works. */
static void write_all(struct kp_http_accesslog_file *f, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!f->failing)
                kp_log_error(f->error_log, KP_LOG_ALERT, n < 0 ? errno : ENOSPC,
                             "write() to \"%s\" failed", f->path);
            f->failing = true;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
    f->failing = false;
}

/* Write lines to f: as they are, or (gzip) as one gzip member, which
 * gunzip and zcat read as the concatenation of all of them (nginx's way). */
static void file_write(struct kp_http_accesslog_file *f, const char *p, size_t len)
{
    if (f->gzip_level == 0) {
        write_all(f, p, len);
        return;
    }
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(f->gzip_level);
    size_t bound = z != NULL ? libdeflate_gzip_compress_bound(z, len) : 0;
    char *out = z != NULL ? kp_alloc(bound) : NULL;
    size_t n = out != NULL ? libdeflate_gzip_compress(z, p, len, out, bound) : 0;

    if (n > 0)
        write_all(f, out, n);
    else
        kp_log_error(f->error_log, KP_LOG_ALERT, ENOMEM, "gzip of a log buffer for \"%s\" failed",
                     f->path);
    kp_free(out);
    libdeflate_free_compressor(z);
}

static void file_flush(struct kp_http_accesslog_file *f)
{
    if (f->loop != NULL && kp_timer_armed(&f->timer))
        kp_loop_timer_del(f->loop, &f->timer);
    if (f->len > 0) {
        file_write(f, f->buf, f->len);
        f->len = 0;
    }
}

static void flush_timer(struct kp_timer *t)
{
    file_flush(t->data);
}

/* Append one line to f: formatted in place in its buffer, or (no buffer, or a
 * line longer than the buffer) written through after what is buffered. */
static void append(struct kp_http_accesslog_file *f, const struct kp_http_log_format *fmt,
                   struct kp_http_request *r)
{
    char stack[LINE_STACK];
    size_t n;

    if (f->size > 0) {
        size_t room = f->size - f->len;
        n = kp_http_accesslog_format(fmt, r, f->buf + f->len, room);
        if (n > room && n <= f->size) {
            file_flush(f);
            n = kp_http_accesslog_format(fmt, r, f->buf, f->size);
        }
        if (n <= f->size - f->len) {
            /* flush=TIME bounds how long the oldest buffered line waits. */
            if (f->len == 0 && f->flush_ms > 0 && f->loop != NULL)
                kp_loop_timer_add(f->loop, &f->timer, f->flush_ms);
            f->len += n;
            return;
        }
        file_flush(f);
    }
    char *line = stack;
    n = kp_http_accesslog_format(fmt, r, stack, sizeof(stack));
    if (n > sizeof(stack)) {
        line = kp_arena_alloc(&r->arena, n);
        kp_http_accesslog_format(fmt, r, line, n);
    }
    file_write(f, line, n);
}

static int cmp_map(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct kp_http_accesslog_map *)a)->conf;
    uintptr_t y = (uintptr_t)((const struct kp_http_accesslog_map *)b)->conf;
    return (x > y) - (x < y);
}

/* Append loc's access_log entries to map (NULL: only count them). */
static size_t add_loc(struct kp_http_accesslog_map *map, size_t n,
                      const struct kp_http_loc_conf *loc)
{
    for (size_t i = 0; i < loc->n_access_logs; i++) {
        if (loc->access_logs[i].syslog != NULL)
            continue; /* no file: sent as it is written */
        if (map != NULL)
            map[n].conf = &loc->access_logs[i];
        n++;
    }
    for (size_t i = 0; i < loc->n_ifs; i++) /* an if block may have its own */
        n = add_loc(map, n, loc->ifs[i]);
    return n;
}

static size_t add_http(struct kp_http_accesslog_map *map, const struct kp_http_conf *http)
{
    size_t n = 0;

    for (size_t s = 0; s < http->n_servers; s++) {
        const struct kp_http_srv_conf *srv = http->servers[s];
        n = add_loc(map, n, srv->loc);
        for (size_t i = 0; i < srv->n_all; i++)
            n = add_loc(map, n, srv->all[i]);
    }
    return n;
}

/* Every distinct directive once, sorted by address (locations may share their
 * server's list). */
static void build_map(struct kp_http_accesslog *al, const struct kp_http_conf *http)
{
    size_t n = add_http(NULL, http), u = 0;

    al->map = kp_calloc(n > 0 ? n : 1, sizeof(*al->map));
    add_http(al->map, http);
    qsort(al->map, n, sizeof(*al->map), cmp_map);
    for (size_t i = 0; i < n; i++) {
        if (u == 0 || al->map[u - 1].conf != al->map[i].conf)
            al->map[u++] = al->map[i];
    }
    al->n_map = u;
}

/* The file for a directive's path, created (not yet opened) on first use. */
static struct kp_http_accesslog_file *file_for(struct kp_http_accesslog *al,
                                               const struct kp_http_access_log *conf)
{
    struct kp_http_accesslog_file *f = NULL;

    for (size_t i = 0; i < al->n_files && f == NULL; i++) {
        if (strcmp(al->files[i].path, conf->path) == 0)
            f = &al->files[i];
    }
    if (f == NULL) {
        f = &al->files[al->n_files++];
        f->path = conf->path;
        f->fd = -1;
    }
    if (conf->buffer_size > f->size)
        f->size = conf->buffer_size;
    if (conf->flush_ms > 0 && (f->flush_ms == 0 || conf->flush_ms < f->flush_ms))
        f->flush_ms = conf->flush_ms;
    if (conf->gzip_level > f->gzip_level)
        f->gzip_level = conf->gzip_level;
    return f;
}

static int open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int kp_http_accesslog_open(struct kp_http_accesslog *al, const struct kp_http_conf *http,
                           const struct kp_log_file *opened, size_t n_opened, struct kp_loop *loop,
                           const struct kp_log *error_log)
{
    memset(al, 0, sizeof(*al));
    al->pid = (int)getpid();
    build_map(al, http);
    al->files = kp_calloc(al->n_map > 0 ? al->n_map : 1, sizeof(*al->files));
    for (size_t i = 0; i < al->n_map; i++)
        al->map[i].file = file_for(al, al->map[i].conf);
    for (size_t i = 0; i < al->n_files; i++) {
        struct kp_http_accesslog_file *f = &al->files[i];
        f->loop = loop;
        f->error_log = error_log;
        kp_timer_init(&f->timer, flush_timer, f);
        f->buf = f->size > 0 ? kp_alloc(f->size) : NULL;
        /* Prefork: the master opened the file, perhaps in a directory this
         * worker's user cannot enter (logfiles.h). */
        int fd = kp_log_file_fd(opened, n_opened, f->path);
        f->borrowed = fd >= 0;
        f->fd = f->borrowed ? fd : open_append(f->path);
        if (f->fd < 0) {
            int rc = f->fd;
            kp_log_error(error_log, KP_LOG_EMERG, -rc, "open() \"%s\" failed", f->path);
            kp_http_accesslog_close(al);
            return rc;
        }
    }
    return 0;
}

static const struct kp_http_loc_conf *log_loc(const struct kp_http_request *r)
{
    if (r->loc != NULL)
        return r->loc;
    if (r->srv != NULL)
        return r->srv->loc;
    /* A request rejected before routing (e.g. a 400) still gets logged, as
     * the default server of the address it came in on. */
    if (r->hc != NULL && r->hc->c != NULL && r->hc->c->ls != NULL &&
        kp_http_addr_of(r->hc->c->ls)->default_server != NULL)
        return kp_http_addr_of(r->hc->c->ls)->default_server->loc;
    return NULL;
}

/* access_log ... if=CONDITION: the line is written unless the condition's
 * value is empty or "0" (nginx's rule). */
static bool wanted(struct kp_http_request *r, const struct kp_http_access_log *conf)
{
    if (conf->cond == NULL)
        return true;
    struct kp_str v = kp_http_cv_eval(r, conf->cond, KP_HTTP_CV_RAW);
    return v.len > 0 && !(v.len == 1 && v.p[0] == '0');
}

/* One line as one syslog message at the directive's severity (cut at the
 * message bound, as nginx cuts it). */
static void to_syslog(const struct kp_http_access_log *conf, struct kp_http_request *r)
{
    char line[KP_SYSLOG_MSG_MAX];
    size_t n = kp_http_accesslog_format(conf->format, r, line, sizeof(line));

    kp_syslog_send(conf->syslog, conf->syslog->severity, line, n < sizeof(line) ? n : sizeof(line));
}

void kp_http_accesslog_write(struct kp_http_accesslog *al, struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = log_loc(r);

    if (loc == NULL)
        return;
    for (size_t i = 0; i < loc->n_access_logs; i++) {
        if (loc->access_logs[i].syslog != NULL) {
            if (wanted(r, &loc->access_logs[i]))
                to_syslog(&loc->access_logs[i], r);
            continue;
        }
        struct kp_http_accesslog_map key = {&loc->access_logs[i], NULL};
        const struct kp_http_accesslog_map *m =
            bsearch(&key, al->map, al->n_map, sizeof(*al->map), cmp_map);
        if (m != NULL && m->conf->format != NULL && wanted(r, m->conf))
            append(m->file, m->conf->format, r);
    }
}

void kp_http_accesslog_flush(struct kp_http_accesslog *al)
{
    for (size_t i = 0; i < al->n_files; i++)
        file_flush(&al->files[i]);
}

int kp_http_accesslog_reopen(struct kp_http_accesslog *al)
{
    int first = 0;

    for (size_t i = 0; i < al->n_files; i++) {
        struct kp_http_accesslog_file *f = &al->files[i];
        file_flush(f);
        if (f->borrowed)
            continue; /* the master hands over the new file */
        int fd = open_append(f->path);
        if (fd < 0) {
            kp_log_error(f->error_log, KP_LOG_ALERT, -fd, "reopen of \"%s\" failed", f->path);
            first = first != 0 ? first : fd;
            continue;
        }
        close(f->fd);
        f->fd = fd;
    }
    return first;
}

void kp_http_accesslog_close(struct kp_http_accesslog *al)
{
    for (size_t i = 0; i < al->n_files; i++) {
        struct kp_http_accesslog_file *f = &al->files[i];
        if (f->fd >= 0) {
            file_flush(f);
            if (!f->borrowed)
                close(f->fd);
        }
        kp_free(f->buf);
    }
    kp_free(al->files);
    kp_free(al->map);
    memset(al, 0, sizeof(*al));
}
