/* Unit tests for the open-file cache (filecache.c): one fstat() per loop
 * turn, small files' bytes kept in memory, a change in place seen on the
 * next turn and the kept bytes dropped with it, recently changed files never
 * copied, and a response keeping old bytes alive through its reference;
 * with inotify, a stat taken again only once a change report has been read
 * by a turn of the loop (on each backend that has one here). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kelpie/event/loop.h"
#include "kelpie/http/cond.h"
#include "kelpie/http/filecache.h"
#include "tmpdir.h"

struct fixture {
    char dir[64];
    char path[128];
    size_t dir_len;
    struct kp_http_filecache fc;
    struct kp_http_docroots roots;
    struct kp_clock now;
};

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(struct fixture *x, const char *text)
{
    *x = (struct fixture){0};
    tmpdir_make(x->dir, "kp_filecache");
    x->dir_len = strlen(x->dir) - 1;
    snprintf(x->path, sizeof(x->path), "%sf.txt", x->dir);
    put_file(x->path, text);
    kp_http_filecache_init(&x->fc, 8, 60000, 60000);
    kp_clock_update(&x->now);
}

static void teardown(struct fixture *x)
{
    kp_http_filecache_free(&x->fc);
    kp_http_docroots_free(&x->roots);
    tmpdir_remove(x->dir);
}

static int lookup(struct fixture *x, struct stat *st, struct kp_http_file **held)
{
    int fd = kp_http_filecache_open(&x->fc, &x->roots, x->path, x->dir_len, KP_SYMLINKS_BENEATH,
                                    &x->now, st, held);

    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(*held);
    return fd;
}

/* The clock of a later turn, KP_HTTP_FILECACHE_RACY_S past now: the file's
 * last change is then old enough for its bytes to be kept. */
static void later_turn(struct fixture *x)
{
    x->now.turn++;
    x->now.sec += KP_HTTP_FILECACHE_RACY_S + 1;
}

START_TEST(filecache_body_in_memory)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held;

    setup(&x, "hello\n");
    lookup(&x, &st, &held);
    /* Written just now: not copied (a second write could go unseen). */
    ck_assert_ptr_null(kp_http_filecache_body(&x.fc, held, &x.now, false));
    kp_http_filecache_release(held);
    later_turn(&x);
    lookup(&x, &st, &held);
    const char *body = kp_http_filecache_body(&x.fc, held, &x.now, false);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(memcmp(body, "hello\n", 6), 0);
    ck_assert_uint_eq(x.fc.data_bytes, 6);
    kp_http_filecache_release(held);
    teardown(&x);
}
END_TEST

/* Within one turn the stat is reused; the next turn sees a change made in
 * place, and the bytes kept for the old version go (a response still
 * holding them keeps them). */
START_TEST(filecache_change_in_place)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held, *old;

    setup(&x, "version one\n");
    later_turn(&x);
    lookup(&x, &st, &old);
    const char *body = kp_http_filecache_body(&x.fc, old, &x.now, false);
    ck_assert_ptr_nonnull(body);
    /* Same length, so only the timestamps tell the versions apart. */
    usleep(20000);
    put_file(x.path, "version two\n");
    lookup(&x, &st, &held);
    ck_assert_ptr_eq(held, old); /* same turn: the stat taken earlier in it */
    kp_http_filecache_release(held);
    later_turn(&x);
    lookup(&x, &st, &held);
    ck_assert_ptr_ne(held, old);
    ck_assert_int_eq(memcmp(body, "version one\n", 12), 0); /* old's reference keeps it */
    const char *now_body = kp_http_filecache_body(&x.fc, held, &x.now, false);
    ck_assert_ptr_nonnull(now_body);
    ck_assert_int_eq(memcmp(now_body, "version two\n", 12), 0);
    ck_assert_uint_eq(x.fc.data_bytes, 12);
    kp_http_filecache_release(held);
    kp_http_filecache_release(old);
    teardown(&x);
}
END_TEST

/* The ETag kept with an entry is the one kp_http_cond_etag makes of the
 * stat given, formatted again when a change in place gives another. */
