/* Channels and messages, with members spread over both workers. */
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wait until `c` has seen `nick` join `chan`. */
static void expect_joined(struct it_client *c, const char *nick, const char *chan)
{
    char re[160];
    snprintf(re, sizeof re, "^:%s![^ ]+ JOIN :?%s$", nick, chan);
    it_expect_re(c, re);
}

/* The names of a 353 reply, space-separated, with a space at each end. */
static void names_of(const char *l, char *out, size_t outsz)
{
    const char *t = strstr(l + 1, " :");
    snprintf(out, outsz, " %s ", t ? t + 2 : "");
}

static void free_all(struct it_client **c, int n)
{
    for (int i = 0; i < n; i++)
        it_client_free(c[i]);
}

/* ---- one room, three concurrent senders --------------------------------- */

enum { MEMBERS = 6, SENDERS = 3, PER_SENDER = 200 };

struct seen {
    int code[SENDERS * PER_SENDER];  /* sender * 1000 + number, in arrival order */
    int n;
};

static bool is_sender(int member, const int *senders)
{
    for (int k = 0; k < SENDERS; k++)
        if (senders[k] == member)
            return true;
    return false;
}

/* Record one relayed room message; fail on anything not allowed. */
static void record(struct it_client **m, int who, const int *senders, struct seen *seen,
                   const char *l)
{
    const char *p = strstr(l, " PRIVMSG #race :m ");
    if (!p)
        return;
    int k, i;
    if (sscanf(p, " PRIVMSG #race :m %d %d", &k, &i) != 2 || k < 0 || k >= SENDERS ||
        i < 0 || i >= PER_SENDER)
        it_fail(m[who], "malformed room message: %s", l);
    char src[80];
    snprintf(src, sizeof src, ":%s!", m[senders[k]]->nick);
    if (strncmp(l, src, strlen(src)) != 0)
        it_fail(m[who], "message %d of sender %d has the wrong source: %s", i, k, l);
    if (senders[k] == who)
        it_fail(m[who], "a sender got its own message back: %s", l);
    int max = is_sender(who, senders) ? (SENDERS - 1) * PER_SENDER : SENDERS * PER_SENDER;
    if (seen[who].n >= max)
        it_fail(m[who], "more room messages than were sent (duplicate?): %s", l);
    seen[who].code[seen[who].n++] = k * 1000 + i;
}

