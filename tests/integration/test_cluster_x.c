/* More of the cluster over NATS (issue 13, worker/cluster.c, README "Cluster
 * over NATS"): WHOIS, INVITE, the game, history and MONITOR across two
 * nodes; three nodes in one room; two rooms with concurrent senders; a
 * nats-server restarted mid-chat; the parlor client moving to another node
 * when its node is killed.  A real nats-server on a free loopback port and
 * the nodes are started and stopped by PID; one PostgreSQL for the suite
 * (so every test uses its own nicks and rooms).
 *
 * cx_net: up to three nodes, on cluster_net.c's nats-server and nodes. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/cluster_net.h"
#include "tests/integration/gameserv.h"
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"

#define CX_MAX_NODES 3
#define CX_PASSWORD "correct-horse-battery"

/* ---- up to three nodes (on cluster_net.c's nats-server and nodes) ---- */

struct cx_net {
    struct cluster_net net;            /* nats-server; its a and b unused */
    int nnodes, workers;
    struct it_server node[CX_MAX_NODES];
    bool up[CX_MAX_NODES];
};

/* Links a node's log shows once all of its workers heard all the others. */
static int cx_links_expected(const struct cx_net *n)
{
    return n->workers * n->workers * (n->nnodes - 1);
}

/* `nnodes` nodes (ids 0.., names node0..) of `workers` workers each, every
 * worker linked to every remote worker. */
static void cx_net_start(struct cx_net *n, int nnodes, int workers)
{
    memset(n, 0, sizeof *n);
    ck_assert_int_le(nnodes, CX_MAX_NODES);
    n->nnodes = nnodes;
    n->workers = workers;
    cluster_nats_up(&n->net);
    char w[16];
    snprintf(w, sizeof w, "%d", workers);
    for (int i = 0; i < nnodes; i++) {
        char name[32], id[16];
        snprintf(name, sizeof name, "node%d", i);
        snprintf(id, sizeof id, "%d", i);
        const char *more[] = { "--workers", w, "--flood-lines", "0", "--game-invite-timeout", "30",
                               "--game-round-seconds", "30", NULL };
        cluster_node_start(&n->net, &n->node[i], name, id, more);
        n->up[i] = true;
    }
    for (int i = 0; i < nnodes; i++)
        it_server_expect_log(&n->node[i], "cluster: link to worker ", cx_links_expected(n), 15000);
}

static void cx_net_stop(struct cx_net *n)
{
    for (int i = 0; i < n->nnodes; i++)
        if (n->up[i])
            it_server_stop(&n->node[i]);
    cluster_nats_stop(&n->net);
}

/* A registered user on `node` with echo-message. */
static struct it_client *cx_user(struct cx_net *n, int node, const char *nick)
{
    return cluster_user(&n->node[node], nick);
}

/* `parlorctl -s NODE show channels` */
static void cx_show_channels(const struct it_server *s, char *out, size_t cap)
{
    char ctl[512];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", s->control_path, "show", "channels", NULL };
    ck_assert_int_eq(it_run(ctl, args, out, cap, 5000), 0);
}

/* `c` joins prefix0, prefix1, ... until one is owned by node `node` (shown
 * by its `show channels`); that room's name goes to out. */
static void cx_room_owned_by(struct cx_net *n, struct it_client *c, const char *prefix, int node, char *out,
                             size_t cap)
{
    static char shown[16384];
    for (int i = 0; i < 24; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        it_join(c, out, NULL);
        cx_show_channels(&n->node[node], shown, sizeof shown);
        char needle[80];
        snprintf(needle, sizeof needle, "%s ", out);
        if (strstr(shown, needle))
            return;
    }
    ck_abort_msg("node %d owns none of %s0..23", node, prefix);
}

/* The bodies of the PRIVMSGs to `room` seen by `c`, in arrival order, until
 * `count` arrived. */
static void cx_collect(struct it_client *c, const char *room, int count, char (*out)[32])
{
    char needle[64];
    snprintf(needle, sizeof needle, " PRIVMSG %s :", room);
    long deadline = it_now_ms() + 20000;
    for (int got = 0; got < count;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "%s: %d of %d messages in %s", c->nick, got, count, room);
        const char *p = strstr(l, needle);
        if (p)
            snprintf(out[got++], 32, "%s", p + strlen(needle));
    }
}

/* Wait until `room` has `want` stored messages; assert exactly that many and
 * as many distinct msgids. */
static void cx_expect_stored(const char *room, long want)
{
    const char *v[1] = { room };
    const char *count = "SELECT count(*) FROM messages WHERE conversation = $1";
    IT_EVENTUALLY(it_pg_long(&it_suite_pg, count, 1, v) >= want, 10000);
    ck_assert_int_eq(it_pg_long(&it_suite_pg, count, 1, v), want);
    ck_assert_int_eq(it_pg_long(&it_suite_pg, "SELECT count(DISTINCT msgid) FROM messages WHERE conversation = $1",
                                1, v), want);
}

