/* Schema migrations, applied by the master before it forks the workers (and
 * by `parlord migrate`).  Plain blocking libpq is right here: nothing else is
 * running yet.  An advisory lock keeps two servers starting at once from
 * applying the same file twice. */
#include "master/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/paths.h"

#define MAX_MIGRATIONS 256
#define LOCK_KEY "7306195101"   /* pg_advisory_lock key: "parlor" */

struct migration {
    int version;
    char name[256];
};

static int cmp_migration(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static int list_migrations(const char *dir, struct migration *m, int max, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "migrations directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 9 || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end != e->d_name + 4 || *end != '_' || v <= 0)
            continue;
        if (n == max)
            break;
        m[n].version = (int)v;
        snprintf(m[n].name, sizeof m[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    qsort(m, (size_t)n, sizeof *m, cmp_migration);
    for (int i = 1; i < n; i++)
        if (m[i].version == m[i - 1].version) {
            snprintf(err, errlen, "two migrations with number %04d: %s and %s", m[i].version,
                     m[i - 1].name, m[i].name);
            return -1;
        }
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct buf_s { char *p; size_t len, cap; } b = { NULL, 0, 0 };
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n + 1 > b.cap) {
            b.cap = (b.len + n + 1) * 2;
            char *p = realloc(b.p, b.cap);
            if (!p) {
                free(b.p);
                fclose(f);
                return NULL;
            }
            b.p = p;
        }
        memcpy(b.p + b.len, chunk, n);
        b.len += n;
    }
    fclose(f);
    if (!b.p)
        b.p = calloc(1, 1);
    else
        b.p[b.len] = '\0';
    return b.p;
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n'))
            err[--l] = '\0';
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int migrate_run(const char *conninfo, const char *dir_opt, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (dir_opt && dir_opt[0])
        snprintf(dir, sizeof dir, "%s", dir_opt);
    else
        data_dir("migrations", dir, sizeof dir);
    static struct migration m[MAX_MIGRATIONS];
    int n = list_migrations(dir, m, MAX_MIGRATIONS, err, errlen);
    if (n < 0)
        return -1;
    if (n == 0) {
        snprintf(err, errlen, "no migrations found in %s", dir);
        return -1;
    }
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        size_t l = strlen(err);
        while (l && err[l - 1] == '\n')
            err[--l] = '\0';
        PQfinish(c);
        return -1;
    }
    int rc = -1;
    char e2[512];
    if (exec_ok(c, "SET client_min_messages = warning", err, errlen) < 0 ||
        exec_ok(c, "SELECT pg_advisory_lock(" LOCK_KEY ")", err, errlen) < 0 ||
        exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version integer PRIMARY KEY, name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())", err, errlen) < 0)
        goto out;
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        goto out;
    }
    int current = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    int newest = m[n - 1].version;
    if (current > newest) {
        snprintf(err, errlen, "the database schema is version %d, newer than this parlord knows "
                 "(%d, in %s); refusing to run an older server against it", current, newest, dir);
        goto out;
    }
    int applied = 0;
    for (int i = 0; i < n; i++) {
        char version[16];
        snprintf(version, sizeof version, "%d", m[i].version);
        const char *p1[1] = { version };
        r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p1, NULL, NULL, 0);
        bool done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
        PQclear(r);
        if (done)
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, m[i].name);
        char *sql = read_file(path);
        if (!sql) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        int bad = exec_ok(c, "BEGIN", err, errlen) < 0 || exec_ok(c, sql, e2, sizeof e2) < 0;
        free(sql);
        if (bad) {
            snprintf(err, errlen, "migration %s failed: %s", m[i].name, e2);
            exec_ok(c, "ROLLBACK", e2, sizeof e2);
            goto out;
        }
        const char *p2[2] = { version, m[i].name };
        r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                         2, NULL, p2, NULL, NULL, 0);
        bad = PQresultStatus(r) != PGRES_COMMAND_OK;
        if (bad)
            snprintf(e2, sizeof e2, "%s", PQresultErrorMessage(r));
        PQclear(r);
        if (bad || exec_ok(c, "COMMIT", e2, sizeof e2) < 0) {
            snprintf(err, errlen, "migration %s failed: %s", m[i].name, e2);
            exec_ok(c, "ROLLBACK", e2, sizeof e2);
            goto out;
        }
        log_info("migration %s applied", m[i].name);
        applied++;
    }
    log_info("database schema at version %d (%d migration%s applied now)", newest, applied,
             applied == 1 ? "" : "s");
    rc = 0;
out:
    PQfinish(c);
    return rc;
}
