/* The full-screen terminal client (issue 11): each test drives bin/parlor
 * under tmux (120x30, tests/integration/term.h) the way a person would,
 * pressing keys and reading the screen, against a real parlord; another
 * user is a plain IRC connection from the harness.
 *
 * Screen layout (client-cli/parlor_tui.c): the window's lines, then the
 * status line ("[HH:MM] [nick] [N:window] [Act: ...]"), then the input line
 * ("[#room] typed text"). */
#include <check.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <wchar.h>

#include <libpq-fe.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"

#define SCREEN_CAP 16384

static void type_line(const struct term *t, const char *text)
{
    term_type(t, text);
    term_key(t, "Enter");
}

/* Row `from_end` of a screen counted from its last non-empty row (0: the
 * input line, 1: the status line). */
static void row_from_end(const char *screen, int from_end, char *out, size_t cap)
{
    const char *rows[64];
    size_t lens[64];
    int n = 0;
    for (const char *p = screen; *p && n < 64;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        rows[n] = p;
        lens[n++] = len;
        p += len + (e ? 1 : 0);
    }
    while (n > 0 && lens[n - 1] == 0)
        n--;
    out[0] = '\0';
    if (from_end < n)
        snprintf(out, cap, "%.*s", (int)lens[n - 1 - from_end], rows[n - 1 - from_end]);
}

/* Wait until the status line contains `needle`. */
static void wait_status(const struct term *t, const char *needle, char *screen, size_t cap)
{
    char status[512];
    long deadline = it_now_ms() + SCREEN_TIMEOUT_MS;
    do {
        term_screen(t, screen, cap);
        row_from_end(screen, 1, status, sizeof status);
        if (strstr(status, needle))
            return;
        it_sleep_ms(50);
    } while (it_now_ms() < deadline);
    ck_abort_msg("the status line never showed \"%s\"; the screen:\n%s", needle, screen);
}

/* Wait until the input line is exactly `want` (trailing spaces aside). */
static void wait_input(const struct term *t, const char *want, char *screen, size_t cap)
{
    char row[512];
    long deadline = it_now_ms() + SCREEN_TIMEOUT_MS;
    do {
        term_screen(t, screen, cap);
        row_from_end(screen, 0, row, sizeof row);
        size_t l = strlen(row);
        while (l > 0 && row[l - 1] == ' ')
            row[--l] = '\0';
        if (strcmp(row, want) == 0)
            return;
        it_sleep_ms(50);
    } while (it_now_ms() < deadline);
    ck_abort_msg("the input line never was \"%s\"; the screen:\n%s", want, screen);
}

/* Screen columns of a row of UTF-8 text. */
static int cols_of(const char *s, size_t len)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    wchar_t w[1024];
    char copy[4096];
    snprintf(copy, sizeof copy, "%.*s", (int)len, s);
    size_t n = mbstowcs(w, copy, 1023);
    ck_assert_msg(n != (size_t)-1, "not UTF-8: %s", copy);
    int c = wcswidth(w, n);
    ck_assert_int_ge(c, 0);
    return c;
}

/* The screen column where `needle` starts in the row that contains `row`. */
static int column_of(const char *screen, const char *row, const char *needle)
{
    const char *r = strstr(screen, row);
    ck_assert_msg(r != NULL, "no row with \"%s\":\n%s", row, screen);
    while (r > screen && r[-1] != '\n')
        r--;
    const char *n = strstr(r, needle);
    const char *eol = strchr(r, '\n');
    ck_assert_msg(n && (!eol || n < eol), "\"%s\" is not in the row of \"%s\":\n%s", needle, row, screen);
    return cols_of(r, (size_t)(n - r));
}

/* ---- windows, status line, switching ---- */

/* Each room has its own window; lines of another window are counted in the
 * status line, not shown; Alt-N, /win N|next|prev and Ctrl-N/Ctrl-P switch;
 * a private message opens a window marked as a mention; coming back to a
 * window shows the unread marker above what arrived meanwhile. */
