/* Names that change owner in a running network (cluster only; README
 * "Cluster over NATS", "Ownership moves").
 *
 * When a node joins, rendezvous hashing gives some rooms and nicks to its
 * workers.  Every worker hears the new node's heartbeat at about the same
 * moment (one NATS message to all) and from then on routes by the new
 * owner function; a room's old owner hands it over:
 *
 *   - handover_node_joined(): an owned room that now belongs to a new
 *     worker stops being owned here (it stays as a mirror if it has local
 *     members, else it goes) and its settings, numbers and our members are
 *     re-announced to the new owner; nick registry entries owned elsewhere
 *     now are dropped (their holders' workers claim them again at the new
 *     owner when its link comes up: peer_link_up).  The new owner holds
 *     every request until each live worker said IPC_P_SYNCED after its
 *     re-announcement (outbox.c), so it starts from the whole room.
 *
 *   - handover_forward(): a request that still reaches the old owner
 *     (sent a moment before its sender heard the new node) is passed on to
 *     the new owner inside an IPC_P_FWD frame that keeps the sender's
 *     origin (slot, request number, message number); in a cluster every
 *     relayed message is also told from a repeat by its msgid (channel.c).  The forwarder
 *     acknowledges it to the sender only once the owner acknowledged it
 *     (outbox_pass_on), so it is never lost with the forwarder.  A forwarded message may
 *     arrive after a later message of the same sender that went straight
 *     to the new owner, so the owner's per-sender duplicate check
 *     (channel.c, origin numbers) is replaced for it by a check on its
 *     msgid (ORIGIN_FORWARDED).
 *
 * When a node goes, cluster.c node_gone() moves its rooms and nicks to the
 * survivors and outbox_reroute() sends the requests kept for its workers
 * to the new owners, each in an IPC_P_FWD marked in order: it keeps its
 * first number (origin), so a message the dead owner had already passed
 * on is dropped as a repeat by the usual per-sender check, and nothing of
 * the same sender can overtake it (its later requests for the room queue
 * behind it in the same box). */
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

#define MAX_HOPS 4     /* views that disagree for a moment: stop bouncing */

static uint64_t forwarded;

uint64_t handover_forwarded_count(void)
{
    return forwarded;
}

void handover_wrap(struct buf *out, int origin, uint64_t oseq, uint64_t mseq, int hops, bool in_order,
                   const char *target, const char *frame, size_t len)
{
    size_t f = ipc_begin(out, IPC_P_FWD);
    ipc_put_u32(out, (uint32_t)origin);
    ipc_put_u64(out, oseq);
    ipc_put_u64(out, mseq);
    ipc_put_u8(out, (uint8_t)hops);
    ipc_put_u8(out, in_order);
    ipc_put_cstr(out, target);
    ipc_put_str(out, frame, len);
    ipc_end(out, f);
}

struct fwd {
    int origin;
    uint64_t oseq, mseq;
    int hops;
    bool in_order;
    const char *frame;
    size_t len;
};

static bool fwd_parse(const char *payload, size_t plen, struct fwd *w)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, plen);
    w->origin = (int)ipc_get_u32(&r);
    w->oseq = ipc_get_u64(&r);
    w->mseq = ipc_get_u64(&r);
    w->hops = ipc_get_u8(&r);
    w->in_order = ipc_get_u8(&r);
    ipc_get_str(&r, NULL);
    w->frame = ipc_get_str(&r, &w->len);
    return !r.err && w->origin >= 0 && w->origin < MAX_WORKERS;
}

bool handover_is_forward(const char *frame, size_t len)
{
    uint8_t type;
    const char *payload;
    size_t plen;
    return ipc_frame_peek(frame, len, &type, &payload, &plen) > 0 && type == IPC_P_FWD;
}

/* The request `frame` from `slot` (its number `seq` to us, `origin` among
 * its requests) is for `target`: if we do not own that name, pass it on and
 * return true; it is acknowledged to `slot` when the owner acknowledged it
 * (outbox_pass_on). */
bool handover_forward(int slot, uint64_t seq, uint64_t origin, uint64_t mseq, const char *target,
                      const char *frame, size_t len)
{
    if (!target[0])
        return false;
    int owner = owner_of(target);
    if (owner == W.slot)
        return false;
    struct fwd w = { slot, origin, mseq, 0, false, frame, len };
    uint8_t type;
    const char *payload;
    size_t plen;
    if (ipc_frame_peek(frame, len, &type, &payload, &plen) > 0 && type == IPC_P_FWD &&
        !fwd_parse(payload, plen, &w))
        return false;                  /* already passed on once: keep its first origin */
    if (w.hops >= MAX_HOPS) {
        log_warn("cluster: request for %s bounced %d times; handled here", target, w.hops);
        return false;
    }
    struct buf b = BUF_INIT;
    /* Passed on by a former owner: it may overtake nothing of its own
     * sender's any more, so it is told apart from a repeat by msgid. */
    handover_wrap(&b, w.origin, w.oseq, w.mseq, w.hops + 1, false, target, w.frame, w.len);
    outbox_pass_on(owner, &b, target, slot, seq);
    buf_free(&b);
    forwarded++;
    if (forwarded % 1000 == 1)
        log_info("cluster: request for %s passed on to worker %d, its owner now (%llu so far)", target, owner,
                 (unsigned long long)forwarded);
    return true;
}

/* An IPC_P_FWD that reached the owner (peer.c checked it is ours): handle
 * the request as its first sender's. */
void handover_handle_forwarded(const char *payload, size_t len)
{
    struct fwd w;
    if (!fwd_parse(payload, len, &w)) {
        log_warn("malformed forwarded request");
        return;
    }
    log_debug("cluster: forwarded request from worker %d (number %llu, %s)", w.origin,
              (unsigned long long)w.oseq, w.in_order ? "in order" : "passed on");
    struct current_req outer = W.req;
    W.req.slot = w.origin;
    W.req.seq = w.oseq;
    W.req.mseq = w.mseq;
    W.req.forwarded = !w.in_order;
    peer_dispatch_frame(w.origin, w.frame, w.len);
    W.req = outer;
}

/* A node joined: hand over what its workers now own. */
void handover_node_joined(void)
{
    unsigned rooms = chan_hand_over_moved();
    unsigned nicks = nick_forget_moved();
    game_rooms_moved();
    if (rooms || nicks)
        log_info("cluster: %u rooms and %u nick entries handed over to the new node", rooms, nicks);
    cluster_count_moves(rooms, nicks);
}
