/* History: the IRCv3 draft/chathistory command and the HistServ pseudo-user.
 *
 * Both read the `messages` table (migrations/0001_initial.sql) through the
 * worker's asynchronous store: a request becomes one parameterised statement,
 * and its callback finds the client again by id (it may have left) and
 * answers.  Nothing here keeps state between requests.
 *
 * Who may read what (checked before any query):
 *   - a channel's history: a client that is a member right now (c->chans);
 *   - a private conversation: its two sides, each as the account it was
 *     logged in to when the message was sent, or, when it was not logged in,
 *     as its connection (migrations/0005_private_history_owners.sql).  A
 *     request for the conversation with "bob" reads the messages whose
 *     sender_key or target_key is one of the asker's owner keys with peer
 *     "bob": "a:<its account> bob" when logged in, and "c:<its client id>
 *     bob" for what its own connection exchanged (since it connected), never
 *     anything keyed by its current nick.  So a new connection that takes a
 *     nick reads nothing of the nick's past, and a logged-in client keeps
 *     its history across nick changes and connections.
 *
 * Order: messages are ordered by (server_time, id) everywhere, which the
 * indexes (conversation, server_time, id) for channels and (sender_key |
 * target_key, server_time, id) for private conversations serve; a private
 * conversation is the union of up to four such ordered ranges (two owner
 * keys, each as sender and as recipient), which PostgreSQL merges in order.  A msgid selector names a point of
 * that order; a timestamp selector names a millisecond (the precision of the
 * time tag clients see), so "after T" starts at T + 1 ms and "before T" ends
 * before T: the message a client took T from is never returned again.
 *
 * CHATHISTORY (https://ircv3.net/specs/extensions/chathistory):
 *   LATEST <target> <* | ref> <limit>, BEFORE/AFTER/AROUND <target> <ref>
 *   <limit>, BETWEEN <target> <ref> <ref> <limit>, TARGETS <ts> <ts> <limit>;
 *   ref = msgid=... or timestamp=YYYY-MM-DDThh:mm:ss.sssZ.  Limits above
 *   CHATHISTORY_MAX are clamped.  Replies are a `chathistory` (TARGETS:
 *   `draft/chathistory-targets`) batch when the client has the batch cap,
 *   messages in ascending order, each formatted per client caps (msgline).
 *   Messages come from their stored sender nick only (user@host is not
 *   stored).  An unknown msgid gives an empty batch.  Errors are standard
 *   replies: UNKNOWN_COMMAND (unknown subcommand), NEED_MORE_PARAMS,
 *   INVALID_PARAMS (excess or unparsable parameters), INVALID_TARGET (no such
 *   target or no access: the two are not told apart) and MESSAGE_ERROR (the
 *   database could not answer).
 *
 * HistServ (PRIVMSG HistServ :help): the "by day" view for any IRC client.
 *   days <#room | nick>            days with messages, count each, newest first
 *   show <#room | nick> <date> [n] one day's messages, PAGE_SIZE per page
 * Days are taken in W.cfg->history_tz (--history-timezone, default UTC),
 * or in the zone the request names (tz=Asia/Seoul, tz=+09:00: the client's
 * own), given to PostgreSQL as a parameter of AT TIME ZONE (a zone name as
 * text, an offset as an interval); a name PostgreSQL does not know
 * (pg_timezone_names) is refused with a notice.  Messages to HistServ
 * are answered here and never routed or stored. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "worker/history_args.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define HISTSERV "HistServ"
#define DAYS_MAX 60               /* days listed by "days" */
#define PAGE_SIZE 50              /* messages per page of "show" */
#define PAGE_MAX 100000
#define CONV_MAX (2 * IRC_NICK_MAX + 2)

/* ---- targets and access ---- */

/* The owner keys a client reads private history by: its account's (no
 * time bound), and its own connection's (bounded by when it connected, so a
 * client id reused by a later worker with the same PID reaches nothing
 * older).  A client that is not logged in has only the second. */
struct owners {
    int n;
    char owner[2][HISTORY_KEY_MAX];              /* "a:<account>" or "c:<client id>" */
    char since[2][40];                           /* timestamptz text */
};

/* A conversation a client asked for, once access is granted. */
struct target {
    char name[IRC_CHANNEL_MAX + IRC_NICK_MAX + 1]; /* canonical channel name, or the nick as given */
    char conv[CONV_MAX + 1];                     /* channels: messages.conversation */
    bool is_private;
    char key[2][HISTORY_KEY_MAX];                /* private: the asker's owner keys with this peer */
    char since[2][40];
    int nkeys;
};

enum { TARGET_OK, TARGET_NOT_MEMBER, TARGET_INVALID };


static void owner_prefix(const char *account, uint64_t client, char *out, size_t cap)
{
    if (account && account[0])
        snprintf(out, cap, "a:%s", account);
    else
        snprintf(out, cap, "c:%" PRIu64, client);
}

void history_private_key(const char *account, uint64_t client, const char *peer_nick,
                         char *out, size_t cap)
{
    char owner[HISTORY_KEY_MAX], peer[IRC_NICK_MAX + 1];
    owner_prefix(account, client, owner, sizeof owner);
    size_t len = strlen(peer_nick);
    if (len > IRC_NICK_MAX)
        len = IRC_NICK_MAX;
    irc_casefold(peer, peer_nick, len);
    snprintf(out, cap, "%s %s", owner, peer);
}

