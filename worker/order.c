/* Replies in command order (issue 10).
 *
 * A client's commands are answered in the order it sent them, whatever
 * worker owns the room or nick they touch and whether a message must first
 * be stored.  One mechanism does it for every command, here, in the input
 * path; no command handler knows about it:
 *
 *   - While a command runs, the paths it sends work along are noted: a
 *     room's owner (chan_request), a nick's route (to_nick), this worker's
 *     store (a query or a message queued), or an asynchronous part that
 *     holds (LIST).  A command that used none of them has already sent all
 *     its replies when it returns.
 *   - When it returns, one fence follows each path.  A path answers its
 *     fence only after everything before it on that path was handled and is
 *     durable (a store barrier at the last hop), and mesh links are FIFO, so
 *     when every fence is back every reply of the command has been sent.
 *   - Until then the client's further input waits (its socket is not read),
 *     and so do the remaining steps of a command with a target list
 *     (JOIN #a,#b is run as JOIN #a then JOIN #b: the two rooms' owners
 *     would otherwise answer in either order).
 *
 * Other people's traffic to the client is not held: it interleaves as
 * before.  A labeled command (label.c) uses the same fences; its replies are
 * collected and sent as one batch when its last step is complete.
 *
 * A fence is a record here until its answer comes (by fence id, so an answer
 * that comes twice counts once).  A fence to a worker that dies is sent
 * again to its replacement after the requests outbox.c keeps; if the owner
 * does not come back, outbox.c fails the requests and the fences with them.
 * A fence never answered (lost with a dead nick holder) is given up after
 * --owner-timeout + 1 seconds and the client goes on.
 *
 * A fence waits for what is stored only when a reply waits for it: the
 * echo of a message (echo-message) is sent once the message is durable, so
 * for such a client the last hop is a store barrier; otherwise it only waits
 * for the queries made there (a room being loaded, a history lookup).
 *
 * What it costs a client that pipelines (bench/RESULTS.md, "Replies in
 * order"): one mesh round trip per command to another worker's room, and
 * with echo-message one PostgreSQL commit; a command that stays on this
 * worker and leaves no query waits for nothing.  A run of messages to one
 * room is not paced that way (order_may_pipeline). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define MAX_NOTES 64

enum { FENCE_CHANNEL = 1, FENCE_NICK, FENCE_STORE, FENCE_HOLD };

/* A fence sent and not answered yet.  Owned by `fences`. */
struct fence {
    uint32_t id;
    uint64_t client;
    int to;                        /* first hop (a slot), or -1: this worker */
    int kind;
    bool durable;                  /* wait until stored (the echo is a reply) */
    char target[IRC_CHANNEL_MAX + 1];
    double sent;
};

static struct hmap fences;         /* id -> struct fence */
static bool fences_init;
static uint32_t next_id;

/* The command running right now, and where it sent work. */
static struct {
    struct client *c;
    char channels[MAX_NOTES][IRC_CHANNEL_MAX + 1];
    int nchannels;
    char nicks[MAX_NOTES][IRC_CHANNEL_MAX + 1];   /* room-name width: one note() for both */
    int nnicks;
    bool overflow;                 /* more paths than noted: fence every worker */
    bool message;                  /* PRIVMSG/NOTICE to one room (may be pipelined) */
    uint64_t store_mark;
} cur;

/* Clients whose wait ended: their input goes on from the loop's check
 * phase, never from inside the callback that ended it. */
static uint64_t *resume;
static size_t nresume, resume_cap;

static double timeout(void)
{
    return W.cfg->owner_timeout + 1.0;
}

static void init(void)
{
    if (!fences_init) {
        hmap_init(&fences);
        fences_init = true;
    }
}

bool order_waiting(const struct client *c)
{
    return c->cmd_wait;
}

void order_begin(struct client *c)
{
    memset(&cur, 0, sizeof cur);
    cur.c = c;
    cur.store_mark = store_submitted();
}

void order_note_message(void)
{
    if (cur.c)
        cur.message = true;
}

static void note(char (*list)[IRC_CHANNEL_MAX + 1], int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (irc_casecmp(list[i], name) == 0)
            return;
    if (*n < MAX_NOTES)
        utf8_copy(list[(*n)++], IRC_CHANNEL_MAX + 1, name);
    else
        cur.overflow = true;
}

void order_note_channel(const char *channel)
{
    if (cur.c)
        note(cur.channels, &cur.nchannels, channel);
}

