/* Several parlord nodes over NATS (issue 13; worker/cluster.c): a real
 * nats-server on a free loopback port (started and stopped by PID), two
 * nodes of two workers each, one PostgreSQL. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/cluster_net.h"
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

/* The bodies of the PRIVMSGs to `room` seen by `c`, in arrival order, until
 * `count` arrived. */
static void collect(struct it_client *c, const char *room, int count, char (*out)[32])
{
    char needle[64];
    snprintf(needle, sizeof needle, " PRIVMSG %s :", room);
    long deadline = it_now_ms() + 15000;
    for (int got = 0; got < count;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "%s: %d of %d messages", c->nick, got, count);
        const char *p = strstr(l, needle);
        if (p)
            snprintf(out[got++], 32, "%s", p + strlen(needle));
    }
}

/* Senders on both nodes at once; a listener on each node sees every
 * message once, both in one order (the owner's), and each message is stored
 * once. */
START_TEST(test_two_nodes_chat_in_one_room_in_one_order)
{
    struct cluster_net n;
    cluster_net_start(&n);
    struct it_client *alice = cluster_user(&n.a, "alice");
    struct it_client *bob = cluster_user(&n.b, "bob");
    struct it_client *carol = cluster_user(&n.a, "carol");
    struct it_client *dave = cluster_user(&n.b, "dave");
    it_join(carol, "#plaza", NULL);
    it_join(dave, "#plaza", NULL);
    it_join(alice, "#plaza", NULL);
    it_join(bob, "#plaza", NULL);
    it_expect(carol, ":bob!");                 /* the last JOIN, across nodes */
    it_expect(dave, ":bob!");
    enum { N = 30 };
    for (int i = 0; i < N; i++) {
        it_send(alice, "PRIVMSG #plaza :a%d", i);
        it_send(bob, "PRIVMSG #plaza :b%d", i);
    }
    static char seen_c[2 * N][32], seen_d[2 * N][32], echoes[N][32];
    collect(carol, "#plaza", 2 * N, seen_c);
    collect(dave, "#plaza", 2 * N, seen_d);
    collect(alice, "#plaza", N, echoes);       /* the sender gets them too (echoes, bob's) */
    int from_a = 0, from_b = 0;
    for (int i = 0; i < 2 * N; i++) {
        ck_assert_msg(strcmp(seen_c[i], seen_d[i]) == 0, "message %d: carol (alpha) saw %s, dave (beta) saw %s",
                      i, seen_c[i], seen_d[i]);
        from_a += seen_c[i][0] == 'a';
        from_b += seen_c[i][0] == 'b';
    }
    ck_assert_int_eq(from_a, N);
    ck_assert_int_eq(from_b, N);
    /* Each sender's messages in the order sent. */
    for (int i = 0, na = 0, nb = 0; i < 2 * N; i++) {
        int k = atoi(seen_c[i] + 1);
        ck_assert_int_eq(k, seen_c[i][0] == 'a' ? na++ : nb++);
    }
    /* Stored once each, in the PostgreSQL the nodes share. */
    const char *v[1] = { "#plaza" };
    long deadline = it_now_ms() + 10000;
    while (it_pg_long(&it_suite_pg, "SELECT count(*) FROM messages WHERE conversation = $1", 1, v) < 2 * N &&
           it_now_ms() < deadline)
        it_sleep_ms(50);
    ck_assert_int_eq(it_pg_long(&it_suite_pg, "SELECT count(*) FROM messages WHERE conversation = $1", 1, v),
                     2 * N);
    ck_assert_int_eq(it_pg_long(&it_suite_pg, "SELECT count(DISTINCT msgid) FROM messages WHERE conversation = $1",
                                1, v), 2 * N);
    it_client_free(alice);
    it_client_free(bob);
    it_client_free(carol);
    it_client_free(dave);
    cluster_net_stop(&n);
}
END_TEST

/* Several nicks, so that some are owned on each node. */
START_TEST(test_nick_taken_on_one_node_is_refused_on_the_other)
{
    struct cluster_net n;
    cluster_net_start(&n);
    enum { K = 6 };
    struct it_client *holders[K];
    for (int i = 0; i < K; i++) {
        char nick[32];
        snprintf(nick, sizeof nick, "taken%d", i);
        holders[i] = cluster_user(i % 2 ? &n.b : &n.a, nick);
    }
    for (int i = 0; i < K; i++) {
        char nick[32];
        snprintf(nick, sizeof nick, "TAKEN%d", i);   /* case-folded: the same nick */
        struct it_client *c = it_connect(i % 2 ? &n.a : &n.b);
        it_send(c, "NICK %s", nick);
        it_send(c, "USER u 0 * :u");
        it_expect_numeric(c, "433");
        it_client_free(c);
    }
    /* A nick let go on one node can be taken on the other. */
    it_send(holders[0], "NICK freed0");
    it_expect(holders[0], "NICK");
    struct it_client *c = cluster_user(&n.b, "taken0");
    it_expect_alive(c);
    it_client_free(c);
    for (int i = 0; i < K; i++)
        it_client_free(holders[i]);
    cluster_net_stop(&n);
}
END_TEST

