/* Integration test harness: a real parlord on a free loopback port and real
 * TCP IRC clients.
 *
 * Every test runs in its own process (Check's fork mode).  it_server_start()
 * makes that process a child subreaper, so a worker orphaned by its master
 * comes back to the test and is found and stopped (by PID) instead of leaking.
 * If a test fails or times out while a server is still running, a watcher
 * process prints the tail of the server's log, stops the server by PID and
 * keeps its directory for inspection.
 *
 * Functions named it_expect_* / it_server_* fail the current test (Check's
 * ck_abort_msg) with the client's recent lines; the it_wait_* / it_proc_*
 * functions only report, so the harness itself can be tested. */
#ifndef PARLOR_IT_HARNESS_H
#define PARLOR_IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Default time to wait for an expected line (generous for the sanitizer
 * build, which is several times slower). */
#define IT_TIMEOUT_MS 5000
#define IT_MAX_WORKERS 16

/* ---- processes ------------------------------------------------------- */

long it_now_ms(void);
void it_sleep_ms(int ms);
/* A TCP port on 127.0.0.1 that was free a moment ago; -errno on failure. */
int it_free_port(void);
/* Live (not zombie) children of `parent`, from /proc; at most `max`.
 * Returns the count or -errno. */
int it_proc_children(pid_t parent, pid_t *pids, int max);
/* True if `pid` exists and is not a zombie. */
bool it_proc_alive(pid_t pid);
/* waitpid() with a timeout: 0 and *status when `pid` (a child) exited,
 * -ETIMEDOUT otherwise. */
int it_proc_wait(pid_t pid, int timeout_ms, int *status);
/* SIGTERM, wait up to timeout_ms, then SIGKILL as a last resort and reap.
 * *killed tells whether SIGKILL was needed.  Returns 0 or -errno. */
int it_proc_stop(pid_t pid, int timeout_ms, int *status, bool *killed);

/* ---- the server ------------------------------------------------------ */

/* Owned by the test function (usually on its stack). */
struct it_server {
    pid_t pid;
    int port;
    int nworkers;
    char dir[64];            /* private temporary directory */
    char log_path[128];      /* parlord's stdout + stderr */
    char control_path[128];
    pid_t watcher;           /* prints the log if the test dies; see harness.c */
    int watch_fd;
    int nofile;              /* > 0: RLIMIT_NOFILE (soft and hard) of parlord */
};

/* Start $PARLORD --listen 127.0.0.1:PORT --workers 2 --control DIR/control.sock
 * --log-level debug --max-connections-per-ip 0 --connect-rate 0 --show-internals
 * (the worker notice it_connect_on_worker reads; all test
 * clients share one address; a test that checks those limits sets them in
 * `extra`, which comes after and wins), plus `extra` (NULL-terminated, may
 * be NULL), and wait until a connection is accepted and greeted by a worker.
 * IT_NO_LOG_LEVEL in `extra` (not passed on) leaves out --log-level, e.g. so
 * that a configuration file's log-level counts. */
#define IT_NO_LOG_LEVEL "(it: no --log-level)"
/* IT_NO_CONTROL in `extra` leaves out --control and sets PARLOR_CONTROL to
 * the same path instead (in the test's environment, inherited by parlord):
 * parlord's default-path rule, without the machine-wide root default
 * /run/parlord/control.sock. */
#define IT_NO_CONTROL "(it: no --control)"
void it_server_start(struct it_server *s, const char *const *extra);
/* The same with parlord's RLIMIT_NOFILE (soft and hard) set to `nofile`. */
void it_server_start_nofile(struct it_server *s, const char *const *extra, int nofile);
/* The current worker PIDs (live children of the master); returns the count. */
int it_server_workers(const struct it_server *s, pid_t *pids, int max);
/* SIGTERM, then it_server_wait_exit(). */
void it_server_stop(struct it_server *s);
/* Wait (up to 10 s) for the master to exit after a signal was sent; assert
 * exit status 0, that no worker outlived it, and that the log holds no
 * sanitizer report.  Removes the server's directory. */
void it_server_wait_exit(struct it_server *s, const pid_t *workers, int nworkers);
/* SIGKILL the master and its workers at once (a node's machine dying),
 * reap them and remove the server's directory. */
