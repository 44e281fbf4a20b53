/* A worker's death loses none of the other workers' messages (issue 15):
 * requests to a dead room owner are kept, in order, and completed by its
 * replacement, or answered with FAIL when it does not come back in time. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/irc.h"
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "failover suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static struct it_client *member(const struct it_server *s, int worker, const char *nick, const char *chan)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_send(c, "CAP REQ :echo-message");
    it_send(c, "CAP END");
    it_register(c, nick);
    it_send(c, "JOIN %s", chan);
    it_expect_re(c, "^:[^ ]+ 366 ");
    return c;
}

/* Read `c` until `count` lines "PRIVMSG <room> :<tag> <n>" arrived; each
 * number must come once and in order.  Fails on a FAIL or a gap. */
static void expect_in_order(struct it_client *c, const char *room, const char *tag, int count,
                            int timeout_ms)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "PRIVMSG %s :%s ", room, tag);
    long deadline = it_now_ms() + timeout_ms;
    int next = 0;
    while (next < count) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "%s: got %d of %d in order", c->nick, next, count);
        if (strstr(l, " FAIL "))
            it_fail(c, "unexpected: %s", l);
        const char *p = strstr(l, prefix);
        if (!p)
            continue;
        int n = atoi(p + strlen(prefix));
        if (n != next)
            it_fail(c, "%s: expected %s%d, got %s", c->nick, tag, next, l);
        next++;
    }
}

static long stored(const char *room, const char *like)
{
    char folded[64];
    irc_casefold(folded, room, strlen(room));
    const char *v[2] = { folded, like };
    return it_pg_long(&pg, "SELECT count(*) FROM messages WHERE conversation = $1 AND body LIKE $2", 2, v);
}

/* The measurement of issue 15 as a test: 400 messages into a room owned by
 * worker 0 from a client on worker 1, worker 0 killed after message `kill_at`.
 * Every message is echoed, stored once and seen by the other member, in order. */
static void kill_owner_mid_stream(int kill_at, const char *tag)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#fo", 0, 2, room, sizeof room);
    struct it_client *doomed = member(&s, 0, "doomed", room);
    struct it_client *sender = member(&s, 1, "sender", room);
    struct it_client *reader = member(&s, 1, "reader", room);
    pid_t victim = doomed->worker_pid;
    for (int i = 0; i < 400; i++) {
        if (i == kill_at)
            ck_assert_int_eq(kill(victim, SIGKILL), 0);
        it_send(sender, "PRIVMSG %s :%s %d", room, tag, i);
        it_sleep_ms(5);
    }
    expect_in_order(sender, room, tag, 400, 30000);     /* the echoes */
    expect_in_order(reader, room, tag, 400, 30000);
    char like[32];
    snprintf(like, sizeof like, "%s %%", tag);
    /* Stored once each: 400 rows, 400 bodies. */
    long deadline = it_now_ms() + 10000;
    while (stored(room, like) < 400 && it_now_ms() < deadline)
        it_sleep_ms(50);
    ck_assert_int_eq(stored(room, like), 400);
    char folded[64];
    irc_casefold(folded, room, strlen(room));
    const char *v[2] = { folded, like };
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(DISTINCT body) FROM messages WHERE conversation = $1"
                                     " AND body LIKE $2", 2, v), 400);
    it_client_free(doomed);
    it_client_free(sender);
    it_client_free(reader);
    it_server_stop(&s);
}

START_TEST(test_owner_killed_early_loses_no_message)
{
    kill_owner_mid_stream(20, "early");
}
END_TEST

START_TEST(test_owner_killed_mid_stream_loses_no_message)
{
    kill_owner_mid_stream(150, "mid");
}
END_TEST

START_TEST(test_owner_killed_late_loses_no_message)
{
    kill_owner_mid_stream(390, "late");
}
END_TEST

/* JOINs to rooms of a worker killed in the middle of them: every one is
 * completed by its replacement, in order (a 366 for each, none refused). */
START_TEST(test_owner_killed_during_a_burst_of_joins_completes_them)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char rooms[20][32];
    for (int i = 0; i < 20; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "#jb%d_", i);
        it_name_owned_by(prefix, 0, 2, rooms[i], sizeof rooms[i]);
    }
    struct it_client *doomed = member(&s, 0, "doomed", rooms[0]);
    struct it_client *joiner = it_connect_on_worker(&s, 1);
    it_register(joiner, "joiner");
    for (int i = 0; i < 20; i++) {
        if (i == 8)
            ck_assert_int_eq(kill(doomed->worker_pid, SIGKILL), 0);
        it_send(joiner, "JOIN %s", rooms[i]);
        it_sleep_ms(2);
    }
    for (int i = 0; i < 20; i++) {
        char want[64];
        snprintf(want, sizeof want, " 366 joiner %.31s ", rooms[i]);
        const char *l = it_wait_re(joiner, "( 366 | 4[0-9][0-9] |FAIL)", 15000);
        if (!l || !strstr(l, want))
            it_fail(joiner, "JOIN %s: %s", rooms[i], l ? l : "no answer");
    }
    it_send(joiner, "PRIVMSG %s :made it", rooms[19]);
    it_expect_alive(joiner);
    it_client_free(doomed);
    it_client_free(joiner);
    it_server_stop(&s);
}
END_TEST

