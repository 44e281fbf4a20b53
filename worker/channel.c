/* Channels: owner-side requests, sequenced events, mirrors, LIST.
 *
 * The owner worker of a channel (owner_of(name)) validates every request
 * (JOIN, PART, PRIVMSG, MODE, ...), turns each accepted one into an event with
 * the next sequence number, applies it to its own copy and sends it once to
 * every other worker that has members there.  Those workers apply the same
 * event to their mirror and deliver it to their local members.  An event is
 * formatted once per worker and the same bytes are queued for every local
 * recipient.
 *
 * A worker that gets its first member in a channel first receives a STATE
 * frame (the whole channel), then the JOIN event; it drops its mirror when its
 * last local member leaves.  When a worker restarts, the others re-announce
 * the members they hold in channels it owns (STATE with the REANNOUNCE flag),
 * together with topic and modes, so its channels come back. */
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/recent.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

enum ev_kind { EV_JOIN = 1, EV_PART, EV_KICK, EV_QUIT, EV_NICK, EV_MODE, EV_TOPIC, EV_MSG, EV_INVITE };

struct chan_event {
    int kind;
    uint64_t seq;
    double time;
    const char *source;           /* prefix of whoever caused it */
    const char *nick;             /* subject: joiner, leaver, victim, sender */
    uint64_t client;
    int slot;
    const char *user, *host, *realname;
    const char *account;          /* the subject's, "" if none */
    const char *away;             /* EV_JOIN: the joiner's away message, "" if here */
    bool bot;                     /* EV_JOIN: the joiner has user mode +B */
    bool quiet;                   /* EV_JOIN: not announced (parlor.chat/quiet) */
    bool invisible;               /* EV_JOIN: the joiner has user mode +i */
    unsigned modes;
    const char *a1, *a2;
    const char *msgid, *ctags;    /* EV_MSG */
    uint64_t mseq;                /* EV_MSG: the message number (0 for TAGMSG) */
    int origin_slot;              /* EV_MSG: the numbered request it came in */
    uint64_t origin_seq;          /* (worker/outbox.c), 0 when none */
};

/* origin_slot of a message passed on by a former owner (worker/handover.c):
 * it may come after a later one of its sender, so its number is not checked
 * (in a cluster every message is also checked by msgid: apply_event). */
#define ORIGIN_FORWARDED (-1)

/* Seconds after a room is gathered anew (a move: a new owner, a mirror
 * that becomes the owner) during which re-announced members are not new. */
#define NET_JOIN_QUIET 5.0

#define STATE_REANNOUNCE 1u
#define STATE_MORE 2u                 /* more members of the same state */

/* ---- re-entrancy ----
 *
 * Delivering a line can close a client (sendq), and closing a client sends
 * QUIT requests for its channels.  If one of those were handled right away
 * it could free a channel that the code below us on the stack is still
 * using.  So every entry point into this file counts itself in `depth`, and
 * requests of our own made while depth > 0 are queued and handled, in
 * order, when the outermost entry returns. */
struct parked_req;
static int depth;
static struct parked_req *deferred, **deferred_tail = &deferred;
static void handle_request(const struct chan_req *q);
static void parked_free_all(struct parked_req *p);
static void run_deferred(void);

static void enter(void)
{
    depth++;
}

static void leave(void)
{
    if (--depth == 0 && deferred)
        run_deferred();
}
#define TOPIC_MAX 390

/* ---- channel and member bookkeeping ---- */

struct channel *chan_find(const char *name)
{
    return hmap_get_name(&W.channels, name);
}

struct member *chan_member_id(struct channel *ch, uint64_t client)
{
    return hmap_get_id(&ch->members, client);
}

/* Nicks are unique on the server, but for a moment two members may show
 * the same one (one renamed away while the other's JOIN was on its way):
 * then the lowest client id wins, the same choice on the owner and on
 * every mirror. */
struct member *chan_member_nick(struct channel *ch, const char *nick)
{
    struct member *found = NULL;
    struct hmap_iter it;
    hmap_iter_init(&it, &ch->members);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct member *m = e->value;
        if (irc_casecmp(m->nick, nick) == 0 && (!found || m->client < found->client))
            found = m;
    }
    return found;
}

const char *member_prefix(unsigned modes, bool all)
{
    if ((modes & MEMBER_OP) && (modes & MEMBER_VOICE) && all)
        return "@+";
    if (modes & MEMBER_OP)
        return "@";
    if (modes & MEMBER_VOICE)
        return "+";
    return "";
}

static struct channel *chan_new(const char *name, bool owned)
{
    struct channel *ch = calloc(1, sizeof *ch);
    PARLOR_ASSERT(ch != NULL);
    snprintf(ch->name, sizeof ch->name, "%s", name);
    ch->owned = owned;
    if (owned)
        lusers_changed();
    ch->created = W.now;
    hmap_init(&ch->members);
    hmap_put_name(&W.channels, name, ch);
    return ch;
}

static void chan_free(struct channel *ch)
{
    if (ch->owned)
        lusers_changed();
    struct hmap_iter it;
    hmap_iter_init(&it, &ch->members);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct member *m = e->value;
        if (m->local)
            client_remove_channel(m->local, ch);
        free(m);
    }
    hmap_free(&ch->members);
    parked_free_all(ch->parked);
    free(ch->bans);
    free(ch->op_accounts);
    free(ch->invite_times);
    free(ch->local);
    free(ch);
}

/* Drop a channel nobody needs here any more; returns true if it did. */
static bool chan_maybe_drop(struct channel *ch)
{
    bool drop = ch->owned ? ch->members.count == 0 && !ch->loading : ch->nlocal == 0;
    if (!drop)
        return false;
    hmap_del_name(&W.channels, ch->name);
    chan_free(ch);
    return true;
}

static struct member *member_add(struct channel *ch, const char *nick, const char *account,
                                 const char *user, const char *host, const char *realname,
                                 uint64_t client, int slot, unsigned modes)
{
    struct member *m = calloc(1, sizeof *m);
    PARLOR_ASSERT(m != NULL);
    snprintf(m->nick, sizeof m->nick, "%s", nick);
    snprintf(m->account, sizeof m->account, "%s", account);
    snprintf(m->user, sizeof m->user, "%s", user);
    snprintf(m->host, sizeof m->host, "%s", host);
    snprintf(m->realname, sizeof m->realname, "%s", realname);
    m->client = client;
    m->slot = slot;
    m->modes = modes;
    hmap_put_id(&ch->members, client, m);
    if (ch->owned && slot >= 0 && slot < MAX_WORKERS)
        ch->per_worker[slot]++;
    if (slot == W.slot) {
        if (ch->nlocal == ch->local_cap) {
            ch->local_cap = ch->local_cap ? ch->local_cap * 2 : 8;
            ch->local = realloc(ch->local, (size_t)ch->local_cap * sizeof *ch->local);
            PARLOR_ASSERT(ch->local != NULL);
        }
        ch->local[ch->nlocal++] = m;
        struct client *c = client_by_id(client);
        if (c && !c->closing && c->registered) {
            m->local = c;
            client_add_channel(c, ch);
            client_pjoin_del(c, ch->name);
            client_invite_del(c, ch->name);
        }
    }
    return m;
}

static void member_remove(struct channel *ch, struct member *m)
{
    hmap_del_id(&ch->members, m->client);
    if (ch->owned && m->slot >= 0 && m->slot < MAX_WORKERS)
        ch->per_worker[m->slot]--;
    if (m->slot == W.slot) {
        for (int i = 0; i < ch->nlocal; i++)
            if (ch->local[i] == m) {
                ch->local[i] = ch->local[--ch->nlocal];
                break;
            }
        if (m->local)
            client_remove_channel(m->local, ch);
    }
    free(m);
}

/* ---- delivery ---- */

/* One event line in the (up to) three forms clients get, each formatted
 * once, on first use, and the same bytes queued for every recipient. */
struct line {
    const char *actor;             /* nick!user@host of whoever caused it */
    struct msgline m;
    char text[1100];               /* the line body for non-message events */
    struct buf form[MSGLINE_FORMS];
};

static void line_init(struct line *l, double time, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line_init(struct line *l, double time, const char *fmt, ...)
{
    l->actor = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    memset(&l->m, 0, sizeof l->m);
    l->m.time = time;
    for (int i = 0; i < MSGLINE_FORMS; i++)
        buf_init(&l->form[i]);
}

static void line_init_msg(struct line *l, const struct msgline *m)
{
    l->actor = NULL;
    l->text[0] = '\0';
    l->m = *m;
    for (int i = 0; i < MSGLINE_FORMS; i++)
        buf_init(&l->form[i]);
}

static void line_free(struct line *l)
{
    for (int i = 0; i < MSGLINE_FORMS; i++)
        buf_free(&l->form[i]);
}

static void line_send_form(struct line *l, struct client *c);

static void line_send(struct line *l, struct client *c)
{
    if (!label_capturing(c)) {        /* the usual case: nothing to decide */
        line_send_form(l, c);
        return;
    }
    /* Events caused by others are not responses to this client. */
    size_t n = l->actor ? strcspn(l->actor, "!") : 0;
    bool own = n && strlen(c->nick) == n && strncasecmp(l->actor, c->nick, n) == 0;
    bool was = W.unsolicited;
    W.unsolicited = !own;
    line_send_form(l, c);
    W.unsolicited = was;
}

static void line_send_form(struct line *l, struct client *c)
{
    if (!l->text[0] && !l->m.text && !(c->caps & CAP_MESSAGE_TAGS))
        return;                        /* TAGMSG only for message-tags clients */
    int form = msgline_form_for(c->caps, l->m.account);
    struct buf *b = &l->form[form];
    if (!b->len) {
        if (l->text[0]) {
            msgline_tags(b, &l->m, form);
            buf_append_str(b, l->text);
            buf_append_str(b, "\r\n");
        } else {
            buf_reserve(b, IRC_TAGS_MAX + IRC_LINE_LIMIT + 600);
            b->len = msgline_format(&l->m, form, b->data, b->cap);
        }
    }
    client_send(c, b->data, b->len);
}

/* Does local client x share a channel other than `except` with `client`? */
static bool shares_other_channel(struct client *x, uint64_t client, struct channel *except)
{
    for (int i = 0; i < x->nchans; i++)
        if (x->chans[i] != except && chan_member_id(x->chans[i], client))
            return true;
    return false;
}

/* A NICK change reaches each user once: from the first shared channel whose
 * event arrives (there the member already shows the new nick). */
static bool told_nick_elsewhere(struct client *x, uint64_t client, const char *newnick,
                                struct channel *except)
{
    for (int i = 0; i < x->nchans; i++) {
        if (x->chans[i] == except)
            continue;
        struct member *m = chan_member_id(x->chans[i], client);
        if (m && strcmp(m->nick, newnick) == 0)
            return true;
    }
    return false;
}

/* ---- numerics that read a channel ---- */

static void names_reply(struct channel *ch, int slot, uint64_t client, const char *nick, uint32_t caps)
{
    char sym = ch->mode_s ? '@' : ch->mode_p ? '*' : '=';
    bool outsider = !chan_member_id(ch, client);   /* sees no invisible (+i) member */
    char buf[420];
    size_t len = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &ch->members);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct member *m = e->value;
        if (outsider && m->invisible)
            continue;
        char one[256];
        int n;
        const char *pfx = member_prefix(m->modes, caps & CAP_MULTI_PREFIX);
        if (caps & CAP_USERHOST_IN_NAMES)
            n = snprintf(one, sizeof one, "%s%s!%s@%s", pfx, m->nick, m->user, m->host);
        else
            n = snprintf(one, sizeof one, "%s%s", pfx, m->nick);
        if (n < 0)
            continue;
        if (len && len + (size_t)n + 1 > 380) {
            reply_remote(slot, client, nick, "353", "%c %s :%.*s", sym, ch->name, (int)len, buf);
            len = 0;
        }
        if (len)
            buf[len++] = ' ';
        memcpy(buf + len, one, (size_t)n);
        len += (size_t)n;
    }
    if (len)
        reply_remote(slot, client, nick, "353", "%c %s :%.*s", sym, ch->name, (int)len, buf);
    reply_remote(slot, client, nick, "366", "%s :End of NAMES list", ch->name);
}

