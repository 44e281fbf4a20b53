/* What a new user hits on the first day (issue 11), server side: a room
 * keeps its operators after its owner worker dies, recent messages on
 * JOIN, GameServ's language and spectators, internal details hidden. */
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
        fprintf(stderr, "firstday suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static struct it_client *user_on(const struct it_server *s, int worker, const char *nick)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_register(c, nick);
    return c;
}

/* NickServ REGISTER (create) or IDENTIFY on a new connection: the account `nick`. */
static struct it_client *with_account(const struct it_server *s, int worker, const char *nick, bool create)
{
    struct it_client *c = user_on(s, worker, nick);
    it_send(c, "PRIVMSG NickServ :%s Sesame-Street-42", create ? "REGISTER" : "IDENTIFY");
    it_expect_re(c, create ? "is now registered" : " 900 ");
    return c;
}

/* ---- 1. a room keeps its operators when its owner worker dies ---- */

/* Worker 0 owns the room; its guest op and a voiced guest are on worker 1,
 * a member on worker 0 dies with it.  The replacement rebuilds the room from
 * worker 1's re-announcement: NAMES shows @ and + again and the op can
 * still set the topic of the +t room, and the voiced one still can't. */
START_TEST(test_owner_killed_room_keeps_its_ops_and_voices)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#keepop", 0, 2, room, sizeof room);
    struct it_client *op = user_on(&s, 1, "guestop");
    it_join(op, room, NULL);
    struct it_client *voiced = user_on(&s, 1, "voiced");
    it_join(voiced, room, NULL);
    struct it_client *doomed = user_on(&s, 0, "doomed");
    it_join(doomed, room, NULL);
    it_send(op, "MODE %s +v voiced", room);
    it_expect(voiced, " MODE ");
    it_send(op, "TOPIC %s :before the crash", room);
    it_expect(voiced, " TOPIC ");
    pid_t gone = doomed->worker_pid;
    ck_assert_int_eq(kill(gone, SIGKILL), 0);
    it_expect_closed(doomed, NULL, IT_TIMEOUT_MS);
    pid_t pids[2];
    it_server_expect_workers_replaced(&s, &gone, 1, pids, 2, 15000);
    it_server_expect_log(&s, "members re-announced by worker 1", 1, 15000);
    /* NAMES comes from the new owner. */
    it_send(voiced, "NAMES %s", room);
    const char *l = it_expect_re(voiced, " 353 ");
    if (!strstr(l, "@guestop") || !strstr(l, "+voiced"))
        it_fail(voiced, "modes lost: %s", l);
    it_expect(voiced, " 366 ");
    it_send(voiced, "TOPIC %s :not mine", room);
    it_expect_numeric(voiced, "482");
    it_send(op, "TOPIC %s :after the crash", room);
    it_expect(voiced, "TOPIC " );
    it_send(op, "MODE %s -v voiced", room);
    it_expect(voiced, "-v voiced");
    it_client_free(op);
    it_client_free(voiced);
    it_client_free(doomed);
    it_server_stop(&s);
}
END_TEST

/* The room's operator (an account) was on the owner worker, which is
 * killed; the same account, logged in on worker 1, asks to JOIN while the
 * owner is down.  The replacement rebuilds the room from worker 1's members
 * and must know the remembered operators before it answers that JOIN. */
START_TEST(test_owner_killed_remembered_op_rejoining_at_once_gets_op)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#acctop", 0, 2, room, sizeof room);
    struct it_client *first = with_account(&s, 0, "founder", true);
    it_join(first, room, NULL);
    struct it_client *guest = user_on(&s, 1, "bystander");
    it_join(guest, room, NULL);
    it_send(first, "MODE %s +t", room);
    it_expect(guest, "MODE ");
    struct it_client *again = user_on(&s, 1, "founder2");
    it_send(again, "PRIVMSG NickServ :IDENTIFY founder Sesame-Street-42");
    it_expect(again, " 900 ");
    pid_t gone = first->worker_pid;
    ck_assert_int_eq(kill(gone, SIGKILL), 0);
    it_expect_closed(first, NULL, IT_TIMEOUT_MS);
    it_send(again, "JOIN %s", room);
    const char *l = it_expect_re(again, " 353 ");
    if (!strstr(l, "@founder2"))
        it_fail(again, "the remembered operator came back without op: %s", l);
    it_expect(again, " 366 ");
    it_send(again, "TOPIC %s :still ours", room);
    it_expect(guest, "TOPIC ");
    it_client_free(first);
    it_client_free(guest);
    it_client_free(again);
    it_server_stop(&s);
}
END_TEST

