/* Operating a cluster (issue 13, README "Cluster over NATS", Operations):
 * parlorctl status and show nodes list the nodes with their workers,
 * clients and NATS state; stats has the cluster counters.  Two nodes of
 * two workers on a real nats-server on loopback (cluster_net.h). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/cluster_net.h"
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

/* parlorctl -s SOCKET [--json] W1 [W2] on node `s`; its output in `out`,
 * its exit status returned (1 after an "error:" answer). */
static int ctl_rc(const struct it_server *s, bool json, const char *w1, const char *w2, char *out, size_t cap)
{
    char path[512];
    it_parlorctl_path(path, sizeof path);
    const char *args[6];
    int n = 0;
    args[n++] = "-s";
    args[n++] = s->control_path;
    if (json)
        args[n++] = "--json";
    args[n++] = w1;
    if (w2)
        args[n++] = w2;
    args[n] = NULL;
    return it_run(path, args, out, cap, 5000);
}

static void ctl(const struct it_server *s, bool json, const char *w1, const char *w2, char *out, size_t cap)
{
    int rc = ctl_rc(s, json, w1, w2, out, cap);
    ck_assert_msg(rc == 0, "parlorctl %s %s: exit status %d:\n%s", w1, w2 ? w2 : "", rc, out);
}

/* Ask again every 100 ms until the output contains `needle`. */
static bool ctl_until(const struct it_server *s, bool json, const char *w1, const char *w2, const char *needle,
                      char *out, size_t cap, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        ctl(s, json, w1, w2, out, cap);
        if (strstr(out, needle))
            return true;
        if (it_now_ms() >= deadline)
            return false;
        it_sleep_ms(100);
    }
}

/* The text table's row for node `name`: its id, workers, clients, NATS
 * state (first word) and state; false if there is none. */
static bool node_row(const char *out, const char *name, int *id, int *workers, int *clients, char *nats,
                     char *state)
{
    size_t len = strlen(name);
    for (const char *p = out; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && p[len] == ' ')
            return sscanf(p + len, "%d %d %d %31s %15s", id, workers, clients, nats, state) == 5;
    return false;
}

/* The sum over workers of a Prometheus metric's samples (name{worker="N"} V). */
static double metric_sum(const char *text, const char *name)
{
    double total = 0;
    size_t len = strlen(name);
    for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && p[len] == '{')
            total += atof(strchr(p, ' ') + 1);
    return total;
}

/* Ask for the stats every 100 ms until metric `name` sums to `min` or
 * more; returns the last sum. */
static double stats_until(const struct it_server *s, const char *name, double min, char *out, size_t cap,
                          int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        ctl(s, false, "stats", NULL, out, cap);
        double sum = metric_sum(out, name);
        if (sum >= min || it_now_ms() >= deadline)
            return sum;
        it_sleep_ms(100);
    }
}

static struct it_client *user_on_worker(const struct it_server *s, int worker, const char *nick)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    it_register(c, nick);
    return c;
}

/* Node beta's two clients (one per worker) are counted on its own node
 * (summed over its workers) and, through its heartbeats, on alpha. */
START_TEST(test_status_and_show_nodes_list_nodes_workers_clients_and_nats)
{
    struct cluster_net n;
    cluster_net_start(&n);
    struct it_client *b1 = user_on_worker(&n.b, 8, "bee1");     /* beta (id 1) has the slots 8 and 9 */
    struct it_client *b2 = user_on_worker(&n.b, 9, "bee2");
    static char out[16384];
    const char *beta_live = "{\"node\":\"beta\",\"id\":1,\"workers\":2,\"clients\":2,\"nats\":\"connected\","
                            "\"state\":\"live\"";
    ck_assert_msg(ctl_until(&n.a, true, "show", "nodes", beta_live, out, sizeof out, 5000),
                  "alpha does not see beta's 2 clients within 5 s:\n%s", out);
    ck_assert_msg(strstr(out, "{\"node\":\"alpha\",\"id\":0,\"workers\":2,\"clients\":0,\"nats\":\"connected\","
                              "\"state\":\"self\""), "%s", out);
    ctl(&n.b, true, "show", "nodes", out, sizeof out);
    ck_assert_msg(strstr(out, "{\"node\":\"beta\",\"id\":1,\"workers\":2,\"clients\":2,\"nats\":\"connected\","
                              "\"state\":\"self\""), "%s", out);
    ck_assert_msg(strstr(out, "{\"node\":\"alpha\",\"id\":0,\"workers\":2,\"clients\":0,\"nats\":\"connected\","
                              "\"state\":\"live\""), "%s", out);

    /* The same as a table. */
    int id, workers, clients;
    char nats[32], state[16];
    ctl(&n.a, false, "show", "nodes", out, sizeof out);
    ck_assert_msg(strstr(out, "node ") == out && strstr(out, " clients ") && strstr(out, " nats "), "%s", out);
    ck_assert_msg(node_row(out, "beta", &id, &workers, &clients, nats, state), "%s", out);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(workers, 2);
    ck_assert_int_eq(clients, 2);
    ck_assert_str_eq(nats, "connected");
    ck_assert_str_eq(state, "live");
    ck_assert_msg(node_row(out, "alpha", &id, &workers, &clients, nats, state), "%s", out);
    ck_assert_str_eq(state, "self");

    /* status: this node, its NATS state, then the nodes. */
    ctl(&n.a, false, "status", NULL, out, sizeof out);
    ck_assert_msg(strstr(out, "\nnode                 alpha\n") && strstr(out, "\nnode_id              0\n") &&
                  strstr(out, "\nnats                 connected\n"), "%s", out);
    const char *nodes = strstr(out, "\nnodes:\n");
    ck_assert_msg(nodes, "%s", out);
    ck_assert_msg(node_row(nodes, "beta", &id, &workers, &clients, nats, state), "%s", out);
    ck_assert_int_eq(clients, 2);
    ck_assert_str_eq(nats, "connected");
    ctl(&n.a, true, "status", NULL, out, sizeof out);
    ck_assert_msg(strstr(out, "\"node\":\"alpha\",\"node_id\":0,\"nats\":\"connected\",\"nodes\":[{\"node\":"
                              "\"alpha\"") && strstr(out, beta_live), "%s", out);
    it_client_free(b1);
    it_client_free(b2);
    cluster_net_stop(&n);
}
END_TEST

