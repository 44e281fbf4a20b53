/* GameServ, the word-guessing game (worker/game.c), against a real
 * PostgreSQL: whole games played by clients on different workers with
 * scripted guesses, every kind of bad input, the invitation and round
 * timeouts, and a game whose worker dies.
 *
 * The tests learn each round's secret word the way an auditor would: from
 * the game_rounds row the server writes when the round starts (before any
 * guess can count).  Nothing in the server reveals it otherwise. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/irc.h"
#include "tests/integration/gameserv.h"
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"


static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "game suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static void start(struct it_server *s, const char *invite_timeout, const char *round_seconds)
{
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0",
                            "--game-invite-timeout", invite_timeout,
                            "--game-round-seconds", round_seconds, NULL };
    it_server_start(s, extra);
}

static struct it_client *user(const struct it_server *s, int worker, const char *nick)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_register(c, nick);
    return c;
}

static void gs(struct it_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gs(struct it_client *c, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    it_send(c, "PRIVMSG GameServ :%s", text);
}

/* The invitation a client got; returns the game id. */
static long expect_invitation(struct it_client *c, const char *inviter)
{
    char needle[128];
    snprintf(needle, sizeof needle, "%s invites you to game ", inviter);
    const char *l = it_gs_notice(c, needle);
    long id = atol(strstr(l, needle) + strlen(needle));
    ck_assert_int_gt(id, 0);
    ck_assert_ptr_nonnull(strstr(l, "/msg GameServ accept"));
    return id;
}

static void expect_joined(struct it_client *c, const char *room)
{
    char re[200];
    snprintf(re, sizeof re, "^:%s![^ ]+ JOIN :?%s$", c->nick, room);
    if (!it_wait_re(c, re, 10000))
        it_fail(c, "%s was not joined to %s", c->nick, room);
}

/* The secret word of a round, as stored when the round started. */
static void round_word(long id, int round, char *out, size_t cap)
{
    char r[16];
    snprintf(r, sizeof r, "%d", round);
    for (int i = 0; i < 400; i++) {
        it_pg_text(&pg, out, cap, "SELECT word FROM game_rounds WHERE game = $1 AND round = $2::int", id, r);
        if (out[0])
            return;
        it_sleep_ms(25);
    }
    ck_abort_msg("round %d of game %ld has no stored word", round, id);
}

/* The word typed differently: lower case, without its spaces and
 * punctuation (ASCII only; Hangul and other letters as they are). */
static void sloppy(const char *word, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = word; *p && o + 1 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 0x80 || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z'))
            out[o++] = (char)ch;
        else if (ch >= 'A' && ch <= 'Z')
            out[o++] = (char)(ch + 32);
    }
    out[o] = '\0';
}

static int owner_of_room(const char *room, int nworkers)
{
    return (int)(irc_casehash(room, strlen(room)) % (uint64_t)nworkers);
}

static void player_row(long id, const char *player, char *out, size_t cap)
{
    it_pg_text(&pg, out, cap, "SELECT nick || ' ' || score || ' ' || coalesce(result, '-') FROM game_players"
            " WHERE game = $1 AND player = $2", id, player);
}

/* "NICK found it in T s: WORD (+P points)": returns P after checking it is
 * what the speed rule gives for T (1 to 10 points, more the faster:
 * 1 + ceil(9 * time left / round length); T is shown to 0.1 s). */
static int round_points(const char *line, int round_seconds)
{
    const char *p = strstr(line, " found it in ");
    ck_assert_ptr_nonnull(p);
    double took = atof(p + 13);
    const char *q = strstr(line, " (+");
    ck_assert_ptr_nonnull(q);
    int points = atoi(q + 3);
    int lo = 1 + (int)ceil(9.0 * fmax(0, round_seconds - (took + 0.05)) / round_seconds);
    int hi = 1 + (int)ceil(9.0 * fmax(0, round_seconds - (took - 0.05)) / round_seconds);
    if (hi > 10)
        hi = 10;
    ck_assert_msg(points >= lo && points <= hi, "%d points after %.1f s of %d: %s", points, took,
                  round_seconds, line);
    return points;
}

