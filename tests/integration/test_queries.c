/* Query commands and validation real IRC clients rely on (issue 10): WHO and
 * WHOX, WHOWAS, TIME, LUSERS, USERHOST, USER and MODE parameter checks,
 * secret and private rooms, WHOIS.  Two workers; users and rooms are put on
 * chosen workers (it_connect_on_worker, it_name_owned_by) so that every
 * answer has to cross the mesh. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

/* A registered client on worker `w`. */
static struct it_client *user_on(const struct it_server *s, int w, const char *nick)
{
    struct it_client *c = it_connect_on_worker(s, w);
    it_register(c, nick);
    return c;
}

/* Is `l` the numeric `num`, or one of "376|422"? */
static bool is_numeric(const char *l, const char *nums)
{
    const char *sp = strchr(l, ' ');
    if (!sp || strlen(sp + 1) < 4 || sp[4] != ' ')
        return false;
    for (const char *p = nums; *p; p += p[3] ? 4 : 3)
        if (strncmp(sp + 1, p, 3) == 0)
            return true;
    return false;
}

/* Read replies until the numeric `end` ("315", or "376|422"); returns how
 * many lines contained `needle` (NULL: count nothing) and copies the
 * replies into `all`. */
static int until(struct it_client *c, const char *end, const char *needle, char *all, size_t cap)
{
    int n = 0;
    size_t used = 0;
    if (all && cap)
        all[0] = '\0';
    for (;;) {
        const char *l = it_next_line(c, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no %s", end);
        if (all && used < cap)
            used += (size_t)snprintf(all + used, cap - used, "%s\n", l);
        if (needle && strstr(l, needle))
            n++;
        if (is_numeric(l, end))
            return n;
    }
}

/* A room name whose owner is worker `w`. */
static void room_on(int w, char *out, size_t cap)
{
    it_name_owned_by("#q", w, 2, out, cap);
}

START_TEST(test_who_room_lists_each_member_once_with_flags_across_workers)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    room_on(1, room, sizeof room);
    struct it_client *a = user_on(&s, 0, "wa");
    struct it_client *b = user_on(&s, 1, "wb");
    struct it_client *c = user_on(&s, 0, "wc");
    it_join(a, room, NULL);                       /* first: op */
    it_join(b, room, NULL);
    it_join(c, room, NULL);
    it_send(b, "AWAY :lunch");
    it_expect_numeric(b, "306");
    it_send(a, "MODE %s +v wa", room);
    it_expect(a, " MODE ");
    char all[4096];
    it_send(c, "WHO %s", room);
    ck_assert_int_eq(until(c, "315", " 352 ", all, sizeof all), 3);
    ck_assert_msg(strstr(all, " 352 wc ") && strstr(all, " wa H@ :0 Parlor test wa"), "%s", all);
    ck_assert_msg(strstr(all, " wb G :0 Parlor test wb"), "away flag: %s", all);
    ck_assert_msg(strstr(all, " wc H :0 "), "%s", all);
    char end[64];
    snprintf(end, sizeof end, " 315 wc %s :End of WHO list", room);
    ck_assert_msg(strstr(all, end), "315 with the room: %s", all);
    /* multi-prefix: every prefix of the member. */
    it_send(c, "CAP REQ :multi-prefix");
    it_expect(c, " ACK ");
    it_send(c, "WHO %s", room);
    until(c, "315", NULL, all, sizeof all);
    ck_assert_msg(strstr(all, " wa H@+ :0 "), "multi-prefix: %s", all);
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_who_nick_mask_and_invisible_users)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = user_on(&s, 0, "ma");
    struct it_client *b = user_on(&s, 1, "mb");
    struct it_client *c = user_on(&s, 1, "mc");
    it_send(b, "MODE mb +i");
    it_expect_numeric(b, "221");
    char all[4096];
    it_send(a, "WHO *");                          /* everyone visible, each once */
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 2);
    ck_assert_msg(strstr(all, " mc H :0 ") && strstr(all, " ma H :0 ") && !strstr(all, " mb "),
                  "%s", all);
    ck_assert_msg(strstr(all, " 315 ma * :End of WHO list"), "%s", all);
    it_send(a, "WHO mb");                         /* an exact nick: shown even if +i */
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 1);
    ck_assert_msg(strstr(all, " 352 ma * ~mb 127.0.0.1 parlor.local mb H :0 Parlor test mb"),
                  "%s", all);
    it_send(a, "WHO m?");                         /* a mask: not +i users */
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 2);
    it_send(a, "WHO *!~mc@*");
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 1);
    ck_assert_msg(strstr(all, " mc H "), "%s", all);
    it_send(a, "WHO * o");                        /* no operators */
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 0);
    it_send(a, "WHO nobody");
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 0);
    /* Sharing a room makes an invisible user visible. */
    char room[32];
    room_on(0, room, sizeof room);
    it_join(b, room, NULL);
    it_join(a, room, NULL);
    it_send(a, "WHO *");
    ck_assert_int_eq(until(a, "315", " 352 ", all, sizeof all), 3);
    /* ...and members of a room see its invisible members; others do not. */
    it_send(c, "WHO %s", room);
    ck_assert_int_eq(until(c, "315", " 352 ", all, sizeof all), 1);
    ck_assert_msg(strstr(all, " ma ") && !strstr(all, " mb "), "%s", all);
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_whox_fields_in_standard_order_with_token)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    room_on(1, room, sizeof room);
    struct it_client *a = user_on(&s, 0, "xa");
    struct it_client *b = user_on(&s, 1, "xb");
    it_join(a, room, NULL);
    it_join(b, room, NULL);
    char all[4096];
    it_send(b, "WHO %s %%afhnut,42", room);      /* asked out of order */
    ck_assert_int_eq(until(b, "315", " 354 ", all, sizeof all), 2);
    ck_assert_msg(strstr(all, " 354 xb 42 ~xa 127.0.0.1 xa H@ 0\n"), "%s", all);
    ck_assert_msg(strstr(all, " 354 xb 42 ~xb 127.0.0.1 xb H 0\n"), "%s", all);
    it_send(a, "WHO xb %%tcsdlor,7");
    until(a, "315", NULL, all, sizeof all);
    ck_assert_msg(strstr(all, " 354 xa 7 * parlor.local 0 ") &&
                  strstr(all, " n/a :Parlor test xb\n"), "%s", all);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_whowas_after_quit_and_nick_change_across_workers)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char gone[32], renamed[32];
    it_name_owned_by("gone", 1, 2, gone, sizeof gone);     /* held on 0, owned by 1 */
    it_name_owned_by("old", 0, 2, renamed, sizeof renamed);
    struct it_client *a = user_on(&s, 0, gone);
    struct it_client *b = user_on(&s, 1, renamed);
    struct it_client *c = user_on(&s, 0, "wwc");
    it_send(a, "QUIT :bye");
    it_expect_closed(a, NULL, IT_TIMEOUT_MS);
    it_send(b, "NICK wwnew");
    it_expect(b, " NICK ");
    char all[4096];
    /* The note goes to the nick's owner on its own link: ask until it is there. */
    bool seen = IT_EVENTUALLY(
        (it_send(c, "WHOWAS %s", gone), until(c, "369", " 314 ", all, sizeof all) == 1), 3000);
    ck_assert_msg(seen, "%s", all);
    char want[128];
    snprintf(want, sizeof want, " 314 wwc %s ~%.9s 127.0.0.1 * :Parlor test %s", gone, gone, gone);
    ck_assert_msg(strstr(all, want) && strstr(all, " 312 wwc "), "%s", all);
    seen = IT_EVENTUALLY(
        (it_send(c, "WHOWAS %s 5", renamed), until(c, "369", " 314 ", all, sizeof all) == 1), 3000);
    ck_assert_msg(seen, "%s", all);
    it_send(c, "WHOWAS neverseen");
    until(c, "369", NULL, all, sizeof all);
    ck_assert_msg(strstr(all, " 406 wwc neverseen :") && strstr(all, " 369 wwc neverseen :"),
                  "%s", all);
    it_send(c, "WHOWAS");
    it_expect_numeric(c, "431");
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* Does a LUSERS answer say `want`?  (The answer goes to `all`.) */
static bool lusers_says(struct it_client *c, const char *want, char *all, size_t cap)
{
    it_send(c, "LUSERS");
    until(c, "266", NULL, all, cap);
    return strstr(all, want) != NULL;
}