/* Register the connected user's nick as an account (NickServ). */
static void cx_register_account(struct it_client *c)
{
    it_send(c, "PRIVMSG NickServ :REGISTER %s", CX_PASSWORD);
    it_expect_numeric(c, "900");
}

/* ---- two nodes: WHOIS, INVITE, game, history, MONITOR ----------------- */

/* WHOIS of a user held on the other node: 311, 312, (330 when logged in),
 * 318, from either side. */
START_TEST(test_whois_of_a_user_on_the_other_node)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *wa = cx_user(&n, 0, "whoamy");        /* account, on node0 */
    struct it_client *wb = cx_user(&n, 1, "whobea");        /* no account, on node1 */
    struct it_client *qa = cx_user(&n, 0, "askera");
    struct it_client *qb = cx_user(&n, 1, "askerb");
    cx_register_account(wa);

    it_send(qb, "WHOIS whoamy");
    it_expect(qb, " 311 askerb whoamy ~whoamy 127.0.0.1 * :");
    it_expect(qb, " 312 askerb whoamy ");
    it_expect(qb, " 330 askerb whoamy whoamy :is logged in as");
    it_expect(qb, " 318 askerb whoamy :End of WHOIS list");

    it_send(qa, "WHOIS whobea");
    it_expect(qa, " 311 askera whobea ~whobea 127.0.0.1 * :");
    it_expect(qa, " 312 askera whobea ");
    const char *l = it_expect_re(qa, " (330|318) askera whobea ");
    ck_assert_msg(strstr(l, " 318 "), "no account, yet: %s", l);

    it_send(qa, "WHOIS nosuchnick");
    it_expect_numeric(qa, "401");
    it_client_free(wa);
    it_client_free(wb);
    it_client_free(qa);
    it_client_free(qb);
    cx_net_stop(&n);
}
END_TEST

/* An invite-only room, owned by either node: the invited user on the other
 * node joins, a user not invited gets 473 on either node. */
START_TEST(test_invite_to_an_invite_only_room_across_nodes)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *op = cx_user(&n, 0, "invop");
    struct it_client *guest = cx_user(&n, 1, "invguest");
    struct it_client *other_b = cx_user(&n, 1, "invotherb");
    struct it_client *other_a = cx_user(&n, 0, "invothera");
    for (int owner = 0; owner < 2; owner++) {
        char room[32];
        cx_room_owned_by(&n, op, owner ? "#invb" : "#inva", owner, room, sizeof room);
        it_send(op, "MODE %s +i", room);
        it_expect(op, " MODE ");
        it_send(other_b, "JOIN %s", room);
        it_expect_numeric(other_b, "473");
        it_send(op, "INVITE invguest %s", room);
        it_expect_numeric(op, "341");
        char inv[96];
        snprintf(inv, sizeof inv, ":invop!~invop@127.0.0.1 INVITE invguest %s", room);
        it_expect(guest, inv);
        it_join(guest, room, NULL);
        char joined[96];
        snprintf(joined, sizeof joined, ":invguest!~invguest@127.0.0.1 JOIN %s", room);
        it_expect(op, joined);
        it_send(other_a, "JOIN %s", room);
        it_expect_numeric(other_a, "473");
        it_send(other_b, "JOIN %s", room);
        it_expect_numeric(other_b, "473");
    }
    it_client_free(op);
    it_client_free(guest);
    it_client_free(other_a);
    it_client_free(other_b);
    cx_net_stop(&n);
}
END_TEST


/* A whole one-round game between players on different nodes: the
 * invitation, the acceptance, the guess and the result reach both, and the
 * result is stored. */