static void owners_of(const struct client *c, struct owners *o)
{
    memset(o, 0, sizeof *o);
    if (c->account[0]) {
        owner_prefix(c->account, 0, o->owner[0], sizeof o->owner[0]);
        snprintf(o->since[0], sizeof o->since[0], "-infinity");
        o->n = 1;
    }
    owner_prefix(NULL, c->id, o->owner[o->n], sizeof o->owner[0]);
    /* A millisecond early: a message's time may be the same millisecond as
     * the connection's, rounded down (times cross workers in ms). */
    history_format_ms((int64_t)(c->signon * 1000.0) - 1, false, o->since[o->n], sizeof o->since[0]);
    o->n++;
}

/* May `c` read `name` (a channel it is in, or a conversation with a nick)? */
static int resolve_target(const struct client *c, const char *name, struct target *t)
{
    memset(t, 0, sizeof *t);
    size_t len = strlen(name);
    if (name[0] == '#') {
        if (!irc_channel_valid(name, len))
            return TARGET_INVALID;
        for (int i = 0; i < c->nchans; i++)
            if (irc_casecmp(c->chans[i]->name, name) == 0) {
                snprintf(t->name, sizeof t->name, "%s", c->chans[i]->name);
                irc_casefold(t->conv, t->name, strlen(t->name));
                return TARGET_OK;
            }
        snprintf(t->name, sizeof t->name, "%s", name);
        irc_casefold(t->conv, name, len);
        return TARGET_NOT_MEMBER;
    }
    if (!irc_nick_valid(name, len))
        return TARGET_INVALID;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->is_private = true;
    struct owners o;
    owners_of(c, &o);
    for (int i = 0; i < o.n; i++) {
        char folded[IRC_NICK_MAX + 1];
        irc_casefold(folded, name, len);
        snprintf(t->key[i], sizeof t->key[i], "%s %s", o.owner[i], folded);
        memcpy(t->since[i], o.since[i], sizeof t->since[i]);
    }
    t->nkeys = o.n;
    return TARGET_OK;
}

/* The rows of a target are one or more branches, each served in order by
 * one index: a channel, its conversation; a private conversation, for each
 * owner key i ($2i+1, bounded by $2i+2), the messages it sent and the ones
 * it received (a message to oneself counted once).  Branch b's condition on
 * `messages m`: */
static int nbranches(const struct target *t)
{
    return t->is_private ? 2 * t->nkeys : 1;
}

static void branch_where(struct buf *q, const struct target *t, int b)
{
    if (!t->is_private) {
        buf_append_str(q, "m.conversation = $1 AND NOT m.is_private");
        return;
    }
    int k = 2 * (b / 2) + 1;
    buf_appendf(q, "m.%s_key = $%d AND m.server_time >= $%d::timestamptz",
                b % 2 ? "target" : "sender", k, k + 1);
    if (b % 2)
        for (int j = 0; j < t->nkeys; j++)
            buf_appendf(q, " AND m.sender_key IS DISTINCT FROM $%d", 2 * j + 1);
}

/* All the rows of a target as a FROM item named m (its parameters are
 * scope_values()), for queries that read a range of them anyway (HistServ);
 * PostgreSQL pushes their conditions into each branch. */
static void scope(struct buf *q, const struct target *t)
{
    buf_append_str(q, "(");
    for (int b = 0; b < nbranches(t); b++) {
        buf_appendf(q, "%sSELECT * FROM messages m WHERE ", b ? " UNION ALL " : "");
        branch_where(q, t, b);
    }
    buf_append_str(q, ") m");
}

/* The parameters of scope(); returns how many. */
static int scope_values(const struct target *t, const char **values)
{
    if (!t->is_private) {
        values[0] = t->conv;
        return 1;
    }
    for (int i = 0; i < t->nkeys; i++) {
        values[2 * i] = t->key[i];
        values[2 * i + 1] = t->since[i];
    }
    return 2 * t->nkeys;
}

/* ---- time ---- */

/* A stored time split as (seconds, milliseconds) -> the double msgline
 * expects, placed mid-millisecond so format_time_tag prints exactly `ms`. */
static double row_time(const PGresult *res, int row, int col_sec, int col_ms)
{
    long long sec = strtoll(PQgetvalue(res, row, col_sec), NULL, 10);
    long ms = strtol(PQgetvalue(res, row, col_ms), NULL, 10);
    return (double)sec + ((double)ms + 0.5) / 1000.0;
}

#define SQL_TIME(col) HISTORY_SQL_TIME(col)

/* ---- CHATHISTORY ---- */

/* A query on its way through the store.  Owned by the callback; freed there. */
struct history_req {
    uint64_t client;
    enum sub sub;
    int limit;
    bool forward;                 /* TARGETS: first timestamp is the older one */
    char target[sizeof ((struct target *)0)->name];
};

static void fail(struct client *c, const char *code, const char *context, const char *text)
{
    client_sendf(c, ":%s FAIL CHATHISTORY %s %s%s:%s\r\n", W.cfg->server_name, code,
                 context, context[0] ? " " : "", text);
}

#define MSG_COLS HISTORY_MSG_COLS

