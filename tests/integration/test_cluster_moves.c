/* Ownership moves in a running cluster (issue 13; worker/handover.c,
 * outbox_reroute): a node joining while messages flow takes over its share
 * of rooms and nicks without losing or doubling a message; a node killed
 * under load loses no acknowledged message (every echo's message is in
 * PostgreSQL) and the requests that waited for it go to the new owners.
 *
 * The load comes from a child process (a sender with echo-message) so that
 * the join or the kill happens while its messages are on their way. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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



static const char *const no_flood[] = { "--flood-lines", "0", NULL };

enum { ROOMS = 10, MAX_MSGS = 600 };

struct load {
    pid_t pid;
    int fd;                        /* the child's report */
    int sent, echoed, fails;
    char acked[MAX_MSGS + 1];      /* '1': message i was echoed */
};

/* In the child: send `count` messages, one every `pace_ms`, round robin over
 * the rooms, reading echoes as they come; then wait for the rest.  Reports
 * "sent echoed fails bitmap" on `fd`.  No Check asserts here. */
static void sender_run(struct it_client *c, const char *prefix, int count, int pace_ms, int fd)
{
    char acked[MAX_MSGS + 1];
    memset(acked, '0', sizeof acked);
    acked[count] = '\0';
    int echoed = 0, fails = 0;
    char needle[64];
    snprintf(needle, sizeof needle, " PRIVMSG %s", prefix);
    long deadline = 0;
    for (int i = 0; echoed < count;) {
        long now = it_now_ms();
        if (i < count) {
            char line[128];
            int n = snprintf(line, sizeof line, "PRIVMSG %s%d :m%d\r\n", prefix, i % ROOMS, i);
            if (it_send_raw(c, line, (size_t)n) < 0)
                break;
            if (++i == count)
                deadline = it_now_ms() + 20000;
        } else if (now > deadline) {
            break;
        }
        long until = it_now_ms() + (i < count ? pace_ms : 200);
        while (it_now_ms() < until) {
            const char *l = it_next_line(c, (int)(until - it_now_ms()));
            if (!l) {
                if (c->eof)
                    goto out;
                continue;
            }
            const char *p = strstr(l, needle);
            if (p && strstr(l, " :m")) {
                int k = atoi(strstr(l, " :m") + 3);
                if (k >= 0 && k < count && acked[k] == '0') {
                    acked[k] = '1';
                    echoed++;
                }
            } else if (strstr(l, " FAIL ")) {
                fails++;
            }
        }
    }
out:;
    char report[MAX_MSGS + 64];
    int n = snprintf(report, sizeof report, "%d %d %d %s\n", count, echoed, fails, acked);
    if (write(fd, report, (size_t)n) != n)
        _exit(2);
    _exit(0);
}

/* Start the sender on `c` (registered, with echo-message, in the rooms). */
static void load_start(struct load *ld, struct it_client *c, const char *prefix, int count, int pace_ms)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ld->pid = fork();
    ck_assert_int_ge(ld->pid, 0);
    if (ld->pid == 0) {
        close(p[0]);
        sender_run(c, prefix, count, pace_ms, p[1]);
    }
    close(p[1]);
    ld->fd = p[0];
}

static void load_finish(struct load *ld)
{
    struct pollfd pfd = { .fd = ld->fd, .events = POLLIN };
    ck_assert_msg(poll(&pfd, 1, 40000) == 1, "the sender did not report within 40 s");
    char report[MAX_MSGS + 64] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof report - 1 && (r = read(ld->fd, report + got, sizeof report - 1 - got)) > 0)
        got += (size_t)r;
    close(ld->fd);
    int st;
    ck_assert_int_eq(it_proc_wait(ld->pid, 5000, &st), 0);
    ck_assert_msg(sscanf(report, "%d %d %d %600s", &ld->sent, &ld->echoed, &ld->fails, ld->acked) == 4,
                  "sender report: %s", report);
}

