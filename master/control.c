/* The master's control socket: see master/control.h for the protocol.
 *
 * Commands are a table of {words, help, handler} like HAProxy's CLI.  A
 * handler either answers at once or sends a query to the workers; the answer
 * is then rendered when every asked worker has answered, or after a second
 * with the silent ones reported as not answering.
 *
 * No admin tool may lock the others out: a connection that neither sends
 * nor reads for control-idle-timeout seconds is closed; one that leaves
 * more than control-output-max bytes of answers unread is closed before its
 * next command; and when all MAX_CONNS slots are taken, a new connection
 * replaces the one that has been idle the longest. */
#include "master/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/columns.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/paths.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "master/control_parse.h"
#include "master/master_int.h"
#include "worker/worker.h"

#define MAX_CONNS 16
#define QUERY_TIMEOUT 1.0
#define CONN_INPUT_MAX 8192

struct ctl_conn;
typedef void ctl_render(struct ctl_conn *c);

/* A query in flight: what each asked worker sent back. */
struct pending {
    uint32_t qid;
    bool asked[MAX_WORKERS], done[MAX_WORKERS];
    struct buf records[MAX_WORKERS];    /* raw records, concatenated */
    uint32_t count[MAX_WORKERS];
    double deadline;
    ctl_render *render;
    char arg[400];
    long ban_s;                         /* kick --ban: seconds, 0 = no ban */
    char ban_reason[160];
};

/* One admin connection; owned by conns[]. */
struct ctl_conn {
    int fd;
    bool json;
    struct buf in, out;
    struct pending *q;                  /* NULL when idle */
    double active;                      /* last byte read or written (monotonic) */
};

static int listen_fd = -1;
static char sock_path[256];
static struct ctl_conn conns[MAX_CONNS];
static uint32_t next_qid;

/* ---- output helpers ---- */

static void out(struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct ctl_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(&c->out, fmt, ap);
    va_end(ap);
}

static void answer_end(struct ctl_conn *c)
{
    if (c->out.len && c->out.data[c->out.len - 1] != '\n')
        buf_append_byte(&c->out, '\n');
    buf_append_byte(&c->out, '\n');
}

/* A one-line answer: "ok: ..." / "error: ..." or {"ok": ...} / {"error": ...}. */
static void one_line(struct ctl_conn *c, const char *kind, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->json) {
        buf_appendf(&c->out, "{\"%s\":", kind);
        buf_append_json(&c->out, msg);
        buf_append_str(&c->out, "}\n");
    } else {
        out(c, "%s: %s\n", kind, msg);
    }
    answer_end(c);
}

static void error(struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error(struct ctl_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    one_line(c, "error", fmt, ap);
    va_end(ap);
}

static void ok(struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(struct ctl_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    one_line(c, "ok", fmt, ap);
    va_end(ap);
}

/* ---- records from the workers ---- */

struct field {
    const char *key, *value;
    bool num;
};
#define MAX_FIELDS 40

/* Decode the next record; returns the field count, or -1 at the end. */
static int next_record(struct ipc_reader *r, struct field *f)
{
    if (r->left == 0)
        return -1;
    uint32_t n = ipc_get_u32(r);
    int k = 0;
    for (uint32_t i = 0; i < n && !r->err; i++) {
        const char *key = ipc_get_str(r, NULL);
        const char *value = ipc_get_str(r, NULL);
        bool num = ipc_get_u8(r);
        if (k < MAX_FIELDS)
            f[k++] = (struct field){ key, value, num };
    }
    return r->err ? -1 : k;
}

static const char *field(const struct field *f, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].key, key) == 0)
            return f[i].value;
    return NULL;
}

static double field_num(const struct field *f, int n, const char *key)
{
    const char *v = field(f, n, key);
    return v ? atof(v) : 0;
}

static void json_record(struct buf *b, const struct field *f, int n)
{
    buf_append_byte(b, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_append_byte(b, ',');
        buf_append_json(b, f[i].key);
        buf_append_byte(b, ':');
        if (f[i].num)
            buf_append_str(b, f[i].value);
        else
            buf_append_json(b, f[i].value);
    }
    buf_append_byte(b, '}');
}

/* One table cell padded to `width` screen columns (Korean counts two) and
 * the gap after it; width -1: the last column, as it is. */
static void out_cell(struct ctl_conn *c, const char *s, int width)
{
    int pad = width < 0 ? 0 : width - text_columns(s, strlen(s));
    out(c, "%s%*s%s", s, pad > 0 ? pad : 0, "", width < 0 ? "" : "  ");
}

/* Records (concatenated, as the workers send them) as JSON objects
 * separated by commas. */
static void records_json(struct buf *b, const struct buf *recs)
{
    struct field f[MAX_FIELDS];
    struct ipc_reader r;
    ipc_reader_init(&r, recs->data, recs->len);
    int rows = 0, n;
    while ((n = next_record(&r, f)) >= 0) {
        if (rows++)
            buf_append_byte(b, ',');
        json_record(b, f, n);
    }
}

/* Records as a text table: the first record's keys as the header, each
 * column as wide as its widest cell; returns the number of rows. */
static int records_table(struct ctl_conn *c, const struct buf *recs)
{
    struct field f[MAX_FIELDS];
    const char *keys[MAX_FIELDS];
    size_t width[MAX_FIELDS] = {0};
    int ncols = 0, rows = 0, n;
    struct ipc_reader r;
    ipc_reader_init(&r, recs->data, recs->len);
    while ((n = next_record(&r, f)) >= 0) {
        if (!ncols) {
            ncols = n;
            for (int i = 0; i < n; i++) {
                keys[i] = f[i].key;
                width[i] = strlen(f[i].key);
            }
        }
        for (int i = 0; i < n && i < ncols; i++) {
            size_t w = (size_t)text_columns(f[i].value, strlen(f[i].value));
            if (w > width[i])
                width[i] = w;
        }
        rows++;
    }
    for (int i = 0; i < ncols; i++)
        out_cell(c, keys[i], i + 1 < ncols ? (int)width[i] : -1);
    if (ncols)
        out(c, "\n");
    ipc_reader_init(&r, recs->data, recs->len);
    while ((n = next_record(&r, f)) >= 0) {
        for (int i = 0; i < n && i < ncols; i++)
            out_cell(c, f[i].value, i + 1 < ncols ? (int)width[i] : -1);
        out(c, "\n");
    }
    return rows;
}

