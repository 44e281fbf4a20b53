/* History: the IRCv3 draft/chathistory command and the HistServ pseudo-user.
 *
 * Both read the `messages` table (migrations/0001_initial.sql) through the
 * worker's asynchronous store: a request becomes one parameterised statement,
 * and its callback finds the client again by id (it may have left) and
 * answers.  Nothing here keeps state between requests.
 *
 * Who may read what (checked before any query):
 *   - a channel's history: a client that is a member right now (c->chans);
 *   - a private conversation: only its two sides.  The conversation key is
 *     built from the requester's own folded nick and the other folded nick,
 *     ordered and joined by a space, exactly as worker/nick.c stores it, so
 *     asking for "bob" only ever reaches "me bob".
 *
 * Order: messages are ordered by (server_time, id) everywhere, which the
 * index messages_conversation_time (conversation, server_time, id) serves
 * for every query of one conversation.  A msgid selector names a point of
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
 * given to PostgreSQL as a parameter of AT TIME ZONE.  Messages to HistServ
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

/* A conversation a client asked for, once access is granted. */
struct target {
    char name[IRC_CHANNEL_MAX + IRC_NICK_MAX + 1]; /* canonical channel name, or the nick as given */
    char conv[CONV_MAX + 1];                     /* messages.conversation */
    bool is_private;
};

enum { TARGET_OK, TARGET_NOT_MEMBER, TARGET_INVALID };

/* The conversation key of a private conversation, as worker/nick.c stores
 * it: both folded nicks, in byte order, joined by one space. */