START_TEST(test_private_messages_cross_nodes)
{
    struct cluster_net n;
    cluster_net_start(&n);
    struct it_client *alice = cluster_user(&n.a, "alice");
    struct it_client *bob = cluster_user(&n.b, "bob");
    it_send(alice, "PRIVMSG bob :hello bob, from alpha");
    it_expect(bob, ":alice!~alice@127.0.0.1 PRIVMSG bob :hello bob, from alpha");
    it_send(bob, "PRIVMSG alice :hello alice, from beta");
    it_expect(alice, ":bob!~bob@127.0.0.1 PRIVMSG alice :hello alice, from beta");
    it_send(alice, "PRIVMSG nobody :anyone?");
    it_expect_numeric(alice, "401");
    it_client_free(alice);
    it_client_free(bob);
    cluster_net_stop(&n);
}
END_TEST

START_TEST(test_show_nodes_lists_both_nodes)
{
    struct cluster_net n;
    cluster_net_start(&n);
    char ctl[512], out[4096];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", n.a.control_path, "show", "nodes", NULL };
    ck_assert_int_eq(it_run(ctl, args, out, sizeof out, 5000), 0);
    ck_assert_msg(strstr(out, "alpha") && strstr(out, "self") && strstr(out, "connected"), "%s", out);
    ck_assert_msg(strstr(out, "beta") && strstr(out, "live"), "%s", out);
    cluster_net_stop(&n);
}
END_TEST

/* kill -9 of a whole node: rooms it owned move to the survivor, whose
 * members go on chatting in them; its users leave the rooms (QUIT). */
START_TEST(test_rooms_of_a_killed_node_move_to_the_survivor)
{
    struct cluster_net n;
    cluster_net_start(&n);
    struct it_client *alice = cluster_user(&n.a, "alice");
    struct it_client *carol = cluster_user(&n.a, "carol");
    struct it_client *dave = cluster_user(&n.b, "dave");
    enum { R = 6 };
    for (int i = 0; i < R; i++) {
        char room[32];
        snprintf(room, sizeof room, "#moves%d", i);
        it_join(alice, room, NULL);
        it_join(carol, room, NULL);
        it_join(dave, room, NULL);
    }
    /* A room node beta owns (its worker 0's or 1's). */
    char ctl[512], out[8192], room[32] = "";
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", n.b.control_path, "show", "channels", NULL };
    ck_assert_int_eq(it_run(ctl, args, out, sizeof out, 5000), 0);
    for (int i = 0; i < R && !room[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "#moves%d ", i);
        if (strstr(out, name))
            snprintf(room, sizeof room, "#moves%d", i);
    }
    ck_assert_msg(room[0], "node beta owns none of the rooms:\n%s", out);
    it_server_kill9(&n.b);
    it_expect(alice, " QUIT ");                /* dave, within a few seconds */
    it_send(alice, "PRIVMSG %s :still here", room);
    it_wait(alice, "still here", 10000);       /* the echo: the new owner took it */
    it_expect(carol, ":alice!~alice@127.0.0.1 PRIVMSG #moves");
    it_send(alice, "NAMES %s", room);
    const char *l = it_expect(alice, " 353 ");
    ck_assert_msg(strstr(l, "carol") && !strstr(l, "dave"), "%s", l);
    it_client_free(alice);
    it_client_free(carol);
    it_client_free(dave);
    it_server_stop(&n.a);
    kill(n.nats, SIGTERM);
    int st;
    ck_assert_int_eq(it_proc_wait(n.nats, 5000, &st), 0);
}
END_TEST

Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("two nodes over NATS");
    tcase_add_unchecked_fixture(tc, it_suite_pg_up, it_suite_pg_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_two_nodes_chat_in_one_room_in_one_order);
    tcase_add_test(tc, test_nick_taken_on_one_node_is_refused_on_the_other);
    tcase_add_test(tc, test_private_messages_cross_nodes);
    tcase_add_test(tc, test_show_nodes_lists_both_nodes);
    tcase_add_test(tc, test_rooms_of_a_killed_node_move_to_the_survivor);
    suite_add_tcase(s, tc);
    return s;
}