static void topic_reply(struct channel *ch, int slot, uint64_t client, const char *nick)
{
    if (!ch->topic[0]) {
        reply_remote(slot, client, nick, "331", "%s :No topic is set", ch->name);
        return;
    }
    reply_remote(slot, client, nick, "332", "%s :%s", ch->name, ch->topic);
    reply_remote(slot, client, nick, "333", "%s %s %ld", ch->name, ch->topic_by, (long)ch->topic_at);
}

void chan_mode_string(const struct channel *ch, bool params, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "+%s%s%s%s%s%s%s%s%s", ch->mode_i ? "i" : "",
                                ch->key[0] ? "k" : "", ch->limit ? "l" : "", ch->mode_m ? "m" : "",
                                ch->mode_n ? "n" : "", ch->mode_p ? "p" : "", ch->mode_s ? "s" : "",
                                ch->mode_t ? "t" : "", ch->mode_z ? "z" : "");
    if (!params)
        return;
    if (ch->key[0] && n < cap)
        n += (size_t)snprintf(out + n, cap - n, " %s", ch->key);
    if (ch->limit && n < cap)
        snprintf(out + n, cap - n, " %d", ch->limit);
}

/* ---- bans ---- */

static bool is_banned(const struct channel *ch, const char *nick, const char *user, const char *host)
{
    if (!ch->nbans)
        return false;
    char who[256];
    snprintf(who, sizeof who, "%s!%s@%s", nick, user, host);
    for (int i = 0; i < ch->nbans; i++)
        if (irc_mask_match(ch->bans[i].mask, who))
            return true;
    return false;
}

static int ban_find(const struct channel *ch, const char *mask)
{
    for (int i = 0; i < ch->nbans; i++)
        if (irc_casecmp(ch->bans[i].mask, mask) == 0)
            return i;
    return -1;
}

static void ban_add(struct channel *ch, const char *mask, const char *by, double at)
{
    if (ban_find(ch, mask) >= 0 || ch->nbans >= MAX_BANS)
        return;
    if (!ch->bans) {
        ch->bans = calloc(MAX_BANS, sizeof *ch->bans);
        PARLOR_ASSERT(ch->bans != NULL);
    }
    struct ban *b = &ch->bans[ch->nbans++];
    snprintf(b->mask, sizeof b->mask, "%s", mask);
    snprintf(b->by, sizeof b->by, "%s", by);
    b->at = at;
}

static void ban_del(struct channel *ch, const char *mask)
{
    int i = ban_find(ch, mask);
    if (i >= 0)
        ch->bans[i] = ch->bans[--ch->nbans];
}

/* "nick" or "nick!user" become full masks, as other servers do; a long
 * mask is cut between characters. */
static void normalize_mask(const char *in, char *out, size_t cap)
{
    char full[IRC_LINE_LIMIT + 8];
    if (strchr(in, '!') && strchr(in, '@'))
        snprintf(full, sizeof full, "%s", in);
    else if (strchr(in, '@'))
        snprintf(full, sizeof full, "*!%s", in);
    else if (strchr(in, '!'))
        snprintf(full, sizeof full, "%s@*", in);
    else
        snprintf(full, sizeof full, "%s!*@*", in);
    utf8_copy(out, cap, full);
}

/* ---- applying events (owner and mirrors alike) ---- */

/* Apply a MODE change string ("+ok-v key alice bob") that the owner accepted. */
static void apply_modes(struct channel *ch, const char *changes, const char *source, double at)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", changes);
    char *save, *modes = strtok_r(copy, " ", &save);
    if (!modes)
        return;
    bool plus = true;
    for (const char *p = modes; *p; p++) {
        char *arg = NULL;
        switch (*p) {
        case '+': plus = true; break;
        case '-': plus = false; break;
        case 'i': ch->mode_i = plus; break;
        case 'm': ch->mode_m = plus; break;
        case 'n': ch->mode_n = plus; break;
        case 't': ch->mode_t = plus; break;
        case 's': ch->mode_s = plus; break;
        case 'p': ch->mode_p = plus; break;
        case 'z': ch->mode_z = plus; break;
        case 'k':
            arg = strtok_r(NULL, " ", &save);
            if (plus && arg)
                snprintf(ch->key, sizeof ch->key, "%s", arg);
            else if (!plus)
                ch->key[0] = '\0';
            break;
        case 'l':
            if (plus) {
                arg = strtok_r(NULL, " ", &save);
                ch->limit = arg ? atoi(arg) : 0;
            } else {
                ch->limit = 0;
            }
            break;
        case 'b': {
            arg = strtok_r(NULL, " ", &save);
            if (!arg)
                break;
            if (plus) {
                char by[IRC_NICK_MAX + 1];
                const char *bang = strchr(source, '!');
                snprintf(by, sizeof by, "%.*s", bang ? (int)(bang - source) : (int)strlen(source), source);
                ban_add(ch, arg, by, at);
            } else {
                ban_del(ch, arg);
            }
            break;
        }
        case 'o': case 'v': {
            arg = strtok_r(NULL, " ", &save);
            struct member *m = arg ? chan_member_nick(ch, arg) : NULL;
            unsigned bit = *p == 'o' ? MEMBER_OP : MEMBER_VOICE;
            if (m)
                m->modes = plus ? (m->modes | bit) : (m->modes & ~bit);
            break;
        }
        }
    }
}

static void request_leave(const char *channel, const char *nick, uint64_t client);
static void channel_save(struct channel *ch);
static void ban_write(struct channel *ch, const char *mask, const char *by, bool add);
static void load_extras(struct channel *ch);
static void run_parked(struct channel *ch);

/* The tags a subject's line carries: its account (account-tag) and bot
 * mode (bot tag); m is the subject's member, or NULL. */
static void line_subject(struct line *l, const struct chan_event *ev, const struct member *m)
{
    l->actor = ev->source;
    l->m.account = ev->account;
    l->m.bot = m && m->bot;
}

/* A JOIN to our members: with account and realname to extended-join
 * clients, then the joiner's away message to away-notify clients. */
static void join_deliver(struct channel *ch, const struct chan_event *ev)
{
    struct line plain, ext;
    line_init(&plain, ev->time, ":%s JOIN %s", ev->source, ch->name);
    line_init(&ext, ev->time, ":%s JOIN %s %s :%s", ev->source, ch->name,
              ev->account[0] ? ev->account : "*", ev->realname);
    line_subject(&plain, ev, NULL);
    line_subject(&ext, ev, NULL);
    plain.m.bot = ext.m.bot = ev->bot;
    for (int i = 0; i < ch->nlocal; i++) {
        struct client *x = ch->local[i]->local;
        if (x && (!ev->quiet || ch->local[i]->client == ev->client))
            line_send((x->caps & CAP_EXTENDED_JOIN) ? &ext : &plain, x);
    }
    line_free(&plain);
    line_free(&ext);
    if (!ev->away[0] || ev->quiet)
        return;
    for (int i = 0; i < ch->nlocal; i++) {
        struct client *x = ch->local[i]->local;
        if (!x || !(x->caps & CAP_AWAY_NOTIFY) || ch->local[i]->client == ev->client)
            continue;
        struct buf b = BUF_INIT;
        user_away_line(&b, x->caps, ev->source, ev->account, ev->bot, ev->away);
        bool was = W.unsolicited;
        W.unsolicited = true;
        client_send(x, b.data, b.len);
        W.unsolicited = was;
        buf_free(&b);
    }
}

/* invite-notify: an INVITE is shown to the members that asked for it (in
 * a +i room only to its operators), not to the inviter, who gets 341. */
static void invite_notify(struct channel *ch, const struct chan_event *ev)
{
    struct line l;
    line_init(&l, ev->time, ":%s INVITE %s %s", ev->source, ev->a1, ch->name);
    line_subject(&l, ev, chan_member_id(ch, ev->client));
    for (int i = 0; i < ch->nlocal; i++) {
        struct member *lm = ch->local[i];
        struct client *x = lm->local;
        if (!x || !(x->caps & CAP_INVITE_NOTIFY) || lm->client == ev->client ||
            (ch->mode_i && !(lm->modes & MEMBER_OP)))
            continue;
        line_send(&l, x);
    }
    line_free(&l);
}

/* Apply one event to our copy of the channel and deliver it to our members.
 * Never frees the channel; callers use chan_maybe_drop() afterwards. */
