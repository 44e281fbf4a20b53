/* Whole-server behaviour: slow clients, worker crashes, shutdown. */
#include "common/config.h"
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void join(struct it_client *c, const char *chan)
{
    it_send(c, "JOIN %s", chan);
    char end[128];
    snprintf(end, sizeof end, " 366 %s %s ", c->nick, chan);
    it_expect(c, end);
}

static void expect_joined(struct it_client *c, const char *nick, const char *chan)
{
    char re[160];
    snprintf(re, sizeof re, "^:%s![^ ]+ JOIN :?%s$", nick, chan);
    it_expect_re(c, re);
}

static bool contains_pid(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* ---- a client that stops reading ---------------------------------------- */

struct listener {
    struct it_client *c;
    int next;          /* the number of the next expected message */
    bool saw_quit;
    char quit[200];    /* sloth's QUIT line as this listener got it */
};

/* Read what a listener has; every "n <i>" must be the next in order. */
static void drain(struct listener *l, int timeout_ms)
{
    const char *line = it_next_line(l->c, timeout_ms);
    while (line) {
        const char *p = strstr(line, " PRIVMSG #flood :n ");
        if (p) {
            int i = atoi(p + 19);
            if (i != l->next)
                it_fail(l->c, "expected message %d, got %d", l->next, i);
            l->next++;
        } else if (strncmp(line, ":sloth!", 7) == 0 && strstr(line, " QUIT")) {
            l->saw_quit = true;
            snprintf(l->quit, sizeof l->quit, "%s", line);
        }
        line = it_next_line(l->c, 0);
    }
    if (l->c->eof)
        it_fail(l->c, "disconnected while reading the flood");
}

START_TEST(test_non_reading_client_is_disconnected_while_others_keep_receiving)
{
    struct it_server s;
    const char *const args[] = { "--sendq", "32768", "--flood-lines", "0", NULL };
    it_server_start(&s, args);

    struct it_client *talker = it_connect_on_worker(&s, 0);
    it_register(talker, "talker");
    struct listener l[2] = { { .c = it_connect_on_worker(&s, 0) },
                             { .c = it_connect_on_worker(&s, 1) } };
    it_register(l[0].c, "ear0");
    it_register(l[1].c, "ear1");
    /* The slow client has a tiny receive buffer, so the server's queue for
     * it fills quickly once it stops reading. */
    struct it_client *slow = it_connect_on_worker_rcvbuf(&s, 1, 1024);
    it_register(slow, "sloth");

    join(talker, "#flood");
    join(l[0].c, "#flood");
    join(l[1].c, "#flood");
    join(slow, "#flood");
    expect_joined(talker, "sloth", "#flood");
    expect_joined(l[1].c, "sloth", "#flood");
    expect_joined(l[0].c, "sloth", "#flood");
    /* From here on, sloth never reads. */

    char pad[361];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    const int window = 64, limit = 30000;
    int sent = 0, after_quit = -1;
    long deadline = it_now_ms() + 30000;
    while (sent < limit) {
        if (l[0].saw_quit && l[1].saw_quit) {
            if (after_quit < 0)
                after_quit = sent;
            if (sent - after_quit >= 200)
                break;
        }
        /* Keep at most `window` messages in flight to the listeners, so
         * they never overflow their own queues. */
        while (sent - l[0].next >= window || sent - l[1].next >= window) {
            if (it_now_ms() > deadline)
                it_fail(l[0].c, "listeners stalled at %d and %d of %d messages",
                        l[0].next, l[1].next, sent);
            drain(&l[0], 5);
            drain(&l[1], 0);
        }
        it_send(talker, "PRIVMSG #flood :n %d %s", sent, pad);
        sent++;
        drain(&l[0], 0);
        drain(&l[1], 0);
    }
    if (after_quit < 0)
        it_fail(l[0].c, "after %d messages of %zu bytes with --sendq 32768, sloth's QUIT "
                "was %sseen by ear0 and %sseen by ear1", sent, sizeof pad + 20,
                l[0].saw_quit ? "" : "not ", l[1].saw_quit ? "" : "not ");
    /* The listeners get every message, in order. */
    deadline = it_now_ms() + IT_TIMEOUT_MS;
    while ((l[0].next < sent || l[1].next < sent) && it_now_ms() < deadline) {
        drain(&l[0], 5);
        drain(&l[1], 0);
    }
    for (int i = 0; i < 2; i++)
        if (l[i].next != sent)
            it_fail(l[i].c, "received %d of %d messages", l[i].next, sent);
    it_expect_alive(talker);

    /* The reason everyone is told is the promised one. */
    for (int i = 0; i < 2; i++)
        ck_assert_msg(strstr(l[i].quit, " QUIT :SendQ exceeded") &&
                      strcmp(strstr(l[i].quit, " QUIT :"), " QUIT :SendQ exceeded") == 0,
                      "listener %d saw sloth leave with '%s', not 'SendQ exceeded'", i, l[i].quit);
    /* sloth's connection is over: what it was sent ends, then EOF.  Its own
     * ERROR line may be cut off with the queue, so it is only reported. */
    slow->auto_pong = false;
    int errors = it_expect_closed(slow, "SendQ exceeded", IT_TIMEOUT_MS);
    fprintf(stderr, "non-reading client: closed after %d messages (ERROR line %s)\n",
            after_quit, errors ? "delivered" : "not delivered");
    ck_assert(it_server_log_contains(&s, "SendQ exceeded"));

    it_client_free(slow);
    it_client_free(l[1].c);
    it_client_free(l[0].c);
    it_client_free(talker);
    it_server_stop(&s);
}
END_TEST

/* ---- a client that floods ---------------------------------------------- */

START_TEST(test_flooding_client_is_throttled_without_losing_lines)
{
    struct it_server s;
    const char *const args[] = { "--flood-lines", "20", "--flood-burst", "10", NULL };
    it_server_start(&s, args);
    struct it_client *flooder = it_connect_on_worker(&s, 0);
    it_register(flooder, "flooder");
    struct it_client *calm = it_connect_on_worker(&s, 0);
    it_register(calm, "calm");
    struct it_client *dest = it_connect_on_worker(&s, 1);
    it_register(dest, "dest");
    /* Let the burst allowance refill after registration. */
    it_sleep_ms(300);

    enum { LINES = 60 };
    static char burst[LINES * 40];
    size_t len = 0;
    for (int i = 0; i < LINES; i++)
        len += (size_t)snprintf(burst + len, sizeof burst - len, "PRIVMSG dest :flood %d\r\n", i);
    long t0 = it_now_ms();
    ck_assert_int_eq(it_send_raw(flooder, burst, len), 0);

    /* A client on the flooder's worker is answered while the flood is still
     * being paced (its lines are not queued behind the flooder's): the PONG
     * comes before the last flood line is delivered.  How quickly is the
     * benchmark's business, not this test's. */
    it_expect_alive(calm);
    int before_pong = 0;
    const char *fl;
    while ((fl = it_next_line(dest, 0)))
        if (strstr(fl, " PRIVMSG dest :flood ")) {
            int got = atoi(strstr(fl, ":flood ") + 7);
            if (got != before_pong)
                it_fail(dest, "flood line %d arrived as number %d", before_pong, got);
            before_pong++;
        }
    ck_assert_msg(before_pong < LINES, "all %d flood lines were delivered before calm's PONG", before_pong);

    /* Every line arrives, in order, but paced: 50 past the burst of 10 at
     * 20 lines/s take about 2.5 s (a lower bound: load only adds to it). */
    for (int i = before_pong; i < LINES; i++) {
        const char *l = it_expect(dest, " PRIVMSG dest :flood ");
        int got = atoi(strstr(l, ":flood ") + 7);
        if (got != i)
            it_fail(dest, "flood line %d arrived as number %d", i, got);
    }
    long took = it_now_ms() - t0;
    ck_assert_msg(took >= 2000, "60 lines passed in %ld ms: not throttled", took);
    ck_assert_msg(!flooder->eof, "the flooder was disconnected");
    it_expect_alive(flooder);

    it_client_free(dest);
    it_client_free(calm);
    it_client_free(flooder);
    it_server_stop(&s);
}
END_TEST

/* ---- SIGKILL of a worker -------------------------------------------------- */

START_TEST(test_killed_worker_is_respawned_and_the_rest_keeps_chatting)
{
    struct it_server s;
    it_server_start(&s, NULL);
    pid_t before[IT_MAX_WORKERS];
    int n = it_server_workers(&s, before, IT_MAX_WORKERS);
    ck_assert_int_eq(n, 2);

    struct it_client *victim = it_connect_on_worker(&s, 0);
    it_register(victim, "victim");
    struct it_client *a = it_connect_on_worker(&s, 1);
    it_register(a, "alpha");
    struct it_client *b = it_connect_on_worker(&s, 1);
    it_register(b, "bravo");
    ck_assert_msg(contains_pid(before, n, victim->worker_pid),
                  "the notice's pid %d is not a worker", (int)victim->worker_pid);
    ck_assert_msg(a->worker_pid != victim->worker_pid, "both workers have one pid");
    /* Rooms whose owner may be either worker. */
    const char *rooms[] = { "#crash1", "#crash2", "#crash3", "#crash4" };
    for (int r = 0; r < 4; r++) {
        join(victim, rooms[r]);
        join(a, rooms[r]);
        join(b, rooms[r]);
        expect_joined(a, "bravo", rooms[r]);
    }

    pid_t dead = victim->worker_pid;
    ck_assert_int_eq(kill(dead, SIGKILL), 0);
    /* Wait for the replacement; the deadline only bounds a hang (how soon
     * the master respawns is its own business: it waits a second when a
     * worker dies young). */
    pid_t after[2];
    it_server_expect_workers_replaced(&s, &dead, 1, after, 2, 10000);
    pid_t fresh = after[0] == a->worker_pid ? after[1] : after[0];
    ck_assert_msg(!contains_pid(before, n, fresh), "no new worker after SIGKILL of worker %d", (int)dead);
    ck_assert_msg(it_proc_alive(a->worker_pid), "the surviving worker died too");

    /* The victim's connection is gone. */
    it_expect_closed(victim, NULL, IT_TIMEOUT_MS);

    /* Clients on the surviving worker keep chatting: in rooms (whichever
     * worker owned them) and privately. */
    for (int r = 0; r < 4; r++) {
        it_send(a, "PRIVMSG %s :after the crash %d", rooms[r], r);
        char re[128];
        snprintf(re, sizeof re, "^:alpha![^ ]+ PRIVMSG %s :after the crash %d$", rooms[r], r);
        it_expect_re(b, re);
    }
    it_send(b, "PRIVMSG alpha :private after the crash");
    it_expect_re(a, "^:bravo![^ ]+ PRIVMSG alpha :private after the crash$");

    /* New clients are served, the first by the new worker (it has the
     * fewest clients), and can talk to the old ones. */
    struct it_client *c = it_connect(&s);
    ck_assert_msg(c->worker_pid == fresh, "new client went to pid %d, not the new worker %d",
                  (int)c->worker_pid, (int)fresh);
    it_register(c, "charlie");
    /* The victim's nick was released with its connection. */
    struct it_client *v2 = it_connect(&s);
    it_register(v2, "victim");
    for (int r = 0; r < 4; r++) {
        join(c, rooms[r]);
        it_send(c, "PRIVMSG %s :newcomer %d", rooms[r], r);
        char re[128];
        snprintf(re, sizeof re, "^:charlie![^ ]+ PRIVMSG %s :newcomer %d$", rooms[r], r);
        it_expect_re(a, re);
        it_expect_re(b, re);
    }
    it_send(c, "PRIVMSG bravo :hello from the new worker");
    it_expect_re(b, "^:charlie![^ ]+ PRIVMSG bravo :hello from the new worker$");
    it_send(a, "PRIVMSG charlie :welcome");
    it_expect_re(c, "^:alpha![^ ]+ PRIVMSG charlie :welcome$");
    /* The room lists no ghost of the victim. */
    it_send(a, "NAMES #crash1");
    const char *names = it_expect(a, " 353 alpha ");
    ck_assert_msg(strstr(names, "charlie") != NULL && strstr(names, "victim") == NULL,
                  "NAMES after the crash: %s", names);

    it_client_free(v2);
    it_client_free(c);
    it_client_free(b);
    it_client_free(a);
    it_client_free(victim);
    it_server_stop(&s);
}
END_TEST

/* ---- SIGTERM ------------------------------------------------------------- */

/* A graceful stop by `sig`: every client gets one ERROR line, the master
 * exits 0 with no worker left, and nothing listens afterwards. */
static void graceful_stop_by(int sig)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = it_connect_on_worker(&s, i % 2);
        char nick[32];
        snprintf(nick, sizeof nick, "term%d", i);
        it_register(c[i], nick);
        join(c[i], "#bye");
    }
    /* One never registered. */
    struct it_client *unreg = it_connect(&s);

    pid_t workers[IT_MAX_WORKERS];
    int n = it_server_workers(&s, workers, IT_MAX_WORKERS);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(kill(s.pid, sig), 0);
    for (int i = 0; i < 5; i++) {
        int errors = it_expect_closed(c[i], "ERROR :", IT_TIMEOUT_MS);
        if (errors != 1)
            it_fail(c[i], "expected one ERROR line before the close, got %d", errors);
    }
    int errors = it_expect_closed(unreg, "ERROR :", IT_TIMEOUT_MS);
    if (errors != 1)
        it_fail(unreg, "expected one ERROR line before the close, got %d", errors);
    it_server_wait_exit(&s, workers, n);

    /* Nothing listens any more. */
    struct it_client *late = it_client_connect(s.port, 0);
    ck_assert_msg(late == NULL && errno == ECONNREFUSED, "port still open after exit");

    it_client_free(unreg);
    for (int i = 0; i < 5; i++)
        it_client_free(c[i]);
}