START_TEST(test_lusers_counts_every_worker_and_comes_with_registration)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char all[8192];
    struct it_client *a = it_connect_on_worker(&s, 0);
    it_send(a, "NICK la");
    it_send(a, "USER la 0 * :Parlor test la");
    until(a, "376|422", NULL, all, sizeof all);
    char *lusers = strstr(all, " 251 la :There are ");
    ck_assert_msg(lusers && strstr(all, " 005 ") < lusers && strstr(lusers, " 266 la "),
                  "LUSERS between ISUPPORT and the MOTD: %s", all);
    ck_assert_msg(strstr(all, " KEYLEN=23 ") && strstr(all, " WHOX ") &&
                  strstr(all, " CHANMODES=b,k,l,imnpstz "), "ISUPPORT: %s", all);
    struct it_client *b = user_on(&s, 1, "lb");
    struct it_client *c = user_on(&s, 1, "lc");
    it_send(b, "MODE lb +i");
    it_expect_numeric(b, "221");
    char room[32];
    room_on(1, room, sizeof room);
    it_join(c, room, NULL);
    struct it_client *u = it_connect_on_worker(&s, 1);    /* not registered */
    ck_assert_msg(IT_EVENTUALLY(lusers_says(a, " 251 la :There are 2 users and 1 invisible on 1 servers",
                                            all, sizeof all), 3000), "%s", all);
    ck_assert_msg(IT_EVENTUALLY(lusers_says(a, " 253 la 1 :", all, sizeof all), 3000), "%s", all);
    ck_assert_msg(strstr(all, " 252 la 0 :") && strstr(all, " 254 la 1 :") &&
                  strstr(all, " 255 la :I have 3 clients") && strstr(all, " 265 la 3 ") &&
                  strstr(all, " 266 la 3 "), "%s", all);
    it_send(a, "TIME");
    it_expect_re(a, " 391 la parlor\\.local :[A-Z][a-z]+day ");
    it_client_free(u);
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_userhost_across_workers_in_the_order_asked)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *a = user_on(&s, 0, "ua");
    struct it_client *b = user_on(&s, 1, "ub");
    it_send(b, "AWAY :out");
    it_expect_numeric(b, "306");
    it_send(a, "USERHOST ub nobody ua");
    it_expect(a, " 302 ua :ub=-~ub@127.0.0.1 ua=+~ua@127.0.0.1");
    it_send(a, "USERHOST nobody");
    it_expect(a, " 302 ua :");
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_user_needs_four_parameters_and_a_realname)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect(&s);
    it_send(c, "NICK ur");
    it_send(c, "USER ur 0 *");
    it_expect(c, " 461 ur USER :");
    it_send(c, "USER ur 0 * :");
    it_expect(c, " 461 ur USER :");
    it_send(c, "USER ur 0 * :Real Name");
    it_expect(c, " 001 ur ");
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_mode_key_and_limit_parameters_are_validated)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32];
    room_on(1, room, sizeof room);
    struct it_client *a = user_on(&s, 0, "ka");
    it_join(a, room, NULL);
    char want[128];
    it_send(a, "MODE %s +k :", room);
    snprintf(want, sizeof want, " 696 ka %s k * :", room);
    it_expect(a, want);
    it_send(a, "MODE %s +k :two words", room);
    it_expect(a, want);
    it_send(a, "MODE %s +k a,b", room);
    snprintf(want, sizeof want, " 696 ka %s k a,b :", room);
    it_expect(a, want);
    it_send(a, "MODE %s +k 123456789012345678901234", room);   /* KEYLEN + 1 */
    snprintf(want, sizeof want, " 696 ka %s k 123456789012345678901234 :", room);
    it_expect(a, want);
    it_send(a, "MODE %s +l abc", room);
    snprintf(want, sizeof want, " 696 ka %s l abc :", room);
    it_expect(a, want);
    it_send(a, "MODE %s +l 0", room);
    snprintf(want, sizeof want, " 696 ka %s l 0 :", room);
    it_expect(a, want);
    it_send(a, "MODE %s +l 5x", room);
    snprintf(want, sizeof want, " 696 ka %s l 5x :", room);
    it_expect(a, want);
    it_send(a, "MODE %s +l", room);
    it_expect(a, " 461 ka MODE :");
    it_send(a, "MODE %s +kl 12345678901234567890123 7", room);   /* KEYLEN exactly */
    snprintf(want, sizeof want, " MODE %s +kl 12345678901234567890123 7", room);
    it_expect(a, want);
    it_client_free(a);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_secret_room_is_hidden_from_non_members_and_private_marked)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[32], priv[32];
    room_on(1, room, sizeof room);
    it_name_owned_by("#p", 0, 2, priv, sizeof priv);
    struct it_client *a = user_on(&s, 0, "sa");
    struct it_client *b = user_on(&s, 1, "sb");
    it_join(a, room, NULL);
    it_join(a, priv, NULL);
    it_send(a, "MODE %s +s", room);
    it_expect(a, " MODE ");
    it_send(a, "MODE %s +p", priv);
    it_expect(a, " MODE ");
    char all[4096], want[128];
    it_send(a, "MODE %s", room);
    snprintf(want, sizeof want, " 324 sa %s +nst", room);
    it_expect(a, want);
    it_send(a, "NAMES %s", room);
    snprintf(want, sizeof want, " 353 sa @ %s :@sa", room);
    it_expect(a, want);
    it_send(b, "NAMES %s", priv);
    snprintf(want, sizeof want, " 353 sb * %s :@sa", priv);
    it_expect(b, want);
    it_expect(b, " 366 ");
    it_send(a, "TOPIC %s :the private topic", priv);
    it_expect(a, " TOPIC ");
    /* b is not in the secret room: it sees nothing of it; of the private
     * room, that it exists and its size, not its name or topic. */
    it_send(b, "LIST");
    until(b, "323", NULL, all, sizeof all);
    ck_assert_msg(!strstr(all, room) && !strstr(all, priv) && !strstr(all, "the private topic") &&
                  strstr(all, " 322 sb * 1 :"), "LIST: %s", all);
    it_send(b, "NAMES %s", room);
    ck_assert_int_eq(until(b, "366", " 353 ", all, sizeof all), 0);
    it_send(b, "WHO %s", room);
    ck_assert_int_eq(until(b, "315", " 352 ", all, sizeof all), 0);
    it_send(b, "WHOIS sa");
    until(b, "318", NULL, all, sizeof all);
    ck_assert_msg(!strstr(all, room) && !strstr(all, priv), "WHOIS: %s", all);
    /* Its members see it everywhere. */
    it_send(a, "LIST");
    until(a, "323", NULL, all, sizeof all);
    ck_assert_msg(strstr(all, room) && strstr(all, "the private topic"), "LIST for a member: %s", all);
    it_send(a, "WHOIS sa");
    until(a, "318", NULL, all, sizeof all);
    ck_assert_msg(strstr(all, room) && strstr(all, priv), "WHOIS for a member: %s", all);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* ---- with PostgreSQL: accounts and stored room modes ---- */

