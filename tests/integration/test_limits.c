/* Limits that keep one hostile or broken client from hurting everyone
 * (issue 9): parlorctl's output escaping, connections per address and
 * their rate, running out of file descriptors (master and worker), and the
 * control socket's idle timeout, output cap and lock-out.
 *
 * Timing is never asserted by sleeping first: each test polls for the state
 * it expects until a deadline.  The two "does not spin" checks watch the
 * master for a fixed window, because not doing something is only visible
 * over time. */
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

/* Lines of the server log that contain `needle`. */
static int log_count(const struct it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "re");
    ck_assert_msg(f != NULL, "cannot open %s", s->log_path);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) >= 0)
        n += strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return n;
}

/* Wait until the log contains `needle`; fails the test after timeout_ms. */
static void log_wait(const struct it_server *s, const char *needle, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    while (!it_server_log_contains(s, needle)) {
        if (it_now_ms() > deadline) {
            it_server_dump_log(s, 30);
            ck_abort_msg("the server log has no line with \"%s\" after %d ms", needle, timeout_ms);
        }
        it_sleep_ms(20);
    }
}

enum fate { GREETED, REFUSED, VANISHED };

/* Connect and see what happens first: the worker's greeting, an ERROR line,
 * or a close without either.  *out gets the connection when greeted (NULL
 * otherwise); `error` (may be NULL) gets the ERROR line. */
static enum fate try_connect(const struct it_server *s, struct it_client **out,
                             char *error, size_t cap)
{
    *out = NULL;
    struct it_client *c = it_client_connect(s->port, 0);
    ck_assert_msg(c != NULL, "connect: %s", strerror(errno));
    const char *l;
    while ((l = it_next_line(c, IT_TIMEOUT_MS)) != NULL) {
        if (strstr(l, "*** Connected to worker")) {
            *out = c;
            return GREETED;
        }
        if (strncmp(l, "ERROR ", 6) == 0) {
            if (error)
                snprintf(error, cap, "%s", l);
            it_expect_closed(c, NULL, IT_TIMEOUT_MS);
            it_client_free(c);
            return REFUSED;
        }
    }
    if (!c->eof)
        it_fail(c, "neither greeted, refused nor closed within %d ms", IT_TIMEOUT_MS);
    it_client_free(c);
    return VANISHED;
}

/* Connect until one connection is greeted (earlier ones may be refused
 * while the server still counts connections that are being closed). */
static struct it_client *connect_admitted(const struct it_server *s, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    char err[512] = "";
    for (;;) {
        struct it_client *c;
        enum fate f = try_connect(s, &c, err, sizeof err);
        if (f == GREETED)
            return c;
        if (it_now_ms() > deadline)
            ck_abort_msg("no connection admitted within %d ms; last: %s", timeout_ms,
                         f == REFUSED ? err : "closed without a word");
        it_sleep_ms(50);
    }
}

/* The `n` lowest descriptor numbers that are free in process `pid`. */
static void free_fds(pid_t pid, int *out, int n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    bool used[4096] = { false };
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "opendir %s: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < 4096)
            used[fd] = true;
    }
    closedir(d);
    int k = 0;
    for (int fd = 0; fd < 4096 && k < n; fd++)
        if (!used[fd])
            out[k++] = fd;
    ck_assert_int_eq(k, n);
}

/* Set the soft descriptor limit of `pid` (the hard one stays); returns the
 * old soft limit. */
static rlim_t set_soft_nofile(pid_t pid, rlim_t soft)
{
    struct rlimit old, lim;
    ck_assert_msg(prlimit(pid, RLIMIT_NOFILE, NULL, &old) == 0, "prlimit: %s", strerror(errno));
    lim = old;
    lim.rlim_cur = soft;
    ck_assert_msg(prlimit(pid, RLIMIT_NOFILE, &lim, NULL) == 0, "prlimit: %s", strerror(errno));
    return old.rlim_cur;
}

/* CPU time (user + system) of `pid`, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    ck_assert_msg(f != NULL, "open %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    ck_assert_msg(p != NULL, "bad %s", path);
    unsigned long ut = 0, st = 0;
    /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime */
    int got = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    ck_assert_int_eq(got, 2);
    return (long)(ut + st);
}

/* ---- the control socket ------------------------------------------------ */

static int ctl_connect(const struct it_server *s)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_int_lt(strlen(s->control_path), sizeof sa.sun_path);
    memcpy(sa.sun_path, s->control_path, strlen(s->control_path) + 1);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s",
                  s->control_path, strerror(errno));
    return fd;
}