static struct it_client *member(const struct it_server *s, const char *nick, const char *prefix)
{
    struct it_client *c = cluster_user(s, nick);
    for (int i = 0; i < ROOMS; i++) {
        char room[32];
        snprintf(room, sizeof room, "%s%d", prefix, i);
        it_join(c, room, NULL);
    }
    return c;
}

/* Every message of the sender reached `c` once, and in each room in the
 * order sent. */
static void expect_all_once_in_order(struct it_client *c, const char *prefix, int count)
{
    static char seen[MAX_MSGS];
    memset(seen, 0, sizeof seen);
    int last[ROOMS];
    for (int i = 0; i < ROOMS; i++)
        last[i] = -1;
    char needle[64];
    snprintf(needle, sizeof needle, " PRIVMSG %s", prefix);
    long deadline = it_now_ms() + 20000;
    for (int got = 0; got < count;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "%s: %d of %d messages", c->nick, got, count);
        if (!strstr(l, needle) || !strstr(l, ":alice!") || !strstr(l, " :m"))
            continue;
        int k = atoi(strstr(l, " :m") + 3);
        ck_assert_msg(k >= 0 && k < count, "%s", l);
        ck_assert_msg(!seen[k], "%s got m%d twice", c->nick, k);
        seen[k] = 1;
        ck_assert_msg(k > last[k % ROOMS], "%s: m%d after m%d in one room", c->nick, k, last[k % ROOMS]);
        last[k % ROOMS] = k;
        got++;
    }
}

static long stored(const char *prefix)
{
    char like[32];
    snprintf(like, sizeof like, "%s%%", prefix);
    const char *v[1] = { like };
    return it_pg_long(&it_suite_pg, "SELECT count(DISTINCT msgid) FROM messages WHERE conversation LIKE $1", 1, v);
}

static long stored_rows(const char *prefix)
{
    char like[32];
    snprintf(like, sizeof like, "%s%%", prefix);
    const char *v[1] = { like };
    return it_pg_long(&it_suite_pg, "SELECT count(*) FROM messages WHERE conversation LIKE $1", 1, v);
}

/* Rooms with `prefix` that the node's workers own (parlorctl show channels). */
static int rooms_owned(const struct it_server *s, const char *prefix)
{
    char ctl[512], out[16384];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", s->control_path, "show", "channels", NULL };
    ck_assert_int_eq(it_run(ctl, args, out, sizeof out, 5000), 0);
    int n = 0;
    for (int i = 0; i < ROOMS; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d ", prefix, i);
        n += strstr(out, name) != NULL;
    }
    return n;
}

/* Node beta joins while alice (on alpha) sends to ten rooms: the rooms
 * beta's workers win are handed over (beta owns some of them afterwards),
 * every message reaches a member on each node once and in order, each is
 * stored once; nicks held before the join stay unique after it. */