START_TEST(test_room_with_concurrent_senders_delivers_every_message_once_in_one_order)
{
    struct it_server s;
    const char *const args[] = { "--flood-lines", "0", "--sendq", "1048576", NULL };
    it_server_start(&s, args);

    struct it_client *m[MEMBERS];
    for (int i = 0; i < MEMBERS; i++) {
        m[i] = it_connect_on_worker(&s, i % 2);
        char nick[32];
        snprintf(nick, sizeof nick, "member%d", i);
        it_register(m[i], nick);
    }
    for (int i = 0; i < MEMBERS; i++)
        it_join(m[i], "#race", NULL);
    /* Every join has reached the room's sequencer once the first member
     * has seen it. */
    for (int i = 1; i < MEMBERS; i++)
        expect_joined(m[0], m[i]->nick, "#race");

    /* Senders on both workers: members 0 and 2 on worker 0, 1 on worker 1. */
    const int senders[SENDERS] = { 0, 1, 2 };
    static char buf[SENDERS][PER_SENDER * 32];
    size_t off[SENDERS][PER_SENDER + 1];
    for (int k = 0; k < SENDERS; k++) {
        size_t len = 0;
        for (int i = 0; i < PER_SENDER; i++) {
            off[k][i] = len;
            len += (size_t)snprintf(buf[k] + len, sizeof buf[k] - len,
                                    "PRIVMSG #race :m %d %d\r\n", k, i);
        }
        off[k][PER_SENDER] = len;
    }
    /* Interleave chunks of 20 lines from the three senders, as fast as the
     * sockets take them. */
    for (int i = 0; i < PER_SENDER; i += 20)
        for (int k = 0; k < SENDERS; k++)
            ck_assert_int_eq(it_send_raw(m[senders[k]], buf[k] + off[k][i],
                                         off[k][i + 20] - off[k][i]), 0);

    static struct seen seen[MEMBERS];
    long deadline = it_now_ms() + 15000;
    for (;;) {
        bool done = true;
        for (int j = 0; j < MEMBERS; j++) {
            const char *l;
            while ((l = it_next_line(m[j], 0)) != NULL)
                record(m, j, senders, seen, l);
            int want = is_sender(j, senders) ? (SENDERS - 1) * PER_SENDER
                                             : SENDERS * PER_SENDER;
            if (m[j]->eof)
                it_fail(m[j], "disconnected after %d of %d room messages", seen[j].n, want);
            done = done && seen[j].n == want;
        }
        if (done)
            break;
        if (it_now_ms() >= deadline) {
            for (int j = 0; j < MEMBERS; j++)
                fprintf(stderr, "member%d received %d room messages\n", j, seen[j].n);
            ck_abort_msg("not every member received every room message within 15 s");
        }
        struct pollfd pfd[MEMBERS];
        for (int j = 0; j < MEMBERS; j++)
            pfd[j] = (struct pollfd){ .fd = m[j]->fd, .events = POLLIN };
        poll(pfd, MEMBERS, 50);
    }
    /* Nothing more may arrive: no duplicates late either. */
    for (int j = 0; j < MEMBERS; j++) {
        const char *l;
        while ((l = it_next_line(m[j], j == 0 ? 300 : 0)) != NULL)
            record(m, j, senders, seen, l);
    }

    /* Each sender's messages arrive exactly once and in the order sent. */
    for (int j = 0; j < MEMBERS; j++)
        for (int k = 0; k < SENDERS; k++) {
            if (senders[k] == j)
                continue;
            int next = 0;
            for (int x = 0; x < seen[j].n; x++) {
                if (seen[j].code[x] / 1000 != k)
                    continue;
                int i = seen[j].code[x] % 1000;
                if (i != next)
                    it_fail(m[j], "from sender %d: expected message %d, got %d "
                            "(lost, duplicated or reordered)", k, next, i);
                next++;
            }
            ck_assert_int_eq(next, PER_SENDER);
        }

    /* One order for the room: every member's sequence is the reference
     * (a member that sent nothing) without the member's own messages. */
    const int ref = 3;
    ck_assert(!is_sender(ref, senders));
    for (int j = 0; j < MEMBERS; j++) {
        int x = 0;
        for (int r = 0; r < seen[ref].n; r++) {
            int code = seen[ref].code[r];
            if (senders[code / 1000] == j)
                continue;
            if (seen[j].code[x] != code)
                it_fail(m[j], "room order differs from member%d at its message %d: "
                        "got m %d %d, member%d had m %d %d", ref, x,
                        seen[j].code[x] / 1000, seen[j].code[x] % 1000, ref,
                        code / 1000, code % 1000);
            x++;
        }
        ck_assert_int_eq(x, seen[j].n);
    }

    free_all(m, MEMBERS);
    it_server_stop(&s);
}
END_TEST

/* ---- private messages --------------------------------------------------- */

START_TEST(test_private_messages_reach_nicks_on_either_worker)
{
    struct it_server s;
    const char *const args[] = { "--flood-lines", "0", NULL };
    it_server_start(&s, args);
    struct it_client *c[3];
    c[0] = it_connect_on_worker(&s, 0);
    it_register(c[0], "ann");
    c[1] = it_connect_on_worker(&s, 1);
    it_register(c[1], "ben");
    c[2] = it_connect_on_worker(&s, 0);
    it_register(c[2], "cat");

    it_send(c[0], "PRIVMSG ben :hello from worker 0");
    it_expect_re(c[1], "^:ann![^ ]+ PRIVMSG ben :hello from worker 0$");
    it_send(c[1], "NOTICE ann :notice from worker 1");
    it_expect_re(c[0], "^:ben![^ ]+ NOTICE ann :notice from worker 1$");
    it_send(c[0], "PRIVMSG cat :same worker");
    it_expect_re(c[2], "^:ann![^ ]+ PRIVMSG cat :same worker$");
    it_send(c[2], "PRIVMSG BEN :upper case target");
    it_expect_re(c[1], "^:cat![^ ]+ PRIVMSG (ben|BEN) :upper case target$");

    /* A burst arrives complete and in order. */
    for (int i = 0; i < 100; i++)
        it_send(c[0], "PRIVMSG ben :burst %d", i);
    for (int i = 0; i < 100; i++) {
        const char *l = it_expect(c[1], " PRIVMSG ben :burst ");
        int got = -1;
        sscanf(strstr(l, ":burst ") + 7, "%d", &got);
        if (got != i)
            it_fail(c[1], "private burst: expected %d, got %d", i, got);
    }

    it_send(c[1], "PRIVMSG nobody :anyone?");
    it_expect_numeric(c[1], "401");

    free_all(c, 3);
    it_server_stop(&s);
}
END_TEST

