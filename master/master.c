/*
 * The master process.
 *
 * Process model (read this first):
 *
 *   parlord starts as the master.  It opens the TCP listeners, then forks
 *   `workers` worker processes.  Each worker gets one SOCK_SEQPACKET socketpair
 *   to the master (its "channel") and, for every other worker, one SOCK_STREAM
 *   socketpair (the "mesh"): the master creates the pair and hands one end to
 *   each of the two workers over their channels (IPC_M_PEER, fd attached).
 *
 *   The master accepts connections and passes each socket to the worker with
 *   the fewest clients (ties: round robin) as IPC_M_CLIENT with SCM_RIGHTS,
 *   then closes its copy.  It never reads a byte of IRC: chat traffic flows
 *   between clients and workers, and between workers over the mesh.
 *
 *   Supervision: SIGCHLD only sets a flag; the main loop reaps children with
 *   waitpid(), logs how each one ended and forks a replacement in the same
 *   slot at once (or after a second if that slot is crashing in a loop).  The
 *   replacement gets fresh mesh sockets to every live worker.  Clients of the
 *   dead worker lose their connection; everyone else keeps chatting.
 *
 *   SIGTERM/SIGINT: close the listeners, send IPC_M_SHUTDOWN to every worker
 *   (each tells its clients with an ERROR line and exits), reap them all,
 *   exit 0.  Workers that are still alive after a grace period are killed.
 *
 *   Counting clients: a worker's load is the clients handed to it minus the
 *   ones it reported closed (IPC_W_CLOSED, with their addresses, which is
 *   how the per-address limits of master/limits.c are kept).  A socket that
 *   does not reach the worker (it is out of descriptors: recvmsg drops the
 *   SCM_RIGHTS part) is reported closed like any other, plus IPC_W_NOFD, and
 *   that worker gets no new client for a second.
 *
 *   Descriptors: at start the master raises its soft RLIMIT_NOFILE to the
 *   hard limit (workers inherit it), and lowers the per-worker client cap to
 *   what that limit leaves after FD_RESERVE descriptors for the worker's own
 *   use.  When accept() fails for lack of descriptors, or when every worker
 *   that could take a client is out of them, the listeners are left out of
 *   poll() for a moment (the connections wait in the kernel's queue) instead
 *   of failing in a loop; the log says so once per ten seconds at most.
 *
 *   Mesh repair: a worker whose link to a live worker broke asks for a new
 *   pair (IPC_W_RELINK); the master makes one and passes it as at start, at
 *   most once a second per pair.  Both ends of a broken link ask: the
 *   request of the second end is taken as part of the same repair.
 *
 * The loop is a plain poll(): the master has a handful of descriptors and no
 * need for libuv, and keeping libuv out of the master means a forked worker
 * starts from a clean process with no inherited loop.
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/tls.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "master/master_int.h"
#include "worker/worker.h"

#define ACCEPT_BATCH 64
#define SHUTDOWN_GRACE_MS 10000
/* Descriptors a worker needs besides its clients: stdio and the log, its
 * libuv loop (epoll, signal pipes, eventfd), the channel to the master, a
 * mesh socket per other worker, PostgreSQL and the spool file, and a margin
 * for files opened for a moment (word lists, /proc). */
#define FD_RESERVE(workers) (32 + (workers))
#define ACCEPT_PAUSE 0.2        /* seconds without accept() after EMFILE */
#define NOFD_PAUSE 1.0          /* seconds a worker out of descriptors rests */
#define RELINK_EVERY 1.0        /* seconds between two relinks of one pair */
#define RELINK_ECHO_WINDOW 5.0  /* how long the other end's report of a break is awaited */

struct worker_slot slots[MAX_WORKERS];
struct master_stats mstats;
const struct parlor_config *cfg;
double master_started;
/* The running configuration; reload replaces it (flags + file read again). */
static struct parlor_config live;
static int saved_argc;
static char **saved_argv;
static int listeners[2 * CONFIG_MAX_LISTEN];
static bool listener_tls[2 * CONFIG_MAX_LISTEN];   /* a tls-listen address */
static int nlisteners;
static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_sigchld, got_stop, got_hup;
static int rr_next;
static int stopping;
static double stop_at;          /* graceful shutdown: when to stop the workers */
static bool notified_ready;
static double accept_paused_until;
#define ROLLING_PAUSE 0.5      /* seconds between one worker back and the next restart */
static int rolling_slot = -1;   /* the worker a rolling restart waits for */
static int rolling_next = -1;   /* the next slot to restart, -1: no rolling restart */
static double rolling_next_at;
static long worker_cap;         /* max-clients-per-worker, or less (RLIMIT_NOFILE) */
static struct ratelog log_accept_fail, log_nofd, log_refused_ip, log_refused_full,
                      log_no_worker, log_relink;
