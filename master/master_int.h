/* What master.c shares with control.c. */
#ifndef PARLOR_MASTER_INT_H
#define PARLOR_MASTER_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"

#define MAX_WORKERS 64

/* One per worker slot; lives in the master's static table. */
struct worker_slot {
    pid_t pid;            /* 0 when not running */
    int chan;             /* master's end of the channel, -1 when not running */
    long assigned;        /* clients handed over since this worker started */
    long closed;          /* clients it reported closed */
    int restarts;
    bool draining;        /* gets no new clients */
    bool restarting;      /* told to stop by `parlorctl restart`; respawned at once */
    bool ready;           /* sent IPC_W_READY */
    double started;       /* monotonic seconds */
    double respawn_at;    /* when to fork a replacement (0: not pending) */
    double nofd_until;    /* out of descriptors: no new clients until then */
    char last_exit[64];
};

struct master_stats {
    uint64_t accepted, refused;
};

extern struct worker_slot slots[MAX_WORKERS];
extern struct master_stats mstats;
extern const struct parlor_config *cfg;
extern double master_started;     /* monotonic */

double now_mono(void);
/* Send IPC_M_QUERY to a worker; 0 or -errno. */
int master_query(int slot, uint32_t qid, int what, const char *arg1, const char *arg2);
/* Re-read the configuration (file + flags); on error fill err, keep the old. */
int master_reload(char *msg, size_t msglen);
/* Stop accepting now; shut the workers down after `grace` seconds. */
void master_shutdown(int grace, const char *why);
/* Restart worker `slot` (its clients are told and disconnected, the others
 * keep going; requests to its rooms wait for the new process), or with
 * slot < 0 every worker, one at a time, each after the previous one is
 * back.  0, or -1 with msg filled. */
int master_restart(int slot, char *msg, size_t msglen);

/* bans.c: admin bans by address, CIDR block or account (see the top of bans.c) */
/* "30", "30s", "10m", "2h", "7d" -> seconds (at most a year); -1 if bad. */
long bans_parse_duration(const char *s);
/* Ban `mask` (address, block, account:NAME) for `seconds`: 0 with `note`
 * "" or " (not stored: why)", or -1 with the reason in `note`. */
int bans_add(const char *mask, long seconds, const char *reason, char *note, size_t cap);
int bans_remove(const char *mask);                                /* -1: no such ban */
/* A ban read from the database at start (an expired or bad one is skipped). */
void bans_loaded(const char *mask, long long until, const char *reason);
/* True (and the ERROR text in `why`) when `ip` is banned now. */
bool bans_match(const char *ip, char *why, size_t cap);
/* Call fn for each ban in force; returns how many. */
int bans_each(void (*fn)(void *ctx, const char *key, long seconds_left, const char *reason), void *ctx);
/* The account bans as IPC_M_BANS's payload (see ipc/proto.h). */
struct buf;
void bans_account_frame(struct buf *out);
/* Send the account bans to worker `slot` (-1: every worker). */
void master_send_bans(int slot);

/* bans_db.c: admin_bans in PostgreSQL (blocking libpq, short timeouts;
 * without a database these do nothing and succeed). */
void bans_db_init(const char *conninfo);      /* and load the stored bans */
/* Cluster without --node-id: a node id free in the network (master/node_id.c). */
int node_id_choose(const char *url, const char *name, int preferred);
int bans_db_put(const char *mask, long long until, const char *reason, char *err, size_t cap);
int bans_db_del(const char *mask, char *err, size_t cap);

/* limits.c: per-address limits (see the top of limits.c) */
/* The key an address is counted under: IPv4 as it is, IPv6 as its /64. */
void limits_key(const char *ip, char *key, size_t cap);
/* May `ip` open a connection now?  0 (a rate token taken), or -1 with *why
 * set to the reason the client is told. */
int limits_admit(const char *ip, double now, const char **why);
void limits_opened(const char *ip, int slot);    /* handed to worker `slot` */
void limits_closed(const char *ip, int slot);    /* the worker reported it closed */
void limits_worker_gone(int slot);               /* every connection of `slot` */
void limits_sweep(double now);                   /* forget idle addresses */
void limits_free(void);

/* A log line for an event that may repeat many times a second: at most one
 * per ten seconds per kind, with the count of those not logged. */
struct ratelog {
    double next;
    unsigned long skipped;
};
/* True when a line may be logged now; `note` gets "" or " (N more since
 * the last such line)" to append to it. */
bool ratelog_due(struct ratelog *r, double now, char *note, size_t cap);

/* control.c */
int control_open(const char *path);
void control_close(void);
/* In a forked worker: close the control descriptors, leave the socket file. */
void control_forget(void);
/* Add the control socket's descriptors to pfd; returns the new count. */
int control_pollfds(struct pollfd *pfd, int n, int max);
void control_handle(struct pollfd *pfd, int n);
void control_on_answer(int slot, const char *payload, size_t len);
void control_tick(void);

#endif
