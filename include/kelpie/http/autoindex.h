/* autoindex: directory listings for a request ending in '/' whose
 * directory has no `index` file (index files take precedence, as nginx).
 *
 * Formats as nginx's: html (the "Index of" page, names over 50 characters
 * cut with "..>"), xml, json and jsonp (the `callback` argument; without
 * one jsonp is plain json). Entries are sorted directories first, then by
 * name (byte order); names starting with '.' are not listed, nor is a
 * symbolic link the directory's disable_symlinks rule would refuse to
 * open (one leading out of the root, or any with `disable_symlinks on`).
 *
 * Memory is bounded for a directory of any size: its entries are read and
 * sorted through http/dirlist.h, and the listing of a directory larger than
 * one of its runs is written to a temporary file as it is made and sent
 * from there (with sendfile when on), not held whole in memory. */
#ifndef KP_HTTP_AUTOINDEX_H
#define KP_HTTP_AUTOINDEX_H

#include <stddef.h>

#include "kelpie/util/conf.h"
#include "kelpie/http/conf.h"

#define KP_AUTOINDEX_NAME_WIDTH 50 /* html: characters of a name shown */

struct kp_http_request;

/* autoindex, autoindex_format, autoindex_exact_size, autoindex_localtime
 * in http, server and location; fields in struct kp_http_loc_conf.autoindex. */
extern const struct kp_conf_cmd kp_http_autoindex_conf_cmds[];

/* nginx's defaults: off, html, exact_size on, localtime off. */
void kp_http_autoindex_conf_defaults(struct kp_http_autoindex_conf *ai);

/* Answer r with the listing of the directory path (NUL-terminated, ending
 * in '/'; its first dir_len bytes are the root it must stay beneath, see
 * http/docroot.h). Returns the status: 200 with the body in r's arena (or
 * in a temporary file, r->resp.fd, for a large directory), 400 for an
 * invalid jsonp callback, or 403/404/500 when the directory cannot be
 * opened or read (logged as nginx). */
int kp_http_autoindex(struct kp_http_request *r, const char *path, size_t dir_len);

#endif
