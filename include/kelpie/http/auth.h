/* The access phase: allow/deny (http/access.h) and HTTP Basic
 * authentication (RFC 7617) combined by `satisfy`, with `limit_except`
 * choosing other rules for the methods it does not list.
 *
 * Directives, as nginx's:
 *   auth_basic "realm" | off          http, server, location, limit_except;
 *                                     the realm may hold variables; a value
 *                                     of "off" turns authentication off
 *   auth_basic_user_file FILE         the same contexts; relative to the
 *                                     configuration's directory; variables
 *   satisfy all | any                 http, server, location
 *   limit_except METHOD... { ... }    location; GET implies HEAD
 *
 * The phase runs after the rewrite phase of the location chosen, before
 * try_files and the content handler, and again for the new location after
 * every internal redirect (handler.c). Answers, as nginx 1.22 gives them:
 *   - no or malformed credentials: 401 with WWW-Authenticate: Basic
 *     realm="..." ('"' and '\' escaped), logged at [info];
 *   - unknown user, wrong password: 401, logged at [error];
 *   - user file missing: 403, `open() "FILE" failed (2: ...)` at [error];
 *     unreadable or not a file: 500 at [crit];
 *   - a deny rule: 403, "access forbidden by rule" at [error].
 * With `satisfy any`, an allow rule or good credentials let the request in;
 * otherwise a 401 wins over a 403.
 *
 * A worker keeps each password file it read, parsed, and uses it again
 * while the file's inode, size, mtime and ctime are unchanged and its mtime
 * was over a second old when it was read (an edit within the timestamps'
 * granularity cannot go unseen). A request that needs the file costs one
 * stat() while the copy is good, open() and a read when it is not. */
#ifndef KP_AUTH_H
#define KP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kelpie/util/conf.h"
#include "kelpie/util/str.h"

/* Password files a worker keeps parsed; the least recently used goes. */
#define KP_HTTP_AUTH_FILES 16
/* Largest password file read, in bytes: a larger one is a 500. */
#define KP_HTTP_AUTH_FILE_MAX (16u << 20)

struct kp_http_request;
struct kp_http_auth_file; /* one parsed file (auth.c) */

/* A worker's parsed password files (in struct kp_http_ctx). Zero is
 * empty. */
struct kp_http_auth_cache {
    struct kp_http_auth_file *files[KP_HTTP_AUTH_FILES];
    uint64_t clock; /* use counter, for least-recently-used eviction */
};

extern const struct kp_conf_cmd kp_http_auth_conf_cmds[];

/* limit_except's arguments (cf->args[1..]) as bits 1 << enum
 * kp_http_method into *methods; GET brings HEAD. Returns 0 or, for a name
 * that is not an HTTP method nginx knows, `invalid method "NAME"`. */
int kp_http_auth_conf_methods(struct kp_conf *cf, unsigned *methods);

/* Whether r's method is one r->loc's limit_except block restricts (a method
 * it does not list). As in nginx, such a request is served by the block,
 * which has none of the location's rewrite directives nor its try_files:
 * only the access rules, then the content. */
bool kp_http_auth_limited(const struct kp_http_request *r);

/* Run the access phase for r->loc (see above). Returns 0 to go on, or the
 * status to answer with (401 with r->resp.www_authenticate set, 403, 500).
 * Blocking: reads the password file when it changed; crypt(3) may be slow. */
int kp_http_auth_access(struct kp_http_request *r);

/* The credentials of an Authorization field value: "Basic" (any case), a
 * space, optional spaces, then base64 (digest.h) of "user:password" with a
 * non-empty user. out needs value.len bytes. On success *user and
 * *password are slices into out (password NUL-terminated; either may hold
 * any byte). Returns false for anything else. */
bool kp_http_auth_basic_decode(struct kp_str value, char *out, struct kp_str *user,
                               struct kp_str *password);

/* Release every file cache holds (the worker's exit). */
void kp_http_auth_cache_free(struct kp_http_auth_cache *cache);

#endif
