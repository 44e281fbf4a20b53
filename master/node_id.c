/* A node id for a clustered node started without --node-id (README
 * "Cluster over NATS", worker numbers).
 *
 * The master listens to the network's heartbeats (subject parlor.nodes,
 * worker/cluster.c) for a little longer than one heartbeat period and takes:
 *   - the id a live node of the same name already has (this node restarting
 *     before the others saw it go: its workers come back in their slots);
 *   - else the id derived from the name (FNV-1a of the name, config.c), if
 *     no live node has it;
 *   - else the lowest free id.
 * Two nodes that start within the same second may still pick one id; the
 * workers then refuse the later one's heartbeats and log it (cluster.c), and
 * --node-id settles it.
 *
 * The listening is done by a short-lived child process, so the master never
 * starts the NATS client's threads before it forks its workers.  If NATS
 * cannot be reached within the wait, the derived id is used (logged). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "master/master_int.h"

#define LISTEN_MS 1600             /* heartbeats come once a second */

struct seen {
    char name[32];
    bool live;
};

/* In the child: hear the heartbeats; write the chosen id (or -1) to fd. */
static void listen_and_choose(int fd, const char *url, const char *name, int preferred)
{
    struct seen ids[CLUSTER_MAX_NODES];
    memset(ids, 0, sizeof ids);
    int chosen = -1;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, LISTEN_MS);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, o);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, nc, "parlor.nodes");
    if (s == NATS_OK) {
        int64_t until = nats_Now() + LISTEN_MS;
        for (int64_t left; (left = until - nats_Now()) > 0;) {
            natsMsg *m = NULL;
            if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
                continue;
            struct ipc_reader r;
            ipc_reader_init(&r, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            const char *n = ipc_get_str(&r, NULL);
            int id = (int)ipc_get_u32(&r);
            ipc_get_u32(&r);           /* workers, slot, pid */
            ipc_get_u32(&r);
            ipc_get_u32(&r);
            bool leaving = ipc_get_u8(&r);
            if (!r.err && id >= 0 && id < CLUSTER_MAX_NODES && !leaving) {
                snprintf(ids[id].name, sizeof ids[id].name, "%s", n);
                ids[id].live = true;
            }
            natsMsg_Destroy(m);
        }
        for (int id = 0; id < CLUSTER_MAX_NODES && chosen < 0; id++)
            if (ids[id].live && strcmp(ids[id].name, name) == 0)
                chosen = id;
        if (chosen < 0 && !ids[preferred].live)
            chosen = preferred;
        for (int id = 0; id < CLUSTER_MAX_NODES && chosen < 0; id++)
            if (!ids[id].live)
                chosen = id;
        if (chosen < 0)
            chosen = -2;               /* every id is taken */
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    if (write(fd, &chosen, sizeof chosen) != (ssize_t)sizeof chosen)
        _exit(1);
    _exit(0);
}

int node_id_choose(const char *url, const char *name, int preferred)
{
    int p[2];
    if (pipe(p) < 0) {
        log_warn("cluster: node id: pipe: %s; using %d", strerror(errno), preferred);
        return preferred;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("cluster: node id: fork: %s; using %d", strerror(errno), preferred);
        close(p[0]);
        close(p[1]);
        return preferred;
    }
    if (pid == 0) {
        close(p[0]);
        listen_and_choose(p[1], url, name, preferred);
    }
    close(p[1]);
    int chosen = -1;
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };
    if (poll(&pfd, 1, LISTEN_MS + 3000) == 1 && read(p[0], &chosen, sizeof chosen) != (ssize_t)sizeof chosen)
        chosen = -1;
    close(p[0]);
    if (waitpid(pid, NULL, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (chosen == -2) {
        log_error("cluster: every node id (0-%d) is taken by a live node; using %d anyway (give --node-id)",
                  CLUSTER_MAX_NODES - 1, preferred);
        return preferred;
    }
    if (chosen < 0) {
        log_warn("cluster: NATS at %s did not answer; node id %d (from the name)", url, preferred);
        return preferred;
    }
    log_info("cluster: node %s takes node id %d%s", name, chosen,
             chosen == preferred ? " (from its name)" : " (the one from its name is taken)");
    return chosen;
}
