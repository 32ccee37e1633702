/* One Check runner for a list of suites generated from the test file names
 * (KP_SUITES names the generated include: one KP_SUITE(name) per file).
 * Check's own CK_RUN_SUITE / CK_RUN_CASE environment variables select a part;
 * KP_TEST_SKIP="name,name" leaves suites out (Check has no such variable):
 * a concurrency model that runs on epoll only skips the io_uring suite. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KP_SUITE(name) Suite *kp_test_##name##_suite(void);
#include KP_SUITES
#undef KP_SUITE

static bool skipped(const char *name)
{
    const char *list = getenv("KP_TEST_SKIP");
    size_t len = strlen(name);

    for (const char *p = list; p != NULL && *p != '\0'; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    }
    return false;
}

int main(void)
{
    SRunner *sr = srunner_create(NULL);

#define KP_SUITE(name)                                                                             \
    if (!skipped(#name))                                                                           \
        srunner_add_suite(sr, kp_test_##name##_suite());
#include KP_SUITES
#undef KP_SUITE

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
