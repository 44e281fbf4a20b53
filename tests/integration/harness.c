/* Integration test harness; see harness.h for the contract. */
#include "tests/integration/harness.h"

#include "common/irc.h"
#include "common/tls.h"

#include <openssl/ssl.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- processes ------------------------------------------------------- */

long it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int it_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Parse /proc/PID/stat: state and parent.  0 or -errno. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    char st;
    int pp;
    if (sscanf(p + 1, " %c %d", &st, &pp) != 2)
        return -EIO;
    *state = st;
    *ppid = (pid_t)pp;
    return 0;
}

int it_proc_children(pid_t parent, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end != '\0' || v <= 0)
            continue;
        char st;
        pid_t pp;
        if (proc_stat((pid_t)v, &st, &pp) < 0)
            continue;
        if (pp == parent && st != 'Z' && st != 'X' && n < max)
            pids[n++] = (pid_t)v;
    }
    closedir(d);
    return n;
}

bool it_proc_alive(pid_t pid)
{
    char st;
    pid_t pp;
    return proc_stat(pid, &st, &pp) == 0 && st != 'Z' && st != 'X';
}

static bool proc_exists(pid_t pid)
{
    char st;
    pid_t pp;
    return proc_stat(pid, &st, &pp) == 0;
}

int it_proc_wait(pid_t pid, int timeout_ms, int *status)
{
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (it_now_ms() >= deadline)
            return -ETIMEDOUT;
        it_sleep_ms(5);
    }
}

int it_proc_stop(pid_t pid, int timeout_ms, int *status, bool *killed)
{
    *killed = false;
    if (kill(pid, SIGTERM) < 0)
        return -errno;
    int rc = it_proc_wait(pid, timeout_ms, status);
    if (rc != -ETIMEDOUT)
        return rc;
    *killed = true;
    kill(pid, SIGKILL);
    return it_proc_wait(pid, 5000, status);
}

static void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* Stop the master (our child) and every worker by PID, without assertions. */
static void kill_server_tree(pid_t master)
{
    pid_t kids[IT_MAX_WORKERS * 2];
    int n = it_proc_children(master, kids, IT_MAX_WORKERS * 2);
    int status;
    bool killed;
    it_proc_stop(master, 2000, &status, &killed);
    for (int i = 0; i < n; i++)
        if (proc_exists(kids[i]))
            kill(kids[i], SIGKILL);
    it_sleep_ms(20);
    reap_orphans();
}

/* ---- the server ------------------------------------------------------ */

static const char *parlord_path(void)
{
    const char *p = getenv("PARLORD");
    return (p && *p) ? p : "bin/parlord";
}

/* Remove a directory the server may have filled (log, control socket,
 * spool folders); `depth` bounds the recursion. */
static void remove_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (depth > 0)
                remove_tree(path, depth - 1);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

void it_server_dump_log(const struct it_server *s, int lines)
{
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "(no log at %s: %s)\n", s->log_path, strerror(errno));
        return;
    }
    static char buf[65536];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t start = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, start);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* Find the start of the last `lines` lines. */
    char *p = buf + n;
    if (p > buf && p[-1] == '\n')
        p--;
    int seen = 0;
    while (p > buf) {
        if (p[-1] == '\n' && ++seen == lines)
            break;
        p--;
    }
    fputs(p, stderr);
    if (n > 0 && buf[n - 1] != '\n')
        fputc('\n', stderr);
}

bool it_server_log_contains(const struct it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "re");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) >= 0)
        found = strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return found;
}

/* ---- the watcher ---------------------------------------------------------
 *
 * A failing Check assertion ends the test process with _exit(), and a test
 * that times out is killed with SIGKILL, so neither atexit() nor a teardown
 * runs.  Instead, each server gets a watcher process in its own process group
 * (Check kills the test's group when the test ends).  It waits on a pipe:
 * the test writes one byte once it has stopped the server; EOF means the test
 * died with the server running, and the watcher prints the log's tail and
 * stops the server by PID. */