/* ---- NICK and QUIT fan-out ---------------------------------------------- */

START_TEST(test_nick_change_is_seen_by_channel_members_on_the_other_worker)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = it_connect_on_worker(&s, 0);
    it_register(a, "al");
    struct it_client *b = it_connect_on_worker(&s, 1);
    it_register(b, "bo");
    it_join(a, "#nicks", NULL);
    it_join(b, "#nicks", NULL);
    expect_joined(a, "bo", "#nicks");

    it_send(a, "NICK alvin");
    it_expect_re(a, "^:al![^ ]+ NICK :?alvin$");
    it_expect_re(b, "^:al![^ ]+ NICK :?alvin$");
    snprintf(a->nick, sizeof a->nick, "alvin");

    it_send(b, "PRIVMSG alvin :new name");
    it_expect_re(a, "^:bo![^ ]+ PRIVMSG alvin :new name$");
    it_send(b, "PRIVMSG al :old name");
    it_expect_numeric(b, "401");
    it_send(b, "NAMES #nicks");
    char names[512];
    names_of(it_expect(b, " 353 bo "), names, sizeof names);
    ck_assert_msg(strstr(names, "alvin ") && !strstr(names, "@al ") && !strstr(names, " al "),
                  "NAMES after the change: %s", names);
    it_send(a, "PRIVMSG #nicks :still here");
    it_expect_re(b, "^:alvin![^ ]+ PRIVMSG #nicks :still here$");

    /* The old nick is free for someone else. */
    struct it_client *c = it_connect_on_worker(&s, 1);
    it_register(c, "al");

    it_client_free(c);
    it_client_free(b);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_quit_is_seen_once_by_a_member_sharing_two_channels)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *q = it_connect_on_worker(&s, 0);
    it_register(q, "quitter");
    struct it_client *m = it_connect_on_worker(&s, 1);
    it_register(m, "stayer");
    struct it_client *x = it_connect_on_worker(&s, 0);
    it_register(x, "local");
    it_join(q, "#one", NULL);
    it_join(q, "#two", NULL);
    it_join(m, "#one", NULL);
    it_join(m, "#two", NULL);
    it_join(x, "#two", NULL);
    expect_joined(q, "stayer", "#two");
    expect_joined(q, "local", "#two");

    it_send(q, "QUIT :gone fishing");
    it_expect_closed(q, NULL, IT_TIMEOUT_MS);
    /* The reason may be decorated ("Quit: gone fishing"). */
    int nm = it_count_for(m, " QUIT :", 1000);
    int nx = it_count_for(x, " QUIT :", 1);
    if (nm != 1)
        it_fail(m, "saw the QUIT %d times, expected once", nm);
    if (nx != 1)
        it_fail(x, "saw the QUIT %d times, expected once", nx);
    /* And the quitter is gone from both rooms. */
    it_send(m, "NAMES #one");
    char names[512];
    names_of(it_expect(m, " 353 stayer "), names, sizeof names);
    ck_assert_msg(!strstr(names, "quitter"), "quitter still in #one: %s", names);

    it_client_free(x);
    it_client_free(m);
    it_client_free(q);
    it_server_stop(&s);
}
END_TEST

/* ---- NAMES, TOPIC ----------------------------------------------------- */

