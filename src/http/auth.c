/* The access phase: allow/deny, auth_basic and satisfy; limit_except's
 * method list; the worker's cache of parsed password files (see auth.h). */
#include "kelpie/http/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/util/digest.h"
#include "kelpie/http/access.h"
#include "kelpie/http/htpasswd.h"
#include "kelpie/http/req.h"
#include "kelpie/http/var.h"

#define LOC(m)   KP_CONF_SLOT_LOC, KP_CONF_FIELD(struct kp_http_loc_conf, m)
#define AUTH_CTX (KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC | KP_CONF_LMT)

/* What the Basic check found, besides a status to answer with. */
#define AUTH_OK       0
#define AUTH_DECLINED (-1) /* not configured here, or "off" */

/* Bytes of a user name as the error log shows it (log_name). */
#define LOG_NAME_MAX 256

/* --- configuration ---------------------------------------------------------------- */

static int compile(struct kp_conf *cf, const char *text, struct kp_http_cv **out)
{
    *out = kp_arena_calloc(cf->arena, sizeof(**out));
    return kp_http_cv_compile(cf, text, *out);
}

/* auth_basic "realm" | off: kept as written; "off" (also as the value of
 * a variable) is checked per request, as nginx does. */
static int auth_basic(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    (void)cmd;
    return compile(cf, cf->args[1], &((struct kp_http_loc_conf *)conf)->auth.realm);
}

/* auth_basic_user_file FILE: a name that does not start with a variable is
 * made absolute against the configuration's directory now; one that does is
 * resolved per request. */
static int user_file(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_auth_conf *auth = &((struct kp_http_loc_conf *)conf)->auth;
    const char *f = cf->args[1];

    (void)cmd;
    if (f[0] == '\0')
        return kp_conf_invalid(cf, f);
    if (f[0] != '$')
        f = kp_conf_join(cf->arena, cf->conf_dir, f);
    auth->user_file_dir = cf->conf_dir;
    return compile(cf, f, &auth->user_file);
}

static int satisfy(struct kp_conf *cf, const struct kp_conf_cmd *cmd, void *conf)
{
    struct kp_http_auth_conf *auth = &((struct kp_http_loc_conf *)conf)->auth;

    (void)cmd;
    if (strcmp(cf->args[1], "all") == 0)
        auth->satisfy = KP_SATISFY_ALL;
    else if (strcmp(cf->args[1], "any") == 0)
        auth->satisfy = KP_SATISFY_ANY;
    else
        return kp_conf_invalid(cf, cf->args[1]);
    return 0;
}

int kp_http_auth_conf_methods(struct kp_conf *cf, unsigned *methods)
{
    /* nginx's list; the WebDAV methods are accepted but kelpie answers
     * them 501 before any access check. */
    static const struct {
        const char *name;
        unsigned bits;
    } known[] = {
        {"GET", 1u << KP_HTTP_METHOD_GET | 1u << KP_HTTP_METHOD_HEAD},
        {"HEAD", 1u << KP_HTTP_METHOD_HEAD},
        {"POST", 1u << KP_HTTP_METHOD_POST},
        {"PUT", 1u << KP_HTTP_METHOD_PUT},
        {"DELETE", 1u << KP_HTTP_METHOD_DELETE},
        {"OPTIONS", 1u << KP_HTTP_METHOD_OPTIONS},
        {"PATCH", 1u << KP_HTTP_METHOD_PATCH},
        {"MKCOL", 0},
        {"COPY", 0},
        {"MOVE", 0},
        {"PROPFIND", 0},
        {"PROPPATCH", 0},
        {"LOCK", 0},
        {"UNLOCK", 0},
    };

    *methods = 0;
    for (size_t i = 1; i < cf->nargs; i++) {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcasecmp(cf->args[i], known[k].name) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0]))
            return kp_conf_error(cf, "invalid method \"%s\"", cf->args[i]);
        *methods |= known[k].bits;
    }
    return 0;
}

const struct kp_conf_cmd kp_http_auth_conf_cmds[] = {
    {"auth_basic", AUTH_CTX, KP_CONF_TAKE(1), 0, auth_basic, LOC(auth.realm)},
    {"auth_basic_user_file", AUTH_CTX, KP_CONF_TAKE(1), 0, user_file, KP_CONF_SLOT_LOC,
     KP_CONF_SPAN(struct kp_http_loc_conf, auth.user_file, auth.user_file_dir)},
    {"satisfy", KP_CONF_HTTP | KP_CONF_SRV | KP_CONF_LOC, KP_CONF_TAKE(1), 0, satisfy,
     LOC(auth.satisfy)},
    {NULL, 0, KP_CONF_NOARGS, 0, NULL, 0, KP_CONF_NOFIELD},
};

