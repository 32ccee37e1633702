/* Sorted directory entries with bounded memory (see dirlist.h): runs
 * sorted in memory, spilled to a temporary file when there is more than
 * one, and merged through a binary heap while they are walked. */
#include "kelpie/http/dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/util/alloc.h"
#include "kelpie/http/docroot.h"
#include "kelpie/http/req.h"

#define RUN_BUF   4096        /* read-back buffer of one run: holds any record */
#define WRITE_BUF (64 * 1024) /* the spill writer's buffer */

/* One entry in the temporary file: this header, then the name's bytes. */
struct rec {
    uint16_t len;
    uint8_t dir;
    uint8_t reg;
    uint32_t unused;
    int64_t size;
    int64_t mtime;
};

/* A sorted run in the temporary file, read back through buf. */
struct run {
    off_t pos, end;  /* next byte to read from the file, end of the run */
    size_t at, have; /* cursor and bytes in buf */
    struct kp_http_dirent cur;
    char name[NAME_MAX + 1];
    char buf[RUN_BUF];
};

struct kp_http_dirlist {
    /* The run being read (and, unspilled, the whole listing). */
    struct kp_http_dirent *v;
    size_t n, next;
    char *names;
    size_t names_len;
    size_t count;
    /* Spilled: the temporary file, its runs and the merge heap. */
    int fd;
    off_t fd_len;
    char *wbuf;
    size_t wlen;
    struct run **runs;
    size_t n_runs, cap_runs;
    size_t *heap;
    size_t heap_n;
    size_t pending; /* the run whose entry was returned last; SIZE_MAX: none */
};

