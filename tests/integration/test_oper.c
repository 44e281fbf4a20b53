/* IRC operators (issue 10): [oper] blocks, `parlord hash-password`, OPER,
 * KILL, WALLOPS, user modes +o/+w, WHOIS 313/338, the oper's KICK anywhere,
 * reload of the blocks, and `parlorctl kill`.  No database: operators work
 * without one.  Two workers; cross-worker cases pick nicks and rooms with
 * it_name_owned_by and connections with it_connect_on_worker. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#define OPER_PW "Oper-Secret-7"

/* The hash `parlord hash-password` prints for `pw` (given on stdin). */
static void hash_of(const char *pw, char *out, size_t cap)
{
    const char *bin = getenv("PARLORD");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "printf '%%s\\n' '%s' | '%s' hash-password", pw,
             bin && *bin ? bin : "bin/parlord");
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen: %s", strerror(errno));
    out[0] = '\0';
    ck_assert_msg(fgets(out, (int)cap, p) != NULL, "hash-password printed nothing");
    ck_assert_int_eq(pclose(p), 0);
    out[strcspn(out, "\n")] = '\0';
    ck_assert_msg(strncmp(out, "$argon2id$", 10) == 0, "not an argon2id hash: %s", out);
}

/* A private directory with parlord.conf. */
struct conf {
    char dir[32];
    char path[64];
};

static void conf_write(struct conf *c, const char *text)
{
    if (!c->dir[0]) {
        snprintf(c->dir, sizeof c->dir, "/tmp/parlor-oper-XXXXXX");
        ck_assert_msg(mkdtemp(c->dir) != NULL, "mkdtemp: %s", strerror(errno));
        snprintf(c->path, sizeof c->path, "%s/parlord.conf", c->dir);
    }
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->path);
    FILE *f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "%s: %s", tmp, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, c->path), 0);
}

static void conf_remove(const struct conf *c)
{
    unlink(c->path);
    rmdir(c->dir);
}

/* Blocks "boss" (any host) and "faraway" (a host no test client has). */
static void conf_with_opers(struct conf *c)
{
    char hash[200], text[1024];
    hash_of(OPER_PW, hash, sizeof hash);
    snprintf(text, sizeof text,
             "flood-lines = 0\n"
             "[oper]\nname = boss\npassword-hash = %s\n"
             "[oper]\nname = faraway\npassword-hash = %s\nhost = *!*@10.9.9.*\n"
             "[limits]\n", hash, hash);
    conf_write(c, text);
}

static void start_with(struct it_server *s, const struct conf *c)
{
    const char *extra[] = { "--config", c->path, NULL };
    it_server_start(s, extra);
}

/* A server with conf_with_opers(); down() stops it and removes the file. */
static void up(struct conf *cf, struct it_server *s)
{
    conf_with_opers(cf);
    start_with(s, cf);
}

static void down(struct conf *cf, struct it_server *s)
{
    it_server_stop(s);
    conf_remove(cf);
}

static void become_oper(struct it_client *c)
{
    it_send(c, "OPER boss %s", OPER_PW);
    it_expect_numeric(c, "381");
    char mode[128];
    snprintf(mode, sizeof mode, "MODE %s :+o", c->nick);
    it_expect(c, mode);
}

/* A registered client on `worker` whose nick is owned by worker `owner`. */
static struct it_client *user_on(const struct it_server *s, int worker, const char *prefix, int owner)
{
    char nick[32];
    it_name_owned_by(prefix, owner, s->nworkers, nick, sizeof nick);
    struct it_client *c = it_connect_on_worker(s, worker);
    it_register(c, nick);
    return c;
}

START_TEST(test_hash_password_refuses_empty_input)
{
    char out[512];
    const char *args[] = { "hash-password", NULL };   /* stdin is /dev/null */
    int st = it_run_parlord(args, out, sizeof out, 10000);
    ck_assert_msg(st > 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0, "exit status %d: %s", st, out);
    ck_assert_msg(strstr(out, "hash-password:") != NULL, "no message: %s", out);
}
END_TEST

