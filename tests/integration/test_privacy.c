/* Privacy against hostile clients (issue 9, items 4 and 13):
 *   - private history belongs to accounts, or to the connection of a client
 *     that is not logged in, never to whoever holds a nick now;
 *   - failed logins are counted across connections and workers, and too
 *     many lock the account (or the address) out for a while.
 * One PostgreSQL for the suite; one parlord (2 workers) per test; each test
 * uses its own nicks and accounts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

#define CAPS "batch echo-message message-tags server-time draft/chathistory"
#define PASSWORD "Privacy-Pass-42"
#define HISTSERV ":HistServ!HistServ@services.parlor.local NOTICE "

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "privacy suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

/* parlord on the suite's database with `extra` settings (NULL-terminated,
 * at most 12), once every worker's store is connected. */
static void start(struct it_server *s, const char *const *extra)
{
    const char *args[16] = { "--database", pg.conninfo, "--flood-lines", "0" };
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    it_server_start(s, args);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        int up = 0;
        FILE *f = fopen(s->log_path, "r");
        char line[2048];
        while (f && fgets(line, sizeof line, f))
            up += strstr(line, "store: connected to PostgreSQL") != NULL;
        if (f)
            fclose(f);
        if (up >= s->nworkers)
            return;
        ck_assert_msg(it_now_ms() < deadline, "the workers did not connect to PostgreSQL");
        it_sleep_ms(20);
    }
}

/* Connect with the history caps and register as `nick`; a nick whose last
 * holder has just left may still be taken for a moment: retry on 433. */
static struct it_client *user(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect(s);
    it_send(c, "CAP REQ :%s", CAPS);
    it_expect(c, " ACK ");
    it_send(c, "CAP END");
    it_send(c, "USER u 0 * :u");
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        it_send(c, "NICK %s", nick);
        const char *l = it_wait_re(c, " (001|433) ", IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no answer to NICK %s", nick);
        if (strstr(l, " 001 "))
            break;
        if (it_now_ms() > deadline)
            it_fail(c, "%s stayed taken", nick);
        it_sleep_ms(50);
    }
    it_expect_re(c, " (376|422) ");
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    return c;
}

static void nickserv(struct it_client *c, const char *cmd, const char *want)
{
    it_send(c, "PRIVMSG NickServ :%s", cmd);
    it_expect(c, want);
}

/* PRIVMSG; returns once the echo (the message is durable) came back, with
 * the day it was stored on (UTC, from its time tag) in day[11]. */
static void pm(struct it_client *c, const char *to, const char *text, char *day)
{
    it_send(c, "PRIVMSG %s :%s", to, text);
    char needle[512];
    snprintf(needle, sizeof needle, " PRIVMSG %s :%s", to, text);
    const char *l = it_wait(c, needle, 15000);
    if (!l)
        it_fail(c, "no echo of '%s'", text);
    const char *t = strstr(l, "time=");
    if (day)
        snprintf(day, 11, "%.10s", t ? t + 5 : "?");
}

/* The texts (or, for TARGETS, the names) of one CHATHISTORY batch, joined
 * by '|' into out. */
static void chathistory(struct it_client *c, const char *args, char *out, size_t cap)
{
    it_send(c, "CHATHISTORY %s", args);
    const char *l = it_expect_re(c, " BATCH \\+[^ ]+ ");
    char ref[64];
    sscanf(strstr(l, " BATCH +") + 8, "%63s", ref);
    char end[80];
    snprintf(end, sizeof end, " BATCH -%s", ref);
    out[0] = '\0';
    size_t n = 0;
    while ((l = it_next_line(c, IT_TIMEOUT_MS)) && !strstr(l, end)) {
        const char *p = strstr(l, " CHATHISTORY TARGETS ");
        char item[400];
        if (p)
            sscanf(p + 21, "%399s", item);
        else if ((p = strstr(l, " PRIVMSG ")) && (p = strstr(p, " :")))
            snprintf(item, sizeof item, "%s", p + 2);
        else
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "|" : "", item);
        if (n >= cap)
            it_fail(c, "CHATHISTORY %s: answer too long", args);
    }
    if (!l)
        it_fail(c, "CHATHISTORY %s: no end of batch", args);
}

static void expect_history(struct it_client *c, const char *args, const char *want)
{
    char got[2048];
    chathistory(c, args, got, sizeof got);
    if (strcmp(got, want) != 0)
        it_fail(c, "CHATHISTORY %s: got '%s', want '%s'", args, got, want);
}

/* A HistServ command; the texts of its notices up to the last one (which
 * starts with `last`), "[hh:mm:ss] " cut off, joined by '|'. */
