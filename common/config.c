#include "common/config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

void config_defaults(struct parlor_config *c)
{
    memset(c, 0, sizeof *c);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = n > 0 ? (int)n : 1;
    const char *db = getenv("PARLOR_DATABASE_URL");
    if (db)
        snprintf(c->database, sizeof c->database, "%s", db);
    snprintf(c->control_path, sizeof c->control_path, "parlord.sock");
    c->log_level = LOG_INFO;
    snprintf(c->server_name, sizeof c->server_name, "parlor.local");
    snprintf(c->network_name, sizeof c->network_name, "Parlor");
    snprintf(c->motd, sizeof c->motd, "Welcome to Parlor. Be kind; rooms are logged.");
    c->max_clients = 20000;
    c->max_clients_per_worker = 20000;
    c->flood_lines = 5;
    c->flood_burst = 20;
    c->sendq = 1024 * 1024;
    c->ping_timeout = 120;
    c->registration_timeout = 30;
    c->max_channels_per_client = 50;
}

void config_usage(FILE *out)
{
    fprintf(out,
        "usage: parlord [options]\n"
        "  --config FILE              configuration file (not yet read; see README)\n"
        "  --listen HOST:PORT         listen address, repeatable (default 127.0.0.1:6667)\n"
        "  --workers N                worker processes (default: number of cores)\n"
        "  --control PATH             control socket path (default ./parlord.sock)\n"
        "  --database CONNINFO        libpq conninfo (default $PARLOR_DATABASE_URL)\n"
        "  --log-level LEVEL          debug, info, warn or error (default info)\n"
        "  --server-name NAME         server name in replies (default parlor.local)\n"
        "  --password PASS            require PASS from clients\n"
        "  --motd TEXT                message of the day (empty: none)\n"
        "  --max-clients N            clients on the whole server (default 20000)\n"
        "  --max-clients-per-worker N (default 20000)\n"
        "  --flood-lines N            sustained lines/s per client, 0 = no limit (default 5)\n"
        "  --flood-burst N            lines a client may send at once (default 20)\n"
        "  --sendq BYTES              output queue limit per client (default 1048576)\n"
        "  --ping-timeout SEC         idle seconds before PING / before closing (default 120)\n"
        "  --registration-timeout SEC seconds to complete NICK/USER (default 30)\n"
        "  --help, --version\n");
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

static int parse_listen(struct parlor_config *c, const char *s, char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    long port;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof c->listen[0].host ||
        parse_int(colon + 1, 1, 65535, &port) < 0) {
        snprintf(err, errlen, "--listen: expected HOST:PORT, got '%s'", s);
        return -1;
    }
    if (c->nlisten == CONFIG_MAX_LISTEN) {
        snprintf(err, errlen, "--listen: at most %d addresses", CONFIG_MAX_LISTEN);
        return -1;
    }
    struct listen_addr *l = &c->listen[c->nlisten++];
    memcpy(l->host, s, (size_t)(colon - s));
    l->host[colon - s] = '\0';
    l->port = (int)port;
    return 0;
}

enum {
    OPT_CONFIG = 256, OPT_LISTEN, OPT_WORKERS, OPT_CONTROL, OPT_DATABASE, OPT_LOG_LEVEL,
    OPT_SERVER_NAME, OPT_PASSWORD, OPT_MOTD, OPT_MAX_CLIENTS, OPT_MAX_PER_WORKER,
    OPT_FLOOD_LINES, OPT_FLOOD_BURST, OPT_SENDQ, OPT_PING_TIMEOUT, OPT_REG_TIMEOUT,
    OPT_HELP, OPT_VERSION,
};

static const struct option long_opts[] = {
    {"config", required_argument, 0, OPT_CONFIG},
    {"listen", required_argument, 0, OPT_LISTEN},
    {"workers", required_argument, 0, OPT_WORKERS},
    {"control", required_argument, 0, OPT_CONTROL},
    {"database", required_argument, 0, OPT_DATABASE},
    {"log-level", required_argument, 0, OPT_LOG_LEVEL},
    {"server-name", required_argument, 0, OPT_SERVER_NAME},
    {"password", required_argument, 0, OPT_PASSWORD},
    {"motd", required_argument, 0, OPT_MOTD},
    {"max-clients", required_argument, 0, OPT_MAX_CLIENTS},
    {"max-clients-per-worker", required_argument, 0, OPT_MAX_PER_WORKER},
    {"flood-lines", required_argument, 0, OPT_FLOOD_LINES},
    {"flood-burst", required_argument, 0, OPT_FLOOD_BURST},
    {"sendq", required_argument, 0, OPT_SENDQ},
    {"ping-timeout", required_argument, 0, OPT_PING_TIMEOUT},
    {"registration-timeout", required_argument, 0, OPT_REG_TIMEOUT},
    {"help", no_argument, 0, OPT_HELP},
    {"version", no_argument, 0, OPT_VERSION},
    {0, 0, 0, 0},
};

