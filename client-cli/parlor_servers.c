/* parlor: the list of servers (--server HOST[:PORT],... and --host/--port).
 *
 * The connection always goes to a->host:a->port; this file fills them from
 * the list.  When a connection drops or cannot be made, the mode moves on to
 * the next server in the list (round robin): a network of several nodes
 * (README "Cluster over NATS") keeps its users when one node dies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-cli/parlor.h"

/* One entry: "host", "host:port", "[v6addr]" or "[v6addr]:port".  A
 * missing port is 0 (servers_finish puts the default in). */
static int parse_one(const char *s, size_t len, struct server_addr *out)
{
    const char *host = s, *port = NULL;
    size_t hlen = len;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon) {
            if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
                return -1;                     /* an IPv6 address needs [ ] */
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hlen == 0 || hlen >= sizeof out->host)
        return -1;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = 0;
    if (port) {
        size_t plen = len - (size_t)(port - s);
        char digits[8];
        if (plen == 0 || plen >= sizeof digits)
            return -1;
        memcpy(digits, port, plen);
        digits[plen] = '\0';
        char *end;
        long v = strtol(digits, &end, 10);
        if (*end || v < 1 || v > 65535)
            return -1;
        out->port = (int)v;
    }
    return 0;
}

int servers_add(struct app *a, const char *list)
{
    const char *p = list;
    do {
        size_t len = strcspn(p, ",");
        if (a->nservers >= PARLOR_SERVERS_MAX || parse_one(p, len, &a->servers[a->nservers]) < 0)
            return -1;
        a->nservers++;
        p += len;
    } while (*p++ == ',');
    return 0;
}

void servers_finish(struct app *a)
{
    if (a->nservers == 0) {
        snprintf(a->servers[0].host, sizeof a->servers[0].host, "%s", a->host);
        a->servers[0].port = a->port;
        a->nservers = 1;
    }
    for (int i = 0; i < a->nservers; i++)
        if (a->servers[i].port == 0)
            a->servers[i].port = a->port;
    a->server_cur = 0;
    snprintf(a->host, sizeof a->host, "%s", a->servers[0].host);
    a->port = a->servers[0].port;
}

bool servers_next(struct app *a)
{
    a->servers_failed++;
    if (a->nservers < 2)
        return false;
    a->server_cur = (a->server_cur + 1) % a->nservers;
    snprintf(a->host, sizeof a->host, "%s", a->servers[a->server_cur].host);
    a->port = a->servers[a->server_cur].port;
    a->sts_port = 0;                           /* the new host's own policy, if any */
    return a->servers_failed < a->nservers;
}

void servers_set_one(struct app *a, const char *host, int port)
{
    snprintf(a->servers[0].host, sizeof a->servers[0].host, "%s", host);
    a->servers[0].port = port;
    a->nservers = 1;
    a->server_cur = 0;
    a->servers_failed = 0;
    snprintf(a->host, sizeof a->host, "%s", host);
    a->port = port;
    a->sts_port = 0;
}