static void watcher_main(pid_t master, const struct it_server *s, int rfd)
{
    char b;
    ssize_t n;
    while ((n = read(rfd, &b, 1)) < 0 && errno == EINTR)
        ;
    if (n == 1)
        _exit(0);
    fprintf(stderr, "\n--- the test ended with parlord (pid %d, port %d) running; "
            "tail of %s:\n", (int)master, s->port, s->log_path);
    it_server_dump_log(s, 40);
    fprintf(stderr, "--- end of log (directory kept: %s)\n", s->dir);
    pid_t kids[IT_MAX_WORKERS * 2];
    int nk = it_proc_children(master, kids, IT_MAX_WORKERS * 2);
    if (it_proc_alive(master)) {
        kill(master, SIGTERM);
        for (int i = 0; i < 200 && it_proc_alive(master); i++)
            it_sleep_ms(10);
        if (it_proc_alive(master))
            kill(master, SIGKILL);
    }
    for (int i = 0; i < nk; i++)
        if (it_proc_alive(kids[i]))
            kill(kids[i], SIGKILL);
    _exit(0);
}

static void watcher_start(struct it_server *s)
{
    int p[2];
    ck_assert_msg(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        /* Check's handlers would forward signals to the test's group. */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        for (int fd = 3; fd < 1024; fd++)
            if (fd != p[0])
                close(fd);
        watcher_main(s->pid, s, p[0]);
    }
    setpgid(pid, pid);
    close(p[0]);
    s->watcher = pid;
    s->watch_fd = p[1];
}

/* The server is stopped (or was never up): the watcher may go quietly. */
static void watcher_stop(struct it_server *s)
{
    if (s->watcher <= 0)
        return;
    (void)!write(s->watch_fd, "s", 1);
    close(s->watch_fd);
    waitpid(s->watcher, NULL, 0);
    s->watcher = 0;
    s->watch_fd = -1;
}

static void server_fail(const struct it_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void server_fail(const struct it_server *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- %s\n", msg);
    /* With the server still up, the watcher prints the log when the test
     * process ends. */
    if (s->watcher <= 0) {
        fprintf(stderr, "--- log tail of %s:\n", s->log_path);
        it_server_dump_log(s, 40);
        fprintf(stderr, "--- end of log (directory kept: %s)\n", s->dir);
    }
    ck_abort_msg("%s", msg);
}

static pid_t spawn(const struct it_server *s, const char *const *argv)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Child: stay in the test's process group (Check kills the group if the
     * test times out); log to the file; default signal handling. */
    int log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0)
        _exit(126);
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (s->nofile > 0) {
        struct rlimit rl = { (rlim_t)s->nofile, (rlim_t)s->nofile };
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            _exit(125);
    }
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Connect and wait for the worker's greeting.  1 when greeted, 0 when not
 * listening yet, -1 when it accepted but no greeting came in time. */
static int probe(const struct it_server *s, int timeout_ms)
{
    struct it_client *c = it_client_connect(s->port, 0);
    if (!c)
        return 0;
    /* Without show-internals (a test turns it off) nothing is said before
     * registration: the PING's answer greets instead. */
    it_send_raw(c, "PING :it-probe\r\n", strlen("PING :it-probe\r\n"));
    const char *l = it_wait_re(c, "(\\*\\*\\* Connected to worker|PONG .*it-probe)", timeout_ms);
    it_client_free(c);
    return l ? 1 : -1;
}

void it_server_start(struct it_server *s, const char *const *extra)
{
    it_server_start_nofile(s, extra, 0);
}

