/* Client connections: lifetime, input framing, flood control, output queue,
 * timeouts.
 *
 * Sockets are driven with uv_poll_t and plain read()/write() on the worker's
 * own buffers rather than uv_tcp_t streams: output is one contiguous byte
 * queue per client with a hard limit (sendq) and one write(2) per loop
 * iteration, and nothing is allocated per message. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "worker/worker_int.h"

/* Input kept for a client: one full line with tags and some slack. */
#define IN_MAX ((size_t)IRC_TAGS_MAX + (size_t)W.cfg->line_length)
#define READ_CHUNK 16384

static struct hmap throttled;     /* id -> client, clients paused by flood control */
static bool throttled_init;

struct client *client_by_id(uint64_t id)
{
    return hmap_get_id(&W.clients, id);
}

static void on_poll(uv_poll_t *h, int status, int events);
static void update_poll(struct client *c);

/* The socket's bytes, through TLS when the client came on a TLS listener:
 * like recv()/send(), -1 with errno EAGAIN when it would block (TLS may
 * wait for the other direction: update_poll asks for it), EPROTO when TLS
 * failed (c->tls's error says why). */
static ssize_t sock_recv(struct client *c, void *buf, size_t len)
{
    if (!c->tls)
        return recv(c->fd, buf, len, 0);
    ssize_t n = tls_read(c->tls, buf, len);
    if (n >= 0)
        return n;
    errno = n == TLS_ERROR ? EPROTO : EAGAIN;
    return -1;
}

static ssize_t sock_send(struct client *c, const void *buf, size_t len, int flags)
{
    if (!c->tls)
        return send(c->fd, buf, len, flags);
    if (!tls_ready(c->tls)) {
        errno = EAGAIN;
        return -1;
    }
    ssize_t n = tls_write(c->tls, buf, len);
    if (n >= 0)
        return n;
    errno = n == TLS_ERROR ? EPROTO : EAGAIN;
    return -1;
}

static const char *sock_error(const struct client *c, int err)
{
    return err == EPROTO && c->tls ? tls_error(c->tls) : strerror(err);
}

/* Cluster: a new worker reads no client input until it has heard the
 * network (outbox.c CLUSTER_SETTLE), so that no request is routed by a
 * partial view of who owns what. */
static bool input_allowed(void)
{
    return !W.cluster || outbox_synced();
}

void client_resume_all(void)
{
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
        update_poll(e->value);
}

static void update_poll(struct client *c)
{
    if (c->closing)
        return;
    int ev = 0;
    if (c->tls && !tls_ready(c->tls)) {       /* handshake: what it waits for */
        ev = tls_want(c->tls) == TLS_POLL_WRITE ? UV_WRITABLE : UV_READABLE;
        goto set;
    }
    /* While a command waits, more is read only while a run of messages to
     * one room goes on (worker/order.c) and no complete line is waiting
     * (it could not run yet), within the input buffer's limit. */
    bool more = !c->cmd_wait ||
                (c->pipe_room[0] && c->in.len < IN_MAX && !memchr(c->in.data ? c->in.data : "", '\n', c->in.len));
    if (!c->blocked && !c->throttled && more && input_allowed())
        ev |= UV_READABLE;
    if (c->out.len)
        ev |= UV_WRITABLE;
    if (c->tls)                               /* a read or write waits for the other */
        ev |= tls_want(c->tls) == TLS_POLL_WRITE ? UV_WRITABLE
              : tls_want(c->tls) == TLS_POLL_READ ? UV_READABLE : 0;
set:
    if (ev == c->poll_events)
        return;
    c->poll_events = ev;
    if (ev)
        uv_poll_start(&c->poll, ev, on_poll);
    else
        uv_poll_stop(&c->poll);
}

static void start_poll(struct client *c)
{
    int ev = (input_allowed() ? UV_READABLE : 0) | (c->out.len && !c->tls ? UV_WRITABLE : 0);
    c->poll_events = ev;
    uv_poll_start(&c->poll, ev, on_poll);
}

