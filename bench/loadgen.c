/* parlor-bench: a load generator for IRC servers.
 *
 * Every simulated client is one real TCP connection.  All of them are driven
 * by a single libuv loop, so the generator uses one core and leaves the
 * others to the server under test.  A client registers (NICK/USER, waits for
 * 001), joins its room if the mode needs one, and answers PING.
 *
 * Messages carry their own send time:
 *
 *     PRIVMSG #bench<room> :<sender-id> <seq> <CLOCK_MONOTONIC ns> xxxx...
 *
 * and every receiver computes the latency itself, so no clock has to be
 * shared with the server.  Each receiver keeps a bitmap of the sequence
 * numbers it saw from every sender of its room: after sending stops and the
 * drain period ends, expected deliveries minus unique receptions is the
 * number of lost messages, and a sequence number seen twice is a duplicate.
 *
 * A run has these phases (enum phase):
 *
 *   SETUP   connect clients, at most --concurrency handshakes at a time;
 *   HOLD    (idle) everyone is registered; stay connected for --hold s;
 *   RUN     senders send; the first --warmup s are not measured, then
 *           --duration s are;
 *   DRAIN   sending stopped; wait until every expected delivery arrived
 *           or --drain s passed;
 *   QUIT    send QUIT, wait up to 2 s for the server to close, close the rest.
 *
 * Senders are paced in one of two ways.  Unbounded (--rate 0): each sender
 * keeps at most --window messages in flight, "in flight" meaning sent but
 * not yet received by every member of the room, so whatever the server
 * queues (input, output, between its processes) is bounded by
 * window x room size and the peak is a throughput, not a buffer size.  Fixed rate (--rate N): a 1 ms timer hands
 * out N messages per second round-robin over the senders, still bounded by
 * the window; what the window refuses is skipped and reported.
 *
 * --ports P1,P2,...: the server is several nodes of one network; the clients
 * are split into as many consecutive blocks, block k connecting to Pk (the
 * senders are spread over the client range, so every node gets some).
 * --cpu-pid may be given once per server process tree (each node, NATS).
 *
 * --tls full|resume: every client speaks TLS (common/tls.c over memory;
 * certificates are not checked).  With `resume`, once one client is
 * registered its session is offered by every client that connects after
 * it, so connrate measures resumed handshakes.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "bench/hist.h"
#include "common/tls.h"

#include <openssl/ssl.h>

enum mode { MODE_FANOUT, MODE_ROOMS, MODE_CONNRATE, MODE_IDLE };
static const char *const mode_names[] = { "fanout", "rooms", "connrate", "idle" };

enum phase { P_SETUP, P_HOLD, P_RUN, P_DRAIN, P_QUIT, P_DONE };

enum cstate { C_NEW, C_CONNECTING, C_REGISTERING, C_READY, C_CLOSING, C_CLOSED };

#define LINE_MAX_BYTES 1024      /* longest line we keep across reads */
#define READ_CHUNK (64 * 1024)
#define MAX_PRINTED_ERRORS 10
#define MAX_CPU_PIDS 8
#define MAX_PORTS 8

struct options {
    enum mode mode;
    const char *host;
    int port;
    int clients;
    int senders;            /* -1: mode default */
    double send_share;      /* rooms: share of clients that send */
    int rooms;
    double duration;
    double warmup;
    double drain;
    double rate;            /* total msgs/s; 0 = unbounded */
    int window;             /* -1: mode default */
    int concurrency;
    int payload;            /* bytes of message text */
    double hold;
    double setup_timeout;
    const char *label;
    const char *oper_name;  /* NULL: senders do not OPER */
    const char *oper_pass;
    int cpu_pids[MAX_CPU_PIDS]; /* process trees whose CPU is sampled */
    int ncpu_pids;
    int ports[MAX_PORTS];   /* --ports: clients split in blocks over these */
    int nports;
    const char *nick_prefix;
};

/* Growable output bytes. */
struct obuf {
    char *data;
    size_t len, cap;
};

/* What one receiver saw from one sender: a bitmap of sequence numbers. */
struct track {
    uint64_t *bits;
    uint32_t nwords;
    uint32_t hi;            /* highest sequence seen + 1 */
};

/* One simulated client.  Lives in the bench's client array for the whole
 * run; its buffers are freed in on_close(). */
struct client {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct obuf out;        /* queued, not yet handed to libuv (text) */
    struct tls_conn *tls;   /* --tls */
    struct obuf enc;        /* --tls: encrypted bytes for the socket */
    struct obuf inflight;   /* owned by wreq while `writing` */
    char *partial;          /* start of a line split across reads */
    uint16_t partial_len;
    enum cstate state;
    bool writing;
    bool registered, joined, oper_done, done;
    int id;
    int room;               /* -1 when the mode has no rooms */
    int sender;             /* index into senders[], or -1 */
    uint64_t t_connect;
    char nick[32];
    struct track *tracks;   /* one per sender of the room (by slot) */
};

struct sender {
    struct client *c;
    int slot;               /* index among its room's senders */
    uint32_t sent;          /* next sequence number */
    uint32_t acked;         /* every message below this reached all receivers
                             * (or was given up on after a stall) */
    uint32_t receivers;     /* room members other than the sender, at start */
    uint32_t *pending;      /* ring of --window slots: receivers still owed
                             * message seq (slot seq % window), acked <= seq < sent */
    uint64_t last_progress;
    bool kicked;
};

struct room {
    int nsenders;
    int members;
};

struct stats {
    uint64_t sent, expected, unique, dup, reordered, misrouted;
    uint64_t offered_measured, delivered_measured;
    uint64_t disconnects, stalls, skipped, server_errors;
    struct hist lat;
};

static struct options opt = {
    .mode = MODE_FANOUT, .host = "127.0.0.1", .port = 6667, .clients = -1,
    .senders = -1, .send_share = 1.0, .rooms = -1, .duration = 10, .warmup = 1,
    .drain = 5, .rate = 0, .window = -1, .concurrency = 10, .payload = 64,
    .hold = 10, .setup_timeout = 120, .label = "server", .nick_prefix = "b",
};

static uv_loop_t *loop;
static uv_timer_t tick_timer;
static uv_check_t check_handle;
static uv_signal_t sigint_handle, sigterm_handle;
static int signals_seen;

static struct client *clients;
static struct sender *senders;
static int nsenders;
static struct room *rooms;
static struct sender **kick_list;
static int nkick;

