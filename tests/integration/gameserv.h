/* What the GameServ tests (test_game.c, test_cluster_x.c) wait for and read. */
#ifndef PARLOR_IT_GAMESERV_H
#define PARLOR_IT_GAMESERV_H

#include <stddef.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"

#define GS ":GameServ!GameServ@services.parlor.local "

/* Wait (10 s) for a NOTICE from GameServ to c containing `needle`. */
const char *it_gs_notice(struct it_client *c, const char *needle);
/* Wait (15 s) for GameServ's line in `room` containing `needle`. */
const char *it_gs_room(struct it_client *c, const char *room, const char *needle);
/* A query's single text value ("" for no row / NULL); $1 = id, $2 = arg
 * unless arg is NULL. */
void it_pg_text(const struct it_pg *pg, char *out, size_t cap, const char *sql, long id, const char *arg);

#endif
