/* Numeric replies, the welcome burst and MOTD. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/store.h"
#include "worker/worker_int.h"

static size_t format_numeric(char *line, size_t cap, const char *nick, const char *numeric,
                             const char *fmt, va_list ap)
{
    int n = snprintf(line, cap, ":%s %s %s ", W.cfg->server_name, numeric, nick);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    int m = vsnprintf(line + n, cap - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > cap - 1)
        len = cap - 1;          /* what vsnprintf kept */
    /* IRC lines are at most 512 bytes with CRLF; cut between characters. */
    len = utf8_cut(line, len, cap - 3 < IRC_LINE_MAX ? cap - 3 : IRC_LINE_MAX);
    line[len++] = '\r';
    line[len++] = '\n';
    return len;
}

size_t reply_format(char *line, size_t cap, const char *nick, const char *numeric,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_numeric(line, cap, nick, numeric, fmt, ap);
    va_end(ap);
    return len;
}

void reply(struct client *c, const char *numeric, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_numeric(line, sizeof line, c->nick, numeric, fmt, ap);
    va_end(ap);
    client_send(c, line, len);
}

void reply_remote(int slot, uint64_t client, const char *nick, const char *numeric,
                  const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_numeric(line, sizeof line, nick, numeric, fmt, ap);
    va_end(ap);
    send_raw(slot, client, line, len);
}

void client_prefix(const struct client *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s!%s@%s", c->nick, c->user, c->host);
}

size_t format_time_tag(double t, char *out, size_t cap)
{
    time_t sec = (time_t)t;
    struct tm tm;
    gmtime_r(&sec, &tm);
    int ms = (int)((t - (double)sec) * 1000);
    int n = snprintf(out, cap, "@time=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return n < 0 ? 0 : (size_t)n;
}

void send_motd(struct client *c)
{
    const char *motd = W.cfg->motd;
    if (!motd[0]) {
        reply(c, "422", ":MOTD File is missing");
        return;
    }
    reply(c, "375", ":- %s Message of the day -", W.cfg->server_name);
    const char *p = motd;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        reply(c, "372", ":- %.*s", (int)n, p);
        p += n;
        if (*p == '\n')
            p++;
    }
    reply(c, "376", ":End of MOTD command");
}

void send_welcome(struct client *c)
{
    const struct parlor_config *cfg = W.cfg;
    char prefix[256];
    client_prefix(c, prefix, sizeof prefix);
    reply(c, "001", ":Welcome to the %s IRC Network %s", cfg->network_name, prefix);
    reply(c, "002", ":Your host is %s, running version parlor-%s", cfg->server_name, PARLOR_VERSION);
    if (cfg->show_internals)
        reply(c, "003", ":This server is a prefork IRC server with %d workers%s", cfg->workers,
              W.cluster ? ", one node of a cluster" : "");
    else
        reply(c, "003", ":This server runs Parlor, a chat server with history and games");
    reply(c, "004", "%s parlor-%s iowB biklmnopstvz", cfg->server_name, PARLOR_VERSION);
    /* ISUPPORT: only what is implemented. */
    reply(c, "005", "AWAYLEN=200 CASEMAPPING=ascii CHANLIMIT=#:%d CHANMODES=b,k,l,imnpstz "
          "CHANNELLEN=%d CHANTYPES=# KICKLEN=390 LINELEN=%d MAXLIST=b:%d MODES=4 NETWORK=%s "
          "NICKLEN=%d PREFIX=(ov)@+ :are supported by this server",
          cfg->max_channels_per_client, IRC_CHANNEL_MAX, cfg->line_length, MAX_BANS,
          cfg->network_name, IRC_NICK_MAX);
    reply(c, "005", "CHATHISTORY=%d MSGREFTYPES=msgid,timestamp "   /* worker/history.c */
          "TARGMAX=JOIN:,PART:,PRIVMSG:4,NOTICE:4,KICK:1,NAMES:1,WHOIS:1 "
          "TOPICLEN=390 UTF8ONLY :are supported by this server", CHATHISTORY_MAX);
    reply(c, "005", "KEYLEN=%d WHOX :are supported by this server", CHAN_KEY_MAX);
    reply(c, "005", "BOT=B MONITOR=%d NAMELEN=%d :are supported by this server",  /* userstate.c, monitor.c */
          MONITOR_MAX, REALNAME_MAX);
    lusers_send(c);                     /* worker/lusers.c */
    send_motd(c);
}

int msgline_form(uint32_t caps)
{
    if (caps & CAP_MESSAGE_TAGS)
        return 2;
    return (caps & CAP_SERVER_TIME) ? 1 : 0;
}

/* A TAGMSG has no text, whichever way it came (NULL or "" from a frame). */
static bool no_text(const struct msgline *m)
{
    return !m->text || strcmp(m->command, "TAGMSG") == 0;
}

