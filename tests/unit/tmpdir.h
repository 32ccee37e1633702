/* A scratch directory for unit tests that write files: made with mkdtemp()
 * under /tmp, removed with everything in it. */
#ifndef KP_TEST_TMPDIR_H
#define KP_TEST_TMPDIR_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static inline int tmpdir_rm_entry(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Make "/tmp/<name>_XXXXXX/" in dir (at least 64 bytes), trailing '/' kept. */
static inline void tmpdir_make(char *dir, const char *name)
{
    snprintf(dir, 64, "/tmp/%s_XXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    strcat(dir, "/");
}

static inline void tmpdir_remove(const char *dir)
{
    nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
