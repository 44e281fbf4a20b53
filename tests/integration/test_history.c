/* History: messages stored in order with their msgids, IRCv3 CHATHISTORY
 * (every subcommand, limits, errors, access) and the HistServ by-day view,
 * against a real PostgreSQL (one cluster for the suite, one parlord per
 * test; each test uses its own room and nick names). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

#define ALL_CAPS "batch echo-message message-tags server-time draft/chathistory"
#define MAX_LINES 160

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "history suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static void start(struct it_server *s)
{
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(s, extra);
}

/* Register on `worker` (or anywhere when -1) with the given caps ("" none). */
static struct it_client *user(const struct it_server *s, int worker, const char *nick, const char *caps)
{
    struct it_client *c = worker < 0 ? it_connect(s) : it_connect_on_worker(s, worker);
    if (caps[0]) {
        it_send(c, "CAP REQ :%s", caps);
        it_expect(c, " ACK ");
        it_send(c, "CAP END");
    }
    it_register(c, nick);
    return c;
}

static void join(struct it_client *c, const char *chan)
{
    it_send(c, "JOIN %s", chan);
    char end[128];
    snprintf(end, sizeof end, " 366 %s %s ", c->nick, chan);
    it_expect(c, end);
}

/* The value of tag `name` in a line ("" if absent) into out. */
static void tag_of(const char *line, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    if (line[0] != '@')
        return;
    size_t tl = strcspn(line, " ");
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    for (const char *p = line + 1; p < line + tl;) {
        size_t n = strcspn(p, "; ");
        if (strncmp(p, key, strlen(key)) == 0) {
            size_t vl = n - strlen(key);
            snprintf(out, cap, "%.*s", (int)vl, p + strlen(key));
            return;
        }
        p += n + 1;
    }
}

/* The text of a PRIVMSG/NOTICE line (after " :" following the target). */
static const char *text_of(const char *line)
{
    const char *p = line[0] == '@' ? strchr(line, ' ') + 1 : line;
    p = strchr(p, ' ');                 /* after the source */
    p = p ? strchr(p + 1, ' ') : NULL;  /* after the command */
    p = p ? strstr(p, " :") : NULL;     /* after the target */
    return p ? p + 2 : "";
}

/* A sent message as its sender saw it come back (echo-message). */
struct sent {
    char msgid[64];
    char time[40];
};

/* PRIVMSG and wait for the echo (it comes once the message is durable). */
static void say(struct it_client *c, const char *target, const char *text, struct sent *out)
{
    it_send(c, "PRIVMSG %s :%s", target, text);
    char needle[600];
    snprintf(needle, sizeof needle, ":%s!", c->nick);
    long deadline = it_now_ms() + 15000;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no echo of '%s' to %s", text, target);
        const char *src = l[0] == '@' ? strchr(l, ' ') + 1 : l;
        if (strncmp(src, needle, strlen(needle)) != 0 || !strstr(src, " PRIVMSG ") ||
            strcmp(text_of(l), text) != 0)
            continue;
        if (out) {
            tag_of(l, "msgid", out->msgid, sizeof out->msgid);
            tag_of(l, "time", out->time, sizeof out->time);
        }
        return;
    }
}

/* What a CHATHISTORY request returned. */
struct reply {
    char batch_type[64], batch_param[64];
    int n;
    char line[MAX_LINES][700];
    char fail[300];                    /* a FAIL line instead */
};

/* Read one CHATHISTORY answer of a batch client: BATCH +ref ... BATCH -ref
 * (every line inside tagged with the ref), or a FAIL. */
static void read_batch(struct it_client *c, struct reply *r)
{
    memset(r, 0, sizeof *r);
    char ref[64] = "";
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no complete CHATHISTORY answer");
        const char *src = l[0] == '@' ? strchr(l, ' ') + 1 : l;
        if (!ref[0]) {
            if (strstr(src, " FAIL CHATHISTORY ")) {
                snprintf(r->fail, sizeof r->fail, "%s", src);
                return;
            }
            if (sscanf(src, ":%*s BATCH +%63s %63s %63s", ref, r->batch_type, r->batch_param) >= 2)
                continue;
            ref[0] = '\0';
            continue;                  /* something else, e.g. a relayed message */
        }
        char end[80];
        snprintf(end, sizeof end, " BATCH -%s", ref);
        if (strstr(src, end) && strcmp(strstr(src, end), end) == 0)
            return;
        char b[64];
        tag_of(l, "batch", b, sizeof b);
        if (strcmp(b, ref) != 0)
            continue;                  /* not part of the batch */
        ck_assert_int_lt(r->n, MAX_LINES);
        snprintf(r->line[r->n++], sizeof r->line[0], "%s", l);
    }
}

