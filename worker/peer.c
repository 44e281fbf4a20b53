/* The mesh: one stream socket to every other worker (handed over by the
 * master, see master/master.c), carrying IPC frames (ipc/proto.h).
 *
 * Frames for a worker are appended to its out buffer during the loop
 * iteration and written together from the check handle (peer_flush_all), so a
 * burst of channel traffic costs one write per peer per iteration.  While a
 * worker is down (between its death and its replacement's mesh socket), frames
 * for it are kept, up to PEER_PENDING_MAX, and sent after the re-announcement
 * of our nicks and channel members. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

#define PEER_READ_CHUNK 65536

bool peer_connected(int slot)
{
    return W.peers[slot].fd >= 0 || W.peers[slot].remote;
}

struct buf *peer_buf(int slot)
{
    struct peer *p = &W.peers[slot];
    if (p->fd < 0 && W.cluster && !p->remote && !cluster_slot_live(slot))
        return NULL;                   /* no such worker in the network */
    if (p->fd < 0 && !p->remote && p->out.len > PEER_PENDING_MAX) {
        static double warned;
        if (W.now - warned > 5) {
            log_warn("worker %d is down and %u bytes are waiting for it; dropping frames",
                     slot, PEER_PENDING_MAX);
            warned = W.now;
        }
        return NULL;
    }
    return &p->out;
}

static void on_poll_closed(uv_handle_t *h)
{
    close((int)(intptr_t)h->data);
    free(h);
}

/* The link to `slot` is gone: forget what lived there. */
/* The link to `slot` is gone.  `ask_relink`: the other worker is probably
 * alive (we dropped the link over a bad frame, or a write failed), so ask
 * the master for a new pair; when the other end closed, it died (the master
 * respawns it with a new link) or it asks itself; a replaced link asks
 * nothing (asking then is how a relink loop would start). */
static void peer_down(int slot, const char *why, bool ask_relink)
{
    struct peer *p = &W.peers[slot];
    if (p->fd < 0)
        return;
    if (W.stopping)                   /* the whole server stops: expected */
        log_info("link to worker %d closed: %s", slot, why);
    else
        log_warn("lost worker %d: %s", slot, why);
    uv_poll_stop(p->poll);
    p->poll->data = (void *)(intptr_t)p->fd;
    uv_close((uv_handle_t *)p->poll, on_poll_closed);
    p->poll = NULL;
    p->fd = -1;
    peer_link_lost(slot, "Server worker restarted");
    /* A link must never stay cut: if the other worker died the master
     * respawns it with a new link anyway; if it is alive (a broken frame, a
     * write error), the master makes the pair a new socket. */
    if (ask_relink && !W.stopping)
        worker_send_master(IPC_W_RELINK, (uint32_t)(slot - (W.slot - W.local_slot)));
}

void peer_link_lost(int slot, const char *reason)
{
    struct peer *p = &W.peers[slot];
    buf_clear(&p->in);
    /* What was queued for the dead process is lost with it (a partial frame
     * must not reach its replacement); the requests among it are kept by
     * worker/outbox.c and sent again. */
    buf_clear(&p->out);
    monitor_forget_slot(slot);
    nick_forget_slot(slot);
    chan_forget_slot(slot, reason);
    lusers_forget_slot(slot);
}

