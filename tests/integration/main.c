/* bin/test_integration: real parlord processes and real TCP clients.
 * PARLORD names the binary under test (default bin/parlord).  Check's
 * CK_RUN_SUITE / CK_RUN_CASE select a subset; --list prints the suites. */
#include "tests/integration/suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every suite, by name (scripts/test-integration.sh runs them in parallel,
 * one process per suite, selected with CK_RUN_SUITE). */
static const struct {
    const char *name;
    Suite *(*make)(void);
} suites[] = {
    { "harness", harness_suite },
    { "register", register_suite },
    { "channel", channel_suite },
    { "process", process_suite },
    { "control", control_suite },
    { "account", account_suite },
    { "store", store_suite },
    { "client", client_suite },
    { "history", history_suite },
    { "game", game_suite },
    { "hostile", hostile_suite },
    { "failover", failover_suite },
    { "limits", limits_suite },
    { "privacy", privacy_suite },
    { "order", order_suite },
    { "queries", queries_suite },
    { "oper", oper_suite },
    { "ux", ux_suite },
    { "tui", tui_suite },
    { "tags", tags_suite },
    { "caps", caps_suite },
    { "irssi", irssi_suite },
    { "firstday", firstday_suite },
    { "tls", tls_suite },
    { "left", left_suite },
    { "cluster", cluster_suite },
    { "clustermv", clustermv_suite },
    { "clusterops", clusterops_suite },
    { "clusterx", clusterx_suite },
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
            printf("%s\n", suites[i].name);
        return EXIT_SUCCESS;
    }
    const char *bin = getenv("PARLORD");
    if (!bin || !*bin)
        bin = "bin/parlord";
    /* Without a server the harness's own tests still run; every server
     * test then fails with this reason. */
    if (access(bin, X_OK) != 0)
        fprintf(stderr, "test_integration: %s is not executable (set PARLORD)\n", bin);
    /* The parlor clients the tests run keep their state (remembered
     * accounts, STS policies: every test server is 127.0.0.1) in a folder of
     * this run, never the user's: a policy left by one test would send
     * another's plaintext connections to a TLS port. */
    char state[] = "/tmp/parlor-it-state-XXXXXX";
    if (mkdtemp(state))
        setenv("XDG_STATE_HOME", state, 1);
    /* Line-buffered so the harness's diagnostics interleave with Check's. */
    setvbuf(stderr, NULL, _IOLBF, 0);

    SRunner *sr = srunner_create(suites[0].make());
    for (size_t i = 1; i < sizeof suites / sizeof suites[0]; i++)
        srunner_add_suite(sr, suites[i].make());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY, default normal */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char rm[64];
    snprintf(rm, sizeof rm, "rm -rf %s", state);
    if (state[0] && strstr(state, "XXXXXX") == NULL && system(rm) != 0)
        fprintf(stderr, "test_integration: could not remove %s\n", state);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