void client_accept(int fd, const char *ip, int port, bool tls)
{
    if (!throttled_init) {
        hmap_init(&throttled);
        throttled_init = true;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Cap the kernel's send buffer so --sendq bounds what a client that
     * stops reading can make us hold (the kernel would otherwise grow it to
     * several megabytes on its own). */
    int sndbuf = W.cfg->sendq < 262144 ? (int)W.cfg->sendq : 262144;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct client *c = calloc(1, sizeof *c);
    PARLOR_ASSERT(c != NULL);
    c->id = ((uint64_t)(uint32_t)W.pid << 32) | ++W.next_client;
    c->fd = fd;
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    snprintf(c->host, sizeof c->host, "%s", ip);
    c->port = port;
    strcpy(c->nick, "*");
    c->signon = c->last_recv = c->last_active = W.now;
    c->flood_tokens = W.cfg->flood_burst;
    c->flood_at = W.now;
    c->pass_ok = W.cfg->password[0] == '\0';
    if ((tls && !client_tls_wrap(c)) || uv_poll_init_socket(W.loop, &c->poll, fd) < 0) {
        log_warn("client %s:%d: cannot %s", ip, port, tls && !c->tls ? "start TLS" : "watch socket");
        client_tls_gone(c);
        close(fd);
        free(c);
        W.closed_unreported++;
        return;
    }
    c->poll.data = c;
    hmap_put_id(&W.clients, c->id, c);
    W.nclients++;
    lusers_changed();
    start_poll(c);
    session_open(c);
    log_debug("client %s:%d connected (id %llx)", ip, port, (unsigned long long)c->id);
    if (W.cfg->show_internals)          /* show-internals: the test harness reads it */
        client_sendf(c, ":%s NOTICE * :*** Connected to worker %d (pid %d)\r\n",
                     W.cfg->server_name, W.slot, (int)W.pid);
}

/* Take a client off the flush list (it may be closed after this loop
 * iteration's flush ran, and be freed before the next one). */
static void unlink_dirty(struct client *c)
{
    for (struct client **p = &W.dirty; *p; p = &(*p)->next_dirty)
        if (*p == c) {
            *p = c->next_dirty;
            break;
        }
    c->dirty = false;
}

static void on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    if (c->dirty)
        unlink_dirty(c);
    client_tls_gone(c);
    close(c->fd);
    hmap_del_id(&W.clients, c->id);
    if (throttled_init)
        hmap_del_id(&throttled, c->id);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->label_out);
    buf_free(&c->steps);
    free(c->away);
    free(c->chans);
    free(c->pjoins);
    free(c->invites);
    free(c);
    W.nclients--;
    lusers_changed();
    W.closed_unreported++;
    worker_check_stop();
}

/* Undo everything the client acquired, whatever state it reached: the
 * channels it is in or asked to join (one QUIT each; the owners tell the
 * other members, our mirrors forget it now), its nick claim (held or
 * granted before registration), its invites.  Requests still on their way
 * (a nick claim, a LIST, a history query) find the client gone by id. */
static void client_release(struct client *c, const char *reason)
{
    for (int i = 0; i < c->nchans; i++) {
        struct channel *ch = c->chans[i];
        struct member *m = chan_member_id(ch, c->id);
        if (m)
            m->local = NULL;
        chan_request(c, CHAN_QUIT, ch->name, reason, NULL);
    }
    c->nchans = 0;
    for (int i = 0; i < c->npjoins; i++)
        chan_request(c, CHAN_QUIT, c->pjoins[i], reason, NULL);
    c->npjoins = 0;
    c->ninvites = 0;
    if (c->got_nick) {
        if (hmap_get_name(&W.nicks, c->nick) == c)
            hmap_del_name(&W.nicks, c->nick);
        whowas_note(c);
        nick_release(c->nick, c->id);
        c->got_nick = false;
    }
    monitor_client_gone(c);
}

void client_close(struct client *c, const char *reason)
{
    if (c->closing)
        return;
    client_release(c, reason);
    c->closing = true;
    session_close(c, reason);
    log_debug("client %s:%d (%s) closing: %s", c->ip, c->port, c->nick, reason);
    /* Best effort: tell the client why, in one write that does not block. */
    char line[600];
    int n = snprintf(line, sizeof line, "ERROR :Closing Link: %s (%s)\r\n", c->ip, reason);
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    if (c->out.len < W.cfg->sendq)
        buf_append(&c->out, line, (size_t)n);
    ssize_t ignored = sock_send(c, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    if (c->tls)
        tls_shutdown(c->tls);
    shutdown(c->fd, SHUT_RDWR);
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_closed);
}

