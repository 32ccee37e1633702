/* The open-file cache: regular files a worker keeps open between requests,
 * so that a request for a known file costs one fstat() instead of an
 * openat2(), an fstat() and a close(), and sendfile() keeps the file's
 * read-ahead state. For the 1 MiB benchmark file with sendfile on, those
 * three calls were the whole difference from nginx with open_file_cache.
 *
 * Freshness: a hit's fstat() is taken again once per loop turn (the loop's
 * cached clock defines "now": a stat taken earlier in the same turn is as
 * fresh as one taken for this request), so a file changed in place is seen
 * on the next turn (size, mtime, ETag). With kp_http_filecache_watch, a
 * file on a local file system is watched with inotify instead, and its stat
 * is taken again only once a change report has been read: the reports are
 * read at the start of a turn, before any request of it is answered, so a
 * change made before a turn's wait is seen in that turn, as with a stat per
 * turn, for no system call per request (the stat per turn was most of
 * kelpie's system calls above its limit servers'). Changes inotify does not
 * report (writes through a shared mapping of the file) are seen when the
 * path is opened again (open_file_cache_valid). A path is trusted to still name the same file
 * for open_file_cache_valid (1 s by default), after which it is opened
 * again, so a file replaced by rename (or deleted) is noticed within that
 * time. A deleted file (no links left) is never served from the cache.
 *
 * Small files (KP_HTTP_FILECACHE_BODY_MAX) also keep their bytes in memory,
 * read once, so that answering them costs no pread(). The copy belongs to
 * the version of the file the entry's fstat() saw (device, inode, size,
 * mtime, ctime): a stat that sees another version ends the entry (it is
 * opened and read again), and a file whose ctime is less than
 * KP_HTTP_FILECACHE_RACY_S old is not copied at all, since a second write
 * within the file system's timestamp granularity could leave all of those
 * unchanged (git's "racy" rule). A response that is still sending the old
 * bytes keeps them through its reference.
 *
 * One cache per reactor (each worker_threads thread has its own), never
 * shared between threads: decided by measurement (BENCHMARKS.md, "Reactor
 * threads"). One cache shared under a mutex measured no better (0.90-0.99x
 * the requests per CPU-second for the 600 B file at 2 and 4 threads, noisy),
 * would lock twice per request (open, release) and would have to give up
 * the per-turn freshness rule above (a turn belongs to one loop). What
 * per-thread costs: each thread opens a hot file once per
 * open_file_cache_valid (a few system calls a second), holds its own
 * descriptors (open_file_cache max per thread) and its own copies of small
 * bodies (KP_HTTP_FILECACHE_DATA_MAX per thread).
 *
 * Entries are direct-mapped by a hash of the path, the symlink rule and
 * the root's length (the same name opened under different rules must not
 * share a descriptor). An entry a response still sends from is not closed
 * when it is replaced: it is detached and closed with its last reference. */
#ifndef KP_FILECACHE_H
#define KP_FILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kelpie/event/loop.h"
#include "kelpie/http/conf.h"
#include "kelpie/util/str.h"
#include "kelpie/util/time.h"
#include "kelpie/http/docroot.h"

/* Largest file kept in memory: the size up to which a body goes out with
 * the head in one write rather than by sendfile (response.c). */
#define KP_HTTP_FILECACHE_BODY_MAX 16384
/* Zeroed bytes kept right in front of every body held in memory, for the
 * response writer's prebuilt answer of that version (response.h); a
 * version's bytes and this room are freed together. Not counted against
 * KP_HTTP_FILECACHE_DATA_MAX (at most one per open_file_cache entry). */
#define KP_HTTP_FILECACHE_ROOM 1024
/* Bytes of file bodies one worker keeps in memory at most. */
#define KP_HTTP_FILECACHE_DATA_MAX (1024 * 1024)
/* A file changed this recently (ctime, seconds) is not copied (see above). */
#define KP_HTTP_FILECACHE_RACY_S 2

struct kp_http_file;

struct kp_http_filecache {
    struct kp_http_file **slots; /* n entries, NULL: empty */
    size_t n;                    /* a power of two; 0: the cache is off */
    uint64_t valid_ms;
    uint64_t inactive_ms;
    size_t sweep;         /* the slot the next lookup checks for inactivity */
    size_t data_bytes;    /* file bytes held in memory by the entries in slots */
    struct kp_io notify;  /* the inotify instance (fd -1: none) */
    struct kp_loop *loop; /* it is registered with */
    uint64_t epoch;       /* counts the reads of its reports */
};

