#include "common/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/irc.h"
#include "common/log.h"
#include "common/password.h"
#include "common/paths.h"

void config_defaults(struct parlor_config *c)
{
    memset(c, 0, sizeof *c);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = n > 0 ? (int)n : 1;
    const char *db = getenv("PARLOR_DATABASE_URL");
    if (db)
        snprintf(c->database, sizeof c->database, "%s", db);
    c->control_path[0] = '\0';          /* "": default_control_path() */
    c->log_level = LOG_INFO;
    snprintf(c->history_tz, sizeof c->history_tz, "UTC");
    snprintf(c->server_name, sizeof c->server_name, "parlor.local");
    snprintf(c->network_name, sizeof c->network_name, "Parlor");
    snprintf(c->motd, sizeof c->motd, "Welcome to Parlor. Be kind; rooms are logged.");
    c->line_length = 512;
    c->max_clients = 20000;
    c->max_clients_per_worker = 20000;
    c->flood_lines = 5;
    c->flood_burst = 20;
    c->sendq = 1024 * 1024;
    c->tls_ticket_rotate = 12 * 3600;
    c->ping_timeout = 120;
    c->registration_timeout = 30;
    c->max_channels_per_client = 50;
    c->invite_ttl = 3600;
    c->max_invites_per_room = 100;
    c->owner_timeout = 5;
    c->node_id = -1;
    c->game_invite_timeout = 60;
    c->game_round_seconds = 60;
    c->join_replay = 10;
    c->max_connections_per_ip = 64;
    c->connect_rate = 20;
    c->connect_period = 10;
    c->connect_burst = 40;
    c->control_idle_timeout = 60;
    c->control_output_max = 1024 * 1024;
    c->login_failures_account = 10;
    c->login_failures_ip = 100;       /* a classroom shares one NAT address */
    c->login_failure_window = 600;
    c->login_backoff = 60;
    c->sts_duration = 2592000;        /* 30 days */
}

void config_spool_dir(const struct parlor_config *c, char *out, size_t cap)
{
    if (c->spool_dir[0]) {
        snprintf(out, cap, "%s", c->spool_dir);
        return;
    }
    const char *ctl = c->control_path[0] ? c->control_path : default_control_path();
    const char *slash = strrchr(ctl, '/');
    if (slash)
        snprintf(out, cap, "%.*s/spool", (int)(slash - ctl), ctl);
    else
        snprintf(out, cap, "spool");
}

