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
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "ipc/frame.h"
#include "ipc/proto.h"
#include "master/master_int.h"
#include "worker/worker.h"

#define ACCEPT_BATCH 64
#define SHUTDOWN_GRACE_MS 10000

struct worker_slot slots[MAX_WORKERS];
struct master_stats mstats;
const struct parlor_config *cfg;
double master_started;
/* The running configuration; reload replaces it (flags + file read again). */
static struct parlor_config live;
static int saved_argc;
static char **saved_argv;
static int listeners[CONFIG_MAX_LISTEN];
static int nlisteners;
static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_sigchld, got_stop, got_hup;
static int rr_next;
static int stopping;
static double stop_at;          /* graceful shutdown: when to stop the workers */
static bool notified_ready;

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

static int open_listener(const struct listen_addr *l)
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
    log_info("listening on %s:%d", l->host, l->port);
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

/* Give worker `slot` (just forked) a mesh socket to every other live worker. */
static void connect_mesh(int slot)
{
    for (int j = 0; j < cfg->workers; j++) {
        if (j == slot || slots[j].pid == 0)
            continue;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            log_error("mesh socketpair for workers %d and %d: %s", slot, j, strerror(errno));
            continue;
        }
        if (send_peer(slot, j, sv[0]) < 0 || send_peer(j, slot, sv[1]) < 0)
            log_warn("could not pass mesh socket between workers %d and %d", slot, j);
        close(sv[0]);
        close(sv[1]);
    }
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
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
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
    w->ready = false;
    int rcv = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    log_info("worker %d started, pid %d", slot, (int)pid);
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
        if (stopping) {
            log_info("worker %d (pid %d) stopped: %s", i, (int)pid, w->last_exit);
            continue;
        }
        w->restarts++;
        /* A worker that dies within a second of starting is crashing in a
         * loop; wait a second so we do not spin. */
        double now = now_mono();
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

static int pick_worker(void)
{
    int best = -1;
    long best_load = 0;
    for (int k = 0; k < cfg->workers; k++) {
        int i = (rr_next + k) % cfg->workers;
        struct worker_slot *w = &slots[i];
        if (!w->pid || w->chan < 0 || w->draining)
            continue;
        long load = w->assigned - w->closed;
        if (load >= cfg->max_clients_per_worker)
            continue;
        if (best < 0 || load < best_load) {
            best = i;
            best_load = load;
        }
    }
    if (best >= 0)
        rr_next = (best + 1) % cfg->workers;
    return best;
}

static void refuse(int fd, const char *why)
{
    char line[256];
    int n = snprintf(line, sizeof line, "ERROR :Closing Link: %s\r\n", why);
    ssize_t ignored = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    close(fd);
}

static void accept_clients(int lfd)
{
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
            port = ntohs(sin6->sin6_port);
        }
        mstats.accepted++;
        if (total_clients() >= cfg->max_clients) {
            mstats.refused++;
            log_info("refusing %s:%d: server full (%d clients)", ip, port, cfg->max_clients);
            refuse(fd, "Server full, try again later");
            continue;
        }
        int slot = pick_worker();
        if (slot < 0) {
            log_warn("refusing %s:%d: no worker available", ip, port);
            refuse(fd, "No worker available, try again later");
            continue;
        }
        struct buf b = BUF_INIT;
        size_t f = ipc_begin(&b, IPC_M_CLIENT);
        ipc_put_cstr(&b, ip);
        ipc_put_u32(&b, (uint32_t)port);
        ipc_end(&b, f);
        int r = send_to_worker(slot, &b, fd);
        buf_free(&b);
        if (r < 0) {
            log_warn("passing %s:%d to worker %d: %s", ip, port, slot, strerror(-r));
            refuse(fd, "Server busy, try again later");
            continue;
        }
        slots[slot].assigned++;
        log_debug("client %s:%d -> worker %d", ip, port, slot);
        close(fd);
    }
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
    if (strcmp(next.control_path, live.control_path) != 0)
        strcat(kept, " control");
    if (strcmp(next.database, live.database) != 0)
        strcat(kept, " database");
    next.workers = live.workers;
    next.nlisten = live.nlisten;
    memcpy(next.listen, live.listen, sizeof live.listen);
    memcpy(next.control_path, live.control_path, sizeof live.control_path);
    memcpy(next.database, live.database, sizeof live.database);
    live = next;
    log_set_level((enum log_level)live.log_level);
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
            notify_ready();
            break;
        case IPC_W_ANSWER:
            control_on_answer(slot, payload, plen);
            break;
        case IPC_W_CLOSED:
            slots[slot].closed += ipc_get_u32(&r);
            break;
        default:
            log_warn("worker %d sent unknown frame type %d", slot, type);
        }
    }
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

    for (int i = 0; i < cfg->nlisten; i++) {
        int fd = open_listener(&cfg->listen[i]);
        if (fd < 0)
            return 1;
        listeners[nlisteners++] = fd;
    }
    if (control_open(cfg->control_path) < 0) {
        for (int i = 0; i < nlisteners; i++)
            close(listeners[i]);
        return 1;
    }
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

        struct pollfd pfd[1 + CONFIG_MAX_LISTEN + MAX_WORKERS + 20];
        int idx_slot[MAX_WORKERS];
        int n = 0;
        pfd[n++] = (struct pollfd){ .fd = signal_pipe[0], .events = POLLIN };
        int first_listener = n;
        for (int i = 0; i < nlisteners; i++)
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
        int timeout = 200;
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
        for (int i = 0; i < nlisteners && !stopping; i++)
            if (pfd[first_listener + i].revents & POLLIN)
                accept_clients(listeners[i]);
        control_handle(pfd + first_control, n - first_control);
    }
    control_close();
    log_info("stopped");
    return 0;
}
