/* Unit tests for proc/worker_setup.c: in a forked child (the settings change
 * the process), env leaves TZ and the listed variables only, working_directory
 * changes the cwd, worker_rlimit_core sets RLIMIT_CORE. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kelpie/proc/worker_setup.h"

extern char **environ;

/* Exit code: 0 when everything holds, else the number of the failed check. */
static int child(void)
{
    char *env[] = {"KP_KEEP", "KP_SET=yes", "KP_MISSING"};
    struct kp_core_conf core = {
        .worker_rlimit_core = 4096, .working_directory = "/tmp", .env = env, .n_env = 3};
    char cwd[PATH_MAX];
    struct rlimit rl;
    size_t n = 0;

    setenv("KP_KEEP", "kept", 1);
    setenv("KP_DROP", "dropped", 1);
    setenv("TZ", "UTC", 1);
    kp_worker_setup_privileged(&core, NULL);
    kp_worker_setup_user(&core, NULL);
    if (getenv("KP_KEEP") == NULL || strcmp(getenv("KP_KEEP"), "kept") != 0)
        return 1;
    if (getenv("KP_SET") == NULL || strcmp(getenv("KP_SET"), "yes") != 0)
        return 2;
    if (getenv("KP_DROP") != NULL || getenv("PATH") != NULL || getenv("KP_MISSING") != NULL)
        return 3;
    if (getenv("TZ") == NULL || strcmp(getenv("TZ"), "UTC") != 0)
        return 4;
    for (char **e = environ; *e != NULL; e++)
        n++;
    if (n != 3)
        return 5;
    if (getcwd(cwd, sizeof(cwd)) == NULL || strcmp(cwd, "/tmp") != 0)
        return 6;
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 4096)
        return 7;
    return 0;
}

START_TEST(worker_settings)
{
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child());
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *kp_test_worker_setup_suite(void)
{
    Suite *s = suite_create("worker_setup");
    TCase *tc = tcase_create("worker_setup");

    tcase_add_test(tc, worker_settings);
    suite_add_tcase(s, tc);
    return s;
}