START_TEST(test_joining_node_takes_over_its_share_without_losing_messages)
{
    struct cluster_net n;
    cluster_nats_up(&n);
    cluster_node_start(&n, &n.a, "alpha", "0", no_flood);
    enum { NICKS = 8, COUNT = 400 };
    struct it_client *holders[NICKS];
    for (int i = 0; i < NICKS; i++) {
        char nick[32];
        snprintf(nick, sizeof nick, "holder%d", i);
        holders[i] = cluster_user(&n.a, nick);
    }
    struct it_client *alice = member(&n.a, "alice", "#share");
    struct it_client *carol = member(&n.a, "carol", "#share");
    ck_assert_int_eq(rooms_owned(&n.a, "#share"), ROOMS);
    struct load ld;
    load_start(&ld, alice, "#share", COUNT, 10);
    it_sleep_ms(500);                          /* messages are flowing */
    cluster_node_start(&n, &n.b, "beta", "1", no_flood);
    cluster_wait_linked(&n, 4);
    /* A member on the new node, while the messages still flow. */
    struct it_client *bob = member(&n.b, "bob", "#share");
    load_finish(&ld);
    ck_assert_msg(ld.fails == 0, "%d FAILs", ld.fails);
    ck_assert_msg(ld.echoed == COUNT, "%d of %d messages echoed (%s)", ld.echoed, COUNT, ld.acked);
    expect_all_once_in_order(carol, "#share", COUNT);
    /* The join handed rooms over, and the old owner let them go. */
    int on_b = rooms_owned(&n.b, "#share"), on_a = rooms_owned(&n.a, "#share");
    ck_assert_msg(on_b > 0, "beta owns none of the rooms");
    ck_assert_int_eq(on_a + on_b, ROOMS);
    long deadline = it_now_ms() + 10000;
    while (stored_rows("#share") < COUNT && it_now_ms() < deadline)
        it_sleep_ms(50);
    ck_assert_int_eq(stored("#share"), COUNT);
    ck_assert_int_eq(stored_rows("#share"), COUNT);
    /* bob, on beta, talks in every room; carol (alpha) hears him. */
    for (int i = 0; i < ROOMS; i++)
        it_send(bob, "PRIVMSG #share%d :from beta %d", i, i);
    for (int i = 0; i < ROOMS; i++)
        it_expect(carol, ":bob!");
    /* Nicks held before the join are still taken, from either node. */
    for (int i = 0; i < NICKS; i++) {
        char nick[32];
        snprintf(nick, sizeof nick, "HOLDER%d", i);
        struct it_client *c = it_connect(i % 2 ? &n.a : &n.b);
        it_send(c, "NICK %s", nick);
        it_send(c, "USER u 0 * :u");
        it_expect_numeric(c, "433");
        it_client_free(c);
    }
    for (int i = 0; i < NICKS; i++)
        it_client_free(holders[i]);
    it_client_free(alice);
    it_client_free(bob);
    it_client_free(carol);
    cluster_net_stop(&n);
}
END_TEST

/* kill -9 of node beta while alice (on alpha) sends to ten rooms, some
 * owned by beta: no message is refused, every one is echoed (the requests
 * kept for beta's workers went to the new owners) and every echoed one is
 * in PostgreSQL, once. */
START_TEST(test_killed_node_under_load_loses_no_acknowledged_message)
{
    struct cluster_net n;
    cluster_nats_up(&n);
    cluster_node_start(&n, &n.a, "alpha", "0", no_flood);
    cluster_node_start(&n, &n.b, "beta", "1", no_flood);
    cluster_wait_linked(&n, 4);
    enum { COUNT = 500 };
    struct it_client *alice = member(&n.a, "alice", "#load");
    struct it_client *carol = member(&n.a, "carol", "#load");
    struct it_client *dave = member(&n.b, "dave", "#load");
    ck_assert_msg(rooms_owned(&n.b, "#load") > 0, "beta owns none of the rooms");
    struct load ld;
    load_start(&ld, alice, "#load", COUNT, 10);
    it_sleep_ms(1500);
    it_server_kill9(&n.b);
    load_finish(&ld);
    ck_assert_msg(ld.fails == 0, "%d FAILs", ld.fails);
    ck_assert_msg(ld.echoed == COUNT, "%d of %d messages echoed (%s)", ld.echoed, COUNT, ld.acked);
    /* Every acknowledged message is stored, once. */
    long deadline = it_now_ms() + 10000;
    while (stored_rows("#load") < ld.echoed && it_now_ms() < deadline)
        it_sleep_ms(50);
    ck_assert_int_eq(stored("#load"), ld.echoed);
    ck_assert_int_eq(stored_rows("#load"), ld.echoed);
    expect_all_once_in_order(carol, "#load", COUNT);
    ck_assert_int_eq(rooms_owned(&n.a, "#load"), ROOMS);
    it_client_free(alice);
    it_client_free(carol);
    it_client_free(dave);
    it_server_stop(&n.a);
    cluster_nats_stop(&n);
}
END_TEST


