/* MONITOR (IRCv3 monitor, with extended-monitor through userstate.c).
 *
 * A client's list of monitored nicks lives with the client (struct client
 * monitors, at most MONITOR_MAX).  Who watches a nick is known at the nick's
 * owner, the worker that also knows whether the nick is held (worker/nick.c):
 * MONITOR + sends ADD to each nick's owner, which records the watcher and
 * answers with its status; when a claim or a release changes whether the
 * nick is held, the owner sends STATUS to every watcher's worker, which
 * turns it into 730/731 for clients whose list still has the nick (a
 * change is shown only if it differs from what the client was told last).
 * The frames go straight onto the mesh links.  When an owner restarts, the
 * watchers are announced to it again (monitor_reannounce), quietly, and
 * once every worker has re-announced its nicks the owner sends each
 * watcher the status of its nicks (monitor_synced): a nick whose holder
 * died with the owner is told offline then.
 *
 * A nick counts as online from the moment a connection holds it (also
 * before that connection has finished registering). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

enum { MON_ADD = 1, MON_DEL, MON_QUERY, MON_STATUS };

/* At a nick's owner: who monitors it.  Owned by `watched` (folded nick). */
struct watch {
    struct watcher { uint64_t client; int slot; } *w;
    int n, cap;
};
static struct hmap watched;
static bool watched_ready;

static struct hmap *table(void)
{
    if (!watched_ready) {
        hmap_init(&watched);
        watched_ready = true;
    }
    return &watched;
}

/* ---- at the nick's owner ---- */

static void send_status(int slot, uint64_t client, bool online, const char *nick, bool answer);

static void watch_add(const char *nick, uint64_t client, int slot)
{
    struct watch *w = hmap_get_name(table(), nick);
    if (!w) {
        w = calloc(1, sizeof *w);
        PARLOR_ASSERT(w != NULL);
        hmap_put_name(table(), nick, w);
    }
    for (int i = 0; i < w->n; i++)
        if (w->w[i].client == client)
            return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->w = realloc(w->w, (size_t)w->cap * sizeof *w->w);
        PARLOR_ASSERT(w->w != NULL);
    }
    w->w[w->n].client = client;
    w->w[w->n].slot = slot;
    w->n++;
}

static void watch_free_if_empty(const char *nick, struct watch *w)
{
    if (w->n)
        return;
    hmap_del_name(table(), nick);
    free(w->w);
    free(w);
}

static void watch_del(const char *nick, uint64_t client)
{
    struct watch *w = hmap_get_name(table(), nick);
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        if (w->w[i].client == client) {
            w->w[i] = w->w[--w->n];
            break;
        }
    watch_free_if_empty(nick, w);
}

static void tell_all(const char *nick, bool online)
{
    struct watch *w = hmap_get_name(table(), nick);
    for (int i = 0; w && i < w->n; i++)
        send_status(w->w[i].slot, w->w[i].client, online, nick, false);
}

void monitor_synced(void)
{
    struct hmap_iter it;
    hmap_iter_init(&it, table());
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct watch *w = e->value;
        bool online = nick_holder_slot(e->name) >= 0;
        for (int i = 0; i < w->n; i++)
            send_status(w->w[i].slot, w->w[i].client, online, e->name, false);
    }
}

void monitor_nick_online(const char *nick)
{
    tell_all(nick, true);
}

void monitor_nick_offline(const char *nick)
{
    tell_all(nick, false);
}

void monitor_forget_slot(int slot)
{
    struct hmap_iter it;
    hmap_iter_init(&it, table());
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct watch *w = e->value;
        for (int i = 0; i < w->n;)
            if (w->w[i].slot == slot)
                w->w[i] = w->w[--w->n];
            else
                i++;
        if (!w->n) {
            free(w->w);
            free(w);
            hmap_iter_remove(&it);
        }
    }
}

