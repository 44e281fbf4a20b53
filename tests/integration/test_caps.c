/* IRCv3 user-state capabilities (worker/userstate.c, worker/monitor.c):
 * account-notify, account-tag, away-notify, extended-join, invite-notify,
 * setname, MONITOR with extended-monitor, bot mode, no-implicit-names.
 *
 * Every test runs two workers and puts the user whose state changes and the
 * client that must hear of it on different workers, with rooms (and nicks)
 * owned by a chosen worker (it_name_owned_by), so each notification crosses
 * the mesh.  The account test needs PostgreSQL (NickServ REGISTER logs in):
 * a throwaway cluster is started once for the suite. */
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "caps suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

/* Register on `worker` with the given caps ("" none). */
static struct it_client *user(const struct it_server *s, int worker, const char *nick, const char *caps)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    if (caps[0]) {
        it_send(c, "CAP REQ :%s", caps);
        it_expect(c, " ACK ");
        it_send(c, "CAP END");
    }
    it_register(c, nick);
    return c;
}

/* Lines up to the PONG of a fresh PING: none may contain `needle`. */
static void expect_none_before_pong(struct it_client *c, const char *needle)
{
    static int token;
    char tok[32];
    snprintf(tok, sizeof tok, "sync%d", ++token);
    it_send(c, "PING %s", tok);
    for (;;) {
        const char *l = it_next_line(c, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no PONG %s", tok);
        if (strstr(l, needle))
            it_fail(c, "unexpected \"%s\" in: %s", needle, l);
        if (strstr(l, " PONG ") && strstr(l, tok))
            return;
    }
}

START_TEST(test_cap_ls_and_isupport_advertise_the_capabilities)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect(&s);
    it_send(c, "CAP LS 302");
    const char *l = it_expect(c, " CAP * LS ");
    static const char *const want[] = {
        "account-notify", "account-tag", "away-notify", "chghost", "extended-join",
        "invite-notify", "setname", "extended-monitor", "draft/no-implicit-names",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *list = strstr(l, " LS :") + 5, *p = list;
        size_t wl = strlen(want[i]);
        while ((p = strstr(p, want[i])) && ((p > list && p[-1] != ' ') || (p[wl] && p[wl] != ' ')))
            p += wl;
        ck_assert_msg(p != NULL, "%s missing from %s", want[i], l);
    }
    it_send(c, "CAP REQ :account-notify away-notify extended-join setname extended-monitor");
    it_expect(c, " CAP * ACK :account-notify away-notify extended-join setname extended-monitor");
    it_send(c, "CAP END");
    it_send(c, "NICK isup");
    it_send(c, "USER isup 0 * :x");
    it_expect_re(c, " 005 isup .*BOT=B .*MONITOR=100 NAMELEN=127 ");
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* away-notify and extended-join: the user is on worker 0, the room's owner
 * and the member that must hear of it on worker 1. */
START_TEST(test_away_notify_and_extended_join_reach_members_on_another_worker)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#away", 1, 2, room, sizeof room);
    struct it_client *w = user(&s, 1, "watcher", "away-notify extended-join");
    struct it_client *plain = user(&s, 1, "plain", "");
    struct it_client *u = user(&s, 0, "awayer", "");
    it_join(w, room, NULL);
    it_join(plain, room, NULL);

    it_send(u, "AWAY :gone fishing");
    it_expect(u, " 306 awayer ");
    it_join(u, room, NULL);
    /* extended-join, then the joiner's away state. */
    char re[160];
    snprintf(re, sizeof re, "^:awayer![^ ]+ JOIN %s \\* :Parlor test awayer$", room);
    it_expect_re(w, re);
    it_expect_re(w, "^:awayer![^ ]+ AWAY :gone fishing$");
    snprintf(re, sizeof re, "^:awayer![^ ]+ JOIN %s$", room);
    it_expect_re(plain, re);

    it_send(u, "AWAY");
    it_expect(u, " 305 awayer ");
    it_expect_re(w, "^:awayer![^ ]+ AWAY$");
    it_send(u, "AWAY :back soon");
    it_expect_re(w, "^:awayer![^ ]+ AWAY :back soon$");
    /* Once per change, even for a user in two shared rooms. */
    char room2[32];
    it_name_owned_by("#away2", 0, 2, room2, sizeof room2);
    it_join(w, room2, NULL);
    it_join(u, room2, NULL);
    it_expect(w, " JOIN ");
    it_expect_re(w, "^:awayer![^ ]+ AWAY :back soon$");   /* the joiner's state */
    it_send(u, "AWAY :twice?");
    it_expect_re(w, "^:awayer![^ ]+ AWAY :twice\\?$");
    expect_none_before_pong(w, "AWAY");
    /* Nothing for a client without the capability. */
    expect_none_before_pong(plain, "AWAY");
    it_client_free(u);
    it_client_free(plain);
    it_client_free(w);
    it_server_stop(&s);
}
END_TEST

