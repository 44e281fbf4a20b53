/* Accounts: IRCv3 SASL PLAIN, the NickServ pseudo-user, and protection of
 * registered nicks.
 *
 * An account is a row of `accounts` (migrations/0001_initial.sql); its name
 * is the nick it was registered with, looked up by name_folded
 * (irc_casefold).  Passwords are hashed with libsodium's crypto_pwhash_str
 * (argon2id, OPSLIMIT/MEMLIMIT_INTERACTIVE: tens of milliseconds and 64 MiB
 * each) and checked with crypto_pwhash_str_verify.  Both run on libuv's
 * thread pool (uv_queue_work) and every query goes through the asynchronous
 * store, so the loop never waits.  Passwords are never logged or stored.
 *
 * Logging in and registering:
 *   - SASL PLAIN (AUTHENTICATE; numerics 900, 903-908), before or after
 *     registration.  While a password is being checked the client's input is
 *     paused (c->blocked), so a CAP END sent right behind the credentials is
 *     read after the answer: registration waits for the exchange.  A CAP END
 *     that arrives while we still wait for the client's credentials aborts
 *     the exchange with 906 and registration goes on, as sasl-3.1 says.
 *   - PRIVMSG NickServ :IDENTIFY [account] <password>, for any client.
 *   - PRIVMSG NickServ :REGISTER <password> registers the current nick.
 *   Messages to NickServ never reach the nick registry nor the message store.
 *
 * Wrong passwords (and unknown accounts, answered the same way): the answer
 * comes 1.5 s after the attempt began, the client's input stays paused
 * meanwhile, and the failure is logged at info with nick and address.  The
 * fifth failure on a connection closes it.  If the database cannot be asked,
 * SASL answers 904 with a NOTICE saying accounts are unavailable.
 *
 * Failed logins across connections: an attacker spreads its connections
 * over every worker, so the counters (per account and per client address,
 * --login-failures-per-account / -per-ip within --login-failure-window) are
 * kept in PostgreSQL, table login_failures, and every attempt goes through
 * the function login_attempt (migrations/0005_private_history_owners.sql)
 * in the same statement that reads the account row.  Why PostgreSQL rather
 * than an owner worker per name over the mesh: accounts exist only there
 * (no database, no logins), the check costs no extra round trip, one row
 * lock makes "count it, or refuse it" atomic across workers without a new
 * frame type, and the counters survive a worker's restart (a restart would
 * otherwise hand the attacker fresh counters).  An attempt is counted when
 * it starts and taken back when it succeeds, so parallel connections cannot
 * all slip in before the first failure is written.  Over the limit, the
 * account or address is refused for --login-backoff seconds, doubled with
 * each further block in a row: the password is not even checked, the
 * client gets 904 "too many attempts, try again in N seconds" (NickServ: a
 * NOTICE saying so) after the usual delay, and the log has one line saying
 * why.
 *
 * Registered nicks, the choice made: a client that ends up (registration or
 * NICK) with a registered nick without being logged in to that account is
 * told so by NickServ and has 30 seconds to identify; then it is renamed to
 * Guest<5 digits> through the normal nick claim (nick_request).  Renaming
 * rather than refusing with 433, because a client without SASL can only
 * identify once registered, that is while already holding its nick: refusing
 * would lock such users out of their own nick.  The deadline belongs to the
 * connection and nick, so switching away and back does not restart it.  If
 * the database cannot be asked the nick is not protected (logged at warn).
 * Taking the nick back after a rename renames again at once, and a client
 * that still holds it after three renames (or failed Guest claims) is
 * disconnected.
 *
 * State: a struct account_state for each connection that is doing any of
 * this, owned by `states` (client id -> state); c->auth points at it while
 * the client lives.  Queries and thread-pool jobs carry the client id and an
 * operation number, never pointers, and look the client up again when they
 * finish.  One module timer (100 ms, only while states exist) answers
 * delayed failures, renames, and frees the states of closed connections, so
 * client.c needs no hook. */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/password.h"
#include "worker/sasl_plain.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 400          /* fits a NickServ REGISTER line of 512 bytes */
#define FAIL_DELAY 1.5            /* seconds from an attempt to its failure answer */
#define MAX_FAILURES 5            /* per connection; the last one closes it */
#define GRACE 30.0                /* seconds to identify for a registered nick */
#define RENAME_RETRY 5.0          /* a Guest claim that failed is retried */
#define RENAME_TRIES 3
#define BUSY_TIMEOUT 30.0         /* a query that never answers counts as unavailable */
#define SASL_CHUNK 400
#define SASL_MAX 8192             /* base64 bytes of one PLAIN message, all chunks */
#define TICK_MS 100


/* SASL_WAIT: PLAIN chosen, credentials expected; SASL_WAIT_EXTERNAL:
 * EXTERNAL chosen, the (ignored) authorization identity expected. */
