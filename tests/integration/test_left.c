/* Issues 11 and 12, the remaining pieces: the `parlor` client follows an
 * IRCv3 STS policy (upgrade, remembered per host, duration=0 forgets it);
 * admin bans by account and CIDR block, stored in PostgreSQL. */
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
#include "tests/integration/tls_server.h"

#define SCREEN_CAP 16384

/* The contents of the client's STS state file under `state` ("" if none). */
static void read_sts_file(const char *state, char *out, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/parlor/sts", state);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* A private state folder for the client (XDG_STATE_HOME) in the server's
 * certificate folder (removed with it). */
static void state_home(const struct tls_server *t, char *out, size_t cap)
{
    snprintf(out, cap, "%s/state", t->certdir);
    ck_assert_int_eq(mkdir(out, 0700), 0);
    setenv("XDG_STATE_HOME", out, 1);
    setenv("SSL_CERT_FILE", t->cert, 1);    /* the system store, for the upgrade */
}

START_TEST(test_parlor_follows_sts_and_remembers_the_policy)
{
    struct tls_server t;
    const char *extra[] = { "--sts-duration", "3600", NULL };
    tls_server_start(&t, extra);
    char state[128], file[1024], bin[512], port[16], out[8192];
    state_home(&t, state, sizeof state);
    snprintf(bin, sizeof bin, "%s", client_path());
    snprintf(port, sizeof port, "%d", t.s.port);
    struct it_client *w = it_connect(&t.s);
    it_register(w, "watcher");
    it_join(w, "#sts", NULL);

    /* Plaintext port: the client sees sts=port=P, reconnects with TLS and
     * sends there; the policy is remembered with its expiry. */
    const char *say[] = { "--host", "localhost", "--port", port, "--nick", "stsbot", "--join",
                          "#sts", "--send", "upgraded by STS", NULL };
    int st = it_run(bin, say, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor (%d): %s", st, out);
    it_expect(w, "PRIVMSG #sts :upgraded by STS");
    it_server_expect_log(&t.s, "registered as stsbot", 1, IT_TIMEOUT_MS);
    ck_assert_msg(it_server_log_count(&t.s, ": TLS TLSv1.") >= 1, "stsbot did not use TLS");
    read_sts_file(state, file, sizeof file);
    char host;
    int p;
    long long expiry;
    ck_assert_msg(sscanf(file, "localhost %d %lld%c", &p, &expiry, &host) == 3 &&
                  p == t.tls_port, "the STS file: \"%s\" (TLS port %d)", file, t.tls_port);
    long long now = (long long)time(NULL);
    ck_assert_msg(expiry > now + 3500 && expiry <= now + 3600, "expiry %lld, now %lld", expiry, now);

    /* Next time, interactive: straight to TLS on the policy's port. */
    struct term term;
    char env[512], args[256], screen[SCREEN_CAP], want[128];
    snprintf(env, sizeof env, "XDG_STATE_HOME=%s SSL_CERT_FILE=%s", state, t.cert);
    snprintf(args, sizeof args, "--host localhost --port %d --nick stsuser --join '#sts'", t.s.port);
    term_start_args(&term, env, args);
    term_wait(&term, "[2:#sts]", screen, sizeof screen);
    term_type(&term, "/win 1");               /* the status window: how it connected */
    term_key(&term, "Enter");
    snprintf(want, sizeof want, "Connecting to localhost:%d with TLS (the server's STS policy)",
             t.tls_port);
    term_wait(&term, want, screen, sizeof screen);
    snprintf(want, sizeof want, "Connected to localhost:%d as stsuser", t.tls_port);
    term_wait(&term, want, screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "The server asks for TLS"), "upgraded again:\n%s", screen);
    it_expect(w, ":stsuser!");
    term_type(&term, "/win 2");
    term_key(&term, "Enter");
    term_type(&term, "hello, secure");
    term_key(&term, "Enter");
    it_expect(w, "PRIVMSG #sts :hello, secure");
    term_type(&term, "/quit");
    term_key(&term, "Enter");
    term_stop(&term);
    it_client_free(w);
    tls_server_stop(&t);
}
END_TEST

/* A TLS connection that sees duration=0 removes the host's policy; other
 * hosts' lines stay. */
START_TEST(test_parlor_sts_duration_zero_forgets_the_policy)
{
    struct tls_server t;
    const char *extra[] = { "--sts-duration", "0", NULL };
    tls_server_start(&t, extra);
    char state[128], file[1024], bin[512], port[16], out[8192], path[256];
    state_home(&t, state, sizeof state);
    snprintf(path, sizeof path, "%s/parlor", state);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/parlor/sts", state);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    long long later = (long long)time(NULL) + 86400;
    fprintf(f, "other.example 6697 %lld\nlocalhost %d %lld\n", later, t.tls_port, later);
    fclose(f);
    snprintf(bin, sizeof bin, "%s", client_path());
    snprintf(port, sizeof port, "%d", t.s.port);
    struct it_client *w = it_connect(&t.s);
    it_register(w, "watcher");
    it_join(w, "#sts", NULL);
    /* The remembered policy takes the plaintext port to TLS; the server
     * withdraws it. */
    const char *say[] = { "--host", "localhost", "--port", port, "--nick", "stsbot", "--join",
                          "#sts", "--send", "policy withdrawn", NULL };
    int st = it_run(bin, say, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor (%d): %s", st, out);
    it_expect(w, "PRIVMSG #sts :policy withdrawn");
    ck_assert_msg(it_server_log_count(&t.s, ": TLS TLSv1.") >= 1, "stsbot did not use TLS");
    read_sts_file(state, file, sizeof file);
    char want[128];
    snprintf(want, sizeof want, "other.example 6697 %lld\n", later);
    ck_assert_msg(strcmp(file, want) == 0, "the STS file: \"%s\"", file);
    /* Without a policy, plaintext stays plaintext (duration=0 asks no upgrade). */
    const char *again[] = { "--host", "localhost", "--port", port, "--nick", "plainbot", "--join",
                            "#sts", "--send", "in plaintext", NULL };
    st = it_run(bin, again, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor (%d): %s", st, out);
    it_expect(w, "PRIVMSG #sts :in plaintext");
    ck_assert_int_eq(it_server_log_count(&t.s, ": TLS TLSv1."), 1);
    it_client_free(w);
    tls_server_stop(&t);
}
END_TEST

/* ---- admin bans by account and CIDR, stored ---- */

static char spool[64];

static void db_server_start(struct it_server *s)
{
    if (!spool[0]) {
        strcpy(spool, "/tmp/parlor-left-spool-XXXXXX");
        ck_assert(mkdtemp(spool) != NULL);
    }
    const char *extra[] = { "--database", it_suite_pg.conninfo, "--spool-dir", spool, NULL };
    it_server_start(s, extra);
    it_server_expect_log(s, "store: connected to PostgreSQL", s->nworkers, IT_TIMEOUT_MS);
}

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

/* A new connection is refused by the master with `needle` in its ERROR. */
static void expect_refused(const struct it_server *s, const char *needle)
{
    struct it_client *c = it_client_connect(s->port, 0);
    ck_assert(c != NULL);
    ck_assert_int_ge(it_expect_closed(c, needle, IT_TIMEOUT_MS), 1);
    it_client_free(c);
}

/* IDENTIFY as victim from a fresh connection: logged in (900), or refused
 * and closed with the ban's reason. */
static void identify_victim(const struct it_server *s, const char *nick, bool banned)
{
    struct it_client *c = it_connect_registered(s, nick);
    it_send(c, "PRIVMSG NickServ :IDENTIFY Victim victim-pw-1");
    if (banned) {
        ck_assert_int_ge(it_expect_closed(c, "the account victim is banned: spam bot", IT_TIMEOUT_MS), 1);
    } else {
        it_expect_numeric(c, "900");
        it_expect_alive(c);
    }
    it_client_free(c);
}

START_TEST(test_bans_by_account_and_cidr_are_stored_and_survive_a_restart)
{
    struct it_server s;
    db_server_start(&s);
    char out[4096];
    struct it_client *v = it_connect_registered(&s, "victim");
    it_send(v, "PRIVMSG NickServ :REGISTER victim-pw-1");
    it_expect_numeric(v, "900");

    /* An account ban closes the logged-in connection and refuses logins. */
    const char *ban_acc[] = { "ban", "account:Victim", "1h", "spam", "bot", NULL };
    ctl(&s, ban_acc, out, sizeof out, 0);
    ck_assert_msg(strstr(out, "account:Victim banned for 3600 s") && !strstr(out, "not stored"),
                  "%s", out);
    ck_assert_int_ge(it_expect_closed(v, "the account victim is banned: spam bot", IT_TIMEOUT_MS), 1);
    it_client_free(v);
    identify_victim(&s, "someone", true);
    /* Bad masks are refused. */
    const char *bad[] = { "ban", "10.0.0.0/33", "1h", NULL };
    ctl(&s, bad, out, sizeof out, 1);
    ck_assert_msg(strstr(out, "not a block"), "%s", out);
    const char *bad_acc[] = { "ban", "account:no good", "1h", NULL };
    ctl(&s, bad_acc, out, sizeof out, 1);

    /* A CIDR ban: every address of 127.0.0.0/8 is refused at connect. */
    const char *ban_cidr[] = { "ban", "127.1.2.3/8", "2h", "loopback", "abuse", NULL };
    ctl(&s, ban_cidr, out, sizeof out, 0);
    ck_assert_msg(strstr(out, "banned for 7200 s"), "%s", out);
    expect_refused(&s, "Banned: loopback abuse");
    ck_assert_int_eq(it_pg_long(&it_suite_pg, "SELECT count(*) FROM admin_bans WHERE mask IN "
                                "('account:victim', '127.0.0.0/8') AND until > now()", 0, NULL), 2);
    const char *unban_cidr[] = { "unban", "127.0.0.0/8", NULL };
    ctl(&s, unban_cidr, out, sizeof out, 0);
    identify_victim(&s, "someone2", true);      /* connecting works again; the account ban holds */
    /* A block that lets the harness in, to see it come back after the restart
     * (a documentation range: nothing is sent to it). */
    const char *ban_doc[] = { "ban", "198.51.100.7/24", "1d", "doc", "range", NULL };
    ctl(&s, ban_doc, out, sizeof out, 0);

    /* A restart of the whole server (master included) keeps both. */
    it_server_stop(&s);
    db_server_start(&s);
    const char *list[] = { "bans", NULL };
    ctl(&s, list, out, sizeof out, 0);
    ck_assert_msg(strstr(out, "198.51.100.0/24") && strstr(out, "doc range") &&
                  strstr(out, "account:victim") && strstr(out, "spam bot") &&
                  !strstr(out, "127.0.0.0/8"), "bans: %s", out);
    identify_victim(&s, "other", true);        /* the workers got the account ban */
    const char *unban_acc[] = { "unban", "account:VICTIM", NULL };
    ctl(&s, unban_acc, out, sizeof out, 0);
    identify_victim(&s, "other", false);
    const char *unban_doc[] = { "unban", "198.51.100.0/24", NULL };
    ctl(&s, unban_doc, out, sizeof out, 0);
    ck_assert_int_eq(it_pg_long(&it_suite_pg, "SELECT count(*) FROM admin_bans", 0, NULL), 0);
    it_server_stop(&s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", spool);     /* db_server_start's spool directory */
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- the full-screen client: topic bar, a conversation follows a nick ---- */

START_TEST(test_tui_topic_bar_and_query_follows_nick_change)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct term t;
    char screen[SCREEN_CAP];
    struct it_client *b = it_connect_registered(&s, "bob");
    it_join(b, "#topics", NULL);                /* bob is op: +t lets him set it */
    it_send(b, "TOPIC #topics :Lunch at noon");
    it_expect(b, "TOPIC #topics :Lunch at noon");
    term_start(&t, &s, "me", "#topics");
    term_wait(&t, " #topics: Lunch at noon", screen, sizeof screen);   /* 332 on JOIN */
    ck_assert_msg(strncmp(screen, " #topics: Lunch at noon", 23) == 0, "no topic bar on top:\n%s",
                  screen);
    it_send(b, "TOPIC #topics :Dinner at six");
    term_wait(&t, " #topics: Dinner at six", screen, sizeof screen);
    ck_assert_msg(strncmp(screen, " #topics: Dinner at six", 23) == 0, "the bar did not change:\n%s",
                  screen);

    /* A private message opens bob's window; bob becomes robert: the window,
     * the status line and where typed text goes follow. */
    it_send(b, "PRIVMSG me :psst");
    term_wait(&t, "3:bob", screen, sizeof screen);
    term_type(&t, "/win 3");
    term_key(&t, "Enter");
    term_wait(&t, "[3:bob]", screen, sizeof screen);
    ck_assert_msg(strncmp(screen, " #topics", 8) != 0, "a topic bar in a query:\n%s", screen);
    it_send(b, "NICK robert");
    term_wait(&t, "[3:robert]", screen, sizeof screen);
    term_type(&t, "still there?");
    term_key(&t, "Enter");
    it_expect(b, "PRIVMSG robert :still there?");
    term_type(&t, "/quit");
    term_key(&t, "Enter");
    term_stop(&t);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

Suite *left_suite(void)
{
    Suite *s = suite_create("left");
    TCase *tc = tcase_create("sts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_parlor_follows_sts_and_remembers_the_policy);
    tcase_add_test(tc, test_parlor_sts_duration_zero_forgets_the_policy);
    tcase_add_test(tc, test_tui_topic_bar_and_query_follows_nick_change);
    suite_add_tcase(s, tc);
    TCase *db = tcase_create("bans");
    tcase_set_timeout(db, 90);
    tcase_add_unchecked_fixture(db, it_suite_pg_up, it_suite_pg_down);
    tcase_add_test(db, test_bans_by_account_and_cidr_are_stored_and_survive_a_restart);
    suite_add_tcase(s, db);
    return s;
}