void it_server_start_nofile(struct it_server *s, const char *const *extra, int nofile)
{
    memset(s, 0, sizeof *s);
    s->nworkers = 2;
    s->nofile = nofile;
    const char *bin = parlord_path();
    ck_assert_msg(access(bin, X_OK) == 0, "PARLORD=%s is not executable: %s",
                  bin, strerror(errno));

    s->watch_fd = -1;
    /* Orphaned workers come back to this process instead of init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    strcpy(s->dir, "/tmp/parlor-it-XXXXXX");
    ck_assert_msg(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(s->log_path, sizeof s->log_path, "%s/parlord.log", s->dir);
    snprintf(s->control_path, sizeof s->control_path, "%s/control.sock", s->dir);

    bool workers_given = false;
    for (int i = 0; extra && extra[i]; i++)
        if (strcmp(extra[i], "--workers") == 0 && extra[i + 1]) {
            workers_given = true;
            s->nworkers = atoi(extra[i + 1]);
        }

    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = it_free_port();
        ck_assert_msg(s->port > 0, "no free port: %s", strerror(-s->port));
        char listen[32];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
        const char *argv[64];
        int argc = 0;
        argv[argc++] = bin;
        argv[argc++] = "--listen";
        argv[argc++] = listen;
        if (!workers_given) {
            argv[argc++] = "--workers";
            argv[argc++] = "2";
        }
        bool log_level = true, control = true;
        for (int i = 0; extra && extra[i]; i++) {
            log_level = log_level && strcmp(extra[i], IT_NO_LOG_LEVEL) != 0;
            control = control && strcmp(extra[i], IT_NO_CONTROL) != 0;
        }
        if (control) {
            argv[argc++] = "--control";
            argv[argc++] = s->control_path;
        } else {
            setenv("PARLOR_CONTROL", s->control_path, 1);   /* inherited by parlord */
        }
        if (log_level) {
            argv[argc++] = "--log-level";
            argv[argc++] = "debug";
        }
        /* Every test client comes from 127.0.0.1: the per-address limits
         * are off unless a test sets them (test_limits.c does). */
        argv[argc++] = "--max-connections-per-ip";
        argv[argc++] = "0";
        argv[argc++] = "--connect-rate";
        argv[argc++] = "0";
        /* The "Connected to worker N (pid P)" notice tells tests where a
         * connection landed (it_connect_on_worker); extra may turn it off. */
        argv[argc++] = "--show-internals";
        for (int i = 0; extra && extra[i] && argc < 63; i++)
            if (strcmp(extra[i], IT_NO_LOG_LEVEL) != 0 && strcmp(extra[i], IT_NO_CONTROL) != 0)
                argv[argc++] = extra[i];
        argv[argc] = NULL;

        s->pid = spawn(s, argv);
        ck_assert_msg(s->pid > 0, "fork: %s", strerror(errno));
        watcher_start(s);

        long deadline = it_now_ms() + 10000;
        int status = 0;
        bool exited = false;
        for (;;) {
            if (it_proc_wait(s->pid, 0, &status) == 0) {
                exited = true;
                break;
            }
            int r = probe(s, (int)(deadline - it_now_ms()));
            if (r == 1)
                break;
            if (it_now_ms() >= deadline)
                server_fail(s, "parlord did not accept and greet a connection on port %d within 10 s",
                            s->port);
            if (r == 0)
                it_sleep_ms(20);
        }
        if (exited) {
            watcher_stop(s);
            if (attempt < 2 && it_server_log_contains(s, "in use"))
                continue;  /* the port was taken meanwhile: try another */
            s->pid = 0;
            server_fail(s, "parlord exited during startup (%s %d)",
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        break;
    }

    /* Every worker is up before the test looks at them. */
    long deadline = it_now_ms() + 5000;
    pid_t pids[IT_MAX_WORKERS];
    while (it_server_workers(s, pids, IT_MAX_WORKERS) < s->nworkers) {
        if (it_now_ms() >= deadline)
            server_fail(s, "parlord has %d worker processes after 5 s, expected %d",
                        it_server_workers(s, pids, IT_MAX_WORKERS), s->nworkers);
        it_sleep_ms(10);
    }
}

int it_server_workers(const struct it_server *s, pid_t *pids, int max)
{
    return it_proc_children(s->pid, pids, max);
}

void it_server_stop(struct it_server *s)
{
    pid_t workers[IT_MAX_WORKERS];
    int n = it_server_workers(s, workers, IT_MAX_WORKERS);
    if (n < 0)
        n = 0;
    ck_assert_msg(kill(s->pid, SIGTERM) == 0, "kill(%d, SIGTERM): %s",
                  (int)s->pid, strerror(errno));
    it_server_wait_exit(s, workers, n);
}

