/* IRC command dispatch and the commands that are about the client itself
 * (registration, CAP, PING, AWAY, user MODE) or that only route: channel
 * commands go to worker/channel.c, nick-addressed ones to worker/nick.c.
 *
 * Like HAProxy's CLI keywords, commands are a sorted table; the parameter
 * minimum and the registration check live in the table so 461 and 451 are
 * sent in one place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define NEED_REG 1
#define MAX_TARGETS 4

typedef void cmd_fn(struct client *c, struct irc_msg *m);

struct command {
    const char *name;
    cmd_fn *fn;
    int min_params;
    int flags;
};

/* Commands that take a comma list of targets: parameter `list`, with a
 * parallel list in parameter `keys` (JOIN's keys; -1: none).  Up to `max`
 * targets run as one step each (worker/order.c); more are left to the
 * command, which answers that itself. */
static const struct target_list {
    const char *name;
    int list, keys, max;
} target_lists[] = {
    { "JOIN", 0, 1, 64 },
    { "KICK", 1, -1, 8 },
    { "MODE", 0, -1, 8 },                  /* MODE #a,#b [b]: irssi's sync queries */
    { "NAMES", 0, -1, 8 },
    { "NOTICE", 0, -1, MAX_TARGETS },
    { "PART", 0, -1, 64 },
    { "PRIVMSG", 0, -1, MAX_TARGETS },
    { "TAGMSG", 0, -1, MAX_TARGETS },
    { "WHO", 0, -1, 8 },                   /* WHO #a,#b [%fields]: one 315 each */
};

/* Capabilities we really implement; names as in the IRCv3 registry. */
static const struct { const char *name; uint32_t bit; } caps[] = {
    { "account-notify", CAP_ACCOUNT_NOTIFY },   /* worker/userstate.c */
    { "account-tag", CAP_ACCOUNT_TAG },
    { "away-notify", CAP_AWAY_NOTIFY },         /* worker/userstate.c */
    { "batch", CAP_BATCH },
    { "cap-notify", CAP_CAP_NOTIFY },
    { "chghost", CAP_CHGHOST },                 /* never sent: see worker/userstate.c */
    { "draft/chathistory", CAP_CHATHISTORY },   /* worker/history.c */
    { "draft/event-playback", CAP_EVENT_PLAYBACK }, /* history holds messages only */
    { "draft/no-implicit-names", CAP_NO_IMPLICIT_NAMES },
    { "echo-message", CAP_ECHO_MESSAGE },
    { "extended-join", CAP_EXTENDED_JOIN },
    { "extended-monitor", CAP_EXTENDED_MONITOR }, /* worker/monitor.c */
    { "invite-notify", CAP_INVITE_NOTIFY },
    { "labeled-response", CAP_LABELED_RESPONSE },
    { "message-tags", CAP_MESSAGE_TAGS },
    { "multi-prefix", CAP_MULTI_PREFIX },
    { "parlor.chat/quiet", CAP_QUIET },          /* worker/channel.c: scripts */
    { "sasl", CAP_SASL },                  /* "sasl=PLAIN" in CAP LS 302 */
    { "server-time", CAP_SERVER_TIME },
    { "standard-replies", CAP_STANDARD_REPLIES },   /* FAIL/WARN/NOTE are sent to all */
    { "setname", CAP_SETNAME },                 /* worker/userstate.c */
    { "userhost-in-names", CAP_USERHOST_IN_NAMES },
};
#define NCAPS (sizeof caps / sizeof caps[0])

/* CAP LS / LIST: one line, or for a 302 client several ("CAP nick LS *
 * :...") when the list would not fit in one 512-byte line.  Frees `list`. */