START_TEST(test_oper_success_and_each_refusal)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *a = it_connect_registered(&s, "opa");
    it_send(a, "OPER boss");
    it_expect_numeric(a, "461");
    it_send(a, "OPER nobody %s", OPER_PW);
    it_expect_numeric(a, "464");
    it_send(a, "OPER boss wrong-password");
    it_expect_numeric(a, "464");
    struct it_client *b = it_connect_registered(&s, "opb");    /* 3 failures would close a */
    it_send(b, "OPER faraway %s", OPER_PW);
    it_expect_numeric(b, "491");
    it_client_free(b);
    it_send(a, "MODE opa");
    it_expect(a, " 221 opa +");
    ck_assert_msg(!strchr(strstr(a->line, " 221 opa ") + 9, 'o'), "+o before OPER: %s", a->line);
    become_oper(a);
    it_send(a, "MODE opa");
    it_expect(a, " 221 opa +o");
    it_server_expect_log(&s, "failed OPER as 'boss'", 1, IT_TIMEOUT_MS);
    it_server_expect_log(&s, "failed OPER as 'faraway'", 1, IT_TIMEOUT_MS);
    it_server_expect_log(&s, "is now operator 'boss'", 1, IT_TIMEOUT_MS);
    /* MODE -o gives it up. */
    it_send(a, "MODE opa -o");
    it_expect(a, "MODE opa :-o");
    it_expect(a, " 221 opa +");
    it_send(a, "WALLOPS :no longer");
    it_expect_numeric(a, "481");
    it_client_free(a);
    down(&cf, &s);
}
END_TEST

START_TEST(test_three_failed_opers_close_the_connection)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *a = it_connect_registered(&s, "guesser");
    long t0 = it_now_ms();
    it_send(a, "OPER boss guess1");
    it_send(a, "OPER boss guess2");
    it_send(a, "OPER boss guess3");
    it_expect_numeric(a, "464");
    /* The answer waits (1.5 s per attempt), so guesses are slow. */
    ck_assert_msg(it_now_ms() - t0 >= 1000, "failure answered after %ld ms", it_now_ms() - t0);
    it_expect_numeric(a, "464");
    it_expect_numeric(a, "464");
    it_expect_closed(a, "Too many failed OPER attempts", IT_TIMEOUT_MS);
    it_client_free(a);
    down(&cf, &s);
}
END_TEST

/* KILL on the same worker and across workers; a non-operator gets 481. */
START_TEST(test_kill_same_worker_and_cross_worker)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *op = user_on(&s, 0, "killer", 0);
    struct it_client *near = user_on(&s, 0, "near", 1);
    struct it_client *far = user_on(&s, 1, "far", 1);
    struct it_client *witness = user_on(&s, 0, "witness", 0);
    char room[32];
    it_name_owned_by("#killroom", 1, 2, room, sizeof room);
    it_join(witness, room, NULL);
    it_join(far, room, NULL);

    it_send(near, "KILL %s :not allowed", far->nick);
    it_expect_numeric(near, "481");
    become_oper(op);
    it_send(op, "KILL nosuchnick :gone");
    it_expect_numeric(op, "401");

    it_send(op, "KILL %s :same worker", near->nick);
    char want[160];
    snprintf(want, sizeof want, "(Killed (%s (same worker)))", op->nick);
    ck_assert_int_eq(it_expect_closed(near, want, IT_TIMEOUT_MS) >= 1, 1);

    it_send(op, "KILL %s :cross worker", far->nick);
    snprintf(want, sizeof want, "(Killed (%s (cross worker)))", op->nick);
    ck_assert_int_eq(it_expect_closed(far, want, IT_TIMEOUT_MS) >= 1, 1);
    snprintf(want, sizeof want, "QUIT :Killed (%s (cross worker))", op->nick);
    it_expect(witness, want);
    it_server_expect_log(&s, "killed by", 2, IT_TIMEOUT_MS);
    it_client_free(near);
    it_client_free(far);
    it_client_free(witness);
    it_client_free(op);
    down(&cf, &s);
}
END_TEST