static void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

/* A heartbeat in the form before the client count was added at its end
 * (worker/cluster.c send_beat), published straight to nats-server: the
 * node it announces is listed, with 0 clients. */
START_TEST(test_heartbeat_without_client_count_is_accepted)
{
    struct cluster_net n;
    cluster_net_start(&n);
    char beat[64];
    put_u32(beat, 5);                          /* node name, as ipc_put_cstr puts it */
    memcpy(beat + 4, "gamma", 6);
    size_t len = 10;
    const uint32_t fields[] = { 2, 1, 16, 4242 };   /* node id, workers, slot, pid */
    for (size_t i = 0; i < 4; i++, len += 4)
        put_u32(beat + len, fields[i]);
    beat[len++] = 0;                           /* not leaving; no client count after it */
    struct it_client *nats = it_client_connect(n.nats_port, 0);
    ck_assert_ptr_nonnull(nats);
    it_expect(nats, "INFO ");
    char head[128];
    int hl = snprintf(head, sizeof head, "CONNECT {\"verbose\":false}\r\nPUB parlor.nodes %zu\r\n", len);
    ck_assert_int_eq(it_send_raw(nats, head, (size_t)hl), 0);
    ck_assert_int_eq(it_send_raw(nats, beat, len), 0);
    ck_assert_int_eq(it_send_raw(nats, "\r\n", 2), 0);
    it_send(nats, "PING");
    it_expect(nats, "PONG");
    static char out[16384];
    ck_assert_msg(ctl_until(&n.a, true, "show", "nodes", "{\"node\":\"gamma\",\"id\":2,\"workers\":1,\"clients\":0,",
                            out, sizeof out, 3000), "%s", out);
    it_client_free(nats);
    cluster_net_stop(&n);
}
END_TEST

/* Without --cluster, status, stats and show nodes know of no cluster. */
START_TEST(test_without_cluster_nothing_about_clusters)
{
    struct it_server s;
    it_server_start(&s, NULL);
    static char out[16384];
    ctl(&s, false, "status", NULL, out, sizeof out);
    ck_assert_msg(strstr(out, "\nclients ") && !strstr(out, "\nnats ") && !strstr(out, "\nnode") &&
                  !strstr(out, "nodes:"), "%s", out);
    ctl(&s, true, "status", NULL, out, sizeof out);
    ck_assert_msg(strstr(out, "\"clients\":") && !strstr(out, "\"nats\"") && !strstr(out, "\"nodes\""), "%s", out);
    ctl(&s, false, "stats", NULL, out, sizeof out);
    ck_assert_msg(strstr(out, "parlor_clients{") && !strstr(out, "parlor_cluster_"), "%s", out);
    ck_assert_int_ne(ctl_rc(&s, false, "show", "nodes", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "error: not in a cluster"), "%s", out);
    it_server_stop(&s);
}
END_TEST

/* The cluster counters are there and grow as private messages cross from
 * alpha to beta. */