START_TEST(filecache_etag_per_version)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held;
    char want[KP_HTTP_ETAG_SIZE];

    setup(&x, "one\n");
    lookup(&x, &st, &held);
    size_t n = kp_http_cond_etag(want, st.st_mtime, (uint64_t)st.st_size);
    struct kp_str tag = kp_http_filecache_etag(held, &st);
    ck_assert_uint_eq(tag.len, n);
    ck_assert_int_eq(memcmp(tag.p, want, n + 1), 0);
    tag = kp_http_filecache_etag(held, &st);
    ck_assert_int_eq(memcmp(tag.p, want, n + 1), 0);
    kp_http_filecache_release(held);
    /* Another size and an mtime a second later: another tag. */
    put_file(x.path, "version two\n");
    struct timespec t[2] = {{.tv_sec = st.st_mtime + 1}, {.tv_sec = st.st_mtime + 1}};
    ck_assert_int_eq(utimensat(AT_FDCWD, x.path, t, 0), 0);
    later_turn(&x);
    lookup(&x, &st, &held);
    n = kp_http_cond_etag(want, st.st_mtime, (uint64_t)st.st_size);
    tag = kp_http_filecache_etag(held, &st);
    ck_assert_uint_eq(tag.len, n);
    ck_assert_int_eq(memcmp(tag.p, want, n + 1), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, 12);
    kp_http_filecache_release(held);
    teardown(&x);
}
END_TEST

/* A file's Content-Type is kept per types table and default_type: a
 * location with another table or default gets its own, not the last one. */
START_TEST(filecache_mime_per_table)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held;
    struct kp_http_type text[] = {{.ext = "txt", .type = "text/plain"}};
    struct kp_http_type other[] = {{.ext = "txt", .type = "text/x-other"}};
    struct kp_http_types t1 = {text, 1}, t2 = {other, 1};
    struct kp_http_loc_conf a = {.types = &t1, .default_type = "application/octet-stream"};
    struct kp_http_loc_conf b = {.types = &t2, .default_type = "application/octet-stream"};
    struct kp_http_loc_conf c = {.types = NULL, .default_type = "application/x-none"};

    setup(&x, "one\n");
    lookup(&x, &st, &held);
    ck_assert_str_eq(kp_http_filecache_mime(held, &a).p, "text/plain");
    ck_assert_str_eq(kp_http_filecache_mime(held, &b).p, "text/x-other");
    ck_assert_str_eq(kp_http_filecache_mime(held, &c).p, "application/x-none");
    struct kp_str again = kp_http_filecache_mime(held, &a);
    ck_assert_uint_eq(again.len, strlen("text/plain"));
    ck_assert_str_eq(again.p, "text/plain");
    kp_http_filecache_release(held);
    teardown(&x);
}
END_TEST

/* Without kept bytes a change in place only updates the stat, as before. */
START_TEST(filecache_stat_once_per_turn)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held;

    setup(&x, "short\n");
    lookup(&x, &st, &held);
    kp_http_filecache_release(held);
    put_file(x.path, "a longer text\n");
    lookup(&x, &st, &held);
    ck_assert_int_eq((int)st.st_size, 6);
    kp_http_filecache_release(held);
    x.now.turn++;
    lookup(&x, &st, &held);
    ck_assert_int_eq((int)st.st_size, 14);
    ck_assert_ptr_null(kp_http_filecache_body(&x.fc, held, &x.now, false)); /* changed just now */
    kp_http_filecache_release(held);
    teardown(&x);
}
END_TEST

START_TEST(filecache_large_not_kept)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held;
    static char big[KP_HTTP_FILECACHE_BODY_MAX + 2];

    memset(big, 'x', sizeof(big) - 1);
    setup(&x, big);
    later_turn(&x);
    lookup(&x, &st, &held);
    ck_assert_ptr_null(kp_http_filecache_body(&x.fc, held, &x.now, false));
    ck_assert_uint_eq(x.fc.data_bytes, 0);
    kp_http_filecache_release(held);
    teardown(&x);
}
END_TEST

/* aio threads: a path whose lookup needs no disk read is opened by the
 * probe as by an open (a path just written is in the kernel's caches); an
 * open made elsewhere beneath the held root is adopted into the cache (the
 * next open is a hit on that very descriptor); the held root confines that
 * open as an inline one (a link out of the root is refused). */
START_TEST(filecache_probe_and_adopt)
{
    struct fixture x;
    struct stat st, st2;
    struct kp_http_file *held, *again;

    setup(&x, "hello\n");
    int fd = kp_http_filecache_probe(&x.fc, &x.roots, x.path, x.dir_len, KP_SYMLINKS_BENEATH,
                                     &x.now, &st, &held);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(st.st_size, 6);
    kp_http_filecache_release(held);
    kp_http_filecache_free(&x.fc);
    kp_http_filecache_init(&x.fc, 8, 60000, 60000);

    int root = kp_http_docroot_hold(&x.roots, x.path, x.dir_len, KP_SYMLINKS_BENEATH, 0);
    ck_assert_int_ge(root, 0);
    fd = kp_http_docroot_open_stat_at(root, x.path, x.dir_len, KP_SYMLINKS_BENEATH,
                                      O_RDONLY | O_NONBLOCK, &st);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(kp_http_filecache_adopt(&x.fc, fd, x.path, x.dir_len, KP_SYMLINKS_BENEATH,
                                             &x.now, &st, &held),
                     fd);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(lookup(&x, &st2, &again), fd);
    ck_assert_ptr_eq(again, held);
    kp_http_filecache_release(again);
    kp_http_filecache_release(held);

    char link[128];
    snprintf(link, sizeof(link), "%sout", x.dir);
    ck_assert_int_eq(symlink("/etc/hostname", link), 0);
    ck_assert_int_eq(
        kp_http_docroot_open_stat_at(root, link, x.dir_len, KP_SYMLINKS_BENEATH, O_RDONLY, &st),
        -EXDEV);
    ck_assert_int_eq(
        kp_http_docroot_open_stat_at(root, link, x.dir_len, KP_SYMLINKS_NONE, O_RDONLY, &st),
        -ELOOP);
    close(root);
    ck_assert_int_eq(kp_http_docroot_hold(&x.roots, link, x.dir_len, KP_SYMLINKS_FOLLOW, 0),
                     AT_FDCWD);
    teardown(&x);
}
END_TEST

