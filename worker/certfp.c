/* NickServ CERT: client certificate fingerprints (CertFP, SHA-256 in hex)
 * tied to an account, in the account_certs table (migration 0008).  A TLS
 * client whose certificate is listed logs in with SASL EXTERNAL
 * (worker/account.c).
 *
 *   CERT ADD [fingerprint]   the current connection's certificate by default
 *   CERT DEL <fingerprint>
 *   CERT LIST
 *
 * Only a logged-in user manages its own account's list.  The answers come
 * from the store, so the command holds its client's later input until they
 * are sent (worker/order.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/tls.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#define CERTS_MAX 20                /* per account */

enum cert_op { CERT_ADD, CERT_DEL, CERT_LIST };

struct cert_job {
    uint64_t client;
    uint32_t hold;                  /* order_hold() id, 0: none */
    enum cert_op op;
    char fp[TLS_FP_LEN + 1];
};

/* "AB:CD:..." or "abcd..." to 64 lower-case hex digits; false if it is not one. */
static bool normalize(const char *in, char out[TLS_FP_LEN + 1])
{
    size_t n = 0;
    for (; *in; in++) {
        if (*in == ':')
            continue;
        if (!isxdigit((unsigned char)*in) || n == TLS_FP_LEN)
            return false;
        out[n++] = (char)tolower((unsigned char)*in);
    }
    out[n] = '\0';
    return n == TLS_FP_LEN;
}

static void notice(struct client *c, const char *text)
{
    service_notice(c, "NickServ", text);
}

static void on_cert_result(void *arg, const PGresult *res, const char *error)
{
    struct cert_job *j = arg;
    struct client *c = client_by_id(j->client);
    if (c && !c->closing) {
        char text[300];
        if (error) {
            notice(c, "Accounts are unavailable right now (the database cannot be reached); "
                   "try again later.");
        } else if (j->op == CERT_LIST) {
            int n = PQntuples(res);
            snprintf(text, sizeof text, "%d certificate%s tied to %s%s", n, n == 1 ? "" : "s",
                     c->account, n ? ":" : ".");
            notice(c, text);
            for (int i = 0; i < n; i++)
                notice(c, PQgetvalue(res, i, 0));
        } else if (j->op == CERT_ADD) {
            if (PQntuples(res) > 0)
                snprintf(text, sizeof text, "Certificate %s added: it now logs you in as %s "
                         "(SASL EXTERNAL).", j->fp, c->account);
            else
                snprintf(text, sizeof text, "Certificate %s was not added: it is already tied to "
                         "an account, or yours has %d.", j->fp, CERTS_MAX);
            notice(c, text);
        } else {
            snprintf(text, sizeof text, PQntuples(res) > 0 ? "Certificate %s removed."
                     : "Certificate %s is not on your list.", j->fp);
            notice(c, text);
        }
    }
    order_release(j->hold);
    free(j);
}

void certfp_command(struct client *c, char *args)
{
    char *save, *verb = strtok_r(args, " ", &save);
    char *arg = strtok_r(NULL, " ", &save);
    enum cert_op op;
    if (verb && strcasecmp(verb, "ADD") == 0)
        op = CERT_ADD;
    else if (verb && strcasecmp(verb, "DEL") == 0 && arg)
        op = CERT_DEL;
    else if (verb && strcasecmp(verb, "LIST") == 0)
        op = CERT_LIST;
    else {
        notice(c, "Syntax: CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST");
        return;
    }
    if (!c->account[0]) {
        notice(c, "Log in first (SASL or /msg NickServ IDENTIFY); certificates belong to an account.");
        return;
    }
    struct cert_job j = { .client = c->id, .op = op };
    if (op != CERT_LIST) {
        if (!arg && !c->certfp[0]) {
            notice(c, "Your connection has no client certificate: connect with TLS and a "
                   "certificate, or give its SHA-256 fingerprint.");
            return;
        }
        if (!normalize(arg ? arg : c->certfp, j.fp)) {
            notice(c, "A fingerprint is a SHA-256 hash: 64 hexadecimal digits (':' allowed).");
            return;
        }
    }
    if (!store_available()) {
        notice(c, "Accounts are unavailable right now (no database); try again later.");
        return;
    }
    char folded[IRC_NICK_MAX + 1], limit[16];
    irc_casefold(folded, c->account, strlen(c->account));
    snprintf(limit, sizeof limit, "%d", CERTS_MAX);
    struct cert_job *q = malloc(sizeof *q);
    PARLOR_ASSERT(q != NULL);
    *q = j;
    q->hold = order_hold(c);
    if (op == CERT_ADD) {
        const char *values[3] = { q->fp, folded, limit };
        store_query("INSERT INTO account_certs (fingerprint, account_folded)"
                    " SELECT $1, $2 WHERE (SELECT count(*) FROM account_certs"
                    " WHERE account_folded = $2) < $3::integer"
                    " ON CONFLICT (fingerprint) DO NOTHING RETURNING 1",
                    3, values, on_cert_result, q);
    } else if (op == CERT_DEL) {
        const char *values[2] = { q->fp, folded };
        store_query("DELETE FROM account_certs WHERE fingerprint = $1 AND account_folded = $2"
                    " RETURNING 1", 2, values, on_cert_result, q);
    } else {
        const char *values[1] = { folded };
        store_query("SELECT fingerprint FROM account_certs WHERE account_folded = $1"
                    " ORDER BY added_at, fingerprint", 1, values, on_cert_result, q);
    }
}
