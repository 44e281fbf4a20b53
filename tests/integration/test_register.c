/* Registration, nicknames and per-connection input rules. */
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <stdio.h>
#include <string.h>

START_TEST(test_registration_sends_welcome_isupport_and_motd)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect(&s);
    it_send(c, "NICK alice");
    it_send(c, "USER alice 0 * :Alice Example");

    bool seen[6] = { false };
    char isupport[4096] = "";
    bool motd_end = false;
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    while (!motd_end) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "registration did not end with 376 or 422");
        char num[4];
        if (sscanf(l, ":parlor.local %3s", num) != 1)
            continue;
        if (strncmp(num, "00", 2) == 0 && num[2] >= '1' && num[2] <= '5') {
            seen[num[2] - '0'] = true;
            char prefix[64];
            snprintf(prefix, sizeof prefix, ":parlor.local %s alice ", num);
            if (strncmp(l, prefix, strlen(prefix)) != 0)
                it_fail(c, "numeric %s not addressed to alice: %s", num, l);
            if (num[2] == '5') {
                size_t n = strlen(isupport);
                snprintf(isupport + n, sizeof isupport - n, "%s ", l);
            }
        } else if (strcmp(num, "376") == 0 || strcmp(num, "422") == 0) {
            motd_end = true;
        } else if (num[0] == '4') {
            it_fail(c, "error during registration: %s", l);
        }
    }
    for (int i = 1; i <= 5; i++)
        if (!seen[i])
            it_fail(c, "registration did not send 00%d", i);
    ck_assert_msg(strstr(isupport, " CASEMAPPING=ascii ") != NULL,
                  "ISUPPORT lacks CASEMAPPING=ascii: %s", isupport);
    ck_assert_msg(strstr(isupport, " CHANTYPES=# ") != NULL,
                  "ISUPPORT lacks CHANTYPES=#: %s", isupport);
    it_expect_alive(c);

    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_korean_nick_registers_and_receives_private_messages)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *min = it_connect_registered(&s, "민영");
    struct it_client *bob = it_connect_on_worker(&s, 1 - min->worker);
    it_register(bob, "bob");

    it_send(bob, "PRIVMSG 민영 :안녕하세요, 민영!");
    it_expect_re(min, "^:bob![^ ]+ PRIVMSG 민영 :안녕하세요, 민영!$");
    it_send(min, "PRIVMSG bob :반가워요");
    it_expect_re(bob, "^:민영![^ ]+ PRIVMSG bob :반가워요$");
    /* The nick is taken now, for the other worker too. */
    struct it_client *dup = it_connect_on_worker(&s, bob->worker);
    it_send(dup, "NICK 민영");
    it_expect_numeric(dup, "433");

    it_client_free(dup);
    it_client_free(bob);
    it_client_free(min);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_duplicate_nick_is_refused_across_workers_ignoring_ascii_case)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *alice = it_connect_registered(&s, "alice");
    struct it_client *other = it_connect_on_worker(&s, 1 - alice->worker);

    it_send(other, "NICK alice");
    it_expect_numeric(other, "433");
    it_send(other, "NICK ALICE");
    it_expect_numeric(other, "433");
    it_send(other, "NICK AlIcE");
    it_expect_numeric(other, "433");
    /* The refused client can still register under another nick. */
    it_register(other, "alice2");
    /* A registered client cannot take it either, on either worker. */
    it_send(other, "NICK Alice");
    it_expect_numeric(other, "433");
    struct it_client *same = it_connect_on_worker(&s, alice->worker);
    it_send(same, "NICK aLICE");
    it_expect_numeric(same, "433");

    /* Once alice quits, the nick is free again (the release travels between
     * workers, so allow a moment). */
    it_send(alice, "QUIT :bye");
    it_expect_closed(alice, NULL, IT_TIMEOUT_MS);
    bool got = false;
    long deadline = it_now_ms() + 10000;     /* bounds a hang only */
    while (!got && it_now_ms() < deadline) {
        it_send(other, "NICK ALICE");
        const char *l = it_wait_re(other, "^:[^ ]+ (433 |NICK )", IT_TIMEOUT_MS);
        if (!l)
            it_fail(other, "no reply to NICK ALICE");
        got = strstr(l, " NICK ") != NULL;
        if (!got)
            it_sleep_ms(10);
    }
    ck_assert_msg(got, "nick alice still taken 10 s after its owner quit");

    it_client_free(same);
    it_client_free(other);
    it_client_free(alice);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_errors_before_and_after_registration)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect(&s);

    it_send(c, "JOIN #room");
    it_expect_numeric(c, "451");
    it_send(c, "PRIVMSG bob :hi");
    it_expect_numeric(c, "451");
    it_send(c, "NICK");
    it_expect_numeric(c, "431");
    it_send(c, "NICK 1abc");
    it_expect_numeric(c, "432");
    it_send(c, "NICK bad,nick");
    it_expect_numeric(c, "432");
    it_send(c, "NICK -dash");
    it_expect_numeric(c, "432");
    it_send(c, "USER onlyone");
    it_expect_numeric(c, "461");

    it_register(c, "carol");
    it_send(c, "USER carol 0 * :Again");
    it_expect_numeric(c, "462");
    it_send(c, "JOIN");
    it_expect_numeric(c, "461");
    it_send(c, "PRIVMSG");
    it_expect_numeric(c, "411");
    it_send(c, "PRIVMSG carol");
    it_expect_numeric(c, "412");
    it_send(c, "PRIVMSG nosuchnick :hello?");
    it_expect_numeric(c, "401");
    it_expect_alive(c);

    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_unknown_command_gets_421_and_connection_stays)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect_registered(&s, "dave");
    it_send(c, "FROBNICATE the widget");
    it_expect_re(c, "^:parlor\\.local 421 dave FROBNICATE :");
    it_expect_alive(c);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_overlong_line_gets_417_and_connection_stays)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect_registered(&s, "erin");
    struct it_client *peer = it_connect_registered(&s, "frank");
    char line[2048];

    /* Exactly 512 bytes with CRLF is allowed. */
    int n = snprintf(line, sizeof line, "PRIVMSG frank :");
    memset(line + n, 'a', (size_t)(510 - n));
    line[510] = '\0';
    it_send(c, "%s", line);
    it_expect_re(peer, "^:erin![^ ]+ PRIVMSG frank :aaaa");

    /* 513 bytes is one too many. */
    n = snprintf(line, sizeof line, "PRIVMSG frank :");
    memset(line + n, 'b', (size_t)(511 - n));
    line[511] = '\0';
    it_send(c, "%s", line);
    it_expect_numeric(c, "417");
    it_expect_alive(c);

    /* Much longer, arriving in pieces, still answered and survived. */
    memset(line, 'c', 2000);
    ck_assert_int_eq(it_send_raw(c, "PRIVMSG frank :", 15), 0);
    ck_assert_int_eq(it_send_raw(c, line, 2000), 0);
    it_sleep_ms(20);
    ck_assert_int_eq(it_send_raw(c, line, 2000), 0);
    ck_assert_int_eq(it_send_raw(c, "\r\n", 2), 0);
    it_expect_numeric(c, "417");
    it_expect_alive(c);

    /* The overlong lines were not delivered: the next thing frank gets is
     * this message. */
    it_send(c, "PRIVMSG frank :after");
    const char *l = it_expect(peer, " PRIVMSG frank ");
    ck_assert_msg(strstr(l, " PRIVMSG frank :after") != NULL,
                  "an overlong line was delivered: %.80s", l);

    it_client_free(peer);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_invalid_utf8_is_refused_and_connection_stays)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect_registered(&s, "gina");
    struct it_client *peer = it_connect_registered(&s, "hank");
    it_send(c, "JOIN #utf");
    it_expect_re(c, "^:parlor\\.local 366 gina #utf ");
    it_send(peer, "JOIN #utf");
    it_expect_re(peer, "^:parlor\\.local 366 hank #utf ");

    static const char bad[] = "PRIVMSG #utf :broken \xff\xfe here\r\n";
    ck_assert_int_eq(it_send_raw(c, bad, sizeof bad - 1), 0);
    it_expect_re(c, "^(:parlor\\.local )?FAIL PRIVMSG INVALID_UTF8 ");
    static const char overlong[] = "PRIVMSG hank :\xc0\xaf\r\n";
    ck_assert_int_eq(it_send_raw(c, overlong, sizeof overlong - 1), 0);
    it_expect_re(c, "^(:parlor\\.local )?FAIL PRIVMSG INVALID_UTF8 ");
    it_expect_alive(c);

    it_send(c, "PRIVMSG #utf :괜찮아요");
    const char *l = it_expect(peer, " PRIVMSG ");
    ck_assert_msg(strstr(l, "PRIVMSG #utf :괜찮아요") != NULL,
                  "invalid UTF-8 was delivered: %s", l);

    it_client_free(peer);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* Connect (once the server has room, see it_connect_when_room) and
 * register as `nick` unless it is NULL. */
