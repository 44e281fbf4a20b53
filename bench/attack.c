/* parlor-attack: hostile clients against an IRC server, for the bench's
 * `hostile` phase (scripts/bench.sh) and for trying a server by hand.
 *
 * One libuv loop drives five kinds of abuse at once, each bounded and each
 * switched off by giving it 0:
 *
 *   slowloris  --slowloris N connections that send one byte every
 *              --slow-interval ms (jittered +-50%): "NICK <nick>\r\nUSER "
 *              and then 'x' for ever, so registration never completes.
 *              A connection the server closes is opened again.
 *   huge       --huge N registered clients, in --room, that repeat: a
 *              64 KiB PRIVMSG line; 1 MiB with no newline; the CR LF that
 *              ends it.  A step starts --huge-interval ms after the write of
 *              the previous one completed, so at most one huge write per
 *              client is queued.
 *   bad        --bad N registered clients in --room sending --bad-rate
 *              PRIVMSGs/s in total: invalid UTF-8 (stray continuation,
 *              overlong, truncated, surrogate, 0xFF) and lines with a bare
 *              CR inside.
 *   bursts     --burst-concurrency connections at a time that connect, write
 *              NICK/USER/JOIN/NICK/PART/JOIN/PART/QUIT in one write and
 *              close as soon as the write completes; as fast as that goes,
 *              or at most --burst-rate per second.
 *   storm      --storm-rate connections/s that connect and close at once
 *              (at most --storm-concurrency connecting at a time).
 *
 * Bounds: nothing new starts after --duration s or after --max-connections
 * connection attempts; SIGINT/SIGTERM end the run early the same way.  At the
 * end every connection is closed and one line is printed:
 *
 *   ATTACK duration_s=... connections=N lines=N errors=N ...
 *
 * connections: connects that succeeded; lines: complete lines written;
 * errors: failed connects and failed writes (the server refused or reset
 * us); closed_by_server: connections the server ended (EOF or reset);
 * the other fields count what the server answered (417 too long, FAIL
 * INVALID_UTF8, PRIVMSGs relayed with a bare CR inside) and per-kind
 * connections.  Attackers read and discard everything the server sends and
 * do not answer PING: a run is shorter than any sane ping timeout and the
 * registered attackers are never idle.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/buf.h"

enum kind { K_SLOW, K_HUGE, K_BAD, K_BURST, K_STORM, K_COUNT };
static const char *const kind_names[K_COUNT] = { "slowloris", "huge", "bad", "bursts", "storm" };

#define TICK_MS 5
#define LINE_KEEP 510               /* bytes of an incoming line we look at */
#define HUGE_LINE (64 * 1024)
#define HUGE_NO_NL (1024 * 1024)
#define READ_SPACE (64 * 1024)

struct options {
    const char *host;
    int port;
    double duration;
    const char *room;
    int slowloris;
    int slow_interval_ms;
    int huge;
    int huge_interval_ms;
    int bad;
    double bad_rate;
    int burst_concurrency;
    double burst_rate;              /* 0: as fast as the concurrency allows */
    double storm_rate;
    int storm_concurrency;
    long max_connections;
};

static struct options opt = {
    .host = "127.0.0.1", .port = 6667, .duration = 10, .room = "#attack",
    .slowloris = 500, .slow_interval_ms = 300,
    .huge = 2, .huge_interval_ms = 100,
    .bad = 4, .bad_rate = 500,
    .burst_concurrency = 4, .burst_rate = 0,
    .storm_rate = 200, .storm_concurrency = 64,
    .max_connections = 200000,
};

/* One attacking connection.  Allocated when it is started, freed in
 * on_close(); a slot in slots[kind] (slowloris, huge, bad) points at it
 * until then. */
struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    enum kind kind;
    int slot;                       /* index in slots[kind], or -1 */
    bool connected, registered, closing;
    int writes;                     /* uv_writes not yet called back */
    uint64_t next_at;               /* ns: when the next step is due */
    uint32_t step;                  /* bytes trickled, messages or huge steps sent */
    char nick[24];
    char script[48];                /* slowloris: the bytes to trickle first */
    size_t script_len;
    char line[LINE_KEEP];           /* start of the incoming line being read */
    size_t line_len;
};

/* One uv_write; frees itself (and its buffer, if it owns one) when called
 * back. */
struct wreq {
    uv_write_t req;
    struct conn *c;
    struct buf owned;               /* empty when the bytes are static */
    uint32_t lines;                 /* complete lines in this write */
    bool close_after;               /* bursts: close once written */
};

