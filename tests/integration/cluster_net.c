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
    return cluster_nats_start_with(port, NULL);
}

pid_t cluster_nats_start_with(int port, const char *const *more)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[32] = { "nats-server", "-a", "127.0.0.1", "-p", p };
    int k = 5;
    for (int i = 0; more && more[i] && k < 31; i++)
        argv[k++] = more[i];
    argv[k] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp("nats-server", (char *const *)argv);
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

void cluster_nats_up(struct cluster_net *n)
{
    memset(n, 0, sizeof *n);
    n->nats_port = it_free_port();
    ck_assert_int_gt(n->nats_port, 0);
    n->nats = cluster_nats_start(n->nats_port);
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", n->nats_port);
}

void cluster_nats_stop(struct cluster_net *n)
{
    kill(n->nats, SIGTERM);
    int st;
    ck_assert_int_eq(it_proc_wait(n->nats, 5000, &st), 0);
}

void cluster_node_start(const struct cluster_net *n, struct it_server *s, const char *name, const char *id,
                        const char *const *more)
{
    const char *extra[32] = { "--database", it_suite_pg.conninfo, "--cluster", n->url, "--node-name", name,
                              "--node-id", id };
    int k = id ? 8 : 6;
    for (int i = 0; more && more[i] && k < 31; i++)
        extra[k++] = more[i];
    extra[k] = NULL;
    it_server_start(s, extra);
}

void cluster_wait_linked(struct cluster_net *n, int links)
{
    it_server_expect_log(&n->a, "cluster: link to worker ", links, 10000);
    it_server_expect_log(&n->b, "cluster: link to worker ", links, 10000);
}

void cluster_net_start(struct cluster_net *n)
{
    cluster_nats_up(n);
    cluster_node_start(n, &n->a, "alpha", "0", NULL);
    cluster_node_start(n, &n->b, "beta", "1", NULL);
    cluster_wait_linked(n, 4);     /* each worker: a link to each of the other node's two */
}

void cluster_net_stop(struct cluster_net *n)
{
    it_server_stop(&n->a);
    it_server_stop(&n->b);
    cluster_nats_stop(n);
}

struct it_client *cluster_user(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect(s);
    it_send(c, "CAP REQ :echo-message");
    it_send(c, "CAP END");
    it_register(c, nick);
    return c;
}
