/* A user's away message, account, realname and bot mode, kept current on
 * every worker that shows the user as a room member, and told to the
 * clients that asked for it: away-notify (AWAY), account-notify (ACCOUNT),
 * setname (SETNAME), and, through the nick's owner, to the clients that
 * MONITOR the nick with extended-monitor (worker/monitor.c).
 *
 * The user's worker sends one IPC_P_USER frame to each worker with a
 * member in one of the user's rooms and to each of those rooms' owners
 * (their member records feed STATE frames, NAMES and WHO), and applies it
 * itself.  A receiving worker updates the user's member record in every
 * room it knows and tells each local client that shares one of them once.
 * A frame travels on one link from one worker, so a user's changes arrive
 * in the order they were made.
 *
 * chghost: nothing in Parlor changes a user's user name or host after
 * registration (no cloaks, no vhosts), so CHGHOST is never sent; the
 * capability is advertised so clients know it would be. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

enum { USER_F_MEMBERS = 1, USER_F_WATCHERS = 2 };

struct user_update {
    int what;
    uint64_t client;
    const char *nick, *user, *host, *account, *value;
    bool bot, invisible;
};

/* The capability a client needs to be told about `what` (0: never told). */
static uint32_t cap_for(int what)
{
    switch (what) {
    case USER_AWAY: return CAP_AWAY_NOTIFY;
    case USER_ACCOUNT: return CAP_ACCOUNT_NOTIFY;
    case USER_SETNAME: return CAP_SETNAME;
    default: return 0;
    }
}

void user_away_line(struct buf *out, uint32_t caps, const char *source, const char *account,
                    bool bot, const char *away)
{
    struct msgline ml = { .time = W.now, .account = account, .bot = bot };
    msgline_tags(out, &ml, msgline_form_for(caps, account));
    if (away && away[0])
        buf_appendf(out, ":%s AWAY :%s\r\n", source, away);
    else
        buf_appendf(out, ":%s AWAY\r\n", source);
}

/* Tell local client x about the change, in the form its caps ask for. */
static void tell(struct client *x, const struct user_update *u)
{
    char source[256];
    snprintf(source, sizeof source, "%s!%s@%s", u->nick, u->user, u->host);
    struct buf b = BUF_INIT;
    if (u->what == USER_AWAY) {
        user_away_line(&b, x->caps, source, u->account, u->bot, u->value);
    } else {
        /* ACCOUNT carries the account the user had before (account-tag's
         * example): none, as Parlor has no logout. */
        const char *tag = u->what == USER_ACCOUNT ? "" : u->account;
        struct msgline ml = { .time = W.now, .account = tag, .bot = u->bot };
        msgline_tags(&b, &ml, msgline_form_for(x->caps, tag));
        if (u->what == USER_ACCOUNT)
            buf_appendf(&b, ":%s ACCOUNT %s\r\n", source, u->account[0] ? u->account : "*");
        else
            buf_appendf(&b, ":%s SETNAME :%s\r\n", source, u->value);
    }
    bool was = W.unsolicited;
    W.unsolicited = x->id != u->client;
    client_send(x, b.data, b.len);
    W.unsolicited = was;
    buf_free(&b);
}

/* The field of a member record that `what` is about (NULL: bot). */
static char *member_field(struct member *m, int what, size_t *cap)
{
    switch (what) {
    case USER_AWAY: *cap = sizeof m->away; return m->away;
    case USER_ACCOUNT: *cap = sizeof m->account; return m->account;
    case USER_SETNAME: *cap = sizeof m->realname; return m->realname;
    default: *cap = 0; return NULL;
    }
}