static void dispatch(int slot, uint8_t type, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    switch (type) {
    case IPC_P_HELLO: {
        int s = (int)ipc_get_u32(&r);
        int pid = (int)ipc_get_u32(&r);
        uint64_t base = ipc_get_u64(&r);
        log_info("mesh link to worker %d (pid %d) up", s, pid);
        if (!r.err && s == slot)
            outbox_peer_hello(slot, pid, base);
        break;
    }
    case IPC_P_REQ:
        if (outbox_synced())
            peer_dispatch_request(slot, payload, len);
        else
            outbox_hold(slot, payload, len);
        break;
    case IPC_P_ACK: {
        uint64_t seq = ipc_get_u64(&r);
        if (!r.err)
            outbox_handle_ack(slot, seq);
        break;
    }
    case IPC_P_FWD:
        handover_handle_forwarded(payload, len);
        break;
    case IPC_P_SYNCED:
        outbox_handle_synced(slot);
        break;
    case IPC_P_NICK_CLAIM: {
        const char *nick = ipc_get_str(&r, NULL);
        const char *old = ipc_get_str(&r, NULL);
        uint64_t client = ipc_get_u64(&r);
        int from = (int)ipc_get_u32(&r);
        bool force = ipc_get_u8(&r);
        if (!r.err && from == slot)
            nick_handle_claim(nick, old, client, from, force);
        break;
    }
    case IPC_P_NICK_LOST: {
        uint64_t client = ipc_get_u64(&r);
        const char *nick = ipc_get_str(&r, NULL);
        if (!r.err)
            nick_handle_lost(client, nick);
        break;
    }
    case IPC_P_NICK_RESULT: {
        uint64_t client = ipc_get_u64(&r);
        bool ok = ipc_get_u8(&r);
        const char *nick = ipc_get_str(&r, NULL);
        if (!r.err)
            nick_handle_result(client, ok, nick);
        break;
    }
    case IPC_P_NICK_RELEASE: {
        const char *nick = ipc_get_str(&r, NULL);
        uint64_t client = ipc_get_u64(&r);
        if (!r.err)
            nick_handle_release(nick, client);
        break;
    }
    case IPC_P_TO_NICK:
        nick_handle_frame(payload, len);
        break;
    case IPC_P_RAW: {
        uint64_t client = ipc_get_u64(&r);
        size_t n;
        const char *data = ipc_get_str(&r, &n);
        struct client *c = r.err ? NULL : client_by_id(client);
        if (c)
            client_send(c, data, n);
        break;
    }
    case IPC_P_FENCE:
        order_handle_fence(slot, payload, len);
        break;
    case IPC_P_FENCE_ACK:
        order_handle_ack(payload, len);
        break;
    case IPC_P_ECHO:
        handle_echo_frame(payload, len);
        break;
    case IPC_P_CHAN_REQ:
        chan_handle_request_frame(payload, len);
        break;
    case IPC_P_WALLOPS:                /* worker/oper.c */
        oper_handle_wallops(payload, len);
        break;
    case IPC_P_GAME:                   /* worker/game.c */
        game_handle_frame(slot, payload, len);
        break;
    case IPC_P_CHAN_EVENT:
        chan_handle_event(payload, len);
        break;
    case IPC_P_CHAN_STATE:
        chan_handle_state(slot, payload, len);
        break;
    case IPC_P_ASK:                    /* worker/ask.c */
        ask_handle_request(slot, payload, len);
        break;
    case IPC_P_USER:                   /* worker/userstate.c */
        user_handle_frame(payload, len);
        break;
    case IPC_P_MONITOR:                /* worker/monitor.c */
        monitor_handle_frame(slot, payload, len);
        break;
    case IPC_P_ANSWER:
        ask_handle_answer(payload, len);
        break;
    case IPC_P_COUNTS:                 /* worker/lusers.c */
        lusers_handle_frame(slot, payload, len);
        break;
    case IPC_P_WHOWAS:                 /* worker/whowas.c */
        whowas_handle_frame(payload, len);
        break;
    case IPC_P_JOIN_DONE: {
        uint64_t client = ipc_get_u64(&r);
        const char *channel = ipc_get_str(&r, NULL);
        if (!r.err)
            chan_join_done(client, channel);
        break;
    }
    default:
        log_warn("worker %d sent unknown frame type %d", slot, type);
    }
}

static void on_peer(uv_poll_t *h, int status, int events);

static void peer_write(int slot)
{
    struct peer *p = &W.peers[slot];
    if (p->fd < 0 || p->out.len == 0)
        return;
    ssize_t n = send(p->fd, p->out.data, p->out.len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            peer_down(slot, strerror(errno), errno != EPIPE && errno != ECONNRESET);
        else
            uv_poll_start(p->poll, UV_READABLE | UV_WRITABLE, on_peer);
        return;
    }
    buf_consume(&p->out, (size_t)n);
    if (p->out.len == 0)
        buf_shrink(&p->out, 65536);
    uv_poll_start(p->poll, UV_READABLE | (p->out.len ? UV_WRITABLE : 0), on_peer);
}

static void on_peer(uv_poll_t *h, int status, int events)
{
    int slot = -1;
    for (int i = 0; i < W.nworkers; i++)
        if (W.peers[i].poll == h)
            slot = i;
    if (slot < 0)
        return;
    struct peer *p = &W.peers[slot];
    W.now = now_wall();
    if (status < 0) {
        peer_down(slot, uv_strerror(status), false);
        return;
    }
    if (events & UV_WRITABLE)
        peer_write(slot);
    if (!(events & UV_READABLE) || p->fd < 0)
        return;
    for (int rounds = 0; rounds < 8; rounds++) {
        buf_reserve(&p->in, PEER_READ_CHUNK);
        ssize_t n = recv(p->fd, p->in.data + p->in.len, PEER_READ_CHUNK, 0);
        if (n == 0) {
            peer_down(slot, "connection closed", false);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            peer_down(slot, strerror(errno), false);
            return;
        }
        p->in.len += (size_t)n;
        size_t pos = 0;
        for (;;) {
            uint8_t type;
            const char *payload;
            size_t plen;
            long fl = ipc_frame_peek(p->in.data + pos, p->in.len - pos, &type, &payload, &plen);
            if (fl == 0)
                break;
            if (fl < 0) {
                peer_down(slot, "protocol error (bad frame)", true);
                return;
            }
            dispatch(slot, type, payload, plen);
            pos += (size_t)fl;
            if (p->fd < 0)
                return;
        }
        outbox_batch_done(slot);
        buf_consume(&p->in, pos);
        if ((size_t)n < PEER_READ_CHUNK)
            break;
    }
}

