/* The open-file cache (see filecache.h). */
#include "kelpie/http/filecache.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "kelpie/http/cond.h"
#include "kelpie/http/mime.h"
#include "kelpie/util/alloc.h"

struct kp_http_file {
    int fd;
    unsigned refs;       /* the cache's own (while attached) plus each response's */
    uint64_t hash;       /* of path, mode and dir_len */
    uint64_t opened_ms;  /* when path was last resolved to fd */
    uint64_t used_ms;    /* the last hit */
    uint64_t stat_turn;  /* the clock turn st was taken in */
    uint64_t stat_epoch; /* the cache's epoch when st was taken */
    int wd;              /* the inotify watch on the file, -1: none */
    struct stat st;      /* the last fstat() */
    char *data;          /* st_size bytes of the version st describes; NULL: none */
    bool no_data;        /* reading them failed: serve from fd */
    /* The ETag last formatted, and the mtime and size it was made of
     * (etag_len 0: none yet). */
    char etag[KP_HTTP_ETAG_SIZE];
    size_t etag_len;
    time_t etag_mtime;
    off_t etag_size;
    /* The Content-Type last chosen for path, and the types table and
     * default_type it was chosen under (mime_set false: none yet). */
    struct kp_str mime;
    const struct kp_http_types *mime_types;
    const char *mime_default;
    bool mime_set;
    enum kp_http_symlinks mode;
    size_t dir_len;
    char path[]; /* NUL-terminated */
};

/* FNV-1a over the path and the rule it was opened under. */
/* Eight bytes of the path a step (every request hashes its full file name;
 * byte by byte it cost ~6 instructions a byte), the last word overlapping
 * the one before; the xor-shifts carry the products' high bits down, since
 * the slot is taken from the low ones. */
