/* The terminal client as a new user meets it (issue 11): each test drives
 * bin/parlor under tmux (tests/integration/term.h) the way a person would,
 * typing and reading the screen, against a real parlord.  Tests that need
 * stored history, accounts or games use a throwaway PostgreSQL started once
 * for their test case. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    char guess[300];
    snprintf(guess, sizeof guess, "<gamer> %s", word);   /* #lobby's window: no guess in it */
    ck_assert_msg(!strstr(screen, guess), "the guess went to #lobby:\n%s", screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* ---- /history ---- */

/* /history shows every line the server returns, also lines already on the
 * screen; it takes a room or a nick and a count, and says when there is
 * nothing. */
START_TEST(test_history_shows_all_returned_lines_and_says_when_empty)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *bob = it_connect_registered(&s, "hbob");
    it_send(bob, "CAP REQ :echo-message");
    it_join(bob, "#dev", NULL);
    struct term t;
    term_start(&t, &s, "halice", "#dev");
    char screen[16384];
    term_wait(&t, "[#dev]", screen, sizeof screen);
    for (int i = 1; i <= 8; i++)
        it_send(bob, "PRIVMSG #dev :line number %d", i);
    term_wait(&t, "<hbob> line number 8", screen, sizeof screen);
    type_line(&t, "/clear");
    term_wait(&t, "[#dev]", screen, sizeof screen);
    type_line(&t, "/history 8");
    term_wait(&t, "End of history of #dev (8 messages)", screen, sizeof screen);
    for (int i = 1; i <= 8; i++) {
        char want[64];
        snprintf(want, sizeof want, "[history] <hbob> line number %d", i);
        ck_assert_msg(strstr(screen, want), "\"%s\" missing:\n%s", want, screen);
    }
    type_line(&t, "/clear");
    type_line(&t, "/history #dev 3");
    term_wait(&t, "End of history of #dev (3 messages)", screen, sizeof screen);
    ck_assert_msg(strstr(screen, "<hbob> line number 6") && !strstr(screen, "line number 5"),
                  "/history #dev 3:\n%s", screen);
    type_line(&t, "/history hbob 5");
    term_wait(&t, "No messages with hbob", screen, sizeof screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* ---- a login made during the session ---- */

static int count_in(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* /msg NickServ REGISTER: the client logs in again by itself after a
 * reconnect (SASL), and a later start with that nick says how to log in. */
START_TEST(test_register_is_remembered_for_reconnect_and_next_start)
{
    char state[] = "/tmp/parlor-state-XXXXXX", env[128], args[256], screen[16384];
    ck_assert_ptr_nonnull(mkdtemp(state));
    snprintf(env, sizeof env, "XDG_STATE_HOME=%s", state);
    struct it_server s1, s2;
    start_with_db(&s1);
    int port = s1.port;
    struct term t;
    snprintf(args, sizeof args, "--port %d --nick regme --join '#reg'", port);
    term_start_args(&t, env, args);
    term_wait(&t, "[#reg]", screen, sizeof screen);
    type_line(&t, "/msg NickServ REGISTER Secret-Pass-123");
    term_wait(&t, "parlor logs in as regme again by itself", screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "Secret-Pass-123"), "the password is shown:\n%s", screen);
    it_server_stop(&s1);
    term_wait(&t, "Disconnected", screen, sizeof screen);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *extra[] = { "--database", pg.conninfo, "--listen", listen, NULL };
    it_server_start(&s2, extra);
    long deadline = it_now_ms() + 20000;
    do {
        term_screen(&t, screen, sizeof screen);
        if (count_in(screen, "Logged in as regme") >= 2 && strstr(screen, "You joined #reg"))
            break;
        it_sleep_ms(100);
    } while (it_now_ms() < deadline);
    ck_assert_msg(count_in(screen, "Logged in as regme") >= 2, "no login after reconnect:\n%s", screen);
    ck_assert_msg(!strstr(screen, "Guest"), "renamed to a guest:\n%s", screen);
    type_line(&t, "/quit");
    term_stop(&t);

    /* The next start with that nick (no --account) says how to log in. */
    struct term t2;
    term_start_args(&t2, env, args);
    term_wait(&t2, "start parlor with --account regme", screen, sizeof screen);
    term_stop(&t2);
    it_server_stop(&s2);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", state);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* ---- small things a new user meets ---- */

/* "/join lobby" joins #lobby; /whois, away and /names replies read as
 * sentences; the server's internals are not shown; /help wraps at words. */
START_TEST(test_join_without_hash_readable_replies_and_help_wrap)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = it_connect_registered(&s, "wbob");
    it_send(bob, "AWAY :gone for lunch");
    it_expect_numeric(bob, "306");
    struct term t;
    term_start(&t, &s, "walice", "#start");
    char screen[8192];
    term_wait(&t, "[#start]", screen, sizeof screen);
    type_line(&t, "/join lobby");
    term_wait(&t, "You joined #lobby", screen, sizeof screen);
    term_wait(&t, "[#lobby]", screen, sizeof screen);
    type_line(&t, "/whois wbob");
    term_wait(&t, "wbob is away: gone for lunch", screen, sizeof screen);
    term_wait(&t, "wbob has been idle ", screen, sizeof screen);
    ck_assert_msg(strstr(screen, ", online since "), "no signon time:\n%s", screen);
    type_line(&t, "/names #nowhere");
    term_wait(&t, "Nobody in #nowhere", screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "Connected to worker") && !strstr(screen, "Parlor worker"),
                  "internal details shown:\n%s", screen);
    type_line(&t, "/clear");
    type_line(&t, "/help");
    term_wait(&t, "/whois nick", screen, sizeof screen);
    /* No row filled to the last column: the client wrapped, not the terminal. */
    for (const char *p = screen; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        ck_assert_msg(len < 120, "a /help row reaches the edge: %.*s", (int)len, p);
        p += len + (e ? 1 : 0);
    }
    ck_assert_msg(strstr(screen, "categories | status ID"), "/game usage cut mid-word:\n%s", screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* A message longer than one line is split between words. */
START_TEST(test_long_message_is_split_at_a_space)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = it_connect_registered(&s, "lbob");
    it_join(bob, "#long", NULL);
    struct term t;
    term_start(&t, &s, "lalice", "#long");
    char screen[8192], text[1200] = "";
    term_wait(&t, "[#long]", screen, sizeof screen);
    it_expect(bob, "JOIN");
    size_t n = 0;
    for (int i = 0; i < 120; i++)                 /* 120 words of 5 bytes: 719 bytes */
        n += (size_t)snprintf(text + n, sizeof text - n, "%sw%03d", i ? " " : "", i);
    type_line(&t, text);
    char got[1400] = "";
    size_t gl = 0;
    int parts = 0;
    while (gl < strlen(text) && parts < 4) {
        const char *l = it_expect(bob, "PRIVMSG #long :");
        const char *body = strstr(l, "PRIVMSG #long :") + 15;
        ck_assert_msg(body[0] == 'w' && strlen(body) % 5 == 4, "a piece cut mid-word: \"%s\"", body);
        gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%s", gl ? " " : "", body);
        parts++;
    }
    ck_assert_int_eq(parts, 2);
    ck_assert_str_eq(got, text);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* A wrong port: "cannot connect", a few tries, then the client gives up;
 * /server reaches the right one. */
START_TEST(test_wrong_port_gives_up_and_server_command_connects)
{
    struct it_server s;
    it_server_start(&s, NULL);
    int dead = it_free_port();
    ck_assert_int_gt(dead, 0);
    struct term t;
    char args[256], screen[8192], cmd[64];
    snprintf(args, sizeof args, "--port %d --nick lost --join '#found'", dead);
    term_start_args(&t, NULL, args);
    term_wait(&t, "Cannot connect to 127.0.0.1", screen, sizeof screen);
    long deadline = it_now_ms() + 20000;
    while (!strstr(screen, "giving up") && it_now_ms() < deadline) {
        it_sleep_ms(200);
        term_screen(&t, screen, sizeof screen);
    }
    ck_assert_msg(strstr(screen, "giving up"), "still trying:\n%s", screen);
    ck_assert_msg(!strstr(screen, "Disconnected"), "\"Disconnected\" without a connection:\n%s", screen);
    snprintf(cmd, sizeof cmd, "/server 127.0.0.1 %d", s.port);
    type_line(&t, cmd);
    term_wait(&t, "You joined #found", screen, sizeof screen);
    term_stop(&t);
    it_server_stop(&s);
}
END_TEST

/* ---- bans from the admin side ---- */

static void ctl(const struct it_server *s, const char *const *args, char *out, size_t cap, int want)
{
    char path[256];
    it_parlorctl_path(path, sizeof path);
    const char *argv[16];
    int n = 0;
    argv[n++] = "-s";
    argv[n++] = s->control_path;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int st = it_run(path, argv, out, cap, 10000);
    ck_assert_msg(st >= 0 && WEXITSTATUS(st) == want, "parlorctl %s: status %d: %s", args[0], st, out);
}

/* kick --ban keeps the user out: the client's reconnects are refused with
 * the reason until the ban is lifted. */
START_TEST(test_kick_with_ban_keeps_the_client_out_until_unban)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct term t;
    term_start(&t, &s, "pest", "#bans");
    char screen[8192], out[4096];
    term_wait(&t, "[#bans]", screen, sizeof screen);
    const char *kick[] = { "kick", "pest", "--ban", "10m", "spamming", NULL };
    ctl(&s, kick, out, sizeof out, 0);
    ck_assert_msg(strstr(out, "kicked pest; 127.0.0.1 banned for 600 s"), "%s", out);
    term_wait(&t, "Banned: spamming", screen, sizeof screen);
    const char *list[] = { "bans", NULL };
    ctl(&s, list, out, sizeof out, 0);
    ck_assert_msg(strstr(out, "127.0.0.1") && strstr(out, "spamming"), "bans: %s", out);
    struct it_client *other = it_client_connect(s.port, 0);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(it_expect_closed(other, "Banned: spamming", IT_TIMEOUT_MS), 1);
    it_client_free(other);
    const char *status[] = { "--json", "status", NULL };    /* worker_pids: a JSON array */
    ctl(&s, status, out, sizeof out, 0);
    ck_assert_msg(strstr(out, "\"worker_pids\":[") && strstr(out, "],\"workers\":2"), "%s", out);
    const char *bad[] = { "kick", "pest", "--ban", "soon", NULL };
    ctl(&s, bad, out, sizeof out, 1);
    const char *unban[] = { "unban", "127.0.0.1", NULL };
    ctl(&s, unban, out, sizeof out, 0);
    /* The client's next try gets in again. */
    long deadline = it_now_ms() + 40000;
    do {
        term_screen(&t, screen, sizeof screen);
        const char *ban = strstr(screen, "Banned");
        if (ban && strstr(ban, "You joined #bans"))
            break;
        it_sleep_ms(200);
    } while (it_now_ms() < deadline);
    const char *ban = strstr(screen, "Banned");
    ck_assert_msg(ban && strstr(ban, "You joined #bans"), "no way back in after unban:\n%s", screen);
    term_stop(&t);
    it_server_stop(&s);
}
END_TEST

/* ---- make run (scripts/run.sh) ---- */

/* Wait until the file at `path` contains `needle`; its text goes to `out`. */
static bool file_wait(const char *path, const char *needle, char *out, size_t cap, int ms)
{
    long deadline = it_now_ms() + ms;
    do {
        out[0] = '\0';
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(out, 1, cap - 1, f);
            out[n] = '\0';
            fclose(f);
        }
        if (strstr(out, needle))
            return true;
        it_sleep_ms(50);
    } while (it_now_ms() < deadline);
    return false;
}

/* run.sh in a terminal: a second one on the same folder or port is refused
 * and leaves the first one's database alone; the configuration file makes
 * `parlorctl reload` work; Ctrl-C stops gracefully (clients get ERROR, no
 * worker dies of the signal) and logs no spooling warning. */
START_TEST(test_make_run_second_instance_reload_and_ctrl_c)
{
    char dir[] = "/tmp/parlor-run-XXXXXX", log[128], text[65536];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);       /* pg.sh runs the cluster as postgres when root */
    snprintf(log, sizeof log, "%s/run.log", dir);
    int port = it_free_port();
    ck_assert_int_gt(port, 0);
    struct term t;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "PORT=%d DATA=%s timeout --foreground 300 scripts/run.sh 2>%s; echo run.sh exit $?; sleep 60",
             port, dir, log);
    snprintf(t.name, sizeof t.name, "parlor-run-%d", (int)getpid());
    const char *argv[] = { "tmux", "-L", t.name, "new-session", "-d", "-s", t.name, "-x", "120", "-y", "30",
                           cmd, NULL };
    ck_assert_int_eq(run_argv(argv), 0);
    if (!file_wait(log, "ready: ", text, sizeof text, 60000)) {
        term_stop(&t);
        ck_abort_msg("run.sh did not start:\n%s", text);
    }
    char want[64];
    snprintf(want, sizeof want, "parlord on 127.0.0.1:%d", port);
    ck_assert_msg(strstr(text, want), "run.sh does not print its port:\n%s", text);

    /* A second one, same folder: refused, the first keeps its database. */
    char out[4096];
    const char *same[] = { NULL };
    setenv("DATA", dir, 1);
    char portenv[16];
    snprintf(portenv, sizeof portenv, "%d", port + 1 > 65535 ? port - 1 : port + 1);
    setenv("PORT", portenv, 1);
    int st = it_run("scripts/run.sh", same, out, sizeof out, 30000);
    ck_assert_msg(st >= 0 && WEXITSTATUS(st) == 1 && strstr(out, "is in use by another make run"),
                  "second run.sh, same folder: status %d:\n%s", st, out);
    /* Same port, another folder: refused before a database is started. */
    char dir2[] = "/tmp/parlor-run2-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir2));
    setenv("DATA", dir2, 1);
    snprintf(portenv, sizeof portenv, "%d", port);
    setenv("PORT", portenv, 1);
    st = it_run("scripts/run.sh", same, out, sizeof out, 30000);
    unsetenv("DATA");
    unsetenv("PORT");
    ck_assert_msg(st >= 0 && WEXITSTATUS(st) == 1 && strstr(out, "is already in use"),
                  "second run.sh, same port: status %d:\n%s", st, out);
    char pgdir[160];
    snprintf(pgdir, sizeof pgdir, "%s/pg", dir2);
    ck_assert_msg(access(pgdir, F_OK) != 0, "the refused run.sh created %s", pgdir);
    rmdir(dir2);

    struct it_client *c = it_client_connect(port, 0);
    ck_assert_ptr_nonnull(c);
    it_register(c, "runner");
    it_join(c, "#run", NULL);
    it_send(c, "PRIVMSG #run :stored");
    it_expect_alive(c);

    /* reload: the configuration file is there and parlord reads it. */
    char ctl[256], sock[160];
    it_parlorctl_path(ctl, sizeof ctl);
    snprintf(sock, sizeof sock, "%s/control.sock", dir);
    const char *reload[] = { "-s", sock, "reload", NULL };
    st = it_run(ctl, reload, out, sizeof out, 10000);
    ck_assert_msg(st == 0 && strstr(out, "configuration reloaded"), "reload: %d %s", st, out);

    term_key(&t, "C-c");
    int errors = it_expect_closed(c, "ERROR :", 15000);
    if (errors != 1)
        it_fail(c, "expected one ERROR line before the close, got %d", errors);
    char screen[4096];
    /* Stopping the workers and PostgreSQL: a bound against a hang only. */
    IT_EVENTUALLY((term_screen(&t, screen, sizeof screen), strstr(screen, "run.sh exit ")), 60000);
    term_wait(&t, "run.sh exit 0", screen, sizeof screen);
    file_wait(log, "stopped PostgreSQL", text, sizeof text, 10000);
    ck_assert_msg(!strstr(text, "killed by signal"), "a worker was killed:\n%s", text);
    ck_assert_msg(!strstr(text, "spooling"), "spooling warning on a normal stop:\n%s", text);
    ck_assert_msg(strstr(text, "stopped PostgreSQL"), "the database was not stopped:\n%s", text);
    it_client_free(c);
    term_stop(&t);
    char rm[200];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* A new user on a new server: /list says there are no rooms yet and how to
 * open one; once there is a room it is listed and counted. */