struct counts {
    uint64_t attempts, connections, lines, bytes, errors, closed_by_server;
    uint64_t too_long, utf8_rejected, cr_relayed;
    uint64_t per_kind[K_COUNT];     /* connections that succeeded */
};

static uv_loop_t *loop;
static uv_timer_t tick;
static uv_signal_t sig_int, sig_term;
static struct conn **slots[K_COUNT];
static int nslots[K_COUNT];
static int in_flight[K_COUNT];      /* bursts and storm: started, not closed */
static uint64_t started[K_COUNT];   /* bursts and storm: started so far */
static bool stopping;
static uint64_t t_start, t_end, bad_sent;
static uint32_t bad_cursor, nick_serial, nick_tag;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static struct counts n;
static char read_space[READ_SPACE];
static char *huge_line, *huge_no_nl;
static size_t huge_line_len, huge_no_nl_len;

static void conn_start(enum kind k, int slot);
static void conn_close(struct conn *c);
static void finish(void);

/* calloc that ends the program when memory runs out. */
static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (!p) {
        fprintf(stderr, "parlor-attack: out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rand_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* interval_ms +-50%, in ns. */
static uint64_t jittered_ns(int interval_ms)
{
    uint64_t base = (uint64_t)interval_ms * 1000000ull;
    return base / 2 + rand_u64() % (base + 1);
}

static bool may_connect(void)
{
    return !stopping && n.attempts < (uint64_t)opt.max_connections;
}

/* ---- writing -------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = req->data;
    struct conn *c = w->c;
    c->writes--;
    if (status == 0) {
        n.lines += w->lines;
        if (c->kind == K_HUGE)
            c->next_at = now_ns() + (uint64_t)opt.huge_interval_ms * 1000000ull;
    } else if (status != UV_ECANCELED && !c->closing) {
        n.errors++;
    }
    bool close_now = w->close_after || (status < 0 && status != UV_ECANCELED);
    buf_free(&w->owned);
    free(w);
    if (close_now)
        conn_close(c);
}

/* Queue len bytes at data on c.  With own set, the bytes are in *own, whose
 * buffer the request takes over; otherwise data must outlive the write
 * (static, or inside c, which lives until its close callback, after every
 * write callback). */
static void conn_write(struct conn *c, const char *data, size_t len, struct buf *own,
                       uint32_t lines, bool close_after)
{
    struct wreq *w = xcalloc(1, sizeof(*w));
    w->c = c;
    w->lines = lines;
    w->close_after = close_after;
    if (own) {
        w->owned = *own;
        *own = (struct buf)BUF_INIT;
        data = w->owned.data;
    }
    w->req.data = w;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0) {
        n.errors++;
        buf_free(&w->owned);
        free(w);
        conn_close(c);
        return;
    }
    c->writes++;
    n.bytes += len;
}

static void conn_writef(struct conn *c, uint32_t lines, bool close_after, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void conn_writef(struct conn *c, uint32_t lines, bool close_after, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(&b, fmt, ap);
    va_end(ap);
    conn_write(c, NULL, b.len, &b, lines, close_after);
}

/* ---- the kinds' steps ------------------------------------------------------- */

static void slow_step(struct conn *c, uint64_t now)
{
    static const char filler = 'x';
    const char *p = c->step < c->script_len ? &c->script[c->step] : &filler;
    if (c->writes == 0) {
        conn_write(c, p, 1, NULL, *p == '\n', false);
        c->step++;
    }
    c->next_at = now + jittered_ns(opt.slow_interval_ms);
}

static void huge_step(struct conn *c)
{
    if (c->writes)
        return;
    c->next_at = UINT64_MAX;        /* on_write sets the next time */
    switch (c->step++ % 3) {
    case 0: conn_write(c, huge_line, huge_line_len, NULL, 1, false); break;
    case 1: conn_write(c, huge_no_nl, huge_no_nl_len, NULL, 0, false); break;
    default: conn_write(c, "\r\n", 2, NULL, 1, false); break;
    }
}

/* Invalid UTF-8 and CR-inside-line message texts, in turn. */
static const char *const bad_texts[] = {
    "stray continuation \x80\x80 byte",
    "overlong slash \xc0\xaf here",
    "truncated euro \xe2\x82",
    "surrogate \xed\xa0\x80 half",
    "never valid \xff\xfe",
    "bare CR\rinside the line",
    "two\r\rCRs then PRIVMSG #x :injected?",
    "CR at end of text\r",
};
#define NBAD (sizeof(bad_texts) / sizeof(bad_texts[0]))

static void bad_send(struct conn *c, uint32_t count)
{
    struct buf b = BUF_INIT;
    for (uint32_t i = 0; i < count; i++)
        buf_appendf(&b, "PRIVMSG %s :%s\r\n", opt.room, bad_texts[c->step++ % NBAD]);
    conn_write(c, NULL, b.len, &b, count, false);
}

/* Hand out the bad messages due by now, round-robin over the registered bad
 * clients that have nothing queued. */
static void bad_dispense(uint64_t now)
{
    uint64_t due = (uint64_t)(opt.bad_rate * (double)(now - t_start) / 1e9);
    if (due <= bad_sent || nslots[K_BAD] == 0)
        return;
    uint64_t owed = due - bad_sent;
    uint32_t ready = 0;
    for (int i = 0; i < nslots[K_BAD]; i++) {
        struct conn *c = slots[K_BAD][i];
        ready += c && c->registered && !c->closing && c->writes == 0;
    }
    if (ready == 0) {
        bad_sent = due;             /* the server is behind: skip, no burst later */
        return;
    }
    uint64_t each = (owed + ready - 1) / ready;
    for (int k = 0; k < nslots[K_BAD] && owed; k++) {
        struct conn *c = slots[K_BAD][bad_cursor++ % (uint32_t)nslots[K_BAD]];
        if (!c || !c->registered || c->closing || c->writes)
            continue;
        uint64_t m = each < owed ? each : owed;
        bad_send(c, (uint32_t)m);
        owed -= m;
        bad_sent += m;
    }
}

static void burst_send(struct conn *c)
{
    uint32_t s = nick_serial++;
    conn_writef(c, 8, true,
                "NICK xb%u_%u\r\nUSER xb 0 * :burst\r\nJOIN %s\r\nNICK xc%u_%u\r\n"
                "PART %s\r\nJOIN %s,#attack-burst\r\nPART #attack-burst :bye\r\nQUIT :burst\r\n",
                nick_tag, s, opt.room, nick_tag, s, opt.room, opt.room);
}

/* ---- reading ----------------------------------------------------------------- */

static void handle_line(struct conn *c, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp)
        return;
    const char *cmd = sp + 1;
    size_t rest = len - (size_t)(cmd - line);
    if (rest >= 4 && !memcmp(cmd, "001 ", 4) && !c->registered) {
        c->registered = true;
        if (c->kind == K_HUGE || c->kind == K_BAD) {
            conn_writef(c, 1, false, "JOIN %s\r\n", opt.room);
            c->next_at = now_ns();
        }
    } else if (rest >= 4 && !memcmp(cmd, "417 ", 4)) {
        n.too_long++;
    } else if (memmem(line, len, " INVALID_UTF8 ", 14)) {
        n.utf8_rejected++;
    } else if (rest >= 8 && !memcmp(cmd, "PRIVMSG ", 8) && memchr(line, '\r', len)) {
        n.cr_relayed++;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(read_space, sizeof(read_space));
}

/* Split what arrived into lines; a line longer than LINE_KEEP is looked at by
 * its first LINE_KEEP bytes.  A trailing CR is dropped, inner ones are kept. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (!c->closing && !stopping) {
            if (nread == UV_EOF || nread == UV_ECONNRESET)
                n.closed_by_server++;
            else
                n.errors++;
        }
        conn_close(c);
        return;
    }
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end && !c->closing) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t take = (size_t)(stop - p);
        if (take > LINE_KEEP - c->line_len)
            take = LINE_KEEP - c->line_len;
        memcpy(c->line + c->line_len, p, take);
        c->line_len += take;
        if (!nl)
            break;
        size_t len = c->line_len;
        if (len && c->line[len - 1] == '\r')
            len--;
        handle_line(c, c->line, len);
        c->line_len = 0;
        p = nl + 1;
    }
}

/* ---- connection lifetime ------------------------------------------------------ */

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (c->slot >= 0)
        slots[c->kind][c->slot] = NULL;
    else
        in_flight[c->kind]--;
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED)
            n.errors++;
        conn_close(c);
        return;
    }
    if (c->closing)
        return;
    c->connected = true;
    n.connections++;
    n.per_kind[c->kind]++;
    if (c->kind == K_STORM) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        n.errors++;
        conn_close(c);
        return;
    }
    switch (c->kind) {
    case K_SLOW:
        c->next_at = now_ns();
        break;
    case K_HUGE:
    case K_BAD:
        conn_writef(c, 2, false, "NICK %s\r\nUSER %s 0 * :parlor-attack\r\n", c->nick, c->nick);
        break;
    case K_BURST:
        burst_send(c);
        break;
    default:
        break;
    }
}