static void apply_event(struct channel *ch, const struct chan_event *ev)
{
    if (ev->seq > ch->seq)
        ch->seq = ev->seq;
    if (ev->mseq > ch->msg_seq)       /* mirrors follow, so a restarted owner goes on from here */
        ch->msg_seq = ev->mseq;
    struct member *m = chan_member_id(ch, ev->client);
    struct line l;
    switch (ev->kind) {
    case EV_JOIN: {
        if (m)
            return;
        m = member_add(ch, ev->nick, ev->account, ev->user, ev->host, ev->realname, ev->client,
                       ev->slot, ev->modes);
        snprintf(m->away, sizeof m->away, "%s", ev->away);
        m->bot = ev->bot;
        m->quiet = ev->quiet;
        m->invisible = ev->invisible;
        join_deliver(ch, ev);
        if (ev->slot == W.slot) {
            if (m->local)
                user_joined(m->local, m);     /* a change made while the JOIN was on its way */
            if (m->local) {
                if (ch->topic[0])
                    topic_reply(ch, W.slot, ev->client, ev->nick);
                if (!(m->local->caps & CAP_NO_IMPLICIT_NAMES))
                    names_reply(ch, W.slot, ev->client, ev->nick, m->local->caps);
                if (m->local)
                    replay_join_done(m->local, ch->name, ch->msg_seq);
            } else {
                /* Our client left before its JOIN came back: undo it. */
                request_leave(ch->name, ev->nick, ev->client);
            }
        }
        return;
    }
    case EV_PART: case EV_KICK: case EV_QUIT: {
        if (!m)
            return;
        if (ev->kind == EV_PART)
            line_init(&l, ev->time, ":%s PART %s :%s", ev->source, ch->name, ev->a1);
        else if (ev->kind == EV_KICK)
            line_init(&l, ev->time, ":%s KICK %s %s :%s", ev->source, ch->name, ev->nick, ev->a1);
        else
            line_init(&l, ev->time, ":%s QUIT :%s", ev->source, ev->a1);
        line_subject(&l, ev, ev->kind == EV_KICK ? NULL : m);   /* KICK: the kicker's tags */
        for (int i = 0; i < ch->nlocal; i++) {
            struct client *x = ch->local[i]->local;
            if (!x)
                continue;
            /* A QUIT reaches each user once: from the last channel shared. */
            if (ev->kind == EV_QUIT && (ch->local[i] == m || shares_other_channel(x, ev->client, ch)))
                continue;
            if (m->quiet && ev->kind != EV_KICK && ch->local[i] != m)
                continue;                 /* a quiet member leaves unannounced */
            line_send(&l, x);
        }
        line_free(&l);
        member_remove(ch, m);
        return;
    }
    case EV_NICK: {
        if (!m)
            return;
        const char *newnick = ev->a1;
        snprintf(m->nick, sizeof m->nick, "%s", newnick);
        line_init(&l, ev->time, ":%s NICK :%s", ev->source, newnick);
        line_subject(&l, ev, m);
        for (int i = 0; i < ch->nlocal; i++) {
            struct client *x = ch->local[i]->local;
            if (!x || ch->local[i] == m || told_nick_elsewhere(x, ev->client, newnick, ch))
                continue;
            line_send(&l, x);
        }
        line_free(&l);
        return;
    }
    case EV_MODE:
        apply_modes(ch, ev->a1, ev->source, ev->time);
        line_init(&l, ev->time, ":%s MODE %s %s", ev->source, ch->name, ev->a1);
        line_subject(&l, ev, m);
        break;
    case EV_TOPIC: {
        snprintf(ch->topic, sizeof ch->topic, "%s", ev->a1);
        const char *bang = strchr(ev->source, '!');
        snprintf(ch->topic_by, sizeof ch->topic_by, "%.*s",
                 bang ? (int)(bang - ev->source) : (int)strlen(ev->source), ev->source);
        ch->topic_at = ev->time;
        line_init(&l, ev->time, ":%s TOPIC %s :%s", ev->source, ch->name, ev->a1);
        line_subject(&l, ev, m);
        break;
    }
    case EV_MSG: {
        /* A request sent again to a new owner comes back as the same
         * message: members who had it already do not get it twice.  Each
         * worker's requests reach a room in the order it numbered them. */
        if (W.cluster) {
            /* A message can come twice by two roads (the owner that died
             * relayed it, and a worker that had not yet seen it die passed
             * the request on, or a former owner did): told by its msgid. */
            static struct recent_ids seen;
            if (recent_seen(&seen, ev->msgid))
                return;
        }
        if (ev->origin_seq && ev->origin_slot >= 0 && ev->origin_slot < MAX_WORKERS) {
            if (ev->origin_seq <= ch->origin_seq[ev->origin_slot])
                return;
            ch->origin_seq[ev->origin_slot] = ev->origin_seq;
            if (ev->origin_slot == W.slot)    /* ours: a copy sent again keeps its number */
                outbox_note_mseq(ev->msgid, ev->mseq);
        }
        /* The sender's own copy is its echo, sent once the message is
         * durable (see on_msg_durable), never from here. */
        struct msgline ml = {
            .time = ev->time, .msgid = ev->msgid, .ctags = ev->ctags, .source = ev->source,
            .command = ev->a1, .target = ch->name,
            .text = strcmp(ev->a1, "TAGMSG") == 0 ? NULL : ev->a2,
        };
        line_init_msg(&l, &ml);
        line_subject(&l, ev, m);
        for (int i = 0; i < ch->nlocal; i++) {
            struct client *x = ch->local[i]->local;
            if (x && ch->local[i]->client != ev->client)
                line_send(&l, x);
        }
        line_free(&l);
        return;
    }
    case EV_INVITE:
        invite_notify(ch, ev);
        return;
    default:
        return;
    }
    for (int i = 0; i < ch->nlocal; i++)
        if (ch->local[i]->local)
            line_send(&l, ch->local[i]->local);
    line_free(&l);
}

/* ---- frames ---- */

static void encode_event(struct buf *b, struct channel *ch, const struct chan_event *ev)
{
    size_t f = ipc_begin(b, IPC_P_CHAN_EVENT);
    ipc_put_u8(b, (uint8_t)ev->kind);
    ipc_put_cstr(b, ch->name);
    ipc_put_u64(b, ev->seq);
    ipc_put_u64(b, (uint64_t)(ev->time * 1000.0));
    ipc_put_cstr(b, ev->source);
    ipc_put_cstr(b, ev->nick);
    ipc_put_u64(b, ev->client);
    ipc_put_u32(b, (uint32_t)ev->slot);
    ipc_put_cstr(b, ev->user);
    ipc_put_cstr(b, ev->host);
    ipc_put_cstr(b, ev->realname);
    ipc_put_u32(b, ev->modes);
    ipc_put_cstr(b, ev->a1);
    ipc_put_cstr(b, ev->a2);
    ipc_put_cstr(b, ev->msgid);
    ipc_put_cstr(b, ev->ctags);
    ipc_put_u64(b, ev->mseq);
    ipc_put_cstr(b, ev->account);
    ipc_put_u32(b, (uint32_t)ev->origin_slot);
    ipc_put_u64(b, ev->origin_seq);
    ipc_put_cstr(b, ev->away);
    ipc_put_u8(b, (uint8_t)(ev->bot | (ev->quiet ? 2 : 0) | (ev->invisible ? 4 : 0)));  /* 1 bot, 2 quiet, 4 +i */
    ipc_end(b, f);
}

void chan_handle_event(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    struct chan_event ev;
    ev.kind = ipc_get_u8(&r);
    const char *name = ipc_get_str(&r, NULL);
    ev.seq = ipc_get_u64(&r);
    ev.time = (double)ipc_get_u64(&r) / 1000.0;
    ev.source = ipc_get_str(&r, NULL);
    ev.nick = ipc_get_str(&r, NULL);
    ev.client = ipc_get_u64(&r);
    ev.slot = (int)ipc_get_u32(&r);
    ev.user = ipc_get_str(&r, NULL);
    ev.host = ipc_get_str(&r, NULL);
    ev.realname = ipc_get_str(&r, NULL);
    ev.modes = ipc_get_u32(&r);
    ev.a1 = ipc_get_str(&r, NULL);
    ev.a2 = ipc_get_str(&r, NULL);
    ev.msgid = ipc_get_str(&r, NULL);
    ev.ctags = ipc_get_str(&r, NULL);
    ev.mseq = ipc_get_u64(&r);
    ev.account = ipc_get_str(&r, NULL);
    ev.origin_slot = (int)ipc_get_u32(&r);
    ev.origin_seq = ipc_get_u64(&r);
    ev.away = ipc_get_str(&r, NULL);
    uint8_t jflags = ipc_get_u8(&r);
    ev.bot = jflags & 1;
    ev.quiet = (jflags & 2) != 0;
    ev.invisible = (jflags & 4) != 0;
    if (r.err) {
        log_warn("malformed channel event");
        return;
    }
    struct channel *ch = chan_find(name);
    if (!ch) {
        log_debug("event %d for %s, which we do not mirror", ev.kind, name);
        return;
    }
    enter();
    apply_event(ch, &ev);
    chan_maybe_drop(ch);
    leave();
}

/* The channel's settings and its members (all, or those on `only_slot`),
 * in frames of at most frame_budget() bytes of members each: the first
 * carries the settings, the following ones (STATE_MORE) only members, so a
 * room of any size never makes a frame over the limit. */

static void encode_state(struct buf *b, struct channel *ch, unsigned flags, int only_slot)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &ch->members);
    struct hmap_entry *e = hmap_iter_next(&it);
    for (bool first = true; first || e; first = false) {
        size_t f = ipc_begin(b, IPC_P_CHAN_STATE);
        ipc_put_u8(b, (uint8_t)(flags | (first ? 0 : STATE_MORE)));
        ipc_put_cstr(b, ch->name);
        ipc_put_u64(b, ch->seq);
        ipc_put_u64(b, ch->msg_seq);
        ipc_put_u64(b, (uint64_t)(ch->created * 1000.0));
        ipc_put_cstr(b, ch->topic);
        ipc_put_cstr(b, ch->topic_by);
        ipc_put_u64(b, (uint64_t)(ch->topic_at * 1000.0));
        ipc_put_u8(b, (uint8_t)(ch->mode_i | ch->mode_m << 1 | ch->mode_n << 2 | ch->mode_t << 3 |
                                ch->mode_s << 4 | ch->mode_p << 5 | ch->mode_z << 6));
        ipc_put_cstr(b, ch->key);
        ipc_put_u32(b, (uint32_t)ch->limit);
        ipc_put_u32(b, (uint32_t)ch->nbans);
        for (int i = 0; i < ch->nbans; i++) {
            ipc_put_cstr(b, ch->bans[i].mask);
            ipc_put_cstr(b, ch->bans[i].by);
            ipc_put_u64(b, (uint64_t)(ch->bans[i].at * 1000.0));
        }
        size_t members_at = b->len;
        for (; e && b->len - members_at < frame_budget(); e = hmap_iter_next(&it)) {
            struct member *m = e->value;
            if (only_slot >= 0 && m->slot != only_slot)
                continue;
            if ((flags & STATE_REANNOUNCE) && !m->local)
                continue;                 /* its client left; its QUIT may not have got there */
            ipc_put_u8(b, 1);
            ipc_put_cstr(b, m->nick);
            ipc_put_cstr(b, m->account);
            ipc_put_cstr(b, m->user);
            ipc_put_cstr(b, m->host);
            ipc_put_cstr(b, m->realname);
            ipc_put_u64(b, m->client);
            ipc_put_u32(b, (uint32_t)m->slot);
            ipc_put_u32(b, m->modes);
            ipc_put_cstr(b, m->away);
            ipc_put_u8(b, (uint8_t)(m->bot | (m->quiet ? 2 : 0) | (m->invisible ? 4 : 0)));
        }
        ipc_put_u8(b, 0);             /* end of members */
        ipc_end(b, f);
    }
}