START_TEST(test_first_joiner_gets_op_in_names)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = it_connect_on_worker(&s, 0);
    it_register(a, "first");
    struct it_client *b = it_connect_on_worker(&s, 1);
    it_register(b, "second");

    char names[512];
    it_send(a, "JOIN #ops");
    it_expect_re(a, "^:first![^ ]+ JOIN :?#ops$");
    names_of(it_expect(a, " 353 first "), names, sizeof names);
    ck_assert_msg(strstr(names, " @first "), "first joiner not op: %s", names);

    it_send(b, "JOIN #ops");
    names_of(it_expect(b, " 353 second "), names, sizeof names);
    ck_assert_msg(strstr(names, " @first ") && strstr(names, " second ") &&
                  !strstr(names, "@second"), "NAMES for the second joiner: %s", names);
    it_expect(b, " 366 second #ops ");
    expect_joined(a, "second", "#ops");

    it_send(a, "NAMES #ops");
    names_of(it_expect(a, " 353 first "), names, sizeof names);
    ck_assert_msg(strstr(names, " @first ") && strstr(names, " second "),
                  "NAMES from the op: %s", names);

    it_client_free(b);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_topic_set_on_one_worker_is_read_on_the_other)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = it_connect_on_worker(&s, 0);
    it_register(a, "setter");
    struct it_client *b = it_connect_on_worker(&s, 1);
    it_register(b, "reader");
    it_join(a, "#topic", NULL);
    it_join(b, "#topic", NULL);
    expect_joined(a, "reader", "#topic");

    it_send(a, "TOPIC #topic :Hello 세계, welcome");
    it_expect_re(a, "^:setter![^ ]+ TOPIC #topic :Hello 세계, welcome$");
    it_expect_re(b, "^:setter![^ ]+ TOPIC #topic :Hello 세계, welcome$");
    it_send(b, "TOPIC #topic");
    it_expect_re(b, "^:parlor\\.local 332 reader #topic :Hello 세계, welcome$");

    struct it_client *c = it_connect_on_worker(&s, 1);
    it_register(c, "late");
    it_send(c, "JOIN #topic");
    it_expect_re(c, "^:parlor\\.local 332 late #topic :Hello 세계, welcome$");

    it_client_free(c);
    it_client_free(b);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

/* ---- channel errors ----------------------------------------------------- */