/* --- credentials -------------------------------------------------------------------- */

bool kp_http_auth_basic_decode(struct kp_str value, char *out, struct kp_str *user,
                               struct kp_str *password)
{
    /* RFC 7617 section 2: credentials = "Basic" SP token68. */
    if (value.len < 6 || !kp_str_caseeq((struct kp_str){value.p, 6}, KP_STR("Basic ")))
        return false;
    size_t i = 6;
    while (i < value.len && value.p[i] == ' ')
        i++;
    if (i == value.len)
        return false;
    ssize_t n = kp_base64_decode(value.p + i, value.len - i, (unsigned char *)out);
    /* base64 of k characters is at most k * 3 / 4 bytes, so n < value.len
     * and the NUL below fits in out. */
    if (n < 0)
        return false;
    char *colon = memchr(out, ':', (size_t)n);
    if (colon == NULL || colon == out)
        return false;
    out[n] = '\0';
    *user = (struct kp_str){out, (size_t)(colon - out)};
    *password = (struct kp_str){colon + 1, (size_t)(out + n - colon - 1)};
    return true;
}

/* --- password files ------------------------------------------------------------------- */

struct kp_http_auth_file {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    bool racy; /* modified too recently to trust the timestamps: read again */
    uint64_t used;
    char *text;
    struct kp_htpasswd_entry *v;
    size_t n;
};

static void file_free(struct kp_http_auth_file *f)
{
    if (f == NULL)
        return;
    kp_free(f->path);
    kp_free(f->text);
    kp_free(f->v);
    kp_free(f);
}

void kp_http_auth_cache_free(struct kp_http_auth_cache *cache)
{
    for (size_t i = 0; i < KP_HTTP_AUTH_FILES; i++) {
        file_free(cache->files[i]);
        cache->files[i] = NULL;
    }
}