static void send_state(int slot, struct channel *ch, unsigned flags, int only_slot)
{
    struct buf *b = peer_buf(slot);
    if (b)
        encode_state(b, ch, flags, only_slot);
}

static void emit(struct channel *ch, struct chan_event *ev);

void chan_handle_state(int from_slot, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    unsigned flags = ipc_get_u8(&r);
    const char *name = ipc_get_str(&r, NULL);
    uint64_t seq = ipc_get_u64(&r);
    uint64_t msg_seq = ipc_get_u64(&r);
    double created = (double)ipc_get_u64(&r) / 1000.0;
    const char *topic = ipc_get_str(&r, NULL);
    const char *topic_by = ipc_get_str(&r, NULL);
    double topic_at = (double)ipc_get_u64(&r) / 1000.0;
    unsigned modes = ipc_get_u8(&r);
    const char *key = ipc_get_str(&r, NULL);
    int limit = (int)ipc_get_u32(&r);
    uint32_t nbans = ipc_get_u32(&r);
    struct ban bans[MAX_BANS];
    int kept = 0;
    for (uint32_t i = 0; i < nbans && !r.err; i++) {
        const char *mask = ipc_get_str(&r, NULL);
        const char *by = ipc_get_str(&r, NULL);
        double at = (double)ipc_get_u64(&r) / 1000.0;
        if (kept < MAX_BANS) {
            snprintf(bans[kept].mask, sizeof bans[kept].mask, "%s", mask);
            snprintf(bans[kept].by, sizeof bans[kept].by, "%s", by);
            bans[kept].at = at;
            kept++;
        }
    }
    if (r.err || !irc_channel_valid(name, strlen(name))) {
        log_warn("malformed channel state");
        return;
    }
    bool reannounce = flags & STATE_REANNOUNCE, more = flags & STATE_MORE;
    /* A healed split (worker/handover.c): members the other side kept come
     * back into a room that was going on without them; they are shown
     * joining. */
    bool net_join = false;
    if (reannounce && owner_of(name) != W.slot) {
        /* With cluster: the sender may have seen a node go a moment before us. */
        if (!(W.cluster && cluster_defer_state(from_slot, payload, len)))
            log_warn("re-announce of %s, which we do not own", name);
        return;
    }
    enter();
    struct channel *ch = chan_find(name);
    bool fresh = !ch;
    if (!ch)
        ch = chan_new(name, reannounce);
    if (fresh && reannounce)
        load_extras(ch);
    if (fresh)
        ch->gathering_until = W.now + NET_JOIN_QUIET;
    /* The owner gathering a moved room hears its members again: not new.  A
     * mirror told the owner's whole room: members it lacks are new to it. */
    net_join = W.cluster && !fresh && outbox_synced() && (!reannounce || W.now >= ch->gathering_until);
    if (!more && (fresh || seq > ch->seq)) {
        /* The newest copy wins the channel's settings. */
        ch->created = created;
        snprintf(ch->topic, sizeof ch->topic, "%s", topic);
        snprintf(ch->topic_by, sizeof ch->topic_by, "%s", topic_by);
        ch->topic_at = topic_at;
        ch->mode_i = modes & 1;
        ch->mode_m = (modes >> 1) & 1;
        ch->mode_n = (modes >> 2) & 1;
        ch->mode_t = (modes >> 3) & 1;
        ch->mode_s = (modes >> 4) & 1;
        ch->mode_p = (modes >> 5) & 1;
        ch->mode_z = (modes >> 6) & 1;
        snprintf(ch->key, sizeof ch->key, "%s", key);
        ch->limit = limit;
        ch->seq = seq;
        ch->nbans = 0;
        if (msg_seq > ch->msg_seq)
            ch->msg_seq = msg_seq;
        for (int i = 0; i < kept; i++)
            ban_add(ch, bans[i].mask, bans[i].by, bans[i].at);
    }
    uint32_t n = 0;
    while (!r.err && ipc_get_u8(&r) == 1) {
        const char *nick = ipc_get_str(&r, NULL);
        const char *account = ipc_get_str(&r, NULL);
        const char *user = ipc_get_str(&r, NULL);
        const char *host = ipc_get_str(&r, NULL);
        const char *realname = ipc_get_str(&r, NULL);
        uint64_t client = ipc_get_u64(&r);
        int slot = (int)ipc_get_u32(&r);
        unsigned mm = ipc_get_u32(&r);
        const char *away = ipc_get_str(&r, NULL);
        uint8_t mflags = ipc_get_u8(&r);
        /* A re-announcement speaks only for the sender's own members. */
        if (r.err || slot < 0 || slot >= W.nworkers || (reannounce && slot != from_slot))
            continue;
        if (!chan_member_id(ch, client)) {
            if (net_join) {
                char source[256];
                snprintf(source, sizeof source, "%s!%s@%s", nick, user, host);
                struct chan_event ev = {
                    .kind = EV_JOIN, .time = W.now, .source = source, .nick = nick, .client = client,
                    .slot = slot, .user = user, .host = host, .realname = realname, .account = account,
                    .away = away, .bot = mflags & 1, .quiet = (mflags & 2) != 0,
                    .invisible = (mflags & 4) != 0, .modes = mm, .a1 = "", .a2 = "", .msgid = "", .ctags = "",
                };
                if (ch->owned)
                    emit(ch, &ev);        /* to every worker with members */
                else
                    apply_event(ch, &ev); /* the owner's whole room, to our members */
                n++;
                continue;
            }
            struct member *m = member_add(ch, nick, account, user, host, realname, client, slot, mm);
            snprintf(m->away, sizeof m->away, "%s", away);
            m->bot = mflags & 1;
            m->quiet = (mflags & 2) != 0;
            m->invisible = (mflags & 4) != 0;
        }
        n++;
    }
    if (r.err)
        log_warn("malformed channel state for %s", name);
    if (reannounce) {
        log_info("channel %s: %u members re-announced by worker %d", name, n, from_slot);
        /* The sender's mirror may have lost members while the link was
         * down: give it the whole channel back. */
        if (!more && ch->per_worker[from_slot] > 0)
            send_state(from_slot, ch, 0, -1);
        if (!more)
            game_on_room_back(ch->name);  /* GameServ: tell them if its game was lost */
        chan_maybe_drop(ch);
    }
    leave();
}

/* ---- the owner side ---- */

/* Number an event, apply it here and send it to every worker with members
 * (also to one whose last member it removes).  The frame is encoded before
 * the event is applied: applying may free strings the event points to. */
static void emit(struct channel *ch, struct chan_event *ev)
{
    static struct buf frame;
    ev->seq = ch->seq + 1;
    ev->time = W.now;
    bool had[MAX_WORKERS];
    for (int s = 0; s < W.nworkers; s++)
        had[s] = ch->per_worker[s] > 0;
    if (ev->kind == EV_JOIN && ev->slot != W.slot && !had[ev->slot])
        send_state(ev->slot, ch, 0, -1);
    buf_clear(&frame);
    encode_event(&frame, ch, ev);
    apply_event(ch, ev);
    for (int s = 0; s < W.nworkers; s++) {
        if (s == W.slot || !(had[s] || ch->per_worker[s] > 0))
            continue;
        struct buf *b = peer_buf(s);
        if (b)
            buf_append(b, frame.data, frame.len);
    }
}

static void fill_subject(struct chan_event *ev, const struct chan_req *q, char *source, size_t cap)
{
    snprintf(source, cap, "%s!%s@%s", q->nick, q->user, q->host);
    ev->source = source;
    ev->nick = q->nick;
    ev->client = q->client;
    ev->slot = q->slot;
    ev->user = q->user;
    ev->host = q->host;
    ev->realname = q->realname;
    ev->account = q->account;
    ev->away = q->away ? q->away : "";
    ev->bot = q->bot;
    ev->quiet = q->quiet;
    ev->invisible = q->invisible;
    ev->modes = 0;
    ev->a1 = ev->a2 = "";
    ev->msgid = ev->ctags = "";
    ev->mseq = 0;
    ev->origin_slot = 0;
    ev->origin_seq = 0;
}

#define ERR(num, ...) reply_remote(q->slot, q->client, q->nick, num, __VA_ARGS__)

/* ---- operators remembered by account (owner only) ---- */

#define OP_ACCOUNTS_MAX 64

static int op_account_find(const struct channel *ch, const char *account)
{
    for (int i = 0; i < ch->nop_accounts; i++)
        if (irc_casecmp(ch->op_accounts[i], account) == 0)
            return i;
    return -1;
}

/* Rows that refer to the room need its `channels` row first. */
static void ensure_stored(struct channel *ch)
{
    if (!ch->stored) {
        channel_save(ch);
        ch->stored = true;
    }
}

static void op_accounts_write(struct channel *ch, const char *account, bool add)
{
    if (!store_available())
        return;
    ensure_stored(ch);
    char chan[IRC_CHANNEL_MAX + 1], acct[IRC_NICK_MAX + 1];
    irc_casefold(chan, ch->name, strlen(ch->name));
    irc_casefold(acct, account, strlen(account));
    const char *v[2] = { chan, acct };
    store_query(add ? "INSERT INTO channel_ops (channel_folded, account_folded) VALUES ($1, $2)"
                      " ON CONFLICT DO NOTHING"
                    : "DELETE FROM channel_ops WHERE channel_folded = $1 AND account_folded = $2",
                2, v, NULL, NULL);
}

/* `account` gets op back whenever it joins (or no longer does). */
static void op_account_set(struct channel *ch, const char *account, bool op)
{
    if (!account[0])
        return;
    int i = op_account_find(ch, account);
    if (op && i < 0 && ch->nop_accounts < OP_ACCOUNTS_MAX) {
        ch->op_accounts = realloc(ch->op_accounts, (size_t)(ch->nop_accounts + 1) * sizeof *ch->op_accounts);
        PARLOR_ASSERT(ch->op_accounts != NULL);
        irc_casefold(ch->op_accounts[ch->nop_accounts++], account, strlen(account));
        op_accounts_write(ch, account, true);
    } else if (!op && i >= 0) {
        memcpy(ch->op_accounts[i], ch->op_accounts[--ch->nop_accounts], sizeof ch->op_accounts[0]);
        op_accounts_write(ch, account, false);
    }
}