/* A list answer: the records as a table (text) or a JSON array under
 * `name`; workers that did not answer are listed. */
static void render_list(struct ctl_conn *c, const char *name, const struct buf *recs)
{
    struct pending *q = c->q;
    if (c->json) {
        buf_append_byte(&c->out, '{');
        buf_append_json(&c->out, name);
        buf_append_str(&c->out, ":[");
        records_json(&c->out, recs);
        buf_append_str(&c->out, "],\"not_answering\":[");
        int k = 0;
        for (int s = 0; s < cfg->workers; s++)
            if (q->asked[s] && !q->done[s])
                buf_appendf(&c->out, "%s%d", k++ ? "," : "", s);
        buf_append_str(&c->out, "]}\n");
    } else {
        if (!records_table(c, recs))
            out(c, "(none)\n");
        for (int s = 0; s < cfg->workers; s++)
            if (q->asked[s] && !q->done[s])
                out(c, "worker %d: not answering\n", s);
    }
    answer_end(c);
}

/* Every record of the query, from every answering worker. */
static void render_records(struct ctl_conn *c, const char *name)
{
    struct buf all = BUF_INIT;
    for (int s = 0; s < cfg->workers; s++)
        if (c->q->done[s])
            buf_append(&all, c->q->records[s].data, c->q->records[s].len);
    render_list(c, name, &all);
    buf_free(&all);
}

/* The fields of worker s's first record; -1 if it did not answer. */
static int worker_record(const struct pending *q, int s, struct field *f)
{
    if (!q->done[s])
        return -1;
    struct ipc_reader r;
    ipc_reader_init(&r, q->records[s].data, q->records[s].len);
    return next_record(&r, f);
}

/* Sum of a numeric field over every answering worker's first record. */
static double sum_field(struct pending *q, const char *key)
{
    double total = 0;
    struct field f[MAX_FIELDS];
    for (int s = 0; s < cfg->workers; s++) {
        int n = worker_record(q, s, f);
        if (n > 0)
            total += field_num(f, n, key);
    }
    return total;
}

