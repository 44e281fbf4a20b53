/* parlord: command line, then the master (master/master.c). */
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/log.h"
#include "master/master.h"

int main(int argc, char **argv)
{
    static struct parlor_config cfg;
    char err[512];
    config_defaults(&cfg);
    int r = config_parse_args(&cfg, argc, argv, err, sizeof err);
    if (r > 0)
        return 0;
    if (r < 0) {
        fprintf(stderr, "parlord: %s\n(see parlord --help)\n", err);
        return 2;
    }
    log_set_level((enum log_level)cfg.log_level);
    log_set_role("master");
    return master_run(&cfg, argc, argv);
}