/* nowait: bytes in the page cache are copied as without it (a file just
 * written is there). */
START_TEST(filecache_body_nowait_cached)
{
    struct fixture x;
    struct stat st;
    struct kp_http_file *held;

    setup(&x, "hello\n");
    later_turn(&x);
    lookup(&x, &st, &held);
    const char *body = kp_http_filecache_body(&x.fc, held, &x.now, true);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(memcmp(body, "hello\n", 6), 0);
    kp_http_filecache_release(held);
    teardown(&x);
}
END_TEST

/* The loop's turns for the watch tests: the cache's lookups use its clock. */
static void watch_setup(struct fixture *x, struct kp_loop *loop, enum kp_event_use use)
{
    setup(x, "short\n");
    ck_assert_int_eq(kp_loop_init(loop, use, 8, NULL), 0);
    ck_assert_int_eq(kp_http_filecache_watch(&x->fc, loop), 0);
}

static void watch_teardown(struct fixture *x, struct kp_loop *loop)
{
    teardown(x);
    kp_loop_free(loop);
}

static off_t size_seen(struct fixture *x, struct kp_loop *loop)
{
    struct stat st;
    struct kp_http_file *held;
    int fd = kp_http_filecache_open(&x->fc, &x->roots, x->path, x->dir_len, KP_SYMLINKS_BENEATH,
                                    &loop->clock, &st, &held);

    if (fd < 0)
        return fd;
    ck_assert_ptr_nonnull(held);
    kp_http_filecache_release(held);
    return st.st_size;
}

/* io_uring runs as epoll where the kernel does not have it. */
static const enum kp_event_use watch_backends[] = {KP_EVENT_EPOLL, KP_EVENT_POLL, KP_EVENT_SELECT,
                                                   KP_EVENT_IO_URING};

/* Watched: a change is seen in the first turn whose wait follows it (the
 * report read before the lookups), and only then: a lookup in a turn that
 * has not read the report trusts the stat it has (what saves the fstat()
 * per turn). A turn whose wait may have left reports behind (partial_turn)
 * takes the stat again. */
START_TEST(filecache_watch_change)
{
    struct fixture x;
    struct kp_loop loop;

    watch_setup(&x, &loop, watch_backends[_i]);
    ck_assert_int_eq((int)size_seen(&x, &loop), 6);
    kp_loop_run_once(&loop, 0);
    ck_assert_int_eq((int)size_seen(&x, &loop), 6); /* the first stat the watch covers */
    put_file(x.path, "a longer text\n");
    kp_clock_update(&loop.clock); /* a turn that read nothing */
    ck_assert_int_eq((int)size_seen(&x, &loop), 6);
    kp_loop_run_once(&loop, 1000);
    ck_assert_int_eq((int)size_seen(&x, &loop), 14);
    put_file(x.path, "tiny\n");
    kp_clock_update(&loop.clock);
    loop.partial_turn = loop.clock.turn;
    ck_assert_int_eq((int)size_seen(&x, &loop), 5);
    watch_teardown(&x, &loop);
}
END_TEST

/* Watched: a deleted file is never served from the cache; a file replaced
 * by rename is seen as soon as its old inode's last link goes. */
START_TEST(filecache_watch_delete_and_replace)
{
    struct fixture x;
    struct kp_loop loop;
    char other[160];

    watch_setup(&x, &loop, watch_backends[_i]);
    ck_assert_int_eq((int)size_seen(&x, &loop), 6);
    kp_loop_run_once(&loop, 0);
    ck_assert_int_eq((int)size_seen(&x, &loop), 6);
    snprintf(other, sizeof(other), "%sg.txt", x.dir);
    put_file(other, "replacement\n");
    ck_assert_int_eq(rename(other, x.path), 0);
    kp_loop_run_once(&loop, 1000);
    ck_assert_int_eq((int)size_seen(&x, &loop), 12);
    kp_loop_run_once(&loop, 0);
    ck_assert_int_eq(unlink(x.path), 0);
    kp_loop_run_once(&loop, 1000);
    ck_assert_int_eq((int)size_seen(&x, &loop), -ENOENT);
    watch_teardown(&x, &loop);
}
END_TEST

