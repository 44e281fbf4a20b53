/* The master's control socket (master/control.h) and bin/parlorctl, against
 * a running parlord.
 *
 * The tests talk to the socket directly (AF_UNIX, "command\n", answer lines
 * up to an empty line) and check what the answers say against what the test
 * knows: the worker PIDs from /proc, the clients it connected and where they
 * landed, the channels it joined.  parlorctl is looked for next to $PARLORD. */
#include "tests/integration/harness.h"
#include "tests/integration/suites.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the control socket ---------------------------------------------------- */

#define CTL_BUF 262144

/* One connection to the control socket.  `answer` holds the last answer
 * without its terminating empty line (NUL-terminated). */
struct ctl {
    int fd;
    char in[CTL_BUF];
    size_t len;
    char answer[CTL_BUF];
};

/* Connect as the current user; -errno on failure. */
static int ctl_connect_fd(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static struct ctl *ctl_open(const struct it_server *s)
{
    struct ctl *c = calloc(1, sizeof *c);
    ck_assert_msg(c != NULL, "out of memory");
    c->fd = ctl_connect_fd(s->control_path);
    ck_assert_msg(c->fd >= 0, "connect to the control socket %s: %s", s->control_path,
                  strerror(-c->fd));
    return c;
}

static void ctl_close(struct ctl *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

/* Read until a whole answer is buffered; returns it (copied into
 * c->answer), or NULL on timeout or EOF. */
static const char *ctl_read_answer(struct ctl *c, int timeout_ms)
{
    long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        /* An answer ends with an empty line: "\n\n", or "\n" at the start. */
        size_t end = 0;
        if (c->len >= 1 && c->in[0] == '\n') {
            end = 1;
        } else {
            for (size_t i = 1; i < c->len; i++)
                if (c->in[i - 1] == '\n' && c->in[i] == '\n') {
                    end = i + 1;
                    break;
                }
        }
        if (end) {
            size_t text = end >= 2 ? end - 2 : 0;   /* without "\n\n" */
            if (end == 1)
                text = 0;
            memcpy(c->answer, c->in, text);
            c->answer[text] = '\0';
            memmove(c->in, c->in + end, c->len - end);
            c->len -= end;
            return c->answer;
        }
        long left = deadline - it_now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ck_assert_msg(c->len < sizeof c->in - 1, "control answer larger than %zu bytes",
                      sizeof c->in);
        ssize_t n = read(c->fd, c->in + c->len, sizeof c->in - 1 - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
    }
}

static void ctl_send(struct ctl *c, const char *cmd)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    ck_assert_msg(n > 0 && (size_t)n < sizeof line, "command too long");
    ck_assert_msg(send(c->fd, line, (size_t)n, MSG_NOSIGNAL) == n, "send '%s' to the control socket: %s",
                  cmd, strerror(errno));
}

/* Send one command and return its answer (valid until the next command). */
static const char *ctl_cmd(struct ctl *c, const char *cmd)
{
    ctl_send(c, cmd);
    const char *a = ctl_read_answer(c, IT_TIMEOUT_MS);
    ck_assert_msg(a != NULL, "no answer to '%s' within %d ms", cmd, IT_TIMEOUT_MS);
    return a;
}

static int count_lines(const char *text)
{
    if (!*text)
        return 0;
    int n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '\n' && p[1] != '\0';
    return n;
}

/* The answer must be exactly one line starting with `prefix`. */
static void expect_one_line(const char *cmd, const char *answer, const char *prefix)
{
    ck_assert_msg(strncmp(answer, prefix, strlen(prefix)) == 0 && count_lines(answer) == 1,
                  "'%s': expected one line starting with \"%s\", got:\n%s", cmd, prefix, answer);
}

/* Send `cmd` and expect a one-line answer starting with `prefix`. */
static const char *ctl_expect(struct ctl *c, const char *cmd, const char *prefix)
{
    const char *a = ctl_cmd(c, cmd);
    expect_one_line(cmd, a, prefix);
    return a;
}

/* The value of `key` in a "key   value" answer (status, show client);
 * false if there is no such line. */
static bool kv_value(const char *answer, const char *key, char *out, size_t outsz)
{
    size_t kl = strlen(key);
    for (const char *l = answer; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) != 0 || (l[kl] != ' ' && l[kl] != '\t'))
            continue;
        const char *v = l + kl;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, "\n");
        if (n >= outsz)
            n = outsz - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

static long kv_num(const char *answer, const char *key)
{
    char v[256];
    ck_assert_msg(kv_value(answer, key, v, sizeof v), "no '%s' line in:\n%s", key, answer);
    char *end;
    long n = strtol(v, &end, 10);
    ck_assert_msg(end != v && (*end == '\0' || *end == '.'), "'%s' is not a number: '%s'", key, v);
    return n;
}

/* Poll `status` until its clients count is `n` (connections the test closed
 * a moment ago take a little time to be noticed); returns the last answer. */
static const char *wait_status_clients(struct ctl *c, long n)
{
    long deadline = it_now_ms() + 10000;     /* bounds a hang only */
    for (;;) {
        const char *a = ctl_cmd(c, "status");
        long got = kv_num(a, "clients");
        if (got == n)
            return a;
        ck_assert_msg(it_now_ms() < deadline, "status says %ld clients, expected %ld:\n%s", got, n, a);
        it_sleep_ms(50);
    }
}

/* ---- a small JSON checker ----------------------------------------------- */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool object = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (object) {
                p = json_string(json_ws(p));
                if (!p)
                    return NULL;
                p = json_ws(p);
                if (*p != ':')
                    return NULL;
                p++;
            }
            p = json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    return json_number(p);
}

/* `text` is one line holding exactly one JSON object. */
static void expect_json_object_line(const char *what, const char *text)
{
    const char *nl = strchr(text, '\n');
    ck_assert_msg(nl == NULL || nl[1] == '\0', "%s: more than one line:\n%s", what, text);
    ck_assert_msg(text[0] == '{', "%s: does not start with '{': %s", what, text);
    const char *end = json_value(text, 0);
    ck_assert_msg(end != NULL, "%s: not valid JSON: %s", what, text);
    end = json_ws(end);
    ck_assert_msg(*end == '\0' || (*end == '\n' && end[1] == '\0'),
                  "%s: text after the JSON object: %s", what, end);
}

/* ---- parlorctl ----------------------------------------------------------- */

static void parlorctl_path(char *out, size_t outsz)
{
    const char *d = getenv("PARLORD");
    char copy[512];
    snprintf(copy, sizeof copy, "%s", d && *d ? d : "bin/parlord");
    snprintf(out, outsz, "%s/parlorctl", dirname(copy));
}

/* Run parlorctl with `args` (NULL-terminated) as `uid` (0: as we are); its
 * stdout and stderr go to `out`.  Returns the exit status (or 128 + signal). */
/* In a forked child: exec parlorctl at `path` with `args`. */
static void exec_parlorctl(const char *path, const char *const *args) __attribute__((noreturn));
static void exec_parlorctl(const char *path, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = path;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    execv(path, (char *const *)argv);
    _exit(127);
}