static int count_records(struct pending *q)
{
    int total = 0;
    for (int s = 0; s < cfg->workers; s++)
        if (q->done[s])
            total += (int)q->count[s];
    return total;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- the nodes of a cluster ---- */

/* After `skip` records (status: the summary), each worker's answer lists
 * the nodes as it sees them, itself first ("self", its own clients and NATS
 * connection: worker/cluster.c cluster_answer_nodes). */
static bool skip_records(struct ipc_reader *r, int skip)
{
    struct field f[MAX_FIELDS];
    for (int i = 0; i < skip; i++)
        if (next_record(r, f) < 0)
            return false;
    return true;
}

/* The nodes of the network: the first answering worker's view, with this
 * node's clients summed and its NATS state summed up over every worker
 * (each has its own connection) into `nats`: "connected" when all are,
 * else the state of one that is not and how many are. */
static void nodes_merged(struct pending *q, int skip, struct buf *out, char *nats, size_t cap)
{
    struct field f[MAX_FIELDS];
    double clients = 0;
    int answering = 0, connected = 0, first = -1;
    const char *other = NULL;
    for (int s = 0; s < cfg->workers; s++) {
        struct ipc_reader r;
        ipc_reader_init(&r, q->records[s].data, q->records[s].len);
        int n;
        if (!q->done[s] || !skip_records(&r, skip) || (n = next_record(&r, f)) < 0)
            continue;
        const char *st = field(f, n, "nats");
        answering++;
        clients += field_num(f, n, "clients");
        if (st && strcmp(st, "connected") == 0)
            connected++;
        else
            other = st ? st : "unknown";
        if (first < 0)
            first = s;
    }
    if (connected == answering && answering)
        snprintf(nats, cap, "connected");
    else
        snprintf(nats, cap, "%s (%d of %d workers connected)", other ? other : "unknown", connected,
                 cfg->workers);
    if (first < 0)
        return;
    struct ipc_reader r;
    ipc_reader_init(&r, q->records[first].data, q->records[first].len);
    skip_records(&r, skip);
    int n;
    while ((n = next_record(&r, f)) >= 0) {
        bool self = strcmp(field(f, n, "state") ? field(f, n, "state") : "", "self") == 0;
        ipc_put_u32(out, (uint32_t)n);
        for (int i = 0; i < n; i++) {
            char v[64];
            const char *value = f[i].value;
            if (self && strcmp(f[i].key, "clients") == 0) {
                snprintf(v, sizeof v, "%.0f", clients);
                value = v;
            } else if (self && strcmp(f[i].key, "nats") == 0) {
                value = nats;
            }
            ipc_put_cstr(out, f[i].key);
            ipc_put_cstr(out, value);
            ipc_put_u8(out, f[i].num);
        }
    }
}

/* ---- renderers (run when the workers have answered) ---- */

static void render_status(struct ctl_conn *c)
{
    struct pending *q = c->q;
    static double last_t;
    static double last_in, last_out;
    double now = now_mono();
    double in = sum_field(q, "messages_in"), outl = sum_field(q, "lines_out");
    double span = last_t > 0 ? now - last_t : now - master_started;
    double in_rate = span > 0 ? (in - (last_t > 0 ? last_in : 0)) / span : 0;
    double out_rate = span > 0 ? (outl - (last_t > 0 ? last_out : 0)) / span : 0;
    last_t = now;
    last_in = in;
    last_out = outl;
    int alive = 0, answering = 0;
    char pids[400] = "";
    size_t pl = 0;
    for (int s = 0; s < cfg->workers; s++) {
        alive += slots[s].pid != 0;
        answering += q->done[s];
        int w = snprintf(pids + pl, sizeof pids - pl, "%s%d", pl ? (c->json ? "," : " ") : "",
                         (int)slots[s].pid);
        if (w > 0 && (size_t)w < sizeof pids - pl)
            pl += (size_t)w;
    }
    /* The database as the workers see it: the worst state wins. */
    const char *db = "not configured";
    if (cfg->database[0]) {
        db = "connected";
        struct field f[MAX_FIELDS];
        for (int s = 0; s < cfg->workers; s++) {
            int nf = worker_record(q, s, f);
            const char *st = nf > 0 ? field(f, nf, "database") : NULL;
            if (st && strcmp(st, "connected") != 0)
                db = strstr(st, "down") ? "down (spooling)" : "connecting";
        }
    }
    struct buf nodes = BUF_INIT;       /* with --cluster: the nodes after the summary */
    char nats[96];
    if (cfg->cluster[0])
        nodes_merged(q, 1, &nodes, nats, sizeof nats);
    struct { const char *key; char value[512]; bool num; } rows[24];
    int n = 0;
#define ROW(k, isnum, ...) do { rows[n].key = k; rows[n].num = isnum; \
        snprintf(rows[n].value, sizeof rows[n].value, __VA_ARGS__); n++; } while (0)
    ROW("version", false, "%s", PARLOR_VERSION);
    ROW("uptime_s", true, "%.0f", now - master_started);
    ROW("master_pid", true, "%d", (int)getpid());
    ROW("worker_pids", c->json, c->json ? "[%s]" : "%s", pids);   /* JSON: an array */
    ROW("workers", true, "%d", cfg->workers);
    ROW("workers_running", true, "%d", alive);
    ROW("workers_answering", true, "%d", answering);
    ROW("clients", true, "%.0f", sum_field(q, "clients"));
    ROW("channels", true, "%.0f", sum_field(q, "channels_owned"));
    ROW("messages_in_per_s", true, "%.1f", in_rate);
    ROW("messages_out_per_s", true, "%.1f", out_rate);
    ROW("messages_in_total", true, "%.0f", in);
    ROW("database", false, "%s", db);
    ROW("spool_depth", true, "%.0f", sum_field(q, "spool_depth"));
    if (cfg->ntls_listen > 0) {
        ROW("tls_clients", true, "%.0f", sum_field(q, "tls_clients"));
        ROW("tls_handshake_failures", true, "%.0f", sum_field(q, "tls_failures"));
        char cert[300];
        tls_material_describe(&tls_material, cert, sizeof cert);
        ROW("tls_certificate", false, "%s", cert);
    }
    if (cfg->cluster[0]) {
        ROW("node", false, "%s", cfg->node_name);
        ROW("node_id", true, "%d", cfg->node_id);
        ROW("nats", false, "%s", nats);
    }
#undef ROW
    if (c->json) {
        buf_append_byte(&c->out, '{');
        for (int i = 0; i < n; i++) {
            if (i)
                buf_append_byte(&c->out, ',');
            buf_append_json(&c->out, rows[i].key);
            buf_append_byte(&c->out, ':');
            if (rows[i].num)
                buf_append_str(&c->out, rows[i].value);
            else
                buf_append_json(&c->out, rows[i].value);
        }
        if (cfg->cluster[0]) {
            buf_append_str(&c->out, ",\"nodes\":[");
            records_json(&c->out, &nodes);
            buf_append_byte(&c->out, ']');
        }
        buf_append_str(&c->out, "}\n");
    } else {
        for (int i = 0; i < n; i++)
            out(c, "%-20s %s\n", rows[i].key, rows[i].value);
        if (cfg->cluster[0]) {
            out(c, "nodes:\n");
            records_table(c, &nodes);
        }
    }
    buf_free(&nodes);
    answer_end(c);
}

static void render_workers(struct ctl_conn *c)
{
    struct pending *q = c->q;
    struct field f[MAX_FIELDS];
    if (c->json)
        buf_append_str(&c->out, "{\"workers\":[");
    else
        out(c, "%-3s %-8s %-13s %-8s %-9s %-9s %-9s %s\n", "id", "pid", "state", "clients",
            "channels", "rss_kb", "restarts", "last_exit");
    for (int s = 0; s < cfg->workers; s++) {
        struct worker_slot *w = &slots[s];
        double clients = -1, owned = -1;
        if (q->done[s]) {
            struct ipc_reader r;
            ipc_reader_init(&r, q->records[s].data, q->records[s].len);
            int n = next_record(&r, f);
            if (n > 0) {
                clients = field_num(f, n, "clients");
                owned = field_num(f, n, "channels_owned");
            }
        }
        const char *state = !w->pid ? "down" : !q->done[s] ? "not-answering"
                          : w->draining ? "draining" : "accepting";
        long rss = w->pid ? rss_kb(w->pid) : -1;
        if (c->json) {
            buf_appendf(&c->out, "%s{\"id\":%d,\"pid\":%d,\"state\":\"%s\",\"clients\":%.0f,"
                        "\"channels_owned\":%.0f,\"rss_kb\":%ld,\"restarts\":%d,\"last_exit\":",
                        s ? "," : "", s, (int)w->pid, state, clients, owned, rss, w->restarts);
            buf_append_json(&c->out, w->last_exit);
            buf_append_byte(&c->out, '}');
        } else {
            out(c, "%-3d %-8d %-13s %-8.0f %-9.0f %-9ld %-9d %s\n", s, (int)w->pid, state, clients,
                owned, rss, w->restarts, w->last_exit[0] ? w->last_exit : "-");
        }
    }
    if (c->json)
        buf_append_str(&c->out, "]}\n");
    answer_end(c);
}