/* Conditions placing m relative to a selector whose value is parameter $k:
 * after it, before it, or at-or-after it (AROUND's second half).  A msgid is
 * a point of the (server_time, id) order; a timestamp compares by time only,
 * and "after" starts one millisecond later (the precision clients see). */
enum side { AFTER, BEFORE, FROM };

/* Where a msgid selector is looked up: a message the asker may read in this
 * conversation (for a private one, under any of its owner keys). */
static void msgid_where(struct buf *q, const struct target *t, int k)
{
    if (!t->is_private) {
        buf_appendf(q, "conversation = $1 AND NOT is_private AND msgid = $%d", k);
        return;
    }
    buf_append_str(q, "(");
    for (int i = 0; i < t->nkeys; i++)
        buf_appendf(q, "%s$%d IN (sender_key, target_key)", i ? " OR " : "", 2 * i + 1);
    buf_appendf(q, ") AND msgid = $%d", k);
}

/* A msgid selector as the point (server_time, id) of the order. */
static void msgid_point(struct buf *q, const struct target *t, int k)
{
    buf_append_str(q, "((SELECT server_time FROM messages WHERE ");
    msgid_where(q, t, k);
    buf_append_str(q, "), (SELECT id FROM messages WHERE ");
    msgid_where(q, t, k);
    buf_append_str(q, "))");
}

static void cond_side(struct buf *q, const struct target *t, const struct selector *s, int k,
                      enum side side)
{
    static const char *const op[] = { ">", "<", ">=" };
    if (s->kind == SEL_MSGID) {
        buf_appendf(q, " AND (m.server_time, m.id) %s ", op[side]);
        msgid_point(q, t, k);
    } else if (s->kind != SEL_TIME && side != FROM) {
        return;                         /* "*": no bound */
    } else if (side == AFTER) {
        buf_appendf(q, " AND m.server_time >= $%d::timestamptz + interval '1 millisecond'", k);
    } else {
        buf_appendf(q, " AND m.server_time %s $%d::timestamptz", op[side], k);
    }
}

static void cond_after(struct buf *q, const struct target *t, const struct selector *s, int k)
{
    cond_side(q, t, s, k, AFTER);
}

static void cond_before(struct buf *q, const struct target *t, const struct selector *s, int k)
{
    cond_side(q, t, s, k, BEFORE);
}

static void cond_from(struct buf *q, const struct target *t, const struct selector *s, int k)
{
    cond_side(q, t, s, k, FROM);
}

/* A selector as a point of the (server_time, id) order, for comparisons. */
static void point(struct buf *q, const struct target *t, const struct selector *s, int k)
{
    if (s->kind == SEL_MSGID)
        msgid_point(q, t, k);
    else
        buf_appendf(q, "($%d::timestamptz, 0::bigint)", k);
}

/* One arm: messages of the conversation matching `conds`, the first `limit`
 * of them in the given direction.  Each branch is limited on its own, so
 * each is one ordered index range that stops after `limit` rows; the arm
 * merges them. */
static void arm(struct buf *q, const struct target *t, int part, const char *conds, bool asc,
                int klimit)
{
    const char *dir = asc ? "ASC" : "DESC";
    buf_appendf(q, "(SELECT %d AS part, " MSG_COLS " FROM (", part);
    for (int b = 0; b < nbranches(t); b++) {
        buf_appendf(q, "%s(SELECT * FROM messages m WHERE ", b ? " UNION ALL " : "");
        branch_where(q, t, b);
        buf_appendf(q, "%s ORDER BY m.server_time %s, m.id %s LIMIT $%d)", conds, dir, dir, klimit);
    }
    buf_appendf(q, ") m ORDER BY m.server_time %s, m.id %s LIMIT $%d)", dir, dir, klimit);
}

static void on_history(void *arg, const PGresult *res, const char *error);
static void on_targets(void *arg, const PGresult *res, const char *error);

static void chathistory_messages(struct client *c, enum sub sub, const struct target *t,
                                 const struct selector *a, const struct selector *b, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[8];
    int n = scope_values(t, values);
    int ka = 0, kb = 0;
    if (a->kind != SEL_STAR) {
        values[n++] = a->value;
        ka = n;
    }
    if (sub == SUB_BETWEEN) {
        values[n++] = b->value;
        kb = n;
    }
    values[n++] = lim;
    int kl = n;

    struct buf q = BUF_INIT, conds = BUF_INIT;
    buf_append_str(&q, "SELECT * FROM (");
    switch (sub) {
    case SUB_LATEST:
        cond_after(&conds, t, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 0, conds.data, false, kl);
        break;
    case SUB_BEFORE:
        cond_before(&conds, t, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 0, conds.data, false, kl);
        break;
    case SUB_AFTER:
        cond_after(&conds, t, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 0, conds.data, true, kl);
        break;
    case SUB_AROUND:
        /* Up to `limit` on each side; the reply takes a window around the
         * point from them (take_around). */
        cond_before(&conds, t, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 0, conds.data, false, kl);
        buf_clear(&conds);
        buf_append_str(&q, " UNION ALL ");
        cond_from(&conds, t, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 1, conds.data, true, kl);
        break;
    case SUB_BETWEEN:
        /* Counted from the first selector towards the second, whichever way
         * that is; each arm runs only when its direction is the right one. */
        cond_after(&conds, t, a, ka);
        cond_before(&conds, t, b, kb);
        buf_append_str(&conds, " AND ");
        point(&conds, t, a, ka);
        buf_append_str(&conds, " < ");
        point(&conds, t, b, kb);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 0, conds.data, true, kl);
        buf_clear(&conds);
        buf_append_str(&q, " UNION ALL ");
        cond_before(&conds, t, a, ka);
        cond_after(&conds, t, b, kb);
        buf_append_str(&conds, " AND ");
        point(&conds, t, a, ka);
        buf_append_str(&conds, " > ");
        point(&conds, t, b, kb);
        buf_append_byte(&conds, '\0');
        arm(&q, t, 0, conds.data, false, kl);
        break;
    case SUB_TARGETS:
        PARLOR_ASSERT(0);
    }
    buf_append_str(&q, ") s ORDER BY st, id");
    buf_append_byte(&q, '\0');

    struct history_req *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->client = c->id;
    r->sub = sub;
    r->limit = limit;
    snprintf(r->target, sizeof r->target, "%s", t->name);
    store_query(q.data, n, values, on_history, r);
    buf_free(&q);
    buf_free(&conds);
}