/* Space-separated folded accounts, as loaded from channel_ops. */
static void op_accounts_load(struct channel *ch, const char *list)
{
    char copy[OP_ACCOUNTS_MAX * (IRC_NICK_MAX + 2)];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save, *a = strtok_r(copy, " ", &save); a; a = strtok_r(NULL, " ", &save))
        if (op_account_find(ch, a) < 0 && ch->nop_accounts < OP_ACCOUNTS_MAX) {
            ch->op_accounts = realloc(ch->op_accounts, (size_t)(ch->nop_accounts + 1) * sizeof *ch->op_accounts);
            PARLOR_ASSERT(ch->op_accounts != NULL);
            snprintf(ch->op_accounts[ch->nop_accounts++], sizeof ch->op_accounts[0], "%s", a);
        }
}

/* ---- INVITE: at most max-invites-per-room within invite-ttl ---- */

static bool invite_allowed(struct channel *ch)
{
    int kept = 0;
    for (int i = 0; i < ch->ninvite_times; i++)
        if (W.now - ch->invite_times[i] < W.cfg->invite_ttl)
            ch->invite_times[kept++] = ch->invite_times[i];
    ch->ninvite_times = kept;
    if (kept >= W.cfg->max_invites_per_room)
        return false;
    ch->invite_times = realloc(ch->invite_times, (size_t)(kept + 1) * sizeof *ch->invite_times);
    PARLOR_ASSERT(ch->invite_times != NULL);
    ch->invite_times[ch->ninvite_times++] = W.now;
    return true;
}

/* ---- JOIN ---- */

/* Tell the requester's worker its JOIN is answered without a membership
 * (refused, or it was a member already), so it stops counting it. */
static void join_done(const struct chan_req *q)
{
    if (q->slot == W.slot) {
        chan_join_done(q->client, q->channel);
        return;
    }
    struct buf *b = peer_buf(q->slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_JOIN_DONE);
    ipc_put_u64(b, q->client);
    ipc_put_cstr(b, q->channel);
    ipc_end(b, f);
}

void chan_join_done(uint64_t client, const char *channel)
{
    struct client *c = client_by_id(client);
    if (c)
        client_pjoin_del(c, channel);
    replay_join_refused(client, channel);
}

#define REFUSE(num, ...) do { ERR(num, __VA_ARGS__); join_done(q); return; } while (0)

/* Who may join, and with op:
 *   - a room that is new (nowhere in memory, no row in `channels`): its
 *     creator, with op (and its account is remembered as an operator);
 *   - any other room, even an empty stored one: only past its key, limit,
 *     +i and bans; the accounts it remembers as operators get in (past
 *     all of those: they could change them anyway) and get op.  An
 *     operator's INVITE (arg2 "invited", from the client's worker) lets
 *     its target past +i, +l and bans, never past the key; a non-operator's
 *     INVITE is only a notice.
 * While PostgreSQL is configured but unreachable a room that is not in
 * memory cannot be told from a new one: it opens without an operator. */
static void req_join(struct channel *ch, const struct chan_req *q, struct chan_event *ev)
{
    bool created = false;
    if (!ch) {
        ch = chan_new(q->channel, true);
        ch->mode_n = ch->mode_t = true;
        created = true;
    }
    if (chan_member_id(ch, q->client)) {
        join_done(q);
        return;
    }
    bool fresh = created ? !W.cfg->database[0] : (!ch->stored && ch->members.count == 0);
    bool invited = strcmp(q->arg2, "invited") == 0;
    bool remembered_op = q->account[0] && op_account_find(ch, q->account) >= 0;
    if (!fresh && ch->mode_z && !q->tls)     /* secure-only room: nobody gets past it */
        REFUSE("489", "%s :Cannot join channel; TLS users only (+z)", ch->name);
    if (!fresh && !remembered_op) {
        if (ch->key[0] && strcmp(ch->key, q->arg1) != 0)
            REFUSE("475", "%s :Cannot join channel (+k)", ch->name);
        if (ch->limit && (int)ch->members.count >= ch->limit && !invited)
            REFUSE("471", "%s :Cannot join channel (+l)", ch->name);
        if (ch->mode_i && !invited)
            REFUSE("473", "%s :Cannot join channel (+i)", ch->name);
        if (!invited && is_banned(ch, q->nick, q->user, q->host))
            REFUSE("474", "%s :Cannot join channel (+b)", ch->name);
    }
    ev->kind = EV_JOIN;
    if (fresh || remembered_op)
        ev->modes = MEMBER_OP;
    emit(ch, ev);
    if (fresh) {
        ch->stored = store_available();
        channel_save(ch);                 /* before its operators: they refer to it */
        op_account_set(ch, q->account, true);
    }
}
#undef REFUSE

/* The next parameter of a MODE request: commands.c separates them with
 * '\n', which no IRC parameter can hold, so an empty one or one with spaces
 * arrives as it was sent.  NULL when there are no more. */
static char *next_param(char **rest)
{
    char *s = *rest;
    if (!s)
        return NULL;
    char *nl = strchr(s, '\n');
    *rest = nl ? nl + 1 : NULL;
    if (nl)
        *nl = '\0';
    return s;
}

/* Why `key` cannot be a room key (ISUPPORT KEYLEN), or NULL if it can. */
static const char *key_problem(const char *key)
{
    if (!key[0])
        return "Key is empty";
    if (strlen(key) > CHAN_KEY_MAX)
        return "Key is too long";
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p <= ' ' || *p == ',' || *p == 0x7f)
            return "Key may not contain spaces, commas or control characters";
    return NULL;
}

/* A +l limit: all digits, 1..INT_MAX; 0 when it is not one. */
static int limit_value(const char *s)
{
    if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return 0;
    return atoi(s);
}

/* Validate "MODE #chan changes" and build the accepted change string. */
static void req_mode(struct channel *ch, const struct chan_req *q, struct member *me, struct chan_event *ev)
{
    if (!q->arg1[0]) {
        char modes[128];
        chan_mode_string(ch, me != NULL, modes, sizeof modes);   /* the key: members only */
        ERR("324", "%s %s", ch->name, modes);
        ERR("329", "%s %ld", ch->name, (long)ch->created);
        return;
    }
    char copy[512];
    snprintf(copy, sizeof copy, "%s", q->arg1);
    char *rest = copy, *modes = next_param(&rest);
    char flags[64], args[400];
    size_t nf = 0, na = 0;
    int nparam = 0;
    char sign = 0;
    bool plus = true, list_only = true, listed = false;
    args[0] = '\0';
    for (const char *p = modes; *p && nf + 3 < sizeof flags; p++) {
        if (*p == '+' || *p == '-') {
            plus = *p == '+';
            continue;
        }
        if (*p == 'b') {
            const char *mask = next_param(&rest);
            if (!mask || !mask[0]) {                 /* the list, once per command */
                if (listed)
                    continue;
                listed = true;
                for (int i = 0; i < ch->nbans; i++)
                    ERR("367", "%s %s %s %ld", ch->name, ch->bans[i].mask, ch->bans[i].by,
                        (long)ch->bans[i].at);
                ERR("368", "%s :End of channel ban list", ch->name);
                continue;
            }
            list_only = false;
            if (!me || !(me->modes & MEMBER_OP)) {
                ERR("482", "%s :You're not channel operator", ch->name);
                return;
            }
            if (++nparam > 4)
                break;
            char full[128];
            normalize_mask(mask, full, sizeof full);
            if (plus ? (ban_find(ch, full) >= 0 || ch->nbans >= MAX_BANS) : ban_find(ch, full) < 0) {
                if (plus && ch->nbans >= MAX_BANS)
                    ERR("478", "%s %s :Channel ban list is full", ch->name, full);
                continue;
            }
            ban_write(ch, full, q->nick, plus);
            char want = plus ? '+' : '-';
            if (sign != want)
                flags[nf++] = sign = want;
            flags[nf++] = 'b';
            int w = snprintf(args + na, sizeof args - na, " %s", full);
            if (w > 0 && (size_t)w < sizeof args - na)
                na += (size_t)w;
            continue;
        }
        if (*p == 'e' || *p == 'I') {
            /* No exception or invite lists here; answer the query as empty. */
            if (!listed)
                ERR(*p == 'I' ? "347" : "349", "%s :End of channel %s list", ch->name,
                    *p == 'I' ? "invite" : "exception");
            listed = true;
            continue;
        }
        list_only = false;
        if (!strchr("imnpstzklov", *p)) {
            ERR("472", "%c :is unknown mode char to me", *p);
            continue;
        }
        if (!me || !(me->modes & MEMBER_OP)) {
            ERR("482", "%s :You're not channel operator", ch->name);
            return;
        }
        const char *arg = NULL;
        bool takes = *p == 'o' || *p == 'v' || *p == 'k' || (*p == 'l' && plus);
        if (takes) {
            arg = next_param(&rest);
            if (*p == 'k' && !plus && !arg)
                arg = "*";
            if (!arg) {
                ERR("461", "MODE :Not enough parameters");
                continue;
            }
            if (++nparam > 4)
                break;
        }
        struct member *target = (*p == 'o' || *p == 'v') ? chan_member_nick(ch, arg) : NULL;
        if ((*p == 'o' || *p == 'v') && !target) {
            ERR("441", "%s %s :They aren't on that channel", arg, ch->name);
            continue;
        }
        if (*p == 'o')                    /* op comes back with the account */
            op_account_set(ch, target->account, plus);
        /* A parameter that cannot be shown as one word is shown as "*". */
        const char *shown = arg && arg[0] && !strchr(arg, ' ') ? arg : "*";
        const char *why = *p == 'k' && plus ? key_problem(arg) : NULL;
        if (why) {
            ERR("696", "%s k %s :%s", ch->name, shown, why);
            continue;
        }
        char lim[16];
        if (*p == 'l' && plus) {
            int v = limit_value(arg);
            if (v <= 0) {
                ERR("696", "%s l %s :Invalid limit (a number above 0)", ch->name, shown);
                continue;
            }
            snprintf(lim, sizeof lim, "%d", v);
            arg = lim;
        }
        char want = plus ? '+' : '-';
        if (sign != want)
            flags[nf++] = sign = want;
        flags[nf++] = *p;
        if (arg) {
            int w = snprintf(args + na, sizeof args - na, " %s", arg);
            if (w > 0 && (size_t)w < sizeof args - na)
                na += (size_t)w;
        }
    }
    if (list_only || nf == 0)
        return;
    flags[nf] = '\0';
    char changes[512];
    snprintf(changes, sizeof changes, "%s%s", flags, args);
    ev->kind = EV_MODE;
    ev->a1 = changes;
    emit(ch, ev);
    channel_save(ch);
}

/* ---- stored channel state (owner only) ----
 *
 * A channel the owner does not have in memory is loaded before its first
 * request is handled: topic and modes from `channels`, the message number
 * from `messages`.  Requests that arrive meanwhile are parked and run in
 * order once it is loaded.  Topic and mode changes are written back. */