static int by_kind_then_name(const void *a, const void *b)
{
    const struct kp_http_dirent *x = a, *y = b;

    if (x->dir != y->dir)
        return x->dir ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* stat() one entry; a symbolic link is opened under the directory's rules
 * (http/docroot.h), so one leading out of the root is not listed. Returns
 * false to leave the entry out. */
static bool stat_entry(struct kp_http_request *r, int dfd, const char *path, size_t dir_len,
                       const char *name, struct stat *st)
{
    if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
    if (!S_ISLNK(st->st_mode))
        return true;
    size_t plen = strlen(path), nlen = strlen(name);
    char full[PATH_MAX];
    if (plen + nlen >= sizeof(full))
        return false;
    memcpy(full, path, plen);
    memcpy(full + plen, name, nlen + 1);
    struct kp_http_docroots *roots = r->svc != NULL ? r->svc->roots : NULL;
    uint64_t now = r->svc != NULL ? r->svc->clock->msec : 0;
    int fd = kp_http_docroot_open_stat(roots, full, dir_len, r->loc->symlinks, O_PATH, now, st);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* --- spilling runs ------------------------------------------------------------------ */

static int temp_file(void)
{
    int fd = open(P_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    /* A /tmp without O_TMPFILE support: an anonymous memory file. */
    if (fd < 0)
        fd = memfd_create("kelpie-dirlist", MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int wflush(struct kp_http_dirlist *dl)
{
    int rc = write_all(dl->fd, dl->wbuf, dl->wlen);

    dl->fd_len += (off_t)dl->wlen;
    dl->wlen = 0;
    return rc;
}

static int put_rec(struct kp_http_dirlist *dl, const struct kp_http_dirent *e)
{
    struct rec h = {(uint16_t)e->len, e->dir, e->reg, 0, e->size, e->mtime};

    if (dl->wlen + sizeof(h) + e->len > WRITE_BUF) {
        int rc = wflush(dl);
        if (rc != 0)
            return rc;
    }
    memcpy(dl->wbuf + dl->wlen, &h, sizeof(h));
    memcpy(dl->wbuf + dl->wlen + sizeof(h), e->name, e->len);
    dl->wlen += sizeof(h) + e->len;
    return 0;
}

/* Sort the run in memory and append it to the temporary file. */
static int spill(struct kp_http_dirlist *dl)
{
    if (dl->fd < 0) {
        dl->fd = temp_file();
        if (dl->fd < 0)
            return dl->fd;
        dl->wbuf = kp_alloc(WRITE_BUF);
    }
    qsort(dl->v, dl->n, sizeof(*dl->v), by_kind_then_name);
    off_t start = dl->fd_len + (off_t)dl->wlen;
    for (size_t i = 0; i < dl->n; i++) {
        int rc = put_rec(dl, &dl->v[i]);
        if (rc != 0)
            return rc;
    }
    if (dl->n_runs == dl->cap_runs) {
        dl->cap_runs = dl->cap_runs == 0 ? 8 : dl->cap_runs * 2;
        dl->runs = kp_realloc(dl->runs, dl->cap_runs * sizeof(*dl->runs));
    }
    struct run *run = kp_calloc(1, sizeof(*run));
    run->pos = start;
    run->end = dl->fd_len + (off_t)dl->wlen;
    dl->runs[dl->n_runs++] = run;
    dl->n = 0;
    dl->names_len = 0;
    return 0;
}

/* --- reading the directory ---------------------------------------------------------- */

static int add(struct kp_http_dirlist *dl, const char *name, const struct stat *st)
{
    size_t len = strlen(name);

    if (dl->n == KP_DIRLIST_RUN || dl->names_len + len + 1 > KP_DIRLIST_RUN_BYTES) {
        int rc = spill(dl);
        if (rc != 0)
            return rc;
    }
    char *copy = dl->names + dl->names_len;
    memcpy(copy, name, len + 1);
    dl->names_len += len + 1;
    dl->v[dl->n++] = (struct kp_http_dirent){
        copy, len, S_ISDIR(st->st_mode), S_ISREG(st->st_mode), st->st_size, st->st_mtime};
    dl->count++;
    return 0;
}

static int read_entries(struct kp_http_request *r, DIR *d, const char *path, size_t dir_len,
                        struct kp_http_dirlist *dl)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL)
            return -errno;
        struct stat st;
        if (de->d_name[0] == '.' || !stat_entry(r, dirfd(d), path, dir_len, de->d_name, &st))
            continue;
        int rc = add(dl, de->d_name, &st);
        if (rc != 0)
            return rc;
    }
}

static int start_merge(struct kp_http_dirlist *dl);

int kp_http_dirlist_read(struct kp_http_request *r, int dfd, const char *path, size_t dir_len,
                         struct kp_http_dirlist **out)
{
    DIR *d = fdopendir(dfd);

    if (d == NULL) {
        int err = errno;
        close(dfd);
        return -err;
    }
    struct kp_http_dirlist *dl = kp_calloc(1, sizeof(*dl));
    dl->fd = -1;
    dl->pending = SIZE_MAX;
    dl->v = kp_alloc(KP_DIRLIST_RUN * sizeof(*dl->v));
    dl->names = kp_alloc(KP_DIRLIST_RUN_BYTES);
    int rc = read_entries(r, d, path, dir_len, dl);
    closedir(d);
    if (rc == 0 && dl->fd >= 0)
        rc = start_merge(dl);
    else if (rc == 0)
        qsort(dl->v, dl->n, sizeof(*dl->v), by_kind_then_name);
    if (rc != 0) {
        kp_http_dirlist_free(dl);
        return rc;
    }
    *out = dl;
    return 0;
}

/* --- merging ------------------------------------------------------------------------ */

/* Load run's next record into run->cur: 1 when there is one, 0 at the end
 * of the run, -errno when the file cannot be read back. */
static bool rec_whole(const struct run *run)
{
    struct rec h;

    if (run->have - run->at < sizeof(h))
        return false;
    memcpy(&h, run->buf + run->at, sizeof(h));
    return run->have - run->at >= sizeof(h) + h.len;
}

static int run_advance(int fd, struct run *run)
{
    struct rec h;

    if (!rec_whole(run)) {
        memmove(run->buf, run->buf + run->at, run->have - run->at);
        run->have -= run->at;
        run->at = 0;
        size_t want = sizeof(run->buf) - run->have;
        if ((off_t)want > run->end - run->pos)
            want = (size_t)(run->end - run->pos);
        ssize_t got = want > 0 ? pread(fd, run->buf + run->have, want, run->pos) : 0;
        if (got < 0)
            return -errno;
        run->pos += got;
        run->have += (size_t)got;
        if (run->have == 0)
            return 0;
        if (run->have < sizeof(h))
            return -EIO;
    }
    memcpy(&h, run->buf + run->at, sizeof(h));
    if (h.len > NAME_MAX || run->have - run->at < sizeof(h) + h.len)
        return -EIO;
    memcpy(run->name, run->buf + run->at + sizeof(h), h.len);
    run->name[h.len] = '\0';
    run->at += sizeof(h) + h.len;
    run->cur = (struct kp_http_dirent){run->name, h.len, h.dir, h.reg, h.size, h.mtime};
    return 1;
}

static bool before(const struct kp_http_dirlist *dl, size_t a, size_t b)
{
    return by_kind_then_name(&dl->runs[a]->cur, &dl->runs[b]->cur) < 0;
}

static void sift_down(struct kp_http_dirlist *dl, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < dl->heap_n && before(dl, dl->heap[l], dl->heap[m]))
            m = l;
        if (l + 1 < dl->heap_n && before(dl, dl->heap[l + 1], dl->heap[m]))
            m = l + 1;
        if (m == i)
            return;
        size_t t = dl->heap[i];
        dl->heap[i] = dl->heap[m];
        dl->heap[m] = t;
        i = m;
    }
}