void it_server_kill9(struct it_server *s)
{
    pid_t kids[IT_MAX_WORKERS * 2];
    int nk = it_proc_children(s->pid, kids, IT_MAX_WORKERS * 2);
    ck_assert_int_eq(kill(s->pid, SIGKILL), 0);
    for (int i = 0; i < nk; i++)
        kill(kids[i], SIGKILL);
    int st;
    ck_assert_int_eq(it_proc_wait(s->pid, 5000, &st), 0);
    for (int i = 0; i < nk; i++)       /* ours again (subreaper) */
        it_proc_wait(kids[i], 5000, &st);
    watcher_stop(s);
    remove_tree(s->dir, 4);
}

void it_server_wait_exit(struct it_server *s, const pid_t *workers, int nworkers)
{
    int status = 0;
    if (it_proc_wait(s->pid, 10000, &status) != 0) {
        kill_server_tree(s->pid);
        watcher_stop(s);
        server_fail(s, "parlord (pid %d) did not exit within 10 s of SIGTERM; killed",
                    (int)s->pid);
    }
    watcher_stop(s);

    /* The master must have reaped its workers before exiting; one still
     * present (alive, or a zombie handed to us as subreaper) was left. */
    char left[256] = "";
    for (int i = 0; i < nworkers; i++) {
        if (!proc_exists(workers[i]))
            continue;
        size_t l = strlen(left);
        snprintf(left + l, sizeof left - l, " %d", (int)workers[i]);
        kill(workers[i], SIGKILL);
    }
    it_sleep_ms(left[0] ? 50 : 0);
    reap_orphans();
    if (left[0])
        server_fail(s, "worker processes left after the master exited:%s", left);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        server_fail(s, "parlord exited with %s %d, expected status 0",
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    static const char *const reports[] = {
        "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
    };
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        if (it_server_log_contains(s, reports[i]))
            server_fail(s, "sanitizer report in the server log (\"%s\")", reports[i]);
    remove_tree(s->dir, 4);
    s->pid = 0;
}

int it_run_parlord(const char *const *args, char *out, size_t outsz, int timeout_ms)
{
    return it_run(parlord_path(), args, out, outsz, timeout_ms);
}

void it_parlorctl_path(char *out, size_t cap)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", parlord_path());
    snprintf(out, cap, "%s/parlorctl", dirname(dir));
}

int it_run(const char *path, const char *const *args, char *out, size_t outsz, int timeout_ms)
{
    int p[2];
    ck_assert_msg(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    const char *argv[32];
    int argc = 0;
    argv[argc++] = path;
    for (int i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = { .fd = p[0], .events = POLLIN };
        long left = deadline - it_now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        char tmp[4096];
        ssize_t n = read(p[0], tmp, sizeof tmp);
        if (n <= 0)
            break;
        size_t take = (size_t)n < outsz - 1 - len ? (size_t)n : outsz - 1 - len;
        memcpy(out + len, tmp, take);
        len += take;
    }
    out[len] = '\0';
    close(p[0]);
    int status;
    if (it_proc_wait(pid, (int)(deadline - it_now_ms() > 0 ? deadline - it_now_ms() : 0),
                     &status) == 0)
        return status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* ---- clients ---------------------------------------------------------- */

struct it_client *it_client_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A server that stops reading must not hang the test forever. */
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return NULL;
    }
    struct it_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->fd = fd;
    c->worker = -1;
    c->auto_pong = true;
    return c;
}

int it_client_start_tls(struct it_client *c, struct ssl_ctx_st *ctx, int timeout_ms,
                        char *err, size_t errlen)
{
    return it_client_start_tls_session(c, ctx, NULL, timeout_ms, err, errlen);
}

int it_client_start_tls_session(struct it_client *c, struct ssl_ctx_st *ctx,
                                struct ssl_session_st *session, int timeout_ms,
                                char *err, size_t errlen)
{
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->tls = tls_conn_new(ctx, c->fd, false, "localhost");
    if (!c->tls) {
        snprintf(err, errlen, "tls_conn_new failed");
        return -1;
    }
    if (session)
        SSL_set_session(tls_conn_ssl(c->tls), session);
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int r = tls_handshake(c->tls);
        if (r == 1)
            return 0;
        if (r == TLS_ERROR) {
            snprintf(err, errlen, "%s", tls_error(c->tls));
            return -1;
        }
        long left = deadline - it_now_ms();
        if (left <= 0) {
            snprintf(err, errlen, "handshake timed out");
            return -1;
        }
        struct pollfd pfd = { .fd = c->fd, .events = r == TLS_WANT_WRITE ? POLLOUT : POLLIN };
        poll(&pfd, 1, (int)left);
    }
}