/* The replacement is held back (the master is stopped): exactly the held
 * messages get FAIL, and none of them is stored or delivered later. */
START_TEST(test_owner_not_back_in_time_fails_exactly_the_held_messages)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", "--owner-timeout", "2", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#held", 0, 2, room, sizeof room);
    struct it_client *doomed = member(&s, 0, "doomed", room);
    struct it_client *sender = member(&s, 1, "sender", room);
    struct it_client *reader = member(&s, 1, "reader", room);
    it_send(sender, "PRIVMSG %s :before", room);
    it_expect(sender, ":before");
    it_expect(reader, ":before");
    ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
    ck_assert_int_eq(kill(doomed->worker_pid, SIGKILL), 0);
    it_expect_closed(doomed, NULL, IT_TIMEOUT_MS);
    for (int i = 0; i < 5; i++)
        it_send(sender, "PRIVMSG %s :held %d", room, i);
    /* Replies come in command order (worker/order.c): the PONG comes after
     * the last held message's FAIL.  ("before" may get a FAIL too: its
     * acknowledgement may have died with the owner, README.) */
    it_send(sender, "PING held-done");
    int fails = 0;
    for (;;) {
        const char *l = it_wait_re(sender, "(FAIL PRIVMSG TEMPORARILY_UNAVAILABLE|PONG .*held-done)", 15000);
        if (!l)
            it_fail(sender, "no PONG after %d FAILs", fails);
        if (strstr(l, "held-done"))
            break;
        fails++;
    }
    ck_assert_msg(fails >= 5, "%d FAILs", fails);
    ck_assert_int_eq(kill(s.pid, SIGCONT), 0);
    /* Once worker 0 is back, the room works again; nothing held comes. */
    long deadline = it_now_ms() + 15000;
    for (;;) {
        it_send(sender, "PRIVMSG %s :after", room);
        const char *l = it_wait_re(sender, "(:after$|FAIL PRIVMSG)", 4000);
        if (l && strstr(l, ":after"))
            break;
        if (it_now_ms() > deadline)
            it_fail(sender, "the room did not come back");
    }
    it_expect(reader, ":after");
    ck_assert_int_eq(it_count_for(reader, ":held ", 300), 0);
    ck_assert_int_eq(stored(room, "held %"), 0);
    it_client_free(doomed);
    it_client_free(sender);
    it_client_free(reader);
    it_server_stop(&s);
}
END_TEST

/* `parlorctl ARGS...` against the test server; asserts exit status 0. */
static void ctl(const struct it_server *s, const char *a1, const char *a2, const char *a3)
{
    char path[256], out[4096];
    it_parlorctl_path(path, sizeof path);
    const char *args[] = { "-s", s->control_path, a1, a2, a3, NULL };
    int status = it_run(path, args, out, sizeof out, IT_TIMEOUT_MS);
    ck_assert_msg(status == 0, "parlorctl %s %s: status %d: %s", a1, a2 ? a2 : "", status, out);
}

/* `parlorctl restart worker 0` while a client of worker 1 streams into a
 * room worker 0 owns: its clients are told and disconnected, the stream
 * loses nothing. */
START_TEST(test_restart_of_a_room_owner_loses_no_message)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#rs", 0, 2, room, sizeof room);
    struct it_client *local = member(&s, 0, "local0", room);
    struct it_client *sender = member(&s, 1, "sender", room);
    struct it_client *reader = member(&s, 1, "reader", room);
    pid_t old = local->worker_pid;
    for (int i = 0; i < 300; i++) {
        if (i == 100)
            ctl(&s, "restart", "worker", "0");
        it_send(sender, "PRIVMSG %s :rs %d", room, i);
        it_sleep_ms(5);
    }
    ck_assert_int_eq(it_expect_closed(local, "restarting", 10000), 1);
    expect_in_order(sender, room, "rs", 300, 30000);
    expect_in_order(reader, room, "rs", 300, 30000);
    ck_assert_int_eq(stored(room, "rs %"), 300);
    pid_t pids[4];
    int n = it_server_workers(&s, pids, 4);
    ck_assert_int_eq(n, 2);
    ck_assert(pids[0] != old && pids[1] != old);
    it_client_free(local);
    it_client_free(sender);
    it_client_free(reader);
    it_server_stop(&s);
}
END_TEST

/* `parlorctl restart all`: every worker gets a new process, one at a time,
 * and a client that reconnects chats as before. */