void order_note_nick(const char *nick)
{
    if (cur.c)
        note(cur.nicks, &cur.nnicks, nick);
}

static void schedule_resume(struct client *c)
{
    if (nresume == resume_cap) {
        resume_cap = resume_cap ? resume_cap * 2 : 64;
        resume = realloc(resume, resume_cap * sizeof *resume);
        PARLOR_ASSERT(resume != NULL);
    }
    resume[nresume++] = c->id;
}

/* Every fence of the client's current step is back. */
static void step_complete(struct client *c, bool from_callback)
{
    c->cmd_wait = false;
    c->pipe_room[0] = '\0';
    if (!c->steps.len && label_capturing(c))
        label_finish(c);
    if (from_callback)
        schedule_resume(c);
}

static struct fence *fence_new(struct client *c, int to, int kind, const char *target)
{
    init();
    struct fence *f = calloc(1, sizeof *f);
    PARLOR_ASSERT(f != NULL);
    do
        f->id = ++next_id;
    while (f->id == 0 || hmap_get_id(&fences, f->id));
    f->client = c->id;
    f->to = to;
    f->kind = kind;
    f->durable = (c->caps & CAP_ECHO_MESSAGE) != 0;
    utf8_copy(f->target, sizeof f->target, target ? target : "");
    f->sent = W.now;
    hmap_put_id(&fences, f->id, f);
    c->cmd_fences++;
    return f;
}

/* The answer to fence `id` came (or it was given up). */
static void fence_done(uint32_t id)
{
    struct fence *f = fences_init ? hmap_get_id(&fences, id) : NULL;
    if (!f)
        return;                        /* answered already */
    hmap_del_id(&fences, id);
    struct client *c = client_by_id(f->client);
    if (c && !c->closing && c->cmd_fences > 0 && --c->cmd_fences == 0 && cur.c != c && c->cmd_wait)
        step_complete(c, true);
    free(f);
}

uint32_t order_hold(struct client *c)
{
    if (cur.c != c)
        return 0;
    return fence_new(c, -1, FENCE_HOLD, NULL)->id;
}

void order_release(uint32_t id)
{
    if (id)
        fence_done(id);
}

/* ---- the paths ---- */

static void answer(int origin, uint64_t client, uint32_t id)
{
    if (origin == W.slot) {
        fence_done(id);
        return;
    }
    struct buf *b = peer_buf(origin);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_FENCE_ACK);
    ipc_put_u64(b, client);
    ipc_put_u32(b, id);
    ipc_end(b, f);
}

struct fence_ack {
    int origin;
    uint64_t client;
    uint32_t id;
};

static void on_durable(void *arg)
{
    struct fence_ack *a = arg;
    answer(a->origin, a->client, a->id);
    free(a);
}

/* The last hop of a fence: answer once every query made here has been
 * answered, and, for a client with echo-message (its echoes are sent when
 * its messages are stored), once what is queued here is durable. */
static void last_hop(int origin, uint64_t client, uint32_t id, bool durable)
{
    struct fence_ack *a = malloc(sizeof *a);
    PARLOR_ASSERT(a != NULL);
    *a = (struct fence_ack){ origin, client, id };
    if (durable)
        store_barrier(on_durable, a);
    else
        store_sync(on_durable, a);
}

static void encode(struct buf *b, int kind, int stage, bool durable, const char *target,
                   uint64_t client, int origin, uint32_t id)
{
    size_t f = ipc_begin(b, IPC_P_FENCE);
    ipc_put_u8(b, (uint8_t)kind);
    ipc_put_u8(b, (uint8_t)stage);
    ipc_put_u8(b, durable);
    ipc_put_cstr(b, target);
    ipc_put_u64(b, client);
    ipc_put_u32(b, (uint32_t)origin);
    ipc_put_u32(b, id);
    ipc_end(b, f);
}

static void fence_here(int kind, int stage, bool durable, const char *target, uint64_t client,
                       int origin, uint32_t id);

/* Send a fence to `to`.  To ourselves while requests are held for the
 * re-announcement (outbox.c), the fence is held behind them. */
static void send_fence(int to, int kind, int stage, bool durable, const char *target, uint64_t client,
                       int origin, uint32_t id)
{
    if (to != W.slot) {
        struct buf *b = peer_buf(to);
        if (b)
            encode(b, kind, stage, durable, target, client, origin, id);
        return;
    }
    if (outbox_synced()) {
        fence_here(kind, stage, durable, target, client, origin, id);
        return;
    }
    struct buf tmp = BUF_INIT;
    encode(&tmp, kind, stage, durable, target, client, origin, id);
    outbox_hold(W.slot, tmp.data, tmp.len);
    buf_free(&tmp);
}

