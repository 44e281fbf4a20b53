/* Admin bans by address: `parlorctl ban ADDRESS DURATION [REASON]` and
 * `kick NICK --ban DURATION` (which bans the kicked client's address).
 *
 * The master accepts every connection, so it is the one place a ban must be
 * checked: bans_match() before a socket is handed to a worker.  Addresses
 * are keyed like the per-address limits (limits_key: an IPv6 address by its
 * /64).  Bans live in the master's memory (they end with a restart) and
 * expire by wall-clock time; expired ones are dropped when looked at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "master/master_int.h"

#define BANS_MAX 1024

static struct ban {
    char key[64];
    time_t until;
    char reason[160];
} bans[BANS_MAX];
static int nbans;

static void drop_expired(time_t now)
{
    int w = 0;
    for (int i = 0; i < nbans; i++)
        if (bans[i].until > now)
            bans[w++] = bans[i];
    nbans = w;
}

static struct ban *find(const char *key)
{
    for (int i = 0; i < nbans; i++)
        if (strcmp(bans[i].key, key) == 0)
            return &bans[i];
    return NULL;
}

long bans_parse_duration(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    long unit = 1;
    if (*end == 's' || *end == '\0')
        unit = 1;
    else if (*end == 'm')
        unit = 60;
    else if (*end == 'h')
        unit = 3600;
    else if (*end == 'd')
        unit = 86400;
    else
        return -1;
    if (*end && end[1])
        return -1;
    if (v > 366L * 86400 / unit)
        return -1;
    return v * unit;
}

int bans_add(const char *ip, long seconds, const char *reason)
{
    time_t now = time(NULL);
    drop_expired(now);
    char key[64];
    limits_key(ip, key, sizeof key);
    struct ban *b = find(key);
    if (!b) {
        if (nbans >= BANS_MAX)
            return -1;
        b = &bans[nbans++];
        snprintf(b->key, sizeof b->key, "%s", key);
    }
    b->until = now + seconds;
    snprintf(b->reason, sizeof b->reason, "%s", reason && reason[0] ? reason : "banned");
    log_info("ban: %s for %ld s (%s)", key, seconds, b->reason);
    return 0;
}

int bans_remove(const char *ip)
{
    char key[64];
    limits_key(ip, key, sizeof key);
    drop_expired(time(NULL));
    struct ban *b = find(key);
    if (!b)
        return -1;
    *b = bans[--nbans];
    log_info("ban: %s lifted", key);
    return 0;
}

bool bans_match(const char *ip, char *why, size_t cap)
{
    if (nbans == 0)
        return false;
    time_t now = time(NULL);
    drop_expired(now);
    char key[64];
    limits_key(ip, key, sizeof key);
    const struct ban *b = find(key);
    if (!b)
        return false;
    long left = (long)(b->until - now);
    snprintf(why, cap, "Banned: %s (%ld min left)", b->reason, (left + 59) / 60);
    return true;
}

int bans_each(void (*fn)(void *ctx, const char *key, long seconds_left, const char *reason), void *ctx)
{
    time_t now = time(NULL);
    drop_expired(now);
    for (int i = 0; i < nbans; i++)
        fn(ctx, bans[i].key, (long)(bans[i].until - now), bans[i].reason);
    return nbans;
}
