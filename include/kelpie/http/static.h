/* The static-file content handler: maps a request path onto the location's
 * root (or alias), serves regular files (with validators, conditional requests and
 * single byte ranges), index files for directory paths, and a redirect to
 * the slash-terminated path for a directory requested without one. */
#ifndef KP_STATIC_H
#define KP_STATIC_H

#include <sys/stat.h>

#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/http/request.h"

/* The static handler's answer for a directory path whose `index` found
 * something, as nginx's index module does: r->uri is now the URI + the
 * first index name that is a regular file there, or an absolute index name
 * (`index /index.html;`) as it is (r->args kept), to be routed again as an
 * internal redirect (counted against the redirect limit). Not an HTTP
 * status. */
#define KP_HTTP_STATIC_REDIRECT 1

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
 * The file is opened O_RDONLY|O_NONBLOCK|O_CLOEXEC beneath its root
 * (docroot.h: a symbolic link leading out of it is 403) and closed by a
 * cleanup on r->arena; it costs one openat2() and one fstat() for a file. Blocking: only in
 * the filesystem calls themselves. */
int kp_http_static_handler(struct kp_http_request *r);

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
 * or -errno. */
int kp_http_static_stat(struct kp_http_request *r, struct kp_str uri, struct stat *st);

#endif