static int run_parlorctl_as(uid_t uid, const char *const *args, char *out, size_t outsz)
{
    char path[600];
    parlorctl_path(path, sizeof path);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(p[1], 1);
        if (uid != 0) {
            dup2(p[1], 2);
            if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                _exit(126);
        }
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        exec_parlorctl(path, args);
    }
    close(p[1]);
    size_t len = 0;
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        long left = deadline - it_now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        ssize_t n = read(p[0], out + len, outsz - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == outsz - 1)
            break;
    }
    out[len] = '\0';
    close(p[0]);
    int status;
    if (it_proc_wait(pid, 2000, &status) != 0) {
        kill(pid, SIGKILL);
        it_proc_wait(pid, 1000, &status);
        ck_abort_msg("parlorctl %s did not exit in time; it printed:\n%s", args[0], out);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_parlorctl(const char *const *args, char *out, size_t outsz)
{
    return run_parlorctl_as(0, args, out, outsz);
}

/* parlorctl is built next to $PARLORD (`make test-integration` builds it
 * first).  A missing one fails the test: a skip must never count as a pass. */
static bool have_parlorctl(const char *test)
{
    char path[600];
    parlorctl_path(path, sizeof path);
    ck_assert_msg(access(path, X_OK) == 0, "%s: %s is not built (make %s)", test, path, path);
    return true;
}

/* ---- IRC helpers ---------------------------------------------------------- */

static void join(struct it_client *c, const char *chan)
{
    it_send(c, "JOIN %s", chan);
    char end[128];
    snprintf(end, sizeof end, " 366 %s %s ", c->nick, chan);
    it_expect(c, end);
}

static bool pid_in(pid_t pid, const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* The rows of a table answer (header first), split into lines. */
static int split_lines(char *text, char **lines, int max)
{
    int n = 0;
    for (char *save, *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

struct worker_row {
    int id;
    int pid;
    char state[32];
    int clients;
};

/* Parse `show workers`: a header, then one line per worker. */
static int parse_workers(const char *answer, struct worker_row *rows, int max)
{
    char copy[8192];
    snprintf(copy, sizeof copy, "%s", answer);
    char *lines[IT_MAX_WORKERS + 8];
    int n = split_lines(copy, lines, IT_MAX_WORKERS + 8);
    ck_assert_msg(n >= 1 && strncmp(lines[0], "id", 2) == 0 && strstr(lines[0], "state"),
                  "show workers: no header line:\n%s", answer);
    int k = 0;
    for (int i = 1; i < n && k < max; i++) {
        struct worker_row *r = &rows[k];
        ck_assert_msg(sscanf(lines[i], "%d %d %31s %d", &r->id, &r->pid, r->state, &r->clients) == 4,
                      "show workers: cannot parse line '%s'", lines[i]);
        k++;
    }
    return k;
}

static const char *worker_state(const char *answer, int id)
{
    static struct worker_row rows[IT_MAX_WORKERS];
    int n = parse_workers(answer, rows, IT_MAX_WORKERS);
    for (int i = 0; i < n; i++)
        if (rows[i].id == id)
            return rows[i].state;
    ck_abort_msg("show workers: no line for worker %d:\n%s", id, answer);
}

/* ---- status --------------------------------------------------------------- */

START_TEST(test_status_reports_version_pids_clients_and_channels)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c[3];
    const char *nicks[3] = { "stat0", "stat1", "stat2" };
    for (int i = 0; i < 3; i++)
        c[i] = it_connect_registered(&s, nicks[i]);
    join(c[0], "#alpha");
    join(c[1], "#alpha");
    join(c[2], "#beta");

    struct ctl *ctl = ctl_open(&s);
    const char *a = wait_status_clients(ctl, 3);
    char v[512];
    ck_assert_msg(kv_value(a, "version", v, sizeof v) && strcmp(v, "0.1.0") == 0,
                  "status: version '%s', expected the one parlord --version prints (0.1.0):\n%s", v, a);
    ck_assert_msg(kv_num(a, "master_pid") == s.pid, "status: master_pid is not %d:\n%s", (int)s.pid, a);
    ck_assert_int_eq(kv_num(a, "workers"), 2);
    ck_assert_int_eq(kv_num(a, "workers_running"), 2);
    ck_assert_int_eq(kv_num(a, "workers_answering"), 2);
    ck_assert_msg(kv_num(a, "channels") == 2, "status: expected 2 channels:\n%s", a);
    ck_assert_msg(kv_num(a, "uptime_s") >= 0, "uptime");
    ck_assert_msg(kv_value(a, "messages_in_per_s", v, sizeof v), "no message rate:\n%s", a);
    ck_assert_msg(kv_value(a, "database", v, sizeof v), "no database state:\n%s", a);

    /* The worker PIDs are exactly the master's live children. */
    pid_t workers[IT_MAX_WORKERS];
    int nw = it_server_workers(&s, workers, IT_MAX_WORKERS);
    ck_assert_int_eq(nw, 2);
    ck_assert_msg(kv_value(a, "worker_pids", v, sizeof v), "no worker_pids:\n%s", a);
    int listed = 0;
    for (char *save, *t = strtok_r(v, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        ck_assert_msg(pid_in((pid_t)atoi(t), workers, nw), "status lists worker pid %s, "
                      "which is not a child of the master (%d, %d)", t, (int)workers[0], (int)workers[1]);
        listed++;
    }
    ck_assert_int_eq(listed, 2);

    /* A fourth client, still registering, counts too. */
    struct it_client *extra = it_connect(&s);
    wait_status_clients(ctl, 4);
    it_client_free(extra);
    wait_status_clients(ctl, 3);

    /* JSON: one line, an object, the same figures. */
    a = ctl_cmd(ctl, "json status");
    expect_json_object_line("json status", a);
    ck_assert_msg(strstr(a, "\"clients\":3") && strstr(a, "\"channels\":2") &&
                  strstr(a, "\"version\":\"0.1.0\""), "json status: %s", a);
    char mp[64];
    snprintf(mp, sizeof mp, "\"master_pid\":%d", (int)s.pid);
    ck_assert_msg(strstr(a, mp), "json status without %s: %s", mp, a);
    ctl_close(ctl);

    for (int i = 0; i < 3; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

/* ---- parlorctl -------------------------------------------------------------- */

START_TEST(test_parlorctl_exit_status_and_output)
{
    if (!have_parlorctl("test_parlorctl_exit_status_and_output"))
        return;
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c[2] = { it_connect_registered(&s, "ctl0"), it_connect_registered(&s, "ctl1") };
    struct ctl *ctl = ctl_open(&s);
    wait_status_clients(ctl, 2);

    static char out[65536];
    const char *status[] = { "-s", s.control_path, "status", NULL };
    int rc = run_parlorctl(status, out, sizeof out);
    ck_assert_msg(rc == 0, "parlorctl status exited %d:\n%s", rc, out);
    char v[256];
    ck_assert_msg(kv_value(out, "version", v, sizeof v) && strcmp(v, "0.1.0") == 0,
                  "parlorctl status: no version 0.1.0:\n%s", out);
    ck_assert_msg(kv_num(out, "clients") == 2 && kv_num(out, "master_pid") == s.pid,
                  "parlorctl status:\n%s", out);

    /* A command of several words is sent as one line. */
    const char *show[] = { "-s", s.control_path, "show", "client", "ctl1", NULL };
    rc = run_parlorctl(show, out, sizeof out);
    ck_assert_msg(rc == 0 && kv_value(out, "nick", v, sizeof v) && strcmp(v, "ctl1") == 0,
                  "parlorctl show client ctl1 exited %d:\n%s", rc, out);

    const char *unknown[] = { "-s", s.control_path, "frobnicate", NULL };
    rc = run_parlorctl(unknown, out, sizeof out);
    ck_assert_msg(rc == 1, "parlorctl frobnicate exited %d, expected 1:\n%s", rc, out);

    const char *json[] = { "-s", s.control_path, "--json", "status", NULL };
    rc = run_parlorctl(json, out, sizeof out);
    ck_assert_msg(rc == 0, "parlorctl --json status exited %d:\n%s", rc, out);
    expect_json_object_line("parlorctl --json status", out);
    ck_assert_msg(strstr(out, "\"clients\":2"), "parlorctl --json status: %s", out);

    const char *json_err[] = { "-s", s.control_path, "--json", "drain", "7", NULL };
    rc = run_parlorctl(json_err, out, sizeof out);
    ck_assert_msg(rc == 1 && strstr(out, "\"error\""), "parlorctl --json drain 7 exited %d:\n%s", rc, out);

    char nowhere[200];
    snprintf(nowhere, sizeof nowhere, "%s/no-such-dir/control.sock", s.dir);
    const char *unreachable[] = { "-s", nowhere, "status", NULL };
    rc = run_parlorctl(unreachable, out, sizeof out);
    ck_assert_msg(rc == 2, "parlorctl on a missing socket exited %d, expected 2:\n%s", rc, out);

    ctl_close(ctl);
    it_client_free(c[1]);
    it_client_free(c[0]);
    it_server_stop(&s);
}
END_TEST

/* ---- show workers, drain ------------------------------------------------ */

START_TEST(test_show_workers_and_drain)
{
    struct it_server s;
    it_server_start(&s, NULL);
    pid_t workers[IT_MAX_WORKERS];
    int nw = it_server_workers(&s, workers, IT_MAX_WORKERS);
    ck_assert_int_eq(nw, 2);
    struct ctl *ctl = ctl_open(&s);
    wait_status_clients(ctl, 0);

    const char *a = ctl_cmd(ctl, "show workers");
    struct worker_row rows[IT_MAX_WORKERS];
    int n = parse_workers(a, rows, IT_MAX_WORKERS);
    ck_assert_msg(n == 2, "show workers: %d rows:\n%s", n, a);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(rows[i].id == i && pid_in(rows[i].pid, workers, nw) &&
                      strcmp(rows[i].state, "accepting") == 0 && rows[i].clients == 0,
                      "show workers row %d:\n%s", i, a);
    }
    ck_assert_msg(rows[0].pid != rows[1].pid, "the same pid twice:\n%s", a);

    ctl_expect(ctl, "drain 1", "ok: ");
    a = ctl_cmd(ctl, "show workers");
    ck_assert_msg(strcmp(worker_state(a, 1), "draining") == 0 &&
                  strcmp(worker_state(a, 0), "accepting") == 0, "after drain 1:\n%s", a);

    /* Every new connection goes to worker 0. */
    struct it_client *c[5];
    for (int i = 0; i < 4; i++) {
        c[i] = it_connect(&s);
        if (c[i]->worker != 0)
            it_fail(c[i], "connection %d went to worker %d while worker 1 drains", i, c[i]->worker);
    }
    a = ctl_cmd(ctl, "show workers");
    n = parse_workers(a, rows, IT_MAX_WORKERS);
    ck_assert_msg(rows[0].clients == 4 && rows[1].clients == 0, "clients per worker:\n%s", a);

    /* The last accepting worker cannot be drained; nothing changes. */
    ctl_expect(ctl, "drain 0", "error: ");
    a = ctl_cmd(ctl, "show workers");
    ck_assert_msg(strcmp(worker_state(a, 0), "accepting") == 0 &&
                  strcmp(worker_state(a, 1), "draining") == 0, "after a refused drain 0:\n%s", a);

    ctl_expect(ctl, "undrain 1", "ok: ");
    a = ctl_cmd(ctl, "show workers");
    ck_assert_msg(strcmp(worker_state(a, 0), "accepting") == 0 &&
                  strcmp(worker_state(a, 1), "accepting") == 0, "after undrain 1:\n%s", a);
    /* Worker 1 has the fewest clients: it gets the next one. */
    c[4] = it_connect(&s);
    if (c[4]->worker != 1)
        it_fail(c[4], "after undrain 1, a new client went to worker %d (4 clients) instead of 1 (none)",
                c[4]->worker);

    /* JSON form of the same. */
    a = ctl_cmd(ctl, "json show workers");
    expect_json_object_line("json show workers", a);
    ck_assert_msg(strstr(a, "\"workers\":[") && strstr(a, "\"state\":\"accepting\""), "%s", a);

    ctl_close(ctl);
    for (int i = 0; i < 5; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

/* ---- show clients / channels / client ------------------------------------ */

struct client_row {
    int worker;
    char nick[64], user[64], address[64], state[32];
};

static int parse_clients(const char *answer, struct client_row *rows, int max)
{
    char copy[16384];
    snprintf(copy, sizeof copy, "%s", answer);
    char *lines[64];
    int n = split_lines(copy, lines, 64);
    ck_assert_msg(n >= 1 && strncmp(lines[0], "worker", 6) == 0 && strstr(lines[0], "nick") &&
                  strstr(lines[0], "address"), "show clients: no header:\n%s", answer);
    int k = 0;
    for (int i = 1; i < n && k < max; i++) {
        struct client_row *r = &rows[k++];
        ck_assert_msg(sscanf(lines[i], "%d %63s %63s %63s %31s", &r->worker, r->nick, r->user,
                             r->address, r->state) == 5, "show clients: cannot parse '%s'", lines[i]);
    }
    return k;
}

static const struct client_row *find_client(const struct client_row *rows, int n, const char *nick)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].nick, nick) == 0)
            return &rows[i];
    return NULL;
}

/* 127.0.0.1:PORT of the client's end of the connection. */
static void local_address(const struct it_client *c, char *out, size_t outsz)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(out, outsz, "127.0.0.1:%d", ntohs(sa.sin_port));
}

START_TEST(test_show_clients_channels_and_one_client)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *alice = it_connect_on_worker(&s, 0);
    it_register(alice, "alice");
    struct it_client *bob = it_connect_on_worker(&s, 1);
    it_register(bob, "bob");
    struct it_client *carol = it_connect_on_worker(&s, 1);
    it_register(carol, "carol");
    join(alice, "#room");
    join(bob, "#room");
    join(carol, "#room");
    join(carol, "#solo");
    it_send(alice, "TOPIC #room :the topic of the room");
    it_expect(carol, " TOPIC #room :the topic of the room");

    struct ctl *ctl = ctl_open(&s);
    wait_status_clients(ctl, 3);

    const char *a = ctl_cmd(ctl, "show clients");
    struct client_row rows[32];
    int n = parse_clients(a, rows, 32);
    ck_assert_msg(n == 3, "show clients: %d rows, expected 3:\n%s", n, a);
    struct it_client *who[3] = { alice, bob, carol };
    for (int i = 0; i < 3; i++) {
        const struct client_row *r = find_client(rows, n, who[i]->nick);
        ck_assert_msg(r != NULL, "show clients without %s:\n%s", who[i]->nick, a);
        char addr[64];
        local_address(who[i], addr, sizeof addr);
        ck_assert_msg(r->worker == who[i]->worker && strcmp(r->state, "registered") == 0 &&
                      strcmp(r->user + (r->user[0] == '~'), who[i]->nick) == 0 &&
                      strcmp(r->address, addr) == 0,
                      "show clients row for %s (worker %d, address %s):\n%s", who[i]->nick,
                      who[i]->worker, addr, a);
    }

    a = ctl_cmd(ctl, "show clients 1");
    n = parse_clients(a, rows, 32);
    ck_assert_msg(n == 2 && find_client(rows, n, "bob") && find_client(rows, n, "carol") &&
                  !find_client(rows, n, "alice") && rows[0].worker == 1 && rows[1].worker == 1,
                  "show clients 1:\n%s", a);
    a = ctl_cmd(ctl, "show clients 0");
    n = parse_clients(a, rows, 32);
    ck_assert_msg(n == 1 && strcmp(rows[0].nick, "alice") == 0, "show clients 0:\n%s", a);

    /* Channels: name, owner, members, modes, events, topic (last, may hold spaces). */
    a = ctl_cmd(ctl, "show channels");
    char copy[8192];
    snprintf(copy, sizeof copy, "%s", a);
    char *lines[16];
    int nl = split_lines(copy, lines, 16);
    ck_assert_msg(nl == 3 && strncmp(lines[0], "name", 4) == 0 && strstr(lines[0], "members") &&
                  strstr(lines[0], "topic"), "show channels: expected a header and 2 rows:\n%s", a);
    bool room = false, solo = false;
    for (int i = 1; i < nl; i++) {
        char name[64], modes[32];
        int owner, members, events, off = 0;
        ck_assert_msg(sscanf(lines[i], "%63s %d %d %31s %d %n", name, &owner, &members, modes,
                             &events, &off) == 5, "show channels: cannot parse '%s'", lines[i]);
        ck_assert_msg(owner == 0 || owner == 1, "owner %d in '%s'", owner, lines[i]);
        const char *topic = lines[i] + off;
        if (strcmp(name, "#room") == 0) {
            room = true;
            ck_assert_msg(members == 3 && strcmp(topic, "the topic of the room") == 0,
                          "#room: %d members, topic '%s' in:\n%s", members, topic, a);
        } else if (strcmp(name, "#solo") == 0) {
            solo = true;
            ck_assert_msg(members == 1, "#solo: %d members in:\n%s", members, a);
        }
    }
    ck_assert_msg(room && solo, "show channels:\n%s", a);
    a = ctl_cmd(ctl, "json show channels");
    expect_json_object_line("json show channels", a);
    ck_assert_msg(strstr(a, "\"name\":\"#room\"") && strstr(a, "\"members\":3") &&
                  strstr(a, "\"topic\":\"the topic of the room\""), "json show channels: %s", a);

    /* One client in detail; nicks are case-insensitive. */
    a = ctl_cmd(ctl, "show client CAROL");
    char v[256];
    ck_assert_msg(kv_value(a, "nick", v, sizeof v) && strcmp(v, "carol") == 0, "show client:\n%s", a);
    ck_assert_msg(kv_num(a, "worker") == 1, "show client carol:\n%s", a);
    ck_assert_msg(kv_value(a, "channel_list", v, sizeof v) &&
                  (strcmp(v, "#room,#solo") == 0 || strcmp(v, "#solo,#room") == 0),
                  "show client carol: channels '%s':\n%s", v, a);
    ck_assert_msg(kv_value(a, "realname", v, sizeof v) && strcmp(v, "Parlor test carol") == 0,
                  "show client carol: realname:\n%s", a);
    a = ctl_cmd(ctl, "show client alice");
    ck_assert_msg(kv_num(a, "worker") == 0 && kv_num(a, "channels") == 1, "show client alice:\n%s", a);

    ctl_expect(ctl, "show client nobody", "error: ");
    a = ctl_cmd(ctl, "json show client nobody");
    expect_json_object_line("json show client nobody", a);
    ck_assert_msg(strncmp(a, "{\"error\":", 9) == 0, "json error: %s", a);

    ctl_close(ctl);
    it_client_free(carol);
    it_client_free(bob);
    it_client_free(alice);
    it_server_stop(&s);
}
END_TEST

/* ---- stats ----------------------------------------------------------------- */

START_TEST(test_stats_is_prometheus_text_with_per_worker_clients)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c[3] = { it_connect_on_worker(&s, 0), it_connect_on_worker(&s, 0),
                               it_connect_on_worker(&s, 1) };
    it_register(c[0], "prom0");
    it_register(c[1], "prom1");
    it_register(c[2], "prom2");
    struct ctl *ctl = ctl_open(&s);
    wait_status_clients(ctl, 3);

    const char *a = ctl_cmd(ctl, "stats");
    char copy[32768];
    snprintf(copy, sizeof copy, "%s", a);
    char *lines[256];
    int n = split_lines(copy, lines, 256);
    bool typed = false;
    long per[2] = { -1, -1 };
    char typed_names[64][64];
    int ntyped = 0;
    for (int i = 0; i < n; i++) {
        char name[64], type[32];
        if (strncmp(lines[i], "# HELP ", 7) == 0)
            continue;
        if (sscanf(lines[i], "# TYPE %63s %31s", name, type) == 2) {
            ck_assert_msg(strcmp(type, "gauge") == 0 || strcmp(type, "counter") == 0,
                          "stats: type '%s' in '%s'", type, lines[i]);
            if (strcmp(name, "parlor_clients") == 0 && strcmp(type, "gauge") == 0)
                typed = true;
            if (ntyped < 64)
                snprintf(typed_names[ntyped++], sizeof typed_names[0], "%s", name);
            continue;
        }
        /* A sample: name{labels} value, the name declared by a TYPE line. */
        ck_assert_msg(lines[i][0] != '#', "stats: unexpected comment '%s'", lines[i]);
        size_t nl = strcspn(lines[i], "{ ");
        bool declared = false;
        for (int k = 0; k < ntyped; k++)
            declared |= strlen(typed_names[k]) == nl && strncmp(typed_names[k], lines[i], nl) == 0;
        ck_assert_msg(declared, "stats: sample without a TYPE line before it: '%s'", lines[i]);
        const char *val = strrchr(lines[i], ' ');
        char *end;
        ck_assert_msg(val && (strtod(val + 1, &end), *end == '\0' && end != val + 1),
                      "stats: bad sample value in '%s'", lines[i]);
        int w;
        long v;
        if (sscanf(lines[i], "parlor_clients{worker=\"%d\"} %ld", &w, &v) == 2 && w >= 0 && w < 2)
            per[w] = v;
    }
    ck_assert_msg(typed, "stats: no '# TYPE parlor_clients gauge':\n%s", a);
    ck_assert_msg(per[0] == 2 && per[1] == 1,
                  "stats: parlor_clients worker 0 = %ld (expected 2), worker 1 = %ld (expected 1):\n%s",
                  per[0], per[1], a);
    ck_assert_msg(per[0] + per[1] == kv_num(ctl_cmd(ctl, "status"), "clients"), "sum");

    ctl_expect(ctl, "json stats", "{\"error\":");

    ctl_close(ctl);
    for (int i = 0; i < 3; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

/* ---- kick, wall --------------------------------------------------------------- */

START_TEST(test_kick_disconnects_the_user_and_tells_the_channel)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *alice = it_connect_on_worker(&s, 0);
    it_register(alice, "alice");
    struct it_client *bob = it_connect_on_worker(&s, 1);
    it_register(bob, "bob");
    join(alice, "#k");
    join(bob, "#k");
    it_expect_re(alice, "^:bob![^ ]+ JOIN :?#k$");

    struct ctl *ctl = ctl_open(&s);
    const char *a = ctl_expect(ctl, "kick bob flooding the room", "ok: ");
    ck_assert_msg(strstr(a, "bob"), "kick answer: %s", a);
    const char *l = it_expect(bob, "ERROR :Closing Link:");
    if (!strstr(l, "(Killed by administrator: flooding the room)"))
        it_fail(bob, "ERROR line without the reason: %s", l);
    it_expect_closed(bob, NULL, IT_TIMEOUT_MS);
    l = it_expect_re(alice, "^:bob![^ ]+ QUIT ");
    if (!strstr(l, "flooding the room"))
        it_fail(alice, "QUIT without the reason: %s", l);

    /* The nick is gone: kicking it again, or a nick never seen, is an error. */
    ctl_expect(ctl, "kick bob", "error: ");
    ctl_expect(ctl, "kick ghost some reason", "error: ");
    ctl_expect(ctl, "kick", "error: ");
    /* alice is fine, and bob's nick is free again. */
    it_expect_alive(alice);
    struct it_client *bob2 = it_connect_registered(&s, "bob");
    wait_status_clients(ctl, 2);

    ctl_close(ctl);
    it_client_free(bob2);
    it_client_free(bob);
    it_client_free(alice);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_wall_reaches_every_client)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c[4];
    for (int i = 0; i < 3; i++) {
        char nick[16];
        snprintf(nick, sizeof nick, "wall%d", i);
        c[i] = it_connect_registered(&s, nick);
    }
    c[3] = it_connect(&s);        /* not registered */
    struct ctl *ctl = ctl_open(&s);
    wait_status_clients(ctl, 4);
    const char *a = ctl_expect(ctl, "wall maintenance at noon: expect a restart", "ok: ");
    ck_assert_msg(strstr(a, " 4 clients"), "wall answer should count 4 clients: %s", a);
    for (int i = 0; i < 4; i++) {
        const char *l = it_expect(c[i], " NOTICE ");
        if (!strstr(l, "maintenance at noon: expect a restart"))
            it_fail(c[i], "expected the wall notice, got: %s", l);
    }
    ctl_expect(ctl, "wall", "error: ");
    ctl_close(ctl);
    for (int i = 0; i < 4; i++)
        it_client_free(c[i]);
    it_server_stop(&s);
}
END_TEST

