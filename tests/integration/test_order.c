/* Replies in command order (issue 10, worker/order.c): whatever worker owns
 * the room or nick a command touches, and whether its message must first be
 * stored, a client's replies come in the order it sent the commands. */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

static struct it_pg pg;

static void pg_up(void)
{
    if (it_pg_start(&pg) < 0) {
        fprintf(stderr, "order suite: cannot start PostgreSQL\n");
        exit(1);
    }
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

static void start_with_db(struct it_server *s)
{
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(s, extra);
}

/* Register on worker `worker` with the capabilities that make replies come
 * from far away: echo-message (the echo waits for storage). */
static struct it_client *client_with_caps(const struct it_server *s, int worker, const char *nick,
                                          const char *caps)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_send(c, "CAP REQ :%s", caps);
    it_send(c, "CAP END");
    it_register(c, nick);
    return c;
}

/* Does `line` match the POSIX extended regex `re`? */
static bool matches(const char *line, const char *re)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&rx, line, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* The long pipelined burst of the issue: for each of N rooms (owned by the
 * other worker, then by ours, alternately) JOIN, PRIVMSG with echo, TOPIC,
 * NAMES and PING, all sent in one write.  Every reply is the expected next
 * one: the replies of command k all come before those of command k+1. */
START_TEST(test_pipelined_burst_is_answered_in_command_order)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *c = client_with_caps(&s, 0, "piper", "echo-message server-time message-tags");
    enum { N = 12 };
    char rooms[N][64];
    struct buf_line { char text[200]; } *expect = calloc(N * 9, sizeof *expect);
    ck_assert_ptr_nonnull(expect);
    int ne = 0;
    char burst[N * 200] = "";
    size_t bl = 0;
    for (int i = 0; i < N; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "#order%d-", i);
        it_name_owned_by(prefix, i % 2 == 0 ? 1 : 0, 2, rooms[i], sizeof rooms[i]);
        bl += (size_t)snprintf(burst + bl, sizeof burst - bl,
                               "JOIN %s\r\nPRIVMSG %s :message %d\r\nTOPIC %s :topic %d\r\n"
                               "NAMES %s\r\nPING tok%d\r\n",
                               rooms[i], rooms[i], i, rooms[i], i, rooms[i], i);
        /* Regexes of the replies, in order.  JOIN: the JOIN, the names;
         * PRIVMSG: the echo; TOPIC: the TOPIC line; NAMES: the names;
         * PING: the PONG. */
        const char *r = rooms[i];
        snprintf(expect[ne++].text, 200, " JOIN %.60s$", r);
        snprintf(expect[ne++].text, 200, " 353 piper . %.60s :", r);
        snprintf(expect[ne++].text, 200, " 366 piper %.60s ", r);
        snprintf(expect[ne++].text, 200, " PRIVMSG %.60s :message %d$", r, i);
        snprintf(expect[ne++].text, 200, " TOPIC %.60s :topic %d$", r, i);
        snprintf(expect[ne++].text, 200, " 353 piper . %.60s :", r);
        snprintf(expect[ne++].text, 200, " 366 piper %.60s ", r);
        snprintf(expect[ne++].text, 200, " PONG [^ ]+ :?tok%d$", i);
    }
    ck_assert_int_eq(it_send_raw(c, burst, bl), 0);
    for (int k = 0; k < ne; k++) {
        const char *line = it_next_line(c, 10000);
        if (!line)
            it_fail(c, "reply %d of %d (/%s/) never came", k, ne, expect[k].text);
        if (!matches(line, expect[k].text))
            it_fail(c, "reply %d: expected /%s/, got: %s", k, expect[k].text, line);
    }
    free(expect);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* JOIN with several rooms and keys, owned by different workers: each room
 * is answered completely before the next, in the order given, and the PING
 * after it comes last. */
