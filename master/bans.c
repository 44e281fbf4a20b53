/* Admin bans: `parlorctl ban MASK DURATION [REASON]` and `kick NICK --ban
 * DURATION` (which bans the kicked client's address).  A mask is
 *
 *   an address       203.0.113.7 (an IPv6 address: its /64, keyed like the
 *                    per-address limits, limits_key)
 *   a CIDR block     10.0.0.0/8, 2001:db8::/32 (host bits cleared)
 *   an account       account:NAME (casefolded)
 *
 * The master accepts every connection, so addresses and blocks are checked
 * here: bans_match() before a socket is handed to a worker.  Account bans
 * are enforced by the workers at login (SASL, NickServ IDENTIFY/REGISTER:
 * worker/account_bans.c): the master sends them the list (IPC_M_BANS) when
 * one starts and after each change, and a worker closes the connections
 * already logged in to a newly banned account.
 *
 * Bans are kept in memory and, with a database, in admin_bans (migration
 * 0009, master/bans_db.c), loaded at start: they survive a restart.  They
 * expire by wall-clock time; expired ones are dropped when looked at. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/irc.h"
#include "ipc/frame.h"
#include "common/log.h"
#include "master/master_int.h"

#define BANS_MAX 1024

enum ban_kind { BAN_ADDR, BAN_CIDR, BAN_ACCOUNT };

static struct ban {
    enum ban_kind kind;
    char mask[80];                /* canonical: the key shown and stored */
    int family, prefix;           /* CIDR */
    unsigned char net[16];
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

static struct ban *find(const char *mask)
{
    for (int i = 0; i < nbans; i++)
        if (strcmp(bans[i].mask, mask) == 0)
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

/* An address as bytes: IPv4 (4) or IPv6 (16; a v4-mapped one as IPv4). */
static int addr_bytes(const char *s, unsigned char *out)
{
    if (inet_pton(AF_INET, s, out) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, out) != 1)
        return 0;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (memcmp(out, mapped, 12) == 0) {
        memmove(out, out + 12, 4);
        return AF_INET;
    }
    return AF_INET6;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char m = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & m) == (b[whole] & m);
}