/* AWAY sent right behind a JOIN to a room owned by the other worker: the
 * JOIN carries the state of before, the change reaches the room anyway. */
START_TEST(test_a_change_made_while_a_join_is_on_its_way_reaches_the_new_room)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#race", 1, 2, room, sizeof room);
    struct it_client *w = user(&s, 1, "racewatch", "away-notify setname");
    struct it_client *u = user(&s, 0, "racer", "");
    it_join(w, room, NULL);
    char burst[256];
    int n = snprintf(burst, sizeof burst, "JOIN %s\r\nAWAY :racing\r\nSETNAME :Fast One\r\n", room);
    ck_assert_int_eq(it_send_raw(u, burst, (size_t)n), 0);
    it_expect_re(w, "^:racer![^ ]+ JOIN ");
    it_expect_re(w, "^:racer![^ ]+ AWAY :racing$");
    it_expect_re(w, "^:racer![^ ]+ SETNAME :Fast One$");
    expect_none_before_pong(w, "racer");
    it_client_free(u);
    it_client_free(w);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_setname_reaches_the_user_and_members_on_another_worker)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#name", 0, 2, room, sizeof room);
    struct it_client *u = user(&s, 0, "renamer", "setname");
    struct it_client *w = user(&s, 1, "seer", "setname extended-join");
    struct it_client *plain = user(&s, 1, "blind", "");
    it_join(u, room, NULL);
    it_join(w, room, NULL);
    it_join(plain, room, NULL);

    it_send(u, "SETNAME :Bruce Wayne <bruce@example.com>");
    it_expect_re(u, "^:renamer![^ ]+ SETNAME :Bruce Wayne <bruce@example.com>$");
    it_expect_re(w, "^:renamer![^ ]+ SETNAME :Bruce Wayne <bruce@example.com>$");
    expect_none_before_pong(plain, "SETNAME");

    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    it_send(u, "SETNAME :%s", longname);
    it_expect_re(u, "^:[^ ]+ FAIL SETNAME INVALID_REALNAME :");
    expect_none_before_pong(w, "SETNAME");

    /* The new realname is what WHOIS and a later extended JOIN show. */
    it_send(w, "WHOIS renamer");
    it_expect_re(w, " 311 seer renamer [^ ]+ [^ ]+ \\* :Bruce Wayne <bruce@example.com>$");
    char room2[32], re[160];
    it_name_owned_by("#name2", 1, 2, room2, sizeof room2);
    it_join(w, room2, NULL);
    it_join(u, room2, NULL);
    snprintf(re, sizeof re, "^:renamer![^ ]+ JOIN %s \\* :Bruce Wayne <bruce@example.com>$", room2);
    it_expect_re(w, re);
    it_client_free(u);
    it_client_free(w);
    it_client_free(plain);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_account_notify_account_tag_and_extended_join_with_an_account)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, NULL };
    it_server_start(&s, extra);
    it_server_expect_log(&s, "store: connected to PostgreSQL", s.nworkers, IT_TIMEOUT_MS);
    char room[32];
    it_name_owned_by("#acct", 1, 2, room, sizeof room);
    struct it_client *u = user(&s, 0, "logger", "account-notify account-tag echo-message");
    struct it_client *w = user(&s, 1, "tagseer", "account-notify account-tag extended-join");
    struct it_client *plain = user(&s, 1, "untagged", "");
    it_join(w, room, NULL);
    it_join(plain, room, NULL);
    it_join(u, room, NULL);
    it_expect(w, " JOIN ");

    it_send(u, "PRIVMSG NickServ :REGISTER Correct-Horse-9");
    it_expect_re(u, "^:logger![^ ]+ ACCOUNT logger$");        /* including themselves */
    it_expect_re(w, "^:logger![^ ]+ ACCOUNT logger$");
    it_send(u, "PRIVMSG %s :tagged", room);
    char re[160];
    snprintf(re, sizeof re, "^@account=logger :logger![^ ]+ PRIVMSG %s :tagged$", room);
    it_expect_re(w, re);
    it_expect_re(u, re);                                      /* its echo too */
    snprintf(re, sizeof re, "^:logger![^ ]+ PRIVMSG %s :tagged$", room);
    it_expect_re(plain, re);
    it_send(u, "PRIVMSG tagseer :private");
    it_expect_re(w, "^@account=logger :logger![^ ]+ PRIVMSG tagseer :private$");
    /* A JOIN carries the account for extended-join (and its tag). */
    it_send(u, "PART %s", room);
    it_expect(w, " PART ");
    it_join(u, room, NULL);
    snprintf(re, sizeof re, "^@account=logger :logger![^ ]+ JOIN %s logger :Parlor test logger$",
             room);
    it_expect_re(w, re);
    it_client_free(u);
    it_client_free(w);
    it_client_free(plain);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_invite_notify_tells_members_with_the_capability)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#inv", 1, 2, room, sizeof room);
    struct it_client *op = user(&s, 0, "inviter", "");
    struct it_client *w = user(&s, 1, "notified", "invite-notify");
    struct it_client *plain = user(&s, 0, "unnotified", "");
    struct it_client *t = user(&s, 1, "guest", "");
    it_join(op, room, NULL);
    it_join(w, room, NULL);
    it_join(plain, room, NULL);

    it_send(op, "INVITE guest %s", room);
    it_expect(op, " 341 inviter guest ");
    char re[160];
    snprintf(re, sizeof re, "^:inviter![^ ]+ INVITE guest %s$", room);
    it_expect_re(t, re);
    it_expect_re(w, re);
    expect_none_before_pong(plain, "INVITE");
    expect_none_before_pong(op, "INVITE");
    it_client_free(op);
    it_client_free(w);
    it_client_free(plain);
    it_client_free(t);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_monitor_online_offline_list_status_and_limit_across_workers)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char nick[32];
    it_name_owned_by("watched", 0, 2, nick, sizeof nick);   /* the nick's owner: worker 0 */
    struct it_client *w = user(&s, 1, "monitorer", "");

    it_send(w, "MONITOR + %s", nick);
    it_expect_numeric(w, "731");
    struct it_client *u = user(&s, 1, nick, "");              /* held on worker 1 */
    char re[160];
    snprintf(re, sizeof re, " 730 monitorer :%s$", nick);
    it_expect_re(w, re);
    it_send(w, "MONITOR L");
    snprintf(re, sizeof re, " 732 monitorer :%s$", nick);
    it_expect_re(w, re);
    it_expect_numeric(w, "733");
    it_send(w, "MONITOR S");
    snprintf(re, sizeof re, " 730 monitorer :%s$", nick);
    it_expect_re(w, re);

    it_send(u, "QUIT :bye");
    snprintf(re, sizeof re, " 731 monitorer :%s$", nick);
    it_expect_re(w, re);
    it_client_free(u);

    /* A nick change online and offline; then no more news after MONITOR -. */
    struct it_client *v = user(&s, 0, "other", "");
    it_send(v, "NICK %s", nick);
    snprintf(re, sizeof re, " 730 monitorer :%s$", nick);
    it_expect_re(w, re);
    it_send(v, "NICK other2");
    snprintf(re, sizeof re, " 731 monitorer :%s$", nick);
    it_expect_re(w, re);
    it_send(w, "MONITOR - %s", nick);
    /* Replies come in command order: its PONG follows the MONITOR - at the
     * nick's owner, which v's NICK below must not overtake. */
    expect_none_before_pong(w, " 730 ");
    it_send(v, "NICK %s", nick);
    it_expect(v, " NICK ");
    expect_none_before_pong(w, " 730 ");

    /* The list holds MONITOR=100 nicks; the rest is refused with 734. */
    char big[2000];
    size_t n = 0;
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%sm%d", i ? "," : "", i);
    it_send(w, "MONITOR + %s", big);
    it_expect_re(w, " 734 monitorer 100 m100 :Monitor list is full\\.$");
    it_send(w, "MONITOR C");
    it_send(w, "MONITOR L");
    for (const char *l; (l = it_expect_re(w, " 73[23] monitorer ")) && !strstr(l, " 733 ");)
        it_fail(w, "MONITOR L after MONITOR C listed: %s", l);
    it_client_free(v);
    it_client_free(w);
    it_server_stop(&s);
}
END_TEST