/* Prepare fc for at most max open files (rounded down to a power of two;
 * 0: off), each trusted for valid_ms and closed once unused for
 * inactive_ms (every lookup also checks one other slot for that, so a
 * deleted file's space is given back while the worker is busy). Allocates
 * the slot array. */
void kp_http_filecache_init(struct kp_http_filecache *fc, size_t max, uint64_t valid_ms,
                            uint64_t inactive_ms);

/* Watch the cached files for changes through an inotify instance
 * registered with loop (the loop the cache's lookups run in, whose clock
 * they are given), so that a hit needs no fstat() while its file does not
 * change. Returns 0 (also for a cache that is off) or -errno (inotify is
 * not available: the cache then stats once per turn, as without). */
int kp_http_filecache_watch(struct kp_http_filecache *fc, struct kp_loop *loop);

/* Open path (dir_len, mode: as kp_http_docroot_open) for reading, through
 * the cache, and fstat() it into *st (a hit's stat may be one taken earlier
 * in the same turn of now). Returns the descriptor or -errno. When *held is
 * set, the descriptor belongs to that cache entry: give it back with
 * kp_http_filecache_release(*held), never close() it. Otherwise (the cache
 * is off, or it is not a regular file) the caller owns it. */
int kp_http_filecache_open(struct kp_http_filecache *fc, struct kp_http_docroots *roots,
                           const char *path, size_t dir_len, enum kp_http_symlinks mode,
                           const struct kp_clock *now, struct stat *st, struct kp_http_file **held);

/* kp_http_filecache_open without waiting for the disk (aio threads): a
 * path the cache does not hold is opened only if its lookup needs no read
 * (kp_http_docroot_probe_stat), else -EAGAIN: open it elsewhere (a pool
 * thread) and hand the result to kp_http_filecache_adopt. */
int kp_http_filecache_probe(struct kp_http_filecache *fc, struct kp_http_docroots *roots,
                            const char *path, size_t dir_len, enum kp_http_symlinks mode,
                            const struct kp_clock *now, struct stat *st,
                            struct kp_http_file **held);

/* Take fd, opened for path (dir_len, mode) and fstat()ed into *st
 * elsewhere, into the cache as kp_http_filecache_open would have after its
 * own open: returns fd, with *held set when the cache keeps it (a regular
 * file, the cache on). Ownership as for kp_http_filecache_open. */
int kp_http_filecache_adopt(struct kp_http_filecache *fc, int fd, const char *path, size_t dir_len,
                            enum kp_http_symlinks mode, const struct kp_clock *now,
                            const struct stat *st, struct kp_http_file **held);

/* The whole file in memory, as the *st of the kp_http_filecache_open that
 * returned f describes it, read now if need be; NULL when it is not kept
 * (too large, too recently changed, over the budget, or the read did not
 * return exactly st_size bytes): read it from the descriptor then. nowait
 * (aio threads): read only what the page cache holds (RWF_NOWAIT); bytes
 * not there give NULL and are tried again by the next call. Valid while
 * the reference to f is held. */
const char *kp_http_filecache_body(struct kp_http_filecache *fc, struct kp_http_file *f,
                                   const struct kp_clock *now, bool nowait);

/* kp_http_cond_etag of st's mtime and size, formatted once per version of
 * the file and kept in f (st: the stat the kp_http_filecache_open that
 * returned f filled in). Valid while the reference to f is held and until
 * the next call for f. */
struct kp_str kp_http_filecache_etag(struct kp_http_file *f, const struct stat *st);

/* kp_http_mime_type(loc, f's path), chosen once per types table and
 * default_type and kept in f (the configuration outlives the cache, so the
 * pair of pointers names the choice). Valid as long as the
 * configuration. */
struct kp_str kp_http_filecache_mime(struct kp_http_file *f, const struct kp_http_loc_conf *loc);

/* Drop one reference taken by kp_http_filecache_open. */
void kp_http_filecache_release(struct kp_http_file *f);

/* Close every cached file and free the slots. Files still referenced are
 * detached and closed by their last release. */
void kp_http_filecache_free(struct kp_http_filecache *fc);

#endif
