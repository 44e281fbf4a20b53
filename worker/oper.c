/* IRC operators: OPER, KILL, WALLOPS and the user modes +o and +w.
 *
 * Operators are the [oper] blocks of the configuration (common/config.h:
 * name, argon2id password hash, optional host mask); a reload replaces them
 * (worker.c takes the new struct), and a connection that is already an
 * operator stays one.  OPER checks the password on libuv's thread pool
 * (common/password.c) with the client's input paused, so its later commands
 * wait for the answer.
 *
 * Failed OPER attempts, the same idea as failed logins (worker/account.c):
 * every failure is logged at info with the name tried, nick and address;
 * its answer (464 or 491) comes OPER_FAIL_DELAY seconds after the attempt
 * began, with the input still paused, so one connection guesses at most one
 * password per delay; the OPER_MAX_FAILURES-th failure on a connection
 * closes it, and the master's per-address connection limits bound how fast
 * new connections come.  The limit is per connection, not in PostgreSQL:
 * operators must work without a database.
 *
 * What an operator may do beyond a user: KILL any nick on any worker (the
 * holder's worker closes it), WALLOPS to every +w user of every worker (an
 * IPC_P_WALLOPS frame to each other worker), KICK in any room without being
 * a member or channel operator (worker/channel.c), and see every user's
 * real address in WHOIS (338, 378; worker/nick.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/password.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

#define OPER_FAIL_DELAY 1.5        /* seconds from an attempt to its failure answer */
#define OPER_MAX_FAILURES 3        /* per connection; the last one closes it */
#define OPER_PASSWORD_MAX 256
#define KILL_REASON_MAX 200

/* An OPER on its way through the thread pool and the failure delay.
 * Owned by the callbacks; freed in on_timer_closed() (or at once when it
 * could not be queued). */
struct oper_job {
    uv_work_t work;
    uv_timer_t timer;
    uint64_t client;
    uint32_t fence;                /* OPER waits for its answer (worker/order.c) */
    double started;
    bool ok;
    bool host;                     /* failed on the host mask (491), nothing hashed */
    char name[32];
    char hash[PASSWORD_HASH_MAX];
    char password[OPER_PASSWORD_MAX + 1];
    size_t password_len;
};

static const struct oper_conf *find_block(const char *name)
{
    for (int i = 0; i < W.cfg->nopers; i++)
        if (strcmp(W.cfg->opers[i].name, name) == 0)
            return &W.cfg->opers[i];
    return NULL;
}

/* An empty mask lets anyone in; "nick!user@host" masks are matched against
 * the client's host and IP; any other mask is a host or IP glob. */
static bool host_allowed(const struct client *c, const char *mask)
{
    if (!mask[0])
        return true;
    if (strchr(mask, '@') || strchr(mask, '!')) {
        char who[256];
        snprintf(who, sizeof who, "%s!%s@%s", c->nick, c->user, c->host);
        if (irc_mask_match(mask, who))
            return true;
        snprintf(who, sizeof who, "%s!%s@%s", c->nick, c->user, c->ip);
        return irc_mask_match(mask, who);
    }
    return irc_mask_match(mask, c->host) || irc_mask_match(mask, c->ip);
}

void oper_user_modes(const struct client *c, char *out, size_t cap)
{
    snprintf(out, cap, "+%s%s%s%s", c->invisible ? "i" : "", c->oper ? "o" : "", c->wallops ? "w" : "",
             c->bot ? "B" : "");
}

static void become_oper(struct client *c, const char *name)
{
    bool was = c->oper;
    c->oper = true;
    snprintf(c->oper_name, sizeof c->oper_name, "%s", name);
    c->oper_failures = 0;
    log_info("oper: %s (%s:%d) is now operator '%s'", c->nick, c->ip, c->port, name);
    reply(c, "381", ":You are now an IRC operator");
    if (!was) {
        client_sendf(c, ":%s MODE %s :+o\r\n", c->nick, c->nick);
        chan_note_oper(c);
        lusers_changed();
    }
}

