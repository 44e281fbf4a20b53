/* Accounts: NickServ REGISTER/IDENTIFY, SASL PLAIN, slow and logged
 * failures, protection of registered nicks, service nicks.
 *
 * A real PostgreSQL (scripts/pg.sh) is started once per test case by an
 * unchecked fixture, in its own temporary folder, and stopped at the end;
 * every test starts parlord with --database pointing at it.  Tests use
 * distinct account names, so they can share the database. */
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD "Correct-Horse-9"

static char pg_dir[64];
static char pg_conninfo[512];
static char pg_spool[128];

static const char *pg_script(void)
{
    const char *p = getenv("PARLOR_PG_SH");
    return p && *p ? p : "scripts/pg.sh";
}

/* Runs in the runner process, once per test case. */
static void pg_start(void)
{
    pg_conninfo[0] = '\0';
    strcpy(pg_dir, "/tmp/parlor-it-pg-XXXXXX");
    if (!mkdtemp(pg_dir)) {
        fprintf(stderr, "test_account: mkdtemp: %s\n", strerror(errno));
        pg_dir[0] = '\0';
        return;
    }
    snprintf(pg_spool, sizeof pg_spool, "%s/spool", pg_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s start %s 2>%s/pg-start.log", pg_script(), pg_dir, pg_dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (!fgets(pg_conninfo, sizeof pg_conninfo, p))
        pg_conninfo[0] = '\0';
    int status = pclose(p);
    pg_conninfo[strcspn(pg_conninfo, "\n")] = '\0';
    if (status != 0) {
        fprintf(stderr, "test_account: %s failed (status %d); see %s/pg-start.log\n", cmd,
                status, pg_dir);
        pg_conninfo[0] = '\0';
    }
}

static void pg_stop(void)
{
    if (!pg_dir[0])
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s stop %s 2>/dev/null", pg_script(), pg_dir);
    if (system(cmd) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_account: could not remove %s\n", pg_dir);
    } else {
        fprintf(stderr, "test_account: stopping PostgreSQL in %s failed; left in place\n", pg_dir);
    }
    pg_dir[0] = '\0';
}

static int log_count(const struct it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return 0;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

/* Start parlord on the suite's database and wait until every worker's
 * store is connected (queries fail while it is still connecting). */
static void server_start_db(struct it_server *s)
{
    ck_assert_msg(pg_conninfo[0], "PostgreSQL did not start (scripts/pg.sh; see stderr)");
    const char *extra[] = { "--database", pg_conninfo, "--spool-dir", pg_spool, NULL };
    it_server_start(s, extra);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    while (log_count(s, "store: connected to PostgreSQL") < s->nworkers) {
        if (it_now_ms() > deadline) {
            it_server_dump_log(s, 20);
            ck_abort_msg("the workers did not connect to PostgreSQL within %d ms", IT_TIMEOUT_MS);
        }
        it_sleep_ms(20);
    }
}

/* The first line psql prints for `sql` (a constant query of this file). */
static void db_value(const char *sql, char *out, size_t cap)
{
    const char *bin = getenv("PGBIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/psql -X -q -tA \"%s\" -c \"%s\"",
             bin && *bin ? bin : "/usr/lib/postgresql/15/bin", pg_conninfo, sql);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen psql: %s", strerror(errno));
    if (!fgets(out, (int)cap, p))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    ck_assert_msg(pclose(p) == 0, "psql failed: %s", cmd);
}

/* "AUTHENTICATE <base64 of authzid NUL authcid NUL password>" */
static void send_plain(struct it_client *c, const char *authzid, const char *authcid,
                       const char *password)
{
    unsigned char msg[300];
    size_t n = 0;
    n += (size_t)snprintf((char *)msg + n, sizeof msg - n, "%s", authzid) + 1;
    n += (size_t)snprintf((char *)msg + n, sizeof msg - n, "%s", authcid) + 1;
    n += (size_t)snprintf((char *)msg + n, sizeof msg - n, "%s", password);
    char b64[420];
    it_base64(msg, n, b64);
    it_send(c, "AUTHENTICATE %s", b64);
}

#define NICKSERV_NOTICE "^:NickServ!NickServ@services\\.parlor\\.local NOTICE "

/* Register `nick` as an account through NickServ and disconnect. */
static void register_account(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect_registered(s, nick);
    it_send(c, "PRIVMSG NickServ :REGISTER %s", PASSWORD);
    it_expect_re(c, NICKSERV_NOTICE "[^ ]+ :The nick [^ ]+ is now registered to you");
    it_expect_numeric(c, "900");
    it_send(c, "QUIT");
    it_expect_closed(c, NULL, IT_TIMEOUT_MS);
    it_client_free(c);
    /* The nick's owner worker hears of the QUIT a moment after we do: wait
     * until WHOIS says the nick is gone (the deadline only bounds a hang). */
    struct it_client *probe = it_connect_registered(s, "acctprobe");
    long deadline = it_now_ms() + 10000;
    for (;;) {
        it_send(probe, "WHOIS %s", nick);
        const char *l = it_wait_re(probe, " (401|318) ", IT_TIMEOUT_MS);
        if (!l)
            it_fail(probe, "no answer to WHOIS %s", nick);
        if (strstr(l, " 401 "))
            break;
        if (it_now_ms() > deadline)
            it_fail(probe, "%s is still online 10 s after its QUIT", nick);
        it_sleep_ms(10);
    }
    it_client_free(probe);
}

/* Connect, negotiate sasl with CAP LS 302, send NICK/USER and AUTHENTICATE
 * PLAIN; returns once the server asked for the credentials. */
static struct it_client *sasl_begin(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect(s);
    it_send(c, "CAP LS 302");
    it_expect_re(c, " CAP \\* LS :(.* )?sasl=PLAIN( |$)");
    it_send(c, "NICK %s", nick);
    it_send(c, "USER u 0 * :u");
    it_send(c, "CAP REQ :sasl");
    it_expect_re(c, " CAP [^ ]+ ACK :sasl$");
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect_re(c, "^AUTHENTICATE \\+$");
    return c;
}

START_TEST(test_nickserv_register_then_sasl_plain_login)
{
    struct it_server s;
    server_start_db(&s);
    struct it_client *a = it_connect_registered(&s, "acctann");
    it_send(a, "PRIVMSG NickServ :REGISTER short");
    it_expect_re(a, NICKSERV_NOTICE "acctann :The password must be 8 ");
    it_send(a, "PRIVMSG NickServ :REGISTER %s", PASSWORD);
    it_expect_re(a, NICKSERV_NOTICE "acctann :The nick acctann is now registered to you");
    it_expect_re(a, " 900 acctann acctann![^ ]+ acctann :You are now logged in as acctann$");
    it_send(a, "PRIVMSG NickServ :REGISTER %s", PASSWORD);
    it_expect_re(a, NICKSERV_NOTICE "acctann :You are already logged in as acctann");

    /* The row: an argon2id hash, never the password. */
    char hash[512];
    db_value("SELECT password_hash FROM accounts WHERE name_folded = 'acctann'", hash, sizeof hash);
    ck_assert_msg(strncmp(hash, "$argon2id$", 10) == 0, "hash is not argon2id: %s", hash);
    ck_assert_msg(strstr(hash, PASSWORD) == NULL, "the password is in the row");
    char found[64];
    db_value("SELECT count(*) FROM accounts WHERE password_hash LIKE '%" PASSWORD "%'",
             found, sizeof found);
    ck_assert_str_eq(found, "0");
    ck_assert_msg(!it_server_log_contains(&s, PASSWORD), "the password is in the server log");

    /* Another connection logs in with SASL PLAIN (account name in any case);
     * registration waits for CAP END, which comes after the answer. */
    struct it_client *b = sasl_begin(&s, "annphone");
    send_plain(b, "", "AcctAnn", PASSWORD);
    it_send(b, "CAP END");
    it_expect_re(b, " 900 annphone annphone![^ ]+ acctann :You are now logged in as acctann$");
    it_expect_numeric(b, "903");
    it_expect_numeric(b, "001");
    it_expect_re(b, " (376|422) annphone ");
    it_send(b, "AUTHENTICATE PLAIN");
    it_expect_numeric(b, "907");

    /* authzid equal to authcid is accepted too. */
    struct it_client *c = sasl_begin(&s, "anntablet");
    send_plain(c, "acctann", "acctann", PASSWORD);
    it_expect_numeric(c, "900");
    it_expect_numeric(c, "903");
    it_send(c, "CAP END");
    it_expect_numeric(c, "001");

    /* CAP LS without 302: the capability without its value. */
    struct it_client *d = it_connect(&s);
    it_send(d, "CAP LS");
    it_expect_re(d, " CAP \\* LS :(.* )?sasl( |$)");
    it_client_free(d);

    it_client_free(c);
    it_client_free(b);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_wrong_password_is_answered_late_logged_and_limited)
{
    struct it_server s;
    server_start_db(&s);
    register_account(&s, "acctbob");

    struct it_client *c = sasl_begin(&s, "bobguess");
    /* Another identity than the account: refused at once. */
    send_plain(c, "someoneelse", "acctbob", PASSWORD);
    it_expect_numeric(c, "904");
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect_re(c, "^AUTHENTICATE \\+$");
    long t0 = it_now_ms();
    send_plain(c, "", "acctbob", "not-the-password");
    it_send(c, "CAP END");
    it_expect_numeric(c, "904");
    long waited = it_now_ms() - t0;
    ck_assert_msg(waited >= 1300, "904 came after %ld ms, expected about 1500", waited);
    it_expect_numeric(c, "001");
    ck_assert(it_server_log_contains(&s, "failed login to \"acctbob\" by bobguess from 127.0.0.1:"));
    ck_assert(!it_server_log_contains(&s, "not-the-password"));

    /* Aborts, unknown mechanisms, oversized chunks. */
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect_re(c, "^AUTHENTICATE \\+$");
    it_send(c, "AUTHENTICATE *");
    it_expect_numeric(c, "906");
    it_send(c, "AUTHENTICATE SCRAM-SHA-256");
    it_expect_re(c, " 908 bobguess PLAIN :are available SASL mechanisms$");
    it_expect_numeric(c, "904");
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect_re(c, "^AUTHENTICATE \\+$");
    char big[402];
    memset(big, 'A', 401);
    big[401] = '\0';
    it_send(c, "AUTHENTICATE %s", big);
    it_expect_numeric(c, "905");

    /* Four more wrong passwords (NickServ counts too): the fifth closes. */
    for (int i = 2; i <= 4; i++) {
        it_send(c, "PRIVMSG NickServ :IDENTIFY acctbob wrong-guess-%d", i);
        const char *l = it_wait(c, "Invalid account or password", 4000);
        if (!l)
            it_fail(c, "no answer to wrong IDENTIFY %d", i);
    }
    it_send(c, "PRIVMSG NickServ :IDENTIFY acctbob wrong-guess-5");
    ck_assert_int_gt(it_expect_closed(c, "Too many failed login attempts", 5000), 0);
    it_client_free(c);

    /* The right password still works on a new connection. */
    struct it_client *d = sasl_begin(&s, "bobagain");
    send_plain(d, "", "acctbob", PASSWORD);
    it_expect_numeric(d, "900");
    it_client_free(d);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_registered_nick_is_renamed_unless_identified)
{
    struct it_server s;
    server_start_db(&s);
    register_account(&s, "acctcat");
    register_account(&s, "acctdan");

    /* cat identifies in time and keeps the nick. */
    struct it_client *cat = it_connect_registered(&s, "acctcat");
    it_expect_re(cat, NICKSERV_NOTICE "acctcat :The nick acctcat is registered\\. If it is yours, "
                 "identify within 30 seconds");
    it_send(cat, "PRIVMSG NickServ :IDENTIFY %s", PASSWORD);
    it_expect_re(cat, NICKSERV_NOTICE "acctcat :You are now identified as acctcat\\.$");
    it_expect_numeric(cat, "900");

    /* dan does not: renamed to Guest<digits> after 30 seconds. */
    struct it_client *dan = it_connect_registered(&s, "acctdan");
    it_expect_re(dan, NICKSERV_NOTICE "acctdan :The nick acctdan is registered");
    if (!it_wait_re(dan, NICKSERV_NOTICE "acctdan :You did not identify for acctdan in time", 35000))
        it_fail(dan, "not told about the rename within 35 s");
    it_expect_re(dan, "^:acctdan![^ ]+ NICK :Guest[0-9]{5}$");
    it_expect_alive(dan);
    ck_assert(it_server_log_contains(&s, "account: renaming acctdan"));

    /* Taking the nick back does not restart the 30 seconds. */
    it_send(dan, "NICK AcctDan");
    it_expect_re(dan, "^:Guest[0-9]{5}![^ ]+ NICK :AcctDan$");
    it_expect_re(dan, NICKSERV_NOTICE "AcctDan :The nick AcctDan is registered and its time");
    it_expect_re(dan, "^:AcctDan![^ ]+ NICK :Guest[0-9]{5}$");

    ck_assert_int_eq(it_count_for(cat, " NICK :", 300), 0);
    it_send(cat, "WHOIS acctcat");
    it_expect_re(cat, " 311 acctcat acctcat ");

    it_client_free(dan);
    it_client_free(cat);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_service_nicks_are_reserved_and_nickserv_is_a_pseudo_user)
{
    struct it_server s;
    server_start_db(&s);
    struct it_client *c = it_connect(&s);
    it_send(c, "NICK NickServ");
    it_expect_numeric(c, "432");
    it_send(c, "NICK histserv");
    it_expect_numeric(c, "432");
    it_send(c, "NICK GAMESERV");
    it_expect_numeric(c, "432");
    it_register(c, "eve");
    it_send(c, "NICK nickserv");
    it_expect_numeric(c, "432");

    it_send(c, "WHOIS NickServ");
    it_expect_re(c, " 311 eve NickServ NickServ services\\.parlor\\.local \\* :");
    it_expect_numeric(c, "312");
    it_expect_numeric(c, "318");
    it_send(c, "PRIVMSG NickServ :HELP");
    it_expect_re(c, NICKSERV_NOTICE "eve :.*REGISTER <password>");
    it_send(c, "PRIVMSG nickserv :frobnicate");
    it_expect_re(c, NICKSERV_NOTICE "eve :Unknown command frobnicate");
    it_send(c, "PRIVMSG NickServ :IDENTIFY");
    it_expect_re(c, NICKSERV_NOTICE "eve :Syntax: IDENTIFY \\[account\\] <password>");
    /* Nothing sent to NickServ is stored as a message. */
    it_expect_alive(c);
    char n[64];
    db_value("SELECT count(*) FROM messages WHERE lower(target) = 'nickserv'", n, sizeof n);
    ck_assert_str_eq(n, "0");

    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_without_database_sasl_fails_with_a_notice)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = sasl_begin(&s, "nodb");
    send_plain(c, "", "nodb", PASSWORD);
    it_expect_re(c, " NOTICE [^ ]+ :\\*\\*\\* Accounts are unavailable right now");
    it_expect_numeric(c, "904");
    it_send(c, "CAP END");
    it_expect_numeric(c, "001");
    it_send(c, "PRIVMSG NickServ :REGISTER %s", PASSWORD);
    it_expect_re(c, NICKSERV_NOTICE "nodb :Accounts are unavailable right now");
    it_expect_alive(c);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_database_down_fails_sasl_and_skips_nick_protection)
{
    struct it_server s;
    server_start_db(&s);
    register_account(&s, "acctfay");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s stop %s 2>/dev/null", pg_script(), pg_dir);
    ck_assert_msg(system(cmd) == 0, "could not stop PostgreSQL");

    struct it_client *c = sasl_begin(&s, "faytwo");
    send_plain(c, "", "acctfay", PASSWORD);
    it_expect_re(c, " NOTICE [^ ]+ :\\*\\*\\* Accounts are unavailable right now");
    it_expect_numeric(c, "904");
    it_client_free(c);

    /* The registered nick cannot be checked: it is let through, and logged. */
    struct it_client *d = it_connect_registered(&s, "acctfay");
    it_expect_alive(d);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    while (!it_server_log_contains(&s, "cannot check whether nick acctfay is registered")) {
        if (it_now_ms() > deadline)
            it_fail(d, "no log line about the skipped nick check");
        it_sleep_ms(50);
    }
    it_client_free(d);

    snprintf(cmd, sizeof cmd, "%s start %s >/dev/null 2>&1", pg_script(), pg_dir);
    ck_assert_msg(system(cmd) == 0, "could not restart PostgreSQL");
    it_server_stop(&s);
}
END_TEST

Suite *account_suite(void)
{
    Suite *s = suite_create("account");
    TCase *tc = tcase_create("account");
    tcase_set_timeout(tc, 90);
    tcase_add_unchecked_fixture(tc, pg_start, pg_stop);
    tcase_add_test(tc, test_nickserv_register_then_sasl_plain_login);
    tcase_add_test(tc, test_wrong_password_is_answered_late_logged_and_limited);
    tcase_add_test(tc, test_registered_nick_is_renamed_unless_identified);
    tcase_add_test(tc, test_service_nicks_are_reserved_and_nickserv_is_a_pseudo_user);
    tcase_add_test(tc, test_database_down_fails_sasl_and_skips_nick_protection);  /* last */
    suite_add_tcase(s, tc);

    TCase *nodb = tcase_create("no database");
    tcase_set_timeout(nodb, 30);
    tcase_add_test(nodb, test_without_database_sasl_fails_with_a_notice);
    suite_add_tcase(s, nodb);
    return s;
}
