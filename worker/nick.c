/* Nicknames across workers, and everything addressed to a nick.
 *
 * Each nick has an owner worker (owner_of(nick)) that keeps the registry entry
 * nick -> (worker, client).  A client's NICK is a claim sent to the owner; the
 * client's input is paused until the answer comes back, so nicks are unique on
 * the whole server.  Messages, INVITE notices and WHOIS/WHO queries for a
 * nick go to its owner, which forwards them to the holder's worker (two hops
 * at most; the same path every time, so messages between two users keep their
 * order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/recent.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

/* Owned by W.nick_owner. */
struct nick_rec {
    uint64_t client;
    int slot;
};

static void send_result(int slot, uint64_t client, bool ok, const char *nick)
{
    if (slot == W.slot) {
        nick_handle_result(client, ok, nick);
        return;
    }
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_NICK_RESULT);
    ipc_put_u64(b, client);
    ipc_put_u8(b, ok);
    ipc_put_cstr(b, nick);
    ipc_end(b, f);
}

/* Is the connection in registry entry `rec` still there?  (Its worker is
 * linked; for ours, the client is here.) */
static bool holder_alive(const struct nick_rec *rec)
{
    if (rec->slot == W.slot) {
        struct client *c = client_by_id(rec->client);
        return c && !c->closing;
    }
    return peer_connected(rec->slot);
}

/* A re-announced claim (force) of a nick another live connection holds
 * here: in a cluster whose partition healed, both sides gave the nick away.
 * The holder known to the nick's owner keeps it; the claimer's worker
 * renames its client (nick_handle_lost). */
static void send_lost(int slot, uint64_t client, const char *nick)
{
    log_warn("nick %s: held by two connections (a partition healed?); the one on worker %d is renamed", nick,
             slot);
    if (slot == W.slot) {
        nick_handle_lost(client, nick);
        return;
    }
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_NICK_LOST);
    ipc_put_u64(b, client);
    ipc_put_cstr(b, nick);
    ipc_end(b, f);
}

void nick_handle_lost(uint64_t client, const char *nick)
{
    struct client *c = client_by_id(client);
    if (!c || c->closing || !c->got_nick || irc_casecmp(c->nick, nick) != 0)
        return;
    char guest[16];
    snprintf(guest, sizeof guest, "Guest%05u", (unsigned)(((c->id * 2654435761u) ^ (uint64_t)(W.now * 1000)) % 100000));
    service_notice(c, "NickServ", "Another user had this nick on the other side of a network split; "
                                  "yours is changed.  Choose another with /nick.");
    log_info("nick %s: renaming the holder on this side (%s:%d) to %s after a network split", nick, c->ip,
             c->port, guest);
    nick_request(c, guest);
}

void nick_handle_claim(const char *nick, const char *old, uint64_t client, int slot, bool force)
{
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, nick);
    if (rec && rec->client != client && !force) {
        send_result(slot, client, false, nick);
        return;
    }
    if (rec && rec->client != client && W.cluster && holder_alive(rec)) {
        send_lost(slot, client, nick);
        return;
    }
    bool fresh = !rec || rec->client != client;
    if (!rec) {
        rec = malloc(sizeof *rec);
        PARLOR_ASSERT(rec != NULL);
        hmap_put_name(&W.nick_owner, nick, rec);
    }
    rec->client = client;
    rec->slot = slot;
    if (!force)
        send_result(slot, client, true, nick);
    if (fresh && !force)
        monitor_nick_online(nick);
}

/* A request to a nick's owner: handled here when we own it (and every
 * worker has re-announced), else numbered and kept by worker/outbox.c.
 * Re-announcements (force) go straight onto the new link. */
static void nick_send(int owner, struct buf *frame, uint64_t client, const char *command,
                      const char *target, const char *msgid)
{
    if (owner == W.slot)
        outbox_hold(W.slot, frame->data, frame->len);
    else
        outbox_request(owner, frame, client, command, target, msgid);
    buf_free(frame);
}