static void render_clients(struct ctl_conn *c) { render_records(c, "clients"); }
static void render_channels(struct ctl_conn *c) { render_records(c, "channels"); }
static void render_nodes(struct ctl_conn *c)
{
    struct buf nodes = BUF_INIT;
    char nats[96];
    nodes_merged(c->q, 0, &nodes, nats, sizeof nats);
    render_list(c, "nodes", &nodes);
    buf_free(&nodes);
}

static void render_client(struct ctl_conn *c)
{
    struct pending *q = c->q;
    struct field f[MAX_FIELDS];
    for (int s = 0; s < cfg->workers; s++) {
        if (!q->done[s] || !q->count[s])
            continue;
        struct ipc_reader r;
        ipc_reader_init(&r, q->records[s].data, q->records[s].len);
        int n = next_record(&r, f);
        if (n <= 0)
            continue;
        if (c->json) {
            json_record(&c->out, f, n);
            buf_append_byte(&c->out, '\n');
        } else {
            for (int i = 0; i < n; i++)
                out(c, "%-14s %s\n", f[i].key, f[i].value);
        }
        answer_end(c);
        return;
    }
    error(c, "no such nick: %s", q->arg);
}

/* The value of field `key` in the first record any worker returned. */
static const char *first_field(struct pending *q, const char *key)
{
    struct field f[MAX_FIELDS];
    for (int s = 0; s < cfg->workers; s++) {
        if (!q->done[s] || !q->count[s])
            continue;
        struct ipc_reader r;
        ipc_reader_init(&r, q->records[s].data, q->records[s].len);
        int n = next_record(&r, f);
        for (int i = 0; i < n; i++)
            if (strcmp(f[i].key, key) == 0)
                return f[i].value;
    }
    return NULL;
}

/* kick and kill; with --ban the address the user came from is banned too. */
static void render_disconnect(struct ctl_conn *c, const char *done)
{
    struct pending *q = c->q;
    if (!count_records(q)) {
        error(c, "no such nick: %s", q->arg);
        return;
    }
    const char *ip = q->ban_s ? first_field(q, "ip") : NULL;
    char note[300];
    if (q->ban_s && (!ip || bans_add(ip, q->ban_s, q->ban_reason, note, sizeof note) < 0)) {
        error(c, "%s %s, but could not ban %s (the ban list is full)", done, q->arg,
              ip ? ip : "its address");
        return;
    }
    if (ip)
        ok(c, "%s %s; %s banned for %ld s%s", done, q->arg, ip, q->ban_s, note);
    else
        ok(c, "%s %s", done, q->arg);
}

static void render_kick(struct ctl_conn *c) { render_disconnect(c, "kicked"); }
static void render_kill(struct ctl_conn *c) { render_disconnect(c, "killed"); }

static void render_wall(struct ctl_conn *c)
{
    ok(c, "notice sent to %.0f clients", sum_field(c->q, "notified"));
}

struct metric {
    const char *field, *metric, *type, *help;
};

/* One metric per summary field, a sample per answering worker. */
static void per_worker_metrics(struct buf *b, struct pending *q, const struct metric *m, size_t count)
{
    struct field f[MAX_FIELDS];
    for (size_t k = 0; k < count; k++) {
        buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", m[k].metric, m[k].help, m[k].metric, m[k].type);
        for (int s = 0; s < cfg->workers; s++) {
            int n = worker_record(q, s, f);
            const char *v = n > 0 ? field(f, n, m[k].field) : NULL;
            if (v && strcmp(m[k].field, "nats") == 0)    /* a state: 1 when connected */
                v = strcmp(v, "connected") == 0 ? "1" : "0";
            if (v)
                buf_appendf(b, "%s{worker=\"%d\"} %s\n", m[k].metric, s, v);
        }
    }
}