static enum phase phase = P_SETUP;
static int next_start, in_flight, done_count, failed_count, open_handles;
static uint64_t t_setup_start, t_setup_end, t_last_reg;
static uint64_t t_run_start, t_measure_start, t_measure_end, t_drain_end, t_quit_deadline;
static uint64_t t_hold_end;
static bool sending, measuring, measure_started;
static uint64_t rate_sent;          /* messages handed out by the rate timer */
static uint32_t rr_cursor;
static uint64_t last_stall_check;
static struct stats st;
static int printed_errors;

static uint64_t srv_cpu_start[MAX_CPU_PIDS], srv_cpu_end[MAX_CPU_PIDS];  /* clock ticks, per --cpu-pid */
static bool srv_cpu_ok;
static struct rusage ru_start, ru_end;

static char read_space[LINE_MAX_BYTES + READ_CHUNK];
static struct ssl_ctx_st *tls_ctx;      /* --tls */
static bool tls_resume;                 /* --tls resume */
static SSL_SESSION *tls_session;        /* the session new clients offer */
static unsigned long tls_resumed_count, tls_full_count;

static void client_close(struct client *c);
static void start_connects(void);
static void begin_quit(void);
static void report_run(void);

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t secs_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

static void die(const char *what)
{
    fprintf(stderr, "parlor-bench: %s\n", what);
    exit(1);
}

/* ---- output ------------------------------------------------------------ */

static void obuf_append(struct obuf *o, const char *data, size_t len)
{
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + len)
            cap *= 2;
        char *p = realloc(o->data, cap);
        if (!p)
            die("out of memory");
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->len, data, len);
    o->len += len;
}

static void obuf_free(struct obuf *o)
{
    free(o->data);
    o->data = NULL;
    o->len = o->cap = 0;
}

static void flush(struct client *c);

static void on_write(uv_write_t *req, int status)
{
    struct client *c = req->data;
    c->writing = false;
    c->inflight.len = 0;
    if (c->state == C_CLOSING || c->state == C_CLOSED)
        return;
    if (status < 0) {
        client_close(c);
        return;
    }
    flush(c);
}

/* Write what is queued: directly if the socket takes it, else through one
 * uv_write at a time (further output queues behind it). */
/* TLS: encrypt the queued text (once the handshake is done) into c->enc. */
static void tls_encrypt(struct client *c)
{
    size_t done = 0;
    while (tls_ready(c->tls) && done < c->out.len) {
        ssize_t n = tls_write(c->tls, c->out.data + done, c->out.len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    memmove(c->out.data, c->out.data + done, c->out.len - done);
    c->out.len -= done;
    char tmp[16384];
    for (size_t n; (n = tls_take_output(c->tls, tmp, sizeof tmp)) > 0;)
        obuf_append(&c->enc, tmp, n);
}

static void flush(struct client *c)
{
    if (c->writing || c->state == C_CLOSING || c->state == C_CLOSED
        || c->state == C_NEW || c->state == C_CONNECTING)
        return;
    struct obuf *q = &c->out;
    if (c->tls) {
        tls_encrypt(c);
        q = &c->enc;
    }
    if (q->len == 0)
        return;
    uv_buf_t b = uv_buf_init(q->data, (unsigned)q->len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        client_close(c);
        return;
    }
    if ((size_t)n == q->len) {
        q->len = 0;
        return;
    }
    /* Hand the rest to libuv: swap buffers so the queue keeps accepting. */
    struct obuf tmp = c->inflight;
    c->inflight = *q;
    *q = tmp;
    q->len = 0;
    memmove(c->inflight.data, c->inflight.data + n, c->inflight.len - (size_t)n);
    c->inflight.len -= (size_t)n;
    b = uv_buf_init(c->inflight.data, (unsigned)c->inflight.len);
    c->wreq.data = c;
    c->writing = true;
    int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0) {
        c->writing = false;
        client_close(c);
    }
}

static void sendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(struct client *c, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    obuf_append(&c->out, line, (size_t)n);
}

/* ---- setup bookkeeping --------------------------------------------------- */

static bool mode_has_rooms(void)
{
    return opt.mode == MODE_FANOUT || opt.mode == MODE_ROOMS;
}

static void print_server_error(const struct client *c, const char *what, const char *line)
{
    if (printed_errors++ < MAX_PRINTED_ERRORS)
        fprintf(stderr, "parlor-bench: client %s: %s%s%s\n", c->nick, what,
                line ? ": " : "", line ? line : "");
    else if (printed_errors == MAX_PRINTED_ERRORS + 1)
        fprintf(stderr, "parlor-bench: (further client errors not shown)\n");
}

static void setup_check_complete(void);

static void client_setup_done(struct client *c, uint64_t now)
{
    if (c->done)
        return;
    c->done = true;
    c->state = C_READY;
    done_count++;
    in_flight--;
    t_last_reg = now;
    if (opt.mode == MODE_CONNRATE)
        hist_add(&st.lat, now - c->t_connect);
    start_connects();
    setup_check_complete();
}

static void client_setup_failed(struct client *c)
{
    if (c->done)
        return;
    c->done = true;
    failed_count++;
    in_flight--;
    start_connects();
    setup_check_complete();
}

/* ---- connection lifetime ------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
    struct client *c = h->data;
    c->state = C_CLOSED;
    obuf_free(&c->out);
    obuf_free(&c->inflight);
    obuf_free(&c->enc);
    tls_conn_free(c->tls);
    c->tls = NULL;
    free(c->partial);
    c->partial = NULL;
    c->partial_len = 0;
    open_handles--;
    if (phase == P_QUIT && open_handles == 0) {
        phase = P_DONE;
        uv_stop(loop);
    }
}

static void client_close(struct client *c)
{
    if (c->state == C_NEW || c->state == C_CLOSING || c->state == C_CLOSED)
        return;
    bool was_ready = c->state == C_READY;
    c->state = C_CLOSING;
    if (c->tls)
        tls_shutdown(c->tls);     /* else OpenSSL forgets the shared session */
    uv_close((uv_handle_t *)&c->tcp, on_close);
    if (phase == P_SETUP && !c->done) {
        client_setup_failed(c);
    } else if (was_ready && phase != P_QUIT && phase != P_DONE) {
        st.disconnects++;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct client *c = h->data;
    /* The partial line goes in front, so the new bytes continue it. */
    if (c->partial_len)
        memcpy(read_space, c->partial, c->partial_len);
    *buf = uv_buf_init(read_space + c->partial_len, READ_CHUNK);
}

static void handle_line(struct client *c, char *line, size_t len, uint64_t now);

static void read_lines(struct client *c, size_t nread, uint64_t now);

/* TLS: the handshake, then the text, through read_lines. */
static void tls_input(struct client *c, const char *data, size_t len, uint64_t now)
{
    tls_feed(c->tls, data, len);
    if (!tls_ready(c->tls)) {
        int r = tls_handshake(c->tls);
        if (r == TLS_ERROR) {
            print_server_error(c, "TLS handshake failed", tls_error(c->tls));
            client_close(c);
            return;
        }
        if (r == 1) {
            if (tls_resumed(c->tls))
                tls_resumed_count++;
            else
                tls_full_count++;
        }
    }
    for (;;) {
        if (c->partial_len)
            memcpy(read_space, c->partial, c->partial_len);
        ssize_t n = tls_read(c->tls, read_space + c->partial_len, READ_CHUNK);
        if (n > 0) {
            read_lines(c, (size_t)n, now);
            if (c->state == C_CLOSING || c->state == C_CLOSED)
                return;
            continue;
        }
        if (n == 0 || n == TLS_ERROR) {
            if (phase != P_QUIT && phase != P_DONE)
                print_server_error(c, "TLS connection ended", tls_error(c->tls));
            client_close(c);
            return;
        }
        break;
    }
    flush(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (phase != P_QUIT && phase != P_DONE) {
            if (nread == UV_EOF)
                print_server_error(c, "server closed the connection", NULL);
            else
                print_server_error(c, "read error", uv_strerror((int)nread));
        }
        client_close(c);
        return;
    }
    uint64_t now = now_ns();
    if (c->tls) {
        tls_input(c, buf->base, (size_t)nread, now);
        return;
    }
    read_lines(c, (size_t)nread, now);
}

/* nread new bytes of text at read_space + partial_len: handle the lines. */
static void read_lines(struct client *c, size_t nread, uint64_t now)
{
    size_t total = c->partial_len + nread;
    char *p = read_space, *end = read_space + total;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        char *e = nl;
        if (e > p && e[-1] == '\r')
            e--;
        *e = '\0';
        if (e > p)
            handle_line(c, p, (size_t)(e - p), now);
        if (c->state == C_CLOSING || c->state == C_CLOSED)
            return;
        p = nl + 1;
    }
    size_t rest = (size_t)(end - p);
    if (rest > LINE_MAX_BYTES) {
        print_server_error(c, "line too long, dropped", NULL);
        rest = 0;
    }
    if (rest && !c->partial) {
        c->partial = malloc(LINE_MAX_BYTES);
        if (!c->partial)
            die("out of memory");
    }
    if (rest)
        memmove(c->partial, p, rest);
    c->partial_len = (uint16_t)rest;
    flush(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    if (c->state != C_CONNECTING)
        return;
    if (status < 0) {
        print_server_error(c, "connect failed", uv_strerror(status));
        client_close(c);
        return;
    }
    c->state = C_REGISTERING;
    uv_tcp_nodelay(&c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        print_server_error(c, "read start failed", uv_strerror(r));
        client_close(c);
        return;
    }
    if (tls_ctx) {
        c->tls = tls_conn_new_mem(tls_ctx, false, NULL);
        if (!c->tls)
            die("cannot start TLS");
        if (tls_session) {           /* a copy: OpenSSL uses a TLS 1.3 session once */
            SSL_SESSION *copy = SSL_SESSION_dup(tls_session);
            SSL_set_session(tls_conn_ssl(c->tls), copy);
            SSL_SESSION_free(copy);
        }
        tls_handshake(c->tls);              /* the ClientHello */
    }
    sendf(c, "NICK %s\r\nUSER %s 0 * :parlor-bench\r\n", c->nick, c->nick);
    flush(c);
}

/* The port client `id` connects to: --port, or its block of --ports. */
static int client_port(int id)
{
    if (opt.nports == 0)
        return opt.port;
    return opt.ports[(long long)id * opt.nports / opt.clients];
}

static void client_start(struct client *c)
{
    struct sockaddr_in addr;
    if (uv_ip4_addr(opt.host, client_port(c->id), &addr) < 0)
        die("bad --host (an IPv4 address is expected)");
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    c->state = C_CONNECTING;
    c->t_connect = now_ns();
    open_handles++;
    in_flight++;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connect);
    if (r < 0) {
        print_server_error(c, "connect failed", uv_strerror(r));
        client_close(c);
    }
}

