/* Files opened beneath their document root (see docroot.h). */
#include "kelpie/http/docroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"

/* glibc has no wrapper for openat2 (Linux 5.6). */
static int sys_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
    struct open_how how = {.flags = (uint64_t)flags, .resolve = resolve};

    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* fstat() fd into *st, closing it if that fails: fd or -errno. */
static int stat_or_close(int fd, struct stat *st)
{
    if (fstat(fd, st) == 0)
        return fd;
    int err = errno;
    close(fd);
    return -err;
}

static int open_dir(const char *dir, struct stat *st)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? -errno : stat_or_close(fd, st);
}

static void drop(struct kp_http_docroot *e)
{
    if (e->dir == NULL)
        return;
    close(e->fd);
    kp_free(e->dir);
    *e = (struct kp_http_docroot){.fd = -1};
}

/* (Re)open e for dir and remember what it is. */
static int fill(struct kp_http_docroot *e, const char *dir, size_t len, uint64_t now_ms)
{
    struct stat st;
    int fd = open_dir(dir, &st);

    drop(e);
    if (fd < 0)
        return fd;
    e->dir = kp_alloc(len + 1);
    memcpy(e->dir, dir, len + 1);
    *e = (struct kp_http_docroot){e->dir, fd, st.st_dev, st.st_ino, now_ms};
    return fd;
}

/* A trusted descriptor for dir from the cache, or -errno. */
static int cached_dir(struct kp_http_docroots *d, const char *dir, size_t len, uint64_t now_ms)
{
    struct kp_http_docroot *e = NULL;
    struct stat st;

    for (unsigned i = 0; i < KP_HTTP_DOCROOTS && e == NULL; i++) {
        if (d->v[i].dir != NULL && strcmp(d->v[i].dir, dir) == 0)
            e = &d->v[i];
    }
    if (e == NULL) {
        e = &d->v[d->next];
        d->next = (d->next + 1) % KP_HTTP_DOCROOTS;
        return fill(e, dir, len, now_ms);
    }
    if (now_ms - e->checked_ms < KP_HTTP_DOCROOT_CHECK_MS)
        return e->fd;
    if (stat(dir, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino) {
        e->checked_ms = now_ms;
        return e->fd;
    }
    return fill(e, dir, len, now_ms);
}

/* The descriptor of path's root (its first dir_len bytes): cached in d,
 * or opened for the call when d is NULL (the caller closes it then). */
static int root_of(struct kp_http_docroots *d, const char *path, size_t dir_len, uint64_t now_ms)
{
    char dir[PATH_MAX];
    struct stat st;
    /* root "/" is kept as "" (see http/conf_block.c). */
    size_t n = dir_len > 0 ? dir_len : 1;

    if (n >= sizeof(dir))
        return -ENAMETOOLONG;
    memcpy(dir, dir_len > 0 ? path : "/", n);
    dir[n] = '\0';
    return d != NULL ? cached_dir(d, dir, n, now_ms) : open_dir(dir, &st);
}

/* Open path beneath root (AT_FDCWD under mode FOLLOW: the path whole)
 * under mode's rule, adding resolve_extra (RESOLVE_CACHED for a probe) to
 * the lookup's rules. */
static int open_at(int root, const char *path, size_t dir_len, enum kp_http_symlinks mode,
                   int flags, uint64_t resolve_extra)
{
    flags |= O_CLOEXEC;
    if (mode == KP_SYMLINKS_FOLLOW) {
        int fd = resolve_extra == 0 ? open(path, flags)
                                    : sys_openat2(AT_FDCWD, path, flags, resolve_extra);
        return fd < 0 ? -errno : fd;
    }
    const char *rel = path + dir_len;
    while (*rel == '/')
        rel++;
    uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | resolve_extra |
                       (mode == KP_SYMLINKS_NONE ? RESOLVE_NO_SYMLINKS : 0);
    int fd = sys_openat2(root, *rel != '\0' ? rel : ".", flags, resolve);
    return fd < 0 ? -errno : fd;
}

static int open_beneath(struct kp_http_docroots *d, const char *path, size_t dir_len,
                        enum kp_http_symlinks mode, int flags, uint64_t now_ms,
                        uint64_t resolve_extra)
{
    if (mode == KP_SYMLINKS_FOLLOW)
        return open_at(AT_FDCWD, path, dir_len, mode, flags, resolve_extra);
    int root = root_of(d, path, dir_len, now_ms);
    if (root < 0)
        return root;
    int fd = open_at(root, path, dir_len, mode, flags, resolve_extra);
    if (d == NULL)
        close(root);
    return fd;
}

int kp_http_docroot_open(struct kp_http_docroots *d, const char *path, size_t dir_len,
                         enum kp_http_symlinks mode, int flags, uint64_t now_ms)
{
    return open_beneath(d, path, dir_len, mode, flags, now_ms, 0);
}

int kp_http_docroot_open_stat(struct kp_http_docroots *d, const char *path, size_t dir_len,
                              enum kp_http_symlinks mode, int flags, uint64_t now_ms,
                              struct stat *st)
{
    int fd = kp_http_docroot_open(d, path, dir_len, mode, flags, now_ms);

    return fd < 0 ? fd : stat_or_close(fd, st);
}

int kp_http_docroot_probe_stat(struct kp_http_docroots *d, const char *path, size_t dir_len,
                               enum kp_http_symlinks mode, int flags, uint64_t now_ms,
                               struct stat *st)
{
    if (d == NULL || d->no_resolve_cached)
        return kp_http_docroot_open_stat(d, path, dir_len, mode, flags, now_ms, st);
    int fd = open_beneath(d, path, dir_len, mode, flags, now_ms, RESOLVE_CACHED);
    /* Before Linux 5.12 the flag is unknown (EINVAL); without openat2 at
     * all, ENOSYS: such a kernel cannot tell, so every open is inline. */
    if (fd == -EINVAL || fd == -ENOSYS) {
        d->no_resolve_cached = true;
        return kp_http_docroot_open_stat(d, path, dir_len, mode, flags, now_ms, st);
    }
    return fd < 0 ? fd : stat_or_close(fd, st);
}

int kp_http_docroot_hold(struct kp_http_docroots *d, const char *path, size_t dir_len,
                         enum kp_http_symlinks mode, uint64_t now_ms)
{
    if (mode == KP_SYMLINKS_FOLLOW)
        return AT_FDCWD;
    int root = root_of(d, path, dir_len, now_ms);
    if (root < 0 || d == NULL)
        return root;
    int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int kp_http_docroot_open_stat_at(int root, const char *path, size_t dir_len,
                                 enum kp_http_symlinks mode, int flags, struct stat *st)
{
    int fd = open_at(root, path, dir_len, mode, flags, 0);

    return fd < 0 ? fd : stat_or_close(fd, st);
}

void kp_http_docroots_free(struct kp_http_docroots *d)
{
    for (unsigned i = 0; i < KP_HTTP_DOCROOTS; i++)
        drop(&d->v[i]);
    d->next = 0;
    d->no_resolve_cached = false;
}