void config_usage(FILE *out)
{
    fprintf(out,
        "usage: parlord [options]\n"
        "  --config FILE              configuration file (name = value lines; see README)\n"
        "  --check-config FILE        validate a configuration file and exit\n"
        "  --listen HOST:PORT         listen address, repeatable (default 127.0.0.1:6667)\n"
        "  --workers N                worker processes (default: number of cores)\n"
        "  --control PATH             control socket (default /run/parlord/control.sock as root)\n"
        "  --database CONNINFO        libpq conninfo (default $PARLOR_DATABASE_URL)\n"
        "  --log-level LEVEL          debug, info, warn or error (default info)\n"
        "  --spool-dir DIR            where messages wait while PostgreSQL is down\n"
        "                             (default: a spool folder beside the control socket)\n"
        "  --migrations-dir DIR       schema migrations (default: found next to the binary)\n"
        "  --words-dir DIR            game word lists (default: found next to the binary)\n"
        "  --game-invite-timeout SEC  time to answer a game invitation (default 60)\n"
        "  --game-round-seconds SEC   length of a game round (default 60)\n"
        "  --history-timezone TZ      time zone of HistServ's days (default UTC)\n"
        "  --join-replay N            recent messages of a room sent on JOIN to clients\n"
        "                             that do not fetch history themselves, 0 = off (default 10)\n"
        "  --show-internals[=yes|no]  tell clients their worker and the worker count (default no)\n"
        "  --server-name NAME         server name in replies (default parlor.local)\n"
        "  --password PASS            require PASS from clients\n"
        "  --motd TEXT                message of the day (empty: none)\n"
        "  --max-clients N            clients on the whole server (default 20000)\n"
        "  --line-length N            longest line accepted, CR LF included, tags not (512..4096, default 512)\n"
        "  --max-clients-per-worker N (default 20000)\n"
        "  --flood-lines N            sustained lines/s per client, 0 = no limit (default 5)\n"
        "  --flood-burst N            lines a client may send at once (default 20)\n"
        "  --sendq BYTES              output queue limit per client (default 1048576)\n"
        "  --ping-timeout SEC         idle seconds before PING / before closing (default 120)\n"
        "  --registration-timeout SEC seconds to complete NICK/USER (default 30)\n"
        "  --max-channels N           rooms per client, JOINs on their way included (default 50)\n"
        "  --invite-ttl SEC           how long an operator's INVITE lets its target in (default 3600)\n"
        "  --max-invites-per-room N   INVITEs a room may send within invite-ttl (default 100)\n"
        "  --owner-timeout SEC        how long requests wait for a dead worker's replacement (default 5)\n"
        "  --cluster URLS             join a network of nodes over NATS (nats://HOST:PORT[,...])\n"
        "  --node-name NAME           this node's name in the network (default: the host name)\n"
        "  --node-id N                this node's block of worker numbers, 0-7 (default: from the name)\n"
        "  --max-connections-per-ip N connections at once from one address (IPv6: its /64),\n"
        "                             0 = no limit (default 64)\n"
        "  --connect-rate N           new connections per address per --connect-period\n"
        "                             after a burst, 0 = no limit (default 20)\n"
        "  --connect-period SEC       (default 10)\n"
        "  --connect-burst N          new connections an address may open at once (default 40)\n"
        "  --control-idle-timeout SEC close a silent control connection (default 60)\n"
        "  --control-output-max BYTES unread answers a control connection may hold (default 1048576)\n"
        "  --login-failures-per-account N  failed logins on one account, per window (default 10)\n"
        "  --login-failures-per-ip N  failed logins from one address, per window (default 100)\n"
        "  --login-failure-window SEC window failed logins are counted in (default 600)\n"
        "  --login-backoff SEC        refusal after too many, doubled each time (default 60)\n"
        "  --tls-listen HOST:PORT     TLS listen address, repeatable (none by default)\n"
        "  --tls-cert FILE            certificate chain, PEM (the server's first)\n"
        "  --tls-key FILE             its private key, PEM\n"
        "  --tls-ticket-rotate SECS   a new session-ticket key this often, the old one\n"
        "                             still accepted until the next (default 43200; 0 = never)\n"
        "  --sts-duration SEC         IRCv3 STS policy lifetime, 0 withdraws it (default 2592000)\n"
        "  --sts-port PORT            the TLS port STS names (default: the first tls-listen)\n"
        "  --plaintext-passwords allow|refuse  passwords over plaintext (default allow)\n"
        "  --help, --version\n"
        "IRC operators are [oper] blocks of the configuration file (see parlord(8)).\n"
        "usage: parlord migrate [options]   apply the database schema and exit\n"
        "       parlord hash-password       print the hash of a password read from stdin\n");
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* `name` (listen, tls-listen) adds an address to list[*n]. */
static int parse_listen(struct listen_addr *list, int *n, const char *name, const char *s,
                        char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    long port;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof list[0].host ||
        parse_int(colon + 1, 1, 65535, &port) < 0) {
        snprintf(err, errlen, "%s: expected HOST:PORT, got '%s'", name, s);
        return -1;
    }
    if (*n == CONFIG_MAX_LISTEN) {
        snprintf(err, errlen, "%s: at most %d addresses", name, CONFIG_MAX_LISTEN);
        return -1;
    }
    struct listen_addr *l = &list[(*n)++];
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {    /* [::1]:6667 */
        s++;
        hl -= 2;
    }
    memcpy(l->host, s, hl);
    l->host[hl] = '\0';
    l->port = (int)port;
    return 0;
}

enum {
    OPT_CONFIG = 256, OPT_CHECK_CONFIG, OPT_HELP, OPT_VERSION, OPT_SETTING,
};

/* Settings have the same names on the command line (--name VALUE) and in
 * the configuration file (name = VALUE); config_set() knows them all. */
