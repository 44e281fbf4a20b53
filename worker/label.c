/* IRCv3 labeled-response.
 *
 * A client that negotiated `labeled-response` (and `batch`) may tag a
 * command with `label=X`; everything the server sends in response comes back
 * with that label: one line tagged, several lines in a `labeled-response`
 * batch, nothing as `ACK`.
 *
 * Responses here are not all produced at once: a command may go to a
 * channel's owner worker, along a nick's route, or to PostgreSQL, and its
 * echo is sent once the message is durable.  So while a labeled command runs,
 * the places it sends work to are noted (label_note_channel/_nick), and when
 * it returns a fence follows the same paths: each path answers the fence only
 * after everything before it on that path was handled and is durable
 * (store_barrier), so by the time every fence is back, every response has
 * arrived.  Meanwhile the client's responses are collected, its further input
 * waits (in order), and lines that are not responses (other people's
 * messages) are delivered as usual. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define LABEL_TIMEOUT 10.0     /* a fence lost with a dead worker: give up */
#define MAX_NOTES 8

enum { FENCE_CHANNEL = 1, FENCE_NICK };

/* The labeled command running right now, and where it sent work. */
static struct {
    struct client *c;
    char channels[MAX_NOTES][IRC_CHANNEL_MAX + 1];
    int nchannels;
    char nicks[MAX_NOTES][IRC_NICK_MAX + 1];
    int nnicks;
} cur;

static uint32_t next_token;
static void fence_done(int slot, uint64_t client, uint32_t token);

bool label_capturing(const struct client *c)
{
    return c->label[0] != '\0';
}

void label_begin(struct client *c, const char *label)
{
    snprintf(c->label, sizeof c->label, "%s", label);
    buf_clear(&c->label_out);
    c->label_fences = 0;
    c->label_deadline = W.now + LABEL_TIMEOUT;
    c->label_token = ++next_token;
    memset(&cur, 0, sizeof cur);
    cur.c = c;
}

void label_note_channel(const char *channel)
{
    if (!cur.c)
        return;
    for (int i = 0; i < cur.nchannels; i++)
        if (irc_casecmp(cur.channels[i], channel) == 0)
            return;
    if (cur.nchannels < MAX_NOTES)
        snprintf(cur.channels[cur.nchannels++], IRC_CHANNEL_MAX + 1, "%s", channel);
}

void label_note_nick(const char *nick)
{
    if (!cur.c)
        return;
    for (int i = 0; i < cur.nnicks; i++)
        if (irc_casecmp(cur.nicks[i], nick) == 0)
            return;
    if (cur.nnicks < MAX_NOTES)
        snprintf(cur.nicks[cur.nnicks++], IRC_NICK_MAX + 1, "%s", nick);
}

/* Add `tag` to a line that may already have tags. */
static void append_tagged(struct buf *out, const char *tag, const char *line, size_t len)
{
    if (len && line[0] == '@') {
        buf_append_byte(out, '@');
        buf_append_str(out, tag);
        buf_append_byte(out, ';');
        buf_append(out, line + 1, len - 1);
    } else {
        buf_appendf(out, "@%s ", tag);
        buf_append(out, line, len);
    }
}

/* Every fence is back (or timed out): send what was collected. */
static void finish(struct client *c)
{
    char tag[128];
    snprintf(tag, sizeof tag, "label=%s", c->label);
    struct buf out = BUF_INIT;
    const char *p = c->label_out.data;
    size_t left = c->label_out.len;
    int lines = 0;
    for (size_t i = 0; i < left; i++)
        lines += p[i] == '\n';
    if (lines == 0) {
        buf_appendf(&out, "@%s :%s ACK\r\n", tag, W.cfg->server_name);
    } else if (lines == 1) {
        append_tagged(&out, tag, p, left);
    } else {
        char ref[16], btag[32];
        snprintf(ref, sizeof ref, "L%u", c->label_token);
        snprintf(btag, sizeof btag, "batch=%s", ref);
        buf_appendf(&out, "@%s :%s BATCH +%s labeled-response\r\n", tag, W.cfg->server_name, ref);
        while (left) {
            const char *nl = memchr(p, '\n', left);
            size_t n = nl ? (size_t)(nl - p) + 1 : left;
            /* Lines inside a nested batch (chathistory) keep their own batch
             * tag: only the nested batch's opening line joins ours. */
            const char *sp = n && p[0] == '@' ? memchr(p, ' ', n) : NULL;
            bool nested = false;
            for (const char *t = p + 1; sp && t < sp; t++)
                if ((t == p + 1 || t[-1] == ';') && strncmp(t, "batch=", 6) == 0)
                    nested = true;
            if (nested)
                buf_append(&out, p, n);
            else
                append_tagged(&out, btag, p, n);
            p += n;
            left -= n;
        }
        buf_appendf(&out, ":%s BATCH -%s\r\n", W.cfg->server_name, ref);
    }
    c->label[0] = '\0';
    buf_clear(&c->label_out);
    buf_shrink(&c->label_out, 0);
    client_send(c, out.data, out.len);
    buf_free(&out);
    if (c->label_wait) {
        c->label_wait = false;
        client_process_input(c);
    }
}