void oper_drop(struct client *c)
{
    if (!c->oper)
        return;
    c->oper = false;
    log_info("oper: %s (%s:%d) is no longer operator '%s'", c->nick, c->ip, c->port, c->oper_name);
    c->oper_name[0] = '\0';
    client_sendf(c, ":%s MODE %s :-o\r\n", c->nick, c->nick);
    chan_note_oper(c);
    lusers_changed();
}

/* A failed attempt, answered now (the delay is over). */
static void fail(struct client *c, bool host)
{
    if (host)
        reply(c, "491", ":No O-lines for your host");
    else
        reply(c, "464", ":Password incorrect");
    if (++c->oper_failures >= OPER_MAX_FAILURES) {
        log_info("oper: closing %s (%s:%d) after %d failed OPER attempts", c->nick, c->ip,
                 c->port, c->oper_failures);
        client_close(c, "Too many failed OPER attempts");
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct oper_job *j = h->data;
    explicit_bzero(j->password, sizeof j->password);
    free(j);
}

/* The answer is due: look the client up again, answer, resume its input. */
static void on_answer_due(uv_timer_t *t)
{
    struct oper_job *j = t->data;
    struct client *c = client_by_id(j->client);
    if (c && !c->closing) {
        if (j->ok)
            become_oper(c, j->name);
        else
            fail(c, j->host);
        order_release(j->fence);
        if (!c->closing)
            client_unblock(c);
    }
    uv_close((uv_handle_t *)&j->timer, on_timer_closed);
}

/* On a thread of the pool: touches nothing but the job. */
static void job_run(uv_work_t *w)
{
    struct oper_job *j = w->data;
    j->ok = password_verify(j->hash, j->password, j->password_len);
}

static void job_done(uv_work_t *w, int status)
{
    struct oper_job *j = w->data;
    explicit_bzero(j->password, sizeof j->password);
    double wait = 0;
    if (status < 0) {
        j->ok = false;
    } else if (!j->ok) {
        struct client *c = client_by_id(j->client);
        log_info("oper: failed OPER as '%s' by %s (%s:%d): wrong password", j->name,
                 c ? c->nick : "?", c ? c->ip : "?", c ? c->port : 0);
        wait = j->started + OPER_FAIL_DELAY - now_wall();
    }
    uv_timer_start(&j->timer, on_answer_due, wait > 0 ? (uint64_t)(wait * 1000.0) : 0, 0);
}

void oper_command(struct client *c, struct irc_msg *m)
{
    const char *name = m->params[0], *password = m->params[1];
    const struct oper_conf *o = find_block(name);
    struct oper_job *j = calloc(1, sizeof *j);
    PARLOR_ASSERT(j != NULL);
    j->client = c->id;
    j->fence = order_hold(c);
    j->started = W.now;
    j->work.data = j;
    uv_timer_init(W.loop, &j->timer);
    j->timer.data = j;
    c->blocked = true;
    if (!o || !host_allowed(c, o->mask)) {
        /* Answered after the same delay as a wrong password. */
        log_info("oper: failed OPER as '%s' by %s (%s:%d): %s", name, c->nick, c->ip, c->port,
                 o ? "host does not match" : "no such operator");
        j->host = o != NULL;
        uv_timer_start(&j->timer, on_answer_due, (uint64_t)(OPER_FAIL_DELAY * 1000.0), 0);
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", o->name);
    snprintf(j->hash, sizeof j->hash, "%s", o->hash);
    j->password_len = strlen(password);
    if (j->password_len > OPER_PASSWORD_MAX)
        j->password_len = OPER_PASSWORD_MAX;      /* too long to be right; still checked */
    memcpy(j->password, password, j->password_len);
    int rc = uv_queue_work(W.loop, &j->work, job_run, job_done);
    if (rc < 0) {
        log_error("oper: cannot queue password work: %s", uv_strerror(rc));
        j->ok = false;
        uv_timer_start(&j->timer, on_answer_due, 0, 0);
    }
}

static bool need_oper(struct client *c)
{
    if (c->oper)
        return true;
    reply(c, "481", ":Permission Denied- You're not an IRC operator");
    return false;
}

void oper_kill(struct client *c, struct irc_msg *m)
{
    if (!need_oper(c))
        return;
    const char *target = m->params[0];
    if (service_nick_reserved(target)) {
        reply(c, "483", "%s :You cannot kill a service", target);
        return;
    }
    if (!irc_nick_valid(target, strlen(target))) {
        reply(c, "401", "%s :No such nick/channel", target);
        return;
    }
    char reason[KILL_REASON_MAX + 1];
    utf8_copy(reason, sizeof reason, m->nparams > 1 && m->params[1][0] ? m->params[1] : "No reason");
    log_info("oper: %s (operator '%s', %s:%d) kills %s: %s", c->nick, c->oper_name, c->ip,
             c->port, target, reason);
    to_nick(TO_NICK_KILL, target, c, NULL, reason, NULL, NULL);
}

void oper_kill_local(struct client *t, const char *killer, const char *reason)
{
    char why[KILL_REASON_MAX + IRC_NICK_MAX + 32];
    snprintf(why, sizeof why, "Killed (%s (%s))", killer, reason);
    log_info("oper: %s (%s:%d) killed by %s: %s", t->nick, t->ip, t->port, killer, reason);
    client_close(t, why);
}

/* The line to every local +w client, or with `everyone` to every
 * registered local client. */
static void wallops_local(const char *line, size_t len, bool everyone)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        if (c->registered && !c->closing && (everyone || c->wallops))
            client_send_unsolicited(c, line, len);
    }
}