static void histserv(struct it_client *c, const char *cmd, const char *last, const char *want)
{
    it_send(c, "PRIVMSG HistServ :%s", cmd);
    char got[2048] = "", prefix[128];
    size_t n = 0;
    snprintf(prefix, sizeof prefix, HISTSERV "%s :", c->nick);
    for (;;) {
        const char *l = it_wait(c, prefix, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "HistServ %s: no answer ending with '%s' (so far '%s')", cmd, last, got);
        const char *text = strstr(l, prefix) + strlen(prefix);
        if (text[0] == '[' && strchr(text, ']'))
            text = strchr(text, ']') + 2;
        n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", n ? "|" : "", text);
        if (strncmp(text, last, strlen(last)) == 0)
            break;
    }
    if (strcmp(got, want) != 0)
        it_fail(c, "HistServ %s: got '%s', want '%s'", cmd, got, want);
}

#define EVER "timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z"

/* HistServ SHOW <peer> <day>: `n` messages, "<nick> text|..." (n = 0: none). */
static void expect_day(struct it_client *c, const char *peer, const char *day, int n,
                       const char *lines)
{
    char cmd[128], want[1024];
    snprintf(cmd, sizeof cmd, "SHOW %s %s", peer, day);
    if (n == 0) {
        snprintf(want, sizeof want, "No messages in your conversation with %s on %s (UTC).",
                 peer, day);
        histserv(c, cmd, "No messages", want);
        return;
    }
    snprintf(want, sizeof want, "your conversation with %s on %s (UTC), page 1 of 1 "
             "(%d message%s):|%s|End of your conversation with %s on %s.", peer, day, n,
             n == 1 ? "" : "s", lines, peer, day);
    histserv(c, cmd, "End of", want);
}

static void quit(struct it_client *c)
{
    it_send(c, "QUIT");
    it_expect_closed(c, NULL, IT_TIMEOUT_MS);
    it_client_free(c);
}

/* ---- private history ------------------------------------------------------ */

/* `a` says `ab` to `b`, which answers `ba` and reads both back; then `b`
 * leaves.  The day of the messages goes to day[11]. */
static void exchange_then_leave(struct it_client *a, struct it_client *b, const char *ab,
                                const char *ba, char *day)
{
    char cmd[128], want[512];
    pm(a, b->nick, ab, day);
    pm(b, a->nick, ba, NULL);
    snprintf(cmd, sizeof cmd, "LATEST %s * 100", a->nick);
    snprintf(want, sizeof want, "%s|%s", ab, ba);
    expect_history(b, cmd, want);
    quit(b);
}

/* A new connection takes `nick` (maybe while the nick's owner worker still
 * releases it) and finds no history with `peer`, nor any conversation. */
static struct it_client *take_nick(const struct it_server *s, const char *nick, const char *peer)
{
    struct it_client *c = user(s, nick);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "LATEST %s * 100", peer);
    expect_history(c, cmd, "");
    expect_history(c, "TARGETS " EVER " 50", "");
    return c;
}