void client_send_unsolicited(struct client *c, const char *data, size_t len)
{
    bool was = W.unsolicited;
    W.unsolicited = true;
    client_send(c, data, len);
    W.unsolicited = was;
}

void client_send(struct client *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    if (label_capturing(c) && !W.unsolicited) {
        if (c->label_out.len + len > W.cfg->sendq) {
            buf_clear(&c->label_out);
            client_close(c, "SendQ exceeded");
            return;
        }
        buf_append(&c->label_out, data, len);
        return;
    }
    if (c->out.len + len > W.cfg->sendq) {
        log_info("client %s:%d (%s): output queue over %zu bytes, disconnecting",
                 c->ip, c->port, c->nick, W.cfg->sendq);
        buf_clear(&c->out);
        W.stats.sendq_kills++;
        client_close(c, "SendQ exceeded");
        return;
    }
    buf_append(&c->out, data, len);
    W.stats.lines_out++;
    worker_mark_dirty(c);
}

void client_sendf(struct client *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {   /* keep the line terminated, and whole characters */
        n = (int)utf8_cut(line, sizeof line - 1, sizeof line - 3);
        line[n++] = '\r';
        line[n++] = '\n';
    }
    client_send(c, line, (size_t)n);
}

void client_flush(struct client *c)
{
    if (c->closing || c->out.len == 0)
        return;
    ssize_t n = sock_send(c, c->out.data, c->out.len, MSG_NOSIGNAL);
    /* TLS writes one record at a time: go on while the socket takes them. */
    while (c->tls && n > 0 && (size_t)n < c->out.len) {
        W.stats.bytes_out += (uint64_t)n;
        buf_consume(&c->out, (size_t)n);
        n = sock_send(c, c->out.data, c->out.len, MSG_NOSIGNAL);
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            update_poll(c);
            return;
        }
        char reason[200];
        snprintf(reason, sizeof reason, "Write error: %s", sock_error(c, errno));
        buf_clear(&c->out);
        client_close(c, reason);
        return;
    }
    W.stats.bytes_out += (uint64_t)n;
    buf_consume(&c->out, (size_t)n);
    if (c->out.len == 0)
        buf_shrink(&c->out, 4096);
    update_poll(c);
}

void send_raw(int slot, uint64_t client, const char *data, size_t len)
{
    if (slot == W.slot) {
        struct client *c = client_by_id(client);
        if (c)
            client_send(c, data, len);
        return;
    }
    struct buf *b = peer_buf(slot);
    if (!b)
        return;
    size_t f = ipc_begin(b, IPC_P_RAW);
    ipc_put_u64(b, client);
    ipc_put_str(b, data, len);
    ipc_end(b, f);
}

/* The command word of a raw line, for error replies about lines we will not
 * parse (skips tags and source). */
