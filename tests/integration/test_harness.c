/* The harness's own parts that need no server: ports, /proc, stopping
 * processes, and the client's line handling against a fake server. */
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static bool contains_pid(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

START_TEST(test_free_port_can_be_bound_on_loopback)
{
    int port = it_free_port();
    ck_assert_int_gt(port, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
}
END_TEST

START_TEST(test_proc_children_lists_a_child_until_it_is_stopped)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        /* Check's SIGTERM handler (inherited) would signal the test. */
        signal(SIGTERM, SIG_DFL);
        (void)!write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char x;
    ck_assert_int_eq(read(ready[0], &x, 1), 1);
    close(ready[0]);
    close(ready[1]);
    pid_t pids[16];
    int n = it_proc_children(getpid(), pids, 16);
    ck_assert_int_ge(n, 1);
    ck_assert(contains_pid(pids, n, child));
    ck_assert(it_proc_alive(child));

    int status;
    bool killed;
    ck_assert_int_eq(it_proc_stop(child, 2000, &status, &killed), 0);
    ck_assert(!killed);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    n = it_proc_children(getpid(), pids, 16);
    ck_assert(!contains_pid(pids, n, child));
    ck_assert(!it_proc_alive(child));
}
END_TEST

START_TEST(test_proc_stop_uses_sigkill_when_sigterm_is_ignored)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        signal(SIGTERM, SIG_IGN);
        (void)!write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char x;
    ck_assert_int_eq(read(ready[0], &x, 1), 1);
    int status;
    bool killed;
    long t0 = it_now_ms();
    ck_assert_int_eq(it_proc_stop(child, 200, &status, &killed), 0);
    ck_assert(killed);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_ge(it_now_ms() - t0, 200);
    ck_assert_int_eq(it_proc_wait(getpid(), 0, &status), -ECHILD);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

/* A fake server: a listening socket in this process. */
static int fake_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void put(int fd, const char *s)
{
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

START_TEST(test_client_splits_lines_answers_ping_and_sees_eof)
{
    int port;
    int lfd = fake_listen(&port);
    struct it_client *c = it_client_connect(port, 0);
    ck_assert_ptr_nonnull(c);
    int sfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(sfd, 0);

    put(sfd, ":parlor.local NOTICE * :*** Connected to worker 1 (pid 4242)\r\n"
             "PING :tok123\r\n:parlor.local 001 al");
    const char *l = it_next_line(c, 1000);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(c->worker, 1);
    ck_assert_int_eq(c->worker_pid, 4242);
    l = it_next_line(c, 1000);
    ck_assert_str_eq(l, "PING :tok123");
    /* The PONG went back to the server. */
    char buf[256];
    ssize_t n = read(sfd, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "PONG :tok123\r\n");

    /* Half a line is not a line: timeout, not EOF. */
    long t0 = it_now_ms();
    ck_assert_ptr_null(it_next_line(c, 100));
    ck_assert_int_ge(it_now_ms() - t0, 100);
    ck_assert(!c->eof);
    put(sfd, "ice :Welcome\n:x PRIVMSG al :hi\r\n:parlor.local 433 * al :Nickname is already in use\r\n");
    ck_assert_str_eq(it_next_line(c, 1000), ":parlor.local 001 alice :Welcome");
    ck_assert_str_eq(it_expect_numeric(c, "433"), ":parlor.local 433 * al :Nickname is already in use");

    put(sfd, "one\r\ntwo 42\r\nthree\r\n");
    ck_assert_ptr_nonnull(it_wait_re(c, "^two [0-9]+$", 1000));
    ck_assert_str_eq(it_expect(c, "ree"), "three");
    ck_assert_ptr_null(it_wait(c, "never", 50));

    it_send(c, "PRIVMSG #x :%s", "hello");
    n = read(sfd, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "PRIVMSG #x :hello\r\n");

    put(sfd, "ERROR :Closing Link: bye\r\nmore\r\n");
    close(sfd);
    ck_assert_int_eq(it_expect_closed(c, "ERROR", 1000), 1);
    ck_assert(c->eof);
    ck_assert_ptr_null(it_next_line(c, 10));
    it_client_free(c);
    close(lfd);
}
END_TEST

START_TEST(test_count_for_counts_matching_lines_within_the_window)
{
    int port;
    int lfd = fake_listen(&port);
    struct it_client *c = it_client_connect(port, 0);
    ck_assert_ptr_nonnull(c);
    int sfd = accept(lfd, NULL, NULL);
    put(sfd, ":q!u@h QUIT :bye\r\n:x PRIVMSG #a :b\r\n:q!u@h QUIT :bye\r\n");
    long t0 = it_now_ms();
    ck_assert_int_eq(it_count_for(c, " QUIT ", 150), 2);
    ck_assert_int_ge(it_now_ms() - t0, 150);
    close(sfd);
    it_client_free(c);
    close(lfd);
}
END_TEST

Suite *harness_suite(void)
{
    Suite *s = suite_create("harness");
    TCase *tc = tcase_create("harness");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_free_port_can_be_bound_on_loopback);
    tcase_add_test(tc, test_proc_children_lists_a_child_until_it_is_stopped);
    tcase_add_test(tc, test_proc_stop_uses_sigkill_when_sigterm_is_ignored);
    tcase_add_test(tc, test_client_splits_lines_answers_ping_and_sees_eof);
    tcase_add_test(tc, test_count_for_counts_matching_lines_within_the_window);
    suite_add_tcase(s, tc);
    return s;
}