/* ---- permissions ---------------------------------------------------------- */

START_TEST(test_socket_is_0600_and_other_uids_are_refused)
{
    ck_assert_msg(geteuid() == 0, "this test needs root (it connects as uid 65534)");
    struct it_server s;
    it_server_start(&s, NULL);
    struct stat st;
    ck_assert_int_eq(stat(s.control_path, &st), 0);
    ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket", s.control_path);
    ck_assert_msg((st.st_mode & 07777) == 0600, "control socket mode %04o, expected 0600",
                  (unsigned)(st.st_mode & 07777));
    ck_assert_msg(st.st_uid == geteuid(), "control socket owned by uid %d", (int)st.st_uid);

    /* Open the file system permissions so the server's own check
     * (SO_PEERCRED) is what refuses. */
    ck_assert_int_eq(chmod(s.dir, 0755), 0);
    ck_assert_int_eq(chmod(s.control_path, 0666), 0);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        char msg[512];
        int n;
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) {
            n = snprintf(msg, sizeof msg, "setuid: %s", strerror(errno));
        } else {
            int fd = ctl_connect_fd(s.control_path);
            if (fd < 0) {
                n = snprintf(msg, sizeof msg, "connect as uid 65534: %s", strerror(-fd));
            } else {
                /* Ask anyway: nothing may come back but the refusal.  The
                 * server may have closed already (EPIPE); its line is still
                 * there to read. */
                (void)!send(fd, "status\n", 7, MSG_NOSIGNAL);
                n = 0;
                struct pollfd pf = { .fd = fd, .events = POLLIN };
                while (n < (int)sizeof msg - 1 && poll(&pf, 1, 3000) > 0) {
                    ssize_t r = read(fd, msg + n, sizeof msg - 1 - (size_t)n);
                    if (r <= 0)
                        break;
                    n += (int)r;
                }
            }
        }
        (void)!write(p[1], msg, (size_t)n);
        _exit(0);
    }
    close(p[1]);
    char got[512];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof got - 1 && (r = read(p[0], got + len, sizeof got - 1 - len)) > 0)
        len += (size_t)r;
    got[len] = '\0';
    close(p[0]);
    int status;
    ck_assert_int_eq(it_proc_wait(pid, 5000, &status), 0);
    ck_assert_msg(strncmp(got, "error: permission denied", 24) == 0 && strstr(got, "\n\n") &&
                  !strstr(got, "worker_pids"),
                  "uid 65534 got, instead of a refusal and a closed connection:\n%s", got);
    long deadline = it_now_ms() + 10000;    /* bounds a hang only */
    while (!it_server_log_contains(&s, "refused connection from uid 65534") && it_now_ms() < deadline)
        it_sleep_ms(20);
    ck_assert_msg(it_server_log_contains(&s, "refused connection from uid 65534"),
                  "the refusal is not in the server log");

    /* Root still gets in. */
    struct ctl *ctl = ctl_open(&s);
    ck_assert_msg(kv_num(ctl_cmd(ctl, "status"), "master_pid") == s.pid, "status as root");
    ctl_close(ctl);
    it_server_stop(&s);
}
END_TEST

