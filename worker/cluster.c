/* Several nodes over NATS (issue 13; README "Cluster over NATS").  Only
 * with --cluster: without it nothing here runs (W.cluster is false).
 *
 * Each worker has its own NATS connection, driven by its libuv loop (the
 * client's libuv adapter), and:
 *   - subscribes to parlor.w.<node>.<worker>: mesh frames for it, sent by
 *     workers of other nodes (the same frames as the Unix-socket mesh,
 *     several per NATS message after an 8-byte header: sender slot and pid);
 *   - publishes its heartbeat on parlor.nodes once a second and reads the
 *     others': a remote worker heard from is a linked peer (W.peers[slot]
 *     .remote, the same link-up as a new mesh socket: peer_link_up), one
 *     silent for DOWN_AFTER seconds is down (frames for it wait, like for a
 *     local worker being restarted), a node none of whose workers was heard
 *     for DOWN_AFTER seconds is gone and leaves the owner function.
 *
 * Slots: node id N has the slots N*CLUSTER_NODE_SLOTS.. (worker.c sets
 * W.slot); cluster_owner() is rendezvous hashing over the live ones.
 *
 * The NATS client calls our message handler on its own threads: messages
 * are queued under a mutex and handled on the loop (uv_async). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>
#include <nats/adapters/libuv.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "worker/worker_int.h"

#define HEARTBEAT_EVERY 1.0        /* seconds */
#define DOWN_AFTER 3.0             /* seconds of silence: a worker is down, a node gone */
#define NATS_MSG_MAX (512u * 1024) /* below the server's default max_payload (1 MB) */
#define NODES_SUBJECT "parlor.nodes"

struct rworker {
    int pid;
    int clients;                   /* from its heartbeat */
    double seen;
};

struct node {
    char name[32];
    int workers;
    double seen;                   /* 0: not live */
    struct rworker w[CLUSTER_NODE_SLOTS];
};

static struct node nodes[CLUSTER_MAX_NODES];
static int my_node;
static natsConnection *nc;
static natsSubscription *sub_frames, *sub_nodes;
static char my_subject[96];
static uv_timer_t timer;
static uv_async_t wake;
static double last_beat;
static bool beat_now;

/* Filled on NATS threads, emptied on the loop. */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static natsMsg **queue;
static size_t qlen, qcap;
static bool closing;
static uint64_t reconnects;        /* added to by NATS threads (atomic) */

static struct {
    uint64_t msgs_in, msgs_out, frames_in, frames_out, publish_errors;
    uint64_t rooms_moved, nicks_moved;
} stats;

bool cluster_slot_live(int slot)
{
    int n = slot / CLUSTER_NODE_SLOTS, i = slot % CLUSTER_NODE_SLOTS;
    if (slot < 0 || n >= CLUSTER_MAX_NODES)
        return false;
    if (n == my_node)
        return i < W.cfg->workers;
    return nodes[n].seen > 0 && i < nodes[n].workers;
}

static uint64_t mix(uint64_t x)   /* splitmix64's finaliser */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Rendezvous hashing: the live slot with the highest score.  A slot's
 * leaving or arriving only moves the names it wins. */
int cluster_owner(uint64_t hash)
{
    int best = W.slot;
    uint64_t best_score = 0;
    bool any = false;
    for (int n = 0; n < CLUSTER_MAX_NODES; n++) {
        int count = n == my_node ? W.cfg->workers : nodes[n].seen > 0 ? nodes[n].workers : 0;
        for (int i = 0; i < count; i++) {
            int s = n * CLUSTER_NODE_SLOTS + i;
            uint64_t score = mix(hash ^ mix((uint64_t)s + 1));
            if (!any || score > best_score) {
                best = s;
                best_score = score;
                any = true;
            }
        }
    }
    return best;
}

static void publish(const char *subject, const char *data, size_t len)
{
    natsStatus s = natsConnection_Publish(nc, subject, data, (int)len);
    if (s == NATS_OK) {
        stats.msgs_out++;
        return;
    }
    if (stats.publish_errors++ % 1000 == 0)
        log_warn("cluster: publish on %s: %s", subject, natsStatus_GetText(s));
}