/* ---- 2. recent messages when you join a room ---- */

/* `count` messages "said N" into `room` by a member on `worker`; each is
 * durable (its echo came) before the next. */
static struct it_client *chatter(const struct it_server *s, int worker, const char *room, int count)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_send(c, "CAP REQ :echo-message");
    it_send(c, "CAP END");
    it_register(c, "chatter");
    it_join(c, room, NULL);
    for (int i = 0; i < count; i++) {
        it_send(c, "PRIVMSG %s :said %d", room, i);
        char want[64];
        snprintf(want, sizeof want, "PRIVMSG %s :said %d", room, i);
        it_expect(c, want);
    }
    return c;
}

/* JOIN `room` and PING: after the NAMES, the last 10 of chatter's "said N"
 * (2..11) between two NOTICEs to the room, each with its time in front;
 * then the PONG. */
static void expect_plain_replay(struct it_client *c, const char *room)
{
    it_send(c, "JOIN %s", room);
    it_send(c, "PING :after-join");
    it_expect(c, " 366 ");
    const char *l = it_next_line(c, IT_TIMEOUT_MS);
    if (!l || !strstr(l, "NOTICE ") || !strstr(l, "Recent messages of "))
        it_fail(c, "no opening notice after NAMES: %s", l ? l : "(nothing)");
    for (int i = 2; i < 12; i++) {
        l = it_next_line(c, IT_TIMEOUT_MS);
        char want[64];
        snprintf(want, sizeof want, "] said %d", i);
        if (!l || !strstr(l, ":chatter PRIVMSG ") || !strstr(l, " :[") || !strstr(l, want))
            it_fail(c, "replayed message %d: %s", i, l ? l : "(nothing)");
        ck_assert_msg(l[0] != '@', "tags for a client without capabilities: %s", l);
    }
    l = it_next_line(c, IT_TIMEOUT_MS);
    if (!l || !strstr(l, "End of recent messages"))
        it_fail(c, "no closing notice: %s", l ? l : "(nothing)");
    l = it_next_line(c, IT_TIMEOUT_MS);
    if (!l || !strstr(l, "PONG") || !strstr(l, "after-join"))
        it_fail(c, "the next command's reply is not next: %s", l ? l : "(nothing)");
}

/* A client without capabilities (irssi without server-time, telnet) gets
 * the last 10 after its NAMES, marked, then the reply to what it sent after
 * the JOIN: from a room owned by the other worker and by its own. */
START_TEST(test_join_replays_recent_messages_to_a_plain_client)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#recent", 0, 2, room, sizeof room);
    struct it_client *talker = chatter(&s, 0, room, 12);
    struct it_client *c = user_on(&s, 1, "newcomer");
    expect_plain_replay(c, room);
    struct it_client *near = user_on(&s, 0, "neighbour");
    expect_plain_replay(near, room);
    /* Live messages are not marked. */
    it_send(talker, "PRIVMSG %s :live now", room);
    const char *l = it_expect(c, "live now");
    ck_assert_msg(strstr(l, " :live now"), "%s", l);
    it_client_free(talker);
    it_client_free(c);
    it_client_free(near);
    it_server_stop(&s);
}
END_TEST

/* batch and server-time: a chathistory batch, each line with its time;
 * with labeled-response it is inside the JOIN's labeled batch. */