static struct it_pg pg;

static void pg_up(void)
{
    ck_assert_msg(it_pg_start(&pg) == 0, "cannot start PostgreSQL");
}

static void pg_down(void)
{
    it_pg_stop(&pg);
}

START_TEST(test_whois_account_and_secret_mode_kept_by_an_empty_room)
{
    struct it_server s;
    const char *args[] = { "--database", pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(&s, args);
    it_server_expect_log(&s, "store: connected to PostgreSQL", s.nworkers, IT_TIMEOUT_MS);
    char room[32];
    room_on(1, room, sizeof room);
    struct it_client *a = user_on(&s, 0, "acq");
    struct it_client *b = user_on(&s, 1, "bcq");
    it_send(a, "PRIVMSG NickServ :REGISTER Queries-Pass-42");
    it_expect(a, " 900 acq ");
    char all[4096];
    it_send(b, "WHOIS acq");
    until(b, "318", NULL, all, sizeof all);
    ck_assert_msg(strstr(all, " 330 bcq acq acq :is logged in as\n"), "%s", all);
    it_send(b, "WHO acq %%na");
    it_expect(b, " 354 bcq acq acq");
    /* +s is stored with the room: still there once it was empty. */
    it_join(a, room, NULL);
    it_send(a, "MODE %s +s", room);
    it_expect(a, " MODE ");
    it_send(a, "PART %s", room);
    it_expect(a, " PART ");
    it_join(b, room, NULL);
    char want[128];
    it_send(b, "MODE %s", room);
    snprintf(want, sizeof want, " 324 bcq %s +nst", room);
    it_expect(b, want);
    it_send(a, "LIST");
    until(a, "323", NULL, all, sizeof all);
    ck_assert_msg(!strstr(all, room), "LIST: %s", all);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* NAMES of a room you are not in leaves out its invisible (+i) members,
 * also when +i was set after the JOIN and whatever worker they are on;
 * members see everyone. */
START_TEST(test_names_hides_invisible_members_from_outsiders)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char room[64];
    it_name_owned_by("#namesi", 1, 2, room, sizeof room);
    struct it_client *ghost = user_on(&s, 0, "ghost");
    struct it_client *plain = user_on(&s, 0, "plainm");
    struct it_client *out = user_on(&s, 1, "outsider");
    it_join(ghost, room, NULL);
    it_join(plain, room, NULL);
    it_send(ghost, "MODE ghost +i");
    it_expect(ghost, " 221 ghost +i");
    char re[128];
    snprintf(re, sizeof re, " 353 outsider . %s :", room);
    const char *l = NULL;
    /* The change reaches the room's owner on another worker: poll NAMES. */
    bool hidden = IT_EVENTUALLY((it_send(out, "NAMES %s", room), l = it_expect_re(out, re),
                                 !strstr(l, "ghost")), 5000);
    ck_assert_msg(hidden, "an invisible member shown to an outsider: %s", l);
    ck_assert_msg(strstr(l, "plainm"), "a visible member missing: %s", l);
    snprintf(re, sizeof re, " 353 plainm . %s :", room);
    it_send(plain, "NAMES %s", room);
    l = it_expect_re(plain, re);
    ck_assert_msg(strstr(l, "ghost"), "a member does not see the invisible one: %s", l);
    it_send(ghost, "MODE ghost -i");
    it_expect(ghost, " 221 ghost");
    snprintf(re, sizeof re, " 353 outsider . %s :", room);
    bool shown = IT_EVENTUALLY((it_send(out, "NAMES %s", room), l = it_expect_re(out, re),
                                strstr(l, "ghost") != NULL), 5000);
    ck_assert_msg(shown, "visible again, still hidden: %s", l);
    it_client_free(out);
    it_client_free(plain);
    it_client_free(ghost);
    it_server_stop(&s);
}
END_TEST

Suite *queries_suite(void)
{
    Suite *s = suite_create("queries");
    TCase *t = tcase_create("queries");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_who_room_lists_each_member_once_with_flags_across_workers);
    tcase_add_test(t, test_who_nick_mask_and_invisible_users);
    tcase_add_test(t, test_names_hides_invisible_members_from_outsiders);
    tcase_add_test(t, test_whox_fields_in_standard_order_with_token);
    tcase_add_test(t, test_whowas_after_quit_and_nick_change_across_workers);
    tcase_add_test(t, test_lusers_counts_every_worker_and_comes_with_registration);
    tcase_add_test(t, test_userhost_across_workers_in_the_order_asked);
    tcase_add_test(t, test_user_needs_four_parameters_and_a_realname);
    tcase_add_test(t, test_mode_key_and_limit_parameters_are_validated);
    tcase_add_test(t, test_secret_room_is_hidden_from_non_members_and_private_marked);
    suite_add_tcase(s, t);
    TCase *st = tcase_create("queries-store");
    tcase_set_timeout(st, 60);
    tcase_add_unchecked_fixture(st, pg_up, pg_down);
    tcase_add_test(st, test_whois_account_and_secret_mode_kept_by_an_empty_room);
    suite_add_tcase(s, st);
    return s;
}
