/* TLS for client connections on this worker (the TLS layer itself is
 * common/tls.c).
 *
 * The master reads the certificate chain and key, checks that they make a
 * working pair, and makes the session ticket key once (master/master.c);
 * workers get all three in tls_material, inherited at fork, and the
 * master sends a new pair on reload (IPC_M_TLS).  Every worker's context
 * uses the same ticket key, so a client resumes its session whichever
 * worker it lands on.  A context being replaced stays alive (OpenSSL
 * counts its references) for the connections that use it.
 *
 * A client from a TLS listener starts with its handshake, driven by the
 * client's poll events (client.c); nothing is read as IRC until it is
 * done.  A failed or slow handshake closes that connection only, with a
 * log line, and counts in the stats (tls_handshake_failures). */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/tls.h"
#include "ipc/frame.h"
#include "worker/worker.h"
#include "worker/worker_int.h"

struct tls_material tls_material;
static struct ssl_ctx_st *server_ctx;

void client_tls_init(void)
{
    if (tls_material.cert_len == 0)
        return;
    char err[256];
    server_ctx = tls_server_ctx(&tls_material, err, sizeof err);
    if (!server_ctx)
        log_error("TLS: %s; TLS clients are refused", err);
}

void client_tls_handle_material(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    size_t cl, kl;
    const char *cert = ipc_get_str(&r, &cl);
    const char *key = ipc_get_str(&r, &kl);
    size_t tl, pl;
    const char *ticket = ipc_get_str(&r, &tl);
    const char *prev = ipc_get_str(&r, &pl);
    if (r.err || cl > sizeof tls_material.cert || kl > sizeof tls_material.key ||
        tl != sizeof tls_material.ticket_key || (pl != 0 && pl != sizeof tls_material.ticket_prev)) {
        log_warn("TLS: malformed certificate frame from master");
        return;
    }
    static struct tls_material next;
    next = tls_material;
    memcpy(next.cert, cert, cl);
    next.cert_len = cl;
    memcpy(next.key, key, kl);
    next.key_len = kl;
    bool rotated = memcmp(next.ticket_key, ticket, tl) != 0;
    memcpy(next.ticket_key, ticket, tl);
    memcpy(next.ticket_prev, prev, pl);
    next.has_prev = pl != 0;
    char err[256];
    struct ssl_ctx_st *ctx = tls_server_ctx(&next, err, sizeof err);
    if (!ctx) {
        log_warn("TLS: new certificate not used (%s); keeping the old one", err);
        return;
    }
    tls_ctx_free(server_ctx);
    server_ctx = ctx;
    tls_material = next;
    memset(&next, 0, sizeof next);
    log_info(rotated ? "TLS: session-ticket key rotated" : "TLS: certificate reloaded");
}

bool client_tls_wrap(struct client *c)
{
    if (!server_ctx)
        return false;
    c->tls = tls_conn_new(server_ctx, c->fd, true, NULL);
    return c->tls != NULL;
}

void client_tls_handshake_done(struct client *c)
{
    W.stats.tls_handshakes++;
    W.ntls++;
    if (tls_resumed(c->tls))
        W.stats.tls_resumed++;
    if (!tls_peer_fingerprint(c->tls, c->certfp))
        c->certfp[0] = '\0';
    log_debug("client %s:%d: TLS %s %s%s%s%s", c->ip, c->port, tls_version(c->tls),
              tls_cipher(c->tls), tls_resumed(c->tls) ? " (resumed)" : "",
              c->certfp[0] ? ", client certificate " : "", c->certfp);
}

void client_tls_failed(struct client *c, const char *why)
{
    W.stats.tls_failures++;
    log_info("client %s:%d: TLS handshake failed: %s", c->ip, c->port, why);
}

void client_tls_gone(struct client *c)
{
    if (c->tls && tls_ready(c->tls))
        W.ntls--;
    tls_conn_free(c->tls);
    c->tls = NULL;
}

void client_tls_describe(const struct client *c, char *out, size_t cap)
{
    if (!c->tls || !tls_ready(c->tls))
        snprintf(out, cap, "%s", c->tls ? "handshake" : "");
    else
        snprintf(out, cap, "%s %s", tls_version(c->tls), tls_cipher(c->tls));
}

int client_tls_port(void)
{
    if (W.cfg->sts_port)
        return W.cfg->sts_port;
    return W.cfg->ntls_listen > 0 ? W.cfg->tls_listen[0].port : 0;
}

bool client_password_refused(const struct client *c, char *msg, size_t cap)
{
    if (!W.cfg->plaintext_passwords_refused || c->tls)
        return false;
    int port = client_tls_port();
    if (port)
        snprintf(msg, cap, "Passwords are not accepted over a plaintext connection; "
                 "reconnect with TLS to port %d", port);
    else
        snprintf(msg, cap, "Passwords are not accepted over a plaintext connection");
    return true;
}

void client_tls_sts_value(const struct client *c, char *out, size_t cap)
{
    out[0] = '\0';
    int port = client_tls_port();
    if (!port)
        return;
    if (c->tls)
        snprintf(out, cap, "duration=%d", W.cfg->sts_duration);
    else if (W.cfg->sts_duration > 0)   /* duration 0: no upgrade asked */
        snprintf(out, cap, "port=%d,duration=%d", port, W.cfg->sts_duration);
}