static void send_beat(bool leaving)
{
    struct buf b = BUF_INIT;
    ipc_put_cstr(&b, W.cfg->node_name);
    ipc_put_u32(&b, (uint32_t)my_node);
    ipc_put_u32(&b, (uint32_t)W.cfg->workers);
    ipc_put_u32(&b, (uint32_t)W.slot);
    ipc_put_u32(&b, (uint32_t)W.pid);
    ipc_put_u8(&b, leaving);
    ipc_put_u32(&b, (uint32_t)W.clients.count);   /* last: older nodes stop before it */
    publish(NODES_SUBJECT, b.data, b.len);
    buf_free(&b);
    last_beat = W.now;
}

static void remote_down(int slot, const char *why)
{
    if (!W.peers[slot].remote)
        return;
    W.peers[slot].remote = false;
    log_warn("cluster: worker %d is down: %s", slot, why);
    /* What its users' rooms show: an IRC net split ("us them"). */
    char reason[96];
    snprintf(reason, sizeof reason, "%.31s %.31s", W.cfg->node_name, nodes[slot / CLUSTER_NODE_SLOTS].name);
    peer_link_lost(slot, reason);
}

/* Channel states re-announced to us before we saw the node go (another
 * worker noticed a moment earlier): tried again on each tick. */
struct deferred {
    int slot;
    double since;
    struct buf payload;
    struct deferred *next;
};
static struct deferred *deferred;
static double redispatch_since;    /* > 0 while one is tried again */

bool cluster_defer_state(int slot, const char *payload, size_t len)
{
    double since = redispatch_since > 0 ? redispatch_since : W.now;
    if (W.now - since > DOWN_AFTER)
        return false;
    struct deferred *d = calloc(1, sizeof *d);
    PARLOR_ASSERT(d != NULL);
    d->slot = slot;
    d->since = since;
    buf_append(&d->payload, payload, len);
    d->next = deferred;
    deferred = d;
    return true;
}

static void redispatch(void)
{
    struct deferred *list = deferred;
    deferred = NULL;
    while (list) {
        struct deferred *d = list;
        list = d->next;
        redispatch_since = d->since;
        chan_handle_state(d->slot, d->payload.data, d->payload.len);
        redispatch_since = 0;
        buf_free(&d->payload);
        free(d);
    }
}

static bool on_node(int slot, int id)
{
    return slot / CLUSTER_NODE_SLOTS == id;
}

/* Node `id` is gone: its slots leave the owner function; the rooms and
 * nicks it owned get new owners, re-announced to them (or taken over from
 * our mirror). */
static void node_gone(int id, const char *why)
{
    struct node *n = &nodes[id];
    log_warn("cluster: node %s (id %d) is gone: %s", n->name, id, why);
    /* What it owned, while owner_of() still says so. */
    struct buf rooms = BUF_INIT;
    size_t nrooms = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct channel *ch = e->value;
        if (!ch->owned && on_node(owner_of(ch->name), id)) {
            buf_append(&rooms, ch->name, strlen(ch->name) + 1);
            nrooms++;
        }
    }
    struct buf nicks = BUF_INIT;       /* client ids */
    hmap_iter_init(&it, &W.nicks);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        if (on_node(owner_of(c->nick), id))
            buf_append(&nicks, &c->id, sizeof c->id);
    }
    for (int i = 0; i < n->workers; i++) {
        int slot = id * CLUSTER_NODE_SLOTS + i;
        remote_down(slot, why);
        buf_clear(&W.peers[slot].out);  /* nobody to keep them for */
        n->w[i].pid = 0;
    }
    n->seen = 0;
    for (size_t pos = 0; pos < rooms.len; pos += strlen(rooms.data + pos) + 1)
        chan_owner_moved(rooms.data + pos);
    size_t nn = 0;
    for (size_t pos = 0; pos + sizeof(uint64_t) <= nicks.len; pos += sizeof(uint64_t)) {
        uint64_t cid;
        memcpy(&cid, nicks.data + pos, sizeof cid);
        struct client *c = client_by_id(cid);
        if (c && c->registered && !c->closing) {
            nick_claim_again(c);
            nn++;
        }
    }
    /* After the re-announcements above, on the same links: the requests
     * and fences that waited for its workers go to the new owners. */
    for (int i = 0; i < n->workers; i++) {
        outbox_reroute(id * CLUSTER_NODE_SLOTS + i);
        order_reroute(id * CLUSTER_NODE_SLOTS + i);
    }
    game_node_gone();
    if (nrooms || nn) {
        log_info("cluster: %zu rooms and %zu nicks moved to new owners", nrooms, nn);
        cluster_count_moves((unsigned)nrooms, (unsigned)nn);
    }
    buf_free(&rooms);
    buf_free(&nicks);
}

