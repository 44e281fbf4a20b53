/* See gameserv.h. */
#include "tests/integration/gameserv.h"

#include <stdio.h>
#include <string.h>

const char *it_gs_notice(struct it_client *c, const char *needle)
{
    char re[300];
    snprintf(re, sizeof re, "^" GS "NOTICE %s :.*", c->nick);
    long deadline = it_now_ms() + 10000;
    for (;;) {
        const char *l = it_wait_re(c, re, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no GameServ notice with '%s'", needle);
        if (strstr(l, needle))
            return l;
    }
}

const char *it_gs_room(struct it_client *c, const char *room, const char *needle)
{
    char pfx[128];
    snprintf(pfx, sizeof pfx, GS "PRIVMSG %s :", room);
    long deadline = it_now_ms() + 15000;
    for (;;) {
        const char *l = it_wait(c, pfx, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no '%s' from GameServ in %s", needle, room);
        if (strstr(l, needle))
            return l;
    }
}

void it_pg_text(const struct it_pg *pg, char *out, size_t cap, const char *sql, long id, const char *arg)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%ld", id);
    const char *params[2] = { ids, arg };
    PGresult *r = it_pg_query(pg, sql, arg ? 2 : 1, params);
    snprintf(out, cap, "%s", PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}