static uint64_t key_hash(const char *path, enum kp_http_symlinks mode, size_t dir_len)
{
    const uint64_t k = 0x9e3779b97f4a7c15u;
    size_t len = strlen(path);
    uint64_t h = len * k, w;

    for (size_t i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, path + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    if (len % 8 != 0) {
        if (len >= 8) {
            memcpy(&w, path + len - 8, 8);
        } else {
            w = 0;
            memcpy(&w, path, len);
        }
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h = (h ^ (uint64_t)mode ^ ((uint64_t)dir_len << 8)) * k;
    return h ^ (h >> 32);
}

void kp_http_filecache_init(struct kp_http_filecache *fc, size_t max, uint64_t valid_ms,
                            uint64_t inactive_ms)
{
    size_t n = 1;

    while (n * 2 <= max)
        n *= 2;
    *fc = (struct kp_http_filecache){
        .n = max > 0 ? n : 0, .valid_ms = valid_ms, .inactive_ms = inactive_ms};
    kp_io_init(&fc->notify, -1, NULL, NULL);
    if (fc->n > 0)
        fc->slots = kp_calloc(fc->n, sizeof(*fc->slots));
}

/* No entry is watched any more (reports were lost): each one's stat is
 * taken once per turn again, until it is opened anew. */
static void unwatch_all(struct kp_http_filecache *fc)
{
    for (size_t i = 0; i < fc->n; i++) {
        if (fc->slots[i] != NULL)
            fc->slots[i]->wd = -1;
    }
}

/* Stop watching for good (a read of the reports failed): nothing can be
 * trusted any more. */
static void notify_close(struct kp_http_filecache *fc)
{
    if (fc->notify.fd < 0)
        return;
    unwatch_all(fc);
    kp_loop_del_closing(fc->loop, &fc->notify);
    close(fc->notify.fd);
    fc->notify.fd = -1;
}

/* Every change report, whatever file it names, ends the trust in every
 * stat: a file that changes rarely costs each hot entry one fstat(), a
 * counter is all it takes, and a report can never be matched to the wrong
 * entry. IN_IGNORED alone (a watch removed) changes no file: an entry
 * evicted removes its own (see watch() for why no other entry has it), a
 * deleted file's comes after the IN_ATTRIB of its last link. */
static void on_notify(struct kp_loop *loop, struct kp_io *io, unsigned events)
{
    struct kp_http_filecache *fc = io->data;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    (void)loop;
    (void)events;
    while ((n = read(io->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t off = 0; off < n;) {
            const struct inotify_event *ev = (const void *)(buf + off);
            if (ev->mask & IN_Q_OVERFLOW)
                unwatch_all(fc);
            if (ev->mask & ~(uint32_t)IN_IGNORED)
                fc->epoch++;
            off += (ssize_t)(sizeof(*ev) + ev->len);
        }
    }
    if (n == 0 || errno != EAGAIN)
        notify_close(fc);
}

int kp_http_filecache_watch(struct kp_http_filecache *fc, struct kp_loop *loop)
{
    if (fc->n == 0)
        return 0;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -errno;
    kp_io_init(&fc->notify, fd, on_notify, fc);
    /* Not KP_IO_LEVEL: under model reactor_pool that would put it in the
     * pool thread's private set, whose reports are not ordered with the
     * connections' (handed over in order, from one shared set). */
    fc->notify.flags = KP_IO_PRIORITY;
    int rc = kp_loop_set(loop, &fc->notify, KP_EV_READ);
    if (rc < 0) {
        close(fd);
        fc->notify.fd = -1;
        return rc;
    }
    fc->loop = loop;
    return 0;
}

/* File systems whose files change only through this kernel, which reports
 * every change: not a network file system (a change made by another host
 * raises nothing here), not FUSE. */
static bool local_fs(long type)
{
    switch (type) {
    case EXT4_SUPER_MAGIC: /* ext2 and ext3 too */
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case F2FS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:
        return true;
    default:
        return false;
    }
}

/* Watch f's file (the inode f->fd is open on, through its /proc name: the
 * path may name another file by now), or leave f->wd at -1. An inode has
 * one watch per instance: a second entry on it (the same file under another
 * symlink rule, or a hard link) is not watched (IN_MASK_CREATE), so that
 * evicting one entry never takes the watch from under another. */
static void watch(struct kp_http_filecache *fc, struct kp_http_file *f)
{
    struct statfs sfs;
    char name[40];

    if (fc->notify.fd < 0 || fstatfs(f->fd, &sfs) != 0 || !local_fs((long)sfs.f_type))
        return;
    snprintf(name, sizeof(name), "/proc/self/fd/%d", f->fd);
    f->wd =
        inotify_add_watch(fc->notify.fd, name,
                          IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF | IN_MASK_CREATE);
}

void kp_http_filecache_release(struct kp_http_file *f)
{
    if (--f->refs > 0)
        return;
    close(f->fd); /* its watch, if any, was removed when it left the cache */
    if (f->data != NULL)
        kp_free(f->data - KP_HTTP_FILECACHE_ROOM);
    kp_free(f);
}

/* Take slot's file out of the cache; it lives on while a response uses it. */
static void evict(struct kp_http_filecache *fc, struct kp_http_file **slot)
{
    if (*slot == NULL)
        return;
    if ((*slot)->data != NULL)
        fc->data_bytes -= (size_t)(*slot)->st.st_size;
    if ((*slot)->wd >= 0 && fc->notify.fd >= 0)
        inotify_rm_watch(fc->notify.fd, (*slot)->wd);
    (*slot)->wd = -1;
    kp_http_filecache_release(*slot);
    *slot = NULL;
}

/* Whether a and b describe the same version of one file. */
static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static bool same_key(const struct kp_http_file *f, uint64_t hash, const char *path,
                     enum kp_http_symlinks mode, size_t dir_len)
{
    return f->hash == hash && f->mode == mode && f->dir_len == dir_len &&
           strcmp(f->path, path) == 0;
}

/* Whether f's last stat still describes its file in this turn without a
 * new one: taken in it, or the file is watched, no report was read since
 * the stat (epoch), and every report of changes made before this turn's
 * wait has been read (partial_turn: see event/loop.h). */
static bool stat_current(const struct kp_http_filecache *fc, const struct kp_http_file *f,
                         const struct kp_clock *now)
{
    return f->stat_turn == now->turn ||
           (f->wd >= 0 && f->stat_epoch == fc->epoch && fc->loop->partial_turn != now->turn);
}

/* A fresh hit: fstat() unless the stat is current, unless the file is gone,
 * or changed while its bytes are kept (the entry is then replaced). */
static int hit(struct kp_http_filecache *fc, struct kp_http_file *f, const struct kp_clock *now,
               struct stat *st, struct kp_http_file **held)
{
    if (!stat_current(fc, f, now)) {
        if (fstat(f->fd, st) != 0 || st->st_nlink == 0 || !S_ISREG(st->st_mode))
            return -ESTALE;
        if (f->data != NULL && !same_version(&f->st, st))
            return -ESTALE;
        f->st = *st;
        f->stat_turn = now->turn;
        f->stat_epoch = fc->epoch;
    } else {
        *st = f->st;
    }
    f->used_ms = now->msec;
    f->refs++;
    *held = f;
    return f->fd;
}

static void insert(struct kp_http_filecache *fc, struct kp_http_file **slot, int fd, uint64_t hash,
                   const char *path, enum kp_http_symlinks mode, size_t dir_len,
                   const struct kp_clock *now, const struct stat *st)
{
    size_t len = strlen(path);
    struct kp_http_file *f = kp_alloc(sizeof(*f) + len + 1);

    *f = (struct kp_http_file){.fd = fd,
                               .refs = 1,
                               .hash = hash,
                               .opened_ms = now->msec,
                               .used_ms = now->msec,
                               .stat_turn = now->turn,
                               .st = *st,
                               .mode = mode,
                               .dir_len = dir_len};
    memcpy(f->path, path, len + 1);
    evict(fc, slot);
    *slot = f;
    /* The watch starts after st was taken: a change in between raised no
     * report, so st is trusted only in this turn (stat_epoch is behind),
     * and the next turn's hit takes the first stat the watch covers. */
    f->wd = -1;
    f->stat_epoch = fc->epoch - 1;
    watch(fc, f);
}

/* Open and fstat() without the cache (nowait: a probe, -EAGAIN when the
 * path is not in the kernel's caches); a full descriptor table gives the
 * cached ones back first (they are a convenience, connections are not). */
static int open_file(struct kp_http_filecache *fc, struct kp_http_docroots *roots, const char *path,
                     size_t dir_len, enum kp_http_symlinks mode, uint64_t now_ms, struct stat *st,
                     bool nowait)
{
    int flags = O_RDONLY | O_NONBLOCK;
    int fd = nowait ? kp_http_docroot_probe_stat(roots, path, dir_len, mode, flags, now_ms, st)
                    : kp_http_docroot_open_stat(roots, path, dir_len, mode, flags, now_ms, st);

    if (fd == -EMFILE && fc->n > 0) {
        for (size_t i = 0; i < fc->n; i++)
            evict(fc, &fc->slots[i]);
        fd = kp_http_docroot_open_stat(roots, path, dir_len, mode, flags, now_ms, st);
    }
    return fd;
}

/* fd was just opened for path: keep it in its slot when it is a regular
 * file (the caller then holds a reference). */
static int keep(struct kp_http_filecache *fc, int fd, const char *path, size_t dir_len,
                enum kp_http_symlinks mode, const struct kp_clock *now, const struct stat *st,
                struct kp_http_file **held)
{
    uint64_t hash = key_hash(path, mode, dir_len);

    if (fd < 0 || fc->n == 0 || !S_ISREG(st->st_mode))
        return fd;
    struct kp_http_file **slot = &fc->slots[hash & (fc->n - 1)];
    insert(fc, slot, fd, hash, path, mode, dir_len, now, st);
    (*slot)->refs++;
    *held = *slot;
    return fd;
}

static int lookup(struct kp_http_filecache *fc, struct kp_http_docroots *roots, const char *path,
                  size_t dir_len, enum kp_http_symlinks mode, const struct kp_clock *now,
                  struct stat *st, struct kp_http_file **held, bool nowait)
{
    uint64_t now_ms = now->msec;
    uint64_t hash = key_hash(path, mode, dir_len);
    struct kp_http_file **slot = fc->n > 0 ? &fc->slots[hash & (fc->n - 1)] : NULL;

    *held = NULL;
    if (fc->n > 0) {
        struct kp_http_file **old = &fc->slots[fc->sweep];
        fc->sweep = (fc->sweep + 1) & (fc->n - 1);
        if (*old != NULL && now_ms - (*old)->used_ms >= fc->inactive_ms)
            evict(fc, old);
    }
    if (slot != NULL && *slot != NULL && same_key(*slot, hash, path, mode, dir_len)) {
        int fd =
            now_ms - (*slot)->opened_ms < fc->valid_ms ? hit(fc, *slot, now, st, held) : -ESTALE;
        if (fd >= 0)
            return fd;
        evict(fc, slot);
    }
    int fd = open_file(fc, roots, path, dir_len, mode, now_ms, st, nowait);
    return keep(fc, fd, path, dir_len, mode, now, st, held);
}

int kp_http_filecache_open(struct kp_http_filecache *fc, struct kp_http_docroots *roots,
                           const char *path, size_t dir_len, enum kp_http_symlinks mode,
                           const struct kp_clock *now, struct stat *st, struct kp_http_file **held)
{
    return lookup(fc, roots, path, dir_len, mode, now, st, held, false);
}

int kp_http_filecache_probe(struct kp_http_filecache *fc, struct kp_http_docroots *roots,
                            const char *path, size_t dir_len, enum kp_http_symlinks mode,
                            const struct kp_clock *now, struct stat *st, struct kp_http_file **held)
{
    return lookup(fc, roots, path, dir_len, mode, now, st, held, true);
}

int kp_http_filecache_adopt(struct kp_http_filecache *fc, int fd, const char *path, size_t dir_len,
                            enum kp_http_symlinks mode, const struct kp_clock *now,
                            const struct stat *st, struct kp_http_file **held)
{
    *held = NULL;
    return keep(fc, fd, path, dir_len, mode, now, st, held);
}

const char *kp_http_filecache_body(struct kp_http_filecache *fc, struct kp_http_file *f,
                                   const struct kp_clock *now, bool nowait)
{
    size_t size = (size_t)f->st.st_size;

    if (f->data != NULL || f->no_data)
        return f->data;
    /* Only an entry still in the cache counts against (and may use) the
     * budget; a recently changed file may still change unseen. */
    bool attached = fc->n > 0 && fc->slots[f->hash & (fc->n - 1)] == f;
    if (!attached || size > KP_HTTP_FILECACHE_BODY_MAX ||
        size > KP_HTTP_FILECACHE_DATA_MAX - fc->data_bytes ||
        f->st.st_ctim.tv_sec > (time_t)now->sec - KP_HTTP_FILECACHE_RACY_S)
        return NULL;
    /* One byte more than expected: a file that grew is not this version. */
    char *room = kp_alloc(KP_HTTP_FILECACHE_ROOM + size + 1), *p = room + KP_HTTP_FILECACHE_ROOM;
    struct iovec iov = {p, size + 1};
    ssize_t got = preadv2(f->fd, &iov, 1, 0, nowait ? RWF_NOWAIT : 0);
    if (got < 0 && errno == EOPNOTSUPP && nowait) /* a filesystem that cannot tell */
        got = pread(f->fd, p, size + 1, 0);
    if (got < 0 && errno == EAGAIN && nowait) {
        kp_free(room); /* not in the page cache: the next response tries again */
        return NULL;
    }
    if (got != (ssize_t)size) {
        kp_free(room);
        f->no_data = true;
        return NULL;
    }
    memset(room, 0, KP_HTTP_FILECACHE_ROOM);
    f->data = p;
    fc->data_bytes += size;
    return p;
}

struct kp_str kp_http_filecache_etag(struct kp_http_file *f, const struct stat *st)
{
    if (f->etag_len == 0 || f->etag_mtime != st->st_mtime || f->etag_size != st->st_size) {
        f->etag_len = kp_http_cond_etag(f->etag, st->st_mtime, (uint64_t)st->st_size);
        f->etag_mtime = st->st_mtime;
        f->etag_size = st->st_size;
    }
    return (struct kp_str){f->etag, f->etag_len};
}

struct kp_str kp_http_filecache_mime(struct kp_http_file *f, const struct kp_http_loc_conf *loc)
{
    if (!f->mime_set || f->mime_types != loc->types || f->mime_default != loc->default_type) {
        f->mime = kp_http_mime_type(loc, (struct kp_str){f->path, strlen(f->path)});
        f->mime_types = loc->types;
        f->mime_default = loc->default_type;
        f->mime_set = true;
    }
    return f->mime;
}

void kp_http_filecache_free(struct kp_http_filecache *fc)
{
    notify_close(fc); /* closing the instance removes its watches */
    for (size_t i = 0; i < fc->n; i++)
        evict(fc, &fc->slots[i]);
    kp_free(fc->slots);
    *fc = (struct kp_http_filecache){0};
}