static void render_stats(struct ctl_conn *c)
{
    struct pending *q = c->q;
    struct buf *b = &c->out;
    static const struct metric per_worker[] = {
        { "clients", "parlor_clients", "gauge", "Connected clients." },
        { "registered", "parlor_registered_clients", "gauge", "Registered clients." },
        { "channels_owned", "parlor_channels", "gauge", "Channels owned by the worker." },
        { "messages_in", "parlor_messages_received_total", "counter", "PRIVMSG/NOTICE received from clients." },
        { "lines_out", "parlor_lines_sent_total", "counter", "Lines queued to clients." },
        { "bytes_in", "parlor_bytes_received_total", "counter", "Bytes read from clients." },
        { "bytes_out", "parlor_bytes_sent_total", "counter", "Bytes written to clients." },
        { "sendq_disconnects", "parlor_sendq_disconnects_total", "counter", "Clients closed for exceeding the output queue." },
        { "spool_depth", "parlor_spool_messages", "gauge", "Messages spooled on disk waiting for PostgreSQL." },
        { "tls_clients", "parlor_tls_clients", "gauge", "Clients connected over TLS." },
        { "tls_handshakes", "parlor_tls_handshakes_total", "counter", "TLS handshakes completed." },
        { "tls_resumed", "parlor_tls_resumed_total", "counter", "TLS handshakes that resumed a session." },
        { "tls_failures", "parlor_tls_handshake_failures_total", "counter", "TLS handshakes that failed or timed out." },
    };
    static const struct metric cluster[] = {   /* only with --cluster */
        { "nats", "parlor_cluster_nats_connected", "gauge", "Whether the worker's NATS connection is up." },
        { "cluster_nodes", "parlor_cluster_nodes", "gauge", "Live nodes the worker sees, its own included." },
        { "cluster_msgs_in", "parlor_cluster_nats_messages_received_total", "counter", "NATS messages received (frames and heartbeats)." },
        { "cluster_msgs_out", "parlor_cluster_nats_messages_sent_total", "counter", "NATS messages published." },
        { "cluster_frames_in", "parlor_cluster_frames_received_total", "counter", "Mesh frames received from other nodes' workers." },
        { "cluster_frames_out", "parlor_cluster_frames_sent_total", "counter", "Mesh frames sent to other nodes' workers." },
        { "cluster_publish_errors", "parlor_cluster_publish_errors_total", "counter", "NATS publishes that failed." },
        { "cluster_reconnects", "parlor_cluster_reconnects_total", "counter", "Reconnections to NATS." },
        { "cluster_rooms_moved", "parlor_cluster_rooms_moved_total", "counter", "Rooms that got a new owner when nodes left or joined." },
        { "cluster_nicks_moved", "parlor_cluster_nicks_moved_total", "counter", "Nicks that got a new owner when nodes left or joined." },
    };
    buf_appendf(b, "# HELP parlor_uptime_seconds Seconds since the master started.\n"
                "# TYPE parlor_uptime_seconds gauge\nparlor_uptime_seconds %.0f\n",
                now_mono() - master_started);
    buf_appendf(b, "# HELP parlor_connections_accepted_total Connections accepted by the master.\n"
                "# TYPE parlor_connections_accepted_total counter\nparlor_connections_accepted_total %llu\n",
                (unsigned long long)mstats.accepted);
    buf_appendf(b, "# HELP parlor_connections_refused_total Connections refused (limits).\n"
                "# TYPE parlor_connections_refused_total counter\nparlor_connections_refused_total %llu\n",
                (unsigned long long)mstats.refused);
    buf_appendf(b, "# HELP parlor_worker_restarts_total Worker respawns.\n"
                "# TYPE parlor_worker_restarts_total counter\n");
    for (int s = 0; s < cfg->workers; s++)
        buf_appendf(b, "parlor_worker_restarts_total{worker=\"%d\"} %d\n", s, slots[s].restarts);
    buf_appendf(b, "# HELP parlor_worker_up Whether the worker answered.\n# TYPE parlor_worker_up gauge\n");
    for (int s = 0; s < cfg->workers; s++)
        buf_appendf(b, "parlor_worker_up{worker=\"%d\"} %d\n", s, q->done[s] ? 1 : 0);
    buf_appendf(b, "# HELP parlor_resident_memory_bytes Resident memory per process.\n"
                "# TYPE parlor_resident_memory_bytes gauge\n");
    buf_appendf(b, "parlor_resident_memory_bytes{process=\"master\"} %ld\n", rss_kb(getpid()) * 1024);
    for (int s = 0; s < cfg->workers; s++)
        if (slots[s].pid)
            buf_appendf(b, "parlor_resident_memory_bytes{process=\"worker\",worker=\"%d\"} %ld\n", s,
                        rss_kb(slots[s].pid) * 1024);
    per_worker_metrics(b, q, per_worker, sizeof per_worker / sizeof per_worker[0]);
    if (cfg->cluster[0])
        per_worker_metrics(b, q, cluster, sizeof cluster / sizeof cluster[0]);
    answer_end(c);
}

/* ---- queries ---- */

static void pending_free(struct pending *q)
{
    if (!q)
        return;
    for (int s = 0; s < MAX_WORKERS; s++)
        buf_free(&q->records[s]);
    free(q);
}

static void finish(struct ctl_conn *c)
{
    c->q->render(c);
    pending_free(c->q);
    c->q = NULL;
}

static bool complete(const struct pending *q)
{
    for (int s = 0; s < cfg->workers; s++)
        if (q->asked[s] && !q->done[s])
            return false;
    return true;
}

/* Ask one worker (only >= 0) or all; render when they have answered. */
static void ask(struct ctl_conn *c, int only, int what, const char *a1, const char *a2, ctl_render *render)
{
    struct pending *q = calloc(1, sizeof *q);
    PARLOR_ASSERT(q != NULL);
    q->qid = ++next_qid;
    q->render = render;
    q->deadline = now_mono() + QUERY_TIMEOUT;
    snprintf(q->arg, sizeof q->arg, "%s", a1 ? a1 : "");
    for (int s = 0; s < cfg->workers; s++) {
        if (only >= 0 && s != only)
            continue;
        q->asked[s] = true;
        if (master_query(s, q->qid, what, a1 ? a1 : "", a2 ? a2 : "") < 0)
            q->asked[s] = true;      /* stays not done: reported as not answering */
    }
    c->q = q;
    bool any = false;
    for (int s = 0; s < cfg->workers; s++)
        any |= q->asked[s] && slots[s].pid && slots[s].chan >= 0;
    if (!any)
        finish(c);
}

void control_on_answer(int slot, const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint32_t qid = ipc_get_u32(&r);
    bool last = ipc_get_u8(&r);
    uint32_t n = ipc_get_u32(&r);
    if (r.err)
        return;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct ctl_conn *c = &conns[i];
        if (c->fd < 0 || !c->q || c->q->qid != qid || !c->q->asked[slot] || c->q->done[slot])
            continue;
        buf_append(&c->q->records[slot], r.p, r.left);
        c->q->count[slot] += n;
        if (last)
            c->q->done[slot] = true;
        if (complete(c->q))
            finish(c);
        return;
    }
}

/* ---- commands ---- */

static int parse_worker(struct ctl_conn *c, const char *s)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    if (!s || *end || v < 0 || v >= cfg->workers) {
        error(c, "expected a worker id from 0 to %d, got '%s'", cfg->workers - 1, s ? s : "");
        return -1;
    }
    return (int)v;
}

