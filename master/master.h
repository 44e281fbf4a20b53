#ifndef PARLOR_MASTER_H
#define PARLOR_MASTER_H

#include "common/config.h"

/* Runs the master until SIGTERM/SIGINT; returns the exit status. */
int master_run(const struct parlor_config *cfg, int argc, char **argv);
/* `parlord hash-password` (master/hash_password.c): exit status. */
int hash_password_main(void);

#endif