/* What an admin without the right uid sees: parlorctl sends its command
 * right after connecting, while the server writes the refusal and closes;
 * the refusal must reach the user whichever comes first. */
START_TEST(test_parlorctl_as_another_user_shows_the_refusal)
{
    if (!have_parlorctl("test_parlorctl_as_another_user_shows_the_refusal"))
        return;
    struct it_server s;
    it_server_start(&s, NULL);
    ck_assert_int_eq(chmod(s.dir, 0755), 0);
    ck_assert_int_eq(chmod(s.control_path, 0666), 0);
    static char out[4096];
    const char *args[] = { "-s", s.control_path, "status", NULL };
    int shown = 0, tries = 20;
    char first_bad[600] = "";
    for (int i = 0; i < tries; i++) {
        int rc = run_parlorctl_as(65534, args, out, sizeof out);
        ck_assert_msg(rc != 0 && rc != 126, "parlorctl as uid 65534 exited %d:\n%s", rc, out);
        if (strstr(out, "permission denied"))
            shown++;
        else if (!first_bad[0])
            snprintf(first_bad, sizeof first_bad, "exit %d: %.500s", rc, out);
    }
    ck_assert_msg(shown == tries, "parlorctl run as uid 65534 showed the server's \"permission "
                  "denied\" %d times out of %d; otherwise it printed (%s)", shown, tries, first_bad);
    it_server_stop(&s);
}
END_TEST

