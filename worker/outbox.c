/* Requests to other workers survive their death (issue 15).
 *
 * A request is what this worker asks of the owner of a room or a nick on
 * behalf of one of its clients (JOIN, PRIVMSG, MODE, a nick claim, a private
 * message on its way to the nick's owner...).  Each one is numbered, kept
 * here and sent wrapped in an IPC_P_REQ frame.  The owner answers with
 * IPC_P_ACK(n) once it has handled every request up to n *and* everything
 * they stored is durable (a store barrier), so an acknowledged request can
 * never be lost with its owner.
 *
 * When the owner dies, what it had not acknowledged is kept, with whatever
 * is asked of it meanwhile, in order.  Its replacement first hears from
 * every survivor (their members and nicks, then IPC_P_SYNCED) and only then
 * handles requests; each survivor then sends it its kept requests again.  A
 * request the dead owner had handled but not acknowledged therefore comes
 * twice; the second copy does no harm: a message keeps the msgid its
 * sender's worker gave it (stored once: msgid is unique; delivered once:
 * mirrors and recipients drop an msgid they have just seen; echoed once:
 * the echo of a kept request is passed on only the first time), a JOIN of a
 * member or a claim of a nick already held is answered as a no-op.
 *
 * If the owner does not come back within --owner-timeout seconds, its kept
 * requests are answered with FAIL <command> TEMPORARILY_UNAVAILABLE and
 * dropped: nothing of them is stored or delivered later.  (A request the
 * owner handled and stored in the instant before it died, without its
 * acknowledgement getting out, is the one case where a FAIL can be wrong;
 * its echo would then have been sent already.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/recent.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

/* Owned by its slot's box; freed when acknowledged or failed. */
struct entry {
    uint64_t seq;                  /* its number in its box (acknowledgements) */
    uint64_t origin;               /* its number among all our requests: a room's
                                      owner drops a repeat by it (channel.c) */
    uint64_t client;               /* who asked; 0: nobody to tell */
    char command[16];              /* for FAIL; "" for internal requests */
    char target[IRC_CHANNEL_MAX + 1];
    char msgid[17];                /* "" or the message's id */
    uint64_t mseq;                 /* its number, once the owner gave it one */
    int via;                       /* passed on for worker `via` (handover.c), -1: ours; */
    int via_pid;                   /* its request via_seq is acknowledged to it */
    uint64_t via_seq;              /* when this one is (or was given up) */
    bool echoed;
    double queued;
    struct buf frame;              /* the request frame, unwrapped */
    struct entry *next;
};

struct box {
    struct entry *head, *tail;
    size_t count;
    uint64_t next_seq;             /* requests to one worker are numbered 1, 2, 3... */
    double resent;                 /* cluster: when its requests were last sent again */
};

static struct box boxes[MAX_WORKERS];
static struct hmap by_msgid;       /* msgid -> entry, for echo de-duplication */
static uint64_t next_origin;

/* Receiving side: from each worker process, every request up to handled[]
 * is handled (numbers start again when that worker is a new process), and
 * those above it that were (a NATS frame lost in a nats-server restart
 * leaves a hole that the sender fills when it sends its unacknowledged
 * requests again) are marked in a window of WINDOW numbers; a generation
 * per link so an acknowledgement never goes to a newer link. */
#define WINDOW 4096
static uint64_t handled[MAX_WORKERS];
static uint64_t above[MAX_WORKERS][WINDOW / 64];
static int handled_pid[MAX_WORKERS];
static uint64_t link_gen[MAX_WORKERS];

/* Requests that came before every survivor had re-announced (held). */
struct held {
    int slot;
    bool whole;                    /* a whole frame, not an IPC_P_REQ payload */
    struct buf frame;
    struct held *next;
};
static struct held *held_head, **held_tail = &held_head;
static bool synced;
static bool synced_from[MAX_WORKERS];
static double started;
#define SYNC_WAIT 2.0              /* seconds to wait for a worker that never links */
/* Cluster: a new worker first listens this long, so that it has heard every
 * live node's heartbeat (once a second) before it believes it owns a name. */
#define CLUSTER_SETTLE 1.5

static void hold(int slot, bool whole, const char *frame, size_t len);
static void dispatch_held(void);

void outbox_init(void)
{
    hmap_init(&by_msgid);
    started = W.now;
    synced = W.nworkers == 1;
}

bool outbox_synced(void)
{
    return synced;
}

static void wrap(struct buf *b, const struct entry *e)
{
    size_t f = ipc_begin(b, IPC_P_REQ);
    ipc_put_u64(b, e->seq);
    ipc_put_u64(b, e->origin);
    ipc_put_u64(b, e->mseq);
    ipc_put_cstr(b, W.cluster ? e->target : "");   /* only a cluster passes requests on */
    ipc_put_str(b, e->frame.data, e->frame.len);
    ipc_end(b, f);
}

