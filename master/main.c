/* parlord: command line, then the master (master/master.c). */
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "master/master.h"
#include "master/migrate.h"

int main(int argc, char **argv)
{
    static struct parlor_config cfg;
    char err[512];
    config_defaults(&cfg);
    if (argc == 2 && strcmp(argv[1], "hash-password") == 0)
        return hash_password_main();
    /* `parlord migrate [flags]`: apply the schema and exit. */
    bool migrate_only = argc > 1 && strcmp(argv[1], "migrate") == 0;
    if (migrate_only) {
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    int r = config_parse_args(&cfg, argc, argv, err, sizeof err);
    if (r > 0)
        return 0;
    if (r < 0) {
        fprintf(stderr, "parlord: %s\n(see parlord --help)\n", err);
        return 2;
    }
    if (config_cluster_finish(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "parlord: %s\n", err);
        return 2;
    }
    log_set_level((enum log_level)cfg.log_level);
    log_set_role("master");
    if (migrate_only && !cfg.database[0]) {
        fprintf(stderr, "parlord migrate: no database: give --database CONNINFO or set PARLOR_DATABASE_URL\n");
        return 2;
    }
    if (cfg.database[0] && migrate_run(cfg.database, cfg.migrations_dir, err, sizeof err) < 0) {
        log_error("database: %s", err);
        return 1;
    }
    if (migrate_only)
        return 0;
    return master_run(&cfg, argc, argv);
}
