#include "tests/integration/pg.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run scripts/pg.sh CMD DIR; capture its stdout into out (may be NULL). */
static int pg_sh(const char *cmd, const char *dir, char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "scripts/pg.sh", cmd, dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    char tmp[512];
    ssize_t n;
    while ((n = read(fds[0], tmp, sizeof tmp)) > 0)
        if (out && len + (size_t)n < cap) {
            memcpy(out + len, tmp, (size_t)n);
            len += (size_t)n;
        }
    close(fds[0]);
    if (out) {
        out[len] = '\0';
        while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
            out[--len] = '\0';
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "pg.sh %s %s failed\n", cmd, dir);
        return -1;
    }
    return 0;
}

int it_pg_start(struct it_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/parlor-pg-XXXXXX");
    if (!mkdtemp(pg->dir)) {
        perror("mkdtemp");
        return -1;
    }
    chmod(pg->dir, 0755);      /* the postgres user must reach its files */
    if (pg_sh("start", pg->dir, pg->conninfo, sizeof pg->conninfo) < 0)
        return -1;
    pg->running = true;
    return 0;
}

int it_pg_pause(struct it_pg *pg)
{
    int r = pg_sh("stop", pg->dir, NULL, 0);
    if (r == 0)
        pg->running = false;
    return r;
}

int it_pg_resume(struct it_pg *pg)
{
    char ignored[512];
    int r = pg_sh("start", pg->dir, ignored, sizeof ignored);
    if (r == 0)
        pg->running = true;
    return r;
}

void it_pg_stop(struct it_pg *pg)
{
    if (!pg->dir[0])
        return;
    if (pg->running)
        pg_sh("stop", pg->dir, NULL, 0);
    pg->running = false;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", pg->dir);
    pg->dir[0] = '\0';
}

PGresult *it_pg_query(const struct it_pg *pg, const char *sql, int nparams, const char *const *params)
{
    PGconn *c = PQconnectdb(pg->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[1200];
        snprintf(msg, sizeof msg, "connect %s: %s", pg->conninfo, PQerrorMessage(c));
        PQfinish(c);
        ck_abort_msg("%s", msg);
    }
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    int st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        char msg[4096];
        snprintf(msg, sizeof msg, "query failed: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        ck_abort_msg("%s", msg);
    }
    PQfinish(c);
    return r;
}

long it_pg_long(const struct it_pg *pg, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = it_pg_query(pg, sql, nparams, params);
    long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

struct it_pg it_suite_pg;

void it_suite_pg_up(void)
{
    if (it_pg_start(&it_suite_pg) < 0) {
        fprintf(stderr, "cannot start PostgreSQL for the suite\n");
        exit(1);
    }
}

void it_suite_pg_down(void)
{
    it_pg_stop(&it_suite_pg);
}
