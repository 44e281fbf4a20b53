/* Storage: messages reach PostgreSQL exactly once, also across a database
 * restart and a worker killed with SIGKILL; migrations. */
#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/irc.h"
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "store suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static void start_with_db(struct it_server *s)
{
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(s, extra);
}

/* Register with echo-message and message-tags, join `chan`. */
static struct it_client *member(const struct it_server *s, int worker, const char *nick, const char *chan)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_send(c, "CAP REQ :echo-message message-tags server-time");
    it_send(c, "CAP END");
    it_register(c, nick);
    it_send(c, "JOIN %s", chan);
    it_expect_re(c, "^:[^ ]+ 366 ");
    return c;
}

/* Wait for the echo of "<tag> <i>" and return its msgid in out[17]. */
static void expect_echo(struct it_client *c, const char *tag, int i, char out[17])
{
    char re[128];
    snprintf(re, sizeof re, "msgid=[^; ]+.* PRIVMSG [^ ]+ :%s %d$", tag, i);
    const char *line = it_wait_re(c, re, 15000);
    if (!line)
        it_fail(c, "no echo for '%s %d'", tag, i);
    const char *p = strstr(line, "msgid=") + 6;
    size_t n = strcspn(p, "; ");
    ck_assert_uint_eq(n, 16);
    memcpy(out, p, 16);
    out[16] = '\0';
}

static long stored_count(const char *conversation)
{
    const char *v[1] = { conversation };
    return it_pg_long(&pg, "SELECT count(*) FROM messages WHERE conversation = $1", 1, v);
}

/* Wait until `want` rows of the conversation are stored (the deadline only
 * bounds a hang), then assert there are exactly that many. */
static void wait_stored(const char *conversation, long want)
{
    IT_EVENTUALLY(stored_count(conversation) >= want, 15000);
    ck_assert_int_eq(stored_count(conversation), want);
}

/* How many rows hold `msgid`. */
static long msgid_rows(const char *msgid)
{
    const char *v[1] = { msgid };
    return it_pg_long(&pg, "SELECT count(*) FROM messages WHERE msgid = $1", 1, v);
}

/* The msgid tag of a line, in out[17]; false if it has none. */
static bool line_msgid(const char *line, char out[17])
{
    const char *p = strstr(line, "msgid=");
    if (!p)
        return false;
    p += 6;
    size_t n = strcspn(p, "; ");
    if (n != 16)
        return false;
    memcpy(out, p, 16);
    out[16] = '\0';
    return true;
}

/* A private spool directory and the server flags that use it. */
struct spool {
    char dir[32];
    const char *extra[9];
};

