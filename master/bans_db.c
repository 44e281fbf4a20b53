/* Admin bans in PostgreSQL (table admin_bans, migration 0009).
 *
 * The master has no event-driven database connection (the workers do), and
 * bans change only on an admin's command, so this is plain blocking libpq on
 * a connection opened for each change, with connect_timeout and
 * statement_timeout of 2 s: a database outage delays `parlorctl ban` by at
 * most that, and the ban still holds in memory (the reply says it was not
 * stored).  At start, after the migrations, the stored bans in force are
 * loaded and the expired ones deleted. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "master/master_int.h"

static char conninfo[1024];

static PGconn *db_open(char *err, size_t cap)
{
    const char *keys[] = { "dbname", "connect_timeout", "options", NULL };
    const char *vals[] = { conninfo, "2", "-c statement_timeout=2000", NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);    /* dbname may be a conninfo string */
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, cap, "database: %s", PQerrorMessage(c));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int db_exec(const char *sql, int n, const char *const *values, char *err, size_t cap)
{
    if (!conninfo[0])
        return 0;
    PGconn *c = db_open(err, cap);
    if (!c)
        return -1;
    PGresult *r = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc < 0) {
        snprintf(err, cap, "database: %s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = '\0';
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

void bans_db_init(const char *info)
{
    snprintf(conninfo, sizeof conninfo, "%s", info ? info : "");
    if (!conninfo[0])
        return;
    char err[512];
    PGconn *c = db_open(err, sizeof err);
    if (!c) {
        log_warn("bans: cannot load the stored bans: %s", err);
        return;
    }
    PQclear(PQexec(c, "DELETE FROM admin_bans WHERE until <= now()"));
    PGresult *r = PQexec(c, "SELECT mask, extract(epoch FROM until)::bigint, reason FROM admin_bans");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_warn("bans: cannot load the stored bans: %s", PQresultErrorMessage(r));
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            bans_loaded(PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1)), PQgetvalue(r, i, 2));
        if (PQntuples(r) > 0)
            log_info("bans: %d stored bans loaded", PQntuples(r));
    }
    PQclear(r);
    PQfinish(c);
}

int bans_db_put(const char *mask, long long until, const char *reason, char *err, size_t cap)
{
    char when[32];
    snprintf(when, sizeof when, "%lld", until);
    const char *v[3] = { mask, when, reason };
    return db_exec("INSERT INTO admin_bans (mask, until, reason) VALUES ($1, to_timestamp($2::bigint), $3)"
                   " ON CONFLICT (mask) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason,"
                   " set_at = now()", 3, v, err, cap);
}

int bans_db_del(const char *mask, char *err, size_t cap)
{
    const char *v[1] = { mask };
    return db_exec("DELETE FROM admin_bans WHERE mask = $1", 1, v, err, cap);
}