START_TEST(test_a_game_with_players_on_different_nodes)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *alice = cx_user(&n, 0, "gamealice");
    struct it_client *bob = cx_user(&n, 1, "gamebob");
    it_send(alice, "PRIVMSG GameServ :invite gamebob category=movies rounds=1");
    const char *l = it_gs_notice(bob, "gamealice invites you to game ");
    long id = atol(strstr(l, " game ") + 6);
    ck_assert_int_gt(id, 0);
    it_send(bob, "PRIVMSG GameServ :accept %ld", id);
    it_gs_notice(alice, "gamebob accepted game");
    char room[32];
    snprintf(room, sizeof room, "#game-%ld", id);
    it_gs_room(alice, room, "Round 1 of 1");
    it_gs_room(bob, room, "Round 1 of 1");
    char word[256] = "";
    for (int i = 0; i < 400 && !word[0]; i++) {
        it_pg_text(&it_suite_pg, word, sizeof word, "SELECT word FROM game_rounds WHERE game = $1 AND round = 1", id,
                   NULL);
        if (!word[0])
            it_sleep_ms(25);
    }
    ck_assert_msg(word[0], "round 1 of game %ld has no stored word", id);
    it_send(bob, "PRIVMSG %s :%s", room, word);
    it_gs_room(alice, room, "gamebob found it in ");
    l = it_gs_room(alice, room, "Game over!");
    ck_assert_msg(strstr(l, "Winner: gamebob."), "%s", l);
    it_gs_room(bob, room, "Game over!");
    char row[200];
    for (int i = 0; i < 400; i++) {
        it_pg_text(&it_suite_pg, row, sizeof row, "SELECT state FROM games WHERE id = $1", id, NULL);
        if (strcmp(row, "finished") == 0)
            break;
        it_sleep_ms(25);
    }
    ck_assert_str_eq(row, "finished");
    it_pg_text(&it_suite_pg, row, sizeof row, "SELECT string_agg(nick || ':' || coalesce(result, '-'), ',' ORDER BY nick)"
               " FROM game_players WHERE game = $1", id, NULL);
    ck_assert_str_eq(row, "gamealice:lose,gamebob:win");
    it_client_free(alice);
    it_client_free(bob);
    cx_net_stop(&n);
}
END_TEST

/* The texts of a CHATHISTORY batch answer, joined by '|'. */
static void cx_history(struct it_client *c, const char *target, int limit, char *out, size_t cap)
{
    it_send(c, "CHATHISTORY LATEST %s * %d", target, limit);
    out[0] = '\0';
    size_t used = 0;
    bool in = false;
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no complete CHATHISTORY answer for %s", target);
        if (strstr(l, " FAIL CHATHISTORY "))
            it_fail(c, "CHATHISTORY %s failed", target);
        const char *b = strstr(l, " BATCH ");
        if (b && b[7] == '+') {
            in = true;
            continue;
        }
        if (b && b[7] == '-' && in)
            return;
        const char *p = in ? strstr(l, " PRIVMSG ") : NULL;
        if (p && (p = strstr(p, " :")) && used < cap) {
            int w = snprintf(out + used, cap - used, "%s%s", used ? "|" : "", p + 2);
            used += w > 0 ? (size_t)w : 0;
        }
    }
}

/* A conversation held across the nodes (a room and private messages) reads
 * back the same from either node, by CHATHISTORY and by HistServ. */
START_TEST(test_history_of_a_conversation_across_nodes_reads_back_from_either)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *a = it_connect(&n.node[0]);
    struct it_client *b = it_connect(&n.node[1]);
    const char *caps = "CAP REQ :echo-message batch server-time message-tags draft/chathistory";
    it_send(a, "%s", caps);
    it_send(b, "%s", caps);
    it_send(a, "CAP END");
    it_send(b, "CAP END");
    it_register(a, "histann");
    it_register(b, "histben");
    it_join(a, "#histx", NULL);
    it_join(b, "#histx", NULL);
    it_expect(a, ":histben!");
    enum { N = 8 };
    char want[512] = "";
    for (int i = 0; i < N; i++) {
        struct it_client *from = i % 2 ? b : a;
        char text[32];
        snprintf(text, sizeof text, "%s line %d", i % 2 ? "ben" : "ann", i);
        it_send(from, "PRIVMSG #histx :%s", text);
        char echo[64];
        snprintf(echo, sizeof echo, "PRIVMSG #histx :%s", text);
        it_expect(from, echo);                 /* acknowledged before the next one */
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? "|" : "", text);
    }
    it_send(a, "PRIVMSG histben :psst ben");
    it_expect(b, "PRIVMSG histben :psst ben");
    it_send(b, "PRIVMSG histann :psst ann");
    it_expect(a, "PRIVMSG histann :psst ann");
    cx_expect_stored("#histx", N);

    char got[1024];
    cx_history(a, "#histx", 50, got, sizeof got);
    ck_assert_str_eq(got, want);
    cx_history(b, "#histx", 50, got, sizeof got);
    ck_assert_str_eq(got, want);
    cx_history(a, "histben", 50, got, sizeof got);
    ck_assert_str_eq(got, "psst ben|psst ann");
    cx_history(b, "histann", 50, got, sizeof got);
    ck_assert_str_eq(got, "psst ben|psst ann");

    /* HistServ's days, from each node. */
    for (int i = 0; i < 2; i++) {
        struct it_client *c = i ? b : a;
        it_send(c, "PRIVMSG HistServ :days #histx");
        char re[160];
        snprintf(re, sizeof re, "NOTICE %s :  [0-9]{4}-[0-9]{2}-[0-9]{2}  %d messages$", c->nick, N);
        it_expect_re(c, re);
    }
    it_client_free(a);
    it_client_free(b);
    cx_net_stop(&n);
}
END_TEST