static void cmd_help(struct ctl_conn *c, char **argv, int argc, const char *rest);

static void cmd_status(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    ask(c, -1, Q_SUMMARY, cfg->cluster[0] ? "nodes" : NULL, NULL, render_status);
}

static void cmd_show(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    if (argc < 2) {
        error(c, "usage: show workers | show clients [WORKER] | show channels | show client NICK | show nodes");
        return;
    }
    if (strcmp(argv[1], "workers") == 0 && argc == 2) {
        ask(c, -1, Q_SUMMARY, NULL, NULL, render_workers);
    } else if (strcmp(argv[1], "clients") == 0 && argc <= 3) {
        int only = -1;
        if (argc == 3 && (only = parse_worker(c, argv[2])) < 0)
            return;
        ask(c, only, Q_CLIENTS, NULL, NULL, render_clients);
    } else if (strcmp(argv[1], "channels") == 0 && argc == 2) {
        ask(c, -1, Q_CHANNELS, NULL, NULL, render_channels);
    } else if (strcmp(argv[1], "client") == 0 && argc == 3) {
        ask(c, -1, Q_CLIENT, argv[2], NULL, render_client);
    } else if (strcmp(argv[1], "nodes") == 0 && argc == 2) {
        if (!cfg->cluster[0])
            error(c, "not in a cluster (no --cluster)");
        else
            ask(c, -1, Q_NODES, NULL, NULL, render_nodes);
    } else {
        error(c, "usage: show workers | show clients [WORKER] | show channels | show client NICK | show nodes");
    }
}

static void cmd_stats(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    if (c->json) {
        error(c, "stats is Prometheus text; ask without json");
        return;
    }
    ask(c, -1, Q_SUMMARY, NULL, NULL, render_stats);
}

/* kick and kill: the same query; kill words the reason as IRC KILL does. */
static void cmd_kick(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    bool kill = strcmp(argv[0], "kill") == 0;
    if (argc < 2) {
        error(c, "usage: %s NICK [--ban DURATION] [REASON]", argv[0]);
        return;
    }
    /* rest starts at the nick; the reason is what follows it */
    const char *reason = rest + strlen(argv[1]);
    while (*reason == ' ')
        reason++;
    long ban_s = 0;
    if (argc >= 3 && strcmp(argv[2], "--ban") == 0) {
        if (argc < 4 || (ban_s = bans_parse_duration(argv[3])) < 0) {
            error(c, "%s --ban: expected a duration such as 30m, 2h or 7d, got '%s'",
                  argv[0], argc < 4 ? "" : argv[3]);
            return;
        }
        reason = strstr(reason, argv[3]) + strlen(argv[3]);
        while (*reason == ' ')
            reason++;
    }
    ask(c, -1, kill ? Q_KILL : Q_KICK, argv[1], reason, kill ? render_kill : render_kick);
    if (c->q) {
        c->q->ban_s = ban_s;
        snprintf(c->q->ban_reason, sizeof c->q->ban_reason, "%s", reason[0] ? reason : kill ? "killed" : "kicked");
    }
}

static void cmd_ban(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    long secs;
    if (argc < 3 || (secs = bans_parse_duration(argv[2])) < 0) {
        error(c, "usage: ban ADDRESS|CIDR|account:NAME DURATION [REASON]  (DURATION: 30m, 2h, 7d...)");
        return;
    }
    const char *reason = strstr(rest + strlen(argv[1]), argv[2]) + strlen(argv[2]);
    while (*reason == ' ')
        reason++;
    char note[300];
    if (bans_add(argv[1], secs, reason, note, sizeof note) < 0) {
        error(c, "%s", note);
        return;
    }
    ok(c, "%s banned for %ld s%s", argv[1], secs, note);
}

static void cmd_unban(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    if (argc != 2) {
        error(c, "usage: unban ADDRESS|CIDR|account:NAME");
        return;
    }
    if (bans_remove(argv[1]) < 0)
        error(c, "no ban on %s", argv[1]);
    else
        ok(c, "ban on %s lifted", argv[1]);
}

static void list_ban(void *ctx, const char *key, long left, const char *reason)
{
    struct ctl_conn *c = ctx;
    if (c->json) {
        buf_append_str(&c->out, c->out.data[c->out.len - 1] == '[' ? "{\"address\":" : ",{\"address\":");
        buf_append_json(&c->out, key);
        buf_appendf(&c->out, ",\"seconds_left\":%ld,\"reason\":", left);
        buf_append_json(&c->out, reason);
        buf_append_byte(&c->out, '}');
    } else {
        out(c, "%-40s %8ld  %s\n", key, left, reason);
    }
}

static void cmd_bans(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    if (c->json)
        buf_append_str(&c->out, "{\"bans\":[");
    else
        out(c, "%-40s %8s  %s\n", "MASK", "SECONDS", "REASON");
    bans_each(list_ban, c);
    if (c->json)
        buf_append_str(&c->out, "]}\n");
    answer_end(c);
}

static void cmd_wall(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    if (!rest[0]) {
        error(c, "usage: wall TEXT");
        return;
    }
    ask(c, -1, Q_WALL, rest, NULL, render_wall);
}

static void cmd_reload(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    char msg[512];
    if (master_reload(msg, sizeof msg) < 0)
        error(c, "reload refused: %s; the running configuration is unchanged", msg);
    else
        ok(c, "%s", msg);
}

