/* The worker's PostgreSQL connection: asynchronous, pipelined, batched.
 *
 * Each worker has one non-blocking libpq connection driven by its libuv loop
 * (a uv_poll_t on PQsocket) in pipeline mode: statements are sent without
 * waiting and their results come back in order; the loop never blocks on the
 * database.  Messages are not written one by one: every message queued during
 * a loop iteration goes into one multi-row INSERT (arrays + unnest).
 *
 * Nothing acknowledged is lost: store_message's callback runs once the
 * message is durable, either committed in PostgreSQL or, while PostgreSQL is
 * unreachable, appended and fsync'd to this worker's spool file, which is
 * replayed into PostgreSQL in order when it is back (msgid is unique, so a
 * replay never writes a message twice).
 *
 * Without a database (no --database) every call still works: messages are
 * "durable" at once (nothing is stored) and queries fail with an error. */
#ifndef PARLOR_WORKER_STORE_H
#define PARLOR_WORKER_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* A query finished.  On success `res` is the result (valid only during the
 * call) and `error` is NULL; on failure `res` is NULL and `error` says why
 * ("database unavailable" when there is no connection).  `arg` is the
 * caller's; look client ids up again, the client may be gone. */
typedef void store_query_cb(void *arg, const PGresult *res, const char *error);

/* Send a parameterised statement (text parameters, text results).  The
 * callback may be NULL for writes nobody waits for.  Never blocks. */
void store_query(const char *sql, int nparams, const char *const *values,
                 store_query_cb *cb, void *arg);

/* How many queries and messages have been queued with a callback so far
 * (a callback may answer a client later: worker/order.c). */
uint64_t store_submitted(void);

/* Is the connection up right now? */
bool store_available(void);
/* Up, or being set up (queries made now are sent once it is up). */
bool store_usable(void);
/* "connected", "connecting", "down (spooling)", "not configured". */
const char *store_state(void);
/* Messages in the spool that PostgreSQL does not have yet. */
uint64_t store_spool_depth(void);

struct store_msg {
    const char *target;        /* channel, or the recipient's nick */
    const char *conversation;  /* folded channel, or "a b" for private */
    bool is_private;
    const char *sender_nick;
    const char *sender_account; /* NULL when not logged in */
    const char *command;       /* PRIVMSG or NOTICE */
    const char *body;
    const char *msgid;
    uint64_t seq;
    double time;               /* wall clock seconds */
    /* Private messages only (0 / NULL for channels): both sides' connection
     * and the recipient's account, and the owner keys history reads by
     * (migrations/0005_private_history_owners.sql, history_private_key). */
    uint64_t sender_client, target_client;
    const char *target_account;    /* NULL when not logged in */
    const char *sender_key, *target_key;
    const char *client_tags;   /* "+a=b;+c" as received, or NULL / "" (migration 0007) */
};

typedef void store_durable_cb(void *arg);
/* Queue a message for the next batch; `cb` runs when it is durable.
 * Callbacks run in the order messages were queued. */
void store_message(const struct store_msg *m, store_durable_cb *cb, void *arg);

/* `cb` runs once everything queued so far (messages and queries) has
 * finished and is durable (worker/order.c, worker/outbox.c). */
void store_barrier(store_durable_cb *cb, void *arg);
/* Are messages queued for the next batch (not sent yet)? */
bool store_pending(void);
/* `cb` runs once every query made so far has been answered, without waiting
 * for queued messages to be stored (at once when no query is out). */
void store_sync(store_durable_cb *cb, void *arg);

/* Called by the worker: start (connect in the background), flush the batch
 * of this loop iteration, and stop (flush, then close). */
void store_init(const char *conninfo, const char *spool_dir);
void store_flush(void);
void store_close(void);

/* A new unique message id (base32, 16 characters) into out[17]. */
void store_new_msgid(char out[17]);

#endif
