/* Static files: root + path -> one open() and one fstat(), validators,
 * preconditions, a single byte range, index files and the directory
 * redirect. The file itself is sent by the state machine (sendfile or
 * read/write) from resp.fd. */
#include "kelpie/http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/util/log.h"
#include "kelpie/http/autoindex.h"
#include "kelpie/http/byteranges.h"
#include "kelpie/http/cond.h"
#include "kelpie/http/docroot.h"
#include "kelpie/http/var.h"
#include "kelpie/http/filecache.h"
#include "kelpie/http/gzip.h"
#include "kelpie/http/mime.h"
#include "kelpie/http/range.h"
#include "kelpie/http/req.h"
#include "kelpie/http/response.h"
#include "kelpie/http/uri.h"

/* Longest "bytes FIRST-LAST/SIZE" value, NUL included. */
#define CONTENT_RANGE_SIZE (sizeof("bytes -/") + 3 * 20)

static void close_fd(void *data)
{
    close((int)(intptr_t)data);
}

static void release_file(void *f)
{
    kp_http_filecache_release(f);
}

/* Close fd, or give it back to the open-file cache that holds it. */
static void give_back(int fd, struct kp_http_file *held)
{
    if (held != NULL)
        kp_http_filecache_release(held);
    else
        close(fd);
}

/* Open path (its first dir_len bytes are the root it must stay beneath,
 * see docroot.h) and fstat() it: the descriptor, or -errno. */
static int open_stat(struct kp_http_request *r, const char *path, size_t dir_len, int flags,
                     struct stat *st)
{
    struct kp_http_docroots *roots = r->svc != NULL ? r->svc->roots : NULL;
    uint64_t now = r->svc != NULL ? r->svc->clock->msec : 0;

    return kp_http_docroot_open_stat(roots, path, dir_len, r->loc->symlinks, flags, now, st);
}

/* --- aio threads: the open of a path not in the kernel's caches goes to a pool thread -- */

/* What open_file and open_stat_wait return when they handed the open to the
 * pool: the handler answers KP_HTTP_STATIC_OPEN_WAIT (openat2 itself never
 * fails with EINPROGRESS). */
#define HANDED_OVER (-EINPROGRESS)
/* The flags of a file to serve (the open-file cache opens with the same). */
#define FILE_FLAGS (O_RDONLY | O_NONBLOCK)

/* Whether an open of r that would wait for the disk may go to the pool:
 * aio threads in its location, a reactor runs the handler, not for an error
 * page (the request goes on from its phases, see handler.h), and not more
 * than KP_HTTP_STATIC_OPEN_WAITS times. */
static bool may_hand_over(const struct kp_http_request *r)
{
    const struct kp_http_open_task *t = r->open_task;

    return r->open_async && r->loc->aio_pool != NULL && r->internal_redirects == 0 &&
           r->svc != NULL && r->svc->pools != NULL && r->svc->pools->n > 0 &&
           (t == NULL || t->waits < KP_HTTP_STATIC_OPEN_WAITS);
}

/* A result the pool made and nobody took (the request ended first), or a
 * root the pool never got (its queue was full). */
static void close_result(void *data)
{
    struct kp_http_open_task *t = data;

    if (t->fd >= 0)
        close(t->fd);
    if (t->root >= 0)
        close(t->root);
    t->fd = t->root = -1;
}

/* Describe the open for the pool (request.c posts r->open_task), with
 * the root the reactor resolves beneath. */
static int hand_over(struct kp_http_request *r, const char *path, size_t dir_len, int flags)
{
    struct kp_http_open_task *t = r->open_task;
    int root =
        kp_http_docroot_hold(r->svc->roots, path, dir_len, r->loc->symlinks, r->svc->clock->msec);

    if (root < 0 && root != AT_FDCWD)
        return root;
    if (t == NULL) {
        t = r->open_task = kp_arena_alloc(&r->arena, sizeof(*t));
        *t = (struct kp_http_open_task){.fd = -1, .root = -1};
        kp_arena_cleanup_add(&r->arena, close_result, t);
    }
    /* A result not taken: the handler stopped earlier on its way this time
     * (a path before it dropped out of the caches meanwhile). */
    close_result(t);
    t->root = root;
    t->path = kp_arena_strndup(&r->arena, path, strlen(path));
    t->dir_len = dir_len;
    t->mode = r->loc->symlinks;
    t->flags = flags;
    t->done = false;
    t->waits++;
    return HANDED_OVER;
}