static void cmd_restart(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    int slot = -1;
    if (argc == 2 && strcmp(argv[1], "all") == 0) {
        slot = -1;
    } else if (argc == 3 && strcmp(argv[1], "worker") == 0) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*end || end == argv[2] || v < 0 || v >= cfg->workers) {
            error(c, "no worker %s (0..%d)", argv[2], cfg->workers - 1);
            return;
        }
        slot = (int)v;
    } else {
        error(c, "usage: restart worker N | restart all");
        return;
    }
    char msg[128];
    if (master_restart(slot, msg, sizeof msg) < 0)
        error(c, "%s", msg);
    else
        ok(c, "%s", msg);
}

static void cmd_drain(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    bool drain = strcmp(argv[0], "drain") == 0;
    if (argc != 2) {
        error(c, "usage: %s WORKER", argv[0]);
        return;
    }
    int s = parse_worker(c, argv[1]);
    if (s < 0)
        return;
    int others = 0;
    for (int i = 0; i < cfg->workers; i++)
        others += i != s && !slots[i].draining;
    if (drain && !others) {
        error(c, "worker %d is the last one taking clients; undrain another first", s);
        return;
    }
    slots[s].draining = drain;
    log_info("control: worker %d %s", s, drain ? "draining: no new clients" : "accepting clients again");
    ok(c, "worker %d %s", s, drain ? "draining (no new clients)" : "accepting");
}

static void cmd_shutdown(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    int grace = 0;
    if (argc == 3 && strcmp(argv[1], "graceful") == 0) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*end || v < 0 || v > 3600) {
            error(c, "graceful: expected seconds from 0 to 3600, got '%s'", argv[2]);
            return;
        }
        grace = (int)v;
    } else if (argc != 1) {
        error(c, "usage: shutdown [graceful SECONDS]");
        return;
    }
    ok(c, "shutting down%s", grace ? " after the grace period" : "");
    master_shutdown(grace, "control socket");
}

struct ctl_command {
    const char *word;
    const char *usage;
    const char *help;
    void (*fn)(struct ctl_conn *c, char **argv, int argc, const char *rest);
};

static const struct ctl_command commands[] = {
    { "status", "status", "version, uptime, pids, clients, channels, message rates, database", cmd_status },
    { "show", "show workers", "per worker: pid, state, clients, channels, memory, restarts", cmd_show },
    { "show", "show clients [WORKER]", "every client (of one worker)", NULL },
    { "show", "show channels", "every channel with its owner, members and topic", NULL },
    { "show", "show client NICK", "one client in detail", NULL },
    { "show", "show nodes", "with --cluster: the nodes, their workers, clients and NATS state", NULL },
    { "stats", "stats", "counters in the Prometheus text format", cmd_stats },
    { "kick", "kick NICK [--ban DURATION] [REASON]", "disconnect a user (and keep their address out)", cmd_kick },
    { "kill", "kill NICK [--ban DURATION] [REASON]", "disconnect a user as IRC KILL does (\"Killed by admin (REASON)\")", cmd_kick },
    { "ban", "ban ADDRESS|CIDR|account:NAME DURATION [REASON]", "refuse connections from an address (IPv6: its /64) or block, or logins to an account; stored", cmd_ban },
    { "unban", "unban ADDRESS|CIDR|account:NAME", "lift a ban", cmd_unban },
    { "bans", "bans", "the bans in force, with seconds left", cmd_bans },
    { "wall", "wall TEXT", "a server notice to everyone", cmd_wall },
    { "reload", "reload", "re-read the configuration file (also SIGHUP)", cmd_reload },
    { "restart", "restart worker N | restart all", "restart one worker, or all one at a time (their clients reconnect)", cmd_restart },
    { "drain", "drain WORKER", "give a worker no new clients", cmd_drain },
    { "undrain", "undrain WORKER", "let a drained worker take clients again", cmd_drain },
    { "shutdown", "shutdown [graceful SECONDS]", "warn clients, wait, stop (also SIGTERM)", cmd_shutdown },
    { "help", "help", "this list", cmd_help },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void cmd_help(struct ctl_conn *c, char **argv, int argc, const char *rest)
{
    if (c->json) {
        buf_append_str(&c->out, "{\"commands\":[");
        for (size_t i = 0; i < NCOMMANDS; i++) {
            if (i)
                buf_append_byte(&c->out, ',');
            buf_append_str(&c->out, "{\"usage\":");
            buf_append_json(&c->out, commands[i].usage);
            buf_append_str(&c->out, ",\"help\":");
            buf_append_json(&c->out, commands[i].help);
            buf_append_byte(&c->out, '}');
        }
        buf_append_str(&c->out, "]}\n");
    } else {
        for (size_t i = 0; i < NCOMMANDS; i++)
            out(c, "%-30s %s\n", commands[i].usage, commands[i].help);
        out(c, "%-30s %s\n", "json COMMAND", "the same answer as one line of JSON");
    }
    answer_end(c);
}

static void run_line(struct ctl_conn *c, char *line)
{
    struct control_line cl;
    int r = control_parse_line(line, &cl);
    c->json = cl.json;
    if (r < 0) {
        error(c, "empty command; try help");
        return;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].fn && strcmp(commands[i].word, cl.argv[0]) == 0) {
            commands[i].fn(c, cl.argv, cl.argc, cl.rest);
            return;
        }
    error(c, "unknown command '%s'; try help", cl.argv[0]);
}

/* ---- sockets ---- */

int control_open(const char *path)
{
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    if (!path[0])
        path = default_control_path();
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        log_error("control socket path too long: %s", path);
        return -1;
    }
    int r = ensure_parent_dir(path);
    if (r < 0) {
        log_error("control socket %s: cannot create its directory: %s", path, strerror(-r));
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    /* A live server on this path is an error; a stale socket file is not. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        log_error("control socket %s is in use by another parlord", path);
        close(fd);
        return -1;
    }
    close(fd);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t old = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        log_error("control socket %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    snprintf(sock_path, sizeof sock_path, "%s", path);
    listen_fd = fd;
    log_info("control socket on %s", path);
    return 0;
}

static void conn_close(struct ctl_conn *c)
{
    close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
    buf_free(&c->out);
    pending_free(c->q);
    c->q = NULL;
}

void control_forget(void)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    if (listen_fd >= 0)
        close(listen_fd);
}

void control_close(void)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(sock_path);
        listen_fd = -1;
    }
}

/* Close c with a last line, which it may never read. */
static void conn_drop(struct ctl_conn *c, const char *why)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "error: %s; closing the connection\n\n", why);
    ssize_t ignored = send(c->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    conn_close(c);
}