struct ssl_ctx_st *it_tls_ctx(const char *cert)
{
    char err[256];
    struct ssl_ctx_st *ctx = tls_client_ctx(NULL, true, cert, NULL, err, sizeof err);
    ck_assert_msg(ctx != NULL, "TLS client context: %s", err);
    return ctx;
}

struct it_client *it_connect_tls(int port, struct ssl_ctx_st *ctx)
{
    struct it_client *c = it_client_connect(port, 0);
    ck_assert_msg(c != NULL, "connect to TLS port %d: %s", port, strerror(errno));
    char err[256];
    if (it_client_start_tls(c, ctx, IT_TIMEOUT_MS, err, sizeof err) < 0)
        it_fail(c, "TLS handshake: %s", err);
    it_expect(c, "*** Connected to worker");
    return c;
}

void it_make_cert(const char *dir, const char *name, const char *cn, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s.pem", dir, name);
    char subj[128];
    snprintf(subj, sizeof subj, "/CN=%s", cn);
    const char *args[] = { "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-days", "2", "-subj", subj, "-addext",
                           "subjectAltName=DNS:localhost,IP:127.0.0.1",
                           "-keyout", path, "-out", path, NULL };
    char out[4096];
    int st = it_run("/usr/bin/openssl", args, out, sizeof out, 10000);
    ck_assert_msg(st == 0, "openssl req failed (%d): %s", st, out);
}

void it_client_free(struct it_client *c)
{
    if (!c)
        return;
    if (c->tls)
        tls_shutdown(c->tls);        /* a session closed cleanly stays resumable */
    tls_conn_free(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    free(c->line);
    free(c);
}

void it_fail(const struct it_client *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- client %s (worker %d, fd %d%s): %s\n--- its last lines:\n",
            c->nick[0] ? c->nick : "(unregistered)", c->worker, c->fd,
            c->eof ? ", closed" : "", msg);
    unsigned n = c->nhistory < IT_HISTORY ? c->nhistory : IT_HISTORY;
    for (unsigned i = c->nhistory - n; i < c->nhistory; i++)
        fprintf(stderr, "    %s\n", c->history[i % IT_HISTORY]);
    ck_abort_msg("%s: %s", c->nick[0] ? c->nick : "(unregistered)", msg);
}