static void start_connects(void)
{
    while (phase == P_SETUP && in_flight < opt.concurrency && next_start < opt.clients)
        client_start(&clients[next_start++]);
}

/* ---- senders ------------------------------------------------------------- */

static const char pad[] =
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/* Queue one message on the sender's connection (the caller flushes). */
static void send_one(struct sender *s, uint64_t now)
{
    struct client *c = s->c;
    char text[64];
    int n = snprintf(text, sizeof(text), "%d %" PRIu32 " %" PRIu64, (int)(s - senders), s->sent, now);
    int padn = opt.payload - n - 1;
    if (padn > (int)sizeof(pad) - 1)
        padn = (int)sizeof(pad) - 1;
    if (padn > 0)
        sendf(c, "PRIVMSG #bench%d :%s %.*s\r\n", c->room, text, padn, pad);
    else
        sendf(c, "PRIVMSG #bench%d :%s\r\n", c->room, text);
    if (s->sent == s->acked)
        s->last_progress = now;
    s->pending[s->sent % (uint32_t)opt.window] = s->receivers;
    s->sent++;
    if (s->receivers == 0)
        s->acked = s->sent;
    st.sent++;
    st.expected += s->receivers;
    if (measuring)
        st.offered_measured++;
}

static bool sender_can_send(const struct sender *s)
{
    return s->c->state == C_READY && s->sent - s->acked < (uint32_t)opt.window;
}

static void sender_kick(struct sender *s)
{
    if (!s->kicked) {
        s->kicked = true;
        kick_list[nkick++] = s;
    }
}

/* After each poll: unbounded senders refill their windows, one flush each. */
static void on_check(uv_check_t *h)
{
    if (nkick == 0)
        return;
    uint64_t now = now_ns();
    int n = nkick;
    nkick = 0;
    for (int i = 0; i < n; i++) {
        struct sender *s = kick_list[i];
        s->kicked = false;
        if (!sending)
            continue;
        bool any = false;
        while (sender_can_send(s)) {
            send_one(s, now);
            any = true;
        }
        if (any)
            flush(s->c);
    }
}

