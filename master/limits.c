/* What the master counts per remote address, and its rate-limited log lines.
 *
 * Per address: how many connections it has open and how fast it opens new
 * ones.  A connection is counted when the master hands it to a worker and
 * released when that worker reports it closed (IPC_W_CLOSED carries the
 * addresses), or all at once when the worker dies.  The rate is a token
 * bucket: an address starts with connect-burst tokens, gets connect-rate
 * more per connect-period seconds (never above the burst), and each accepted
 * connection takes one.  A connection refused for the per-address limit
 * takes no token, so a full classroom that retries is not locked out for
 * longer than it is full.
 *
 * IPv6 addresses are counted by their /64, the block one host (or one home
 * router) usually gets; IPv4-mapped IPv6 addresses as the IPv4 address.
 *
 * The table forgets an address when it has no connection open and its
 * bucket is full again (limits_sweep), so its size follows the addresses
 * seen in the last connect-period, not every address ever seen. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/log.h"
#include "master/master_int.h"

#define SWEEP_EVERY 10.0
#define RATELOG_EVERY 10.0

/* One per address key.  Owned by `ips`; freed by limits_sweep() or
 * limits_free(). */
struct ip_state {
    int conns;                  /* open connections, all workers */
    double tokens, at;          /* the bucket, as it was at time `at` */
    uint32_t per_slot[];        /* open connections per worker slot */
};

static struct hmap ips;
static bool ips_init;
static double last_sweep;

void limits_key(const char *ip, char *key, size_t cap)
{
    struct in6_addr a;
    if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, &a) != 1) {
        snprintf(key, cap, "%s", ip);
        return;
    }
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
        char v4[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a.s6_addr[12], v4, sizeof v4);
        snprintf(key, cap, "%s", v4);
        return;
    }
    memset(&a.s6_addr[8], 0, 8);
    char net[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, net, sizeof net);
    snprintf(key, cap, "%s/64", net);
}

static struct ip_state *lookup(const char *ip, bool create, double now)
{
    if (!ips_init) {
        hmap_init(&ips);
        ips_init = true;
    }
    char key[INET6_ADDRSTRLEN + 4];
    limits_key(ip, key, sizeof key);
    struct ip_state *st = hmap_get_name(&ips, key);
    if (st || !create)
        return st;
    st = calloc(1, sizeof *st + sizeof st->per_slot[0] * (size_t)cfg->workers);
    PARLOR_ASSERT(st != NULL);
    st->tokens = cfg->connect_burst;
    st->at = now;
    hmap_put_name(&ips, key, st);
    return st;
}

/* The bucket of `st` brought up to `now`. */
static void refill(struct ip_state *st, double now)
{
    if (now > st->at) {
        st->tokens += (now - st->at) * cfg->connect_rate / cfg->connect_period;
        st->at = now;
    }
    if (st->tokens > cfg->connect_burst)
        st->tokens = cfg->connect_burst;
}

int limits_admit(const char *ip, double now, const char **why)
{
    if (!cfg->max_connections_per_ip && !cfg->connect_rate)
        return 0;
    struct ip_state *st = lookup(ip, true, now);
    if (cfg->max_connections_per_ip && st->conns >= cfg->max_connections_per_ip) {
        *why = "Too many connections from your address";
        return -1;
    }
    if (cfg->connect_rate) {
        refill(st, now);
        if (st->tokens < 1) {
            *why = "Too many new connections from your address; try again in a few seconds";
            return -1;
        }
        st->tokens -= 1;
    }
    return 0;
}

void limits_opened(const char *ip, int slot)
{
    struct ip_state *st = lookup(ip, true, now_mono());
    st->conns++;
    st->per_slot[slot]++;
}

void limits_closed(const char *ip, int slot)
{
    struct ip_state *st = lookup(ip, false, 0);
    if (!st || st->per_slot[slot] == 0)
        return;                 /* counted before a reload turned limits on */
    st->per_slot[slot]--;
    st->conns--;
}

void limits_worker_gone(int slot)
{
    if (!ips_init)
        return;
    struct hmap_iter it;
    hmap_iter_init(&it, &ips);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct ip_state *st = e->value;
        st->conns -= (int)st->per_slot[slot];
        st->per_slot[slot] = 0;
    }
}

void limits_sweep(double now)
{
    if (!ips_init || now - last_sweep < SWEEP_EVERY)
        return;
    last_sweep = now;
    struct hmap_iter it;
    hmap_iter_init(&it, &ips);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct ip_state *st = e->value;
        refill(st, now);
        if (st->conns == 0 && st->tokens >= cfg->connect_burst) {
            free(st);
            hmap_iter_remove(&it);
        }
    }
}

void limits_free(void)
{
    if (!ips_init)
        return;
    struct hmap_iter it;
    hmap_iter_init(&it, &ips);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));)
        free(e->value);
    hmap_free(&ips);
    ips_init = false;
}

bool ratelog_due(struct ratelog *r, double now, char *note, size_t cap)
{
    if (now < r->next) {
        r->skipped++;
        return false;
    }
    if (r->skipped)
        snprintf(note, cap, " (%lu more since the last such line)", r->skipped);
    else
        note[0] = '\0';
    r->skipped = 0;
    r->next = now + RATELOG_EVERY;
    return true;
}