/* The pool's result, when path is the open it was asked for: the caller
 * owns *fd (a descriptor or -errno) from here. */
static bool take_result(struct kp_http_request *r, const char *path, size_t dir_len, int flags,
                        int *fd, struct stat *st)
{
    struct kp_http_open_task *t = r->open_task;

    if (t == NULL || !t->done || t->dir_len != dir_len || t->mode != r->loc->symlinks ||
        t->flags != flags || strcmp(t->path, path) != 0)
        return false;
    t->done = false;
    *fd = t->fd;
    *st = t->st;
    t->fd = -1;
    return true;
}

void kp_http_static_open_run(struct kp_http_open_task *t)
{
    t->fd = kp_http_docroot_open_stat_at(t->root, t->path, t->dir_len, t->mode, t->flags, &t->st);
    if (t->root >= 0)
        close(t->root);
    t->root = -1;
}

/* open_stat, but a lookup that would wait for the disk goes to the pool
 * when it may (HANDED_OVER). */
static int open_stat_wait(struct kp_http_request *r, const char *path, size_t dir_len, int flags,
                          struct stat *st)
{
    int fd;

    if (take_result(r, path, dir_len, flags, &fd, st))
        return fd;
    if (!may_hand_over(r))
        return open_stat(r, path, dir_len, flags, st);
    fd = kp_http_docroot_probe_stat(r->svc->roots, path, dir_len, r->loc->symlinks, flags,
                                    r->svc->clock->msec, st);
    return fd == -EAGAIN ? hand_over(r, path, dir_len, flags) : fd;
}

/* The status for a failed open()/stat() of path; the failures that are not
 * simply "nothing there" are logged here, where the path is known. */
static int open_error(const struct kp_http_request *r, const char *path, int rc)
{
    switch (rc) {
    case -ENOENT:
    case -ENOTDIR:
    case -ENAMETOOLONG:
        /* Where an operator looks for a broken link (log_not_found). */
        if (r->loc->log_not_found)
            kp_http_req_log(r, KP_LOG_ERR, -rc, "open() \"%s\" failed", path);
        return 404;
    case -EACCES:
    case -EPERM:
        kp_http_req_log(r, KP_LOG_ERR, -rc, "open() \"%s\" failed", path);
        return 403;
    case -EXDEV:
    case -ELOOP:
        kp_http_req_log(r, KP_LOG_ERR, -rc,
                        "open() \"%s\" failed: a symbolic link leads out of the root or is "
                        "not allowed (disable_symlinks)",
                        path);
        return 403;
    default:
        kp_http_req_log(r, KP_LOG_CRIT, -rc, "open() \"%s\" failed", path);
        return 500;
    }
}

/* Apply Range (RFC 9110 section 14) to a 200 response already prepared:
 * it stays 200, or becomes 206 (several ranges: multipart/byteranges), or
 * 416 without a body. More satisfiable ranges than max_ranges are ignored
 * (the whole file); unsatisfiable ones do not count, as in nginx. */
static void apply_range(struct kp_http_request *r, const struct kp_str *range, uint64_t size)
{
    struct kp_http_response *resp = &r->resp;
    struct kp_http_ranges rs;
    enum kp_http_range rc = kp_http_range_parse(*range, size, &rs);
    char *cr;
    int n;

    if (rc == KP_HTTP_RANGE_IGNORE || (rc == KP_HTTP_RANGE_OK && rs.n > r->loc->max_ranges))
        return;
    /* A part or a refusal is no place to advertise ranges (nginx neither). */
    resp->accept_ranges = false;
    if (rc == KP_HTTP_RANGE_OK && rs.n > 1) {
        kp_http_byteranges(r, &rs, size);
        return;
    }
    cr = kp_arena_alloc(&r->arena, CONTENT_RANGE_SIZE);
    if (rc == KP_HTTP_RANGE_OK) {
        uint64_t first = rs.v[0].first, last = rs.v[0].last;
        n = snprintf(cr, CONTENT_RANGE_SIZE, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
                     size);
        resp->file_offset = (off_t)first;
        resp->file_len = last - first + 1;
        resp->status = 206;
    } else {
        /* Section 15.5.17: a 416 says how long the representation is. */
        n = snprintf(cr, CONTENT_RANGE_SIZE, "bytes */%" PRIu64, size);
        resp->content_type = (struct kp_str){"", 0};
        resp->fd = -1;
        resp->file_len = 0;
        resp->status = 416;
    }
    resp->content_range = (struct kp_str){cr, (size_t)n};
}