START_TEST(test_windows_status_line_and_switching)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = it_connect_registered(&s, "wbob");
    it_join(bob, "#two", NULL);
    struct term t;
    char args[256], screen[SCREEN_CAP];
    snprintf(args, sizeof args, "--port %d --nick walice --join '#one,#two'", s.port);
    term_start_args(&t, NULL, args);
    wait_input(&t, "[#one]", screen, sizeof screen);
    wait_status(&t, "[2:#one]", screen, sizeof screen);
    it_expect(bob, "JOIN #two");
    it_send(bob, "PRIVMSG #two :hello from two");
    wait_status(&t, "3:#two(1)", screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "hello from two"), "#two's line shown in #one:\n%s", screen);

    term_key(&t, "M-3");                                /* Alt-3 */
    wait_input(&t, "[#two]", screen, sizeof screen);
    term_wait(&t, "<wbob> hello from two", screen, sizeof screen);
    wait_status(&t, "[3:#two]", screen, sizeof screen);
    char status[512];
    row_from_end(screen, 1, status, sizeof status);
    ck_assert_msg(!strstr(status, "Act:"), "still counted as unread: %s", status);

    type_line(&t, "/win 1");
    wait_status(&t, "[1:status]", screen, sizeof screen);
    term_wait(&t, "Connected to 127.0.0.1", screen, sizeof screen);
    term_key(&t, "C-n");
    wait_status(&t, "[2:#one]", screen, sizeof screen);
    term_key(&t, "C-p");
    wait_status(&t, "[1:status]", screen, sizeof screen);
    term_key(&t, "C-p");                                /* wraps to the last */
    wait_status(&t, "[3:#two]", screen, sizeof screen);
    type_line(&t, "/win prev");
    wait_status(&t, "[2:#one]", screen, sizeof screen);

    /* Unread marker: leave #two, something arrives, come back. */
    it_send(bob, "PRIVMSG #two :said while you were away");
    wait_status(&t, "3:#two(1)", screen, sizeof screen);
    type_line(&t, "/win next");
    term_wait(&t, "said while you were away", screen, sizeof screen);
    const char *marker = strstr(screen, "- unread -");
    const char *old = strstr(screen, "hello from two");
    const char *fresh = strstr(screen, "said while you were away");
    ck_assert_msg(marker && old < marker && marker < fresh, "no marker between old and new:\n%s",
                  screen);

    /* A private message: its own window, marked as a mention. */
    term_key(&t, "M-2");
    wait_input(&t, "[#one]", screen, sizeof screen);
    it_send(bob, "PRIVMSG walice :psst");
    wait_status(&t, "4:wbob(!1)", screen, sizeof screen);
    term_key(&t, "M-4");
    wait_input(&t, "[wbob]", screen, sizeof screen);
    term_wait(&t, "*wbob* psst", screen, sizeof screen);
    type_line(&t, "a private answer");
    it_expect(bob, "PRIVMSG wbob :a private answer");
    /* /close the conversation: its window goes away. */
    type_line(&t, "/close");
    wait_input(&t, "[#one]", screen, sizeof screen);
    type_line(&t, "/win 4");
    term_wait(&t, "No window 4", screen, sizeof screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* ---- completion, scrollback, highlight, /clear ---- */

/* Tab completes the room's nicks (with ": " at the start of the line) and
 * commands; PageUp/PageDown move through the window's scrollback; a line
 * naming you is highlighted (bold) and others are not; /clear empties the
 * window. */
START_TEST(test_completion_scrollback_highlight_and_clear)
{
    struct it_server s;
    const char *no_flood[] = { "--flood-lines", "0", NULL };
    it_server_start(&s, no_flood);
    struct it_client *bob = it_connect_registered(&s, "kbobby");
    it_join(bob, "#keys", NULL);
    struct term t;
    term_start(&t, &s, "kalice", "#keys");
    char screen[SCREEN_CAP];
    wait_input(&t, "[#keys]", screen, sizeof screen);
    it_expect(bob, "JOIN #keys");

    term_type(&t, "kb");
    term_key(&t, "Tab");
    wait_input(&t, "[#keys] kbobby:", screen, sizeof screen);
    type_line(&t, "hi there");
    it_expect(bob, "PRIVMSG #keys :kbobby: hi there");
    term_type(&t, "/whoi");
    term_key(&t, "Tab");
    wait_input(&t, "[#keys] /whois", screen, sizeof screen);
    term_type(&t, "kb");
    term_key(&t, "Tab");
    wait_input(&t, "[#keys] /whois kbobby", screen, sizeof screen);   /* no ": " mid-line */
    term_key(&t, "C-u");
    wait_input(&t, "[#keys]", screen, sizeof screen);

    /* Scrollback: 60 lines do not fit in 27 rows. */
    for (int i = 1; i <= 60; i++)
        it_send(bob, "PRIVMSG #keys :scroll line %02d", i);
    term_wait(&t, "scroll line 60", screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "scroll line 20"), "everything fits?\n%s", screen);
    term_key(&t, "PPage");
    term_wait(&t, "scroll line 20", screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "scroll line 60"), "PageUp did not scroll:\n%s", screen);
    wait_status(&t, "[more below", screen, sizeof screen);
    it_send(bob, "PRIVMSG #keys :arrives while scrolled back");
    it_expect_alive(bob);
    term_screen(&t, screen, sizeof screen);
    ck_assert_msg(strstr(screen, "scroll line 20"), "a new line moved the view:\n%s", screen);
    term_key(&t, "NPage");
    term_key(&t, "NPage");
    term_wait(&t, "arrives while scrolled back", screen, sizeof screen);
    char status[512];
    row_from_end(screen, 1, status, sizeof status);
    ck_assert_msg(!strstr(status, "more below"), "still scrolled: %s", status);

    /* Highlight: the line naming us is bold, an ordinary one is not. */
    it_send(bob, "PRIVMSG #keys :plain words");
    it_send(bob, "PRIVMSG #keys :ping kalice, look");
    term_wait(&t, "ping kalice, look", screen, sizeof screen);
    char attrs[SCREEN_CAP];
    term_screen_attrs(&t, attrs, sizeof attrs);
    const char *hl = strstr(attrs, "ping kalice, look");
    const char *row = hl;
    while (row > attrs && row[-1] != '\n')
        row--;
    ck_assert_msg(strstr(row, "\033[1m") && strstr(row, "\033[1m") < hl, "mention not bold: %.*s",
                  (int)(hl - row + 20), row);
    const char *plain = strstr(attrs, "plain words");
    const char *prow = plain;
    while (prow > attrs && prow[-1] != '\n')
        prow--;
    ck_assert_msg(!memmem(prow, (size_t)(plain - prow), "\033[1m", 4), "ordinary line bold: %.*s",
                  (int)(plain - prow + 12), prow);

    type_line(&t, "/clear");
    long deadline = it_now_ms() + SCREEN_TIMEOUT_MS;
    do {
        term_screen(&t, screen, sizeof screen);
        if (!strstr(screen, "scroll line") && !strstr(screen, "plain words"))
            break;
        it_sleep_ms(50);
    } while (it_now_ms() < deadline);
    ck_assert_msg(!strstr(screen, "plain words"), "/clear left lines:\n%s", screen);
    it_send(bob, "PRIVMSG #keys :after the clear");
    term_wait(&t, "<kbobby> after the clear", screen, sizeof screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* ---- wide characters ---- */

/* Korean takes two columns: long lines wrap inside the screen, the input
 * line's cursor moves by characters, /list's columns line up in screen
 * cells. */
START_TEST(test_korean_is_laid_out_by_screen_columns)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *bob = it_connect_registered(&s, "민수");
    it_join(bob, "#한국어방", NULL);
    it_send(bob, "TOPIC #한국어방 :주제");
    it_join(bob, "#abc", NULL);
    it_send(bob, "TOPIC #abc :topic");
    struct term t;
    term_start(&t, &s, "민영", "#한국어방");
    char screen[SCREEN_CAP], text[1024] = "";
    wait_input(&t, "[#한국어방]", screen, sizeof screen);
    it_expect(bob, "JOIN #한국어방");

    size_t n = 0;
    for (int i = 0; i < 20; i++)                    /* 20 x "안녕하세요 " = 220 columns */
        n += (size_t)snprintf(text + n, sizeof text - n, "%s안녕하세요", i ? " " : "");
    it_send(bob, "PRIVMSG #한국어방 :%s 끝", text);
    term_wait(&t, " 끝", screen, sizeof screen);
    for (const char *p = screen; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        ck_assert_msg(cols_of(p, len) <= 120, "a row wider than the screen: %.*s", (int)len, p);
        p += len + (e ? 1 : 0);
    }
    int words = 0;                                  /* wrapped at spaces: every word whole */
    for (const char *p = screen; (p = strstr(p, "안녕하세요")) != NULL; p++)
        words++;
    ck_assert_msg(words == 20, "%d whole words of 20:\n%s", words, screen);

    /* Editing: Left moves over one Korean character, not one byte. */
    term_type(&t, "안녕");
    term_key(&t, "Left");
    term_type(&t, "A");
    wait_input(&t, "[#한국어방] 안A녕", screen, sizeof screen);
    term_key(&t, "Enter");
    it_expect(bob, "PRIVMSG #한국어방 :안A녕");

    type_line(&t, "/list");
    term_wait(&t, "#abc", screen, sizeof screen);
    term_wait(&t, "주제", screen, sizeof screen);
    ck_assert_int_eq(column_of(screen, "-!- #한국어방 ", "주제"), column_of(screen, "-!- #abc ", "topic"));
    term_stop(&t);

    /* parlorctl show clients: the columns after a Korean nick line up. */
    struct it_client *ascii = it_connect_registered(&s, "kwide");
    char ctl[256], out[8192];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *argv[] = { "-s", s.control_path, "show", "clients", NULL };
    int st = it_run(ctl, argv, out, sizeof out, 10000);
    ck_assert_msg(st == 0, "parlorctl: %d %s", st, out);
    ck_assert_msg(column_of(out, " 민수 ", "127.0.0.1") == column_of(out, " kwide ", "127.0.0.1"),
                  "show clients misaligned:\n%s", out);
    it_client_free(ascii);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* ---- time zones and script mode (PostgreSQL) ---- */

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "tui suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

/* Today's date in zone `tz`. */
static void today_in(const char *tz, char *out, size_t cap)
{
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(out, cap, "%Y-%m-%d", &tm);
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
}

/* /days and --days ask for the user's zone (TZ); HistServ answers in it,
 * takes offsets, and refuses a zone it does not know.  --days with a name
 * that is not a room says how to write the room. */
START_TEST(test_days_in_the_users_time_zone)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, NULL };
    it_server_start(&s, extra);
    struct it_client *bob = it_connect_registered(&s, "zbob");
    it_send(bob, "CAP REQ :echo-message");
    it_join(bob, "#zone", NULL);
    it_send(bob, "PRIVMSG #zone :stored now");
    it_expect(bob, "PRIVMSG #zone :stored now");

    it_send(bob, "PRIVMSG HistServ :DAYS #zone tz=Mars/Olympus");
    it_expect(bob, "Unknown time zone Mars/Olympus");
    it_send(bob, "PRIVMSG HistServ :DAYS #zone tz=bad;zone");
    it_expect(bob, "is not a time zone");
    char want[128], date[16];
    today_in("UTC-14", date, sizeof date);          /* POSIX: 14 hours east */
    it_send(bob, "PRIVMSG HistServ :DAYS #zone tz=+14:00");
    snprintf(want, sizeof want, "%s  1 message", date);
    it_expect(bob, want);

    /* The interactive client, in Seoul and in Honolulu. */
    struct term t;
    char args[256], screen[SCREEN_CAP];
    snprintf(args, sizeof args, "--port %d --nick zseoul --join '#zone'", s.port);
    term_start_args(&t, "TZ=Asia/Seoul", args);
    wait_input(&t, "[#zone]", screen, sizeof screen);
    type_line(&t, "/days");
    term_wait(&t, "Days with messages in #zone (Asia/Seoul)", screen, sizeof screen);
    today_in("Asia/Seoul", date, sizeof date);
    snprintf(want, sizeof want, "%s  1 message", date);
    term_wait(&t, want, screen, sizeof screen);
    term_stop(&t);

    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    setenv("TZ", "Pacific/Honolulu", 1);
    struct run r;
    const char *days[] = { "--port", port, "--nick", "zscript", "--days", "#zone", NULL };
    run_parlor(&r, days, NULL);
    unsetenv("TZ");
    today_in("Pacific/Honolulu", date, sizeof date);
    snprintf(want, sizeof want, "%s\t1\n", date);
    ck_assert_msg(r.status == 0 && strcmp(r.out, want) == 0, "status %d, out \"%s\", err %s",
                  r.status, r.out, r.err);

    /* "--days zone" (no '#'): not a silent success. */
    const char *nohash[] = { "--port", port, "--nick", "zscript", "--days", "zone", NULL };
    run_parlor(&r, nohash, NULL);
    ck_assert_msg(r.status == 1 && strstr(r.err, "'#zone'"), "status %d, out \"%s\", err %s",
                  r.status, r.out, r.err);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* Joining a room shows its last messages (CHATHISTORY LATEST), marked as
 * history, before what is said after. */
