/* See cluster_net.h. */
#include "tests/integration/cluster_net.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/pg.h"

pid_t cluster_nats_start(int port)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", p, (char *)NULL);
        _exit(127);
    }
    /* Ready when it accepts a connection and greets it with INFO. */
    long deadline = it_now_ms() + 5000;
    while (it_now_ms() < deadline) {
        struct it_client *c = it_client_connect(port, 0);
        if (c) {
            const char *l = it_next_line(c, 1000);
            bool ok = l && strncmp(l, "INFO ", 5) == 0;
            it_client_free(c);
            if (ok)
                return pid;
        }
        it_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_abort_msg("nats-server did not start on port %d", port);
    return -1;
}

void cluster_net_start(struct cluster_net *n)
{
    n->nats_port = it_free_port();
    ck_assert_int_gt(n->nats_port, 0);
    n->nats = cluster_nats_start(n->nats_port);
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", n->nats_port);
    const char *ea[] = { "--database", it_suite_pg.conninfo, "--cluster", n->url, "--node-name", "alpha",
                         "--node-id", "0", NULL };
    const char *eb[] = { "--database", it_suite_pg.conninfo, "--cluster", n->url, "--node-name", "beta",
                         "--node-id", "1", NULL };
    it_server_start(&n->a, ea);
    it_server_start(&n->b, eb);
    /* Each worker logs a link to each of the other node's two. */
    it_server_expect_log(&n->a, "cluster: link to worker ", 4, 10000);
    it_server_expect_log(&n->b, "cluster: link to worker ", 4, 10000);
}

void cluster_net_stop(struct cluster_net *n)
{
    it_server_stop(&n->a);
    it_server_stop(&n->b);
    kill(n->nats, SIGTERM);
    int st;
    ck_assert_int_eq(it_proc_wait(n->nats, 5000, &st), 0);
}

struct it_client *cluster_user(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect(s);
    it_send(c, "CAP REQ :echo-message");
    it_send(c, "CAP END");
    it_register(c, nick);
    return c;
}
