/* bin/test_integration: real parlord processes and real TCP clients.
 * PARLORD names the binary under test (default bin/parlord).  Check's
 * CK_RUN_SUITE / CK_RUN_CASE select a subset. */
#include "tests/integration/suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    const char *bin = getenv("PARLORD");
    if (!bin || !*bin)
        bin = "bin/parlord";
    /* Without a server the harness's own tests still run; every server
     * test then fails with this reason. */
    if (access(bin, X_OK) != 0)
        fprintf(stderr, "test_integration: %s is not executable (set PARLORD)\n", bin);
    /* Line-buffered so the harness's diagnostics interleave with Check's. */
    setvbuf(stderr, NULL, _IOLBF, 0);

    SRunner *sr = srunner_create(harness_suite());
    srunner_add_suite(sr, register_suite());
    srunner_add_suite(sr, channel_suite());
    srunner_add_suite(sr, process_suite());
    srunner_add_suite(sr, control_suite());
    srunner_add_suite(sr, account_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, client_suite());
    srunner_add_suite(sr, history_suite());
    srunner_add_suite(sr, game_suite());
    srunner_add_suite(sr, hostile_suite());
    srunner_add_suite(sr, failover_suite());
    srunner_add_suite(sr, limits_suite());
    srunner_add_suite(sr, privacy_suite());
    srunner_add_suite(sr, caps_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY, default normal */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