/* Relinks asked for by workers, per pair (lo, hi). */
struct relink_state {
    double last;                /* when the pair was last made again */
    int echo;                   /* see relink() */
    bool pending;               /* asked again within RELINK_EVERY: waits */
};
static struct relink_state relinks[MAX_WORKERS][MAX_WORKERS];
static int relinks_pending;

double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGCHLD)
        got_sigchld = 1;
    else if (sig == SIGHUP)
        got_hup = 1;
    else
        got_stop = 1;
    char c = (char)sig;
    ssize_t ignored = write(signal_pipe[1], &c, 1);
    (void)ignored;
    errno = saved;
}

static void set_nonblock_cloexec(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int open_listener(const struct listen_addr *l, bool tls)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", l->port);
    int r = getaddrinfo(l->host, port, &hints, &res);
    if (r != 0) {
        log_error("listen %s:%d: %s", l->host, l->port, gai_strerror(r));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        log_error("listen %s:%d: %s", l->host, l->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    log_info("listening on %s:%d%s", l->host, l->port, tls ? " (TLS)" : "");
    return fd;
}

/* Send one frame to a worker's channel.  A worker whose channel is full or
 * gone is about to be reaped; the caller decides what to do with the fd. */
static int send_to_worker(int slot, struct buf *frame, int fd)
{
    if (slots[slot].chan < 0)
        return -EPIPE;
    return ipc_send_fd(slots[slot].chan, frame->data, frame->len, fd);
}

static int send_peer(int to, int peer_slot, int fd)
{
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_PEER);
    ipc_put_u32(&b, (uint32_t)peer_slot);
    ipc_end(&b, f);
    int r = send_to_worker(to, &b, fd);
    buf_free(&b);
    return r;
}

/* Make a mesh socketpair for workers a and b and pass one end to each. */
static void link_pair(int a, int b)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("mesh socketpair for workers %d and %d: %s", a, b, strerror(errno));
        return;
    }
    if (send_peer(a, b, sv[0]) < 0 || send_peer(b, a, sv[1]) < 0)
        log_warn("could not pass mesh socket between workers %d and %d", a, b);
    close(sv[0]);
    close(sv[1]);
}

/* Give worker `slot` (just forked) a mesh socket to every other live worker. */
static void connect_mesh(int slot)
{
    for (int j = 0; j < cfg->workers; j++)
        if (j != slot && slots[j].pid != 0)
            link_pair(slot, j);
}

/* Make the pair (a, b) again now, if both are still running.  Both ends
 * of a broken link notice it and ask; `echo` is the worker whose request
 * for this same break is still to come (0 none, else slot + 1). */
static void relink(int a, int b, int echo)
{
    struct relink_state *r = &relinks[a][b];
    r->last = now_mono();
    r->echo = echo;
    if (r->pending) {
        r->pending = false;
        relinks_pending--;
    }
    if (!slots[a].pid || slots[a].chan < 0 || !slots[b].pid || slots[b].chan < 0) {
        log_info("mesh link between workers %d and %d: not relinked, one of them is not running "
                 "(a new worker gets fresh links)", a, b);
        return;
    }
    log_info("mesh link between workers %d and %d broke; passing them a new pair", a, b);
    link_pair(a, b);
}

/* Worker `slot` reported its link to `other` broken (IPC_W_RELINK). */
static void relink_request(int slot, int other)
{
    int a = slot < other ? slot : other, b = slot < other ? other : slot;
    struct relink_state *r = &relinks[a][b];
    double now = now_mono();
    if (r->echo == slot + 1 && now - r->last < RELINK_ECHO_WINDOW) {
        r->echo = 0;            /* the other end of the break just repaired */
        return;
    }
    if (now - r->last >= RELINK_EVERY) {
        relink(a, b, other + 1);
        return;
    }
    char note[64];
    if (ratelog_due(&log_relink, now, note, sizeof note))
        log_warn("workers %d and %d ask to be relinked again within a second; waiting%s",
                 a, b, note);
    if (!r->pending) {
        r->pending = true;
        relinks_pending++;
    }
}

/* Relinks whose second has passed; returns ms until the next one is due
 * (or `timeout` if none waits). */
static int relink_due(double now, int timeout)
{
    for (int a = 0; relinks_pending && a < cfg->workers; a++)
        for (int b = a + 1; b < cfg->workers; b++) {
            struct relink_state *r = &relinks[a][b];
            if (!r->pending)
                continue;
            double due = r->last + RELINK_EVERY;
            if (due <= now)
                relink(a, b, 0);
            else if ((int)((due - now) * 1000) + 1 < timeout)
                timeout = (int)((due - now) * 1000) + 1;
        }
    return timeout;
}