enum { SASL_IDLE, SASL_WAIT, SASL_WAIT_EXTERNAL };
enum how { VIA_SASL, VIA_IDENTIFY, VIA_REGISTER, VIA_EXTERNAL };
static const char *const how_name[] = { "SASL", "NickServ IDENTIFY", "NickServ REGISTER",
                                        "SASL EXTERNAL" };

/* Per connection.  Owned by `states`; freed by state_maybe_free() when idle
 * or by the tick once the client is gone. */
struct account_state {
    uint64_t client;
    int sasl;
    char sasl_in[SASL_MAX];       /* base64 received so far */
    size_t sasl_len;
    uint64_t op;                  /* the running login/registration, 0: none */
    enum how op_how;
    double op_since;
    bool paused;                  /* we paused the client's input */
    int failures;
    double answer_at;             /* a failure answer is due then (0: none) */
    enum how answer_how;
    double refused_until;         /* the answer is "too many attempts" until then (0: not) */
    char guard[IRC_NICK_MAX + 1]; /* folded registered nick it held unidentified */
    bool guarding;                /* and still holds */
    double rename_at;
    int rename_tries;
};

/* A login or registration on its way through the store and the thread pool.
 * Owned by whichever callback runs next; freed by job_free(). */
struct pw_job {
    uv_work_t req;
    uint64_t client, op;
    enum how how;
    double started;
    bool verify;                  /* thread: check `hash`, else compute it */
    int rc;
    char name[IRC_NICK_MAX + 1];  /* as typed, then as stored */
    char folded[IRC_NICK_MAX + 1];
    char hash[PASSWORD_HASH_MAX];
    char password[PASSWORD_MAX + 1];
    size_t password_len;
    char account_key[IRC_NICK_MAX + 3]; /* login_failures keys; "" when not counted */
    char ip_key[72];
};

/* Is a (possibly) registered nick held by an unidentified client? */
struct nick_check {
    uint64_t client;
    char folded[IRC_NICK_MAX + 1];
};

static struct hmap states;
static bool states_init;
static uv_timer_t *tick;
static uint64_t next_op;

static void on_tick(uv_timer_t *t);

static void on_tick_closed(uv_handle_t *h) { free(h); }

static void ensure_sodium(void)
{
    static bool done;
    if (done)
        return;
    if (sodium_init() < 0) {
        log_error("account: sodium_init failed");
        PARLOR_ASSERT(!"libsodium cannot be initialised");
    }
    done = true;
}

static struct account_state *state_get(struct client *c)
{
    if (c->auth)
        return c->auth;
    if (!states_init) {
        hmap_init(&states);
        states_init = true;
    }
    struct account_state *st = calloc(1, sizeof *st);
    PARLOR_ASSERT(st != NULL);
    st->client = c->id;
    hmap_put_id(&states, c->id, st);
    c->auth = st;
    if (!tick) {
        tick = malloc(sizeof *tick);
        PARLOR_ASSERT(tick != NULL);
        uv_timer_init(W.loop, tick);
        uv_timer_start(tick, on_tick, TICK_MS, TICK_MS);
    }
    return st;
}

static void state_free(struct account_state *st)
{
    sodium_memzero(st->sasl_in, sizeof st->sasl_in);
    free(st);
}

static void sasl_reset(struct account_state *st)
{
    st->sasl = SASL_IDLE;
    sodium_memzero(st->sasl_in, st->sasl_len);
    st->sasl_len = 0;
}

/* Free the state when nothing is left to remember.  A guarded nick is kept
 * for the connection's life so its deadline cannot be restarted. */
static void state_maybe_free(struct client *c)
{
    struct account_state *st = c->auth;
    if (!st || st->sasl != SASL_IDLE || st->op || st->paused || st->failures ||
        st->answer_at > 0 || st->guard[0])
        return;
    hmap_del_id(&states, c->id);
    c->auth = NULL;
    state_free(st);
}

static void pause_input(struct client *c, struct account_state *st)
{
    if (!c->blocked) {
        c->blocked = true;
        st->paused = true;
    }
}

/* The running operation is over: resume input if we paused it.  Resuming
 * may run the client's next commands, so nothing may use `st` afterwards. */
static void op_finish(struct client *c, struct account_state *st)
{
    bool resume = st->paused;
    st->op = 0;
    st->paused = false;
    state_maybe_free(c);
    if (resume)
        client_unblock(c);
}