static bool same_ts(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Whether f still describes the file st is about. */
static bool fresh(const struct kp_http_auth_file *f, const struct stat *st)
{
    return !f->racy && f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
           same_ts(f->mtime, st->st_mtim) && same_ts(f->ctime, st->st_ctim);
}

/* The slot holding path, or NULL. */
static struct kp_http_auth_file **lookup(struct kp_http_auth_cache *cache, const char *path)
{
    for (size_t i = 0; i < KP_HTTP_AUTH_FILES; i++) {
        struct kp_http_auth_file **s = &cache->files[i];
        if (*s != NULL && strcmp((*s)->path, path) == 0)
            return s;
    }
    return NULL;
}

/* A slot for a new file: an empty one, else the least recently used
 * (freed). */
static struct kp_http_auth_file **victim(struct kp_http_auth_cache *cache)
{
    struct kp_http_auth_file **v = &cache->files[0];

    for (size_t i = 1; i < KP_HTTP_AUTH_FILES && *v != NULL; i++) {
        struct kp_http_auth_file **s = &cache->files[i];
        if (*s == NULL || (*s)->used < (*v)->used)
            v = s;
    }
    file_free(*v);
    *v = NULL;
    return v;
}

struct bad_line_ctx {
    struct kp_http_request *r;
    const char *path;
};

static void bad_line(void *arg, unsigned line, enum kp_htpasswd_bad why)
{
    const struct bad_line_ctx *b = arg;

    kp_http_req_log(b->r, KP_LOG_WARN, 0, "%s in line %u of \"%s\", skipped",
                    why == KP_HTPASSWD_TOO_LONG ? "too long a line" : "no \"user:password\"", line,
                    b->path);
}

/* Read the whole file (st from fd) into a new NUL-terminated buffer.
 * Returns 0 or a status (logged). */
static int read_all(struct kp_http_request *r, int fd, const char *path, const struct stat *st,
                    char **out, size_t *len)
{
    if (!S_ISREG(st->st_mode)) {
        /* nginx reads what it opened and fails there: the same words. */
        kp_http_req_log(r, KP_LOG_CRIT, S_ISDIR(st->st_mode) ? EISDIR : EINVAL,
                        "pread() \"%s\" failed", path);
        return 500;
    }
    if (st->st_size > (off_t)KP_HTTP_AUTH_FILE_MAX) {
        kp_http_req_log(r, KP_LOG_ERR, 0, "\"%s\" is larger than %u bytes", path,
                        KP_HTTP_AUTH_FILE_MAX);
        return 500;
    }
    size_t want = (size_t)st->st_size, got = 0;
    char *text = kp_alloc(want + 1);
    while (got < want) {
        ssize_t n = pread(fd, text + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            kp_http_req_log(r, KP_LOG_CRIT, errno, "pread() \"%s\" failed", path);
            kp_free(text);
            return 500;
        }
        if (n == 0)
            break; /* shrunk meanwhile: parse what is there */
        got += (size_t)n;
    }
    text[got] = '\0';
    *out = text;
    *len = got;
    return 0;
}

/* Fill f from the open file: read, parse (bad lines logged), remember
 * the identity. Returns 0 or a status. */
static int load(struct kp_http_request *r, struct kp_http_auth_file *f, int fd, const char *path,
                const struct stat *st)
{
    char *text;
    size_t len;
    int rc = read_all(r, fd, path, st, &text, &len);

    if (rc != 0)
        return rc;
    /* Bad lines are told once per version of the file, not at every
     * reading of a file too young to trust. */
    bool seen = f->text != NULL && f->dev == st->st_dev && f->ino == st->st_ino &&
                f->size == st->st_size && same_ts(f->mtime, st->st_mtim) &&
                same_ts(f->ctime, st->st_ctim);
    struct bad_line_ctx b = {r, path};
    struct kp_htpasswd_entry *v = kp_alloc(kp_htpasswd_max_entries(text, len) * sizeof(*v));
    size_t n = kp_htpasswd_parse(text, len, v, seen ? NULL : bad_line, &b);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    kp_free(f->text);
    kp_free(f->v);
    f->text = text;
    f->v = v;
    f->n = n;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    f->ctime = st->st_ctim;
    /* A file written in the same clock tick as an earlier version may
     * keep its size and timestamps: until its mtime is over a second in
     * the past, it is read again each time. */
    f->racy = (size_t)st->st_size != len || st->st_mtim.tv_sec >= now.tv_sec - 1 ||
              st->st_ctim.tv_sec >= now.tv_sec - 1;
    return 0;
}

/* The parsed file at path, opened now and read again if it changed.
 * Returns 0 with *out set, or a status (logged as nginx does). */
static int user_file_get(struct kp_http_request *r, const char *path,
                         const struct kp_http_auth_file **out)
{
    struct kp_http_auth_cache *cache = r->svc->auth;
    struct kp_http_auth_file **s = lookup(cache, path);
    struct stat st;

    /* One stat() while the copy is good; open() (whose failure is what
     * nginx reports) only to read the file. */
    if (s != NULL && stat(path, &st) == 0 && fresh(*s, &st)) {
        (*s)->used = ++cache->clock;
        *out = *s;
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        bool missing = err == ENOENT;
        kp_http_req_log(r, missing ? KP_LOG_ERR : KP_LOG_CRIT, err, "open() \"%s\" failed", path);
        return missing ? 403 : 500;
    }
    int rc = 0;
    if (s == NULL)
        s = victim(cache);
    if (fstat(fd, &st) != 0) {
        kp_http_req_log(r, KP_LOG_CRIT, errno, "fstat() \"%s\" failed", path);
        rc = 500;
    } else if (*s == NULL || !fresh(*s, &st)) {
        if (*s == NULL) {
            *s = kp_calloc(1, sizeof(**s));
            (*s)->path = kp_strdup(path);
        }
        rc = load(r, *s, fd, path, &st);
    }
    close(fd);
    if (rc != 0) {
        file_free(*s);
        *s = NULL;
        return rc;
    }
    (*s)->used = ++cache->clock;
    *out = *s;
    return 0;
}

/* The user file's name for r: relative names (from a variable) are taken
 * against the configuration's directory. */
static const char *file_name(struct kp_http_request *r, const struct kp_http_auth_conf *auth)
{
    struct kp_str v = kp_http_cv_eval(r, auth->user_file, KP_HTTP_CV_RAW);
    const char *conf = auth->user_file_dir;

    if (v.len > 0 && v.p[0] == '/')
        return v.p;
    size_t dir = strlen(conf);
    char *full = kp_arena_alloc(&r->arena, dir + v.len + 1);
    memcpy(full, conf, dir);
    memcpy(full + dir, v.p, v.len);
    full[dir + v.len] = '\0';
    return full;
}

/* --- the checks --------------------------------------------------------------------- */

/* 401 with the challenge: `Basic realm="REALM"`, the realm a quoted-string
 * (RFC 9110 section 5.6.4) with control bytes made spaces. */
static int challenge(struct kp_http_request *r, struct kp_str realm)
{
    char *out = kp_arena_alloc(&r->arena, 15 + 2 * realm.len), *o = out;

    o = stpcpy(o, "Basic realm=\"");
    for (size_t i = 0; i < realm.len; i++) {
        unsigned char ch = (unsigned char)realm.p[i];
        if (ch == '"' || ch == '\\')
            *o++ = '\\';
        *o++ = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    *o++ = '"';
    r->resp.www_authenticate = (struct kp_str){out, (size_t)(o - out)};
    return 401;
}

/* The user name as the error log shows it: a client chose its bytes, so
 * control bytes, '"' and '\\' are written \xHH (one line per message), and
 * a long name is cut. out holds LOG_NAME_MAX bytes. */
static const char *log_name(struct kp_str user, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out, *end = out + LOG_NAME_MAX - 5;

    for (size_t i = 0; i < user.len && o < end; i++) {
        unsigned char ch = (unsigned char)user.p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        *o++ = '\\';
        *o++ = 'x';
        *o++ = hex[ch >> 4];
        *o++ = hex[ch & 15];
    }
    *o = '\0';
    return out;
}

/* auth_basic for conf: AUTH_OK, AUTH_DECLINED, or a status. */
static int basic(struct kp_http_request *r, const struct kp_http_auth_conf *conf)
{
    if (conf->realm == NULL || conf->user_file == NULL)
        return AUTH_DECLINED;
    struct kp_str realm = kp_http_cv_eval(r, conf->realm, KP_HTTP_CV_RAW);
    if (kp_str_eq(realm, KP_STR("off")))
        return AUTH_DECLINED;
    const struct kp_str *field = kp_http_parse_value(&r->parser.head, KP_HTTP_HDR_AUTHORIZATION);
    struct kp_str value = field != NULL ? *field : KP_STR_NULL, user, password;
    char *buf = kp_arena_alloc(&r->arena, value.len + 1);
    if (!kp_http_auth_basic_decode(value, buf, &user, &password)) {
        kp_http_req_log(r, KP_LOG_INFO, 0,
                        "no user/password was provided for basic authentication");
        return challenge(r, realm);
    }
    const char *path = file_name(r, conf);
    const struct kp_http_auth_file *f;
    int rc = user_file_get(r, path, &f);
    if (rc != 0)
        return rc;
    const struct kp_htpasswd_entry *e = kp_htpasswd_find(f->v, f->n, user);
    char name[LOG_NAME_MAX];
    if (e == NULL) {
        kp_http_req_log(r, KP_LOG_ERR, 0, "user \"%s\" was not found in \"%s\"",
                        log_name(user, name), path);
        return challenge(r, realm);
    }
    if (!kp_htpasswd_verify(password.p, e->hash)) {
        kp_http_req_log(r, KP_LOG_ERR, 0, "user \"%s\": password mismatch", log_name(user, name));
        return challenge(r, realm);
    }
    return AUTH_OK;
}

/* The settings the checks use: limit_except's block for a method it does
 * not list (GET brings HEAD), else the location's. */
bool kp_http_auth_limited(const struct kp_http_request *r)
{
    const struct kp_http_loc_conf *loc = r->loc;
    unsigned method = 1u << r->parser.head.method;

    return loc->auth.except != NULL && (loc->auth.except_methods & method) == 0;
}

static const struct kp_http_loc_conf *access_conf(const struct kp_http_request *r)
{
    return kp_http_auth_limited(r) ? r->loc->auth.except : r->loc;
}

/* satisfy any: one check that passes lets r in; else a 401 wins over a
 * 403, and only a 403 is logged as forbidden (nginx's order). */
static int satisfy_any(struct kp_http_request *r, enum kp_http_access_verdict acl,
                       const struct kp_http_auth_conf *auth)
{
    if (acl == KP_HTTP_ACCESS_ALLOW)
        return 0;
    int rc = basic(r, auth);
    if (rc == AUTH_OK)
        return 0;
    if (rc != AUTH_DECLINED && rc != 401 && rc != 403)
        return rc;
    int code = rc == 401 ? 401 : acl == KP_HTTP_ACCESS_DENY ? 403 : rc == 403 ? 403 : 0;
    if (code == 403)
        kp_http_req_log(r, KP_LOG_ERR, 0, "access forbidden by rule");
    return code;
}

int kp_http_auth_access(struct kp_http_request *r)
{
    const struct kp_http_loc_conf *conf = access_conf(r);
    enum kp_http_access_verdict acl = KP_HTTP_ACCESS_NO_MATCH;

    if (conf->n_acl > 0)
        acl = kp_http_access_check(conf->acl, conf->n_acl, kp_http_req_client(r));
    if (conf->auth.satisfy == KP_SATISFY_ANY)
        return satisfy_any(r, acl, &conf->auth);
    /* satisfy all: the address rules first, then the credentials. */
    if (acl == KP_HTTP_ACCESS_DENY) {
        kp_http_req_log(r, KP_LOG_ERR, 0, "access forbidden by rule");
        return 403;
    }
    int rc = basic(r, &conf->auth);
    return rc == AUTH_OK || rc == AUTH_DECLINED ? 0 : rc;
}