/* A free slot, or else the connection idle the longest (closed to make
 * room; connections waiting for an answer are kept); NULL if none. */
static struct ctl_conn *free_or_idlest(void)
{
    struct ctl_conn *idlest = NULL;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct ctl_conn *c = &conns[i];
        if (c->fd < 0)
            return c;
        if (!c->q && (!idlest || c->active < idlest->active))
            idlest = c;
    }
    if (idlest) {
        log_info("control: %d connections open; closing the one idle for %.0f s to let a new one in",
                 MAX_CONNS, now_mono() - idlest->active);
        conn_drop(idlest, "too many control connections and this one was idle the longest");
    }
    return idlest;
}

static void accept_conn(void)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != 0 && cred.uid != getuid())) {
        log_warn("control socket: refused connection from uid %d (pid %d)",
                 len == sizeof cred ? (int)cred.uid : -1, len == sizeof cred ? (int)cred.pid : -1);
        const char *msg = "error: permission denied: only root and the server's user may connect\n\n";
        ssize_t ignored = write(fd, msg, strlen(msg));
        (void)ignored;
        close(fd);
        return;
    }
    struct ctl_conn *slot = free_or_idlest();
    if (!slot) {
        const char *msg = "error: too many control connections, all busy with a command\n\n";
        ssize_t ignored = write(fd, msg, strlen(msg));
        (void)ignored;
        close(fd);
        return;
    }
    slot->fd = fd;
    buf_init(&slot->in);
    buf_init(&slot->out);
    slot->q = NULL;
    slot->active = now_mono();
    log_debug("control: connection from uid %d pid %d", (int)cred.uid, (int)cred.pid);
}

static void flush_conn(struct ctl_conn *c);

/* Run complete lines while no query is in flight.  A client that sends
 * commands without reading the answers is closed once its unread answers
 * pass control-output-max: the master does not queue without bound. */
static void process(struct ctl_conn *c)
{
    while (c->fd >= 0 && !c->q && c->in.len && memchr(c->in.data, '\n', c->in.len)) {
        flush_conn(c);
        if (c->fd < 0)
            return;
        if (c->out.len > cfg->control_output_max) {
            log_warn("control: closing a connection that leaves %zu bytes of answers unread "
                     "(control-output-max %zu)", c->out.len, cfg->control_output_max);
            conn_close(c);
            return;
        }
        char *nl = memchr(c->in.data, '\n', c->in.len);
        *nl = '\0';
        size_t n = (size_t)(nl - c->in.data);
        if (n && c->in.data[n - 1] == '\r')
            c->in.data[n - 1] = '\0';
        char line[CONN_INPUT_MAX];
        snprintf(line, sizeof line, "%s", c->in.data);
        buf_consume(&c->in, n + 1);
        run_line(c, line);
    }
}

static void flush_conn(struct ctl_conn *c)
{
    while (c->out.len) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn_close(c);
            return;
        }
        buf_consume(&c->out, (size_t)n);
        c->active = now_mono();
    }
}

int control_pollfds(struct pollfd *pfd, int n, int max)
{
    if (listen_fd >= 0 && n < max)
        pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
    for (int i = 0; i < MAX_CONNS && n < max; i++)
        if (conns[i].fd >= 0)
            pfd[n++] = (struct pollfd){ .fd = conns[i].fd,
                                        .events = (short)(POLLIN | (conns[i].out.len ? POLLOUT : 0)) };
    return n;
}

void control_handle(struct pollfd *pfd, int n)
{
    for (int k = 0; k < n; k++) {
        if (!pfd[k].revents)
            continue;
        if (pfd[k].fd == listen_fd) {
            accept_conn();
            continue;
        }
        struct ctl_conn *c = NULL;
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i].fd == pfd[k].fd)
                c = &conns[i];
        if (!c)
            continue;
        if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
            char data[4096];
            ssize_t r = recv(c->fd, data, sizeof data, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                conn_close(c);
                continue;
            }
            if (r > 0) {
                c->active = now_mono();
                if (c->in.len + (size_t)r > CONN_INPUT_MAX * 4) {
                    conn_close(c);        /* not an admin typing commands */
                    continue;
                }
                buf_append(&c->in, data, (size_t)r);
                if (c->in.len > CONN_INPUT_MAX && !memchr(c->in.data, '\n', c->in.len)) {
                    buf_clear(&c->in);
                    error(c, "command too long");
                }
                process(c);
            }
        }
        if (c->fd >= 0)
            flush_conn(c);
    }
}

/* Answer queries whose workers stayed silent, then run queued commands. */
void control_tick(void)
{
    double now = now_mono();
    for (int i = 0; i < MAX_CONNS; i++) {
        struct ctl_conn *c = &conns[i];
        if (c->fd < 0)
            continue;
        if (c->q && (now > c->q->deadline || complete(c->q)))
            finish(c);
        if (!c->q)
            process(c);
        if (c->fd < 0)
            continue;
        flush_conn(c);
        if (c->fd >= 0 && !c->q && now - c->active > cfg->control_idle_timeout) {
            log_info("control: closing a connection idle for %.0f s (control-idle-timeout)",
                     now - c->active);
            conn_drop(c, "idle for too long");
        }
    }
}
