/* The static-file content handler: maps a request path onto the location's
 * root (or alias), serves regular files (with validators, conditional requests and
 * single byte ranges), index files for directory paths, and a redirect to
 * the slash-terminated path for a directory requested without one. */
#ifndef KP_STATIC_H
#define KP_STATIC_H

#include <sys/stat.h>

#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/event/tpool.h"
#include "kelpie/http/req.h"

/* The static handler's answer for a directory path whose `index` found
 * something, as nginx's index module does: r->uri is now the URI + the
 * first index name that is a regular file there, or an absolute index name
 * (`index /index.html;`) as it is (r->args kept), to be routed again as an
 * internal redirect (counted against the redirect limit). Not an HTTP
 * status. */
#define KP_HTTP_STATIC_REDIRECT 1

/* The static handler's answer when a file's lookup would wait for the disk
 * (aio threads, see kp_http_static_handler): r->open_task says what to
 * open; a pool thread does it (kp_http_static_open_run), then the request
 * goes on with kp_http_handler_open_done, which runs the static handler
 * again, and the open that stopped it takes the pool's result. Not an HTTP
 * status. */
#define KP_HTTP_STATIC_OPEN_WAIT (-3)

/* An open() and fstat() a pool thread makes for a request (in r->arena).
 * Between the post and the task's return the thread owns it. */
struct kp_http_open_task {
    struct kp_task task;
    const char *path; /* NUL-terminated, in r->arena */
    int root;         /* a descriptor of its root (docroot.h's hold), closed by the open */
    size_t dir_len;
    enum kp_http_symlinks mode;
    int flags;
    int fd; /* the result: the descriptor, or -errno; closed with r->arena unless taken */
    struct stat st;
    bool done;         /* fd and st are the result for path, not yet taken */
    bool in_try_files; /* handler.c: try_files stopped for it */
    unsigned waits;    /* opens of this request handed to the pool so far */
};

/* Opens one request may hand to the pool; later ones are made inline, so
 * that a request whose files keep dropping out of the kernel's caches
 * still ends. */
#define KP_HTTP_STATIC_OPEN_WAITS 4

/* A kp_http_handler_fn. Reads r->uri (decoded, normalised, NUL-terminated),
 * r->args, r->loc (root, index, types, default_type) and r->parser.head
 * (method, conditional and Range fields). Returns one of:
 *   200  resp: content_type, last_modified, etag, accept_ranges, and the file
 *        as body (fd, file_offset 0, file_len = size);
 *   206  the same with file_offset/file_len for the range and content_range
 *        "bytes FIRST-LAST/SIZE";
 *   304  resp: etag, last_modified, no body (fd -1);
 *   301  resp.location = the escaped path + "/" (+ "?" args): a directory was
 *        requested without its trailing slash;
 *   416  resp.content_range "bytes * /SIZE" (without the space), no body;
 *   403  a directory with no index file, or permission denied;
 *   404  nothing there, not a regular file or directory, or a path longer
 *        than PATH_MAX (it cannot name a file, like ENAMETOOLONG);
 *   405  a method other than GET and HEAD; resp.allow = "GET, HEAD";
 *   412  a precondition failed;
 *   500  open() or fstat() failed otherwise (logged with the path);
 *   KP_HTTP_STATIC_REDIRECT  a directory path found its index: r->uri is
 *        the index's URI, to be routed again (see above).
 *   KP_HTTP_STATIC_OPEN_WAIT  a file's lookup would wait for the disk
 *        (only with r->open_async, aio threads on in r->loc, outside
 *        error pages): r->open_task is ready to be posted (see above).
 * The file is opened O_RDONLY|O_NONBLOCK|O_CLOEXEC beneath its root
 * (docroot.h: a symbolic link leading out of it is 403) and closed by a
 * cleanup on r->arena; it costs one openat2() and one fstat() for a file. Blocking: only in
 * the filesystem calls themselves; with r->open_async and aio threads, the
 * lookup of a file, an index file or a FILE.gz is probed first
 * (kp_http_filecache_probe) and one that would read the disk is handed to
 * the pool instead. */
int kp_http_static_handler(struct kp_http_request *r);

/* In a pool thread: make the open t describes, as the handler would have
 * inline (the same rules beneath the same root directory, held for it by
 * the reactor; no cache is touched), into t->fd and t->st. */
void kp_http_static_open_run(struct kp_http_open_task *t);

/* r->loc's root (or alias) for r: the configured path, or with variables
 * (`root /sites/$host;`) their value for r, in r->arena. NUL-terminated. */
struct kp_str kp_http_static_root(struct kp_http_request *r);

/* The file name r->uri names under r->loc (root + URI, or the alias + what
 * follows the location's path), NUL-terminated in out ($request_filename).
 * Returns its length, or a negative errno: -ENAMETOOLONG when it does not
 * fit in size bytes, -EACCES when a root or alias made from variables holds
 * a "." or ".." segment, -ENOENT when the URI would climb out of an alias. */
ssize_t kp_http_static_filename(struct kp_http_request *r, char *out, size_t size);

/* fstat() of the file uri (normalised) names under r->loc, found as the
 * handler finds it (root or alias, symlinks checked: docroot.h). Returns 0
 * or -errno; -EINPROGRESS when the lookup would wait for the disk and went
 * to the pool instead, as for the handler (r->open_task: answer
 * KP_HTTP_STATIC_OPEN_WAIT; the call made again takes the result). */
int kp_http_static_stat(struct kp_http_request *r, struct kp_str uri, struct stat *st);

#endif