static void spawn_worker(int slot)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("worker %d: socketpair: %s", slot, strerror(errno));
        slots[slot].respawn_at = now_mono() + 1;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("worker %d: fork: %s", slot, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        slots[slot].respawn_at = now_mono() + 1;
        return;
    }
    if (pid == 0) {
        /* Child: drop everything that belongs to the master. */
        for (int i = 0; i < nlisteners; i++)
            close(listeners[i]);
        for (int i = 0; i < cfg->workers; i++)
            if (slots[i].chan >= 0)
                close(slots[i].chan);
        close(signal_pipe[0]);
        close(signal_pipe[1]);
        close(sv[0]);
        control_forget();
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGCHLD, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        /* Ctrl-C in a terminal reaches the whole process group: the master
         * turns it into a graceful shutdown, so a worker must not die of it. */
        signal(SIGINT, SIG_IGN);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char role[32];
        snprintf(role, sizeof role, "worker %d", slot);
        log_set_role(role);
        _exit(worker_main(cfg, slot, cfg->workers, sv[1]));
    }
    close(sv[1]);
    set_nonblock_cloexec(sv[0]);
    struct worker_slot *w = &slots[slot];
    w->pid = pid;
    w->chan = sv[0];
    w->assigned = w->closed = 0;
    w->started = now_mono();
    w->respawn_at = 0;
    w->nofd_until = 0;
    w->ready = false;
    int rcv = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    log_info("worker %d started, pid %d", slot, (int)pid);
    for (int j = 0; j < MAX_WORKERS; j++) {     /* old reports are about the old process */
        struct relink_state *r = j < slot ? &relinks[j][slot] : &relinks[slot][j];
        relinks_pending -= r->pending;
        *r = (struct relink_state){ 0 };
    }
    connect_mesh(slot);
}

static int slot_of_pid(pid_t pid)
{
    for (int i = 0; i < cfg->workers; i++)
        if (slots[i].pid == pid)
            return i;
    return -1;
}

static void reap_children(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int i = slot_of_pid(pid);
        if (i < 0)
            continue;
        struct worker_slot *w = &slots[i];
        if (WIFSIGNALED(status))
            snprintf(w->last_exit, sizeof w->last_exit, "killed by signal %d", WTERMSIG(status));
        else
            snprintf(w->last_exit, sizeof w->last_exit, "exit status %d", WEXITSTATUS(status));
        if (w->chan >= 0)
            close(w->chan);
        w->chan = -1;
        w->pid = 0;
        limits_worker_gone(i);
        if (stopping) {
            log_info("worker %d (pid %d) stopped: %s", i, (int)pid, w->last_exit);
            continue;
        }
        w->restarts++;
        double now = now_mono();
        if (w->restarting) {
            w->restarting = false;
            w->respawn_at = now;
            log_info("worker %d (pid %d) stopped for a restart (%s); starting its replacement", i,
                     (int)pid, w->last_exit);
            continue;
        }
        /* A worker that dies within a second of starting is crashing in a
         * loop; wait a second so we do not spin. */
        w->respawn_at = (now - w->started < 1.0) ? now + 1.0 : now;
        log_warn("worker %d (pid %d) %s; %d clients dropped; respawning", i, (int)pid,
                 w->last_exit, (int)(w->assigned - w->closed));
    }
}

static long total_clients(void)
{
    long n = 0;
    for (int i = 0; i < cfg->workers; i++)
        if (slots[i].pid)
            n += slots[i].assigned - slots[i].closed;
    return n;
}

/* The least-loaded worker that can take a client, or -1.  When the only
 * ones that could are out of descriptors, *rest_until says when the first
 * of them may try again (0 otherwise). */
static int pick_worker(double now, double *rest_until)
{
    int best = -1;
    long best_load = 0;
    *rest_until = 0;
    for (int k = 0; k < cfg->workers; k++) {
        int i = (rr_next + k) % cfg->workers;
        struct worker_slot *w = &slots[i];
        if (!w->pid || w->chan < 0 || w->draining || w->restarting)
            continue;
        long load = w->assigned - w->closed;
        if (load >= worker_cap)
            continue;
        if (w->nofd_until > now) {
            if (!*rest_until || w->nofd_until < *rest_until)
                *rest_until = w->nofd_until;
            continue;
        }
        if (best < 0 || load < best_load) {
            best = i;
            best_load = load;
        }
    }
    if (best >= 0) {
        rr_next = (best + 1) % cfg->workers;
        *rest_until = 0;
    }
    return best;
}

