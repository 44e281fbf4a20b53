/* The worker process: one libuv loop that owns its clients and talks to the
 * master (client sockets in, counts out) and to the other workers (mesh).
 *
 * Per loop iteration: reads are handled as they come (lines parsed and
 * executed, output appended to client and peer buffers); the check handle
 * then flushes every dirty client and every peer buffer once, so one write(2)
 * carries everything a socket got in that iteration. */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

struct worker W;
/* Our copy of the settings: W.cfg points here, and a reload replaces it. */
static struct parlor_config config;
/* For the master (IPC_W_CLOSED): the addresses of clients gone since the
 * last report, each NUL-terminated (their count is W.closed_unreported,
 * kept where clients are freed), and the handovers that lost the socket. */
static struct buf gone_ips;
static uint32_t handovers_lost;
#define GONE_PER_FRAME 256

double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 64 KiB, far below IPC_FRAME_MAX whatever the room or server size.  The
 * integration tests lower it (PARLOR_TEST_FRAME_BUDGET) so that splitting
 * happens with a few dozen rooms. */
size_t frame_budget(void)
{
    static size_t budget;
    if (!budget) {
        const char *e = getenv("PARLOR_TEST_FRAME_BUDGET");
        budget = e && atoi(e) > 0 ? (size_t)atoi(e) : 64u * 1024;
    }
    return budget;
}

int owner_of(const char *name)
{
    uint64_t h = irc_casehash(name, strlen(name));
    if (W.cluster)
        return cluster_owner(h);
    return (int)(h % (uint64_t)W.nworkers);
}

void worker_mark_dirty(struct client *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = W.dirty;
    W.dirty = c;
}

/* Send the frame in b to the master; 0 or -errno (-EAGAIN: its queue is
 * full, try again later). */
static int send_frame(struct buf *b)
{
    int r = ipc_send_fd(W.master_fd, b->data, b->len, -1);
    if (r < 0 && r != -EAGAIN)
        log_debug("master channel: %s", strerror(-r));
    buf_free(b);
    return r;
}

static int send_master(uint8_t type, uint32_t value)
{
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, type);
    ipc_put_u32(&b, value);
    ipc_end(&b, f);
    return send_frame(&b);
}

void worker_client_gone(const char *ip)
{
    buf_append(&gone_ips, ip, strlen(ip) + 1);
}

/* Tell the master which clients are gone, so its counts (per worker, per
 * address) come back down.  What cannot be sent now (the channel is full)
 * stays for the next loop iteration: a lost report would shrink the
 * server's capacity for good. */
static void report_closed(void)
{
    while (W.closed_unreported || gone_ips.len) {
        struct buf b = BUF_INIT;
        size_t f = ipc_begin(&b, IPC_W_CLOSED);
        ipc_put_u32(&b, W.closed_unreported);
        size_t used = 0;
        for (int n = 0; n < GONE_PER_FRAME && used < gone_ips.len; n++) {
            size_t len = strlen(gone_ips.data + used);
            ipc_put_str(&b, gone_ips.data + used, len);
            used += len + 1;
        }
        ipc_end(&b, f);
        if (send_frame(&b) < 0)
            return;
        W.closed_unreported = 0;
        buf_consume(&gone_ips, used);
    }
    if (handovers_lost && send_master(IPC_W_NOFD, handovers_lost) == 0)
        handovers_lost = 0;
}

/* Flush everything queued this iteration. */
void worker_on_check(uv_check_t *h)
{
    W.now = now_wall();
    order_run_resumed();               /* input held behind a command goes on */
    while (W.dirty) {
        struct client *c = W.dirty;
        W.dirty = c->next_dirty;
        c->dirty = false;
        client_flush(c);
    }
    store_flush();
    lusers_flush();
    peer_flush_all();
    report_closed();
    worker_check_stop();
}

static void on_tick(uv_timer_t *t)
{
    W.now = now_wall();
    client_tick(W.now);
    outbox_tick(W.now);
    order_tick(W.now);
    ask_tick(W.now);
}

static void begin_stop(const char *reason)
{
    if (W.stopping)
        return;
    W.stopping = true;
    log_info("stopping: %s", reason);
    uv_poll_stop(&W.master_poll);
    struct hmap_iter it;
    /* Lines already read but held back by flood control are handled first:
     * the client sent them before we said we were stopping. */
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        c->throttled = false;
        client_process_input(c);
    }
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
        client_close(e->value, reason);
}

/* Once stopping and every client is gone, close the rest and let the loop end. */
void worker_check_stop(void)
{
    static bool closed;
    if (!W.stopping || closed || W.clients.count > 0)
        return;
    closed = true;
    game_close();                  /* worker/game.c: its timers */
    store_close();
    peer_flush_all();
    peer_close_all();
    if (W.cluster)
        cluster_close();
    uv_close((uv_handle_t *)&W.master_poll, NULL);
    uv_close((uv_handle_t *)&W.flush_check, NULL);
    uv_close((uv_handle_t *)&W.tick, NULL);
    uv_close((uv_handle_t *)&W.sigterm, NULL);
}