/* No WALLOPS line before the PONG of a PING sent after others got it. */
static void expect_no_wallops(struct it_client *c)
{
    it_send(c, "PING :after-wallops");
    for (;;) {
        const char *l = it_next_line(c, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no PONG");
        if (strstr(l, "WALLOPS"))
            it_fail(c, "a -w user got WALLOPS: %s", l);
        if (strstr(l, "PONG") && strstr(l, "after-wallops"))
            return;
    }
}

START_TEST(test_wallops_reaches_plus_w_users_on_every_worker)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *op = user_on(&s, 0, "wallop", 0);
    struct it_client *w0 = user_on(&s, 0, "listen", 0);
    struct it_client *w1 = user_on(&s, 1, "listen", 1);
    struct it_client *quiet = user_on(&s, 1, "quiet", 1);
    /* 004 lists the user modes. */
    it_send(w0, "MODE %s +w", w0->nick);
    char want[128];
    snprintf(want, sizeof want, " 221 %s +w", w0->nick);
    it_expect(w0, want);
    it_send(w1, "MODE %s +w", w1->nick);
    snprintf(want, sizeof want, " 221 %s +w", w1->nick);
    it_expect(w1, want);

    it_send(w0, "WALLOPS :not an oper");
    it_expect_numeric(w0, "481");
    become_oper(op);
    it_send(op, "WALLOPS :server maintenance at noon");
    snprintf(want, sizeof want, ":%s!", op->nick);
    const char *l = it_expect(w0, "WALLOPS :server maintenance at noon");
    ck_assert_msg(strncmp(l, want, strlen(want)) == 0, "WALLOPS source: %s", l);
    it_expect(w1, "WALLOPS :server maintenance at noon");
    expect_no_wallops(quiet);
    expect_no_wallops(op);           /* the oper itself is -w */
    it_client_free(quiet);
    it_client_free(w1);
    it_client_free(w0);
    it_client_free(op);
    down(&cf, &s);
}
END_TEST

/* The IRC side of `parlorctl wall`: an operator's NOTICE $* reaches every
 * user on every worker (+w or not); others get 481. */
START_TEST(test_operator_notice_to_everyone_reaches_both_workers)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *op = user_on(&s, 0, "walloper", 0);
    struct it_client *u0 = user_on(&s, 0, "every", 0);
    struct it_client *u1 = user_on(&s, 1, "every", 1);
    it_send(u0, "PRIVMSG $* :not an oper");
    it_expect_numeric(u0, "481");
    become_oper(op);
    it_send(op, "PRIVMSG $nowhere.example :wrong server");
    it_expect_numeric(op, "402");
    it_send(op, "NOTICE $* :restart at noon");
    char want[128];
    snprintf(want, sizeof want, "^:%s![^ ]+ NOTICE \\$\\* :restart at noon$", op->nick);
    it_expect_re(u0, want);
    it_expect_re(u1, want);
    it_client_free(u1);
    it_client_free(u0);
    it_client_free(op);
    down(&cf, &s);
}
END_TEST

START_TEST(test_welcome_lists_user_modes_i_o_w_and_b)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect(&s);
    it_send(c, "NICK modes");
    it_send(c, "USER modes 0 * :m");
    const char *l = it_expect(c, " 004 modes ");
    ck_assert_msg(strstr(l, " iowB ") != NULL, "004 user modes: %s", l);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* Read a WHOIS reply up to 318; returns whether numeric `num` was in it. */
static bool whois_has(struct it_client *c, const char *nick, const char *num)
{
    it_send(c, "WHOIS %s", nick);
    char want[16];
    snprintf(want, sizeof want, " %s ", num);
    bool seen = false;
    for (;;) {
        const char *l = it_next_line(c, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no end of WHOIS for %s", nick);
        if (strstr(l, want))
            seen = true;
        if (strstr(l, " 318 "))
            return seen;
    }
}

START_TEST(test_whois_shows_operators_to_all_and_addresses_to_operators)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *op = user_on(&s, 0, "watcher", 0);
    struct it_client *u = user_on(&s, 1, "plain", 1);
    ck_assert_msg(!whois_has(u, op->nick, "313"), "313 before OPER");
    become_oper(op);
    ck_assert_msg(whois_has(u, op->nick, "313"), "313 not shown to a user on another worker");
    ck_assert_msg(!whois_has(u, op->nick, "338"), "338 shown to a non-operator");
    ck_assert_msg(!whois_has(u, u->nick, "338"), "338 shown to a non-operator about itself");
    /* The operator sees the real address of a user on the other worker. */
    it_send(op, "WHOIS %s", u->nick);
    char want[256];
    snprintf(want, sizeof want, " 338 %s %s 127.0.0.1 ", op->nick, u->nick);
    it_expect(op, want);
    it_expect(op, " 318 ");
    it_client_free(u);
    it_client_free(op);
    down(&cf, &s);
}
END_TEST