static void next_batch_ref(char *out, size_t cap)
{
    static uint64_t counter;
    snprintf(out, cap, "h%" PRIx64, ++counter);
}

/* BATCH +ref type [param] when the client has the batch cap; ref is "" if not. */
static void batch_open(struct client *c, char *ref, size_t cap, const char *type, const char *param)
{
    ref[0] = '\0';
    if (!(c->caps & CAP_BATCH))
        return;
    next_batch_ref(ref, cap);
    client_sendf(c, ":%s BATCH +%s %s%s%s\r\n", W.cfg->server_name, ref, type,
                 param ? " " : "", param ? param : "");
}

static void batch_close(struct client *c, const char *ref)
{
    if (ref[0])
        client_sendf(c, ":%s BATCH -%s\r\n", W.cfg->server_name, ref);
}

/* "[when] text" for a client that gets no time tag; a CTCP ACTION keeps
 * its form ("\1ACTION [when] waves\1"). */
static void stamp_text(char *out, size_t cap, const char *when, const char *text)
{
    static const char action[] = "\1ACTION ";
    size_t skip = strncmp(text, action, sizeof action - 1) == 0 ? sizeof action - 1 : 0;
    snprintf(out, cap, "%.*s[%s] %s", (int)skip, text, when, text + skip);
}

void history_send_rows(struct client *c, const char *target, const PGresult *res, int from, int to,
                       int when_col)
{
    char ref[24];
    batch_open(c, ref, sizeof ref, "chathistory", target);
    bool stamp = when_col >= 0 && msgline_form(c->caps) == 0;
    for (int i = from; i < to; i++) {
        struct msgline ml = {
            .time = row_time(res, i, 6, 7),
            .msgid = PQgetvalue(res, i, 5),
            .ctags = PQgetvalue(res, i, 10),    /* "" when NULL */
            .source = PQgetvalue(res, i, 1),
            .command = PQgetvalue(res, i, 2),
            .target = PQgetvalue(res, i, 3),
            .text = PQgetvalue(res, i, 4),
            .batch = ref,
        };
        char text[IRC_LINE_LIMIT + 64];
        if (stamp) {
            stamp_text(text, sizeof text, PQgetvalue(res, i, when_col), ml.text);
            ml.text = text;
        }
        send_msgline(c, &ml);
    }
    batch_close(c, ref);
}

static void on_history(void *arg, const PGresult *res, const char *error)
{
    struct history_req *r = arg;
    struct client *c = client_by_id(r->client);
    if (!c || c->closing)
        goto out;
    if (error) {
        log_warn("history: CHATHISTORY %s %s for %s failed: %s", history_subs[r->sub].name, r->target,
                 c->nick, error);
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%s %s", history_subs[r->sub].name, r->target);
        fail(c, "MESSAGE_ERROR", ctx, "Messages could not be retrieved");
        goto out;
    }
    int rows = PQntuples(res);
    int from = 0, to = rows;
    if (r->sub == SUB_AROUND) {
        /* Rows: nb before the point, then na at or after it. */
        int nb = 0;
        while (nb < rows && strcmp(PQgetvalue(res, nb, 0), "0") == 0)
            nb++;
        int na = rows - nb;
        int before = nb < r->limit / 2 ? nb : r->limit / 2;
        int after = na < r->limit - before ? na : r->limit - before;
        if (before < r->limit - after)
            before = nb < r->limit - after ? nb : r->limit - after;
        from = nb - before;
        to = nb + after;
    }
    history_send_rows(c, r->target, res, from, to, -1);
out:
    free(r);
}

/* Append s to an array literal, quoted. */
static void array_elem(struct buf *b, const char *s)
{
    if (b->len > 1)
        buf_append_byte(b, ',');
    buf_append_byte(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_append_byte(b, '\\');
        buf_append_byte(b, *s);
    }
    buf_append_byte(b, '"');
}