/* How a file is served besides its bytes (gzip.h). */
struct variant {
    bool vary;      /* the response varies with Accept-Encoding */
    bool gz_static; /* fd is FILE.gz, found by gzip_static */
};

/* The file's ETag; weak for a variant compressed here, whose bytes depend on
 * the compressor (RFC 9110 section 8.8.1). A cached file's tag is formatted
 * once per version (held, see filecache.h) and copied: the response head is
 * written after the reference may be given back. */
static struct kp_str file_etag(struct kp_http_request *r, const struct stat *st,
                               struct kp_http_file *held, bool weak)
{
    if (!r->loc->etag)
        return KP_STR("");
    char *etag = kp_arena_alloc(&r->arena, KP_HTTP_ETAG_SIZE + 2);
    size_t skip = weak ? 0 : 2, n;

    memcpy(etag, "W/", 2);
    if (held != NULL) {
        struct kp_str t = kp_http_filecache_etag(held, st);
        memcpy(etag + 2, t.p, t.len + 1);
        n = t.len;
    } else {
        n = kp_http_cond_etag(etag + 2, st->st_mtime, (uint64_t)st->st_size);
    }
    return (struct kp_str){etag + skip, 2 - skip + n};
}

/* RFC 9110 section 15.5.6: a 405 lists the methods that would work. */
static int not_allowed(struct kp_http_request *r)
{
    r->resp.allow = KP_STR("GET, HEAD");
    return 405;
}

/* Decide the response for an open regular file: 304/412 from the
 * preconditions, else 200 (compressed here when gzip applies: Range is then
 * ignored, as nginx does), 206 or 416. Takes ownership of fd. */
static int serve_file(struct kp_http_request *r, struct kp_str path, int fd,
                      struct kp_http_file *held, const struct stat *st, struct variant v)
{
    const struct kp_http_head *h = &r->parser.head;
    struct kp_http_response *resp = &r->resp;
    const struct kp_http_loc_conf *loc = r->loc;
    /* A held FILE.gz (gzip_static) is typed by FILE's name, not its own. */
    struct kp_str type = held != NULL && !v.gz_static ? kp_http_filecache_mime(held, loc)
                                                      : kp_http_mime_type(loc, path);
    bool compress = false;

    if (h->method == KP_HTTP_METHOD_POST) {
        give_back(fd, held);
        return not_allowed(r);
    }
    if (!v.gz_static && kp_http_gzip_wanted(r, type, (uint64_t)st->st_size)) {
        v.vary = true;
        compress =
            r->hc != NULL && (uint64_t)st->st_size <= KP_GZIP_MAX_FILE && kp_http_gzip_client_ok(r);
    }
    struct kp_str tag = file_etag(r, st, held, compress);
    enum kp_http_cond cond =
        kp_http_cond_check(h, tag, st->st_mtime, (enum kp_http_ims)loc->if_modified_since);