/* Returns whether the record changed. */
static bool member_update(struct member *m, const struct user_update *u)
{
    size_t cap;
    char *field = member_field(m, u->what, &cap);
    if (!field) {                      /* USER_BOT, USER_INVISIBLE: flags */
        bool changed = m->bot != u->bot || m->invisible != u->invisible;
        m->bot = u->bot;
        m->invisible = u->invisible;
        return changed;
    }
    const char *v = u->what == USER_ACCOUNT ? u->account : u->value;
    size_t n = strlen(v);
    if (n > cap - 1)
        n = cap - 1;
    if (strlen(field) == n && memcmp(field, v, n) == 0)
        return false;
    memcpy(field, v, n);
    field[n] = '\0';
    return true;
}

/* Does local client x share a room with `client`? */
static bool shares_room(const struct client *x, uint64_t client)
{
    for (int i = 0; i < x->nchans; i++)
        if (chan_member_id(x->chans[i], client))
            return true;
    return false;
}

/* Update every member record of the user here and tell the local clients
 * that share a room where it changed (each once; never the user itself,
 * which its own worker tells in user_changed).  Telling a client may close
 * another (sendq) and so change the rooms: the recipients are collected
 * first. */
static void apply_members(const struct user_update *u)
{
    uint32_t cap = cap_for(u->what);
    struct hmap told;
    hmap_init(&told);
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct channel *ch = e->value;
        struct member *m = chan_member_id(ch, u->client);
        if (!m || !member_update(m, u))
            continue;
        for (int i = 0; cap && i < ch->nlocal; i++) {
            struct client *x = ch->local[i]->local;
            if (x && x->id != u->client && (x->caps & cap))
                hmap_put_id(&told, x->id, (void *)1);
        }
    }
    hmap_iter_init(&it, &told);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *x = client_by_id(e->id);
        if (x && !x->closing)
            tell(x, u);
    }
    hmap_free(&told);
}

/* extended-monitor: local watchers that share no room with the user (those
 * that do were told by apply_members). */
static void tell_watchers(const struct user_update *u, const uint64_t *ids, uint32_t n)
{
    uint32_t cap = cap_for(u->what);
    for (uint32_t i = 0; cap && i < n; i++) {
        struct client *x = client_by_id(ids[i]);
        if (x && !x->closing && x->id != u->client && (x->caps & CAP_EXTENDED_MONITOR) &&
            (x->caps & cap) && !shares_room(x, u->client))
            tell(x, u);
    }
}

static void encode(struct buf *b, const struct user_update *u, int flags, const uint64_t *ids,
                   int n)
{
    size_t f = ipc_begin(b, IPC_P_USER);
    ipc_put_u8(b, (uint8_t)u->what);
    ipc_put_u8(b, (uint8_t)flags);
    ipc_put_u64(b, u->client);
    ipc_put_cstr(b, u->nick);
    ipc_put_cstr(b, u->user);
    ipc_put_cstr(b, u->host);
    ipc_put_cstr(b, u->account);
    ipc_put_cstr(b, u->value);
    ipc_put_u8(b, (uint8_t)(u->bot | (u->invisible ? 2 : 0)));
    ipc_put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++)
        ipc_put_u64(b, ids[i]);
    ipc_end(b, f);
}

/* monitor_watchers callback: the watchers of the nick on worker `slot`. */
static void to_watchers(int slot, const uint64_t *ids, int n, void *arg)
{
    const struct user_update *u = arg;
    if (slot == W.slot) {
        tell_watchers(u, ids, (uint32_t)n);
        return;
    }
    struct buf *b = peer_buf(slot);
    if (b)
        encode(b, u, 0, ids, n);
}

static void handle(const struct user_update *u, int flags)
{
    if (flags & USER_F_MEMBERS)
        apply_members(u);
    if ((flags & USER_F_WATCHERS) && cap_for(u->what) && owner_of(u->nick) == W.slot)
        monitor_watchers(u->nick, to_watchers, (void *)u);
}

/* Send the change to every worker concerned and apply it here; `announce`:
 * also to the user itself and to MONITOR watchers. */