/* TARGETS: the client's channels (it is in now) and its private
 * conversations with a message inside the window, by latest message.
 * Private conversations are found from the owner-key indexes alone: for
 * each of the client's owners (struct owners), a loose index scan lists
 * the distinct keys "<owner> <peer>" it has as sender and as recipient (one
 * index probe each, no pass over the messages; the keys of one owner are
 * one byte range, from "<owner> " to "<owner>!"), and each key's latest
 * message in the window is one backward probe per index.  A peer reached
 * under both owners is listed once, at its latest message. */
#define TARGETS_WINDOW \
    " AND m.server_time >= greatest($2::timestamptz + interval '1 millisecond', cands.since)" \
    " AND m.server_time < $3::timestamptz"

static void chathistory_targets(struct client *c, const struct selector *a,
                                const struct selector *b, int limit)
{
    struct owners o;
    owners_of(c, &o);
    char lim[16], lo_key[2][HISTORY_KEY_MAX + 1], hi_key[2][HISTORY_KEY_MAX + 1];
    snprintf(lim, sizeof lim, "%d", limit);
    struct buf chans = BUF_INIT;
    buf_append_byte(&chans, '{');
    for (int i = 0; i < c->nchans; i++) {
        char folded[IRC_CHANNEL_MAX + 1];
        irc_casefold(folded, c->chans[i]->name, strlen(c->chans[i]->name));
        array_elem(&chans, folded);
    }
    buf_append_str(&chans, "}");
    buf_append_byte(&chans, '\0');
    bool forward = a->ms < b->ms;
    const struct selector *lo = forward ? a : b, *hi = forward ? b : a;
    /* $1 channels, $2 $3 the window, $4 the limit, then per owner i:
     * $5+3i from, $6+3i to (the key range), $7+3i since. */
    const char *values[4 + 3 * 2] = { chans.data, lo->value, hi->value, lim };
    int n = 4;
    struct buf q = BUF_INIT;
    buf_append_str(&q, "WITH RECURSIVE");
    static const char *const cols[2] = { "sender_key", "target_key" };
    for (int i = 0; i < o.n; i++) {
        snprintf(lo_key[i], sizeof lo_key[i], "%s ", o.owner[i]);
        snprintf(hi_key[i], sizeof hi_key[i], "%s!", o.owner[i]);
        values[n++] = lo_key[i];
        values[n++] = hi_key[i];
        values[n++] = o.since[i];
        int kf = n - 2, kt = n - 1;
        for (int side = 0; side < 2; side++)
            buf_appendf(&q, " k%d%d(k) AS ("
                        " (SELECT %s FROM messages WHERE %s >= $%d AND %s < $%d ORDER BY %s LIMIT 1)"
                        " UNION ALL"
                        " SELECT (SELECT %s FROM messages WHERE %s > k%d%d.k AND %s < $%d ORDER BY %s LIMIT 1)"
                        " FROM k%d%d WHERE k%d%d.k IS NOT NULL),",
                        i, side, cols[side], cols[side], kf, cols[side], kt, cols[side],
                        cols[side], cols[side], i, side, cols[side], kt, cols[side],
                        i, side, i, side);
    }
    buf_append_str(&q, " cands(k, since) AS (");
    for (int i = 0; i < o.n; i++)
        for (int side = 0; side < 2; side++)
            buf_appendf(&q, "%sSELECT k, $%d::timestamptz FROM k%d%d WHERE k IS NOT NULL",
                        i || side ? " UNION " : "", 7 + 3 * i, i, side);
    buf_append_str(&q, "),"
        " priv AS (SELECT DISTINCT ON (split_part(cands.k, ' ', 2))"
        " true AS priv, l.sender_key = cands.k AS sent, l.sender_nick, l.target, l.server_time, l.id"
        " FROM cands CROSS JOIN LATERAL ("
        " SELECT * FROM ("
        "(SELECT * FROM messages m WHERE m.sender_key = cands.k" TARGETS_WINDOW
        " ORDER BY m.server_time DESC, m.id DESC LIMIT 1) UNION ALL"
        " (SELECT * FROM messages m WHERE m.target_key = cands.k" TARGETS_WINDOW
        " AND m.sender_key IS DISTINCT FROM cands.k ORDER BY m.server_time DESC, m.id DESC LIMIT 1)"
        ") m ORDER BY m.server_time DESC, m.id DESC LIMIT 1) l"
        " ORDER BY split_part(cands.k, ' ', 2), l.server_time DESC, l.id DESC),"
        " chan AS (SELECT false AS priv, false AS sent, l.sender_nick, l.target, l.server_time, l.id"
        " FROM unnest($1::text[]) AS ch(c) CROSS JOIN LATERAL ("
        " SELECT m.* FROM messages m WHERE m.conversation = ch.c AND NOT m.is_private"
        " AND m.server_time >= $2::timestamptz + interval '1 millisecond'"
        " AND m.server_time < $3::timestamptz"
        " ORDER BY m.server_time DESC, m.id DESC LIMIT 1) l)"
        " SELECT priv, sent, sender_nick, target, " SQL_TIME("server_time")
        " FROM (SELECT * FROM priv UNION ALL SELECT * FROM chan) x");
    buf_appendf(&q, " ORDER BY server_time %s, id %s LIMIT $4",
                forward ? "ASC" : "DESC", forward ? "ASC" : "DESC");
    buf_append_byte(&q, '\0');
    struct history_req *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->client = c->id;
    r->sub = SUB_TARGETS;
    r->limit = limit;
    r->forward = forward;
    store_query(q.data, n, values, on_targets, r);
    buf_free(&q);
    buf_free(&chans);
}