static void send_cap_list(struct client *c, const char *sub, struct buf *list, bool multiline)
{
    enum { CHUNK = 380 };              /* leaves room for the prefix and nick */
    const char *p = list->data ? list->data : "";
    size_t left = list->len;
    while (multiline && left > CHUNK) {
        size_t n = CHUNK;
        while (n > 0 && p[n] != ' ')
            n--;
        if (n == 0)
            break;
        client_sendf(c, ":%s CAP %s %s * :%.*s\r\n", W.cfg->server_name, c->nick, sub, (int)n, p);
        p += n + 1;
        left -= n + 1;
    }
    client_sendf(c, ":%s CAP %s %s :%.*s\r\n", W.cfg->server_name, c->nick, sub, (int)left, p);
    buf_free(list);
}

static void cmd_cap(struct client *c, struct irc_msg *m)
{
    char sub[16];
    snprintf(sub, sizeof sub, "%s", m->params[0]);
    for (char *p = sub; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    const char *srv = W.cfg->server_name;
    if (strcmp(sub, "LS") == 0) {
        if (!c->registered)
            c->cap_wait = true;
        if (m->nparams > 1 && atoi(m->params[1]) >= 302)
            c->caps |= CAP_CAP_NOTIFY;
        bool v302 = m->nparams > 1 && atoi(m->params[1]) >= 302;
        struct buf list = BUF_INIT;
        for (size_t i = 0; i < NCAPS; i++) {
            buf_appendf(&list, "%s%s", i ? " " : "", caps[i].name);
            if (caps[i].bit == CAP_SASL && v302)   /* EXTERNAL: a client certificate (TLS) */
                buf_append_str(&list, client_is_tls(c) ? "=PLAIN,EXTERNAL" : "=PLAIN");
        }
        char sts[64];
        client_tls_sts_value(c, sts, sizeof sts);
        if (v302 && sts[0])                     /* IRCv3 STS: not requestable, LS only */
            buf_appendf(&list, " sts=%s", sts);
        send_cap_list(c, "LS", &list, v302);
    } else if (strcmp(sub, "LIST") == 0) {
        struct buf list = BUF_INIT;
        for (size_t i = 0; i < NCAPS; i++)
            if (c->caps & caps[i].bit)
                buf_appendf(&list, "%s%s", list.len ? " " : "", caps[i].name);
        send_cap_list(c, "LIST", &list, (c->caps & CAP_CAP_NOTIFY) != 0);
    } else if (strcmp(sub, "REQ") == 0) {
        if (m->nparams < 2) {
            reply(c, "461", "CAP :Not enough parameters");
            return;
        }
        if (!c->registered)
            c->cap_wait = true;
        /* All or nothing, as the spec says. */
        uint32_t add = 0, del = 0;
        char req[512];
        snprintf(req, sizeof req, "%s", m->params[1]);
        bool ok = true;
        for (char *save, *tok = strtok_r(req, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            bool minus = tok[0] == '-';
            const char *name = minus ? tok + 1 : tok;
            size_t i;
            for (i = 0; i < NCAPS; i++)
                if (strcmp(caps[i].name, name) == 0)
                    break;
            if (i == NCAPS) {
                ok = false;
                break;
            }
            if (minus)
                del |= caps[i].bit;
            else
                add |= caps[i].bit;
        }
        if (ok)
            c->caps = (c->caps | add) & ~del;
        client_sendf(c, ":%s CAP %s %s :%s\r\n", srv, c->nick, ok ? "ACK" : "NAK", m->params[1]);
    } else if (strcmp(sub, "END") == 0) {
        if (!c->registered) {
            account_cap_end(c);
            c->cap_wait = false;
            nick_try_register(c);
        }
    } else {
        reply(c, "410", "%s :Invalid CAP command", m->params[0]);
    }
}

static void cmd_pass(struct client *c, struct irc_msg *m)
{
    if (c->registered) {
        reply(c, "462", ":You may not reregister");
        return;
    }
    char why[160];
    if (client_password_refused(c, why, sizeof why)) {
        reply(c, "464", ":%s", why);
        return;
    }
    const char *want = W.cfg->password;
    size_t a = strlen(want), b = strlen(m->params[0]);
    /* Compare in time independent of where the first difference is. */
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < b ? m->params[0][i] : 0);
    c->pass_ok = diff == 0 || a == 0;
}

static void cmd_nick(struct client *c, struct irc_msg *m)
{
    const char *nick = m->params[0];
    if (!nick[0]) {
        reply(c, "431", ":No nickname given");
        return;
    }
    if (!irc_nick_valid(nick, strlen(nick))) {
        reply(c, "432", "%s :Erroneous nickname", nick);
        return;
    }
    if (account_nick_refused(c, nick))
        return;
    if (c->got_nick && strcmp(nick, c->nick) == 0)
        return;
    nick_request(c, nick);
}

static void cmd_user(struct client *c, struct irc_msg *m)
{
    if (c->registered || c->got_user) {
        reply(c, "462", ":You may not reregister");
        return;
    }
    if (!m->params[3][0] || !m->params[0][0]) {   /* RFC 2812: all four, realname not empty */
        reply(c, "461", "USER :Not enough parameters");
        return;
    }
    /* Keep the ident printable and short; it is shown to everyone. */
    size_t n = 0;
    c->user[n++] = '~';
    for (const char *p = m->params[0]; *p && n < 10; p++)
        if ((unsigned char)*p > 0x20 && *p != '@' && *p != '!' && (unsigned char)*p < 0x7f)
            c->user[n++] = *p;
    if (n == 1)
        c->user[n++] = 'u';
    c->user[n] = '\0';
    utf8_copy(c->realname, sizeof c->realname, m->params[3]);
    c->got_user = true;
    nick_try_register(c);
}

static void cmd_ping(struct client *c, struct irc_msg *m)
{
    client_sendf(c, ":%s PONG %s :%s\r\n", W.cfg->server_name, W.cfg->server_name, m->params[0]);
}

static void cmd_pong(struct client *c, struct irc_msg *m)
{
    (void)c;   /* any line resets the ping timer (client.c) */
}

/* Reasons (QUIT, PART, KICK) are cut to this many bytes, between characters. */
#define REASON_MAX 300

static void cmd_quit(struct client *c, struct irc_msg *m)
{
    char said[REASON_MAX + 1], reason[REASON_MAX + 8];
    utf8_copy(said, sizeof said, m->nparams ? m->params[0] : "");
    snprintf(reason, sizeof reason, "Quit: %s", said);
    client_close(c, reason);
}

static void cmd_away(struct client *c, struct irc_msg *m)
{
    free(c->away);
    c->away = NULL;
    if (m->nparams && m->params[0][0]) {
        c->away = strndup(m->params[0], utf8_cut(m->params[0], strlen(m->params[0]), 200));
        PARLOR_ASSERT(c->away != NULL);
        reply(c, "306", ":You have been marked as being away");
    } else {
        reply(c, "305", ":You are no longer marked as being away");
    }
    user_changed(c, USER_AWAY);        /* away-notify, extended-monitor */
}

/* SETNAME :realname (setname): the new realname goes to the rooms' members
 * on every worker (worker/userstate.c); NAMELEN bytes at most. */
static void cmd_setname(struct client *c, struct irc_msg *m)
{
    const char *name = m->params[0];
    size_t n = strlen(name);
    if (!n || n > REALNAME_MAX || !utf8_valid(name, n)) {
        client_sendf(c, ":%s FAIL SETNAME INVALID_REALNAME :Realname is not valid\r\n",
                     W.cfg->server_name);
        return;
    }
    snprintf(c->realname, sizeof c->realname, "%s", name);
    user_changed(c, USER_SETNAME);
}

/* Split a comma list in place; returns the count (at most max). */
static int split_commas(char *s, char **out, int max)
{
    int n = 0;
    for (char *save, *tok = strtok_r(s, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
        out[n++] = tok;
    return n;
}

static bool is_channel(const char *s) { return s[0] == '#'; }

static bool in_channel(struct client *c, const char *name)
{
    for (int i = 0; i < c->nchans; i++)
        if (irc_casecmp(c->chans[i]->name, name) == 0)
            return true;
    return false;
}

static void cmd_join(struct client *c, struct irc_msg *m)
{
    if (strcmp(m->params[0], "0") == 0) {
        /* Copy the names: a channel we own is left (and maybe freed) at once. */
        int n = c->nchans;
        char (*names)[IRC_CHANNEL_MAX + 1] = malloc((size_t)(n ? n : 1) * sizeof *names);
        PARLOR_ASSERT(names != NULL);
        for (int i = 0; i < n; i++)
            memcpy(names[i], c->chans[i]->name, sizeof names[i]);
        for (int i = 0; i < n; i++)
            chan_request(c, CHAN_PART, names[i], "Left all channels", NULL);
        free(names);
        return;
    }
    char *names[64], *keys[64];
    int n = split_commas(m->params[0], names, 64);
    int nk = m->nparams > 1 ? split_commas(m->params[1], keys, 64) : 0;
    for (int i = 0; i < n; i++) {
        if (!irc_channel_valid(names[i], strlen(names[i]))) {
            reply(c, "403", "%s :No such channel", names[i]);
            continue;
        }
        if (in_channel(c, names[i]) || client_pjoin_has(c, names[i]))
            continue;
        /* JOINs still on their way count: pipelined JOINs cannot pass the limit. */
        if (c->nchans + c->npjoins >= W.cfg->max_channels_per_client) {
            reply(c, "405", "%s :You have joined too many channels", names[i]);
            continue;
        }
        client_pjoin_add(c, names[i]);
        replay_join_asked(c, names[i]);   /* first: a room of ours answers at once */
        chan_request(c, CHAN_JOIN, names[i], i < nk ? keys[i] : "",
                     client_invited(c, names[i]) ? "invited" : NULL);
    }
}

static void cmd_part(struct client *c, struct irc_msg *m)
{
    char *names[64];
    int n = split_commas(m->params[0], names, 64);
    if (m->nparams > 1)
        m->params[1][utf8_cut(m->params[1], strlen(m->params[1]), REASON_MAX)] = '\0';
    for (int i = 0; i < n; i++) {
        if (!irc_channel_valid(names[i], strlen(names[i]))) {
            reply(c, "403", "%s :No such channel", names[i]);
            continue;
        }
        chan_request(c, CHAN_PART, names[i], m->nparams > 1 ? m->params[1] : "", NULL);
    }
}

static void message(struct client *c, struct irc_msg *m, const char *cmd)
{
    bool notice = cmd[0] != 'P';        /* NOTICE and TAGMSG: no error replies */
    bool tagmsg = cmd[0] == 'T';
    if (m->nparams < 1 || !m->params[0][0]) {
        if (!notice)
            reply(c, "411", ":No recipient given (%s)", cmd);
        return;
    }
    if (!tagmsg && (m->nparams < 2 || !m->params[1][0])) {
        if (!notice)
            reply(c, "412", ":No text to send");
        return;
    }
    char *targets[MAX_TARGETS + 1];
    int n = split_commas(m->params[0], targets, MAX_TARGETS + 1);
    if (n > MAX_TARGETS) {
        if (!notice)
            reply(c, "407", "%s :Too many recipients", m->params[0]);
        return;
    }
    c->last_active = W.now;
    W.stats.messages_in++;
    const char *text = tagmsg ? "" : m->params[1];
    /* Client-only tags ("+typing=active") travel as they came (escaped)
     * with the message to message-tags clients; the server's own tags are
     * never taken from clients.  The whole tag data is at most
     * IRC_CLIENT_TAGS_MAX bytes (client.c refuses longer with 417). */
    char ctags[IRC_TAGS_MAX + 1];
    irc_client_tags(m->tags ? m->tags : "", ctags, sizeof ctags);
    c->pending_ctags = ctags;
    for (int i = 0; i < n; i++) {
        const char *t = targets[i];
        if (is_channel(t)) {
            if (n == 1 && !tagmsg)
                order_note_message();      /* may be pipelined (worker/order.c) */
            chan_request(c, CHAN_MSG, t, cmd, text);
            continue;
        }
        if (t[0] == '$' && !tagmsg) {          /* $* or $server: operators only */
            oper_global_message(c, cmd, t, text);
            continue;
        }
        if (!irc_nick_valid(t, strlen(t))) {
            if (!notice)
                reply(c, "401", "%s :No such nick/channel", t);
            continue;
        }
        if (service_message(c, t, cmd, text))   /* NickServ, HistServ, GameServ */
            continue;
        char msgid[17];
        store_new_msgid(msgid);
        /* The echo of a stored message comes from the recipient's worker once
         * it is durable; a TAGMSG is not stored, so it is echoed now. */
        to_nick(TO_NICK_MSG, t, c, cmd, text, msgid, ctags);
        if (tagmsg && (c->caps & CAP_ECHO_MESSAGE)) {
            char prefix[256];
            client_prefix(c, prefix, sizeof prefix);
            struct msgline ml = { .time = W.now, .msgid = msgid, .ctags = ctags, .source = prefix,
                                  .command = cmd, .target = t, .text = NULL,
                                  .account = c->account, .bot = c->bot };
            send_msgline(c, &ml);
        }
    }
    c->pending_ctags = NULL;
}

static void cmd_tagmsg(struct client *c, struct irc_msg *m) { message(c, m, "TAGMSG"); }

static void cmd_privmsg(struct client *c, struct irc_msg *m) { message(c, m, "PRIVMSG"); }
static void cmd_notice(struct client *c, struct irc_msg *m) { message(c, m, "NOTICE"); }

static void cmd_topic(struct client *c, struct irc_msg *m)
{
    if (m->nparams > 1)
        chan_request(c, CHAN_TOPIC, m->params[0], m->params[1], "set");
    else
        chan_request(c, CHAN_TOPIC, m->params[0], "", NULL);
}

static void cmd_names(struct client *c, struct irc_msg *m)
{
    if (m->nparams == 0) {
        reply(c, "366", "* :End of NAMES list");
        return;
    }
    char *names[8];
    int n = split_commas(m->params[0], names, 8);
    for (int i = 0; i < n; i++)
        chan_request(c, CHAN_NAMES, names[i], "", NULL);
}

static void user_mode(struct client *c, struct irc_msg *m)
{
    if (irc_casecmp(m->params[0], c->nick) != 0) {
        reply(c, "502", ":Cannot change mode for other users");
        return;
    }
    if (m->nparams > 1) {
        bool plus = true;
        for (const char *p = m->params[1]; *p; p++) {
            if (*p == '+' || *p == '-')
                plus = *p == '+';
            else if (*p == 'i') {
                bool changed = c->invisible != plus;
                c->invisible = plus;
                lusers_changed();
                if (changed)
                    user_changed(c, USER_INVISIBLE);   /* members' records (NAMES) */
            } else if (*p == 'w')
                c->wallops = plus;
            else if (*p == 'o') {
                if (!plus)                 /* +o only through OPER (ignored, RFC 2812) */
                    oper_drop(c);
            } else if (*p == 'B' && c->bot != plus) {   /* bot-mode (ISUPPORT BOT=B) */
                c->bot = plus;
                user_changed(c, USER_BOT);
            } else if (*p == 'B')
                continue;
            else
                reply(c, "501", ":Unknown MODE flag");
        }
    }
    char modes[8];
    oper_user_modes(c, modes, sizeof modes);
    reply(c, "221", "%s", modes);
}

static void cmd_mode(struct client *c, struct irc_msg *m)
{
    if (!is_channel(m->params[0])) {
        user_mode(c, m);
        return;
    }
    /* Re-join the mode string and its arguments into arg1 for the owner,
     * separated by '\n' (no parameter can hold one): an empty parameter or
     * one with spaces reaches the owner as it was sent. */
    char modes[512] = "";
    size_t len = 0;
    for (int i = 1; i < m->nparams; i++) {
        int w = snprintf(modes + len, sizeof modes - len, "%s%s", i > 1 ? "\n" : "", m->params[i]);
        if (w < 0 || (size_t)w >= sizeof modes - len)
            break;
        len += (size_t)w;
    }
    chan_request(c, CHAN_MODE, m->params[0], modes, NULL);
}

static void cmd_kick(struct client *c, struct irc_msg *m)
{
    char *users[8];
    int n = split_commas(m->params[1], users, 8);
    if (m->nparams > 2)
        m->params[2][utf8_cut(m->params[2], strlen(m->params[2]), REASON_MAX)] = '\0';
    for (int i = 0; i < n; i++)
        chan_request(c, CHAN_KICK, m->params[0], users[i], m->nparams > 2 ? m->params[2] : c->nick);
}

static void cmd_invite(struct client *c, struct irc_msg *m)
{
    if (!irc_nick_valid(m->params[0], strlen(m->params[0]))) {
        reply(c, "401", "%s :No such nick/channel", m->params[0]);
        return;
    }
    chan_request(c, CHAN_INVITE, m->params[1], m->params[0], NULL);
}

static void cmd_whois(struct client *c, struct irc_msg *m)
{
    /* WHOIS [server] nick: the last parameter is the nick. */
    const char *nick = m->params[m->nparams - 1];
    char *nicks[2];
    char tmp[IRC_LINE_MAX + 1];
    snprintf(tmp, sizeof tmp, "%s", nick);
    if (split_commas(tmp, nicks, 2) < 1)
        return;
    if (!irc_nick_valid(nicks[0], strlen(nicks[0]))) {
        reply(c, "401", "%s :No such nick/channel", nicks[0]);
        reply(c, "318", "%s :End of WHOIS list", nicks[0]);
        return;
    }
    if (service_whois(c, nicks[0]))
        return;
    to_nick(TO_NICK_WHOIS, nicks[0], c, NULL, NULL, NULL, NULL);
}

static void cmd_list(struct client *c, struct irc_msg *m)
{
    reply(c, "321", "Channel :Users  Name");
    ask_start(c, ASK_LIST, -1, m->nparams ? m->params[0] : "", NULL);   /* worker/ask.c */
}

static void cmd_time(struct client *c, struct irc_msg *m)
{
    time_t now = (time_t)W.now;
    struct tm tm;
    gmtime_r(&now, &tm);
    char when[64];
    strftime(when, sizeof when, "%A %B %d %Y -- %H:%M:%S +00:00", &tm);
    reply(c, "391", "%s :%s", W.cfg->server_name, when);
}

static void cmd_motd(struct client *c, struct irc_msg *m) { send_motd(c); }

static void cmd_version(struct client *c, struct irc_msg *m)
{
    if (W.cfg->show_internals)
        reply(c, "351", "parlor-%s %s :prefork IRC server, %d workers", PARLOR_VERSION,
              W.cfg->server_name, W.nworkers);
    else
        reply(c, "351", "parlor-%s %s :Parlor chat server", PARLOR_VERSION, W.cfg->server_name);
}

/* Sorted by name (bsearch). */
static const struct command commands[] = {
    { "AUTHENTICATE", account_authenticate, 1, 0 },
    { "AWAY",     cmd_away,     0, NEED_REG },
    { "CAP",      cmd_cap,      1, 0 },
    { "CHATHISTORY", history_command, 0, NEED_REG },   /* worker/history.c */
    { "INVITE",   cmd_invite,   2, NEED_REG },
    { "JOIN",     cmd_join,     1, NEED_REG },
    { "KICK",     cmd_kick,     2, NEED_REG },
    { "KILL",     oper_kill,    1, NEED_REG },     /* worker/oper.c */
    { "LIST",     cmd_list,     0, NEED_REG },
    { "LUSERS",   lusers_command, 0, NEED_REG },  /* worker/lusers.c */
    { "MODE",     cmd_mode,     1, NEED_REG },
    { "MONITOR",  monitor_command, 1, NEED_REG },   /* worker/monitor.c */
    { "MOTD",     cmd_motd,     0, NEED_REG },
    { "NAMES",    cmd_names,    0, NEED_REG },
    { "NICK",     cmd_nick,     0, 0 },
    { "NOTICE",   cmd_notice,   0, NEED_REG },
    { "OPER",     oper_command, 2, NEED_REG },     /* worker/oper.c */
    { "PART",     cmd_part,     1, NEED_REG },
    { "PASS",     cmd_pass,     1, 0 },
    { "PING",     cmd_ping,     1, 0 },
    { "PONG",     cmd_pong,     0, 0 },
    { "PRIVMSG",  cmd_privmsg,  0, NEED_REG },
    { "QUIT",     cmd_quit,     0, 0 },
    { "SETNAME",  cmd_setname,  1, NEED_REG },
    { "TAGMSG",   cmd_tagmsg,   1, NEED_REG },
    { "TIME",     cmd_time,     0, NEED_REG },
    { "TOPIC",    cmd_topic,    1, NEED_REG },
    { "USER",     cmd_user,     4, 0 },
    { "USERHOST", userhost_command, 1, NEED_REG },  /* worker/who.c */
    { "VERSION",  cmd_version,  0, NEED_REG },
    { "WALLOPS",  oper_wallops, 1, NEED_REG },     /* worker/oper.c */
    { "WHO",      who_command,  0, NEED_REG },       /* worker/who.c */
    { "WHOIS",    cmd_whois,    1, NEED_REG },
    { "WHOWAS",   whowas_command, 0, NEED_REG },     /* worker/whowas.c */
};

static int cmp_command(const void *key, const void *elem)
{
    return strcmp(key, ((const struct command *)elem)->name);
}

static const struct command *find_command(const char *command, char *name, size_t cap)
{
    size_t n = 0;
    for (const char *p = command; *p && n + 1 < cap; p++)
        name[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    name[n] = '\0';
    return bsearch(name, commands, sizeof commands / sizeof commands[0], sizeof commands[0],
                   cmp_command);
}

/* The label of a labeled command (labeled-response needs batch), or NULL. */
static const char *find_label(struct client *c, const struct irc_msg *m, char *lab, size_t cap)
{
    if (!m->tags || !(c->caps & CAP_LABELED_RESPONSE) || !(c->caps & CAP_BATCH))
        return NULL;
    const char *label = NULL;
    char copy[IRC_TAGS_MAX + 1];
    snprintf(copy, sizeof copy, "%s", m->tags);
    for (char *save, *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
        if (strncmp(tok, "label=", 6) == 0 && tok[6] && strlen(tok + 6) < cap && !strpbrk(tok + 6, " \\")) {
            snprintf(lab, cap, "%s", tok + 6);
            label = lab;
        }
    return label;
}

/* A command with a list of targets becomes one step per target, queued in
 * c->steps and run in order by client_process_input, each waiting for the
 * one before it (JOIN #a,#b key1,key2 -> JOIN #a :key1, JOIN #b :key2).
 * Returns false when there is nothing to split (one target, or more than
 * the command takes: it answers that itself). */
static bool split_steps(struct client *c, const char *name, const struct irc_msg *m)
{
    const struct target_list *tl = NULL;
    for (size_t i = 0; i < sizeof target_lists / sizeof target_lists[0]; i++)
        if (strcmp(target_lists[i].name, name) == 0)
            tl = &target_lists[i];
    if (!tl)
        return false;
    int li = tl->list, ki = tl->keys;
    if (li < 0 || li >= m->nparams || !strchr(m->params[li], ','))
        return false;
    /* MODE: only the queries (modes, ban list) take several rooms. */
    if (strcmp(name, "MODE") == 0 &&
        !(m->nparams == 1 || (m->nparams == 2 && (strcmp(m->params[1], "b") == 0 ||
                                                  strcmp(m->params[1], "+b") == 0))))
        return false;
    char list[IRC_LINE_LIMIT + 1], keys[IRC_LINE_LIMIT + 1] = "";
    snprintf(list, sizeof list, "%s", m->params[li]);
    if (ki >= 0 && ki < m->nparams)
        snprintf(keys, sizeof keys, "%s", m->params[ki]);
    char *items[65], *keyv[65];
    int n = split_commas(list, items, 65);
    int nk = keys[0] ? split_commas(keys, keyv, 65) : 0;
    if (n < 2 || n > tl->max)
        return false;
    for (int i = 0; i < n; i++)          /* a middle parameter cannot start with ':' */
        if ((items[i][0] == ':' && li < m->nparams - 1) || (i < nk && keyv[i][0] == ':' && ki < m->nparams - 1))
            return false;
    for (int i = 0; i < n; i++) {
        struct buf *b = &c->steps;
        if (m->tags)
            buf_appendf(b, "@%s ", m->tags);
        buf_append_str(b, m->command);
        int last = m->nparams - 1;
        if (ki == last && i >= nk)
            last--;                        /* no key for this one */
        for (int p = 0; p <= last; p++) {
            const char *v = p == li ? items[i] : p == ki ? keyv[i] : m->params[p];
            buf_appendf(b, p == last ? " :%s" : " %s", v);
        }
        buf_append_byte(b, '\n');
    }
    return true;
}

static void run(struct client *c, struct irc_msg *m, bool step)
{
    char name[32];
    const struct command *cmd = find_command(m->command, name, sizeof name);
    if (!cmd) {
        reply(c, "421", "%s :Unknown command", m->command);
        return;
    }
    if ((cmd->flags & NEED_REG) && !c->registered) {
        reply(c, "451", ":You have not registered");
        return;
    }
    if (m->nparams < cmd->min_params) {
        reply(c, "461", "%s :Not enough parameters", name);
        return;
    }
    if (strcmp(name, "NICK") == 0 && m->nparams == 0) {
        reply(c, "431", ":No nickname given");
        return;
    }
    if (!step && split_steps(c, name, m))
        return;
    cmd->fn(c, m);
}

/* One line from the client.  Its replies, wherever they come from, reach
 * the client before those of the next line (worker/order.c). */
void command_dispatch(struct client *c, char *line)
{
    struct irc_msg m;
    if (irc_parse(line, &m) < 0)
        return;                        /* empty line: silently ignored (RFC 2812) */
    char lab[65];
    const char *label = find_label(c, &m, lab, sizeof lab);
    if (label)
        label_begin(c, label);
    order_begin(c);
    run(c, &m, false);
    order_end(c);
}

/* The next step of a command split by split_steps. */
void command_run_step(struct client *c)
{
    const char *nl = memchr(c->steps.data, '\n', c->steps.len);
    size_t n = nl ? (size_t)(nl - c->steps.data) : c->steps.len;
    char *line = malloc(n + 1);
    PARLOR_ASSERT(line != NULL);
    memcpy(line, c->steps.data, n);
    line[n] = '\0';
    buf_consume(&c->steps, nl ? n + 1 : n);
    struct irc_msg m;
    order_begin(c);
    if (irc_parse(line, &m) == 0)
        run(c, &m, true);
    order_end(c);
    free(line);
}