    if (cond == KP_HTTP_COND_FAILED) {
        give_back(fd, held);
        return 412;
    }
    resp->etag = tag;
    resp->last_modified = st->st_mtime;
    if (v.vary)
        kp_http_gzip_vary(r);
    if (cond == KP_HTTP_COND_NOT_MODIFIED) {
        /* Section 15.4.5: a 304 carries the validators (and Vary), never
         * content. */
        give_back(fd, held);
        resp->status = 304;
        return 304;
    }
    resp->status = 200;
    resp->content_type = type;
    if (compress && kp_http_gzip_body(r, fd, st) == 0) {
        give_back(fd, held);
        return 200;
    }
    if (v.gz_static)
        kp_http_gzip_encoded(r);
    /* max_ranges 0 turns byte ranges off, Accept-Ranges included. */
    resp->accept_ranges = loc->max_ranges > 0;
    resp->fd = fd;
    resp->file_offset = 0;
    resp->file_len = (uint64_t)st->st_size;
    const struct kp_str *range = kp_http_parse_value(h, KP_HTTP_HDR_RANGE);
    if (range != NULL && loc->max_ranges > 0 && kp_http_cond_if_range(h, tag, st->st_mtime))
        apply_range(r, range, (uint64_t)st->st_size);
    if (resp->fd < 0) {
        give_back(fd, held);
    } else if (held != NULL) {
        /* A small file's bytes from memory: no pread() per response. */
        resp->file_data =
            kp_http_filecache_body(r->svc->files, held, r->svc->clock, r->loc->aio_pool != NULL);
        kp_arena_cleanup_add(&r->arena, release_file, held);
        /* The whole version in memory has its prebuilt answer, for the
         * reactor whose cache holds it (not a handler thread's, whose cache
         * another reactor's responses would share). */
        if (resp->file_data != NULL && resp->status == 200 && r->ran_on == NULL)
            resp->prebuilt = kp_http_response_prebuilt(resp->file_data);
    } else
        kp_arena_cleanup_add(&r->arena, close_fd, (void *)(intptr_t)fd);
    return resp->status;
}

/* 301 to the path with a '/' appended, query kept: relative references in
 * the directory's pages then resolve inside it (RFC 9110 section 10.2.2
 * allows a path-only Location). Leading slashes go down to one: under
 * merge_slashes off, "//host/" would read as another site to a browser. */
static int redirect_dir(struct kp_http_request *r)
{
    struct kp_str uri = r->uri;
    while (uri.len > 1 && uri.p[1] == '/') {
        uri.p++;
        uri.len--;
    }
    size_t size = kp_http_uri_escape_size(uri) + 2 + r->args.len;
    char *loc = kp_arena_alloc(&r->arena, size);
    ssize_t n = kp_http_uri_escape(uri, loc, size);

    if (n < 0)
        return 500;
    loc[n++] = '/';
    if (r->args.len > 0) {
        loc[n++] = '?';
        memcpy(loc + n, r->args.p, r->args.len);
        n += (ssize_t)r->args.len;
    }
    r->resp.location = (struct kp_str){loc, (size_t)n};
    r->resp.status = 301;
    return 301;
}

/* A file to serve and its fstat(), through the worker's open-file cache
 * (*held: see filecache.h); HANDED_OVER when the pool opens it. */
static int open_file(struct kp_http_request *r, const char *path, size_t dir_len, struct stat *st,
                     struct kp_http_file **held)
{
    *held = NULL;
    const struct kp_http_services *svc = r->svc;
    enum kp_http_symlinks mode = r->loc->symlinks;
    int fd;

    if (svc == NULL)
        return open_stat(r, path, dir_len, FILE_FLAGS, st);
    /* EMFILE in the pool: inline, where the cache gives its files back. */
    if (take_result(r, path, dir_len, FILE_FLAGS, &fd, st) && fd != -EMFILE)
        return kp_http_filecache_adopt(svc->files, fd, path, dir_len, mode, svc->clock, st, held);
    if (!may_hand_over(r))
        return kp_http_filecache_open(svc->files, svc->roots, path, dir_len, mode, svc->clock, st,
                                      held);
    fd = kp_http_filecache_probe(svc->files, svc->roots, path, dir_len, mode, svc->clock, st, held);
    return fd == -EAGAIN ? hand_over(r, path, dir_len, FILE_FLAGS) : fd;
}

/* Failures to open FILE.gz that just mean "serve FILE" (as nginx). */
static bool gz_absent(int rc)
{
    return rc == -ENOENT || rc == -ENOTDIR || rc == -ENAMETOOLONG || rc == -EACCES ||
           rc == -EPERM || rc == -ELOOP || rc == -EXDEV;
}

/* gzip_static: FILE.gz beside FILE, for a client that accepts gzip (for
 * anyone with `always`), sent as it is. Returns its status, or 0 to serve
 * FILE (v->vary then says whether that response varies: a FILE.gz exists
 * and gzip_vary is on, as nginx). */