START_TEST(test_rolling_restart_replaces_every_worker)
{
    struct it_server s;
    const char *extra[] = { "--workers", "3", "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    pid_t before[4];
    ck_assert_int_eq(it_server_workers(&s, before, 4), 3);
    ctl(&s, "restart", "all", NULL);
    long deadline = it_now_ms() + 30000;
    for (;;) {
        pid_t now[4];
        int n = it_server_workers(&s, now, 4);
        int fresh = 0;
        for (int i = 0; i < n; i++) {
            bool old = false;
            for (int j = 0; j < 3; j++)
                old = old || now[i] == before[j];
            fresh += !old;
        }
        if (n == 3 && fresh == 3 && it_server_log_contains(&s, "rolling restart: done"))
            break;
        if (it_now_ms() > deadline) {
            it_server_dump_log(&s, 30);
            ck_abort_msg("rolling restart did not finish: %d workers, %d new", n, fresh);
        }
        it_sleep_ms(100);
    }
    struct it_client *a = it_connect_registered(&s, "after1");
    struct it_client *b = it_connect_registered(&s, "after2");
    it_send(a, "JOIN #back");
    it_expect(a, " 366 ");
    it_send(b, "JOIN #back");
    it_expect(b, " 366 ");
    it_send(a, "PRIVMSG #back :hello again");
    it_expect(b, "hello again");
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* Numbers of "PRIVMSG room :tag N" lines read from c so far (non-blocking
 * reads), appended to seen[]; returns false once c is closed. */
static bool collect(struct it_client *c, const char *room, const char *tag, int *seen, int *n, int cap)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "PRIVMSG %s :%s ", room, tag);
    for (;;) {
        const char *l = it_next_line(c, 0);
        if (!l)
            return !c->eof;
        const char *p = strstr(l, prefix);
        if (p && *n < cap)
            seen[(*n)++] = atoi(p + strlen(prefix));
    }
}

/* The numbers seen are 0, 1, 2, ... with no gap and no repeat. */
static void assert_contiguous(const char *who, const int *seen, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(seen[i] == i, "%s: position %d has message %d (a gap, a repeat or a reordering)",
                      who, i, seen[i]);
}

/* `parlorctl restart all` under a steady stream: a client of the worker
 * restarted last streams into a room owned by the worker restarted first.
 * Until its own worker restarts, nothing is lost, repeated or reordered
 * (every echo, and what a member beside it reads), and every acknowledged
 * message is stored once. */
START_TEST(test_rolling_restart_under_a_steady_stream_loses_nothing)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", "--workers", "3", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#roll", 0, 3, room, sizeof room);
    struct it_client *sender = member(&s, 2, "streamer", room);
    struct it_client *reader = member(&s, 2, "listener", room);
    enum { MAX = 6000 };
    static int echoed[MAX], read_[MAX];
    int nechoed = 0, nread = 0, sent = 0;
    bool restarted = false;
    long deadline = it_now_ms() + 60000;
    while (sent < MAX && it_now_ms() < deadline) {
        char line[96];
        int len = snprintf(line, sizeof line, "PRIVMSG %s :st %d\r\n", room, sent);
        if (it_send_raw(sender, line, (size_t)len) < 0)
            break;
        sent++;
        if (sent == 200) {
            ctl(&s, "restart", "all", NULL);
            restarted = true;
        }
        it_sleep_ms(5);
        if (!collect(sender, room, "st", echoed, &nechoed, MAX))
            break;                               /* its own worker restarted */
        collect(reader, room, "st", read_, &nread, MAX);
    }
    ck_assert(restarted);
    while (collect(sender, room, "st", echoed, &nechoed, MAX) && it_fill(sender, 200) > 0)
        ;
    ck_assert_msg(it_server_log_contains(&s, "rolling restart: worker 1 is back"),
                  "the stream ended before workers 0 and 1 were restarted (%d sent)", sent);
    assert_contiguous("echoes", echoed, nechoed);
    assert_contiguous("member beside the sender", read_, nread);
    ck_assert_int_gt(nechoed, 200);
    for (int i = 0; i < nechoed; i++) {
        char body[32];
        snprintf(body, sizeof body, "st %d", i);
        const char *v[1] = { body };
        long deadline2 = it_now_ms() + 10000, rows;
        while ((rows = it_pg_long(&pg, "SELECT count(*) FROM messages WHERE body = $1", 1, v)) == 0 &&
               it_now_ms() < deadline2)
            it_sleep_ms(20);
        ck_assert_msg(rows == 1, "acknowledged '%s' stored %ld times", body, rows);
    }
    it_client_free(sender);
    it_client_free(reader);
    it_server_stop(&s);
}
END_TEST

Suite *failover_suite(void)
{
    Suite *s = suite_create("failover");
    TCase *tc = tcase_create("with PostgreSQL");
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_owner_killed_early_loses_no_message);
    tcase_add_test(tc, test_owner_killed_mid_stream_loses_no_message);
    tcase_add_test(tc, test_owner_killed_late_loses_no_message);
    tcase_add_test(tc, test_owner_killed_during_a_burst_of_joins_completes_them);
    tcase_add_test(tc, test_owner_not_back_in_time_fails_exactly_the_held_messages);
    tcase_add_test(tc, test_restart_of_a_room_owner_loses_no_message);
    tcase_add_test(tc, test_rolling_restart_replaces_every_worker);
    tcase_add_test(tc, test_rolling_restart_under_a_steady_stream_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}
