/* parlord's settings: defaults, then the configuration file, then flags.
 *
 * One struct, filled in by the master before it forks; workers inherit it.
 * The file uses the flag names as keys (listen = 127.0.0.1:6667). */
#ifndef PARLOR_CONFIG_H
#define PARLOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PARLOR_VERSION "0.1.0"
#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_OPERS 16

/* An IRC operator: an [oper] block of the configuration file. */
struct oper_conf {
    char name[32];                 /* what OPER gives as its first parameter */
    char hash[128];                /* password-hash: argon2id (common/password.h) */
    char mask[128];                /* host: "" any; nick!user@host or host/IP glob */
};

struct listen_addr {
    char host[64];
    int port;
};

struct parlor_config {
    struct listen_addr listen[CONFIG_MAX_LISTEN];
    int nlisten;
    /* TLS (worker/client_tls.c): listeners, the server's certificate chain
     * and key (PEM files), the STS policy's duration (seconds; 0 withdraws
     * it) and whether passwords may cross plaintext connections. */
    struct listen_addr tls_listen[CONFIG_MAX_LISTEN];
    int ntls_listen;
    char tls_cert[512];
    char tls_key[512];
    int tls_ticket_rotate;       /* seconds between session-ticket key rotations; 0: never */
    int sts_duration;
    int sts_port;                /* the port STS sends clients to (0: the first tls-listen) */
    bool plaintext_passwords_refused;
    int workers;
    char config_path[512];         /* "" when none */
    char control_path[256];
    char database[1024];         /* libpq conninfo; "" = none */
    char spool_dir[512];         /* "" = default (see config_spool_dir) */
    char migrations_dir[512];    /* "" = next to the binary (see master/migrate.c) */
    char words_dir[512];         /* game word lists; "" = next to the binary (see worker/game_words.c) */
    char history_tz[64];         /* time zone for HistServ's days, e.g. "UTC" or "Asia/Seoul" */
    int log_level;
    char server_name[64];
    char network_name[64];
    char motd[2048];             /* "" = no MOTD (422) */
    char password[128];          /* PASS required when non-empty */
    int line_length;             /* longest line accepted, with CR LF, without tags (512) */
    int max_clients;             /* whole server */
    int max_clients_per_worker;
    int flood_lines;             /* sustained lines/s per client; 0 = off */
    int flood_burst;             /* lines a client may send at once */
    size_t sendq;                /* output queue limit per client, bytes */
    int ping_timeout;            /* seconds of silence before PING, and again before closing */
    int registration_timeout;    /* seconds to finish NICK/USER */
    int max_channels_per_client; /* joined plus JOINs on their way */
    int invite_ttl;              /* seconds an operator's INVITE lets its target in */
    int max_invites_per_room;    /* INVITEs a room may send within invite_ttl */
    int owner_timeout;           /* seconds requests wait for a dead owner's replacement */
    int game_invite_timeout;     /* seconds invitees have to answer a game invitation */
    int game_round_seconds;      /* length of a game round */
    int join_replay;             /* recent messages sent on JOIN to clients without
                                    draft/chathistory (worker/replay.c); 0 = off */
    bool show_internals;         /* tell clients the worker and process layout */
    /* Per remote address (IPv4, or the /64 of IPv6), checked by the master
     * before a connection reaches a worker: at most max_connections_per_ip
     * at once, and new ones at connect_rate per connect_period seconds after
     * a burst of connect_burst (a token bucket).  0 turns a limit off. */
    int max_connections_per_ip;
    int connect_rate;
    int connect_period;
    int connect_burst;
    int control_idle_timeout;    /* seconds before a silent control connection is closed */
    size_t control_output_max;   /* unread answer bytes a control connection may hold */
    /* Failed logins (SASL, NickServ IDENTIFY), counted across all workers
     * in PostgreSQL (worker/account.c): after this many within the window,
     * further attempts on that account / from that address are refused for
     * login_backoff seconds, doubled for each further block in a row. */
    int login_failures_account;
    int login_failures_ip;
    int login_failure_window;    /* seconds */
    int login_backoff;           /* seconds */
    /* Cluster over NATS (worker/cluster.c, issue 13): "" = a single node,
     * no NATS at all.  node_id -1: derived from node_name. */
    char cluster[512];           /* nats://HOST:PORT[,nats://...] */
    char node_name[32];
    int node_id;
    bool node_id_given;          /* --node-id set; else the master picks a free id (master/node_id.c) */
    struct oper_conf opers[CONFIG_MAX_OPERS];   /* [oper] blocks (worker/oper.c) */
    int nopers;
};

void config_defaults(struct parlor_config *c);
/* Parse argv (after the program name).  On a bad flag or value, writes a
 * one-line reason into err and returns -1; returns 1 when --help/--version
 * was handled (caller exits 0), 0 otherwise. */
int config_parse_args(struct parlor_config *c, int argc, char **argv, char *err, size_t errlen);
void config_usage(FILE *out);
/* Set one setting by its name (the long flag without "--"). */
int config_set(struct parlor_config *c, const char *name, const char *value, char *err, size_t errlen);
/* Read "name = value" lines ('#' comments, [sections] for grouping). */
/* The spool directory to use: spool-dir, or a spool folder beside the
 * control socket (which is private to this server; a deployment that wants
 * the spool to survive reboots sets spool-dir, as the systemd unit does). */
void config_spool_dir(const struct parlor_config *c, char *out, size_t cap);
/* With `cluster` set: a node name (default: the host name), a node id
 * (default: from the name) and at most CLUSTER_NODE_SLOTS workers. */
#define CLUSTER_NODE_SLOTS 8
#define CLUSTER_MAX_NODES 8
int config_cluster_finish(struct parlor_config *c, char *err, size_t errlen);
int config_load_file(struct parlor_config *c, const char *path, char *err, size_t errlen);

#endif
