/* The worker's PostgreSQL connection; see worker/store.h for the contract.
 *
 * Operations go into a FIFO in the order they are sent.  Every statement is
 * followed by its own pipeline sync point, so a failing statement only fails
 * itself; its results come back as: result(s), NULL, PGRES_PIPELINE_SYNC.
 *
 * Messages queued during one loop iteration become one INSERT ... SELECT FROM
 * unnest($1::text[], ...) sent from store_flush() (the worker's check
 * handle).  At most MAX_BATCHES_IN_FLIGHT are outstanding; meanwhile new
 * messages gather into a larger next batch.
 *
 * When the connection is down (or not up yet), a batch is appended to the
 * spool file (records in the IPC field encoding) and fsync'd; that is its
 * durability.  A batch whose connection dies before its result came back is
 * spooled too: it may have been committed, but msgid is unique and inserts
 * say ON CONFLICT DO NOTHING, so the replay never stores it twice.  After a
 * reconnect the spool is replayed, in order and ahead of newer batches, then
 * truncated. */
#include "worker/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "ipc/frame.h"
#include "worker/worker_int.h"

#define MAX_BATCHES_IN_FLIGHT 2
#define REPLAY_CHUNK 5000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

enum conn_state { ST_NONE, ST_CONNECTING, ST_UP, ST_DOWN };

#define NCOLS 16

/* Messages in column form, ready to become the INSERT's array parameters. */
struct batch {
    struct buf col[NCOLS];           /* array literals being built, without the braces */
    uint32_t n;
    struct buf records;           /* the same messages as spool records */
    store_durable_cb **cbs;       /* durable callbacks, n of them */
    void **args;
    uint32_t cap;
    struct barrier *after;        /* barriers to run once this batch is durable */
    bool renumbered;              /* sent with renumber_sql */
};

/* store_barrier's callback waiting behind a batch. */
struct barrier {
    store_durable_cb *cb;
    void *arg;
    struct barrier *next;
};

enum op_kind { OP_QUERY, OP_BATCH, OP_REPLAY };

/* One statement in the pipeline.  Owned by the FIFO. */
struct op {
    enum op_kind kind;
    store_query_cb *cb;
    void *arg;
    struct batch *batch;          /* OP_BATCH, OP_REPLAY */
    uint64_t replay_end;          /* OP_REPLAY: spool offset this chunk reaches */
    PGresult *result;             /* first result, kept until the sync */
    struct op *next;
};

/* A query made while the connection is being set up; sent once it is up. */
struct waiting {
    char *sql;
    int n;
    char **values;
    store_query_cb *cb;
    void *arg;
    struct waiting *next;
};

/* A query that fails without reaching the server; answered from the flush. */
struct failed {
    store_query_cb *cb;
    void *arg;
    struct failed *next;
};

static struct {
    char conninfo[1024];
    bool configured;
    bool closing;                 /* store_close: the worker is exiting, not an outage */
    enum conn_state state;
    PGconn *conn;
    int fd;
    uv_poll_t *poll;              /* freed in its close callback */
    uv_timer_t retry;
    int backoff_ms;
    struct op *head, *tail;
    int batches_in_flight;
    struct batch *pending;        /* this iteration's messages */
    struct failed *failed;
    struct waiting *waiting, **waiting_tail;
    char spool_path[512];
    int spool_fd;
    uint64_t spool_size;          /* bytes in the spool file */
    uint64_t spool_replayed;      /* bytes of it already replayed and acknowledged */
    uint64_t spool_sent;          /* bytes of it sent for replay */
    uint64_t spool_messages;      /* records not yet in PostgreSQL (approximate after restarts) */
    uint32_t msgid_counter;
} S;

static const char *const insert_sql =
    "INSERT INTO messages (target, conversation, is_private, sender_nick, sender_account,"
    " command, body, server_time, msgid, seq,"
    " sender_client, target_account, target_client, sender_key, target_key, client_tags)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::bigint[],"
    " $11::bigint[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::text[])"
    " ON CONFLICT (msgid) DO NOTHING";