/* The owner of the monitored nicks is killed: its replacement learns the
 * watchers again, tells them the nick held on the dead worker is offline
 * (and nothing about the one held elsewhere), and goes on from there. */
START_TEST(test_monitor_survives_the_restart_of_the_nicks_owner)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char gone[32], stays[32];
    it_name_owned_by("gone", 0, 2, gone, sizeof gone);
    it_name_owned_by("stays", 0, 2, stays, sizeof stays);
    struct it_client *w = user(&s, 1, "survivor", "");
    struct it_client *a = user(&s, 0, gone, "");
    struct it_client *b = user(&s, 1, stays, "");
    it_send(w, "MONITOR + %s,%s", gone, stays);
    it_expect_numeric(w, "730");
    it_expect_numeric(w, "730");

    pid_t victim = a->worker_pid, now[2];
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    it_server_expect_workers_replaced(&s, &victim, 1, now, 2, 15000);
    char re[160];
    snprintf(re, sizeof re, " 73[01] survivor :(%s|%s)$", gone, stays);
    const char *l = it_wait_re(w, re, 15000);
    if (!l)
        it_fail(w, "no news of %s after its worker died", gone);
    if (!strstr(l, " 731 ") || !strstr(l, gone))
        it_fail(w, "first news after the restart: %s", l);

    /* The new owner knows the watcher: both directions are told. */
    it_send(b, "QUIT :bye");
    snprintf(re, sizeof re, " 73[01] survivor :%s$", stays);
    l = it_expect_re(w, re);
    ck_assert_msg(strstr(l, " 731 "), "expected 731 for %s: %s", stays, l);
    struct it_client *again = user(&s, 1, gone, "");
    snprintf(re, sizeof re, " 730 survivor :%s$", gone);
    it_expect_re(w, re);
    it_client_free(again);
    it_client_free(b);
    it_client_free(a);
    it_client_free(w);
    it_server_stop(&s);
}
END_TEST