START_TEST(test_joining_a_room_shows_its_recent_messages)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, NULL };
    it_server_start(&s, extra);
    struct it_client *bob = it_connect_registered(&s, "rbob");
    it_send(bob, "CAP REQ :echo-message");
    it_join(bob, "#recent", NULL);
    it_send(bob, "PRIVMSG #recent :said before you came");
    it_expect(bob, "PRIVMSG #recent :said before you came");
    struct term t;
    char args[256], screen[SCREEN_CAP];
    snprintf(args, sizeof args, "--port %d --nick rnew --join '#recent'", s.port);
    term_start_args(&t, NULL, args);
    wait_input(&t, "[#recent]", screen, sizeof screen);
    term_wait(&t, "<rbob> said before you came", screen, sizeof screen);
    it_send(bob, "PRIVMSG #recent :said after");
    term_wait(&t, "<rbob> said after", screen, sizeof screen);
    const char *old = strstr(screen, "said before you came"), *new = strstr(screen, "said after");
    ck_assert_msg(old && new && old < new, "order on screen:\n%s", screen);
    term_stop(&t);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* The row of `attrs` (capture-pane -e) holding `needle`, or NULL. */
static const char *row_of(const char *attrs, const char *needle, const char **end)
{
    const char *hit = strstr(attrs, needle);
    if (!hit)
        return NULL;
    const char *row = hit;
    while (row > attrs && row[-1] != '\n')
        row--;
    *end = hit;
    return row;
}

