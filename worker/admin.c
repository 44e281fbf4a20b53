/* The worker's side of the control socket: answers the master's queries
 * (counters, clients, channels), admin kicks and wall notices, and takes a
 * reloaded configuration. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

/* Records: u32 count, then per record u32 field count and fields; the counts
 * are patched in when the record or answer is complete. */
struct answer {
    struct buf b;
    uint32_t qid;
    size_t frame, nrec_at, nfield_at;
    uint32_t nrec, nfield;
};

/* An answer frame stays well under a datagram's buffer size. */
#define ANSWER_CHUNK 32768

static void patch_u32(struct buf *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->data[at + (size_t)i] = (char)((v >> (8 * i)) & 0xff);
}

static void answer_begin(struct answer *a, uint32_t qid)
{
    buf_init(&a->b);
    a->qid = qid;
    a->frame = ipc_begin(&a->b, IPC_W_ANSWER);
    ipc_put_u32(&a->b, qid);
    ipc_put_u8(&a->b, 1);
    a->nrec_at = a->b.len;
    ipc_put_u32(&a->b, 0);
    a->nrec = 0;
}

static void answer_flush(struct answer *a, bool last)
{
    patch_u32(&a->b, a->nrec_at, a->nrec);
    a->b.data[a->nrec_at - 1] = last;
    ipc_end(&a->b, a->frame);
    /* The channel is non-blocking; a long answer may fill it, so wait (up
     * to a second per chunk) for the master to read. */
    int r;
    for (int tries = 0; (r = ipc_send_fd(W.master_fd, a->b.data, a->b.len, -1)) == -EAGAIN && tries < 10; tries++) {
        struct pollfd p = { .fd = W.master_fd, .events = POLLOUT };
        poll(&p, 1, 100);
    }
    if (r < 0)
        log_warn("control answer of %zu bytes not sent: %s", a->b.len, strerror(-r));
    buf_clear(&a->b);
    a->frame = ipc_begin(&a->b, IPC_W_ANSWER);
    ipc_put_u32(&a->b, a->qid);
    ipc_put_u8(&a->b, 1);
    a->nrec_at = a->b.len;
    ipc_put_u32(&a->b, 0);
    a->nrec = 0;
}

static void rec_begin(struct answer *a)
{
    if (a->b.len > ANSWER_CHUNK)
        answer_flush(a, false);
    a->nrec++;
    a->nfield_at = a->b.len;
    ipc_put_u32(&a->b, 0);
    a->nfield = 0;
}

static void rec_str(struct answer *a, const char *key, const char *value)
{
    ipc_put_cstr(&a->b, key);
    ipc_put_cstr(&a->b, value);
    ipc_put_u8(&a->b, 0);
    patch_u32(&a->b, a->nfield_at, ++a->nfield);
}

static void rec_num(struct answer *a, const char *key, double value)
{
    char v[48];
    if (value == (double)(int64_t)value)
        snprintf(v, sizeof v, "%" PRId64, (int64_t)value);
    else
        snprintf(v, sizeof v, "%.3f", value);
    ipc_put_cstr(&a->b, key);
    ipc_put_cstr(&a->b, v);
    ipc_put_u8(&a->b, 1);
    patch_u32(&a->b, a->nfield_at, ++a->nfield);
}

static void answer_send(struct answer *a)
{
    answer_flush(a, true);
    buf_free(&a->b);
}

static void node_record(void *arg, const struct cluster_node_view *n)
{
    struct answer *a = arg;
    rec_begin(a);
    rec_str(a, "node", n->name);
    rec_num(a, "id", n->id);
    rec_num(a, "workers", n->workers);
    rec_num(a, "clients", n->clients);
    rec_str(a, "nats", n->nats);
    rec_str(a, "state", n->state);
    rec_num(a, "heard_s_ago", (double)(int64_t)(n->heard_ago * 10) / 10);
    rec_str(a, "pids", n->pids);
}

/* The NATS counters in the summary record (master/control.c: status, stats). */
static void cluster_fields(struct answer *a)
{
    struct cluster_stats cs;
    cluster_get_stats(&cs);
    rec_str(a, "nats", cs.nats);
    rec_num(a, "cluster_nodes", cs.live_nodes);
    rec_num(a, "cluster_msgs_in", (double)cs.msgs_in);
    rec_num(a, "cluster_msgs_out", (double)cs.msgs_out);
    rec_num(a, "cluster_frames_in", (double)cs.frames_in);
    rec_num(a, "cluster_frames_out", (double)cs.frames_out);
    rec_num(a, "cluster_publish_errors", (double)cs.publish_errors);
    rec_num(a, "cluster_reconnects", (double)cs.reconnects);
    rec_num(a, "cluster_rooms_moved", (double)cs.rooms_moved);
    rec_num(a, "cluster_nicks_moved", (double)cs.nicks_moved);
}

static void client_record(struct answer *a, struct client *c)
{
    rec_begin(a);
    rec_num(a, "worker", W.slot);
    rec_str(a, "nick", c->nick);
    rec_str(a, "user", c->user);
    char addr[96];
    snprintf(addr, sizeof addr, "%s:%d", c->ip, c->port);
    rec_str(a, "address", addr);
    rec_str(a, "state", c->closing ? "closing" : c->registered ? "registered" : "registering");
    rec_num(a, "connected_s", (double)(int64_t)(W.now - c->signon));
    rec_num(a, "idle_s", (double)(int64_t)(W.now - c->last_active));
    rec_num(a, "channels", c->nchans);
    rec_num(a, "sendq_bytes", (double)c->out.len);
    char tls[160];
    client_tls_describe(c, tls, sizeof tls);
    rec_str(a, "tls", tls[0] ? tls : "no");
    if (c->certfp[0])
        rec_str(a, "certfp", c->certfp);
    if (c->away)
        rec_str(a, "away", c->away);
}