/* extended-monitor: AWAY and SETNAME of a monitored nick that shares no
 * room, for clients with the capability (and the one for the kind). */
START_TEST(test_extended_monitor_tells_watchers_that_share_no_room)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char nick[32];
    it_name_owned_by("target", 1, 2, nick, sizeof nick);
    struct it_client *w = user(&s, 0, "extwatch", "extended-monitor away-notify setname");
    struct it_client *old = user(&s, 0, "oldwatch", "away-notify setname");
    struct it_client *u = user(&s, 1, nick, "");
    it_send(w, "MONITOR + %s", nick);
    it_expect_numeric(w, "730");
    it_send(old, "MONITOR + %s", nick);
    it_expect_numeric(old, "730");

    it_send(u, "AWAY :lunch");
    char re[160];
    snprintf(re, sizeof re, "^:%s![^ ]+ AWAY :lunch$", nick);
    it_expect_re(w, re);
    it_send(u, "SETNAME :Someone Else");
    snprintf(re, sizeof re, "^:%s![^ ]+ SETNAME :Someone Else$", nick);
    it_expect_re(w, re);
    expect_none_before_pong(old, "AWAY");
    expect_none_before_pong(old, "SETNAME");
    it_client_free(u);
    it_client_free(old);
    it_client_free(w);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_bot_mode_whois_and_bot_tag)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#bots", 0, 2, room, sizeof room);
    struct it_client *b = user(&s, 0, "robot", "");
    struct it_client *t = user(&s, 1, "tagged", "message-tags");
    struct it_client *plain = user(&s, 1, "human", "");
    it_send(b, "MODE robot +B");
    it_expect_re(b, " 221 robot \\+B$");
    it_send(t, "WHOIS robot");
    it_expect_re(t, " 335 tagged robot :");
    it_send(t, "WHO robot");
    it_expect_re(t, " 352 tagged \\* [^ ]+ [^ ]+ [^ ]+ robot HB :");
    it_join(t, room, NULL);
    it_join(plain, room, NULL);
    it_join(b, room, NULL);
    char re[160];
    snprintf(re, sizeof re, "^@([^ ]*;)?bot(;[^ ]*)? :robot![^ ]+ JOIN %s$", room);
    it_expect_re(t, re);
    it_send(plain, "WHO %s", room);
    snprintf(re, sizeof re, " 352 human %s [^ ]+ [^ ]+ [^ ]+ robot HB :", room);
    it_expect_re(plain, re);
    it_send(b, "PRIVMSG %s :beep", room);
    snprintf(re, sizeof re, "^@([^ ]*;)?bot(;[^ ]*)? :robot![^ ]+ PRIVMSG %s :beep$", room);
    it_expect_re(t, re);
    snprintf(re, sizeof re, "^:robot![^ ]+ PRIVMSG %s :beep$", room);
    it_expect_re(plain, re);
    it_send(b, "PRIVMSG tagged :boop");
    it_expect_re(t, "^@([^ ]*;)?bot(;[^ ]*)? :robot![^ ]+ PRIVMSG tagged :boop$");
    /* -B: no tag any more, no 335. */
    it_send(b, "MODE robot -B");
    it_expect_re(b, " 221 robot \\+$");
    it_send(b, "PRIVMSG %s :human now", room);
    it_expect(t, "human now");
    ck_assert_msg(!strstr(t->line, ";bot") && !strstr(t->line, "@bot"), "bot tag after -B: %s",
                  t->line);
    it_send(t, "WHOIS robot");
    it_expect_numeric(t, "311");
    expect_none_before_pong(t, " 335 ");
    it_client_free(b);
    it_client_free(t);
    it_client_free(plain);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_no_implicit_names_skips_names_after_join_only)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#quiet", 1, 2, room, sizeof room);
    struct it_client *c = user(&s, 0, "nonames", "draft/no-implicit-names");
    it_send(c, "JOIN %s", room);
    it_expect(c, " JOIN ");
    expect_none_before_pong(c, " 353 ");
    it_send(c, "NAMES %s", room);
    it_expect_numeric(c, "353");
    it_expect_numeric(c, "366");
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