static void send_claim(const char *nick, const char *old, uint64_t client, bool force)
{
    int owner = owner_of(nick);
    if (owner == W.slot && (force || outbox_synced())) {
        nick_handle_claim(nick, old, client, W.slot, force);
        return;
    }
    struct buf frame = BUF_INIT, *b = force ? peer_buf(owner) : &frame;
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_NICK_CLAIM);
    ipc_put_cstr(b, nick);
    ipc_put_cstr(b, old);
    ipc_put_u64(b, client);
    ipc_put_u32(b, (uint32_t)W.slot);
    ipc_put_u8(b, force);
    ipc_end(b, f);
    if (!force)
        nick_send(owner, &frame, client, "NICK", nick, NULL);
}

void nick_handle_release(const char *nick, uint64_t client)
{
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, nick);
    if (rec && rec->client == client) {
        free(hmap_del_name(&W.nick_owner, nick));
        monitor_nick_offline(nick);
    }
}

void nick_release(const char *nick, uint64_t client)
{
    int owner = owner_of(nick);
    if (owner == W.slot && outbox_synced()) {
        nick_handle_release(nick, client);
        return;
    }
    struct buf frame = BUF_INIT;
    size_t f = ipc_begin(&frame, IPC_P_NICK_RELEASE);
    ipc_put_cstr(&frame, nick);
    ipc_put_u64(&frame, client);
    ipc_end(&frame, f);
    nick_send(owner, &frame, 0, "", nick, NULL);
}

void nick_request(struct client *c, const char *nick)
{
    if (c->got_nick && irc_casecmp(nick, c->nick) == 0) {
        /* Same nick under the casemapping: no claim needed. */
        nick_handle_result(c->id, true, nick);
        return;
    }
    c->blocked = true;
    send_claim(nick, c->got_nick ? c->nick : "", c->id, false);
}

static void try_register(struct client *c)
{
    if (c->registered || !c->got_nick || !c->got_user || c->cap_wait)
        return;
    if (!c->pass_ok) {
        reply(c, "464", ":Password incorrect");
        client_close(c, "Bad password");
        return;
    }
    c->registered = true;
    c->last_active = W.now;
    lusers_changed();
    log_debug("client %s:%d registered as %s", c->ip, c->port, c->nick);
    session_registered(c);
    send_welcome(c);
}

/* Called from commands.c once USER or CAP END may have completed registration. */
void nick_try_register(struct client *c)
{
    try_register(c);
    if (c->registered)
        account_nick_check(c);
}

void nick_handle_result(uint64_t client, bool ok, const char *nick)
{
    struct client *c = client_by_id(client);
    if (!c || c->closing) {
        if (ok && !(c && irc_casecmp(c->nick, nick) == 0))
            nick_release(nick, client);
        return;
    }
    if (!ok) {
        reply(c, "433", "%s :Nickname is already in use", nick);
        client_unblock(c);
        return;
    }
    /* The answer to a claim sent again to a new owner: nothing changes. */
    if (c->got_nick && strcmp(nick, c->nick) == 0 && !c->blocked)
        return;
    bool same = c->got_nick && irc_casecmp(nick, c->nick) == 0;
    if (c->got_nick) {
        hmap_del_name(&W.nicks, c->nick);
        if (!same) {
            whowas_note(c);
            nick_release(c->nick, c->id);
        }
    }
    if (c->registered) {
        char prefix[256];
        client_prefix(c, prefix, sizeof prefix);
        client_sendf(c, ":%s NICK :%s\r\n", prefix, nick);
        for (int i = 0; i < c->nchans; i++)
            chan_request(c, CHAN_NICK, c->chans[i]->name, nick, NULL);
        /* A JOIN still on its way arrives at its owner before this NICK
         * (one link, in order), so the member is renamed there too. */
        for (int i = 0; i < c->npjoins; i++)
            chan_request(c, CHAN_NICK, c->pjoins[i], nick, NULL);
    }
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    hmap_put_name(&W.nicks, c->nick, c);
    c->got_nick = true;
    session_nick(c);
    try_register(c);
    if (c->registered)
        account_nick_check(c);
    client_unblock(c);
}

/* A worker died: its clients' nicks are free again. */
void nick_forget_slot(int slot)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.nick_owner);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct nick_rec *rec = e->value;
        if (rec->slot == slot) {
            monitor_nick_offline(e->name);
            free(rec);
            hmap_iter_remove(&it);
        }
    }
}

/* Cluster (worker/handover.c): a node joined; registry entries for nicks
 * its workers own now are dropped here (their holders claim them again at
 * the new owner when its link comes up: nick_reannounce). */
