/* parlor: IRCv3 Strict Transport Security (STS).
 *
 * A server with TLS offers `sts=port=P,duration=D` in CAP LS on plaintext
 * connections and `sts=duration=D` on TLS ones.  As the specification asks:
 *
 *   - on plaintext, a `port` key means "upgrade": the connection is dropped
 *     before registering and the client connects with TLS to port P of the
 *     same host (certificate checked as for --tls; never back to plaintext
 *     while the policy holds, a failed handshake is retried like any failed
 *     connection);
 *   - only a TLS connection whose certificate was verified sets the policy:
 *     "HOST PORT EXPIRY" in the state file $XDG_STATE_HOME/parlor/sts, the
 *     expiry renewed on every such connection; `duration=0` removes it;
 *   - before connecting in plaintext to a host with an unexpired policy,
 *     the client goes straight to TLS on the policy's port.
 *
 * The file is small (one line per host); an update rewrites it through a
 * temporary file and rename. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client-cli/parlor.h"

#define STS_LINE 400

/* The value of key `key` in "k=v,k=v"; -1 when absent or not a number. */
static long sts_key(const char *value, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = value; p && *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char *end;
            long v = strtol(p + klen + 1, &end, 10);
            if (end == p + klen + 1 || (*end && *end != ',') || v < 0)
                return -1;
            return v;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return -1;
}

/* The policy's port for `host` if one is remembered and not expired. */
static int policy_port(const char *host)
{
    char path[600];
    if (state_path("sts", path, sizeof path, false) < 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[STS_LINE];
    int port = 0;
    time_t now = time(NULL);
    while (!port && fgets(line, sizeof line, f)) {
        char h[256];
        int p;
        long long expiry;
        if (sscanf(line, "%255s %d %lld", h, &p, &expiry) == 3 && strcmp(h, host) == 0 &&
            expiry > (long long)now && p > 0 && p <= 65535)
            port = p;
    }
    fclose(f);
    return port;
}

/* Replace the host's line (port 0: remove it), dropping expired lines. */
static void policy_store(const char *host, int port, long duration)
{
    char path[600], tmp[640];
    if (state_path("sts", path, sizeof path, port > 0) < 0)
        return;
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    FILE *in = fopen(path, "r");
    if (!in && port == 0)
        return;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        if (in)
            fclose(in);
        return;
    }
    time_t now = time(NULL);
    char line[STS_LINE];
    while (in && fgets(line, sizeof line, in)) {
        char h[256];
        int p;
        long long expiry;
        if (sscanf(line, "%255s %d %lld", h, &p, &expiry) == 3 && strcmp(h, host) != 0 &&
            expiry > (long long)now)
            fputs(line, out);
    }
    if (port > 0)
        fprintf(out, "%s %d %lld\n", host, port, (long long)now + duration);
    if (in)
        fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0)
        remove(tmp);
}

void sts_apply(struct app *a)
{
    if (a->tls || a->sts_port)
        return;
    a->sts_port = policy_port(a->host);
}

bool sts_offered(struct app *a, const char *value)
{
    if (!a->tlsc) {
        long port = sts_key(value, "port");
        if (port < 1 || port > 65535)
            return false;               /* no upgrade asked (or a bad value) */
        a->sts_port = (int)port;
        return true;
    }
    long duration = sts_key(value, "duration");
    if (duration < 0 || a->tls_insecure)
        return false;                   /* only a verified certificate sets a policy */
    policy_store(a->host, duration > 0 ? net_port(a) : 0, duration);
    return false;
}
