/* WHOWAS: who held a nick before.
 *
 * A nick given up (QUIT, or NICK to another one) is remembered by the
 * nick's owner worker (owner_of(nick)), the same place that registers it:
 * the holder's worker sends it there (IPC_P_WHOWAS) and WHOWAS asks only
 * there (worker/ask.c).  Each owner keeps the last WHOWAS_MAX nicks given
 * up, in a ring, and answers newest first; they are lost with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

#define WHOWAS_MAX 1024

/* Owned by `ring`. */
struct whowas {
    char nick[IRC_NICK_MAX + 1];
    char user[16];
    char host[64];
    char realname[128];
    char account[IRC_NICK_MAX + 1];
    double when;
};

static struct whowas *ring;        /* WHOWAS_MAX entries, allocated on first use */
static int next, count;

static void remember(const char *nick, const char *user, const char *host, const char *realname,
                     const char *account, double when)
{
    if (!ring) {
        ring = calloc(WHOWAS_MAX, sizeof *ring);
        PARLOR_ASSERT(ring != NULL);
    }
    struct whowas *w = &ring[next];
    snprintf(w->nick, sizeof w->nick, "%s", nick);
    snprintf(w->user, sizeof w->user, "%s", user);
    snprintf(w->host, sizeof w->host, "%s", host);
    snprintf(w->realname, sizeof w->realname, "%s", realname);
    snprintf(w->account, sizeof w->account, "%s", account);
    w->when = when;
    next = (next + 1) % WHOWAS_MAX;
    if (count < WHOWAS_MAX)
        count++;
}

void whowas_note(const struct client *c)
{
    if (!c->registered || !c->got_nick)
        return;
    int owner = owner_of(c->nick);
    if (owner == W.slot) {
        remember(c->nick, c->user, c->host, c->realname, c->account, W.now);
        return;
    }
    struct buf *b = peer_buf(owner);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_WHOWAS);
    ipc_put_cstr(b, c->nick);
    ipc_put_cstr(b, c->user);
    ipc_put_cstr(b, c->host);
    ipc_put_cstr(b, c->realname);
    ipc_put_cstr(b, c->account);
    ipc_put_u64(b, (uint64_t)(W.now * 1000.0));
    ipc_end(b, f);
}

void whowas_handle_frame(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    const char *nick = ipc_get_str(&r, NULL);
    const char *user = ipc_get_str(&r, NULL);
    const char *host = ipc_get_str(&r, NULL);
    const char *realname = ipc_get_str(&r, NULL);
    const char *account = ipc_get_str(&r, NULL);
    double when = (double)ipc_get_u64(&r) / 1000.0;
    if (r.err || !irc_nick_valid(nick, strlen(nick))) {
        log_warn("malformed WHOWAS frame");
        return;
    }
    remember(nick, user, host, realname, account, when);
}

/* 314, 312 (and 330 when it was logged in) per time the nick was held,
 * newest first, at most a2 times (all when a2 is not a number above 0). */
void whowas_answer(const struct ask_args *a, struct buf *out)
{
    int max = atoi(a->a2);
    if (max <= 0)
        max = WHOWAS_MAX;
    char line[1024];
    for (int i = 0, found = 0; i < count && found < max; i++) {
        const struct whowas *w = &ring[(next - 1 - i + WHOWAS_MAX) % WHOWAS_MAX];
        if (irc_casecmp(w->nick, a->a1) != 0)
            continue;
        found++;
        time_t t = (time_t)w->when;
        struct tm tm;
        gmtime_r(&t, &tm);
        char when[64];
        strftime(when, sizeof when, "%a %b %d %H:%M:%S %Y UTC", &tm);
        buf_append(out, line, reply_format(line, sizeof line, a->nick, "314", "%s %s %s * :%s",
                                           w->nick, w->user, w->host, w->realname));
        buf_append(out, line, reply_format(line, sizeof line, a->nick, "312", "%s %s :%s",
                                           w->nick, W.cfg->server_name, when));
        if (w->account[0])
            buf_append(out, line, reply_format(line, sizeof line, a->nick, "330",
                                               "%s %s :was logged in as", w->nick, w->account));
    }
}

void whowas_command(struct client *c, struct irc_msg *m)
{
    if (m->nparams == 0 || !m->params[0][0]) {
        reply(c, "431", ":No nickname given");
        return;
    }
    char nick[IRC_LINE_MAX + 1];
    snprintf(nick, sizeof nick, "%s", m->params[0]);
    nick[strcspn(nick, ",")] = '\0';             /* the first of a list */
    if (!irc_nick_valid(nick, strlen(nick))) {
        reply(c, "406", "%s :There was no such nickname", nick);
        reply(c, "369", "%s :End of WHOWAS", nick);
        return;
    }
    ask_start(c, ASK_WHOWAS, owner_of(nick), nick, m->nparams > 1 ? m->params[1] : "");
}