static void ns_notice(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ns_notice(struct client *c, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    service_notice(c, "NickServ", text);
}

/* 900 RPL_LOGGEDIN: "<nick> <nick>!<user>@<host> <account> :..." */
static void send_logged_in(struct client *c)
{
    reply(c, "900", "%s!%s@%s %s :You are now logged in as %s", c->nick,
          c->user[0] ? c->user : "*", c->host, c->account, c->account);
}

static void tell_unavailable(struct client *c, enum how how)
{
    const char *text = "Accounts are unavailable right now (the database cannot be "
                       "reached); try again later";
    if (how == VIA_SASL || how == VIA_EXTERNAL) {
        client_sendf(c, ":%s NOTICE %s :*** %s\r\n", W.cfg->server_name, c->nick, text);
        reply(c, "904", ":SASL authentication failed");
    } else {
        ns_notice(c, "%s.", text);
    }
}

static bool is_guest(const char *nick)
{
    if (strncasecmp(nick, "Guest", 5) != 0 || !nick[5])
        return false;
    for (const char *p = nick + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* ---- jobs ---- */

static struct pw_job *job_new(struct client *c, struct account_state *st, enum how how)
{
    struct pw_job *j = calloc(1, sizeof *j);
    PARLOR_ASSERT(j != NULL);
    j->client = c->id;
    j->op = st->op = ++next_op;
    st->op_how = how;
    st->op_since = W.now;
    j->how = how;
    j->started = W.now;
    j->req.data = j;
    return j;
}

static void job_free(struct pw_job *j)
{
    if (!j)
        return;
    sodium_memzero(j->password, sizeof j->password);
    sodium_memzero(j->hash, sizeof j->hash);
    free(j);
}

/* The client and its state if the job's operation is still the running one. */
static struct client *job_client(const struct pw_job *j, struct account_state **st)
{
    struct client *c = client_by_id(j->client);
    if (!c || c->closing || !c->auth || c->auth->op != j->op)
        return NULL;
    *st = c->auth;
    return c;
}

/* On a thread of the pool: touches nothing but the job. */
static void job_run(uv_work_t *req)
{
    struct pw_job *j = req->data;
    if (j->verify)
        j->rc = password_verify(j->hash, j->password, j->password_len) ? 0 : -1;
    else
        j->rc = password_hash(j->password, j->password_len, j->hash);
}

static bool job_queue(struct pw_job *j, uv_after_work_cb done)
{
    int rc = uv_queue_work(W.loop, &j->req, job_run, done);
    if (rc < 0) {
        log_error("account: cannot queue password work: %s", uv_strerror(rc));
        return false;
    }
    return true;
}

/* ---- failed logins across connections (see the top of this file) ---- */

/* The login_failures key of a client address: "i:<address>"; IPv6 by its
 * /64, which one host or site gets whole. */
static void ip_key(const char *ip, char *out, size_t cap)
{
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, ip, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, text, sizeof text)) {
            snprintf(out, cap, "i:%s/64", text);
            return;
        }
    }
    snprintf(out, cap, "i:%s", ip);
}

/* A login succeeded: its account starts again from nothing, and its
 * address gets back the attempt counted when it started. */
static void throttle_release(const struct pw_job *j)
{
    if (!j->account_key[0])
        return;
    const char *values[2] = { j->account_key, j->ip_key };
    store_query("WITH forget AS (DELETE FROM login_failures WHERE key = $1)"
                " UPDATE login_failures SET failures = greatest(failures - 1, 0) WHERE key = $2",
                2, values, NULL, NULL);
}

/* Rows quiet for a whole window count for nothing any more: drop them, at
 * most every few minutes per worker, when someone tries to log in. */
static void throttle_cleanup(void)
{
    static double last;
    if (W.now - last < 300.0)
        return;
    last = W.now;
    char window[16];
    snprintf(window, sizeof window, "%d", W.cfg->login_failure_window);
    const char *values[1] = { window };
    store_query("DELETE FROM login_failures"
                " WHERE greatest(window_start, blocked_until) < now() - make_interval(secs => $1::integer)",
                1, values, NULL, NULL);
}

/* "account \"x\"" or "address 1.2.3.4" for a login_failures key. */
static const char *key_label(const char *key, char *out, size_t cap)
{
    if (strncmp(key, "a:", 2) == 0)
        snprintf(out, cap, "account \"%s\"", key + 2);
    else
        snprintf(out, cap, "address %s", key[0] ? key + 2 : "?");
    return out;
}

/* ---- logging in ---- */

static void login_ok(struct client *c, struct account_state *st, enum how how, const char *name)
{
    char banned[300];
    if (account_ban_check(name, banned, sizeof banned)) {
        log_info("account: %s (%s:%d): login as %s via %s refused: the account is banned", c->nick,
                 c->ip, c->port, name, how_name[how]);
        if (how == VIA_SASL || how == VIA_EXTERNAL)
            reply(c, "904", ":SASL authentication failed: %s", banned);
        else
            ns_notice(c, "%s", banned);
        client_close(c, banned);             /* frees st (client_release) */
        return;
    }
    snprintf(c->account, sizeof c->account, "%s", name);
    session_account(c);
    user_changed(c, USER_ACCOUNT);     /* account-notify (nothing before registration) */
    log_info("account: %s (%s:%d) logged in as %s via %s", c->nick, c->ip, c->port, name,
             how_name[how]);
    if (st->guarding && irc_casecmp(st->guard, name) == 0)
        st->guarding = false;
    if (how == VIA_REGISTER) {
        ns_notice(c, "The nick %s is now registered to you, and you are logged in. Next time "
                  "log in with SASL PLAIN or /msg NickServ IDENTIFY <password>.", name);
    } else if (how == VIA_IDENTIFY) {
        ns_notice(c, "You are now identified as %s.", name);
    }
    send_logged_in(c);
    if (how == VIA_SASL || how == VIA_EXTERNAL)
        reply(c, "903", ":SASL authentication successful");
    op_finish(c, st);
}

