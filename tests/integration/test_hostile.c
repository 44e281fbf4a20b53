/* Hostile clients (issue 9): every defect the review reproduced, as a test
 * against a real server with two workers.  Names are picked so that their
 * owner worker (irc_casehash(name) % 2) is the one each repro needs.  Each
 * test also checks that well-behaved clients are still served; under the
 * sanitizer build it_server_stop() fails the test on any ASan/UBSan report
 * in the server's log. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
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
        fprintf(stderr, "hostile suite: cannot start PostgreSQL\n");
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

/* The NAMES of `chan` as " a b @c " (prefixes kept). */
static void names(struct it_client *c, const char *chan, char *out, size_t cap)
{
    it_send(c, "NAMES %s", chan);
    size_t n = 0;
    out[n++] = ' ';
    out[n] = '\0';
    for (;;) {
        const char *l = it_expect_re(c, " (353|366) ");
        if (strstr(l, " 366 "))
            return;
        const char *t = strstr(l + 1, " :");
        if (t)
            n += (size_t)snprintf(out + n, cap - n, "%s ", t + 2);
    }
}

/* Claim `nick` on a fresh connection until the server gives it (a release
 * travels to the nick's owner a moment after a close). */
static struct it_client *take_nick(const struct it_server *s, const char *nick)
{
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        struct it_client *c = it_connect(s);
        snprintf(c->nick, sizeof c->nick, "%s", nick);
        it_send(c, "NICK %s", nick);
        it_send(c, "USER %s 0 * :x", nick);
        const char *l = it_expect_re(c, " (001|433) ");
        if (strstr(l, " 001 ")) {
            it_expect_re(c, " (376|422) ");
            return c;
        }
        it_client_free(c);
        if (it_now_ms() > deadline)
            ck_abort_msg("%s stayed taken: the nick was never released", nick);
        it_sleep_ms(50);
    }
}

/* ---- 1. a nick claimed before registration -------------------------- */

START_TEST(test_nick_claimed_before_registration_is_released_on_close)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *b = user_on(&s, 0, "bystander");
    for (int conn = 0; conn < 2; conn++)
        for (int own = 0; own < 2; own++) {
            char nick[32];
            it_name_owned_by(conn == 0 ? "ghosta" : "ghostb", own, 2, nick, sizeof nick);
            struct it_client *g = it_connect_on_worker(&s, conn);
            it_send(g, "NICK %s", nick);
            it_send(g, "PING claimed");       /* answered once the claim is */
            it_expect(g, "PONG");
            it_client_free(g);                /* gone before USER */
            /* Nobody holds it: a message gets 401 (never reaches freed
             * memory), and the nick can be taken again. */
            it_send(b, "PRIVMSG %s :hello?", nick);
            it_expect_numeric(b, "401");
            struct it_client *t = take_nick(&s, nick);
            it_send(b, "PRIVMSG %s :found you", nick);
            it_expect(t, "PRIVMSG ");
            it_client_free(t);
        }
    it_expect_alive(b);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* ---- 2. JOIN and NICK in one packet --------------------------------- */