static void dispatch_early(int slot);

static void handle_beat(const char *data, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, data, len);
    const char *name = ipc_get_str(&r, NULL);
    int id = (int)ipc_get_u32(&r);
    int workers = (int)ipc_get_u32(&r);
    int slot = (int)ipc_get_u32(&r);
    int pid = (int)ipc_get_u32(&r);
    bool leaving = ipc_get_u8(&r);
    int clients = r.left >= 4 ? (int)ipc_get_u32(&r) : 0;   /* absent from older nodes' beats */
    if (r.err || id < 0 || id >= CLUSTER_MAX_NODES || workers < 1 || workers > CLUSTER_NODE_SLOTS ||
        slot / CLUSTER_NODE_SLOTS != id || slot % CLUSTER_NODE_SLOTS >= workers)
        return;
    struct node *n = &nodes[id];
    if (id == my_node || (n->seen > 0 && strcmp(n->name, name) != 0)) {
        if (id != my_node || strcmp(name, W.cfg->node_name) != 0) {
            static double warned;
            if (W.now - warned > 10) {
                log_error("cluster: node %s claims node id %d, which is %s's; ignored (give --node-id)",
                          name, id, id == my_node ? W.cfg->node_name : n->name);
                warned = W.now;
            }
        }
        return;
    }
    if (leaving) {                     /* a worker stopped; the node when all did */
        if (n->seen <= 0)
            return;
        remote_down(slot, "stopped");
        n->w[slot % CLUSTER_NODE_SLOTS].seen = 0;
        bool any = false;
        for (int i = 0; i < n->workers; i++)
            any |= n->w[i].seen > 0;
        if (!any)
            node_gone(id, "stopped");
        return;
    }
    if (n->seen <= 0) {
        snprintf(n->name, sizeof n->name, "%s", name);
        n->workers = workers;
        memset(n->w, 0, sizeof n->w);
        log_info("cluster: node %s (id %d, %d workers) joined", n->name, id, workers);
        beat_now = true;               /* let it hear from us at once */
        n->seen = W.now;
        handover_node_joined();        /* what its workers own now (worker/handover.c) */
    }
    n->seen = W.now;
    struct rworker *w = &n->w[slot % CLUSTER_NODE_SLOTS];
    if (w->pid != pid) {
        remote_down(slot, "replaced by a new process");
        w->pid = pid;
    }
    w->seen = W.now;
    w->clients = clients;
    if (!W.peers[slot].remote) {
        W.peers[slot].remote = true;
        log_info("cluster: link to worker %d (node %s, pid %d) up", slot, n->name, pid);
        peer_link_up(slot);
        dispatch_early(slot);
    }
}

static void dispatch_frames(int slot, const char *p, size_t left)
{
    while (left) {
        uint8_t type;
        const char *payload;
        size_t plen;
        long fl = ipc_frame_peek(p, left, &type, &payload, &plen);
        if (fl <= 0) {
            log_warn("cluster: bad frame from worker %d", slot);
            break;
        }
        stats.frames_in++;
        peer_dispatch_frame(slot, p, (size_t)fl);
        p += fl;
        left -= (size_t)fl;
    }
    outbox_batch_done(slot);
}