int it_send_raw(struct it_client *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        if (c->tls) {
            ssize_t n = tls_write(c->tls, p, len);
            if (n == TLS_ERROR)
                return -EPROTO;
            if (n < 0) {
                struct pollfd pfd = { .fd = c->fd, .events = n == TLS_WANT_WRITE ? POLLOUT : POLLIN };
                if (poll(&pfd, 1, 5000) <= 0)
                    return -ETIMEDOUT;
                continue;
            }
            p += n;
            len -= (size_t)n;
            continue;
        }
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void it_send(struct it_client *c, const char *fmt, ...)
{
    char line[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && (size_t)n < sizeof line - 2, "it_send: line too long");
    memcpy(line + n, "\r\n", 2);
    int rc = it_send_raw(c, line, (size_t)n + 2);
    if (rc < 0)
        it_fail(c, "send failed: %s", strerror(-rc));
}

int it_fill(struct it_client *c, int timeout_ms)
{
    if (c->eof)
        return -1;
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    int r = c->tls && tls_pending(c->tls) ? 1 : poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    if (r == 0)
        return 0;
    if (c->in_cap - c->in_len < 65536) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
        while (cap - c->in_len < 65536)
            cap *= 2;
        char *p = realloc(c->in, cap);
        ck_assert_msg(p != NULL, "out of memory");
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t n;
    if (c->tls) {
        n = tls_read(c->tls, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
            return 0;
    } else {
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    }
    if (n < 0 && !c->tls && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        c->eof = true;  /* EOF, or a reset connection */
        return -1;
    }
    c->in_len += (size_t)n;
    return (int)n;
}

/* Hooks on every line: remember it, learn the worker, answer PING. */
static void on_line(struct it_client *c, const char *l)
{
    snprintf(c->history[c->nhistory % IT_HISTORY], sizeof c->history[0], "%s", l);
    c->nhistory++;

    const char *notice = strstr(l, "*** Connected to worker ");
    int w, pid;
    if (notice && sscanf(notice, "*** Connected to worker %d (pid %d)", &w, &pid) == 2) {
        c->worker = w;
        c->worker_pid = (pid_t)pid;
    }

    const char *cmd = l;
    if (cmd[0] == ':') {
        cmd = strchr(cmd, ' ');
        cmd = cmd ? cmd + 1 : "";
    }
    if (c->auto_pong && strncmp(cmd, "PING ", 5) == 0) {
        char pong[600];
        snprintf(pong, sizeof pong, "PONG %s\r\n", cmd + 5);
        it_send_raw(c, pong, strlen(pong));
    }
}

const char *it_try_line(struct it_client *c)
{
    char *nl = c->in_len ? memchr(c->in, '\n', c->in_len) : NULL;
    if (!nl)
        return NULL;
    size_t total = (size_t)(nl - c->in) + 1;
    size_t len = total - 1;
    if (len > 0 && c->in[len - 1] == '\r')
        len--;
    if (c->line_cap < len + 1) {
        char *p = realloc(c->line, len + 1);
        ck_assert_msg(p != NULL, "out of memory");
        c->line = p;
        c->line_cap = len + 1;
    }
    memcpy(c->line, c->in, len);
    c->line[len] = '\0';
    memmove(c->in, c->in + total, c->in_len - total);
    c->in_len -= total;
    on_line(c, c->line);
    return c->line;
}

const char *it_next_line(struct it_client *c, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        const char *l = it_try_line(c);
        if (l)
            return l;
        if (c->eof)
            return NULL;
        long left = deadline - it_now_ms();
        if (left < 0)
            left = 0;
        /* With no time left, still take what has already arrived. */
        if (it_fill(c, (int)left) == 0 && left == 0)
            return NULL;
    }
}

const char *it_wait(struct it_client *c, const char *needle, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l || strstr(l, needle))
            return l;
    }
}

const char *it_wait_re(struct it_client *c, const char *re, int timeout_ms)
{
    regex_t rx;
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    ck_assert_msg(rc == 0, "bad regex %s", re);
    long deadline = it_now_ms() + timeout_ms;
    const char *l;
    for (;;) {
        l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l || regexec(&rx, l, 0, NULL, 0) == 0)
            break;
    }
    regfree(&rx);
    return l;
}

const char *it_expect(struct it_client *c, const char *needle)
{
    const char *l = it_wait(c, needle, IT_TIMEOUT_MS);
    if (!l)
        it_fail(c, "expected a line containing \"%s\" within %d ms%s", needle,
                IT_TIMEOUT_MS, c->eof ? " (connection closed)" : "");
    return l;
}

const char *it_expect_re(struct it_client *c, const char *re)
{
    const char *l = it_wait_re(c, re, IT_TIMEOUT_MS);
    if (!l)
        it_fail(c, "expected a line matching /%s/ within %d ms%s", re,
                IT_TIMEOUT_MS, c->eof ? " (connection closed)" : "");
    return l;
}

/* The command word of a line (after the optional source), copied. */
static void line_command(const char *l, char *out, size_t outsz)
{
    if (l[0] == '@') {  /* message tags */
        l = strchr(l, ' ');
        l = l ? l + 1 : "";
    }
    if (l[0] == ':') {
        l = strchr(l, ' ');
        l = l ? l + 1 : "";
    }
    size_t n = strcspn(l, " ");
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, l, n);
    out[n] = '\0';
}