unsigned nick_forget_moved(void)
{
    unsigned n = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.nick_owner);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        if (owner_of(e->name) != W.slot) {
            free(e->value);
            hmap_iter_remove(&it);
            n++;
        }
    }
    return n;
}

/* Worker `slot` restarted: tell it which of its nicks our clients hold. */
/* Cluster (worker/cluster.c): the nick's owner went with its node; claim
 * it at the new one. */
void nick_claim_again(struct client *c)
{
    send_claim(c->nick, "", c->id, true);
}

void nick_reannounce(int slot)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.nicks);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        if (owner_of(c->nick) == slot)
            send_claim(c->nick, "", c->id, true);
    }
}

/* ---- things addressed to a nick ---- */

static void encode_to_nick(struct buf *b, int stage, const struct nick_msg *m)
{
    size_t f = ipc_begin(b, IPC_P_TO_NICK);
    ipc_put_u8(b, (uint8_t)stage);
    ipc_put_u8(b, (uint8_t)m->kind);
    ipc_put_cstr(b, m->target);
    ipc_put_u64(b, m->from_client);
    ipc_put_u32(b, (uint32_t)m->from_slot);
    ipc_put_cstr(b, m->from_nick);
    ipc_put_cstr(b, m->from_account);
    ipc_put_cstr(b, m->source);
    ipc_put_cstr(b, m->command);
    ipc_put_cstr(b, m->text);
    ipc_put_cstr(b, m->msgid);
    ipc_put_cstr(b, m->ctags);
    ipc_put_u64(b, (uint64_t)(m->time * 1000.0));
    ipc_put_u8(b, m->by_op);
    ipc_put_u8(b, m->from_oper);
    ipc_put_u8(b, m->from_bot);
    ipc_end(b, f);
}

static void no_such_nick(const struct nick_msg *m)
{
    int slot = m->from_slot;
    uint64_t from = m->from_client;
    if (m->kind == TO_NICK_MSG && strcmp(m->command, "PRIVMSG") != 0)
        return;                      /* NOTICE and TAGMSG never get automatic replies */
    reply_remote(slot, from, m->from_nick, "401", "%s :No such nick/channel", m->target);
    if (m->kind == TO_NICK_WHOIS)
        reply_remote(slot, from, m->from_nick, "318", "%s :End of WHOIS list", m->target);
}

static void whois_reply(struct client *t, uint64_t from, int slot, const char *nick, bool from_oper)
{
    const struct parlor_config *cfg = W.cfg;
    reply_remote(slot, from, nick, "311", "%s %s %s * :%s", t->nick, t->user, t->host, t->realname);
    if (t->nchans) {
        char list[400];
        size_t n = 0;
        list[0] = '\0';
        for (int i = 0; i < t->nchans; i++) {
            if ((t->chans[i]->mode_s || t->chans[i]->mode_p) && !chan_member_id(t->chans[i], from))
                continue;                 /* a secret or private room: shown to its members only */
            struct member *m = chan_member_id(t->chans[i], t->id);
            int w = snprintf(list + n, sizeof list - n, "%s%s%s", n ? " " : "",
                             m ? member_prefix(m->modes, false) : "", t->chans[i]->name);
            if (w < 0 || (size_t)w >= sizeof list - n)
                break;
            n += (size_t)w;
        }
        if (n)
            reply_remote(slot, from, nick, "319", "%s :%s", t->nick, list);
    }
    reply_remote(slot, from, nick, "312", "%s %s :Parlor", t->nick, cfg->server_name);
    if (t->account[0])
        reply_remote(slot, from, nick, "330", "%s %s :is logged in as", t->nick, t->account);
    if (t->oper)
        reply_remote(slot, from, nick, "313", "%s :is an IRC operator", t->nick);
    if (client_is_tls(t))
        reply_remote(slot, from, nick, "671", "%s :is using a secure connection", t->nick);
    if (t->certfp[0] && (from == t->id || from_oper))   /* CertFP: its owner and operators */
        reply_remote(slot, from, nick, "276", "%s :has client certificate fingerprint %s", t->nick,
                     t->certfp);
    if (from_oper) {               /* operators only: where it really connects from */
        reply_remote(slot, from, nick, "378", "%s :is connecting from *@%s %s", t->nick, t->host, t->ip);
        reply_remote(slot, from, nick, "338", "%s %s :actually using host", t->nick, t->ip);
    }
    if (t->away)
        reply_remote(slot, from, nick, "301", "%s :%s", t->nick, t->away);
    if (t->bot)                        /* bot-mode */
        reply_remote(slot, from, nick, "335", "%s :is a bot", t->nick);
    reply_remote(slot, from, nick, "317", "%s %ld %ld :seconds idle, signon time", t->nick,
                 (long)(W.now - t->last_active), (long)t->signon);
    reply_remote(slot, from, nick, "318", "%s :End of WHOIS list", t->nick);
}