static void ctl_send(int fd, const char *text)
{
    size_t len = strlen(text);
    ck_assert_msg(send(fd, text, len, MSG_NOSIGNAL) == (ssize_t)len, "control send: %s",
                  strerror(errno));
}

/* Read one answer (up to its empty line) into buf; returns its length, or
 * -1 if the server closed the connection first (buf then holds what came). */
static long ctl_answer(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    long deadline = it_now_ms() + timeout_ms;
    buf[0] = '\0';
    for (;;) {
        char *end = strstr(buf, "\n\n");
        if (end)
            return end - buf + 1;
        long left = deadline - it_now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1,
                      "no control answer within %d ms; got: %s", timeout_ms, buf);
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        ck_assert_msg(len < cap - 1, "control answer too long");
    }
}

/* Read until the server closes the connection; returns the byte count. */
static long ctl_drain_to_eof(int fd, int timeout_ms)
{
    long total = 0, deadline = it_now_ms() + timeout_ms;
    char buf[65536];
    for (;;) {
        long left = deadline - it_now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1,
                      "control connection still open after %d ms (%ld bytes read)", timeout_ms, total);
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return total;
        total += n;
    }
}

/* ---- 7: parlorctl escapes what users wrote ----------------------------- */

static void run_ctl(const struct it_server *s, const char *const *cmd, char *out, size_t cap)
{
    char path[600];
    it_parlorctl_path(path, sizeof path);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built (make %s)", path, path);
    const char *args[16] = { "-s", s->control_path };
    int n = 2;
    for (int i = 0; cmd[i] && n < 15; i++)
        args[n++] = cmd[i];
    args[n] = NULL;
    int status = it_run(path, args, out, cap, IT_TIMEOUT_MS);
    ck_assert_msg(status == 0, "parlorctl %s %s failed (status %d): %s", cmd[0],
                  cmd[1] ? cmd[1] : "", status, out);
}

/* No byte that a terminal acts on: C0 but the line ends, DEL, UTF-8 C1. */
static void assert_no_controls(const char *out, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
        bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        ck_assert_msg(!((*p < 0x20 && *p != '\n') || *p == 0x7f || c1),
                      "%s: raw control byte 0x%02x at offset %ld in:\n%s", what,
                      c1 ? p[1] : *p, (long)((const char *)p - out), out);
    }
}

START_TEST(test_parlorctl_escapes_control_characters_in_topics_and_away_texts)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *eve = it_connect_registered(&s, "eve");
    it_send(eve, "JOIN #esc");
    it_expect(eve, " 366 eve #esc ");
    /* IRC formatting (kept by any input filter) and a C1 CSI. */
    it_send(eve, "TOPIC #esc :\x02" "bold\x02 \x03" "4red\x0f \xc2\x9b" "31m tail\\x41");
    it_expect(eve, " TOPIC #esc :");
    /* OSC 52 (clipboard write) and clear screen. */
    it_send(eve, "AWAY :\x1b]52;c;SGVsbG8=\x07 \x1b[2J gone");
    const char *l = it_expect_re(eve, " (306|FAIL|4[0-9][0-9]) ");
    bool away_set = strstr(l, " 306 ") != NULL;

    static char out[65536];
    const char *const channels[] = { "show", "channels", NULL };
    run_ctl(&s, channels, out, sizeof out);
    assert_no_controls(out, "show channels");
    /* The server removes C1 controls from what clients send (client.c);
     * the formatting codes it keeps are C0 and must come out escaped. */
    ck_assert_msg(strstr(out, "\\x02bold\\x02 \\x034red\\x0f 31m tail\\\\x41"),
                  "show channels: the topic is not shown escaped:\n%s", out);

    const char *const channels_json[] = { "--json", "show", "channels", NULL };
    run_ctl(&s, channels_json, out, sizeof out);
    assert_no_controls(out, "--json show channels");
    ck_assert_msg(strstr(out, "\"\\u0002bold\\u0002 \\u00034red\\u000f 31m tail\\\\x41\""),
                  "--json show channels: the topic is not the same JSON string:\n%s", out);

    const char *const client_json[] = { "--json", "show", "client", "eve", NULL };
    run_ctl(&s, client_json, out, sizeof out);
    assert_no_controls(out, "--json show client");
    /* An input filter may strip ESC from away texts; if the server kept it,
     * parlorctl must show it escaped. */
    bool esc_kept = strstr(out, "\\u001b]52;c;") != NULL;
    const char *const client[] = { "show", "client", "eve", NULL };
    run_ctl(&s, client, out, sizeof out);
    assert_no_controls(out, "show client");
    ck_assert_msg(strchr(out, 0x1b) == NULL, "raw ESC in show client");
    if (away_set)
        ck_assert_msg(strstr(out, " gone"), "show client: no away text:\n%s", out);
    if (esc_kept)
        ck_assert_msg(strstr(out, "\\x1b]52;c;SGVsbG8=\\x07 \\x1b[2J gone"),
                      "show client: the away text is not shown escaped:\n%s", out);

    it_client_free(eve);
    it_server_stop(&s);
}
END_TEST