static void spool_make(struct spool *sp)
{
    snprintf(sp->dir, sizeof sp->dir, "/tmp/parlor-spool-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sp->dir));
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", "--spool-dir", sp->dir, NULL };
    memcpy(sp->extra, extra, sizeof extra);
}

static void spool_remove(const struct spool *sp)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sp->dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_every_echoed_message_is_stored_once_across_a_postgres_restart)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *a = member(&s, 0, "writer", "#durable");
    struct it_client *b = member(&s, 1, "reader", "#durable");
    enum { N = 150 };
    static char ids[N][17];
    for (int i = 0; i < N; i++) {
        if (i == 50)
            ck_assert_int_eq(it_pg_pause(&pg), 0);       /* PostgreSQL goes away */
        if (i == 100)
            ck_assert_int_eq(it_pg_resume(&pg), 0);      /* and comes back */
        it_send(a, "PRIVMSG #durable :m %d", i);
        expect_echo(a, "m", i, ids[i]);
    }
    /* The other member got every message, in order. */
    for (int i = 0; i < N; i++) {
        /* Anchored: "m 1" must not match "m 10". */
        char re[64];
        snprintf(re, sizeof re, " PRIVMSG #durable :m %d$", i);
        if (!it_wait_re(b, re, 5000))
            it_fail(b, "missing message %d", i);
    }
    wait_stored("#durable", N);
    PGresult *r = it_pg_query(&pg, "SELECT msgid, seq, body FROM messages WHERE conversation = '#durable'"
                                   " ORDER BY seq", 0, NULL);
    ck_assert_int_eq(PQntuples(r), N);
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "m %d", i);
        ck_assert_str_eq(PQgetvalue(r, i, 2), body);
        ck_assert_str_eq(PQgetvalue(r, i, 0), ids[i]);
        ck_assert_int_eq(atol(PQgetvalue(r, i, 1)), i + 1);
    }
    PQclear(r);
    ck_assert(it_server_log_contains(&s, "spooling"));
    ck_assert(it_server_log_contains(&s, "spool replayed"));
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* The promise: messages acknowledged before the owner died keep numbers
 * 1..60 without gaps; the burst sent while it dies is not lost (the
 * sender's worker sends it again to the replacement, worker/outbox.c):
 * each of its messages is echoed, stored once and relayed once, in order,
 * and what the dead owner had numbered keeps its number, the rest
 * following without a gap; no number is used twice. */
START_TEST(test_history_is_gap_free_up_to_the_last_acknowledged_message_after_owner_is_killed)
{
    struct it_server s;
    start_with_db(&s);
    const char *chan = "#gapless";
    int owner = (int)(irc_casehash(chan, strlen(chan)) % 2);
    int other = 1 - owner;
    struct it_client *sender = member(&s, other, "sender", chan);
    /* On the surviving worker, without echo-message: sees what the owner
     * relayed, which is what the replacement continues from. */
    struct it_client *mirror = it_connect_on_worker(&s, other);
    it_send(mirror, "CAP REQ :message-tags");
    it_send(mirror, "CAP END");
    it_register(mirror, "mirror");
    it_send(mirror, "JOIN %s", chan);
    it_expect_re(mirror, "^:[^ ]+ 366 ");
    struct it_client *watcher = member(&s, owner, "watcher", chan);
    pid_t victim = watcher->worker_pid;
    enum { BEFORE = 60, BURST = 20, AFTER = 40 };
    static char ids[BEFORE + AFTER][17];
    for (int i = 0; i < BEFORE; i++) {
        it_send(sender, "PRIVMSG %s :g %d", chan, i);
        expect_echo(sender, "g", i, ids[i]);
    }
    for (int i = 0; i < BEFORE; i++) {
        char re[64];
        snprintf(re, sizeof re, "PRIVMSG %s :g %d$", chan, i);
        if (!it_wait_re(mirror, re, 5000))
            it_fail(mirror, "mirror missed g %d", i);
    }
    /* Send a burst and kill the owner while it is in flight.  Requests to
     * a dead owner are kept by the sender's worker and sent again to the
     * replacement (worker/outbox.c), so none of the burst is lost. */
    for (int i = 0; i < BURST; i++)
        it_send(sender, "PRIVMSG %s :lost-or-kept %d", chan, i);
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    pid_t now[2];
    it_server_expect_workers_replaced(&s, &victim, 1, now, 2, 10000);
    for (int i = 0; i < BURST; i++) {
        char burst_id[17];
        expect_echo(sender, "lost-or-kept", i, burst_id);
        /* Durable may mean the replacement's spool while its PostgreSQL
         * connection is still being made: wait for the row (the deadline
         * only bounds a hang). */
        long n, deadline = it_now_ms() + 10000;
        while ((n = msgid_rows(burst_id)) == 0 && it_now_ms() < deadline)
            it_sleep_ms(20);
        ck_assert_msg(n == 1, "burst message %d (%s) is stored %ld times", i, burst_id, n);
    }
    for (int i = 0; i < AFTER; i++) {
        it_send(sender, "PRIVMSG %s :g %d", chan, BEFORE + i);
        expect_echo(sender, "g", BEFORE + i, ids[BEFORE + i]);
    }
    /* The mirror gets the whole burst once, in order, before the first
     * message sent after the kill. */
    int relayed = 0;
    char first_after[64];
    snprintf(first_after, sizeof first_after, "PRIVMSG %s :g %d", chan, BEFORE);
    for (;;) {
        const char *line = it_next_line(mirror, IT_TIMEOUT_MS);
        if (!line)
            it_fail(mirror, "the mirror never got g %d", BEFORE);
        const char *p = strstr(line, first_after);
        if (p && p[strlen(first_after)] == '\0')
            break;
        char want[64];
        snprintf(want, sizeof want, "PRIVMSG %s :lost-or-kept %d", chan, relayed);
        p = strstr(line, want);
        if (p && p[strlen(want)] == '\0')
            relayed++;
        else if (strstr(line, "lost-or-kept"))
            it_fail(mirror, "burst relayed out of order or twice (expected %d): %s", relayed, line);
    }
    ck_assert_int_eq(relayed, BURST);
    /* Every acknowledged message is stored exactly once (the echo is sent
     * once it is durable, so no waiting is needed). */
    for (int i = 0; i < BEFORE + AFTER; i++)
        ck_assert_msg(msgid_rows(ids[i]) == 1,
                      "acknowledged message %d (%s) is not stored exactly once", i, ids[i]);
    const char *v1[1] = { chan };
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) - count(DISTINCT seq) FROM messages"
                                     " WHERE conversation = $1", 1, v1), 0);
    /* Exact numbers, no gap: g i is i + 1 before the kill; burst message j
     * is BEFORE + 1 + j (what the dead owner had numbered keeps its number,
     * the rest follow); after the kill, g (BEFORE + i) is BEFORE + BURST + 1 + i. */
    PGresult *r = it_pg_query(&pg, "SELECT body, seq FROM messages WHERE conversation = $1 ORDER BY seq",
                              1, v1);
    int rows = PQntuples(r), kept = 0;
    for (int k = 0; k < rows; k++) {
        const char *body = PQgetvalue(r, k, 0);
        long seq = atol(PQgetvalue(r, k, 1));
        int i;
        if (sscanf(body, "lost-or-kept %d", &i) == 1) {
            ck_assert_msg(seq == BEFORE + 1 + i, "'%s' stored as number %ld", body, seq);
            kept++;
        } else {
            ck_assert_msg(sscanf(body, "g %d", &i) == 1, "unexpected row '%s'", body);
            long want = i < BEFORE ? i + 1 : BEFORE + BURST + 1 + (i - BEFORE);
            ck_assert_msg(seq == want, "'%s' stored as number %ld, expected %ld", body, seq, want);
        }
    }
    ck_assert_int_eq(kept, BURST);
    ck_assert_int_eq(rows, BEFORE + kept + AFTER);
    PQclear(r);
    it_client_free(sender);
    it_client_free(mirror);
    it_client_free(watcher);
    it_server_stop(&s);
}
END_TEST