static void refuse(int fd, const char *ip, const char *why)
{
    char line[256];
    int n = snprintf(line, sizeof line, "ERROR :Closing Link: %s (%s)\r\n", ip, why);
    ssize_t ignored = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    close(fd);
}

/* Leave the listeners out of poll() until `until`. */
static void pause_accepting(double until)
{
    if (until > accept_paused_until)
        accept_paused_until = until;
}

/* The peer's address as text (IPv4-mapped IPv6 as plain IPv4) and port. */
static void peer_address(const struct sockaddr_storage *ss, char *ip, size_t cap, int *port)
{
    snprintf(ip, cap, "?");
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)cap);
        *port = ntohs(sin->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t)cap);
        *port = ntohs(sin6->sin6_port);
    }
}

static void accept_clients(int lfd, bool tls)
{
    double now = now_mono();
    char note[64];
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        /* Workers out of descriptors would lose the socket in the handover:
         * leave the connection in the kernel's queue until one can take it. */
        double rest_until;
        int slot = pick_worker(now, &rest_until);
        if (slot < 0 && rest_until > 0) {
            pause_accepting(rest_until);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EINTR || e == ECONNABORTED)
                return;
            /* Out of descriptors or memory: accept() would fail again at
             * once, so rest instead of spinning; the rest of the loop
             * (workers closing clients) frees what is missing. */
            pause_accepting(now + ACCEPT_PAUSE);
            if (ratelog_due(&log_accept_fail, now, note, sizeof note))
                log_warn("accept: %s; not accepting for %.0f ms at a time until it works%s%s",
                         strerror(e), ACCEPT_PAUSE * 1000,
                         e == EMFILE ? " (raise the descriptor limit: ulimit -n)" : "", note);
            return;
        }
        char ip[INET6_ADDRSTRLEN];
        int port;
        peer_address(&ss, ip, sizeof ip, &port);
        mstats.accepted++;
        const char *why;
        char banned[256];
        if (bans_match(ip, banned, sizeof banned)) {
            mstats.refused++;
            if (ratelog_due(&log_refused_ip, now, note, sizeof note))
                log_info("refusing %s:%d: %s%s", ip, port, banned, note);
            refuse(fd, ip, banned);
            continue;
        }
        if (limits_admit(ip, now, &why) < 0) {
            mstats.refused++;
            if (ratelog_due(&log_refused_ip, now, note, sizeof note))
                log_info("refusing %s:%d: %s%s", ip, port, why, note);
            refuse(fd, ip, why);
            continue;
        }
        if (total_clients() >= cfg->max_clients) {
            mstats.refused++;
            if (ratelog_due(&log_refused_full, now, note, sizeof note))
                log_info("refusing %s:%d: server full (%d clients)%s", ip, port,
                         cfg->max_clients, note);
            refuse(fd, ip, "Server full, try again later");
            continue;
        }
        if (slot < 0) {
            mstats.refused++;
            if (ratelog_due(&log_no_worker, now, note, sizeof note))
                log_warn("refusing %s:%d: no worker can take a client (each takes at most %ld)%s",
                         ip, port, worker_cap, note);
            refuse(fd, ip, "No worker available, try again later");
            continue;
        }
        struct buf b = BUF_INIT;
        size_t f = ipc_begin(&b, IPC_M_CLIENT);
        ipc_put_cstr(&b, ip);
        ipc_put_u32(&b, (uint32_t)port);
        ipc_put_u8(&b, tls);
        ipc_end(&b, f);
        int r = send_to_worker(slot, &b, fd);
        buf_free(&b);
        if (r < 0) {
            log_warn("passing %s:%d to worker %d: %s", ip, port, slot, strerror(-r));
            refuse(fd, ip, "Server busy, try again later");
            continue;
        }
        slots[slot].assigned++;
        limits_opened(ip, slot);
        log_debug("client %s:%d -> worker %d", ip, port, slot);
        close(fd);
    }
}

/* Raise the soft descriptor limit to the hard one: the default soft limit
 * (often 1024) is far below what a chat server holds. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_info("descriptor limit raised from %llu to %llu (the hard limit)",
                 (unsigned long long)old, (unsigned long long)rl.rlim_max);
}

/* The per-worker client cap: max-clients-per-worker, lowered to what the
 * descriptor limit (inherited by the workers) leaves for clients. */
static void update_worker_cap(void)
{
    long cap = cfg->max_clients_per_worker;
    struct rlimit rl;
    long fds = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        fds = (long)rl.rlim_cur;
        long room = fds - FD_RESERVE(cfg->workers);
        if (room < 1)
            room = 1;
        if (room < cap)
            cap = room;
    }
    if (cap != worker_cap && cap < cfg->max_clients_per_worker)
        log_warn("each worker takes at most %ld clients, not max-clients-per-worker %d: "
                 "the descriptor limit is %ld (RLIMIT_NOFILE) and a worker keeps %d for itself; "
                 "raise it (ulimit -n, LimitNOFILE=) for more", cap, cfg->max_clients_per_worker,
                 fds, FD_RESERVE(cfg->workers));
    worker_cap = cap;
}