void it_server_kill9(struct it_server *s);
/* Print the last `lines` lines of the server's log to stderr. */
void it_server_dump_log(const struct it_server *s, int lines);
/* True if the server log contains `needle`. */
bool it_server_log_contains(const struct it_server *s, const char *needle);

/* Run $PARLORD with `args` (NULL-terminated) to completion (at most
 * timeout_ms, then SIGKILL); its stdout and stderr, NUL-terminated, go to
 * `out`.  Returns the wait status, or -1 if it had to be killed. */
int it_run_parlord(const char *const *args, char *out, size_t outsz, int timeout_ms);
/* The same for any program; `path` is argv[0]. */
int it_run(const char *path, const char *const *args, char *out, size_t outsz, int timeout_ms);
/* bin/parlorctl beside $PARLORD. */
void it_parlorctl_path(char *out, size_t cap);

/* ---- clients ---------------------------------------------------------- */

#define IT_HISTORY 24

struct tls_conn;
struct ssl_ctx_st;
struct ssl_session_st;

/* One TCP connection.  Owned by the test; it_client_free() closes it. */
struct it_client {
    int fd;
    struct tls_conn *tls;    /* it_client_start_tls(): bytes go through TLS */
    char nick[64];
    int worker;              /* from the "Connected to worker N" notice; -1 */
    pid_t worker_pid;
    bool eof;                /* the server closed the connection */
    bool auto_pong;          /* answer the server's PING (default true) */
    char *in;                /* bytes received, not yet returned as lines */
    size_t in_len, in_cap;
    char *line;              /* the line last returned (NUL-terminated) */
    size_t line_cap;
    char history[IT_HISTORY][200];  /* recent lines, for failure messages */
    unsigned nhistory;
};

/* Connect to 127.0.0.1:port (rcvbuf > 0 sets SO_RCVBUF before connecting).
 * Returns NULL and sets errno on failure. */
struct it_client *it_client_connect(int port, int rcvbuf);
void it_client_free(struct it_client *c);

/* TLS on a connected client: the handshake, within timeout_ms.  0, or -1
 * with the reason in err. */
int it_client_start_tls(struct it_client *c, struct ssl_ctx_st *ctx, int timeout_ms,
                        char *err, size_t errlen);
/* The same, offering `session` (from an earlier connection) for resumption. */
int it_client_start_tls_session(struct it_client *c, struct ssl_ctx_st *ctx,
                                struct ssl_session_st *session, int timeout_ms,
                                char *err, size_t errlen);
/* A client context for the tests: no verification; `cert` (NULL: none) a
 * PEM file with a client certificate and its key. */
struct ssl_ctx_st *it_tls_ctx(const char *cert);
/* Connect to a TLS port, handshake (asserting) and read the worker notice. */
struct it_client *it_connect_tls(int port, struct ssl_ctx_st *ctx);
/* A self-signed certificate and key for `cn` in dir/NAME.pem (both in one
 * file) via the openssl command; asserts it worked. */
void it_make_cert(const char *dir, const char *name, const char *cn, char *path, size_t cap);

/* Connect (asserting) and read the worker notice. */
struct it_client *it_connect(const struct it_server *s);
/* Connect and register as `nick` (waits for 001 and the end of the MOTD). */
struct it_client *it_connect_registered(const struct it_server *s, const char *nick);
/* Connect until the connection lands on worker `worker` (the other
 * connections are closed afterwards); fails the test after 8 attempts. */
struct it_client *it_connect_on_worker(const struct it_server *s, int worker);
/* The same with SO_RCVBUF set to `rcvbuf` before connecting. */
struct it_client *it_connect_on_worker_rcvbuf(const struct it_server *s, int worker,
                                              int rcvbuf);

