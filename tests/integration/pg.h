/* A throwaway PostgreSQL for an integration suite: a real cluster started
 * with scripts/pg.sh in a private temporary directory (Unix socket only),
 * stopped and removed afterwards.  Use it from an unchecked fixture so the
 * cluster outlives the forked tests of the suite. */
#ifndef PARLOR_IT_PG_H
#define PARLOR_IT_PG_H

#include <libpq-fe.h>
#include <stdbool.h>

struct it_pg {
    char dir[128];
    char conninfo[512];
    bool running;
};

/* Create and start; returns 0 or -1 (with a message on stderr). */
int it_pg_start(struct it_pg *pg);
/* Stop the server (fast shutdown), keep the data: for restart tests. */
int it_pg_pause(struct it_pg *pg);
/* Start it again after it_pg_pause. */
int it_pg_resume(struct it_pg *pg);
/* Stop and remove everything. */
void it_pg_stop(struct it_pg *pg);
/* Run a parameterised query; the caller PQclear()s.  Aborts the current
 * test (ck_abort) on a connection or query error. */
PGresult *it_pg_query(const struct it_pg *pg, const char *sql, int nparams, const char *const *params);
/* First column of the first row as a long (0 when no rows). */
long it_pg_long(const struct it_pg *pg, const char *sql, int nparams, const char *const *params);

/* One cluster for a whole suite: tcase_add_unchecked_fixture(tc,
 * it_suite_pg_up, it_suite_pg_down); the tests use it_suite_pg.conninfo.
 * it_suite_pg_up exits the run if the cluster cannot start. */
extern struct it_pg it_suite_pg;
void it_suite_pg_up(void);
void it_suite_pg_down(void);

#endif