/* systemd readiness (Type=notify): once the listeners are open and every
 * worker has said it is ready. */
static void notify_ready(void)
{
    if (notified_ready)
        return;
    for (int i = 0; i < cfg->workers; i++)
        if (!slots[i].ready)
            return;
    notified_ready = true;
    log_info("ready: %d workers up", cfg->workers);
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path)
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';          /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    char msg[64];
    int n = snprintf(msg, sizeof msg, "READY=1\nMAINPID=%d", (int)getpid());
    if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        log_warn("sd_notify: %s", strerror(errno));
    close(fd);
}

int master_query(int slot, uint32_t qid, int what, const char *arg1, const char *arg2)
{
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_QUERY);
    ipc_put_u32(&b, qid);
    ipc_put_u8(&b, (uint8_t)what);
    ipc_put_cstr(&b, arg1);
    ipc_put_cstr(&b, arg2);
    ipc_end(&b, f);
    int r = send_to_worker(slot, &b, -1);
    buf_free(&b);
    return r;
}

void master_send_bans(int slot)
{
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_BANS);
    bans_account_frame(&b);
    ipc_end(&b, f);
    for (int i = 0; i < cfg->workers; i++)
        if ((slot < 0 || i == slot) && slots[i].pid && send_to_worker(i, &b, -1) < 0)
            log_warn("bans: worker %d did not get the account bans", i);
    buf_free(&b);
}

/* The certificate, key and ticket keys to every worker (IPC_M_TLS). */
static void send_tls_material(void)
{
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_TLS);
    ipc_put_str(&b, tls_material.cert, tls_material.cert_len);
    ipc_put_str(&b, tls_material.key, tls_material.key_len);
    ipc_put_str(&b, (const char *)tls_material.ticket_key, sizeof tls_material.ticket_key);
    ipc_put_str(&b, (const char *)tls_material.ticket_prev, tls_material.has_prev ? sizeof tls_material.ticket_prev : 0);
    ipc_end(&b, f);
    for (int i = 0; i < cfg->workers; i++)
        if (slots[i].pid && send_to_worker(i, &b, -1) < 0)
            log_warn("TLS: worker %d did not get the new material", i);
    buf_free(&b);
}

/* Reload: read the certificate and key again and send them to every
 * worker (IPC_M_TLS); -1 with the reason in msg when they do not make a
 * working pair (nothing changes then). */
static int reload_tls(const struct parlor_config *next, char *msg, size_t msglen)
{
    char err[512];
    if (!next->tls_cert[0] || !next->tls_key[0] ||
        tls_material_load(&tls_material, next->tls_cert, next->tls_key, err, sizeof err) < 0) {
        snprintf(msg, msglen, "reload refused: TLS certificate: %s; the old certificate stays",
                 next->tls_cert[0] && next->tls_key[0] ? err : "tls-cert and tls-key are needed");
        log_warn("%s", msg);
        return -1;
    }
    send_tls_material();
    return 0;
}

/* Every tls-ticket-rotate seconds: a new session-ticket key (the previous
 * one is still accepted until the next rotation, so a ticket lives at most
 * two periods and a stolen key opens at most that much). */
static void rotate_ticket_key(double now)
{
    static double last;
    if (cfg->ntls_listen == 0 || cfg->tls_ticket_rotate <= 0)
        return;
    if (last == 0)
        last = now;
    if (now - last < cfg->tls_ticket_rotate)
        return;
    last = now;
    tls_material_rotate_ticket_key(&tls_material);
    send_tls_material();
    log_info("TLS: session-ticket key rotated");
}