static int serve_gz_static(struct kp_http_request *r, struct kp_str path, size_t dir_len,
                           struct variant *v)
{
    enum kp_http_gzip_static mode = r->loc->gzip.static_mode;
    char gz[PATH_MAX];
    struct kp_http_file *held;

    if (mode == KP_GZIP_STATIC_OFF || path.len + sizeof(".gz") > sizeof(gz))
        return 0;
    bool ok = mode == KP_GZIP_STATIC_ALWAYS || kp_http_gzip_client_ok(r);
    if (!ok && !r->loc->gzip.vary)
        return 0;
    struct stat st = {0}; /* zeroed (see serve_path) only when FILE.gz is looked for */
    memcpy(gz, path.p, path.len);
    memcpy(gz + path.len, ".gz", sizeof(".gz"));
    int fd = open_file(r, gz, dir_len, &st, &held);
    if (fd == HANDED_OVER)
        return KP_HTTP_STATIC_OPEN_WAIT;
    if (fd < 0)
        return gz_absent(fd) ? 0 : open_error(r, gz, fd);
    if (!S_ISREG(st.st_mode) || !ok) {
        v->vary = S_ISREG(st.st_mode);
        give_back(fd, held);
        return 0;
    }
    /* `always` answers every client alike: nothing varies (nginx's rule) */
    *v = (struct variant){.vary = mode == KP_GZIP_STATIC_ON, .gz_static = true};
    return serve_file(r, path, fd, held, &st, *v);
}

/* path names no directory: a file, a directory (redirect) or nothing. */
static int serve_path(struct kp_http_request *r, const char *path, size_t len, size_t dir_len)
{
    struct stat st = {0}; /* zeroed: the analyzer cannot see errno != 0 */
    struct kp_http_file *held;
    struct variant v = {0};
    int rc = serve_gz_static(r, (struct kp_str){path, len}, dir_len, &v);

    if (rc != 0)
        return rc;
    int fd = open_file(r, path, dir_len, &st, &held);
    if (fd == HANDED_OVER)
        return KP_HTTP_STATIC_OPEN_WAIT;
    if (fd < 0)
        return open_error(r, path, fd);
    if (S_ISREG(st.st_mode))
        return serve_file(r, (struct kp_str){path, len}, fd, held, &st, v);
    give_back(fd, held);
    /* Devices, FIFOs and sockets under the root are never content. */
    return S_ISDIR(st.st_mode) ? redirect_dir(r) : 404;
}

static bool index_name_safe(struct kp_str name)
{
    return memchr(name.p, '/', name.len) == NULL && !kp_str_eq(name, KP_STR("..")) &&
           !kp_str_eq(name, KP_STR("."));
}

/* r->uri + name, when that is a URI a location may be found for. */
static bool index_uri(struct kp_http_request *r, struct kp_str name)
{
    size_t n = r->uri.len + name.len;
    char *p = kp_arena_alloc(&r->arena, n + 1);

    memcpy(p, r->uri.p, r->uri.len);
    memcpy(p + r->uri.len, name.p, name.len);
    p[n] = '\0';
    if (!kp_http_uri_is_safe((struct kp_str){p, n}))
        return false;
    r->uri = (struct kp_str){p, n};
    return true;
}

/* path (len bytes, in a PATH_MAX buffer) ends with '/': the first `index`
 * name that exists there (a file, or a directory: nginx takes any) becomes, as in nginx, an
 * internal redirect to the URI + that name (KP_HTTP_STATIC_REDIRECT), so that the location for that
 * URI answers (`location = /index.html`, a regex location); an absolute name is a redirect to
 * itself. Without one, a directory is listed with `autoindex on` (http/autoindex.h), else 403 and
 * anything else 404; only this miss costs an extra stat(). */
