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
#include "ipc/frame.h"
#include "ipc/proto.h"
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

void nick_handle_claim(const char *nick, const char *old, uint64_t client, int slot, bool force)
{
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, nick);
    if (rec && rec->client != client && !force) {
        send_result(slot, client, false, nick);
        return;
    }
    if (!rec) {
        rec = malloc(sizeof *rec);
        PARLOR_ASSERT(rec != NULL);
        hmap_put_name(&W.nick_owner, nick, rec);
    }
    rec->client = client;
    rec->slot = slot;
    if (!force)
        send_result(slot, client, true, nick);
}

static void send_claim(const char *nick, const char *old, uint64_t client, bool force)
{
    int owner = owner_of(nick);
    if (owner == W.slot) {
        nick_handle_claim(nick, old, client, W.slot, force);
        return;
    }
    struct buf *b = peer_buf(owner);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_NICK_CLAIM);
    ipc_put_cstr(b, nick);
    ipc_put_cstr(b, old);
    ipc_put_u64(b, client);
    ipc_put_u32(b, (uint32_t)W.slot);
    ipc_put_u8(b, force);
    ipc_end(b, f);
}

void nick_handle_release(const char *nick, uint64_t client)
{
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, nick);
    if (rec && rec->client == client)
        free(hmap_del_name(&W.nick_owner, nick));
}

void nick_release(const char *nick, uint64_t client)
{
    int owner = owner_of(nick);
    if (owner == W.slot) {
        nick_handle_release(nick, client);
        return;
    }
    struct buf *b = peer_buf(owner);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_NICK_RELEASE);
    ipc_put_cstr(b, nick);
    ipc_put_u64(b, client);
    ipc_end(b, f);
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
    log_debug("client %s:%d registered as %s", c->ip, c->port, c->nick);
    send_welcome(c);
}

/* Called from commands.c once USER or CAP END may have completed registration. */
void nick_try_register(struct client *c)
{
    try_register(c);
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
    bool same = c->got_nick && irc_casecmp(nick, c->nick) == 0;
    if (c->got_nick) {
        hmap_del_name(&W.nicks, c->nick);
        if (!same)
            nick_release(c->nick, c->id);
    }
    if (c->registered) {
        char prefix[256];
        client_prefix(c, prefix, sizeof prefix);
        client_sendf(c, ":%s NICK :%s\r\n", prefix, nick);
        for (int i = 0; i < c->nchans; i++)
            chan_request(c, CHAN_NICK, c->chans[i]->name, nick, NULL);
    }
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    hmap_put_name(&W.nicks, c->nick, c);
    c->got_nick = true;
    try_register(c);
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
            free(rec);
            hmap_iter_remove(&it);
        }
    }
}

/* Worker `slot` restarted: tell it which of its nicks our clients hold. */
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

static void encode_to_nick(struct buf *b, int stage, int kind, const char *target,
                           uint64_t from_client, int from_slot, const char *from_nick,
                           const char *a1, const char *a2, const char *a3)
{
    size_t f = ipc_begin(b, IPC_P_TO_NICK);
    ipc_put_u8(b, (uint8_t)stage);
    ipc_put_u8(b, (uint8_t)kind);
    ipc_put_cstr(b, target);
    ipc_put_u64(b, from_client);
    ipc_put_u32(b, (uint32_t)from_slot);
    ipc_put_cstr(b, from_nick);
    ipc_put_cstr(b, a1);
    ipc_put_cstr(b, a2);
    ipc_put_cstr(b, a3);
    ipc_end(b, f);
}

static void no_such_nick(int kind, const char *target, uint64_t from_client, int from_slot,
                         const char *from_nick, const char *a2)
{
    if (kind == TO_NICK_MSG && strcmp(a2, "NOTICE") == 0)
        return;                      /* NOTICE never gets an automatic reply */
    if (kind == TO_NICK_WHO) {
        reply_remote(from_slot, from_client, from_nick, "315", "%s :End of WHO list", target);
        return;
    }
    reply_remote(from_slot, from_client, from_nick, "401", "%s :No such nick/channel", target);
    if (kind == TO_NICK_WHOIS)
        reply_remote(from_slot, from_client, from_nick, "318", "%s :End of WHOIS list", target);
}

static void whois_reply(struct client *t, uint64_t from, int slot, const char *nick)
{
    const struct parlor_config *cfg = W.cfg;
    reply_remote(slot, from, nick, "311", "%s %s %s * :%s", t->nick, t->user, t->host, t->realname);
    if (t->nchans) {
        char list[400];
        size_t n = 0;
        list[0] = '\0';
        for (int i = 0; i < t->nchans; i++) {
            struct member *m = chan_member(t->chans[i], t->nick);
            int w = snprintf(list + n, sizeof list - n, "%s%s%s", n ? " " : "",
                             m ? member_prefix(m->modes, false) : "", t->chans[i]->name);
            if (w < 0 || (size_t)w >= sizeof list - n)
                break;
            n += (size_t)w;
        }
        reply_remote(slot, from, nick, "319", "%s :%s", t->nick, list);
    }
    reply_remote(slot, from, nick, "312", "%s %s :Parlor worker %d", t->nick, cfg->server_name, W.slot);
    if (t->away)
        reply_remote(slot, from, nick, "301", "%s :%s", t->nick, t->away);
    reply_remote(slot, from, nick, "317", "%s %ld %ld :seconds idle, signon time", t->nick,
                 (long)(W.now - t->last_active), (long)t->signon);
    reply_remote(slot, from, nick, "318", "%s :End of WHOIS list", t->nick);
}