static void history(struct it_client *c, struct reply *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void history(struct it_client *c, struct reply *r, const char *fmt, ...)
{
    char cmd[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    it_send(c, "CHATHISTORY %s", cmd);
    read_batch(c, r);
    if (r->fail[0])
        it_fail(c, "CHATHISTORY %s failed: %s", cmd, r->fail);
}

/* The texts of a reply, joined by '|'. */
static const char *texts(const struct reply *r)
{
    static char out[MAX_LINES * 64];
    out[0] = '\0';
    for (int i = 0; i < r->n; i++) {
        if (i)
            strcat(out, "|");
        strncat(out, text_of(r->line[i]), 60);
    }
    return out;
}

/* "m05|m06|m07" for messages from..to of the "m%02d" series. */
static const char *series(int from, int to)
{
    static char out[MAX_LINES * 8];
    out[0] = '\0';
    for (int i = from; i <= to; i++) {
        char one[16];
        snprintf(one, sizeof one, "%sm%02d", i > from ? "|" : "", i);
        strcat(out, one);
    }
    return out;
}

/* Send a series of n messages "m00".. with distinct milliseconds. */
static void send_series(struct it_client *c, const char *target, int n, struct sent *out)
{
    for (int i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof text, "m%02d", i);
        say(c, target, text, &out[i]);
        it_sleep_ms(3);
    }
}

static void expect_fail(struct it_client *c, const char *cmd, const char *want)
{
    it_send(c, "CHATHISTORY %s", cmd);
    const char *l = it_expect_numeric(c, "FAIL");
    if (!strstr(l, want))
        it_fail(c, "CHATHISTORY %s: wanted '%s', got '%s'", cmd, want, l);
}

/* Today's date (UTC) from a time tag. */
static void date_of(const char *time_tag, char out[11])
{
    snprintf(out, 11, "%.10s", time_tag);
}

/* ---- stored in order ---------------------------------------------------- */

START_TEST(test_messages_from_both_workers_are_stored_in_order_with_their_msgids)
{
    struct it_server s;
    start(&s);
    struct it_client *u[3] = {
        user(&s, 0, "ann", "echo-message message-tags server-time"),
        user(&s, 1, "ben", "echo-message message-tags server-time"),
        user(&s, 0, "cid", "echo-message"),
    };
    for (int i = 0; i < 3; i++)
        join(u[i], "#order");
    enum { N = 30 };
    struct sent sent[N];
    char ann_msgid[64] = "";
    for (int i = 0; i < N; i++) {
        char text[32];
        snprintf(text, sizeof text, "order %02d", i);
        say(u[i % 3], "#order", text, &sent[i]);
        if (i == 0) {
            /* ben (message-tags, the other worker) gets ann's message with
             * the msgid that is stored. */
            const char *l = it_wait(u[1], ":ann!", IT_TIMEOUT_MS);
            ck_assert_ptr_nonnull(l);
            tag_of(l, "msgid", ann_msgid, sizeof ann_msgid);
            ck_assert_str_eq(text_of(l), "order 00");
        }
    }

    const char *v[1] = { "#order" };
    PGresult *res = it_pg_query(&pg, "SELECT msgid, body, sender_nick, seq, target, is_private"
                                " FROM messages WHERE conversation = $1 ORDER BY server_time, id", 1, v);
    ck_assert_int_eq(PQntuples(res), N);
    for (int i = 0; i < N; i++) {
        char text[32];
        snprintf(text, sizeof text, "order %02d", i);
        ck_assert_str_eq(PQgetvalue(res, i, 1), text);
        ck_assert_str_eq(PQgetvalue(res, i, 2), u[i % 3]->nick);
        ck_assert_int_eq(atol(PQgetvalue(res, i, 3)), i + 1);        /* per-channel number */
        ck_assert_str_eq(PQgetvalue(res, i, 4), "#order");
        ck_assert_str_eq(PQgetvalue(res, i, 5), "f");
        if (i % 3 != 2)                  /* cid has no message-tags: no msgid shown */
            ck_assert_str_eq(PQgetvalue(res, i, 0), sent[i].msgid);
    }
    ck_assert_str_eq(PQgetvalue(res, 0, 0), ann_msgid);
    PQclear(res);
    for (int i = 0; i < 3; i++)
        it_client_free(u[i]);
    it_server_stop(&s);
}
END_TEST

/* ---- CHATHISTORY ---------------------------------------------------------- */

START_TEST(test_chathistory_subcommands_return_the_right_messages_in_order_in_a_batch)
{
    struct it_server s;
    start(&s);
    struct it_client *a = user(&s, 0, "hana", ALL_CAPS);
    struct it_client *b = user(&s, 1, "dul", ALL_CAPS);
    join(a, "#hist");
    join(b, "#hist");
    enum { N = 20 };
    struct sent m[N];
    send_series(a, "#hist", N, m);
    struct reply r;

    history(b, &r, "LATEST #hist * 5");
    ck_assert_str_eq(r.batch_type, "chathistory");
    ck_assert_str_eq(r.batch_param, "#hist");
    ck_assert_str_eq(texts(&r), series(15, 19));
    for (int i = 0; i < r.n; i++) {      /* as first sent: msgid, time, sender */
        char id[64], t[40];
        tag_of(r.line[i], "msgid", id, sizeof id);
        tag_of(r.line[i], "time", t, sizeof t);
        ck_assert_str_eq(id, m[15 + i].msgid);
        ck_assert_str_eq(t, m[15 + i].time);
        ck_assert_msg(strstr(r.line[i], " :hana PRIVMSG #hist :"), "%s", r.line[i]);
    }
    history(b, &r, "latest #HIST * 100");            /* case-insensitive */
    ck_assert_str_eq(texts(&r), series(0, 19));
    history(b, &r, "LATEST #hist msgid=%s 10", m[16].msgid);
    ck_assert_str_eq(texts(&r), series(17, 19));
    history(b, &r, "LATEST #hist timestamp=%s 10", m[16].time);
    ck_assert_str_eq(texts(&r), series(17, 19));

    history(b, &r, "BEFORE #hist msgid=%s 3", m[10].msgid);
    ck_assert_str_eq(texts(&r), series(7, 9));
    history(b, &r, "BEFORE #hist timestamp=%s 3", m[10].time);
    ck_assert_str_eq(texts(&r), series(7, 9));
    history(b, &r, "BEFORE #hist msgid=%s 50", m[2].msgid);
    ck_assert_str_eq(texts(&r), series(0, 1));

    history(b, &r, "AFTER #hist msgid=%s 3", m[10].msgid);
    ck_assert_str_eq(texts(&r), series(11, 13));
    history(b, &r, "AFTER #hist timestamp=%s 3", m[10].time);
    ck_assert_str_eq(texts(&r), series(11, 13));
    history(b, &r, "AFTER #hist msgid=%s 3", m[19].msgid);
    ck_assert_int_eq(r.n, 0);                         /* an empty batch */

    history(b, &r, "AROUND #hist msgid=%s 5", m[10].msgid);
    ck_assert_str_eq(texts(&r), series(8, 12));
    history(b, &r, "AROUND #hist msgid=%s 6", m[1].msgid);  /* one before: more after */
    ck_assert_str_eq(texts(&r), series(0, 5));
    history(b, &r, "AROUND #hist timestamp=%s 4", m[18].time);
    ck_assert_str_eq(texts(&r), series(16, 19));

    history(b, &r, "BETWEEN #hist msgid=%s msgid=%s 100", m[3].msgid, m[9].msgid);
    ck_assert_str_eq(texts(&r), series(4, 8));
    history(b, &r, "BETWEEN #hist msgid=%s msgid=%s 2", m[3].msgid, m[9].msgid);
    ck_assert_str_eq(texts(&r), series(4, 5));        /* counted from the first */
    history(b, &r, "BETWEEN #hist msgid=%s msgid=%s 2", m[9].msgid, m[3].msgid);
    ck_assert_str_eq(texts(&r), series(7, 8));        /* backwards from the first */
    history(b, &r, "BETWEEN #hist timestamp=%s timestamp=%s 100", m[3].time, m[9].time);
    ck_assert_str_eq(texts(&r), series(4, 8));
    history(b, &r, "BETWEEN #hist timestamp=%s msgid=%s 100", m[12].time, m[5].msgid);
    ck_assert_str_eq(texts(&r), series(6, 11));

    history(b, &r, "BEFORE #hist msgid=nosuchmsgid 10");
    ck_assert_int_eq(r.n, 0);
    history(b, &r, "LATEST #hist timestamp=2000-01-01T00:00:00.000Z 100");
    ck_assert_str_eq(texts(&r), series(0, 19));

    /* Without the batch cap: the same lines, no BATCH around them. */
    struct it_client *plain = user(&s, 0, "set", "server-time draft/chathistory");
    join(plain, "#hist");
    it_send(plain, "CHATHISTORY LATEST #hist * 2");
    const char *l = it_next_line(plain, IT_TIMEOUT_MS);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(strncmp(l, "@time=", 6) == 0 && !strstr(l, "batch=") && !strstr(l, "msgid=") &&
                  strcmp(text_of(l), "m18") == 0, "%s", l);
    l = it_next_line(plain, IT_TIMEOUT_MS);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(text_of(l), "m19");
    it_expect_alive(plain);
    it_client_free(plain);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_chathistory_limit_above_the_isupport_maximum_is_clamped)
{
    struct it_server s;
    start(&s);
    struct it_client *a = it_connect(&s);
    it_send(a, "CAP REQ :" ALL_CAPS);
    it_expect(a, " ACK ");
    it_send(a, "CAP END");
    it_send(a, "NICK lim");
    it_send(a, "USER lim 0 * :x");
    it_expect_re(a, " 005 lim .*CHATHISTORY=100 MSGREFTYPES=msgid,timestamp ");
    it_expect(a, " 376 ");
    snprintf(a->nick, sizeof a->nick, "lim");
    join(a, "#many");
    enum { N = 120 };
    for (int i = 0; i < N; i++) {
        char text[16];
        snprintf(text, sizeof text, "n%03d", i);
        say(a, "#many", text, NULL);
    }
    struct reply r;
    history(a, &r, "LATEST #many * 1000");
    ck_assert_int_eq(r.n, 100);
    ck_assert_str_eq(text_of(r.line[0]), "n020");
    ck_assert_str_eq(text_of(r.line[99]), "n119");
    history(a, &r, "LATEST #many * 99999999999999999999");
    ck_assert_int_eq(r.n, 100);
    history(a, &r, "AFTER #many timestamp=2000-01-01T00:00:00Z 101");
    ck_assert_int_eq(r.n, 100);
    ck_assert_str_eq(text_of(r.line[0]), "n000");
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_chathistory_targets_lists_own_rooms_and_conversations_by_latest_message)
{
    struct it_server s;
    start(&s);
    struct it_client *a = user(&s, 0, "tara", ALL_CAPS);
    struct it_client *b = user(&s, 1, "tbob", ALL_CAPS);
    struct it_client *c = user(&s, 0, "tcat", ALL_CAPS);
    join(a, "#tone");
    join(a, "#ttwo");
    join(b, "#tother");                 /* tara is not in it */
    struct sent first, last;
    say(a, "#tone", "one", &first);
    it_sleep_ms(5);
    say(a, "tbob", "hi bob", NULL);
    it_sleep_ms(5);
    say(c, "tara", "hi tara", NULL);
    it_sleep_ms(5);
    say(b, "#tother", "elsewhere", NULL);
    say(b, "tcat", "bob to cat", NULL);  /* not tara's */
    it_sleep_ms(5);
    say(a, "#ttwo", "two", &last);
    struct reply r;
    history(a, &r, "TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 50");
    ck_assert_str_eq(r.batch_type, "draft/chathistory-targets");
    ck_assert_int_eq(r.n, 4);
    const char *want[4] = { "#tone", "tbob", "tcat", "#ttwo" };
    for (int i = 0; i < 4; i++) {
        char re[200];
        snprintf(re, sizeof re, ":parlor.local CHATHISTORY TARGETS %s 20", want[i]);
        ck_assert_msg(strstr(r.line[i], re), "target %d: %s", i, r.line[i]);
    }
    char re[200];
    snprintf(re, sizeof re, "TARGETS #tone %s", first.time);
    ck_assert_msg(strstr(r.line[0], re), "%s", r.line[0]);
    snprintf(re, sizeof re, "TARGETS #ttwo %s", last.time);
    ck_assert_msg(strstr(r.line[3], re), "%s", r.line[3]);
    /* Counted from the first timestamp: forwards the oldest, backwards the
     * newest; the window excludes what is outside it. */
    history(a, &r, "TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 2");
    ck_assert_int_eq(r.n, 2);
    ck_assert_msg(strstr(r.line[0], " #tone ") && strstr(r.line[1], " tbob "), "%s", r.line[1]);
    history(a, &r, "TARGETS timestamp=2100-01-01T00:00:00.000Z timestamp=2000-01-01T00:00:00.000Z 2");
    ck_assert_int_eq(r.n, 2);
    ck_assert_msg(strstr(r.line[0], " tcat ") && strstr(r.line[1], " #ttwo "), "%s", r.line[0]);
    history(a, &r, "TARGETS timestamp=%s timestamp=2100-01-01T00:00:00.000Z 50", first.time);
    ck_assert_int_eq(r.n, 3);
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_chathistory_errors_are_standard_replies)
{
    struct it_server s;
    start(&s);
    struct it_client *a = user(&s, 0, "erra", ALL_CAPS);
    struct it_client *b = user(&s, 1, "errb", ALL_CAPS);
    join(a, "#err");
    join(b, "#err");
    say(a, "#err", "secret", NULL);
    expect_fail(a, "", ":parlor.local FAIL CHATHISTORY NEED_MORE_PARAMS :");
    expect_fail(a, "LATEST #err", "FAIL CHATHISTORY NEED_MORE_PARAMS LATEST :");
    expect_fail(a, "BETWEEN #err * 10", "FAIL CHATHISTORY NEED_MORE_PARAMS BETWEEN :");
    expect_fail(a, "TARGETS timestamp=2000-01-01T00:00:00Z", "FAIL CHATHISTORY NEED_MORE_PARAMS TARGETS :");
    expect_fail(a, "FROBNICATE #err * 10", "FAIL CHATHISTORY UNKNOWN_COMMAND FROBNICATE :Unknown command");
    expect_fail(a, "LATEST #err * 10 extra", "FAIL CHATHISTORY INVALID_PARAMS LATEST :Too many");
    expect_fail(a, "BEFORE #err * 10", "FAIL CHATHISTORY INVALID_PARAMS BEFORE * :");
    expect_fail(a, "LATEST #err nonsense 10", "FAIL CHATHISTORY INVALID_PARAMS LATEST nonsense :");
    expect_fail(a, "LATEST #err timestamp=2026-02-30T00:00:00.000Z 10",
                "FAIL CHATHISTORY INVALID_PARAMS LATEST timestamp=2026-02-30T00:00:00.000Z :Invalid timestamp");
    expect_fail(a, "AFTER #err timestamp=yesterday 10", ":Invalid timestamp");
    expect_fail(a, "LATEST #err * 0", "FAIL CHATHISTORY INVALID_PARAMS LATEST 0 :Invalid limit");
    expect_fail(a, "LATEST #err * -5", "FAIL CHATHISTORY INVALID_PARAMS LATEST -5 :Invalid limit");
    expect_fail(a, "LATEST #err * ten", "FAIL CHATHISTORY INVALID_PARAMS LATEST ten :Invalid limit");
    expect_fail(a, "TARGETS msgid=abc timestamp=2000-01-01T00:00:00Z 10",
                "FAIL CHATHISTORY INVALID_PARAMS TARGETS msgid=abc :Invalid timestamp");
    expect_fail(a, "LATEST #nowhere * 10", "FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere :Messages could not be retrieved");
    expect_fail(a, "LATEST bad,nick * 10", "FAIL CHATHISTORY INVALID_TARGET LATEST bad,nick :");
    /* A room with history, for someone who left it: refused. */
    it_send(b, "PART #err");
    it_expect(b, " PART #err");
    expect_fail(b, "LATEST #err * 10", "FAIL CHATHISTORY INVALID_TARGET LATEST #err :");
    expect_fail(b, "AROUND #ERR timestamp=2000-01-01T00:00:00Z 10", "FAIL CHATHISTORY INVALID_TARGET AROUND #ERR :");
    it_expect_alive(a);
    it_expect_alive(b);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);

    /* No database: MESSAGE_ERROR, and HistServ says so. */
    it_server_start(&s, NULL);
    a = user(&s, -1, "nodb", ALL_CAPS);
    join(a, "#nodb");
    expect_fail(a, "LATEST #nodb * 10",
                "FAIL CHATHISTORY MESSAGE_ERROR LATEST #nodb :Messages could not be retrieved");
    expect_fail(a, "TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10",
                "FAIL CHATHISTORY MESSAGE_ERROR TARGETS :");
    it_send(a, "PRIVMSG HistServ :days #nodb");
    it_expect(a, ":HistServ!HistServ@services.parlor.local NOTICE nodb :History is not available");
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_private_history_is_readable_only_by_its_two_sides)
{
    struct it_server s;
    start(&s);
    struct it_client *a = user(&s, 0, "Pam", ALL_CAPS);
    struct it_client *b = user(&s, 1, "pete", ALL_CAPS);
    struct it_client *c = user(&s, 0, "pry", ALL_CAPS);
    say(a, "pete", "p1 from pam", NULL);
    it_sleep_ms(3);
    say(b, "PAM", "p2 from pete", NULL);
    it_sleep_ms(3);
    say(a, "Pete", "p3 from pam", NULL);
    say(c, "pam", "pry says hi", NULL);  /* another conversation */
    struct reply r;
    history(a, &r, "LATEST pete * 10");
    ck_assert_str_eq(r.batch_param, "pete");
    ck_assert_str_eq(texts(&r), "p1 from pam|p2 from pete|p3 from pam");
    ck_assert_msg(strstr(r.line[1], " :pete PRIVMSG Pam :p2"), "%s", r.line[1]);
    history(b, &r, "LATEST pam * 10");
    ck_assert_str_eq(texts(&r), "p1 from pam|p2 from pete|p3 from pam");
    /* A third party only ever reaches its own conversations. */
    history(c, &r, "LATEST pete * 10");
    ck_assert_int_eq(r.n, 0);
    history(c, &r, "LATEST pam * 10");
    ck_assert_str_eq(texts(&r), "pry says hi");
    /* HistServ: the same rule. */
    it_send(c, "PRIVMSG HistServ :days pete");
    it_expect(c, "NOTICE pry :No messages stored for your conversation with pete.");
    it_send(b, "PRIVMSG HistServ :days Pam");
    it_expect_re(b, "NOTICE pete :  [0-9]{4}-[0-9]{2}-[0-9]{2}  3 messages$");
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- HistServ ------------------------------------------------------------- */

/* Read `n` HistServ NOTICE texts into out (skipping anything else). */
static void hs_read(struct it_client *c, int n, char (*out)[600])
{
    for (int i = 0; i < n; i++) {
        const char *l = it_wait(c, ":HistServ!HistServ@services.parlor.local NOTICE ", IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "HistServ: %d of %d notices", i, n);
        snprintf(out[i], 600, "%s", text_of(l));
    }
}

START_TEST(test_histserv_lists_days_and_shows_a_day_page_by_page)
{
    struct it_server s;
    start(&s);
    struct it_client *a = user(&s, 0, "dana", ALL_CAPS);
    struct it_client *b = user(&s, 1, "dora", "");
    join(a, "#days");
    join(b, "#days");
    enum { N = 120 };
    struct sent first, last;
    /* The series must fall on one UTC day: within 30 s of midnight, wait
     * until it has passed (the assertions below never get skipped). */
    time_t now = time(NULL);
    int left = 86400 - (int)(now % 86400);
    if (left <= 30)
        it_sleep_ms((left + 1) * 1000);
    for (int i = 0; i < N; i++) {
        char text[32];
        snprintf(text, sizeof text, "line %03d", i);
        say(a, "#days", text, i == 0 ? &first : i == N - 1 ? &last : NULL);
    }
    char today[11], day_last[11];
    date_of(first.time, today);
    date_of(last.time, day_last);
    ck_assert_msg(strcmp(today, day_last) == 0, "120 messages took from %s to %s", first.time, last.time);
    char (*n)[600] = calloc(80, 600);

    /* days: the client without any cap gets plain NOTICEs. */
    it_send(b, "PRIVMSG HistServ :days #days");
    hs_read(b, 3, n);
    ck_assert_str_eq(n[0], "Days with messages in #days (UTC), newest first:");
    char want[200];
    snprintf(want, sizeof want, "  %s  %d messages", today, N);
    ck_assert_str_eq(n[1], want);
    snprintf(want, sizeof want, "Read a day with: /msg HistServ SHOW #days %s (in parlor: /day %s #days)",
             today, today);
    ck_assert_str_eq(n[2], want);

    {
        /* show: 50 per page, in order, with the way to the next page. */
        it_send(b, "PRIVMSG HistServ :show #days %s", today);
        hs_read(b, 52, n);
        snprintf(want, sizeof want, "#days on %s (UTC), page 1 of 3 (%d messages):", today, N);
        ck_assert_str_eq(n[0], want);
        for (int i = 0; i < 50; i++) {
            char re[64];
            snprintf(re, sizeof re, "] <dana> line %03d", i);
            ck_assert_msg(n[1 + i][0] == '[' && strlen(n[1 + i]) == 9 + strlen(re) &&
                          strcmp(n[1 + i] + 9, re) == 0, "line %d: %s", i, n[1 + i]);
        }
        snprintf(want, sizeof want, "More: /msg HistServ SHOW #days %s 2", today);
        ck_assert_str_eq(n[51], want);
        /* The time is the message's own, in HH:MM:SS. */
        ck_assert_int_eq(strncmp(n[1] + 1, first.time + 11, 8), 0);

        it_send(b, "PRIVMSG HistServ :SHOW #DAYS %s 3", today);
        hs_read(b, 22, n);
        snprintf(want, sizeof want, "#days on %s (UTC), page 3 of 3 (%d messages):", today, N);
        ck_assert_str_eq(n[0], want);
        ck_assert_str_eq(strchr(n[1], ']'), "] <dana> line 100");
        ck_assert_str_eq(strchr(n[20], ']'), "] <dana> line 119");
        snprintf(want, sizeof want, "End of #days on %s.", today);
        ck_assert_str_eq(n[21], want);

        it_send(b, "PRIVMSG HistServ :show #days %s 4", today);
        hs_read(b, 1, n);
        snprintf(want, sizeof want, "There is no page 4 for #days on %s.", today);
        ck_assert_str_eq(n[0], want);
    }
    it_send(b, "PRIVMSG HistServ :show #days 1999-01-01");
    hs_read(b, 1, n);
    ck_assert_str_eq(n[0], "No messages in #days on 1999-01-01 (UTC).");

    /* Errors, each a clear NOTICE. */
    struct { const char *ask, *answer; } errors[] = {
        { "show #days 2026-13-01", "2026-13-01 is not a date: write it as YYYY-MM-DD, e.g. 2026-11-24." },
        { "show #days 24.11.2026", "24.11.2026 is not a date: write it as YYYY-MM-DD, e.g. 2026-11-24." },
        { "show #days 2026-11-24 zero", "zero is not a page number (1, 2, ...)." },
        { "show #days", "Syntax: SHOW <#room|nick> <YYYY-MM-DD> [page] [tz=ZONE]" },
        { "days", "Syntax: DAYS <#room|nick> [tz=ZONE]" },
        { "days #nosuchroom", "There is no room named #nosuchroom." },
        { "days bad,name", "bad,name is neither a room (#name) nor a valid nick." },
        { "frobnicate", "Unknown command frobnicate. Try /msg HistServ HELP" },
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        it_send(b, "PRIVMSG HistServ :%s", errors[i].ask);
        hs_read(b, 1, n);
        ck_assert_str_eq(n[0], errors[i].answer);
    }
    /* A room you are not in. */
    it_send(b, "PART #days");
    it_expect(b, " PART #days");
    it_send(b, "PRIVMSG HistServ :days #days");
    hs_read(b, 1, n);
    ck_assert_str_eq(n[0], "You are not in #days: only its members can read its history. Join it first.");
    it_send(b, "PRIVMSG HistServ :help");
    hs_read(b, 5, n);
    ck_assert_msg(strstr(n[0], "HistServ shows stored history by day"), "%s", n[0]);

    /* WHOIS is answered locally; nothing sent to HistServ is stored. */
    it_send(b, "WHOIS HistServ");
    it_expect(b, " 311 dora HistServ HistServ services.parlor.local * :");
    it_expect(b, " 318 dora HistServ :End of WHOIS list");
    it_send(a, "NOTICE HistServ :hello");
    say(a, "HistServ", "days #days", NULL);          /* echoed, not stored */
    hs_read(a, 1, n);
    it_expect_alive(a);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM messages WHERE lower(target) = 'histserv'"
                                " OR conversation LIKE '%histserv%'", 0, NULL), 0);
    free(n);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_korean_text_and_sql_injection_are_stored_and_returned_verbatim)
{
    static const char *const texts_in[] = {
        "안녕하세요, 세계! 오늘 회의는 3시입니다 🌏",
        "'; DROP TABLE messages; --",
        "Robert'); DELETE FROM accounts WHERE ('a' = 'a",
        "\\x27 $1 %s %n {\"a\",\"b\"} NULL",
    };
    enum { N = sizeof texts_in / sizeof texts_in[0] };
    struct it_server s;
    start(&s);
    struct it_client *a = user(&s, 0, "민영", ALL_CAPS);
    struct it_client *b = user(&s, 1, "준호", ALL_CAPS);
    join(a, "#한국어");
    join(b, "#한국어");
    struct sent sent[N], psent[N];
    for (int i = 0; i < N; i++) {
        say(a, "#한국어", texts_in[i], &sent[i]);
        say(a, "준호", texts_in[i], &psent[i]);
    }
    for (int i = 0; i < N; i++) {
        const char *v[1] = { sent[i].msgid };
        PGresult *res = it_pg_query(&pg, "SELECT body, sender_nick, target FROM messages WHERE msgid = $1", 1, v);
        ck_assert_int_eq(PQntuples(res), 1);
        ck_assert_str_eq(PQgetvalue(res, 0, 0), texts_in[i]);
        ck_assert_str_eq(PQgetvalue(res, 0, 1), "민영");
        ck_assert_str_eq(PQgetvalue(res, 0, 2), "#한국어");
        PQclear(res);
        v[0] = psent[i].msgid;
        res = it_pg_query(&pg, "SELECT body, conversation FROM messages WHERE msgid = $1", 1, v);
        ck_assert_int_eq(PQntuples(res), 1);
        ck_assert_str_eq(PQgetvalue(res, 0, 0), texts_in[i]);
        PQclear(res);
    }
    ck_assert_int_ge(it_pg_long(&pg, "SELECT count(*) FROM messages", 0, NULL), 2 * N);

    struct reply r;
    history(b, &r, "LATEST #한국어 * 10");
    ck_assert_int_eq(r.n, N);
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(text_of(r.line[i]), texts_in[i]);
    history(b, &r, "LATEST 민영 * 10");
    ck_assert_str_eq(r.batch_param, "민영");
    ck_assert_int_eq(r.n, N);
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(text_of(r.line[i]), texts_in[i]);

    char day[11];
    date_of(sent[N - 1].time, day);
    char (*n)[600] = calloc(N + 2, 600);
    it_send(b, "PRIVMSG HistServ :show #한국어 %s", day);
    hs_read(b, N + 2, n);
    for (int i = 0; i < N; i++) {
        char want[600];
        snprintf(want, sizeof want, "] <민영> %s", texts_in[i]);
        ck_assert_str_eq(strchr(n[1 + i], ']'), want);
    }
    free(n);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

Suite *history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_add_test(tc, test_messages_from_both_workers_are_stored_in_order_with_their_msgids);
    tcase_add_test(tc, test_chathistory_subcommands_return_the_right_messages_in_order_in_a_batch);
    tcase_add_test(tc, test_chathistory_limit_above_the_isupport_maximum_is_clamped);
    tcase_add_test(tc, test_chathistory_targets_lists_own_rooms_and_conversations_by_latest_message);
    tcase_add_test(tc, test_chathistory_errors_are_standard_replies);
    tcase_add_test(tc, test_private_history_is_readable_only_by_its_two_sides);
    tcase_add_test(tc, test_histserv_lists_days_and_shows_a_day_page_by_page);
    tcase_add_test(tc, test_korean_text_and_sql_injection_are_stored_and_returned_verbatim);
    suite_add_tcase(s, tc);
    return s;
}