static struct it_client *twin(const struct it_server *s, const char *nick, const char *realname)
{
    struct it_client *c = it_connect(s);
    it_send(c, "NICK %s", nick);
    it_send(c, "USER u 0 * :%s", realname);
    it_expect(c, " 001 ");
    it_expect_re(c, " (376|422) ");
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    return c;
}

/* A split: alpha and beta on two nats-servers that do not know each other,
 * so both give away the nick "twin" and both own #split.  Then the second
 * nats-server comes back with a route to the first (the split heals):
 * exactly one "twin" is renamed (the one whose side does not own the nick
 * by hash), the room's members on both sides hear each other, and WHOIS
 * twin answers the same user on both nodes. */
START_TEST(test_healed_split_keeps_one_nick_holder_and_merges_rooms)
{
    int p1 = it_free_port(), p2 = it_free_port(), c1 = it_free_port(), c2 = it_free_port();
    ck_assert(p1 > 0 && p2 > 0 && c1 > 0 && c2 > 0);
    char cl1[64], cl2[64], rt1[64], rt2[64];
    snprintf(cl1, sizeof cl1, "nats://127.0.0.1:%d", c1);
    snprintf(cl2, sizeof cl2, "nats://127.0.0.1:%d", c2);
    snprintf(rt1, sizeof rt1, "nats://127.0.0.1:%d", c1);
    snprintf(rt2, sizeof rt2, "nats://127.0.0.1:%d", c2);
    const char *first[] = { "--cluster_name", "parlor", "--cluster", cl1, "--routes", rt2, NULL };
    struct cluster_net n;
    memset(&n, 0, sizeof n);
    n.nats_port = p1;
    n.nats = cluster_nats_start_with(p1, first);
    pid_t nats2 = cluster_nats_start(p2);          /* no route: the split */
    snprintf(n.url, sizeof n.url, "nats://127.0.0.1:%d", p1);
    cluster_node_start(&n, &n.a, "alpha", "0", no_flood);
    struct cluster_net side_b = n;
    snprintf(side_b.url, sizeof side_b.url, "nats://127.0.0.1:%d", p2);
    cluster_node_start(&side_b, &n.b, "beta", "1", no_flood);
    struct it_client *alice = twin(&n.a, "twin", "side alpha");
    struct it_client *bob = twin(&n.b, "twin", "side beta");   /* split: both get it */
    struct it_client *carol = cluster_user(&n.a, "carol");
    struct it_client *dave = cluster_user(&n.b, "dave");
    it_join(alice, "#split", NULL);
    it_join(bob, "#split", NULL);
    it_join(carol, "#split", NULL);
    it_join(dave, "#split", NULL);
    ck_assert(!it_server_log_contains(&n.a, "node beta"));
    /* The split heals: nats-server 2 again, now routed to nats-server 1. */
    kill(nats2, SIGTERM);
    int st;
    ck_assert_int_eq(it_proc_wait(nats2, 5000, &st), 0);
    const char *second[] = { "--cluster_name", "parlor", "--cluster", cl2, "--routes", rt1, NULL };
    nats2 = cluster_nats_start_with(p2, second);
    it_server_expect_log(&n.a, "node beta (id 1, 2 workers) joined", 2, 15000);
    it_server_expect_log(&n.b, "node alpha (id 0, 2 workers) joined", 2, 15000);
    /* One of the two twins is renamed (both see it: they share #split),
     * and the members of the other side are shown joining (a net join). */
    long deadline = it_now_ms() + 10000;
    bool renamed = false, carol_saw_dave = false, dave_saw_carol = false;
    while (!(renamed && carol_saw_dave) && it_now_ms() < deadline) {
        const char *l = it_next_line(carol, 200);
        renamed = renamed || (l && strstr(l, " NICK :Guest"));
        carol_saw_dave = carol_saw_dave || (l && strstr(l, ":dave!~dave@127.0.0.1 JOIN #split"));
    }
    ck_assert_msg(renamed, "neither twin was renamed");
    ck_assert_msg(carol_saw_dave, "carol (alpha) saw no JOIN of dave (beta)");
    while (!dave_saw_carol && it_now_ms() < deadline) {
        const char *l = it_next_line(dave, 200);
        dave_saw_carol = l && strstr(l, ":carol!~carol@127.0.0.1 JOIN #split");
    }
    ck_assert_msg(dave_saw_carol, "dave (beta) saw no JOIN of carol (alpha)");
    /* The room is one again: each side hears the other. */
    long t = it_now_ms() + 10000;
    bool heard = false;
    for (int k = 0; !heard && it_now_ms() < t; k++) {
        it_send(carol, "PRIVMSG #split :from alpha %d", k);
        heard = it_wait(dave, "from alpha", 500) != NULL;
    }
    ck_assert_msg(heard, "dave (beta) never heard carol (alpha) in #split");
    it_send(dave, "PRIVMSG #split :from beta");
    ck_assert_msg(it_wait(carol, "from beta", 5000) != NULL, "carol (alpha) did not hear dave (beta)");
    /* WHOIS twin: the same user from both nodes; it gets what is sent to
     * twin, the other one speaks as its Guest nick. */
    it_send(carol, "WHOIS twin");
    const char *l = it_expect(carol, " 311 ");
    bool alpha_keeps = strstr(l, ":side alpha") != NULL;
    ck_assert_msg(alpha_keeps || strstr(l, ":side beta"), "%s", l);
    it_send(dave, "WHOIS twin");
    l = it_expect(dave, " 311 ");
    ck_assert_msg(strstr(l, alpha_keeps ? ":side alpha" : ":side beta"), "%s", l);
    struct it_client *keeper = alpha_keeps ? alice : bob, *loser = alpha_keeps ? bob : alice;
    it_send(dave, "PRIVMSG twin :for the twin");
    it_expect(keeper, " PRIVMSG twin :for the twin");
    it_send(loser, "PRIVMSG #split :the renamed one");
    l = it_wait(carol, "the renamed one", 5000);
    ck_assert_msg(l && strncmp(l, ":Guest", 6) == 0, "%s", l ? l : "(nothing)");
    it_client_free(alice);
    it_client_free(bob);
    it_client_free(carol);
    it_client_free(dave);
    it_server_stop(&n.a);
    it_server_stop(&n.b);
    kill(nats2, SIGTERM);
    ck_assert_int_eq(it_proc_wait(nats2, 5000, &st), 0);
    cluster_nats_stop(&n);
}
END_TEST

