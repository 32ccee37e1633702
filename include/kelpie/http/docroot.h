/* Opening files beneath a document root. A request path is normalised
 * (uri.h), so it cannot climb out of the root by itself; a symbolic link
 * inside the root still could. Files are therefore opened with openat2()
 * relative to a descriptor of the root directory, with RESOLVE_BENEATH (a
 * link may lead anywhere below the root, never above it: such a request is
 * refused, 403) or, for `disable_symlinks on`, also RESOLVE_NO_SYMLINKS.
 * `disable_symlinks off` opens the full path as nginx does by default.
 *
 * Root descriptors are cached per worker, so a request still costs one
 * open; each is checked against its path at most once a second (stat: the
 * same device and inode), so a root that is replaced, as when a deployment
 * switches a "current" symlink, is followed within a second, without a
 * reload. */
#ifndef KP_DOCROOT_H
#define KP_DOCROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "kelpie/http/conf.h"

/* Roots a worker keeps open; more are opened and closed per request. */
#define KP_HTTP_DOCROOTS 8
/* How long a cached root descriptor is trusted without a stat, in ms. */
#define KP_HTTP_DOCROOT_CHECK_MS 1000

struct kp_http_docroot {
    char *dir; /* NUL-terminated copy; NULL: free entry */
    int fd;    /* O_PATH | O_DIRECTORY */
    dev_t dev;
    ino_t ino;
    uint64_t checked_ms;
};

struct kp_http_docroots {
    struct kp_http_docroot v[KP_HTTP_DOCROOTS];
    unsigned next;          /* the entry replaced when all are taken */
    bool no_resolve_cached; /* the kernel refused RESOLVE_CACHED: probes open as usual */
};

/* Open path (NUL-terminated), whose first dir_len bytes are the root it
 * must stay beneath, with open flags (O_CLOEXEC is added) under the
 * symlink rule mode. d may be NULL (no cache: the root is opened for this
 * call); now_ms is the cached monotonic clock. Returns the descriptor or
 * -errno: -EXDEV or -ELOOP when a link leads out of the root or is not
 * allowed. */
int kp_http_docroot_open(struct kp_http_docroots *d, const char *path, size_t dir_len,
                         enum kp_http_symlinks mode, int flags, uint64_t now_ms);

/* kp_http_docroot_open, then fstat() the file into *st (closed again if
 * that fails). Returns the descriptor or -errno. */
int kp_http_docroot_open_stat(struct kp_http_docroots *d, const char *path, size_t dir_len,
                              enum kp_http_symlinks mode, int flags, uint64_t now_ms,
                              struct stat *st);

/* kp_http_docroot_open_stat without waiting for the disk (aio threads):
 * -EAGAIN when resolving path would have to read from it, because a
 * directory entry or inode on the way is not in the kernel's caches
 * (openat2's RESOLVE_CACHED, Linux 5.12; a link whose target is not in
 * memory counts too). The same rules and confinement as an open; the root's
 * own descriptor (cached in d, or opened when d is NULL) is not probed. A
 * kernel that does not know RESOLVE_CACHED opens as kp_http_docroot_open_stat
 * (remembered in d: every later probe is an open). */
int kp_http_docroot_probe_stat(struct kp_http_docroots *d, const char *path, size_t dir_len,
                               enum kp_http_symlinks mode, int flags, uint64_t now_ms,
                               struct stat *st);

/* A descriptor of path's root (its first dir_len bytes) for an open made
 * elsewhere, in a pool thread that must not touch d: the cached one,
 * duplicated (the caller closes it; opened for the call when d is NULL), so
 * that the open resolves beneath the very directory an inline one would;
 * AT_FDCWD under mode FOLLOW (the path is opened whole, nothing to close);
 * -errno when the root cannot be opened. */
int kp_http_docroot_hold(struct kp_http_docroots *d, const char *path, size_t dir_len,
                         enum kp_http_symlinks mode, uint64_t now_ms);

/* kp_http_docroot_open_stat beneath root (from kp_http_docroot_hold, for
 * the same path, dir_len and mode). Touches no cache: any thread may call
 * it. */
int kp_http_docroot_open_stat_at(int root, const char *path, size_t dir_len,
                                 enum kp_http_symlinks mode, int flags, struct stat *st);

/* Close every cached root descriptor and free the entries. */
void kp_http_docroots_free(struct kp_http_docroots *d);

#endif
