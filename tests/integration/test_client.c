/* The terminal client, bin/parlor, against a real parlord.
 *
 * Script mode: parlor runs as a child process with pipes for stdin, stdout
 * and stderr; another (harness) client watches the room.  Interactive mode
 * runs under tmux as a person would use it: `tmux send-keys` types,
 * `tmux capture-pane -p` reads the screen.  Each tmux session has a unique
 * name and is killed by that name at the end.
 *
 * History tests (--days, --day, /days, SASL) need PostgreSQL: a throwaway
 * cluster (tests/integration/pg.h) is started by an unchecked fixture, once
 * for the "history" test case.
 *
 * The client binary is $PARLOR_CLIENT, else "parlor" next to $PARLORD when
 * it exists, else bin/parlor. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"

static struct it_pg pg;

static void port_arg(const struct it_server *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d", s->port);
}

/* A harness client in `room`, with echo off (plain RFC 2812 client). */
static struct it_client *watcher(const struct it_server *s, const char *nick, const char *room)
{
    struct it_client *c = it_connect_registered(s, nick);
    it_send(c, "JOIN %s", room);
    it_expect_re(c, "JOIN :?#");
    it_expect(c, " 366 ");
    return c;
}

static void today(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);             /* HistServ's default time zone is UTC */
    strftime(out, cap, "%Y-%m-%d", &tm);
}

/* ---- script mode ---- */

START_TEST(test_send_reaches_another_client_and_exits_zero)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = watcher(&s, "bob", "#script");
    char port[16];
    port_arg(&s, port, sizeof port);
    struct run r;
    const char *args[] = { "--port", port, "--nick", "bot", "--join", "#script", "--send",
                           "hello from a script 안녕", NULL };
    run_parlor(&r, args, NULL);
    ck_assert_msg(r.status == 0, "parlor exited %d: %s", r.status, r.err);
    /* Script mode is quiet (parlor.chat/quiet): the room sees the message,
     * not the script's JOIN and QUIT. */
    for (const char *l; (l = it_next_line(bob, 5000)) && !strstr(l, "PRIVMSG #script :");)
        if (strstr(l, ":bot!"))
            it_fail(bob, "the script was announced: %s", l);
    ck_assert_int_eq(it_count_for(bob, ":bot!", 500), 0);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* A quiet member (parlor.chat/quiet) is not announced but is not hidden:
 * NAMES lists it, and a KICK of it is seen by everyone. */