/* A fence at this worker: pass it on along the path, or answer it. */
static void fence_here(int kind, int stage, bool durable, const char *target, uint64_t client,
                       int origin, uint32_t id)
{
    if (kind == FENCE_NICK && stage == 0) {
        int holder = nick_holder_slot(target);      /* we are the nick's owner */
        if (holder >= 0 && holder != W.slot) {
            send_fence(holder, kind, 1, durable, target, client, origin, id);
            return;
        }
    }
    last_hop(origin, client, id, durable);
}

void order_handle_fence(int from, const char *payload, size_t len)
{
    if (!outbox_synced()) {            /* behind the requests held with it */
        struct buf tmp = BUF_INIT;
        size_t f = ipc_begin(&tmp, IPC_P_FENCE);
        buf_append(&tmp, payload, len);
        ipc_end(&tmp, f);
        outbox_hold_frame(from, tmp.data, tmp.len);
        buf_free(&tmp);
        return;
    }
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    int kind = ipc_get_u8(&r);
    int stage = ipc_get_u8(&r);
    bool durable = ipc_get_u8(&r) != 0;
    const char *target = ipc_get_str(&r, NULL);
    uint64_t client = ipc_get_u64(&r);
    int origin = (int)ipc_get_u32(&r);
    uint32_t id = ipc_get_u32(&r);
    if (r.err || origin < 0 || origin >= W.nworkers || kind < FENCE_CHANNEL || kind > FENCE_STORE ||
        stage > 1)
        return;
    fence_here(kind, stage, durable, target, client, origin, id);
}

void order_handle_ack(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    (void)ipc_get_u64(&r);
    uint32_t id = ipc_get_u32(&r);
    if (!r.err)
        fence_done(id);
}

static void start_fence(struct client *c, int kind, const char *target, int owner)
{
    struct fence *f = fence_new(c, owner == W.slot ? -1 : owner, kind, target);
    if (kind == FENCE_STORE && owner == W.slot)
        last_hop(W.slot, c->id, f->id, f->durable);
    else
        send_fence(owner, kind, 0, f->durable, target, c->id, W.slot, f->id);
}

/* The command (or one step of it) returned: send its fences, or go on at
 * once when it used no path that answers later. */
void order_end(struct client *c)
{
    if (cur.c != c)
        return;
    cur.c = NULL;
    if (c->closing) {
        c->label[0] = '\0';
        return;
    }
    bool used_store = store_submitted() != cur.store_mark;    /* before our own fences */
    if (cur.overflow) {
        for (int s = 0; s < W.nworkers; s++)
            if (!W.cluster || cluster_slot_live(s))
                start_fence(c, FENCE_STORE, "", s);
    } else {
        for (int i = 0; i < cur.nchannels; i++)
            start_fence(c, FENCE_CHANNEL, cur.channels[i], owner_of(cur.channels[i]));
        for (int i = 0; i < cur.nnicks; i++)
            start_fence(c, FENCE_NICK, cur.nicks[i], owner_of(cur.nicks[i]));
        if (used_store)
            start_fence(c, FENCE_STORE, "", W.slot);
    }
    if (c->cmd_fences > 0) {
        /* A message to one room: the next may be read while this one is
         * on its way or being stored (order_may_pipeline). */
        bool pipe = cur.message && cur.nchannels == 1 && cur.nnicks == 0 && !cur.overflow &&
                    !label_capturing(c) && !c->steps.len &&
                    (!c->cmd_wait || irc_casecmp(c->pipe_room, cur.channels[0]) == 0);
        if (pipe)
            utf8_copy(c->pipe_room, sizeof c->pipe_room, cur.channels[0]);
        else
            c->pipe_room[0] = '\0';
        c->cmd_wait = true;
        c->cmd_deadline = W.now + timeout();
    } else {
        step_complete(c, false);
    }
}

/* While a client's messages to one room are on their way (and, with
 * echo-message, being stored), its next line may run at once if it is
 * another message to that room that cannot be answered here and now: its
 * replies (its echo, or a refusal) come from the same room's owner, which
 * sends them after the earlier messages' echoes (channel.c defers a refusal
 * behind pending echoes), so command order holds and the client does not
 * wait a round trip, or a commit, per message.
 * `line` is the raw line (no CR LF); false for anything else. */