START_TEST(test_sigterm_sends_error_to_every_client_and_exits_cleanly)
{
    graceful_stop_by(SIGTERM);
}
END_TEST

START_TEST(test_sigint_is_the_same_graceful_stop)
{
    graceful_stop_by(SIGINT);
}
END_TEST

/* ---- systemd readiness ------------------------------------------------------ */

/* Type=notify: READY=1 (with MAINPID) reaches $NOTIFY_SOCKET once the
 * listeners are open and every worker is up. */
START_TEST(test_ready_is_sent_to_notify_socket_once_workers_are_up)
{
    char dir[] = "/tmp/parlor-notify-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%.40s/notify.sock", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    struct it_server s;
    it_server_start(&s, NULL);
    unsetenv("NOTIFY_SOCKET");
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ck_assert_msg(poll(&p, 1, 10000) == 1, "no datagram on NOTIFY_SOCKET within 10 s");
    char msg[256];
    ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
    ck_assert_int_gt(n, 0);
    msg[n] = '\0';
    char want[64];
    snprintf(want, sizeof want, "READY=1\nMAINPID=%d", (int)s.pid);
    ck_assert_str_eq(msg, want);
    /* Sent once, after both workers reported ready. */
    ck_assert_int_eq(it_server_log_count(&s, "ready: 2 workers up"), 1);
    ck_assert_msg(poll(&p, 1, 0) == 0, "a second datagram on NOTIFY_SOCKET");
    struct it_client *c = it_connect_registered(&s, "afterready");
    it_expect_alive(c);
    it_client_free(c);
    it_server_stop(&s);
    close(fd);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- the command line --------------------------------------------------- */

START_TEST(test_bad_command_line_exits_with_status_2_and_a_message)
{
    /* Each with its exact message (stderr and stdout together). */
    static const struct {
        const char *args[4];
        const char *message;
    } bad[] = {
        { { "--no-such-flag", NULL }, "parlord: unknown option '--no-such-flag'\n(see parlord --help)\n" },
        { { "--workers", "zero", NULL },
          "parlord: --workers: expected an integer from 1 to 64, got 'zero'\n(see parlord --help)\n" },
        { { "--workers", "-1", NULL },
          "parlord: --workers: expected an integer from 1 to 64, got '-1'\n(see parlord --help)\n" },
        { { "--listen", "not-an-address", NULL },
          "parlord: --listen: expected HOST:PORT, got 'not-an-address'\n(see parlord --help)\n" },
        { { "--log-level", "loud", NULL },
          "parlord: --log-level: expected debug, info, warn or error, got 'loud'\n(see parlord --help)\n" },
        { { "--workers", NULL }, "parlord: option '--workers' needs a value\n(see parlord --help)\n" },
    };
    char out[8192];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const *args = bad[i].args;
        int status = it_run_parlord(args, out, sizeof out, 5000);
        ck_assert_msg(status != -1, "parlord %s %s did not exit within 5 s", args[0],
                      args[1] ? args[1] : "");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2,
                      "parlord %s %s: expected exit status 2, got %s %d", args[0],
                      args[1] ? args[1] : "", WIFEXITED(status) ? "status" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        ck_assert_str_eq(out, bad[i].message);
    }
    static const char *const help[] = { "--help", NULL };
    int status = it_run_parlord(help, out, sizeof out, 5000);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "parlord --help did not exit 0");
    ck_assert_msg(strstr(out, "--listen") && strstr(out, "--workers") &&
                  strstr(out, "--database"), "--help does not list the flags: %.200s", out);
    static const char *const version[] = { "--version", NULL };
    status = it_run_parlord(version, out, sizeof out, 5000);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "parlord --version did not exit 0");
    ck_assert_str_eq(out, "parlord " PARLOR_VERSION "\n");
}
END_TEST

Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("process");
    tcase_set_timeout(tc, 45);
    tcase_add_test(tc, test_non_reading_client_is_disconnected_while_others_keep_receiving);
    tcase_add_test(tc, test_flooding_client_is_throttled_without_losing_lines);
    tcase_add_test(tc, test_killed_worker_is_respawned_and_the_rest_keeps_chatting);
    tcase_add_test(tc, test_sigterm_sends_error_to_every_client_and_exits_cleanly);
    tcase_add_test(tc, test_sigint_is_the_same_graceful_stop);
    tcase_add_test(tc, test_ready_is_sent_to_notify_socket_once_workers_are_up);
    tcase_add_test(tc, test_bad_command_line_exits_with_status_2_and_a_message);
    suite_add_tcase(s, tc);
    return s;
}