static bool is_reply(const char *cmd)
{
    bool numeric = strlen(cmd) == 3 && cmd[0] >= '0' && cmd[0] <= '9' &&
                   cmd[1] >= '0' && cmd[1] <= '9' && cmd[2] >= '0' && cmd[2] <= '9';
    return numeric || strcmp(cmd, "FAIL") == 0 || strcmp(cmd, "ERROR") == 0;
}

const char *it_expect_numeric(struct it_client *c, const char *num)
{
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "expected reply %s within %d ms%s", num, IT_TIMEOUT_MS,
                    c->eof ? " (connection closed)" : "");
        char cmd[32];
        line_command(l, cmd, sizeof cmd);
        if (strcmp(cmd, num) == 0)
            return l;
        if (is_reply(cmd))
            it_fail(c, "expected reply %s, got: %s", num, l);
    }
}

int it_count_for(struct it_client *c, const char *needle, int ms)
{
    long deadline = it_now_ms() + ms;
    int count = 0;
    const char *l;
    while ((l = it_next_line(c, (int)(deadline - it_now_ms()))) != NULL)
        if (strstr(l, needle))
            count++;
    return count;
}

void it_expect_alive(struct it_client *c)
{
    static unsigned counter;
    char token[32];
    snprintf(token, sizeof token, "alive-%d-%u", (int)getpid(), ++counter);
    it_send(c, "PING :%s", token);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no PONG %s within %d ms%s", token, IT_TIMEOUT_MS,
                    c->eof ? " (connection closed)" : "");
        char cmd[32];
        line_command(l, cmd, sizeof cmd);
        if (strcmp(cmd, "PONG") == 0 && strstr(l, token))
            return;
    }
}

int it_expect_closed(struct it_client *c, const char *needle, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    int count = 0;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (l) {
            if (needle && strstr(l, needle))
                count++;
            continue;
        }
        if (c->eof)
            return count;
        it_fail(c, "connection still open after %d ms", timeout_ms);
    }
}

void it_register(struct it_client *c, const char *nick)
{
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    it_send(c, "NICK %s", nick);
    it_send(c, "USER %s 0 * :Parlor test %s", nick, nick);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    bool welcomed = false;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "registration as %s: no %s within %d ms%s", nick,
                    welcomed ? "376/422" : "001", IT_TIMEOUT_MS,
                    c->eof ? " (connection closed)" : "");
        char cmd[32];
        line_command(l, cmd, sizeof cmd);
        if (strcmp(cmd, "001") == 0)
            welcomed = true;
        else if (welcomed && (strcmp(cmd, "376") == 0 || strcmp(cmd, "422") == 0))
            return;
        else if (!welcomed && (cmd[0] == '4' || strcmp(cmd, "ERROR") == 0 ||
                               strcmp(cmd, "FAIL") == 0))
            it_fail(c, "registration as %s refused: %s", nick, l);
    }
}

void it_name_owned_by(const char *prefix, int worker, int nworkers, char *out, size_t cap)
{
    for (int i = 0;; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        if ((int)(irc_casehash(out, strlen(out)) % (uint64_t)nworkers) == worker)
            return;
    }
}

void it_join(struct it_client *c, const char *chan, const char *key)
{
    if (key)
        it_send(c, "JOIN %s %s", chan, key);
    else
        it_send(c, "JOIN %s", chan);
    char end[128];
    snprintf(end, sizeof end, " 366 %s %s ", c->nick, chan);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "JOIN %s: no 366 within %d ms", chan, IT_TIMEOUT_MS);
        if (strstr(l, end))
            return;
        char num[8];
        if (sscanf(l, ":parlor.local %7s", num) == 1 && num[0] == '4')
            it_fail(c, "JOIN %s refused: %s", chan, l);
    }
}

static struct it_client *connect_greeted(const struct it_server *s, int rcvbuf)
{
    struct it_client *c = it_client_connect(s->port, rcvbuf);
    if (!c)
        server_fail(s, "connect to 127.0.0.1:%d: %s", s->port, strerror(errno));
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    while (c->worker < 0) {
        if (!it_next_line(c, (int)(deadline - it_now_ms())))
            it_fail(c, "no \"*** Connected to worker N (pid P)\" notice within %d ms%s",
                    IT_TIMEOUT_MS, c->eof ? " (connection closed)" : "");
    }
    return c;
}