/* The same rows, for the spool replay and for a batch refused because a
 * channel message's number is taken (messages_channel_seq, migration 0004):
 * that happens when a channel's numbering restarted while PostgreSQL was
 * unreachable.  In every channel where one of the rows collides with a
 * different stored message, all of the batch's rows move after the stored
 * maximum (seq + max), keeping their order; nothing is dropped and no number
 * is used twice.  A row already stored under its msgid is skipped as before. */
static const char *const renumber_sql =
    "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::bigint[],"
    " $11::bigint[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::text[])"
    " AS u (target, conversation, is_private, sender_nick, sender_account, command, body,"
    " server_time, msgid, seq, sender_client, target_account, target_client, sender_key,"
    " target_key, client_tags)),"
    " taken AS (SELECT DISTINCT u.conversation FROM u JOIN messages m ON NOT m.is_private"
    " AND m.conversation = u.conversation AND m.seq = u.seq AND m.msgid <> u.msgid"
    " WHERE NOT u.is_private)"
    " INSERT INTO messages (target, conversation, is_private, sender_nick, sender_account,"
    " command, body, server_time, msgid, seq,"
    " sender_client, target_account, target_client, sender_key, target_key, client_tags)"
    " SELECT u.target, u.conversation, u.is_private, u.sender_nick, u.sender_account, u.command,"
    " u.body, u.server_time, u.msgid, u.seq + CASE WHEN u.is_private OR u.conversation NOT IN"
    " (SELECT conversation FROM taken) THEN 0 ELSE (SELECT max(m.seq) FROM messages m"
    " WHERE NOT m.is_private AND m.conversation = u.conversation) END,"
    " u.sender_client, u.target_account, u.target_client, u.sender_key, u.target_key,"
    " u.client_tags FROM u ON CONFLICT (msgid) DO NOTHING";

static void connect_start(void);
static void on_poll(uv_poll_t *h, int status, int events);
static void fail_later(store_query_cb *cb, void *arg);

/* ---- batches ---- */

static struct batch *batch_new(void)
{
    struct batch *b = calloc(1, sizeof *b);
    PARLOR_ASSERT(b != NULL);
    return b;
}

static void batch_free(struct batch *b)
{
    if (!b)
        return;
    while (b->after) {              /* never acknowledged: drop the barriers */
        struct barrier *x = b->after;
        b->after = x->next;
        free(x);
    }
    for (int i = 0; i < NCOLS; i++)
        buf_free(&b->col[i]);
    buf_free(&b->records);
    free(b->cbs);
    free(b->args);
    free(b);
}

/* Append one element to an array literal column. */
static void col_text(struct buf *c, const char *s)
{
    if (c->len)
        buf_append_byte(c, ',');
    if (!s) {
        buf_append_str(c, "NULL");
        return;
    }
    buf_append_byte(c, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_append_byte(c, '\\');
        buf_append_byte(c, *s);
    }
    buf_append_byte(c, '"');
}

static void col_raw(struct buf *c, const char *s)
{
    if (c->len)
        buf_append_byte(c, ',');
    buf_append_str(c, s);
}

/* A connection id as a bigint element; 0 (none) is NULL. */
static void col_client(struct buf *c, uint64_t id)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, (int64_t)id);
    col_raw(c, id ? s : "NULL");
}

/* Rounded to the nearest microsecond: times that crossed workers are whole
 * milliseconds held in a double (1764614789.691 may be ...690999999), and
 * truncating would store them a microsecond early. */