START_TEST(test_join_and_nick_in_one_packet_leave_no_ghost_member)
{
    struct it_server s;
    it_server_start(&s, NULL);
    for (int w = 0; w < 2; w++) {
        char room[32], newnick[32], oldnick[32];
        it_name_owned_by(w ? "#roomb" : "#rooma", 1 - w, 2, room, sizeof room);
        it_name_owned_by(w ? "nnb" : "nna", w, 2, newnick, sizeof newnick);
        snprintf(oldnick, sizeof oldnick, "vic%d", w);
        struct it_client *a = user_on(&s, w, oldnick);
        char burst[160];
        snprintf(burst, sizeof burst, "JOIN %s\r\nNICK %s\r\n", room, newnick);
        ck_assert_int_eq(it_send_raw(a, burst, strlen(burst)), 0);
        bool joined = false, renamed = false;    /* in either order */
        while (!joined || !renamed) {
            const char *l = it_expect_re(a, " (366|NICK) ");
            joined = joined || strstr(l, " 366 ");
            renamed = renamed || strstr(l, " NICK ");
        }
        snprintf(a->nick, sizeof a->nick, "%s", newnick);
        struct it_client *b = user_on(&s, 1 - w, w ? "witb" : "wita");
        it_join(b, room, NULL);
        char list[512];
        names(b, room, list, sizeof list);
        char want[64];
        snprintf(want, sizeof want, " @%s ", newnick);
        ck_assert_msg(strstr(list, want) && !strstr(list, oldnick),
                      "the member must show its new nick, once: %s", list);
        it_send(a, "QUIT :bye");
        it_expect_closed(a, NULL, IT_TIMEOUT_MS);
        it_client_free(a);
        it_expect_re(b, " QUIT ");
        names(b, room, list, sizeof list);
        ck_assert_msg(!strstr(list, oldnick) && !strstr(list, newnick), "ghost member left: %s", list);
        /* Whoever takes either name now has no say in the room. */
        struct it_client *c = take_nick(&s, oldnick);
        it_send(c, "TOPIC %s :taken over", room);
        it_expect_numeric(c, "442");
        it_send(c, "KICK %s %s", room, b->nick);
        it_expect_numeric(c, "442");
        it_send(c, "MODE %s +b *!*@*", room);
        it_expect_numeric(c, "482");
        it_client_free(c);
        it_send(b, "PRIVMSG %s :still here", room);
        it_expect_alive(b);
        it_client_free(b);
    }
    it_server_stop(&s);
}
END_TEST

/* ---- 3. JOIN of a stored room, then QUIT, in one packet -------------- */

START_TEST(test_join_of_stored_room_then_quit_in_one_packet)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    for (int own = 0; own < 2; own++) {
        char room[32];
        it_name_owned_by("#stored", own, 2, room, sizeof room);
        struct it_client *x = user_on(&s, own, own ? "maker1" : "maker0");
        it_join(x, room, NULL);
        it_send(x, "TOPIC %s :kept in PostgreSQL", room);
        it_expect(x, " TOPIC ");
        it_send(x, "PART %s", room);
        it_expect(x, " PART ");
        it_client_free(x);
        for (int i = 0; i < 6; i++) {
            struct it_client *y = it_connect_on_worker(&s, i % 2);
            char nick[16];
            snprintf(nick, sizeof nick, "jq%d%d", own, i);
            it_register(y, nick);
            char burst[128];
            snprintf(burst, sizeof burst, "JOIN %s\r\nQUIT :gone\r\n", room);
            ck_assert_int_eq(it_send_raw(y, burst, strlen(burst)), 0);
            it_expect_closed(y, NULL, IT_TIMEOUT_MS);
            it_client_free(y);
        }
        struct it_client *z = user_on(&s, 1 - own, own ? "late1" : "late0");
        it_join(z, room, NULL);
        char list[256];
        names(z, room, list, sizeof list);
        ck_assert_msg(strcmp(list, own ? " late1 " : " late0 ") == 0, "names: %s", list);
        it_expect_alive(z);
        it_client_free(z);
    }
    it_server_stop(&s);
}
END_TEST

/* ---- 5. room access ---------------------------------------------------- */

START_TEST(test_mode_query_shows_the_key_to_members_only)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = user_on(&s, 0, "keeper");
    struct it_client *b = user_on(&s, 1, "outsider");
    it_join(a, "#vault", NULL);
    it_send(a, "MODE #vault +k sesame");
    it_expect(a, "MODE #vault +k sesame");
    it_send(b, "MODE #vault");
    const char *l = it_expect_numeric(b, "324");
    ck_assert_msg(strstr(l, "k") && !strstr(l, "sesame"), "non-member saw: %s", l);
    it_send(a, "MODE #vault");
    l = it_expect_numeric(a, "324");
    ck_assert_msg(strstr(l, "sesame"), "member saw: %s", l);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* NickServ REGISTER on a new connection: the account `nick`. */
static struct it_client *with_account(const struct it_server *s, int worker, const char *nick, bool create)
{
    struct it_client *c = user_on(s, worker, nick);
    it_send(c, "PRIVMSG NickServ :%s Sesame-Street-42", create ? "REGISTER" : "IDENTIFY");
    it_expect_re(c, create ? "is now registered" : " 900 ");
    return c;
}