START_TEST(test_list_on_a_new_server_says_how_to_start)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct term t;
    char args[128], screen[8192];
    snprintf(args, sizeof args, "--port %d --nick newbie", s.port);
    term_start_args(&t, NULL, args);
    term_wait(&t, "Connected to", screen, sizeof screen);
    type_line(&t, "/list");
    term_wait(&t, "No rooms yet. /join #lobby", screen, sizeof screen);
    struct it_client *bob = it_connect_registered(&s, "lbob");
    it_join(bob, "#first", NULL);
    type_line(&t, "/list");
    term_wait(&t, "1 room", screen, sizeof screen);
    ck_assert_msg(strstr(screen, "#first"), "the room is not listed:\n%s", screen);
    it_client_free(bob);
    term_stop(&t);
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
    tcase_add_test(db, test_history_shows_all_returned_lines_and_says_when_empty);
    tcase_add_test(db, test_register_is_remembered_for_reconnect_and_next_start);
    suite_add_tcase(s, db);
    TCase *plain = tcase_create("plain");
    tcase_set_timeout(plain, 90);
    tcase_add_test(plain, test_kick_with_ban_keeps_the_client_out_until_unban);
    tcase_add_test(plain, test_list_on_a_new_server_says_how_to_start);
    tcase_add_test(plain, test_join_without_hash_readable_replies_and_help_wrap);
    tcase_add_test(plain, test_long_message_is_split_at_a_space);
    tcase_add_test(plain, test_wrong_port_gives_up_and_server_command_connects);
    suite_add_tcase(s, plain);
    TCase *run = tcase_create("run");
    tcase_set_timeout(run, 120);
    tcase_add_test(run, test_make_run_second_instance_reload_and_ctrl_c);
    suite_add_tcase(s, run);
    return s;
}