static void private_key(const char *me, const char *other, char *out, size_t cap)
{
    char a[IRC_NICK_MAX + 1], b[IRC_NICK_MAX + 1];
    irc_casefold(a, me, strlen(me));
    irc_casefold(b, other, strlen(other));
    if (strcmp(a, b) > 0)
        snprintf(out, cap, "%s %s", b, a);
    else
        snprintf(out, cap, "%s %s", a, b);
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
    private_key(c->nick, name, t->conv, sizeof t->conv);
    t->is_private = true;
    return TARGET_OK;
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

/* SQL for a stored time: whole seconds and milliseconds, as two columns. */
#define SQL_TIME(col) "floor(extract(epoch FROM " col "))::bigint, " \
    "mod(extract(microseconds FROM " col ")::bigint, 1000000) / 1000"

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

/* Columns of every message query, in this order (see send_batch):
 * 0 part, 1 sender_nick, 2 command, 3 target, 4 body, 5 msgid, 6-7 time,
 * then the ordering key. */
#define MSG_COLS "m.sender_nick, m.command, m.target, m.body, m.msgid, " \
    SQL_TIME("m.server_time") ", m.server_time AS st, m.id AS id"

/* Conditions placing m relative to a selector whose value is parameter $k:
 * after it, before it, or at-or-after it (AROUND's second half).  A msgid is
 * a point of the (server_time, id) order; a timestamp compares by time only,
 * and "after" starts one millisecond later (the precision clients see). */
enum side { AFTER, BEFORE, FROM };

static void cond_side(struct buf *q, const struct selector *s, int k, enum side side)
{
    static const char *const op[] = { ">", "<", ">=" };
    if (s->kind == SEL_MSGID)
        buf_appendf(q, " AND (m.server_time, m.id) %s ("
                    "(SELECT server_time FROM messages WHERE conversation = $1 AND msgid = $%d), "
                    "(SELECT id FROM messages WHERE conversation = $1 AND msgid = $%d))", op[side], k, k);
    else if (s->kind != SEL_TIME && side != FROM)
        return;                         /* "*": no bound */
    else if (side == AFTER)
        buf_appendf(q, " AND m.server_time >= $%d::timestamptz + interval '1 millisecond'", k);
    else
        buf_appendf(q, " AND m.server_time %s $%d::timestamptz", op[side], k);
}

static void cond_after(struct buf *q, const struct selector *s, int k) { cond_side(q, s, k, AFTER); }
static void cond_before(struct buf *q, const struct selector *s, int k) { cond_side(q, s, k, BEFORE); }
static void cond_from(struct buf *q, const struct selector *s, int k) { cond_side(q, s, k, FROM); }

/* A selector as a point of the (server_time, id) order, for comparisons. */
static void point(struct buf *q, const struct selector *s, int k)
{
    if (s->kind == SEL_MSGID)
        buf_appendf(q, "((SELECT server_time FROM messages WHERE conversation = $1 AND msgid = $%d), "
                    "(SELECT id FROM messages WHERE conversation = $1 AND msgid = $%d))", k, k);
    else
        buf_appendf(q, "($%d::timestamptz, 0::bigint)", k);
}

/* One arm: messages of the conversation matching `conds`, the first `limit`
 * of them in the given direction. */
static void arm(struct buf *q, int part, bool is_private, const char *conds, bool asc, int klimit)
{
    buf_appendf(q, "(SELECT %d AS part, " MSG_COLS " FROM messages m"
                " WHERE m.conversation = $1 AND %sm.is_private%s"
                " ORDER BY m.server_time %s, m.id %s LIMIT $%d)",
                part, is_private ? "" : "NOT ", conds, asc ? "ASC" : "DESC", asc ? "ASC" : "DESC",
                klimit);
}

static void on_history(void *arg, const PGresult *res, const char *error);
static void on_targets(void *arg, const PGresult *res, const char *error);

static void chathistory_messages(struct client *c, enum sub sub, const struct target *t,
                                 const struct selector *a, const struct selector *b, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *values[4] = { t->conv };
    int n = 1;
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
        cond_after(&conds, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, 0, t->is_private, conds.data, false, kl);
        break;
    case SUB_BEFORE:
        cond_before(&conds, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, 0, t->is_private, conds.data, false, kl);
        break;
    case SUB_AFTER:
        cond_after(&conds, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, 0, t->is_private, conds.data, true, kl);
        break;
    case SUB_AROUND:
        /* Up to `limit` on each side; the reply takes a window around the
         * point from them (take_around). */
        cond_before(&conds, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, 0, t->is_private, conds.data, false, kl);
        buf_clear(&conds);
        buf_append_str(&q, " UNION ALL ");
        cond_from(&conds, a, ka);
        buf_append_byte(&conds, '\0');
        arm(&q, 1, t->is_private, conds.data, true, kl);
        break;
    case SUB_BETWEEN:
        /* Counted from the first selector towards the second, whichever way
         * that is; each arm runs only when its direction is the right one. */
        cond_after(&conds, a, ka);
        cond_before(&conds, b, kb);
        buf_append_str(&conds, " AND ");
        point(&conds, a, ka);
        buf_append_str(&conds, " < ");
        point(&conds, b, kb);
        buf_append_byte(&conds, '\0');
        arm(&q, 0, t->is_private, conds.data, true, kl);
        buf_clear(&conds);
        buf_append_str(&q, " UNION ALL ");
        cond_before(&conds, a, ka);
        cond_after(&conds, b, kb);
        buf_append_str(&conds, " AND ");
        point(&conds, a, ka);
        buf_append_str(&conds, " > ");
        point(&conds, b, kb);
        buf_append_byte(&conds, '\0');
        arm(&q, 0, t->is_private, conds.data, false, kl);
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

static void send_rows(struct client *c, const struct history_req *r, const PGresult *res,
                      int from, int to)
{
    char ref[24];
    batch_open(c, ref, sizeof ref, "chathistory", r->target);
    for (int i = from; i < to; i++) {
        struct msgline ml = {
            .time = row_time(res, i, 6, 7),
            .msgid = PQgetvalue(res, i, 5),
            .source = PQgetvalue(res, i, 1),
            .command = PQgetvalue(res, i, 2),
            .target = PQgetvalue(res, i, 3),
            .text = PQgetvalue(res, i, 4),
            .batch = ref,
        };
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
    send_rows(c, r, res, from, to);
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
 * Private conversations are found from the conversation index alone: a
 * loose index scan lists the distinct conversation keys (one index probe
 * each, no pass over the messages), keeps those with the client's nick on
 * either side, and each candidate's latest message in the window is one
 * backward index probe. */
static void chathistory_targets(struct client *c, const struct selector *a,
                                const struct selector *b, int limit)
{
    char me[IRC_NICK_MAX + 1], lim[16];
    irc_casefold(me, c->nick, strlen(c->nick));
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
    const char *values[5] = { me, chans.data, lo->value, hi->value, lim };
    char sql[2048];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE convs(c) AS ("
             " (SELECT conversation FROM messages ORDER BY conversation LIMIT 1)"
             " UNION ALL"
             " SELECT (SELECT conversation FROM messages WHERE conversation > convs.c"
             " ORDER BY conversation LIMIT 1) FROM convs WHERE convs.c IS NOT NULL),"
             " cands(c, priv) AS ("
             " SELECT c, true FROM convs WHERE position(' ' IN c) > 0"
             " AND (split_part(c, ' ', 1) = $1 OR split_part(c, ' ', 2) = $1)"
             " UNION SELECT unnest($2::text[]), false)"
             " SELECT l.conversation, l.is_private, l.sender_nick, l.target, " SQL_TIME("l.server_time")
             " FROM cands CROSS JOIN LATERAL ("
             " SELECT m.* FROM messages m WHERE m.conversation = cands.c AND m.is_private = cands.priv"
             " AND m.server_time >= $3::timestamptz + interval '1 millisecond'"
             " AND m.server_time < $4::timestamptz"
             " ORDER BY m.server_time DESC, m.id DESC LIMIT 1) l"
             " ORDER BY l.server_time %s, l.id %s LIMIT $5",
             forward ? "ASC" : "DESC", forward ? "ASC" : "DESC");
    struct history_req *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->client = c->id;
    r->sub = SUB_TARGETS;
    r->limit = limit;
    r->forward = forward;
    store_query(sql, 5, values, on_targets, r);
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
        if (strcmp(PQgetvalue(res, i, 1), "t") == 0) {
            /* The other side, as it was spelled in the latest message. */
            const char *sender = PQgetvalue(res, i, 2), *to = PQgetvalue(res, i, 3);
            name = irc_casecmp(sender, c->nick) == 0 ? to : sender;
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
    hs_notice(c, "  DAYS <#room|nick>               the days with messages, newest first, "
              "with a count each");
    hs_notice(c, "  SHOW <#room|nick> <YYYY-MM-DD> [page]  one day's messages in order, "
              "%d per page", PAGE_SIZE);
    hs_notice(c, "  HELP                            this text");
    hs_notice(c, "Days are in the %s time zone. Rooms: only while you are in them; "
              "nicks: your own conversation with that nick.", W.cfg->history_tz);
}

/* What a HistServ query needs to answer. */
struct hs_req {
    uint64_t client;
    bool show;
    int page;
    char date[11];
    struct target t;
};

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
    hs_notice(c, "Days with messages in %s (%s), newest first:", label, W.cfg->history_tz);
    for (int i = 0; i < shown_rows; i++) {
        long n = strtol(PQgetvalue(res, i, 1), NULL, 10);
        hs_notice(c, "  %s  %ld message%s", PQgetvalue(res, i, 0), n, n == 1 ? "" : "s");
    }
    if (rows > DAYS_MAX)
        hs_notice(c, "Only the %d most recent days are listed; older days can still be read "
                  "with SHOW.", DAYS_MAX);
    hs_notice(c, "Read a day with: /msg HistServ SHOW %s %s", r->t.name, PQgetvalue(res, 0, 0));
out:
    free(r);
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
            hs_notice(c, "No messages in %s on %s (%s).", label, r->date, W.cfg->history_tz);
        else
            hs_notice(c, "There is no page %d for %s on %s.", r->page, label, r->date);
        goto out;
    }
    long total = strtol(PQgetvalue(res, 0, 4), NULL, 10);
    long pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    hs_notice(c, "%s on %s (%s), page %d of %ld (%ld message%s):", label, r->date,
              W.cfg->history_tz, r->page, pages, total, total == 1 ? "" : "s");
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
        hs_notice(c, "More: /msg HistServ SHOW %s %s %d", r->t.name, r->date, r->page + 1);
    else
        hs_notice(c, "End of %s on %s.", label, r->date);
out:
    free(r);
}

static void hs_query_days(struct client *c, struct hs_req *r)
{
    const char *values[2] = { r->t.conv, W.cfg->history_tz };
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT to_char(d, 'YYYY-MM-DD'), n FROM ("
             "SELECT (server_time AT TIME ZONE $2)::date AS d, count(*) AS n FROM messages"
             " WHERE conversation = $1 AND %sis_private GROUP BY 1) s ORDER BY d DESC LIMIT %d",
             r->t.is_private ? "" : "NOT ", DAYS_MAX + 1);
    store_query(sql, 2, values, on_days, r);
}

static void hs_query_show(struct client *c, struct hs_req *r)
{
    char offset[16], sql[1024];
    snprintf(offset, sizeof offset, "%d", (r->page - 1) * PAGE_SIZE);
    const char *values[4] = { r->t.conv, W.cfg->history_tz, r->date, offset };
    /* The day's bounds are local midnights converted to timestamptz, so the
     * index range on (conversation, server_time) serves the query; count(*)
     * OVER () is the day's total, computed before LIMIT. */
    snprintf(sql, sizeof sql,
             "SELECT to_char(server_time AT TIME ZONE $2, 'HH24:MI:SS'), sender_nick, command, body,"
             " count(*) OVER () FROM messages"
             " WHERE conversation = $1 AND %sis_private"
             " AND server_time >= ($3::date)::timestamp AT TIME ZONE $2"
             " AND server_time < ($3::date + 1)::timestamp AT TIME ZONE $2"
             " ORDER BY server_time, id LIMIT %d OFFSET $4",
             r->t.is_private ? "" : "NOT ", PAGE_SIZE);
    store_query(sql, 4, values, on_show, r);
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
    free(r);
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

static void hs_days_or_show(struct client *c, bool show, char *args)
{
    char *save = NULL;
    char *who = strtok_r(args, " ", &save);
    char *date = show ? strtok_r(NULL, " ", &save) : NULL;
    char *page = show ? strtok_r(NULL, " ", &save) : NULL;
    char *extra = strtok_r(NULL, " ", &save);
    if (!who || (show && !date) || extra) {
        if (show)
            hs_notice(c, "Syntax: SHOW <#room|nick> <YYYY-MM-DD> [page]");
        else
            hs_notice(c, "Syntax: DAYS <#room|nick>");
        return;
    }
    struct hs_req *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->client = c->id;
    r->show = show;
    r->page = 1;
    int access = resolve_target(c, who, &r->t);
    if (access == TARGET_INVALID) {
        hs_notice(c, "%.64s is neither a room (#name) nor a valid nick.", who);
        free(r);
        return;
    }
    if (show) {
        if (!valid_date(date)) {
            hs_notice(c, "%.40s is not a date: write it as YYYY-MM-DD, e.g. 2026-11-24.", date);
            free(r);
            return;
        }
        snprintf(r->date, sizeof r->date, "%s", date);
        if (page) {
            char *end;
            long p = strtol(page, &end, 10);
            if (*end || p < 1 || p > PAGE_MAX || page[0] < '0' || page[0] > '9') {
                hs_notice(c, "%.20s is not a page number (1, 2, ...).", page);
                free(r);
                return;
            }
            r->page = (int)p;
        }
    }
    if (access == TARGET_NOT_MEMBER) {
        const char *values[1] = { r->t.conv };
        store_query("SELECT EXISTS (SELECT 1 FROM channels WHERE name_folded = $1)"
                    " OR EXISTS (SELECT 1 FROM messages WHERE conversation = $1 AND NOT is_private)",
                    1, values, on_room_checked, r);
        return;
    }
    if (show)
        hs_query_show(c, r);
    else
        hs_query_days(c, r);
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