struct it_client *it_connect(const struct it_server *s)
{
    return connect_greeted(s, 0);
}

struct it_client *it_connect_registered(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect(s);
    it_register(c, nick);
    return c;
}

struct it_client *it_connect_on_worker(const struct it_server *s, int worker)
{
    return it_connect_on_worker_rcvbuf(s, worker, 0);
}

struct it_client *it_connect_on_worker_rcvbuf(const struct it_server *s, int worker,
                                              int rcvbuf)
{
    /* Connections that land elsewhere stay open until the end: the master
     * gives each new connection to the least-loaded worker, so closing them
     * at once would send the next one to the same place again. */
    struct it_client *spare[8];
    struct it_client *found = NULL;
    int n = 0;
    while (!found && n < 8) {
        struct it_client *c = connect_greeted(s, rcvbuf);
        if (c->worker == worker)
            found = c;
        else
            spare[n++] = c;
    }
    for (int i = 0; i < n; i++)
        it_client_free(spare[i]);
    if (!found)
        ck_abort_msg("8 connections in a row did not land on worker %d", worker);
    if (n > 0)
        it_sleep_ms(20);  /* let the server notice the closed spares */
    return found;
}

/* ---- waiting for events (issue 14) ---------------------------------------- */

int it_server_log_count(const struct it_server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "re");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) >= 0)
        if (strstr(line, needle))
            n++;
    free(line);
    fclose(f);
    return n;
}

void it_server_expect_log(const struct it_server *s, const char *needle, int count, int timeout_ms)
{
    if (!IT_EVENTUALLY(it_server_log_count(s, needle) >= count, timeout_ms))
        server_fail(s, "the log has %d lines with '%s' after %d ms, expected %d",
                    it_server_log_count(s, needle), needle, timeout_ms, count);
}

static bool workers_replaced(const struct it_server *s, const pid_t *gone, int ngone,
                             pid_t *pids, int n)
{
    pid_t now[IT_MAX_WORKERS];
    int have = it_server_workers(s, now, IT_MAX_WORKERS);
    if (have != n)
        return false;
    for (int i = 0; i < have; i++)
        for (int j = 0; j < ngone; j++)
            if (now[i] == gone[j])
                return false;
    memcpy(pids, now, (size_t)n * sizeof *pids);
    return true;
}

void it_server_expect_workers_replaced(const struct it_server *s, const pid_t *gone, int ngone,
                                       pid_t *pids, int n, int timeout_ms)
{
    if (!IT_EVENTUALLY(workers_replaced(s, gone, ngone, pids, n), timeout_ms))
        server_fail(s, "no %d live workers without the replaced ones after %d ms", n, timeout_ms);
}

void it_require_file(const char *path, const char *what)
{
    ck_assert_msg(access(path, X_OK) == 0, "%s (%s) is missing: %s; run make first",
                  what, path, strerror(errno));
}

struct it_client *it_connect_when_room(const struct it_server *s)
{
    long deadline = it_now_ms() + 10000;
    for (;;) {
        struct it_client *c = it_client_connect(s->port, 0);
        if (!c)
            server_fail(s, "connect to 127.0.0.1:%d: %s", s->port, strerror(errno));
        const char *l = it_wait_re(c, "(^ERROR :Closing Link|\\*\\*\\* Connected to worker)", IT_TIMEOUT_MS);
        if (l && c->worker >= 0)
            return c;
        if (!l || it_now_ms() > deadline)
            it_fail(c, "no room on the server: %s", l ? l : "(nothing)");
        it_client_free(c);
        it_sleep_ms(10);
    }
}

void it_base64(const void *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = in;
    for (size_t i = 0; i < len; i += 3, out += 4) {
        unsigned long v = (unsigned long)p[i] << 16 | (i + 1 < len ? p[i + 1] << 8 : 0) |
                          (i + 2 < len ? p[i + 2] : 0);
        for (int k = 0; k < 4; k++)
            out[k] = (size_t)k <= len - i ? abc[(v >> (18 - 6 * k)) & 63] : '=';
    }
    *out = '\0';
}