static void format_time(double t, char *out, size_t cap)
{
    long long total = llround(t * 1e6);
    time_t sec = (time_t)(total / 1000000);
    int us = (int)(total % 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

static void batch_add_columns(struct batch *b, const struct store_msg *m)
{
    char t[64], seq[32];
    format_time(m->time, t, sizeof t);
    snprintf(seq, sizeof seq, "%" PRIu64, m->seq);
    col_text(&b->col[0], m->target);
    col_text(&b->col[1], m->conversation);
    col_raw(&b->col[2], m->is_private ? "t" : "f");
    col_text(&b->col[3], m->sender_nick);
    col_text(&b->col[4], m->sender_account);
    col_text(&b->col[5], m->command);
    col_text(&b->col[6], m->body);
    col_text(&b->col[7], t);
    col_text(&b->col[8], m->msgid);
    col_raw(&b->col[9], seq);
    col_client(&b->col[10], m->sender_client);
    col_text(&b->col[11], m->target_account);
    col_client(&b->col[12], m->target_client);
    col_text(&b->col[13], m->sender_key);
    col_text(&b->col[14], m->target_key);
    col_text(&b->col[15], m->client_tags && m->client_tags[0] ? m->client_tags : NULL);
    b->n++;
}

/* Spool record: one IPC frame with the message's fields.  Type 1 is the
 * record before private messages had owners (still read from old spools);
 * type 2 adds the fields of migration 0005 at the end, type 3 the client
 * tags (migration 0007). */
enum { RECORD_V1 = 1, RECORD_V2 = 2, RECORD_V3 = 3 };

/* A string that may be NULL: a presence byte, then the string. */
static void put_opt_str(struct buf *out, const char *s)
{
    ipc_put_u8(out, s != NULL);
    ipc_put_cstr(out, s ? s : "");
}

static const char *get_opt_str(struct ipc_reader *r)
{
    bool present = ipc_get_u8(r);
    const char *s = ipc_get_str(r, NULL);
    return present ? s : NULL;
}

static void record_encode(struct buf *out, const struct store_msg *m)
{
    size_t f = ipc_begin(out, RECORD_V3);
    ipc_put_cstr(out, m->target);
    ipc_put_cstr(out, m->conversation);
    ipc_put_u8(out, m->is_private);
    ipc_put_cstr(out, m->sender_nick);
    put_opt_str(out, m->sender_account);
    ipc_put_cstr(out, m->command);
    ipc_put_cstr(out, m->body);
    ipc_put_cstr(out, m->msgid);
    ipc_put_u64(out, m->seq);
    ipc_put_u64(out, (uint64_t)llround(m->time * 1e6));
    ipc_put_u64(out, m->sender_client);
    put_opt_str(out, m->target_account);
    ipc_put_u64(out, m->target_client);
    put_opt_str(out, m->sender_key);
    put_opt_str(out, m->target_key);
    put_opt_str(out, m->client_tags);
    ipc_end(out, f);
}

static int record_decode(uint8_t type, const char *payload, size_t len, struct store_msg *m)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    memset(m, 0, sizeof *m);
    m->target = ipc_get_str(&r, NULL);
    m->conversation = ipc_get_str(&r, NULL);
    m->is_private = ipc_get_u8(&r);
    m->sender_nick = ipc_get_str(&r, NULL);
    m->sender_account = get_opt_str(&r);
    m->command = ipc_get_str(&r, NULL);
    m->body = ipc_get_str(&r, NULL);
    m->msgid = ipc_get_str(&r, NULL);
    m->seq = ipc_get_u64(&r);
    m->time = (double)ipc_get_u64(&r) / 1e6;
    if (type == RECORD_V2 || type == RECORD_V3) {
        m->sender_client = ipc_get_u64(&r);
        m->target_account = get_opt_str(&r);
        m->target_client = ipc_get_u64(&r);
        m->sender_key = get_opt_str(&r);
        m->target_key = get_opt_str(&r);
        if (type == RECORD_V3)
            m->client_tags = get_opt_str(&r);
    } else if (type != RECORD_V1) {
        return -1;
    }
    return r.err ? -1 : 0;
}

/* Run the durable callbacks of a batch, in order. */
static void batch_ack(struct batch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (b->cbs && b->cbs[i])
            b->cbs[i](b->args[i]);
    while (b->after) {
        struct barrier *x = b->after;
        b->after = x->next;
        x->cb(x->arg);
        free(x);
    }
}

/* ---- spool ---- */

static int spool_append(const struct buf *records)
{
    if (S.spool_fd < 0)
        return -EBADF;
    size_t off = 0;
    while (off < records->len) {
        ssize_t n = write(S.spool_fd, records->data + off, records->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)n;
    }
    if (fdatasync(S.spool_fd) < 0)
        return -errno;
    S.spool_size += records->len;
    return 0;
}

/* Make a batch durable without PostgreSQL. */
static void batch_spool(struct batch *b)
{
    if (!b->n)
        return;
    int r = spool_append(&b->records);
    if (r < 0) {
        /* Neither PostgreSQL nor disk: these messages are not durable and
         * must not be acknowledged as if they were. */
        log_error("store: spool write of %u messages failed: %s; not acknowledged",
                  b->n, strerror(-r));
        return;
    }
    S.spool_messages += b->n;
    batch_ack(b);
}

/* ---- the operation FIFO ---- */

static void push_op(struct op *o)
{
    if (S.tail)
        S.tail->next = o;
    else
        S.head = o;
    S.tail = o;
}

static void want_write(bool on)
{
    if (S.poll)
        uv_poll_start(S.poll, UV_READABLE | (on ? UV_WRITABLE : 0), on_poll);
}

static void flush_out(void)
{
    int r = PQflush(S.conn);
    want_write(r == 1);
}

static int send_statement(const char *sql, int n, const char *const *values)
{
    if (!PQsendQueryParams(S.conn, sql, n, NULL, values, NULL, NULL, 0) || !PQpipelineSync(S.conn)) {
        log_warn("store: send failed: %s", PQerrorMessage(S.conn));
        return -1;
    }
    return 0;
}

static int send_batch_sql(struct batch *b, const char *sql)
{
    char *vals[NCOLS];
    struct buf lit[NCOLS];
    for (int i = 0; i < NCOLS; i++) {
        buf_init(&lit[i]);
        buf_append_byte(&lit[i], '{');
        buf_append(&lit[i], b->col[i].data, b->col[i].len);
        buf_append_str(&lit[i], "}");
        buf_append_byte(&lit[i], '\0');
        vals[i] = lit[i].data;
    }
    int r = send_statement(sql, NCOLS, (const char *const *)vals);
    for (int i = 0; i < NCOLS; i++)
        buf_free(&lit[i]);
    return r;
}

static int send_batch(struct batch *b)
{
    return send_batch_sql(b, b->renumbered ? renumber_sql : insert_sql);
}

static void go_down(const char *why);

/* ---- replay ---- */

/* Send the spool's unsent records, in chunks, ahead of anything newer. */
static void replay_spool(void)
{
    if (S.state != ST_UP || S.spool_sent >= S.spool_size)
        return;
    uint64_t len = S.spool_size - S.spool_sent;
    char *data = malloc(len ? len : 1);
    PARLOR_ASSERT(data != NULL);
    ssize_t got = pread(S.spool_fd, data, len, (off_t)S.spool_sent);
    if (got != (ssize_t)len) {
        log_error("store: cannot read the spool: %s", got < 0 ? strerror(errno) : "short read");
        free(data);
        return;
    }
    size_t pos = 0;
    unsigned total = 0;
    while (pos < len) {
        struct batch *b = batch_new();
        b->renumbered = true;             /* numbering may have restarted meanwhile */
        uint64_t start = S.spool_sent + pos;
        while (pos < len && b->n < REPLAY_CHUNK) {
            uint8_t type;
            const char *payload;
            size_t plen;
            long fl = ipc_frame_peek(data + pos, len - pos, &type, &payload, &plen);
            if (fl <= 0) {
                log_error("store: spool damaged at offset %" PRIu64 "; skipping the rest",
                          S.spool_sent + pos);
                pos = len;
                break;
            }
            struct store_msg m;
            if (record_decode(type, payload, plen, &m) == 0)
                batch_add_columns(b, &m);
            pos += (size_t)fl;
        }
        (void)start;
        if (!b->n) {
            batch_free(b);
            continue;
        }
        total += b->n;
        struct op *o = calloc(1, sizeof *o);
        PARLOR_ASSERT(o != NULL);
        o->kind = OP_REPLAY;
        o->batch = b;
        o->replay_end = S.spool_sent + pos;
        if (send_batch(b) < 0) {
            batch_free(b);
            free(o);
            free(data);
            go_down("send failed during replay");
            return;
        }
        push_op(o);
    }
    free(data);
    S.spool_sent = S.spool_size;
    log_info("store: replaying %u spooled messages", total);
    flush_out();
}

static void replay_done(uint64_t end)
{
    S.spool_replayed = end;
    if (S.spool_replayed == S.spool_size) {
        if (ftruncate(S.spool_fd, 0) == 0) {
            log_info("store: spool replayed and emptied");
            S.spool_size = S.spool_sent = S.spool_replayed = 0;
            S.spool_messages = 0;
        }
    }
}

/* ---- results ---- */

/* A batch refused because a channel message's number is taken goes again
 * with renumber_sql, behind what is in flight; true if it was sent. */
static bool resend_renumbered(struct op *o)
{
    const char *state = o->result ? PQresultErrorField(o->result, PG_DIAG_SQLSTATE) : NULL;
    if (o->batch->renumbered || !state || strcmp(state, "23505") != 0)
        return false;
    log_warn("store: %u messages collide with stored message numbers; storing them renumbered",
             o->batch->n);
    o->batch->renumbered = true;
    if (send_batch(o->batch) < 0)
        return false;
    struct op *again = calloc(1, sizeof *again);
    PARLOR_ASSERT(again != NULL);
    again->kind = OP_BATCH;
    again->batch = o->batch;
    o->batch = NULL;
    S.batches_in_flight++;
    push_op(again);
    flush_out();
    return true;
}

static void op_finish(struct op *o, const char *error)
{
    switch (o->kind) {
    case OP_QUERY:
        if (o->cb)
            o->cb(o->arg, error ? NULL : o->result, error);
        else if (error)
            log_warn("store: statement failed: %s", error);
        break;
    case OP_BATCH:
        S.batches_in_flight--;
        if (error && resend_renumbered(o)) {
            break;
        } else if (error) {
            /* A statement error is not a connection error: the rows are bad
             * (should not happen) — keep them on disk rather than drop them. */
            log_error("store: insert batch of %u failed: %s; spooling it", o->batch->n, error);
            batch_spool(o->batch);
        } else {
            batch_ack(o->batch);
        }
        break;
    case OP_REPLAY:
        if (error)
            log_error("store: replay batch of %u failed: %s", o->batch->n, error);
        else
            replay_done(o->replay_end);
        break;
    }
    if (o->result)
        PQclear(o->result);
    batch_free(o->batch);
    free(o);
}

static void read_results(void)
{
    if (!PQconsumeInput(S.conn)) {
        go_down(PQerrorMessage(S.conn));
        return;
    }
    while (S.head && !PQisBusy(S.conn)) {
        PGresult *res = PQgetResult(S.conn);
        if (!res)
            continue;                  /* end of one statement's results */
        ExecStatusType st = PQresultStatus(res);
        struct op *o = S.head;
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            S.head = o->next;
            if (!S.head)
                S.tail = NULL;
            const char *err = NULL;
            char msg[512];
            if (o->result && PQresultStatus(o->result) != PGRES_TUPLES_OK &&
                PQresultStatus(o->result) != PGRES_COMMAND_OK) {
                snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(o->result));
                size_t l = strlen(msg);
                while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                    msg[--l] = '\0';
                err = msg;
            }
            op_finish(o, err);
            continue;
        }
        if (!o->result)
            o->result = res;
        else
            PQclear(res);
    }
    if (PQstatus(S.conn) == CONNECTION_BAD)
        go_down(PQerrorMessage(S.conn));
}