static struct entry *add_request(int slot, const struct buf *frame, uint64_t client, const char *command,
                                 const char *target, const char *msgid)
{
    struct entry *e = calloc(1, sizeof *e);
    PARLOR_ASSERT(e != NULL);
    e->via = -1;
    e->seq = ++boxes[slot].next_seq;
    e->origin = ++next_origin;
    e->client = client;
    snprintf(e->command, sizeof e->command, "%s", command ? command : "");
    utf8_copy(e->target, sizeof e->target, target ? target : "");
    snprintf(e->msgid, sizeof e->msgid, "%s", msgid ? msgid : "");
    e->queued = W.now;
    buf_append(&e->frame, frame->data, frame->len);
    struct box *bx = &boxes[slot];
    if (bx->tail)
        bx->tail->next = e;
    else
        bx->head = e;
    bx->tail = e;
    bx->count++;
    if (e->msgid[0])
        hmap_put_name(&by_msgid, e->msgid, e);
    if (peer_connected(slot)) {
        struct buf *b = peer_buf(slot);
        if (b)
            wrap(b, e);
    }
    return e;
}

void outbox_request(int slot, const struct buf *frame, uint64_t client, const char *command,
                    const char *target, const char *msgid)
{
    add_request(slot, frame, client, command, target, msgid);
}

/* A request from worker `via` (its number via_seq) that we pass on to the
 * owner `slot` (worker/handover.c): acknowledged to `via` only when the
 * owner acknowledged it to us, so it is never lost with us. */
void outbox_pass_on(int slot, const struct buf *frame, const char *target, int via, uint64_t via_seq)
{
    struct entry *e = add_request(slot, frame, 0, "", target, NULL);
    e->via = via;
    e->via_pid = handled_pid[via];
    e->via_seq = via_seq;
}

static void via_done(const struct entry *e)
{
    if (e->via < 0 || handled_pid[e->via] != e->via_pid)
        return;                        /* ours, or its sender is another process now */
    outbox_handled(e->via, e->via_seq);
    outbox_batch_done(e->via);
}

static void entry_free(struct entry *e)
{
    if (e->msgid[0] && hmap_get_name(&by_msgid, e->msgid) == e)
        hmap_del_name(&by_msgid, e->msgid);
    buf_free(&e->frame);
    free(e);
}

void outbox_handle_ack(int slot, uint64_t seq)
{
    struct box *bx = &boxes[slot];
    while (bx->head && bx->head->seq <= seq) {
        struct entry *e = bx->head;
        bx->head = e->next;
        if (!bx->head)
            bx->tail = NULL;
        bx->count--;
        via_done(e);
        entry_free(e);
    }
}

/* A new link to `slot` (its replacement): what it has not acknowledged goes
 * again, in order, after our re-announcement and IPC_P_SYNCED. */
void outbox_resend(int slot)
{
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t n = 0;
    for (struct entry *e = boxes[slot].head; e; e = e->next, n++)
        wrap(b, e);
    if (n)
        log_info("worker %d is back: %zu requests sent again", slot, n);
}

/* Cluster: `slot` left the owner function with its node (cluster.c
 * node_gone, after the rooms and nicks it owned were re-announced to their
 * new owners).  What it had not acknowledged goes to the new owner of each
 * request's target, in order, renumbered at the end of that owner's box:
 * the owner that died may have handled some of it, so the repeat rules
 * above apply. */
void outbox_reroute(int slot)
{
    struct box *bx = &boxes[slot];
    struct entry *list = bx->head;
    size_t n = bx->count;
    bx->head = bx->tail = NULL;
    bx->count = 0;
    while (list) {
        struct entry *e = list;
        list = e->next;
        e->next = NULL;
        if (!handover_is_forward(e->frame.data, e->frame.len)) {
            struct buf fwd = BUF_INIT;     /* keeps its first number: see handover.c */
            handover_wrap(&fwd, W.slot, e->origin, e->mseq, 0, true, e->target, e->frame.data, e->frame.len);
            buf_free(&e->frame);
            e->frame = fwd;
        }
        int owner = owner_of(e->target);
        e->seq = ++boxes[owner].next_seq;
        if (owner == W.slot) {         /* ours now: handled here, as held */
            hold(W.slot, true, e->frame.data, e->frame.len);
            via_done(e);
            entry_free(e);
            continue;
        }
        struct box *to = &boxes[owner];
        if (to->tail)
            to->tail->next = e;
        else
            to->head = e;
        to->tail = e;
        to->count++;
        if (peer_connected(owner)) {
            struct buf *b = peer_buf(owner);
            if (b)
                wrap(b, e);
        }
    }
    if (n)
        log_info("cluster: %zu requests kept for worker %d sent to the new owners", n, slot);
    if (synced)
        dispatch_held();
}