static int serve_index(struct kp_http_request *r, char *path, size_t len, size_t dir_len)
{
    const struct kp_http_loc_conf *loc = r->loc;
    struct stat st = {0};

    for (size_t i = 0; i < loc->n_index; i++) {
        struct kp_str name = kp_http_cv_eval(r, &loc->index[i], KP_HTTP_CV_RAW);
        /* An absolute name is a URI, not a file here: routed again. */
        if (name.len > 0 && name.p[0] == '/' && kp_http_uri_is_safe(name)) {
            r->uri = (struct kp_str){kp_arena_strndup(&r->arena, name.p, name.len), name.len};
            return KP_HTTP_STATIC_REDIRECT;
        }
        /* A name made from variables stays a name in this directory. */
        if (len + name.len >= PATH_MAX || name.len == 0 ||
            (!kp_http_cv_is_static(&loc->index[i]) && !index_name_safe(name)))
            continue;
        memcpy(path + len, name.p, name.len + 1);
        struct kp_http_file *held;
        int fd = open_file(r, path, dir_len, &st, &held);
        if (fd == HANDED_OVER)
            return KP_HTTP_STATIC_OPEN_WAIT;
        if (fd >= 0)
            give_back(fd, held); /* the cache keeps it for the redirect's open */
        /* Any entry of that name counts, as for nginx: a directory called
         * index.html gets its own 301 to "index.html/" once redirected. */
        if (fd >= 0 && index_uri(r, name))
            return KP_HTTP_STATIC_REDIRECT;
        if (fd < 0 && fd != -ENOENT && fd != -ENOTDIR)
            return open_error(r, path, fd);
    }
    path[len] = '\0';
    int fd = open_stat_wait(r, path, dir_len, O_PATH, &st);
    if (fd == HANDED_OVER)
        return KP_HTTP_STATIC_OPEN_WAIT;
    if (fd < 0)
        return open_error(r, path, fd);
    close(fd);
    if (!S_ISDIR(st.st_mode))
        return 404;
    /* A listing answers GET and HEAD only; a POST is forbidden, as by nginx. */
    if (loc->autoindex.on && r->parser.head.method != KP_HTTP_METHOD_POST)
        return kp_http_autoindex(r, path, dir_len);
    kp_http_req_log(r, KP_LOG_ERR, 0, "directory index of \"%s\" is forbidden", path);
    return 403;
}

/* Under an alias ending in '/', the rest of a path that does not start with
 * '/' (location /img { alias /data/img/; } and "/img../x") must not begin
 * with a dot segment: joined, it would climb out of the alias. */
static bool joins_safely(const char *base, size_t base_len, struct kp_str rest)
{
    if (rest.len == 0 || rest.p[0] == '/' || base_len == 0 || base[base_len - 1] != '/')
        return true;
    size_t seg = 0;
    while (seg < rest.len && rest.p[seg] != '/')
        seg++;
    return !((seg == 1 && rest.p[0] == '.') || (seg == 2 && rest.p[0] == '.' && rest.p[1] == '.'));
}

/* The file name for uri (normalised) under loc: root + uri, or for an
 * alias, the alias + what follows the location's path, NUL-terminated in
 * out. *dir_len is the length of the directory it must stay beneath: the
 * root, or the alias's directory. Returns the length, -ENAMETOOLONG when
 * it does not fit in size bytes, -ENOENT when the rest of the URI would
 * climb out of a static alias, or -EACCES when a value made from variables
 * (root, alias) holds a "." or ".." segment (403: the request is fine, what
 * the configuration makes of it is refused). */
/* A regex location's alias with its captures: the whole file name, or
 * with uri after it when try_files found uri there (alias_add_uri). It must
 * stay beneath the directory its literal start names ("/data/" of
 * "/data/$1"), whatever the captures hold. */
static ssize_t map_value(struct kp_http_request *r, const struct kp_http_cv *alias,
                         struct kp_str uri, char *out, size_t size, size_t *dir_len)
{
    struct kp_str v = kp_http_cv_eval(r, alias, KP_HTTP_CV_RAW);
    const char *var = strchr(alias->text, '$');
    size_t lit = var != NULL ? (size_t)(var - alias->text) : strlen(alias->text);
    const char *slash = lit > 0 ? memrchr(alias->text, '/', lit) : NULL;
    size_t add = r->alias_add_uri ? uri.len : 0;

    if (v.len + add >= size || slash == NULL)
        return -ENAMETOOLONG;
    /* A capture or $host holding ".." would climb out of that directory;
     * openat2's RESOLVE_BENEATH is not there to stop it with
     * disable_symlinks off. (A URI added is normalised already.) */
    if (!kp_http_uri_no_dot_segments(v))
        return -EACCES;
    *dir_len = (size_t)(slash - alias->text);
    memcpy(out, v.p, v.len);
    memcpy(out + v.len, uri.p, add);
    out[v.len + add] = '\0';
    return (ssize_t)(v.len + add);
}