static void command_word(const char *line, size_t len, char *out, size_t cap)
{
    size_t i = 0;
    for (int skip = 0; skip < 2 && i < len; skip++) {
        if (line[i] != (skip == 0 ? '@' : ':'))
            continue;
        while (i < len && line[i] != ' ')
            i++;
        while (i < len && line[i] == ' ')
            i++;
    }
    size_t n = 0;
    while (i < len && line[i] != ' ' && n + 1 < cap) {
        char ch = line[i++];
        if ((unsigned char)ch < 0x21 || (unsigned char)ch > 0x7e) {
            n = 0;
            break;
        }
        out[n++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    }
    if (n == 0)
        out[n++] = '*';
    out[n] = '\0';
}

static bool take_flood_token(struct client *c)
{
    if (W.cfg->flood_lines <= 0 || W.stopping)
        return true;
    c->flood_tokens += (W.now - c->flood_at) * W.cfg->flood_lines;
    c->flood_at = W.now;
    if (c->flood_tokens > W.cfg->flood_burst)
        c->flood_tokens = W.cfg->flood_burst;
    if (c->flood_tokens < 1.0)
        return false;
    c->flood_tokens -= 1.0;
    return true;
}

/* The size of the tag section ("@... ") of a line, 0 without tags; *data
 * gets the size of the tag data (without '@' and ' '). */
static size_t tags_size(const char *line, size_t len, size_t *data)
{
    *data = 0;
    if (!len || line[0] != '@')
        return 0;
    const char *sp = memchr(line, ' ', len);
    size_t tags = sp ? (size_t)(sp - line) + 1 : len;
    *data = tags - (sp ? 2 : 1);
    return tags;
}

enum line_verdict { LINE_RUN, LINE_EMPTY, LINE_TOO_LONG, LINE_BAD_TEXT, LINE_BAD_UTF8 };

/* What handle_line does with a line: the one place its checks live. */
static enum line_verdict line_verdict(const char *line, size_t len)
{
    size_t data, tags = tags_size(line, len, &data);
    if (data > IRC_CLIENT_TAGS_MAX)                    /* tag data: without "@" and " " */
        return LINE_TOO_LONG;
    if (len - tags + 2 > (size_t)W.cfg->line_length)   /* the limit counts CR LF */
        return LINE_TOO_LONG;
    if (len == 0)
        return LINE_EMPTY;
    /* A CR or NUL inside a line would let a client forge lines for
     * clients that end lines there: refused whole, like bad UTF-8. */
    if (memchr(line, '\0', len) || memchr(line, '\r', len))
        return LINE_BAD_TEXT;
    return utf8_valid(line, len) ? LINE_RUN : LINE_BAD_UTF8;
}

bool client_line_acceptable(const char *line, size_t len)
{
    return line_verdict(line, len) == LINE_RUN;
}

/* Check one complete line (without CR LF) and run it. */
static void handle_line(struct client *c, char *line, size_t len)
{
    char cmd[32];
    switch (line_verdict(line, len)) {
    case LINE_EMPTY:
        return;
    case LINE_TOO_LONG:
        reply(c, "417", ":Input line was too long");
        return;
    case LINE_BAD_TEXT:
        command_word(line, len, cmd, sizeof cmd);
        client_sendf(c, ":%s FAIL %s INVALID_TEXT :Message rejected: CR, LF and NUL are not allowed "
                     "inside a line\r\n", W.cfg->server_name, cmd);
        return;
    case LINE_BAD_UTF8:
        command_word(line, len, cmd, sizeof cmd);
        client_sendf(c, ":%s FAIL %s INVALID_UTF8 :Message rejected: not valid UTF-8 text\r\n",
                     W.cfg->server_name, cmd);
        return;
    case LINE_RUN:
        break;
    }
    len = irc_strip_controls(line, len);     /* other controls never reach anyone */
    command_dispatch(c, line);
}

void client_process_input(struct client *c)
{
    if (c->in_input)
        return;                 /* the running loop picks up where it is */
    c->in_input = true;
    size_t pos = 0;
    while (!c->closing && !c->blocked) {
        if (c->steps.len && !c->cmd_wait) {   /* the rest of a command comes first */
            command_run_step(c);
            continue;
        }
        if (pos >= c->in.len)
            break;
        char *start = c->in.data + pos;
        char *nl = memchr(start, '\n', c->in.len - pos);
        if (!nl)
            break;
        if (c->cmd_wait) {             /* worker/order.c: only another message to the room */
            size_t l = (size_t)(nl - start);
            if (l && start[l - 1] == '\r')
                l--;
            if (c->discarding || !order_may_pipeline(c, start, l))
                break;
        }
        if (c->discarding) {            /* tail of a line already refused */
            c->discarding = false;
            pos = (size_t)(nl - c->in.data) + 1;
            continue;
        }
        if (!take_flood_token(c)) {
            c->throttled = true;
            hmap_put_id(&throttled, c->id, c);
            break;
        }
        size_t len = (size_t)(nl - start);
        if (len && start[len - 1] == '\r')
            len--;
        pos = (size_t)(nl - c->in.data) + 1;
        c->last_recv = W.now;
        c->ping_sent = 0;
        handle_line(c, start, len);   /* may write a NUL at start[len] */
    }
    c->in_input = false;
    if (c->closing)
        return;
    buf_consume(&c->in, pos);
    if (c->in.len >= IN_MAX && !memchr(c->in.data, '\n', c->in.len)) {
        if (!c->discarding)           /* one 417 per line, however long */
            reply(c, "417", ":Input line was too long");
        buf_clear(&c->in);
        c->discarding = true;
    }
    if (c->in.len == 0)
        buf_shrink(&c->in, 0);
    update_poll(c);
}

void client_unblock(struct client *c)
{
    c->blocked = false;
    client_process_input(c);
}

static void read_input(struct client *c)
{
    for (int rounds = 0; rounds < 4 && !c->closing; rounds++) {
        if (c->in.len >= IN_MAX + READ_CHUNK)
            break;                      /* unprocessed input: wait for the flood gate */
        buf_reserve(&c->in, READ_CHUNK);
        ssize_t n = sock_recv(c, c->in.data + c->in.len, READ_CHUNK);
        if (n > 0) {
            c->in.len += (size_t)n;
            W.stats.bytes_in += (uint64_t)n;
            client_process_input(c);
            if (c->blocked || c->throttled || c->closing)
                break;
            if ((size_t)n < READ_CHUNK && !(c->tls && tls_pending(c->tls)))
                break;
            continue;
        }
        if (n == 0) {
            client_close(c, c->registered ? "Connection closed" : "Connection closed before registration");
            return;
        }
        if (errno == EAGAIN || errno == EINTR)
            break;
        char reason[200];
        snprintf(reason, sizeof reason, "Read error: %s", sock_error(c, errno));
        client_close(c, reason);
        return;
    }
    if (c->tls && !c->closing)
        update_poll(c);                 /* a read may wait for a write */
}

/* One step of a TLS client's handshake; once done, what waited is sent. */
static void handshake_step(struct client *c)
{
    int r = tls_handshake(c->tls);
    if (r == 1) {
        client_tls_handshake_done(c);
        client_flush(c);
        if (!c->closing)
            read_input(c);               /* IRC may have come with the handshake */
        return;
    }
    if (r == TLS_ERROR) {
        client_tls_failed(c, tls_error(c->tls));
        client_close(c, "TLS handshake failed");
        return;
    }
    update_poll(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct client *c = h->data;
    W.now = now_wall();
    if (status < 0) {
        if (c->tls && !tls_ready(c->tls))
            client_tls_failed(c, "connection error");
        client_close(c, "Connection error");
        return;
    }
    if (c->tls && !tls_ready(c->tls)) {
        handshake_step(c);
        return;
    }
    /* TLS: a read may wait for the socket to be writable (nothing queued
     * means the want came from a read), a write for it to be readable. */
    bool read_waits = c->tls && tls_want(c->tls) == TLS_POLL_WRITE && c->out.len == 0;
    if (events & UV_WRITABLE)
        client_flush(c);
    if (((events & UV_READABLE) || (read_waits && (events & UV_WRITABLE))) && !c->closing)
        read_input(c);
    if (c->tls && (events & UV_READABLE) && c->out.len && !c->closing)
        client_flush(c);
}

void client_tick(double now)
{
    /* Flood gate: resume clients that earned a token back. */
    if (throttled_init && throttled.count) {
        /* Take them all out first: resuming may throttle a client again. */
        size_t n = 0, cap = throttled.count;
        struct client **ready = malloc(cap * sizeof *ready);
        PARLOR_ASSERT(ready != NULL);
        struct hmap_iter it;
        hmap_iter_init(&it, &throttled);
        for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
            ready[n++] = e->value;
            hmap_iter_remove(&it);
        }
        for (size_t i = 0; i < n; i++) {
            struct client *c = ready[i];
            c->throttled = false;
            client_process_input(c);
            if (!c->throttled && !c->closing && !c->blocked)
                read_input(c);
        }
        free(ready);
    }
    static double last_scan;
    if (now - last_scan < 1.0)
        return;
    last_scan = now;
    const struct parlor_config *cfg = W.cfg;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *c = e->value;
        if (c->closing)
            continue;
        if (!c->registered) {
            if (now - c->signon > cfg->registration_timeout) {
                bool in_handshake = c->tls && !tls_ready(c->tls);
                if (in_handshake)
                    client_tls_failed(c, "timed out");
                client_close(c, in_handshake ? "TLS handshake timed out" : "Registration timed out");
            }
            continue;
        }
        if (c->ping_sent > 0) {
            if (now - c->ping_sent > cfg->ping_timeout) {
                char reason[64];
                snprintf(reason, sizeof reason, "Ping timeout: %d seconds", (int)(now - c->last_recv));
                client_close(c, reason);
            }
        } else if (now - c->last_recv > cfg->ping_timeout) {
            char ping[128];
            int n = snprintf(ping, sizeof ping, "PING :%s\r\n", cfg->server_name);
            client_send_unsolicited(c, ping, (size_t)n);
            c->ping_sent = now;
        }
    }
}