static const struct option long_opts[] = {
    {"config", required_argument, 0, OPT_CONFIG},
    {"check-config", required_argument, 0, OPT_CHECK_CONFIG},
    {"help", no_argument, 0, OPT_HELP},
    {"version", no_argument, 0, OPT_VERSION},
    {"listen", required_argument, 0, OPT_SETTING},
    {"workers", required_argument, 0, OPT_SETTING},
    {"control", required_argument, 0, OPT_SETTING},
    {"database", required_argument, 0, OPT_SETTING},
    {"log-level", required_argument, 0, OPT_SETTING},
    {"server-name", required_argument, 0, OPT_SETTING},
    {"password", required_argument, 0, OPT_SETTING},
    {"spool-dir", required_argument, 0, OPT_SETTING},
    {"migrations-dir", required_argument, 0, OPT_SETTING},
    {"words-dir", required_argument, 0, OPT_SETTING},
    {"game-invite-timeout", required_argument, 0, OPT_SETTING},
    {"game-round-seconds", required_argument, 0, OPT_SETTING},
    {"history-timezone", required_argument, 0, OPT_SETTING},
    {"join-replay", required_argument, 0, OPT_SETTING},
    {"show-internals", optional_argument, 0, OPT_SETTING},
    {"motd", required_argument, 0, OPT_SETTING},
    {"max-clients", required_argument, 0, OPT_SETTING},
    {"line-length", required_argument, 0, OPT_SETTING},
    {"max-clients-per-worker", required_argument, 0, OPT_SETTING},
    {"flood-lines", required_argument, 0, OPT_SETTING},
    {"flood-burst", required_argument, 0, OPT_SETTING},
    {"sendq", required_argument, 0, OPT_SETTING},
    {"ping-timeout", required_argument, 0, OPT_SETTING},
    {"registration-timeout", required_argument, 0, OPT_SETTING},
    {"max-channels", required_argument, 0, OPT_SETTING},
    {"invite-ttl", required_argument, 0, OPT_SETTING},
    {"max-invites-per-room", required_argument, 0, OPT_SETTING},
    {"owner-timeout", required_argument, 0, OPT_SETTING},
    {"cluster", required_argument, 0, OPT_SETTING},
    {"node-name", required_argument, 0, OPT_SETTING},
    {"node-id", required_argument, 0, OPT_SETTING},
    {"max-connections-per-ip", required_argument, 0, OPT_SETTING},
    {"connect-rate", required_argument, 0, OPT_SETTING},
    {"connect-period", required_argument, 0, OPT_SETTING},
    {"connect-burst", required_argument, 0, OPT_SETTING},
    {"control-idle-timeout", required_argument, 0, OPT_SETTING},
    {"control-output-max", required_argument, 0, OPT_SETTING},
    {"login-failures-per-account", required_argument, 0, OPT_SETTING},
    {"login-failures-per-ip", required_argument, 0, OPT_SETTING},
    {"login-failure-window", required_argument, 0, OPT_SETTING},
    {"login-backoff", required_argument, 0, OPT_SETTING},
    {"tls-listen", required_argument, 0, OPT_SETTING},
    {"tls-cert", required_argument, 0, OPT_SETTING},
    {"tls-key", required_argument, 0, OPT_SETTING},
    {"tls-ticket-rotate", required_argument, 0, OPT_SETTING},
    {"sts-duration", required_argument, 0, OPT_SETTING},
    {"sts-port", required_argument, 0, OPT_SETTING},
    {"plaintext-passwords", required_argument, 0, OPT_SETTING},
    {0, 0, 0, 0},
};