static void on_targets(void *arg, const PGresult *res, const char *error)
{
    struct history_req *r = arg;
    struct client *c = client_by_id(r->client);
    if (!c || c->closing)
        goto out;
    if (error) {
        log_warn("history: CHATHISTORY TARGETS for %s failed: %s", c->nick, error);
        fail(c, "MESSAGE_ERROR", "TARGETS", "Messages could not be retrieved");
        goto out;
    }
    char ref[24];
    batch_open(c, ref, sizeof ref, "draft/chathistory-targets", NULL);
    int rows = PQntuples(res);
    for (int k = 0; k < rows; k++) {
        int i = r->forward ? k : rows - 1 - k;   /* always oldest first */
        const char *name;
        if (strcmp(PQgetvalue(res, i, 0), "t") == 0) {
            /* The other side, as it was spelled in the latest message. */
            bool sent = strcmp(PQgetvalue(res, i, 1), "t") == 0;
            name = PQgetvalue(res, i, sent ? 3 : 2);
        } else {
            name = PQgetvalue(res, i, 3);    /* the channel as stored */
            for (int j = 0; j < c->nchans; j++)
                if (irc_casecmp(c->chans[j]->name, name) == 0)
                    name = c->chans[j]->name;
        }
        char when[40];
        int64_t ms = strtoll(PQgetvalue(res, i, 4), NULL, 10) * 1000 +
                     strtoll(PQgetvalue(res, i, 5), NULL, 10);
        history_format_ms(ms, true, when, sizeof when);
        if (ref[0])
            client_sendf(c, "@batch=%s :%s CHATHISTORY TARGETS %s %s\r\n", ref, W.cfg->server_name,
                         name, when);
        else
            client_sendf(c, ":%s CHATHISTORY TARGETS %s %s\r\n", W.cfg->server_name, name, when);
    }
    batch_close(c, ref);
out:
    free(r);
}

void history_command(struct client *c, struct irc_msg *m)
{
    struct history_args h;
    if (history_args_parse(m->nparams, m->params, &h) < 0) {
        fail(c, h.fail_code, h.fail_context, h.fail_text);
        return;
    }
    if (h.sub == SUB_TARGETS) {
        chathistory_targets(c, &h.a, &h.b, h.limit);
        return;
    }
    struct target t;
    if (resolve_target(c, m->params[1], &t) != TARGET_OK) {
        char ctx[160];
        snprintf(ctx, sizeof ctx, "%s %s", h.name, history_shown(m->params[1]));
        fail(c, "INVALID_TARGET", ctx, "Messages could not be retrieved");
        return;
    }
    chathistory_messages(c, h.sub, &t, &h.a, &h.b, h.limit);
}

/* ---- HistServ ---- */

/* One NOTICE from HistServ; text too long for one IRC line is continued on
 * further lines, cut between UTF-8 characters. */