/* At the holder's worker: act on it. */
static void deliver_to_nick(int kind, struct client *t, uint64_t from_client, int from_slot,
                            const char *from_nick, const char *a1, const char *a2, const char *a3)
{
    switch (kind) {
    case TO_NICK_MSG: {
        char tag[64];
        size_t tl = (t->caps & CAP_SERVER_TIME) ? format_time_tag(W.now, tag, sizeof tag) : 0;
        client_sendf(t, "%.*s:%s %s %s :%s\r\n", (int)tl, tag, a1, a2, t->nick, a3);
        if (t->away && strcmp(a2, "PRIVMSG") == 0)
            reply_remote(from_slot, from_client, from_nick, "301", "%s :%s", t->nick, t->away);
        break;
    }
    case TO_NICK_INVITE:
        client_sendf(t, ":%s INVITE %s %s\r\n", a1, t->nick, a2);
        reply_remote(from_slot, from_client, from_nick, "341", "%s %s", t->nick, a2);
        break;
    case TO_NICK_WHOIS:
        whois_reply(t, from_client, from_slot, from_nick);
        break;
    case TO_NICK_WHO:
        reply_remote(from_slot, from_client, from_nick, "352", "* %s %s %s %s %s :0 %s",
                     t->user, t->host, W.cfg->server_name, t->nick, t->away ? "G" : "H",
                     t->realname);
        reply_remote(from_slot, from_client, from_nick, "315", "%s :End of WHO list", t->nick);
        break;
    }
}

static void route(int stage, int kind, const char *target, uint64_t from_client, int from_slot,
                  const char *from_nick, const char *a1, const char *a2, const char *a3)
{
    if (stage == 1) {                 /* we are the holder's worker */
        struct client *t = hmap_get_name(&W.nicks, target);
        if (!t || !t->registered || t->closing)
            no_such_nick(kind, target, from_client, from_slot, from_nick, a2);
        else
            deliver_to_nick(kind, t, from_client, from_slot, from_nick, a1, a2, a3);
        return;
    }
    int owner = owner_of(target);
    if (owner != W.slot) {           /* stage 0 elsewhere: send to the owner */
        struct buf *b = peer_buf(owner);
        if (b)
            encode_to_nick(b, 0, kind, target, from_client, from_slot, from_nick, a1, a2, a3);
        return;
    }
    struct nick_rec *rec = hmap_get_name(&W.nick_owner, target);
    if (!rec) {
        no_such_nick(kind, target, from_client, from_slot, from_nick, a2);
        return;
    }
    if (rec->slot == W.slot) {
        route(1, kind, target, from_client, from_slot, from_nick, a1, a2, a3);
        return;
    }
    struct buf *b = peer_buf(rec->slot);
    if (b)
        encode_to_nick(b, 1, kind, target, from_client, from_slot, from_nick, a1, a2, a3);
}

void nick_route(int kind, const char *target, uint64_t from_client, int from_slot,
                const char *from_nick, const char *a1, const char *a2, const char *a3)
{
    route(0, kind, target, from_client, from_slot, from_nick, a1, a2, a3);
}

void to_nick(int kind, const char *target, struct client *from, const char *a1, const char *a2)
{
    char prefix[256];
    client_prefix(from, prefix, sizeof prefix);
    if (kind == TO_NICK_MSG)         /* a1 = command, a2 = text */
        route(0, kind, target, from->id, W.slot, from->nick, prefix, a1, a2);
    else
        route(0, kind, target, from->id, W.slot, from->nick, prefix, a1, "");
}

void nick_handle_frame(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    int stage = ipc_get_u8(&r);
    int kind = ipc_get_u8(&r);
    const char *target = ipc_get_str(&r, NULL);
    uint64_t from = ipc_get_u64(&r);
    int slot = (int)ipc_get_u32(&r);
    const char *from_nick = ipc_get_str(&r, NULL);
    const char *a1 = ipc_get_str(&r, NULL);
    const char *a2 = ipc_get_str(&r, NULL);
    const char *a3 = ipc_get_str(&r, NULL);
    if (r.err || slot < 0 || slot >= W.nworkers) {
        log_warn("malformed TO_NICK frame");
        return;
    }
    route(stage, kind, target, from, slot, from_nick, a1, a2, a3);
}