static void propagate(struct client *c, int what, bool announce)
{
    if (!c->registered)
        return;                        /* nobody sees it yet; JOIN and WHOIS carry it later */
    struct user_update u = {
        .what = what, .client = c->id, .nick = c->nick, .user = c->user, .host = c->host,
        .account = c->account, .bot = c->bot, .invisible = c->invisible,
        .value = what == USER_AWAY ? (c->away ? c->away : "") : c->realname,
    };
    bool to[MAX_WORKERS] = { false };
    for (int i = 0; i < c->nchans; i++) {
        struct channel *ch = c->chans[i];
        to[owner_of(ch->name)] = true;
        struct hmap_iter it;
        hmap_iter_init(&it, &ch->members);
        for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
            struct member *m = e->value;
            if (m->slot >= 0 && m->slot < W.nworkers)
                to[m->slot] = true;
        }
    }
    int nick_owner = announce ? owner_of(c->nick) : -1;
    for (int s = 0; s < W.nworkers; s++) {
        int flags = (to[s] ? USER_F_MEMBERS : 0) | (s == nick_owner ? USER_F_WATCHERS : 0);
        if (!flags || s == W.slot)
            continue;
        struct buf *b = peer_buf(s);
        if (b)
            encode(b, &u, flags, NULL, 0);
    }
    /* The user itself hears of its account and realname (not of its away
     * state: 305/306 say that), first: it is the answer to what it did. */
    uint64_t id = c->id;
    if (announce && (what == USER_ACCOUNT || what == USER_SETNAME) && (c->caps & cap_for(what)))
        tell(c, &u);
    if (client_by_id(id) == c && !c->closing)
        handle(&u, USER_F_MEMBERS | (nick_owner == W.slot ? USER_F_WATCHERS : 0));
}

void user_changed(struct client *c, int what)
{
    propagate(c, what, true);
}

/* The JOIN carried the state the user had when it asked; a change made
 * while the JOIN was on its way reached the workers of its other rooms
 * only: the new room's members get it now (where it already arrived,
 * member_update finds nothing changed and nobody is told twice). */
void user_joined(struct client *c, struct member *m)
{
    static const int whats[] = { USER_AWAY, USER_ACCOUNT, USER_SETNAME };
    for (size_t i = 0; i < sizeof whats / sizeof whats[0]; i++) {
        size_t cap;
        const char *have = member_field(m, whats[i], &cap);
        const char *want = whats[i] == USER_AWAY ? (c->away ? c->away : "")
                         : whats[i] == USER_ACCOUNT ? c->account : c->realname;
        if (strncmp(have, want, cap - 1) != 0)
            propagate(c, whats[i], false);
    }
    if (m->bot != c->bot || m->invisible != c->invisible)
        propagate(c, USER_BOT, false);
}

void user_handle_frame(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    struct user_update u;
    u.what = ipc_get_u8(&r);
    int flags = ipc_get_u8(&r);
    u.client = ipc_get_u64(&r);
    u.nick = ipc_get_str(&r, NULL);
    u.user = ipc_get_str(&r, NULL);
    u.host = ipc_get_str(&r, NULL);
    u.account = ipc_get_str(&r, NULL);
    u.value = ipc_get_str(&r, NULL);
    uint8_t flags8 = ipc_get_u8(&r);       /* 1 bot, 2 invisible */
    u.bot = flags8 & 1;
    u.invisible = (flags8 & 2) != 0;
    uint32_t n = ipc_get_u32(&r);
    if (r.err || u.what < USER_AWAY || u.what > USER_INVISIBLE || n > r.left / 8) {
        log_warn("malformed user state frame");
        return;
    }
    uint64_t ids[256];
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = ipc_get_u64(&r);
        if (kept < sizeof ids / sizeof ids[0])
            ids[kept++] = id;
    }
    if (r.err) {
        log_warn("malformed user state frame");
        return;
    }
    handle(&u, flags);
    tell_watchers(&u, ids, kept);
}