bool order_may_pipeline(const struct client *c, const char *line, size_t len)
{
    if (!c->cmd_wait || !c->pipe_room[0] || c->steps.len || label_capturing(c) || len == 0 ||
        len >= IRC_LINE_LIMIT + IRC_TAGS_MAX)
        return false;
    if (!client_line_acceptable(line, len))
        return false;                  /* it would be refused here, at once */
    char copy[IRC_LINE_LIMIT + IRC_TAGS_MAX + 1];
    memcpy(copy, line, len);
    copy[len] = '\0';
    struct irc_msg m;
    if (irc_parse(copy, &m) < 0 || m.nparams != 2 || !m.params[1][0])
        return false;
    if (strcasecmp(m.command, "PRIVMSG") != 0 && strcasecmp(m.command, "NOTICE") != 0)
        return false;
    if (m.tags && (strstr(m.tags, "label=") == m.tags || strstr(m.tags, ";label=")))
        return false;
    return irc_casecmp(m.params[0], c->pipe_room) == 0;
}

/* ---- a dead worker, a lost fence ---- */

/* A new link to `slot` (its replacement), after outbox.c sent its kept
 * requests again: the fences that went to the dead process follow them. */
void order_resend(int slot)
{
    if (!fences_init)
        return;
    struct hmap_iter it;
    hmap_iter_init(&it, &fences);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct fence *f = e->value;
        if (f->to == slot)
            send_fence(slot, f->kind, 0, f->durable, f->target, f->client, W.slot, f->id);
    }
}

/* Every fence to `slot`, each given to `fn`; collected first, in rounds of
 * at most 256, since answering one may touch the map.  `fn` must take the
 * fence off `slot` (answer it or send it elsewhere). */
static void each_fence_to(int slot, void (*fn)(struct fence *f))
{
    if (!fences_init)
        return;
    uint32_t ids[256];
    size_t n;
    do {
        n = 0;
        struct hmap_iter it;
        hmap_iter_init(&it, &fences);
        for (struct hmap_entry *e; (e = hmap_iter_next(&it)) && n < 256;) {
            struct fence *f = e->value;
            if (f->to == slot)
                ids[n++] = f->id;
        }
        for (size_t i = 0; i < n; i++) {
            struct fence *f = hmap_get_id(&fences, ids[i]);
            if (f)
                fn(f);
        }
    } while (n == 256);
}

static void give_up(struct fence *f)
{
    fence_done(f->id);
}

static void follow_owner(struct fence *f)
{
    if (f->kind == FENCE_STORE || !f->target[0]) {
        fence_done(f->id);
        return;
    }
    int owner = owner_of(f->target);
    f->to = owner == W.slot ? -1 : owner;
    send_fence(owner, f->kind, 0, f->durable, f->target, f->client, W.slot, f->id);
}

/* Cluster: `slot` went with its node and outbox_reroute() sent its kept
 * requests to the new owners; the fences that went to it follow them (a
 * fence to every worker, FENCE_STORE, is just given up). */
void order_reroute(int slot)
{
    each_fence_to(slot, follow_owner);
}

/* Fences to `slot` never to be answered (its requests were failed). */
void order_fail_slot(int slot)
{
    each_fence_to(slot, give_up);
}

/* Once a second or so: give up fences that will not be answered. */
void order_tick(double now)
{
    if (!fences_init)
        return;
    uint32_t ids[256];
    size_t n = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &fences);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it)) && n < 256;) {
        struct fence *f = e->value;
        if (now - f->sent > timeout())
            ids[n++] = f->id;
    }
    for (size_t i = 0; i < n; i++) {
        struct fence *f = hmap_get_id(&fences, ids[i]);
        struct client *c = f ? client_by_id(f->client) : NULL;
        if (c)
            log_warn("no answer from the path to %s for %s's command; going on",
                     f->target[0] ? f->target : "a worker", c->nick);
        fence_done(ids[i]);
    }
}

/* The loop's check phase: input of clients whose wait ended goes on. */
void order_run_resumed(void)
{
    while (nresume) {
        /* Taken as a batch: resuming one may end another's wait. */
        size_t n = nresume;
        uint64_t *ids = resume;
        resume = NULL;
        nresume = resume_cap = 0;
        for (size_t i = 0; i < n; i++) {
            struct client *c = client_by_id(ids[i]);
            if (c && !c->closing && !c->cmd_wait)
                client_process_input(c);
        }
        free(ids);
    }
}