/* ---- connection ---- */

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void drop_poll(void)
{
    if (!S.poll)
        return;
    uv_poll_stop(S.poll);
    uv_close((uv_handle_t *)S.poll, on_poll_closed);
    S.poll = NULL;
}

static void watch_socket(int events)
{
    int fd = PQsocket(S.conn);
    if (fd != S.fd || !S.poll) {
        drop_poll();
        S.poll = malloc(sizeof *S.poll);
        PARLOR_ASSERT(S.poll != NULL);
        uv_poll_init_socket(W.loop, S.poll, fd);
        S.fd = fd;
    }
    uv_poll_start(S.poll, events, on_poll);
}

static void on_retry(uv_timer_t *t)
{
    connect_start();
}

static void go_down(const char *why)
{
    if (S.state == ST_DOWN)
        return;
    char reason[256];
    snprintf(reason, sizeof reason, "%s", why && why[0] ? why : "connection lost");
    size_t l = strlen(reason);
    while (l && (reason[l - 1] == '\n' || reason[l - 1] == ' '))
        reason[--l] = '\0';
    if (S.state == ST_UP && S.closing)
        log_info("store: PostgreSQL connection closed (%s)%s", reason,
                 S.head ? "; unfinished writes go to the spool" : "");
    else if (S.state == ST_UP)
        log_warn("store: PostgreSQL connection lost (%s); spooling messages", reason);
    else
        log_warn("store: cannot connect to PostgreSQL (%s); retrying in %d ms", reason, S.backoff_ms);
    S.state = ST_DOWN;
    drop_poll();
    if (S.conn) {
        PQfinish(S.conn);
        S.conn = NULL;
    }
    S.fd = -1;
    /* Everything in flight: batches go to the spool (they were not
     * acknowledged), queries fail, replays will be sent again. */
    struct op *o = S.head;
    S.head = S.tail = NULL;
    while (o) {
        struct op *next = o->next;
        if (o->kind == OP_BATCH) {
            S.batches_in_flight--;
            batch_spool(o->batch);
            batch_free(o->batch);
            o->batch = NULL;
            if (o->result)
                PQclear(o->result);
            free(o);
        } else {
            op_finish(o, "database connection lost");
        }
        o = next;
    }
    S.spool_sent = S.spool_replayed;
    /* Queries made while connecting fail now: the database is not there. */
    while (S.waiting) {
        struct waiting *q = S.waiting;
        S.waiting = q->next;
        fail_later(q->cb, q->arg);
        free(q->sql);
        for (int i = 0; i < q->n; i++)
            free(q->values[i]);
        free(q->values);
        free(q);
    }
    S.waiting_tail = &S.waiting;
    uv_timer_start(&S.retry, on_retry, (uint64_t)S.backoff_ms, 0);
    S.backoff_ms = S.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : S.backoff_ms * 2;
}

