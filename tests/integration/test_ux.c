/* The terminal client as a new user meets it (issue 11): each test drives
 * bin/parlor under tmux (tests/integration/term.h) the way a person would,
 * typing and reading the screen, against a real parlord.  Tests that need
 * stored history, accounts or games use a throwaway PostgreSQL started once
 * for their test case. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "ux suite: cannot start PostgreSQL\n");
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

static void type_line(const struct term *t, const char *text)
{
    term_type(t, text);
    term_key(t, "Enter");
}

/* The stored word of round `round` of game `id` (waits until it exists). */
static void game_word(long id, int round, char *out, size_t cap)
{
    char ids[24], rs[12];
    snprintf(ids, sizeof ids, "%ld", id);
    snprintf(rs, sizeof rs, "%d", round);
    const char *v[2] = { ids, rs };
    out[0] = '\0';
    for (int i = 0; i < 400 && !out[0]; i++) {
        PGresult *r = it_pg_query(&pg, "SELECT word FROM game_rounds WHERE game = $1::bigint"
                                       " AND round = $2::int", 2, v);
        if (PQntuples(r) > 0)
            snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (!out[0])
            it_sleep_ms(25);
    }
    ck_assert_msg(out[0], "game %ld round %d has no stored word", id, round);
}

/* ---- the game ---- */

/* A game takes the input line: a plain typed line is a guess in #game-N,
 * and when the game is over the client goes back to the room it was in. */
START_TEST(test_game_switches_to_the_game_room_and_back)
{
    struct it_server s;
    start_with_db(&s);
    struct term t;
    term_start(&t, &s, "gamer", "#lobby");
    char screen[8192], last[512];
    term_wait(&t, "[#lobby]", screen, sizeof screen);
    struct it_client *bob = it_connect_registered(&s, "gbob");
    type_line(&t, "/game invite gbob rounds=1");
    const char *l = it_wait_re(bob, "invites you to game [0-9]+", 10000);
    if (!l)
        it_fail(bob, "no invitation");
    long id = atol(strstr(l, "invites you to game ") + strlen("invites you to game "));
    it_send(bob, "PRIVMSG GameServ :accept %ld", id);
    char room[32], prompt[48], word[256];
    snprintf(room, sizeof room, "#game-%ld", id);
    snprintf(prompt, sizeof prompt, "[%s]", room);
    term_wait(&t, prompt, screen, sizeof screen);
    term_wait(&t, "what you type now goes there", screen, sizeof screen);
    game_word(id, 1, word, sizeof word);
    type_line(&t, word);                       /* no /msg: the current room is the game */
    term_wait(&t, "Game over", screen, sizeof screen);
    term_wait(&t, "The game is over; back to #lobby", screen, sizeof screen);
    last_line(screen, last, sizeof last);
    ck_assert_msg(strcmp(last, "[#lobby]") == 0, "input line is \"%s\":\n%s", last, screen);
    ck_assert_msg(!strstr(screen, "#lobby <gamer>"), "the guess went to #lobby:\n%s", screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

Suite *ux_suite(void)
{
    Suite *s = suite_create("ux");
    TCase *db = tcase_create("db");
    tcase_add_unchecked_fixture(db, pg_up, pg_down);
    tcase_set_timeout(db, 90);
    tcase_add_test(db, test_game_switches_to_the_game_room_and_back);
    suite_add_tcase(s, db);
    return s;
}