/* A copy of a request, owned by its channel's parked list. */
struct parked_req {
    struct chan_req q;
    char *strings[12];
    struct parked_req *next;
};

static char *dup_str(const char *s)
{
    char *d = strdup(s ? s : "");
    PARLOR_ASSERT(d != NULL);
    return d;
}

static struct parked_req *req_copy(const struct chan_req *q)
{
    struct parked_req *p = calloc(1, sizeof *p);
    PARLOR_ASSERT(p != NULL);
    p->q = *q;
    const char **fields[] = { &p->q.channel, &p->q.nick, &p->q.user, &p->q.host, &p->q.realname,
                              &p->q.arg1, &p->q.arg2, &p->q.account, &p->q.ctags, &p->q.msgid,
                              &p->q.away };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        p->strings[i] = dup_str(*fields[i]);
        *fields[i] = p->strings[i];
    }
    return p;
}

static void req_free(struct parked_req *p)
{
    for (size_t i = 0; i < sizeof p->strings / sizeof p->strings[0]; i++)
        free(p->strings[i]);
    free(p);
}

static void parked_free_all(struct parked_req *p)
{
    while (p) {
        struct parked_req *next = p->next;
        req_free(p);
        p = next;
    }
}

static void park(struct channel *ch, const struct chan_req *q)
{
    struct parked_req **tail = &ch->parked;
    while (*tail)
        tail = &(*tail)->next;
    *tail = req_copy(q);
}

static void run_deferred(void)
{
    depth++;
    while (deferred) {
        struct parked_req *p = deferred;
        deferred = p->next;
        if (!deferred)
            deferred_tail = &deferred;
        handle_request(&p->q);
        req_free(p);
    }
    depth--;
}

static void channel_save(struct channel *ch)
{
    if (!store_available())
        return;
    char folded[IRC_CHANNEL_MAX + 1], modes[128], at[32];
    irc_casefold(folded, ch->name, strlen(ch->name));
    chan_mode_string(ch, true, modes, sizeof modes);
    snprintf(at, sizeof at, "%.3f", ch->topic_at);
    const char *v[6] = { ch->name, folded, ch->topic, ch->topic_by[0] ? ch->topic_by : NULL,
                         ch->topic_at > 0 ? at : NULL, modes };
    store_query("INSERT INTO channels (name, name_folded, topic, topic_by, topic_at, modes)"
                " VALUES ($1, $2, $3, $4, to_timestamp($5::double precision), $6)"
                " ON CONFLICT (name_folded) DO UPDATE SET topic = EXCLUDED.topic,"
                " topic_by = EXCLUDED.topic_by, topic_at = EXCLUDED.topic_at, modes = EXCLUDED.modes",
                6, v, NULL, NULL);
}

/* Columns 5..7 of the load query: has a row, operator accounts, bans. */
#define LOAD_EXTRAS_SQL \
    " EXISTS (SELECT 1 FROM channels WHERE name_folded = $1)," \
    " (SELECT string_agg(account_folded, ' ') FROM channel_ops WHERE channel_folded = $1)," \
    " (SELECT string_agg(mask || ' ' || set_by || ' ' || extract(epoch FROM set_at)::bigint, ' ')" \
    "  FROM channel_bans WHERE channel_folded = $1)"

static void apply_extras(struct channel *ch, const PGresult *res, int col)
{
    ch->stored = strcmp(PQgetvalue(res, 0, col), "t") == 0;
    op_accounts_load(ch, PQgetvalue(res, 0, col + 1));
    char *bans = dup_str(PQgetvalue(res, 0, col + 2));
    char *save, *mask, *by, *at;
    for (mask = strtok_r(bans, " ", &save); mask && (by = strtok_r(NULL, " ", &save)) &&
         (at = strtok_r(NULL, " ", &save)); mask = strtok_r(NULL, " ", &save))
        ban_add(ch, mask, by, atof(at));
    free(bans);
}

/* The channel's stored state is in: run what waited, in order (the first
 * JOIN of a new room creates the membership).  May free the channel. */
static void send_request(const struct chan_req *q);

static struct parked_req *next_parked(struct parked_req *p)
{
    struct parked_req *next = p->next;
    req_free(p);
    return next;
}

static void run_parked(struct channel *ch)
{
    char name[IRC_CHANNEL_MAX + 1];
    snprintf(name, sizeof name, "%s", ch->name);
    ch->loading = false;
    struct parked_req *p = ch->parked;
    ch->parked = NULL;
    if (W.cluster && owner_of(name) != W.slot && ch->members.count == 0) {
        /* A node joined while it loaded and the room is its now
         * (chan_hand_over_moved): the requests go to the new owner. */
        hmap_del_name(&W.channels, ch->name);
        chan_free(ch);
        for (; p; p = next_parked(p))
            send_request(&p->q);
        return;
    }
    while (p) {
        struct parked_req *next = p->next;
        handle_request(&p->q);
        req_free(p);
        p = next;
    }
    ch = chan_find(name);
    if (ch && ch->owned && !ch->loading)
        chan_maybe_drop(ch);
}

static void on_channel_loaded(void *arg, const PGresult *res, const char *error)
{
    char name[IRC_CHANNEL_MAX + 1];
    snprintf(name, sizeof name, "%s", (char *)arg);
    free(arg);
    struct channel *ch = chan_find(name);
    if (!ch || !ch->loading)
        return;
    enter();
    ch->loading = false;
    if (error) {
        /* Not known to be new: treated as stored, so nobody gets op by
         * being first and its protection is not skipped by mistake. */
        ch->stored = true;
        log_warn("channel %s: stored state not loaded (%s); message numbers restart", ch->name, error);
    } else if (PQntuples(res) == 1) {
        if (!PQgetisnull(res, 0, 0)) {
            snprintf(ch->topic, sizeof ch->topic, "%s", PQgetvalue(res, 0, 0));
            snprintf(ch->topic_by, sizeof ch->topic_by, "%s", PQgetvalue(res, 0, 1));
            ch->topic_at = atof(PQgetvalue(res, 0, 2));
            ch->mode_n = ch->mode_t = false;
            apply_modes(ch, PQgetvalue(res, 0, 3), "", 0);
            ch->created = atof(PQgetvalue(res, 0, 4));
        }
        ch->msg_seq = strtoull(PQgetvalue(res, 0, 5), NULL, 10);
        apply_extras(ch, res, 6);
        log_debug("channel %s loaded: message number %llu", ch->name, (unsigned long long)ch->msg_seq);
    }
    run_parked(ch);
    leave();
}

/* Start loading a channel for its first request; returns true if the
 * request was parked. */
static bool load_channel(const struct chan_req *q)
{
    if (!store_usable())
        return false;
    struct channel *ch = chan_new(q->channel, true);
    ch->loading = true;
    ch->mode_n = ch->mode_t = true;
    park(ch, q);
    char folded[IRC_CHANNEL_MAX + 1];
    irc_casefold(folded, q->channel, strlen(q->channel));
    const char *v[1] = { folded };
    store_query("SELECT c.topic, c.topic_by, extract(epoch FROM c.topic_at), c.modes,"
                " extract(epoch FROM c.created_at),"
                " (SELECT coalesce(max(seq), 0) FROM messages WHERE conversation = $1 AND NOT is_private),"
                LOAD_EXTRAS_SQL
                " FROM (SELECT 1) AS one LEFT JOIN channels c ON c.name_folded = $1",
                1, v, on_channel_loaded, dup_str(q->channel));
    return true;
}

/* A channel that came back through its members' re-announcements (this
 * worker restarted): its settings came with them, the operators' accounts
 * and whether it is stored come from PostgreSQL. */
static void on_extras_loaded(void *arg, const PGresult *res, const char *error)
{
    struct channel *ch = chan_find((char *)arg);
    free(arg);
    if (!ch || !ch->owned || !ch->loading)
        return;
    enter();
    if (error || PQntuples(res) != 1) {
        ch->stored = true;                /* as on_channel_loaded: not known to be new */
        log_warn("channel %s: operators and bans not loaded (%s)", ch->name, error ? error : "no row");
    } else {
        apply_extras(ch, res, 0);
    }
    run_parked(ch);
    leave();
}

static void load_extras(struct channel *ch)
{
    if (!store_usable()) {
        ch->stored = W.cfg->database[0] != '\0';
        return;
    }
    /* Requests wait for them (a remembered operator's JOIN gets op). */
    ch->loading = true;
    char folded[IRC_CHANNEL_MAX + 1];
    irc_casefold(folded, ch->name, strlen(ch->name));
    const char *v[1] = { folded };
    store_query("SELECT" LOAD_EXTRAS_SQL, 1, v, on_extras_loaded, dup_str(ch->name));
}

/* Bans are kept in channel_bans so an empty room keeps them. */
static void ban_write(struct channel *ch, const char *mask, const char *by, bool add)
{
    if (!store_available())
        return;
    ensure_stored(ch);
    char folded[IRC_CHANNEL_MAX + 1];
    irc_casefold(folded, ch->name, strlen(ch->name));
    const char *v[3] = { folded, mask, by };
    if (add)
        store_query("INSERT INTO channel_bans (channel_folded, mask, set_by) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING", 3, v, NULL, NULL);
    else
        store_query("DELETE FROM channel_bans WHERE channel_folded = $1 AND lower(mask) = lower($2)",
                    2, v, NULL, NULL);
}

/* Echoes of a client's messages not durable yet, by client id (a count):
 * a refusal of its next message waits behind them, so that an echo-message
 * client may send several messages to a room without waiting for each
 * commit and still get every reply in command order (worker/order.c,
 * order_may_pipeline). */
static struct hmap echoes_pending;
static bool echoes_init;

static void echo_pending(uint64_t client, int delta)
{
    if (!echoes_init) {
        hmap_init(&echoes_pending);
        echoes_init = true;
    }
    uintptr_t n = (uintptr_t)hmap_get_id(&echoes_pending, client);
    n = delta > 0 ? n + 1 : n ? n - 1 : 0;
    if (n)
        hmap_put_id(&echoes_pending, client, (void *)n);
    else
        hmap_del_id(&echoes_pending, client);
}

struct late_reply {
    int slot;
    uint64_t client;
    char nick[IRC_NICK_MAX + 1], num[4], text[600];
};

static void on_late_reply(void *arg)
{
    struct late_reply *l = arg;
    reply_remote(l->slot, l->client, l->nick, l->num, "%s", l->text);
    free(l);
}

/* A message refused (404, 403): sent now, or after the sender's earlier
 * messages here are durable and echoed. */