START_TEST(test_join_of_several_rooms_answers_them_in_the_order_given)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *op = client_with_caps(&s, 1, "keeper", "multi-prefix");
    char a[64], b[64], c2[64];
    it_name_owned_by("#keyed-a", 1, 2, a, sizeof a);
    it_name_owned_by("#keyed-b", 0, 2, b, sizeof b);
    it_name_owned_by("#keyed-c", 1, 2, c2, sizeof c2);
    it_join(op, a, NULL);
    it_join(op, b, NULL);
    it_send(op, "MODE %s +k alpha", a);
    it_expect_re(op, " MODE [^ ]+ \\+k alpha$");
    it_send(op, "MODE %s +k beta", b);
    it_expect_re(op, " MODE [^ ]+ \\+k beta$");

    struct it_client *c = client_with_caps(&s, 0, "joiner", "multi-prefix");
    it_send(c, "JOIN %s,%s,%s alpha,beta\r\nPING after-join", a, b, c2);
    const char *order[] = { a, b, c2 };
    for (int i = 0; i < 3; i++) {
        char re[160];
        snprintf(re, sizeof re, "^:joiner![^ ]+ JOIN %s$", order[i]);
        const char *line = it_next_line(c, 10000);
        if (!line || !matches(line, re))
            it_fail(c, "expected the JOIN of %s, got: %s", order[i], line ? line : "(nothing)");
        snprintf(re, sizeof re, " 366 joiner %s ", order[i]);
        it_expect_re(c, re);          /* 353 lines in between */
    }
    it_expect_re(c, " PONG [^ ]+ :?after-join$");
    /* irssi's sync queries name several rooms: each is answered in turn. */
    it_send(c, "MODE %s,%s,%s\r\nWHO %s,%s %%tnf,7\r\nMODE %s,%s b", a, b, c2, a, b, a, b);
    const char *want[] = { " 324 joiner %s ", " 324 joiner %s ", " 324 joiner %s ", " 315 joiner %s ",
                           " 315 joiner %s ", " 368 joiner %s ", " 368 joiner %s " };
    const char *room[] = { a, b, c2, a, b, a, b };
    for (int i = 0; i < 7; i++) {
        char re[160];
        snprintf(re, sizeof re, want[i], room[i]);
        it_expect_re(c, re);
    }
    it_client_free(c);
    it_client_free(op);
    it_server_stop(&s);
}
END_TEST

/* A private message to a nick held by the other worker, with echo, then
 * PING: the echo (after the message is stored there) comes first. */
START_TEST(test_private_message_echo_comes_before_the_next_reply)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *bob = client_with_caps(&s, 1, "bobpm", "echo-message");
    struct it_client *c = client_with_caps(&s, 0, "alicepm", "echo-message");
    for (int i = 0; i < 20; i++)
        it_send(c, "PRIVMSG bobpm :hello %d\r\nPING p%d", i, i);
    for (int i = 0; i < 20; i++) {
        char re[96];
        snprintf(re, sizeof re, "^:alicepm![^ ]+ PRIVMSG bobpm :hello %d$", i);
        const char *line = it_next_line(c, 10000);
        if (!line || !matches(line, re))
            it_fail(c, "expected the echo of hello %d, got: %s", i, line ? line : "(nothing)");
        snprintf(re, sizeof re, " PONG [^ ]+ :?p%d$", i);
        line = it_next_line(c, 10000);
        if (!line || !matches(line, re))
            it_fail(c, "expected PONG p%d, got: %s", i, line ? line : "(nothing)");
    }
    ck_assert_int_eq(it_count_for(bob, "PRIVMSG bobpm :hello", 300) >= 1, 1);
    it_client_free(c);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

/* labeled-response: an unknown command's 421 carries the label, and a
 * labeled JOIN of two rooms on different workers is one batch holding
 * both rooms' replies, in order. */
