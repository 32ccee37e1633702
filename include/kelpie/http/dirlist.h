/* The visible entries of one directory, sorted as autoindex lists them:
 * directories first, then by name in byte order.
 *
 * Which entries are visible: names starting with '.' are not, nor is a
 * symbolic link the location's disable_symlinks rule would refuse to open
 * (one leading out of the root, or any with `disable_symlinks on`).
 *
 * Memory is bounded however large the directory: entries are read in runs
 * of at most KP_DIRLIST_RUN entries (and KP_DIRLIST_RUN_BYTES of names).
 * A directory that fits in one run is sorted in memory; a larger one has
 * each run sorted and written to an unlinked temporary file, and the runs
 * are merged as the entries are walked, each run read through a small
 * buffer. Reading may block on the disk, as every directory read does. */
#ifndef KP_HTTP_DIRLIST_H
#define KP_HTTP_DIRLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define KP_DIRLIST_RUN       8192      /* entries sorted in memory at once */
#define KP_DIRLIST_RUN_BYTES (1 << 20) /* bytes of names in one run at most */

struct kp_http_request;

struct kp_http_dirent {
    const char *name; /* NUL-terminated; valid until the next kp_http_dirlist_next */
    size_t len;
    bool dir;
    bool reg;
    off_t size;
    time_t mtime;
};

struct kp_http_dirlist;

/* Read the visible entries of dfd (taken over and closed), the directory
 * path (NUL-terminated; its first dir_len bytes are the root it must stay
 * beneath, see http/docroot.h), under r's location rules. Returns 0 with
 * *out set (free it with kp_http_dirlist_free) or -errno (the directory
 * could not be read, or the temporary file of a large one not written). */
int kp_http_dirlist_read(struct kp_http_request *r, int dfd, const char *path, size_t dir_len,
                         struct kp_http_dirlist **out);

/* How many entries the walk yields in all. */
size_t kp_http_dirlist_count(const struct kp_http_dirlist *dl);

/* A spilled listing's temporary file, which the caller may append its own
 * output to (with pwrite, from *end on): the descriptor stays dl's (dup()
 * it to keep it). -1 when the listing was not spilled. */
int kp_http_dirlist_file(const struct kp_http_dirlist *dl, off_t *end);

/* The next entry in order, or NULL at the end or when reading a run back
 * failed (then *err is set to -errno; it is left alone otherwise). */
const struct kp_http_dirent *kp_http_dirlist_next(struct kp_http_dirlist *dl, int *err);

/* Release everything dl holds, its temporary file included. NULL is fine. */
void kp_http_dirlist_free(struct kp_http_dirlist *dl);

#endif