/* Frames from a worker whose heartbeat we have not heard yet (it heard
 * ours first and linked up): kept until its heartbeat links it here too,
 * so that what we answer it has somewhere to go; dropped if none comes
 * within DOWN_AFTER. */
#define EARLY_MAX (8u << 20)
static struct buf early[MAX_WORKERS];
static double early_since[MAX_WORKERS];

static void keep_early(int slot, const char *p, size_t len)
{
    if (!early[slot].len)
        early_since[slot] = W.now;
    if (early[slot].len + len <= EARLY_MAX)
        buf_append(&early[slot], p, len);
    else
        log_warn("cluster: frames from worker %d, not heard from yet, dropped (over %u bytes)", slot, EARLY_MAX);
}

static void dispatch_early(int slot)
{
    if (!early[slot].len)
        return;
    struct buf b = early[slot];
    buf_init(&early[slot]);
    dispatch_frames(slot, b.data, b.len);
    buf_free(&b);
}

static void expire_early(void)
{
    for (int s = 0; s < MAX_WORKERS; s++)
        if (early[s].len && W.now - early_since[s] > DOWN_AFTER) {
            log_warn("cluster: frames from worker %d dropped: no heartbeat from it", s);
            buf_free(&early[s]);
        }
}

static void handle_frames(const char *data, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, data, len);
    int slot = (int)ipc_get_u32(&r);
    ipc_get_u32(&r);                   /* its pid: the HELLO frame tells it */
    if (r.err || slot < 0 || slot >= MAX_WORKERS || slot / CLUSTER_NODE_SLOTS == my_node)
        return;
    if (!W.peers[slot].remote) {
        keep_early(slot, r.p, r.left);
        return;
    }
    dispatch_frames(slot, r.p, r.left);
}

static void on_msg(natsConnection *c, natsSubscription *sub, natsMsg *msg, void *closure)
{
    pthread_mutex_lock(&qlock);
    if (closing) {
        pthread_mutex_unlock(&qlock);
        natsMsg_Destroy(msg);
        return;
    }
    if (qlen == qcap) {
        qcap = qcap ? 2 * qcap : 256;
        queue = realloc(queue, qcap * sizeof *queue);
        PARLOR_ASSERT(queue != NULL);
    }
    queue[qlen++] = msg;
    pthread_mutex_unlock(&qlock);
    uv_async_send(&wake);
}

static void on_wake(uv_async_t *h)
{
    W.now = now_wall();
    for (;;) {
        pthread_mutex_lock(&qlock);
        natsMsg **list = queue;
        size_t n = qlen;
        queue = NULL;
        qlen = qcap = 0;
        pthread_mutex_unlock(&qlock);
        if (!n) {
            free(list);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const char *subject = natsMsg_GetSubject(list[i]);
            const char *data = natsMsg_GetData(list[i]);
            size_t len = (size_t)natsMsg_GetDataLength(list[i]);
            stats.msgs_in++;
            if (strcmp(subject, NODES_SUBJECT) == 0)
                handle_beat(data, len);
            else
                handle_frames(data, len);
            natsMsg_Destroy(list[i]);
        }
        free(list);
    }
}

/* Given so that a first connect that fails goes on in the background
 * instead of blocking (natsOptions_SetRetryOnFailedConnect); the state is
 * asked of the client when wanted (nats_state). */
static void on_connected(natsConnection *c, void *closure)
{
}

static void on_reconnected(natsConnection *c, void *closure)
{
    __atomic_add_fetch(&reconnects, 1, __ATOMIC_RELAXED);
}

/* Publish what the iteration queued for remote workers: one NATS message
 * per worker (split at NATS_MSG_MAX on frame boundaries). */
