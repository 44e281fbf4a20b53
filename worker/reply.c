/* Numeric replies, the welcome burst and MOTD. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "worker/worker_int.h"

static size_t format_numeric(char *line, size_t cap, const char *nick, const char *numeric,
                             const char *fmt, va_list ap)
{
    int n = snprintf(line, cap, ":%s %s %s ", W.cfg->server_name, numeric, nick);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    int m = vsnprintf(line + n, cap - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > cap - 3)
        len = cap - 3;          /* truncated: still end the line */
    /* IRC lines are at most 512 bytes with CRLF. */
    if (len > IRC_LINE_MAX)
        len = IRC_LINE_MAX;
    line[len++] = '\r';
    line[len++] = '\n';
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
    reply(c, "003", ":This server is a prefork IRC server with %d workers", W.nworkers);
    reply(c, "004", "%s parlor-%s i biklmnotv", cfg->server_name, PARLOR_VERSION);
    /* ISUPPORT: only what is implemented. */
    reply(c, "005", "AWAYLEN=200 CASEMAPPING=ascii CHANLIMIT=#:%d CHANMODES=b,k,l,imnt "
          "CHANNELLEN=%d CHANTYPES=# KICKLEN=390 MAXLIST=b:%d MODES=4 NETWORK=%s NICKLEN=%d "
          "PREFIX=(ov)@+ :are supported by this server",
          cfg->max_channels_per_client, IRC_CHANNEL_MAX, MAX_BANS, cfg->network_name, IRC_NICK_MAX);
    reply(c, "005", "TARGMAX=JOIN:,PART:,PRIVMSG:4,NOTICE:4,KICK:1,NAMES:1,WHOIS:1 "
          "TOPICLEN=390 UTF8ONLY :are supported by this server");
    send_motd(c);
}