/* Open one connection of kind k; slot is its index in slots[k], or -1 for
 * the short-lived kinds. */
static void conn_start(enum kind k, int slot)
{
    static struct sockaddr_in addr;
    static bool have_addr;
    if (!have_addr) {
        if (uv_ip4_addr(opt.host, opt.port, &addr) < 0) {
            fprintf(stderr, "parlor-attack: bad --host %s (an IPv4 address is expected)\n", opt.host);
            exit(2);
        }
        have_addr = true;
    }
    struct conn *c = xcalloc(1, sizeof(*c));
    c->kind = k;
    c->slot = slot;
    c->next_at = UINT64_MAX;
    snprintf(c->nick, sizeof(c->nick), "x%u%c%u", nick_tag, kind_names[k][0], nick_serial++);
    if (k == K_SLOW)
        c->script_len = (size_t)snprintf(c->script, sizeof(c->script), "NICK %s\r\nUSER ", c->nick);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    if (slot >= 0)
        slots[k][slot] = c;
    else
        in_flight[k]++;
    n.attempts++;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connect);
    if (r < 0) {
        n.errors++;
        conn_close(c);
    }
}

/* ---- the clock ------------------------------------------------------------------ */

/* Short-lived kinds: start what the rate allows by now, within the
 * concurrency cap (rate 0: as many as the cap allows). */
