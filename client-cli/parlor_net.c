/* parlor: the connection to the server.
 *
 * Resolve (uv_getaddrinfo), connect (uv_tcp_connect, each address in turn),
 * then register: CAP LS 302, NICK, USER; request the capabilities we use
 * from those offered; with an account, SASL PLAIN before CAP END.  Lines
 * are split on LF (a CR before it is dropped), parsed with common/irc.c and
 * handed to the mode (struct mode_ops) after the few this layer answers
 * itself: PING, CAP, AUTHENTICATE, 433 during registration.
 *
 * With --tls the bytes go through common/tls.c over memory: what the
 * stream reads is fed to it, what it produces is written to the stream;
 * lines written before the handshake is done wait in a->tls_wait.
 *
 * A dead connection is noticed by the read callback (EOF or error) or by the
 * idle timer: after 90 s without a byte we send PING, after 150 s we give
 * up.  Reconnecting is the mode's decision (net_schedule_reconnect). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client-cli/parlor.h"
#include "common/log.h"
#include "common/tls.h"

#define IDLE_CHECK_MS 15000
#define IDLE_PING_MS 90000
#define IDLE_DEAD_MS 150000
#define BACKOFF_MAX_S 30
#define NICK_TRIES 5
#define SASL_CHUNK 400

struct app *app;

/* A resolve in flight.  Owned by its callback. */
struct resolve {
    uv_getaddrinfo_t req;
    struct app *a;
};

/* A connect attempt: the resolved list and the address being tried.
 * Owned by the connect callback chain; freed when it ends. */
struct attempt {
    uv_connect_t req;
    struct app *a;
    struct addrinfo *list, *cur;
    uv_tcp_t *tcp;
};

/* One queued write; freed in its callback. */
struct wreq {
    uv_write_t req;
    size_t len;
    char data[];
};

uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* ---- small text helpers ---- */

bool tag_get(const char *tags, const char *key, char *out, size_t cap)
{
    if (!tags || cap == 0)
        return false;
    size_t klen = strlen(key);
    const char *p = tags;
    while (*p) {
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        if ((size_t)(end - p) >= klen && strncmp(p, key, klen) == 0 &&
            (p[klen] == '=' || p + klen == end)) {
            const char *v = p + klen + (p[klen] == '=');
            size_t n = 0;
            for (; v < end && n + 1 < cap; v++) {
                char ch = *v;
                if (ch == '\\' && v + 1 < end) {
                    v++;
                    switch (*v) {
                    case ':': ch = ';'; break;
                    case 's': ch = ' '; break;
                    case 'r': ch = '\r'; break;
                    case 'n': ch = '\n'; break;
                    default: ch = *v; break;
                    }
                }
                out[n++] = ch;
            }
            out[n] = '\0';
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

void source_nick(const char *source, char *out, size_t cap)
{
    if (!source) {
        snprintf(out, cap, "%s", "");
        return;
    }
    size_t n = strcspn(source, "!@");
    snprintf(out, cap, "%.*s", (int)n, source);
}

void text_sanitize(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        unsigned char ch = (unsigned char)*r;
        if (ch == 0x03) {                      /* mIRC colour: ^C[fg[,bg]] */
            int d = 0;
            while (d < 2 && r[1] >= '0' && r[1] <= '9') {
                r++;
                d++;
            }
            if (d && r[1] == ',' && r[2] >= '0' && r[2] <= '9') {
                r += 2;
                if (r[1] >= '0' && r[1] <= '9')
                    r++;
            }
            continue;
        }
        if (ch == 0x02 || ch == 0x0f || ch == 0x16 || ch == 0x1d || ch == 0x1e || ch == 0x1f)
            continue;                          /* bold, reset, reverse, italic, strike, underline */
        if (ch < 0x20 || ch == 0x7f)
            ch = '?';                          /* never pass terminal controls through */
        *w++ = (char)ch;
    }
    *w = '\0';
}

time_t parse_time_tag(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? 0 : t;
}

static void base64(const unsigned char *in, size_t len, struct buf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        buf_append_byte(out, tbl[(v >> 18) & 63]);
        buf_append_byte(out, tbl[(v >> 12) & 63]);
        buf_append_byte(out, i + 1 < len ? tbl[(v >> 6) & 63] : '=');
        buf_append_byte(out, i + 2 < len ? tbl[v & 63] : '=');
    }
}

/* ---- targets ---- */

struct target *target_find(struct app *a, const char *name)
{
    for (int i = 0; i < a->ntargets; i++)
        if (irc_casecmp(a->targets[i].name, name) == 0)
            return &a->targets[i];
    return NULL;
}

struct target *target_add(struct app *a, const char *name)
{
    struct target *t = target_find(a, name);
    if (t)
        return t;
    if (a->ntargets >= PARLOR_TARGETS_MAX || !name[0] || strlen(name) >= PARLOR_NAME_MAX)
        return NULL;
    t = &a->targets[a->ntargets++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->is_room = name[0] == '#';
    return t;
}

void target_remove(struct app *a, const char *name)
{
    struct target *t = target_find(a, name);
    if (!t)
        return;
    int i = (int)(t - a->targets);
    memmove(&a->targets[i], &a->targets[i + 1],
            (size_t)(a->ntargets - i - 1) * sizeof a->targets[0]);
    a->ntargets--;
}

void target_seen(struct app *a, const char *name, const char *msgid)
{
    struct target *t = target_find(a, name);
    if (t && msgid && msgid[0])
        snprintf(t->last_msgid, sizeof t->last_msgid, "%s", msgid);
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
    free(req->data);
}

static void write_stream(struct app *a, const char *data, size_t len)
{
    struct wreq *w = malloc(sizeof *w + len);
    PARLOR_ASSERT(w != NULL);
    memcpy(w->data, data, len);
    w->len = len;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)a->tcp, &b, 1, on_written) < 0)
        free(w);
}