START_TEST(test_impostor_of_a_registered_nick_reads_nothing_and_its_account_reads_all)
{
    struct it_server s;
    start(&s, NULL);
    struct it_client *alice = user(&s, "pvalice");
    struct it_client *bob = user(&s, "pvbob");
    nickserv(bob, "REGISTER " PASSWORD, " 900 pvbob ");
    char day[11];
    exchange_then_leave(alice, bob, "hello bob, the code is 4711", "thanks alice", day);
    /* A new connection takes the nick (inside its 30 s to identify). */
    struct it_client *imp = take_nick(&s, "pvbob", "pvalice");
    expect_day(imp, "pvalice", day, 0, NULL);
    histserv(imp, "DAYS pvalice", "No messages",
             "No messages stored for your conversation with pvalice.");
    quit(imp);

    /* The account, on a new connection under another nick: everything,
     * plus what this connection said before it logged in. */
    struct it_client *phone = user(&s, "bobphone");
    pm(phone, "pvalice", "before login", NULL);
    nickserv(phone, "IDENTIFY pvbob " PASSWORD, " 900 bobphone ");
    expect_history(phone, "LATEST pvalice * 100",
                   "hello bob, the code is 4711|thanks alice|before login");
    expect_history(phone, "TARGETS " EVER " 50",
                   "pvalice");
    expect_day(phone, "pvalice", day, 3, "<pvalice> hello bob, the code is 4711|"
               "<pvbob> thanks alice|<bobphone> before login");
    /* Alice (not logged in, still on her connection) has her side. */
    expect_history(alice, "LATEST pvbob * 100", "hello bob, the code is 4711|thanks alice");
    expect_history(alice, "LATEST bobphone * 100", "before login");
    it_client_free(phone);
    it_client_free(alice);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_a_guest_reads_only_what_its_own_connection_exchanged)
{
    struct it_server s;
    start(&s, NULL);
    struct it_client *gal = user(&s, "pvgal");
    struct it_client *b1 = user(&s, "pvguy");
    char day[11];
    exchange_then_leave(gal, b1, "first from gal", "reply from the first connection", day);
    struct it_client *b2 = take_nick(&s, "pvguy", "pvgal");
    pm(b2, "pvgal", "second connection", NULL);
    expect_history(b2, "LATEST pvgal * 100", "second connection");
    expect_history(b2, "TARGETS " EVER " 50",
                   "pvgal");
    expect_day(b2, "pvgal", day, 1, "<pvguy> second connection");
    /* The other side, on one connection throughout, has all of it. */
    expect_history(gal, "LATEST pvguy * 100",
                   "first from gal|reply from the first connection|second connection");
    it_client_free(b2);
    it_client_free(gal);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_a_logged_in_client_keeps_its_history_across_nick_changes)
{
    struct it_server s;
    start(&s, NULL);
    struct it_client *carol = user(&s, "pvcarol");
    nickserv(carol, "REGISTER " PASSWORD, " 900 pvcarol ");
    struct it_client *dave = user(&s, "pvdave");
    char day[11];
    pm(carol, "pvdave", "c1", day);
    pm(dave, "pvcarol", "d1", NULL);
    it_send(carol, "NICK pvcarol2");
    it_expect(carol, " NICK :pvcarol2");
    snprintf(carol->nick, sizeof carol->nick, "pvcarol2");
    pm(carol, "pvdave", "c2", NULL);
    expect_history(carol, "LATEST pvdave * 100", "c1|d1|c2");
    expect_day(carol, "pvdave", day, 3, "<pvcarol> c1|<pvdave> d1|<pvcarol2> c2");
    /* The same account on another connection. */
    struct it_client *pad = user(&s, "carolpad");
    nickserv(pad, "IDENTIFY pvcarol " PASSWORD, " 900 carolpad ");
    expect_history(pad, "LATEST pvdave * 100", "c1|d1|c2");
    /* Dave sees the other side by the nick it had at the time. */
    expect_history(dave, "LATEST pvcarol * 100", "c1|d1");
    expect_history(dave, "LATEST pvcarol2 * 100", "c2");
    it_client_free(pad);
    it_client_free(dave);
    it_client_free(carol);
    it_server_stop(&s);
}
END_TEST

/* ---- failed logins across connections ------------------------------------- */

/* A connection that chose SASL PLAIN and waits for credentials (under a
 * nick of its own: these connections never finish registering). */
static struct it_client *sasl_ready(const struct it_server *s)
{
    static int serial;
    struct it_client *c = it_connect(s);
    it_send(c, "CAP REQ :sasl");
    it_expect(c, " ACK :sasl");
    it_send(c, "NICK guess%d", ++serial);
    it_send(c, "USER u 0 * :u");
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect(c, "AUTHENTICATE +");
    return c;
}

static void sasl_send(struct it_client *c, const char *account, const char *password)
{
    char plain[256], b64[400];
    int n = snprintf(plain, sizeof plain, "%c%s%c%s", 0, account, 0, password);
    it_base64(plain, (size_t)n, b64);
    it_send(c, "AUTHENTICATE %s", b64);
}

#define TOO_MANY ":Authentication failed: too many attempts, try again in "

/* `n` connections (spread over the workers) each try `accounts[i]` with a
 * wrong password at the same moment; returns how many were refused as too
 * many (the others must be plain failures). */
static int parallel_guesses(const struct it_server *s, int n, const char *const *accounts)
{
    struct it_client *c[16];
    ck_assert_int_le(n, 16);
    bool on[IT_MAX_WORKERS] = { false };
    for (int i = 0; i < n; i++) {
        c[i] = sasl_ready(s);
        on[c[i]->worker] = true;
    }
    for (int w = 0; w < s->nworkers; w++)
        ck_assert_msg(on[w], "no guessing connection on worker %d", w);
    for (int i = 0; i < n; i++)
        sasl_send(c[i], accounts[i], "wrong-password");
    int refused = 0;
    for (int i = 0; i < n; i++) {
        const char *l = it_expect_numeric(c[i], "904");
        if (strstr(l, TOO_MANY))
            refused++;
        else if (!strstr(l, ":SASL authentication failed"))
            it_fail(c[i], "unexpected 904: %s", l);
        it_client_free(c[i]);
    }
    return refused;
}