/* MONITOR of a nick that comes and goes on the other node. */
START_TEST(test_monitor_sees_a_user_on_the_other_node)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *w = cx_user(&n, 0, "monwatch");
    it_send(w, "MONITOR + monpeer");
    it_expect_numeric(w, "731");
    struct it_client *p = cx_user(&n, 1, "monpeer");
    it_expect_re(w, " 730 monwatch :monpeer(!|$)");
    it_send(p, "QUIT :bye");
    it_expect_closed(p, NULL, IT_TIMEOUT_MS);
    it_expect_re(w, " 731 monwatch :monpeer$");
    it_client_free(p);
    it_client_free(w);
    cx_net_stop(&n);
}
END_TEST

/* ---- three nodes; two rooms with concurrent senders ------------------ */

/* True if `sub` (n messages) is `all` (m messages) with some left out. */
static bool cx_subsequence(char (*sub)[32], int n, char (*all)[32], int m)
{
    int j = 0;
    for (int i = 0; i < m && j < n; i++)
        j += strcmp(all[i], sub[j]) == 0;
    return j == n;
}

/* One room with a sender and a listener on each of three nodes: the
 * listeners see every message once, all in one order (each sender's in the
 * order sent), each stored once.  A sender sees the others' messages in
 * that order too; its own echoes come once stored (the acknowledgement), so
 * they may come later than the owner's order would put them. */
START_TEST(test_three_nodes_chat_in_one_room_in_one_order)
{
    struct cx_net n;
    cx_net_start(&n, 3, 2);
    struct it_client *snd[3], *lis[3];
    for (int i = 0; i < 3; i++) {
        char nick[32];
        snprintf(nick, sizeof nick, "trilis%d", i);
        lis[i] = it_connect_registered(&n.node[i], nick);
        it_join(lis[i], "#trio", NULL);
        snprintf(nick, sizeof nick, "trisnd%d", i);
        snd[i] = cx_user(&n, i, nick);
        it_join(snd[i], "#trio", NULL);
    }
    for (int i = 0; i < 3; i++)
        it_expect(lis[i], ":trisnd2!");        /* the last JOIN, across nodes */
    enum { N = 20 };
    for (int k = 0; k < N; k++)
        for (int i = 0; i < 3; i++)
            it_send(snd[i], "PRIVMSG #trio :%c%d", 'a' + i, k);
    static char seen[3][3 * N][32], mine[3 * N][32], others[2 * N][32];
    for (int i = 0; i < 3; i++)
        cx_collect(lis[i], "#trio", 3 * N, seen[i]);
    int next[3] = { 0, 0, 0 };
    for (int m = 0; m < 3 * N; m++) {
        for (int i = 1; i < 3; i++)
            ck_assert_msg(strcmp(seen[0][m], seen[i][m]) == 0, "message %d: node0 saw %s, node%d saw %s", m,
                          seen[0][m], i, seen[i][m]);
        int from = seen[0][m][0] - 'a';
        ck_assert_int_eq(atoi(seen[0][m] + 1), next[from]++);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(next[i], N);
    for (int i = 0; i < 3; i++) {
        cx_collect(snd[i], "#trio", 3 * N, mine);
        int no = 0, echoes = 0;
        for (int m = 0; m < 3 * N; m++) {
            if (mine[m][0] == 'a' + i)
                ck_assert_int_eq(atoi(mine[m] + 1), echoes++);
            else
                memcpy(others[no++], mine[m], sizeof others[0]);
        }
        ck_assert_int_eq(echoes, N);
        ck_assert_msg(cx_subsequence(others, no, seen[0], 3 * N), "sender %d saw the others in another order", i);
    }
    cx_expect_stored("#trio", 3 * N);
    for (int i = 0; i < 3; i++) {
        it_client_free(snd[i]);
        it_client_free(lis[i]);
    }
    cx_net_stop(&n);
}
END_TEST

/* Senders on both nodes write to two rooms at once (one owned by each
 * node): in each room the listeners on both nodes see one order, each
 * sender's messages in the order sent, each stored once. */
START_TEST(test_concurrent_senders_to_two_rooms_keep_one_order_per_room)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *sa = cx_user(&n, 0, "duosa");
    struct it_client *sb = cx_user(&n, 1, "duosb");
    struct it_client *la = cx_user(&n, 0, "duola");
    struct it_client *lb = cx_user(&n, 1, "duolb");
    char room[2][32];
    cx_room_owned_by(&n, sa, "#duoa", 0, room[0], sizeof room[0]);
    cx_room_owned_by(&n, sa, "#duob", 1, room[1], sizeof room[1]);
    for (int r = 0; r < 2; r++) {
        it_join(sb, room[r], NULL);
        it_join(la, room[r], NULL);
        it_join(lb, room[r], NULL);
    }
    char lbjoin[96];
    snprintf(lbjoin, sizeof lbjoin, ":duolb!~duolb@127.0.0.1 JOIN %s", room[1]);
    it_expect(la, lbjoin);                     /* lb's last JOIN, seen across */
    enum { N = 25 };
    for (int k = 0; k < N; k++)
        for (int r = 0; r < 2; r++) {
            it_send(sa, "PRIVMSG %s :a%d", room[r], k);
            it_send(sb, "PRIVMSG %s :b%d", room[r], k);
        }
    /* Each listener's lines for both rooms interleave: collect per room
     * from the same stream by reading everything once. */
    static char seen[2][2][2 * N][32];         /* [listener][room][i] */
    for (int li = 0; li < 2; li++) {
        struct it_client *c = li ? lb : la;
        int got[2] = { 0, 0 };
        long deadline = it_now_ms() + 20000;
        while (got[0] < 2 * N || got[1] < 2 * N) {
            const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
            if (!l)
                it_fail(c, "%d and %d of %d messages", got[0], got[1], 2 * N);
            for (int r = 0; r < 2; r++) {
                char needle[96];
                snprintf(needle, sizeof needle, " PRIVMSG %s :", room[r]);
                const char *p = strstr(l, needle);
                if (p) {
                    ck_assert_int_lt(got[r], 2 * N);
                    snprintf(seen[li][r][got[r]++], 32, "%s", p + strlen(needle));
                }
            }
        }
    }
    for (int r = 0; r < 2; r++) {
        int na = 0, nb = 0;
        for (int i = 0; i < 2 * N; i++) {
            ck_assert_msg(strcmp(seen[0][r][i], seen[1][r][i]) == 0, "%s message %d: %s on node0, %s on node1",
                          room[r], i, seen[0][r][i], seen[1][r][i]);
            int k = atoi(seen[0][r][i] + 1);
            ck_assert_int_eq(k, seen[0][r][i][0] == 'a' ? na++ : nb++);
        }
        ck_assert_int_eq(na, N);
        ck_assert_int_eq(nb, N);
        cx_expect_stored(room[r], 2 * N);
    }
    it_client_free(sa);
    it_client_free(sb);
    it_client_free(la);
    it_client_free(lb);
    cx_net_stop(&n);
}
END_TEST