START_TEST(test_a_quiet_member_is_listed_in_names)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = watcher(&s, "bob", "#quiet");
    struct it_client *q = it_connect(&s);
    it_send(q, "CAP REQ :parlor.chat/quiet");
    it_send(q, "CAP END");
    it_register(q, "lurk");
    it_join(q, "#quiet", NULL);
    it_send(bob, "NAMES #quiet");
    const char *l = it_expect_re(bob, " 353 bob . #quiet :");
    ck_assert_msg(strstr(l, "lurk"), "the quiet member is not in NAMES: %s", l);
    it_send(bob, "KICK #quiet lurk :out");
    it_expect(q, " KICK #quiet lurk :out");
    ck_assert_int_eq(it_count_for(bob, " JOIN #quiet", 300), 0);
    it_client_free(q);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_stdin_lines_are_sent_one_by_one_in_order)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = watcher(&s, "bob", "#pipe");
    char port[16];
    port_arg(&s, port, sizeof port);
    struct run r;
    const char *args[] = { "--port", port, "--nick", "piper", "--join", "#pipe", NULL };
    run_parlor(&r, args, "first line\nsecond 둘째\n\nthird without newline");
    ck_assert_msg(r.status == 0, "parlor exited %d: %s", r.status, r.err);
    it_expect(bob, "PRIVMSG #pipe :first line");
    it_expect(bob, "PRIVMSG #pipe :second 둘째");
    it_expect(bob, "PRIVMSG #pipe :third without newline");
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_failures_exit_nonzero_with_a_message)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char port[16], dead[16];
    port_arg(&s, port, sizeof port);
    snprintf(dead, sizeof dead, "%d", it_free_port());
    struct run r;

    const char *refused[] = { "--port", dead, "--nick", "bot", "--join", "#x", "--send", "hi", NULL };
    run_parlor(&r, refused, NULL);
    ck_assert_msg(r.status == 1 && strstr(r.err, "cannot connect"), "status %d: %s", r.status, r.err);

    const char *no_room[] = { "--port", port, "--nick", "bot", "--send", "hi", NULL };
    run_parlor(&r, no_room, NULL);
    ck_assert_msg(r.status == 2 && strstr(r.err, "--join"), "status %d: %s", r.status, r.err);

    const char *bad_room[] = { "--port", port, "--nick", "bot", "--join", "noroom", "--send", "hi", NULL };
    run_parlor(&r, bad_room, NULL);
    ck_assert_msg(r.status == 2 && strstr(r.err, "not a room"), "status %d: %s", r.status, r.err);

    const char *bad_date[] = { "--port", port, "--nick", "bot", "--day", "yesterday", "#x", NULL };
    run_parlor(&r, bad_date, NULL);
    ck_assert_msg(r.status == 2 && strstr(r.err, "not a date"), "status %d: %s", r.status, r.err);

    const char *bad_nick[] = { "--port", port, "--nick", "9lives", "--join", "#x", "--send", "hi", NULL };
    run_parlor(&r, bad_nick, NULL);
    ck_assert_msg(r.status == 2 && strstr(r.err, "nick"), "status %d: %s", r.status, r.err);

    /* A room with a key we do not have: the server refuses the JOIN. */
    struct it_client *op = watcher(&s, "keeper", "#locked");
    it_send(op, "MODE #locked +k sesame");
    it_expect(op, "MODE #locked +k");
    const char *locked[] = { "--port", port, "--nick", "bot", "--join", "#locked", "--send", "hi", NULL };
    run_parlor(&r, locked, NULL);
    ck_assert_msg(r.status == 1 && strstr(r.err, "cannot join #locked"), "status %d: %s", r.status, r.err);

    /* --days without a database: HistServ says history is unavailable. */
    const char *days[] = { "--port", port, "--nick", "bot", "--days", "#nohist", "--timeout", "5", NULL };
    run_parlor(&r, days, NULL);
    ck_assert_msg(r.status == 1 && strstr(r.err, "parlor: "), "status %d: %s", r.status, r.err);

    const char *help[] = { "--help", NULL };
    run_parlor(&r, help, NULL);
    ck_assert_msg(r.status == 0 && strstr(r.out, "--days"), "status %d: %s", r.status, r.out);
    it_client_free(op);
    it_server_stop(&s);
}
END_TEST

/* ---- interactive mode, under tmux ---- */