START_TEST(test_empty_stored_room_keeps_its_protection_and_its_operators)
{
    struct it_server s;
    const char *extra[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    char room[32];
    it_name_owned_by("#fort", 1, 2, room, sizeof room);
    struct it_client *a = with_account(&s, 0, "founder", true);
    it_join(a, room, NULL);
    it_send(a, "MODE %s +ik sesame", room);
    it_expect(a, "MODE ");
    it_send(a, "MODE %s +b stranger!*@*", room);
    it_expect(a, "+b stranger!*@*");
    it_send(a, "QUIT :empty now");
    it_expect_closed(a, NULL, IT_TIMEOUT_MS);
    it_client_free(a);

    /* The first to come back is not let in past +k, +i or the ban. */
    struct it_client *b = user_on(&s, 0, "stranger");
    it_send(b, "JOIN %s", room);
    it_expect_numeric(b, "475");
    it_send(b, "JOIN %s sesame", room);
    it_expect_numeric(b, "473");
    /* The founder's account gets op back, past +i and the key; a stranger
     * never gets op by being first. */
    a = with_account(&s, 1, "founder", false);
    it_join(a, room, NULL);
    char list[256];
    names(a, room, list, sizeof list);
    ck_assert_msg(strcmp(list, " @founder ") == 0, "names: %s", list);
    it_send(a, "MODE %s -i", room);
    it_expect(a, "MODE ");
    it_send(b, "JOIN %s sesame", room);
    it_expect_numeric(b, "474");
    it_send(a, "MODE %s -b stranger!*@*", room);
    it_expect(a, "-b stranger!*@*");
    it_send(a, "PART %s", room);
    it_expect(a, " PART ");
    it_join(b, room, "sesame");
    names(b, room, list, sizeof list);
    ck_assert_msg(strcmp(list, " stranger ") == 0, "a stranger got op: %s", list);
    it_send(b, "MODE %s -k sesame", room);
    it_expect_numeric(b, "482");
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_invites_belong_to_connections_and_never_override_a_ban_unless_from_an_op)
{
    struct it_server s;
    const char *extra[] = { "--max-invites-per-room", "3", NULL };
    it_server_start(&s, extra);
    struct it_client *op = user_on(&s, 0, "chanop");
    struct it_client *member = user_on(&s, 1, "member");
    it_join(op, "#club", NULL);
    it_join(member, "#club", NULL);
    it_send(op, "MODE #club +b eve!*@*");
    it_expect(op, "+b eve!*@*");
    /* An invitation to a nick nobody holds is not kept for a later holder. */
    it_send(op, "MODE #club +i");
    it_expect(op, "MODE #club +i");
    it_send(op, "INVITE later #club");
    it_expect_numeric(op, "401");
    struct it_client *later = user_on(&s, 1, "later");
    it_send(later, "JOIN #club");
    it_expect_numeric(later, "473");
    it_send(op, "MODE #club -i");
    it_expect(op, "MODE #club -i");
    /* A member's invitation does not let a banned user in. */
    struct it_client *eve = user_on(&s, 0, "eve");
    it_send(member, "INVITE eve #club");
    it_expect_numeric(member, "341");
    it_expect(eve, "INVITE eve #club");
    it_send(eve, "JOIN #club");
    it_expect_numeric(eve, "474");
    /* An operator's does (the documented override: +i, +l and bans, not +k). */
    it_send(op, "INVITE eve #club");
    it_expect_numeric(op, "341");
    it_expect(eve, "INVITE eve #club");
    it_join(eve, "#club", NULL);
    /* Invitations per room are capped (3 here). */
    it_send(op, "INVITE later #club");
    it_expect_numeric(op, "FAIL");
    it_client_free(op);
    it_client_free(member);
    it_client_free(later);
    it_client_free(eve);
    it_server_stop(&s);
}
END_TEST

/* ---- 6. CR inside a line, controls ---------------------------------- */

START_TEST(test_cr_inside_a_line_is_refused_and_controls_are_stripped)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = user_on(&s, 0, "forger");
    struct it_client *b = user_on(&s, 1, "victim");
    it_join(a, "#cr", NULL);
    it_join(b, "#cr", NULL);
    const char *evil = "PRIVMSG #cr :hi\r:NickServ!NickServ@services PRIVMSG victim :password?\r\n";
    ck_assert_int_eq(it_send_raw(a, evil, strlen(evil)), 0);
    const char *l = it_expect_numeric(a, "FAIL");
    ck_assert_msg(strstr(l, "INVALID_TEXT"), "%s", l);
    const char *topic = "TOPIC #cr :x\r:evil TOPIC\r\n";
    ck_assert_int_eq(it_send_raw(a, topic, strlen(topic)), 0);
    it_expect_numeric(a, "FAIL");
    it_send(a, "PRIVMSG #cr :clean \x1b]52;c;ZXZpbA==\x07" "end \x02" "bold\x02 \x01" "ACTION waves\x01");
    l = it_expect(b, "PRIVMSG #cr :");
    ck_assert_str_eq(strstr(l, "PRIVMSG"), "PRIVMSG #cr :clean ]52;c;ZXZpbA==end \x02" "bold\x02 \x01" "ACTION waves\x01");
    ck_assert_int_eq(it_count_for(b, "password?", 200), 0);
    it_expect_alive(b);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* ---- 9. frames over the budget are split ---------------------------- */

START_TEST(test_long_list_and_big_room_state_cross_workers_in_several_frames)
{
    /* 600 bytes per frame: LIST and a room's state need many frames. */
    setenv("PARLOR_TEST_FRAME_BUDGET", "600", 1);
    struct it_server s;
    const char *extra[] = { "--flood-lines", "0", "--max-channels", "200", NULL };
    it_server_start(&s, extra);
    struct it_client *a = user_on(&s, 0, "roomer");
    for (int i = 0; i < 120; i += 10) {
        char line[300];
        size_t n = 0;
        for (int k = i; k < i + 10; k++)
            n += (size_t)snprintf(line + n, sizeof line - n, "%s#many%03d", k > i ? "," : "", k);
        it_send(a, "JOIN %s", line);
    }
    int joined = 0;
    while (joined < 120) {
        const char *l = it_next_line(a, IT_TIMEOUT_MS);
        if (!l)
            it_fail(a, "only %d of 120 JOINs answered", joined);
        joined += strstr(l, " 366 ") != NULL;
    }
    struct it_client *b = user_on(&s, 1, "lister");
    it_send(b, "LIST");
    int rooms = 0;
    for (;;) {
        const char *l = it_expect_re(b, " (322|323) ");
        if (strstr(l, " 323 "))
            break;
        rooms += strstr(l, " #many") != NULL;
    }
    ck_assert_int_eq(rooms, 120);
    /* A room with 40 members on worker 0 gets a member on worker 1: its
     * mirror there needs the whole member list. */
    struct it_client *crowd[40], *hold[40];
    char room[32];
    it_name_owned_by("#crowd", 0, 2, room, sizeof room);
    for (int i = 0; i < 40; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "crowd%02d", i);
        hold[i] = it_connect_on_worker(&s, 1);   /* keeps the workers balanced */
        crowd[i] = user_on(&s, 0, nick);
        it_join(crowd[i], room, NULL);
    }
    it_join(b, room, NULL);
    it_send(crowd[7], "NICK renamed07");
    it_expect(b, "NICK :renamed07");    /* only a full mirror knows who crowd07 was */
    ck_assert(!it_server_log_contains(&s, "lost worker"));
    for (int i = 0; i < 40; i++) {
        it_client_free(crowd[i]);
        it_client_free(hold[i]);
    }
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* ---- 10. one MODE line, one ban list -------------------------------- */

START_TEST(test_ban_list_is_answered_once_per_mode_command)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = user_on(&s, 0, "banner");
    it_join(a, "#bans", NULL);
    it_send(a, "MODE #bans +bbb x!*@* y!*@* z!*@*");
    it_expect(a, "MODE #bans +bbb");
    char line[600];
    int n = snprintf(line, sizeof line, "MODE #bans ");
    memset(line + n, 'b', 490);
    line[n + 490] = '\0';
    it_send(a, "%s", line);
    it_send(a, "PING done");
    int entries = 0, ends = 0;
    for (;;) {
        const char *l = it_next_line(a, IT_TIMEOUT_MS);
        if (!l)
            it_fail(a, "no PONG");
        entries += strstr(l, " 367 ") != NULL;
        ends += strstr(l, " 368 ") != NULL;
        if (strstr(l, "PONG"))
            break;
    }
    ck_assert_int_eq(entries, 3);
    ck_assert_int_eq(ends, 1);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

/* ---- 11. the room limit counts JOINs on their way ------------------- */

START_TEST(test_pipelined_joins_cannot_pass_the_room_limit)
{
    struct it_server s;
    const char *extra[] = { "--flood-lines", "0", "--max-channels", "30", NULL };
    it_server_start(&s, extra);
    struct it_client *a = user_on(&s, 0, "hoarder");
    char burst[16384];
    size_t n = 0;
    for (int i = 0; i < 20; i++) {
        n += (size_t)snprintf(burst + n, sizeof burst - n, "JOIN ");
        for (int k = 0; k < 10; k++)
            n += (size_t)snprintf(burst + n, sizeof burst - n, "%s#lim%d", k ? "," : "", i * 10 + k);
        n += (size_t)snprintf(burst + n, sizeof burst - n, "\r\n");
    }
    ck_assert_int_eq(it_send_raw(a, burst, n), 0);
    int joined = 0, refused = 0;
    while (joined + refused < 200) {
        const char *l = it_next_line(a, IT_TIMEOUT_MS);
        if (!l)
            it_fail(a, "%d joined + %d refused of 200", joined, refused);
        joined += strstr(l, " 366 ") != NULL;
        refused += strstr(l, " 405 ") != NULL;
    }
    ck_assert_int_eq(joined, 30);
    ck_assert_int_eq(refused, 170);
    it_expect_alive(a);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

/* ---- 12. limits cut between characters ------------------------------ */

static void expect_valid_utf8(struct it_client *c, const char *l)
{
    if (!utf8_valid(l, strlen(l)))
        it_fail(c, "invalid UTF-8 sent: %s", l);
}

START_TEST(test_length_limits_cut_between_characters)
{
    struct it_server s;
    const char *extra[] = { "--line-length", "4096", NULL };
    it_server_start(&s, extra);
    char text[1400];
    size_t n = 0;
    text[n++] = 'x';                      /* so 3-byte characters straddle every limit */
    while (n + 3 < 1300) {
        memcpy(text + n, "\xea\xb0\x80", 3);   /* 가 */
        n += 3;
    }
    text[n] = '\0';
    struct it_client *a = it_connect_on_worker(&s, 0);
    snprintf(a->nick, sizeof a->nick, "cutter");
    it_send(a, "NICK cutter");
    it_send(a, "USER cutter 0 * :%s", text);
    it_expect_re(a, " (376|422) ");
    struct it_client *b = user_on(&s, 1, "reader");
    it_join(a, "#cut", NULL);
    it_join(b, "#cut", NULL);
    it_send(a, "TOPIC #cut :%s", text);
    expect_valid_utf8(b, it_expect(b, " TOPIC #cut :"));
    it_send(a, "AWAY :%s", text);
    it_expect_numeric(a, "306");
    it_send(b, "WHOIS cutter");
    for (;;) {
        const char *l = it_expect_re(b, " (311|301|318) ");
        expect_valid_utf8(b, l);
        if (strstr(l, " 318 "))
            break;
    }
    it_send(a, "PART #cut :%s", text);
    expect_valid_utf8(b, it_expect(b, " PART #cut"));
    it_join(a, "#cut", NULL);
    it_send(a, "QUIT :%s", text);
    expect_valid_utf8(b, it_expect(b, " QUIT :"));
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* ---- attacks while others chat ------------------------------------------ */

/* Two well-behaved clients exchange `count` numbered messages; every one
 * must arrive, in order. */
static void chat_survives(struct it_client *x, struct it_client *y, const char *room, int count)
{
    for (int i = 0; i < count; i++)
        it_send(x, "PRIVMSG %s :ok %d.", room, i);
    for (int i = 0; i < count; i++) {
        char want[64];
        snprintf(want, sizeof want, "PRIVMSG %s :ok %d.", room, i);
        it_expect(y, want);
    }
}

START_TEST(test_slowloris_huge_lines_and_bad_utf8_leave_others_served)
{
    struct it_server s;
    const char *extra[] = { "--registration-timeout", "2", "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    struct it_client *x = user_on(&s, 0, "steady0");
    struct it_client *y = user_on(&s, 1, "steady1");
    it_join(x, "#calm", NULL);
    it_join(y, "#calm", NULL);
    /* Slowloris: connections that trickle bytes and never register. */
    struct it_client *slow[20];
    for (int i = 0; i < 20; i++) {
        slow[i] = it_connect(&s);
        it_send_raw(slow[i], "NI", 2);
    }
    /* A 64 KiB line and a megabyte without a newline: 417, connection stays. */
    struct it_client *big = user_on(&s, 0, "bigline");
    char *blob = malloc(1 << 20);
    memset(blob, 'A', 1 << 20);
    memcpy(blob, "PRIVMSG #calm :", 15);
    ck_assert_int_eq(it_send_raw(big, blob, 65536), 0);
    ck_assert_int_eq(it_send_raw(big, "\r\n", 2), 0);
    it_expect_numeric(big, "417");
    ck_assert_int_eq(it_send_raw(big, blob, 1 << 20), 0);
    it_expect_numeric(big, "417");
    ck_assert_int_eq(it_send_raw(big, "\r\n", 2), 0);
    it_expect_alive(big);
    free(blob);
    /* Bad UTF-8 is refused, the connection stays. */
    ck_assert_int_eq(it_send_raw(big, "PRIVMSG #calm :\xc3\x28\r\n", 19), 0);
    it_expect_numeric(big, "FAIL");
    chat_survives(x, y, "#calm", 100);
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 20; i++)
            it_send_raw(slow[i], "C", 1);
    /* The trickling connections are closed by the registration timeout. */
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(it_expect_closed(slow[i], "Registration timed out", 6000), 1);
        it_client_free(slow[i]);
    }
    chat_survives(y, x, "#calm", 100);
    it_client_free(big);
    it_client_free(x);
    it_client_free(y);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_pipelined_join_nick_part_quit_races_across_workers)
{
    struct it_server s;
    const char *extra[] = { "--flood-lines", "0", NULL };
    it_server_start(&s, extra);
    struct it_client *x = user_on(&s, 0, "calm0");
    struct it_client *y = user_on(&s, 1, "calm1");
    it_join(x, "#race0", NULL);
    it_join(y, "#race0", NULL);
    for (int round = 0; round < 30; round++) {
        struct it_client *r = it_connect_on_worker(&s, round % 2);
        char burst[512];
        snprintf(burst, sizeof burst,
                 "NICK r%da\r\nUSER r 0 * :r\r\nJOIN #race0,#race1,#race%d\r\nNICK r%db\r\n"
                 "PRIVMSG #race0 :boo\r\nPART #race1\r\nNICK r%dc\r\nJOIN #race1\r\n%s",
                 round, round + 2, round, round, round % 3 ? "QUIT :x\r\n" : "");
        ck_assert_int_eq(it_send_raw(r, burst, strlen(burst)), 0);
        if (round % 3 == 0)
            it_expect_re(r, " 366 ");
        it_client_free(r);
    }
    chat_survives(x, y, "#race0", 50);
    /* Nobody is left in the rooms but the two who stayed. */
    char list[512];
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        names(x, "#race0", list, sizeof list);
        if (strcmp(list, " @calm0 calm1 ") == 0 || strcmp(list, " calm1 @calm0 ") == 0)
            break;
        if (it_now_ms() > deadline)
            it_fail(x, "ghost members in #race0: %s", list);
        it_sleep_ms(50);
    }
    it_client_free(x);
    it_client_free(y);
    it_server_stop(&s);
}
END_TEST

/* ---- 9. a broken mesh link is made again ----------------------------- */

/* The inodes of worker `pid`'s Unix stream sockets (its mesh links; the
 * test server has no database), from /proc/net/unix. */
static int unix_stream_fds(pid_t pid, int *fds, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot read %s", path);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        char link[340], target[64];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) != 1)
            continue;
        FILE *f = fopen("/proc/net/unix", "r");
        ck_assert(f != NULL);
        char line[512];
        while (fgets(line, sizeof line, f)) {
            unsigned type, st;
            unsigned long ino;
            if (sscanf(line, "%*s %*s %*s %*s %x %x %lu", &type, &st, &ino) == 3 && ino == inode &&
                type == 1)
                fds[n++] = atoi(e->d_name);
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

static int log_count(const struct it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    ck_assert(f != NULL);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

START_TEST(test_broken_mesh_link_is_made_again_and_rooms_heal)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    it_name_owned_by("#relink", 0, 2, room, sizeof room);
    struct it_client *a = user_on(&s, 0, "linka");
    struct it_client *b = user_on(&s, 1, "linkb");
    it_join(a, room, NULL);
    it_join(b, room, NULL);
    /* Take a copy of worker 1's end of its link to worker 0 and write a
     * frame with a bad version into it: worker 0 must drop the link as a
     * protocol error (as an oversized frame was). */
    int fds[8];
    int n = unix_stream_fds(b->worker_pid, fds, 8);
    ck_assert_msg(n == 1, "worker 1 has %d unix stream sockets, expected its one mesh link", n);
    int pidfd = (int)syscall(SYS_pidfd_open, b->worker_pid, 0);
    ck_assert_msg(pidfd >= 0, "pidfd_open: %m");
    int link = (int)syscall(SYS_pidfd_getfd, pidfd, fds[0], 0);
    ck_assert_msg(link >= 0, "pidfd_getfd: %m");
    const unsigned char bad[8] = { 8, 0, 0, 0, 99, 0, 0, 0 };
    ck_assert_int_eq(write(link, bad, sizeof bad), (int)sizeof bad);
    close(link);
    close(pidfd);
    /* Both sides lose the link, tell the master, and get a new one. */
    long deadline = it_now_ms() + 3 * IT_TIMEOUT_MS;
    while (log_count(&s, "mesh link to worker 0 (pid") < 2 || log_count(&s, "mesh link to worker 1 (pid") < 2) {
        if (it_now_ms() > deadline) {
            it_server_dump_log(&s, 40);
            ck_abort_msg("the mesh link was not made again");
        }
        it_sleep_ms(50);
    }
    ck_assert(it_server_log_contains(&s, "protocol error"));
    /* The room heals: both members, messages both ways, a rename seen. */
    deadline = it_now_ms() + 3 * IT_TIMEOUT_MS;
    for (;;) {
        it_send(a, "PRIVMSG %s :ping from a", room);
        if (it_wait(b, "ping from a", 500))
            break;
        if (it_now_ms() > deadline)
            it_fail(b, "messages from worker 0 never came back");
    }
    it_send(b, "PRIVMSG %s :pong from b", room);
    it_expect(a, "pong from b");
    it_send(a, "NICK linka2");
    it_expect(b, "NICK :linka2");
    char list[128];
    names(b, room, list, sizeof list);
    ck_assert_msg(strcmp(list, " @linka2 linkb ") == 0 || strcmp(list, " linkb @linka2 ") == 0,
                  "names: %s", list);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_nick_claimed_before_registration_is_released_on_close);
    tcase_add_test(tc, test_join_and_nick_in_one_packet_leave_no_ghost_member);
    tcase_add_test(tc, test_mode_query_shows_the_key_to_members_only);
    tcase_add_test(tc, test_invites_belong_to_connections_and_never_override_a_ban_unless_from_an_op);
    tcase_add_test(tc, test_cr_inside_a_line_is_refused_and_controls_are_stripped);
    tcase_add_test(tc, test_long_list_and_big_room_state_cross_workers_in_several_frames);
    tcase_add_test(tc, test_broken_mesh_link_is_made_again_and_rooms_heal);
    tcase_add_test(tc, test_ban_list_is_answered_once_per_mode_command);
    tcase_add_test(tc, test_pipelined_joins_cannot_pass_the_room_limit);
    tcase_add_test(tc, test_length_limits_cut_between_characters);
    tcase_add_test(tc, test_slowloris_huge_lines_and_bad_utf8_leave_others_served);
    tcase_add_test(tc, test_pipelined_join_nick_part_quit_races_across_workers);
    suite_add_tcase(s, tc);

    tc = tcase_create("with PostgreSQL");
    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_join_of_stored_room_then_quit_in_one_packet);
    tcase_add_test(tc, test_empty_stored_room_keeps_its_protection_and_its_operators);
    suite_add_tcase(s, tc);
    return s;
}