/* ---- nats-server restarted mid-chat ----------------------------------- */

/* What one user got: the msgids of every room message (to find
 * duplicates) and of its own acknowledged ones (echoes); FAILs and QUITs;
 * the messages from others whose text starts with "after". */
struct cx_view {
    int nseen, nacked, fails, quits, joins, after_from_others;
    char seen[800][64];
    char acked[200][64];
};

/* The value of tag `key` in a line ("" if absent). */
static void cx_tag(const char *line, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    if (line[0] != '@')
        return;
    size_t klen = strlen(key);
    const char *end = strchr(line, ' ');
    for (const char *p = line + 1; p && p < end; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t len = strcspn(p + klen + 1, "; ");
            snprintf(out, cap, "%.*s", (int)len, p + klen + 1);
            return;
        }
    }
}

/* Read what `c` got for `ms` into `v`; a message seen twice fails. */
static void cx_drain(struct it_client *c, int ms, struct cx_view *v, const char *phase)
{
    long deadline = it_now_ms() + ms;
    for (;;) {
        long left = deadline - it_now_ms();
        const char *l = it_next_line(c, left > 0 ? (int)left : 0);
        if (!l)
            return;
        const char *src = l[0] == '@' ? strchr(l, ' ') + 1 : l;
        bool fail = strstr(src, " FAIL ") || strstr(src, " 404 "), quit = strstr(src, " QUIT ") != NULL;
        v->fails += fail;
        v->quits += quit;
        v->joins += strstr(src, " JOIN #") != NULL;   /* the other's, after a split (a net join) */
        if ((fail || quit) && getenv("CX_DEBUG"))
            fprintf(stderr, "%s, %s got: %s\n", phase, c->nick, src);
        if (!strstr(src, " PRIVMSG #"))
            continue;
        if (getenv("CX_DEBUG"))
            fprintf(stderr, "%s, %s got: %s\n", phase, c->nick, l);
        char id[64];
        cx_tag(l, "msgid", id, sizeof id);
        ck_assert_msg(id[0], "no msgid: %s", l);
        for (int i = 0; i < v->nseen; i++)
            ck_assert_msg(strcmp(v->seen[i], id) != 0, "%s got %s twice: %s", c->nick, id, src);
        ck_assert_int_lt(v->nseen, 800);
        snprintf(v->seen[v->nseen++], 64, "%s", id);
        char me[80];
        snprintf(me, sizeof me, ":%s!", c->nick);
        if (strncmp(src, me, strlen(me)) == 0) {
            ck_assert_int_lt(v->nacked, 200);
            snprintf(v->acked[v->nacked++], 64, "%s", id);
        } else if (strstr(src, " :after ")) {
            ck_assert_msg(v->after_from_others < 2, "%s: a third message from the other after the restart "
                          "(a copy with another msgid?): %s", c->nick, l);
            v->after_from_others++;
        }
    }
}