/* Two entries on one inode (one file under two symlink rules): the first
 * is watched, the second is not (an inode has one watch per instance, and
 * evicting the first must not leave the second trusting a watch that is
 * gone), so the second takes a stat per turn. Once the first is evicted
 * (its path opened again after open_file_cache_valid) and replaced, the
 * second still sees every change. The clock's msec is set by hand after
 * each turn (the loop reads the real one). */
START_TEST(filecache_watch_shared_inode)
{
    struct fixture x;
    struct kp_loop loop;
    struct stat st;
    struct kp_http_file *b, *again;
    uint64_t ms = 1000000;

    watch_setup(&x, &loop, watch_backends[_i]);
    loop.clock.msec = ms;
    ck_assert_int_eq((int)size_seen(&x, &loop), 6); /* entry a, watched */
    loop.clock.msec = ms + 40000;
    ck_assert_int_ge(kp_http_filecache_open(&x.fc, &x.roots, x.path, x.dir_len, KP_SYMLINKS_FOLLOW,
                                            &loop.clock, &st, &b),
                     0);
    kp_http_filecache_release(b);
    kp_loop_run_once(&loop, 0);
    loop.clock.msec = ms + 40000;
    ck_assert_int_eq((int)size_seen(&x, &loop), 6); /* a's first covered stat */
    ck_assert_int_ge(kp_http_filecache_open(&x.fc, &x.roots, x.path, x.dir_len, KP_SYMLINKS_FOLLOW,
                                            &loop.clock, &st, &again),
                     0);
    ck_assert_ptr_eq(again, b); /* a stat after a turn, as a's */
    kp_http_filecache_release(again);
    put_file(x.path, "a longer text\n");
    kp_clock_update(&loop.clock); /* a turn that read nothing */
    loop.clock.msec = ms + 40000;
    ck_assert_int_eq((int)size_seen(&x, &loop), 6); /* a trusts its watch */
    ck_assert_int_ge(kp_http_filecache_open(&x.fc, &x.roots, x.path, x.dir_len, KP_SYMLINKS_FOLLOW,
                                            &loop.clock, &st, &again),
                     0);
    ck_assert_ptr_eq(again, b);
    ck_assert_int_eq((int)st.st_size, 14); /* b is not watched: a stat per turn */
    kp_http_filecache_release(again);
    kp_loop_run_once(&loop, 1000);
    loop.clock.msec = ms + 60001; /* a is past valid: evicted, opened again */
    ck_assert_int_eq((int)size_seen(&x, &loop), 14);
    kp_loop_run_once(&loop, 1000); /* its old watch's IN_IGNORED */
    put_file(x.path, "tiny\n");
    kp_clock_update(&loop.clock);
    loop.clock.msec = ms + 60001;
    ck_assert_int_ge(kp_http_filecache_open(&x.fc, &x.roots, x.path, x.dir_len, KP_SYMLINKS_FOLLOW,
                                            &loop.clock, &st, &again),
                     0);
    ck_assert_ptr_eq(again, b);
    ck_assert_int_eq((int)st.st_size, 5);
    kp_http_filecache_release(again);
    watch_teardown(&x, &loop);
}
END_TEST

Suite *kp_test_filecache_suite(void)
{
    Suite *s = suite_create("filecache");
    TCase *tc = tcase_create("filecache");

    tcase_add_test(tc, filecache_body_in_memory);
    tcase_add_test(tc, filecache_change_in_place);
    tcase_add_test(tc, filecache_etag_per_version);
    tcase_add_test(tc, filecache_mime_per_table);
    tcase_add_test(tc, filecache_stat_once_per_turn);
    tcase_add_test(tc, filecache_large_not_kept);
    tcase_add_test(tc, filecache_probe_and_adopt);
    tcase_add_test(tc, filecache_body_nowait_cached);
    tcase_add_loop_test(tc, filecache_watch_change, 0,
                        (int)(sizeof(watch_backends) / sizeof(watch_backends[0])));
    tcase_add_loop_test(tc, filecache_watch_delete_and_replace, 0,
                        (int)(sizeof(watch_backends) / sizeof(watch_backends[0])));
    tcase_add_loop_test(tc, filecache_watch_shared_inode, 0,
                        (int)(sizeof(watch_backends) / sizeof(watch_backends[0])));
    suite_add_tcase(s, tc);
    return s;
}