START_TEST(test_typed_message_reaches_another_client)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = watcher(&s, "bob", "#typed");
    struct term t;
    term_start(&t, &s, "alice", "#typed");
    char screen[8192];
    term_wait(&t, "[#typed]", screen, sizeof screen);
    it_expect(bob, "JOIN");
    term_type(&t, "hello from the keyboard 한국어");
    term_key(&t, "Enter");
    it_expect(bob, "PRIVMSG #typed :hello from the keyboard 한국어");
    /* Our own line comes back (echo) with a timestamp and our nick. */
    term_wait(&t, "<alice> hello from the keyboard 한국어", screen, sizeof screen);
    /* Wrong arguments get a one-line usage. */
    term_type(&t, "/msg");
    term_key(&t, "Enter");
    term_wait(&t, "usage: /msg", screen, sizeof screen);
    term_type(&t, "/game start");               /* not a GameServ command */
    term_key(&t, "Enter");
    term_wait(&t, "usage: /game invite NICK", screen, sizeof screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_incoming_message_does_not_break_a_half_typed_line)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = watcher(&s, "bob", "#busy");
    struct term t;
    term_start(&t, &s, "alice", "#busy");
    char screen[8192], last[512];
    term_wait(&t, "[#busy]", screen, sizeof screen);
    it_expect(bob, "JOIN");
    term_type(&t, "half typed 한글");
    term_wait(&t, "[#busy] half typed 한글", screen, sizeof screen);
    it_send(bob, "PRIVMSG #busy :an interruption");
    term_wait(&t, "<bob> an interruption", screen, sizeof screen);
    /* The half line is still the input line, below the message. */
    last_line(screen, last, sizeof last);
    ck_assert_msg(strcmp(last, "[#busy] half typed 한글") == 0, "input line is \"%s\"; screen:\n%s",
                  last, screen);
    const char *msg = strstr(screen, "<bob> an interruption");
    const char *input = strstr(screen, "[#busy] half typed");
    ck_assert_msg(msg && input && msg < input, "message not above the input line:\n%s", screen);
    /* Several more while typing goes on. */
    term_type(&t, " and");
    it_send(bob, "PRIVMSG #busy :second 두번째");
    term_wait(&t, "<bob> second 두번째", screen, sizeof screen);
    last_line(screen, last, sizeof last);
    ck_assert_msg(strcmp(last, "[#busy] half typed 한글 and") == 0, "input line is \"%s\"", last);
    term_type(&t, " the rest");
    term_key(&t, "Enter");
    it_expect(bob, "PRIVMSG #busy :half typed 한글 and the rest");
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* ---- with PostgreSQL ---- */

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "client suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static void start_with_db(struct it_server *s)
{
    const char *extra[] = { "--database", pg.conninfo, NULL };
    it_server_start(s, extra);
}

START_TEST(test_days_and_day_print_todays_messages)
{
    struct it_server s;
    start_with_db(&s);
    char port[16], date[16], want[64];
    port_arg(&s, port, sizeof port);
    today(date, sizeof date);
    struct run r;
    const char *texts[] = { "first", "둘째 message", "third\twith a tab" };
    for (int i = 0; i < 3; i++) {
        const char *args[] = { "--port", port, "--nick", "writer", "--join", "#days", "--send",
                               texts[i], NULL };
        run_parlor(&r, args, NULL);
        ck_assert_msg(r.status == 0, "send %d: status %d: %s", i, r.status, r.err);
    }
    const char *days[] = { "--port", port, "--nick", "reader", "--days", "#days", NULL };
    run_parlor(&r, days, NULL);
    snprintf(want, sizeof want, "%s\t3\n", date);
    ck_assert_msg(r.status == 0 && strcmp(r.out, want) == 0, "status %d, out \"%s\", err %s",
                  r.status, r.out, r.err);

    const char *json[] = { "--port", port, "--nick", "reader", "--json", "--days", "#days", NULL };
    run_parlor(&r, json, NULL);
    snprintf(want, sizeof want, "{\"date\":\"%s\",\"count\":3}\n", date);
    ck_assert_msg(r.status == 0 && strcmp(r.out, want) == 0, "status %d, out \"%s\"", r.status, r.out);

    const char *day[] = { "--port", port, "--nick", "reader", "--day", date, "#days", NULL };
    run_parlor(&r, day, NULL);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    const char *a1 = strstr(r.out, "\twriter\tfirst\n");
    const char *a2 = strstr(r.out, "\twriter\t둘째 message\n");
    const char *a3 = strstr(r.out, "\twriter\tthird with a tab\n");
    ck_assert_msg(a1 && a2 && a3 && a1 < a2 && a2 < a3, "day output:\n%s", r.out);

    const char *dayj[] = { "--port", port, "--nick", "reader", "--json", "--day", date, "#days", NULL };
    run_parlor(&r, dayj, NULL);
    ck_assert_msg(r.status == 0 && strstr(r.out, "\"nick\":\"writer\",\"kind\":\"message\","
                                                 "\"text\":\"third with a tab\"}"),
                  "status %d, out %s", r.status, r.out);

    /* A day without messages: nothing printed, success. */
    const char *empty[] = { "--port", port, "--nick", "reader", "--day", "2001-01-01", "#days", NULL };
    run_parlor(&r, empty, NULL);
    ck_assert_msg(r.status == 0 && r.out[0] == '\0', "status %d, out %s", r.status, r.out);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_slash_days_shows_todays_count)
{
    struct it_server s;
    start_with_db(&s);
    struct term t;
    term_start(&t, &s, "alice", "#shown");
    char screen[8192], date[16], want[64];
    today(date, sizeof date);
    term_wait(&t, "[#shown]", screen, sizeof screen);
    term_type(&t, "a stored line");
    term_key(&t, "Enter");
    term_wait(&t, "<alice> a stored line", screen, sizeof screen);   /* echoed once durable */
    term_type(&t, "/days");
    term_key(&t, "Enter");
    snprintf(want, sizeof want, "%s  1 message", date);
    term_wait(&t, want, screen, sizeof screen);
    term_type(&t, "/day ");
    term_type(&t, date);
    term_key(&t, "Enter");
    term_wait(&t, "<alice> a stored line", screen, sizeof screen);
    term_wait(&t, "End of #shown", screen, sizeof screen);
    term_stop(&t);
    it_server_stop(&s);
}
END_TEST