/* A channel created while PostgreSQL is unreachable restarts its numbering
 * at 1; once the spool is replayed, its messages must neither be refused nor
 * dropped nor reuse stored numbers (migration 0004's unique index): they are
 * renumbered after the stored ones, in order. */
START_TEST(test_numbers_restarted_while_postgres_was_down_are_stored_after_the_stored_ones)
{
    struct it_server s;
    start_with_db(&s);
    const char *chan = "#renumber";
    for (int i = 1; i <= 3; i++) {
        char seq[16], id[32], body[32];
        snprintf(seq, sizeof seq, "%d", i);
        snprintf(id, sizeof id, "old-renumber-%d", i);
        snprintf(body, sizeof body, "old %d", i);
        const char *v[4] = { chan, body, id, seq };
        PQclear(it_pg_query(&pg, "INSERT INTO messages (target, conversation, is_private, sender_nick,"
                                 " command, body, server_time, msgid, seq)"
                                 " VALUES ($1, $1, false, 'someone', 'PRIVMSG', $2, now(), $3, $4)",
                            4, v));
    }
    ck_assert_int_eq(it_pg_pause(&pg), 0);
    it_server_expect_log(&s, "PostgreSQL connection lost", 2, 10000);
    struct it_client *a = member(&s, 0, "renum", chan);
    enum { DOWN = 5, UP = 3 };
    static char ids[DOWN + UP][17];
    for (int i = 0; i < DOWN; i++) {
        it_send(a, "PRIVMSG %s :new %d", chan, i);
        expect_echo(a, "new", i, ids[i]);
    }
    ck_assert_int_eq(it_pg_resume(&pg), 0);
    it_server_expect_log(&s, "spool replayed", 1, 15000);
    /* Live messages of the same channel, still numbered from the restart. */
    for (int i = DOWN; i < DOWN + UP; i++) {
        it_send(a, "PRIVMSG %s :new %d", chan, i);
        expect_echo(a, "new", i, ids[i]);
    }
    for (int i = 0; i < DOWN + UP; i++)
        ck_assert_msg(msgid_rows(ids[i]) == 1, "new %d is not stored exactly once", i);
    const char *v[1] = { chan };
    PGresult *r = it_pg_query(&pg, "SELECT body, seq FROM messages WHERE conversation = $1 ORDER BY seq",
                              1, v);
    ck_assert_int_eq(PQntuples(r), 3 + DOWN + UP);
    for (int k = 0; k < 3; k++) {
        char body[16];
        snprintf(body, sizeof body, "old %d", k + 1);
        ck_assert_str_eq(PQgetvalue(r, k, 0), body);
        ck_assert_int_eq(atol(PQgetvalue(r, k, 1)), k + 1);
    }
    /* After the stored ones, in the order they were sent, each number once. */
    long prev = 3;
    for (int k = 3; k < 3 + DOWN + UP; k++) {
        char body[16];
        snprintf(body, sizeof body, "new %d", k - 3);
        ck_assert_str_eq(PQgetvalue(r, k, 0), body);
        long seq = atol(PQgetvalue(r, k, 1));
        ck_assert_int_gt(seq, prev);
        prev = seq;
    }
    PQclear(r);
    ck_assert(it_server_log_contains(&s, "storing them renumbered"));
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

/* Run parlord with args; returns the exit status and its stderr in out. */
static int run_parlord(char *const argv[], char *out, size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The migrations shipped next to the binary (migrations/NNNN_*.sql). */
static int migration_files(void)
{
    glob_t g;
    int n = glob("migrations/[0-9][0-9][0-9][0-9]_*.sql", 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    globfree(&g);
    return n;
}

/* Runs in its own test case with its own PostgreSQL, so it starts from an
 * empty database whatever else ran (CK_RUN_CASE=migrate runs it alone). */
START_TEST(test_migrate_command_applies_once_and_a_newer_schema_is_refused)
{
    const char *bin = getenv("PARLORD");
    ck_assert_ptr_nonnull(bin);
    int files = migration_files();
    ck_assert_int_ge(files, 4);
    char out[8192], want[64];
    char *argv[] = { (char *)bin, "migrate", "--database", pg.conninfo, NULL };
    /* First run on the empty database: every migration, once. */
    ck_assert_int_eq(run_parlord(argv, out, sizeof out), 0);
    snprintf(want, sizeof want, "(%d migrations applied now)", files);
    ck_assert_msg(strstr(out, want), "first migrate did not apply all %d: %s", files, out);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM schema_migrations", 0, NULL), files);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_channel_seq'",
                                0, NULL), 1);
    /* Second run: nothing. */
    ck_assert_int_eq(run_parlord(argv, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "(0 migrations applied now)"), "second migrate applied again: %s", out);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM schema_migrations", 0, NULL), files);
    /* A newer schema: refused with exit status 1 (README). */
    PQclear(it_pg_query(&pg, "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future.sql')", 0, NULL));
    int rc = run_parlord(argv, out, sizeof out);
    PQclear(it_pg_query(&pg, "DELETE FROM schema_migrations WHERE version = 9999", 0, NULL));
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(out, "the database schema is version 9999, newer than this parlord knows"),
                  "no clear refusal: %s", out);
    char *bad[] = { (char *)bin, "migrate", NULL };
    unsetenv("PARLOR_DATABASE_URL");
    ck_assert_int_eq(run_parlord(bad, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "parlord migrate: no database: give --database CONNINFO or set PARLOR_DATABASE_URL"),
                  "unexpected message: %s", out);
}
END_TEST