/* An echo that comes again: its request was sent again to a new owner.
 * Told by the kept request, or, when that request was acknowledged before
 * the new owner's echo came (an acknowledgement can outrun the echo of a
 * request the new owner held while it loaded the room), by the echoes
 * passed on lately. */
bool outbox_echo_is_duplicate(const char *msgid)
{
    static struct recent_ids echoed;
    struct entry *e = msgid[0] ? hmap_get_name(&by_msgid, msgid) : NULL;
    if (e && e->echoed)
        return true;
    if (e)
        e->echoed = true;
    return recent_seen(&echoed, msgid);
}

void outbox_note_mseq(const char *msgid, uint64_t mseq)
{
    struct entry *e = msgid[0] ? hmap_get_name(&by_msgid, msgid) : NULL;
    if (e)
        e->mseq = mseq;
}

/* Answer and drop every kept request for `slot`: its owner is not back. */
static void fail_all(int slot)
{
    /* Detached first: telling a client may resume its input, and what it
     * asks next starts a new wait of its own. */
    struct box *bx = &boxes[slot];
    size_t told = 0, n = bx->count;
    struct entry *list = bx->head;
    bx->head = bx->tail = NULL;
    bx->count = 0;
    while (list) {
        struct entry *e = list;
        list = e->next;
        struct client *c = e->client ? client_by_id(e->client) : NULL;
        if (c && !c->closing && e->command[0]) {
            client_sendf(c, ":%s FAIL %s TEMPORARILY_UNAVAILABLE %s :%s is not available right now; "
                         "this %s was not carried out\r\n", W.cfg->server_name, e->command,
                         e->target[0] ? e->target : "*", e->target[0] ? e->target : "The server",
                         e->command);
            if (strcmp(e->command, "JOIN") == 0)
                client_pjoin_del(c, e->target);
            if (strcmp(e->command, "NICK") == 0 && c->blocked)
                client_unblock(c);
            told++;
        }
        via_done(e);
        entry_free(e);
    }
    log_warn("worker %d did not come back within %d s: %zu requests answered with FAIL (%zu clients told)",
             slot, W.cfg->owner_timeout, n, told);
    order_fail_slot(slot);             /* their fences are not answered either */
}

static void dispatch_held(void)
{
    while (held_head) {
        struct held *h = held_head;
        held_head = h->next;
        if (!held_head)
            held_tail = &held_head;
        if (h->slot == W.slot || h->whole) {
            peer_dispatch_frame(h->slot, h->frame.data, h->frame.len);
        } else {
            peer_dispatch_request(h->slot, h->frame.data, h->frame.len);
            outbox_batch_done(h->slot);
        }
        buf_free(&h->frame);
        free(h);
    }
}

static void check_synced(void)
{
    if (synced)
        return;
    if (W.cluster && W.now - started < CLUSTER_SETTLE)
        return;
    bool all = true;
    for (int s = 0; s < W.nworkers; s++)
        if (s != W.slot && !synced_from[s] && (!W.cluster || cluster_slot_live(s)))
            all = false;
    if (!all && W.now - started < SYNC_WAIT)
        return;
    synced = true;
    if (!all)
        log_warn("not every worker re-announced within %.0f s; going on", SYNC_WAIT);
    dispatch_held();
    monitor_synced();
    if (W.cluster) {
        client_resume_all();           /* their input waited for the settle */
        game_network_heard();
    }
}

void outbox_handle_synced(int slot)
{
    synced_from[slot] = true;
    check_synced();
}

static void hold(int slot, bool whole, const char *frame, size_t len)
{
    struct held *h = calloc(1, sizeof *h);
    PARLOR_ASSERT(h != NULL);
    h->slot = slot;
    h->whole = whole;
    buf_append(&h->frame, frame, len);
    *held_tail = h;
    held_tail = &h->next;
}

void outbox_hold(int slot, const char *frame, size_t len)
{
    hold(slot, false, frame, len);
}

void outbox_hold_frame(int slot, const char *frame, size_t len)
{
    hold(slot, true, frame, len);
}

/* Cluster: how long a request to another node's worker may go without an
 * acknowledgement before what is unacknowledged is sent again (a NATS
 * message can be lost when nats-server restarts). */
#define RESEND_AFTER 3.0