/* ---- reload ---------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "%s: %s", tmp, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* Connect, register as `nick` and return the MOTD's text lines (372),
 * joined with '|'; the client is left connected in *out. */
/* A private directory holding parlord.conf with `text`; conf_dir_remove()
 * takes it away again. */
struct conf_dir {
    char dir[32];
    char conf[64];
};

static void conf_dir_make(struct conf_dir *d, const char *text)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/parlor-ctl-XXXXXX");
    ck_assert_msg(mkdtemp(d->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(d->conf, sizeof d->conf, "%s/parlord.conf", d->dir);
    write_file(d->conf, text);
}

static void conf_dir_remove(const struct conf_dir *d)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void motd_of(const struct it_server *s, const char *nick, char *motd, size_t motdsz,
                    struct it_client **out)
{
    struct it_client *c = it_connect(s);
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    it_send(c, "NICK %s", nick);
    it_send(c, "USER %s 0 * :MOTD reader", nick);
    motd[0] = '\0';
    for (;;) {
        const char *l = it_next_line(c, IT_TIMEOUT_MS);
        if (!l)
            it_fail(c, "no end of MOTD within %d ms", IT_TIMEOUT_MS);
        const char *t = strstr(l, " 372 ");
        if (t) {
            size_t n = strlen(motd);
            snprintf(motd + n, motdsz - n, "%s%s", n ? "|" : "", strstr(t, " :") ? strstr(t, " :") + 2 : t);
        }
        if (strstr(l, " 376 ") || strstr(l, " 422 "))
            break;
    }
    *out = c;
}

START_TEST(test_reload_applies_a_good_file_and_refuses_a_broken_one)
{
    struct conf_dir cd;
    conf_dir_make(&cd, "# test configuration\nmotd = first\nsendq = 100000\n");
    const char *conf = cd.conf;
    struct it_server s;
    const char *const args[] = { "--config", conf, NULL };
    it_server_start(&s, args);
    pid_t workers[IT_MAX_WORKERS];
    int nw = it_server_workers(&s, workers, IT_MAX_WORKERS);

    char motd[512];
    struct it_client *old;
    motd_of(&s, "early", motd, sizeof motd, &old);
    ck_assert_msg(strcmp(motd, "- first") == 0, "MOTD at start: '%s'", motd);

    struct ctl *ctl = ctl_open(&s);
    write_file(conf, "# test configuration\nmotd = second\nsendq = 100000\n");
    const char *a = ctl_expect(ctl, "reload", "ok: ");
    ck_assert_msg(strstr(a, conf), "reload answer does not name the file: %s", a);
    struct it_client *c1;
    motd_of(&s, "after1", motd, sizeof motd, &c1);
    ck_assert_msg(strcmp(motd, "- second") == 0, "MOTD after reload: '%s'", motd);
    /* The client from before is still there and sees the new MOTD too. */
    it_expect_alive(old);
    it_send(old, "MOTD");
    it_expect(old, " 372 early :- second");

    /* A broken file: refused with the line, and nothing changes. */
    write_file(conf, "# test configuration\nmotd = third\nsendq = banana\n");
    a = ctl_expect(ctl, "reload", "error: reload refused");
    char where[160];
    snprintf(where, sizeof where, "%s:3:", conf);
    ck_assert_msg(strstr(a, where) && strstr(a, "sendq"),
                  "the refusal should name %s and sendq: %s", where, a);
    struct it_client *c2;
    motd_of(&s, "after2", motd, sizeof motd, &c2);
    ck_assert_msg(strcmp(motd, "- second") == 0, "MOTD after a refused reload: '%s'", motd);
    ck_assert_msg(it_server_log_contains(&s, "reload refused"), "refusal not logged");

    /* SIGHUP re-reads a good file. */
    write_file(conf, "motd = fourth\nsendq = 100000\n");
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    long deadline = it_now_ms() + 10000;     /* bounds a hang only */
    struct it_client *c3 = NULL;
    for (;;) {
        motd_of(&s, "after3", motd, sizeof motd, &c3);
        if (strcmp(motd, "- fourth") == 0)
            break;
        it_client_free(c3);
        ck_assert_msg(it_now_ms() < deadline, "MOTD 10 s after SIGHUP: '%s'", motd);
        it_sleep_ms(20);
    }
    /* Nobody was dropped and no worker restarted. */
    it_expect_alive(old);
    it_expect_alive(c1);
    it_expect_alive(c2);
    a = ctl_cmd(ctl, "show workers");
    struct worker_row rows[IT_MAX_WORKERS];
    int n = parse_workers(a, rows, IT_MAX_WORKERS);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_msg(pid_in(rows[i].pid, workers, nw) && strcmp(rows[i].state, "accepting") == 0,
                      "workers after reloads:\n%s", a);

    ctl_close(ctl);
    it_client_free(c3);
    it_client_free(c2);
    it_client_free(c1);
    it_client_free(old);
    it_server_stop(&s);
    conf_dir_remove(&cd);
}
END_TEST

START_TEST(test_reload_without_a_config_file_is_an_error)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct ctl *ctl = ctl_open(&s);
    ctl_expect(ctl, "reload", "error: ");
    ck_assert_msg(kv_num(ctl_cmd(ctl, "status"), "workers_answering") == 2, "status after reload");
    ctl_close(ctl);
    it_server_stop(&s);
}
END_TEST

