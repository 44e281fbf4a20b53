/* The sessions table: one row per connection (who, from where, when, why
 * they left).  Rows are written with fire-and-forget statements: a session
 * row is bookkeeping, not a chat message, so while PostgreSQL is down these
 * writes are skipped (and logged once by the store) rather than spooled. */
#include <stdio.h>

#include "worker/store.h"
#include "worker/worker_int.h"

static void id_str(const struct client *c, char *out, size_t cap)
{
    snprintf(out, cap, "%lld", (long long)c->id);
}

void session_open(struct client *c)
{
    if (!store_available())
        return;
    char id[32], port[16], worker[16], at[32];
    id_str(c, id, sizeof id);
    snprintf(port, sizeof port, "%d", c->port);
    snprintf(worker, sizeof worker, "%d", W.slot);
    snprintf(at, sizeof at, "%.6f", c->signon);
    const char *v[5] = { id, c->ip, port, worker, at };
    store_query("INSERT INTO sessions (client_id, remote_addr, remote_port, worker, connected_at)"
                " VALUES ($1, $2, $3, $4, to_timestamp($5::double precision))",
                5, v, NULL, NULL);
}

void session_registered(struct client *c)
{
    char id[32], at[32];
    id_str(c, id, sizeof id);
    snprintf(at, sizeof at, "%.6f", W.now);
    const char *v[4] = { id, c->nick, at, c->account[0] ? c->account : NULL };
    if (store_available())
        store_query("UPDATE sessions SET nick = $2, nicks = array_append(nicks, $2),"
                    " registered_at = to_timestamp($3::double precision), account = coalesce($4, account)"
                    " WHERE client_id = $1 AND disconnected_at IS NULL", 4, v, NULL, NULL);
}

void session_nick(struct client *c)
{
    char id[32];
    id_str(c, id, sizeof id);
    const char *v[2] = { id, c->nick };
    if (store_available() && c->registered)
        store_query("UPDATE sessions SET nick = $2, nicks = array_append(nicks, $2)"
                    " WHERE client_id = $1 AND disconnected_at IS NULL", 2, v, NULL, NULL);
}

void session_account(struct client *c)
{
    char id[32];
    id_str(c, id, sizeof id);
    const char *v[2] = { id, c->account[0] ? c->account : NULL };
    if (store_available())
        store_query("UPDATE sessions SET account = $2 WHERE client_id = $1 AND disconnected_at IS NULL",
                    2, v, NULL, NULL);
}

void session_close(struct client *c, const char *reason)
{
    worker_client_gone(c->ip);      /* the master's count of this address */
    char id[32], at[32];
    id_str(c, id, sizeof id);
    snprintf(at, sizeof at, "%.6f", W.now);
    const char *v[3] = { id, at, reason };
    if (store_available())
        store_query("UPDATE sessions SET disconnected_at = to_timestamp($2::double precision),"
                    " quit_reason = $3 WHERE client_id = $1 AND disconnected_at IS NULL",
                    3, v, NULL, NULL);
}
