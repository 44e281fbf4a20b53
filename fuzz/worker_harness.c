#include "fuzz/worker_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/store.h"
#include "worker/worker_int.h"

static struct parlor_config config;
static int ends[HARNESS_CLIENTS];          /* our end of each client, -1 when closed */
static int peer_ends[MAX_WORKERS];         /* our end of each mesh link, or -1 */

static void words_dir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, cap, "words");
        return;
    }
    exe[n] = '\0';
    snprintf(out, cap, "%s/../../words", dirname(exe));   /* build-fuzz/bin/.. */
}

void harness_init(int nworkers)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_role("fuzz worker 0");
    log_set_level(getenv("PARLOR_FUZZ_LOG") ? LOG_DEBUG : LOG_ERROR);
    config_defaults(&config);
    config.database[0] = '\0';
    config.workers = nworkers;
    config.flood_lines = 0;                  /* no waiting on the clock */
    words_dir(config.words_dir, sizeof config.words_dir);
    memset(&W, 0, sizeof W);
    W.cfg = &config;
    W.slot = 0;
    W.nworkers = nworkers;
    W.pid = 0;                               /* client ids are 1, 2, 3, ... */
    W.master_fd = -1;
    W.now = now_wall();
    worker_tables_init();
    for (int i = 0; i < MAX_WORKERS; i++)
        peer_ends[i] = -1;
    for (int i = 0; i < HARNESS_CLIENTS; i++)
        ends[i] = -1;
    W.loop = uv_default_loop();
    uv_check_init(W.loop, &W.flush_check);
    uv_check_start(&W.flush_check, worker_on_check);   /* W.master_fd is -1: nothing sent */
    store_init("", "");
    game_init();
    /* The other workers count as having re-announced (worker/outbox.c):
     * requests are handled at once, as in a running server. */
    outbox_init();
    for (int s = 1; s < nworkers; s++)
        outbox_handle_synced(s);
}

static void nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int harness_connect(void)
{
    for (int i = 0; i < HARNESS_CLIENTS; i++) {
        if (ends[i] >= 0)
            continue;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return -1;
        nonblocking(sv[0]);
        nonblocking(sv[1]);
        ends[i] = sv[1];
        client_accept(sv[0], "192.0.2.1", 40000 + i, false);
        return i;
    }
    return -1;
}

bool harness_open(int i)
{
    return i >= 0 && i < HARNESS_CLIENTS && ends[i] >= 0;
}

void harness_send(int i, const void *data, size_t len)
{
    if (!harness_open(i))
        return;
    /* The socket buffer holds far more than one step's input. */
    ssize_t n = send(ends[i], data, len, MSG_NOSIGNAL);
    (void)n;
}

void harness_hangup(int i)
{
    if (!harness_open(i))
        return;
    close(ends[i]);
    ends[i] = -1;
}

/* Read and drop what is waiting on fd (or append it to `keep`, a file
 * name); false once the other side closed. */
static bool drain(int fd, const char *keep)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            FILE *f = keep ? fopen(keep, "ab") : NULL;
            if (f) {
                fwrite(buf, 1, (size_t)n, f);
                fclose(f);
            }
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR);
    }
}

/* PARLOR_FUZZ_MESH_OUT=FILE keeps what the worker sent to other workers:
 * real frames, for fuzz_worker_frames's seed corpus. */
static void drain_all(void)
{
    for (int i = 0; i < HARNESS_CLIENTS; i++)
        if (ends[i] >= 0 && !drain(ends[i], NULL))
            harness_hangup(i);          /* the worker closed it */
    for (int s = 0; s < MAX_WORKERS; s++)
        if (peer_ends[s] >= 0 && !drain(peer_ends[s], getenv("PARLOR_FUZZ_MESH_OUT"))) {
            close(peer_ends[s]);
            peer_ends[s] = -1;
        }
}

void harness_run(void)
{
    for (int i = 0; i < 8; i++) {
        uv_run(W.loop, UV_RUN_NOWAIT);
        drain_all();
    }
}

int harness_peer(int slot)
{
    int sv[2];
    if (slot == W.slot || slot >= W.nworkers ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (peer_ends[slot] >= 0)
        close(peer_ends[slot]);
    nonblocking(sv[1]);
    peer_ends[slot] = sv[1];
    peer_attach(slot, sv[0]);
    return sv[1];
}

void harness_reset(bool reuse_ids)
{
    for (int i = 0; i < HARNESS_CLIENTS; i++)
        harness_hangup(i);
    /* Until a round closes nobody more. */
    for (size_t before = SIZE_MAX; W.clients.count > 0 && W.clients.count < before;) {
        before = W.clients.count;
        harness_run();
    }
    /* A client whose input is paused (waiting for another worker's answer
     * to its nick claim) does not see the hangup; the server closes it at
     * its registration timeout.  Do now what that timeout would do. */
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
        client_close(e->value, "Registration timed out");
    for (int rounds = 0; rounds < 100 && W.clients.count > 0; rounds++)
        harness_run();
    if (reuse_ids && W.clients.count == 0)
        W.next_client = 0;                  /* the next input sees ids 1, 2, ... again */
}

const char *harness_leftovers(void)
{
    static char what[256];
    if (W.clients.count == 0 && W.nicks.count == 0 && W.nick_owner.count == 0 &&
        W.channels.count == 0)
        return NULL;
    snprintf(what, sizeof what, "%zu clients, %zu local nicks, %zu owned nicks, %zu channels",
             (size_t)W.clients.count, (size_t)W.nicks.count, (size_t)W.nick_owner.count,
             (size_t)W.channels.count);
    return what;
}

void harness_forget_leftovers(void)
{
    nick_forget_slot(W.slot);
    chan_forget_slot(W.slot, "Server worker restarted");
    hmap_free(&W.nicks);                    /* values are clients, not owned */
    hmap_init(&W.nicks);
}