START_TEST(test_join_kick_invite_and_mode_errors)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *op = it_connect_on_worker(&s, 0);
    it_register(op, "oper");
    struct it_client *u = it_connect_on_worker(&s, 1);
    it_register(u, "user");

    it_send(u, "JOIN nohash");
    it_expect_numeric(u, "403");

    /* +k: 475 without or with a wrong key, in with the right one. */
    it_join(op, "#keyed", NULL);
    it_send(op, "MODE #keyed +k secret");
    it_expect_re(op, "^:oper![^ ]+ MODE #keyed \\+k :?secret$");
    it_send(u, "JOIN #keyed");
    it_expect_numeric(u, "475");
    it_send(u, "JOIN #keyed wrong");
    it_expect_numeric(u, "475");
    it_join(u, "#keyed", "secret");
    expect_joined(op, "user", "#keyed");

    /* Not an operator: 482 for KICK and MODE. */
    it_send(u, "KICK #keyed oper :no");
    it_expect_numeric(u, "482");
    it_send(u, "MODE #keyed +o user");
    it_expect_numeric(u, "482");
    /* Already there: 443. */
    it_send(op, "INVITE user #keyed");
    it_expect_numeric(op, "443");

    /* +i: 473 until invited (the invite crosses workers). */
    it_join(op, "#inv", NULL);
    it_send(op, "MODE #inv +i");
    it_expect_re(op, "^:oper![^ ]+ MODE #inv :?\\+i$");
    it_send(u, "JOIN #inv");
    it_expect_numeric(u, "473");
    /* Not on the channel: 442 for PART and TOPIC; 441 for kicking them. */
    it_send(u, "PART #inv");
    it_expect_numeric(u, "442");
    it_send(u, "TOPIC #inv :mine");
    it_expect_numeric(u, "442");
    it_send(op, "KICK #inv user");
    it_expect_numeric(op, "441");
    it_send(op, "INVITE user #inv");
    it_expect_numeric(op, "341");
    it_expect_re(u, "^:oper![^ ]+ INVITE user :?#inv$");
    it_join(u, "#inv", NULL);

    /* +l 1: 471. */
    it_join(op, "#lim", NULL);
    it_send(op, "MODE #lim +l 1");
    it_expect_re(op, "^:oper![^ ]+ MODE #lim \\+l :?1$");
    it_send(u, "JOIN #lim");
    it_expect_numeric(u, "471");

    /* The operator can KICK; the kicked member on the other worker sees it. */
    it_send(op, "KICK #keyed user :bye now");
    it_expect_re(u, "^:oper![^ ]+ KICK #keyed user :bye now$");
    it_send(u, "PART #keyed");
    it_expect_numeric(u, "442");

    it_client_free(u);
    it_client_free(op);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_join_several_channels_with_keys_at_once)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *op = it_connect_on_worker(&s, 0);
    it_register(op, "keeper");
    struct it_client *u = it_connect_on_worker(&s, 1);
    it_register(u, "guest");
    it_join(op, "#lock1", NULL);
    it_join(op, "#lock2", NULL);
    it_send(op, "MODE #lock1 +k one");
    it_expect_re(op, "^:keeper![^ ]+ MODE #lock1 \\+k :?one$");
    it_send(op, "MODE #lock2 +k two");
    it_expect_re(op, "^:keeper![^ ]+ MODE #lock2 \\+k :?two$");

    /* The channels may live on different workers, so the three replies
     * may come in any order. */
    it_send(u, "JOIN #lock1,#lock2,#open one,two");
    bool got[3] = { false, false, false };
    static const char *const ends[3] = { " 366 guest #lock1 ", " 366 guest #lock2 ",
                                         " 366 guest #open " };
    for (int n = 0; n < 3; n++) {
        const char *l = it_expect_re(u, "^:parlor\\.local (366|4[0-9][0-9]) ");
        int which = -1;
        for (int i = 0; i < 3; i++)
            if (strstr(l, ends[i]))
                which = i;
        if (which < 0 || got[which])
            it_fail(u, "JOIN of three channels: unexpected reply %s", l);
        got[which] = true;
    }
    expect_joined(op, "guest", "#lock1");
    expect_joined(op, "guest", "#lock2");
    /* One wrong key refuses only that channel. */
    struct it_client *v = it_connect_on_worker(&s, 0);
    it_register(v, "visitor");
    it_send(v, "JOIN #lock1,#lock2 one,nope");
    bool joined = false, refused = false;
    for (int n = 0; n < 2; n++) {
        const char *l = it_expect_re(v, "^:parlor\\.local (366|4[0-9][0-9]) ");
        if (!joined && strstr(l, " 366 visitor #lock1 "))
            joined = true;
        else if (!refused && strstr(l, " 475 visitor #lock2 "))
            refused = true;
        else
            it_fail(v, "JOIN #lock1,#lock2 one,nope: unexpected reply %s", l);
    }

    it_client_free(v);
    it_client_free(u);
    it_client_free(op);
    it_server_stop(&s);
}
END_TEST

/* ---- channel modes: +n +t +m +b and granting +o/+v (issue 14) ------------- */

/* Send `cmd` from c and expect the numeric `num` for it. */
static void expect_refused(struct it_client *c, const char *num, const char *fmt, const char *arg)
{
    it_send(c, fmt, arg);
    it_expect_numeric(c, num);
}

