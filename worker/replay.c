/* A room's recent messages on JOIN (join-replay), like Ergo's auto-replay.
 *
 * A client that did not negotiate draft/chathistory (it would fetch them
 * itself) gets, right after its JOIN's NAMES, the room's last `join-replay`
 * messages (default 10; 0 turns it off) from PostgreSQL, marked as history:
 *   - with the batch cap, in a `chathistory` batch (as CHATHISTORY answers);
 *   - without it, between two NOTICEs to the room from the server ("Recent
 *     messages of #room:" and "End of recent messages"), which irssi shows in
 *     the room's window;
 *   - a client that gets no time tag (no server-time) sees each message's
 *     time in front of its text ("[12:03] hello", ZNC's playback form); one
 *     with server-time (irssi >= 1.2.3) shows the stored time as the line's.
 *
 * Only rooms, and only to a client whose JOIN succeeded: it may read the
 * room's history anyway (CHATHISTORY allows every member), so +s and +i rooms
 * replay only to those let in.  Only the messages numbered up to the room's
 * message number when the JOIN was applied here are replayed; later ones
 * reach the client live.  One stored a moment before the JOIN may still be in
 * its owner's batch: when the newest row is older than that number the query
 * is made again a little later (a few times at most).
 *
 * Order: the JOIN command holds its client's next command (order_hold) until
 * the replay is sent or there is none, so the replay is one of the JOIN's
 * replies, inside its labeled-response batch too. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define RETRIES 4
#define RETRY_MS 100

/* A JOIN asked for and not answered yet, with its hold.  Owned by `pending`. */
struct pending {
    uint64_t client;
    char channel[IRC_CHANNEL_MAX + 1];    /* folded */
    uint32_t hold;
    double asked;
    struct pending *next;
};

static struct pending *pending;

/* A replay on its way through the store.  Owned by its query callback or
 * its retry timer. */
struct replay {
    uint64_t client;
    char channel[IRC_CHANNEL_MAX + 1];
    char seq[24];
    uint32_t hold;
    int tries;
    uv_timer_t timer;
};

static bool wants_replay(const struct client *c)
{
    return W.cfg->join_replay > 0 && W.cfg->database[0] && !(c->caps & CAP_CHATHISTORY);
}

/* Forget JOINs that never came back (their owner died, the client left):
 * order.c gives their holds up on its own, release is then a no-op. */
static void sweep(void)
{
    double limit = 2.0 * (W.cfg->owner_timeout + 1.0);
    for (struct pending **pp = &pending; *pp;) {
        struct pending *p = *pp;
        if (W.now - p->asked > limit || !client_by_id(p->client)) {
            *pp = p->next;
            order_release(p->hold);
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

/* The pending JOIN of (client, channel), removed; its hold, or 0. */
static uint32_t take(uint64_t client, const char *channel)
{
    char folded[IRC_CHANNEL_MAX + 1];
    irc_casefold(folded, channel, strlen(channel));
    for (struct pending **pp = &pending; *pp; pp = &(*pp)->next) {
        struct pending *p = *pp;
        if (p->client == client && strcmp(p->channel, folded) == 0) {
            uint32_t hold = p->hold;
            *pp = p->next;
            free(p);
            return hold;
        }
    }
    return 0;
}

void replay_join_asked(struct client *c, const char *channel)
{
    sweep();
    if (!wants_replay(c))
        return;
    uint32_t hold = order_hold(c);
    if (!hold)
        return;
    struct pending *p = calloc(1, sizeof *p);
    PARLOR_ASSERT(p != NULL);
    p->client = c->id;
    irc_casefold(p->channel, channel, strlen(channel));
    p->hold = hold;
    p->asked = W.now;
    p->next = pending;
    pending = p;
}

void replay_join_refused(uint64_t client, const char *channel)
{
    order_release(take(client, channel));
}

static void query(struct replay *r);

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void finish(struct replay *r)
{
    order_release(r->hold);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

static void on_retry(uv_timer_t *t)
{
    query(t->data);
}

static void on_rows(void *arg, const PGresult *res, const char *error)
{
    struct replay *r = arg;
    struct client *c = client_by_id(r->client);
    if (!c || c->closing)
        goto done;
    if (error) {
        log_warn("join replay of %s for %s: %s", r->channel, c->nick, error);
        goto done;
    }
    int rows = PQntuples(res);
    /* Column 11: the message's number; the newest row is the last. */
    uint64_t want = strtoull(r->seq, NULL, 10);
    uint64_t newest = rows ? strtoull(PQgetvalue(res, rows - 1, 11), NULL, 10) : 0;
    if (newest < want && r->tries < RETRIES) {
        r->tries++;
        uv_timer_start(&r->timer, on_retry, RETRY_MS, 0);
        return;
    }
    if (rows == 0)
        goto done;
    bool framed = !(c->caps & CAP_BATCH);
    if (framed)
        client_sendf(c, ":%s NOTICE %s :Recent messages of %s:\r\n", W.cfg->server_name,
                     PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 3));
    history_send_rows(c, PQgetvalue(res, 0, 3), res, 0, rows, 12);
    if (framed)
        client_sendf(c, ":%s NOTICE %s :End of recent messages\r\n", W.cfg->server_name,
                     PQgetvalue(res, 0, 3));
done:
    finish(r);
}

/* The newest join-replay messages numbered up to r->seq, oldest first;
 * column 12 is each one's time as the client sees it in its text (in
 * history-timezone; with the date when it is not today's). */
static void query(struct replay *r)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", W.cfg->join_replay);
    const char *v[4] = { r->channel, r->seq, W.cfg->history_tz, limit };
    store_query("SELECT * FROM (SELECT 0 AS part, " HISTORY_MSG_COLS ", m.seq,"
                " to_char(m.server_time AT TIME ZONE $3,"
                "  CASE WHEN (m.server_time AT TIME ZONE $3)::date = (now() AT TIME ZONE $3)::date"
                "  THEN 'HH24:MI' ELSE 'YYYY-MM-DD HH24:MI' END)"
                " FROM messages m WHERE m.conversation = $1 AND NOT m.is_private AND m.seq <= $2::bigint"
                " ORDER BY m.seq DESC LIMIT $4::int) s ORDER BY seq",
                4, v, on_rows, r);
}

void replay_join_done(struct client *c, const char *channel, uint64_t msg_seq)
{
    uint32_t hold = take(c->id, channel);
    if (!wants_replay(c) || msg_seq == 0) {
        order_release(hold);
        return;
    }
    struct replay *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->client = c->id;
    irc_casefold(r->channel, channel, strlen(channel));
    snprintf(r->seq, sizeof r->seq, "%" PRIu64, msg_seq);
    r->hold = hold;
    uv_timer_init(W.loop, &r->timer);
    r->timer.data = r;
    query(r);
}