START_TEST(test_a_whole_game_on_two_workers_scores_announces_and_stores_results)
{
    struct it_server s;
    start(&s, "30", "30");
    struct it_client *alice = user(&s, 0, "alice");
    struct it_client *bob = user(&s, 1, "bob");
    struct it_client *carol = user(&s, 1, "carol");
    struct it_client *dave = user(&s, 0, "dave");
    it_send(alice, "CAP REQ :echo-message");      /* her guess comes back, stored */
    it_expect(alice, "CAP alice ACK");

    gs(alice, "invite bob carol category=movies rounds=3");
    long id = expect_invitation(bob, "alice");
    ck_assert_int_eq(expect_invitation(carol, "alice"), id);
    char room[32], word[256], guess[256], row[200];
    snprintf(room, sizeof room, "#game-%ld", id);
    it_gs_notice(alice, "created; invitation sent to bob, carol");
    it_pg_text(&pg, row, sizeof row, "SELECT state || ' ' || category || ' ' || rounds || ' ' || inviter || ' ' || room"
            " FROM games WHERE id = $1", id, NULL);
    char want[200];
    snprintf(want, sizeof want, "inviting movies 3 alice %s", room);
    ck_assert_str_eq(row, want);

    gs(bob, "accept %ld", id);
    it_gs_notice(bob, "You accepted game");
    it_gs_notice(alice, "bob accepted game");
    gs(carol, "accept %ld", id);
    it_gs_notice(carol, "starts now in");
    expect_joined(alice, room);
    expect_joined(bob, room);
    expect_joined(carol, room);

    /* Round 1: bob, typed sloppily. */
    it_gs_room(carol, room, "Round 1 of 3 (movies, ");
    round_word(id, 1, word, sizeof word);
    sloppy(word, guess, sizeof guess);
    it_send(bob, "PRIVMSG %s :%s", room, guess);
    it_gs_room(alice, room, "bob found it in ");
    const char *l = it_gs_room(carol, room, "bob found it in ");
    ck_assert_ptr_nonnull(strstr(l, word));
    int p1 = round_points(l, 30);
    char sc[64];
    snprintf(sc, sizeof sc, "Scores: bob %d, ", p1);
    ck_assert_msg(strstr(l, sc), "no '%s' in %s", sc, l);

    /* Round 2: a wrong guess, then alice as the word is written, after the
     * first hint (a quarter of the round): fewer points, by the speed rule. */
    it_gs_room(alice, room, "Round 2 of 3");
    round_word(id, 2, word, sizeof word);
    it_send(carol, "PRIVMSG %s :surely not this one", room);
    it_gs_room(alice, room, "Hint: ");
    it_send(alice, "PRIVMSG %s :%s", room, word);
    /* The guesser sees her own guess before GameServ's verdict. */
    char mine[300];
    snprintf(mine, sizeof mine, ":alice!");
    bool echoed = false;
    for (;;) {
        const char *al = it_next_line(alice, 10000);
        if (!al)
            it_fail(alice, "no 'alice found it'");
        if (strstr(al, mine) && strstr(al, word))
            echoed = true;
        if (strstr(al, "alice found it in ")) {
            ck_assert_msg(echoed, "GameServ's verdict came before alice's own guess: %s", al);
            break;
        }
    }
    l = it_gs_room(bob, room, "alice found it in ");
    int p2 = round_points(l, 30);
    ck_assert_msg(p2 <= 8, "alice got %d points after a quarter of the round: %s", p2, l);

    /* Round 3: dave watches; his right answer does not count, bob's does. */
    it_send(dave, "JOIN %s", room);
    expect_joined(dave, room);
    it_gs_room(dave, room, "Round 3 of 3");
    round_word(id, 3, word, sizeof word);
    it_send(dave, "PRIVMSG %s :%s", room, word);
    it_gs_notice(dave, "only its players' guesses count");
    it_send(bob, "PRIVMSG %s :%s", room, word);
    int p3 = round_points(it_gs_room(alice, room, "bob found it in "), 30);
    int bob_total = p1 + p3;
    /* Quick answers (well under a quarter of a round) outscore alice's. */
    ck_assert_msg(bob_total > p2, "bob %d + %d, alice %d", p1, p3, p2);
    l = it_gs_room(dave, room, "Game over!");
    snprintf(want, sizeof want, "Final scores: bob %d, alice %d, carol 0. Winner: bob.", bob_total, p2);
    ck_assert_msg(strstr(l, want), "no '%s' in %s", want, l);

    /* Stored, with the results. */
    for (int i = 0; i < 400; i++) {
        it_pg_text(&pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
        if (strcmp(row, "finished") == 0)
            break;
        it_sleep_ms(25);
    }
    ck_assert_str_eq(row, "finished");
    it_pg_text(&pg, row, sizeof row, "SELECT (started IS NOT NULL AND ended >= started)::text FROM games WHERE id = $1",
            id, NULL);
    ck_assert_str_eq(row, "true");
    player_row(id, "bob", row, sizeof row);
    snprintf(want, sizeof want, "bob %d win", bob_total);
    ck_assert_str_eq(row, want);
    player_row(id, "alice", row, sizeof row);
    snprintf(want, sizeof want, "alice %d lose", p2);
    ck_assert_str_eq(row, want);
    player_row(id, "carol", row, sizeof row);
    ck_assert_str_eq(row, "carol 0 lose");
    it_pg_text(&pg, row, sizeof row, "SELECT count(*) FROM game_players WHERE game = $1", id, NULL);
    ck_assert_str_eq(row, "3");
    it_pg_text(&pg, row, sizeof row, "SELECT string_agg(winner || ':' || points, ',' ORDER BY round) FROM game_rounds"
            " WHERE game = $1", id, NULL);
    snprintf(want, sizeof want, "bob:%d,alice:%d,bob:%d", p1, p2, p3);
    ck_assert_str_eq(row, want);

    /* Talking in the room after the end: told once that it is over. */
    it_send(carol, "PRIVMSG %s :%s", room, word);
    it_gs_notice(carol, "is over; guesses no longer count");

    /* The leaderboard and the stats. */
    gs(carol, "top movies");
    it_gs_notice(carol, "Top players (movies)");
    snprintf(want, sizeof want, "1. bob: 1 win, 1 game, %d points", bob_total);
    l = it_gs_notice(carol, want);
    gs(carol, "stats BOB");
    snprintf(want, sizeof want, "BOB: 1 game, 1 win, 0 draws, 0 losses, %d points. Best category: movies.",
             bob_total);
    it_gs_notice(carol, want);
    gs(carol, "status %ld", id);
    snprintf(want, sizeof want, "finished, rounds played: 3 of 3. Scores: bob %d, alice %d, carol 0.",
             bob_total, p2);
    it_gs_notice(carol, want);

    it_client_free(alice);
    it_client_free(bob);
    it_client_free(carol);
    it_client_free(dave);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_bad_input_gets_a_clear_notice_and_changes_nothing)
{
    struct it_server s;
    start(&s, "30", "30");
    struct it_client *alice = user(&s, 0, "ann");
    struct it_client *bob = user(&s, 1, "ben");
    struct it_client *carol = user(&s, 1, "cat");
    char before[32], after[32], row[200];
    it_pg_text(&pg, before, sizeof before, "SELECT count(*) FROM games WHERE $1 > 0", 1, NULL);

    gs(alice, "invite nosuchnick");
    it_gs_notice(alice, "There is nobody called nosuchnick online; no game was created.");
    gs(alice, "invite ben nosuchnick");
    it_gs_notice(alice, "There is nobody called nosuchnick online");
    gs(alice, "invite ANN");
    it_gs_notice(alice, "You cannot invite yourself");
    gs(alice, "invite ben category=nope");
    it_gs_notice(alice, "There is no category nope.");
    gs(alice, "invite ben rounds=0");
    it_gs_notice(alice, "rounds must be a number from 1 to 20, not 0.");
    gs(alice, "invite ben rounds=100000000000");
    it_gs_notice(alice, "rounds must be a number from 1 to 20");
    gs(alice, "invite ben rounds=three");
    it_gs_notice(alice, "rounds must be a number");
    gs(alice, "invite ben ben");
    it_gs_notice(alice, "ben is invited twice");
    gs(alice, "invite GameServ");
    it_gs_notice(alice, "GameServ does not play");
    gs(alice, "invite");
    it_gs_notice(alice, "Syntax: INVITE nick");
    gs(alice, "top nope");
    it_gs_notice(alice, "There is no category nope.");
    gs(alice, "frobnicate");
    it_gs_notice(alice, "Unknown command frobnicate");
    gs(bob, "accept 987654");
    it_gs_notice(bob, "There is no open game 987654.");
    gs(bob, "accept soon");
    it_gs_notice(bob, "soon is not a game number.");
    gs(bob, "status 987654");
    it_gs_notice(bob, "There is no game 987654.");
    /* No invitation reached anyone, nothing was stored. */
    it_pg_text(&pg, after, sizeof after, "SELECT count(*) FROM games WHERE $1 > 0", 1, NULL);
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(it_count_for(bob, "invites you", 200), 0);

    /* A real game: only its invitees may answer, and only once. */
    gs(alice, "invite ben category=cats rounds=1");
    long id = expect_invitation(bob, "ann");
    gs(carol, "accept %ld", id);
    it_gs_notice(carol, "You were not invited to game");
    gs(carol, "decline %ld", id);
    it_gs_notice(carol, "You were not invited to game");
    gs(alice, "accept %ld", id);
    it_gs_notice(alice, "only the people you invited answer");
    gs(alice, "status %ld", id);
    it_gs_notice(alice, "(cats, 1 round, by ann): waiting for answers, 30 s left. Playing: ann. Not answered yet: ben.");
    it_pg_text(&pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
    ck_assert_str_eq(row, "inviting");
    /* The inviter withdraws it: the invitee is told; answering is too late. */
    gs(alice, "quit %ld", id);
    it_gs_notice(bob, "is cancelled: its inviter withdrew it.");
    it_gs_notice(alice, "is cancelled");
    gs(bob, "accept %ld", id);
    it_gs_notice(bob, "is already cancelled");
    for (int i = 0; i < 100 && strcmp(row, "cancelled") != 0; i++) {
        it_sleep_ms(25);
        it_pg_text(&pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
    }
    ck_assert_str_eq(row, "cancelled");
    it_pg_text(&pg, row, sizeof row, "SELECT count(*) FROM game_players WHERE game = $1", id, NULL);
    ck_assert_str_eq(row, "0");

    gs(alice, "categories");
    it_gs_notice(alice, "cartoons (en ");
    gs(alice, "help");
    it_gs_notice(alice, "INVITE nick");

    it_client_free(alice);
    it_client_free(bob);
    it_client_free(carol);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_invitation_and_round_timeouts)
{
    struct it_server s;
    start(&s, "1", "2");
    struct it_client *alice = user(&s, 0, "amy");
    struct it_client *bob = user(&s, 1, "bo");
    struct it_client *carol = user(&s, 0, "cy");
    char row[200] = "", room[32], word[256];

    /* Nobody accepts: one declines, one never answers -> cancelled. */
    gs(alice, "invite bo cy rounds=1");
    long id = expect_invitation(bob, "amy");
    expect_invitation(carol, "amy");
    gs(bob, "decline %ld", id);
    it_gs_notice(bob, "You declined game");
    it_gs_notice(alice, "bo declined game");
    it_gs_notice(carol, "did not answer the invitation");
    it_gs_notice(alice, "is cancelled: nobody accepted the invitation.");
    it_gs_notice(carol, "is cancelled: nobody accepted");
    for (int i = 0; i < 100 && strcmp(row, "cancelled") != 0; i++) {
        it_pg_text(&pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
        if (strcmp(row, "cancelled") != 0)
            it_sleep_ms(25);
    }
    ck_assert_str_eq(row, "cancelled");

    /* One accepts, one is silent: it starts after the timeout; nobody
     * finds the word in time, which is then revealed; all tie at 0. */
    gs(alice, "invite bo cy category=cartoons lang=ko rounds=1");
    id = expect_invitation(bob, "amy");
    snprintf(room, sizeof room, "#game-%ld", id);
    gs(bob, "accept %ld", id);
    it_gs_notice(carol, "did not answer the invitation");
    expect_joined(alice, room);
    expect_joined(bob, room);
    it_gs_room(bob, room, "Round 1 of 1 (cartoons, Korean, 2 s): ");
    round_word(id, 1, word, sizeof word);
    char want[300];
    snprintf(want, sizeof want, "Time is up! Nobody found it: it was %s.", word);
    it_gs_room(alice, room, want);
    it_gs_room(bob, room, "It is a draw between amy and bo.");
    for (int i = 0; i < 400; i++) {
        it_pg_text(&pg, row, sizeof row, "SELECT string_agg(nick || ' ' || score || ' ' || coalesce(result, '-'), ','"
                " ORDER BY nick) FROM game_players WHERE game = $1", id, NULL);
        if (strcmp(row, "amy 0 draw,bo 0 draw") == 0)
            break;
        it_sleep_ms(25);
    }
    ck_assert_str_eq(row, "amy 0 draw,bo 0 draw");
    it_pg_text(&pg, row, sizeof row, "SELECT state || ' ' || lang FROM games WHERE id = $1", id, NULL);
    ck_assert_str_eq(row, "finished ko");
    it_pg_text(&pg, row, sizeof row, "SELECT coalesce(winner, '-') || ' ' || lang FROM game_rounds WHERE game = $1",
            id, NULL);
    ck_assert_str_eq(row, "- ko");

    it_client_free(alice);
    it_client_free(bob);
    it_client_free(carol);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_a_game_whose_worker_dies_is_aborted_and_its_players_are_told)
{
    struct it_server s;
    start(&s, "30", "30");
    struct it_client *alice = user(&s, 0, "ada");
    struct it_client *bob = user(&s, 0, "bea");
    struct it_client *other = user(&s, 1, "otto");
    pid_t victim = other->worker_pid;
    char room[32], row[64];
    long id = 0;
    /* A game whose room is owned by worker 1 (ids come from a sequence). */
    for (int tries = 0; tries < 12; tries++) {
        gs(alice, "invite bea category=cats rounds=2");
        id = expect_invitation(bob, "ada");
        snprintf(room, sizeof room, "#game-%ld", id);
        if (owner_of_room(room, 2) == 1)
            break;
        gs(alice, "quit %ld", id);
        it_gs_notice(alice, "is cancelled");
        id = 0;
    }
    ck_assert_int_gt(id, 0);
    gs(bob, "accept %ld", id);
    expect_joined(alice, room);
    expect_joined(bob, room);
    it_gs_room(bob, room, "Round 1 of 2");
    for (int i = 0; i < 400; i++) {
        it_pg_text(&pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
        if (strcmp(row, "running") == 0)
            break;
        it_sleep_ms(25);
    }
    ck_assert_str_eq(row, "running");

    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    /* A guess sent while the room's owner is dead waits for its replacement
     * (worker/outbox.c): it is stored and delivered once, after the abort. */
    it_send(bob, "PRIVMSG %s :held guess", room);
    char want[96];
    snprintf(want, sizeof want, "PRIVMSG %s :held guess", room);
    int aborted = 0, guesses = 0;                    /* in either order */
    long deadline = it_now_ms() + 15000;
    while (!aborted || !guesses) {
        const char *l = it_next_line(alice, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(alice, "aborted %d, held guess %d", aborted, guesses);
        aborted += strstr(l, "was aborted") != NULL;
        guesses += strstr(l, want) != NULL;
    }
    ck_assert_int_eq(it_count_for(alice, want, 300), 0);    /* once */
    it_gs_room(bob, room, "was aborted");
    it_pg_text(&pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
    ck_assert_str_eq(row, "aborted");
    for (int i = 0; i < 400; i++) {
        it_pg_text(&pg, row, sizeof row, "SELECT count(*) FROM messages WHERE conversation = $2"
                " AND body = 'held guess' AND $1::bigint > 0", id, room);
        if (strcmp(row, "1") == 0)
            break;
        it_sleep_ms(25);
    }
    ck_assert_str_eq(row, "1");
    it_send(bob, "PRIVMSG %s :anything", room);
    it_gs_notice(bob, "was aborted; guesses do not count");
    gs(alice, "status %ld", id);
    it_gs_notice(alice, "): aborted.");

    it_client_free(alice);
    it_client_free(bob);
    it_client_free(other);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_korean_words_are_compared_as_typed_without_spaces)
{
    struct it_server s;
    start(&s, "30", "30");
    struct it_client *alice = user(&s, 1, "jiwoo");
    struct it_client *bob = user(&s, 0, "minho");
    char room[32], word[256], guess[300];
    gs(alice, "invite minho category=cats lang=ko rounds=1");
    long id = expect_invitation(bob, "jiwoo");
    snprintf(room, sizeof room, "#game-%ld", id);
    gs(bob, "accept %ld", id);
    expect_joined(alice, room);
    expect_joined(bob, room);
    it_gs_room(alice, room, "Round 1 of 1 (cats, Korean, 30 s): _");
    round_word(id, 1, word, sizeof word);
    ck_assert_int_ge((int)(unsigned char)word[0], 0xe0);     /* Hangul */
    /* Another syllable is another word: "not it" stays unanswered. */
    snprintf(guess, sizeof guess, "%s야", word);
    it_send(bob, "PRIVMSG %s :%s", room, guess);
    /* Spaces and punctuation around it do not matter. */
    snprintf(guess, sizeof guess, " %s! ", word);
    it_send(alice, "PRIVMSG %s :%s", room, guess);
    const char *l = it_gs_room(bob, room, " found it in ");
    ck_assert_ptr_nonnull(strstr(l, "jiwoo found it"));
    it_gs_room(bob, room, "Winner: jiwoo.");
    it_client_free(alice);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

Suite *game_suite(void)
{
    Suite *s = suite_create("game");
    TCase *tc = tcase_create("game");
    tcase_set_timeout(tc, 90);
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_add_test(tc, test_a_whole_game_on_two_workers_scores_announces_and_stores_results);
    tcase_add_test(tc, test_bad_input_gets_a_clear_notice_and_changes_nothing);
    tcase_add_test(tc, test_korean_words_are_compared_as_typed_without_spaces);
    tcase_add_test(tc, test_invitation_and_round_timeouts);
    tcase_add_test(tc, test_a_game_whose_worker_dies_is_aborted_and_its_players_are_told);
    suite_add_tcase(s, tc);
    return s;
}