/* Copy a string flag into a fixed field, refusing what does not fit. */
static int set_str(char *dst, size_t cap, const char *name, const char *v, char *err, size_t errlen)
{
    if (strlen(v) >= cap) {
        snprintf(err, errlen, "--%s: value too long (at most %zu bytes)", name, cap - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int config_parse_args(struct parlor_config *c, int argc, char **argv, char *err, size_t errlen)
{
    int opt;
    long v;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        const char *name = "";
        for (const struct option *o = long_opts; o->name; o++)
            if (o->val == opt)
                name = o->name;
        switch (opt) {
        case OPT_CONFIG:
            snprintf(err, errlen, "--config: configuration files are not supported yet");
            return -1;
        case OPT_LISTEN:
            if (parse_listen(c, optarg, err, errlen) < 0)
                return -1;
            break;
        case OPT_CONTROL:
            if (set_str(c->control_path, sizeof c->control_path, name, optarg, err, errlen) < 0)
                return -1;
            break;
        case OPT_DATABASE:
            if (set_str(c->database, sizeof c->database, name, optarg, err, errlen) < 0)
                return -1;
            break;
        case OPT_SERVER_NAME:
            if (set_str(c->server_name, sizeof c->server_name, name, optarg, err, errlen) < 0)
                return -1;
            if (!c->server_name[0] || strpbrk(c->server_name, " :!@*?,")) {
                snprintf(err, errlen, "--server-name: '%s' is not a valid server name", optarg);
                return -1;
            }
            break;
        case OPT_PASSWORD:
            if (set_str(c->password, sizeof c->password, name, optarg, err, errlen) < 0)
                return -1;
            break;
        case OPT_MOTD:
            if (set_str(c->motd, sizeof c->motd, name, optarg, err, errlen) < 0)
                return -1;
            break;
        case OPT_LOG_LEVEL: {
            int l = log_parse_level(optarg);
            if (l < 0) {
                snprintf(err, errlen, "--log-level: expected debug, info, warn or error, got '%s'", optarg);
                return -1;
            }
            c->log_level = l;
            break;
        }
        case OPT_WORKERS: case OPT_MAX_CLIENTS: case OPT_MAX_PER_WORKER: case OPT_FLOOD_LINES:
        case OPT_FLOOD_BURST: case OPT_SENDQ: case OPT_PING_TIMEOUT: case OPT_REG_TIMEOUT: {
            long min = 1, max = INT_MAX;
            if (opt == OPT_WORKERS) max = 64;
            if (opt == OPT_FLOOD_LINES) min = 0;
            if (opt == OPT_SENDQ) { min = 4096; max = 1L << 30; }
            if (opt == OPT_MAX_CLIENTS || opt == OPT_MAX_PER_WORKER) max = 1000000;
            if (parse_int(optarg, min, max, &v) < 0) {
                snprintf(err, errlen, "--%s: expected an integer from %ld to %ld, got '%s'",
                         name, min, max, optarg);
                return -1;
            }
            if (opt == OPT_WORKERS) c->workers = (int)v;
            else if (opt == OPT_MAX_CLIENTS) c->max_clients = (int)v;
            else if (opt == OPT_MAX_PER_WORKER) c->max_clients_per_worker = (int)v;
            else if (opt == OPT_FLOOD_LINES) c->flood_lines = (int)v;
            else if (opt == OPT_FLOOD_BURST) c->flood_burst = (int)v;
            else if (opt == OPT_SENDQ) c->sendq = (size_t)v;
            else if (opt == OPT_PING_TIMEOUT) c->ping_timeout = (int)v;
            else c->registration_timeout = (int)v;
            break;
        }
        case OPT_HELP:
            config_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("parlord %s\n", PARLOR_VERSION);
            return 1;
        default:
            if (optopt >= OPT_CONFIG || optopt > 0)
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
    return 0;
}
