/* Unit tests for the log files the master hands to its workers: reopening
 * under the same descriptor number, and passing the reopened files over a
 * channel so that the receiver's number refers to the new file. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kelpie/proc/logfiles.h"

static ino_t inode_of_fd(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return st.st_ino;
}

static ino_t inode_of_path(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_ino;
}

static void temp_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/kp-logfiles-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* After a rename (logrotate), reopening puts the new file under the number. */
START_TEST(reopen_keeps_the_number)
{
    char dir[64], path[128], moved[128];
    struct kp_log log;

    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(moved, sizeof(moved), "%s/access.log.1", dir);
    kp_log_init_stderr(&log, KP_LOG_ERR);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    struct kp_log_file f = {path, fd};
    struct kp_cycle cycle = {.log_files = &f, .n_log_files = 1};
    ck_assert_int_eq(kp_logfiles_fd(&cycle, path), fd);
    ck_assert_int_eq(kp_logfiles_fd(&cycle, moved), -1);

    ck_assert_int_eq(rename(path, moved), 0);
    ino_t old = inode_of_fd(fd);
    ck_assert_int_eq(kp_logfiles_reopen(&cycle, &log), 0);
    ck_assert(inode_of_fd(fd) != old);
    ck_assert(inode_of_fd(fd) == inode_of_path(path));
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    close(fd);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}
END_TEST

/* The receiver's number first refers to an old file (as a worker's does after
 * the master reopened); receiving puts the sender's file under it. */
START_TEST(send_and_receive)
{
    char dir[64], path[128], old_path[128];
    struct kp_log log;
    int chan[2];

    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/new.log", dir);
    snprintf(old_path, sizeof(old_path), "%s/old.log", dir);
    kp_log_init_stderr(&log, KP_LOG_ERR);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, chan), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int old = open(old_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(old, 0);
    struct kp_log_file f = {path, fd};
    struct kp_cycle cycle = {.log_files = &f, .n_log_files = 1};

    ck_assert_int_eq(kp_logfiles_send(chan[0], &cycle, &log), 0);
    ck_assert_int_ge(dup2(old, fd), 0);
    ck_assert(inode_of_fd(fd) == inode_of_path(old_path));
    ck_assert_int_eq(kp_logfiles_receive(chan[1], &log), 1);
    ck_assert(inode_of_fd(fd) == inode_of_path(path));
    /* Nothing more waiting: no descriptor replaced, no blocking. */
    ck_assert_int_eq(kp_logfiles_receive(chan[1], &log), 0);
    close(fd);
    close(old);
    close(chan[0]);
    close(chan[1]);
    unlink(path);
    unlink(old_path);
    rmdir(dir);
}
END_TEST

Suite *kp_test_logfiles_suite(void)
{
    Suite *s = suite_create("logfiles");
    TCase *tc = tcase_create("logfiles");

    tcase_add_test(tc, reopen_keeps_the_number);
    tcase_add_test(tc, send_and_receive);
    suite_add_tcase(s, tc);
    return s;
}
