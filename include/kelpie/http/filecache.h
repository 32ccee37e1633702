/* The open-file cache: regular files a worker keeps open between requests,
 * so that a request for a known file costs one fstat() instead of an
 * openat2(), an fstat() and a close(), and sendfile() keeps the file's
 * read-ahead state. For the 1 MiB benchmark file with sendfile on, those
 * three calls were the whole difference from nginx with open_file_cache.
 *
 * Freshness: every hit is fstat()ed, so a file changed in place is seen at
 * once (size, mtime, ETag); a path is trusted to still name the same file
 * for open_file_cache_valid (1 s by default), after which it is opened
 * again, so a file replaced by rename (or deleted) is noticed within that
 * time. A deleted file (no links left) is never served from the cache.
 *
 * Entries are direct-mapped by a hash of the path, the symlink rule and
 * the root's length (the same name opened under different rules must not
 * share a descriptor). An entry a response still sends from is not closed
 * when it is replaced: it is detached and closed with its last reference. */
#ifndef KP_FILECACHE_H
#define KP_FILECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kelpie/http/conf.h"
#include "kelpie/http/docroot.h"

struct kp_http_file;

struct kp_http_filecache {
    struct kp_http_file **slots; /* n entries, NULL: empty */
    size_t n;                    /* a power of two; 0: the cache is off */
    uint64_t valid_ms;
    uint64_t inactive_ms;
    size_t sweep; /* the slot the next lookup checks for inactivity */
};

/* Prepare fc for at most max open files (rounded down to a power of two;
 * 0: off), each trusted for valid_ms and closed once unused for
 * inactive_ms (every lookup also checks one other slot for that, so a
 * deleted file's space is given back while the worker is busy). Allocates
 * the slot array. */
void kp_http_filecache_init(struct kp_http_filecache *fc, size_t max, uint64_t valid_ms,
                            uint64_t inactive_ms);

/* Open path (dir_len, mode: as kp_http_docroot_open) for reading, through
 * the cache, and fstat() it into *st. Returns the descriptor or -errno.
 * When *held is set, the descriptor belongs to that cache entry: give it
 * back with kp_http_filecache_release(*held), never close() it. Otherwise
 * (the cache is off, or it is not a regular file) the caller owns it. */
int kp_http_filecache_open(struct kp_http_filecache *fc, struct kp_http_docroots *roots,
                           const char *path, size_t dir_len, enum kp_http_symlinks mode,
                           uint64_t now_ms, struct stat *st, struct kp_http_file **held);

/* Drop one reference taken by kp_http_filecache_open. */
void kp_http_filecache_release(struct kp_http_file *f);

/* Close every cached file and free the slots. Files still referenced are
 * detached and closed by their last release. */
void kp_http_filecache_free(struct kp_http_filecache *fc);

#endif