int master_reload(char *msg, size_t msglen)
{
    if (!live.config_path[0]) {
        snprintf(msg, msglen, "parlord was started without --config; there is no file to re-read");
        return -1;
    }
    static struct parlor_config next;
    char err[512];
    config_defaults(&next);
    if (config_parse_args(&next, saved_argc, saved_argv, err, sizeof err) != 0) {
        snprintf(msg, msglen, "%s", err);
        log_warn("reload refused: %s", err);
        return -1;
    }
    /* What needs a restart keeps its running value. */
    char kept[256] = "";
    if (next.workers != live.workers)
        strcat(kept, " workers");
    if (next.nlisten != live.nlisten || memcmp(next.listen, live.listen, sizeof live.listen) != 0)
        strcat(kept, " listen");
    if (next.ntls_listen != live.ntls_listen ||
        memcmp(next.tls_listen, live.tls_listen, sizeof live.tls_listen) != 0)
        strcat(kept, " tls-listen");
    /* A new certificate and key, read and checked here: a bad pair refuses
     * the reload and the running one stays. */
    if (live.ntls_listen > 0 && reload_tls(&next, msg, msglen) < 0)
        return -1;
    if (strcmp(next.control_path, live.control_path) != 0)
        strcat(kept, " control");
    if (strcmp(next.database, live.database) != 0)
        strcat(kept, " database");
    /* A node's place in the network (worker/cluster.c) is fixed while it
     * runs: its workers' numbers derive from it. */
    if (strcmp(next.cluster, live.cluster) != 0 || strcmp(next.node_name, live.node_name) != 0 ||
        (next.node_id_given && next.node_id != live.node_id))
        strcat(kept, " cluster");
    memcpy(next.cluster, live.cluster, sizeof live.cluster);
    memcpy(next.node_name, live.node_name, sizeof live.node_name);
    next.node_id = live.node_id;
    next.node_id_given = live.node_id_given;
    next.workers = live.workers;
    next.nlisten = live.nlisten;
    memcpy(next.listen, live.listen, sizeof live.listen);
    next.ntls_listen = live.ntls_listen;
    memcpy(next.tls_listen, live.tls_listen, sizeof live.tls_listen);
    memcpy(next.control_path, live.control_path, sizeof live.control_path);
    memcpy(next.database, live.database, sizeof live.database);
    live = next;
    log_set_level((enum log_level)live.log_level);
    update_worker_cap();
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_CONFIG);
    ipc_put_str(&b, (const char *)&live, sizeof live);
    ipc_end(&b, f);
    for (int i = 0; i < cfg->workers; i++)
        if (slots[i].pid && send_to_worker(i, &b, -1) < 0)
            log_warn("reload: worker %d did not get the new configuration", i);
    buf_free(&b);
    snprintf(msg, msglen, "configuration reloaded from %s%s%s", live.config_path,
             kept[0] ? "; needs a restart to change:" : "", kept);
    log_info("%s", msg);
    return 0;
}

static void read_worker(int slot)
{
    static char data[1 << 17];
    for (;;) {
        int fd;
        long n = ipc_recv_fd(slots[slot].chan, data, sizeof data, &fd);
        if (fd >= 0)
            close(fd);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            /* Channel closed: the worker is exiting; SIGCHLD does the rest. */
            close(slots[slot].chan);
            slots[slot].chan = -1;
            return;
        }
        uint8_t type;
        const char *payload;
        size_t plen;
        if (ipc_frame_peek(data, (size_t)n, &type, &payload, &plen) <= 0) {
            log_warn("worker %d sent a malformed frame", slot);
            continue;
        }
        struct ipc_reader r;
        ipc_reader_init(&r, payload, plen);
        switch (type) {
        case IPC_W_READY:
            log_info("worker %d ready", slot);
            slots[slot].ready = true;
            master_send_bans(slot);
            notify_ready();
            if (rolling_slot == slot)         /* the next one after a moment */
                rolling_next_at = now_mono() + ROLLING_PAUSE;
            break;
        case IPC_W_ANSWER:
            control_on_answer(slot, payload, plen);
            break;
        case IPC_W_CLOSED:
            slots[slot].closed += ipc_get_u32(&r);
            while (r.left && !r.err) {
                const char *ip = ipc_get_str(&r, NULL);
                if (!r.err)
                    limits_closed(ip, slot);
            }
            break;
        case IPC_W_NOFD: {
            uint32_t lost = ipc_get_u32(&r);
            double now = now_mono();
            char note[64];
            slots[slot].nofd_until = now + NOFD_PAUSE;
            if (ratelog_due(&log_nofd, now, note, sizeof note))
                log_warn("worker %d is out of descriptors: %u client socket(s) lost in the handover "
                         "(counted as closed); it gets no new client for %.0f s at a time%s",
                         slot, lost, NOFD_PAUSE, note);
            break;
        }
        case IPC_W_RELINK: {
            uint32_t other = ipc_get_u32(&r);
            if (r.err || other >= (uint32_t)cfg->workers || (int)other == slot)
                log_warn("worker %d sent a bad relink request", slot);
            else
                relink_request(slot, (int)other);
            break;
        }
        default:
            log_warn("worker %d sent unknown frame type %d", slot, type);
        }
    }
}