/* Parse `text` into b (kind, canonical mask); -1 with err. */
static int parse_mask(const char *text, struct ban *b, char *err, size_t cap)
{
    memset(b, 0, sizeof *b);
    if (strncmp(text, "account:", 8) == 0) {
        const char *name = text + 8;
        if (!irc_nick_valid(name, strlen(name))) {
            snprintf(err, cap, "'%s' is not an account name", name);
            return -1;
        }
        char folded[IRC_NICK_MAX + 1];
        irc_casefold(folded, name, strlen(name));
        b->kind = BAN_ACCOUNT;
        snprintf(b->mask, sizeof b->mask, "account:%s", folded);
        return 0;
    }
    const char *slash = strchr(text, '/');
    if (!slash) {
        unsigned char bytes[16];
        if (!addr_bytes(text, bytes)) {
            snprintf(err, cap, "'%s' is not an address, a block (10.0.0.0/8) or account:NAME", text);
            return -1;
        }
        b->kind = BAN_ADDR;
        limits_key(text, b->mask, sizeof b->mask);
        return 0;
    }
    char addr[64];
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if ((size_t)(slash - text) >= sizeof addr || end == slash + 1 || *end) {
        snprintf(err, cap, "'%s' is not a block such as 10.0.0.0/8", text);
        return -1;
    }
    snprintf(addr, sizeof addr, "%.*s", (int)(slash - text), text);
    b->family = addr_bytes(addr, b->net);
    int max = b->family == AF_INET ? 32 : 128;
    if (!b->family || bits < 1 || bits > max) {
        snprintf(err, cap, "'%s' is not a block such as 10.0.0.0/8 (prefix 1-32, IPv6 1-128)", text);
        return -1;
    }
    b->kind = BAN_CIDR;
    b->prefix = (int)bits;
    int len = b->family == AF_INET ? 4 : 16;
    for (int i = 0; i < len; i++) {            /* clear the host bits */
        int keep = b->prefix - i * 8;
        b->net[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
    char shown[INET6_ADDRSTRLEN];
    inet_ntop(b->family, b->net, shown, sizeof shown);
    snprintf(b->mask, sizeof b->mask, "%s/%d", shown, b->prefix);
    return 0;
}

/* Add or renew in memory (no database write); -1 when full. */
static int put(const struct ban *nb, time_t until, const char *reason)
{
    struct ban *b = find(nb->mask);
    if (!b) {
        if (nbans >= BANS_MAX)
            return -1;
        b = &bans[nbans++];
        *b = *nb;
    }
    b->until = until;
    snprintf(b->reason, sizeof b->reason, "%s", reason && reason[0] ? reason : "banned");
    return 0;
}

int bans_add(const char *mask, long seconds, const char *reason, char *note, size_t cap)
{
    time_t now = time(NULL);
    drop_expired(now);
    struct ban nb;
    note[0] = '\0';
    if (parse_mask(mask, &nb, note, cap) < 0)
        return -1;
    if (put(&nb, now + seconds, reason) < 0) {
        snprintf(note, cap, "the ban list is full");
        return -1;
    }
    const struct ban *b = find(nb.mask);
    log_info("ban: %s for %ld s (%s)", b->mask, seconds, b->reason);
    char err[256];
    if (bans_db_put(b->mask, (long long)b->until, b->reason, err, sizeof err) < 0)
        snprintf(note, cap, " (not stored: %s; it ends with a restart)", err);
    if (b->kind == BAN_ACCOUNT)
        master_send_bans(-1);
    return 0;
}

int bans_remove(const char *mask)
{
    struct ban nb;
    char err[256];
    const char *key = parse_mask(mask, &nb, err, sizeof err) == 0 ? nb.mask : mask;
    drop_expired(time(NULL));
    struct ban *b = find(key);
    if (!b)
        return -1;
    bool account = b->kind == BAN_ACCOUNT;
    log_info("ban: %s lifted", b->mask);
    if (bans_db_del(b->mask, err, sizeof err) < 0)
        log_warn("ban: %s: not removed from the database: %s", b->mask, err);
    *b = bans[--nbans];
    if (account)
        master_send_bans(-1);
    return 0;
}

void bans_loaded(const char *mask, long long until, const char *reason)
{
    struct ban nb;
    char err[256];
    if (until <= (long long)time(NULL) || parse_mask(mask, &nb, err, sizeof err) < 0 ||
        put(&nb, (time_t)until, reason) < 0)
        log_warn("ban: stored ban %s not loaded", mask);
}

bool bans_match(const char *ip, char *why, size_t cap)
{
    if (nbans == 0)
        return false;
    time_t now = time(NULL);
    drop_expired(now);
    char key[64];
    limits_key(ip, key, sizeof key);
    unsigned char bytes[16];
    int family = addr_bytes(ip, bytes);
    for (int i = 0; i < nbans; i++) {
        const struct ban *b = &bans[i];
        bool hit = b->kind == BAN_ADDR ? strcmp(b->mask, key) == 0
                   : b->kind == BAN_CIDR && family == b->family &&
                     prefix_equal(bytes, b->net, b->prefix);
        if (hit) {
            long left = (long)(b->until - now);
            snprintf(why, cap, "Banned: %s (%ld min left)", b->reason, (left + 59) / 60);
            return true;
        }
    }
    return false;
}

void bans_account_frame(struct buf *out)
{
    time_t now = time(NULL);
    drop_expired(now);
    uint32_t n = 0;
    for (int i = 0; i < nbans; i++)
        n += bans[i].kind == BAN_ACCOUNT;
    ipc_put_u32(out, n);
    for (int i = 0; i < nbans; i++)
        if (bans[i].kind == BAN_ACCOUNT) {
            ipc_put_cstr(out, bans[i].mask + 8);
            ipc_put_u64(out, (uint64_t)bans[i].until);
            ipc_put_cstr(out, bans[i].reason);
        }
}

int bans_each(void (*fn)(void *ctx, const char *key, long seconds_left, const char *reason), void *ctx)
{
    time_t now = time(NULL);
    drop_expired(now);
    for (int i = 0; i < nbans; i++)
        fn(ctx, bans[i].mask, (long)(bans[i].until - now), bans[i].reason);
    return nbans;
}
