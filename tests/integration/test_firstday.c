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
    suite_add_tcase(s, tc);
    TCase *plain = tcase_create("without PostgreSQL");
    tcase_set_timeout(plain, 60);
    tcase_add_test(plain, test_internals_hidden_unless_show_internals);
    tcase_add_test(plain, test_internals_shown_with_show_internals);
    suite_add_tcase(s, plain);
    return s;
}