/* ---- restarts on request (parlorctl restart) ----
 *
 * A worker is restarted by telling it to stop (IPC_M_SHUTDOWN: its clients
 * get an ERROR line) and starting its replacement as soon as it is reaped.
 * The other workers keep what they ask of its rooms and nicks until the
 * replacement is there (worker/outbox.c).  A rolling restart does one
 * worker at a time, the next ROLLING_PAUSE seconds after the previous one
 * is ready again.  An nginx-style binary upgrade would build on the same
 * steps: the master re-executes itself keeping its listeners and channels,
 * then restarts the workers one by one with the new binary. */
static void stop_for_restart(int slot)
{
    struct worker_slot *w = &slots[slot];
    w->restarting = true;
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_SHUTDOWN);
    ipc_put_cstr(&b, "Server worker restarting, please reconnect");
    ipc_end(&b, f);
    if (send_to_worker(slot, &b, -1) < 0)
        kill(w->pid, SIGTERM);
    buf_free(&b);
    log_info("worker %d (pid %d): restarting", slot, (int)w->pid);
}

int master_restart(int slot, char *msg, size_t msglen)
{
    if (stopping || stop_at > 0) {
        snprintf(msg, msglen, "the server is shutting down");
        return -1;
    }
    if (rolling_slot >= 0 || rolling_next >= 0) {
        snprintf(msg, msglen, "a rolling restart is in progress");
        return -1;
    }
    if (slot >= 0) {
        if (slot >= cfg->workers || !slots[slot].pid) {
            snprintf(msg, msglen, "worker %d is not running", slot);
            return -1;
        }
        if (slots[slot].restarting) {
            snprintf(msg, msglen, "worker %d is already restarting", slot);
            return -1;
        }
        stop_for_restart(slot);
        snprintf(msg, msglen, "worker %d restarting", slot);
        return 0;
    }
    rolling_next = 0;
    rolling_next_at = now_mono();
    snprintf(msg, msglen, "rolling restart of %d workers started", cfg->workers);
    return 0;
}

/* Drive a rolling restart: start the next worker's restart when due. */
static void rolling_tick(double now)
{
    if (rolling_slot >= 0 && slots[rolling_slot].ready && !slots[rolling_slot].restarting &&
        slots[rolling_slot].pid && now >= rolling_next_at) {
        log_info("rolling restart: worker %d is back", rolling_slot);
        rolling_slot = -1;
        if (rolling_next >= cfg->workers) {
            rolling_next = -1;
            log_info("rolling restart: done");
            return;
        }
    }
    if (rolling_slot >= 0 || rolling_next < 0 || now < rolling_next_at)
        return;
    while (rolling_next < cfg->workers && !slots[rolling_next].pid)
        rolling_next++;
    if (rolling_next >= cfg->workers) {
        rolling_next = -1;
        return;
    }
    rolling_slot = rolling_next++;
    rolling_next_at = now + 3600;          /* until it is ready again */
    stop_for_restart(rolling_slot);
}

static void close_listeners(void)
{
    for (int i = 0; i < nlisteners; i++)
        close(listeners[i]);
    nlisteners = 0;
}

static void begin_shutdown(const char *reason)
{
    stopping = 1;
    log_info("shutting down: %s", reason);
    close_listeners();
    struct buf b = BUF_INIT;
    size_t f = ipc_begin(&b, IPC_M_SHUTDOWN);
    ipc_put_cstr(&b, "Server shutting down");
    ipc_end(&b, f);
    for (int i = 0; i < cfg->workers; i++)
        if (slots[i].pid && send_to_worker(i, &b, -1) < 0)
            kill(slots[i].pid, SIGTERM);
    buf_free(&b);
}

void master_shutdown(int grace, const char *why)
{
    if (stopping || stop_at > 0)
        return;
    close_listeners();
    log_info("shutdown requested (%s); stopping in %d seconds", why, grace);
    if (grace > 0) {
        char text[128];
        snprintf(text, sizeof text, "The server is shutting down in %d seconds.", grace);
        for (int i = 0; i < cfg->workers; i++)
            if (slots[i].pid)
                master_query(i, 0, Q_NOTICE_ALL, text, "");
    }
    stop_at = now_mono() + grace;
}

static int live_workers(void)
{
    int n = 0;
    for (int i = 0; i < cfg->workers; i++)
        n += slots[i].pid != 0;
    return n;
}