void monitor_watchers(const char *nick, monitor_send_fn *fn, void *arg)
{
    struct watch *w = hmap_get_name(table(), nick);
    if (!w)
        return;
    enum { CHUNK = 256 };
    for (int s = 0; s < W.nworkers; s++) {
        uint64_t ids[CHUNK];
        int n = 0;
        for (int i = 0; i < w->n; i++) {
            if (w->w[i].slot != s)
                continue;
            ids[n++] = w->w[i].client;
            if (n == CHUNK) {
                fn(s, ids, n, arg);
                n = 0;
            }
        }
        if (n)
            fn(s, ids, n, arg);
    }
}

/* ---- at the watcher's worker ---- */

static int list_find(const struct client *c, const char *nick)
{
    for (int i = 0; i < c->nmonitors; i++)
        if (irc_casecmp(c->monitors[i].nick, nick) == 0)
            return i;
    return -1;
}

static void handle_status(uint64_t client, bool online, const char *nick, bool answer)
{
    struct client *c = client_by_id(client);
    if (!c || c->closing || !c->registered)
        return;
    int i = list_find(c, nick);
    if (i < 0)
        return;                        /* removed meanwhile */
    struct monitor_entry *me = &c->monitors[i];
    if (!answer && me->online == online)
        return;
    me->online = online;
    reply(c, online ? "730" : "731", ":%s", me->nick);
}

static void send_status(int slot, uint64_t client, bool online, const char *nick, bool answer)
{
    if (slot == W.slot) {
        handle_status(client, online, nick, answer);
        return;
    }
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_MONITOR);
    ipc_put_u8(b, MON_STATUS);
    ipc_put_u64(b, client);
    ipc_put_u8(b, online);
    ipc_put_cstr(b, nick);
    ipc_put_u8(b, answer);
    ipc_end(b, f);
}

/* ADD, DEL or QUERY to the nick's owner (here: at once). */
static void to_owner(int kind, const char *nick, uint64_t client, bool quiet)
{
    order_note_nick(nick);             /* the command's answer comes from there */
    int owner = owner_of(nick);
    if (owner == W.slot) {
        if (kind == MON_ADD)
            watch_add(nick, client, W.slot);
        else if (kind == MON_DEL)
            watch_del(nick, client);
        if (kind != MON_DEL && !quiet)
            handle_status(client, nick_holder_slot(nick) >= 0, nick, true);
        return;
    }
    struct buf *b = peer_buf(owner);
    if (!b)
        return;                        /* the link comes back with monitor_reannounce */
    size_t f = ipc_begin(b, IPC_P_MONITOR);
    ipc_put_u8(b, (uint8_t)kind);
    ipc_put_cstr(b, nick);
    ipc_put_u64(b, client);
    if (kind != MON_DEL)
        ipc_put_u32(b, (uint32_t)W.slot);
    if (kind == MON_ADD)
        ipc_put_u8(b, quiet);
    ipc_end(b, f);
}

void monitor_handle_frame(int from_slot, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    int kind = ipc_get_u8(&r);
    if (kind == MON_STATUS) {
        uint64_t client = ipc_get_u64(&r);
        bool online = ipc_get_u8(&r);
        const char *nick = ipc_get_str(&r, NULL);
        bool answer = ipc_get_u8(&r);
        if (!r.err)
            handle_status(client, online, nick, answer);
        return;
    }
    const char *nick = ipc_get_str(&r, NULL);
    uint64_t client = ipc_get_u64(&r);
    int slot = kind == MON_DEL ? from_slot : (int)ipc_get_u32(&r);
    bool quiet = kind == MON_ADD ? ipc_get_u8(&r) : false;
    if (r.err || kind < MON_ADD || kind > MON_QUERY || slot != from_slot ||
        !irc_nick_valid(nick, strlen(nick)) || owner_of(nick) != W.slot) {
        log_warn("malformed MONITOR frame from worker %d", from_slot);
        return;
    }
    if (kind == MON_ADD)
        watch_add(nick, client, slot);
    else if (kind == MON_DEL)
        watch_del(nick, client);
    if (kind != MON_DEL && !quiet)
        send_status(slot, client, nick_holder_slot(nick) >= 0, nick, true);
}