/* `parlorctl -s NODE show nodes`: this node's NATS connected (every
 * worker's), `other` live and connected. */
static bool cx_nodes_connected(const struct it_server *s, const char *other)
{
    char ctl[512], out[4096];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", s->control_path, "show", "nodes", NULL };
    if (it_run(ctl, args, out, sizeof out, 5000) != 0)
        return false;
    bool self = false, peer = false;
    for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        bool connected = strstr(l, " connected ") != NULL;
        self |= connected && strstr(l, " self ");
        peer |= connected && strstr(l, " live ") && strncmp(l, other, strlen(other)) == 0;
    }
    return self && peer;
}

/* Two users (node0, node1), each in two rooms (one owned by each node),
 * both sending to both rooms before, right after nats-server is killed
 * (SIGKILL) and after a new one is started on the same port `gap_ms`
 * later.  Asserted always: the nodes reconnect by themselves; afterwards
 * chat across the nodes works in both rooms and is acknowledged; every
 * acknowledged message is stored exactly once; nobody receives a message
 * twice.  With `short_gap`: nobody left (QUIT) and nothing was refused.
 * With `all_acked`: every message sent in the gap was acknowledged. */
static void cx_nats_restart(int gap_ms, bool short_gap, bool all_acked)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *u[2];
    const char *nicks[2] = { "natsa", "natsb" };
    for (int i = 0; i < 2; i++) {
        u[i] = it_connect(&n.node[i]);
        it_send(u[i], "CAP REQ :echo-message message-tags");
        it_send(u[i], "CAP END");
        it_register(u[i], nicks[i]);
    }
    /* Rooms of their own: the suite's tests share one PostgreSQL, and a
     * room used before would replay its recent messages on JOIN. */
    char room[2][32], prefix[2][24];           /* room[i] owned by node i */
    snprintf(prefix[0], sizeof prefix[0], "#natsa%dg", gap_ms + all_acked);
    snprintf(prefix[1], sizeof prefix[1], "#natsb%dg", gap_ms + all_acked);
    cx_room_owned_by(&n, u[0], prefix[0], 0, room[0], sizeof room[0]);
    cx_room_owned_by(&n, u[0], prefix[1], 1, room[1], sizeof room[1]);
    it_join(u[1], room[0], NULL);
    it_join(u[1], room[1], NULL);
    static struct cx_view v[2];
    memset(v, 0, sizeof v);
    enum { K = 5, PER_PHASE = 2 * 2 * K };