/* Fixed rate: hand out what is due round-robin, bounded by the windows. */
static void rate_dispense(uint64_t now)
{
    uint64_t due = (uint64_t)(opt.rate * (double)(now - t_run_start) / 1e9);
    while (rate_sent < due) {
        struct sender *s = NULL;
        for (int tries = 0; tries < nsenders; tries++) {
            struct sender *cand = &senders[rr_cursor];
            rr_cursor = (rr_cursor + 1) % (uint32_t)nsenders;
            if (sender_can_send(cand)) {
                s = cand;
                break;
            }
        }
        if (!s) {
            /* Every window is full: the server is behind.  Drop the backlog
             * instead of bursting it later. */
            if (measuring)
                st.skipped += due - rate_sent;
            rate_sent = due;
            break;
        }
        send_one(s, now);
        sender_kick(s);     /* flushed once below */
        rate_sent++;
    }
    for (int i = 0; i < nkick; i++) {
        kick_list[i]->kicked = false;
        flush(kick_list[i]->c);
    }
    nkick = 0;
}

/* A window whose messages were all lost would never reopen. */
static void check_stalls(uint64_t now)
{
    for (int i = 0; i < nsenders; i++) {
        struct sender *s = &senders[i];
        if (s->sent != s->acked && now - s->last_progress > 1000000000ull) {
            s->acked = s->sent;
            s->last_progress = now;
            st.stalls++;
            if (opt.rate == 0)
                sender_kick(s);
        }
    }
}

/* ---- receiving ------------------------------------------------------------ */

static bool parse_u64(char **pp, uint64_t *out)
{
    char *p = *pp;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    while (*p == ' ')
        p++;
    *pp = p;
    *out = v;
    return true;
}

/* Message seq reached one more receiver: move the window when the oldest
 * outstanding messages have reached all of them. */
static void sender_delivered(struct sender *s, uint32_t seq, uint64_t now)
{
    uint32_t w = (uint32_t)opt.window;
    if (seq < s->acked || seq >= s->sent)
        return;             /* given up on after a stall */
    if (s->pending[seq % w] > 0)
        s->pending[seq % w]--;
    if (seq != s->acked)
        return;
    while (s->acked < s->sent && s->pending[s->acked % w] == 0)
        s->acked++;
    s->last_progress = now;
    if (sending && opt.rate == 0)
        sender_kick(s);
}

/* Returns true when seq was new for this receiver. */
static bool track_mark(struct client *c, struct sender *s, uint32_t seq, uint64_t now, uint64_t sent_ns)
{
    struct track *t = &c->tracks[s->slot];
    uint32_t w = seq >> 6;
    if (w >= t->nwords) {
        uint32_t n = t->nwords ? t->nwords : 16;
        while (n <= w)
            n *= 2;
        uint64_t *bits = realloc(t->bits, n * sizeof(uint64_t));
        if (!bits)
            die("out of memory");
        memset(bits + t->nwords, 0, (n - t->nwords) * sizeof(uint64_t));
        t->bits = bits;
        t->nwords = n;
    }
    uint64_t bit = 1ull << (seq & 63);
    if (t->bits[w] & bit) {
        st.dup++;
        return false;
    }
    t->bits[w] |= bit;
    st.unique++;
    if (seq + 1 < t->hi)
        st.reordered++;
    else
        t->hi = seq + 1;
    if (measuring) {
        st.delivered_measured++;
        hist_add(&st.lat, now > sent_ns ? now - sent_ns : 0);
    }
    return true;
}

static void handle_privmsg(struct client *c, char *params, uint64_t now)
{
    if (!c->tracks)
        return;             /* not ready yet (or no rooms) */
    char *p = strstr(params, " :");
    if (!p)
        return;
    p += 2;
    uint64_t sid, seq, ts;
    if (!parse_u64(&p, &sid) || !parse_u64(&p, &seq) || !parse_u64(&p, &ts))
        return;
    if (sid >= (uint64_t)nsenders)
        return;
    struct sender *s = &senders[sid];
    if (s->c->room != c->room || s->c == c) {
        st.misrouted++;
        return;
    }
    if (seq >= s->sent)
        return;             /* not ours: a stale run on the same server */
    if (track_mark(c, s, (uint32_t)seq, now, ts))
        sender_delivered(s, (uint32_t)seq, now);
}

static void maybe_ready(struct client *c, uint64_t now)
{
    if (c->joined && c->oper_done)
        client_setup_done(c, now);
}

static void on_registered(struct client *c, uint64_t now)
{
    if (c->registered)
        return;
    c->registered = true;
    if (c->tls && tls_resume && !tls_session)   /* TLS 1.3 tickets came before 001 */
        tls_session = SSL_get1_session(tls_conn_ssl(c->tls));
    if (!mode_has_rooms()) {
        client_setup_done(c, now);
        return;
    }
    if (c->sender >= 0 && opt.oper_name)
        sendf(c, "OPER %s %s\r\n", opt.oper_name, opt.oper_pass);
    else
        c->oper_done = true;
    sendf(c, "JOIN #bench%d\r\n", c->room);
}

/* Nick part of a "nick!user@host" prefix equals ours? */
static bool prefix_is_me(const struct client *c, const char *prefix, size_t len)
{
    size_t n = 0;
    while (n < len && prefix[n] != '!' && prefix[n] != '@')
        n++;
    return n == strlen(c->nick) && strncasecmp(prefix, c->nick, n) == 0;
}

static void handle_line(struct client *c, char *line, size_t len, uint64_t now)
{
    char *p = line;
    const char *prefix = NULL;
    size_t prefix_len = 0;
    if (*p == '@') {
        p = strchr(p, ' ');
        if (!p)
            return;
        while (*p == ' ')
            p++;
    }
    if (*p == ':') {
        prefix = p + 1;
        p = strchr(p, ' ');
        if (!p)
            return;
        prefix_len = (size_t)(p - prefix);
        while (*p == ' ')
            p++;
    }
    char *cmd = p;
    char *sp = strchr(p, ' ');
    size_t cmdlen = sp ? (size_t)(sp - cmd) : strlen(cmd);
    char *params = sp ? sp : cmd + cmdlen;     /* starts with ' ' or is "" */

    if (cmdlen == 7 && memcmp(cmd, "PRIVMSG", 7) == 0) {
        handle_privmsg(c, params, now);
        return;
    }
    if (cmdlen == 4 && memcmp(cmd, "PING", 4) == 0) {
        while (*params == ' ')
            params++;
        sendf(c, "PONG %s\r\n", params);
        return;
    }
    if (cmdlen == 4 && memcmp(cmd, "JOIN", 4) == 0) {
        if (prefix && prefix_is_me(c, prefix, prefix_len) && !c->joined) {
            c->joined = true;
            maybe_ready(c, now);
        }
        return;
    }
    if (cmdlen == 4 && memcmp(cmd, "MODE", 4) == 0) {
        if (c->sender >= 0 && !c->oper_done && prefix && prefix_is_me(c, prefix, prefix_len)) {
            c->oper_done = true;
            maybe_ready(c, now);
        }
        return;
    }
    if (cmdlen == 5 && memcmp(cmd, "ERROR", 5) == 0) {
        if (phase == P_QUIT || phase == P_DONE)
            return;
        print_server_error(c, "server sent", line);
        return;
    }
    if (cmdlen != 3 || cmd[0] < '0' || cmd[0] > '9')
        return;
    int num = atoi(cmd);
    switch (num) {
    case 1:
        on_registered(c, now);
        return;
    case 366:               /* end of NAMES: the JOIN is done */
        if (!c->joined && c->registered) {
            c->joined = true;
            maybe_ready(c, now);
        }
        return;
    case 381:               /* you are now an IRC operator */
        sendf(c, "MODE %s +F\r\n", c->nick);
        return;
    case 431: case 432: case 433: case 436:
        if (!c->registered) {
            size_t n = strlen(c->nick);
            if (n + 1 < sizeof(c->nick)) {
                c->nick[n] = '_';
                c->nick[n + 1] = '\0';
            }
            sendf(c, "NICK %s\r\n", c->nick);
            return;
        }
        break;
    case 422:               /* no MOTD: normal */
        return;
    case 464: case 481: case 491: case 472: case 501: case 502:
        if (c->sender >= 0 && !c->oper_done) {
            print_server_error(c, "--oper refused, sending without it", line);
            c->oper_done = true;
            maybe_ready(c, now);
            return;
        }
        break;
    default:
        break;
    }
    if (num >= 400) {
        st.server_errors++;
        print_server_error(c, "server error reply", line);
    }
}