void monitor_reannounce(int slot)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        for (int i = 0; !c->closing && i < c->nmonitors; i++)
            if (owner_of(c->monitors[i].nick) == slot)
                to_owner(MON_ADD, c->monitors[i].nick, c->id, true);
    }
}

void monitor_client_gone(struct client *c)
{
    for (int i = 0; i < c->nmonitors; i++)
        to_owner(MON_DEL, c->monitors[i].nick, c->id, false);
    free(c->monitors);
    c->monitors = NULL;
    c->nmonitors = 0;
}

/* ---- the command ---- */

static void list_del(struct client *c, const char *nick)
{
    int i = list_find(c, nick);
    if (i < 0)
        return;
    to_owner(MON_DEL, c->monitors[i].nick, c->id, false);
    memmove(&c->monitors[i], &c->monitors[i + 1],
            (size_t)(c->nmonitors - i - 1) * sizeof c->monitors[0]);
    c->nmonitors--;
}

static void cmd_add(struct client *c, char *targets)
{
    char *save = NULL;
    for (char *t = strtok_r(targets, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!irc_nick_valid(t, strlen(t)) || list_find(c, t) >= 0)
            continue;
        if (c->nmonitors >= MONITOR_MAX) {
            /* This target and the rest, as the client sent them. */
            char rest[IRC_LINE_MAX + 1];
            snprintf(rest, sizeof rest, "%s%s%s", t, save && *save ? "," : "", save ? save : "");
            reply(c, "734", "%d %s :Monitor list is full.", MONITOR_MAX, rest);
            return;
        }
        if (!c->monitors) {
            c->monitors = malloc(MONITOR_MAX * sizeof c->monitors[0]);
            PARLOR_ASSERT(c->monitors != NULL);
        }
        struct monitor_entry *me = &c->monitors[c->nmonitors++];
        snprintf(me->nick, sizeof me->nick, "%s", t);
        me->online = -1;
        to_owner(MON_ADD, t, c->id, false);
    }
}

/* 732 lines of at most ~400 bytes of nicks, then 733. */
static void cmd_list(struct client *c)
{
    char line[420];
    size_t n = 0;
    for (int i = 0; i < c->nmonitors; i++) {
        size_t l = strlen(c->monitors[i].nick);
        if (n && n + 1 + l > 400) {
            reply(c, "732", ":%.*s", (int)n, line);
            n = 0;
        }
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", n ? "," : "", c->monitors[i].nick);
    }
    if (n)
        reply(c, "732", ":%.*s", (int)n, line);
    reply(c, "733", ":End of MONITOR list");
}

void monitor_command(struct client *c, struct irc_msg *m)
{
    char op = m->params[0][0];
    if (op >= 'a' && op <= 'z')
        op = (char)(op - 32);
    if ((op == '+' || op == '-') && (m->nparams < 2 || !m->params[1][0])) {
        reply(c, "461", "MONITOR :Not enough parameters");
        return;
    }
    switch (op) {
    case '+':
        cmd_add(c, m->params[1]);
        break;
    case '-': {
        char *save = NULL;
        for (char *t = strtok_r(m->params[1], ",", &save); t; t = strtok_r(NULL, ",", &save))
            list_del(c, t);
        break;
    }
    case 'C':
        while (c->nmonitors)
            list_del(c, c->monitors[c->nmonitors - 1].nick);
        break;
    case 'L':
        cmd_list(c);
        break;
    case 'S':
        for (int i = 0; i < c->nmonitors; i++) {
            order_note_nick(c->monitors[i].nick);
            to_owner(MON_QUERY, c->monitors[i].nick, c->id, false);
        }
        break;
    default:
        break;                         /* unknown modifiers are ignored */
    }
}