static struct it_client *connect_when_room(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect_when_room(s);
    if (nick)
        it_register(c, nick);
    return c;
}

START_TEST(test_client_limit_refuses_extra_connection_with_error)
{
    struct it_server s;
    const char *const args[] = { "--max-clients", "3", NULL };
    it_server_start(&s, args);
    struct it_client *c[3];
    c[0] = connect_when_room(&s, "u0");
    c[1] = connect_when_room(&s, "u1");
    c[2] = connect_when_room(&s, "u2");

    struct it_client *extra = it_client_connect(s.port, 0);
    ck_assert_ptr_nonnull(extra);
    int errors = it_expect_closed(extra, "ERROR", IT_TIMEOUT_MS);
    if (errors != 1)
        it_fail(extra, "expected one ERROR line before the close, got %d", errors);
    for (int i = 0; i < 3; i++)
        it_expect_alive(c[i]);

    /* A freed slot can be used again. */
    it_send(c[0], "QUIT");
    it_expect_closed(c[0], NULL, IT_TIMEOUT_MS);
    it_client_free(c[0]);
    c[0] = connect_when_room(&s, "u3");

    it_client_free(extra);
    for (int i = 0; i < 3; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_registration_timeout_closes_an_idle_connection)
{
    struct it_server s;
    const char *const args[] = { "--registration-timeout", "1", NULL };
    it_server_start(&s, args);
    struct it_client *idle = it_connect(&s);
    struct it_client *ok = it_connect_registered(&s, "ivan");
    long t0 = it_now_ms();
    int errors = it_expect_closed(idle, "ERROR", 4000);
    ck_assert_int_eq(errors, 1);
    ck_assert_int_ge(it_now_ms() - t0, 500);
    it_expect_alive(ok);
    it_client_free(ok);
    it_client_free(idle);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_ping_timeout_closes_a_silent_client)
{
    struct it_server s;
    const char *const args[] = { "--ping-timeout", "1", NULL };
    it_server_start(&s, args);
    struct it_client *silent = it_connect_registered(&s, "judy");
    silent->auto_pong = false;
    struct it_client *alive = it_connect_registered(&s, "kim");
    /* judy never answers the server's PING; kim does (auto_pong), so kim
     * is read all along. */
    long deadline = it_now_ms() + 15000;    /* bounds a hang only */
    int errors = 0;
    while (!silent->eof && it_now_ms() < deadline) {
        const char *l = it_next_line(silent, 50);
        if (l && strstr(l, "ERROR"))
            errors++;
        while (it_next_line(alive, 0))
            ;
    }
    if (!silent->eof)
        it_fail(silent, "still connected 15 s after it stopped answering PING");
    if (errors != 1)
        it_fail(silent, "expected one ERROR line before the close, got %d", errors);
    if (alive->eof)
        it_fail(alive, "closed although it answered every PING");
    it_expect_alive(alive);
    it_client_free(alive);
    it_client_free(silent);
    it_server_stop(&s);
}
END_TEST

/* ---- promised but untested before issue 14 ---------------------------------- */

/* Read until the server closes; returns the last ERROR line seen (static). */
static const char *closing_error(struct it_client *c)
{
    static char last[256];
    last[0] = '\0';
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    while (!c->eof && it_now_ms() < deadline) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (l && strncmp(l, "ERROR ", 6) == 0)
            snprintf(last, sizeof last, "%s", l);
    }
    if (!c->eof)
        it_fail(c, "still open after %d ms", IT_TIMEOUT_MS);
    return last;
}