/* Migration 0004 on a database that already holds duplicate numbers (what
 * the old code could write): it applies, keeps the first of each number and
 * moves the others after the maximum, in id order. */
START_TEST(test_migration_0004_renumbers_existing_duplicates_and_then_refuses_them)
{
    PGresult *r = it_pg_query(&pg, "SELECT count(*) FROM schema_migrations", 0, NULL);
    PQclear(r);
    /* The suite's database is migrated by the servers of other tests or not
     * at all; start from the state before 0004 either way. */
    const char *bin = getenv("PARLORD");
    char out[8192];
    char *argv[] = { (char *)bin, "migrate", "--database", pg.conninfo, NULL };
    ck_assert_int_eq(run_parlord(argv, out, sizeof out), 0);
    PQclear(it_pg_query(&pg, "DROP INDEX messages_channel_seq", 0, NULL));
    PQclear(it_pg_query(&pg, "DELETE FROM schema_migrations WHERE version = 4", 0, NULL));
    PQclear(it_pg_query(&pg, "INSERT INTO messages (target, conversation, is_private, sender_nick, command,"
                             " body, server_time, msgid, seq) VALUES"
                             " ('#dup', '#dup', false, 'x', 'PRIVMSG', 'a', now(), 'dup-a', 1),"
                             " ('#dup', '#dup', false, 'x', 'PRIVMSG', 'b', now(), 'dup-b', 2),"
                             " ('#dup', '#dup', false, 'x', 'PRIVMSG', 'c', now(), 'dup-c', 1),"
                             " ('#dup', '#dup', false, 'x', 'PRIVMSG', 'd', now(), 'dup-d', 2),"
                             " ('a b', 'a b', true, 'x', 'PRIVMSG', 'p', now(), 'dup-p', 1),"
                             " ('a b', 'a b', true, 'x', 'PRIVMSG', 'q', now(), 'dup-q', 1)", 0, NULL));
    ck_assert_int_eq(run_parlord(argv, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "(1 migration applied now)"), "%s", out);
    r = it_pg_query(&pg, "SELECT string_agg(body || seq, ' ' ORDER BY seq) FROM messages"
                         " WHERE conversation = '#dup'", 0, NULL);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "a1 b2 c3 d4");
    PQclear(r);
    /* Private messages may share numbers (per-worker counters). */
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM messages WHERE conversation = 'a b' AND seq = 1",
                                0, NULL), 2);
    /* From now on the database refuses a second message with a number. */
    PGconn *c = PQconnectdb(pg.conninfo);
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PGresult *bad = PQexec(c, "INSERT INTO messages (target, conversation, is_private, sender_nick, command,"
                              " body, server_time, msgid, seq)"
                              " VALUES ('#dup', '#dup', false, 'x', 'PRIVMSG', 'e', now(), 'dup-e', 4)");
    ck_assert_int_eq(PQresultStatus(bad), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(bad, PG_DIAG_SQLSTATE), "23505");
    PQclear(bad);
    PQfinish(c);
    PQclear(it_pg_query(&pg, "DELETE FROM messages WHERE msgid LIKE 'dup-%'", 0, NULL));
}
END_TEST