START_TEST(test_labels_cover_unknown_commands_and_multi_room_joins)
{
    struct it_server s;
    start_with_db(&s);
    struct it_client *c = client_with_caps(&s, 0, "labeler2", "labeled-response batch");
    it_send(c, "@label=u1 FROBNICATE now");
    it_expect_re(c, "^@label=u1 :[^ ]+ 421 labeler2 FROBNICATE :");
    char a[64], b[64];
    it_name_owned_by("#lab-a", 1, 2, a, sizeof a);
    it_name_owned_by("#lab-b", 0, 2, b, sizeof b);
    it_send(c, "@label=j2 JOIN %s,%s", a, b);
    const char *line = it_expect_re(c, "^@label=j2 :[^ ]+ BATCH \\+([^ ]+) labeled-response$");
    char ref[32];
    ck_assert_int_eq(sscanf(strstr(line, "BATCH +") + 7, "%31s", ref), 1);
    char re[160];
    snprintf(re, sizeof re, "^@batch=%s :labeler2![^ ]+ JOIN %s$", ref, a);
    it_expect_re(c, re);
    snprintf(re, sizeof re, "^@batch=%s :[^ ]+ 366 labeler2 %s ", ref, a);
    it_expect_re(c, re);
    snprintf(re, sizeof re, "^@batch=%s :labeler2![^ ]+ JOIN %s$", ref, b);
    line = it_next_line(c, 5000);
    if (!line || !matches(line, re))
        it_fail(c, "expected the JOIN of %s next, got: %s", b, line ? line : "(nothing)");
    snprintf(re, sizeof re, "^@batch=%s :[^ ]+ 366 labeler2 %s ", ref, b);
    it_expect_re(c, re);
    snprintf(re, sizeof re, "^:[^ ]+ BATCH -%s$", ref);
    line = it_next_line(c, 5000);
    if (!line || !matches(line, re))
        it_fail(c, "expected the end of the batch, got: %s", line ? line : "(nothing)");
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* Others' traffic is not held back: while a client waits for a slow
 * command (a JOIN whose room is loaded from PostgreSQL), messages from
 * another member still reach it, and its own later replies keep their
 * order. */
START_TEST(test_other_peoples_messages_are_not_held_while_a_command_waits)
{
    struct it_server s;
    start_with_db(&s);
    char room[64];
    it_name_owned_by("#busy", 1, 2, room, sizeof room);
    struct it_client *talker = client_with_caps(&s, 1, "talker", "echo-message");
    struct it_client *c = client_with_caps(&s, 0, "waiter", "echo-message");
    it_join(talker, room, NULL);
    it_join(c, room, NULL);
    /* The talker floods while the waiter pipelines its own messages. */
    for (int i = 0; i < 30; i++)
        it_send(talker, "PRIVMSG %s :from talker %d", room, i);
    for (int i = 0; i < 30; i++)
        it_send(c, "PRIVMSG %s :mine %d\r\nPING w%d", room, i, i);
    int next_mine = 0, next_pong = 0, talker_seen = 0;
    while (next_pong < 30) {
        const char *line = it_next_line(c, 10000);
        if (!line)
            it_fail(c, "stopped after %d of my replies", next_pong);
        if (strstr(line, ":talker!")) {
            talker_seen++;
            continue;
        }
        char want[64];
        if (strstr(line, " PRIVMSG ")) {
            snprintf(want, sizeof want, ":mine %d", next_mine);
            if (!strstr(line, want) || next_mine != next_pong)
                it_fail(c, "echo out of order (mine %d, pong %d): %s", next_mine, next_pong, line);
            next_mine++;
        } else if (strstr(line, " PONG ")) {
            snprintf(want, sizeof want, "w%d", next_pong);
            if (!strstr(line, want) || next_mine != next_pong + 1)
                it_fail(c, "PONG out of order (mine %d, pong %d): %s", next_mine, next_pong, line);
            next_pong++;
        }
    }
    talker_seen += it_count_for(c, ":talker!", 500);
    ck_assert_int_eq(talker_seen, 30);
    it_client_free(c);
    it_client_free(talker);
    it_server_stop(&s);
}
END_TEST

Suite *order_suite(void)
{
    Suite *s = suite_create("order");
    TCase *tc = tcase_create("order");
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_pipelined_burst_is_answered_in_command_order);
    tcase_add_test(tc, test_join_of_several_rooms_answers_them_in_the_order_given);
    tcase_add_test(tc, test_private_message_echo_comes_before_the_next_reply);
    tcase_add_test(tc, test_labels_cover_unknown_commands_and_multi_room_joins);
    tcase_add_test(tc, test_other_peoples_messages_are_not_held_while_a_command_waits);
    suite_add_tcase(s, tc);
    return s;
}