static void start_due(enum kind k, double rate, int concurrency, uint64_t now)
{
    uint64_t due = rate > 0 ? (uint64_t)(rate * (double)(now - t_start) / 1e9) : UINT64_MAX;
    while (may_connect() && in_flight[k] < concurrency && started[k] < due) {
        started[k]++;
        conn_start(k, -1);
    }
    if (rate > 0 && started[k] < due && in_flight[k] >= concurrency)
        started[k] = due;           /* behind: do not catch up in a burst */
}

static void on_tick(uv_timer_t *t)
{
    uint64_t now = now_ns();
    if (now >= t_end) {
        finish();
        return;
    }
    for (int k = K_SLOW; k <= K_BAD; k++) {
        int opened = 0;
        for (int i = 0; i < nslots[k]; i++) {
            struct conn *c = slots[k][i];
            if (!c) {
                /* (re)connect, a few per tick so a refusing server is not hammered */
                if (opened < 20 && may_connect()) {
                    conn_start((enum kind)k, i);
                    opened++;
                }
                continue;
            }
            if (!c->connected || c->closing || now < c->next_at)
                continue;
            if (k == K_SLOW)
                slow_step(c, now);
            else if (k == K_HUGE && c->registered)
                huge_step(c);
        }
    }
    if (opt.bad_rate > 0)
        bad_dispense(now);
    if (opt.burst_concurrency > 0)
        start_due(K_BURST, opt.burst_rate, opt.burst_concurrency, now);
    if (opt.storm_rate > 0)
        start_due(K_STORM, opt.storm_rate, opt.storm_concurrency, now);
}

static void print_summary(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double dur = (double)(now_ns() - t_start) / 1e9;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
                 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("ATTACK duration_s=%.2f connections=%" PRIu64 " lines=%" PRIu64 " errors=%" PRIu64
           " attempts=%" PRIu64 " bytes=%" PRIu64 " closed_by_server=%" PRIu64
           " too_long=%" PRIu64 " utf8_rejected=%" PRIu64 " cr_relayed=%" PRIu64,
           dur, n.connections, n.lines, n.errors, n.attempts, n.bytes, n.closed_by_server,
           n.too_long, n.utf8_rejected, n.cr_relayed);
    for (int k = 0; k < K_COUNT; k++)
        printf(" %s=%" PRIu64, kind_names[k], n.per_kind[k]);
    printf(" cpu_pct=%.0f\n", dur > 0 ? cpu / dur * 100 : 0);
    fflush(stdout);
}

static void close_walked(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TCP && !uv_is_closing(h))
        conn_close(h->data);
}

/* Stop starting anything and close every connection; uv_run() returns once
 * the last close callback has run. */