#define CX_ACKED (v[0].nacked + v[1].nacked)
    for (int k = 0; k < K; k++)
        for (int i = 0; i < 2; i++)
            for (int r = 0; r < 2; r++)
                it_send(u[i], "PRIVMSG %s :before %d", room[r], k);
    for (int t = 0; t < 100 && CX_ACKED < PER_PHASE; t++)
        for (int i = 0; i < 2; i++)
            cx_drain(u[i], 50, &v[i], "before");
    ck_assert_int_eq(CX_ACKED, PER_PHASE);

    int joins_before[2] = { v[0].joins, v[1].joins };
    kill(n.net.nats, SIGKILL);
    int st;
    ck_assert_int_eq(it_proc_wait(n.net.nats, 5000, &st), 0);
    long t_kill = it_now_ms();
    for (int k = 0; k < K; k++)
        for (int i = 0; i < 2; i++)
            for (int r = 0; r < 2; r++)
                it_send(u[i], "PRIVMSG %s :during %d", room[r], k);
    for (int i = 0; i < 2 && gap_ms > 0; i++)
        cx_drain(u[i], gap_ms / 2, &v[i], "gap");
    int in_gap = CX_ACKED - PER_PHASE;
    n.net.nats = cluster_nats_start(n.net.nats_port);
    ck_assert_msg(IT_EVENTUALLY(cx_nodes_connected(&n.node[0], "node1") &&
                                cx_nodes_connected(&n.node[1], "node0"), 15000),
                  "the nodes did not reconnect to the new nats-server");
    long t_up = it_now_ms();
    /* What was sent in the gap: acknowledged (or refused) within
     * --owner-timeout (5 s) and the reply-order bound after it. */
    for (long end = it_now_ms() + 8000; it_now_ms() < end && CX_ACKED < 2 * PER_PHASE;)
        for (int i = 0; i < 2; i++)
            cx_drain(u[i], 100, &v[i], "reconnected");
    int gap_acked = CX_ACKED - PER_PHASE;
    if (getenv("CX_DEBUG"))
        fprintf(stderr, "gap %d ms (nats back after %ld ms): %d sent, %d acknowledged in the gap, %d in all; "
                "%d FAIL/404, %d QUIT\n", gap_ms, t_up - t_kill, PER_PHASE, in_gap, gap_acked,
                v[0].fails + v[1].fails, v[0].quits + v[1].quits);
    if (short_gap) {
        ck_assert_int_eq(v[0].quits + v[1].quits, 0);
        ck_assert_int_eq(v[0].fails + v[1].fails, 0);
    }
    if (all_acked)
        ck_assert_msg(gap_acked + v[0].fails + v[1].fails == PER_PHASE,
                      "of %d messages sent in the gap, %d were acknowledged and %d refused; the others got "
                      "no answer", PER_PHASE, gap_acked, v[0].fails + v[1].fails);

    /* After a split, each sees the other come back into both rooms (a net
     * join, worker/channel.c) once the rooms are merged. */
    if (!short_gap) {
        for (long end = it_now_ms() + 10000;
             it_now_ms() < end && (v[0].joins - joins_before[0] < 2 || v[1].joins - joins_before[1] < 2);)
            for (int i = 0; i < 2; i++)
                cx_drain(u[i], 50, &v[i], "merge");
        ck_assert_msg(v[0].joins - joins_before[0] >= 2 && v[1].joins - joins_before[1] >= 2,
                      "net joins after the split: %d and %d of 2", v[0].joins - joins_before[0],
                      v[1].joins - joins_before[1]);
    }
    /* After: chat across the nodes works in both rooms, acknowledged. */
    int acked_before_after[2] = { v[0].nacked, v[1].nacked };
    for (int i = 0; i < 2; i++)
        for (int r = 0; r < 2; r++)
            it_send(u[i], "PRIVMSG %s :after %d", room[r], i);
    for (long end = it_now_ms() + 10000; it_now_ms() < end;) {
        bool done = true;
        for (int i = 0; i < 2; i++) {
            cx_drain(u[i], 50, &v[i], "after");
            done = done && v[i].after_from_others == 2 && v[i].nacked - acked_before_after[i] == 2;
        }
        if (done)
            break;
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(v[i].after_from_others == 2, "after the restart, %s got %d of the other's 2 messages",
                      nicks[i], v[i].after_from_others);
        ck_assert_msg(v[i].nacked - acked_before_after[i] == 2, "after the restart, %s's messages: %d of 2 "
                      "acknowledged", nicks[i], v[i].nacked - acked_before_after[i]);
    }

    /* Every acknowledged message stored exactly once. */
    for (int i = 0; i < 2; i++)
        for (int m = 0; m < v[i].nacked; m++) {
            const char *p[1] = { v[i].acked[m] };
            long c = it_pg_long(&it_suite_pg, "SELECT count(*) FROM messages WHERE msgid = $1", 1, p);
            ck_assert_msg(c == 1, "%s's acknowledged message %s is stored %ld times", nicks[i], p[0], c);
        }
    const char *p2[2] = { room[0], room[1] };
    ck_assert_int_eq(it_pg_long(&it_suite_pg, "SELECT count(*) - count(DISTINCT msgid) FROM messages"
                                " WHERE conversation IN ($1, $2)", 2, p2), 0);
#undef CX_ACKED
    for (int i = 0; i < 2; i++)
        it_client_free(u[i]);
    cx_net_stop(&n);
}

/* Killed and started again at once (the nodes hear nothing for about a
 * second): nobody leaves, nothing is refused, and afterwards everything
 * holds (see cx_nats_restart). */
START_TEST(test_nats_restart_mid_chat_keeps_members_and_acknowledged_messages)
{
    cx_nats_restart(0, true, false);
}
END_TEST

/* A frame a worker publishes in the instant nats-server dies is lost (NATS
 * core delivers at most once); the request it carried is sent again
 * (worker/outbox.c: numbered per receiver, resent after the reconnect and
 * after 3 s without acknowledgement), so every message sent in the gap is
 * answered, once. */
START_TEST(test_nats_restart_every_message_of_the_gap_is_answered)
{
    cx_nats_restart(0, true, true);
}
END_TEST

/* A gap of 6 s, longer than the 3 s after which a silent node is gone:
 * each side removes the other's users (QUIT, as a net split) and owns all
 * the rooms (a partition); once NATS is back each side hears the other
 * join, hands the rooms the other owns by hash over with its members
 * (worker/handover.c), and chat across the nodes goes on in both rooms. */