/* Write what TLS has for the network. */
static void tls_pump(struct app *a)
{
    char out[16384];
    for (size_t n; a->tlsc && (n = tls_take_output(a->tlsc, out, sizeof out)) > 0;)
        write_stream(a, out, n);
}

static void send_raw(struct app *a, const char *data, size_t len)
{
    if (!a->tcp || !a->connected)
        return;
    if (!a->tlsc) {
        write_stream(a, data, len);
        return;
    }
    if (!tls_ready(a->tlsc)) {
        buf_append(&a->tls_wait, data, len);
        return;
    }
    while (len > 0) {
        ssize_t n = tls_write(a->tlsc, data, len);
        tls_pump(a);
        if (n <= 0)
            break;
        data += n;
        len -= (size_t)n;
    }
}

void net_sendf(struct app *a, const char *fmt, ...)
{
    char line[IRC_LINE_MAX + 3];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 3 ? (size_t)n : sizeof line - 3;
    /* A line never carries CR or LF inside: that would be a second command. */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\r' || line[i] == '\n')
            line[i] = ' ';
    line[len++] = '\r';
    line[len++] = '\n';
    send_raw(a, line, len);
}

int net_privmsg(struct app *a, const char *target, const char *text)
{
    int sent = 0;
    size_t len = strlen(text);
    size_t pos = 0;
    while (pos < len) {
        size_t n = len - pos;
        size_t skip = 0;
        if (n > PARLOR_TEXT_MAX) {
            n = PARLOR_TEXT_MAX;
            while (n > 0 && ((unsigned char)text[pos + n] & 0xc0) == 0x80)
                n--;
            /* Cut at the last space when there is one in the second half:
             * words stay whole; the space itself is not sent. */
            size_t sp = n;
            while (sp > n / 2 && text[pos + sp] != ' ')
                sp--;
            if (sp > n / 2) {
                n = sp;
                skip = 1;
            }
        }
        net_sendf(a, "PRIVMSG %s :%.*s", target, (int)n, text + pos);
        pos += n + skip;
        sent++;
    }
    return sent;
}

/* ---- closing ---- */

static void on_tcp_closed(uv_handle_t *h)
{
    free(h);
}

/* Close the socket and forget the connection's state (no callback). */
static void drop_connection(struct app *a)
{
    tls_conn_free(a->tlsc);
    a->tlsc = NULL;
    buf_clear(&a->tls_wait);
    if (a->tcp) {
        uv_read_stop((uv_stream_t *)a->tcp);
        uv_close((uv_handle_t *)a->tcp, on_tcp_closed);
        a->tcp = NULL;
    }
    a->connected = false;
    a->registered = false;
    a->connecting = false;
    for (int i = 0; i < a->ntargets; i++)
        a->targets[i].joined = false;
}