void peer_attach(int slot, int fd)
{
    struct peer *p = &W.peers[slot];
    if (p->fd >= 0)
        peer_down(slot, "replaced by a new link", false);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int sz = 4 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    p->poll = malloc(sizeof *p->poll);
    PARLOR_ASSERT(p->poll != NULL);
    if (uv_poll_init(W.loop, p->poll, fd) < 0) {
        log_error("cannot watch mesh socket to worker %d", slot);
        free(p->poll);
        p->poll = NULL;
        close(fd);
        return;
    }
    p->fd = fd;
    peer_link_up(slot);
    uv_poll_start(p->poll, UV_READABLE | UV_WRITABLE, on_peer);
}

void peer_link_up(int slot)
{
    struct peer *p = &W.peers[slot];
    /* Frames kept while it was down go after the hello and re-announcement. */
    struct buf kept = p->out;
    buf_init(&p->out);
    size_t f = ipc_begin(&p->out, IPC_P_HELLO);
    ipc_put_u32(&p->out, (uint32_t)W.slot);
    ipc_put_u32(&p->out, (uint32_t)W.pid);
    ipc_put_u64(&p->out, outbox_hello_base(slot));
    ipc_end(&p->out, f);
    nick_reannounce(slot);
    chan_reannounce(slot);
    lusers_link_up(slot);
    monitor_reannounce(slot);
    f = ipc_begin(&p->out, IPC_P_SYNCED);
    ipc_end(&p->out, f);
    outbox_link_up(slot);
    outbox_resend(slot);
    order_resend(slot);
    buf_append(&p->out, kept.data, kept.len);
    buf_free(&kept);
}

void peer_flush_all(void)
{
    for (int i = 0; i < W.nworkers; i++)
        if (i != W.slot && W.peers[i].fd >= 0 && W.peers[i].out.len)
            peer_write(i);
    if (W.cluster)
        cluster_flush();               /* frames for other nodes' workers */
}

void peer_close_all(void)
{
    for (int i = 0; i < W.nworkers; i++) {
        struct peer *p = &W.peers[i];
        if (p->fd < 0)
            continue;
        uv_poll_stop(p->poll);
        p->poll->data = (void *)(intptr_t)p->fd;
        uv_close((uv_handle_t *)p->poll, on_poll_closed);
        p->poll = NULL;
        p->fd = -1;
        buf_free(&p->in);
        buf_free(&p->out);
    }
}

void peer_dispatch_frame(int slot, const char *frame, size_t len)
{
    uint8_t type;
    const char *payload;
    size_t plen;
    if (ipc_frame_peek(frame, len, &type, &payload, &plen) > 0)
        dispatch(slot, type, payload, plen);
}

void peer_dispatch_request(int slot, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint64_t seq = ipc_get_u64(&r);
    uint64_t origin = ipc_get_u64(&r);
    uint64_t mseq = ipc_get_u64(&r);
    const char *target = ipc_get_str(&r, NULL);
    size_t n;
    const char *frame = ipc_get_str(&r, &n);
    if (r.err) {
        log_warn("malformed request from worker %d", slot);
        return;
    }
    /* A request handled before (sent again over a new link to this same
     * process) is only acknowledged again; one for a name that moved on
     * is passed on (worker/handover.c). */
    if (!outbox_is_new(slot, seq)) {
        outbox_handled(slot, seq);     /* a repeat: acknowledged again */
        return;
    }
    if (W.cluster && handover_forward(slot, seq, origin, mseq, target, frame, n))
        return;                        /* acknowledged when the owner acknowledges it */
    struct current_req outer = W.req;
    W.req.slot = slot;
    W.req.seq = origin;
    W.req.mseq = mseq;
    W.req.forwarded = false;
    peer_dispatch_frame(slot, frame, n);
    W.req = outer;
    outbox_handled(slot, seq);
}