/* /game wraps GameServ: invite, be joined to the game's room, guess there. */
START_TEST(test_slash_game_invites_and_plays_a_round)
{
    struct it_server s;
    start_with_db(&s);
    struct term t;
    term_start(&t, &s, "gamer", "#lobby");
    char screen[8192];
    term_wait(&t, "[#lobby]", screen, sizeof screen);
    struct it_client *bob = it_connect_registered(&s, "gbob");
    term_type(&t, "/game bogus");
    term_key(&t, "Enter");
    term_wait(&t, "/game invite NICK", screen, sizeof screen);       /* usage line */
    term_type(&t, "/game invite gbob rounds=1");
    term_key(&t, "Enter");
    const char *l = it_wait_re(bob, "invites you to game [0-9]+", 10000);
    if (!l)
        it_fail(bob, "no invitation");
    long id = atol(strstr(l, "invites you to game ") + strlen("invites you to game "));
    it_send(bob, "PRIVMSG GameServ :accept %ld", id);
    char room[32];
    snprintf(room, sizeof room, "#game-%ld", id);
    term_wait(&t, room, screen, sizeof screen);
    char ids[24], word[256] = "";
    snprintf(ids, sizeof ids, "%ld", id);
    const char *v[1] = { ids };
    for (int i = 0; i < 200 && !word[0]; i++) {
        PGresult *r = it_pg_query(&pg, "SELECT word FROM game_rounds WHERE game = $1 AND round = 1", 1, v);
        if (PQntuples(r) > 0)
            snprintf(word, sizeof word, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (!word[0])
            it_sleep_ms(25);
    }
    ck_assert_msg(word[0], "game %ld has no stored word", id);
    char guess[400];
    snprintf(guess, sizeof guess, "/msg %s %s", room, word);
    term_type(&t, guess);
    term_key(&t, "Enter");
    term_wait(&t, "Final scores: gamer", screen, sizeof screen);
    ck_assert_int_eq(it_pg_long(&pg, "SELECT count(*) FROM game_players WHERE game = $1::bigint"
                                     " AND nick = 'gamer' AND result = 'win'", 1, v), 1);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_account_logs_in_with_sasl_and_a_wrong_password_fails)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *owner = it_connect_registered(&s, "saslbot");
    it_send(owner, "PRIVMSG NickServ :REGISTER Correct-Horse-9");
    it_expect(owner, "is now registered");
    it_client_free(owner);
    struct it_client *bob = watcher(&s, "bob", "#sasl");
    char port[16];
    port_arg(&s, port, sizeof port);
    struct run r;
    /* A nick other than the account: only a real login can put the
     * account on the stored message. */
    const char *args[] = { "--port", port, "--nick", "saslphone", "--account", "saslbot", "--join",
                           "#sasl", "--send", "logged in", NULL };
    setenv("PARLOR_PASSWORD", "Correct-Horse-9", 1);
    run_parlor(&r, args, NULL);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    it_expect_re(bob, "^(@[^ ]+ )?:saslphone![^ ]+ PRIVMSG #sasl :logged in$");
    const char *v[1] = { "#sasl" };
    IT_EVENTUALLY(it_pg_long(&pg, "SELECT count(*) FROM messages WHERE conversation = $1", 1, v) == 1, 10000);
    PGresult *q = it_pg_query(&pg, "SELECT sender_nick, sender_account FROM messages WHERE conversation = $1",
                              1, v);
    ck_assert_int_eq(PQntuples(q), 1);
    ck_assert_str_eq(PQgetvalue(q, 0, 0), "saslphone");
    ck_assert_str_eq(PQgetvalue(q, 0, 1), "saslbot");
    PQclear(q);
    setenv("PARLOR_PASSWORD", "wrong-password", 1);
    run_parlor(&r, args, NULL);
    unsetenv("PARLOR_PASSWORD");
    ck_assert_msg(r.status == 1 && strstr(r.err, "login as saslbot failed"), "status %d: %s",
                  r.status, r.err);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_reconnects_rejoins_and_fetches_missed_messages)
{
    struct it_server s1, s2;
    start_with_db(&s1);
    struct it_client *bob = watcher(&s1, "bob", "#again");
    struct term t;
    term_start(&t, &s1, "alice", "#again");
    char screen[8192], port[16];
    term_wait(&t, "[#again]", screen, sizeof screen);
    it_expect(bob, "JOIN");
    it_send(bob, "PRIVMSG #again :before the drop");
    term_wait(&t, "<bob> before the drop", screen, sizeof screen);
    it_client_free(bob);
    it_server_stop(&s1);
    term_wait(&t, "Disconnected: the server closed the connection", screen, sizeof screen);
    /* The first retry (after 1 s) finds nothing; the next waits 2 s more,
     * time enough for a new server on the same port to get a message. */
    term_wait(&t, "connection refused. Reconnecting in 2 s", screen, sizeof screen);
    snprintf(port, sizeof port, "127.0.0.1:%d", s1.port);
    const char *extra[] = { "--database", pg.conninfo, "--listen", port, NULL };
    it_server_start(&s2, extra);
    snprintf(port, sizeof port, "%d", s2.port);
    struct run r;
    const char *args[] = { "--port", port, "--nick", "carol", "--join", "#again", "--send",
                           "missed 놓친 메시지", NULL };
    run_parlor(&r, args, NULL);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    term_wait(&t, "[history] <carol> missed 놓친 메시지", screen, sizeof screen);
    ck_assert_msg(strstr(screen, "Connected to") && strstr(strstr(screen, "connection refused"),
                                                           "You joined #again"),
                  "no rejoin on the screen:\n%s", screen);
    term_stop(&t);
    it_server_stop(&s2);
}
END_TEST