/* Copy a string setting into a fixed field, refusing what does not fit. */
static int set_str(char *dst, size_t cap, const char *name, const char *v, char *err, size_t errlen)
{
    if (strlen(v) >= cap) {
        snprintf(err, errlen, "%s: value too long (at most %zu bytes)", name, cap - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

struct int_setting {
    const char *name;
    long min, max;
    size_t offset;
    bool is_size;
};

static const struct int_setting int_settings[] = {
    {"workers", 1, 64, offsetof(struct parlor_config, workers), false},
    {"line-length", 512, IRC_LINE_LIMIT, offsetof(struct parlor_config, line_length), false},
    {"max-clients", 1, 1000000, offsetof(struct parlor_config, max_clients), false},
    {"max-clients-per-worker", 1, 1000000, offsetof(struct parlor_config, max_clients_per_worker), false},
    {"flood-lines", 0, 1000000, offsetof(struct parlor_config, flood_lines), false},
    {"flood-burst", 1, 1000000, offsetof(struct parlor_config, flood_burst), false},
    {"sendq", 4096, 1L << 30, offsetof(struct parlor_config, sendq), true},
    {"tls-ticket-rotate", 0, 30 * 86400, offsetof(struct parlor_config, tls_ticket_rotate), false},
    {"ping-timeout", 1, 86400, offsetof(struct parlor_config, ping_timeout), false},
    {"registration-timeout", 1, 3600, offsetof(struct parlor_config, registration_timeout), false},
    {"game-invite-timeout", 1, 3600, offsetof(struct parlor_config, game_invite_timeout), false},
    {"game-round-seconds", 1, 3600, offsetof(struct parlor_config, game_round_seconds), false},
    {"join-replay", 0, 100, offsetof(struct parlor_config, join_replay), false},
    {"max-channels", 1, 10000, offsetof(struct parlor_config, max_channels_per_client), false},
    {"invite-ttl", 1, 7 * 86400, offsetof(struct parlor_config, invite_ttl), false},
    {"max-invites-per-room", 1, 100000, offsetof(struct parlor_config, max_invites_per_room), false},
    {"owner-timeout", 1, 3600, offsetof(struct parlor_config, owner_timeout), false},
    {"node-id", 0, 7, offsetof(struct parlor_config, node_id), false},
    {"max-connections-per-ip", 0, 1000000, offsetof(struct parlor_config, max_connections_per_ip), false},
    {"connect-rate", 0, 1000000, offsetof(struct parlor_config, connect_rate), false},
    {"connect-period", 1, 3600, offsetof(struct parlor_config, connect_period), false},
    {"connect-burst", 1, 1000000, offsetof(struct parlor_config, connect_burst), false},
    {"control-idle-timeout", 1, 86400, offsetof(struct parlor_config, control_idle_timeout), false},
    {"control-output-max", 4096, 1L << 30, offsetof(struct parlor_config, control_output_max), true},
    {"login-failures-per-account", 1, 1000000, offsetof(struct parlor_config, login_failures_account), false},
    {"login-failures-per-ip", 1, 1000000, offsetof(struct parlor_config, login_failures_ip), false},
    {"login-failure-window", 1, 86400, offsetof(struct parlor_config, login_failure_window), false},
    {"login-backoff", 1, 86400, offsetof(struct parlor_config, login_backoff), false},
    {"sts-duration", 0, 1L << 30, offsetof(struct parlor_config, sts_duration), false},
    {"sts-port", 0, 65535, offsetof(struct parlor_config, sts_port), false},
};

int config_set(struct parlor_config *c, const char *name, const char *v, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0]; i++) {
        const struct int_setting *s = &int_settings[i];
        if (strcmp(s->name, name) != 0)
            continue;
        long n;
        if (parse_int(v, s->min, s->max, &n) < 0) {
            snprintf(err, errlen, "%s: expected an integer from %ld to %ld, got '%s'",
                     name, s->min, s->max, v);
            return -1;
        }
        if (s->is_size)
            *(size_t *)((char *)c + s->offset) = (size_t)n;
        else
            *(int *)((char *)c + s->offset) = (int)n;
        return 0;
    }
    if (strcmp(name, "listen") == 0)
        return parse_listen(c->listen, &c->nlisten, name, v, err, errlen);
    if (strcmp(name, "tls-listen") == 0)
        return parse_listen(c->tls_listen, &c->ntls_listen, name, v, err, errlen);
    if (strcmp(name, "tls-cert") == 0)
        return set_str(c->tls_cert, sizeof c->tls_cert, name, v, err, errlen);
    if (strcmp(name, "tls-key") == 0)
        return set_str(c->tls_key, sizeof c->tls_key, name, v, err, errlen);
    if (strcmp(name, "plaintext-passwords") == 0) {
        if (strcmp(v, "allow") != 0 && strcmp(v, "refuse") != 0) {
            snprintf(err, errlen, "plaintext-passwords: expected allow or refuse, got '%s'", v);
            return -1;
        }
        c->plaintext_passwords_refused = strcmp(v, "refuse") == 0;
        return 0;
    }
    if (strcmp(name, "cluster") == 0) {
        if (v[0] && strncmp(v, "nats://", 7) != 0) {
            snprintf(err, errlen, "cluster: expected nats://HOST:PORT[,nats://...], got '%s'", v);
            return -1;
        }
        return set_str(c->cluster, sizeof c->cluster, name, v, err, errlen);
    }
    if (strcmp(name, "node-name") == 0) {
        if (!v[0] || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(v)) {
            snprintf(err, errlen, "node-name: '%s' is not a name (letters, digits, - and _)", v);
            return -1;
        }
        return set_str(c->node_name, sizeof c->node_name, name, v, err, errlen);
    }
    if (strcmp(name, "control") == 0)
        return set_str(c->control_path, sizeof c->control_path, name, v, err, errlen);
    if (strcmp(name, "database") == 0)
        return set_str(c->database, sizeof c->database, name, v, err, errlen);
    if (strcmp(name, "spool-dir") == 0)
        return set_str(c->spool_dir, sizeof c->spool_dir, name, v, err, errlen);
    if (strcmp(name, "migrations-dir") == 0)
        return set_str(c->migrations_dir, sizeof c->migrations_dir, name, v, err, errlen);
    if (strcmp(name, "words-dir") == 0)
        return set_str(c->words_dir, sizeof c->words_dir, name, v, err, errlen);
    if (strcmp(name, "history-timezone") == 0) {
        if (!v[0] || strpbrk(v, "'\"; ")) {
            snprintf(err, errlen, "history-timezone: '%s' is not a time zone name", v);
            return -1;
        }
        return set_str(c->history_tz, sizeof c->history_tz, name, v, err, errlen);
    }
    if (strcmp(name, "show-internals") == 0) {
        if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            c->show_internals = true;
        else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            c->show_internals = false;
        else {
            snprintf(err, errlen, "show-internals: expected yes or no, got '%s'", v);
            return -1;
        }
        return 0;
    }
    if (strcmp(name, "password") == 0)
        return set_str(c->password, sizeof c->password, name, v, err, errlen);
    if (strcmp(name, "motd") == 0)
        return set_str(c->motd, sizeof c->motd, name, v, err, errlen);
    if (strcmp(name, "server-name") == 0) {
        if (!v[0] || strpbrk(v, " :!@*?,")) {
            snprintf(err, errlen, "server-name: '%s' is not a valid server name", v);
            return -1;
        }
        return set_str(c->server_name, sizeof c->server_name, name, v, err, errlen);
    }
    if (strcmp(name, "log-level") == 0) {
        int l = log_parse_level(v);
        if (l < 0) {
            snprintf(err, errlen, "log-level: expected debug, info, warn or error, got '%s'", v);
            return -1;
        }
        c->log_level = l;
        return 0;
    }
    snprintf(err, errlen, "unknown setting '%s'", name);
    return -1;
}

/* One "name = value" line inside an [oper] block. */
static int oper_set(struct parlor_config *c, struct oper_conf *o, const char *name, const char *v,
                    char *err, size_t errlen)
{
    if (strcmp(name, "name") == 0) {
        if (!v[0] || strpbrk(v, " ,:")) {
            snprintf(err, errlen, "oper name: '%s' is not a valid name (no spaces, ',' or ':')", v);
            return -1;
        }
        for (int i = 0; i < c->nopers; i++)
            if (&c->opers[i] != o && strcmp(c->opers[i].name, v) == 0) {
                snprintf(err, errlen, "oper name: '%s' is used by two [oper] blocks", v);
                return -1;
            }
        return set_str(o->name, sizeof o->name, "oper name", v, err, errlen);
    }
    if (strcmp(name, "password-hash") == 0) {
        if (!password_hash_valid(v)) {
            snprintf(err, errlen, "oper password-hash: not an argon2id hash "
                     "(make one with `parlord hash-password`)");
            return -1;
        }
        return set_str(o->hash, sizeof o->hash, "oper password-hash", v, err, errlen);
    }
    if (strcmp(name, "host") == 0) {
        if (strchr(v, ' ')) {
            snprintf(err, errlen, "oper host: '%s' has a space", v);
            return -1;
        }
        return set_str(o->mask, sizeof o->mask, "oper host", v, err, errlen);
    }
    snprintf(err, errlen, "unknown oper setting '%s' (name, password-hash, host)", name);
    return -1;
}

/* An [oper] block ends: it needs a name and a password hash. */
static int oper_end(const struct oper_conf *o, char *err, size_t errlen)
{
    if (o && (!o->name[0] || !o->hash[0])) {
        snprintf(err, errlen, "[oper] block without %s", !o->name[0] ? "name" : "password-hash");
        return -1;
    }
    return 0;
}

int config_load_file(struct parlor_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], msg[400];
    int lineno = 0, rc = 0;
    bool listen_seen = false, tls_listen_seen = false;
    struct oper_conf *oper = NULL;      /* the [oper] block being read */
    c->nopers = 0;                      /* the file's blocks replace any before */
    memset(c->opers, 0, sizeof c->opers);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = str_trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {                    /* sections only group settings */
            if (s[strlen(s) - 1] != ']') {
                snprintf(err, errlen, "%s:%d: unterminated section header", path, lineno);
                rc = -1;
                break;
            }
            if (oper_end(oper, msg, sizeof msg) < 0) {
                snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
                rc = -1;
                break;
            }
            oper = NULL;
            if (strcmp(s, "[oper]") == 0) {
                if (c->nopers == CONFIG_MAX_OPERS) {
                    snprintf(err, errlen, "%s:%d: more than %d [oper] blocks", path, lineno,
                             CONFIG_MAX_OPERS);
                    rc = -1;
                    break;
                }
                oper = &c->opers[c->nopers++];
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = str_trim(s), *value = str_trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        if (strcmp(name, "listen") == 0 && !listen_seen) {
            c->nlisten = 0;                 /* the file's list replaces the default */
            listen_seen = true;
        }
        if (strcmp(name, "tls-listen") == 0 && !tls_listen_seen) {
            c->ntls_listen = 0;
            tls_listen_seen = true;
        }
        if (oper ? oper_set(c, oper, name, value, msg, sizeof msg) < 0
                 : config_set(c, name, value, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && oper_end(oper, msg, sizeof msg) < 0) {
        snprintf(err, errlen, "%s: at the end: %s", path, msg);
        rc = -1;
    }
    fclose(f);
    return rc;
}

int config_parse_args(struct parlor_config *c, int argc, char **argv, char *err, size_t errlen)
{
    int opt, idx;
    /* Pass 1: the configuration file, so flags can override it.  optind = 0,
     * not 1: glibc then forgets where an earlier scan stopped (inside "-xy"
     * after an error), which it would otherwise resume in this argv. */
    optind = 0;
    opterr = 0;
    const char *file = NULL;
    bool check = false;
    while ((opt = getopt_long(argc, argv, "", long_opts, &idx)) != -1) {
        if (opt == OPT_CONFIG || opt == OPT_CHECK_CONFIG) {
            file = optarg;
            check = check || opt == OPT_CHECK_CONFIG;
        }
    }
    if (file && config_load_file(c, file, err, errlen) < 0)
        return -1;
    snprintf(c->config_path, sizeof c->config_path, "%s", file ? file : "");

    optind = 0;
    bool listen_flag = false, tls_listen_flag = false;
    while ((opt = getopt_long(argc, argv, "", long_opts, &idx)) != -1) {
        char msg[400];
        switch (opt) {
        case OPT_CONFIG: case OPT_CHECK_CONFIG:
            break;
        case OPT_SETTING: {
            const char *name = long_opts[idx].name;
            if (strcmp(name, "listen") == 0 && !listen_flag) {
                c->nlisten = 0;             /* flags replace the file's addresses */
                listen_flag = true;
            }
            if (strcmp(name, "tls-listen") == 0 && !tls_listen_flag) {
                c->ntls_listen = 0;
                tls_listen_flag = true;
            }
            if (config_set(c, name, optarg ? optarg : "yes", msg, sizeof msg) < 0) {
                snprintf(err, errlen, "--%s", msg);
                return -1;
            }
            break;
        }
        case OPT_HELP:
            config_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("parlord %s\n", PARLOR_VERSION);
            return 1;
        default:
            if (optopt)
                snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
            else
                snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (c->nlisten == 0) {
        snprintf(c->listen[0].host, sizeof c->listen[0].host, "127.0.0.1");
        c->listen[0].port = 6667;
        c->nlisten = 1;
    }
    if (c->ntls_listen > 0 && (!c->tls_cert[0] || !c->tls_key[0])) {
        snprintf(err, errlen, "tls-listen needs tls-cert and tls-key");
        return -1;
    }
    if (check) {
        printf("%s: configuration is valid\n", file);
        return 1;
    }
    return 0;
}

int config_cluster_finish(struct parlor_config *c, char *err, size_t errlen)
{
    if (!c->cluster[0])
        return 0;
    if (!c->node_name[0]) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        size_t n = 0;
        for (const char *p = host; *p && n + 1 < sizeof c->node_name; p++)
            if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", *p))
                c->node_name[n++] = *p;
        c->node_name[n] = '\0';
        if (!n)
            snprintf(c->node_name, sizeof c->node_name, "node");
    }
    c->node_id_given = c->node_id >= 0;
    if (c->node_id < 0) {                      /* the preferred id; master/node_id.c checks it is free */
        uint32_t h = 2166136261u;              /* FNV-1a */
        for (const char *p = c->node_name; *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        c->node_id = (int)(h % CLUSTER_MAX_NODES);
    }
    if (c->workers > CLUSTER_NODE_SLOTS) {
        snprintf(err, errlen, "cluster: a node has at most %d workers (workers = %d)", CLUSTER_NODE_SLOTS,
                 c->workers);
        return -1;
    }
    return 0;
}