/* ---- a worker that does not answer -------------------------------------- */

START_TEST(test_stopped_worker_is_reported_not_answering_in_time)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct it_client *c = it_connect_on_worker(&s, 1);
    pid_t victim = c->worker_pid;
    struct ctl *ctl = ctl_open(&s);

    ck_assert_int_eq(kill(victim, SIGSTOP), 0);
    /* The answers come while the worker is still stopped (the master does
     * not wait for it forever); the 10 s deadline only bounds a hang. */
    ctl_send(ctl, "show workers");
    const char *a = ctl_read_answer(ctl, 10000);
    bool answered = a != NULL;
    /* Copy before SIGCONT, so a failure below does not leave it stopped. */
    char answer[8192];
    snprintf(answer, sizeof answer, "%s", a ? a : "(no answer)");
    ctl_send(ctl, "status");
    a = ctl_read_answer(ctl, 10000);
    bool answered2 = a != NULL;
    char status[8192];
    snprintf(status, sizeof status, "%s", a ? a : "(no answer)");
    ck_assert_msg(it_proc_alive(victim), "the stopped worker is gone");
    kill(victim, SIGCONT);

    ck_assert_msg(answered, "no answer to show workers with a stopped worker");
    ck_assert_msg(answered2, "no answer to status with a stopped worker");
    ck_assert_msg(strcmp(worker_state(answer, 1), "not-answering") == 0 &&
                  strcmp(worker_state(answer, 0), "accepting") == 0,
                  "show workers with worker 1 stopped:\n%s", answer);
    ck_assert_msg(kv_num(status, "workers_answering") == 1 && kv_num(status, "workers_running") == 2,
                  "status with worker 1 stopped:\n%s", status);

    /* Resumed: it answers again, and its late answers do not confuse the
     * next command. */
    a = ctl_cmd(ctl, "show workers");
    ck_assert_msg(strcmp(worker_state(a, 1), "accepting") == 0, "after SIGCONT:\n%s", a);
    a = wait_status_clients(ctl, 1);
    ck_assert_int_eq(kv_num(a, "workers_answering"), 2);
    it_expect_alive(c);

    ctl_close(ctl);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- shutdown ----------------------------------------------------------------- */

enum { BEFORE = 100, DURING = 20 };