static void fence_done(int slot, uint64_t client, uint32_t token)
{
    if (slot != W.slot) {
        struct buf *b = peer_buf(slot);
        if (!b)
            return;
        size_t f = ipc_begin(b, IPC_P_FENCE_ACK);
        ipc_put_u64(b, client);
        ipc_put_u32(b, token);
        ipc_end(b, f);
        return;
    }
    struct client *c = client_by_id(client);
    if (!c || !label_capturing(c) || c->label_token != token)
        return;
    /* Holds taken while the command runs may be released before it
     * returns; only a finished command can be answered. */
    if (--c->label_fences <= 0 && cur.c != c)
        finish(c);
}

uint32_t label_hold(struct client *c)
{
    if (cur.c != c)
        return 0;
    c->label_fences++;
    return c->label_token;
}

void label_release(uint64_t client, uint32_t token)
{
    if (token)
        fence_done(W.slot, client, token);
}

struct fence_ack {
    int slot;
    uint64_t client;
    uint32_t token;
};

static void on_barrier(void *arg)
{
    struct fence_ack *a = arg;
    fence_done(a->slot, a->client, a->token);
    free(a);
}

/* The last hop of a fence: answer once what is queued here is durable. */
static void fence_last_hop(int slot, uint64_t client, uint32_t token)
{
    struct fence_ack *a = malloc(sizeof *a);
    PARLOR_ASSERT(a != NULL);
    *a = (struct fence_ack){ slot, client, token };
    store_barrier(on_barrier, a);
}

static void send_fence(int to, int kind, int stage, const char *target, uint64_t client, int slot,
                       uint32_t token)
{
    struct buf *b = peer_buf(to);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_FENCE);
    ipc_put_u8(b, (uint8_t)kind);
    ipc_put_u8(b, (uint8_t)stage);
    ipc_put_cstr(b, target);
    ipc_put_u64(b, client);
    ipc_put_u32(b, (uint32_t)slot);
    ipc_put_u32(b, token);
    ipc_end(b, f);
}

/* A fence at this worker: pass it on along the path, or answer it. */
static void fence_here(int kind, int stage, const char *target, uint64_t client, int slot, uint32_t token)
{
    if (kind == FENCE_NICK && stage == 0) {
        int holder = nick_holder_slot(target);      /* we are the nick's owner */
        if (holder >= 0 && holder != W.slot) {
            send_fence(holder, kind, 1, target, client, slot, token);
            return;
        }
    }
    fence_last_hop(slot, client, token);
}

void label_handle_fence(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    int kind = ipc_get_u8(&r);
    int stage = ipc_get_u8(&r);
    const char *target = ipc_get_str(&r, NULL);
    uint64_t client = ipc_get_u64(&r);
    int slot = (int)ipc_get_u32(&r);
    uint32_t token = ipc_get_u32(&r);
    if (r.err || slot < 0 || slot >= W.nworkers)
        return;
    fence_here(kind, stage, target, client, slot, token);
}

void label_handle_ack(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint64_t client = ipc_get_u64(&r);
    uint32_t token = ipc_get_u32(&r);
    if (!r.err)
        fence_done(W.slot, client, token);
}

/* The command returned: send the fences, or finish at once. */
void label_end_command(struct client *c)
{
    if (cur.c != c)
        return;
    cur.c = NULL;
    if (c->closing) {
        c->label[0] = '\0';
        return;
    }
    /* One fence per path the command used, plus one through our own store
     * (history queries, account lookups, echoes of our own messages). */
    c->label_fences += 1 + cur.nchannels + cur.nnicks;
    c->label_wait = true;
    for (int i = 0; i < cur.nchannels; i++) {
        int owner = owner_of(cur.channels[i]);
        if (owner == W.slot)
            fence_here(FENCE_CHANNEL, 0, cur.channels[i], c->id, W.slot, c->label_token);
        else
            send_fence(owner, FENCE_CHANNEL, 0, cur.channels[i], c->id, W.slot, c->label_token);
    }
    for (int i = 0; i < cur.nnicks; i++) {
        int owner = owner_of(cur.nicks[i]);
        if (owner == W.slot)
            fence_here(FENCE_NICK, 0, cur.nicks[i], c->id, W.slot, c->label_token);
        else
            send_fence(owner, FENCE_NICK, 0, cur.nicks[i], c->id, W.slot, c->label_token);
    }
    fence_last_hop(W.slot, c->id, c->label_token);
}

/* A labeled response whose fence was lost (a worker died): send what came. */
void label_tick(double now)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        if (label_capturing(c) && !c->closing && c->label_wait && now > c->label_deadline) {
            log_warn("labeled response for %s timed out; sending what arrived", c->nick);
            finish(c);
        }
    }
}