START_TEST(test_injection_strings_and_korean_are_stored_verbatim)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *a = member(&s, 0, "민영", "#방");
    const char *evil = "'; DROP TABLE messages; -- \"quoted\" \\backslash {brace,comma} 안녕하세요";
    it_send(a, "PRIVMSG #방 :%s", evil);
    char id[17];
    ck_assert(line_msgid(it_expect_re(a, "msgid=[^ ]+ :민영![^ ]+ PRIVMSG #방 :'; DROP TABLE"), id));
    const char *v[1] = { "#방" };
    /* The echo means it is stored: exactly this row, nothing else. */
    PGresult *r = it_pg_query(&pg, "SELECT body, sender_nick, target, msgid, seq FROM messages"
                                   " WHERE conversation = $1", 1, v);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), evil);
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "민영");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "#방");
    ck_assert_str_eq(PQgetvalue(r, 0, 3), id);
    ck_assert_str_eq(PQgetvalue(r, 0, 4), "1");
    PQclear(r);
    /* Every table is still there. */
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename"
                                     " IN ('messages', 'sessions', 'channels', 'accounts', 'schema_migrations')",
                                0, NULL), 5);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

/* The promise: every message relayed to another member before a graceful
 * stop is stored, exactly once, with the text and msgid that member saw.
 * PostgreSQL is held back (a SHARE lock on messages blocks the inserts) so
 * that at SIGTERM two batches are in flight and the rest is pending: the
 * stop must spool both, and the next server on the same spool replays them. */