static void refuse_message(const struct chan_req *q, const char *num, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse_message(const struct chan_req *q, const char *num, const char *fmt, ...)
{
    struct late_reply *l = calloc(1, sizeof *l);
    PARLOR_ASSERT(l != NULL);
    l->slot = q->slot;
    l->client = q->client;
    snprintf(l->nick, sizeof l->nick, "%s", q->nick);
    snprintf(l->num, sizeof l->num, "%s", num);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    if (echoes_init && hmap_get_id(&echoes_pending, q->client))
        store_barrier(on_late_reply, l);
    else
        on_late_reply(l);
}

/* The sender's echo waits until its message is durable. */
struct msg_ack {
    uint64_t client;
    int slot;
    double time;
    char msgid[17], command[16], source[256], target[IRC_CHANNEL_MAX + 1];
    char *text, *ctags;
    bool pending;                  /* counted in echoes_pending */
};

static void on_msg_durable(void *arg)
{
    struct msg_ack *a = arg;
    if (a->pending)
        echo_pending(a->client, -1);
    struct msgline ml = {
        .time = a->time, .msgid = a->msgid, .ctags = a->ctags, .source = a->source,
        .command = a->command, .target = a->target, .text = a->text,
    };
    send_echo(a->slot, a->client, &ml);
    free(a->text);
    free(a->ctags);
    free(a);
}

/* Store a channel message (not TAGMSG) and echo it when durable. */
static void msg_stored(struct channel *ch, const struct chan_req *q, const struct chan_event *ev)
{
    struct msg_ack *a = calloc(1, sizeof *a);
    PARLOR_ASSERT(a != NULL);
    a->client = q->client;
    a->slot = q->slot;
    a->time = ev->time;
    snprintf(a->msgid, sizeof a->msgid, "%s", ev->msgid);
    snprintf(a->command, sizeof a->command, "%s", q->arg1);
    snprintf(a->source, sizeof a->source, "%s", ev->source);
    snprintf(a->target, sizeof a->target, "%s", ch->name);
    bool tagmsg = strcmp(q->arg1, "TAGMSG") == 0;
    a->text = tagmsg ? NULL : strdup(q->arg2);
    a->ctags = strdup(q->ctags);
    if (tagmsg) {
        on_msg_durable(a);
        return;
    }
    /* Only an echo can be overtaken: count those of echo-message clients. */
    a->pending = (q->caps & CAP_ECHO_MESSAGE) != 0;
    if (a->pending)
        echo_pending(a->client, +1);
    char folded[IRC_CHANNEL_MAX + 1];
    irc_casefold(folded, ch->name, strlen(ch->name));
    struct store_msg m = {
        .target = ch->name, .conversation = folded, .is_private = false,
        .sender_nick = q->nick, .sender_account = q->account[0] ? q->account : NULL,
        .command = q->arg1, .body = q->arg2, .msgid = ev->msgid, .seq = ev->mseq, .time = ev->time,
        .client_tags = q->ctags,
    };
    store_message(&m, on_msg_durable, a);
}

/* The owner keeps each member's IRC operator flag (WHO). */
static void note_member_oper(const struct chan_req *q)
{
    struct channel *ch = chan_find(q->channel);
    struct member *m = ch && ch->owned ? chan_member_id(ch, q->client) : NULL;
    if (m)
        m->oper = q->oper;
}

static void handle_request(const struct chan_req *q)
{
    struct channel *ch = chan_find(q->channel);
    if (ch && !ch->owned) {
        log_warn("request for %s, which is not ours", q->channel);
        if (q->op == CHAN_JOIN)
            join_done(q);
        return;
    }
    if (ch && ch->loading) {
        park(ch, q);
        return;
    }
    if (!ch && q->op == CHAN_JOIN && load_channel(q))
        return;
    struct chan_event ev;
    char source[256];
    fill_subject(&ev, q, source, sizeof source);
    if (q->op == CHAN_JOIN) {
        req_join(ch, q, &ev);
        note_member_oper(q);
        return;
    }
    bool notice = q->op == CHAN_MSG && strcmp(q->arg1, "PRIVMSG") != 0;
    if (!ch) {
        if (q->op == CHAN_NAMES)
            ERR("366", "%s :End of NAMES list", q->channel);
        else if (q->op == CHAN_MSG && !notice)
            refuse_message(q, "403", "%s :No such channel", q->channel);
        else if (q->op != CHAN_QUIT && q->op != CHAN_NICK && q->op != CHAN_OPER && !notice)
            ERR("403", "%s :No such channel", q->channel);
        return;
    }
    struct member *me = chan_member_id(ch, q->client);   /* who asks: the connection */
    char msgid[17];
    switch (q->op) {
    case CHAN_PART:
        if (!me) {
            ERR("442", "%s :You're not on that channel", ch->name);
            return;
        }
        ev.kind = EV_PART;
        ev.a1 = q->arg1;
        break;
    case CHAN_QUIT:
        if (!me)
            return;
        ev.kind = EV_QUIT;
        ev.a1 = q->arg1;
        break;
    case CHAN_OPER:
        note_member_oper(q);
        return;
    case CHAN_NICK:
        if (!me)
            return;
        ev.kind = EV_NICK;
        ev.a1 = q->arg1;
        break;
    case CHAN_MSG:
        if ((ch->mode_n && !me) || (ch->mode_m && !(me && me->modes)) ||
            (!(me && me->modes) && is_banned(ch, q->nick, q->user, q->host))) {
            if (!notice)
                refuse_message(q, "404", "%s :Cannot send to channel", ch->name);
            return;
        }
        if (game_message_refused(q))  /* GameServ: it would give the word away */
            return;
        if (q->msgid && q->msgid[0])
            snprintf(msgid, sizeof msgid, "%s", q->msgid);
        else
            store_new_msgid(msgid);
        ev.kind = EV_MSG;
        ev.a1 = q->arg1;
        ev.a2 = q->arg2;
        ev.msgid = msgid;
        ev.ctags = q->ctags;
        ev.origin_slot = q->forwarded ? ORIGIN_FORWARDED : q->origin_slot;
        ev.origin_seq = q->origin_seq;
        /* A message the owner that died had numbered keeps its number. */
        ev.mseq = strcmp(q->arg1, "TAGMSG") == 0 ? 0 : q->mseq ? q->mseq : ch->msg_seq + 1;
        emit(ch, &ev);
        msg_stored(ch, q, &ev);
        game_on_message(q);           /* GameServ: a guess? (worker/game.c) */
        return;
    case CHAN_TOPIC: {
        if (!q->arg2 || !q->arg2[0]) {
            topic_reply(ch, q->slot, q->client, q->nick);
            return;
        }
        if (!me) {
            ERR("442", "%s :You're not on that channel", ch->name);
            return;
        }
        if (ch->mode_t && !(me->modes & MEMBER_OP)) {
            ERR("482", "%s :You're not channel operator", ch->name);
            return;
        }
        static char topic[TOPIC_MAX + 1];
        utf8_copy(topic, sizeof topic, q->arg1);
        ev.kind = EV_TOPIC;
        ev.a1 = topic;
        break;
    }
    case CHAN_MODE:
        req_mode(ch, q, me, &ev);
        return;
    case CHAN_KICK: {
        /* An IRC operator may kick in any room (worker/oper.c). */
        if (!me && !q->oper) {
            ERR("442", "%s :You're not on that channel", ch->name);
            return;
        }
        if (!q->oper && !(me->modes & MEMBER_OP)) {
            ERR("482", "%s :You're not channel operator", ch->name);
            return;
        }
        struct member *victim = chan_member_nick(ch, q->arg1);
        if (!victim) {
            ERR("441", "%s %s :They aren't on that channel", q->arg1, ch->name);
            return;
        }
        static char victim_nick[IRC_NICK_MAX + 1];
        snprintf(victim_nick, sizeof victim_nick, "%s", victim->nick);
        ev.kind = EV_KICK;
        ev.nick = victim_nick;
        ev.client = victim->client;
        ev.slot = victim->slot;
        ev.a1 = q->arg2 && q->arg2[0] ? q->arg2 : q->nick;
        break;
    }
    case CHAN_INVITE: {
        if (!me) {
            ERR("442", "%s :You're not on that channel", ch->name);
            return;
        }
        bool by_op = me->modes & MEMBER_OP;
        if (ch->mode_i && !by_op) {
            ERR("482", "%s :You're not channel operator", ch->name);
            return;
        }
        if (chan_member_nick(ch, q->arg1)) {
            ERR("443", "%s %s :is already on channel", q->arg1, ch->name);
            return;
        }
        if (!invite_allowed(ch)) {
            char line[300];
            int n = snprintf(line, sizeof line, ":%s FAIL INVITE TOO_MANY_INVITES %s :Too many "
                             "invitations for this channel; try again later\r\n",
                             W.cfg->server_name, ch->name);
            send_raw(q->slot, q->client, line, (size_t)n);
            return;
        }
        /* Only an operator's invitation lets its target past anything; it
         * is kept by the target's connection (nick.c, client.c), so a nick
         * nobody holds gets nothing and a later holder of it neither. */
        struct nick_msg nm = {
            .kind = TO_NICK_INVITE, .target = q->arg1, .from_client = q->client, .from_slot = q->slot,
            .from_nick = q->nick, .from_account = q->account, .source = source, .command = "INVITE",
            .text = ch->name, .msgid = "", .ctags = "", .time = W.now, .by_op = by_op,
        };
        nick_route(&nm);
        ev.kind = EV_INVITE;              /* invite-notify */
        ev.a1 = q->arg1;
        break;
    }
    case CHAN_NAMES:
        if (ch->mode_s && !me)            /* secret: nothing for non-members */
            ERR("366", "%s :End of NAMES list", ch->name);
        else
            names_reply(ch, q->slot, q->client, q->nick, q->caps);
        return;
    default:
        return;
    }
    emit(ch, &ev);
    if (q->op == CHAN_TOPIC)
        channel_save(ch);
    chan_maybe_drop(ch);
}

/* ---- GameServ (worker/game.c): a service speaks in a room we own ---- */
void chan_service_message(const char *channel, const char *nick, const char *command,
                          const char *text)
{
    struct channel *ch = chan_find(channel);
    if (!ch || !ch->owned || ch->loading)
        return;
    enter();
    char source[128], msgid[17];
    snprintf(source, sizeof source, "%s!%s@services.parlor.local", nick, nick);
    store_new_msgid(msgid);
    struct chan_event ev = {
        .kind = EV_MSG, .source = source, .nick = nick, .client = 0, .slot = W.slot, .user = nick,
        .host = "services.parlor.local", .realname = "", .account = "", .a1 = command, .a2 = text, .msgid = msgid,
        .ctags = "", .mseq = ch->msg_seq + 1,
    };
    emit(ch, &ev);
    char folded[IRC_CHANNEL_MAX + 1];
    irc_casefold(folded, ch->name, strlen(ch->name));
    struct store_msg m = {
        .target = ch->name, .conversation = folded, .is_private = false, .sender_nick = nick,
        .command = command, .body = text, .msgid = msgid, .seq = ev.mseq, .time = ev.time,
    };
    store_message(&m, NULL, NULL);
    leave();
}
/* ---- end GameServ ---- */

/* What a FAIL names if the request's owner does not come back; "" for
 * requests nobody waits for (a QUIT, a rename in a room). */
static const char *request_command(const struct chan_req *q)
{
    switch (q->op) {
    case CHAN_JOIN: return "JOIN";
    case CHAN_PART: return "PART";
    case CHAN_MSG: return q->arg1;
    case CHAN_TOPIC: return "TOPIC";
    case CHAN_MODE: return "MODE";
    case CHAN_KICK: return "KICK";
    case CHAN_INVITE: return "INVITE";
    case CHAN_NAMES: return "NAMES";
    default: return "";
    }
}

static void send_request(const struct chan_req *q)
{
    int owner = owner_of(q->channel);
    if (owner == W.slot && outbox_synced()) {
        if (depth > 0) {              /* inside channel code: after it returns */
            *deferred_tail = req_copy(q);
            deferred_tail = &(*deferred_tail)->next;
            return;
        }
        enter();
        handle_request(q);
        leave();
        return;
    }
    struct buf frame = BUF_INIT;
    size_t f = ipc_begin(&frame, IPC_P_CHAN_REQ);
    ipc_put_u8(&frame, (uint8_t)q->op);
    ipc_put_cstr(&frame, q->channel);
    ipc_put_u64(&frame, q->client);
    ipc_put_u32(&frame, (uint32_t)q->slot);
    ipc_put_u32(&frame, q->caps);
    ipc_put_cstr(&frame, q->nick);
    ipc_put_cstr(&frame, q->user);
    ipc_put_cstr(&frame, q->host);
    ipc_put_cstr(&frame, q->realname);
    ipc_put_cstr(&frame, q->arg1);
    ipc_put_cstr(&frame, q->arg2);
    ipc_put_cstr(&frame, q->account);
    ipc_put_cstr(&frame, q->ctags);
    ipc_put_cstr(&frame, q->msgid);
    ipc_put_u8(&frame, q->oper);
    ipc_put_cstr(&frame, q->away);
    ipc_put_u8(&frame, (uint8_t)(q->bot | (q->quiet ? 2 : 0) | (q->invisible ? 4 : 0)));
    ipc_put_u8(&frame, q->tls);
    ipc_end(&frame, f);
    if (owner == W.slot)                /* ours, before the others re-announced */
        outbox_hold(W.slot, frame.data, frame.len);
    else
        outbox_request(owner, &frame, q->client, request_command(q), q->channel, q->msgid);
    buf_free(&frame);
}

void chan_handle_request_frame(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    struct chan_req q;
    q.op = ipc_get_u8(&r);
    q.channel = ipc_get_str(&r, NULL);
    q.client = ipc_get_u64(&r);
    q.slot = (int)ipc_get_u32(&r);
    q.caps = ipc_get_u32(&r);
    q.nick = ipc_get_str(&r, NULL);
    q.user = ipc_get_str(&r, NULL);
    q.host = ipc_get_str(&r, NULL);
    q.realname = ipc_get_str(&r, NULL);
    q.arg1 = ipc_get_str(&r, NULL);
    q.arg2 = ipc_get_str(&r, NULL);
    q.account = ipc_get_str(&r, NULL);
    q.ctags = ipc_get_str(&r, NULL);
    q.msgid = ipc_get_str(&r, NULL);
    q.oper = ipc_get_u8(&r);
    q.away = ipc_get_str(&r, NULL);
    uint8_t rflags = ipc_get_u8(&r);
    q.bot = rflags & 1;
    q.quiet = (rflags & 2) != 0;
    q.invisible = (rflags & 4) != 0;
    q.tls = ipc_get_u8(&r);
    q.origin_slot = W.req.slot;           /* 0s unless it came numbered (outbox.c) */
    q.origin_seq = W.req.seq;
    q.mseq = W.req.mseq;
    q.forwarded = W.req.forwarded;
    if (r.err || q.slot < 0 || q.slot >= W.nworkers) {
        log_warn("malformed channel request");
        return;
    }
    enter();
    handle_request(&q);
    leave();
}

void chan_request(struct client *c, int op, const char *channel, const char *arg1, const char *arg2)
{
    order_note_channel(channel);
    struct chan_req q = {
        .op = op, .channel = channel, .client = c->id, .slot = W.slot, .caps = c->caps,
        .nick = c->nick, .user = c->user, .host = c->host,
        .realname = op == CHAN_JOIN ? c->realname : "",
        .arg1 = arg1 ? arg1 : "", .arg2 = arg2 ? arg2 : "",
        .account = c->account, .ctags = c->pending_ctags ? c->pending_ctags : "",
        .oper = c->oper,
        .away = op == CHAN_JOIN && c->away ? c->away : "", .bot = c->bot,
        .quiet = (c->caps & CAP_QUIET) != 0, .invisible = c->invisible,
        .tls = client_is_tls(c),
    };
    char msgid[17] = "";
    if (op == CHAN_MSG)
        store_new_msgid(msgid);
    q.msgid = msgid;
    send_request(&q);
}

void chan_note_oper(struct client *c)
{
    for (int i = 0; i < c->nchans; i++)
        chan_request(c, CHAN_OPER, c->chans[i]->name, NULL, NULL);
    for (int i = 0; i < c->npjoins; i++)     /* arrives after the JOIN (one link, in order) */
        chan_request(c, CHAN_OPER, c->pjoins[i], NULL, NULL);
}

static void request_leave(const char *channel, const char *nick, uint64_t client)
{
    struct chan_req q = {
        .op = CHAN_QUIT, .channel = channel, .client = client, .slot = W.slot,
        .nick = nick, .user = "", .host = "", .realname = "", .arg1 = "Connection closed", .arg2 = "",
        .account = "", .ctags = "",
    };
    send_request(&q);
}

/* ---- worker restarts ---- */

/* Worker `slot` died: its members are gone from every channel we know. */
void chan_forget_slot(int slot, const char *reason)
{
    enter();
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct channel *ch = e->value;
        for (;;) {
            struct member *gone = NULL;
            struct hmap_iter mi;
            hmap_iter_init(&mi, &ch->members);
            for (struct hmap_entry *me; (me = hmap_iter_next(&mi));)
                if (((struct member *)me->value)->slot == slot) {
                    gone = me->value;
                    break;
                }
            if (!gone)
                break;
            char source[256];
            snprintf(source, sizeof source, "%s!%s@%s", gone->nick, gone->user, gone->host);
            struct chan_event ev = {
                .kind = EV_QUIT, .seq = 0, .time = W.now, .source = source, .nick = gone->nick,
                .client = gone->client, .slot = slot, .user = "", .host = "", .realname = "",
                .account = "", .a1 = reason, .a2 = "", .msgid = "", .ctags = "",
            };
            apply_event(ch, &ev);
        }
        bool drop = ch->owned ? ch->members.count == 0 && !ch->loading : ch->nlocal == 0;
        if (drop) {
            hmap_iter_remove(&it);
            chan_free(ch);
        }
    }
    /* Our JOINs that were on their way to it are lost with it. */
    struct hmap_iter ci;
    hmap_iter_init(&ci, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&ci));) {
        struct client *c = e->value;
        for (int i = c->npjoins - 1; i >= 0; i--)
            if (owner_of(c->pjoins[i]) == slot)
                client_pjoin_del(c, c->pjoins[i]);
    }
    leave();
}