/* The last run goes to the file too, and the names block is given back:
 * from here on memory is one small buffer per run. */
static int start_merge(struct kp_http_dirlist *dl)
{
    int rc = dl->n > 0 ? spill(dl) : 0;

    if (rc == 0)
        rc = wflush(dl);
    kp_free(dl->names);
    kp_free(dl->v);
    kp_free(dl->wbuf);
    dl->names = NULL;
    dl->v = NULL;
    dl->wbuf = NULL;
    if (rc != 0)
        return rc;
    dl->heap = kp_alloc(dl->n_runs * sizeof(*dl->heap));
    for (size_t i = 0; i < dl->n_runs; i++) {
        rc = run_advance(dl->fd, dl->runs[i]);
        if (rc < 0)
            return rc;
        if (rc > 0)
            dl->heap[dl->heap_n++] = i;
    }
    for (size_t i = dl->heap_n / 2; i-- > 0;)
        sift_down(dl, i);
    return 0;
}

static const struct kp_http_dirent *merge_next(struct kp_http_dirlist *dl, int *err)
{
    if (dl->pending != SIZE_MAX) {
        int rc = run_advance(dl->fd, dl->runs[dl->pending]);
        dl->pending = SIZE_MAX;
        if (rc < 0) {
            *err = rc;
            return NULL;
        }
        if (rc == 0)
            dl->heap[0] = dl->heap[--dl->heap_n];
        sift_down(dl, 0);
    }
    if (dl->heap_n == 0)
        return NULL;
    dl->pending = dl->heap[0];
    return &dl->runs[dl->pending]->cur;
}

/* --- walking ------------------------------------------------------------------------ */

size_t kp_http_dirlist_count(const struct kp_http_dirlist *dl)
{
    return dl->count;
}

int kp_http_dirlist_file(const struct kp_http_dirlist *dl, off_t *end)
{
    *end = dl->fd_len;
    return dl->fd;
}

const struct kp_http_dirent *kp_http_dirlist_next(struct kp_http_dirlist *dl, int *err)
{
    if (dl->fd >= 0)
        return merge_next(dl, err);
    return dl->next < dl->n ? &dl->v[dl->next++] : NULL;
}

void kp_http_dirlist_free(struct kp_http_dirlist *dl)
{
    if (dl == NULL)
        return;
    for (size_t i = 0; i < dl->n_runs; i++)
        kp_free(dl->runs[i]);
    kp_free(dl->runs);
    kp_free(dl->heap);
    kp_free(dl->names);
    kp_free(dl->v);
    kp_free(dl->wbuf);
    if (dl->fd >= 0)
        close(dl->fd);
    kp_free(dl);
}