int msgline_form_for(uint32_t caps, const char *account)
{
    return msgline_form(caps) + ((caps & CAP_ACCOUNT_TAG) && account && account[0] ? 3 : 0);
}

/* The tags of a relayed line in form `form` (msgline_form_for): the
 * server's first, then the client-only ones (message-tags, "Client-only
 * tags"). */
void msgline_tags(struct buf *b, const struct msgline *m, int form)
{
    int base = form % 3;
    size_t start = b->len;
    if (base > 0) {
        char tag[64];
        size_t tl = format_time_tag(m->time, tag, sizeof tag);   /* "@time=... " */
        buf_append(b, tag, tl - 1);                              /* without the space */
        if (base == 2 && m->msgid && m->msgid[0])
            buf_appendf(b, ";msgid=%s", m->msgid);
    }
    if (form >= 3 && m->account && m->account[0])
        buf_appendf(b, "%saccount=%s", b->len > start ? ";" : "@", m->account);
    if (base == 2 && m->bot)
        buf_appendf(b, "%sbot", b->len > start ? ";" : "@");
    if (m->batch && m->batch[0])     /* batch cap without time tags too (history.c) */
        buf_appendf(b, "%sbatch=%s", b->len > start ? ";" : "@", m->batch);
    if (base == 2 && m->ctags && m->ctags[0])
        buf_appendf(b, "%s%s", b->len > start ? ";" : "@", m->ctags);
    if (b->len > start)
        buf_append_byte(b, ' ');
}

size_t msgline_format(const struct msgline *m, int form, char *out, size_t cap)
{
    struct buf b = BUF_INIT;
    msgline_tags(&b, m, form);
    if (!no_text(m))
        buf_appendf(&b, ":%s %s %s :%s\r\n", m->source, m->command, m->target, m->text);
    else
        buf_appendf(&b, ":%s %s %s\r\n", m->source, m->command, m->target);
    size_t n = b.len < cap ? b.len : cap;
    memcpy(out, b.data, n);
    if (n == cap && cap >= 2) {          /* keep a truncated line terminated */
        out[cap - 2] = '\r';
        out[cap - 1] = '\n';
    }
    buf_free(&b);
    return n;
}

void send_msgline(struct client *c, const struct msgline *m)
{
    if (no_text(m) && !(c->caps & CAP_MESSAGE_TAGS))
        return;                          /* TAGMSG only for message-tags clients */
    char line[IRC_TAGS_MAX + IRC_LINE_LIMIT + 600];
    size_t n = msgline_format(m, msgline_form_for(c->caps, m->account), line, sizeof line);
    client_send(c, line, n);
}

/* A client's own message back to it: with its own account and bot tags. */
static void send_own(struct client *c, const struct msgline *m)
{
    struct msgline own = *m;
    own.account = c->account;
    own.bot = c->bot;
    send_msgline(c, &own);
}

void send_echo(int slot, uint64_t client, const struct msgline *m)
{
    if (slot == W.slot) {
        struct client *c = client_by_id(client);
        if (c && (c->caps & CAP_ECHO_MESSAGE))
            send_own(c, m);
        return;
    }
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_ECHO);
    ipc_put_u64(b, client);
    ipc_put_u64(b, (uint64_t)(m->time * 1000.0));
    ipc_put_cstr(b, m->msgid);
    ipc_put_cstr(b, m->ctags);
    ipc_put_cstr(b, m->source);
    ipc_put_cstr(b, m->command);
    ipc_put_cstr(b, m->target);
    ipc_put_cstr(b, m->text);
    ipc_end(b, f);
}

void handle_echo_frame(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint64_t client = ipc_get_u64(&r);
    struct msgline m = { 0 };
    m.time = (double)ipc_get_u64(&r) / 1000.0;
    m.msgid = ipc_get_str(&r, NULL);
    m.ctags = ipc_get_str(&r, NULL);
    m.source = ipc_get_str(&r, NULL);
    m.command = ipc_get_str(&r, NULL);
    m.target = ipc_get_str(&r, NULL);
    m.text = ipc_get_str(&r, NULL);
    if (r.err)
        return;
    if (strcmp(m.command, "TAGMSG") == 0)
        m.text = NULL;
    if (outbox_echo_is_duplicate(m.msgid))   /* a request sent again: echoed once */
        return;
    send_echo(W.slot, client, &m);
}

void echo_unstored(struct client *c, const char *cmd, const char *target, const char *text)
{
    if (!(c->caps & CAP_ECHO_MESSAGE))
        return;
    char prefix[256], msgid[17];
    client_prefix(c, prefix, sizeof prefix);
    store_new_msgid(msgid);
    struct msgline ml = { .time = W.now, .msgid = msgid, .ctags = c->pending_ctags,
                          .source = prefix, .command = cmd, .target = target, .text = text };
    send_own(c, &ml);
}