START_TEST(test_join_replay_is_a_chathistory_batch_for_batch_clients)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", "--join-replay", "3", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#batched", 1, 2, room, sizeof room);
    struct it_client *talker = chatter(&s, 1, room, 5);
    struct it_client *c = it_connect_on_worker(&s, 0);
    it_send(c, "CAP REQ :batch server-time message-tags");
    it_send(c, "CAP END");
    it_register(c, "batcher");
    it_send(c, "JOIN %s", room);
    it_expect(c, " 366 ");
    const char *l = it_next_line(c, IT_TIMEOUT_MS);
    char ref[32];
    if (!l || sscanf(l, "%*s BATCH +%31s chathistory", ref) != 1 || !strstr(l, room))
        it_fail(c, "no chathistory batch: %s", l ? l : "(nothing)");
    for (int i = 2; i < 5; i++) {
        l = it_next_line(c, IT_TIMEOUT_MS);
        char want[64], tag[48];
        snprintf(want, sizeof want, "PRIVMSG %s :said %d", room, i);
        snprintf(tag, sizeof tag, "batch=%s", ref);
        if (!l || !strstr(l, want) || !strstr(l, tag) || !strstr(l, "time="))
            it_fail(c, "batched message %d: %s", i, l ? l : "(nothing)");
    }
    l = it_next_line(c, IT_TIMEOUT_MS);
    char end[48];
    snprintf(end, sizeof end, "BATCH -%s", ref);
    if (!l || !strstr(l, end))
        it_fail(c, "batch not closed: %s", l ? l : "(nothing)");
    it_client_free(talker);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* No replay: for draft/chathistory clients (they fetch it), with
 * join-replay 0, for a JOIN refused (+i: nothing of the room leaks), and
 * for an empty room. */
START_TEST(test_join_replay_only_where_wanted_and_allowed)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#private", 0, 2, room, sizeof room);
    struct it_client *talker = chatter(&s, 0, room, 3);
    /* The op is the room's creator. */
    it_send(talker, "MODE %s +i", room);
    it_expect(talker, "MODE ");
    struct it_client *outsider = user_on(&s, 1, "outsider");
    it_send(outsider, "JOIN %s", room);
    it_send(outsider, "PING :refused");
    it_expect_numeric(outsider, "473");
    const char *l = it_expect(outsider, "refused");
    ck_assert_msg(strstr(l, "PONG"), "%s", l);
    ck_assert_int_eq(it_count_for(outsider, "said", 300), 0);
    it_send(talker, "MODE %s -i", room);
    it_expect(talker, "MODE ");

    struct it_client *modern = it_connect_on_worker(&s, 1);
    it_send(modern, "CAP REQ :draft/chathistory batch server-time");
    it_send(modern, "CAP END");
    it_register(modern, "modern");
    it_send(modern, "JOIN %s", room);
    it_send(modern, "PING :modern-done");
    it_expect(modern, " 366 ");
    l = it_expect(modern, "modern-done");
    ck_assert_int_eq(it_count_for(modern, "said", 300), 0);

    struct it_client *fresh = user_on(&s, 1, "fresh");
    it_send(fresh, "JOIN #nothing-said-here");
    it_send(fresh, "PING :empty-room");
    it_expect(fresh, " 366 ");
    l = it_next_line(fresh, IT_TIMEOUT_MS);
    ck_assert_msg(l && strstr(l, "PONG") && strstr(l, "empty-room"), "%s", l ? l : "(nothing)");
    it_client_free(talker);
    it_client_free(outsider);
    it_client_free(modern);
    it_client_free(fresh);
    it_server_stop(&s);

    const char *off[] = { "--database", pg.conninfo, "--flood-lines", "0", "--join-replay", "0", NULL };
    it_server_start(&s, off);
    talker = chatter(&s, 0, "#quiet", 2);
    struct it_client *c = user_on(&s, 1, "plain");
    it_send(c, "JOIN #quiet");
    it_send(c, "PING :no-replay");
    it_expect(c, " 366 ");
    l = it_next_line(c, IT_TIMEOUT_MS);
    ck_assert_msg(l && strstr(l, "PONG") && strstr(l, "no-replay"), "%s", l ? l : "(nothing)");
    it_client_free(talker);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- 3. GameServ: one language, spectators, plurals ---- */