/* A failed attempt: counted and logged now, answered at started + FAIL_DELAY
 * by the tick; input stays paused until then. */
static void login_failed(struct client *c, struct account_state *st, enum how how,
                         const char *name, const char *why, double started)
{
    st->failures++;
    log_info("account: failed login to \"%s\" by %s from %s:%d via %s: %s (%d of %d)",
             name, c->nick, c->ip, c->port, how_name[how], why, st->failures, MAX_FAILURES);
    st->answer_at = started + FAIL_DELAY;
    st->answer_how = how;
}

/* An attempt refused without checking the password: too many failures on
 * its account or from its address (`by_key`) for `wait` more seconds.
 * Answered like a failure (same delay, counts on this connection). */
static void login_refused(struct client *c, struct account_state *st, const struct pw_job *j,
                          const char *by_key, bool new_block, int wait)
{
    st->failures++;
    char why[IRC_NICK_MAX + 80];
    key_label(by_key, why, sizeof why);
    if (new_block)
        log_warn("account: too many failed logins for %s: refusing its logins for %d s "
                 "(attempt on \"%s\" by %s from %s:%d via %s)", why, wait, j->name, c->nick,
                 c->ip, c->port, how_name[j->how]);
    else
        log_info("account: login to \"%s\" by %s from %s:%d via %s refused: too many failed "
                 "logins for %s, %d s left", j->name, c->nick, c->ip, c->port,
                 how_name[j->how], why, wait);
    st->answer_at = j->started + FAIL_DELAY;
    st->answer_how = j->how;
    st->refused_until = W.now + wait;
}

static void answer_failure(struct client *c, struct account_state *st)
{
    st->answer_at = 0;
    int wait = (int)(st->refused_until - W.now + 0.999);
    bool refused = st->refused_until > 0;
    st->refused_until = 0;
    if (wait < 1)
        wait = 1;
    if (refused && st->answer_how == VIA_SASL)
        reply(c, "904", ":Authentication failed: too many attempts, try again in %d seconds", wait);
    else if (refused)
        ns_notice(c, "Too many failed logins for this account or from your address; try again "
                  "in %d seconds.", wait);
    else if (st->answer_how == VIA_SASL)
        reply(c, "904", ":SASL authentication failed");
    else
        ns_notice(c, "Invalid account or password (%d of %d attempts).", st->failures,
                  MAX_FAILURES);
    if (st->failures >= MAX_FAILURES) {
        log_info("account: closing %s (%s:%d) after %d failed logins", c->nick, c->ip,
                 c->port, st->failures);
        client_close(c, "Too many failed login attempts");
        return;
    }
    op_finish(c, st);
}

static void on_login_checked(uv_work_t *req, int status)
{
    struct pw_job *j = req->data;
    struct account_state *st;
    struct client *c = job_client(j, &st);
    if (!c) {
        job_free(j);
        return;
    }
    if (status < 0) {
        tell_unavailable(c, j->how);
        op_finish(c, st);
    } else if (j->rc == 0) {
        throttle_release(j);
        login_ok(c, st, j->how, j->name);
    } else {
        login_failed(c, st, j->how, j->name, "wrong password", j->started);
    }
    job_free(j);
}

static void on_login_row(void *arg, const PGresult *res, const char *error)
{
    struct pw_job *j = arg;
    struct account_state *st;
    struct client *c = job_client(j, &st);
    if (!c) {
        job_free(j);
        return;
    }
    if (error) {
        log_warn("account: looking up account %s for %s:%d failed: %s", j->name, c->ip,
                 c->port, error);
        tell_unavailable(c, j->how);
        op_finish(c, st);
        job_free(j);
        return;
    }
    int wait = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    if (wait > 0) {
        login_refused(c, st, j, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2)[0] == 't', wait);
        job_free(j);
        return;
    }
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 3)) {
        login_failed(c, st, j->how, j->name, "no such account", j->started);
        job_free(j);
        return;
    }
    const char *hash = PQgetvalue(res, 0, 4);
    if (strlen(hash) >= sizeof j->hash) {
        log_warn("account: stored hash of %s is malformed", j->name);
        login_failed(c, st, j->how, j->name, "malformed stored hash", j->started);
        job_free(j);
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", PQgetvalue(res, 0, 3));
    snprintf(j->hash, sizeof j->hash, "%s", hash);
    j->verify = true;
    if (!job_queue(j, on_login_checked)) {
        tell_unavailable(c, j->how);
        op_finish(c, st);
        job_free(j);
    }
}