START_TEST(test_stats_count_frames_that_cross_nodes)
{
    struct cluster_net n;
    cluster_net_start(&n);
    struct it_client *alice = cluster_user(&n.a, "alice");
    struct it_client *bob = cluster_user(&n.b, "bob");
    static char out[32768];
    ctl(&n.a, false, "stats", NULL, out, sizeof out);
    static const char *const counters[] = {
        "parlor_cluster_nats_messages_received_total", "parlor_cluster_nats_messages_sent_total",
        "parlor_cluster_frames_received_total", "parlor_cluster_frames_sent_total",
        "parlor_cluster_publish_errors_total", "parlor_cluster_reconnects_total",
        "parlor_cluster_rooms_moved_total", "parlor_cluster_nicks_moved_total",
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        char type[128], sample[128];
        snprintf(type, sizeof type, "# TYPE %s counter\n", counters[i]);
        snprintf(sample, sizeof sample, "%s{worker=\"1\"} ", counters[i]);
        ck_assert_msg(strstr(out, type) && strstr(out, sample), "no %s:\n%s", counters[i], out);
    }
    ck_assert_double_eq(metric_sum(out, "parlor_cluster_nodes"), 4);      /* 2 nodes, seen by 2 workers */
    ck_assert_double_eq(metric_sum(out, "parlor_cluster_nats_connected"), 2);
    ck_assert_double_eq(metric_sum(out, "parlor_cluster_publish_errors_total"), 0);
    double frames_out = metric_sum(out, "parlor_cluster_frames_sent_total");
    double msgs_out = metric_sum(out, "parlor_cluster_nats_messages_sent_total");
    ctl(&n.b, false, "stats", NULL, out, sizeof out);
    double frames_in = metric_sum(out, "parlor_cluster_frames_received_total");

    for (int i = 0; i < 5; i++) {
        it_send(alice, "PRIVMSG bob :across %d", i);
        char want[64];
        snprintf(want, sizeof want, "PRIVMSG bob :across %d", i);
        it_expect(bob, want);
    }
    ctl(&n.a, false, "stats", NULL, out, sizeof out);
    ck_assert_msg(metric_sum(out, "parlor_cluster_frames_sent_total") > frames_out,
                  "frames sent %.0f before, now:\n%s", frames_out, out);
    ck_assert_double_gt(metric_sum(out, "parlor_cluster_frames_sent_total"), 0);
    ck_assert_double_gt(metric_sum(out, "parlor_cluster_nats_messages_sent_total"), msgs_out);
    ctl(&n.b, false, "stats", NULL, out, sizeof out);
    ck_assert_msg(metric_sum(out, "parlor_cluster_frames_received_total") > frames_in,
                  "frames received %.0f before, now:\n%s", frames_in, out);
    it_client_free(alice);
    it_client_free(bob);
    cluster_net_stop(&n);
}
END_TEST

/* nats-server killed and started again on its port: status says
 * reconnecting, then connected; every worker counts a reconnect; chat
 * across the nodes goes on. */
START_TEST(test_nats_restart_shows_in_status_and_counts_reconnects)
{
    struct cluster_net n;
    cluster_net_start(&n);
    struct it_client *alice = cluster_user(&n.a, "alice");
    struct it_client *bob = cluster_user(&n.b, "bob");
    static char out[32768];
    ctl(&n.a, false, "stats", NULL, out, sizeof out);
    ck_assert_double_eq(metric_sum(out, "parlor_cluster_reconnects_total"), 0);

    kill(n.nats, SIGKILL);
    int st;
    ck_assert_int_eq(it_proc_wait(n.nats, 5000, &st), 0);
    ck_assert_msg(ctl_until(&n.a, false, "status", NULL, "\nnats                 reconnecting", out, sizeof out,
                            5000), "%s", out);
    ctl(&n.a, false, "stats", NULL, out, sizeof out);
    ck_assert_double_eq(metric_sum(out, "parlor_cluster_nats_connected"), 0);

    n.nats = cluster_nats_start(n.nats_port);
    ck_assert_msg(ctl_until(&n.a, false, "status", NULL, "\nnats                 connected\n", out, sizeof out,
                            10000), "%s", out);
    ck_assert_msg(ctl_until(&n.b, true, "status", NULL, "\"nats\":\"connected\"", out, sizeof out, 10000), "%s",
                  out);
    /* Each worker once; the NATS client counts it just after the state changes. */
    ck_assert_double_eq(stats_until(&n.a, "parlor_cluster_reconnects_total", 2, out, sizeof out, 5000), 2);
    it_send(alice, "PRIVMSG bob :after the restart");
    it_wait(bob, "PRIVMSG bob :after the restart", 10000);
    it_client_free(alice);
    it_client_free(bob);
    cluster_net_stop(&n);
}
END_TEST

Suite *clusterops_suite(void)
{
    Suite *s = suite_create("clusterops");
    TCase *tc = tcase_create("operating two nodes over NATS");
    tcase_add_unchecked_fixture(tc, it_suite_pg_up, it_suite_pg_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_and_show_nodes_list_nodes_workers_clients_and_nats);
    tcase_add_test(tc, test_heartbeat_without_client_count_is_accepted);
    tcase_add_test(tc, test_without_cluster_nothing_about_clusters);
    tcase_add_test(tc, test_stats_count_frames_that_cross_nodes);
    tcase_add_test(tc, test_nats_restart_shows_in_status_and_counts_reconnects);
    suite_add_tcase(s, tc);
    return s;
}