/* Worker `slot` (re)started: give it back the channels it owns, with our
 * members in them. */
void chan_reannounce(int slot)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct channel *ch = e->value;
        if (ch->owned || owner_of(ch->name) != slot)
            continue;
        send_state(slot, ch, STATE_REANNOUNCE, W.slot);
        if (ch->nlocal == 0) {         /* one we handed over (chan_hand_over_moved) */
            hmap_iter_remove(&it);
            chan_free(ch);
        }
    }
}

/* Cluster (worker/handover.c): a node joined and some rooms we own are
 * its workers' now.  Each stops being owned here and stays as a mirror
 * (even without local members) until the new owner's link comes up: then
 * chan_reannounce() gives it the room's settings, numbers and our members,
 * before IPC_P_SYNCED, and drops it if nobody here is in it.  A room still
 * loading from PostgreSQL is handed over once loaded (run_parked). */
unsigned chan_hand_over_moved(void)
{
    enter();
    unsigned n = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct channel *ch = e->value;
        if (!ch->owned || ch->loading || owner_of(ch->name) == W.slot)
            continue;
        ch->owned = false;
        n++;
    }
    leave();
    if (n)
        lusers_changed();
    return n;
}

/* Cluster (worker/cluster.c): the owner of `name` went with its node and
 * owner_of() now names a survivor.  If that is us, our mirror becomes the
 * channel (its members, modes and numbers are the owner's last word we
 * got); else our members are re-announced to the new owner, as to a
 * restarted worker. */
void chan_owner_moved(const char *name)
{
    struct channel *ch = chan_find(name);
    if (!ch || ch->owned)
        return;
    int owner = owner_of(name);
    if (owner != W.slot) {
        send_state(owner, ch, STATE_REANNOUNCE, W.slot);
        return;
    }
    ch->owned = true;
    ch->gathering_until = W.now + NET_JOIN_QUIET;
    lusers_changed();
    memset(ch->per_worker, 0, sizeof ch->per_worker);
    struct hmap_iter it;
    hmap_iter_init(&it, &ch->members);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct member *m = e->value;
        if (m->slot >= 0 && m->slot < MAX_WORKERS)
            ch->per_worker[m->slot]++;
    }
    load_extras(ch);
    log_info("channel %s: taken over (its owner's node is gone), %u members, event %llu", ch->name,
             (unsigned)ch->members.count, (unsigned long long)ch->seq);
}

/* ---- LIST: every worker answers for the channels it owns (worker/ask.c) ---- */

void chan_list_answer(const struct ask_args *a, struct buf *out)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct channel *ch = e->value;
        if (!ch->owned)
            continue;
        if (a->a1[0] && irc_casecmp(a->a1, ch->name) != 0)
            continue;
        bool member = chan_member_id(ch, a->client) != NULL;
        if (ch->mode_s && !member)
            continue;                     /* secret: members only */
        /* Private: others see that it exists and its size, not its name or
         * topic (RFC 1459's "Prv"; "*" as InspIRCd writes it). */
        bool hide = ch->mode_p && !member;
        char line[600];
        buf_append(out, line, reply_format(line, sizeof line, a->nick, "322", "%s %u :%.390s",
                                           hide ? "*" : ch->name, (unsigned)ch->members.count,
                                           hide ? "" : ch->topic));
    }
}