static int count_owned(void)
{
    int n = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.channels);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
        n += ((struct channel *)e->value)->owned;
    return n;
}

/* Send a server NOTICE to every registered local client; returns the count. */
static int notice_all(const char *text)
{
    int n = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        if (c->closing)
            continue;
        char line[600];
        int len = snprintf(line, sizeof line, ":%s NOTICE %s :*** %s\r\n", W.cfg->server_name,
                           c->registered ? c->nick : "*", text);
        if (len > (int)sizeof line - 1) {       /* cut, but keep the line ended */
            len = (int)sizeof line - 1;
            line[len - 2] = '\r';
            line[len - 1] = '\n';
        }
        client_send_unsolicited(c, line, (size_t)len);
        n++;
    }
    return n;
}

void admin_query(uint32_t qid, int what, const char *arg1, const char *arg2)
{
    struct answer a;
    answer_begin(&a, qid);
    switch (what) {
    case Q_SUMMARY: {
        int registered = 0;
        struct hmap_iter it;
        hmap_iter_init(&it, &W.clients);
        for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
            registered += ((struct client *)e->value)->registered;
        rec_begin(&a);
        rec_num(&a, "clients", (double)W.clients.count);
        rec_num(&a, "registered", registered);
        rec_num(&a, "channels_owned", count_owned());
        rec_num(&a, "channels_known", (double)W.channels.count);
        rec_num(&a, "nicks_owned", (double)W.nick_owner.count);
        rec_num(&a, "messages_in", (double)W.stats.messages_in);
        rec_num(&a, "lines_out", (double)W.stats.lines_out);
        rec_num(&a, "bytes_in", (double)W.stats.bytes_in);
        rec_num(&a, "bytes_out", (double)W.stats.bytes_out);
        rec_num(&a, "sendq_disconnects", (double)W.stats.sendq_kills);
        rec_num(&a, "tls_clients", W.ntls);
        rec_num(&a, "tls_handshakes", (double)W.stats.tls_handshakes);
        rec_num(&a, "tls_resumed", (double)W.stats.tls_resumed);
        rec_num(&a, "tls_failures", (double)W.stats.tls_failures);
        int links = 0;
        for (int s = 0; s < W.nworkers; s++)
            links += s != W.slot && peer_connected(s);
        rec_num(&a, "mesh_links_up", links);
        rec_str(&a, "database", store_state());
        rec_num(&a, "spool_depth", (double)store_spool_depth());
        if (W.cluster) {
            cluster_fields(&a);
            if (strcmp(arg1, "nodes") == 0)     /* status: the nodes after the counters */
                cluster_answer_nodes(node_record, &a);
        }
        break;
    }
    case Q_CLIENTS: {
        struct hmap_iter it;
        hmap_iter_init(&it, &W.clients);
        for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
            client_record(&a, e->value);
        break;
    }
    case Q_CHANNELS: {
        struct hmap_iter it;
        hmap_iter_init(&it, &W.channels);
        for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
            struct channel *ch = e->value;
            if (!ch->owned)
                continue;
            char modes[128];
            chan_mode_string(ch, false, modes, sizeof modes);   /* the key stays private */
            rec_begin(&a);
            rec_str(&a, "name", ch->name);
            rec_num(&a, "owner", W.slot);
            rec_num(&a, "members", (double)ch->members.count);
            rec_str(&a, "modes", modes);
            rec_num(&a, "events", (double)ch->seq);
            rec_str(&a, "topic", ch->topic);
        }
        break;
    }
    case Q_NODES:
        if (W.cluster)
            cluster_answer_nodes(node_record, &a);
        break;
    case Q_CLIENT: {
        struct client *c = hmap_get_name(&W.nicks, arg1);
        if (c && c->registered) {
            client_record(&a, c);
            char list[400] = "";
            size_t n = 0;
            for (int i = 0; i < c->nchans; i++) {
                int w = snprintf(list + n, sizeof list - n, "%s%s", n ? "," : "", c->chans[i]->name);
                if (w < 0 || (size_t)w >= sizeof list - n)
                    break;
                n += (size_t)w;
            }
            rec_str(&a, "channel_list", list);
            rec_str(&a, "realname", c->realname);
        }
        break;
    }
    case Q_KICK: case Q_KILL: {
        struct client *c = hmap_get_name(&W.nicks, arg1);
        if (c && c->registered && !c->closing) {
            char reason[400];
            if (what == Q_KILL)       /* worded as an operator's KILL (worker/oper.c) */
                snprintf(reason, sizeof reason, "Killed by admin (%s)", arg2[0] ? arg2 : "No reason");
            else
                snprintf(reason, sizeof reason, "Killed by administrator: %s", arg2[0] ? arg2 : "no reason");
            log_info("admin %s of %s (%s:%d): %s", what == Q_KILL ? "kill" : "kick", c->nick, c->ip,
                     c->port, reason);
            rec_begin(&a);
            rec_str(&a, "nick", c->nick);
            rec_num(&a, "worker", W.slot);
            rec_str(&a, "ip", c->ip);              /* for kick --ban */
            client_close(c, reason);
        }
        break;
    }
    case Q_WALL: case Q_NOTICE_ALL: {
        char text[480];
        snprintf(text, sizeof text, "%s%s", what == Q_WALL ? "Server notice: " : "", arg1);
        rec_begin(&a);
        rec_num(&a, "notified", notice_all(text));
        break;
    }
    default:
        log_warn("unknown query %d from master", what);
    }
    answer_send(&a);
}