/* Without --node-id a node takes the id its name gives unless a live node
 * has it: "gamma" and "south" both hash to 2; the second takes the lowest
 * free id, and the two form one network. */
START_TEST(test_node_without_id_takes_a_free_one)
{
    struct cluster_net n;
    cluster_nats_up(&n);
    cluster_node_start(&n, &n.a, "gamma", NULL, NULL);
    it_server_expect_log(&n.a, "cluster: node gamma takes node id 2 (from its name)", 1, 5000);
    cluster_node_start(&n, &n.b, "south", NULL, NULL);
    it_server_expect_log(&n.b, "cluster: node south takes node id 0 (the one from its name is taken)", 1, 5000);
    cluster_wait_linked(&n, 4);
    ck_assert(!it_server_log_contains(&n.a, "claims node id"));
    struct it_client *x = cluster_user(&n.a, "xavier");
    struct it_client *y = cluster_user(&n.b, "yvonne");
    it_send(x, "PRIVMSG yvonne :across ids 2 and 0");
    it_expect(y, ":xavier!~xavier@127.0.0.1 PRIVMSG yvonne :across ids 2 and 0");
    it_client_free(x);
    it_client_free(y);
    cluster_net_stop(&n);
}
END_TEST

/* Games run where their room is owned: when a node joins, a game whose
 * room moves to it is cancelled (its players are told, PostgreSQL says
 * cancelled); the others go on. */
