/* A network of two parlord nodes over a real nats-server on loopback, for
 * the cluster suites (test_cluster.c, test_cluster_ops.c). */
#ifndef PARLOR_IT_CLUSTER_NET_H
#define PARLOR_IT_CLUSTER_NET_H

#include <sys/types.h>

#include "tests/integration/harness.h"

/* nats-server (by PID) and nodes alpha (id 0) and beta (id 1), two workers
 * each, both on it_suite_pg. */
struct cluster_net {
    pid_t nats;
    int nats_port;
    char url[64];
    struct it_server a, b;
};

/* Start nats-server on 127.0.0.1:port and wait until it greets a client
 * (fails the test after 5 s); returns its PID. */
pid_t cluster_nats_start(int port);
/* The same with more nats-server arguments (NULL-terminated), e.g. routes. */
pid_t cluster_nats_start_with(int port, const char *const *more);
/* nats-server on a free port (n->nats, n->url); no node yet. */
void cluster_nats_up(struct cluster_net *n);
/* SIGTERM to nats-server, waited for. */
void cluster_nats_stop(struct cluster_net *n);
/* A node on n's NATS and it_suite_pg: --node-name name --node-id id (id NULL:
 * none, the node picks one), then
 * `more` (NULL-terminated, may be NULL). */
void cluster_node_start(const struct cluster_net *n, struct it_server *s, const char *name, const char *id,
                        const char *const *more);
/* Wait until each of nodes a and b logged `links` links to remote workers
 * (fails the test after 10 s). */
void cluster_wait_linked(struct cluster_net *n, int links);
/* nats-server on a free port, both nodes, each worker linked to each worker
 * of the other node (fails the test after 10 s). */
void cluster_net_start(struct cluster_net *n);
/* Both nodes, then nats-server (SIGTERM, waited for). */
void cluster_net_stop(struct cluster_net *n);
/* A registered client on `s` with echo-message. */
struct it_client *cluster_user(const struct it_server *s, const char *nick);

#endif