/* Check `password` for account `name`; the answer comes asynchronously. */
static void login_start(struct client *c, enum how how, const char *name,
                        const char *password, size_t password_len)
{
    ensure_sodium();
    struct account_state *st = state_get(c);
    struct pw_job *j = job_new(c, st, how);
    pause_input(c, st);
    size_t nlen = strlen(name);
    if (!irc_nick_valid(name, nlen)) {
        /* Never an account name; a guess all the same.  Not echoed to the
         * log: it may hold any bytes. */
        login_failed(c, st, how, "(invalid name)", "no such account", j->started);
        job_free(j);
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", name);
    irc_casefold(j->folded, name, nlen);
    memcpy(j->password, password, password_len);
    j->password_len = password_len;
    snprintf(j->account_key, sizeof j->account_key, "a:%s", j->folded);
    ip_key(c->ip, j->ip_key, sizeof j->ip_key);
    throttle_cleanup();
    const struct parlor_config *cfg = W.cfg;
    char lim_a[16], lim_i[16], window[16], backoff[16];
    snprintf(lim_a, sizeof lim_a, "%d", cfg->login_failures_account);
    snprintf(lim_i, sizeof lim_i, "%d", cfg->login_failures_ip);
    snprintf(window, sizeof window, "%d", cfg->login_failure_window);
    snprintf(backoff, sizeof backoff, "%d", cfg->login_backoff);
    const char *values[7] = { j->account_key, j->ip_key, lim_a, lim_i, window, backoff, j->folded };
    store_query("SELECT t.wait_s, t.by_key, t.new_block, a.name, a.password_hash"
                " FROM login_attempt(ARRAY[$1, $2]::text[], ARRAY[$3, $4]::integer[],"
                " $5::integer, $6::integer) t"
                " LEFT JOIN accounts a ON a.name_folded = $7",
                7, values, on_login_row, j);
}

/* ---- SASL ---- */

/* The PLAIN message "authzid NUL authcid NUL password", base64 in sasl_in. */
static void sasl_plain(struct client *c, struct account_state *st)
{
    unsigned char bin[SASL_MAX];
    struct sasl_plain_msg msg;
    int rc = sasl_plain_decode(st->sasl_in, st->sasl_len, bin, sizeof bin, PASSWORD_MAX, &msg);
    sasl_reset(st);
    if (rc < 0) {
        /* Malformed, or asks to act as someone else: not a password guess. */
        log_debug("account: malformed SASL PLAIN message from %s:%d", c->ip, c->port);
        reply(c, "904", ":SASL authentication failed");
        sodium_memzero(bin, sizeof bin);
        state_maybe_free(c);
        return;
    }
    login_start(c, VIA_SASL, msg.authcid, msg.password, msg.password_len);
    sodium_memzero(bin, sizeof bin);
}

/* SASL EXTERNAL: the account NickServ CERT ADD tied the client
 * certificate's fingerprint to (worker/certfp.c keeps the list). */
struct external_job {
    uint64_t client, op;
};

static void on_external_row(void *arg, const PGresult *res, const char *error)
{
    struct external_job *j = arg;
    struct client *c = client_by_id(j->client);
    struct account_state *st = c && !c->closing ? c->auth : NULL;
    if (!st || st->op != j->op) {
        free(j);
        return;
    }
    free(j);
    if (error) {
        log_warn("account: SASL EXTERNAL lookup failed: %s", error);
        tell_unavailable(c, VIA_SASL);
        op_finish(c, st);
    } else if (PQntuples(res) == 0) {
        log_info("account: %s (%s:%d): SASL EXTERNAL with a certificate no account has (%s)",
                 c->nick, c->ip, c->port, c->certfp);
        reply(c, "904", ":SASL authentication failed: this certificate is not tied to an account "
              "(log in, then /msg NickServ CERT ADD)");
        op_finish(c, st);
    } else {
        login_ok(c, st, VIA_EXTERNAL, PQgetvalue(res, 0, 0));
    }
}

static void sasl_external(struct client *c, struct account_state *st)
{
    sasl_reset(st);
    if (!store_available()) {
        tell_unavailable(c, VIA_SASL);
        state_maybe_free(c);
        return;
    }
    struct external_job *j = malloc(sizeof *j);
    PARLOR_ASSERT(j != NULL);
    j->client = c->id;
    j->op = st->op = ++next_op;
    st->op_how = VIA_EXTERNAL;
    st->op_since = W.now;
    pause_input(c, st);
    const char *values[1] = { c->certfp };
    store_query("SELECT a.name FROM account_certs k JOIN accounts a ON a.name_folded = k.account_folded"
                " WHERE k.fingerprint = $1", 1, values, on_external_row, j);
}

void account_authenticate(struct client *c, struct irc_msg *m)
{
    const char *arg = m->params[0];
    if (!(c->caps & CAP_SASL)) {
        reply(c, "904", ":SASL authentication failed (request the sasl capability first)");
        return;
    }
    if (c->account[0]) {
        reply(c, "907", ":You have already authenticated using SASL");
        return;
    }
    struct account_state *st = c->auth;
    if (st && (st->op || st->answer_at > 0))
        return;                 /* cannot happen: input is paused meanwhile */
    if (strcmp(arg, "*") == 0) {
        if (st)
            sasl_reset(st);
        reply(c, "906", ":SASL authentication aborted");
        state_maybe_free(c);
        return;
    }
    if (st && st->sasl == SASL_WAIT_EXTERNAL) {
        if (strlen(arg) > SASL_CHUNK) {
            sasl_reset(st);
            reply(c, "905", ":SASL message too long");
            state_maybe_free(c);
            return;
        }
        sasl_external(c, st);               /* the authorization identity is not used */
        return;
    }
    if ((!st || st->sasl == SASL_IDLE) && strcasecmp(arg, "EXTERNAL") == 0 && c->certfp[0]) {
        st = state_get(c);
        st->sasl = SASL_WAIT_EXTERNAL;
        client_sendf(c, "AUTHENTICATE +\r\n");
        return;
    }
    if (!st || st->sasl == SASL_IDLE) {
        if (strcasecmp(arg, "PLAIN") != 0) {
            reply(c, "908", "%s :are available SASL mechanisms",
                  client_is_tls(c) ? "PLAIN,EXTERNAL" : "PLAIN");
            reply(c, "904", ":SASL authentication failed%s", strcasecmp(arg, "EXTERNAL") == 0 ?
                  ": no client certificate (connect with TLS and a certificate)" : "");
            return;
        }
        char why[160];
        if (client_password_refused(c, why, sizeof why)) {
            reply(c, "904", ":SASL authentication failed: %s", why);
            return;
        }
        st = state_get(c);
        st->sasl = SASL_WAIT;
        client_sendf(c, "AUTHENTICATE +\r\n");
        return;
    }
    size_t n = strlen(arg);
    if (n > SASL_CHUNK) {
        sasl_reset(st);
        reply(c, "905", ":SASL message too long");
        state_maybe_free(c);
        return;
    }
    if (strcmp(arg, "+") != 0) {
        if (st->sasl_len + n > sizeof st->sasl_in) {
            sasl_reset(st);
            reply(c, "905", ":SASL message too long");
            state_maybe_free(c);
            return;
        }
        memcpy(st->sasl_in + st->sasl_len, arg, n);
        st->sasl_len += n;
        if (n == SASL_CHUNK)
            return;             /* a full chunk: more follows (or "+") */
    }
    sasl_plain(c, st);
}

void account_cap_end(struct client *c)
{
    struct account_state *st = c->auth;
    if (!st || st->sasl == SASL_IDLE)
        return;
    sasl_reset(st);
    reply(c, "906", ":SASL authentication aborted");
    state_maybe_free(c);
}

/* ---- NickServ REGISTER ---- */

static void on_register_done(void *arg, const PGresult *res, const char *error)
{
    struct pw_job *j = arg;
    struct account_state *st;
    struct client *c = job_client(j, &st);
    if (!c) {
        if (!error && res && PQntuples(res) > 0)
            log_info("account: %s registered (its client left meanwhile)", j->name);
        job_free(j);
        return;
    }
    if (error) {
        log_warn("account: registering %s for %s:%d failed: %s", j->name, c->ip, c->port, error);
        tell_unavailable(c, VIA_REGISTER);
        op_finish(c, st);
    } else if (PQntuples(res) < 1) {
        ns_notice(c, "The nick %s is already registered.", j->name);
        op_finish(c, st);
    } else {
        log_info("account: %s registered by %s:%d", j->name, c->ip, c->port);
        login_ok(c, st, VIA_REGISTER, PQgetvalue(res, 0, 0));
    }
    job_free(j);
}

static void on_register_hashed(uv_work_t *req, int status)
{
    struct pw_job *j = req->data;
    sodium_memzero(j->password, sizeof j->password);
    struct account_state *st;
    struct client *c = job_client(j, &st);
    if (!c) {
        job_free(j);
        return;
    }
    if (status < 0 || j->rc != 0) {
        log_error("account: hashing a password failed (out of memory?)");
        ns_notice(c, "Registration failed on the server; try again later.");
        op_finish(c, st);
        job_free(j);
        return;
    }
    const char *values[3] = { j->name, j->folded, j->hash };
    store_query("INSERT INTO accounts (name, name_folded, password_hash) VALUES ($1, $2, $3) "
                "ON CONFLICT (name_folded) DO NOTHING RETURNING name",
                3, values, on_register_done, j);
}

static void on_register_check(void *arg, const PGresult *res, const char *error)
{
    struct pw_job *j = arg;
    struct account_state *st;
    struct client *c = job_client(j, &st);
    if (!c) {
        job_free(j);
        return;
    }
    if (error) {
        log_warn("account: checking whether %s is registered failed: %s", j->name, error);
        tell_unavailable(c, VIA_REGISTER);
    } else if (PQntuples(res) > 0) {
        ns_notice(c, "The nick %s is already registered.", j->name);
    } else if (job_queue(j, on_register_hashed)) {
        return;
    } else {
        ns_notice(c, "Registration failed on the server; try again later.");
    }
    op_finish(c, st);
    job_free(j);
}

static void ns_register(struct client *c, char *args)
{
    char *save, *password = strtok_r(args, " ", &save);
    char *extra = strtok_r(NULL, " ", &save);
    if (c->account[0]) {
        ns_notice(c, "You are already logged in as %s.", c->account);
        return;
    }
    if (!password || extra) {
        ns_notice(c, "Syntax: REGISTER <password>  (one word, at least %d characters; "
                  "registers your current nick)", PASSWORD_MIN);
        return;
    }
    if (is_guest(c->nick)) {
        ns_notice(c, "Guest nicks cannot be registered; choose a nick first (/nick yourname).");
        return;
    }
    size_t plen = strlen(password);
    if (plen < PASSWORD_MIN || plen > PASSWORD_MAX) {
        ns_notice(c, "The password must be %d to %d characters long.", PASSWORD_MIN, PASSWORD_MAX);
        return;
    }
    if (irc_casecmp(password, c->nick) == 0) {
        ns_notice(c, "The password must not be your nick.");
        return;
    }
    ensure_sodium();
    struct account_state *st = state_get(c);
    struct pw_job *j = job_new(c, st, VIA_REGISTER);
    pause_input(c, st);
    snprintf(j->name, sizeof j->name, "%s", c->nick);
    irc_casefold(j->folded, c->nick, strlen(c->nick));
    memcpy(j->password, password, plen);
    j->password_len = plen;
    const char *values[1] = { j->folded };
    store_query("SELECT 1 FROM accounts WHERE name_folded = $1", 1, values, on_register_check, j);
}

/* ---- NickServ ---- */

static void ns_identify(struct client *c, char *args)
{
    char *save, *a = strtok_r(args, " ", &save);
    char *b = strtok_r(NULL, " ", &save);
    char *extra = strtok_r(NULL, " ", &save);
    if (!a || extra) {
        ns_notice(c, "Syntax: IDENTIFY [account] <password>");
        return;
    }
    if (c->account[0]) {
        ns_notice(c, "You are already logged in as %s.", c->account);
        return;
    }
    const char *name = b ? a : c->nick, *password = b ? b : a;
    size_t plen = strlen(password);
    if (plen > PASSWORD_MAX) {
        ns_notice(c, "Invalid account or password.");
        return;
    }
    login_start(c, VIA_IDENTIFY, name, password, plen);
}

static void ns_help(struct client *c)
{
    ns_notice(c, "NickServ keeps accounts. Commands (/msg NickServ <command>):");
    ns_notice(c, "  REGISTER <password>             register your current nick (password: one "
              "word, at least %d characters)", PASSWORD_MIN);
    ns_notice(c, "  IDENTIFY [account] <password>   log in (account defaults to your nick)");
    ns_notice(c, "  CERT ADD|DEL|LIST [fingerprint]  client certificates that log you in "
              "(SASL EXTERNAL over TLS)");
    ns_notice(c, "  HELP                            this text");
    ns_notice(c, "Clients with SASL support can log in with SASL PLAIN while connecting.");
    ns_notice(c, "A registered nick used without logging in is renamed to Guest<digits> "
              "after %d seconds.", (int)GRACE);
}


void account_service_command(struct client *c, const char *verb, char *args)
{
    char why[160];
    if (verb && (strcasecmp(verb, "REGISTER") == 0 || strcasecmp(verb, "IDENTIFY") == 0) &&
        client_password_refused(c, why, sizeof why)) {
        ns_notice(c, "%s. Your password was not used.", why);
        return;
    }
    if (!verb)
        ns_help(c);
    else if (strcasecmp(verb, "REGISTER") == 0)
        ns_register(c, args);
    else if (strcasecmp(verb, "IDENTIFY") == 0)
        ns_identify(c, args);
    else if (strcasecmp(verb, "HELP") == 0)
        ns_help(c);
    else if (strcasecmp(verb, "CERT") == 0)
        certfp_command(c, args);
    else
        ns_notice(c, "Unknown command %.40s. Try /msg NickServ HELP", verb);
}

bool account_nick_refused(struct client *c, const char *nick)
{
    if (!service_nick_reserved(nick))
        return false;
    reply(c, "432", "%s :Erroneous nickname (reserved for services)", nick);
    return true;
}

/* ---- registered nicks ---- */

static void on_nick_checked(void *arg, const PGresult *res, const char *error)
{
    struct nick_check *q = arg;
    struct client *c = client_by_id(q->client);
    char folded[IRC_NICK_MAX + 1];
    if (!c || c->closing || !c->registered)
        goto out;
    irc_casefold(folded, c->nick, strlen(c->nick));
    if (strcmp(folded, q->folded) != 0)
        goto out;               /* changed nick meanwhile; that one is checked too */
    if (error) {
        log_warn("account: cannot check whether nick %s is registered (%s); not protecting it",
                 c->nick, error);
        goto out;
    }
    if (PQntuples(res) < 1 || irc_casecmp(c->account, c->nick) == 0)
        goto out;
    struct account_state *st = state_get(c);
    if (strcmp(st->guard, folded) != 0) {
        snprintf(st->guard, sizeof st->guard, "%s", folded);
        st->rename_at = W.now + GRACE;
        st->rename_tries = 0;
    } else if (st->rename_tries > 0 || st->rename_at < W.now) {
        st->rename_at = W.now;  /* its time already ran out on this connection */
    }
    st->guarding = true;
    int left = (int)(st->rename_at - W.now + 0.5);
    if (st->rename_at > W.now)
        ns_notice(c, "The nick %s is registered. If it is yours, identify within %d seconds "
                  "with /msg NickServ IDENTIFY <password> (or log in with SASL); otherwise you "
                  "will be renamed.", c->nick, left);
    else
        ns_notice(c, "The nick %s is registered and its time to identify on this connection "
                  "is over; you will be renamed now.", c->nick);
out:
    free(q);
}

void account_nick_check(struct client *c)
{
    if (!c->registered || c->closing)
        return;
    struct account_state *st = c->auth;
    size_t len = strlen(c->nick);
    char folded[IRC_NICK_MAX + 1];
    irc_casefold(folded, c->nick, len);
    if (st && st->guarding && strcmp(st->guard, folded) != 0)
        st->guarding = false;
    if (irc_casecmp(c->account, c->nick) == 0 || is_guest(c->nick)) {
        if (st)
            st->guarding = false;
        return;
    }
    if (strcmp(store_state(), "not configured") == 0) {
        log_debug("account: no database; nick %s not checked", c->nick);
        return;
    }
    struct nick_check *q = malloc(sizeof *q);
    PARLOR_ASSERT(q != NULL);
    q->client = c->id;
    memcpy(q->folded, folded, len + 1);
    const char *values[1] = { q->folded };
    store_query("SELECT name FROM accounts WHERE name_folded = $1", 1, values, on_nick_checked, q);
}

static void rename_guest(struct client *c, struct account_state *st)
{
    if (c->blocked || st->op || st->answer_at > 0) {
        st->rename_at = W.now + 1.0;      /* busy (nick claim, login): soon */
        return;
    }
    if (st->rename_tries >= RENAME_TRIES) {
        log_info("account: %s (%s:%d) could not be renamed from a registered nick; closing",
                 c->nick, c->ip, c->port);
        client_close(c, "Using a registered nick without identifying");
        return;
    }
    st->rename_tries++;
    st->rename_at = W.now + RENAME_RETRY;
    char guest[16];
    snprintf(guest, sizeof guest, "Guest%05u", (unsigned)randombytes_uniform(100000));
    ns_notice(c, "You did not identify for %s in time; your nick is now %s.", c->nick, guest);
    log_info("account: renaming %s (%s:%d) to %s: registered nick, not identified", c->nick,
             c->ip, c->port, guest);
    nick_request(c, guest);
}

/* Answer due failures, rename unidentified holders of registered nicks, and
 * forget closed connections.  Actions are taken after the walk: they may run
 * the client's input, which may add or free states. */
static void on_tick(uv_timer_t *t)
{
    W.now = now_wall();
    uint64_t due[64];
    size_t ndue = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &states);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct account_state *st = e->value;
        struct client *c = client_by_id(st->client);
        if (!c || c->closing) {
            if (c)
                c->auth = NULL;
            hmap_iter_remove(&it);
            state_free(st);
            continue;
        }
        bool late = st->op && st->answer_at == 0 && W.now - st->op_since > BUSY_TIMEOUT;
        if (ndue < sizeof due / sizeof due[0] &&
            ((st->answer_at > 0 && W.now >= st->answer_at) || late ||
             (st->guarding && W.now >= st->rename_at)))
            due[ndue++] = st->client;
    }
    for (size_t i = 0; i < ndue; i++) {
        struct client *c = client_by_id(due[i]);
        struct account_state *st = c ? c->auth : NULL;
        if (!st || c->closing)
            continue;
        if (st->answer_at > 0 && W.now >= st->answer_at) {
            answer_failure(c, st);
        } else if (st->op && st->answer_at == 0 && W.now - st->op_since > BUSY_TIMEOUT) {
            log_warn("account: no answer from the database for %s:%d in %d s", c->ip, c->port,
                     (int)BUSY_TIMEOUT);
            tell_unavailable(c, st->op_how);
            op_finish(c, st);   /* the late answer is ignored: its op is over */
        } else if (st->guarding && W.now >= st->rename_at) {
            rename_guest(c, st);
        }
    }
    if (states.count == 0) {
        uv_close((uv_handle_t *)tick, on_tick_closed);
        tick = NULL;
    }
}
