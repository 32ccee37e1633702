/* One Check runner for a list of suites generated from the test file names
 * (KP_SUITES names the generated include: one KP_SUITE(name) per file).
 * Check's own CK_RUN_SUITE / CK_RUN_CASE environment variables select a part. */
#include <check.h>
#include <stdlib.h>

#define KP_SUITE(name) Suite *kp_test_##name##_suite(void);
#include KP_SUITES
#undef KP_SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);

#define KP_SUITE(name) srunner_add_suite(sr, kp_test_##name##_suite());
#include KP_SUITES
#undef KP_SUITE

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