START_TEST(test_nats_restart_after_a_long_gap_heals_the_partition)
{
    cx_nats_restart(6000, false, false);
}
END_TEST

/* ---- the parlor client moves to another node -------------------------- */

/* parlor --server NODE0,NODE1 logged in to an account, in a room node1
 * owns; node0 is killed (master and workers, by PID): parlor reconnects to
 * node1 by itself, logs in again (SASL), rejoins the room, and its next
 * message reaches a user there. */
START_TEST(test_parlor_moves_to_the_next_server_when_its_node_dies)
{
    struct cx_net n;
    cx_net_start(&n, 2, 2);
    struct it_client *reg = it_connect_registered(&n.node[1], "palacct");
    cx_register_account(reg);
    it_send(reg, "QUIT");
    it_expect_closed(reg, NULL, IT_TIMEOUT_MS);
    it_client_free(reg);
    struct it_client *bob = it_connect_registered(&n.node[1], "palbob");
    char room[32];
    cx_room_owned_by(&n, bob, "#palroom", 1, room, sizeof room);

    struct term t;
    char args[512], env[128], screen[8192];
    snprintf(env, sizeof env, "PARLOR_PASSWORD=%s", CX_PASSWORD);
    snprintf(args, sizeof args, "--line --server 127.0.0.1:%d,127.0.0.1:%d --account palacct --join '%s'",
             n.node[0].port, n.node[1].port, room);
    term_start_args(&t, env, args);
    char want[160];
    snprintf(want, sizeof want, "Connected to 127.0.0.1:%d as palacct", n.node[0].port);
    term_wait(&t, want, screen, sizeof screen);
    snprintf(want, sizeof want, ":palacct!~palacct@127.0.0.1 JOIN %s", room);
    it_expect(bob, want);
    term_type(&t, "before the kill");
    term_key(&t, "Enter");
    snprintf(want, sizeof want, ":palacct!~palacct@127.0.0.1 PRIVMSG %s :before the kill", room);
    it_expect(bob, want);

    it_server_kill9(&n.node[0]);
    n.up[0] = false;
    /* (The "Reconnecting to" line may wrap on the 120-column screen: how
     * long it is depends on how the link was closed.) */
    snprintf(want, sizeof want, "Connected to 127.0.0.1:%d as", n.node[1].port);
    term_wait(&t, want, screen, sizeof screen);
    /* Back in the room from node1, perhaps under another nick while node1
     * still holds the old one for the dead node. */
    char re[160];
    snprintf(re, sizeof re, "^:palacct[^!]*![^ ]+ JOIN %s$", room);
    const char *l = it_wait_re(bob, re, 15000);
    if (!l) {
        term_screen(&t, screen, sizeof screen);
        fprintf(stderr, "parlor's screen:\n%s\n", screen);
        it_fail(bob, "parlor did not rejoin %s from node1", room);
    }
    char nick[64];
    snprintf(nick, sizeof nick, "%.*s", (int)strcspn(l + 1, "!"), l + 1);
    term_type(&t, "after the kill");
    term_key(&t, "Enter");
    snprintf(want, sizeof want, ":%s!~palacct@127.0.0.1 PRIVMSG %s :after the kill", nick, room);
    it_expect(bob, want);
    it_send(bob, "WHOIS %s", nick);
    snprintf(want, sizeof want, " 330 palbob %s palacct :is logged in as", nick);
    it_expect(bob, want);
    term_stop(&t);
    it_client_free(bob);
    cx_net_stop(&n);
}
END_TEST

Suite *clusterx_suite(void)
{
    Suite *s = suite_create("clusterx");
    TCase *tc = tcase_create("more over NATS");
    tcase_add_unchecked_fixture(tc, it_suite_pg_up, it_suite_pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_whois_of_a_user_on_the_other_node);
    tcase_add_test(tc, test_invite_to_an_invite_only_room_across_nodes);
    tcase_add_test(tc, test_a_game_with_players_on_different_nodes);
    tcase_add_test(tc, test_history_of_a_conversation_across_nodes_reads_back_from_either);
    tcase_add_test(tc, test_monitor_sees_a_user_on_the_other_node);
    tcase_add_test(tc, test_three_nodes_chat_in_one_room_in_one_order);
    tcase_add_test(tc, test_concurrent_senders_to_two_rooms_keep_one_order_per_room);
    tcase_add_test(tc, test_nats_restart_mid_chat_keeps_members_and_acknowledged_messages);
    tcase_add_test(tc, test_parlor_moves_to_the_next_server_when_its_node_dies);
    tcase_add_test(tc, test_nats_restart_every_message_of_the_gap_is_answered);
    tcase_add_test(tc, test_nats_restart_after_a_long_gap_heals_the_partition);
    suite_add_tcase(s, tc);
    return s;
}