/* ---- server CPU from /proc ------------------------------------------------ */

struct procent {
    int pid, ppid;
    uint64_t ticks;
    int root;               /* index of the root it descends from, or -1 */
};

static int root_index(int pid, const int *roots, int nroots)
{
    for (int i = 0; i < nroots; i++)
        if (roots[i] == pid)
            return i;
    return -1;
}

/* utime+stime (clock ticks) of each root and all its descendants, in
 * ticks[0..nroots-1].  Returns 0, or -ENOENT when a root is gone. */
static int proc_tree_ticks(const int *roots, int nroots, uint64_t *ticks)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    size_t n = 0, cap = 256;
    struct procent *v = malloc(cap * sizeof(*v));
    if (!v)
        die("out of memory");
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        if (!rp)
            continue;
        int ppid;
        unsigned long ut, stt;
        if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut, &stt) != 3)
            continue;
        if (n == cap) {
            cap *= 2;
            struct procent *nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                die("out of memory");
            v = nv;
        }
        v[n].pid = atoi(de->d_name);
        v[n].ppid = ppid;
        v[n].ticks = ut + stt;
        v[n].root = root_index(v[n].pid, roots, nroots);
        n++;
    }
    closedir(d);
    int found = 0;
    bool changed = true;
    for (size_t i = 0; i < n; i++)
        found += v[i].root >= 0;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (v[i].root >= 0)
                continue;
            for (size_t j = 0; j < n; j++) {
                if (v[j].root >= 0 && v[j].pid == v[i].ppid) {
                    v[i].root = v[j].root;
                    changed = true;
                    break;
                }
            }
        }
    }
    for (int r = 0; r < nroots; r++)
        ticks[r] = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].root >= 0)
            ticks[v[i].root] += v[i].ticks;
    free(v);
    return found == nroots ? 0 : -ENOENT;
}

/* ---- phases ------------------------------------------------------------- */

/* --ports: how the ready clients and the senders landed on the nodes. */
static void report_ports(void)
{
    for (int k = 0; k < opt.nports; k++) {
        int ready = 0, sending_here = 0;
        for (int i = 0; i < opt.clients; i++) {
            if (client_port(i) != opt.ports[k] || clients[i].state != C_READY)
                continue;
            ready++;
            sending_here += clients[i].sender >= 0;
        }
        printf("  port %d: %d clients ready, %d of them senders\n", opt.ports[k], ready, sending_here);
    }
}

static void start_run(void)
{
    /* Who is really in each room, and so who must receive each message. */
    for (int i = 0; i < opt.clients; i++)
        if (clients[i].state == C_READY)
            rooms[clients[i].room].members++;
    for (int i = 0; i < opt.clients; i++) {
        struct client *c = &clients[i];
        if (c->state != C_READY)
            continue;
        int ns = rooms[c->room].nsenders;
        c->tracks = calloc((size_t)(ns ? ns : 1), sizeof(struct track));
        if (!c->tracks)
            die("out of memory");
    }
    for (int i = 0; i < nsenders; i++) {
        struct sender *s = &senders[i];
        int m = rooms[s->c->room].members;
        s->receivers = (uint32_t)(m > 0 ? m - 1 : 0);
    }
    t_run_start = now_ns();
    t_measure_start = t_run_start + secs_ns(opt.warmup);
    t_measure_end = t_measure_start + secs_ns(opt.duration);
    phase = P_RUN;
    sending = true;
    if (opt.rate == 0)
        for (int i = 0; i < nsenders; i++)
            sender_kick(&senders[i]);
    printf("setup: %d of %d clients ready in %.2f s (%d failed); sending for %.1f s + %.1f s warmup\n",
           done_count, opt.clients, (double)(t_setup_end - t_setup_start) / 1e9, failed_count,
           opt.duration, opt.warmup);
    report_ports();
    fflush(stdout);
}

static void report_setup(void)
{
    double elapsed = (double)((done_count ? t_last_reg : now_ns()) - t_setup_start) / 1e9;
    double per_s = elapsed > 0 ? done_count / elapsed : 0;
    if (opt.mode == MODE_CONNRATE) {
        printf("connrate: %d of %d clients registered in %.3f s = %.0f registrations/s "
               "(concurrency %d, %d failed)\n", done_count, opt.clients, elapsed, per_s,
               opt.concurrency, failed_count);
        printf("  time from connect() to 001: p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
               hist_quantile(&st.lat, 0.5) / 1e6, hist_quantile(&st.lat, 0.9) / 1e6,
               hist_quantile(&st.lat, 0.99) / 1e6, st.lat.max_ns / 1e6);
        if (tls_ctx)
            printf("  TLS handshakes: %lu full, %lu resumed\n", tls_full_count, tls_resumed_count);
        printf("RESULT mode=connrate server=%s clients=%d registered=%d failed=%d concurrency=%d "
               "elapsed_s=%.3f registered_per_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f"
               " tls_full=%lu tls_resumed=%lu\n",
               opt.label, opt.clients, done_count, failed_count, opt.concurrency, elapsed, per_s,
               hist_quantile(&st.lat, 0.5) / 1e6, hist_quantile(&st.lat, 0.9) / 1e6,
               hist_quantile(&st.lat, 0.99) / 1e6, st.lat.max_ns / 1e6, tls_full_count,
               tls_resumed_count);
    } else {
        printf("IDLE_READY registered=%d failed=%d elapsed_s=%.3f\n", done_count, failed_count, elapsed);
    }
    fflush(stdout);
}