/* The text of PostgreSQL's first row and column ("" when none). */
static void pg_first(const char *sql, const char *arg, char *out, size_t cap)
{
    const char *v[1] = { arg };
    PGresult *r = it_pg_query(&pg, sql, 1, v);
    snprintf(out, cap, "%s", PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

/* Read c's lines until one contains `needle`; fails on one containing
 * `never` (NULL: none) before it. */
static const char *until(struct it_client *c, const char *needle, const char *never)
{
    long deadline = it_now_ms() + 15000;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no line with '%s'", needle);
        if (never && strstr(l, never))
            it_fail(c, "should not have seen: %s", l);
        if (strstr(l, needle))
            return l;
    }
}

/* A game without lang= is in one language, named in the invitation and in
 * the round; GameServ's help names lang=.  During the round a spectator's
 * line with the word, and a player's line that contains it, are refused
 * with a notice and never reach the players.  Stats count in the singular. */
START_TEST(test_game_language_stated_spectators_cannot_give_the_word_away)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", "--game-round-seconds", "60",
                            NULL };
    it_server_start(&s, extra);
    struct it_client *alice = user_on(&s, 0, "alice");
    struct it_client *bob = user_on(&s, 1, "bob");
    struct it_client *dave = user_on(&s, 1, "dave");
    it_send(alice, "PRIVMSG GameServ :help");
    until(alice, "lang=CODE or one picked at random", NULL);

    it_send(alice, "PRIVMSG GameServ :invite bob category=movies rounds=1");
    const char *l = until(bob, "alice invites you to game ", NULL);
    long id = atol(strstr(l, "game ") + 5);
    const char *lang = strstr(l, "words in English") ? "en" : strstr(l, "words in Korean") ? "ko" : NULL;
    if (!lang)
        it_fail(bob, "the invitation does not name the language: %s", l);
    const char *name = strcmp(lang, "en") == 0 ? "English" : "Korean";
    char ids[24], room[32], want[128], word[256];
    snprintf(ids, sizeof ids, "%ld", id);
    snprintf(room, sizeof room, "#game-%ld", id);
    it_send(bob, "PRIVMSG GameServ :accept %ld", id);
    snprintf(want, sizeof want, "Round 1 of 1 (movies, %s, 60 s): ", name);
    until(alice, want, NULL);
    pg_first("SELECT lang FROM games WHERE id = $1::bigint", ids, word, sizeof word);
    ck_assert_str_eq(word, lang);
    pg_first("SELECT lang FROM game_rounds WHERE game = $1::bigint AND round = 1", ids, word, sizeof word);
    ck_assert_str_eq(word, lang);
    pg_first("SELECT word FROM game_rounds WHERE game = $1::bigint AND round = 1", ids, word, sizeof word);
    ck_assert(word[0]);

    it_join(dave, room, NULL);
    it_send(dave, "PRIVMSG %s :%s", room, word);
    until(dave, "only its players' guesses count", NULL);
    it_send(bob, "PRIVMSG %s :is it %s?", room, word);
    until(bob, "Not sent: it would give the word away", NULL);
    it_send(dave, "PRIVMSG %s :good luck", room);
    until(bob, ":good luck", "found it");          /* other lines of a spectator go out */
    it_send(alice, "PRIVMSG %s :%s", room, word);
    /* Alice never saw dave's word nor bob's "is it" before her own find. */
    char never[64];
    snprintf(never, sizeof never, "PRIVMSG %s :is it", room);
    until(alice, "alice found it in ", never);
    ck_assert_int_eq(it_count_for(bob, ":dave!", 300), 0);
    until(alice, "Game over", NULL);
    /* Stored a moment after the game is over: ask until counted. */
    long deadline = it_now_ms() + 10000;
    for (;;) {
        it_send(alice, "PRIVMSG GameServ :stats alice");
        l = until(alice, "alice", NULL);
        if (strstr(l, "1 game, 1 win, 0 draws, 0 losses, "))
            break;
        if (it_now_ms() > deadline)
            it_fail(alice, "stats: %s", l);
        it_sleep_ms(100);
    }
    it_client_free(alice);
    it_client_free(bob);
    it_client_free(dave);
    it_server_stop(&s);
}
END_TEST