START_TEST(test_graceful_shutdown_keeps_every_relayed_message_in_postgres_or_the_spool)
{
    struct spool sp;
    spool_make(&sp);
    struct it_server s;
    it_server_start(&s, sp.extra);
    /* The writer has no echo-message: a client with it waits for each
     * message to be durable before its next command is read (its replies
     * keep command order, worker/order.c), so it could not put three
     * batches in flight.  `e` has it and checks that no echo comes early. */
    struct it_client *w = it_connect_on_worker(&s, 0);
    it_send(w, "CAP REQ :message-tags server-time");
    it_send(w, "CAP END");
    it_register(w, "shutw");
    it_join(w, "#inflight", NULL);
    struct it_client *e = member(&s, 0, "shute", "#inflight");
    struct it_client *r = member(&s, 1, "shutr", "#inflight");
    PGconn *lock = PQconnectdb(pg.conninfo);
    ck_assert_int_eq(PQstatus(lock), CONNECTION_OK);
    PQclear(PQexec(lock, "BEGIN"));
    PGresult *lr = PQexec(lock, "LOCK TABLE messages IN SHARE MODE");
    ck_assert_int_eq(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    /* Three groups, each relayed before the next is sent, so that they are
     * three batches: two in flight (blocked by the lock), one pending. */
    enum { N = 300, GROUP = 100 };
    static char seen[N][17];
    for (int g = 0; g < N; g += GROUP) {
        for (int i = g; i < g + GROUP; i++)
            it_send(w, "PRIVMSG #inflight :f %d", i);
        /* Every one is relayed (none can be stored yet). */
        for (int i = g; i < g + GROUP; i++) {
            char re[64];
            snprintf(re, sizeof re, "PRIVMSG #inflight :f %d$", i);
            const char *line = it_wait_re(r, re, 10000);
            if (!line)
                it_fail(r, "f %d was not relayed", i);
            ck_assert(line_msgid(line, seen[i]));
        }
    }
    /* Nothing is durable yet, so a sender with echo-message has no echo
     * (echo-message is the acknowledgement). */
    it_send(e, "PRIVMSG #inflight :f %d", N);
    char last[17];
    {
        char re[64];
        snprintf(re, sizeof re, "PRIVMSG #inflight :f %d$", N);
        const char *line = it_wait_re(r, re, 10000);
        if (!line)
            it_fail(r, "f %d was not relayed", N);
        ck_assert(line_msgid(line, last));
    }
    const char *el;
    while ((el = it_next_line(e, 200)))
        if (strstr(el, ":shute!") && strstr(el, " PRIVMSG #inflight :f "))
            it_fail(e, "echo before the message is durable: %s", el);
    it_server_stop(&s);                    /* SIGTERM with everything pending or in flight */
    PQclear(PQexec(lock, "COMMIT"));
    PQfinish(lock);
    /* A new server on the same spool replays it. */
    struct it_server s2;
    it_server_start(&s2, sp.extra);
    it_server_expect_log(&s2, "spool replayed", 1, 15000);
    for (int i = 0; i < N; i++) {
        const char *v[1] = { seen[i] };
        PGresult *q = it_pg_query(&pg, "SELECT body, seq FROM messages WHERE msgid = $1", 1, v);
        ck_assert_msg(PQntuples(q) == 1, "relayed f %d (%s) is stored %d times", i, seen[i], PQntuples(q));
        char body[32];
        snprintf(body, sizeof body, "f %d", i);
        ck_assert_str_eq(PQgetvalue(q, 0, 0), body);
        ck_assert_int_eq(atol(PQgetvalue(q, 0, 1)), i + 1);
        PQclear(q);
    }
    ck_assert_int_eq(msgid_rows(last), 1);
    ck_assert_int_eq(stored_count("#inflight"), N + 1);
    it_server_stop(&s2);
    it_client_free(w);
    it_client_free(e);
    it_client_free(r);
    spool_remove(&sp);
}
END_TEST

/* labeled-response: one line tagged, several in a batch, none as ACK, and
 * responses that come from another worker or after the database (the echo)
 * still carry the label. */
START_TEST(test_labeled_responses_cover_remote_and_durable_replies)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *o = member(&s, 1, "labother", "#labels");
    struct it_client *c = it_connect_on_worker(&s, 0);
    it_send(c, "CAP REQ :labeled-response batch echo-message message-tags");
    it_send(c, "CAP END");
    it_register(c, "labeler");
    it_send(c, "@label=j1 JOIN #labels");
    it_expect_re(c, "^@label=j1 :[^ ]+ BATCH \\+([^ ]+) labeled-response$");
    it_expect_re(c, "^@batch=[^ ]+ :labeler![^ ]+ JOIN #labels$");
    it_expect_re(c, "^@batch=[^ ]+ :[^ ]+ 366 labeler #labels ");
    it_expect_re(c, "^:[^ ]+ BATCH -");
    /* The echo comes once the message is stored, labeled. */
    it_send(c, "@label=m1 PRIVMSG #labels :labeled hello");
    it_expect_re(c, "^@label=m1;[^ ]*msgid=[^ ]+ :labeler![^ ]+ PRIVMSG #labels :labeled hello$");
    /* A reply from the nick's route (the owner may be the other worker). */
    it_send(c, "@label=x1 PRIVMSG nobody-here :hi");
    it_expect_re(c, "^@label=x1 :[^ ]+ 401 labeler nobody-here ");
    it_send(c, "@label=p1 PING tok");
    it_expect_re(c, "^@label=p1 :[^ ]+ PONG [^ ]+ :?tok$");
    /* No response at all: ACK. */
    it_send(c, "@label=a1 PONG whatever");
    it_expect_re(c, "^@label=a1 :[^ ]+ ACK$");
    /* History inside the labeled batch keeps its own chathistory batch. */
    it_send(c, "@label=h1 CHATHISTORY LATEST #labels * 5");
    it_expect_re(c, "^@label=h1 :[^ ]+ BATCH \\+[^ ]+ labeled-response$");
    it_expect_re(c, "^@batch=[^ ]+ :[^ ]+ BATCH \\+[^ ]+ chathistory #labels$");
    const char *line = it_expect_re(c, "PRIVMSG #labels :labeled hello$");
    int batches = 0;
    for (const char *p = line; (p = strstr(p, "batch=")); p++)
        batches++;
    ck_assert_msg(batches == 1, "%d batch tags on one line: %s", batches, line);
    /* The other member's messages are never swallowed into a label. */
    it_send(o, "PRIVMSG #labels :from the other side");
    it_expect_re(c, "^(@[^ ]+ )?:labother![^ ]+ PRIVMSG #labels :from the other side$");
    it_client_free(c);
    it_client_free(o);
    it_server_stop(&s);
}
END_TEST