/* A private message is stored by the recipient's worker once it is
 * delivered; when it is durable the sender gets its echo (echo-message). */
struct pm_ack {
    uint64_t client;
    int slot;
    struct nick_msg_copy {
        char target[IRC_NICK_MAX + 1], source[256], command[16], msgid[17];
        char *text, *ctags;
        double time;
    } m;
};

static void on_pm_durable(void *arg)
{
    struct pm_ack *a = arg;
    struct msgline ml = {
        .time = a->m.time, .msgid = a->m.msgid, .ctags = a->m.ctags, .source = a->m.source,
        .command = a->m.command, .target = a->m.target, .text = a->m.text,
    };
    send_echo(a->slot, a->client, &ml);
    free(a->m.text);
    free(a->m.ctags);
    free(a);
}

static void store_pm(struct client *t, const struct nick_msg *m)
{
    char a[IRC_NICK_MAX + 1], b[IRC_NICK_MAX + 1], conv[2 * IRC_NICK_MAX + 2];
    irc_casefold(a, m->from_nick, strlen(m->from_nick));
    irc_casefold(b, t->nick, strlen(t->nick));
    if (strcmp(a, b) > 0)
        snprintf(conv, sizeof conv, "%s %s", b, a);
    else
        snprintf(conv, sizeof conv, "%s %s", a, b);
    /* Each side belongs to its account, or to its connection when it is
     * not logged in: whoever takes a nick later reads nothing of this. */
    char sender_key[HISTORY_KEY_MAX], target_key[HISTORY_KEY_MAX];
    history_private_key(m->from_account, m->from_client, t->nick, sender_key, sizeof sender_key);
    history_private_key(t->account, t->id, m->from_nick, target_key, sizeof target_key);
    static uint64_t pm_seq;
    struct store_msg sm = {
        .target = t->nick, .conversation = conv, .is_private = true, .sender_nick = m->from_nick,
        .sender_account = m->from_account[0] ? m->from_account : NULL, .command = m->command,
        .body = m->text, .msgid = m->msgid, .seq = ++pm_seq, .time = m->time,
        .sender_client = m->from_client, .target_client = t->id,
        .target_account = t->account[0] ? t->account : NULL,
        .sender_key = sender_key, .target_key = target_key, .client_tags = m->ctags,
    };
    struct pm_ack *ack = calloc(1, sizeof *ack);
    PARLOR_ASSERT(ack != NULL);
    ack->client = m->from_client;
    ack->slot = m->from_slot;
    snprintf(ack->m.target, sizeof ack->m.target, "%s", t->nick);
    snprintf(ack->m.source, sizeof ack->m.source, "%s", m->source);
    snprintf(ack->m.command, sizeof ack->m.command, "%s", m->command);
    snprintf(ack->m.msgid, sizeof ack->m.msgid, "%s", m->msgid);
    ack->m.text = strdup(m->text);
    ack->m.ctags = strdup(m->ctags);
    ack->m.time = m->time;
    store_message(&sm, on_pm_durable, ack);
}

/* Private messages delivered here lately, so one sent twice (the nick's
 * owner died before acknowledging it, worker/outbox.c) arrives once. */
static bool pm_seen(const char *msgid)
{
    static struct recent_ids recent;
    return recent_seen(&recent, msgid);
}