START_TEST(test_games_whose_room_moves_to_a_joining_node_are_cancelled)
{
    struct cluster_net n;
    cluster_nats_up(&n);
    static const char *const slow[] = { "--flood-lines", "0", "--game-round-seconds", "120", NULL };
    cluster_node_start(&n, &n.a, "alpha", "0", slow);
    enum { G = 4 };
    struct it_client *inviter[G], *guest[G];
    long id[G];
    for (int i = 0; i < G; i++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "host%d", i);
        snprintf(b, sizeof b, "guest%d", i);
        inviter[i] = cluster_user(&n.a, a);
        guest[i] = cluster_user(&n.a, b);
        it_send(inviter[i], "PRIVMSG GameServ :invite %s rounds=1", b);
        const char *l = it_wait(guest[i], " invites you to game ", 5000);
        ck_assert_msg(l, "no game invitation for %s", b);
        id[i] = atol(strstr(l, " to game ") + 9);
        ck_assert_int_gt(id[i], 0);
        it_send(guest[i], "PRIVMSG GameServ :accept %ld", id[i]);
        ck_assert_msg(it_wait(inviter[i], "Round 1 of 1", 10000), "game %ld did not start", id[i]);
    }
    cluster_node_start(&n, &n.b, "beta", "1", slow);
    cluster_wait_linked(&n, 4);
    char ctl[512], out[16384];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", n.b.control_path, "show", "channels", NULL };
    int moved = 0;
    for (int i = 0; i < G; i++) {
        char room[40], state[32];
        snprintf(room, sizeof room, "#game-%ld ", id[i]);
        bool on_b = false;
        for (long end = it_now_ms() + 3000; !on_b && it_now_ms() < end; it_sleep_ms(100)) {
            ck_assert_int_eq(it_run(ctl, args, out, sizeof out, 5000), 0);
            on_b = strstr(out, room) != NULL;
        }
        char v[32];
        snprintf(v, sizeof v, "%ld", id[i]);
        const char *p[1] = { v };
        if (on_b) {
            moved++;
            ck_assert_msg(it_wait(guest[i], "is cancelled: its room moved", 5000), "game %ld: no cancel", id[i]);
            long deadline = it_now_ms() + 5000;
            while (it_pg_long(&it_suite_pg, "SELECT count(*) FROM games WHERE id = $1::bigint"
                              " AND state = 'cancelled'", 1, p) != 1 && it_now_ms() < deadline)
                it_sleep_ms(50);
            snprintf(state, sizeof state, "cancelled");
        } else {
            snprintf(state, sizeof state, "running");
        }
        const char *ps[2] = { v, state };
        ck_assert_msg(it_pg_long(&it_suite_pg, "SELECT count(*) FROM games WHERE id = $1::bigint AND state = $2", 2,
                                 ps) == 1, "game %ld is not %s", id[i], state);
    }
    ck_assert_msg(moved > 0 && moved < G, "%d of %d game rooms moved; choose other names", moved, G);
    for (int i = 0; i < G; i++) {
        it_client_free(inviter[i]);
        it_client_free(guest[i]);
    }
    cluster_net_stop(&n);
}
END_TEST

Suite *clustermv_suite(void)
{
    Suite *s = suite_create("clustermv");
    TCase *tc = tcase_create("ownership moves");
    tcase_add_unchecked_fixture(tc, it_suite_pg_up, it_suite_pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_joining_node_takes_over_its_share_without_losing_messages);
    tcase_add_test(tc, test_killed_node_under_load_loses_no_acknowledged_message);
    tcase_add_test(tc, test_healed_split_keeps_one_nick_holder_and_merges_rooms);
    tcase_add_test(tc, test_node_without_id_takes_a_free_one);
    tcase_add_test(tc, test_games_whose_room_moves_to_a_joining_node_are_cancelled);
    suite_add_tcase(s, tc);
    return s;
}