int master_run(const struct parlor_config *config, int argc, char **argv)
{
    live = *config;
    cfg = &live;
    saved_argc = argc;
    saved_argv = argv;
    master_started = now_mono();
    if (cfg->workers > MAX_WORKERS) {
        log_error("at most %d workers", MAX_WORKERS);
        return 2;
    }
    for (int i = 0; i < MAX_WORKERS; i++)
        slots[i].chan = -1;

    if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        log_error("pipe: %s", strerror(errno));
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->ntls_listen > 0) {
        char err[512];
        tls_material_new_ticket_key(&tls_material);
        if (tls_material_load(&tls_material, cfg->tls_cert, cfg->tls_key, err, sizeof err) < 0) {
            log_error("TLS: %s", err);
            return 1;
        }
    }
    for (int i = 0; i < cfg->nlisten + cfg->ntls_listen; i++) {
        bool tls = i >= cfg->nlisten;
        int fd = open_listener(tls ? &cfg->tls_listen[i - cfg->nlisten] : &cfg->listen[i], tls);
        if (fd < 0)
            return 1;
        listener_tls[nlisteners] = tls;
        listeners[nlisteners++] = fd;
    }
    raise_fd_limit();
    update_worker_cap();
    if (control_open(cfg->control_path) < 0) {
        for (int i = 0; i < nlisteners; i++)
            close(listeners[i]);
        return 1;
    }
    bans_db_init(cfg->database);
    if (cfg->cluster[0] && !cfg->node_id_given)
        live.node_id = node_id_choose(live.cluster, live.node_name, live.node_id);   /* master/node_id.c */
    log_info("parlord %s starting %d workers", PARLOR_VERSION, cfg->workers);
    for (int i = 0; i < cfg->workers; i++)
        spawn_worker(i);

    double stop_deadline = 0;
    for (;;) {
        if (got_stop && !stopping) {
            got_stop = 0;
            begin_shutdown("signal");
            stop_deadline = now_mono() + SHUTDOWN_GRACE_MS / 1000.0;
        }
        if (got_hup) {
            got_hup = 0;
            char msg[512];
            master_reload(msg, sizeof msg);     /* logs the outcome */
        }
        if (stop_at > 0 && !stopping && now_mono() >= stop_at) {
            begin_shutdown("shutdown command");
            stop_deadline = now_mono() + SHUTDOWN_GRACE_MS / 1000.0;
        }
        control_tick();
        if (got_sigchld) {
            got_sigchld = 0;
            reap_children();
        }
        double now = now_mono();
        if (stopping) {
            if (live_workers() == 0)
                break;
            if (now > stop_deadline) {
                for (int i = 0; i < cfg->workers; i++)
                    if (slots[i].pid) {
                        log_warn("worker %d did not stop in time; killing it", i);
                        kill(slots[i].pid, SIGKILL);
                    }
                stop_deadline = now + 5;
            }
        } else {
            for (int i = 0; i < cfg->workers; i++)
                if (!slots[i].pid && slots[i].respawn_at > 0 && slots[i].respawn_at <= now)
                    spawn_worker(i);
        }

        limits_sweep(now);
        rolling_tick(now);
        rotate_ticket_key(now);
        int timeout = relink_due(now, 200);
        if (rolling_next >= 0 && timeout > 100)
            timeout = 100;
        struct pollfd pfd[1 + CONFIG_MAX_LISTEN + MAX_WORKERS + 20];
        int idx_slot[MAX_WORKERS];
        int n = 0;
        pfd[n++] = (struct pollfd){ .fd = signal_pipe[0], .events = POLLIN };
        int first_listener = n;
        int npolled = now < accept_paused_until ? 0 : nlisteners;
        if (npolled == 0 && nlisteners > 0) {
            int ms = (int)((accept_paused_until - now) * 1000) + 1;
            if (ms < timeout)
                timeout = ms;
        }
        for (int i = 0; i < npolled; i++)
            pfd[n++] = (struct pollfd){ .fd = listeners[i], .events = POLLIN };
        int first_worker = n;
        int nw = 0;
        for (int i = 0; i < cfg->workers; i++)
            if (slots[i].chan >= 0) {
                idx_slot[nw++] = i;
                pfd[n++] = (struct pollfd){ .fd = slots[i].chan, .events = POLLIN };
            }
        int first_control = n;
        n = control_pollfds(pfd, n, (int)(sizeof pfd / sizeof pfd[0]));
        for (int i = 0; i < cfg->workers; i++)
            if (!slots[i].pid && slots[i].respawn_at > 0) {
                int ms = (int)((slots[i].respawn_at - now) * 1000) + 1;
                if (ms < timeout)
                    timeout = ms < 0 ? 0 : ms;
            }
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents) {
            char drain[64];
            while (read(signal_pipe[0], drain, sizeof drain) > 0)
                ;
        }
        for (int i = 0; i < nw; i++)
            if (pfd[first_worker + i].revents)
                read_worker(idx_slot[i]);
        for (int i = 0; i < npolled && !stopping; i++)
            if (pfd[first_listener + i].revents & POLLIN)
                accept_clients(listeners[i], listener_tls[i]);
        control_handle(pfd + first_control, n - first_control);
    }
    control_close();
    limits_free();
    log_info("stopped");
    return 0;
}