START_TEST(test_password_is_required_when_set)
{
    struct it_server s;
    const char *const args[] = { "--password", "s3cret", NULL };
    it_server_start(&s, args);
    /* No PASS, then a wrong one: 464 and the connection is closed. */
    struct it_client *none = connect_when_room(&s, NULL);
    it_send(none, "NICK nopass");
    it_send(none, "USER nopass 0 * :x");
    it_expect_re(none, "^:[^ ]+ 464 [^ ]+ :Password incorrect$");
    ck_assert_str_eq(closing_error(none), "ERROR :Closing Link: 127.0.0.1 (Bad password)");
    struct it_client *wrong = connect_when_room(&s, NULL);
    it_send(wrong, "PASS s3cre");
    it_send(wrong, "NICK wrongpass");
    it_send(wrong, "USER wrongpass 0 * :x");
    it_expect_re(wrong, "^:[^ ]+ 464 [^ ]+ :Password incorrect$");
    closing_error(wrong);
    /* The right one registers; PASS afterwards is 462. */
    struct it_client *good = connect_when_room(&s, NULL);
    it_send(good, "PASS s3cret");
    it_register(good, "goodpass");
    it_send(good, "PASS s3cret");
    it_expect_numeric(good, "462");
    it_expect_alive(good);
    it_client_free(none);
    it_client_free(wrong);
    it_client_free(good);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_line_length_is_advertised_and_enforced_with_the_tag_allowance)
{
    struct it_server s;
    const char *const args[] = { "--line-length", "1024", NULL };
    it_server_start(&s, args);
    struct it_client *c = it_connect(&s);
    snprintf(c->nick, sizeof c->nick, "linelen");
    it_send(c, "NICK linelen");
    it_send(c, "USER linelen 0 * :x");
    it_expect_re(c, " 005 linelen .*LINELEN=1024 ");
    it_expect_re(c, " (376|422) ");
    struct it_client *peer = it_connect_registered(&s, "linepeer");
    static char line[9000];
    /* 1024 bytes (the default is 512) with CR LF: accepted and delivered. */
    int n = snprintf(line, sizeof line, "PRIVMSG linepeer :");
    memset(line + n, 'a', (size_t)(1022 - n));
    line[1022] = '\0';
    it_send(c, "%s", line);
    const char *got = it_expect(peer, " PRIVMSG linepeer :");
    ck_assert_uint_eq(strlen(strstr(got, " :") + 2), (size_t)(1022 - n));
    /* 1025: 417, not delivered, the connection stays. */
    memset(line + n, 'b', (size_t)(1023 - n));
    line[1023] = '\0';
    it_send(c, "%s", line);
    it_expect_numeric(c, "417");
    it_expect_alive(c);
    /* Tags come on top: 4094 bytes of client tag data (between '@' and the
     * space, message-tags "Size limit")... */
    line[0] = '@';
    memcpy(line + 1, "+x=", 3);
    memset(line + 4, 't', 4095 - 4);
    snprintf(line + 4095, sizeof line - 4095, " PRIVMSG linepeer :tagged ok");
    it_send(c, "%s", line);
    it_expect_re(peer, " PRIVMSG linepeer :tagged ok$");
    /* ... and no more. */
    memmove(line + 4096, line + 4095, strlen(line + 4095) + 1);
    line[4095] = 't';
    it_send(c, "%s", line);
    it_expect_numeric(c, "417");
    it_expect_alive(c);
    it_send(c, "PRIVMSG linepeer :after");
    got = it_expect(peer, " PRIVMSG linepeer ");
    ck_assert_msg(strstr(got, " PRIVMSG linepeer :after"), "a refused line was delivered: %.80s", got);
    it_client_free(peer);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_max_clients_per_worker_spreads_then_refuses)
{
    struct it_server s;
    const char *const args[] = { "--max-clients-per-worker", "1", NULL };
    it_server_start(&s, args);
    struct it_client *a = connect_when_room(&s, "perw0");
    struct it_client *b = connect_when_room(&s, "perw1");
    ck_assert_int_ne(a->worker, b->worker);
    struct it_client *extra = it_client_connect(s.port, 0);
    ck_assert_ptr_nonnull(extra);
    ck_assert_str_eq(closing_error(extra), "ERROR :Closing Link: 127.0.0.1 (No worker available, try again later)");
    it_expect_alive(a);
    it_expect_alive(b);
    it_client_free(extra);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

Suite *register_suite(void)
{
    Suite *s = suite_create("register");
    TCase *tc = tcase_create("register");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_registration_sends_welcome_isupport_and_motd);
    tcase_add_test(tc, test_korean_nick_registers_and_receives_private_messages);
    tcase_add_test(tc, test_duplicate_nick_is_refused_across_workers_ignoring_ascii_case);
    tcase_add_test(tc, test_errors_before_and_after_registration);
    tcase_add_test(tc, test_unknown_command_gets_421_and_connection_stays);
    tcase_add_test(tc, test_overlong_line_gets_417_and_connection_stays);
    tcase_add_test(tc, test_invalid_utf8_is_refused_and_connection_stays);
    tcase_add_test(tc, test_client_limit_refuses_extra_connection_with_error);
    tcase_add_test(tc, test_password_is_required_when_set);
    tcase_add_test(tc, test_line_length_is_advertised_and_enforced_with_the_tag_allowance);
    tcase_add_test(tc, test_max_clients_per_worker_spreads_then_refuses);
    suite_add_tcase(s, tc);

    TCase *timeouts = tcase_create("timeouts");
    tcase_set_timeout(timeouts, 30);
    tcase_add_test(timeouts, test_registration_timeout_closes_an_idle_connection);
    tcase_add_test(timeouts, test_ping_timeout_closes_a_silent_client);
    suite_add_tcase(s, timeouts);
    return s;
}
