/* irssi, a real IRC client, under tmux against parlord (issue 10): joining
 * five rooms owned by both workers, every room is synced (irssi's MODE, WHO
 * with WHOX and MODE b queries all answered) within a second of its JOIN
 * ("Join to #room was synced in 0 secs" or "1 secs": irssi counts whole
 * seconds), and irssi chats with a plain client.
 *
 * (0 or 1 s on an idle machine; the bound below allows for load.)
 * What bounds irssi's sync is irssi: its own flood protection sends five
 * commands at once and then one every 2.2 s (cmd_queue_speed), and it asks
 * one room per query, so five rooms cost it fifteen queries and the last one
 * syncs after about 35 s against any server (measured; parlord answers each
 * query in under a millisecond).  As the benchmarks turn flood limits off,
 * the test turns that pacing off (/set cmd_queue_speed 0) and lets irssi
 * ask for several rooms at once (-querychans 10: MODE #a,#b, WHO #a,#b,
 * MODE #a,#b b, which parlord answers room by room), so that its queries
 * also stay within parlord's own default flood limit (a burst of 20 lines,
 * then 5 a second).  README "irssi". */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"

#define IRSSI "/usr/bin/irssi"

struct irssi {
    char session[64];
    char home[96];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void irssi_type(const struct irssi *ir, const char *line)
{
    const char *lit[] = { "tmux", "-L", ir->session, "send-keys", "-t", ir->session, "-l", line, NULL };
    ck_assert_int_eq(run_argv(lit), 0);
    const char *enter[] = { "tmux", "-L", ir->session, "send-keys", "-t", ir->session, "Enter", NULL };
    ck_assert_int_eq(run_argv(enter), 0);
}

/* irssi with a private home (config, logs), connected to `s` as `nick`. */
static void irssi_start(struct irssi *ir, const struct it_server *s, const char *nick)
{
    it_require_file(IRSSI, "irssi (scripts/deps.sh installs it)");
    snprintf(ir->home, sizeof ir->home, "/tmp/parlor-irssi.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(ir->home));
    char path[160], logs[128], config[1024];
    snprintf(logs, sizeof logs, "%s/logs", ir->home);
    ck_assert_int_eq(mkdir(logs, 0700), 0);
    snprintf(config, sizeof config,
             "settings = {\n"
             "  core = {\n"
             "    real_name = \"Irssi Tester\";\n"
             "    user_name = \"%s\";\n"
             "    nick = \"%s\";\n"
             "  };\n"
             "  \"fe-common/core\" = {\n"
             "    autolog = \"yes\";\n"
             "    autolog_path = \"%s/$0.log\";\n"
             "  };\n"
             "};\n",
             nick, nick, logs);
    snprintf(path, sizeof path, "%s/config", ir->home);
    write_file(path, config);
    snprintf(ir->session, sizeof ir->session, "parlor-irssi-%d", (int)getpid());
    char cmd[512], port[16];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(cmd, sizeof cmd, "timeout 120 %s --home=%s -n %s", IRSSI, ir->home, nick);
    const char *argv[] = { "tmux", "-L", ir->session, "new-session", "-d", "-s", ir->session, "-x", "160", "-y", "40",
                           cmd, NULL };
    ck_assert_int_eq(run_argv(argv), 0);
    char line[200];
    irssi_type(ir, "/set cmd_queue_speed 0");
    snprintf(line, sizeof line, "/server add -querychans 10 127.0.0.1 %s", port);
    irssi_type(ir, line);
    snprintf(line, sizeof line, "/connect 127.0.0.1 %s", port);
    irssi_type(ir, line);
}

static void irssi_stop(struct irssi *ir)
{
    const char *argv[] = { "tmux", "-L", ir->session, "kill-session", "-t", ir->session, NULL };
    run_argv(argv);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ir->home);
    const char *rm[] = { "sh", "-c", cmd, NULL };
    run_argv(rm);
}

/* The number N of "Join to ROOM was synced in N secs" in the room's log,
 * or -1 while it is not there. */
static int synced_secs(const struct irssi *ir, const char *room)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/logs/%s.log", ir->home, room);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int secs = -1;
    char want[512];
    snprintf(want, sizeof want, "Join to %s was synced in ", room);
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, want);
        if (p)
            secs = atoi(p + strlen(want));
    }
    fclose(f);
    return secs;
}

static bool log_contains(const struct irssi *ir, const char *room, const char *needle)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/logs/%s.log", ir->home, room);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

START_TEST(test_irssi_syncs_five_rooms_within_a_second_each_and_chats)
{
    struct it_server s;
    it_server_start(&s, NULL);
    char rooms[5][64];
    for (int i = 0; i < 5; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "#irssi%d-", i);
        it_name_owned_by(prefix, i % 2, 2, rooms[i], sizeof rooms[i]);
    }
    /* Someone is already in the last room, on the other worker. */
    struct it_client *bob = it_connect_registered(&s, "bobirc");
    it_join(bob, rooms[4], NULL);

    struct irssi ir;
    irssi_start(&ir, &s, "irt");
    /* Registered: the server sees the nick (WHOIS answers). */
    bool up = false;
    for (long deadline = it_now_ms() + 15000; !up && it_now_ms() < deadline;) {
        it_send(bob, "WHOIS irt");
        const char *l = it_wait_re(bob, " (311|401) bobirc ", 2000);
        up = l && strstr(l, " 311 ");
        if (!up)
            it_sleep_ms(200);
    }
    if (!up)
        it_fail(bob, "irssi did not register");
    char join[400];
    snprintf(join, sizeof join, "/join %s,%s,%s,%s,%s", rooms[0], rooms[1], rooms[2], rooms[3],
             rooms[4]);
    irssi_type(&ir, join);
    /* On an idle machine irssi reports 0 or 1 s (it counts whole seconds).
     * The suites run side by side and the sanitizer build is several times
     * slower, so the bound here is 3 s (5 under ASan): still well below the
     * 6 s of replies out of order, or irssi's own pacing (~35 s). */
    const char *bin = getenv("PARLORD");
    int max_secs = bin && strstr(bin, "build-asan") ? 5 : 3;
    for (int i = 0; i < 5; i++) {
        int secs = -1;
        IT_EVENTUALLY((secs = synced_secs(&ir, rooms[i])) >= 0, 15000);
        ck_assert_msg(secs >= 0, "irssi never synced %s", rooms[i]);
        ck_assert_msg(secs <= max_secs, "%s was synced in %d s", rooms[i], secs);
    }
    /* irssi and a plain client talk in the room they share. */
    char msg[200];
    snprintf(msg, sizeof msg, "/msg %s hello from irssi", rooms[4]);
    irssi_type(&ir, msg);
    it_expect_re(bob, "^:irt![^ ]+ PRIVMSG #irssi4-[0-9]+ :hello from irssi$");
    it_send(bob, "PRIVMSG %s :hello irssi", rooms[4]);
    ck_assert(IT_EVENTUALLY(log_contains(&ir, rooms[4], "hello irssi"), 10000));
    irssi_stop(&ir);
    it_client_free(bob);
    it_server_stop(&s);
}
END_TEST

Suite *irssi_suite(void)
{
    Suite *s = suite_create("irssi");
    TCase *tc = tcase_create("irssi");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_irssi_syncs_five_rooms_within_a_second_each_and_chats);
    suite_add_tcase(s, tc);
    return s;
}