void client_add_channel(struct client *c, struct channel *ch)
{
    for (int i = 0; i < c->nchans; i++)
        if (c->chans[i] == ch)
            return;
    if (c->nchans == c->chans_cap) {
        c->chans_cap = c->chans_cap ? c->chans_cap * 2 : 4;
        c->chans = realloc(c->chans, (size_t)c->chans_cap * sizeof *c->chans);
        PARLOR_ASSERT(c->chans != NULL);
    }
    c->chans[c->nchans++] = ch;
}

void client_remove_channel(struct client *c, struct channel *ch)
{
    for (int i = 0; i < c->nchans; i++)
        if (c->chans[i] == ch) {
            c->chans[i] = c->chans[--c->nchans];
            return;
        }
}

/* ---- JOINs on their way, and invitations ---- */

static int pjoin_find(const struct client *c, const char *channel)
{
    for (int i = 0; i < c->npjoins; i++)
        if (irc_casecmp(c->pjoins[i], channel) == 0)
            return i;
    return -1;
}

bool client_pjoin_has(const struct client *c, const char *channel)
{
    return pjoin_find(c, channel) >= 0;
}

void client_pjoin_add(struct client *c, const char *channel)
{
    if (pjoin_find(c, channel) >= 0)
        return;
    if (c->npjoins == c->pjoins_cap) {
        c->pjoins_cap = c->pjoins_cap ? c->pjoins_cap * 2 : 4;
        c->pjoins = realloc(c->pjoins, (size_t)c->pjoins_cap * sizeof *c->pjoins);
        PARLOR_ASSERT(c->pjoins != NULL);
    }
    snprintf(c->pjoins[c->npjoins++], sizeof c->pjoins[0], "%s", channel);
}