static ssize_t map(struct kp_http_request *r, struct kp_str uri, char *out, size_t size,
                   size_t *dir_len)
{
    const struct kp_http_loc_conf *loc = r->loc;
    struct kp_str root = kp_http_static_root(r);
    const char *base = root.p;

    if (loc->alias_value != NULL)
        return map_value(r, loc->alias_value, uri, out, size, dir_len);
    if (loc->root_value != NULL && !kp_http_uri_no_dot_segments(kp_str_from(base)))
        return -EACCES; /* a value must not take the root (alias) up with ".." */
    /* A value's text may end early at a NUL (strlen); the root's is kept. */
    size_t base_len = loc->root_value != NULL ? strlen(base) : root.len;
    while (base_len > 1 && base[base_len - 1] == '/' && loc->root_value != NULL && !loc->alias)
        base_len--; /* a root made from variables brings no slash of its own either */
    struct kp_str rest = uri;

    *dir_len = base_len;
    if (loc->alias) {
        size_t skip = loc->alias_skip;
        rest = (struct kp_str){uri.p + (skip < uri.len ? skip : uri.len),
                               skip < uri.len ? uri.len - skip : 0};
        if (!joins_safely(base, base_len, rest))
            return -ENOENT;
        const char *slash = base_len > 0 ? memrchr(base, '/', base_len - 1) : NULL;
        *dir_len = base_len > 0 && base[base_len - 1] == '/' ? base_len - 1
                   : slash != NULL                           ? (size_t)(slash - base)
                                                             : 0;
    }
    if (base_len + rest.len >= size)
        return -ENAMETOOLONG;
    memcpy(out, base, base_len);
    memcpy(out + base_len, rest.p, rest.len);
    out[base_len + rest.len] = '\0';
    return (ssize_t)(base_len + rest.len);
}

struct kp_str kp_http_static_root(struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = r->loc;

    if (loc->root_value == NULL)
        return (struct kp_str){loc->root, loc->root_len};
    struct kp_str v = kp_http_cv_eval(r, loc->root_value, KP_HTTP_CV_RAW);
    if (loc->root_prefix == NULL || (v.len > 0 && v.p[0] == '/'))
        return v;
    size_t plen = strlen(loc->root_prefix);
    char *full = kp_arena_alloc(&r->arena, plen + v.len + 1);
    memcpy(full, loc->root_prefix, plen);
    memcpy(full + plen, v.p, v.len);
    full[plen + v.len] = '\0';
    return (struct kp_str){full, plen + v.len};
}

ssize_t kp_http_static_filename(struct kp_http_request *r, char *out, size_t size)
{
    size_t dir_len;

    return map(r, r->uri, out, size, &dir_len);
}

int kp_http_static_stat(struct kp_http_request *r, struct kp_str uri, struct stat *st)
{
    char path[PATH_MAX];
    size_t dir_len;

    if (map(r, uri, path, sizeof(path), &dir_len) < 0)
        return -ENOENT;
    int fd = open_stat_wait(r, path, dir_len, O_PATH, st);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int kp_http_static_handler(struct kp_http_request *r)
{
    enum kp_http_method m = r->parser.head.method;
    char path[PATH_MAX];

    /* A POST goes on as a GET as far as nginx takes it (a missing file is
     * 404, a directory 301 or 403), and is refused at a file (serve_file). */
    if (m != KP_HTTP_METHOD_GET && m != KP_HTTP_METHOD_HEAD && m != KP_HTTP_METHOD_POST)
        return not_allowed(r);
    /* r->uri is normalised (no dot segments, starts with '/'), so the join
     * cannot leave the root (or the alias: see joins_safely). */
    size_t dir_len;
    ssize_t len = map(r, r->uri, path, sizeof(path), &dir_len);
    if (len < 0)
        return len == -EACCES ? 403 : 404;
    if (r->uri.p[r->uri.len - 1] == '/')
        return serve_index(r, path, (size_t)len, dir_len);
    return serve_path(r, path, (size_t)len, dir_len);
}
