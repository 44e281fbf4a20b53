/* LUSERS: how many users, invisible users, operators, unregistered
 * connections and rooms the whole server has.
 *
 * Each worker counts its own clients and the rooms it owns, and tells every
 * other worker when its counts change (IPC_P_COUNTS, at most once per loop
 * iteration, from worker_on_check), so LUSERS is answered at once from what
 * this worker knows: its own counts now, the others' as they last said.
 * That lets registration send LUSERS between ISUPPORT and the MOTD, as the
 * major servers do, without waiting for anyone.  A new mesh link gets our
 * counts; a worker that died counts nothing until it says again. */
#include <string.h>

#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

struct counts {
    uint32_t users, invisible, opers, unknown, channels;
};

static struct counts known[MAX_WORKERS];   /* the others', as they last said */
static struct counts sent;                 /* ours, as we last told them */
static bool dirty;
static uint32_t max_users;                 /* the most users seen by this worker */

void lusers_changed(void)
{
    dirty = true;
}

static struct counts count_here(void)
{
    struct counts n = { 0 };
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        const struct client *c = e->value;
        if (c->closing)
            continue;
        if (!c->registered) {
            n.unknown++;
            continue;
        }
        n.users++;
        n.invisible += c->invisible;
        n.opers += c->oper;
    }
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
        n.channels += ((const struct channel *)e->value)->owned;
    return n;
}

static void put_counts(int slot, const struct counts *n)
{
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_COUNTS);
    ipc_put_u32(b, n->users);
    ipc_put_u32(b, n->invisible);
    ipc_put_u32(b, n->opers);
    ipc_put_u32(b, n->unknown);
    ipc_put_u32(b, n->channels);
    ipc_end(b, f);
}

void lusers_flush(void)
{
    if (!dirty)
        return;
    dirty = false;
    struct counts n = count_here();
    if (memcmp(&n, &sent, sizeof n) == 0)
        return;
    sent = n;
    for (int s = 0; s < W.nworkers; s++)
        if (s != W.slot && peer_connected(s))
            put_counts(s, &n);
}

void lusers_link_up(int slot)
{
    struct counts n = count_here();
    put_counts(slot, &n);
}

void lusers_forget_slot(int slot)
{
    memset(&known[slot], 0, sizeof known[slot]);
}

void lusers_handle_frame(int slot, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    struct counts n;
    n.users = ipc_get_u32(&r);
    n.invisible = ipc_get_u32(&r);
    n.opers = ipc_get_u32(&r);
    n.unknown = ipc_get_u32(&r);
    n.channels = ipc_get_u32(&r);
    if (!r.err && slot >= 0 && slot < MAX_WORKERS && slot != W.slot)
        known[slot] = n;
}

void lusers_send(struct client *c)
{
    struct counts t = count_here();
    for (int s = 0; s < W.nworkers; s++) {
        if (s == W.slot)
            continue;
        t.users += known[s].users;
        t.invisible += known[s].invisible;
        t.opers += known[s].opers;
        t.unknown += known[s].unknown;
        t.channels += known[s].channels;
    }
    if (t.users > max_users)
        max_users = t.users;
    /* One server to its clients, whatever the number of workers. */
    reply(c, "251", ":There are %u users and %u invisible on 1 servers", t.users - t.invisible,
          t.invisible);
    reply(c, "252", "%u :operator(s) online", t.opers);
    if (t.unknown)
        reply(c, "253", "%u :unknown connection(s)", t.unknown);
    reply(c, "254", "%u :channels formed", t.channels);
    reply(c, "255", ":I have %u clients and 0 servers", t.users);
    reply(c, "265", "%u %u :Current local users %u, max %u", t.users, max_users, t.users, max_users);
    reply(c, "266", "%u %u :Current global users %u, max %u", t.users, max_users, t.users, max_users);
}

void lusers_command(struct client *c, struct irc_msg *m)
{
    (void)m;
    lusers_send(c);
}