START_TEST(test_graceful_shutdown_warns_delivers_everything_and_exits)
{
    struct it_server s;
    /* No flood control: every line alice sends is processed at once, so
     * what is checked is the shutdown path, not the throttle (which holds
     * lines beyond --flood-burst back at --flood-lines per second). */
    const char *const args[] = { "--flood-lines", "0", NULL };
    it_server_start(&s, args);
    struct it_client *alice = it_connect_on_worker(&s, 0);
    it_register(alice, "alice");
    struct it_client *bob = it_connect_on_worker(&s, 1);
    it_register(bob, "bob");
    join(alice, "#end");
    join(bob, "#end");
    it_expect_re(alice, "^:bob![^ ]+ JOIN :?#end$");
    pid_t workers[IT_MAX_WORKERS];
    int nw = it_server_workers(&s, workers, IT_MAX_WORKERS);
    struct ctl *ctl = ctl_open(&s);

    /* Messages in flight when the command arrives. */
    for (int i = 0; i < BEFORE; i++)
        it_send(alice, "PRIVMSG #end :before %d", i);
    long t0 = it_now_ms();
    ctl_expect(ctl, "shutdown graceful 1", "ok: ");
    /* New connections are refused at once. */
    struct it_client *late = it_client_connect(s.port, 0);
    ck_assert_msg(late == NULL, "a connection was accepted after 'shutdown'");
    /* Chat goes on during the grace period. */
    for (int i = 0; i < DURING; i++)
        it_send(alice, "PRIVMSG #end :during %d", i);

    int before = 0, during = 0;
    bool warned = false, error = false;
    long error_at = 0;
    for (;;) {
        const char *l = it_next_line(bob, IT_TIMEOUT_MS);
        if (!l)
            break;
        int k;
        if (sscanf(l, ":alice!%*s PRIVMSG #end :before %d", &k) == 1) {
            if (k != before)
                it_fail(bob, "message 'before %d' arrived as number %d", k, before);
            before++;
        } else if (sscanf(l, ":alice!%*s PRIVMSG #end :during %d", &k) == 1) {
            if (k != during)
                it_fail(bob, "message 'during %d' arrived as number %d", k, during);
            during++;
        } else if (strstr(l, " NOTICE bob :") && strstr(l, "shutting down")) {
            warned = true;
        } else if (strncmp(l, "ERROR ", 6) == 0) {
            if (error)
                it_fail(bob, "two ERROR lines");
            error = true;
            error_at = it_now_ms();
        }
    }
    if (!bob->eof)
        it_fail(bob, "still connected %d ms after the last line", IT_TIMEOUT_MS);
    if (before != BEFORE || during != DURING)
        it_fail(bob, "received %d of %d messages sent before the shutdown and %d of %d during "
                "the grace period", before, BEFORE, during, DURING);
    if (!warned || !error)
        it_fail(bob, "shutdown notice %s, ERROR line %s", warned ? "seen" : "missing",
                error ? "seen" : "missing");
    ck_assert_msg(error_at - t0 >= 800, "ERROR came %ld ms after 'shutdown graceful 1'",
                  error_at - t0);
    int errors = it_expect_closed(alice, "ERROR :", IT_TIMEOUT_MS);
    if (errors != 1)
        it_fail(alice, "expected one ERROR line, got %d", errors);

    it_server_wait_exit(&s, workers, nw);
    ctl_close(ctl);
    it_client_free(bob);
    it_client_free(alice);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

START_TEST(test_unknown_commands_and_bad_arguments_keep_the_connection)
{
    struct it_server s;
    it_server_start(&s, NULL);
    struct ctl *ctl = ctl_open(&s);
    static const char *const bad[] = {
        "frobnicate", "drain 9", "drain -1", "drain x", "undrain", "show clients x",
        "show clients 2", "show", "show nothing", "show client", "shutdown graceful x",
        "shutdown graceful 5000", "shutdown now", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctl_expect(ctl, bad[i], "error: ");
        /* ... and the connection keeps working. */
        const char *a = ctl_cmd(ctl, "status");
        ck_assert_msg(kv_num(a, "master_pid") == s.pid, "status after '%s':\n%s", bad[i], a);
    }
    const char *a = ctl_cmd(ctl, "json frobnicate");
    expect_json_object_line("json frobnicate", a);
    ck_assert_msg(strncmp(a, "{\"error\":\"unknown command", 25) == 0, "json frobnicate: %s", a);

    /* Several commands in one write are answered in order. */
    ctl_send(ctl, "drain 9\nstatus\nfrobnicate");
    a = ctl_read_answer(ctl, IT_TIMEOUT_MS);
    ck_assert_msg(a && strncmp(a, "error: ", 7) == 0, "first of three: %s", a);
    a = ctl_read_answer(ctl, IT_TIMEOUT_MS);
    ck_assert_msg(a && strncmp(a, "version", 7) == 0, "second of three: %s", a);
    a = ctl_read_answer(ctl, IT_TIMEOUT_MS);
    ck_assert_msg(a && strncmp(a, "error: unknown command", 22) == 0, "third of three: %s", a);

    a = ctl_cmd(ctl, "help");
    static const char *const listed[] = { "status", "show workers", "show clients", "show channels",
                                          "show client", "stats", "kick", "wall", "reload", "drain",
                                          "undrain", "shutdown", "help" };
    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
        ck_assert_msg(strstr(a, listed[i]), "help does not list '%s':\n%s", listed[i], a);

    /* The server is still up and serving (no shutdown was started). */
    struct it_client *c = it_connect_registered(&s, "survivor");
    it_expect_alive(c);
    ctl_close(ctl);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* Connect with PASS and register; returns the 001 line's source in `from`. */
static struct it_client *connect_with_pass(const struct it_server *s, const char *pass,
                                           const char *nick, char *from, size_t fromsz)
{
    struct it_client *c = it_connect_when_room(s);
    it_send(c, "PASS %s", pass);
    it_send(c, "NICK %s", nick);
    it_send(c, "USER %s 0 * :x", nick);
    const char *l = it_expect_re(c, "^:[^ ]+ (001|464) ");
    snprintf(from, fromsz, "%.*s", (int)strcspn(l, " "), l);
    if (strstr(l, " 464 "))
        return c;
    it_expect_re(c, " (376|422) ");
    return c;
}

/* --check-config, and a reload that changes the password, the server name
 * and the client limit.  (The log level cannot be shown here: the harness's
 * --log-level flag overrides the file.) */
START_TEST(test_check_config_and_reload_change_password_server_name_and_limits)
{
    struct conf_dir cd;
    conf_dir_make(&cd, "[server]\npassword = one\nserver-name = first.example\nmax-clients = 100\n");
    const char *conf = cd.conf, *cdir = cd.dir;
    char out[4096], want[300];
    const char *const check[] = { "--check-config", conf, NULL };
    int st = it_run_parlord(check, out, sizeof out, 5000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--check-config of a good file: %s", out);
    snprintf(want, sizeof want, "%s: configuration is valid\n", conf);
    ck_assert_str_eq(out, want);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.conf", cdir);
    write_file(bad, "server-name = x\nmax-clients = lots\n");
    const char *const check_bad[] = { "--check-config", bad, NULL };
    st = it_run_parlord(check_bad, out, sizeof out, 5000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "--check-config of a bad file exited %d", st);
    snprintf(want, sizeof want, "parlord: %s:2: ", bad);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0 && strstr(out, "max-clients"),
                  "the refusal should start with '%s' and name max-clients: %s", want, out);

    struct it_server s;
    const char *const args[] = { "--config", conf, NULL };
    it_server_start(&s, args);
    char from[128];
    struct it_client *before = connect_with_pass(&s, "one", "before", from, sizeof from);
    ck_assert_str_eq(from, ":first.example");

    struct ctl *ctl = ctl_open(&s);
    write_file(conf, "[server]\npassword = two\nserver-name = second.example\nmax-clients = 2\n");
    const char *a = ctl_expect(ctl, "reload", "ok: ");
    snprintf(want, sizeof want, "ok: configuration reloaded from %s", conf);
    ck_assert_str_eq(a, want);
    /* The old password is refused now, the new one accepted, by the new name. */
    struct it_client *old_pass = connect_with_pass(&s, "one", "oldpass", from, sizeof from);
    ck_assert_str_eq(from, ":second.example");
    it_expect_closed(old_pass, NULL, IT_TIMEOUT_MS);
    it_client_free(old_pass);
    struct it_client *after = connect_with_pass(&s, "two", "after", from, sizeof from);
    ck_assert_str_eq(from, ":second.example");
    /* max-clients is 2 now: before and after are connected, a third is refused
     * (a connection that just closed may still be counted for a moment). */
    long deadline = it_now_ms() + 10000;
    int errors;
    for (;;) {
        struct it_client *extra = it_client_connect(s.port, 0);
        ck_assert_ptr_nonnull(extra);
        const char *l = it_wait_re(extra, "(ERROR|Connected to worker)", IT_TIMEOUT_MS);
        errors = l && strcmp(l, "ERROR :Closing Link: 127.0.0.1 (Server full, try again later)") == 0;
        it_client_free(extra);
        if (errors || it_now_ms() > deadline)
            break;
        it_sleep_ms(20);
    }
    ck_assert_msg(errors, "a third client was not refused after max-clients = 2");
    it_expect_alive(before);
    it_expect_alive(after);
    pid_t workers[IT_MAX_WORKERS];
    ck_assert_int_eq(it_server_workers(&s, workers, IT_MAX_WORKERS), 2);
    ctl_close(ctl);
    it_client_free(before);
    it_client_free(after);
    it_server_stop(&s);
    conf_dir_remove(&cd);
}
END_TEST

/* Run parlorctl with `args`, stdin fed from `input` through a pipe (pipe
 * mode) or, when `tty`, through a pseudo-terminal (the libedit prompt);
 * `env` (NAME=VALUE or NULL) is added to its environment.  Everything it
 * writes goes to `out`; returns its exit status (-1 if it had to be killed
 * after 10 s). */
static int parlorctl_fed(const char *const *args, const char *input, bool tty, const char *env,
                         char *out, size_t outsz)
{
    char path[600];
    parlorctl_path(path, sizeof path);
    int in[2] = { -1, -1 }, o[2] = { -1, -1 }, master = -1;
    if (tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        ck_assert_msg(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "no pty");
    } else {
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
    }
    const char *slave = tty ? ptsname(master) : NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (tty) {
            setsid();
            int fd = open(slave, O_RDWR);
            if (fd < 0)
                _exit(126);
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        } else {
            dup2(in[0], 0);
            dup2(o[1], 1);
            dup2(o[1], 2);
        }
        setenv("TERM", "dumb", 1);
        if (env)
            putenv((char *)env);
        exec_parlorctl(path, args);
    }
    int rfd = tty ? master : o[0];
    int wfd = tty ? master : in[1];
    if (!tty) {
        close(in[0]);
        close(o[1]);
    }
    ck_assert_int_eq(write(wfd, input, strlen(input)), (ssize_t)strlen(input));
    if (!tty)
        close(in[1]);
    size_t len = 0;
    long deadline = it_now_ms() + 10000;
    int status = -1;
    for (;;) {
        struct pollfd pf = { .fd = rfd, .events = POLLIN };
        long left = deadline - it_now_ms();
        if (left <= 0)
            break;
        if (poll(&pf, 1, (int)(left < 100 ? left : 100)) > 0) {
            ssize_t n = read(rfd, out + len, outsz - 1 - len);
            if (n > 0) {
                len += (size_t)n;
                continue;
            }
        }
        if (it_proc_wait(pid, 0, &status) == 0)
            break;
    }
    out[len] = '\0';
    if (status == -1) {
        int st;
        it_proc_stop(pid, 1000, &st, NULL);
    }
    close(rfd);
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* parlorctl reads commands from a pipe (one per line, answers in order,
 * exit 1 if one was an error) and at a prompt on a terminal; without -s
 * it finds the same socket as parlord by the same default rule. */
START_TEST(test_parlorctl_pipe_prompt_and_default_socket)
{
    have_parlorctl("test_parlorctl_pipe_prompt_and_default_socket");
    struct it_server s;
    it_server_start(&s, NULL);
    static char out[65536];
    const char *with_s[] = { "-s", s.control_path, NULL };
    int rc = parlorctl_fed(with_s, "status\n# a comment\n\nshow workers\nfrobnicate\nstatus\n", false, NULL,
                           out, sizeof out);
    ck_assert_msg(rc == 1, "piped commands with an error exited %d:\n%s", rc, out);
    char *first = strstr(out, "version");
    char *workers = strstr(out, "id  pid");
    char *err = strstr(out, "error: ");
    ck_assert_msg(first && workers && err && first < workers && workers < err &&
                  strstr(err, "version"), "answers missing or out of order:\n%s", out);
    rc = parlorctl_fed(with_s, "status\nquit\nstatus\n", false, NULL, out, sizeof out);
    ck_assert_msg(rc == 0, "quit in a pipe exited %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "version") && !strstr(strstr(out, "version") + 1, "version"),
                  "the command after quit was run:\n%s", out);

    /* The prompt: libedit on a terminal; errors are shown, leaving is 0. */
    rc = parlorctl_fed(with_s, "status\nfrobnicate\nquit\n", true, NULL, out, sizeof out);
    ck_assert_msg(rc == 0, "the prompt exited %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "parlorctl> ") && strstr(out, "master_pid") && strstr(out, "error: "),
                  "prompt session:\n%s", out);

    const char *help[] = { "--help", NULL };
    parlorctl_fed(help, "", false, NULL, out, sizeof out);
    ck_assert_msg(strstr(out, geteuid() == 0 ? "(default /run/parlord/control.sock)" : "/parlord"),
                  "parlorctl --help does not show the default socket:\n%s", out);
    it_server_stop(&s);

    /* Neither --control nor -s: both programs take the default path, here
     * PARLOR_CONTROL (as root the built-in default is the machine-wide
     * /run/parlord/control.sock, which a test must not take). */
    struct it_server d;
    const char *const no_control[] = { IT_NO_CONTROL, NULL };
    it_server_start(&d, no_control);
    struct stat st;
    ck_assert_msg(stat(d.control_path, &st) == 0 && S_ISSOCK(st.st_mode),
                  "no control socket at the default %s", d.control_path);
    char env[200];
    snprintf(env, sizeof env, "PARLOR_CONTROL=%s", d.control_path);
    const char *no_s[] = { "status", NULL };
    rc = parlorctl_fed(no_s, "", false, env, out, sizeof out);
    ck_assert_msg(rc == 0 && strstr(out, "master_pid"), "parlorctl without -s exited %d:\n%s", rc, out);
    it_server_stop(&d);
}
END_TEST

/* The log level is re-read too (no --log-level flag, which would win over
 * the file). */
START_TEST(test_reload_changes_the_log_level)
{
    struct conf_dir cd;
    conf_dir_make(&cd, "log-level = warn\n");
    const char *conf = cd.conf;
    struct it_server s;
    const char *const args[] = { "--config", conf, IT_NO_LOG_LEVEL, NULL };
    it_server_start(&s, args);
    struct it_client *quiet = it_connect_registered(&s, "quietone");
    it_expect_alive(quiet);
    ck_assert_msg(!it_server_log_contains(&s, "registered as quietone"), "a debug line at warn level");
    ck_assert_msg(!it_server_log_contains(&s, " INFO "), "an info line at warn level");
    struct ctl *ctl = ctl_open(&s);
    write_file(conf, "log-level = debug\n");
    ctl_expect(ctl, "reload", "ok: ");
    /* Every worker has it once it answers a query after the reload. */
    ctl_cmd(ctl, "show workers");
    struct it_client *loud = it_connect_registered(&s, "loudone");
    it_expect_alive(loud);
    it_server_expect_log(&s, "registered as loudone", 1, IT_TIMEOUT_MS);
    ctl_close(ctl);
    it_client_free(quiet);
    it_client_free(loud);
    it_server_stop(&s);
    conf_dir_remove(&cd);
}
END_TEST

/* As root, without --control or PARLOR_CONTROL, both programs meet at
 * /run/parlord/control.sock.  That path is the machine's, so the test runs
 * parlord and parlorctl in a private mount namespace with a fresh tmpfs
 * there (unshare -m; root in CI): nothing outside is touched. */
START_TEST(test_root_default_control_path_in_a_private_mount_namespace)
{
    ck_assert_msg(geteuid() == 0, "this test needs root (as CI and `make test` run)");
    char ctl[256], out[8192], script[2048];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *parlord = getenv("PARLORD") ? getenv("PARLORD") : "bin/parlord";
    int port = it_free_port();
    ck_assert_int_gt(port, 0);
    snprintf(script, sizeof script,
             "unset PARLOR_CONTROL; mkdir -p /run/parlord && mount -t tmpfs tmpfs /run/parlord || exit 90; "
             "%s --listen 127.0.0.1:%d --workers 1 --max-connections-per-ip 0 --log-level warn "
             "  > /run/parlord/log 2>&1 & pid=$!; "
             "i=0; while [ ! -S /run/parlord/control.sock ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
             "%s status; rc=$?; kill -TERM $pid; wait $pid; echo \"parlord exit $?\"; exit $rc",
             parlord, port, ctl);
    const char *args[] = { "-m", "sh", "-c", script, NULL };
    int status = it_run("/usr/bin/unshare", args, out, sizeof out, 20000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 90,
                  "cannot make a private /run/parlord (unshare -m, mount tmpfs): %s", out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "master_pid") &&
                  strstr(out, "parlord exit 0"),
                  "parlorctl status at the default path (status %d):\n%s", status, out);
}
END_TEST

Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("control");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_status_reports_version_pids_clients_and_channels);
    tcase_add_test(tc, test_parlorctl_exit_status_and_output);
    tcase_add_test(tc, test_show_workers_and_drain);
    tcase_add_test(tc, test_show_clients_channels_and_one_client);
    tcase_add_test(tc, test_stats_is_prometheus_text_with_per_worker_clients);
    tcase_add_test(tc, test_kick_disconnects_the_user_and_tells_the_channel);
    tcase_add_test(tc, test_wall_reaches_every_client);
    tcase_add_test(tc, test_socket_is_0600_and_other_uids_are_refused);
    tcase_add_test(tc, test_parlorctl_as_another_user_shows_the_refusal);
    tcase_add_test(tc, test_reload_applies_a_good_file_and_refuses_a_broken_one);
    tcase_add_test(tc, test_reload_without_a_config_file_is_an_error);
    tcase_add_test(tc, test_check_config_and_reload_change_password_server_name_and_limits);
    tcase_add_test(tc, test_parlorctl_pipe_prompt_and_default_socket);
    tcase_add_test(tc, test_reload_changes_the_log_level);
    tcase_add_test(tc, test_stopped_worker_is_reported_not_answering_in_time);
    tcase_add_test(tc, test_graceful_shutdown_warns_delivers_everything_and_exits);
    tcase_add_test(tc, test_unknown_commands_and_bad_arguments_keep_the_connection);
    tcase_add_test(tc, test_root_default_control_path_in_a_private_mount_namespace);
    suite_add_tcase(s, tc);
    return s;
}