/* `line` to the clients of every worker (an IPC_P_WALLOPS frame each). */
static void broadcast(const char *line, size_t n, bool everyone)
{
    for (int s = 0; s < W.nworkers; s++) {
        struct buf *b = s == W.slot ? NULL : peer_buf(s);
        if (!b)
            continue;
        size_t f = ipc_begin(b, IPC_P_WALLOPS);
        ipc_put_str(b, line, n);
        ipc_put_u8(b, everyone);
        ipc_end(b, f);
    }
    wallops_local(line, n, everyone);
}

void oper_wallops(struct client *c, struct irc_msg *m)
{
    if (!need_oper(c))
        return;
    char prefix[256], text[400], line[700];
    client_prefix(c, prefix, sizeof prefix);
    utf8_copy(text, sizeof text, m->params[0]);
    int n = snprintf(line, sizeof line, ":%s WALLOPS :%s\r\n", prefix, text);
    log_info("oper: WALLOPS from %s: %s", c->nick, text);
    broadcast(line, (size_t)n, false);
}

/* PRIVMSG/NOTICE $* (or $server.name): an operator's message to everyone
 * on the server, the IRC side of `parlorctl wall` (RFC 2812 3.3.1). */
void oper_global_message(struct client *c, const char *cmd, const char *target, const char *text)
{
    bool notice = strcmp(cmd, "NOTICE") == 0;
    if (!c->oper) {
        if (!notice)
            reply(c, "481", ":Permission Denied- You're not an IRC operator");
        return;
    }
    if (!irc_mask_match(target + 1, W.cfg->server_name)) {
        if (!notice)
            reply(c, "402", "%s :No such server", target);
        return;
    }
    char prefix[256], body[400], line[800];
    client_prefix(c, prefix, sizeof prefix);
    utf8_copy(body, sizeof body, text);
    int n = snprintf(line, sizeof line, ":%s %s %.60s :%s\r\n", prefix, cmd, target, body);
    log_info("oper: %s %s from %s: %s", cmd, target, c->nick, body);
    broadcast(line, (size_t)n, true);
}

void oper_handle_wallops(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    size_t n;
    const char *line = ipc_get_str(&r, &n);
    bool everyone = ipc_get_u8(&r) != 0;
    if (r.err || n < 2 || line[n - 1] != '\n') {
        log_warn("malformed WALLOPS frame");
        return;
    }
    wallops_local(line, n, everyone);
}