Suite *caps_suite(void)
{
    Suite *s = suite_create("caps");
    TCase *tc = tcase_create("caps");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cap_ls_and_isupport_advertise_the_capabilities);
    tcase_add_test(tc, test_away_notify_and_extended_join_reach_members_on_another_worker);
    tcase_add_test(tc, test_a_change_made_while_a_join_is_on_its_way_reaches_the_new_room);
    tcase_add_test(tc, test_setname_reaches_the_user_and_members_on_another_worker);
    tcase_add_test(tc, test_invite_notify_tells_members_with_the_capability);
    tcase_add_test(tc, test_monitor_online_offline_list_status_and_limit_across_workers);
    tcase_add_test(tc, test_monitor_survives_the_restart_of_the_nicks_owner);
    tcase_add_test(tc, test_extended_monitor_tells_watchers_that_share_no_room);
    tcase_add_test(tc, test_bot_mode_whois_and_bot_tag);
    tcase_add_test(tc, test_no_implicit_names_skips_names_after_join_only);
    suite_add_tcase(s, tc);
    TCase *db = tcase_create("caps with accounts");
    tcase_set_timeout(db, 90);
    tcase_add_unchecked_fixture(db, pg_up, pg_down);
    tcase_add_test(db, test_account_notify_account_tag_and_extended_join_with_an_account);
    suite_add_tcase(s, db);
    return s;
}