/* At the holder's worker: act on it. */
static void deliver_to_nick(struct client *t, const struct nick_msg *m)
{
    int slot = m->from_slot;
    uint64_t from = m->from_client;
    switch (m->kind) {
    case TO_NICK_MSG: {
        if (pm_seen(m->msgid))       /* sent again to a new nick owner: once is enough */
            break;
        struct msgline ml = {
            .time = m->time, .msgid = m->msgid, .ctags = m->ctags, .source = m->source,
            .command = m->command, .target = t->nick, .text = m->text,
            .account = m->from_account, .bot = m->from_bot,
        };
        W.unsolicited = true;
        send_msgline(t, &ml);
        W.unsolicited = false;
        if (t->away && strcmp(m->command, "PRIVMSG") == 0)
            reply_remote(slot, from, m->from_nick, "301", "%s :%s", t->nick, t->away);
        if (strcmp(m->command, "TAGMSG") != 0)
            store_pm(t, m);
        break;
    }
    case TO_NICK_INVITE:
        if (m->by_op)
            client_invite_add(t, m->text);
        W.unsolicited = true;
        client_sendf(t, ":%s INVITE %s %s\r\n", m->source, t->nick, m->text);
        W.unsolicited = false;
        reply_remote(slot, from, m->from_nick, "341", "%s %s", t->nick, m->text);
        break;
    case TO_NICK_WHOIS:
        whois_reply(t, from, slot, m->from_nick, m->from_oper);
        break;
    case TO_NICK_KILL:
        oper_kill_local(t, m->from_nick, m->text);
        break;
    }
}

static void route(int stage, const struct nick_msg *m)
{
    if (stage == 1) {                 /* we are the holder's worker */
        struct client *t = hmap_get_name(&W.nicks, m->target);
        if (!t || !t->registered || t->closing)
            no_such_nick(m);
        else
            deliver_to_nick(t, m);
        return;
    }
    int owner = owner_of(m->target);
    if (owner != W.slot || !outbox_synced()) {   /* stage 0: to the owner */
        struct buf frame = BUF_INIT;
        encode_to_nick(&frame, 0, m);
        static const char *const kinds[] = { "", "", "INVITE", "WHOIS", "KILL" };
        const char *command = m->kind == TO_NICK_MSG ? m->command : kinds[m->kind];
        nick_send(owner, &frame, m->from_slot == W.slot ? m->from_client : 0, command, m->target,
                  m->kind == TO_NICK_MSG ? m->msgid : NULL);
        return;
    }
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, m->target);
    if (!rec) {
        no_such_nick(m);
        return;
    }
    if (rec->slot == W.slot) {
        route(1, m);
        return;
    }
    struct buf *b = peer_buf(rec->slot);
    if (b)
        encode_to_nick(b, 1, m);
}

int nick_holder_slot(const char *nick)
{
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, nick);
    return rec ? rec->slot : -1;
}

void nick_route(const struct nick_msg *m)
{
    route(0, m);
}

void to_nick(int kind, const char *target, struct client *from, const char *command,
             const char *text, const char *msgid, const char *ctags)
{
    order_note_nick(target);
    char prefix[256];
    client_prefix(from, prefix, sizeof prefix);
    struct nick_msg m = {
        .kind = kind, .target = target, .from_client = from->id, .from_slot = W.slot,
        .from_nick = from->nick, .from_account = from->account, .source = prefix,
        .command = command ? command : "", .text = text ? text : "",
        .msgid = msgid ? msgid : "", .ctags = ctags ? ctags : "", .time = W.now,
        .from_oper = from->oper,
        .from_bot = from->bot,
    };
    route(0, &m);
}

void nick_handle_frame(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    int stage = ipc_get_u8(&r);
    struct nick_msg m;
    m.kind = ipc_get_u8(&r);
    m.target = ipc_get_str(&r, NULL);
    m.from_client = ipc_get_u64(&r);
    m.from_slot = (int)ipc_get_u32(&r);
    m.from_nick = ipc_get_str(&r, NULL);
    m.from_account = ipc_get_str(&r, NULL);
    m.source = ipc_get_str(&r, NULL);
    m.command = ipc_get_str(&r, NULL);
    m.text = ipc_get_str(&r, NULL);
    m.msgid = ipc_get_str(&r, NULL);
    m.ctags = ipc_get_str(&r, NULL);
    m.time = (double)ipc_get_u64(&r) / 1000.0;
    m.by_op = ipc_get_u8(&r);
    m.from_oper = ipc_get_u8(&r);
    m.from_bot = ipc_get_u8(&r);
    if (stage > 1 || m.kind < TO_NICK_MSG || m.kind > TO_NICK_KILL)
        r.err = true;
    if (r.err || m.from_slot < 0 || m.from_slot >= W.nworkers) {
        log_warn("malformed TO_NICK frame");
        return;
    }
    route(stage, &m);
}