static void hs_notice(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hs_notice(struct client *c, const char *fmt, ...)
{
    struct buf text = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(&text, fmt, ap);
    va_end(ap);
    buf_append_byte(&text, '\0');
    service_notice(c, HISTSERV, text.data);
    buf_free(&text);
}

static void hs_help(struct client *c)
{
    hs_notice(c, "HistServ shows stored history by day. Commands (/msg HistServ <command>):");
    hs_notice(c, "  DAYS <#room|nick> [tz=ZONE]     the days with messages, newest first, "
              "with a count each");
    hs_notice(c, "  SHOW <#room|nick> <YYYY-MM-DD> [page] [tz=ZONE]  one day's messages in order, "
              "%d per page", PAGE_SIZE);
    hs_notice(c, "  HELP                            this text");
    hs_notice(c, "Days are in the %s time zone, or in the one you add: tz=Asia/Seoul or "
              "tz=+09:00. Rooms: only while you are in them; "
              "nicks: your own conversation with that nick.", W.cfg->history_tz);
}

/* What a HistServ query needs to answer. */
struct hs_req {
    uint64_t client;
    bool show;
    int page;
    char date[11];
    struct target t;
    int access;                   /* resolve_target's answer */
    char tz[64];                  /* tz=, "" for the server's zone */
    bool tz_offset;               /* tz is "+HH:MM" (an interval for SQL) */
    uint32_t hold;                /* order_hold while two queries answer in turn */
};

static void hs_free(struct hs_req *r)
{
    order_release(r->hold);
    free(r);
}

static const char *req_tz(const struct hs_req *r)
{
    return r->tz[0] ? r->tz : W.cfg->history_tz;
}

static const char *tz_cast(const struct hs_req *r)
{
    return r->tz_offset ? "::interval" : "";
}

static struct client *hs_client(const struct hs_req *r, const char *error)
{
    struct client *c = client_by_id(r->client);
    if (!c || c->closing)
        return NULL;
    if (error) {
        log_warn("history: HistServ query for %s failed: %s", c->nick, error);
        hs_notice(c, "History is not available right now; try again later.");
        return NULL;
    }
    return c;
}

static const char *conv_label(const struct target *t, char *out, size_t cap)
{
    if (t->is_private)
        snprintf(out, cap, "your conversation with %s", t->name);
    else
        snprintf(out, cap, "%s", t->name);
    return out;
}

static void on_days(void *arg, const PGresult *res, const char *error)
{
    struct hs_req *r = arg;
    struct client *c = hs_client(r, error);
    if (!c)
        goto out;
    char label[128];
    conv_label(&r->t, label, sizeof label);
    int rows = PQntuples(res);
    if (rows == 0) {
        hs_notice(c, "No messages stored for %s.", label);
        goto out;
    }
    int shown_rows = rows > DAYS_MAX ? DAYS_MAX : rows;
    hs_notice(c, "Days with messages in %s (%s), newest first:", label, req_tz(r));
    for (int i = 0; i < shown_rows; i++) {
        long n = strtol(PQgetvalue(res, i, 1), NULL, 10);
        hs_notice(c, "  %s  %ld message%s", PQgetvalue(res, i, 0), n, n == 1 ? "" : "s");
    }
    if (rows > DAYS_MAX)
        hs_notice(c, "Only the %d most recent days are listed; older days can still be read "
                  "with SHOW.", DAYS_MAX);
    /* Any client can type the first; the parlor client has /day for it. */
    hs_notice(c, "Read a day with: /msg HistServ SHOW %s %s%s%s (in parlor: /day %s %s)", r->t.name,
              PQgetvalue(res, 0, 0), r->tz[0] ? " tz=" : "", r->tz, PQgetvalue(res, 0, 0), r->t.name);
out:
    hs_free(r);
}

static void on_show(void *arg, const PGresult *res, const char *error)
{
    struct hs_req *r = arg;
    struct client *c = hs_client(r, error);
    if (!c)
        goto out;
    char label[128];
    conv_label(&r->t, label, sizeof label);
    int rows = PQntuples(res);
    if (rows == 0) {
        if (r->page == 1)
            hs_notice(c, "No messages in %s on %s (%s).", label, r->date, req_tz(r));
        else
            hs_notice(c, "There is no page %d for %s on %s.", r->page, label, r->date);
        goto out;
    }
    long total = strtol(PQgetvalue(res, 0, 4), NULL, 10);
    long pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    hs_notice(c, "%s on %s (%s), page %d of %ld (%ld message%s):", label, r->date,
              req_tz(r), r->page, pages, total, total == 1 ? "" : "s");
    for (int i = 0; i < rows; i++) {
        const char *when = PQgetvalue(res, i, 0), *nick = PQgetvalue(res, i, 1);
        const char *cmd = PQgetvalue(res, i, 2), *body = PQgetvalue(res, i, 3);
        size_t bl = strlen(body);
        if (strncmp(body, "\001ACTION ", 8) == 0 && bl > 8)
            hs_notice(c, "[%s] * %s %.*s", when, nick,
                      (int)(bl - 8 - (body[bl - 1] == '\001')), body + 8);
        else if (strcmp(cmd, "NOTICE") == 0)
            hs_notice(c, "[%s] -%s- %s", when, nick, body);
        else
            hs_notice(c, "[%s] <%s> %s", when, nick, body);
    }
    if (r->page < pages)
        hs_notice(c, "More: /msg HistServ SHOW %s %s %d%s%s", r->t.name, r->date, r->page + 1,
                  r->tz[0] ? " tz=" : "", r->tz);
    else
        hs_notice(c, "End of %s on %s.", label, r->date);
out:
    hs_free(r);
}

static void hs_query_days(struct client *c, struct hs_req *r)
{
    const char *values[6];
    int n = scope_values(&r->t, values);
    values[n++] = req_tz(r);
    struct buf q = BUF_INIT;
    buf_appendf(&q, "SELECT to_char(d, 'YYYY-MM-DD'), n FROM ("
                "SELECT (server_time AT TIME ZONE $%d%s)::date AS d, count(*) AS n FROM ", n,
                tz_cast(r));
    scope(&q, &r->t);
    buf_appendf(&q, " GROUP BY 1) s ORDER BY d DESC LIMIT %d", DAYS_MAX + 1);
    buf_append_byte(&q, '\0');
    store_query(q.data, n, values, on_days, r);
    buf_free(&q);
}

static void hs_query_show(struct client *c, struct hs_req *r)
{
    char offset[16];
    snprintf(offset, sizeof offset, "%d", (r->page - 1) * PAGE_SIZE);
    const char *values[8];
    int n = scope_values(&r->t, values);
    int tz = n + 1, date = n + 2, off = n + 3;
    values[n++] = req_tz(r);
    values[n++] = r->date;
    values[n++] = offset;
    /* The day's bounds are local midnights converted to timestamptz, so the
     * index ranges on (conversation | owner key, server_time) serve the
     * query; count(*) OVER () is the day's total, computed before LIMIT. */
    struct buf q = BUF_INIT;
    const char *cast = tz_cast(r);
    buf_appendf(&q, "SELECT to_char(server_time AT TIME ZONE $%d%s, 'HH24:MI:SS'), sender_nick,"
                " command, body, count(*) OVER () FROM ", tz, cast);
    scope(&q, &r->t);
    buf_appendf(&q, " WHERE server_time >= ($%d::date)::timestamp AT TIME ZONE $%d%s"
                " AND server_time < ($%d::date + 1)::timestamp AT TIME ZONE $%d%s"
                " ORDER BY server_time, id LIMIT %d OFFSET $%d",
                date, tz, cast, date, tz, cast, PAGE_SIZE, off);
    buf_append_byte(&q, '\0');
    store_query(q.data, n, values, on_show, r);
    buf_free(&q);
}

/* A room the client is not in: say whether it exists at all. */
static void on_room_checked(void *arg, const PGresult *res, const char *error)
{
    struct hs_req *r = arg;
    struct client *c = hs_client(r, error);
    if (!c)
        goto out;
    if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
        hs_notice(c, "You are not in %s: only its members can read its history. Join it first.",
                  r->t.name);
    else
        hs_notice(c, "There is no room named %s.", r->t.name);
out:
    hs_free(r);
}

/* "YYYY-MM-DD", a real calendar date. */
static bool valid_date(const char *s)
{
    char ts[40];
    int64_t ms;
    if (strlen(s) != 10)
        return false;
    snprintf(ts, sizeof ts, "%sT00:00:00Z", s);
    return history_parse_timestamp(ts, &ms) == 0;
}

/* The request is checked: ask for the answer (or why there is none). */
static void hs_run(struct client *c, struct hs_req *r)
{
    if (r->access == TARGET_NOT_MEMBER) {
        const char *values[1] = { r->t.conv };
        store_query("SELECT EXISTS (SELECT 1 FROM channels WHERE name_folded = $1)"
                    " OR EXISTS (SELECT 1 FROM messages WHERE conversation = $1 AND NOT is_private)",
                    1, values, on_room_checked, r);
        return;
    }
    if (r->show)
        hs_query_show(c, r);
    else
        hs_query_days(c, r);
}

static void on_zone_checked(void *arg, const PGresult *res, const char *error)
{
    struct hs_req *r = arg;
    struct client *c = hs_client(r, error);
    if (!c) {
        hs_free(r);
        return;
    }
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        hs_notice(c, "Unknown time zone %s: give a name such as Asia/Seoul or Europe/Paris, "
                  "or an offset such as +09:00.", r->tz);
        hs_free(r);
        return;
    }
    hs_run(c, r);
}

