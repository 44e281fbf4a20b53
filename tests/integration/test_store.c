/* Storage: messages reach PostgreSQL exactly once, also across a database
 * restart and a worker killed with SIGKILL; migrations. */
#include <check.h>
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

static void wait_stored(const char *conversation, long want)
{
    for (int i = 0; i < 100 && stored_count(conversation) < want; i++)
        it_sleep_ms(100);
    ck_assert_int_eq(stored_count(conversation), want);
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
        char needle[64];
        snprintf(needle, sizeof needle, "PRIVMSG #durable :m %d", i);
        if (!it_wait(b, needle, 5000))
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

START_TEST(test_history_is_gap_free_up_to_the_last_acknowledged_message_after_owner_is_killed)
{
    struct it_server s;
    start_with_db(&s);
    const char *chan = "#gapless";
    int owner = (int)(irc_casehash(chan, strlen(chan)) % 2);
    int other = 1 - owner;
    struct it_client *sender = member(&s, other, "sender", chan);
    struct it_client *watcher = member(&s, owner, "watcher", chan);
    pid_t workers[2];
    ck_assert_int_eq(it_server_workers(&s, workers, 2), 2);
    pid_t victim = watcher->worker_pid;
    enum { BEFORE = 60, AFTER = 40 };
    static char ids[BEFORE + AFTER][17];
    for (int i = 0; i < BEFORE; i++) {
        it_send(sender, "PRIVMSG %s :g %d", chan, i);
        expect_echo(sender, "g", i, ids[i]);
    }
    /* Send a burst and kill the owner while it is in flight. */
    for (int i = 0; i < 20; i++)
        it_send(sender, "PRIVMSG %s :lost-or-kept %d", chan, i);
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    /* Wait for the replacement (a new worker pid), then go on chatting. */
    pid_t now[2];
    bool respawned = false;
    for (int t = 0; t < 40 && !respawned; t++) {
        it_sleep_ms(50);
        int n = it_server_workers(&s, now, 2);
        respawned = n == 2 && now[0] != victim && now[1] != victim;
    }
    ck_assert_msg(respawned, "the owner worker was not respawned");
    it_sleep_ms(300);          /* re-announcement of the channel's members */
    for (int i = 0; i < AFTER; i++) {
        it_send(sender, "PRIVMSG %s :g %d", chan, BEFORE + i);
        expect_echo(sender, "g", BEFORE + i, ids[BEFORE + i]);
    }
    /* Every acknowledged message is stored; numbers 1..K of the messages
     * acknowledged before the kill have no gaps. */
    it_sleep_ms(500);
    for (int i = 0; i < BEFORE + AFTER; i++) {
        const char *v[1] = { ids[i] };
        ck_assert_msg(it_pg_long(&pg, "SELECT count(*) FROM messages WHERE msgid = $1", 1, v) == 1,
                      "acknowledged message %d (%s) is not stored exactly once", i, ids[i]);
    }
    const char *v[2] = { chan, ids[BEFORE - 1] };
    long k = it_pg_long(&pg, "SELECT seq FROM messages WHERE msgid = $2 AND conversation = $1", 2, v);
    ck_assert_int_eq(k, BEFORE);
    const char *v1[1] = { chan };
    long distinct = it_pg_long(&pg, "SELECT count(DISTINCT seq) FROM messages WHERE conversation = $1"
                                    " AND seq <= 60", 1, v1);
    ck_assert_int_eq(distinct, BEFORE);
    long dups = it_pg_long(&pg, "SELECT count(*) - count(DISTINCT msgid) FROM messages"
                                " WHERE conversation = $1", 1, v1);
    ck_assert_int_eq(dups, 0);
    it_client_free(sender);
    it_client_free(watcher);
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

START_TEST(test_migrate_command_applies_once_and_a_newer_schema_is_refused)
{
    const char *bin = getenv("PARLORD");
    ck_assert_ptr_nonnull(bin);
    char out[8192];
    char *argv[] = { (char *)bin, "migrate", "--database", pg.conninfo, NULL };
    ck_assert_int_eq(run_parlord(argv, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "0 migrations applied now"), "second migrate applied again: %s", out);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM schema_migrations WHERE version = 1", 0, NULL), 1);
    PQclear(it_pg_query(&pg, "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future.sql')", 0, NULL));
    int rc = run_parlord(argv, out, sizeof out);
    PQclear(it_pg_query(&pg, "DELETE FROM schema_migrations WHERE version = 9999", 0, NULL));
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, "newer than this parlord knows"), "no clear refusal: %s", out);
    char *bad[] = { (char *)bin, "migrate", NULL };
    unsetenv("PARLOR_DATABASE_URL");
    ck_assert_int_eq(run_parlord(bad, out, sizeof out), 2);
    ck_assert(strstr(out, "no database"));
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
    it_expect_re(a, "msgid=");
    (void)id;
    wait_stored("#방", 1);
    const char *v[1] = { "#방" };
    PGresult *r = it_pg_query(&pg, "SELECT body, sender_nick, target FROM messages WHERE conversation = $1", 1, v);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), evil);
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "민영");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "#방");
    PQclear(r);
    /* The tables are all still there. */
    ck_assert_int_ge(it_pg_long(&pg, "SELECT count(*) FROM messages", 0, NULL), 1);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_graceful_shutdown_keeps_every_relayed_message_in_postgres_or_the_spool)
{
    char spool[] = "/tmp/parlor-spool-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(spool));
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", "--spool-dir", spool, NULL };
    struct it_server s;
    it_server_start(&s, extra);
    struct it_client *w = member(&s, 0, "shutw", "#inflight");
    struct it_client *r = member(&s, 1, "shutr", "#inflight");
    enum { N = 400 };
    for (int i = 0; i < N; i++)
        it_send(w, "PRIVMSG #inflight :f %d", i);
    it_sleep_ms(20);
    it_server_stop(&s);                    /* SIGTERM while messages are in flight */
    /* What the other member saw was relayed: it must not be lost. */
    int seen = 0;
    const char *line;
    while ((line = it_next_line(r, 200)))
        if (strstr(line, "PRIVMSG #inflight :f "))
            seen++;
    ck_assert_int_gt(seen, 0);
    /* A new server on the same spool replays whatever did not reach
     * PostgreSQL before the stop. */
    struct it_server s2;
    it_server_start(&s2, extra);
    it_sleep_ms(500);
    const char *v[1] = { "#inflight" };
    long stored = it_pg_long(&pg, "SELECT count(*) FROM messages WHERE conversation = $1", 1, v);
    ck_assert_msg(stored >= seen, "only %ld of the %d relayed messages are stored", stored, seen);
    long dups = it_pg_long(&pg, "SELECT count(*) - count(DISTINCT msgid) FROM messages WHERE conversation = $1", 1, v);
    ck_assert_int_eq(dups, 0);
    it_server_stop(&s2);
    it_client_free(w);
    it_client_free(r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", spool);
    ck_assert_int_eq(system(cmd), 0);
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

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_every_echoed_message_is_stored_once_across_a_postgres_restart);
    tcase_add_test(tc, test_history_is_gap_free_up_to_the_last_acknowledged_message_after_owner_is_killed);
    tcase_add_test(tc, test_migrate_command_applies_once_and_a_newer_schema_is_refused);
    tcase_add_test(tc, test_injection_strings_and_korean_are_stored_verbatim);
    tcase_add_test(tc, test_graceful_shutdown_keeps_every_relayed_message_in_postgres_or_the_spool);
    tcase_add_test(tc, test_labeled_responses_cover_remote_and_durable_replies);
    suite_add_tcase(s, tc);
    return s;
}