/* ---- 13: connections per address, and their rate ----------------------- */

START_TEST(test_connections_per_address_are_capped_and_the_extra_one_gets_an_error)
{
    struct it_server s;
    const char *const args[] = { "--max-connections-per-ip", "3", "--connect-rate", "0", NULL };
    it_server_start(&s, args);
    struct it_client *c[3];
    const char *nicks[3] = { "cap0", "cap1", "cap2" };
    for (int i = 0; i < 3; i++) {
        c[i] = connect_admitted(&s, IT_TIMEOUT_MS);
        it_register(c[i], nicks[i]);
    }
    for (int i = 0; i < 4; i++) {
        struct it_client *extra;
        char err[512];
        enum fate f = try_connect(&s, &extra, err, sizeof err);
        ck_assert_msg(f == REFUSED, "connection %d over the limit was %s", i,
                      f == GREETED ? "admitted" : "closed without an ERROR line");
        ck_assert_msg(strstr(err, "ERROR :Closing Link: 127.0.0.1 (Too many connections from your address)"),
                      "unexpected refusal: %s", err);
    }
    /* The clients already there are not disturbed. */
    it_send(c[0], "PRIVMSG cap1 :still chatting");
    it_expect(c[1], ":still chatting");
    /* One log line for the four refusals. */
    ck_assert_int_eq(log_count(&s, "Too many connections from your address"), 1);

    /* A closed connection frees its place. */
    it_send(c[2], "QUIT");
    it_expect_closed(c[2], NULL, IT_TIMEOUT_MS);
    it_client_free(c[2]);
    c[2] = connect_admitted(&s, IT_TIMEOUT_MS);
    it_register(c[2], "cap3");
    for (int i = 0; i < 3; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_connection_burst_beyond_the_rate_is_refused_until_the_window_passes)
{
    struct it_server s;
    const char *const args[] = { "--max-connections-per-ip", "0", "--connect-burst", "3",
                                 "--connect-rate", "1", "--connect-period", "4", NULL };
    it_server_start(&s, args);
    /* The startup probe took a token; two are left, three if a slow start
     * earned one back (one per 4 s). */
    int admitted = 0, refused = 0;
    struct it_client *held[12] = { NULL };
    for (int i = 0; i < 12 && !refused; i++) {
        char err[512];
        enum fate f = try_connect(&s, &held[i], err, sizeof err);
        ck_assert_msg(f != VANISHED, "connection %d closed without an ERROR line", i);
        if (f == REFUSED) {
            refused++;
            ck_assert_msg(strstr(err, "Too many new connections from your address"),
                          "unexpected refusal: %s", err);
        } else {
            admitted++;
        }
    }
    ck_assert_msg(refused == 1 && admitted <= 3, "burst: %d admitted before the refusal (%d refused)",
                  admitted, refused);
    /* A token comes back after connect-period / connect-rate seconds. */
    struct it_client *later = connect_admitted(&s, 10000);
    it_register(later, "later");
    for (int i = 0; i < 12; i++)
        it_client_free(held[i]);
    it_client_free(later);
    it_server_stop(&s);
}
END_TEST

/* ---- 8: out of file descriptors ---------------------------------------- */

START_TEST(test_worker_client_cap_follows_the_descriptor_limit_and_capacity_comes_back)
{
    struct it_server s;
    const char *const args[] = { "--workers", "1", "--max-connections-per-ip", "0",
                                 "--connect-rate", "0", NULL };
    it_server_start_nofile(&s, args, 64);
    ck_assert_msg(it_server_log_contains(&s, "each worker takes at most"),
                  "the lowered client cap is not logged");
    /* Fill the server: every connection is greeted or refused with a
     * reason, none disappears. */
    struct it_client *held[64];
    int n = 0;
    char err[512] = "";
    for (;;) {
        ck_assert_msg(n < 64, "64 connections admitted with a descriptor limit of 64");
        struct it_client *c;
        enum fate f = try_connect(&s, &c, err, sizeof err);
        ck_assert_msg(f != VANISHED, "connection %d closed without an ERROR line", n);
        if (f == REFUSED)
            break;
        held[n++] = c;
    }
    ck_assert_msg(n >= 10, "only %d connections before the refusal: %s", n, err);
    ck_assert_msg(strstr(err, "No worker available"), "unexpected refusal: %s", err);
    for (int i = 0; i < n; i++)
        it_client_free(held[i]);
    /* Everything comes back: the same number of clients again. */
    struct it_client *first = connect_admitted(&s, IT_TIMEOUT_MS);
    it_register(first, "back0");
    held[0] = first;
    for (int i = 1; i < n; i++)
        held[i] = connect_admitted(&s, IT_TIMEOUT_MS);
    it_register(held[n - 1], "back1");
    for (int i = 0; i < n; i++)
        it_client_free(held[i]);
    ck_assert_int_le(log_count(&s, "refusing"), 2);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_lost_handover_is_counted_as_closed_and_logged_once)
{
    struct it_server s;
    const char *const args[] = { "--workers", "1", "--max-clients", "4",
                                 "--max-connections-per-ip", "0", "--connect-rate", "0", NULL };
    it_server_start(&s, args);
    pid_t worker;
    ck_assert_int_eq(it_server_workers(&s, &worker, 1), 1);
    /* Room for exactly two more descriptors in the worker. */
    int fds[2];
    free_fds(worker, fds, 2);
    rlim_t old = set_soft_nofile(worker, (rlim_t)fds[1] + 1);
    struct it_client *a = connect_admitted(&s, IT_TIMEOUT_MS);
    struct it_client *b = connect_admitted(&s, IT_TIMEOUT_MS);
    /* The next three sockets cannot be received: each is closed, and the
     * master rests the worker between them. */
    for (int i = 0; i < 3; i++) {
        struct it_client *c;
        enum fate f = try_connect(&s, &c, NULL, 0);
        ck_assert_msg(f == VANISHED, "connection %d at the descriptor limit was %s", i,
                      f == GREETED ? "greeted" : "refused by the master");
    }
    log_wait(&s, "is out of descriptors", IT_TIMEOUT_MS);
    ck_assert_int_eq(log_count(&s, "is out of descriptors"), 1);
    set_soft_nofile(worker, old);
    it_client_free(a);
    it_client_free(b);
    /* With the three lost ones counted as closed, all four places are free
     * (max-clients 4); had they been kept, the fourth would be refused. */
    struct it_client *c[4];
    for (int i = 0; i < 4; i++)
        c[i] = connect_admitted(&s, IT_TIMEOUT_MS);
    it_register(c[3], "after");
    for (int i = 0; i < 4; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_master_out_of_descriptors_pauses_accepting_and_resumes_by_itself)
{
    struct it_server s;
    const char *const args[] = { "--workers", "1", NULL };
    it_server_start(&s, args);
    int fd;
    free_fds(s.pid, &fd, 1);
    rlim_t old = set_soft_nofile(s.pid, (rlim_t)fd);
    struct it_client *waiting = it_client_connect(s.port, 0);
    ck_assert_msg(waiting != NULL, "connect: %s", strerror(errno));
    log_wait(&s, "accept: Too many open files", IT_TIMEOUT_MS);
    /* The master must not retry accept() in a loop: watch it for a second. */
    long t0 = it_now_ms(), cpu0 = cpu_ticks(s.pid);
    ck_assert_ptr_null(it_next_line(waiting, 1000));
    long ms = it_now_ms() - t0, cpu = cpu_ticks(s.pid) - cpu0;
    long hz = sysconf(_SC_CLK_TCK);
    ck_assert_msg(cpu * 1000 < ms * hz / 4, "the master used %ld ticks of CPU in %ld ms", cpu, ms);
    ck_assert_int_le(log_count(&s, "accept: "), 1);
    set_soft_nofile(s.pid, old);
    /* It accepts again on its own: the waiting connection is served. */
    if (!it_wait(waiting, "*** Connected to worker", IT_TIMEOUT_MS))
        it_fail(waiting, "not served after the descriptor limit was raised again");
    it_register(waiting, "patient");
    it_client_free(waiting);
    it_server_stop(&s);
}
END_TEST

/* ---- 14: the control socket -------------------------------------------- */

START_TEST(test_control_connection_idle_past_the_timeout_is_closed)
{
    struct it_server s;
    const char *const args[] = { "--control-idle-timeout", "1", NULL };
    it_server_start(&s, args);
    static char buf[65536];
    int idle = ctl_connect(&s);
    int busy = ctl_connect(&s);
    /* A connection in use stays open past the timeout. */
    long until = it_now_ms() + 2500;
    while (it_now_ms() < until) {
        ctl_send(busy, "help\n");
        ck_assert_msg(ctl_answer(busy, buf, sizeof buf, IT_TIMEOUT_MS) > 0,
                      "a busy control connection was closed: %s", buf);
        it_sleep_ms(300);
    }
    /* The silent one was closed (it has been idle for 2.5 s by now), with
     * a last line saying why. */
    ck_assert_int_gt(ctl_answer(idle, buf, sizeof buf, IT_TIMEOUT_MS), 0);
    ck_assert_msg(strstr(buf, "error: idle for too long"), "idle close said: %s", buf);
    ctl_drain_to_eof(idle, IT_TIMEOUT_MS);
    close(idle);
    close(busy);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_control_connection_leaving_answers_unread_is_closed)
{
    struct it_server s;
    const char *const args[] = { "--control-output-max", "65536", NULL };
    it_server_start(&s, args);
    static char buf[65536];
    int probe = ctl_connect(&s);
    ctl_send(probe, "help\n");
    long one = ctl_answer(probe, buf, sizeof buf, IT_TIMEOUT_MS) + 1;
    ck_assert_int_gt(one, 100);

    /* 3000 commands whose answers are never read. */
    int greedy = ctl_connect(&s);
    static char cmds[3000 * 5 + 1];
    for (int i = 0; i < 3000; i++)
        memcpy(cmds + i * 5, "help\n", 5);
    ck_assert_int_eq(send(greedy, cmds, sizeof cmds - 1, MSG_NOSIGNAL), (ssize_t)sizeof cmds - 1);
    log_wait(&s, "answers unread", IT_TIMEOUT_MS);
    long got = ctl_drain_to_eof(greedy, IT_TIMEOUT_MS);
    ck_assert_msg(got < 3000 * one, "all %ld bytes of answers were queued", got);
    close(greedy);
    /* Others are still served. */
    ctl_send(probe, "help\n");
    ck_assert_int_gt(ctl_answer(probe, buf, sizeof buf, IT_TIMEOUT_MS), 0);
    close(probe);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_idle_control_connections_cannot_lock_out_an_admin)
{
    struct it_server s;
    it_server_start(&s, NULL);
    static char buf[65536];
    int idle[16];
    for (int i = 0; i < 16; i++) {
        idle[i] = ctl_connect(&s);
        ctl_send(idle[i], "help\n");            /* accepted and served, then silent */
        ck_assert_int_gt(ctl_answer(idle[i], buf, sizeof buf, IT_TIMEOUT_MS), 0);
    }
    int admin = ctl_connect(&s);
    ctl_send(admin, "help\n");
    long n = ctl_answer(admin, buf, sizeof buf, IT_TIMEOUT_MS);
    ck_assert_msg(n > 0 && strncmp(buf, "error:", 6) != 0, "the 17th admin was refused: %s", buf);
    /* The one idle the longest made room. */
    ck_assert_int_gt(ctl_answer(idle[0], buf, sizeof buf, IT_TIMEOUT_MS), 0);
    ck_assert_msg(strstr(buf, "idle the longest"), "closing line: %s", buf);
    ctl_drain_to_eof(idle[0], IT_TIMEOUT_MS);
    for (int i = 1; i < 16; i++) {
        ctl_send(idle[i], "help\n");
        ck_assert_msg(ctl_answer(idle[i], buf, sizeof buf, IT_TIMEOUT_MS) > 0,
                      "control connection %d was closed too", i);
    }
    for (int i = 0; i < 16; i++)
        close(idle[i]);
    close(admin);
    it_server_stop(&s);
}
END_TEST

Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_parlorctl_escapes_control_characters_in_topics_and_away_texts);
    tcase_add_test(tc, test_connections_per_address_are_capped_and_the_extra_one_gets_an_error);
    tcase_add_test(tc, test_connection_burst_beyond_the_rate_is_refused_until_the_window_passes);
    tcase_add_test(tc, test_worker_client_cap_follows_the_descriptor_limit_and_capacity_comes_back);
    tcase_add_test(tc, test_lost_handover_is_counted_as_closed_and_logged_once);
    tcase_add_test(tc, test_master_out_of_descriptors_pauses_accepting_and_resumes_by_itself);
    tcase_add_test(tc, test_control_connection_idle_past_the_timeout_is_closed);
    tcase_add_test(tc, test_control_connection_leaving_answers_unread_is_closed);
    tcase_add_test(tc, test_idle_control_connections_cannot_lock_out_an_admin);
    suite_add_tcase(s, tc);
    return s;
}