static void setup_check_complete(void)
{
    if (phase != P_SETUP || done_count + failed_count < opt.clients)
        return;
    t_setup_end = now_ns();
    if (done_count == 0) {
        fprintf(stderr, "parlor-bench: no client could register with %s:%d\n", opt.host, opt.port);
        begin_quit();
        return;
    }
    switch (opt.mode) {
    case MODE_CONNRATE:
        report_setup();
        begin_quit();
        break;
    case MODE_IDLE:
        report_setup();
        phase = P_HOLD;
        t_hold_end = now_ns() + secs_ns(opt.hold);
        break;
    default:
        start_run();
        break;
    }
}

static void measure_begin(void)
{
    measuring = true;
    measure_started = true;
    getrusage(RUSAGE_SELF, &ru_start);
    if (opt.ncpu_pids)
        srv_cpu_ok = proc_tree_ticks(opt.cpu_pids, opt.ncpu_pids, srv_cpu_start) == 0;
}

static void measure_end(uint64_t now)
{
    measuring = false;
    sending = false;
    t_measure_end = now;
    getrusage(RUSAGE_SELF, &ru_end);
    if (opt.ncpu_pids && srv_cpu_ok)
        srv_cpu_ok = proc_tree_ticks(opt.cpu_pids, opt.ncpu_pids, srv_cpu_end) == 0;
    phase = P_DRAIN;
    t_drain_end = now + secs_ns(opt.drain);
}

static void begin_quit(void)
{
    phase = P_QUIT;
    sending = false;
    t_quit_deadline = now_ns() + 2000000000ull;
    for (int i = 0; i < opt.clients; i++) {
        struct client *c = &clients[i];
        if (c->state == C_READY || c->state == C_REGISTERING) {
            sendf(c, "QUIT :bench done\r\n");
            flush(c);
        } else if (c->state == C_CONNECTING) {
            client_close(c);
        }
    }
    if (open_handles == 0) {
        phase = P_DONE;
        uv_stop(loop);
    }
}

static void on_tick(uv_timer_t *t)
{
    uint64_t now = now_ns();
    switch (phase) {
    case P_SETUP:
        if (now - t_setup_start > secs_ns(opt.setup_timeout)) {
            fprintf(stderr, "parlor-bench: setup timed out after %.0f s: %d ready, %d failed, %d pending\n",
                    opt.setup_timeout, done_count, failed_count, opt.clients - done_count - failed_count);
            for (int i = 0; i < opt.clients; i++) {
                struct client *c = &clients[i];
                if (!c->done) {
                    if (c->state == C_NEW) {
                        c->done = true;
                        failed_count++;
                    } else {
                        client_close(c);
                    }
                }
            }
            next_start = opt.clients;
            setup_check_complete();
        }
        break;
    case P_HOLD:
        if (now >= t_hold_end) {
            printf("RESULT mode=idle server=%s clients=%d registered=%d failed=%d setup_s=%.3f "
                   "registered_per_s=%.1f disconnects=%" PRIu64 "\n", opt.label, opt.clients, done_count,
                   failed_count, (double)(t_last_reg - t_setup_start) / 1e9,
                   done_count / ((double)(t_last_reg - t_setup_start) / 1e9), st.disconnects);
            fflush(stdout);
            begin_quit();
        }
        break;
    case P_RUN:
        if (!measure_started && now >= t_measure_start)
            measure_begin();
        if (now >= t_measure_end) {
            measure_end(now);
            break;
        }
        if (opt.rate > 0)
            rate_dispense(now);
        if (now - last_stall_check > 100000000ull) {
            last_stall_check = now;
            check_stalls(now);
        }
        break;
    case P_DRAIN:
        if (st.unique >= st.expected || now >= t_drain_end) {
            report_run();
            begin_quit();
        }
        break;
    case P_QUIT:
        if (now >= t_quit_deadline) {
            for (int i = 0; i < opt.clients; i++)
                client_close(&clients[i]);
            if (open_handles == 0) {
                phase = P_DONE;
                uv_stop(loop);
            }
        }
        break;
    case P_DONE:
        uv_stop(loop);
        break;
    }
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void report_run(void)
{
    double dur = (double)(t_measure_end - t_measure_start) / 1e9;
    if (dur <= 0)
        dur = 1e-9;
    double offered = (double)st.offered_measured / dur;
    double delivered = (double)st.delivered_measured / dur;
    double fan = st.sent ? (double)st.expected / (double)st.sent : 0;
    uint64_t lost = st.expected > st.unique ? st.expected - st.unique : 0;
    double gen_cpu = (tv_s(ru_end.ru_utime) + tv_s(ru_end.ru_stime)
                      - tv_s(ru_start.ru_utime) - tv_s(ru_start.ru_stime)) / dur * 100;
    double p50 = hist_quantile(&st.lat, 0.5) / 1e6, p90 = hist_quantile(&st.lat, 0.9) / 1e6;
    double p99 = hist_quantile(&st.lat, 0.99) / 1e6, pmax = st.lat.max_ns / 1e6;
    char rate[32];
    if (opt.rate > 0)
        snprintf(rate, sizeof(rate), "%.0f msgs/s", opt.rate);
    else
        snprintf(rate, sizeof(rate), "unbounded");

    printf("%s on %s: %d clients, %d rooms, %d senders, rate %s, window %d, %d-byte messages\n",
           mode_names[opt.mode], opt.label, done_count, opt.rooms, nsenders, rate, opt.window, opt.payload);
    printf("  offered   %10.0f msgs/s sent (each to %.1f receivers on average)\n", offered, fan);
    printf("  delivered %10.0f msgs/s received, over %.2f s\n", delivered, dur);
    printf("  latency   p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  (%" PRIu64 " samples)\n",
           p50, p90, p99, pmax, st.lat.count);
    printf("  totals    sent %" PRIu64 ", expected deliveries %" PRIu64 ", received %" PRIu64
           ", lost %" PRIu64 ", duplicates %" PRIu64 ", reordered %" PRIu64 "\n",
           st.sent, st.expected, st.unique, lost, st.dup, st.reordered);
    if (st.disconnects || st.stalls || st.skipped || st.misrouted || st.server_errors)
        printf("  problems  disconnects %" PRIu64 ", stalled windows %" PRIu64 ", skipped (rate) %" PRIu64
               ", misrouted %" PRIu64 ", error replies %" PRIu64 "\n",
               st.disconnects, st.stalls, st.skipped, st.misrouted, st.server_errors);
    printf("  generator used %.0f%% of a core\n", gen_cpu);
    char cpu[160 + 12 * MAX_CPU_PIDS] = "";
    if (opt.ncpu_pids && srv_cpu_ok) {
        double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK), ms = 0;
        char each[12 * MAX_CPU_PIDS] = "";
        size_t used = 0;
        for (int r = 0; r < opt.ncpu_pids; r++) {
            double one = (double)(srv_cpu_end[r] - srv_cpu_start[r]) * tick_ms;
            ms += one;
            used += (size_t)snprintf(each + used, sizeof(each) - used, "%s%.0f", r ? "/" : "", one);
        }
        double us_per = st.delivered_measured ? ms * 1000.0 / (double)st.delivered_measured : 0;
        printf("  server CPU %.0f ms over the measured %.2f s (%.0f%% of a core), %.3f us per delivered message\n",
               ms, dur, ms / 10.0 / dur, us_per);
        if (opt.ncpu_pids > 1)
            printf("  server CPU per --cpu-pid tree, in order: %s ms\n", each);
        snprintf(cpu, sizeof(cpu), " server_cpu_ms=%.0f server_cpu_pct=%.1f server_cpu_us_per_msg=%.4f%s%s",
                 ms, ms / 10.0 / dur, us_per, opt.ncpu_pids > 1 ? " server_cpu_ms_each=" : "",
                 opt.ncpu_pids > 1 ? each : "");
    } else if (opt.ncpu_pids) {
        printf("  server CPU: could not read /proc/%d (or another --cpu-pid)\n", opt.cpu_pids[0]);
    }
    printf("RESULT mode=%s server=%s clients=%d rooms=%d senders=%d rate=%.0f window=%d duration_s=%.3f "
           "offered_per_s=%.1f delivered_per_s=%.1f fanout=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f sent=%" PRIu64 " expected=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
           " dup=%" PRIu64 " reordered=%" PRIu64 " disconnects=%" PRIu64 " stalls=%" PRIu64
           " skipped=%" PRIu64 " misrouted=%" PRIu64 " setup_failed=%d gen_cpu_pct=%.0f%s\n",
           mode_names[opt.mode], opt.label, done_count, opt.rooms, nsenders, opt.rate, opt.window, dur,
           offered, delivered, fan, p50, p90, p99, pmax, st.sent, st.expected, st.unique, lost, st.dup,
           st.reordered, st.disconnects, st.stalls, st.skipped, st.misrouted, failed_count, gen_cpu, cpu);
    fflush(stdout);
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (++signals_seen > 1)
        _exit(130);
    if (phase != P_HOLD)    /* in HOLD a signal is how a script ends the run */
        fprintf(stderr, "parlor-bench: signal %d, finishing (again to abort)\n", signum);
    switch (phase) {
    case P_RUN:
        if (!measure_started)
            measure_begin();
        measure_end(now_ns());
        t_drain_end = now_ns();
        break;
    case P_DRAIN:
        t_drain_end = now_ns();
        break;
    case P_HOLD:
        t_hold_end = now_ns();
        break;
    case P_SETUP:
        begin_quit();
        break;
    default:
        break;
    }
}

