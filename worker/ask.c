/* Questions to every worker (or to one), answered with lines for the asker.
 *
 *   LIST      every worker answers for the rooms it owns;
 *   WHO       every worker answers for the clients it holds (a user is held
 *             by exactly one worker, so each is answered once);
 *   USERHOST  the same, kept until the end and put in the order asked;
 *   WHOWAS    only the nick's owner, which keeps the nick's history.
 *
 * The asker's worker answers its own part at once, sends the question to
 * the other connected workers it concerns, passes each answer on as it
 * comes and ends with the kind's closing numeric once every worker asked
 * has answered, or after ASK_TIMEOUT (a worker that died meanwhile).  A
 * command waits for its end (order_hold, worker/order.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

#define ASK_TIMEOUT 2.0

/* Owned by W.asks; freed by finish(). */
struct ask {
    uint64_t client;
    int kind;
    int waiting;                   /* workers that have not answered yet */
    double deadline;
    uint32_t fence;                /* the command waits for its end (worker/order.c) */
    char *a1, *a2;
    char nick[IRC_NICK_MAX + 1];
    uint32_t caps;
    struct buf kept;               /* USERHOST: the answers, until the end */
    size_t got;                    /* bytes answered */
};

typedef void answer_fn(const struct ask_args *a, struct buf *out);

static answer_fn *const answers[ASK_KINDS] = {
    [ASK_LIST] = chan_list_answer,
    [ASK_WHO] = who_answer,
    [ASK_USERHOST] = userhost_answer,
    [ASK_WHOWAS] = whowas_answer,
};

static uint64_t next_id;

static void args_of(const struct ask *k, struct ask_args *a)
{
    *a = (struct ask_args){ .kind = k->kind, .client = k->client, .slot = W.slot,
                            .nick = k->nick, .caps = k->caps, .a1 = k->a1, .a2 = k->a2 };
}

/* The closing numeric of each kind; frees k. */
static void finish(struct ask *k)
{
    struct client *c = client_by_id(k->client);
    if (c && !c->closing) {
        switch (k->kind) {
        case ASK_LIST:
            reply(c, "323", ":End of LIST");
            break;
        case ASK_WHO:
            reply(c, "315", "%s :End of WHO list", k->a1);
            break;
        case ASK_USERHOST: {
            struct ask_args a;
            args_of(k, &a);
            userhost_finish(c, &a, k->kept.data ? k->kept.data : "", k->kept.len);
            break;
        }
        case ASK_WHOWAS:
            if (!k->got)
                reply(c, "406", "%s :There was no such nickname", k->a1);
            reply(c, "369", "%s :End of WHOWAS", k->a1);
            break;
        }
    }
    order_release(k->fence);
    buf_free(&k->kept);
    free(k->a1);
    free(k->a2);
    free(k);
}

static void take(struct ask *k, const char *data, size_t len)
{
    k->got += len;
    if (k->kind == ASK_USERHOST) {
        buf_append(&k->kept, data, len);
        return;
    }
    struct client *c = client_by_id(k->client);
    if (c && len)
        client_send(c, data, len);
}

static char *dup_str(const char *s)
{
    char *d = strdup(s ? s : "");
    PARLOR_ASSERT(d != NULL);
    return d;
}

void ask_start(struct client *c, int kind, int slot, const char *a1, const char *a2)
{
    PARLOR_ASSERT(kind > 0 && kind < ASK_KINDS);
    uint64_t id = ++next_id;
    struct ask *k = calloc(1, sizeof *k);
    PARLOR_ASSERT(k != NULL);
    k->client = c->id;
    k->kind = kind;
    k->deadline = W.now + ASK_TIMEOUT;
    k->fence = order_hold(c);
    k->a1 = dup_str(a1);
    k->a2 = dup_str(a2);
    snprintf(k->nick, sizeof k->nick, "%s", c->nick);
    k->caps = c->caps;
    buf_init(&k->kept);
    struct ask_args a;
    args_of(k, &a);
    if (slot < 0 || slot == W.slot) {
        struct buf out = BUF_INIT;
        answers[kind](&a, &out);
        take(k, out.data, out.len);
        buf_free(&out);
    }
    for (int s = 0; s < W.nworkers; s++) {
        if (s == W.slot || (slot >= 0 && s != slot) || !peer_connected(s))
            continue;
        struct buf *b = peer_buf(s);
        if (!b)
            continue;
        size_t f = ipc_begin(b, IPC_P_ASK);
        ipc_put_u64(b, id);
        ipc_put_u8(b, (uint8_t)kind);
        ipc_put_u64(b, c->id);
        ipc_put_u32(b, (uint32_t)W.slot);
        ipc_put_cstr(b, c->nick);
        ipc_put_u32(b, c->caps);
        ipc_put_cstr(b, k->a1);
        ipc_put_cstr(b, k->a2);
        ipc_end(b, f);
        k->waiting++;
    }
    if (k->waiting)
        hmap_put_id(&W.asks, id, k);
    else
        finish(k);
}

/* Our answer, in frames of whole lines of at most frame_budget() bytes
 * (many rooms or users never make a frame over the limit); the last one
 * says so. */
void ask_handle_request(int from_slot, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint64_t id = ipc_get_u64(&r);
    struct ask_args a;
    a.kind = ipc_get_u8(&r);
    a.client = ipc_get_u64(&r);
    a.slot = (int)ipc_get_u32(&r);
    a.nick = ipc_get_str(&r, NULL);
    a.caps = ipc_get_u32(&r);
    a.a1 = ipc_get_str(&r, NULL);
    a.a2 = ipc_get_str(&r, NULL);
    if (r.err || a.slot != from_slot || a.kind <= 0 || a.kind >= ASK_KINDS) {
        log_warn("malformed question from worker %d", from_slot);
        return;
    }
    struct buf out = BUF_INIT;
    answers[a.kind](&a, &out);
    size_t pos = 0;
    do {
        size_t n = out.len - pos;
        if (n > frame_budget()) {
            n = frame_budget();
            while (n > 0 && out.data[pos + n - 1] != '\n')
                n--;
            if (n == 0) {                 /* one line over the budget: it alone */
                const char *nl = memchr(out.data + pos, '\n', out.len - pos);
                n = nl ? (size_t)(nl - (out.data + pos)) + 1 : out.len - pos;
            }
        }
        struct buf *b = peer_buf(from_slot);
        if (!b)
            break;
        size_t f = ipc_begin(b, IPC_P_ANSWER);
        ipc_put_u64(b, id);
        ipc_put_u8(b, pos + n >= out.len);
        ipc_put_str(b, out.data ? out.data + pos : "", n);
        ipc_end(b, f);
        pos += n;
    } while (pos < out.len);
    buf_free(&out);
}

void ask_handle_answer(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint64_t id = ipc_get_u64(&r);
    bool last = ipc_get_u8(&r);
    size_t n;
    const char *data = ipc_get_str(&r, &n);
    if (r.err)
        return;
    struct ask *k = hmap_get_id(&W.asks, id);
    if (!k)
        return;                        /* timed out already */
    take(k, data, n);
    if (last && --k->waiting <= 0) {
        hmap_del_id(&W.asks, id);
        finish(k);
    }
}

void ask_tick(double now)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.asks);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct ask *k = e->value;
        if (now < k->deadline)
            continue;
        hmap_iter_remove(&it);
        finish(k);
    }
}