void client_pjoin_del(struct client *c, const char *channel)
{
    int i = pjoin_find(c, channel);
    if (i >= 0)
        memcpy(c->pjoins[i], c->pjoins[--c->npjoins], sizeof c->pjoins[0]);
}

void client_invite_add(struct client *c, const char *channel)
{
    int i;
    for (i = 0; i < c->ninvites; i++)
        if (irc_casecmp(c->invites[i].channel, channel) == 0)
            break;
    if (i == c->ninvites) {
        if (!c->invites) {
            c->invites = calloc(CLIENT_INVITES_MAX, sizeof *c->invites);
            PARLOR_ASSERT(c->invites != NULL);
        }
        if (c->ninvites == CLIENT_INVITES_MAX) {   /* forget the oldest */
            memmove(c->invites, c->invites + 1, (CLIENT_INVITES_MAX - 1) * sizeof *c->invites);
            c->ninvites--;
        }
        i = c->ninvites++;
    }
    snprintf(c->invites[i].channel, sizeof c->invites[i].channel, "%s", channel);
    c->invites[i].expires = W.now + W.cfg->invite_ttl;
}

bool client_invited(const struct client *c, const char *channel)
{
    for (int i = 0; i < c->ninvites; i++)
        if (irc_casecmp(c->invites[i].channel, channel) == 0)
            return c->invites[i].expires > W.now;
    return false;
}

void client_invite_del(struct client *c, const char *channel)
{
    for (int i = 0; i < c->ninvites; i++)
        if (irc_casecmp(c->invites[i].channel, channel) == 0) {
            memmove(c->invites + i, c->invites + i + 1, (size_t)(c->ninvites - i - 1) * sizeof *c->invites);
            c->ninvites--;
            return;
        }
}