static void finish(void)
{
    if (stopping)
        return;
    stopping = true;
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_walk(loop, close_walked, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    finish();
}

/* ---- command line ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: parlor-attack [options]      (every kind is off with 0)\n"
        "  --host ADDR              server IPv4 address (127.0.0.1)\n"
        "  --port N                 server port (6667)\n"
        "  --duration S             seconds of attack (10)\n"
        "  --room NAME              room of the huge and bad clients (#attack)\n"
        "  --slowloris N            connections trickling bytes, never registering (500)\n"
        "  --slow-interval MS       ms between their bytes, +-50%% (300)\n"
        "  --huge N                 registered clients sending 64 KiB lines and 1 MiB without LF (2)\n"
        "  --huge-interval MS       pause after each huge write (100)\n"
        "  --bad N                  registered clients sending bad UTF-8 and bare CRs (4)\n"
        "  --bad-rate R             their messages/s in total (500)\n"
        "  --burst-concurrency N    connect/burst/close connections at a time (4)\n"
        "  --burst-rate R           at most R bursts/s; 0 = as fast as they complete (0)\n"
        "  --storm-rate R           connect+close per second (200)\n"
        "  --storm-concurrency N    storm connects in flight at most (64)\n"
        "  --max-connections N      connection attempts in all, then no new ones (200000)\n");
}

static double arg_num(const char *name, const char *v, double min)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || d < min) {
        fprintf(stderr, "parlor-attack: bad value for %s: %s\n", name, v);
        exit(2);
    }
    return d;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "parlor-attack: %s needs a value (or is unknown)\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--duration")) opt.duration = arg_num(a, v, 0.1);
        else if (!strcmp(a, "--room")) opt.room = v;
        else if (!strcmp(a, "--slowloris")) opt.slowloris = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--slow-interval")) opt.slow_interval_ms = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--huge")) opt.huge = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--huge-interval")) opt.huge_interval_ms = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--bad")) opt.bad = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--bad-rate")) opt.bad_rate = arg_num(a, v, 0);
        else if (!strcmp(a, "--burst-concurrency")) opt.burst_concurrency = (int)arg_num(a, v, 0);
        else if (!strcmp(a, "--burst-rate")) opt.burst_rate = arg_num(a, v, 0);
        else if (!strcmp(a, "--storm-rate")) opt.storm_rate = arg_num(a, v, 0);
        else if (!strcmp(a, "--storm-concurrency")) opt.storm_concurrency = (int)arg_num(a, v, 1);
        else if (!strcmp(a, "--max-connections")) opt.max_connections = (long)arg_num(a, v, 0);
        else {
            fprintf(stderr, "parlor-attack: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (opt.room[0] != '#' || strlen(opt.room) > 50 || strpbrk(opt.room, " ,\r\n")) {
        fprintf(stderr, "parlor-attack: --room wants #name (no spaces or commas)\n");
        exit(2);
    }
}

/* The two huge writes: a PRIVMSG line of exactly HUGE_LINE bytes with its
 * CR LF, and HUGE_NO_NL bytes of PRIVMSG with no line end. */
static void make_huge_payloads(void)
{
    huge_line = xcalloc(1, HUGE_LINE);
    huge_no_nl = xcalloc(1, HUGE_NO_NL);
    int h = snprintf(huge_line, HUGE_LINE, "PRIVMSG %s :", opt.room);
    memset(huge_line + h, 'A', HUGE_LINE - (size_t)h - 2);
    memcpy(huge_line + HUGE_LINE - 2, "\r\n", 2);
    huge_line_len = HUGE_LINE;
    h = snprintf(huge_no_nl, HUGE_NO_NL, "PRIVMSG %s :", opt.room);
    memset(huge_no_nl + h, 'B', HUGE_NO_NL - (size_t)h);
    huge_no_nl_len = HUGE_NO_NL;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    make_huge_payloads();
    nslots[K_SLOW] = opt.slowloris;
    nslots[K_HUGE] = opt.huge;
    nslots[K_BAD] = opt.bad;
    for (int k = 0; k < K_COUNT; k++) {
        slots[k] = xcalloc((size_t)(nslots[k] ? nslots[k] : 1), sizeof(*slots[k]));
    }
    t_start = now_ns();
    t_end = t_start + (uint64_t)(opt.duration * 1e9);
    nick_tag = (unsigned)getpid() % 1000;
    rng ^= t_start;

    loop = uv_default_loop();
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 0, TICK_MS);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    print_summary();
    uv_loop_close(loop);
    return 0;
}