/* ---- command line --------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: parlor-bench MODE [options]\n"
        "modes:\n"
        "  fanout    clients in few rooms (default 500 in 1), a few senders (default 5)\n"
        "  rooms     clients in many small rooms (default 1000 in 100), everyone sends\n"
        "  connrate  register --clients (default 2000) as fast as possible\n"
        "  idle      register --clients (default 10000), print IDLE_READY, hold --hold s\n"
        "  freeport  print a free TCP port on 127.0.0.1 and exit\n"
        "options:\n"
        "  --host ADDR        server IPv4 address (127.0.0.1)\n"
        "  --port N           server port (6667)\n"
        "  --clients N        simulated clients\n"
        "  --rooms N          rooms; client i joins #bench(i mod N)\n"
        "  --senders N        sending clients (clients 0..N-1)\n"
        "  --send-share F     rooms mode: share of clients that send (1.0)\n"
        "  --rate R           total messages/s offered; 0 = as fast as the windows allow (0)\n"
        "  --window N         messages in flight per sender (fanout 32, rooms 4)\n"
        "  --duration S       measured seconds (10)\n"
        "  --warmup S         unmeasured seconds of sending before that (1)\n"
        "  --drain S          longest wait for in-flight messages after sending (5)\n"
        "  --payload N        bytes of message text (64)\n"
        "  --concurrency N    connection handshakes in flight during setup (10)\n"
        "  --hold S           idle: seconds to stay connected once all registered (10)\n"
        "  --setup-timeout S  give up on clients not ready after S seconds (120)\n"
        "  --oper NAME:PASS   senders OPER and set user mode +F (ngircd: no flood throttling)\n"
        "  --cpu-pid PID      report CPU time of PID and its descendants over the measurement;\n"
        "                     repeat it for several servers (the sum is reported)\n"
        "  --ports P1,P2,...  several nodes: clients split in consecutive blocks, block k to Pk\n"
        "  --label NAME       server name in the RESULT line (server)\n"
        "  --nick-prefix STR  nick prefix (b)\n"
        "  --tls full|resume  speak TLS (not verified); resume: offer the first session\n");
}

static double arg_num(const char *name, const char *v, double min)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || d < min) {
        fprintf(stderr, "parlor-bench: bad value for %s: %s\n", name, v);
        exit(2);
    }
    return d;
}

static void parse_ports(const char *v)
{
    opt.nports = 0;
    for (const char *p = v; *p;) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n < 1 || n > 65535 || (*end && *end != ',') || opt.nports == MAX_PORTS) {
            fprintf(stderr, "parlor-bench: --ports wants up to %d ports, comma-separated\n", MAX_PORTS);
            exit(2);
        }
        opt.ports[opt.nports++] = (int)n;
        p = *end ? end + 1 : end;
    }
}

static void parse_args(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "parlor-bench: %s needs a value (or is unknown)\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--clients")) opt.clients = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--rooms")) opt.rooms = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--senders")) opt.senders = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--send-share")) opt.send_share = arg_num(a, v, 0);
        else if (!strcmp(a, "--rate")) opt.rate = arg_num(a, v, 0);
        else if (!strcmp(a, "--window")) opt.window = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--duration")) opt.duration = arg_num(a, v, 0.1);
        else if (!strcmp(a, "--warmup")) opt.warmup = arg_num(a, v, 0);
        else if (!strcmp(a, "--drain")) opt.drain = arg_num(a, v, 0);
        else if (!strcmp(a, "--payload")) opt.payload = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--concurrency")) opt.concurrency = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--hold")) opt.hold = arg_num(a, v, 0);
        else if (!strcmp(a, "--setup-timeout")) opt.setup_timeout = arg_num(a, v, 1);
        else if (!strcmp(a, "--cpu-pid")) {
            if (opt.ncpu_pids == MAX_CPU_PIDS) {
                fprintf(stderr, "parlor-bench: at most %d --cpu-pid\n", MAX_CPU_PIDS);
                exit(2);
            }
            opt.cpu_pids[opt.ncpu_pids++] = (int)arg_num(a, v, 1);
        }
        else if (!strcmp(a, "--ports")) parse_ports(v);
        else if (!strcmp(a, "--label")) opt.label = v;
        else if (!strcmp(a, "--nick-prefix")) opt.nick_prefix = v;
        else if (!strcmp(a, "--tls")) {
            if (strcmp(v, "full") != 0 && strcmp(v, "resume") != 0) {
                fprintf(stderr, "parlor-bench: --tls wants full or resume\n");
                exit(2);
            }
            char err[256];
            tls_ctx = tls_client_ctx(NULL, true, NULL, NULL, err, sizeof err);
            if (!tls_ctx)
                die(err);
            tls_resume = strcmp(v, "resume") == 0;
        }
        else if (!strcmp(a, "--oper")) {
            const char *colon = strchr(v, ':');
            if (!colon || colon == v) {
                fprintf(stderr, "parlor-bench: --oper wants NAME:PASS\n");
                exit(2);
            }
            opt.oper_name = strndup(v, (size_t)(colon - v));
            opt.oper_pass = colon + 1;
        } else {
            fprintf(stderr, "parlor-bench: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
    }
    switch (opt.mode) {
    case MODE_FANOUT:
        if (opt.clients < 0) opt.clients = 500;
        if (opt.rooms < 0) opt.rooms = 1;
        if (opt.senders < 0) opt.senders = 5;
        if (opt.window < 0) opt.window = 32;
        break;
    case MODE_ROOMS:
        if (opt.clients < 0) opt.clients = 1000;
        if (opt.rooms < 0) opt.rooms = 100;
        if (opt.senders < 0) opt.senders = (int)(opt.clients * opt.send_share + 0.5);
        if (opt.window < 0) opt.window = 4;
        break;
    case MODE_CONNRATE:
        if (opt.clients < 0) opt.clients = 2000;
        break;
    case MODE_IDLE:
        if (opt.clients < 0) opt.clients = 10000;
        break;
    }
    if (opt.rooms < 0) opt.rooms = 1;
    if (opt.senders < 0) opt.senders = 0;
    if (opt.window < 0) opt.window = 16;
    if (opt.senders > opt.clients) opt.senders = opt.clients;
    if (mode_has_rooms() && opt.senders == 0) {
        fprintf(stderr, "parlor-bench: %s needs at least one sender\n", mode_names[opt.mode]);
        exit(2);
    }
}

static int freeport(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0
        || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("parlor-bench: freeport");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

/* One descriptor per client plus slack; the hard limit caps what we get. */
static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = (rlim_t)need + 64;
    if (rl.rlim_cur >= want)
        return;
    if (rl.rlim_max < want) {
        struct rlimit hard = { want, want };
        if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
            return;
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)need + 16)
        fprintf(stderr, "parlor-bench: warning: open-file limit %lu is below %d clients; "
                "raise the hard limit (ulimit -Hn)\n", (unsigned long)rl.rlim_cur, need);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "freeport"))
        return freeport();
    int m;
    for (m = 0; m < 4; m++)
        if (!strcmp(argv[1], mode_names[m]))
            break;
    if (m == 4) {
        fprintf(stderr, "parlor-bench: unknown mode %s\n", argv[1]);
        usage(stderr);
        return 2;
    }
    opt.mode = (enum mode)m;
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(opt.clients);
    setvbuf(stdout, NULL, _IOLBF, 0);

    clients = calloc((size_t)opt.clients, sizeof(*clients));
    senders = calloc((size_t)(opt.senders ? opt.senders : 1), sizeof(*senders));
    kick_list = calloc((size_t)(opt.senders ? opt.senders : 1), sizeof(*kick_list));
    rooms = calloc((size_t)opt.rooms, sizeof(*rooms));
    if (!clients || !senders || !kick_list || !rooms)
        die("out of memory");
    hist_init(&st.lat);
    unsigned tag = (unsigned)(now_ns() / 1000 % 1000);
    for (int i = 0; i < opt.clients; i++) {
        struct client *c = &clients[i];
        c->id = i;
        c->sender = -1;
        c->room = mode_has_rooms() ? i % opt.rooms : -1;
        snprintf(c->nick, sizeof(c->nick), "%s%u_%d", opt.nick_prefix, tag, i);
    }
    if (mode_has_rooms()) {
        /* Spread the senders over the rooms and over the whole client range
         * (so they do not all land on one worker of a prefork server). */
        nsenders = opt.senders;
        for (int k = 0; k < nsenders; k++) {
            int idx = (int)((long long)k * opt.clients / nsenders);
            /* keep rooms even: move to the next client of room k % rooms */
            while (idx < opt.clients && (clients[idx].sender >= 0 || clients[idx].room != k % opt.rooms))
                idx++;
            if (idx >= opt.clients)
                for (idx = 0; clients[idx].sender >= 0; idx++)
                    ;
            struct client *c = &clients[idx];
            c->sender = k;
            senders[k].c = c;
            senders[k].slot = rooms[c->room].nsenders++;
            senders[k].pending = calloc((size_t)opt.window, sizeof(uint32_t));
            if (!senders[k].pending)
                die("out of memory");
        }
    }

    loop = uv_default_loop();
    uv_timer_init(loop, &tick_timer);
    uv_timer_start(&tick_timer, on_tick, 1, 1);
    uv_check_init(loop, &check_handle);
    uv_check_start(&check_handle, on_check);
    uv_signal_init(loop, &sigint_handle);
    uv_signal_start(&sigint_handle, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm_handle);
    uv_signal_start(&sigterm_handle, on_signal, SIGTERM);

    t_setup_start = now_ns();
    start_connects();
    while (phase != P_DONE && uv_run(loop, UV_RUN_DEFAULT) != 0)
        ;
    return done_count > 0 ? 0 : 1;
}