/* The right password is refused as too many at first (on SASL and on
 * NickServ IDENTIFY), then accepted once the backoff is over. */
static void refused_then_accepted(const struct it_server *s, const char *account, int backoff_s)
{
    struct it_client *c = sasl_ready(s);
    struct it_client *id = user(s, "identpw");
    sasl_send(c, account, PASSWORD);
    it_send(id, "PRIVMSG NickServ :IDENTIFY %s %s", account, PASSWORD);
    const char *l = it_expect_numeric(c, "904");
    if (!strstr(l, TOO_MANY))
        it_fail(c, "the right password was not refused: %s", l);
    it_client_free(c);
    it_expect(id, "NOTICE identpw :Too many failed logins for this account or from your "
              "address; try again in ");
    it_client_free(id);
    long deadline = it_now_ms() + (backoff_s + 10) * 1000L;
    int refusals = 1;
    for (;;) {
        c = sasl_ready(s);
        sasl_send(c, account, PASSWORD);
        l = it_expect_re(c, " (903|904) ");
        if (strstr(l, " 903 "))
            break;
        if (!strstr(l, TOO_MANY))
            it_fail(c, "the right password failed otherwise: %s", l);
        refusals++;
        it_client_free(c);
        ck_assert_msg(it_now_ms() < deadline, "still refused after %d s", backoff_s + 10);
    }
    it_client_free(c);
    ck_assert_int_ge(refusals, 1);
}

#define BACKOFF "6"

/* A server with the given failed-login limits (backoff BACKOFF seconds),
 * no failures remembered from earlier tests, and `account` registered. */
static void start_limited(struct it_server *s, const char *per_account, const char *per_ip,
                          const char *account)
{
    PQclear(it_pg_query(&pg, "DELETE FROM login_failures", 0, NULL));
    const char *extra[] = { "--login-failures-per-account", per_account, "--login-failures-per-ip",
                            per_ip, "--login-backoff", BACKOFF, "--login-failure-window", "60", NULL };
    start(s, extra);
    struct it_client *r = user(s, account);
    char cmd[64], want[64];
    snprintf(want, sizeof want, " 900 %s ", account);
    snprintf(cmd, sizeof cmd, "REGISTER %s", PASSWORD);
    nickserv(r, cmd, want);
    quit(r);
}

START_TEST(test_failed_logins_on_one_account_are_limited_across_connections_and_workers)
{
    struct it_server s;
    start_limited(&s, "3", "1000", "pvlock");
    const char *acct[8];
    for (int i = 0; i < 8; i++)
        acct[i] = "pvlock";
    /* Eight guesses at once, on both workers: exactly three are checked. */
    ck_assert_int_eq(parallel_guesses(&s, 8, acct), 5);
    ck_assert(it_server_log_contains(&s, "too many failed logins for account \"pvlock\": "
                                          "refusing its logins for " BACKOFF " s"));
    refused_then_accepted(&s, "pvlock", atoi(BACKOFF));
    ck_assert(it_server_log_contains(&s, "refused: too many failed logins for account \"pvlock\""));
    it_server_stop(&s);
}
END_TEST

START_TEST(test_failed_logins_from_one_address_are_limited_across_accounts)
{
    struct it_server s;
    start_limited(&s, "1000", "4", "pvaddr");
    const char *acct[6] = { "nosuch1", "nosuch2", "nosuch3", "nosuch4", "nosuch5", "nosuch6" };
    ck_assert_int_eq(parallel_guesses(&s, 6, acct), 2);
    ck_assert(it_server_log_contains(&s, "too many failed logins for address 127.0.0.1: "
                                          "refusing its logins for " BACKOFF " s"));
    refused_then_accepted(&s, "pvaddr", atoi(BACKOFF));
    it_server_stop(&s);
}
END_TEST

Suite *privacy_suite(void)
{
    Suite *s = suite_create("privacy");
    TCase *tc = tcase_create("privacy");
    tcase_set_timeout(tc, 90);
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_add_test(tc, test_impostor_of_a_registered_nick_reads_nothing_and_its_account_reads_all);
    tcase_add_test(tc, test_a_guest_reads_only_what_its_own_connection_exchanged);
    tcase_add_test(tc, test_a_logged_in_client_keeps_its_history_across_nick_changes);
    tcase_add_test(tc, test_failed_logins_on_one_account_are_limited_across_connections_and_workers);
    tcase_add_test(tc, test_failed_logins_from_one_address_are_limited_across_accounts);
    suite_add_tcase(s, tc);
    return s;
}