static void connected(void)
{
    if (!PQenterPipelineMode(S.conn)) {
        go_down("cannot enter pipeline mode");
        return;
    }
    S.state = ST_UP;
    S.backoff_ms = BACKOFF_MIN_MS;
    log_info("store: connected to PostgreSQL");
    watch_socket(UV_READABLE);
    replay_spool();
    /* Queries made while connecting go out now, in order. */
    struct waiting *q = S.waiting;
    S.waiting = NULL;
    S.waiting_tail = &S.waiting;
    while (q) {
        struct waiting *next = q->next;
        store_query(q->sql, q->n, (const char *const *)q->values, q->cb, q->arg);
        free(q->sql);
        for (int i = 0; i < q->n; i++)
            free(q->values[i]);
        free(q->values);
        free(q);
        q = next;
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    W.now = now_wall();
    if (S.state == ST_CONNECTING) {
        switch (PQconnectPoll(S.conn)) {
        case PGRES_POLLING_READING:
            watch_socket(UV_READABLE);
            return;
        case PGRES_POLLING_WRITING:
            watch_socket(UV_WRITABLE);
            return;
        case PGRES_POLLING_OK:
            connected();
            return;
        default:
            go_down(PQerrorMessage(S.conn));
            return;
        }
    }
    if (S.state != ST_UP)
        return;
    if (status < 0) {
        go_down(uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE)
        flush_out();
    if (S.state == ST_UP && (events & UV_READABLE))
        read_results();
}

static void connect_start(void)
{
    S.conn = PQconnectStart(S.conninfo);
    if (!S.conn || PQstatus(S.conn) == CONNECTION_BAD) {
        S.state = ST_CONNECTING;
        go_down(S.conn ? PQerrorMessage(S.conn) : "out of memory");
        return;
    }
    PQsetnonblocking(S.conn, 1);
    S.state = ST_CONNECTING;
    S.fd = -1;
    watch_socket(UV_WRITABLE);
}

static void open_spool(const char *dir)
{
    S.spool_fd = -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        log_error("store: cannot create spool directory %s: %s", dir, strerror(errno));
        return;
    }
    snprintf(S.spool_path, sizeof S.spool_path, "%s/spool-%d.bin", dir, W.slot);
    S.spool_fd = open(S.spool_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (S.spool_fd < 0) {
        log_error("store: cannot open spool %s: %s", S.spool_path, strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(S.spool_fd, &st) == 0 && st.st_size > 0) {
        S.spool_size = (uint64_t)st.st_size;
        log_info("store: %s holds %lld bytes from before; they will be replayed",
                 S.spool_path, (long long)st.st_size);
    }
}

/* ---- API ---- */

void store_init(const char *conninfo, const char *spool_dir)
{
    memset(&S, 0, sizeof S);
    S.spool_fd = -1;
    S.fd = -1;
    S.backoff_ms = BACKOFF_MIN_MS;
    S.waiting_tail = &S.waiting;
    if (!conninfo || !conninfo[0])
        return;
    S.configured = true;
    snprintf(S.conninfo, sizeof S.conninfo, "%s", conninfo);
    uv_timer_init(W.loop, &S.retry);
    open_spool(spool_dir);
    connect_start();
}

bool store_available(void)
{
    return S.state == ST_UP;
}

bool store_usable(void)
{
    return S.state == ST_UP || S.state == ST_CONNECTING;
}

const char *store_state(void)
{
    switch (S.state) {
    case ST_NONE: return S.configured ? "starting" : "not configured";
    case ST_CONNECTING: return "connecting";
    case ST_UP: return "connected";
    case ST_DOWN: return "down (spooling)";
    }
    return "?";
}

uint64_t store_spool_depth(void)
{
    return S.spool_messages;
}

static void fail_later(store_query_cb *cb, void *arg)
{
    struct failed *f = calloc(1, sizeof *f);
    PARLOR_ASSERT(f != NULL);
    f->cb = cb;
    f->arg = arg;
    /* Keep the order the queries were made in. */
    struct failed **tail = &S.failed;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
}

/* Queries and messages queued with a callback: worker/order.c tells from
 * this whether a command left something that answers later. */
static uint64_t submitted;

uint64_t store_submitted(void)
{
    return submitted;
}

void store_query(const char *sql, int nparams, const char *const *values,
                 store_query_cb *cb, void *arg)
{
    if (cb)
        submitted++;
    if (S.state == ST_CONNECTING) {
        struct waiting *q = calloc(1, sizeof *q);
        PARLOR_ASSERT(q != NULL);
        q->sql = strdup(sql);
        q->n = nparams;
        q->values = calloc((size_t)(nparams ? nparams : 1), sizeof *q->values);
        PARLOR_ASSERT(q->sql && q->values);
        for (int i = 0; i < nparams; i++)
            q->values[i] = values[i] ? strdup(values[i]) : NULL;
        q->cb = cb;
        q->arg = arg;
        if (!S.waiting_tail)
            S.waiting_tail = &S.waiting;
        *S.waiting_tail = q;
        S.waiting_tail = &q->next;
        return;
    }
    if (S.state != ST_UP || send_statement(sql, nparams, values) < 0) {
        fail_later(cb, arg);
        return;
    }
    struct op *o = calloc(1, sizeof *o);
    PARLOR_ASSERT(o != NULL);
    o->kind = OP_QUERY;
    o->cb = cb;
    o->arg = arg;
    push_op(o);
    flush_out();
}

void store_message(const struct store_msg *m, store_durable_cb *cb, void *arg)
{
    if (cb)
        submitted++;
    if (!S.configured) {
        if (cb)
            cb(arg);
        return;
    }
    if (!S.pending)
        S.pending = batch_new();
    struct batch *b = S.pending;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->cbs = realloc(b->cbs, b->cap * sizeof *b->cbs);
        b->args = realloc(b->args, b->cap * sizeof *b->args);
        PARLOR_ASSERT(b->cbs && b->args);
    }
    b->cbs[b->n] = cb;
    b->args[b->n] = arg;
    batch_add_columns(b, m);
    record_encode(&b->records, m);
}

static void on_barrier_query(void *arg, const PGresult *res, const char *error)
{
    struct barrier *x = arg;
    x->cb(x->arg);
    free(x);
}

bool store_pending(void)
{
    return S.pending && S.pending->n;
}

void store_sync(store_durable_cb *cb, void *arg)
{
    /* Barriers (SELECT 1) answer no client: not waited for. */
    bool queries = S.waiting || S.failed;
    for (struct op *o = S.head; o && !queries; o = o->next)
        queries = o->kind == OP_QUERY && o->cb != on_barrier_query;
    if (!queries) {
        cb(arg);
        return;
    }
    struct barrier *x = calloc(1, sizeof *x);
    PARLOR_ASSERT(x != NULL);
    x->cb = cb;
    x->arg = arg;
    store_query("SELECT 1", 0, NULL, on_barrier_query, x);
}

void store_barrier(store_durable_cb *cb, void *arg)
{
    struct barrier *x = calloc(1, sizeof *x);
    PARLOR_ASSERT(x != NULL);
    x->cb = cb;
    x->arg = arg;
    if (S.pending && S.pending->n) {
        struct barrier **tail = &S.pending->after;
        while (*tail)
            tail = &(*tail)->next;
        *tail = x;
        return;
    }
    /* Nothing waiting to be sent: a statement behind everything in flight
     * (or, without a connection, an answer from the next flush). */
    store_query("SELECT 1", 0, NULL, on_barrier_query, x);
}

void store_flush(void)
{
    /* Queries that never reached the server fail here, outside the caller. */
    while (S.failed) {
        struct failed *f = S.failed;
        S.failed = f->next;
        if (f->cb)
            f->cb(f->arg, NULL, S.configured ? "database unavailable" : "no database configured");
        free(f);
    }
    struct batch *b = S.pending;
    if (!b || !b->n)
        return;
    if (S.state != ST_UP) {
        S.pending = NULL;
        batch_spool(b);
        batch_free(b);
        return;
    }
    if (S.batches_in_flight >= MAX_BATCHES_IN_FLIGHT)
        return;                          /* gather more into this batch */
    S.pending = NULL;
    if (send_batch(b) < 0) {
        batch_spool(b);
        batch_free(b);
        go_down("send failed");
        return;
    }
    struct op *o = calloc(1, sizeof *o);
    PARLOR_ASSERT(o != NULL);
    o->kind = OP_BATCH;
    o->batch = b;
    S.batches_in_flight++;
    push_op(o);
    flush_out();
}

void store_close(void)
{
    if (!S.configured)
        return;
    /* Whatever is not committed yet goes to the spool: durable either way. */
    struct batch *b = S.pending;
    S.pending = NULL;
    if (b) {
        batch_spool(b);
        batch_free(b);
    }
    if (S.state == ST_UP) {
        /* Give in-flight statements a moment to finish (blocking is fine:
         * the worker is exiting). */
        double deadline = now_wall() + 2.0;
        PQsetnonblocking(S.conn, 0);
        while (S.head && now_wall() < deadline && S.state == ST_UP) {
            PQflush(S.conn);
            struct timespec ts = { 0, 2000000 };
            nanosleep(&ts, NULL);
            read_results();
        }
    }
    if (S.state == ST_UP)
        S.closing = true;                 /* a normal close: no outage warning */
    S.state = ST_UP;                      /* so go_down spools what is left */
    go_down("worker stopping");
    uv_timer_stop(&S.retry);
    uv_close((uv_handle_t *)&S.retry, NULL);
    if (S.spool_fd >= 0)
        close(S.spool_fd);
}

void store_new_msgid(char out[17])
{
    /* 48 bits of milliseconds, 6 bits of worker slot, 26 bits of counter:
     * unique across workers and restarts (a counter would have to wrap
     * within one millisecond). */
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    uint64_t ms = (uint64_t)(now_wall() * 1000.0);
    uint32_t c = ++S.msgid_counter & 0x3ffffff;
    unsigned __int128 v = ((unsigned __int128)(ms & 0xffffffffffffULL) << 32) |
                          ((uint64_t)(W.slot & 0x3f) << 26) | c;
    for (int i = 15; i >= 0; i--) {
        out[i] = alphabet[(unsigned)(v & 31)];
        v >>= 5;
    }
    out[16] = '\0';
}