START_TEST(test_modes_n_t_m_b_and_granting_o_v_are_enforced_across_workers)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *op = it_connect_on_worker(&s, 0);
    it_register(op, "modeop");
    struct it_client *usr = it_connect_on_worker(&s, 1);
    it_register(usr, "modeusr");
    struct it_client *out = it_connect_on_worker(&s, 1);
    it_register(out, "modeout");
    it_join(op, "#modes", NULL);
    it_join(usr, "#modes", NULL);
    expect_joined(op, "modeusr", "#modes");

    /* +n (a new channel's default): no messages from outside. */
    expect_refused(out, "404", "PRIVMSG %s :from outside", "#modes");
    /* +t (default): only operators set the topic. */
    expect_refused(usr, "482", "TOPIC %s :mine", "#modes");
    it_send(op, "TOPIC #modes :the op's topic");
    it_expect_re(usr, "^:modeop![^ ]+ TOPIC #modes :the op's topic$");
    it_send(op, "MODE #modes -t");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes -t$");
    it_send(usr, "TOPIC #modes :now mine");
    it_expect_re(op, "^:modeusr![^ ]+ TOPIC #modes :now mine$");
    it_send(op, "MODE #modes -n");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes -n$");
    it_send(out, "PRIVMSG #modes :from outside, allowed now");
    it_expect_re(usr, "^:modeout![^ ]+ PRIVMSG #modes :from outside, allowed now$");

    /* +m: only voiced members and operators speak; +v grants it. */
    it_send(op, "MODE #modes +m");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes \\+m$");
    expect_refused(usr, "404", "PRIVMSG %s :muted", "#modes");
    it_send(op, "MODE #modes +v modeusr");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes \\+v modeusr$");
    it_send(usr, "PRIVMSG #modes :voiced");
    it_expect_re(op, "^:modeusr![^ ]+ PRIVMSG #modes :voiced$");
    it_send(op, "MODE #modes -v modeusr");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes -v modeusr$");
    expect_refused(usr, "404", "PRIVMSG %s :muted again", "#modes");
    it_send(op, "MODE #modes -m");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes -m$");

    /* +b: a banned member cannot speak, a banned nick cannot join. */
    it_send(op, "MODE #modes +b modeusr!*@*");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes \\+b modeusr!\\*@\\*$");
    expect_refused(usr, "404", "PRIVMSG %s :banned", "#modes");
    it_send(op, "MODE #modes +b modeout!*@*");
    it_expect_re(op, "^:modeop![^ ]+ MODE #modes \\+b modeout!\\*@\\*$");
    expect_refused(out, "474", "JOIN %s", "#modes");
    /* Nothing of what was refused reached the operator. */
    it_send(usr, "PRIVMSG modeop :sync");
    const char *l;
    while ((l = it_next_line(op, IT_TIMEOUT_MS)) && !strstr(l, "PRIVMSG modeop :sync"))
        if (strstr(l, " PRIVMSG #modes :muted") || strstr(l, " PRIVMSG #modes :banned") ||
            (strstr(l, " PRIVMSG #modes :from outside") && !strstr(l, "allowed now")))
            it_fail(op, "a refused message was delivered: %s", l);
    ck_assert_ptr_nonnull(l);

    /* +o: the granted operator may set modes and kick; the ban is lifted. */
    it_send(op, "MODE #modes +o modeusr");
    it_expect_re(usr, "^:modeop![^ ]+ MODE #modes \\+o modeusr$");
    it_send(usr, "MODE #modes -b modeusr!*@*");
    it_expect_re(op, "^:modeusr![^ ]+ MODE #modes -b modeusr!\\*@\\*$");
    it_send(usr, "MODE #modes -o modeop");
    it_expect_re(op, "^:modeusr![^ ]+ MODE #modes -o modeop$");
    expect_refused(op, "482", "MODE %s +m", "#modes");
    it_send(usr, "PRIVMSG #modes :op now");
    it_expect_re(op, "^:modeusr![^ ]+ PRIVMSG #modes :op now$");

    it_client_free(out);
    it_client_free(usr);
    it_client_free(op);
    it_server_stop(&s);
}
END_TEST

Suite *channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("channel");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_room_with_concurrent_senders_delivers_every_message_once_in_one_order);
    tcase_add_test(tc, test_private_messages_reach_nicks_on_either_worker);
    tcase_add_test(tc, test_nick_change_is_seen_by_channel_members_on_the_other_worker);
    tcase_add_test(tc, test_quit_is_seen_once_by_a_member_sharing_two_channels);
    tcase_add_test(tc, test_first_joiner_gets_op_in_names);
    tcase_add_test(tc, test_topic_set_on_one_worker_is_read_on_the_other);
    tcase_add_test(tc, test_join_kick_invite_and_mode_errors);
    tcase_add_test(tc, test_join_several_channels_with_keys_at_once);
    tcase_add_test(tc, test_modes_n_t_m_b_and_granting_o_v_are_enforced_across_workers);
    suite_add_tcase(s, tc);
    return s;
}
