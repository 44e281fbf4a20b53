/* Unit test runner: every Check suite in tests/unit/, one SRunner. */
#include <check.h>
#include <stdlib.h>

Suite *irc_suite(void);
Suite *buf_suite(void);
Suite *ipc_suite(void);
Suite *config_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(irc_suite());
    srunner_add_suite(sr, buf_suite());
    srunner_add_suite(sr, ipc_suite());
    srunner_add_suite(sr, config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