/* Send one line; CRLF is appended.  Fails the test if the write fails. */
void it_send(struct it_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send bytes as they are (no CRLF added); returns 0 or -errno. */
int it_send_raw(struct it_client *c, const void *data, size_t len);

/* Read what is available within timeout_ms into the input buffer.
 * Returns bytes read, 0 on timeout, -1 on EOF or error (c->eof set). */
int it_fill(struct it_client *c, int timeout_ms);
/* The next complete buffered line (without CR LF), or NULL; never blocks.
 * The pointer is valid until the next read from this client. */
const char *it_try_line(struct it_client *c);
/* The next line within timeout_ms, or NULL on timeout or EOF.  A timeout of
 * 0 still reads what has already arrived, without waiting. */
const char *it_next_line(struct it_client *c, int timeout_ms);
/* Skip lines until one contains `needle` (or matches the POSIX extended
 * regex `re`); NULL on timeout or EOF. */
const char *it_wait(struct it_client *c, const char *needle, int timeout_ms);
const char *it_wait_re(struct it_client *c, const char *re, int timeout_ms);
/* Asserting versions with IT_TIMEOUT_MS. */
const char *it_expect(struct it_client *c, const char *needle);
const char *it_expect_re(struct it_client *c, const char *re);
/* Expect the numeric `num` ("433") as the next reply that is a numeric,
 * FAIL or ERROR (other lines, e.g. relayed messages, are skipped). */
const char *it_expect_numeric(struct it_client *c, const char *num);
/* Collect every line for `ms` milliseconds; returns how many contain `needle`. */
int it_count_for(struct it_client *c, const char *needle, int ms);
/* Round trip: PING a unique token and assert its PONG comes back (the
 * connection is alive and the server still reads it). */
void it_expect_alive(struct it_client *c);
/* Read until the server closes the connection; asserts EOF within
 * timeout_ms.  Returns how many lines contained `needle` (may be NULL). */
int it_expect_closed(struct it_client *c, const char *needle, int timeout_ms);

/* NICK + USER, then wait for 001 and for 376/422. */
void it_register(struct it_client *c, const char *nick);
/* `prefix` and the first number that makes a name whose owner worker
 * (irc_casehash(name) % nworkers, as the server picks it) is `worker`. */
void it_name_owned_by(const char *prefix, int worker, int nworkers, char *out, size_t cap);
/* JOIN `chan` (with `key` unless NULL) and wait for the end of NAMES
 * (366); fails the test on a 4xx reply. */
void it_join(struct it_client *c, const char *chan, const char *key);

/* Standard base64 (padded) of in[0..len) into out (4 * ((len + 2) / 3) + 1
 * bytes), NUL-terminated: SASL PLAIN credentials. */
void it_base64(const void *in, size_t len, char *out);

/* Fail the test with a message and the client's recent lines. */
void it_fail(const struct it_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* ---- waiting for events (issue 14) ----------------------------------------
 *
 * Assertions wait for the event they are about, polling the state; the
 * deadline only bounds a hang, it is never the thing being tested. */

/* Poll `cond` every 10 ms until it holds or timeout_ms passed; evaluates to
 * the last value of `cond`. */
#define IT_EVENTUALLY(cond, timeout_ms)                                  \
    __extension__({                                                      \
        long it_deadline_ = it_now_ms() + (timeout_ms);                  \
        bool it_ok_;                                                     \
        while (!(it_ok_ = (cond)) && it_now_ms() < it_deadline_)         \
            it_sleep_ms(10);                                             \
        it_ok_;                                                          \
    })
/* How many lines of the server's log contain `needle`. */
int it_server_log_count(const struct it_server *s, const char *needle);
/* Wait until at least `count` log lines contain `needle`; fails the test
 * (with the log's tail) after timeout_ms. */
void it_server_expect_log(const struct it_server *s, const char *needle, int count, int timeout_ms);
/* Wait until the master has `n` live workers none of which is in
 * `gone[0..ngone)`; the new PIDs go to `pids`.  Fails the test after
 * timeout_ms. */
void it_server_expect_workers_replaced(const struct it_server *s, const pid_t *gone, int ngone,
                                       pid_t *pids, int n, int timeout_ms);
/* Connect and read the worker notice once the server has room: a
 * connection the master still counts (the startup probe, a client that just
 * left) is released a moment after it closes, so an "ERROR :Closing Link"
 * refusal is retried until a 10 s deadline that only bounds a hang. */
struct it_client *it_connect_when_room(const struct it_server *s);
/* Fail the test: `what` (a prerequisite such as bin/parlorctl) is missing.
 * A missing prerequisite is a failure, never a silent pass. */
void it_require_file(const char *path, const char *what);

#endif