static void on_master(uv_poll_t *h, int status, int events)
{
    /* Room for the largest frame: IPC_M_CONFIG carries the whole struct
     * parlor_config (about 11 KB with its [oper] blocks). */
    static char data[1 << 16];
    _Static_assert(sizeof(struct parlor_config) + 1024 < sizeof data, "master frame buffer");
    W.now = now_wall();
    for (;;) {
        int fd;
        long n = ipc_recv_fd(W.master_fd, data, sizeof data, &fd);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            begin_stop("master went away");
            return;
        }
        uint8_t type;
        const char *payload;
        size_t plen;
        if (ipc_frame_peek(data, (size_t)n, &type, &payload, &plen) <= 0) {
            log_warn("malformed frame from master");
            if (fd >= 0)
                close(fd);
            continue;
        }
        struct ipc_reader r;
        ipc_reader_init(&r, payload, plen);
        switch (type) {
        case IPC_M_CLIENT: {
            /* The master counted this client (and its address) when it
             * sent the frame: whatever happens to it here, it is reported
             * closed unless client_accept() took it. */
            const char *ip = ipc_get_str(&r, NULL);
            int port = (int)ipc_get_u32(&r);
            bool tls = ipc_get_u8(&r) != 0;
            if (r.err) {
                log_warn("malformed client frame from master");
                W.closed_unreported++;
                break;
            }
            if (fd < 0) {
                /* recvmsg() could not install the descriptor (MSG_CTRUNC:
                 * we are at RLIMIT_NOFILE); the connection is gone.  The
                 * master logs it, once in a while, and rests us. */
                log_debug("client %s:%d: its socket did not arrive (at the descriptor limit?)", ip, port);
                W.closed_unreported++;
                worker_client_gone(ip);
                handovers_lost++;
                break;
            }
            if (W.stopping) {
                W.closed_unreported++;
                worker_client_gone(ip);
                break;
            }
            int before = W.nclients;
            client_accept(fd, ip, port, tls);
            fd = -1;
            if (W.nclients == before)       /* refused at once; freed already */
                worker_client_gone(ip);
            break;
        }
        case IPC_M_PEER: {
            int slot = (int)ipc_get_u32(&r) + (W.slot - W.local_slot);   /* ours: cluster.c */
            if (fd < 0 || r.err || slot < 0 || slot >= W.nworkers || slot == W.slot) {
                log_warn("bad peer frame from master");
                break;
            }
            peer_attach(slot, fd);
            fd = -1;
            break;
        }
        case IPC_M_QUERY: {
            uint32_t qid = ipc_get_u32(&r);
            int what = ipc_get_u8(&r);
            const char *a1 = ipc_get_str(&r, NULL);
            const char *a2 = ipc_get_str(&r, NULL);
            if (!r.err)
                admin_query(qid, what, a1, a2);
            break;
        }
        case IPC_M_CONFIG: {
            size_t size;
            const char *bytes = ipc_get_str(&r, &size);
            if (r.err || size != sizeof config) {
                log_warn("configuration from master has the wrong size");
                break;
            }
            memcpy(&config, bytes, sizeof config);
            log_set_level((enum log_level)config.log_level);
            log_info("configuration reloaded");
            break;
        }
        case IPC_M_TLS:
            client_tls_handle_material(payload, plen);
            break;
        case IPC_M_BANS:
            account_bans_handle(payload, plen);
            break;
        case IPC_M_SHUTDOWN:
            begin_stop(ipc_get_str(&r, NULL));
            break;
        default:
            log_warn("unknown frame type %d from master", type);
        }
        if (fd >= 0)
            close(fd);
    }
}

static void on_sigterm(uv_signal_t *h, int sig)
{
    begin_stop("Server shutting down");
}

void worker_tables_init(void)
{
    for (int i = 0; i < MAX_WORKERS; i++)
        W.peers[i].fd = -1;
    hmap_init(&W.clients);
    hmap_init(&W.nicks);
    hmap_init(&W.nick_owner);
    hmap_init(&W.channels);
    hmap_init(&W.asks);
}

int worker_main(const struct parlor_config *cfg, int slot, int nworkers, int master_fd)
{
    memset(&W, 0, sizeof W);
    config = *cfg;
    W.cfg = &config;
    W.slot = W.local_slot = slot;
    W.nworkers = nworkers;
    if (cfg->cluster[0]) {             /* worker/cluster.c: slots of the network */
        W.cluster = true;
        W.slot = cfg->node_id * CLUSTER_NODE_SLOTS + slot;
        W.nworkers = MAX_WORKERS;
    }
    W.pid = getpid();
    W.master_fd = master_fd;
    W.now = now_wall();
    signal(SIGPIPE, SIG_IGN);
    fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
    worker_tables_init();

    W.loop = uv_default_loop();
    uv_poll_init(W.loop, &W.master_poll, master_fd);
    uv_poll_start(&W.master_poll, UV_READABLE, on_master);
    uv_check_init(W.loop, &W.flush_check);
    uv_check_start(&W.flush_check, worker_on_check);
    uv_timer_init(W.loop, &W.tick);
    uv_timer_start(&W.tick, on_tick, 100, 100);
    uv_signal_init(W.loop, &W.sigterm);
    uv_signal_start(&W.sigterm, on_sigterm, SIGTERM);

    char spool[512];
    config_spool_dir(&config, spool, sizeof spool);
    store_init(config.database, spool);
    game_init();                   /* worker/game.c: word lists, games left open */
    outbox_init();                 /* worker/outbox.c */
    client_tls_init();             /* worker/client_tls.c */
    if (W.cluster)
        cluster_init();            /* worker/cluster.c */
    send_master(IPC_W_READY, (uint32_t)slot);
    log_info("worker %d running (pid %d)", slot, (int)W.pid);
    uv_run(W.loop, UV_RUN_DEFAULT);
    log_info("worker %d exiting", slot);
    hmap_free(&W.clients);
    hmap_free(&W.nicks);
    hmap_free(&W.nick_owner);
    hmap_free(&W.channels);
    hmap_free(&W.asks);
    buf_free(&gone_ips);
    uv_loop_close(W.loop);
    return 0;
}

/* A one-number frame to the master (IPC_W_RELINK from peer.c). */
void worker_send_master(uint8_t type, uint32_t value)
{
    send_master(type, value);
}