/* ---- promised but untested before issue 14 ---------------------------------- */

/* The `channels` table: topic and modes come back, and the numbering goes
 * on, when a channel is used again by a new server. */
START_TEST(test_topic_modes_and_numbering_come_back_from_postgres)
{
    struct it_server s;
    start_with_db(&s);
    /* keeper is logged in when it makes the room: op comes back with its
     * account (a stranger would not get op of a stored room, README). */
    struct it_client *a = it_connect_on_worker(&s, 0);
    it_send(a, "CAP REQ :echo-message message-tags server-time");
    it_send(a, "CAP END");
    it_register(a, "keeper");
    it_send(a, "PRIVMSG NickServ :REGISTER Keeper-Pass-9");
    it_expect(a, "is now registered");
    it_send(a, "JOIN #keep");
    it_expect_re(a, "^:[^ ]+ 366 ");
    it_send(a, "TOPIC #keep :kept across restarts");
    it_expect_re(a, " TOPIC #keep :kept across restarts$");
    it_send(a, "MODE #keep +m-t");
    it_expect_re(a, " MODE #keep ");
    it_send(a, "MODE #keep");
    char modes[200];
    const char *l = it_expect_re(a, " 324 keeper #keep ");
    snprintf(modes, sizeof modes, "%s", strstr(l, " 324 "));
    static char id[17];
    for (int i = 0; i < 3; i++) {
        it_send(a, "PRIVMSG #keep :k %d", i);
        expect_echo(a, "k", i, id);
    }
    it_client_free(a);
    it_server_stop(&s);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM channels WHERE name_folded = '#keep'"
                                     " AND topic = 'kept across restarts'", 0, NULL), 1);

    struct it_server s2;
    start_with_db(&s2);
    struct it_client *b = it_connect_on_worker(&s2, 1);
    it_send(b, "CAP REQ :echo-message message-tags");
    it_send(b, "CAP END");
    it_register(b, "keeper");
    it_send(b, "PRIVMSG NickServ :IDENTIFY Keeper-Pass-9");
    it_expect_re(b, " 900 ");
    it_send(b, "JOIN #keep");
    it_expect_re(b, " 332 keeper #keep :kept across restarts$");
    it_expect_re(b, " 366 keeper #keep ");
    it_send(b, "MODE #keep");
    l = it_expect_re(b, " 324 keeper #keep ");
    ck_assert_str_eq(strstr(l, " 324 "), modes);
    it_send(b, "PRIVMSG #keep :k 3");
    expect_echo(b, "k", 3, id);
    const char *v[1] = { id };
    ck_assert_int_eq(it_pg_long(&pg, "SELECT seq FROM messages WHERE msgid = $1", 1, v), 4);
    it_client_free(b);
    it_server_stop(&s2);
}
END_TEST