/* HistServ takes a time zone per request (tz=): a message sent at 20:00
 * UTC on one day is on the next day in Seoul; the hints carry the zone on;
 * an unknown zone is named as such. */
START_TEST(test_histserv_days_in_the_asked_time_zone)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    struct it_client *c = user_on(&s, 0, "seoulite");
    it_join(c, "#tz", NULL);
    it_send(c, "PRIVMSG #tz :late evening");
    it_send(c, "PING :sent");
    it_expect(c, "sent");
    /* Moved to 20:00 UTC yesterday: Seoul (UTC+9) has it today at 05:00. */
    const char *v[1] = { "late evening" };
    ck_assert(IT_EVENTUALLY(it_pg_long(&pg, "SELECT count(*) FROM messages WHERE body = $1", 1, v) == 1,
                            5000));
    PQclear(it_pg_query(&pg, "UPDATE messages SET server_time = date_trunc('day', now() AT TIME ZONE 'UTC')"
                             " AT TIME ZONE 'UTC' - interval '4 hours' WHERE body = $1", 1, v));
    char utc_day[16], seoul_day[16];
    PGresult *r = it_pg_query(&pg, "SELECT to_char(server_time AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
                                   " to_char(server_time AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD')"
                                   " FROM messages WHERE body = $1", 1, v);
    ck_assert_int_eq(PQntuples(r), 1);
    snprintf(utc_day, sizeof utc_day, "%s", PQgetvalue(r, 0, 0));
    snprintf(seoul_day, sizeof seoul_day, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    ck_assert_str_ne(utc_day, seoul_day);
    char want[160];
    it_send(c, "PRIVMSG HistServ :days #tz tz=Asia/Seoul");
    until(c, "Days with messages in #tz (Asia/Seoul)", NULL);
    snprintf(want, sizeof want, "  %s  1 message", seoul_day);
    until(c, want, NULL);
    snprintf(want, sizeof want, "SHOW #tz %s tz=Asia/Seoul", seoul_day);
    until(c, want, NULL);
    it_send(c, "PRIVMSG HistServ :show #tz %s tz=Asia/Seoul", seoul_day);
    until(c, "] <seoulite> late evening", NULL);
    it_send(c, "PRIVMSG HistServ :days #tz");
    snprintf(want, sizeof want, "  %s  1 message", utc_day);
    until(c, want, NULL);
    it_send(c, "PRIVMSG HistServ :days #tz tz=Mars/Olympus");
    until(c, "Unknown time zone Mars/Olympus", NULL);
    it_send(c, "PRIVMSG HistServ :days #tz tz=x';drop");
    until(c, "is not a time zone", NULL);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- 5. make run's Ctrl-C ---- */

/* Ctrl-C (SIGINT, what make run forwards) with clients and PostgreSQL: the
 * clients get an ERROR, and the log of a normal stop has no warning (no
 * "spooling", no "lost worker"). */
START_TEST(test_interrupt_stops_without_warnings)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    struct it_client *a = user_on(&s, 0, "calm");
    struct it_client *b = user_on(&s, 1, "quiet");
    it_join(a, "#end", NULL);
    it_join(b, "#end", NULL);
    it_send(a, "PRIVMSG #end :last words");
    it_expect(b, "last words");
    pid_t pids[2];
    ck_assert_int_eq(it_server_workers(&s, pids, 2), 2);
    ck_assert_int_eq(kill(s.pid, SIGINT), 0);
    ck_assert_int_eq(it_expect_closed(a, "ERROR", IT_TIMEOUT_MS), 1);
    ck_assert_int_eq(it_expect_closed(b, "ERROR", IT_TIMEOUT_MS), 1);
    if (!IT_EVENTUALLY(it_server_log_contains(&s, "]: stopped"), 10000))
        ck_abort_msg("the master did not stop");
    /* From the stop on (start-up may warn about the descriptor limit). */
    FILE *f = fopen(s.log_path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    bool stopping = false;
    while (fgets(line, sizeof line, f)) {
        stopping = stopping || strstr(line, "shutting down");
        if (stopping && (strstr(line, " WARN ") || strstr(line, " ERROR ")))
            ck_abort_msg("a normal stop logged: %s", line);
    }
    fclose(f);
    ck_assert(stopping);
    it_server_wait_exit(&s, pids, 2);
    it_client_free(a);
    it_client_free(b);
}
END_TEST

/* ---- 4. internal details only with show-internals ---- */

/* By default a client is not told its worker, its process or how many
 * workers there are (003, VERSION); `parlorctl show client` still tells
 * the administrator which worker holds it. */
START_TEST(test_internals_hidden_unless_show_internals)
{
    struct it_server s;
    const char *extra[] = { "--show-internals=no", NULL };
    it_server_start(&s, extra);
    struct it_client *c = it_client_connect(s.port, 0);
    ck_assert_ptr_nonnull(c);
    it_send(c, "NICK plain");
    it_send(c, "USER plain 0 * :Plain User");
    it_send(c, "VERSION");
    it_send(c, "PING :all-read");
    bool welcomed = false, version = false;
    for (;;) {
        const char *l = it_next_line(c, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no PONG");
        if (strstr(l, "worker") || strstr(l, "pid "))
            it_fail(c, "internal detail shown: %s", l);
        welcomed = welcomed || strstr(l, " 003 plain ");
        version = version || strstr(l, " 351 plain ");
        if (strstr(l, "PONG") && strstr(l, "all-read"))
            break;
    }
    ck_assert(welcomed && version);
    ck_assert_int_eq(c->worker, -1);
    char ctl[256], out[4096];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", s.control_path, "show", "client", "plain", NULL };
    int rc = it_run(ctl, args, out, sizeof out, IT_TIMEOUT_MS);
    ck_assert_msg(rc == 0 && strstr(out, "worker"), "parlorctl show client: %d\n%s", rc, out);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* With show-internals = yes (the test harness's default) they are told. */
START_TEST(test_internals_shown_with_show_internals)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect(&s);
    ck_assert_int_ge(c->worker, 0);
    it_register(c, "curious");
    it_send(c, "VERSION");
    const char *l = it_expect_numeric(c, "351");
    ck_assert_msg(strstr(l, "2 workers"), "%s", l);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

Suite *firstday_suite(void)
{
    Suite *s = suite_create("firstday");
    TCase *tc = tcase_create("with PostgreSQL");
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_owner_killed_room_keeps_its_ops_and_voices);
    tcase_add_test(tc, test_owner_killed_remembered_op_rejoining_at_once_gets_op);
    tcase_add_test(tc, test_join_replays_recent_messages_to_a_plain_client);
    tcase_add_test(tc, test_join_replay_is_a_chathistory_batch_for_batch_clients);
    tcase_add_test(tc, test_join_replay_only_where_wanted_and_allowed);
    tcase_add_test(tc, test_game_language_stated_spectators_cannot_give_the_word_away);
    tcase_add_test(tc, test_interrupt_stops_without_warnings);
    tcase_add_test(tc, test_histserv_days_in_the_asked_time_zone);
    suite_add_tcase(s, tc);
    TCase *plain = tcase_create("without PostgreSQL");
    tcase_set_timeout(plain, 60);
    tcase_add_test(plain, test_internals_hidden_unless_show_internals);
    tcase_add_test(plain, test_internals_shown_with_show_internals);
    suite_add_tcase(s, plain);
    return s;
}