void net_close(struct app *a, const char *reason)
{
    bool was = a->tcp != NULL || a->connecting;
    drop_connection(a);
    if (was && a->ops->disconnected)
        a->ops->disconnected(a, reason);
}

static void on_reconnect_timer(uv_timer_t *t)
{
    net_connect(t->data);
}

void net_schedule_reconnect(struct app *a)
{
    if (a->backoff_s < 1)
        a->backoff_s = 1;
    uv_timer_start(&a->reconnect_timer, on_reconnect_timer, (uint64_t)a->backoff_s * 1000, 0);
    a->backoff_s = a->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : a->backoff_s * 2;
}

void net_shutdown(struct app *a)
{
    a->quitting = true;
    if (a->tcp) {
        uv_read_stop((uv_stream_t *)a->tcp);
        uv_close((uv_handle_t *)a->tcp, on_tcp_closed);
        a->tcp = NULL;
    }
    a->connected = false;
    if (!uv_is_closing((uv_handle_t *)&a->reconnect_timer))
        uv_close((uv_handle_t *)&a->reconnect_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&a->idle_timer))
        uv_close((uv_handle_t *)&a->idle_timer, NULL);
}

/* ---- registration ---- */

static void status(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status(struct app *a, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (a->ops->status)
        a->ops->status(a, text);
}

static void fatal(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(struct app *a, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (a->ops->fatal)
        a->ops->fatal(a, text);
}

static const struct { const char *name; uint32_t bit; } wanted_caps[] = {
    { "server-time", PCAP_SERVER_TIME },
    { "message-tags", PCAP_MESSAGE_TAGS },
    { "echo-message", PCAP_ECHO_MESSAGE },
    { "batch", PCAP_BATCH },
    { "multi-prefix", PCAP_MULTI_PREFIX },
    { "draft/chathistory", PCAP_CHATHISTORY },
    { "sasl", PCAP_SASL },
    { "parlor.chat/quiet", PCAP_QUIET },    /* script mode only */
};
#define NWANTED (sizeof wanted_caps / sizeof wanted_caps[0])

/* The capabilities offered so far in a (possibly multi-line) CAP LS. */
static char offered[1024];

static bool cap_offered(const char *name)
{
    size_t n = strlen(name);
    for (const char *p = offered; (p = strstr(p, name)) != NULL; p += n)
        if ((p == offered || p[-1] == ' ') && (p[n] == ' ' || p[n] == '=' || p[n] == '\0'))
            return true;
    return false;
}

/* IRCv3 STS (parlor_sts.c): a plaintext connection asked to upgrade is
 * dropped and made again with TLS; true then.  A TLS one renews or removes
 * the remembered policy. */
static bool sts_check(struct app *a)
{
    const char *p = offered;
    while ((p = strstr(p, "sts=")) != NULL && p != offered && p[-1] != ' ')
        p += 4;
    if (!p)
        return false;
    char value[128];
    snprintf(value, sizeof value, "%.*s", (int)strcspn(p + 4, " "), p + 4);
    if (!sts_offered(a, value))
        return false;
    char err[256];
    if (net_tls_ctx(a, err, sizeof err) < 0) {
        fatal(a, "the server asks for TLS (STS) but TLS cannot start: %s", err);
        return true;
    }
    status(a, "The server asks for TLS (STS): reconnecting to %s:%d with TLS", a->host,
           a->sts_port);
    drop_connection(a);
    net_connect(a);
    return true;
}

static void cap_end(struct app *a)
{
    if (!a->cap_done) {
        a->cap_done = true;
        net_sendf(a, "CAP END");
    }
}

static void on_cap(struct app *a, struct irc_msg *m)
{
    if (m->nparams < 3)
        return;
    const char *sub = m->params[1];
    bool more = m->nparams > 3 && strcmp(m->params[2], "*") == 0;
    const char *list = m->params[m->nparams - 1];
    if (strcmp(sub, "LS") == 0) {
        size_t have = strlen(offered);
        snprintf(offered + have, sizeof offered - have, "%s%s", have ? " " : "", list);
        if (more)
            return;
        if (sts_check(a))
            return;
        char req[512] = "";
        for (size_t i = 0; i < NWANTED; i++) {
            if (wanted_caps[i].bit == PCAP_SASL && !(a->account[0] && a->password) &&
                !(a->tls_cert[0] && a->tlsc))
                continue;
            if (wanted_caps[i].bit == PCAP_QUIET && a->ops != &script_ops)
                continue;                  /* a person in a room is announced */
            if (!cap_offered(wanted_caps[i].name))
                continue;
            size_t l = strlen(req);
            snprintf(req + l, sizeof req - l, "%s%s", l ? " " : "", wanted_caps[i].name);
        }
        if (a->account[0] && !cap_offered("sasl")) {
            fatal(a, "the server does not offer SASL, so --account cannot log in");
            return;
        }
        if (req[0])
            net_sendf(a, "CAP REQ :%s", req);
        else
            cap_end(a);
    } else if (strcmp(sub, "ACK") == 0) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", list);
        for (char *save, *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
            for (size_t i = 0; i < NWANTED; i++)
                if (strcmp(tok, wanted_caps[i].name) == 0)
                    a->caps |= wanted_caps[i].bit;
        if ((a->caps & PCAP_SASL) && a->account[0] && a->password && !a->registered)
            net_sendf(a, "AUTHENTICATE PLAIN");
        else if ((a->caps & PCAP_SASL) && a->tls_cert[0] && !a->registered)
            net_sendf(a, "AUTHENTICATE EXTERNAL");   /* the client certificate */
        else
            cap_end(a);
    } else if (strcmp(sub, "NAK") == 0) {
        if (a->account[0])
            fatal(a, "the server refused the capabilities needed to log in (%s)", list);
        else
            cap_end(a);
    }
}

static void on_authenticate(struct app *a, struct irc_msg *m)
{
    if (m->nparams < 1 || strcmp(m->params[0], "+") != 0)
        return;
    if (!a->password) {
        if (a->tls_cert[0])
            net_sendf(a, "AUTHENTICATE +");     /* EXTERNAL: no authorization identity */
        return;
    }
    struct buf plain = BUF_INIT, enc = BUF_INIT;
    buf_append_str(&plain, a->account);
    buf_append_byte(&plain, '\0');
    buf_append_str(&plain, a->account);
    buf_append_byte(&plain, '\0');
    buf_append_str(&plain, a->password);
    base64((const unsigned char *)plain.data, plain.len, &enc);
    size_t pos = 0;
    while (pos < enc.len) {
        size_t n = enc.len - pos > SASL_CHUNK ? SASL_CHUNK : enc.len - pos;
        net_sendf(a, "AUTHENTICATE %.*s", (int)n, enc.data + pos);
        pos += n;
    }
    if (enc.len % SASL_CHUNK == 0)
        net_sendf(a, "AUTHENTICATE +");
    /* The password stays in memory for reconnects; wipe the copies. */
    memset(plain.data, 0, plain.len);
    memset(enc.data, 0, enc.len);
    buf_free(&plain);
    buf_free(&enc);
}

static const char *last_param(const struct irc_msg *m)
{
    return m->nparams ? m->params[m->nparams - 1] : "";
}

static void handle_line(struct app *a, char *line)
{
    struct irc_msg m;
    if (irc_parse(line, &m) < 0)
        return;
    const char *cmd = m.command;
    if (strcmp(cmd, "PING") == 0) {
        net_sendf(a, "PONG :%s", last_param(&m));
        return;
    }
    if (strcmp(cmd, "PONG") == 0)
        a->ping_sent = false;
    if (strcmp(cmd, "CAP") == 0) {
        on_cap(a, &m);
    } else if (strcmp(cmd, "AUTHENTICATE") == 0) {
        on_authenticate(a, &m);
        return;
    } else if (strcmp(cmd, "903") == 0) {
        cap_end(a);
    } else if (strcmp(cmd, "904") == 0 || strcmp(cmd, "905") == 0 || strcmp(cmd, "902") == 0 ||
               strcmp(cmd, "906") == 0 || strcmp(cmd, "908") == 0) {
        if (!a->registered && strcmp(cmd, "908") != 0) {
            fatal(a, "login %s%s failed: %s", a->account[0] ? "as " : "with the client certificate",
                  a->account, last_param(&m));
            return;
        }
    } else if (strcmp(cmd, "001") == 0) {
        a->registered = true;
        a->backoff_s = 1;
        a->servers_failed = 0;
        if (m.nparams > 0)
            snprintf(a->nick, sizeof a->nick, "%s", m.params[0]);
        a->ops->line(a, &m);
        if (a->ops->registered)
            a->ops->registered(a);
        return;
    } else if ((strcmp(cmd, "433") == 0 || strcmp(cmd, "436") == 0) && !a->registered) {
        if (++a->nick_tries > NICK_TRIES) {
            fatal(a, "the nick %s and its variants are taken", a->want_nick);
            return;
        }
        size_t l = strlen(a->nick);
        if (l + 1 < IRC_NICK_MAX && l + 1 < sizeof a->nick) {
            a->nick[l] = '_';
            a->nick[l + 1] = '\0';
        } else {
            a->nick[l - 1] = (char)('0' + a->nick_tries);
        }
        status(a, "Nick in use, trying %s", a->nick);
        net_sendf(a, "NICK %s", a->nick);
        return;
    } else if (strcmp(cmd, "FAIL") == 0 && m.nparams >= 2 && strcmp(m.params[0], "NICK") == 0 &&
               strcmp(m.params[1], "TEMPORARILY_UNAVAILABLE") == 0 && !a->registered) {
        /* The nick's owner was unreachable (a node of the network died;
         * the answer comes after the server's --owner-timeout, by when the
         * nick has a new owner): ask again. */
        if (++a->nick_tries > NICK_TRIES) {
            fatal(a, "the nick %s stays unavailable: %s", a->nick, last_param(&m));
            return;
        }
        status(a, "The nick %s is not available right now; asking again", a->nick);
        net_sendf(a, "NICK %s", a->nick);
        return;
    } else if ((strcmp(cmd, "432") == 0 || strcmp(cmd, "431") == 0) && !a->registered) {
        fatal(a, "the server refuses the nick %s: %s", a->nick, last_param(&m));
        return;
    } else if ((strcmp(cmd, "464") == 0 || strcmp(cmd, "465") == 0) && !a->registered) {
        fatal(a, "the server refused the connection: %s", last_param(&m));
        return;
    } else if (strcmp(cmd, "NICK") == 0 && m.source && m.nparams > 0) {
        char old[PARLOR_NAME_MAX];
        source_nick(m.source, old, sizeof old);
        if (irc_casecmp(old, a->nick) == 0)
            snprintf(a->nick, sizeof a->nick, "%s", m.params[0]);
    } else if (strcmp(cmd, "ERROR") == 0) {
        snprintf(a->error_line, sizeof a->error_line, "%s", last_param(&m));
    }
    a->ops->line(a, &m);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char space[65536];
    *b = uv_buf_init(space, sizeof space);
}

static void got_bytes(struct app *a, uv_stream_t *s, const char *data, size_t len);

/* Bytes from the network on a TLS connection: the handshake, then text. */
static void tls_input(struct app *a, uv_stream_t *s, const char *data, size_t len)
{
    tls_feed(a->tlsc, data, len);
    if (!tls_ready(a->tlsc)) {
        int r = tls_handshake(a->tlsc);
        tls_pump(a);
        if (r == TLS_ERROR) {
            char reason[300];
            snprintf(reason, sizeof reason, "TLS with %s:%d failed: %s", a->host, net_port(a),
                     tls_error(a->tlsc));
            net_close(a, reason);
            return;
        }
        if (r != 1)
            return;
        status(a, "Secure connection: %s, %s%s", tls_version(a->tlsc), tls_cipher(a->tlsc),
               a->tls_insecure ? " (certificate NOT verified)" : "");
        struct buf waiting = a->tls_wait;       /* written before the handshake */
        buf_init(&a->tls_wait);
        send_raw(a, waiting.data ? waiting.data : "", waiting.len);
        buf_free(&waiting);
    }
    char text[16384];
    for (;;) {
        ssize_t n = tls_read(a->tlsc, text, sizeof text);
        tls_pump(a);
        if (n > 0) {
            got_bytes(a, s, text, (size_t)n);
            if (a->tcp != (uv_tcp_t *)s || !a->tlsc)
                return;
            continue;
        }
        if (n == 0 || n == TLS_ERROR) {
            char reason[400];
            snprintf(reason, sizeof reason, n == 0 ? "the server closed the connection%s%s%s"
                     : "TLS error%s%s%s", a->error_line[0] || n ? " (" : "",
                     n ? tls_error(a->tlsc) : a->error_line, a->error_line[0] || n ? ")" : "");
            net_close(a, reason);
        }
        return;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct app *a = s->data;
    if (nread < 0) {
        char reason[400];
        if (nread == UV_EOF)
            snprintf(reason, sizeof reason, "the server closed the connection%s%s%s",
                     a->error_line[0] ? " (" : "", a->error_line, a->error_line[0] ? ")" : "");
        else
            snprintf(reason, sizeof reason, "%s", uv_strerror((int)nread));
        net_close(a, reason);
        return;
    }
    a->last_rx_ms = now_ms();
    a->ping_sent = false;
    if (a->tlsc)
        tls_input(a, s, b->base, (size_t)nread);
    else
        got_bytes(a, s, b->base, (size_t)nread);
}

/* Text from the server: split into lines and handle them. */
static void got_bytes(struct app *a, uv_stream_t *s, const char *data, size_t len_in)
{
    buf_append(&a->in, data, len_in);
    size_t start = 0;
    for (;;) {
        char *nl = memchr(a->in.data + start, '\n', a->in.len - start);
        if (!nl)
            break;
        size_t end = (size_t)(nl - a->in.data);
        size_t len = end - start;
        if (len > 0 && a->in.data[start + len - 1] == '\r')
            len--;
        char *line = malloc(len + 1);
        PARLOR_ASSERT(line != NULL);
        memcpy(line, a->in.data + start, len);
        line[len] = '\0';
        start = end + 1;
        handle_line(a, line);
        free(line);
        if (a->tcp != (uv_tcp_t *)s)
            return;                /* closed by a handler; a->in was reset */
    }
    buf_consume(&a->in, start);
}

/* ---- connecting ---- */

static void try_next(struct attempt *at);

static void on_connected(uv_connect_t *req, int st)
{
    struct attempt *at = req->data;
    struct app *a = at->a;
    if (st == UV_ECANCELED || a->quitting) {
        uv_close((uv_handle_t *)at->tcp, on_tcp_closed);
        uv_freeaddrinfo(at->list);
        free(at);
        return;
    }
    if (st < 0) {
        uv_close((uv_handle_t *)at->tcp, on_tcp_closed);
        at->tcp = NULL;
        at->cur = at->cur->ai_next;
        if (at->cur) {
            try_next(at);
            return;
        }
        char reason[300];
        snprintf(reason, sizeof reason, "cannot connect to %s:%d: %s", a->host, net_port(a),
                 uv_strerror(st));
        uv_freeaddrinfo(at->list);
        free(at);
        a->connecting = true;        /* so net_close reports it */
        net_close(a, reason);
        return;
    }
    a->tcp = at->tcp;
    a->tcp->data = a;
    uv_freeaddrinfo(at->list);
    free(at);
    a->connecting = false;
    a->connected = true;
    a->registered = false;
    a->cap_done = false;
    a->caps = 0;
    a->nick_tries = 0;
    a->error_line[0] = '\0';
    offered[0] = '\0';
    buf_clear(&a->in);
    a->last_rx_ms = now_ms();
    a->ping_sent = false;
    snprintf(a->nick, sizeof a->nick, "%s", a->want_nick);
    uv_tcp_nodelay(a->tcp, 1);
    uv_read_start((uv_stream_t *)a->tcp, on_alloc, on_read);
    if (net_use_tls(a) && a->tls_ctx) {
        if (a->tls_insecure)
            status(a, "WARNING: --tls-insecure: the server's certificate is NOT checked; "
                   "anyone in between can read and change this connection");
        a->tlsc = tls_conn_new_mem(a->tls_ctx, false, a->host);
        if (!a->tlsc) {
            net_close(a, "cannot start TLS");
            return;
        }
        tls_handshake(a->tlsc);                 /* the ClientHello */
        tls_pump(a);
    }
    net_sendf(a, "CAP LS 302");
    net_sendf(a, "NICK %s", a->nick);
    net_sendf(a, "USER %s 0 * :%s", a->account[0] ? a->account : a->want_nick,
              "parlor " PARLOR_CLIENT_VERSION);
}

static void try_next(struct attempt *at)
{
    struct app *a = at->a;
    at->tcp = malloc(sizeof *at->tcp);
    PARLOR_ASSERT(at->tcp != NULL);
    uv_tcp_init(a->loop, at->tcp);
    at->req.data = at;
    int rc = uv_tcp_connect(&at->req, at->tcp, at->cur->ai_addr, on_connected);
    if (rc < 0) {
        /* Report through the same path as an asynchronous failure. */
        uv_close((uv_handle_t *)at->tcp, on_tcp_closed);
        at->tcp = NULL;
        char reason[300];
        snprintf(reason, sizeof reason, "cannot connect to %s:%d: %s", a->host, net_port(a),
                 uv_strerror(rc));
        uv_freeaddrinfo(at->list);
        free(at);
        net_close(a, reason);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int st, struct addrinfo *res)
{
    struct resolve *r = req->data;
    struct app *a = r->a;
    free(r);
    if (a->quitting) {
        uv_freeaddrinfo(res);
        return;
    }
    if (st < 0) {
        char reason[400];
        snprintf(reason, sizeof reason, "cannot resolve %s: %s", a->host, uv_strerror(st));
        net_close(a, reason);
        return;
    }
    struct attempt *at = calloc(1, sizeof *at);
    PARLOR_ASSERT(at != NULL);
    at->a = a;
    at->list = res;
    at->cur = res;
    try_next(at);
}

static void on_idle_timer(uv_timer_t *t)
{
    struct app *a = t->data;
    if (!a->connected)
        return;
    uint64_t quiet = now_ms() - a->last_rx_ms;
    if (quiet > IDLE_DEAD_MS) {
        net_close(a, "the server stopped answering");
    } else if (quiet > IDLE_PING_MS && !a->ping_sent) {
        net_sendf(a, "PING :parlor");
        a->ping_sent = true;
    }
}

int net_port(const struct app *a)
{
    return a->sts_port && !a->tls ? a->sts_port : a->port;
}

bool net_use_tls(const struct app *a)
{
    return a->tls || a->sts_port;
}

int net_tls_ctx(struct app *a, char *err, size_t cap)
{
    if (a->tls_ctx)
        return 0;
    a->tls_ctx = tls_client_ctx(a->tls_ca[0] ? a->tls_ca : NULL, a->tls_insecure,
                                a->tls_cert[0] ? a->tls_cert : NULL, NULL, err, cap);
    return a->tls_ctx ? 0 : -1;
}

void net_connect(struct app *a)
{
    static bool timers;
    if (!timers) {
        timers = true;
        uv_timer_init(a->loop, &a->reconnect_timer);
        a->reconnect_timer.data = a;
        uv_timer_init(a->loop, &a->idle_timer);
        a->idle_timer.data = a;
        uv_timer_start(&a->idle_timer, on_idle_timer, IDLE_CHECK_MS, IDLE_CHECK_MS);
    }
    if (a->tcp || a->connecting || a->quitting)
        return;
    sts_apply(a);
    char err[256];
    if (net_use_tls(a) && net_tls_ctx(a, err, sizeof err) < 0) {
        fatal(a, "TLS: %s", err);
        return;
    }
    a->connecting = true;
    if (a->sts_port && !a->tls)
        status(a, "Connecting to %s:%d with TLS (the server's STS policy)...", a->host,
               a->sts_port);
    else
        status(a, "Connecting to %s:%d...", a->host, a->port);
    struct resolve *r = calloc(1, sizeof *r);
    PARLOR_ASSERT(r != NULL);
    r->a = a;
    r->req.data = r;
    char port[16];
    snprintf(port, sizeof port, "%d", net_port(a));
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(a->loop, &r->req, on_resolved, a->host, port, &hints);
    if (rc < 0) {
        free(r);
        char reason[300];
        snprintf(reason, sizeof reason, "cannot resolve %s: %s", a->host, uv_strerror(rc));
        net_close(a, reason);
    }
}