void cluster_flush(void)
{
    if (!nc)
        return;
    for (int id = 0; id < CLUSTER_MAX_NODES; id++) {
        struct node *n = &nodes[id];
        if (id == my_node || n->seen <= 0)
            continue;
        for (int i = 0; i < n->workers; i++) {
            struct peer *p = &W.peers[id * CLUSTER_NODE_SLOTS + i];
            if (!p->remote || !p->out.len)
                continue;
            char subject[96];
            snprintf(subject, sizeof subject, "parlor.w.%.31s.%d", n->name, i);
            static struct buf msg;
            size_t pos = 0;
            while (pos < p->out.len) {
                buf_clear(&msg);
                ipc_put_u32(&msg, (uint32_t)W.slot);
                ipc_put_u32(&msg, (uint32_t)W.pid);
                while (pos < p->out.len) {
                    uint8_t type;
                    const char *payload;
                    size_t plen;
                    long fl = ipc_frame_peek(p->out.data + pos, p->out.len - pos, &type, &payload, &plen);
                    if (fl <= 0) {
                        pos = p->out.len;       /* cannot happen: whole frames only */
                        break;
                    }
                    if (msg.len > 8 && msg.len + (size_t)fl > NATS_MSG_MAX)
                        break;
                    buf_append(&msg, p->out.data + pos, (size_t)fl);
                    pos += (size_t)fl;
                    stats.frames_out++;
                }
                publish(subject, msg.data, msg.len);
            }
            buf_clear(&p->out);
            buf_shrink(&p->out, 65536);
        }
    }
}

/* Our NATS connection came back (nats-server restarted, or a route was
 * lost): what nats-server held when it went is lost, so every linked
 * remote worker gets again what it has not acknowledged (requests, their
 * fences; numbered, so it handles each once) and our members of the rooms
 * it owns (its answer refreshes our mirrors). */
static void resync_after_reconnect(void)
{
    static uint64_t seen;
    uint64_t now = __atomic_load_n(&reconnects, __ATOMIC_RELAXED);
    if (now == seen)
        return;
    seen = now;
    int n = 0;
    for (int s = 0; s < MAX_WORKERS; s++) {
        if (!W.peers[s].remote)
            continue;
        outbox_resend(s);
        order_resend(s);
        chan_reannounce(s);
        n++;
    }
    log_info("cluster: NATS connection back; %d remote workers sent what they have not acknowledged", n);
}

static void on_timer(uv_timer_t *t)
{
    W.now = now_wall();
    resync_after_reconnect();
    if (beat_now || W.now - last_beat >= HEARTBEAT_EVERY) {
        beat_now = false;
        send_beat(false);
    }
    for (int id = 0; id < CLUSTER_MAX_NODES; id++) {
        struct node *n = &nodes[id];
        if (id == my_node || n->seen <= 0)
            continue;
        if (W.now - n->seen > DOWN_AFTER) {
            node_gone(id, "no heartbeat");
            continue;
        }
        for (int i = 0; i < n->workers; i++)
            if (W.now - n->w[i].seen > DOWN_AFTER)
                remote_down(id * CLUSTER_NODE_SLOTS + i, "no heartbeat");
    }
    if (deferred)
        redispatch();
    expire_early();
}

void cluster_init(void)
{
    my_node = W.slot / CLUSTER_NODE_SLOTS;
    natsLibuv_Init();
    natsLibuv_SetThreadLocalLoop(W.loop);
    uv_async_init(W.loop, &wake, on_wake);
    uv_timer_init(W.loop, &timer);
    uv_timer_start(&timer, on_timer, 250, 250);
    snprintf(my_subject, sizeof my_subject, "parlor.w.%.31s.%d", W.cfg->node_name, W.local_slot);

    natsOptions *o = NULL;
    char name[96];
    snprintf(name, sizeof name, "parlord %.31s/%d", W.cfg->node_name, W.local_slot);
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, W.cfg->cluster);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetEventLoop(o, W.loop, natsLibuv_Attach, natsLibuv_Read, natsLibuv_Write,
                                     natsLibuv_Detach);
    if (s == NATS_OK)
        s = natsOptions_SetNoEcho(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, 32 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, NULL);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nc, o);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;               /* it goes on trying by itself */
    }
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub_frames, nc, my_subject, on_msg, NULL);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub_nodes, nc, NODES_SUBJECT, on_msg, NULL);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        log_error("cluster: NATS at %s: %s; this worker stays out of the network", W.cfg->cluster,
                  natsStatus_GetText(s));
        return;
    }
    log_info("cluster: node %s (id %d), worker %d on %s", W.cfg->node_name, my_node, W.slot, my_subject);
    send_beat(false);
}