static void hs_days_or_show(struct client *c, bool show, char *args)
{
    /* tz=ZONE may stand anywhere; the other words are positional. */
    char *save = NULL, *words[4] = { NULL, NULL, NULL, NULL }, *zone = NULL;
    int nwords = 0;
    for (char *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (strncasecmp(w, "tz=", 3) == 0 && !zone)
            zone = w + 3;
        else if (nwords < 4)
            words[nwords++] = w;
        else
            nwords++;
    }
    char *who = words[0];
    char *date = show ? words[1] : NULL;
    char *page = show ? words[2] : NULL;
    if (!who || (show && !date) || nwords > (show ? 3 : 1)) {
        if (show)
            hs_notice(c, "Syntax: SHOW <#room|nick> <YYYY-MM-DD> [page] [tz=ZONE]");
        else
            hs_notice(c, "Syntax: DAYS <#room|nick> [tz=ZONE]");
        return;
    }
    struct hs_req *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->client = c->id;
    r->show = show;
    r->page = 1;
    if (zone && history_parse_zone(zone, r->tz, sizeof r->tz, &r->tz_offset) < 0) {
        hs_notice(c, "%.64s is not a time zone: give a name such as Asia/Seoul, or an offset "
                  "such as +09:00.", zone);
        hs_free(r);
        return;
    }
    int access = resolve_target(c, who, &r->t);
    r->access = access;
    if (access == TARGET_INVALID) {
        hs_notice(c, "%.64s is neither a room (#name) nor a valid nick.", who);
        hs_free(r);
        return;
    }
    if (show) {
        if (!valid_date(date)) {
            hs_notice(c, "%.40s is not a date: write it as YYYY-MM-DD, e.g. 2026-11-24.", date);
            hs_free(r);
            return;
        }
        snprintf(r->date, sizeof r->date, "%s", date);
        if (page) {
            char *end;
            long p = strtol(page, &end, 10);
            if (*end || p < 1 || p > PAGE_MAX || page[0] < '0' || page[0] > '9') {
                hs_notice(c, "%.20s is not a page number (1, 2, ...).", page);
                hs_free(r);
                return;
            }
            r->page = (int)p;
        }
    }
    if (r->tz[0] && !r->tz_offset) {
        const char *values[1] = { r->tz };
        /* The answer needs a second query after this one: the client's
         * next command waits for it (worker/order.c). */
        r->hold = order_hold(c);
        store_query("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", 1, values,
                    on_zone_checked, r);
        return;
    }
    hs_run(c, r);
}


void history_service_command(struct client *c, const char *verb, char *args)
{
    if (!verb || strcasecmp(verb, "HELP") == 0)
        hs_help(c);
    else if (strcasecmp(verb, "DAYS") == 0)
        hs_days_or_show(c, false, args);
    else if (strcasecmp(verb, "SHOW") == 0)
        hs_days_or_show(c, true, args);
    else
        hs_notice(c, "Unknown command %.40s. Try /msg HistServ HELP", verb);
}