/* Your own line shows at once, dim, while it is being stored (its echo is
 * the acknowledgement), and turns normal when the echo comes, once. */
START_TEST(test_own_line_is_dim_until_its_echo_comes)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, NULL };
    it_server_start(&s, extra);
    struct term t;
    char args[256], screen[SCREEN_CAP], attrs[SCREEN_CAP];
    snprintf(args, sizeof args, "--port %d --nick dimmer --join '#dim'", s.port);
    term_start_args(&t, NULL, args);
    wait_input(&t, "[#dim]", screen, sizeof screen);
    PGconn *lock = PQconnectdb(pg.conninfo);
    ck_assert_int_eq(PQstatus(lock), CONNECTION_OK);
    PQclear(PQexec(lock, "BEGIN"));
    PGresult *lr = PQexec(lock, "LOCK TABLE messages IN SHARE MODE");
    ck_assert_int_eq(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    type_line(&t, "held by the database");
    term_wait(&t, "<dimmer> held by the database", screen, sizeof screen);
    const char *end, *row;
    term_screen_attrs(&t, attrs, sizeof attrs);
    row = row_of(attrs, "held by the database", &end);
    ck_assert_msg(row && strstr(row, "\033[2m") && strstr(row, "\033[2m") < end,
                  "not dim while unconfirmed: %s", row ? row : attrs);
    PQclear(PQexec(lock, "COMMIT"));
    PQfinish(lock);
    bool normal = false;
    for (long deadline = it_now_ms() + 10000; !normal && it_now_ms() < deadline;) {
        term_screen_attrs(&t, attrs, sizeof attrs);
        row = row_of(attrs, "held by the database", &end);
        normal = row && !(strstr(row, "\033[2m") && strstr(row, "\033[2m") < end);
        if (!normal)
            it_sleep_ms(100);
    }
    ck_assert_msg(normal, "still dim after the echo: %s", row ? row : attrs);
    term_screen(&t, screen, sizeof screen);
    const char *first = strstr(screen, "held by the database");
    ck_assert_msg(first && !strstr(first + 1, "held by the database"), "shown twice:\n%s", screen);
    term_stop(&t);
    it_server_stop(&s);
}
END_TEST

Suite *tui_suite(void)
{
    Suite *s = suite_create("tui");
    TCase *plain = tcase_create("plain");
    tcase_set_timeout(plain, 90);
    tcase_add_test(plain, test_windows_status_line_and_switching);
    tcase_add_test(plain, test_completion_scrollback_highlight_and_clear);
    tcase_add_test(plain, test_korean_is_laid_out_by_screen_columns);
    suite_add_tcase(s, plain);
    TCase *db = tcase_create("db");
    tcase_add_unchecked_fixture(db, pg_up, pg_down);
    tcase_set_timeout(db, 90);
    tcase_add_test(db, test_days_in_the_users_time_zone);
    tcase_add_test(db, test_joining_a_room_shows_its_recent_messages);
    tcase_add_test(db, test_own_line_is_dim_until_its_echo_comes);
    suite_add_tcase(s, db);
    return s;
}