/* Last step of the close: the leaving heartbeat had its loop iterations to
 * get out (the adapter writes from the loop). */
static void close_now(uv_timer_t *t)
{
    natsSubscription_Destroy(sub_frames);
    natsSubscription_Destroy(sub_nodes);
    if (nc) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
        nc = NULL;
    }
    pthread_mutex_lock(&qlock);
    closing = true;
    for (size_t i = 0; i < qlen; i++)
        natsMsg_Destroy(queue[i]);
    free(queue);
    queue = NULL;
    qlen = qcap = 0;
    pthread_mutex_unlock(&qlock);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_close((uv_handle_t *)&wake, NULL);
}

void cluster_close(void)
{
    uv_timer_stop(&timer);
    if (nc)
        send_beat(true);               /* the others need not wait for the timeout */
    uv_timer_start(&timer, close_now, 200, 0);
}

void cluster_count_moves(unsigned rooms, unsigned nicks)
{
    stats.rooms_moved += rooms;
    stats.nicks_moved += nicks;
}

/* This worker's connection, as the NATS client says. */
static const char *nats_state(void)
{
    switch (nc ? natsConnection_Status(nc) : NATS_CONN_STATUS_CLOSED) {
    case NATS_CONN_STATUS_CONNECTED:
        return "connected";
    case NATS_CONN_STATUS_CONNECTING:
        return "connecting";
    case NATS_CONN_STATUS_RECONNECTING:
        return "reconnecting";
    default:
        return "disconnected";
    }
}

void cluster_get_stats(struct cluster_stats *s)
{
    s->nats = nats_state();
    s->msgs_in = stats.msgs_in;
    s->msgs_out = stats.msgs_out;
    s->frames_in = stats.frames_in;
    s->frames_out = stats.frames_out;
    s->publish_errors = stats.publish_errors;
    s->reconnects = __atomic_load_n(&reconnects, __ATOMIC_RELAXED);
    s->rooms_moved = stats.rooms_moved;
    s->nicks_moved = stats.nicks_moved;
    s->live_nodes = 1;
    for (int id = 0; id < CLUSTER_MAX_NODES; id++)
        s->live_nodes += id != my_node && nodes[id].seen > 0;
}

void cluster_answer_nodes(void (*rec)(void *arg, const struct cluster_node_view *n), void *arg)
{
    struct cluster_node_view v = { W.cfg->node_name, my_node, W.cfg->workers, (int)W.clients.count, "-", 0,
                                   "self", nats_state() };
    rec(arg, &v);
    for (int id = 0; id < CLUSTER_MAX_NODES; id++) {
        struct node *n = &nodes[id];
        if (id == my_node || n->seen <= 0)
            continue;
        char pids[128] = "", heard[48] = "connected";
        size_t used = 0;
        int clients = 0, recent = 0;
        for (int i = 0; i < n->workers; i++) {
            clients += n->w[i].clients;
            recent += W.now - n->w[i].seen <= 2 * HEARTBEAT_EVERY;
            int w = used < sizeof pids ? snprintf(pids + used, sizeof pids - used, "%s%d", i ? "," : "",
                                                  n->w[i].pid) : 0;
            if (w > 0)
                used += (size_t)w;
        }
        if (recent < n->workers)
            snprintf(heard, sizeof heard, "%d/%d workers heard", recent, n->workers);
        v = (struct cluster_node_view){ n->name, id, n->workers, clients, pids, W.now - n->seen, "live", heard };
        rec(arg, &v);
    }
}