/* An operator kicks in a room it is not in (owned by the other worker). */
START_TEST(test_operator_kicks_in_any_room)
{
    struct conf cf = {0};
    struct it_server s;
    up(&cf, &s);
    struct it_client *op = user_on(&s, 0, "kicker", 0);
    struct it_client *u = user_on(&s, 1, "member", 1);
    char room[32];
    it_name_owned_by("#kickroom", 1, 2, room, sizeof room);
    it_join(u, room, NULL);
    it_send(op, "KICK %s %s :out", room, u->nick);
    it_expect_numeric(op, "442");
    become_oper(op);
    it_send(op, "KICK %s %s :out", room, u->nick);
    char want[128];
    snprintf(want, sizeof want, "KICK %s %s :out", room, u->nick);
    it_expect(u, want);
    it_client_free(u);
    it_client_free(op);
    down(&cf, &s);
}
END_TEST

START_TEST(test_reload_adds_an_oper_block)
{
    struct conf cf = {0};
    conf_write(&cf, "flood-lines = 0\n");
    struct it_server s;
    start_with(&s, &cf);
    struct it_client *a = it_connect_registered(&s, "later");
    it_send(a, "OPER boss %s", OPER_PW);
    it_expect_numeric(a, "464");
    int before = it_server_log_count(&s, "configuration reloaded");
    conf_with_opers(&cf);
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    /* the master's line and one per worker */
    it_server_expect_log(&s, "configuration reloaded", before + 1 + s.nworkers, IT_TIMEOUT_MS);
    become_oper(a);
    it_client_free(a);
    down(&cf, &s);
}
END_TEST

START_TEST(test_parlorctl_kill)
{
    char ctl[600];
    it_parlorctl_path(ctl, sizeof ctl);
    it_require_file(ctl, "bin/parlorctl");
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *v = user_on(&s, 1, "victim", 0);
    char out[1024];
    const char *args[] = { "-s", s.control_path, "kill", v->nick, "spamming", "links", NULL };
    int st = it_run(ctl, args, out, sizeof out, IT_TIMEOUT_MS);
    ck_assert_msg(st == 0, "parlorctl kill: status %d: %s", st, out);
    char want[128];
    snprintf(want, sizeof want, "ok: killed %s", v->nick);
    ck_assert_msg(strstr(out, want) != NULL, "parlorctl kill said: %s", out);
    ck_assert_int_eq(it_expect_closed(v, "(Killed by admin (spamming links))", IT_TIMEOUT_MS) >= 1, 1);
    const char *again[] = { "-s", s.control_path, "kill", v->nick, NULL };
    st = it_run(ctl, again, out, sizeof out, IT_TIMEOUT_MS);
    ck_assert_msg(st != 0 && strstr(out, "no such nick"), "second kill: status %d: %s", st, out);
    it_client_free(v);
    it_server_stop(&s);
}
END_TEST

Suite *oper_suite(void)
{
    Suite *s = suite_create("oper");
    TCase *tc = tcase_create("oper");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hash_password_refuses_empty_input);
    tcase_add_test(tc, test_oper_success_and_each_refusal);
    tcase_add_test(tc, test_three_failed_opers_close_the_connection);
    tcase_add_test(tc, test_kill_same_worker_and_cross_worker);
    tcase_add_test(tc, test_wallops_reaches_plus_w_users_on_every_worker);
    tcase_add_test(tc, test_welcome_lists_user_modes_i_o_w_and_b);
    tcase_add_test(tc, test_operator_notice_to_everyone_reaches_both_workers);
    tcase_add_test(tc, test_whois_shows_operators_to_all_and_addresses_to_operators);
    tcase_add_test(tc, test_operator_kicks_in_any_room);
    tcase_add_test(tc, test_reload_adds_an_oper_block);
    tcase_add_test(tc, test_parlorctl_kill);
    suite_add_tcase(s, tc);
    return s;
}