void outbox_tick(double now)
{
    check_synced();
    for (int s = 0; s < W.nworkers; s++) {
        struct box *bx = &boxes[s];
        if (bx->head && !peer_connected(s) && now - bx->head->queued > W.cfg->owner_timeout)
            fail_all(s);
        else if (bx->head && W.peers[s].remote && now - bx->head->queued > RESEND_AFTER &&
                 now - bx->resent > RESEND_AFTER) {
            bx->resent = now;
            outbox_resend(s);
        }
    }
}

/* ---- the receiving side ----
 *
 * An acknowledgement waits for a store barrier (everything stored so far is
 * durable).  At most one barrier per link is out at a time: what is handled
 * while it is out is acknowledged by the next one, so a stream of requests
 * costs one barrier per round trip to PostgreSQL, not one per read. */

static bool barrier_out[MAX_WORKERS];
static bool ack_wanted[MAX_WORKERS];

struct ack_arg {
    int slot;
    uint64_t gen, seq;
    bool again;                    /* the second barrier (on_durable) */
};

static void start_barrier(int slot);

static void on_durable(void *arg)
{
    struct ack_arg *a = arg;
    /* A request held while its room was loading is handled when the load
     * answers, just before this barrier: its message is queued, not yet
     * durable.  One more barrier covers it. */
    if (!a->again && store_pending()) {
        a->again = true;
        store_barrier(on_durable, a);
        return;
    }
    int slot = a->slot;
    if (a->gen == link_gen[slot] && peer_connected(slot)) {
        struct buf *b = peer_buf(slot);
        if (b) {
            size_t f = ipc_begin(b, IPC_P_ACK);
            ipc_put_u64(b, a->seq);
            ipc_end(b, f);
        }
    }
    free(a);
    barrier_out[slot] = false;
    if (ack_wanted[slot])
        start_barrier(slot);
}

static void start_barrier(int slot)
{
    struct ack_arg *a = malloc(sizeof *a);
    PARLOR_ASSERT(a != NULL);
    a->slot = slot;
    a->gen = link_gen[slot];
    a->seq = handled[slot];
    a->again = false;
    barrier_out[slot] = true;
    ack_wanted[slot] = false;
    store_barrier(on_durable, a);
}

void outbox_link_up(int slot)
{
    link_gen[slot]++;
}

static bool above_get(int slot, uint64_t seq)
{
    return above[slot][(seq % WINDOW) / 64] >> (seq % 64) & 1;
}

static void above_put(int slot, uint64_t seq, bool on)
{
    uint64_t bit = 1ull << (seq % 64);
    if (on)
        above[slot][(seq % WINDOW) / 64] |= bit;
    else
        above[slot][(seq % WINDOW) / 64] &= ~bit;
}

/* Everything up to `seq` from `slot` counts as handled. */
static void handled_to(int slot, uint64_t seq)
{
    if (seq - handled[slot] >= WINDOW)
        memset(above[slot], 0, sizeof above[slot]);
    else
        for (uint64_t s = handled[slot] + 1; s <= seq; s++)
            above_put(slot, s, false);
    handled[slot] = seq;
}

/* `base`: the sender's number before its first request still unacknowledged
 * (it may have given up older ones: outbox_tick FAIL). */
void outbox_peer_hello(int slot, int pid, uint64_t base)
{
    if (handled_pid[slot] != pid) {
        handled_pid[slot] = pid;
        handled[slot] = 0;
        memset(above[slot], 0, sizeof above[slot]);
    }
    if (base > handled[slot])
        handled_to(slot, base);
}

uint64_t outbox_hello_base(int slot)
{
    const struct box *bx = &boxes[slot];
    return bx->head ? bx->head->seq - 1 : bx->next_seq;
}

bool outbox_is_new(int slot, uint64_t seq)
{
    return seq > handled[slot] && !(seq - handled[slot] < WINDOW && above_get(slot, seq));
}

void outbox_handled(int slot, uint64_t seq)
{
    ack_wanted[slot] = true;       /* a repeat too: the sender must forget it */
    if (seq <= handled[slot])
        return;
    if (seq - handled[slot] >= WINDOW) {
        log_warn("requests %llu..%llu from worker %d never came; going on",
                 (unsigned long long)handled[slot] + 1, (unsigned long long)seq - 1, slot);
        handled_to(slot, seq);
        return;
    }
    above_put(slot, seq, true);
    while (above_get(slot, handled[slot] + 1)) {
        above_put(slot, handled[slot] + 1, false);
        handled[slot]++;
    }
}

/* After a batch of frames from `slot`: acknowledge what was handled once
 * what it stored is durable. */
void outbox_batch_done(int slot)
{
    if (ack_wanted[slot] && !barrier_out[slot])
        start_barrier(slot);
}