/* --day prints each kind of stored message (PRIVMSG, /me, NOTICE) as such,
 * and --json names the kind. */
START_TEST(test_day_and_json_day_show_message_action_and_notice_kinds)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *c = it_connect(&s);
    it_send(c, "CAP REQ :echo-message server-time");
    it_send(c, "CAP END");
    it_register(c, "kinder");
    it_send(c, "JOIN #kinds");
    it_expect(c, " 366 ");
    it_send(c, "PRIVMSG #kinds :plain words");
    it_expect_re(c, " PRIVMSG #kinds :plain words$");
    it_send(c, "PRIVMSG #kinds :\001ACTION waves\001");
    it_expect_re(c, " PRIVMSG #kinds :\001ACTION waves\001$");
    it_send(c, "NOTICE #kinds :heads up");
    /* The echo is sent once the message is stored; its date is the day. */
    const char *l = it_expect_re(c, "^@time=[^ ]+ :kinder![^ ]+ NOTICE #kinds :heads up$");
    char date[11];
    snprintf(date, sizeof date, "%.10s", l + 6);
    char port[16];
    port_arg(&s, port, sizeof port);
    struct run r;
    const char *json[] = { "--port", port, "--nick", "reader", "--json", "--day", date, "#kinds", NULL };
    run_parlor(&r, json, NULL);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    static const char *const tails[] = {
        "\",\"nick\":\"kinder\",\"kind\":\"message\",\"text\":\"plain words\"}",
        "\",\"nick\":\"kinder\",\"kind\":\"action\",\"text\":\"waves\"}",
        "\",\"nick\":\"kinder\",\"kind\":\"notice\",\"text\":\"heads up\"}",
    };
    const char *p = r.out;
    for (int i = 0; i < 3; i++) {
        char head[64];
        snprintf(head, sizeof head, "{\"date\":\"%s\",\"time\":\"", date);
        ck_assert_msg(strncmp(p, head, strlen(head)) == 0, "line %d: %s", i, p);
        const char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        size_t len = (size_t)(nl - p), tl = strlen(tails[i]);
        ck_assert_msg(len > tl && strncmp(nl - tl, tails[i], tl) == 0, "line %d: %.*s", i, (int)len, p);
        p = nl + 1;
    }
    ck_assert_msg(*p == '\0', "more than three lines: %s", r.out);
    const char *day[] = { "--port", port, "--nick", "reader", "--day", date, "#kinds", NULL };
    run_parlor(&r, day, NULL);
    const char *a1 = strstr(r.out, "\tkinder\tplain words\n");
    const char *a2 = strstr(r.out, "\tkinder\t/me waves\n");
    const char *a3 = strstr(r.out, "\tkinder\theads up\n");
    ck_assert_msg(r.status == 0 && a1 && a2 && a3 && a1 < a2 && a2 < a3, "day output:\n%s", r.out);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *script = tcase_create("script");
    tcase_set_timeout(script, 60);
    tcase_add_test(script, test_send_reaches_another_client_and_exits_zero);
    tcase_add_test(script, test_a_quiet_member_is_listed_in_names);
    tcase_add_test(script, test_stdin_lines_are_sent_one_by_one_in_order);
    tcase_add_test(script, test_failures_exit_nonzero_with_a_message);
    suite_add_tcase(s, script);

    TCase *tty = tcase_create("interactive");
    tcase_set_timeout(tty, 60);
    tcase_add_test(tty, test_typed_message_reaches_another_client);
    tcase_add_test(tty, test_incoming_message_does_not_break_a_half_typed_line);
    suite_add_tcase(s, tty);

    TCase *hist = tcase_create("history");
    tcase_add_unchecked_fixture(hist, pg_up, pg_down);
    tcase_set_timeout(hist, 90);
    tcase_add_test(hist, test_days_and_day_print_todays_messages);
    tcase_add_test(hist, test_day_and_json_day_show_message_action_and_notice_kinds);
    tcase_add_test(hist, test_slash_days_shows_todays_count);
    tcase_add_test(hist, test_slash_game_invites_and_plays_a_round);
    tcase_add_test(hist, test_account_logs_in_with_sasl_and_a_wrong_password_fails);
    tcase_add_test(hist, test_reconnects_rejoins_and_fetches_missed_messages);
    suite_add_tcase(s, hist);
    return s;
}