/* A worker killed with acknowledged messages in its spool (PostgreSQL was
 * down): its replacement replays the spool. */
START_TEST(test_a_killed_workers_spool_is_replayed_by_its_replacement)
{
    struct spool sp;
    spool_make(&sp);
    struct it_server s;
    it_server_start(&s, sp.extra);
    const char *chan = "#respool";
    int owner = (int)(irc_casehash(chan, strlen(chan)) % 2);
    struct it_client *sender = member(&s, 1 - owner, "spsender", chan);
    struct it_client *local = member(&s, owner, "splocal", chan);
    pid_t victim = local->worker_pid;
    ck_assert_int_eq(it_pg_pause(&pg), 0);
    it_server_expect_log(&s, "PostgreSQL connection lost", 2, 10000);
    enum { N = 5 };
    static char ids[N][17];
    for (int i = 0; i < N; i++) {
        it_send(sender, "PRIVMSG %s :sp %d", chan, i);
        expect_echo(sender, "sp", i, ids[i]);    /* durable: in the owner's spool */
    }
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    pid_t now[2];
    it_server_expect_workers_replaced(&s, &victim, 1, now, 2, 10000);
    it_server_expect_log(&s, "they will be replayed", 1, 10000);
    ck_assert_int_eq(it_pg_resume(&pg), 0);
    it_server_expect_log(&s, "spool replayed", 1, 20000);
    for (int i = 0; i < N; i++)
        ck_assert_msg(msgid_rows(ids[i]) == 1, "sp %d (%s) is not stored exactly once", i, ids[i]);
    it_client_free(sender);
    it_client_free(local);
    it_server_stop(&s);
    spool_remove(&sp);
}
END_TEST

/* NOTICE and /me (CTCP ACTION) are stored as sent. */
START_TEST(test_notice_and_action_are_stored)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *a = member(&s, 0, "noticer", "#kinds");
    it_send(a, "NOTICE #kinds :a notice");
    it_expect_re(a, " NOTICE #kinds :a notice$");
    it_send(a, "PRIVMSG #kinds :\001ACTION waves\001");
    it_expect_re(a, " PRIVMSG #kinds :\001ACTION waves\001$");
    const char *v[1] = { "#kinds" };
    PGresult *r = it_pg_query(&pg, "SELECT command, body, seq FROM messages WHERE conversation = $1"
                                   " ORDER BY seq", 1, v);
    ck_assert_int_eq(PQntuples(r), 2);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "NOTICE");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "a notice");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "1");
    ck_assert_str_eq(PQgetvalue(r, 1, 0), "PRIVMSG");
    ck_assert_str_eq(PQgetvalue(r, 1, 1), "\001ACTION waves\001");
    ck_assert_str_eq(PQgetvalue(r, 1, 2), "2");
    PQclear(r);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_every_echoed_message_is_stored_once_across_a_postgres_restart);
    tcase_add_test(tc, test_history_is_gap_free_up_to_the_last_acknowledged_message_after_owner_is_killed);
    tcase_add_test(tc, test_numbers_restarted_while_postgres_was_down_are_stored_after_the_stored_ones);
    tcase_add_test(tc, test_migration_0004_renumbers_existing_duplicates_and_then_refuses_them);
    tcase_add_test(tc, test_injection_strings_and_korean_are_stored_verbatim);
    tcase_add_test(tc, test_graceful_shutdown_keeps_every_relayed_message_in_postgres_or_the_spool);
    tcase_add_test(tc, test_labeled_responses_cover_remote_and_durable_replies);
    tcase_add_test(tc, test_topic_modes_and_numbering_come_back_from_postgres);
    tcase_add_test(tc, test_a_killed_workers_spool_is_replayed_by_its_replacement);
    tcase_add_test(tc, test_notice_and_action_are_stored);
    suite_add_tcase(s, tc);
    /* Its own PostgreSQL: migrate starts from an empty database. */
    TCase *mig = tcase_create("migrate");
    tcase_add_unchecked_fixture(mig, pg_up, pg_down);
    tcase_set_timeout(mig, 60);
    tcase_add_test(mig, test_migrate_command_applies_once_and_a_newer_schema_is_refused);
    suite_add_tcase(s, mig);
    return s;
}
